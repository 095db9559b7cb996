/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Settings of docs/protection.md section 6: table, defaults, bounds, ordering. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/protection_settings.h"

static const struct setting_desc *find(const char *name)
{
	size_t n;
	const struct setting_desc *d = protection_setting_descs(&n);

	for (size_t i = 0; i < n; i++)
		if (strcmp(d[i].name, name) == 0)
			return &d[i];
	fail_msg("no setting %s", name);
	return NULL;
}

static void defaults_are_the_spec(void **state)
{
	struct protection_settings s;
	char err[128];

	(void)state;
	protection_settings_default(&s);
	assert_int_equal(s.crit_uv_mv, 2500);
	assert_int_equal(s.crit_uv_delay_ms, 1000);
	assert_int_equal(s.uv_trip_mv, 2800);
	assert_int_equal(s.uv_delay_ms, 5000);
	assert_int_equal(s.uv_release_mv, 3200);
	assert_int_equal(s.uv_release_hold_ms, 30000);
	assert_int_equal(s.prealarm_mv, 3100);
	assert_int_equal(s.prealarm_lead_ms, 30000);
	assert_int_equal(s.ov_trip_mv, 3750);
	assert_int_equal(s.ov_delay_ms, 1000);
	assert_int_equal(s.ov_release_mv, 3400);
	assert_int_equal(s.ov_release_hold_ms, 30000);
	assert_int_equal(s.charge_temp_low_dc, 50);
	assert_int_equal(s.charge_temp_high_dc, 500);
	assert_int_equal(s.discharge_temp_high_dc, 600);
	assert_int_equal(s.discharge_temp_low_dc, -200);
	assert_int_equal(s.temp_delay_ms, 5000);
	assert_int_equal(s.temp_hysteresis_dc, 20);
	assert_int_equal(s.discharge_floor_pct, 10);
	assert_int_equal(s.low_soc_warning_pct, 20);
	assert_int_equal(protection_settings_validate(&s, err, sizeof(err)), 0);
	assert_int_equal(protection_settings_validate(NULL, err, sizeof(err)), -EINVAL);
}

static void table_describes_every_field(void **state)
{
	size_t n;
	const struct setting_desc *d = protection_setting_descs(&n);

	(void)state;
	assert_int_equal(n * sizeof(int32_t), sizeof(struct protection_settings));
	assert_non_null(protection_setting_descs(NULL));
	for (size_t i = 0; i < n; i++) {
		assert_true(d[i].offset % sizeof(int32_t) == 0);
		assert_true(d[i].min <= d[i].def && d[i].def <= d[i].max);
		for (size_t j = 0; j < i; j++) {
			assert_true(d[i].offset != d[j].offset);
			assert_string_not_equal(d[i].name, d[j].name);
		}
		assert_non_null(d[i].unit);
		assert_non_null(d[i].summary);
		if (strcmp(d[i].name, "discharge_floor_pct") == 0 ||
		    strcmp(d[i].name, "low_soc_warning_pct") == 0)
			assert_int_equal(d[i].reset, SETTING_RESET_DEFAULTS);
		else
			assert_int_equal(d[i].reset, SETTING_RESET_ALL_ONLY);
		if (strcmp(d[i].name, "discharge_floor_pct") == 0)
			assert_int_equal(d[i].flags, SETTING_ZERO_DISABLES);
		else
			assert_int_equal(d[i].flags, 0);
	}
	assert_int_equal(find("crit_uv_mv")->min, 2400);
	assert_int_equal(find("crit_uv_mv")->max, 2700);
	assert_int_equal(find("ov_trip_mv")->min, 3600);
	assert_int_equal(find("ov_trip_mv")->max, 3800);
	assert_int_equal(find("prealarm_lead_ms")->min, 30000);
	assert_int_equal(find("prealarm_lead_ms")->max, 120000);
}

/* Every static bound: just inside passes, just outside is refused whole. */
static void static_bounds(void **state)
{
	size_t n;
	const struct setting_desc *d = protection_setting_descs(&n);
	char err[160];

	(void)state;
	for (size_t i = 0; i < n; i++) {
		struct protection_settings s, before;
		int32_t *f;

		protection_settings_default(&s);
		f = setting_field(&s, &d[i]);
		*f = d[i].max + 1;
		before = s;
		err[0] = 0;
		assert_int_equal(protection_settings_validate(&s, err, sizeof(err)), -ERANGE);
		assert_memory_equal(&s, &before, sizeof(s));
		assert_non_null(strstr(err, d[i].name));
		char num[16];
		snprintf(num, sizeof(num), "%d", (int)(d[i].max + 1));
		assert_non_null(strstr(err, num));
		*f = d[i].min - 1;
		if (*f == 0 && (d[i].flags & SETTING_ZERO_DISABLES))
			*f = -1;
		assert_int_equal(protection_settings_validate(&s, err, sizeof(err)), -ERANGE);
		assert_non_null(strstr(err, d[i].name));
	}
}

struct order_case {
	size_t field;
	int32_t bad, good;
	const char *name;
};

#define PS(x) offsetof(struct protection_settings, x)

static void ordering_rules(void **state)
{
	/* Defaults for the others: UV trip 2800, OV trip 3750, charge low 5.0,
	 * floor 10 %, warning 20 %. */
	static const struct order_case cases[] = {
	        {PS(uv_release_mv), 2999, 3000, "uv_release_mv"},
	        {PS(prealarm_mv), 2899, 2900, "prealarm_mv"},
	        {PS(ov_release_mv), 3651, 3650, "ov_release_mv"},
	        {PS(charge_temp_high_dc), 149, 150, "charge_temp_high_dc"},
	        {PS(low_soc_warning_pct), 10, 11, "low_soc_warning_pct"},
	        {PS(discharge_floor_pct), 20, 19, "discharge_floor_pct"},
	};
	char err[160];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct protection_settings s;
		int32_t *f;

		protection_settings_default(&s);
		f = (int32_t *)((char *)&s + cases[i].field);
		*f = cases[i].bad;
		assert_int_equal(protection_settings_validate(&s, err, sizeof(err)), -ERANGE);
		assert_non_null(strstr(err, cases[i].name));
		*f = cases[i].good;
		assert_int_equal(protection_settings_validate(&s, err, sizeof(err)), 0);
	}
}

static void floor_zero_disables(void **state)
{
	struct protection_settings s;

	(void)state;
	protection_settings_default(&s);
	s.discharge_floor_pct = 0;
	s.low_soc_warning_pct = 1;
	assert_int_equal(protection_settings_validate(&s, NULL, 0), 0);
	s.low_soc_warning_pct = 0;
	assert_int_equal(protection_settings_validate(&s, NULL, 0), -ERANGE);
	s.discharge_floor_pct = 50;
	s.low_soc_warning_pct = 51;
	assert_int_equal(protection_settings_validate(&s, NULL, 0), 0);
	s.low_soc_warning_pct = 50;
	assert_int_equal(protection_settings_validate(&s, NULL, 0), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(defaults_are_the_spec),
	        cmocka_unit_test(table_describes_every_field),
	        cmocka_unit_test(static_bounds),
	        cmocka_unit_test(ordering_rules),
	        cmocka_unit_test(floor_zero_disables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
