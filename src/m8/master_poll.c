/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The poll cycle (m8bus.md section 7), re-joining and the request queue. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "m8/master_internal.h"

static bool stale_for_rejoin(const struct m8_battery *b, uint64_t now_us)
{
	return b->miss_cycles > 0 && now_us - b->ok_us >= M8_STALE_US;
}

static void status_failed(struct m8_master *m, struct m8_battery *b, bool cycle_poll,
                          uint64_t now_us)
{
	if (!cycle_poll)
		return;
	b->miss_cycles++;
	if (b->miss_cycles >= M8_LOST_CYCLES && !b->lost) {
		b->lost = true;
		b->probe_at_us = now_us + M8_PROBE_US;
		m8m_emit(m, M8_EV_LOST, (unsigned)(b - m->bat) + 1);
		m8m_update_chain(m);
	}
}

static void battery_answers(struct m8_master *m, struct m8_battery *b, uint64_t now_us)
{
	b->miss_cycles = 0;
	b->ok_us = now_us;
	if (b->lost) {
		b->lost = false;
		m8m_emit(m, M8_EV_FOUND, (unsigned)(b - m->bat) + 1);
		m8m_update_chain(m);
	}
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
		battery_answers(m, b, now_us);
		return false;
	}
	if (result == 0 && x->tries_left > 0) {
		/* A frame with a good CRC but a malformed STATUS: retry. */
		x->tries_left--;
		return true;
	}
	status_failed(m, b, x->kind == K_STATUS, now_us);
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

/* ASSIGN of an old address (brown-out) or of count + 1 (open chain). */
void m8m_assign_done(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us)
{
	struct xfer *x = &m->cur;
	struct m8_info info;
	unsigned addr = x->reply_addr;

	if (result == -ETIMEDOUT && !x->corrupt)
		return;
	m->ready_at_us = now_us + M8_ASSIGN_GAP_US;
	if (result != 0 || x->corrupt || m8_info_decode(&info, f->payload, f->len) < 0) {
		/* Some unaddressed battery answered garbled or refused: we
		 * cannot tell which one holds which address any more. */
		m->enum_requested = true;
		return;
	}
	if (x->kind == K_REJOIN) {
		struct m8_battery *b = m8m_bat_of(m, (uint8_t)addr);
		if (!b || strcmp(b->info.serial, info.serial) != 0) {
			m->enum_requested = true;
			return;
		}
		b->info = info;
		b->lost = true; /* answers() clears it and reports FOUND */
		battery_answers(m, b, now_us);
		/* The ones behind it may be reachable again: look at once. */
		for (unsigned i = 0; i < m->count; i++)
			if (m->bat[i].lost)
				m->bat[i].probe_at_us = now_us;
		m->rejoin_at_us = now_us;
		return;
	}
	if (m8m_serial_taken(m, info.serial, 0)) {
		m->enum_requested = true;
		return;
	}
	m8m_battery_join(m, addr, &info, now_us);
	m->extend_at_us = now_us;
	m8m_emit(m, M8_EV_FOUND, addr);
	m8m_update_chain(m);
}

static bool queue_pop_fitting(struct m8_master *m, struct xfer *x, uint64_t now_us,
                              uint64_t until_us)
{
	if (m->q_len == 0)
		return false;
	struct xfer *q = &m->queue[m->q_head];
	if (m->parked[q->target])
		return false;
	/* Request, worst reply delay and a short reply. */
	uint64_t est = M8_WIRE_US(M8_HEADER_LEN + M8_CRC_LEN + q->len) + 10000 +
	               M8_WIRE_US(M8_HEADER_LEN + M8_CRC_LEN + 8);
	if (now_us + est > until_us)
		return false;
	*x = *q;
	m->q_head = (m->q_head + 1) % QUEUE_LEN;
	m->q_len--;
	return true;
}

static bool cycle_polls(struct m8_master *m, struct xfer *x, uint64_t now_us)
{
	if (now_us - m->cy.start_us >= M8_CYCLE_MAX_US && m->count > 0) {
		/* Out of time: the rest go first next cycle. */
		m->cy.start_idx = (m->cy.start_idx + m->cy.pos) % m->count;
		m->cy.pos = m->count;
	}
	while (m->cy.pos < m->count) {
		unsigned idx = (m->cy.start_idx + m->cy.pos) % m->count;
		struct m8_battery *b = &m->bat[idx];
		m->cy.pos++;
		if (m->parked[idx + 1])
			continue;
		if (!b->lost) {
			m8m_make_xfer(x, K_STATUS, (uint8_t)(idx + 1), M8_CMD_GET_STATUS, 1);
			return true;
		}
		if (now_us >= b->probe_at_us) {
			b->probe_at_us = now_us + M8_PROBE_US;
			m8m_make_xfer(x, K_PROBE, (uint8_t)(idx + 1), M8_CMD_GET_STATUS, 0);
			return true;
		}
	}
	return false;
}

static bool cycle_extras(struct m8_master *m, struct xfer *x, uint64_t now_us)
{
	if (!m->cy.info_done) {
		m->cy.info_done = true;
		for (unsigned k = 0; k < m->count; k++) {
			unsigned i = (m->info_turn + k) % m->count;
			if (m->bat[i].lost || m->parked[i + 1])
				continue;
			m->info_turn = i + 1;
			m8m_make_xfer(x, K_INFO, (uint8_t)(i + 1), M8_CMD_GET_INFO, 1);
			return true;
		}
	}
	if (!m->cy.rejoin_done) {
		m->cy.rejoin_done = true;
		if (now_us >= m->rejoin_at_us) {
			for (unsigned i = 0; i < m->count; i++) {
				if (!stale_for_rejoin(&m->bat[i], now_us))
					continue;
				m->rejoin_at_us = now_us + M8_REJOIN_US;
				m8m_make_assign(x, K_REJOIN, (uint8_t)(i + 1));
				return true;
			}
		}
	}
	if (!m->cy.extend_done) {
		m->cy.extend_done = true;
		bool any_stale = false;
		for (unsigned i = 0; i < m->count; i++)
			any_stale |= m->bat[i].miss_cycles > 0;
		if (m->chain_open && !any_stale && m->count < M8_ADDR_MAX &&
		    now_us >= m->extend_at_us) {
			m->extend_at_us = now_us + M8_PROBE_US;
			m8m_make_assign(x, K_EXTEND, (uint8_t)(m->count + 1));
			return true;
		}
	}
	return false;
}

bool m8m_run_next(struct m8_master *m, struct xfer *x, uint64_t now_us)
{
	if (!m->cy.active && now_us >= m->cy.next_at_us) {
		m->cy.polls_done = m->cy.info_done = m->cy.rejoin_done = m->cy.extend_done = false;
		m->cy.active = true;
		m->cy.start_us = now_us;
		m->cy.pos = 0;
	}
	if (m->cy.active) {
		if (!m->cy.polls_done) {
			if (cycle_polls(m, x, now_us))
				return true;
			m->cy.polls_done = true;
			m->last_cycle_us = now_us - m->cy.start_us;
		}
		if (cycle_extras(m, x, now_us))
			return true;
		m->cy.active = false;
		m->cycles++;
		m->cy.next_at_us = m->cy.start_us + m->cycle_period_us;
	}
	/* Firmware blocks and other queued requests use the time left. */
	if (queue_pop_fitting(m, x, now_us, m->cy.next_at_us))
		return true;
	m->wake_us = m->cy.next_at_us;
	return false;
}
