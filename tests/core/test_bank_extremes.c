/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The incremental bank extremes against a full rescan (issue 16). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/bank_extremes.h"

/* What the test keeps of each battery: its last reading, and whether it
 * counts (a stale battery, or one never heard, does not). */
struct model {
	bool counts[BANK_EXT_MAX_BATTERIES];
	unsigned n_cells[BANK_EXT_MAX_BATTERIES], n_temps[BANK_EXT_MAX_BATTERIES];
	uint16_t cell[BANK_EXT_MAX_BATTERIES][BANK_EXT_MAX_CELLS];
	int16_t temp[BANK_EXT_MAX_BATTERIES][BANK_EXT_MAX_TEMPS];
};

/* The reference: every cell of every counting battery in order, the first
 * of equal values kept (strict comparison), as the protection's scan does. */
static struct bank_extreme scan(const struct model *m, enum bank_ext_dim d)
{
	struct bank_extreme r = {.battery = -1, .index = -1};
	bool cells = d == BANK_EXT_MIN_CELL || d == BANK_EXT_MAX_CELL;
	bool min = d == BANK_EXT_MIN_CELL || d == BANK_EXT_MIN_TEMP;

	for (unsigned b = 0; b < BANK_EXT_MAX_BATTERIES; b++) {
		if (!m->counts[b])
			continue;
		unsigned n = cells ? m->n_cells[b] : m->n_temps[b];
		for (unsigned i = 0; i < n; i++) {
			int32_t v = cells ? m->cell[b][i] : m->temp[b][i];
			if (cells ? v == BANK_EXT_CELL_NA : v == BANK_EXT_TEMP_NA)
				continue;
			if (!r.known || (min ? v < r.value : v > r.value))
				r = (struct bank_extreme){.known = true,
				                          .value = v,
				                          .battery = (int16_t)b,
				                          .index = (int16_t)i};
		}
	}
	return r;
}

static void assert_same(const struct bank_extremes *e, const struct model *m, unsigned long step,
                        uint32_t seed)
{
	static const char *const names[] = {"min cell", "max cell", "min temp", "max temp"};
	for (unsigned d = 0; d < BANK_EXT_DIMS; d++) {
		struct bank_extreme got = bank_extremes_get(e, (enum bank_ext_dim)d);
		struct bank_extreme want = scan(m, (enum bank_ext_dim)d);
		if (got.known != want.known ||
		    (want.known && (got.value != want.value || got.battery != want.battery ||
		                    got.index != want.index)))
			fail_msg("seed %u step %lu %s: incremental %s%d at %d/%d, rescan %s%d at "
			         "%d/%d",
			         seed, step, names[d], got.known ? "" : "unknown ", got.value,
			         got.battery, got.index, want.known ? "" : "unknown ", want.value,
			         want.battery, want.index);
	}
}

static uint32_t rng_next(uint32_t *s)
{
	/* xorshift32 */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static uint16_t random_cell(uint32_t *s)
{
	static const uint16_t pick[] = {0, 2500, 2799, 2800, 3200, 3200, 3300, 3750, 65534, 0xFFFF};
	uint32_t r = rng_next(s) % 16;
	if (r < 10)
		return pick[r];
	return (uint16_t)(3195 + rng_next(s) % 10); /* many ties */
}

static int16_t random_temp(uint32_t *s)
{
	static const int16_t pick[] = {-32768, -200, 0, 250, 251, 450, 32766, 0x7FFF};
	uint32_t r = rng_next(s) % 12;
	if (r < 8)
		return pick[r];
	return (int16_t)(248 + rng_next(s) % 5);
}

/* One random sequence: new readings (with 0xFFFF / 0x7FFF among them),
 * batteries going stale, coming back with their last reading, readings
 * that change nothing. Checked against the rescan after every step. */
static void run_seed(uint32_t seed, unsigned long steps)
{
	struct bank_extremes e;
	struct model m;
	uint32_t s = seed;
	unsigned long changes = 0;

	memset(&m, 0, sizeof(m));
	bank_extremes_init(&e);
	assert_same(&e, &m, 0, seed);
	for (unsigned long step = 1; step <= steps; step++) {
		/* a few batteries get most of the traffic, so extremes move often */
		unsigned b = rng_next(&s) % 4 == 0 ? rng_next(&s) % BANK_EXT_MAX_BATTERIES
		                                   : rng_next(&s) % 6;
		unsigned what = rng_next(&s) % 100;

		if (what < 55) { /* a new reading */
			m.n_cells[b] = rng_next(&s) % (BANK_EXT_MAX_CELLS + 1);
			m.n_temps[b] = rng_next(&s) % (BANK_EXT_MAX_TEMPS + 1);
			for (unsigned c = 0; c < m.n_cells[b]; c++)
				m.cell[b][c] = random_cell(&s);
			for (unsigned t = 0; t < m.n_temps[b]; t++)
				m.temp[b][t] = random_temp(&s);
			/* one value changed by a little */
			if (m.n_cells[b] && rng_next(&s) % 2)
				m.cell[b][rng_next(&s) % m.n_cells[b]] += 1;
		} else if (what < 65) { /* nothing available */
			for (unsigned c = 0; c < m.n_cells[b]; c++)
				m.cell[b][c] = BANK_EXT_CELL_NA;
			for (unsigned t = 0; t < m.n_temps[b]; t++)
				m.temp[b][t] = BANK_EXT_TEMP_NA;
		} else if (what < 80) { /* stale or gone */
			m.counts[b] = false;
			assert_int_equal(bank_extremes_remove(&e, b), 0);
			assert_same(&e, &m, step, seed);
			changes++;
			continue;
		}
		/* else: back with its last reading, or the same reading again */
		m.counts[b] = true;
		assert_int_equal(
		        bank_extremes_set(&e, b, m.cell[b], m.n_cells[b], m.temp[b], m.n_temps[b]),
		        0);
		assert_same(&e, &m, step, seed);
		changes++;
	}
	print_message("seed %u: %lu steps, %llu rescans of one dimension (%.3f a step)\n", seed,
	              steps, (unsigned long long)e.rescans, (double)e.rescans / (double)changes);
	/* cheap: far fewer rescans than updates x dimensions */
	assert_true(e.rescans < changes * BANK_EXT_DIMS / 2);
}

static void test_property(void **state)
{
	/* fixed seeds, printed, so that a failure can be replayed */
	static const uint32_t seeds[] = {1, 16, 2026, 0xC0FFEE, 123456789};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		run_seed(seeds[i], 20000);
}

static void test_ties_and_markers(void **state)
{
	struct bank_extremes e;
	const uint16_t a[] = {3300, 0xFFFF, 3200, 3200};
	const uint16_t b[] = {3200, 3400, 0xFFFF};
	const int16_t ta[] = {0x7FFF, 250};
	const int16_t tb[] = {250, -5};

	bank_extremes_init(&e);
	assert_false(bank_extremes_get(&e, BANK_EXT_MIN_CELL).known);
	assert_int_equal(bank_extremes_set(&e, 3, b, 3, tb, 2), 0);
	assert_int_equal(bank_extremes_set(&e, 1, a, 4, ta, 2), 0);
	/* equal minima: the lower battery, then the lower cell */
	struct bank_extreme q = bank_extremes_get(&e, BANK_EXT_MIN_CELL);
	assert_int_equal(q.value, 3200);
	assert_int_equal(q.battery, 1);
	assert_int_equal(q.index, 2);
	q = bank_extremes_get(&e, BANK_EXT_MAX_CELL);
	assert_int_equal(q.value, 3400);
	assert_int_equal(q.battery, 3);
	q = bank_extremes_get(&e, BANK_EXT_MAX_TEMP);
	assert_int_equal(q.value, 250);
	assert_int_equal(q.battery, 1);
	assert_int_equal(q.index, 1);
	q = bank_extremes_get(&e, BANK_EXT_MIN_TEMP);
	assert_int_equal(q.value, -5);
	/* the holder leaves: the next one takes over */
	assert_int_equal(bank_extremes_remove(&e, 1), 0);
	q = bank_extremes_get(&e, BANK_EXT_MIN_CELL);
	assert_int_equal(q.battery, 3);
	assert_int_equal(q.index, 0);
	/* only markers: nothing known */
	const uint16_t na[] = {0xFFFF, 0xFFFF};
	const int16_t tna[] = {0x7FFF};
	assert_int_equal(bank_extremes_set(&e, 3, na, 2, tna, 1), 0);
	assert_false(bank_extremes_get(&e, BANK_EXT_MIN_CELL).known);
	assert_false(bank_extremes_get(&e, BANK_EXT_MAX_TEMP).known);
	assert_false(bank_extremes_get(&e, BANK_EXT_DIMS).known);
}

static void test_bad_input_changes_nothing(void **state)
{
	struct bank_extremes e, before;
	const uint16_t a[17] = {3300};
	const int16_t t[5] = {0};

	bank_extremes_init(&e);
	assert_int_equal(bank_extremes_set(&e, 0, a, 1, t, 1), 0);
	before = e;
	assert_int_equal(bank_extremes_set(&e, 50, a, 1, t, 1), -EINVAL);
	assert_int_equal(bank_extremes_set(&e, 0, a, 17, t, 1), -EINVAL);
	assert_int_equal(bank_extremes_set(&e, 0, a, 1, t, 5), -EINVAL);
	assert_int_equal(bank_extremes_set(&e, 0, NULL, 1, t, 1), -EINVAL);
	assert_int_equal(bank_extremes_set(&e, 0, a, 1, NULL, 1), -EINVAL);
	assert_int_equal(bank_extremes_remove(&e, 50), -EINVAL);
	assert_memory_equal(&e, &before, sizeof(e));
	assert_int_equal(bank_extremes_set(&e, 0, NULL, 0, NULL, 0), 0);
	assert_false(bank_extremes_get(&e, BANK_EXT_MIN_CELL).known);
}

/* The cost rule (core/bank_extremes.h): a battery that does not hold the
 * bank's extreme costs no scan of the batteries when it gets worse; the
 * holder does, one scan of that dimension. */
static void test_rescan_only_for_the_holder(void **state)
{
	struct bank_extremes e;
	const uint16_t low[] = {3300, 3310}, mid[] = {3350, 3360}, higher[] = {3400, 3380};
	const int16_t t[] = {250};
	uint64_t scans;

	bank_extremes_init(&e);
	assert_int_equal(bank_extremes_set(&e, 0, low, 2, t, 1), 0);
	assert_int_equal(bank_extremes_set(&e, 1, mid, 2, t, 1), 0);
	assert_int_equal(bank_extremes_get(&e, BANK_EXT_MIN_CELL).battery, 0);
	scans = e.rescans;
	/* battery 1's lowest cell rises (worse for the minimum), its highest
	 * too (better for the maximum, which it holds): no scan */
	assert_int_equal(bank_extremes_set(&e, 1, higher, 2, t, 1), 0);
	assert_true(e.rescans == scans);
	assert_int_equal(bank_extremes_get(&e, BANK_EXT_MIN_CELL).battery, 0);
	assert_int_equal(bank_extremes_get(&e, BANK_EXT_MAX_CELL).value, 3400);
	/* battery 0, the minimum's holder, rises above battery 1: one scan */
	const uint16_t risen[] = {3390, 3395};
	assert_int_equal(bank_extremes_set(&e, 0, risen, 2, t, 1), 0);
	assert_true(e.rescans == scans + 1);
	assert_int_equal(bank_extremes_get(&e, BANK_EXT_MIN_CELL).battery, 1);
	assert_int_equal(bank_extremes_get(&e, BANK_EXT_MIN_CELL).value, 3380);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ties_and_markers),
	        cmocka_unit_test(test_bad_input_changes_nothing),
	        cmocka_unit_test(test_rescan_only_for_the_holder),
	        cmocka_unit_test(test_property),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
