/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Enumeration of the bank (docs/m8bus.md section 3). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "m8/master_internal.h"

void m8m_enum_start(struct m8_master *m, uint64_t now_us)
{
	m8m_cancel_all(m);
	if (m->enumerated && !m->en.old_valid) {
		m->en.old_valid = true;
		m->en.old_count = m->count;
		memcpy(m->en.old, m->bat, sizeof(m->bat));
	}
	m->phase = PH_ENUM;
	m->enumerated = false;
	m->count = 0;
	memset(m->bat, 0, sizeof(m->bat));
	m->en.step = EN_RESET;
	m->en.resets = 0;
	m->en.n = 1;
	m->en.silent = 0;
	m->en.next_at_us = now_us;
}

static void enum_fail(struct m8_master *m, uint64_t now_us)
{
	m->enum_failures++;
	m->dirty = true;
	m8m_emit(m, M8_EV_ENUM_FAILED, m->enum_failures);
	if (m->enum_failures >= M8_ENUM_MAX_FAILS) {
		m->enum_failed = true;
		m->count = 0;
		m->phase = PH_BACKOFF;
		m->enum_retry_at_us = now_us + M8_ENUM_RETRY_US;
		return;
	}
	m8m_enum_start(m, now_us);
}

static void enum_success(struct m8_master *m, uint64_t now_us)
{
	unsigned old_count = m->en.old_valid ? m->en.old_count : 0;
	unsigned top = old_count > m->count ? old_count : m->count;

	m->phase = PH_RUN;
	m->enumerated = true;
	m->enum_failed = false;
	m->enum_failures = 0;
	m->cy.active = false;
	m->cy.next_at_us = now_us;
	m->cy.start_idx = 0;
	m->info_turn = 0;
	m->rejoin_at_us = now_us;
	m->extend_at_us = now_us + M8_PROBE_US;

	m8m_emit(m, M8_EV_ENUMERATED, m->count);
	for (unsigned a = 1; a <= top; a++) {
		bool had = a <= old_count, has = a <= m->count;
		if (had && has &&
		    strcmp(m->en.old[a - 1].info.serial, m->bat[a - 1].info.serial) != 0)
			m8m_emit(m, M8_EV_REPLACED, a);
		else if (!had && has)
			m8m_emit(m, M8_EV_FOUND, a);
		else if (had && !has)
			m8m_emit(m, M8_EV_LOST, a);
	}
	m->en.old_valid = false;
	m8m_update_chain(m);
}

/*
 * A battery that missed the RESET keeps its old address, relays, and the
 * next unaddressed battery takes the same address from ASSIGN: nothing in
 * steps 2-4 then hears two replies at once. One GET_INFO to every address
 * makes such a pair collide (a corrupted reply: enumerate again), which the
 * spec's own rule then catches before any STATUS is trusted.
 */
static void enum_verify_start(struct m8_master *m, uint64_t now_us)
{
	m->en.step = EN_VERIFY;
	m->en.verify = 1;
	if (m->count == 0)
		enum_success(m, now_us);
}

/* A reply to ASSIGN n or GET_INFO n during enumeration. */
static void enum_got_info(struct m8_master *m, const struct m8_frame *f, uint64_t now_us)
{
	struct m8_info info;
	unsigned n = m->en.n;

	if (m8_info_decode(&info, f->payload, f->len) < 0 || m8m_serial_taken(m, info.serial, 0)) {
		enum_fail(m, now_us);
		return;
	}
	m8m_battery_join(m, n, &info, now_us);
	m->en.next_at_us = now_us + M8_ASSIGN_GAP_US;
	if (info.flags & M8_INFO_CHAIN_END) {
		m->chain_open = false;
		m->en.step = EN_CHECK;
	} else if (n >= M8_ADDR_MAX) {
		m->chain_open = true;
		m->en.step = EN_CHECK;
	} else {
		m->en.n = n + 1;
		m->en.silent = 0;
		m->en.step = EN_ASSIGN;
	}
}

void m8m_enum_done(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us)
{
	struct xfer *x = &m->cur;

	if (x->kind == K_ENUM_CHECK) {
		/* Anyone answering address n + 1 missed the RESET. */
		if (result == -ETIMEDOUT && !x->corrupt)
			enum_verify_start(m, now_us);
		else
			enum_fail(m, now_us);
		return;
	}
	if (x->kind == K_ENUM_VERIFY) {
		struct m8_info info;
		if (result != 0 || x->corrupt || m8_info_decode(&info, f->payload, f->len) < 0 ||
		    strcmp(info.serial, m->bat[m->en.verify - 1].info.serial) != 0) {
			enum_fail(m, now_us);
			return;
		}
		m->bat[m->en.verify - 1].info = info;
		if (++m->en.verify > m->count)
			enum_success(m, now_us);
		return;
	}
	if (x->corrupt || result == -EREMOTEIO) {
		enum_fail(m, now_us);
		return;
	}
	if (result == 0) {
		enum_got_info(m, f, now_us);
		return;
	}
	if (x->kind == K_ENUM_ASSIGN) {
		/* The reply may be lost while the battery took the address. */
		m->en.step = EN_INFO;
		return;
	}
	if (++m->en.silent >= M8_ENUM_MAX_SILENT) {
		m->count = m->en.n - 1;
		m->chain_open = true;
		m->en.step = EN_CHECK;
		return;
	}
	m->en.step = EN_ASSIGN;
}

/* RESETs go out 20 ms apart and the first ASSIGN 100 ms after the last, timed
 * from when each really went out (sent_us) and ended (end_us). */
void m8m_enum_reset_sent(struct m8_master *m, uint64_t sent_us, uint64_t end_us)
{
	if (m->phase != PH_ENUM)
		return;
	if (m->en.resets < 3)
		m->en.next_at_us = sent_us + M8_RESET_SPACING_US;
	else
		m->en.next_at_us = end_us + M8_RESET_SETTLE_US;
}

bool m8m_enum_next(struct m8_master *m, struct xfer *x, uint64_t now_us)
{
	if (m->n_parked > 0) {
		m->wake_us = m8m_earliest_park_us(m);
		return false;
	}
	if (now_us < m->en.next_at_us) {
		m->wake_us = m->en.next_at_us;
		return false;
	}
	switch (m->en.step) {
	case EN_RESET:
		/* the spacing is set once it is out (m8m_enum_reset_sent) */
		m8m_make_xfer(x, K_RESET, M8_ADDR_BROADCAST, M8_CMD_RESET, 0);
		x->target = 0;
		m->en.next_at_us = NO_DEADLINE;
		if (++m->en.resets >= 3)
			m->en.step = EN_ASSIGN;
		return true;
	case EN_ASSIGN:
		m8m_make_assign(x, K_ENUM_ASSIGN, (uint8_t)m->en.n);
		return true;
	case EN_INFO:
		m8m_make_xfer(x, K_ENUM_INFO, (uint8_t)m->en.n, M8_CMD_GET_INFO, 0);
		return true;
	case EN_CHECK:
		if (m->count + 1 > M8_ADDR_MAX) {
			enum_verify_start(m, now_us);
			m->wake_us = now_us;
			return false;
		}
		m8m_make_xfer(x, K_ENUM_CHECK, (uint8_t)(m->count + 1), M8_CMD_GET_INFO, 0);
		x->target = 0;
		return true;
	case EN_VERIFY:
		m8m_make_xfer(x, K_ENUM_VERIFY, (uint8_t)m->en.verify, M8_CMD_GET_INFO, 1);
		return true;
	}
	return false;
}
