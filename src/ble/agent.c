/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pairing agent (org.bluez.Agent1), capability DisplayYesNo: with LE
 * Secure Connections a phone with a keyboard and a display gets numeric
 * comparison (RequestConfirmation), a keyboard-only phone passkey entry
 * (DisplayPasskey), as checked on kernel 6.1 with bluetoothd 5.66
 * (docs/testing.md). Linux's SMP draws both numbers; the installer
 * sees them through the pairing window (pairing.c), and nothing is accepted
 * without the installer's confirmation. Just Works (RequestAuthorization)
 * is refused: its key is unauthenticated, and the settings would be
 * writable by anyone in range. No request is accepted outside a window.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "ble/ble_internal.h"

#define ERR_REJECTED "org.bluez.Error.Rejected"

static const char *device_label(const struct ble *b, const char *path)
{
	const struct ble_device *d = ble_device_find(b, path);

	return d && d->address[0] ? d->address : path;
}

static int method_release(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble *b = userdata;

	b->agent_reg = BLE_REG_NONE;
	ble_pairing_cancel(b);
	return sd_bus_reply_method_return(m, NULL);
}

/* Legacy and BR/EDR requests a DisplayYesNo agent on LE never needs. */
static int method_refuse(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble *b = userdata;
	const char *dev = NULL;

	(void)sd_bus_message_read(m, "o", &dev);
	ble_log(b, LOG_NOTICE, "pairing with %s refused: %s is not supported",
	        dev ? device_label(b, dev) : "?", sd_bus_message_get_member(m));
	return sd_bus_error_setf(error, ERR_REJECTED, "%s not supported",
	                         sd_bus_message_get_member(m));
}

static int method_request_confirmation(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	const char *dev;
	uint32_t passkey;
	int r;

	r = sd_bus_message_read(m, "ou", &dev, &passkey);
	if (r < 0)
		return r;
	/* answered by ConfirmPairing, the SMP timeout or Cancel */
	r = ble_pairing_prompt(userdata, BLE_PROMPT_CONFIRM, m, dev, passkey, error);
	return r;
}

static int method_display_passkey(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	const char *dev;
	uint32_t passkey;
	uint16_t entered;
	int r;

	r = sd_bus_message_read(m, "ouq", &dev, &passkey, &entered);
	if (r < 0)
		return r;
	r = ble_pairing_prompt(userdata, BLE_PROMPT_DISPLAY, m, dev, passkey, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(m, NULL);
}

static int method_request_authorization(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble *b = userdata;
	const char *dev;
	int r;

	r = sd_bus_message_read(m, "o", &dev);
	if (r < 0)
		return r;
	ble_log(b, LOG_NOTICE,
	        "pairing with %s refused: Just Works (the phone can neither show nor enter "
	        "a number)",
	        device_label(b, dev));
	return sd_bus_error_set(error, ERR_REJECTED, "pairing needs a confirmed number");
}

static int method_authorize_service(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble *b = userdata;
	const struct ble_device *d;
	const char *dev, *uuid;
	int r;

	r = sd_bus_message_read(m, "os", &dev, &uuid);
	if (r < 0)
		return r;
	d = ble_device_find(b, dev);
	if (!d || !d->paired)
		return sd_bus_error_set(error, ERR_REJECTED, "not paired");
	return sd_bus_reply_method_return(m, NULL);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	ble_pairing_cancel(userdata);
	return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable agent_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Release", "", "", method_release, 0),
        SD_BUS_METHOD("RequestPinCode", "o", "s", method_refuse, 0),
        SD_BUS_METHOD("DisplayPinCode", "os", "", method_refuse, 0),
        SD_BUS_METHOD("RequestPasskey", "o", "u", method_refuse, 0),
        SD_BUS_METHOD("DisplayPasskey", "ouq", "", method_display_passkey, 0),
        SD_BUS_METHOD("RequestConfirmation", "ou", "", method_request_confirmation, 0),
        SD_BUS_METHOD("RequestAuthorization", "o", "", method_request_authorization, 0),
        SD_BUS_METHOD("AuthorizeService", "os", "", method_authorize_service, 0),
        SD_BUS_METHOD("Cancel", "", "", method_cancel, 0),
        SD_BUS_VTABLE_END,
};

int ble_agent_add(struct ble *b)
{
	sd_bus_slot *s;
	int r;

	r = sd_bus_add_object_vtable(b->bus, &s, BLE_AGENT_PATH, BLUEZ_AGENT, agent_vtable, b);
	if (r < 0)
		return r;
	return ble_keep_slot(b, s);
}
