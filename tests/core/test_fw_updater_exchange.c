/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The firmware updater's requests and how it takes each outcome
 * (docs/m8bus.md section 6, docs/protection.md section 9), request by
 * request: what FW_BEGIN announces, one request on the bus at a time, the
 * repeated block, NAKs, FW_END never repeated, GET_INFO's poll and the
 * version that ends the job, the 30 s and 10 s bounds, a cancel and an
 * abort by the daemon. tests/sim/test_fw_updater.c runs whole updates
 * against the simulator's battery.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fw_updater_drive.h"

static uint32_t u32_at(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* FW_BEGIN: size, CRC-32, the whole version (patch too) and the type. */
static void begin_announces_the_image(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct fw_request q;

	(void)state;
	fw_updater_init(&u);
	assert_int_equal(fw_updater_start(&u, &img, 7, (const uint8_t[3]){1, 4, 2}, DRV_T0), 0);
	q = drv_next(&u, DRV_T0, M8_CMD_FW_BEGIN);
	assert_int_equal(q.addr, 7);
	assert_int_equal(q.len, 12);
	assert_int_equal(u32_at(q.payload), DRV_SIZE);
	assert_int_equal(u32_at(q.payload + 4), 0x89ABCDEF);
	assert_memory_equal(q.payload + 8, ((const uint8_t[3]){1, 5, 3}), 3);
	assert_int_equal(q.payload[11], 2);
}

/* One request in flight at a time; an outcome with nothing in flight, or
 * none at all, changes nothing. */
static void one_request_at_a_time(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u, before;
	struct fw_request q;

	(void)state;
	fw_updater_init(&u);
	assert_int_equal(fw_updater_start(&u, &img, 1, (const uint8_t[3]){1, 4, 2}, DRV_T0), 0);
	/* an answer to nothing is no outcome: it changes nothing, not even at
	 * the 30 s (the caller's tick decides that) */
	memcpy(&before, &u, sizeof(u));
	drv_reply(&u, DRV_T0, NULL, 0);
	drv_reply(&u, DRV_T0 + FW_STALL_US, NULL, 0);
	assert_memory_equal(&u, &before, sizeof(u));
	drv_next(&u, DRV_T0, M8_CMD_FW_BEGIN);
	assert_false(fw_updater_next_request(&u, DRV_T0 + DRV_S(1), &q));
	fw_updater_on_result(&u, DRV_T0 + 1000, NULL); /* no outcome: still in flight */
	assert_int_equal(u.in_flight_cmd, M8_CMD_FW_BEGIN);
	assert_false(fw_updater_next_request(&u, DRV_T0 + DRV_S(1), &q));
	drv_reply(&u, DRV_T0 + 2000, NULL, 0);
	assert_int_equal(u.state, FW_JOB_DATA);
	q = drv_next(&u, DRV_T0 + 2000, M8_CMD_FW_DATA);
	assert_int_equal(u32_at(q.payload), 0);
}

/* FW_BEGIN unanswered or busy: sent again; refused (NAK 1, 2, 3): the
 * battery never entered the update, so no FW_ABORT and no failure. */
static void begin_retried_or_refused(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct fw_request q;

	(void)state;
	drv_started(&u, &img, 1);
	drv_error(&u, DRV_T0 + 156000, -ETIMEDOUT, 0);
	assert_int_equal(u.state, FW_JOB_BEGIN);
	drv_next(&u, DRV_T0 + 156000, M8_CMD_FW_BEGIN);
	drv_error(&u, DRV_T0 + DRV_S(5), -EREMOTEIO, M8_NAK_BUSY);
	assert_int_equal(u.state, FW_JOB_BEGIN);
	drv_next(&u, DRV_T0 + DRV_S(5), M8_CMD_FW_BEGIN);
	drv_error(&u, DRV_T0 + DRV_S(6), -EREMOTEIO, M8_NAK_BAD_PARAM);
	assert_int_equal(u.state, FW_JOB_REFUSED);
	assert_int_equal(u.failure, FW_FAIL_NONE);
	assert_false(u.failed);
	assert_false(fw_updater_running(&u));
	assert_false(fw_updater_next_request(&u, DRV_T0 + DRV_S(6), &q));
}

/* Blocks in order; a block whose reply was lost goes again at the same
 * offset, and only such blocks count as repeats. */
static void blocks_in_order_and_repeats(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct fw_request q;

	(void)state;
	drv_begun(&u, &img, 1);
	q = drv_next(&u, DRV_T0, M8_CMD_FW_DATA);
	assert_int_equal(u32_at(q.payload), 0);
	assert_int_equal(q.len, 4 + 240);
	assert_memory_equal(q.payload + 4, drv_data, 240);
	drv_ack(&u, DRV_T0, 240);
	assert_int_equal(u.repeats, 0);
	q = drv_next(&u, DRV_T0, M8_CMD_FW_DATA);
	assert_int_equal(u32_at(q.payload), 240);
	drv_error(&u, DRV_T0 + 156000, -ETIMEDOUT, 0); /* the reply was lost */
	q = drv_next(&u, DRV_T0 + 156000, M8_CMD_FW_DATA);
	assert_int_equal(u32_at(q.payload), 240);
	assert_int_equal(u.repeats, 1);
	drv_ack(&u, DRV_T0 + 160000, 480);
	q = drv_next(&u, DRV_T0 + 160000, M8_CMD_FW_DATA);
	assert_int_equal(u32_at(q.payload), 480);
	assert_int_equal(q.len, 4 + 20);
	assert_memory_equal(q.payload + 4, drv_data + 480, 20);
	drv_ack(&u, DRV_T0 + 165000, DRV_SIZE);
	assert_int_equal(u.repeats, 1);
	q = drv_next(&u, DRV_T0 + 165000, M8_CMD_FW_END);
	assert_int_equal(q.tries, 1);
}

/* NAK busy on a block: the same block again; any other NAK but 5 is a
 * failure the daemon aborts (FW_ABORT); NAK 5 a sequence failure. */
static void data_naks(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct fw_request q;

	(void)state;
	drv_begun(&u, &img, 1);
	drv_next(&u, DRV_T0, M8_CMD_FW_DATA);
	drv_error(&u, DRV_T0 + DRV_S(5), -EREMOTEIO, M8_NAK_BUSY);
	assert_int_equal(u.busy_giveups, 1);
	q = drv_next(&u, DRV_T0 + DRV_S(5), M8_CMD_FW_DATA);
	assert_int_equal(u32_at(q.payload), 0);
	drv_error(&u, DRV_T0 + DRV_S(5) + 5000, -EREMOTEIO, M8_NAK_BAD_LENGTH);
	assert_int_equal(u.state, FW_JOB_FAILED);
	assert_int_equal(u.failure, FW_FAIL_ABORTED);
	assert_true(u.failed);
	q = drv_next(&u, DRV_T0 + DRV_S(5) + 5000, M8_CMD_FW_ABORT);
	assert_int_equal(q.addr, 1);

	drv_begun(&u, &img, 1);
	drv_next(&u, DRV_T0, M8_CMD_FW_DATA);
	drv_error(&u, DRV_T0 + 5000, -EREMOTEIO, M8_NAK_FW_SEQUENCE);
	assert_int_equal(u.failure, FW_FAIL_SEQUENCE);
	drv_next(&u, DRV_T0 + 5000, M8_CMD_FW_ABORT);
}

/* A block's reply is its 4-byte next offset: any other length is a reply
 * the daemon cannot trust, even with the right offset in front. */
static void data_reply_of_another_length_aborts(void **state)
{
	static const uint8_t five[5] = {240, 0, 0, 0, 0}, three[3] = {240, 0, 0};
	struct fw_image img = drv_image();
	struct fw_updater u;

	(void)state;
	drv_begun(&u, &img, 1);
	drv_next(&u, DRV_T0, M8_CMD_FW_DATA);
	drv_reply(&u, DRV_T0 + 5000, five, sizeof(five));
	assert_int_equal(u.state, FW_JOB_FAILED);
	assert_int_equal(u.failure, FW_FAIL_ABORTED);
	assert_int_equal(u.acked, 0);
	drv_next(&u, DRV_T0 + 5000, M8_CMD_FW_ABORT);

	drv_begun(&u, &img, 1);
	drv_next(&u, DRV_T0, M8_CMD_FW_DATA);
	drv_reply(&u, DRV_T0 + 5000, three, sizeof(three));
	assert_int_equal(u.failure, FW_FAIL_ABORTED);
	assert_int_equal(u.acked, 0);
}

/* FW_END's outcome: result 6 a verify failure (no FW_ABORT: the battery
 * left the update); NAK 5 a sequence failure, another NAK an abort; a
 * reply that is not one result byte, or an error whose payload is left
 * over, decides nothing: the version in GET_INFO does. Never FW_END again. */
static void end_outcomes(void **state)
{
	static const uint8_t six[1] = {M8_FW_RESULT_VERIFY_FAILED};
	static const uint8_t six_and_more[2] = {M8_FW_RESULT_VERIFY_FAILED, 0};
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct fw_request q;

	(void)state;
	drv_begun(&u, &img, 1);
	drv_all_blocks(&u, DRV_T0);
	drv_next(&u, DRV_T0, M8_CMD_FW_END);
	drv_reply(&u, DRV_T0 + 5000, six, sizeof(six));
	assert_int_equal(u.failure, FW_FAIL_VERIFY);
	assert_false(fw_updater_next_request(&u, DRV_T0 + 5000, &q));

	drv_begun(&u, &img, 1);
	drv_all_blocks(&u, DRV_T0);
	drv_next(&u, DRV_T0, M8_CMD_FW_END);
	drv_error(&u, DRV_T0 + 5000, -EREMOTEIO, M8_NAK_FW_SEQUENCE);
	assert_int_equal(u.state, FW_JOB_FAILED);
	assert_int_equal(u.failure, FW_FAIL_SEQUENCE);
	drv_next(&u, DRV_T0 + 5000, M8_CMD_FW_ABORT);

	drv_begun(&u, &img, 1);
	drv_all_blocks(&u, DRV_T0);
	drv_next(&u, DRV_T0, M8_CMD_FW_END);
	drv_error(&u, DRV_T0 + 5000, -EREMOTEIO, M8_NAK_BAD_LENGTH);
	assert_int_equal(u.state, FW_JOB_FAILED);
	assert_int_equal(u.failure, FW_FAIL_ABORTED);

	drv_begun(&u, &img, 1);
	drv_all_blocks(&u, DRV_T0);
	drv_next(&u, DRV_T0, M8_CMD_FW_END);
	drv_reply(&u, DRV_T0 + 5000, six_and_more, sizeof(six_and_more));
	assert_int_equal(u.state, FW_JOB_VERIFY);

	drv_begun(&u, &img, 1);
	drv_all_blocks(&u, DRV_T0);
	drv_next(&u, DRV_T0, M8_CMD_FW_END);
	fw_updater_on_result(&u, DRV_T0 + 52000,
	                     &(struct fw_result){.error = -ETIMEDOUT, .payload = six, .len = 1});
	assert_int_equal(u.state, FW_JOB_VERIFY);
	assert_false(u.failed);
	drv_next(&u, DRV_T0 + 52000 + FW_INFO_POLL_US, M8_CMD_GET_INFO);
}

/* After FW_END answered 0: GET_INFO every 500 ms (not more often, the bus
 * is shared), the next deadline is the next poll while none is in flight,
 * else the 10 s. */
static void get_info_poll(void **state)
{
	static const uint8_t old[3] = {1, 4, 2};
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct fw_request q;
	const uint64_t t = DRV_T0 + DRV_S(2);

	(void)state;
	drv_ended(&u, &img, t);
	assert_true(fw_updater_next_deadline_us(&u) == t + FW_INFO_POLL_US);
	assert_false(fw_updater_next_request(&u, t + FW_INFO_POLL_US - 1, &q));
	drv_next(&u, t + FW_INFO_POLL_US, M8_CMD_GET_INFO);
	/* in flight: only the 10 s */
	assert_true(fw_updater_next_deadline_us(&u) == t + FW_VERIFY_US);
	drv_error(&u, t + FW_INFO_POLL_US + 52000, -ETIMEDOUT, 0); /* still restarting */
	assert_true(fw_updater_next_deadline_us(&u) == t + 2 * FW_INFO_POLL_US);
	assert_false(fw_updater_next_request(&u, t + FW_INFO_POLL_US + 52000, &q));
	drv_next(&u, t + 2 * FW_INFO_POLL_US, M8_CMD_GET_INFO);
	drv_info(&u, t + 2 * FW_INFO_POLL_US + 5000, old);
	assert_int_equal(u.state, FW_JOB_VERIFY);
	/* the last poll before the 10 s: then the 10 s come first */
	drv_next(&u, t + FW_VERIFY_US - 100000, M8_CMD_GET_INFO);
	drv_info(&u, t + FW_VERIFY_US - 95000, old);
	assert_true(fw_updater_next_deadline_us(&u) == t + FW_VERIFY_US);
	assert_int_equal(u.state, FW_JOB_VERIFY);
}

/* Only a version GET_INFO reported, all three numbers of it, ends the job. */
static void only_the_new_version_succeeds(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	uint64_t t = DRV_T0 + DRV_S(2);

	(void)state;
	drv_ended(&u, &img, t);
	t += FW_INFO_POLL_US;
	drv_next(&u, t, M8_CMD_GET_INFO);
	drv_info(&u, t, (const uint8_t[3]){1, 5, 2}); /* another patch level */
	assert_int_equal(u.state, FW_JOB_VERIFY);
	t += FW_INFO_POLL_US;
	drv_next(&u, t, M8_CMD_GET_INFO);
	/* an INFO the daemon could not parse: no version, whatever the bytes */
	fw_updater_on_result(&u, t, &(struct fw_result){.version = {1, 5, 3}});
	assert_int_equal(u.state, FW_JOB_VERIFY);
	t += FW_INFO_POLL_US;
	drv_next(&u, t, M8_CMD_GET_INFO);
	/* unanswered: a version left over in the outcome does not count */
	fw_updater_on_result(&u, t,
	                     &(struct fw_result){.error = -ETIMEDOUT,
	                                         .have_version = true,
	                                         .version = {1, 5, 3}});
	assert_int_equal(u.state, FW_JOB_VERIFY);
	t += FW_INFO_POLL_US;
	drv_next(&u, t, M8_CMD_GET_INFO);
	drv_info(&u, t, (const uint8_t[3]){1, 5, 3});
	assert_int_equal(u.state, FW_JOB_SUCCEEDED);
	assert_false(fw_updater_running(&u));
}

/* 30 s without progress fail the job at 30 s, not later; the new version
 * must show within 10 s of FW_END: at 10 s it has failed. */
static void bounds_of_30s_and_10s(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	uint64_t t;

	(void)state;
	drv_begun(&u, &img, 1);
	t = u.progress_us;
	assert_true(fw_updater_next_deadline_us(&u) == t + FW_STALL_US);
	fw_updater_tick(&u, t + FW_STALL_US - 1);
	assert_int_equal(u.state, FW_JOB_DATA);
	fw_updater_tick(&u, t + FW_STALL_US);
	assert_int_equal(u.state, FW_JOB_FAILED);
	assert_int_equal(u.failure, FW_FAIL_STALLED);

	t = DRV_T0 + DRV_S(2);
	drv_ended(&u, &img, t);
	fw_updater_tick(&u, t + FW_VERIFY_US - 1);
	assert_int_equal(u.state, FW_JOB_VERIFY);
	fw_updater_tick(&u, t + FW_VERIFY_US);
	assert_int_equal(u.state, FW_JOB_FAILED);
	assert_int_equal(u.failure, FW_FAIL_NO_VERSION);
	assert_true(u.failed_since_us == t + FW_VERIFY_US);
}

/* A cancel while a request is on the bus: its late answer changes nothing
 * (an accepted FW_BEGIN does not restart the job, a NAK 5 is no failure),
 * and FW_ABORT goes out. Once FW_END went out it is too late. */
static void cancel_with_a_request_in_flight(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct fw_request q;

	(void)state;
	drv_started(&u, &img, 1);
	assert_int_equal(fw_updater_cancel(&u, DRV_T0 + 1000), 0);
	drv_reply(&u, DRV_T0 + 5000, NULL, 0);
	assert_int_equal(u.state, FW_JOB_CANCELLED);
	drv_next(&u, DRV_T0 + 5000, M8_CMD_FW_ABORT);

	drv_begun(&u, &img, 1);
	drv_next(&u, DRV_T0, M8_CMD_FW_DATA);
	assert_int_equal(fw_updater_cancel(&u, DRV_T0 + 1000), 0);
	drv_error(&u, DRV_T0 + 5000, -EREMOTEIO, M8_NAK_FW_SEQUENCE);
	assert_int_equal(u.state, FW_JOB_CANCELLED);
	assert_int_equal(u.failure, FW_FAIL_NONE);
	assert_false(u.failed);
	drv_next(&u, DRV_T0 + 5000, M8_CMD_FW_ABORT);

	drv_begun(&u, &img, 1);
	drv_all_blocks(&u, DRV_T0);
	drv_next(&u, DRV_T0, M8_CMD_FW_END);
	assert_int_equal(fw_updater_cancel(&u, DRV_T0 + 1000), -EINPROGRESS);
	assert_int_equal(u.state, FW_JOB_END);
	assert_false(u.abort_pending);
	drv_reply(&u, DRV_T0 + 5000, (const uint8_t[1]){M8_FW_RESULT_OK}, 1);
	assert_int_equal(u.state, FW_JOB_VERIFY);
	assert_false(fw_updater_next_request(&u, DRV_T0 + 5000, &q));
}

/* An abort by the daemon: a failure with its reason (FW_FAIL_NONE means
 * "aborted"); without a job it does nothing. A request still on the bus
 * keeps the updater running: no new job until its answer is in, which
 * then belongs to no job. */
static void abort_by_the_daemon(void **state)
{
	struct fw_image img = drv_image();
	struct fw_updater u;
	struct fw_request q;

	(void)state;
	fw_updater_init(&u);
	fw_updater_fail(&u, DRV_T0, FW_FAIL_ABORTED);
	assert_int_equal(u.state, FW_JOB_IDLE);
	assert_false(u.failed);

	drv_begun(&u, &img, 1);
	fw_updater_fail(&u, DRV_T0 + 1000, FW_FAIL_NONE);
	assert_int_equal(u.state, FW_JOB_FAILED);
	assert_int_equal(u.failure, FW_FAIL_ABORTED);
	assert_true(u.failed);
	drv_next(&u, DRV_T0 + 1000, M8_CMD_FW_ABORT);

	drv_begun(&u, &img, 1);
	fw_updater_fail(&u, DRV_T0 + 1000, FW_FAIL_STALLED);
	assert_int_equal(u.failure, FW_FAIL_STALLED);

	/* after a success a late abort changes nothing */
	drv_ended(&u, &img, DRV_T0 + DRV_S(2));
	drv_next(&u, DRV_T0 + DRV_S(3), M8_CMD_GET_INFO);
	drv_info(&u, DRV_T0 + DRV_S(3), img.version);
	assert_int_equal(u.state, FW_JOB_SUCCEEDED);
	fw_updater_fail(&u, DRV_T0 + DRV_S(4), FW_FAIL_ABORTED);
	assert_int_equal(u.state, FW_JOB_SUCCEEDED);
	assert_false(u.failed);

	/* ended with no FW_ABORT to send while FW_DATA is on the bus */
	drv_begun(&u, &img, 1);
	drv_next(&u, DRV_T0, M8_CMD_FW_DATA);
	fw_updater_fail(&u, DRV_T0 + 1000, FW_FAIL_VERIFY);
	assert_false(u.abort_pending);
	assert_true(fw_updater_running(&u));
	assert_int_equal(fw_updater_start(&u, &img, 2, (const uint8_t[3]){1, 4, 2}, DRV_T0 + 2000),
	                 -EBUSY);
	drv_ack(&u, DRV_T0 + 5000, 240);
	assert_int_equal(u.acked, 0);
	assert_false(fw_updater_running(&u));
	assert_false(fw_updater_next_request(&u, DRV_T0 + 5000, &q));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(begin_announces_the_image),
	        cmocka_unit_test(one_request_at_a_time),
	        cmocka_unit_test(begin_retried_or_refused),
	        cmocka_unit_test(blocks_in_order_and_repeats),
	        cmocka_unit_test(data_naks),
	        cmocka_unit_test(data_reply_of_another_length_aborts),
	        cmocka_unit_test(end_outcomes),
	        cmocka_unit_test(get_info_poll),
	        cmocka_unit_test(only_the_new_version_succeeds),
	        cmocka_unit_test(bounds_of_30s_and_10s),
	        cmocka_unit_test(cancel_with_a_request_in_flight),
	        cmocka_unit_test(abort_by_the_daemon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
