/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Adopting a stored GPIO line request: the kernel's fdinfo is the only
 * source of which bit is which line, and anything short of an exact match
 * is refused. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/gpio_adopt.h"

static const char fdinfo[] = "pos:\t0\n"
                             "flags:\t02000002\n"
                             "mnt_id:\t15\n"
                             "ino:\t1057\n"
                             "gpio-chip:\tgpiochip0\n"
                             "gpio-line:\t17\n"
                             "gpio-line:\t9\n"
                             "gpio-line:\t22\n"
                             "gpio-line:\t10\n"
                             "gpio-line:\t11\n"
                             "gpio-line:\t27\n";

static void test_parse(void **state)
{
	unsigned off[GPIO_ADOPT_MAX];
	char chip[32];

	assert_int_equal(gpio_adopt_parse_fdinfo(fdinfo, chip, sizeof(chip), off, GPIO_ADOPT_MAX),
	                 6);
	assert_string_equal(chip, "gpiochip0");
	assert_int_equal(off[0], 17);
	assert_int_equal(off[1], 9);
	assert_int_equal(off[5], 27);

	/* Not a line request (a pipe's fdinfo), or malformed. */
	assert_int_equal(gpio_adopt_parse_fdinfo("pos:\t0\nflags:\t0\n", chip, sizeof(chip), off,
	                                         GPIO_ADOPT_MAX),
	                 -EINVAL);
	assert_int_equal(gpio_adopt_parse_fdinfo("gpio-chip:\tgpiochip0\n", chip, sizeof(chip), off,
	                                         GPIO_ADOPT_MAX),
	                 -EINVAL);
	assert_int_equal(
	        gpio_adopt_parse_fdinfo("gpio-line:\t3\n", chip, sizeof(chip), off, GPIO_ADOPT_MAX),
	        -EINVAL);
	assert_int_equal(gpio_adopt_parse_fdinfo("gpio-chip:\tgpiochip0\ngpio-line:\t3x\n", chip,
	                                         sizeof(chip), off, GPIO_ADOPT_MAX),
	                 -EINVAL);
	assert_int_equal(gpio_adopt_parse_fdinfo("gpio-chip:\tgpiochip0\ngpio-line:\t65536\n", chip,
	                                         sizeof(chip), off, GPIO_ADOPT_MAX),
	                 -EINVAL);
	assert_int_equal(gpio_adopt_parse_fdinfo("gpio-chip:\t../x\ngpio-line:\t1\n", chip,
	                                         sizeof(chip), off, GPIO_ADOPT_MAX),
	                 -EINVAL);
	assert_int_equal(gpio_adopt_parse_fdinfo("gpio-chip:\ta\ngpio-chip:\tb\ngpio-line:\t1\n",
	                                         chip, sizeof(chip), off, GPIO_ADOPT_MAX),
	                 -EINVAL);
	/* More lines than room. */
	assert_int_equal(gpio_adopt_parse_fdinfo(fdinfo, chip, sizeof(chip), off, 5), -EINVAL);
	/* A chip name too long for the buffer. */
	assert_int_equal(gpio_adopt_parse_fdinfo(fdinfo, chip, 5, off, GPIO_ADOPT_MAX), -EINVAL);
}

static void test_map(void **state)
{
	const unsigned req[6] = {17, 9, 22, 10, 11, 27};
	/* load, charge, pre-alarm, blue, red, heartbeat */
	const unsigned lines[OUTPUT_LINE_COUNT] = {9, 10, 11, 17, 22, 27};
	unsigned bit[OUTPUT_LINE_COUNT];

	assert_int_equal(gpio_adopt_map(req, 6, lines, bit), 0);
	assert_int_equal(bit[OUTPUT_LOAD_DISCONNECT], 1);
	assert_int_equal(bit[OUTPUT_CHARGE_DISCONNECT], 3);
	assert_int_equal(bit[OUTPUT_PRE_ALARM], 4);
	assert_int_equal(bit[OUTPUT_LED_BLUETOOTH], 0);
	assert_int_equal(bit[OUTPUT_LED_ERROR], 2);
	assert_int_equal(bit[OUTPUT_HEARTBEAT], 5);

	/* A configured line the request does not hold. */
	const unsigned other[OUTPUT_LINE_COUNT] = {9, 10, 11, 17, 22, 26};
	assert_int_equal(gpio_adopt_map(req, 6, other, bit), -ENOENT);
	/* The request holds more or fewer lines. */
	const unsigned seven[7] = {17, 9, 22, 10, 11, 27, 5};
	assert_int_equal(gpio_adopt_map(seven, 7, lines, bit), -EINVAL);
	assert_int_equal(gpio_adopt_map(req, 5, lines, bit), -EINVAL);
	/* Two outputs configured on one line. */
	const unsigned twice[OUTPUT_LINE_COUNT] = {9, 9, 11, 17, 22, 27};
	assert_int_equal(gpio_adopt_map(req, 6, twice, bit), -EINVAL);
}

static void test_not_a_request(void **state)
{
	struct outputs_config cfg;
	struct outputs *o = NULL;
	int p[2];

	outputs_config_defaults(&cfg);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(outputs_adopt_fd(p[0], &cfg, &o), -EINVAL);
	assert_null(o);
	/* Refused: the fd is still the caller's. */
	assert_true(fcntl(p[0], F_GETFD) >= 0);
	close(p[0]);
	close(p[1]);
	assert_int_equal(outputs_adopt_fd(-1, &cfg, &o), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse),
	        cmocka_unit_test(test_map),
	        cmocka_unit_test(test_not_a_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
