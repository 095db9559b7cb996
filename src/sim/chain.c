/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daisy chain: who hears a request, relaying, collisions and the
 * injected reply faults. */
#include "sim/battery.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const uint8_t initial_fw_version[3] = {1, 4, 2};

int sim_chain_init(struct sim_chain *c, struct sim_bank *bank, const char *serial_prefix,
                   uint32_t reply_delay_us, uint64_t seed)
{
	size_t plen = strlen(serial_prefix), i;
	unsigned k;

	if (plen > SIM_SERIAL_PREFIX_MAX)
		return -EINVAL;
	for (i = 0; i < plen; i++)
		if (serial_prefix[i] < 0x21 || serial_prefix[i] > 0x7E)
			return -EINVAL;
	if (reply_delay_us < SIM_MIN_REPLY_DELAY_US || reply_delay_us > SIM_MAX_REPLY_DELAY_US)
		return -EINVAL;

	memset(c, 0, sizeof(*c));
	c->bank = bank;
	c->n = bank->n;
	c->reply_delay_us = reply_delay_us;
	/* a stream apart from the bank's, so faults do not shift the cells */
	sim_rng_seed(&c->rng, seed ^ 0x5A5A5A5A5A5A5A5Aull);
	for (k = 0; k < c->n; k++) {
		struct sim_battery *b = &c->bat[k];

		b->pos = k + 1;
		snprintf(b->serial, sizeof(b->serial), "%s%03u", serial_prefix, k + 1);
		memcpy(b->fw_version, initial_fw_version, sizeof(b->fw_version));
	}
	return 0;
}

void sim_chain_tick(struct sim_chain *c, uint64_t now_us)
{
	unsigned k;

	for (k = 0; k < c->n; k++) {
		struct sim_battery *b = &c->bat[k];

		sim_fw_expire(&b->fw, now_us);
		if (b->restarting && now_us >= b->restart_until_us) {
			b->restarting = false;
			if (!b->fw_stuck) /* injected: the new image does not start */
				memcpy(b->fw_version, b->fw.version, sizeof(b->fw_version));
			memset(&b->fw, 0, sizeof(b->fw));
			fprintf(stderr, "battery %u (%s): running firmware %u.%u.%u\n", b->pos,
			        b->serial, b->fw_version[0], b->fw_version[1], b->fw_version[2]);
		}
	}
}

static bool passes_downstream(const struct sim_chain *c, const struct sim_battery *b,
                              uint64_t now_us)
{
	if (b->addr == M8_ADDR_UNADDRESSED || now_us < b->relay_on_at_us)
		return false;
	return c->open_after != b->pos;
}

static uint64_t wire_us(size_t bytes)
{
	return (bytes * SIM_BYTE_NS + 999) / 1000;
}

/* Does battery b act on req? Also handles the frames it acts on without a
 * reply (RESET, broadcasts). */
static bool hears(struct sim_chain *c, struct sim_battery *b, const struct m8_frame *req,
                  uint64_t now_us, bool *assign_taken)
{
	bool reset = req->addr == M8_ADDR_BROADCAST && req->cmd == M8_CMD_RESET;

	if (!reset) {
		/* a RESET sequence ends with the first other frame */
		b->ignoring_reset = false;
	} else {
		if (b->miss_reset_armed) {
			b->miss_reset_armed = false;
			b->ignoring_reset = true;
		}
		if (!b->ignoring_reset)
			sim_battery_unaddress(b);
		return false;
	}
	if (req->addr == M8_ADDR_BROADCAST) {
		/* acted on, never answered: only IDENTIFY makes sense to all */
		if (req->cmd == M8_CMD_IDENTIFY && req->len == 1)
			b->identify_until_us =
			        req->payload[0] ? now_us + req->payload[0] * 1000000ull : 0;
		return false;
	}
	if (req->addr == M8_ADDR_UNADDRESSED) {
		if (req->cmd != M8_CMD_ASSIGN || b->addr != M8_ADDR_UNADDRESSED || *assign_taken)
			return false;
		*assign_taken = true;
		return true;
	}
	return req->addr == b->addr;
}

/* Two batteries answering at once: the line carries neither frame intact. */
static void collide(struct sim_reply *into, const struct sim_reply *other)
{
	size_t i;

	for (i = 0; i < other->len; i++) {
		if (i < into->len)
			into->bytes[i] &= other->bytes[i];
		else
			into->bytes[i] = other->bytes[i];
	}
	if (other->len > into->len)
		into->len = other->len;
	if (other->start_us < into->start_us)
		into->start_us = other->start_us;
}

static int encode_reply(struct sim_chain *c, struct m8_frame *f, uint64_t start_us,
                        struct sim_reply *out)
{
	int r;

	if (c->wrong_seq > 0) {
		c->wrong_seq--;
		f->seq++;
	}
	if (c->wrong_addr > 0) {
		c->wrong_addr--;
		f->addr = (uint8_t)(f->addr % M8_ADDR_MAX + 1);
	}
	r = m8_frame_encode(f, out->bytes, sizeof(out->bytes));
	if (r < 0)
		return r;
	out->len = (size_t)r;
	out->start_us = start_us;
	return 0;
}

int sim_chain_request(struct sim_chain *c, const struct m8_frame *req, uint64_t end_us,
                      struct sim_reply *reply)
{
	bool assign_taken = false, have = false;
	struct sim_reply one;
	struct m8_frame f;
	unsigned k;
	int r;

	c->stats.requests++;
	if (req->cmd == M8_CMD_RESET && req->addr == M8_ADDR_BROADCAST)
		c->stats.resets++;
	if (req->cmd == M8_CMD_ASSIGN) {
		/* when its first byte had come in (a byte after its start) */
		uint64_t first_us =
		        end_us - wire_us(M8_HEADER_LEN + M8_CRC_LEN + req->len) + wire_us(1);
		c->stats.assigns++;
		if (c->last_reply_end_us) {
			uint64_t gap = first_us > c->last_reply_end_us
			                       ? first_us - c->last_reply_end_us
			                       : 0;
			if (c->stats.assign_gaps == 0 || gap < c->stats.assign_gap_min_us)
				c->stats.assign_gap_min_us = gap;
			c->stats.assign_gaps++;
		}
	}
	sim_chain_tick(c, end_us);

	for (k = 0; k < c->n; k++) {
		struct sim_battery *b = &c->bat[k];
		bool passes;
		uint32_t delay;

		if (b->silent)
			break;
		/* decided before the battery acts: a RESET goes on downstream */
		passes = passes_downstream(c, b, end_us);
		if (!b->restarting && hears(c, b, req, end_us, &assign_taken)) {
			r = sim_battery_handle(c, b, req, end_us, &f);
			if (r < 0)
				return r;
			delay = b->reply_delay_us ? b->reply_delay_us : c->reply_delay_us;
			if (r > 0 && f.cmd == (M8_CMD_ASSIGN | M8_REPLY_BIT))
				b->relay_on_at_us =
				        end_us + delay + wire_us(7u + f.len) + SIM_RELAY_CONNECT_US;
			if (r > 0 && b->drop > 0) {
				b->drop--;
				r = 0;
			}
			if (r > 0) {
				struct sim_reply *out = have ? &one : reply;
				r = encode_reply(c, &f, end_us + delay, out);
				if (r < 0)
					return r;
				if (b->garble > 0) {
					/* a byte inside the frame, so it fails its CRC */
					b->garble--;
					out->bytes[out->len / 2] ^= 0xFF;
				}
				if (have)
					collide(reply, &one);
				have = true;
			}
		}
		if (!passes)
			break;
	}
	if (!have)
		return 0;
	if (c->corrupt > 0) {
		size_t at = (size_t)sim_rng_range(&c->rng, 1, (int64_t)reply->len - 1);

		c->corrupt--;
		reply->bytes[at] ^= 0xFF;
	}
	c->stats.replies++;
	c->last_reply_end_us = reply->start_us + wire_us(reply->len);
	return 1;
}
