/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/bank_extremes.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static bool is_min(enum bank_ext_dim d)
{
	return d == BANK_EXT_MIN_CELL || d == BANK_EXT_MIN_TEMP;
}

/* a comes before b in dimension d: the better value, then the lower
 * battery, then the lower index. An unknown one comes last. */
static bool before(enum bank_ext_dim d, const struct bank_extreme *a, const struct bank_extreme *b)
{
	if (!a->known || !b->known)
		return a->known;
	if (a->value != b->value)
		return is_min(d) ? a->value < b->value : a->value > b->value;
	if (a->battery != b->battery)
		return a->battery < b->battery;
	return a->index < b->index;
}

static struct bank_extreme none(void)
{
	return (struct bank_extreme){.battery = -1, .index = -1};
}

void bank_extremes_init(struct bank_extremes *e)
{
	for (unsigned d = 0; d < BANK_EXT_DIMS; d++) {
		e->bank[d] = none();
		for (unsigned b = 0; b < BANK_EXT_MAX_BATTERIES; b++)
			e->bat[b][d] = none();
	}
	e->rescans = 0;
}

static void take(enum bank_ext_dim d, struct bank_extreme *q, int32_t v, unsigned b, unsigned i)
{
	struct bank_extreme c = {
	        .known = true, .value = v, .battery = (int16_t)b, .index = (int16_t)i};
	if (before(d, &c, q))
		*q = c;
}

static void rescan(struct bank_extremes *e, enum bank_ext_dim d)
{
	e->bank[d] = none();
	for (unsigned b = 0; b < BANK_EXT_MAX_BATTERIES; b++)
		if (before(d, &e->bat[b][d], &e->bank[d]))
			e->bank[d] = e->bat[b][d];
	e->rescans++;
}

/* Battery b's extreme of d changed from old to its current one. */
static void update(struct bank_extremes *e, unsigned b, enum bank_ext_dim d,
                   const struct bank_extreme *old)
{
	const struct bank_extreme *cur = &e->bat[b][d];
	struct bank_extreme *bank = &e->bank[d];

	/* mutation: equivalent [cond-drop bank->known] because an unknown extreme names battery -1
	 * (none()), never b */
	if (bank->known && bank->battery == (int16_t)b && before(d, old, cur)) {
		/* it held the bank's extreme and got worse or left */
		rescan(e, d);
		return;
	}
	if (before(d, cur, bank))
		*bank = *cur;
}

static void apply(struct bank_extremes *e, unsigned b, const struct bank_extreme *next)
{
	for (unsigned d = 0; d < BANK_EXT_DIMS; d++) {
		struct bank_extreme old = e->bat[b][d];

		e->bat[b][d] = next[d];
		update(e, b, (enum bank_ext_dim)d, &old);
	}
}

int bank_extremes_set(struct bank_extremes *e, unsigned b, const uint16_t *cell_mv,
                      unsigned n_cells, const int16_t *temp_dc, unsigned n_temps)
{
	struct bank_extreme next[BANK_EXT_DIMS];

	if (b >= BANK_EXT_MAX_BATTERIES || n_cells > BANK_EXT_MAX_CELLS ||
	    n_temps > BANK_EXT_MAX_TEMPS || (n_cells && !cell_mv) || (n_temps && !temp_dc))
		return -EINVAL;
	for (unsigned d = 0; d < BANK_EXT_DIMS; d++)
		next[d] = none();
	for (unsigned c = 0; c < n_cells; c++) {
		if (cell_mv[c] == BANK_EXT_CELL_NA)
			continue;
		take(BANK_EXT_MIN_CELL, &next[BANK_EXT_MIN_CELL], cell_mv[c], b, c);
		take(BANK_EXT_MAX_CELL, &next[BANK_EXT_MAX_CELL], cell_mv[c], b, c);
	}
	for (unsigned t = 0; t < n_temps; t++) {
		if (temp_dc[t] == BANK_EXT_TEMP_NA)
			continue;
		take(BANK_EXT_MIN_TEMP, &next[BANK_EXT_MIN_TEMP], temp_dc[t], b, t);
		take(BANK_EXT_MAX_TEMP, &next[BANK_EXT_MAX_TEMP], temp_dc[t], b, t);
	}
	apply(e, b, next);
	return 0;
}

int bank_extremes_remove(struct bank_extremes *e, unsigned b)
{
	struct bank_extreme next[BANK_EXT_DIMS];

	if (b >= BANK_EXT_MAX_BATTERIES)
		return -EINVAL;
	for (unsigned d = 0; d < BANK_EXT_DIMS; d++)
		next[d] = none();
	apply(e, b, next);
	return 0;
}

struct bank_extreme bank_extremes_get(const struct bank_extremes *e, enum bank_ext_dim d)
{
	if ((unsigned)d >= BANK_EXT_DIMS)
		return none();
	return e->bank[d];
}
