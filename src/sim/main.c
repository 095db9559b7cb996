/* SPDX-License-Identifier: GPL-2.0-or-later */
/* smallbms-sim: a bank of M8-bus batteries behind a pty, for the daemon's
 * tests and for trying the daemon without hardware. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "sim/bus.h"
#include "sim/ctlsock.h"
#include "sim/options.h"
#include "sim/scenario.h"

#define PHYSICS_TICK_US 100000

struct sim_app {
	struct sim_options opt;
	sd_event *event;
	struct sim_world world;
	struct sim_bus bus;
	struct sim_ctlsock ctl;
	struct sim_scenario scenario;
	sd_event_source *physics;
	sd_event_source *script;
	bool link_made, ctl_open, bus_open;
};

static int on_physics(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct sim_app *app = userdata;
	uint64_t now_us = sim_now_ns() / 1000;

	sim_bank_advance(&app->world.bank, now_us);
	sim_chain_tick(&app->world.chain, now_us);
	return sd_event_source_set_time(s, usec + PHYSICS_TICK_US);
}

static int on_script(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct sim_app *app = userdata;
	uint64_t wait_us, real_us;

	sim_bank_advance(&app->world.bank, sim_now_ns() / 1000);
	wait_us = sim_scenario_run(&app->scenario, &app->world);
	sim_after_command(app->event, &app->world, &app->bus);
	if (wait_us == 0) {
		if (!app->world.quit)
			fprintf(stderr, "%s: done\n", app->opt.scenario);
		return sd_event_source_set_enabled(s, SD_EVENT_OFF);
	}
	/* `wait` counts simulated seconds */
	real_us = wait_us * 1000 / app->opt.time_scale_milli;
	if (real_us == 0)
		real_us = 1;
	return sd_event_source_set_time(s, sim_now_ns() / 1000 + real_us);
}

static int make_link(const char *link, const char *target)
{
	struct stat st;

	/* a link left by a simulator that died is replaced; a file is not */
	if (lstat(link, &st) == 0) {
		if (!S_ISLNK(st.st_mode))
			return -EEXIST;
		if (unlink(link) < 0)
			return -errno;
	}
	if (symlink(target, link) < 0)
		return -errno;
	return 0;
}

static void app_cleanup(struct sim_app *app)
{
	app->physics = sd_event_source_disable_unref(app->physics);
	app->script = sd_event_source_disable_unref(app->script);
	if (app->ctl_open)
		sim_ctlsock_close(&app->ctl);
	if (app->link_made)
		unlink(app->opt.link);
	if (app->bus_open) {
		if (app->bus.trace)
			fclose(app->bus.trace);
		app->bus.trace = NULL;
		sim_bus_close(&app->bus);
	}
	sim_scenario_free(&app->scenario);
	app->event = sd_event_unref(app->event);
}

static int app_setup(struct sim_app *app)
{
	const struct sim_options *o = &app->opt;
	struct sim_world *w = &app->world;
	char err[256];
	sigset_t mask;
	int r;

	r = sim_bank_init(&w->bank, o->model, o->series, o->parallel, o->soc_cpct, o->current_ma,
	                  o->time_scale_milli, o->seed);
	if (r < 0) {
		fprintf(stderr, "smallbms-sim: bank %ux%u of %s: %s\n", o->series, o->parallel,
		        o->model->name, strerror(-r));
		return r;
	}
	r = sim_chain_init(&w->chain, &w->bank, o->serial_prefix, o->reply_delay_us, o->seed);
	if (r < 0) {
		fprintf(stderr, "smallbms-sim: battery chain: %s\n", strerror(-r));
		return r;
	}
	if (o->scenario) {
		r = sim_scenario_load(&app->scenario, o->scenario, w->bank.n, w->bank.cells,
		                      w->bank.sensors, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "smallbms-sim: %s\n", err);
			return r;
		}
	}

	r = sd_event_new(&app->event);
	if (r < 0)
		return r;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	r = sd_event_add_signal(app->event, NULL, SIGINT, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(app->event, NULL, SIGTERM, NULL, NULL);
	if (r < 0)
		return r;

	r = sim_bus_open(&app->bus, app->event, w, o->seed);
	if (r < 0) {
		fprintf(stderr, "smallbms-sim: cannot open a pty: %s\n", strerror(-r));
		return r;
	}
	app->bus_open = true;
	if (o->trace) {
		app->bus.trace = fopen(o->trace, "ae");
		if (!app->bus.trace) {
			r = -errno;
			fprintf(stderr, "smallbms-sim: trace file %s: %s\n", o->trace,
			        strerror(-r));
			return r;
		}
		setvbuf(app->bus.trace, NULL, _IOLBF, 0);
	}
	if (o->link) {
		r = make_link(o->link, app->bus.slave_path);
		if (r < 0) {
			fprintf(stderr, "smallbms-sim: link %s: %s\n", o->link, strerror(-r));
			return r;
		}
		app->link_made = true;
	}
	if (o->control) {
		r = sim_ctlsock_open(&app->ctl, app->event, o->control, w, &app->bus);
		if (r < 0) {
			fprintf(stderr, "smallbms-sim: control socket %s: %s\n", o->control,
			        strerror(-r));
			return r;
		}
		app->ctl_open = true;
	}
	r = sd_event_add_time_relative(app->event, &app->physics, CLOCK_MONOTONIC, PHYSICS_TICK_US,
	                               1000, on_physics, app);
	if (r < 0)
		return r;
	r = sd_event_source_set_enabled(app->physics, SD_EVENT_ON);
	if (r < 0)
		return r;
	if (o->scenario) {
		r = sd_event_add_time_relative(app->event, &app->script, CLOCK_MONOTONIC, 0, 1,
		                               on_script, app);
		if (r < 0)
			return r;
		r = sd_event_source_set_enabled(app->script, SD_EVENT_ON);
		if (r < 0)
			return r;
	}
	sim_bank_advance(&w->bank, sim_now_ns() / 1000);
	return 0;
}

int main(int argc, char **argv)
{
	_cleanup_free_ struct sim_app *app = NULL;
	int r;

	app = calloc(1, sizeof(*app));
	if (!app) {
		fprintf(stderr, "smallbms-sim: out of memory\n");
		return EXIT_FAILURE;
	}
	r = sim_options_parse(&app->opt, argc, argv, stdout, stderr);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;

	r = app_setup(app);
	if (r >= 0) {
		/* the contract with the tests: the pty first, then ready */
		printf("pty %s\n", app->bus.slave_path);
		fflush(stdout);
		printf("ready\n");
		fflush(stdout);
		r = sd_event_loop(app->event);
		if (r < 0)
			fprintf(stderr, "smallbms-sim: event loop: %s\n", strerror(-r));
	}
	app_cleanup(app);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
