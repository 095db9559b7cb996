/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runs the BlueZ adapter (src/ble/ble.c) alone on an sd-event loop against
 * the system bus of the environment (DBUS_SYSTEM_BUS_ADDRESS: the tests'
 * private bus with a fake org.bluez), as smallbmsd will: a snapshot that
 * the harness fills, and svc_actions backed by the real settings registry.
 *
 *   ble-harness STATE_DIR
 *
 * At start it lists the settings registry ("setting INDEX NAME VALUE MIN
 * MAX"), for the tests' writes.
 *
 * stdin, one command a line: "soc N" (0.01 %), "unknown" (SoC not known),
 * "codes HEX", "mv N", "ma N", "quit". stdout: "ready", "state off|
 * advertising|connected" on every change, and one line per action
 * ("action set_settings n=2 r=0 ...").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "ble/ble.h"
#include "common/macro.h"
#include "core/settings.h"

struct harness {
	struct ble *ble;
	struct bms_settings settings;
	struct svc_snapshot snap;
	enum bt_state shown;
	char line[256];
	size_t line_len;
};

static const char *state_name(enum bt_state s)
{
	return s == BT_CONNECTED ? "connected" : s == BT_ADVERTISING ? "advertising" : "off";
}

/* What the daemon does after an evaluation: a fresh snapshot to the front end. */
static void evaluate(struct harness *h)
{
	h->snap.generation++;
	h->snap.settings = h->settings;
	h->snap.power_mw = (int64_t)h->snap.bank_mv * h->snap.current_ma / 1000;
	if (h->ble)
		ble_update(h->ble, &h->snap);
}

static void fill_battery(struct svc_battery *bat, unsigned addr)
{
	*bat = (struct svc_battery){.addr = addr, .has_status = true, .fresh = true};
	snprintf(bat->info.serial, sizeof(bat->info.serial), "SB%06u", 100 + addr);
	bat->info.type = 2;
	bat->info.capacity_ah = 100;
	bat->info.cells = 4;
	bat->info.sensors = 2;
	bat->info.fw_major = 1;
	bat->info.fw_minor = 2;
	bat->info.fw_patch = 3;
	bat->status.voltage_mv = (uint16_t)(13200 + addr);
	bat->status.current_ma = -1500;
	bat->status.n_cells = 4;
	for (unsigned i = 0; i < 4; i++)
		bat->status.cell_mv[i] = (uint16_t)(3300 + 10 * addr + i);
	bat->status.n_temps = 2;
	bat->status.temp_dc[0] = 215;
	bat->status.temp_dc[1] = (int16_t)(220 + addr);
	bat->status_us = 1000;
}

static void fill_snapshot(struct harness *h)
{
	struct svc_snapshot *s = &h->snap;

	s->mono_us = 5000000;
	s->wall_us = 1767225600000000LL;
	s->soc_known = true;
	s->soc_cpct = 5000;
	s->consumed_ah = 50.0;
	s->time_remaining_known = true;
	s->time_remaining_s = 36000;
	s->measure_valid = true;
	s->bank_mv = 26400;
	s->current_ma = -3000;
	s->min_cell_mv = 3290;
	s->max_cell_mv = 3320;
	s->min_temp_dc = 215;
	s->max_temp_dc = 222;
	s->have_protection = true;
	s->prot.atd_closed = true;
	s->prot.atc_closed = true;
	s->n_batteries = 2;
	fill_battery(&s->bat[0], 1);
	fill_battery(&s->bat[1], 2);
	s->history.cycles = 7;
	s->history.syncs = 3;
}

static int act(void *userdata, const char *what, int r, const char *err)
{
	struct harness *h = userdata;

	printf("action %s r=%d%s%s\n", what, r, err[0] ? " err=" : "", err);
	if (r >= 0)
		evaluate(h);
	return r;
}

static int op_set_settings(void *userdata, const struct setting_change *ch, size_t n, char *err,
                           size_t errlen)
{
	struct harness *h = userdata;
	char what[192];
	int r;

	err[0] = '\0';
	r = settings_apply(&h->settings, ch, n, err, errlen);
	snprintf(what, sizeof(what), "set_settings n=%zu first=%s=%d", n, n ? ch[0].name : "",
	         n ? (int)ch[0].value : 0);
	return act(h, what, r, err);
}

static int op_reset_defaults(void *userdata, char *err, size_t errlen)
{
	struct harness *h = userdata;

	err[0] = '\0';
	settings_reset_defaults(&h->settings);
	return act(h, "reset_defaults", 0, err);
}

static int op_reset_all(void *userdata, char *err, size_t errlen)
{
	struct harness *h = userdata;

	err[0] = '\0';
	settings_reset_all(&h->settings);
	return act(h, "reset_all", 0, err);
}

static int op_reset_history(void *userdata, char *err, size_t errlen)
{
	struct harness *h = userdata;

	err[0] = '\0';
	history_reset(&h->snap.history);
	return act(h, "reset_history", 0, err);
}

static int op_set_soc(void *userdata, int32_t soc_cpct, char *err, size_t errlen)
{
	struct harness *h = userdata;
	char what[64];

	err[0] = '\0';
	snprintf(what, sizeof(what), "set_soc %d", (int)soc_cpct);
	if (soc_cpct < 0 || soc_cpct > 10000) {
		snprintf(err, errlen, "SoC %d outside 0..10000", (int)soc_cpct);
		return act(h, what, -ERANGE, err);
	}
	h->snap.soc_known = true;
	h->snap.soc_cpct = soc_cpct;
	return act(h, what, 0, err);
}

static int op_synchronise(void *userdata, char *err, size_t errlen)
{
	struct harness *h = userdata;

	err[0] = '\0';
	h->snap.soc_known = true;
	h->snap.soc_cpct = 10000;
	return act(h, "synchronise", 0, err);
}

static int op_accept_bank(void *userdata, char *err, size_t errlen)
{
	err[0] = '\0';
	return act(userdata, "accept_bank", 0, err);
}

static int op_identify(void *userdata, unsigned addr, char *err, size_t errlen)
{
	err[0] = '\0';
	return act(userdata, "identify", 0, err);
}

static const struct svc_actions harness_ops = {
        .set_settings = op_set_settings,
        .reset_defaults = op_reset_defaults,
        .reset_all = op_reset_all,
        .reset_history = op_reset_history,
        .set_soc = op_set_soc,
        .synchronise = op_synchronise,
        .accept_bank = op_accept_bank,
        .identify = op_identify,
};

static void command(struct harness *h, sd_event *e, const char *line)
{
	long v;

	if (strcmp(line, "quit") == 0) {
		sd_event_exit(e, 0);
		return;
	}
	if (strcmp(line, "unknown") == 0)
		h->snap.soc_known = false;
	else if (sscanf(line, "soc %ld", &v) == 1) {
		h->snap.soc_known = true;
		h->snap.soc_cpct = (int32_t)v;
	} else if (sscanf(line, "codes %lx", &v) == 1)
		h->snap.prot.codes = (uint32_t)v;
	else if (sscanf(line, "mv %ld", &v) == 1)
		h->snap.bank_mv = (int32_t)v;
	else if (sscanf(line, "ma %ld", &v) == 1)
		h->snap.current_ma = (int32_t)v;
	else {
		printf("error unknown command: %s\n", line);
		return;
	}
	evaluate(h);
	printf("ok %s\n", line);
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct harness *h = userdata;
	sd_event *e = sd_event_source_get_event(s);
	char c;
	ssize_t n;

	for (;;) {
		n = read(fd, &c, 1);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				sd_event_exit(e, 0);
			return 0;
		}
		if (c != '\n') {
			if (h->line_len < sizeof(h->line) - 1)
				h->line[h->line_len++] = c;
			continue;
		}
		h->line[h->line_len] = '\0';
		h->line_len = 0;
		command(h, e, h->line);
		return 0;
	}
}

/* The daemon reads ble_state() after each evaluation; 20 ms here. */
static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct harness *h = userdata;
	enum bt_state st = ble_state(h->ble);

	if (st != h->shown) {
		h->shown = st;
		printf("state %s\n", state_name(st));
	}
	(void)sd_event_source_set_time_relative(s, 20000);
	return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

int main(int argc, char **argv)
{
	struct harness h = {.shown = BT_OFF};
	sd_event *e = NULL;
	sd_bus *bus = NULL;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: ble-harness STATE_DIR\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	settings_default(&h.settings);
	fill_snapshot(&h);

	r = sd_event_new(&e);
	if (r >= 0)
		r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_attach_event(bus, e, 0);
	/* as the daemon's D-Bus front end does (src/dbus) */
	if (r >= 0)
		r = sd_bus_add_object_manager(bus, NULL, "/org/smallbms");
	if (r >= 0)
		r = sd_bus_request_name(bus, "org.smallbms", 0);
	if (r < 0) {
		fprintf(stderr, "ble-harness: bus: %s\n", strerror(-r));
		sd_bus_unref(bus);
		sd_event_unref(e);
		return 1;
	}
	r = ble_new(&h.ble, e, bus, argv[1], &harness_ops, &h);
	if (r < 0) {
		printf("ble_new failed %d\n", r);
		sd_bus_flush_close_unref(bus);
		sd_event_unref(e);
		return 1;
	}
	evaluate(&h);
	r = sd_event_add_io(e, NULL, STDIN_FILENO, EPOLLIN, on_stdin, &h);
	if (r >= 0)
		r = sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 20000, 0, on_tick, &h);
	for (size_t i = 0; r >= 0 && i < settings_count(); i++) {
		const struct setting_desc *d = settings_desc(i);

		printf("setting %zu %s %d %d %d\n", i, d->name,
		       (int)*settings_value(&h.settings, i), (int)d->min, (int)d->max);
	}
	if (r >= 0) {
		printf("ready\n");
		r = sd_event_loop(e);
	}
	ble_free(h.ble);
	sd_bus_flush_close_unref(bus);
	sd_event_unref(e);
	return r < 0 ? 1 : 0;
}
