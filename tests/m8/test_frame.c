/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Frame codec and parser resynchronisation (docs/m8bus.md section 2). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smallbms/m8_proto.h"

struct sink {
	struct m8_frame frames[8];
	size_t count;
};

static void on_frame(const struct m8_frame *f, void *userdata)
{
	struct sink *s = userdata;
	assert_true(s->count < 8);
	s->frames[s->count++] = *f;
}

static int encode(uint8_t addr, uint8_t cmd, uint8_t seq, const uint8_t *payload, uint8_t len,
                  uint8_t *out)
{
	struct m8_frame f = {.addr = addr, .cmd = cmd, .seq = seq, .len = len};
	if (len)
		memcpy(f.payload, payload, len);
	return m8_frame_encode(&f, out, M8_MAX_FRAME);
}

static void test_crc_check_value(void **state)
{
	const uint8_t s[] = "123456789";
	assert_int_equal(m8_crc16(s, 9), 0x29B1);
	uint16_t c = m8_crc16_update(0xFFFF, s, 4);
	assert_int_equal(m8_crc16_update(c, s + 4, 5), 0x29B1);
	assert_int_equal(m8_crc16(s, 0), 0xFFFF);
}

static void test_vectors(void **state)
{
	uint8_t out[M8_MAX_FRAME];
	const uint8_t status[] = {0xA5, 0x01, 0x04, 0x00, 0x00, 0xB4, 0x2E};
	const uint8_t assign[] = {0xA5, 0x00, 0x02, 0x00, 0x01, 0x01, 0x74, 0xDF};
	uint8_t one = 1;

	assert_int_equal(encode(1, M8_CMD_GET_STATUS, 0, NULL, 0, out), 7);
	assert_memory_equal(out, status, 7);
	assert_int_equal(encode(0, M8_CMD_ASSIGN, 0, &one, 1, out), 8);
	assert_memory_equal(out, assign, 8);

	struct m8_parser p;
	struct sink s = {0};
	m8_parser_init(&p);
	m8_parser_feed(&p, status, sizeof(status), on_frame, &s);
	m8_parser_feed(&p, assign, sizeof(assign), on_frame, &s);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.frames[0].addr, 1);
	assert_int_equal(s.frames[0].cmd, M8_CMD_GET_STATUS);
	assert_int_equal(s.frames[0].seq, 0);
	assert_int_equal(s.frames[0].len, 0);
	assert_int_equal(s.frames[1].addr, 0);
	assert_int_equal(s.frames[1].cmd, M8_CMD_ASSIGN);
	assert_int_equal(s.frames[1].len, 1);
	assert_int_equal(s.frames[1].payload[0], 1);
	assert_int_equal(p.stats.frames, 2);
	assert_int_equal(p.stats.crc_errors, 0);
	assert_int_equal(p.stats.garbage_bytes, 0);
}

static void test_encode_limits(void **state)
{
	struct m8_frame f = {.addr = 1, .cmd = 0x11, .seq = 7, .len = 248};
	uint8_t out[M8_MAX_FRAME];

	for (int i = 0; i < 248; i++)
		f.payload[i] = (uint8_t)i;
	assert_int_equal(m8_frame_encode(&f, out, sizeof(out)), 255);
	assert_int_equal(m8_frame_encode(&f, out, 254), -ENOBUFS);
	f.len = 249;
	assert_int_equal(m8_frame_encode(&f, out, sizeof(out)), -EINVAL);

	/* The largest frame round-trips with every field intact. */
	f.len = 248;
	struct m8_parser p;
	struct sink s = {0};
	m8_parser_init(&p);
	m8_parser_feed(&p, out, 255, on_frame, &s);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.frames[0].seq, 7);
	assert_int_equal(s.frames[0].cmd, 0x11);
	assert_int_equal(s.frames[0].len, 248);
	assert_memory_equal(s.frames[0].payload, f.payload, 248);
}

static void test_garbage_before_sof(void **state)
{
	uint8_t buf[64] = {0x00, 0x13, 0xFF, 0x5A};
	int n = encode(3, 0x84, 9, (const uint8_t *)"abc", 3, buf + 4);
	struct m8_parser p;
	struct sink s = {0};

	m8_parser_init(&p);
	m8_parser_feed(&p, buf, (size_t)n + 4, on_frame, &s);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.frames[0].addr, 3);
	assert_memory_equal(s.frames[0].payload, "abc", 3);
	assert_int_equal(p.stats.garbage_bytes, 4);
	assert_false(m8_parser_busy(&p));
}

static void test_byte_by_byte(void **state)
{
	uint8_t buf[64];
	int n = encode(0x32, 0x84, 200, (const uint8_t *)"\xA5\xA5\x00", 3, buf);
	struct m8_parser p;
	struct sink s = {0};

	m8_parser_init(&p);
	for (int i = 0; i < n; i++) {
		assert_int_equal(s.count, 0);
		m8_parser_feed(&p, buf + i, 1, on_frame, &s);
		if (i < n - 1)
			assert_true(m8_parser_busy(&p));
	}
	assert_int_equal(s.count, 1);
	assert_int_equal(s.frames[0].addr, 0x32);
	assert_int_equal(s.frames[0].seq, 200);
	assert_memory_equal(s.frames[0].payload, "\xA5\xA5\x00", 3);
}

static void test_oversized_len(void **state)
{
	/* LEN 249 is refused at once, without waiting for its payload. */
	const uint8_t bad[] = {0xA5, 0x02, 0x03, 0x04, 249};
	uint8_t good[16];
	int n = encode(1, 0x84, 5, NULL, 0, good);
	struct m8_parser p;
	struct sink s = {0};

	m8_parser_init(&p);
	m8_parser_feed(&p, bad, sizeof(bad), on_frame, &s);
	assert_int_equal(p.stats.len_errors, 1);
	assert_false(m8_parser_busy(&p));
	m8_parser_feed(&p, good, (size_t)n, on_frame, &s);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.frames[0].seq, 5);

	/* LEN 248 is legal: the parser waits for its payload. */
	const uint8_t ok[] = {0xA5, 0x02, 0x03, 0x04, 248};
	m8_parser_feed(&p, ok, sizeof(ok), on_frame, &s);
	assert_true(m8_parser_busy(&p));
	assert_int_equal(p.stats.len_errors, 1);
}

static void test_oversized_len_rescan(void **state)
{
	/* A5 10 A5 12 FA: LEN 250, discarded; the rescan starts a candidate at
	 * the second A5 (LEN = the good frame's first bytes), whose CRC fails,
	 * and the good frame behind it must still come out. */
	const uint8_t lead[] = {0xA5, 0x10, 0xA5, 0x12, 0xFA};
	uint8_t good[16];
	int n = encode(2, 0x84, 1, NULL, 0, good);
	struct m8_parser p;
	struct sink s = {0};

	m8_parser_init(&p);
	m8_parser_feed(&p, lead, sizeof(lead), on_frame, &s);
	m8_parser_feed(&p, good, (size_t)n, on_frame, &s);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.frames[0].addr, 2);
	assert_int_equal(s.frames[0].seq, 1);
	assert_int_equal(p.stats.len_errors, 1);
	assert_int_equal(p.stats.crc_errors, 1);
}

static void test_bad_crc_hidden_frame(void **state)
{
	/* A corrupted frame's SOF followed by a complete valid frame: the valid
	 * frame lies inside the corrupted candidate and must still be found. */
	uint8_t good[16];
	int g = encode(4, 0x84, 42, NULL, 0, good);
	/* Candidate: A5 01 03 07 <LEN = 7> then 7 payload bytes + 2 CRC. The
	 * payload starts with the good frame, so the candidate swallows it. */
	uint8_t in[64] = {0xA5, 0x01, 0x03, 0x07, (uint8_t)g};
	memcpy(in + 5, good, (size_t)g);
	in[5 + g] = 0x12;
	in[6 + g] = 0x34;
	size_t total = 7 + (size_t)g;
	struct m8_parser p;
	struct sink s = {0};

	m8_parser_init(&p);
	m8_parser_feed(&p, in, total, on_frame, &s);
	assert_int_equal(p.stats.crc_errors, 1);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.frames[0].addr, 4);
	assert_int_equal(s.frames[0].seq, 42);

	/* The same, byte by byte. */
	m8_parser_init(&p);
	s.count = 0;
	for (size_t i = 0; i < total; i++)
		m8_parser_feed(&p, in + i, 1, on_frame, &s);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.frames[0].seq, 42);
}

static void test_single_bit_errors(void **state)
{
	uint8_t good[32];
	int n = encode(7, 0x84, 3, (const uint8_t *)"\x01\x02\x03\x04", 4, good);
	struct m8_parser p;

	/* Every single-bit error is caught (CRC-16 detects them all); the
	 * next intact frame is delivered whatever the corruption did. */
	for (int byte = 1; byte < n; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t bad[32];
			struct sink s = {0};
			memcpy(bad, good, (size_t)n);
			bad[byte] ^= (uint8_t)(1u << bit);
			m8_parser_init(&p);
			m8_parser_feed(&p, bad, (size_t)n, on_frame, &s);
			for (size_t i = 0; i < s.count; i++)
				assert_false(s.frames[i].addr == 7 && s.frames[i].seq == 3);
			m8_parser_idle(&p);
			s.count = 0;
			m8_parser_feed(&p, good, (size_t)n, on_frame, &s);
			assert_int_equal(s.count, 1);
			assert_int_equal(s.frames[0].seq, 3);
		}
	}
}

static void test_idle_drop(void **state)
{
	uint8_t good[16];
	int n = encode(1, 0x84, 1, NULL, 0, good);
	struct m8_parser p;
	struct sink s = {0};

	m8_parser_init(&p);
	m8_parser_idle(&p);
	assert_int_equal(p.stats.idle_drops, 0);
	m8_parser_feed(&p, good, 4, on_frame, &s);
	assert_true(m8_parser_busy(&p));
	m8_parser_idle(&p);
	assert_false(m8_parser_busy(&p));
	assert_int_equal(p.stats.idle_drops, 1);
	/* The tail of the dropped frame is garbage now, then a fresh frame. */
	m8_parser_feed(&p, good + 4, (size_t)n - 4, on_frame, &s);
	assert_int_equal(s.count, 0);
	m8_parser_feed(&p, good, (size_t)n, on_frame, &s);
	assert_int_equal(s.count, 1);

	/* Without the idle drop, the partial frame would swallow the next one. */
	m8_parser_init(&p);
	s.count = 0;
	m8_parser_feed(&p, good, 4, on_frame, &s);
	m8_parser_feed(&p, good, (size_t)n, on_frame, &s);
	assert_int_equal(p.stats.idle_drops, 0);
}

static void test_back_to_back(void **state)
{
	uint8_t buf[64];
	int a = encode(1, 0x84, 1, NULL, 0, buf);
	int b = encode(2, 0x83, 2, (const uint8_t *)"x", 1, buf + a);
	struct m8_parser p;
	struct sink s = {0};

	m8_parser_init(&p);
	m8_parser_feed(&p, buf, (size_t)(a + b), on_frame, &s);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.frames[0].seq, 1);
	assert_int_equal(s.frames[1].seq, 2);
	assert_int_equal(s.frames[1].payload[0], 'x');
}

static void test_all_sof_stream(void **state)
{
	/* A line of 0xA5 never yields a frame and never overflows. */
	uint8_t in[600];
	struct m8_parser p;
	struct sink s = {0};

	memset(in, 0xA5, sizeof(in));
	m8_parser_init(&p);
	m8_parser_feed(&p, in, sizeof(in), on_frame, &s);
	assert_int_equal(s.count, 0);
	assert_true(p.have <= M8_MAX_FRAME);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_crc_check_value),
	        cmocka_unit_test(test_vectors),
	        cmocka_unit_test(test_encode_limits),
	        cmocka_unit_test(test_garbage_before_sof),
	        cmocka_unit_test(test_byte_by_byte),
	        cmocka_unit_test(test_oversized_len),
	        cmocka_unit_test(test_oversized_len_rescan),
	        cmocka_unit_test(test_bad_crc_hidden_frame),
	        cmocka_unit_test(test_single_bit_errors),
	        cmocka_unit_test(test_idle_drop),
	        cmocka_unit_test(test_back_to_back),
	        cmocka_unit_test(test_all_sof_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
