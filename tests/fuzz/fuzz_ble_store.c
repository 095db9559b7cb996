/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the Bluetooth state record (docs/ble.md, "Bluetooth
 * state"), as ble_store_load() decodes it. The property: a record is either
 * refused with a reason and the output untouched, or every field is within
 * its documented bounds (magic, version 1, only flag bit 0, reserved zero,
 * PIN six ASCII digits, CRC-32 over bytes 0..33) and it encodes back to
 * exactly the bytes read. Anything else aborts. A 38-byte input is also
 * checked with its CRC corrected.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ble/ble_store.h"
#include "core/crc32.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* For the corpus replay: whether the record is accepted. */
bool fuzz_accepts(const uint8_t *data, size_t size);

#define CANARY 0xa5

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The documented layout, checked here without the store's code. */
static bool expected(const uint8_t *d, size_t size)
{
	if (size != BLE_STORE_RECORD_LEN || memcmp(d, "SBBT", 4) != 0 || d[4] != 1 ||
	    (d[5] & ~1u) != 0 || d[6] != 0 || d[7] != 0)
		return false;
	for (size_t i = 24; i < 30; i++)
		if (d[i] < '0' || d[i] > '9')
			return false;
	return get_u32(d + 34) == crc32_ieee(d, 34);
}

static bool check(const uint8_t *data, size_t size)
{
	struct ble_store_record rec, before;
	uint8_t again[BLE_STORE_RECORD_LEN];
	char err[128] = "";
	int r;

	memset(&rec, CANARY, sizeof(rec));
	memcpy(&before, &rec, sizeof(rec));
	r = ble_store_record_decode(data, size, &rec, err, sizeof(err));
	if (r < 0) {
		if (r != -EBADMSG || err[0] == '\0' || strnlen(err, sizeof(err)) == sizeof(err) ||
		    expected(data, size) || memcmp(&rec, &before, sizeof(rec)) != 0)
			abort();
		return false;
	}
	if (r != 0 || !expected(data, size))
		abort();
	if (memcmp(rec.key, data + 8, BLE_STORE_KEY_LEN) != 0 ||
	    memcmp(rec.pin, data + 24, BLE_STORE_PIN_LEN) != 0 ||
	    strlen(rec.pin) != BLE_STORE_PIN_LEN || rec.unencrypted != (data[5] & 1) ||
	    rec.reserved != get_u32(data + 30))
		abort();
	ble_store_record_encode(&rec, again);
	if (memcmp(again, data, BLE_STORE_RECORD_LEN) != 0)
		abort();
	return true;
}

bool fuzz_accepts(const uint8_t *data, size_t size)
{
	return check(data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t fixed[BLE_STORE_RECORD_LEN];
	uint32_t crc;

	check(data, size);
	/* The fuzzer cannot guess a CRC: check the same record with its CRC
	 * made right too, so the checks behind it are reached. */
	if (size == BLE_STORE_RECORD_LEN) {
		memcpy(fixed, data, size);
		crc = crc32_ieee(fixed, BLE_STORE_RECORD_LEN - 4);
		for (size_t i = 0; i < 4; i++)
			fixed[BLE_STORE_RECORD_LEN - 4 + i] = (uint8_t)(crc >> (8 * i));
		check(fixed, size);
	}
	return 0;
}
