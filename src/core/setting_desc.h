/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Describes one user setting: the single source of a setting's name, unit,
 * default and static bounds. The protection and monitor parts each publish
 * a table of these; the settings registry joins them, and D-Bus, Bluetooth,
 * smallbmsctl and the state record all read the same tables. Relations
 * between settings (e.g. release above trip) are checked by validators.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Which reset restores the setting: "reset to defaults" restores the five
 * settings of the battery monitor (docs/monitor.md), "reset all" restores all. */
enum setting_reset {
	SETTING_RESET_ALL_ONLY = 0,
	SETTING_RESET_DEFAULTS = 1,
};

enum setting_flag {
	/* 0 is allowed besides min..max (the discharge floor: 0 = off). */
	SETTING_ZERO_DISABLES = 1u << 0,
};

struct setting_desc {
	const char *name;    /* snake_case, unit suffix: "uv_trip_mv" */
	const char *unit;    /* "mV", "ms", "s", "0.1 degC", "%" ... */
	const char *summary; /* one line for --help, D-Bus docs and the man page */
	size_t offset;       /* of the int32_t field in the owning settings struct */
	int32_t def;         /* default; bank-dependent ones are documented */
	int32_t min;
	int32_t max;
	enum setting_reset reset;
	uint32_t flags; /* enum setting_flag */
};

static inline int32_t *setting_field(void *settings, const struct setting_desc *d)
{
	return (int32_t *)((char *)settings + d->offset);
}

static inline int32_t setting_get(const void *settings, const struct setting_desc *d)
{
	return *(const int32_t *)((const char *)settings + d->offset);
}
