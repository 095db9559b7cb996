/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The MQTT publisher (issue 19): the daemon's snapshot to an MQTT broker,
 * with Home Assistant discovery (mqtt_payload.h says what is sent).
 *
 * Driven by the daemon's sd-event loop only: the broker's socket is an io
 * source (EPOLLOUT only while libmosquitto wants to write), a 1 s timer
 * runs libmosquitto's keepalive and the reconnects. The one call that can
 * block, libmosquitto's connect (its getaddrinfo() is synchronous, and it
 * loads the TLS files), runs in a short-lived thread of its own; the loop
 * touches that connection only after the thread has handed it back. The TLS
 * handshake then runs non-blocking on the loop.
 *
 * A broker that is down, refuses us or goes away costs the loop nothing:
 * the publisher reconnects with back-off (1 s doubling to 60 s) and says so
 * once per outage through the log callback (a refusal by the broker,
 * wrong user or password, once more).
 */
#pragma once

#include <stdint.h>

#include <systemd/sd-event.h>

#include "mqtt/mqtt_config.h"
#include "service/snapshot.h"

struct mqtt;

/* prio is a syslog priority; msg one line. */
typedef void (*mqtt_log_fn)(void *userdata, int prio, const char *msg);

#define MQTT_BACKOFF_MIN_US     1000000ull
#define MQTT_BACKOFF_MAX_US     60000000ull
#define MQTT_CONNECT_TIMEOUT_US 15000000ull
#define MQTT_KEEPALIVE_S        30

/* Starts connecting at once (cfg->enabled must be true). */
int mqtt_new(struct mqtt **ret, sd_event *event, const struct mqtt_config *cfg, const char *version,
             mqtt_log_fn log, void *userdata);

/* After every evaluation: outputs, pre-alarm and codes are published at
 * once when they changed; readings at most every publish interval. s must
 * stay valid until the next call or mqtt_free() (the daemon's snapshot). */
void mqtt_update(struct mqtt *m, const struct svc_snapshot *s, uint64_t now_us);

/* Says "offline" (retained) and disconnects when connected. */
struct mqtt *mqtt_free(struct mqtt *m);

/* The node id in use (configured, or derived from the machine id). */
const char *mqtt_node_id(const struct mqtt *m);
