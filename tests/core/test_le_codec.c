/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/le_codec.h"

static void round_trip_is_little_endian(void **state)
{
	uint8_t buf[64];
	struct le_writer w = {.p = buf, .cap = sizeof(buf)};
	struct le_reader r;

	(void)state;
	le_put_u8(&w, 0x12);
	le_put_u16(&w, 0x3456);
	le_put_u32(&w, 0x789abcde);
	le_put_u64(&w, 0x0102030405060708ull);
	le_put_i32(&w, -2);
	le_put_i64(&w, -3);
	le_put_f64(&w, 1.5);
	le_put_bytes(&w, "ab", 2);
	assert_int_equal(w.len, 1 + 2 + 4 + 8 + 4 + 8 + 8 + 2);
	assert_int_equal(buf[1], 0x56);
	assert_int_equal(buf[2], 0x34);
	assert_int_equal(buf[3], 0xde);
	assert_int_equal(buf[7], 0x08);

	r = (struct le_reader){.p = buf, .len = w.len};
	assert_int_equal(le_get_u8(&r), 0x12);
	assert_int_equal(le_get_u16(&r), 0x3456);
	assert_int_equal(le_get_u32(&r), 0x789abcde);
	assert_true(le_get_u64(&r) == 0x0102030405060708ull);
	assert_int_equal(le_get_i32(&r), -2);
	assert_true(le_get_i64(&r) == -3);
	assert_true(le_get_f64(&r) == 1.5);
	le_skip(&r, 2);
	assert_false(r.short_read);
	assert_int_equal(r.pos, r.len);
}

static void writer_never_writes_past_its_buffer(void **state)
{
	uint8_t buf[6] = {0};
	struct le_writer w = {.p = buf, .cap = 4};

	(void)state;
	le_put_u64(&w, UINT64_MAX);
	/* It counts what it would need and leaves the rest untouched. */
	assert_int_equal(w.len, 8);
	assert_int_equal(buf[3], 0xff);
	assert_int_equal(buf[4], 0);
	assert_int_equal(buf[5], 0);
}

static void reader_past_the_end_is_a_short_read(void **state)
{
	const uint8_t buf[3] = {1, 2, 3};
	struct le_reader r = {.p = buf, .len = sizeof(buf)};

	(void)state;
	assert_int_equal(le_get_u16(&r), 0x0201);
	assert_false(r.short_read);
	assert_int_equal(le_get_u16(&r), 0x0003);
	assert_true(r.short_read);

	r = (struct le_reader){.p = buf, .len = sizeof(buf)};
	le_skip(&r, 4);
	assert_true(r.short_read);
	assert_int_equal(r.pos, 3);
	assert_int_equal(le_get_u8(&r), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_is_little_endian),
		cmocka_unit_test(writer_never_writes_past_its_buffer),
		cmocka_unit_test(reader_past_the_end_is_a_short_read),
	};
	return cmocka_run_group_tests_name("core/le_codec", tests, NULL, NULL);
}
