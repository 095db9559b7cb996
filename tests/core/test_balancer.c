/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/balancer.h"

#define T0 1700000000ll

static struct balancer_input input(void)
{
	return (struct balancer_input){
	        .soc_known = true,
	        .bank_current_ma = 0,
	        .capacity_ah = 200,
	        .any_balancing = false,
	        .wall_s = T0,
	};
}

static void verdicts(void **state)
{
	struct balancer_state b;
	struct balancer_input in = input();

	(void)state;
	balancer_reset(&b);
	assert_int_equal(balancer_status(&b, &in), BALANCER_UNKNOWN); /* never synced */
	balancer_note_sync(&b, T0, 3400, 3430);
	assert_int_equal(b.spread_mv, 30);
	assert_int_equal(balancer_status(&b, &in), BALANCER_BALANCED); /* 30 mV: at most */
	balancer_note_sync(&b, T0, 3400, 3431);
	assert_int_equal(balancer_status(&b, &in), BALANCER_IMBALANCED); /* 31 mV */
	/* SoC unknown */
	in.soc_known = false;
	assert_int_equal(balancer_status(&b, &in), BALANCER_UNKNOWN);
	in.soc_known = true;
	/* cells not available at the sync: no verdict */
	balancer_note_sync(&b, T0, 0xFFFF, 3431);
	assert_int_equal(balancer_status(&b, &in), BALANCER_UNKNOWN);
	balancer_note_sync(&b, T0, 3431, 0xFFFF);
	assert_int_equal(balancer_status(&b, &in), BALANCER_UNKNOWN);
	balancer_note_sync(&b, T0, 3431, 3400);
	assert_int_equal(balancer_status(&b, &in), BALANCER_UNKNOWN);
}

static void balancing_first(void **state)
{
	struct balancer_state b;
	struct balancer_input in = input();

	(void)state;
	balancer_reset(&b);
	/* 0.5 % of 200 Ah = 1 A: more than that, with a flag */
	in.any_balancing = true;
	in.bank_current_ma = 1001;
	assert_int_equal(balancer_status(&b, &in), BALANCER_BALANCING);
	in.soc_known = false; /* precedes unknown */
	assert_int_equal(balancer_status(&b, &in), BALANCER_BALANCING);
	in.bank_current_ma = 1000;
	assert_int_equal(balancer_status(&b, &in), BALANCER_UNKNOWN);
	in.bank_current_ma = -5000;
	assert_int_equal(balancer_status(&b, &in), BALANCER_UNKNOWN);
	in.bank_current_ma = 5000;
	in.any_balancing = false;
	assert_int_equal(balancer_status(&b, &in), BALANCER_UNKNOWN);
	in.soc_known = true;
	balancer_note_sync(&b, T0, 3400, 3500);
	assert_int_equal(balancer_status(&b, &in), BALANCER_IMBALANCED);
	in.any_balancing = true;
	assert_int_equal(balancer_status(&b, &in), BALANCER_BALANCING);
}

static void thirty_days(void **state)
{
	struct balancer_state b;
	struct balancer_input in = input();

	(void)state;
	balancer_reset(&b);
	balancer_note_sync(&b, T0, 3400, 3410);
	in.wall_s = T0 + 30 * 86400;
	assert_int_equal(balancer_status(&b, &in), BALANCER_BALANCED);
	in.wall_s = T0 + 30 * 86400 + 1;
	assert_int_equal(balancer_status(&b, &in), BALANCER_UNKNOWN);
	/* a clock that went back cannot tell the age */
	in.wall_s = T0 - 1;
	assert_int_equal(balancer_status(&b, &in), BALANCER_UNKNOWN);
	/* a new sync renews it */
	balancer_note_sync(&b, T0 + 40 * 86400, 3400, 3410);
	in.wall_s = T0 + 41 * 86400;
	assert_int_equal(balancer_status(&b, &in), BALANCER_BALANCED);
	/* bank accepted anew */
	balancer_reset(&b);
	assert_int_equal(balancer_status(&b, &in), BALANCER_UNKNOWN);
}

static void names_and_check(void **state)
{
	struct balancer_state b;

	(void)state;
	assert_string_equal(balancer_status_name(BALANCER_UNKNOWN), "unknown");
	assert_string_equal(balancer_status_name(BALANCER_BALANCING), "balancing");
	assert_string_equal(balancer_status_name(BALANCER_BALANCED), "balanced");
	assert_string_equal(balancer_status_name(BALANCER_IMBALANCED), "imbalanced");
	assert_null(balancer_status_name((enum balancer_status)9));
	balancer_reset(&b);
	assert_int_equal(balancer_check(&b), 0);
	balancer_note_sync(&b, T0, 3400, 3410);
	assert_int_equal(balancer_check(&b), 0);
	b.spread_mv = -2;
	assert_int_equal(balancer_check(&b), -EINVAL);
	b.spread_mv = 0x10000;
	assert_int_equal(balancer_check(&b), -EINVAL);
	b.spread_mv = 10;
	b.last_sync_wall_s = -1;
	assert_int_equal(balancer_check(&b), -EINVAL);
	balancer_reset(&b);
	b.last_sync_wall_s = 5;
	assert_int_equal(balancer_check(&b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(verdicts),
	        cmocka_unit_test(balancing_first),
	        cmocka_unit_test(thirty_days),
	        cmocka_unit_test(names_and_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
