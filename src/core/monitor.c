/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/monitor.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"

#define MS(f) offsetof(struct monitor_settings, f)

static const struct setting_desc descs[] = {
        {"charged_cell_mv", "mV", "charged voltage per cell (x cells in series of the bank)",
         MS(charged_cell_mv), 3500, 3400, 3600, SETTING_RESET_DEFAULTS, 0},
        {"tail_current_pmil", "0.1 % of C", "tail current for synchronisation, of bank capacity",
         MS(tail_current_pmil), 40, 5, 100, SETTING_RESET_DEFAULTS, 0},
        {"charged_detect_s", "s", "charged detection time", MS(charged_detect_s), 180, 60, 3000,
         SETTING_RESET_DEFAULTS, 0},
};

const struct setting_desc *monitor_setting_descs(size_t *n)
{
	*n = ELEMENTSOF(descs);
	return descs;
}

void monitor_settings_default(struct monitor_settings *s)
{
	for (size_t i = 0; i < ELEMENTSOF(descs); i++)
		*setting_field(s, &descs[i]) = descs[i].def;
}

int monitor_settings_validate(const struct monitor_settings *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < ELEMENTSOF(descs); i++) {
		const struct setting_desc *d = &descs[i];
		int32_t v = setting_get(s, d);
		const char *what = NULL;
		int32_t bound = 0;

		if (v < d->min) {
			what = ">= its minimum";
			bound = d->min;
		} else if (v > d->max) {
			what = "<= its maximum";
			bound = d->max;
		}
		if (what) {
			/* mutation: equivalent [cmp-bound] (snprintf of 0 bytes writes none) */
			if (err && errlen > 0)
				snprintf(err, errlen, "%s=%d must be %s (%d)", d->name, (int)v,
				         what, (int)bound);
			return -ERANGE;
		}
	}
	return 0;
}

static void clear_runtime(struct monitor *m)
{
	m->have_last = false;
	m->last_us = 0; /* mutation: equivalent [const] (read only after have_last) */
	m->charged_running = false;
	m->charged_done = false;
	m->charged_since_us = 0;
	m->last_in = (struct monitor_input){
	        .min_cell_mv = 0xFFFF,
	        .max_cell_mv = 0xFFFF,
	        /* mutation: equivalent [const] because the last temperatures are
	         * never read (only cells, current and balancing are) */
	        .min_temp_dc = 0x7FFF,
	        /* mutation: equivalent [const] (as above) */
	        .max_temp_dc = 0x7FFF,
	};
	/* mutation: equivalent [const] because any other fill gives buckets of an
	 * epoch from the far future, which are skipped and reset on use. */
	memset(m->win, 0, sizeof(m->win));
}

void monitor_init(struct monitor *m, const struct monitor_settings *s, int32_t discharge_floor_pct)
{
	memset(m, 0, sizeof(*m));
	monitor_set_settings(m, s, discharge_floor_pct);
	m->soc = (struct monitor_soc){.known = false};
	history_reset(&m->hist);
	balancer_reset(&m->bal);
	clear_runtime(m);
}

void monitor_set_settings(struct monitor *m, const struct monitor_settings *s,
                          int32_t discharge_floor_pct)
{
	m->set = *s;
	m->discharge_floor_pct = discharge_floor_pct;
}

void monitor_set_bank(struct monitor *m, uint32_t capacity_ah, uint16_t series_cells)
{
	m->capacity_ah = capacity_ah;
	m->series_cells = series_cells;
}

void monitor_bank_accepted(struct monitor *m)
{
	m->soc.known = false;
	balancer_reset(&m->bal);
	m->charged_running = false;
	m->charged_done = false;
	/* mutation: equivalent [const] because any other fill gives buckets of an
	 * epoch from the far future, which are skipped and reset on use. */
	memset(m->win, 0, sizeof(m->win));
}

void monitor_restore(struct monitor *m, const struct monitor_soc *soc, const struct history *h,
                     const struct balancer_state *b)
{
	m->soc = *soc;
	m->hist = *h;
	m->bal = *b;
	clear_runtime(m);
}

static double clamp_pct(double v)
{
	if (v < 0.0)
		return 0.0;
	if (v > 100.0)
		return 100.0;
	return v;
}

/* Drawn Ah count x (|I| / (C / 20))^(n - 1) above C / 20. */
static double peukert_factor(double abs_ma, uint32_t capacity_ah)
{
	double c20_ma = (double)capacity_ah * 1000.0 / 20.0;

	if (abs_ma <= c20_ma)
		return 1.0;
	return pow(abs_ma / c20_ma, MONITOR_PEUKERT - 1.0);
}

static void window_add(struct monitor *m, uint64_t now_us, double discharge_ma, double dt_s)
{
	uint64_t epoch = now_us / MONITOR_BUCKET_US;
	struct monitor_bucket *b = &m->win[epoch % MONITOR_WINDOW_BUCKETS];

	if (b->epoch != epoch)
		*b = (struct monitor_bucket){.epoch = epoch};
	b->charge_mas += discharge_ma * dt_s;
	b->time_s += dt_s;
}

static void integrate(struct monitor *m, const struct monitor_input *in, uint64_t now_us,
                      double dt_s)
{
	double abs_ma = fabs((double)in->current_ma);
	double raw_ah = abs_ma / 1000.0 * dt_s / 3600.0;
	double corrected_ma;

	if (in->current_ma >= 0) {
		corrected_ma = -abs_ma;
		m->soc.consumed_ah = fmax(0.0, m->soc.consumed_ah - raw_ah);
		/* mutation: equivalent [if 1] because soc_pct is read only while known
		 * and is set whole when it becomes known. */
		if (m->soc.known)
			m->soc.soc_pct =
			        clamp_pct(m->soc.soc_pct + raw_ah * MONITOR_CHARGE_EFFICIENCY /
			                                           (double)m->capacity_ah * 100.0);
	} else {
		double f = peukert_factor(abs_ma, m->capacity_ah);
		corrected_ma = abs_ma * f;
		m->soc.consumed_ah += raw_ah;
		/* mutation: equivalent [if 1] (as above) */
		if (m->soc.known)
			m->soc.soc_pct = clamp_pct(m->soc.soc_pct -
			                           raw_ah * f / (double)m->capacity_ah * 100.0);
	}
	history_add_flow(&m->hist, in->current_ma, in->bank_mv, dt_s);
	if (m->soc.known)
		history_note_consumed(&m->hist, m->soc.consumed_ah);
	window_add(m, now_us, corrected_ma, dt_s);
}

static void synchronise(struct monitor *m, bool automatic, int64_t wall_s)
{
	m->soc.known = true;
	m->soc.soc_pct = 100.0;
	m->soc.consumed_ah = 0.0;
	m->soc.soc_events++;
	history_note_sync(&m->hist, automatic, wall_s);
	history_note_soc(&m->hist, true, 10000);
	balancer_note_sync(&m->bal, wall_s, m->last_in.min_cell_mv, m->last_in.max_cell_mv);
}

static bool charged_condition(const struct monitor *m, const struct monitor_input *in)
{
	uint64_t charged_mv = (uint64_t)m->set.charged_cell_mv * m->series_cells;
	/* tail current in mA: C (Ah) x 1000 x pmil / 1000 */
	int64_t tail_ma = (int64_t)m->capacity_ah * m->set.tail_current_pmil;
	int64_t i = in->current_ma;

	/* mutation: equivalent [cond-drop !in->valid] (monitor_step() returns
	 * before when the input is not valid) */
	if (!in->valid || !in->all_fresh || m->series_cells == 0 || m->capacity_ah == 0)
		return false;
	return in->bank_mv >= charged_mv && (i < 0 ? -i : i) <= tail_ma;
}

static void detect_charged(struct monitor *m, uint64_t now_us, int64_t wall_s, bool went_back,
                           const struct monitor_input *in)
{
	if (!charged_condition(m, in)) {
		m->charged_running = false;
		m->charged_done = false;
		return;
	}
	if (!m->charged_running || went_back) {
		m->charged_running = true;
		m->charged_since_us = now_us;
	}
	/* Once per charged episode: a float charge does not sync every 3 min. */
	if (!m->charged_done &&
	    now_us - m->charged_since_us >= (uint64_t)m->set.charged_detect_s * 1000000u) {
		m->charged_done = true;
		synchronise(m, true, wall_s);
	}
}

void monitor_step(struct monitor *m, uint64_t now_us, int64_t wall_s,
                  const struct monitor_input *in)
{
	history_note_active(&m->hist, in->active_codes, wall_s);
	if (!in->valid) {
		m->charged_running = false;
		m->charged_done = false;
		return;
	}
	/* A clock that went back cannot prove "continuously": the charged
	 * detection starts again. */
	bool went_back = m->have_last && now_us < m->last_us;

	/* mutation: equivalent [cond-drop now_us > m->last_us,
	 * cmp-bound now_us >= m->last_us] because a gap of 0 counts nothing and a
	 * clock gone back wraps above the maximum gap. */
	if (m->have_last && now_us > m->last_us && now_us - m->last_us <= MONITOR_MAX_GAP_US &&
	    m->capacity_ah > 0) {
		integrate(m, in, now_us, (double)(now_us - m->last_us) / 1e6);
	}
	m->have_last = true;
	m->last_us = now_us;
	m->last_in = *in;
	history_note_extremes(&m->hist, in->bank_mv, in->min_cell_mv, in->max_cell_mv,
	                      in->min_temp_dc, in->max_temp_dc);
	history_note_soc(&m->hist, m->soc.known, monitor_soc_cpct(m, NULL));
	detect_charged(m, now_us, wall_s, went_back, in);
}

void monitor_sync(struct monitor *m, int64_t wall_s)
{
	synchronise(m, false, wall_s);
}

int monitor_set_soc(struct monitor *m, int32_t soc_cpct)
{
	if (soc_cpct < 0 || soc_cpct > 10000)
		return -EINVAL;
	m->soc.known = true;
	m->soc.soc_pct = soc_cpct / 100.0;
	/* What is missing to full, in raw Ah, as if counted since a sync. */
	m->soc.consumed_ah = (10000 - soc_cpct) / 10000.0 * (double)m->capacity_ah;
	m->soc.soc_events++;
	history_note_soc(&m->hist, true, soc_cpct);
	return 0;
}

void monitor_reset_history(struct monitor *m)
{
	history_reset(&m->hist);
}

int32_t monitor_soc_cpct(const struct monitor *m, bool *known)
{
	if (known)
		*known = m->soc.known;
	if (!m->soc.known)
		return 0;
	return (int32_t)lround(clamp_pct(m->soc.soc_pct) * 100.0);
}

uint32_t monitor_soc_events(const struct monitor *m)
{
	return m->soc.soc_events;
}

double monitor_consumed_ah(const struct monitor *m)
{
	return m->soc.consumed_ah;
}

int monitor_mean_discharge_ma(const struct monitor *m, uint64_t now_us, double *out_ma)
{
	uint64_t epoch = now_us / MONITOR_BUCKET_US;
	double q = 0.0, t = 0.0;

	for (size_t i = 0; i < MONITOR_WINDOW_BUCKETS; i++) {
		const struct monitor_bucket *b = &m->win[i];
		/* mutation: equivalent [cond-drop b->time_s <= 0.0, cond-drop b->epoch > epoch]
		 * because an empty bucket adds 0 to both sums, and a bucket from a later
		 * epoch wraps the age test below. */
		if (b->time_s <= 0.0 || b->epoch > epoch ||
		    epoch - b->epoch >= MONITOR_WINDOW_BUCKETS)
			continue;
		q += b->charge_mas;
		t += b->time_s;
	}
	if (t <= 0.0)
		return -ENODATA;
	*out_ma = q / t;
	return 0;
}

int monitor_time_remaining_s(const struct monitor *m, uint64_t now_us, int64_t *out_s)
{
	double mean_ma, left_pct;

	if (!m->soc.known || m->capacity_ah == 0)
		return -ENODATA;
	if (monitor_mean_discharge_ma(m, now_us, &mean_ma) < 0)
		return -ENODATA;
	/* A discharge of more than 0.1 % of C: C (Ah) x 1 mA. */
	if (!(mean_ma > (double)m->capacity_ah))
		return -ENODATA;
	left_pct = fmax(0.0, m->soc.soc_pct - (double)m->discharge_floor_pct);
	*out_s = (int64_t)llround(left_pct / 100.0 * (double)m->capacity_ah * 1000.0 / mean_ma *
	                          3600.0);
	return 0;
}

enum balancer_status monitor_balancer_status(const struct monitor *m, int64_t wall_s)
{
	struct balancer_input in = {
	        .soc_known = m->soc.known,
	        .bank_current_ma = m->last_in.valid ? m->last_in.current_ma : 0,
	        .capacity_ah = m->capacity_ah,
	        .any_balancing = m->last_in.valid && m->last_in.any_balancing,
	        .wall_s = wall_s,
	};
	return balancer_status(&m->bal, &in);
}

int monitor_soc_check(const struct monitor_soc *soc)
{
	if (!isfinite(soc->soc_pct) || soc->soc_pct < 0.0 || soc->soc_pct > 100.0)
		return -EINVAL;
	if (!isfinite(soc->consumed_ah) || soc->consumed_ah < 0.0 || soc->consumed_ah > 1e7)
		return -EINVAL;
	return 0;
}
