/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "core/balancer.h"
#include "core/codes.h"
#include "mqtt/mqtt_payload.h"

/* ---- a bounded string builder ---- */

struct sb {
	char *buf;
	size_t size, len;
	bool full;
};

static void sb_printf(struct sb *b, const char *fmt, ...) _printf_(2, 3);
static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;

	if (b->full)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(b->buf + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->size - b->len) {
		b->full = true;
		b->buf[b->len] = '\0';
		return;
	}
	b->len += (size_t)n;
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void sb_json_str(struct sb *b, const char *s)
{
	sb_printf(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			sb_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			sb_printf(b, "\\u%04x", *p);
		else
			sb_printf(b, "%c", *p);
	}
	sb_printf(b, "\"");
}

/* A fixed-point number v / 10^places, or null when unknown. Integer
 * arithmetic only: what HA shows is what the BMS measured. */
static void sb_fixed(struct sb *b, bool known, int64_t v, unsigned places)
{
	static const int64_t scale[] = {1, 10, 100, 1000};

	if (!known) {
		sb_printf(b, "null");
		return;
	}
	if (places == 0) {
		sb_printf(b, "%lld", (long long)v);
		return;
	}
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	sb_printf(b, "%s%llu.%0*llu", v < 0 ? "-" : "",
	          (unsigned long long)(mag / (uint64_t)scale[places]), (int)places,
	          (unsigned long long)(mag % (uint64_t)scale[places]));
}

static int sb_end(struct sb *b)
{
	return b->full ? -ENOBUFS : (int)b->len;
}

#define SB(name, b_, n_) struct sb name = {.buf = (b_), .size = (n_)}

/* ---- names ---- */

void mqtt_names_init(struct mqtt_names *n, const char *topic_prefix, const char *discovery_prefix,
                     const char *node, const char *version)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->node, sizeof(n->node), "%s", node);
	int r = snprintf(n->base, sizeof(n->base), "%s/%s", topic_prefix, n->node);
	if (r < 0)
		n->base[0] = '\0';
	snprintf(n->discovery, sizeof(n->discovery), "%s", discovery_prefix);
	snprintf(n->version, sizeof(n->version), "%s", version);
}

void mqtt_battery_id(const struct svc_battery *b, char *id, size_t size)
{
	size_t o = 0;

	if (!size)
		return;
	for (const char *p = b->info.serial; *p && o + 1 < size; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '-' || c == '_';
		id[o++] = ok ? c : '_';
	}
	id[o] = '\0';
	if (o == 0)
		snprintf(id, size, "addr%u", b->addr);
}

/* ---- state payloads ---- */

static bool cell_known(uint16_t mv)
{
	return mv != M8_CELL_NA;
}

static bool temp_known(int16_t dc)
{
	return dc != M8_TEMP_NA;
}

int mqtt_bank_payload(const struct svc_snapshot *s, char *buf, size_t size)
{
	SB(b, buf, size);
	const char *bal = balancer_status_name(s->balancer);

	sb_printf(&b, "{\"soc\":");
	sb_fixed(&b, s->soc_known, s->soc_cpct, 2);
	sb_printf(&b, ",\"voltage\":");
	sb_fixed(&b, s->measure_valid, s->bank_mv, 3);
	sb_printf(&b, ",\"current\":");
	sb_fixed(&b, s->measure_valid, s->current_ma, 3);
	sb_printf(&b, ",\"power\":");
	sb_fixed(&b, s->measure_valid, s->power_mw, 3);
	/* consumed Ah to the mAh, as D-Bus's ConsumedMah */
	int64_t consumed_mah =
	        (int64_t)(s->consumed_ah * 1000.0 + (s->consumed_ah >= 0 ? 0.5 : -0.5));
	sb_printf(&b, ",\"consumed_ah\":");
	sb_fixed(&b, true, consumed_mah, 3);
	sb_printf(&b, ",\"time_remaining\":");
	sb_fixed(&b, s->time_remaining_known, s->time_remaining_s, 0);
	sb_printf(&b, ",\"min_cell_voltage\":");
	sb_fixed(&b, cell_known(s->min_cell_mv), s->min_cell_mv, 3);
	sb_printf(&b, ",\"max_cell_voltage\":");
	sb_fixed(&b, cell_known(s->max_cell_mv), s->max_cell_mv, 3);
	sb_printf(&b, ",\"min_temperature\":");
	sb_fixed(&b, temp_known(s->min_temp_dc), s->min_temp_dc, 1);
	sb_printf(&b, ",\"max_temperature\":");
	sb_fixed(&b, temp_known(s->max_temp_dc), s->max_temp_dc, 1);
	sb_printf(&b, ",\"balancer\":");
	sb_json_str(&b, bal ? bal : "unknown");
	sb_printf(&b, "}");
	return sb_end(&b);
}

/* Before the first evaluation nothing is decided: the outputs are open
 * (the safe state the daemon holds them in), no code is known yet. */
int mqtt_status_payload(const struct svc_snapshot *s, char *buf, size_t size)
{
	SB(b, buf, size);
	bool known = s->have_protection;
	uint32_t codes = known ? s->prot.codes : 0;
	bool first = true;

	sb_printf(&b, "{\"load\":\"%s\",\"charge\":\"%s\",\"prealarm\":\"%s\",\"codes\":",
	          known && s->prot.atd_closed ? "ON" : "OFF",
	          known && s->prot.atc_closed ? "ON" : "OFF",
	          known && s->prot.prealarm_active ? "ON" : "OFF");
	sb_printf(&b, "\"");
	for (unsigned c = 0; c < BMS_CODE_COUNT; c++)
		if (codes & BMS_CODE_BIT(c)) {
			sb_printf(&b, "%s%s", first ? "" : " ", bms_code_name(c));
			first = false;
		}
	sb_printf(&b, "%s\",\"code_names\":{", first ? "none" : "");
	first = true;
	for (unsigned c = 0; c < BMS_CODE_COUNT; c++)
		if (codes & BMS_CODE_BIT(c)) {
			sb_printf(&b, "%s", first ? "" : ",");
			sb_json_str(&b, bms_code_name(c));
			sb_printf(&b, ":");
			sb_json_str(&b, bms_code_summary(c));
			first = false;
		}
	sb_printf(&b, "}}");
	return sb_end(&b);
}

/* The battery's temperature is its warmest sensor: the one the over-
 * temperature rules watch first (docs/decisions.md). */
int mqtt_battery_payload(const struct svc_battery *bat, char *buf, size_t size)
{
	SB(b, buf, size);
	bool have = bat->has_status && bat->fresh;
	bool have_temp = false;
	int16_t warmest = 0;

	if (have)
		for (unsigned i = 0; i < bat->status.n_temps && i < M8_MAX_TEMPS; i++)
			if (temp_known(bat->status.temp_dc[i]) &&
			    (!have_temp || bat->status.temp_dc[i] > warmest)) {
				warmest = bat->status.temp_dc[i];
				have_temp = true;
			}
	sb_printf(&b, "{\"voltage\":");
	sb_fixed(&b, have, have ? bat->status.voltage_mv : 0, 3);
	sb_printf(&b, ",\"temperature\":");
	sb_fixed(&b, have_temp, warmest, 1);
	sb_printf(&b, "}");
	return sb_end(&b);
}

/* ---- discovery ---- */

enum state_topic {
	TOPIC_BANK,
	TOPIC_STATUS,
	TOPIC_BATTERY,
};

struct entity {
	const char *component; /* "sensor", "binary_sensor" */
	const char *key;       /* object id and the state JSON's key */
	const char *name;
	enum state_topic topic;
	const char *device_class; /* NULL: none */
	const char *unit;         /* NULL: none */
	const char *state_class;  /* NULL: none */
	int precision;            /* suggested_display_precision, -1: none */
	bool balancer_options;    /* device_class enum: its options */
	bool code_attributes;     /* the names of the codes as attributes */
	const char *icon;
};

static const struct entity bank_entities[] = {
        {.component = "sensor",
         .key = "soc",
         .name = "State of charge",
         .topic = TOPIC_BANK,
         .device_class = "battery",
         .unit = "%",
         .state_class = "measurement",
         .precision = 1},
        {.component = "sensor",
         .key = "voltage",
         .name = "Voltage",
         .topic = TOPIC_BANK,
         .device_class = "voltage",
         .unit = "V",
         .state_class = "measurement",
         .precision = 2},
        {.component = "sensor",
         .key = "current",
         .name = "Current",
         .topic = TOPIC_BANK,
         .device_class = "current",
         .unit = "A",
         .state_class = "measurement",
         .precision = 2},
        {.component = "sensor",
         .key = "power",
         .name = "Power",
         .topic = TOPIC_BANK,
         .device_class = "power",
         .unit = "W",
         .state_class = "measurement",
         .precision = 1},
        /* HA has no device class for electric charge: unit only. */
        {.component = "sensor",
         .key = "consumed_ah",
         .name = "Consumed",
         .topic = TOPIC_BANK,
         .unit = "Ah",
         .state_class = "measurement",
         .precision = 2,
         .icon = "mdi:battery-minus"},
        {.component = "sensor",
         .key = "time_remaining",
         .name = "Time remaining",
         .topic = TOPIC_BANK,
         .device_class = "duration",
         .unit = "s",
         .state_class = "measurement",
         .precision = -1},
        {.component = "sensor",
         .key = "min_cell_voltage",
         .name = "Lowest cell voltage",
         .topic = TOPIC_BANK,
         .device_class = "voltage",
         .unit = "V",
         .state_class = "measurement",
         .precision = 3},
        {.component = "sensor",
         .key = "max_cell_voltage",
         .name = "Highest cell voltage",
         .topic = TOPIC_BANK,
         .device_class = "voltage",
         .unit = "V",
         .state_class = "measurement",
         .precision = 3},
        {.component = "sensor",
         .key = "min_temperature",
         .name = "Lowest temperature",
         .topic = TOPIC_BANK,
         .device_class = "temperature",
         .unit = "\xc2\xb0"
                 "C",
         .state_class = "measurement",
         .precision = 1},
        {.component = "sensor",
         .key = "max_temperature",
         .name = "Highest temperature",
         .topic = TOPIC_BANK,
         .device_class = "temperature",
         .unit = "\xc2\xb0"
                 "C",
         .state_class = "measurement",
         .precision = 1},
        {.component = "sensor",
         .key = "balancer",
         .name = "Balancer",
         .topic = TOPIC_BANK,
         .device_class = "enum",
         .precision = -1,
         .balancer_options = true},
        {.component = "sensor",
         .key = "codes",
         .name = "Active codes",
         .topic = TOPIC_STATUS,
         .precision = -1,
         .code_attributes = true,
         .icon = "mdi:alert-circle-outline"},
        /* ON: the output is closed, the loads (chargers) may run. */
        {.component = "binary_sensor",
         .key = "load",
         .name = "Load output",
         .topic = TOPIC_STATUS,
         .device_class = "power",
         .precision = -1},
        {.component = "binary_sensor",
         .key = "charge",
         .name = "Charge output",
         .topic = TOPIC_STATUS,
         .device_class = "power",
         .precision = -1},
        {.component = "binary_sensor",
         .key = "prealarm",
         .name = "Pre-alarm",
         .topic = TOPIC_STATUS,
         .device_class = "problem",
         .precision = -1},
};

static const struct entity battery_entities[] = {
        {.component = "sensor",
         .key = "voltage",
         .name = "Voltage",
         .topic = TOPIC_BATTERY,
         .device_class = "voltage",
         .unit = "V",
         .state_class = "measurement",
         .precision = 2},
        {.component = "sensor",
         .key = "temperature",
         .name = "Temperature",
         .topic = TOPIC_BATTERY,
         .device_class = "temperature",
         .unit = "\xc2\xb0"
                 "C",
         .state_class = "measurement",
         .precision = 1},
};

unsigned mqtt_bank_entity_count(void)
{
	return ELEMENTSOF(bank_entities);
}

unsigned mqtt_battery_entity_count(void)
{
	return ELEMENTSOF(battery_entities);
}

static int entity_discovery(const struct mqtt_names *n, const struct entity *e,
                            const struct svc_battery *bat, char *topic, size_t topic_size,
                            char *payload, size_t payload_size)
{
	char id[MQTT_BATTERY_ID_MAX] = "", object[96], state[MQTT_TOPIC_MAX];
	SB(t, topic, topic_size);
	SB(b, payload, payload_size);

	if (bat) {
		mqtt_battery_id(bat, id, sizeof(id));
		snprintf(object, sizeof(object), "battery_%s_%s", id, e->key);
		snprintf(state, sizeof(state), "%s/battery/%s", n->base, id);
	} else {
		snprintf(object, sizeof(object), "%s", e->key);
		snprintf(state, sizeof(state), "%s/%s", n->base,
		         e->topic == TOPIC_STATUS ? "status" : "bank");
	}
	sb_printf(&t, "%s/%s/%s/%s/config", n->discovery, e->component, n->node, object);

	sb_printf(&b, "{\"name\":");
	sb_json_str(&b, e->name);
	sb_printf(&b, ",\"unique_id\":\"smallbms_%s_%s\"", n->node, object);
	sb_printf(&b, ",\"state_topic\":");
	sb_json_str(&b, state);
	sb_printf(&b, ",\"value_template\":\"{{ value_json.%s }}\"", e->key);
	sb_printf(&b, ",\"availability_topic\":\"%s/availability\"", n->base);
	sb_printf(&b, ",\"payload_available\":\"online\",\"payload_not_available\":\"offline\"");
	if (e->device_class)
		sb_printf(&b, ",\"device_class\":\"%s\"", e->device_class);
	if (e->unit) {
		sb_printf(&b, ",\"unit_of_measurement\":");
		sb_json_str(&b, e->unit);
	}
	if (e->state_class)
		sb_printf(&b, ",\"state_class\":\"%s\"", e->state_class);
	if (e->precision >= 0)
		sb_printf(&b, ",\"suggested_display_precision\":%d", e->precision);
	if (e->icon)
		sb_printf(&b, ",\"icon\":\"%s\"", e->icon);
	if (e->balancer_options) {
		sb_printf(&b, ",\"options\":[");
		for (int s = BALANCER_UNKNOWN; s <= BALANCER_IMBALANCED; s++)
			sb_printf(&b, "%s\"%s\"", s == BALANCER_UNKNOWN ? "" : ",",
			          balancer_status_name((enum balancer_status)s));
		sb_printf(&b, "]");
	}
	if (e->code_attributes)
		sb_printf(&b,
		          ",\"json_attributes_topic\":\"%s/status\","
		          "\"json_attributes_template\":\"{{ value_json.code_names | tojson }}\"",
		          n->base);
	if (bat) {
		char name[96];
		snprintf(name, sizeof(name), "Battery %u (%s)", bat->addr,
		         bat->info.serial[0] ? bat->info.serial : "serial unknown");
		sb_printf(&b, ",\"device\":{\"identifiers\":[\"smallbms_%s_battery_%s\"],\"name\":",
		          n->node, id);
		sb_json_str(&b, name);
		sb_printf(&b, ",\"manufacturer\":\"smallbms\",\"model\":\"M8 battery type %u\"",
		          bat->info.type);
		if (bat->info.serial[0]) {
			sb_printf(&b, ",\"serial_number\":");
			sb_json_str(&b, bat->info.serial);
		}
		sb_printf(&b, ",\"sw_version\":\"%u.%u.%u\",\"via_device\":\"smallbms_%s\"}",
		          bat->info.fw_major, bat->info.fw_minor, bat->info.fw_patch, n->node);
	} else {
		sb_printf(&b,
		          ",\"device\":{\"identifiers\":[\"smallbms_%s\"],\"name\":\"smallbms %s\","
		          "\"manufacturer\":\"smallbms\",\"model\":\"smallbmsd\",\"sw_version\":",
		          n->node, n->node);
		sb_json_str(&b, n->version);
		sb_printf(&b, "}");
	}
	sb_printf(&b, "}");
	if (t.full)
		return -ENOBUFS;
	return sb_end(&b);
}

int mqtt_bank_discovery(const struct mqtt_names *n, unsigned i, char *topic, size_t topic_size,
                        char *payload, size_t payload_size)
{
	if (i >= ELEMENTSOF(bank_entities))
		return -EINVAL;
	return entity_discovery(n, &bank_entities[i], NULL, topic, topic_size, payload,
	                        payload_size);
}

int mqtt_battery_discovery(const struct mqtt_names *n, const struct svc_battery *b, unsigned i,
                           char *topic, size_t topic_size, char *payload, size_t payload_size)
{
	if (i >= ELEMENTSOF(battery_entities) || !b)
		return -EINVAL;
	return entity_discovery(n, &battery_entities[i], b, topic, topic_size, payload,
	                        payload_size);
}
