/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * org.smallbms.Bluetooth1 at /org/smallbms/bluetooth on the daemon's own
 * bus name (docs/dbus-api.md): the Bluetooth state, the bonded phones, the
 * pairing window (pairing.c) and the BTHome bind key. Every method asks
 * polkit (org.smallbms.bluetooth, polkit.h), and so does Set of Encrypted
 * (taken by a bus filter before sd-bus's property dispatch, which cannot
 * wait for polkit).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "ble/ble_internal.h"
#include "ble/ble_store.h"
#include "polkit/polkit.h"

#define ERR_INVALID_VALUE  "org.smallbms.Error.InvalidValue"
#define ERR_NOT_AVAILABLE  "org.smallbms.Error.NotAvailable"
#define ERR_UNKNOWN_DEVICE "org.smallbms.Error.UnknownDevice"
#define ERR_SAVE_FAILED    "org.smallbms.Error.SaveFailed"

static const char *state_name(enum bt_state s)
{
	switch (s) {
	case BT_ADVERTISING:
		return "advertising";
	case BT_CONNECTED:
		return "connected";
	default:
		return "off";
	}
}

/* FNV-1a over the bonded devices, to tell when the list changed. */
static uint64_t bonded_hash(const struct ble *b)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < b->n_dev; i++) {
		const char *parts[2] = {b->dev[i].address, b->dev[i].name ? b->dev[i].name : ""};

		if (!b->dev[i].paired)
			continue;
		for (size_t k = 0; k < 2; k++)
			for (const char *p = parts[k];; p++) {
				h = (h ^ (uint8_t)*p) * 1099511628211ULL;
				if (!*p)
					break;
			}
	}
	return h;
}

void ble_bluetooth1_changed(struct ble *b, const char *prop)
{
	const char *names[5];
	size_t n = 0;
	enum bt_state st = ble_state(b);
	bool present = b->adapter_path != NULL;
	uint64_t bonded = bonded_hash(b);

	if (prop)
		names[n++] = prop;
	if (st != b->shown.state)
		names[n++] = "State";
	if (present != b->shown.present)
		names[n++] = "AdapterPresent";
	if (strcmp(b->adapter_address, b->shown.address) != 0)
		names[n++] = "Address";
	if (bonded != b->shown.bonded)
		names[n++] = "BondedDevices";
	b->shown.state = st;
	b->shown.present = present;
	memcpy(b->shown.address, b->adapter_address, sizeof(b->shown.address));
	b->shown.bonded = bonded;
	if (n == 0)
		return;
	names[n] = NULL;
	(void)sd_bus_emit_properties_changed_strv(b->bus, BLE_BLUETOOTH_PATH, BLUETOOTH1_IFACE,
	                                          (char **)names);
}

static int prop_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                      sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	return sd_bus_message_append(reply, "s", state_name(ble_state(userdata)));
}

static int prop_present(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	const struct ble *b = userdata;

	return sd_bus_message_append(reply, "b", b->adapter_path != NULL);
}

static int prop_address(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	const struct ble *b = userdata;

	return sd_bus_message_append(reply, "s", b->adapter_address);
}

static int prop_encrypted(sd_bus *bus, const char *path, const char *interface,
                          const char *property, sd_bus_message *reply, void *userdata,
                          sd_bus_error *error)
{
	const struct ble *b = userdata;

	return sd_bus_message_append(reply, "b", ble_store_encrypt(b->store));
}

static int apply_encrypted(struct ble *b, bool on, sd_bus_error *error)
{
	int r;

	if (on == ble_store_encrypt(b->store))
		return 0;
	r = ble_store_set_encrypt(b->store, on);
	if (r < 0)
		return sd_bus_error_setf(error, ERR_SAVE_FAILED, "Bluetooth state not saved: %s",
		                         strerror(-r));
	ble_log(b, LOG_NOTICE, "advertisement %s",
	        on ? "encrypted" : "unencrypted (readable by anyone)");
	r = sd_bus_emit_properties_changed(b->bus, BLE_BLUETOOTH_PATH, BLUETOOTH1_IFACE,
	                                   "Encrypted", NULL);
	if (r < 0)
		ble_log(b, LOG_WARNING, "change of Encrypted not signalled: %s", strerror(-r));
	r = ble_adv_rebuild(b);
	if (r < 0)
		ble_log(b, LOG_WARNING, "advertisement not rebuilt: %s", strerror(-r));
	return 0;
}

/* Properties.Set on the Bluetooth1 object, before sd-bus's own dispatch: a
 * property setter must answer at once, but the write waits for polkit
 * (org.smallbms.bluetooth), so the call is taken here. Set of Encrypted is
 * done here; anything else (another property, another interface) goes on
 * to sd-bus, which refuses it as read-only or unknown. */
static int set_filter(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble *b = userdata;
	const char *iface, *prop, *contents = NULL, *path = sd_bus_message_get_path(m);
	char type = 0;
	int on, r;

	if (!sd_bus_message_is_method_call(m, "org.freedesktop.DBus.Properties", "Set") || !path ||
	    strcmp(path, BLE_BLUETOOTH_PATH) != 0)
		return 0;
	sd_bus_message_rewind(m, true);
	r = polkit_check(&b->polkit, m, POLKIT_ACTION_BLUETOOTH, error);
	if (r <= 0)
		return r < 0 ? r : 1; /* refused, or answered once polkit has */
	if (sd_bus_message_read(m, "ss", &iface, &prop) < 0 ||
	    strcmp(iface, BLUETOOTH1_IFACE) != 0 || strcmp(prop, "Encrypted") != 0) {
		sd_bus_message_rewind(m, true);
		return 0;
	}
	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r <= 0 || type != 'v' || !contents || strcmp(contents, "b") != 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
		                         "Encrypted is a boolean (b), not '%s'",
		                         contents ? contents : "");
	r = sd_bus_message_enter_container(m, 'v', "b");
	if (r >= 0)
		r = sd_bus_message_read(m, "b", &on);
	if (r < 0)
		return r;
	r = apply_encrypted(b, on, error);
	if (r < 0)
		return r;
	r = sd_bus_reply_method_return(m, NULL);
	return r < 0 ? r : 1;
}

/* Never reached: set_filter takes every Set of Encrypted. Should the
 * filter be missing, nothing changes without authorization. */
static int set_encrypted(sd_bus *bus, const char *path, const char *interface, const char *property,
                         sd_bus_message *value, void *userdata, sd_bus_error *error)
{
	ble_log(userdata, LOG_ERR, "Set of Encrypted reached the property setter: refused");
	return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
	                        "Encrypted cannot be set now (not authorized)");
}

static int prop_pairing_open(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error)
{
	return sd_bus_message_append(reply, "b", ble_pairing_is_open(userdata));
}

static int prop_pairing_left(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error)
{
	return sd_bus_message_append(reply, "u", ble_pairing_seconds_left(userdata));
}

static int prop_bonded(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	const struct ble *b = userdata;
	int r;

	r = sd_bus_message_open_container(reply, 'a', "(ss)");
	for (size_t i = 0; r >= 0 && i < b->n_dev; i++)
		if (b->dev[i].paired)
			r = sd_bus_message_append(reply, "(ss)", b->dev[i].address,
			                          b->dev[i].name ? b->dev[i].name : "");
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	return r;
}

static int method_open_pairing(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	int ra = polkit_check(&((struct ble *)userdata)->polkit, m, POLKIT_ACTION_BLUETOOTH, error);
	if (ra <= 0)
		return ra < 0 ? ra : 1; /* refused, or answered once polkit has */
	struct ble *b = userdata;
	uint32_t timeout_s;
	int r;

	r = sd_bus_message_read(m, "u", &timeout_s);
	if (r < 0)
		return r;
	r = ble_pairing_open(b, timeout_s, sd_bus_message_get_sender(m));
	if (r == -ERANGE)
		return sd_bus_error_setf(error, ERR_INVALID_VALUE,
		                         "timeout %u s: %d..%d s expected", timeout_s,
		                         BLE_PAIR_TIMEOUT_MIN_S, BLE_PAIR_TIMEOUT_MAX_S);
	if (r == -ENODEV)
		return sd_bus_error_set(error, ERR_NOT_AVAILABLE, "no powered Bluetooth adapter");
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(m, NULL);
}

static int method_close_pairing(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	int ra = polkit_check(&((struct ble *)userdata)->polkit, m, POLKIT_ACTION_BLUETOOTH, error);
	if (ra <= 0)
		return ra < 0 ? ra : 1; /* refused, or answered once polkit has */
	ble_pairing_close(userdata, "closed", NULL);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_confirm_pairing(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	int ra = polkit_check(&((struct ble *)userdata)->polkit, m, POLKIT_ACTION_BLUETOOTH, error);
	if (ra <= 0)
		return ra < 0 ? ra : 1; /* refused, or answered once polkit has */
	uint64_t id;
	int accept, r;

	r = sd_bus_message_read(m, "tb", &id, &accept);
	if (r < 0)
		return r;
	r = ble_pairing_answer(userdata, id, accept);
	if (r == -ENOENT)
		return sd_bus_error_setf(error, ERR_NOT_AVAILABLE,
		                         "no pairing request %llu waits (it ended or timed out)",
		                         (unsigned long long)id);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(m, NULL);
}

static int method_get_bind_key(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	int ra = polkit_check(&((struct ble *)userdata)->polkit, m, POLKIT_ACTION_BLUETOOTH, error);
	if (ra <= 0)
		return ra < 0 ? ra : 1; /* refused, or answered once polkit has */
	struct ble *b = userdata;
	char hex[2 * BLE_STORE_KEY_LEN + 1];
	int r;

	r = ble_store_key_hex(b->store, hex);
	if (r < 0)
		return sd_bus_error_set(error, ERR_NOT_AVAILABLE, "no bind key");
	return sd_bus_reply_method_return(m, "s", hex);
}

static int method_new_bind_key(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	int ra = polkit_check(&((struct ble *)userdata)->polkit, m, POLKIT_ACTION_BLUETOOTH, error);
	if (ra <= 0)
		return ra < 0 ? ra : 1; /* refused, or answered once polkit has */
	struct ble *b = userdata;
	int r;

	r = ble_store_new_key(b->store);
	if (r < 0)
		return sd_bus_error_setf(error, ERR_SAVE_FAILED, "new key not saved: %s",
		                         strerror(-r));
	ble_log(b, LOG_NOTICE, "new BTHome bind key: receivers need it again");
	r = ble_adv_rebuild(b);
	if (r < 0)
		ble_log(b, LOG_WARNING, "advertisement not rebuilt: %s", strerror(-r));
	return sd_bus_reply_method_return(m, NULL);
}

static int forget_done(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	sd_bus_message *call = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	if (e)
		(void)sd_bus_reply_method_errorf(call, ERR_NOT_AVAILABLE, "BlueZ refused: %s",
		                                 e->message ? e->message : e->name);
	else
		(void)sd_bus_reply_method_return(call, NULL);
	return 0;
}

static void unref_message(void *userdata)
{
	sd_bus_message_unref(userdata);
}

static int method_forget(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	int ra = polkit_check(&((struct ble *)userdata)->polkit, m, POLKIT_ACTION_BLUETOOTH, error);
	if (ra <= 0)
		return ra < 0 ? ra : 1; /* refused, or answered once polkit has */
	struct ble *b = userdata;
	const struct ble_device *d = NULL;
	sd_bus_slot *slot;
	const char *address;
	int r;

	r = sd_bus_message_read(m, "s", &address);
	if (r < 0)
		return r;
	if (!b->adapter_path)
		return sd_bus_error_set(error, ERR_NOT_AVAILABLE, "no Bluetooth adapter");
	for (size_t i = 0; i < b->n_dev && !d; i++)
		if (strcasecmp(b->dev[i].address, address) == 0)
			d = &b->dev[i];
	if (!d)
		return sd_bus_error_setf(error, ERR_UNKNOWN_DEVICE, "no device %s", address);
	/* answered when BlueZ has removed the bond */
	r = sd_bus_call_method_async(b->bus, &slot, BLUEZ_NAME, b->adapter_path, BLUEZ_ADAPTER,
	                             "RemoveDevice", forget_done, m, "o", d->path);
	if (r < 0)
		return r;
	sd_bus_message_ref(m);
	(void)sd_bus_slot_set_destroy_callback(slot, unref_message);
	(void)sd_bus_slot_set_floating(slot, 1);
	sd_bus_slot_unref(slot);
	ble_log(b, LOG_NOTICE, "forgetting %s", address);
	return 1;
}

static const sd_bus_vtable bluetooth1_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("State", "s", prop_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("AdapterPresent", "b", prop_present, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Address", "s", prop_address, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_WRITABLE_PROPERTY("Encrypted", "b", prop_encrypted, set_encrypted, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE | SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("PairingOpen", "b", prop_pairing_open, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PairingSecondsLeft", "u", prop_pairing_left, 0, 0),
        SD_BUS_PROPERTY("BondedDevices", "a(ss)", prop_bonded, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("OpenPairing", SD_BUS_ARGS("u", timeout_s), SD_BUS_NO_RESULT,
                                method_open_pairing, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ClosePairing", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_close_pairing, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ConfirmPairing", SD_BUS_ARGS("t", id, "b", accept),
                                SD_BUS_NO_RESULT, method_confirm_pairing,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("PairingRequest",
                                SD_BUS_ARGS("t", id, "s", kind, "s", address, "s", name, "u",
                                            passkey, "u", seconds_left),
                                0),
        SD_BUS_SIGNAL_WITH_ARGS("PairingRequestEnded", SD_BUS_ARGS("t", id, "s", outcome), 0),
        SD_BUS_SIGNAL_WITH_ARGS("PairingEnded", SD_BUS_ARGS("s", reason, "s", address, "s", name),
                                0),
        SD_BUS_METHOD_WITH_ARGS("GetBindKey", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", key),
                                method_get_bind_key, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("NewBindKey", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_new_bind_key,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Forget", SD_BUS_ARGS("s", address), SD_BUS_NO_RESULT,
                                method_forget, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int ble_bluetooth1_add(struct ble *b)
{
	sd_bus_slot *s;
	int r;

	r = sd_bus_add_filter(b->bus, &s, set_filter, b);
	if (r < 0)
		return r;
	r = ble_keep_slot(b, s);
	if (r < 0)
		return r;
	r = sd_bus_add_object_vtable(b->bus, &s, BLE_BLUETOOTH_PATH, BLUETOOTH1_IFACE,
	                             bluetooth1_vtable, b);
	if (r < 0)
		return r;
	return ble_keep_slot(b, s);
}
