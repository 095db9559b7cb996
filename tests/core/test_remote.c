/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The remote on/off terminal decoder of docs/board.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/remote.h"

#define MS(x) ((uint64_t)(x)*1000ull)

struct rt {
	struct remote r;
	struct remote_input in;
	uint64_t now;
};

/* Bank 13.2 V, nothing connected: VH near 0, VL near the bank. */
static void rt_init(struct rt *t)
{
	remote_init(&t->r, -1);
	t->in = (struct remote_input){.vh_valid = true,
	                              .vl_valid = true,
	                              .bank_valid = true,
	                              .vh_mv = 0,
	                              .vl_mv = 13200,
	                              .bank_mv = 13200};
	t->now = MS(1000);
	remote_step(&t->r, t->now, &t->in);
}

/* One reading, then long enough for the debounce; returns the state. */
static bool settle(struct rt *t, int32_t vh, int32_t vl)
{
	t->in.vh_mv = vh;
	t->in.vl_mv = vl;
	for (int i = 0; i <= 25; i++) {
		t->now += MS(10);
		remote_step(&t->r, t->now, &t->in);
	}
	return remote_is_on(&t->r);
}

static void product_rules(void **state)
{
	struct rt t;

	(void)state;
	rt_init(&t);
	/* 4: nothing connected. */
	assert_false(remote_is_on(&t.r));
	/* 1: L and H connected, both near Vbat / 2. */
	assert_true(settle(&t, 6600, 6600));
	assert_false(settle(&t, 0, 13200));
	/* 2: L to minus. */
	assert_false(settle(&t, 0, 3500));
	assert_true(settle(&t, 0, 3499));
	assert_false(settle(&t, 0, 13200));
	/* 3: H high, up to 1.05 x Vbank + 0.5 V. */
	assert_false(settle(&t, 2900, 13200));
	assert_true(settle(&t, 2901, 13200));
	assert_true(settle(&t, 13200 * 105 / 100 + 500, 13200));
	assert_false(settle(&t, 13200 * 105 / 100 + 501, 13200));
	assert_false(remote_is_on(&t.r));
}

static void hysteresis(void **state)
{
	struct rt t;

	(void)state;
	rt_init(&t);
	assert_true(settle(&t, 0, 3499));
	assert_true(settle(&t, 0, 3700));
	assert_false(settle(&t, 0, 3701));
	assert_false(settle(&t, 0, 3600)); /* not below 3.5 V again */
	assert_true(settle(&t, 2901, 13200));
	assert_true(settle(&t, 2700, 13200));
	assert_false(settle(&t, 2699, 13200));
	assert_false(settle(&t, 2800, 13200));
}

static void wiring_fault(void **state)
{
	struct rt t;
	int32_t far = 13200 * 110 / 100 + 1000 + 1;
	uint64_t t1;

	(void)state;
	rt_init(&t);
	t.in.vh_mv = far - 1;
	t.now += MS(10);
	remote_step(&t.r, t.now, &t.in);
	t.now += MS(2000);
	remote_step(&t.r, t.now, &t.in);
	assert_false(t.r.wiring_fault);
	t.in.vh_mv = far;
	t1 = t.now + MS(10);
	remote_step(&t.r, t1, &t.in);
	assert_int_equal(remote_next_deadline_us(&t.r), t1 + MS(1000));
	remote_step(&t.r, t1 + MS(1000) - 1, &t.in);
	assert_false(t.r.wiring_fault);
	remote_step(&t.r, t1 + MS(1000), &t.in);
	assert_true(t.r.wiring_fault);
	assert_false(remote_is_on(&t.r)); /* that cause counts OFF */
	t.now = t1 + MS(1000);
	/* The L cause still turns it ON. */
	assert_true(settle(&t, far, 0));
	assert_true(t.r.wiring_fault);
	assert_true(settle(&t, far - 1, 0));
	assert_false(t.r.wiring_fault);
}

static void debounce(void **state)
{
	struct rt t;
	uint64_t t1;

	(void)state;
	rt_init(&t);
	t.in.vl_mv = 0;
	t1 = t.now + MS(10);
	remote_step(&t.r, t1, &t.in);
	assert_int_equal(remote_next_deadline_us(&t.r), t1 + MS(200));
	remote_step(&t.r, t1 + MS(200) - 1, &t.in);
	assert_false(remote_is_on(&t.r));
	/* One reading of the old state restarts the count. */
	t.in.vl_mv = 13200;
	remote_step(&t.r, t1 + MS(200) - 1, &t.in);
	t.in.vl_mv = 0;
	remote_step(&t.r, t1 + MS(200), &t.in);
	assert_false(remote_is_on(&t.r));
	remote_step(&t.r, t1 + MS(400) - 1, &t.in);
	assert_false(remote_is_on(&t.r));
	remote_step(&t.r, t1 + MS(400), &t.in);
	assert_true(remote_is_on(&t.r));
	assert_int_equal(remote_next_deadline_us(&t.r), UINT64_MAX);

	/* A configured debounce. */
	remote_init(&t.r, 50);
	t.in.vl_mv = 13200;
	remote_step(&t.r, MS(1), &t.in);
	t.in.vl_mv = 0;
	remote_step(&t.r, MS(2), &t.in);
	remote_step(&t.r, MS(52) - 1, &t.in);
	assert_false(remote_is_on(&t.r));
	remote_step(&t.r, MS(52), &t.in);
	assert_true(remote_is_on(&t.r));
}

static void unreadable_adc(void **state)
{
	struct rt t;
	uint64_t t1;

	(void)state;
	rt_init(&t);
	assert_true(settle(&t, 0, 0));
	t1 = t.now + MS(10);
	t.in.vl_valid = false;
	remote_step(&t.r, t1, &t.in);
	assert_int_equal(remote_next_deadline_us(&t.r), t1 + MS(5000));
	remote_step(&t.r, t1 + MS(5000) - 1, &t.in);
	assert_true(remote_is_on(&t.r));
	assert_false(t.r.adc_fault);
	remote_step(&t.r, t1 + MS(5000), &t.in);
	assert_false(remote_is_on(&t.r));
	assert_true(t.r.adc_fault);
	/* Readable again: ON after the debounce. */
	t.in.vl_valid = true;
	t.now = t1 + MS(5000);
	assert_true(settle(&t, 0, 0));
	assert_false(t.r.adc_fault);
	/* The bank channel counts too; a short gap keeps the state. */
	t.in.bank_valid = false;
	remote_step(&t.r, t.now + MS(100), &t.in);
	t.in.bank_valid = true;
	remote_step(&t.r, t.now + MS(4000), &t.in);
	remote_step(&t.r, t.now + MS(9000), &t.in);
	assert_true(remote_is_on(&t.r));
}

static void first_reading_and_restore(void **state)
{
	struct remote r;
	struct remote_input in = {.vh_valid = true,
	                          .vl_valid = true,
	                          .bank_valid = true,
	                          .vh_mv = 0,
	                          .vl_mv = 0,
	                          .bank_mv = 26400};

	(void)state;
	remote_init(&r, -1);
	assert_false(remote_is_on(&r)); /* undecided counts OFF */
	remote_step(&r, MS(5), &in);
	assert_true(remote_is_on(&r)); /* the first reading decides */
	remote_init(&r, -1);
	remote_restore(&r, true);
	in.vl_mv = 26400;
	remote_step(&r, MS(5), &in);
	assert_true(remote_is_on(&r));
	remote_step(&r, MS(205), &in);
	assert_false(remote_is_on(&r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(product_rules),  cmocka_unit_test(hysteresis),
	        cmocka_unit_test(wiring_fault),   cmocka_unit_test(debounce),
	        cmocka_unit_test(unreadable_adc), cmocka_unit_test(first_reading_and_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
