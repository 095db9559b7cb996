/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's read-back of its output lines (daemon_outputs.c): once a
 * second, and a line not at the value driven releases them all (inactive
 * first) and retries the request 5 s later. The backend is a test double
 * behind the outputs ops table, as the GPIO adapter itself is tested with
 * wrapped gpiod calls in tests/hw. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/daemon_private.h"

struct fake_outputs {
	struct outputs base;
	int read_back_result;
	int set_result[OUTPUT_LINE_COUNT]; /* what set() returns, per line */
	unsigned read_backs, closes, sets;
	bool value[OUTPUT_LINE_COUNT];
	bool stuck[OUTPUT_LINE_COUNT]; /* the line reads the opposite of value */
	bool set_after_close;
};

static struct fake_outputs *fake_of(struct outputs *o)
{
	return (struct fake_outputs *)o;
}

static int fake_set(struct outputs *o, enum output_line line, bool active)
{
	struct fake_outputs *f = fake_of(o);

	if (f->closes)
		f->set_after_close = true;
	f->sets++;
	if (f->set_result[line] < 0)
		return f->set_result[line];
	f->value[line] = active;
	return 0;
}

static int fake_read_back(struct outputs *o, bool active[OUTPUT_LINE_COUNT])
{
	struct fake_outputs *f = fake_of(o);

	f->read_backs++;
	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++)
		active[l] = f->value[l] != f->stuck[l];
	return f->read_back_result;
}

static int fake_fd(struct outputs *o)
{
	return -EOPNOTSUPP;
}

static void fake_close(struct outputs *o)
{
	fake_of(o)->closes++;
}

static const struct outputs_ops fake_ops = {
        .name = "fake",
        .set = fake_set,
        .read_back = fake_read_back,
        .fd = fake_fd,
        .close = fake_close,
};

struct fixture {
	struct daemon d;
	struct fake_outputs f;
};

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));

	if (!x)
		return -1;
	x->f.base.ops = &fake_ops;
	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++)
		x->f.value[l] = true; /* everything driven active */
	x->d.out = &x->f.base;
	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++)
		x->d.line_decided[l] = true; /* and so decided */
	events_init(&x->d.ev);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

#define T0 50000000ull

static void test_read_back_once_a_second(void **state)
{
	struct fixture *x = *state;

	daemon_check_outputs(&x->d, T0);
	assert_int_equal(x->f.read_backs, 1);
	daemon_check_outputs(&x->d, T0 + DAEMON_READBACK_US - 1);
	assert_int_equal(x->f.read_backs, 1);
	daemon_check_outputs(&x->d, T0 + DAEMON_READBACK_US);
	assert_int_equal(x->f.read_backs, 2);
	/* a good read-back changes nothing */
	assert_ptr_equal(x->d.out, &x->f.base);
	assert_int_equal(x->f.closes, 0);
	assert_int_equal(x->f.sets, 0);
}

static void test_mismatch_releases_every_line(void **state)
{
	struct fixture *x = *state;

	x->f.read_back_result = -EIO;
	daemon_check_outputs(&x->d, T0);
	assert_int_equal(x->f.read_backs, 1);
	/* every line driven inactive (the safe state), then released */
	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++)
		assert_false(x->f.value[l]);
	assert_int_equal(x->f.closes, 1);
	assert_false(x->f.set_after_close);
	assert_null(x->d.out);
	/* the request is retried 5 s later, not at once */
	assert_int_equal(x->d.out_retry_us, T0 + DAEMON_RETRY_US);
}

static void test_read_error_releases_too(void **state)
{
	struct fixture *x = *state;

	x->f.read_back_result = -ENODEV;
	daemon_check_outputs(&x->d, T0);
	assert_null(x->d.out);
	assert_int_equal(x->f.closes, 1);
}

static void test_nothing_to_check_without_outputs(void **state)
{
	struct fixture *x = *state;

	x->d.out = NULL;
	daemon_check_outputs(&x->d, T0);
	assert_int_equal(x->f.read_backs, 0);
}

/* Issue 13 item 2: a failed write is handled as a read-back mismatch at
 * once: every line released (inactive first), retried 5 s later. */
static void test_failed_set_releases(void **state)
{
	struct fixture *x = *state;

	x->f.set_result[OUTPUT_CHARGE_DISCONNECT] = -EIO;
	daemon_set_line(&x->d, OUTPUT_CHARGE_DISCONNECT, false, T0);
	assert_null(x->d.out);
	assert_int_equal(x->f.closes, 1);
	assert_false(x->f.set_after_close);
	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++)
		if (l != OUTPUT_CHARGE_DISCONNECT)
			assert_false(x->f.value[l]);
	assert_int_equal(x->d.out_retry_us, T0 + DAEMON_RETRY_US);
}

/* Issue 13 item 2: the read-back compares each line with what the daemon
 * decided, not with what the backend believes it wrote. */
static void test_read_back_against_decision(void **state)
{
	struct fixture *x = *state;

	daemon_set_line(&x->d, OUTPUT_LOAD_DISCONNECT, false, T0);
	assert_false(x->d.line_decided[OUTPUT_LOAD_DISCONNECT]);
	/* the line stays high although the backend reported the write done */
	x->f.stuck[OUTPUT_LOAD_DISCONNECT] = true;
	daemon_check_outputs(&x->d, T0);
	assert_int_equal(x->f.read_backs, 1);
	assert_null(x->d.out);
	assert_int_equal(x->f.closes, 1);
	assert_int_equal(x->d.out_retry_us, T0 + DAEMON_RETRY_US);
}

/* The decision is remembered while no line is held, and a line whose level
 * agrees with it passes. */
static void test_decision_kept_without_outputs(void **state)
{
	struct fixture *x = *state;

	daemon_set_line(&x->d, OUTPUT_PRE_ALARM, false, T0);
	daemon_check_outputs(&x->d, T0);
	assert_non_null(x->d.out);
	x->d.out = NULL;
	daemon_set_line(&x->d, OUTPUT_PRE_ALARM, true, T0);
	assert_true(x->d.line_decided[OUTPUT_PRE_ALARM]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_read_back_once_a_second, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_mismatch_releases_every_line, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_read_error_releases_too, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_nothing_to_check_without_outputs, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_failed_set_releases, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_read_back_against_decision, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_decision_kept_without_outputs, setup,
	                                        teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
