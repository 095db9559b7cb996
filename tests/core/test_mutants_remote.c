/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rules of the remote terminal decoder that a mutation run (tools/mutate)
 * found untested: each test failed on at least one mutant of
 * src/core/remote.c that the rest of the suite let pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/remote.h"

#define MS(x) ((uint64_t)(x)*1000ull)

static struct remote_input reading(int32_t vh, int32_t vl)
{
	return (struct remote_input){.vh_valid = true,
	                             .vl_valid = true,
	                             .bank_valid = true,
	                             .vh_mv = vh,
	                             .vl_mv = vl,
	                             .bank_mv = 13200};
}

/* A debounce of 0 ms switches on the reading that asks for it. */
static void zero_debounce_switches_at_once(void **state)
{
	struct remote r;
	struct remote_input on = reading(0, 0), off = reading(0, 13200);

	(void)state;
	remote_init(&r, 0);
	assert_int_equal(r.debounce_ms, 0);
	remote_step(&r, MS(1000), &on);
	assert_true(remote_is_on(&r));
	remote_step(&r, MS(1010), &off);
	assert_false(remote_is_on(&r));
	remote_step(&r, MS(1020), &on);
	assert_true(remote_is_on(&r));
}

/* A restored state keeps no cause: readings between the two levels of a
 * cause's hysteresis do not turn a restored OFF into ON. */
static void restore_forgets_the_causes(void **state)
{
	struct remote r;
	struct remote_input l_between = reading(0, 3600), h_between = reading(2800, 13200);

	(void)state;
	remote_init(&r, -1);
	remote_step(&r, MS(1000), &l_between); /* first reading: OFF */
	remote_restore(&r, false);
	for (uint64_t t = MS(1010); t <= MS(2000); t += MS(10))
		remote_step(&r, t, &l_between);
	assert_false(remote_is_on(&r));

	remote_init(&r, -1);
	remote_step(&r, MS(1000), &h_between);
	remote_restore(&r, false);
	for (uint64_t t = MS(1010); t <= MS(2000); t += MS(10))
		remote_step(&r, t, &h_between);
	assert_false(remote_is_on(&r));
}

/* A restore cancels a pending change: the next change is debounced from
 * its own first reading. */
static void restore_cancels_a_pending_change(void **state)
{
	struct remote r;
	struct remote_input on = reading(0, 0), off = reading(0, 13200);

	(void)state;
	remote_init(&r, -1);
	remote_step(&r, MS(1000), &on);
	remote_step(&r, MS(1010), &off); /* a change pending since 1.01 s */
	remote_restore(&r, true);
	remote_step(&r, MS(5000), &off);
	assert_true(remote_is_on(&r));
	remote_step(&r, MS(5199), &off);
	assert_true(remote_is_on(&r));
	remote_step(&r, MS(5200), &off);
	assert_false(remote_is_on(&r));
}

/* A clock that steps back never completes the debounce. */
static void clock_stepping_back_never_switches(void **state)
{
	struct remote r;
	struct remote_input on = reading(0, 0), off = reading(0, 13200);

	(void)state;
	remote_init(&r, -1);
	remote_step(&r, MS(1000), &on);
	remote_step(&r, MS(1100), &off);
	remote_step(&r, MS(1050), &off);
	assert_true(remote_is_on(&r));
	remote_step(&r, MS(1300), &off);
	assert_false(remote_is_on(&r));
}

/* Any one of the three channels unreadable for 5 s is an ADC fault: OFF. */
static void each_channel_unreadable_is_a_fault(void **state)
{
	(void)state;
	for (unsigned ch = 0; ch < 3; ch++) {
		struct remote r;
		struct remote_input on = reading(0, 0), bad = reading(0, 0);

		if (ch == 0)
			bad.vh_valid = false;
		else if (ch == 1)
			bad.vl_valid = false;
		else
			bad.bank_valid = false;
		remote_init(&r, -1);
		remote_step(&r, MS(1000), &on);
		assert_true(remote_is_on(&r));
		for (uint64_t t = MS(1100); t < MS(6100); t += MS(100))
			remote_step(&r, t, &bad);
		assert_true(remote_is_on(&r));
		assert_false(r.adc_fault);
		assert_false(r.wiring_fault); /* W4 needs a reading */
		remote_step(&r, MS(6100), &bad);
		assert_false(remote_is_on(&r));
		assert_true(r.adc_fault);
	}
}

/* After an ADC fault the terminal is decided OFF with no cause kept: the
 * way back to ON is debounced, and a reading between a cause's two levels
 * does not turn it ON. */
static void after_a_fault_the_way_back_is_debounced(void **state)
{
	struct remote r;
	struct remote_input on = reading(0, 0), bad = reading(0, 0), between = reading(0, 3600);

	(void)state;
	bad.vl_valid = false;
	remote_init(&r, -1);
	remote_step(&r, MS(1000), &on);
	remote_step(&r, MS(1100), &bad);
	remote_step(&r, MS(6100), &bad);
	assert_true(r.adc_fault);
	remote_step(&r, MS(6200), &between);
	remote_step(&r, MS(6500), &between);
	assert_false(remote_is_on(&r));
	remote_step(&r, MS(6600), &on);
	assert_false(remote_is_on(&r));
	remote_step(&r, MS(6799), &on);
	assert_false(remote_is_on(&r));
	remote_step(&r, MS(6800), &on);
	assert_true(remote_is_on(&r));

	/* The first reading after the fault asks for ON: debounced too. */
	remote_init(&r, -1);
	remote_step(&r, MS(1000), &on);
	remote_step(&r, MS(1100), &bad);
	remote_step(&r, MS(6100), &bad);
	assert_false(remote_is_on(&r));
	remote_step(&r, MS(6200), &on);
	assert_false(remote_is_on(&r));
	remote_step(&r, MS(6400), &on);
	assert_true(remote_is_on(&r));
}

/* A timer that has completed is no deadline any more. */
static void completed_timers_are_no_deadline(void **state)
{
	struct remote r;
	struct remote_input on = reading(0, 0), bad = reading(0, 0);
	struct remote_input wiring = reading(13200 * 110 / 100 + 1001, 0);

	(void)state;
	remote_init(&r, -1);
	remote_step(&r, MS(1000), &on);
	remote_step(&r, MS(1100), &wiring);
	assert_int_equal(remote_next_deadline_us(&r), MS(2100));
	remote_step(&r, MS(2100), &wiring);
	assert_true(r.wiring_fault);
	assert_int_equal(remote_next_deadline_us(&r), UINT64_MAX);

	bad.bank_valid = false;
	remote_init(&r, -1);
	remote_step(&r, MS(1000), &on);
	remote_step(&r, MS(1100), &bad);
	assert_int_equal(remote_next_deadline_us(&r), MS(6100));
	remote_step(&r, MS(6100), &bad);
	assert_true(r.adc_fault);
	assert_int_equal(remote_next_deadline_us(&r), UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(zero_debounce_switches_at_once),
	        cmocka_unit_test(restore_forgets_the_causes),
	        cmocka_unit_test(restore_cancels_a_pending_change),
	        cmocka_unit_test(clock_stepping_back_never_switches),
	        cmocka_unit_test(each_channel_unreadable_is_a_fault),
	        cmocka_unit_test(after_a_fault_the_way_back_is_debounced),
	        cmocka_unit_test(completed_timers_are_no_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
