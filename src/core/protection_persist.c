/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule states across a daemon restart (docs/protection.md section 11). Times are
 * saved as ages (now - start) and restored as now - age, so a countdown
 * resumes where it was. Explicit little-endian fields, never a struct image.
 */
#include "core/protection.h"

#include <errno.h>
#include <string.h>

#include "core/le_codec.h"

#define PERSIST_MAGIC   0x52504253u /* "SBPR" little-endian */
#define PERSIST_VERSION 2
#define NO_TIME         UINT64_MAX

/* Version 1 (up to rev 2 of docs/protection.md) is read too, so that the upgrade
 * that brings version 2 is still a restart without a load drop. Version 2
 * adds a rule flag (R_LEAD) and a tail: the batteries fresh at the save. */
#define HEADER_SIZE     4 + 1 + 1 + 1 + 1 + 5 * 8
#define RULE_SIZE       1 + 1 + 1 + 5 * 8 + 4 + 4 + 2 + 2
#define TAIL_SIZE       1 + 8
#define PERSIST_V1_SIZE (HEADER_SIZE + PROT_RULE_COUNT * (RULE_SIZE))
#define PERSIST_SIZE    (PERSIST_V1_SIZE + TAIL_SIZE)

/* mutation: equivalent [cmp-bound] (the state is far below the maximum) */
_Static_assert(PERSIST_SIZE <= PROTECTION_PERSIST_MAX, "persisted state too large");

enum {
	G_REMOTE_KNOWN = 1u << 0,
	G_REMOTE_ON = 1u << 1,
	G_PREALARM = 1u << 2,
	G_DRAIN = 1u << 3,
	G_POWEROFF = 1u << 4,
	G_ALL = (1u << 5) - 1,
	R_LATCHED = 1u << 0,
	R_RELEASE = 1u << 1,
	R_LEAD = 1u << 2, /* version 2 */
	R_ALL_V1 = (1u << 2) - 1,
	R_ALL = (1u << 3) - 1,
};

static void put_age(struct le_writer *w, uint64_t now_us, bool running, uint64_t t)
{
	/* mutation: equivalent [cmp-bound] (t == now: age 0 either way) */
	le_put_u64(w, !running ? NO_TIME : t <= now_us ? now_us - t : 0);
}

/* An age back to a time on this clock; an age older than the clock is
 * clamped to its origin. */
static uint64_t from_age(uint64_t now_us, uint64_t age)
{
	return age > now_us ? 0 : now_us - age; /* mutation: equivalent [cmp-bound] (0) */
}

int protection_persist_encode(const struct protection *p, uint64_t now_us, uint8_t *buf, size_t cap)
{
	struct le_writer w = {.p = buf, .cap = cap};
	uint8_t g = 0;

	if (!p || !buf)
		return -EINVAL;
	if (cap < PERSIST_SIZE)
		return -ENOBUFS;
	g |= p->remote.known ? G_REMOTE_KNOWN : 0;
	g |= p->remote.on ? G_REMOTE_ON : 0;
	g |= p->prealarm_on ? G_PREALARM : 0;
	g |= p->drain_running ? G_DRAIN : 0;
	g |= p->poweroff_running ? G_POWEROFF : 0;
	le_put_u32(&w, PERSIST_MAGIC);
	le_put_u8(&w, PERSIST_VERSION);
	le_put_u8(&w, PROT_RULE_COUNT);
	le_put_u8(&w, p->start);
	le_put_u8(&w, g);
	put_age(&w, now_us, p->prealarm_on, p->prealarm_since_us);
	put_age(&w, now_us, p->drain_running, p->drain_since_us);
	put_age(&w, now_us, p->poweroff_running, p->poweroff_since_us);
	put_age(&w, now_us, true, p->atd_since_us);
	put_age(&w, now_us, true, p->atc_since_us);
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		const struct protection_rule_state *st = &p->rule[i];
		uint8_t f = (st->latched ? R_LATCHED : 0) | (st->release_running ? R_RELEASE : 0) |
		            (st->lead_wait ? R_LEAD : 0);

		le_put_u8(&w, st->phase);
		le_put_u8(&w, f);
		le_put_u8(&w, st->n_chatter);
		put_age(&w, now_us, st->phase != PROT_PH_CLEAR, st->trip_start_us);
		put_age(&w, now_us, st->phase == PROT_PH_TRIPPED, st->tripped_since_us);
		put_age(&w, now_us, st->release_running, st->release_start_us);
		for (unsigned c = 0; c < PROT_CHATTER_COUNT - 1; c++)
			put_age(&w, now_us, c < st->n_chatter, st->chatter_us[c]);
		le_put_u32(&w, st->sync_count_at_trip);
		le_put_u32(&w, (uint32_t)st->reading.value);
		le_put_u16(&w, (uint16_t)st->reading.battery);
		le_put_u16(&w, (uint16_t)st->reading.index);
	}
	le_put_u8(&w, p->fresh_n);
	le_put_u64(&w, p->fresh_mask);
	return (int)w.len;
}

int protection_persist_check(const uint8_t *buf, size_t len)
{
	struct le_reader r = {.p = buf, .len = len};
	uint8_t start, g, version, r_all;

	/* mutation: equivalent [cond-drop (len != PERSIST_SIZE && len != PERSIST_V1_SIZE)]
	 * because the version check below pairs each version with its length
	 * again (the reader gives 0 past the end). */
	if (!buf || (len != PERSIST_SIZE && len != PERSIST_V1_SIZE))
		return -EBADMSG;
	if (le_get_u32(&r) != PERSIST_MAGIC)
		return -EBADMSG;
	version = le_get_u8(&r);
	if (!(version == PERSIST_VERSION && len == PERSIST_SIZE) &&
	    !(version == 1 && len == PERSIST_V1_SIZE))
		return -EBADMSG;
	r_all = version == 1 ? R_ALL_V1 : R_ALL;
	if (le_get_u8(&r) != PROT_RULE_COUNT)
		return -EBADMSG;
	start = le_get_u8(&r);
	g = le_get_u8(&r);
	if (start > PROT_START_RUNNING || (g & ~G_ALL))
		return -ERANGE;
	le_skip(&r, 5 * 8);
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		uint8_t phase = le_get_u8(&r), f = le_get_u8(&r), n = le_get_u8(&r);
		int16_t bat, idx;

		if (phase > PROT_PH_TRIPPED || (f & ~r_all) || n > PROT_CHATTER_COUNT - 1)
			return -ERANGE;
		le_skip(&r, 5 * 8 + 4 + 4);
		bat = (int16_t)le_get_u16(&r);
		idx = (int16_t)le_get_u16(&r);
		if (bat < -1 || bat >= PROTECTION_MAX_BATTERIES || idx < -1 ||
		    idx >= PROTECTION_MAX_CELLS)
			return -ERANGE;
	}
	/* mutation: equivalent [if 1] because a version-1 record has no tail:
	 * the reader gives 0 past its end, and a zero tail is valid. */
	if (version == PERSIST_VERSION) {
		uint8_t fresh_n = le_get_u8(&r);
		uint64_t mask = le_get_u64(&r);

		/* mutation: equivalent [const 64->63, const 64->65, cmp-bound fresh_n <= 64,
		 * cond-drop fresh_n < 64]
		 * because fresh_n is at most PROTECTION_MAX_BATTERIES (50) here: the
		 * guard of the shift holds for 63, 64 and 65 alike. */
		if (fresh_n > PROTECTION_MAX_BATTERIES || (fresh_n < 64 && (mask >> fresh_n) != 0))
			return -ERANGE;
	}
	return 0;
}

int protection_persist_apply(struct protection *p, uint64_t now_us, const uint8_t *buf, size_t len,
                             bool adopted)
{
	const struct protection_rule *rules = protection_rules();
	struct le_reader r = {.p = buf, .len = len};
	struct protection n;
	uint8_t g;
	int ret;

	if (!p)
		return -EINVAL;
	ret = protection_persist_check(buf, len);
	if (ret < 0)
		return ret;
	n = *p;
	le_skip(&r, 4 + 1 + 1);
	n.start = le_get_u8(&r);
	/* A restart never skips the wait for fresh data on ATC; only an
	 * instance that adopted the lines resumes, any other start is a cold
	 * start with the saved states (docs/protection.md section 4). */
	if (!adopted)
		n.start = PROT_START_COLD;
	else if (n.start == PROT_START_RUNNING)
		n.start = PROT_START_RESUMED;
	g = le_get_u8(&r);
	if (g & G_REMOTE_KNOWN)
		remote_restore(&n.remote, g & G_REMOTE_ON);
	n.prealarm_on = g & G_PREALARM;
	n.drain_running = g & G_DRAIN;
	n.poweroff_running = g & G_POWEROFF;
	n.prealarm_since_us = from_age(now_us, le_get_u64(&r));
	n.drain_since_us = from_age(now_us, le_get_u64(&r));
	n.poweroff_since_us = from_age(now_us, le_get_u64(&r));
	n.atd_since_us = from_age(now_us, le_get_u64(&r));
	n.atc_since_us = from_age(now_us, le_get_u64(&r));
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		struct protection_rule_state *st = &n.rule[i];
		uint8_t f;

		st->phase = le_get_u8(&r);
		f = le_get_u8(&r);
		st->latched = f & R_LATCHED;
		/* A release hold is seen again on this instance's fresh data. */
		st->release_running = false;
		st->lead_wait = f & R_LEAD;
		st->n_chatter = le_get_u8(&r);
		st->trip_start_us = from_age(now_us, le_get_u64(&r));
		st->tripped_since_us = from_age(now_us, le_get_u64(&r));
		st->release_start_us = from_age(now_us, le_get_u64(&r));
		for (unsigned c = 0; c < PROT_CHATTER_COUNT - 1; c++)
			st->chatter_us[c] = from_age(now_us, le_get_u64(&r));
		st->sync_count_at_trip = le_get_u32(&r);
		st->reading.value = (int32_t)le_get_u32(&r);
		st->reading.battery = (int16_t)le_get_u16(&r);
		st->reading.index = (int16_t)le_get_u16(&r);
		st->reading.unit = protection_quantity_unit(rules[i].trip_q);
	}
	n.resume_n = 0; /* mutation: equivalent [const] (an empty mask covers nothing) */
	/* mutation: equivalent [const] because with resume_n 0 (a version-1
	 * record) no bit of the mask is read (protection_view.c). */
	n.resume_mask = 0;
	/* mutation: equivalent [if 1] because the reader gives 0 past the end
	 * of a version-1 record: the same empty window. */
	if (len == PERSIST_SIZE) {
		n.resume_n = le_get_u8(&r);
		n.resume_mask = le_get_u64(&r);
	}
	n.resume_until_us = now_us + PROT_STALE_US;
	n.resume_open = 0;
	n.fresh_n = 0;
	n.fresh_mask = 0;
	n.soc_seen = false;
	/* Resumed: ATD keeps its saved state; ATC is held by the start-up rule.
	 * Cold start: both are held by the start-up rules. */
	n.atd_closed = n.start != PROT_START_COLD;
	n.atc_closed = n.start != PROT_START_COLD;
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		if (n.rule[i].phase != PROT_PH_TRIPPED)
			continue;
		if (rules[i].target & PROT_T_ATD)
			n.atd_closed = false;
		if (rules[i].target & PROT_T_ATC)
			n.atc_closed = false;
	}
	n.next_deadline_us = now_us;
	*p = n;
	return 0;
}

void protection_adopted_outputs(struct protection *p, bool atd_closed, bool atc_closed)
{
	/* Only a resumed instance has lines to believe; a cold start holds both
	 * outputs open anyway. */
	if (!p || p->start != PROT_START_RESUMED)
		return;
	p->resume_open = (uint8_t)((atd_closed ? 0 : PROT_T_ATD) | (atc_closed ? 0 : PROT_T_ATC));
	/* mutation: equivalent [const 0->1] because 0 and 1 us both lie before
	 * any step of a monotonic clock that has run since boot: step at once. */
	p->next_deadline_us = 0;
}
