/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The bus master against a scripted chain in virtual time (docs/m8bus.md 1, 3, 7). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakebus.h"

#define MS 1000ULL
static uint64_t max_u64_t(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

#define S 1000000ULL

static int setup(void **state)
{
	struct fakebus *fb = calloc(1, sizeof(*fb));
	if (!fb)
		return -1;
	*state = fb;
	return 0;
}

static int teardown(void **state)
{
	struct fakebus *fb = *state;
	m8_master_free(fb->m);
	free(fb);
	return 0;
}

static const struct fake_sent *sent(const struct fakebus *fb, long i)
{
	/* cmocka's fail is not marked noreturn: without the explicit bound,
	 * gcc -O2 -Warray-bounds sees the i = -1 path (sent(fb, n - 1)). */
	if (i < 0 || (size_t)i >= fb->n_sent) {
		fail_msg("sent(%ld) with %zu frames logged", i, fb->n_sent);
		return &fb->sent[0];
	}
	return &fb->sent[i];
}

static struct m8_bank_state bank(const struct fakebus *fb)
{
	struct m8_bank_state b;
	m8_master_bank(fb->m, &b);
	return b;
}

/* Reply time of a request with payload len answered by INFO (33 bytes). */
static uint64_t info_reply_end(const struct fakebus *fb, const struct fake_sent *s)
{
	return s->t_us + M8_WIRE_US(7 + s->f.len) + fb->reply_delay_us + M8_WIRE_US(7 + 33);
}

static void start(struct fakebus *fb, unsigned n)
{
	fake_init(fb, n);
	fake_master(fb);
}

static void assert_all_fresh(struct fakebus *fb)
{
	struct m8_bank_state b = bank(fb);
	for (unsigned a = 1; a <= b.count; a++)
		assert_true(m8_master_battery_fresh(fb->m, a, fb->now_us));
}

static void test_enumerate(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	uint64_t t0 = fb->now_us;
	fake_run_for(fb, 2 * S);

	/* RESET x3, 20 ms apart, broadcast, no payload */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sent(fb, i)->f.addr, M8_ADDR_BROADCAST);
		assert_int_equal(sent(fb, i)->f.cmd, M8_CMD_RESET);
		assert_int_equal(sent(fb, i)->f.len, 0);
		assert_int_equal(sent(fb, i)->t_us, t0 + (uint64_t)i * 20 * MS);
	}
	/* ASSIGN 1 exactly 100 ms after the last RESET's last byte */
	const struct fake_sent *a1 = sent(fb, 3);
	assert_int_equal(a1->f.addr, 0);
	assert_int_equal(a1->f.cmd, M8_CMD_ASSIGN);
	assert_int_equal(a1->f.len, 1);
	assert_int_equal(a1->f.payload[0], 1);
	assert_int_equal(a1->t_us, t0 + 40 * MS + M8_WIRE_US(7) + 100 * MS);
	/* ASSIGN n + 1 exactly 10 ms after the reply to ASSIGN n */
	for (int n = 2; n <= 4; n++) {
		const struct fake_sent *prev = sent(fb, 3 + n - 2), *cur = sent(fb, 3 + n - 1);
		assert_int_equal(cur->f.cmd, M8_CMD_ASSIGN);
		assert_int_equal(cur->f.payload[0], n);
		assert_int_equal(cur->t_us, info_reply_end(fb, prev) + 10 * MS);
	}
	/* then GET_INFO 5 must go unanswered, then every address is verified */
	assert_int_equal(sent(fb, 7)->f.addr, 5);
	assert_int_equal(sent(fb, 7)->f.cmd, M8_CMD_GET_INFO);
	assert_int_equal(sent(fb, 7)->t_us, info_reply_end(fb, sent(fb, 6)) + 10 * MS);
	for (int n = 1; n <= 4; n++) {
		assert_int_equal(sent(fb, 7 + n)->f.addr, n);
		assert_int_equal(sent(fb, 7 + n)->f.cmd, M8_CMD_GET_INFO);
	}
	assert_int_equal(sent(fb, 12)->f.cmd, M8_CMD_GET_STATUS);
	assert_int_equal(sent(fb, 12)->f.addr, 1);

	/* a new SEQ for every transmission */
	for (size_t i = 0; i < fb->n_sent; i++)
		assert_int_equal(fb->sent[i].f.seq, i & 0xFF);

	struct m8_bank_state b = bank(fb);
	assert_true(b.port_open);
	assert_true(b.enumerated);
	assert_false(b.chain_open);
	assert_false(b.enum_failed);
	assert_int_equal(b.count, 4);
	assert_string_equal(m8_master_battery(fb->m, 1)->info.serial, "HQ2402JJ001");
	assert_string_equal(m8_master_battery(fb->m, 4)->info.serial, "HQ2402JJ004");
	assert_null(m8_master_battery(fb->m, 5));
	assert_null(m8_master_battery(fb->m, 0));
	assert_int_equal(fb->events[M8_EV_ENUMERATED], 1);
	assert_int_equal(fb->events[M8_EV_FOUND], 4);
	assert_int_equal(fb->events[M8_EV_ENUM_FAILED], 0);
	assert_all_fresh(fb);
}

static void test_open_chain(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fb->open_after = 2;
	fake_run_for(fb, 3 * S);

	/* ASSIGN 3 and GET_INFO 3 unanswered exactly three times in a row */
	assert_int_equal(fake_count(fb, 0, 0, M8_CMD_ASSIGN), 2 + 3);
	long a3 = fake_find(fb, 0, 0, M8_CMD_ASSIGN);
	while (sent(fb, a3)->f.payload[0] != 3)
		a3 = fake_find(fb, (size_t)a3 + 1, 0, M8_CMD_ASSIGN);
	for (int k = 0; k < 3; k++) {
		const struct fake_sent *as = sent(fb, a3 + 2 * k), *gi = sent(fb, a3 + 2 * k + 1);
		assert_int_equal(as->f.cmd, M8_CMD_ASSIGN);
		assert_int_equal(as->f.payload[0], 3);
		assert_int_equal(gi->f.cmd, M8_CMD_GET_INFO);
		assert_int_equal(gi->f.addr, 3);
		/* 50 ms after the request's last byte, plus the 2 ms idle gap */
		assert_int_equal(gi->t_us, as->t_us + M8_WIRE_US(8) + 50 * MS + 2 * MS);
	}
	/* the n + 1 check, again to address 3 */
	assert_int_equal(sent(fb, a3 + 6)->f.cmd, M8_CMD_GET_INFO);
	assert_int_equal(sent(fb, a3 + 6)->f.addr, 3);

	struct m8_bank_state b = bank(fb);
	assert_true(b.enumerated);
	assert_true(b.chain_open);
	assert_int_equal(b.count, 2);
	assert_all_fresh(fb);
}

static void test_lost_assign_reply(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fb->bat[1].drop = 1;
	fake_run_for(fb, 2 * S);

	long a2 = 4; /* RESET x3, ASSIGN 1, ASSIGN 2 */
	assert_int_equal(sent(fb, a2)->f.cmd, M8_CMD_ASSIGN);
	assert_int_equal(sent(fb, a2)->f.payload[0], 2);
	assert_int_equal(sent(fb, a2 + 1)->f.cmd, M8_CMD_GET_INFO);
	assert_int_equal(sent(fb, a2 + 1)->f.addr, 2);
	assert_int_equal(sent(fb, a2 + 2)->f.cmd, M8_CMD_ASSIGN);
	assert_int_equal(sent(fb, a2 + 2)->f.payload[0], 3);
	assert_int_equal(sent(fb, a2 + 2)->t_us, info_reply_end(fb, sent(fb, a2 + 1)) + 10 * MS);
	assert_int_equal(fake_count(fb, 0, M8_ADDR_BROADCAST, M8_CMD_RESET), 3);
	assert_int_equal(bank(fb).count, 4);
	assert_false(bank(fb).chain_open);
	assert_string_equal(m8_master_battery(fb->m, 2)->info.serial, "HQ2402JJ002");
}

static void test_missed_reset_duplicate_address(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fake_run_for(fb, 2 * S);
	assert_int_equal(bank(fb).count, 4);

	/* Battery 2 keeps address 2 and relays: battery 3 also takes 2. */
	fb->bat[1].miss_reset = true;
	size_t from = fb->n_sent;
	m8_master_enumerate(fb->m);
	fake_run_for(fb, 3 * S);
	assert_int_equal(fb->events[M8_EV_ENUM_FAILED], 1);
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 6);
	struct m8_bank_state b = bank(fb);
	assert_true(b.enumerated);
	assert_int_equal(b.count, 4);
	assert_int_equal(b.enum_failures, 0);
	for (unsigned a = 1; a <= 4; a++)
		assert_int_equal(fb->bat[a - 1].addr, a);
	assert_all_fresh(fb);
}

static void test_missed_reset_answers_n_plus_1(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	/* Battery 1 still holds address 4 from some earlier bank. */
	fb->bat[0].addr = 4;
	fb->bat[0].miss_reset = true;
	fake_run_for(fb, 3 * S);
	assert_int_equal(fb->events[M8_EV_ENUM_FAILED], 1);
	assert_int_equal(fake_count(fb, 0, M8_ADDR_BROADCAST, M8_CMD_RESET), 6);
	assert_int_equal(bank(fb).count, 4);
	assert_string_equal(m8_master_battery(fb->m, 1)->info.serial, "HQ2402JJ001");
}

static void test_three_failures_e2(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 3);
	memcpy(fb->bat[2].serial, fb->bat[0].serial, sizeof(fb->bat[0].serial));
	fake_run_for(fb, 5 * S);

	struct m8_bank_state b = bank(fb);
	assert_true(b.enum_failed);
	assert_false(b.enumerated);
	assert_int_equal(b.enum_failures, 3);
	assert_int_equal(fake_count(fb, 0, M8_ADDR_BROADCAST, M8_CMD_RESET), 9);

	/* the fourth attempt exactly 30 s after the third failed */
	long last = fake_find(fb, 0, 0, M8_CMD_ASSIGN);
	for (long i = last; i >= 0; i = fake_find(fb, (size_t)i + 1, 0, M8_CMD_ASSIGN))
		last = i;
	uint64_t fail_at = info_reply_end(fb, sent(fb, last));
	size_t before = fb->n_sent;
	fake_run_until(fb, fail_at + 30 * S - 1);
	assert_int_equal(fb->n_sent, before);
	fake_run_until(fb, fail_at + 30 * S);
	assert_int_equal(fb->n_sent, before + 1);
	assert_int_equal(sent(fb, (long)before)->f.cmd, M8_CMD_RESET);

	/* fixed bank: the retry succeeds and clears E2 */
	memcpy(fb->bat[2].serial, "HQ2402JJ003", 12);
	fake_run_for(fb, 2 * S);
	b = bank(fb);
	assert_false(b.enum_failed);
	assert_true(b.enumerated);
	assert_int_equal(b.count, 3);
}

static void test_corrupt_reply_during_enum(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 3);
	fb->corrupt = 1;
	fake_run_for(fb, 3 * S);
	assert_int_equal(fb->events[M8_EV_ENUM_FAILED], 1);
	assert_int_equal(fake_count(fb, 0, M8_ADDR_BROADCAST, M8_CMD_RESET), 6);
	assert_true(bank(fb).enumerated);
	assert_int_equal(bank(fb).enum_failures, 0);
	assert_int_equal(bank(fb).count, 3);
}

static void test_poll_cycle(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 3);
	fake_run_for(fb, 1 * S);
	assert_true(bank(fb).enumerated);
	long first = fake_find(fb, 0, 0xFFFF, M8_CMD_GET_STATUS);
	uint64_t c0 = sent(fb, first)->t_us;
	size_t from = (size_t)first;
	fake_run_until(fb, c0 + 10 * S - 1);

	/* ten cycles, 1 s apart: each one GET_STATUS per battery, in order,
	 * then one GET_INFO in turn */
	for (int c = 0; c < 10; c++) {
		long i = fake_find(fb, from, 0xFFFF, M8_CMD_GET_STATUS);
		assert_int_equal(sent(fb, i)->t_us, c0 + (uint64_t)c * S);
		for (int a = 1; a <= 3; a++) {
			assert_int_equal(sent(fb, i + a - 1)->f.cmd, M8_CMD_GET_STATUS);
			assert_int_equal(sent(fb, i + a - 1)->f.addr, a);
		}
		assert_int_equal(sent(fb, i + 3)->f.cmd, M8_CMD_GET_INFO);
		assert_int_equal(sent(fb, i + 3)->f.addr, c % 3 + 1);
		from = (size_t)i + 4;
	}
	assert_int_equal(fake_count(fb, (size_t)first, 0xFFFF, M8_CMD_GET_STATUS), 30);
	assert_int_equal(bank(fb).cycles, 10);
	assert_true(bank(fb).last_cycle_us > 0 && bank(fb).last_cycle_us < 100 * MS);
	const struct m8_battery *b = m8_master_battery(fb->m, 2);
	assert_true(b->has_status);
	assert_int_equal(b->status.voltage_mv, 13200);
	assert_int_equal(b->stats.timeouts, 0);
	assert_true(b->stats.requests >= 10);
	assert_true(b->stats.last_reply_us > c0 + 9 * S);
}

static void test_stale_after_3s(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fake_run_for(fb, 3 * S);
	assert_all_fresh(fb);

	fb->bat[3].silent = true;
	fake_run_for(fb, 20 * MS); /* past the cycle in progress, if any */
	const struct m8_battery *b4 = m8_master_battery(fb->m, 4);
	uint64_t last = b4->status_us;
	fake_run_until(fb, last + 3 * S - 1);
	assert_true(m8_master_battery_fresh(fb->m, 4, fb->now_us));
	fake_run_until(fb, last + 3 * S);
	assert_false(m8_master_battery_fresh(fb->m, 4, fb->now_us));
	for (unsigned a = 1; a <= 3; a++)
		assert_true(m8_master_battery_fresh(fb->m, a, fb->now_us));
	assert_int_equal(b4->status_us, last);
	assert_true(b4->stats.timeouts >= 4);
	assert_true(b4->lost);
	assert_int_equal(fb->events[M8_EV_LOST], 1);

	/* lost: probed once every 5 s, not every cycle */
	size_t from = fb->n_sent;
	fake_run_for(fb, 20 * S);
	size_t probes = fake_count(fb, from, 4, M8_CMD_GET_STATUS);
	assert_true(probes >= 3 && probes <= 5);
	assert_int_equal(fake_count(fb, from, 1, M8_CMD_GET_STATUS), 20);
	for (unsigned a = 1; a <= 3; a++)
		assert_true(m8_master_battery_fresh(fb->m, a, fb->now_us));
	assert_true(bank(fb).chain_open); /* the battery with CHAIN_END is gone */

	fb->bat[3].silent = false;
	fake_run_for(fb, 6 * S);
	assert_all_fresh(fb);
	assert_false(b4->lost);
	assert_false(bank(fb).chain_open);
}

static void test_lost_after_two_cycles(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 2);
	fake_run_for(fb, 2 * S);
	long i = fake_find(fb, 0, 2, M8_CMD_GET_STATUS);
	uint64_t c0 = sent(fb, i)->t_us - (sent(fb, i)->t_us - sent(fb, i - 1)->t_us);
	(void)c0;
	const struct m8_battery *b = m8_master_battery(fb->m, 2);

	/* one cycle with both tries lost: not lost yet, still polled */
	fb->bat[1].drop = 2;
	size_t from = fb->n_sent;
	fake_run_for(fb, 1 * S);
	assert_int_equal(b->miss_cycles, 1);
	assert_false(b->lost);
	assert_int_equal(fake_count(fb, from, 2, M8_CMD_GET_STATUS), 2);
	/* answered again: the count starts over */
	fake_run_for(fb, 1 * S);
	assert_int_equal(b->miss_cycles, 0);
	/* two cycles running: lost */
	fb->bat[1].drop = 4;
	fake_run_for(fb, 1 * S);
	assert_false(b->lost);
	fake_run_for(fb, 1 * S);
	assert_true(b->lost);
	assert_int_equal(fb->events[M8_EV_LOST], 1);
}

static void test_retry_once(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 2);
	fake_run_for(fb, 2 * S);
	fb->bat[0].drop = 1;
	size_t from = fb->n_sent;
	fake_run_for(fb, 1 * S);
	long a = fake_find(fb, from, 1, M8_CMD_GET_STATUS);
	long b = fake_find(fb, (size_t)a + 1, 0xFFFF, M8_CMD_GET_STATUS);
	assert_int_equal(sent(fb, b)->f.addr, 1);
	assert_int_equal(sent(fb, b)->t_us, sent(fb, a)->t_us + M8_WIRE_US(7) + 52 * MS);
	assert_int_not_equal(sent(fb, b)->f.seq, sent(fb, a)->f.seq);
	assert_int_equal(m8_master_battery(fb->m, 1)->stats.timeouts, 1);
	assert_int_equal(m8_master_battery(fb->m, 1)->miss_cycles, 0);
	assert_all_fresh(fb);
}

static void test_wrong_seq_and_addr_ignored(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 2);
	fake_run_for(fb, 2 * S);
	const struct m8_battery *b1 = m8_master_battery(fb->m, 1);
	uint64_t before = b1->status_us;

	fb->wrong_seq = 1;
	size_t from = fb->n_sent;
	fake_run_for(fb, 1 * S);
	/* the reply with the wrong SEQ was discarded: a timeout, then a retry
	 * after the gap */
	assert_int_equal(b1->stats.timeouts, 1);
	assert_int_equal(fake_count(fb, from, 1, M8_CMD_GET_STATUS), 2);
	assert_true(b1->status_us > before);

	/* wrong ADDR: battery 1's reply claims address 2 */
	fb->wrong_addr = 1;
	from = fb->n_sent;
	fake_run_for(fb, 1 * S);
	assert_int_equal(b1->stats.timeouts, 2);
	assert_int_equal(fake_count(fb, from, 1, M8_CMD_GET_STATUS), 2);
	assert_int_equal(m8_master_battery(fb->m, 2)->stats.timeouts, 0);
	assert_all_fresh(fb);
}

static void test_garbage_gap(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 2);
	fake_run_for(fb, 2 * S);
	fb->garbage_before = true;
	size_t from = fb->n_sent;
	fake_run_for(fb, 1 * S);
	long a = fake_find(fb, from, 1, M8_CMD_GET_STATUS);
	long b = a + 1;
	/* the reply came (with a junk byte in front) and counted; the next
	 * request waited 2 ms of idle line */
	uint64_t reply_end = sent(fb, a)->t_us + M8_WIRE_US(7) + fb->reply_delay_us +
	                     M8_WIRE_US(7 + m8_status_len(4, 4)) + M8_WIRE_US(1);
	(void)reply_end;
	assert_int_equal(sent(fb, b)->f.addr, 2);
	uint64_t rx_at = sent(fb, a)->t_us + M8_WIRE_US(7) + fb->reply_delay_us +
	                 M8_WIRE_US(7 + m8_status_len(4, 4));
	assert_int_equal(sent(fb, b)->t_us, rx_at + 2 * MS);
	assert_int_equal(m8_master_parser_stats(fb->m)->garbage_bytes, 1);
	assert_int_equal(m8_master_battery(fb->m, 1)->stats.timeouts, 0);
	assert_all_fresh(fb);
}

static void test_corrupt_reply_retried(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 2);
	fake_run_for(fb, 2 * S);
	fb->corrupt = 1;
	size_t from = fb->n_sent;
	fake_run_for(fb, 1 * S);
	const struct m8_battery *b1 = m8_master_battery(fb->m, 1);
	assert_int_equal(b1->stats.crc_errors, 1);
	assert_int_equal(fake_count(fb, from, 1, M8_CMD_GET_STATUS), 2);
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 0);
	assert_all_fresh(fb);
}

static void test_nak_busy(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 2);
	fake_run_for(fb, 2 * S);
	fb->bat[0].busy = 3;
	size_t from = fb->n_sent;
	fake_run_for(fb, 1 * S);
	const struct m8_battery *b1 = m8_master_battery(fb->m, 1);
	assert_int_equal(b1->stats.naks, 3);
	assert_int_equal(fake_count(fb, from, 1, M8_CMD_GET_STATUS), 4);
	long a = fake_find(fb, from, 1, M8_CMD_GET_STATUS);
	long r = fake_find(fb, (size_t)a + 1, 1, M8_CMD_GET_STATUS);
	uint64_t nak_at = sent(fb, a)->t_us + M8_WIRE_US(7) + fb->reply_delay_us + M8_WIRE_US(9);
	assert_int_equal(sent(fb, r)->t_us, nak_at + 50 * MS);
	/* battery 2 was polled in between, not held up */
	assert_true(fake_find(fb, (size_t)a, 2, M8_CMD_GET_STATUS) < r);
	assert_all_fresh(fb);

	/* busy for ever: repeated every 50 ms for up to 5 s, then given up */
	fb->bat[0].busy = 100000;
	from = fb->n_sent;
	fake_run_for(fb, 12 * S);
	uint64_t nak_delay = M8_WIRE_US(7) + fb->reply_delay_us + M8_WIRE_US(9);
	a = fake_find(fb, from, 1, M8_CMD_GET_STATUS);
	uint64_t busy_since = sent(fb, a)->t_us + nak_delay;
	/* Each repeat 50 ms after the NAK, unless its worst case would end
	 * past its cycle's 1.0 s (cycles start on the second from c0): then at
	 * the next cycle's start. None after 5 s from the first NAK. */
	uint64_t c0 = sent(fb, fake_find(fb, 0, 0xFFFF, M8_CMD_GET_STATUS))->t_us;
	uint64_t worst = M8_WIRE_US(7) + 50 * MS + M8_WIRE_US(M8_MAX_FRAME) + 2 * MS;
	uint64_t nak = busy_since;
	long last = a;
	unsigned repeats = 0, deferred = 0;
	for (;;) {
		uint64_t limit = c0 + ((nak - c0) / S + 1) * S;
		uint64_t at = nak + 50 * MS;
		if (at + worst > limit) {
			at = at > limit ? at : limit;
			deferred++;
		}
		long nx = fake_find(fb, (size_t)last + 1, 1, M8_CMD_GET_STATUS);
		assert_true(nx > last);
		if (at - busy_since > 5 * S) {
			/* given up: no repeat then; the next one is a poll */
			assert_true(sent(fb, nx)->t_us != at);
			break;
		}
		assert_int_equal(sent(fb, nx)->t_us, at);
		nak = at + nak_delay;
		last = nx;
		repeats++;
	}
	assert_true(repeats > 80);
	assert_true(deferred >= 4);
	assert_true(m8_master_battery_fresh(fb->m, 2, fb->now_us));
}

static void test_status_counts_mismatch(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 2);
	fb->bat[0].bad_status = true;
	fake_run_for(fb, 3 * S);
	const struct m8_battery *b1 = m8_master_battery(fb->m, 1);
	assert_true(b1->has_status);
	assert_int_equal(b1->status.n_cells, 3);
	assert_false(m8_master_battery_fresh(fb->m, 1, fb->now_us));
	assert_true(m8_master_battery_fresh(fb->m, 2, fb->now_us));
}

static void test_port_missing_then_appears(void **state)
{
	struct fakebus *fb = *state;
	fake_init(fb, 2);
	fb->exists = false;
	fake_master(fb);
	uint64_t t0 = fb->now_us;
	fake_run_until(fb, t0 + 3 * S - 1);
	assert_int_equal(fb->opens, 3); /* t0, +1 s, +2 s */
	assert_false(bank(fb).port_open);
	assert_int_equal(bank(fb).open_error, -ENOENT);
	assert_int_equal(m8_master_fd(fb->m), -1);
	assert_int_equal(fb->n_sent, 0);
	fb->exists = true;
	fake_run_until(fb, t0 + 5 * S);
	assert_int_equal(fb->opens, 4);
	assert_int_equal(bank(fb).open_error, 0);
	assert_true(bank(fb).enumerated);
	assert_all_fresh(fb);
}

static void test_hangup_reopen(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 3);
	fake_run_for(fb, 2 * S);
	assert_all_fresh(fb);
	fb->hangup = true;
	fb->exists = false;
	fake_run_for(fb, 10 * MS);
	assert_false(fb->open);
	assert_false(bank(fb).port_open);
	for (unsigned a = 1; a <= 3; a++)
		assert_false(m8_master_battery_fresh(fb->m, a, fb->now_us));
	size_t from = fb->n_sent;
	fake_run_for(fb, 3 * S);
	assert_int_equal(fb->n_sent, from);
	fb->exists = true;
	fake_run_for(fb, 2 * S);
	assert_true(fb->open);
	/* addresses survive a port hang-up: polling resumes without a RESET */
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 0);
	assert_int_equal(bank(fb).count, 3);
	assert_all_fresh(fb);
}

static void test_brownout_rejoin(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fake_run_for(fb, 2 * S);
	size_t from = fb->n_sent;

	/* battery 2 loses its address (and isolates 3 and 4) and, for a
	 * while, does not even answer ASSIGN */
	fb->bat[1].addr = 0;
	fb->bat[1].silent = true;
	fake_run_for(fb, 9 * S);
	long a = fake_find(fb, from, 0, M8_CMD_ASSIGN);
	assert_true(a >= 0);
	assert_int_equal(sent(fb, a)->f.payload[0], 2);
	long b = fake_find(fb, (size_t)a + 1, 0, M8_CMD_ASSIGN);
	assert_true(b >= 0);
	assert_int_equal(sent(fb, b)->f.payload[0], 2);
	uint64_t spacing = sent(fb, b)->t_us - sent(fb, a)->t_us;
	assert_true(spacing >= 2 * S && spacing < 3 * S);
	assert_true(m8_master_battery_fresh(fb->m, 1, fb->now_us));
	for (unsigned k = 2; k <= 4; k++)
		assert_false(m8_master_battery_fresh(fb->m, k, fb->now_us));

	fb->bat[1].silent = false;
	fake_run_for(fb, 4 * S);
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 0);
	assert_int_equal(fb->bat[1].addr, 2);
	assert_all_fresh(fb);
	assert_int_equal(bank(fb).count, 4);
}

static void test_rejoin_other_serial(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 3);
	fake_run_for(fb, 2 * S);
	size_t from = fb->n_sent;
	/* battery 2 swapped for another while the bank runs */
	fb->bat[1].addr = 0;
	memcpy(fb->bat[1].serial, "OTHER0001", 10);
	fake_run_for(fb, 8 * S);
	/* not taken for the battery it had, but no RESET either: the other
	 * battery holds address 2 now and counts from its own first STATUS */
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 0);
	assert_true(bank(fb).enumerated);
	assert_int_equal(bank(fb).count, 3);
	assert_string_equal(m8_master_battery(fb->m, 2)->info.serial, "OTHER0001");
	assert_int_equal(fb->events[M8_EV_REPLACED], 1);
	assert_int_equal(fb->events[M8_EV_ENUMERATED], 1);
	assert_all_fresh(fb);
}

static void test_info_turn_catches_swap(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 3);
	fake_run_for(fb, 2 * S);
	memcpy(fb->bat[2].serial, "SWAPPED01", 10);
	fake_run_for(fb, 4 * S);
	assert_string_equal(m8_master_battery(fb->m, 3)->info.serial, "SWAPPED01");
	assert_int_equal(fb->events[M8_EV_REPLACED], 1);
}

static void test_chain_end_moves(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 3);
	fake_run_for(fb, 2 * S);
	assert_false(bank(fb).chain_open);

	/* a fourth battery is plugged in behind the third: the third's INFO
	 * loses CHAIN_END (seen by the GET_INFO turn), the chain is open, and
	 * the new battery is assigned address 4 without a RESET */
	memcpy(fb->bat[3].serial, "NEWBATT04", 10);
	fb->n = 4;
	size_t from = fb->n_sent;
	for (int i = 0; i < 400 && fb->events[M8_EV_CHAIN] == 0; i++)
		fake_run_for(fb, 10 * MS);
	assert_true(bank(fb).chain_open);
	assert_int_equal(bank(fb).count, 3);
	fake_run_for(fb, 6 * S);
	assert_int_equal(bank(fb).count, 4);
	assert_false(bank(fb).chain_open);
	assert_int_equal(fb->events[M8_EV_CHAIN], 2);
	assert_string_equal(m8_master_battery(fb->m, 4)->info.serial, "NEWBATT04");
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 0);
	assert_all_fresh(fb);
}

static void test_late_reader(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 1);
	fake_run_for(fb, 2 * S);
	const struct m8_battery *b = m8_master_battery(fb->m, 1);
	uint64_t timeouts = b->stats.timeouts;

	/* up to the next request going out */
	size_t n0 = fb->n_sent;
	while (fb->n_sent == n0)
		fake_run_until(fb, m8_master_next_deadline_us(fb->m));
	assert_int_equal(sent(fb, (long)n0)->f.cmd, M8_CMD_GET_STATUS);
	assert_true(fb->rx_len > 0);
	/* the reply came in time, but this process runs 60 ms late and first
	 * sees its timer: the reply waiting in the port still counts */
	fb->now_us = fb->rx_at_us + 60 * MS;
	m8_master_on_timeout(fb->m, fb->now_us);
	assert_int_equal(b->stats.timeouts, timeouts);
	assert_int_equal(b->status_us, fb->now_us);
}

static void test_open_chain_extended(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fb->open_after = 2;
	fake_run_for(fb, 3 * S);
	assert_true(bank(fb).chain_open);
	assert_int_equal(bank(fb).count, 2);
	fb->open_after = 0; /* the cord is repaired */
	fake_run_for(fb, 8 * S);
	assert_int_equal(bank(fb).count, 4);
	assert_false(bank(fb).chain_open);
	assert_all_fresh(fb);
	assert_string_equal(m8_master_battery(fb->m, 4)->info.serial, "HQ2402JJ004");
}

static void test_timeout_boundary(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 1);
	fake_run_for(fb, 2 * S);
	const struct m8_battery *b = m8_master_battery(fb->m, 1);
	uint64_t reply_wire = M8_WIRE_US(7 + m8_status_len(4, 4));

	/* a reply complete 1 us before the 50 ms is in time */
	fb->reply_delay_us = 50 * MS - reply_wire - 1;
	size_t from = fb->n_sent;
	fake_run_for(fb, 3 * S);
	/* (the longer INFO replies of the GET_INFO turn do time out) */
	assert_int_equal(fake_count(fb, from, 1, M8_CMD_GET_STATUS), 3);
	assert_int_equal(b->miss_cycles, 0);
	assert_true(m8_master_battery_fresh(fb->m, 1, fb->now_us));
	/* 1 us after: unanswered, and the late reply is flushed */
	fb->reply_delay_us = 50 * MS - reply_wire + 1;
	fake_run_for(fb, 3 * S);
	assert_true(b->stats.timeouts >= 4);
	assert_false(m8_master_battery_fresh(fb->m, 1, fb->now_us));
}

static void test_cycle_cut_at_1s(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 30);
	/* 45 ms replies: 30 polls take ~1.45 s, more than a cycle may last */
	fb->reply_delay_us = 45 * MS;
	fake_run_for(fb, 8 * S);
	assert_int_equal(bank(fb).count, 30);

	size_t from = fb->n_sent;
	fake_run_for(fb, 6 * S);
	/* every cycle ends its polls within 1 s of its start, and the ones left
	 * out go first in the next cycle */
	long i = fake_find(fb, from, 0xFFFF, M8_CMD_GET_INFO);
	i = fake_find(fb, (size_t)i + 1, 0xFFFF, M8_CMD_GET_STATUS);
	for (int c = 0; c < 4; c++) {
		long end = fake_find(fb, (size_t)i, 0xFFFF, M8_CMD_GET_INFO);
		assert_true(end > i);
		uint64_t t0 = sent(fb, i)->t_us;
		assert_true(sent(fb, end - 1)->t_us < t0 + 1 * S);
		assert_true(end - i >= 15 && end - i < 30);
		unsigned next_addr = sent(fb, end - 1)->f.addr % 30 + 1;
		long nx = fake_find(fb, (size_t)end + 1, 0xFFFF, M8_CMD_GET_STATUS);
		assert_int_equal(sent(fb, nx)->f.addr, next_addr);
		i = nx;
	}
	assert_all_fresh(fb);
}

/* ---- issue 13: re-joins without a RESET (item 8) ---- */

static void test_rejoin_garbled_no_reset(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fake_run_for(fb, 2 * S);
	size_t from = fb->n_sent;

	/* battery 2 browns out (isolating 3 and 4), and its answer to the
	 * re-join ASSIGN comes garbled: it took the address all the same */
	fb->bat[1].addr = 0;
	fb->bat[1].garble = 1;
	fake_run_for(fb, 8 * S);
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 0);
	long a = fake_find(fb, from, 0, M8_CMD_ASSIGN);
	assert_true(a >= 0);
	assert_int_equal(sent(fb, a)->f.payload[0], 2);
	/* who holds 2 now is asked, not guessed */
	assert_int_equal(sent(fb, a + 1)->f.cmd, M8_CMD_GET_INFO);
	assert_int_equal(sent(fb, a + 1)->f.addr, 2);
	assert_int_equal(fake_count(fb, from, 0, M8_CMD_ASSIGN), 1);
	assert_int_equal(fb->bat[1].addr, 2);
	assert_int_equal(bank(fb).count, 4);
	assert_int_equal(fb->events[M8_EV_ENUMERATED], 1);
	assert_all_fresh(fb);
}

static void test_rejoin_nak_no_reset(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fake_run_for(fb, 2 * S);
	size_t from = fb->n_sent;

	/* battery 2 browns out and refuses its first re-join ASSIGN */
	fb->bat[1].addr = 0;
	fb->bat[1].nak = 1;
	fake_run_for(fb, 10 * S);
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 0);
	long a = fake_find(fb, from, 0, M8_CMD_ASSIGN);
	long b = fake_find(fb, (size_t)a + 1, 0, M8_CMD_ASSIGN);
	assert_true(a >= 0 && b > a);
	/* tried again at the re-join pace */
	uint64_t spacing = sent(fb, b)->t_us - sent(fb, a)->t_us;
	assert_true(spacing >= 2 * S && spacing < 3 * S);
	assert_int_equal(m8_master_battery(fb->m, 2)->stats.naks, 1);
	assert_int_equal(fb->events[M8_EV_ENUMERATED], 1);
	assert_all_fresh(fb);
}

static void test_extend_garbled_no_reset(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fb->open_after = 2;
	fake_run_for(fb, 3 * S);
	assert_true(bank(fb).chain_open);
	assert_int_equal(bank(fb).count, 2);
	size_t from = fb->n_sent;

	/* the cord is repaired; battery 3's answer to the extending ASSIGN is
	 * garbled, then it answers GET_INFO 3 */
	fb->open_after = 0;
	fb->bat[2].garble = 1;
	fake_run_for(fb, 12 * S);
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 0);
	long a = fake_find(fb, from, 0, M8_CMD_ASSIGN);
	assert_true(a >= 0);
	assert_int_equal(sent(fb, a)->f.payload[0], 3);
	assert_int_equal(sent(fb, a + 1)->f.cmd, M8_CMD_GET_INFO);
	assert_int_equal(sent(fb, a + 1)->f.addr, 3);
	assert_int_equal(bank(fb).count, 4);
	assert_false(bank(fb).chain_open);
	assert_all_fresh(fb);
}

/* ---- issue 13: a garbled reply is an answer (item 11) ---- */

static void test_garbled_status_stays_polled(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fake_run_for(fb, 3 * S);
	const struct m8_battery *b2 = m8_master_battery(fb->m, 2);
	uint64_t last = b2->status_us;

	/* battery 2's every reply is garbled for 1.6 s, over two cycles */
	fake_run_until(fb, last + 900 * MS);
	size_t from = fb->n_sent;
	fb->bat[1].garble = 100000;
	uint64_t g0 = fb->now_us;
	while (fb->now_us < g0 + 1600 * MS) {
		fake_run_for(fb, 50 * MS);
		assert_false(b2->lost);
		assert_true(m8_master_battery_fresh(fb->m, 2, fb->now_us));
	}
	fb->bat[1].garble = 0;
	uint64_t g1 = fb->now_us;
	/* polled every cycle (with its retry), never demoted, no re-join */
	assert_int_equal(fake_count(fb, from, 2, M8_CMD_GET_STATUS), 4);
	assert_true(b2->stats.crc_errors >= 4);
	assert_int_equal(fb->events[M8_EV_LOST], 0);
	assert_int_equal(fake_count(fb, from, 0, M8_CMD_ASSIGN), 0);
	/* fresh again at the first good reply, in the next cycle */
	fake_run_until(fb, g1 + 1 * S);
	assert_true(b2->status_us > g1);
	assert_true(m8_master_battery_fresh(fb->m, 2, fb->now_us));
	assert_all_fresh(fb);
}

static void test_garbled_status_staleness(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 2);
	fake_run_for(fb, 3 * S);
	const struct m8_battery *b2 = m8_master_battery(fb->m, 2);
	uint64_t last = b2->status_us;
	size_t from = fb->n_sent;

	/* garbled for 5.5 s: the data ages from the last valid STATUS */
	fb->bat[1].garble = 100000;
	fake_run_until(fb, last + 3 * S - 1);
	assert_true(m8_master_battery_fresh(fb->m, 2, fb->now_us));
	fake_run_until(fb, last + 3 * S);
	assert_false(m8_master_battery_fresh(fb->m, 2, fb->now_us));
	fake_run_until(fb, last + 5500 * MS);
	assert_false(m8_master_battery_fresh(fb->m, 2, fb->now_us));
	assert_int_equal(b2->status_us, last);
	assert_false(b2->lost);
	assert_int_equal(fb->events[M8_EV_LOST], 0);
	/* every cycle, not once in 5 s; and it holds its address: no ASSIGN */
	assert_int_equal(fake_count(fb, from, 2, M8_CMD_GET_STATUS), 2 * 5);
	assert_int_equal(fake_count(fb, from, 0, M8_CMD_ASSIGN), 0);

	fb->bat[1].garble = 0;
	uint64_t g1 = fb->now_us;
	fake_run_until(fb, g1 + 1 * S);
	assert_true(b2->status_us > g1);
	assert_all_fresh(fb);
}

static void test_noisy_bus_never_demotes(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fake_run_for(fb, 3 * S);
	size_t from = fb->n_sent;

	/* A third of all replies garbled (about 1 % of the bytes) for 10 min:
	 * every battery answers every request, so none is ever demoted to the
	 * 5 s probe, and each is asked every cycle. */
	fb->garble_pm = 333;
	fb->rng = 13;
	uint64_t stale_samples = 0;
	for (int i = 0; i < 6000; i++) {
		fake_run_for(fb, 100 * MS);
		for (unsigned a = 1; a <= 4; a++)
			stale_samples += !m8_master_battery_fresh(fb->m, a, fb->now_us);
	}
	assert_int_equal(fb->events[M8_EV_LOST], 0);
	for (unsigned a = 1; a <= 4; a++) {
		assert_true(fake_count(fb, from, a, M8_CMD_GET_STATUS) >= 600);
		assert_true(m8_master_battery(fb->m, a)->stats.crc_errors > 100);
	}
	assert_int_equal(fake_count(fb, from, 0, M8_CMD_ASSIGN), 0);
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 0);
	print_message("stale: %llu battery-samples of 100 ms in 10 min\n",
	              (unsigned long long)stale_samples);
}

/* ---- issue 13: a cycle's traffic stays inside 1.0 s (item 9) ---- */

/* When request i's exchange ended on the wire: its reply's last byte, or
 * the 50 ms after its last byte that make it unanswered. */
static uint64_t exchange_end(const struct fakebus *fb, size_t i)
{
	const struct fake_sent *s = &fb->sent[i];
	if (s->reply_end_us)
		return s->reply_end_us;
	return s->t_us + M8_WIRE_US(7 + s->f.len) + 50 * MS;
}

/*
 * Poll cycles start every second on the second (the first GET_STATUS after
 * the enumeration set the beat). From request `from` on, every second must
 * begin with a request at its very start (the cycle before it is over), and
 * every exchange must end within the second it started in. Returns the
 * seconds checked.
 */
static unsigned assert_cycles_bounded(const struct fakebus *fb, size_t from)
{
	uint64_t c0 = sent(fb, fake_find(fb, 0, 0xFFFF, M8_CMD_GET_STATUS))->t_us;
	uint64_t start = UINT64_MAX;
	unsigned seconds = 0;
	size_t i0 = from;
	while (from < fb->n_sent && (fb->sent[from].t_us - c0) % S != 0)
		from++; /* to the first request of a cycle */
	if (from == fb->n_sent)
		fail_msg("no cycle starts on the second after request %zu: the cycles drift", i0);
	for (size_t i = from; i < fb->n_sent; i++) {
		const struct fake_sent *s = &fb->sent[i];
		uint64_t second = c0 + (s->t_us - c0) / S * S;
		if (second != start) {
			if (s->t_us != second)
				fail_msg("the cycle of second %llu starts %llu us late",
				         (unsigned long long)((second - c0) / S),
				         (unsigned long long)(s->t_us - second));
			start = second;
			seconds++;
		}
		if (exchange_end(fb, i) > start + 1 * S)
			fail_msg("request %zu (addr %u cmd 0x%02x) ends %llu us after its cycle's "
			         "start",
			         i, s->f.addr, s->f.cmd,
			         (unsigned long long)(exchange_end(fb, i) - start));
	}
	return seconds;
}

static void test_cycle_bound_all_traffic(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 30);
	/* 45 ms replies: the polls alone fill a cycle */
	fb->reply_delay_us = 45 * MS;
	fake_run_for(fb, 8 * S);
	assert_int_equal(bank(fb).count, 30);
	size_t from = fb->n_sent;

	/* retries, a battery that goes quiet (probes, re-join ASSIGNs) and
	 * the GET_INFO turn on top */
	fb->bat[6].drop = 3;
	fb->bat[12].drop = 1;
	fb->bat[29].silent = true;
	fake_run_for(fb, 10 * S);
	assert_true(assert_cycles_bounded(fb, from) >= 9);
	assert_true(fake_count(fb, from, 0, M8_CMD_ASSIGN) >= 1);
	assert_true(fake_count(fb, from, 0xFFFF, M8_CMD_GET_INFO) >= 9);
	for (unsigned a = 1; a <= 29; a++)
		assert_true(m8_master_battery_fresh(fb->m, a, fb->now_us));
}

static void test_cycle_bound_busy_and_queue(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 12);
	fb->reply_delay_us = 40 * MS;
	fake_run_for(fb, 4 * S);
	assert_int_equal(bank(fb).count, 12);
	size_t from = fb->n_sent;

	/* NAK busy for 2 s, and a queue kept full of requests that use the
	 * time left in each cycle */
	fb->bat[3].busy = 30;
	uint8_t secs = 1;
	unsigned queued = 0;
	for (int t = 0; t < 60; t++) {
		while (m8_master_submit(fb->m, 5, M8_CMD_IDENTIFY, &secs, 1, 2, NULL, NULL) == 0)
			queued++;
		fake_run_for(fb, 100 * MS);
	}
	assert_true(assert_cycles_bounded(fb, from) >= 5);
	/* they did use the spare time */
	assert_true(fake_count(fb, from, 5, M8_CMD_IDENTIFY) >= 20);
	assert_true(queued >= 20);
	assert_all_fresh(fb);
}

/* ---- issue 16: continuous polling, held to a minimum period ---- */

#define MAX_STARTS 256

/* Cycle starts from request `from` on: a GET_STATUS that follows anything
 * but a GET_STATUS (a cycle is its polls with their retries and probes,
 * then GET_INFO, a due ASSIGN and the queue's turn). */
static size_t cycle_starts(const struct fakebus *fb, size_t from, size_t *idx)
{
	size_t n = 0;
	for (size_t i = from + 1; i < fb->n_sent && n < MAX_STARTS; i++)
		if (fb->sent[i].f.cmd == M8_CMD_GET_STATUS &&
		    fb->sent[i - 1].f.cmd != M8_CMD_GET_STATUS)
			idx[n++] = i;
	return n;
}

/* Between consecutive starts: at least the minimum period, every exchange
 * over within 1.0 s of its cycle's start, and the next cycle goes out at
 * the latest 1 ms after the previous one's last exchange once the minimum
 * period is over (continuous). Returns the number of cycles checked. */
static size_t assert_continuous(const struct fakebus *fb, size_t from, uint64_t min_period_us)
{
	size_t idx[MAX_STARTS];
	size_t n = cycle_starts(fb, from, idx);
	for (size_t k = 0; k + 1 < n; k++) {
		uint64_t t0 = fb->sent[idx[k]].t_us, t1 = fb->sent[idx[k + 1]].t_us;
		uint64_t last_end = 0;
		if (t1 - t0 < min_period_us)
			fail_msg("cycle %zu lasted %llu us, less than the minimum period", k,
			         (unsigned long long)(t1 - t0));
		for (size_t i = idx[k]; i < idx[k + 1]; i++) {
			uint64_t e = exchange_end(fb, i);
			if (e > t0 + 1 * S)
				fail_msg("request %zu (addr %u cmd 0x%02x) ends %llu us after its "
				         "cycle's start",
				         i, fb->sent[i].f.addr, fb->sent[i].f.cmd,
				         (unsigned long long)(e - t0));
			last_end = max_u64_t(last_end, e);
		}
		uint64_t due = max_u64_t(t0 + min_period_us, last_end);
		if (t1 > due + 1 * MS)
			fail_msg("cycle %zu starts %llu us after it was due", k + 1,
			         (unsigned long long)(t1 - due));
	}
	return n > 0 ? n - 1 : 0;
}

static void test_continuous_50(void **state)
{
	struct fakebus *fb = *state;
	fake_init(fb, 50);
	fb->cycle_period_us = 100 * MS;
	fake_master(fb);
	fb->reply_delay_us = 10 * MS;
	fake_run_for(fb, 8 * S);
	assert_int_equal(bank(fb).count, 50);
	size_t from = fb->n_sent;
	fake_run_for(fb, 5 * S);

	size_t idx[MAX_STARTS];
	size_t n = cycle_starts(fb, from, idx);
	assert_true(n >= 6);
	assert_true(assert_continuous(fb, from, 100 * MS) >= 5);
	/* every cycle polls each of the 50 once, then one GET_INFO */
	for (size_t k = 0; k + 1 < n; k++) {
		unsigned seen[51] = {0};
		size_t polls = 0;
		for (size_t i = idx[k]; i < idx[k + 1]; i++) {
			if (fb->sent[i].f.cmd != M8_CMD_GET_STATUS)
				continue;
			seen[fb->sent[i].f.addr]++;
			polls++;
		}
		assert_int_equal(polls, 50);
		for (unsigned a = 1; a <= 50; a++)
			assert_int_equal(seen[a], 1);
		assert_int_equal(fb->sent[idx[k + 1] - 1].f.cmd, M8_CMD_GET_INFO);
	}
	struct m8_bank_state b = bank(fb);
	assert_true(b.last_period_us >= 100 * MS && b.last_period_us < 1 * S);
	assert_true(b.statuses >= 5 * 50);
	assert_all_fresh(fb);
}

static void test_min_period_with_extras(void **state)
{
	struct fakebus *fb = *state;
	fake_init(fb, 4);
	fb->cycle_period_us = 100 * MS;
	fake_master(fb);
	fb->reply_delay_us = 1 * MS;
	fake_run_for(fb, 3 * S);
	assert_int_equal(bank(fb).count, 4);
	size_t from = fb->n_sent;

	/* retries, a battery that goes quiet for good (probes, re-join
	 * ASSIGNs), GET_INFO each cycle and a queued request now and then */
	fb->bat[1].drop = 3;
	fb->bat[3].silent = true;
	uint8_t secs = 1;
	unsigned queued = 0;
	for (int t = 0; t < 80; t++) {
		if (t % 4 == 0 &&
		    m8_master_submit(fb->m, 3, M8_CMD_IDENTIFY, &secs, 1, 1, NULL, NULL) == 0)
			queued++;
		fake_run_for(fb, 100 * MS);
	}
	/* short cycles: they start every 100 ms exactly, but for the ones a
	 * timeout made longer (assert_continuous() checks those) */
	size_t idx[MAX_STARTS];
	size_t n = cycle_starts(fb, from, idx), exact = 0;
	assert_true(assert_continuous(fb, from, 100 * MS) >= 50);
	for (size_t k = 0; k + 1 < n; k++)
		exact += fb->sent[idx[k + 1]].t_us - fb->sent[idx[k]].t_us == 100 * MS;
	assert_true(exact >= 40);
	assert_true(fake_count(fb, from, 0xFFFF, M8_CMD_GET_INFO) >= 60);
	assert_true(fake_count(fb, from, 0, M8_CMD_ASSIGN) >= 2);
	assert_true(fake_count(fb, from, 3, M8_CMD_IDENTIFY) >= 15);
	assert_true(queued >= 15);
	/* probed at the 5 s pace once lost, not every cycle */
	assert_true(m8_master_battery(fb->m, 4)->lost);
	assert_true(fake_count(fb, from, 4, M8_CMD_GET_STATUS) <= 10 * 2 + 3);
	for (unsigned a = 1; a <= 3; a++)
		assert_true(m8_master_battery_fresh(fb->m, a, fb->now_us));
}

static void test_long_cycles_cut_at_1s(void **state)
{
	struct fakebus *fb = *state;
	fake_init(fb, 30);
	fb->cycle_period_us = 100 * MS;
	fake_master(fb);
	/* 45 ms replies: 30 polls take ~1.45 s, more than a cycle may last */
	fb->reply_delay_us = 45 * MS;
	fake_run_for(fb, 8 * S);
	assert_int_equal(bank(fb).count, 30);
	size_t from = fb->n_sent;
	fb->bat[6].drop = 3;
	fb->bat[29].silent = true;
	uint8_t secs = 1;
	for (int t = 0; t < 80; t++) {
		(void)m8_master_submit(fb->m, 5, M8_CMD_IDENTIFY, &secs, 1, 1, NULL, NULL);
		fake_run_for(fb, 100 * MS);
	}
	assert_true(assert_continuous(fb, from, 100 * MS) >= 6);
	/* the queue still gets its turn in back-to-back cycles */
	assert_true(fake_count(fb, from, 5, M8_CMD_IDENTIFY) >= 6);
	for (unsigned a = 1; a <= 29; a++)
		assert_true(m8_master_battery_fresh(fb->m, a, fb->now_us));
}

/* Fast cycles: two of them unanswered are not yet "lost" (probed every 5 s,
 * so stale at 3 s); it takes 1 s of silence as well. */
static void test_lost_needs_a_second(void **state)
{
	struct fakebus *fb = *state;
	fake_init(fb, 2);
	fb->cycle_period_us = 100 * MS;
	fake_master(fb);
	fake_run_for(fb, 2 * S);
	const struct m8_battery *b = m8_master_battery(fb->m, 2);
	/* silent for 0.5 s: five cycles missed, still polled each cycle */
	fb->bat[1].drop = 10;
	size_t from = fb->n_sent;
	fake_run_for(fb, 500 * MS);
	assert_true(b->miss_cycles >= 3);
	assert_false(b->lost);
	assert_int_equal(fb->events[M8_EV_LOST], 0);
	fb->bat[1].drop = 0;
	fake_run_for(fb, 300 * MS);
	assert_int_equal(b->miss_cycles, 0);
	assert_true(m8_master_battery_fresh(fb->m, 2, fb->now_us));
	assert_true(fake_count(fb, from, 2, M8_CMD_GET_STATUS) >= 8);
	/* silent for good: lost after 1 s */
	fb->bat[1].silent = true;
	fake_run_for(fb, 1200 * MS);
	assert_true(b->lost);
	assert_int_equal(fb->events[M8_EV_LOST], 1);
}

/* ---- issue 13: gaps timed from the wire, not the loop's wake-up (15) ---- */

static void assert_wire_gaps(const struct fakebus *fb, size_t from)
{
	uint64_t last_reply = 0, last_reset = 0, reset_end = 0;
	for (size_t i = from; i < fb->n_sent; i++) {
		const struct fake_sent *s = &fb->sent[i];
		if (s->f.cmd == M8_CMD_RESET) {
			if (last_reset)
				assert_true(s->t_us - last_reset >= 20 * MS);
			last_reset = s->t_us;
			reset_end = s->t_us + M8_WIRE_US(7);
		}
		if (s->f.cmd == M8_CMD_ASSIGN) {
			if (last_reply && s->t_us < last_reply + 10 * MS)
				fail_msg("ASSIGN %zu went out %llu us after the reply before it", i,
				         (unsigned long long)(s->t_us - last_reply));
			if (reset_end)
				assert_true(s->t_us >= reset_end + 100 * MS);
			reset_end = 0;
		}
		if (s->reply_end_us)
			last_reply = s->reply_end_us;
	}
}

static void test_gaps_from_the_wire(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	/* every third call of the master comes 6 ms after its loop read the
	 * clock */
	fb->lag_us[0] = 6 * MS;
	fb->lag_us[1] = 0;
	fb->lag_us[2] = 0;
	fb->n_lag = 3;
	fake_run_for(fb, 3 * S);
	assert_int_equal(bank(fb).count, 4);
	assert_int_equal(fake_count(fb, 0, M8_ADDR_BROADCAST, M8_CMD_RESET), 3);
	assert_wire_gaps(fb, 0);

	/* the loop's time can be behind the port's stamps: age 0, fresh */
	const struct m8_battery *b1 = m8_master_battery(fb->m, 1);
	assert_true(m8_master_battery_fresh(fb->m, 1, b1->status_us - 6 * MS));

	/* an installer's RESET, with the lags falling elsewhere */
	fb->lag_i = 1;
	size_t from = fb->n_sent;
	m8_master_enumerate(fb->m);
	fake_run_for(fb, 3 * S);
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 3);
	assert_wire_gaps(fb, from);
	assert_all_fresh(fb);
}

static void test_rejoin_assign_gap(void **state)
{
	struct fakebus *fb = *state;
	start(fb, 4);
	fake_run_for(fb, 2 * S);
	/* a re-join ASSIGN follows the cycle's GET_INFO reply: 10 ms after it */
	size_t from = fb->n_sent;
	fb->bat[1].addr = 0;
	fake_run_for(fb, 6 * S);
	assert_true(fake_count(fb, from, 0, M8_CMD_ASSIGN) >= 1);
	assert_wire_gaps(fb, from);
	assert_int_equal(fake_count(fb, from, M8_ADDR_BROADCAST, M8_CMD_RESET), 0);
	assert_all_fresh(fb);
}

struct req_result {
	int calls, result;
	uint8_t cmd;
};

static void on_reply(void *userdata, int result, const struct m8_frame *reply)
{
	struct req_result *r = userdata;
	r->calls++;
	r->result = result;
	r->cmd = reply ? reply->cmd : 0;
}

static void test_submit(void **state)
{
	struct fakebus *fb = *state;
	struct req_result r = {0};
	uint8_t secs = 5;

	start(fb, 2);
	assert_int_equal(m8_master_submit(fb->m, 1, M8_CMD_IDENTIFY, &secs, 1, 2, on_reply, &r),
	                 -ENOTCONN);
	fake_run_for(fb, 2 * S);
	assert_int_equal(m8_master_submit(fb->m, 0, M8_CMD_IDENTIFY, &secs, 1, 2, on_reply, &r),
	                 -EINVAL);
	assert_int_equal(m8_master_submit(fb->m, 3, M8_CMD_IDENTIFY, &secs, 1, 2, on_reply, &r),
	                 -ENOTCONN);
	assert_int_equal(m8_master_submit(fb->m, 2, M8_CMD_IDENTIFY, &secs, 1, 2, on_reply, &r), 0);
	size_t q0 = fb->n_sent;
	fake_run_for(fb, 1 * S);
	assert_int_equal(r.calls, 1);
	/* not inside a cycle's polls: after its GET_INFO or before its first */
	long id = fake_find(fb, q0, 2, M8_CMD_IDENTIFY);
	assert_true(id >= 0);
	assert_true(id == (long)q0 || sent(fb, id - 1)->f.cmd == M8_CMD_GET_INFO);
	assert_int_equal(r.result, 0);
	assert_int_equal(r.cmd, M8_CMD_IDENTIFY | M8_REPLY_BIT);

	/* FW_END is sent once, never repeated */
	fb->bat[1].drop = 5;
	memset(&r, 0, sizeof(r));
	size_t from = fb->n_sent;
	assert_int_equal(m8_master_submit(fb->m, 2, M8_CMD_FW_END, NULL, 0, 1, on_reply, &r), 0);
	fake_run_for(fb, 1 * S);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, -ETIMEDOUT);
	assert_int_equal(fake_count(fb, from, 2, M8_CMD_FW_END), 1);

	/* a full queue refuses */
	int rc = 0, queued = 0;
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 20 && rc == 0; i++) {
		rc = m8_master_submit(fb->m, 1, M8_CMD_IDENTIFY, &secs, 1, 1, on_reply, &r);
		queued += rc == 0;
	}
	assert_int_equal(rc, -EBUSY);
	assert_true(queued > 0);
	assert_int_equal(r.calls, 0);

	/* freeing the master cancels every queued request through its callback
	 * (here, while r still exists: the teardown would be too late) */
	fb->m = m8_master_free(fb->m);
	assert_int_equal(r.calls, queued);
	assert_int_equal(r.result, -ECANCELED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_enumerate, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_open_chain, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lost_assign_reply, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_missed_reset_duplicate_address, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_missed_reset_answers_n_plus_1, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_three_failures_e2, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_corrupt_reply_during_enum, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_poll_cycle, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stale_after_3s, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lost_after_two_cycles, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_retry_once, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wrong_seq_and_addr_ignored, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_garbage_gap, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_corrupt_reply_retried, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_nak_busy, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_status_counts_mismatch, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_port_missing_then_appears, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_hangup_reopen, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_brownout_rejoin, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rejoin_other_serial, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_info_turn_catches_swap, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_open_chain_extended, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chain_end_moves, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_late_reader, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_submit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeout_boundary, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cycle_cut_at_1s, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rejoin_garbled_no_reset, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rejoin_nak_no_reset, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_extend_garbled_no_reset, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_garbled_status_stays_polled, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_garbled_status_staleness, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_noisy_bus_never_demotes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cycle_bound_all_traffic, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cycle_bound_busy_and_queue, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_gaps_from_the_wire, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_continuous_50, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_min_period_with_extras, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_long_cycles_cut_at_1s, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lost_needs_a_second, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rejoin_assign_gap, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
