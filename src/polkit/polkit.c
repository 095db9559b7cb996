/* SPDX-License-Identifier: GPL-2.0-or-later */
/* polkit.h: CheckAuthorization for one call, asked without blocking. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "polkit/polkit.h"

#define PK_NAME  "org.freedesktop.PolicyKit1"
#define PK_PATH  "/org/freedesktop/PolicyKit1/Authority"
#define PK_IFACE "org.freedesktop.PolicyKit1.Authority"
/* CheckAuthorization flags: AllowUserInteraction */
#define PK_ALLOW_USER_INTERACTION 1u
/* an interactive question may wait for a password: as long as a person may */
#define PK_TIMEOUT_INTERACTIVE_US (120ULL * 1000000ULL)

static void query_clear(struct polkit_query *q)
{
	q->slot = sd_bus_slot_unref(q->slot);
	q->request = sd_bus_message_unref(q->request);
	free(q->err_name);
	free(q->err_msg);
	*q = (struct polkit_query){0};
}

void polkit_registry_clear(struct polkit_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < POLKIT_QUERIES_MAX; i++)
		query_clear(&reg->q[i]);
}

_printf_(3, 4) static void query_refuse(struct polkit_query *q, const char *name, const char *fmt,
                                        ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	q->done = true;
	q->result = -EACCES;
	q->err_name = strdup(name);
	q->err_msg = strdup(msg);
}

static bool name_is(const sd_bus_error *e, const char *name)
{
	return e && e->name && strcmp(e->name, name) == 0;
}

/* Parses polkit's answer into q. */
static void query_answer(struct polkit_query *q, sd_bus_message *reply)
{
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	int authorized = 0, challenge = 0, r;

	if (e) {
		if (name_is(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
		    name_is(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER) || name_is(e, SD_BUS_ERROR_NO_REPLY))
			query_refuse(
			        q, SD_BUS_ERROR_ACCESS_DENIED,
			        "refused: polkit (%s) cannot be asked whether this is allowed: %s",
			        PK_NAME, e->message ? e->message : e->name);
		else
			query_refuse(q, SD_BUS_ERROR_ACCESS_DENIED,
			             "refused: polkit failed to decide on %s: %s", q->action,
			             e->message ? e->message : e->name);
		return;
	}
	r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
	if (r > 0)
		r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
	if (r <= 0) {
		query_refuse(q, SD_BUS_ERROR_ACCESS_DENIED,
		             "refused: polkit's answer on %s could not be read", q->action);
		return;
	}
	if (authorized) {
		q->done = true;
		q->result = 1;
	} else if (challenge) {
		query_refuse(q, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
		             "%s needs authentication: call with interactive authorization "
		             "allowed (smallbmsctl asks by default), or join the group "
		             "smallbms-admin",
		             q->action);
	} else {
		query_refuse(q, SD_BUS_ERROR_ACCESS_DENIED,
		             "not authorized for %s (polkit refused; the group smallbms-admin "
		             "may)",
		             q->action);
	}
}

static int query_done(sd_bus_message *reply, void *userdata, sd_bus_error *unused)
{
	struct polkit_query *q = userdata;
	sd_bus *bus = sd_bus_message_get_bus(q->request);
	int r;

	if (reply)
		query_answer(q, reply);
	q->slot = sd_bus_slot_unref(q->slot);
	/* the call runs again and finds the answer in polkit_check */
	r = sd_bus_enqueue_for_read(bus, q->request);
	if (r < 0) {
		fprintf(stderr, "smallbmsd: polkit: could not dispatch %s again: %s\n",
		        sd_bus_message_get_member(q->request), strerror(-r));
		(void)sd_bus_reply_method_errorf(q->request, SD_BUS_ERROR_FAILED,
		                                 "authorization answered but the call was lost: %s",
		                                 strerror(-r));
		query_clear(q);
	}
	return 0;
}

/* Sends CheckAuthorization for q's call; its answer comes to query_done. */
static int ask(struct polkit_query *q, const char *sender)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
	sd_bus *bus = sd_bus_message_get_bus(q->request);
	bool interactive = sd_bus_message_get_allow_interactive_authorization(q->request) > 0;
	int r;

	r = sd_bus_message_new_method_call(bus, &call, PK_NAME, PK_PATH, PK_IFACE,
	                                   "CheckAuthorization");
	if (r >= 0)
		r = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s",
		                          sender, q->action);
	if (r >= 0)
		r = sd_bus_message_append(call, "a{ss}us", 0,
		                          interactive ? PK_ALLOW_USER_INTERACTION : 0u, "");
	if (r < 0)
		return r;
	return sd_bus_call_async(bus, &q->slot, call, query_done, q,
	                         interactive ? PK_TIMEOUT_INTERACTIVE_US : 0);
}

/* The bus daemon's answer on the caller's user: root is allowed without
 * asking (as systemd's daemons do), anyone else is asked about. */
static int creds_done(sd_bus_message *reply, void *userdata, sd_bus_error *unused)
{
	struct polkit_query *q = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	const char *sender = sd_bus_message_get_sender(q->request);
	uint32_t uid = 0;
	int r;

	q->slot = sd_bus_slot_unref(q->slot);
	if (e || (r = sd_bus_message_read(reply, "u", &uid)) <= 0) {
		query_refuse(q, SD_BUS_ERROR_ACCESS_DENIED,
		             "refused: the caller's user cannot be told (%s)",
		             e ? (e->message ? e->message : e->name) : "unreadable answer");
		return query_done(NULL, q, NULL);
	}
	if (uid == 0) {
		q->done = true;
		q->result = 1;
		return query_done(NULL, q, NULL);
	}
	r = ask(q, sender);
	if (r < 0) {
		query_refuse(q, SD_BUS_ERROR_ACCESS_DENIED,
		             "refused: polkit cannot be asked about %s: %s", q->action,
		             strerror(-r));
		return query_done(NULL, q, NULL);
	}
	return 0;
}

/* Asks the bus daemon for the caller's user (GetConnectionUnixUser), then
 * polkit: two calls in a chain, neither waited for. */
static int ask_creds(struct polkit_query *q, sd_bus_message *m, const char *sender,
                     const char *action)
{
	int r;

	q->request = sd_bus_message_ref(m);
	q->action = action;
	r = sd_bus_call_method_async(sd_bus_message_get_bus(m), &q->slot, "org.freedesktop.DBus",
	                             "/org/freedesktop/DBus", "org.freedesktop.DBus",
	                             "GetConnectionUnixUser", creds_done, q, "s", sender);
	if (r < 0)
		query_clear(q);
	return r;
}

static struct polkit_query *find(struct polkit_registry *reg, const sd_bus_message *m)
{
	for (size_t i = 0; i < POLKIT_QUERIES_MAX; i++)
		if (reg->q[i].request == m)
			return &reg->q[i];
	return NULL;
}

int polkit_check(struct polkit_registry *reg, sd_bus_message *m, const char *action,
                 sd_bus_error *e)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	struct polkit_query *q = find(reg, m);
	const char *sender;
	uid_t uid;
	int r;

	if (q && !q->done)
		return 0; /* still out (a second dispatch of the same call) */
	if (q) {
		r = q->result;
		if (r < 0) {
			fprintf(stderr, "smallbmsd: %s from %s refused: %s\n",
			        sd_bus_message_get_member(m),
			        sd_bus_message_get_sender(m) ? sd_bus_message_get_sender(m) : "?",
			        q->err_msg ? q->err_msg : "not authorized");
			sd_bus_error_set(e, q->err_name ? q->err_name : SD_BUS_ERROR_ACCESS_DENIED,
			                 q->err_msg ? q->err_msg : "not authorized");
		}
		query_clear(q);
		return r;
	}
	sender = sd_bus_message_get_sender(m);
	if (!sender) {
		/* A direct connection (no bus daemon): the socket's peer
		 * credentials, known without a round trip. */
		r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
		if (r >= 0)
			r = sd_bus_creds_get_euid(creds, &uid);
		if (r >= 0 && uid == 0)
			return 1;
		return sd_bus_error_set(
		        e, SD_BUS_ERROR_ACCESS_DENIED,
		        "refused: a caller without a bus name cannot be authorized");
	}
	q = find(reg, NULL);
	if (!q)
		return sd_bus_error_setf(e, "org.smallbms.Error.Busy",
		                         "%d authorizations are being asked; try again",
		                         POLKIT_QUERIES_MAX);
	r = ask_creds(q, m, sender, action);
	if (r < 0)
		return sd_bus_error_setf(e, SD_BUS_ERROR_ACCESS_DENIED,
		                         "refused: the caller's user cannot be asked for: %s",
		                         strerror(-r));
	return 0;
}
