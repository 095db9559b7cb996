/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/record.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/crc32.h"
#include "core/le_codec.h"

/* A byte that must be a bool: anything but 0 or 1 is a malformed record. */
static bool get_bool(struct le_reader *r, bool *bad)
{
	uint8_t v = le_get_u8(r);

	if (v > 1)
		*bad = true;
	return v == 1;
}

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

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

static void put_payload(struct le_writer *w, const struct record *rec)
{
	size_t n = settings_count();

	le_put_u16(w, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		int32_t v = 0;
		(void)settings_get(&rec->settings, settings_desc(i)->name, &v);
		le_put_i32(w, v);
	}

	le_put_u8(w, rec->soc.known);
	le_put_f64(w, rec->soc.soc_pct);
	le_put_f64(w, rec->soc.consumed_ah);
	le_put_u32(w, rec->soc.soc_events);

	le_put_f64(w, rec->hist.deepest_ah);
	le_put_f64(w, rec->hist.drawn_ah);
	le_put_f64(w, rec->hist.discharged_wh);
	le_put_f64(w, rec->hist.charged_wh);
	le_put_u32(w, rec->hist.syncs);
	le_put_u32(w, rec->hist.cycles);
	le_put_u8(w, rec->hist.sync_armed);
	le_put_u8(w, rec->hist.cycle_armed);
	le_put_i64(w, rec->hist.last_full_charge_s);
	le_put_i32(w, rec->hist.min_bank_mv);
	le_put_i32(w, rec->hist.max_bank_mv);
	le_put_i32(w, rec->hist.min_cell_mv);
	le_put_i32(w, rec->hist.max_cell_mv);
	le_put_i32(w, rec->hist.min_temp_dc);
	le_put_i32(w, rec->hist.max_temp_dc);
	le_put_u8(w, rec->hist.n_errors);
	for (unsigned i = 0; i < rec->hist.n_errors && i < HISTORY_ERRORS; i++) {
		le_put_u8(w, rec->hist.errors[i].code);
		le_put_i64(w, rec->hist.errors[i].wall_s);
	}
	le_put_u32(w, rec->hist.error_mask);

	le_put_u8(w, rec->bal.synced);
	le_put_i64(w, rec->bal.last_sync_wall_s);
	le_put_i32(w, rec->bal.spread_mv);

	le_put_u8(w, rec->have_bank);
	if (rec->have_bank) {
		le_put_u8(w, rec->bank.n);
		le_put_u8(w, rec->bank.type);
		le_put_u16(w, rec->bank.capacity_ah);
		le_put_u8(w, rec->bank.s);
		for (unsigned i = 0; i < rec->bank.n && i < BANK_MAX_BATTERIES; i++) {
			uint8_t serial[BANK_SERIAL_LEN] = {0};
			memcpy(serial, rec->bank.serial[i],
			       strnlen(rec->bank.serial[i], BANK_SERIAL_LEN));
			le_put_bytes(w, serial, sizeof(serial));
		}
	}

	le_put_u16(w, rec->prot_len);
	le_put_bytes(w, rec->prot, rec->prot_len <= sizeof(rec->prot) ? rec->prot_len : 0);

	le_put_u16(w, rec->fw_len);
	le_put_bytes(w, rec->fw, rec->fw_len <= sizeof(rec->fw) ? rec->fw_len : 0);
}

/* Reads the payload into *rec; the values are checked afterwards. */
static int get_payload(struct le_reader *r, struct record *rec, unsigned version, char *err,
                       size_t errlen)
{
	bool bad = false;
	size_t n = le_get_u16(r);

	if (r->short_read)
		return fail(err, errlen, -EBADMSG, "record truncated in the settings");
	if (n != settings_count())
		return fail(err, errlen, -EBADMSG, "record has %zu settings, expected %zu", n,
		            settings_count());
	for (size_t i = 0; i < n; i++)
		*settings_value(&rec->settings, i) = le_get_i32(r);

	rec->soc.known = get_bool(r, &bad);
	rec->soc.soc_pct = le_get_f64(r);
	rec->soc.consumed_ah = le_get_f64(r);
	rec->soc.soc_events = le_get_u32(r);

	rec->hist.deepest_ah = le_get_f64(r);
	rec->hist.drawn_ah = le_get_f64(r);
	rec->hist.discharged_wh = le_get_f64(r);
	rec->hist.charged_wh = le_get_f64(r);
	rec->hist.syncs = le_get_u32(r);
	rec->hist.cycles = le_get_u32(r);
	rec->hist.sync_armed = get_bool(r, &bad);
	rec->hist.cycle_armed = get_bool(r, &bad);
	rec->hist.last_full_charge_s = le_get_i64(r);
	rec->hist.min_bank_mv = le_get_i32(r);
	rec->hist.max_bank_mv = le_get_i32(r);
	rec->hist.min_cell_mv = le_get_i32(r);
	rec->hist.max_cell_mv = le_get_i32(r);
	rec->hist.min_temp_dc = le_get_i32(r);
	rec->hist.max_temp_dc = le_get_i32(r);
	rec->hist.n_errors = le_get_u8(r);
	if (rec->hist.n_errors > HISTORY_ERRORS)
		return fail(err, errlen, -EBADMSG, "record has %u last errors, at most %d",
		            rec->hist.n_errors, HISTORY_ERRORS);
	for (unsigned i = 0; i < rec->hist.n_errors; i++) {
		rec->hist.errors[i].code = le_get_u8(r);
		rec->hist.errors[i].wall_s = le_get_i64(r);
	}
	rec->hist.error_mask = le_get_u32(r);

	rec->bal.synced = get_bool(r, &bad);
	rec->bal.last_sync_wall_s = le_get_i64(r);
	rec->bal.spread_mv = le_get_i32(r);

	rec->have_bank = get_bool(r, &bad);
	if (rec->have_bank) {
		rec->bank.n = le_get_u8(r);
		rec->bank.type = le_get_u8(r);
		rec->bank.capacity_ah = le_get_u16(r);
		rec->bank.s = le_get_u8(r);
		if (rec->bank.n > BANK_MAX_BATTERIES)
			return fail(err, errlen, -ERANGE, "bank of %u batteries, at most %d",
			            rec->bank.n, BANK_MAX_BATTERIES);
		for (unsigned i = 0; i < rec->bank.n; i++) {
			for (unsigned c = 0; c < BANK_SERIAL_LEN; c++)
				rec->bank.serial[i][c] = (char)le_get_u8(r);
			rec->bank.serial[i][BANK_SERIAL_LEN] = '\0';
		}
	}

	rec->prot_len = le_get_u16(r);
	if (rec->prot_len > sizeof(rec->prot))
		return fail(err, errlen, -EBADMSG, "protection section of %u bytes, at most %zu",
		            rec->prot_len, sizeof(rec->prot));
	for (unsigned i = 0; i < rec->prot_len; i++)
		rec->prot[i] = le_get_u8(r);

	if (version >= 2) {
		rec->fw_len = le_get_u16(r);
		if (rec->fw_len > sizeof(rec->fw))
			return fail(err, errlen, -EBADMSG,
			            "firmware section of %u bytes, at most %zu", rec->fw_len,
			            sizeof(rec->fw));
		for (unsigned i = 0; i < rec->fw_len; i++)
			rec->fw[i] = le_get_u8(r);
	}

	if (r->short_read)
		return fail(err, errlen, -EBADMSG, "record truncated");
	if (r->pos != r->len)
		return fail(err, errlen, -EBADMSG, "%zu bytes after the end of the record",
		            r->len - r->pos);
	if (bad)
		return fail(err, errlen, -EBADMSG, "a flag is neither 0 nor 1");
	return 0;
}

/* Everything a record must satisfy to be written or accepted. */
static int check_record(const struct record *rec, char *err, size_t errlen)
{
	/* mutation: equivalent [const] because a settings message is shorter than
	 * 100 characters (the longest name and two numbers). */
	char why[160];
	int r;

	r = settings_validate(&rec->settings, why, sizeof(why));
	if (r < 0)
		return fail(err, errlen, -ERANGE, "settings: %s", why);
	if (monitor_soc_check(&rec->soc) < 0)
		return fail(err, errlen, -ERANGE, "SoC state out of bounds");
	if (history_check(&rec->hist) < 0)
		return fail(err, errlen, -ERANGE, "history out of bounds");
	if (balancer_check(&rec->bal) < 0)
		return fail(err, errlen, -ERANGE, "balancer state out of bounds");
	if (rec->have_bank && bank_identity_check(&rec->bank) < 0)
		return fail(err, errlen, -ERANGE, "bank identity invalid");
	if (rec->prot_len > sizeof(rec->prot))
		return fail(err, errlen, -ERANGE, "protection section too long");
	if (rec->prot_len > 0 && protection_persist_check(rec->prot, rec->prot_len) < 0)
		return fail(err, errlen, -ERANGE, "protection section refused");
	if (rec->fw_len > sizeof(rec->fw))
		return fail(err, errlen, -ERANGE, "firmware section too long");
	if (rec->fw_len > 0 && fw_updater_persist_check(rec->fw, rec->fw_len) < 0)
		return fail(err, errlen, -ERANGE, "firmware section refused");
	return 0;
}

int record_encode(const struct record *rec, uint8_t *buf, size_t cap, char *err, size_t errlen)
{
	struct le_writer w = {.p = buf, .cap = cap};
	size_t payload;
	uint32_t crc;
	int r;

	if (!rec || (!buf && cap > 0))
		return fail(err, errlen, -EINVAL, "no record");
	r = check_record(rec, err, errlen);
	if (r < 0)
		return -EINVAL;
	/* Header with a length and CRC filled in once the payload is known. */
	le_put_u32(&w, RECORD_MAGIC);
	le_put_u16(&w, RECORD_VERSION);
	le_put_u16(&w, 0);
	le_put_u32(&w, 0);
	le_put_u32(&w, 0);
	put_payload(&w, rec);
	if (w.len > cap)
		return fail(err, errlen, -ENOBUFS, "record needs %zu bytes, buffer has %zu", w.len,
		            cap);
	payload = w.len - RECORD_HEADER_SIZE;
	crc = crc32_ieee(buf + RECORD_HEADER_SIZE, payload);
	w.len = 8;
	le_put_u32(&w, (uint32_t)payload);
	le_put_u32(&w, crc);
	return (int)(RECORD_HEADER_SIZE + payload);
}

int record_decode(const uint8_t *buf, size_t len, struct record *out, char *err, size_t errlen)
{
	struct le_reader h = {.p = buf, .len = len};
	struct le_reader body;
	struct record rec;
	uint32_t magic, payload, crc;
	uint16_t version, reserved;
	int r;

	if (!buf || !out)
		return fail(err, errlen, -EINVAL, "no record");
	if (len < RECORD_HEADER_SIZE)
		return fail(err, errlen, -EBADMSG, "record truncated: %zu bytes, header needs %d",
		            len, RECORD_HEADER_SIZE);
	magic = le_get_u32(&h);
	version = le_get_u16(&h);
	reserved = le_get_u16(&h);
	payload = le_get_u32(&h);
	crc = le_get_u32(&h);
	if (magic != RECORD_MAGIC)
		return fail(err, errlen, -EBADMSG, "not a state record (magic 0x%08x)", magic);
	if (version > RECORD_VERSION)
		return fail(err, errlen, -ENOTSUP, "record version %u is newer than this one (%d)",
		            version, RECORD_VERSION);
	if (version < RECORD_VERSION_MIN)
		return fail(err, errlen, -ENOTSUP, "record version %u is not supported (%d..%d)",
		            version, RECORD_VERSION_MIN, RECORD_VERSION);
	if (reserved != 0)
		return fail(err, errlen, -EBADMSG, "reserved header field is 0x%04x, not 0",
		            reserved);
	if (payload != len - RECORD_HEADER_SIZE)
		return fail(err, errlen, -EBADMSG,
		            "record length %u, but %zu bytes follow the header", payload,
		            len - RECORD_HEADER_SIZE);
	if (crc32_ieee(buf + RECORD_HEADER_SIZE, payload) != crc)
		return fail(err, errlen, -EBADMSG, "record CRC mismatch");

	memset(&rec, 0, sizeof(rec));
	body = (struct le_reader){.p = buf + RECORD_HEADER_SIZE, .len = payload};
	r = get_payload(&body, &rec, version, err, errlen);
	if (r < 0)
		return r;
	r = check_record(&rec, err, errlen);
	if (r < 0)
		return r;
	*out = rec;
	return 0;
}
