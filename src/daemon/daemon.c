/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The loop: the protection step and what it tells (events, STATUS, READY),
 * the 100 ms tick (ADC, LEDs, heartbeat, watchdog), signals and setup. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "core/codes.h"
#include "daemon/daemon_private.h"
#include "daemon/gpio_adopt.h"
#include "daemon/notify.h"
#include "daemon/report.h"

/* ---- events from the protection's decision ---- */

static void log_output_change(struct daemon *d, const struct protection_output *o, bool old_atd,
                              bool old_atc, bool old_pre, bool first)
{
	char why[600];
	const struct {
		const char *name;
		bool now, before;
		enum protection_output_id id;
	} lines[] = {
	        {"load-disconnect", o->atd_closed, old_atd, PROT_OUT_ATD},
	        {"charge-disconnect", o->atc_closed, old_atc, PROT_OUT_ATC},
	};

	for (unsigned i = 0; i < ELEMENTSOF(lines); i++) {
		if (!first && lines[i].now == lines[i].before)
			continue;
		char event[64];

		snprintf(event, sizeof(event), "output %s %s", lines[i].name,
		         lines[i].now ? "closed" : "opened");
		if (lines[i].now) {
			events_log(&d->ev, EV_OUTPUT_CLOSED, LOG_NOTICE, event, NULL);
		} else {
			report_holds(&o->report[lines[i].id], why, sizeof(why));
			events_log(&d->ev, EV_OUTPUT_OPENED, LOG_WARNING, event, "%s", why);
		}
	}
	if (first ? o->prealarm_active : o->prealarm_active != old_pre) {
		if (o->prealarm_active) {
			report_holds(&o->report[PROT_OUT_PREALARM], why, sizeof(why));
			events_log(&d->ev, EV_PREALARM, LOG_WARNING, "pre-alarm on", "%s", why);
		} else {
			events_log(&d->ev, EV_PREALARM, LOG_NOTICE, "pre-alarm off", NULL);
		}
	}
}

/* A code that became active, or W3 with another rule latched. */
static void log_code_changes(struct daemon *d, uint32_t before, uint32_t latched_before,
                             const struct protection_output *o)
{
	uint32_t now_codes = o->codes;

	for (unsigned c = 0; c < BMS_CODE_COUNT; c++) {
		uint32_t bit = BMS_CODE_BIT(c);
		bool relatched = c == BMS_W3 && (now_codes & bit) && (before & bit) &&
		                 (o->latched_rules & ~latched_before);
		char ev[32], text[256];

		if ((before & bit) == (now_codes & bit) && !relatched)
			continue;
		if (now_codes & bit) {
			enum bms_code_class cls = bms_code_class(c);
			snprintf(ev, sizeof(ev), "%s %s",
			         cls == BMS_CLASS_ERROR   ? "error"
			         : cls == BMS_CLASS_ALARM ? "alarm"
			                                  : "warning",
			         bms_code_name(c));
			/* W3 names the chattering rules (docs/protection.md section 5). */
			if (protection_code_text(o, (enum bms_code)c, text, sizeof(text)) < 0)
				snprintf(text, sizeof(text), "%s", bms_code_summary(c));
			events_log(&d->ev, cls == BMS_CLASS_ERROR ? EV_ERROR_CODE : EV_CODE,
			           cls == BMS_CLASS_WARNING ? LOG_WARNING : LOG_ERR, ev, "%s",
			           text);
		} else {
			snprintf(ev, sizeof(ev), "cleared %s", bms_code_name(c));
			events_log(&d->ev, EV_CODE, LOG_NOTICE, ev, "%s", bms_code_summary(c));
		}
	}
}

static void send_status(struct daemon *d, uint64_t now)
{
	struct status_view v = {
	        .atd_closed = d->pout.atd_closed,
	        .atc_closed = d->pout.atc_closed,
	        .prealarm_active = d->pout.prealarm_active,
	        .soc_known = d->fout.pin.soc_known,
	        .soc_cpct = d->fout.pin.soc_cpct,
	        .bank_mv_valid = d->fout.shown_mv_valid,
	        .bank_mv = d->fout.shown_mv,
	        .current_valid = d->fout.pin.current_valid,
	        .current_ma = d->fout.pin.current_ma,
	        .codes = d->pout.codes,
	};

	if (status_format(&v, d->status, sizeof(d->status)) >= 0)
		notify_status(d->status);
	d->status_us = now;
}

/* ---- the step ---- */

static void arm_protection_timer(struct daemon *d)
{
	uint64_t t = protection_next_deadline_us(&d->prot);

	if (t == UINT64_MAX) {
		sd_event_source_set_enabled(d->prot_timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(d->prot_timer, t);
	sd_event_source_set_enabled(d->prot_timer, SD_EVENT_ONESHOT);
}

static void feed_bank(struct daemon *d, uint64_t now)
{
	struct bank_feed_in *in = &d->fin;
	bool adc_recent =
	        d->adc_open && d->adc_last_ok_us && now - d->adc_last_ok_us < DAEMON_ADC_HEALTHY_US;

	in->now_us = now;
	m8_master_bank(d->master, &in->bank);
	for (unsigned a = 1; a <= PROTECTION_MAX_BATTERIES; a++) {
		in->bat[a - 1] = a <= in->bank.count ? m8_master_battery(d->master, a) : NULL;
		in->fresh[a - 1] = in->bat[a - 1] && m8_master_battery_fresh(d->master, a, now);
	}
	in->adc_read = adc_recent;
	memcpy(in->adc, d->adc_rd, sizeof(in->adc));
	in->remote_none = d->remote_none;
	/* In a dry run nothing drives the charge output: the read-back cannot
	 * agree with the decision, so it raises no E7 (issue 13 item 17). */
	in->readback_none = d->readback_none || d->readback_dry_run;
	in->soc_cpct = monitor_soc_cpct(&d->mon, &in->soc_known);
	in->soc_events = monitor_soc_events(&d->mon);
	in->record_unreadable = d->record_unreadable;
	in->bt = ble_state(d->ble);
	in->active_codes = d->have_pout ? d->pout.codes : 0;
	bank_feed_update(&d->feed, in, &d->fout);
}

static void note_bank(struct daemon *d, uint64_t now)
{
	const struct bank_feed_out *fo = &d->fout;

	if (fo->identity_stored) {
		events_log(&d->ev, EV_BANK, LOG_NOTICE, "bank stored",
		           "%u batteries of type %u, %u Ah, %u in series, %u in parallel",
		           fo->topo.n, fo->topo.type, fo->topo.battery_capacity_ah, fo->topo.s,
		           fo->topo.p);
		daemon_save_state(d, now, "new bank");
	}
	if (fo->have_topology && (d->mon.capacity_ah != fo->topo.capacity_ah ||
	                          d->mon.series_cells != fo->topo.cells_in_series))
		monitor_set_bank(&d->mon, fo->topo.capacity_ah, fo->topo.cells_in_series);
	if (fo->pin.enumerated && fo->match != d->last_match) {
		if (fo->match == BANK_ID_CHANGED)
			events_log(&d->ev, EV_BANK, LOG_ERR, "bank changed",
			           "a remembered battery is missing or replaced (%u remembered, %u "
			           "found); accept the bank to continue",
			           d->feed.identity.n, fo->pin.n_batteries);
		else if (fo->match == BANK_ID_MORE)
			events_log(&d->ev, EV_BANK, LOG_WARNING, "bank changed",
			           "more batteries than remembered (%u remembered, %u found)",
			           d->feed.identity.n, fo->pin.n_batteries);
		else
			events_log(&d->ev, EV_BANK, LOG_NOTICE, "bank changed",
			           "the remembered bank is back");
		d->last_match = fo->match;
	}
	if (fo->pin.topology_bad && fo->topo_err != d->last_topo_err)
		events_log(&d->ev, EV_BANK, LOG_ERR, "bank changed", "topology: %s",
		           bank_error_str(fo->topo_err));
	d->last_topo_err = fo->pin.topology_bad ? fo->topo_err : BANK_OK;
}

static void evaluate(struct daemon *d, uint64_t now, bool reading)
{
	struct protection_output o;
	bool first = !d->have_pout;
	uint32_t old_codes = d->have_pout ? d->pout.codes : 0;
	uint32_t old_latched = d->have_pout ? d->pout.latched_rules : 0;
	int64_t wall_s = (int64_t)time(NULL);

	feed_bank(d, now);
	note_bank(d, now);
	monitor_step(&d->mon, now, wall_s, &d->fout.min);
	d->fout.pin.soc_cpct = monitor_soc_cpct(&d->mon, &d->fout.pin.soc_known);
	d->fout.pin.soc_sync_count = monitor_soc_events(&d->mon);
	if (d->fout.pin.soc_sync_count != d->soc_events_seen) {
		events_log(&d->ev, EV_SYNCHRONISED, LOG_NOTICE, "synchronised", "SoC %d.%02d %%",
		           d->fout.pin.soc_cpct / 100, d->fout.pin.soc_cpct % 100);
		d->soc_events_seen = d->fout.pin.soc_sync_count;
		daemon_save_state(d, now, "synchronised");
	}
	daemon_fw_before_step(d, now);
	protection_step(&d->prot, now, &d->fout.pin, &o);
	report_explain_chain(&o, &d->fout.pin);
	/* An output, a latch or a lead changed: saved at once (issue 13 item 1),
	 * so a restart resumes this state, not one up to a minute old. */
	const char *trigger = persist_trigger(first ? NULL : &d->pout, &o);

	bool changed = first || o.atd_closed != d->pout.atd_closed ||
	               o.atc_closed != d->pout.atc_closed ||
	               o.prealarm_active != d->pout.prealarm_active || o.codes != old_codes;
	if (changed)
		log_output_change(d, &o, d->pout.atd_closed, d->pout.atc_closed,
		                  d->pout.prealarm_active, first);
	log_code_changes(d, old_codes, old_latched, &o);
	d->pout = o;
	d->have_pout = true;
	d->dirty = true;

	daemon_set_line(d, OUTPUT_LOAD_DISCONNECT, o.atd_closed, now);
	daemon_set_line(d, OUTPUT_CHARGE_DISCONNECT, o.atc_closed, now);
	daemon_set_line(d, OUTPUT_PRE_ALARM, o.prealarm_active, now);
	daemon_set_line(d, OUTPUT_LED_BLUETOOTH, led_level(o.blue, now), now);
	daemon_set_line(d, OUTPUT_LED_ERROR, led_level(o.red, now), now);

	if (changed)
		send_status(d, now);
	if (!d->ready) {
		d->ready = true;
		notify_ready();
		events_log(&d->ev, EV_LIFECYCLE, LOG_INFO, "ready", NULL);
	}
	if (o.save_record)
		daemon_save_state(d, now, "bank below 9.0 V");
	else if (trigger)
		daemon_save_state(d, now, trigger);
	else if (persist_due(&d->cad, now, d->dirty, false))
		daemon_save_state(d, now, "periodic");
	daemon_poweroff_step(d, now, &o);
	arm_protection_timer(d);
	daemon_fw_pump(d, now);
	/* A new reading steps with every reply (a few hundred a second on a
	 * big bank): D-Bus sees a decision at once, readings at the tick's pace. */
	if (!reading || changed || now - d->publish_us >= DAEMON_TICK_US || now < d->publish_us) {
		daemon_publish(d, now);
		d->publish_us = now;
	}
}

void daemon_evaluate(struct daemon *d, uint64_t now)
{
	evaluate(d, now, false);
}

void daemon_evaluate_reading(struct daemon *d, uint64_t now)
{
	evaluate(d, now, true);
}

/* ---- ADC (daemon_adc.c), heartbeat, LEDs, watchdog: every 100 ms ---- */

/* The heartbeat and WATCHDOG=1 say "the loop runs and every output line is
 * at the level the protection decided" (docs/board.md rev 3). The lines are held
 * only while every write succeeded and the last read-back agreed with the
 * decision (daemon_outputs.c releases them otherwise), so holding them is
 * the condition. Bus and ADC trouble never stop it: the rules handle those
 * with their delays and lead (docs/protection.md sections 1 and 4). The
 * low-power shutdown releases every line on purpose (released is where the
 * protection wants them then): WATCHDOG=1 goes on, or systemd would kill
 * and restart the daemon every WatchdogSec while logind refuses or is
 * slow. No line is held, so there is no heartbeat edge to give. */
static bool healthy(const struct daemon *d)
{
	return d->ready && (d->out || d->poweroff_done);
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* --loop-stats: how late the tick ran (the loop held elsewhere) and how
 * long it took, a line every 10 s (loopstat.h). */
static void note_loop(struct daemon *d, uint64_t due_us, uint64_t start_us, uint64_t now)
{
	char text[256];
	uint64_t end_us = mono_us();

	loopstat_tick(&d->loopstat, now, start_us > due_us ? start_us - due_us : 0,
	              end_us - start_us);
	if (loopstat_due(&d->loopstat, now, text, sizeof(text)))
		events_log(&d->ev, EV_LIFECYCLE, LOG_DEBUG, "loop", "%s", text);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;
	uint64_t start_us = mono_us();
	uint64_t now = now_us(d);
	uint64_t next = usec + DAEMON_TICK_US;

	sd_event_source_set_time(s, next > now ? next : now + DAEMON_TICK_US);

	daemon_outputs_open(d, now);
	daemon_check_outputs(d, now);
	daemon_save_check(d);
	daemon_adc_poll(d, now);
	daemon_evaluate(d, now);
	daemon_dbus_poll(d, now);

	if (healthy(d)) {
		d->heartbeat = !d->heartbeat;
		daemon_set_line(d, OUTPUT_HEARTBEAT, d->heartbeat, now);
		if (now - d->watchdog_us >= d->watchdog_every_us) {
			notify_watchdog();
			d->watchdog_us = now;
		}
	}
	if (now - d->status_us >= DAEMON_STATUS_EVERY_US)
		send_status(d, now);
	if (d->cfg.loop_stats)
		note_loop(d, usec, start_us, now);
	return 0;
}

static int on_prot_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	daemon_evaluate(d, now_us(d));
	return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;
	uint64_t now = now_us(d);

	if (d->stopping)
		return 0;
	d->stopping = true;
	notify_stopping();
	events_log(&d->ev, EV_LIFECYCLE, LOG_INFO, "stopping", "signal %u", si->ssi_signo);
	daemon_save_state_wait(d, now, "stop");
	daemon_leave_outputs(d);
	/* Bluetooth unregisters from BlueZ now, while the bus is open: sd-bus
	 * flushes what is queued and closes the connection when the loop
	 * exits, so a later ble_free() could no longer say goodbye. */
	d->ble = ble_free(d->ble);
	/* "offline" to the broker while the loop still runs */
	d->mqtt = mqtt_free(d->mqtt);
	return sd_event_exit(d->event, 0);
}

/* ---- setup ---- */

/* The saved rule states (docs/protection.md sections 4 and 11), once the outputs
 * are taken: only an instance that adopted the previous instance's lines
 * resumes; any other start is a cold start with the saved states. */
static void daemon_resume_rules(struct daemon *d, uint64_t now)
{
	int r;

	if (d->rec.prot_len == 0)
		return;
	r = protection_persist_apply(&d->prot, now, d->rec.prot, d->rec.prot_len, d->adopted);
	if (r < 0) {
		events_log(&d->ev, EV_STATE, LOG_WARNING, "state",
		           "saved rule states not resumed: %s; cold start", strerror(-r));
		return;
	}
	if (!d->adopted || !d->out) {
		events_log(&d->ev, EV_STATE, LOG_NOTICE, "state",
		           "output lines not kept from a previous instance: cold start with the "
		           "saved rule states (both outputs open until every battery is fresh)");
		return;
	}
	/* The lines say what the previous instance held open, even if it could
	 * not save it any more; unreadable lines count as open. */
	bool active[OUTPUT_LINE_COUNT] = {false};
	r = outputs_read_back(d->out, active);
	if (r < 0)
		events_log(&d->ev, EV_DEVICE, LOG_WARNING, "outputs",
		           "cannot read the adopted lines: %s; both outputs count as open",
		           strerror(-r));
	protection_adopted_outputs(&d->prot, r >= 0 && active[OUTPUT_LOAD_DISCONNECT],
	                           r >= 0 && active[OUTPUT_CHARGE_DISCONNECT]);
}

/* A board without the remote or the read-back wiring ("none"), and a dry
 * run, change what the protection can see: said at every start (issue 13
 * items 10 and 17), and shown on D-Bus. */
static void say_wiring(struct daemon *d)
{
	if (d->remote_none)
		events_log(&d->ev, EV_DEVICE, LOG_WARNING, "adc",
		           "remote terminal not wired (remote-h-channel and remote-l-channel = "
		           "none): it counts as always ON, the loads cannot be switched off with "
		           "it");
	if (d->readback_none)
		events_log(&d->ev, EV_DEVICE, LOG_WARNING, "adc",
		           "charge read-back not wired (charge-readback-channel = none): a stuck "
		           "or failed charge switch is not detected (no E7)");
	if (d->readback_dry_run)
		events_log(&d->ev, EV_DEVICE, LOG_WARNING, "outputs",
		           "DRY RUN: nothing drives the charge output, so the read-back cannot "
		           "agree with it; the read-back is not checked (no E7)");
}

int daemon_new(struct daemon **ret, const struct bms_config *cfg, const struct events *ev)
{
	struct daemon *d = calloc(1, sizeof(*d));
	char err[256];
	sigset_t mask;
	uint64_t wd = 0;
	int r;

	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->ev = *ev;
	d->bus_fd = -1;
	daemon_fw_init(&d->fw);
	d->adopt_fd = daemon_take_stored_fd();
	d->remote_none = config_adc_none(cfg, ADC_REMOTE_H);
	d->readback_none = config_adc_none(cfg, ADC_CHARGE_READBACK);
	d->readback_dry_run = !d->readback_none && cfg->outputs_backend == OUTPUTS_BACKEND_DRYRUN;
	say_wiring(d);
	d->watchdog_every_us = 1000000ull;
	if (sd_watchdog_enabled(0, &wd) > 0 && wd / 4 < d->watchdog_every_us)
		d->watchdog_every_us = wd / 4;

	daemon_load_state(d);
	daemon_saver_start(d);
	r = protection_init(&d->prot, &d->rec.settings.protection, -1);
	if (r < 0) {
		/* record_decode checked the settings; only defaults are left. */
		settings_default(&d->rec.settings);
		r = protection_init(&d->prot, &d->rec.settings.protection, -1);
	}
	if (r < 0) {
		events_log(&d->ev, EV_LIFECYCLE, LOG_ERR, "error",
		           "setting up the protection rules: %s", strerror(-r));
		daemon_free(d);
		return r;
	}
	monitor_init(&d->mon, &d->rec.settings.monitor,
	             d->rec.settings.protection.discharge_floor_pct);
	monitor_restore(&d->mon, &d->rec.soc, &d->rec.hist, &d->rec.bal);
	bank_feed_init(&d->feed, d->rec.have_bank ? &d->rec.bank : NULL);
	d->soc_events_seen = monitor_soc_events(&d->mon);
	r = sd_event_default(&d->event);
	if (r < 0) {
		events_log(&d->ev, EV_LIFECYCLE, LOG_ERR, "error", "creating the event loop: %s",
		           strerror(-r));
		daemon_free(d);
		return r;
	}
	uint64_t now = now_us(d);
	persist_saved(&d->cad, now); /* the first periodic save a minute from now */

	struct m8_master_config mc = {.path = d->cfg.bus_port,
	                              .cycle_period_us = (uint64_t)d->cfg.min_cycle_ms * 1000,
	                              .on_event = daemon_on_bus_event};
	r = m8_master_new(&d->master, &mc, &daemon_bus_port_ops, d);
	if (r < 0) {
		events_log(&d->ev, EV_LIFECYCLE, LOG_ERR, "error",
		           "setting up the battery bus master for %s: %s", d->cfg.bus_port,
		           strerror(-r));
		daemon_free(d);
		return r;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGHUP, SIG_IGN); /* nothing is re-read: the configuration needs a restart */
	if ((r = sd_event_add_signal(d->event, NULL, SIGTERM, on_signal, d)) < 0 ||
	    (r = sd_event_add_signal(d->event, NULL, SIGINT, on_signal, d)) < 0 ||
	    (r = sd_event_add_time(d->event, &d->bus_timer, CLOCK_MONOTONIC, now, 1,
	                           daemon_on_bus_timer, d)) < 0 ||
	    (r = sd_event_add_time(d->event, &d->prot_timer, CLOCK_MONOTONIC, UINT64_MAX, 1,
	                           on_prot_timer, d)) < 0 ||
	    (r = sd_event_add_time(d->event, &d->tick, CLOCK_MONOTONIC, now, 1, on_tick, d)) < 0 ||
	    (r = sd_event_source_set_enabled(d->tick, SD_EVENT_ON)) < 0 ||
	    (r = daemon_saver_watch(d)) < 0 || (r = daemon_adc_start(d)) < 0) {
		snprintf(err, sizeof(err), "%s", strerror(-r));
		events_log(&d->ev, EV_LIFECYCLE, LOG_ERR, "error",
		           "adding the signal and timer sources to the event loop: %s", err);
		daemon_free(d);
		return r;
	}
	sd_event_source_set_enabled(d->prot_timer, SD_EVENT_OFF);
	/* The outputs are taken at once, all inactive (safe), and driven only
	 * after the first protection step decides. */
	daemon_outputs_open(d, now);
	daemon_resume_rules(d, now);
	daemon_fw_resume(d, now);
	daemon_dbus_poll(d, now);
	daemon_mqtt_start(d);
	*ret = d;
	return 0;
}

int daemon_run(struct daemon *d)
{
	return sd_event_loop(d->event);
}

struct daemon *daemon_free(struct daemon *d)
{
	if (!d)
		return NULL;
	sd_event_source_disable_unref(d->bus_io);
	sd_event_source_disable_unref(d->bus_timer);
	sd_event_source_disable_unref(d->prot_timer);
	sd_event_source_disable_unref(d->tick);
	daemon_poweroff_free(d);
	ble_free(d->ble);
	bms_dbus_free(d->dbus);
	mqtt_free(d->mqtt);
	m8_master_free(d->master);
	daemon_adc_stop(d);
	daemon_leave_outputs(d);
	if (d->adopt_fd >= 0)
		close(d->adopt_fd);
	daemon_saver_stop(d);
	statefile_free(d->sf);
	sd_event_unref(d->event);
	daemon_fw_free(&d->fw);
	free(d);
	return NULL;
}
