/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A scripted bus for the master's unit tests: an in-memory port (ops struct)
 * with a small model of the daisy chain, driven in virtual time, so every
 * timing rule can be checked to the microsecond without a pty.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m8/master.h"

#define FAKE_MAX_LOG 8192

struct fake_bat {
	char serial[17];
	uint8_t addr;
	bool silent;     /* answers nothing, relays nothing */
	bool miss_reset; /* ignores RESETs until the next other frame */
	bool ignoring;
	unsigned drop;   /* replies to lose */
	unsigned busy;   /* requests to refuse with NAK busy */
	bool bad_status; /* STATUS with a cell count different from INFO */
	unsigned garble; /* replies to send with one byte inverted */
	unsigned nak;    /* requests to refuse with NAK bad parameter */
};

struct fake_sent {
	uint64_t t_us;         /* when the request went out (its first byte) */
	uint64_t reply_end_us; /* its reply's last byte, 0 = no reply */
	struct m8_frame f;
};

struct fakebus {
	/* port */
	bool exists;
	bool open;
	bool hangup;
	unsigned opens;
	/* chain */
	struct fake_bat bat[M8_ADDR_MAX + 2];
	unsigned n;
	unsigned open_after; /* 0 = chain intact, else break after this position */
	uint64_t reply_delay_us;
	unsigned corrupt, wrong_seq, wrong_addr;
	bool garbage_before; /* a junk byte in front of the next reply */
	unsigned garble_pm;  /* garble each reply with this chance, per mille */
	uint32_t rng;
	/* line */
	uint8_t rx[4096];
	size_t rx_len;
	uint64_t rx_at_us;
	/* log */
	struct fake_sent sent[FAKE_MAX_LOG];
	size_t n_sent;
	uint64_t now_us;
	/* A busy loop: each call of the master happens lag_us[i] (in turn)
	 * after the loop read the time it passes. The port's clock tells the
	 * truth (now_us). */
	uint64_t lag_us[8];
	unsigned n_lag, lag_i;
	uint64_t passed_us; /* the last time passed to the master */
	/* master */
	uint64_t cycle_period_us; /* the master's minimum cycle period, 0 = its default */
	struct m8_master *m;
	unsigned events[8];
};

extern const struct m8_port_ops fake_ops;

void fake_init(struct fakebus *fb, unsigned n_batteries);
struct m8_master *fake_master(struct fakebus *fb);
/* Runs the master in virtual time up to t_us. */
void fake_run_until(struct fakebus *fb, uint64_t t_us);
void fake_run_for(struct fakebus *fb, uint64_t dt_us);
/* Index of the first logged request at or after `from` matching addr/cmd
 * (0xFFFF = any addr), or -1. */
long fake_find(const struct fakebus *fb, size_t from, unsigned addr, uint8_t cmd);
size_t fake_count(const struct fakebus *fb, size_t from, unsigned addr, uint8_t cmd);
