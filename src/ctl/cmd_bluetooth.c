/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bluetooth and its sub-commands: org.smallbms.Bluetooth1 (docs/dbus-api.md). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/escape.h"

#define ERR_UNKNOWN_DEVICE "org.smallbms.Error.UnknownDevice"
#define BIND_KEY_HEX_LEN   32

/* As ctl_fail(), and a daemon that serves no Bluetooth object (its store is
 * damaged, or it predates Bluetooth) is said so rather than "unknown object". */
static int fail_bt(struct ctl *c, int r, sd_bus_error *e)
{
	if (sd_bus_error_has_names(e, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE,
	                           SD_BUS_ERROR_UNKNOWN_METHOD, SD_BUS_ERROR_UNKNOWN_PROPERTY)) {
		fprintf(stderr,
		        "smallbmsctl: %s: smallbmsd serves no Bluetooth (" CTL_BLUETOOTH_IFACE
		        " at " CTL_BLUETOOTH_PATH "); its journal says why\n",
		        c->what);
		sd_bus_error_free(e);
		return CTL_EXIT_FAILED;
	}
	if (sd_bus_error_has_name(e, ERR_UNKNOWN_DEVICE)) {
		fprintf(stderr,
		        "smallbmsctl: %s: BlueZ knows no device %s ('smallbmsctl bluetooth' lists "
		        "the bonded phones)\n",
		        c->what, c->args->bt_address);
		sd_bus_error_free(e);
		return CTL_EXIT_FAILED;
	}
	r = ctl_fail(c, r, e);
	sd_bus_error_free(e);
	return r;
}

static int finish(struct ctl *c, struct out *o)
{
	if (out_finish(o) < 0) {
		fprintf(stderr, "smallbmsctl: %s: cannot write the output\n", c->what);
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

static void print_bonded(struct out *o, const struct ctl_bondeds *b)
{
	if (!o->json) {
		if (b->n == 0)
			out_text(o, "%-19s none", "Bonded phones:");
		for (size_t i = 0; i < b->n; i++)
			out_text(o, "%-19s %s  %s", i == 0 ? "Bonded phones:" : "", b->v[i].address,
			         *b->v[i].name ? b->v[i].name : "(no name)");
		return;
	}
	out_array_begin(o, "bonded_devices", NULL);
	for (size_t i = 0; i < b->n; i++) {
		out_object_begin(o, NULL, NULL);
		out_str(o, "address", NULL, b->v[i].address);
		out_str(o, "name", NULL, b->v[i].name);
		out_object_end(o);
	}
	out_array_end(o);
}

static void print_bluetooth(struct out *o, const struct ctl_bluetooth *bt)
{
	out_str(o, "state", "State", bt->state);
	out_bool(o, "adapter_present", NULL, bt->adapter_present, NULL);
	if (*bt->address)
		out_str(o, "address", NULL, bt->address);
	else
		out_null(o, "address", NULL, NULL);
	if (!o->json) {
		if (bt->adapter_present)
			out_text(o, "%-19s %s", "Adapter:", *bt->address ? bt->address : "present");
		else
			out_text(o, "%-19s %s",
			         "Adapter:", "none (no adapter, or BlueZ not running)");
	}
	out_bool(o, "encrypted", "Advertisement", bt->encrypted,
	         bt->encrypted ? "encrypted with the bind key (smallbmsctl bluetooth bind-key)"
	                       : "UNENCRYPTED: anyone in range can read it");
	out_bool(o, "pairing_open", "Pairing window", bt->pairing_open,
	         bt->pairing_open ? "OPEN: new phones can pair" : "closed (smallbmsctl bluetooth pair)");
	out_uint(o, "pairing_seconds_left", bt->pairing_open ? "Pairing time left" : NULL,
	         bt->pairing_seconds_left, NULL);
	print_bonded(o, &bt->bonded);
}

int ctl_cmd_bluetooth(struct ctl *c)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	struct ctl_bluetooth bt;
	struct out o;
	int r;

	r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_BLUETOOTH_PATH,
	                       "org.freedesktop.DBus.Properties", "GetAll", &e, &reply, "s",
	                       CTL_BLUETOOTH_IFACE);
	if (r < 0)
		return fail_bt(c, r, &e);
	r = ctl_bluetooth_read(reply, &bt);
	sd_bus_message_unref(reply);
	if (r < 0) {
		ctl_bluetooth_done(&bt);
		return ctl_fail_reply(c, r);
	}
	out_init(&o, stdout, c->args->json, true);
	print_bluetooth(&o, &bt);
	ctl_bluetooth_done(&bt);
	return finish(c, &o);
}

static bool key_well_formed(const char *key)
{
	return strlen(key) == BIND_KEY_HEX_LEN &&
	       strspn(key, "0123456789abcdef") == BIND_KEY_HEX_LEN;
}

int ctl_cmd_bt_bind_key(struct ctl *c)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *key;
	struct out o;
	int encrypted, r;

	r = sd_bus_get_property_trivial(c->bus, CTL_BUS_NAME, CTL_BLUETOOTH_PATH,
	                                CTL_BLUETOOTH_IFACE, "Encrypted", &e, 'b', &encrypted);
	if (r < 0)
		return fail_bt(c, r, &e);
	r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_BLUETOOTH_PATH, CTL_BLUETOOTH_IFACE,
	                       "GetBindKey", &e, &reply, NULL);
	if (r < 0)
		return fail_bt(c, r, &e);
	r = sd_bus_message_read(reply, "s", &key);
	if (r >= 0 && !key_well_formed(key))
		r = -EBADMSG;
	if (r < 0) {
		sd_bus_message_unref(reply);
		return ctl_fail_reply(c, r);
	}
	out_init(&o, stdout, c->args->json, true);
	out_str(&o, "bind_key", NULL, key);
	out_bool(&o, "encrypted", NULL, encrypted, NULL);
	/* the key alone on standard output, so that $(...) takes it as it is */
	if (!c->args->json) {
		ctl_escape_write(stdout, key);
		putchar('\n');
		if (encrypted)
			fputs("Home Assistant: enter this as the bind key when the BTHome "
			      "integration discovers the device\n",
			      stderr);
		else
			fputs("The advertisement is unencrypted now, so BTHome receivers ask for "
			      "no "
			      "key ('smallbmsctl bluetooth encryption on' to use it)\n",
			      stderr);
	}
	sd_bus_message_unref(reply);
	return finish(c, &o);
}

int ctl_cmd_bt_new_bind_key(struct ctl *c)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_BLUETOOTH_PATH, CTL_BLUETOOTH_IFACE,
	                           "NewBindKey", &e, NULL, NULL);

	if (r < 0)
		return fail_bt(c, r, &e);
	return CTL_EXIT_OK;
}

int ctl_cmd_bt_encryption(struct ctl *c)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_set_property(c->bus, CTL_BUS_NAME, CTL_BLUETOOTH_PATH, CTL_BLUETOOTH_IFACE,
	                            "Encrypted", &e, "b", (int)c->args->encrypt);

	if (r < 0)
		return fail_bt(c, r, &e);
	return CTL_EXIT_OK;
}

int ctl_cmd_bt_forget(struct ctl *c)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_BLUETOOTH_PATH, CTL_BLUETOOTH_IFACE,
	                           "Forget", &e, NULL, "s", c->args->bt_address);

	if (r < 0)
		return fail_bt(c, r, &e);
	return CTL_EXIT_OK;
}
