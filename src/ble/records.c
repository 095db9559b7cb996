/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ble/records.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "core/codes.h"
#include "core/le_codec.h"

static int fail(char *err, size_t errlen, int r, const char *fmt, ...) _printf_(4, 5);

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static ssize_t finish(const struct le_writer *w)
{
	return w->len > w->cap ? -ENOBUFS : (ssize_t)w->len;
}

static int32_t clamp_i32(int64_t v)
{
	return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

static uint32_t clamp_u32(int64_t v)
{
	return v > (int64_t)UINT32_MAX ? UINT32_MAX : v < 0 ? 0 : (uint32_t)v;
}

static uint32_t clamp_u32_u64(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* 0x7FFF is "not available", so a real value stops one below it. */
static int16_t clamp_temp_dc(int32_t v)
{
	return v >= INT16_MAX ? INT16_MAX - 1 : v < INT16_MIN ? INT16_MIN : (int16_t)v;
}

/* Displayed estimates (Ah, Wh) to a non-negative integer, rounded; NaN and
 * negatives are 0. */
static uint64_t round_u64(double x, uint64_t max)
{
	if (!(x > 0))
		return 0;
	if (x >= (double)max)
		return max;
	return (uint64_t)(x + 0.5);
}

static uint16_t soc_field(bool known, int32_t soc_cpct)
{
	if (!known || soc_cpct < 0)
		return 0;
	return soc_cpct > 10000 ? 10000 : (uint16_t)soc_cpct;
}

ssize_t ble_record_status(const struct svc_snapshot *s, uint8_t *buf, size_t cap)
{
	struct le_writer w = {.p = buf, .cap = buf ? cap : 0};
	bool prot = s->have_protection;
	uint8_t flags = 0, flags2 = 0;

	flags |= s->soc_known ? 1u << 0 : 0;
	flags |= s->measure_valid ? 1u << 1 : 0;
	flags |= s->time_remaining_known ? 1u << 2 : 0;
	flags |= prot ? 1u << 3 : 0;
	flags |= prot && s->prot.atd_closed ? 1u << 4 : 0;
	flags |= prot && s->prot.atc_closed ? 1u << 5 : 0;
	flags |= prot && s->prot.prealarm_active ? 1u << 6 : 0;
	flags |= s->remote_on ? 1u << 7 : 0;

	flags2 |= s->have_topology && s->topo_err == BANK_OK ? 1u << 0 : 0;
	flags2 |= s->bank_changed ? 1u << 1 : 0;
	flags2 |= s->bus.port_open ? 1u << 2 : 0;
	flags2 |= s->bus.enumerated ? 1u << 3 : 0;
	flags2 |= s->bus.chain_open ? 1u << 4 : 0;
	flags2 |= s->bus.enum_failed ? 1u << 5 : 0;

	le_put_u8(&w, BLE_RECORD_VERSION);
	le_put_u8(&w, flags);
	le_put_u16(&w, soc_field(s->soc_known, s->soc_cpct));
	le_put_i32(&w, s->measure_valid ? s->bank_mv : 0);
	le_put_i32(&w, s->measure_valid ? s->current_ma : 0);
	le_put_i32(&w, s->measure_valid ? clamp_i32(s->power_mw) : 0);
	le_put_u32(&w, (uint32_t)round_u64(s->consumed_ah * 1000.0, UINT32_MAX));
	le_put_u32(&w, s->time_remaining_known ? clamp_u32(s->time_remaining_s) : 0);
	le_put_u16(&w, s->min_cell_mv);
	le_put_u16(&w, s->max_cell_mv);
	le_put_u16(&w, (uint16_t)s->min_temp_dc);
	le_put_u16(&w, (uint16_t)s->max_temp_dc);
	le_put_u32(&w, prot ? s->prot.codes : 0);
	le_put_u8(&w, (uint8_t)s->balancer);
	le_put_u8(&w, prot ? (uint8_t)((s->prot.blue & 0x0f) | (s->prot.red & 0x0f) << 4) : 0);
	le_put_u8(&w, flags2);
	le_put_u8(&w, (uint8_t)(s->n_batteries > 255 ? 255 : s->n_batteries));
	return finish(&w);
}

static const struct svc_battery *find_battery(const struct svc_snapshot *s, unsigned addr)
{
	unsigned n = s->n_batteries < SVC_MAX_BATTERIES ? s->n_batteries : SVC_MAX_BATTERIES;

	if (addr == 0)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		if (s->bat[i].addr == addr)
			return &s->bat[i];
	return NULL;
}

ssize_t ble_record_battery(const struct svc_snapshot *s, unsigned addr, uint8_t *buf, size_t cap)
{
	struct le_writer w = {.p = buf, .cap = buf ? cap : 0};
	const struct svc_battery *b = find_battery(s, addr);
	uint8_t serial[M8_SERIAL_LEN] = {0};

	if (!b)
		return -ENOENT;
	memcpy(serial, b->info.serial, strnlen(b->info.serial, M8_SERIAL_LEN));

	le_put_u8(&w, BLE_RECORD_VERSION);
	le_put_u8(&w, (uint8_t)addr);
	le_put_bytes(&w, serial, sizeof(serial));
	le_put_u8(&w, b->info.type);
	le_put_u16(&w, b->info.capacity_ah);
	le_put_u8(&w, b->info.fw_major);
	le_put_u8(&w, b->info.fw_minor);
	le_put_u8(&w, b->info.fw_patch);
	le_put_u8(&w,
	          (uint8_t)((b->has_status ? 1u : 0) | (b->fresh ? 2u : 0) | (b->lost ? 4u : 0)));
	if (b->has_status) {
		/* A STATUS stamped after the snapshot cannot be: read it as fresh. */
		uint64_t age_us = s->mono_us > b->status_us ? s->mono_us - b->status_us : 0;
		uint64_t age_ms = age_us / 1000;
		unsigned nc = b->status.n_cells < M8_MAX_CELLS ? b->status.n_cells : M8_MAX_CELLS;
		unsigned nt = b->status.n_temps < M8_MAX_TEMPS ? b->status.n_temps : M8_MAX_TEMPS;

		/* 0xFFFFFFFF means "no STATUS", so an old one stops one below. */
		le_put_u32(&w, age_ms >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)age_ms);
		le_put_u16(&w, b->status.voltage_mv);
		le_put_i32(&w, b->status.current_ma);
		le_put_u8(&w, b->status.flags);
		le_put_u8(&w, (uint8_t)nc);
		for (unsigned i = 0; i < nc; i++)
			le_put_u16(&w, b->status.cell_mv[i]);
		le_put_u8(&w, (uint8_t)nt);
		for (unsigned i = 0; i < nt; i++)
			le_put_u16(&w, (uint16_t)b->status.temp_dc[i]);
	} else {
		le_put_u32(&w, UINT32_MAX);
		le_put_u16(&w, 0);
		le_put_i32(&w, 0);
		le_put_u8(&w, 0);
		le_put_u8(&w, 0);
		le_put_u8(&w, 0);
	}
	le_put_u32(&w, clamp_u32_u64(b->stats.requests));
	le_put_u32(&w, clamp_u32_u64(b->stats.timeouts));
	le_put_u32(&w, clamp_u32_u64(b->stats.crc_errors));
	le_put_u32(&w, clamp_u32_u64(b->stats.naks));
	return finish(&w);
}

/* History minima and maxima: 0 stands for "none seen", as on D-Bus. */
static int32_t extreme_mv(int32_t v)
{
	return v == HISTORY_MIN_NONE || v == HISTORY_MAX_NONE ? 0 : v;
}

static int16_t extreme_temp_dc(int32_t v)
{
	return v == HISTORY_MIN_NONE || v == HISTORY_MAX_NONE ? INT16_MAX : clamp_temp_dc(v);
}

ssize_t ble_record_history(const struct svc_snapshot *s, uint8_t *buf, size_t cap)
{
	struct le_writer w = {.p = buf, .cap = buf ? cap : 0};
	const struct history *h = &s->history;
	unsigned n = h->n_errors < HISTORY_ERRORS ? h->n_errors : HISTORY_ERRORS;

	le_put_u8(&w, BLE_RECORD_VERSION);
	le_put_u32(&w, (uint32_t)round_u64(h->deepest_ah * 1000.0, UINT32_MAX));
	le_put_u64(&w, round_u64(h->drawn_ah * 1000.0, UINT64_MAX));
	le_put_u32(&w, (uint32_t)round_u64(h->discharged_wh, UINT32_MAX));
	le_put_u32(&w, (uint32_t)round_u64(h->charged_wh, UINT32_MAX));
	le_put_u32(&w, h->syncs);
	le_put_u32(&w, h->cycles);
	le_put_i64(&w, h->last_full_charge_s == HISTORY_NEVER ? 0 : h->last_full_charge_s);
	le_put_i32(&w, extreme_mv(h->min_bank_mv));
	le_put_i32(&w, extreme_mv(h->max_bank_mv));
	le_put_i32(&w, extreme_mv(h->min_cell_mv));
	le_put_i32(&w, extreme_mv(h->max_cell_mv));
	le_put_u16(&w, (uint16_t)extreme_temp_dc(h->min_temp_dc));
	le_put_u16(&w, (uint16_t)extreme_temp_dc(h->max_temp_dc));
	le_put_u8(&w, (uint8_t)n);
	for (unsigned i = 0; i < n; i++) {
		le_put_u8(&w, h->errors[i].code);
		le_put_i64(&w, h->errors[i].wall_s);
	}
	return finish(&w);
}

ssize_t ble_record_settings(const struct svc_snapshot *s, uint8_t *buf, size_t cap)
{
	struct le_writer w = {.p = buf, .cap = buf ? cap : 0};
	/* settings_value() reads through a mutable pointer: a copy keeps the
	 * snapshot const. */
	struct bms_settings copy = s->settings;
	size_t n = settings_count();

	le_put_u8(&w, BLE_RECORD_VERSION);
	le_put_u8(&w, (uint8_t)n);
	for (size_t i = 0; i < n; i++)
		le_put_i32(&w, *settings_value(&copy, i));
	return finish(&w);
}

int ble_battery_level(const struct svc_snapshot *s)
{
	if (!s->soc_known)
		return -ENODATA;
	return (soc_field(true, s->soc_cpct) + 50) / 100;
}

static int check_version(const uint8_t *p, size_t len, char *err, size_t errlen)
{
	if (!p || len < 1)
		return fail(err, errlen, -EINVAL, "empty write");
	if (p[0] != BLE_RECORD_VERSION)
		return fail(err, errlen, -EINVAL, "record version %u, expected %u", p[0],
		            BLE_RECORD_VERSION);
	return 0;
}

int ble_settings_write_parse(const uint8_t *p, size_t len, struct setting_change *ch, size_t max,
                             size_t *n, char *err, size_t errlen)
{
	struct le_reader r = {.p = p, .len = len, .pos = 1};
	size_t count = settings_count(), pairs;
	int ret;

	ret = check_version(p, len, err, errlen);
	if (ret < 0)
		return ret;
	if (len < 6 || (len - 1) % 5 != 0)
		return fail(err, errlen, -EINVAL,
		            "settings write of %zu bytes: version + 5 bytes per setting", len);
	pairs = (len - 1) / 5;
	if (pairs > max)
		return fail(err, errlen, -EINVAL, "%zu settings in one write, at most %zu", pairs,
		            max);
	/* Into a scratch set first: ch[] and *n change only on success. */
	bool seen[256] = {false};
	for (size_t i = 0; i < pairs; i++) {
		uint8_t idx = le_get_u8(&r);
		(void)le_get_i32(&r);
		if (idx >= count)
			return fail(err, errlen, -EINVAL, "setting index %u, the registry has %zu",
			            idx, count);
		if (seen[idx])
			return fail(err, errlen, -EINVAL, "setting %s (index %u) given twice",
			            settings_desc(idx)->name, idx);
		seen[idx] = true;
	}
	r.pos = 1;
	for (size_t i = 0; i < pairs; i++) {
		uint8_t idx = le_get_u8(&r);
		ch[i].name = settings_desc(idx)->name;
		ch[i].value = le_get_i32(&r);
	}
	*n = pairs;
	return 0;
}

int ble_command_parse(const uint8_t *p, size_t len, struct ble_command *cmd, char *err,
                      size_t errlen)
{
	struct le_reader r = {.p = p, .len = len, .pos = 2};
	int ret;

	ret = check_version(p, len, err, errlen);
	if (ret < 0)
		return ret;
	if (len < 2)
		return fail(err, errlen, -EINVAL, "command without an operation");
	switch (p[1]) {
	case BLE_CMD_SYNC:
	case BLE_CMD_RESET_DEFAULTS:
	case BLE_CMD_RESET_HISTORY:
		if (len != 2)
			return fail(err, errlen, -EINVAL, "command %u takes no argument", p[1]);
		*cmd = (struct ble_command){.op = (enum ble_command_op)p[1]};
		return 0;
	case BLE_CMD_SET_SOC: {
		if (len != 6)
			return fail(err, errlen, -EINVAL,
			            "set SoC is 6 bytes (version, op, i32 soc_cpct), got %zu", len);
		int32_t soc = le_get_i32(&r);
		if (soc < 0 || soc > 10000)
			return fail(err, errlen, -ERANGE, "SoC %d (0.01 %%) outside 0..10000", soc);
		*cmd = (struct ble_command){.op = BLE_CMD_SET_SOC, .soc_cpct = soc};
		return 0;
	}
	default:
		return fail(err, errlen, -EINVAL, "unknown command %u", p[1]);
	}
}

int ble_battery_select_parse(const uint8_t *p, size_t len, unsigned *addr)
{
	if (check_version(p, len, NULL, 0) < 0 || len != 2)
		return -EINVAL;
	if (p[1] < 1 || p[1] > SVC_MAX_BATTERIES)
		return -EINVAL;
	*addr = p[1];
	return 0;
}

struct ble_att_error ble_write_error(int r)
{
	switch (r) {
	case -EINVAL:
		return (struct ble_att_error){"org.bluez.Error.Failed", "0x80", 0x80};
	case -ERANGE:
		return (struct ble_att_error){"org.bluez.Error.Failed", "0x81", 0x81};
	case -ENOENT:
	case -ENODEV:
		return (struct ble_att_error){"org.bluez.Error.Failed", "0x82", 0x82};
	case -EIO:
		return (struct ble_att_error){"org.bluez.Error.Failed", "0x83", 0x83};
	case -EBUSY:
		return (struct ble_att_error){"org.bluez.Error.InProgress", "busy", 0xFE};
	case -EPERM:
	case -EACCES:
		return (struct ble_att_error){"org.bluez.Error.NotAuthorized", "not authorized",
		                              0x08};
	default:
		return (struct ble_att_error){"org.bluez.Error.Failed", "0x84", 0x84};
	}
}
