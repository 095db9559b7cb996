/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A healthy bank to start each protection test from, and helpers to step it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/protection.h"

#define S_US(s)  ((uint64_t)(s)*1000000ull)
#define MS_US(m) ((uint64_t)(m)*1000ull)
#define T0       S_US(1000)

struct fx {
	struct protection p;
	struct protection_settings s;
	struct protection_input in;
	struct protection_output out;
	bool frozen[PROTECTION_MAX_BATTERIES]; /* no new STATUS */
	uint64_t now;
};

static inline void fx_cells(struct fx *f, uint16_t mv)
{
	for (unsigned b = 0; b < f->in.n_batteries; b++)
		for (unsigned c = 0; c < f->in.bat[b].n_cells; c++)
			f->in.bat[b].cell_mv[c] = mv;
}

static inline void fx_temps(struct fx *f, int16_t dc)
{
	for (unsigned b = 0; b < f->in.n_batteries; b++)
		for (unsigned t = 0; t < f->in.bat[b].n_temps; t++)
			f->in.bat[b].temp_dc[t] = dc;
}

/* n batteries of 4 cells and 2 sensors, in series, 3.30 V a cell, 25 degC,
 * remote ON through L, SoC 50 %, nothing stepped yet. */
static inline void fx_init(struct fx *f, unsigned n)
{
	memset(f, 0, sizeof(*f));
	protection_settings_default(&f->s);
	protection_init(&f->p, &f->s, -1);
	f->in.n_batteries = (uint8_t)n;
	for (unsigned b = 0; b < n; b++) {
		f->in.bat[b].n_cells = 4;
		f->in.bat[b].n_temps = 2;
		f->in.bat[b].has_status = true;
	}
	fx_cells(f, 3300);
	fx_temps(f, 250);
	f->in.enumerated = true;
	f->in.series_s = (uint8_t)n;
	f->in.cells_per_battery = 4;
	f->in.bank_mv_valid = true;
	f->in.bank_mv = (int32_t)(13200 * n);
	f->in.remote_vh_valid = f->in.remote_vl_valid = true;
	f->in.remote_vh_mv = 0;
	f->in.remote_vl_mv = 0; /* L pulled to minus: ON */
	f->in.soc_known = true;
	f->in.soc_cpct = 5000;
	f->in.current_valid = true;
	f->in.current_ma = 0;
	f->in.capacity_ah = 100;
	f->in.bt = BT_ADVERTISING;
	f->now = T0;
}

static inline void fx_step_at(struct fx *f, uint64_t t)
{
	f->now = t;
	for (unsigned b = 0; b < f->in.n_batteries; b++)
		if (!f->frozen[b])
			f->in.bat[b].last_status_us = t;
	protection_step(&f->p, t, &f->in, &f->out);
}

/* Steps every period_us from the current time up to and including t. */
static inline void fx_run_to(struct fx *f, uint64_t t, uint64_t period_us)
{
	uint64_t x = f->now;

	while (x + period_us < t) {
		x += period_us;
		fx_step_at(f, x);
	}
	fx_step_at(f, t);
}

/* Initialised and through the cold start at T0. */
static inline void fx_start(struct fx *f, unsigned n)
{
	fx_init(f, n);
	fx_step_at(f, T0);
}

static inline bool fx_holds(const struct fx *f, enum protection_output_id o,
                            enum protection_rule_id r)
{
	const struct protection_output_report *rep = &f->out.report[o];

	for (unsigned i = 0; i < rep->n_holds; i++)
		if (rep->holds[i].rule == r)
			return true;
	return false;
}

static inline bool fx_code(const struct fx *f, enum bms_code c)
{
	return (f->out.codes & BMS_CODE_BIT(c)) != 0;
}

/* Builds a complete pre-alarm lead from the low-SoC warning (W1). */
static inline void fx_complete_lead(struct fx *f)
{
	f->in.soc_cpct = 1900;
	fx_run_to(f, f->now + S_US(31), S_US(1));
}
