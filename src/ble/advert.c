/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LE advertisement: BTHome v2 service data (bthome.c) for passive
 * readers such as Home Assistant, the Battery Service UUID when it fits, and
 * the local name (BlueZ puts it in the scan response), and Discoverable
 * (the Flags) while a pairing window is open. Everything the
 * readout carries does not fit one legacy advertisement, so BTHome packets
 * A and B (bthome.h) alternate every 2.5 s: each value is at most 5 s old.
 * Rebuilt, as the packet now due, at each switch, every 5 s (ble.c) and at
 * once when the codes change (both packets carry the flags); BlueZ (5.47
 * and later) re-reads a registered advertisement's ServiceData when it
 * emits PropertiesChanged, so no re-registration is needed to refresh it.
 */
#include <errno.h>
#include <stdio.h>
#include <syslog.h>
#include <string.h>

#include "ble/ble_internal.h"
#include "ble/ble_store.h"
#include "ble/bthome.h"
#include "ble/uuids.h"

/* Legacy advertising data: 31 bytes, of which the flags take 3, a 16-bit
 * UUID list with one entry 4, the service data 4 + its payload. */
#define ADV_LEGACY_MAX  31
#define ADV_FLAGS_LEN   3
#define ADV_UUID16_LEN  4
#define ADV_SVCDATA_HDR 4

/* Half of the 5 s: A and B each at least every 5 s. */
#define ADV_ALTERNATE_US (2500ULL * 1000)

static bool uuid_fits(const struct ble *b)
{
	return ADV_FLAGS_LEN + ADV_UUID16_LEN + ADV_SVCDATA_HDR + b->adv_len <= ADV_LEGACY_MAX;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
	           &end) != 6)
		return -EINVAL;
	for (size_t i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

int ble_adv_rebuild(struct ble *b)
{
	struct bthome_values v;
	uint8_t mac[6], out[sizeof(b->adv_data)];
	bool encrypt = ble_store_encrypt(b->store);
	uint32_t counter = 0;
	ssize_t n;
	int r;

	if (!b->adapter_path)
		return 0; /* the MAC is part of the nonce: wait for the adapter */
	r = parse_mac(b->adapter_address, mac);
	if (r < 0)
		return r;
	if (encrypt) {
		r = ble_store_next_counter(b->store, &counter);
		if (r < 0)
			return r;
	}
	bthome_values_from_snapshot(b->snap, &v);
	n = bthome_encode(&v, b->adv_packet_b ? BTHOME_PACKET_B : BTHOME_PACKET_A, mac,
	                  encrypt ? ble_store_key(b->store) : NULL, counter, out, sizeof(out));
	if (n < 0)
		return (int)n;
	b->adv_codes = b->snap->prot.codes;
	if ((size_t)n == b->adv_len && memcmp(out, b->adv_data, (size_t)n) == 0)
		return 0;
	memcpy(b->adv_data, out, (size_t)n);
	b->adv_len = (size_t)n;
	if (b->adv_reg != BLE_REG_DONE)
		return 0;
	return sd_bus_emit_properties_changed(b->bus, BLE_ADV_PATH, BLUEZ_ADV, "ServiceData",
	                                      "ServiceUUIDs", NULL);
}

static int prop_type(sd_bus *bus, const char *path, const char *interface, const char *property,
                     sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	/* connectable: a phone connects for the GATT service */
	return sd_bus_message_append(reply, "s", "peripheral");
}

static int prop_uuids(sd_bus *bus, const char *path, const char *interface, const char *property,
                      sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	const struct ble *b = userdata;

	if (uuid_fits(b))
		return sd_bus_message_append(reply, "as", 1, BLE_UUID_BATTERY_SERVICE);
	return sd_bus_message_append(reply, "as", 0);
}

static int prop_service_data(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error)
{
	const struct ble *b = userdata;
	int r;

	r = sd_bus_message_open_container(reply, 'a', "{sv}");
	if (r >= 0 && b->adv_len > 0) {
		r = sd_bus_message_open_container(reply, 'e', "sv");
		if (r >= 0)
			r = sd_bus_message_append(reply, "s", BLE_UUID_BTHOME);
		if (r >= 0)
			r = sd_bus_message_open_container(reply, 'v', "ay");
		if (r >= 0)
			r = sd_bus_message_append_array(reply, 'y', b->adv_data, b->adv_len);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	return r;
}

/* BlueZ turns this into the Flags field: LE General Discoverable while a
 * pairing window is open, so that a phone's general discovery lists the
 * BMS (docs/testing.md); BR/EDR not supported is added by the kernel
 * on an LE-only controller. Passive scanners read the BTHome data either
 * way. */
static int prop_discoverable(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error)
{
	return sd_bus_message_append(reply, "b", ble_pairing_is_open(userdata));
}

void ble_adv_discoverable_changed(struct ble *b)
{
	if (b->adv_reg != BLE_REG_DONE)
		return;
	(void)sd_bus_emit_properties_changed(b->bus, BLE_ADV_PATH, BLUEZ_ADV, "Discoverable", NULL);
}

static int prop_name(sd_bus *bus, const char *path, const char *interface, const char *property,
                     sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	return sd_bus_message_append(reply, "s", "smallbms");
}

static int method_release(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble *b = userdata;

	/* BlueZ dropped it (adapter gone or reset): the 5 s tick asks again */
	b->adv_reg = BLE_REG_NONE;
	ble_bluetooth1_changed(b, NULL);
	return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable adv_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Type", "s", prop_type, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ServiceUUIDs", "as", prop_uuids, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ServiceData", "a{sv}", prop_service_data, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LocalName", "s", prop_name, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Discoverable", "b", prop_discoverable, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD("Release", "", "", method_release, 0),
        SD_BUS_VTABLE_END,
};

static int on_alternate(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ble *b = userdata;
	int r;

	b->adv_packet_b = !b->adv_packet_b;
	r = ble_adv_rebuild(b);
	if (r < 0)
		ble_log(b, LOG_WARNING, "advertisement not rebuilt: %s", strerror(-r));
	(void)sd_event_source_set_time_relative(s, ADV_ALTERNATE_US);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

/* The alternation timer lives as long as the advertisement object: ble.c
 * frees the object's slot before the struct ble. */
static void adv_slot_destroyed(void *userdata)
{
	struct ble *b = userdata;

	b->adv_alt_timer = sd_event_source_disable_unref(b->adv_alt_timer);
}

int ble_adv_add(struct ble *b)
{
	sd_bus_slot *s;
	int r;

	r = sd_bus_add_object_vtable(b->bus, &s, BLE_ADV_PATH, BLUEZ_ADV, adv_vtable, b);
	if (r < 0)
		return r;
	r = sd_bus_slot_set_destroy_callback(s, adv_slot_destroyed);
	if (r < 0) {
		sd_bus_slot_unref(s);
		return r;
	}
	r = ble_keep_slot(b, s);
	if (r < 0)
		return r;
	return sd_event_add_time_relative(b->event, &b->adv_alt_timer, CLOCK_MONOTONIC,
	                                  ADV_ALTERNATE_US, 0, on_alternate, b);
}
