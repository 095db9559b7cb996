/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The connection: the objects of the four interfaces under an
 * ObjectManager at /org/smallbms, the name org.smallbms, and what an update
 * of the snapshot announces. Nothing here waits on the bus: the name is
 * requested asynchronously and signals are queued on the connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "dbus/dbus_private.h"

/* Below the BMS's own timers: the protection never waits on a client. */
#define BUS_PRIORITY (SD_EVENT_PRIORITY_NORMAL + 10)

static void blank_snapshot(struct svc_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->min_cell_mv = s->max_cell_mv = M8_CELL_NA;
	s->min_temp_dc = s->max_temp_dc = M8_TEMP_NA;
	s->topo_err = BANK_ERR_EMPTY;
	history_reset(&s->history);
	settings_default(&s->settings);
}

static int find_battery(sd_bus *bus, const char *path, const char *interface, void *userdata,
                        void **found, sd_bus_error *e)
{
	struct bms_dbus *b = userdata;

	if (!dbus_battery(&b->cur, dbus_battery_addr(path)))
		return 0;
	*found = b->ref_bat;
	return 1;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static int enumerate_batteries(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
                               sd_bus_error *e)
{
	struct bms_dbus *b = userdata;
	char **v = calloc(SVC_MAX_BATTERIES + 1, sizeof(char *));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (unsigned addr = 1; addr <= SVC_MAX_BATTERIES; addr++) {
		if (!dbus_battery(&b->cur, addr))
			continue;
		if (asprintf(&v[n], BATTERY_PREFIX "/%u", addr) < 0) {
			v[n] = NULL;
			strv_free(v);
			return -ENOMEM;
		}
		n++;
	}
	*nodes = v;
	return 0;
}

static int on_name(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = userdata;
	uint32_t ret = 0;

	if (sd_bus_message_is_method_error(m, NULL)) {
		int r = sd_bus_message_get_errno(m);
		b->error = r > 0 ? -r : -EACCES;
		return 0;
	}
	if (sd_bus_message_read(m, "u", &ret) < 0 || (ret != 1 && ret != 4))
		b->error = -EEXIST; /* owned by another process */
	else
		b->named = true;
	return 0;
}

static struct prop_ref *refs_new(struct bms_dbus *b, const struct dbus_iface *ifc)
{
	struct prop_ref *r = calloc(ifc->n_props, sizeof(*r));

	for (unsigned i = 0; r && i < ifc->n_props; i++)
		r[i] = (struct prop_ref){.b = b, .ifc = ifc, .id = i};
	return r;
}

int bms_dbus_new(struct bms_dbus **ret, sd_event *e, sd_bus *bus, const struct svc_actions *ops,
                 void *userdata)
{
	struct bms_dbus *b = calloc(1, sizeof(*b));
	size_t most = settings_count();
	int r;

	if (!b)
		return -ENOMEM;
	b->ops = ops;
	b->userdata = userdata;
	blank_snapshot(&b->cur);
	b->prev = b->cur;
	b->meas_bms = b->meas_history = b->cur;
	b->meas_bms_us = b->meas_history_us = UINT64_MAX;
	for (unsigned i = 0; i < SVC_MAX_BATTERIES; i++)
		b->meas_bat_us[i] = UINT64_MAX;
	if (bms1_iface.n_props > most)
		most = bms1_iface.n_props;
	if (history1_iface.n_props > most)
		most = history1_iface.n_props;
	if (battery1_iface.n_props > most)
		most = battery1_iface.n_props;
	if (firmware1_iface.n_props > most)
		most = firmware1_iface.n_props;
	b->names = calloc(most + 1, sizeof(char *));
	b->ref_bms = refs_new(b, &bms1_iface);
	b->ref_history = refs_new(b, &history1_iface);
	b->ref_bat = refs_new(b, &battery1_iface);
	b->ref_firmware = refs_new(b, &firmware1_iface);
	if (!b->names || !b->ref_bms || !b->ref_history || !b->ref_bat || !b->ref_firmware) {
		bms_dbus_free(b);
		return -ENOMEM;
	}
	if ((r = settings1_build(b)) < 0) {
		bms_dbus_free(b);
		return r;
	}

	if (bus)
		b->bus = sd_bus_ref(bus);
	else if ((r = sd_bus_open_system(&b->bus)) < 0) {
		b->bus = NULL;
		bms_dbus_free(b);
		return r;
	}
	b->own_bus = !bus;
	b->named = !!bus;
	if ((r = sd_bus_add_object_manager(b->bus, &b->slot_om, BMS_DBUS_PATH)) < 0 ||
	    (r = sd_bus_add_object_vtable(b->bus, &b->slot_bms, BMS_DBUS_PATH, BMS1_IFACE,
	                                  bms1_vtable, b->ref_bms)) < 0 ||
	    (r = sd_bus_add_object_vtable(b->bus, &b->slot_settings, SETTINGS_PATH, SETTINGS1_IFACE,
	                                  b->settings_vtable, b->ref_settings)) < 0 ||
	    (r = sd_bus_add_object_vtable(b->bus, &b->slot_history, HISTORY_PATH, HISTORY1_IFACE,
	                                  history1_vtable, b->ref_history)) < 0 ||
	    (r = sd_bus_add_object_vtable(b->bus, &b->slot_firmware, BMS_DBUS_PATH, FIRMWARE1_IFACE,
	                                  firmware1_vtable, b->ref_firmware)) < 0 ||
	    (r = sd_bus_add_fallback_vtable(b->bus, &b->slot_bat, BATTERY_PREFIX, BATTERY1_IFACE,
	                                    battery1_vtable, find_battery, b)) < 0 ||
	    (r = sd_bus_add_node_enumerator(b->bus, &b->slot_enum, BATTERY_PREFIX,
	                                    enumerate_batteries, b)) < 0 ||
	    (r = settings1_add_filter(b)) < 0) {
		bms_dbus_free(b);
		return r;
	}
	if (!sd_bus_get_event(b->bus)) {
		if ((r = sd_bus_attach_event(b->bus, e, BUS_PRIORITY)) < 0) {
			bms_dbus_free(b);
			return r;
		}
		b->attached = true;
	}
	if (!bus && (r = sd_bus_request_name_async(b->bus, &b->slot_name, BMS_DBUS_NAME, 0, on_name,
	                                           b)) < 0) {
		bms_dbus_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

static bool measure_due(uint64_t now, uint64_t last)
{
	return last == UINT64_MAX || now < last || now - last >= BMS_DBUS_MEASURE_EVERY_US;
}

static void emit(struct bms_dbus *b, const char *path, const char *iface, size_t n)
{
	if (n == 0)
		return;
	b->names[n] = NULL;
	int r = sd_bus_emit_properties_changed_strv(b->bus, path, iface, (char **)b->names);
	if (r < 0 && !b->error)
		b->error = r;
}

/* cur/prev/meas are the object's source (a snapshot or a battery) in the
 * current, previous and last-announced-measurement state. */
static void announce(struct bms_dbus *b, const char *path, const struct dbus_iface *ifc,
                     const void *cur, const void *prev, void *meas, size_t size, uint64_t *meas_us)
{
	uint64_t now = b->cur.mono_us;
	size_t n = 0;

	dbus_props_changed(ifc, cur, prev, &b->cur, &b->prev, PROP_NOW, b->names, &n);
	if (measure_due(now, *meas_us)) {
		size_t before = n;

		dbus_props_changed(ifc, cur, meas, &b->cur, &b->cur, PROP_MEASURE, b->names, &n);
		if (n > before) {
			memcpy(meas, cur, size);
			*meas_us = now;
		}
	}
	emit(b, path, ifc->name, n);
}

static void update_battery(struct bms_dbus *b, unsigned addr)
{
	const struct svc_battery *old = dbus_battery(&b->prev, addr);
	const struct svc_battery *now = dbus_battery(&b->cur, addr);
	bool same = old && now && strcmp(old->info.serial, now->info.serial) == 0;
	char path[64];
	int r = 0;

	snprintf(path, sizeof(path), BATTERY_PREFIX "/%u", addr);
	if (old && !same)
		r = sd_bus_emit_interfaces_removed(b->bus, path, BATTERY1_IFACE, NULL);
	if (r >= 0 && now && !same) {
		r = sd_bus_emit_interfaces_added(b->bus, path, BATTERY1_IFACE, NULL);
		b->meas_bat[addr - 1] = *now;
		b->meas_bat_us[addr - 1] = b->cur.mono_us;
	} else if (now) {
		announce(b, path, &battery1_iface, now, old, &b->meas_bat[addr - 1],
		         sizeof(b->meas_bat[0]), &b->meas_bat_us[addr - 1]);
	}
	if (r < 0 && !b->error)
		b->error = r;
}

void bms_dbus_update(struct bms_dbus *b, const struct svc_snapshot *snap)
{
	size_t n = 0;

	b->prev = b->cur;
	b->cur = *snap;
	if (b->cur.n_batteries > SVC_MAX_BATTERIES)
		b->cur.n_batteries = SVC_MAX_BATTERIES;

	for (unsigned addr = 1; addr <= SVC_MAX_BATTERIES; addr++)
		update_battery(b, addr);
	announce(b, BMS_DBUS_PATH, &bms1_iface, &b->cur, &b->prev, &b->meas_bms,
	         sizeof(b->meas_bms), &b->meas_bms_us);
	announce(b, HISTORY_PATH, &history1_iface, &b->cur, &b->prev, &b->meas_history,
	         sizeof(b->meas_history), &b->meas_history_us);
	settings1_changed(b, b->names, &n);
	emit(b, SETTINGS_PATH, SETTINGS1_IFACE, n);
	/* the job's progress: every change, at most once an evaluation */
	n = 0;
	dbus_props_changed(&firmware1_iface, &b->cur, &b->prev, &b->cur, &b->prev, PROP_NOW,
	                   b->names, &n);
	emit(b, BMS_DBUS_PATH, FIRMWARE1_IFACE, n);
}

bool bms_dbus_alive(const struct bms_dbus *b)
{
	return b && b->error == 0 && sd_bus_is_open(b->bus) > 0;
}

bool bms_dbus_named(const struct bms_dbus *b)
{
	return b && b->named;
}

sd_bus *bms_dbus_bus(const struct bms_dbus *b)
{
	return b ? b->bus : NULL;
}

int bms_dbus_error(const struct bms_dbus *b)
{
	if (!b)
		return -ENOTCONN;
	if (b->error)
		return b->error;
	return sd_bus_is_open(b->bus) > 0 ? 0 : -ENOTCONN;
}

struct bms_dbus *bms_dbus_free(struct bms_dbus *b)
{
	if (!b)
		return NULL;
	dbus_pending_free(b);
	polkit_registry_clear(&b->polkit);
	sd_bus_slot_unref(b->slot_set_filter);
	sd_bus_slot_unref(b->slot_name);
	sd_bus_slot_unref(b->slot_enum);
	sd_bus_slot_unref(b->slot_bat);
	sd_bus_slot_unref(b->slot_history);
	sd_bus_slot_unref(b->slot_firmware);
	sd_bus_slot_unref(b->slot_settings);
	sd_bus_slot_unref(b->slot_bms);
	sd_bus_slot_unref(b->slot_om);
	if (b->bus && b->attached)
		sd_bus_detach_event(b->bus);
	/* closing our own connection gives the name up at once */
	if (b->bus && b->own_bus)
		sd_bus_close_unref(b->bus);
	else if (b->bus)
		sd_bus_unref(b->bus);
	settings1_free(b);
	free(b->ref_bms);
	free(b->ref_history);
	free(b->ref_firmware);
	free(b->ref_bat);
	free(b->names);
	free(b);
	return NULL;
}
