/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The D-Bus objects in-process (a socketpair, one sd-event loop): property
 * Get latency p50/p99, GetManagedObjects with 50 batteries, and the
 * PropertiesChanged traffic of a 50-battery snapshot that changes every
 * 100 ms (simulated time: mono_us advances, no sleeping). Prints figures,
 * asserts nothing.   bench-dbus [GETS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "dbus/bms_dbus.h"

#define OM_CALLS  200
#define UPDATES   600 /* 60 s of snapshots every 100 ms */
#define BATTERIES 50
#define TICK_US   100000ull

struct bench {
	sd_event *e;
	sd_bus *server, *client;
	struct bms_dbus *b;
	struct svc_snapshot snap;
	uint64_t signals;
	bool done;
	sd_bus_message *reply;
};

static int nop_settings(void *u, const struct setting_change *c, size_t n, char *e, size_t l)
{
	return -EBUSY;
}

static int nop(void *u, char *e, size_t l)
{
	return -EBUSY;
}

static int nop_soc(void *u, int32_t v, char *e, size_t l)
{
	return -EBUSY;
}

static int nop_identify(void *u, unsigned a, char *e, size_t l)
{
	return -EBUSY;
}

static const struct svc_actions ops = {
        .set_settings = nop_settings,
        .reset_defaults = nop,
        .reset_all = nop,
        .reset_history = nop,
        .set_soc = nop_soc,
        .synchronise = nop,
        .accept_bank = nop,
        .identify = nop_identify,
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	((struct bench *)userdata)->signals++;
	return 0;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bench *b = userdata;

	b->reply = sd_bus_message_ref(m);
	b->done = true;
	return 0;
}

static int call(struct bench *b, const char *path, const char *iface, const char *member,
                const char *sig, const char *a1, const char *a2)
{
	sd_bus_message *m = NULL;
	int r = sd_bus_message_new_method_call(b->client, &m, NULL, path, iface, member);

	if (r >= 0 && sig)
		r = sd_bus_message_append(m, sig, a1, a2);
	if (r >= 0)
		r = sd_bus_call_async(b->client, NULL, m, on_reply, b, 0);
	sd_bus_message_unref(m);
	b->done = false;
	while (r >= 0 && !b->done)
		r = sd_event_run(b->e, 1000000);
	if (r < 0)
		return r;
	r = sd_bus_message_is_method_error(b->reply, NULL) ? -EIO : 0;
	b->reply = sd_bus_message_unref(b->reply);
	return r;
}

static void fill(struct svc_snapshot *s, uint64_t mono, unsigned step)
{
	s->mono_us = mono;
	s->wall_us = 1700000000000000ll + (int64_t)mono;
	s->measure_valid = true;
	s->bank_mv = 13200 + (int32_t)(step % 50);
	s->current_ma = -2000 - (int32_t)(step % 7);
	s->power_mw = (int64_t)s->bank_mv * s->current_ma / 1000;
	s->history.drawn_ah = step * 0.001;
	s->bus.count = BATTERIES;
	s->bus.cycles = step;
	s->n_batteries = BATTERIES;
	for (unsigned i = 0; i < BATTERIES; i++) {
		struct svc_battery *b = &s->bat[i];

		b->addr = i + 1;
		snprintf(b->info.serial, sizeof(b->info.serial), "BENCH%04u", i + 1);
		b->info.type = 1;
		b->info.cells = 4;
		b->info.sensors = 2;
		b->has_status = true;
		b->status.n_cells = 4;
		b->status.n_temps = 2;
		b->status.voltage_mv = (uint16_t)(13200 + (step + i) % 30);
		for (unsigned c = 0; c < 4; c++)
			b->status.cell_mv[c] = (uint16_t)(3300 + (step + c) % 10);
		b->status_us = mono;
		b->stats.requests = step;
		b->fresh = true;
	}
}

static int setup(struct bench *b)
{
	int fd[2], r;
	sd_id128_t id;

	if ((r = sd_event_new(&b->e)) < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fd) < 0)
		return -errno;
	if ((r = sd_id128_randomize(&id)) < 0 || (r = sd_bus_new(&b->server)) < 0 ||
	    (r = sd_bus_set_fd(b->server, fd[0], fd[0])) < 0 ||
	    (r = sd_bus_set_server(b->server, 1, id)) < 0 ||
	    (r = sd_bus_set_anonymous(b->server, 1)) < 0 || (r = sd_bus_start(b->server)) < 0 ||
	    (r = sd_bus_new(&b->client)) < 0 || (r = sd_bus_set_fd(b->client, fd[1], fd[1])) < 0 ||
	    (r = sd_bus_set_anonymous(b->client, 1)) < 0 || (r = sd_bus_start(b->client)) < 0 ||
	    (r = sd_bus_attach_event(b->client, b->e, 0)) < 0 ||
	    (r = sd_bus_add_match(b->client, NULL, "type='signal'", on_signal, b)) < 0)
		return r;
	settings_default(&b->snap.settings);
	history_reset(&b->snap.history);
	fill(&b->snap, 1000000000ull, 0);
	if ((r = bms_dbus_new(&b->b, b->e, b->server, &ops, NULL)) < 0)
		return r;
	bms_dbus_update(b->b, &b->snap);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned gets = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000;
	struct bench *b = calloc(1, sizeof(*b));
	uint64_t *t = calloc(gets > OM_CALLS ? gets : OM_CALLS, sizeof(uint64_t));
	int r, size = 0;

	if (!b || !t || gets == 0)
		return 1;
	if ((r = setup(b)) < 0) {
		fprintf(stderr, "bench-dbus: setup: %s\n", strerror(-r));
		return 1;
	}

	for (unsigned i = 0; i < gets; i++) {
		uint64_t t0 = now_ns();
		r = call(b, "/org/smallbms", "org.freedesktop.DBus.Properties", "Get", "ss",
		         "org.smallbms.Bms1", "VoltageMv");
		t[i] = now_ns() - t0;
		if (r < 0) {
			fprintf(stderr, "bench-dbus: Get: %s\n", strerror(-r));
			return 1;
		}
	}
	qsort(t, gets, sizeof(t[0]), cmp_u64);
	printf("property Get (Bms1.VoltageMv), %u calls: p50 %.1f us, p99 %.1f us\n", gets,
	       t[gets / 2] / 1e3, t[gets * 99 / 100] / 1e3);

	for (unsigned i = 0; i < OM_CALLS; i++) {
		uint64_t t0 = now_ns();
		size = call(b, "/org/smallbms", "org.freedesktop.DBus.ObjectManager",
		            "GetManagedObjects", NULL, NULL, NULL);
		t[i] = now_ns() - t0;
		if (size < 0) {
			fprintf(stderr, "bench-dbus: GetManagedObjects: %s\n", strerror(-size));
			return 1;
		}
	}
	qsort(t, OM_CALLS, sizeof(t[0]), cmp_u64);
	printf("GetManagedObjects, %d batteries, %d calls: p50 %.2f ms, p99 %.2f ms\n", BATTERIES,
	       OM_CALLS, t[OM_CALLS / 2] / 1e6, t[OM_CALLS * 99 / 100] / 1e6);

	/* drain, then count the signals of UPDATES snapshots 100 ms apart */
	call(b, "/org/smallbms", "org.freedesktop.DBus.Peer", "Ping", NULL, NULL, NULL);
	b->signals = 0;
	uint64_t spent = 0, worst = 0;
	for (unsigned step = 1; step <= UPDATES; step++) {
		fill(&b->snap, 1000000000ull + step * TICK_US, step);
		uint64_t t0 = now_ns();
		bms_dbus_update(b->b, &b->snap);
		uint64_t dt = now_ns() - t0;
		spent += dt;
		worst = dt > worst ? dt : worst;
		while (sd_event_run(b->e, 0) > 0)
			;
	}
	call(b, "/org/smallbms", "org.freedesktop.DBus.Peer", "Ping", NULL, NULL, NULL);
	double secs = UPDATES * TICK_US / 1e6;
	printf("PropertiesChanged, %d batteries changing every 100 ms for %.0f s: %llu signals, "
	       "%.1f per second (limit %.0f: 2 Hz x %d objects)\n",
	       BATTERIES, secs, (unsigned long long)b->signals, b->signals / secs,
	       2.0 * (BATTERIES + 2), BATTERIES + 2);
	printf("bms_dbus_update: mean %.1f us, worst %.1f us per snapshot\n", spent / 1e3 / UPDATES,
	       worst / 1e3);

	bms_dbus_free(b->b);
	sd_bus_detach_event(b->client);
	sd_bus_close_unref(b->client);
	sd_bus_close_unref(b->server);
	sd_event_unref(b->e);
	free(b);
	free(t);
	return 0;
}
