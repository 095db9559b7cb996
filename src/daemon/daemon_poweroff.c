/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The low-power shutdown (docs/protection.md section 10). Once the core asks for
 * it (request_poweroff: ATD open for A1, A2 or A5, or the remote terminal
 * OFF, for 10 min with no charger), the daemon says why in the journal
 * (EV_POWEROFF), saves its state through the saver, releases every output,
 * and once the save is done asks logind to power off:
 * org.freedesktop.login1.Manager.PowerOff(false), asynchronously, on the
 * daemon's own system bus connection.
 *
 * A refused or failed call is logged; the outputs stay released and logind
 * is asked again after 10 s, then 20, 40... at most every 5 min, for as
 * long as the core still asks. When the condition ends first (the remote
 * turns ON, a charger shows), the shutdown is called off and the outputs
 * are taken again. A failed save does not stop the power-off: the last
 * saved state stands, and sparing the reserve comes first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "daemon/daemon_private.h"

#define LOGIN1_NAME    "org.freedesktop.login1"
#define LOGIN1_PATH    "/org/freedesktop/login1"
#define LOGIN1_MANAGER "org.freedesktop.login1.Manager"

#define POWEROFF_RETRY_FIRST_US (10ULL * 1000000ULL)
#define POWEROFF_RETRY_MAX_US   (300ULL * 1000000ULL)

enum poweroff_phase {
	PO_IDLE,
	PO_SAVING, /* the state is being saved; the call follows */
	PO_ASKING, /* PowerOff is out */
	PO_RETRY,  /* refused or failed: asked again at poweroff_retry_us */
	PO_ASKED,  /* logind accepted, or asking is off: nothing more to do */
};

static bool asks_logind(const struct daemon *d)
{
	switch (d->cfg.power_off) {
	case POWER_OFF_YES:
		return true;
	case POWER_OFF_NO:
		return false;
	default:
		return d->cfg.outputs_backend != OUTPUTS_BACKEND_DRYRUN;
	}
}

static void ask(struct daemon *d, uint64_t now);

static void failed(struct daemon *d, uint64_t now, const char *why)
{
	uint64_t wait = d->poweroff_backoff_us;

	events_log(&d->ev, EV_POWEROFF, LOG_ERR, "power-off",
	           "logind's PowerOff failed: %s; every output stays released, asking again in "
	           "%" PRIu64 " s",
	           why, wait / 1000000);
	d->poweroff_phase = PO_RETRY;
	d->poweroff_retry_us = now + wait;
	d->poweroff_backoff_us =
	        wait * 2 > POWEROFF_RETRY_MAX_US ? POWEROFF_RETRY_MAX_US : wait * 2;
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *unused)
{
	struct daemon *d = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	d->poweroff_call = sd_bus_slot_unref(d->poweroff_call);
	if (d->poweroff_phase != PO_ASKING)
		return 0;
	if (e) {
		char why[512];

		snprintf(why, sizeof(why), "%s (%s)", e->message ? e->message : "no message",
		         e->name ? e->name : "?");
		failed(d, now_us(d), why);
		return 0;
	}
	d->poweroff_phase = PO_ASKED;
	events_log(&d->ev, EV_POWEROFF, LOG_NOTICE, "power-off", "logind accepted the power-off");
	return 0;
}

static void ask(struct daemon *d, uint64_t now)
{
	sd_bus *bus = d->dbus ? bms_dbus_bus(d->dbus) : NULL;
	int r;

	if (!asks_logind(d)) {
		events_log(&d->ev, EV_POWEROFF, LOG_WARNING, "power-off",
		           "not asking logind to power off (%s); every output stays released",
		           d->cfg.power_off == POWER_OFF_NO ? "[outputs] power-off = no"
		                                            : "dry run");
		d->poweroff_phase = PO_ASKED;
		return;
	}
	if (!bus) {
		failed(d, now, "not connected to the system bus");
		return;
	}
	d->poweroff_call = sd_bus_slot_unref(d->poweroff_call);
	r = sd_bus_call_method_async(bus, &d->poweroff_call, LOGIN1_NAME, LOGIN1_PATH,
	                             LOGIN1_MANAGER, "PowerOff", on_reply, d, "b", 0);
	if (r < 0) {
		failed(d, now, strerror(-r));
		return;
	}
	d->poweroff_phase = PO_ASKING;
	events_log(&d->ev, EV_POWEROFF, LOG_NOTICE, "power-off", "asking logind to power off");
}

static void format_why(const struct daemon *d, uint64_t now, char *buf, size_t len)
{
	const struct svc_snapshot *s = &d->snap;
	uint64_t held_s =
	        now > d->prot.poweroff_since_us ? (now - d->prot.poweroff_since_us) / 1000000 : 0;
	char soc[32] = "unknown", bank[48] = "unknown";

	if (s->soc_known)
		snprintf(soc, sizeof(soc), "%d.%02d %%", (int)(s->soc_cpct / 100),
		         (int)(s->soc_cpct % 100));
	if (s->measure_valid)
		snprintf(
		        bank, sizeof(bank), "%d.%03d V, %s%d.%03d A", (int)(s->bank_mv / 1000),
		        (int)(s->bank_mv % 1000), s->current_ma < 0 ? "-" : "",
		        (int)((s->current_ma < 0 ? -(int64_t)s->current_ma : s->current_ma) / 1000),
		        (int)((s->current_ma < 0 ? -(int64_t)s->current_ma : s->current_ma) %
		              1000));
	snprintf(buf, len,
	         "%s for %" PRIu64 " s with no charger (SoC %s, bank %s): saving the state, "
	         "releasing every output, then powering off",
	         d->prot.remote.on ? "load disconnected by A1, A2 or A5" : "remote terminal OFF",
	         held_s, soc, bank);
}

static void begin(struct daemon *d, uint64_t now)
{
	char why[384];
	int64_t seq;

	format_why(d, now, why, sizeof(why));
	events_log(&d->ev, EV_POWEROFF, LOG_WARNING, "power-off", "low-power shutdown: %s", why);
	d->poweroff_done = true;
	d->poweroff_backoff_us = POWEROFF_RETRY_FIRST_US;
	seq = daemon_save_state(d, now, "power-off");
	daemon_release_outputs(d);
	if (seq > 0 && d->saver) {
		d->poweroff_phase = PO_SAVING;
		d->poweroff_ticket = (uint64_t)seq;
		return;
	}
	if (seq < 0)
		events_log(&d->ev, EV_POWEROFF, LOG_ERR, "power-off",
		           "the state could not be saved (%s); powering off all the same: the last "
		           "saved state stands",
		           strerror((int)-seq));
	ask(d, now);
}

static void call_off(struct daemon *d)
{
	d->poweroff_call = sd_bus_slot_unref(d->poweroff_call);
	events_log(&d->ev, EV_POWEROFF, LOG_NOTICE, "power-off",
	           "low-power shutdown called off: the condition ended (a charger, or the "
	           "remote terminal ON); taking the outputs again");
	d->poweroff_phase = PO_IDLE;
	d->poweroff_done = false;
}

void daemon_poweroff_step(struct daemon *d, uint64_t now, const struct protection_output *o)
{
	if (!o->request_poweroff) {
		if (d->poweroff_phase != PO_IDLE)
			call_off(d);
		return;
	}
	if (d->poweroff_phase == PO_IDLE)
		begin(d, now);
	else if (d->poweroff_phase == PO_RETRY && now >= d->poweroff_retry_us)
		ask(d, now);
}

void daemon_poweroff_saved(struct daemon *d, uint64_t done, int result, const char *why)
{
	if (d->poweroff_phase != PO_SAVING || done < d->poweroff_ticket)
		return;
	if (result < 0)
		events_log(&d->ev, EV_POWEROFF, LOG_ERR, "power-off",
		           "the state could not be saved (%s); powering off all the same: the last "
		           "saved state stands",
		           why && why[0] ? why : strerror(-result));
	ask(d, now_us(d));
}

void daemon_poweroff_free(struct daemon *d)
{
	d->poweroff_call = sd_bus_slot_unref(d->poweroff_call);
}
