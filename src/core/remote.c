/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/remote.h"

void remote_init(struct remote *r, int32_t debounce_ms)
{
	*r = (struct remote){.debounce_ms =
	                             debounce_ms < 0 ? REMOTE_DEBOUNCE_DEFAULT_MS : debounce_ms};
}

void remote_restore(struct remote *r, bool on)
{
	r->known = true;
	r->on = on;
	r->l_cause = false;
	r->h_cause = false;
	r->candidate_running = false;
}

static bool elapsed(uint64_t now_us, uint64_t since_us, uint64_t span_us)
{
	return now_us >= since_us && now_us - since_us >= span_us;
}

/* The state a single reading asks for, with each cause's hysteresis. */
static bool decode(struct remote *r, uint64_t now_us, const struct remote_input *in)
{
	/* Integer mV: 1.05 x V = V * 105 / 100, in 64 bits against overflow. */
	int64_t bank = in->bank_mv;
	int64_t h_max = bank * 105 / 100 + 500;
	int64_t h_wiring = bank * 110 / 100 + 1000;

	if (in->vh_mv > h_wiring) {
		if (!r->wiring_running) {
			r->wiring_running = true;
			r->wiring_since_us = now_us;
		}
		if (elapsed(now_us, r->wiring_since_us, REMOTE_WIRING_US))
			r->wiring_fault = true;
	} else {
		r->wiring_running = false;
		r->wiring_fault = false;
	}

	if (r->l_cause)
		r->l_cause = in->vl_mv <= REMOTE_L_OFF_MV;
	else
		r->l_cause = in->vl_mv < REMOTE_L_ON_MV;

	if (in->vh_mv > h_max)
		r->h_cause = false;
	else if (r->h_cause)
		r->h_cause = in->vh_mv >= REMOTE_H_OFF_MV;
	else
		r->h_cause = in->vh_mv > REMOTE_H_ON_MV;

	return r->l_cause || r->h_cause;
}

void remote_step(struct remote *r, uint64_t now_us, const struct remote_input *in)
{
	bool want;

	if (!in->vh_valid || !in->vl_valid || !in->bank_valid) {
		if (!r->unreadable_running) {
			r->unreadable_running = true;
			r->unreadable_since_us = now_us;
		}
		if (elapsed(now_us, r->unreadable_since_us, REMOTE_UNREADABLE_US)) {
			r->adc_fault = true;
			r->on = false;
			r->known = true;
			r->l_cause = r->h_cause = false;
			r->candidate_running = false;
		}
		/* The wiring fault needs a reading to persist. */
		r->wiring_running = false;
		r->wiring_fault = false;
		return;
	}
	r->unreadable_running = false;
	r->adc_fault = false;

	want = decode(r, now_us, in);
	if (!r->known) {
		r->known = true;
		r->on = want;
		return;
	}
	if (want == r->on) {
		r->candidate_running = false;
		return;
	}
	if (!r->candidate_running) {
		r->candidate_running = true;
		r->candidate_since_us = now_us;
	}
	if (elapsed(now_us, r->candidate_since_us, (uint64_t)r->debounce_ms * 1000)) {
		r->on = want;
		r->candidate_running = false;
	}
}

bool remote_is_on(const struct remote *r)
{
	/* mutation: equivalent [cond-drop r->known] because on is set only with known */
	return r->known && r->on;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b; /* mutation: equivalent [cmp-bound] (a == b: either) */
}

uint64_t remote_next_deadline_us(const struct remote *r)
{
	uint64_t d = UINT64_MAX;

	if (r->candidate_running)
		d = min_u64(d, r->candidate_since_us + (uint64_t)r->debounce_ms * 1000);
	if (r->wiring_running && !r->wiring_fault)
		d = min_u64(d, r->wiring_since_us + REMOTE_WIRING_US);
	if (r->unreadable_running && !r->adc_fault)
		d = min_u64(d, r->unreadable_since_us + REMOTE_UNREADABLE_US);
	return d;
}
