/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pairing agent: the BMS has no display and no keyboard, so its
 * passkey is the fixed 6-digit PIN of the store (docs/ble.md). A phone pairs
 * by entering it; a passkey that does not match the PIN is rejected, and so
 * is pairing without one ("just works"), which would leave the settings
 * writable by anyone in range.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "ble/ble_internal.h"
#include "ble/ble_store.h"

#define ERR_REJECTED "org.bluez.Error.Rejected"

static uint32_t pin_passkey(const struct ble *b)
{
	return (uint32_t)strtoul(ble_store_pin(b->store), NULL, 10);
}

void ble_agent_warn_default_pin(struct ble *b)
{
	if (ble_pin_is_default(b))
		ble_log(b, LOG_WARNING,
		        "the pairing PIN is the default 000000: anyone in range "
		        "can pair; set one (org.smallbms.Bluetooth1.SetPin)");
}

static const char *device_label(const struct ble *b, const char *path)
{
	const struct ble_device *d = ble_device_find(b, path);

	return d && d->address[0] ? d->address : path;
}

static int method_release(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble *b = userdata;

	b->agent_reg = BLE_REG_NONE;
	return sd_bus_reply_method_return(m, NULL);
}

static int method_request_passkey(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble *b = userdata;
	const char *dev;
	int r;

	r = sd_bus_message_read(m, "o", &dev);
	if (r < 0)
		return r;
	ble_log(b, LOG_INFO, "pairing request from %s", device_label(b, dev));
	ble_agent_warn_default_pin(b);
	return sd_bus_reply_method_return(m, "u", pin_passkey(b));
}

static int method_request_pin_code(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble *b = userdata;
	const char *dev;
	int r;

	r = sd_bus_message_read(m, "o", &dev);
	if (r < 0)
		return r;
	ble_agent_warn_default_pin(b);
	return sd_bus_reply_method_return(m, "s", ble_store_pin(b->store));
}

/* BlueZ shows us a passkey it chose, or asks us to confirm one: only the
 * PIN is accepted. */
static int check_passkey(struct ble *b, sd_bus_message *m, const char *dev, uint32_t passkey,
                         sd_bus_error *error)
{
	if (passkey != pin_passkey(b)) {
		ble_log(b, LOG_WARNING, "pairing with %s refused: wrong passkey",
		        device_label(b, dev));
		return sd_bus_error_set(error, ERR_REJECTED, "passkey does not match the PIN");
	}
	return sd_bus_reply_method_return(m, NULL);
}

static int method_request_confirmation(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	const char *dev;
	uint32_t passkey;
	int r;

	r = sd_bus_message_read(m, "ou", &dev, &passkey);
	if (r < 0)
		return r;
	return check_passkey(userdata, m, dev, passkey, error);
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
	return check_passkey(userdata, m, dev, passkey, error);
}

static int method_display_pin_code(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble *b = userdata;
	const char *dev, *pin;
	int r;

	r = sd_bus_message_read(m, "os", &dev, &pin);
	if (r < 0)
		return r;
	if (strcmp(pin, ble_store_pin(b->store)) != 0)
		return sd_bus_error_set(error, ERR_REJECTED, "PIN does not match");
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
	ble_log(b, LOG_WARNING, "pairing with %s refused: no passkey (just works)",
	        device_label(b, dev));
	return sd_bus_error_set(error, ERR_REJECTED, "pairing needs the PIN");
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
	return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable agent_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Release", "", "", method_release, 0),
        SD_BUS_METHOD("RequestPinCode", "o", "s", method_request_pin_code, 0),
        SD_BUS_METHOD("DisplayPinCode", "os", "", method_display_pin_code, 0),
        SD_BUS_METHOD("RequestPasskey", "o", "u", method_request_passkey, 0),
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
