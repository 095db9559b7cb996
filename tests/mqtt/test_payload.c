/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The MQTT payloads (src/mqtt/mqtt_payload.c): exact JSON for known and
 * unknown values, battery ids, discovery messages, and short buffers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/codes.h"
#include "mqtt/mqtt_payload.h"

static struct svc_snapshot snap;

static void fill(struct svc_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->soc_known = true;
	s->soc_cpct = 8050;
	s->consumed_ah = 12.3456;
	s->time_remaining_known = true;
	s->time_remaining_s = 3600;
	s->measure_valid = true;
	s->bank_mv = 13312;
	s->current_ma = -500;
	s->power_mw = -6656;
	s->min_cell_mv = 3321;
	s->max_cell_mv = 3335;
	s->min_temp_dc = -15;
	s->max_temp_dc = 231;
	s->balancer = BALANCER_BALANCED;
}

static void bank_known(void **state)
{
	char buf[MQTT_PAYLOAD_MAX];

	fill(&snap);
	assert_true(mqtt_bank_payload(&snap, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"soc\":80.50,\"voltage\":13.312,\"current\":-0.500,"
	                         "\"power\":-6.656,\"consumed_ah\":12.346,\"time_remaining\":3600,"
	                         "\"min_cell_voltage\":3.321,\"max_cell_voltage\":3.335,"
	                         "\"min_temperature\":-1.5,\"max_temperature\":23.1,"
	                         "\"balancer\":\"balanced\"}");
}

static void bank_unknown(void **state)
{
	char buf[MQTT_PAYLOAD_MAX];

	fill(&snap);
	snap.soc_known = false;
	snap.measure_valid = false;
	snap.time_remaining_known = false;
	snap.min_cell_mv = snap.max_cell_mv = M8_CELL_NA;
	snap.min_temp_dc = snap.max_temp_dc = M8_TEMP_NA;
	snap.balancer = BALANCER_UNKNOWN;
	snap.consumed_ah = 0;
	assert_true(mqtt_bank_payload(&snap, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"soc\":null,\"voltage\":null,\"current\":null,\"power\":null,"
	                         "\"consumed_ah\":0.000,\"time_remaining\":null,"
	                         "\"min_cell_voltage\":null,\"max_cell_voltage\":null,"
	                         "\"min_temperature\":null,\"max_temperature\":null,"
	                         "\"balancer\":\"unknown\"}");
}

static void status_payload(void **state)
{
	char buf[MQTT_PAYLOAD_MAX], want[MQTT_PAYLOAD_MAX];

	fill(&snap);
	/* before the first evaluation: nothing closed, nothing known */
	assert_true(mqtt_status_payload(&snap, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"load\":\"OFF\",\"charge\":\"OFF\",\"prealarm\":\"OFF\","
	                         "\"codes\":\"none\",\"code_names\":{}}");
	snap.have_protection = true;
	snap.prot.atd_closed = true;
	snap.prot.atc_closed = false;
	snap.prot.prealarm_active = true;
	snap.prot.codes = BMS_CODE_BIT(BMS_W1) | BMS_CODE_BIT(BMS_A4);
	assert_true(mqtt_status_payload(&snap, buf, sizeof(buf)) > 0);
	snprintf(want, sizeof(want),
	         "{\"load\":\"ON\",\"charge\":\"OFF\",\"prealarm\":\"ON\",\"codes\":\"W1 A4\","
	         "\"code_names\":{\"W1\":\"%s\",\"A4\":\"%s\"}}",
	         bms_code_summary(BMS_W1), bms_code_summary(BMS_A4));
	assert_string_equal(buf, want);
}

static void battery_payload(void **state)
{
	struct svc_battery b = {.addr = 3, .has_status = true, .fresh = true};
	char buf[256];

	b.status.voltage_mv = 13301;
	b.status.n_temps = 3;
	b.status.temp_dc[0] = 215;
	b.status.temp_dc[1] = M8_TEMP_NA;
	b.status.temp_dc[2] = 242;
	assert_true(mqtt_battery_payload(&b, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"voltage\":13.301,\"temperature\":24.2}");
	b.fresh = false; /* stale data is no reading */
	assert_true(mqtt_battery_payload(&b, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"voltage\":null,\"temperature\":null}");
}

static void battery_ids(void **state)
{
	struct svc_battery b = {.addr = 7};
	char id[MQTT_BATTERY_ID_MAX];

	mqtt_battery_id(&b, id, sizeof(id));
	assert_string_equal(id, "addr7");
	snprintf(b.info.serial, sizeof(b.info.serial), "AB/C+#1 x");
	mqtt_battery_id(&b, id, sizeof(id));
	assert_string_equal(id, "AB_C__1_x");
}

static void discovery_bank(void **state)
{
	struct mqtt_names n;
	char topic[MQTT_TOPIC_MAX], payload[MQTT_PAYLOAD_MAX];
	bool seen_soc = false, seen_temp = false, seen_load = false;

	mqtt_names_init(&n, "smallbms", "homeassistant", "boat", "1.2.3");
	assert_int_equal(mqtt_bank_entity_count(), 15);
	for (unsigned i = 0; i < mqtt_bank_entity_count(); i++) {
		assert_true(mqtt_bank_discovery(&n, i, topic, sizeof(topic), payload,
		                                sizeof(payload)) > 0);
		assert_non_null(
		        strstr(payload, "\"availability_topic\":\"smallbms/boat/availability\""));
		assert_non_null(strstr(payload, "\"device\":{\"identifiers\":[\"smallbms_boat\"]"));
		assert_null(strstr(payload, "via_device"));
		if (strcmp(topic, "homeassistant/sensor/boat/soc/config") == 0) {
			seen_soc = true;
			assert_non_null(strstr(
			        payload, "\"device_class\":\"battery\",\"unit_of_measurement\":\"%"
			                 "\",\"state_class\":\"measurement\""));
			assert_non_null(strstr(payload, "\"state_topic\":\"smallbms/boat/bank\""));
		}
		if (strcmp(topic, "homeassistant/sensor/boat/max_temperature/config") == 0) {
			seen_temp = true;
			assert_non_null(strstr(payload, "\"unit_of_measurement\":\"\xc2\xb0"
			                                "C\""));
		}
		if (strcmp(topic, "homeassistant/binary_sensor/boat/load/config") == 0) {
			seen_load = true;
			assert_non_null(
			        strstr(payload, "\"state_topic\":\"smallbms/boat/status\""));
			assert_null(strstr(payload, "unit_of_measurement"));
		}
	}
	assert_true(seen_soc && seen_temp && seen_load);
	assert_int_equal(
	        mqtt_bank_discovery(&n, 15, topic, sizeof(topic), payload, sizeof(payload)),
	        -EINVAL);
	/* a buffer too small is refused, never cut */
	assert_int_equal(mqtt_bank_discovery(&n, 0, topic, sizeof(topic), payload, 100), -ENOBUFS);
	assert_int_equal(mqtt_bank_discovery(&n, 0, topic, 10, payload, sizeof(payload)), -ENOBUFS);
}

static void discovery_battery(void **state)
{
	struct mqtt_names n;
	struct svc_battery b = {.addr = 2, .info = {.type = 1, .fw_major = 1, .fw_patch = 4}};
	char topic[MQTT_TOPIC_MAX], payload[MQTT_PAYLOAD_MAX];

	snprintf(b.info.serial, sizeof(b.info.serial), "S\"1\\2");
	mqtt_names_init(&n, "site/smallbms", "ha", "boat", "1.2.3");
	assert_int_equal(mqtt_battery_entity_count(), 2);
	assert_true(mqtt_battery_discovery(&n, &b, 0, topic, sizeof(topic), payload,
	                                   sizeof(payload)) > 0);
	assert_string_equal(topic, "ha/sensor/boat/battery_S_1_2_voltage/config");
	assert_non_null(strstr(payload, "\"state_topic\":\"site/smallbms/boat/battery/S_1_2\""));
	assert_non_null(strstr(payload, "\"name\":\"Battery 2 (S\\\"1\\\\2)\""));
	assert_non_null(strstr(payload, "\"serial_number\":\"S\\\"1\\\\2\""));
	assert_non_null(strstr(payload, "\"via_device\":\"smallbms_boat\""));
	assert_non_null(strstr(payload, "\"identifiers\":[\"smallbms_boat_battery_S_1_2\"]"));
	assert_non_null(strstr(payload, "\"sw_version\":\"1.0.4\""));
	assert_int_equal(
	        mqtt_battery_discovery(&n, &b, 2, topic, sizeof(topic), payload, sizeof(payload)),
	        -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(bank_known),        cmocka_unit_test(bank_unknown),
	        cmocka_unit_test(status_payload),    cmocka_unit_test(battery_payload),
	        cmocka_unit_test(battery_ids),       cmocka_unit_test(discovery_bank),
	        cmocka_unit_test(discovery_battery),
	};
	return cmocka_run_group_tests_name("mqtt/payload", tests, NULL, NULL);
}
