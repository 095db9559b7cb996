/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Frame encoder and the resynchronising incremental parser (docs/m8bus.md section 2). */
#include <errno.h>
#include <string.h>

#include "smallbms/m8_proto.h"

int m8_frame_encode(const struct m8_frame *f, uint8_t *out, size_t cap)
{
	if (!f || !out)
		return -EINVAL;
	if (f->len > M8_MAX_PAYLOAD)
		return -EINVAL;
	size_t n = (size_t)M8_HEADER_LEN + f->len + M8_CRC_LEN;
	if (cap < n)
		return -ENOBUFS;

	out[0] = M8_SOF;
	out[1] = f->addr;
	out[2] = f->cmd;
	out[3] = f->seq;
	out[4] = f->len;
	memcpy(out + M8_HEADER_LEN, f->payload, f->len);
	uint16_t crc = m8_crc16(out + 1, (size_t)M8_HEADER_LEN - 1 + f->len);
	out[M8_HEADER_LEN + f->len] = (uint8_t)(crc & 0xFF);
	out[M8_HEADER_LEN + f->len + 1] = (uint8_t)(crc >> 8);
	return (int)n;
}

void m8_parser_init(struct m8_parser *p)
{
	memset(p, 0, sizeof(*p));
}

static void deliver(struct m8_parser *p, m8_frame_cb cb, void *userdata)
{
	struct m8_frame f = {
	        .addr = p->buf[1],
	        .cmd = p->buf[2],
	        .seq = p->buf[3],
	        .len = p->buf[4],
	};
	memcpy(f.payload, p->buf + M8_HEADER_LEN, f.len);
	p->stats.frames++;
	p->have = 0;
	if (cb)
		cb(&f, userdata);
}

/*
 * Pushes one received byte. A discarded candidate's bytes after its SOF go
 * back in front of the bytes not yet examined, since a real frame may start
 * inside it. The candidate plus the queue never exceed one maximal frame
 * (each step moves or drops bytes, never adds), so q cannot overflow.
 */
static void parser_push(struct m8_parser *p, uint8_t byte, m8_frame_cb cb, void *userdata)
{
	uint8_t q[M8_MAX_FRAME];
	size_t qi = 0, qn = 0;

	q[qn++] = byte;
	while (qi < qn) {
		uint8_t c = q[qi++];

		if (p->have == 0) {
			if (c == M8_SOF)
				p->buf[p->have++] = c;
			else
				p->stats.garbage_bytes++;
			continue;
		}

		p->buf[p->have++] = c;
		bool discard = false;
		if (p->have == M8_HEADER_LEN && p->buf[4] > M8_MAX_PAYLOAD) {
			p->stats.len_errors++;
			discard = true;
		} else if (p->have >= M8_HEADER_LEN &&
		           p->have == (size_t)M8_HEADER_LEN + p->buf[4] + M8_CRC_LEN) {
			size_t body = (size_t)M8_HEADER_LEN - 1 + p->buf[4];
			uint16_t want = m8_crc16(p->buf + 1, body);
			uint16_t got = (uint16_t)(p->buf[1 + body] | (p->buf[2 + body] << 8));
			if (want == got) {
				deliver(p, cb, userdata);
				continue;
			}
			p->stats.crc_errors++;
			discard = true;
		}
		if (!discard)
			continue;

		size_t back = p->have - 1;
		size_t rest = qn - qi;
		memmove(q + back, q + qi, rest);
		memcpy(q, p->buf + 1, back);
		qi = 0;
		qn = back + rest;
		p->have = 0;
	}
}

void m8_parser_feed(struct m8_parser *p, const uint8_t *data, size_t len, m8_frame_cb cb,
                    void *userdata)
{
	for (size_t i = 0; i < len; i++)
		parser_push(p, data[i], cb, userdata);
}

void m8_parser_idle(struct m8_parser *p)
{
	if (p->have == 0)
		return;
	p->stats.idle_drops++;
	p->have = 0;
}

bool m8_parser_busy(const struct m8_parser *p)
{
	return p->have > 0;
}
