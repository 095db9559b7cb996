/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The bus master's full-bank poll period over a pty with the simulator, for
 * 1, 10 and 50 batteries at a 10 ms (worst case) and 1 ms reply delay, next
 * to the wire-time budget of docs/m8bus.md section 7, and the master's CPU time
 * per cycle. Prints figures; asserts nothing.
 *
 *   ./build/bench/bench-m8 [PATH-TO-smallbms-sim] [CYCLES]
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/m8/simproc.h"

struct run {
	unsigned series, parallel;
	unsigned delay_us;
};

static uint64_t cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

static bool all_fresh(struct m8_master *m, void *arg)
{
	struct m8_bank_state b;
	m8_master_bank(m, &b);
	if (!b.enumerated || b.count != *(unsigned *)arg)
		return false;
	for (unsigned a = 1; a <= b.count; a++)
		if (!m8_master_battery_fresh(m, a, sim_now_us()))
			return false;
	return true;
}

static bool cycle_done(struct m8_master *m, void *arg)
{
	struct m8_bank_state b;
	m8_master_bank(m, &b);
	return b.cycles > *(uint64_t *)arg;
}

static int bench_one(const char *exe, const struct run *r, unsigned cycles)
{
	struct simproc sp;
	struct m8_master *m = NULL;
	char s[16], p[16], d[16];
	unsigned n = r->series * r->parallel;
	int ret = -1;

	snprintf(s, sizeof(s), "%u", r->series);
	snprintf(p, sizeof(p), "%u", r->parallel);
	snprintf(d, sizeof(d), "%u", r->delay_us);
	const char *const args[] = {"--series", s, "--parallel", p, "--reply-delay-us", d, NULL};

	if (sim_dir_init(&sp) < 0)
		return -1;
	if (sim_start(&sp, exe, args) < 0) {
		fprintf(stderr, "cannot start %s\n", exe);
		goto out;
	}
	struct m8_master_config cfg = {.path = sp.pty};
	if (m8_master_new(&m, &cfg, &m8_serial_port_ops, NULL) < 0)
		goto out;
	uint64_t t0 = sim_now_us();
	if (!sim_drive_until(m, 30000000, all_fresh, &n)) {
		fprintf(stderr, "bank of %u not enumerated\n", n);
		goto out;
	}
	uint64_t enum_us = sim_now_us() - t0;

	const struct m8_battery *b1 = m8_master_battery(m, 1);
	unsigned cells = b1->info.cells, temps = b1->info.sensors;
	/* (23 + 2N + 2T) bytes a STATUS exchange, plus the reply delay */
	double per_us = (23.0 + 2 * cells + 2 * temps) * 86.8 + r->delay_us;
	double budget_ms = n * per_us / 1000.0;

	struct m8_bank_state st;
	m8_master_bank(m, &st);
	uint64_t sum = 0, worst = 0, cpu0 = cpu_us(), c0 = st.cycles;
	for (unsigned i = 0; i < cycles; i++) {
		uint64_t seen = st.cycles;
		if (!sim_drive_until(m, 5000000, cycle_done, &seen))
			break;
		m8_master_bank(m, &st);
		sum += st.last_cycle_us;
		if (st.last_cycle_us > worst)
			worst = st.last_cycle_us;
	}
	uint64_t done = st.cycles - c0;
	uint64_t cpu = cpu_us() - cpu0;
	if (done == 0)
		goto out;
	printf("%4u  %8.1f  %9.1f  %11.1f  %9.1f  %6llu  %10.1f  %8.1f\n", n, r->delay_us / 1000.0,
	       budget_ms, sum / 1000.0 / (double)done, worst / 1000.0, (unsigned long long)done,
	       (double)cpu / (double)done, enum_us / 1000.0);
	ret = 0;
out:
	m8_master_free(m);
	sim_dir_cleanup(&sp);
	return ret;
}

int main(int argc, char **argv)
{
	char exe[4096];
	unsigned cycles = argc > 2 ? (unsigned)atoi(argv[2]) : 5;

	if (argc > 1 && argv[1][0]) {
		snprintf(exe, sizeof(exe), "%s", argv[1]);
	} else {
		char self[4096];
		ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (k < 0)
			return 1;
		self[k] = '\0';
		snprintf(exe, sizeof(exe), "%s/../src/sim/smallbms-sim", dirname(self));
	}
	if (access(exe, X_OK) < 0) {
		fprintf(stderr, "%s: %s (pass the simulator's path)\n", exe, strerror(errno));
		return 1;
	}

	const struct run runs[] = {
	        {1, 1, 10000}, {2, 5, 10000}, {2, 25, 10000},
	        {1, 1, 1000},  {2, 5, 1000},  {2, 25, 1000},
	};
	printf("M8 bus: one poll cycle = one GET_STATUS per battery (type 1, 4 cells)\n");
	printf("   N  delay ms  budget ms  measured ms  worst ms  cycles  cpu us/cyc  enum ms\n");
	int r = 0;
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		if (bench_one(exe, &runs[i], cycles) < 0)
			r = 1;
	return r;
}
