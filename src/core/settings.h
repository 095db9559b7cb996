/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The settings registry: every user setting of the BMS in one table (the
 * protection core's descriptors followed by the monitor's three), looked up
 * by name, read and written by name, validated as a whole and applied all or
 * nothing.
 *
 * "Reset to defaults" restores the five settings of the battery monitor
 * (reset class SETTING_RESET_DEFAULTS: charged voltage, tail current,
 * charged detection time, low-SoC warning level, discharge floor); "reset
 * all" restores every setting.
 *
 * Bank-dependent defaults follow the bank by their representation: the
 * charged voltage is per cell (charged_cell_mv, x the bank's cells in
 * series) and the tail current is in 0.1 % of the bank capacity
 * (tail_current_pmil), so the defaults are plain constants.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/monitor.h"
#include "core/protection_settings.h"
#include "core/setting_desc.h"

struct bms_settings {
	struct protection_settings protection;
	struct monitor_settings monitor;
};

/* Number of settings in the registry. */
size_t settings_count(void);
/* The i-th setting (0 .. count - 1), NULL past the end. */
const struct setting_desc *settings_desc(size_t i);
/* Index of a setting by name, or -ENOENT. */
int settings_find(const char *name);
/* The i-th setting's field in s, NULL past the end. Unchecked: for the state
 * record, which validates the whole afterwards. */
int32_t *settings_value(struct bms_settings *s, size_t i);

void settings_default(struct bms_settings *s);
/* Restores the five settings of the monitor (reset class DEFAULTS). */
void settings_reset_defaults(struct bms_settings *s);
void settings_reset_all(struct bms_settings *s);

/* Static bounds of every setting, the protection's ordering rules and the
 * monitor's relation (charged voltage below the over-voltage trip): 0 or
 * -ERANGE with a message naming the setting, its value and the bound. */
int settings_validate(const struct bms_settings *s, char *err, size_t errlen);

/* -ENOENT for an unknown name. */
int settings_get(const struct bms_settings *s, const char *name, int32_t *value);

struct setting_change {
	const char *name;
	int32_t value;
};

/*
 * Applies n changes as one: every name known, no name twice, and the result
 * valid as a whole; otherwise *s is left untouched and err says why.
 * Returns 0, -ENOENT (unknown name), -EINVAL (name twice) or -ERANGE.
 */
int settings_apply(struct bms_settings *s, const struct setting_change *ch, size_t n, char *err,
                   size_t errlen);
/* One change, validated with the others' current values. */
int settings_set(struct bms_settings *s, const char *name, int32_t value, char *err, size_t errlen);
/* Changes written as "name=value" strings (decimal integers); -EINVAL for
 * a malformed one. All or nothing, as settings_apply. */
int settings_apply_strings(struct bms_settings *s, const char *const *assignments, size_t n,
                           char *err, size_t errlen);
