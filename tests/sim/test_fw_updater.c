/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The firmware updater's state machine (src/core/fw_updater.c) against the
 * simulator's battery side of the update (src/sim/fwupdate.c, the same code
 * smallbms-sim answers with), with the real protection core deciding the
 * outputs, on a clock the test controls. Each way an update can end, and
 * what ATC/W7, the pre-alarm, E5 and ATD do during and after it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../core/test_protection_fixture.h"
#include "core/codes.h"
#include "core/fw_image.h"
#include "core/fw_updater.h"
#include "sim/fwupdate.h"
#include "smallbms/m8_proto.h"

#define IMG_SIZE       2000 /* 9 blocks: 8 x 240 + 80 */
#define EXCHANGE_US    5000ULL
#define STEP_US        100000ULL
#define RESTART_US     S_US(4) /* the battery is silent this long after FW_END 0 */
#define BUSY_GIVEUP_US S_US(5) /* the master repeats a busy request for 5 s */

static const uint8_t old_ver[3] = {1, 4, 2};
static const uint8_t new_ver[3] = {1, 5, 0};

struct rig {
	struct fx fx;
	struct fw_updater u;
	uint8_t file[FW_IMAGE_HEADER_LEN + IMG_SIZE];
	struct fw_image img;
	/* battery 1, the one updated */
	struct sim_fw bfw;
	uint8_t bver[3];
	uint8_t btype;
	uint64_t restart_until_us;
	/* faults */
	int64_t lose_reply_at;  /* FW_DATA offset whose reply is lost once, -1 none */
	unsigned busy_naks;     /* requests answered NAK busy for 5 s */
	bool dead;              /* answers nothing */
	bool keeps_old_version; /* restarts into the old firmware */
	uint64_t brownout_at_us, brownout_until_us;
	bool lose_end_reply;
	bool skew_next;         /* the next FW_DATA reply names another next offset */
	uint64_t status_lag_us; /* STATUS polled again this long after the restart */
	uint64_t restart_ended_us;
	/* what the battery saw */
	unsigned n_begin, n_data, n_end, n_abort, n_info;
	uint64_t next_step_us;
	/* observed while the job ran */
	bool saw_atc_closed_running, saw_atd_open_running, saw_w7_missing;
};

static struct rig R;

static void rig_init(struct rig *r, unsigned n_batteries)
{
	enum fw_image_refusal why;

	memset(r, 0, sizeof(*r));
	fx_start(&r->fx, n_batteries);
	fw_updater_init(&r->u);
	for (unsigned i = 0; i < IMG_SIZE; i++)
		r->file[FW_IMAGE_HEADER_LEN + i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(
	        fw_image_write_header(r->file, 1, new_ver, r->file + FW_IMAGE_HEADER_LEN, IMG_SIZE),
	        0);
	assert_int_equal(fw_image_parse(r->file, sizeof(r->file), &r->img, &why), 0);
	memcpy(r->bver, old_ver, 3);
	r->btype = 1;
	r->lose_reply_at = -1;
	r->next_step_us = r->fx.now;
}

static bool battery_silent(const struct rig *r, uint64_t now)
{
	return r->dead || now < r->restart_until_us ||
	       (now >= r->brownout_at_us && now < r->brownout_until_us);
}

static bool status_frozen(const struct rig *r, uint64_t now)
{
	return battery_silent(r, now) ||
	       (r->restart_ended_us && now < r->restart_ended_us + r->status_lag_us);
}

/* The protection core sees the battery's STATUS (its update flag, silence)
 * and the updater's state. */
static void protection_step_at(struct rig *r, uint64_t now)
{
	struct protection_input *in = &r->fx.in;

	r->fx.frozen[0] = status_frozen(r, now);
	in->bat[0].fw_update = r->bfw.active;
	in->fw_running = false;
	fw_updater_protection_input(&r->u, now, in);
	fx_step_at(&r->fx, now);
	if (fw_updater_running(&r->u)) {
		if (r->fx.out.atc_closed)
			r->saw_atc_closed_running = true;
		if (!r->fx.out.atd_closed)
			r->saw_atd_open_running = true;
		if (!fx_code(&r->fx, BMS_W7))
			r->saw_w7_missing = true;
	}
}

/* One request on the "bus": the battery's answer, and the time it took. */
static void exchange(struct rig *r, const struct fw_request *req, struct fw_result *res,
                     uint8_t *reply_buf, uint64_t *now)
{
	struct sim_fw_reply fr;

	memset(res, 0, sizeof(*res));
	switch (req->cmd) {
	case M8_CMD_FW_BEGIN:
		r->n_begin++;
		break;
	case M8_CMD_FW_DATA:
		r->n_data++;
		break;
	case M8_CMD_FW_END:
		r->n_end++;
		break;
	case M8_CMD_FW_ABORT:
		r->n_abort++;
		break;
	case M8_CMD_GET_INFO:
		r->n_info++;
		break;
	default:
		fail_msg("unexpected command 0x%02x", req->cmd);
	}
	assert_int_equal(req->addr, 1);
	/* docs/m8bus.md 6.3: FW_END is never repeated by the master either */
	if (req->cmd == M8_CMD_FW_END)
		assert_int_equal(req->tries, 1);
	else
		assert_true(req->tries >= 1);
	if (r->busy_naks > 0 && req->cmd != M8_CMD_GET_INFO) {
		/* the master repeated it every 50 ms for 5 s, then gave up */
		r->busy_naks--;
		*now += BUSY_GIVEUP_US;
		res->error = -EREMOTEIO;
		res->nak_reason = M8_NAK_BUSY;
		return;
	}
	if (battery_silent(r, *now)) {
		*now += (uint64_t)req->tries * 52000;
		res->error = -ETIMEDOUT;
		return;
	}
	*now += EXCHANGE_US;
	if (req->cmd == M8_CMD_GET_INFO) {
		res->have_version = true;
		memcpy(res->version, r->bver, 3);
		return;
	}
	assert_int_equal(
	        sim_fw_request(&r->bfw, r->btype, req->cmd, req->payload, req->len, *now, &fr), 0);
	if (fr.restart) {
		r->restart_until_us = *now + RESTART_US;
		if (!r->keeps_old_version)
			memcpy(r->bver, r->bfw.version, 3);
		memset(&r->bfw, 0, sizeof(r->bfw));
	}
	if (req->cmd == M8_CMD_FW_DATA && r->lose_reply_at >= 0 &&
	    req->payload[0] + 256u * req->payload[1] == (uint64_t)r->lose_reply_at) {
		r->lose_reply_at = -1;
		*now += (uint64_t)req->tries * 52000;
		res->error = -ETIMEDOUT;
		return;
	}
	if (req->cmd == M8_CMD_FW_END && r->lose_end_reply) {
		*now += 52000;
		res->error = -ETIMEDOUT;
		return;
	}
	if (fr.nak) {
		res->error = -EREMOTEIO;
		res->nak_reason = fr.nak;
		return;
	}
	if (req->cmd == M8_CMD_FW_DATA && r->skew_next && fr.len == 4) {
		r->skew_next = false;
		fr.payload[0] += 8;
	}
	memcpy(reply_buf, fr.payload, fr.len);
	res->payload = reply_buf;
	res->len = fr.len;
}

/* Runs the updater, the battery and the protection core up to t. */
static void run_to(struct rig *r, uint64_t t)
{
	uint64_t now = r->fx.now;

	while (now < t) {
		struct fw_request req;
		struct fw_result res;
		uint8_t buf[8];

		if (r->brownout_at_us && now >= r->brownout_at_us && now < r->brownout_until_us)
			memset(&r->bfw, 0, sizeof(r->bfw)); /* lost its RAM */
		sim_fw_expire(&r->bfw, now);
		if (now >= r->restart_until_us && r->restart_until_us) {
			r->restart_until_us = 0;
			r->restart_ended_us = now;
		}
		fw_updater_tick(&r->u, now);
		if (fw_updater_next_request(&r->u, now, &req)) {
			exchange(r, &req, &res, buf, &now);
			fw_updater_on_result(&r->u, now, &res);
		} else {
			uint64_t next = now + STEP_US;
			uint64_t d = fw_updater_next_deadline_us(&r->u);

			if (d > now && d < next)
				next = d;
			now = next;
		}
		if (now >= r->next_step_us) {
			protection_step_at(r, now);
			r->next_step_us = now + STEP_US;
		}
	}
	protection_step_at(r, t > now ? t : now);
}

static void start(struct rig *r)
{
	assert_int_equal(fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 1,
	                                        r->btype),
	                 FW_START_OK);
	assert_int_equal(fw_updater_start(&r->u, &r->img, 1, r->bver, r->fx.now), 0);
	assert_true(fw_updater_running(&r->u));
}

static void assert_ran_safely(const struct rig *r)
{
	assert_false(r->saw_atc_closed_running);
	assert_false(r->saw_atd_open_running);
	assert_false(r->saw_w7_missing);
}

/* After a failure at t_fail: the pre-alarm at once, E5 at once, ATD closed
 * until the 120 s, open (for E5) by 120 s + a step. */
static void assert_e5_after_120s(struct rig *r, uint64_t t_fail)
{
	run_to(r, t_fail + S_US(1));
	assert_true(r->fx.out.prealarm_active);
	assert_true(fx_code(&r->fx, BMS_E5));
	assert_true(r->fx.out.atd_closed);
	run_to(r, t_fail + S_US(119));
	assert_true(r->fx.out.atd_closed);
	assert_true(r->fx.out.prealarm_active);
	run_to(r, t_fail + FW_FAIL_GRACE_US + STEP_US + MS_US(10));
	assert_false(r->fx.out.atd_closed);
	assert_true(fx_holds(&r->fx, PROT_OUT_ATD, PROT_R_FW_FAILED));
	assert_true(fx_code(&r->fx, BMS_E5));
}

static void update_succeeds(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 2);
	start(r);
	run_to(r, r->fx.now + MS_US(300));
	/* while it runs: W7, ATC open, ATD untouched */
	assert_true(fw_updater_running(&r->u));
	assert_true(fx_code(&r->fx, BMS_W7));
	assert_false(r->fx.out.atc_closed);
	assert_true(fx_holds(&r->fx, PROT_OUT_ATC, PROT_R_FW_RUNNING));
	assert_true(r->fx.out.atd_closed);
	run_to(r, r->fx.now + S_US(12));
	assert_int_equal(r->u.state, FW_JOB_SUCCEEDED);
	assert_int_equal(r->u.acked, IMG_SIZE);
	assert_memory_equal(r->bver, new_ver, 3);
	assert_int_equal(r->n_begin, 1);
	assert_int_equal(r->n_data, 9);
	assert_int_equal(r->n_end, 1);
	assert_int_equal(r->n_abort, 0);
	assert_true(r->n_info >= 1);
	assert_ran_safely(r);
	/* the battery was silent 4 s after FW_END: not stale (exempt) */
	assert_false(fx_code(&r->fx, BMS_E1));
	assert_false(fw_updater_running(&r->u));
	run_to(r, r->fx.now + S_US(200));
	assert_false(fx_code(&r->fx, BMS_W7));
	assert_false(fx_code(&r->fx, BMS_E5));
	assert_true(r->fx.out.atd_closed);
	assert_true(r->fx.out.atc_closed);
	assert_false(r->fx.out.prealarm_active);
}

static void verify_failure_is_e5(void **state)
{
	struct rig *r = &R;
	uint64_t t_fail;

	(void)state;
	rig_init(r, 2);
	r->img.crc32 ^= 1; /* FW_BEGIN announces a CRC the image does not have */
	start(r);
	run_to(r, r->fx.now + S_US(2));
	assert_int_equal(r->u.state, FW_JOB_FAILED);
	assert_int_equal(r->u.failure, FW_FAIL_VERIFY);
	assert_int_equal(r->n_end, 1);
	assert_int_equal(r->n_abort, 0); /* the battery left the update itself */
	assert_memory_equal(r->bver, old_ver, 3);
	assert_ran_safely(r);
	t_fail = r->u.ended_us;
	assert_e5_after_120s(r, t_fail);
}

static void sequence_nak_is_e5(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 2);
	start(r);
	run_to(r, r->fx.now + MS_US(20)); /* BEGIN and a few blocks */
	assert_int_equal(r->u.state, FW_JOB_DATA);
	assert_true(r->u.acked > 0);
	r->bfw.next_offset += 4; /* the battery expects another offset */
	run_to(r, r->fx.now + S_US(1));
	assert_int_equal(r->u.state, FW_JOB_FAILED);
	assert_int_equal(r->u.failure, FW_FAIL_SEQUENCE);
	assert_int_equal(r->n_abort, 1);
	assert_false(r->bfw.active);
	assert_ran_safely(r);
	assert_e5_after_120s(r, r->u.ended_us);
}

/* A reply that names another next offset than the block sent: the daemon
 * cannot know what the battery holds; it aborts (a failure). */
static void unexpected_next_offset_aborts(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 2);
	start(r);
	run_to(r, r->fx.now + MS_US(20));
	r->skew_next = true;
	run_to(r, r->fx.now + S_US(1));
	assert_int_equal(r->u.state, FW_JOB_FAILED);
	assert_int_equal(r->u.failure, FW_FAIL_ABORTED);
	assert_int_equal(r->n_abort, 1);
	assert_false(r->bfw.active);
	assert_ran_safely(r);
	assert_e5_after_120s(r, r->u.ended_us);
}

static void lost_data_reply_repeats_the_block(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 1);
	r->lose_reply_at = 480; /* the third block */
	start(r);
	run_to(r, r->fx.now + S_US(12));
	assert_int_equal(r->u.state, FW_JOB_SUCCEEDED);
	assert_int_equal(r->n_data, 10); /* one block twice */
	assert_int_equal(r->u.repeats, 1);
	assert_memory_equal(r->bver, new_ver, 3);
	assert_ran_safely(r);
}

static void busy_naks_are_retried(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 1);
	r->busy_naks = 1; /* FW_BEGIN busy for 5 s */
	start(r);
	run_to(r, r->fx.now + S_US(5) + MS_US(20));
	assert_int_equal(r->n_begin, 2);
	assert_int_equal(r->u.state, FW_JOB_DATA);
	r->busy_naks = 4; /* 20 s of busy, less than 30 s without progress */
	run_to(r, r->fx.now + S_US(35));
	assert_int_equal(r->u.state, FW_JOB_SUCCEEDED);
	assert_int_equal(r->u.busy_giveups, 4);
	assert_memory_equal(r->bver, new_ver, 3);
	assert_ran_safely(r);
}

static void busy_for_30s_is_stalled(void **state)
{
	struct rig *r = &R;
	uint64_t t0;

	(void)state;
	rig_init(r, 1);
	start(r);
	run_to(r, r->fx.now + MS_US(30));
	t0 = r->u.progress_us;
	r->busy_naks = 100;
	run_to(r, t0 + S_US(24));
	assert_int_equal(r->u.state, FW_JOB_DATA);
	run_to(r, t0 + S_US(36));
	assert_int_equal(r->u.state, FW_JOB_FAILED);
	assert_int_equal(r->u.failure, FW_FAIL_STALLED);
	assert_true(r->u.ended_us >= t0 + FW_STALL_US);
	assert_true(r->u.ended_us <= t0 + FW_STALL_US + S_US(5)); /* at most one busy wait late */
	assert_ran_safely(r);
}

static void no_progress_for_30s_fails(void **state)
{
	struct rig *r = &R;
	uint64_t t0;

	(void)state;
	rig_init(r, 2);
	start(r);
	run_to(r, r->fx.now + MS_US(30));
	t0 = r->u.progress_us;
	r->dead = true;
	run_to(r, t0 + S_US(4));
	/* the update does not hide a silent battery while it runs
	 * (docs/protection.md 9 exempts only the 10 s after FW_END) */
	assert_true(fx_code(&r->fx, BMS_E1));
	run_to(r, t0 + S_US(29));
	assert_int_equal(r->u.state, FW_JOB_DATA);
	run_to(r, t0 + S_US(31));
	assert_int_equal(r->u.state, FW_JOB_FAILED);
	assert_int_equal(r->u.failure, FW_FAIL_STALLED);
	assert_true(r->u.ended_us >= t0 + FW_STALL_US);
	assert_true(r->u.ended_us < t0 + FW_STALL_US + MS_US(200));
	assert_true(r->n_abort >= 1); /* tried to abort; the battery abandons by itself too */
	assert_true(fx_code(&r->fx, BMS_E5));
	assert_false(r->saw_atc_closed_running);
	assert_false(r->saw_w7_missing);
	run_to(r, r->u.ended_us + FW_FAIL_GRACE_US + S_US(1));
	assert_false(r->fx.out.atd_closed);
	assert_true(fx_holds(&r->fx, PROT_OUT_ATD, PROT_R_FW_FAILED));
}

static void silent_after_failure_is_stale_only_after_120s(void **state)
{
	struct rig *r = &R;
	uint64_t t_fail;

	(void)state;
	rig_init(r, 2);
	r->img.crc32 ^= 1;
	start(r);
	run_to(r, r->fx.now + S_US(2));
	assert_int_equal(r->u.failure, FW_FAIL_VERIFY);
	t_fail = r->u.ended_us;
	r->dead = true; /* e.g. the battery restarts after the failure */
	run_to(r, t_fail + S_US(110));
	assert_false(fx_code(&r->fx, BMS_E1));
	assert_true(r->fx.out.atd_closed);
	assert_false(r->fx.out.atc_closed); /* nothing releases on it meanwhile */
	run_to(r, t_fail + FW_FAIL_GRACE_US + S_US(1));
	assert_true(fx_code(&r->fx, BMS_E1));
	assert_false(r->fx.out.atd_closed);
}

static void new_version_not_seen_fails(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 2);
	r->keeps_old_version = true;
	start(r);
	run_to(r, r->fx.now + S_US(1));
	assert_int_equal(r->u.state, FW_JOB_VERIFY);
	assert_int_equal(fw_updater_cancel(&r->u, r->fx.now), -EINPROGRESS);
	run_to(r, r->u.end_us + S_US(9));
	assert_int_equal(r->u.state, FW_JOB_VERIFY);
	assert_true(r->n_info >= 2); /* answered since 4 s, with the old version */
	run_to(r, r->u.end_us + S_US(10) + MS_US(50));
	assert_int_equal(r->u.state, FW_JOB_FAILED);
	assert_int_equal(r->u.failure, FW_FAIL_NO_VERSION);
	assert_int_equal(r->n_end, 1);
	assert_ran_safely(r);
	assert_e5_after_120s(r, r->u.ended_us);
}

/* The bus master polls the restarted battery's STATUS only a while after
 * GET_INFO showed the new version: its staleness stays ignored for the 10 s
 * after FW_END, and counts again after them. */
static void next_battery_right_after_success(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 2);
	r->status_lag_us = S_US(3);
	start(r);
	uint64_t give_up = r->fx.now + S_US(30);
	while (r->u.state != FW_JOB_SUCCEEDED && r->fx.now < give_up)
		run_to(r, r->fx.now + STEP_US);
	assert_int_equal(r->u.state, FW_JOB_SUCCEEDED);
	/* GET_INFO showed the new version before battery 1's next STATUS: its
	 * last STATUS, from before its restart, still carries the update flag.
	 * That is no update going on: the next battery may start (--all). */
	r->fx.in.bat[0].fw_update = true;
	r->fx.in.bat[0].last_status_us = r->u.end_us - MS_US(100);
	fx_step_at(&r->fx, r->fx.now + STEP_US);
	assert_int_equal(
	        fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 2, 1),
	        FW_START_OK);
	/* a STATUS after the success that still flags it: an update going on */
	r->fx.in.bat[0].last_status_us = r->u.ended_us + 1;
	assert_int_equal(
	        fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 2, 1),
	        FW_START_FLAGGED);
}

static void no_e1_right_after_success(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 2);
	r->status_lag_us = S_US(3);
	start(r);
	run_to(r, r->fx.now + S_US(1));
	assert_int_equal(r->u.state, FW_JOB_VERIFY);
	/* every step up to the first STATUS after the restart */
	while (r->fx.now < r->u.end_us + RESTART_US + S_US(3)) {
		run_to(r, r->fx.now + STEP_US);
		assert_false(fx_code(&r->fx, BMS_E1));
	}
	assert_int_equal(r->u.state, FW_JOB_SUCCEEDED);
	assert_true(r->u.ended_us < r->u.end_us + S_US(5));
	run_to(r, r->fx.now + S_US(8));
	assert_false(fx_code(&r->fx, BMS_E1));
	assert_false(r->fx.out.prealarm_active);
	/* after the 10 s a silent battery is stale again */
	r->dead = true;
	run_to(r, r->fx.now + S_US(4));
	assert_true(fx_code(&r->fx, BMS_E1));
}

static void lost_end_reply_is_not_repeated(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 1);
	r->lose_end_reply = true;
	start(r);
	run_to(r, r->fx.now + S_US(12));
	assert_int_equal(r->u.state, FW_JOB_SUCCEEDED);
	assert_int_equal(r->n_end, 1);
	assert_memory_equal(r->bver, new_ver, 3);
	assert_ran_safely(r);
}

static void brownout_during_update_fails(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 2);
	start(r);
	run_to(r, r->fx.now + MS_US(20));
	assert_int_equal(r->u.state, FW_JOB_DATA);
	/* silent for 2 s, then back without its update state */
	r->brownout_at_us = r->fx.now;
	r->brownout_until_us = r->fx.now + S_US(2);
	run_to(r, r->fx.now + S_US(3));
	assert_int_equal(r->u.state, FW_JOB_FAILED);
	assert_int_equal(r->u.failure, FW_FAIL_SEQUENCE);
	assert_memory_equal(r->bver, old_ver, 3);
	assert_ran_safely(r);
	assert_false(fx_code(&r->fx, BMS_E1));
	assert_e5_after_120s(r, r->u.ended_us);
}

static void cancel_is_not_a_failure(void **state)
{
	struct rig *r = &R;
	uint64_t t;

	(void)state;
	rig_init(r, 2);
	start(r);
	run_to(r, r->fx.now + MS_US(20));
	assert_true(r->bfw.active);
	t = r->fx.now;
	assert_int_equal(fw_updater_cancel(&r->u, t), 0);
	assert_int_equal(fw_updater_cancel(&r->u, t), -ENOENT);
	run_to(r, t + S_US(1));
	assert_int_equal(r->u.state, FW_JOB_CANCELLED);
	assert_int_equal(r->n_abort, 1);
	assert_false(r->bfw.active); /* FW_ABORT reached the battery */
	assert_false(fw_updater_running(&r->u));
	assert_false(r->u.failed);
	assert_memory_equal(r->bver, old_ver, 3);
	assert_ran_safely(r);
	run_to(r, t + S_US(200));
	assert_false(fx_code(&r->fx, BMS_E5));
	assert_false(fx_code(&r->fx, BMS_W7));
	assert_true(r->fx.out.atd_closed);
	assert_true(r->fx.out.atc_closed);
	assert_false(r->fx.out.prealarm_active);
}

static void second_update_is_refused(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 2);
	start(r);
	run_to(r, r->fx.now + MS_US(20));
	assert_int_equal(
	        fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 2, 1),
	        FW_START_RUNNING);
	assert_int_equal(fw_updater_start(&r->u, &r->img, 2, old_ver, r->fx.now), -EBUSY);
	assert_int_equal(r->u.addr, 1);
	run_to(r, r->fx.now + S_US(12));
	assert_int_equal(r->u.state, FW_JOB_SUCCEEDED);
}

static void wrong_battery_type_is_refused(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 2);
	r->btype = 2;
	assert_int_equal(fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 1,
	                                        r->btype),
	                 FW_START_WRONG_BATTERY);
	/* and should it go out anyway, the battery refuses FW_BEGIN (NAK 3):
	 * nothing changed on it, so no E5 */
	assert_int_equal(fw_updater_start(&r->u, &r->img, 1, old_ver, r->fx.now), 0);
	run_to(r, r->fx.now + S_US(1));
	assert_int_equal(r->u.state, FW_JOB_REFUSED);
	assert_int_equal(r->n_data, 0);
	assert_false(r->u.failed);
	run_to(r, r->fx.now + S_US(150));
	assert_false(fx_code(&r->fx, BMS_E5));
	assert_true(r->fx.out.atd_closed);
}

static void preconditions_refuse(void **state)
{
	struct rig *r = &R;

	(void)state;
	rig_init(r, 2);
	assert_int_equal(
	        fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 3, 1),
	        FW_START_NO_BATTERY);
	assert_int_equal(
	        fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 0, 1),
	        FW_START_NO_BATTERY);
	/* a cell below the pre-alarm level (3.10 V) */
	r->fx.in.bat[1].cell_mv[2] = 3090;
	fx_step_at(&r->fx, r->fx.now + STEP_US);
	assert_int_equal(
	        fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 1, 1),
	        FW_START_LOW_CELL);
	r->fx.in.bat[1].cell_mv[2] = 3100; /* at the level: allowed */
	fx_step_at(&r->fx, r->fx.now + STEP_US);
	assert_int_equal(
	        fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 1, 1),
	        FW_START_OK);
	/* another battery flags an update (one from before a restart) */
	r->fx.in.bat[1].fw_update = true;
	assert_int_equal(
	        fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 1, 1),
	        FW_START_FLAGGED);
	/* ... but the flagged battery itself may be updated (resumed) */
	assert_int_equal(
	        fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 2, 1),
	        FW_START_OK);
	r->fx.in.bat[1].fw_update = false;
	/* an alarm: a hot battery (A4 after 5 s) */
	fx_temps(&r->fx, 520);
	fx_run_to(&r->fx, r->fx.now + S_US(6), STEP_US);
	assert_true(fx_code(&r->fx, BMS_A4));
	assert_int_equal(
	        fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 1, 1),
	        FW_START_ALARM);
	for (int i = 0; i < FW_START_REFUSAL_COUNT; i++)
		assert_non_null(fw_start_refusal_text(i));
}

static void retry_after_failure_clears_e5(void **state)
{
	struct rig *r = &R;
	uint64_t t_fail;

	(void)state;
	rig_init(r, 2);
	r->img.crc32 ^= 1;
	start(r);
	run_to(r, r->fx.now + S_US(2));
	assert_int_equal(r->u.failure, FW_FAIL_VERIFY);
	t_fail = r->u.ended_us;
	run_to(r, t_fail + S_US(30));
	assert_true(fx_code(&r->fx, BMS_E5));
	/* E5 does not block the retry of that battery; it blocks the others */
	assert_int_equal(
	        fw_updater_check_start(&r->u, &r->fx.p, &r->fx.in, &r->fx.out, &r->img, 2, 1),
	        FW_START_ALARM);
	r->img.crc32 ^= 1;
	start(r);
	run_to(r, r->fx.now + S_US(12));
	assert_int_equal(r->u.state, FW_JOB_SUCCEEDED);
	assert_false(r->u.failed);
	run_to(r, t_fail + S_US(200));
	assert_false(fx_code(&r->fx, BMS_E5));
	assert_true(r->fx.out.atd_closed);
	assert_false(r->fx.out.prealarm_active);
}

static void failed_retry_keeps_the_first_failure_time(void **state)
{
	struct rig *r = &R;
	uint64_t t_fail;

	(void)state;
	rig_init(r, 2);
	r->img.crc32 ^= 1;
	start(r);
	run_to(r, r->fx.now + S_US(2));
	t_fail = r->u.ended_us;
	run_to(r, t_fail + S_US(60));
	start(r); /* the same bad image again */
	run_to(r, r->fx.now + S_US(2));
	assert_int_equal(r->u.failure, FW_FAIL_VERIFY);
	assert_true(r->u.failed_since_us == t_fail);
	run_to(r, t_fail + FW_FAIL_GRACE_US + STEP_US + MS_US(10));
	assert_false(r->fx.out.atd_closed);
}

static void orphan_update_is_aborted(void **state)
{
	struct rig *r = &R;
	struct fw_request req;

	(void)state;
	rig_init(r, 2);
	/* a battery in an update that this instance did not start */
	start(r);
	run_to(r, r->fx.now + MS_US(20));
	fw_updater_init(&r->u); /* the daemon restarted */
	assert_true(r->bfw.active);
	run_to(r, r->fx.now + S_US(1));
	assert_true(fx_code(&r->fx, BMS_W7)); /* from the STATUS flag alone */
	assert_false(r->fx.out.atc_closed);
	assert_int_equal(fw_updater_abort_orphan(&r->u, 1, r->fx.now), 0);
	assert_true(fw_updater_running(&r->u));
	assert_int_equal(fw_updater_abort_orphan(&r->u, 1, r->fx.now), -EBUSY);
	run_to(r, r->fx.now + S_US(1));
	assert_false(r->bfw.active);
	assert_false(fw_updater_next_request(&r->u, r->fx.now, &req));
	run_to(r, r->fx.now + S_US(40));
	assert_false(fx_code(&r->fx, BMS_W7));
	assert_false(fx_code(&r->fx, BMS_E5));
	assert_true(r->fx.out.atc_closed);
}

/* A pending failure survives a restart with its age: ATD opens 120 s after
 * the failure, counting the time before and after the restart (not the
 * time the daemon was down). */
static void failure_survives_restart(void **state)
{
	struct rig *r = &R;
	uint8_t sec[FW_PERSIST_MAX];
	uint64_t t_fail, t1;
	int n;

	(void)state;
	rig_init(r, 2);
	r->img.crc32 ^= 1;
	start(r);
	run_to(r, r->fx.now + S_US(2));
	assert_int_equal(r->u.failure, FW_FAIL_VERIFY);
	t_fail = r->u.ended_us;
	run_to(r, t_fail + S_US(60));
	n = fw_updater_persist_encode(&r->u, r->fx.now, sec, sizeof(sec));
	assert_true(n > 0);
	assert_int_equal(fw_updater_persist_check(sec, (size_t)n), 0);
	/* a new daemon on a new clock, with a new protection core */
	t1 = r->fx.now + S_US(500);
	fx_start(&r->fx, 2);
	fx_step_at(&r->fx, t1);
	assert_int_equal(fw_updater_persist_apply(&r->u, t1, sec, (size_t)n), 0);
	assert_int_equal(r->u.state, FW_JOB_IDLE);
	assert_true(r->u.failed);
	assert_int_equal(r->u.failed_addr, 1);
	r->next_step_us = t1;
	run_to(r, t1 + S_US(1));
	assert_true(fx_code(&r->fx, BMS_E5));
	assert_true(r->fx.out.prealarm_active);
	run_to(r, t1 + S_US(59));
	assert_true(r->fx.out.atd_closed);
	run_to(r, t1 + S_US(60) + STEP_US + MS_US(10));
	assert_false(r->fx.out.atd_closed);
	assert_true(fx_holds(&r->fx, PROT_OUT_ATD, PROT_R_FW_FAILED));
	/* nothing pending, nothing saved */
	fw_updater_init(&r->u);
	assert_int_equal(fw_updater_persist_encode(&r->u, t1, sec, sizeof(sec)), 0);
	/* damaged sections are refused and change nothing */
	assert_int_equal(fw_updater_persist_check(sec, 3), -EBADMSG);
}

/* A job running at the save is decided from the battery after the restart. */
static void interrupted_job_is_resolved(void **state)
{
	struct rig *r = &R;
	uint8_t sec[FW_PERSIST_MAX], serial[FW_SERIAL_LEN] = "HQ2402JJ001";
	uint8_t other[FW_SERIAL_LEN] = "HQ2402JJ999";
	struct fw_updater u;
	int n;

	(void)state;
	rig_init(r, 2);
	start(r);
	memcpy(r->u.serial, serial, sizeof(serial));
	run_to(r, r->fx.now + MS_US(20));
	assert_int_equal(r->u.state, FW_JOB_DATA);
	n = fw_updater_persist_encode(&r->u, r->fx.now, sec, sizeof(sec));
	assert_true(n > 0);

	/* still flagged: undecided, a new start of that battery allowed */
	assert_int_equal(fw_updater_persist_apply(&u, T0, sec, (size_t)n), 0);
	assert_int_equal(u.state, FW_JOB_INTERRUPTED);
	assert_int_equal(u.addr, 1);
	assert_int_equal(u.acked, r->u.acked);
	assert_false(fw_updater_running(&u));
	fw_updater_resolve(&u, T0, true, serial, true, old_ver);
	assert_int_equal(u.state, FW_JOB_INTERRUPTED);
	assert_int_equal(fw_updater_start(&u, &r->img, 1, old_ver, T0), 0);
	/* no longer flagged, the new version: it had finished */
	assert_int_equal(fw_updater_persist_apply(&u, T0, sec, (size_t)n), 0);
	fw_updater_resolve(&u, T0, true, serial, false, new_ver);
	assert_int_equal(u.state, FW_JOB_SUCCEEDED);
	assert_false(u.failed);
	/* no longer flagged, the old version: a failure (E5) */
	assert_int_equal(fw_updater_persist_apply(&u, T0, sec, (size_t)n), 0);
	fw_updater_resolve(&u, T0 + 5, true, serial, false, old_ver);
	assert_int_equal(u.state, FW_JOB_FAILED);
	assert_int_equal(u.failure, FW_FAIL_INTERRUPTED);
	assert_true(u.failed);
	assert_true(u.failed_since_us == T0 + 5);
	assert_int_equal(u.abort_pending, false);
	/* another battery at the address, or none: a failure */
	assert_int_equal(fw_updater_persist_apply(&u, T0, sec, (size_t)n), 0);
	fw_updater_resolve(&u, T0, true, other, false, new_ver);
	assert_int_equal(u.failure, FW_FAIL_INTERRUPTED);
	assert_int_equal(fw_updater_persist_apply(&u, T0, sec, (size_t)n), 0);
	fw_updater_resolve(&u, T0, false, NULL, false, NULL);
	assert_int_equal(u.failure, FW_FAIL_INTERRUPTED);
	/* a cancel of the flagged battery instead: not a failure */
	assert_int_equal(fw_updater_persist_apply(&u, T0, sec, (size_t)n), 0);
	assert_int_equal(fw_updater_abort_orphan(&u, 1, T0), 0);
	assert_int_equal(u.state, FW_JOB_CANCELLED);
	assert_false(u.failed);
	/* a damaged section changes nothing */
	sec[1] = 0x80;
	u.state = FW_JOB_SUCCEEDED;
	assert_int_equal(fw_updater_persist_apply(&u, T0, sec, (size_t)n), -ERANGE);
	assert_int_equal(u.state, FW_JOB_SUCCEEDED);
}

static void texts(void **state)
{
	(void)state;
	for (int i = 0; i < FW_FAIL_COUNT; i++)
		assert_string_not_equal(fw_failure_text(i), "unknown failure");
	assert_string_equal(fw_failure_text(FW_FAIL_COUNT), "unknown failure");
	assert_string_equal(fw_job_state_name(FW_JOB_DATA), "sending");
	assert_string_equal(fw_job_state_name(99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(update_succeeds),
	        cmocka_unit_test(verify_failure_is_e5),
	        cmocka_unit_test(sequence_nak_is_e5),
	        cmocka_unit_test(unexpected_next_offset_aborts),
	        cmocka_unit_test(lost_data_reply_repeats_the_block),
	        cmocka_unit_test(busy_naks_are_retried),
	        cmocka_unit_test(busy_for_30s_is_stalled),
	        cmocka_unit_test(no_progress_for_30s_fails),
	        cmocka_unit_test(silent_after_failure_is_stale_only_after_120s),
	        cmocka_unit_test(new_version_not_seen_fails),
	        cmocka_unit_test(no_e1_right_after_success),
	        cmocka_unit_test(next_battery_right_after_success),
	        cmocka_unit_test(lost_end_reply_is_not_repeated),
	        cmocka_unit_test(brownout_during_update_fails),
	        cmocka_unit_test(cancel_is_not_a_failure),
	        cmocka_unit_test(second_update_is_refused),
	        cmocka_unit_test(wrong_battery_type_is_refused),
	        cmocka_unit_test(preconditions_refuse),
	        cmocka_unit_test(retry_after_failure_clears_e5),
	        cmocka_unit_test(failed_retry_keeps_the_first_failure_time),
	        cmocka_unit_test(orphan_update_is_aborted),
	        cmocka_unit_test(failure_survives_restart),
	        cmocka_unit_test(interrupted_job_is_resolved),
	        cmocka_unit_test(texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
