/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The firmware image functions (src/core/fw_image.c) at their edges: the
 * largest image (512 KiB, docs/firmware.md) taken by the writer and the
 * parser, missing arguments refused without a crash, the optional reason
 * left out, and the version parser writing its 3 bytes and no more.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/fw_image.h"

static uint8_t big[FW_IMAGE_HEADER_LEN + FW_IMAGE_MAX_SIZE];
static const uint8_t ver[3] = {2, 0, 1};

/* 512 KiB is in range for the writer and the parser. */
static void largest_image(void **state)
{
	struct fw_image img;
	enum fw_image_refusal why = FW_IMAGE_BAD_SIZE;

	(void)state;
	for (size_t i = 0; i < FW_IMAGE_MAX_SIZE; i++)
		big[FW_IMAGE_HEADER_LEN + i] = (uint8_t)(i * 31 + 5);
	assert_int_equal(
	        fw_image_write_header(big, 3, ver, big + FW_IMAGE_HEADER_LEN, FW_IMAGE_MAX_SIZE),
	        0);
	assert_int_equal(fw_image_parse(big, sizeof(big), &img, &why), 0);
	assert_int_equal(why, FW_IMAGE_OK);
	assert_int_equal(img.size, FW_IMAGE_MAX_SIZE);
	assert_int_equal(img.battery_type, 3);
}

/* Missing arguments: -EINVAL, nothing written, no crash; the reason is
 * optional on a refusal too. */
static void missing_arguments(void **state)
{
	uint8_t hdr[FW_IMAGE_HEADER_LEN], data[4] = {1, 2, 3, 4};
	uint8_t file[FW_IMAGE_HEADER_LEN + 4];
	uint8_t v[3] = {7, 7, 7};
	struct fw_image img = {.battery_type = 2};
	enum fw_image_refusal why = FW_IMAGE_BAD_CRC;

	(void)state;
	assert_int_equal(fw_image_write_header(NULL, 1, ver, data, 4), -EINVAL);
	memset(hdr, 0xEE, sizeof(hdr));
	assert_int_equal(fw_image_write_header(hdr, 1, NULL, data, 4), -EINVAL);
	for (size_t i = 0; i < sizeof(hdr); i++)
		assert_int_equal(hdr[i], 0xEE);

	assert_int_equal(fw_image_write_header(file, 2, ver, data, 4), 0);
	memcpy(file + FW_IMAGE_HEADER_LEN, data, 4);
	assert_int_equal(fw_image_parse(file, sizeof(file), NULL, &why), -EINVAL);
	assert_int_equal(fw_image_parse(file, sizeof(file) - 1, &img, NULL), -EINVAL);
	assert_int_equal(img.battery_type, 2); /* untouched */

	assert_int_equal(fw_image_check_battery(NULL, 2, &why), -EINVAL);
	why = FW_IMAGE_BAD_CRC;
	assert_int_equal(fw_image_check_battery(&img, 2, &why), 0);
	assert_int_equal(why, FW_IMAGE_OK); /* a reason left from before is overwritten */

	assert_int_equal(fw_version_parse(NULL, v), -EINVAL);
	assert_int_equal(fw_version_parse("1.2.3", NULL), -EINVAL);
	assert_memory_equal(v, ((const uint8_t[3]){7, 7, 7}), 3);
}

/* A version goes into exactly 3 bytes. */
static void version_fills_three_bytes(void **state)
{
	uint8_t v[4] = {0xEE, 0xEE, 0xEE, 0xEE};

	(void)state;
	assert_int_equal(fw_version_parse("3.2.1", v), 0);
	assert_memory_equal(v, ((const uint8_t[4]){3, 2, 1, 0xEE}), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(largest_image),
	        cmocka_unit_test(missing_arguments),
	        cmocka_unit_test(version_fills_three_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
