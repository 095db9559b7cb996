/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the state record parser. The property: a record is
 * either refused with a reason, or it is valid, meaning it encodes back to
 * exactly the bytes that were read; a valid record of an older version
 * (still read) encodes as the current version, which reads back and encodes
 * to the same bytes again. Anything else aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32.h"
#include "core/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* For the corpus replay: whether the record is accepted. */
bool fuzz_record_accepts(const uint8_t *data, size_t size);

bool fuzz_record_accepts(const uint8_t *data, size_t size)
{
	struct record *out = malloc(sizeof(*out));
	bool ok;

	if (!out)
		abort();
	ok = record_decode(data, size, out, NULL, 0) == 0;
	free(out);
	return ok;
}

/* The property on one input: refused with a reason, or valid and encoding
 * back to exactly its bytes. */
static void check_one(const uint8_t *data, size_t size, struct record *out, uint8_t *again)
{
	char err[256] = "";
	int r, n;

	r = record_decode(data, size, out, err, sizeof(err));
	if (r < 0) {
		/* every refusal says why */
		if (err[0] == '\0')
			abort();
		return;
	}
	n = record_encode(out, again, RECORD_MAX_SIZE, err, sizeof(err));
	if (n < 0)
		abort();
	if ((data[4] | data[5] << 8) == RECORD_VERSION) {
		if ((size_t)n != size || memcmp(again, data, size) != 0)
			abort();
	} else {
		uint8_t *third = malloc(RECORD_MAX_SIZE);

		if (!third || record_decode(again, (size_t)n, out, err, sizeof(err)) < 0 ||
		    record_encode(out, third, RECORD_MAX_SIZE, err, sizeof(err)) != n ||
		    memcmp(third, again, (size_t)n) != 0)
			abort();
		free(third);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record *out = malloc(sizeof(*out));
	uint8_t *again = malloc(RECORD_MAX_SIZE);

	if (!out || !again)
		abort();
	check_one(data, size, out, again);
	/* Nearly every mutation breaks the CRC and stops at it: the same
	 * input once more with the header's length and CRC made right, so
	 * that the payload parser behind them is fuzzed too. */
	if (size >= RECORD_HEADER_SIZE && size <= RECORD_MAX_SIZE) {
		uint8_t *fixed = malloc(size);
		uint32_t len = (uint32_t)(size - RECORD_HEADER_SIZE), crc;

		if (!fixed)
			abort();
		memcpy(fixed, data, size);
		crc = crc32_ieee(fixed + RECORD_HEADER_SIZE, len);
		for (int i = 0; i < 4; i++) {
			fixed[8 + i] = (uint8_t)(len >> (8 * i));
			fixed[12 + i] = (uint8_t)(crc >> (8 * i));
		}
		check_one(fixed, size, out, again);
		free(fixed);
	}
	free(out);
	free(again);
	return 0;
}
