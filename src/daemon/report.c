/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/codes.h"
#include "core/protection_rules.h"
#include "daemon/report.h"

/* "battery 2 cell 3: 2790 mV", "battery 1 sensor 2: 61.0 degC", "bank: 9.50 %". */
void report_reading(const struct protection_reading *rd, char *buf, size_t cap)
{
	const char *unit = rd->unit ? rd->unit : "";
	bool temp = strcmp(unit, "0.1 degC") == 0, soc = strcmp(unit, "0.01 %") == 0;
	int32_t v = rd->value;
	unsigned a = (unsigned)(v < 0 ? -(int64_t)v : v);
	char where[48] = "bank", value[32];

	if (rd->battery >= 0 && rd->index >= 0)
		snprintf(where, sizeof(where), "battery %d %s %d", rd->battery + 1,
		         temp ? "sensor" : "cell", rd->index + 1);
	else if (rd->battery >= 0)
		snprintf(where, sizeof(where), "battery %d", rd->battery + 1);
	if (temp)
		snprintf(value, sizeof(value), "%s%u.%u degC", v < 0 ? "-" : "", a / 10, a % 10);
	else if (soc)
		snprintf(value, sizeof(value), "%s%u.%02u %%", v < 0 ? "-" : "", a / 100, a % 100);
	else
		snprintf(value, sizeof(value), "%d %s", (int)v, unit);
	snprintf(buf, cap, "%s: %s", where, value);
}

void report_holds(const struct protection_output_report *rep, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < rep->n_holds && len < cap; i++) {
		const struct protection_hold *h = &rep->holds[i];
		const char *code = bms_code_valid(h->code) ? bms_code_name(h->code) : NULL;
		char reading[96] = "";
		int n;

		/* "A1 cell under-voltage (battery 2 cell 3: 2790 mV)"; a rule
		 * without a code or a reading (remote off, start-up) shows its
		 * name only. */
		if (h->reading.unit && h->reading.unit[0])
			report_reading(&h->reading, reading, sizeof(reading));
		else if (h->reading.battery >= 0)
			snprintf(reading, sizeof(reading), "battery %d", h->reading.battery + 1);
		n = snprintf(buf + len, cap - len, "%s%s%s%s%s%s%s", len ? "; " : "",
		             code ? code : "", code ? " " : "", h->name ? h->name : "?",
		             reading[0] ? " (" : "", reading, reading[0] ? ")" : "");
		if (n < 0 || (size_t)n >= cap - len) {
			buf[len] = '\0'; /* whole holds only */
			break;
		}
		len += (size_t)n;
	}
	if (rep->n_holds == 0)
		snprintf(buf, cap, "start-up (waiting for the bank)");
}

void report_explain_chain(struct protection_output *o, const struct protection_input *in)
{
	const char *why = in->chain_open    ? "battery data stale: chain open (no battery reports "
	                                      "CHAIN_END)"
	                  : in->enum_failed ? "battery data stale: enumeration failed"
	                                    : NULL;

	if (!why)
		return;
	for (unsigned out = 0; out < PROT_OUT_COUNT; out++) {
		struct protection_output_report *rep = &o->report[out];

		for (unsigned i = 0; i < rep->n_holds && i < PROT_RULE_COUNT; i++) {
			struct protection_hold *h = &rep->holds[i];

			if (h->rule != PROT_R_STALE_ATD && h->rule != PROT_R_STALE_ATC)
				continue;
			h->name = why;
			h->reading.battery = -1;
			h->reading.index = -1;
		}
	}
}
