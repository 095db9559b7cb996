/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The bus master engine: the bank bookkeeping shared by the other files, the
 * scheduler that drives the link (master_link.c) and asks master_enum.c and
 * master_poll.c for the next request, and the public calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "m8/master_internal.h"

void m8m_emit(struct m8_master *m, enum m8_event_type ev, unsigned addr)
{
	if (m->on_event)
		m->on_event(m->userdata, ev, addr);
}

struct m8_battery *m8m_bat_of(struct m8_master *m, uint8_t addr)
{
	if (addr < M8_ADDR_MIN || addr > m->count)
		return NULL;
	return &m->bat[addr - 1];
}

void m8m_cancel_xfer(struct xfer *x)
{
	if (x->kind == K_USER && x->cb)
		x->cb(x->cb_userdata, -ECANCELED, NULL);
}

/* Drops every request in flight or waiting: the port or the bank changed. */
void m8m_cancel_all(struct m8_master *m)
{
	if (m->have_cur)
		m8m_cancel_xfer(&m->cur);
	m->have_cur = false;
	m->resend = false;
	if (m->have_pending)
		m8m_cancel_xfer(&m->pending);
	m->have_pending = false;
	for (unsigned i = 0; i <= M8_ADDR_MAX; i++) {
		if (m->parked[i])
			m8m_cancel_xfer(&m->park[i]);
		m->parked[i] = false;
	}
	m->n_parked = 0;
	while (m->q_len > 0) {
		struct xfer *x = &m->queue[m->q_head];
		m->q_head = (m->q_head + 1) % QUEUE_LEN;
		m->q_len--;
		m8m_cancel_xfer(x);
	}
}

static bool chain_end_seen(const struct m8_master *m)
{
	for (unsigned i = 0; i < m->count; i++)
		if ((m->bat[i].info.flags & M8_INFO_CHAIN_END) && !m->bat[i].lost)
			return true;
	return false;
}

void m8m_update_chain(struct m8_master *m)
{
	bool open = !chain_end_seen(m);
	if (open != m->chain_open) {
		m->chain_open = open;
		m8m_emit(m, M8_EV_CHAIN, open);
	}
}

bool m8m_serial_taken(const struct m8_master *m, const char *serial, unsigned except_addr)
{
	for (unsigned i = 0; i < m->count; i++)
		if (i + 1 != except_addr && strcmp(m->bat[i].info.serial, serial) == 0)
			return true;
	return false;
}

void m8m_battery_join(struct m8_master *m, unsigned addr, const struct m8_info *info,
                      uint64_t now_us)
{
	struct m8_battery *b = &m->bat[addr - 1];
	memset(b, 0, sizeof(*b));
	b->info = *info;
	b->ok_us = now_us;
	if (addr > m->count)
		m->count = addr;
}

static unsigned earliest_park(const struct m8_master *m)
{
	unsigned best = 0;
	uint64_t at = NO_DEADLINE;
	for (unsigned i = 0; i <= M8_ADDR_MAX; i++)
		if (m->parked[i] && m->park_at_us[i] < at) {
			at = m->park_at_us[i];
			best = i;
		}
	return best;
}

uint64_t m8m_earliest_park_us(const struct m8_master *m)
{
	return m->n_parked > 0 ? m->park_at_us[earliest_park(m)] : NO_DEADLINE;
}

/* ---- scheduling ---- */

void m8m_make_xfer(struct xfer *x, enum xfer_kind kind, uint8_t addr, uint8_t cmd,
                   unsigned tries_left)
{
	memset(x, 0, sizeof(*x));
	x->kind = kind;
	x->addr = addr;
	x->reply_addr = addr;
	x->cmd = cmd;
	x->tries_left = tries_left;
	x->target = addr <= M8_ADDR_MAX ? addr : 0;
}

void m8m_make_assign(struct xfer *x, enum xfer_kind kind, uint8_t n)
{
	m8m_make_xfer(x, kind, M8_ADDR_UNADDRESSED, M8_CMD_ASSIGN, 0);
	x->reply_addr = n;
	x->target = n;
	x->len = 1;
	x->payload[0] = n;
}

static bool schedule(struct m8_master *m, struct xfer *x, uint64_t now_us)
{
	m->wake_us = NO_DEADLINE;
	switch (m->phase) {
	case PH_BACKOFF:
		if (now_us < m->enum_retry_at_us) {
			m->wake_us = m->enum_retry_at_us;
			return false;
		}
		m8m_enum_start(m, now_us);
		return m8m_enum_next(m, x, now_us);
	case PH_ENUM:
		return m8m_enum_next(m, x, now_us);
	case PH_RUN:
		return m8m_run_next(m, x, now_us);
	case PH_CLOSED:
		break;
	}
	return false;
}

static void try_open(struct m8_master *m, uint64_t now_us)
{
	int fd = m->ops->open(m->userdata, m->path);
	if (fd < 0) {
		m->open_error = fd;
		m->reopen_at_us = now_us + M8_REOPEN_US;
		return;
	}
	m->fd = fd;
	m->open_error = 0;
	m->io = IO_IDLE;
	m->dirty = false;
	m->resend = false;
	m->ready_at_us = now_us;
	m->parser.have = 0;
	m->last_rx_us = now_us;
	m8m_emit(m, M8_EV_PORT, 1);
	/* Batteries keep their addresses while the port is away: no RESET
	 * unless the bank was never enumerated (a cold start). */
	if (m->phase == PH_RUN && m->enumerated) {
		m->cy.active = false;
		m->cy.next_at_us = now_us;
	} else if (m->phase != PH_BACKOFF) {
		m8m_enum_start(m, now_us);
	}
}

/* A retry that no longer fits in the cycle: the try before it stands. */
static void retry_out_of_time(struct m8_master *m, uint64_t now_us)
{
	m->resend = false;
	if (m->cur.kind == K_USER && m8m_requeue_front(m, &m->cur)) {
		m->have_cur = false;
		return;
	}
	m8m_complete(m, -ETIMEDOUT, NULL, now_us);
}

static void step(struct m8_master *m, uint64_t now_us)
{
	now_us = m8m_port_time(m, now_us);
	/* Bounded: each pass sends a request or waits for something. */
	for (int guard = 0; guard < 256; guard++) {
		now_us = max_u64(now_us, m->clock_us);
		if (m->fd < 0) {
			if (now_us < m->reopen_at_us)
				return;
			try_open(m, now_us);
			if (m->fd < 0)
				return;
		}
		switch (m->io) {
		case IO_WAIT: {
			bool idle_due = m8_parser_busy(&m->parser) &&
			                now_us >= m->last_rx_us + M8_IDLE_GAP_US;
			if (now_us < m->wait_until_us && !idle_due)
				return;
			if (m8m_drain_first(m, now_us))
				continue;
			if (idle_due)
				m8_parser_idle(&m->parser);
			if (now_us >= m->wait_until_us)
				m8m_on_wait_timeout(m, now_us);
			continue;
		}
		case IO_GAP:
			if (now_us < m->gap_until_us)
				return;
			if (m8m_drain_first(m, now_us))
				continue;
			m->io = IO_IDLE;
			m->parser.have = 0;
			continue;
		case IO_IDLE:
			break;
		}
		if (m->dirty) {
			m8m_enter_gap(m, now_us);
			m->dirty = false;
			continue;
		}
		if (now_us < m->ready_at_us) {
			m->wake_us = m->ready_at_us;
			return;
		}
		if (m8m_drain_first(m, now_us))
			continue;
		m8m_cycle_begin_if_due(m, now_us);
		if (m->resend && m->have_cur) {
			if (!m8m_fits(m, &m->cur, now_us, 0))
				retry_out_of_time(m, now_us);
			else
				m8m_transmit(m, &m->cur, now_us);
			continue;
		}
		if (m->n_parked > 0 && now_us >= m8m_earliest_park_us(m)) {
			unsigned t = earliest_park(m);
			if (!m8m_fits(m, &m->park[t], now_us, 0)) {
				/* again at the next cycle's start */
				m->park_at_us[t] = max_u64(m->cy.next_at_us, now_us + 1);
				continue;
			}
			struct xfer x = m->park[t];
			m->parked[t] = false;
			m->n_parked--;
			m8m_transmit(m, &x, now_us);
			continue;
		}
		if (m->enum_requested) {
			m->enum_requested = false;
			m8m_enum_start(m, now_us);
		}
		if (!m->have_pending) {
			if (!schedule(m, &m->pending, now_us)) {
				if (m->wake_us <= now_us)
					continue;
				return;
			}
			m->have_pending = true;
		}
		uint64_t at = m8m_send_at(m, &m->pending);
		if (now_us < at) {
			m->wake_us = at;
			return;
		}
		struct xfer x = m->pending;
		m->have_pending = false;
		if (!m8m_fits(m, &x, now_us, 0)) {
			m8m_unsent(m, &x, now_us);
			continue;
		}
		m8m_transmit(m, &x, now_us);
	}
}

/* ---- public ---- */

int m8_master_new(struct m8_master **ret, const struct m8_master_config *cfg,
                  const struct m8_port_ops *ops, void *userdata)
{
	if (!ret || !cfg || !cfg->path || !ops || !ops->open || !ops->read || !ops->write ||
	    !ops->close)
		return -EINVAL;
	struct m8_master *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->path = strdup(cfg->path);
	if (!m->path) {
		free(m);
		return -ENOMEM;
	}
	m->cycle_period_us = cfg->cycle_period_us ? cfg->cycle_period_us : M8_CYCLE_MAX_US;
	m->on_event = cfg->on_event;
	m->ops = ops;
	m->userdata = userdata;
	m->fd = -1;
	m->drained_us = NO_DEADLINE;
	m->phase = PH_CLOSED;
	m8_parser_init(&m->parser);
	*ret = m;
	return 0;
}

struct m8_master *m8_master_free(struct m8_master *m)
{
	if (!m)
		return NULL;
	m->on_event = NULL;
	m8m_cancel_all(m);
	if (m->fd >= 0)
		m->ops->close(m->userdata, m->fd);
	free(m->path);
	free(m);
	return NULL;
}

int m8_master_fd(const struct m8_master *m)
{
	return m->fd;
}

uint64_t m8_master_next_deadline_us(const struct m8_master *m)
{
	if (m->fd < 0)
		return m->reopen_at_us;
	switch (m->io) {
	case IO_WAIT:
		if (m8_parser_busy(&m->parser))
			return min_u64(m->wait_until_us, m->last_rx_us + M8_IDLE_GAP_US);
		return m->wait_until_us;
	case IO_GAP:
		return m->gap_until_us;
	case IO_IDLE:
		break;
	}
	if (m->dirty || m->resend || m->enum_requested)
		return m->ready_at_us;
	uint64_t wake = m->wake_us;
	if (m->n_parked > 0)
		wake = min_u64(wake, m8m_earliest_park_us(m));
	return wake > m->ready_at_us ? wake : m->ready_at_us;
}

void m8_master_on_readable(struct m8_master *m, uint64_t now_us)
{
	m->drained_us = now_us;
	(void)m8m_drain(m, now_us);
	step(m, now_us);
}

void m8_master_on_timeout(struct m8_master *m, uint64_t now_us)
{
	step(m, now_us);
}

void m8_master_enumerate(struct m8_master *m)
{
	m->enum_requested = true;
}

int m8_master_submit(struct m8_master *m, uint8_t addr, uint8_t cmd, const uint8_t *payload,
                     uint8_t len, unsigned tries, m8_request_cb cb, void *cb_userdata)
{
	if (addr < M8_ADDR_MIN || addr > M8_ADDR_MAX || cmd == 0 || cmd > 0x7F ||
	    len > M8_MAX_PAYLOAD || (len > 0 && !payload) || tries == 0)
		return -EINVAL;
	if (!m->enumerated || m->phase != PH_RUN || addr > m->count)
		return -ENOTCONN;
	if (m->q_len >= QUEUE_LEN)
		return -EBUSY;
	struct xfer *x = &m->queue[(m->q_head + m->q_len) % QUEUE_LEN];
	m8m_make_xfer(x, K_USER, addr, cmd, tries - 1);
	x->len = len;
	if (len)
		memcpy(x->payload, payload, len);
	x->cb = cb;
	x->cb_userdata = cb_userdata;
	m->q_len++;
	m->wake_us = 0; /* let the scheduler look at it */
	return 0;
}

void m8_master_bank(const struct m8_master *m, struct m8_bank_state *out)
{
	*out = (struct m8_bank_state){
	        .port_open = m->fd >= 0,
	        .enumerated = m->enumerated,
	        .chain_open = m->chain_open,
	        .enum_failed = m->enum_failed,
	        .count = m->count,
	        .enum_failures = m->enum_failures,
	        .open_error = m->open_error,
	        .cycles = m->cycles,
	        .last_cycle_us = m->last_cycle_us,
	        .last_period_us = m->last_period_us,
	        .statuses = m->statuses,
	};
}

uint64_t m8_master_cycle_left_us(const struct m8_master *m, uint64_t now_us)
{
	return m8m_cycle_left_us(m, now_us);
}

const struct m8_battery *m8_master_battery(const struct m8_master *m, unsigned addr)
{
	if (addr < M8_ADDR_MIN || addr > m->count)
		return NULL;
	return &m->bat[addr - 1];
}

bool m8_master_battery_fresh(const struct m8_master *m, unsigned addr, uint64_t now_us)
{
	const struct m8_battery *b = m8_master_battery(m, addr);
	/* The STATUS is stamped with the port's clock when it was read, which
	 * can be later than the caller's loop time: that is age 0. */
	if (!b || m->fd < 0 || !b->has_status ||
	    (now_us > b->status_us && now_us - b->status_us >= M8_STALE_US))
		return false;
	return b->status.n_cells == b->info.cells && b->status.n_temps == b->info.sensors;
}

const struct m8_parser_stats *m8_master_parser_stats(const struct m8_master *m)
{
	return &m->parser.stats;
}
