/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The settings table of docs/protection.md section 6 and the bank identity
 * checks, as a mutation run (tools/mutate) found them untested: each test
 * failed on at least one mutant of src/core/protection_settings.c or
 * src/core/bank.c that the rest of the suite let pass.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/bank.h"
#include "core/codes.h"
#include "core/history.h"
#include "core/protection_settings.h"
#include "core/settings.h"

/* docs/protection.md section 6, with the ordering rules' static ends: UV
 * release from UV trip's minimum + 0.20 V, pre-alarm from UV trip's minimum
 * + 0.10 V, OV release up to OV trip's maximum - 0.10 V, high charge from
 * low charge's minimum + 10 degC; the floor's 0 (off) is a flag. */
static const struct {
	const char *name;
	int32_t def, min, max;
} spec[] = {
        {"crit_uv_mv", 2500, 2400, 2700},          {"crit_uv_delay_ms", 1000, 1000, 2000},
        {"uv_trip_mv", 2800, 2600, 3000},          {"uv_delay_ms", 5000, 1000, 30000},
        {"uv_release_mv", 3200, 2800, 3350},       {"uv_release_hold_ms", 30000, 10000, 300000},
        {"prealarm_mv", 3100, 2700, 3300},         {"prealarm_lead_ms", 30000, 30000, 120000},
        {"ov_trip_mv", 3750, 3600, 3800},          {"ov_delay_ms", 1000, 1000, 5000},
        {"ov_release_mv", 3400, 3350, 3700},       {"ov_release_hold_ms", 30000, 10000, 300000},
        {"charge_temp_low_dc", 50, 0, 150},        {"charge_temp_high_dc", 500, 100, 550},
        {"discharge_temp_high_dc", 600, 450, 650}, {"discharge_temp_low_dc", -200, -300, 0},
        {"temp_delay_ms", 5000, 1000, 30000},      {"temp_hysteresis_dc", 20, 10, 100},
        {"discharge_floor_pct", 10, 1, 50},        {"low_soc_warning_pct", 20, 1, 60},
};

static void settings_table_is_section_6(void **state)
{
	const struct setting_desc *d;
	size_t n = 0;

	(void)state;
	d = protection_setting_descs(&n);
	assert_int_equal(n, sizeof(spec) / sizeof(spec[0]));
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t j = 0; j < n; j++) {
			if (strcmp(d[i].name, spec[j].name) != 0)
				continue;
			found = true;
			if (d[i].def != spec[j].def || d[i].min != spec[j].min ||
			    d[i].max != spec[j].max)
				fail_msg("%s: %d %d..%d, spec %d %d..%d", d[i].name, (int)d[i].def,
				         (int)d[i].min, (int)d[i].max, (int)spec[j].def,
				         (int)spec[j].min, (int)spec[j].max);
		}
		assert_true(found);
	}
}

/* A refusal without a message buffer still refuses. */
static void validate_without_a_buffer(void **state)
{
	struct protection_settings s;

	(void)state;
	protection_settings_default(&s);
	s.uv_trip_mv = 1;
	assert_int_equal(protection_settings_validate(&s, NULL, 64), -ERANGE);
	protection_settings_default(&s);
	s.prealarm_mv = s.uv_trip_mv; /* ordering */
	assert_int_equal(protection_settings_validate(&s, NULL, 64), -ERANGE);
	/* A one-byte buffer gets an empty message. */
	char err[1] = {'x'};
	assert_int_equal(protection_settings_validate(&s, err, sizeof(err)), -ERANGE);
	assert_int_equal(err[0], '\0');
}

static void make_bank(struct bank_battery_info *b, size_t n, uint8_t type, uint16_t ah)
{
	static const uint8_t cells[] = {0, 4, 8, 16};

	for (size_t i = 0; i < n; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		snprintf(b[i].serial, sizeof(b[i].serial), "HQ2402JJ%03u", (unsigned)i);
		b[i].type = type;
		b[i].capacity_ah = ah;
		b[i].cells = cells[type];
	}
}

/* An unknown battery type allows no series count. */
static void unknown_type_allows_nothing(void **state)
{
	(void)state;
	for (unsigned s = 0; s <= 4; s++)
		assert_false(bank_type_allows_s(9, s));
	assert_true(bank_type_allows_s(3, 1));
	assert_false(bank_type_allows_s(3, 2));
}

/* The identity takes the batteries' own topology only: same type, a
 * series count that is not 0; one in series is a bank. Its check refuses
 * a serial with a character outside printable ASCII. */
static void identity_edges(void **state)
{
	struct bank_battery_info b[4];
	struct bank_topology t;
	struct bank_identity id, bad;

	(void)state;
	make_bank(b, 4, 1, 100);
	assert_int_equal(bank_derive_with_s(b, 4, 1, &t), BANK_OK);
	assert_int_equal(t.s, 1);
	assert_int_equal(bank_identity_set(&id, b, 4, &t), 0);
	assert_int_equal(bank_identity_check(&id), 0);
	t.type = 2;
	assert_int_equal(bank_identity_set(&bad, b, 4, &t), -EINVAL);
	t.type = 1;
	t.s = 0;
	assert_int_equal(bank_identity_set(&bad, b, 4, &t), -EINVAL);

	bad = id;
	bad.serial[1][3] = 0x7f;
	assert_int_equal(bank_identity_check(&bad), -EINVAL);
	bad.serial[1][3] = 0x7e;
	assert_int_equal(bank_identity_check(&bad), 0);
}

/* src/core/history.c: a bank voltage of 1 mV is a reading; a history that
 * claims more errors than it holds is refused. */
static void history_edges(void **state)
{
	struct history h;

	(void)state;
	history_reset(&h);
	history_note_extremes(&h, 1, 3300, 3300, 200, 200);
	assert_int_equal(h.min_bank_mv, 1);
	assert_int_equal(history_check(&h), 0);
	for (int i = 0; i < HISTORY_ERRORS; i++)
		assert_int_equal(history_note_error(&h, BMS_E1, 1767225600 + i), 0);
	assert_int_equal(h.n_errors, HISTORY_ERRORS);
	assert_int_equal(history_check(&h), 0);
	h.n_errors = HISTORY_ERRORS + 1;
	assert_int_equal(history_check(&h), -EINVAL);
}

/* src/core/settings.c: every refusal works without a message buffer. */
#define MAX_CHANGES 64 /* SETTINGS_MAX_CHANGES, private to settings.c */
static void settings_refusals_without_a_buffer(void **state)
{
	struct bms_settings s, before;
	const char *bad_string[] = {"uv_trip_mv"};
	const char *many[MAX_CHANGES + 1];
	struct setting_change twice[] = {{.name = "uv_trip_mv", .value = 2800},
	                                 {.name = "uv_trip_mv", .value = 2800}};

	(void)state;
	settings_default(&s);
	before = s;
	for (size_t i = 0; i < MAX_CHANGES + 1; i++)
		many[i] = "uv_trip_mv=2800";
	assert_int_equal(settings_set(&s, "no_such_setting", 1, NULL, 64), -ENOENT);
	assert_int_equal(settings_set(&s, "uv_trip_mv", 1, NULL, 64), -ERANGE);
	assert_int_equal(settings_apply(&s, twice, 2, NULL, 64), -EINVAL);
	assert_int_equal(settings_apply_strings(&s, bad_string, 1, NULL, 64), -EINVAL);
	assert_int_equal(settings_apply_strings(&s, many, MAX_CHANGES + 1, NULL, 64), -EINVAL);
	assert_memory_equal(&s, &before, sizeof(s));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(settings_table_is_section_6),
	        cmocka_unit_test(validate_without_a_buffer),
	        cmocka_unit_test(unknown_type_allows_nothing),
	        cmocka_unit_test(identity_edges),
	        cmocka_unit_test(history_edges),
	        cmocka_unit_test(settings_refusals_without_a_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
