/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The simulator's physics: the LiFePO4 curve and the bank model. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim/bank.h"
#include "sim/lifepo4.h"

#define HOUR_US 3600000000ull

static void ocv_never_decreases(void **state)
{
	int32_t soc;
	unsigned prev = 0;

	for (soc = LIFEPO4_SOC_MIN_PPM - 1000; soc <= LIFEPO4_SOC_MAX_PPM + 1000; soc += 50) {
		unsigned mv = lifepo4_ocv_mv(soc);

		assert_true(mv >= prev);
		prev = mv;
	}
	/* and it does rise across every percent of the useful range */
	for (soc = 0; soc < 1000000; soc += 10000)
		assert_true(lifepo4_ocv_mv(soc + 10000) > lifepo4_ocv_mv(soc));
}

static void ocv_shape(void **state)
{
	assert_int_equal(lifepo4_ocv_mv(0), 2500);
	/* the plateau */
	assert_in_range(lifepo4_ocv_mv(200000), 3240, 3260);
	assert_in_range(lifepo4_ocv_mv(500000), 3250, 3350);
	assert_in_range(lifepo4_ocv_mv(800000), 3250, 3350);
	/* near full */
	assert_in_range(lifepo4_ocv_mv(990000), 3450, 3650);
	assert_in_range(lifepo4_ocv_mv(1000000), 3450, 3650);
	/* clamped past the ends */
	assert_int_equal(lifepo4_ocv_mv(INT32_MIN), lifepo4_ocv_mv(LIFEPO4_SOC_MIN_PPM));
	assert_int_equal(lifepo4_ocv_mv(INT32_MAX), lifepo4_ocv_mv(LIFEPO4_SOC_MAX_PPM));
	assert_true(lifepo4_ocv_mv(LIFEPO4_SOC_MAX_PPM) > SIM_HARD_OV_MV);
	assert_true(lifepo4_ocv_mv(LIFEPO4_SOC_MIN_PPM) < SIM_HARD_UV_MV);
}

static void cells_per_type(void **state)
{
	static const struct {
		const char *name;
		unsigned cells, sensors;
	} want[] = {
	        {"12.8/100", 4, 2}, {"12.8/300", 4, 2}, {"25.6/200", 8, 3}, {"51.2/100", 16, 4}};
	struct sim_bank b;
	struct m8_status st;
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(
		        sim_bank_init(&b, m8_model_by_name(want[i].name), 2, 1, 5000, 0, 1000, 1),
		        0);
		assert_int_equal(b.cells, want[i].cells);
		assert_int_equal(b.sensors, want[i].sensors);
		sim_bank_status(&b, 2, false, &st);
		assert_int_equal(st.n_cells, want[i].cells);
		assert_int_equal(st.n_temps, want[i].sensors);
	}
}

static void bank_size_limits(void **state)
{
	struct sim_bank b;

	assert_int_equal(sim_bank_init(&b, m8_model_by_name("12.8/100"), 5, 10, 8000, 0, 1000, 1),
	                 0);
	assert_int_equal(b.n, 50);
	assert_int_equal(sim_bank_init(&b, m8_model_by_name("12.8/100"), 51, 1, 8000, 0, 1000, 1),
	                 -EINVAL);
	assert_int_equal(sim_bank_init(&b, m8_model_by_name("51.2/100"), 1, 25, 8000, 0, 1000, 1),
	                 0);
	assert_int_equal(sim_bank_init(&b, m8_model_by_name("51.2/100"), 1, 26, 8000, 0, 1000, 1),
	                 -EINVAL);
	assert_int_equal(sim_bank_init(&b, m8_model_by_name("12.8/100"), 0, 1, 8000, 0, 1000, 1),
	                 -EINVAL);
	assert_int_equal(sim_bank_init(&b, m8_model_by_name("12.8/100"), 1, 1, 10001, 0, 1000, 1),
	                 -EINVAL);
	assert_int_equal(sim_bank_init(&b, m8_model_by_name("12.8/100"), 1, 1, 8000, 0, 0, 1),
	                 -EINVAL);
}

/* 10 A into a 100 Ah battery for an hour adds 10 % of its (spread) capacity. */
static void soc_integrates_current(void **state)
{
	struct sim_bank b;
	int32_t before, after;
	int64_t want;

	/* 20 A into two strings: 10 A a string */
	assert_int_equal(
	        sim_bank_init(&b, m8_model_by_name("12.8/100"), 1, 2, 5000, 20000, 1000, 7), 0);
	assert_int_equal(sim_bank_string_current_ma(&b), 10000);
	before = sim_bank_cell_soc_ppm(&b, 2, 3);
	sim_bank_step(&b, HOUR_US);
	after = sim_bank_cell_soc_ppm(&b, 2, 3);
	want = 10000ll * (int64_t)HOUR_US / (b.pack[1].cell[2].capacity_maus / 1000000);
	assert_in_range(after - before, want - 1, want + 1);
	/* the capacity spread is +-1 %: 10 % of 99..101 Ah */
	assert_in_range(after - before, 99009, 101011);

	/* and back down at 10 A discharge */
	b.current_ma = -20000;
	sim_bank_step(&b, HOUR_US);
	assert_in_range(sim_bank_cell_soc_ppm(&b, 2, 3), before - 2, before + 2);
}

/* --time-scale: 3.6 s of real time at 1000x is one simulated hour. */
static void time_scale(void **state)
{
	struct sim_bank b;
	int32_t before;

	assert_int_equal(
	        sim_bank_init(&b, m8_model_by_name("12.8/100"), 1, 1, 5000, -50000, 1000000, 3), 0);
	before = sim_bank_cell_soc_ppm(&b, 1, 1);
	sim_bank_advance(&b, 1000000); /* starts the clock only */
	assert_int_equal(sim_bank_cell_soc_ppm(&b, 1, 1), before);
	sim_bank_advance(&b, 1000000 + 3600000);
	assert_in_range(before - sim_bank_cell_soc_ppm(&b, 1, 1), 495000, 505000);
}

static void soc_clamps_past_the_ends(void **state)
{
	struct sim_bank b;

	assert_int_equal(
	        sim_bank_init(&b, m8_model_by_name("12.8/100"), 1, 1, 1000, -100000, 1000, 1), 0);
	sim_bank_step(&b, 10 * HOUR_US);
	assert_int_equal(sim_bank_cell_soc_ppm(&b, 1, 1), LIFEPO4_SOC_MIN_PPM);
}

static void set_soc_keeps_spread_inside_limits(void **state)
{
	struct sim_bank b;
	unsigned c;

	assert_int_equal(sim_bank_init(&b, m8_model_by_name("25.6/100"), 2, 1, 5000, 0, 1000, 9),
	                 0);
	sim_bank_set_soc(&b, 10000);
	for (c = 1; c <= 8; c++)
		assert_in_range(sim_bank_cell_soc_ppm(&b, 1, c), 996000, 1000000);
	sim_bank_set_soc(&b, 0);
	for (c = 1; c <= 8; c++)
		assert_in_range(sim_bank_cell_soc_ppm(&b, 2, c), 0, 4000);
	sim_bank_set_soc(&b, 5000);
	for (c = 1; c <= 8; c++)
		assert_in_range(sim_bank_cell_soc_ppm(&b, 2, c), 497000, 503000);
}

/* The seeded spread: same seed, same bank; another seed, another bank. */
static void spread_is_seeded(void **state)
{
	struct sim_bank a, b;
	struct m8_status sa, sb;

	assert_int_equal(sim_bank_init(&a, m8_model_by_name("12.8/100"), 4, 1, 6000, 0, 1000, 42),
	                 0);
	assert_int_equal(sim_bank_init(&b, m8_model_by_name("12.8/100"), 4, 1, 6000, 0, 1000, 42),
	                 0);
	sim_bank_status(&a, 3, false, &sa);
	sim_bank_status(&b, 3, false, &sb);
	assert_memory_equal(&sa, &sb, sizeof(sa));
	assert_int_equal(sim_bank_init(&b, m8_model_by_name("12.8/100"), 4, 1, 6000, 0, 1000, 43),
	                 0);
	sim_bank_status(&b, 3, false, &sb);
	assert_memory_not_equal(&sa, &sb, sizeof(sa));
}

static void status_voltage_and_ir_drop(void **state)
{
	struct sim_bank b;
	struct m8_status rest, load;
	unsigned c, sum = 0;

	assert_int_equal(sim_bank_init(&b, m8_model_by_name("12.8/100"), 1, 1, 5000, 0, 1000, 5),
	                 0);
	sim_bank_status(&b, 1, false, &rest);
	for (c = 0; c < 4; c++) {
		assert_in_range(rest.cell_mv[c], 3270, 3310);
		sum += rest.cell_mv[c];
	}
	assert_int_equal(rest.voltage_mv, sum);
	assert_int_equal(rest.current_ma, 0);
	assert_int_equal(rest.flags, 0);
	for (c = 0; c < 2; c++)
		assert_in_range(rest.temp_dc[c], 245, 255);

	/* 100 A discharge through about 0.6 mOhm a cell: some 50-70 mV lower */
	b.current_ma = -100000;
	sim_bank_status(&b, 1, false, &load);
	assert_int_equal(load.current_ma, -100000);
	for (c = 0; c < 4; c++)
		assert_in_range(rest.cell_mv[c] - load.cell_mv[c], 50, 70);
}

static void self_heating(void **state)
{
	struct sim_bank b;
	struct m8_status st;

	assert_int_equal(
	        sim_bank_init(&b, m8_model_by_name("12.8/100"), 1, 1, 5000, -100000, 1000, 5), 0);
	sim_bank_step(&b, 10 * HOUR_US); /* steady state */
	sim_bank_status(&b, 1, false, &st);
	/* about 24 W at 0.5 K/W: 12 K above 25 degC */
	assert_in_range(st.temp_dc[0], 250 + 100, 250 + 140);
	b.current_ma = 0;
	sim_bank_step(&b, 10 * HOUR_US);
	sim_bank_status(&b, 1, false, &st);
	assert_in_range(st.temp_dc[0], 245, 255);
}

static void balancing_only_while_charging_high(void **state)
{
	struct sim_bank b;
	struct m8_status st;

	assert_int_equal(sim_bank_init(&b, m8_model_by_name("12.8/100"), 1, 1, 9950, 0, 1000, 5),
	                 0);
	sim_bank_status(&b, 1, false, &st);
	assert_false(st.flags & M8_ST_BALANCING); /* high but resting */
	b.current_ma = 1000;
	sim_bank_status(&b, 1, false, &st);
	assert_true(st.flags & M8_ST_BALANCING);
	b.current_ma = -1000;
	sim_bank_status(&b, 1, false, &st);
	assert_false(st.flags & M8_ST_BALANCING);
	sim_bank_set_soc(&b, 8000); /* charging on the plateau */
	b.current_ma = 1000;
	sim_bank_status(&b, 1, false, &st);
	assert_false(st.flags & M8_ST_BALANCING);
	/* a drifted cell at the threshold starts it, one mV below does not */
	b.current_ma = 0;
	b.pack[0].cell[1].drift_mv = 0;
	b.pack[0].cell[1].drift_mv = SIM_BALANCE_MV - (int32_t)sim_bank_cell_model_mv(&b, 1, 2) - 1;
	b.current_ma = 1; /* IR drop of 1 mA rounds to nothing */
	sim_bank_status(&b, 1, false, &st);
	assert_int_equal(st.cell_mv[1], SIM_BALANCE_MV - 1);
	assert_false(st.flags & M8_ST_BALANCING);
	b.pack[0].cell[1].drift_mv++;
	sim_bank_status(&b, 1, false, &st);
	assert_true(st.flags & M8_ST_BALANCING);
}

static void hard_limits_and_pins(void **state)
{
	struct sim_bank b;
	struct m8_status st;

	assert_int_equal(sim_bank_init(&b, m8_model_by_name("12.8/100"), 1, 1, 5000, 0, 1000, 5),
	                 0);
	b.pack[0].cell[2].pinned = true;
	b.pack[0].cell[2].pin_mv = SIM_HARD_OV_MV;
	sim_bank_status(&b, 1, false, &st);
	assert_int_equal(st.cell_mv[2], SIM_HARD_OV_MV);
	assert_false(st.flags & M8_ST_HARD_OV); /* at the limit is not over it */
	b.pack[0].cell[2].pin_mv = SIM_HARD_OV_MV + 1;
	sim_bank_status(&b, 1, false, &st);
	assert_true(st.flags & M8_ST_HARD_OV);

	b.pack[0].cell[2].pin_mv = SIM_HARD_UV_MV;
	sim_bank_status(&b, 1, false, &st);
	assert_false(st.flags & (M8_ST_HARD_UV | M8_ST_HARD_OV));
	b.pack[0].cell[2].pin_mv = SIM_HARD_UV_MV - 1;
	sim_bank_status(&b, 1, false, &st);
	assert_true(st.flags & M8_ST_HARD_UV);

	/* not available: reported so, never a limit, the terminal still sums */
	b.pack[0].cell[2].pin_mv = M8_CELL_NA;
	sim_bank_status(&b, 1, false, &st);
	assert_int_equal(st.cell_mv[2], M8_CELL_NA);
	assert_int_equal(st.flags, 0);
	assert_int_equal(st.voltage_mv, st.cell_mv[0] + st.cell_mv[1] +
	                                        sim_bank_cell_model_mv(&b, 1, 3) + st.cell_mv[3]);

	b.pack[0].sensor[1].pinned = true;
	b.pack[0].sensor[1].pin_dc = -150;
	sim_bank_status(&b, 1, false, &st);
	assert_int_equal(st.temp_dc[1], -150);

	/* forced flags, and fw_update from the battery */
	sim_bank_status(&b, 1, true, &st);
	assert_int_equal(st.flags, M8_ST_FW_UPDATE);
	b.pack[0].flag_mode[1] = SIM_FLAG_OFF;
	b.pack[0].flag_mode[2] = SIM_FLAG_ON;
	sim_bank_status(&b, 1, true, &st);
	assert_int_equal(st.flags, M8_ST_FAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ocv_never_decreases),
	        cmocka_unit_test(ocv_shape),
	        cmocka_unit_test(cells_per_type),
	        cmocka_unit_test(bank_size_limits),
	        cmocka_unit_test(soc_integrates_current),
	        cmocka_unit_test(time_scale),
	        cmocka_unit_test(soc_clamps_past_the_ends),
	        cmocka_unit_test(set_soc_keeps_spread_inside_limits),
	        cmocka_unit_test(spread_is_seeded),
	        cmocka_unit_test(status_voltage_and_ir_drop),
	        cmocka_unit_test(self_heating),
	        cmocka_unit_test(balancing_only_while_charging_high),
	        cmocka_unit_test(hard_limits_and_pins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
