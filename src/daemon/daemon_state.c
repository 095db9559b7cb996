/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The state record of the running daemon: loaded at start, saved on the
 * cadence of persist.h and whenever the protection's state changes (an
 * output, a latch, a lead), written by a thread of its own (saver.h) so
 * that the fsyncs never hold up the loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon/daemon_private.h"

static void collect_record(struct daemon *d, uint64_t now)
{
	struct record *r = &d->rec;

	r->soc = d->mon.soc;
	r->hist = d->mon.hist;
	r->bal = d->mon.bal;
	r->have_bank = d->feed.have_identity;
	if (r->have_bank)
		r->bank = d->feed.identity;
	int n = protection_persist_encode(&d->prot, now, r->prot, sizeof(r->prot));
	r->prot_len = n > 0 ? (uint16_t)n : 0;
	n = fw_updater_persist_encode(&d->fw.u, now, r->fw, sizeof(r->fw));
	r->fw_len = n > 0 ? (uint16_t)n : 0;
}

static void save_failed(struct daemon *d, const char *why, int r, const char *err)
{
	d->dirty = true; /* the next periodic save tries again */
	if (!d->save_failed_reported)
		events_log(&d->ev, EV_STATE, LOG_ERR, "state",
		           "cannot save the state record (%s): %s", why,
		           err && err[0] ? err : strerror(-r));
	d->save_failed_reported = true;
}

/* A save that went through another way than usual (a directory in the
 * slot due): said once, until a save goes the usual way again. */
static void save_noted(struct daemon *d, int r, const char *note)
{
	if (r > 0 && !d->save_note_reported)
		events_log(&d->ev, EV_STATE, LOG_WARNING, "state", "state record saved, but %s",
		           note);
	d->save_note_reported = r > 0;
}

static int write_record(void *userdata, const uint8_t *buf, size_t len, char *why, size_t why_len)
{
	return statefile_save_why(userdata, buf, len, why, why_len);
}

void daemon_saver_start(struct daemon *d)
{
	if (!d->sf)
		return;
	int r = saver_new(&d->saver, write_record, d->sf);
	if (r < 0) {
		/* Still saved, on the loop: slower, never lost. */
		d->saver = NULL;
		events_log(&d->ev, EV_STATE, LOG_ERR, "state",
		           "cannot start the state writer thread: %s; saving on the loop",
		           strerror(-r));
	}
}

void daemon_saver_stop(struct daemon *d)
{
	d->saver_io = sd_event_source_disable_unref(d->saver_io);
	d->saver = saver_free(d->saver);
	daemon_save_check(d);
}

void daemon_save_check(struct daemon *d)
{
	uint64_t done = 0;
	char why[SAVER_WHY_MAX] = "";
	int r = 0;

	if (!d->saver)
		return;
	saver_status(d->saver, &done, &r, why, sizeof(why));
	if (done == d->save_checked_seq)
		return;
	d->save_checked_seq = done;
	if (r < 0) {
		save_failed(d, d->save_why, r, why);
		return;
	}
	d->save_failed_reported = false;
	save_noted(d, r, why);
}

int64_t daemon_save_state(struct daemon *d, uint64_t now, const char *why)
{
	uint8_t buf[RECORD_MAX_SIZE];
	char err[256] = "";

	if (!d->sf)
		return -ENODEV; /* reported as E9 when the directory could not be opened */
	collect_record(d, now);
	int len = persist_encode(&d->rec, buf, sizeof(buf), err, sizeof(err));
	if (len < 0) {
		save_failed(d, why, len, err);
		return len;
	}
	d->dirty = false;
	persist_saved(&d->cad, now);
	if (!d->saver) {
		int r = statefile_save_why(d->sf, buf, (size_t)len, err, sizeof(err));
		if (r < 0) {
			save_failed(d, why, r, err);
			return r;
		}
		d->save_failed_reported = false;
		save_noted(d, r, err);
		return 0;
	}
	int64_t seq = saver_submit(d->saver, buf, (size_t)len);
	if (seq < 0) {
		save_failed(d, why, (int)seq, NULL);
		return seq;
	}
	d->save_why = why;
	return seq;
}

int daemon_save_state_wait(struct daemon *d, uint64_t now, const char *why)
{
	int64_t seq = daemon_save_state(d, now, why);

	if (seq <= 0 || !d->saver)
		return seq < 0 ? (int)seq : 0;
	int r = saver_wait(d->saver, (uint64_t)seq);
	daemon_save_check(d);
	return r < 0 ? r : 0;
}

int daemon_load_state(struct daemon *d)
{
	char err[256] = "";
	int r = persist_open(d->cfg.state_dir, &d->sf);

	if (r < 0) {
		events_log(&d->ev, EV_STATE, LOG_ERR, "error E9",
		           "cannot open state directory %s: %s; defaults in use, not saved",
		           d->cfg.state_dir, strerror(-r));
		d->sf = NULL;
		persist_record_default(&d->rec);
		d->record_unreadable = true;
		return 0;
	}
	r = persist_load(d->sf, d->cfg.state_dir, &d->rec, err, sizeof(err));
	if (r == PERSIST_LOADED) {
		events_log(&d->ev, EV_STATE, LOG_INFO, "state", "record loaded from %s",
		           d->cfg.state_dir);
	} else if (r == PERSIST_NONE) {
		events_log(&d->ev, EV_STATE, LOG_NOTICE, "state",
		           "no record in %s: a new installation, defaults in use",
		           d->cfg.state_dir);
	} else {
		events_log(&d->ev, EV_STATE, LOG_ERR, "state",
		           "record in %s unreadable (%s): defaults in use (E9)", d->cfg.state_dir,
		           r < 0 ? strerror(-r) : err);
		d->record_unreadable = true;
	}
	r = statefile_check_slots(d->sf, err, sizeof(err));
	if (r < 0) {
		events_log(&d->ev, EV_STATE, LOG_ERR, "error E9", "state directory %s: %s",
		           d->cfg.state_dir, err);
		d->record_unreadable = true;
	}
	return 0;
}
