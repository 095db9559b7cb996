/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The bus master's inside, shared by its four files: master.c (bookkeeping,
 * scheduling and the public calls), master_link.c (the link: one request on
 * the wire, reply matching, timeouts, retries, NAK busy, the idle gap, the
 * port's clock), master_enum.c (enumeration, docs/m8bus.md section 3) and
 * master_poll.c (the poll cycle of section 7 and its bound, re-joining and
 * the request queue). Not for use outside src/m8.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "m8/master.h"

#define QUEUE_LEN   8
#define NO_DEADLINE UINT64_MAX

enum phase {
	PH_CLOSED, /* port not open */
	PH_ENUM,
	PH_BACKOFF, /* three enumerations failed: wait 30 s */
	PH_RUN,
};

enum io_state {
	IO_IDLE, /* may send at ready_at_us */
	IO_WAIT, /* a request is out */
	IO_GAP,  /* flushing input until the line was idle 2 ms */
};

enum xfer_kind {
	K_RESET,
	K_ENUM_ASSIGN,
	K_ENUM_INFO,
	K_ENUM_CHECK,
	K_ENUM_VERIFY,
	K_STATUS,
	K_PROBE,
	K_INFO,
	K_REJOIN,
	K_EXTEND,
	K_REJOIN_INFO, /* who took the address after a garbled ASSIGN answer */
	K_EXTEND_INFO,
	K_USER,
};

enum enum_step {
	EN_RESET,
	EN_ASSIGN,
	EN_INFO,
	EN_CHECK,
	EN_VERIFY,
};

struct xfer {
	enum xfer_kind kind;
	uint8_t addr, reply_addr, cmd, len, seq;
	uint8_t payload[M8_MAX_PAYLOAD];
	unsigned tries_left; /* transmissions left after this one */
	uint8_t target;      /* battery for the statistics, 0 = none */
	bool corrupt;        /* a corrupted frame arrived while it was out */
	bool answered;       /* a matching reply or NAK arrived (maybe unusable) */
	uint64_t busy_since_us;
	m8_request_cb cb;
	void *cb_userdata;
};

struct m8_master {
	char *path;
	uint64_t cycle_period_us;
	void (*on_event)(void *userdata, enum m8_event_type ev, unsigned addr);
	const struct m8_port_ops *ops;
	void *userdata;

	int fd;
	int open_error;
	enum phase phase;
	enum io_state io;
	uint64_t reopen_at_us, ready_at_us, wait_until_us, wait_hard_us, gap_until_us;
	uint64_t last_rx_us, wake_us, drained_us;
	uint64_t clock_us; /* the latest time the port's clock told */
	bool dirty;        /* garbage or a discarded frame since the request went out */
	uint8_t next_seq;
	struct m8_parser parser;
	uint64_t bad_frames_seen;

	bool have_cur, resend;
	struct xfer cur;
	/* NAK-busy requests waiting for their retry, one slot per target
	 * address, so that one busy battery does not hold up the others. */
	unsigned n_parked;
	bool parked[M8_ADDR_MAX + 1];
	struct xfer park[M8_ADDR_MAX + 1];
	uint64_t park_at_us[M8_ADDR_MAX + 1];
	struct xfer queue[QUEUE_LEN];
	unsigned q_head, q_len;
	/* The next request, chosen and waiting for its time (an ASSIGN 10 ms
	 * after the last reply) or set as a follow-up. */
	bool have_pending;
	struct xfer pending;

	unsigned count;
	struct m8_battery bat[M8_ADDR_MAX];
	bool enumerated, chain_open, enum_failed, enum_requested;
	unsigned enum_failures;
	uint64_t enum_retry_at_us;

	struct {
		enum enum_step step;
		unsigned resets, n, silent, verify;
		uint64_t next_at_us;
		bool old_valid;
		unsigned old_count;
		struct m8_battery old[M8_ADDR_MAX];
	} en;

	struct {
		/* A cycle: its polls, then its extras (GET_INFO, a due ASSIGN),
		 * then one queued request; then more queued requests while time
		 * is left before next_at_us, the earliest next start. */
		bool active, polls_done, info_done, rejoin_done, extend_done, queue_done;
		uint64_t start_us;
		uint64_t next_at_us; /* start + the minimum period */
		uint64_t limit_us;   /* all of its traffic over by then */
		unsigned pos, start_idx;
	} cy;
	unsigned info_turn;
	uint64_t rejoin_at_us, extend_at_us;
	uint64_t cycles, last_cycle_us, last_period_us;
	uint64_t statuses; /* valid STATUS replies */
};

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void m8m_emit(struct m8_master *m, enum m8_event_type ev, unsigned addr);
struct m8_battery *m8m_bat_of(struct m8_master *m, uint8_t addr);
void m8m_cancel_xfer(struct xfer *x);
void m8m_cancel_all(struct m8_master *m);
void m8m_update_chain(struct m8_master *m);
bool m8m_serial_taken(const struct m8_master *m, const char *serial, unsigned except_addr);
void m8m_battery_join(struct m8_master *m, unsigned addr, const struct m8_info *info,
                      uint64_t now_us);
void m8m_make_xfer(struct xfer *x, enum xfer_kind kind, uint8_t addr, uint8_t cmd,
                   unsigned tries_left);
void m8m_make_assign(struct xfer *x, enum xfer_kind kind, uint8_t n);
uint64_t m8m_earliest_park_us(const struct m8_master *m);

/* master_link.c */
uint64_t m8m_port_time(struct m8_master *m, uint64_t now_us);
void m8m_hangup(struct m8_master *m, uint64_t now_us);
void m8m_enter_gap(struct m8_master *m, uint64_t now_us);
void m8m_transmit(struct m8_master *m, struct xfer *x, uint64_t now_us);
void m8m_complete(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us);
void m8m_on_wait_timeout(struct m8_master *m, uint64_t now_us);
ssize_t m8m_drain(struct m8_master *m, uint64_t now_us);
bool m8m_drain_first(struct m8_master *m, uint64_t now_us);

bool m8m_requeue_front(struct m8_master *m, const struct xfer *x);
/* Sending x at now_us (or at its earliest, if later) ends, at worst, within
 * the time the poll cycle has left, with extra_us to spare (docs/m8bus.md 7). */
bool m8m_fits(const struct m8_master *m, const struct xfer *x, uint64_t now_us, uint64_t extra_us);
/* The worst case of one transmission: request, 50 ms, the longest frame
 * that can still be streaming in, the idle gap. */
uint64_t m8m_worst_us(uint8_t payload_len);
/* The earliest x may go out: an ASSIGN 10 ms after the last byte received. */
uint64_t m8m_send_at(const struct m8_master *m, const struct xfer *x);
void m8m_enum_start(struct m8_master *m, uint64_t now_us);
void m8m_enum_reset_sent(struct m8_master *m, uint64_t sent_us, uint64_t end_us);
void m8m_enum_done(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us);
bool m8m_enum_next(struct m8_master *m, struct xfer *x, uint64_t now_us);
bool m8m_status_done(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us);
void m8m_info_done(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us);
void m8m_assign_done(struct m8_master *m, int result, const struct m8_frame *f, uint64_t now_us);
bool m8m_run_next(struct m8_master *m, struct xfer *x, uint64_t now_us);
void m8m_cycle_begin_if_due(struct m8_master *m, uint64_t now_us);
/* The end of the time the traffic sent now may use (NO_DEADLINE outside the
 * poll phase). */
uint64_t m8m_run_limit_us(const struct m8_master *m);
/* The time the schedule leaves from now_us for traffic that goes out now
 * (m8m_run_limit_us()), 0 when none or outside the poll phase. */
uint64_t m8m_cycle_left_us(const struct m8_master *m, uint64_t now_us);
/* A chosen request that did not go out (no time left): it is due again. */
void m8m_unsent(struct m8_master *m, const struct xfer *x, uint64_t now_us);
