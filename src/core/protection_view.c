/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the protection rules measure: the bank view of one input snapshot
 * (extremes, staleness, the staleness window after a resume) and each
 * quantity of the rule table.
 */
#include "core/protection.h"
#include "core/protection_internal.h"

struct qv protection_qv_none(void)
{
	return (struct qv){.battery = -1, .index = -1};
}

static void take_min(struct qv *q, int32_t v, int b, int i)
{
	if (!q->known || v < q->value)
		*q = (struct qv){
		        .known = true, .value = v, .battery = (int16_t)b, .index = (int16_t)i};
}

static void take_max(struct qv *q, int32_t v, int b, int i)
{
	if (!q->known || v > q->value)
		*q = (struct qv){
		        .known = true, .value = v, .battery = (int16_t)b, .index = (int16_t)i};
}

static struct qv qv_of(const struct bank_extreme *x)
{
	if (!x->known)
		return protection_qv_none();
	return (struct qv){
	        .known = true, .value = x->value, .battery = x->battery, .index = x->index};
}

static void flag_at(struct qv *q, int b)
{
	if (!q->set)
		*q = (struct qv){
		        .known = true, .set = true, .value = 1, .battery = (int16_t)b, .index = -1};
}

/* The staleness window after a resume (docs/protection.md section 11). */
static bool in_window(const struct protection *p, uint64_t now_us)
{
	return p && p->start == PROT_START_RESUMED && now_us < p->resume_until_us;
}

static bool window_covers(const struct protection *p, uint64_t now_us, unsigned b)
{
	/* mutation: equivalent [cmp-bound, cond-drop b < p->resume_n] because the
	 * mask has no bit at or above resume_n (protection_persist_check()
	 * refuses one) and b < 50 keeps the shift defined. */
	return in_window(p, now_us) && b < p->resume_n && ((p->resume_mask >> b) & 1u);
}

/* Before the bus is enumerated: is every battery of the saved bank covered? */
static bool window_covers_bank(const struct protection *p, uint64_t now_us)
{
	uint64_t all;

	if (!in_window(p, now_us) || p->resume_n == 0)
		return false;
	/* mutation: equivalent [cmp-bound p->resume_n > 64, const 64->63, const 64->65]
	 * because resume_n is at most PROTECTION_MAX_BATTERIES (50). */
	all = p->resume_n >= 64 ? UINT64_MAX : (UINT64_C(1) << p->resume_n) - 1;
	return (p->resume_mask & all) == all;
}

/* p may be NULL (no window); now_us is then only used for staleness. */
void protection_view_bank(struct bank_view *v, const struct protection *p, uint64_t now_us,
                          const struct protection_input *in)
{
	unsigned n = in->n_batteries;

	/* mutation: equivalent [cmp-bound] because n == max is max either way */
	if (n > PROTECTION_MAX_BATTERIES)
		n = PROTECTION_MAX_BATTERIES;
	*v = (struct bank_view){.min_cell = protection_qv_none(),
	                        .max_cell = protection_qv_none(),
	                        .min_temp = protection_qv_none(),
	                        .max_temp = protection_qv_none(),
	                        .hard_uv = protection_qv_none(),
	                        .hard_ov = protection_qv_none(),
	                        .stale_bat = -1,
	                        .next_stale_us = UINT64_MAX};
	v->hard_uv.known = v->hard_ov.known = true;
	/* mutation: equivalent [cond-drop !in->chain_open, cond-drop !in->enum_failed]
	 * because either makes every battery stale below, which clears all_fresh,
	 * and without a battery n > 0 does. */
	v->all_fresh = in->enumerated && n > 0 && !in->chain_open && !in->enum_failed;
	/* A bank without a single battery is unknown data, never a healthy bank;
	 * just after a resume it is not stale if every battery was fresh. */
	v->any_unknown = n == 0;
	v->any_stale = n == 0 && !window_covers_bank(p, now_us);
	v->fresh_mask = 0;
	if (in_window(p, now_us))
		v->next_stale_us = p->resume_until_us;

	for (unsigned b = 0; b < n; b++) {
		const struct protection_battery *bat = &in->bat[b];
		/* mutation: equivalent [cmp-bound] (at the maximum: the maximum) */
		unsigned nc =
		        bat->n_cells < PROTECTION_MAX_CELLS ? bat->n_cells : PROTECTION_MAX_CELLS;
		/* mutation: equivalent [cmp-bound] (at the maximum: the maximum) */
		unsigned nt =
		        bat->n_temps < PROTECTION_MAX_TEMPS ? bat->n_temps : PROTECTION_MAX_TEMPS;
		bool timed_out =
		        !bat->has_status || elapsed(now_us, bat->last_status_us, PROT_STALE_US);
		/* Fresh at the save, not heard since the resume: not stale, unknown. */
		bool covered = timed_out && window_covers(p, now_us, b);
		bool stale = (timed_out && !covered) || bat->count_mismatch || bat->fault ||
		             in->chain_open || in->enum_failed;

		/* mutation: equivalent [cond-drop bat->has_status] because a battery
		 * that never reported is timed out */
		if (bat->has_status && !timed_out)
			v->next_stale_us =
			        min_u64(v->next_stale_us, bat->last_status_us + PROT_STALE_US);
		if (stale || covered || bat->stale_exempt) {
			v->any_unknown = true;
			v->all_fresh = false;
		} else {
			v->fresh_mask |= UINT64_C(1) << b;
		}
		if (stale && !bat->stale_exempt && !v->any_stale) {
			v->any_stale = true;
			v->stale_bat = (int16_t)b;
		}
		v->any_fault |= bat->fault;
		v->fw_flag |= bat->fw_update;
		if (bat->hard_uv)
			flag_at(&v->hard_uv, (int)b);
		if (bat->hard_ov)
			flag_at(&v->hard_ov, (int)b);
		/* A battery that never reported has no values to count. */
		if (!bat->has_status || in->have_extremes)
			continue;
		for (unsigned c = 0; c < nc; c++) {
			if (bat->cell_mv[c] == PROTECTION_CELL_NA)
				continue;
			take_min(&v->min_cell, bat->cell_mv[c], (int)b, (int)c);
			take_max(&v->max_cell, bat->cell_mv[c], (int)b, (int)c);
		}
		for (unsigned t = 0; t < nt; t++) {
			if (bat->temp_dc[t] == PROTECTION_TEMP_NA)
				continue;
			take_min(&v->min_temp, bat->temp_dc[t], (int)b, (int)t);
			take_max(&v->max_temp, bat->temp_dc[t], (int)b, (int)t);
		}
	}
	if (in->have_extremes) {
		v->min_cell = qv_of(&in->extremes[BANK_EXT_MIN_CELL]);
		v->max_cell = qv_of(&in->extremes[BANK_EXT_MAX_CELL]);
		v->min_temp = qv_of(&in->extremes[BANK_EXT_MIN_TEMP]);
		v->max_temp = qv_of(&in->extremes[BANK_EXT_MAX_TEMP]);
	}
}

/* SoC in 0.01 %, limited to 0-100 %. */
static int32_t soc_clamped(int32_t cpct)
{
	/* mutation: equivalent [cmp-bound, const 0->1] because 0 is 0 either way */
	if (cpct < 0)
		return 0;
	/* mutation: equivalent [cmp-bound, const, if 0] because no SoC level is above
	 * 62 % (warning <= 60 % + 2) and a reading is kept only when a rule trips, so
	 * any value from 99.99 % up acts as 100 %. */
	if (cpct > 10000)
		return 10000; /* mutation: equivalent [const] (as above) */
	return cpct;
}

static struct qv flag_qv(bool set)
{
	struct qv q = protection_qv_none();

	q.known = true;
	q.set = set;
	q.value = set;
	return q;
}

struct qv protection_quantity(const struct protection *p, const struct bank_view *v,
                              const struct protection_input *in, enum protection_quantity q)
{
	struct qv r = protection_qv_none();

	switch (q) {
	case PROT_Q_MIN_CELL:
		return v->min_cell;
	case PROT_Q_MAX_CELL:
		return v->max_cell;
	case PROT_Q_MIN_TEMP:
		return v->min_temp;
	case PROT_Q_MAX_TEMP:
		return v->max_temp;
	case PROT_Q_BANK_MV:
		r.known = in->bank_mv_valid;
		r.value = in->bank_mv;
		return r;
	case PROT_Q_SOC:
		r.known = in->soc_known;
		r.value = soc_clamped(in->soc_cpct);
		return r;
	case PROT_Q_HARD_UV:
		return v->hard_uv;
	case PROT_Q_HARD_OV:
		return v->hard_ov;
	case PROT_Q_STALE:
		r = flag_qv(v->any_stale);
		r.battery = v->stale_bat;
		return r;
	case PROT_Q_BANK_CHANGED:
		return flag_qv(in->bank_changed);
	case PROT_Q_TOPOLOGY:
		return flag_qv(in->topology_bad);
	case PROT_Q_REMOTE_OFF:
		return flag_qv(!remote_is_on(&p->remote));
	case PROT_Q_FW_RUNNING:
		return flag_qv(in->fw_running || v->fw_flag);
	case PROT_Q_FW_FAILED:
		return flag_qv(in->fw_failed);
	case PROT_Q_READBACK_BAD: {
		/* Compared with what was commanded until now (the previous step). */
		int64_t rb = in->readback_mv, bank = in->bank_mv;

		r.known = in->readback_valid && in->bank_mv_valid;
		r.value = in->readback_mv;
		r.set = p->atc_closed ? rb * 10 < bank * 8 : rb * 10 > bank * 9;
		return r;
	}
	case PROT_Q_BANK_RANGE_BAD:
		r.known = in->bank_mv_valid;
		r.value = in->bank_mv;
		r.set = in->bank_mv < PROT_BANK_LOW_MV || in->bank_mv > PROT_BANK_HIGH_MV;
		return r;
	case PROT_Q_BANK_RANGE_OK:
		r.known = in->bank_mv_valid;
		r.value = in->bank_mv;
		r.set = in->bank_mv >= PROT_BANK_LOW_MV + PROT_BANK_HYST_MV &&
		        in->bank_mv <= PROT_BANK_HIGH_MV - PROT_BANK_HYST_MV;
		return r;
	case PROT_Q_COLD_START:
		/* Also ATD found open on the adopted lines, until fresh data. */
		/* mutation: equivalent [cond-drop p->start == PROT_START_RESUMED]
		 * because resume_open is set only on a resumed start. */
		return flag_qv(p->start == PROT_START_COLD ||
		               (p->start == PROT_START_RESUMED && (p->resume_open & PROT_T_ATD)));
	case PROT_Q_NOT_RESUMED:
		return flag_qv(p->start != PROT_START_RUNNING);
	case PROT_Q_NONE:
	default:
		return r;
	}
}
