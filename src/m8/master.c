/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The bus master engine: the link (one request on the wire at a time, reply
 * matching, the 50 ms timeout, retries, NAK busy, the 2 ms idle gap after
 * anything odd), the scheduler that asks master_enum.c and master_poll.c for
 * the next request, and the public calls.
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

static void cancel_xfer(struct xfer *x)
{
	if (x->kind == K_USER && x->cb)
		x->cb(x->cb_userdata, -ECANCELED, NULL);
}

/* Drops every request in flight or waiting: the port or the bank changed. */
void m8m_cancel_all(struct m8_master *m)
{
	if (m->have_cur)
		cancel_xfer(&m->cur);
	m->have_cur = false;
	m->resend = false;
	if (m->have_pending)
		cancel_xfer(&m->pending);
	m->have_pending = false;
	for (unsigned i = 0; i <= M8_ADDR_MAX; i++) {
		if (m->parked[i])
			cancel_xfer(&m->park[i]);
		m->parked[i] = false;
	}
	m->n_parked = 0;
	while (m->q_len > 0) {
		struct xfer *x = &m->queue[m->q_head];
		m->q_head = (m->q_head + 1) % QUEUE_LEN;
		m->q_len--;
		cancel_xfer(x);
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

/* ---- the link ---- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/*
 * The time bytes really went out or came in: the port's clock read right
 * after the write or read, never before the caller's time. The caller's
 * time is when its loop woke up, which may be well before the bytes moved.
 */
static uint64_t port_time(struct m8_master *m, uint64_t now_us)
{
	uint64_t t = m->ops->clock ? m->ops->clock(m->userdata) : now_us;
	m->clock_us = max_u64(m->clock_us, max_u64(t, now_us));
	return m->clock_us;
}

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

static void hangup(struct m8_master *m, uint64_t now_us)
{
	m8m_cancel_all(m);
	if (m->fd >= 0)
		m->ops->close(m->userdata, m->fd);
	m->fd = -1;
	m->io = IO_IDLE;
	m->parser.have = 0;
	m->reopen_at_us = now_us + M8_REOPEN_US;
	m->cy.active = false;
	m8m_emit(m, M8_EV_PORT, 0);
}

static void enter_gap(struct m8_master *m, uint64_t now_us)
{
	m->io = IO_GAP;
	m->gap_until_us = now_us + M8_IDLE_GAP_US;
	m->parser.have = 0;
}

static void transmit(struct m8_master *m, struct xfer *x, uint64_t now_us)
{
	struct m8_frame f = {.addr = x->addr, .cmd = x->cmd, .len = x->len};
	uint8_t out[M8_MAX_FRAME];

	x->seq = m->next_seq++;
	f.seq = x->seq;
	memcpy(f.payload, x->payload, x->len);
	int n = m8_frame_encode(&f, out, sizeof(out));
	if (n < 0)
		return;

	if (x != &m->cur)
		m->cur = *x;
	m->have_cur = true;
	m->resend = false;
	m->dirty = false;
	struct m8_battery *b = m8m_bat_of(m, m->cur.target);
	if (b)
		b->stats.requests++;

	int r = m->ops->write(m->userdata, m->fd, out, (size_t)n);
	if (r < 0 && r != -EAGAIN) {
		hangup(m, now_us);
		return;
	}
	/* The bytes are in the tty's buffer and on their way: the wire time
	 * runs from now, which is never before they really started. */
	uint64_t sent_us = port_time(m, now_us);
	uint64_t end_us = sent_us + M8_WIRE_US(n);
	if (m->cur.kind == K_RESET) {
		m->have_cur = false;
		m->io = IO_IDLE;
		m->ready_at_us = end_us;
		m8m_enum_reset_sent(m, sent_us, end_us);
		return;
	}
	m->io = IO_WAIT;
	m->wait_until_us = end_us + M8_REPLY_TIMEOUT_US;
	m->wait_hard_us = m->wait_until_us + M8_WIRE_US(M8_MAX_FRAME);
	m->bad_frames_seen = m->parser.stats.crc_errors + m->parser.stats.len_errors;
}

/* The outstanding transaction ended: a reply, a NAK or no answer. */
static void complete(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us)
{
	m->io = IO_IDLE;
	m->ready_at_us = now_us;
	switch (m->cur.kind) {
	case K_ENUM_ASSIGN:
	case K_ENUM_INFO:
	case K_ENUM_CHECK:
	case K_ENUM_VERIFY:
		m->have_cur = false;
		m8m_enum_done(m, result, f, now_us);
		return;
	case K_STATUS:
	case K_PROBE:
		if (m8m_status_done(m, result, f, now_us)) {
			m->resend = true;
			m->dirty = true;
			return;
		}
		break;
	case K_INFO:
		m8m_info_done(m, result, f, now_us);
		break;
	case K_REJOIN:
	case K_EXTEND:
	case K_REJOIN_INFO:
	case K_EXTEND_INFO:
		m8m_assign_done(m, result, f, now_us);
		break;
	case K_USER:
		if (m->cur.cb)
			m->cur.cb(m->cur.cb_userdata, result, f);
		break;
	case K_RESET:
		break;
	}
	m->have_cur = false;
}

static bool reply_matches(const struct xfer *x, const struct m8_frame *f)
{
	if (f->seq != x->seq || f->addr != x->reply_addr)
		return false;
	if (f->cmd == (x->cmd | M8_REPLY_BIT))
		return true;
	return f->cmd == M8_CMD_NAK && f->len == 2 && f->payload[0] == x->cmd;
}

static void on_frame(const struct m8_frame *f, void *userdata)
{
	struct m8_master *m = userdata;
	uint64_t now_us = m->last_rx_us;

	if (m->io != IO_WAIT || !m->have_cur || !reply_matches(&m->cur, f)) {
		m->dirty = true;
		return;
	}
	struct m8_battery *b = m8m_bat_of(m, m->cur.target);
	if (b)
		b->stats.last_reply_us = now_us;
	m->cur.answered = true;
	if (f->cmd != M8_CMD_NAK) {
		complete(m, 0, f, now_us);
		return;
	}
	if (b)
		b->stats.naks++;
	if (f->payload[1] == M8_NAK_BUSY) {
		if (m->cur.busy_since_us == 0)
			m->cur.busy_since_us = now_us;
		/* A repeat that would not be over within the poll cycle's
		 * bound waits for the next cycle's start. */
		uint64_t retry_us = now_us + M8_BUSY_RETRY_US;
		if (!m8m_fits(m, &m->cur, retry_us, 0))
			retry_us = max_u64(retry_us, m->cy.next_at_us);
		if (retry_us - m->cur.busy_since_us <= M8_BUSY_MAX_US) {
			unsigned t = m->cur.target;
			if (m->parked[t])
				cancel_xfer(&m->park[t]);
			else
				m->n_parked++;
			m->park[t] = m->cur;
			m->parked[t] = true;
			m->park_at_us[t] = retry_us;
			m->have_cur = false;
			m->io = IO_IDLE;
			m->ready_at_us = now_us;
			return;
		}
	}
	complete(m, -EREMOTEIO, f, now_us);
}

static void on_wait_timeout(struct m8_master *m, uint64_t now_us)
{
	/* A reply still streaming in gets until the line goes quiet. */
	if (m8_parser_busy(&m->parser) && now_us < m->wait_hard_us &&
	    now_us < m->last_rx_us + M8_IDLE_GAP_US) {
		m->wait_until_us = m->last_rx_us + M8_IDLE_GAP_US;
		return;
	}
	struct m8_battery *b = m8m_bat_of(m, m->cur.target);
	if (b)
		b->stats.timeouts++;
	if (m8_parser_busy(&m->parser))
		m8_parser_idle(&m->parser);
	if (m->cur.tries_left > 0) {
		m->cur.tries_left--;
		m->resend = true;
		m->io = IO_IDLE;
	} else {
		complete(m, -ETIMEDOUT, NULL, now_us);
	}
	if (m->fd >= 0)
		enter_gap(m, now_us);
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

static void take_bytes(struct m8_master *m, const uint8_t *buf, size_t n, uint64_t now_us)
{
	if (m->io != IO_WAIT) {
		/* Nobody asked: flush it and let the line settle. */
		m->last_rx_us = now_us;
		m->parser.stats.garbage_bytes += n;
		enter_gap(m, now_us);
		return;
	}
	uint64_t garbage = m->parser.stats.garbage_bytes;
	m->last_rx_us = now_us;
	m8_parser_feed(&m->parser, buf, n, on_frame, m);
	uint64_t bad = m->parser.stats.crc_errors + m->parser.stats.len_errors;
	if (bad != m->bad_frames_seen) {
		struct m8_battery *b = m8m_bat_of(m, m->cur.target);
		if (b)
			b->stats.crc_errors += bad - m->bad_frames_seen;
		m->bad_frames_seen = bad;
		if (m->have_cur)
			m->cur.corrupt = true;
		m->dirty = true;
	}
	if (m->parser.stats.garbage_bytes != garbage)
		m->dirty = true;
	if (m->io != IO_WAIT && (m->dirty || m8_parser_busy(&m->parser))) {
		enter_gap(m, now_us);
		m->dirty = false;
	}
}

/*
 * Reads everything the port holds; returns the byte count, or -1 after a
 * hang-up. When this process runs late, bytes that crossed the line back to
 * back can reach us with a pause between reads, so a pause between reads is
 * never taken for idle line: only a read that finds nothing proves it.
 */
static ssize_t drain(struct m8_master *m, uint64_t now_us)
{
	uint8_t buf[512];
	ssize_t total = 0;

	while (m->fd >= 0) {
		ssize_t n = m->ops->read(m->userdata, m->fd, buf, sizeof(buf));
		if (n < 0) {
			hangup(m, now_us);
			return -1;
		}
		if (n == 0)
			break;
		total += n;
		take_bytes(m, buf, (size_t)n, port_time(m, now_us));
	}
	return total;
}

/* Looks at the port once per point in time before a decision that needs
 * to know the line is quiet. True when something arrived (or it hung up). */
static bool drain_first(struct m8_master *m, uint64_t now_us)
{
	if (m->drained_us == now_us)
		return false;
	m->drained_us = now_us;
	return drain(m, now_us) != 0;
}

/* A retry that no longer fits in the cycle: the try before it stands. */
static void retry_out_of_time(struct m8_master *m, uint64_t now_us)
{
	m->resend = false;
	if (m->cur.kind == K_USER && m8m_requeue_front(m, &m->cur)) {
		m->have_cur = false;
		return;
	}
	complete(m, -ETIMEDOUT, NULL, now_us);
}

static void step(struct m8_master *m, uint64_t now_us)
{
	now_us = port_time(m, now_us);
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
			if (drain_first(m, now_us))
				continue;
			if (idle_due)
				m8_parser_idle(&m->parser);
			if (now_us >= m->wait_until_us)
				on_wait_timeout(m, now_us);
			continue;
		}
		case IO_GAP:
			if (now_us < m->gap_until_us)
				return;
			if (drain_first(m, now_us))
				continue;
			m->io = IO_IDLE;
			m->parser.have = 0;
			continue;
		case IO_IDLE:
			break;
		}
		if (m->dirty) {
			enter_gap(m, now_us);
			m->dirty = false;
			continue;
		}
		if (now_us < m->ready_at_us) {
			m->wake_us = m->ready_at_us;
			return;
		}
		if (drain_first(m, now_us))
			continue;
		m8m_cycle_begin_if_due(m, now_us);
		if (m->resend && m->have_cur) {
			if (!m8m_fits(m, &m->cur, now_us, 0))
				retry_out_of_time(m, now_us);
			else
				transmit(m, &m->cur, now_us);
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
			transmit(m, &x, now_us);
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
		transmit(m, &x, now_us);
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
	(void)drain(m, now_us);
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
	};
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
