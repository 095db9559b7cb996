/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rules of the battery monitor that a mutation run (tools/mutate) found
 * untested: each test failed on at least one mutant of src/core/monitor.c
 * that the rest of the suite let pass.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/monitor.h"

#define S_US  1000000ull
#define T0_US (1000ull * S_US)
#define WALL0 1767225600 /* 2026-01-01 */

struct rig {
	struct monitor m;
	uint64_t now_us;
	int64_t wall_s;
	struct monitor_input in;
};

/* A bank of capacity_ah and series cells, charged: 3.6 V a cell, no
 * current (the charged condition holds). */
static void rig_init(struct rig *r, uint32_t capacity_ah, uint16_t series)
{
	struct monitor_settings s;

	memset(r, 0, sizeof(*r));
	monitor_settings_default(&s);
	monitor_init(&r->m, &s, 10);
	monitor_set_bank(&r->m, capacity_ah, series);
	r->now_us = T0_US;
	r->wall_s = WALL0;
	r->in = (struct monitor_input){
	        .valid = true,
	        .current_ma = 0,
	        .bank_mv = 3600u * series,
	        .all_fresh = true,
	        .min_cell_mv = 3590,
	        .max_cell_mv = 3600,
	        .min_temp_dc = 200,
	        .max_temp_dc = 210,
	};
}

static void run(struct rig *r, unsigned secs)
{
	for (unsigned i = 0; i < secs; i++) {
		r->now_us += S_US;
		r->wall_s++;
		monitor_step(&r->m, r->now_us, r->wall_s, &r->in);
	}
}

static bool soc_known(const struct rig *r)
{
	bool known = false;

	monitor_soc_cpct(&r->m, &known);
	return known;
}

/* An error message fits any buffer of at least one byte. */
static void validate_message_in_one_byte(void **state)
{
	struct monitor_settings s;
	char err[1] = {'x'};

	(void)state;
	monitor_settings_default(&s);
	s.charged_cell_mv = 1;
	assert_int_equal(monitor_settings_validate(&s, err, sizeof(err)), -ERANGE);
	assert_int_equal(err[0], '\0');
}

/* Charged detection needs a bank size: a capacity and cells in series; a
 * bank of 1 Ah or of one cell is a bank. */
static void charged_detection_needs_a_bank(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 0, 4);
	run(&r, 400);
	assert_false(soc_known(&r));
	rig_init(&r, 100, 0);
	r.in.bank_mv = 14400;
	run(&r, 400);
	assert_false(soc_known(&r));
	rig_init(&r, 1, 4);
	run(&r, 181);
	assert_true(soc_known(&r));
	rig_init(&r, 100, 1);
	run(&r, 181);
	assert_true(soc_known(&r));
}

/* The charged condition must hold for 180 s after a bank is accepted,
 * counting nothing from before; a step repeated at the same time is no
 * clock going back. */
static void charged_detection_after_acceptance(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 100, 4);
	run(&r, 100);
	monitor_bank_accepted(&r.m);
	run(&r, 179);
	assert_false(soc_known(&r));
	run(&r, 2);
	assert_true(soc_known(&r));

	rig_init(&r, 100, 4);
	run(&r, 100);
	monitor_step(&r.m, r.now_us, r.wall_s, &r.in); /* the same time again */
	run(&r, 81);
	assert_true(soc_known(&r));
}

/* A synchronisation completes a charge cycle at once (no step needed). */
static void sync_counts_the_cycle(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 100, 4);
	assert_int_equal(monitor_set_soc(&r.m, 500), 0);
	assert_int_equal(r.m.hist.cycles, 0);
	monitor_sync(&r.m, r.wall_s);
	assert_int_equal(r.m.hist.cycles, 1);
}

/* Coulomb counting needs a capacity; 1 Ah is one. */
static void counting_needs_a_capacity(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 0, 4);
	r.in.current_ma = -1000;
	run(&r, 36);
	assert_true(monitor_consumed_ah(&r.m) == 0.0);
	rig_init(&r, 1, 4);
	r.in.current_ma = -1000;
	run(&r, 37);
	assert_true(fabs(monitor_consumed_ah(&r.m) - 0.01) < 1e-9);
}

/* The discharge window reads every bucket, the first one too (epoch 216
 * is bucket 0 of 36). */
static void mean_discharge_reads_bucket_zero(void **state)
{
	struct rig r;
	double ma = 0.0;

	(void)state;
	rig_init(&r, 100, 4);
	r.now_us = 1080 * S_US;
	r.in.current_ma = -1000;
	monitor_step(&r.m, r.now_us, r.wall_s, &r.in);
	run(&r, 4);
	assert_int_equal(monitor_mean_discharge_ma(&r.m, r.now_us, &ma), 0);
	assert_true(ma >= 1000.0 && ma < 1100.0);
}

/* Time remaining needs a capacity, and 1 Ah is one. */
static void time_remaining_needs_a_capacity(void **state)
{
	struct rig r;
	int64_t left = -1;

	(void)state;
	rig_init(&r, 1, 4);
	assert_int_equal(monitor_set_soc(&r.m, 5000), 0);
	r.in.current_ma = -100; /* 10 % of 1 Ah */
	r.in.bank_mv = 13000;
	run(&r, 20);
	assert_int_equal(monitor_time_remaining_s(&r.m, r.now_us, &left), 0);
	assert_true(left > 0);
	monitor_set_bank(&r.m, 0, 4);
	assert_int_equal(monitor_time_remaining_s(&r.m, r.now_us, &left), -ENODATA);
}

/* A saved SoC of exactly 0 % or 100 % and 0 to 1e7 Ah consumed is valid. */
static void soc_check_edges(void **state)
{
	struct monitor_soc soc = {.known = true, .soc_pct = 100.0, .consumed_ah = 0.0};

	(void)state;
	assert_int_equal(monitor_soc_check(&soc), 0);
	soc.soc_pct = 0.0;
	soc.consumed_ah = 1e7;
	assert_int_equal(monitor_soc_check(&soc), 0);
	soc.consumed_ah = 1.0000001e7;
	assert_int_equal(monitor_soc_check(&soc), -EINVAL);
	soc.consumed_ah = -0.001;
	assert_int_equal(monitor_soc_check(&soc), -EINVAL);
	soc.consumed_ah = 1.0;
	soc.soc_pct = 100.001;
	assert_int_equal(monitor_soc_check(&soc), -EINVAL);
	soc.soc_pct = -0.001;
	assert_int_equal(monitor_soc_check(&soc), -EINVAL);
}

/* The deepest discharge counts only with a known SoC: Ah drawn from an
 * unknown state of charge say nothing about depth. */
static void deepest_discharge_needs_a_known_soc(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 100, 4);
	r.in.bank_mv = 13000;
	r.in.current_ma = -36000;
	run(&r, 101); /* 1 Ah */
	assert_false(soc_known(&r));
	assert_true(monitor_consumed_ah(&r.m) > 0.9);
	assert_true(r.m.hist.deepest_ah == 0.0);
	assert_int_equal(monitor_set_soc(&r.m, 5000), 0);
	run(&r, 2);
	assert_true(r.m.hist.deepest_ah >= 50.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(validate_message_in_one_byte),
	        cmocka_unit_test(charged_detection_needs_a_bank),
	        cmocka_unit_test(charged_detection_after_acceptance),
	        cmocka_unit_test(sync_counts_the_cycle),
	        cmocka_unit_test(counting_needs_a_capacity),
	        cmocka_unit_test(mean_discharge_reads_bucket_zero),
	        cmocka_unit_test(time_remaining_needs_a_capacity),
	        cmocka_unit_test(soc_check_edges),
	        cmocka_unit_test(deepest_discharge_needs_a_known_soc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
