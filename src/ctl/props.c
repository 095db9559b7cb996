/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ctl/props.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

struct prop_desc {
	const char *name;
	const char *sig;
	size_t offset;
	/* NULL: a basic type read by sig[0] */
	int (*read)(sd_bus_message *m, void *field);
};

static int read_basic(sd_bus_message *m, char type, void *field)
{
	union {
		int b;
		uint8_t y;
		int16_t n;
		uint16_t q;
		int32_t i;
		uint32_t u;
		int64_t x;
		uint64_t t;
		const char *s;
	} v;
	int r = sd_bus_message_read_basic(m, type, &v);

	if (r < 0)
		return r;
	switch (type) {
	case 'b':
		*(bool *)field = v.b;
		break;
	case 'y':
		*(uint8_t *)field = v.y;
		break;
	case 'n':
		*(int16_t *)field = v.n;
		break;
	case 'q':
		*(uint16_t *)field = v.q;
		break;
	case 'i':
		*(int32_t *)field = v.i;
		break;
	case 'u':
		*(uint32_t *)field = v.u;
		break;
	case 'x':
		*(int64_t *)field = v.x;
		break;
	case 't':
		*(uint64_t *)field = v.t;
		break;
	case 's':
		*(const char **)field = v.s;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

static int read_dict(sd_bus_message *m, const struct prop_desc *table, size_t n, void *obj)
{
	int r = sd_bus_message_enter_container(m, 'a', "{sv}");

	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const struct prop_desc *d = NULL;
		const char *name, *contents;
		char type;

		r = sd_bus_message_read_basic(m, 's', &name);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n && !d; i++)
			if (strcmp(table[i].name, name) == 0)
				d = &table[i];
		r = sd_bus_message_peek_type(m, &type, &contents);
		if (r < 0)
			return r;
		if (!d || type != 'v' || strcmp(contents, d->sig) != 0) {
			r = sd_bus_message_skip(m, "v");
		} else {
			r = sd_bus_message_enter_container(m, 'v', d->sig);
			if (r < 0)
				return r;
			if (d->read)
				r = d->read(m, (char *)obj + d->offset);
			else
				r = read_basic(m, d->sig[0], (char *)obj + d->offset);
			if (r < 0)
				return r;
			r = sd_bus_message_exit_container(m);
		}
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

/* Appends one zeroed element to a growing array; NULL when out of memory. */
static void *grow(void **v, size_t *n, size_t size)
{
	void *p = reallocarray(*v, *n + 1, size);

	if (!p)
		return NULL;
	*v = p;
	memset((char *)p + *n * size, 0, size);
	return (char *)p + (*n)++ * size;
}

/* Room for one element of any array read_array() decodes. */
union array_elem {
	struct ctl_reason reason;
	struct ctl_code code;
	struct ctl_last_error last_error;
	struct ctl_bonded bonded;
};

/* Appends an array of elem_sig to the vector *v, *n: read_one() fills zeroed
 * room and returns 0 past the last element; only whole elements are appended,
 * and on an error those read so far stay in *v for the owner to free. */
static int read_array(sd_bus_message *m, const char *elem_sig, void **v, size_t *n,
                      size_t elem_size, int (*read_one)(sd_bus_message *m, void *elem))
{
	int r;

	if (elem_size > sizeof(union array_elem))
		return -EINVAL;
	r = sd_bus_message_enter_container(m, 'a', elem_sig);
	if (r < 0)
		return r;
	for (;;) {
		union array_elem x;
		void *slot;

		memset(&x, 0, sizeof(x));
		r = read_one(m, &x);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		slot = grow(v, n, elem_size);
		if (!slot)
			return -ENOMEM;
		memcpy(slot, &x, elem_size);
	}
	return sd_bus_message_exit_container(m);
}

static int read_reason(sd_bus_message *m, void *elem)
{
	struct ctl_reason *x = elem;
	int latched;
	int r = sd_bus_message_read(m, "(ssxisnnb)", &x->code, &x->rule, &x->since_wall_us,
	                            &x->value, &x->unit, &x->battery, &x->index, &latched);

	if (r > 0)
		x->latched = latched;
	return r;
}

static int read_output(sd_bus_message *m, void *field)
{
	struct ctl_output *o = field;
	int closed, r;

	r = sd_bus_message_enter_container(m, 'r', "btxa(ssxisnnb)");
	if (r < 0)
		return r;
	r = sd_bus_message_read(m, "btx", &closed, &o->since_wall_us, &o->seconds);
	if (r < 0)
		return r;
	o->closed = closed;
	r = read_array(m, "(ssxisnnb)", (void **)&o->reasons, &o->n_reasons, sizeof(*o->reasons),
	               read_reason);
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static int read_code(sd_bus_message *m, void *elem)
{
	struct ctl_code *x = elem;

	return sd_bus_message_read(m, "(yss)", &x->code, &x->name, &x->text);
}

static int read_codes(sd_bus_message *m, void *field)
{
	struct ctl_codes *c = field;

	return read_array(m, "(yss)", (void **)&c->v, &c->n, sizeof(*c->v), read_code);
}

static int read_last_error(sd_bus_message *m, void *elem)
{
	struct ctl_last_error *x = elem;

	return sd_bus_message_read(m, "(yst)", &x->code, &x->name, &x->wall_us);
}

static int read_last_errors(sd_bus_message *m, void *field)
{
	struct ctl_last_errors *e = field;

	return read_array(m, "(yst)", (void **)&e->v, &e->n, sizeof(*e->v), read_last_error);
}

static int read_u16s(sd_bus_message *m, void *field)
{
	struct ctl_u16s *a = field;
	const void *p;
	size_t size;
	int r = sd_bus_message_read_array(m, 'q', &p, &size);

	if (r < 0)
		return r;
	a->v = p;
	a->n = size / sizeof(uint16_t);
	return 0;
}

static int read_i16s(sd_bus_message *m, void *field)
{
	struct ctl_i16s *a = field;
	const void *p;
	size_t size;
	int r = sd_bus_message_read_array(m, 'n', &p, &size);

	if (r < 0)
		return r;
	a->v = p;
	a->n = size / sizeof(int16_t);
	return 0;
}

static void strv_free(struct ctl_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int read_strv(sd_bus_message *m, void *field)
{
	struct ctl_strv *s = field;
	char **v = NULL;
	int r = sd_bus_message_read_strv(m, &v);

	if (r < 0)
		return r;
	strv_free(s);
	s->v = v;
	while (v && v[s->n])
		s->n++;
	return 0;
}

#define B(name, sig, field)                                                                        \
	{                                                                                          \
		name, sig, offsetof(struct ctl_bms, field), NULL                                   \
	}
static const struct prop_desc bms_props[] = {
        B("SocKnown", "b", soc_known),
        B("SocCpct", "i", soc_cpct),
        B("MeasurementsValid", "b", measurements_valid),
        B("VoltageMv", "i", voltage_mv),
        B("CurrentMa", "i", current_ma),
        B("PowerMw", "x", power_mw),
        B("ConsumedMah", "x", consumed_mah),
        B("TimeRemainingKnown", "b", time_remaining_known),
        B("TimeRemainingS", "x", time_remaining_s),
        B("MinCellMv", "q", min_cell_mv),
        B("MaxCellMv", "q", max_cell_mv),
        B("MinTemperatureDc", "n", min_temp_dc),
        B("MaxTemperatureDc", "n", max_temp_dc),
        {"LoadDisconnect", "(btxa(ssxisnnb))", offsetof(struct ctl_bms, load), read_output},
        {"ChargeDisconnect", "(btxa(ssxisnnb))", offsetof(struct ctl_bms, charge), read_output},
        {"PreAlarm", "(btxa(ssxisnnb))", offsetof(struct ctl_bms, prealarm), read_output},
        {"Codes", "a(yss)", offsetof(struct ctl_bms, codes), read_codes},
        B("BlueLed", "s", blue_led),
        B("RedLed", "s", red_led),
        B("RemoteOn", "b", remote_on),
        B("RemoteWired", "b", remote_wired),
        B("ReadbackWired", "b", readback_wired),
        B("Balancer", "s", balancer),
        B("BankChanged", "b", bank_changed),
        B("TopologyValid", "b", topology_valid),
        B("TopologyError", "s", topology_error),
        B("Batteries", "u", batteries),
        B("Series", "u", series),
        B("Parallel", "u", parallel),
        B("BatteryType", "y", battery_type),
        B("CellsPerBattery", "u", cells_per_battery),
        B("CellsInSeries", "u", cells_in_series),
        B("CapacityAh", "u", capacity_ah),
        B("NominalVoltageMv", "u", nominal_voltage_mv),
        B("BusPortOpen", "b", bus_port_open),
        B("BusEnumerated", "b", bus_enumerated),
        B("BusChainOpen", "b", bus_chain_open),
        B("BusEnumerationFailed", "b", bus_enumeration_failed),
        B("BusCycles", "t", bus_cycles),
        B("BusLastCycleUs", "t", bus_last_cycle_us),
        B("BusError", "s", bus_error),
        B("Bluetooth", "s", bluetooth),
};
#undef B

#define T(name, sig, field)                                                                        \
	{                                                                                          \
		name, sig, offsetof(struct ctl_battery, field), NULL                               \
	}
static const struct prop_desc battery_props[] = {
        T("Address", "y", address),
        T("Serial", "s", serial),
        T("Type", "y", type),
        T("CapacityAh", "q", capacity_ah),
        T("FirmwareVersion", "s", firmware),
        T("MaxChargeA", "q", max_charge_a),
        T("MaxChargePulseA", "q", max_charge_pulse_a),
        T("MaxDischargeA", "q", max_discharge_a),
        T("MaxDischargePulseA", "q", max_discharge_pulse_a),
        T("HasStatus", "b", has_status),
        T("VoltageMv", "q", voltage_mv),
        T("CurrentMa", "i", current_ma),
        {"CellVoltagesMv", "aq", offsetof(struct ctl_battery, cells_mv), read_u16s},
        {"TemperaturesDc", "an", offsetof(struct ctl_battery, temps_dc), read_i16s},
        {"Flags", "as", offsetof(struct ctl_battery, flags), read_strv},
        T("Fresh", "b", fresh),
        T("Lost", "b", lost),
        T("LastStatusWallUs", "t", last_status_wall_us),
        T("Requests", "t", requests),
        T("Timeouts", "t", timeouts),
        T("CrcErrors", "t", crc_errors),
        T("Naks", "t", naks),
};
#undef T

#define H(name, sig, field)                                                                        \
	{                                                                                          \
		name, sig, offsetof(struct ctl_history, field), NULL                               \
	}
static const struct prop_desc history_props[] = {
        H("DeepestDischargeMah", "x", deepest_discharge_mah),
        H("TotalDrawnMah", "x", total_drawn_mah),
        H("DischargedWh", "x", discharged_wh),
        H("ChargedWh", "x", charged_wh),
        H("Synchronisations", "u", synchronisations),
        H("ChargeCycles", "u", charge_cycles),
        H("LastFullChargeWallUs", "t", last_full_charge_wall_us),
        H("MinBankMv", "i", min_bank_mv),
        H("MaxBankMv", "i", max_bank_mv),
        H("MinCellMv", "i", min_cell_mv),
        H("MaxCellMv", "i", max_cell_mv),
        H("MinTemperatureDc", "i", min_temp_dc),
        H("MaxTemperatureDc", "i", max_temp_dc),
        {"LastErrors", "a(yst)", offsetof(struct ctl_history, last_errors), read_last_errors},
};
#undef H

static int read_bonded(sd_bus_message *m, void *elem)
{
	struct ctl_bonded *x = elem;

	return sd_bus_message_read(m, "(ss)", &x->address, &x->name);
}

static int read_bondeds(sd_bus_message *m, void *field)
{
	struct ctl_bondeds *b = field;

	return read_array(m, "(ss)", (void **)&b->v, &b->n, sizeof(*b->v), read_bonded);
}

#define L(name, sig, field)                                                                        \
	{                                                                                          \
		name, sig, offsetof(struct ctl_bluetooth, field), NULL                             \
	}
static const struct prop_desc bluetooth_props[] = {
        L("State", "s", state),
        L("AdapterPresent", "b", adapter_present),
        L("Address", "s", address),
        L("Encrypted", "b", encrypted),
        L("PairingOpen", "b", pairing_open),
        L("PairingSecondsLeft", "u", pairing_seconds_left),
        {"BondedDevices", "a(ss)", offsetof(struct ctl_bluetooth, bonded), read_bondeds},
};
#undef L

int ctl_bms_read(sd_bus_message *m, struct ctl_bms *b)
{
	memset(b, 0, sizeof(*b));
	b->msg = sd_bus_message_ref(m);
	b->min_cell_mv = b->max_cell_mv = CTL_CELL_NA;
	b->min_temp_dc = b->max_temp_dc = CTL_TEMP_NA;
	b->blue_led = b->red_led = b->balancer = b->bluetooth = "unknown";
	b->topology_error = b->bus_error = "";
	return read_dict(m, bms_props, ELEMENTSOF(bms_props), b);
}

void ctl_bms_done(struct ctl_bms *b)
{
	free(b->load.reasons);
	free(b->charge.reasons);
	free(b->prealarm.reasons);
	free(b->codes.v);
	sd_bus_message_unref(b->msg);
	memset(b, 0, sizeof(*b));
}

int ctl_battery_read(sd_bus_message *m, struct ctl_battery *b)
{
	memset(b, 0, sizeof(*b));
	b->msg = sd_bus_message_ref(m);
	b->serial = b->firmware = "";
	return read_dict(m, battery_props, ELEMENTSOF(battery_props), b);
}

void ctl_battery_done(struct ctl_battery *b)
{
	strv_free(&b->flags);
	sd_bus_message_unref(b->msg);
	memset(b, 0, sizeof(*b));
}

int ctl_history_read(sd_bus_message *m, struct ctl_history *h)
{
	memset(h, 0, sizeof(*h));
	h->msg = sd_bus_message_ref(m);
	h->min_temp_dc = h->max_temp_dc = CTL_TEMP_NA;
	return read_dict(m, history_props, ELEMENTSOF(history_props), h);
}

void ctl_history_done(struct ctl_history *h)
{
	free(h->last_errors.v);
	sd_bus_message_unref(h->msg);
	memset(h, 0, sizeof(*h));
}

int ctl_bluetooth_read(sd_bus_message *m, struct ctl_bluetooth *bt)
{
	memset(bt, 0, sizeof(*bt));
	bt->msg = sd_bus_message_ref(m);
	bt->state = "unknown";
	bt->address = "";
	return read_dict(m, bluetooth_props, ELEMENTSOF(bluetooth_props), bt);
}

void ctl_bluetooth_done(struct ctl_bluetooth *bt)
{
	free(bt->bonded.v);
	sd_bus_message_unref(bt->msg);
	memset(bt, 0, sizeof(*bt));
}

void ctl_batteries_free(struct ctl_battery *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ctl_battery_done(&v[i]);
	free(v);
}

static int by_address(const void *a, const void *b)
{
	const struct ctl_battery *x = a, *y = b;

	return (int)x->address - (int)y->address;
}

/* One object of GetManagedObjects: its Battery1 interface, if any. */
static int read_object(sd_bus_message *m, struct ctl_battery **v, size_t *n)
{
	int r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");

	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
		const char *iface;

		r = sd_bus_message_read_basic(m, 's', &iface);
		if (r < 0)
			return r;
		if (strcmp(iface, CTL_BATTERY_IFACE) == 0) {
			struct ctl_battery *slot = grow((void **)v, n, sizeof(**v));

			if (!slot)
				return -ENOMEM;
			r = ctl_battery_read(m, slot);
		} else {
			r = sd_bus_message_skip(m, "a{sv}");
		}
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

int ctl_batteries_read(sd_bus_message *m, struct ctl_battery **ret, size_t *ret_n)
{
	struct ctl_battery *v = NULL;
	size_t n = 0;
	int r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");

	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
		const char *path;

		r = sd_bus_message_read_basic(m, 'o', &path);
		if (r >= 0)
			r = read_object(m, &v, &n);
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
		if (r < 0)
			break;
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	if (r < 0) {
		ctl_batteries_free(v, n);
		return r;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), by_address);
	*ret = v;
	*ret_n = n;
	return 0;
}
