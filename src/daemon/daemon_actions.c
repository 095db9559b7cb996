/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The front ends' actions (service/actions.h) on the running daemon. Each
 * validates in full, changes the cores, saves the state record at once and
 * puts everything back when the save fails, so a refused or unsaved change
 * leaves nothing behind. Every change is then evaluated at once: the
 * protection acts on new settings without waiting for the next tick, and
 * the front ends show the result.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "daemon/daemon_private.h"

#define IDENTIFY_S 10 /* how long a battery blinks */

static int save_refused(struct daemon *d, const char *reason, char *err, size_t errlen)
{
	snprintf(err, errlen, "the state record could not be saved in %s%s%s%s", d->cfg.state_dir,
	         reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
	return -EIO;
}

/* A change is acknowledged only once it is on disk: waited for here, or,
 * for an asynchronous front end (d->async_call), handed back as a ticket
 * (SVC_PENDING) that the front end answers when the saver reports it. */
static int save_now(struct daemon *d, uint64_t now, const char *why, char *err, size_t errlen)
{
	/* Refused for good (a newer record version): nothing changes. */
	if (d->sf && statefile_saves_refused(d->sf))
		return save_refused(d, statefile_saves_refused(d->sf), err, errlen);
	if (d->async_call && d->saver) {
		int64_t seq = daemon_save_state(d, now, why);
		if (seq < 0)
			return save_refused(d, NULL, err, errlen);
		d->ticket = (uint64_t)seq;
		return seq > 0 ? SVC_PENDING : 0;
	}
	if (daemon_save_state_wait(d, now, why) < 0)
		return save_refused(d, NULL, err, errlen);
	return 0;
}

/* The values asked for are those in effect: nothing to save, unless the
 * last save failed (then they are not on disk). An earlier save of them
 * still under way is waited for, as the change it carries. */
static int unchanged(struct daemon *d, uint64_t ticket)
{
	uint64_t done = 0;

	if (d->save_failed_reported || !d->saver || !ticket)
		return d->save_failed_reported ? -EAGAIN : 0;
	saver_status(d->saver, &done, NULL, NULL, 0);
	if (done >= ticket)
		return 0;
	if (d->async_call) {
		d->ticket = ticket;
		return SVC_PENDING;
	}
	return saver_wait(d->saver, ticket) < 0 ? -EIO : 0;
}

static bool settings_same(const struct bms_settings *a, const struct bms_settings *b)
{
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_desc *sd = settings_desc(i);
		int32_t x = 0, y = 0;

		if (settings_get(a, sd->name, &x) < 0 || settings_get(b, sd->name, &y) < 0 ||
		    x != y)
			return false;
	}
	return true;
}

static void log_settings(struct daemon *d, const struct bms_settings *old,
                         const struct bms_settings *now)
{
	char line[1024] = "";
	size_t len = 0;

	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_desc *sd = settings_desc(i);
		int32_t a = 0, b = 0;

		settings_get(old, sd->name, &a);
		settings_get(now, sd->name, &b);
		if (a == b || len >= sizeof(line))
			continue;
		int n = snprintf(line + len, sizeof(line) - len, "%s%s=%d", len ? " " : "",
		                 sd->name, b);
		len += n > 0 ? (size_t)n : 0;
	}
	if (len)
		events_log(&d->ev, EV_SETTINGS, LOG_NOTICE, "settings changed", "%s", line);
}

/* s is valid as a whole (settings_apply or settings_validate said so). */
static int commit_settings(struct daemon *d, const struct bms_settings *s, char *err, size_t errlen)
{
	struct bms_settings old = d->rec.settings;
	uint64_t now = now_us(d);
	int r;

	if (settings_same(&old, s)) {
		r = unchanged(d, d->settings_ticket);
		if (r != -EAGAIN)
			return r < 0 ? save_refused(d, NULL, err, errlen) : r;
	}
	r = protection_set_settings(&d->prot, &s->protection, err, errlen);
	if (r < 0)
		return r;
	d->rec.settings = *s;
	r = save_now(d, now, "settings changed", err, errlen);
	if (r < 0) {
		d->rec.settings = old;
		protection_set_settings(&d->prot, &old.protection, NULL, 0);
		return r;
	}
	if (r == SVC_PENDING)
		d->settings_ticket = d->ticket;
	monitor_set_settings(&d->mon, &s->monitor, s->protection.discharge_floor_pct);
	log_settings(d, &old, s);
	daemon_evaluate(d, now);
	return r;
}

static int act_set_settings(void *userdata, const struct setting_change *ch, size_t n, char *err,
                            size_t errlen)
{
	struct daemon *d = userdata;
	struct bms_settings s = d->rec.settings;
	int r = settings_apply(&s, ch, n, err, errlen);

	if (r < 0)
		return r;
	return commit_settings(d, &s, err, errlen);
}

static int act_reset(struct daemon *d, bool all, char *err, size_t errlen)
{
	struct bms_settings s = d->rec.settings;
	int r;

	if (all)
		settings_reset_all(&s);
	else
		settings_reset_defaults(&s);
	/* the five defaults may clash with other settings the owner changed */
	r = settings_validate(&s, err, errlen);
	if (r < 0)
		return r;
	return commit_settings(d, &s, err, errlen);
}

static int act_reset_defaults(void *userdata, char *err, size_t errlen)
{
	return act_reset(userdata, false, err, errlen);
}

static int act_reset_all(void *userdata, char *err, size_t errlen)
{
	return act_reset(userdata, true, err, errlen);
}

/* Runs change on the monitor and saves; the monitor is put back when the
 * record cannot be written. */
static int monitor_change(struct daemon *d, int (*change)(struct daemon *d, void *arg), void *arg,
                          const char *why, char *err, size_t errlen)
{
	struct monitor old = d->mon;
	uint64_t now = now_us(d);
	int r = change(d, arg);

	if (r < 0)
		return r;
	r = save_now(d, now, why, err, errlen);
	if (r < 0) {
		d->mon = old;
		return r;
	}
	/* the manual set or sync is logged here, not again by the step */
	d->soc_events_seen = monitor_soc_events(&d->mon);
	daemon_evaluate(d, now);
	return r;
}

static int do_reset_history(struct daemon *d, void *arg)
{
	monitor_reset_history(&d->mon);
	return 0;
}

static int act_reset_history(void *userdata, char *err, size_t errlen)
{
	struct daemon *d = userdata;
	int r = monitor_change(d, do_reset_history, NULL, "history reset", err, errlen);

	if (r >= 0)
		events_log(&d->ev, EV_STATE, LOG_NOTICE, "state", "history reset");
	return r;
}

static int do_set_soc(struct daemon *d, void *arg)
{
	return monitor_set_soc(&d->mon, *(const int32_t *)arg) < 0 ? -ERANGE : 0;
}

static int act_set_soc(void *userdata, int32_t soc_cpct, char *err, size_t errlen)
{
	struct daemon *d = userdata;
	int r;

	if (soc_cpct < 0 || soc_cpct > 10000) {
		snprintf(err, errlen, "soc_cpct=%d is %s", soc_cpct,
		         soc_cpct < 0 ? "below its bound 0" : "above its bound 10000");
		return -ERANGE;
	}
	r = monitor_change(d, do_set_soc, &soc_cpct, "SoC set", err, errlen);
	if (r >= 0)
		events_log(&d->ev, EV_SYNCHRONISED, LOG_NOTICE, "SoC set", "%d.%02d %% (manual)",
		           soc_cpct / 100, soc_cpct % 100);
	return r;
}

static int do_sync(struct daemon *d, void *arg)
{
	monitor_sync(&d->mon, (int64_t)time(NULL));
	return 0;
}

static int act_synchronise(void *userdata, char *err, size_t errlen)
{
	struct daemon *d = userdata;
	int r = monitor_change(d, do_sync, NULL, "synchronised", err, errlen);

	if (r >= 0)
		events_log(&d->ev, EV_SYNCHRONISED, LOG_NOTICE, "synchronised",
		           "SoC 100 %% (manual)");
	return r;
}

/* The remembered bank is forgotten: the next step derives the bank anew from
 * the batteries on the bus and remembers it (E3 clears), SoC unknown. */
static int act_accept_bank(void *userdata, char *err, size_t errlen)
{
	struct daemon *d = userdata;
	struct m8_bank_state bank;
	struct bank_feed old_feed = d->feed;
	struct monitor old_mon = d->mon;
	bool old_have = d->rec.have_bank;
	uint64_t now = now_us(d);
	int r;

	m8_master_bank(d->master, &bank);
	if (!bank.enumerated || bank.count == 0) {
		snprintf(err, errlen, "no bank to accept: the bus is %s",
		         !bank.port_open ? "not open" : "not enumerated");
		return -ENODEV;
	}
	d->feed.have_identity = false;
	monitor_bank_accepted(&d->mon);
	d->rec.have_bank = false;
	r = save_now(d, now, "bank accepted", err, errlen);
	if (r < 0) {
		d->feed = old_feed;
		d->mon = old_mon;
		d->rec.have_bank = old_have;
		return r;
	}
	events_log(&d->ev, EV_BANK, LOG_NOTICE, "bank changed",
	           "accepted by the installer (%u batteries); SoC unknown", bank.count);
	daemon_evaluate(d, now);
	return r;
}

static void identify_done(void *userdata, int result, const struct m8_frame *reply)
{
	struct daemon *d = userdata;

	/* a timeout has no reply frame, so no address to tell */
	if (result < 0)
		events_log(&d->ev, EV_BATTERY, LOG_WARNING, "battery identify", "%s",
		           strerror(-result));
}

static int act_identify(void *userdata, unsigned addr, char *err, size_t errlen)
{
	struct daemon *d = userdata;
	struct m8_bank_state bank;
	uint8_t seconds = IDENTIFY_S;
	int r;

	m8_master_bank(d->master, &bank);
	if (!bank.enumerated) {
		snprintf(err, errlen, "the bus is %s",
		         !bank.port_open ? "not open" : "not enumerated");
		return -ENODEV;
	}
	if (addr < 1 || addr > bank.count) {
		snprintf(err, errlen, "battery %u is not in the bank (%u batteries)", addr,
		         bank.count);
		return -ENOENT;
	}
	/* The bus belongs to the update (one request at a time, the time left
	 * in each cycle); a blinking battery is no reason to slow it. */
	if (daemon_fw_busy(d)) {
		snprintf(err, errlen, "a battery firmware update is running; identify later");
		return -EBUSY;
	}
	r = m8_master_submit(d->master, (uint8_t)addr, M8_CMD_IDENTIFY, &seconds, 1, 2,
	                     identify_done, d);
	if (r == -EBUSY)
		snprintf(err, errlen, "the bus request queue is full; try again");
	else if (r == -ENOTCONN)
		snprintf(err, errlen, "the bus is not enumerated");
	else if (r < 0)
		snprintf(err, errlen, "identify battery %u: %s", addr, strerror(-r));
	return r;
}

static int act_firmware_start(void *userdata, unsigned addr, int fd, char *err, size_t errlen)
{
	return daemon_fw_start(userdata, addr, fd, err, errlen);
}

static int act_firmware_cancel(void *userdata, char *err, size_t errlen)
{
	return daemon_fw_cancel(userdata, err, errlen);
}

static int act_firmware_clear_failure(void *userdata, char *err, size_t errlen)
{
	return daemon_fw_clear_failure(userdata, err, errlen);
}

/* The front ends' table (D-Bus and Bluetooth): the actions answering
 * SVC_PENDING instead of waiting for the save, so that no write holds up
 * the loop. */
#define ASYNC(name, params, args)                                                                  \
	static int async_##name params                                                             \
	{                                                                                          \
		struct daemon *d = userdata;                                                       \
		d->async_call = true;                                                              \
		int r = act_##name args;                                                           \
		d->async_call = false;                                                             \
		return r;                                                                          \
	}
ASYNC(set_settings,
      (void *userdata, const struct setting_change *ch, size_t n, char *err, size_t errlen),
      (userdata, ch, n, err, errlen))
ASYNC(reset_defaults, (void *userdata, char *err, size_t errlen), (userdata, err, errlen))
ASYNC(reset_all, (void *userdata, char *err, size_t errlen), (userdata, err, errlen))
ASYNC(reset_history, (void *userdata, char *err, size_t errlen), (userdata, err, errlen))
ASYNC(set_soc, (void *userdata, int32_t soc_cpct, char *err, size_t errlen),
      (userdata, soc_cpct, err, errlen))
ASYNC(synchronise, (void *userdata, char *err, size_t errlen), (userdata, err, errlen))
ASYNC(accept_bank, (void *userdata, char *err, size_t errlen), (userdata, err, errlen))

static uint64_t act_ticket(void *userdata)
{
	return ((struct daemon *)userdata)->ticket;
}

const struct svc_actions daemon_actions_async = {
        .async = true,
        .ticket = act_ticket,
        .set_settings = async_set_settings,
        .reset_defaults = async_reset_defaults,
        .reset_all = async_reset_all,
        .reset_history = async_reset_history,
        .set_soc = async_set_soc,
        .synchronise = async_synchronise,
        .accept_bank = async_accept_bank,
        .identify = act_identify,
        .firmware_start = act_firmware_start,
        .firmware_cancel = act_firmware_cancel,
        .firmware_clear_failure = act_firmware_clear_failure,
};
