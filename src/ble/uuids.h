/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The GATT UUIDs of smallbmsd (docs/ble.md). The project's own service and
 * characteristics share one random base, f086xxxx-c631-49cc-b9b4-8223cb1b8c9f,
 * drawn once and never to change: phone apps find the BMS by it. The
 * standard Battery Service is spelled out in full because BlueZ's GATT
 * application objects take 128-bit strings.
 */
#pragma once

#define BLE_UUID_SERVICE        "f0860100-c631-49cc-b9b4-8223cb1b8c9f"
#define BLE_UUID_STATUS         "f0860101-c631-49cc-b9b4-8223cb1b8c9f"
#define BLE_UUID_BATTERY_SELECT "f0860102-c631-49cc-b9b4-8223cb1b8c9f"
#define BLE_UUID_BATTERY_DATA   "f0860103-c631-49cc-b9b4-8223cb1b8c9f"
#define BLE_UUID_HISTORY        "f0860104-c631-49cc-b9b4-8223cb1b8c9f"
#define BLE_UUID_SETTINGS       "f0860105-c631-49cc-b9b4-8223cb1b8c9f"
#define BLE_UUID_COMMAND        "f0860106-c631-49cc-b9b4-8223cb1b8c9f"

/* Bluetooth SIG Battery Service 0x180F and its Battery Level 0x2A19. */
#define BLE_UUID_BATTERY_SERVICE "0000180f-0000-1000-8000-00805f9b34fb"
#define BLE_UUID_BATTERY_LEVEL   "00002a19-0000-1000-8000-00805f9b34fb"

/* BTHome's 16-bit service UUID 0xFCD2 (its advertisement service data). */
#define BLE_UUID_BTHOME "0000fcd2-0000-1000-8000-00805f9b34fb"
