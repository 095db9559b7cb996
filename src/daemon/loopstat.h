/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How long the event loop is held (issue 16), for smallbmsd --loop-stats:
 * per window of LOOPSTAT_WINDOW_US, the longest lateness of the 100 ms tick
 * (how long the loop was busy elsewhere, or asleep past the deadline, when
 * the tick fell due), the longest tick handler, and the longest ADC cycle
 * on the reader thread (off the loop, for comparison). Pure: times are
 * passed in.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOOPSTAT_WINDOW_US 10000000ull

struct loopstat {
	uint64_t window_start_us; /* 0: no window yet */
	uint64_t ticks, adc_cycles;
	uint64_t late_max_us, late_sum_us, handler_max_us, adc_max_us;
};

void loopstat_tick(struct loopstat *ls, uint64_t now_us, uint64_t late_us, uint64_t handler_us);
void loopstat_adc(struct loopstat *ls, uint64_t cycle_us);
/* Once a window has passed since its first tick: the window's figures as
 * one line in text, a new window started, true. */
bool loopstat_due(struct loopstat *ls, uint64_t now_us, char *text, size_t len);
