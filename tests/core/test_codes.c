/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/codes.h"

static void names_are_stable(void **state)
{
	(void)state;
	assert_string_equal(bms_code_name(BMS_W1), "W1");
	assert_string_equal(bms_code_name(BMS_W9), "W9");
	assert_string_equal(bms_code_name(BMS_A1), "A1");
	assert_string_equal(bms_code_name(BMS_A7), "A7");
	assert_string_equal(bms_code_name(BMS_E1), "E1");
	assert_string_equal(bms_code_name(BMS_E9), "E9");
	/* The numbers are on the wire and in the state record. */
	assert_int_equal(BMS_W1, 0);
	assert_int_equal(BMS_A1, 9);
	assert_int_equal(BMS_E1, 16);
	assert_int_equal(BMS_E9, 24);
	assert_null(bms_code_name(BMS_CODE_COUNT));
	assert_null(bms_code_summary((enum bms_code)-1));
}

static void name_round_trip(void **state)
{
	(void)state;
	for (int c = 0; c < BMS_CODE_COUNT; c++) {
		assert_int_equal(bms_code_from_name(bms_code_name((enum bms_code)c)), c);
		assert_non_null(bms_code_summary((enum bms_code)c));
	}
	assert_int_equal(bms_code_from_name("W0"), -EINVAL);
	assert_int_equal(bms_code_from_name("w1"), -EINVAL);
	assert_int_equal(bms_code_from_name(NULL), -EINVAL);
}

static void classes(void **state)
{
	(void)state;
	assert_int_equal(bms_code_class(BMS_W9), BMS_CLASS_WARNING);
	assert_int_equal(bms_code_class(BMS_A1), BMS_CLASS_ALARM);
	assert_int_equal(bms_code_class(BMS_A7), BMS_CLASS_ALARM);
	assert_int_equal(bms_code_class(BMS_E1), BMS_CLASS_ERROR);
	assert_int_equal(__builtin_popcount(bms_code_class_mask(BMS_CLASS_WARNING)), 9);
	assert_int_equal(__builtin_popcount(bms_code_class_mask(BMS_CLASS_ALARM)), 7);
	assert_int_equal(__builtin_popcount(bms_code_class_mask(BMS_CLASS_ERROR)), 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_are_stable),
		cmocka_unit_test(name_round_trip),
		cmocka_unit_test(classes),
	};
	return cmocka_run_group_tests_name("core/codes", tests, NULL, NULL);
}
