/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Why an output is open, in words for the event lines: each rule holding it
 * with its code and the reading that tripped it, e.g.
 * "A2 critical under-voltage (battery 2 cell 2: 2400 mV); remote off". */
#pragma once

#include <stddef.h>

#include "core/protection.h"

/* "battery 2 cell 3: 2790 mV", "battery 1 sensor 2: -3.5 degC", "bank: 9.50 %". */
void report_reading(const struct protection_reading *rd, char *buf, size_t cap);
/* Says what the stale rule says while the chain is open or the enumeration
 * failed (E2, docs/protection.md section 4): every battery is stale, so its holds
 * name the chain, not the first battery ("battery data stale: chain open").
 * Only the words and the battery of those holds change. */
void report_explain_chain(struct protection_output *o, const struct protection_input *in);
/* The holds joined by "; ", or "start-up (waiting for the bank)" for none. */
void report_holds(const struct protection_output_report *rep, char *buf, size_t cap);
