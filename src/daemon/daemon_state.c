/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The state record of the running daemon: loaded at start, saved on the
 * cadence of persist.h. */
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
}

void daemon_save_state(struct daemon *d, uint64_t now, const char *why)
{
	char err[256] = "";

	if (!d->sf)
		return;
	collect_record(d, now);
	int r = persist_save(d->sf, &d->rec, err, sizeof(err));
	if (r < 0) {
		if (!d->save_failed_reported)
			events_log(&d->ev, EV_STATE, LOG_ERR, "state",
			           "cannot save the state record (%s): %s", why,
			           err[0] ? err : strerror(-r));
		d->save_failed_reported = true;
		return;
	}
	d->save_failed_reported = false;
	d->dirty = false;
	persist_saved(&d->cad, now);
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
	return 0;
}
