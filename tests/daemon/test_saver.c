/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The state record writer off the loop (saver.c): a submit never waits for
 * a write, a newer request replaces one not yet started, waiting returns
 * the write's result. The write function here blocks until the test lets
 * it go, standing in for a slow fsync. */
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

#include <cmocka.h>

#include "daemon/saver.h"

struct slow_disk {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool hold;    /* writes block while set */
	bool writing; /* a write is inside write() */
	unsigned n;
	uint8_t first_byte[16];
	int result;
};

static int slow_write(void *userdata, const uint8_t *buf, size_t len, char *why, size_t why_len)
{
	struct slow_disk *d = userdata;
	int r;

	pthread_mutex_lock(&d->lock);
	d->writing = true;
	pthread_cond_broadcast(&d->cond);
	while (d->hold)
		pthread_cond_wait(&d->cond, &d->lock);
	if (d->n < 16)
		d->first_byte[d->n] = len ? buf[0] : 0;
	d->n++;
	d->writing = false;
	r = d->result;
	if (r < 0)
		snprintf(why, why_len, "syncing state.%u: %s", d->n, strerror(-r));
	pthread_mutex_unlock(&d->lock);
	return r;
}

static void wait_writing(struct slow_disk *d)
{
	pthread_mutex_lock(&d->lock);
	while (!d->writing)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

static void release(struct slow_disk *d)
{
	pthread_mutex_lock(&d->lock);
	d->hold = false;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void init_disk(struct slow_disk *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
}

static void test_coalesced_without_waiting(void **state)
{
	struct slow_disk d;
	struct saver *s = NULL;
	uint8_t rec[3] = {0};
	uint64_t done = 99;
	int res = 1;

	init_disk(&d);
	d.hold = true;
	assert_int_equal(saver_new(&s, slow_write, &d), 0);
	saver_status(s, &done, &res, NULL, 0);
	assert_int_equal(done, 0);

	rec[0] = 'A';
	assert_int_equal(saver_submit(s, rec, sizeof(rec)), 1);
	wait_writing(&d); /* A is being written, and stays there */
	/* the loop goes on: these return while the disk is stuck */
	rec[0] = 'B';
	assert_int_equal(saver_submit(s, rec, sizeof(rec)), 2);
	rec[0] = 'C';
	assert_int_equal(saver_submit(s, rec, sizeof(rec)), 3);
	saver_status(s, &done, &res, NULL, 0);
	assert_int_equal(done, 0);

	release(&d);
	assert_int_equal(saver_wait(s, 2), 0); /* B is done once C is written */
	saver_status(s, &done, &res, NULL, 0);
	assert_int_equal(done, 3);
	assert_int_equal(res, 0);
	/* A, then the newest: B was superseded by C and never written */
	assert_int_equal(d.n, 2);
	assert_int_equal(d.first_byte[0], 'A');
	assert_int_equal(d.first_byte[1], 'C');
	s = saver_free(s);
}

static void test_result_and_free_finishes(void **state)
{
	struct slow_disk d;
	struct saver *s = NULL;
	uint8_t rec[2] = {'X', 0};
	int64_t seq;

	init_disk(&d);
	d.result = -ENOSPC;
	assert_int_equal(saver_new(&s, slow_write, &d), 0);
	seq = saver_submit(s, rec, sizeof(rec));
	assert_true(seq > 0);
	assert_int_equal(saver_wait(s, (uint64_t)seq), -ENOSPC);
	assert_int_equal(saver_wait(s, 99), -EINVAL); /* never submitted */
	/* the failed step reaches the loop with the result */
	char why[SAVER_WHY_MAX];
	uint64_t done = 0;
	int res = 0;
	saver_status(s, &done, &res, why, sizeof(why));
	assert_int_equal(res, -ENOSPC);
	assert_string_equal(why, "syncing state.1: No space left on device");

	/* a request still pending at free is written before the worker ends */
	d.result = 0;
	d.hold = true;
	rec[0] = 'Y';
	saver_submit(s, rec, sizeof(rec));
	wait_writing(&d);
	rec[0] = 'Z';
	saver_submit(s, rec, sizeof(rec));
	release(&d);
	s = saver_free(s);
	assert_null(s);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.first_byte[2], 'Z');
}

static void test_bad_requests(void **state)
{
	struct slow_disk d;
	struct saver *s = NULL;
	static uint8_t big[SAVER_MAX_LEN + 1];

	init_disk(&d);
	assert_int_equal(saver_new(&s, NULL, &d), -EINVAL);
	assert_int_equal(saver_new(&s, slow_write, &d), 0);
	assert_int_equal(saver_submit(s, big, sizeof(big)), -E2BIG);
	assert_int_equal(saver_submit(s, NULL, 4), -EINVAL);
	s = saver_free(s);
	assert_int_equal(d.n, 0);
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* The completion wakes a loop through saver_fd: not readable while the
 * write is stuck, readable once it is done, empty again after a clear. */
static void test_fd_wakes_on_completion(void **state)
{
	struct slow_disk d;
	struct saver *s = NULL;
	uint8_t rec[1] = {'A'};
	uint64_t done = 0;

	init_disk(&d);
	d.hold = true;
	assert_int_equal(saver_new(&s, slow_write, &d), 0);
	int fd = saver_fd(s);
	assert_true(fd >= 0);
	assert_false(readable(fd, 0));
	assert_int_equal(saver_submit(s, rec, sizeof(rec)), 1);
	wait_writing(&d);
	assert_false(readable(fd, 50));
	release(&d);
	assert_true(readable(fd, 5000));
	saver_status(s, &done, NULL, NULL, 0);
	assert_int_equal(done, 1);
	saver_fd_clear(s);
	assert_false(readable(fd, 0));
	s = saver_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_coalesced_without_waiting),
	        cmocka_unit_test(test_result_and_free_finishes),
	        cmocka_unit_test(test_bad_requests),
	        cmocka_unit_test(test_fd_wakes_on_completion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
