/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Each rule of docs/protection.md: levels, delays, holds, lead, cold start. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/codes.h"
#include "test_protection_fixture.h"

/* Steps at t - 1 us (rule not holding yet) and at t (holding). */
static void expect_hold_at(struct fx *f, enum protection_output_id o, enum protection_rule_id r,
                           uint64_t t)
{
	fx_run_to(f, t - 1, MS_US(100));
	assert_false(fx_holds(f, o, r));
	fx_step_at(f, t);
	assert_true(fx_holds(f, o, r));
}

static void expect_release_at(struct fx *f, enum protection_output_id o, enum protection_rule_id r,
                              uint64_t t)
{
	fx_run_to(f, t - 1, MS_US(500));
	assert_true(fx_holds(f, o, r));
	fx_step_at(f, t);
	assert_false(fx_holds(f, o, r));
}

static void cold_start_holds_both(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 2);
	f.in.enumerated = false;
	fx_step_at(&f, T0);
	assert_false(f.out.atd_closed);
	assert_false(f.out.atc_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_STARTUP_ATD));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_STARTUP_ATC));
	/* Enumerated, but one battery has not reported yet. */
	f.in.enumerated = true;
	f.in.bat[1].has_status = false;
	fx_step_at(&f, T0 + S_US(1));
	assert_false(f.out.atd_closed);
	assert_false(f.out.atc_closed);
	/* Every battery fresh: the rules decide. */
	f.in.bat[1].has_status = true;
	fx_step_at(&f, T0 + S_US(2));
	assert_true(f.out.atd_closed);
	assert_true(f.out.atc_closed);
	assert_int_equal(f.out.codes, 0);
}

static void cold_start_starts_tripped(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 1);
	f.in.bat[0].cell_mv[2] = 2799; /* A1, no delay, no lead */
	f.in.bat[0].temp_dc[1] = 501;  /* A4 */
	fx_step_at(&f, T0);
	assert_false(f.out.atd_closed);
	assert_false(f.out.atc_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_UV));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_CHG_HOT));
	assert_true(fx_code(&f, BMS_A1));
	assert_true(fx_code(&f, BMS_A4));
}

static void uv_waits_for_the_lead(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	fx_run_to(&f, T0 + S_US(10), S_US(1));
	t1 = f.now + MS_US(100);
	f.in.bat[0].cell_mv[0] = 2799;
	fx_step_at(&f, t1);
	/* Pre-alarm first (the rule waiting for the lead), ATD still closed. */
	assert_true(f.out.prealarm_active);
	assert_true(f.out.atd_closed);
	expect_hold_at(&f, PROT_OUT_ATD, PROT_R_UV, t1 + S_US(30));
	assert_false(f.out.atd_closed);
	assert_true(fx_code(&f, BMS_A1));
	assert_true(fx_code(&f, BMS_W2));
}

static void uv_level_and_delay(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	fx_complete_lead(&f);
	assert_true(f.out.lead_complete);
	/* At the level: never. */
	fx_cells(&f, 2800);
	fx_run_to(&f, f.now + S_US(60), MS_US(500));
	assert_true(f.out.atd_closed);
	t1 = f.now + 1;
	f.in.bat[0].cell_mv[3] = 2799;
	fx_step_at(&f, t1);
	expect_hold_at(&f, PROT_OUT_ATD, PROT_R_UV, t1 + S_US(5));
}

static void uv_breaking_reading_restarts(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	fx_complete_lead(&f);
	t1 = f.now + 1;
	f.in.bat[0].cell_mv[0] = 2799;
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(4), MS_US(500));
	f.in.bat[0].cell_mv[0] = 2800;
	fx_step_at(&f, t1 + S_US(4) + 1);
	f.in.bat[0].cell_mv[0] = 2799;
	fx_step_at(&f, t1 + S_US(4) + 2);
	expect_hold_at(&f, PROT_OUT_ATD, PROT_R_UV, t1 + S_US(9) + 2);
}

static void uv_release_level_and_hold(void **state)
{
	struct fx f;
	uint64_t t2;

	(void)state;
	fx_init(&f, 1);
	fx_cells(&f, 2700);
	fx_step_at(&f, T0);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_UV));
	fx_cells(&f, 3199);
	fx_run_to(&f, T0 + S_US(100), S_US(1));
	assert_false(f.out.atd_closed);
	t2 = f.now + 1;
	fx_cells(&f, 3200);
	fx_step_at(&f, t2);
	expect_release_at(&f, PROT_OUT_ATD, PROT_R_UV, t2 + S_US(30));
	assert_true(f.out.atd_closed);
}

static void crit_uv_skips_the_lead(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	/* 2500 mV is not critical (but A1 counts and waits). */
	fx_cells(&f, 2500);
	fx_run_to(&f, T0 + S_US(10), MS_US(100));
	assert_false(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
	assert_true(f.out.atd_closed);
	t1 = f.now + 1;
	f.in.bat[0].cell_mv[1] = 2499;
	fx_step_at(&f, t1);
	expect_hold_at(&f, PROT_OUT_ATD, PROT_R_CRIT_UV, t1 + S_US(1));
	assert_false(f.out.lead_complete);
	assert_true(fx_code(&f, BMS_A2));
	/* A1 then trips too without the lead: ATD is already open. */
	fx_run_to(&f, t1 + S_US(6), MS_US(100));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_UV));
}

static void hard_flags_at_once(void **state)
{
	struct fx f;
	uint64_t t;

	(void)state;
	fx_start(&f, 2);
	f.in.bat[1].hard_uv = true;
	f.in.bat[0].hard_ov = true;
	fx_step_at(&f, T0 + 1);
	assert_false(f.out.atd_closed);
	assert_false(f.out.atc_closed);
	assert_int_equal(f.out.report[PROT_OUT_ATD].holds[0].reading.battery, 1);
	/* Flags clear: release after the hold on good cells. */
	f.in.bat[1].hard_uv = false;
	f.in.bat[0].hard_ov = false;
	t = T0 + S_US(1);
	fx_step_at(&f, t);
	expect_release_at(&f, PROT_OUT_ATD, PROT_R_HARD_UV, t + S_US(30));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_HARD_OV));
}

static void low_soc_alarm(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	f.in.soc_cpct = 1001;
	fx_step_at(&f, T0 + S_US(1));
	assert_true(f.out.atd_closed);
	assert_true(fx_code(&f, BMS_W1));
	f.in.soc_cpct = 1000;
	fx_step_at(&f, T0 + S_US(2));
	assert_false(f.out.atd_closed);
	assert_true(fx_code(&f, BMS_A5));
	/* Unknown SoC keeps it. */
	f.in.soc_known = false;
	fx_step_at(&f, T0 + S_US(3));
	assert_false(f.out.atd_closed);
	/* Above floor + 2 %, but no synchronisation: kept. */
	f.in.soc_known = true;
	f.in.soc_cpct = 1300;
	fx_step_at(&f, T0 + S_US(4));
	assert_false(f.out.atd_closed);
	/* A manual set to just under floor + 2 %: kept. */
	f.in.soc_sync_count++;
	f.in.soc_cpct = 1199;
	fx_step_at(&f, T0 + S_US(5));
	assert_false(f.out.atd_closed);
	f.in.soc_cpct = 1200;
	fx_step_at(&f, T0 + S_US(6));
	assert_true(f.out.atd_closed);
	/* Floor 0 disables and releases. */
	f.in.soc_cpct = 500;
	fx_step_at(&f, T0 + S_US(7));
	assert_false(f.out.atd_closed);
	f.s.discharge_floor_pct = 0;
	assert_int_equal(protection_set_settings(&f.p, &f.s, NULL, 0), 0);
	fx_step_at(&f, T0 + S_US(8));
	assert_true(f.out.atd_closed);
	assert_false(fx_code(&f, BMS_A5));
}

static void low_soc_warning(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	f.in.soc_cpct = 2001;
	fx_step_at(&f, T0 + S_US(1));
	assert_false(f.out.prealarm_active);
	f.in.soc_cpct = 2000;
	fx_step_at(&f, T0 + S_US(2));
	assert_true(f.out.prealarm_active);
	assert_true(fx_code(&f, BMS_W1));
	assert_true(fx_holds(&f, PROT_OUT_PREALARM, PROT_R_LOW_SOC_WARN));
	f.in.soc_known = false;
	fx_step_at(&f, T0 + S_US(3));
	assert_true(f.out.prealarm_active);
	f.in.soc_known = true;
	f.in.soc_cpct = 2199;
	fx_step_at(&f, T0 + S_US(4));
	assert_true(f.out.prealarm_active);
	f.in.soc_cpct = 2200;
	fx_step_at(&f, T0 + S_US(5));
	assert_false(f.out.prealarm_active);
	assert_false(fx_code(&f, BMS_W1));
}

/* A temperature rule on one output: trip level, delay, release level, hold. */
struct temp_case {
	enum protection_output_id out;
	enum protection_rule_id rule;
	enum bms_code code;
	int16_t at_level, past_level, not_released, released;
	uint64_t hold_us;
	bool lead;
};

static void temp_rule(const struct temp_case *c)
{
	struct fx f;
	uint64_t t1, t2;

	fx_start(&f, 1);
	if (c->lead)
		fx_complete_lead(&f);
	fx_temps(&f, c->at_level);
	fx_run_to(&f, f.now + S_US(40), MS_US(500));
	assert_false(fx_holds(&f, c->out, c->rule));
	t1 = f.now + 1;
	f.in.bat[0].temp_dc[1] = c->past_level;
	fx_step_at(&f, t1);
	expect_hold_at(&f, c->out, c->rule, t1 + S_US(5));
	assert_true(fx_code(&f, c->code));
	assert_int_equal(f.out.report[c->out].holds[0].reading.value, c->past_level);
	assert_int_equal(f.out.report[c->out].holds[0].reading.index, 1);
	assert_string_equal(f.out.report[c->out].holds[0].reading.unit, "0.1 degC");
	fx_temps(&f, c->not_released);
	fx_run_to(&f, f.now + c->hold_us + S_US(10), S_US(1));
	assert_true(fx_holds(&f, c->out, c->rule));
	t2 = f.now + 1;
	fx_temps(&f, c->released);
	fx_step_at(&f, t2);
	expect_release_at(&f, c->out, c->rule, t2 + c->hold_us);
}

static void temperature_rules(void **state)
{
	static const struct temp_case cases[] = {
	        {PROT_OUT_ATD, PROT_R_DIS_HOT, BMS_A6, 600, 601, 551, 550, S_US(60), true},
	        {PROT_OUT_ATD, PROT_R_DIS_COLD, BMS_A7, -200, -201, -181, -180, S_US(60), true},
	        {PROT_OUT_ATC, PROT_R_CHG_HOT, BMS_A4, 500, 501, 481, 480, S_US(30), false},
	        {PROT_OUT_ATC, PROT_R_CHG_COLD, BMS_W9, 50, 49, 69, 70, S_US(30), false},
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		temp_rule(&cases[i]);
}

static void discharge_temp_waits_for_lead(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	t1 = T0 + S_US(1);
	f.in.bat[0].temp_dc[0] = 601;
	fx_step_at(&f, t1);
	assert_true(f.out.prealarm_active);
	expect_hold_at(&f, PROT_OUT_ATD, PROT_R_DIS_HOT, t1 + S_US(30));
	/* It keeps the pre-alarm active while it holds ATD. */
	assert_true(f.out.prealarm_active);
}

static void cell_over_voltage(void **state)
{
	struct fx f;
	uint64_t t1, t2;

	(void)state;
	fx_start(&f, 2);
	fx_cells(&f, 3750);
	fx_run_to(&f, T0 + S_US(10), MS_US(100));
	assert_true(f.out.atc_closed);
	t1 = f.now + 1;
	f.in.bat[1].cell_mv[3] = 3751;
	fx_step_at(&f, t1);
	expect_hold_at(&f, PROT_OUT_ATC, PROT_R_OV, t1 + S_US(1));
	assert_true(f.out.atd_closed);
	assert_int_equal(f.out.report[PROT_OUT_ATC].holds[0].reading.battery, 1);
	assert_int_equal(f.out.report[PROT_OUT_ATC].holds[0].reading.index, 3);
	assert_int_equal(f.out.report[PROT_OUT_ATC].holds[0].since_us, t1 + S_US(1));
	fx_cells(&f, 3401);
	fx_run_to(&f, f.now + S_US(60), S_US(1));
	assert_false(f.out.atc_closed);
	t2 = f.now + 1;
	fx_cells(&f, 3400);
	fx_step_at(&f, t2);
	expect_release_at(&f, PROT_OUT_ATC, PROT_R_OV, t2 + S_US(30));
	assert_true(f.out.atc_closed);
}

static void bank_over_voltage(void **state)
{
	struct fx f;
	uint64_t t1, t2;

	(void)state;
	fx_start(&f, 1); /* S = 1, 4 cells: trip above 15000 mV */
	f.in.bank_mv = 15000;
	fx_run_to(&f, T0 + S_US(10), MS_US(100));
	assert_true(f.out.atc_closed);
	t1 = f.now + 1;
	f.in.bank_mv = 15001;
	fx_step_at(&f, t1);
	expect_hold_at(&f, PROT_OUT_ATC, PROT_R_BANK_OV, t1 + S_US(2));
	assert_true(fx_code(&f, BMS_A3));
	f.in.bank_mv = 13601;
	fx_run_to(&f, f.now + S_US(40), S_US(1));
	assert_false(f.out.atc_closed);
	t2 = f.now + 1;
	f.in.bank_mv = 13600;
	fx_step_at(&f, t2);
	expect_release_at(&f, PROT_OUT_ATC, PROT_R_BANK_OV, t2 + S_US(30));
}

static void stale_data(void **state)
{
	struct fx f;
	uint64_t ts, t;

	(void)state;
	fx_start(&f, 3);
	fx_run_to(&f, T0 + S_US(5), MS_US(100));
	ts = f.now;
	f.frozen[2] = true;
	/* Stale exactly 3 s after the last valid STATUS. */
	fx_run_to(&f, ts + S_US(3) - 1, MS_US(100));
	assert_true(f.out.atc_closed);
	assert_false(fx_code(&f, BMS_E1));
	assert_int_equal(protection_next_deadline_us(&f.p), ts + S_US(3));
	fx_step_at(&f, ts + S_US(3));
	assert_false(f.out.atc_closed);
	assert_true(f.out.atd_closed);
	assert_true(f.out.prealarm_active);
	assert_true(fx_code(&f, BMS_E1));
	assert_int_equal(f.out.report[PROT_OUT_ATC].holds[0].reading.battery, 2);
	/* ATD after the lead. */
	expect_hold_at(&f, PROT_OUT_ATD, PROT_R_STALE_ATD, ts + S_US(33));
	/* Fresh again: released after 5 s. */
	f.frozen[2] = false;
	t = f.now + MS_US(100);
	fx_step_at(&f, t);
	/* E1 stays while the rule holds ATC. */
	expect_release_at(&f, PROT_OUT_ATC, PROT_R_STALE_ATC, t + S_US(5));
	assert_false(fx_code(&f, BMS_E1));
	assert_true(f.out.atd_closed);
	assert_true(f.out.atc_closed);
}

static void stale_values_count_but_never_release(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 2);
	fx_complete_lead(&f);
	f.in.bat[1].cell_mv[0] = 3800;
	fx_step_at(&f, f.now + 1);
	fx_step_at(&f, f.now + S_US(1));
	assert_false(f.out.atc_closed);
	/* Battery 1 goes silent with good values: no release on unknown data. */
	f.in.bat[1].cell_mv[0] = 3300;
	f.frozen[1] = true;
	fx_run_to(&f, f.now + S_US(100), S_US(1));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_OV));
	/* A fault flag makes a battery stale too (E4). */
	f.frozen[1] = false;
	f.in.bat[0].fault = true;
	fx_step_at(&f, f.now + S_US(1));
	assert_true(fx_code(&f, BMS_E4));
	assert_true(fx_code(&f, BMS_E1));
	/* A stale battery's last values still trip (count mismatch). */
	f.in.bat[0].fault = false;
	f.in.bat[0].count_mismatch = true;
	f.in.bat[0].cell_mv[1] = 2400;
	fx_step_at(&f, f.now + S_US(1));
	fx_step_at(&f, f.now + S_US(1));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
}

static void bank_changed_and_topology(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 2);
	t1 = T0 + S_US(1);
	f.in.bank_changed = true;
	fx_step_at(&f, t1);
	assert_false(f.out.atc_closed);
	assert_true(f.out.atd_closed);
	assert_true(fx_code(&f, BMS_E3));
	expect_hold_at(&f, PROT_OUT_ATD, PROT_R_CHANGED_ATD, t1 + S_US(30));
	f.in.bank_changed = false;
	fx_step_at(&f, f.now + 1);
	assert_true(f.out.atd_closed);
	assert_true(f.out.atc_closed);
	f.in.topology_bad = true;
	fx_step_at(&f, f.now + 1);
	assert_false(f.out.atc_closed);
	assert_true(fx_code(&f, BMS_E6));
	f.in.topology_bad = false;
	f.in.more_batteries = true;
	fx_step_at(&f, f.now + 1);
	assert_true(f.out.atc_closed);
	assert_true(fx_code(&f, BMS_W8));
	assert_int_equal(f.out.red, LED_BLINK);
}

static void firmware_update(void **state)
{
	struct fx f;
	uint64_t tf;

	(void)state;
	fx_start(&f, 2);
	f.in.fw_running = true;
	fx_step_at(&f, T0 + S_US(1));
	assert_false(f.out.atc_closed);
	assert_true(f.out.atd_closed);
	assert_true(fx_code(&f, BMS_W7));
	assert_int_equal(f.out.red, LED_BLINK_FAST);
	/* A battery's STATUS update flag keeps it running (restart case). */
	f.in.fw_running = false;
	f.in.bat[1].fw_update = true;
	fx_step_at(&f, T0 + S_US(2));
	assert_false(f.out.atc_closed);
	f.in.bat[1].fw_update = false;
	fx_step_at(&f, T0 + S_US(3));
	assert_true(f.out.atc_closed);
	/* Failure: pre-alarm at once, ATD 120 s after the failure (E5). */
	tf = T0 + S_US(4);
	f.in.fw_failed = true;
	f.in.fw_failed_since_us = tf;
	fx_step_at(&f, tf);
	assert_true(f.out.prealarm_active);
	assert_true(fx_code(&f, BMS_E5));
	assert_int_equal(f.out.red, LED_SOLID);
	expect_hold_at(&f, PROT_OUT_ATD, PROT_R_FW_FAILED, tf + S_US(120));
	f.in.fw_failed = false;
	fx_step_at(&f, f.now + 1);
	assert_true(f.out.atd_closed);
	assert_int_equal(f.out.red, LED_OFF);
}

static void remote_off_opens_both(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	f.in.soc_cpct = 1500; /* W1: pre-alarm active */
	fx_step_at(&f, T0 + S_US(1));
	assert_true(f.out.prealarm_active);
	f.in.remote_vl_mv = 13200; /* nothing connected */
	fx_step_at(&f, T0 + S_US(2));
	assert_true(f.out.remote_on); /* debounce */
	fx_step_at(&f, T0 + S_US(2) + MS_US(200));
	assert_false(f.out.remote_on);
	assert_false(f.out.atd_closed);
	assert_false(f.out.atc_closed);
	assert_false(f.out.prealarm_active);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_REMOTE_OFF));
	assert_int_equal(f.out.report[PROT_OUT_ATD].holds[0].code, PROTECTION_NO_CODE);
	f.in.remote_vl_mv = 0;
	fx_step_at(&f, T0 + S_US(3));
	fx_step_at(&f, T0 + S_US(3) + MS_US(200));
	assert_true(f.out.atd_closed);
	assert_true(f.out.atc_closed);
	assert_true(f.out.prealarm_active);
}

static void drain_guard(void **state)
{
	struct fx f;
	uint64_t t1, t2;

	(void)state;
	fx_start(&f, 1);
	t1 = T0 + S_US(1);
	fx_cells(&f, 2400);
	fx_step_at(&f, t1);
	fx_step_at(&f, t1 + S_US(1));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
	fx_run_to(&f, t1 + S_US(61) - 1, MS_US(500));
	assert_true(f.out.prealarm_active);
	fx_step_at(&f, t1 + S_US(61));
	assert_false(f.out.prealarm_active);
	/* Re-arms when the rules release. */
	fx_cells(&f, 3200);
	t2 = f.now + 1;
	fx_step_at(&f, t2);
	fx_run_to(&f, t2 + S_US(30), S_US(1));
	assert_true(f.out.atd_closed);
	fx_cells(&f, 3000);
	fx_step_at(&f, f.now + 1);
	fx_step_at(&f, f.now + S_US(2));
	assert_true(f.out.prealarm_active);
}

static void anti_chatter(void **state)
{
	struct fx f;
	uint64_t t;

	(void)state;
	fx_start(&f, 1);
	for (int i = 0; i < 3; i++) {
		f.in.bat[0].cell_mv[0] = 3800;
		fx_run_to(&f, f.now + S_US(2), MS_US(500));
		assert_false(f.out.atc_closed);
		f.in.bat[0].cell_mv[0] = 3300;
		fx_run_to(&f, f.now + S_US(31), S_US(1));
		if (i < 2) {
			assert_true(f.out.atc_closed);
			assert_false(fx_code(&f, BMS_W3));
		}
	}
	/* Third trip within 600 s: latched, 600 s after the release began. */
	assert_false(f.out.atc_closed);
	assert_true(fx_code(&f, BMS_W3));
	assert_true(f.out.latched_rules & (1u << PROT_R_OV));
	assert_true(f.out.report[PROT_OUT_ATC].holds[0].latched);
	/* A new trip restarts the 600 s. */
	f.in.bat[0].cell_mv[0] = 3800;
	fx_step_at(&f, f.now + S_US(1));
	f.in.bat[0].cell_mv[0] = 3300;
	t = f.now + S_US(1);
	fx_step_at(&f, t);
	expect_release_at(&f, PROT_OUT_ATC, PROT_R_OV, t + S_US(600));
	assert_false(fx_code(&f, BMS_W3));
	/* The count starts again. */
	f.in.bat[0].cell_mv[0] = 3800;
	fx_run_to(&f, f.now + S_US(2), MS_US(500));
	f.in.bat[0].cell_mv[0] = 3300;
	fx_run_to(&f, f.now + S_US(31), S_US(1));
	assert_true(f.out.atc_closed);
}

static void anti_chatter_window_slides(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	for (int i = 0; i < 3; i++) {
		f.in.bat[0].cell_mv[0] = 3800;
		fx_run_to(&f, f.now + S_US(2), MS_US(500));
		f.in.bat[0].cell_mv[0] = 3300;
		fx_run_to(&f, f.now + S_US(301), S_US(1));
		assert_true(f.out.atc_closed);
	}
	assert_false(fx_code(&f, BMS_W3));
}

static void stale_chatter_still_releases(void **state)
{
	struct fx f;
	uint64_t t;

	(void)state;
	fx_start(&f, 1);
	for (int i = 0; i < 3; i++) {
		f.frozen[0] = true;
		fx_run_to(&f, f.now + S_US(4), MS_US(500));
		assert_false(f.out.atc_closed);
		f.frozen[0] = false;
		t = f.now + 1;
		fx_step_at(&f, t);
		if (i == 2)
			break;
		fx_run_to(&f, t + S_US(5), MS_US(500));
		assert_true(f.out.atc_closed);
	}
	assert_true(fx_code(&f, BMS_W3));
	expect_release_at(&f, PROT_OUT_ATC, PROT_R_STALE_ATC, t + S_US(5));
	assert_false(fx_code(&f, BMS_W3));
}

static void readback_mismatch(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	f.in.readback_valid = true;
	f.in.readback_mv = 13200 * 8 / 10; /* closed, at 0.8 x bank: fine */
	fx_run_to(&f, T0 + S_US(5), MS_US(100));
	assert_false(fx_code(&f, BMS_E7));
	t1 = f.now + 1;
	f.in.readback_mv = 13200 * 8 / 10 - 1;
	fx_step_at(&f, t1);
	expect_hold_at(&f, PROT_OUT_PREALARM, PROT_R_READBACK, t1 + S_US(1));
	assert_true(fx_code(&f, BMS_E7));
	assert_true(f.out.prealarm_active);
	/* Commanded open (over-voltage) and stuck on. */
	f.in.readback_mv = 13200;
	f.in.bat[0].hard_ov = true;
	fx_step_at(&f, f.now + 1);
	assert_false(f.out.atc_closed);
	assert_false(fx_code(&f, BMS_E7));
	t1 = f.now + 1;
	f.in.readback_mv = 13200 * 9 / 10 + 1;
	fx_step_at(&f, t1);
	expect_hold_at(&f, PROT_OUT_PREALARM, PROT_R_READBACK, t1 + S_US(1));
	f.in.readback_mv = 13200 * 9 / 10;
	fx_step_at(&f, f.now + 1);
	assert_false(fx_code(&f, BMS_E7));
}

static void bank_voltage_range(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	f.in.bank_mv = 8500;
	fx_run_to(&f, T0 + S_US(10), S_US(1));
	assert_false(fx_code(&f, BMS_W5));
	t1 = f.now + 1;
	f.in.bank_mv = 8499;
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(5) - 1, MS_US(500));
	assert_false(fx_code(&f, BMS_W5));
	fx_step_at(&f, t1 + S_US(5));
	assert_true(fx_code(&f, BMS_W5));
	f.in.bank_mv = 8999;
	fx_step_at(&f, f.now + 1);
	assert_true(fx_code(&f, BMS_W5));
	f.in.bank_mv = 9000;
	fx_step_at(&f, f.now + 1);
	assert_false(fx_code(&f, BMS_W5));
	f.in.bank_mv = 68001;
	t1 = f.now + 1;
	fx_step_at(&f, t1);
	fx_step_at(&f, t1 + S_US(5));
	assert_true(fx_code(&f, BMS_W5));
	f.in.bank_mv = 67501;
	fx_step_at(&f, f.now + 1);
	assert_true(fx_code(&f, BMS_W5));
	f.in.bank_mv = 67500;
	fx_step_at(&f, f.now + 1);
	assert_false(fx_code(&f, BMS_W5));
	/* The ADC bank channel invalid: E8. */
	f.in.bank_mv_valid = false;
	fx_step_at(&f, f.now + 1);
	assert_true(fx_code(&f, BMS_E8));
}

static void other_codes_and_leds(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	assert_int_equal(f.out.blue, LED_BLINK);
	assert_int_equal(f.out.red, LED_OFF);
	f.in.bt = BT_CONNECTED;
	f.in.adc_fallback = true;
	fx_step_at(&f, f.now + 1);
	assert_int_equal(f.out.blue, LED_SOLID);
	assert_true(fx_code(&f, BMS_W6));
	assert_int_equal(f.out.red, LED_BLINK);
	f.in.bt = BT_OFF;
	f.in.record_unreadable = true;
	f.in.chain_open = true;
	fx_step_at(&f, f.now + 1);
	assert_int_equal(f.out.blue, LED_OFF);
	assert_true(fx_code(&f, BMS_E9));
	assert_true(fx_code(&f, BMS_E2));
	assert_true(fx_code(&f, BMS_E1));
	assert_int_equal(f.out.red, LED_SOLID);
	assert_false(f.out.atc_closed);
}

static void led_levels(void **state)
{
	(void)state;
	assert_false(led_level(LED_OFF, 0));
	assert_true(led_level(LED_SOLID, 12345));
	assert_true(led_level(LED_BLINK, 0));
	assert_true(led_level(LED_BLINK, 499999));
	assert_false(led_level(LED_BLINK, 500000));
	assert_false(led_level(LED_BLINK, 999999));
	assert_true(led_level(LED_BLINK, 1000000));
	assert_true(led_level(LED_BLINK_FAST, 99999));
	assert_false(led_level(LED_BLINK_FAST, 100000));
	assert_true(led_level(LED_BLINK_FAST, 200000));
	assert_false(led_level((enum led_mode)99, 0));
	assert_int_equal(led_blue_mode(BT_OFF), LED_OFF);
	assert_int_equal(led_blue_mode(BT_ADVERTISING), LED_BLINK);
	assert_int_equal(led_blue_mode(BT_CONNECTED), LED_SOLID);
	assert_int_equal(led_red_mode(true, 0), LED_BLINK_FAST);
	assert_int_equal(led_red_mode(false, BMS_CODE_BIT(BMS_A1)), LED_SOLID);
	assert_int_equal(led_red_mode(false, BMS_CODE_BIT(BMS_E9) | BMS_CODE_BIT(BMS_W1)),
	                 LED_SOLID);
	assert_int_equal(led_red_mode(false, BMS_CODE_BIT(BMS_W9)), LED_BLINK);
	assert_int_equal(led_red_mode(false, 0), LED_OFF);
}

static void report_names_the_reading(void **state)
{
	struct fx f;
	const struct protection_output_report *rep;

	(void)state;
	fx_start(&f, 3);
	f.in.bat[1].cell_mv[2] = 2450;
	f.in.bat[2].temp_dc[0] = 520;
	fx_step_at(&f, T0 + S_US(1));
	fx_run_to(&f, T0 + S_US(7), MS_US(500));
	rep = &f.out.report[PROT_OUT_ATD];
	assert_false(rep->closed);
	/* A1 (after the critical rule opened ATD) and A2, in table order. */
	assert_int_equal(rep->n_holds, 2);
	assert_int_equal(rep->holds[0].rule, PROT_R_UV);
	rep = &(struct protection_output_report){
	        .n_holds = 1, .holds = {rep->holds[1]}, .since_us = rep->since_us};
	assert_int_equal(rep->holds[0].rule, PROT_R_CRIT_UV);
	assert_int_equal(rep->holds[0].code, BMS_A2);
	assert_string_equal(rep->holds[0].name, "critical under-voltage");
	assert_int_equal(rep->holds[0].since_us, T0 + S_US(2));
	assert_int_equal(rep->holds[0].reading.value, 2450);
	assert_string_equal(rep->holds[0].reading.unit, "mV");
	assert_int_equal(rep->holds[0].reading.battery, 1);
	assert_int_equal(rep->holds[0].reading.index, 2);
	assert_int_equal(rep->since_us, T0 + S_US(2));
	rep = &f.out.report[PROT_OUT_ATC];
	assert_false(rep->closed);
	assert_int_equal(rep->holds[0].rule, PROT_R_CHG_HOT);
	assert_int_equal(rep->holds[0].reading.battery, 2);
	assert_int_equal(rep->holds[0].reading.index, 0);
	rep = &f.out.report[PROT_OUT_PREALARM];
	assert_false(rep->closed);
	assert_true(fx_holds(&f, PROT_OUT_PREALARM, PROT_R_PREALARM));
}

static void poweroff_after_ten_minutes(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	f.in.soc_cpct = 900;   /* A5 at once */
	f.in.current_ma = 499; /* < 0.5 % of 100 Ah */
	t1 = T0 + S_US(1);
	fx_step_at(&f, t1);
	assert_false(f.out.atd_closed);
	fx_run_to(&f, t1 + S_US(600) - 1, S_US(5));
	assert_false(f.out.request_poweroff);
	fx_step_at(&f, t1 + S_US(600));
	assert_true(f.out.request_poweroff);
	/* A charger (current at the threshold) ends it. */
	f.in.current_ma = 500;
	fx_step_at(&f, f.now + 1);
	assert_false(f.out.request_poweroff);
	/* Unknown current never powers off. */
	f.in.current_ma = 0;
	f.in.current_valid = false;
	fx_run_to(&f, f.now + S_US(700), S_US(10));
	assert_false(f.out.request_poweroff);
}

/* Readings unknown for a moment (a restart's first steps, before the bank
 * is enumerated and the ADC read) neither end nor complete a running
 * shutdown timer: it completes on its own time once they are back. */
static void poweroff_timer_survives_unknown_readings(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	f.in.soc_cpct = 900; /* A5 at once */
	f.in.current_ma = 0;
	t1 = T0 + S_US(1);
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(300), S_US(5));
	f.in.current_valid = false;
	fx_run_to(&f, t1 + S_US(303), S_US(1));
	f.in.current_valid = true;
	f.in.capacity_ah = 0; /* the bank not enumerated yet */
	fx_run_to(&f, t1 + S_US(306), S_US(1));
	f.in.capacity_ah = 100;
	fx_run_to(&f, t1 + S_US(600) - 1, S_US(5));
	assert_false(f.out.request_poweroff);
	fx_step_at(&f, t1 + S_US(600));
	assert_true(f.out.request_poweroff);
	/* While they are unknown, a complete timer asks for nothing. */
	f.in.current_valid = false;
	fx_step_at(&f, f.now + 1);
	assert_false(f.out.request_poweroff);
	f.in.current_valid = true;
	fx_step_at(&f, f.now + 1);
	assert_true(f.out.request_poweroff);
}

static void deadline_is_the_next_timer(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	assert_int_equal(protection_next_deadline_us(&f.p), T0 + S_US(3)); /* staleness */
	fx_complete_lead(&f);
	t1 = f.now + 1;
	f.in.bat[0].cell_mv[0] = 3751;
	f.frozen[0] = false;
	fx_step_at(&f, t1);
	assert_int_equal(protection_next_deadline_us(&f.p), t1 + S_US(1));
}

static void settings_change(void **state)
{
	struct fx f;
	struct protection_settings bad;
	char err[128];

	(void)state;
	fx_start(&f, 1);
	bad = f.s;
	bad.uv_release_mv = bad.uv_trip_mv + 199;
	assert_int_equal(protection_set_settings(&f.p, &bad, err, sizeof(err)), -ERANGE);
	assert_memory_equal(protection_get_settings(&f.p), &f.s, sizeof(f.s));
	assert_int_equal(protection_init(&f.p, &bad, -1), -ERANGE);
	assert_int_equal(protection_init(NULL, &f.s, -1), -EINVAL);
	assert_int_equal(protection_set_settings(NULL, &f.s, NULL, 0), -EINVAL);
	assert_null(protection_new(&bad, -1));
	struct protection *p = protection_new(&f.s, 100);
	assert_non_null(p);
	protection_step(p, T0, &f.in, NULL);
	protection_free(p);
	/* A lower UV level applies at once. */
	f.s.uv_trip_mv = 2700;
	assert_int_equal(protection_set_settings(&f.p, &f.s, err, sizeof(err)), 0);
	assert_int_equal(protection_get_settings(&f.p)->uv_trip_mv, 2700);
}

static void unavailable_values(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 2);
	/* n/a cells and sensors never enter a minimum or maximum. */
	f.in.bat[0].cell_mv[1] = PROTECTION_CELL_NA;
	for (unsigned b = 0; b < 2; b++)
		for (unsigned t = 0; t < 2; t++)
			f.in.bat[b].temp_dc[t] = PROTECTION_TEMP_NA;
	fx_run_to(&f, T0 + S_US(100), S_US(1));
	assert_true(f.out.atd_closed);
	assert_true(f.out.atc_closed);
	assert_int_equal(f.out.codes, 0);
	/* Bank size unknown: no over-voltage backstop, no release either. */
	f.in.series_s = 0;
	f.in.bank_mv = 99000;
	fx_run_to(&f, f.now + S_US(10), S_US(1));
	assert_true(f.out.atc_closed);
	assert_true(fx_code(&f, BMS_W5));
}

static void too_many_batteries_is_clamped(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, PROTECTION_MAX_BATTERIES);
	f.in.n_batteries = 255;
	f.in.bat[PROTECTION_MAX_BATTERIES - 1].n_cells = 200;
	f.in.bat[PROTECTION_MAX_BATTERIES - 1].n_temps = 200;
	for (unsigned c = 0; c < PROTECTION_MAX_CELLS; c++)
		f.in.bat[PROTECTION_MAX_BATTERIES - 1].cell_mv[c] = 3300;
	for (unsigned t = 0; t < PROTECTION_MAX_TEMPS; t++)
		f.in.bat[PROTECTION_MAX_BATTERIES - 1].temp_dc[t] = 250;
	for (unsigned b = 0; b < PROTECTION_MAX_BATTERIES; b++)
		f.in.bat[b].last_status_us = T0;
	protection_step(&f.p, T0, &f.in, &f.out);
	assert_true(f.out.atd_closed);
	/* The 16th cell of the 50th battery is read (A1 counting: pre-alarm). */
	f.in.bat[PROTECTION_MAX_BATTERIES - 1].cell_mv[PROTECTION_MAX_CELLS - 1] = 2700;
	protection_step(&f.p, T0 + 1, &f.in, &f.out);
	assert_true(f.out.prealarm_active);
}

static void no_battery_is_unknown(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	f.in.n_batteries = 0;
	fx_step_at(&f, T0 + 1);
	assert_false(f.out.atc_closed);
	assert_true(f.out.prealarm_active);
	assert_true(fx_code(&f, BMS_E1));
	assert_int_equal(f.out.report[PROT_OUT_ATC].holds[0].reading.battery, -1);
}

static void firmware_update_refusal(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 2);
	assert_int_equal(protection_fw_update_allowed(&f.p, &f.in, &f.out), 0);
	assert_int_equal(protection_fw_update_allowed(NULL, &f.in, &f.out), -EINVAL);
	/* A warning does not refuse. */
	f.in.more_batteries = true;
	fx_step_at(&f, f.now + 1);
	assert_int_equal(protection_fw_update_allowed(&f.p, &f.in, &f.out), 0);
	/* A cell under the pre-alarm level does. */
	f.in.bat[1].cell_mv[0] = 3099;
	assert_int_equal(protection_fw_update_allowed(&f.p, &f.in, &f.out), -EBUSY);
	f.in.bat[1].cell_mv[0] = 3100;
	assert_int_equal(protection_fw_update_allowed(&f.p, &f.in, &f.out), 0);
	/* An error does. */
	f.in.record_unreadable = true;
	fx_step_at(&f, f.now + 1);
	assert_int_equal(protection_fw_update_allowed(&f.p, &f.in, &f.out), -EBUSY);
}

static void save_when_bank_falls_below_9v(void **state)
{
	struct fx f;

	(void)state;
	fx_start(&f, 1);
	assert_false(f.out.save_record);
	f.in.bank_mv = 9000;
	fx_step_at(&f, f.now + 1);
	assert_false(f.out.save_record);
	f.in.bank_mv = 8999;
	fx_step_at(&f, f.now + 1);
	assert_true(f.out.save_record);
	fx_step_at(&f, f.now + 1);
	assert_false(f.out.save_record); /* once per fall */
	f.in.bank_mv_valid = false;
	fx_step_at(&f, f.now + 1);
	f.in.bank_mv_valid = true;
	fx_step_at(&f, f.now + 1);
	assert_false(f.out.save_record);
	f.in.bank_mv = 9000;
	fx_step_at(&f, f.now + 1);
	f.in.bank_mv = 8000;
	fx_step_at(&f, f.now + 1);
	assert_true(f.out.save_record);
}

static void remote_wiring_warning(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	t1 = T0 + S_US(1);
	f.in.remote_vh_mv = 13200 * 110 / 100 + 1001;
	fx_step_at(&f, t1);
	fx_step_at(&f, t1 + S_US(1) - 1);
	assert_false(fx_code(&f, BMS_W4));
	fx_step_at(&f, t1 + S_US(1));
	assert_true(fx_code(&f, BMS_W4));
	assert_true(f.out.remote_on); /* still ON through L */
	/* An unreadable remote channel: OFF and E8 after 5 s. */
	f.in.remote_vl_valid = false;
	fx_step_at(&f, t1 + S_US(2));
	fx_step_at(&f, t1 + S_US(7) - 1);
	assert_true(f.out.atd_closed);
	fx_step_at(&f, t1 + S_US(7));
	assert_false(f.out.atd_closed);
	assert_true(fx_code(&f, BMS_E8));
}

static void rule_table_is_consistent(void **state)
{
	const struct protection_rule *rules = protection_rules();

	(void)state;
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		assert_int_equal(rules[i].id, i);
		assert_non_null(rules[i].name);
		assert_ptr_equal(protection_rule((enum protection_rule_id)i), &rules[i]);
		assert_true(rules[i].code == PROTECTION_NO_CODE || bms_code_valid(rules[i].code));
	}
	assert_null(protection_rule(PROT_RULE_COUNT));
	assert_string_equal(protection_quantity_unit(PROT_Q_SOC), "0.01 %");
	assert_string_equal(protection_quantity_unit(PROT_Q_STALE), "");
}

/* Issue 16: extremes handed in by the caller (kept one reading at a time)
 * decide as the step's own scan does, readings and their places included. */
static void given_extremes_decide_as_the_scan(void **state)
{
	static struct fx a, b;
	struct bank_extremes e;
	uint32_t s = 77;

	(void)state;
	fx_start(&a, 6);
	fx_start(&b, 6);
	bank_extremes_init(&e);
	for (unsigned step = 1; step <= 400; step++) {
		unsigned k = (s = s * 1103515245u + 12345u) >> 16;
		unsigned bat = k % 6, c = (k / 6) % 4;
		/* cells and temperatures wander across the levels */
		a.in.bat[bat].cell_mv[c] = (uint16_t)(2450 + (k / 24) % 1400);
		a.in.bat[bat].temp_dc[c % 2] = (int16_t)(-100 + (int)((k / 7) % 700));
		if (k % 13 == 0)
			a.in.bat[bat].cell_mv[c] = PROTECTION_CELL_NA;
		b.in = a.in;
		for (unsigned i = 0; i < 6; i++)
			assert_int_equal(bank_extremes_set(&e, i, a.in.bat[i].cell_mv,
			                                   a.in.bat[i].n_cells, a.in.bat[i].temp_dc,
			                                   a.in.bat[i].n_temps),
			                 0);
		b.in.have_extremes = true;
		for (unsigned d = 0; d < BANK_EXT_DIMS; d++)
			b.in.extremes[d] = bank_extremes_get(&e, (enum bank_ext_dim)d);
		fx_step_at(&a, a.now + MS_US(300));
		fx_step_at(&b, b.now + MS_US(300));
		assert_int_equal(a.out.atd_closed, b.out.atd_closed);
		assert_int_equal(a.out.atc_closed, b.out.atc_closed);
		assert_int_equal(a.out.codes, b.out.codes);
		assert_memory_equal(a.out.report, b.out.report, sizeof(a.out.report));
	}
	/* and they are what the step uses: a low cell in them alone trips A2 */
	fx_start(&b, 6);
	fx_step_at(&b, b.now + S_US(1));
	assert_false(fx_code(&b, BMS_A2));
	b.in.have_extremes = true;
	for (unsigned d = 0; d < BANK_EXT_DIMS; d++)
		b.in.extremes[d] = (struct bank_extreme){
		        .known = true, .value = d < BANK_EXT_MIN_TEMP ? 3300 : 250, .battery = 0};
	b.in.extremes[BANK_EXT_MIN_CELL].value = 2400;
	fx_step_at(&b, b.now + S_US(1));
	fx_step_at(&b, b.now + S_US(1));
	assert_true(fx_code(&b, BMS_A2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(cold_start_holds_both),
	        cmocka_unit_test(cold_start_starts_tripped),
	        cmocka_unit_test(uv_waits_for_the_lead),
	        cmocka_unit_test(uv_level_and_delay),
	        cmocka_unit_test(uv_breaking_reading_restarts),
	        cmocka_unit_test(uv_release_level_and_hold),
	        cmocka_unit_test(crit_uv_skips_the_lead),
	        cmocka_unit_test(hard_flags_at_once),
	        cmocka_unit_test(low_soc_alarm),
	        cmocka_unit_test(low_soc_warning),
	        cmocka_unit_test(temperature_rules),
	        cmocka_unit_test(discharge_temp_waits_for_lead),
	        cmocka_unit_test(cell_over_voltage),
	        cmocka_unit_test(bank_over_voltage),
	        cmocka_unit_test(stale_data),
	        cmocka_unit_test(stale_values_count_but_never_release),
	        cmocka_unit_test(bank_changed_and_topology),
	        cmocka_unit_test(firmware_update),
	        cmocka_unit_test(remote_off_opens_both),
	        cmocka_unit_test(drain_guard),
	        cmocka_unit_test(anti_chatter),
	        cmocka_unit_test(anti_chatter_window_slides),
	        cmocka_unit_test(stale_chatter_still_releases),
	        cmocka_unit_test(readback_mismatch),
	        cmocka_unit_test(bank_voltage_range),
	        cmocka_unit_test(other_codes_and_leds),
	        cmocka_unit_test(led_levels),
	        cmocka_unit_test(report_names_the_reading),
	        cmocka_unit_test(poweroff_after_ten_minutes),
	        cmocka_unit_test(poweroff_timer_survives_unknown_readings),
	        cmocka_unit_test(deadline_is_the_next_timer),
	        cmocka_unit_test(settings_change),
	        cmocka_unit_test(unavailable_values),
	        cmocka_unit_test(too_many_batteries_is_clamped),
	        cmocka_unit_test(no_battery_is_unknown),
	        cmocka_unit_test(firmware_update_refusal),
	        cmocka_unit_test(save_when_bank_falls_below_9v),
	        cmocka_unit_test(remote_wiring_warning),
	        cmocka_unit_test(rule_table_is_consistent),
	        cmocka_unit_test(given_extremes_decide_as_the_scan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
