/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state record: what must survive a restart or power loss (settings,
 * SoC, history, balancer verdict, the remembered bank and the protection's
 * rule states) as one versioned, self-checking binary image.
 *
 * Layout, every field little-endian, written field by field:
 *   header (16 bytes): magic "SBSR" (u32 0x52534253), version (u16),
 *     reserved (u16, 0), payload length (u32), CRC-32/IEEE of the payload;
 *   payload, in this order: settings (u16 count, count x i32 in registry
 *     order), SoC, history, balancer, bank identity (u8 present, ...),
 *     protection section (u16 length, opaque bytes of protection_persist_*);
 *     since version 2: firmware section (u16 length, opaque bytes of
 *     fw_updater_persist_*). A version 1 record is still read (no firmware
 *     section); records are written as version 2.
 * Doubles are stored as their IEEE-754 bit pattern (u64).
 *
 * A record is accepted only whole: a short, long, corrupted, foreign,
 * older or newer record, or one with any value out of bounds, is refused
 * with a reason and the output is left untouched. A newer version is
 * refused rather than guessed at.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/balancer.h"
#include "core/bank.h"
#include "core/fw_updater.h"
#include "core/history.h"
#include "core/monitor.h"
#include "core/protection.h"
#include "core/settings.h"

#define RECORD_MAGIC       0x52534253u /* "SBSR" little-endian */
#define RECORD_VERSION     2
#define RECORD_VERSION_MIN 1 /* the oldest version still read */
#define RECORD_HEADER_SIZE 16
/* Large enough for 50 batteries and the biggest protection section. */
#define RECORD_MAX_SIZE 8192

struct record {
	struct bms_settings settings;
	struct monitor_soc soc;
	struct history hist;
	struct balancer_state bal;
	bool have_bank; /* a bank was accepted */
	struct bank_identity bank;
	uint16_t prot_len; /* 0: no protection state saved */
	uint8_t prot[PROTECTION_PERSIST_MAX];
	uint16_t fw_len; /* 0: no firmware update state saved */
	uint8_t fw[FW_PERSIST_MAX];
};

/*
 * Serialises r into buf. Returns the record's length, -ENOBUFS when cap is
 * too small, or -EINVAL when r itself would not be accepted back (err says
 * why), so that a bad record is never written.
 */
int record_encode(const struct record *r, uint8_t *buf, size_t cap, char *err, size_t errlen);

/*
 * Parses and checks a record. On success fills *out and returns 0. Else
 * returns -EBADMSG (truncated, wrong magic, bad CRC, malformed), -ENOTSUP
 * (a version newer than this one's, or older than RECORD_VERSION_MIN) or -ERANGE (a value out of
 * bounds), err says why, and *out is unchanged.
 */
int record_decode(const uint8_t *buf, size_t len, struct record *out, char *err, size_t errlen);
