/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rules of docs/protection.md sections 1-3 as one table of data. Each row
 * says which output a rule acts on, what it measures, how it trips and how
 * it releases; the state machine (protection.c) only reads this table.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/codes.h"
#include "core/protection_settings.h"

/* A rule without a code of its own (remote off, start-up hold). */
#define PROTECTION_NO_CODE (-1)

enum protection_rule_id {
	PROT_R_STARTUP_ATD, /* cold start: enumeration and fresh data pending */
	PROT_R_STARTUP_ATC, /* cold start or restart: fresh data pending */
	PROT_R_REMOTE_OFF,
	PROT_R_UV,           /* A1 */
	PROT_R_CRIT_UV,      /* A2 */
	PROT_R_HARD_UV,      /* A2 */
	PROT_R_LOW_SOC,      /* A5 */
	PROT_R_DIS_HOT,      /* A6 */
	PROT_R_DIS_COLD,     /* A7 */
	PROT_R_STALE_ATD,    /* E1 */
	PROT_R_CHANGED_ATD,  /* E3 */
	PROT_R_FW_FAILED,    /* E5 */
	PROT_R_OV,           /* A3 */
	PROT_R_HARD_OV,      /* A3 */
	PROT_R_BANK_OV,      /* A3 */
	PROT_R_CHG_COLD,     /* W9 */
	PROT_R_CHG_HOT,      /* A4 */
	PROT_R_STALE_ATC,    /* E1 */
	PROT_R_CHANGED_ATC,  /* E3 */
	PROT_R_TOPOLOGY,     /* E6 */
	PROT_R_FW_RUNNING,   /* W7 */
	PROT_R_PREALARM,     /* W2 */
	PROT_R_LOW_SOC_WARN, /* W1 */
	PROT_R_READBACK,     /* E7 */
	PROT_R_BANK_RANGE,   /* W5 */
	PROT_RULE_COUNT,
};

/* Outputs a rule acts on (a mask). */
enum protection_target {
	PROT_T_ATD = 1u << 0,
	PROT_T_ATC = 1u << 1,
	PROT_T_PREALARM = 1u << 2, /* makes the pre-alarm output active */
	PROT_T_WARNING = 1u << 3,  /* reports its code only */
};

enum protection_quantity {
	PROT_Q_NONE,
	PROT_Q_MIN_CELL,
	PROT_Q_MAX_CELL,
	PROT_Q_MIN_TEMP,
	PROT_Q_MAX_TEMP,
	PROT_Q_BANK_MV,
	PROT_Q_SOC,
	PROT_Q_HARD_UV,
	PROT_Q_HARD_OV,
	PROT_Q_STALE,
	PROT_Q_BANK_CHANGED,
	PROT_Q_TOPOLOGY,
	PROT_Q_REMOTE_OFF,
	PROT_Q_FW_RUNNING,
	PROT_Q_FW_FAILED,
	PROT_Q_READBACK_BAD,
	PROT_Q_BANK_RANGE_BAD,
	PROT_Q_BANK_RANGE_OK, /* inside the range by the hysteresis */
	PROT_Q_COLD_START,
	PROT_Q_NOT_RESUMED,
};

enum protection_cmp {
	PROT_CMP_LT,
	PROT_CMP_GT,
	PROT_CMP_LE,
	PROT_CMP_GE,
	PROT_CMP_SET, /* a flag quantity is set */
};

enum protection_level {
	PROT_L_NONE,
	PROT_L_CRIT_UV,
	PROT_L_UV_TRIP,
	PROT_L_UV_RELEASE,
	PROT_L_PREALARM,
	PROT_L_PREALARM_RELEASE,
	PROT_L_OV_TRIP,
	PROT_L_OV_RELEASE,
	PROT_L_BANK_OV_TRIP,
	PROT_L_BANK_OV_RELEASE,
	PROT_L_CHG_LOW,
	PROT_L_CHG_LOW_RELEASE,
	PROT_L_CHG_HIGH,
	PROT_L_CHG_HIGH_RELEASE,
	PROT_L_DIS_HIGH,
	PROT_L_DIS_HIGH_RELEASE,
	PROT_L_DIS_LOW,
	PROT_L_DIS_LOW_RELEASE,
	PROT_L_SOC_FLOOR,
	PROT_L_SOC_FLOOR_RELEASE,
	PROT_L_SOC_WARN,
	PROT_L_SOC_WARN_RELEASE,
};

enum protection_time {
	PROT_TM_ZERO,
	PROT_TM_CRIT_UV,
	PROT_TM_UV,
	PROT_TM_UV_HOLD,
	PROT_TM_OV,
	PROT_TM_OV_HOLD,
	PROT_TM_TEMP,
	PROT_TM_1S,
	PROT_TM_2S,
	PROT_TM_5S,
	PROT_TM_30S,
	PROT_TM_60S,
	PROT_TM_120S,
};

enum protection_rule_flag {
	PROT_F_LEAD = 1u << 0,               /* ATD waits for the pre-alarm lead */
	PROT_F_CHATTER = 1u << 1,            /* anti-chatter applies */
	PROT_F_CHATTER_NOHOLD = 1u << 2,     /* latch warns W3 but keeps the normal hold (stale) */
	PROT_F_RELEASE_TRIP_CLEAR = 1u << 3, /* release also needs the trip condition false */
	PROT_F_LEAD_ON_SET = 1u << 4,        /* A5: lead if a manual set or a new floor trips it */
	PROT_F_NEEDS_SYNC = 1u << 5,         /* release needs a SoC sync or manual set since trip */
	PROT_F_DRAIN = 1u << 6,              /* A1/A2/A5: drain guard and low-power shutdown */
	PROT_F_START_FROM_INPUT = 1u << 7,   /* countdown starts at the input's fw_failed_since */
	PROT_F_ALWAYS = 1u << 8,             /* evaluated during the cold start too */
	PROT_F_WARNS = 1u << 9,              /* pending or tripped, makes the pre-alarm active */
};

struct protection_rule {
	enum protection_rule_id id;
	int code; /* enum bms_code or PROTECTION_NO_CODE */
	const char *name;
	uint32_t target; /* enum protection_target */
	enum protection_quantity trip_q;
	enum protection_cmp trip_cmp;
	enum protection_level trip_level;
	enum protection_time delay;
	enum protection_quantity release_q; /* PROT_Q_NONE: trip condition false suffices */
	enum protection_cmp release_cmp;
	enum protection_level release_level;
	enum protection_time hold;
	uint32_t flags; /* enum protection_rule_flag */
};

/* The table, indexed by enum protection_rule_id. */
const struct protection_rule *protection_rules(void);
const struct protection_rule *protection_rule(enum protection_rule_id id);

/* Resolved numbers: false when the level is disabled or not computable
 * (discharge floor 0, bank size unknown). bank_cells = S x cells per battery. */
bool protection_level_value(enum protection_level l, const struct protection_settings *s,
                            int32_t bank_cells, int32_t *out);
uint32_t protection_time_ms(enum protection_time t, const struct protection_settings *s);
/* The unit of a quantity's readings: "mV", "0.1 degC", "0.01 %", "" for flags. */
const char *protection_quantity_unit(enum protection_quantity q);

/* Fixed numbers (docs/protection.md section 6 "fixed, not settings"; docs/board.md). */
#define PROT_STALE_US             3000000ull
#define PROT_CHATTER_WINDOW_US    600000000ull
#define PROT_CHATTER_COUNT        3
#define PROT_DRAIN_GUARD_US       60000000ull
#define PROT_POWEROFF_US          600000000ull
#define PROT_BANK_LOW_MV          8500
#define PROT_BANK_HIGH_MV         68000
#define PROT_BANK_HYST_MV         500
#define PROT_DIS_HIGH_MIN_HYST_DC 50
