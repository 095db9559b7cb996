/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the MQTT publisher sends, built from the daemon's snapshot
 * (service/snapshot.h): the state messages (JSON) and Home Assistant's
 * discovery messages, one per entity. Pure: no I/O, no clock.
 *
 * Topics, under BASE = <topic-prefix>/<node-id>:
 *   BASE/availability         "online" / "offline" (retained; the will)
 *   BASE/bank                 the bank's readings (every publish interval)
 *   BASE/status               outputs, pre-alarm, codes (at once on change)
 *   BASE/battery/<id>         one battery's readings (every interval)
 *   <discovery-prefix>/<component>/<node-id>/<object>/config   (retained)
 * A battery's <id> is its serial (characters outside [A-Za-z0-9_-] as '_'),
 * or "addr<N>" while its serial is not known.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "mqtt/mqtt_config.h"
#include "service/snapshot.h"

#define MQTT_TOPIC_MAX      320
#define MQTT_PAYLOAD_MAX    2048
#define MQTT_BATTERY_ID_MAX (M8_SERIAL_LEN + 8)

struct mqtt_names {
	char node[MQTT_NODE_ID_MAX];
	char base[MQTT_PREFIX_MAX + MQTT_NODE_ID_MAX + 1];
	char discovery[MQTT_PREFIX_MAX];
	char version[32];
};

void mqtt_names_init(struct mqtt_names *n, const char *topic_prefix, const char *discovery_prefix,
                     const char *node, const char *version);

/* A battery's id in topics and unique ids. */
void mqtt_battery_id(const struct svc_battery *b, char *id, size_t size);

/* State payloads: the length written, or -ENOBUFS. */
int mqtt_bank_payload(const struct svc_snapshot *s, char *buf, size_t size);
int mqtt_status_payload(const struct svc_snapshot *s, char *buf, size_t size);
int mqtt_battery_payload(const struct svc_battery *b, char *buf, size_t size);

/* Discovery: the bank's entities (index 0..mqtt_bank_entity_count()-1),
 * then each battery's (mqtt_battery_entity_count() each). Topic and
 * payload; -ENOBUFS when a buffer is too small, -EINVAL for a bad index. */
unsigned mqtt_bank_entity_count(void);
unsigned mqtt_battery_entity_count(void);
int mqtt_bank_discovery(const struct mqtt_names *n, unsigned i, char *topic, size_t topic_size,
                        char *payload, size_t payload_size);
int mqtt_battery_discovery(const struct mqtt_names *n, const struct svc_battery *b, unsigned i,
                           char *topic, size_t topic_size, char *payload, size_t payload_size);
