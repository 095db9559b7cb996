/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The battery firmware updater (docs/m8bus.md section 6, docs/protection.md section 9)
 * as a pure state machine: no I/O, no clock. The caller asks it for the next
 * request (fw_updater_next_request), sends it on the bus in the time left in
 * a poll cycle, and hands back the outcome (fw_updater_on_result); it calls
 * fw_updater_tick() at fw_updater_next_deadline_us(); and it feeds the
 * protection core from fw_updater_protection_input() (W7, E5, the staleness
 * windows). One battery at a time, one request in flight at a time.
 *
 * - FW_BEGIN, then FW_DATA blocks of up to 240 bytes in order; a block
 *   whose reply was lost is sent again with the same offset (the battery
 *   accepts a repeat of its last block). NAK busy is repeated by the bus
 *   master (every 50 ms for 5 s); after that the updater sends again.
 * - FW_END goes out once and is never repeated: unanswered, the updater
 *   polls GET_INFO for the new version, as after result 0.
 * - It fails on FW_END result 6, NAK 5, 30 s without progress, the new
 *   version not seen within 10 s of FW_END, or an abort by the daemon
 *   (fw_updater_fail); then FW_ABORT goes out (not after result 6: the
 *   battery has left the update already). A user cancel sends FW_ABORT and
 *   is not a failure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fw_image.h"
#include "core/protection.h"

#define FW_BLOCK_MAX     240
#define FW_STALL_US      30000000ULL  /* 30 s without progress */
#define FW_VERIFY_US     10000000ULL  /* new version within 10 s of FW_END */
#define FW_FAIL_GRACE_US 120000000ULL /* E5: ATD opens 120 s after a failure */
#define FW_INFO_POLL_US  500000ULL    /* GET_INFO while waiting for the version */

enum fw_job_state {
	FW_JOB_IDLE,      /* no job since the start */
	FW_JOB_BEGIN,     /* FW_BEGIN not yet accepted */
	FW_JOB_DATA,      /* sending blocks */
	FW_JOB_END,       /* FW_END sent, waiting for its result */
	FW_JOB_VERIFY,    /* polling GET_INFO for the new version */
	FW_JOB_SUCCEEDED, /* the battery runs the new version */
	FW_JOB_FAILED,    /* see enum fw_failure */
	FW_JOB_CANCELLED, /* by the user: not a failure */
	FW_JOB_REFUSED,   /* the battery refused FW_BEGIN: nothing changed on it */
	/* From the state record: a job was running when the daemon stopped.
	 * Decided once the battery is fresh again (fw_updater_resolve). */
	FW_JOB_INTERRUPTED,
};

enum fw_failure {
	FW_FAIL_NONE,
	FW_FAIL_VERIFY,      /* FW_END result 6 */
	FW_FAIL_SEQUENCE,    /* NAK 5 */
	FW_FAIL_STALLED,     /* 30 s without progress */
	FW_FAIL_NO_VERSION,  /* new version not seen within 10 s of FW_END */
	FW_FAIL_ABORTED,     /* the daemon gave up (bad reply, battery swapped, ...) */
	FW_FAIL_INTERRUPTED, /* the daemon stopped during the update, and it did not end well */
	FW_FAIL_COUNT,
};

/* Why a start was refused (fw_updater_check_start). */
enum fw_start_refusal {
	FW_START_OK,
	FW_START_RUNNING,       /* an update of this daemon is running */
	FW_START_FLAGGED,       /* another battery reports an update in progress */
	FW_START_ALARM,         /* an alarm or error is active */
	FW_START_LOW_CELL,      /* a cell unknown or below the pre-alarm level */
	FW_START_NO_BATTERY,    /* no such battery */
	FW_START_WRONG_BATTERY, /* the image is for another battery type */
	FW_START_REFUSAL_COUNT,
};

struct fw_request {
	uint8_t addr;
	uint8_t cmd; /* enum m8_cmd */
	uint8_t len;
	uint8_t tries; /* transmissions when unanswered (FW_END: 1) */
	uint8_t payload[4 + FW_BLOCK_MAX];
};

/* The outcome of the request last handed out. */
struct fw_result {
	int error;              /* 0 reply, -EREMOTEIO NAK, -ETIMEDOUT, other < 0: not sent */
	uint8_t nak_reason;     /* with -EREMOTEIO */
	const uint8_t *payload; /* the reply's payload (error 0) */
	size_t len;
	/* GET_INFO only: the version it reported (the caller parsed the INFO) */
	bool have_version;
	uint8_t version[3];
};

#define FW_SERIAL_LEN 16

struct fw_updater {
	uint8_t state;                 /* enum fw_job_state */
	uint8_t serial[FW_SERIAL_LEN]; /* of the battery at addr (the caller's, for the record) */
	uint8_t failure;               /* enum fw_failure, with FW_JOB_FAILED */
	uint8_t addr;
	uint8_t old_version[3];
	struct fw_image img; /* img.data is the caller's; kept while a job runs */
	uint32_t acked;      /* bytes the battery confirmed (its next offset) */
	uint32_t block_off;  /* offset of the block last handed out */
	uint8_t block_len;
	uint8_t in_flight_cmd; /* 0: nothing in flight */
	bool abort_pending;    /* FW_ABORT still to send to abort_addr */
	uint8_t abort_addr;
	uint64_t started_us, progress_us, end_us, next_info_us, ended_us;
	uint32_t repeats;      /* blocks sent again (lost replies, timeouts) */
	uint32_t busy_giveups; /* requests NAKed busy for 5 s */
	/* E5: kept until an update succeeds or an authenticated clear. */
	bool failed;
	uint8_t failed_addr;
	uint64_t failed_since_us;
};

void fw_updater_init(struct fw_updater *u);

/* The preconditions of docs/protection.md section 9 for updating battery addr
 * (1-based) of in with img: no job running, no other battery flagged, no
 * alarm or error active in out (E5 excepted for a retry of the battery that
 * failed), every cell known and at or above the pre-alarm level, the image
 * for that battery's type. */
enum fw_start_refusal fw_updater_check_start(const struct fw_updater *u, const struct protection *p,
                                             const struct protection_input *in,
                                             const struct protection_output *out,
                                             const struct fw_image *img, uint8_t addr,
                                             uint8_t battery_type);
const char *fw_start_refusal_text(enum fw_start_refusal why);

/* Starts a job; the caller checked fw_updater_check_start. img->data must
 * stay valid until the job has ended (fw_updater_running() false).
 * -EBUSY while a job runs, -EINVAL for a bad address or image. */
int fw_updater_start(struct fw_updater *u, const struct fw_image *img, uint8_t addr,
                     const uint8_t old_version[3], uint64_t now_us);

/* The next request to send now, if any: true and *req filled. Nothing is
 * handed out while a request is in flight. */
bool fw_updater_next_request(struct fw_updater *u, uint64_t now_us, struct fw_request *req);
void fw_updater_on_result(struct fw_updater *u, uint64_t now_us, const struct fw_result *res);
/* Timers: 30 s without progress, the 10 s for the new version. */
void fw_updater_tick(struct fw_updater *u, uint64_t now_us);
/* UINT64_MAX when no timer runs. */
uint64_t fw_updater_next_deadline_us(const struct fw_updater *u);

/* A user cancel. 0; -ENOENT when no job runs; -EINPROGRESS after FW_END
 * (the battery is checking or installing the image: too late). */
int fw_updater_cancel(struct fw_updater *u, uint64_t now_us);
/* After a daemon restart: a battery reports an update in progress that no
 * job of this instance drives; send it FW_ABORT. -EBUSY while a job runs. */
int fw_updater_abort_orphan(struct fw_updater *u, uint8_t addr, uint64_t now_us);
/* An abort by the daemon (a failure): the battery was lost or replaced,
 * the bank re-enumerated, the daemon stops. No effect without a job. */
void fw_updater_fail(struct fw_updater *u, uint64_t now_us, enum fw_failure why);
/* The authenticated clear of E5. */
void fw_updater_clear_failure(struct fw_updater *u);

/* From FW_BEGIN until the job ended (FW_ABORT sent included). */
bool fw_updater_running(const struct fw_updater *u);
/* W7/ATC, E5 and the staleness exemptions (the 10 s after FW_END, the 120 s
 * after a failure) into the protection input. fw_running is only ever set
 * (the STATUS flags and other sources may set it too); fw_failed,
 * fw_failed_since_us and every battery's stale_exempt are the updater's. */
void fw_updater_protection_input(const struct fw_updater *u, uint64_t now_us,
                                 struct protection_input *in);

/* After a restart (FW_JOB_INTERRUPTED), with fresh data of the battery at
 * the job's address: present and its serial, its STATUS update flag, the
 * version GET_INFO reported. Still flagged: undecided (the user may resume
 * or cancel it; W7 comes from the flag). Otherwise the new version means
 * success, anything else a failure (E5); another or no battery at the
 * address is a failure too. */
void fw_updater_resolve(struct fw_updater *u, uint64_t now_us, bool present,
                        const uint8_t serial[FW_SERIAL_LEN], bool flagged,
                        const uint8_t version[3]);

/* The state record's firmware section (src/core/record.c): a job running
 * (as FW_JOB_INTERRUPTED on reading back) and a pending failure (E5, its
 * age). Little-endian, field by field. */
#define FW_PERSIST_MAX 64
/* Its length (0: nothing to keep), or -ENOBUFS. */
int fw_updater_persist_encode(const struct fw_updater *u, uint64_t now_us, uint8_t *buf,
                              size_t cap);
/* 0 for a section that fw_updater_persist_apply takes; -EBADMSG or -ERANGE. */
int fw_updater_persist_check(const uint8_t *buf, size_t len);
/* Restores into an idle updater; the failure's age counts on from now_us. */
int fw_updater_persist_apply(struct fw_updater *u, uint64_t now_us, const uint8_t *buf, size_t len);

const char *fw_job_state_name(enum fw_job_state s);
const char *fw_failure_text(enum fw_failure f);
