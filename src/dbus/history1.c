/* SPDX-License-Identifier: GPL-2.0-or-later */
/* org.smallbms.History1 at /org/smallbms/history (docs/monitor.md "History"). */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/codes.h"
#include "dbus/dbus_private.h"

#define HISTORY1_PROPS(X)                                                                          \
	X(DEEPEST, "DeepestDischargeMah", "x", PROP_MEASURE)                                       \
	X(DRAWN, "TotalDrawnMah", "x", PROP_MEASURE)                                               \
	X(DISCHARGED, "DischargedWh", "x", PROP_MEASURE)                                           \
	X(CHARGED, "ChargedWh", "x", PROP_MEASURE)                                                 \
	X(SYNCS, "Synchronisations", "u", PROP_NOW)                                                \
	X(CYCLES, "ChargeCycles", "u", PROP_NOW)                                                   \
	X(LAST_FULL, "LastFullChargeWallUs", "t", PROP_NOW)                                        \
	X(MIN_BANK, "MinBankMv", "i", PROP_MEASURE)                                                \
	X(MAX_BANK, "MaxBankMv", "i", PROP_MEASURE)                                                \
	X(MIN_CELL, "MinCellMv", "i", PROP_MEASURE)                                                \
	X(MAX_CELL, "MaxCellMv", "i", PROP_MEASURE)                                                \
	X(MIN_TEMP, "MinTemperatureDc", "i", PROP_MEASURE)                                         \
	X(MAX_TEMP, "MaxTemperatureDc", "i", PROP_MEASURE)                                         \
	X(LAST_ERRORS, "LastErrors", "a(yst)", PROP_NOW)

#define AS_ENUM(id, name, sig, cls) P_##id,
enum { HISTORY1_PROPS(AS_ENUM) P_COUNT };
#define AS_DESC(id, name, sig, cls) [P_##id] = {name, sig, cls},
static const struct dbus_prop props[] = {HISTORY1_PROPS(AS_DESC)};

static int64_t milli(double ah)
{
	return isfinite(ah) && ah > 0 ? llround(ah * 1000.0) : 0;
}

static int64_t whole(double wh)
{
	return isfinite(wh) && wh > 0 ? llround(wh) : 0;
}

/* An empty minimum or maximum: 0 for voltages, 32767 for temperatures. */
static int64_t extreme(int32_t v, int64_t none)
{
	return v == HISTORY_MIN_NONE || v == HISTORY_MAX_NONE ? none : v;
}

static uint64_t wall_s_to_us(int64_t s)
{
	return s == HISTORY_NEVER || s <= 0 ? 0 : (uint64_t)s * 1000000u;
}

static void value(const void *src, const struct svc_snapshot *unused, unsigned id,
                  struct prop_value *v)
{
	const struct history *h = &((const struct svc_snapshot *)src)->history;

	switch (id) {
	case P_DEEPEST:
		v->n = milli(h->deepest_ah);
		break;
	case P_DRAWN:
		v->n = milli(h->drawn_ah);
		break;
	case P_DISCHARGED:
		v->n = whole(h->discharged_wh);
		break;
	case P_CHARGED:
		v->n = whole(h->charged_wh);
		break;
	case P_SYNCS:
		v->n = h->syncs;
		break;
	case P_CYCLES:
		v->n = h->cycles;
		break;
	case P_LAST_FULL:
		v->n = (int64_t)wall_s_to_us(h->last_full_charge_s);
		break;
	case P_MIN_BANK:
		v->n = extreme(h->min_bank_mv, 0);
		break;
	case P_MAX_BANK:
		v->n = extreme(h->max_bank_mv, 0);
		break;
	case P_MIN_CELL:
		v->n = extreme(h->min_cell_mv, 0);
		break;
	case P_MAX_CELL:
		v->n = extreme(h->max_cell_mv, 0);
		break;
	case P_MIN_TEMP:
		v->n = extreme(h->min_temp_dc, 32767);
		break;
	case P_MAX_TEMP:
		v->n = extreme(h->max_temp_dc, 32767);
		break;
	default:
		break;
	}
}

static unsigned n_errors(const struct history *h)
{
	return h->n_errors < HISTORY_ERRORS ? h->n_errors : HISTORY_ERRORS;
}

static int append(sd_bus_message *m, const void *src, const struct svc_snapshot *unused,
                  unsigned id)
{
	const struct history *h = &((const struct svc_snapshot *)src)->history;
	int r = sd_bus_message_open_container(m, 'a', "(yst)");

	for (unsigned i = 0; r >= 0 && i < n_errors(h); i++) {
		const char *name = bms_code_name(h->errors[i].code);
		r = sd_bus_message_append(m, "(yst)", h->errors[i].code, name ? name : "",
		                          wall_s_to_us(h->errors[i].wall_s));
	}
	if (r < 0)
		return r;
	return sd_bus_message_close_container(m);
}

static bool equal(const void *pa, const void *pb, unsigned id)
{
	const struct history *a = &((const struct svc_snapshot *)pa)->history;
	const struct history *b = &((const struct svc_snapshot *)pb)->history;

	if (n_errors(a) != n_errors(b))
		return false;
	for (unsigned i = 0; i < n_errors(a); i++)
		if (a->errors[i].code != b->errors[i].code ||
		    a->errors[i].wall_s != b->errors[i].wall_s)
			return false;
	return true;
}

const struct dbus_iface history1_iface = {
        .name = HISTORY1_IFACE,
        .props = props,
        .n_props = P_COUNT,
        .value = value,
        .append = append,
        .equal = equal,
};

static int method_reset(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ((const struct prop_ref *)userdata)->b;
	int ra = polkit_check(&b->polkit, m, POLKIT_ACTION_CONTROL, e);
	if (ra <= 0)
		return ra < 0 ? ra : 1; /* refused, or answered once polkit has */
	char err[256] = "";
	int r = dbus_action_room(b, DBUS_CTX_VALUE, e);

	if (r < 0)
		return r;
	r = b->ops->reset_history(b->userdata, err, sizeof(err));
	return dbus_action_reply(b, m, r, DBUS_CTX_VALUE, err, e);
}

#define AS_VTABLE(id, name, sig, cls)                                                              \
	SD_BUS_PROPERTY(name, sig, dbus_prop_get, PROP_REF(P_##id), PROP_FLAGS),
const sd_bus_vtable history1_vtable[] = {
        SD_BUS_VTABLE_START(0),
        HISTORY1_PROPS(AS_VTABLE)
                SD_BUS_METHOD("Reset", NULL, NULL, method_reset, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
