/* SPDX-License-Identifier: GPL-2.0-or-later */
/* How smallbmsctl renders values, durations, times and reasons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ctl/format.h"

/* 2026-11-25 12:03:11 UTC */
#define T_12_03_11 UINT64_C(1795608191000000)

static int utc(void **state)
{
	setenv("TZ", "UTC0", 1);
	tzset();
	return 0;
}

static void test_scaled(void **state)
{
	char b[32];

	assert_string_equal(fmt_scaled(b, sizeof(b), 13210, 3, 2), "13.21");
	assert_string_equal(fmt_scaled(b, sizeof(b), 13215, 3, 2), "13.22"); /* half up */
	assert_string_equal(fmt_scaled(b, sizeof(b), 13214, 3, 2), "13.21");
	assert_string_equal(fmt_scaled(b, sizeof(b), -2500, 3, 2), "-2.50");
	assert_string_equal(fmt_scaled(b, sizeof(b), -500, 3, 2), "-0.50");
	assert_string_equal(fmt_scaled(b, sizeof(b), -5, 3, 2), "-0.01"); /* away from zero */
	assert_string_equal(fmt_scaled(b, sizeof(b), -4, 3, 2), "0.00");  /* no "-0.00" */
	assert_string_equal(fmt_scaled(b, sizeof(b), 5500, 2, 1), "55.0");
	assert_string_equal(fmt_scaled(b, sizeof(b), 10000, 2, 2), "100.00");
	assert_string_equal(fmt_scaled(b, sizeof(b), 7, 1, 1), "0.7");
	assert_string_equal(fmt_scaled(b, sizeof(b), 42, 0, 0), "42");
	assert_string_equal(fmt_scaled(b, sizeof(b), 1999, 3, 0), "2");
	assert_string_equal(fmt_scaled(b, sizeof(b), INT64_MIN, 3, 3), "-9223372036854775.808");
	assert_string_equal(fmt_scaled(b, sizeof(b), INT64_MAX, 0, 0), "9223372036854775807");
	/* truncated, still terminated */
	assert_string_equal(fmt_scaled(b, 4, 13210, 3, 2), "13.");
}

static void test_duration(void **state)
{
	char b[32];

	assert_string_equal(fmt_duration(b, sizeof(b), 0), "0 s");
	assert_string_equal(fmt_duration(b, sizeof(b), 59), "59 s");
	assert_string_equal(fmt_duration(b, sizeof(b), 60), "1 min 00 s");
	assert_string_equal(fmt_duration(b, sizeof(b), 750), "12 min 30 s");
	assert_string_equal(fmt_duration(b, sizeof(b), 3599), "59 min 59 s");
	assert_string_equal(fmt_duration(b, sizeof(b), 3600), "1 h 00 min");
	assert_string_equal(fmt_duration(b, sizeof(b), 7500), "2 h 05 min");
	assert_string_equal(fmt_duration(b, sizeof(b), 86399), "23 h 59 min");
	assert_string_equal(fmt_duration(b, sizeof(b), 86400), "1 d 00 h");
	assert_string_equal(fmt_duration(b, sizeof(b), 273600), "3 d 04 h");
	assert_string_equal(fmt_duration(b, sizeof(b), -5), "0 s");
}

static void test_wall(void **state)
{
	char b[40];

	assert_string_equal(fmt_wall(b, sizeof(b), 0, T_12_03_11), "never");
	assert_string_equal(fmt_wall(b, sizeof(b), T_12_03_11, T_12_03_11), "12:03:11");
	/* the same day, later: still the short form */
	assert_string_equal(
	        fmt_wall(b, sizeof(b), T_12_03_11, T_12_03_11 + UINT64_C(11) * 3600000000),
	        "12:03:11");
	/* just past midnight the next day: the date is shown */
	assert_string_equal(
	        fmt_wall(b, sizeof(b), T_12_03_11, T_12_03_11 + UINT64_C(43010) * 1000000),
	        "2026-11-25 12:03:11");
	assert_string_equal(fmt_wall(b, sizeof(b), T_12_03_11 + 999999, T_12_03_11), "12:03:11");
}

static void test_reading(void **state)
{
	char b[32];

	assert_string_equal(fmt_reading(b, sizeof(b), 2790, "mV"), "2790 mV");
	assert_string_equal(fmt_reading(b, sizeof(b), 455, "0.1 degC"), "45.5 °C");
	assert_string_equal(fmt_reading(b, sizeof(b), -105, "0.1 degC"), "-10.5 °C");
	assert_string_equal(fmt_reading(b, sizeof(b), 1234, "0.01 %"), "12.34 %");
	assert_string_equal(fmt_reading(b, sizeof(b), 5, "0.1 %"), "0.5 %");
	assert_string_equal(fmt_reading(b, sizeof(b), 7, "s"), "7 s");
	assert_string_equal(fmt_reading(b, sizeof(b), 7, ""), "");
	assert_string_equal(fmt_cell_mv(b, sizeof(b), 65535), "n/a");
	assert_string_equal(fmt_cell_mv(b, sizeof(b), 65534), "65534 mV");
	assert_string_equal(fmt_temp_dc(b, sizeof(b), 32767), "n/a");
	assert_string_equal(fmt_temp_dc(b, sizeof(b), 32766), "3276.6 °C");
	assert_string_equal(fmt_temp_dc(b, sizeof(b), 235), "23.5 °C");
}

static void test_reason(void **state)
{
	char b[256];
	struct ctl_reason uv = {"A1", "cell under-voltage", (int64_t)T_12_03_11, 2790, "mV", 2, 3,
	                        false};
	struct ctl_reason hot = {
	        "A6", "too hot to discharge", (int64_t)T_12_03_11, 612, "0.1 degC", 4, 2, true};
	struct ctl_reason bank = {"A3", "bank over-voltage", 0, 14800, "mV", -1, -1, false};
	struct ctl_reason start = {"", "start-up", (int64_t)T_12_03_11, 0, "", -1, -1, false};
	struct ctl_reason stale = {"E1", "battery data stale", (int64_t)T_12_03_11, 0, "", 5, -1,
	                           false};

	assert_string_equal(fmt_reason(b, sizeof(b), &uv, T_12_03_11),
	                    "A1 cell under-voltage, battery 2 cell 3: 2790 mV, since 12:03:11");
	assert_string_equal(fmt_reason(b, sizeof(b), &hot, T_12_03_11),
	                    "A6 too hot to discharge, battery 4 sensor 2: 61.2 °C, since 12:03:11 "
	                    "(latched)");
	assert_string_equal(fmt_reason(b, sizeof(b), &bank, T_12_03_11),
	                    "A3 bank over-voltage: 14800 mV");
	assert_string_equal(fmt_reason(b, sizeof(b), &start, T_12_03_11),
	                    "start-up, since 12:03:11");
	assert_string_equal(fmt_reason(b, sizeof(b), &stale, T_12_03_11),
	                    "E1 battery data stale, battery 5, since 12:03:11");
	/* a short buffer truncates, terminated */
	assert_string_equal(fmt_reason(b, 8, &uv, T_12_03_11), "A1 cell");
	/* nothing is written to a zero-length buffer */
	b[0] = 'x';
	fmt_reason(b, 0, &uv, T_12_03_11);
	assert_int_equal(b[0], 'x');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_scaled), cmocka_unit_test(test_duration),
	        cmocka_unit_test(test_wall),   cmocka_unit_test(test_reading),
	        cmocka_unit_test(test_reason),
	};

	return cmocka_run_group_tests(tests, utc, NULL);
}
