/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The D-Bus objects in-process: a client and the server over a socketpair
 * on one sd-event loop (TESTING.md), a snapshot the test fills, and a test
 * svc_actions backed by the real settings registry. Every property of every
 * interface is read and checked; every method and every refusal; the
 * ObjectManager signals; PropertiesChanged at once and rate-limited, with
 * time driven by the snapshot's mono_us.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "core/codes.h"
#include "dbus/bms_dbus.h"

#define T0        1000000000ull /* mono us of the first snapshot */
#define NAME_LIST 2048

struct signal_rec {
	char member[32];
	char path[64];
	char iface[64];
	char names[NAME_LIST]; /* ",A,B," */
};

struct fake {
	struct svc_snapshot snap;
	struct bms_dbus *b;
	int result; /* forced result of the next non-settings action, 0 = none */
	bool async; /* settings changes answer SVC_PENDING, ticket by ticket */
	uint64_t ticket;
	unsigned calls_set, calls_reset_defaults, calls_reset_all, calls_reset_history;
	unsigned calls_set_soc, calls_sync, calls_accept, calls_identify;
	int32_t last_soc;
	unsigned last_identify;
	/* signals seen by the client */
	struct signal_rec sig[128];
	unsigned n_sig;
};

struct t {
	sd_event *e;
	sd_bus *server, *client;
	struct fake f;
};

/* ---- the test's svc_actions: the real registry, no daemon ---- */

static void republish(struct fake *f)
{
	f->snap.generation++;
	bms_dbus_update(f->b, &f->snap);
}

static int fake_set(void *ud, const struct setting_change *ch, size_t n, char *err, size_t errlen)
{
	struct fake *f = ud;
	struct bms_settings s = f->snap.settings;
	int r = settings_apply(&s, ch, n, err, errlen);

	f->calls_set++;
	if (r < 0)
		return r;
	if (f->result) {
		snprintf(err, errlen, "forced");
		return f->result;
	}
	f->snap.settings = s;
	republish(f);
	if (f->async) {
		f->ticket++;
		return SVC_PENDING;
	}
	return 0;
}

static uint64_t fake_ticket(void *ud)
{
	return ((struct fake *)ud)->ticket;
}

static int forced(struct fake *f, char *err, size_t errlen)
{
	if (f->result)
		snprintf(err, errlen, "forced %d", f->result);
	return f->result;
}

static int fake_reset_defaults(void *ud, char *err, size_t errlen)
{
	struct fake *f = ud;
	struct bms_settings s = f->snap.settings;

	f->calls_reset_defaults++;
	if (f->result)
		return forced(f, err, errlen);
	settings_reset_defaults(&s);
	int r = settings_validate(&s, err, errlen);
	if (r < 0)
		return r;
	f->snap.settings = s;
	republish(f);
	return 0;
}

static int fake_reset_all(void *ud, char *err, size_t errlen)
{
	struct fake *f = ud;

	f->calls_reset_all++;
	if (f->result)
		return forced(f, err, errlen);
	settings_reset_all(&f->snap.settings);
	republish(f);
	return 0;
}

static int fake_reset_history(void *ud, char *err, size_t errlen)
{
	struct fake *f = ud;

	f->calls_reset_history++;
	return forced(f, err, errlen);
}

static int fake_set_soc(void *ud, int32_t cpct, char *err, size_t errlen)
{
	struct fake *f = ud;

	f->calls_set_soc++;
	f->last_soc = cpct;
	return forced(f, err, errlen);
}

static int fake_sync(void *ud, char *err, size_t errlen)
{
	struct fake *f = ud;

	f->calls_sync++;
	return forced(f, err, errlen);
}

static int fake_accept(void *ud, char *err, size_t errlen)
{
	struct fake *f = ud;

	f->calls_accept++;
	return forced(f, err, errlen);
}

static int fake_identify(void *ud, unsigned addr, char *err, size_t errlen)
{
	struct fake *f = ud;

	f->calls_identify++;
	f->last_identify = addr;
	return forced(f, err, errlen);
}

static int fake_set_async(void *ud, const struct setting_change *ch, size_t n, char *err,
                          size_t errlen)
{
	((struct fake *)ud)->async = true;
	return fake_set(ud, ch, n, err, errlen);
}

static const struct svc_actions fake_ops = {
        .set_settings = fake_set,
        .reset_defaults = fake_reset_defaults,
        .reset_all = fake_reset_all,
        .reset_history = fake_reset_history,
        .set_soc = fake_set_soc,
        .synchronise = fake_sync,
        .accept_bank = fake_accept,
        .identify = fake_identify,
};

/* The daemon's asynchronous table: a settings change is answered once its
 * save is reported durable (bms_dbus_saved). */
static const struct svc_actions fake_async_ops = {
        .async = true,
        .ticket = fake_ticket,
        .set_settings = fake_set_async,
        .reset_defaults = fake_reset_defaults,
        .reset_all = fake_reset_all,
        .reset_history = fake_reset_history,
        .set_soc = fake_set_soc,
        .synchronise = fake_sync,
        .accept_bank = fake_accept,
        .identify = fake_identify,
};

/* ---- the snapshot ---- */

static void fill_battery(struct svc_battery *b, unsigned addr, bool status)
{
	memset(b, 0, sizeof(*b));
	b->addr = addr;
	snprintf(b->info.serial, sizeof(b->info.serial), "SN%04u", addr);
	b->info.type = 1;
	b->info.capacity_ah = 100;
	b->info.cells = 4;
	b->info.sensors = 2;
	b->info.fw_major = 1;
	b->info.fw_minor = 4;
	b->info.fw_patch = 2;
	b->info.max_charge_a = 50;
	b->info.max_charge_pulse_a = 60;
	b->info.max_discharge_a = 100;
	b->info.max_discharge_pulse_a = 200;
	b->has_status = status;
	b->status.voltage_mv = (uint16_t)(13200 + addr);
	b->status.current_ma = -1000 - (int32_t)addr;
	b->status.flags = M8_ST_BALANCING | M8_ST_HARD_UV;
	b->status.n_cells = 4;
	for (unsigned i = 0; i < 4; i++)
		b->status.cell_mv[i] = (uint16_t)(3300 + i);
	b->status.cell_mv[3] = M8_CELL_NA;
	b->status.n_temps = 2;
	b->status.temp_dc[0] = 251;
	b->status.temp_dc[1] = M8_TEMP_NA;
	b->status_us = T0 - 300000;
	b->fresh = status;
	b->lost = !status;
	b->stats = (struct m8_link_stats){
	        .requests = 1000 + addr, .timeouts = 7, .crc_errors = 3, .naks = 2};
}

static void fill(struct svc_snapshot *s, unsigned n_batteries)
{
	memset(s, 0, sizeof(*s));
	s->mono_us = T0;
	s->wall_us = 1700000000000000ll;
	s->soc_known = true;
	s->soc_cpct = 5123;
	s->consumed_ah = 12.3456;
	s->time_remaining_known = true;
	s->time_remaining_s = 7200;
	s->measure_valid = true;
	s->bank_mv = 13290;
	s->current_ma = -1500;
	s->power_mw = -19935;
	s->min_cell_mv = 3301;
	s->max_cell_mv = 3330;
	s->min_temp_dc = -15;
	s->max_temp_dc = 260;
	s->balancer = BALANCER_BALANCED;
	history_reset(&s->history);
	s->history.deepest_ah = 40.5;
	s->history.drawn_ah = 1234.5678;
	s->history.discharged_wh = 15000.4;
	s->history.charged_wh = 16000.6;
	s->history.syncs = 12;
	s->history.cycles = 9;
	s->history.last_full_charge_s = 1690000000;
	s->history.min_bank_mv = 12100;
	s->history.max_bank_mv = 14400;
	s->history.min_cell_mv = 3000;
	/* max_cell_mv stays empty: reads 0 */
	s->history.min_temp_dc = -50;
	/* max_temp_dc stays empty: reads 32767 */
	s->history.n_errors = 2;
	s->history.errors[0] = (struct history_error){.code = BMS_E2, .wall_s = 1695000000};
	s->history.errors[1] = (struct history_error){.code = BMS_E1, .wall_s = 1694000000};

	s->have_protection = true;
	s->prot.atd_closed = false;
	s->prot.atc_closed = true;
	s->prot.prealarm_active = true;
	s->prot.blue = LED_BLINK;
	s->prot.red = LED_BLINK_FAST;
	s->prot.codes = BMS_CODE_BIT(BMS_A1) | BMS_CODE_BIT(BMS_W2);
	s->prot.remote_on = true;
	struct protection_output_report *atd = &s->prot.report[PROT_OUT_ATD];
	atd->closed = false;
	atd->since_us = T0 - 5000000;
	atd->n_holds = 2;
	atd->holds[0] = (struct protection_hold){.rule = PROT_R_UV,
	                                         .code = BMS_A1,
	                                         .name = "cell-under-voltage",
	                                         .since_us = T0 - 5000000,
	                                         .reading = {2790, "mV", 2, 3},
	                                         .latched = true};
	atd->holds[1] = (struct protection_hold){.rule = PROT_R_REMOTE_OFF,
	                                         .code = -1,
	                                         .name = "remote-off",
	                                         .since_us = T0 - 1000000,
	                                         .reading = {0, NULL, -1, -1}};
	s->prot.report[PROT_OUT_ATC] =
	        (struct protection_output_report){.closed = true, .since_us = T0 - 60000000};
	s->prot.report[PROT_OUT_PREALARM] =
	        (struct protection_output_report){.closed = false, .since_us = T0 - 2000000};
	s->remote_on = true;
	s->remote_wired = true;
	s->readback_wired = true;

	s->have_topology = true;
	s->topo = (struct bank_topology){.type = 1,
	                                 .n = 2,
	                                 .s = 1,
	                                 .p = 2,
	                                 .cells_per_battery = 4,
	                                 .battery_capacity_ah = 100,
	                                 .cells_total = 8,
	                                 .cells_in_series = 4,
	                                 .capacity_ah = 200,
	                                 .nominal_mv = 12800};
	s->topo_err = BANK_OK;
	s->bank_changed = true;
	s->bus = (struct m8_bank_state){.port_open = true,
	                                .enumerated = true,
	                                .chain_open = false,
	                                .enum_failed = true,
	                                .count = n_batteries,
	                                .cycles = 4242,
	                                .last_cycle_us = 8123};
	s->n_batteries = n_batteries;
	for (unsigned i = 0; i < n_batteries; i++)
		fill_battery(&s->bat[i], i + 1, i == 0);
	settings_default(&s->settings);
	s->bt = BT_ADVERTISING;
}

/* ---- the two connections ---- */

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct fake *f = userdata;
	struct signal_rec *r;
	const char *s;

	if (f->n_sig >= sizeof(f->sig) / sizeof(f->sig[0]))
		return 0;
	r = &f->sig[f->n_sig++];
	memset(r, 0, sizeof(*r));
	snprintf(r->member, sizeof(r->member), "%s", sd_bus_message_get_member(m));
	snprintf(r->path, sizeof(r->path), "%s", sd_bus_message_get_path(m));
	strcpy(r->names, ",");
	if (strcmp(r->member, "PropertiesChanged") == 0) {
		assert_int_equal(sd_bus_message_read(m, "s", &s), 1);
		snprintf(r->iface, sizeof(r->iface), "%s", s);
		assert_true(sd_bus_message_enter_container(m, 'a', "{sv}") > 0);
		while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
			assert_int_equal(sd_bus_message_read(m, "s", &s), 1);
			strcat(r->names, s);
			strcat(r->names, ",");
			assert_true(sd_bus_message_skip(m, "v") >= 0);
			assert_true(sd_bus_message_exit_container(m) >= 0);
		}
	} else if (strcmp(r->member, "InterfacesAdded") == 0) {
		assert_int_equal(sd_bus_message_read(m, "o", &s), 1);
		snprintf(r->path, sizeof(r->path), "%s", s);
		assert_true(sd_bus_message_enter_container(m, 'a', "{sa{sv}}") > 0);
		while (sd_bus_message_enter_container(m, 'e', "sa{sv}") > 0) {
			assert_int_equal(sd_bus_message_read(m, "s", &s), 1);
			snprintf(r->iface, sizeof(r->iface), "%s", s);
			/* the properties come along: count them into names */
			assert_true(sd_bus_message_enter_container(m, 'a', "{sv}") > 0);
			while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
				assert_int_equal(sd_bus_message_read(m, "s", &s), 1);
				strcat(r->names, s);
				strcat(r->names, ",");
				assert_true(sd_bus_message_skip(m, "v") >= 0);
				assert_true(sd_bus_message_exit_container(m) >= 0);
			}
			assert_true(sd_bus_message_exit_container(m) >= 0);
			assert_true(sd_bus_message_exit_container(m) >= 0);
		}
	} else if (strcmp(r->member, "InterfacesRemoved") == 0) {
		assert_int_equal(sd_bus_message_read(m, "o", &s), 1);
		snprintf(r->path, sizeof(r->path), "%s", s);
		assert_int_equal(sd_bus_message_read(m, "as", 1, &s), 1);
		snprintf(r->iface, sizeof(r->iface), "%s", s);
	}
	return 0;
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	int fd[2];
	sd_id128_t id;

	assert_non_null(t);
	assert_int_equal(sd_event_new(&t->e), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fd), 0);
	assert_int_equal(sd_id128_randomize(&id), 0);
	assert_int_equal(sd_bus_new(&t->server), 0);
	assert_int_equal(sd_bus_set_fd(t->server, fd[0], fd[0]), 0);
	assert_int_equal(sd_bus_set_server(t->server, 1, id), 0);
	assert_int_equal(sd_bus_set_anonymous(t->server, 1), 0);
	assert_int_equal(sd_bus_start(t->server), 0);
	assert_int_equal(sd_bus_new(&t->client), 0);
	assert_int_equal(sd_bus_set_fd(t->client, fd[1], fd[1]), 0);
	assert_int_equal(sd_bus_set_anonymous(t->client, 1), 0);
	assert_int_equal(sd_bus_start(t->client), 0);
	assert_int_equal(sd_bus_attach_event(t->client, t->e, 0), 0);
	assert_true(sd_bus_add_match(t->client, NULL, "type='signal'", on_signal, &t->f) >= 0);

	assert_int_equal(bms_dbus_new(&t->f.b, t->e, t->server, &fake_ops, &t->f), 0);
	assert_true(bms_dbus_alive(t->f.b));
	assert_true(bms_dbus_named(t->f.b));
	fill(&t->f.snap, 2);
	bms_dbus_update(t->f.b, &t->f.snap);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	bms_dbus_free(t->f.b);
	sd_bus_detach_event(t->client);
	sd_bus_close_unref(t->client);
	sd_bus_close_unref(t->server);
	sd_event_unref(t->e);
	free(t);
	return 0;
}

struct result {
	bool done;
	sd_bus_message *reply;
};

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct result *r = userdata;

	r->reply = sd_bus_message_ref(m);
	r->done = true;
	return 0;
}

/* Sends m and runs the loop until the reply (or error) is in; 0 or the
 * error's errno, name and message in *err. */
static sd_bus_message *call_msg(struct t *t, sd_bus_message *m)
{
	struct result res = {0};

	assert_true(sd_bus_call_async(t->client, NULL, m, on_reply, &res, 5000000) >= 0);
	for (int i = 0; i < 10000 && !res.done; i++)
		assert_true(sd_event_run(t->e, 100000) >= 0);
	assert_true(res.done);
	sd_bus_message_unref(m);
	return res.reply;
}

static sd_bus_message *new_call(struct t *t, const char *path, const char *iface,
                                const char *member)
{
	sd_bus_message *m = NULL;

	assert_true(sd_bus_message_new_method_call(t->client, &m, NULL, path, iface, member) >= 0);
	return m;
}

/* Every signal emitted before now is dispatched when a Ping returns. */
static void sync_signals(struct t *t)
{
	sd_bus_message *r =
	        call_msg(t, new_call(t, "/org/smallbms", "org.freedesktop.DBus.Peer", "Ping"));
	assert_false(sd_bus_message_is_method_error(r, NULL));
	sd_bus_message_unref(r);
}

static void clear_signals(struct t *t)
{
	sync_signals(t);
	t->f.n_sig = 0;
}

/* Property Get; the reply is positioned inside the variant of sig. */
static sd_bus_message *get(struct t *t, const char *path, const char *iface, const char *name,
                           const char *sig)
{
	sd_bus_message *m = new_call(t, path, "org.freedesktop.DBus.Properties", "Get");
	assert_true(sd_bus_message_append(m, "ss", iface, name) >= 0);
	sd_bus_message *r = call_msg(t, m);
	if (sd_bus_message_is_method_error(r, NULL))
		fail_msg("Get %s.%s: %s", iface, name, sd_bus_message_get_error(r)->message);
	assert_true(sd_bus_message_enter_container(r, 'v', sig) > 0);
	return r;
}

static int32_t get_i(struct t *t, const char *path, const char *iface, const char *name)
{
	int32_t v = 0;
	sd_bus_message *r = get(t, path, iface, name, "i");

	assert_int_equal(sd_bus_message_read(r, "i", &v), 1);
	sd_bus_message_unref(r);
	return v;
}

/* The error name of a reply, NULL for a method return; message in msg. */
static const char *error_of(sd_bus_message *r, char *msg, size_t len)
{
	const sd_bus_error *e;

	if (!sd_bus_message_is_method_error(r, NULL))
		return NULL;
	e = sd_bus_message_get_error(r);
	snprintf(msg, len, "%s", e->message ? e->message : "");
	return e->name;
}

static void expect_error(sd_bus_message *r, const char *name, const char *msg_part)
{
	char msg[512];
	const char *n = error_of(r, msg, sizeof(msg));

	if (!n)
		fail_msg("expected %s, got a method return", name);
	if (strcmp(n, name) != 0)
		fail_msg("expected %s, got %s: %s", name, n, msg);
	if (msg_part && !strstr(msg, msg_part))
		fail_msg("%s: message \"%s\" does not name \"%s\"", name, msg, msg_part);
	sd_bus_message_unref(r);
}

static void expect_ok(sd_bus_message *r)
{
	char msg[512];
	const char *n = error_of(r, msg, sizeof(msg));

	if (n)
		fail_msg("expected success, got %s: %s", n, msg);
	sd_bus_message_unref(r);
}

/* ---- reading every property ---- */

struct expect {
	const char *name;
	const char *sig;
	int64_t n;
	const char *s;
	bool seen;
};

#define N(name, sig, v)                                                                            \
	{                                                                                          \
		name, sig, (int64_t)(v), NULL, false                                               \
	}
#define S(name, v)                                                                                 \
	{                                                                                          \
		name, "s", 0, v, false                                                             \
	}
#define C(name, sig)                                                                               \
	{                                                                                          \
		name, sig, 0, NULL, false                                                          \
	}

typedef void (*complex_check)(sd_bus_message *r, const char *name, const void *ctx);

static int64_t read_basic(sd_bus_message *r, char type, const char **str)
{
	union {
		int b;
		uint8_t y;
		int16_t n;
		uint16_t q;
		int32_t i;
		uint32_t u;
		int64_t x;
		uint64_t t;
		const char *s;
	} v;

	assert_int_equal(sd_bus_message_read_basic(r, type, &v), 1);
	switch (type) {
	case 'b':
		return v.b;
	case 'y':
		return v.y;
	case 'n':
		return v.n;
	case 'q':
		return v.q;
	case 'i':
		return v.i;
	case 'u':
		return v.u;
	case 'x':
		return v.x;
	case 't':
		return (int64_t)v.t;
	case 's':
		*str = v.s;
		return 0;
	}
	fail_msg("type %c", type);
	return 0;
}

/* GetAll of iface at path: every property is in ex (right type and value,
 * or checked by cx), and every one of ex is there. */
static void check_all(struct t *t, const char *path, const char *iface, struct expect *ex,
                      size_t n_ex, complex_check cx, const void *ctx)
{
	sd_bus_message *m = new_call(t, path, "org.freedesktop.DBus.Properties", "GetAll");
	assert_true(sd_bus_message_append(m, "s", iface) >= 0);
	sd_bus_message *r = call_msg(t, m);
	const char *name, *contents;
	char type;
	size_t seen = 0;

	assert_false(sd_bus_message_is_method_error(r, NULL));
	assert_true(sd_bus_message_enter_container(r, 'a', "{sv}") > 0);
	while (sd_bus_message_enter_container(r, 'e', "sv") > 0) {
		struct expect *e = NULL;

		assert_int_equal(sd_bus_message_read(r, "s", &name), 1);
		for (size_t i = 0; i < n_ex; i++)
			if (strcmp(ex[i].name, name) == 0)
				e = &ex[i];
		if (!e)
			fail_msg("%s: property %s not expected", iface, name);
		assert_false(e->seen);
		e->seen = true;
		seen++;
		assert_true(sd_bus_message_peek_type(r, &type, &contents) > 0);
		assert_int_equal(type, 'v');
		if (strcmp(contents, e->sig) != 0)
			fail_msg("%s.%s: type %s, expected %s", iface, name, contents, e->sig);
		assert_true(sd_bus_message_enter_container(r, 'v', contents) > 0);
		if (!e->sig[1] && e->sig[0] != 'a') {
			const char *s = NULL;
			int64_t v = read_basic(r, e->sig[0], &s);
			if (e->sig[0] == 's') {
				if (strcmp(s, e->s) != 0)
					fail_msg("%s.%s = \"%s\", expected \"%s\"", iface, name, s,
					         e->s);
			} else if (v != e->n) {
				fail_msg("%s.%s = %lld, expected %lld", iface, name, (long long)v,
				         (long long)e->n);
			}
		} else {
			cx(r, name, ctx);
		}
		assert_true(sd_bus_message_exit_container(r) >= 0);
		assert_true(sd_bus_message_exit_container(r) >= 0);
	}
	assert_int_equal(seen, n_ex);
	sd_bus_message_unref(r);
}

#define WALL(mono) (1700000000000000ll - (int64_t)(T0 - (mono)))

static void check_output(sd_bus_message *r, int closed, int64_t since, int64_t secs, unsigned holds)
{
	int b;
	uint64_t t;
	int64_t x;

	assert_true(sd_bus_message_enter_container(r, 'r', "btxa(ssxisnnb)") > 0);
	assert_int_equal(sd_bus_message_read(r, "btx", &b, &t, &x), 1);
	assert_int_equal(b, closed);
	assert_int_equal((int64_t)t, since);
	assert_int_equal(x, secs);
	assert_true(sd_bus_message_enter_container(r, 'a', "(ssxisnnb)") > 0);
	for (unsigned i = 0; i < holds; i++) {
		const char *code, *rule, *unit;
		int64_t hs;
		int32_t value;
		int16_t bat, idx;
		int latched;

		assert_int_equal(sd_bus_message_read(r, "(ssxisnnb)", &code, &rule, &hs, &value,
		                                     &unit, &bat, &idx, &latched),
		                 1);
		if (i == 0) {
			assert_string_equal(code, "A1");
			assert_string_equal(rule, "cell-under-voltage");
			assert_int_equal(hs, WALL(T0 - 5000000));
			assert_int_equal(value, 2790);
			assert_string_equal(unit, "mV");
			/* the core's battery 2 cell 3 (from 0) */
			assert_int_equal(bat, 3);
			assert_int_equal(idx, 4);
			assert_true(latched);
		} else {
			assert_string_equal(code, "");
			assert_string_equal(rule, "remote-off");
			assert_int_equal(hs, WALL(T0 - 1000000));
			assert_string_equal(unit, "");
			assert_int_equal(bat, -1);
			assert_int_equal(idx, -1);
			assert_false(latched);
		}
	}
	assert_int_equal(sd_bus_message_at_end(r, false), 1);
	assert_true(sd_bus_message_exit_container(r) >= 0);
	assert_true(sd_bus_message_exit_container(r) >= 0);
}

static void bms1_complex(sd_bus_message *r, const char *name, const void *ctx)
{
	if (strcmp(name, "LoadDisconnect") == 0) {
		check_output(r, 0, WALL(T0 - 5000000), 5, 2);
	} else if (strcmp(name, "ChargeDisconnect") == 0) {
		check_output(r, 1, WALL(T0 - 60000000), 60, 0);
	} else if (strcmp(name, "PreAlarm") == 0) {
		check_output(r, 1, WALL(T0 - 2000000), 2, 0);
	} else if (strcmp(name, "Codes") == 0) {
		const enum bms_code want[] = {BMS_W2, BMS_A1}; /* by number */
		uint8_t code;
		const char *n, *text;

		assert_true(sd_bus_message_enter_container(r, 'a', "(yss)") > 0);
		for (unsigned i = 0; i < 2; i++) {
			assert_int_equal(sd_bus_message_read(r, "(yss)", &code, &n, &text), 1);
			assert_int_equal(code, want[i]);
			assert_string_equal(n, bms_code_name(want[i]));
			assert_string_equal(text, bms_code_summary(want[i]));
		}
		assert_int_equal(sd_bus_message_at_end(r, false), 1);
		assert_true(sd_bus_message_exit_container(r) >= 0);
	} else {
		fail_msg("Bms1.%s not checked", name);
	}
}

static void bms1_properties(void **state)
{
	struct t *t = *state;
	struct expect ex[] = {
	        N("SocKnown", "b", 1),
	        N("SocCpct", "i", 5123),
	        N("MeasurementsValid", "b", 1),
	        N("VoltageMv", "i", 13290),
	        N("CurrentMa", "i", -1500),
	        N("PowerMw", "x", -19935),
	        N("ConsumedMah", "x", 12346),
	        N("TimeRemainingKnown", "b", 1),
	        N("TimeRemainingS", "x", 7200),
	        N("MinCellMv", "q", 3301),
	        N("MaxCellMv", "q", 3330),
	        N("MinTemperatureDc", "n", -15),
	        N("MaxTemperatureDc", "n", 260),
	        C("LoadDisconnect", "(btxa(ssxisnnb))"),
	        C("ChargeDisconnect", "(btxa(ssxisnnb))"),
	        C("PreAlarm", "(btxa(ssxisnnb))"),
	        C("Codes", "a(yss)"),
	        S("BlueLed", "blink"),
	        S("RedLed", "blink-fast"),
	        N("RemoteOn", "b", 1),
	        N("RemoteWired", "b", 1),
	        N("ReadbackWired", "b", 1),
	        S("Balancer", "balanced"),
	        N("BankChanged", "b", 1),
	        N("TopologyValid", "b", 1),
	        S("TopologyError", ""),
	        N("Batteries", "u", 2),
	        N("Series", "u", 1),
	        N("Parallel", "u", 2),
	        N("BatteryType", "y", 1),
	        N("CellsPerBattery", "u", 4),
	        N("CellsInSeries", "u", 4),
	        N("CapacityAh", "u", 200),
	        N("NominalVoltageMv", "u", 12800),
	        N("BusPortOpen", "b", 1),
	        N("BusEnumerated", "b", 1),
	        N("BusChainOpen", "b", 0),
	        N("BusEnumerationFailed", "b", 1),
	        N("BusCycles", "t", 4242),
	        N("BusLastCycleUs", "t", 8123),
	        S("BusError", ""),
	        S("Bluetooth", "advertising"),
	};

	check_all(t, "/org/smallbms", "org.smallbms.Bms1", ex, sizeof(ex) / sizeof(ex[0]),
	          bms1_complex, NULL);
}

/* What is not known reads as not known. */
static void bms1_unknowns(void **state)
{
	struct t *t = *state;
	struct svc_snapshot *s = &t->f.snap;
	sd_bus_message *r;
	const char *str;

	s->soc_known = false;
	s->measure_valid = false;
	s->time_remaining_known = false;
	s->min_cell_mv = s->max_cell_mv = M8_CELL_NA;
	s->have_topology = false;
	s->topo_err = BANK_ERR_MIXED_TYPES;
	s->bus.port_open = false;
	s->bus.open_error = -ENOENT;
	republish(&t->f);
	assert_int_equal(get_i(t, "/org/smallbms", "org.smallbms.Bms1", "SocCpct"), 0);
	assert_int_equal(get_i(t, "/org/smallbms", "org.smallbms.Bms1", "VoltageMv"), 0);
	r = get(t, "/org/smallbms", "org.smallbms.Bms1", "TopologyError", "s");
	assert_int_equal(sd_bus_message_read(r, "s", &str), 1);
	assert_string_equal(str, bank_error_str(BANK_ERR_MIXED_TYPES));
	sd_bus_message_unref(r);
	r = get(t, "/org/smallbms", "org.smallbms.Bms1", "BusError", "s");
	assert_int_equal(sd_bus_message_read(r, "s", &str), 1);
	assert_string_equal(str, strerror(ENOENT));
	sd_bus_message_unref(r);
	/* the batteries enumerated are known without a topology (issue 13 item 13) */
	r = get(t, "/org/smallbms", "org.smallbms.Bms1", "Batteries", "u");
	uint32_t u;
	assert_int_equal(sd_bus_message_read(r, "u", &u), 1);
	assert_int_equal(u, s->n_batteries);
	sd_bus_message_unref(r);
	r = get(t, "/org/smallbms", "org.smallbms.Bms1", "MinCellMv", "q");
	uint16_t q;
	assert_int_equal(sd_bus_message_read(r, "q", &q), 1);
	assert_int_equal(q, 0xFFFF);
	sd_bus_message_unref(r);
}

static uint32_t get_u(struct t *t, const char *name)
{
	uint32_t v = 0;
	sd_bus_message *r = get(t, "/org/smallbms", "org.smallbms.Bms1", name, "u");

	assert_int_equal(sd_bus_message_read(r, "u", &v), 1);
	sd_bus_message_unref(r);
	return v;
}

static bool get_b(struct t *t, const char *name)
{
	int v = 0;
	sd_bus_message *r = get(t, "/org/smallbms", "org.smallbms.Bms1", name, "b");

	assert_int_equal(sd_bus_message_read(r, "b", &v), 1);
	sd_bus_message_unref(r);
	return v;
}

/* Issue 13 item 13: with E6 the topology shows what is known (the
 * batteries enumerated, S when stored) and the error beside it, not 0/0. */
static void bms1_topology_error_shows_known(void **state)
{
	struct t *t = *state;
	struct svc_snapshot *s = &t->f.snap;
	sd_bus_message *r;
	const char *str;

	s->have_topology = false;
	s->topo_err = BANK_ERR_S_NOT_DIVISOR;
	s->bus.count = 8;
	s->n_batteries = 8;
	s->stored_s = 0;
	republish(&t->f);
	assert_false(get_b(t, "TopologyValid"));
	assert_int_equal(get_u(t, "Batteries"), 8);
	assert_int_equal(get_u(t, "Series"), 0); /* not stored: unknown */
	assert_int_equal(get_u(t, "Parallel"), 0);
	r = get(t, "/org/smallbms", "org.smallbms.Bms1", "TopologyError", "s");
	assert_int_equal(sd_bus_message_read(r, "s", &str), 1);
	assert_string_equal(str, bank_error_str(BANK_ERR_S_NOT_DIVISOR));
	sd_bus_message_unref(r);

	s->stored_s = 3; /* a remembered bank's S, which 8 batteries do not fit */
	republish(&t->f);
	assert_int_equal(get_u(t, "Batteries"), 8);
	assert_int_equal(get_u(t, "Series"), 3);
	assert_int_equal(get_u(t, "Parallel"), 0);
}

/* Issue 13 item 10: a board without the remote or read-back wiring says so. */
static void bms1_wiring(void **state)
{
	struct t *t = *state;
	struct svc_snapshot *s = &t->f.snap;

	assert_true(get_b(t, "RemoteWired"));
	assert_true(get_b(t, "ReadbackWired"));
	s->remote_wired = false;
	s->readback_wired = false;
	republish(&t->f);
	assert_false(get_b(t, "RemoteWired"));
	assert_false(get_b(t, "ReadbackWired"));
}

static void history1_complex(sd_bus_message *r, const char *name, const void *ctx)
{
	uint8_t code;
	const char *n;
	uint64_t wall;

	assert_string_equal(name, "LastErrors");
	assert_true(sd_bus_message_enter_container(r, 'a', "(yst)") > 0);
	assert_int_equal(sd_bus_message_read(r, "(yst)", &code, &n, &wall), 1);
	assert_int_equal(code, BMS_E2);
	assert_string_equal(n, "E2");
	assert_int_equal(wall, 1695000000ull * 1000000ull);
	assert_int_equal(sd_bus_message_read(r, "(yst)", &code, &n, &wall), 1);
	assert_int_equal(code, BMS_E1);
	assert_string_equal(n, "E1");
	assert_int_equal(wall, 1694000000ull * 1000000ull);
	assert_int_equal(sd_bus_message_at_end(r, false), 1);
	assert_true(sd_bus_message_exit_container(r) >= 0);
}

static void history1_properties(void **state)
{
	struct t *t = *state;
	struct expect ex[] = {
	        N("DeepestDischargeMah", "x", 40500),
	        N("TotalDrawnMah", "x", 1234568),
	        N("DischargedWh", "x", 15000),
	        N("ChargedWh", "x", 16001),
	        N("Synchronisations", "u", 12),
	        N("ChargeCycles", "u", 9),
	        N("LastFullChargeWallUs", "t", 1690000000000000ll),
	        N("MinBankMv", "i", 12100),
	        N("MaxBankMv", "i", 14400),
	        N("MinCellMv", "i", 3000),
	        N("MaxCellMv", "i", 0),
	        N("MinTemperatureDc", "i", -50),
	        N("MaxTemperatureDc", "i", 32767),
	        C("LastErrors", "a(yst)"),
	};

	check_all(t, "/org/smallbms/history", "org.smallbms.History1", ex,
	          sizeof(ex) / sizeof(ex[0]), history1_complex, NULL);
}

static void battery1_complex(sd_bus_message *r, const char *name, const void *ctx)
{
	bool status = *(const bool *)ctx;
	const void *p;
	size_t len;

	if (strcmp(name, "CellVoltagesMv") == 0) {
		const uint16_t want_st[] = {3300, 3301, 3302, 0xFFFF};
		const uint16_t want_none[] = {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF};
		assert_true(sd_bus_message_read_array(r, 'q', &p, &len) > 0);
		assert_int_equal(len, sizeof(want_st));
		assert_memory_equal(p, status ? want_st : want_none, len);
	} else if (strcmp(name, "TemperaturesDc") == 0) {
		const int16_t want_st[] = {251, 0x7FFF};
		const int16_t want_none[] = {0x7FFF, 0x7FFF};
		assert_true(sd_bus_message_read_array(r, 'n', &p, &len) > 0);
		assert_int_equal(len, sizeof(want_st));
		assert_memory_equal(p, status ? want_st : want_none, len);
	} else if (strcmp(name, "Flags") == 0) {
		const char *f;
		assert_true(sd_bus_message_enter_container(r, 'a', "s") > 0);
		if (status) {
			assert_int_equal(sd_bus_message_read(r, "s", &f), 1);
			assert_string_equal(f, "balancing");
			assert_int_equal(sd_bus_message_read(r, "s", &f), 1);
			assert_string_equal(f, "hard-uv");
		}
		assert_int_equal(sd_bus_message_at_end(r, false), 1);
		assert_true(sd_bus_message_exit_container(r) >= 0);
	} else {
		fail_msg("Battery1.%s not checked", name);
	}
}

static void battery1_properties(void **state)
{
	struct t *t = *state;

	for (unsigned addr = 1; addr <= 2; addr++) {
		bool st = addr == 1;
		char path[64];
		struct expect ex[] = {
		        N("Address", "y", addr),
		        S("Serial", addr == 1 ? "SN0001" : "SN0002"),
		        N("Type", "y", 1),
		        N("CapacityAh", "q", 100),
		        S("FirmwareVersion", "1.4.2"),
		        N("MaxChargeA", "q", 50),
		        N("MaxChargePulseA", "q", 60),
		        N("MaxDischargeA", "q", 100),
		        N("MaxDischargePulseA", "q", 200),
		        N("HasStatus", "b", st),
		        N("VoltageMv", "q", st ? 13201 : 0),
		        N("CurrentMa", "i", st ? -1001 : 0),
		        C("CellVoltagesMv", "aq"),
		        C("TemperaturesDc", "an"),
		        C("Flags", "as"),
		        N("Fresh", "b", st),
		        N("Lost", "b", !st),
		        N("LastStatusWallUs", "t", st ? WALL(T0 - 300000) : 0),
		        N("Requests", "t", 1000 + addr),
		        N("Timeouts", "t", 7),
		        N("CrcErrors", "t", 3),
		        N("Naks", "t", 2),
		};
		snprintf(path, sizeof(path), "/org/smallbms/battery/%u", addr);
		check_all(t, path, "org.smallbms.Battery1", ex, sizeof(ex) / sizeof(ex[0]),
		          battery1_complex, &st);
	}
	/* no object for a battery that is not there */
	sd_bus_message *m =
	        new_call(t, "/org/smallbms/battery/3", "org.freedesktop.DBus.Properties", "GetAll");
	assert_true(sd_bus_message_append(m, "s", "org.smallbms.Battery1") >= 0);
	sd_bus_message *r = call_msg(t, m);
	assert_true(sd_bus_message_is_method_error(r, NULL));
	sd_bus_message_unref(r);
}

/* ---- Settings1 ---- */

static void camel(const char *snake, char *out, size_t len)
{
	size_t o = 0;
	bool up = true;

	for (const char *p = snake; *p && o + 1 < len; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		out[o++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		up = false;
	}
	out[o] = '\0';
}

static const char *const settings_path = "/org/smallbms/settings";
static const char *const settings_iface = "org.smallbms.Settings1";

/* Every setting's property reads what the snapshot holds. */
static void check_settings(struct t *t, const struct bms_settings *want)
{
	size_t n = settings_count();
	struct expect *ex = calloc(n, sizeof(*ex));
	char(*names)[64] = calloc(n, 64);

	assert_non_null(ex);
	assert_non_null(names);
	for (size_t i = 0; i < n; i++) {
		int32_t v;
		camel(settings_desc(i)->name, names[i], 64);
		assert_int_equal(settings_get(want, settings_desc(i)->name, &v), 0);
		ex[i] = (struct expect){.name = names[i], .sig = "i", .n = v};
	}
	check_all(t, settings_path, settings_iface, ex, n, NULL, NULL);
	free(ex);
	free(names);
}

static void settings1_properties(void **state)
{
	struct t *t = *state;
	struct bms_settings def;

	settings_default(&def);
	check_settings(t, &def);
	/* the contract's examples */
	assert_int_equal(get_i(t, settings_path, settings_iface, "UvTripMv"),
	                 def.protection.uv_trip_mv);
	assert_int_equal(get_i(t, settings_path, settings_iface, "ChargedDetectS"),
	                 def.monitor.charged_detect_s);
	assert_int_equal(get_i(t, settings_path, settings_iface, "TailCurrentPmil"),
	                 def.monitor.tail_current_pmil);
}

static void settings1_list(void **state)
{
	struct t *t = *state;
	sd_bus_message *r = call_msg(t, new_call(t, settings_path, settings_iface, "List"));
	const char *name, *unit, *summary;
	int32_t v, def, min, max;
	size_t i = 0;

	t->f.snap.settings.protection.uv_trip_mv = 2850; /* shown as the value */
	republish(&t->f);
	sd_bus_message_unref(r);
	r = call_msg(t, new_call(t, settings_path, settings_iface, "List"));
	assert_false(sd_bus_message_is_method_error(r, NULL));
	assert_true(sd_bus_message_enter_container(r, 'a', "(ssiiiis)") > 0);
	while (sd_bus_message_read(r, "(ssiiiis)", &name, &unit, &v, &def, &min, &max, &summary) >
	       0) {
		const struct setting_desc *d = settings_desc(i);
		int32_t want;

		assert_non_null(d);
		assert_string_equal(name, d->name);
		assert_string_equal(unit, d->unit);
		assert_int_equal(settings_get(&t->f.snap.settings, d->name, &want), 0);
		assert_int_equal(v, want);
		assert_int_equal(def, d->def);
		assert_int_equal(min, d->min);
		assert_int_equal(max, d->max);
		assert_string_equal(summary, d->summary);
		i++;
	}
	assert_int_equal(i, settings_count());
	assert_int_equal(get_i(t, settings_path, settings_iface, "UvTripMv"), 2850);
	sd_bus_message_unref(r);
}

static sd_bus_message *set_prop(struct t *t, const char *name, const char *sig, ...)
{
	va_list ap;
	sd_bus_message *m = new_call(t, settings_path, "org.freedesktop.DBus.Properties", "Set");

	assert_true(sd_bus_message_append(m, "ss", settings_iface, name) >= 0);
	assert_true(sd_bus_message_open_container(m, 'v', sig) >= 0);
	va_start(ap, sig);
	assert_true(sd_bus_message_appendv(m, sig, ap) >= 0);
	va_end(ap);
	assert_true(sd_bus_message_close_container(m) >= 0);
	return call_msg(t, m);
}

static void settings1_set(void **state)
{
	struct t *t = *state;
	struct bms_settings want;

	clear_signals(t);
	expect_ok(set_prop(t, "UvTripMv", "i", 2900));
	settings_default(&want);
	want.protection.uv_trip_mv = 2900;
	check_settings(t, &want);
	assert_memory_equal(&t->f.snap.settings, &want, sizeof(want));
	/* announced at once */
	sync_signals(t);
	assert_int_equal(t->f.n_sig, 1);
	assert_string_equal(t->f.sig[0].member, "PropertiesChanged");
	assert_string_equal(t->f.sig[0].path, settings_path);
	assert_string_equal(t->f.sig[0].names, ",UvTripMv,");
}

/* A refused change returns its error and leaves every value as it was. */
static void refused(struct t *t, sd_bus_message *r, const char *error, const char *msg_part)
{
	struct bms_settings def;

	settings_default(&def);
	expect_error(r, error, msg_part);
	assert_memory_equal(&t->f.snap.settings, &def, sizeof(def));
	check_settings(t, &def);
}

static void settings1_set_refused(void **state)
{
	struct t *t = *state;

	/* out of its static bounds, both sides */
	refused(t, set_prop(t, "UvTripMv", "i", 2599), "org.smallbms.Error.InvalidSetting",
	        "uv_trip_mv=2599");
	refused(t, set_prop(t, "UvTripMv", "i", 2599), "org.smallbms.Error.InvalidSetting", "2600");
	refused(t, set_prop(t, "UvTripMv", "i", 3001), "org.smallbms.Error.InvalidSetting",
	        "uv_trip_mv=3001");
	/* an ordering rule: the release at least trip + 200 (2800 + 200) */
	refused(t, set_prop(t, "UvReleaseMv", "i", 2999), "org.smallbms.Error.InvalidSetting",
	        "uv_release_mv=2999");
	/* the wrong type */
	refused(t, set_prop(t, "UvTripMv", "s", "2900"), SD_BUS_ERROR_INVALID_ARGS, NULL);
	refused(t, set_prop(t, "UvTripMv", "u", 2900u), SD_BUS_ERROR_INVALID_ARGS, NULL);
	/* no such property */
	refused(t, set_prop(t, "NoSuchSettingMv", "i", 1), SD_BUS_ERROR_UNKNOWN_PROPERTY, NULL);
	/* the action fails to save: nothing changed */
	t->f.result = -EIO;
	refused(t, set_prop(t, "UvTripMv", "i", 2900), "org.smallbms.Error.SaveFailed", "forced");
	t->f.result = 0;
	/* exactly at the bounds is accepted */
	expect_ok(set_prop(t, "UvTripMv", "i", 2600));
	expect_ok(set_prop(t, "UvReleaseMv", "i", 2800));
	assert_int_equal(get_i(t, settings_path, settings_iface, "UvReleaseMv"), 2800);
}

static sd_bus_message *set_many(struct t *t, unsigned n, ...)
{
	va_list ap;
	sd_bus_message *m = new_call(t, settings_path, settings_iface, "SetMany");

	assert_true(sd_bus_message_open_container(m, 'a', "{si}") >= 0);
	va_start(ap, n);
	for (unsigned i = 0; i < n; i++) {
		const char *name = va_arg(ap, const char *);
		int32_t v = va_arg(ap, int32_t);
		assert_true(sd_bus_message_append(m, "{si}", name, v) >= 0);
	}
	va_end(ap);
	assert_true(sd_bus_message_close_container(m) >= 0);
	return call_msg(t, m);
}

static void settings1_set_many(void **state)
{
	struct t *t = *state;
	struct bms_settings want;

	refused(t, set_many(t, 2, "uv_trip_mv", 2700, "no_such_mv", 1),
	        "org.smallbms.Error.UnknownSetting", "no_such_mv");
	refused(t, set_many(t, 2, "uv_trip_mv", 2700, "uv_trip_mv", 2750),
	        "org.smallbms.Error.InvalidSetting", "uv_trip_mv");
	refused(t, set_many(t, 2, "uv_trip_mv", 2700, "ov_trip_mv", 3801),
	        "org.smallbms.Error.InvalidSetting", "ov_trip_mv=3801");
	/* ordering against a value changed in the same call */
	refused(t, set_many(t, 2, "uv_trip_mv", 3000, "uv_release_mv", 3100),
	        "org.smallbms.Error.InvalidSetting", "uv_release_mv=3100");
	/* wrong type of the argument */
	sd_bus_message *m = new_call(t, settings_path, settings_iface, "SetMany");
	assert_true(sd_bus_message_append(m, "a{ss}", 1, "uv_trip_mv", "2700") >= 0);
	refused(t, call_msg(t, m), SD_BUS_ERROR_INVALID_ARGS, NULL);

	/* together, what alone breaks an ordering rule */
	refused(t, set_many(t, 1, "uv_release_mv", 2900), "org.smallbms.Error.InvalidSetting",
	        "uv_release_mv=2900");
	clear_signals(t);
	expect_ok(set_many(t, 2, "uv_trip_mv", 2700, "uv_release_mv", 2900));
	settings_default(&want);
	want.protection.uv_trip_mv = 2700;
	want.protection.uv_release_mv = 2900;
	check_settings(t, &want);
	sync_signals(t);
	assert_int_equal(t->f.n_sig, 1);
	assert_string_equal(t->f.sig[0].names, ",UvTripMv,UvReleaseMv,");
	/* an empty change is no change */
	expect_ok(set_many(t, 0));
	check_settings(t, &want);
}

static void settings1_resets(void **state)
{
	struct t *t = *state;
	struct bms_settings want;

	expect_ok(set_many(t, 2, "charged_detect_s", 600, "ov_delay_ms", 2000));
	expect_ok(call_msg(t, new_call(t, settings_path, settings_iface, "ResetToDefaults")));
	assert_int_equal(t->f.calls_reset_defaults, 1);
	settings_default(&want);
	want.protection.ov_delay_ms = 2000; /* not one of the five */
	check_settings(t, &want);
	expect_ok(call_msg(t, new_call(t, settings_path, settings_iface, "ResetAll")));
	settings_default(&want);
	check_settings(t, &want);
	t->f.result = -EIO;
	expect_error(call_msg(t, new_call(t, settings_path, settings_iface, "ResetAll")),
	             "org.smallbms.Error.SaveFailed", "forced");
	t->f.result = 0;
}

/* ---- methods ---- */

static sd_bus_message *set_soc(struct t *t, double pct)
{
	sd_bus_message *m = new_call(t, "/org/smallbms", "org.smallbms.Bms1", "SetSoc");
	assert_true(sd_bus_message_append(m, "d", pct) >= 0);
	return call_msg(t, m);
}

static sd_bus_message *identify(struct t *t, uint32_t addr)
{
	sd_bus_message *m = new_call(t, "/org/smallbms", "org.smallbms.Bms1", "Identify");
	assert_true(sd_bus_message_append(m, "u", addr) >= 0);
	return call_msg(t, m);
}

static void bms1_methods(void **state)
{
	struct t *t = *state;
	struct fake *f = &t->f;

	expect_ok(set_soc(t, 55.55));
	assert_int_equal(f->calls_set_soc, 1);
	assert_int_equal(f->last_soc, 5555);
	expect_ok(set_soc(t, 0));
	assert_int_equal(f->last_soc, 0);
	expect_ok(set_soc(t, 100));
	assert_int_equal(f->last_soc, 10000);
	assert_int_equal(f->calls_set_soc, 3);
	expect_error(set_soc(t, 100.001), "org.smallbms.Error.InvalidValue", "100");
	expect_error(set_soc(t, 101), "org.smallbms.Error.InvalidValue", "percent=101");
	expect_error(set_soc(t, -0.01), "org.smallbms.Error.InvalidValue", "percent=-0.01");
	expect_error(set_soc(t, NAN), "org.smallbms.Error.InvalidValue", "percent=");
	assert_int_equal(f->calls_set_soc, 3);

	expect_ok(call_msg(t, new_call(t, "/org/smallbms", "org.smallbms.Bms1", "Synchronise")));
	assert_int_equal(f->calls_sync, 1);
	expect_ok(call_msg(t, new_call(t, "/org/smallbms", "org.smallbms.Bms1", "AcceptBank")));
	assert_int_equal(f->calls_accept, 1);

	expect_ok(identify(t, 2));
	assert_int_equal(f->last_identify, 2);
	expect_error(identify(t, 3), "org.smallbms.Error.NoSuchBattery", "3");
	expect_error(identify(t, 0), "org.smallbms.Error.NoSuchBattery", NULL);
	assert_int_equal(f->calls_identify, 1);

	/* what the actions say maps to the contract's errors */
	const struct {
		int r;
		const char *name;
	} map[] = {
	        {-EBUSY, "org.smallbms.Error.Busy"},
	        {-ENODEV, "org.smallbms.Error.NotAvailable"},
	        {-EIO, "org.smallbms.Error.SaveFailed"},
	        {-ENOENT, "org.smallbms.Error.NoSuchBattery"},
	};
	for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		f->result = map[i].r;
		expect_error(identify(t, 1), map[i].name, "forced");
	}
	f->result = -EBUSY;
	expect_error(call_msg(t, new_call(t, "/org/smallbms", "org.smallbms.Bms1", "Synchronise")),
	             "org.smallbms.Error.Busy", "forced");
	f->result = -ENODEV;
	expect_error(call_msg(t, new_call(t, "/org/smallbms", "org.smallbms.Bms1", "AcceptBank")),
	             "org.smallbms.Error.NotAvailable", "forced");
	f->result = -EIO;
	expect_error(set_soc(t, 50), "org.smallbms.Error.SaveFailed", "forced");
	f->result = 0;
}

static void battery1_and_history1_methods(void **state)
{
	struct t *t = *state;
	struct fake *f = &t->f;

	expect_ok(call_msg(
	        t, new_call(t, "/org/smallbms/battery/2", "org.smallbms.Battery1", "Identify")));
	assert_int_equal(f->last_identify, 2);
	f->result = -EBUSY;
	expect_error(call_msg(t, new_call(t, "/org/smallbms/battery/1", "org.smallbms.Battery1",
	                                  "Identify")),
	             "org.smallbms.Error.Busy", "forced");
	f->result = 0;
	assert_int_equal(f->calls_identify, 2);
	expect_ok(call_msg(t,
	                   new_call(t, "/org/smallbms/history", "org.smallbms.History1", "Reset")));
	assert_int_equal(f->calls_reset_history, 1);
	f->result = -EIO;
	expect_error(
	        call_msg(t, new_call(t, "/org/smallbms/history", "org.smallbms.History1", "Reset")),
	        "org.smallbms.Error.SaveFailed", "forced");
	f->result = 0;
}

/* ---- ObjectManager ---- */

static void managed_objects(struct t *t, char *out, size_t len)
{
	sd_bus_message *r =
	        call_msg(t, new_call(t, "/org/smallbms", "org.freedesktop.DBus.ObjectManager",
	                             "GetManagedObjects"));
	const char *path;

	snprintf(out, len, ",");
	assert_false(sd_bus_message_is_method_error(r, NULL));
	assert_true(sd_bus_message_enter_container(r, 'a', "{oa{sa{sv}}}") > 0);
	while (sd_bus_message_enter_container(r, 'e', "oa{sa{sv}}") > 0) {
		assert_int_equal(sd_bus_message_read(r, "o", &path), 1);
		strncat(out, path, len - strlen(out) - 1);
		strncat(out, ",", len - strlen(out) - 1);
		assert_true(sd_bus_message_skip(r, "a{sa{sv}}") >= 0);
		assert_true(sd_bus_message_exit_container(r) >= 0);
	}
	sd_bus_message_unref(r);
}

static void object_manager(void **state)
{
	struct t *t = *state;
	struct fake *f = &t->f;
	char objs[1024];

	managed_objects(t, objs, sizeof(objs));
	assert_string_equal(objs, ",/org/smallbms/battery/1,/org/smallbms/battery/2,"
	                          "/org/smallbms/history,/org/smallbms/settings,");

	/* a third battery joins */
	clear_signals(t);
	f->snap.n_batteries = 3;
	fill_battery(&f->snap.bat[2], 3, true);
	republish(f);
	sync_signals(t);
	unsigned added = 0;
	for (unsigned i = 0; i < f->n_sig; i++)
		if (strcmp(f->sig[i].member, "InterfacesAdded") == 0) {
			added++;
			assert_string_equal(f->sig[i].path, "/org/smallbms/battery/3");
			assert_string_equal(f->sig[i].iface, "org.smallbms.Battery1");
			assert_non_null(strstr(f->sig[i].names, ",Serial,"));
			assert_non_null(strstr(f->sig[i].names, ",CellVoltagesMv,"));
		}
	assert_int_equal(added, 1);
	managed_objects(t, objs, sizeof(objs));
	assert_non_null(strstr(objs, ",/org/smallbms/battery/3,"));

	/* two leave */
	clear_signals(t);
	f->snap.n_batteries = 1;
	republish(f);
	sync_signals(t);
	assert_int_equal(f->n_sig, 2);
	assert_string_equal(f->sig[0].member, "InterfacesRemoved");
	assert_string_equal(f->sig[0].path, "/org/smallbms/battery/2");
	assert_string_equal(f->sig[0].iface, "org.smallbms.Battery1");
	assert_string_equal(f->sig[1].member, "InterfacesRemoved");
	assert_string_equal(f->sig[1].path, "/org/smallbms/battery/3");
	managed_objects(t, objs, sizeof(objs));
	assert_string_equal(objs, ",/org/smallbms/battery/1,/org/smallbms/history,"
	                          "/org/smallbms/settings,");

	/* another battery at the same position: removed, then added */
	clear_signals(t);
	snprintf(f->snap.bat[0].info.serial, sizeof(f->snap.bat[0].info.serial), "OTHER1");
	republish(f);
	sync_signals(t);
	assert_int_equal(f->n_sig, 2);
	assert_string_equal(f->sig[0].member, "InterfacesRemoved");
	assert_string_equal(f->sig[0].path, "/org/smallbms/battery/1");
	assert_string_equal(f->sig[1].member, "InterfacesAdded");
	assert_string_equal(f->sig[1].path, "/org/smallbms/battery/1");

	/* nothing changed: nothing said */
	clear_signals(t);
	republish(f);
	sync_signals(t);
	assert_int_equal(f->n_sig, 0);
}

/* ---- PropertiesChanged ---- */

static const struct signal_rec *changed_of(struct t *t, const char *path)
{
	const struct signal_rec *found = NULL;

	for (unsigned i = 0; i < t->f.n_sig; i++)
		if (strcmp(t->f.sig[i].member, "PropertiesChanged") == 0 &&
		    strcmp(t->f.sig[i].path, path) == 0) {
			assert_null(found); /* one per object and update */
			found = &t->f.sig[i];
		}
	return found;
}

/* One update at mono us `at`; the PropertiesChanged of path, or NULL. */
static const struct signal_rec *update_at(struct t *t, uint64_t at, const char *path)
{
	clear_signals(t);
	t->f.snap.mono_us = at;
	t->f.snap.wall_us += 1;
	republish(&t->f);
	sync_signals(t);
	return changed_of(t, path);
}

static void changed_at_once(void **state)
{
	struct t *t = *state;
	struct svc_snapshot *s = &t->f.snap;
	const struct signal_rec *r;

	/* outputs, codes, LEDs, remote, topology, bus state: at once, every time */
	s->prot.atd_closed = true;
	r = update_at(t, T0 + 1000, "/org/smallbms");
	assert_non_null(r);
	assert_string_equal(r->names, ",LoadDisconnect,");
	s->prot.codes |= BMS_CODE_BIT(BMS_E7);
	s->prot.red = LED_SOLID;
	r = update_at(t, T0 + 2000, "/org/smallbms");
	assert_non_null(r);
	assert_string_equal(r->names, ",Codes,RedLed,");
	/* W3's text names the latched rules: another latched rule is a change */
	s->prot.codes |= BMS_CODE_BIT(BMS_W3);
	s->prot.latched_rules = UINT32_C(1) << PROT_R_OV;
	r = update_at(t, T0 + 2100, "/org/smallbms");
	assert_non_null(r);
	assert_string_equal(r->names, ",Codes,");
	s->prot.latched_rules |= UINT32_C(1) << PROT_R_CHG_HOT;
	r = update_at(t, T0 + 2200, "/org/smallbms");
	assert_non_null(r);
	assert_string_equal(r->names, ",Codes,");
	s->remote_on = false;
	s->bus.chain_open = true;
	s->topo_err = BANK_ERR_NO_FIT;
	r = update_at(t, T0 + 3000, "/org/smallbms");
	assert_non_null(r);
	/* Batteries stays: the two enumerated are still known (issue 13 item 13) */
	assert_string_equal(r->names, ",RemoteOn,TopologyValid,TopologyError,Series,"
	                              "Parallel,BatteryType,CellsPerBattery,CellsInSeries,"
	                              "CapacityAh,NominalVoltageMv,BusChainOpen,");
	/* a new reason of an open output counts; the seconds in the state do not */
	s->prot.report[PROT_OUT_ATD].holds[0].reading.value = 2780;
	r = update_at(t, T0 + 4000, "/org/smallbms");
	assert_non_null(r);
	assert_string_equal(r->names, ",LoadDisconnect,");
	r = update_at(t, T0 + 9000000, "/org/smallbms");
	assert_null(r);
	/* a battery's flags at once */
	s->bat[0].status.flags = M8_ST_FAULT;
	s->bat[1].lost = false;
	r = update_at(t, T0 + 9001000, "/org/smallbms/battery/1");
	assert_non_null(r);
	assert_string_equal(r->names, ",Flags,");
	r = changed_of(t, "/org/smallbms/battery/2");
	assert_non_null(r);
	assert_string_equal(r->names, ",Lost,");
}

static void measurements_rate_limited(void **state)
{
	struct t *t = *state;
	struct svc_snapshot *s = &t->f.snap;
	const struct signal_rec *r;
	const uint64_t every = BMS_DBUS_MEASURE_EVERY_US;

	/* the start announced every value at T0: the next change waits, and
	 * goes out exactly at the limit, not one tick before */
	s->bank_mv = 13300;
	assert_null(update_at(t, T0 + every - 1, "/org/smallbms"));
	r = update_at(t, T0 + every, "/org/smallbms");
	assert_non_null(r);
	assert_string_equal(r->names, ",VoltageMv,");
	const uint64_t t1 = T0 + every;
	s->bank_mv = 13310;
	s->current_ma = -1400;
	assert_null(update_at(t, t1 + every / 5, "/org/smallbms"));
	s->current_ma = -1300;
	assert_null(update_at(t, t1 + every - 1, "/org/smallbms"));
	/* outputs meanwhile are not held back, and carry no measurement */
	s->prot.atc_closed = false;
	r = update_at(t, t1 + every - 1, "/org/smallbms");
	assert_non_null(r);
	assert_string_equal(r->names, ",ChargeDisconnect,");
	r = update_at(t, t1 + every, "/org/smallbms");
	assert_non_null(r);
	assert_string_equal(r->names, ",VoltageMv,CurrentMa,");
	/* a change back to what was last announced is no change */
	s->current_ma = -1400;
	assert_null(update_at(t, t1 + every + 1000, "/org/smallbms"));
	s->current_ma = -1300;
	assert_null(update_at(t, t1 + 2 * every, "/org/smallbms"));

	/* each battery is limited on its own, a pending change goes out later */
	s->bat[0].status.voltage_mv = 13250;
	r = update_at(t, T0 + 10000000, "/org/smallbms/battery/1");
	assert_non_null(r);
	assert_string_equal(r->names, ",VoltageMv,");
	s->bat[0].status.cell_mv[0] = 3290;
	s->bat[1].stats.requests++;
	assert_null(update_at(t, T0 + 10000000 + every - 1, "/org/smallbms/battery/1"));
	r = changed_of(t, "/org/smallbms/battery/2");
	assert_non_null(r);
	assert_string_equal(r->names, ",Requests,");
	r = update_at(t, T0 + 10000000 + every, "/org/smallbms/battery/1");
	assert_non_null(r);
	assert_string_equal(r->names, ",CellVoltagesMv,");

	/* the history and the bus counters are measurements too */
	s->history.drawn_ah += 1.0;
	s->bus.cycles++;
	r = update_at(t, T0 + 20000000, "/org/smallbms/history");
	assert_non_null(r);
	assert_string_equal(r->names, ",TotalDrawnMah,");
	r = changed_of(t, "/org/smallbms");
	assert_non_null(r);
	assert_string_equal(r->names, ",BusCycles,");
}

/* ---- durable replies (issue 15) ---- */

static void send_async(struct t *t, sd_bus_message *m, struct result *res)
{
	assert_true(sd_bus_call_async(t->client, NULL, m, on_reply, res, 5000000) >= 0);
	sd_bus_message_unref(m);
}

static void spin(struct t *t, int rounds)
{
	for (int i = 0; i < rounds; i++)
		assert_true(sd_event_run(t->e, 2000) >= 0);
}

static sd_bus_message *set_many_msg(struct t *t, const char *name, int32_t v)
{
	sd_bus_message *m = new_call(t, settings_path, settings_iface, "SetMany");

	assert_true(sd_bus_message_append(m, "a{si}", 1, name, v) >= 0);
	return m;
}

static sd_bus_message *set_prop_msg(struct t *t, const char *name, int32_t v)
{
	sd_bus_message *m = new_call(t, settings_path, "org.freedesktop.DBus.Properties", "Set");

	assert_true(sd_bus_message_append(m, "ssv", settings_iface, name, "i", v) >= 0);
	return m;
}

static void durable_replies(void **state)
{
	struct t *t = *state;
	struct result a = {0}, b = {0}, c = {0};
	char msg[512];

	bms_dbus_free(t->f.b);
	assert_int_equal(bms_dbus_new(&t->f.b, t->e, t->server, &fake_async_ops, &t->f), 0);
	bms_dbus_update(t->f.b, &t->f.snap);

	/* SetMany and a property Set: in effect, unanswered until saved */
	send_async(t, set_many_msg(t, "uv_trip_mv", 2700), &a);
	send_async(t, set_prop_msg(t, "UvDelayMs", 3000), &b);
	spin(t, 50);
	assert_false(a.done);
	assert_false(b.done);
	assert_int_equal(t->f.ticket, 2);
	assert_int_equal(get_i(t, settings_path, settings_iface, "UvTripMv"), 2700);
	bms_dbus_saved(t->f.b, 1, 0, "");
	spin(t, 50);
	assert_true(a.done);
	assert_false(b.done);
	expect_ok(a.reply);
	bms_dbus_saved(t->f.b, 2, 0, "");
	spin(t, 50);
	assert_true(b.done);
	expect_ok(b.reply);

	/* a failed save: SaveFailed, naming the failed step */
	send_async(t, set_many_msg(t, "uv_trip_mv", 2750), &c);
	spin(t, 20);
	assert_false(c.done);
	bms_dbus_saved(t->f.b, 3, -EIO, "syncing state.1.tmp: Input/output error");
	spin(t, 50);
	assert_true(c.done);
	assert_string_equal(error_of(c.reply, msg, sizeof(msg)), "org.smallbms.Error.SaveFailed");
	assert_non_null(strstr(msg, "syncing state.1.tmp"));
	sd_bus_message_unref(c.reply);

	/* a flood: 64 waiting, the next refused as busy before anything runs */
	struct result *many = calloc(65, sizeof(*many));
	assert_non_null(many);
	for (int i = 0; i < 65; i++)
		send_async(t, set_many_msg(t, "uv_delay_ms", 2000 + i), &many[i]);
	spin(t, 400);
	for (int i = 0; i < 64; i++)
		assert_false(many[i].done);
	assert_true(many[64].done);
	assert_string_equal(error_of(many[64].reply, msg, sizeof(msg)), "org.smallbms.Error.Busy");
	sd_bus_message_unref(many[64].reply);
	assert_int_equal(t->f.ticket, 3 + 64);
	bms_dbus_saved(t->f.b, t->f.ticket, 0, "");
	spin(t, 400);
	for (int i = 0; i < 64; i++) {
		assert_true(many[i].done);
		expect_ok(many[i].reply);
	}
	free(many);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(bms1_properties, setup, teardown),
	        cmocka_unit_test_setup_teardown(bms1_unknowns, setup, teardown),
	        cmocka_unit_test_setup_teardown(bms1_topology_error_shows_known, setup, teardown),
	        cmocka_unit_test_setup_teardown(bms1_wiring, setup, teardown),
	        cmocka_unit_test_setup_teardown(history1_properties, setup, teardown),
	        cmocka_unit_test_setup_teardown(battery1_properties, setup, teardown),
	        cmocka_unit_test_setup_teardown(settings1_properties, setup, teardown),
	        cmocka_unit_test_setup_teardown(settings1_list, setup, teardown),
	        cmocka_unit_test_setup_teardown(settings1_set, setup, teardown),
	        cmocka_unit_test_setup_teardown(settings1_set_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(settings1_set_many, setup, teardown),
	        cmocka_unit_test_setup_teardown(settings1_resets, setup, teardown),
	        cmocka_unit_test_setup_teardown(bms1_methods, setup, teardown),
	        cmocka_unit_test_setup_teardown(battery1_and_history1_methods, setup, teardown),
	        cmocka_unit_test_setup_teardown(object_manager, setup, teardown),
	        cmocka_unit_test_setup_teardown(changed_at_once, setup, teardown),
	        cmocka_unit_test_setup_teardown(measurements_rate_limited, setup, teardown),
	        cmocka_unit_test_setup_teardown(durable_replies, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
