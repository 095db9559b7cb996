/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Nanoseconds per protection_step for banks of several sizes. Prints figures only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/protection.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double bench(unsigned n_bat, unsigned n_cells, unsigned iterations)
{
	struct protection_settings s;
	struct protection p;
	struct protection_input *in = calloc(1, sizeof(*in));
	struct protection_output out;
	uint64_t now = 1000000000ull, t0, t1;

	if (!in)
		return -1;
	protection_settings_default(&s);
	protection_init(&p, &s, -1);
	in->n_batteries = (uint8_t)n_bat;
	in->enumerated = true;
	in->series_s = 1;
	in->cells_per_battery = (uint8_t)n_cells;
	in->bank_mv_valid = in->remote_vh_valid = in->remote_vl_valid = true;
	in->bank_mv = (int32_t)(3300 * n_cells);
	in->remote_vl_mv = 0;
	in->soc_known = true;
	in->soc_cpct = 5000;
	in->current_valid = true;
	in->capacity_ah = 100;
	for (unsigned b = 0; b < n_bat; b++) {
		in->bat[b].has_status = true;
		in->bat[b].n_cells = (uint8_t)n_cells;
		in->bat[b].n_temps = 4;
		for (unsigned c = 0; c < n_cells; c++)
			in->bat[b].cell_mv[c] = (uint16_t)(3300 + c);
		for (unsigned t = 0; t < 4; t++)
			in->bat[b].temp_dc[t] = 250;
	}
	t0 = mono_ns();
	for (unsigned i = 0; i < iterations; i++) {
		now += 100000;
		for (unsigned b = 0; b < n_bat; b++)
			in->bat[b].last_status_us = now;
		/* Vary one cell so the minimum moves (and W2 trips and releases). */
		in->bat[i % n_bat].cell_mv[i % n_cells] = (uint16_t)(3000 + (i % 300));
		protection_step(&p, now, in, &out);
	}
	t1 = mono_ns();
	free(in);
	return (double)(t1 - t0) / iterations;
}

int main(void)
{
	static const struct {
		unsigned bat, cells;
	} cases[] = {{1, 4}, {10, 4}, {50, 4}, {25, 16}};
	unsigned iterations = 200000;

	printf("%-10s %-6s %-10s %s\n", "batteries", "cells", "steps", "ns/step");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		printf("%-10u %-6u %-10u %.0f\n", cases[i].bat, cases[i].cells, iterations,
		       bench(cases[i].bat, cases[i].cells, iterations));
	return 0;
}
