/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Authorization of the write methods through polkit, as systemd's daemons
 * do it: the bus lets anyone call, and each write asks
 * org.freedesktop.PolicyKit1.Authority.CheckAuthorization for an action of
 * its own. The questions are asked asynchronously: the call is kept, the
 * bus daemon is asked for the caller's user (GetConnectionUnixUser), then,
 * unless that is root (uid 0, allowed without asking), polkit; once the
 * answer is in, the call is dispatched again (sd_bus_enqueue_for_read), and
 * this time polkit_check finds the answer. No write waits on the bus daemon
 * or polkit inside the loop. polkit absent or failing: refused (fail safe).
 * A direct connection (no bus daemon) has no bus name: its peer's socket
 * credentials decide, root alone is allowed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-bus.h>

#define POLKIT_ACTION_SETTINGS  "org.smallbms.change-settings"
#define POLKIT_ACTION_CONTROL   "org.smallbms.control"
#define POLKIT_ACTION_BLUETOOTH "org.smallbms.bluetooth"
#define POLKIT_ACTION_FIRMWARE  "org.smallbms.firmware-update"

/* At most this many questions are out at once; more calls are refused as
 * busy, which bounds what a flooding client can make the daemon keep. */
#define POLKIT_QUERIES_MAX 32

struct polkit_query {
	sd_bus_message *request; /* the call being authorized (a reference) */
	sd_bus_slot *slot;       /* the CheckAuthorization call, while out */
	const char *action;
	bool done;
	int result;     /* once done: 1 allowed, else negative errno */
	char *err_name; /* once done and refused: the D-Bus error */
	char *err_msg;
};

struct polkit_registry {
	struct polkit_query q[POLKIT_QUERIES_MAX];
};

/* 1: the sender of m may do action: go on. 0: polkit is being asked; the
 * handler returns 1 (no reply now) and is called again with m when polkit
 * answered. Negative: refused, e set (AccessDenied,
 * InteractiveAuthorizationRequired, or polkit unreachable). */
int polkit_check(struct polkit_registry *reg, sd_bus_message *m, const char *action,
                 sd_bus_error *e);
void polkit_registry_clear(struct polkit_registry *reg);
