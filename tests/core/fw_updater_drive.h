/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The firmware updater (src/core/fw_updater.c) driven by hand: the test
 * plays the bus master and the battery, one request and its outcome at a
 * time, on a clock it sets. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/fw_updater.h"
#include "smallbms/m8_proto.h"

#define DRV_SIZE 500 /* blocks of 240, 240 and 20 bytes */
#define DRV_T0   1000000000ULL
#define DRV_S(s) ((uint64_t)(s)*1000000ULL)

static uint8_t drv_data[DRV_SIZE];

/* A 25.6 V image (type 2), version 1.5.3, of DRV_SIZE bytes. */
static inline struct fw_image drv_image(void)
{
	for (unsigned i = 0; i < DRV_SIZE; i++)
		drv_data[i] = (uint8_t)(i * 5 + 7);
	return (struct fw_image){.format = 1,
	                         .battery_type = 2,
	                         .version = {1, 5, 3},
	                         .size = DRV_SIZE,
	                         .crc32 = 0x89ABCDEF,
	                         .data = drv_data};
}

/* The next request, which must be cmd. */
static inline struct fw_request drv_next(struct fw_updater *u, uint64_t now, uint8_t cmd)
{
	struct fw_request q;

	assert_true(fw_updater_next_request(u, now, &q));
	assert_int_equal(q.cmd, cmd);
	return q;
}

static inline void drv_reply(struct fw_updater *u, uint64_t now, const uint8_t *p, size_t len)
{
	struct fw_result res = {.payload = p, .len = len};

	fw_updater_on_result(u, now, &res);
}

static inline void drv_error(struct fw_updater *u, uint64_t now, int error, uint8_t nak)
{
	struct fw_result res = {.error = error, .nak_reason = nak};

	fw_updater_on_result(u, now, &res);
}

/* FW_DATA's reply: the next offset the battery expects. */
static inline void drv_ack(struct fw_updater *u, uint64_t now, uint32_t next)
{
	uint8_t p[4] = {(uint8_t)next, (uint8_t)(next >> 8), (uint8_t)(next >> 16),
	                (uint8_t)(next >> 24)};

	drv_reply(u, now, p, sizeof(p));
}

/* GET_INFO's outcome as the daemon hands it: the version it parsed. */
static inline void drv_info(struct fw_updater *u, uint64_t now, const uint8_t version[3])
{
	struct fw_result res = {.have_version = true};

	memcpy(res.version, version, 3);
	fw_updater_on_result(u, now, &res);
}

/* A job started at addr at DRV_T0 (battery on 1.4.2): its FW_BEGIN sent. */
static inline struct fw_request drv_started(struct fw_updater *u, const struct fw_image *img,
                                            uint8_t addr)
{
	static const uint8_t old[3] = {1, 4, 2};

	fw_updater_init(u);
	assert_int_equal(fw_updater_start(u, img, addr, old, DRV_T0), 0);
	return drv_next(u, DRV_T0, M8_CMD_FW_BEGIN);
}

/* A job started at addr at DRV_T0 and taken through FW_BEGIN. */
static inline void drv_begun(struct fw_updater *u, const struct fw_image *img, uint8_t addr)
{
	drv_started(u, img, addr);
	drv_reply(u, DRV_T0 + 5000, NULL, 0);
	assert_int_equal(u->state, FW_JOB_DATA);
}

/* Every block sent and confirmed by now, each confirmation moving on by
 * the block sent (at most one block of 240 bytes more than the image
 * needs: no endless loop on a broken updater); the next request is FW_END. */
static inline void drv_all_blocks(struct fw_updater *u, uint64_t now)
{
	unsigned blocks = 0;

	while (u->acked < u->img.size) {
		uint32_t before = u->acked;

		assert_true(blocks++ <= u->img.size / FW_BLOCK_MAX + 1);
		drv_next(u, now, M8_CMD_FW_DATA);
		drv_ack(u, now, u->block_off + u->block_len);
		assert_true(u->acked > before);
	}
}

/* Through FW_END, answered 0 at now: waiting for the new version. */
static inline void drv_ended(struct fw_updater *u, const struct fw_image *img, uint64_t now)
{
	static const uint8_t ok[1] = {M8_FW_RESULT_OK};

	drv_begun(u, img, 1);
	drv_all_blocks(u, now);
	drv_next(u, now, M8_CMD_FW_END);
	drv_reply(u, now, ok, sizeof(ok));
	assert_int_equal(u->state, FW_JOB_VERIFY);
	assert_true(u->end_us == now);
}
