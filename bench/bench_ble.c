/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prints the cost of one BTHome advertisement (plain and encrypted with
 * AES-128-CCM through nettle) and of each GATT record, with a
 * full 50-battery snapshot. Figures only; nothing is asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ble/bthome.h"
#include "ble/records.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static struct svc_snapshot *full_snapshot(void)
{
	struct svc_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		exit(1);
	settings_default(&s->settings);
	history_reset(&s->history);
	s->mono_us = 1000000000;
	s->soc_known = s->measure_valid = s->time_remaining_known = s->have_protection = true;
	s->soc_cpct = 6789;
	s->bank_mv = 53210;
	s->current_ma = -45678;
	s->power_mw = -2430526;
	s->min_temp_dc = -5;
	s->max_temp_dc = 271;
	s->n_batteries = SVC_MAX_BATTERIES;
	for (unsigned i = 0; i < SVC_MAX_BATTERIES; i++) {
		struct svc_battery *b = &s->bat[i];
		b->addr = i + 1;
		snprintf(b->info.serial, sizeof(b->info.serial), "SN%08u", i);
		b->has_status = true;
		b->status.n_cells = M8_MAX_CELLS;
		b->status.n_temps = M8_MAX_TEMPS;
	}
	s->history.n_errors = HISTORY_ERRORS;
	return s;
}

typedef ssize_t (*record_fn)(const struct svc_snapshot *s, uint8_t *buf, size_t cap);

static ssize_t battery50(const struct svc_snapshot *s, uint8_t *buf, size_t cap)
{
	return ble_record_battery(s, SVC_MAX_BATTERIES, buf, cap);
}

static void bench_record(const char *name, record_fn fn, struct svc_snapshot *s)
{
	uint8_t buf[BLE_ATT_MAX_VALUE];
	const unsigned iters = 1000000;
	long sink = 0;
	ssize_t len = fn(s, buf, sizeof(buf));

	double t0 = now_ns();
	for (unsigned k = 0; k < iters; k++) {
		s->generation = k; /* keep the compiler honest */
		sink += fn(s, buf, sizeof(buf)) + buf[k % 8];
	}
	double dt = now_ns() - t0;
	printf("record %-10s %3zd bytes: %7.1f ns (check %ld)\n", name, len, dt / iters,
	       sink & 0xff);
}

static void bench_bthome(const struct svc_snapshot *s, enum bthome_packet packet, bool encrypted)
{
	static const uint8_t mac[6] = {0x54, 0x48, 0xE6, 0x8F, 0x80, 0xA5};
	static const uint8_t key[16] = {0x23, 0x1d, 0x39, 0xc1, 0xd7, 0xcc, 0x1a, 0xb1,
	                                0xae, 0xe2, 0x24, 0xcd, 0x09, 0x6d, 0xb9, 0x32};
	const unsigned iters = encrypted ? 200000 : 2000000;
	uint8_t out[BTHOME_MAX_LEN];
	struct bthome_values v;
	long sink = 0;
	ssize_t len = 0;

	double t0 = now_ns();
	for (unsigned k = 0; k < iters; k++) {
		bthome_values_from_snapshot(s, &v);
		v.current_ma += (int32_t)(k & 1);
		v.power_mw += (int64_t)(k & 1) * 10;
		len = bthome_encode(&v, packet, mac, encrypted ? key : NULL, k, out, sizeof(out));
		sink += len + out[len - 1];
	}
	double dt = now_ns() - t0;
	printf("bthome %c %-9s %3zd bytes: %7.1f ns (check %ld)\n",
	       packet == BTHOME_PACKET_B ? 'B' : 'A', encrypted ? "encrypted" : "plain", len,
	       dt / iters, sink & 0xff);
}

int main(void)
{
	struct svc_snapshot *s = full_snapshot();

	for (int p = BTHOME_PACKET_A; p < BTHOME_PACKET_COUNT; p++) {
		bench_bthome(s, (enum bthome_packet)p, false);
		bench_bthome(s, (enum bthome_packet)p, true);
	}
	bench_record("status", ble_record_status, s);
	bench_record("battery", battery50, s);
	bench_record("history", ble_record_history, s);
	bench_record("settings", ble_record_settings, s);
	free(s);
	return 0;
}
