/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replies that wait for a save (service/actions.h, SVC_PENDING): a write
 * is answered only once its change is durable, and the wait never holds up
 * the event loop. The call is kept (a reference to the message) with the
 * ticket of its save; bms_dbus_saved answers every call whose save is done.
 * At most DBUS_PENDING_MAX calls wait: more are refused as busy before
 * anything changes, which also bounds what a flooding client can queue.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "dbus/dbus_private.h"

int dbus_action_reply(struct bms_dbus *b, sd_bus_message *m, int r, enum dbus_err_ctx ctx,
                      const char *err, sd_bus_error *e)
{
	if (r < 0)
		return dbus_error_from_errno(e, r, ctx, err);
	if (r != SVC_PENDING || !b->ops->async || !b->ops->ticket)
		return sd_bus_reply_method_return(m, NULL);
	struct dbus_pending *p = &b->pending[b->n_pending++];
	p->call = sd_bus_message_ref(m);
	p->ticket = b->ops->ticket(b->userdata);
	p->ctx = ctx;
	return 1; /* answered by bms_dbus_saved */
}

int dbus_action_room(struct bms_dbus *b, enum dbus_err_ctx ctx, sd_bus_error *e)
{
	char why[128];

	if (b->n_pending < DBUS_PENDING_MAX)
		return 0;
	snprintf(why, sizeof(why), "%d changes are waiting to be saved; try again",
	         DBUS_PENDING_MAX);
	return dbus_error_from_errno(e, -EBUSY, ctx, why);
}

void bms_dbus_saved(struct bms_dbus *b, uint64_t done, int result, const char *why)
{
	size_t k = 0;

	if (!b)
		return;
	for (size_t i = 0; i < b->n_pending; i++) {
		struct dbus_pending *p = &b->pending[i];

		if (p->ticket > done) {
			b->pending[k++] = *p;
			continue;
		}
		int r;
		if (result >= 0) {
			r = sd_bus_reply_method_return(p->call, NULL);
		} else {
			_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
			char msg[512];
			snprintf(msg, sizeof(msg),
			         "the change is in effect but could not be saved (%s); saving is "
			         "retried every minute",
			         why && why[0] ? why : strerror(-result));
			dbus_error_from_errno(&e, -EIO, p->ctx, msg);
			r = sd_bus_reply_method_error(p->call, &e);
		}
		if (r < 0 && !b->error)
			b->error = r;
		sd_bus_message_unref(p->call);
	}
	b->n_pending = k;
}

void dbus_pending_free(struct bms_dbus *b)
{
	for (size_t i = 0; i < b->n_pending; i++)
		sd_bus_message_unref(b->pending[i].call);
	b->n_pending = 0;
}
