/* SPDX-License-Identifier: GPL-2.0-or-later */
/* docs/protection.md rev 3 and the rules the mutation run showed untested
 * (issue 13): staleness by a count mismatch, the W2 release edges, the hard
 * under-voltage flag, no release on unknown data, A5 and its lead, W3 text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/codes.h"
#include "test_protection_fixture.h"

/* A STATUS whose cell or sensor count differs from INFO makes the battery
 * stale (section 4): E1, ATC open at once, ATD after the lead. */
static void count_mismatch_is_stale(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 2);
	fx_run_to(&f, T0 + S_US(5), MS_US(100));
	assert_true(f.out.atc_closed);
	t1 = f.now + MS_US(100);
	f.in.bat[1].count_mismatch = true;
	fx_step_at(&f, t1);
	assert_true(fx_code(&f, BMS_E1));
	assert_false(f.out.atc_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_STALE_ATC));
	assert_int_equal(f.out.report[PROT_OUT_ATC].holds[0].reading.battery, 1);
	assert_true(f.out.atd_closed);
	assert_true(f.out.prealarm_active);
	fx_run_to(&f, t1 + S_US(30) - 1, MS_US(100));
	assert_true(f.out.atd_closed);
	fx_step_at(&f, t1 + S_US(30));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_STALE_ATD));
	/* The counts agree again: released after 5 s of fresh data. */
	f.in.bat[1].count_mismatch = false;
	t1 = f.now + MS_US(100);
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(5) - 1, MS_US(100));
	assert_false(f.out.atc_closed);
	fx_step_at(&f, t1 + S_US(5));
	assert_true(f.out.atc_closed);
	assert_true(f.out.atd_closed);
	assert_false(fx_code(&f, BMS_E1));
}

static bool w2(const struct fx *f)
{
	return fx_holds(f, PROT_OUT_PREALARM, PROT_R_PREALARM) && fx_code(f, BMS_W2);
}

/* W2 ends when all cells >= pre-alarm level + 0.10 V for 30 s: both the
 * level's edge and the time's edge, exactly. */
static void prealarm_release_edges(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	fx_cells(&f, 3099);
	fx_step_at(&f, T0 + S_US(1));
	fx_run_to(&f, T0 + S_US(3), MS_US(100));
	assert_true(w2(&f));
	assert_true(f.out.prealarm_active);
	/* Level + 0.10 V - 1 mV is not the release level, however long. */
	fx_cells(&f, 3199);
	fx_run_to(&f, f.now + S_US(100), MS_US(500));
	assert_true(w2(&f));
	/* At level + 0.10 V the 30 s start; a dip restarts them. */
	fx_cells(&f, 3200);
	t1 = f.now + S_US(1);
	fx_run_to(&f, t1 + S_US(20), MS_US(500));
	assert_true(w2(&f));
	f.in.bat[0].cell_mv[2] = 3199;
	fx_step_at(&f, f.now + MS_US(100));
	f.in.bat[0].cell_mv[2] = 3200;
	t1 = f.now + MS_US(100);
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(30) - 1, MS_US(500));
	assert_true(w2(&f));
	assert_true(f.out.prealarm_active);
	fx_step_at(&f, t1 + S_US(30));
	assert_false(w2(&f));
	assert_false(f.out.prealarm_active);
	/* The trip edge: below the level, not at it. */
	fx_cells(&f, 3100);
	fx_run_to(&f, f.now + S_US(10), MS_US(500));
	assert_false(fx_code(&f, BMS_W2));
}

/* A2 by a battery's hard under-voltage flag releases only once the flag has
 * cleared and all cells are >= the UV release level for the hold. */
static void hard_uv_holds_while_flag_set(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 2);
	fx_step_at(&f, T0 + S_US(1));
	f.in.bat[1].hard_uv = true;
	fx_step_at(&f, T0 + S_US(2));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_HARD_UV));
	assert_true(fx_code(&f, BMS_A2));
	/* Cells well above 3.20 V for far longer than the hold: still held. */
	fx_run_to(&f, T0 + S_US(200), S_US(1));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_HARD_UV));
	/* The flag clears: the 30 s hold starts then. */
	f.in.bat[1].hard_uv = false;
	t1 = T0 + S_US(201);
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(30) - 1, MS_US(500));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_HARD_UV));
	fx_step_at(&f, t1 + S_US(30));
	assert_true(f.out.atd_closed);
	assert_false(fx_code(&f, BMS_A2));
}

/* Section 0: while a battery is stale every release is false, also of the
 * rules that do not read battery data (issue 13 item 7). Each case trips a
 * rule, makes battery 1 silent, lets the rule's own release come true and
 * checks that the rule still holds until the battery is fresh again. */
static void bank_ov_release_waits_for_fresh_data(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 2);
	f.in.bank_mv = 2 * 4 * 3800; /* > 2 x 4 x 3.75 V */
	fx_run_to(&f, T0 + S_US(3), MS_US(100));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_BANK_OV));
	f.frozen[1] = true;
	f.in.bank_mv = 2 * 4 * 3300;
	fx_run_to(&f, f.now + S_US(60), MS_US(500));
	assert_true(fx_code(&f, BMS_E1));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_BANK_OV));
	/* Fresh again: the release hold starts on fresh data. */
	f.frozen[1] = false;
	t1 = f.now + MS_US(500);
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(30) - 1, MS_US(500));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_BANK_OV));
	fx_step_at(&f, t1 + S_US(30));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_BANK_OV));
	assert_true(f.out.atc_closed);
}

static void remote_on_waits_for_fresh_data(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 2);
	f.in.remote_vl_mv = 13200; /* L no longer pulled to minus: OFF */
	fx_run_to(&f, T0 + S_US(2), MS_US(100));
	assert_false(f.out.remote_on);
	assert_false(f.out.atd_closed);
	f.frozen[1] = true;
	fx_run_to(&f, f.now + S_US(4), MS_US(100));
	assert_true(fx_code(&f, BMS_E1));
	f.in.remote_vl_mv = 0;
	fx_run_to(&f, f.now + S_US(10), MS_US(100));
	assert_true(f.out.remote_on);
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_REMOTE_OFF));
	/* Fresh again: the remote rule releases; ATD, open already, also took
	 * the stale rule, which releases after its 5 s of fresh data. */
	f.frozen[1] = false;
	t1 = f.now + MS_US(100);
	fx_step_at(&f, t1);
	assert_false(fx_holds(&f, PROT_OUT_ATD, PROT_R_REMOTE_OFF));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_STALE_ATD));
	fx_run_to(&f, t1 + S_US(5) - 1, MS_US(100));
	assert_false(f.out.atd_closed);
	fx_step_at(&f, t1 + S_US(5));
	assert_true(f.out.atd_closed);
	assert_true(f.out.atc_closed);
}

static void low_soc_release_waits_for_fresh_data(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 2);
	f.in.soc_cpct = 1001;
	fx_step_at(&f, T0 + S_US(1));
	f.in.soc_cpct = 1000;
	fx_step_at(&f, T0 + S_US(2));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_LOW_SOC));
	f.frozen[1] = true;
	fx_run_to(&f, T0 + S_US(6), MS_US(100));
	assert_true(fx_code(&f, BMS_E1));
	/* A manual set above floor + 2 % while battery 1 is silent. */
	f.in.soc_sync_count++;
	f.in.soc_cpct = 5000;
	fx_run_to(&f, T0 + S_US(10), MS_US(100));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_LOW_SOC));
	assert_false(f.out.atd_closed);
	f.frozen[1] = false;
	t1 = f.now + MS_US(100);
	fx_step_at(&f, t1);
	assert_false(fx_holds(&f, PROT_OUT_ATD, PROT_R_LOW_SOC));
}

/* Rev 3: an A5 caused by a manual SoC set waits for the pre-alarm lead; a
 * discharge reaching the floor opens ATD at once (test_protection.c). */
static void low_soc_manual_set_waits_for_lead(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	fx_run_to(&f, T0 + S_US(2), MS_US(100));
	assert_false(f.out.prealarm_active);
	f.in.soc_sync_count++;
	f.in.soc_cpct = 500;
	t1 = f.now + MS_US(100);
	fx_step_at(&f, t1);
	assert_true(f.out.atd_closed);
	assert_true(f.out.prealarm_active);
	assert_true(fx_holds(&f, PROT_OUT_PREALARM, PROT_R_LOW_SOC));
	assert_false(fx_code(&f, BMS_A5));
	fx_run_to(&f, t1 + S_US(30) - 1, MS_US(100));
	assert_true(f.out.atd_closed);
	fx_step_at(&f, t1 + S_US(30));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_LOW_SOC));
	assert_true(fx_code(&f, BMS_A5));
	/* Still the drain guard's rule: silent 60 s after ATD opened. */
	fx_run_to(&f, t1 + S_US(90) - 1, S_US(1));
	assert_true(f.out.prealarm_active);
	fx_step_at(&f, t1 + S_US(90));
	assert_false(f.out.prealarm_active);
}

/* A manual set that puts SoC back above the floor before the lead ends:
 * ATD never opens. */
static void low_soc_manual_set_undone_before_lead(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	f.in.soc_sync_count++;
	f.in.soc_cpct = 900;
	t1 = T0 + S_US(1);
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(10), MS_US(500));
	f.in.soc_sync_count++;
	f.in.soc_cpct = 5000;
	fx_run_to(&f, t1 + S_US(60), MS_US(500));
	assert_true(f.out.atd_closed);
	assert_false(fx_code(&f, BMS_A5));
	assert_false(f.out.prealarm_active);
}

/* A floor raised over the SoC waits for the lead too. */
static void low_soc_floor_change_waits_for_lead(void **state)
{
	struct fx f;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	f.in.soc_cpct = 2500;
	fx_run_to(&f, T0 + S_US(2), MS_US(100));
	assert_false(f.out.prealarm_active);
	f.s.low_soc_warning_pct = 40;
	f.s.discharge_floor_pct = 30;
	assert_int_equal(protection_set_settings(&f.p, &f.s, NULL, 0), 0);
	t1 = f.now + MS_US(100);
	fx_step_at(&f, t1);
	assert_true(f.out.atd_closed);
	assert_true(f.out.prealarm_active);
	fx_run_to(&f, t1 + S_US(30) - 1, MS_US(100));
	assert_true(f.out.atd_closed);
	fx_step_at(&f, t1 + S_US(30));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_LOW_SOC));
	/* Later, a discharge to the new floor after a release trips at once. */
	f.in.soc_sync_count++;
	f.in.soc_cpct = 3200;
	fx_step_at(&f, f.now + S_US(1));
	assert_true(f.out.atd_closed);
	f.in.soc_cpct = 3000;
	fx_step_at(&f, f.now + S_US(1));
	assert_false(f.out.atd_closed);
}

/* Section 5: W3 says which rule chatters. */
static void chatter_text_names_the_rule(void **state)
{
	struct fx f;
	char text[160];

	(void)state;
	fx_start(&f, 1);
	fx_complete_lead(&f);
	assert_int_equal(protection_code_text(&f.out, BMS_W3, text, sizeof(text)), -ENOENT);
	for (unsigned k = 0; k < 3; k++) {
		f.in.bat[0].cell_mv[0] = 3800;
		fx_run_to(&f, f.now + S_US(2), MS_US(500));
		assert_false(f.out.atc_closed);
		f.in.bat[0].cell_mv[0] = 3300;
		fx_run_to(&f, f.now + S_US(31), MS_US(500));
	}
	assert_true(fx_code(&f, BMS_W3));
	assert_int_equal(protection_code_text(&f.out, BMS_W3, text, sizeof(text)), 0);
	assert_string_equal(text, "chattering: cell over-voltage");
	/* A second rule latching is named too. */
	for (unsigned k = 0; k < 3; k++) {
		f.in.bat[0].temp_dc[0] = 510;
		fx_run_to(&f, f.now + S_US(6), MS_US(500));
		f.in.bat[0].temp_dc[0] = 250;
		fx_run_to(&f, f.now + S_US(31), MS_US(500));
	}
	assert_int_equal(protection_code_text(&f.out, BMS_W3, text, sizeof(text)), 0);
	assert_string_equal(text, "chattering: cell over-voltage, too hot to charge");
	/* Other codes: their summary; a short buffer is refused whole. */
	assert_int_equal(protection_code_text(&f.out, BMS_W2, text, sizeof(text)), -ENOENT);
	f.in.bat[0].cell_mv[0] = 3000;
	fx_run_to(&f, f.now + S_US(3), MS_US(500));
	assert_int_equal(protection_code_text(&f.out, BMS_W2, text, sizeof(text)), 0);
	assert_string_equal(text, bms_code_summary(BMS_W2));
	assert_int_equal(protection_code_text(&f.out, BMS_W3, text, 12), -ENOBUFS);
	assert_int_equal(protection_code_text(&f.out, BMS_CODE_COUNT, text, sizeof(text)), -EINVAL);
	assert_int_equal(protection_code_text(NULL, BMS_W3, text, sizeof(text)), -EINVAL);
}

/* The stale rules of ATD and ATC share a name: W3 names it once. */
static void chatter_text_names_stale_once(void **state)
{
	struct fx f;
	char text[160];

	(void)state;
	fx_start(&f, 2);
	for (unsigned k = 0; k < 3; k++) {
		f.frozen[1] = true;
		fx_run_to(&f, f.now + S_US(35), MS_US(500));
		assert_false(f.out.atd_closed);
		if (k < 2) {
			f.frozen[1] = false;
			fx_run_to(&f, f.now + S_US(6), MS_US(500));
		}
	}
	assert_int_equal(f.out.latched_rules,
	                 (UINT32_C(1) << PROT_R_STALE_ATD) | (UINT32_C(1) << PROT_R_STALE_ATC));
	assert_int_equal(protection_code_text(&f.out, BMS_W3, text, sizeof(text)), 0);
	assert_string_equal(text, "chattering: battery data stale");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(count_mismatch_is_stale),
	        cmocka_unit_test(prealarm_release_edges),
	        cmocka_unit_test(hard_uv_holds_while_flag_set),
	        cmocka_unit_test(bank_ov_release_waits_for_fresh_data),
	        cmocka_unit_test(remote_on_waits_for_fresh_data),
	        cmocka_unit_test(low_soc_release_waits_for_fresh_data),
	        cmocka_unit_test(low_soc_manual_set_waits_for_lead),
	        cmocka_unit_test(low_soc_manual_set_undone_before_lead),
	        cmocka_unit_test(low_soc_floor_change_waits_for_lead),
	        cmocka_unit_test(chatter_text_names_the_rule),
	        cmocka_unit_test(chatter_text_names_stale_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
