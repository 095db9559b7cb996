/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * monitor: a live view. Every PropertiesChanged, InterfacesAdded or
 * InterfacesRemoved of the daemon schedules one redraw a little later, so a
 * burst of signals (one per object and interface) gives one block built
 * from a consistent fresh read, not a flicker of partial ones. A daemon
 * that stops (a restart, an update) is shown as not running until it is
 * back; only a daemon not running at the start ends the monitor (exit 4).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/format.h"

#define MONITOR_COALESCE_US 100000

struct monitor {
	struct ctl *c;
	sd_event *event;
	sd_event_source *redraw; /* one-shot timer, armed by a signal */
	unsigned drawn;
	bool tty;
};

static void block_begin(struct monitor *mon, struct out *o, bool running)
{
	char when[40];
	uint64_t now = ctl_now_wall_us();

	if (mon->tty && !mon->c->args->json)
		fputs("\033[H\033[2J", stdout); /* home, clear: redraw in place */
	out_init(o, stdout, mon->c->args->json, false);
	out_uint(o, "time_wall_us", NULL, now, NULL);
	out_bool(o, "running", NULL, running, NULL);
	out_text(o, "smallbms at %s", fmt_wall(when, sizeof(when), now, now));
}

static int block_end(struct monitor *mon, struct out *o)
{
	if (!mon->tty && !mon->c->args->json)
		out_text(o, "%s", ""); /* blocks apart for a reader of the pipe */
	if (out_finish(o) < 0)
		return sd_event_exit(mon->event, CTL_EXIT_FAILED);
	mon->drawn++;
	if (mon->c->args->count && mon->drawn >= mon->c->args->count)
		return sd_event_exit(mon->event, CTL_EXIT_OK);
	return 0;
}

/* The daemon stopped (a restart, an update): say so and wait for it. */
static int draw_not_running(struct monitor *mon)
{
	struct out o;

	block_begin(mon, &o, false);
	out_text(&o, "smallbmsd is not running");
	return block_end(mon, &o);
}

static int draw(struct monitor *mon)
{
	struct ctl_bms b;
	struct ctl_battery *v = NULL;
	size_t n = 0;
	struct out o;
	int r = ctl_fetch_bms(mon->c, &b);

	if (r == CTL_EXIT_OK) {
		r = ctl_fetch_batteries(mon->c, &v, &n);
		if (r != CTL_EXIT_OK)
			ctl_bms_done(&b);
	}
	if (r == CTL_EXIT_NOT_RUNNING && mon->drawn > 0)
		return draw_not_running(mon);
	if (r != CTL_EXIT_OK)
		return sd_event_exit(mon->event, r);
	block_begin(mon, &o, true);
	ctl_print_status(&o, &b, ctl_now_wall_us());
	out_text(&o, "%s", "");
	ctl_print_battery_table(&o, v, n);
	ctl_bms_done(&b);
	ctl_batteries_free(v, n);
	return block_end(mon, &o);
}

static int on_redraw(sd_event_source *s, uint64_t usec, void *userdata)
{
	return draw(userdata);
}

static int schedule(struct monitor *mon)
{
	int enabled = SD_EVENT_OFF;
	int r = sd_event_source_get_enabled(mon->redraw, &enabled);

	if (r < 0 || enabled != SD_EVENT_OFF)
		return r;
	r = sd_event_source_set_time_relative(mon->redraw, MONITOR_COALESCE_US);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(mon->redraw, SD_EVENT_ONESHOT);
}

static int on_change(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct monitor *mon = userdata;
	int r = schedule(mon);

	if (r < 0) {
		fprintf(stderr, "smallbmsctl: monitor: %s\n", strerror(-r));
		return sd_event_exit(mon->event, CTL_EXIT_FAILED);
	}
	return 0;
}

static int on_owner(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct monitor *mon = userdata;
	const char *name, *old_owner, *new_owner;

	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
		return 0;
	if (*new_owner)
		return on_change(m, userdata, e); /* back: show it as it is now */
	return draw_not_running(mon);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	return sd_event_exit(userdata, CTL_EXIT_OK);
}

static const char *const change_matches[] = {
        "type='signal',sender='" CTL_BUS_NAME "',interface='org.freedesktop.DBus.Properties',"
        "member='PropertiesChanged',path_namespace='" CTL_ROOT_PATH "'",
        "type='signal',sender='" CTL_BUS_NAME "',interface='org.freedesktop.DBus.ObjectManager',"
        "path='" CTL_ROOT_PATH "'",
};

static const char owner_match[] =
        "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
        "member='NameOwnerChanged',arg0='" CTL_BUS_NAME "'";

static int setup(struct monitor *mon)
{
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	r = sd_event_new(&mon->event);
	if (r < 0)
		return r;
	r = sd_event_add_signal(mon->event, NULL, SIGINT, on_signal, mon->event);
	if (r >= 0)
		r = sd_event_add_signal(mon->event, NULL, SIGTERM, on_signal, mon->event);
	if (r >= 0)
		r = sd_event_add_time_relative(mon->event, &mon->redraw, CLOCK_MONOTONIC,
		                               MONITOR_COALESCE_US, 0, on_redraw, mon);
	if (r >= 0)
		r = sd_event_source_set_enabled(mon->redraw, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_bus_attach_event(mon->c->bus, mon->event, SD_EVENT_PRIORITY_NORMAL);
	/* matches before the first read: no change falls between the two */
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(change_matches); i++)
		r = sd_bus_add_match(mon->c->bus, NULL, change_matches[i], on_change, mon);
	if (r >= 0)
		r = sd_bus_add_match(mon->c->bus, NULL, owner_match, on_owner, mon);
	if (r >= 0)
		r = sd_bus_set_exit_on_disconnect(mon->c->bus, true);
	return r;
}

int ctl_cmd_monitor(struct ctl *c)
{
	struct monitor mon = {.c = c, .tty = isatty(STDOUT_FILENO) == 1};
	int r = setup(&mon);

	if (r < 0) {
		fprintf(stderr, "smallbmsctl: monitor: cannot watch the bus: %s\n", strerror(-r));
		r = CTL_EXIT_FAILED;
	} else {
		r = draw(&mon);
		if (r >= 0)
			r = sd_event_loop(mon.event);
		if (r < 0) {
			fprintf(stderr, "smallbmsctl: monitor: %s\n", strerror(-r));
			r = CTL_EXIT_FAILED;
		}
	}
	sd_event_source_unref(mon.redraw);
	if (c->bus)
		sd_bus_detach_event(c->bus);
	sd_event_unref(mon.event);
	return r;
}
