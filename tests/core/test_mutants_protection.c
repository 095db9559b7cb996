/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rules of the protection step that a mutation run (tools/mutate) found
 * untested: each test here failed on at least one mutant of src/core/
 * protection.c that the rest of the suite let pass.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/codes.h"
#include "test_protection_fixture.h"

static const struct protection_hold *find_hold(const struct fx *f, enum protection_output_id o,
                                               enum protection_rule_id r)
{
	const struct protection_output_report *rep = &f->out.report[o];

	for (unsigned i = 0; i < rep->n_holds; i++)
		if (rep->holds[i].rule == r)
			return &rep->holds[i];
	return NULL;
}

/* A4 tripped by 50.1 degC on battery 0, sensor 0, at the current time. */
static void trip_charge_hot(struct fx *f)
{
	f->in.bat[0].temp_dc[0] = 501;
	fx_run_to(f, f->now + S_US(6), MS_US(500));
	assert_true(fx_holds(f, PROT_OUT_ATC, PROT_R_CHG_HOT));
}

/* A clock that steps back (a bad caller) never completes a release hold:
 * the hold counts from its start, not through an unsigned wrap. */
static void clock_stepping_back_never_releases(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	trip_charge_hot(&f);
	f.in.bat[0].temp_dc[0] = 250;
	t1 = f.now + S_US(1);
	fx_step_at(&f, t1); /* the 30 s release hold starts */
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
	fx_step_at(&f, t1 - S_US(2));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
	assert_false(f.out.atc_closed);
	/* Forward again: released 30 s after the hold started, not before. */
	fx_step_at(&f, t1 + S_US(30) - 1);
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
	fx_step_at(&f, t1 + S_US(30));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
}

/* Bank-wide readings (ADC, SoC) name no battery and no cell. */
static void bank_wide_readings_name_no_battery(void **state)
{
	const struct protection_hold *h;
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	f.in.bank_mv = 4 * 3750 + 1;
	fx_run_to(&f, f.now + S_US(3), MS_US(500));
	h = find_hold(&f, PROT_OUT_ATC, PROT_R_BANK_OV);
	assert_non_null(h);
	assert_int_equal(h->reading.value, 4 * 3750 + 1);
	assert_int_equal(h->reading.battery, -1);
	assert_int_equal(h->reading.index, -1);
	assert_string_equal(h->reading.unit, "mV");

	/* SoC below 0 (a bad estimate) reads as 0 %. */
	f.in.bank_mv = 13200;
	f.in.soc_cpct = -5;
	fx_step_at(&f, f.now + S_US(1));
	h = find_hold(&f, PROT_OUT_PREALARM, PROT_R_LOW_SOC_WARN);
	assert_non_null(h);
	assert_int_equal(h->reading.value, 0);
	assert_int_equal(h->reading.battery, -1);
	assert_int_equal(h->reading.index, -1);
}

/* Of equal extreme readings, the report names the first battery and cell;
 * of batteries with the same hard flag, the first battery. A flag reads as
 * value 1 with no cell. */
static void equal_readings_name_the_first(void **state)
{
	const struct protection_hold *h;
	struct fx f;

	(void)state;
	fx_start(&f, 3);
	f.in.bat[1].cell_mv[2] = 2400;
	f.in.bat[2].cell_mv[1] = 2400;
	f.in.bat[1].temp_dc[1] = 501;
	f.in.bat[2].temp_dc[0] = 501;
	fx_run_to(&f, f.now + S_US(6), MS_US(500));
	h = find_hold(&f, PROT_OUT_ATD, PROT_R_CRIT_UV);
	assert_non_null(h);
	assert_int_equal(h->reading.battery, 1);
	assert_int_equal(h->reading.index, 2);
	h = find_hold(&f, PROT_OUT_ATC, PROT_R_CHG_HOT);
	assert_non_null(h);
	assert_int_equal(h->reading.battery, 1);
	assert_int_equal(h->reading.index, 1);

	f.in.bat[1].hard_uv = true;
	f.in.bat[2].hard_uv = true;
	fx_step_at(&f, f.now + MS_US(100));
	h = find_hold(&f, PROT_OUT_ATD, PROT_R_HARD_UV);
	assert_non_null(h);
	assert_int_equal(h->reading.battery, 1);
	assert_int_equal(h->reading.index, -1);
	assert_int_equal(h->reading.value, 1);
}

/* The highest temperature is known when every sensor reads 0.0 degC or
 * below: A4 releases on it. */
static void max_temperature_at_zero_is_known(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	f.s.charge_temp_low_dc = 0; /* 0.0 degC: no W9 at 0.0 degC */
	assert_int_equal(protection_set_settings(&f.p, &f.s, NULL, 0), 0);
	trip_charge_hot(&f);
	fx_temps(&f, 0);
	t1 = f.now + MS_US(500);
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(30) - 1, MS_US(500));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
	fx_step_at(&f, t1 + S_US(30));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
	assert_true(f.out.atc_closed);
}

/* An enumerated bank of no battery stays in the cold start. */
static void empty_bank_stays_in_cold_start(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 0);
	fx_step_at(&f, T0);
	fx_step_at(&f, T0 + S_US(1));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_STARTUP_ATD));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_STARTUP_ATC));
	assert_false(f.out.atd_closed);
	assert_false(f.out.atc_closed);
}

/* A failed enumeration (E2) makes every battery stale (E1). */
static void failed_enumeration_is_stale(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 2);
	fx_step_at(&f, f.now + S_US(1));
	assert_true(f.out.atc_closed);
	f.in.enum_failed = true;
	fx_step_at(&f, f.now + MS_US(100));
	assert_true(fx_code(&f, BMS_E2));
	assert_true(fx_code(&f, BMS_E1));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_STALE_ATC));
	assert_false(f.out.atc_closed);
}

/* A battery that has never reported adds no staleness deadline; only the
 * fresh battery's 3 s do. */
static void unreported_battery_adds_no_deadline(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 2);
	f.in.bat[1].has_status = false;
	f.frozen[1] = true;
	f.in.bat[1].last_status_us = 0;
	fx_step_at(&f, S_US(1));
	assert_int_equal(protection_next_deadline_us(&f.p), S_US(4));
}

/* A stale battery does not hide when a fresh one goes stale: the next
 * deadline is the fresh battery's 3 s, not a time already past. */
static void stale_battery_keeps_the_next_stale_deadline(void **state)
{
	struct fx f;
	uint64_t t;

	(void)state;
	fx_start(&f, 2);
	f.frozen[1] = true;
	fx_run_to(&f, f.now + S_US(4), MS_US(500));
	assert_true(fx_code(&f, BMS_E1));
	t = f.now + MS_US(100);
	fx_step_at(&f, t);
	assert_int_equal(protection_next_deadline_us(&f.p), t + S_US(3));
}

/* A battery exempt from staleness (firmware update window) trips no stale
 * rule, and nothing releases on its data while the window lasts. */
static void exempt_battery(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 2);
	trip_charge_hot(&f);
	f.in.bat[0].temp_dc[0] = 250;
	/* Exempt and reporting: still no release on its data. */
	f.in.bat[1].stale_exempt = true;
	fx_run_to(&f, f.now + S_US(40), MS_US(500));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
	/* Exempt and silent: not stale. */
	f.frozen[1] = true;
	fx_run_to(&f, f.now + S_US(10), MS_US(500));
	assert_false(fx_code(&f, BMS_E1));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_STALE_ATC));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
	/* The window ends with a fresh STATUS: the 30 s release hold runs. */
	f.in.bat[1].stale_exempt = false;
	f.frozen[1] = false;
	t1 = f.now + MS_US(500);
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(30) - 1, MS_US(500));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
	fx_step_at(&f, t1 + S_US(30));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
}

/* The stale rule names the first stale battery. */
static void stale_names_the_first_battery(void **state)
{
	const struct protection_hold *h;
	struct fx f;

	(void)state;
	fx_start(&f, 3);
	f.frozen[1] = f.frozen[2] = true;
	fx_run_to(&f, f.now + S_US(4), MS_US(500));
	h = find_hold(&f, PROT_OUT_ATC, PROT_R_STALE_ATC);
	assert_non_null(h);
	assert_int_equal(h->reading.battery, 1);
}

/* A battery that has never reported has no values: its cells (here
 * garbage below the critical level) trip nothing. */
static void unreported_battery_values_do_not_count(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 2);
	fx_step_at(&f, f.now + S_US(1));
	f.in.n_batteries = 3;
	f.in.bat[2].n_cells = 4;
	f.in.bat[2].n_temps = 2;
	f.in.bat[2].has_status = false;
	for (unsigned c = 0; c < 4; c++)
		f.in.bat[2].cell_mv[c] = 2000;
	f.in.bat[2].temp_dc[0] = f.in.bat[2].temp_dc[1] = 900;
	fx_run_to(&f, f.now + S_US(10), MS_US(500));
	assert_true(fx_code(&f, BMS_E1));
	assert_false(fx_code(&f, BMS_A2));
	assert_false(fx_code(&f, BMS_A4));
	assert_false(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
}

/* The read-back is compared only with a valid bank voltage. */
static void readback_needs_a_valid_bank_voltage(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	fx_step_at(&f, f.now + S_US(1));
	assert_true(f.out.atc_closed);
	f.in.readback_valid = true;
	f.in.readback_mv = 0; /* would be a mismatch against 13.2 V */
	f.in.bank_mv_valid = false;
	fx_run_to(&f, f.now + S_US(3), MS_US(100));
	assert_false(fx_code(&f, BMS_E7));
	assert_true(fx_code(&f, BMS_E8));
}

/* W5 (docs/board.md): out of range above 68.0 V, not at 68.0 V. */
static void bank_range_upper_edge(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	f.in.bank_mv = 68000;
	fx_run_to(&f, f.now + S_US(10), MS_US(500));
	assert_false(fx_code(&f, BMS_W5));
	f.in.bank_mv = 68001;
	fx_run_to(&f, f.now + S_US(6), MS_US(500));
	assert_true(fx_code(&f, BMS_W5));
}

/* A discharge floor of 0 disables A5 only, not the other rules. */
static void floor_zero_disables_only_a5(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	f.s.discharge_floor_pct = 0;
	assert_int_equal(protection_set_settings(&f.p, &f.s, NULL, 0), 0);
	f.in.soc_cpct = 0;
	f.in.bat[0].cell_mv[3] = 2400; /* A2 after 1 s */
	f.in.bat[0].temp_dc[1] = 501;  /* A4 after 5 s */
	fx_run_to(&f, f.now + S_US(6), MS_US(500));
	assert_false(fx_code(&f, BMS_A5));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
}

/* Anti-chatter applies only to its rules: the remote switched off and on
 * three times in 10 min latches nothing. */
static void remote_off_never_chatters(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	for (unsigned k = 0; k < 4; k++) {
		f.in.remote_vl_mv = 13200;
		fx_run_to(&f, f.now + S_US(1), MS_US(100));
		assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_REMOTE_OFF));
		f.in.remote_vl_mv = 0;
		fx_run_to(&f, f.now + S_US(1), MS_US(100));
		assert_true(f.out.atd_closed);
	}
	assert_false(fx_code(&f, BMS_W3));
	assert_int_equal(f.out.latched_rules, 0);
	/* A rule without a code of its own adds none. */
	f.in.remote_vl_mv = 13200;
	fx_run_to(&f, f.now + S_US(1), MS_US(100));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_REMOTE_OFF));
	assert_int_equal(f.out.codes, 0);
}

/* Stale (E1) for 1 s on battery 1, then fresh until its rule released. */
static void stale_blip(struct fx *f)
{
	f->frozen[1] = true;
	fx_run_to(f, f->now + S_US(4), MS_US(500));
	assert_true(fx_holds(f, PROT_OUT_ATC, PROT_R_STALE_ATC));
	f->frozen[1] = false;
	fx_run_to(f, f->now + S_US(6), MS_US(500));
	assert_false(fx_holds(f, PROT_OUT_ATC, PROT_R_STALE_ATC));
}

/* After a latch has been released, only the transitions after it count:
 * two more in the window do not latch again. */
static void released_latch_forgets_old_transitions(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 2);
	stale_blip(&f);
	stale_blip(&f);
	f.frozen[1] = true;
	fx_run_to(&f, f.now + S_US(4), MS_US(500));
	assert_true(f.out.latched_rules & (UINT32_C(1) << PROT_R_STALE_ATC));
	assert_true(fx_code(&f, BMS_W3));
	f.frozen[1] = false;
	fx_run_to(&f, f.now + S_US(6), MS_US(500));
	assert_false(f.out.latched_rules & (UINT32_C(1) << PROT_R_STALE_ATC));
	stale_blip(&f);
	f.frozen[1] = true;
	fx_run_to(&f, f.now + S_US(4), MS_US(500));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_STALE_ATC));
	assert_false(f.out.latched_rules & (UINT32_C(1) << PROT_R_STALE_ATC));
	assert_false(fx_code(&f, BMS_W3));
}

/* The window keeps the newest transitions: of trips at 0, 500, 1050 and
 * 1080 s, the fourth latches (500, 1050 and 1080 are within 600 s). */
static void chatter_window_keeps_the_newest(void **state)
{
	static const unsigned at_s[] = {0, 500, 1050, 1080};
	struct fx f;
	uint64_t t0;

	(void)state;
	fx_start(&f, 2);
	t0 = f.now;
	for (unsigned k = 0; k < 3; k++) {
		fx_run_to(&f, t0 + S_US(at_s[k]) + 1, S_US(1));
		stale_blip(&f);
		assert_false(f.out.latched_rules & (UINT32_C(1) << PROT_R_STALE_ATC));
	}
	fx_run_to(&f, t0 + S_US(at_s[3]) + 1, S_US(1));
	f.frozen[1] = true;
	fx_run_to(&f, f.now + S_US(4), MS_US(500));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_STALE_ATC));
	assert_true(f.out.latched_rules & (UINT32_C(1) << PROT_R_STALE_ATC));
}

/* An unknown quantity neither starts nor breaks a countdown: A4 counting
 * from 50.1 degC completes while every sensor reads "not available", and
 * reports the last known reading. */
static void countdown_continues_through_unknown(void **state)
{
	const struct protection_hold *h;
	struct fx f;
	uint64_t t0;

	(void)state;
	fx_start(&f, 1);
	t0 = f.now + MS_US(500);
	f.in.bat[0].temp_dc[1] = 501;
	fx_step_at(&f, t0);
	f.in.bat[0].temp_dc[0] = f.in.bat[0].temp_dc[1] = PROTECTION_TEMP_NA;
	fx_run_to(&f, t0 + S_US(5) - 1, MS_US(500));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
	fx_step_at(&f, t0 + S_US(5));
	h = find_hold(&f, PROT_OUT_ATC, PROT_R_CHG_HOT);
	assert_non_null(h);
	assert_int_equal(h->reading.value, 501);
	assert_int_equal(h->reading.battery, 0);
	assert_int_equal(h->reading.index, 1);
}

/* E5 counts its 120 s from the failure time the updater gives when that
 * is in the past, and from now when it is not (a bad time from the future
 * never postpones it). */
static void fw_failure_counts_from_the_failure(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	t1 = f.now + S_US(1);
	f.in.fw_failed = true;
	f.in.fw_failed_since_us = t1 - S_US(100);
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(20) - 1, MS_US(500));
	assert_false(fx_holds(&f, PROT_OUT_ATD, PROT_R_FW_FAILED));
	fx_step_at(&f, t1 + S_US(20));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_FW_FAILED));

	fx_start(&f, 1);
	t1 = f.now + S_US(1);
	f.in.fw_failed = true;
	f.in.fw_failed_since_us = t1 + S_US(10);
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(120) - 1, S_US(1));
	assert_false(fx_holds(&f, PROT_OUT_ATD, PROT_R_FW_FAILED));
	fx_step_at(&f, t1 + S_US(120));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_FW_FAILED));
}

/* Only the pre-alarm's own causes sound it: an alarm on ATC alone (A4)
 * leaves it silent. */
static void charge_alarm_is_no_prealarm_cause(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	trip_charge_hot(&f);
	assert_false(f.out.prealarm_active);
	assert_int_equal(f.out.report[PROT_OUT_PREALARM].n_holds, 0);
}

/* The drain guard silences the pre-alarm 60 s after the drain rule
 * tripped, counted from that trip, whatever the steps before it. */
static void drain_guard_counts_from_the_trip(void **state)
{
	(void)state;
	for (unsigned extra = 0; extra < 2; extra++) {
		struct fx f;
		uint64_t ta;

		fx_start(&f, 1);
		for (unsigned k = 0; k < 3 + extra; k++)
			fx_step_at(&f, f.now + S_US(1));
		ta = f.now + S_US(1);
		fx_cells(&f, 2400);
		fx_step_at(&f, ta);
		fx_step_at(&f, ta + S_US(1)); /* A2 trips */
		assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
		fx_run_to(&f, ta + S_US(61) - 1, S_US(1));
		assert_true(f.out.prealarm_active);
		fx_step_at(&f, ta + S_US(61));
		assert_false(f.out.prealarm_active);
	}
}

/* The pre-alarm's report says since when it sounds. */
static void prealarm_report_since(void **state)
{
	struct fx f;
	uint64_t ton;

	(void)state;
	fx_start(&f, 1);
	ton = f.now + S_US(1);
	f.in.soc_cpct = 1900; /* W1 */
	fx_step_at(&f, ton);
	fx_run_to(&f, ton + S_US(5), S_US(1));
	assert_true(f.out.prealarm_active);
	assert_false(f.out.report[PROT_OUT_PREALARM].closed);
	assert_int_equal(f.out.report[PROT_OUT_PREALARM].since_us, ton);
}

/* The lead is complete only while the pre-alarm sounds. */
static void lead_complete_only_while_sounding(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	fx_complete_lead(&f);
	assert_true(f.out.lead_complete);
	f.in.soc_cpct = 5000; /* W1 releases at once */
	fx_step_at(&f, f.now + S_US(1));
	assert_false(f.out.prealarm_active);
	assert_false(f.out.lead_complete);
}

/* Low-power shutdown needs a known capacity: with none, a small discharge
 * never asks for a power-off; with 1 Ah, 4 mA is below 0.5 % of C. */
static void poweroff_needs_a_known_capacity(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	f.in.capacity_ah = 0;
	f.in.current_ma = -100;
	f.in.soc_cpct = 900; /* A5 */
	fx_run_to(&f, f.now + S_US(700), S_US(5));
	assert_false(f.out.atd_closed);
	assert_false(f.out.request_poweroff);

	fx_start(&f, 1);
	f.in.capacity_ah = 1;
	f.in.current_ma = 4;
	f.in.soc_cpct = 900;
	fx_run_to(&f, f.now + S_US(610), S_US(5));
	assert_true(f.out.request_poweroff);
}

/* Remote OFF with a small current for 10 min asks for a power-off too. */
static void poweroff_on_remote_off(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	f.in.remote_vl_mv = 13200;
	fx_step_at(&f, T0 + S_US(1));
	fx_step_at(&f, T0 + S_US(2)); /* off after the 200 ms debounce */
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_REMOTE_OFF));
	fx_run_to(&f, T0 + S_US(602) - 1, S_US(5));
	assert_false(f.out.request_poweroff);
	fx_step_at(&f, T0 + S_US(602));
	assert_true(f.out.request_poweroff);
}

/* The pre-alarm's report lists its causes while it sounds, and nothing
 * while it is silent (here silenced by the drain guard). */
static void prealarm_report_lists_its_causes_only(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	f.in.soc_cpct = 1900; /* W1 */
	fx_step_at(&f, f.now + S_US(1));
	assert_true(f.out.prealarm_active);
	assert_int_equal(f.out.report[PROT_OUT_PREALARM].n_holds, 1);
	assert_int_equal(f.out.report[PROT_OUT_PREALARM].holds[0].rule, PROT_R_LOW_SOC_WARN);

	fx_start(&f, 1);
	fx_cells(&f, 2400); /* A2, W2, A1 */
	fx_run_to(&f, f.now + S_US(70), S_US(1));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
	assert_false(f.out.prealarm_active);
	assert_int_equal(f.out.report[PROT_OUT_PREALARM].n_holds, 0);
}

/* During the cold start the codes come from the inputs themselves (the
 * rules are not evaluated yet): E1 for a battery that has not reported,
 * E3, E6 and W7 (from the updater or from a battery's update flag). */
static void cold_start_codes_from_the_inputs(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 2);
	f.in.bat[1].has_status = false;
	f.in.bank_changed = true;
	f.in.topology_bad = true;
	f.in.fw_running = true;
	fx_step_at(&f, T0);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_STARTUP_ATD));
	assert_true(fx_code(&f, BMS_E1));
	assert_true(fx_code(&f, BMS_E3));
	assert_true(fx_code(&f, BMS_E6));
	assert_true(fx_code(&f, BMS_W7));

	fx_init(&f, 2);
	f.in.bat[1].has_status = false;
	f.in.bat[0].fw_update = true;
	fx_step_at(&f, T0);
	assert_true(fx_code(&f, BMS_W7));
	assert_false(fx_code(&f, BMS_E3));
	assert_false(fx_code(&f, BMS_E6));
}

/* The next deadline is a release hold only while that hold runs. */
static void deadline_only_of_a_running_hold(void **state)
{
	struct fx f;
	uint64_t t1, t2;

	(void)state;
	fx_start(&f, 1);
	trip_charge_hot(&f);
	f.in.bat[0].temp_dc[0] = 250;
	t1 = f.now + S_US(1);
	fx_step_at(&f, t1); /* the hold runs until t1 + 30 s */
	fx_run_to(&f, t1 + S_US(28), S_US(1));
	assert_int_equal(protection_next_deadline_us(&f.p), t1 + S_US(30));
	f.in.bat[0].temp_dc[0] = 501; /* hot again: the hold stops */
	t2 = t1 + S_US(28) + MS_US(500);
	fx_step_at(&f, t2);
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
	assert_int_equal(protection_next_deadline_us(&f.p), t2 + S_US(3)); /* staleness */
}

/* The end of the lead is a deadline while the pre-alarm sounds, and not
 * once it is silent. */
static void deadline_of_the_lead(void **state)
{
	struct fx f;
	uint64_t ton, t;

	(void)state;
	fx_start(&f, 1);
	ton = f.now + S_US(1);
	f.in.soc_cpct = 1900; /* W1 */
	fx_step_at(&f, ton);
	t = ton + S_US(28) + MS_US(500);
	fx_run_to(&f, t, S_US(1));
	assert_int_equal(protection_next_deadline_us(&f.p), ton + S_US(30));

	fx_start(&f, 1);
	ton = f.now + S_US(1);
	f.in.soc_cpct = 1900;
	fx_step_at(&f, ton);
	fx_step_at(&f, ton + S_US(5));
	f.in.soc_cpct = 5000; /* silent again */
	t = ton + S_US(28) + MS_US(500);
	fx_run_to(&f, t, S_US(1));
	assert_false(f.out.prealarm_active);
	assert_int_equal(protection_next_deadline_us(&f.p), t + S_US(3));
}

/* The ends of the drain guard and of the power-off countdown are
 * deadlines while they run, and not once they have stopped. */
static void deadlines_of_drain_guard_and_poweroff(void **state)
{
	struct fx f;
	uint64_t ta;

	(void)state;
	/* Running: A2 holds from ta + 1 s with no current. */
	fx_start(&f, 1);
	ta = f.now + S_US(1);
	fx_cells(&f, 2400);
	fx_step_at(&f, ta);
	fx_step_at(&f, ta + S_US(1));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
	fx_run_to(&f, ta + S_US(59) + MS_US(500), S_US(1));
	assert_int_equal(protection_next_deadline_us(&f.p), ta + S_US(61));
	fx_run_to(&f, ta + S_US(599) + MS_US(500), S_US(1));
	assert_int_equal(protection_next_deadline_us(&f.p), ta + S_US(601));

	/* Stopped: A2 released at ta + 31.5 s. */
	fx_start(&f, 1);
	ta = f.now + S_US(1);
	fx_cells(&f, 2400);
	fx_step_at(&f, ta);
	fx_step_at(&f, ta + S_US(1));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
	fx_cells(&f, 3300);
	fx_run_to(&f, ta + S_US(40), MS_US(500));
	assert_true(f.out.atd_closed);
	fx_run_to(&f, ta + S_US(59) + MS_US(500), S_US(1));
	assert_int_equal(protection_next_deadline_us(&f.p), f.now + S_US(3));
	fx_run_to(&f, ta + S_US(599) + MS_US(500), S_US(1));
	assert_int_equal(protection_next_deadline_us(&f.p), f.now + S_US(3));
}

/* The ATC report says since when it is open. */
static void atc_report_since(void **state)
{
	struct fx f;
	uint64_t t;

	(void)state;
	fx_start(&f, 1);
	trip_charge_hot(&f);
	t = f.out.report[PROT_OUT_ATC].since_us;
	assert_int_equal(t, find_hold(&f, PROT_OUT_ATC, PROT_R_CHG_HOT)->since_us);
	fx_run_to(&f, f.now + S_US(5), S_US(1));
	assert_false(f.out.report[PROT_OUT_ATC].closed);
	assert_int_equal(f.out.report[PROT_OUT_ATC].since_us, t);
	assert_true(t < f.now);
}

/* An invalid bank voltage never asks for the below-9 V save. */
static void no_save_on_an_invalid_bank_voltage(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	f.in.bank_mv_valid = false;
	f.in.bank_mv = 0;
	fx_step_at(&f, f.now + S_US(1));
	assert_false(f.out.save_record);
}

/* A battery's update flag blinks the red LED fast, as the updater does. */
static void battery_update_flag_blinks_red(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 2);
	f.in.bat[1].fw_update = true;
	fx_step_at(&f, f.now + S_US(1));
	assert_int_equal(f.out.red, LED_BLINK_FAST);
}

static void fw_update_allowed_refuses_null(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	assert_int_equal(protection_fw_update_allowed(&f.p, NULL, &f.out), -EINVAL);
	assert_int_equal(protection_fw_update_allowed(&f.p, &f.in, NULL), -EINVAL);
	assert_int_equal(protection_fw_update_allowed(&f.p, &f.in, &f.out), 0);
}

static void init_refuses_null(void **state)
{
	struct protection_settings s;
	struct protection p;

	(void)state;
	protection_settings_default(&s);
	assert_int_equal(protection_init(&p, NULL, -1), -EINVAL);
	assert_int_equal(protection_init(NULL, &s, -1), -EINVAL);
	assert_null(protection_new(NULL, -1));
	assert_int_equal(protection_init(&p, &s, -1), 0);
	/* A state on the heap holds a whole protection (ASan checks the size). */
	struct protection *h = protection_new(&s, -1);
	assert_non_null(h);
	assert_int_equal(protection_set_settings(h, NULL, NULL, 0), -EINVAL);
	struct protection_output out;
	protection_step(h, T0, &(struct protection_input){0}, &out);
	assert_false(out.atd_closed || out.atc_closed); /* no battery: unknown */
	protection_free(h);
}

/* protection_persist.c: a restart restores the remote terminal as it was,
 * OFF as well as ON. */
static void restart_keeps_the_remote_state(void **state)
{
	uint8_t buf[PROTECTION_PERSIST_MAX];

	(void)state;
	for (unsigned off = 0; off < 2; off++) {
		struct fx f;
		int n;

		fx_start(&f, 1);
		if (off)
			f.in.remote_vl_mv = 13200;
		fx_run_to(&f, f.now + S_US(1), MS_US(100));
		assert_int_equal(f.out.remote_on, !off);
		n = protection_persist_encode(&f.p, f.now, buf, sizeof(buf));
		assert_true(n > 0);
		protection_init(&f.p, &f.s, -1);
		assert_false(remote_is_on(&f.p.remote));
		assert_int_equal(protection_persist_apply(&f.p, f.now, buf, (size_t)n, true), 0);
		assert_true(f.p.remote.known);
		assert_int_equal(remote_is_on(&f.p.remote), !off);
	}
}

/* A terminal never read stays undecided across a restart; encoding needs
 * a state and a buffer. */
static void restart_keeps_an_undecided_remote(void **state)
{
	uint8_t buf[PROTECTION_PERSIST_MAX];
	struct protection_settings s;
	struct protection p;
	int n;

	(void)state;
	protection_settings_default(&s);
	assert_int_equal(protection_init(&p, &s, -1), 0);
	assert_int_equal(protection_persist_encode(NULL, T0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(protection_persist_encode(&p, T0, NULL, sizeof(buf)), -EINVAL);
	n = protection_persist_encode(&p, T0, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(protection_persist_apply(&p, T0, buf, (size_t)n, true), 0);
	assert_false(p.remote.known);
	assert_int_equal(protection_persist_apply(NULL, T0, buf, (size_t)n, true), -EINVAL);
}

#define PERSIST_HEADER     48
#define PERSIST_RULE_BYTES 55
#define PERSIST_TAIL       (1 + 8) /* the batteries fresh at the save */

/* Every saved field comes back as it was: a restart at the same time
 * restores each timer, flag, latch, chatter time and reading (bank-wide
 * readings and flags with no cell included), and saves the same bytes
 * again, apart from the start phase (running comes back as resumed). */
static void persist_round_trip_keeps_every_field(void **state)
{
	uint8_t a[PROTECTION_PERSIST_MAX], b[PROTECTION_PERSIST_MAX];
	struct protection saved;
	struct fx f;
	int na, nb;

	(void)state;
	fx_start(&f, 2);
	stale_blip(&f);
	stale_blip(&f);               /* two chatter times kept on the stale rules */
	f.in.bank_mv = 8 * 3750 + 1;  /* bank OV: a bank-wide reading */
	f.in.bat[1].hard_ov = true;   /* a flag reading */
	f.in.bat[0].temp_dc[1] = 501; /* A4 */
	f.in.current_ma = 0;
	fx_cells(&f, 2400); /* A2 (drain, power-off countdown), W2, A1 */
	fx_run_to(&f, f.now + S_US(8), MS_US(500));
	f.in.bat[0].temp_dc[1] = 250; /* A4's release hold runs */
	fx_run_to(&f, f.now + S_US(2), MS_US(500));
	assert_true(f.out.prealarm_active);
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_BANK_OV));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_HARD_OV));
	assert_true(f.p.drain_running && f.p.poweroff_running);
	assert_true(f.p.rule[PROT_R_CHG_HOT].release_running);
	assert_int_equal(f.p.rule[PROT_R_STALE_ATC].n_chatter, 2);

	saved = f.p;
	na = protection_persist_encode(&f.p, f.now, a, sizeof(a));
	assert_int_equal(na, PERSIST_HEADER + PROT_RULE_COUNT * PERSIST_RULE_BYTES + PERSIST_TAIL);
	protection_init(&f.p, &f.s, -1);
	assert_int_equal(protection_persist_apply(&f.p, f.now, a, (size_t)na, true), 0);
	assert_int_equal(f.p.start, PROT_START_RESUMED);
	assert_int_equal(f.p.prealarm_on, saved.prealarm_on);
	assert_int_equal(f.p.prealarm_since_us, saved.prealarm_since_us);
	assert_int_equal(f.p.drain_since_us, saved.drain_since_us);
	assert_int_equal(f.p.poweroff_since_us, saved.poweroff_since_us);
	assert_int_equal(f.p.atd_since_us, saved.atd_since_us);
	assert_int_equal(f.p.atc_since_us, saved.atc_since_us);
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		const struct protection_rule_state *x = &saved.rule[i], *y = &f.p.rule[i];

		assert_int_equal(y->phase, x->phase);
		assert_int_equal(y->latched, x->latched);
		/* rev 3: a release hold is seen again on fresh data after a restart */
		assert_false(y->release_running);
		assert_int_equal(y->n_chatter, x->n_chatter);
		if (x->phase != PROT_PH_CLEAR)
			assert_int_equal(y->trip_start_us, x->trip_start_us);
		if (x->phase == PROT_PH_TRIPPED)
			assert_int_equal(y->tripped_since_us, x->tripped_since_us);
		for (unsigned c = 0; c < x->n_chatter; c++)
			assert_int_equal(y->chatter_us[c], x->chatter_us[c]);
		assert_int_equal(y->sync_count_at_trip, x->sync_count_at_trip);
		assert_int_equal(y->reading.value, x->reading.value);
		assert_int_equal(y->reading.battery, x->reading.battery);
		assert_int_equal(y->reading.index, x->reading.index);
	}
	/* The batteries fresh at the save get the staleness window again. */
	assert_int_equal(f.p.resume_n, saved.fresh_n);
	assert_true(f.p.resume_mask == saved.fresh_mask && saved.fresh_mask != 0);
	/* The same bytes again, apart from the start phase (byte 6), the
	 * release holds (not resumed) and the tail (nothing fresh yet). */
	nb = protection_persist_encode(&f.p, f.now, b, sizeof(b));
	assert_int_equal(nb, na);
	assert_int_equal(a[6], PROT_START_RUNNING);
	assert_int_equal(b[6], PROT_START_RESUMED);
	b[6] = a[6];
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		size_t o = PERSIST_HEADER + i * PERSIST_RULE_BYTES;

		if (!saved.rule[i].release_running)
			continue;
		assert_int_equal(a[o + 1] & 2, 2); /* R_RELEASE saved */
		assert_int_equal(b[o + 1] & 2, 0);
		b[o + 1] |= 2;
		for (unsigned k = 0; k < 8; k++) {
			assert_int_equal(b[o + 3 + 2 * 8 + k], 0xff); /* no release time */
			b[o + 3 + 2 * 8 + k] = a[o + 3 + 2 * 8 + k];
		}
	}
	for (unsigned k = 0; k < PERSIST_TAIL; k++)
		assert_int_equal(b[na - PERSIST_TAIL + k], 0);
	assert_memory_equal(a, b, (size_t)na - PERSIST_TAIL);
	/* A chatter slot not in use is saved as "no time". */
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++)
		if (saved.rule[i].n_chatter < PROT_CHATTER_COUNT - 1) {
			size_t o = PERSIST_HEADER + i * PERSIST_RULE_BYTES + 3 + 3 * 8 +
			           saved.rule[i].n_chatter * 8;
			for (unsigned k = 0; k < 8; k++)
				assert_int_equal(a[o + k], 0xff);
		}
}

/* After a restart the outputs report the time they have been closed since,
 * from before the restart. */
static void restart_keeps_the_outputs_since(void **state)
{
	uint8_t a[PROTECTION_PERSIST_MAX];
	uint64_t t;
	struct fx f;
	int n;

	(void)state;
	fx_start(&f, 1);
	fx_run_to(&f, f.now + S_US(10), S_US(1));
	assert_true(f.out.atd_closed && f.out.atc_closed);
	assert_int_equal(f.out.report[PROT_OUT_ATD].since_us, T0);
	assert_int_equal(f.out.report[PROT_OUT_ATC].since_us, T0);
	n = protection_persist_encode(&f.p, f.now, a, sizeof(a));
	assert_true(n > 0);
	t = f.now;
	protection_init(&f.p, &f.s, -1);
	assert_int_equal(protection_persist_apply(&f.p, t, a, (size_t)n, true), 0);
	fx_step_at(&f, t + MS_US(100));
	assert_true(f.out.atd_closed && f.out.atc_closed);
	assert_int_equal(f.out.report[PROT_OUT_ATD].since_us, T0);
	assert_int_equal(f.out.report[PROT_OUT_ATC].since_us, T0);

	/* Open (A2 on ATD, A4 on ATC) since before the restart. */
	fx_start(&f, 1);
	fx_cells(&f, 2400);
	f.in.bat[0].temp_dc[0] = 501;
	fx_run_to(&f, f.now + S_US(10), S_US(1));
	assert_false(f.out.atd_closed || f.out.atc_closed);
	uint64_t atd_since = f.out.report[PROT_OUT_ATD].since_us;
	uint64_t atc_since = f.out.report[PROT_OUT_ATC].since_us;
	n = protection_persist_encode(&f.p, f.now, a, sizeof(a));
	assert_true(n > 0);
	t = f.now;
	protection_init(&f.p, &f.s, -1);
	assert_int_equal(protection_persist_apply(&f.p, t, a, (size_t)n, true), 0);
	fx_step_at(&f, t + MS_US(100));
	assert_false(f.out.atd_closed || f.out.atc_closed);
	assert_int_equal(f.out.report[PROT_OUT_ATD].since_us, atd_since);
	assert_int_equal(f.out.report[PROT_OUT_ATC].since_us, atc_since);

	/* ATD open (A2), ATC closed since T0. */
	fx_start(&f, 1);
	fx_cells(&f, 2400);
	fx_run_to(&f, f.now + S_US(10), S_US(1));
	assert_false(f.out.atd_closed);
	assert_true(f.out.atc_closed);
	n = protection_persist_encode(&f.p, f.now, a, sizeof(a));
	assert_true(n > 0);
	t = f.now;
	protection_init(&f.p, &f.s, -1);
	assert_int_equal(protection_persist_apply(&f.p, t, a, (size_t)n, true), 0);
	fx_step_at(&f, t + MS_US(100));
	assert_true(f.out.atc_closed);
	assert_int_equal(f.out.report[PROT_OUT_ATC].since_us, T0);

	/* ATC open (A4), ATD closed since T0: an ATC rule leaves ATD alone. */
	fx_start(&f, 1);
	f.in.bat[0].temp_dc[0] = 501;
	fx_run_to(&f, f.now + S_US(10), S_US(1));
	assert_true(f.out.atd_closed);
	assert_false(f.out.atc_closed);
	n = protection_persist_encode(&f.p, f.now, a, sizeof(a));
	assert_true(n > 0);
	t = f.now;
	protection_init(&f.p, &f.s, -1);
	assert_int_equal(protection_persist_apply(&f.p, t, a, (size_t)n, true), 0);
	fx_step_at(&f, t + MS_US(100));
	assert_true(f.out.atd_closed);
	assert_int_equal(f.out.report[PROT_OUT_ATD].since_us, T0);
}

/* A resumed instance saved while its start-up hold kept ATD open (the lines
 * it adopted were open): the next one resumes ATD open since then. */
static void restart_keeps_a_startup_open_since(void **state)
{
	uint8_t a[PROTECTION_PERSIST_MAX];
	uint64_t t, since;
	struct fx f;
	int n;

	(void)state;
	fx_start(&f, 1);
	fx_run_to(&f, f.now + S_US(5), S_US(1));
	n = protection_persist_encode(&f.p, f.now, a, sizeof(a));
	assert_true(n > 0);
	t = f.now + S_US(1);
	protection_init(&f.p, &f.s, -1);
	assert_int_equal(protection_persist_apply(&f.p, t, a, (size_t)n, true), 0);
	protection_adopted_outputs(&f.p, false, false);
	f.in.enumerated = false;
	f.in.n_batteries = 0;
	fx_step_at(&f, t);
	fx_step_at(&f, t + S_US(1));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_STARTUP_ATD));
	since = f.out.report[PROT_OUT_ATD].since_us;
	n = protection_persist_encode(&f.p, f.now, a, sizeof(a));
	assert_true(n > 0);
	t = f.now; /* ages: the same clock without a gap */
	protection_init(&f.p, &f.s, -1);
	assert_int_equal(protection_persist_apply(&f.p, t, a, (size_t)n, true), 0);
	protection_adopted_outputs(&f.p, false, false);
	fx_step_at(&f, t);
	assert_false(f.out.atd_closed);
	assert_int_equal(f.out.report[PROT_OUT_ATD].since_us, since);
}

/* A saved reading names battery -1 (bank-wide) or a battery, never below. */
static void persist_refuses_a_battery_below_minus_one(void **state)
{
	uint8_t a[PROTECTION_PERSIST_MAX];
	struct fx f;
	int n;

	(void)state;
	fx_start(&f, 1);
	n = protection_persist_encode(&f.p, f.now, a, sizeof(a));
	assert_true(n > 0);
	/* rule 0's reading: battery at offset 3 + 5 x 8 + 4 + 4, index after it */
	size_t o = PERSIST_HEADER + 3 + 5 * 8 + 8;
	a[o] = 0xff, a[o + 1] = 0xff; /* -1 */
	a[o + 2] = 0xff, a[o + 3] = 0xff;
	assert_int_equal(protection_persist_check(a, (size_t)n), 0);
	a[o] = 0xfe; /* -2 */
	assert_int_equal(protection_persist_check(a, (size_t)n), -ERANGE);
	a[o] = 0xff;
	a[o + 2] = 0xfe;
	assert_int_equal(protection_persist_check(a, (size_t)n), -ERANGE);
}

/* protection_rules.c: levels that cannot be computed say so. */
static void level_values_edges(void **state)
{
	struct protection_settings s;
	int32_t v = 7;

	(void)state;
	protection_settings_default(&s);
	/* Bank over-voltage: 1 to 1000 cells in series, nothing else. */
	assert_true(protection_level_value(PROT_L_BANK_OV_TRIP, &s, 1, &v));
	assert_int_equal(v, s.ov_trip_mv);
	assert_true(protection_level_value(PROT_L_BANK_OV_RELEASE, &s, 1000, &v));
	assert_int_equal(v, 1000 * s.ov_release_mv);
	v = 7;
	assert_false(protection_level_value(PROT_L_BANK_OV_TRIP, &s, 1001, &v));
	assert_false(protection_level_value(PROT_L_BANK_OV_TRIP, &s, 0, &v));
	assert_false(protection_level_value(PROT_L_BANK_OV_TRIP, &s, -4, &v));
	assert_int_equal(v, 7);
	/* A floor of 0 has no level; 1 % has. */
	s.discharge_floor_pct = 0;
	assert_false(protection_level_value(PROT_L_SOC_FLOOR, &s, 4, &v));
	assert_false(protection_level_value(PROT_L_SOC_FLOOR_RELEASE, &s, 4, &v));
	assert_int_equal(v, 7);
	s.discharge_floor_pct = 1;
	assert_true(protection_level_value(PROT_L_SOC_FLOOR, &s, 4, &v));
	assert_int_equal(v, 100);
	assert_true(protection_level_value(PROT_L_SOC_FLOOR_RELEASE, &s, 4, &v));
	assert_int_equal(v, 300);
	/* No level at all. */
	assert_false(protection_level_value(PROT_L_NONE, &s, 4, &v));
	assert_int_equal(v, 300);
}

/* protection.c soc_moved(): a resumed instance has seen no SoC yet, so a
 * discharge that reached the floor during the restart is no manual set: A5
 * opens ATD at once, without the pre-alarm lead (rev 3). */
static void resume_below_floor_is_a_discharge(void **state)
{
	uint8_t a[PROTECTION_PERSIST_MAX];
	uint64_t t;
	struct fx f;
	int n;

	(void)state;
	fx_start(&f, 1);
	fx_run_to(&f, f.now + S_US(10), S_US(1));
	assert_true(f.out.atd_closed);
	n = protection_persist_encode(&f.p, f.now, a, sizeof(a));
	assert_true(n > 0);
	t = f.now;
	protection_init(&f.p, &f.s, -1);
	assert_int_equal(protection_persist_apply(&f.p, t, a, (size_t)n, true), 0);
	f.in.soc_cpct = 900;
	fx_step_at(&f, t + MS_US(100));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_LOW_SOC));
	assert_true(fx_code(&f, BMS_A5));
}

/* protection_persist.c: each bank-wide flag comes back on its own, in every
 * combination. */
static void persist_keeps_each_flag_apart(void **state)
{
	uint8_t a[PROTECTION_PERSIST_MAX];
	struct protection_settings s;
	struct protection p;

	(void)state;
	protection_settings_default(&s);
	for (unsigned m = 0; m < 32; m++) {
		bool known = m & 1, on = known && (m & 2);
		int n;

		assert_int_equal(protection_init(&p, &s, -1), 0);
		if (known)
			remote_restore(&p.remote, on);
		p.prealarm_on = m & 4;
		p.drain_running = m & 8;
		p.poweroff_running = m & 16;
		p.prealarm_since_us = p.drain_since_us = p.poweroff_since_us = T0;
		n = protection_persist_encode(&p, T0 + S_US(1), a, sizeof(a));
		assert_true(n > 0);
		assert_int_equal(protection_init(&p, &s, -1), 0);
		assert_int_equal(protection_persist_apply(&p, T0 + S_US(1), a, (size_t)n, true), 0);
		assert_int_equal(p.remote.known, known);
		assert_int_equal(known && remote_is_on(&p.remote), on);
		assert_int_equal(p.prealarm_on, (m & 4) != 0);
		assert_int_equal(p.drain_running, (m & 8) != 0);
		assert_int_equal(p.poweroff_running, (m & 16) != 0);
	}
}

/* protection_persist.c: a time after the save's clock (the clock stepped
 * back) is saved as "now": it comes back as the time of the restart, neither
 * later nor earlier. */
static void persist_clamps_a_future_time_to_now(void **state)
{
	uint8_t a[PROTECTION_PERSIST_MAX];
	struct protection_settings s;
	struct protection p;
	int n;

	(void)state;
	protection_settings_default(&s);
	assert_int_equal(protection_init(&p, &s, -1), 0);
	p.atd_since_us = T0 + S_US(5);
	p.atc_since_us = T0 - S_US(5);
	n = protection_persist_encode(&p, T0, a, sizeof(a));
	assert_true(n > 0);
	assert_int_equal(protection_init(&p, &s, -1), 0);
	assert_int_equal(protection_persist_apply(&p, T0 + S_US(1), a, (size_t)n, true), 0);
	assert_int_equal(p.atd_since_us, T0 + S_US(1));
	assert_int_equal(p.atc_since_us, T0 - S_US(4));
	/* An age older than the new clock: its origin. */
	assert_int_equal(protection_persist_apply(&p, S_US(1), a, (size_t)n, true), 0);
	assert_int_equal(p.atc_since_us, 0);
}

/* protection_report.c: protection_code_text() at the edges of the buffer:
 * the text and its NUL fit exactly, one byte less is refused; no buffer is
 * invalid. */
static void code_text_buffer_edges(void **state)
{
	struct protection_output out = {0};
	char text[64];
	size_t l;

	(void)state;
	out.codes = BMS_CODE_BIT(BMS_W2) | BMS_CODE_BIT(BMS_W3);
	assert_int_equal(protection_code_text(&out, BMS_W2, text, 0), -EINVAL);
	assert_int_equal(protection_code_text(&out, BMS_W2, NULL, sizeof(text)), -EINVAL);
	l = strlen(bms_code_summary(BMS_W2));
	assert_true(l > 0 && l < sizeof(text));
	assert_int_equal(protection_code_text(&out, BMS_W2, text, l), -ENOBUFS);
	assert_int_equal(protection_code_text(&out, BMS_W2, text, l + 1), 0);
	assert_string_equal(text, bms_code_summary(BMS_W2));
	/* W3 without a latched rule in out: the bare prefix. */
	assert_int_equal(protection_code_text(&out, BMS_W3, text, 5), -ENOBUFS);
	assert_int_equal(protection_code_text(&out, BMS_W3, text, 11), -ENOBUFS);
	assert_int_equal(protection_code_text(&out, BMS_W3, text, 12), 0);
	assert_string_equal(text, "chattering:");
	/* A bit past the rules names nothing. */
	out.latched_rules = UINT32_C(1) << PROT_RULE_COUNT;
	assert_int_equal(protection_code_text(&out, BMS_W3, text, sizeof(text)), 0);
	assert_string_equal(text, "chattering:");
	out.latched_rules = UINT32_C(1) << PROT_R_OV;
	l = strlen("chattering: cell over-voltage");
	assert_int_equal(protection_code_text(&out, BMS_W3, text, l), -ENOBUFS);
	assert_int_equal(protection_code_text(&out, BMS_W3, text, l + 1), 0);
	assert_string_equal(text, "chattering: cell over-voltage");
}

/* protection_persist.c: no state to adopt into is a no-op, never a crash;
 * a cold start keeps holding both outputs whatever the lines say. */
static void adopted_outputs_needs_a_resumed_state(void **state)
{
	struct fx f;

	(void)state;
	protection_adopted_outputs(NULL, false, false);
	fx_init(&f, 1);
	protection_adopted_outputs(&f.p, false, false);
	assert_int_equal(f.p.resume_open, 0);
}

/* protection.c trip_condition(): an A5 that waits for the pre-alarm lead
 * (a manual set, rev 3) ends when the floor is disabled meanwhile: ATD never
 * opens for it. */
static void floor_zero_ends_a_waiting_a5(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	fx_run_to(&f, T0 + S_US(2), MS_US(100));
	f.in.soc_sync_count++;
	f.in.soc_cpct = 500;
	t1 = f.now + MS_US(100);
	fx_step_at(&f, t1);
	assert_true(fx_holds(&f, PROT_OUT_PREALARM, PROT_R_LOW_SOC));
	fx_run_to(&f, t1 + S_US(5), MS_US(100));
	f.s.discharge_floor_pct = 0;
	assert_int_equal(protection_set_settings(&f.p, &f.s, NULL, 0), 0);
	for (uint64_t t = f.now + MS_US(100); t <= t1 + S_US(60); t += MS_US(100)) {
		fx_step_at(&f, t);
		assert_true(f.out.atd_closed);
		assert_false(fx_code(&f, BMS_A5));
	}
	assert_false(fx_holds(&f, PROT_OUT_PREALARM, PROT_R_LOW_SOC));
}

/* protection_persist.c: the flag bits of a record, per version; a buffer of
 * exactly the record's size; a full bank's freshness tail. */
static void persist_flag_bits_and_sizes(void **state)
{
	uint8_t a[PROTECTION_PERSIST_MAX], b[PROTECTION_PERSIST_MAX];
	struct protection_settings s;
	struct protection p;
	const size_t r0 = PERSIST_HEADER + 1; /* rule 0's flags */
	int n;

	(void)state;
	protection_settings_default(&s);
	assert_int_equal(protection_init(&p, &s, -1), 0);
	/* A rule waiting for the lead (rev 3) keeps waiting after a restart. */
	p.rule[PROT_R_LOW_SOC].phase = PROT_PH_PENDING;
	p.rule[PROT_R_LOW_SOC].trip_start_us = T0;
	p.rule[PROT_R_LOW_SOC].lead_wait = true;
	p.fresh_n = PROTECTION_MAX_BATTERIES;
	p.fresh_mask = (UINT64_C(1) << PROTECTION_MAX_BATTERIES) - 1;
	n = protection_persist_encode(&p, T0, a, sizeof(a));
	assert_true(n > 0);
	/* exactly the record's size is enough, one byte less is not */
	assert_int_equal(protection_persist_encode(&p, T0, b, (size_t)n), n);
	assert_int_equal(protection_persist_encode(&p, T0, b, (size_t)n - 1), -ENOBUFS);
	assert_int_equal(protection_init(&p, &s, -1), 0);
	assert_int_equal(protection_persist_apply(&p, T0, a, (size_t)n, true), 0);
	assert_true(p.rule[PROT_R_LOW_SOC].lead_wait);
	assert_false(p.rule[PROT_R_UV].lead_wait);
	assert_int_equal(p.resume_n, PROTECTION_MAX_BATTERIES);
	/* Unknown bank-wide and rule flags are refused. */
	memcpy(b, a, (size_t)n);
	b[7] |= 1u << 5;
	assert_int_equal(protection_persist_check(b, (size_t)n), -ERANGE);
	memcpy(b, a, (size_t)n);
	b[r0] = 1u << 3;
	assert_int_equal(protection_persist_check(b, (size_t)n), -ERANGE);
	b[r0] = 7; /* latched, release, lead */
	assert_int_equal(protection_persist_check(b, (size_t)n), 0);
	/* Version 1 (no tail): latched and release, not the lead. */
	b[4] = 1;
	b[PERSIST_HEADER + PROT_R_LOW_SOC * PERSIST_RULE_BYTES + 1] = 0;
	b[r0] = 3;
	assert_int_equal(protection_persist_check(b, (size_t)n - PERSIST_TAIL), 0);
	b[r0] = 4;
	assert_int_equal(protection_persist_check(b, (size_t)n - PERSIST_TAIL), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(clock_stepping_back_never_releases),
	        cmocka_unit_test(bank_wide_readings_name_no_battery),
	        cmocka_unit_test(equal_readings_name_the_first),
	        cmocka_unit_test(max_temperature_at_zero_is_known),
	        cmocka_unit_test(empty_bank_stays_in_cold_start),
	        cmocka_unit_test(failed_enumeration_is_stale),
	        cmocka_unit_test(unreported_battery_adds_no_deadline),
	        cmocka_unit_test(stale_battery_keeps_the_next_stale_deadline),
	        cmocka_unit_test(exempt_battery),
	        cmocka_unit_test(stale_names_the_first_battery),
	        cmocka_unit_test(unreported_battery_values_do_not_count),
	        cmocka_unit_test(readback_needs_a_valid_bank_voltage),
	        cmocka_unit_test(bank_range_upper_edge),
	        cmocka_unit_test(floor_zero_disables_only_a5),
	        cmocka_unit_test(remote_off_never_chatters),
	        cmocka_unit_test(released_latch_forgets_old_transitions),
	        cmocka_unit_test(chatter_window_keeps_the_newest),
	        cmocka_unit_test(countdown_continues_through_unknown),
	        cmocka_unit_test(fw_failure_counts_from_the_failure),
	        cmocka_unit_test(charge_alarm_is_no_prealarm_cause),
	        cmocka_unit_test(drain_guard_counts_from_the_trip),
	        cmocka_unit_test(prealarm_report_since),
	        cmocka_unit_test(lead_complete_only_while_sounding),
	        cmocka_unit_test(poweroff_needs_a_known_capacity),
	        cmocka_unit_test(poweroff_on_remote_off),
	        cmocka_unit_test(prealarm_report_lists_its_causes_only),
	        cmocka_unit_test(cold_start_codes_from_the_inputs),
	        cmocka_unit_test(deadline_only_of_a_running_hold),
	        cmocka_unit_test(deadline_of_the_lead),
	        cmocka_unit_test(deadlines_of_drain_guard_and_poweroff),
	        cmocka_unit_test(atc_report_since),
	        cmocka_unit_test(no_save_on_an_invalid_bank_voltage),
	        cmocka_unit_test(battery_update_flag_blinks_red),
	        cmocka_unit_test(fw_update_allowed_refuses_null),
	        cmocka_unit_test(init_refuses_null),
	        cmocka_unit_test(restart_keeps_the_remote_state),
	        cmocka_unit_test(restart_keeps_an_undecided_remote),
	        cmocka_unit_test(persist_round_trip_keeps_every_field),
	        cmocka_unit_test(persist_refuses_a_battery_below_minus_one),
	        cmocka_unit_test(restart_keeps_the_outputs_since),
	        cmocka_unit_test(level_values_edges),
	        cmocka_unit_test(resume_below_floor_is_a_discharge),
	        cmocka_unit_test(persist_keeps_each_flag_apart),
	        cmocka_unit_test(persist_clamps_a_future_time_to_now),
	        cmocka_unit_test(code_text_buffer_edges),
	        cmocka_unit_test(adopted_outputs_needs_a_resumed_state),
	        cmocka_unit_test(floor_zero_ends_a_waiting_a5),
	        cmocka_unit_test(persist_flag_bits_and_sizes),
	        cmocka_unit_test(restart_keeps_a_startup_open_since),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
