/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the files of the protection core (protection.c: the step,
 * protection_view.c: what is measured, protection_report.c: what is told);
 * not for callers. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/protection.h"

/* One measured quantity: a value with where it was read, or a flag. */
struct qv {
	bool known;
	bool set; /* flag quantities */
	int32_t value;
	int16_t battery, index;
};

struct bank_view {
	struct qv min_cell, max_cell, min_temp, max_temp;
	bool any_stale;    /* stale and not exempt: the stale rules */
	int16_t stale_bat; /* first such battery */
	bool any_unknown;  /* stale or exempt: no release on battery data */
	bool all_fresh;    /* enumerated bank, every battery fresh */
	bool any_fault;
	bool fw_flag;
	struct qv hard_uv, hard_ov;
	uint64_t next_stale_us;
	uint64_t fresh_mask; /* fresh on real data */
};

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline bool elapsed(uint64_t now_us, uint64_t since_us, uint64_t span_us)
{
	return now_us >= since_us && now_us - since_us >= span_us;
}

struct qv protection_qv_none(void);
/* p may be NULL: no staleness window after a resume. */
void protection_view_bank(struct bank_view *v, const struct protection *p, uint64_t now_us,
                          const struct protection_input *in);
struct qv protection_quantity(const struct protection *p, const struct bank_view *v,
                              const struct protection_input *in, enum protection_quantity q);
/* Is rule i a cause of the pre-alarm at the moment? */
bool protection_prealarm_cause(const struct protection *p, unsigned i);
void protection_report_output(const struct protection *p, enum protection_output_id o,
                              struct protection_output_report *rep);
uint32_t protection_active_codes(const struct protection *p, const struct bank_view *v,
                                 const struct protection_input *in);
