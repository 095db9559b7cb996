/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prints the cost of one monitor step (bank values from N batteries, then
 * monitor_step) for 1, 10 and 50 batteries, the state record's size, and
 * its encode and decode times. Figures only; nothing is asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/bank.h"
#include "core/monitor.h"
#include "core/record.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void bench_step(unsigned n)
{
	struct bank_reading r[BANK_MAX_BATTERIES];
	struct monitor_settings s;
	struct monitor m;
	const unsigned iters = 2000000;
	uint64_t t_us = 1000000;
	int64_t sink = 0;

	monitor_settings_default(&s);
	monitor_init(&m, &s, 10);
	monitor_set_bank(&m, 100u * n, 4);
	(void)monitor_set_soc(&m, 8000);
	for (unsigned i = 0; i < n; i++)
		r[i] = (struct bank_reading){
		        .current_ma = -1000 - (int32_t)i, .voltage_mv = 13200, .fresh = true};
	double t0 = now_ns();
	for (unsigned k = 0; k < iters; k++) {
		struct monitor_input in = {.valid = true,
		                           .all_fresh = true,
		                           .min_cell_mv = 3300,
		                           .max_cell_mv = 3310,
		                           .min_temp_dc = 200,
		                           .max_temp_dc = 220};
		uint32_t mean;
		r[k % n].current_ma ^= 1; /* keep the compiler honest */
		if (bank_current_ma(r, n, 1, &in.current_ma) == 0 &&
		    bank_mean_battery_mv(r, n, &mean) == 0)
			in.bank_mv = mean;
		t_us += 1000000;
		monitor_step(&m, t_us, (int64_t)(t_us / 1000000), &in);
		sink += monitor_soc_cpct(&m, NULL);
	}
	double dt = now_ns() - t0;
	printf("monitor step, %2u batteries: %7.1f ns (check %lld)\n", n, dt / iters,
	       (long long)(sink & 0xff));
}

static void bench_record(void)
{
	struct record *rec = calloc(1, sizeof(*rec)), *out = calloc(1, sizeof(*out));
	uint8_t *buf = malloc(RECORD_MAX_SIZE);
	struct protection p;
	char err[200];
	const unsigned iters = 20000;
	int len = 0;

	if (!rec || !out || !buf)
		exit(1);
	settings_default(&rec->settings);
	history_reset(&rec->hist);
	balancer_reset(&rec->bal);
	rec->soc = (struct monitor_soc){.known = true, .soc_pct = 55.5, .consumed_ah = 44.5};
	rec->have_bank = true;
	rec->bank = (struct bank_identity){.n = 50, .type = 1, .capacity_ah = 100, .s = 2};
	for (int i = 0; i < 50; i++)
		snprintf(rec->bank.serial[i], sizeof(rec->bank.serial[i]), "HQ2402JJ%04d", i);
	if (protection_init(&p, &rec->settings.protection, -1) < 0)
		exit(1);
	int pl = protection_persist_encode(&p, 1000000, rec->prot, sizeof(rec->prot));
	if (pl < 0)
		exit(1);
	rec->prot_len = (uint16_t)pl;

	double t0 = now_ns();
	for (unsigned k = 0; k < iters; k++)
		len = record_encode(rec, buf, RECORD_MAX_SIZE, err, sizeof(err));
	double t1 = now_ns();
	if (len < 0) {
		fprintf(stderr, "encode: %s\n", err);
		exit(1);
	}
	for (unsigned k = 0; k < iters; k++)
		if (record_decode(buf, (size_t)len, out, err, sizeof(err)) < 0) {
			fprintf(stderr, "decode: %s\n", err);
			exit(1);
		}
	double t2 = now_ns();
	printf("state record (50 batteries): %d bytes (protection section %d)\n", len, pl);
	printf("record encode: %.1f us, decode: %.1f us\n", (t1 - t0) / iters / 1000.0,
	       (t2 - t1) / iters / 1000.0);
	free(rec);
	free(out);
	free(buf);
}

int main(void)
{
	bench_step(1);
	bench_step(10);
	bench_step(50);
	bench_record();
	return 0;
}
