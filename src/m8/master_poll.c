/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The poll cycle (docs/m8bus.md section 7), re-joining and the request queue. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "m8/master_internal.h"

static bool stale_for_rejoin(const struct m8_battery *b, uint64_t now_us)
{
	return b->miss_cycles > 0 && now_us - b->ok_us >= M8_STALE_US;
}

/* It answered, if only with a corrupted frame, a NAK or a malformed STATUS:
 * not a missed cycle (docs/m8bus.md section 7 demotes an *unanswered* battery). Its
 * data still ages from its last valid STATUS. */
static void battery_heard(struct m8_master *m, struct m8_battery *b)
{
	b->miss_cycles = 0;
	if (b->lost) {
		b->lost = false;
		m8m_emit(m, M8_EV_FOUND, (unsigned)(b - m->bat) + 1);
		m8m_update_chain(m);
	}
}

static void status_failed(struct m8_master *m, struct m8_battery *b, const struct xfer *x,
                          uint64_t now_us)
{
	if (x->corrupt || x->answered) {
		battery_heard(m, b);
		return;
	}
	if (x->kind != K_STATUS)
		return;
	b->miss_cycles++;
	/* Two cycles running, and at least M8_LOST_MIN_US of silence: with
	 * cycles of 100 ms a glitch of a few tenths of a second must not send
	 * a battery to the 5 s probe and so make it stale (docs/decisions.md). */
	if (b->miss_cycles >= M8_LOST_CYCLES && now_us - b->ok_us >= M8_LOST_MIN_US && !b->lost) {
		b->lost = true;
		b->probe_at_us = now_us + M8_PROBE_US;
		m8m_emit(m, M8_EV_LOST, (unsigned)(b - m->bat) + 1);
		m8m_update_chain(m);
	}
}

static void battery_answers(struct m8_master *m, struct m8_battery *b, uint64_t now_us)
{
	b->ok_us = now_us;
	battery_heard(m, b);
}

/* Returns true when the transaction is to be sent again instead. */
bool m8m_status_done(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us)
{
	struct xfer *x = &m->cur;
	struct m8_battery *b = m8m_bat_of(m, x->target);
	struct m8_status st;

	if (!b)
		return false;
	if (result == 0 && m8_status_decode(&st, f->payload, f->len) == 0) {
		b->status = st;
		b->has_status = true;
		b->status_us = now_us;
		m->statuses++;
		battery_answers(m, b, now_us);
		return false;
	}
	if (result == 0 && x->tries_left > 0) {
		/* A frame with a good CRC but a malformed STATUS: retry. */
		x->tries_left--;
		return true;
	}
	status_failed(m, b, x, now_us);
	return false;
}

void m8m_info_done(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us)
{
	struct m8_battery *b = m8m_bat_of(m, m->cur.target);
	struct m8_info info;
	unsigned addr = m->cur.target;

	if (!b || result != 0 || m8_info_decode(&info, f->payload, f->len) < 0)
		return;
	bool replaced = strcmp(info.serial, b->info.serial) != 0;
	b->info = info;
	if (replaced) {
		if (m8m_serial_taken(m, info.serial, addr)) {
			m->enum_requested = true;
			return;
		}
		m8m_emit(m, M8_EV_REPLACED, addr);
	}
	m8m_update_chain(m);
}

/* The batteries behind one that came back may be reachable again. */
static void look_behind(struct m8_master *m, uint64_t now_us)
{
	for (unsigned i = 0; i < m->count; i++)
		if (m->bat[i].lost)
			m->bat[i].probe_at_us = now_us;
	m->rejoin_at_us = now_us;
}

static void rejoin_answer(struct m8_master *m, unsigned addr, const struct m8_info *info,
                          uint64_t now_us)
{
	struct m8_battery *b = m8m_bat_of(m, (uint8_t)addr);
	if (!b)
		return;
	if (strcmp(b->info.serial, info->serial) == 0) {
		b->info = *info;
		b->lost = true; /* answers() clears it and reports FOUND */
		battery_answers(m, b, now_us);
		look_behind(m, now_us);
		return;
	}
	/* A serial number seen twice: enumerate again (docs/m8bus.md 3 step 4). */
	if (m8m_serial_taken(m, info->serial, addr)) {
		m->enum_requested = true;
		return;
	}
	/* Another battery took the address: not the one we had, so none of
	 * its data carries over. It is a new battery at that address, as if
	 * the GET_INFO turn had found the swap, and counts from its own
	 * first valid STATUS (docs/decisions.md). */
	m8m_battery_join(m, addr, info, now_us);
	m8m_emit(m, M8_EV_REPLACED, addr);
	m8m_update_chain(m);
	look_behind(m, now_us);
}

/*
 * The answer to an ASSIGN of an old address (brown-out) or of count + 1
 * (open chain), or to the GET_INFO that asks who took that address after a
 * garbled answer. Nothing here RESETs the bank (docs/m8bus.md section 3 allows
 * that only at a cold start, on the installer's command, or at step 4):
 * unanswered, refused or garbled, the ASSIGN is simply tried again at the
 * re-join (2 s) or extension (5 s) pace.
 */
void m8m_assign_done(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us)
{
	struct xfer *x = &m->cur;
	bool rejoin = x->kind == K_REJOIN || x->kind == K_REJOIN_INFO;
	bool asked = x->kind == K_REJOIN_INFO || x->kind == K_EXTEND_INFO;
	unsigned addr = x->reply_addr;
	struct m8_info info;

	if (result == -ETIMEDOUT && !x->corrupt)
		return;
	m->ready_at_us = now_us + M8_ASSIGN_GAP_US;
	if (result == -EREMOTEIO)
		return; /* refused: it stays unaddressed */
	if (result != 0 || m8_info_decode(&info, f->payload, f->len) < 0) {
		/* A garbled answer: the battery may have taken the address
		 * all the same. Ask who holds it, once (step 3's GET_INFO). */
		if (!asked) {
			m8m_make_xfer(&m->pending, rejoin ? K_REJOIN_INFO : K_EXTEND_INFO,
			              (uint8_t)addr, M8_CMD_GET_INFO, 0);
			m->have_pending = true;
		}
		return;
	}
	if (rejoin) {
		rejoin_answer(m, addr, &info, now_us);
		return;
	}
	/* A serial number seen twice: enumerate again (docs/m8bus.md 3 step 4). */
	if (m8m_serial_taken(m, info.serial, 0)) {
		m->enum_requested = true;
		return;
	}
	m8m_battery_join(m, addr, &info, now_us);
	m->extend_at_us = now_us;
	m8m_emit(m, M8_EV_FOUND, addr);
	m8m_update_chain(m);
}

/* Firmware blocks and other queued requests use the time left. */
static bool queue_pop_fitting(struct m8_master *m, struct xfer *x, uint64_t now_us)
{
	if (m->q_len == 0)
		return false;
	struct xfer *q = &m->queue[m->q_head];
	if (m->parked[q->target] || !m8m_fits(m, q, now_us, 0))
		return false;
	*x = *q;
	m->q_head = (m->q_head + 1) % QUEUE_LEN;
	m->q_len--;
	return true;
}

static bool rejoin_due(const struct m8_master *m, uint64_t now_us)
{
	if (now_us < m->rejoin_at_us)
		return false;
	for (unsigned i = 0; i < m->count; i++)
		if (stale_for_rejoin(&m->bat[i], now_us))
			return true;
	return false;
}

static bool extend_due(const struct m8_master *m, uint64_t now_us)
{
	if (!m->chain_open || m->count >= M8_ADDR_MAX || now_us < m->extend_at_us)
		return false;
	for (unsigned i = 0; i < m->count; i++)
		if (m->bat[i].miss_cycles > 0)
			return false;
	return true;
}

/* The time the polls leave for the cycle's GET_INFO and a due ASSIGN. */
static uint64_t extras_reserve_us(const struct m8_master *m, uint64_t now_us)
{
	uint64_t r = m8m_worst_us(0);
	if (rejoin_due(m, now_us) || extend_due(m, now_us))
		r += M8_ASSIGN_GAP_US + m8m_worst_us(1);
	return r;
}

static bool cycle_polls(struct m8_master *m, struct xfer *x, uint64_t now_us)
{
	uint64_t reserve = extras_reserve_us(m, now_us);
	while (m->cy.pos < m->count) {
		unsigned idx = (m->cy.start_idx + m->cy.pos) % m->count;
		struct m8_battery *b = &m->bat[idx];
		if (m->parked[idx + 1] || (b->lost && now_us < b->probe_at_us)) {
			m->cy.pos++;
			continue;
		}
		if (b->lost)
			m8m_make_xfer(x, K_PROBE, (uint8_t)(idx + 1), M8_CMD_GET_STATUS, 0);
		else
			m8m_make_xfer(x, K_STATUS, (uint8_t)(idx + 1), M8_CMD_GET_STATUS, 1);
		if (!m8m_fits(m, x, now_us, reserve)) {
			/* Out of time: the rest go first next cycle. */
			m->cy.start_idx = idx;
			m->cy.pos = m->count;
			return false;
		}
		m->cy.pos++;
		if (b->lost)
			b->probe_at_us = now_us + M8_PROBE_US;
		return true;
	}
	return false;
}

/* Each of the cycle's extras goes out only if it fits; else next cycle. */
static bool cycle_extras(struct m8_master *m, struct xfer *x, uint64_t now_us)
{
	if (!m->cy.info_done) {
		m->cy.info_done = true;
		for (unsigned k = 0; k < m->count; k++) {
			unsigned i = (m->info_turn + k) % m->count;
			if (m->bat[i].lost || m->parked[i + 1])
				continue;
			m8m_make_xfer(x, K_INFO, (uint8_t)(i + 1), M8_CMD_GET_INFO, 1);
			if (!m8m_fits(m, x, now_us, 0))
				break;
			m->info_turn = i + 1;
			return true;
		}
	}
	if (!m->cy.rejoin_done) {
		m->cy.rejoin_done = true;
		for (unsigned i = 0; rejoin_due(m, now_us) && i < m->count; i++) {
			if (!stale_for_rejoin(&m->bat[i], now_us))
				continue;
			m8m_make_assign(x, K_REJOIN, (uint8_t)(i + 1));
			if (!m8m_fits(m, x, now_us, 0))
				break;
			m->rejoin_at_us = now_us + M8_REJOIN_US;
			return true;
		}
	}
	if (!m->cy.extend_done) {
		m->cy.extend_done = true;
		if (extend_due(m, now_us)) {
			m8m_make_assign(x, K_EXTEND, (uint8_t)(m->count + 1));
			if (m8m_fits(m, x, now_us, 0)) {
				m->extend_at_us = now_us + M8_PROBE_US;
				return true;
			}
		}
	}
	return false;
}

/*
 * A cycle starts as soon as the previous one is over (its polls, its extras
 * and its turn of the queue), but not sooner than the minimum period after
 * the previous start; all of its traffic is over within 1.0 s of its start.
 */
void m8m_cycle_begin_if_due(struct m8_master *m, uint64_t now_us)
{
	if (m->phase != PH_RUN || m->cy.active || now_us < m->cy.next_at_us)
		return;
	m->cy.polls_done = m->cy.info_done = m->cy.rejoin_done = m->cy.extend_done = false;
	m->cy.queue_done = false;
	m->cy.active = true;
	if (m->cy.start_us && now_us > m->cy.start_us)
		m->last_period_us = now_us - m->cy.start_us;
	m->cy.start_us = now_us;
	m->cy.pos = 0;
	m->cy.next_at_us = now_us + m->cycle_period_us;
	m->cy.limit_us = now_us + M8_CYCLE_MAX_US;
}

uint64_t m8m_cycle_left_us(const struct m8_master *m, uint64_t now_us)
{
	uint64_t limit = m8m_run_limit_us(m);

	if (limit == NO_DEADLINE)
		return 0;
	return limit > now_us ? limit - now_us : 0;
}

uint64_t m8m_run_limit_us(const struct m8_master *m)
{
	if (m->phase != PH_RUN)
		return NO_DEADLINE;
	if (m->cy.active)
		return m->cy.limit_us;
	/* between cycles: up to the next one's earliest start (the minimum
	 * period), within the last one's bound */
	return m->cy.next_at_us < m->cy.limit_us ? m->cy.next_at_us : m->cy.limit_us;
}

void m8m_unsent(struct m8_master *m, const struct xfer *x, uint64_t now_us)
{
	struct m8_battery *b = m8m_bat_of(m, x->target);
	switch (x->kind) {
	case K_STATUS:
	case K_PROBE:
		/* first in the next cycle */
		if (b)
			b->probe_at_us = now_us;
		if (b && m->cy.active) {
			m->cy.start_idx = x->target - 1;
			m->cy.pos = m->count;
		}
		break;
	case K_INFO:
		m->info_turn = x->target - 1;
		break;
	case K_REJOIN:
	case K_REJOIN_INFO:
		m->rejoin_at_us = now_us;
		break;
	case K_EXTEND:
	case K_EXTEND_INFO:
		m->extend_at_us = now_us;
		break;
	case K_USER:
		if (!m8m_requeue_front(m, x) && x->cb)
			x->cb(x->cb_userdata, -ETIMEDOUT, NULL);
		break;
	default:
		break;
	}
}

bool m8m_run_next(struct m8_master *m, struct xfer *x, uint64_t now_us)
{
	m8m_cycle_begin_if_due(m, now_us);
	if (m->cy.active) {
		if (!m->cy.polls_done) {
			if (cycle_polls(m, x, now_us))
				return true;
			m->cy.polls_done = true;
			m->last_cycle_us = now_us - m->cy.start_us;
		}
		if (cycle_extras(m, x, now_us))
			return true;
		/* The queue's turn: one request within the cycle's bound, so that
		 * back-to-back cycles never starve it; more go out in the time
		 * left before the next cycle may start. */
		if (!m->cy.queue_done) {
			m->cy.queue_done = true;
			if (queue_pop_fitting(m, x, now_us))
				return true;
		}
		m->cy.active = false;
		m->cycles++;
	}
	if (queue_pop_fitting(m, x, now_us))
		return true;
	m->wake_us = m->cy.next_at_us;
	return false;
}

/* ---- the cycle's bound (docs/m8bus.md section 7) ---- */

uint64_t m8m_worst_us(uint8_t payload_len)
{
	return M8_WIRE_US(M8_HEADER_LEN + M8_CRC_LEN + payload_len) + M8_REPLY_TIMEOUT_US +
	       M8_WIRE_US(M8_MAX_FRAME) + M8_IDLE_GAP_US;
}

uint64_t m8m_send_at(const struct m8_master *m, const struct xfer *x)
{
	if (x->cmd == M8_CMD_ASSIGN)
		return m->last_rx_us + M8_ASSIGN_GAP_US;
	return 0;
}

bool m8m_fits(const struct m8_master *m, const struct xfer *x, uint64_t now_us, uint64_t extra_us)
{
	uint64_t limit = m8m_run_limit_us(m);
	if (limit == NO_DEADLINE)
		return true;
	uint64_t at = max_u64(now_us, m8m_send_at(m, x));
	return at + m8m_worst_us(x->len) + extra_us <= limit;
}

bool m8m_requeue_front(struct m8_master *m, const struct xfer *x)
{
	if (m->q_len >= QUEUE_LEN)
		return false;
	m->q_head = (m->q_head + QUEUE_LEN - 1) % QUEUE_LEN;
	m->queue[m->q_head] = *x;
	m->q_len++;
	return true;
}
