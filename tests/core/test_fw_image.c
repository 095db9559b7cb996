/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The firmware image file (docs/firmware.md): every refusal of the parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/crc32.h"
#include "core/fw_image.h"

#define IMG_SIZE 1000

static uint8_t file[FW_IMAGE_HEADER_LEN + IMG_SIZE];

static void make_file(void)
{
	for (unsigned i = 0; i < IMG_SIZE; i++)
		file[FW_IMAGE_HEADER_LEN + i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(fw_image_write_header(file, 2, (const uint8_t[3]){1, 5, 0},
	                                       file + FW_IMAGE_HEADER_LEN, IMG_SIZE),
	                 0);
}

/* Rewrites the header CRC after a test changed a header field, so that the
 * refusal under test is the field's own, not the header CRC's. */
static void fix_header_crc(uint8_t *f)
{
	uint32_t c = crc32_ieee(f, 20);

	f[20] = (uint8_t)c;
	f[21] = (uint8_t)(c >> 8);
	f[22] = (uint8_t)(c >> 16);
	f[23] = (uint8_t)(c >> 24);
}

static enum fw_image_refusal parse_why(const uint8_t *buf, size_t len)
{
	struct fw_image img = {.size = 12345};
	enum fw_image_refusal why = FW_IMAGE_REFUSAL_COUNT;
	int r = fw_image_parse(buf, len, &img, &why);

	if (why != FW_IMAGE_OK) {
		assert_int_equal(r, -EINVAL);
		assert_int_equal(img.size, 12345); /* untouched */
	} else
		assert_int_equal(r, 0);
	return why;
}

static void valid_image_parses(void **state)
{
	struct fw_image img;
	enum fw_image_refusal why;

	(void)state;
	make_file();
	assert_memory_equal(file, "SBFW", 4);
	assert_int_equal(fw_image_parse(file, sizeof(file), &img, &why), 0);
	assert_int_equal(why, FW_IMAGE_OK);
	assert_int_equal(img.format, 1);
	assert_int_equal(img.battery_type, 2);
	assert_int_equal(img.version[0], 1);
	assert_int_equal(img.version[1], 5);
	assert_int_equal(img.version[2], 0);
	assert_int_equal(img.size, IMG_SIZE);
	assert_int_equal(img.crc32, crc32_ieee(file + FW_IMAGE_HEADER_LEN, IMG_SIZE));
	assert_ptr_equal(img.data, file + FW_IMAGE_HEADER_LEN);
	/* little-endian size at offset 12 */
	assert_int_equal(file[12], IMG_SIZE & 0xff);
	assert_int_equal(file[13], IMG_SIZE >> 8);
	assert_int_equal(fw_image_check_battery(&img, 2, &why), 0);
}

static void truncated_is_refused(void **state)
{
	(void)state;
	make_file();
	assert_int_equal(parse_why(file, 0), FW_IMAGE_TRUNCATED);
	assert_int_equal(parse_why(file, FW_IMAGE_HEADER_LEN - 1), FW_IMAGE_TRUNCATED);
	assert_int_equal(parse_why(NULL, sizeof(file)), FW_IMAGE_TRUNCATED);
}

static void bad_magic_is_refused(void **state)
{
	(void)state;
	make_file();
	file[3] = 'X';
	fix_header_crc(file);
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_MAGIC);
}

static void unknown_format_is_refused(void **state)
{
	(void)state;
	make_file();
	file[4] = 2;
	fix_header_crc(file);
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_FORMAT);
	file[4] = 0;
	fix_header_crc(file);
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_FORMAT);
}

static void damaged_header_is_refused(void **state)
{
	(void)state;
	make_file();
	file[7] ^= 1; /* minor version, header CRC not fixed */
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_HEADER_CRC);
	make_file();
	file[22] ^= 0x80; /* the header CRC itself */
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_HEADER_CRC);
}

static void reserved_bytes_must_be_zero(void **state)
{
	(void)state;
	for (int i = 9; i < 12; i++) {
		make_file();
		file[i] = 1;
		fix_header_crc(file);
		assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_RESERVED);
	}
}

static void battery_type_out_of_range_is_refused(void **state)
{
	(void)state;
	make_file();
	file[5] = 0;
	fix_header_crc(file);
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_TYPE);
	file[5] = 4;
	fix_header_crc(file);
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_TYPE);
	for (uint8_t t = 1; t <= 3; t++) {
		file[5] = t;
		fix_header_crc(file);
		assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_OK);
	}
}

static void set_size(uint32_t size)
{
	file[12] = (uint8_t)size;
	file[13] = (uint8_t)(size >> 8);
	file[14] = (uint8_t)(size >> 16);
	file[15] = (uint8_t)(size >> 24);
	fix_header_crc(file);
}

static void size_out_of_range_is_refused(void **state)
{
	(void)state;
	make_file();
	set_size(0);
	assert_int_equal(parse_why(file, FW_IMAGE_HEADER_LEN), FW_IMAGE_BAD_SIZE);
	set_size(FW_IMAGE_MAX_SIZE + 1);
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_SIZE);
	set_size(UINT32_MAX);
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_SIZE);
}

static void file_length_must_match_size(void **state)
{
	(void)state;
	make_file();
	assert_int_equal(parse_why(file, sizeof(file) - 1), FW_IMAGE_SIZE_MISMATCH);
	assert_int_equal(parse_why(file, FW_IMAGE_HEADER_LEN), FW_IMAGE_SIZE_MISMATCH);
	set_size(IMG_SIZE - 1); /* trailing byte */
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_SIZE_MISMATCH);
}

static void damaged_image_is_refused(void **state)
{
	(void)state;
	make_file();
	file[FW_IMAGE_HEADER_LEN + IMG_SIZE / 2] ^= 0x10;
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_CRC);
	make_file();
	file[sizeof(file) - 1] ^= 0x01; /* the last byte counts too */
	assert_int_equal(parse_why(file, sizeof(file)), FW_IMAGE_BAD_CRC);
}

static void wrong_battery_type_is_refused(void **state)
{
	struct fw_image img;
	enum fw_image_refusal why = FW_IMAGE_OK;

	(void)state;
	make_file();
	assert_int_equal(fw_image_parse(file, sizeof(file), &img, NULL), 0);
	assert_int_equal(fw_image_check_battery(&img, 1, &why), -EMEDIUMTYPE);
	assert_int_equal(why, FW_IMAGE_WRONG_BATTERY);
	assert_int_equal(fw_image_check_battery(&img, 3, NULL), -EMEDIUMTYPE);
}

static void every_refusal_has_a_text(void **state)
{
	(void)state;
	for (int i = 0; i < FW_IMAGE_REFUSAL_COUNT; i++) {
		assert_non_null(fw_image_refusal_text(i));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(fw_image_refusal_text(i), fw_image_refusal_text(j));
	}
	assert_string_equal(fw_image_refusal_text(FW_IMAGE_REFUSAL_COUNT), "unknown reason");
}

static void writer_refuses_out_of_range(void **state)
{
	uint8_t hdr[FW_IMAGE_HEADER_LEN], data[4] = {0};
	const uint8_t v[3] = {1, 0, 0};

	(void)state;
	assert_int_equal(fw_image_write_header(hdr, 0, v, data, 4), -EINVAL);
	assert_int_equal(fw_image_write_header(hdr, 4, v, data, 4), -EINVAL);
	assert_int_equal(fw_image_write_header(hdr, 1, v, data, 0), -EINVAL);
	assert_int_equal(fw_image_write_header(hdr, 1, v, data, FW_IMAGE_MAX_SIZE + 1), -EINVAL);
	assert_int_equal(fw_image_write_header(hdr, 1, v, NULL, 4), -EINVAL);
	assert_int_equal(fw_image_write_header(hdr, 1, v, data, 4), 0);
	/* the bounds themselves are battery types */
	assert_int_equal(fw_image_write_header(hdr, FW_BATTERY_TYPE_MAX, v, data, 4), 0);
	assert_int_equal(fw_image_write_header(hdr, FW_BATTERY_TYPE_MIN, v, data, 4), 0);
}

static void version_strings(void **state)
{
	uint8_t v[3] = {9, 9, 9};

	(void)state;
	assert_int_equal(fw_version_parse("1.4.2", v), 0);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], 4);
	assert_int_equal(v[2], 2);
	assert_int_equal(fw_version_parse("255.0.10", v), 0);
	assert_int_equal(v[0], 255);
	assert_int_equal(v[2], 10);
	assert_int_equal(fw_version_parse("9.19.90", v), 0); /* the digit 9 */
	assert_int_equal(v[0], 9);
	assert_int_equal(v[1], 19);
	assert_int_equal(v[2], 90);
	const char *bad[] = {
	        "",        "1",     "1.2",    "1.2.3.4",         "1..2",  ".1.2", "1.2.",
	        "256.0.0", "1.2.x", "-1.2.3", "1.2.99999999999", " 1.2.3",
	        "1x2x3",   "1-2-3", "1:2.3",  "1.2.3 "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(fw_version_parse(bad[i], v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(valid_image_parses),
	        cmocka_unit_test(truncated_is_refused),
	        cmocka_unit_test(bad_magic_is_refused),
	        cmocka_unit_test(unknown_format_is_refused),
	        cmocka_unit_test(damaged_header_is_refused),
	        cmocka_unit_test(reserved_bytes_must_be_zero),
	        cmocka_unit_test(battery_type_out_of_range_is_refused),
	        cmocka_unit_test(size_out_of_range_is_refused),
	        cmocka_unit_test(file_length_must_match_size),
	        cmocka_unit_test(damaged_image_is_refused),
	        cmocka_unit_test(wrong_battery_type_is_refused),
	        cmocka_unit_test(every_refusal_has_a_text),
	        cmocka_unit_test(writer_refuses_out_of_range),
	        cmocka_unit_test(version_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
