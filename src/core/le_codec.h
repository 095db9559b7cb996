/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bounded little-endian field writer and reader for the persisted records
 * (the state record and the protection core's rule states). Explicit fields,
 * never a struct image. Neither ever touches memory past its buffer: a
 * writer counts the bytes it would need (len > cap means too small), and a
 * reader that runs past the end returns zeros and sets short_read.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct le_writer {
	uint8_t *p;
	size_t len, cap;
};

struct le_reader {
	const uint8_t *p;
	size_t len, pos;
	bool short_read;
};

void le_put_u8(struct le_writer *w, uint8_t v);
void le_put_u16(struct le_writer *w, uint16_t v);
void le_put_u32(struct le_writer *w, uint32_t v);
void le_put_u64(struct le_writer *w, uint64_t v);
void le_put_i32(struct le_writer *w, int32_t v);
void le_put_i64(struct le_writer *w, int64_t v);
void le_put_f64(struct le_writer *w, double v);
void le_put_bytes(struct le_writer *w, const void *data, size_t n);

uint8_t le_get_u8(struct le_reader *r);
uint16_t le_get_u16(struct le_reader *r);
uint32_t le_get_u32(struct le_reader *r);
uint64_t le_get_u64(struct le_reader *r);
int32_t le_get_i32(struct le_reader *r);
int64_t le_get_i64(struct le_reader *r);
double le_get_f64(struct le_reader *r);
void le_skip(struct le_reader *r, size_t n);
