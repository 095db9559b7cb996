/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The loop-hold figures of smallbmsd --loop-stats (loopstat.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/loopstat.h"

static void test_window(void **state)
{
	struct loopstat ls = {0};
	char text[256] = "";

	assert_false(loopstat_due(&ls, 5000000, text, sizeof(text))); /* no tick yet */
	loopstat_tick(&ls, 1000000, 120, 800);
	loopstat_tick(&ls, 1100000, 4000, 300);
	loopstat_tick(&ls, 1200000, 80, 2500);
	loopstat_adc(&ls, 24000);
	loopstat_adc(&ls, 9000);
	assert_false(loopstat_due(&ls, 1000000 + LOOPSTAT_WINDOW_US - 1, text, sizeof(text)));
	assert_true(loopstat_due(&ls, 1000000 + LOOPSTAT_WINDOW_US, text, sizeof(text)));
	assert_string_equal(text, "3 ticks in 10000 ms: tick late by at most 4000 us (mean 1400 "
	                          "us), longest tick handler 2500 us; 2 ADC cycles off the loop, "
	                          "longest 24000 us");
	/* a new window, from the time it was reported */
	loopstat_tick(&ls, 11100000, 50, 60);
	assert_false(loopstat_due(&ls, 11000000 + LOOPSTAT_WINDOW_US - 1, text, sizeof(text)));
	assert_true(loopstat_due(&ls, 11000000 + LOOPSTAT_WINDOW_US, text, sizeof(text)));
	assert_string_equal(text, "1 ticks in 10000 ms: tick late by at most 50 us (mean 50 us), "
	                          "longest tick handler 60 us; 0 ADC cycles off the loop, longest "
	                          "0 us");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
