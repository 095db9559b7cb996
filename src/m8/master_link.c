/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The link: one request on the wire at a time, reply matching, the 50 ms
 * timeout, retries, NAK busy, the 2 ms idle gap after anything odd, and the
 * port's clock, which stamps when bytes really went out or came in.
 */
#include <errno.h>
#include <string.h>

#include "m8/master_internal.h"

/*
 * The time bytes really went out or came in: the port's clock read right
 * after the write or read, never before the caller's time. The caller's
 * time is when its loop woke up, which may be well before the bytes moved.
 */
uint64_t m8m_port_time(struct m8_master *m, uint64_t now_us)
{
	uint64_t t = m->ops->clock ? m->ops->clock(m->userdata) : now_us;
	m->clock_us = max_u64(m->clock_us, max_u64(t, now_us));
	return m->clock_us;
}

void m8m_hangup(struct m8_master *m, uint64_t now_us)
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

void m8m_enter_gap(struct m8_master *m, uint64_t now_us)
{
	m->io = IO_GAP;
	m->gap_until_us = now_us + M8_IDLE_GAP_US;
	m->parser.have = 0;
}

void m8m_transmit(struct m8_master *m, struct xfer *x, uint64_t now_us)
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
		m8m_hangup(m, now_us);
		return;
	}
	/* The bytes are in the tty's buffer and on their way: the wire time
	 * runs from now, which is never before they really started. */
	uint64_t sent_us = m8m_port_time(m, now_us);
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
void m8m_complete(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us)
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
		m8m_complete(m, 0, f, now_us);
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
				m8m_cancel_xfer(&m->park[t]);
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
	m8m_complete(m, -EREMOTEIO, f, now_us);
}

void m8m_on_wait_timeout(struct m8_master *m, uint64_t now_us)
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
		m8m_complete(m, -ETIMEDOUT, NULL, now_us);
	}
	if (m->fd >= 0)
		m8m_enter_gap(m, now_us);
}

static void take_bytes(struct m8_master *m, const uint8_t *buf, size_t n, uint64_t now_us)
{
	if (m->io != IO_WAIT) {
		/* Nobody asked: flush it and let the line settle. */
		m->last_rx_us = now_us;
		m->parser.stats.garbage_bytes += n;
		m8m_enter_gap(m, now_us);
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
		m8m_enter_gap(m, now_us);
		m->dirty = false;
	}
}

/*
 * Reads everything the port holds; returns the byte count, or -1 after a
 * hang-up. When this process runs late, bytes that crossed the line back to
 * back can reach us with a pause between reads, so a pause between reads is
 * never taken for idle line: only a read that finds nothing proves it.
 */
ssize_t m8m_drain(struct m8_master *m, uint64_t now_us)
{
	uint8_t buf[512];
	ssize_t total = 0;

	while (m->fd >= 0) {
		ssize_t n = m->ops->read(m->userdata, m->fd, buf, sizeof(buf));
		if (n < 0) {
			m8m_hangup(m, now_us);
			return -1;
		}
		if (n == 0)
			break;
		total += n;
		take_bytes(m, buf, (size_t)n, m8m_port_time(m, now_us));
	}
	return total;
}

/* Looks at the port once per point in time before a decision that needs
 * to know the line is quiet. True when something arrived (or it hung up). */
bool m8m_drain_first(struct m8_master *m, uint64_t now_us)
{
	if (m->drained_us == now_us)
		return false;
	m->drained_us = now_us;
	return m8m_drain(m, now_us) != 0;
}
