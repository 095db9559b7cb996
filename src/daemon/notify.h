/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What smallbmsd tells systemd: READY=1, WATCHDOG=1 and one STATUS= line
 *   ATD=open|closed ATC=open|closed PRE=on|off SoC=<pct>|unknown
 *   V=<bank V>|unknown I=<bank A>|unknown codes=<W1,E1,...>|-
 * with two decimals for SoC, V and I (I positive = charging) and the codes
 * in the order of docs/protection.md section 8. "I=unknown" while no battery
 * reports fresh data (the contract's form has no word for it; a number
 * would be a lie).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct status_view {
	bool atd_closed, atc_closed, prealarm_active;
	bool soc_known;
	int32_t soc_cpct;
	bool bank_mv_valid;
	int32_t bank_mv;
	bool current_valid;
	int32_t current_ma;
	uint32_t codes; /* BMS_CODE_BIT mask */
};

/* Writes the STATUS text (without "STATUS="); returns its length, or
 * -ENOBUFS when cap is too small (buf then holds a truncated string). */
int status_format(const struct status_view *v, char *buf, size_t cap);

/* "-" for none, else the codes' names joined by commas. */
int codes_format(uint32_t codes, char *buf, size_t cap);

/* The sd_notify messages; no-ops without NOTIFY_SOCKET. */
int notify_ready(void);
int notify_watchdog(void);
int notify_stopping(void);
int notify_status(const char *status);
