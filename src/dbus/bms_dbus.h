/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * smallbmsd on D-Bus (docs/dbus-api.md): org.smallbms.Bms1, Settings1,
 * History1 and one Battery1 per battery, under an ObjectManager at
 * /org/smallbms. It reads only the snapshot it was last given and changes
 * the BMS only through the svc_actions table, so it holds no BMS state of
 * its own and never blocks the caller's loop.
 */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "service/actions.h"
#include "service/snapshot.h"

#define BMS_DBUS_NAME "org.smallbms"
#define BMS_DBUS_PATH "/org/smallbms"
/* Measurements are announced at most this often per object. */
#define BMS_DBUS_MEASURE_EVERY_US 500000ull

struct bms_dbus;

/*
 * bus: a connection to serve on (tests: one end of a socketpair), or NULL
 * to open the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured) and request
 * org.smallbms on it. The connection is attached to e. ops and userdata
 * must outlive the object. Until the first bms_dbus_update() every
 * property reads as "not known".
 */
int bms_dbus_new(struct bms_dbus **ret, sd_event *e, sd_bus *bus, const struct svc_actions *ops,
                 void *userdata);
/* Takes a copy of snap; emits InterfacesAdded/Removed for batteries that
 * came or went and PropertiesChanged for what changed (measurements at most
 * every BMS_DBUS_MEASURE_EVERY_US of snap->mono_us per object). */
void bms_dbus_update(struct bms_dbus *b, const struct svc_snapshot *snap);
/* False once the connection closed or the name could not be had: the
 * owner frees the object and tries again later. */
bool bms_dbus_alive(const struct bms_dbus *b);
/* The name org.smallbms is ours (always true on a connection given to
 * bms_dbus_new). */
bool bms_dbus_named(const struct bms_dbus *b);
/* Why it is not alive (negative errno), 0 while alive. */
int bms_dbus_error(const struct bms_dbus *b);
/* The connection it serves on (for the daemon's other objects on the same
 * name: Bluetooth1), or NULL. Not referenced: valid while b lives. */
sd_bus *bms_dbus_bus(const struct bms_dbus *b);
struct bms_dbus *bms_dbus_free(struct bms_dbus *b);

/* The daemon's saves up to ticket done are finished with result (>= 0
 * written, or -errno and why): answers the calls that waited for them
 * (service/actions.h, SVC_PENDING). */
void bms_dbus_saved(struct bms_dbus *b, uint64_t done, int result, const char *why);
