/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ctl_read_pin(): `bluetooth set-pin` reading the PIN from standard input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/args.h"

/* Reads a PIN from the bytes of text (len of them); the result, pin as read. */
static int read_from(const char *text, size_t len, char pin[CTL_PIN_LEN + 1])
{
	/* fmemopen of 0 bytes is refused by glibc: a pipe-less empty stream */
	FILE *f = len ? fmemopen((void *)text, len, "r") : fopen("/dev/null", "r");
	int r;

	assert_non_null(f);
	memset(pin, 'x', CTL_PIN_LEN + 1);
	/* a memory stream is no terminal: no prompt even with a prompt stream */
	r = ctl_read_pin(f, stderr, pin);
	fclose(f);
	return r;
}

#define READ(text, pin) read_from(text, sizeof(text) - 1, pin)

static void test_good_lines(void **state)
{
	char pin[CTL_PIN_LEN + 1];

	(void)state;
	assert_int_equal(READ("314159\n", pin), 0);
	assert_string_equal(pin, "314159");
	assert_int_equal(READ("000000", pin), 0); /* no line end at the end of input */
	assert_string_equal(pin, "000000");
	assert_int_equal(READ("271828\r\n", pin), 0);
	assert_string_equal(pin, "271828");
	/* only the first line counts */
	assert_int_equal(READ("123456\n654321\n", pin), 0);
	assert_string_equal(pin, "123456");
}

static void expect_refused(const char *text, size_t len, int want)
{
	char pin[CTL_PIN_LEN + 1];

	assert_int_equal(read_from(text, len, pin), want);
	/* nothing written on a refusal */
	for (size_t i = 0; i < sizeof(pin); i++)
		assert_int_equal(pin[i], 'x');
}

#define REFUSED(text, want) expect_refused(text, sizeof(text) - 1, want)

static void test_bad_lines(void **state)
{
	(void)state;
	REFUSED("", -ENODATA);
	REFUSED("\n", -EINVAL);
	REFUSED("12345\n", -EINVAL);
	REFUSED("1234567\n", -EINVAL);
	REFUSED("12a456\n", -EINVAL);
	REFUSED(" 123456\n", -EINVAL);
	REFUSED("123456 \n", -EINVAL);
	/* longer than the reader's buffer: refused whole, not cut to 6 digits */
	REFUSED("123456123456123456123456123456\n", -EINVAL);
	REFUSED("123456123456123456123456123456", -EINVAL);
	REFUSED("123456\r\r\n", -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_good_lines),
	        cmocka_unit_test(test_bad_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
