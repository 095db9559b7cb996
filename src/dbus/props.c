/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One getter for every table-described property, and the comparison that
 * decides what a PropertiesChanged names. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dbus/dbus_private.h"

const struct svc_battery *dbus_battery(const struct svc_snapshot *s, unsigned addr)
{
	unsigned n = s->n_batteries < SVC_MAX_BATTERIES ? s->n_batteries : SVC_MAX_BATTERIES;

	for (unsigned i = 0; i < n; i++)
		if (s->bat[i].addr == addr)
			return &s->bat[i];
	return NULL;
}

unsigned dbus_battery_addr(const char *path)
{
	const char *p = path + strlen(BATTERY_PREFIX "/");
	unsigned v = 0;

	if (strncmp(path, BATTERY_PREFIX "/", strlen(BATTERY_PREFIX "/")) != 0)
		return 0;
	/* decimal without sign, leading zero or trailing text */
	if (*p < '1' || *p > '9')
		return 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > SVC_MAX_BATTERIES)
			return 0;
		v = v * 10 + (unsigned)(*p - '0');
	}
	return v >= 1 && v <= SVC_MAX_BATTERIES ? v : 0;
}

uint64_t dbus_wall_us(const struct svc_snapshot *s, uint64_t mono_t)
{
	if (mono_t == 0)
		return 0;
	int64_t w = s->wall_us - (int64_t)(s->mono_us - mono_t);
	return w > 0 ? (uint64_t)w : 0;
}

static int append_basic(sd_bus_message *m, char type, const struct prop_value *v)
{
	switch (type) {
	case 'b': {
		int x = v->n != 0;
		return sd_bus_message_append_basic(m, type, &x);
	}
	case 'y': {
		uint8_t x = (uint8_t)v->n;
		return sd_bus_message_append_basic(m, type, &x);
	}
	case 'n': {
		int16_t x = (int16_t)v->n;
		return sd_bus_message_append_basic(m, type, &x);
	}
	case 'q': {
		uint16_t x = (uint16_t)v->n;
		return sd_bus_message_append_basic(m, type, &x);
	}
	case 'i': {
		int32_t x = (int32_t)v->n;
		return sd_bus_message_append_basic(m, type, &x);
	}
	case 'u': {
		uint32_t x = (uint32_t)v->n;
		return sd_bus_message_append_basic(m, type, &x);
	}
	case 'x': {
		int64_t x = v->n;
		return sd_bus_message_append_basic(m, type, &x);
	}
	case 't': {
		uint64_t x = (uint64_t)v->n;
		return sd_bus_message_append_basic(m, type, &x);
	}
	case 's':
		return sd_bus_message_append_basic(m, type, v->s ? v->s : "");
	default:
		return -EINVAL;
	}
}

static bool is_basic(const struct dbus_prop *p)
{
	return !(p->cls & PROP_CUSTOM) && p->sig[0] && !p->sig[1] && strchr("bynqiuxts", p->sig[0]);
}

static const void *source(struct bms_dbus *b, const struct dbus_iface *ifc, const char *path)
{
	if (ifc != &battery1_iface)
		return &b->cur;
	return dbus_battery(&b->cur, dbus_battery_addr(path));
}

int dbus_prop_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                  sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	const struct prop_ref *ref = userdata;
	const struct dbus_prop *p = &ref->ifc->props[ref->id];
	const void *src = source(ref->b, ref->ifc, path);
	struct prop_value v = {0};

	if (!src)
		return sd_bus_error_setf(ret_error, ERR_NO_SUCH_BATTERY, "%s: no such battery",
		                         path);
	if (!is_basic(p))
		return ref->ifc->append(reply, src, &ref->b->cur, ref->id);
	ref->ifc->value(src, &ref->b->cur, ref->id, &v);
	return append_basic(reply, p->sig[0], &v);
}

static bool same(const struct dbus_iface *ifc, unsigned id, const void *a, const void *b,
                 const struct svc_snapshot *sa, const struct svc_snapshot *sb)
{
	struct prop_value va = {0}, vb = {0};

	if (!is_basic(&ifc->props[id]))
		return ifc->equal(a, b, id);
	ifc->value(a, sa, id, &va);
	ifc->value(b, sb, id, &vb);
	if (ifc->props[id].sig[0] == 's')
		return strcmp(va.s ? va.s : "", vb.s ? vb.s : "") == 0;
	return va.n == vb.n;
}

void dbus_props_changed(const struct dbus_iface *ifc, const void *a, const void *b,
                        const struct svc_snapshot *sa, const struct svc_snapshot *sb,
                        enum prop_class cls, const char **names, size_t *n)
{
	for (unsigned id = 0; id < ifc->n_props; id++)
		if ((ifc->props[id].cls & ~PROP_CUSTOM) == cls && !same(ifc, id, a, b, sa, sb))
			names[(*n)++] = ifc->props[id].name;
}
