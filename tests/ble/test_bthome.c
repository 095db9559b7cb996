/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ble/bthome.h"
#include "core/codes.h"

static const uint8_t MAC[6] = {0x54, 0x48, 0xE6, 0x8F, 0x80, 0xA5};
static const uint8_t KEY[16] = {0x23, 0x1d, 0x39, 0xc1, 0xd7, 0xcc, 0x1a, 0xb1,
                                0xae, 0xe2, 0x24, 0xcd, 0x09, 0x6d, 0xb9, 0x32};

static struct bthome_values all_known(void)
{
	return (struct bthome_values){
	        .soc_known = true,
	        .soc_cpct = 6789,
	        .measure_valid = true,
	        .bank_mv = 53210,
	        .current_ma = -12345,
	        .power_mw = -656877,
	        .temp_valid = true,
	        .temp_dc = -55,
	        .time_remaining_known = true,
	        .time_remaining_s = 7200,
	        .codes = 0,
	};
}

static ssize_t plain(const struct bthome_values *v, uint8_t *out)
{
	return bthome_encode(v, BTHOME_PACKET_A, MAC, NULL, 0, out, BTHOME_MAX_LEN);
}

static ssize_t plain_b(const struct bthome_values *v, uint8_t *out)
{
	return bthome_encode(v, BTHOME_PACKET_B, MAC, NULL, 0, out, BTHOME_MAX_LEN);
}

/* Bytes of an object's value (the ids smallbmsd sends). */
static size_t obj_size(uint8_t id)
{
	switch (id) {
	case 0x01:
	case 0x15:
	case 0x26:
		return 1;
	case 0x42:
		return 3;
	case 0x5C:
		return 4;
	default:
		return 2;
	}
}

static void unencrypted_layout(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];
	const uint8_t want[] = {
	        0x40,             /* BTHome v2, not encrypted */
	        0x01, 68,         /* battery 67.89 % -> 68 % */
	        0x0C, 0xDA, 0xCF, /* voltage 53210 mV */
	        0x15, 0x00,       /* battery low: no */
	        0x26, 0x00,       /* problem: no */
	        0x45, 0xC9, 0xFF, /* temperature -5.5 degC */
	        0x5D, 0xC7, 0xCF, /* current -12.345 A */
	};

	assert_int_equal(plain(&v, out), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

static void unknown_values_omitted(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];

	v.soc_known = false;
	v.measure_valid = false;
	v.temp_valid = false;
	const uint8_t want[] = {0x40, 0x15, 0x00, 0x26, 0x00};
	assert_int_equal(plain(&v, out), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));

	v = all_known();
	v.measure_valid = false;
	const uint8_t want2[] = {0x40, 0x01, 68, 0x15, 0x00, 0x26, 0x00, 0x45, 0xC9, 0xFF};
	assert_int_equal(plain(&v, out), sizeof(want2));
	assert_memory_equal(out, want2, sizeof(want2));
}

/* The value of the object id in an unencrypted encoding; INT64_MIN if
 * absent. */
static int64_t object(const uint8_t *p, size_t len, uint8_t id)
{
	size_t i = 1;

	while (i < len) {
		uint8_t o = p[i++];
		size_t n = obj_size(o);
		uint32_t u = 0;
		int64_t v;
		for (size_t k = 0; k < n; k++)
			u |= (uint32_t)p[i + k] << (8 * k);
		v = u;
		if (o == 0x45 || o == 0x5D)
			v = (int16_t)u;
		if (o == 0x5C)
			v = (int32_t)u;
		if (o == id)
			return v;
		i += n;
	}
	return INT64_MIN;
}

static void soc_rounding_and_clamp(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];
	static const int32_t in[] = {INT32_MIN, -1,   0,    49,    50,    149,
	                             150,       9949, 9950, 10000, 10001, INT32_MAX};
	static const long want[] = {0, 0, 0, 0, 1, 1, 2, 99, 100, 100, 100, 100};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		v.soc_cpct = in[i];
		ssize_t n = plain(&v, out);
		assert_true(n > 0);
		assert_int_equal(object(out, (size_t)n, 0x01), want[i]);
	}
}

static void voltage_clamp(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];
	static const int32_t in[] = {INT32_MIN, -1, 0, 1, 65534, 65535, 65536, INT32_MAX};
	static const long want[] = {0, 0, 0, 1, 65534, 65535, 65535, 65535};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		v.bank_mv = in[i];
		ssize_t n = plain(&v, out);
		assert_int_equal(object(out, (size_t)n, 0x0C), want[i]);
	}
}

static void current_clamp(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];
	static const int32_t in[] = {INT32_MIN, -32769, -32768, -32767,   0,
	                             32766,     32767,  32768,  INT32_MAX};
	static const long want[] = {-32768, -32768, -32768, -32767, 0, 32766, 32767, 32767, 32767};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		v.current_ma = in[i];
		ssize_t n = plain(&v, out);
		assert_int_equal(object(out, (size_t)n, 0x5D), want[i]);
	}
}

static void temperature_range(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];
	static const int16_t in[] = {INT16_MIN, -1, 0, 1, 250, INT16_MAX};

	/* The object's sint16 in 0.1 degC is temp_dc's whole range: nothing to
	 * clamp, every value exact. */
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		v.temp_dc = in[i];
		ssize_t n = plain(&v, out);
		assert_int_equal(object(out, (size_t)n, 0x45), in[i]);
	}
}

static void binary_flags(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];
	ssize_t n;

	for (int c = 0; c < BMS_CODE_COUNT; c++) {
		bool low = c == BMS_W1 || c == BMS_W2 || c == BMS_A1 || c == BMS_A2 || c == BMS_A5;
		bool problem = bms_code_class((enum bms_code)c) != BMS_CLASS_WARNING;
		v.codes = BMS_CODE_BIT(c);
		n = plain(&v, out);
		assert_int_equal(object(out, (size_t)n, 0x15), low);
		assert_int_equal(object(out, (size_t)n, 0x26), problem);
	}
	v.codes = BMS_CODE_BIT(BMS_W3) | BMS_CODE_BIT(BMS_W9);
	n = plain(&v, out);
	assert_int_equal(object(out, (size_t)n, 0x15), 0);
	assert_int_equal(object(out, (size_t)n, 0x26), 0);
	v.codes = UINT32_MAX;
	n = plain(&v, out);
	assert_int_equal(object(out, (size_t)n, 0x15), 1);
	assert_int_equal(object(out, (size_t)n, 0x26), 1);
}

static int count_ascending(const uint8_t *out, ssize_t n)
{
	int last = -1, count = 0;

	for (size_t i = 1; i < (size_t)n;) {
		uint8_t o = out[i++];
		assert_true(o > last);
		last = o;
		count++;
		i += obj_size(o);
	}
	return count;
}

static void ascending_ids(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];

	assert_int_equal(count_ascending(out, plain(&v, out)), 6);
	assert_int_equal(count_ascending(out, plain_b(&v, out)), 5);
}

static void encrypted_form(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t clear[BTHOME_MAX_LEN], enc[BTHOME_MAX_LEN], enc2[BTHOME_MAX_LEN];
	ssize_t nc = plain(&v, clear);
	ssize_t ne = bthome_encode(&v, BTHOME_PACKET_A, MAC, KEY, 0x01020304, enc, sizeof(enc));

	/* The longest form fits BTHOME_MAX_LEN exactly. */
	assert_int_equal(ne, BTHOME_MAX_LEN);
	assert_int_equal(ne, nc + 8);
	assert_int_equal(enc[0], 0x41);
	assert_memory_equal(enc + ne - 8, "\x04\x03\x02\x01", 4);
	assert_memory_not_equal(enc + 1, clear + 1, (size_t)nc - 1);
	/* Another counter gives another ciphertext and MIC. */
	assert_int_equal(
	        bthome_encode(&v, BTHOME_PACKET_A, MAC, KEY, 0x01020305, enc2, sizeof(enc2)), ne);
	assert_memory_not_equal(enc + 1, enc2 + 1, (size_t)nc - 1);
	assert_memory_not_equal(enc + ne - 4, enc2 + ne - 4, 4);
	/* Too small, and a key without an address. */
	assert_int_equal(bthome_encode(&v, BTHOME_PACKET_A, MAC, KEY, 1, enc, (size_t)ne - 1),
	                 -ENOBUFS);
	assert_int_equal(bthome_encode(&v, BTHOME_PACKET_A, NULL, KEY, 1, enc, sizeof(enc)),
	                 -EINVAL);
	assert_int_equal(bthome_encode(&v, BTHOME_PACKET_A, MAC, NULL, 1, clear, (size_t)nc - 1),
	                 -ENOBUFS);
	assert_int_equal(bthome_encode(NULL, BTHOME_PACKET_A, MAC, NULL, 1, clear, sizeof(clear)),
	                 -EINVAL);
}

static void packet_b_layout(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];
	const uint8_t want[] = {
	        0x40,                         /* BTHome v2, not encrypted */
	        0x01, 68,                     /* battery 68 % */
	        0x15, 0x00,                   /* battery low: no */
	        0x26, 0x00,                   /* problem: no */
	        0x42, 0x00, 0xDD, 0x6D,       /* duration 7200.000 s */
	        0x5C, 0x68, 0xFF, 0xFE, 0xFF, /* power -656.877 W -> -656.88 W */
	};

	assert_int_equal(plain_b(&v, out), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	/* Exactly the 15-byte object budget, like A. */
	assert_int_equal(plain_b(&v, out) - 1, 15);
	assert_int_equal(plain(&v, out) - 1, 15);
	/* Neither a third packet nor garbage. */
	assert_int_equal(bthome_encode(&v, BTHOME_PACKET_COUNT, MAC, NULL, 0, out, sizeof(out)),
	                 -EINVAL);
	assert_int_equal(
	        bthome_encode(&v, (enum bthome_packet) - 1, MAC, NULL, 0, out, sizeof(out)),
	        -EINVAL);
}

static void packet_b_unknown_omitted(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];

	v.soc_known = false;
	v.measure_valid = false;
	v.time_remaining_known = false;
	const uint8_t want[] = {0x40, 0x15, 0x00, 0x26, 0x00};
	assert_int_equal(plain_b(&v, out), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));

	v = all_known();
	v.time_remaining_known = false;
	const uint8_t want2[] = {0x40, 0x01, 68,   0x15, 0x00, 0x26,
	                         0x00, 0x5C, 0x68, 0xFF, 0xFE, 0xFF};
	assert_int_equal(plain_b(&v, out), sizeof(want2));
	assert_memory_equal(out, want2, sizeof(want2));

	v = all_known();
	v.measure_valid = false; /* no power without a measurement */
	const uint8_t want3[] = {0x40, 0x01, 68, 0x15, 0x00, 0x26, 0x00, 0x42, 0x00, 0xDD, 0x6D};
	assert_int_equal(plain_b(&v, out), sizeof(want3));
	assert_memory_equal(out, want3, sizeof(want3));
	/* A carries neither, B neither voltage, temperature nor current. */
	v = all_known();
	ssize_t n = plain(&v, out);
	assert_true(object(out, (size_t)n, 0x42) == INT64_MIN);
	assert_true(object(out, (size_t)n, 0x5C) == INT64_MIN);
	n = plain_b(&v, out);
	assert_true(object(out, (size_t)n, 0x0C) == INT64_MIN);
	assert_true(object(out, (size_t)n, 0x45) == INT64_MIN);
	assert_true(object(out, (size_t)n, 0x5D) == INT64_MIN);
}

static void power_rounding_and_clamp(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];
	const int64_t max_mw = (int64_t)INT32_MAX * 10, min_mw = (int64_t)INT32_MIN * 10;
	const int64_t in[] = {INT64_MIN,  min_mw - 6, min_mw - 5, min_mw - 4, min_mw,   -15, -14,
	                      -5,         -4,         0,          4,          5,        14,  15,
	                      max_mw - 5, max_mw,     max_mw + 4, max_mw + 5, INT64_MAX};
	const int64_t want[] = {INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, -2, -1,
	                        -1,        0,         0,         0,         1,         1,  2,
	                        INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		v.power_mw = in[i];
		ssize_t n = plain_b(&v, out);
		assert_true(n > 0);
		assert_int_equal(object(out, (size_t)n, 0x5C), want[i]);
	}
	/* Just inside the negative bound stays exact. */
	v.power_mw = min_mw + 10;
	assert_int_equal(object(out, (size_t)plain_b(&v, out), 0x5C), (int64_t)INT32_MIN + 1);
}

static void duration_clamp(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];
	const int64_t in[] = {INT64_MIN, -1, 0, 1, 16776, 16777, 16778, 16779, INT64_MAX};
	const int64_t want[] = {0, 0, 0, 1000, 16776000, 16777000, 16777215, 16777215, 16777215};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		v.time_remaining_s = in[i];
		ssize_t n = plain_b(&v, out);
		assert_true(n > 0);
		assert_int_equal(object(out, (size_t)n, 0x42), want[i]);
	}
}

static void packet_b_flags(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t out[BTHOME_MAX_LEN];
	ssize_t n;

	/* Either packet carries the alarm/warning state on a code change. */
	for (int c = 0; c < BMS_CODE_COUNT; c++) {
		bool low = c == BMS_W1 || c == BMS_W2 || c == BMS_A1 || c == BMS_A2 || c == BMS_A5;
		bool problem = bms_code_class((enum bms_code)c) != BMS_CLASS_WARNING;
		v.codes = BMS_CODE_BIT(c);
		n = plain_b(&v, out);
		assert_int_equal(object(out, (size_t)n, 0x15), low);
		assert_int_equal(object(out, (size_t)n, 0x26), problem);
	}
}

static void packet_b_encrypted(void **state)
{
	(void)state;
	struct bthome_values v = all_known();
	uint8_t clear[BTHOME_MAX_LEN], enc[BTHOME_MAX_LEN], enc_a[BTHOME_MAX_LEN];
	ssize_t nc = plain_b(&v, clear);
	ssize_t ne = bthome_encode(&v, BTHOME_PACKET_B, MAC, KEY, 0x01020304, enc, sizeof(enc));
	uint8_t want[BTHOME_MAX_LEN];

	assert_int_equal(ne, BTHOME_MAX_LEN);
	assert_int_equal(ne, nc + 8);
	assert_int_equal(enc[0], 0x41);
	assert_memory_equal(enc + ne - 8, "\x04\x03\x02\x01", 4);
	/* The same scheme as A: bthome_encrypt over B's objects. */
	assert_int_equal(
	        bthome_encrypt(clear + 1, (size_t)nc - 1, MAC, KEY, 0x01020304, want, sizeof(want)),
	        ne);
	assert_memory_equal(enc, want, (size_t)ne);
	/* A and B under one counter differ (the daemon never does that). */
	assert_int_equal(
	        bthome_encode(&v, BTHOME_PACKET_A, MAC, KEY, 0x01020304, enc_a, sizeof(enc_a)), ne);
	assert_memory_not_equal(enc, enc_a, (size_t)ne);
	assert_int_equal(bthome_encode(&v, BTHOME_PACKET_B, MAC, KEY, 1, enc, (size_t)ne - 1),
	                 -ENOBUFS);
}

/* bthome.io/encryption: temperature 25.06 degC and humidity 50.55 %,
 * counter 0x00112233, key and MAC as above. */
static void worked_example(void **state)
{
	(void)state;
	const uint8_t objects[] = {0x02, 0xCA, 0x09, 0x03, 0xBF, 0x13};
	const uint8_t want[] = {0x41, 0xe4, 0x45, 0xf3, 0xc9, 0x96, 0x2b, 0x33,
	                        0x22, 0x11, 0x00, 0x6c, 0x7c, 0x45, 0x19};
	uint8_t out[32];

	assert_int_equal(
	        bthome_encrypt(objects, sizeof(objects), MAC, KEY, 0x00112233, out, sizeof(out)),
	        sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(bthome_encrypt(objects, sizeof(objects), MAC, KEY, 0x00112233, out,
	                                sizeof(want) - 1),
	                 -ENOBUFS);
}

static void from_snapshot(void **state)
{
	(void)state;
	struct svc_snapshot *s = calloc(1, sizeof(*s));
	struct bthome_values v;

	assert_non_null(s);
	s->soc_known = true;
	s->soc_cpct = 4321;
	s->measure_valid = true;
	s->bank_mv = 26600;
	s->current_ma = 1500;
	s->power_mw = 39900;
	s->min_temp_dc = -20;
	s->max_temp_dc = 315;
	s->time_remaining_known = true;
	s->time_remaining_s = 99;
	s->prot.codes = BMS_CODE_BIT(BMS_A3);
	bthome_values_from_snapshot(s, &v);
	assert_true(v.soc_known);
	assert_int_equal(v.soc_cpct, 4321);
	assert_true(v.measure_valid);
	assert_int_equal(v.bank_mv, 26600);
	assert_int_equal(v.current_ma, 1500);
	assert_int_equal(v.power_mw, 39900);
	assert_true(v.temp_valid);
	assert_int_equal(v.temp_dc, 315); /* the hottest sensor */
	assert_true(v.time_remaining_known);
	assert_int_equal(v.time_remaining_s, 99);
	assert_int_equal(v.codes, 0); /* no protection evaluation yet */
	s->have_protection = true;
	s->max_temp_dc = 0x7FFF;
	s->soc_known = false;
	bthome_values_from_snapshot(s, &v);
	assert_int_equal(v.codes, BMS_CODE_BIT(BMS_A3));
	assert_false(v.temp_valid);
	assert_false(v.soc_known);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(unencrypted_layout),
	        cmocka_unit_test(unknown_values_omitted),
	        cmocka_unit_test(soc_rounding_and_clamp),
	        cmocka_unit_test(voltage_clamp),
	        cmocka_unit_test(current_clamp),
	        cmocka_unit_test(temperature_range),
	        cmocka_unit_test(binary_flags),
	        cmocka_unit_test(ascending_ids),
	        cmocka_unit_test(encrypted_form),
	        cmocka_unit_test(worked_example),
	        cmocka_unit_test(from_snapshot),
	        cmocka_unit_test(packet_b_layout),
	        cmocka_unit_test(packet_b_unknown_omitted),
	        cmocka_unit_test(power_rounding_and_clamp),
	        cmocka_unit_test(duration_clamp),
	        cmocka_unit_test(packet_b_flags),
	        cmocka_unit_test(packet_b_encrypted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
