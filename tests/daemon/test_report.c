/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The "why" of "output ... opened: <why>" and "pre-alarm on: <why>". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/codes.h"
#include "daemon/report.h"

static void test_readings(void **state)
{
	char buf[96];

	report_reading(&(struct protection_reading){2400, "mV", 1, 1}, buf, sizeof(buf));
	assert_string_equal(buf, "battery 2 cell 2: 2400 mV");
	report_reading(&(struct protection_reading){-35, "0.1 degC", 0, 3}, buf, sizeof(buf));
	assert_string_equal(buf, "battery 1 sensor 4: -3.5 degC");
	report_reading(&(struct protection_reading){612, "0.1 degC", 4, 0}, buf, sizeof(buf));
	assert_string_equal(buf, "battery 5 sensor 1: 61.2 degC");
	report_reading(&(struct protection_reading){950, "0.01 %", -1, -1}, buf, sizeof(buf));
	assert_string_equal(buf, "bank: 9.50 %");
	report_reading(&(struct protection_reading){60100, "mV", -1, -1}, buf, sizeof(buf));
	assert_string_equal(buf, "bank: 60100 mV");
	report_reading(&(struct protection_reading){1, NULL, 2, -1}, buf, sizeof(buf));
	assert_string_equal(buf, "battery 3: 1 ");
}

static void test_holds(void **state)
{
	struct protection_output_report rep = {.n_holds = 2};
	char buf[256], small[60];

	report_holds(&rep, buf, sizeof(buf));
	rep.holds[0] = (struct protection_hold){
	        .code = BMS_A2, .name = "critical under-voltage", .reading = {2400, "mV", 1, 1}};
	rep.holds[1] = (struct protection_hold){
	        .code = -1, .name = "remote off", .reading = {0, "", -1, -1}};
	report_holds(&rep, buf, sizeof(buf));
	assert_string_equal(buf,
	                    "A2 critical under-voltage (battery 2 cell 2: 2400 mV); remote off");

	rep.holds[1] = (struct protection_hold){
	        .code = BMS_E1, .name = "battery data stale", .reading = {0, "", 2, -1}};
	report_holds(&rep, buf, sizeof(buf));
	assert_string_equal(buf, "A2 critical under-voltage (battery 2 cell 2: 2400 mV); E1 "
	                         "battery data stale (battery 3)");

	/* Too small: whole holds only, never a cut-off one. */
	report_holds(&rep, small, sizeof(small));
	assert_string_equal(small, "A2 critical under-voltage (battery 2 cell 2: 2400 mV)");

	rep.n_holds = 0;
	report_holds(&rep, buf, sizeof(buf));
	assert_string_equal(buf, "start-up (waiting for the bank)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_readings),
	        cmocka_unit_test(test_holds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
