/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/bank.h"

static void make_bank(struct bank_battery_info *b, size_t n, uint8_t type, uint16_t ah)
{
	static const uint8_t cells[] = {0, 4, 8, 16};

	for (size_t i = 0; i < n; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		snprintf(b[i].serial, sizeof(b[i].serial), "HQ2402JJ%03u", (unsigned)(i % 1000));
		b[i].type = type;
		b[i].capacity_ah = ah;
		b[i].cells = type <= 3 ? cells[type] : 4;
	}
}

static void single_battery(void **state)
{
	struct bank_battery_info b[1];
	struct bank_topology t;

	(void)state;
	make_bank(b, 1, 1, 100);
	assert_int_equal(bank_derive(b, 1, 13300, 13310, &t), BANK_OK);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.s, 1);
	assert_int_equal(t.p, 1);
	assert_int_equal(t.capacity_ah, 100);
	assert_int_equal(t.nominal_mv, 12800);
	assert_int_equal(t.cells_total, 4);
	assert_int_equal(t.cells_in_series, 4);
}

static void four_in_series(void **state)
{
	struct bank_battery_info b[4];
	struct bank_topology t;

	(void)state;
	make_bank(b, 4, 1, 200);
	assert_int_equal(bank_derive(b, 4, 13300, 53200, &t), BANK_OK);
	assert_int_equal(t.s, 4);
	assert_int_equal(t.p, 1);
	assert_int_equal(t.capacity_ah, 200);
	assert_int_equal(t.nominal_mv, 51200);
	assert_int_equal(t.cells_total, 16);
	assert_int_equal(t.cells_in_series, 16);
}

static void two_by_two(void **state)
{
	struct bank_battery_info b[4];
	struct bank_topology t;

	(void)state;
	make_bank(b, 4, 1, 100);
	assert_int_equal(bank_derive(b, 4, 13300, 26600, &t), BANK_OK);
	assert_int_equal(t.s, 2);
	assert_int_equal(t.p, 2);
	assert_int_equal(t.capacity_ah, 200);
	assert_int_equal(t.nominal_mv, 25600);
	/* and the same four as 4P */
	assert_int_equal(bank_derive(b, 4, 13300, 13300, &t), BANK_OK);
	assert_int_equal(t.s, 1);
	assert_int_equal(t.p, 4);
	assert_int_equal(t.capacity_ah, 400);
}

static void big_banks(void **state)
{
	struct bank_battery_info b[50];
	struct bank_topology t;

	(void)state;
	make_bank(b, 48, 1, 300);
	assert_int_equal(bank_derive(b, 48, 13200, 52800, &t), BANK_OK);
	assert_int_equal(t.s, 4);
	assert_int_equal(t.p, 12);
	assert_int_equal(t.capacity_ah, 3600);
	assert_int_equal(t.cells_total, 192);
	assert_int_equal(t.nominal_mv, 51200);

	make_bank(b, 50, 1, 100);
	assert_int_equal(bank_derive(b, 50, 13200, 26400, &t), BANK_OK);
	assert_int_equal(t.s, 2);
	assert_int_equal(t.p, 25);
	assert_int_equal(t.capacity_ah, 2500);
	/* 50 has no divisor 4: a 4S voltage fits no allowed S */
	assert_int_equal(bank_derive(b, 50, 13200, 52800, &t), BANK_ERR_NO_FIT);

	make_bank(b, 25, 3, 100);
	assert_int_equal(bank_derive(b, 25, 53000, 53100, &t), BANK_OK);
	assert_int_equal(t.s, 1);
	assert_int_equal(t.p, 25);
	assert_int_equal(t.capacity_ah, 2500);
	assert_int_equal(t.cells_total, 400);
	assert_int_equal(t.cells_in_series, 16);
	assert_int_equal(t.nominal_mv, 51200);
}

static void errors(void **state)
{
	struct bank_battery_info b[51] = {0};
	struct bank_topology t, untouched;

	(void)state;
	memset(&t, 0x5a, sizeof(t));
	untouched = t;
	assert_int_equal(bank_derive(b, 0, 13300, 13300, &t), BANK_ERR_EMPTY);

	make_bank(b, 51, 1, 100);
	assert_int_equal(bank_derive(b, 51, 13300, 13300, &t), BANK_ERR_TOO_MANY);
	make_bank(b, 26, 3, 100);
	assert_int_equal(bank_derive(b, 26, 53000, 53000, &t), BANK_ERR_TOO_MANY);

	make_bank(b, 2, 1, 100);
	b[1].type = 2;
	b[1].cells = 8;
	assert_int_equal(bank_derive(b, 2, 13300, 13300, &t), BANK_ERR_MIXED_TYPES);
	make_bank(b, 2, 1, 100);
	b[1].capacity_ah = 200;
	assert_int_equal(bank_derive(b, 2, 13300, 13300, &t), BANK_ERR_MIXED_CAPACITY);
	make_bank(b, 2, 1, 100);
	b[1].cells = 8;
	assert_int_equal(bank_derive(b, 2, 13300, 13300, &t), BANK_ERR_TYPE);
	make_bank(b, 2, 4, 100);
	assert_int_equal(bank_derive(b, 2, 13300, 13300, &t), BANK_ERR_TYPE);
	make_bank(b, 2, 1, 0);
	assert_int_equal(bank_derive(b, 2, 13300, 13300, &t), BANK_ERR_TYPE);
	make_bank(b, 2, 1, 100);
	strcpy(b[1].serial, b[0].serial);
	assert_int_equal(bank_derive(b, 2, 13300, 13300, &t), BANK_ERR_DUPLICATE_SERIAL);
	make_bank(b, 2, 1, 100);
	assert_int_equal(bank_derive(b, 2, 0, 13300, &t), BANK_ERR_NO_VOLTAGE);
	assert_int_equal(bank_derive(b, 2, 13300, 0, &t), BANK_ERR_NO_VOLTAGE);
	/* type 2 allows no 4S; type 3 no 2S */
	make_bank(b, 4, 2, 100);
	assert_int_equal(bank_derive(b, 4, 26600, 106400, &t), BANK_ERR_NO_FIT);
	assert_int_equal(bank_derive(b, 4, 26600, 53200, &t), BANK_OK);
	assert_int_equal(t.s, 2);
	make_bank(b, 2, 3, 100);
	assert_int_equal(bank_derive(b, 2, 53000, 106000, &t), BANK_ERR_NO_FIT);

	/* stored S */
	make_bank(b, 6, 1, 100);
	t = untouched;
	assert_int_equal(bank_derive_with_s(b, 6, 4, &t), BANK_ERR_S_NOT_DIVISOR);
	assert_int_equal(bank_derive_with_s(b, 6, 3, &t), BANK_ERR_S_NOT_DIVISOR);
	assert_int_equal(bank_derive_with_s(b, 6, 0, &t), BANK_ERR_S_NOT_DIVISOR);
	assert_memory_equal(&t, &untouched, sizeof(t));
	assert_int_equal(bank_derive_with_s(b, 6, 2, &t), BANK_OK);
	assert_int_equal(t.p, 3);
	assert_int_equal(t.capacity_ah, 300);
	assert_int_equal(bank_derive_with_s(b, 0, 1, &t), BANK_ERR_EMPTY);

	for (int e = BANK_OK; e <= BANK_ERR_NO_VOLTAGE; e++)
		assert_non_null(bank_error_str((enum bank_error)e));
	assert_string_equal(bank_error_str((enum bank_error)99), "unknown error");
	assert_non_null(strstr(bank_error_str(BANK_ERR_NO_FIT), "5 %"));
}

/* Accepted within +-5 % of the bank voltage, not beyond. */
static void five_percent_window(void **state)
{
	struct bank_battery_info b[2];
	struct bank_topology t;

	(void)state;
	make_bank(b, 2, 1, 100);
	/* 2 x 12600 = 25200 vs 24000: gap 1200 = exactly 5 % */
	assert_int_equal(bank_derive(b, 2, 12600, 24000, &t), BANK_OK);
	assert_int_equal(t.s, 2);
	assert_int_equal(bank_derive(b, 2, 12601, 24000, &t), BANK_ERR_NO_FIT);
	/* below: 2 x 11400 = 22800 vs 24000 */
	assert_int_equal(bank_derive(b, 2, 11400, 24000, &t), BANK_OK);
	assert_int_equal(bank_derive(b, 2, 11399, 24000, &t), BANK_ERR_NO_FIT);
	/* half way between 1S and 2S fits neither */
	assert_int_equal(bank_derive(b, 2, 13300, 19950, &t), BANK_ERR_NO_FIT);
}

static void current_and_voltage(void **state)
{
	struct bank_reading r[4] = {
	        {.current_ma = -10000, .voltage_mv = 13300, .fresh = true},
	        {.current_ma = -10000, .voltage_mv = 13300, .fresh = true},
	        {.current_ma = -12000, .voltage_mv = 13100, .fresh = true},
	        {.current_ma = -12000, .voltage_mv = 13100, .fresh = true},
	};
	int32_t i;
	uint32_t mv;
	bool w6;

	(void)state;
	/* 2S2P: two strings of 10 A and 12 A */
	assert_int_equal(bank_current_ma(r, 4, 2, &i), 0);
	assert_int_equal(i, -22000);
	/* one stale: 3 fresh sum -32000 x 4 / (3 x 2) */
	r[3].fresh = false;
	assert_int_equal(bank_current_ma(r, 4, 2, &i), 0);
	assert_int_equal(i, -21333);
	assert_int_equal(bank_mean_battery_mv(r, 4, &mv), 0);
	assert_int_equal(mv, (13300 + 13300 + 13100 + 1) / 3);
	for (int k = 0; k < 4; k++)
		r[k].fresh = false;
	assert_int_equal(bank_current_ma(r, 4, 2, &i), -ENODATA);
	assert_int_equal(bank_mean_battery_mv(r, 4, &mv), -ENODATA);
	assert_int_equal(bank_current_ma(r, 4, 0, &i), -EINVAL);
	assert_int_equal(bank_current_ma(r, 0, 1, &i), -EINVAL);
	r[0] = (struct bank_reading){.current_ma = INT32_MAX, .fresh = true};
	r[1] = (struct bank_reading){.current_ma = INT32_MAX, .fresh = true};
	assert_int_equal(bank_current_ma(r, 2, 1, &i), -ERANGE);

	assert_int_equal(bank_voltage_mv(true, 26650, 2, 13300, &mv, &w6), 0);
	assert_int_equal(mv, 26650);
	assert_false(w6);
	assert_int_equal(bank_voltage_mv(false, 0, 2, 13300, &mv, &w6), 0);
	assert_int_equal(mv, 26600);
	assert_true(w6);
	assert_int_equal(bank_voltage_mv(false, 0, 0, 13300, &mv, &w6), -ENODATA);

	/* plausible within 10 % of S x mean */
	assert_true(bank_adc_plausible(29260, 2, 13300));
	assert_false(bank_adc_plausible(29261, 2, 13300));
	assert_true(bank_adc_plausible(23940, 2, 13300));
	assert_false(bank_adc_plausible(23939, 2, 13300));
	assert_false(bank_adc_plausible(100, 0, 13300));
}

static void identity(void **state)
{
	struct bank_battery_info b[6];
	struct bank_topology t;
	struct bank_identity id, bad;

	(void)state;
	make_bank(b, 4, 1, 100);
	assert_int_equal(bank_derive(b, 4, 13300, 26600, &t), BANK_OK);
	assert_int_equal(bank_identity_set(&id, b, 4, &t), 0);
	assert_int_equal(bank_identity_check(&id), 0);
	assert_int_equal(id.s, 2);
	assert_int_equal(bank_identity_compare(&id, b, 4), BANK_ID_SAME);
	/* order does not matter */
	struct bank_battery_info swapped[4] = {b[3], b[2], b[1], b[0]};
	assert_int_equal(bank_identity_compare(&id, swapped, 4), BANK_ID_SAME);
	/* fewer: E3 */
	assert_int_equal(bank_identity_compare(&id, b, 3), BANK_ID_CHANGED);
	/* a different serial: E3 */
	strcpy(swapped[0].serial, "OTHER");
	assert_int_equal(bank_identity_compare(&id, swapped, 4), BANK_ID_CHANGED);
	/* more: W8 */
	make_bank(b, 6, 1, 100);
	assert_int_equal(bank_identity_compare(&id, b, 6), BANK_ID_MORE);
	/* more but one replaced: E3 */
	strcpy(b[0].serial, "OTHER");
	assert_int_equal(bank_identity_compare(&id, b, 6), BANK_ID_CHANGED);
	/* same serials, other capacity or type: E3 */
	make_bank(b, 4, 1, 200);
	assert_int_equal(bank_identity_compare(&id, b, 4), BANK_ID_CHANGED);
	make_bank(b, 4, 2, 100);
	assert_int_equal(bank_identity_compare(&id, b, 4), BANK_ID_CHANGED);

	/* set refuses a topology that is not the batteries' */
	make_bank(b, 4, 1, 100);
	t.n = 3;
	assert_int_equal(bank_identity_set(&id, b, 4, &t), -EINVAL);
	assert_int_equal(bank_identity_set(&id, b, 0, &t), -EINVAL);
	t.n = 4;
	t.s = 3;
	assert_int_equal(bank_identity_set(&id, b, 4, &t), -EINVAL);

	/* check */
	bad = id;
	bad.n = 0;
	assert_int_equal(bank_identity_check(&bad), -EINVAL);
	bad = id;
	bad.s = 3;
	assert_int_equal(bank_identity_check(&bad), -EINVAL);
	bad = id;
	bad.capacity_ah = 0;
	assert_int_equal(bank_identity_check(&bad), -EINVAL);
	bad = id;
	bad.serial[1][0] = '\0';
	assert_int_equal(bank_identity_check(&bad), -EINVAL);
	bad = id;
	bad.serial[1][0] = 0x01;
	assert_int_equal(bank_identity_check(&bad), -EINVAL);
	bad = id;
	memset(bad.serial[2], 'A', sizeof(bad.serial[2]));
	assert_int_equal(bank_identity_check(&bad), -EINVAL);
	bad = id;
	bad.serial[1][15] = 'x'; /* not NUL-padded */
	assert_int_equal(bank_identity_check(&bad), -EINVAL);
	bad = id;
	strcpy(bad.serial[1], bad.serial[0]);
	assert_int_equal(bank_identity_check(&bad), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(single_battery),
	        cmocka_unit_test(four_in_series),
	        cmocka_unit_test(two_by_two),
	        cmocka_unit_test(big_banks),
	        cmocka_unit_test(errors),
	        cmocka_unit_test(five_percent_window),
	        cmocka_unit_test(current_and_voltage),
	        cmocka_unit_test(identity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
