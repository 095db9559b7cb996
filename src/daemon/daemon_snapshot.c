/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the front ends see: the snapshot of service/snapshot.h filled from
 * the daemon's parts after every evaluation, and the D-Bus connection that
 * shows it. The bus is optional: when the system bus is not there the
 * daemon says so once and tries again every DAEMON_RETRY_US, and nothing
 * else waits for it.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <syslog.h>
#include <time.h>

#include "daemon/daemon_private.h"

#ifndef SMALLBMS_VERSION
#define SMALLBMS_VERSION "unknown"
#endif

static int64_t wall_now_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void daemon_snapshot_fill(struct daemon *d, uint64_t now, struct svc_snapshot *s)
{
	const struct bank_feed_out *fo = &d->fout;
	int64_t tr = 0;

	s->mono_us = now;
	s->wall_us = wall_now_us();
	s->generation++;

	s->soc_cpct = monitor_soc_cpct(&d->mon, &s->soc_known);
	s->consumed_ah = monitor_consumed_ah(&d->mon);
	s->time_remaining_known = monitor_time_remaining_s(&d->mon, now, &tr) >= 0;
	s->time_remaining_s = s->time_remaining_known ? tr : 0;
	s->measure_valid = fo->min.valid;
	s->bank_mv = (int32_t)fo->min.bank_mv;
	s->current_ma = fo->min.current_ma;
	s->power_mw = s->measure_valid ? (int64_t)s->bank_mv * s->current_ma / 1000 : 0;
	s->min_cell_mv = fo->min.min_cell_mv;
	s->max_cell_mv = fo->min.max_cell_mv;
	s->min_temp_dc = fo->min.min_temp_dc;
	s->max_temp_dc = fo->min.max_temp_dc;
	if (!d->have_pout) { /* before the first evaluation nothing was fed */
		s->min_cell_mv = s->max_cell_mv = M8_CELL_NA;
		s->min_temp_dc = s->max_temp_dc = M8_TEMP_NA;
	}
	s->balancer = monitor_balancer_status(&d->mon, s->wall_us / 1000000);
	s->history = d->mon.hist;
	s->soc_events = monitor_soc_events(&d->mon);

	s->have_protection = d->have_pout;
	if (d->have_pout)
		s->prot = d->pout;
	s->remote_on = d->have_pout && d->pout.remote_on;

	s->have_topology = fo->have_topology;
	s->topo = fo->topo;
	s->topo_err = fo->topo_err;
	s->stored_s = d->feed.have_identity ? d->feed.identity.s : 0;
	s->remote_wired = !d->remote_none;
	s->readback_wired = !d->readback_none;
	s->bank_changed = fo->pin.bank_changed;

	m8_master_bank(d->master, &s->bus);
	s->n_batteries = s->bus.count < SVC_MAX_BATTERIES ? s->bus.count : SVC_MAX_BATTERIES;
	for (unsigned a = 1; a <= s->n_batteries; a++) {
		const struct m8_battery *mb = m8_master_battery(d->master, a);
		struct svc_battery *b = &s->bat[a - 1];

		memset(b, 0, sizeof(*b));
		b->addr = a;
		if (!mb)
			continue;
		b->info = mb->info;
		b->has_status = mb->has_status;
		b->status = mb->status;
		b->status_us = mb->status_us;
		b->fresh = bank_feed_battery_fresh(&s->bus, mb,
		                                   m8_master_battery_fresh(d->master, a, now));
		b->lost = mb->lost;
		b->stats = mb->stats;
	}

	s->settings = d->rec.settings;
	s->bt = fo->pin.bt;

	const struct fw_updater *u = &d->fw.u;
	struct svc_firmware *f = &s->fw;

	memset(f, 0, sizeof(*f));
	f->have_job = d->fw.have_job;
	f->addr = u->addr;
	memcpy(f->serial, d->fw.serial, sizeof(f->serial));
	f->state = u->state;
	f->failure = u->failure;
	f->bytes_sent = u->acked;
	f->bytes_total = u->img.size;
	memcpy(f->from_version, u->old_version, 3);
	memcpy(f->to_version, u->img.version, 3);
	f->started_us = u->started_us;
	f->ended_us = u->ended_us;
	f->running = fw_updater_running(u);
	f->failed = u->failed;
	f->failed_addr = u->failed_addr;
	f->failed_since_us = u->failed_since_us;
	for (unsigned i = 0; i < fo->pin.n_batteries; i++)
		if (fo->pin.bat[i].fw_update && !(f->running && u->addr == i + 1)) {
			f->flagged_addr = i + 1;
			break;
		}
}

/* ---- the D-Bus connection ---- */

void daemon_publish(struct daemon *d, uint64_t now)
{
	if (!d->dbus && !d->mqtt)
		return;
	daemon_snapshot_fill(d, now, &d->snap);
	if (d->dbus) {
		bms_dbus_update(d->dbus, &d->snap);
		ble_update(d->ble, &d->snap);
	}
	mqtt_update(d->mqtt, &d->snap, now);
}

/* ---- MQTT ---- */

static void mqtt_log(void *userdata, int prio, const char *msg)
{
	struct daemon *d = userdata;

	events_log(&d->ev, EV_DEVICE, prio, "mqtt", "%s", msg);
}

void daemon_mqtt_start(struct daemon *d)
{
	if (!d->cfg.mqtt.enabled)
		return;
	int r = mqtt_new(&d->mqtt, d->event, &d->cfg.mqtt, SMALLBMS_VERSION, mqtt_log, d);
	if (r < 0) {
		d->mqtt = NULL;
		events_log(&d->ev, EV_DEVICE, LOG_ERR, "mqtt",
		           "the MQTT publisher cannot start: %s; the BMS runs without it",
		           strerror(-r));
		return;
	}
	events_log(&d->ev, EV_DEVICE, LOG_INFO, "mqtt", "publishing to %s as node %s",
	           d->cfg.mqtt.uri, mqtt_node_id(d->mqtt));
}

/* Bluetooth lives on the connection that owns org.smallbms (its
 * org.smallbms.Bluetooth1 object is part of the daemon's API). A damaged
 * Bluetooth store keeps Bluetooth off (no new key over it); the rest runs. */
static void ble_start(struct daemon *d)
{
	int r = ble_new(&d->ble, d->event, bms_dbus_bus(d->dbus), d->cfg.state_dir,
	                &daemon_actions_async, d);

	if (r >= 0) {
		d->ble_reported = false;
		return;
	}
	d->ble = NULL;
	if (!d->ble_reported)
		events_log(&d->ev, EV_DEVICE, LOG_ERR, "bluetooth",
		           "Bluetooth stays off: %s (the store in %s/bluetooth is damaged; remove "
		           "it to pair and advertise with a new key)",
		           strerror(-r), d->cfg.state_dir);
	d->ble_reported = true;
}

void daemon_dbus_poll(struct daemon *d, uint64_t now)
{
	int r;

	if (d->dbus && !bms_dbus_alive(d->dbus)) {
		r = bms_dbus_error(d->dbus);
		if (!d->dbus_reported)
			events_log(&d->ev, EV_DEVICE, LOG_WARNING, "dbus",
			           "lost the system bus or the name %s: %s; retrying every 5 s",
			           BMS_DBUS_NAME, strerror(-r));
		d->ble = ble_free(d->ble);
		d->dbus = bms_dbus_free(d->dbus);
		d->dbus_reported = true;
		d->dbus_retry_us = now + DAEMON_RETRY_US;
		return;
	}
	if (d->dbus) {
		if (d->dbus_reported && bms_dbus_named(d->dbus)) {
			events_log(&d->ev, EV_DEVICE, LOG_NOTICE, "dbus", "on the system bus as %s",
			           BMS_DBUS_NAME);
			d->dbus_reported = false;
		}
		return;
	}
	if (now < d->dbus_retry_us)
		return;
	r = bms_dbus_new(&d->dbus, d->event, NULL, &daemon_actions_async, d);
	if (r < 0) {
		d->dbus = NULL;
		d->dbus_retry_us = now + DAEMON_RETRY_US;
		if (!d->dbus_reported)
			events_log(&d->ev, EV_DEVICE, LOG_WARNING, "dbus",
			           "system bus not available (connecting and publishing %s): %s; "
			           "retrying every 5 s",
			           BMS_DBUS_PATH, strerror(-r));
		d->dbus_reported = true;
		return;
	}
	ble_start(d);
	daemon_publish(d, now);
}

/* A write finished: say how, and answer the front ends' callers whose
 * changes it made durable. */
static int on_saver_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct daemon *d = userdata;
	uint64_t done = 0;
	char why[SAVER_WHY_MAX] = "";
	int r = 0;

	saver_fd_clear(d->saver);
	daemon_save_check(d);
	saver_status(d->saver, &done, &r, why, sizeof(why));
	if (d->dbus)
		bms_dbus_saved(d->dbus, done, r, why);
	ble_saved(d->ble, done, r, why);
	daemon_poweroff_saved(d, done, r, why);
	return 0;
}

int daemon_saver_watch(struct daemon *d)
{
	if (!d->saver)
		return 0;
	int r = sd_event_add_io(d->event, &d->saver_io, saver_fd(d->saver), EPOLLIN, on_saver_done,
	                        d);
	if (r < 0)
		events_log(&d->ev, EV_LIFECYCLE, LOG_ERR, "error",
		           "watching the state writer thread: %s", strerror(-r));
	return r;
}
