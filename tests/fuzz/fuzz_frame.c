/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the frame parser and the payload decoders on arbitrary
 * bytes. The first byte picks how the input is split into feeds, so that
 * frames cut at every place are covered too. Every delivered frame must
 * re-encode to a frame the parser accepts again, unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smallbms/m8_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_frame(const struct m8_frame *f, void *userdata)
{
	size_t *count = userdata;
	uint8_t out[M8_MAX_FRAME];
	struct m8_info info;
	struct m8_status st;

	(*count)++;
	if (f->len > M8_MAX_PAYLOAD)
		abort();
	if (m8_info_decode(&info, f->payload, f->len) == 0) {
		uint8_t again[M8_INFO_LEN];
		if (m8_info_encode(&info, again, sizeof(again)) != M8_INFO_LEN ||
		    memcmp(again, f->payload, M8_INFO_LEN) != 0)
			abort();
	}
	if (m8_status_decode(&st, f->payload, f->len) == 0) {
		uint8_t again[M8_MAX_PAYLOAD];
		int n = m8_status_encode(&st, again, sizeof(again));
		if (n != f->len || memcmp(again, f->payload, f->len) != 0)
			abort();
	}

	int n = m8_frame_encode(f, out, sizeof(out));
	if (n != M8_HEADER_LEN + f->len + M8_CRC_LEN)
		abort();
	struct m8_parser p;
	m8_parser_init(&p);
	m8_parser_feed(&p, out, (size_t)n, NULL, NULL);
	if (p.stats.frames != 1 || m8_parser_busy(&p))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m8_parser p;
	size_t frames = 0;

	if (size == 0)
		return 0;
	size_t chunk = (size_t)data[0] % 17 + 1;
	data++;
	size--;

	m8_parser_init(&p);
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		m8_parser_feed(&p, data + off, n, check_frame, &frames);
		if (p.have > M8_MAX_FRAME)
			abort();
	}
	if (frames != p.stats.frames)
		abort();
	m8_parser_idle(&p);
	if (m8_parser_busy(&p))
		abort();
	return 0;
}
