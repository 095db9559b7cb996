/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/codes.h"
#include "core/monitor.h"

#define S_US     1000000ull
#define T0_US    (1000ull * S_US)
#define WALL0    1767225600 /* 2026-01-01 */
#define C_AH     100
#define CELLS_4S 4

struct rig {
	struct monitor m;
	uint64_t now_us;
	int64_t wall_s;
	struct monitor_input in;
};

static void rig_init(struct rig *r)
{
	struct monitor_settings s;

	memset(r, 0, sizeof(*r));
	monitor_settings_default(&s);
	monitor_init(&r->m, &s, 10);
	monitor_set_bank(&r->m, C_AH, CELLS_4S);
	r->now_us = T0_US;
	r->wall_s = WALL0;
	r->in = (struct monitor_input){
	        .valid = true,
	        .current_ma = 0,
	        .bank_mv = 13300,
	        .all_fresh = true,
	        .min_cell_mv = 3320,
	        .max_cell_mv = 3330,
	        .min_temp_dc = 200,
	        .max_temp_dc = 210,
	};
}

static void step(struct rig *r)
{
	monitor_step(&r->m, r->now_us, r->wall_s, &r->in);
}

/* Steps every second for secs seconds (the first step is one second on). */
static void run(struct rig *r, unsigned secs)
{
	for (unsigned i = 0; i < secs; i++) {
		r->now_us += S_US;
		r->wall_s++;
		step(r);
	}
}

static void soc_unknown_until_set(void **state)
{
	struct rig r;
	bool known = true;

	(void)state;
	rig_init(&r);
	r.in.current_ma = -10000;
	step(&r);
	run(&r, 360);
	assert_int_equal(monitor_soc_cpct(&r.m, &known), 0);
	assert_false(known);
	/* Consumed Ah counts regardless: 10 A x 0.1 h. */
	assert_true(fabs(monitor_consumed_ah(&r.m) - 1.0) < 1e-9);
	assert_int_equal(monitor_soc_events(&r.m), 0);
	assert_int_equal(monitor_set_soc(&r.m, 5000), 0);
	assert_int_equal(monitor_soc_cpct(&r.m, &known), 5000);
	assert_true(known);
	assert_int_equal(monitor_soc_events(&r.m), 1);
	assert_int_equal(monitor_set_soc(&r.m, 10001), -EINVAL);
	assert_int_equal(monitor_set_soc(&r.m, -1), -EINVAL);
	assert_int_equal(monitor_soc_cpct(&r.m, NULL), 5000);
	assert_int_equal(monitor_soc_events(&r.m), 1);
	assert_int_equal(monitor_set_soc(&r.m, 0), 0);
	assert_int_equal(monitor_set_soc(&r.m, 10000), 0);
	assert_int_equal(monitor_soc_cpct(&r.m, NULL), 10000);
	assert_true(fabs(monitor_consumed_ah(&r.m)) < 1e-12);
}

static void peukert_discharge(void **state)
{
	struct rig r;
	/* 10 A from 100 Ah: (10 / (100 / 20))^(1.05 - 1) x 10 Ah in one hour. */
	double expect_ah = 10.0 * pow(10.0 / (C_AH / 20.0), 1.05 - 1.0);

	(void)state;
	rig_init(&r);
	monitor_sync(&r.m, r.wall_s);
	r.in.current_ma = -10000;
	step(&r);
	run(&r, 3600);
	assert_true(fabs((100.0 - r.m.soc.soc_pct) / 100.0 * C_AH - expect_ah) < 0.01);
	/* Not the raw 10 Ah: the test can tell the factor is applied. */
	assert_true(fabs((100.0 - r.m.soc.soc_pct) - 10.0) > 0.3);
	assert_int_equal(monitor_soc_cpct(&r.m, NULL),
	                 (int32_t)lround((100.0 - expect_ah) * 100.0));
	/* Consumed Ah and history are raw. */
	assert_true(fabs(monitor_consumed_ah(&r.m) - 10.0) < 0.001);
	assert_true(fabs(r.m.hist.drawn_ah - 10.0) < 0.001);
	assert_true(fabs(r.m.hist.deepest_ah - 10.0) < 0.001);
	/* 10 A x 13.3 V x 1 h */
	assert_true(fabs(r.m.hist.discharged_wh - 133.0) < 0.01);
	assert_true(r.m.hist.charged_wh == 0.0);
}

static void no_peukert_at_c20(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	monitor_sync(&r.m, r.wall_s);
	r.in.current_ma = -5000; /* exactly C / 20: factor 1 */
	step(&r);
	run(&r, 3600);
	assert_true(fabs(r.m.soc.soc_pct - 95.0) < 1e-6);
}

static void charge_efficiency(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	assert_int_equal(monitor_set_soc(&r.m, 5000), 0);
	r.in.current_ma = 10000;
	step(&r);
	run(&r, 3600);
	/* 10 Ah x 0.99 = 9.9 Ah = 9.9 % of 100 Ah */
	assert_true(fabs(r.m.soc.soc_pct - 59.9) / 100.0 * C_AH < 0.01);
	assert_int_equal(monitor_soc_cpct(&r.m, NULL), 5990);
	/* consumed Ah counts raw: 50 - 10 */
	assert_true(fabs(monitor_consumed_ah(&r.m) - 40.0) < 0.001);
	assert_true(fabs(r.m.hist.charged_wh - 133.0) < 0.01);
}

static void small_current_integrates(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	assert_int_equal(monitor_set_soc(&r.m, 5000), 0);
	r.in.current_ma = -1;
	step(&r);
	run(&r, 36000); /* 1 mA x 10 h = 0.01 Ah = 0.01 % */
	assert_true(fabs(r.m.soc.soc_pct - 49.99) < 1e-6);
	assert_int_equal(monitor_soc_cpct(&r.m, NULL), 4999);
}

static void real_elapsed_time(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	assert_int_equal(monitor_set_soc(&r.m, 5000), 0);
	/* a manual set puts what is missing to full into consumed Ah */
	double c0 = monitor_consumed_ah(&r.m);
	assert_true(fabs(c0 - 50.0) < 1e-9);
	r.in.current_ma = -3600;
	step(&r);
	/* Uneven steps: 0.25 s, 2.75 s and 7 s add to 10 s = 0.01 Ah. */
	r.now_us += 250000;
	step(&r);
	r.now_us += 2750000;
	step(&r);
	r.now_us += 7 * S_US;
	step(&r);
	assert_true(fabs(monitor_consumed_ah(&r.m) - c0 - 0.01) < 1e-9);
	/* A gap longer than 60 s is not integrated; 60 s exactly is. */
	r.now_us += 61 * S_US;
	step(&r);
	assert_true(fabs(monitor_consumed_ah(&r.m) - c0 - 0.01) < 1e-9);
	r.now_us += 60 * S_US;
	step(&r);
	assert_true(fabs(monitor_consumed_ah(&r.m) - c0 - 0.07) < 1e-9);
	/* Time going back is not integrated either. */
	r.now_us -= 5 * S_US;
	step(&r);
	assert_true(fabs(monitor_consumed_ah(&r.m) - c0 - 0.07) < 1e-9);
	/* An invalid sample is skipped. */
	r.in.valid = false;
	r.now_us += 20 * S_US;
	step(&r);
	assert_true(fabs(monitor_consumed_ah(&r.m) - c0 - 0.07) < 1e-9);
}

static void soc_clamped(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	monitor_sync(&r.m, r.wall_s);
	r.in.current_ma = 20000;
	step(&r);
	run(&r, 600);
	assert_int_equal(monitor_soc_cpct(&r.m, NULL), 10000);
	assert_true(monitor_consumed_ah(&r.m) == 0.0);
	assert_int_equal(monitor_set_soc(&r.m, 100), 0);
	r.in.current_ma = -20000;
	run(&r, 600);
	assert_int_equal(monitor_soc_cpct(&r.m, NULL), 0);
	assert_true(r.m.soc.soc_pct == 0.0);
}

/* Charged condition for 4 cells x 3.50 V and 4 % of 100 Ah. */
static void charged_input(struct rig *r)
{
	r->in.bank_mv = 14000;
	r->in.current_ma = 4000;
	r->in.max_cell_mv = 3520;
	r->in.min_cell_mv = 3490;
}

static void sync_after_detection_time(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	charged_input(&r);
	step(&r); /* the condition starts here */
	run(&r, 179);
	assert_false(r.m.soc.known);
	run(&r, 1); /* 180 s */
	assert_true(r.m.soc.known);
	assert_int_equal(monitor_soc_cpct(&r.m, NULL), 10000);
	assert_int_equal(monitor_soc_events(&r.m), 1);
	assert_int_equal(r.m.hist.syncs, 1);
	assert_int_equal(r.m.hist.last_full_charge_s, r.wall_s);
	/* Once per charged episode: float charge does not sync again. */
	run(&r, 600);
	assert_int_equal(monitor_soc_events(&r.m), 1);
}

static void sync_break_restarts(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	charged_input(&r);
	step(&r);
	run(&r, 100);
	r.in.current_ma = 4001; /* above the tail: break */
	run(&r, 1);
	charged_input(&r);
	run(&r, 180); /* started again one second before this run */
	assert_false(r.m.soc.known);
	run(&r, 1);
	assert_true(r.m.soc.known);

	/* Negative current counts by magnitude; just below charged voltage breaks. */
	rig_init(&r);
	charged_input(&r);
	r.in.current_ma = -4000;
	step(&r);
	run(&r, 100);
	r.in.bank_mv = 13999;
	run(&r, 1);
	r.in.bank_mv = 14000;
	run(&r, 180); /* started again at the first of these */
	assert_false(r.m.soc.known);
	run(&r, 1);
	assert_true(r.m.soc.known);

	/* A monotonic clock that went back restarts the count. */
	rig_init(&r);
	charged_input(&r);
	step(&r);
	run(&r, 100);
	r.now_us -= 50 * S_US;
	step(&r);
	run(&r, 179);
	assert_false(r.m.soc.known);
	run(&r, 1);
	assert_true(r.m.soc.known);

	/* An invalid sample breaks too. */
	rig_init(&r);
	charged_input(&r);
	step(&r);
	run(&r, 100);
	r.in.valid = false;
	run(&r, 1);
	r.in.valid = true;
	run(&r, 180); /* started again at the first of these */
	assert_false(r.m.soc.known);
	run(&r, 1);
	assert_true(r.m.soc.known);
}

static void sync_blocked_by_stale_battery(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	charged_input(&r);
	r.in.all_fresh = false;
	step(&r);
	run(&r, 3600);
	assert_false(r.m.soc.known);
	r.in.all_fresh = true;
	run(&r, 180);
	assert_false(r.m.soc.known);
	run(&r, 1);
	assert_true(r.m.soc.known);

	/* No bank, no sync. */
	rig_init(&r);
	monitor_set_bank(&r.m, 0, 0);
	charged_input(&r);
	step(&r);
	run(&r, 600);
	assert_false(r.m.soc.known);
}

static void sync_follows_settings(void **state)
{
	struct rig r;
	struct monitor_settings s = {
	        .charged_cell_mv = 3450, .tail_current_pmil = 20, .charged_detect_s = 60};

	(void)state;
	rig_init(&r);
	monitor_set_settings(&r.m, &s, 10);
	r.in.bank_mv = 13800;
	r.in.current_ma = 2001; /* tail is 2 A */
	step(&r);
	run(&r, 120);
	assert_false(r.m.soc.known);
	r.in.current_ma = 2000;
	run(&r, 60);
	assert_false(r.m.soc.known);
	run(&r, 1);
	assert_true(r.m.soc.known);
	/* The 14.00 V default of a 12 V bank follows a 16-cell bank: 56.00 V. */
	rig_init(&r);
	monitor_set_bank(&r.m, 200, 16);
	r.in.bank_mv = 55999;
	r.in.current_ma = 8000;
	step(&r);
	run(&r, 600);
	assert_false(r.m.soc.known);
	r.in.bank_mv = 56000;
	run(&r, 180);
	assert_false(r.m.soc.known);
	run(&r, 1);
	assert_true(r.m.soc.known);
}

/* Sets SoC by a manual set and lets the monitor see it. */
static void soc_to(struct rig *r, int32_t cpct)
{
	assert_int_equal(monitor_set_soc(&r->m, cpct), 0);
	r->in.current_ma = 0;
	run(r, 1);
}

static void auto_sync(struct rig *r)
{
	struct monitor_input keep = r->in;

	charged_input(r);
	run(r, 200);
	r->in = keep;
	run(r, 1);
}

static void sync_counter(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	auto_sync(&r); /* the first sync counts */
	assert_int_equal(r.m.hist.syncs, 1);
	soc_to(&r, 9000); /* 90.00 % is not below 90 % */
	auto_sync(&r);
	assert_int_equal(r.m.hist.syncs, 1);
	assert_int_equal(monitor_soc_events(&r.m), 3);
	soc_to(&r, 8999);
	auto_sync(&r);
	assert_int_equal(r.m.hist.syncs, 2);
	/* A manual sync never counts, and does not arm or disarm. */
	soc_to(&r, 5000);
	monitor_sync(&r.m, r.wall_s);
	assert_int_equal(r.m.hist.syncs, 2);
	assert_int_equal(r.m.hist.last_full_charge_s, r.wall_s);
	auto_sync(&r);
	assert_int_equal(r.m.hist.syncs, 3);
}

static void cycle_counter(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	soc_to(&r, 6500); /* 65 % is not below 65 % */
	soc_to(&r, 9500);
	assert_int_equal(r.m.hist.cycles, 0);
	soc_to(&r, 6499);
	soc_to(&r, 9000); /* 90 % is not above */
	assert_int_equal(r.m.hist.cycles, 0);
	soc_to(&r, 9001);
	assert_int_equal(r.m.hist.cycles, 1);
	soc_to(&r, 10000);
	assert_int_equal(r.m.hist.cycles, 1);
	/* Down through 65 % by discharging, up by a sync. */
	r.in.current_ma = -50000;
	run(&r, 2700); /* > 37.5 Ah at 50 A with Peukert */
	assert_true(monitor_soc_cpct(&r.m, NULL) < 6500);
	auto_sync(&r);
	assert_int_equal(r.m.hist.cycles, 2);
	/* Deepest discharge follows the raw Ah taken out. */
	assert_true(fabs(r.m.hist.deepest_ah - 37.5) < 0.01);
}

static void time_remaining(void **state)
{
	struct rig r;
	int64_t t = 0;
	double mean = 0, expect;

	(void)state;
	rig_init(&r);
	r.in.current_ma = -10000;
	step(&r);
	run(&r, 300);
	/* SoC unknown: time remaining unknown. */
	assert_int_equal(monitor_time_remaining_s(&r.m, r.now_us, &t), -ENODATA);
	assert_int_equal(monitor_set_soc(&r.m, 6000), 0);
	assert_int_equal(monitor_mean_discharge_ma(&r.m, r.now_us, &mean), 0);
	assert_true(fabs(mean - 10000.0 * pow(2.0, 0.05)) < 1e-6);
	assert_int_equal(monitor_time_remaining_s(&r.m, r.now_us, &t), 0);
	/* 50 % of 100 Ah at 10.35 A: 4.83 h */
	expect = 0.5 * C_AH / (10.0 * pow(2.0, 0.05)) * 3600.0;
	assert_true(llabs(t - (int64_t)llround(expect)) <= 1);

	/* The mean is over the last 3 minutes: 5 A for 3 min wipes the 10 A. */
	r.in.current_ma = -5000;
	run(&r, 185);
	assert_int_equal(monitor_mean_discharge_ma(&r.m, r.now_us, &mean), 0);
	assert_true(fabs(mean - 5000.0) < 1e-6);
	assert_int_equal(monitor_time_remaining_s(&r.m, r.now_us, &t), 0);
	expect = (r.m.soc.soc_pct - 10.0) / 100.0 * C_AH / 5.0 * 3600.0;
	assert_true(llabs(t - (int64_t)llround(expect)) <= 1);

	/* Exactly 0.1 % of C (100 mA) is not more than 0.1 %: unknown. */
	r.in.current_ma = -100;
	run(&r, 185);
	assert_int_equal(monitor_time_remaining_s(&r.m, r.now_us, &t), -ENODATA);
	r.in.current_ma = -101;
	run(&r, 185);
	assert_int_equal(monitor_time_remaining_s(&r.m, r.now_us, &t), 0);
	expect = (r.m.soc.soc_pct - 10.0) / 100.0 * C_AH / 0.101 * 3600.0;
	assert_true(llabs(t - (int64_t)llround(expect)) <= 1);

	/* Charging: unknown. */
	r.in.current_ma = 2000;
	run(&r, 185);
	assert_int_equal(monitor_time_remaining_s(&r.m, r.now_us, &t), -ENODATA);
	/* No sample in the last 3 minutes: unknown. */
	assert_int_equal(monitor_mean_discharge_ma(&r.m, r.now_us + 200 * S_US, &mean), -ENODATA);

	/* Below the floor: 0. */
	assert_int_equal(monitor_set_soc(&r.m, 900), 0);
	r.in.current_ma = -10000;
	run(&r, 185);
	assert_int_equal(monitor_time_remaining_s(&r.m, r.now_us, &t), 0);
	assert_int_equal(t, 0);
	/* Floor 0 (off): down to empty. */
	monitor_set_settings(&r.m, &r.m.set, 0);
	assert_int_equal(monitor_time_remaining_s(&r.m, r.now_us, &t), 0);
	expect = r.m.soc.soc_pct / 100.0 * C_AH / (10.0 * pow(2.0, 0.05)) * 3600.0;
	assert_true(llabs(t - (int64_t)llround(expect)) <= 1);
}

static void history_via_monitor(void **state)
{
	struct rig r;
	uint32_t bits = BMS_CODE_BIT(BMS_E1) | BMS_CODE_BIT(BMS_W6);

	(void)state;
	rig_init(&r);
	r.in.bank_mv = 13100;
	r.in.min_cell_mv = 3200;
	r.in.max_cell_mv = 3350;
	r.in.min_temp_dc = -50;
	r.in.max_temp_dc = 310;
	r.in.active_codes = bits;
	step(&r);
	r.in.bank_mv = 13600;
	r.in.min_cell_mv = 0xFFFF; /* not available: ignored */
	r.in.min_temp_dc = 0x7FFF;
	run(&r, 10);
	assert_int_equal(r.m.hist.min_bank_mv, 13100);
	assert_int_equal(r.m.hist.max_bank_mv, 13600);
	assert_int_equal(r.m.hist.min_cell_mv, 3200);
	assert_int_equal(r.m.hist.max_cell_mv, 3350);
	assert_int_equal(r.m.hist.min_temp_dc, -50);
	assert_int_equal(r.m.hist.max_temp_dc, 310);
	/* E1 once, with its time; W6 is not an error. */
	assert_int_equal(r.m.hist.n_errors, 1);
	assert_int_equal(r.m.hist.errors[0].code, BMS_E1);
	assert_int_equal(r.m.hist.errors[0].wall_s, WALL0);
	/* Cleared and back: recorded again. */
	r.in.active_codes = 0;
	run(&r, 1);
	r.in.active_codes = bits | BMS_CODE_BIT(BMS_E3);
	run(&r, 1);
	assert_int_equal(r.m.hist.n_errors, 3);
	assert_int_equal(r.m.hist.errors[0].wall_s, r.wall_s);
	/* Reset history: history only. */
	assert_int_equal(monitor_set_soc(&r.m, 4200), 0);
	monitor_reset_history(&r.m);
	assert_int_equal(r.m.hist.n_errors, 0);
	assert_int_equal(r.m.hist.min_bank_mv, HISTORY_MIN_NONE);
	assert_int_equal(r.m.hist.last_full_charge_s, HISTORY_NEVER);
	assert_int_equal(monitor_soc_cpct(&r.m, NULL), 4200);
}

static void balancer_via_monitor(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	assert_int_equal(monitor_balancer_status(&r.m, r.wall_s), BALANCER_UNKNOWN);
	auto_sync(&r); /* spread 30 mV at the sync */
	assert_int_equal(monitor_balancer_status(&r.m, r.wall_s), BALANCER_BALANCED);
	r.in.current_ma = 501;
	r.in.any_balancing = true;
	run(&r, 1);
	assert_int_equal(monitor_balancer_status(&r.m, r.wall_s), BALANCER_BALANCING);
	r.in.current_ma = 500;
	run(&r, 1);
	assert_int_equal(monitor_balancer_status(&r.m, r.wall_s), BALANCER_BALANCED);
	/* Accepted anew: unknown, SoC unknown, history kept. */
	monitor_bank_accepted(&r.m);
	assert_int_equal(monitor_balancer_status(&r.m, r.wall_s), BALANCER_UNKNOWN);
	assert_false(r.m.soc.known);
	assert_int_equal(r.m.hist.syncs, 1);
	/* A sync with a 31 mV spread: imbalanced. */
	charged_input(&r);
	r.in.min_cell_mv = 3489;
	r.in.any_balancing = false;
	run(&r, 181);
	assert_int_equal(monitor_balancer_status(&r.m, r.wall_s), BALANCER_IMBALANCED);
	/* Invalid sample: no current, not balancing. */
	r.in.valid = false;
	r.in.any_balancing = true;
	run(&r, 1);
	assert_int_equal(monitor_balancer_status(&r.m, r.wall_s), BALANCER_IMBALANCED);
}

static void restore_and_check(void **state)
{
	struct rig r, r2;
	struct monitor_soc soc;

	(void)state;
	rig_init(&r);
	assert_int_equal(monitor_set_soc(&r.m, 7321), 0);
	r.in.current_ma = -2000;
	step(&r);
	run(&r, 60);
	rig_init(&r2);
	monitor_restore(&r2.m, &r.m.soc, &r.m.hist, &r.m.bal);
	assert_int_equal(monitor_soc_cpct(&r2.m, NULL), monitor_soc_cpct(&r.m, NULL));
	assert_true(monitor_consumed_ah(&r2.m) == monitor_consumed_ah(&r.m));
	assert_int_equal(monitor_soc_events(&r2.m), 1);

	soc = r.m.soc;
	assert_int_equal(monitor_soc_check(&soc), 0);
	soc.soc_pct = 100.0001;
	assert_int_equal(monitor_soc_check(&soc), -EINVAL);
	soc.soc_pct = NAN;
	assert_int_equal(monitor_soc_check(&soc), -EINVAL);
	soc = r.m.soc;
	soc.consumed_ah = -0.1;
	assert_int_equal(monitor_soc_check(&soc), -EINVAL);
	soc.consumed_ah = INFINITY;
	assert_int_equal(monitor_soc_check(&soc), -EINVAL);
}

static void settings_bounds(void **state)
{
	struct monitor_settings s;
	char err[128];
	size_t n = 0;
	const struct setting_desc *d = monitor_setting_descs(&n);

	(void)state;
	assert_int_equal(n, 3);
	monitor_settings_default(&s);
	assert_int_equal(s.charged_cell_mv, 3500);
	assert_int_equal(s.tail_current_pmil, 40);
	assert_int_equal(s.charged_detect_s, 180);
	assert_int_equal(monitor_settings_validate(&s, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(d[i].reset, SETTING_RESET_DEFAULTS);
		monitor_settings_default(&s);
		*setting_field(&s, &d[i]) = d[i].min;
		assert_int_equal(monitor_settings_validate(&s, err, sizeof(err)), 0);
		*setting_field(&s, &d[i]) = d[i].min - 1;
		assert_int_equal(monitor_settings_validate(&s, err, sizeof(err)), -ERANGE);
		assert_non_null(strstr(err, d[i].name));
		*setting_field(&s, &d[i]) = d[i].max;
		assert_int_equal(monitor_settings_validate(&s, NULL, 0), 0);
		*setting_field(&s, &d[i]) = d[i].max + 1;
		assert_int_equal(monitor_settings_validate(&s, err, sizeof(err)), -ERANGE);
	}
	monitor_settings_default(&s);
	s.tail_current_pmil = 101;
	assert_int_equal(monitor_settings_validate(&s, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "tail_current_pmil=101 must be <= its maximum (100)");
	/* The bounds of docs/monitor.md: 3.40..3.60 V/cell, 0.5..10 %, 1..50 min. */
	assert_int_equal(d[0].min, 3400);
	assert_int_equal(d[0].max, 3600);
	assert_int_equal(d[1].min, 5);
	assert_int_equal(d[1].max, 100);
	assert_int_equal(d[2].min, 60);
	assert_int_equal(d[2].max, 3000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(soc_unknown_until_set),
	        cmocka_unit_test(peukert_discharge),
	        cmocka_unit_test(no_peukert_at_c20),
	        cmocka_unit_test(charge_efficiency),
	        cmocka_unit_test(small_current_integrates),
	        cmocka_unit_test(real_elapsed_time),
	        cmocka_unit_test(soc_clamped),
	        cmocka_unit_test(sync_after_detection_time),
	        cmocka_unit_test(sync_break_restarts),
	        cmocka_unit_test(sync_blocked_by_stale_battery),
	        cmocka_unit_test(sync_follows_settings),
	        cmocka_unit_test(sync_counter),
	        cmocka_unit_test(cycle_counter),
	        cmocka_unit_test(time_remaining),
	        cmocka_unit_test(history_via_monitor),
	        cmocka_unit_test(balancer_via_monitor),
	        cmocka_unit_test(restore_and_check),
	        cmocka_unit_test(settings_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
