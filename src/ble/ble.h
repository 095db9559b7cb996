/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * smallbmsd's Bluetooth front end on BlueZ (org.bluez over the system bus):
 * a GATT application (Battery Service and the project service), a BTHome v2
 * advertisement, a pairing agent that pairs new phones only in a pairing
 * window (pairing.c), and the daemon's own org.smallbms.Bluetooth1 object. It reads only the snapshot it is given and
 * changes the BMS only through struct svc_actions.
 *
 * BlueZ may be absent, leave and come back, or power its adapter off and on:
 * everything is registered again by itself. Without an adapter the state is
 * BT_OFF and the rest of the daemon runs unchanged.
 */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "core/leds.h"
#include "service/actions.h"
#include "service/snapshot.h"

struct ble;

/* Object paths: the GATT application (with its ObjectManager), the
 * advertisement, the agent, and the daemon's Bluetooth1 object. The
 * advertisement and the agent sit below the application's ObjectManager,
 * which keeps all of BlueZ's objects out of the daemon's ObjectManager at
 * /org/smallbms (sd-bus does not descend into a nested one); BlueZ ignores
 * interfaces other than GATT ones in the application's object list. */
#define BLE_APP_PATH       "/org/smallbms/ble"
#define BLE_ADV_PATH       "/org/smallbms/ble/advertisement0"
#define BLE_AGENT_PATH     "/org/smallbms/ble/agent"
#define BLE_BLUETOOTH_PATH "/org/smallbms/bluetooth"

/* What BlueZ refused is registered again this often. The advertisement is
 * rebuilt every 2.5 s, alternating its two packets (advert.c), and at once
 * when the codes change. */
#define BLE_ADV_REFRESH_US (5ULL * 1000 * 1000)

/*
 * Attaches to e and system_bus (both referenced). state_dir holds the
 * "bluetooth/" store (bind key, counter). ops and userdata stay the
 * caller's and must outlive the returned object; with an asynchronous ops
 * table (service/actions.h) a write is answered once its save is durable,
 * which the caller reports through ble_saved. A store that cannot be
 * opened or read is an error (-errno): no new key is made over a corrupt
 * one. An absent BlueZ is not an error.
 */
int ble_new(struct ble **ret, sd_event *e, sd_bus *system_bus, const char *state_dir,
            const struct svc_actions *ops, void *userdata);
/* After each evaluation: readouts, notifications, advertisement on a code change. */
void ble_update(struct ble *b, const struct svc_snapshot *snap);
/* The daemon's saves up to ticket done are finished with result (>= 0
 * durable, else -errno, why the reason or NULL): answers the GATT writes
 * that waited for them (svc_actions with async). */
void ble_saved(struct ble *b, uint64_t done, int result, const char *why);
/* BT_CONNECTED while BlueZ reports a connected device, BT_ADVERTISING while
 * the advertisement is registered, else BT_OFF. */
enum bt_state ble_state(const struct ble *b);
struct ble *ble_free(struct ble *b);
