/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The history of docs/monitor.md: since installation or the last "reset history".
 * It survives restarts in the state record. Energies and Ah are displayed
 * estimates (floating point); the rest are integers.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/codes.h"

#define HISTORY_ERRORS 4
/* Sentinels of an empty minimum / maximum. */
#define HISTORY_MIN_NONE INT32_MAX
#define HISTORY_MAX_NONE INT32_MIN
/* last_full_charge_s when there was none. */
#define HISTORY_NEVER INT64_MIN

struct history_error {
	uint8_t code;   /* enum bms_code, an E code */
	int64_t wall_s; /* wall-clock seconds since the epoch */
};

struct history {
	double deepest_ah;    /* the most consumed Ah ever seen while SoC was known */
	double drawn_ah;      /* cumulative Ah discharged (raw) */
	double discharged_wh; /* integral of V x I while discharging */
	double charged_wh;    /* integral of V x I while charging */
	uint32_t syncs;       /* automatic synchronisations that counted */
	uint32_t cycles;
	bool sync_armed;            /* SoC dropped below 90 % since the last counted sync */
	bool cycle_armed;           /* SoC dropped below 65 % and has not yet risen above 90 % */
	int64_t last_full_charge_s; /* wall time of the last synchronisation */
	int32_t min_bank_mv, max_bank_mv;
	int32_t min_cell_mv, max_cell_mv;
	int32_t min_temp_dc, max_temp_dc;
	uint8_t n_errors;                            /* valid entries of errors[] */
	struct history_error errors[HISTORY_ERRORS]; /* newest first */
	uint32_t error_mask; /* E codes active at the last look; a new one is recorded */
};

/* Clears everything: the state of a new installation. */
void history_reset(struct history *h);
/* Integrates current_ma at bank_mv over dt_s into Ah drawn and energy. */
void history_add_flow(struct history *h, int32_t current_ma, uint32_t bank_mv, double dt_s);
void history_note_consumed(struct history *h, double consumed_ah);
/* Follows SoC for the cycle and synchronisation counters. */
void history_note_soc(struct history *h, bool known, int32_t soc_cpct);
/* A synchronisation; only an automatic one can count (see history.syncs). */
void history_note_sync(struct history *h, bool automatic, int64_t wall_s);
/* 0xFFFF cells and 0x7FFF temperatures are "not available"; 0 mV bank too. */
void history_note_extremes(struct history *h, uint32_t bank_mv, uint16_t min_cell_mv,
                           uint16_t max_cell_mv, int16_t min_temp_dc, int16_t max_temp_dc);
/* Records an error. -EINVAL for a code that is not an E code. */
int history_note_error(struct history *h, enum bms_code code, int64_t wall_s);
/* Records each E code of the mask that was not active at the last call. */
void history_note_active(struct history *h, uint32_t active_codes, int64_t wall_s);
/* Checks a history read from a state record: 0 or -EINVAL. */
int history_check(const struct history *h);
