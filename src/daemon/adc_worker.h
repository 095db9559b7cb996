/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reads the ADC off the event loop (issue 16: never block the loop). A real
 * ADS1015/ADS1115 read through sysfs starts a conversion and sleeps until
 * it ends (about 8 ms a channel at 128 samples/s), and opening a libiio
 * context scans sysfs; both happen on a worker thread that owns the
 * device. The loop asks for a cycle (open the device if it is closed and
 * the loop allows it, then read every channel) and never waits: the worker
 * posts the cycle's result and makes an eventfd readable; the loop takes
 * the result when that fd wakes it.
 *
 * One cycle at a time: a request while a cycle is under way is refused
 * (-EBUSY), so a slow or stuck driver never piles up requests; the loop
 * sees how long the cycle has been under way (adc_worker_busy_since) and
 * treats readings that do not come as missing.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hw/adc.h"

#define ADC_WORKER_WHY_MAX 320

struct adc_cycle {
	uint64_t requested_us; /* the loop's time when it asked for this cycle */
	bool open_tried;       /* the device was closed and an open was tried */
	int open_error;        /* < 0: the open failed (why says which step) */
	int read_error;        /* < 0: ops->read failed; the device is closed again */
	bool have_readings;    /* rd[] holds this cycle's readings */
	bool is_open;          /* the device is open after the cycle */
	uint64_t took_us;      /* the cycle's time on the worker (CLOCK_MONOTONIC) */
	struct adc_reading rd[ADC_SIGNAL_COUNT];
	char why[ADC_WORKER_WHY_MAX];
};

struct adc_worker;

/* Starts the worker, which owns a copy of cfg and opens the device only
 * when a cycle asks for it. */
int adc_worker_new(struct adc_worker **ret, const struct adc_ops *ops,
                   const struct adc_config *cfg);
/* Waits for a cycle under way, closes the device, stops the worker. */
struct adc_worker *adc_worker_free(struct adc_worker *w);

/* Asks for a cycle: when the device is closed, open it if may_open (else
 * the cycle reports is_open false and reads nothing), then read. Returns 0,
 * or -EBUSY while a cycle is under way or the last result is not taken yet
 * (nothing is queued), -EINVAL. */
int adc_worker_request(struct adc_worker *w, uint64_t now_us, bool may_open);
/* The result of the cycle that finished last, once: 1 and *out filled, or
 * 0 when no cycle finished since the last take. */
int adc_worker_take(struct adc_worker *w, struct adc_cycle *out);
/* Waits up to timeout_us for the cycle under way: 1 when a result is
 * ready to take, 0 when none (timed out, or no cycle asked for). Only for
 * the start, where the first evaluation needs the first reading. */
int adc_worker_wait(struct adc_worker *w, uint64_t timeout_us);
/* The request time of the cycle under way, or 0 when the worker is idle. */
uint64_t adc_worker_busy_since(struct adc_worker *w);

/* An eventfd, readable when a cycle finished; adc_worker_fd_clear empties it. */
int adc_worker_fd(const struct adc_worker *w);
void adc_worker_fd_clear(struct adc_worker *w);
