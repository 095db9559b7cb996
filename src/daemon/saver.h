/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes the state record off the event loop (docs/protection.md section 4:
 * "saving never holds up the evaluation or the heartbeat"). The loop hands
 * over an encoded copy of the record; a worker thread writes it (the
 * statefile's two fsyncs and a rename). Requests are coalesced: a request
 * not yet started is replaced by a newer one, which holds everything the
 * older one did (every request is a whole record). Each request has a
 * sequence number; a write completes every request up to its own.
 *
 * The loop never waits, except where it asks to (saver_wait: a settings
 * change reports whether it was saved, and a stop or power-off writes its
 * last record before the process ends). A front end that must acknowledge
 * only durable writes can wait for, or poll, the sequence number of its
 * request in the same way.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Writes one record durably; 0 or -errno, and on failure names the step
 * that failed in why (why_len bytes); > 0: written, why holds a note (the
 * other slot was used). Runs on the worker thread. */
typedef int (*saver_write_fn)(void *userdata, const uint8_t *buf, size_t len, char *why,
                              size_t why_len);
#define SAVER_WHY_MAX 256

struct saver;

/* The worker starts at once; write(userdata, ...) is only ever called on it. */
int saver_new(struct saver **ret, saver_write_fn write, void *userdata);
/* Finishes the write under way and a pending request, then stops the worker. */
struct saver *saver_free(struct saver *s);

/* Hands a copy of buf to the worker and returns its sequence number (> 0),
 * or -errno (-E2BIG beyond SAVER_MAX_LEN, -EINVAL). Never waits for a write. */
#define SAVER_MAX_LEN 65536
int64_t saver_submit(struct saver *s, const uint8_t *buf, size_t len);

/* Waits until request seq is written (or superseded by one written), and
 * returns that write's result (>= 0 or -errno). */
int saver_wait(struct saver *s, uint64_t seq);

/* Without waiting: the newest sequence number written (0: none yet), the
 * result of the last write and, when it failed, the step that failed (why
 * may be NULL). */
void saver_status(struct saver *s, uint64_t *done_seq, int *last_result, char *why, size_t why_len);

/* An eventfd that turns readable each time a write finishes, so that the
 * loop can answer the requests made durable (saver_status) without ever
 * waiting; saver_fd_clear reads it empty. */
int saver_fd(const struct saver *s);
void saver_fd_clear(struct saver *s);
