/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The "why" of "output ... opened: <why>" and "pre-alarm on: <why>". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/codes.h"
#include "core/protection_settings.h"
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

/* Issue 13 item 12: with the chain open, the stale rule's holds say so
 * instead of naming battery 1, which is fine. The real protection decides. */
static void test_chain_open_reason(void **state)
{
	struct protection_settings ps;
	struct protection p;
	struct protection_input in;
	struct protection_output o;
	char why[600];

	protection_settings_default(&ps);
	assert_int_equal(protection_init(&p, &ps, -1), 0);
	memset(&in, 0, sizeof(in));
	in.n_batteries = 2;
	in.enumerated = true;
	in.series_s = 1;
	in.cells_per_battery = 4;
	in.bank_mv_valid = in.remote_vh_valid = in.remote_vl_valid = true;
	in.bank_mv = 13200;
	for (unsigned b = 0; b < 2; b++) {
		in.bat[b].has_status = true;
		in.bat[b].last_status_us = 1000000;
		in.bat[b].n_cells = 4;
		for (unsigned c = 0; c < 4; c++)
			in.bat[b].cell_mv[c] = 3300;
	}
	protection_step(&p, 1000000, &in, &o);
	assert_true(o.atc_closed);
	in.chain_open = true;
	protection_step(&p, 1000000, &in, &o);
	assert_false(o.atc_closed);
	report_explain_chain(&o, &in);
	report_holds(&o.report[PROT_OUT_ATC], why, sizeof(why));
	assert_non_null(strstr(why, "E1 battery data stale: chain open"));
	assert_null(strstr(why, "battery 1"));
	for (unsigned i = 0; i < o.report[PROT_OUT_ATC].n_holds; i++)
		if (o.report[PROT_OUT_ATC].holds[i].code == BMS_E1)
			assert_int_equal(o.report[PROT_OUT_ATC].holds[i].reading.battery, -1);

	/* a closed chain: the hold is left as the rule made it */
	in.chain_open = false;
	in.bat[0].last_status_us = 0;
	protection_step(&p, 4000000, &in, &o);
	report_explain_chain(&o, &in);
	report_holds(&o.report[PROT_OUT_ATC], why, sizeof(why));
	assert_non_null(strstr(why, "E1 battery data stale"));
	assert_null(strstr(why, "chain open"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_readings),
	        cmocka_unit_test(test_holds),
	        cmocka_unit_test(test_chain_open_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
