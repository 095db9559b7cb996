/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The bank's topology and its bank-wide values (docs/m8bus.md section 5,
 * docs/protection.md section 4, docs/monitor.md "Bank values"): S and P from the
 * batteries' INFO and the bank voltage, the bank current over S strings and
 * the bank's identity. A topology that does not add up is an error with a
 * reason, never a guess.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BANK_MAX_BATTERIES   50
#define BANK_SERIAL_LEN      16
#define BANK_CELL_NOMINAL_MV 3200
/* The accepted gap between S x mean battery voltage and the bank voltage. */
#define BANK_FIT_PCT 5
/* An ADC reading this far from S x mean battery voltage is implausible. */
#define BANK_ADC_PLAUSIBLE_PCT 10

enum bank_error {
	BANK_OK = 0,
	BANK_ERR_EMPTY,            /* no battery */
	BANK_ERR_TYPE,             /* unknown type, cells not the type's, or 0 Ah */
	BANK_ERR_MIXED_TYPES,      /* not all of one type */
	BANK_ERR_MIXED_CAPACITY,   /* not all of one capacity */
	BANK_ERR_TOO_MANY,         /* more than 50 (25 of type 3) */
	BANK_ERR_DUPLICATE_SERIAL, /* one serial twice */
	BANK_ERR_NO_FIT,           /* no allowed S fits the bank voltage within 5 % */
	BANK_ERR_S_NOT_DIVISOR,    /* a stored S that does not divide N or the type forbids */
	BANK_ERR_NO_VOLTAGE,       /* no bank or battery voltage to derive S from */
};

/* One line saying what is wrong; "unknown error" for a value out of range. */
const char *bank_error_str(enum bank_error e);

/* What a battery's INFO says about it. */
struct bank_battery_info {
	char serial[BANK_SERIAL_LEN + 1]; /* NUL-terminated */
	uint8_t type;                     /* 1, 2 or 3 */
	uint16_t capacity_ah;
	uint8_t cells;
};

struct bank_topology {
	uint8_t type;
	uint8_t n; /* batteries */
	uint8_t s; /* in series */
	uint8_t p; /* in parallel */
	uint8_t cells_per_battery;
	uint16_t battery_capacity_ah;
	uint16_t cells_total;
	uint16_t cells_in_series; /* s x cells_per_battery */
	uint32_t capacity_ah;     /* p x battery capacity */
	uint32_t nominal_mv;      /* s x battery nominal */
};

/* Cells of a type (4, 8, 16), 0 for an unknown type. */
unsigned bank_type_cells(uint8_t type);
/* Most batteries of a type in one bank (50, or 25 for type 3); 0 if unknown. */
unsigned bank_type_max_batteries(uint8_t type);
/* Whether the type allows s batteries in series (type 1: 1, 2, 4; 2: 1, 2; 3: 1). */
bool bank_type_allows_s(uint8_t type, unsigned s);

/*
 * Derives the topology: S among the divisors of N the type allows, the one
 * for which S x mean_battery_mv is nearest bank_mv, accepted only within
 * +-5 % of bank_mv. *out is written only on BANK_OK.
 */
enum bank_error bank_derive(const struct bank_battery_info *b, size_t n, uint32_t mean_battery_mv,
                            uint32_t bank_mv, struct bank_topology *out);
/* The topology for a stored S (no ADC to derive it from). */
enum bank_error bank_derive_with_s(const struct bank_battery_info *b, size_t n, unsigned s,
                                   struct bank_topology *out);

/* One battery's latest reading, as far as the bank-wide values need it. */
struct bank_reading {
	int32_t current_ma; /* positive = charging */
	uint16_t voltage_mv;
	bool fresh;
};

/*
 * Bank current: sum / S; with k stale batteries the fresh ones stand for all:
 * sum over the fresh x N / ((N - k) x S). -ENODATA when none is fresh,
 * -EINVAL for s == 0 or n == 0.
 */
int bank_current_ma(const struct bank_reading *r, size_t n, unsigned s, int32_t *out);
/* Mean voltage of the fresh batteries; -ENODATA when none is fresh. */
int bank_mean_battery_mv(const struct bank_reading *r, size_t n, uint32_t *out);
/* Whether an ADC reading agrees with S x mean battery voltage within 10 %. */
bool bank_adc_plausible(uint32_t adc_mv, unsigned s, uint32_t mean_battery_mv);

/*
 * Bank voltage: the ADC's reading when adc_ok, else s x mean battery voltage
 * with *w6 set (docs/monitor.md). Returns 0, or -ENODATA when neither exists.
 */
int bank_voltage_mv(bool adc_ok, uint32_t adc_mv, unsigned s, uint32_t mean_battery_mv,
                    uint32_t *out, bool *w6);

/* The remembered bank: serials (any order), type, capacity and S. */
struct bank_identity {
	uint8_t n;
	uint8_t type;
	uint16_t capacity_ah;
	uint8_t s;
	char serial[BANK_MAX_BATTERIES][BANK_SERIAL_LEN + 1];
};

enum bank_id_match {
	BANK_ID_SAME = 0,
	BANK_ID_MORE,    /* every remembered battery and more: W8 */
	BANK_ID_CHANGED, /* fewer, a different serial, type or capacity: E3 */
};

/* Stores the identity of a bank of topology t. -EINVAL when n > 50 or t is
 * not the topology of these batteries. */
int bank_identity_set(struct bank_identity *id, const struct bank_battery_info *b, size_t n,
                      const struct bank_topology *t);
enum bank_id_match bank_identity_compare(const struct bank_identity *id,
                                         const struct bank_battery_info *b, size_t n);
/* Checks a stored identity (e.g. from a state record): 0 or -EINVAL. */
int bank_identity_check(const struct bank_identity *id);
