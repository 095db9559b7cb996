/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim/fwupdate.h"

#include <errno.h>
#include <string.h>

#include "smallbms/m8_proto.h"

/* The register before the final xor, so that a CRC can be continued. */
static uint32_t crc32_raw(uint32_t reg, const uint8_t *data, size_t len)
{
	size_t i;
	int k;

	for (i = 0; i < len; i++) {
		reg ^= data[i];
		for (k = 0; k < 8; k++)
			reg = (reg >> 1) ^ (0xEDB88320u & (0u - (reg & 1u)));
	}
	return reg;
}

uint32_t sim_crc32(const uint8_t *data, size_t len)
{
	return crc32_raw(0xFFFFFFFFu, data, len) ^ 0xFFFFFFFFu;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void sim_fw_expire(struct sim_fw *fw, uint64_t now_us)
{
	if (fw->active && now_us >= fw->last_us + SIM_FW_ABANDON_US)
		memset(fw, 0, sizeof(*fw));
}

static void fw_begin(struct sim_fw *fw, uint8_t battery_type, const uint8_t *p, size_t len,
                     struct sim_fw_reply *r)
{
	uint32_t size;

	if (len != SIM_FW_BEGIN_LEN) {
		r->nak = M8_NAK_BAD_LENGTH;
		return;
	}
	size = get_u32(p);
	if (p[11] != battery_type || size == 0 || size > SIM_FW_MAX_IMAGE) {
		r->nak = M8_NAK_BAD_PARAM;
		return;
	}
	/* a new FW_BEGIN starts over, whatever came before */
	memset(fw, 0, sizeof(*fw));
	fw->active = true;
	fw->size = size;
	fw->crc32 = get_u32(p + 4);
	memcpy(fw->version, p + 8, 3);
	fw->crc_running = 0xFFFFFFFFu;
}

static void fw_data(struct sim_fw *fw, const uint8_t *p, size_t len, struct sim_fw_reply *r)
{
	uint32_t offset, n = (uint32_t)len - 4, base;

	if (len < 5 || len > 4 + SIM_FW_MAX_BLOCK) {
		r->nak = M8_NAK_BAD_LENGTH;
		return;
	}
	if (!fw->active) {
		r->nak = M8_NAK_FW_SEQUENCE;
		return;
	}
	offset = get_u32(p);
	if (offset == fw->next_offset)
		base = fw->crc_running;
	else if (fw->have_block && offset == fw->last_offset)
		base = fw->crc_before_last; /* the reply to it was lost: take it again */
	else {
		r->nak = M8_NAK_FW_SEQUENCE;
		return;
	}
	if (n > fw->size - offset) {
		r->nak = M8_NAK_BAD_PARAM;
		return;
	}
	fw->crc_before_last = base;
	fw->crc_running = crc32_raw(base, p + 4, n);
	fw->last_offset = offset;
	fw->next_offset = offset + n;
	fw->have_block = true;
	put_u32(r->payload, fw->next_offset);
	r->len = 4;
}

static void fw_end(struct sim_fw *fw, size_t len, struct sim_fw_reply *r)
{
	bool ok;

	if (len != 0) {
		r->nak = M8_NAK_BAD_LENGTH;
		return;
	}
	if (!fw->active) {
		r->nak = M8_NAK_FW_SEQUENCE;
		return;
	}
	ok = fw->next_offset == fw->size && (fw->crc_running ^ 0xFFFFFFFFu) == fw->crc32;
	r->payload[0] = ok ? M8_FW_RESULT_OK : M8_FW_RESULT_VERIFY_FAILED;
	r->len = 1;
	r->restart = ok;
	if (!ok)
		memset(fw, 0, sizeof(*fw));
	else
		fw->active = false; /* the caller takes the version, then clears it */
}

int sim_fw_request(struct sim_fw *fw, uint8_t battery_type, uint8_t cmd, const uint8_t *payload,
                   size_t len, uint64_t now_us, struct sim_fw_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	sim_fw_expire(fw, now_us);
	switch (cmd) {
	case M8_CMD_FW_BEGIN:
		fw_begin(fw, battery_type, payload, len, reply);
		break;
	case M8_CMD_FW_DATA:
		fw_data(fw, payload, len, reply);
		break;
	case M8_CMD_FW_END:
		fw_end(fw, len, reply);
		break;
	case M8_CMD_FW_ABORT:
		if (len != 0) {
			reply->nak = M8_NAK_BAD_LENGTH;
			break;
		}
		memset(fw, 0, sizeof(*fw));
		break;
	default:
		return -EINVAL;
	}
	if (fw->active)
		fw->last_us = now_us;
	return 0;
}
