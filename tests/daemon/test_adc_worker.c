/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ADC reader thread (adc_worker.c): a request never waits for a read,
 * the result comes through the eventfd, one cycle at a time, an open that
 * fails and a read that fails (the device is closed and opened again by a
 * later cycle, -ESTALE included), no open when the loop does not allow it.
 * The ADC here is a test backend whose read blocks until the test lets it
 * go, standing in for a conversion. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "daemon/adc_worker.h"

static struct slow_adc {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool hold;    /* reads block while set */
	bool reading; /* a read is inside read() */
	int open_result, read_result;
	unsigned opens, reads, closes;
	int32_t mv;
	struct adc dev;
} t = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int slow_open(const struct adc_config *cfg, struct adc **ret, char *why, size_t why_len)
{
	pthread_mutex_lock(&t.lock);
	t.opens++;
	int r = t.open_result;
	pthread_mutex_unlock(&t.lock);
	if (r < 0) {
		snprintf(why, why_len, "finding IIO device \"%s\": %s", cfg->device, strerror(-r));
		return r;
	}
	*ret = &t.dev;
	return 0;
}

static int slow_read(struct adc *adc, struct adc_reading out[ADC_SIGNAL_COUNT])
{
	assert_ptr_equal(adc, &t.dev);
	pthread_mutex_lock(&t.lock);
	t.reading = true;
	pthread_cond_broadcast(&t.cond);
	while (t.hold)
		pthread_cond_wait(&t.cond, &t.lock);
	t.reading = false;
	t.reads++;
	int r = t.read_result;
	for (unsigned i = 0; i < ADC_SIGNAL_COUNT; i++)
		out[i] = (struct adc_reading){.status = ADC_VALID, .mv = t.mv + (int32_t)i};
	pthread_mutex_unlock(&t.lock);
	return r;
}

static void slow_close(struct adc *adc)
{
	assert_ptr_equal(adc, &t.dev);
	pthread_mutex_lock(&t.lock);
	t.closes++;
	pthread_mutex_unlock(&t.lock);
}

static const struct adc_ops slow_ops = {
        .name = "slow", .open = slow_open, .read = slow_read, .close = slow_close};

static int setup(void **state)
{
	pthread_mutex_lock(&t.lock);
	t.hold = false;
	t.reading = false;
	t.open_result = t.read_result = 0;
	t.opens = t.reads = t.closes = 0;
	t.mv = 13200;
	pthread_mutex_unlock(&t.lock);
	return 0;
}

static void set_hold(bool hold)
{
	pthread_mutex_lock(&t.lock);
	t.hold = hold;
	pthread_cond_broadcast(&t.cond);
	pthread_mutex_unlock(&t.lock);
}

static void wait_reading(void)
{
	pthread_mutex_lock(&t.lock);
	while (!t.reading)
		pthread_cond_wait(&t.cond, &t.lock);
	pthread_mutex_unlock(&t.lock);
}

static bool fd_ready(struct adc_worker *w, int timeout_ms)
{
	struct pollfd p = {.fd = adc_worker_fd(w), .events = POLLIN};
	return poll(&p, 1, timeout_ms) == 1;
}

/* Waits for the cycle's result through the eventfd, as the loop does. */
static struct adc_cycle finish(struct adc_worker *w)
{
	struct adc_cycle c;

	assert_true(fd_ready(w, 5000));
	adc_worker_fd_clear(w);
	assert_int_equal(adc_worker_take(w, &c), 1);
	assert_false(fd_ready(w, 0));
	struct adc_cycle again;
	assert_int_equal(adc_worker_take(w, &again), 0); /* taken once */
	return c;
}

static struct adc_config cfg(void)
{
	struct adc_config c;
	adc_config_defaults(&c);
	return c;
}

static void test_request_never_waits(void **state)
{
	struct adc_worker *w = NULL;
	struct adc_config c = cfg();
	struct adc_cycle res;

	assert_int_equal(adc_worker_new(&w, &slow_ops, &c), 0);
	assert_int_equal(adc_worker_busy_since(w), 0);
	set_hold(true);
	/* the read blocks (until set_hold(false) below), the caller does not;
	 * a second request is refused */
	assert_int_equal(adc_worker_request(w, 1000, true), 0);
	wait_reading();
	assert_int_equal(adc_worker_busy_since(w), 1000);
	assert_int_equal(adc_worker_request(w, 1100, true), -EBUSY);
	assert_false(fd_ready(w, 50));
	assert_int_equal(adc_worker_take(w, &res), 0);
	set_hold(false);
	res = finish(w);
	assert_int_equal(adc_worker_busy_since(w), 0);
	assert_true(res.open_tried);
	assert_int_equal(res.open_error, 0);
	assert_int_equal(res.read_error, 0);
	assert_true(res.have_readings);
	assert_true(res.is_open);
	assert_int_equal(res.requested_us, 1000);
	assert_true(res.took_us >= 50000); /* held through the 50 ms poll above */
	assert_int_equal(res.rd[ADC_BANK].mv, 13200);
	assert_int_equal(res.rd[ADC_CHARGE_READBACK].mv, 13203);

	/* the next cycle reads the open device, no second open */
	t.mv = 12000;
	assert_int_equal(adc_worker_request(w, 2000, true), 0);
	res = finish(w);
	assert_false(res.open_tried);
	assert_int_equal(res.rd[ADC_BANK].mv, 12000);
	assert_int_equal(res.requested_us, 2000);
	assert_int_equal(t.opens, 1);
	assert_int_equal(t.reads, 2);
	w = adc_worker_free(w);
	assert_null(w);
	assert_int_equal(t.closes, 1); /* the device is closed at the stop */
}

static void test_result_not_lost(void **state)
{
	struct adc_worker *w = NULL;
	struct adc_config c = cfg();
	struct adc_cycle res;

	assert_int_equal(adc_worker_new(&w, &slow_ops, &c), 0);
	assert_int_equal(adc_worker_request(w, 10, true), 0);
	assert_true(fd_ready(w, 5000));
	/* finished but not taken: a new request would overwrite it */
	assert_int_equal(adc_worker_request(w, 20, true), -EBUSY);
	assert_int_equal(adc_worker_take(w, &res), 1);
	assert_true(res.open_tried);
	assert_int_equal(adc_worker_request(w, 20, true), 0);
	adc_worker_free(w);
}

static void test_open_fails_and_retries(void **state)
{
	struct adc_worker *w = NULL;
	struct adc_config c = cfg();
	struct adc_cycle res;

	snprintf(c.device, sizeof(c.device), "ads1115");
	t.open_result = -ENODEV;
	assert_int_equal(adc_worker_new(&w, &slow_ops, &c), 0);
	assert_int_equal(adc_worker_request(w, 1, true), 0);
	res = finish(w);
	assert_true(res.open_tried);
	assert_int_equal(res.open_error, -ENODEV);
	assert_false(res.have_readings);
	assert_false(res.is_open);
	assert_non_null(strstr(res.why, "finding IIO device \"ads1115\""));
	assert_int_equal(t.reads, 0);

	/* not allowed to open (the loop's retry time): nothing tried */
	t.open_result = 0;
	assert_int_equal(adc_worker_request(w, 2, false), 0);
	res = finish(w);
	assert_false(res.open_tried);
	assert_false(res.have_readings);
	assert_false(res.is_open);
	assert_int_equal(t.opens, 1);

	assert_int_equal(adc_worker_request(w, 3, true), 0);
	res = finish(w);
	assert_true(res.open_tried);
	assert_int_equal(res.open_error, 0);
	assert_true(res.have_readings);
	assert_true(res.is_open);
	adc_worker_free(w);
	assert_int_equal(t.closes, 1);
}

static void test_read_fails_closes(void **state)
{
	struct adc_worker *w = NULL;
	struct adc_config c = cfg();
	struct adc_cycle res;

	assert_int_equal(adc_worker_new(&w, &slow_ops, &c), 0);
	assert_int_equal(adc_worker_request(w, 1, true), 0);
	res = finish(w);
	assert_true(res.is_open);
	/* the driver was bound again: the range is not the one set */
	t.read_result = -ESTALE;
	assert_int_equal(adc_worker_request(w, 2, true), 0);
	res = finish(w);
	assert_int_equal(res.read_error, -ESTALE);
	assert_false(res.have_readings);
	assert_false(res.is_open);
	assert_int_equal(t.closes, 1);
	/* a later cycle opens again, which sets the range anew */
	t.read_result = 0;
	assert_int_equal(adc_worker_request(w, 3, true), 0);
	res = finish(w);
	assert_true(res.open_tried);
	assert_true(res.have_readings);
	assert_int_equal(t.opens, 2);
	adc_worker_free(w);
	assert_int_equal(t.closes, 2);
}

static void *release_later(void *arg)
{
	struct timespec ts = {.tv_nsec = 100000000L};
	nanosleep(&ts, NULL);
	set_hold(false);
	return arg;
}

static void test_free_waits_for_read(void **state)
{
	struct adc_worker *w = NULL;
	struct adc_config c = cfg();

	assert_int_equal(adc_worker_new(&w, &slow_ops, &c), 0);
	set_hold(true);
	assert_int_equal(adc_worker_request(w, 1, true), 0);
	wait_reading();
	/* the read ends 100 ms later: the stop waits for it, then closes */
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, release_later, NULL), 0);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	adc_worker_free(w);
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(th, NULL);
	int64_t waited_ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(waited_ms >= 90);
	assert_int_equal(t.reads, 1);
	assert_int_equal(t.closes, 1);
}

static void test_wait_bounded(void **state)
{
	struct adc_worker *w = NULL;
	struct adc_config c = cfg();
	struct adc_cycle res;

	assert_int_equal(adc_worker_new(&w, &slow_ops, &c), 0);
	assert_int_equal(adc_worker_wait(w, 1000000), 0); /* nothing asked: at once */
	set_hold(true);
	assert_int_equal(adc_worker_request(w, 1, true), 0);
	wait_reading();
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(adc_worker_wait(w, 50000), 0); /* the read is held: times out */
	clock_gettime(CLOCK_MONOTONIC, &b);
	int64_t waited_ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(waited_ms >= 45);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, release_later, NULL), 0);
	assert_int_equal(adc_worker_wait(w, 5000000), 1); /* released after 100 ms */
	pthread_join(th, NULL);
	assert_int_equal(adc_worker_take(w, &res), 1);
	assert_true(res.have_readings);
	adc_worker_fd_clear(w);
	adc_worker_free(w);
}

static void test_bad_arguments(void **state)
{
	struct adc_worker *w = NULL;
	struct adc_config c = cfg();
	struct adc_cycle res;

	assert_int_equal(adc_worker_new(NULL, &slow_ops, &c), -EINVAL);
	assert_int_equal(adc_worker_new(&w, NULL, &c), -EINVAL);
	assert_int_equal(adc_worker_new(&w, &slow_ops, NULL), -EINVAL);
	assert_null(w);
	assert_int_equal(adc_worker_request(NULL, 1, true), -EINVAL);
	assert_int_equal(adc_worker_take(NULL, &res), -EINVAL);
	assert_int_equal(adc_worker_busy_since(NULL), 0);
	assert_int_equal(adc_worker_wait(NULL, 1), -EINVAL);
	assert_int_equal(adc_worker_fd(NULL), -EINVAL);
	assert_null(adc_worker_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_request_never_waits, setup),
	        cmocka_unit_test_setup(test_result_not_lost, setup),
	        cmocka_unit_test_setup(test_open_fails_and_retries, setup),
	        cmocka_unit_test_setup(test_read_fails_closes, setup),
	        cmocka_unit_test_setup(test_free_waits_for_read, setup),
	        cmocka_unit_test_setup(test_wait_bounded, setup),
	        cmocka_unit_test_setup(test_bad_arguments, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
