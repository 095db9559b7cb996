/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "daemon/adc_worker.h"

struct adc_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t done; /* adc_worker_wait: a cycle finished (CLOCK_MONOTONIC) */
	const struct adc_ops *ops;
	struct adc_config cfg;
	int done_fd;

	/* the worker's alone */
	struct adc *adc;

	/* under lock */
	bool requested, may_open, stop;
	uint64_t busy_since_us; /* 0: idle */
	bool have_result;
	struct adc_cycle result;
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* One cycle on the worker, without the lock. */
static void run_cycle(struct adc_worker *w, bool may_open, struct adc_cycle *c)
{
	if (!w->adc && may_open) {
		c->open_tried = true;
		int r = w->ops->open(&w->cfg, &w->adc, c->why, sizeof(c->why));
		if (r < 0) {
			w->adc = NULL;
			c->open_error = r;
			if (!c->why[0])
				snprintf(c->why, sizeof(c->why), "%s", strerror(-r));
		}
	}
	if (w->adc) {
		int r = w->ops->read(w->adc, c->rd);
		if (r < 0) {
			/* Reopened by a later cycle, which sets the range anew. */
			c->read_error = r;
			w->ops->close(w->adc);
			w->adc = NULL;
		} else {
			c->have_readings = true;
		}
	}
	c->is_open = w->adc != NULL;
}

static void *worker(void *arg)
{
	struct adc_worker *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->requested && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->stop)
			break;
		bool may_open = w->may_open;
		struct adc_cycle c = {.requested_us = w->busy_since_us};

		w->requested = false;
		pthread_mutex_unlock(&w->lock);

		uint64_t t0 = mono_us();
		run_cycle(w, may_open, &c);
		c.took_us = mono_us() - t0;

		pthread_mutex_lock(&w->lock);
		w->result = c;
		w->have_result = true;
		w->busy_since_us = 0;
		pthread_cond_broadcast(&w->done);
		uint64_t one = 1;
		if (write(w->done_fd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is full, the loop is woken anyway */
		}
	}
	pthread_mutex_unlock(&w->lock);
	if (w->adc)
		w->ops->close(w->adc);
	w->adc = NULL;
	return NULL;
}

int adc_worker_new(struct adc_worker **ret, const struct adc_ops *ops, const struct adc_config *cfg)
{
	sigset_t all, old;
	int r;

	if (!ret || !ops || !cfg || !ops->open || !ops->read || !ops->close)
		return -EINVAL;
	struct adc_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->ops = ops;
	w->cfg = *cfg;
	w->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->done_fd < 0) {
		r = -errno;
		free(w);
		return r;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->done, &ca);
	pthread_condattr_destroy(&ca);
	/* The worker takes no signal: the loop's signalfd gets every one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&w->thread, NULL, worker, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		pthread_cond_destroy(&w->done);
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		close(w->done_fd);
		free(w);
		return -r;
	}
	*ret = w;
	return 0;
}

struct adc_worker *adc_worker_free(struct adc_worker *w)
{
	if (!w)
		return NULL;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->done);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	close(w->done_fd);
	free(w);
	return NULL;
}

int adc_worker_request(struct adc_worker *w, uint64_t now_us, bool may_open)
{
	if (!w)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	if (w->busy_since_us || w->have_result) {
		/* under way, or its result not taken yet (it would be lost) */
		pthread_mutex_unlock(&w->lock);
		return -EBUSY;
	}
	w->requested = true;
	w->may_open = may_open;
	w->busy_since_us = now_us ? now_us : 1; /* 0 means idle */
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int adc_worker_take(struct adc_worker *w, struct adc_cycle *out)
{
	int r = 0;

	if (!w || !out)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	if (w->have_result) {
		*out = w->result;
		w->have_result = false;
		r = 1;
	}
	pthread_mutex_unlock(&w->lock);
	return r;
}

int adc_worker_wait(struct adc_worker *w, uint64_t timeout_us)
{
	struct timespec until;
	int r = 0;

	if (!w)
		return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(timeout_us / 1000000u);
	until.tv_nsec += (long)(timeout_us % 1000000u) * 1000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	while (w->busy_since_us && !w->have_result && r == 0)
		r = pthread_cond_timedwait(&w->done, &w->lock, &until);
	r = w->have_result ? 1 : 0;
	pthread_mutex_unlock(&w->lock);
	return r;
}

uint64_t adc_worker_busy_since(struct adc_worker *w)
{
	uint64_t t;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	t = w->busy_since_us;
	pthread_mutex_unlock(&w->lock);
	return t;
}

int adc_worker_fd(const struct adc_worker *w)
{
	return w ? w->done_fd : -EINVAL;
}

void adc_worker_fd_clear(struct adc_worker *w)
{
	uint64_t n;

	if (w && read(w->done_fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing finished since the last clear */
	}
}
