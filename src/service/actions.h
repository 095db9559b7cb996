/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the front ends (D-Bus, Bluetooth) may ask of the daemon: one ops table,
 * implemented by the daemon (src/daemon/daemon_actions.c) and by test
 * doubles in the front ends' unit tests. Every call validates in full first
 * and changes nothing when it refuses; err then holds one line naming the
 * setting, the value and the bound (or what else is wrong).
 *
 * Return values: 0, or a negative errno:
 *   -ENOENT  unknown setting or battery
 *   -EINVAL  malformed request (a name twice, a value of the wrong form)
 *   -ERANGE  a value out of its bounds or breaking an ordering rule
 *   -EBUSY   not now (e.g. identify during a firmware update, bus busy)
 *   -ENODEV  no bank / no such battery right now
 *   -EIO     the change was valid but could not be saved (nothing changed)
 *
 * A table with async set answers SVC_PENDING (1) for a change that is in
 * effect but whose save is still under way, instead of waiting for it:
 * ticket() then names that save, and the front end answers its caller once
 * the daemon reports the ticket durable (bms_dbus_saved), so that no
 * storage delay holds up the event loop. A table without async returns
 * only once the change is durable. A change to the values already in
 * effect saves nothing (it may still wait for an earlier save of them).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/settings.h"

#define SVC_PENDING 1

struct svc_actions {
	bool async;
	/* The save the last SVC_PENDING answer waits for (async tables). */
	uint64_t (*ticket)(void *userdata);
	/* All or nothing; applied to the cores and saved at once on success. */
	int (*set_settings)(void *userdata, const struct setting_change *ch, size_t n, char *err,
	                    size_t errlen);
	int (*reset_defaults)(void *userdata, char *err, size_t errlen);
	int (*reset_all)(void *userdata, char *err, size_t errlen);
	int (*reset_history)(void *userdata, char *err, size_t errlen);
	/* 0..10000 (0.01 %) */
	int (*set_soc)(void *userdata, int32_t soc_cpct, char *err, size_t errlen);
	int (*synchronise)(void *userdata, char *err, size_t errlen);
	int (*accept_bank)(void *userdata, char *err, size_t errlen);
	/* addr: chain position 1..n; blinks the battery's LED (IDENTIFY) */
	int (*identify)(void *userdata, unsigned addr, char *err, size_t errlen);
	/* Battery firmware update (docs/firmware.md). fd: the image file, a
	 * regular file the caller opened; it is read in full before this
	 * returns (the caller keeps and closes fd). -EBUSY: a precondition of
	 * docs/protection.md section 9, or an update running; -EINVAL: not an
	 * image (err says why); -EMEDIUMTYPE: for another battery type. */
	int (*firmware_start)(void *userdata, unsigned addr, int fd, char *err, size_t errlen);
	/* Cancels the running update (not a failure), or aborts an update a
	 * battery reports from before a restart. -ENOENT: none; -EINPROGRESS:
	 * past FW_END, too late. */
	int (*firmware_cancel)(void *userdata, char *err, size_t errlen);
	/* The authenticated clear of a failed update (E5, docs/protection.md
	 * section 1). -ENOENT: no failure pending. */
	int (*firmware_clear_failure)(void *userdata, char *err, size_t errlen);
};
