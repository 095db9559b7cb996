/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The protection step: evaluates every rule of the table against one input
 * snapshot and the clock, in two passes because the rules that wait for the
 * pre-alarm lead depend on the pre-alarm, which depends on those rules.
 * The choices made where docs/protection.md is ambiguous are listed at the top
 * of protection_rules.c.
 */
#include "core/protection.h"
#include "core/protection_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/codes.h"

enum tri {
	TRI_FALSE,
	TRI_TRUE,
	TRI_UNKNOWN,
};

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
	if (floor_disabled(p, r))
		return TRI_FALSE;
	*reading = protection_quantity(p, v, in, r->trip_q);
	return compare(p, in, *reading, r->trip_cmp, r->trip_level);
}

static bool release_condition(const struct protection *p, const struct bank_view *v,
                              const struct protection_input *in, const struct protection_rule *r,
                              const struct protection_rule_state *st, enum tri trip)
{
	if (floor_disabled(p, r))
		return true;
	/* Section 0: nothing closes on unknown data, whatever the rule reads. */
	if (v->any_unknown)
		return false;
	/* mutation: equivalent [cond-drop (r->flags & PROT_F_RELEASE_TRIP_CLEAR)]
	 * because every rule without the flag releases on the quantity it trips
	 * on (or, W5, on its complement), at a level beyond its trip level: its
	 * release implies a false trip, an unknown one fails the release too. */
	if ((r->flags & PROT_F_RELEASE_TRIP_CLEAR) && trip != TRI_FALSE)
		return false;
	if ((r->flags & PROT_F_NEEDS_SYNC) && in->soc_sync_count == st->sync_count_at_trip)
		return false;
	if (r->release_q != PROT_Q_NONE &&
	    compare(p, in, protection_quantity(p, v, in, r->release_q), r->release_cmp,
	            r->release_level) != TRI_TRUE)
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
	 * because no hold exceeds 600 s (the hold settings end at 300 s, the
	 * fixed holds at 120 s). */
	if (st->latched && !(r->flags & PROT_F_CHATTER_NOHOLD) && h < PROT_CHATTER_WINDOW_US)
		h = PROT_CHATTER_WINDOW_US;
	return h;
}

/* starting: the instance has not run on complete fresh data yet; such a
 * trip is the restart's, never counted as chatter (section 11). */
static void trip_rule(struct protection_rule_state *st, const struct protection_rule *r,
                      uint64_t now_us, const struct protection_input *in, bool starting)
{
	st->phase = PROT_PH_TRIPPED;
	st->tripped_since_us = now_us;
	st->release_running = false;
	st->sync_count_at_trip = in->soc_sync_count;
	if (!(r->flags & PROT_F_CHATTER) || starting)
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
		 * because the elements have one size, and the one more moved lands
		 * in the last slot, written just below. */
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
	 * the tripped phase, trip_rule() clears it, and a restart resumes none. */
	st->release_running = false;
	/* mutation: equivalent [bool] because lead_wait is read only in the
	 * pending phase, and a clear rule sets it again when it turns pending. */
	st->lead_wait = false;
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
/* Rev 3: has a manual SoC set or a floor change happened since the last
 * step (rather than a discharge)? */
static bool soc_moved(const struct protection *p, const struct protection_input *in)
{
	return p->soc_seen && (in->soc_sync_count != p->soc_seen_sync_count ||
	                       p->settings.discharge_floor_pct != p->soc_seen_floor_pct);
}

static bool waits_for_lead(const struct protection_rule *r, const struct protection_rule_state *st)
{
	return (r->flags & PROT_F_LEAD) || st->lead_wait;
}

/* first: the first complete data set of a cold start. at_once: the
 * outputs whose rules trip without delay or lead on this step's data (all
 * at a cold start's first data set; after a resume, those found open on the
 * adopted lines). */
static void pass_one(struct protection *p, uint64_t now_us, const struct bank_view *v,
                     const struct protection_input *in, bool first, uint32_t at_once, bool starting,
                     bool waiting[])
{
	const struct protection_rule *rules = protection_rules();
	bool moved = soc_moved(p, in);

	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		const struct protection_rule *r = &rules[i];
		struct protection_rule_state *st = &p->rule[i];
		struct qv q = protection_qv_none();
		enum tri trip;

		waiting[i] = false;
		/* Cold start: the rules wait for the first complete data set,
		 * keeping what a saved record restored (nothing seen yet). */
		/* mutation: equivalent [cond-drop !first] because first is true only
		 * once p->start is already PROT_START_RUNNING. */
		if (p->start == PROT_START_COLD && !(r->flags & PROT_F_ALWAYS) && !first) {
			st->release_running = false;
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
			st->lead_wait = false;
			continue;
		}
		if (st->phase == PROT_PH_CLEAR) {
			st->phase = PROT_PH_PENDING;
			st->trip_start_us = now_us;
			st->lead_wait = (r->flags & PROT_F_LEAD_ON_SET) && moved;
			/* mutation: equivalent [cmp-bound] (since == now: the same start) */
			if ((r->flags & PROT_F_START_FROM_INPUT) && in->fw_failed_since_us < now_us)
				st->trip_start_us = in->fw_failed_since_us;
		}
		if (trip == TRI_TRUE)
			set_reading(st, r, q);
		if ((r->target & at_once) && trip == TRI_TRUE) {
			trip_rule(st, r, now_us, in, starting);
			continue;
		}
		if (!elapsed(now_us, st->trip_start_us, delay_us(p, r)))
			continue;
		if (waits_for_lead(r, st))
			waiting[i] = true;
		else
			trip_rule(st, r, now_us, in, starting);
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

	/* mutation: equivalent [const 0->1] because rule 0, the start-up hold of
	 * ATD, has none of the flags asked for (PROT_F_DRAIN). */
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++)
		if (p->rule[i].phase == PROT_PH_TRIPPED && (rules[i].flags & flag))
			return true;
	return false;
}

/* Is rule i a cause of the pre-alarm at the moment? */
bool protection_prealarm_cause(const struct protection *p, unsigned i)
{
	const struct protection_rule *r = &protection_rules()[i];
	uint8_t ph = p->rule[i].phase;

	if ((r->flags & PROT_F_WARNS) || waits_for_lead(r, &p->rule[i]))
		return ph != PROT_PH_CLEAR;
	return (r->target & PROT_T_PREALARM) && ph == PROT_PH_TRIPPED;
}

static void update_drain(struct protection *p, uint64_t now_us)
{
	bool drain = rule_flag_tripped(p, PROT_F_DRAIN);

	/* mutation: equivalent [cond-drop drain] because this runs twice a step:
	 * without a drain rule the first call would start the guard (not
	 * elapsed in between) and the second stop it, so every step ends as with
	 * the condition. */
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
	 * ATD, is never a cause of the pre-alarm (no lead, no warning). */
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++)
		cause |= protection_prealarm_cause(p, i);
	on = cause && remote_is_on(&p->remote) && !guard;
	/* mutation: equivalent [cond-drop on] because prealarm_since_us is read
	 * (and saved) only while the pre-alarm is on, and is set again when it
	 * turns on. */
	if (on && !p->prealarm_on)
		p->prealarm_since_us = now_us;
	if (on != p->prealarm_on)
		p->prealarm_change_us = now_us;
	p->prealarm_on = on;
	return on &&
	       elapsed(now_us, p->prealarm_since_us, (uint64_t)p->settings.prealarm_lead_ms * 1000);
}

static bool poweroff_known(const struct protection_input *in)
{
	return in->current_valid && in->capacity_ah > 0;
}

static void update_poweroff(struct protection *p, uint64_t now_us,
                            const struct protection_input *in)
{
	bool low_current = (int64_t)in->current_ma < (int64_t)in->capacity_ah * 5;
	bool cond = low_current && (rule_flag_tripped(p, PROT_F_DRAIN) ||
	                            p->rule[PROT_R_REMOTE_OFF].phase == PROT_PH_TRIPPED);

	/* Current or capacity unknown (a restart's first steps, the ADC
	 * missing): the timer neither starts nor ends; it cannot complete
	 * meanwhile (protection_step). */
	if (!poweroff_known(in))
		return;
	if (cond && !p->poweroff_running) {
		p->poweroff_running = true;
		p->poweroff_since_us = now_us;
	} else if (!cond) {
		p->poweroff_running = false;
	}
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
		 * only a tripped rule ever has release_running set (pass_one()). */
		else if (st->phase == PROT_PH_TRIPPED && st->release_running)
			d = later(now_us, d, st->release_start_us + hold_us(p, &rules[i], st));
	}
	/* mutation: equivalent [cond-drop !lead_complete] because a complete
	 * lead ended in the past (elapsed()), which later() ignores. */
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
	bool first = false, starting = p->start != PROT_START_RUNNING;
	uint32_t at_once = 0;
	bool lead, atd_open, atd, atc, save, fall;

	protection_view_bank(&v, p, now_us, in);
	remote_step(&p->remote, now_us, &rin);
	/* mutation: equivalent [cond-drop p->start != PROT_START_RUNNING] because
	 * when running, first stays false, resume_open is 0 and start stays
	 * running. */
	if (p->start != PROT_START_RUNNING && v.all_fresh) {
		first = p->start == PROT_START_COLD;
		at_once = first ? UINT32_MAX : p->resume_open;
		p->start = PROT_START_RUNNING;
		/* mutation: equivalent [const] because resume_open is read only while
		 * the start is resumed, which this ends for good; a restart sets it
		 * afresh. */
		p->resume_open = 0;
	}

	pass_one(p, now_us, &v, in, first, at_once, starting, waiting);
	update_drain(p, now_us);
	lead = update_prealarm(p, now_us);
	atd_open = holds(p, PROT_T_ATD);
	/* mutation: equivalent [const 0->1] (rule 0 never waits for the lead) */
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++)
		if (waiting[i] && (lead || atd_open))
			trip_rule(&p->rule[i], &rules[i], now_us, in, starting);
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
	p->fresh_mask = v.fresh_mask;
	/* mutation: equivalent [cmp-bound] because n == max is max either way */
	p->fresh_n = in->n_batteries < PROTECTION_MAX_BATTERIES ? in->n_batteries
	                                                        : PROTECTION_MAX_BATTERIES;
	p->soc_seen = true;
	p->soc_seen_sync_count = in->soc_sync_count;
	p->soc_seen_floor_pct = p->settings.discharge_floor_pct;

	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	out->atd_closed = atd;
	out->atc_closed = atc;
	out->prealarm_active = p->prealarm_on;
	out->lead_complete = lead;
	out->codes = protection_active_codes(p, &v, in);
	out->blue = led_blue_mode(in->bt);
	out->red = led_red_mode(in->fw_running || v.fw_flag, out->codes);
	for (unsigned o = 0; o < PROT_OUT_COUNT; o++)
		protection_report_output(p, (enum protection_output_id)o, &out->report[o]);
	out->request_poweroff = p->poweroff_running && poweroff_known(in) &&
	                        elapsed(now_us, p->poweroff_since_us, PROT_POWEROFF_US);
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
	protection_view_bank(&v, NULL, 0, in); /* mutation: equivalent [const] (time unused here) */
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
