/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A firmware update across a daemon restart (docs/firmware.md, "A daemon
 * restart during an update"; docs/protection.md sections 9 and 11): what
 * the state record keeps of a job and of a failure, how an interrupted
 * job is decided from the battery, and the staleness exemptions and E5
 * the updater hands the protection core (the 10 s after FW_END, the 120 s
 * after a failure, an authenticated clear).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fw_updater_drive.h"

static const uint8_t serial[FW_SERIAL_LEN] = "HQ2402JJ001";
static const uint8_t old_ver[3] = {1, 4, 2};

/* The record of a job of battery 1 in its blocks, and the updater a new
 * daemon makes of it. */
static void interrupted(struct fw_updater *u, const struct fw_image *img)
{
	uint8_t sec[FW_PERSIST_MAX];
	struct fw_updater before;
	int n;

	drv_begun(&before, img, 1);
	memcpy(before.serial, serial, sizeof(serial));
	drv_next(&before, DRV_T0, M8_CMD_FW_DATA);
	drv_ack(&before, DRV_T0, 240);
	n = fw_updater_persist_encode(&before, DRV_T0, sec, sizeof(sec));
	assert_true(n > 0);
	fw_updater_init(u);
	assert_int_equal(fw_updater_persist_apply(u, DRV_T0 + DRV_S(100), sec, (size_t)n), 0);
	assert_int_equal(u->state, FW_JOB_INTERRUPTED);
}

/* The battery has left its update: done, failed, or not the battery at
 * all. A decision sends nothing (FW_ABORT would only hold up the next
 * start) and leaves nothing running. */
static void interrupted_job_decided(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct fw_request q;
	const uint64_t t = DRV_T0 + DRV_S(101);

	(void)state;
	interrupted(&u, &img);
	fw_updater_resolve(&u, t, true, serial, false, img.version);
	assert_int_equal(u.state, FW_JOB_SUCCEEDED);
	assert_false(u.failed);
	assert_false(fw_updater_running(&u));
	assert_false(fw_updater_next_request(&u, t, &q));

	/* another patch level than the image's: it did not take it */
	interrupted(&u, &img);
	fw_updater_resolve(&u, t, true, serial, false, (const uint8_t[3]){1, 5, 2});
	assert_int_equal(u.state, FW_JOB_FAILED);
	assert_int_equal(u.failure, FW_FAIL_INTERRUPTED);
	assert_true(u.failed);
	assert_false(fw_updater_running(&u));
	assert_false(fw_updater_next_request(&u, t, &q));

	/* its version unknown: not seen on the new one */
	interrupted(&u, &img);
	fw_updater_resolve(&u, t, true, serial, false, NULL);
	assert_int_equal(u.failure, FW_FAIL_INTERRUPTED);

	/* no battery at the address, whatever the caller passes besides */
	interrupted(&u, &img);
	fw_updater_resolve(&u, t, false, serial, false, img.version);
	assert_int_equal(u.state, FW_JOB_FAILED);
	assert_int_equal(u.failure, FW_FAIL_INTERRUPTED);
	assert_false(fw_updater_next_request(&u, t, &q));

	/* a battery whose serial is not known: not shown to be the same one */
	interrupted(&u, &img);
	fw_updater_resolve(&u, t, true, NULL, false, img.version);
	assert_int_equal(u.state, FW_JOB_FAILED);
	assert_int_equal(u.failure, FW_FAIL_INTERRUPTED);
}

/* Only a job interrupted by a restart is decided this way: a job of this
 * daemon, or one already decided, is left alone. */
static void resolve_leaves_other_jobs_alone(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u, before;

	(void)state;
	drv_begun(&u, &img, 1);
	memcpy(&before, &u, sizeof(u));
	fw_updater_resolve(&u, DRV_T0 + DRV_S(1), false, NULL, false, NULL);
	assert_memory_equal(&u, &before, sizeof(u));

	interrupted(&u, &img);
	fw_updater_resolve(&u, DRV_T0 + DRV_S(101), true, serial, false, img.version);
	assert_int_equal(u.state, FW_JOB_SUCCEEDED);
	fw_updater_resolve(&u, DRV_T0 + DRV_S(102), false, NULL, false, NULL);
	assert_int_equal(u.state, FW_JOB_SUCCEEDED);
	assert_false(u.failed);
}

/* The caller puts the battery's serial (up to 16 characters, the rest
 * zero) in after the start: a job of a battery with a shorter serial than
 * the last one is still its job after a restart. */
static void short_serial_after_a_long_one(void **state)
{
	static const char longer[] = "ABCDEFGHIJKLMNOP", shorter[] = "HQ24";
	uint8_t sec[FW_PERSIST_MAX], padded[FW_SERIAL_LEN] = {0};
	struct fw_image img = drv_image();
	struct fw_updater u, after;
	int n;

	(void)state;
	drv_begun(&u, &img, 1);
	memcpy(u.serial, longer, FW_SERIAL_LEN);
	assert_int_equal(fw_updater_cancel(&u, DRV_T0 + 1000), 0);
	drv_next(&u, DRV_T0 + 1000, M8_CMD_FW_ABORT);
	drv_reply(&u, DRV_T0 + 5000, NULL, 0);
	assert_int_equal(fw_updater_start(&u, &img, 1, old_ver, DRV_T0 + DRV_S(1)), 0);
	memcpy(u.serial, shorter, strlen(shorter));
	memcpy(padded, shorter, strlen(shorter));
	n = fw_updater_persist_encode(&u, DRV_T0 + DRV_S(2), sec, sizeof(sec));
	assert_true(n > 0);
	assert_int_equal(fw_updater_persist_apply(&after, DRV_T0 + DRV_S(50), sec, (size_t)n), 0);
	fw_updater_resolve(&after, DRV_T0 + DRV_S(51), true, padded, true, old_ver);
	assert_int_equal(after.state, FW_JOB_INTERRUPTED); /* still in it: resume or cancel */
}

/* A job is kept from the moment it starts: FW_BEGIN may have reached the
 * battery (its flag up) before the daemon stopped. */
static void job_kept_from_its_start(void **state)
{
	uint8_t sec[FW_PERSIST_MAX];
	struct fw_image img = drv_image();
	struct fw_updater u, after;
	int n;

	(void)state;
	fw_updater_init(&u);
	assert_int_equal(fw_updater_start(&u, &img, 4, old_ver, DRV_T0), 0);
	drv_next(&u, DRV_T0, M8_CMD_FW_BEGIN);
	n = fw_updater_persist_encode(&u, DRV_T0, sec, sizeof(sec));
	assert_true(n > 0);
	assert_int_equal(fw_updater_persist_apply(&after, DRV_T0 + DRV_S(9), sec, (size_t)n), 0);
	assert_int_equal(after.state, FW_JOB_INTERRUPTED);
	assert_int_equal(after.addr, 4);
	assert_memory_equal(after.img.version, img.version, 3);
}

static void protect(const struct fw_updater *u, uint64_t now, unsigned n,
                    struct protection_input *in)
{
	memset(in, 0, sizeof(*in));
	in->n_batteries = (uint8_t)n;
	fw_updater_protection_input(u, now, in);
}

/* The 10 s after FW_END: the restarting battery is not stale, also once
 * its new version is seen, up to the 10 s and not at them. The battery
 * may be the last of the bank. */
static void exempt_for_10s_after_end(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct protection_input in;
	const uint64_t t = DRV_T0 + DRV_S(2);

	(void)state;
	drv_ended(&u, &img, t);
	protect(&u, t + DRV_S(1), 1, &in);
	assert_true(in.bat[0].stale_exempt);
	assert_true(in.fw_running);
	drv_next(&u, t + DRV_S(4), M8_CMD_GET_INFO);
	drv_info(&u, t + DRV_S(4), img.version);
	assert_int_equal(u.state, FW_JOB_SUCCEEDED);
	protect(&u, t + FW_VERIFY_US - 1, 1, &in);
	assert_true(in.bat[0].stale_exempt);
	assert_false(in.fw_running);
	protect(&u, t + FW_VERIFY_US, 1, &in);
	assert_false(in.bat[0].stale_exempt);
}

/* The 120 s after a failure, for the failed battery (also the last of the
 * bank), up to the 120 s and not at them; an authenticated clear ends E5
 * and the exemption at once, also in the 10 s after FW_END. */
static void exempt_for_120s_after_failure_until_cleared(void **state)
{
	static const uint8_t six[1] = {M8_FW_RESULT_VERIFY_FAILED};
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct protection_input in;
	const uint64_t t = DRV_T0 + DRV_S(2);

	(void)state;
	drv_begun(&u, &img, 1);
	drv_all_blocks(&u, t);
	drv_next(&u, t, M8_CMD_FW_END);
	drv_reply(&u, t, six, sizeof(six));
	assert_int_equal(u.failure, FW_FAIL_VERIFY);
	protect(&u, t + FW_FAIL_GRACE_US - 1, 1, &in);
	assert_true(in.fw_failed);
	assert_true(in.fw_failed_since_us == t);
	assert_true(in.bat[0].stale_exempt);
	protect(&u, t + FW_FAIL_GRACE_US, 1, &in);
	assert_true(in.fw_failed);
	assert_false(in.bat[0].stale_exempt);

	/* cleared 1 s after the failure: nothing left */
	fw_updater_clear_failure(&u);
	assert_false(u.failed);
	protect(&u, t + DRV_S(1), 1, &in);
	assert_false(in.fw_failed);
	assert_false(in.bat[0].stale_exempt);
}

/* An input that claims more batteries than the table holds (bad input):
 * nothing past the table is written. */
static void protection_input_stays_in_its_table(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct protection_input in;
	uint8_t after[offsetof(struct protection_input, fw_running) -
	              offsetof(struct protection_input, enumerated)];
	const size_t at = offsetof(struct protection_input, enumerated);

	(void)state;
	drv_ended(&u, &img, DRV_T0);
	memset(&in, 0xA5, sizeof(in));
	in.n_batteries = 255;
	memcpy(after, (const uint8_t *)&in + at, sizeof(after));
	fw_updater_protection_input(&u, DRV_T0 + DRV_S(1), &in);
	assert_memory_equal((const uint8_t *)&in + at, after, sizeof(after));
	for (unsigned i = 1; i < PROTECTION_MAX_BATTERIES; i++)
		assert_false(in.bat[i].stale_exempt);
	assert_true(in.bat[0].stale_exempt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(interrupted_job_decided),
	        cmocka_unit_test(resolve_leaves_other_jobs_alone),
	        cmocka_unit_test(short_serial_after_a_long_one),
	        cmocka_unit_test(job_kept_from_its_start),
	        cmocka_unit_test(exempt_for_10s_after_end),
	        cmocka_unit_test(exempt_for_120s_after_failure_until_cleared),
	        cmocka_unit_test(protection_input_stays_in_its_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
