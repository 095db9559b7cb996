/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The connection and the translation of bus errors into exit statuses. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "ctl/escape.h"

uint64_t ctl_now_wall_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int ctl_connect(struct ctl *c, const struct ctl_args *args)
{
	const char *which = "system bus";
	sd_bus *bus = NULL;
	int r;

	c->args = args;
	switch (args->bus) {
	case CTL_BUS_USER:
		which = "user bus";
		r = sd_bus_open_user(&bus);
		break;
	case CTL_BUS_ADDRESS:
		which = args->address;
		r = sd_bus_new(&bus);
		if (r >= 0)
			r = sd_bus_set_address(bus, args->address);
		if (r >= 0)
			r = sd_bus_set_bus_client(bus, true);
		if (r >= 0)
			r = sd_bus_start(bus);
		break;
	default:
		r = sd_bus_open_system(&bus);
		break;
	}
	if (r < 0) {
		sd_bus_unref(bus);
		fprintf(stderr, "smallbmsctl: cannot connect to the %s: %s\n", which, strerror(-r));
		return CTL_EXIT_FAILED;
	}
	/* as systemctl: a write polkit wants a password for may ask for it
	 * (through the caller's polkit agent) instead of being refused */
	r = sd_bus_set_allow_interactive_authorization(bus, true);
	if (r < 0) {
		sd_bus_unref(bus);
		fprintf(stderr, "smallbmsctl: cannot allow interactive authorization: %s\n",
		        strerror(-r));
		return CTL_EXIT_FAILED;
	}
	c->bus = bus;
	return CTL_EXIT_OK;
}

void ctl_disconnect(struct ctl *c)
{
	c->bus = sd_bus_flush_close_unref(c->bus);
}

int ctl_fail(const struct ctl *c, int r, const sd_bus_error *e)
{
	bool named = e && sd_bus_error_is_set(e);

	if (named && (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
	              sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER))) {
		fprintf(stderr,
		        "smallbmsctl: %s: smallbmsd is not running (no owner of " CTL_BUS_NAME
		        " on the bus)\n",
		        c->what);
		return CTL_EXIT_NOT_RUNNING;
	}
	if (named && sd_bus_error_has_name(e, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED)) {
		fprintf(stderr,
		        "smallbmsctl: %s: authentication required and no polkit agent asked for "
		        "it: run as root or as a member of group smallbms-admin, or start a polkit "
		        "agent (pkttyagent)\n",
		        c->what);
		return CTL_EXIT_FAILED;
	}
	if ((named && sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED)) ||
	    (!named && (r == -EACCES || r == -EPERM))) {
		fprintf(stderr,
		        "smallbmsctl: %s: permission denied: run as root or as a member of group "
		        "smallbms-admin",
		        c->what);
		if (named && e->message && *e->message) {
			/* why, as the daemon (polkit) or the bus said it: escaped */
			fputs(" (", stderr);
			ctl_escape_write(stderr, e->message);
			fputc(')', stderr);
		}
		fputc('\n', stderr);
		return CTL_EXIT_FAILED;
	}
	if (named && e->message && *e->message) {
		/* the daemon's text may quote a name from elsewhere: escaped */
		fprintf(stderr, "smallbmsctl: %s: ", c->what);
		ctl_escape_write(stderr, e->message);
		fputc('\n', stderr);
	} else
		fprintf(stderr, "smallbmsctl: %s: %s\n", c->what, strerror(r < 0 ? -r : EIO));
	return CTL_EXIT_FAILED;
}

int ctl_fail_reply(const struct ctl *c, int r)
{
	fprintf(stderr, "smallbmsctl: %s: unexpected reply from smallbmsd: %s\n", c->what,
	        strerror(r < 0 ? -r : EIO));
	return CTL_EXIT_FAILED;
}

static int get_all(struct ctl *c, const char *path, const char *iface, sd_bus_message **reply)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(c->bus, CTL_BUS_NAME, path, "org.freedesktop.DBus.Properties",
	                           "GetAll", &e, reply, "s", iface);

	if (r < 0) {
		r = ctl_fail(c, r, &e);
		sd_bus_error_free(&e);
		return r;
	}
	return CTL_EXIT_OK;
}

int ctl_fetch_bms(struct ctl *c, struct ctl_bms *b)
{
	sd_bus_message *reply = NULL;
	int r = get_all(c, CTL_ROOT_PATH, CTL_BMS_IFACE, &reply);

	if (r != CTL_EXIT_OK)
		return r;
	r = ctl_bms_read(reply, b);
	sd_bus_message_unref(reply);
	if (r < 0) {
		ctl_bms_done(b);
		return ctl_fail_reply(c, r);
	}
	return CTL_EXIT_OK;
}

int ctl_fetch_battery(struct ctl *c, unsigned n, struct ctl_battery *b)
{
	sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char path[64];
	int r;

	snprintf(path, sizeof(path), CTL_BATTERY_PREFIX "%u", n);
	r = sd_bus_call_method(c->bus, CTL_BUS_NAME, path, "org.freedesktop.DBus.Properties",
	                       "GetAll", &e, &reply, "s", CTL_BATTERY_IFACE);
	if (r < 0) {
		/* the object is absent when the battery is not in the bank */
		if (sd_bus_error_has_names(&e, SD_BUS_ERROR_UNKNOWN_OBJECT,
		                           SD_BUS_ERROR_UNKNOWN_INTERFACE)) {
			fprintf(stderr, "smallbmsctl: %s: no battery %u in the bank\n", c->what, n);
			sd_bus_error_free(&e);
			return CTL_EXIT_FAILED;
		}
		r = ctl_fail(c, r, &e);
		sd_bus_error_free(&e);
		return r;
	}
	r = ctl_battery_read(reply, b);
	sd_bus_message_unref(reply);
	if (r < 0) {
		ctl_battery_done(b);
		return ctl_fail_reply(c, r);
	}
	return CTL_EXIT_OK;
}

int ctl_fetch_batteries(struct ctl *c, struct ctl_battery **v, size_t *n)
{
	sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_ROOT_PATH,
	                           "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", &e,
	                           &reply, NULL);

	if (r < 0) {
		r = ctl_fail(c, r, &e);
		sd_bus_error_free(&e);
		return r;
	}
	r = ctl_batteries_read(reply, v, n);
	sd_bus_message_unref(reply);
	if (r < 0)
		return ctl_fail_reply(c, r);
	return CTL_EXIT_OK;
}

int ctl_fetch_history(struct ctl *c, struct ctl_history *h)
{
	sd_bus_message *reply = NULL;
	int r = get_all(c, CTL_HISTORY_PATH, CTL_HISTORY_IFACE, &reply);

	if (r != CTL_EXIT_OK)
		return r;
	r = ctl_history_read(reply, h);
	sd_bus_message_unref(reply);
	if (r < 0) {
		ctl_history_done(h);
		return ctl_fail_reply(c, r);
	}
	return CTL_EXIT_OK;
}
