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
#include "polkit/polkit.h"

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

/* A GATT write whose change is in effect and is answered once its save is
 * durable (service/actions.h, SVC_PENDING; ble_saved). At most
 * BLE_PENDING_MAX wait: more are refused as busy before anything changes. */
#define BLE_PENDING_MAX 8

struct ble_pending {
	sd_bus_message *call; /* the WriteValue call (a reference) */
	uint64_t ticket;
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

/* The kernel's SMP gives up about 30 s after a pairing request and BlueZ
 * then calls the agent's Cancel (docs/testing.md, BlueZ): a request
 * not answered by then is void. */
#define BLE_SMP_TIMEOUT_US (30ULL * 1000 * 1000)
/* Pairing window: OpenPairing's timeout bounds and default, seconds. */
#define BLE_PAIR_TIMEOUT_MIN_S     10
#define BLE_PAIR_TIMEOUT_MAX_S     600
#define BLE_PAIR_TIMEOUT_DEFAULT_S 120
/* Agent requests one window accepts; one more closes it. */
#define BLE_PAIR_MAX_ATTEMPTS 5

enum ble_prompt_kind {
	BLE_PROMPT_NONE,
	BLE_PROMPT_CONFIRM, /* numeric comparison: the installer confirms */
	BLE_PROMPT_DISPLAY, /* passkey entry: the installer types it on the phone */
};

/* pairing.c: the window and the one request shown to the installer. */
struct ble_pairing {
	bool open;
	uint64_t deadline_us; /* CLOCK_MONOTONIC */
	sd_event_source *timer;
	char *opener; /* unique bus name that opened the window: gets the prompts */
	sd_bus_slot *opener_match;
	unsigned attempts;
	uint64_t next_id;
	enum ble_prompt_kind kind;
	uint64_t id;
	char *device; /* BlueZ object path of the phone */
	uint32_t passkey;
	uint64_t prompt_deadline_us;
	sd_event_source *prompt_timer;
	sd_bus_message *call; /* RequestConfirmation, answered on ConfirmPairing */
	/* Adapter1.Pairable as last seen or set */
	bool pairable_known, adapter_pairable;
	sd_bus_slot *call_pairable;
};

struct ble {
	struct polkit_registry polkit; /* write calls waiting for polkit's answer */
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
	struct ble_pending pending[BLE_PENDING_MAX];
	size_t n_pending;
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
	struct ble_pairing pair;
	sd_bus_slot *slots[32];
	size_t n_slots;
};

_printf_(3, 4) void ble_log(const struct ble *b, int prio, const char *fmt, ...);
int ble_keep_slot(struct ble *b, sd_bus_slot *s);

/* gatt_app.c */
int ble_gatt_add(struct ble *b);
void ble_gatt_update(struct ble *b);
void ble_gatt_reset_notify(struct ble *b);
/* Drops the writes still waiting for their save (unanswered: the bus is
 * going away with the object). */
void ble_gatt_pending_free(struct ble *b);

/* advert.c */
int ble_adv_add(struct ble *b);
int ble_adv_rebuild(struct ble *b);
/* the advertisement's Discoverable follows the pairing window */
void ble_adv_discoverable_changed(struct ble *b);

/* agent.c: BlueZ's Agent1, capability DisplayYesNo */
#define BLE_AGENT_CAPABILITY "DisplayYesNo"
int ble_agent_add(struct ble *b);

/* pairing.c */
bool ble_pairing_is_open(const struct ble *b);
uint32_t ble_pairing_seconds_left(const struct ble *b);
/* -ERANGE for a timeout out of bounds, -ENODEV without a powered adapter. */
int ble_pairing_open(struct ble *b, uint32_t timeout_s, const char *opener);
/* reason: "timeout", "bonded", "closed", "attempts", "opener gone"... */
void ble_pairing_close(struct ble *b, const char *reason, const struct ble_device *bonded);
/* An agent request: 1 when shown (a confirmation is answered later), 0 when
 * it repeats the one shown, else the error set on error (reject). */
int ble_pairing_prompt(struct ble *b, enum ble_prompt_kind kind, sd_bus_message *m,
                       const char *device, uint32_t passkey, sd_bus_error *error);
/* The installer's answer to request id; -ENOENT when it is not the one shown. */
int ble_pairing_answer(struct ble *b, uint64_t id, bool accept);
void ble_pairing_cancel(struct ble *b);
/* A device of our adapter became paired. */
void ble_pairing_bonded(struct ble *b, const struct ble_device *d);
void ble_pairing_sync_adapter(struct ble *b);
void ble_pairing_adapter_pairable(struct ble *b, bool pairable);
void ble_pairing_adapter_lost(struct ble *b);
void ble_pairing_free(struct ble *b);
/* in, printable ASCII kept, '"', '\\' and everything else as \xNN */
void ble_escape(const char *in, char *out, size_t outlen);

/* bluetooth1.c */
int ble_bluetooth1_add(struct ble *b);
void ble_bluetooth1_changed(struct ble *b, const char *prop);

/* ble.c */
const struct ble_device *ble_device_find(const struct ble *b, const char *path);
