/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Rule states across a restart (docs/protection.md section 11). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "test_protection_fixture.h"

#define HEADER     48
#define RULE_BYTES 55
#define TAIL_BYTES 9

static int encode(const struct fx *f, uint8_t *buf)
{
	int n = protection_persist_encode(&f->p, f->now, buf, PROTECTION_PERSIST_MAX);

	assert_true(n > 0);
	assert_int_equal(protection_persist_check(buf, (size_t)n), 0);
	return n;
}

/* A fresh instance, as the new daemon starts it, with the saved blob. */
static void restart(struct fx *f, const uint8_t *buf, int n, uint64_t now)
{
	protection_init(&f->p, &f->s, -1);
	assert_int_equal(protection_persist_apply(&f->p, now, buf, (size_t)n, true), 0);
	assert_int_equal(protection_next_deadline_us(&f->p), now);
	f->now = now;
}

static void restart_keeps_a_closed_atd(void **state)
{
	struct fx f;
	uint8_t buf[PROTECTION_PERSIST_MAX];
	int n;

	(void)state;
	fx_start(&f, 2);
	fx_run_to(&f, T0 + S_US(10), S_US(1));
	n = encode(&f, buf);
	restart(&f, buf, n, T0 + S_US(11));
	/* The new daemon has no STATUS yet: ATD stays closed, ATC open. */
	for (unsigned b = 0; b < 2; b++)
		f.in.bat[b].has_status = false;
	fx_step_at(&f, T0 + S_US(11));
	assert_true(f.out.atd_closed);
	assert_false(f.out.atc_closed);
	assert_true(f.out.remote_on);
	fx_step_at(&f, T0 + S_US(12));
	assert_true(f.out.atd_closed);
	for (unsigned b = 0; b < 2; b++)
		f.in.bat[b].has_status = true;
	fx_step_at(&f, T0 + S_US(13));
	assert_true(f.out.atd_closed);
	/* ATC after the stale rule's 5 s of fresh data. */
	fx_run_to(&f, T0 + S_US(18), MS_US(500));
	assert_true(f.out.atc_closed);
}

static void restart_keeps_an_open_atd_and_countdowns(void **state)
{
	struct fx f, ref;
	uint8_t buf[PROTECTION_PERSIST_MAX];
	uint64_t t1;
	int n;

	(void)state;
	fx_init(&f, 1);
	fx_cells(&f, 2700);
	fx_step_at(&f, T0);
	assert_false(f.out.atd_closed);
	/* Release hold running since t1; OV countdown running. */
	t1 = T0 + S_US(5);
	fx_cells(&f, 3300);
	f.in.bat[0].cell_mv[1] = 3760;
	fx_step_at(&f, t1);
	fx_step_at(&f, t1 + MS_US(400));
	ref = f;
	n = encode(&f, buf);
	restart(&f, buf, n, t1 + MS_US(500));
	fx_step_at(&f, t1 + MS_US(500));
	assert_false(f.out.atd_closed);
	assert_true(fx_holds(&f, PROT_OUT_ATD, PROT_R_UV));
	assert_int_equal(f.out.report[PROT_OUT_ATD].holds[0].reading.value, 2700);
	assert_string_equal(f.out.report[PROT_OUT_ATD].holds[0].reading.unit, "mV");
	/* The countdowns resume where they were when saved (at t1 + 0.4 s); the
	 * 0.1 s of the restart does not count. OV trips 1 s after t1 + 0.1 s. */
	fx_step_at(&f, t1 + MS_US(1100) - 1);
	assert_false(fx_holds(&f, PROT_OUT_ATC, PROT_R_OV));
	fx_step_at(&f, t1 + MS_US(1100));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_OV));
	/* The UV release hold does not resume (rev 3, section 11: the release
	 * is seen again on fresh data): 30 s after the first step of the new
	 * instance, t1 + 0.5 s, not 30 s after t1. */
	fx_run_to(&f, t1 + MS_US(30500) - 1, MS_US(500));
	assert_false(f.out.atd_closed);
	fx_step_at(&f, t1 + MS_US(30500));
	assert_true(f.out.atd_closed);
	/* Without the restart, at t1 + 30 s. */
	fx_run_to(&ref, t1 + S_US(30), MS_US(500));
	assert_true(ref.out.atd_closed);
}

static void restart_keeps_latches(void **state)
{
	struct fx f;
	uint8_t buf[PROTECTION_PERSIST_MAX];
	int n;

	(void)state;
	fx_start(&f, 1);
	for (int i = 0; i < 3; i++) {
		f.in.bat[0].cell_mv[0] = 3800;
		fx_run_to(&f, f.now + S_US(2), MS_US(500));
		f.in.bat[0].cell_mv[0] = 3300;
		fx_run_to(&f, f.now + S_US(31), S_US(1));
	}
	assert_true(fx_code(&f, BMS_W3));
	n = encode(&f, buf);
	restart(&f, buf, n, f.now + 1);
	fx_step_at(&f, f.now + 1);
	assert_true(fx_code(&f, BMS_W3));
	assert_true(fx_holds(&f, PROT_OUT_ATC, PROT_R_OV));
}

static void encode_needs_room(void **state)
{
	struct fx f;
	uint8_t buf[PROTECTION_PERSIST_MAX];
	int n;

	(void)state;
	fx_start(&f, 1);
	n = encode(&f, buf);
	assert_int_equal(n, HEADER + PROT_RULE_COUNT * RULE_BYTES + TAIL_BYTES);
	assert_int_equal(protection_persist_encode(&f.p, f.now, buf, (size_t)n - 1), -ENOBUFS);
	assert_int_equal(protection_persist_encode(&f.p, f.now, NULL, 10), -EINVAL);
	assert_int_equal(protection_persist_apply(NULL, 0, buf, (size_t)n, true), -EINVAL);
	/* Little-endian magic first. */
	assert_memory_equal(buf, "SBPR", 4);
}

static void expect_refused(const uint8_t *blob, size_t len, int err)
{
	struct fx f;
	struct protection before;

	fx_start(&f, 1);
	fx_step_at(&f, f.now + 1);
	before = f.p;
	assert_int_equal(protection_persist_check(blob, len), err);
	assert_int_equal(protection_persist_apply(&f.p, f.now, blob, len, true), err);
	assert_memory_equal(&f.p, &before, sizeof(before));
}

static void corrupted_blobs(void **state)
{
	struct fx f;
	uint8_t buf[PROTECTION_PERSIST_MAX], bad[PROTECTION_PERSIST_MAX];
	int n;

	(void)state;
	fx_start(&f, 1);
	n = encode(&f, buf);
	expect_refused(buf, (size_t)n - 1, -EBADMSG);
	expect_refused(buf, (size_t)n + 1, -EBADMSG);
	expect_refused(NULL, (size_t)n, -EBADMSG);
	memcpy(bad, buf, (size_t)n);
	bad[0] ^= 1; /* magic */
	expect_refused(bad, (size_t)n, -EBADMSG);
	memcpy(bad, buf, (size_t)n);
	bad[4] = 3; /* version */
	expect_refused(bad, (size_t)n, -EBADMSG);
	memcpy(bad, buf, (size_t)n);
	bad[5] = PROT_RULE_COUNT + 1;
	expect_refused(bad, (size_t)n, -EBADMSG);
	memcpy(bad, buf, (size_t)n);
	bad[6] = 3; /* start phase */
	expect_refused(bad, (size_t)n, -ERANGE);
	memcpy(bad, buf, (size_t)n);
	bad[7] = 0x80; /* unknown flag */
	expect_refused(bad, (size_t)n, -ERANGE);
	for (unsigned r = 0; r < PROT_RULE_COUNT; r++) {
		size_t o = HEADER + r * RULE_BYTES;

		memcpy(bad, buf, (size_t)n);
		bad[o] = 3; /* rule phase */
		expect_refused(bad, (size_t)n, -ERANGE);
		memcpy(bad, buf, (size_t)n);
		bad[o + 1] = 8; /* rule flags */
		expect_refused(bad, (size_t)n, -ERANGE);
		memcpy(bad, buf, (size_t)n);
		bad[o + 2] = PROT_CHATTER_COUNT; /* chatter count */
		expect_refused(bad, (size_t)n, -ERANGE);
		memcpy(bad, buf, (size_t)n);
		bad[o + 51] = PROTECTION_MAX_BATTERIES; /* battery index */
		expect_refused(bad, (size_t)n, -ERANGE);
		memcpy(bad, buf, (size_t)n);
		bad[o + 53] = PROTECTION_MAX_CELLS; /* cell index */
		expect_refused(bad, (size_t)n, -ERANGE);
	}
	/* Version 2's tail: the batteries fresh at the save. */
	memcpy(bad, buf, (size_t)n);
	bad[n - TAIL_BYTES] = PROTECTION_MAX_BATTERIES + 1;
	expect_refused(bad, (size_t)n, -ERANGE);
	memcpy(bad, buf, (size_t)n);
	bad[n - TAIL_BYTES] = 1;
	bad[n - 8] = 2; /* battery 1 fresh in a bank of 1 */
	expect_refused(bad, (size_t)n, -ERANGE);
	/* A version 1 record has no tail; a version 1 header on a version 2
	 * record and the other way round are refused. */
	memcpy(bad, buf, (size_t)n);
	bad[4] = 1;
	expect_refused(bad, (size_t)n, -EBADMSG);
	expect_refused(buf, (size_t)n - TAIL_BYTES, -EBADMSG);
}

/* Any single corrupted byte: accepted whole or refused with nothing changed. */
static void byte_flips_never_half_apply(void **state)
{
	struct fx f, g;
	uint8_t buf[PROTECTION_PERSIST_MAX], bad[PROTECTION_PERSIST_MAX];
	int n;

	(void)state;
	fx_start(&f, 1);
	f.in.bat[0].cell_mv[0] = 3760;
	fx_step_at(&f, f.now + S_US(2));
	n = encode(&f, buf);
	fx_start(&g, 1);
	for (int i = 0; i < n; i++) {
		struct protection before = g.p;
		int r;

		memcpy(bad, buf, (size_t)n);
		bad[i] ^= 0xA5;
		r = protection_persist_apply(&g.p, g.now, bad, (size_t)n, true);
		assert_true(r == 0 || r == -EBADMSG || r == -ERANGE);
		assert_int_equal(r, protection_persist_check(bad, (size_t)n));
		if (r < 0)
			assert_memory_equal(&g.p, &before, sizeof(before));
		else
			fx_step_at(&g, g.now + 1); /* usable */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(restart_keeps_a_closed_atd),
	        cmocka_unit_test(restart_keeps_an_open_atd_and_countdowns),
	        cmocka_unit_test(restart_keeps_latches),
	        cmocka_unit_test(encode_needs_room),
	        cmocka_unit_test(corrupted_blobs),
	        cmocka_unit_test(byte_flips_never_half_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
