/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/protection_settings.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/macro.h"

#define PS(field) offsetof(struct protection_settings, field)

static const struct setting_desc descs[] = {
        {"crit_uv_mv", "mV", "critical under-voltage level (A2)", PS(crit_uv_mv), 2500, 2400, 2700,
         SETTING_RESET_ALL_ONLY, 0},
        {"crit_uv_delay_ms", "ms", "critical under-voltage delay", PS(crit_uv_delay_ms), 1000, 1000,
         2000, SETTING_RESET_ALL_ONLY, 0},
        {"uv_trip_mv", "mV", "cell under-voltage level (A1)", PS(uv_trip_mv), 2800, 2600, 3000,
         SETTING_RESET_ALL_ONLY, 0},
        {"uv_delay_ms", "ms", "cell under-voltage delay", PS(uv_delay_ms), 5000, 1000, 30000,
         SETTING_RESET_ALL_ONLY, 0},
        {"uv_release_mv", "mV", "under-voltage release level (at least trip + 200 mV)",
         PS(uv_release_mv), 3200, 2800, 3350, SETTING_RESET_ALL_ONLY, 0},
        {"uv_release_hold_ms", "ms", "under-voltage release hold", PS(uv_release_hold_ms), 30000,
         10000, 300000, SETTING_RESET_ALL_ONLY, 0},
        {"prealarm_mv", "mV", "pre-alarm level (W2, at least UV trip + 100 mV)", PS(prealarm_mv),
         3100, 2700, 3300, SETTING_RESET_ALL_ONLY, 0},
        {"prealarm_lead_ms", "ms", "pre-alarm lead before the load disconnect",
         PS(prealarm_lead_ms), 30000, 30000, 120000, SETTING_RESET_ALL_ONLY, 0},
        {"ov_trip_mv", "mV", "cell over-voltage level (A3)", PS(ov_trip_mv), 3750, 3600, 3800,
         SETTING_RESET_ALL_ONLY, 0},
        {"ov_delay_ms", "ms", "cell over-voltage delay", PS(ov_delay_ms), 1000, 1000, 5000,
         SETTING_RESET_ALL_ONLY, 0},
        {"ov_release_mv", "mV", "over-voltage release level (at most trip - 100 mV)",
         PS(ov_release_mv), 3400, 3350, 3700, SETTING_RESET_ALL_ONLY, 0},
        {"ov_release_hold_ms", "ms", "over-voltage release hold", PS(ov_release_hold_ms), 30000,
         10000, 300000, SETTING_RESET_ALL_ONLY, 0},
        {"charge_temp_low_dc", "0.1 degC", "too cold to charge below (W9)", PS(charge_temp_low_dc),
         50, 0, 150, SETTING_RESET_ALL_ONLY, 0},
        {"charge_temp_high_dc", "0.1 degC", "too hot to charge above (A4)", PS(charge_temp_high_dc),
         500, 100, 550, SETTING_RESET_ALL_ONLY, 0},
        {"discharge_temp_high_dc", "0.1 degC", "too hot to discharge above (A6)",
         PS(discharge_temp_high_dc), 600, 450, 650, SETTING_RESET_ALL_ONLY, 0},
        {"discharge_temp_low_dc", "0.1 degC", "too cold to discharge below (A7)",
         PS(discharge_temp_low_dc), -200, -300, 0, SETTING_RESET_ALL_ONLY, 0},
        {"temp_delay_ms", "ms", "temperature rule delay", PS(temp_delay_ms), 5000, 1000, 30000,
         SETTING_RESET_ALL_ONLY, 0},
        {"temp_hysteresis_dc", "0.1 degC", "temperature release hysteresis", PS(temp_hysteresis_dc),
         20, 10, 100, SETTING_RESET_ALL_ONLY, 0},
        {"discharge_floor_pct", "%", "low-SoC alarm level (A5), 0 disables",
         PS(discharge_floor_pct), 10, 1, 50, SETTING_RESET_DEFAULTS, SETTING_ZERO_DISABLES},
        {"low_soc_warning_pct", "%", "low-SoC warning level (W1)", PS(low_soc_warning_pct), 20, 1,
         60, SETTING_RESET_DEFAULTS, 0},
};

const struct setting_desc *protection_setting_descs(size_t *n)
{
	if (n)
		*n = ELEMENTSOF(descs);
	return descs;
}

void protection_settings_default(struct protection_settings *s)
{
	for (size_t i = 0; i < ELEMENTSOF(descs); i++)
		*setting_field(s, &descs[i]) = descs[i].def;
}

static int refuse(char *err, size_t errlen, const char *name, int32_t value, const char *rel,
                  const char *what, int32_t bound)
{
	if (err && errlen > 0)
		snprintf(err, errlen, "%s=%d must be %s %s (%d)", name, (int)value, rel, what,
		         (int)bound);
	return -ERANGE;
}

/* One ordering rule: field (a) compared with another field (b) plus an offset. */
struct ordering {
	size_t a;
	const char *a_name;
	bool at_least; /* a >= b + add, else a <= b + add */
	size_t b;
	const char *b_what;
	int32_t add;
	bool skip_when_b_zero;
};

static const struct ordering orderings[] = {
        {PS(uv_release_mv), "uv_release_mv", true, PS(uv_trip_mv), "uv_trip_mv + 200", 200, false},
        {PS(prealarm_mv), "prealarm_mv", true, PS(uv_trip_mv), "uv_trip_mv + 100", 100, false},
        {PS(ov_release_mv), "ov_release_mv", false, PS(ov_trip_mv), "ov_trip_mv - 100", -100,
         false},
        {PS(charge_temp_high_dc), "charge_temp_high_dc", true, PS(charge_temp_low_dc),
         "charge_temp_low_dc + 100", 100, false},
        {PS(discharge_floor_pct), "discharge_floor_pct", false, PS(low_soc_warning_pct),
         "low_soc_warning_pct - 1", -1, false},
        {PS(low_soc_warning_pct), "low_soc_warning_pct", true, PS(discharge_floor_pct),
         "discharge_floor_pct + 1", 1, true},
};

int protection_settings_validate(const struct protection_settings *s, char *err, size_t errlen)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(descs); i++) {
		const struct setting_desc *d = &descs[i];
		int32_t v = setting_get(s, d);

		if (v == 0 && (d->flags & SETTING_ZERO_DISABLES))
			continue;
		if (v < d->min)
			return refuse(err, errlen, d->name, v, ">=", "its minimum", d->min);
		if (v > d->max)
			return refuse(err, errlen, d->name, v, "<=", "its maximum", d->max);
	}
	for (size_t i = 0; i < ELEMENTSOF(orderings); i++) {
		const struct ordering *o = &orderings[i];
		int32_t a = *(const int32_t *)((const char *)s + o->a);
		int32_t b = *(const int32_t *)((const char *)s + o->b);
		int32_t bound = b + o->add;

		if (o->skip_when_b_zero && b == 0)
			continue;
		/* mutation: equivalent [cond-drop o->a == PS(discharge_floor_pct)] because
		 * within its bounds no other ordered field can be 0. */
		if (o->a == PS(discharge_floor_pct) && a == 0)
			continue;
		if (o->at_least && a < bound)
			return refuse(err, errlen, o->a_name, a, ">=", o->b_what, bound);
		if (!o->at_least && a > bound)
			return refuse(err, errlen, o->a_name, a, "<=", o->b_what, bound);
	}
	return 0;
}
