/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `set NAME=VALUE...`: the forms accepted and refused, all or nothing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/macro.h"
#include "ctl/args.h"

static int parse(char *const *words, size_t n, struct ctl_assign *out, char *err, size_t errlen)
{
	memset(out, 0, n * sizeof(*out));
	return ctl_set_parse(words, n, out, err, errlen);
}

static void test_several(void **state)
{
	char *words[] = {"uv_trip_mv=2800", "uv_release_mv=3000", "low_soc_warn_pct=+10",
	                 "x_9=-2147483648", "y=2147483647"};
	struct ctl_assign a[ELEMENTSOF(words)];
	char err[128];

	assert_int_equal(parse(words, ELEMENTSOF(words), a, err, sizeof(err)), 0);
	assert_string_equal(a[0].name, "uv_trip_mv");
	assert_int_equal(a[0].value, 2800);
	assert_string_equal(a[1].name, "uv_release_mv");
	assert_int_equal(a[1].value, 3000);
	assert_int_equal(a[2].value, 10);
	assert_int_equal(a[3].value, INT32_MIN);
	assert_int_equal(a[4].value, INT32_MAX);
}

static void expect_bad(const char *word, const char *needle)
{
	char *words[] = {"ok_one=1", (char *)word};
	struct ctl_assign a[2];
	char err[160];

	if (parse(words, 2, a, err, sizeof(err)) != -EINVAL)
		fail_msg("'%s' was accepted", word);
	if (!strstr(err, needle))
		fail_msg("'%s': message '%s' lacks '%s'", word, err, needle);
}

static void test_bad_forms(void **state)
{
	expect_bad("uv_trip_mv", "not NAME=VALUE");
	expect_bad("=5", "no setting name");
	expect_bad("uv_trip_mv=", "not an integer");
	expect_bad("uv_trip_mv=abc", "not an integer");
	expect_bad("uv_trip_mv=28OO", "not an integer");
	expect_bad("uv_trip_mv=2800 ", "not an integer");
	expect_bad("uv_trip_mv= 2800", "not an integer");
	expect_bad("uv_trip_mv=2.8", "not an integer");
	expect_bad("uv_trip_mv==1", "not an integer");
	expect_bad("uv_trip_mv=-", "not an integer");
	expect_bad("uv_trip_mv=2147483648", "not an integer");
	expect_bad("uv_trip_mv=-2147483649", "not an integer");
	expect_bad("UV_TRIP_MV=1", "not a setting name");
	expect_bad("uv-trip=1", "not a setting name");
	expect_bad(" uv=1", "not a setting name");
	expect_bad("ok_one=2", "given twice");
	expect_bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1",
	           "too long");
}

static void test_name_length_boundary(void **state)
{
	char name[CTL_SETTING_NAME_MAX + 8];
	char *words[1] = {name};
	struct ctl_assign a[1];
	char err[128];

	/* the longest name that fits: CTL_SETTING_NAME_MAX - 1 characters */
	memset(name, 'a', CTL_SETTING_NAME_MAX - 1);
	strcpy(name + CTL_SETTING_NAME_MAX - 1, "=1");
	assert_int_equal(parse(words, 1, a, err, sizeof(err)), 0);
	assert_int_equal(strlen(a[0].name), CTL_SETTING_NAME_MAX - 1);
	memset(name, 'a', CTL_SETTING_NAME_MAX);
	strcpy(name + CTL_SETTING_NAME_MAX, "=1");
	assert_int_equal(parse(words, 1, a, err, sizeof(err)), -EINVAL);
}

static void test_parse_int(void **state)
{
	long long v;

	assert_int_equal(ctl_parse_int("50", 1, 50, &v), 0);
	assert_int_equal(v, 50);
	assert_int_equal(ctl_parse_int("51", 1, 50, &v), -EINVAL);
	assert_int_equal(ctl_parse_int("0", 1, 50, &v), -EINVAL);
	assert_int_equal(ctl_parse_int("", 1, 50, &v), -EINVAL);
	assert_int_equal(ctl_parse_int(NULL, 1, 50, &v), -EINVAL);
	assert_int_equal(ctl_parse_int("+", 0, 50, &v), -EINVAL);
	assert_int_equal(ctl_parse_int("99999999999999999999", 0, 50, &v), -EINVAL);
}

static void test_percent(void **state)
{
	double p = -1;

	assert_int_equal(ctl_parse_percent("55", &p), 0);
	assert_true(p == 55.0);
	assert_int_equal(ctl_parse_percent("0.25%", &p), 0);
	assert_true(p == 0.25);
	assert_int_equal(ctl_parse_percent("100.0", &p), 0);
	assert_int_equal(ctl_parse_percent("100.001", &p), -EINVAL);
	assert_int_equal(ctl_parse_percent("-0", &p), -EINVAL);
	assert_int_equal(ctl_parse_percent("55%%", &p), -EINVAL);
	assert_int_equal(ctl_parse_percent("5.5.5", &p), -EINVAL);
	assert_int_equal(ctl_parse_percent("0x10", &p), -EINVAL);
	assert_int_equal(ctl_parse_percent("inf", &p), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_several),
	        cmocka_unit_test(test_bad_forms),
	        cmocka_unit_test(test_name_length_boundary),
	        cmocka_unit_test(test_parse_int),
	        cmocka_unit_test(test_percent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
