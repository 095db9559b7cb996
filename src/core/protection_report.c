/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the protection tells: why each output is open, the active codes and
 * their texts (docs/protection.md section 8). */
#include "core/protection.h"
#include "core/protection_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/codes.h"

void protection_report_output(const struct protection *p, enum protection_output_id o,
                              struct protection_output_report *rep)
{
	const struct protection_rule *rules = protection_rules();
	uint32_t target = o == PROT_OUT_ATD ? PROT_T_ATD : PROT_T_ATC;

	rep->n_holds = 0;
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		const struct protection_rule_state *st = &p->rule[i];
		bool in_report;

		if (o == PROT_OUT_PREALARM)
			in_report = p->prealarm_on && protection_prealarm_cause(p, i);
		else
			in_report = st->phase == PROT_PH_TRIPPED && (rules[i].target & target);
		if (!in_report)
			continue;
		rep->holds[rep->n_holds++] = (struct protection_hold){
		        .rule = (enum protection_rule_id)i,
		        .code = rules[i].code,
		        .name = rules[i].name,
		        .since_us = st->phase == PROT_PH_TRIPPED ? st->tripped_since_us
		                                                 : st->trip_start_us,
		        .reading = st->reading,
		        .latched = st->latched,
		};
	}
	switch (o) {
	case PROT_OUT_ATD:
		rep->closed = p->atd_closed;
		rep->since_us = p->atd_since_us;
		break;
	case PROT_OUT_ATC:
		rep->closed = p->atc_closed;
		rep->since_us = p->atc_since_us;
		break;
	default:
		/* "closed" of the pre-alarm: inactive. */
		rep->closed = !p->prealarm_on;
		rep->since_us = p->prealarm_change_us;
		break;
	}
}

uint32_t protection_active_codes(const struct protection *p, const struct bank_view *v,
                                 const struct protection_input *in)
{
	const struct protection_rule *rules = protection_rules();
	uint32_t codes = 0;

	/* mutation: equivalent [const 0->1] because rule 0, the start-up hold of
	 * ATD, has no code and never latches (no PROT_F_CHATTER). */
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		if (p->rule[i].phase == PROT_PH_TRIPPED && rules[i].code >= 0)
			codes |= BMS_CODE_BIT(rules[i].code);
		if (p->rule[i].latched)
			codes |= BMS_CODE_BIT(BMS_W3);
	}
	if (v->any_stale)
		codes |= BMS_CODE_BIT(BMS_E1);
	if (in->chain_open || in->enum_failed)
		codes |= BMS_CODE_BIT(BMS_E2);
	if (in->bank_changed)
		codes |= BMS_CODE_BIT(BMS_E3);
	if (v->any_fault)
		codes |= BMS_CODE_BIT(BMS_E4);
	if (in->fw_failed)
		codes |= BMS_CODE_BIT(BMS_E5);
	if (in->topology_bad)
		codes |= BMS_CODE_BIT(BMS_E6);
	if (!in->bank_mv_valid || p->remote.adc_fault)
		codes |= BMS_CODE_BIT(BMS_E8);
	if (in->record_unreadable)
		codes |= BMS_CODE_BIT(BMS_E9);
	if (p->remote.wiring_fault)
		codes |= BMS_CODE_BIT(BMS_W4);
	if (in->adc_fallback)
		codes |= BMS_CODE_BIT(BMS_W6);
	if (in->fw_running || v->fw_flag)
		codes |= BMS_CODE_BIT(BMS_W7);
	if (in->more_batteries)
		codes |= BMS_CODE_BIT(BMS_W8);
	return codes;
}

int protection_code_text(const struct protection_output *out, enum bms_code code, char *buf,
                         size_t len)
{
	const struct protection_rule *rules = protection_rules();
	const char *last = NULL;
	size_t pos;
	int n;

	if (!out || !buf || len == 0 || !bms_code_valid((int)code))
		return -EINVAL;
	if (!(out->codes & BMS_CODE_BIT(code)))
		return -ENOENT;
	if (code != BMS_W3) {
		n = snprintf(buf, len, "%s", bms_code_summary(code));
		/* mutation: equivalent [cmp-bound n <= 0, const n < 1, cond-drop n < 0]
		 * because no summary is empty (test_codes), so n is never 0, and
		 * snprintf() of plain strings into a buffer under INT_MAX never
		 * fails. */
		return n < 0 || (size_t)n >= len ? -ENOBUFS : 0;
	}
	/* Section 5: "chattering: <rule>", each latched rule once (the stale
	 * rules of ATD and ATC share a name). */
	n = snprintf(buf, len, "chattering:");
	/* mutation: equivalent [const 0->1, cond-drop n < 0, cmp-bound n <= 0] (n is 11) */
	if (n < 0 || (size_t)n >= len)
		return -ENOBUFS;
	pos = (size_t)n;
	/* mutation: equivalent [const 0->1] (rule 0 never latches) */
	for (unsigned i = 0; i < PROT_RULE_COUNT; i++) {
		if (!(out->latched_rules & (UINT32_C(1) << i)))
			continue;
		if (last && strcmp(last, rules[i].name) == 0)
			continue;
		n = snprintf(buf + pos, len - pos, "%s %s", last ? "," : "", rules[i].name);
		/* mutation: equivalent [const 0->1, cond-drop n < 0, cmp-bound n <= 0] because the text
		 * holds at least a space and a rule name: n is never 0, and never
		 * negative (plain strings). */
		if (n < 0 || (size_t)n >= len - pos)
			return -ENOBUFS;
		pos += (size_t)n;
		last = rules[i].name;
	}
	return 0;
}
