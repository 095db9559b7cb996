/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The [mqtt] section of smallbmsd.conf (conf/smallbmsd.conf documents each
 * key): where the MQTT publisher connects and what it publishes. Pure
 * parsing, no I/O; the publisher itself is mqtt.h.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQTT_HOST_MAX    254
#define MQTT_USER_MAX    128
#define MQTT_PREFIX_MAX  128
#define MQTT_NODE_ID_MAX 64

#define MQTT_INTERVAL_MIN_S     1
#define MQTT_INTERVAL_MAX_S     3600
#define MQTT_INTERVAL_DEFAULT_S 10

struct mqtt_config {
	bool enabled; /* a uri is set; off by default */
	char uri[MQTT_HOST_MAX + 32];
	bool tls;                 /* mqtts:// */
	char host[MQTT_HOST_MAX]; /* name or address; an IPv6 literal without brackets */
	uint16_t port;
	char ca_file[PATH_MAX];   /* empty: the system's CA store */
	char cert_file[PATH_MAX]; /* client certificate, with key_file */
	char key_file[PATH_MAX];
	char user[MQTT_USER_MAX];               /* empty: no user name */
	char password_file[PATH_MAX];           /* empty: no password */
	char topic_prefix[MQTT_PREFIX_MAX];     /* state topics: PREFIX/NODE/... */
	char discovery_prefix[MQTT_PREFIX_MAX]; /* Home Assistant's, "homeassistant" */
	char node_id[MQTT_NODE_ID_MAX];         /* empty: derived from the machine id */
	unsigned interval_s;                    /* readings at most this often */
};

void mqtt_config_defaults(struct mqtt_config *c);

/* One key of [mqtt]: 1 when taken, 0 when the key is unknown, -EINVAL for a
 * bad value with why filled ("uri: ... is ..."). */
int mqtt_config_key(struct mqtt_config *c, const char *name, const char *value, char *why,
                    size_t why_size);

/* The checks across keys, after every file: 0, or -EINVAL with why. */
int mqtt_config_check(const struct mqtt_config *c, char *why, size_t why_size);

/* Splits "mqtt://host:port" or "mqtts://[v6]:port": 0 or -EINVAL. */
int mqtt_uri_parse(const char *uri, bool *tls, char *host, size_t host_size, uint16_t *port);

/* A topic level (or levels, with slashes) safe to publish under: no
 * wildcards, no empty level, printable ASCII. */
bool mqtt_topic_ok(const char *t, bool allow_slash);
