/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/fw_updater.h"

#include <errno.h>
#include <string.h>

#include "core/codes.h"
#include "core/le_codec.h"
#include "smallbms/m8_proto.h"

#define BEGIN_TRIES 3
#define DATA_TRIES  3
#define END_TRIES   1 /* docs/m8bus.md 6.3: never repeated */
#define ABORT_TRIES 3
#define INFO_TRIES  1

static const char *const state_names[] = {
        [FW_JOB_IDLE] = "idle",         [FW_JOB_BEGIN] = "starting",
        [FW_JOB_DATA] = "sending",      [FW_JOB_END] = "verifying",
        [FW_JOB_VERIFY] = "restarting", [FW_JOB_SUCCEEDED] = "succeeded",
        [FW_JOB_FAILED] = "failed",     [FW_JOB_CANCELLED] = "cancelled",
        [FW_JOB_REFUSED] = "refused",   [FW_JOB_INTERRUPTED] = "interrupted",
};

static const char *const failure_texts[FW_FAIL_COUNT] = {
        [FW_FAIL_NONE] = "no failure",
        [FW_FAIL_VERIFY] = "the battery found the image damaged (FW_END result 6)",
        [FW_FAIL_SEQUENCE] = "the battery lost the block sequence (NAK 5)",
        [FW_FAIL_STALLED] = "no progress for 30 s",
        [FW_FAIL_NO_VERSION] = "the new version was not seen within 10 s of FW_END",
        [FW_FAIL_ABORTED] = "aborted by the daemon",
        [FW_FAIL_INTERRUPTED] = "the daemon stopped during the update and the battery did not "
                                "take the new version",
};

static const char *const start_texts[FW_START_REFUSAL_COUNT] = {
        [FW_START_OK] = "allowed",
        [FW_START_RUNNING] = "a firmware update is already running",
        [FW_START_FLAGGED] = "another battery reports a firmware update in progress",
        [FW_START_ALARM] = "an alarm or error is active",
        [FW_START_LOW_CELL] = "a cell is unknown or below the pre-alarm level",
        [FW_START_NO_BATTERY] = "no such battery",
        [FW_START_WRONG_BATTERY] = "the image is for another battery type",
};

const char *fw_job_state_name(enum fw_job_state s)
{
	/* mutation: equivalent [const] because every element has the size of the first */
	if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
		return "unknown";
	return state_names[s];
}

const char *fw_failure_text(enum fw_failure f)
{
	if ((unsigned)f >= FW_FAIL_COUNT)
		return "unknown failure";
	return failure_texts[f];
}

const char *fw_start_refusal_text(enum fw_start_refusal why)
{
	if ((unsigned)why >= FW_START_REFUSAL_COUNT)
		return "unknown reason";
	return start_texts[why];
}

void fw_updater_init(struct fw_updater *u)
{
	memset(u, 0, sizeof(*u));
	u->state = FW_JOB_IDLE;
}

static bool job_active(const struct fw_updater *u)
{
	return u->state >= FW_JOB_BEGIN && u->state <= FW_JOB_VERIFY;
}

bool fw_updater_running(const struct fw_updater *u)
{
	return job_active(u) || u->abort_pending || u->in_flight_cmd != 0;
}

enum fw_start_refusal fw_updater_check_start(const struct fw_updater *u, const struct protection *p,
                                             const struct protection_input *in,
                                             const struct protection_output *out,
                                             const struct fw_image *img, uint8_t addr,
                                             uint8_t battery_type)
{
	uint32_t blocking =
	        bms_code_class_mask(BMS_CLASS_ALARM) | bms_code_class_mask(BMS_CLASS_ERROR);
	struct protection_output o;

	if (fw_updater_running(u))
		return FW_START_RUNNING;
	if (addr < 1 || addr > in->n_batteries)
		return FW_START_NO_BATTERY;
	/* One battery at a time: a flagged battery other than this one is an
	 * update still going (e.g. from before a restart). Not the battery this
	 * updater just saw on its new version: until its first STATUS after
	 * the restart, its last one still carries the flag. */
	for (unsigned i = 0; i < in->n_batteries; i++) {
		bool just_updated = u->state == FW_JOB_SUCCEEDED && u->addr == i + 1 &&
		                    in->bat[i].last_status_us <= u->ended_us;

		if (in->bat[i].fw_update && i + 1 != addr && !just_updated)
			return FW_START_FLAGGED;
	}
	o = *out;
	/* A retry of the battery that failed is what ends E5 (docs/protection.md 9). */
	if (u->failed && u->failed_addr == addr)
		o.codes &= ~BMS_CODE_BIT(BMS_E5);
	if (o.codes & blocking)
		return FW_START_ALARM;
	if (protection_fw_update_allowed(p, in, &o) < 0)
		return FW_START_LOW_CELL;
	if (fw_image_check_battery(img, battery_type, NULL) < 0)
		return FW_START_WRONG_BATTERY;
	return FW_START_OK;
}

/* mutation: equivalent [const] because an array parameter is a pointer: its size is no part
 * of the type */
int fw_updater_start(struct fw_updater *u, const struct fw_image *img, uint8_t addr,
                     const uint8_t old_version[3], uint64_t now_us)
{
	if (fw_updater_running(u))
		return -EBUSY;
	if (!img || !img->data || img->size == 0 || img->size > FW_IMAGE_MAX_SIZE ||
	    addr < M8_ADDR_MIN || addr > M8_ADDR_MAX || !old_version)
		return -EINVAL;
	u->state = FW_JOB_BEGIN;
	u->failure = FW_FAIL_NONE;
	u->addr = addr;
	memset(u->serial, 0, sizeof(u->serial));
	memcpy(u->old_version, old_version, 3);
	u->img = *img;
	u->acked = 0;
	/* mutation: equivalent [const] because set before the first block is read */
	u->block_off = 0;
	u->block_len = 0;
	u->repeats = 0;
	u->busy_giveups = 0;
	u->started_us = now_us;
	u->progress_us = now_us;
	/* mutation: equivalent [const] because only read once FW_END was answered (end_us) or the
	 * job has ended (ended_us), both set then */
	u->end_us = 0;
	u->ended_us = 0; /* mutation: equivalent [const] (see end_us) */
	return 0;
}

static void end_job(struct fw_updater *u, uint64_t now_us, enum fw_job_state state,
                    enum fw_failure why, bool send_abort)
{
	u->state = state;
	u->failure = why;
	u->ended_us = now_us;
	if (send_abort) {
		u->abort_pending = true;
		u->abort_addr = u->addr;
	}
	if (state == FW_JOB_FAILED && !u->failed) {
		/* The first failure counts: a failed retry does not restart
		 * the 120 s (ATD opens 120 s after a failure unless a retry
		 * succeeds). */
		u->failed = true;
		u->failed_addr = u->addr;
		u->failed_since_us = now_us;
	}
	if (state == FW_JOB_SUCCEEDED)
		u->failed = false;
}

static void fail(struct fw_updater *u, uint64_t now_us, enum fw_failure why)
{
	/* After result 6 the battery stays on its old firmware and has left
	 * the update: nothing to abort. */
	end_job(u, now_us, FW_JOB_FAILED, why, why != FW_FAIL_VERIFY);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	/* mutation: equivalent [const 5] because le_put_u32 writes 4 bytes */
	struct le_writer w = {.p = p, .cap = 4};

	le_put_u32(&w, v);
}

bool fw_updater_next_request(struct fw_updater *u, uint64_t now_us, struct fw_request *req)
{
	uint32_t left;

	if (u->in_flight_cmd != 0)
		return false;
	memset(req, 0, sizeof(*req));
	if (u->abort_pending) {
		req->addr = u->abort_addr;
		req->cmd = M8_CMD_FW_ABORT;
		req->tries = ABORT_TRIES;
	} else {
		req->addr = u->addr;
		switch (u->state) {
		case FW_JOB_BEGIN:
			req->cmd = M8_CMD_FW_BEGIN;
			req->tries = BEGIN_TRIES;
			put_u32(req->payload, u->img.size);
			put_u32(req->payload + 4, u->img.crc32);
			/* mutation: equivalent [const 4] (byte 11 is the type, next) */
			memcpy(req->payload + 8, u->img.version, 3);
			req->payload[11] = u->img.battery_type;
			req->len = 12;
			break;
		case FW_JOB_DATA:
			if (u->acked == u->img.size) {
				req->cmd = M8_CMD_FW_END;
				req->tries = END_TRIES;
				u->state = FW_JOB_END; /* too late to cancel */
				break;
			}
			left = u->img.size - u->acked;
			if (u->block_len != 0 && u->block_off == u->acked)
				u->repeats++; /* the same block again */
			u->block_off = u->acked;
			/* mutation: equivalent [cmp-bound] (left == 240: 240 either way) */
			u->block_len = (uint8_t)(left < FW_BLOCK_MAX ? left : FW_BLOCK_MAX);
			req->cmd = M8_CMD_FW_DATA;
			req->tries = DATA_TRIES;
			put_u32(req->payload, u->block_off);
			memcpy(req->payload + 4, u->img.data + u->block_off, u->block_len);
			req->len = (uint8_t)(4 + u->block_len);
			break;
		case FW_JOB_VERIFY:
			if (now_us < u->next_info_us)
				return false;
			req->cmd = M8_CMD_GET_INFO;
			req->tries = INFO_TRIES;
			u->next_info_us = now_us + FW_INFO_POLL_US;
			break;
		default:
			return false;
		}
	}
	u->in_flight_cmd = req->cmd;
	return true;
}

static void on_begin(struct fw_updater *u, uint64_t now_us, const struct fw_result *res)
{
	if (res->error == 0) {
		u->state = FW_JOB_DATA;
		u->progress_us = now_us;
		return;
	}
	if (res->error == -EREMOTEIO && res->nak_reason != M8_NAK_BUSY)
		/* NAK 2 or 3 (another battery type, a size it cannot take), 1:
		 * the battery never entered the update. Not a failure. */
		end_job(u, now_us, FW_JOB_REFUSED, FW_FAIL_NONE, false);
	/* Unanswered or busy for 5 s: FW_BEGIN again (it starts over) until
	 * the 30 s without progress. */
}

static void on_data(struct fw_updater *u, uint64_t now_us, const struct fw_result *res)
{
	struct le_reader r = {.p = res->payload, .len = res->len};
	uint32_t next;

	if (res->error == -EREMOTEIO) {
		if (res->nak_reason == M8_NAK_FW_SEQUENCE)
			fail(u, now_us, FW_FAIL_SEQUENCE);
		else if (res->nak_reason == M8_NAK_BUSY)
			u->busy_giveups++;
		else
			fail(u, now_us, FW_FAIL_ABORTED);
		return;
	}
	if (res->error < 0)
		return; /* the same block again: a repeat is accepted */
	next = le_get_u32(&r);
	/* mutation: equivalent [cond-drop r.short_read] because a short read is a length
	 * other than 4 */
	if (r.short_read || res->len != 4 || next != u->block_off + u->block_len) {
		fail(u, now_us, FW_FAIL_ABORTED);
		return;
	}
	u->acked = next;
	u->progress_us = now_us;
}

static void on_end(struct fw_updater *u, uint64_t now_us, const struct fw_result *res)
{
	if (res->error == 0 && res->len == 1 && res->payload[0] == M8_FW_RESULT_VERIFY_FAILED) {
		fail(u, now_us, FW_FAIL_VERIFY);
		return;
	}
	if (res->error == -EREMOTEIO) {
		fail(u, now_us,
		     res->nak_reason == M8_NAK_FW_SEQUENCE ? FW_FAIL_SEQUENCE : FW_FAIL_ABORTED);
		return;
	}
	/* Result 0, or unanswered (or a reply that makes no sense): never
	 * repeat FW_END; the new version in GET_INFO decides. The battery
	 * does not answer for up to 5 s while it restarts. */
	u->state = FW_JOB_VERIFY;
	u->next_info_us = now_us + FW_INFO_POLL_US;
}

static void on_info(struct fw_updater *u, uint64_t now_us, const struct fw_result *res)
{
	/* mutation: equivalent [const 4] because the 4th bytes are padding of both structs: no
	 * value a caller sets */
	if (res->error == 0 && res->have_version && memcmp(res->version, u->img.version, 3) == 0)
		end_job(u, now_us, FW_JOB_SUCCEEDED, FW_FAIL_NONE, false);
}

void fw_updater_on_result(struct fw_updater *u, uint64_t now_us, const struct fw_result *res)
{
	uint8_t cmd = u->in_flight_cmd;

	if (cmd == 0 || !res)
		return;
	u->in_flight_cmd = 0;
	if (cmd == M8_CMD_FW_ABORT) {
		u->abort_pending = false; /* answered or not: the battery
		                           * abandons after 30 s anyway */
		return;
	}
	if (!job_active(u))
		return; /* cancelled or failed meanwhile */
	switch (cmd) {
	case M8_CMD_FW_BEGIN:
		on_begin(u, now_us, res);
		break;
	case M8_CMD_FW_DATA:
		on_data(u, now_us, res);
		break;
	case M8_CMD_FW_END:
		u->end_us = now_us;
		on_end(u, now_us, res);
		break;
	case M8_CMD_GET_INFO:
		on_info(u, now_us, res);
		break;
	default:
		break;
	}
	fw_updater_tick(u, now_us);
}

void fw_updater_tick(struct fw_updater *u, uint64_t now_us)
{
	switch (u->state) {
	case FW_JOB_BEGIN:
	case FW_JOB_DATA:
		if (now_us >= u->progress_us + FW_STALL_US)
			fail(u, now_us, FW_FAIL_STALLED);
		break;
	case FW_JOB_VERIFY:
		if (now_us >= u->end_us + FW_VERIFY_US)
			fail(u, now_us, FW_FAIL_NO_VERSION);
		break;
	default:
		break;
	}
}

uint64_t fw_updater_next_deadline_us(const struct fw_updater *u)
{
	uint64_t t = UINT64_MAX;

	switch (u->state) {
	case FW_JOB_BEGIN:
	case FW_JOB_DATA:
		t = u->progress_us + FW_STALL_US;
		break;
	case FW_JOB_VERIFY:
		t = u->end_us + FW_VERIFY_US;
		/* mutation: equivalent [cmp-bound] (equal: the same deadline) */
		if (u->in_flight_cmd == 0 && u->next_info_us < t)
			t = u->next_info_us;
		break;
	default:
		break;
	}
	return t;
}

int fw_updater_cancel(struct fw_updater *u, uint64_t now_us)
{
	if (u->state == FW_JOB_END || u->state == FW_JOB_VERIFY)
		return -EINPROGRESS;
	if (!job_active(u))
		return -ENOENT;
	end_job(u, now_us, FW_JOB_CANCELLED, FW_FAIL_NONE, true);
	return 0;
}

int fw_updater_abort_orphan(struct fw_updater *u, uint8_t addr, uint64_t now_us)
{
	if (fw_updater_running(u))
		return -EBUSY;
	if (addr < M8_ADDR_MIN || addr > M8_ADDR_MAX)
		return -EINVAL;
	u->addr = addr;
	end_job(u, now_us, FW_JOB_CANCELLED, FW_FAIL_NONE, true);
	return 0;
}

void fw_updater_fail(struct fw_updater *u, uint64_t now_us, enum fw_failure why)
{
	if (!job_active(u))
		return;
	fail(u, now_us, why == FW_FAIL_NONE ? FW_FAIL_ABORTED : why);
}

/* mutation: equivalent [const] because an array parameter is a pointer: its size is no part
 * of the type */
void fw_updater_resolve(struct fw_updater *u, uint64_t now_us, bool present,
                        const uint8_t serial[FW_SERIAL_LEN], bool flagged, const uint8_t version[3])
{
	if (u->state != FW_JOB_INTERRUPTED)
		return;
	if (!present || !serial || memcmp(serial, u->serial, FW_SERIAL_LEN) != 0) {
		end_job(u, now_us, FW_JOB_FAILED, FW_FAIL_INTERRUPTED, false);
		return;
	}
	if (flagged)
		return; /* still in its update: resume or cancel */
	if (version && memcmp(version, u->img.version, 3) == 0)
		end_job(u, now_us, FW_JOB_SUCCEEDED, FW_FAIL_NONE, false);
	else
		end_job(u, now_us, FW_JOB_FAILED, FW_FAIL_INTERRUPTED, false);
}

void fw_updater_clear_failure(struct fw_updater *u)
{
	u->failed = false;
}

void fw_updater_protection_input(const struct fw_updater *u, uint64_t now_us,
                                 struct protection_input *in)
{
	/* mutation: equivalent [cond-drop i < in->n_batteries, cmp-bound i <= in->n_batteries,
	 * cond-swap] because the protection core reads no entry past n_batteries, and a bank
	 * that grows has its entries cleared here first */
	for (unsigned i = 0; i < in->n_batteries && i < PROTECTION_MAX_BATTERIES; i++)
		in->bat[i].stale_exempt = false;
	if (fw_updater_running(u))
		in->fw_running = true;
	/* The 10 s after FW_END (docs/protection.md 9), also once the new version
	 * is seen within them: the bus master may not poll the battery's
	 * STATUS again at once after its silent restart. */
	/* mutation: equivalent [cond-drop u->addr >= 1, const 1->0,
	 * cond-drop u->addr <= in->n_batteries] because a job's address is 1..50 (fw_updater_start,
	 * fw_updater_abort_orphan and the record check it), the table's size, and an entry past the
	 * bank is read by no one */
	if ((u->state == FW_JOB_VERIFY ||
	     (u->state == FW_JOB_SUCCEEDED && now_us < u->end_us + FW_VERIFY_US)) &&
	    u->addr >= 1 && u->addr <= in->n_batteries)
		in->bat[u->addr - 1].stale_exempt = true;
	in->fw_failed = u->failed;
	/* mutation: equivalent [const] because the protection core reads it only with fw_failed */
	in->fw_failed_since_us = u->failed ? u->failed_since_us : 0;
	/* mutation: equivalent [cond-drop u->failed_addr >= 1, const 1->0,
	 * cond-drop u->failed_addr <= in->n_batteries] as the job's address above (the failed
	 * address is a job's, or checked in the record) */
	if (u->failed && now_us < u->failed_since_us + FW_FAIL_GRACE_US && u->failed_addr >= 1 &&
	    u->failed_addr <= in->n_batteries)
		in->bat[u->failed_addr - 1].stale_exempt = true;
}
