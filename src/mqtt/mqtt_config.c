/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mqtt/mqtt_config.h"

void mqtt_config_defaults(struct mqtt_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->topic_prefix, sizeof(c->topic_prefix), "smallbms");
	snprintf(c->discovery_prefix, sizeof(c->discovery_prefix), "homeassistant");
	c->interval_s = MQTT_INTERVAL_DEFAULT_S;
}

static bool host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_';
}

int mqtt_uri_parse(const char *uri, bool *tls, char *host, size_t host_size, uint16_t *port)
{
	const char *p, *end;
	unsigned long x = 0;
	bool v6 = false;

	if (strncmp(uri, "mqtt://", 7) == 0) {
		*tls = false;
		p = uri + 7;
	} else if (strncmp(uri, "mqtts://", 8) == 0) {
		*tls = true;
		p = uri + 8;
	} else
		return -EINVAL;
	if (*p == '[') { /* an IPv6 literal */
		v6 = true;
		p++;
		end = strchr(p, ']');
		if (!end)
			return -EINVAL;
		for (const char *q = p; q < end; q++)
			if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
			      (*q >= 'A' && *q <= 'F') || *q == ':' || *q == '.'))
				return -EINVAL;
	} else {
		end = p;
		while (*end && *end != ':' && *end != '/')
			if (!host_char(*end++))
				return -EINVAL;
	}
	size_t n = (size_t)(end - p);
	if (n == 0 || n >= host_size)
		return -EINVAL;
	memcpy(host, p, n);
	host[n] = '\0';
	p = end + (v6 ? 1 : 0);
	if (*p == '/' && p[1] == '\0')
		p++; /* "mqtt://host/" */
	if (*p == '\0') {
		*port = *tls ? 8883 : 1883;
		return 0;
	}
	if (*p++ != ':' || !*p)
		return -EINVAL;
	for (; *p && *p != '/'; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		x = x * 10 + (unsigned long)(*p - '0');
		if (x > 65535)
			return -EINVAL;
	}
	if ((*p == '/' && p[1] != '\0') || x == 0)
		return -EINVAL;
	*port = (uint16_t)x;
	return 0;
}

bool mqtt_topic_ok(const char *t, bool allow_slash)
{
	size_t n = strlen(t);

	if (n == 0 || t[0] == '/' || t[n - 1] == '/' || strstr(t, "//"))
		return false;
	for (const char *p = t; *p; p++) {
		if (*p == '/' && allow_slash)
			continue;
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	}
	return true;
}

static bool set_path(char *dst, size_t size, const char *v)
{
	size_t n = strlen(v);

	if (n == 0) { /* empty: not set */
		dst[0] = '\0';
		return true;
	}
	if (v[0] != '/' || n >= size)
		return false;
	memcpy(dst, v, n + 1);
	return true;
}

#define BAD(...) (snprintf(why, why_size, __VA_ARGS__), -EINVAL)

int mqtt_config_key(struct mqtt_config *c, const char *name, const char *value, char *why,
                    size_t why_size)
{
	if (strcmp(name, "uri") == 0) {
		if (!value[0]) { /* empty: off */
			c->enabled = false;
			c->uri[0] = c->host[0] = '\0';
			c->tls = false;
			c->port = 0;
			return 1;
		}
		if (strlen(value) >= sizeof(c->uri) ||
		    mqtt_uri_parse(value, &c->tls, c->host, sizeof(c->host), &c->port) < 0)
			return BAD("uri: \"%s\" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]",
			           value);
		snprintf(c->uri, sizeof(c->uri), "%s", value);
		c->enabled = true;
		return 1;
	}
	struct {
		const char *key;
		char *dst;
		size_t size;
	} paths[] = {
	        {.key = "ca-file", .dst = c->ca_file, .size = sizeof(c->ca_file)},
	        {.key = "cert-file", .dst = c->cert_file, .size = sizeof(c->cert_file)},
	        {.key = "key-file", .dst = c->key_file, .size = sizeof(c->key_file)},
	        {.key = "password-file", .dst = c->password_file, .size = sizeof(c->password_file)},
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strcmp(name, paths[i].key) == 0) {
			if (!set_path(paths[i].dst, paths[i].size, value))
				return BAD("%s: \"%.256s\" is not an absolute path", name,
				           value);
			return 1;
		}
	if (strcmp(name, "user") == 0) {
		size_t n = strlen(value);
		if (n >= sizeof(c->user))
			return BAD("user: longer than %zu characters", sizeof(c->user) - 1);
		for (const char *p = value; *p; p++)
			if (*p <= 0x20 || *p >= 0x7f)
				return BAD("user: \"%s\" is not printable ASCII without spaces",
				           value);
		memcpy(c->user, value, n + 1);
		return 1;
	}
	if (strcmp(name, "topic-prefix") == 0 || strcmp(name, "discovery-prefix") == 0) {
		char *dst = name[0] == 't' ? c->topic_prefix : c->discovery_prefix;
		if (strlen(value) >= MQTT_PREFIX_MAX || !mqtt_topic_ok(value, true))
			return BAD("%s: \"%s\" is no topic prefix (levels of letters, digits, "
			           "'-', '_', '.', split by '/')",
			           name, value);
		snprintf(dst, MQTT_PREFIX_MAX, "%s", value);
		return 1;
	}
	if (strcmp(name, "node-id") == 0) {
		if (value[0] &&
		    (strlen(value) >= sizeof(c->node_id) || !mqtt_topic_ok(value, false)))
			return BAD("node-id: \"%s\" is not 1..%zu letters, digits, '-', '_', '.'",
			           value, sizeof(c->node_id) - 1);
		snprintf(c->node_id, sizeof(c->node_id), "%s", value);
		return 1;
	}
	if (strcmp(name, "publish-interval-s") == 0) {
		unsigned long x = 0;
		const char *p = value;
		for (; *p >= '0' && *p <= '9' && x <= MQTT_INTERVAL_MAX_S; p++)
			x = x * 10 + (unsigned long)(*p - '0');
		if (!value[0] || *p || x < MQTT_INTERVAL_MIN_S || x > MQTT_INTERVAL_MAX_S)
			return BAD("publish-interval-s: \"%s\" is not %d..%d", value,
			           MQTT_INTERVAL_MIN_S, MQTT_INTERVAL_MAX_S);
		c->interval_s = (unsigned)x;
		return 1;
	}
	return 0;
}

int mqtt_config_check(const struct mqtt_config *c, char *why, size_t why_size)
{
	if (!c->cert_file[0] != !c->key_file[0])
		return BAD("cert-file and key-file go together: both or neither");
	if (!c->enabled)
		return 0;
	if (!c->tls && (c->ca_file[0] || c->cert_file[0]))
		return BAD("ca-file, cert-file and key-file need an mqtts:// uri");
	if (c->password_file[0] && !c->user[0])
		return BAD("password-file needs user");
	return 0;
}
