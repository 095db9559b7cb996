/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The bus master over a pty with the simulator, polling continuously with
 * the daemon's default minimum cycle period (100 ms), for 1, 2, 10 and 50
 * batteries at a 10 ms (worst case) and 1 ms reply delay: the cycle period
 * (start to start) next to the wire-time budget of docs/m8bus.md section 7 and
 * their ratio where the budget is above the minimum period; a battery's
 * reading age when the protection uses it (the daemon steps on every valid
 * STATUS: at each, the age of every battery's last reading), p50 / p99; the
 * master's CPU time per cycle and in % of one core. Prints figures;
 * asserts nothing.
 *
 *   ./build/bench/bench-m8 [PATH-TO-smallbms-sim] [SECONDS-PER-BANK]
 */
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

#define MAX_AGES 400000

/* What the loop samples while it polls. */
struct sampler {
	uint64_t end_us;
	uint64_t statuses;
	uint64_t cycles;
	uint64_t period_sum_us, period_worst_us, periods;
	size_t n_ages;
	uint32_t *ages_us;
};

/* At each new valid STATUS (a protection step in the daemon), the age of
 * every battery's reading; at each new cycle, its period. */
static bool sample(struct m8_master *m, void *arg)
{
	struct sampler *sp = arg;
	struct m8_bank_state b;
	uint64_t now = sim_now_us();

	m8_master_bank(m, &b);
	if (b.cycles != sp->cycles) {
		sp->cycles = b.cycles;
		if (b.last_period_us) {
			sp->period_sum_us += b.last_period_us;
			sp->periods++;
			if (b.last_period_us > sp->period_worst_us)
				sp->period_worst_us = b.last_period_us;
		}
	}
	if (b.statuses != sp->statuses) {
		sp->statuses = b.statuses;
		for (unsigned a = 1; a <= b.count && sp->n_ages < MAX_AGES; a++) {
			const struct m8_battery *bat = m8_master_battery(m, a);
			sp->ages_us[sp->n_ages++] =
			        (uint32_t)(now > bat->status_us ? now - bat->status_us : 0);
		}
	}
	return now >= sp->end_us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_ms(const uint32_t *v, size_t n, unsigned p)
{
	if (n == 0)
		return 0;
	size_t k = (n - 1) * p / 100;
	return v[k] / 1000.0;
}

#define MIN_PERIOD_US 100000ULL /* the daemon's default [bus] min-cycle-ms */

static int bench_one(const char *exe, const struct run *r, unsigned seconds)
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
	struct m8_master_config cfg = {.path = sp.pty, .cycle_period_us = MIN_PERIOD_US};
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

	struct sampler smp = {0};
	struct m8_bank_state st;
	smp.ages_us = calloc(MAX_AGES, sizeof(*smp.ages_us));
	if (!smp.ages_us)
		goto out;
	sim_drive(m, 500000); /* past the cycles after the enumeration */
	m8_master_bank(m, &st);
	smp.cycles = st.cycles;
	smp.statuses = st.statuses;
	uint64_t c0 = st.cycles, cpu0 = cpu_us(), w0 = sim_now_us();
	smp.end_us = w0 + (uint64_t)seconds * 1000000;
	sim_drive_until(m, (uint64_t)seconds * 1000000 + 1000000, sample, &smp);
	uint64_t cpu = cpu_us() - cpu0, wall = sim_now_us() - w0;
	m8_master_bank(m, &st);
	uint64_t done = st.cycles - c0;
	if (done == 0 || smp.periods == 0) {
		free(smp.ages_us);
		goto out;
	}
	qsort(smp.ages_us, smp.n_ages, sizeof(*smp.ages_us), cmp_u32);
	double mean_ms = smp.period_sum_us / 1000.0 / (double)smp.periods;
	char ratio[16] = "    -";
	if (budget_ms > MIN_PERIOD_US / 1000.0)
		snprintf(ratio, sizeof(ratio), "%5.2f", mean_ms / budget_ms);
	printf("%4u  %8.1f  %9.1f  %9.1f  %8.1f  %5s  %7.1f  %7.1f  %6llu  %9.1f  %6.2f  %8.1f\n",
	       n, r->delay_us / 1000.0, budget_ms, mean_ms, smp.period_worst_us / 1000.0, ratio,
	       pct_ms(smp.ages_us, smp.n_ages, 50), pct_ms(smp.ages_us, smp.n_ages, 99),
	       (unsigned long long)done, (double)cpu / (double)done,
	       100.0 * (double)cpu / (double)wall, enum_us / 1000.0);
	free(smp.ages_us);
	ret = 0;
out:
	m8_master_free(m);
	sim_dir_cleanup(&sp);
	return ret;
}

int main(int argc, char **argv)
{
	char exe[4096];
	unsigned seconds = argc > 2 ? (unsigned)atoi(argv[2]) : 5;

	if (sim_exe_path(argc > 1 ? argv[1] : NULL, exe, sizeof(exe)) < 0)
		return 1;

	const struct run runs[] = {
	        {1, 1, 10000}, {2, 1, 10000}, {2, 5, 10000}, {2, 25, 10000},
	        {1, 1, 1000},  {2, 1, 1000},  {2, 5, 1000},  {2, 25, 1000},
	};
	printf("M8 bus, polled continuously, minimum period %llu ms, %u s a bank (type 1, 4 "
	       "cells)\n",
	       MIN_PERIOD_US / 1000, seconds);
	printf("budget: docs/m8bus.md 7, N x ((23 + 2N + 2T) x 86.8 us + delay); ratio: period / "
	       "budget\n");
	printf("age: a battery's reading age at each protection step (every valid STATUS)\n");
	printf("   N  delay ms  budget ms  period ms  worst ms  ratio  age p50  age p99  cycles  "
	       "cpu us/cyc  cpu %%  enum ms\n");
	int r = 0;
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		if (bench_one(exe, &runs[i], seconds) < 0)
			r = 1;
	return r;
}
