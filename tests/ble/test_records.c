/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ble/records.h"
#include "core/codes.h"

/* Readers of the documented layout, written apart from le_codec. */
static unsigned u8(const uint8_t *b, size_t off)
{
	return b[off];
}

static unsigned u16(const uint8_t *b, size_t off)
{
	return (unsigned)b[off] | (unsigned)b[off + 1] << 8;
}

static int i16(const uint8_t *b, size_t off)
{
	return (int16_t)u16(b, off);
}

static uint32_t u32(const uint8_t *b, size_t off)
{
	return (uint32_t)u16(b, off) | (uint32_t)u16(b, off + 2) << 16;
}

static int32_t i32(const uint8_t *b, size_t off)
{
	return (int32_t)u32(b, off);
}

static uint64_t u64(const uint8_t *b, size_t off)
{
	return (uint64_t)u32(b, off) | (uint64_t)u32(b, off + 4) << 32;
}

static int64_t i64(const uint8_t *b, size_t off)
{
	return (int64_t)u64(b, off);
}

static struct svc_snapshot *new_snapshot(void)
{
	struct svc_snapshot *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	settings_default(&s->settings);
	history_reset(&s->history);
	s->min_cell_mv = s->max_cell_mv = 0xFFFF;
	s->min_temp_dc = s->max_temp_dc = 0x7FFF;
	return s;
}

static struct svc_snapshot *full_snapshot(void)
{
	struct svc_snapshot *s = new_snapshot();

	s->mono_us = 5000000000ull;
	s->soc_known = true;
	s->soc_cpct = 6789;
	s->consumed_ah = 32.1115;
	s->time_remaining_known = true;
	s->time_remaining_s = 123456;
	s->measure_valid = true;
	s->bank_mv = 53210;
	s->current_ma = -45678;
	s->power_mw = -2430526;
	s->min_cell_mv = 3301;
	s->max_cell_mv = 3342;
	s->min_temp_dc = -55;
	s->max_temp_dc = 271;
	s->balancer = BALANCER_IMBALANCED;
	s->have_protection = true;
	s->prot.atd_closed = true;
	s->prot.atc_closed = false;
	s->prot.prealarm_active = true;
	s->prot.codes = BMS_CODE_BIT(BMS_W1) | BMS_CODE_BIT(BMS_A4) | BMS_CODE_BIT(BMS_E9);
	s->prot.blue = LED_BLINK;
	s->prot.red = LED_BLINK_FAST;
	s->remote_on = true;
	s->have_topology = true;
	s->topo_err = BANK_OK;
	s->bank_changed = true;
	s->bus.port_open = true;
	s->bus.enumerated = true;
	s->bus.chain_open = false;
	s->bus.enum_failed = true;
	s->n_batteries = 3;
	for (unsigned i = 0; i < 3; i++) {
		struct svc_battery *b = &s->bat[i];
		b->addr = i + 1;
		snprintf(b->info.serial, sizeof(b->info.serial), "SN-%04u", 17 + i);
		b->info.type = 3;
		b->info.capacity_ah = 100;
		b->info.fw_major = 1;
		b->info.fw_minor = 2;
		b->info.fw_patch = (uint8_t)(3 + i);
	}
	struct svc_battery *b = &s->bat[1];
	b->has_status = true;
	b->status_us = s->mono_us - 1234567;
	b->fresh = true;
	b->lost = false;
	b->status.voltage_mv = 13312;
	b->status.current_ma = -15226;
	b->status.flags = 0x05;
	b->status.n_cells = 3;
	b->status.cell_mv[0] = 3321;
	b->status.cell_mv[1] = 0xFFFF;
	b->status.cell_mv[2] = 3333;
	b->status.n_temps = 2;
	b->status.temp_dc[0] = -123;
	b->status.temp_dc[1] = 0x7FFF;
	b->stats =
	        (struct m8_link_stats){.requests = 1000, .timeouts = 7, .crc_errors = 3, .naks = 1};
	s->bat[2].lost = true;
	s->bat[2].stats.requests = 0x100000005ull;
	return s;
}

static void status_known_values(void **state)
{
	(void)state;
	struct svc_snapshot *s = full_snapshot();
	uint8_t b[BLE_RECORD_STATUS_LEN];

	assert_int_equal(ble_record_status(s, b, sizeof(b)), 40);
	assert_int_equal(u8(b, 0), BLE_RECORD_VERSION);
	/* soc, measure, time, protection, load closed, -, prealarm, remote */
	assert_int_equal(u8(b, 1), 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80);
	assert_int_equal(u16(b, 2), 6789);
	assert_int_equal(i32(b, 4), 53210);
	assert_int_equal(i32(b, 8), -45678);
	assert_int_equal(i32(b, 12), -2430526);
	assert_int_equal(u32(b, 16), 32112); /* 32.1115 Ah rounded to mAh */
	assert_int_equal(u32(b, 20), 123456);
	assert_int_equal(u16(b, 24), 3301);
	assert_int_equal(u16(b, 26), 3342);
	assert_int_equal(i16(b, 28), -55);
	assert_int_equal(i16(b, 30), 271);
	assert_int_equal(u32(b, 32),
	                 BMS_CODE_BIT(BMS_W1) | BMS_CODE_BIT(BMS_A4) | BMS_CODE_BIT(BMS_E9));
	assert_int_equal(u8(b, 36), BALANCER_IMBALANCED);
	assert_int_equal(u8(b, 37), LED_BLINK | LED_BLINK_FAST << 4);
	/* topology valid, bank changed, port open, enumerated, -, enum failed */
	assert_int_equal(u8(b, 38), 0x01 | 0x02 | 0x04 | 0x08 | 0x20);
	assert_int_equal(u8(b, 39), 3);

	s->prot.atc_closed = true;
	s->prot.atd_closed = false;
	s->prot.prealarm_active = false;
	s->remote_on = false;
	s->bus.chain_open = true;
	s->topo_err = BANK_ERR_NO_FIT;
	assert_int_equal(ble_record_status(s, b, sizeof(b)), 40);
	assert_int_equal(u8(b, 1), 0x01 | 0x02 | 0x04 | 0x08 | 0x20);
	assert_int_equal(u8(b, 38), 0x02 | 0x04 | 0x08 | 0x10 | 0x20);
	free(s);
}

static void status_unknown_and_bounds(void **state)
{
	(void)state;
	struct svc_snapshot *s = full_snapshot();
	uint8_t b[BLE_RECORD_STATUS_LEN];

	/* Not known: flags clear and the values zero, whatever the fields hold. */
	s->soc_known = false;
	s->measure_valid = false;
	s->time_remaining_known = false;
	s->have_protection = false;
	s->min_cell_mv = s->max_cell_mv = 0xFFFF;
	s->min_temp_dc = s->max_temp_dc = 0x7FFF;
	assert_int_equal(ble_record_status(s, b, sizeof(b)), 40);
	assert_int_equal(u8(b, 1), 0x80); /* only remote_on */
	assert_int_equal(u16(b, 2), 0);
	assert_int_equal(i32(b, 4), 0);
	assert_int_equal(i32(b, 8), 0);
	assert_int_equal(i32(b, 12), 0);
	assert_int_equal(u32(b, 20), 0);
	assert_int_equal(u16(b, 24), 0xFFFF);
	assert_int_equal(u16(b, 26), 0xFFFF);
	assert_int_equal(u16(b, 28), 0x7FFF);
	assert_int_equal(u16(b, 30), 0x7FFF);
	assert_int_equal(u32(b, 32), 0);
	assert_int_equal(u8(b, 37), 0);

	/* Clamped at each bound of the field, never wrapped. */
	s->soc_known = s->measure_valid = s->time_remaining_known = true;
	s->soc_cpct = 10001;
	s->power_mw = (int64_t)INT32_MAX + 1;
	s->bank_mv = INT32_MIN;
	s->current_ma = INT32_MAX;
	s->consumed_ah = 4294967.2955; /* 4294967295.5 mAh */
	s->time_remaining_s = (int64_t)UINT32_MAX + 1;
	assert_int_equal(ble_record_status(s, b, sizeof(b)), 40);
	assert_int_equal(u16(b, 2), 10000);
	assert_int_equal(i32(b, 4), INT32_MIN);
	assert_int_equal(i32(b, 8), INT32_MAX);
	assert_int_equal(i32(b, 12), INT32_MAX);
	assert_int_equal(u32(b, 16), UINT32_MAX);
	assert_int_equal(u32(b, 20), UINT32_MAX);

	s->soc_cpct = 10000;
	s->power_mw = INT32_MAX;
	s->consumed_ah = 4294967.294; /* 4294967294 mAh fits */
	s->time_remaining_s = UINT32_MAX;
	assert_int_equal(ble_record_status(s, b, sizeof(b)), 40);
	assert_int_equal(u16(b, 2), 10000);
	assert_int_equal(i32(b, 12), INT32_MAX);
	assert_int_equal(u32(b, 16), 4294967294u);
	assert_int_equal(u32(b, 20), UINT32_MAX);

	s->soc_cpct = -1;
	s->power_mw = (int64_t)INT32_MIN - 1;
	s->consumed_ah = -0.5;
	s->time_remaining_s = -1;
	assert_int_equal(ble_record_status(s, b, sizeof(b)), 40);
	assert_int_equal(u16(b, 2), 0);
	assert_int_equal(i32(b, 12), INT32_MIN);
	assert_int_equal(u32(b, 16), 0);
	assert_int_equal(u32(b, 20), 0);

	s->consumed_ah = NAN;
	s->power_mw = INT32_MIN;
	assert_int_equal(ble_record_status(s, b, sizeof(b)), 40);
	assert_int_equal(u32(b, 16), 0);
	assert_int_equal(i32(b, 12), INT32_MIN);
	free(s);
}

static void status_buffer_too_small(void **state)
{
	(void)state;
	struct svc_snapshot *s = full_snapshot();
	uint8_t b[BLE_RECORD_STATUS_LEN + 1];

	memset(b, 0xAA, sizeof(b));
	assert_int_equal(ble_record_status(s, b, 39), -ENOBUFS);
	/* Nothing past the capacity is touched. */
	assert_int_equal(b[39], 0xAA);
	assert_int_equal(ble_record_status(s, NULL, 0), -ENOBUFS);
	assert_int_equal(ble_record_status(s, b, 40), 40);
	assert_int_equal(b[40], 0xAA);
	free(s);
}

static void battery_with_status(void **state)
{
	(void)state;
	struct svc_snapshot *s = full_snapshot();
	uint8_t b[BLE_RECORD_BATTERY_MAX];

	assert_int_equal(ble_record_battery(s, 2, b, sizeof(b)), 54 + 2 * 3 + 2 * 2);
	assert_int_equal(u8(b, 0), BLE_RECORD_VERSION);
	assert_int_equal(u8(b, 1), 2);
	assert_memory_equal(b + 2, "SN-0018\0\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(u8(b, 18), 3);
	assert_int_equal(u16(b, 19), 100);
	assert_int_equal(u8(b, 21), 1);
	assert_int_equal(u8(b, 22), 2);
	assert_int_equal(u8(b, 23), 4);
	assert_int_equal(u8(b, 24), 0x01 | 0x02); /* has status, fresh */
	assert_int_equal(u32(b, 25), 1234);       /* age in ms, truncated */
	assert_int_equal(u16(b, 29), 13312);
	assert_int_equal(i32(b, 31), -15226);
	assert_int_equal(u8(b, 35), 0x05);
	assert_int_equal(u8(b, 36), 3);
	assert_int_equal(u16(b, 37), 3321);
	assert_int_equal(u16(b, 39), 0xFFFF);
	assert_int_equal(u16(b, 41), 3333);
	assert_int_equal(u8(b, 43), 2);
	assert_int_equal(i16(b, 44), -123);
	assert_int_equal(u16(b, 46), 0x7FFF);
	assert_int_equal(u32(b, 48), 1000);
	assert_int_equal(u32(b, 52), 7);
	assert_int_equal(u32(b, 56), 3);
	assert_int_equal(u32(b, 60), 1);

	/* A STATUS stamped after the snapshot reads as age 0; a very old one
	 * stops below the "no status" marker; 16 cells and 4 sensors fit. */
	s->bat[1].status_us = s->mono_us + 5;
	s->bat[1].status.n_cells = M8_MAX_CELLS;
	s->bat[1].status.n_temps = M8_MAX_TEMPS;
	assert_int_equal(ble_record_battery(s, 2, b, sizeof(b)), BLE_RECORD_BATTERY_MAX);
	assert_int_equal(u32(b, 25), 0);
	s->bat[1].status_us = 0;
	s->mono_us = (uint64_t)UINT32_MAX * 1000 + 1000;
	assert_int_equal(ble_record_battery(s, 2, b, sizeof(b)), BLE_RECORD_BATTERY_MAX);
	assert_int_equal(u32(b, 25), UINT32_MAX - 1);
	s->mono_us = (uint64_t)(UINT32_MAX - 1) * 1000 + 999;
	assert_int_equal(ble_record_battery(s, 2, b, sizeof(b)), BLE_RECORD_BATTERY_MAX);
	assert_int_equal(u32(b, 25), UINT32_MAX - 1);
	/* Counts beyond the arrays are capped at the arrays. */
	s->bat[1].status.n_cells = 200;
	s->bat[1].status.n_temps = 200;
	assert_int_equal(ble_record_battery(s, 2, b, sizeof(b)), BLE_RECORD_BATTERY_MAX);
	assert_int_equal(u8(b, 36), M8_MAX_CELLS);
	assert_int_equal(ble_record_battery(s, 2, b, BLE_RECORD_BATTERY_MAX - 1), -ENOBUFS);
	free(s);
}

static void battery_without_status(void **state)
{
	(void)state;
	struct svc_snapshot *s = full_snapshot();
	uint8_t b[BLE_RECORD_BATTERY_MAX];

	assert_int_equal(ble_record_battery(s, 3, b, sizeof(b)), 54);
	assert_int_equal(u8(b, 1), 3);
	assert_memory_equal(b + 2, "SN-0019\0\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(u8(b, 24), 0x04); /* lost */
	assert_int_equal(u32(b, 25), UINT32_MAX);
	assert_int_equal(u16(b, 29), 0);
	assert_int_equal(i32(b, 31), 0);
	assert_int_equal(u8(b, 35), 0);
	assert_int_equal(u8(b, 36), 0);
	assert_int_equal(u8(b, 37), 0);
	assert_int_equal(u32(b, 38), UINT32_MAX); /* 0x100000005 requests clamped */
	assert_int_equal(u32(b, 42), 0);

	/* A serial of exactly 16 characters has no terminator on the wire. */
	memset(s->bat[2].info.serial, 'Z', M8_SERIAL_LEN);
	s->bat[2].info.serial[M8_SERIAL_LEN] = '\0';
	assert_int_equal(ble_record_battery(s, 3, b, sizeof(b)), 54);
	assert_memory_equal(b + 2, "ZZZZZZZZZZZZZZZZ", 16);
	assert_int_equal(u8(b, 18), 3);

	assert_int_equal(ble_record_battery(s, 3, b, 53), -ENOBUFS);
	assert_int_equal(ble_record_battery(s, 0, b, sizeof(b)), -ENOENT);
	assert_int_equal(ble_record_battery(s, 4, b, sizeof(b)), -ENOENT);
	assert_int_equal(ble_record_battery(s, 51, b, sizeof(b)), -ENOENT);
	s->n_batteries = 0;
	assert_int_equal(ble_record_battery(s, 1, b, sizeof(b)), -ENOENT);
	free(s);
}

static void history_values(void **state)
{
	(void)state;
	struct svc_snapshot *s = new_snapshot();
	uint8_t b[BLE_RECORD_HISTORY_MAX];
	struct history *h = &s->history;

	/* Fresh history: sentinels as documented. */
	assert_int_equal(ble_record_history(s, b, sizeof(b)), 58);
	assert_int_equal(u8(b, 0), BLE_RECORD_VERSION);
	assert_int_equal(u32(b, 1), 0);
	assert_int_equal(i64(b, 29), 0); /* never */
	assert_int_equal(i32(b, 37), 0);
	assert_int_equal(i32(b, 41), 0);
	assert_int_equal(i32(b, 45), 0);
	assert_int_equal(i32(b, 49), 0);
	assert_int_equal(u16(b, 53), 0x7FFF);
	assert_int_equal(u16(b, 55), 0x7FFF);
	assert_int_equal(u8(b, 57), 0);

	h->deepest_ah = 81.5004;
	h->drawn_ah = 5000000.0; /* beyond 32 bits of mAh */
	h->discharged_wh = 158000.5;
	h->charged_wh = 1e12;
	h->syncs = 41;
	h->cycles = 0xFFFFFFFF;
	h->last_full_charge_s = 1767225600;
	h->min_bank_mv = 12050;
	h->max_bank_mv = 14390;
	h->min_cell_mv = 2950;
	h->max_cell_mv = 3655;
	h->min_temp_dc = -40000;
	h->max_temp_dc = 32767;
	h->n_errors = 2;
	h->errors[0] = (struct history_error){.code = BMS_E2, .wall_s = 1767225601};
	h->errors[1] = (struct history_error){.code = BMS_E8, .wall_s = -5};
	assert_int_equal(ble_record_history(s, b, sizeof(b)), 58 + 18);
	assert_int_equal(u32(b, 1), 81500);
	assert_true(u64(b, 5) == 5000000000ull);
	assert_int_equal(u32(b, 13), 158001);
	assert_int_equal(u32(b, 17), UINT32_MAX);
	assert_int_equal(u32(b, 21), 41);
	assert_int_equal(u32(b, 25), 0xFFFFFFFF);
	assert_int_equal(i64(b, 29), 1767225600);
	assert_int_equal(i32(b, 37), 12050);
	assert_int_equal(i32(b, 41), 14390);
	assert_int_equal(i32(b, 45), 2950);
	assert_int_equal(i32(b, 49), 3655);
	assert_int_equal(i16(b, 53), INT16_MIN);     /* clamped */
	assert_int_equal(i16(b, 55), INT16_MAX - 1); /* below the n/a marker */
	assert_int_equal(u8(b, 57), 2);
	assert_int_equal(u8(b, 58), BMS_E2);
	assert_int_equal(i64(b, 59), 1767225601);
	assert_int_equal(u8(b, 67), BMS_E8);
	assert_int_equal(i64(b, 68), -5);

	h->min_temp_dc = -32768;
	h->max_temp_dc = 32766;
	h->n_errors = 200; /* capped at the array */
	assert_int_equal(ble_record_history(s, b, sizeof(b)), BLE_RECORD_HISTORY_MAX);
	assert_int_equal(i16(b, 53), -32768);
	assert_int_equal(i16(b, 55), 32766);
	assert_int_equal(u8(b, 57), HISTORY_ERRORS);
	assert_int_equal(ble_record_history(s, b, BLE_RECORD_HISTORY_MAX - 1), -ENOBUFS);
	free(s);
}

static void settings_values(void **state)
{
	(void)state;
	struct svc_snapshot *s = new_snapshot();
	size_t n = settings_count();
	uint8_t *b = malloc(BLE_RECORD_SETTINGS_MAX(n));
	char err[160];

	assert_non_null(b);
	assert_int_equal(settings_set(&s->settings, "low_soc_warning_pct", 25, err, sizeof(err)),
	                 0);
	assert_int_equal(ble_record_settings(s, b, BLE_RECORD_SETTINGS_MAX(n)),
	                 (ssize_t)(2 + 4 * n));
	assert_int_equal(u8(b, 0), BLE_RECORD_VERSION);
	assert_int_equal(u8(b, 1), n);
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		int32_t v;
		assert_int_equal(settings_get(&s->settings, settings_desc(i)->name, &v), 0);
		assert_int_equal(i32(b, 2 + 4 * i), v);
		if (strcmp(settings_desc(i)->name, "low_soc_warning_pct") == 0) {
			assert_int_equal(i32(b, 2 + 4 * i), 25);
			seen = 1;
		}
	}
	assert_true(seen);
	assert_int_equal(ble_record_settings(s, b, BLE_RECORD_SETTINGS_MAX(n) - 1), -ENOBUFS);
	assert_true(n >= 2);
	free(b);
	free(s);
}

static void battery_level(void **state)
{
	(void)state;
	struct svc_snapshot *s = new_snapshot();

	assert_int_equal(ble_battery_level(s), -ENODATA);
	s->soc_known = true;
	static const int32_t in[] = {-1, 0, 49, 50, 4949, 4950, 9949, 9950, 10000, 10001};
	static const int out[] = {0, 0, 0, 1, 49, 50, 99, 100, 100, 100};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		s->soc_cpct = in[i];
		assert_int_equal(ble_battery_level(s), out[i]);
	}
	free(s);
}

/* A settings write of the given (index, value) pairs. */
static size_t settings_write(uint8_t *p, uint8_t version, const uint8_t *idx, const int32_t *val,
                             size_t n)
{
	size_t len = 0;

	p[len++] = version;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = (uint32_t)val[i];
		p[len++] = idx[i];
		for (int k = 0; k < 4; k++)
			p[len++] = (uint8_t)(v >> (8 * k));
	}
	return len;
}

static void settings_write_good(void **state)
{
	(void)state;
	uint8_t p[64];
	struct setting_change ch[4];
	size_t n = 99;
	char err[160] = "";
	uint8_t last = (uint8_t)(settings_count() - 1);
	const uint8_t idx[] = {last, 0, 2};
	const int32_t val[] = {-150, 0x12345678, INT32_MIN};
	size_t len = settings_write(p, 1, idx, val, 3);

	assert_int_equal(ble_settings_write_parse(p, len, ch, 4, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ch[0].name, settings_desc(last)->name);
	assert_int_equal(ch[0].value, -150);
	assert_string_equal(ch[1].name, settings_desc(0)->name);
	assert_int_equal(ch[1].value, 0x12345678);
	assert_string_equal(ch[2].name, settings_desc(2)->name);
	assert_int_equal(ch[2].value, INT32_MIN);

	/* Exactly max pairs is accepted. */
	assert_int_equal(ble_settings_write_parse(p, len, ch, 3, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
}

static void settings_write_bad(void **state)
{
	(void)state;
	uint8_t p[64];
	struct setting_change ch[4] = {{"untouched", 7}};
	size_t n = 99;
	char err[160];
	const uint8_t idx[] = {1, 2, 1};
	const int32_t val[] = {10, 20, 30};
	size_t len;

	/* bad version */
	len = settings_write(p, 2, idx, val, 1);
	err[0] = '\0';
	assert_int_equal(ble_settings_write_parse(p, len, ch, 4, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "version"));
	len = settings_write(p, 0, idx, val, 1);
	assert_int_equal(ble_settings_write_parse(p, len, ch, 4, &n, err, sizeof(err)), -EINVAL);
	/* empty, version alone, short pair, a byte too many */
	assert_int_equal(ble_settings_write_parse(p, 0, ch, 4, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(ble_settings_write_parse(NULL, 0, ch, 4, &n, err, sizeof(err)), -EINVAL);
	len = settings_write(p, 1, idx, val, 2);
	assert_int_equal(ble_settings_write_parse(p, 1, ch, 4, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(ble_settings_write_parse(p, 5, ch, 4, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(ble_settings_write_parse(p, len - 1, ch, 4, &n, err, sizeof(err)),
	                 -EINVAL);
	p[len] = 0;
	assert_int_equal(ble_settings_write_parse(p, len + 1, ch, 4, &n, err, sizeof(err)),
	                 -EINVAL);
	/* index out of range: exactly the count is one past the end */
	const uint8_t bad_idx[] = {0, (uint8_t)settings_count()};
	len = settings_write(p, 1, bad_idx, val, 2);
	err[0] = '\0';
	assert_int_equal(ble_settings_write_parse(p, len, ch, 4, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "index"));
	const uint8_t idx255[] = {255};
	len = settings_write(p, 1, idx255, val, 1);
	assert_int_equal(ble_settings_write_parse(p, len, ch, 4, &n, err, sizeof(err)), -EINVAL);
	/* duplicate */
	len = settings_write(p, 1, idx, val, 3);
	err[0] = '\0';
	assert_int_equal(ble_settings_write_parse(p, len, ch, 4, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	/* more pairs than the caller's array */
	len = settings_write(p, 1, idx, val, 2);
	assert_int_equal(ble_settings_write_parse(p, len, ch, 1, &n, err, sizeof(err)), -EINVAL);
	/* nothing changed by any refusal */
	assert_int_equal(n, 99);
	assert_string_equal(ch[0].name, "untouched");
	assert_int_equal(ch[0].value, 7);
}

static void command_parse(void **state)
{
	(void)state;
	struct ble_command c = {.op = 0, .soc_cpct = -7};
	char err[160];

	const uint8_t sync[] = {1, BLE_CMD_SYNC};
	assert_int_equal(ble_command_parse(sync, 2, &c, err, sizeof(err)), 0);
	assert_int_equal(c.op, BLE_CMD_SYNC);
	const uint8_t rd[] = {1, BLE_CMD_RESET_DEFAULTS};
	assert_int_equal(ble_command_parse(rd, 2, &c, err, sizeof(err)), 0);
	assert_int_equal(c.op, BLE_CMD_RESET_DEFAULTS);
	const uint8_t rh[] = {1, BLE_CMD_RESET_HISTORY};
	assert_int_equal(ble_command_parse(rh, 2, &c, err, sizeof(err)), 0);
	assert_int_equal(c.op, BLE_CMD_RESET_HISTORY);

	uint8_t soc[] = {1, BLE_CMD_SET_SOC, 0x10, 0x27, 0, 0}; /* 10000 */
	assert_int_equal(ble_command_parse(soc, 6, &c, err, sizeof(err)), 0);
	assert_int_equal(c.op, BLE_CMD_SET_SOC);
	assert_int_equal(c.soc_cpct, 10000);
	memset(soc + 2, 0, 4);
	assert_int_equal(ble_command_parse(soc, 6, &c, err, sizeof(err)), 0);
	assert_int_equal(c.soc_cpct, 0);

	c = (struct ble_command){.op = BLE_CMD_SYNC, .soc_cpct = 1234};
	soc[2] = 0x11; /* 10001 */
	soc[3] = 0x27;
	assert_int_equal(ble_command_parse(soc, 6, &c, err, sizeof(err)), -ERANGE);
	memset(soc + 2, 0xFF, 4); /* -1 */
	assert_int_equal(ble_command_parse(soc, 6, &c, err, sizeof(err)), -ERANGE);
	assert_int_equal(ble_command_parse(soc, 5, &c, err, sizeof(err)), -EINVAL);
	const uint8_t soc7[] = {1, BLE_CMD_SET_SOC, 0, 0, 0, 0, 0};
	assert_int_equal(ble_command_parse(soc7, 7, &c, err, sizeof(err)), -EINVAL);
	const uint8_t sync3[] = {1, BLE_CMD_SYNC, 0};
	assert_int_equal(ble_command_parse(sync3, 3, &c, err, sizeof(err)), -EINVAL);
	assert_int_equal(ble_command_parse(sync, 1, &c, err, sizeof(err)), -EINVAL);
	assert_int_equal(ble_command_parse(sync, 0, &c, err, sizeof(err)), -EINVAL);
	const uint8_t v2[] = {2, BLE_CMD_SYNC};
	err[0] = '\0';
	assert_int_equal(ble_command_parse(v2, 2, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "version"));
	const uint8_t op0[] = {1, 0}, op5[] = {1, 5};
	assert_int_equal(ble_command_parse(op0, 2, &c, err, sizeof(err)), -EINVAL);
	assert_int_equal(ble_command_parse(op5, 2, &c, err, sizeof(err)), -EINVAL);
	/* nothing changed by a refusal */
	assert_int_equal(c.op, BLE_CMD_SYNC);
	assert_int_equal(c.soc_cpct, 1234);
}

static void battery_select_parse(void **state)
{
	(void)state;
	unsigned addr = 77;

	const uint8_t a1[] = {1, 1}, a50[] = {1, 50}, a0[] = {1, 0}, a51[] = {1, 51};
	const uint8_t v0[] = {0, 1}, a3[] = {1, 2, 0};
	assert_int_equal(ble_battery_select_parse(a0, 2, &addr), -EINVAL);
	assert_int_equal(ble_battery_select_parse(a51, 2, &addr), -EINVAL);
	assert_int_equal(ble_battery_select_parse(v0, 2, &addr), -EINVAL);
	assert_int_equal(ble_battery_select_parse(a3, 3, &addr), -EINVAL);
	assert_int_equal(ble_battery_select_parse(a1, 1, &addr), -EINVAL);
	assert_int_equal(ble_battery_select_parse(NULL, 0, &addr), -EINVAL);
	assert_int_equal(addr, 77);
	assert_int_equal(ble_battery_select_parse(a1, 2, &addr), 0);
	assert_int_equal(addr, 1);
	assert_int_equal(ble_battery_select_parse(a50, 2, &addr), 0);
	assert_int_equal(addr, 50);
}

static void write_errors(void **state)
{
	(void)state;
	struct ble_att_error e;

	e = ble_write_error(-EINVAL);
	assert_string_equal(e.name, "org.bluez.Error.Failed");
	assert_string_equal(e.message, "0x80");
	assert_int_equal(e.att, 0x80);
	e = ble_write_error(-ERANGE);
	assert_string_equal(e.message, "0x81");
	assert_int_equal(e.att, 0x81);
	assert_int_equal(ble_write_error(-ENOENT).att, 0x82);
	assert_int_equal(ble_write_error(-ENODEV).att, 0x82);
	assert_int_equal(ble_write_error(-EIO).att, 0x83);
	assert_int_equal(ble_write_error(-ENOMEM).att, 0x84);
	e = ble_write_error(-EBUSY);
	assert_string_equal(e.name, "org.bluez.Error.InProgress");
	assert_int_equal(e.att, 0xFE);
	assert_string_equal(ble_write_error(-EPERM).name, "org.bluez.Error.NotAuthorized");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(status_known_values),
	        cmocka_unit_test(status_unknown_and_bounds),
	        cmocka_unit_test(status_buffer_too_small),
	        cmocka_unit_test(battery_with_status),
	        cmocka_unit_test(battery_without_status),
	        cmocka_unit_test(history_values),
	        cmocka_unit_test(settings_values),
	        cmocka_unit_test(battery_level),
	        cmocka_unit_test(settings_write_good),
	        cmocka_unit_test(settings_write_bad),
	        cmocka_unit_test(command_parse),
	        cmocka_unit_test(battery_select_parse),
	        cmocka_unit_test(write_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
