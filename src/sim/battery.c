/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What one battery answers to a request meant for it. */
#include "sim/battery.h"

#include <stdio.h>
#include <string.h>

void sim_battery_info(const struct sim_chain *c, const struct sim_battery *b, struct m8_info *info)
{
	const struct m8_model *m = c->bank->model;

	memset(info, 0, sizeof(*info));
	memcpy(info->serial, b->serial, sizeof(info->serial));
	info->type = m->type;
	info->capacity_ah = m->capacity_ah;
	info->cells = m->cells;
	info->sensors = (uint8_t)c->bank->sensors;
	info->fw_major = b->fw_version[0];
	info->fw_minor = b->fw_version[1];
	info->fw_patch = b->fw_version[2];
	info->max_charge_a = m->max_charge_a;
	info->max_charge_pulse_a = m->max_charge_pulse_a;
	info->max_discharge_a = m->max_discharge_a;
	info->max_discharge_pulse_a = m->max_discharge_pulse_a;
	/* the downstream cord of the last battery ends at BMS port B */
	if (b->pos == c->n && c->open_after == 0)
		info->flags = M8_INFO_CHAIN_END;
}

void sim_battery_unaddress(struct sim_battery *b)
{
	b->addr = 0;
	b->relay_on_at_us = 0;
	b->identify_until_us = 0;
	b->restarting = false;
	/* the controller starts over: an update in progress is lost */
	memset(&b->fw, 0, sizeof(b->fw));
}

static int nak(struct m8_frame *reply, uint8_t cmd, uint8_t reason)
{
	reply->cmd = M8_CMD_NAK;
	reply->len = 2;
	reply->payload[0] = cmd;
	reply->payload[1] = reason;
	return 1;
}

static int reply_info(struct sim_chain *c, struct sim_battery *b, struct m8_frame *reply)
{
	struct m8_info info;
	int r;

	sim_battery_info(c, b, &info);
	r = m8_info_encode(&info, reply->payload, sizeof(reply->payload));
	if (r < 0)
		return r;
	reply->len = (uint8_t)r;
	return 1;
}

static int reply_status(struct sim_chain *c, struct sim_battery *b, struct m8_frame *reply)
{
	struct m8_status st;
	int r;

	sim_bank_status(c->bank, b->pos, b->fw.active, &st);
	r = m8_status_encode(&st, reply->payload, sizeof(reply->payload));
	if (r < 0)
		return r;
	reply->len = (uint8_t)r;
	return 1;
}

static int handle_assign(struct sim_chain *c, struct sim_battery *b, const struct m8_frame *req,
                         struct m8_frame *reply)
{
	uint8_t n = req->payload[0];

	if (n < M8_ADDR_MIN || n > M8_ADDR_MAX)
		return nak(reply, req->cmd, M8_NAK_BAD_PARAM);
	b->addr = n;
	/* the caller sets relay_on_at_us once it knows when the reply ends */
	b->relay_on_at_us = UINT64_MAX;
	return reply_info(c, b, reply);
}

static int handle_identify(struct sim_battery *b, const struct m8_frame *req, uint64_t now_us)
{
	uint8_t seconds = req->payload[0];

	b->identify_until_us = seconds ? now_us + seconds * 1000000ull : 0;
	if (seconds)
		fprintf(stderr, "battery %u (%s, address %u): LED blinks for %u s\n", b->pos,
		        b->serial, b->addr, seconds);
	else
		fprintf(stderr, "battery %u (%s, address %u): LED stops blinking\n", b->pos,
		        b->serial, b->addr);
	return 1;
}

static int handle_fw(struct sim_chain *c, struct sim_battery *b, const struct m8_frame *req,
                     uint64_t now_us, struct m8_frame *reply)
{
	struct sim_fw_reply fr;
	uint8_t data[M8_MAX_PAYLOAD];
	const uint8_t *payload = req->payload;
	int r;

	/* Injected fault: the block is damaged in the battery's flash (the
	 * frame's CRC was fine), so FW_END will find the image's CRC wrong. */
	if (req->cmd == M8_CMD_FW_DATA && b->fw_corrupt > 0 && req->len > 4 && b->fw.active) {
		memcpy(data, req->payload, req->len);
		data[4] ^= 0x01;
		payload = data;
		b->fw_corrupt--;
	}
	r = sim_fw_request(&b->fw, c->bank->model->type, req->cmd, payload, req->len, now_us, &fr);
	if (r < 0)
		return r;
	if (fr.nak)
		return nak(reply, req->cmd, fr.nak);
	memcpy(reply->payload, fr.payload, fr.len);
	reply->len = fr.len;
	if (fr.restart) {
		b->restarting = true;
		b->restart_until_us = now_us + SIM_FW_RESTART_US;
		fprintf(stderr, "battery %u (%s): firmware %u.%u.%u verified, restarting\n", b->pos,
		        b->serial, b->fw.version[0], b->fw.version[1], b->fw.version[2]);
	}
	return 1;
}

/* The length each request must have, -1 for the variable FW_DATA. */
static int request_len(uint8_t cmd)
{
	switch (cmd) {
	case M8_CMD_ASSIGN:
	case M8_CMD_IDENTIFY:
		return 1;
	case M8_CMD_FW_BEGIN:
		return SIM_FW_BEGIN_LEN;
	case M8_CMD_FW_DATA:
		return -1;
	default:
		return 0;
	}
}

int sim_battery_handle(struct sim_chain *c, struct sim_battery *b, const struct m8_frame *req,
                       uint64_t now_us, struct m8_frame *reply)
{
	int want;

	memset(reply, 0, sizeof(*reply));
	reply->addr = b->addr;
	reply->seq = req->seq;
	reply->cmd = req->cmd | M8_REPLY_BIT;
	/* an ASSIGN is answered from the address it gives, even when refused,
	 * so that the BMS can match the answer */
	if (req->cmd == M8_CMD_ASSIGN)
		reply->addr = req->len == 1 ? req->payload[0] : M8_ADDR_UNADDRESSED;

	if (b->busy > 0) {
		b->busy--;
		return nak(reply, req->cmd, M8_NAK_BUSY);
	}

	want = request_len(req->cmd);
	switch (req->cmd) {
	case M8_CMD_ASSIGN:
	case M8_CMD_GET_INFO:
	case M8_CMD_GET_STATUS:
	case M8_CMD_IDENTIFY:
		if (req->len != want)
			return nak(reply, req->cmd, M8_NAK_BAD_LENGTH);
		break;
	case M8_CMD_RESET:
		/* RESET is a broadcast; sent to one address it makes no sense */
		return nak(reply, req->cmd, M8_NAK_BAD_PARAM);
	case M8_CMD_FW_BEGIN:
	case M8_CMD_FW_DATA:
	case M8_CMD_FW_END:
	case M8_CMD_FW_ABORT:
		return handle_fw(c, b, req, now_us, reply);
	default:
		return nak(reply, req->cmd, M8_NAK_UNKNOWN_CMD);
	}

	switch (req->cmd) {
	case M8_CMD_ASSIGN:
		return handle_assign(c, b, req, reply);
	case M8_CMD_GET_INFO:
		return reply_info(c, b, reply);
	case M8_CMD_GET_STATUS:
		return reply_status(c, b, reply);
	default:
		return handle_identify(b, req, now_us);
	}
}
