/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The protection settings of docs/protection.md section 6. Every field is an
 * int32_t with its unit in the name; the table of setting_desc gives each
 * one's name, default and static bounds, and the validator adds the
 * ordering rules between settings.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/setting_desc.h"

struct protection_settings {
	int32_t crit_uv_mv;
	int32_t crit_uv_delay_ms;
	int32_t uv_trip_mv;
	int32_t uv_delay_ms;
	int32_t uv_release_mv;
	int32_t uv_release_hold_ms;
	int32_t prealarm_mv;
	int32_t prealarm_lead_ms;
	int32_t ov_trip_mv;
	int32_t ov_delay_ms;
	int32_t ov_release_mv;
	int32_t ov_release_hold_ms;
	int32_t charge_temp_low_dc;
	int32_t charge_temp_high_dc;
	int32_t discharge_temp_high_dc;
	int32_t discharge_temp_low_dc;
	int32_t temp_delay_ms;
	int32_t temp_hysteresis_dc;
	int32_t discharge_floor_pct; /* 0 disables the low-SoC alarm */
	int32_t low_soc_warning_pct;
};

const struct setting_desc *protection_setting_descs(size_t *n);
void protection_settings_default(struct protection_settings *s);
/* 0, or -ERANGE with a message naming the setting, its value and the bound
 * it breaks. Checks every static bound and every ordering rule. */
int protection_settings_validate(const struct protection_settings *s, char *err, size_t errlen);
