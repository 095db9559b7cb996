/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/saver.h"

struct saver {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* the worker: a request or the stop */
	pthread_cond_t done; /* saver_wait: a write finished */
	saver_write_fn write;
	void *userdata;
	int done_fd; /* eventfd: readable once a write finished */

	/* under lock */
	uint8_t pending[SAVER_MAX_LEN];
	size_t pending_len;
	uint64_t pending_seq; /* 0: nothing pending */
	uint64_t next_seq;
	uint64_t done_seq;
	int last_result;
	char last_why[SAVER_WHY_MAX];
	bool stop;

	/* the worker's own copy, written without the lock */
	uint8_t writing[SAVER_MAX_LEN];
};

static void *worker(void *arg)
{
	struct saver *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->pending_seq && !s->stop)
			pthread_cond_wait(&s->wake, &s->lock);
		if (!s->pending_seq)
			break; /* stopping, nothing left to write */
		uint64_t seq = s->pending_seq;
		size_t len = s->pending_len;

		memcpy(s->writing, s->pending, len);
		s->pending_seq = 0;
		pthread_mutex_unlock(&s->lock);

		char why[SAVER_WHY_MAX] = "";
		int r = s->write(s->userdata, s->writing, len, why, sizeof(why));

		pthread_mutex_lock(&s->lock);
		s->done_seq = seq;
		s->last_result = r; /* > 0: written, with a note in last_why */
		memcpy(s->last_why, why, sizeof(why));
		pthread_cond_broadcast(&s->done);
		/* Wakes the loop; a full counter (never reached) only means it
		 * is awake already. */
		uint64_t one = 1;
		if (write(s->done_fd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is full, the loop is woken anyway */
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int saver_new(struct saver **ret, saver_write_fn write, void *userdata)
{
	struct saver *s;
	sigset_t all, old;
	int r;

	if (!ret || !write)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->write = write;
	s->userdata = userdata;
	s->next_seq = 1;
	s->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->done_fd < 0) {
		r = -errno;
		free(s);
		return r;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_cond_init(&s->done, NULL);
	/* The worker takes no signal: the loop's signalfd gets every one
	 * (a SIGTERM delivered to the worker would end the process). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&s->thread, NULL, worker, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		pthread_cond_destroy(&s->done);
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->lock);
		close(s->done_fd);
		free(s);
		return -r;
	}
	*ret = s;
	return 0;
}

struct saver *saver_free(struct saver *s)
{
	if (!s)
		return NULL;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->done);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	close(s->done_fd);
	free(s);
	return NULL;
}

int64_t saver_submit(struct saver *s, const uint8_t *buf, size_t len)
{
	uint64_t seq;

	if (!s || (!buf && len))
		return -EINVAL;
	if (len > SAVER_MAX_LEN)
		return -E2BIG;
	pthread_mutex_lock(&s->lock);
	if (len)
		memcpy(s->pending, buf, len);
	s->pending_len = len;
	seq = s->next_seq++;
	s->pending_seq = seq; /* replaces a request not yet started */
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return (int64_t)seq;
}

int saver_wait(struct saver *s, uint64_t seq)
{
	int r;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (seq >= s->next_seq) {
		pthread_mutex_unlock(&s->lock);
		return -EINVAL; /* never submitted: it would never complete */
	}
	while (s->done_seq < seq)
		pthread_cond_wait(&s->done, &s->lock);
	r = s->last_result;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void saver_status(struct saver *s, uint64_t *done_seq, int *last_result, char *why, size_t why_len)
{
	pthread_mutex_lock(&s->lock);
	if (done_seq)
		*done_seq = s->done_seq;
	if (last_result)
		*last_result = s->last_result;
	if (why && why_len)
		snprintf(why, why_len, "%s", s->last_why);
	pthread_mutex_unlock(&s->lock);
}

int saver_fd(const struct saver *s)
{
	return s ? s->done_fd : -EINVAL;
}

void saver_fd_clear(struct saver *s)
{
	uint64_t n;

	if (s && read(s->done_fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing finished since the last clear */
	}
}
