/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Human-readable renderings of the daemon's integer values: scaled
 * quantities, durations, times of day and the reasons an output is open.
 * Pure functions writing into the caller's buffer, truncating safely.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_CELL_NA 65535
#define CTL_TEMP_NA 32767

/* One reason an output is in its state, as the D-Bus API gives it. */
struct ctl_reason {
	const char *code; /* "A1", or "" for a rule without a code */
	const char *rule; /* "cell under-voltage" */
	int64_t since_wall_us;
	int32_t value;
	const char *unit; /* "mV", "0.1 degC", "0.01 %", "" */
	int16_t battery;  /* chain position, -1 bank-wide */
	int16_t index;    /* cell or sensor 1.., -1 where it does not apply */
	bool latched;
};

/* value / 10^scale with `decimals` decimals (decimals <= scale), rounded
 * half away from zero: (13215, 3, 2) -> "13.22", (-500, 3, 2) -> "-0.50". */
char *fmt_scaled(char *buf, size_t len, int64_t value, unsigned scale, unsigned decimals);

/* "0 s", "45 s", "12 min 30 s", "2 h 05 min", "3 d 04 h"; negative as 0. */
char *fmt_duration(char *buf, size_t len, int64_t seconds);

/* Local time of a CLOCK_REALTIME instant: "12:03:11" on the day of now,
 * "2026-11-24 12:03:11" otherwise, "never" for 0. */
char *fmt_wall(char *buf, size_t len, uint64_t wall_us, uint64_t now_wall_us);

/* A reading with its unit: "2790 mV", "45.5 °C", "12.34 %"; "" for no unit. */
char *fmt_reading(char *buf, size_t len, int32_t value, const char *unit);

/* "3301 mV", or "n/a" for the M8 sentinel 65535. */
char *fmt_cell_mv(char *buf, size_t len, uint32_t cell_mv);
/* "23.5 °C", or "n/a" for the M8 sentinel 32767. */
char *fmt_temp_dc(char *buf, size_t len, int32_t temp_dc);

/* "A1 cell under-voltage, battery 2 cell 3: 2790 mV, since 12:03:11". */
char *fmt_reason(char *buf, size_t len, const struct ctl_reason *r, uint64_t now_wall_us);
