/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A start after a previous instance (docs/protection.md sections 4 and 11, rev 3):
 * only an instance that adopted the output lines resumes; a resumed instance
 * keeps what its predecessor held open until the release is seen on fresh
 * data, gives the batteries fresh at the save their 3 s staleness window,
 * and never counts the restart as chatter. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/codes.h"
#include "test_protection_fixture.h"

struct saved {
	uint8_t buf[PROTECTION_PERSIST_MAX];
	int len;
};

static void save(const struct fx *f, struct saved *s)
{
	s->len = protection_persist_encode(&f->p, f->now, s->buf, sizeof(s->buf));
	assert_true(s->len > 0);
}

/* The new instance at now, with the saved blob; adopted: it took over the
 * previous instance's line request. */
static void start_again(struct fx *f, const struct saved *s, uint64_t now, bool adopted)
{
	protection_init(&f->p, &f->s, -1);
	assert_int_equal(protection_persist_apply(&f->p, now, s->buf, (size_t)s->len, adopted), 0);
	f->now = now;
}

/* What the new daemon's bus master has before it enumerated: nothing. */
static void bus_unknown(struct fx *f)
{
	f->in.enumerated = false;
	f->in.n_batteries = 0;
}

static void bus_back(struct fx *f, unsigned n)
{
	f->in.enumerated = true;
	f->in.n_batteries = (uint8_t)n;
}

/* The mutation run: a resumed state that starts as running closes ATC
 * before every battery is fresh. */
static void resumed_is_not_running(void **state)
{
	struct fx f;
	struct saved s;

	(void)state;
	fx_start(&f, 2);
	fx_run_to(&f, T0 + S_US(10), S_US(1));
	assert_true(f.out.atc_closed);
	save(&f, &s);
	start_again(&f, &s, T0 + S_US(11), true);
	/* Every battery has reported, but the bus is not enumerated yet. */
	f.in.enumerated = false;
	fx_step_at(&f, T0 + S_US(11));
	assert_true(f.out.atd_closed);
	assert_false(f.out.atc_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_STARTUP_ATC));
	assert_int_equal(f.out.report[PROT_OUT_ATC].n_holds, 1);
	f.in.enumerated = true;
	fx_step_at(&f, T0 + S_US(12));
	assert_true(f.out.atc_closed);
	assert_int_equal(f.out.codes, 0);
}

/* Item 4: without the lines, a start is a cold start whatever the record
 * holds: both outputs open until enumerated and fresh; saved rule states
 * and latches are restored. */
static void not_adopted_is_a_cold_start(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 2);
	/* Latch the over-voltage rule (W3), then let it hold ATC. */
	for (unsigned k = 0; k < 3; k++) {
		f.in.bat[0].cell_mv[0] = 3800;
		fx_run_to(&f, f.now + S_US(2), MS_US(500));
		f.in.bat[0].cell_mv[0] = 3300;
		fx_run_to(&f, f.now + S_US(31), MS_US(500));
	}
	assert_true(fx_code(&f, BMS_W3));
	assert_true(f.out.atd_closed);
	save(&f, &s);
	t = f.now + S_US(5);
	start_again(&f, &s, t, false);
	bus_unknown(&f);
	fx_step_at(&f, t);
	assert_false(f.out.atd_closed);
	assert_false(f.out.atc_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_STARTUP_ATD));
	/* Fresh batteries before enumeration: still both open. */
	fx_run_to(&f, t + S_US(2), MS_US(100));
	assert_false(f.out.atd_closed);
	assert_false(f.out.atc_closed);
	bus_back(&f, 2);
	fx_step_at(&f, t + S_US(3));
	assert_true(f.out.atd_closed);
	/* The latch came back with the record: ATC is still held by it. */
	assert_true(fx_code(&f, BMS_W3));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_OV));
	assert_true(f.out.report[PROT_OUT_ATC].holds[0].latched);
	assert_false(f.out.atc_closed);
}

/* Item 4: a saved open ATD stays open through a cold start, until its own
 * rule releases on fresh data. */
static void not_adopted_keeps_saved_trips(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 1);
	fx_cells(&f, 2400);
	fx_run_to(&f, T0 + S_US(3), MS_US(100));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
	fx_cells(&f, 3300);
	fx_run_to(&f, T0 + S_US(20), MS_US(100));
	save(&f, &s);
	t = T0 + S_US(21);
	start_again(&f, &s, t, false);
	fx_step_at(&f, t);
	/* First complete data: the saved A2 still holds, its hold starts now. */
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
	assert_true(f.out.atc_closed);
	fx_run_to(&f, t + S_US(30) - 1, MS_US(500));
	assert_false(f.out.atd_closed);
	fx_step_at(&f, t + S_US(30));
	assert_true(f.out.atd_closed);
}

/* Item 1: a resumed instance never closes what the saved state holds open
 * before the rule's release has been seen, for its whole hold, on fresh
 * data: the hold that was running at the save starts again. */
static void resumed_release_needs_fresh_data(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 2);
	fx_cells(&f, 2400);
	fx_run_to(&f, T0 + S_US(3), MS_US(100));
	fx_cells(&f, 3300);
	fx_run_to(&f, T0 + S_US(28), MS_US(100)); /* 25 s of the 30 s hold */
	assert_false(f.out.atd_closed);
	save(&f, &s);
	t = T0 + S_US(29);
	start_again(&f, &s, t, true);
	/* Fresh data from the first step on: the hold counts from here. */
	fx_step_at(&f, t);
	fx_run_to(&f, t + S_US(30) - 1, MS_US(100));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
	fx_step_at(&f, t + S_US(30));
	assert_true(f.out.atd_closed);
}

/* Item 1 and 7: a rule on a non-battery input (A5 after a synchronisation
 * seen at once after the restart) does not release on the record alone. */
static void resumed_low_soc_waits_for_batteries(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 1);
	f.in.soc_cpct = 1000;
	fx_step_at(&f, T0 + S_US(1));
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_LOW_SOC));
	save(&f, &s);
	t = T0 + S_US(2);
	start_again(&f, &s, t, true);
	bus_unknown(&f);
	f.in.soc_sync_count++;
	f.in.soc_cpct = 5000;
	fx_run_to(&f, t + S_US(2), MS_US(100));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_LOW_SOC));
	bus_back(&f, 1);
	fx_step_at(&f, t + S_US(2) + MS_US(100));
	assert_true(f.out.atd_closed);
	assert_int_equal(f.out.codes, 0);
}

/* Item 6: batteries fresh at the save keep their 3 s staleness window after
 * a resume: no pre-alarm, no E1; after the 3 s they are stale. */
static void resume_staleness_window(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 2);
	fx_run_to(&f, T0 + S_US(10), MS_US(100));
	save(&f, &s);
	t = T0 + S_US(10) + MS_US(400);
	start_again(&f, &s, t, true);
	bus_unknown(&f);
	fx_run_to(&f, t + S_US(3) - 1, MS_US(100));
	assert_false(fx_code(&f, BMS_E1));
	assert_false(f.out.prealarm_active);
	assert_true(f.out.atd_closed);
	assert_false(f.out.atc_closed); /* until every battery is fresh */
	assert_true(protection_next_deadline_us(&f.p) <= t + S_US(3));
	fx_step_at(&f, t + S_US(3));
	assert_true(fx_code(&f, BMS_E1));
	assert_true(f.out.prealarm_active);
}

/* Within the window the batteries come back: nothing was ever stale. */
static void resume_within_the_window(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 2);
	fx_run_to(&f, T0 + S_US(10), MS_US(100));
	save(&f, &s);
	t = T0 + S_US(11);
	start_again(&f, &s, t, true);
	bus_unknown(&f);
	fx_run_to(&f, t + S_US(2), MS_US(100));
	bus_back(&f, 2);
	f.in.bat[1].has_status = false; /* polled after the first */
	fx_step_at(&f, t + S_US(2) + MS_US(100));
	assert_false(fx_code(&f, BMS_E1));
	f.in.bat[1].has_status = true;
	fx_step_at(&f, t + S_US(2) + MS_US(200));
	assert_true(f.out.atc_closed);
	assert_true(f.out.atd_closed);
	fx_run_to(&f, t + S_US(60), MS_US(100));
	assert_false(f.out.prealarm_active);
	assert_int_equal(f.out.codes, 0);
}

/* Only the batteries fresh at the save have the window: a battery the bus
 * finds beyond them is stale at once. */
static void resume_window_only_for_fresh_batteries(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 2);
	fx_run_to(&f, T0 + S_US(5), MS_US(100));
	save(&f, &s);
	t = T0 + S_US(6);
	start_again(&f, &s, t, true);
	bus_unknown(&f);
	fx_step_at(&f, t);
	assert_false(fx_code(&f, BMS_E1));
	bus_back(&f, 3);
	f.in.bat[2] = f.in.bat[1];
	f.in.bat[0].has_status = false;
	f.in.bat[1].has_status = false;
	f.in.bat[2].has_status = false;
	fx_step_at(&f, t + MS_US(100));
	assert_true(fx_code(&f, BMS_E1));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_STALE_ATC));
	for (unsigned i = 0; i < f.out.report[PROT_OUT_ATC].n_holds; i++)
		if (f.out.report[PROT_OUT_ATC].holds[i].rule == PROT_R_STALE_ATC)
			assert_int_equal(f.out.report[PROT_OUT_ATC].holds[i].reading.battery, 2);
	assert_true(fx_holds(&f, PROT_OUT_PREALARM, PROT_R_STALE_ATD));
	/* Battery 2 reports; the two fresh at the save are not stale yet. */
	f.in.bat[2].has_status = true;
	fx_step_at(&f, t + MS_US(200));
	assert_false(fx_holds(&f, PROT_OUT_PREALARM, PROT_R_STALE_ATD));
	assert_false(f.out.prealarm_active);
}

/* A battery that was only covered by the window is not fresh at the next
 * save: restarts in a row do not stretch the window. */
static void window_does_not_chain(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 1);
	fx_run_to(&f, T0 + S_US(5), MS_US(100));
	save(&f, &s);
	t = T0 + S_US(6);
	start_again(&f, &s, t, true);
	bus_unknown(&f);
	fx_run_to(&f, t + S_US(2), MS_US(100));
	assert_false(fx_code(&f, BMS_E1));
	save(&f, &s);
	start_again(&f, &s, t + S_US(2) + MS_US(500), true);
	fx_step_at(&f, t + S_US(2) + MS_US(500));
	assert_true(fx_code(&f, BMS_E1));
}

/* Item 6: a restart is never counted by anti-chatter, even when the bus
 * takes longer than the window (E1 for a moment at each restart). */
static void restarts_are_not_chatter(void **state)
{
	struct fx f;
	struct saved s;

	(void)state;
	fx_start(&f, 2);
	fx_run_to(&f, T0 + S_US(10), MS_US(100));
	for (unsigned k = 0; k < 4; k++) {
		uint64_t t = f.now + S_US(1);

		save(&f, &s);
		start_again(&f, &s, t, true);
		bus_unknown(&f);
		fx_run_to(&f, t + S_US(4), MS_US(100));
		assert_true(fx_code(&f, BMS_E1));
		assert_false(fx_code(&f, BMS_W3));
		bus_back(&f, 2);
		fx_run_to(&f, t + S_US(12), MS_US(100));
		assert_false(fx_code(&f, BMS_E1));
		assert_false(fx_code(&f, BMS_W3));
		assert_true(f.out.atc_closed);
	}
	/* Staleness while running is still counted: the third latches (W3,
	 * while the latch lasts: a stale rule still releases after 5 s). */
	for (unsigned k = 0; k < 3; k++) {
		f.frozen[1] = true;
		fx_run_to(&f, f.now + S_US(4), MS_US(100));
		assert_true(fx_code(&f, BMS_E1));
		assert_int_equal(fx_code(&f, BMS_W3), k == 2);
		f.frozen[1] = false;
		fx_run_to(&f, f.now + S_US(6), MS_US(100));
	}
}

/* A record from the previous version (1) still resumes, without windows. */
static void version_1_record_resumes(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 1);
	fx_cells(&f, 2400);
	fx_run_to(&f, T0 + S_US(3), MS_US(100));
	save(&f, &s);
	/* Version 1: the same layout without the freshness tail. */
	s.buf[4] = 1;
	s.len -= 1 + 8;
	assert_int_equal(protection_persist_check(s.buf, (size_t)s.len), 0);
	t = T0 + S_US(4);
	start_again(&f, &s, t, true);
	bus_unknown(&f);
	fx_step_at(&f, t);
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_CRIT_UV));
	assert_true(fx_code(&f, BMS_E1));
	/* A version 1 record with a version 2 flag is refused. */
	s.buf[48 + 1] = 4;
	assert_int_equal(protection_persist_check(s.buf, (size_t)s.len), -ERANGE);
}

/* Item 1: a crash between an output's change and the save leaves a record
 * older than the lines. The lines the new instance adopted show what its
 * predecessor held open: such an output stays open until the first complete
 * fresh data set, on which its rules start tripped, as at a cold start. */
static void adopted_open_lines_outrank_an_older_record(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 2);
	fx_run_to(&f, T0 + S_US(10), MS_US(100));
	save(&f, &s); /* ATD and ATC closed in the record */
	t = T0 + S_US(40);
	start_again(&f, &s, t, true);
	protection_adopted_outputs(&f.p, false, false); /* both lines open */
	fx_cells(&f, 2700);            /* < 2.80 V: A1 would wait 5 s and the lead */
	f.in.bat[1].cell_mv[3] = 3760; /* > 3.75 V: A3 would wait 1 s */
	bus_unknown(&f);
	fx_run_to(&f, t + S_US(2), MS_US(100));
	assert_false(f.out.atd_closed);
	assert_false(f.out.atc_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_STARTUP_ATD));
	assert_false(fx_code(&f, BMS_E1));
	bus_back(&f, 2);
	fx_step_at(&f, t + S_US(2) + MS_US(100));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_UV));
	assert_false(fx_holds(&f, PROT_OUT_ATD, PROT_R_STARTUP_ATD));
	assert_false(f.out.atc_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_OV));
	/* Not counted as chatter, and later trips follow their delays again. */
	assert_int_equal(f.out.latched_rules, 0);
}

/* With good data the open lines close on the first complete data set; lines
 * found closed change nothing (the record decides, as before). */
static void adopted_lines_with_good_data(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 1);
	fx_run_to(&f, T0 + S_US(10), MS_US(100));
	save(&f, &s);
	t = T0 + S_US(11);
	start_again(&f, &s, t, true);
	protection_adopted_outputs(&f.p, false, true);
	bus_unknown(&f);
	fx_step_at(&f, t);
	assert_false(f.out.atd_closed);
	bus_back(&f, 1);
	fx_step_at(&f, t + MS_US(500));
	assert_true(f.out.atd_closed);
	assert_true(f.out.atc_closed);
	/* Lines found closed: ATD as the record says, at once. */
	start_again(&f, &s, t + S_US(1), true);
	protection_adopted_outputs(&f.p, true, true);
	bus_unknown(&f);
	fx_step_at(&f, t + S_US(1));
	assert_true(f.out.atd_closed);
	assert_false(f.out.atc_closed); /* until every battery is fresh */
	/* A cold start ignores the lines (both open until fresh anyway). */
	start_again(&f, &s, t + S_US(2), false);
	protection_adopted_outputs(&f.p, true, true);
	fx_step_at(&f, t + S_US(2));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_STARTUP_ATD));
}

/* A predecessor that never ran on fresh data saved a cold start: adopting
 * its (open) lines is still a cold start, whose first complete data set
 * trips every rule at once, the pre-alarm's too (section 4). */
static void adopted_cold_start_stays_cold(void **state)
{
	struct fx f;
	struct saved s;

	(void)state;
	fx_init(&f, 1);
	bus_unknown(&f);
	fx_run_to(&f, T0 + S_US(2), MS_US(100));
	assert_false(f.out.atd_closed || f.out.atc_closed);
	save(&f, &s);
	start_again(&f, &s, f.now + S_US(1), true);
	protection_adopted_outputs(&f.p, false, false);
	bus_back(&f, 1);
	fx_cells(&f, 3099); /* below the pre-alarm level (W2, 2 s delay) */
	fx_step_at(&f, f.now + MS_US(100));
	assert_true(fx_code(&f, BMS_W2));
	assert_true(f.out.prealarm_active);
}

/* A cold start with a record whose release hold was running: the hold is
 * seen again on this instance's fresh data, in full, also when steps ran
 * before the first data set. */
static void cold_start_restarts_a_saved_release_hold(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t1;

	(void)state;
	fx_start(&f, 1);
	f.in.bat[0].cell_mv[0] = 3800; /* A3 after 1 s */
	fx_run_to(&f, T0 + S_US(2), MS_US(100));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_OV));
	f.in.bat[0].cell_mv[0] = 3300;
	fx_run_to(&f, f.now + S_US(25), MS_US(100)); /* 25 s of the 30 s hold */
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_OV));
	save(&f, &s);
	start_again(&f, &s, f.now + S_US(1), false);
	bus_unknown(&f);
	fx_run_to(&f, f.now + S_US(1), MS_US(100));
	bus_back(&f, 1);
	t1 = f.now + MS_US(100);
	fx_step_at(&f, t1);
	fx_run_to(&f, t1 + S_US(30) - MS_US(100), MS_US(100));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_OV));
	assert_false(f.out.atc_closed);
	fx_step_at(&f, t1 + S_US(30));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_OV));
	assert_true(f.out.atc_closed);
}

/* A rule saved counting down is not tripped at once by a start's first
 * data set while its own input is unknown: its delay runs on. */
static void unknown_input_does_not_trip_at_once(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t0;

	(void)state;
	fx_start(&f, 1);
	fx_run_to(&f, T0 + S_US(5), S_US(1));
	f.in.bank_mv = 4 * 3750 + 1; /* bank OV, 2 s delay */
	t0 = f.now + MS_US(100);
	fx_step_at(&f, t0);
	fx_step_at(&f, t0 + MS_US(500));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_BANK_OV));
	save(&f, &s);
	start_again(&f, &s, f.now + MS_US(100), false);
	f.in.bank_mv_valid = false;
	fx_step_at(&f, f.now + MS_US(100));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_BANK_OV));
	f.in.bank_mv_valid = true;
	fx_step_at(&f, f.now + MS_US(100));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_BANK_OV));
	/* the saved 0.5 s count on this clock: 1.5 s more from the restart */
	fx_run_to(&f, t0 + MS_US(600) + MS_US(1500) - MS_US(100), MS_US(100));
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_BANK_OV));
	fx_step_at(&f, t0 + MS_US(600) + MS_US(1500));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_BANK_OV));
}

/* The window covers the batteries fresh at the save only: one of the saved
 * bank that was not (exempt then, e.g. in a firmware update) is stale at
 * once after the resume. */
static void resume_window_skips_a_battery_not_fresh_at_the_save(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 2);
	f.in.bat[1].stale_exempt = true;
	fx_run_to(&f, T0 + S_US(5), MS_US(100));
	assert_false(fx_code(&f, BMS_E1));
	save(&f, &s);
	t = f.now + S_US(1);
	start_again(&f, &s, t, true);
	f.in.bat[1].stale_exempt = false;
	f.in.bat[0].has_status = false;
	f.in.bat[1].has_status = false;
	fx_step_at(&f, t);
	assert_true(fx_code(&f, BMS_E1));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_STALE_ATC));
	for (unsigned i = 0; i < f.out.report[PROT_OUT_ATC].n_holds; i++)
		if (f.out.report[PROT_OUT_ATC].holds[i].rule == PROT_R_STALE_ATC)
			assert_int_equal(f.out.report[PROT_OUT_ATC].holds[i].reading.battery, 1);
}

/* The window is a resume's only: a cold start with the same record sees a
 * battery not heard yet as stale (E1) at once. */
static void cold_start_has_no_window(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 1);
	fx_run_to(&f, T0 + S_US(5), MS_US(100));
	save(&f, &s);
	t = f.now + S_US(1);
	start_again(&f, &s, t, false);
	f.in.bat[0].has_status = false;
	fx_step_at(&f, t);
	assert_true(fx_code(&f, BMS_E1));
	/* the same record, adopted: covered */
	start_again(&f, &s, t, true);
	fx_step_at(&f, t);
	assert_false(fx_code(&f, BMS_E1));
}

/* Before the bus is enumerated, the window covers the bank only if every
 * battery of the saved bank was fresh, the first one included. */
static void window_over_the_bank_needs_every_battery(void **state)
{
	struct fx f;
	struct saved s;
	uint64_t t;

	(void)state;
	fx_start(&f, 2);
	f.in.bat[0].stale_exempt = true;
	fx_run_to(&f, T0 + S_US(5), MS_US(100));
	save(&f, &s);
	t = f.now + S_US(1);
	start_again(&f, &s, t, true);
	f.in.bat[0].stale_exempt = false;
	bus_unknown(&f);
	fx_step_at(&f, t);
	assert_true(fx_code(&f, BMS_E1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(resumed_is_not_running),
	        cmocka_unit_test(not_adopted_is_a_cold_start),
	        cmocka_unit_test(not_adopted_keeps_saved_trips),
	        cmocka_unit_test(resumed_release_needs_fresh_data),
	        cmocka_unit_test(resumed_low_soc_waits_for_batteries),
	        cmocka_unit_test(resume_staleness_window),
	        cmocka_unit_test(resume_within_the_window),
	        cmocka_unit_test(resume_window_only_for_fresh_batteries),
	        cmocka_unit_test(window_does_not_chain),
	        cmocka_unit_test(restarts_are_not_chatter),
	        cmocka_unit_test(adopted_cold_start_stays_cold),
	        cmocka_unit_test(cold_start_restarts_a_saved_release_hold),
	        cmocka_unit_test(unknown_input_does_not_trip_at_once),
	        cmocka_unit_test(resume_window_skips_a_battery_not_fresh_at_the_save),
	        cmocka_unit_test(cold_start_has_no_window),
	        cmocka_unit_test(window_over_the_bank_needs_every_battery),
	        cmocka_unit_test(version_1_record_resumes),
	        cmocka_unit_test(adopted_open_lines_outrank_an_older_record),
	        cmocka_unit_test(adopted_lines_with_good_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
