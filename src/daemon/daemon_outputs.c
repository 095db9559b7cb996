/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The output lines: the configured backend, the systemd fd store that keeps
 * the request across a restart. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon/daemon_private.h"
#include "daemon/gpio_adopt.h"

static void dryrun_report(void *userdata, enum output_line line, bool active, const char *text)
{
	/* The heartbeat toggles ten times a second; its lines would drown the
	 * log. Every other line (outputs and LEDs) is reported. */
	if (line != OUTPUT_HEARTBEAT)
		fprintf(stderr, "%s\n", text);
}

/* A line that cannot be driven or verified (a failed write, a read-back
 * that disagrees with the decision or fails): the outputs cannot be
 * trusted. Let go of all of them, which opens both disconnects and stops
 * the heartbeat (docs/board.md), and start over in 5 s. */
static void outputs_failed(struct daemon *d, uint64_t now, const char *what)
{
	events_log(&d->ev, EV_DEVICE, LOG_ERR, "outputs",
	           "%s; every line released (safe state), requesting them anew in 5 s", what);
	daemon_release_outputs(d);
	d->out_retry_us = now + DAEMON_RETRY_US;
}

/* Right after the lines are taken: what they hold now is the starting
 * point (all inactive for a new request, the previous instance's levels
 * for an adopted one); the first evaluation drives them to the decision
 * before the first read-back, a second later. */
static int outputs_taken(struct daemon *d, uint64_t now)
{
	d->out_check_us = now + DAEMON_READBACK_US;
	return outputs_read_back(d->out, d->line_decided);
}

void daemon_outputs_open(struct daemon *d, uint64_t now)
{
	const struct outputs_ops *ops = d->cfg.outputs_backend == OUTPUTS_BACKEND_DRYRUN
	                                        ? &outputs_dryrun_ops
	                                        : &outputs_gpiod_ops;
	struct outputs_config oc = d->cfg.outputs;

	if (d->out || d->poweroff_done || d->stopping || now < d->out_retry_us)
		return;
	oc.report = dryrun_report;
	oc.report_userdata = d;
	if (d->adopt_fd >= 0) {
		int fd = d->adopt_fd;
		int r = d->cfg.outputs_backend == OUTPUTS_BACKEND_GPIOD
		                ? outputs_adopt_fd(fd, &oc, &d->out)
		                : -EOPNOTSUPP;

		d->adopt_fd = -1;
		if (r >= 0) {
			d->out_stored = true;
			d->adopted = true;
			events_log(&d->ev, EV_DEVICE, LOG_NOTICE, "outputs",
			           "resumed the GPIO line request kept across the restart");
			r = outputs_taken(d, now);
			if (r < 0) {
				outputs_failed(d, now, "cannot read the resumed lines");
				return;
			}
			/* The lines are at the levels this instance resumes with
			 * (the decision of record): one heartbeat edge now
			 * retriggers the board's 2 s monostable, so the rest of
			 * the start-up (ADC, bus, D-Bus) does not eat into the
			 * restart's budget (docs/protection.md section 11). */
			d->heartbeat = !d->line_decided[OUTPUT_HEARTBEAT];
			daemon_set_line(d, OUTPUT_HEARTBEAT, d->heartbeat, now);
			return;
		}
		/* Not ours to drive: let it go, so that the lines can be taken anew. */
		events_log(&d->ev, EV_DEVICE, LOG_WARNING, "outputs",
		           "stored GPIO line request not resumed (%s); requesting anew",
		           strerror(-r));
		sd_pid_notify(0, 0, "FDSTOREREMOVE=1\nFDNAME=" GPIO_ADOPT_FDNAME);
		close(fd);
		d->out = NULL;
	}
	char why[PATH_MAX + 300] = "";
	oc.why = why;
	oc.why_len = sizeof(why);
	int r = ops->open(&oc, &d->out);
	if (r < 0) {
		d->out = NULL;
		d->out_retry_us = now + DAEMON_RETRY_US;
		if (!d->out_reported)
			events_log(&d->ev, EV_DEVICE, LOG_ERR, "outputs",
			           "cannot open the %s backend (chip \"%s\"): %s; outputs stay "
			           "undriven (safe), retrying every 5 s",
			           ops->name, oc.chip[0] ? oc.chip : "search",
			           why[0] ? why : strerror(-r));
		d->out_reported = true;
		return;
	}
	if (d->out_reported)
		events_log(&d->ev, EV_DEVICE, LOG_NOTICE, "outputs", "%s backend open", ops->name);
	d->out_reported = false;
	if (d->cfg.outputs_backend == OUTPUTS_BACKEND_DRYRUN)
		/* Commissioning or a demo: say it where nobody can miss it. */
		events_log(&d->ev, EV_DEVICE, LOG_WARNING, "outputs",
		           "DRY RUN: no output line is driven; the loads and chargers are NOT "
		           "switched by this daemon (every change is printed as DRY-RUN:)");
	/* Keep the request alive across a restart (docs/protection.md section 11):
	 * systemd holds a copy, drops it on a stop and hands it back after a
	 * restart. The dry run has no fd. */
	int fd = d->out->ops->fd(d->out);
	if (fd >= 0)
		d->out_stored = sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=" GPIO_ADOPT_FDNAME,
		                                       &fd, 1) > 0;
	r = outputs_taken(d, now);
	if (r < 0)
		outputs_failed(d, now, "cannot read the lines just requested");
}

void daemon_set_line(struct daemon *d, enum output_line line, bool active, uint64_t now)
{
	char what[128];

	if ((unsigned)line >= OUTPUT_LINE_COUNT)
		return;
	d->line_decided[line] = active;
	if (!d->out)
		return;
	int r = outputs_set(d->out, line, active);
	if (r >= 0)
		return;
	snprintf(what, sizeof(what), "cannot drive %s %s: %s", output_line_name(line),
	         output_state_word(line, active), strerror(-r));
	outputs_failed(d, now, what);
}

void daemon_check_outputs(struct daemon *d, uint64_t now)
{
	bool active[OUTPUT_LINE_COUNT];
	char what[128];

	if (!d->out || now < d->out_check_us)
		return;
	d->out_check_us = now + DAEMON_READBACK_US;
	int r = outputs_read_back(d->out, active);
	if (r < 0) {
		snprintf(what, sizeof(what), "read-back of the output lines failed: %s",
		         strerror(-r));
		outputs_failed(d, now, what);
		return;
	}
	/* A line not where the daemon decided (a failed write, a short, a
	 * second consumer, a failing chip). */
	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++) {
		if (active[l] == d->line_decided[l])
			continue;
		snprintf(what, sizeof(what), "read-back: %s is %s, decided %s",
		         output_line_name((enum output_line)l),
		         output_state_word((enum output_line)l, active[l]),
		         output_state_word((enum output_line)l, d->line_decided[l]));
		outputs_failed(d, now, what);
		return;
	}
}

void daemon_release_outputs(struct daemon *d)
{
	if (d->out_stored) {
		sd_pid_notify(0, 0, "FDSTOREREMOVE=1\nFDNAME=" GPIO_ADOPT_FDNAME);
		d->out_stored = false;
	}
	/* Releasing the request leaves every line undriven: the safe state.
	 * Driving them inactive first makes the release visible in a dry run
	 * and leaves no window where a released line might float high. A write
	 * that fails here changes nothing: the release follows anyway. The
	 * decided levels stay: they are the protection's, not the lines'. */
	if (d->out)
		for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++) {
			int r = outputs_set(d->out, (enum output_line)l, false);
			if (r < 0)
				events_log(&d->ev, EV_DEVICE, LOG_ERR, "outputs",
				           "cannot drive %s inactive before the release: %s",
				           output_line_name((enum output_line)l), strerror(-r));
		}
	outputs_close(d->out);
	d->out = NULL;
}

/* The line request a previous instance stored, or -1; any other stored fd
 * is not ours and is dropped. */
int daemon_take_stored_fd(void)
{
	char **names = NULL;
	int fd = -1;
	int n = sd_listen_fds_with_names(1, &names);

	for (int i = 0; i < n; i++) {
		int f = SD_LISTEN_FDS_START + i;

		if (fd < 0 && names && names[i] && strcmp(names[i], GPIO_ADOPT_FDNAME) == 0)
			fd = f;
		else
			close(f);
	}
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	return fd;
}

void daemon_leave_outputs(struct daemon *d)
{
	if (d->out_stored) {
		/* Restart or stop is systemd's to know: it keeps the stored
		 * request for a restart (the loads stay on while the heartbeat
		 * pauses under 2 s) and closes it on a stop, which releases
		 * every line. Our copy goes without touching the values. */
		outputs_close(d->out);
		d->out = NULL;
		d->out_stored = false;
		return;
	}
	daemon_release_outputs(d);
}
