/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/settings.h"

/* Every setting but the five of "reset to defaults", moved off its default. */
static void change_everything(struct bms_settings *s)
{
	const struct setting_change ch[] = {
	        {"uv_trip_mv", 2700},      {"prealarm_mv", 3000},       {"ov_trip_mv", 3700},
	        {"temp_delay_ms", 7000},   {"charged_cell_mv", 3450},   {"tail_current_pmil", 25},
	        {"charged_detect_s", 600}, {"low_soc_warning_pct", 30}, {"discharge_floor_pct", 15},
	};
	char err[160];

	assert_int_equal(settings_apply(s, ch, sizeof(ch) / sizeof(ch[0]), err, sizeof(err)), 0);
}

static void one_table(void **state)
{
	size_t np, nm;

	(void)state;
	protection_setting_descs(&np);
	monitor_setting_descs(&nm);
	assert_int_equal(settings_count(), np + nm);
	assert_int_equal(settings_count(), 23);
	assert_null(settings_desc(settings_count()));
	/* names unique, each found at its own index */
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_desc *d = settings_desc(i);
		assert_non_null(d->name);
		assert_non_null(d->unit);
		assert_true(d->min <= d->def && d->def <= d->max);
		assert_int_equal(settings_find(d->name), (int)i);
	}
	assert_int_equal(settings_find("no_such"), -ENOENT);
	assert_int_equal(settings_find(NULL), -ENOENT);
	/* exactly five reset with "reset to defaults" */
	unsigned five = 0;
	for (size_t i = 0; i < settings_count(); i++)
		five += settings_desc(i)->reset == SETTING_RESET_DEFAULTS;
	assert_int_equal(five, 5);
	const struct setting_desc *d = settings_desc((size_t)settings_find("charged_cell_mv"));
	assert_string_equal(d->unit, "mV");
	assert_int_equal(d->def, 3500);
	assert_int_equal(d->min, 3400);
	assert_int_equal(d->max, 3600);
	d = settings_desc((size_t)settings_find("tail_current_pmil"));
	assert_int_equal(d->def, 40);
	assert_int_equal(d->min, 5);
	assert_int_equal(d->max, 100);
	d = settings_desc((size_t)settings_find("charged_detect_s"));
	assert_int_equal(d->def, 180);
	assert_int_equal(d->min, 60);
	assert_int_equal(d->max, 3000);
}

static void defaults(void **state)
{
	struct bms_settings s;
	int32_t v;
	char err[160];

	(void)state;
	settings_default(&s);
	assert_int_equal(settings_validate(&s, err, sizeof(err)), 0);
	assert_int_equal(settings_get(&s, "charged_cell_mv", &v), 0);
	assert_int_equal(v, 3500);
	assert_int_equal(settings_get(&s, "tail_current_pmil", &v), 0);
	assert_int_equal(v, 40);
	assert_int_equal(settings_get(&s, "charged_detect_s", &v), 0);
	assert_int_equal(v, 180);
	assert_int_equal(settings_get(&s, "low_soc_warning_pct", &v), 0);
	assert_int_equal(v, 20);
	assert_int_equal(settings_get(&s, "discharge_floor_pct", &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(settings_get(&s, "uv_trip_mv", &v), 0);
	assert_int_equal(v, 2800);
	assert_int_equal(settings_get(&s, "nope", &v), -ENOENT);
	/* every table default is what settings_default gives */
	for (size_t i = 0; i < settings_count(); i++) {
		assert_int_equal(settings_get(&s, settings_desc(i)->name, &v), 0);
		assert_int_equal(v, settings_desc(i)->def);
	}
}

static void resets(void **state)
{
	struct bms_settings s, def;

	(void)state;
	settings_default(&def);
	settings_default(&s);
	change_everything(&s);
	settings_reset_defaults(&s);
	/* the five are back */
	assert_int_equal(s.monitor.charged_cell_mv, 3500);
	assert_int_equal(s.monitor.tail_current_pmil, 40);
	assert_int_equal(s.monitor.charged_detect_s, 180);
	assert_int_equal(s.protection.low_soc_warning_pct, 20);
	assert_int_equal(s.protection.discharge_floor_pct, 10);
	/* the rest kept */
	assert_int_equal(s.protection.uv_trip_mv, 2700);
	assert_int_equal(s.protection.prealarm_mv, 3000);
	assert_int_equal(s.protection.ov_trip_mv, 3700);
	assert_int_equal(s.protection.temp_delay_ms, 7000);
	settings_reset_all(&s);
	assert_memory_equal(&s, &def, sizeof(s));
}

static void multi_set_all_or_nothing(void **state)
{
	struct bms_settings s, before;
	char err[160];

	(void)state;
	settings_default(&s);
	before = s;
	/* the second is out of bounds: nothing applied */
	const struct setting_change bad[] = {
	        {"charged_cell_mv", 3550},
	        {"tail_current_pmil", 101},
	};
	assert_int_equal(settings_apply(&s, bad, 2, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "tail_current_pmil=101 must be <= its maximum (100)");
	assert_memory_equal(&s, &before, sizeof(s));
	/* below a minimum */
	assert_int_equal(settings_set(&s, "charged_detect_s", 59, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "charged_detect_s=59 must be >= its minimum (60)");
	/* an unknown name */
	const struct setting_change unknown[] = {{"charged_cell_mv", 3550}, {"bogus", 1}};
	assert_int_equal(settings_apply(&s, unknown, 2, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "bogus: no such setting");
	/* one name twice */
	const struct setting_change twice[] = {{"charged_cell_mv", 3550},
	                                       {"charged_cell_mv", 3450}};
	assert_int_equal(settings_apply(&s, twice, 2, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "charged_cell_mv: set twice in one change");
	assert_memory_equal(&s, &before, sizeof(s));

	/* an ordering rule across parts: the floor must stay below the warning */
	assert_int_equal(settings_set(&s, "discharge_floor_pct", 20, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "discharge_floor_pct=20"));
	assert_memory_equal(&s, &before, sizeof(s));
	/* ... but both together are fine */
	const struct setting_change both[] = {{"discharge_floor_pct", 20},
	                                      {"low_soc_warning_pct", 25}};
	assert_int_equal(settings_apply(&s, both, 2, err, sizeof(err)), 0);
	assert_int_equal(s.protection.discharge_floor_pct, 20);
	assert_int_equal(s.protection.low_soc_warning_pct, 25);
	/* 0 disables the floor (outside 1..50 but allowed) */
	assert_int_equal(settings_set(&s, "discharge_floor_pct", 0, err, sizeof(err)), 0);
	assert_int_equal(settings_set(&s, "discharge_floor_pct", 51, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "discharge_floor_pct=51 must be <= its maximum (50)");

	/* the monitor relation: charged voltage below the OV trip */
	before = s;
	const struct setting_change ov[] = {
	        {"ov_trip_mv", 3600}, {"ov_release_mv", 3400}, {"charged_cell_mv", 3600}};
	assert_int_equal(settings_apply(&s, ov, 3, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "charged_cell_mv=3600 must be <= ov_trip_mv - 1 (3599)");
	assert_memory_equal(&s, &before, sizeof(s));
	const struct setting_change ov_ok[] = {
	        {"ov_trip_mv", 3600}, {"ov_release_mv", 3400}, {"charged_cell_mv", 3599}};
	assert_int_equal(settings_apply(&s, ov_ok, 3, err, sizeof(err)), 0);
	assert_int_equal(s.monitor.charged_cell_mv, 3599);
	/* no changes: valid, nothing happens */
	before = s;
	assert_int_equal(settings_apply(&s, NULL, 0, err, sizeof(err)), 0);
	assert_memory_equal(&s, &before, sizeof(s));
}

static void strings(void **state)
{
	struct bms_settings s, before;
	char err[160];

	(void)state;
	settings_default(&s);
	const char *ok[] = {"charged_cell_mv=3450", "tail_current_pmil=20"};
	assert_int_equal(settings_apply_strings(&s, ok, 2, err, sizeof(err)), 0);
	assert_int_equal(s.monitor.charged_cell_mv, 3450);
	assert_int_equal(s.monitor.tail_current_pmil, 20);
	before = s;
	const char *bad_value[] = {"charged_cell_mv=3500", "tail_current_pmil=2x"};
	assert_int_equal(settings_apply_strings(&s, bad_value, 2, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "'tail_current_pmil=2x': expected name=integer");
	const char *malformed[] = {"=5", "x=", "noequals", "a=99999999999", NULL};
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(settings_apply_strings(&s, &malformed[i], 1, err, sizeof(err)),
		                 -EINVAL);
	const char *out[] = {"charged_detect_s=3001"};
	assert_int_equal(settings_apply_strings(&s, out, 1, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "charged_detect_s=3001 must be <= its maximum (3000)");
	char longname[100];
	memset(longname, 'a', sizeof(longname));
	strcpy(longname + 90, "=1");
	const char *lng[] = {longname};
	assert_int_equal(settings_apply_strings(&s, lng, 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(settings_apply_strings(&s, ok, 65, err, sizeof(err)), -EINVAL);
	assert_memory_equal(&s, &before, sizeof(s));
	const char *neg[] = {"discharge_temp_low_dc=-250"};
	assert_int_equal(settings_apply_strings(&s, neg, 1, NULL, 0), 0);
	assert_int_equal(s.protection.discharge_temp_low_dc, -250);
}

static void raw_access(void **state)
{
	struct bms_settings s;

	(void)state;
	settings_default(&s);
	int i = settings_find("charged_detect_s");
	assert_true(i >= 0);
	*settings_value(&s, (size_t)i) = 600;
	assert_int_equal(s.monitor.charged_detect_s, 600);
	assert_null(settings_value(&s, settings_count()));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(one_table), cmocka_unit_test(defaults),
	        cmocka_unit_test(resets),    cmocka_unit_test(multi_set_all_or_nothing),
	        cmocka_unit_test(strings),   cmocka_unit_test(raw_access),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
