/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon/loopstat.h"

void loopstat_tick(struct loopstat *ls, uint64_t now_us, uint64_t late_us, uint64_t handler_us)
{
	if (!ls->window_start_us)
		ls->window_start_us = now_us ? now_us : 1;
	ls->ticks++;
	ls->late_sum_us += late_us;
	if (late_us > ls->late_max_us)
		ls->late_max_us = late_us;
	if (handler_us > ls->handler_max_us)
		ls->handler_max_us = handler_us;
}

void loopstat_adc(struct loopstat *ls, uint64_t cycle_us)
{
	ls->adc_cycles++;
	if (cycle_us > ls->adc_max_us)
		ls->adc_max_us = cycle_us;
}

bool loopstat_due(struct loopstat *ls, uint64_t now_us, char *text, size_t len)
{
	if (!ls->window_start_us || !ls->ticks || now_us - ls->window_start_us < LOOPSTAT_WINDOW_US)
		return false;
	snprintf(text, len,
	         "%" PRIu64 " ticks in %" PRIu64 " ms: tick late by at most %" PRIu64
	         " us (mean %" PRIu64 " us), longest tick handler %" PRIu64 " us; %" PRIu64
	         " ADC cycles off the loop, longest %" PRIu64 " us",
	         ls->ticks, (now_us - ls->window_start_us) / 1000, ls->late_max_us,
	         ls->late_sum_us / ls->ticks, ls->handler_max_us, ls->adc_cycles, ls->adc_max_us);
	memset(ls, 0, sizeof(*ls));
	ls->window_start_us = now_us;
	return true;
}
