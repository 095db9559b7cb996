/* SPDX-License-Identifier: GPL-2.0-or-later */
/* org.smallbms.Bms1 at /org/smallbms: the bank, the outputs and the codes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "core/codes.h"
#include "dbus/dbus_private.h"

/* X(id, name, signature, class) */
#define BMS1_PROPS(X)                                                                              \
	X(SOC_KNOWN, "SocKnown", "b", PROP_NOW)                                                    \
	X(SOC_CPCT, "SocCpct", "i", PROP_MEASURE)                                                  \
	X(MEAS_VALID, "MeasurementsValid", "b", PROP_NOW)                                          \
	X(VOLTAGE, "VoltageMv", "i", PROP_MEASURE)                                                 \
	X(CURRENT, "CurrentMa", "i", PROP_MEASURE)                                                 \
	X(POWER, "PowerMw", "x", PROP_MEASURE)                                                     \
	X(CONSUMED, "ConsumedMah", "x", PROP_MEASURE)                                              \
	X(TR_KNOWN, "TimeRemainingKnown", "b", PROP_NOW)                                           \
	X(TR_S, "TimeRemainingS", "x", PROP_MEASURE)                                               \
	X(MIN_CELL, "MinCellMv", "q", PROP_MEASURE)                                                \
	X(MAX_CELL, "MaxCellMv", "q", PROP_MEASURE)                                                \
	X(MIN_TEMP, "MinTemperatureDc", "n", PROP_MEASURE)                                         \
	X(MAX_TEMP, "MaxTemperatureDc", "n", PROP_MEASURE)                                         \
	X(LOAD, "LoadDisconnect", "(btxa(ssxisnnb))", PROP_NOW)                                    \
	X(CHARGE, "ChargeDisconnect", "(btxa(ssxisnnb))", PROP_NOW)                                \
	X(PREALARM, "PreAlarm", "(btxa(ssxisnnb))", PROP_NOW)                                      \
	X(CODES, "Codes", "a(yss)", PROP_NOW)                                                      \
	X(BLUE, "BlueLed", "s", PROP_NOW)                                                          \
	X(RED, "RedLed", "s", PROP_NOW)                                                            \
	X(REMOTE, "RemoteOn", "b", PROP_NOW)                                                       \
	X(REMOTE_WIRED, "RemoteWired", "b", PROP_NOW)                                              \
	X(READBACK_WIRED, "ReadbackWired", "b", PROP_NOW)                                          \
	X(BALANCER, "Balancer", "s", PROP_NOW)                                                     \
	X(BANK_CHANGED, "BankChanged", "b", PROP_NOW)                                              \
	X(TOPO_VALID, "TopologyValid", "b", PROP_NOW)                                              \
	X(TOPO_ERROR, "TopologyError", "s", PROP_NOW)                                              \
	X(BATTERIES, "Batteries", "u", PROP_NOW)                                                   \
	X(SERIES, "Series", "u", PROP_NOW)                                                         \
	X(PARALLEL, "Parallel", "u", PROP_NOW)                                                     \
	X(TYPE, "BatteryType", "y", PROP_NOW)                                                      \
	X(CELLS_PER, "CellsPerBattery", "u", PROP_NOW)                                             \
	X(CELLS_SERIES, "CellsInSeries", "u", PROP_NOW)                                            \
	X(CAPACITY, "CapacityAh", "u", PROP_NOW)                                                   \
	X(NOMINAL, "NominalVoltageMv", "u", PROP_NOW)                                              \
	X(PORT_OPEN, "BusPortOpen", "b", PROP_NOW)                                                 \
	X(ENUMERATED, "BusEnumerated", "b", PROP_NOW)                                              \
	X(CHAIN_OPEN, "BusChainOpen", "b", PROP_NOW)                                               \
	X(ENUM_FAILED, "BusEnumerationFailed", "b", PROP_NOW)                                      \
	X(CYCLES, "BusCycles", "t", PROP_MEASURE)                                                  \
	X(LAST_CYCLE, "BusLastCycleUs", "t", PROP_MEASURE)                                         \
	X(BUS_ERROR, "BusError", "s", PROP_NOW)                                                    \
	X(BLUETOOTH, "Bluetooth", "s", PROP_NOW)

#define AS_ENUM(id, name, sig, cls) P_##id,
enum { BMS1_PROPS(AS_ENUM) P_COUNT };
#define AS_DESC(id, name, sig, cls) [P_##id] = {name, sig, cls},
static const struct dbus_prop props[] = {BMS1_PROPS(AS_DESC)};

static const char *led_name(enum led_mode m)
{
	switch (m) {
	case LED_OFF:
		return "off";
	case LED_SOLID:
		return "solid";
	case LED_BLINK:
		return "blink";
	case LED_BLINK_FAST:
		return "blink-fast";
	}
	return "off";
}

static const char *bt_name(enum bt_state s)
{
	switch (s) {
	case BT_OFF:
		return "off";
	case BT_ADVERTISING:
		return "advertising";
	case BT_CONNECTED:
		return "connected";
	}
	return "off";
}

static bool topology_valid(const struct svc_snapshot *s)
{
	return s->have_topology && s->topo_err == BANK_OK;
}

static void value(const void *src, const struct svc_snapshot *unused, unsigned id,
                  struct prop_value *v)
{
	const struct svc_snapshot *s = src;
	const struct bank_topology *t = &s->topo;
	bool topo = topology_valid(s);

	switch (id) {
	case P_SOC_KNOWN:
		v->n = s->soc_known;
		break;
	case P_SOC_CPCT:
		v->n = s->soc_known ? s->soc_cpct : 0;
		break;
	case P_MEAS_VALID:
		v->n = s->measure_valid;
		break;
	case P_VOLTAGE:
		v->n = s->measure_valid ? s->bank_mv : 0;
		break;
	case P_CURRENT:
		v->n = s->measure_valid ? s->current_ma : 0;
		break;
	case P_POWER:
		v->n = s->measure_valid ? s->power_mw : 0;
		break;
	case P_CONSUMED:
		v->n = isfinite(s->consumed_ah) && s->consumed_ah > 0
		               ? llround(s->consumed_ah * 1000.0)
		               : 0;
		break;
	case P_TR_KNOWN:
		v->n = s->time_remaining_known;
		break;
	case P_TR_S:
		v->n = s->time_remaining_known ? s->time_remaining_s : 0;
		break;
	case P_MIN_CELL:
		v->n = s->min_cell_mv;
		break;
	case P_MAX_CELL:
		v->n = s->max_cell_mv;
		break;
	case P_MIN_TEMP:
		v->n = s->min_temp_dc;
		break;
	case P_MAX_TEMP:
		v->n = s->max_temp_dc;
		break;
	case P_BLUE:
		v->s = led_name(s->have_protection ? s->prot.blue : LED_OFF);
		break;
	case P_RED:
		v->s = led_name(s->have_protection ? s->prot.red : LED_OFF);
		break;
	case P_REMOTE:
		v->n = s->remote_on;
		break;
	case P_REMOTE_WIRED:
		v->n = s->remote_wired;
		break;
	case P_READBACK_WIRED:
		v->n = s->readback_wired;
		break;
	case P_BALANCER:
		v->s = balancer_status_name(s->balancer);
		break;
	case P_BANK_CHANGED:
		v->n = s->bank_changed;
		break;
	case P_TOPO_VALID:
		v->n = topo;
		break;
	case P_TOPO_ERROR:
		v->s = topo ? ""
		            : bank_error_str(s->topo_err != BANK_OK ? s->topo_err : BANK_ERR_EMPTY);
		break;
	case P_BATTERIES:
		/* Without a valid topology (E6), what is known: the batteries
		 * the bus enumerated, and S when a bank is remembered. */
		v->n = topo ? t->n : s->n_batteries;
		break;
	case P_SERIES:
		v->n = topo ? t->s : s->stored_s;
		break;
	case P_PARALLEL:
		v->n = topo ? t->p : 0;
		break;
	case P_TYPE:
		v->n = topo ? t->type : 0;
		break;
	case P_CELLS_PER:
		v->n = topo ? t->cells_per_battery : 0;
		break;
	case P_CELLS_SERIES:
		v->n = topo ? t->cells_in_series : 0;
		break;
	case P_CAPACITY:
		v->n = topo ? t->capacity_ah : 0;
		break;
	case P_NOMINAL:
		v->n = topo ? t->nominal_mv : 0;
		break;
	case P_PORT_OPEN:
		v->n = s->bus.port_open;
		break;
	case P_ENUMERATED:
		v->n = s->bus.enumerated;
		break;
	case P_CHAIN_OPEN:
		v->n = s->bus.chain_open;
		break;
	case P_ENUM_FAILED:
		v->n = s->bus.enum_failed;
		break;
	case P_CYCLES:
		v->n = (int64_t)s->bus.cycles;
		break;
	case P_LAST_CYCLE:
		v->n = (int64_t)s->bus.last_cycle_us;
		break;
	case P_BUS_ERROR:
		if (!s->bus.port_open && s->bus.open_error < 0)
			snprintf(v->buf, sizeof(v->buf), "%s", strerror(-s->bus.open_error));
		v->s = v->buf;
		break;
	case P_BLUETOOTH:
		v->s = bt_name(s->bt);
		break;
	default:
		v->s = "";
		break;
	}
}

static const struct protection_output_report *report_of(const struct svc_snapshot *s, unsigned id)
{
	return &s->prot.report[id == P_LOAD     ? PROT_OUT_ATD
	                       : id == P_CHARGE ? PROT_OUT_ATC
	                                        : PROT_OUT_PREALARM];
}

static bool output_closed(const struct svc_snapshot *s, unsigned id)
{
	if (!s->have_protection)
		return false;
	return id == P_LOAD     ? s->prot.atd_closed
	       : id == P_CHARGE ? s->prot.atc_closed
	                        : s->prot.prealarm_active;
}

static unsigned n_holds(const struct protection_output_report *r)
{
	return r->n_holds < PROT_RULE_COUNT ? r->n_holds : PROT_RULE_COUNT;
}

static int append_output(sd_bus_message *m, const struct svc_snapshot *s, unsigned id)
{
	const struct protection_output_report *rep = report_of(s, id);
	bool have = s->have_protection;
	uint64_t since = have ? rep->since_us : 0;
	int64_t in_state = have && since && s->mono_us >= since
	                           ? (int64_t)((s->mono_us - since) / 1000000u)
	                           : 0;
	int r;

	if ((r = sd_bus_message_open_container(m, 'r', "btxa(ssxisnnb)")) < 0 ||
	    (r = sd_bus_message_append(m, "btx", output_closed(s, id), dbus_wall_us(s, since),
	                               in_state)) < 0 ||
	    (r = sd_bus_message_open_container(m, 'a', "(ssxisnnb)")) < 0)
		return r;
	for (unsigned i = 0; have && i < n_holds(rep); i++) {
		const struct protection_hold *h = &rep->holds[i];
		const char *code = h->code >= 0 ? bms_code_name(h->code) : NULL;
		/* The core counts batteries and cells from 0; the API (like the
		 * journal) names the chain position and the cell from 1. */
		int16_t bat = h->reading.battery >= 0 ? (int16_t)(h->reading.battery + 1) : -1;
		int16_t idx = h->reading.index >= 0 ? (int16_t)(h->reading.index + 1) : -1;

		r = sd_bus_message_append(m, "(ssxisnnb)", code ? code : "", h->name ? h->name : "",
		                          (int64_t)dbus_wall_us(s, h->since_us), h->reading.value,
		                          h->reading.unit ? h->reading.unit : "", bat, idx,
		                          h->latched);
		if (r < 0)
			return r;
	}
	if ((r = sd_bus_message_close_container(m)) < 0)
		return r;
	return sd_bus_message_close_container(m);
}

static int append_codes(sd_bus_message *m, const struct svc_snapshot *s)
{
	uint32_t codes = s->have_protection ? s->prot.codes : 0;
	int r = sd_bus_message_open_container(m, 'a', "(yss)");

	for (unsigned c = 0; r >= 0 && c < BMS_CODE_COUNT; c++) {
		char text[256];

		if (!(codes & BMS_CODE_BIT(c)))
			continue;
		/* W3 names the chattering rules (docs/protection.md section 5). */
		if (protection_code_text(&s->prot, (enum bms_code)c, text, sizeof(text)) < 0)
			snprintf(text, sizeof(text), "%s", bms_code_summary(c));
		r = sd_bus_message_append(m, "(yss)", (uint8_t)c, bms_code_name(c), text);
	}
	if (r < 0)
		return r;
	return sd_bus_message_close_container(m);
}

static int append(sd_bus_message *m, const void *src, const struct svc_snapshot *unused,
                  unsigned id)
{
	const struct svc_snapshot *s = src;

	if (id == P_CODES)
		return append_codes(m, s);
	return append_output(m, s, id);
}

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The seconds in a state grow by themselves: only the state and its
 * reasons count as a change. */
static bool equal(const void *pa, const void *pb, unsigned id)
{
	const struct svc_snapshot *a = pa, *b = pb;

	if (id == P_CODES)
		return (a->have_protection ? a->prot.codes : 0) ==
		               (b->have_protection ? b->prot.codes : 0) &&
		       (a->have_protection ? a->prot.latched_rules : 0) ==
		               (b->have_protection ? b->prot.latched_rules : 0);
	const struct protection_output_report *ra = report_of(a, id), *rb = report_of(b, id);
	if (a->have_protection != b->have_protection ||
	    output_closed(a, id) != output_closed(b, id))
		return false;
	if (!a->have_protection)
		return true;
	if (ra->since_us != rb->since_us || n_holds(ra) != n_holds(rb))
		return false;
	for (unsigned i = 0; i < n_holds(ra); i++) {
		const struct protection_hold *x = &ra->holds[i], *y = &rb->holds[i];

		if (x->rule != y->rule || x->code != y->code || x->since_us != y->since_us ||
		    x->latched != y->latched || x->reading.value != y->reading.value ||
		    x->reading.battery != y->reading.battery ||
		    x->reading.index != y->reading.index || !str_eq(x->name, y->name) ||
		    !str_eq(x->reading.unit, y->reading.unit))
			return false;
	}
	return true;
}

const struct dbus_iface bms1_iface = {
        .name = BMS1_IFACE,
        .props = props,
        .n_props = P_COUNT,
        .value = value,
        .append = append,
        .equal = equal,
};

/* ---- methods ---- */

static const struct prop_ref *ref_of(void *userdata)
{
	return userdata;
}

static int method_set_soc(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ref_of(userdata)->b;
	int ra = polkit_check(&b->polkit, m, POLKIT_ACTION_CONTROL, e);
	if (ra <= 0)
		return ra < 0 ? ra : 1; /* refused, or answered once polkit has */
	char err[256] = "";
	double pct;
	int r = sd_bus_message_read(m, "d", &pct);

	if (r < 0)
		return r;
	if (!(pct >= 0.0 && pct <= 100.0)) {
		snprintf(err, sizeof(err), "percent=%g is %s", pct,
		         isnan(pct) ? "not a number"
		         : pct < 0  ? "below its bound 0"
		                    : "above its bound 100");
		return dbus_error_from_errno(e, -ERANGE, DBUS_CTX_VALUE, err);
	}
	if ((r = dbus_action_room(b, DBUS_CTX_VALUE, e)) < 0)
		return r;
	r = b->ops->set_soc(b->userdata, (int32_t)lround(pct * 100.0), err, sizeof(err));
	return dbus_action_reply(b, m, r, DBUS_CTX_VALUE, err, e);
}

typedef int (*plain_action)(void *userdata, char *err, size_t errlen);

static int plain(sd_bus_message *m, struct bms_dbus *b, plain_action f, enum dbus_err_ctx ctx,
                 sd_bus_error *e)
{
	char err[256] = "";
	int r = polkit_check(&b->polkit, m, POLKIT_ACTION_CONTROL, e);

	if (r <= 0)
		return r < 0 ? r : 1; /* refused, or answered once polkit has */
	if ((r = dbus_action_room(b, ctx, e)) < 0)
		return r;
	r = f(b->userdata, err, sizeof(err));
	return dbus_action_reply(b, m, r, ctx, err, e);
}

static int method_synchronise(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ref_of(userdata)->b;
	return plain(m, b, b->ops->synchronise, DBUS_CTX_VALUE, e);
}

static int method_accept_bank(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ref_of(userdata)->b;
	return plain(m, b, b->ops->accept_bank, DBUS_CTX_VALUE, e);
}

static int method_identify(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ref_of(userdata)->b;
	uint32_t addr;
	int r = sd_bus_message_read(m, "u", &addr);

	if (r < 0)
		return r;
	return dbus_identify(b, m, e, addr);
}

#define AS_VTABLE(id, name, sig, cls)                                                              \
	SD_BUS_PROPERTY(name, sig, dbus_prop_get, PROP_REF(P_##id), PROP_FLAGS),
const sd_bus_vtable bms1_vtable[] = {
        SD_BUS_VTABLE_START(0),
        BMS1_PROPS(AS_VTABLE)
                SD_BUS_METHOD_WITH_ARGS("SetSoc", SD_BUS_ARGS("d", percent), SD_BUS_NO_RESULT,
                                        method_set_soc, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Synchronise", NULL, NULL, method_synchronise, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("AcceptBank", NULL, NULL, method_accept_bank, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Identify", SD_BUS_ARGS("u", battery), SD_BUS_NO_RESULT,
                                method_identify, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
