/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The bank's cell and temperature minima and maxima (docs/protection.md section
 * 0: over every cell of every battery counted; 0xFFFF and 0x7FFF never
 * enter), kept up to date one battery at a time: a new reading costs that
 * battery's cells, and a scan of the 50 per-battery extremes of one
 * dimension only when the battery that held the bank's extreme got worse
 * or left. Exact, ties included: of equal values the lowest battery, then
 * the lowest cell or sensor holds the extreme, as a scan in order finds it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define BANK_EXT_MAX_BATTERIES 50
#define BANK_EXT_MAX_CELLS     16
#define BANK_EXT_MAX_TEMPS     4
#define BANK_EXT_CELL_NA       0xFFFF
#define BANK_EXT_TEMP_NA       0x7FFF

/* One extreme and where it was read; known = false: no value at all. */
struct bank_extreme {
	bool known;
	int32_t value; /* mV or 0.1 degC */
	int16_t battery, index;
};

enum bank_ext_dim {
	BANK_EXT_MIN_CELL,
	BANK_EXT_MAX_CELL,
	BANK_EXT_MIN_TEMP,
	BANK_EXT_MAX_TEMP,
	BANK_EXT_DIMS,
};

struct bank_extremes {
	/* per battery: its own extremes (known = false when it has no value
	 * or does not count) */
	struct bank_extreme bat[BANK_EXT_MAX_BATTERIES][BANK_EXT_DIMS];
	struct bank_extreme bank[BANK_EXT_DIMS];
	uint64_t rescans; /* scans of one dimension over the batteries */
};

void bank_extremes_init(struct bank_extremes *e);
/*
 * Battery b's new reading: n_cells cell voltages and n_temps temperatures
 * (the not-available markers skipped). -EINVAL (nothing changed) for b >= 50,
 * more than 16 cells or 4 sensors, or NULL arrays with a count.
 */
int bank_extremes_set(struct bank_extremes *e, unsigned b, const uint16_t *cell_mv,
                      unsigned n_cells, const int16_t *temp_dc, unsigned n_temps);
/* Battery b no longer counts (gone, or no reading to count). -EINVAL for b >= 50. */
int bank_extremes_remove(struct bank_extremes *e, unsigned b);
/* The bank's extreme of a dimension. */
struct bank_extreme bank_extremes_get(const struct bank_extremes *e, enum bank_ext_dim d);
