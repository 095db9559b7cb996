/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for what a phone writes over Bluetooth (docs/ble.md):
 * the settings write, the command write and the battery select, each given
 * the whole input. The property: a parser either refuses (negative errno,
 * a reason in err where it takes one, its outputs untouched) or accepts
 * exactly what docs/ble.md allows and returns what the bytes say. The
 * expected answer is worked out here independently of src/ble/records.c.
 * Anything else aborts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ble/records.h"
#include "core/settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* For the corpus replay: whether any of the three parsers accepts. */
bool fuzz_accepts(const uint8_t *data, size_t size);

/* docs/ble.md: battery select addresses 1..50, SoC 0..10000 cpct. */
#define SELECT_ADDR_MAX 50
#define SOC_CPCT_MAX    10000
/* A small max as well, so "too many pairs" is reached with short inputs. */
#define SMALL_MAX 2
#define CANARY    0xa5

static int32_t get_i32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	                 (uint32_t)p[3] << 24);
}

static void check_err(int r, const char *err, size_t errlen)
{
	if (r >= 0 || err[0] == '\0' || strnlen(err, errlen) == errlen)
		abort();
}

/* The documented rules: version 1, 1 + 5k bytes, 1 <= k <= max, every
 * index in the registry, none twice. */
static bool settings_expected(const uint8_t *data, size_t size, size_t max)
{
	bool seen[256] = {false};
	size_t k;

	if (size < 6 || data[0] != BLE_RECORD_VERSION || (size - 1) % 5 != 0)
		return false;
	k = (size - 1) / 5;
	if (k > max)
		return false;
	for (size_t i = 0; i < k; i++) {
		uint8_t idx = data[1 + 5 * i];
		if (idx >= settings_count() || seen[idx])
			return false;
		seen[idx] = true;
	}
	return true;
}

static bool check_settings(const uint8_t *data, size_t size, size_t max)
{
	struct setting_change ch[BLE_SETTINGS_WRITE_MAX + 1], before[BLE_SETTINGS_WRITE_MAX + 1];
	size_t n, n_before;
	char err[128] = "";
	int r;

	memset(ch, CANARY, sizeof(ch));
	memset(&n, CANARY, sizeof(n));
	memcpy(before, ch, sizeof(ch));
	n_before = n;
	/* one more slot than max: a write of max + 1 pairs must not spill */
	r = ble_settings_write_parse(data, size, ch, max, &n, err, sizeof(err));
	if (r < 0) {
		check_err(r, err, sizeof(err));
		if (r != -EINVAL || settings_expected(data, size, max) ||
		    memcmp(ch, before, sizeof(ch)) != 0 || n != n_before)
			abort();
		return false;
	}
	if (r != 0 || !settings_expected(data, size, max) || n != (size - 1) / 5 || n < 1 ||
	    n > max)
		abort();
	for (size_t i = 0; i < n; i++) {
		const uint8_t *pair = data + 1 + 5 * i;
		if (ch[i].name != settings_desc(pair[0])->name || ch[i].value != get_i32(pair + 1))
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(ch[j].name, ch[i].name) == 0)
				abort();
	}
	if (memcmp(ch + n, before + n, (BLE_SETTINGS_WRITE_MAX + 1 - n) * sizeof(ch[0])) != 0)
		abort();
	return true;
}

static bool check_command(const uint8_t *data, size_t size)
{
	struct ble_command cmd, before;
	char err[128] = "";
	bool ok_shape = false, arg_ok = false;
	int r;

	if (size >= 2 && data[0] == BLE_RECORD_VERSION) {
		switch (data[1]) {
		case BLE_CMD_SYNC:
		case BLE_CMD_RESET_DEFAULTS:
		case BLE_CMD_RESET_HISTORY:
			ok_shape = size == 2;
			arg_ok = true;
			break;
		case BLE_CMD_SET_SOC:
			ok_shape = size == 6;
			arg_ok = ok_shape && get_i32(data + 2) >= 0 &&
			         get_i32(data + 2) <= SOC_CPCT_MAX;
			break;
		default:
			break;
		}
	}

	memset(&cmd, CANARY, sizeof(cmd));
	memcpy(&before, &cmd, sizeof(cmd));
	r = ble_command_parse(data, size, &cmd, err, sizeof(err));
	if (r < 0) {
		check_err(r, err, sizeof(err));
		/* -ERANGE exactly for a well-formed set SoC out of range */
		if (r != (ok_shape ? -ERANGE : -EINVAL) || (ok_shape && arg_ok) ||
		    memcmp(&cmd, &before, sizeof(cmd)) != 0)
			abort();
		return false;
	}
	if (r != 0 || !ok_shape || !arg_ok || cmd.op != (enum ble_command_op)data[1])
		abort();
	if (cmd.op == BLE_CMD_SET_SOC && cmd.soc_cpct != get_i32(data + 2))
		abort();
	return true;
}

static bool check_select(const uint8_t *data, size_t size)
{
	bool expected = size == 2 && data[0] == BLE_RECORD_VERSION && data[1] >= 1 &&
	                data[1] <= SELECT_ADDR_MAX;
	unsigned addr, before;
	int r;

	memset(&addr, CANARY, sizeof(addr));
	before = addr;
	r = ble_battery_select_parse(data, size, &addr);
	if (r < 0) {
		if (r != -EINVAL || expected || addr != before)
			abort();
		return false;
	}
	if (r != 0 || !expected || addr != data[1])
		abort();
	return true;
}

bool fuzz_accepts(const uint8_t *data, size_t size)
{
	bool settings = check_settings(data, size, BLE_SETTINGS_WRITE_MAX);
	bool command = check_command(data, size);
	bool select = check_select(data, size);

	return settings || command || select;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool big = check_settings(data, size, BLE_SETTINGS_WRITE_MAX);
	bool small = check_settings(data, size, SMALL_MAX);

	/* a smaller max only ever refuses more */
	if (small && !big)
		abort();
	check_command(data, size);
	check_select(data, size);
	/* no input: refused, not read */
	check_settings(NULL, 0, BLE_SETTINGS_WRITE_MAX);
	return 0;
}
