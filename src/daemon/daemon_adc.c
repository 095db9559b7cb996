/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ADC for the loop: asks the worker (adc_worker.h) for a cycle every
 * tick and takes its results when the worker's eventfd wakes the loop, so
 * that no conversion, no sysfs scan and no open ever holds the loop. */
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include "daemon/daemon_private.h"

/* What the loop learns from one cycle: the same events as when the ADC was
 * read on the loop. */
static void apply_cycle(struct daemon *d, const struct adc_cycle *c, uint64_t now)
{
	if (c->open_tried) {
		if (c->open_error < 0) {
			d->adc_retry_us = now + DAEMON_RETRY_US;
			if (!d->adc_reported)
				events_log(
				        &d->ev, EV_DEVICE, LOG_ERR, "adc",
				        "cannot set up device \"%s\" at %s: %s; retrying every 5 s",
				        d->cfg.adc.device, d->cfg.adc.uri, c->why);
			d->adc_reported = true;
		} else {
			if (d->adc_reported)
				events_log(&d->ev, EV_DEVICE, LOG_NOTICE, "adc",
				           "device \"%s\" open", d->cfg.adc.device);
			d->adc_reported = false;
		}
	}
	if (c->read_error < 0) {
		if (c->read_error == -ESTALE)
			events_log(&d->ev, EV_DEVICE, LOG_ERR, "adc",
			           "the range of \"%s\" is no longer the one set (the driver "
			           "was bound again?); reopening to set it anew",
			           d->cfg.adc.device);
		else
			events_log(&d->ev, EV_DEVICE, LOG_ERR, "adc",
			           "reading the channels of \"%s\" failed: %s; reopening",
			           d->cfg.adc.device, strerror(-c->read_error));
		d->adc_retry_us = now + DAEMON_RETRY_US;
		d->adc_reported = true;
	}
	if (c->have_readings) {
		memcpy(d->adc_rd, c->rd, sizeof(d->adc_rd));
		/* The readings were taken after the request: its time is the
		 * oldest they can be. */
		d->adc_last_ok_us = c->requested_us;
	}
	d->adc_open = c->is_open;
	loopstat_adc(&d->loopstat, c->took_us);
}

static void take_cycle(struct daemon *d, uint64_t now)
{
	struct adc_cycle c;

	if (adc_worker_take(d->adc_worker, &c) > 0)
		apply_cycle(d, &c, now);
}

static int on_adc_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct daemon *d = userdata;

	adc_worker_fd_clear(d->adc_worker);
	take_cycle(d, now_us(d));
	return 0;
}

int daemon_adc_start(struct daemon *d)
{
	int r = adc_worker_new(&d->adc_worker, &adc_iio_ops, &d->cfg.adc);

	if (r < 0) {
		d->adc_worker = NULL;
		events_log(&d->ev, EV_LIFECYCLE, LOG_ERR, "error",
		           "starting the ADC reader thread: %s", strerror(-r));
		return r;
	}
	r = sd_event_add_io(d->event, &d->adc_io, adc_worker_fd(d->adc_worker), EPOLLIN,
	                    on_adc_done, d);
	if (r < 0) {
		events_log(&d->ev, EV_LIFECYCLE, LOG_ERR, "error",
		           "watching the ADC reader thread: %s", strerror(-r));
		return r;
	}
	d->adc_first = true; /* the first tick waits for its cycle */
	return 0;
}

void daemon_adc_stop(struct daemon *d)
{
	d->adc_io = sd_event_source_disable_unref(d->adc_io);
	d->adc_worker = adc_worker_free(d->adc_worker);
	d->adc_open = false;
}

void daemon_adc_poll(struct daemon *d, uint64_t now)
{
	if (!d->adc_worker)
		return;
	if (d->adc_first) {
		/* The first evaluation needs the first reading, or it shows an
		 * ADC fault (E8) for a tick: the first tick waits for the first
		 * cycle (open and read), once, as the loop did when it read the
		 * ADC itself, but bounded. */
		d->adc_first = false;
		int r = adc_worker_request(d->adc_worker, now, now >= d->adc_retry_us);
		if (r >= 0 && adc_worker_wait(d->adc_worker, DAEMON_ADC_FIRST_WAIT_US) == 0)
			events_log(&d->ev, EV_DEVICE, LOG_WARNING, "adc",
			           "the first reading of \"%s\" takes longer than %llu ms; "
			           "starting without it",
			           d->cfg.adc.device,
			           (unsigned long long)(DAEMON_ADC_FIRST_WAIT_US / 1000));
		/* The next cycle from the next tick: this tick's time is older
		 * than the wait, and a request dated with it would age early. */
		take_cycle(d, now);
		return;
	}
	take_cycle(d, now); /* one that finished before its wake-up was seen */
	uint64_t since = adc_worker_busy_since(d->adc_worker);
	if (since) {
		/* A read that does not end: its readings count as missing once
		 * they are older than DAEMON_ADC_HEALTHY_US (feed_bank); said
		 * once, and again when the cycle ends. */
		if (!d->adc_slow_reported && now - since >= DAEMON_ADC_HEALTHY_US) {
			events_log(&d->ev, EV_DEVICE, LOG_ERR, "adc",
			           "reading \"%s\" has taken %llu ms and goes on; its readings "
			           "count as missing until it ends",
			           d->cfg.adc.device, (unsigned long long)((now - since) / 1000));
			d->adc_slow_reported = true;
		}
		return;
	}
	if (d->adc_slow_reported) {
		events_log(&d->ev, EV_DEVICE, LOG_NOTICE, "adc",
		           "reading \"%s\" ended after being slow", d->cfg.adc.device);
		d->adc_slow_reported = false;
	}
	int r = adc_worker_request(d->adc_worker, now, now >= d->adc_retry_us);
	if (r < 0 && r != -EBUSY)
		events_log(&d->ev, EV_DEVICE, LOG_ERR, "adc", "asking for a reading: %s",
		           strerror(-r));
}
