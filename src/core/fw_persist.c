/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The firmware updater's section of the state record, format 1:
 *   u8 format (1), u8 flags (bit 0 a job ran, bit 1 a failure pending),
 *   u8 address, 16 bytes serial, u32 image size, u32 image CRC-32,
 *   3 bytes version, u8 battery type, u32 bytes confirmed,
 *   u8 failed address, u64 age of the failure (us).
 * The image itself is not kept: a job is resumed by starting it again.
 */
#include <errno.h>
#include <string.h>

#include "core/fw_updater.h"
#include "core/le_codec.h"

#define FORMAT      1
#define F_JOB       0x01
#define F_FAILED    0x02
#define SECTION_LEN 44

static bool job_ran(const struct fw_updater *u)
{
	return (u->state >= FW_JOB_BEGIN && u->state <= FW_JOB_VERIFY) ||
	       u->state == FW_JOB_INTERRUPTED;
}

int fw_updater_persist_encode(const struct fw_updater *u, uint64_t now_us, uint8_t *buf, size_t cap)
{
	struct le_writer w = {.p = buf, .cap = cap};
	uint8_t flags = (job_ran(u) ? F_JOB : 0) | (u->failed ? F_FAILED : 0);

	if (flags == 0)
		return 0;
	le_put_u8(&w, FORMAT);
	le_put_u8(&w, flags);
	le_put_u8(&w, u->addr);
	le_put_bytes(&w, u->serial, FW_SERIAL_LEN);
	le_put_u32(&w, u->img.size);
	le_put_u32(&w, u->img.crc32);
	le_put_bytes(&w, u->img.version, 3);
	le_put_u8(&w, u->img.battery_type);
	le_put_u32(&w, u->acked);
	le_put_u8(&w, u->failed ? u->failed_addr : 0);
	/* mutation: equivalent [cmp-bound] (equal: age 0 either way) */
	le_put_u64(&w, u->failed && now_us > u->failed_since_us ? now_us - u->failed_since_us : 0);
	if (w.len > cap)
		return -ENOBUFS;
	return (int)w.len;
}

struct section {
	uint8_t flags, addr, failed_addr, type;
	/* mutation: equivalent [const 4] because a byte more holds the same 3 */
	uint8_t serial[FW_SERIAL_LEN], version[3];
	uint32_t size, crc, acked;
	uint64_t age_us;
};

static int parse(const uint8_t *buf, size_t len, struct section *s)
{
	struct le_reader r = {.p = buf, .len = len};

	/* mutation: equivalent [cond-drop len != SECTION_LEN] because a section of another
	 * length is a short read or has bytes left over: refused below as well */
	if (!buf || len != SECTION_LEN || le_get_u8(&r) != FORMAT)
		return -EBADMSG;
	s->flags = le_get_u8(&r);
	s->addr = le_get_u8(&r);
	for (unsigned i = 0; i < FW_SERIAL_LEN; i++)
		s->serial[i] = le_get_u8(&r);
	s->size = le_get_u32(&r);
	s->crc = le_get_u32(&r);
	for (unsigned i = 0; i < 3; i++)
		s->version[i] = le_get_u8(&r);
	s->type = le_get_u8(&r);
	s->acked = le_get_u32(&r);
	s->failed_addr = le_get_u8(&r);
	s->age_us = le_get_u64(&r);
	/* mutation: equivalent [if 0, cond-drop, cond-swap] because the length is SECTION_LEN
	 * and the fields read add up to it: never true; kept should a field be added without
	 * SECTION_LEN */
	if (r.short_read || r.pos != r.len)
		return -EBADMSG; /* mutation: equivalent (never reached, see above) */
	if ((s->flags & ~(F_JOB | F_FAILED)) || s->flags == 0)
		return -ERANGE;
	if ((s->flags & F_JOB) &&
	    (s->addr < 1 || s->addr > PROTECTION_MAX_BATTERIES || s->size == 0 ||
	     s->size > FW_IMAGE_MAX_SIZE || s->acked > s->size || s->type < FW_BATTERY_TYPE_MIN ||
	     s->type > FW_BATTERY_TYPE_MAX))
		return -ERANGE;
	if ((s->flags & F_FAILED) &&
	    (s->failed_addr < 1 || s->failed_addr > PROTECTION_MAX_BATTERIES))
		return -ERANGE;
	return 0;
}

int fw_updater_persist_check(const uint8_t *buf, size_t len)
{
	struct section s;

	return parse(buf, len, &s);
}

int fw_updater_persist_apply(struct fw_updater *u, uint64_t now_us, const uint8_t *buf, size_t len)
{
	struct section s;
	int r = parse(buf, len, &s);

	if (r < 0)
		return r;
	fw_updater_init(u);
	if (s.flags & F_JOB) {
		u->state = FW_JOB_INTERRUPTED;
		u->addr = s.addr;
		memcpy(u->serial, s.serial, FW_SERIAL_LEN);
		u->img.size = s.size;
		u->img.crc32 = s.crc;
		/* mutation: equivalent [const 4] (the 4th bytes: padding of both structs) */
		memcpy(u->img.version, s.version, 3);
		u->img.battery_type = s.type;
		u->acked = s.acked;
		u->started_us = now_us;
	}
	if (s.flags & F_FAILED) {
		u->failed = true;
		u->failed_addr = s.failed_addr;
		/* The time the daemon was down does not count (docs/protection.md 11:
		 * countdowns resume from their saved ages). */
		/* mutation: equivalent [cmp-bound] (equal: 0 either way) */
		u->failed_since_us = now_us > s.age_us ? now_us - s.age_us : 0;
	}
	return 0;
}
