/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The batteries' protocol behaviour: request frames in, reply frames out. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim/battery.h"
#include "sim/fwupdate.h"

#define MS 1000ull
#define S  1000000ull

struct fx {
	struct sim_bank bank;
	struct sim_chain chain;
	uint64_t now;
	uint8_t seq;
	struct sim_reply raw; /* the last reply on the line */
	struct m8_frame got;
	unsigned frames;
};

enum { NONE = 0, FRAME = 1, GARBLED = 2 };

static struct fx *fx_new(const char *model, unsigned n)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(sim_bank_init(&f->bank, m8_model_by_name(model), n, 1, 8000, 0, 1000, 1),
	                 0);
	assert_int_equal(sim_chain_init(&f->chain, &f->bank, "HQ2402JJ", 1000, 1), 0);
	f->now = 10 * S;
	return f;
}

static void on_frame(const struct m8_frame *fr, void *userdata)
{
	struct fx *f = userdata;

	f->got = *fr;
	f->frames++;
}

/* Sends a request ending at `at`; returns NONE, FRAME (in f->got) or GARBLED. */
static int send_at(struct fx *f, uint64_t at, uint8_t addr, uint8_t cmd, const void *payload,
                   uint8_t len)
{
	struct m8_frame req = {.addr = addr, .cmd = cmd, .seq = ++f->seq, .len = len};
	struct m8_parser p;
	int r;

	if (len)
		memcpy(req.payload, payload, len);
	f->now = at;
	r = sim_chain_request(&f->chain, &req, at, &f->raw);
	assert_true(r >= 0);
	if (r == 0)
		return NONE;
	assert_true(f->raw.start_us >= at + SIM_MIN_REPLY_DELAY_US);
	m8_parser_init(&p);
	f->frames = 0;
	m8_parser_feed(&p, f->raw.bytes, f->raw.len, on_frame, f);
	if (f->frames != 1 || p.have != 0)
		return GARBLED;
	return FRAME;
}

/* The same, 20 ms after the last request (relays have connected). */
static int send(struct fx *f, uint8_t addr, uint8_t cmd, const void *payload, uint8_t len)
{
	return send_at(f, f->now + 20 * MS, addr, cmd, payload, len);
}

static void reset_all(struct fx *f)
{
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(send(f, M8_ADDR_BROADCAST, M8_CMD_RESET, NULL, 0), NONE);
	f->now += 100 * MS;
}

static void assign(struct fx *f, uint8_t n)
{
	assert_int_equal(send(f, 0, M8_CMD_ASSIGN, &n, 1), FRAME);
	assert_int_equal(f->got.addr, n);
	assert_int_equal(f->got.cmd, M8_CMD_ASSIGN | M8_REPLY_BIT);
}

static void enumerate(struct fx *f, unsigned n)
{
	unsigned i;

	reset_all(f);
	for (i = 1; i <= n; i++)
		assign(f, (uint8_t)i);
}

static void expect_nak(struct fx *f, int r, uint8_t addr, uint8_t cmd, uint8_t reason)
{
	assert_int_equal(r, FRAME);
	assert_int_equal(f->got.addr, addr);
	assert_int_equal(f->got.cmd, M8_CMD_NAK);
	assert_int_equal(f->got.seq, f->seq);
	assert_int_equal(f->got.len, 2);
	assert_int_equal(f->got.payload[0], cmd);
	assert_int_equal(f->got.payload[1], reason);
}

static struct m8_info info_of(struct fx *f)
{
	struct m8_info info;

	assert_int_equal(m8_info_decode(&info, f->got.payload, f->got.len), 0);
	return info;
}

/* docs/m8bus.md section 2: the test vectors, and the reply to them. */
static void spec_vectors(void **state)
{
	static const uint8_t assign1[] = {0xA5, 0x00, 0x02, 0x00, 0x01, 0x01, 0x74, 0xDF};
	struct fx *f = fx_new("12.8/100", 1);
	struct m8_info info;
	struct m8_parser p;

	m8_parser_init(&p);
	f->frames = 0;
	m8_parser_feed(&p, assign1, sizeof(assign1), on_frame, f);
	assert_int_equal(f->frames, 1);
	assert_int_equal(sim_chain_request(&f->chain, &f->got, 20 * S, &f->raw), 1);
	assert_int_equal(f->raw.start_us, 20 * S + SIM_DEFAULT_REPLY_DELAY_US);
	f->frames = 0;
	m8_parser_feed(&p, f->raw.bytes, f->raw.len, on_frame, f);
	assert_int_equal(f->frames, 1);
	assert_int_equal(f->got.addr, 1);
	assert_int_equal(f->got.cmd, 0x82);
	assert_int_equal(f->got.seq, 0);
	info = info_of(f);
	assert_string_equal(info.serial, "HQ2402JJ001");
	assert_int_equal(info.type, 1);
	assert_int_equal(info.capacity_ah, 100);
	assert_int_equal(info.cells, 4);
	assert_int_equal(info.sensors, 2);
	assert_int_equal(info.max_discharge_pulse_a, 200);
	assert_int_equal(info.flags, M8_INFO_CHAIN_END);

	/* GET_STATUS 1, SEQ 0: A5 01 04 00 00 B4 2E */
	assert_int_equal(send_at(f, 21 * S, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(f->got.addr, 1);
	assert_int_equal(f->got.cmd, 0x84);
	assert_int_equal(f->got.len, m8_status_len(4, 2));
	free(f);
}

static void assign_goes_to_first_unaddressed(void **state)
{
	struct fx *f = fx_new("25.6/100", 3);
	unsigned i;

	enumerate(f, 3);
	for (i = 1; i <= 3; i++) {
		char want[20];

		assert_int_equal(send(f, (uint8_t)i, M8_CMD_GET_INFO, NULL, 0), FRAME);
		assert_int_equal(f->got.addr, i);
		assert_int_equal(f->got.cmd, 0x83);
		snprintf(want, sizeof(want), "HQ2402JJ%03u", i);
		assert_string_equal(info_of(f).serial, want);
		assert_int_equal(info_of(f).flags, i == 3 ? M8_INFO_CHAIN_END : 0);
		assert_int_equal(f->chain.bat[i - 1].addr, i);
	}
	/* nobody is left unaddressed: ASSIGN 4 goes unanswered, and no one
	 * answers at address 4 */
	assert_int_equal(send(f, 0, M8_CMD_ASSIGN, (uint8_t[]){4}, 1), NONE);
	assert_int_equal(send(f, 4, M8_CMD_GET_INFO, NULL, 0), NONE);
	/* an assigned battery does not take another ASSIGN */
	assert_int_equal(f->chain.bat[0].addr, 1);
	free(f);
}

/* The downstream cord connects 4 ms after the ASSIGN reply: not one us sooner. */
static void relay_connects_after_assign_reply(void **state)
{
	struct fx *f = fx_new("12.8/100", 2);
	uint64_t reply_end, relay_at;

	reset_all(f);
	assign(f, 1);
	reply_end = f->raw.start_us + (f->raw.len * SIM_BYTE_NS + 999) / 1000;
	relay_at = f->chain.bat[0].relay_on_at_us;
	assert_int_equal(relay_at, reply_end + SIM_RELAY_CONNECT_US);
	assert_true(relay_at - reply_end <= 5000);
	assert_int_equal(send_at(f, relay_at - 1, 0, M8_CMD_ASSIGN, (uint8_t[]){2}, 1), NONE);
	assert_int_equal(f->chain.bat[1].addr, 0);
	assert_int_equal(send_at(f, relay_at, 0, M8_CMD_ASSIGN, (uint8_t[]){2}, 1), FRAME);
	assert_int_equal(f->got.addr, 2);
	assert_string_equal(info_of(f).serial, "HQ2402JJ002");
	free(f);
}

static void unaddressed_answers_only_assign(void **state)
{
	struct fx *f = fx_new("12.8/100", 2);

	reset_all(f);
	assert_int_equal(send(f, 0, M8_CMD_GET_INFO, NULL, 0), NONE);
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), NONE);
	assert_int_equal(send(f, 0, M8_CMD_GET_STATUS, NULL, 0), NONE);
	free(f);
}

/* RESET is passed downstream before the battery isolates itself, so one
 * RESET clears the whole chain; it is never answered. */
static void reset_clears_every_battery(void **state)
{
	struct fx *f = fx_new("12.8/100", 3);
	unsigned i;

	enumerate(f, 3);
	assert_int_equal(send(f, M8_ADDR_BROADCAST, M8_CMD_RESET, NULL, 0), NONE);
	for (i = 0; i < 3; i++)
		assert_int_equal(f->chain.bat[i].addr, 0);
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), NONE);
	/* an address-1 battery after a new ASSIGN is the first one again */
	assign(f, 1);
	assert_string_equal(info_of(f).serial, "HQ2402JJ001");
	free(f);
}

static void broadcast_never_answered(void **state)
{
	struct fx *f = fx_new("12.8/100", 2);

	enumerate(f, 2);
	assert_int_equal(send(f, M8_ADDR_BROADCAST, M8_CMD_GET_STATUS, NULL, 0), NONE);
	assert_int_equal(send(f, M8_ADDR_BROADCAST, M8_CMD_IDENTIFY, (uint8_t[]){5}, 1), NONE);
	assert_true(f->chain.bat[1].identify_until_us > f->now);
	assert_int_equal(send(f, M8_ADDR_BROADCAST, 0x7E, NULL, 0), NONE);
	assert_int_equal(f->chain.stats.replies, 2); /* the two ASSIGNs */
	free(f);
}

static void nak_reasons(void **state)
{
	struct fx *f = fx_new("12.8/100", 2);
	uint8_t begin[12] = {0x10, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 2 /* type 2 */};

	reset_all(f);
	/* ASSIGN answers from the address it names, even when refused */
	expect_nak(f, send(f, 0, M8_CMD_ASSIGN, (uint8_t[]){51}, 1), 51, M8_CMD_ASSIGN,
	           M8_NAK_BAD_PARAM);
	expect_nak(f, send(f, 0, M8_CMD_ASSIGN, (uint8_t[]){0}, 1), 0, M8_CMD_ASSIGN,
	           M8_NAK_BAD_PARAM);
	expect_nak(f, send(f, 0, M8_CMD_ASSIGN, (uint8_t[]){1, 2}, 2), 0, M8_CMD_ASSIGN,
	           M8_NAK_BAD_LENGTH);
	assert_int_equal(f->chain.bat[0].addr, 0);
	assign(f, 1);
	assign(f, 2);

	expect_nak(f, send(f, 2, 0x7E, NULL, 0), 2, 0x7E, M8_NAK_UNKNOWN_CMD);
	expect_nak(f, send(f, 2, 0x06, NULL, 0), 2, 0x06, M8_NAK_UNKNOWN_CMD);
	expect_nak(f, send(f, 2, M8_CMD_GET_STATUS, (uint8_t[]){0}, 1), 2, M8_CMD_GET_STATUS,
	           M8_NAK_BAD_LENGTH);
	expect_nak(f, send(f, 1, M8_CMD_GET_INFO, (uint8_t[]){0}, 1), 1, M8_CMD_GET_INFO,
	           M8_NAK_BAD_LENGTH);
	expect_nak(f, send(f, 1, M8_CMD_IDENTIFY, NULL, 0), 1, M8_CMD_IDENTIFY, M8_NAK_BAD_LENGTH);
	expect_nak(f, send(f, 1, M8_CMD_FW_BEGIN, begin, 11), 1, M8_CMD_FW_BEGIN,
	           M8_NAK_BAD_LENGTH);
	/* an image for another battery type */
	expect_nak(f, send(f, 1, M8_CMD_FW_BEGIN, begin, 12), 1, M8_CMD_FW_BEGIN, M8_NAK_BAD_PARAM);
	begin[11] = 1;
	begin[0] = 0; /* size 0 */
	expect_nak(f, send(f, 1, M8_CMD_FW_BEGIN, begin, 12), 1, M8_CMD_FW_BEGIN, M8_NAK_BAD_PARAM);
	expect_nak(f, send(f, 1, M8_CMD_RESET, NULL, 0), 1, M8_CMD_RESET, M8_NAK_BAD_PARAM);
	assert_int_equal(f->chain.bat[0].addr, 1);
	/* GET_STATUS answered with the battery's own address and the SEQ */
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(f->got.addr, 2);
	assert_int_equal(f->got.seq, f->seq);
	assert_int_equal(send(f, 1, M8_CMD_IDENTIFY, (uint8_t[]){3}, 1), FRAME);
	assert_int_equal(f->got.cmd, M8_CMD_IDENTIFY | M8_REPLY_BIT);
	assert_int_equal(f->got.len, 0);
	free(f);
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
	return p + 4;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void fw_begin(struct fx *f, uint8_t addr, uint32_t size, uint32_t crc)
{
	uint8_t b[12], *p = put32(put32(b, size), crc);

	p[0] = 2;
	p[1] = 0;
	p[2] = 7;
	p[3] = 1;
	assert_int_equal(send(f, addr, M8_CMD_FW_BEGIN, b, 12), FRAME);
	assert_int_equal(f->got.cmd, M8_CMD_FW_BEGIN | M8_REPLY_BIT);
	assert_int_equal(f->got.len, 0);
}

static int fw_data(struct fx *f, uint8_t addr, const uint8_t *image, uint32_t off, uint32_t n)
{
	uint8_t b[4 + SIM_FW_MAX_BLOCK];

	put32(b, off);
	memcpy(b + 4, image + off, n);
	return send(f, addr, M8_CMD_FW_DATA, b, (uint8_t)(4 + n));
}

static void crc32_check_value(void **state)
{
	assert_int_equal(sim_crc32((const uint8_t *)"123456789", 9), 0xCBF43926);
}

static void fw_update_sequence(void **state)
{
	struct fx *f = fx_new("12.8/100", 2);
	uint8_t image[720]; /* 600 announced; the rest for a block too long */
	uint32_t crc;
	struct m8_status st;
	uint64_t end_at;
	size_t i;

	for (i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 7 + 3);
	crc = sim_crc32(image, 600);
	enumerate(f, 2);

	expect_nak(f, fw_data(f, 1, image, 0, 240), 1, M8_CMD_FW_DATA, M8_NAK_FW_SEQUENCE);
	expect_nak(f, send(f, 1, M8_CMD_FW_END, NULL, 0), 1, M8_CMD_FW_END, M8_NAK_FW_SEQUENCE);
	fw_begin(f, 1, 600, crc);

	/* flag bit 1 while the update runs, and STATUS still answered */
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(m8_status_decode(&st, f->got.payload, f->got.len), 0);
	assert_true(st.flags & M8_ST_FW_UPDATE);

	expect_nak(f, fw_data(f, 1, image, 240, 240), 1, M8_CMD_FW_DATA, M8_NAK_FW_SEQUENCE);
	assert_int_equal(fw_data(f, 1, image, 0, 240), FRAME);
	assert_int_equal(f->got.cmd, M8_CMD_FW_DATA | M8_REPLY_BIT);
	assert_int_equal(get32(f->got.payload), 240);
	/* the reply was lost: the same block again is accepted */
	assert_int_equal(fw_data(f, 1, image, 0, 240), FRAME);
	assert_int_equal(get32(f->got.payload), 240);
	assert_int_equal(fw_data(f, 1, image, 240, 240), FRAME);
	assert_int_equal(get32(f->got.payload), 480);
	/* only the last block may repeat, and no block reaches past the size */
	expect_nak(f, fw_data(f, 1, image, 0, 240), 1, M8_CMD_FW_DATA, M8_NAK_FW_SEQUENCE);
	expect_nak(f, fw_data(f, 1, image, 480, 121), 1, M8_CMD_FW_DATA, M8_NAK_BAD_PARAM);
	expect_nak(f, send(f, 1, M8_CMD_FW_DATA, image, 4), 1, M8_CMD_FW_DATA, M8_NAK_BAD_LENGTH);
	assert_int_equal(fw_data(f, 1, image, 480, 120), FRAME);
	assert_int_equal(get32(f->got.payload), 600);

	assert_int_equal(send(f, 1, M8_CMD_FW_END, NULL, 0), FRAME);
	assert_int_equal(f->got.cmd, M8_CMD_FW_END | M8_REPLY_BIT);
	assert_int_equal(f->got.len, 1);
	assert_int_equal(f->got.payload[0], M8_FW_RESULT_OK);
	end_at = f->now;

	/* restarting: silent, but its relay stays connected and it keeps its address */
	assert_int_equal(send(f, 1, M8_CMD_GET_INFO, NULL, 0), NONE);
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(send(f, M8_ADDR_BROADCAST, M8_CMD_RESET, NULL, 0), NONE);
	assert_int_equal(f->chain.bat[0].addr, 1); /* missed while restarting */
	enumerate(f, 0);
	f->chain.bat[1].addr = 2; /* undo what the RESET did behind it */
	f->chain.bat[1].relay_on_at_us = 0;
	assert_int_equal(send_at(f, end_at + SIM_FW_RESTART_US - 1, 1, M8_CMD_GET_INFO, NULL, 0),
	                 NONE);
	assert_int_equal(send_at(f, end_at + SIM_FW_RESTART_US, 1, M8_CMD_GET_INFO, NULL, 0),
	                 FRAME);
	assert_int_equal(info_of(f).fw_major, 2);
	assert_int_equal(info_of(f).fw_minor, 0);
	assert_int_equal(info_of(f).fw_patch, 7);
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(m8_status_decode(&st, f->got.payload, f->got.len), 0);
	assert_false(st.flags & M8_ST_FW_UPDATE);
	free(f);
}

static void fw_verify_fails(void **state)
{
	struct fx *f = fx_new("12.8/100", 1);
	uint8_t image[300] = {1, 2, 3};

	enumerate(f, 1);
	/* wrong CRC */
	fw_begin(f, 1, sizeof(image), sim_crc32(image, sizeof(image)) ^ 1);
	assert_int_equal(fw_data(f, 1, image, 0, 240), FRAME);
	assert_int_equal(fw_data(f, 1, image, 240, 60), FRAME);
	assert_int_equal(send(f, 1, M8_CMD_FW_END, NULL, 0), FRAME);
	assert_int_equal(f->got.payload[0], M8_FW_RESULT_VERIFY_FAILED);
	assert_int_equal(send(f, 1, M8_CMD_GET_INFO, NULL, 0), FRAME); /* no restart */
	assert_int_equal(info_of(f).fw_major, 1);
	expect_nak(f, send(f, 1, M8_CMD_FW_END, NULL, 0), 1, M8_CMD_FW_END, M8_NAK_FW_SEQUENCE);

	/* short image: the CRC of what came is right but the size is not */
	fw_begin(f, 1, sizeof(image), sim_crc32(image, 240));
	assert_int_equal(fw_data(f, 1, image, 0, 240), FRAME);
	assert_int_equal(send(f, 1, M8_CMD_FW_END, NULL, 0), FRAME);
	assert_int_equal(f->got.payload[0], M8_FW_RESULT_VERIFY_FAILED);
	free(f);
}

static void fw_abort_and_abandon(void **state)
{
	struct fx *f = fx_new("12.8/100", 1);
	uint8_t image[480] = {9};
	uint64_t t;

	enumerate(f, 1);
	fw_begin(f, 1, sizeof(image), sim_crc32(image, sizeof(image)));
	assert_int_equal(send(f, 1, M8_CMD_FW_ABORT, NULL, 0), FRAME);
	assert_int_equal(f->got.cmd, M8_CMD_FW_ABORT | M8_REPLY_BIT);
	assert_int_equal(f->got.len, 0);
	expect_nak(f, fw_data(f, 1, image, 0, 240), 1, M8_CMD_FW_DATA, M8_NAK_FW_SEQUENCE);

	/* 30 s without an FW_* request: one us short keeps it alive */
	fw_begin(f, 1, sizeof(image), sim_crc32(image, sizeof(image)));
	t = f->now;
	assert_int_equal(send_at(f, t + SIM_FW_ABANDON_US - 1, 1, M8_CMD_GET_STATUS, NULL, 0),
	                 FRAME);
	assert_int_equal(send_at(f, t + SIM_FW_ABANDON_US - 1, 1, M8_CMD_FW_DATA,
	                         (uint8_t[8]){0, 0, 0, 0, 9, 0, 0, 0}, 8),
	                 FRAME);
	t = f->now;
	sim_chain_tick(&f->chain, t + SIM_FW_ABANDON_US - 1);
	assert_true(f->chain.bat[0].fw.active);
	sim_chain_tick(&f->chain, t + SIM_FW_ABANDON_US);
	assert_false(f->chain.bat[0].fw.active);
	expect_nak(f, fw_data(f, 1, image, 4, 240), 1, M8_CMD_FW_DATA, M8_NAK_FW_SEQUENCE);
	free(f);
}

static void busy_and_drop(void **state)
{
	struct fx *f = fx_new("12.8/100", 2);

	reset_all(f);
	f->chain.bat[0].busy = 1;
	expect_nak(f, send(f, 0, M8_CMD_ASSIGN, (uint8_t[]){1}, 1), 1, M8_CMD_ASSIGN, M8_NAK_BUSY);
	assert_int_equal(f->chain.bat[0].addr, 0);
	/* the reply is lost, but the ASSIGN was heard */
	f->chain.bat[0].drop = 1;
	assert_int_equal(send(f, 0, M8_CMD_ASSIGN, (uint8_t[]){1}, 1), NONE);
	assert_int_equal(f->chain.bat[0].addr, 1);
	assert_int_equal(send(f, 1, M8_CMD_GET_INFO, NULL, 0), FRAME);
	assign(f, 2);
	f->chain.bat[1].busy = 2;
	expect_nak(f, send(f, 2, M8_CMD_GET_STATUS, NULL, 0), 2, M8_CMD_GET_STATUS, M8_NAK_BUSY);
	expect_nak(f, send(f, 2, M8_CMD_GET_INFO, NULL, 0), 2, M8_CMD_GET_INFO, M8_NAK_BUSY);
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(f->got.cmd, 0x84);
	f->chain.bat[1].drop = 2;
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), NONE);
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), NONE);
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	free(f);
}

static void wrong_seq_addr_and_corrupt(void **state)
{
	struct fx *f = fx_new("12.8/100", 1);

	enumerate(f, 1);
	f->chain.wrong_seq = 1;
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(f->got.seq, (uint8_t)(f->seq + 1));
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(f->got.seq, f->seq);
	f->chain.wrong_addr = 1;
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_not_equal(f->got.addr, 1);
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(f->got.addr, 1);
	f->chain.corrupt = 2;
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), GARBLED);
	assert_int_equal(send(f, 1, M8_CMD_GET_INFO, NULL, 0), GARBLED);
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	free(f);
}

static void one_battery_garbled(void **state)
{
	struct fx *f = fx_new("12.8/100", 2);

	enumerate(f, 2);
	f->chain.bat[1].garble = 2;
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), GARBLED);
	assert_int_equal(send(f, 1, M8_CMD_GET_INFO, NULL, 0), FRAME);
	assert_int_equal(send(f, 2, M8_CMD_GET_INFO, NULL, 0), GARBLED);
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	free(f);
}

static void silent_battery_cuts_the_chain(void **state)
{
	struct fx *f = fx_new("12.8/100", 3);

	enumerate(f, 3);
	f->chain.bat[1].silent = true;
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), NONE);
	assert_int_equal(send(f, 3, M8_CMD_GET_STATUS, NULL, 0), NONE);
	f->chain.bat[1].silent = false;
	assert_int_equal(send(f, 3, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	free(f);
}

static void open_chain(void **state)
{
	struct fx *f = fx_new("12.8/100", 3);

	enumerate(f, 3);
	f->chain.open_after = 2;
	assert_int_equal(send(f, 2, M8_CMD_GET_INFO, NULL, 0), FRAME);
	assert_int_equal(info_of(f).flags, 0);
	assert_int_equal(send(f, 3, M8_CMD_GET_INFO, NULL, 0), NONE);
	/* enumeration finds two batteries and no CHAIN_END */
	enumerate(f, 2);
	assert_int_equal(send(f, 0, M8_CMD_ASSIGN, (uint8_t[]){3}, 1), NONE);
	/* repaired: the RESETs never reached battery 3, which kept its address */
	f->chain.open_after = 0;
	assert_int_equal(send(f, 0, M8_CMD_ASSIGN, (uint8_t[]){3}, 1), NONE);
	assert_int_equal(send(f, 3, M8_CMD_GET_INFO, NULL, 0), FRAME);
	assert_int_equal(info_of(f).flags, M8_INFO_CHAIN_END);
	/* the terminating cord itself broken */
	f->chain.open_after = 3;
	assert_int_equal(send(f, 3, M8_CMD_GET_INFO, NULL, 0), FRAME);
	assert_int_equal(info_of(f).flags, 0);
	free(f);
}

/* docs/m8bus.md section 3 step 5: a brown-out isolates the batteries behind; an
 * ASSIGN with the old address brings them all back. */
static void brownout_and_reassign(void **state)
{
	struct fx *f = fx_new("12.8/100", 3);

	enumerate(f, 3);
	sim_battery_unaddress(&f->chain.bat[1]);
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), NONE);
	assert_int_equal(send(f, 3, M8_CMD_GET_STATUS, NULL, 0), NONE);
	assign(f, 2);
	assert_string_equal(info_of(f).serial, "HQ2402JJ002");
	assert_int_equal(send(f, 3, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(f->got.addr, 3);
	free(f);
}

/* A battery that missed the RESET keeps its address: the next ASSIGN of it
 * goes to the one behind, and both answer at once. */
static void missed_reset_collides(void **state)
{
	struct fx *f = fx_new("12.8/100", 2);

	enumerate(f, 2);
	f->chain.bat[0].miss_reset_armed = true;
	reset_all(f);
	assert_int_equal(f->chain.bat[0].addr, 1);
	assert_int_equal(f->chain.bat[1].addr, 0);
	assign(f, 1);
	assert_string_equal(info_of(f).serial, "HQ2402JJ002");
	assert_int_equal(send(f, 1, M8_CMD_GET_INFO, NULL, 0), GARBLED);
	/* only that one sequence was missed */
	reset_all(f);
	assert_int_equal(f->chain.bat[0].addr, 0);
	free(f);
}

static void reply_delay(void **state)
{
	struct fx *f = fx_new("12.8/100", 2);

	assert_int_equal(sim_chain_init(&f->chain, &f->bank, "X", 199, 1), -EINVAL);
	assert_int_equal(sim_chain_init(&f->chain, &f->bank, "X", 10001, 1), -EINVAL);
	assert_int_equal(sim_chain_init(&f->chain, &f->bank, "ABCDEFGHIJKLMN", 1000, 1), -EINVAL);
	assert_int_equal(sim_chain_init(&f->chain, &f->bank, "X", 10000, 1), 0);
	assert_int_equal(sim_chain_init(&f->chain, &f->bank, "ABCDEFGHIJKLM", 200, 1), 0);
	enumerate(f, 2);
	assert_int_equal(f->raw.start_us, f->now + 200);
	assert_string_equal(info_of(f).serial, "ABCDEFGHIJKLM002");
	f->chain.bat[1].reply_delay_us = 60000;
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(f->raw.start_us, f->now + 60000);
	assert_int_equal(send(f, 1, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(f->raw.start_us, f->now + 200);
	free(f);
}

static void stats_count(void **state)
{
	struct fx *f = fx_new("12.8/100", 2);

	enumerate(f, 2);
	assert_int_equal(send(f, 0, M8_CMD_ASSIGN, (uint8_t[]){3}, 1), NONE);
	assert_int_equal(send(f, 2, M8_CMD_GET_STATUS, NULL, 0), FRAME);
	assert_int_equal(f->chain.stats.requests, 7);
	assert_int_equal(f->chain.stats.replies, 3);
	assert_int_equal(f->chain.stats.resets, 3);
	assert_int_equal(f->chain.stats.assigns, 3);
	free(f);
}

static void assign_gap_measured(void **state)
{
	struct fx *f = fx_new("12.8/100", 2);
	uint8_t n = 2;

	reset_all(f);
	assign(f, 1); /* no reply before it: not measured */
	assert_int_equal(f->chain.stats.assign_gaps, 0);
	/* ASSIGN 2 starts 6 ms after ASSIGN 1's reply's last byte: its first
	 * byte is in a byte time later */
	uint64_t reply_end = f->raw.start_us + (f->raw.len * SIM_BYTE_NS + 999) / 1000;
	uint64_t assign_wire = (8 * SIM_BYTE_NS + 999) / 1000;
	uint64_t byte = (SIM_BYTE_NS + 999) / 1000;
	assert_int_equal(send_at(f, reply_end + 6 * MS + assign_wire, 0, M8_CMD_ASSIGN, &n, 1),
	                 FRAME);
	assert_int_equal(f->chain.stats.assign_gaps, 1);
	assert_int_equal(f->chain.stats.assign_gap_min_us, 6 * MS + byte);
	/* a longer one later leaves the minimum */
	n = 3;
	assert_int_equal(send(f, 0, M8_CMD_ASSIGN, &n, 1), NONE);
	assert_int_equal(f->chain.stats.assign_gaps, 2);
	assert_int_equal(f->chain.stats.assign_gap_min_us, 6 * MS + byte);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(spec_vectors),
	        cmocka_unit_test(assign_goes_to_first_unaddressed),
	        cmocka_unit_test(relay_connects_after_assign_reply),
	        cmocka_unit_test(unaddressed_answers_only_assign),
	        cmocka_unit_test(reset_clears_every_battery),
	        cmocka_unit_test(broadcast_never_answered),
	        cmocka_unit_test(nak_reasons),
	        cmocka_unit_test(crc32_check_value),
	        cmocka_unit_test(fw_update_sequence),
	        cmocka_unit_test(fw_verify_fails),
	        cmocka_unit_test(fw_abort_and_abandon),
	        cmocka_unit_test(busy_and_drop),
	        cmocka_unit_test(wrong_seq_addr_and_corrupt),
	        cmocka_unit_test(one_battery_garbled),
	        cmocka_unit_test(assign_gap_measured),
	        cmocka_unit_test(silent_battery_cuts_the_chain),
	        cmocka_unit_test(open_chain),
	        cmocka_unit_test(brownout_and_reassign),
	        cmocka_unit_test(missed_reset_collides),
	        cmocka_unit_test(reply_delay),
	        cmocka_unit_test(stats_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
