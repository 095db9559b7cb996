/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A battery's side of a firmware update (docs/m8bus.md section 6): FW_BEGIN,
 * FW_DATA in order (a repeat of the last accepted block is accepted again),
 * FW_END with the size and CRC-32 check, FW_ABORT, and abandonment after
 * 30 s without an FW_* request. The image itself is not stored: only its
 * running CRC, which is all the check needs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_FW_BEGIN_LEN  12
#define SIM_FW_MAX_BLOCK  240
#define SIM_FW_MAX_IMAGE  (512u * 1024u) /* the batteries' flash */
#define SIM_FW_ABANDON_US 30000000ull
#define SIM_FW_RESTART_US 5000000ull

struct sim_fw {
	bool active;
	uint32_t size, crc32;
	uint8_t version[3];
	uint32_t next_offset;
	uint32_t last_offset; /* of the last accepted block, for a repeat */
	uint32_t crc_before_last;
	uint32_t crc_running;
	bool have_block;
	uint64_t last_us; /* time of the last FW_* request */
};

/* CRC-32 as IEEE 802.3 (reflected 0xEDB88320, init and xorout 0xFFFFFFFF). */
uint32_t sim_crc32(const uint8_t *data, size_t len);

/* The outcome of one FW_* request: a NAK reason (enum m8_nak_reason) or 0,
 * and the reply payload when reason is 0. */
struct sim_fw_reply {
	uint8_t nak;
	uint8_t len;
	uint8_t payload[4];
	bool restart; /* FW_END verified: the battery restarts now */
};

/* Ends an update that has seen no FW_* request for 30 s. */
void sim_fw_expire(struct sim_fw *fw, uint64_t now_us);
/* Handles FW_BEGIN / FW_DATA / FW_END / FW_ABORT for a battery of type
 * battery_type. Returns -EINVAL for any other command. */
int sim_fw_request(struct sim_fw *fw, uint8_t battery_type, uint8_t cmd, const uint8_t *payload,
                   size_t len, uint64_t now_us, struct sim_fw_reply *reply);
