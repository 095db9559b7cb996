/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Balancer status of docs/monitor.md: balancing, unknown, balanced, imbalanced,
 * in this order of precedence. The verdict comes from the cell spread at the
 * last synchronisation and expires 30 days after it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define BALANCER_SPREAD_OK_MV 30
#define BALANCER_VALID_S      (30 * 86400)
#define BALANCER_SPREAD_NONE  (-1)

enum balancer_status {
	BALANCER_UNKNOWN = 0,
	BALANCER_BALANCING,
	BALANCER_BALANCED,
	BALANCER_IMBALANCED,
};

struct balancer_state {
	bool synced;              /* a synchronisation since the bank was accepted */
	int64_t last_sync_wall_s; /* wall time of that synchronisation */
	int32_t spread_mv;        /* cell spread then; BALANCER_SPREAD_NONE if not known */
};

/* The state of a new installation or of a bank accepted anew. */
void balancer_reset(struct balancer_state *b);
/* A synchronisation at wall_s with these bank-wide cell extremes (0xFFFF = not
 * available). */
void balancer_note_sync(struct balancer_state *b, int64_t wall_s, uint16_t min_cell_mv,
                        uint16_t max_cell_mv);

struct balancer_input {
	bool soc_known;
	int32_t bank_current_ma;
	uint32_t capacity_ah;
	bool any_balancing; /* any battery's balancing flag */
	int64_t wall_s;
};

enum balancer_status balancer_status(const struct balancer_state *b,
                                     const struct balancer_input *in);
/* "unknown", "balancing", "balanced", "imbalanced"; NULL for a bad value. */
const char *balancer_status_name(enum balancer_status s);
/* Checks a state read from a record: 0 or -EINVAL. */
int balancer_check(const struct balancer_state *b);
