/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The bus master against the real simulator over a pty, in real time. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "simproc.h"

#define MS 1000ULL
#define S  1000000ULL

struct ctx {
	const char *exe;
	struct simproc sp;
	struct m8_master *m;
	unsigned events[8];
};

static void on_event(void *userdata, enum m8_event_type ev, unsigned addr)
{
	struct ctx *c = userdata;
	if (ev < 8)
		c->events[ev]++;
}

static int setup(void **state)
{
	struct ctx *c = *state;
	c->m = NULL;
	memset(c->events, 0, sizeof(c->events));
	return sim_dir_init(&c->sp);
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	m8_master_free(c->m);
	c->m = NULL;
	sim_dir_cleanup(&c->sp);
	return 0;
}

static void new_master(struct ctx *c, const char *path)
{
	struct m8_master_config cfg = {.path = path, .on_event = on_event};
	assert_int_equal(m8_master_new(&c->m, &cfg, &m8_serial_port_ops, c), 0);
}

static void start_sim(struct ctx *c, const char *const *extra)
{
	assert_int_equal(sim_start(&c->sp, c->exe, extra), 0);
}

static void ctl(struct ctx *c, const char *cmd)
{
	char reply[256];
	int r = sim_ctl(&c->sp, cmd, reply, sizeof(reply));
	if (r != 0)
		fail_msg("control `%s`: %d %s", cmd, r, reply);
}

static bool all_fresh(struct m8_master *m, void *arg)
{
	struct m8_bank_state b;
	m8_master_bank(m, &b);
	if (!b.enumerated || b.count == 0 || (arg && b.count != *(unsigned *)arg))
		return false;
	for (unsigned a = 1; a <= b.count; a++)
		if (!m8_master_battery_fresh(m, a, sim_now_us()))
			return false;
	return true;
}

static bool is_enumerated(struct m8_master *m, void *arg)
{
	struct m8_bank_state b;
	m8_master_bank(m, &b);
	return b.enumerated;
}

static struct m8_bank_state bank(struct ctx *c)
{
	struct m8_bank_state b;
	m8_master_bank(c->m, &b);
	return b;
}

static void assert_serials(struct ctx *c, const char *prefix, unsigned n)
{
	assert_int_equal(bank(c).count, n);
	for (unsigned a = 1; a <= n; a++) {
		char want[32];
		snprintf(want, sizeof(want), "%s%03u", prefix, a);
		assert_string_equal(m8_master_battery(c->m, a)->info.serial, want);
	}
}

static unsigned sim_stat(struct ctx *c, const char *key)
{
	char reply[256], pat[32];
	assert_int_equal(sim_ctl(&c->sp, "stats", reply, sizeof(reply)), 0);
	snprintf(pat, sizeof(pat), "%s=", key);
	const char *p = strstr(reply, pat);
	assert_non_null(p);
	return (unsigned)strtoul(p + strlen(pat), NULL, 10);
}

static void enumerate_bank(struct ctx *c, const char *const *extra, unsigned n)
{
	start_sim(c, extra);
	new_master(c, c->sp.pty);
	assert_true(sim_drive_until(c->m, 10 * S, all_fresh, &n));
}

static void test_enum_1(void **state)
{
	struct ctx *c = *state;
	enumerate_bank(c, NULL, 1);
	assert_serials(c, "HQ2402JJ", 1);
	assert_false(bank(c).chain_open);
	const struct m8_battery *b = m8_master_battery(c->m, 1);
	assert_int_equal(b->info.type, 1);
	assert_int_equal(b->info.cells, 4);
	assert_int_equal(b->status.n_cells, 4);
	assert_true(b->status.voltage_mv > 12000 && b->status.voltage_mv < 14600);
}

static void test_enum_8_4s2p(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series",        "4",  "--parallel", "2",
	                            "--serial-prefix", "ZZ", NULL};
	enumerate_bank(c, args, 8);
	assert_serials(c, "ZZ", 8);
	assert_false(bank(c).chain_open);
	assert_int_equal(c->events[M8_EV_FOUND], 8);
}

static void test_enum_50_type1(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "2", "--parallel", "25", NULL};
	enumerate_bank(c, args, 50);
	assert_serials(c, "HQ2402JJ", 50);
	assert_false(bank(c).chain_open);
	sim_drive(c->m, 1500 * MS);
	assert_true(all_fresh(c->m, NULL));
	assert_true(bank(c).last_cycle_us < 1 * S);
}

static void test_enum_25_type3(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--model", "51.2/100", "--parallel", "25", NULL};
	enumerate_bank(c, args, 25);
	assert_serials(c, "HQ2402JJ", 25);
	assert_int_equal(m8_master_battery(c->m, 25)->info.type, 3);
	assert_int_equal(m8_master_battery(c->m, 25)->status.n_cells, 16);
	assert_int_equal(m8_master_battery(c->m, 25)->info.flags & M8_INFO_CHAIN_END,
	                 M8_INFO_CHAIN_END);
}

static void test_open_chain(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "4", NULL};
	start_sim(c, args);
	ctl(c, "open-chain 2");
	new_master(c, c->sp.pty);
	unsigned two = 2;
	assert_true(sim_drive_until(c->m, 10 * S, all_fresh, &two));
	assert_true(bank(c).chain_open);
	assert_serials(c, "HQ2402JJ", 2);
}

static void test_lost_assign_reply(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "4", NULL};
	start_sim(c, args);
	ctl(c, "drop 2 1");
	new_master(c, c->sp.pty);
	unsigned four = 4;
	assert_true(sim_drive_until(c->m, 10 * S, all_fresh, &four));
	assert_serials(c, "HQ2402JJ", 4);
	assert_int_equal(sim_stat(c, "resets"), 3);
	assert_int_equal(c->events[M8_EV_ENUM_FAILED], 0);
}

static void test_missed_reset(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "4", NULL};
	unsigned four = 4;
	enumerate_bank(c, args, 4);
	ctl(c, "miss-reset 2");
	m8_master_enumerate(c->m);
	sim_drive(c->m, 50 * MS);
	assert_true(sim_drive_until(c->m, 10 * S, all_fresh, &four));
	assert_true(c->events[M8_EV_ENUM_FAILED] >= 1);
	assert_serials(c, "HQ2402JJ", 4);
	assert_int_equal(bank(c).enum_failures, 0);
}

static void test_brownout_rejoin(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "4", NULL};
	unsigned four = 4;
	enumerate_bank(c, args, 4);
	unsigned resets = sim_stat(c, "resets");
	ctl(c, "brownout 2");
	sim_drive(c->m, 3500 * MS);
	assert_true(m8_master_battery_fresh(c->m, 1, sim_now_us()));
	assert_false(m8_master_battery_fresh(c->m, 3, sim_now_us()));
	assert_true(sim_drive_until(c->m, 10 * S, all_fresh, &four));
	assert_int_equal(sim_stat(c, "resets"), resets);
	assert_serials(c, "HQ2402JJ", 4);
}

static void test_silent_battery_stale(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "4", NULL};
	enumerate_bank(c, args, 4);
	sim_drive(c->m, 1200 * MS);
	ctl(c, "silent 4 on");
	uint64_t t = sim_now_us();
	/* stale within 3 s of the silence, the others fresh all along */
	while (sim_now_us() < t + 3100 * MS) {
		sim_drive(c->m, 100 * MS);
		for (unsigned a = 1; a <= 3; a++)
			assert_true(m8_master_battery_fresh(c->m, a, sim_now_us()));
	}
	assert_false(m8_master_battery_fresh(c->m, 4, sim_now_us()));
	assert_true(m8_master_battery(c->m, 4)->stats.timeouts >= 2);
	ctl(c, "silent 4 off");
	unsigned four = 4;
	/* a lost battery is probed every 5 s: back within two probes */
	assert_true(sim_drive_until(c->m, 12 * S, all_fresh, &four));
}

static void test_garbage_and_corruption(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "4", NULL};
	enumerate_bank(c, args, 4);
	/* Two corrupted replies can be one battery's STATUS and its retry:
	 * that battery misses one cycle, and a second miss in a row would
	 * rightly make it lost (docs/m8bus.md). So the rounds are 2.5 s apart, the
	 * hit battery answers in between, and every battery stays fresh. */
	for (int i = 0; i < 3; i++) {
		ctl(c, "garbage 40");
		ctl(c, "corrupt 2");
		sim_drive(c->m, 2500 * MS);
		assert_true(all_fresh(c->m, NULL));
	}
	uint64_t crc = 0;
	for (unsigned a = 1; a <= 4; a++)
		crc += m8_master_battery(c->m, a)->stats.crc_errors;
	assert_true(crc >= 1);
	assert_true(m8_master_parser_stats(c->m)->garbage_bytes > 0);
	assert_true(bank(c).enumerated);
}

static bool b2_polled_since(struct m8_master *m, void *arg)
{
	return m8_master_battery(m, 2)->status_us > *(uint64_t *)arg;
}

/* Issue 13 item 11: a battery that answers with corrupted bytes answered. */
static void test_garbled_battery_stays_polled(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "4", NULL};
	unsigned four = 4;
	enumerate_bank(c, args, 4);
	const struct m8_battery *b2 = m8_master_battery(c->m, 2);

	/* right after a poll of battery 2, then 0.9 s on: its every reply is
	 * garbled for 1.6 s, which covers two cycles' polls */
	uint64_t t = sim_now_us();
	assert_true(sim_drive_until(c->m, 2 * S, b2_polled_since, &t));
	sim_drive(c->m, 900 * MS);
	uint64_t crc = b2->stats.crc_errors;
	ctl(c, "garble 2 1000000");
	uint64_t g0 = sim_now_us();
	while (sim_now_us() < g0 + 1600 * MS) {
		sim_drive(c->m, 50 * MS);
		assert_false(b2->lost);
	}
	ctl(c, "garble 2 0");
	uint64_t g1 = sim_now_us();
	assert_true(b2->stats.crc_errors >= crc + 2);
	assert_int_equal(c->events[M8_EV_LOST], 0);
	/* still in the every-cycle poll: fresh again at the next cycle */
	assert_true(sim_drive_until(c->m, 1500 * MS, b2_polled_since, &g1));
	assert_true(all_fresh(c->m, &four));
	assert_false(b2->lost);
}

/*
 * A loop that is busy now and then: a foreign timer every 13 ms whose
 * handler takes 6 ms. The loop reads its clock when it wakes, runs the
 * handler, then hands that time to the master, as sd-event's sd_event_now()
 * does: a reply that came in during the handler looks older than it is.
 */
static void drive_busy(struct m8_master *m, uint64_t timeout_us,
                       bool (*pred)(struct m8_master *m, void *arg), void *arg)
{
	uint64_t end = sim_now_us() + timeout_us, tick = sim_now_us();
	while (sim_now_us() < end && !pred(m, arg)) {
		uint64_t now = sim_now_us(), deadline = m8_master_next_deadline_us(m);
		uint64_t wake = deadline < tick ? deadline : tick;
		int fd = m8_master_fd(m);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (wake > now) {
			uint64_t dt = wake - now;
			struct timespec ts = {.tv_sec = (time_t)(dt / S),
			                      .tv_nsec = (long)(dt % S) * 1000};
			(void)ppoll(&p, fd >= 0 ? 1 : 0, &ts, NULL);
		}
		uint64_t t = sim_now_us();
		if (t >= tick) {
			struct timespec busy = {.tv_nsec = 6000000};
			nanosleep(&busy, NULL);
			tick = t + 13 * MS;
		}
		p.revents = 0;
		if (fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
			m8_master_on_readable(m, t);
		else if (t >= deadline)
			m8_master_on_timeout(m, t);
	}
}

static bool is_stale_7(struct m8_master *m, void *arg)
{
	return !m8_master_battery_fresh(m, 7, sim_now_us());
}

/* Issue 13 item 15: an ASSIGN goes out 10 ms after the last byte of the
 * reply before it, as measured by the simulator, however late the loop's
 * clock is. */
static void test_assign_gap_busy_loop(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "2", "--parallel", "10", NULL};
	unsigned twenty = 20;
	start_sim(c, args);
	new_master(c, c->sp.pty);
	drive_busy(c->m, 15 * S, all_fresh, &twenty);
	assert_true(all_fresh(c->m, &twenty));
	/* a brown-out: a re-join ASSIGN after the cycle's replies */
	ctl(c, "brownout 7");
	drive_busy(c->m, 4 * S, is_stale_7, NULL);
	drive_busy(c->m, 10 * S, all_fresh, &twenty);
	assert_true(all_fresh(c->m, &twenty));
	assert_true(sim_stat(c, "assigns") >= 21);
	assert_int_equal(sim_stat(c, "resets"), 3);

	char reply[256];
	assert_int_equal(sim_ctl(&c->sp, "stats", reply, sizeof(reply)), 0);
	const char *g = strstr(reply, "assign-gap-min-us=");
	assert_non_null(g);
	unsigned long gap = strtoul(g + strlen("assign-gap-min-us="), NULL, 10);
	if (gap < 10 * MS)
		fail_msg("an ASSIGN came %lu us after the reply before it", gap);
}

static void test_wrong_seq_addr(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "3", NULL};
	enumerate_bank(c, args, 3);
	uint64_t before = 0, after = 0;
	for (unsigned a = 1; a <= 3; a++)
		before += m8_master_battery(c->m, a)->stats.timeouts;
	ctl(c, "wrong-seq 1");
	sim_drive(c->m, 1100 * MS);
	ctl(c, "wrong-addr 1");
	sim_drive(c->m, 1100 * MS);
	for (unsigned a = 1; a <= 3; a++)
		after += m8_master_battery(c->m, a)->stats.timeouts;
	/* each discarded reply costs its request a timeout and a retry */
	assert_true(after - before >= 2);
	assert_true(all_fresh(c->m, NULL));
}

static void test_nak_busy(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "2", NULL};
	enumerate_bank(c, args, 2);
	const struct m8_battery *b1 = m8_master_battery(c->m, 1);
	uint64_t timeouts = b1->stats.timeouts;
	ctl(c, "busy 1 3");
	sim_drive(c->m, 1500 * MS);
	/* three refusals (a NAK late under load counts as a timeout) */
	assert_true(b1->stats.naks >= 1);
	assert_true(b1->stats.naks + (b1->stats.timeouts - timeouts) >= 3);
	assert_true(all_fresh(c->m, NULL));
}

static void test_sim_restart(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "2", NULL};
	unsigned two = 2;
	start_sim(c, args);
	new_master(c, c->sp.link);
	assert_true(sim_drive_until(c->m, 10 * S, all_fresh, &two));
	sim_stop(&c->sp);
	sim_drive(c->m, 500 * MS);
	assert_false(bank(c).port_open);
	assert_false(m8_master_battery_fresh(c->m, 1, sim_now_us()));
	start_sim(c, args);
	assert_true(sim_drive_until(c->m, 20 * S, all_fresh, &two));
	assert_serials(c, "HQ2402JJ", 2);
}

static void test_port_appears_later(void **state)
{
	struct ctx *c = *state;
	const char *const args[] = {"--series", "3", NULL};
	new_master(c, c->sp.link);
	sim_drive(c->m, 1500 * MS);
	assert_false(bank(c).port_open);
	assert_false(bank(c).enumerated);
	start_sim(c, args);
	unsigned three = 3;
	assert_true(sim_drive_until(c->m, 10 * S, all_fresh, &three));
	assert_true(sim_drive_until(c->m, 1 * S, is_enumerated, NULL));
	assert_serials(c, "HQ2402JJ", 3);
}

int main(int argc, char **argv)
{
	struct ctx c = {.exe = argc > 1 ? argv[1] : getenv("SMALLBMS_SIM")};
	if (!c.exe) {
		fprintf(stderr, "usage: %s PATH-TO-smallbms-sim\n", argv[0]);
		return 2;
	}
	if (getenv("M8_FILTER"))
		cmocka_set_test_filter(getenv("M8_FILTER"));
#define T(f) cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, &c)
	const struct CMUnitTest tests[] = {
	        T(test_enum_1),
	        T(test_enum_8_4s2p),
	        T(test_enum_50_type1),
	        T(test_enum_25_type3),
	        T(test_open_chain),
	        T(test_lost_assign_reply),
	        T(test_missed_reset),
	        T(test_brownout_rejoin),
	        T(test_silent_battery_stale),
	        T(test_garbage_and_corruption),
	        T(test_garbled_battery_stays_polled),
	        T(test_assign_gap_busy_loop),
	        T(test_wrong_seq_addr),
	        T(test_nak_busy),
	        T(test_sim_restart),
	        T(test_port_appears_later),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
