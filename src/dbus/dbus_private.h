/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the D-Bus files: one table per interface describes its
 * properties (name, signature, announced at once or rate-limited), a value
 * function reads one from a snapshot, and dbus.c uses the same table to
 * serve Get and to find what changed between two snapshots.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#include "dbus/bms_dbus.h"
#include "polkit/polkit.h"

#define BMS1_IFACE      "org.smallbms.Bms1"
#define SETTINGS1_IFACE "org.smallbms.Settings1"
#define HISTORY1_IFACE  "org.smallbms.History1"
#define BATTERY1_IFACE  "org.smallbms.Battery1"
#define FIRMWARE1_IFACE "org.smallbms.Firmware1"
#define SETTINGS_PATH   BMS_DBUS_PATH "/settings"
#define HISTORY_PATH    BMS_DBUS_PATH "/history"
#define BATTERY_PREFIX  BMS_DBUS_PATH "/battery"

#define ERR_INVALID_SETTING "org.smallbms.Error.InvalidSetting"
#define ERR_UNKNOWN_SETTING "org.smallbms.Error.UnknownSetting"
#define ERR_INVALID_VALUE   "org.smallbms.Error.InvalidValue"
#define ERR_NO_SUCH_BATTERY "org.smallbms.Error.NoSuchBattery"
#define ERR_BUSY            "org.smallbms.Error.Busy"
#define ERR_NOT_AVAILABLE   "org.smallbms.Error.NotAvailable"
#define ERR_SAVE_FAILED     "org.smallbms.Error.SaveFailed"
#define ERR_INVALID_IMAGE   "org.smallbms.Error.InvalidImage"
#define ERR_NOT_RUNNING     "org.smallbms.Error.NotRunning"

/* Measurements are rate-limited; the rest is announced at once. */
enum prop_class {
	PROP_NOW,
	PROP_MEASURE,
};
/* Or-ed into a class: a basic-typed property served by append/equal (a
 * time converted from monotonic, compared on the monotonic value). */
#define PROP_CUSTOM 0x10

struct dbus_prop {
	const char *name;
	const char *sig;
	unsigned cls; /* enum prop_class, maybe | PROP_CUSTOM */
};

/* A basic value: a number of any width, or a string (in buf or static). */
struct prop_value {
	int64_t n;
	const char *s;
	char buf[64];
};

/* src is what the object shows: the snapshot for the root objects, a
 * struct svc_battery for Battery1; snap is the snapshot it belongs to. */
struct dbus_iface {
	const char *name;
	const struct dbus_prop *props;
	size_t n_props;
	/* Basic-typed property id into v. */
	void (*value)(const void *src, const struct svc_snapshot *snap, unsigned id,
	              struct prop_value *v);
	/* Container-typed (or time-converted) property id. */
	int (*append)(sd_bus_message *m, const void *src, const struct svc_snapshot *snap,
	              unsigned id);
	bool (*equal)(const void *a, const void *b, unsigned id);
};

/* The userdata of every property: the offset of a vtable entry selects one. */
struct prop_ref {
	struct bms_dbus *b;
	const struct dbus_iface *ifc;
	unsigned id;
};
#define PROP_REF(id) ((size_t)(id) * sizeof(struct prop_ref))
#define PROP_FLAGS   SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

/* A call answered once its save is durable (pending.c). */
#define DBUS_PENDING_MAX 64
struct dbus_pending {
	sd_bus_message *call;
	uint64_t ticket;
	int ctx; /* enum dbus_err_ctx */
};

struct bms_dbus {
	sd_bus *bus;
	sd_bus_slot *slot_om, *slot_bms, *slot_settings, *slot_history, *slot_bat, *slot_enum,
	        *slot_name, *slot_firmware;
	const struct svc_actions *ops;
	void *userdata;
	int error; /* why the connection is unusable, or 0 */
	bool own_bus, attached, named;

	struct prop_ref *ref_bms, *ref_history, *ref_bat, *ref_settings, *ref_firmware;
	sd_bus_vtable *settings_vtable;
	char **settings_names; /* CamelCase, in registry order */

	struct svc_snapshot cur;  /* what Get answers */
	struct svc_snapshot prev; /* the previous update: announced-at-once values */
	/* What was last announced of rate-limited values, and when (mono us;
	 * UINT64_MAX: never, so the next change goes out at once). */
	struct svc_snapshot meas_bms, meas_history;
	uint64_t meas_bms_us, meas_history_us;
	struct svc_battery meas_bat[SVC_MAX_BATTERIES];
	uint64_t meas_bat_us[SVC_MAX_BATTERIES];
	const char **names; /* room for the longest PropertiesChanged */

	struct dbus_pending pending[DBUS_PENDING_MAX];
	size_t n_pending;
	sd_bus_slot *slot_set_filter;  /* Properties.Set on the settings (settings1.c) */
	struct polkit_registry polkit; /* write calls waiting for polkit's answer */
};

/* props.c: the generic getter and change detection. */
int dbus_prop_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                  sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);
/* Names of the properties of class cls whose value differs between a and
 * b, appended to names[*n] (names has room for ifc->n_props more). */
void dbus_props_changed(const struct dbus_iface *ifc, const void *a, const void *b,
                        const struct svc_snapshot *sa, const struct svc_snapshot *sb,
                        enum prop_class cls, const char **names, size_t *n);
/* The battery at chain position addr in s, or NULL. */
const struct svc_battery *dbus_battery(const struct svc_snapshot *s, unsigned addr);
/* Identify (Bms1 and Battery1): battery addr blinks, or NoSuchBattery. */
int dbus_identify(struct bms_dbus *b, sd_bus_message *m, sd_bus_error *e, uint32_t addr);
/* Parses /org/smallbms/battery/N: N, or 0 for any other path. */
unsigned dbus_battery_addr(const char *path);
/* Monotonic t of s as wall-clock us; 0 stays 0 (never). */
uint64_t dbus_wall_us(const struct svc_snapshot *s, uint64_t mono_t);

/* errors.c: an action's negative errno and message as a D-Bus error. */
enum dbus_err_ctx {
	DBUS_CTX_SETTING,  /* Set, SetMany, resets */
	DBUS_CTX_VALUE,    /* SetSoc and other plain arguments */
	DBUS_CTX_BATTERY,  /* Identify */
	DBUS_CTX_FIRMWARE, /* Firmware1.Start, Cancel */
};
int dbus_error_from_errno(sd_bus_error *e, int r, enum dbus_err_ctx ctx, const char *msg);

/* pending.c: answers an action's result r: an error, a reply now, or, for
 * SVC_PENDING, later from bms_dbus_saved. Call dbus_action_room first: it
 * refuses (busy) when DBUS_PENDING_MAX calls are waiting. */
int dbus_action_reply(struct bms_dbus *b, sd_bus_message *m, int r, enum dbus_err_ctx ctx,
                      const char *err, sd_bus_error *e);
int dbus_action_room(struct bms_dbus *b, enum dbus_err_ctx ctx, sd_bus_error *e);
void dbus_pending_free(struct bms_dbus *b);

/* the interfaces */
extern const struct dbus_iface bms1_iface;
extern const sd_bus_vtable bms1_vtable[];
extern const struct dbus_iface history1_iface;
extern const sd_bus_vtable history1_vtable[];
extern const struct dbus_iface battery1_iface;
extern const struct dbus_iface firmware1_iface;
extern const sd_bus_vtable firmware1_vtable[];
extern const sd_bus_vtable battery1_vtable[];
/* settings1.c builds its vtable from the registry. */
int settings1_build(struct bms_dbus *b);
void settings1_free(struct bms_dbus *b);
/* Takes Properties.Set of a setting before sd-bus does (durable replies). */
int settings1_add_filter(struct bms_dbus *b);
void settings1_changed(struct bms_dbus *b, const char **names, size_t *n);
