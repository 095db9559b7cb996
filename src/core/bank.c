/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/bank.h"

#include <errno.h>
#include <string.h>

static const char *const bank_error_text[] = {
        [BANK_OK] = "ok",
        [BANK_ERR_EMPTY] = "no battery in the bank",
        [BANK_ERR_TYPE] = "unknown battery type, a cell count not the type's, or no capacity",
        [BANK_ERR_MIXED_TYPES] = "batteries of different types",
        [BANK_ERR_MIXED_CAPACITY] = "batteries of different capacities",
        [BANK_ERR_TOO_MANY] = "too many batteries (at most 50, or 25 of type 3)",
        [BANK_ERR_DUPLICATE_SERIAL] = "one serial number seen twice",
        [BANK_ERR_NO_FIT] = "bank voltage fits no series count within 5 %",
        [BANK_ERR_S_NOT_DIVISOR] =
                "batteries in series do not divide the count or the type forbids them",
        [BANK_ERR_NO_VOLTAGE] = "no bank or battery voltage to derive the series count from",
};

const char *bank_error_str(enum bank_error e)
{
	/* mutation: equivalent [const 0->1] (every element has one size) */
	if ((unsigned)e >= sizeof(bank_error_text) / sizeof(bank_error_text[0]))
		return "unknown error";
	return bank_error_text[e];
}

unsigned bank_type_cells(uint8_t type)
{
	switch (type) {
	case 1:
		return 4;
	case 2:
		return 8;
	case 3:
		return 16;
	default:
		return 0;
	}
}

unsigned bank_type_max_batteries(uint8_t type)
{
	switch (type) {
	case 1:
	case 2:
		return 50;
	case 3:
		return 25;
	default:
		return 0;
	}
}

bool bank_type_allows_s(uint8_t type, unsigned s)
{
	switch (type) {
	case 1:
		return s == 1 || s == 2 || s == 4;
	case 2:
		return s == 1 || s == 2;
	case 3:
		return s == 1;
	default:
		return false;
	}
}

/* Checks what every topology needs: one type, one capacity, a valid count. */
static enum bank_error check_batteries(const struct bank_battery_info *b, size_t n)
{
	if (n == 0)
		return BANK_ERR_EMPTY;
	for (size_t i = 0; i < n; i++) {
		unsigned cells = bank_type_cells(b[i].type);
		if (cells == 0 || cells != b[i].cells || b[i].capacity_ah == 0)
			return BANK_ERR_TYPE;
		if (b[i].type != b[0].type)
			return BANK_ERR_MIXED_TYPES;
		if (b[i].capacity_ah != b[0].capacity_ah)
			return BANK_ERR_MIXED_CAPACITY;
	}
	if (n > bank_type_max_batteries(b[0].type))
		return BANK_ERR_TOO_MANY;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strncmp(b[i].serial, b[j].serial, BANK_SERIAL_LEN) == 0)
				return BANK_ERR_DUPLICATE_SERIAL;
	return BANK_OK;
}

static void fill_topology(const struct bank_battery_info *b, size_t n, unsigned s,
                          struct bank_topology *out)
{
	unsigned cells = bank_type_cells(b[0].type);

	*out = (struct bank_topology){
	        .type = b[0].type,
	        .n = (uint8_t)n,
	        .s = (uint8_t)s,
	        .p = (uint8_t)(n / s),
	        .cells_per_battery = (uint8_t)cells,
	        .battery_capacity_ah = b[0].capacity_ah,
	        .cells_total = (uint16_t)(n * cells),
	        .cells_in_series = (uint16_t)(s * cells),
	        .capacity_ah = (uint32_t)(n / s) * b[0].capacity_ah,
	        .nominal_mv = (uint32_t)(s * cells * BANK_CELL_NOMINAL_MV),
	};
}

static uint64_t abs_diff(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

enum bank_error bank_derive(const struct bank_battery_info *b, size_t n, uint32_t mean_battery_mv,
                            uint32_t bank_mv, struct bank_topology *out)
{
	enum bank_error e = check_batteries(b, n);
	unsigned best = 0;
	uint64_t best_gap = UINT64_MAX;

	if (e != BANK_OK)
		return e;
	if (mean_battery_mv == 0 || bank_mv == 0)
		return BANK_ERR_NO_VOLTAGE;
	for (unsigned s = 1; s <= 4; s++) {
		if (n % s != 0 || !bank_type_allows_s(b[0].type, s))
			continue;
		uint64_t gap = abs_diff((uint64_t)s * mean_battery_mv, bank_mv);
		if (gap < best_gap) {
			best_gap = gap;
			best = s;
		}
	}
	/* best is at least 1: 1 divides every N and every type allows it. */
	if (best_gap * 100 > (uint64_t)BANK_FIT_PCT * bank_mv)
		return BANK_ERR_NO_FIT;
	fill_topology(b, n, best, out);
	return BANK_OK;
}

enum bank_error bank_derive_with_s(const struct bank_battery_info *b, size_t n, unsigned s,
                                   struct bank_topology *out)
{
	enum bank_error e = check_batteries(b, n);

	if (e != BANK_OK)
		return e;
	if (s == 0 || n % s != 0 || !bank_type_allows_s(b[0].type, s))
		return BANK_ERR_S_NOT_DIVISOR;
	fill_topology(b, n, s, out);
	return BANK_OK;
}

int bank_current_ma(const struct bank_reading *r, size_t n, unsigned s, int32_t *out)
{
	int64_t sum = 0;
	size_t fresh = 0;

	if (n == 0 || s == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!r[i].fresh)
			continue;
		sum += r[i].current_ma;
		fresh++;
	}
	if (fresh == 0)
		return -ENODATA;
	/* |sum| <= 50 x 2^31, x 50 still far inside int64. */
	int64_t v = sum * (int64_t)n / ((int64_t)fresh * s);
	if (v > INT32_MAX || v < INT32_MIN)
		return -ERANGE;
	*out = (int32_t)v;
	return 0;
}

int bank_mean_battery_mv(const struct bank_reading *r, size_t n, uint32_t *out)
{
	uint64_t sum = 0;
	size_t fresh = 0;

	for (size_t i = 0; i < n; i++) {
		if (!r[i].fresh)
			continue;
		sum += r[i].voltage_mv;
		fresh++;
	}
	if (fresh == 0)
		return -ENODATA;
	*out = (uint32_t)((sum + fresh / 2) / fresh);
	return 0;
}

bool bank_adc_plausible(uint32_t adc_mv, unsigned s, uint32_t mean_battery_mv)
{
	uint64_t expect = (uint64_t)s * mean_battery_mv;

	if (expect == 0)
		return false;
	return abs_diff(adc_mv, expect) * 100 <= (uint64_t)BANK_ADC_PLAUSIBLE_PCT * expect;
}

int bank_voltage_mv(bool adc_ok, uint32_t adc_mv, unsigned s, uint32_t mean_battery_mv,
                    uint32_t *out, bool *w6)
{
	if (adc_ok) {
		*out = adc_mv;
		*w6 = false;
		return 0;
	}
	if (s == 0 || mean_battery_mv == 0)
		return -ENODATA;
	*out = s * mean_battery_mv;
	*w6 = true;
	return 0;
}

int bank_identity_set(struct bank_identity *id, const struct bank_battery_info *b, size_t n,
                      const struct bank_topology *t)
{
	/* mutation: equivalent [cond-drop n == 0] (check_batteries() refuses 0 too) */
	if (n == 0 || n > BANK_MAX_BATTERIES || check_batteries(b, n) != BANK_OK)
		return -EINVAL;
	if (t->n != n || t->type != b[0].type || t->battery_capacity_ah != b[0].capacity_ah ||
	    t->s == 0 || n % t->s != 0 || !bank_type_allows_s(t->type, t->s))
		return -EINVAL;
	memset(id, 0, sizeof(*id));
	id->n = (uint8_t)n;
	id->type = t->type;
	id->capacity_ah = t->battery_capacity_ah;
	id->s = t->s;
	for (size_t i = 0; i < n; i++)
		strncpy(id->serial[i], b[i].serial, BANK_SERIAL_LEN);
	return 0;
}

static bool serial_in(const struct bank_battery_info *b, size_t n, const char *serial)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(b[i].serial, serial, BANK_SERIAL_LEN) == 0)
			return true;
	return false;
}

enum bank_id_match bank_identity_compare(const struct bank_identity *id,
                                         const struct bank_battery_info *b, size_t n)
{
	if (n < id->n)
		return BANK_ID_CHANGED;
	for (size_t i = 0; i < n; i++)
		if (b[i].type != id->type || b[i].capacity_ah != id->capacity_ah)
			return BANK_ID_CHANGED;
	for (size_t i = 0; i < id->n; i++)
		if (!serial_in(b, n, id->serial[i]))
			return BANK_ID_CHANGED;
	return n > id->n ? BANK_ID_MORE : BANK_ID_SAME;
}

int bank_identity_check(const struct bank_identity *id)
{
	if (id->n == 0 || id->n > bank_type_max_batteries(id->type))
		return -EINVAL;
	if (id->s == 0 || id->n % id->s != 0 || !bank_type_allows_s(id->type, id->s))
		return -EINVAL;
	if (id->capacity_ah == 0)
		return -EINVAL;
	for (size_t i = 0; i < id->n; i++) {
		size_t len = strnlen(id->serial[i], BANK_SERIAL_LEN + 1);
		if (len == 0 || len > BANK_SERIAL_LEN)
			return -EINVAL;
		for (size_t c = 0; c < len; c++)
			if (id->serial[i][c] < 0x20 || id->serial[i][c] > 0x7e)
				return -EINVAL;
		/* NUL-padded: one spelling per serial, so a record reads back the same. */
		for (size_t c = len; c <= BANK_SERIAL_LEN; c++)
			if (id->serial[i][c] != '\0')
				return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(id->serial[i], id->serial[j]) == 0)
				return -EINVAL;
	}
	return 0;
}
