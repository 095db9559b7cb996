/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The warning, alarm and error codes of docs/protection.md section 8.
 *
 * The numeric values are stable: they are written to the state record (the
 * history's last errors), sent over D-Bus and Bluetooth, and must never be
 * renumbered. Dense, so that a set of active codes fits in a uint32_t mask.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum bms_code {
	BMS_W1 = 0, /* low SoC warning */
	BMS_W2,     /* cell under-voltage pre-alarm */
	BMS_W3,     /* output chattering */
	BMS_W4,     /* remote terminal wiring */
	BMS_W5,     /* bank voltage outside the board's range */
	BMS_W6,     /* ADC unavailable, using the batteries' sum */
	BMS_W7,     /* battery firmware update running */
	BMS_W8,     /* more batteries than the remembered bank */
	BMS_W9,     /* too cold to charge */
	BMS_A1,     /* cell under-voltage */
	BMS_A2,     /* critical under-voltage or hard UV flag */
	BMS_A3,     /* cell or bank over-voltage, or hard OV flag */
	BMS_A4,     /* too hot to charge */
	BMS_A5,     /* low SoC */
	BMS_A6,     /* too hot to discharge */
	BMS_A7,     /* too cold to discharge */
	BMS_E1,     /* battery data stale */
	BMS_E2,     /* chain open */
	BMS_E3,     /* bank changed */
	BMS_E4,     /* battery internal fault */
	BMS_E5,     /* battery firmware update failed */
	BMS_E6,     /* bank topology inconsistent */
	BMS_E7,     /* output read-back mismatch */
	BMS_E8,     /* ADC fault */
	BMS_E9,     /* state record unreadable, defaults in use */
	BMS_CODE_COUNT,
};

_Static_assert(BMS_CODE_COUNT <= 32, "active codes must fit a uint32_t mask");

enum bms_code_class {
	BMS_CLASS_WARNING,
	BMS_CLASS_ALARM,
	BMS_CLASS_ERROR,
};

#define BMS_CODE_BIT(c) (UINT32_C(1) << (c))

bool bms_code_valid(int code);
/* "W1", "A3", "E9"; NULL for an invalid code. */
const char *bms_code_name(enum bms_code code);
/* The one-line meaning of docs/protection.md section 8; NULL for an invalid code. */
const char *bms_code_summary(enum bms_code code);
enum bms_code_class bms_code_class(enum bms_code code);
/* Parses "W1".."E9" (case-sensitive). Returns the code or -EINVAL. */
int bms_code_from_name(const char *name);

/* Masks of every code of one class. */
uint32_t bms_code_class_mask(enum bms_code_class cls);
