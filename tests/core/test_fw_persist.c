/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The firmware updater's section of the state record (src/core/fw_persist.c,
 * format 1): its bytes, what is kept (a job from its start to its end, an
 * interrupted one not yet decided, a pending failure and its age), and
 * every refusal, each at its bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fw_updater_drive.h"

#define LEN 44

/* format 1; a job (flags 1) of battery 3, HQ2402JJ0002, 1000 bytes, CRC
 * 0x89ABCDEF, version 1.5.3, type 2, 480 bytes confirmed; no failure. */
static const uint8_t golden[LEN] = {1,   1,    3,    'H',  'Q',  '2', '4', '0', '2',  'J',  'J',
                                    '0', '0',  '0',  '2',  0,    0,   0,   0,   0xE8, 0x03, 0,
                                    0,   0xEF, 0xCD, 0xAB, 0x89, 1,   5,   3,   2,    0xE0, 0x01,
                                    0,   0,    0,    0,    0,    0,   0,   0,   0,    0,    0};

static void job_in_blocks(struct fw_updater *u)
{
	fw_updater_init(u);
	u->state = FW_JOB_DATA;
	u->addr = 3;
	memcpy(u->serial, "HQ2402JJ0002", 12);
	u->img = (struct fw_image){
	        .battery_type = 2, .version = {1, 5, 3}, .size = 1000, .crc32 = 0x89ABCDEF};
	u->acked = 480;
}

/* The bytes of a job, field by field; a failure that was cleared (or
 * ended by a success) leaves no address and no age behind. */
static void bytes_of_a_job(void **state)
{
	uint8_t buf[FW_PERSIST_MAX];
	struct fw_updater u;

	(void)state;
	job_in_blocks(&u);
	u.failed_addr = 3; /* from a failure since cleared */
	u.failed_since_us = DRV_S(5);
	assert_int_equal(fw_updater_persist_encode(&u, DRV_S(35), buf, sizeof(buf)), LEN);
	assert_memory_equal(buf, golden, LEN);
	/* exactly its length fits, one byte less does not */
	assert_int_equal(fw_updater_persist_encode(&u, DRV_S(35), buf, LEN), LEN);
	assert_int_equal(fw_updater_persist_encode(&u, DRV_S(35), buf, LEN - 1), -ENOBUFS);
}

/* A pending failure: its battery and its age at the save. A failure the
 * clock says is in the future (a clock that stepped back) is saved with
 * age 0: the 120 s start again rather than being taken as long over. */
static void bytes_of_a_failure(void **state)
{
	uint8_t buf[FW_PERSIST_MAX];
	struct fw_updater u;

	(void)state;
	job_in_blocks(&u);
	u.state = FW_JOB_FAILED;
	u.failed = true;
	u.failed_addr = 3;
	u.failed_since_us = DRV_S(5);
	assert_int_equal(fw_updater_persist_encode(&u, DRV_S(35), buf, sizeof(buf)), LEN);
	assert_int_equal(buf[1], 2);
	assert_int_equal(buf[35], 3);
	assert_memory_equal(buf + 36, ((const uint8_t[8]){0x80, 0xC3, 0xC9, 0x01}), 8); /* 30 s */
	assert_int_equal(fw_updater_persist_encode(&u, DRV_S(4), buf, sizeof(buf)), LEN);
	assert_memory_equal(buf + 36, ((const uint8_t[8]){0}), 8);
}

/* From FW_BEGIN handed out to the new version seen, and an interrupted
 * job until decided (a second restart keeps it). */
static void which_jobs_are_kept(void **state)
{
	static const uint8_t old[3] = {1, 4, 2};
	uint8_t buf[FW_PERSIST_MAX];
	struct fw_image img = drv_image();
	struct fw_updater u, again;
	int n;

	(void)state;
	drv_ended(&u, &img, DRV_T0 + DRV_S(2)); /* the battery restarting */
	n = fw_updater_persist_encode(&u, DRV_T0 + DRV_S(3), buf, sizeof(buf));
	assert_int_equal(n, LEN);
	assert_int_equal(fw_updater_persist_apply(&again, DRV_T0 + DRV_S(9), buf, (size_t)n), 0);
	assert_int_equal(again.state, FW_JOB_INTERRUPTED);
	assert_memory_equal(again.img.version, img.version, 3);
	assert_int_equal(again.acked, DRV_SIZE);
	/* restarted again before it was decided */
	n = fw_updater_persist_encode(&again, DRV_T0 + DRV_S(10), buf, sizeof(buf));
	assert_int_equal(n, LEN);
	assert_int_equal(fw_updater_persist_apply(&u, DRV_T0 + DRV_S(20), buf, (size_t)n), 0);
	assert_int_equal(u.state, FW_JOB_INTERRUPTED);
	fw_updater_resolve(&u, DRV_T0 + DRV_S(21), true, u.serial, false, img.version);
	assert_int_equal(u.state, FW_JOB_SUCCEEDED);
	/* decided, nothing pending: nothing to keep */
	assert_int_equal(fw_updater_persist_encode(&u, DRV_T0 + DRV_S(22), buf, sizeof(buf)), 0);
	fw_updater_init(&u);
	assert_int_equal(fw_updater_start(&u, &img, 1, old, DRV_T0), 0);
	assert_int_equal(fw_updater_persist_encode(&u, DRV_T0, buf, sizeof(buf)), LEN);
}

/* The failure's age counts on from the new clock; older than that clock,
 * it dates from the clock's zero. */
static void failure_age_on_the_new_clock(void **state)
{
	uint8_t sec[LEN];
	struct fw_updater u;

	(void)state;
	memcpy(sec, golden, LEN);
	sec[1] = 2;
	sec[35] = 3;
	sec[36] = 0x80, sec[37] = 0xC3, sec[38] = 0xC9, sec[39] = 0x01; /* 30 s */
	assert_int_equal(fw_updater_persist_apply(&u, DRV_S(100), sec, LEN), 0);
	assert_int_equal(u.state, FW_JOB_IDLE);
	assert_true(u.failed);
	assert_int_equal(u.failed_addr, 3);
	assert_true(u.failed_since_us == DRV_S(70));
	assert_int_equal(fw_updater_persist_apply(&u, DRV_S(10), sec, LEN), 0);
	assert_true(u.failed_since_us == 0);
}

struct bad {
	size_t at;
	uint8_t v;
	int want;
};

/* Every field at and past its bound; job fields only count with a job,
 * the failed battery only with a failure. A refused section changes
 * nothing. */
static void refusals(void **state)
{
	static const struct bad cases[] = {
	        {.at = 0, .v = 2, .want = -EBADMSG},  /* format */
	        {.at = 1, .v = 0, .want = -ERANGE},   /* nothing in it */
	        {.at = 1, .v = 4, .want = -ERANGE},   /* an unknown flag */
	        {.at = 2, .v = 0, .want = -ERANGE},   /* job address */
	        {.at = 2, .v = 51, .want = -ERANGE},  /* past the 50 batteries */
	        {.at = 2, .v = 50, .want = 0},        /* the last battery */
	        {.at = 30, .v = 0, .want = -ERANGE},  /* battery type */
	        {.at = 30, .v = 4, .want = -ERANGE},  /* battery type */
	        {.at = 30, .v = 3, .want = 0},        /* 51.2 V */
	        {.at = 30, .v = 1, .want = 0},        /* 12.8 V */
	        {.at = 35, .v = 0, .want = -ERANGE},  /* failed battery */
	        {.at = 35, .v = 51, .want = -ERANGE}, /* failed battery */
	        {.at = 35, .v = 50, .want = 0},       /* failed battery */
	};
	uint8_t sec[LEN];
	struct fw_updater u, before;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(sec, golden, LEN);
		sec[1] = 3; /* a job and a failure */
		sec[35] = 3;
		sec[cases[i].at] = cases[i].v;
		assert_int_equal(fw_updater_persist_check(sec, LEN), cases[i].want);
		job_in_blocks(&u);
		memcpy(&before, &u, sizeof(u));
		assert_int_equal(fw_updater_persist_apply(&u, DRV_S(100), sec, LEN), cases[i].want);
		if (cases[i].want < 0)
			assert_memory_equal(&u, &before, sizeof(u));
	}
	/* sizes: 0 and past 512 KiB refused; 1 byte, 512 KiB, and all of it confirmed, taken */
	memcpy(sec, golden, LEN);
	memset(sec + 19, 0, 4);
	memset(sec + 31, 0, 4); /* nothing confirmed either */
	assert_int_equal(fw_updater_persist_check(sec, LEN), -ERANGE);
	sec[19] = 1; /* a 1-byte image */
	assert_int_equal(fw_updater_persist_check(sec, LEN), 0);
	sec[19] = 1, sec[20] = 0, sec[21] = 8; /* 512 KiB + 1 */
	assert_int_equal(fw_updater_persist_check(sec, LEN), -ERANGE);
	sec[19] = 0;
	assert_int_equal(fw_updater_persist_check(sec, LEN), 0);
	memcpy(sec + 31, sec + 19, 4);
	assert_int_equal(fw_updater_persist_check(sec, LEN), 0);
	sec[31] = 1; /* one byte more confirmed than the image has */
	assert_int_equal(fw_updater_persist_check(sec, LEN), -ERANGE);
	/* without a job its fields are not looked at, nor the failed
	 * battery without a failure */
	memset(sec, 0, LEN);
	sec[0] = 1, sec[1] = 2, sec[35] = 7;
	assert_int_equal(fw_updater_persist_apply(&u, DRV_S(100), sec, LEN), 0);
	assert_int_equal(u.state, FW_JOB_IDLE);
	memcpy(sec, golden, LEN);
	sec[35] = 99;
	assert_int_equal(fw_updater_persist_check(sec, LEN), 0);
	/* lengths */
	assert_int_equal(fw_updater_persist_check(NULL, LEN), -EBADMSG);
	assert_int_equal(fw_updater_persist_check(golden, LEN - 1), -EBADMSG);
	uint8_t longer[LEN + 1] = {0};
	memcpy(longer, golden, LEN);
	assert_int_equal(fw_updater_persist_check(longer, LEN + 1), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(bytes_of_a_job),
	        cmocka_unit_test(bytes_of_a_failure),
	        cmocka_unit_test(which_jobs_are_kept),
	        cmocka_unit_test(failure_age_on_the_new_clock),
	        cmocka_unit_test(refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
