/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The M8-bus master: enumeration (docs/m8bus.md section 3), the polling schedule
 * (section 7) and the per-battery data the daemon reads. It does no I/O of
 * its own and reads no clock of its own: the caller polls m8_master_fd() for
 * input, calls m8_master_on_readable() / m8_master_on_timeout() with the
 * monotonic time, and arms a timer at m8_master_next_deadline_us(); the
 * port's clock op tells when bytes really went out or came in. The port is
 * an ops struct, so tests can drive the engine with a scripted port.
 *
 * Polling is continuous: a cycle starts as soon as the previous one is over,
 * held to a minimum period (cycle_period_us). A poll cycle's traffic (polls,
 * retries, busy repeats, GET_INFO, ASSIGNs, queued requests) stays within
 * 1.0 s of its start: an exchange goes out only
 * if its worst case (request, 50 ms, a longest frame, the idle gap) ends by
 * then; what does not fit goes first in the next cycle.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "smallbms/m8_proto.h"

/* Timing of docs/m8bus.md sections 1, 3, 6 and 7, and docs/protection.md section 4. */
#define M8_REPLY_TIMEOUT_US 50000ULL
#define M8_IDLE_GAP_US      2000ULL
#define M8_RESET_SPACING_US 20000ULL
#define M8_RESET_SETTLE_US  100000ULL
#define M8_ASSIGN_GAP_US    10000ULL
#define M8_BUSY_RETRY_US    50000ULL
#define M8_BUSY_MAX_US      5000000ULL
#define M8_ENUM_RETRY_US    30000000ULL
#define M8_REJOIN_US        2000000ULL
#define M8_PROBE_US         5000000ULL
#define M8_STALE_US         3000000ULL
#define M8_CYCLE_MAX_US     1000000ULL
#define M8_REOPEN_US        1000000ULL
#define M8_ENUM_MAX_FAILS   3
#define M8_ENUM_MAX_SILENT  3
#define M8_LOST_CYCLES      2
/* ... and silent this long at least (docs/decisions.md: fast cycles). */
#define M8_LOST_MIN_US 1000000ULL
/* The daemon's default minimum cycle period ([bus] min-cycle-ms). */
#define M8_CYCLE_MIN_DEFAULT_US 100000ULL
/* Wire time of n bytes at 115200 baud, 8N1 (86.8 us a byte), rounded up. */
#define M8_WIRE_US(n) (((uint64_t)(n)*868 + 9) / 10)

/* The port. read returns > 0 bytes, 0 when nothing is there, < 0 when the
 * device hung up or failed (the master closes it and reopens later). */
struct m8_port_ops {
	int (*open)(void *userdata, const char *path);
	ssize_t (*read)(void *userdata, int fd, uint8_t *buf, size_t cap);
	int (*write)(void *userdata, int fd, const uint8_t *buf, size_t len);
	void (*close)(void *userdata, int fd);
	/* The monotonic time (us, the callers' clock) right now. The master
	 * reads it right after a write and after a read that returned bytes,
	 * so that bus timing runs from when bytes really went out or came in,
	 * not from when the caller's loop woke up. NULL: the caller's time. */
	uint64_t (*clock)(void *userdata);
};

/* The real tty (serial.c). */
extern const struct m8_port_ops m8_serial_port_ops;

enum m8_event_type {
	M8_EV_ENUMERATED,  /* addr = number of batteries */
	M8_EV_ENUM_FAILED, /* addr = failures in a row */
	M8_EV_FOUND,       /* a battery joined, rejoined or answers again */
	M8_EV_LOST,        /* a battery went unanswered two cycles running */
	M8_EV_REPLACED,    /* another serial number at this address */
	M8_EV_CHAIN,       /* chain open/closed changed */
	M8_EV_PORT,        /* the port opened or hung up */
};

struct m8_master_config {
	const char *path; /* the tty, e.g. /dev/ttyS1 */
	/* The minimum cycle period: a poll cycle starts when the previous one
	 * is over, but not sooner than this after the previous start (at most
	 * M8_CYCLE_MAX_US is meaningful); 0 = M8_CYCLE_MAX_US, one a second. */
	uint64_t cycle_period_us;
	/* Called for bank changes; may read the master, must not free it. */
	void (*on_event)(void *userdata, enum m8_event_type ev, unsigned addr);
};

struct m8_link_stats {
	uint64_t requests;   /* transmissions, retries included */
	uint64_t timeouts;   /* transmissions left unanswered */
	uint64_t crc_errors; /* corrupted frames while waiting for this battery */
	uint64_t naks;
	uint64_t last_reply_us; /* last valid reply, 0 = never */
};

struct m8_battery {
	struct m8_info info;
	struct m8_status status; /* the last valid STATUS */
	bool has_status;
	uint64_t status_us;   /* when it was read from the port (monotonic) */
	unsigned miss_cycles; /* cycles in a row unanswered (a garbled reply,
	                       * a NAK, a malformed STATUS are answers) */
	bool lost;            /* unanswered in M8_LOST_CYCLES cycles running */
	struct m8_link_stats stats;
	/* scheduling */
	uint64_t probe_at_us;
	uint64_t ok_us; /* last valid STATUS, or when it joined */
};

struct m8_bank_state {
	bool port_open;
	bool enumerated;  /* a complete enumeration holds */
	bool chain_open;  /* no battery reports CHAIN_END (E2) */
	bool enum_failed; /* three enumerations in a row failed (E2) */
	unsigned count;   /* batteries, addresses 1..count */
	unsigned enum_failures;
	int open_error;          /* the last failed open: -ENOENT, -EBUSY ...; 0 once open */
	uint64_t cycles;         /* poll cycles completed */
	uint64_t last_cycle_us;  /* how long the last cycle's polls took */
	uint64_t last_period_us; /* start of the last cycle to the start of the one before */
	uint64_t statuses;       /* valid STATUS replies so far: a new reading */
};

/* Result of a queued request: 0 with the reply, -EREMOTEIO with the NAK
 * frame, -ETIMEDOUT, or -ECANCELED (port lost or bank re-enumerated). */
typedef void (*m8_request_cb)(void *userdata, int result, const struct m8_frame *reply);

struct m8_master;

/* Copies cfg->path. Opens nothing until the first call with a time. */
int m8_master_new(struct m8_master **ret, const struct m8_master_config *cfg,
                  const struct m8_port_ops *ops, void *userdata);
struct m8_master *m8_master_free(struct m8_master *m);

/* The fd to poll for input (POLLIN), -1 while the port is closed. It changes
 * when the port is reopened: check it after every call. */
int m8_master_fd(const struct m8_master *m);
/* When m8_master_on_timeout() wants to run next (monotonic us). */
uint64_t m8_master_next_deadline_us(const struct m8_master *m);
void m8_master_on_readable(struct m8_master *m, uint64_t now_us);
void m8_master_on_timeout(struct m8_master *m, uint64_t now_us);

/* Installer's command: a full RESET and enumeration at the next chance. */
void m8_master_enumerate(struct m8_master *m);

/*
 * Queues a request (IDENTIFY, FW_*) to battery addr. It goes out in the time
 * left in a poll cycle; tries is how often it is sent when unanswered (1 for
 * FW_END, which is never repeated). -EBUSY when the queue is full, -EINVAL
 * for a bad address or length, -ENOTCONN before enumeration.
 */
int m8_master_submit(struct m8_master *m, uint8_t addr, uint8_t cmd, const uint8_t *payload,
                     uint8_t len, unsigned tries, m8_request_cb cb, void *cb_userdata);

void m8_master_bank(const struct m8_master *m, struct m8_bank_state *out);
/* The time left from now_us for queued requests (m8_master_submit(), e.g.
 * firmware blocks): up to the next cycle's earliest start between cycles,
 * up to the cycle's 1.0 s bound while a cycle runs; 0 when none. */
uint64_t m8_master_cycle_left_us(const struct m8_master *m, uint64_t now_us);
/* addr 1..count, NULL otherwise. */
const struct m8_battery *m8_master_battery(const struct m8_master *m, unsigned addr);
/* A valid STATUS younger than 3 s whose counts match the INFO, with the port
 * open. A STATUS stamped after now_us (the port's clock ran ahead of the
 * caller's loop time) is of age 0. (The chain-open and internal-fault rules
 * of docs/protection.md section 4 are the daemon's: it has the bank flags and the
 * STATUS.) */
bool m8_master_battery_fresh(const struct m8_master *m, unsigned addr, uint64_t now_us);
/* Frame-level counters of the parser (garbage, CRC, LEN, idle drops). */
const struct m8_parser_stats *m8_master_parser_stats(const struct m8_master *m);
