/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * smallbmsd's loop (sd-event): the M8 master on the configured port, the
 * ADC read every 100 ms, the protection and monitor cores stepped after
 * every valid STATUS reply, every poll cycle, every ADC read and at
 * protection_next_deadline_us(),
 * the outputs and LEDs driven from the protection's decision, the heartbeat
 * toggled every 100 ms only while the loop is healthy, and the state record
 * kept. A device missing at start (bus port, ADC, GPIO chip) is logged and
 * retried; the outputs stay in their safe state meanwhile.
 */
#pragma once

#include "daemon/config.h"
#include "daemon/events.h"

#define DAEMON_TICK_US         100000ull /* heartbeat, LEDs, ADC */
#define DAEMON_ADC_HEALTHY_US  1000000ull
#define DAEMON_STATUS_EVERY_US 5000000ull
#define DAEMON_RETRY_US        5000000ull /* ADC and GPIO reopen */
#define DAEMON_READBACK_US     1000000ull /* output lines read back */

/* The first tick waits this long at most for the first ADC reading. */
#define DAEMON_ADC_FIRST_WAIT_US 1000000ull

struct daemon;

/* cfg->state_dir is the state directory to use. Returns 0, or -errno only
 * for what no retry can mend (no memory, no event loop, bad settings). */
int daemon_new(struct daemon **ret, const struct bms_config *cfg, const struct events *ev);
/* Runs until SIGTERM/SIGINT; returns 0 after a clean stop, or -errno. */
int daemon_run(struct daemon *d);
struct daemon *daemon_free(struct daemon *d);
