/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's output handling (daemon_outputs.c) over the real gpiod
 * adapter, whose kernel-side gpiod_* calls are wrapped at link time
 * (-Wl,--wrap) by a small model of six lines: a write that fails, or a line
 * that does not follow a write, releases every line (issue 13 item 2). */
#include <errno.h>
#include <gpiod.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/daemon_private.h"
#include "../hw/gpiod_wrap.h"

/* Stand-ins never dereferenced. */
static const char fake_chip, fake_request;
#define CHIP    ((struct gpiod_chip *)&fake_chip)
#define REQUEST ((struct gpiod_line_request *)&fake_request)
#define NONE    1000u

static struct {
	enum gpiod_line_value level[OUTPUT_LINE_COUNT];
	unsigned fail_offset;  /* set_value fails (EIO) for this line */
	unsigned stuck_offset; /* set_value succeeds but the line keeps its level */
	unsigned sets, releases;
} hw;

struct gpiod_chip *__wrap_gpiod_chip_open(const char *path)
{
	return CHIP;
}

void __wrap_gpiod_chip_close(struct gpiod_chip *chip)
{
	assert_ptr_equal(chip, CHIP);
}

/* Line l of the board sits at offset l. */
int __wrap_gpiod_chip_get_line_offset_from_name(struct gpiod_chip *chip, const char *name)
{
	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++)
		if (strcmp(name, output_line_name((enum output_line)l)) == 0)
			return (int)l;
	errno = ENOENT;
	return -1;
}

struct gpiod_line_request *__wrap_gpiod_chip_request_lines(struct gpiod_chip *chip,
                                                           struct gpiod_request_config *req_cfg,
                                                           struct gpiod_line_config *line_cfg)
{
	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++)
		hw.level[l] = GPIOD_LINE_VALUE_INACTIVE;
	return REQUEST;
}

int __wrap_gpiod_line_request_set_value(struct gpiod_line_request *request, unsigned int offset,
                                        enum gpiod_line_value value)
{
	assert_ptr_equal(request, REQUEST);
	assert_true(offset < OUTPUT_LINE_COUNT);
	hw.sets++;
	if (offset == hw.fail_offset) {
		errno = EIO;
		return -1;
	}
	if (offset != hw.stuck_offset)
		hw.level[offset] = value;
	return 0;
}

int __wrap_gpiod_line_request_get_values_subset(struct gpiod_line_request *request,
                                                size_t num_values, const unsigned int *offsets,
                                                enum gpiod_line_value *values)
{
	assert_ptr_equal(request, REQUEST);
	for (size_t i = 0; i < num_values; i++) {
		assert_true(offsets[i] < OUTPUT_LINE_COUNT);
		values[i] = hw.level[offsets[i]];
	}
	return 0;
}

int __wrap_gpiod_line_request_get_fd(struct gpiod_line_request *request)
{
	errno = EOPNOTSUPP;
	return -1; /* no fd store in this test */
}

void __wrap_gpiod_line_request_release(struct gpiod_line_request *request)
{
	assert_ptr_equal(request, REQUEST);
	hw.releases++;
}

#define T0 50000000ull

static int setup(void **state)
{
	struct daemon *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	memset(&hw, 0, sizeof(hw));
	hw.fail_offset = hw.stuck_offset = NONE;
	d->cfg.outputs_backend = OUTPUTS_BACKEND_GPIOD;
	outputs_config_defaults(&d->cfg.outputs);
	snprintf(d->cfg.outputs.chip, sizeof(d->cfg.outputs.chip), "/dev/gpiochip0");
	d->adopt_fd = -1;
	events_init(&d->ev);
	daemon_outputs_open(d, T0);
	if (!d->out) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct daemon *d = *state;

	daemon_release_outputs(d);
	free(d);
	return 0;
}

static void drive_all(struct daemon *d, uint64_t now)
{
	daemon_set_line(d, OUTPUT_LOAD_DISCONNECT, true, now);
	daemon_set_line(d, OUTPUT_CHARGE_DISCONNECT, true, now);
	daemon_set_line(d, OUTPUT_HEARTBEAT, true, now);
}

static void test_good_lines_stay(void **state)
{
	struct daemon *d = *state;

	drive_all(d, T0);
	assert_int_equal(hw.level[OUTPUT_CHARGE_DISCONNECT], GPIOD_LINE_VALUE_ACTIVE);
	daemon_check_outputs(d, T0 + DAEMON_READBACK_US);
	assert_non_null(d->out);
	assert_int_equal(hw.releases, 0);
}

/* A write that fails: released at once, inactive first, retried in 5 s. */
static void test_failed_write_releases(void **state)
{
	struct daemon *d = *state;

	drive_all(d, T0);
	hw.fail_offset = OUTPUT_CHARGE_DISCONNECT;
	daemon_set_line(d, OUTPUT_CHARGE_DISCONNECT, false, T0 + 100000);
	assert_null(d->out);
	assert_int_equal(hw.releases, 1);
	assert_int_equal(hw.level[OUTPUT_LOAD_DISCONNECT], GPIOD_LINE_VALUE_INACTIVE);
	assert_int_equal(hw.level[OUTPUT_HEARTBEAT], GPIOD_LINE_VALUE_INACTIVE);
	assert_int_equal(d->out_retry_us, T0 + 100000 + DAEMON_RETRY_US);
	/* the decision is kept for the next request */
	assert_false(d->line_decided[OUTPUT_CHARGE_DISCONNECT]);
	hw.fail_offset = NONE;
	daemon_outputs_open(d, T0 + 100000 + DAEMON_RETRY_US - 1);
	assert_null(d->out);
	daemon_outputs_open(d, T0 + 100000 + DAEMON_RETRY_US);
	assert_non_null(d->out);
}

/* A line that does not follow a write the library accepted: the read-back
 * against the decision finds it. */
static void test_line_not_following_releases(void **state)
{
	struct daemon *d = *state;

	drive_all(d, T0);
	hw.stuck_offset = OUTPUT_LOAD_DISCONNECT;
	daemon_set_line(d, OUTPUT_LOAD_DISCONNECT, false, T0 + 100000);
	assert_non_null(d->out);
	daemon_check_outputs(d, T0 + DAEMON_READBACK_US);
	assert_null(d->out);
	assert_int_equal(hw.releases, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_good_lines_stay, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_failed_write_releases, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_line_not_following_releases, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
