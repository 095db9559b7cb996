/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The simulator's `bank` query, which the daemon's tests and demo use to keep
 * the fake ADC's bank voltage in step with the simulated batteries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim/control.h"

/* 2 in series x 2 in parallel of 4 cells. */
static int setup(void **state)
{
	struct sim_world *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	if (sim_bank_init(&w->bank, m8_model_by_name("12.8/100"), 2, 2, 5000, -20000, 1000, 1) <
	            0 ||
	    sim_chain_init(&w->chain, &w->bank, "HQ2402JJ", 1000, 1) < 0) {
		free(w);
		return -1;
	}
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

struct bank_answer {
	unsigned long mv;
	long ma;
	unsigned min_mv, max_mv;
};

static void query(struct sim_world *w, struct bank_answer *a)
{
	char out[256], tail;

	assert_int_equal(sim_control_line(w, "bank", out, sizeof(out)), 0);
	assert_int_equal(sscanf(out, "ok mv=%lu ma=%ld min-cell-mv=%u max-cell-mv=%u%c", &a->mv,
	                        &a->ma, &a->min_mv, &a->max_mv, &tail),
	                 4);
}

/* The expected figures, from the batteries' own STATUS. */
static void expected(const struct sim_world *w, struct bank_answer *e)
{
	unsigned long sum = 0;

	e->min_mv = 0xFFFF;
	e->max_mv = 0;
	for (unsigned pos = 1; pos <= 4; pos++) {
		struct m8_status st;

		sim_bank_status(&w->bank, pos, false, &st);
		sum += st.voltage_mv;
		for (unsigned j = 0; j < st.n_cells; j++) {
			if (st.cell_mv[j] == M8_CELL_NA)
				continue;
			e->min_mv = st.cell_mv[j] < e->min_mv ? st.cell_mv[j] : e->min_mv;
			e->max_mv = st.cell_mv[j] > e->max_mv ? st.cell_mv[j] : e->max_mv;
		}
	}
	e->mv = sum / 2;
	e->ma = w->bank.current_ma;
}

static void bank_reports_voltage_current_and_extremes(void **state)
{
	struct sim_world *w = *state;
	struct bank_answer a, e;

	query(w, &a);
	expected(w, &e);
	assert_int_equal(a.mv, e.mv);
	assert_int_equal(a.ma, -20000);
	assert_int_equal(a.min_mv, e.min_mv);
	assert_int_equal(a.max_mv, e.max_mv);
	/* two 12.8 V batteries in series near 50 % under a small load */
	assert_in_range(a.mv, 25000, 27500);
}

static void bank_follows_pins_and_skips_missing_cells(void **state)
{
	struct sim_world *w = *state;
	struct bank_answer before, a;

	query(w, &before);
	assert_int_equal(sim_control_line(w, "cell 3 2 2700", (char[256]){0}, 256), 0);
	query(w, &a);
	assert_int_equal(a.min_mv, 2700);
	assert_true(a.mv < before.mv);
	assert_int_equal(sim_control_line(w, "cell 3 2 0xFFFF", (char[256]){0}, 256), 0);
	query(w, &a);
	assert_int_equal(a.min_mv, before.min_mv);
	assert_int_equal(sim_control_line(w, "cell 4 1 3900", (char[256]){0}, 256), 0);
	query(w, &a);
	assert_int_equal(a.max_mv, 3900);
	assert_int_equal(sim_control_line(w, "current 7000", (char[256]){0}, 256), 0);
	query(w, &a);
	assert_int_equal(a.ma, 7000);
}

static void bank_with_arguments_is_refused(void **state)
{
	struct sim_world *w = *state;
	struct sim_world *before = malloc(sizeof(*w));
	char out[256];

	assert_non_null(before);
	memcpy(before, w, sizeof(*w));
	assert_int_equal(sim_control_line(w, "bank 1", out, sizeof(out)), -EINVAL);
	assert_string_equal(out, "error: usage: bank");
	assert_memory_equal(before, w, sizeof(*w));
	free(before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(bank_reports_voltage_current_and_extremes, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(bank_follows_pins_and_skips_missing_cells, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(bank_with_arguments_is_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
