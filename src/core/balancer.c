/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/balancer.h"

#include <errno.h>
#include <stddef.h>

#define CELL_NA 0xFFFF

void balancer_reset(struct balancer_state *b)
{
	*b = (struct balancer_state){.spread_mv = BALANCER_SPREAD_NONE};
}

void balancer_note_sync(struct balancer_state *b, int64_t wall_s, uint16_t min_cell_mv,
                        uint16_t max_cell_mv)
{
	b->synced = true;
	b->last_sync_wall_s = wall_s;
	if (min_cell_mv == CELL_NA || max_cell_mv == CELL_NA || min_cell_mv > max_cell_mv)
		b->spread_mv = BALANCER_SPREAD_NONE;
	else
		b->spread_mv = max_cell_mv - min_cell_mv;
}

enum balancer_status balancer_status(const struct balancer_state *b,
                                     const struct balancer_input *in)
{
	/* 0.5 % of C in mA is C (Ah) x 5. */
	if (in->any_balancing && (int64_t)in->bank_current_ma > (int64_t)in->capacity_ah * 5)
		return BALANCER_BALANCING;
	if (!in->soc_known || !b->synced || b->spread_mv == BALANCER_SPREAD_NONE)
		return BALANCER_UNKNOWN;
	/* A wall clock that went back cannot tell the age: unknown. */
	if (in->wall_s < b->last_sync_wall_s ||
	    (uint64_t)in->wall_s - (uint64_t)b->last_sync_wall_s > BALANCER_VALID_S)
		return BALANCER_UNKNOWN;
	return b->spread_mv <= BALANCER_SPREAD_OK_MV ? BALANCER_BALANCED : BALANCER_IMBALANCED;
}

const char *balancer_status_name(enum balancer_status s)
{
	switch (s) {
	case BALANCER_UNKNOWN:
		return "unknown";
	case BALANCER_BALANCING:
		return "balancing";
	case BALANCER_BALANCED:
		return "balanced";
	case BALANCER_IMBALANCED:
		return "imbalanced";
	}
	return NULL;
}

int balancer_check(const struct balancer_state *b)
{
	if (b->spread_mv < BALANCER_SPREAD_NONE || b->spread_mv > 0xFFFF || b->last_sync_wall_s < 0)
		return -EINVAL;
	if (!b->synced && (b->last_sync_wall_s != 0 || b->spread_mv != BALANCER_SPREAD_NONE))
		return -EINVAL;
	return 0;
}
