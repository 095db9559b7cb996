/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/history.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define SOC_SYNC_ARM_CPCT   9000 /* below 90 % */
#define SOC_CYCLE_ARM_CPCT  6500 /* below 65 % */
#define SOC_CYCLE_DONE_CPCT 9000 /* above 90 % */
#define CELL_NA             0xFFFF
#define TEMP_NA             0x7FFF

void history_reset(struct history *h)
{
	memset(h, 0, sizeof(*h));
	/* The first automatic synchronisation after a reset counts. */
	h->sync_armed = true;
	h->last_full_charge_s = HISTORY_NEVER;
	h->min_bank_mv = h->min_cell_mv = h->min_temp_dc = HISTORY_MIN_NONE;
	h->max_bank_mv = h->max_cell_mv = h->max_temp_dc = HISTORY_MAX_NONE;
}

void history_add_flow(struct history *h, int32_t current_ma, uint32_t bank_mv, double dt_s)
{
	double ah = fabs((double)current_ma) / 1000.0 * dt_s / 3600.0;
	double wh = ah * (double)bank_mv / 1000.0;

	if (current_ma < 0) {
		h->drawn_ah += ah;
		h->discharged_wh += wh;
	} else {
		h->charged_wh += wh;
	}
}

void history_note_consumed(struct history *h, double consumed_ah)
{
	if (consumed_ah > h->deepest_ah)
		h->deepest_ah = consumed_ah;
}

void history_note_soc(struct history *h, bool known, int32_t soc_cpct)
{
	if (!known)
		return;
	if (soc_cpct < SOC_SYNC_ARM_CPCT)
		h->sync_armed = true;
	if (soc_cpct < SOC_CYCLE_ARM_CPCT)
		h->cycle_armed = true;
	else if (soc_cpct > SOC_CYCLE_DONE_CPCT && h->cycle_armed) {
		h->cycle_armed = false;
		h->cycles++;
	}
}

void history_note_sync(struct history *h, bool automatic, int64_t wall_s)
{
	h->last_full_charge_s = wall_s;
	if (automatic && h->sync_armed) {
		h->syncs++;
		h->sync_armed = false;
	}
}

static void widen(int32_t *min, int32_t *max, int32_t lo, int32_t hi)
{
	if (lo < *min)
		*min = lo;
	if (hi > *max)
		*max = hi;
}

void history_note_extremes(struct history *h, uint32_t bank_mv, uint16_t min_cell_mv,
                           uint16_t max_cell_mv, int16_t min_temp_dc, int16_t max_temp_dc)
{
	if (bank_mv > 0 && bank_mv <= INT32_MAX)
		widen(&h->min_bank_mv, &h->max_bank_mv, (int32_t)bank_mv, (int32_t)bank_mv);
	if (min_cell_mv != CELL_NA && max_cell_mv != CELL_NA && min_cell_mv <= max_cell_mv)
		widen(&h->min_cell_mv, &h->max_cell_mv, min_cell_mv, max_cell_mv);
	if (min_temp_dc != TEMP_NA && max_temp_dc != TEMP_NA && min_temp_dc <= max_temp_dc)
		widen(&h->min_temp_dc, &h->max_temp_dc, min_temp_dc, max_temp_dc);
}

int history_note_error(struct history *h, enum bms_code code, int64_t wall_s)
{
	if (!bms_code_valid((int)code) || bms_code_class(code) != BMS_CLASS_ERROR)
		return -EINVAL;
	memmove(&h->errors[1], &h->errors[0], sizeof(h->errors[0]) * (HISTORY_ERRORS - 1));
	h->errors[0] = (struct history_error){.code = (uint8_t)code, .wall_s = wall_s};
	if (h->n_errors < HISTORY_ERRORS)
		h->n_errors++;
	return 0;
}

void history_note_active(struct history *h, uint32_t active_codes, int64_t wall_s)
{
	uint32_t errors = active_codes & bms_code_class_mask(BMS_CLASS_ERROR);
	uint32_t rising = errors & ~h->error_mask;

	/* mutation: equivalent [cmp-bound] (errors holds bits of valid codes only) */
	for (int c = 0; c < BMS_CODE_COUNT; c++)
		if (rising & BMS_CODE_BIT(c))
			(void)history_note_error(h, (enum bms_code)c, wall_s);
	h->error_mask = errors;
}

static bool pair_ok(int32_t min, int32_t max)
{
	if (min == HISTORY_MIN_NONE || max == HISTORY_MAX_NONE)
		return min == HISTORY_MIN_NONE && max == HISTORY_MAX_NONE;
	return min <= max;
}

static bool amount_ok(double v)
{
	return isfinite(v) && v >= 0.0;
}

int history_check(const struct history *h)
{
	if (!amount_ok(h->deepest_ah) || !amount_ok(h->drawn_ah) || !amount_ok(h->discharged_wh) ||
	    !amount_ok(h->charged_wh))
		return -EINVAL;
	if (!pair_ok(h->min_bank_mv, h->max_bank_mv) || !pair_ok(h->min_cell_mv, h->max_cell_mv) ||
	    !pair_ok(h->min_temp_dc, h->max_temp_dc))
		return -EINVAL;
	if (h->n_errors > HISTORY_ERRORS)
		return -EINVAL;
	for (unsigned i = 0; i < h->n_errors; i++) {
		int c = h->errors[i].code;
		if (!bms_code_valid(c) || bms_code_class((enum bms_code)c) != BMS_CLASS_ERROR)
			return -EINVAL;
	}
	if (h->error_mask & ~bms_code_class_mask(BMS_CLASS_ERROR))
		return -EINVAL;
	return 0;
}
