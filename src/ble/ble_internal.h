/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared between the files of the BlueZ adapter (ble.c, gatt_app.c, advert.c,
 * agent.c, bluetooth1.c); not part of the daemon's interface. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ble/ble.h"
#include "common/macro.h"

#define BLUEZ_NAME       "org.bluez"
#define BLUEZ_ADAPTER    "org.bluez.Adapter1"
#define BLUEZ_DEVICE     "org.bluez.Device1"
#define BLUEZ_GATT_MGR   "org.bluez.GattManager1"
#define BLUEZ_ADV_MGR    "org.bluez.LEAdvertisingManager1"
#define BLUEZ_AGENT_MGR  "org.bluez.AgentManager1"
#define BLUEZ_GATT_SVC   "org.bluez.GattService1"
#define BLUEZ_GATT_CHR   "org.bluez.GattCharacteristic1"
#define BLUEZ_ADV        "org.bluez.LEAdvertisement1"
#define BLUEZ_AGENT      "org.bluez.Agent1"
#define BLUETOOTH1_IFACE "org.smallbms.Bluetooth1"

/* ATT payloads are at most 512 bytes (Core spec Vol 3 Part F 3.2.9). */
#define BLE_VALUE_MAX 512

enum ble_chr_id {
	BLE_CHR_LEVEL,
	BLE_CHR_STATUS,
	BLE_CHR_SELECT,
	BLE_CHR_BATTERY,
	BLE_CHR_HISTORY,
	BLE_CHR_SETTINGS,
	BLE_CHR_COMMAND,
	BLE_CHR_COUNT,
};

struct ble_chr {
	struct ble *b;
	enum ble_chr_id id;
	char path[64];
	bool notifying;
	size_t value_len; /* the Value property: the last value read or notified */
	uint8_t value[BLE_VALUE_MAX];
};

struct ble_device {
	char *path;
	char address[18];
	char *name;
	bool paired;
	bool connected;
};

enum ble_reg {
	BLE_REG_NONE,
	BLE_REG_PENDING,
	BLE_REG_DONE,
};

struct ble_store;

struct ble {
	sd_event *event;
	sd_bus *bus;
	const struct svc_actions *ops;
	void *userdata;
	struct ble_store *store;
	bool journal;

	struct svc_snapshot *snap; /* the last one given to ble_update */
	bool have_snap;
	uint32_t adv_codes; /* codes the advertisement was last built with */
	unsigned selected_addr;

	/* BlueZ as last seen */
	bool bluez_up;
	char *adapter_path; /* NULL: no adapter */
	char adapter_address[18];
	bool powered;
	bool warned_no_adapter;
	struct ble_device *dev;
	size_t n_dev;
	enum ble_reg app_reg, adv_reg, agent_reg;
	sd_bus_slot *call_objects, *call_app, *call_adv, *call_agent;
	/* The unique name that owns org.bluez (NULL: none) and the matches on
	 * BlueZ's signals, armed for that name alone: a look-alike signal from
	 * any other client is ignored (ble.c, bluez_arm). */
	char *bluez_owner;
	sd_bus_slot *bluez_match[3];
	sd_bus_slot *call_owner;

	struct ble_chr chr[BLE_CHR_COUNT];
	size_t adv_len;
	uint8_t adv_data[64]; /* BTHome service data */
	sd_event_source *adv_timer;
	/* advert.c: BTHome packets A and B alternate (ble_adv_add) */
	sd_event_source *adv_alt_timer;
	bool adv_packet_b; /* the packet now advertised and rebuilt is B */

	struct { /* Bluetooth1 properties as last announced */
		enum bt_state state;
		bool present;
		char address[18];
		uint64_t bonded; /* hash of BondedDevices */
	} shown;
	sd_bus_slot *slots[32];
	size_t n_slots;
};

_printf_(3, 4) void ble_log(const struct ble *b, int prio, const char *fmt, ...);
int ble_keep_slot(struct ble *b, sd_bus_slot *s);

/* gatt_app.c */
int ble_gatt_add(struct ble *b);
void ble_gatt_update(struct ble *b);
void ble_gatt_reset_notify(struct ble *b);

/* advert.c */
int ble_adv_add(struct ble *b);
int ble_adv_rebuild(struct ble *b);

/* agent.c */
int ble_agent_add(struct ble *b);
void ble_agent_warn_default_pin(struct ble *b);

/* bluetooth1.c */
int ble_bluetooth1_add(struct ble *b);
void ble_bluetooth1_changed(struct ble *b, const char *prop);

/* ble.c */
const struct ble_device *ble_device_find(const struct ble *b, const char *path);
bool ble_pin_is_default(const struct ble *b);
