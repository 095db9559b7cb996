/* SPDX-License-Identifier: GPL-2.0-or-later */
/* org.smallbms.Battery1 at /org/smallbms/battery/N: one battery of the
 * chain, as the bus master last saw it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "dbus/dbus_private.h"

#define BATTERY1_PROPS(X)                                                                          \
	X(ADDRESS, "Address", "y", PROP_NOW)                                                       \
	X(SERIAL, "Serial", "s", PROP_NOW)                                                         \
	X(TYPE, "Type", "y", PROP_NOW)                                                             \
	X(CAPACITY, "CapacityAh", "q", PROP_NOW)                                                   \
	X(FIRMWARE, "FirmwareVersion", "s", PROP_NOW)                                              \
	X(MAX_CHARGE, "MaxChargeA", "q", PROP_NOW)                                                 \
	X(MAX_CHARGE_PULSE, "MaxChargePulseA", "q", PROP_NOW)                                      \
	X(MAX_DISCHARGE, "MaxDischargeA", "q", PROP_NOW)                                           \
	X(MAX_DISCHARGE_PULSE, "MaxDischargePulseA", "q", PROP_NOW)                                \
	X(HAS_STATUS, "HasStatus", "b", PROP_NOW)                                                  \
	X(VOLTAGE, "VoltageMv", "q", PROP_MEASURE)                                                 \
	X(CURRENT, "CurrentMa", "i", PROP_MEASURE)                                                 \
	X(CELLS, "CellVoltagesMv", "aq", PROP_MEASURE)                                             \
	X(TEMPS, "TemperaturesDc", "an", PROP_MEASURE)                                             \
	X(FLAGS, "Flags", "as", PROP_NOW)                                                          \
	X(FRESH, "Fresh", "b", PROP_NOW)                                                           \
	X(LOST, "Lost", "b", PROP_NOW)                                                             \
	X(LAST_STATUS, "LastStatusWallUs", "t", PROP_MEASURE | PROP_CUSTOM)                        \
	X(REQUESTS, "Requests", "t", PROP_MEASURE)                                                 \
	X(TIMEOUTS, "Timeouts", "t", PROP_MEASURE)                                                 \
	X(CRC_ERRORS, "CrcErrors", "t", PROP_MEASURE)                                              \
	X(NAKS, "Naks", "t", PROP_MEASURE)

#define AS_ENUM(id, name, sig, cls) P_##id,
enum { BATTERY1_PROPS(AS_ENUM) P_COUNT };
#define AS_DESC(id, name, sig, cls) [P_##id] = {name, sig, cls},
static const struct dbus_prop props[] = {BATTERY1_PROPS(AS_DESC)};

static const struct {
	uint8_t bit;
	const char *name;
} flag_names[] = {
        {M8_ST_BALANCING, "balancing"}, {M8_ST_FW_UPDATE, "fw-update"}, {M8_ST_FAULT, "fault"},
        {M8_ST_HARD_OV, "hard-ov"},     {M8_ST_HARD_UV, "hard-uv"},
};

static void value(const void *src, const struct svc_snapshot *unused, unsigned id,
                  struct prop_value *v)
{
	const struct svc_battery *bt = src;
	const struct m8_info *in = &bt->info;

	switch (id) {
	case P_ADDRESS:
		v->n = bt->addr;
		break;
	case P_SERIAL:
		snprintf(v->buf, sizeof(v->buf), "%.*s", M8_SERIAL_LEN, in->serial);
		v->s = v->buf;
		break;
	case P_TYPE:
		v->n = in->type;
		break;
	case P_CAPACITY:
		v->n = in->capacity_ah;
		break;
	case P_FIRMWARE:
		snprintf(v->buf, sizeof(v->buf), "%u.%u.%u", in->fw_major, in->fw_minor,
		         in->fw_patch);
		v->s = v->buf;
		break;
	case P_MAX_CHARGE:
		v->n = in->max_charge_a;
		break;
	case P_MAX_CHARGE_PULSE:
		v->n = in->max_charge_pulse_a;
		break;
	case P_MAX_DISCHARGE:
		v->n = in->max_discharge_a;
		break;
	case P_MAX_DISCHARGE_PULSE:
		v->n = in->max_discharge_pulse_a;
		break;
	case P_HAS_STATUS:
		v->n = bt->has_status;
		break;
	case P_VOLTAGE:
		v->n = bt->has_status ? bt->status.voltage_mv : 0;
		break;
	case P_CURRENT:
		v->n = bt->has_status ? bt->status.current_ma : 0;
		break;
	case P_FRESH:
		v->n = bt->fresh;
		break;
	case P_LOST:
		v->n = bt->lost;
		break;
	case P_REQUESTS:
		v->n = (int64_t)bt->stats.requests;
		break;
	case P_TIMEOUTS:
		v->n = (int64_t)bt->stats.timeouts;
		break;
	case P_CRC_ERRORS:
		v->n = (int64_t)bt->stats.crc_errors;
		break;
	case P_NAKS:
		v->n = (int64_t)bt->stats.naks;
		break;
	default:
		break;
	}
}

/* Before the first STATUS every cell and sensor of the INFO is "n/a". */
static unsigned n_cells(const struct svc_battery *bt)
{
	unsigned n = bt->has_status ? bt->status.n_cells : bt->info.cells;
	return n < M8_MAX_CELLS ? n : M8_MAX_CELLS;
}

static unsigned n_temps(const struct svc_battery *bt)
{
	unsigned n = bt->has_status ? bt->status.n_temps : bt->info.sensors;
	return n < M8_MAX_TEMPS ? n : M8_MAX_TEMPS;
}

static int append(sd_bus_message *m, const void *src, const struct svc_snapshot *snap, unsigned id)
{
	const struct svc_battery *bt = src;
	int r;

	switch (id) {
	case P_CELLS: {
		uint16_t mv[M8_MAX_CELLS];
		for (unsigned i = 0; i < n_cells(bt); i++)
			mv[i] = bt->has_status ? bt->status.cell_mv[i] : M8_CELL_NA;
		return sd_bus_message_append_array(m, 'q', mv, n_cells(bt) * sizeof(mv[0]));
	}
	case P_TEMPS: {
		int16_t dc[M8_MAX_TEMPS];
		for (unsigned i = 0; i < n_temps(bt); i++)
			dc[i] = bt->has_status ? bt->status.temp_dc[i] : M8_TEMP_NA;
		return sd_bus_message_append_array(m, 'n', dc, n_temps(bt) * sizeof(dc[0]));
	}
	case P_FLAGS:
		r = sd_bus_message_open_container(m, 'a', "s");
		for (unsigned i = 0; r >= 0 && i < ELEMENTSOF(flag_names); i++)
			if (bt->has_status && (bt->status.flags & flag_names[i].bit))
				r = sd_bus_message_append(m, "s", flag_names[i].name);
		if (r < 0)
			return r;
		return sd_bus_message_close_container(m);
	case P_LAST_STATUS:
		return sd_bus_message_append(
		        m, "t", bt->has_status ? dbus_wall_us(snap, bt->status_us) : (uint64_t)0);
	default:
		return -EINVAL;
	}
}

static bool equal(const void *pa, const void *pb, unsigned id)
{
	const struct svc_battery *a = pa, *b = pb;

	if (a->has_status != b->has_status)
		return false;
	switch (id) {
	case P_CELLS:
		if (n_cells(a) != n_cells(b))
			return false;
		return !a->has_status ||
		       memcmp(a->status.cell_mv, b->status.cell_mv, n_cells(a) * 2) == 0;
	case P_TEMPS:
		if (n_temps(a) != n_temps(b))
			return false;
		return !a->has_status ||
		       memcmp(a->status.temp_dc, b->status.temp_dc, n_temps(a) * 2) == 0;
	case P_FLAGS:
		return !a->has_status || a->status.flags == b->status.flags;
	case P_LAST_STATUS:
		return !a->has_status || a->status_us == b->status_us;
	default:
		return true;
	}
}

const struct dbus_iface battery1_iface = {
        .name = BATTERY1_IFACE,
        .props = props,
        .n_props = P_COUNT,
        .value = value,
        .append = append,
        .equal = equal,
};

int dbus_identify(struct bms_dbus *b, sd_bus_message *m, sd_bus_error *e, uint32_t addr)
{
	char err[256] = "";
	int r = polkit_check(&b->polkit, m, POLKIT_ACTION_CONTROL, e);

	if (r <= 0)
		return r < 0 ? r : 1; /* refused, or answered once polkit has */
	if (addr < 1 || addr > SVC_MAX_BATTERIES || !dbus_battery(&b->cur, addr)) {
		snprintf(err, sizeof(err), "battery %u is not in the bank (%u batteries)", addr,
		         b->cur.n_batteries);
		return dbus_error_from_errno(e, -ENOENT, DBUS_CTX_BATTERY, err);
	}
	r = b->ops->identify(b->userdata, addr, err, sizeof(err));
	if (r < 0)
		return dbus_error_from_errno(e, r, DBUS_CTX_BATTERY, err);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_identify(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ((const struct prop_ref *)userdata)->b;

	return dbus_identify(b, m, e, dbus_battery_addr(sd_bus_message_get_path(m)));
}

#define AS_VTABLE(id, name, sig, cls)                                                              \
	SD_BUS_PROPERTY(name, sig, dbus_prop_get, PROP_REF(P_##id), PROP_FLAGS),
const sd_bus_vtable battery1_vtable[] = {
        SD_BUS_VTABLE_START(0),
        BATTERY1_PROPS(AS_VTABLE)
                SD_BUS_METHOD("Identify", NULL, NULL, method_identify, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
