/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/crc32.h"
#include "core/record.h"
#include "record_golden.h"

#define WALL0 1767225600ll

/* A deterministic generator, so a failing case can be replayed. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A record with every field away from its initial value. */
static void full_record(struct record *r)
{
	struct protection p;
	char err[160];

	memset(r, 0, sizeof(*r));
	settings_default(&r->settings);
	const struct setting_change ch[] = {
	        {"uv_trip_mv", 2750},        {"ov_trip_mv", 3700},
	        {"charged_cell_mv", 3450},   {"charged_detect_s", 240},
	        {"tail_current_pmil", 30},   {"discharge_floor_pct", 0},
	        {"low_soc_warning_pct", 25}, {"discharge_temp_low_dc", -150},
	};
	assert_int_equal(
	        settings_apply(&r->settings, ch, sizeof(ch) / sizeof(ch[0]), err, sizeof(err)), 0);
	r->soc = (struct monitor_soc){.known = true,
	                              .soc_pct = 63.123456789,
	                              .consumed_ah = 36.87654321,
	                              .soc_events = 77};
	history_reset(&r->hist);
	r->hist.deepest_ah = 81.5;
	r->hist.drawn_ah = 12345.678;
	r->hist.discharged_wh = 158000.25;
	r->hist.charged_wh = 170000.5;
	r->hist.syncs = 41;
	r->hist.cycles = 39;
	r->hist.sync_armed = false;
	r->hist.cycle_armed = true;
	r->hist.last_full_charge_s = WALL0 - 3600;
	history_note_extremes(&r->hist, 12050, 2950, 3655, -123, 456);
	history_note_extremes(&r->hist, 14390, 3001, 3002, 0, 1);
	for (int i = 0; i < 5; i++)
		assert_int_equal(
		        history_note_error(&r->hist, (enum bms_code)(BMS_E1 + i), WALL0 + i), 0);
	r->hist.error_mask = BMS_CODE_BIT(BMS_E5);
	balancer_reset(&r->bal);
	balancer_note_sync(&r->bal, WALL0 - 3600, 3390, 3422);
	r->have_bank = true;
	r->bank = (struct bank_identity){.n = 48, .type = 1, .capacity_ah = 300, .s = 4};
	for (int i = 0; i < 48; i++)
		snprintf(r->bank.serial[i], sizeof(r->bank.serial[i]), "HQ2402JJ%04d", i);
	strcpy(r->bank.serial[47], "ABCDEFGHIJKLMNOP"); /* all 16 characters */
	assert_int_equal(protection_init(&p, &r->settings.protection, -1), 0);
	int n = protection_persist_encode(&p, 5000000, r->prot, sizeof(r->prot));
	assert_true(n > 0);
	r->prot_len = (uint16_t)n;
	/* a firmware update failed 30 s before the save, another was running */
	struct fw_updater u;
	fw_updater_init(&u);
	u.state = FW_JOB_DATA;
	u.addr = 3;
	memcpy(u.serial, "HQ2402JJ0002", 12);
	u.img = (struct fw_image){.battery_type = 1, .version = {1, 5, 0}, .size = 1000};
	u.acked = 480;
	u.failed = true;
	u.failed_addr = 3;
	u.failed_since_us = 5000000;
	n = fw_updater_persist_encode(&u, 35000000, r->fw, sizeof(r->fw));
	assert_true(n > 0);
	r->fw_len = (uint16_t)n;
}

static void assert_same_record(const struct record *a, const struct record *b)
{
	assert_memory_equal(&a->settings, &b->settings, sizeof(a->settings));
	assert_int_equal(a->soc.known, b->soc.known);
	assert_true(a->soc.soc_pct == b->soc.soc_pct);
	assert_true(a->soc.consumed_ah == b->soc.consumed_ah);
	assert_int_equal(a->soc.soc_events, b->soc.soc_events);
	assert_true(a->hist.deepest_ah == b->hist.deepest_ah);
	assert_true(a->hist.drawn_ah == b->hist.drawn_ah);
	assert_true(a->hist.discharged_wh == b->hist.discharged_wh);
	assert_true(a->hist.charged_wh == b->hist.charged_wh);
	assert_int_equal(a->hist.syncs, b->hist.syncs);
	assert_int_equal(a->hist.cycles, b->hist.cycles);
	assert_int_equal(a->hist.sync_armed, b->hist.sync_armed);
	assert_int_equal(a->hist.cycle_armed, b->hist.cycle_armed);
	assert_int_equal(a->hist.last_full_charge_s, b->hist.last_full_charge_s);
	assert_int_equal(a->hist.min_bank_mv, b->hist.min_bank_mv);
	assert_int_equal(a->hist.max_bank_mv, b->hist.max_bank_mv);
	assert_int_equal(a->hist.min_cell_mv, b->hist.min_cell_mv);
	assert_int_equal(a->hist.max_cell_mv, b->hist.max_cell_mv);
	assert_int_equal(a->hist.min_temp_dc, b->hist.min_temp_dc);
	assert_int_equal(a->hist.max_temp_dc, b->hist.max_temp_dc);
	assert_int_equal(a->hist.n_errors, b->hist.n_errors);
	for (unsigned i = 0; i < a->hist.n_errors; i++) {
		assert_int_equal(a->hist.errors[i].code, b->hist.errors[i].code);
		assert_int_equal(a->hist.errors[i].wall_s, b->hist.errors[i].wall_s);
	}
	assert_int_equal(a->hist.error_mask, b->hist.error_mask);
	assert_int_equal(a->bal.synced, b->bal.synced);
	assert_int_equal(a->bal.last_sync_wall_s, b->bal.last_sync_wall_s);
	assert_int_equal(a->bal.spread_mv, b->bal.spread_mv);
	assert_int_equal(a->have_bank, b->have_bank);
	if (a->have_bank) {
		assert_int_equal(a->bank.n, b->bank.n);
		assert_int_equal(a->bank.type, b->bank.type);
		assert_int_equal(a->bank.capacity_ah, b->bank.capacity_ah);
		assert_int_equal(a->bank.s, b->bank.s);
		for (unsigned i = 0; i < a->bank.n; i++)
			assert_string_equal(a->bank.serial[i], b->bank.serial[i]);
	}
	assert_int_equal(a->prot_len, b->prot_len);
	assert_memory_equal(a->prot, b->prot, a->prot_len);
	assert_int_equal(a->fw_len, b->fw_len);
	assert_memory_equal(a->fw, b->fw, a->fw_len);
}

static uint8_t *encode(const struct record *r, int *len)
{
	uint8_t *buf = malloc(RECORD_MAX_SIZE);
	char err[160];

	assert_non_null(buf);
	*len = record_encode(r, buf, RECORD_MAX_SIZE, err, sizeof(err));
	if (*len < 0)
		fail_msg("encode: %s", err);
	return buf;
}

static void round_trip(void **state)
{
	struct record *in = calloc(1, sizeof(*in)), *out = calloc(1, sizeof(*out));
	char err[160];
	int len, len2;

	(void)state;
	full_record(in);
	uint8_t *buf = encode(in, &len);
	assert_int_equal(record_decode(buf, (size_t)len, out, err, sizeof(err)), 0);
	assert_same_record(in, out);
	/* and the decoded record encodes to the same bytes */
	uint8_t *buf2 = encode(out, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, (size_t)len);
	printf("# full record: %d bytes\n", len);

	/* a new installation: no bank, SoC unknown, empty history, no protection */
	memset(in, 0, sizeof(*in));
	settings_default(&in->settings);
	history_reset(&in->hist);
	balancer_reset(&in->bal);
	free(buf);
	buf = encode(in, &len);
	assert_int_equal(record_decode(buf, (size_t)len, out, err, sizeof(err)), 0);
	assert_same_record(in, out);
	free(buf);
	free(buf2);
	free(in);
	free(out);
}

static void header_layout(void **state)
{
	struct record *r = calloc(1, sizeof(*r));
	int len;

	(void)state;
	full_record(r);
	uint8_t *buf = encode(r, &len);
	/* explicit little-endian: magic, version 2, reserved 0, length, CRC-32 */
	assert_memory_equal(buf, "SBSR", 4);
	assert_int_equal(buf[4] | buf[5] << 8, 2);
	assert_int_equal(buf[6] | buf[7] << 8, 0);
	uint32_t plen = buf[8] | buf[9] << 8 | buf[10] << 16 | (uint32_t)buf[11] << 24;
	assert_int_equal(plen, (uint32_t)len - 16);
	uint32_t crc = buf[12] | buf[13] << 8 | buf[14] << 16 | (uint32_t)buf[15] << 24;
	assert_int_equal(crc, crc32_ieee(buf + 16, plen));
	/* the first setting (crit_uv_mv = 2500) right after the u16 count */
	assert_int_equal(buf[16] | buf[17] << 8, settings_count());
	assert_int_equal(buf[18] | buf[19] << 8, 2500);
	assert_int_equal(crc32_ieee("123456789", 9), 0xCBF43926u);
	/* too small a buffer */
	char err[160];
	assert_int_equal(record_encode(r, buf, (size_t)len - 1, err, sizeof(err)), -ENOBUFS);
	free(buf);
	free(r);
}

/*
 * Byte order: the record is the same bytes on every host. The golden image
 * (record_golden.h: record_golden_v2, the current version) is full_record()
 * as record_encode wrote it on x86-64;
 * tools/cross-test runs this test on big-endian s390x under qemu, where a
 * field written or read in host order would differ. Besides the image, the
 * IEEE-754 bit patterns of some doubles are checked in little-endian order
 * with values worked out apart from the code (Python's struct.pack('<d')).
 * After a deliberate change of the format, set SMALLBMS_RECORD_GOLDEN_OUT to
 * a path: the test writes the new image there (then regenerate the header
 * with tools/bin2c-golden and review the difference).
 */
static void write_golden_out(const uint8_t *buf, size_t len)
{
	const char *path = getenv("SMALLBMS_RECORD_GOLDEN_OUT");

	if (!path)
		return;
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

static void golden_bytes(void **state)
{
	struct record *in = calloc(1, sizeof(*in)), *out = calloc(1, sizeof(*out));
	char err[160];
	int len;

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	full_record(in);
	uint8_t *buf = encode(in, &len);
	write_golden_out(buf, (size_t)len);
	assert_int_equal(len, (int)sizeof(record_golden_v2));
	/* the payload first, so that the message names the field's offset
	 * rather than the CRC that follows from it */
	for (int k = 0; k < len; k++) {
		int i = (k + RECORD_HEADER_SIZE) % len;
		if (buf[i] != record_golden_v2[i])
			fail_msg("encoded record differs from the golden image at byte %d: "
			         "0x%02x, golden 0x%02x",
			         i, buf[i], record_golden_v2[i]);
	}

	/* doubles as their bit pattern, least significant byte first */
	const uint8_t soc_pct[] = {0xb2, 0x9c, 0x9b, 0x6e, 0xcd, 0x8f, 0x4f, 0x40};
	const uint8_t drawn_ah[] = {0x58, 0x39, 0xb4, 0xc8, 0xd6, 0x1c, 0xc8, 0x40};
	const uint8_t charged_wh[] = {0x00, 0x00, 0x00, 0x00, 0x84, 0xc0, 0x04, 0x41};
	assert_true(contains(record_golden_v2, sizeof(record_golden_v2), soc_pct, 8));
	assert_true(contains(record_golden_v2, sizeof(record_golden_v2), drawn_ah, 8));
	assert_true(contains(record_golden_v2, sizeof(record_golden_v2), charged_wh, 8));
	/* the last serial, as its 16 characters */
	assert_true(contains(record_golden_v2, sizeof(record_golden_v2),
	                     (const uint8_t *)"ABCDEFGHIJKLMNOP", 16));

	/* and the golden image decodes to the same record on this host */
	assert_int_equal(
	        record_decode(record_golden_v2, sizeof(record_golden_v2), out, err, sizeof(err)),
	        0);
	assert_same_record(in, out);
	/* the image of version 1 (before the firmware section) is still read */
	assert_int_equal(
	        record_decode(record_golden_v1, sizeof(record_golden_v1), out, err, sizeof(err)),
	        0);
	free(buf);
	free(in);
	free(out);
}

/* Rewrites the CRC after a deliberate change of the payload. */
static void fix_crc(uint8_t *buf, size_t len)
{
	uint32_t crc = crc32_ieee(buf + 16, len - 16);

	for (int i = 0; i < 4; i++)
		buf[12 + i] = (uint8_t)(crc >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Decodes into a poisoned output and checks it stayed poisoned. */
static int decode_untouched(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct record *out = malloc(sizeof(*out)), *poison = malloc(sizeof(*poison));

	memset(out, 0xA5, sizeof(*out));
	memset(poison, 0xA5, sizeof(*poison));
	int r = record_decode(buf, len, out, err, errlen);
	if (r < 0)
		assert_memory_equal(out, poison, sizeof(*out));
	free(out);
	free(poison);
	return r;
}

static void rejects_with_reason(void **state)
{
	struct record *r = calloc(1, sizeof(*r));
	char err[200];
	int len;

	(void)state;
	full_record(r);
	uint8_t *good = encode(r, &len);
	uint8_t *buf = malloc((size_t)len + 1);

	/* truncated */
	assert_int_equal(decode_untouched(good, 0, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(decode_untouched(good, 15, err, sizeof(err)), -EBADMSG);
	assert_int_equal(decode_untouched(good, (size_t)len - 1, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "length"));
	/* one byte more */
	memcpy(buf, good, (size_t)len);
	buf[len] = 0;
	assert_int_equal(decode_untouched(buf, (size_t)len + 1, err, sizeof(err)), -EBADMSG);
	/* a flipped payload bit */
	memcpy(buf, good, (size_t)len);
	buf[100] ^= 0x10;
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "CRC"));
	/* foreign magic */
	memcpy(buf, good, (size_t)len);
	buf[0] = 'X';
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "magic"));
	/* a newer version is refused, not misread */
	memcpy(buf, good, (size_t)len);
	buf[4] = RECORD_VERSION + 1;
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "newer"));
	/* an older, unknown one */
	buf[4] = 0;
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -ENOTSUP);
	/* reserved header field */
	memcpy(buf, good, (size_t)len);
	buf[6] = 1;
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -EBADMSG);

	/* a setting out of bounds, with a valid CRC */
	memcpy(buf, good, (size_t)len);
	put32(buf + 18, 9999); /* crit_uv_mv */
	fix_crc(buf, (size_t)len);
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "crit_uv_mv=9999"));
	/* a setting count not this program's */
	memcpy(buf, good, (size_t)len);
	buf[16] = 5;
	fix_crc(buf, (size_t)len);
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -EBADMSG);
	/* the SoC known flag (right after the settings) neither 0 nor 1 */
	size_t soc_at = 18 + 4 * settings_count();
	memcpy(buf, good, (size_t)len);
	buf[soc_at] = 2;
	fix_crc(buf, (size_t)len);
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -EBADMSG);
	/* SoC above 100 % (the f64 after the flag: 101.0 = 0x4059400000000000) */
	memcpy(buf, good, (size_t)len);
	memcpy(buf + soc_at + 1, "\x00\x00\x00\x00\x00\x40\x59\x40", 8);
	fix_crc(buf, (size_t)len);
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "SoC"));
	/* the protection section refused by the protection core */
	memcpy(buf, good, (size_t)len);
	buf[len - 2 - r->fw_len - r->prot_len] ^= 0xFF; /* its magic */
	fix_crc(buf, (size_t)len);
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "protection"));
	/* a bad serial in the bank identity */
	memcpy(buf, good, (size_t)len);
	size_t serial0 = (size_t)len - 2 - r->fw_len - r->prot_len - 2 - 48 * 16;
	assert_memory_equal(buf + serial0, "HQ2402JJ0000", 12);
	buf[serial0] = 0x07;
	fix_crc(buf, (size_t)len);
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "bank"));
	/* NULL arguments */
	assert_int_equal(record_decode(NULL, 10, r, err, sizeof(err)), -EINVAL);

	/* encode refuses a record it would not read back */
	r->soc.soc_pct = -0.5;
	assert_int_equal(record_encode(r, buf, (size_t)len, err, sizeof(err)), -EINVAL);
	full_record(r);
	r->settings.monitor.tail_current_pmil = 0;
	assert_int_equal(record_encode(r, buf, (size_t)len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tail_current_pmil=0"));
	free(good);
	free(buf);
	free(r);
}

/*
 * Thousands of damaged records. Without a CRC fix-up every one of them must
 * be refused (CRC-32 catches every 1..3-bit error at this length). With the
 * CRC fixed up the field checks are exercised: any record accepted must be
 * valid, i.e. encode back to exactly the bytes read.
 */
static void replay_damaged(void **state)
{
	struct record *r = calloc(1, sizeof(*r)), *out = calloc(1, sizeof(*out));
	uint8_t *buf = malloc(RECORD_MAX_SIZE), *again = malloc(RECORD_MAX_SIZE);
	uint64_t seed = 0x5eed2026;
	unsigned accepted = 0, refused = 0;
	char err[200];
	int len;

	(void)state;
	full_record(r);
	uint8_t *good = encode(r, &len);

	for (unsigned i = 0; i < 6000; i++) {
		size_t n = (size_t)len;
		unsigned kind = i % 4;

		memcpy(buf, good, (size_t)len);
		if (kind == 0) {
			/* 1..3 flipped bits, CRC left alone: refused */
			unsigned flips = 1 + (unsigned)(rng_next(&seed) % 3);
			size_t at[3];
			for (unsigned f = 0; f < flips; f++) {
				at[f] = (size_t)(rng_next(&seed) % ((uint64_t)len * 8));
				bool dup = false;
				for (unsigned g = 0; g < f; g++)
					dup |= at[g] == at[f];
				if (!dup)
					buf[at[f] / 8] ^= (uint8_t)(1u << (at[f] % 8));
			}
			if (memcmp(buf, good, (size_t)len) == 0)
				continue;
			assert_int_not_equal(decode_untouched(buf, n, err, sizeof(err)), 0);
			refused++;
			continue;
		}
		if (kind == 1) {
			/* truncated anywhere: refused */
			n = (size_t)(rng_next(&seed) % (uint64_t)len);
			assert_int_not_equal(decode_untouched(buf, n, err, sizeof(err)), 0);
			refused++;
			continue;
		}
		if (kind == 2) {
			/* random bytes in the payload, CRC and length fixed up */
			unsigned k = 1 + (unsigned)(rng_next(&seed) % 8);
			for (unsigned f = 0; f < k; f++)
				buf[16 + rng_next(&seed) % ((uint64_t)len - 16)] =
				        (uint8_t)rng_next(&seed);
			if (rng_next(&seed) % 2) {
				n = 16 + (size_t)(rng_next(&seed) % ((uint64_t)len - 16));
				put32(buf + 8, (uint32_t)(n - 16));
			}
			fix_crc(buf, n);
		} else {
			/* pure noise with a valid header */
			n = 16 + (size_t)(rng_next(&seed) % 2048);
			for (size_t b = 16; b < n; b++)
				buf[b] = (uint8_t)rng_next(&seed);
			if (rng_next(&seed) % 2)
				memcpy(buf + 16, good + 16, (n - 16) / 2);
			put32(buf + 8, (uint32_t)(n - 16));
			fix_crc(buf, n);
		}
		int rc = decode_untouched(buf, n, err, sizeof(err));
		if (rc < 0) {
			assert_true(rc == -EBADMSG || rc == -ERANGE);
			assert_true(strlen(err) > 0);
			refused++;
			continue;
		}
		accepted++;
		assert_int_equal(record_decode(buf, n, out, err, sizeof(err)), 0);
		int len2 = record_encode(out, again, RECORD_MAX_SIZE, err, sizeof(err));
		assert_int_equal(len2, (int)n);
		assert_memory_equal(again, buf, n);
	}
	printf("# damaged records: %u refused, %u accepted (valid)\n", refused, accepted);
	assert_true(refused > 5000);
	free(good);
	free(buf);
	free(again);
	free(r);
	free(out);
}

/* A version 1 record (before the firmware section) is still read. */
static void version_1_still_read(void **state)
{
	struct record *r = calloc(1, sizeof(*r)), *out = calloc(1, sizeof(*out));
	char err[200];
	int len;

	(void)state;
	full_record(r);
	r->fw_len = 0;
	uint8_t *buf = encode(r, &len);
	/* version 1: the same payload without the firmware section's u16 length */
	len -= 2;
	buf[4] = 1;
	put32(buf + 8, (uint32_t)len - 16);
	fix_crc(buf, (size_t)len);
	assert_int_equal(record_decode(buf, (size_t)len, out, err, sizeof(err)), 0);
	assert_same_record(r, out);
	assert_int_equal(out->fw_len, 0);
	/* as version 2 those bytes are short */
	buf[4] = 2;
	fix_crc(buf, (size_t)len);
	assert_int_equal(decode_untouched(buf, (size_t)len, err, sizeof(err)), -EBADMSG);
	free(buf);
	free(r);
	free(out);
}

/* A damaged firmware section refuses the record (with a valid CRC). */
static void bad_firmware_section_refused(void **state)
{
	struct record *r = calloc(1, sizeof(*r));
	char err[200];
	int len;

	(void)state;
	full_record(r);
	uint8_t *buf = encode(r, &len);
	size_t fw_at = (size_t)len - r->fw_len;
	/* the format byte, the flags, the address, the failed address */
	const size_t at[] = {0, 1, 2, 35};
	const uint8_t bad[] = {2, 0, 0, 99};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		uint8_t keep = buf[fw_at + at[i]];
		buf[fw_at + at[i]] = bad[i];
		fix_crc(buf, (size_t)len);
		assert_true(decode_untouched(buf, (size_t)len, err, sizeof(err)) < 0);
		buf[fw_at + at[i]] = keep;
	}
	fix_crc(buf, (size_t)len);
	struct record *out = calloc(1, sizeof(*out));
	assert_int_equal(record_decode(buf, (size_t)len, out, err, sizeof(err)), 0);
	/* and encode refuses to write one */
	r->fw[0] = 9;
	assert_int_equal(record_encode(r, buf, RECORD_MAX_SIZE, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "firmware"));
	free(out);
	free(buf);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(round_trip),
	        cmocka_unit_test(header_layout),
	        cmocka_unit_test(golden_bytes),
	        cmocka_unit_test(rejects_with_reason),
	        cmocka_unit_test(replay_damaged),
	        cmocka_unit_test(version_1_still_read),
	        cmocka_unit_test(bad_firmware_section_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
