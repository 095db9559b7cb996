/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/le_codec.h"

#include <string.h>

void le_put_u8(struct le_writer *w, uint8_t v)
{
	if (w->len < w->cap)
		w->p[w->len] = v;
	w->len++;
}

void le_put_u16(struct le_writer *w, uint16_t v)
{
	le_put_u8(w, (uint8_t)v);
	le_put_u8(w, (uint8_t)(v >> 8));
}

void le_put_u32(struct le_writer *w, uint32_t v)
{
	le_put_u16(w, (uint16_t)v);
	le_put_u16(w, (uint16_t)(v >> 16));
}

void le_put_u64(struct le_writer *w, uint64_t v)
{
	le_put_u32(w, (uint32_t)v);
	le_put_u32(w, (uint32_t)(v >> 32));
}

void le_put_i32(struct le_writer *w, int32_t v)
{
	le_put_u32(w, (uint32_t)v);
}

void le_put_i64(struct le_writer *w, int64_t v)
{
	le_put_u64(w, (uint64_t)v);
}

void le_put_f64(struct le_writer *w, double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	le_put_u64(w, bits);
}

void le_put_bytes(struct le_writer *w, const void *data, size_t n)
{
	const uint8_t *d = data;

	for (size_t i = 0; i < n; i++)
		le_put_u8(w, d[i]);
}

uint8_t le_get_u8(struct le_reader *r)
{
	if (r->pos >= r->len) {
		r->short_read = true;
		return 0;
	}
	return r->p[r->pos++];
}

uint16_t le_get_u16(struct le_reader *r)
{
	uint16_t lo = le_get_u8(r);

	return (uint16_t)(lo | (uint16_t)le_get_u8(r) << 8);
}

uint32_t le_get_u32(struct le_reader *r)
{
	uint32_t lo = le_get_u16(r);

	return lo | (uint32_t)le_get_u16(r) << 16;
}

uint64_t le_get_u64(struct le_reader *r)
{
	uint64_t lo = le_get_u32(r);

	return lo | (uint64_t)le_get_u32(r) << 32;
}

int32_t le_get_i32(struct le_reader *r)
{
	return (int32_t)le_get_u32(r);
}

int64_t le_get_i64(struct le_reader *r)
{
	return (int64_t)le_get_u64(r);
}

double le_get_f64(struct le_reader *r)
{
	uint64_t bits = le_get_u64(r);
	double v;

	memcpy(&v, &bits, sizeof(v));
	return v;
}

void le_skip(struct le_reader *r, size_t n)
{
	if (n > r->len - r->pos) {
		r->pos = r->len;
		r->short_read = true;
		return;
	}
	r->pos += n;
}
