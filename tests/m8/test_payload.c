/* SPDX-License-Identifier: GPL-2.0-or-later */
/* INFO and STATUS payloads and the model table (docs/m8bus.md section 4). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smallbms/m8_proto.h"

static struct m8_info sample_info(void)
{
	struct m8_info i = {
	        .serial = "HQ2402JJ001",
	        .type = M8_TYPE_12V8,
	        .capacity_ah = 0x1234,
	        .cells = 4,
	        .sensors = 4,
	        .fw_major = 1,
	        .fw_minor = 2,
	        .fw_patch = 3,
	        .max_charge_a = 0x0102,
	        .max_charge_pulse_a = 0x0304,
	        .max_discharge_a = 0x0506,
	        .max_discharge_pulse_a = 0x0708,
	        .flags = M8_INFO_CHAIN_END,
	};
	return i;
}

static void test_info_layout(void **state)
{
	struct m8_info i = sample_info();
	uint8_t out[40];
	const uint8_t want[M8_INFO_LEN] = {
	        'H', 'Q', '2',  '4',  '0',  '2',  'J',  'J',  '0',  '0',  '1',
	        0,   0,   0,    0,    0,    1,    0x34, 0x12, 4,    4,    1,
	        2,   3,   0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0x08, 0x07, 0x01,
	};

	assert_int_equal(m8_info_encode(&i, out, sizeof(out)), 33);
	assert_memory_equal(out, want, 33);
	assert_int_equal(m8_info_encode(&i, out, 32), -ENOBUFS);

	struct m8_info d;
	memset(&d, 0x55, sizeof(d));
	assert_int_equal(m8_info_decode(&d, want, 33), 0);
	assert_string_equal(d.serial, "HQ2402JJ001");
	assert_int_equal(d.type, 1);
	assert_int_equal(d.capacity_ah, 0x1234);
	assert_int_equal(d.cells, 4);
	assert_int_equal(d.sensors, 4);
	assert_int_equal(d.fw_major, 1);
	assert_int_equal(d.fw_minor, 2);
	assert_int_equal(d.fw_patch, 3);
	assert_int_equal(d.max_charge_a, 0x0102);
	assert_int_equal(d.max_charge_pulse_a, 0x0304);
	assert_int_equal(d.max_discharge_a, 0x0506);
	assert_int_equal(d.max_discharge_pulse_a, 0x0708);
	assert_int_equal(d.flags, M8_INFO_CHAIN_END);
}

static void test_info_full_serial(void **state)
{
	struct m8_info i = sample_info();
	uint8_t out[40];
	struct m8_info d;

	memcpy(i.serial, "ABCDEFGHIJKLMNOP", 17);
	assert_int_equal(m8_info_encode(&i, out, sizeof(out)), 33);
	assert_int_equal(m8_info_decode(&d, out, 33), 0);
	assert_string_equal(d.serial, "ABCDEFGHIJKLMNOP");
}

static void expect_info_rejected(const uint8_t *p, size_t len, int err)
{
	struct m8_info d, before;
	memset(&d, 0x5A, sizeof(d));
	before = d;
	assert_int_equal(m8_info_decode(&d, p, len), err);
	assert_memory_equal(&d, &before, sizeof(d));
}

static void test_info_rejects(void **state)
{
	struct m8_info i = sample_info();
	uint8_t good[40], bad[40];

	assert_int_equal(m8_info_encode(&i, good, sizeof(good)), 33);
	expect_info_rejected(good, 32, -EBADMSG);
	expect_info_rejected(good, 34, -EBADMSG);
	expect_info_rejected(good, 0, -EBADMSG);

	/* type: 0 and 4 unknown; 1..3 only with their own cell count */
	static const struct {
		uint8_t type, cells, sensors;
		int ok;
	} cases[] = {
	        {0, 4, 1, 0}, {4, 4, 1, 0}, {1, 4, 1, 1},  {1, 8, 1, 0},
	        {2, 8, 2, 1}, {2, 4, 2, 0}, {3, 16, 3, 1}, {3, 8, 3, 0},
	        {1, 4, 0, 0}, {1, 4, 4, 1}, {1, 4, 5, 0},  {3, 16, 4, 1},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		memcpy(bad, good, 33);
		bad[16] = cases[k].type;
		bad[19] = cases[k].cells;
		bad[20] = cases[k].sensors;
		if (cases[k].ok) {
			struct m8_info d;
			assert_int_equal(m8_info_decode(&d, bad, 33), 0);
			assert_int_equal(d.type, cases[k].type);
		} else {
			expect_info_rejected(bad, 33, -EINVAL);
		}
	}

	/* serial: empty, control character, non-ASCII, junk after the NUL */
	memcpy(bad, good, 33);
	memset(bad, 0, 16);
	expect_info_rejected(bad, 33, -EINVAL);
	memcpy(bad, good, 33);
	bad[3] = '\n';
	expect_info_rejected(bad, 33, -EINVAL);
	memcpy(bad, good, 33);
	bad[3] = 0xC3;
	expect_info_rejected(bad, 33, -EINVAL);
	memcpy(bad, good, 33);
	bad[13] = 'X';
	expect_info_rejected(bad, 33, -EINVAL);

	/* encoding refuses what decoding would */
	i.cells = 8;
	assert_int_equal(m8_info_encode(&i, good, sizeof(good)), -EINVAL);
	i = sample_info();
	i.serial[0] = '\0';
	assert_int_equal(m8_info_encode(&i, good, sizeof(good)), -EINVAL);
}

static struct m8_status sample_status(unsigned n, unsigned t)
{
	struct m8_status st = {
	        .voltage_mv = 13321,
	        .current_ma = -123456,
	        .flags = M8_ST_BALANCING | M8_ST_HARD_UV,
	        .n_cells = (uint8_t)n,
	        .n_temps = (uint8_t)t,
	};
	for (unsigned i = 0; i < n; i++)
		st.cell_mv[i] = (uint16_t)(3300 + i);
	for (unsigned i = 0; i < t; i++)
		st.temp_dc[i] = (int16_t)(-100 + (int)i);
	return st;
}

static void test_status_layout(void **state)
{
	struct m8_status st = sample_status(4, 2);
	st.cell_mv[3] = M8_CELL_NA;
	st.temp_dc[1] = M8_TEMP_NA;
	uint8_t out[64];
	const uint8_t want[] = {
	        0x09, 0x34,             /* 13321 mV */
	        0xC0, 0x1D, 0xFE, 0xFF, /* -123456 mA */
	        0x11,                   /* balancing | hard UV */
	        4,    0xE4, 0x0C, 0xE5, 0x0C, 0xE6, 0x0C, 0xFF, 0xFF, 2, 0x9C, 0xFF, 0xFF, 0x7F,
	};

	assert_int_equal(m8_status_len(4, 2), sizeof(want));
	assert_int_equal(m8_status_len(16, 4), 49);
	assert_int_equal(m8_status_encode(&st, out, sizeof(out)), (int)sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(m8_status_encode(&st, out, sizeof(want) - 1), -ENOBUFS);

	struct m8_status d;
	assert_int_equal(m8_status_decode(&d, want, sizeof(want)), 0);
	assert_int_equal(d.voltage_mv, 13321);
	assert_int_equal(d.current_ma, -123456);
	assert_int_equal(d.flags, 0x11);
	assert_int_equal(d.n_cells, 4);
	assert_int_equal(d.cell_mv[0], 3300);
	assert_int_equal(d.cell_mv[2], 3302);
	assert_int_equal(d.cell_mv[3], M8_CELL_NA);
	assert_int_equal(d.n_temps, 2);
	assert_int_equal(d.temp_dc[0], -100);
	assert_int_equal(d.temp_dc[1], M8_TEMP_NA);
}

static void test_status_round_trip_extremes(void **state)
{
	for (unsigned n = 0; n <= 16; n++) {
		for (unsigned t = 0; t <= 4; t++) {
			struct m8_status st = sample_status(n, t), d;
			uint8_t out[64];
			st.current_ma = (n & 1) ? INT32_MIN : INT32_MAX;
			int len = m8_status_encode(&st, out, sizeof(out));
			assert_int_equal(len, (int)m8_status_len(n, t));
			memset(&d, 0, sizeof(d));
			assert_int_equal(m8_status_decode(&d, out, (size_t)len), 0);
			assert_int_equal(d.current_ma, st.current_ma);
			assert_int_equal(d.n_cells, n);
			assert_int_equal(d.n_temps, t);
			assert_memory_equal(d.cell_mv, st.cell_mv, 2 * n);
			assert_memory_equal(d.temp_dc, st.temp_dc, 2 * t);
		}
	}
}

static void expect_status_rejected(const uint8_t *p, size_t len, int err)
{
	struct m8_status d, before;
	memset(&d, 0x5A, sizeof(d));
	before = d;
	assert_int_equal(m8_status_decode(&d, p, len), err);
	assert_memory_equal(&d, &before, sizeof(d));
}

static void test_status_rejects(void **state)
{
	struct m8_status st = sample_status(4, 2);
	uint8_t good[64], bad[64];
	int len = m8_status_encode(&st, good, sizeof(good));

	for (int l = 0; l < len; l++)
		expect_status_rejected(good, (size_t)l, -EBADMSG);
	memcpy(bad, good, (size_t)len);
	bad[len] = 0;
	expect_status_rejected(bad, (size_t)len + 1, -EBADMSG);

	memcpy(bad, good, (size_t)len);
	bad[7] = 17; /* N > 16 */
	expect_status_rejected(bad, 64, -EINVAL);
	memcpy(bad, good, (size_t)len);
	bad[7] = 5; /* N says 5 cells, T (now byte 18) 0: 19 bytes, not 21 */
	bad[18] = 0;
	expect_status_rejected(bad, (size_t)len, -EBADMSG);
	memcpy(bad, good, (size_t)len);
	bad[16] = 5; /* T > 4 */
	expect_status_rejected(bad, 64, -EINVAL);

	st.n_cells = 17;
	assert_int_equal(m8_status_encode(&st, good, sizeof(good)), -EINVAL);
	st.n_cells = 4;
	st.n_temps = 5;
	assert_int_equal(m8_status_encode(&st, good, sizeof(good)), -EINVAL);
}

static void test_models(void **state)
{
	size_t count = 0;
	const struct m8_model *m = m8_models(&count);

	assert_int_equal(count, 8);
	const struct m8_model *x = m8_model_by_name("12.8/150");
	assert_non_null(x);
	assert_int_equal(x->type, 1);
	assert_int_equal(x->cells, 4);
	assert_int_equal(x->capacity_ah, 150);
	assert_int_equal(x->max_discharge_a, 150);
	assert_int_equal(x->max_discharge_pulse_a, 300);
	assert_int_equal(x->max_charge_a, 150);
	assert_int_equal(x->max_charge_pulse_a, 225);
	x = m8_model_by_name("25.6/300");
	assert_non_null(x);
	assert_int_equal(x->type, 2);
	assert_int_equal(x->cells, 8);
	assert_int_equal(x->max_discharge_pulse_a, 600);
	assert_int_equal(x->max_charge_pulse_a, 450);
	x = m8_model_by_name("51.2/100");
	assert_non_null(x);
	assert_int_equal(x->type, 3);
	assert_int_equal(x->cells, 16);
	assert_null(m8_model_by_name("51.2/200"));
	assert_null(m8_model_by_name(NULL));
	for (size_t i = 0; i < count; i++)
		assert_int_equal(m[i].cells, m8_type_cells(m[i].type));

	assert_int_equal(m8_type_cells(0), 0);
	assert_int_equal(m8_type_cells(2), 8);
	assert_int_equal(m8_type_cells(4), 0);
	assert_int_equal(m8_type_nominal_mv(1), 12800);
	assert_int_equal(m8_type_nominal_mv(3), 51200);
	assert_int_equal(m8_type_nominal_mv(9), 0);
	assert_int_equal(m8_type_max_batteries(1), 50);
	assert_int_equal(m8_type_max_batteries(2), 50);
	assert_int_equal(m8_type_max_batteries(3), 25);
	assert_int_equal(m8_type_max_batteries(0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_info_layout),
	        cmocka_unit_test(test_info_full_serial),
	        cmocka_unit_test(test_info_rejects),
	        cmocka_unit_test(test_status_layout),
	        cmocka_unit_test(test_status_round_trip_extremes),
	        cmocka_unit_test(test_status_rejects),
	        cmocka_unit_test(test_models),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
