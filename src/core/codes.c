/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/codes.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *name;
	const char *summary;
} code_table[BMS_CODE_COUNT] = {
	[BMS_W1] = {"W1", "low SoC warning"},
	[BMS_W2] = {"W2", "cell under-voltage pre-alarm"},
	[BMS_W3] = {"W3", "output chattering"},
	[BMS_W4] = {"W4", "remote terminal wiring (VH far above the bank voltage)"},
	[BMS_W5] = {"W5", "bank voltage outside the board's range"},
	[BMS_W6] = {"W6", "ADC unavailable, using the batteries' sum"},
	[BMS_W7] = {"W7", "battery firmware update running"},
	[BMS_W8] = {"W8", "more batteries than the remembered bank"},
	[BMS_W9] = {"W9", "too cold to charge"},
	[BMS_A1] = {"A1", "cell under-voltage"},
	[BMS_A2] = {"A2", "critical under-voltage or a battery's hard UV flag"},
	[BMS_A3] = {"A3", "cell or bank over-voltage, or a battery's hard OV flag"},
	[BMS_A4] = {"A4", "too hot to charge"},
	[BMS_A5] = {"A5", "low SoC (discharge floor reached)"},
	[BMS_A6] = {"A6", "too hot to discharge"},
	[BMS_A7] = {"A7", "too cold to discharge"},
	[BMS_E1] = {"E1", "battery data stale"},
	[BMS_E2] = {"E2", "chain open (no battery reports CHAIN_END)"},
	[BMS_E3] = {"E3", "bank changed (battery missing or replaced)"},
	[BMS_E4] = {"E4", "battery internal fault"},
	[BMS_E5] = {"E5", "battery firmware update failed"},
	[BMS_E6] = {"E6", "bank topology inconsistent"},
	[BMS_E7] = {"E7", "output read-back mismatch"},
	[BMS_E8] = {"E8", "ADC fault"},
	[BMS_E9] = {"E9", "state record unreadable, defaults in use"},
};

bool bms_code_valid(int code)
{
	return code >= 0 && code < BMS_CODE_COUNT;
}

const char *bms_code_name(enum bms_code code)
{
	return bms_code_valid((int)code) ? code_table[code].name : NULL;
}

const char *bms_code_summary(enum bms_code code)
{
	return bms_code_valid((int)code) ? code_table[code].summary : NULL;
}

enum bms_code_class bms_code_class(enum bms_code code)
{
	if (code >= BMS_E1)
		return BMS_CLASS_ERROR;
	if (code >= BMS_A1)
		return BMS_CLASS_ALARM;
	return BMS_CLASS_WARNING;
}

int bms_code_from_name(const char *name)
{
	if (!name)
		return -EINVAL;
	for (int c = 0; c < BMS_CODE_COUNT; c++)
		if (strcmp(code_table[c].name, name) == 0)
			return c;
	return -EINVAL;
}

uint32_t bms_code_class_mask(enum bms_code_class cls)
{
	uint32_t mask = 0;

	for (int c = 0; c < BMS_CODE_COUNT; c++)
		if (bms_code_class((enum bms_code)c) == cls)
			mask |= BMS_CODE_BIT(c);
	return mask;
}
