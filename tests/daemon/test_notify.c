/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The STATUS= line of the daemon contract. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/codes.h"
#include "daemon/events.h"
#include "daemon/notify.h"

static void test_unknowns(void **state)
{
	struct status_view v = {};
	char buf[256];

	assert_true(status_format(&v, buf, sizeof(buf)) > 0);
	assert_string_equal(buf,
	                    "ATD=open ATC=open PRE=off SoC=unknown V=unknown I=unknown codes=-");
}

static void test_values(void **state)
{
	struct status_view v = {
	        .atd_closed = true,
	        .atc_closed = false,
	        .prealarm_active = true,
	        .soc_known = true,
	        .soc_cpct = 8005,
	        .bank_mv_valid = true,
	        .bank_mv = 26404,
	        .current_valid = true,
	        .current_ma = -12345,
	        .codes = BMS_CODE_BIT(BMS_E1) | BMS_CODE_BIT(BMS_W1) | BMS_CODE_BIT(BMS_A3),
	};
	char buf[256];
	int n = status_format(&v, buf, sizeof(buf));

	assert_string_equal(buf,
	                    "ATD=closed ATC=open PRE=on SoC=80.05 V=26.40 I=-12.35 codes=W1,A3,E1");
	assert_int_equal(n, (int)strlen(buf));

	/* Rounding half away from zero, and a small negative keeps its sign. */
	v.bank_mv = 26405;
	v.current_ma = -5;
	v.soc_cpct = 0;
	v.codes = 0;
	status_format(&v, buf, sizeof(buf));
	assert_string_equal(buf, "ATD=closed ATC=open PRE=on SoC=0.00 V=26.41 I=-0.01 codes=-");
	v.current_ma = 4;
	v.soc_cpct = 10000;
	status_format(&v, buf, sizeof(buf));
	assert_string_equal(buf, "ATD=closed ATC=open PRE=on SoC=100.00 V=26.41 I=0.00 codes=-");
}

static void test_all_codes_fit(void **state)
{
	struct status_view v = {.codes = BMS_CODE_BIT(BMS_CODE_COUNT) - 1};
	char buf[256], small[16];

	assert_true(status_format(&v, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "codes=W1,W2,W3,W4,W5,W6,W7,W8,W9,A1,A2,A3,A4,A5,A6,A7,E1,E2,"
	                            "E3,E4,E5,E6,E7,E8,E9"));
	assert_int_equal(status_format(&v, small, sizeof(small)), -ENOBUFS);
	assert_int_equal(codes_format(BMS_CODE_BIT(BMS_E9), small, 3), 2);
	assert_string_equal(small, "E9");
	assert_int_equal(codes_format(BMS_CODE_BIT(BMS_E9), small, 2), -ENOBUFS);
}

static void test_message_ids(void **state)
{
	/* Every class has its own 128-bit id. */
	for (unsigned i = 0; i < EV_CLASS_COUNT; i++) {
		const char *id = event_message_id(i);

		assert_non_null(id);
		assert_int_equal(strlen(id), 32);
		assert_int_equal(strspn(id, "0123456789abcdef"), 32);
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(id, event_message_id(j));
	}
	assert_null(event_message_id(EV_CLASS_COUNT));
}

/* The journal only when JOURNAL_STREAM names the stderr we have. */
static void test_journal_detection(void **state)
{
	struct events ev;
	struct stat st;
	char v[64];

	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	unsetenv("JOURNAL_STREAM");
	events_init(&ev);
	assert_false(ev.journal);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
	events_init(&ev);
	assert_true(ev.journal);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", v, 1);
	events_init(&ev);
	assert_false(ev.journal);
	setenv("JOURNAL_STREAM", "garbage", 1);
	events_init(&ev);
	assert_false(ev.journal);
	unsetenv("JOURNAL_STREAM");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_unknowns),          cmocka_unit_test(test_values),
	        cmocka_unit_test(test_all_codes_fit),     cmocka_unit_test(test_message_ids),
	        cmocka_unit_test(test_journal_detection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
