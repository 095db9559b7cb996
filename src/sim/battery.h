/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The batteries' side of the M8 bus (docs/m8bus.md sections 2-4 and 6): which
 * battery of the chain hears a request, what it answers, and when. Pure:
 * the caller passes decoded frames and the time in, and gets the reply
 * bytes and the time they start on the line at port A.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sim/bank.h"
#include "sim/fwupdate.h"
#include "sim/rng.h"
#include "smallbms/m8_proto.h"

#define SIM_BYTE_NS                86806 /* 10 bits at 115200 baud */
#define SIM_DEFAULT_REPLY_DELAY_US 1000
#define SIM_MIN_REPLY_DELAY_US     200
#define SIM_MAX_REPLY_DELAY_US     10000
/* An assigned battery connects its downstream cord this long after the end
 * of its ASSIGN reply (the spec allows up to 5 ms). */
#define SIM_RELAY_CONNECT_US      4000
#define SIM_SERIAL_PREFIX_MAX     (M8_SERIAL_LEN - 3)
#define SIM_DEFAULT_SERIAL_PREFIX "HQ2402JJ"

struct sim_battery {
	unsigned pos; /* 1-based chain position */
	uint8_t addr; /* 0 = unaddressed: the downstream cord is isolated */
	uint64_t relay_on_at_us;
	char serial[M8_SERIAL_LEN + 1];
	uint8_t fw_version[3];
	struct sim_fw fw;
	bool restarting;
	uint64_t restart_until_us;
	uint64_t identify_until_us;
	uint32_t reply_delay_us; /* 0 = the chain's default */
	/* injected faults */
	bool silent;
	bool miss_reset_armed;
	bool ignoring_reset;
	unsigned drop;
	unsigned garble; /* replies to send with one byte inverted */
	unsigned busy;
	unsigned fw_corrupt; /* FW_DATA blocks to take with a bit flipped */
	bool fw_stuck;       /* a verified image does not start: the old version stays */
};

struct sim_chain_stats {
	uint64_t requests; /* valid frames received */
	uint64_t replies;  /* reply frames put on the line */
	uint64_t resets;   /* RESET frames received */
	uint64_t assigns;  /* ASSIGN frames received */
	/* From the last reply's last byte to when the next ASSIGN's first
	 * byte had come in (docs/m8bus.md section 3: at least 10 ms), over the
	 * ASSIGNs that had a reply before them. */
	uint64_t assign_gaps;
	uint64_t assign_gap_min_us;
};

struct sim_chain {
	struct sim_bank *bank;
	unsigned n;
	unsigned open_after; /* the cord after this battery is broken; 0 = closed chain */
	uint32_t reply_delay_us;
	unsigned corrupt, wrong_seq, wrong_addr;
	struct sim_rng rng;
	struct sim_chain_stats stats;
	uint64_t last_reply_end_us; /* 0 = no reply yet */
	struct sim_battery bat[SIM_MAX_BATTERIES];
};

struct sim_reply {
	uint64_t start_us; /* its first byte starts on the line at port A */
	size_t len;
	uint8_t bytes[M8_MAX_FRAME];
};

/* -EINVAL for a serial prefix that is too long or not printable, or a
 * reply delay outside 200..10000 us. */
int sim_chain_init(struct sim_chain *c, struct sim_bank *bank, const char *serial_prefix,
                   uint32_t reply_delay_us, uint64_t seed);

/* Time-driven changes: a firmware restart that ends, an update abandoned. */
void sim_chain_tick(struct sim_chain *c, uint64_t now_us);

/* A valid request whose last byte ended at port A at end_us. Returns 1 with
 * *reply filled when a frame goes back on the line, 0 when nothing does. */
int sim_chain_request(struct sim_chain *c, const struct m8_frame *req, uint64_t end_us,
                      struct sim_reply *reply);

/* The INFO of battery pos (1-based). */
void sim_battery_info(const struct sim_chain *c, const struct sim_battery *b, struct m8_info *info);

/* One battery's answer to a request meant for it (battery.c). Returns 1 and
 * fills *reply, or 0 for no reply. */
int sim_battery_handle(struct sim_chain *c, struct sim_battery *b, const struct m8_frame *req,
                       uint64_t now_us, struct m8_frame *reply);
/* The battery forgets its address and isolates its downstream cord. */
void sim_battery_unaddress(struct sim_battery *b);
