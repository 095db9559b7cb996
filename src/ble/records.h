/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The byte layouts of smallbmsd's GATT characteristics (docs/ble.md): what a
 * phone reads from the snapshot and what it may write. Pure functions: the
 * BlueZ adapter (gatt_app.c) calls them with the daemon's snapshot and hands
 * a parsed write to struct svc_actions. Every record starts with
 * BLE_RECORD_VERSION; multi-byte fields are little-endian; a value too wide
 * for its field is clamped to the field's bound, never wrapped.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/settings.h"
#include "service/snapshot.h"

#define BLE_RECORD_VERSION 1

/* Exact or largest sizes, for buffers. */
#define BLE_RECORD_STATUS_LEN      40
#define BLE_RECORD_BATTERY_MAX     (54 + 2 * M8_MAX_CELLS + 2 * M8_MAX_TEMPS)
#define BLE_RECORD_HISTORY_MAX     (58 + 9 * HISTORY_ERRORS)
#define BLE_RECORD_SETTINGS_MAX(n) (2 + 4 * (n))
/* ATT's longest attribute value. */
#define BLE_ATT_MAX_VALUE 512
/* Pairs a settings write may carry in one ATT value. */
#define BLE_SETTINGS_WRITE_MAX ((BLE_ATT_MAX_VALUE - 1) / 5)

/* Each returns bytes written, or -ENOBUFS / -ENOENT (no such battery). */
ssize_t ble_record_status(const struct svc_snapshot *s, uint8_t *buf, size_t cap);
ssize_t ble_record_battery(const struct svc_snapshot *s, unsigned addr, uint8_t *buf, size_t cap);
ssize_t ble_record_history(const struct svc_snapshot *s, uint8_t *buf, size_t cap);
ssize_t ble_record_settings(const struct svc_snapshot *s, uint8_t *buf, size_t cap);

/* The Battery Level (0x2A19) value: SoC in whole %, rounded to nearest,
 * 0..100; -ENODATA while SoC is not known. */
int ble_battery_level(const struct svc_snapshot *s);

/* A settings write: version byte, then (u8 registry index, i32 LE value)
 * pairs. Fills ch[] (names from the registry) for svc_actions.set_settings.
 * -EINVAL with err for a bad version, length, index or a duplicate. */
int ble_settings_write_parse(const uint8_t *p, size_t len, struct setting_change *ch, size_t max,
                             size_t *n, char *err, size_t errlen);

enum ble_command_op {
	BLE_CMD_SYNC = 1,
	BLE_CMD_SET_SOC = 2,
	BLE_CMD_RESET_DEFAULTS = 3,
	BLE_CMD_RESET_HISTORY = 4,
};

struct ble_command {
	enum ble_command_op op;
	int32_t soc_cpct; /* BLE_CMD_SET_SOC only */
};

/* version, u8 op, and for BLE_CMD_SET_SOC an i32 soc_cpct 0..10000.
 * -EINVAL with err for a bad version, op or length, -ERANGE for a SoC
 * outside 0..10000. */
int ble_command_parse(const uint8_t *p, size_t len, struct ble_command *cmd, char *err,
                      size_t errlen);

/* The battery-select write: version byte + u8 address 1..50. -EINVAL. */
int ble_battery_select_parse(const uint8_t *p, size_t len, unsigned *addr);

/* How a GATT WriteValue answers a refused write (r: a parse or
 * svc_actions result): the D-Bus error name and message, which BlueZ
 * turns into the ATT error att. An application error
 * 0x80..0x9F travels as org.bluez.Error.Failed with the code as message. */
struct ble_att_error {
	const char *name;
	const char *message;
	uint8_t att;
};
struct ble_att_error ble_write_error(int r);
