/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The protection step: evaluates every rule of the table against one input
 * snapshot and the clock, in two passes because the rules that wait for the
 * pre-alarm lead depend on the pre-alarm, which depends on those rules.
 * The choices made where protection.md is ambiguous are listed at the top
 * of protection_rules.c.
 */
#include "core/protection.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/codes.h"

/* One measured quantity: a value with where it was read, or a flag. */
struct qv {
	bool known;
	bool set; /* flag quantities */
	int32_t value;
	int16_t battery, index;
};

struct bank_view {
	struct qv min_cell, max_cell, min_temp, max_temp;
	bool any_stale;    /* stale and not exempt: the stale rules */
	int16_t stale_bat; /* first such battery */
	bool any_unknown;  /* stale or exempt: no release on battery data */
	bool all_fresh;    /* enumerated bank, every battery fresh */
	bool any_fault;
	bool fw_flag;
	struct qv hard_uv, hard_ov;
	uint64_t next_stale_us;
};

enum tri {
	TRI_FALSE,
	TRI_TRUE,
	TRI_UNKNOWN,
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b; /* mutation: equivalent [cmp-bound] (a == b: either) */
}

static bool elapsed(uint64_t now_us, uint64_t since_us, uint64_t span_us)
{
	return now_us >= since_us && now_us - since_us >= span_us;
}

static struct qv qv_none(void)
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

static void flag_at(struct qv *q, int b)
{
	if (!q->set)
		*q = (struct qv){
		        .known = true, .set = true, .value = 1, .battery = (int16_t)b, .index = -1};
}

static void view_bank(struct bank_view *v, uint64_t now_us, const struct protection_input *in)
{
	unsigned n = in->n_batteries;

	/* mutation: equivalent [cmp-bound] because n == max is max either way */
	if (n > PROTECTION_MAX_BATTERIES)
		n = PROTECTION_MAX_BATTERIES;
	*v = (struct bank_view){.min_cell = qv_none(),
	                        .max_cell = qv_none(),
	                        .min_temp = qv_none(),
	                        .max_temp = qv_none(),
	                        .hard_uv = qv_none(),
	                        .hard_ov = qv_none(),
	                        .stale_bat = -1,
	                        .next_stale_us = UINT64_MAX};
	v->hard_uv.known = v->hard_ov.known = true;
	/* mutation: equivalent [cond-drop !in->chain_open, cond-drop !in->enum_failed]
	 * because either makes every battery stale below, which clears all_fresh,
	 * and without a battery n > 0 does. */
	v->all_fresh = in->enumerated && n > 0 && !in->chain_open && !in->enum_failed;
	/* A bank without a single battery is unknown data, never a healthy bank. */
	v->any_stale = v->any_unknown = n == 0;

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
		bool stale = timed_out || bat->count_mismatch || bat->fault || in->chain_open ||
		             in->enum_failed;

		/* mutation: equivalent [cond-drop bat->has_status] because a battery
		 * that never reported is timed out */
		if (bat->has_status && !timed_out)
			v->next_stale_us =
			        min_u64(v->next_stale_us, bat->last_status_us + PROT_STALE_US);
		if (stale || bat->stale_exempt) {
			v->any_unknown = true;
			v->all_fresh = false;
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
		if (!bat->has_status)
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
}

static struct qv flag_qv(bool set)
{
	struct qv q = qv_none();

	q.known = true;
	q.set = set;
	q.value = set;
	return q;
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

static struct qv quantity(const struct protection *p, const struct bank_view *v,
                          const struct protection_input *in, enum protection_quantity q)
{
	struct qv r = qv_none();

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
		return flag_qv(p->start == PROT_START_COLD);
	case PROT_Q_NOT_RESUMED:
		return flag_qv(p->start != PROT_START_RUNNING);
	case PROT_Q_NONE:
	default:
		return r;
	}
}

static enum tri compare(const struct protection *p, const struct protection_input *in, struct qv q,
                        enum protection_cmp c, enum protection_level l)
{
	int32_t level = 0; /* mutation: equivalent [const] (read only when have) */
	int32_t bank_cells = (int32_t)in->series_s * in->cells_per_battery;
	bool have = protection_level_value(l, &p->settings, bank_cells, &level);
	bool r;

	if (!q.known)
		return TRI_UNKNOWN;
	if (c == PROT_CMP_SET)
		return q.set ? TRI_TRUE : TRI_FALSE;
	if (!have)
		return TRI_UNKNOWN;
	switch (c) {
	case PROT_CMP_LT:
		r = q.value < level;
		break;
	case PROT_CMP_GT:
		r = q.value > level;
		break;
	case PROT_CMP_LE:
		r = q.value <= level;
		break;
	case PROT_CMP_GE:
	default:
		r = q.value >= level;
		break;
	}
	return r ? TRI_TRUE : TRI_FALSE;
}

static bool floor_disabled(const struct protection *p, const struct protection_rule *r)
{
	return r->trip_level == PROT_L_SOC_FLOOR && p->settings.discharge_floor_pct == 0;
}

static enum tri trip_condition(const struct protection *p, const struct bank_view *v,
                               const struct protection_input *in, const struct protection_rule *r,
                               struct qv *reading)
{
	/* mutation: equivalent [if 0] because with the floor at 0 the level is not
	 * computable: the comparison is unknown, a clear rule stays clear, and a
	 * tripped A5 is released by release_condition(). */
	if (floor_disabled(p, r))
		return TRI_FALSE;
	*reading = quantity(p, v, in, r->trip_q);
	return compare(p, in, *reading, r->trip_cmp, r->trip_level);
}

static bool release_condition(const struct protection *p, const struct bank_view *v,
                              const struct protection_input *in, const struct protection_rule *r,
                              const struct protection_rule_state *st, enum tri trip)
{
	if (floor_disabled(p, r))
		return true;
	if ((r->flags & PROT_F_BATTERY_DATA) && v->any_unknown)
		return false;
	/* mutation: equivalent [cond-drop (r->flags & PROT_F_RELEASE_TRIP_CLEAR)]
	 * because every rule without the flag releases on the quantity it trips
	 * on, at a level beyond its trip level: its release implies a false trip. */
	if ((r->flags & PROT_F_RELEASE_TRIP_CLEAR) && trip != TRI_FALSE)
		return false;
	if ((r->flags & PROT_F_NEEDS_SYNC) && in->soc_sync_count == st->sync_count_at_trip)
		return false;
	if (r->release_q != PROT_Q_NONE && compare(p, in, quantity(p, v, in, r->release_q),
	                                           r->release_cmp, r->release_level) != TRI_TRUE)
		return false;
	return true;
}

static uint64_t delay_us(const struct protection *p, const struct protection_rule *r)
{
	return (uint64_t)protection_time_ms(r->delay, &p->settings) * 1000;
}

static uint64_t hold_us(const struct protection *p, const struct protection_rule *r,
                        const struct protection_rule_state *st)
{
	uint64_t h = (uint64_t)protection_time_ms(r->hold, &p->settings) * 1000;

	/* mutation: equivalent [cond-drop h < PROT_CHATTER_WINDOW_US, cmp-bound]
	 * because no hold exceeds 600 s (the hold settings end at 300 s). */
	if (st->latched && !(r->flags & PROT_F_CHATTER_NOHOLD) && h < PROT_CHATTER_WINDOW_US)
		h = PROT_CHATTER_WINDOW_US;
	return h;
}

static void trip_rule(struct protection_rule_state *st, const struct protection_rule *r,
                      uint64_t now_us, const struct protection_input *in)
{
	st->phase = PROT_PH_TRIPPED;
	st->tripped_since_us = now_us;
	st->release_running = false;
	st->sync_count_at_trip = in->soc_sync_count;
	if (!(r->flags & PROT_F_CHATTER))
		return;
	/* Sliding window: the transitions kept that are younger than 600 s. */
	unsigned recent = 0;
	for (unsigned i = 0; i < st->n_chatter; i++)
		if (!elapsed(now_us, st->chatter_us[i], PROT_CHATTER_WINDOW_US))
			recent++;
	if (recent + 1 >= PROT_CHATTER_COUNT)
		st->latched = true;
	/* Keep the newest PROT_CHATTER_COUNT - 1 transitions. */
	if (st->n_chatter == PROT_CHATTER_COUNT - 1) {
		/* mutation: equivalent [const sizeof(st->chatter_us[1]), const 2->1]
		 * because the elements have one size and the last one is written just
		 * below. */
		memmove(&st->chatter_us[0], &st->chatter_us[1],
		        sizeof(st->chatter_us[0]) * (PROT_CHATTER_COUNT - 2));
		st->n_chatter--;
	}
	st->chatter_us[st->n_chatter++] = now_us;
}

static void release_rule(struct protection_rule_state *st)
{
	if (st->latched) {
		st->latched = false;
		st->n_chatter = 0;
	}
	st->phase = PROT_PH_CLEAR;
	/* mutation: equivalent [bool] because release_running is read only in
	 * the tripped phase, and trip_rule() clears it. */
	st->release_running = false;
}

static void set_reading(struct protection_rule_state *st, const struct protection_rule *r,
                        struct qv q)
{
	st->reading = (struct protection_reading){.value = q.value,
	                                          .unit = protection_quantity_unit(r->trip_q),
	                                          .battery = q.battery,
	                                          .index = q.index};
}

/* Pass one: every rule's countdown, trips that need no lead, and releases.
 * Returns through waiting[] the lead rules whose delay is complete. */
static void pass_one(struct protection *p, uint64_t now_us, const struct bank_view *v,
                     const struct protection_input *in, bool first, bool waiting[])
{
	const struct protection_rule *rules = protection_rules();

	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		const struct protection_rule *r = &rules[i];
		struct protection_rule_state *st = &p->rule[i];
		struct qv q = qv_none();
		enum tri trip;

		waiting[i] = false;
		/* mutation: equivalent [cond-drop !first] because first is true only
		 * once p->start is already PROT_START_RUNNING. */
		if (p->start == PROT_START_COLD && !(r->flags & PROT_F_ALWAYS) && !first) {
			st->phase = PROT_PH_CLEAR;
			continue;
		}
		trip = trip_condition(p, v, in, r, &q);
		if (st->phase == PROT_PH_TRIPPED) {
			if (!release_condition(p, v, in, r, st, trip)) {
				st->release_running = false;
				continue;
			}
			if (!st->release_running) {
				st->release_running = true;
				st->release_start_us = now_us;
			}
			if (elapsed(now_us, st->release_start_us, hold_us(p, r, st)))
				release_rule(st);
			continue;
		}
		if (trip == TRI_FALSE || (trip == TRI_UNKNOWN && st->phase == PROT_PH_CLEAR)) {
			st->phase = PROT_PH_CLEAR;
			continue;
		}
		if (st->phase == PROT_PH_CLEAR) {
			st->phase = PROT_PH_PENDING;
			st->trip_start_us = now_us;
			/* mutation: equivalent [cmp-bound] (since == now: the same start) */
			if ((r->flags & PROT_F_START_FROM_INPUT) && in->fw_failed_since_us < now_us)
				st->trip_start_us = in->fw_failed_since_us;
		}
		if (trip == TRI_TRUE)
			set_reading(st, r, q);
		/* mutation: equivalent [cond-drop trip == TRI_TRUE] because at the
		 * first complete data set a rule is clear (the cold start keeps
		 * them clear), so an unknown trip has already continued above. */
		if (first && trip == TRI_TRUE) {
			trip_rule(st, r, now_us, in);
			continue;
		}
		if (!elapsed(now_us, st->trip_start_us, delay_us(p, r)))
			continue;
		if (r->flags & PROT_F_LEAD)
			waiting[i] = true;
		else
			trip_rule(st, r, now_us, in);
	}
}

static bool holds(const struct protection *p, uint32_t target)
{
	const struct protection_rule *rules = protection_rules();

	for (unsigned i = 0; i < PROT_RULE_COUNT; i++)
		if (p->rule[i].phase == PROT_PH_TRIPPED && (rules[i].target & target))
			return true;
	return false;
}

static bool rule_flag_tripped(const struct protection *p, uint32_t flag)
{
	const struct protection_rule *rules = protection_rules();

	for (unsigned i = 0; i < PROT_RULE_COUNT; i++)
		if (p->rule[i].phase == PROT_PH_TRIPPED && (rules[i].flags & flag))
			return true;
	return false;
}

/* Is rule i a cause of the pre-alarm at the moment? */
static bool prealarm_cause(const struct protection *p, unsigned i)
{
	const struct protection_rule *r = &protection_rules()[i];
	uint8_t ph = p->rule[i].phase;

	if (r->flags & (PROT_F_LEAD | PROT_F_WARNS))
		return ph != PROT_PH_CLEAR;
	return (r->target & PROT_T_PREALARM) && ph == PROT_PH_TRIPPED;
}

static void update_drain(struct protection *p, uint64_t now_us)
{
	bool drain = rule_flag_tripped(p, PROT_F_DRAIN);

	/* mutation: equivalent [cond-drop drain] because this runs twice a step:
	 * without a drain rule the first call would start the guard and the second
	 * stop it, so every step ends as with the condition. */
	if (drain && !p->drain_running) {
		p->drain_running = true;
		p->drain_since_us = now_us;
	} else if (!drain) {
		p->drain_running = false;
	}
}

static bool update_prealarm(struct protection *p, uint64_t now_us)
{
	bool cause = false;
	bool guard = p->drain_running && elapsed(now_us, p->drain_since_us, PROT_DRAIN_GUARD_US);
	bool on;

	/* mutation: equivalent [const 0->1] because rule 0, the start-up hold of
	 * ATD, is never a cause of the pre-alarm. */
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++)
		cause |= prealarm_cause(p, i);
	on = cause && remote_is_on(&p->remote) && !guard;
	/* mutation: equivalent [cond-drop on] because prealarm_since_us is read
	 * only while the pre-alarm is on, and is set again when it turns on. */
	if (on && !p->prealarm_on)
		p->prealarm_since_us = now_us;
	if (on != p->prealarm_on)
		p->prealarm_change_us = now_us;
	p->prealarm_on = on;
	return on &&
	       elapsed(now_us, p->prealarm_since_us, (uint64_t)p->settings.prealarm_lead_ms * 1000);
}

static void update_poweroff(struct protection *p, uint64_t now_us,
                            const struct protection_input *in)
{
	bool low_current = in->current_valid && in->capacity_ah > 0 &&
	                   (int64_t)in->current_ma < (int64_t)in->capacity_ah * 5;
	bool cond = low_current && (rule_flag_tripped(p, PROT_F_DRAIN) ||
	                            p->rule[PROT_R_REMOTE_OFF].phase == PROT_PH_TRIPPED);

	if (cond && !p->poweroff_running) {
		p->poweroff_running = true;
		p->poweroff_since_us = now_us;
	} else if (!cond) {
		p->poweroff_running = false;
	}
}

static void report_output(const struct protection *p, enum protection_output_id o,
                          struct protection_output_report *rep)
{
	const struct protection_rule *rules = protection_rules();
	uint32_t target = o == PROT_OUT_ATD ? PROT_T_ATD : PROT_T_ATC;

	rep->n_holds = 0;
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		const struct protection_rule_state *st = &p->rule[i];
		bool in_report;

		if (o == PROT_OUT_PREALARM)
			in_report = p->prealarm_on && prealarm_cause(p, i);
		else
			in_report = st->phase == PROT_PH_TRIPPED && (rules[i].target & target);
		if (!in_report)
			continue;
		rep->holds[rep->n_holds++] = (struct protection_hold){
		        .rule = (enum protection_rule_id)i,
		        .code = rules[i].code,
		        .name = rules[i].name,
		        .since_us = st->phase == PROT_PH_TRIPPED ? st->tripped_since_us
		                                                 : st->trip_start_us,
		        .reading = st->reading,
		        .latched = st->latched,
		};
	}
	switch (o) {
	case PROT_OUT_ATD:
		rep->closed = p->atd_closed;
		rep->since_us = p->atd_since_us;
		break;
	case PROT_OUT_ATC:
		rep->closed = p->atc_closed;
		rep->since_us = p->atc_since_us;
		break;
	default:
		/* "closed" of the pre-alarm: inactive. */
		rep->closed = !p->prealarm_on;
		rep->since_us = p->prealarm_change_us;
		break;
	}
}

static uint32_t active_codes(const struct protection *p, const struct bank_view *v,
                             const struct protection_input *in)
{
	const struct protection_rule *rules = protection_rules();
	uint32_t codes = 0;

	/* mutation: equivalent [const 0->1] because rule 0, the start-up hold of
	 * ATD, has no code and never latches. */
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		if (p->rule[i].phase == PROT_PH_TRIPPED && rules[i].code >= 0)
			codes |= BMS_CODE_BIT(rules[i].code);
		if (p->rule[i].latched)
			codes |= BMS_CODE_BIT(BMS_W3);
	}
	if (v->any_stale)
		codes |= BMS_CODE_BIT(BMS_E1);
	if (in->chain_open || in->enum_failed)
		codes |= BMS_CODE_BIT(BMS_E2);
	if (in->bank_changed)
		codes |= BMS_CODE_BIT(BMS_E3);
	if (v->any_fault)
		codes |= BMS_CODE_BIT(BMS_E4);
	if (in->fw_failed)
		codes |= BMS_CODE_BIT(BMS_E5);
	if (in->topology_bad)
		codes |= BMS_CODE_BIT(BMS_E6);
	if (!in->bank_mv_valid || p->remote.adc_fault)
		codes |= BMS_CODE_BIT(BMS_E8);
	if (in->record_unreadable)
		codes |= BMS_CODE_BIT(BMS_E9);
	if (p->remote.wiring_fault)
		codes |= BMS_CODE_BIT(BMS_W4);
	if (in->adc_fallback)
		codes |= BMS_CODE_BIT(BMS_W6);
	if (in->fw_running || v->fw_flag)
		codes |= BMS_CODE_BIT(BMS_W7);
	if (in->more_batteries)
		codes |= BMS_CODE_BIT(BMS_W8);
	return codes;
}

static uint64_t later(uint64_t now_us, uint64_t d, uint64_t t)
{
	return t > now_us ? min_u64(d, t) : d;
}

static uint64_t next_deadline(const struct protection *p, uint64_t now_us,
                              const struct bank_view *v, bool lead_complete)
{
	const struct protection_rule *rules = protection_rules();
	uint64_t d = remote_next_deadline_us(&p->remote);

	/* mutation: equivalent [const 0->1] because rule 0, the start-up hold of
	 * ATD, has no delay and no release hold: never a deadline to come. */
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		const struct protection_rule_state *st = &p->rule[i];

		if (st->phase == PROT_PH_PENDING)
			d = later(now_us, d, st->trip_start_us + delay_us(p, &rules[i]));
		/* mutation: equivalent [cond-drop st->phase == PROT_PH_TRIPPED] because
		 * a clear rule never has release_running set (release_rule()). */
		else if (st->phase == PROT_PH_TRIPPED && st->release_running)
			d = later(now_us, d, st->release_start_us + hold_us(p, &rules[i], st));
	}
	/* mutation: equivalent [cond-drop !lead_complete] because a complete
	 * lead ended in the past, which later() ignores. */
	if (p->prealarm_on && !lead_complete)
		d = later(now_us, d,
		          p->prealarm_since_us + (uint64_t)p->settings.prealarm_lead_ms * 1000);
	if (p->drain_running)
		d = later(now_us, d, p->drain_since_us + PROT_DRAIN_GUARD_US);
	if (p->poweroff_running)
		d = later(now_us, d, p->poweroff_since_us + PROT_POWEROFF_US);
	d = later(now_us, d, v->next_stale_us);
	return d;
}

void protection_step(struct protection *p, uint64_t now_us, const struct protection_input *in,
                     struct protection_output *out)
{
	const struct protection_rule *rules = protection_rules();
	struct remote_input rin = {
	        .vh_valid = in->remote_vh_valid,
	        .vl_valid = in->remote_vl_valid,
	        .bank_valid = in->bank_mv_valid,
	        .vh_mv = in->remote_vh_mv,
	        .vl_mv = in->remote_vl_mv,
	        .bank_mv = in->bank_mv,
	};
	bool waiting[PROT_RULE_COUNT];
	struct bank_view v;
	bool first = false, lead, atd_open, atd, atc, save, fall;

	view_bank(&v, now_us, in);
	remote_step(&p->remote, now_us, &rin);
	/* mutation: equivalent [cond-drop p->start != PROT_START_RUNNING] because
	 * when running, first stays false and start stays running. */
	if (p->start != PROT_START_RUNNING && v.all_fresh) {
		first = p->start == PROT_START_COLD;
		p->start = PROT_START_RUNNING;
	}

	pass_one(p, now_us, &v, in, first, waiting);
	update_drain(p, now_us);
	lead = update_prealarm(p, now_us);
	atd_open = holds(p, PROT_T_ATD);
	/* mutation: equivalent [const 0->1] (rule 0 never waits for the lead) */
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++)
		if (waiting[i] && (lead || atd_open))
			trip_rule(&p->rule[i], &rules[i], now_us, in);
	update_drain(p, now_us);
	update_poweroff(p, now_us, in);

	atd = !holds(p, PROT_T_ATD);
	atc = !holds(p, PROT_T_ATC);
	if (atd != p->atd_closed)
		p->atd_since_us = now_us;
	if (atc != p->atc_closed)
		p->atc_since_us = now_us;
	p->atd_closed = atd;
	p->atc_closed = atc;
	p->next_deadline_us = next_deadline(p, now_us, &v, lead);
	save = in->bank_mv_valid && in->bank_mv < PROTECTION_SAVE_BELOW_MV;
	fall = save && !p->bank_low;
	if (in->bank_mv_valid)
		p->bank_low = save;

	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	out->atd_closed = atd;
	out->atc_closed = atc;
	out->prealarm_active = p->prealarm_on;
	out->lead_complete = lead;
	out->codes = active_codes(p, &v, in);
	out->blue = led_blue_mode(in->bt);
	out->red = led_red_mode(in->fw_running || v.fw_flag, out->codes);
	for (unsigned o = 0; o < PROT_OUT_COUNT; o++)
		report_output(p, (enum protection_output_id)o, &out->report[o]);
	out->request_poweroff =
	        p->poweroff_running && elapsed(now_us, p->poweroff_since_us, PROT_POWEROFF_US);
	out->remote_on = remote_is_on(&p->remote);
	out->save_record = fall;
	/* mutation: equivalent [const 0->1] (rule 0 never latches) */
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++)
		if (p->rule[i].latched)
			out->latched_rules |= UINT32_C(1) << i;
}

int protection_fw_update_allowed(const struct protection *p, const struct protection_input *in,
                                 const struct protection_output *out)
{
	uint32_t blocking =
	        bms_code_class_mask(BMS_CLASS_ALARM) | bms_code_class_mask(BMS_CLASS_ERROR);
	struct bank_view v;

	if (!p || !in || !out)
		return -EINVAL;
	/* Only the cell minimum is used: it does not depend on the time. */
	view_bank(&v, 0, in); /* mutation: equivalent [const] (time unused here) */
	/* mutation: equivalent [cond-drop !v.min_cell.known] because an unknown
	 * minimum reads 0 mV, below any pre-alarm level. */
	if ((out->codes & blocking) || !v.min_cell.known ||
	    v.min_cell.value < p->settings.prealarm_mv)
		return -EBUSY;
	return 0;
}

uint64_t protection_next_deadline_us(const struct protection *p)
{
	return p->next_deadline_us;
}

int protection_init(struct protection *p, const struct protection_settings *s,
                    int32_t remote_debounce_ms)
{
	int r;

	/* mutation: equivalent [cond-drop !s] (validation refuses NULL alike) */
	if (!p || !s)
		return -EINVAL;
	r = protection_settings_validate(s, NULL, 0); /* mutation: equivalent [const] (no buffer) */
	if (r < 0)
		return r;
	memset(p, 0, sizeof(*p));
	p->settings = *s;
	remote_init(&p->remote, remote_debounce_ms);
	p->start = PROT_START_COLD;
	p->next_deadline_us = UINT64_MAX;
	return 0;
}

struct protection *protection_new(const struct protection_settings *s, int32_t remote_debounce_ms)
{
	struct protection *p = calloc(1, sizeof(*p)); /* mutation: equivalent [const 2] */

	if (!p)
		return NULL;
	if (protection_init(p, s, remote_debounce_ms) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

void protection_free(struct protection *p)
{
	free(p);
}

int protection_set_settings(struct protection *p, const struct protection_settings *s, char *err,
                            size_t errlen)
{
	int r;

	/* mutation: equivalent [cond-drop !s] (validation refuses NULL alike) */
	if (!p || !s)
		return -EINVAL;
	r = protection_settings_validate(s, err, errlen);
	if (r < 0)
		return r;
	p->settings = *s;
	return 0;
}

const struct protection_settings *protection_get_settings(const struct protection *p)
{
	return &p->settings;
}
