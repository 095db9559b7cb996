/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Starting a firmware update (docs/protection.md section 9, docs/firmware.md):
 * one battery at a time, read from the STATUS flags too; E5 blocks every
 * battery but a retry of the one that failed; bad arguments change nothing;
 * the names and texts the daemon shows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fw_updater_drive.h"
#include "test_protection_fixture.h"
#include "core/codes.h"

static enum fw_start_refusal check(const struct fw_updater *u, struct fx *f,
                                   const struct fw_image *img, uint8_t addr)
{
	return fw_updater_check_start(u, &f->p, &f->in, &f->out, img, addr, img->battery_type);
}

/* A job at battery 1 that saw the new version at now. */
static void succeeded_at(struct fw_updater *u, const struct fw_image *img, uint64_t now)
{
	drv_ended(u, img, now - DRV_S(3));
	drv_next(u, now, M8_CMD_GET_INFO);
	drv_info(u, now, img->version);
	assert_int_equal(u->state, FW_JOB_SUCCEEDED);
	assert_true(u->ended_us == now);
}

/* One battery at a time, from the STATUS flags: a flag of another battery
 * is an update going on, except the battery this updater has just seen on
 * its new version, until its first STATUS after that. */
static void one_battery_at_a_time(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct fx f;
	uint64_t t = DRV_T0 + DRV_S(20);
	struct fw_request q;

	(void)state;
	fx_start(&f, 3);
	succeeded_at(&u, &img, t);
	f.in.bat[0].fw_update = true;
	f.in.bat[0].last_status_us = t - DRV_S(1);
	assert_int_equal(check(&u, &f, &img, 2), FW_START_OK);
	/* a STATUS read at the instant the new version was seen was sent
	 * before: the new firmware does not raise the flag */
	f.in.bat[0].last_status_us = t;
	assert_int_equal(check(&u, &f, &img, 2), FW_START_OK);
	f.in.bat[0].last_status_us = t + 1;
	assert_int_equal(check(&u, &f, &img, 2), FW_START_FLAGGED);
	/* another battery's flag (its update from before a restart), however
	 * old its STATUS: not this updater's success */
	f.in.bat[0].fw_update = false;
	f.in.bat[1].fw_update = true;
	f.in.bat[1].last_status_us = t - DRV_S(1);
	assert_int_equal(check(&u, &f, &img, 3), FW_START_FLAGGED);
	f.in.bat[1].fw_update = false;
	/* a flag left past the bank's batteries (a battery taken out) is no one's */
	f.in.bat[3].fw_update = true;
	assert_int_equal(check(&u, &f, &img, 3), FW_START_OK);
	f.in.bat[3].fw_update = false;

	/* a job that stalled: its FW_ABORT went unanswered, the battery's last
	 * STATUS (before the failure) is flagged: it may still be in its
	 * update, no other battery starts */
	drv_begun(&u, &img, 1);
	fw_updater_tick(&u, u.progress_us + FW_STALL_US);
	assert_int_equal(u.failure, FW_FAIL_STALLED);
	drv_next(&u, u.ended_us, M8_CMD_FW_ABORT);
	drv_error(&u, u.ended_us + DRV_S(1), -ETIMEDOUT, 0);
	assert_false(fw_updater_next_request(&u, u.ended_us + DRV_S(1), &q));
	f.in.bat[0].fw_update = true;
	f.in.bat[0].last_status_us = u.ended_us - DRV_S(1);
	assert_int_equal(check(&u, &f, &img, 2), FW_START_FLAGGED);
}

/* E5 refuses every battery but a retry of the one that failed, and only
 * while the failure is pending: once cleared, an E5 the protection still
 * shows is an error like any other. */
static void e5_lets_only_the_failed_battery_retry(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct fx f;

	(void)state;
	fx_start(&f, 2);
	drv_begun(&u, &img, 2);
	fw_updater_fail(&u, DRV_T0 + DRV_S(1), FW_FAIL_VERIFY); /* no FW_ABORT to wait for */
	assert_false(fw_updater_running(&u));
	fw_updater_protection_input(&u, DRV_T0 + DRV_S(2), &f.in);
	fx_step_at(&f, DRV_T0 + DRV_S(2));
	assert_true(fx_code(&f, BMS_E5));
	assert_int_equal(check(&u, &f, &img, 1), FW_START_ALARM);
	assert_int_equal(check(&u, &f, &img, 2), FW_START_OK);
	fw_updater_clear_failure(&u);
	assert_int_equal(check(&u, &f, &img, 2), FW_START_ALARM);
	fw_updater_protection_input(&u, DRV_T0 + DRV_S(3), &f.in);
	fx_step_at(&f, DRV_T0 + DRV_S(3));
	assert_false(fx_code(&f, BMS_E5));
	assert_int_equal(check(&u, &f, &img, 1), FW_START_OK);
}

/* Bad arguments: -EINVAL and nothing changes; the bounds themselves are
 * taken. The version the battery ran is kept for the journal. */
static void start_arguments(void **state)
{
	struct fw_image img = drv_image(), bad;
	struct fw_updater u, idle;
	static const uint8_t old3[3] = {1, 4, 2};

	(void)state;
	fw_updater_init(&u);
	memcpy(&idle, &u, sizeof(u));
	bad = img;
	bad.size = 0;
	assert_int_equal(fw_updater_start(&u, &bad, 1, old3, DRV_T0), -EINVAL);
	bad.size = FW_IMAGE_MAX_SIZE + 1;
	assert_int_equal(fw_updater_start(&u, &bad, 1, old3, DRV_T0), -EINVAL);
	bad = img;
	bad.data = NULL;
	assert_int_equal(fw_updater_start(&u, &bad, 1, old3, DRV_T0), -EINVAL);
	assert_int_equal(fw_updater_start(&u, NULL, 1, old3, DRV_T0), -EINVAL);
	assert_int_equal(fw_updater_start(&u, &img, 0, old3, DRV_T0), -EINVAL);
	assert_int_equal(fw_updater_start(&u, &img, M8_ADDR_MAX + 1, old3, DRV_T0), -EINVAL);
	assert_int_equal(fw_updater_start(&u, &img, 1, NULL, DRV_T0), -EINVAL);
	assert_memory_equal(&u, &idle, sizeof(u));
	assert_false(fw_updater_running(&u));

	bad = img;
	bad.size = FW_IMAGE_MAX_SIZE; /* only FW_BEGIN is asked for below */
	assert_int_equal(fw_updater_start(&u, &bad, M8_ADDR_MAX, old3, DRV_T0), 0);
	assert_memory_equal(u.old_version, old3, 3);
	struct fw_request q = drv_next(&u, DRV_T0, M8_CMD_FW_BEGIN);
	assert_int_equal(q.addr, M8_ADDR_MAX);
	assert_int_equal(q.payload[0] | q.payload[1] << 8 | q.payload[2] << 16, FW_IMAGE_MAX_SIZE);
}

/* FW_ABORT to a battery that reports an update this instance does not
 * drive: only to a bus address. */
static void orphan_abort_address(void **state)
{
	struct fw_updater u, idle;
	struct fw_request q;

	(void)state;
	fw_updater_init(&u);
	memcpy(&idle, &u, sizeof(u));
	assert_int_equal(fw_updater_abort_orphan(&u, 0, DRV_T0), -EINVAL);
	assert_int_equal(fw_updater_abort_orphan(&u, M8_ADDR_MAX + 1, DRV_T0), -EINVAL);
	assert_memory_equal(&u, &idle, sizeof(u));
	assert_int_equal(fw_updater_abort_orphan(&u, M8_ADDR_MAX, DRV_T0), 0);
	q = drv_next(&u, DRV_T0, M8_CMD_FW_ABORT);
	assert_int_equal(q.addr, M8_ADDR_MAX);
	assert_int_equal(u.state, FW_JOB_CANCELLED);
	assert_false(u.failed);
}

/* Every state, failure and refusal has its own text; values past the
 * tables read "unknown". */
static void names_and_texts(void **state)
{
	(void)state;
	for (int i = FW_JOB_IDLE; i <= FW_JOB_INTERRUPTED; i++)
		assert_string_not_equal(fw_job_state_name(i), "unknown");
	assert_string_equal(fw_job_state_name(FW_JOB_INTERRUPTED), "interrupted");
	assert_string_equal(fw_job_state_name(FW_JOB_INTERRUPTED + 1), "unknown");
	for (int i = 0; i < FW_START_REFUSAL_COUNT; i++)
		for (int j = 0; j < i; j++)
			assert_string_not_equal(fw_start_refusal_text(i), fw_start_refusal_text(j));
	assert_string_equal(fw_start_refusal_text(FW_START_OK), "allowed");
	assert_string_equal(fw_start_refusal_text(FW_START_WRONG_BATTERY),
	                    "the image is for another battery type");
	assert_string_equal(fw_start_refusal_text(FW_START_REFUSAL_COUNT), "unknown reason");
	assert_string_equal(fw_start_refusal_text(-1), "unknown reason");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(one_battery_at_a_time),
	        cmocka_unit_test(e5_lets_only_the_failed_battery_retry),
	        cmocka_unit_test(start_arguments),
	        cmocka_unit_test(orphan_abort_address),
	        cmocka_unit_test(names_and_texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
