/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The gpiod backend against link-time wrapped gpiod_* calls (-Wl,--wrap):
 * every call into the kernel side of libgpiod is checked for its exact
 * arguments; the settings and config objects are libgpiod's own, inspected
 * with its getters when the request is made. */
#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hw/outputs.h"
#include "gpiod_wrap.h"

/* Stand-ins never dereferenced: only their addresses are compared. */
static const char fake_chip0, fake_chip1, fake_request;
#define CHIP0   ((struct gpiod_chip *)&fake_chip0)
#define CHIP1   ((struct gpiod_chip *)&fake_chip1)
#define REQUEST ((struct gpiod_line_request *)&fake_request)

struct gpiod_chip *__wrap_gpiod_chip_open(const char *path)
{
	check_expected(path);
	struct gpiod_chip *chip = mock_ptr_type(struct gpiod_chip *);
	if (!chip)
		errno = (int)mock();
	return chip;
}

void __wrap_gpiod_chip_close(struct gpiod_chip *chip)
{
	check_expected_ptr(chip);
}

int __wrap_gpiod_chip_get_line_offset_from_name(struct gpiod_chip *chip, const char *name)
{
	check_expected_ptr(chip);
	check_expected(name);
	int r = (int)mock();
	if (r < 0)
		errno = ENOENT;
	return r;
}

struct gpiod_line_request *__wrap_gpiod_chip_request_lines(struct gpiod_chip *chip,
                                                           struct gpiod_request_config *req_cfg,
                                                           struct gpiod_line_config *line_cfg)
{
	unsigned int offsets[16];

	check_expected_ptr(chip);
	const char *consumer = gpiod_request_config_get_consumer(req_cfg);
	check_expected(consumer);
	size_t n = gpiod_line_config_get_num_configured_offsets(line_cfg);
	assert_int_equal(n, OUTPUT_LINE_COUNT);
	assert_int_equal(gpiod_line_config_get_configured_offsets(line_cfg, offsets, 16), n);
	check_expected(offsets);
	for (size_t i = 0; i < n; i++) {
		struct gpiod_line_settings *s =
		        gpiod_line_config_get_line_settings(line_cfg, offsets[i]);
		assert_non_null(s);
		assert_int_equal(gpiod_line_settings_get_direction(s), GPIOD_LINE_DIRECTION_OUTPUT);
		assert_int_equal(gpiod_line_settings_get_output_value(s),
		                 GPIOD_LINE_VALUE_INACTIVE);
		gpiod_line_settings_free(s);
	}
	struct gpiod_line_request *req = mock_ptr_type(struct gpiod_line_request *);
	if (!req)
		errno = (int)mock();
	return req;
}

int __wrap_gpiod_line_request_set_value(struct gpiod_line_request *request, unsigned int offset,
                                        enum gpiod_line_value value)
{
	assert_ptr_equal(request, REQUEST);
	check_expected(offset);
	check_expected(value);
	int r = (int)mock();
	if (r < 0)
		errno = EIO;
	return r;
}

int __wrap_gpiod_line_request_get_values_subset(struct gpiod_line_request *request,
                                                size_t num_values, const unsigned int *offsets,
                                                enum gpiod_line_value *values)
{
	assert_ptr_equal(request, REQUEST);
	assert_int_equal(num_values, OUTPUT_LINE_COUNT);
	check_expected(offsets);
	const enum gpiod_line_value *v = mock_ptr_type(const enum gpiod_line_value *);
	if (!v) {
		errno = EIO;
		return -1;
	}
	memcpy(values, v, num_values * sizeof(*values));
	return 0;
}

int __wrap_gpiod_line_request_get_fd(struct gpiod_line_request *request)
{
	assert_ptr_equal(request, REQUEST);
	return (int)mock();
}

void __wrap_gpiod_line_request_release(struct gpiod_line_request *request)
{
	check_expected_ptr(request);
}

static const unsigned int by_name_offsets[OUTPUT_LINE_COUNT] = {9, 10, 11, 17, 18, 27};

struct fixture {
	char dir[64];
	char chip0[96], chip1[96];
	struct outputs_config cfg;
};

static void touch(const char *dir, const char *name)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/test-gpiod-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	/* Two chips, and entries that are not chips, which are never opened. */
	touch(f->dir, "gpiochip1");
	touch(f->dir, "gpiochip0");
	touch(f->dir, "gpiochipX");
	touch(f->dir, "ttyS1");
	snprintf(f->chip0, sizeof(f->chip0), "%s/gpiochip0", f->dir);
	snprintf(f->chip1, sizeof(f->chip1), "%s/gpiochip1", f->dir);
	outputs_config_defaults(&f->cfg);
	snprintf(f->cfg.dev_dir, sizeof(f->cfg.dev_dir), "%s", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[128];

	for (const char *const *n =
	             (const char *const[]){"gpiochip0", "gpiochip1", "gpiochipX", "ttyS1", NULL};
	     *n; n++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, *n);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void expect_open(const char *path, struct gpiod_chip *chip)
{
	expect_string(__wrap_gpiod_chip_open, path, path);
	will_return(__wrap_gpiod_chip_open, chip);
}

static void expect_lookup(struct gpiod_chip *chip, enum output_line line, int result)
{
	expect_value(__wrap_gpiod_chip_get_line_offset_from_name, chip, chip);
	expect_string(__wrap_gpiod_chip_get_line_offset_from_name, name, output_line_name(line));
	will_return(__wrap_gpiod_chip_get_line_offset_from_name, result);
}

static void expect_request(struct gpiod_chip *chip, const unsigned int *offsets,
                           struct gpiod_line_request *result, int err)
{
	expect_value(__wrap_gpiod_chip_request_lines, chip, chip);
	expect_string(__wrap_gpiod_chip_request_lines, consumer, "smallbmsd");
	expect_memory(__wrap_gpiod_chip_request_lines, offsets, offsets,
	              OUTPUT_LINE_COUNT * sizeof(unsigned int));
	will_return(__wrap_gpiod_chip_request_lines, result);
	if (!result)
		will_return(__wrap_gpiod_chip_request_lines, err);
}

static void expect_close(struct gpiod_chip *chip)
{
	expect_value(__wrap_gpiod_chip_close, chip, chip);
}

/* chip0 lacks the lines, chip1 has all six. */
static struct outputs *open_by_name(struct fixture *f)
{
	struct outputs *o = NULL;

	expect_open(f->chip0, CHIP0);
	expect_lookup(CHIP0, OUTPUT_LOAD_DISCONNECT, -1);
	expect_close(CHIP0);
	expect_open(f->chip1, CHIP1);
	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++)
		expect_lookup(CHIP1, i, (int)by_name_offsets[i]);
	expect_request(CHIP1, by_name_offsets, REQUEST, 0);
	expect_close(CHIP1);
	assert_int_equal(outputs_gpiod_ops.open(&f->cfg, &o), 0);
	assert_non_null(o);
	assert_ptr_equal(o->ops, &outputs_gpiod_ops);
	return o;
}

static void close_outputs(struct outputs *o)
{
	expect_value(__wrap_gpiod_line_request_release, request, REQUEST);
	outputs_close(o);
}

static void expect_set(unsigned int offset, enum gpiod_line_value value, int result)
{
	expect_value(__wrap_gpiod_line_request_set_value, offset, offset);
	expect_value(__wrap_gpiod_line_request_set_value, value, value);
	will_return(__wrap_gpiod_line_request_set_value, result);
}

static void test_open_by_name_and_release(void **state)
{
	struct fixture *f = *state;
	struct outputs *o = open_by_name(f);

	will_return(__wrap_gpiod_line_request_get_fd, 42);
	assert_int_equal(o->ops->fd(o), 42);
	close_outputs(o);
}

static void test_set_writes_on_change_only(void **state)
{
	struct fixture *f = *state;
	struct outputs *o = open_by_name(f);

	/* Inactive is the requested start value: setting it again writes nothing. */
	assert_int_equal(outputs_set(o, OUTPUT_LOAD_DISCONNECT, false), 0);
	expect_set(9, GPIOD_LINE_VALUE_ACTIVE, 0);
	assert_int_equal(outputs_set(o, OUTPUT_LOAD_DISCONNECT, true), 0);
	assert_int_equal(outputs_set(o, OUTPUT_LOAD_DISCONNECT, true), 0);
	expect_set(27, GPIOD_LINE_VALUE_ACTIVE, 0);
	assert_int_equal(outputs_set(o, OUTPUT_HEARTBEAT, true), 0);
	expect_set(27, GPIOD_LINE_VALUE_INACTIVE, 0);
	assert_int_equal(outputs_set(o, OUTPUT_HEARTBEAT, false), 0);
	expect_set(9, GPIOD_LINE_VALUE_INACTIVE, 0);
	assert_int_equal(outputs_set(o, OUTPUT_LOAD_DISCONNECT, false), 0);
	assert_int_equal(outputs_set(o, OUTPUT_LINE_COUNT, true), -EINVAL);
	close_outputs(o);
}

static void test_set_failure_is_retried(void **state)
{
	struct fixture *f = *state;
	struct outputs *o = open_by_name(f);
	bool active[OUTPUT_LINE_COUNT];
	static const enum gpiod_line_value all_inactive[OUTPUT_LINE_COUNT] = {
	        GPIOD_LINE_VALUE_INACTIVE, GPIOD_LINE_VALUE_INACTIVE, GPIOD_LINE_VALUE_INACTIVE,
	        GPIOD_LINE_VALUE_INACTIVE, GPIOD_LINE_VALUE_INACTIVE, GPIOD_LINE_VALUE_INACTIVE};

	expect_set(10, GPIOD_LINE_VALUE_ACTIVE, -1);
	assert_int_equal(outputs_set(o, OUTPUT_CHARGE_DISCONNECT, true), -EIO);
	/* The read-back reports the level the line really has, inactive,
	 * not the value that failed to be written. */
	expect_memory(__wrap_gpiod_line_request_get_values_subset, offsets, by_name_offsets,
	              sizeof(by_name_offsets));
	will_return(__wrap_gpiod_line_request_get_values_subset, all_inactive);
	assert_int_equal(outputs_read_back(o, active), 0);
	assert_false(active[OUTPUT_CHARGE_DISCONNECT]);
	/* Not recorded as set: the same command writes again. */
	expect_set(10, GPIOD_LINE_VALUE_ACTIVE, 0);
	assert_int_equal(outputs_set(o, OUTPUT_CHARGE_DISCONNECT, true), 0);
	close_outputs(o);
}

static void test_read_back(void **state)
{
	struct fixture *f = *state;
	struct outputs *o = open_by_name(f);
	bool active[OUTPUT_LINE_COUNT];
	static const enum gpiod_line_value match[OUTPUT_LINE_COUNT] = {
	        GPIOD_LINE_VALUE_INACTIVE, GPIOD_LINE_VALUE_ACTIVE,   GPIOD_LINE_VALUE_INACTIVE,
	        GPIOD_LINE_VALUE_INACTIVE, GPIOD_LINE_VALUE_INACTIVE, GPIOD_LINE_VALUE_INACTIVE};
	static const enum gpiod_line_value stuck[OUTPUT_LINE_COUNT] = {
	        GPIOD_LINE_VALUE_ACTIVE,   GPIOD_LINE_VALUE_ACTIVE,   GPIOD_LINE_VALUE_INACTIVE,
	        GPIOD_LINE_VALUE_INACTIVE, GPIOD_LINE_VALUE_INACTIVE, GPIOD_LINE_VALUE_INACTIVE};
	static const enum gpiod_line_value bad[OUTPUT_LINE_COUNT] = {
	        GPIOD_LINE_VALUE_ERROR,    GPIOD_LINE_VALUE_ACTIVE,   GPIOD_LINE_VALUE_INACTIVE,
	        GPIOD_LINE_VALUE_INACTIVE, GPIOD_LINE_VALUE_INACTIVE, GPIOD_LINE_VALUE_INACTIVE};

	expect_set(10, GPIOD_LINE_VALUE_ACTIVE, 0);
	assert_int_equal(outputs_set(o, OUTPUT_CHARGE_DISCONNECT, true), 0);

	expect_memory(__wrap_gpiod_line_request_get_values_subset, offsets, by_name_offsets,
	              sizeof(by_name_offsets));
	will_return(__wrap_gpiod_line_request_get_values_subset, match);
	assert_int_equal(outputs_read_back(o, active), 0);
	assert_true(active[OUTPUT_CHARGE_DISCONNECT]);
	assert_false(active[OUTPUT_LOAD_DISCONNECT]);

	/* Load disconnect reads active although commanded inactive: the
	 * levels are reported as read (the daemon compares them with its
	 * decision, tests/daemon/test_outputs_check.c). */
	expect_memory(__wrap_gpiod_line_request_get_values_subset, offsets, by_name_offsets,
	              sizeof(by_name_offsets));
	will_return(__wrap_gpiod_line_request_get_values_subset, stuck);
	assert_int_equal(outputs_read_back(o, active), 0);
	assert_true(active[OUTPUT_LOAD_DISCONNECT]);
	assert_true(active[OUTPUT_CHARGE_DISCONNECT]);

	expect_memory(__wrap_gpiod_line_request_get_values_subset, offsets, by_name_offsets,
	              sizeof(by_name_offsets));
	will_return(__wrap_gpiod_line_request_get_values_subset, bad);
	assert_int_equal(outputs_read_back(o, active), -EIO);

	expect_memory(__wrap_gpiod_line_request_get_values_subset, offsets, by_name_offsets,
	              sizeof(by_name_offsets));
	will_return(__wrap_gpiod_line_request_get_values_subset, NULL);
	assert_int_equal(outputs_read_back(o, active), -EIO);
	close_outputs(o);
}

static void test_chip_and_offsets_from_config(void **state)
{
	struct fixture *f = *state;
	struct outputs *o = NULL;
	static const unsigned int offsets[OUTPUT_LINE_COUNT] = {20, 21, 22, 5, 23, 24};

	snprintf(f->cfg.chip, sizeof(f->cfg.chip), "/dev/gpiochip3");
	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++)
		f->cfg.line[i].offset = (int)offsets[i];
	/* One line still by a (non-default) name. */
	f->cfg.line[OUTPUT_LED_BLUETOOTH].offset = -1;
	snprintf(f->cfg.line[OUTPUT_LED_BLUETOOTH].name, OUTPUTS_NAME_MAX, "led-bluetooth");

	expect_open("/dev/gpiochip3", CHIP0);
	expect_lookup(CHIP0, OUTPUT_LED_BLUETOOTH, 5);
	expect_request(CHIP0, offsets, REQUEST, 0);
	expect_close(CHIP0);
	assert_int_equal(outputs_gpiod_ops.open(&f->cfg, &o), 0);
	expect_set(5, GPIOD_LINE_VALUE_ACTIVE, 0);
	assert_int_equal(outputs_set(o, OUTPUT_LED_BLUETOOTH, true), 0);
	close_outputs(o);
}

/* Opens with a message buffer; the message must name part (issue 12:
 * every failure names its step and errno). */
static int open_why(struct fixture *f, struct outputs **o, char *why, size_t len)
{
	f->cfg.why = why;
	f->cfg.why_len = len;
	int r = outputs_gpiod_ops.open(&f->cfg, o);
	f->cfg.why = NULL;
	f->cfg.why_len = 0;
	return r;
}

static void assert_names(const char *why, const char *part)
{
	if (!strstr(why, part)) {
		print_error("message \"%s\" does not name \"%s\"\n", why, part);
		fail();
	}
}

static void test_error_no_chip(void **state)
{
	struct fixture *f = *state;
	struct outputs *o = NULL;

	/* A directory without gpiochipN entries. */
	char why[256];

	snprintf(f->cfg.dev_dir, sizeof(f->cfg.dev_dir), "/proc/self");
	assert_int_equal(open_why(f, &o, why, sizeof(why)), -ENODEV);
	assert_string_equal(why,
	                    "finding a GPIO chip in /proc/self (no gpiochipN): No such device");
	snprintf(f->cfg.dev_dir, sizeof(f->cfg.dev_dir), "/nonexistent");
	assert_int_equal(open_why(f, &o, why, sizeof(why)), -ENOENT);
	assert_string_equal(why,
	                    "listing the GPIO chips in /nonexistent: No such file or directory");
	/* The configured chip cannot be opened. */
	snprintf(f->cfg.chip, sizeof(f->cfg.chip), "/dev/gpiochip7");
	expect_open("/dev/gpiochip7", NULL);
	will_return(__wrap_gpiod_chip_open, ENOENT);
	assert_int_equal(open_why(f, &o, why, sizeof(why)), -ENOENT);
	assert_string_equal(why, "opening /dev/gpiochip7: No such file or directory");
	assert_null(o);
}

static void test_error_chip_open_denied(void **state)
{
	struct fixture *f = *state;
	struct outputs *o = NULL;

	expect_open(f->chip0, NULL);
	will_return(__wrap_gpiod_chip_open, EACCES);
	expect_open(f->chip1, NULL);
	will_return(__wrap_gpiod_chip_open, EACCES);
	assert_int_equal(outputs_gpiod_ops.open(&f->cfg, &o), -EACCES);
	assert_null(o);
}

static void test_error_line_name_missing(void **state)
{
	struct fixture *f = *state;
	struct outputs *o = NULL;

	/* chip0 has none; chip1 has all but heartbeat. Every chip is closed. */
	expect_open(f->chip0, CHIP0);
	expect_lookup(CHIP0, OUTPUT_LOAD_DISCONNECT, -1);
	expect_close(CHIP0);
	expect_open(f->chip1, CHIP1);
	for (unsigned i = 0; i < OUTPUT_HEARTBEAT; i++)
		expect_lookup(CHIP1, i, (int)by_name_offsets[i]);
	expect_lookup(CHIP1, OUTPUT_HEARTBEAT, -1);
	expect_close(CHIP1);
	char why[256];
	assert_int_equal(open_why(f, &o, why, sizeof(why)), -ENOENT);
	assert_null(o);
	assert_names(why, "finding line \"heartbeat\" on ");
	assert_names(why, "gpiochip1: No such file or directory");
}

static void test_error_request_fails(void **state)
{
	struct fixture *f = *state;
	struct outputs *o = NULL;

	expect_open(f->chip0, CHIP0);
	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++)
		expect_lookup(CHIP0, i, (int)by_name_offsets[i]);
	expect_request(CHIP0, by_name_offsets, NULL, EBUSY);
	expect_close(CHIP0);
	/* No release: nothing was requested. */
	char why[256], want[300];
	assert_int_equal(open_why(f, &o, why, sizeof(why)), -EBUSY);
	assert_null(o);
	snprintf(want, sizeof(want),
	         "requesting the six lines of %s as outputs: Device or resource busy", f->chip0);
	assert_string_equal(why, want);
}

static void test_error_bad_config(void **state)
{
	struct fixture *f = *state;
	struct outputs *o = NULL;

	/* An offset without its chip: refused before any call. */
	char why[256];
	f->cfg.line[OUTPUT_PRE_ALARM].offset = 4;
	assert_int_equal(open_why(f, &o, why, sizeof(why)), -EINVAL);
	assert_string_equal(why,
	                    "using offset 4 for pre-alarm: no chip configured: Invalid argument");

	/* Two lines on one offset: refused, the chip closed. */
	snprintf(f->cfg.chip, sizeof(f->cfg.chip), "/dev/gpiochip0");
	f->cfg.line[OUTPUT_PRE_ALARM].offset = 9;
	expect_open("/dev/gpiochip0", CHIP0);
	expect_lookup(CHIP0, OUTPUT_LOAD_DISCONNECT, 9);
	expect_lookup(CHIP0, OUTPUT_CHARGE_DISCONNECT, 10);
	for (unsigned i = OUTPUT_LED_BLUETOOTH; i < OUTPUT_LINE_COUNT; i++)
		expect_lookup(CHIP0, i, (int)by_name_offsets[i]);
	expect_close(CHIP0);
	assert_int_equal(open_why(f, &o, why, sizeof(why)), -EINVAL);
	assert_null(o);
	assert_string_equal(why, "using /dev/gpiochip0: load-disconnect and pre-alarm are both "
	                         "offset 9: Invalid argument");
	assert_int_equal(outputs_gpiod_ops.open(NULL, &o), -EINVAL);
}

struct report_log {
	char text[8][96];
	unsigned n;
};

static void record_report(void *userdata, enum output_line line, bool active, const char *text)
{
	struct report_log *log = userdata;

	assert_true(log->n < 8);
	snprintf(log->text[log->n++], sizeof(log->text[0]), "%s", text);
}

static void test_dryrun_reports_changes(void **state)
{
	struct fixture *f = *state;
	struct report_log log = {.n = 0};
	struct outputs *o = NULL;
	bool active[OUTPUT_LINE_COUNT];

	f->cfg.report = record_report;
	f->cfg.report_userdata = &log;
	assert_int_equal(outputs_dryrun_ops.open(&f->cfg, &o), 0);
	assert_int_equal(o->ops->fd(o), -EOPNOTSUPP);
	assert_int_equal(outputs_read_back(o, active), 0);
	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++)
		assert_false(active[i]);

	assert_int_equal(outputs_set(o, OUTPUT_LOAD_DISCONNECT, false), 0); /* no change */
	assert_int_equal(outputs_set(o, OUTPUT_LOAD_DISCONNECT, true), 0);
	assert_int_equal(outputs_set(o, OUTPUT_LOAD_DISCONNECT, true), 0);
	assert_int_equal(outputs_set(o, OUTPUT_LED_ERROR, true), 0);
	assert_int_equal(outputs_set(o, OUTPUT_HEARTBEAT, true), 0);
	assert_int_equal(outputs_set(o, OUTPUT_LOAD_DISCONNECT, false), 0);
	assert_int_equal(outputs_set(o, OUTPUT_PRE_ALARM, true), 0);
	assert_int_equal(outputs_set(o, 99, true), -EINVAL);

	assert_int_equal(log.n, 5);
	assert_string_equal(log.text[0], "DRY-RUN: load-disconnect -> closed");
	assert_string_equal(log.text[1], "DRY-RUN: led-error -> lit");
	assert_string_equal(log.text[2], "DRY-RUN: heartbeat -> high");
	assert_string_equal(log.text[3], "DRY-RUN: load-disconnect -> open");
	assert_string_equal(log.text[4], "DRY-RUN: pre-alarm -> active");

	assert_int_equal(outputs_read_back(o, active), 0);
	assert_false(active[OUTPUT_LOAD_DISCONNECT]);
	assert_true(active[OUTPUT_LED_ERROR]);
	assert_true(active[OUTPUT_HEARTBEAT]);
	assert_true(active[OUTPUT_PRE_ALARM]);
	assert_false(active[OUTPUT_CHARGE_DISCONNECT]);
	outputs_close(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_open_by_name_and_release, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_set_writes_on_change_only, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_set_failure_is_retried, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_read_back, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chip_and_offsets_from_config, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_error_no_chip, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_error_chip_open_denied, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_error_line_name_missing, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_error_request_fails, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_error_bad_config, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_dryrun_reports_changes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
