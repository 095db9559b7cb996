/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Property tests: seeded random input sequences (fixed seeds, thousands of
 * steps each); the safety invariants are checked after every step from
 * what the test itself knows of the inputs, not from the core's state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "test_protection_fixture.h"

#define STEPS 20000

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return (uint32_t)(r->s >> 16);
}

static bool chance(struct rng *r, unsigned per_mille)
{
	return rnd(r) % 1000 < per_mille;
}

static uint16_t pick_cell(struct rng *r)
{
	static const uint16_t levels[] = {2400, 2499, 2500, 2799, 2800, 3000, 3099, 3100,
	                                  3199, 3200, 3300, 3400, 3401, 3750, 3751, 3800};
	return levels[rnd(r) % (sizeof(levels) / sizeof(levels[0]))];
}

static int16_t pick_temp(struct rng *r)
{
	static const int16_t levels[] = {-250, -201, -200, -180, 0,   49,  50,
	                                 70,   250,  480,  501,  550, 601, 650};
	return levels[rnd(r) % (sizeof(levels) / sizeof(levels[0]))];
}

/* What the test knows: is battery b stale at now? */
static bool stale(const struct fx *f, unsigned b, uint64_t now)
{
	const struct protection_battery *bat = &f->in.bat[b];

	return !bat->has_status || now - bat->last_status_us >= S_US(3) || bat->fault ||
	       bat->count_mismatch || f->in.chain_open;
}

static bool any_stale(const struct fx *f, uint64_t now)
{
	for (unsigned b = 0; b < f->in.n_batteries; b++)
		if (stale(f, b, now))
			return true;
	return false;
}

/* A flag set with on_pm per mille per step while clear, cleared with off_pm. */
static void flip(struct rng *r, bool *flag, unsigned on_pm, unsigned off_pm)
{
	if (*flag ? chance(r, off_pm) : chance(r, on_pm))
		*flag = !*flag;
}

static void mutate(struct fx *f, struct rng *r)
{
	unsigned n = f->in.n_batteries;
	unsigned b = rnd(r) % n;

	/* Disturbances come and go, so outputs open and close again. */
	if (chance(r, 30))
		f->in.bat[b].cell_mv[rnd(r) % 4] = pick_cell(r);
	if (chance(r, 5))
		fx_cells(f, pick_cell(r));
	if (chance(r, 20))
		fx_cells(f, 3300);
	if (chance(r, 20))
		f->in.bat[b].temp_dc[rnd(r) % 2] = pick_temp(r);
	if (chance(r, 20))
		fx_temps(f, 250);
	flip(r, &f->frozen[b], 3, 100);
	flip(r, &f->in.bat[b].fault, 2, 200);
	flip(r, &f->in.bat[b].hard_uv, 2, 100);
	flip(r, &f->in.bat[b].hard_ov, 2, 100);
	flip(r, &f->in.chain_open, 1, 200);
	flip(r, &f->in.bank_changed, 1, 50);
	flip(r, &f->in.fw_failed, 1, 10);
	flip(r, &f->in.enumerated, 300, 1);
	f->in.fw_failed_since_us = f->in.fw_failed ? f->in.fw_failed_since_us : f->now;
	if (chance(r, 10))
		f->in.soc_cpct = (int32_t)(rnd(r) % 3000);
	if (chance(r, 20))
		f->in.soc_cpct = 5000;
	flip(r, &f->in.soc_known, 50, 5);
	if (chance(r, 20))
		f->in.soc_sync_count++;
	if (chance(r, 10))
		f->in.remote_vl_mv = 13200 * (int32_t)n;
	if (chance(r, 50))
		f->in.remote_vl_mv = 0;
	if (chance(r, 5))
		f->in.bank_mv = chance(r, 500) ? 13200 * (int32_t)n : 15100 * (int32_t)n;
	if (chance(r, 3))
		f->in.enumerated = !f->in.enumerated;
}

static uint64_t pick_dt(struct rng *r)
{
	switch (rnd(r) % 4) {
	case 0:
		return 1 + rnd(r) % 1000;
	case 1:
		return MS_US(1 + rnd(r) % 500);
	case 2:
		return MS_US(500 + rnd(r) % 2000);
	default:
		return S_US(1 + rnd(r) % 20);
	}
}

static bool holds_without_lead(const struct fx *f)
{
	const struct protection_output_report *rep = &f->out.report[PROT_OUT_ATD];

	for (unsigned i = 0; i < rep->n_holds; i++)
		if (!(protection_rule(rep->holds[i].rule)->flags & PROT_F_LEAD))
			return true;
	return false;
}

static bool state_holds(const struct fx *f, uint32_t target)
{
	const struct protection_rule *rules = protection_rules();

	for (unsigned i = 0; i < PROT_RULE_COUNT; i++)
		if (f->p.rule[i].phase == PROT_PH_TRIPPED && (rules[i].target & target))
			return true;
	return false;
}

struct coverage {
	unsigned lead_opens, other_opens, stale_steps, closes;
};

static void run_seed(uint64_t seed, unsigned n, struct coverage *cov)
{
	struct fx f;
	struct rng r = {seed};
	bool was_atd = false, was_atc = false, ever_complete = false, pre = false;
	uint64_t pre_since = 0;
	uint64_t lead = MS_US(30000);

	fx_init(&f, n);
	for (int i = 0; i < STEPS; i++) {
		uint64_t now = f.now + pick_dt(&r);
		bool st;

		mutate(&f, &r);
		fx_step_at(&f, now);
		st = any_stale(&f, now);

		/* The test's own view of the pre-alarm lead. */
		if (f.out.prealarm_active && !pre)
			pre_since = now;
		pre = f.out.prealarm_active;

		/* An output is never closed while one of its rules holds it. */
		assert_true(f.out.atd_closed == (f.out.report[PROT_OUT_ATD].n_holds == 0));
		assert_true(f.out.atc_closed == (f.out.report[PROT_OUT_ATC].n_holds == 0));
		assert_true(f.out.atd_closed == !state_holds(&f, PROT_T_ATD));
		assert_true(f.out.atc_closed == !state_holds(&f, PROT_T_ATC));

		/* Nothing closes before the first complete, fresh data set. */
		if (!ever_complete && f.in.enumerated && !st)
			ever_complete = true;
		if (!ever_complete) {
			assert_false(f.out.atd_closed);
			assert_false(f.out.atc_closed);
		}

		/* ATD opens for a lead rule only after a complete lead. */
		if (was_atd && !f.out.atd_closed && holds_without_lead(&f))
			cov->other_opens++;
		if (!was_atd && f.out.atd_closed)
			cov->closes++;
		cov->stale_steps += st;
		if (was_atd && !f.out.atd_closed && !holds_without_lead(&f)) {
			cov->lead_opens++;
			assert_true(pre);
			assert_true(now - pre_since >= lead);
		}

		/* Unknown data never closes an output; ATC is open while stale. */
		if (st) {
			assert_false(f.out.atc_closed);
			assert_false(!was_atd && f.out.atd_closed);
		}
		/* Remote OFF: both open, pre-alarm silent. */
		if (!f.out.remote_on) {
			assert_false(f.out.atd_closed);
			assert_false(f.out.atc_closed);
			assert_false(f.out.prealarm_active);
		}
		/* The timer the daemon arms is never in the past. */
		assert_true(protection_next_deadline_us(&f.p) > now);
		was_atd = f.out.atd_closed;
		was_atc = f.out.atc_closed;
	}
	(void)was_atc;
}

static void random_sequences(void **state)
{
	static const uint64_t seeds[] = {1, 42, 0x5eed, 987654321, 0xdeadbeef, 7};

	struct coverage cov = {0};

	(void)state;
	for (unsigned i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		run_seed(seeds[i], 1 + i % 4, &cov);
	/* The sequences reach the cases the invariants are about. */
	print_message("# lead opens %u, other opens %u, closes %u, stale steps %u\n",
	              cov.lead_opens, cov.other_opens, cov.closes, cov.stale_steps);
	assert_true(cov.lead_opens > 10);
	assert_true(cov.other_opens > 10);
	assert_true(cov.closes > 10);
	assert_true(cov.stale_steps > 100);
}

/* The deadline is exact: a core stepped only at its deadlines decides the
 * same as one polled every 10 ms on the same readings. */
static void raw_step(struct fx *f, uint64_t t)
{
	f->now = t;
	protection_step(&f->p, t, &f->in, &f->out);
}

static void deadlines_match_polling(void **state)
{
	struct fx a, b;
	struct rng r = {12345};

	(void)state;
	fx_start(&a, 2);
	b = a;
	for (int i = 0; i < 3000; i++) {
		uint64_t t = a.now + MS_US(1 + rnd(&r) % 3000), next;

		/* A new reading at t, the same for both. */
		mutate(&a, &r);
		for (unsigned k = 0; k < a.in.n_batteries; k++)
			if (!a.frozen[k])
				a.in.bat[k].last_status_us = t;
		memcpy(&b.in, &a.in, sizeof(a.in));
		raw_step(&a, t);
		raw_step(&b, t);
		/* No reading until b's deadline: a polls, b sleeps. */
		next = protection_next_deadline_us(&b.p);
		assert_int_equal(next, protection_next_deadline_us(&a.p));
		if (next == UINT64_MAX || next - t > S_US(700))
			continue;
		while (a.now + MS_US(10) < next) {
			raw_step(&a, a.now + MS_US(10));
			assert_int_equal(a.out.atd_closed, b.out.atd_closed);
			assert_int_equal(a.out.atc_closed, b.out.atc_closed);
			assert_int_equal(a.out.prealarm_active, b.out.prealarm_active);
		}
		raw_step(&a, next);
		raw_step(&b, next);
		assert_memory_equal(&a.out, &b.out, sizeof(a.out));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(random_sequences),
	        cmocka_unit_test(deadlines_match_polling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
