/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/history.h"

/* Walks SoC through a list of points (0.01 %), all known. */
static void walk(struct history *h, const int32_t *path, size_t n)
{
	for (size_t i = 0; i < n; i++)
		history_note_soc(h, true, path[i]);
}

static void cycles(void **state)
{
	struct history h;

	(void)state;
	history_reset(&h);
	/* 100 -> 64.99 -> 90.01: one */
	walk(&h, (const int32_t[]){10000, 8000, 6499, 7000, 9001}, 5);
	assert_int_equal(h.cycles, 1);
	/* 65.00 is not below 65 %, 90.00 not above 90 % */
	walk(&h, (const int32_t[]){6500, 9001, 6499, 9000, 8000}, 5);
	assert_int_equal(h.cycles, 1);
	walk(&h, (const int32_t[]){9001}, 1);
	assert_int_equal(h.cycles, 2);
	/* down twice below 65 % before rising: still one */
	walk(&h, (const int32_t[]){6000, 7000, 5000, 9500}, 4);
	assert_int_equal(h.cycles, 3);
	/* unknown SoC is ignored */
	history_note_soc(&h, false, 0);
	history_note_soc(&h, false, 10000);
	walk(&h, (const int32_t[]){9500}, 1);
	assert_int_equal(h.cycles, 3);
}

static void syncs(void **state)
{
	struct history h;

	(void)state;
	history_reset(&h);
	history_note_sync(&h, true, 100);
	assert_int_equal(h.syncs, 1); /* the first counts */
	assert_int_equal(h.last_full_charge_s, 100);
	walk(&h, (const int32_t[]){9500, 9000}, 2); /* 90.00 %: not below */
	history_note_sync(&h, true, 200);
	assert_int_equal(h.syncs, 1);
	assert_int_equal(h.last_full_charge_s, 200);
	walk(&h, (const int32_t[]){8999, 9500}, 2);
	history_note_sync(&h, false, 300); /* manual: never counted, keeps the arm */
	assert_int_equal(h.syncs, 1);
	assert_int_equal(h.last_full_charge_s, 300);
	history_note_sync(&h, true, 400);
	assert_int_equal(h.syncs, 2);
	history_note_sync(&h, true, 500);
	assert_int_equal(h.syncs, 2);
}

static void flow_and_deepest(void **state)
{
	struct history h;

	(void)state;
	history_reset(&h);
	history_add_flow(&h, -20000, 25600, 1800.0); /* 10 Ah, 256 Wh */
	history_add_flow(&h, 10000, 28000, 3600.0);  /* 280 Wh */
	assert_true(fabs(h.drawn_ah - 10.0) < 1e-9);
	assert_true(fabs(h.discharged_wh - 256.0) < 1e-9);
	assert_true(fabs(h.charged_wh - 280.0) < 1e-9);
	history_note_consumed(&h, 12.5);
	history_note_consumed(&h, 3.0);
	assert_true(h.deepest_ah == 12.5);
}

static void last_errors(void **state)
{
	struct history h;

	(void)state;
	history_reset(&h);
	assert_int_equal(history_note_error(&h, BMS_W1, 1), -EINVAL);
	assert_int_equal(history_note_error(&h, BMS_A5, 1), -EINVAL);
	assert_int_equal(history_note_error(&h, BMS_CODE_COUNT, 1), -EINVAL);
	assert_int_equal(h.n_errors, 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(history_note_error(&h, (enum bms_code)(BMS_E1 + i), 10 + i), 0);
	assert_int_equal(h.n_errors, 4);
	/* newest first: E6, E5, E4, E3 */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(h.errors[i].code, BMS_E6 - i);
		assert_int_equal(h.errors[i].wall_s, 15 - i);
	}
	/* rising edges of a mask; warnings and alarms ignored */
	history_reset(&h);
	history_note_active(&h, BMS_CODE_BIT(BMS_E9) | BMS_CODE_BIT(BMS_W6), 50);
	history_note_active(&h, BMS_CODE_BIT(BMS_E9) | BMS_CODE_BIT(BMS_E7), 60);
	history_note_active(&h, BMS_CODE_BIT(BMS_E7), 70);
	assert_int_equal(h.n_errors, 2);
	assert_int_equal(h.errors[0].code, BMS_E7);
	assert_int_equal(h.errors[0].wall_s, 60);
	assert_int_equal(h.errors[1].code, BMS_E9);
	assert_int_equal(h.errors[1].wall_s, 50);
	assert_int_equal(h.error_mask, BMS_CODE_BIT(BMS_E7));
	assert_int_equal(history_check(&h), 0);
}

static void extremes_and_reset(void **state)
{
	struct history h;

	(void)state;
	history_reset(&h);
	history_note_extremes(&h, 0, 0xFFFF, 0xFFFF, 0x7FFF, 0x7FFF);
	assert_int_equal(h.min_bank_mv, HISTORY_MIN_NONE);
	assert_int_equal(h.max_cell_mv, HISTORY_MAX_NONE);
	assert_int_equal(h.min_temp_dc, HISTORY_MIN_NONE);
	assert_int_equal(h.last_full_charge_s, HISTORY_NEVER);
	assert_int_equal(history_check(&h), 0);
	history_note_extremes(&h, 13000, 3200, 3300, -100, 300);
	history_note_extremes(&h, 13500, 3250, 3400, -50, 350);
	assert_int_equal(h.min_bank_mv, 13000);
	assert_int_equal(h.max_bank_mv, 13500);
	assert_int_equal(h.min_cell_mv, 3200);
	assert_int_equal(h.max_cell_mv, 3400);
	assert_int_equal(h.min_temp_dc, -100);
	assert_int_equal(h.max_temp_dc, 350);
	assert_int_equal(history_check(&h), 0);
	history_reset(&h);
	assert_int_equal(h.max_bank_mv, HISTORY_MAX_NONE);
	assert_true(h.sync_armed);
}

static void check_rejects(void **state)
{
	struct history h, bad;

	(void)state;
	history_reset(&h);
	history_note_extremes(&h, 13000, 3200, 3300, -100, 300);
	assert_int_equal(history_check(&h), 0);
	bad = h;
	bad.drawn_ah = -1.0;
	assert_int_equal(history_check(&bad), -EINVAL);
	bad = h;
	bad.charged_wh = INFINITY;
	assert_int_equal(history_check(&bad), -EINVAL);
	bad = h;
	bad.min_cell_mv = 3301;
	assert_int_equal(history_check(&bad), -EINVAL);
	bad = h;
	bad.min_temp_dc = HISTORY_MIN_NONE;
	assert_int_equal(history_check(&bad), -EINVAL);
	bad = h;
	bad.n_errors = 5;
	assert_int_equal(history_check(&bad), -EINVAL);
	bad = h;
	bad.n_errors = 1;
	bad.errors[0].code = BMS_A1;
	assert_int_equal(history_check(&bad), -EINVAL);
	bad = h;
	bad.error_mask = BMS_CODE_BIT(BMS_W1);
	assert_int_equal(history_check(&bad), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(cycles),
	        cmocka_unit_test(syncs),
	        cmocka_unit_test(flow_and_deepest),
	        cmocka_unit_test(last_errors),
	        cmocka_unit_test(extremes_and_reset),
	        cmocka_unit_test(check_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
