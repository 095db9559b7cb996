/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The GATT application BlueZ serves: Battery Service 0x180F (Battery Level)
 * and the project service (docs/ble.md). Reads build records from the last
 * snapshot; writes go through svc_actions and are refused whole with an ATT
 * error (a BlueZ error name) when anything is wrong. A write that saves is
 * answered only once the save is durable, without holding up the loop when
 * the actions are asynchronous (ble_saved). The project service
 * needs a link encrypted with an authenticated LE Secure Connections key
 * (a bond made in the pairing window) for reads and writes alike; Battery
 * Level is open (docs/ble.md). BlueZ enforces the flags.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "ble/ble_internal.h"
#include "ble/records.h"
#include "ble/uuids.h"

#define SVC_BATTERY_PATH BLE_APP_PATH "/service0"
#define SVC_PROJECT_PATH BLE_APP_PATH "/service1"

#define ERR_FAILED        "org.bluez.Error.Failed"
#define ERR_NOT_PERMITTED "org.bluez.Error.NotPermitted"
#define ERR_BAD_LENGTH    "org.bluez.Error.InvalidValueLength"
#define ERR_BAD_OFFSET    "org.bluez.Error.InvalidOffset"

/* Battery Level is open, as on common BLE devices (issue 14). secure-*:
 * an encrypted link with an authenticated LE Secure Connections key, which
 * only a bond from the pairing window gives. */
static const char *const flags_level[] = {"read", "notify", NULL};
static const char *const flags_read_notify[] = {"secure-read", "notify", NULL};
static const char *const flags_read[] = {"secure-read", NULL};
static const char *const flags_write[] = {"secure-write", NULL};
static const char *const flags_read_write[] = {"secure-read", "secure-write", NULL};

static const struct chr_desc {
	const char *uuid;
	const char *service;
	const char *const *flags;
} chr_descs[BLE_CHR_COUNT] = {
        [BLE_CHR_LEVEL] = {BLE_UUID_BATTERY_LEVEL, SVC_BATTERY_PATH, flags_level},
        [BLE_CHR_STATUS] = {BLE_UUID_STATUS, SVC_PROJECT_PATH, flags_read_notify},
        [BLE_CHR_SELECT] = {BLE_UUID_BATTERY_SELECT, SVC_PROJECT_PATH, flags_read_write},
        [BLE_CHR_BATTERY] = {BLE_UUID_BATTERY_DATA, SVC_PROJECT_PATH, flags_read},
        [BLE_CHR_HISTORY] = {BLE_UUID_HISTORY, SVC_PROJECT_PATH, flags_read},
        [BLE_CHR_SETTINGS] = {BLE_UUID_SETTINGS, SVC_PROJECT_PATH, flags_read_write},
        [BLE_CHR_COMMAND] = {BLE_UUID_COMMAND, SVC_PROJECT_PATH, flags_write},
};

static bool chr_can_notify(enum ble_chr_id id)
{
	return id == BLE_CHR_LEVEL || id == BLE_CHR_STATUS;
}

/* --- values ------------------------------------------------------------- */

static ssize_t build_value(struct ble *b, enum ble_chr_id id, uint8_t *buf, size_t cap)
{
	const struct svc_snapshot *s = b->snap;

	switch (id) {
	case BLE_CHR_LEVEL: {
		int level = ble_battery_level(s);

		if (level < 0)
			return level;
		if (cap < 1)
			return -ENOBUFS;
		buf[0] = (uint8_t)level;
		return 1;
	}
	case BLE_CHR_STATUS:
		return ble_record_status(s, buf, cap);
	case BLE_CHR_SELECT:
		if (cap < 2)
			return -ENOBUFS;
		buf[0] = BLE_RECORD_VERSION;
		buf[1] = (uint8_t)b->selected_addr;
		return 2;
	case BLE_CHR_BATTERY:
		return ble_record_battery(s, b->selected_addr, buf, cap);
	case BLE_CHR_HISTORY:
		return ble_record_history(s, buf, cap);
	case BLE_CHR_SETTINGS:
		return ble_record_settings(s, buf, cap);
	default:
		return -EPERM;
	}
}

static void set_cached(struct ble_chr *c, const uint8_t *v, size_t len)
{
	memcpy(c->value, v, len);
	c->value_len = len;
}

/* --- options -------------------------------------------------------------- */

static int read_offset(sd_bus_message *m, uint16_t *offset)
{
	int r;

	*offset = 0;
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *key;

		r = sd_bus_message_read(m, "s", &key);
		if (r < 0)
			return r;
		if (strcmp(key, "offset") == 0)
			r = sd_bus_message_read(m, "v", "q", offset);
		else
			r = sd_bus_message_skip(m, "v");
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

/* --- methods ------------------------------------------------------------ */

static int reply_bytes(sd_bus_message *m, const uint8_t *p, size_t len)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_append_array(reply, 'y', p, len);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	return r;
}

static int method_read(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble_chr *c = userdata;
	struct ble *b = c->b;
	uint8_t buf[BLE_VALUE_MAX];
	uint16_t offset;
	ssize_t n;
	int r;

	r = read_offset(m, &offset);
	if (r < 0)
		return r;
	if (!b->have_snap)
		return sd_bus_error_set(error, ERR_FAILED, "no readings yet");
	n = build_value(b, c->id, buf, sizeof(buf));
	if (n == -EPERM)
		return sd_bus_error_set(error, ERR_NOT_PERMITTED, "write-only characteristic");
	if (n == -ENOENT) { /* the selected battery left the bank */
		struct ble_att_error e = ble_write_error(-ENOENT);

		return sd_bus_error_set(error, e.name, e.message);
	}
	if (n == -ENODATA)
		return sd_bus_error_set(error, ERR_FAILED, "state of charge not known yet");
	if (n < 0)
		return sd_bus_error_setf(error, ERR_FAILED, "record not built: %s", strerror(-n));
	if (offset > n)
		return sd_bus_error_set(error, ERR_BAD_OFFSET, "offset past the value");
	set_cached(c, buf, (size_t)n);
	return reply_bytes(m, buf + offset, (size_t)n - offset);
}

/* An svc_actions refusal as an ATT error: nothing was changed. */
static int write_error(struct ble *b, sd_bus_error *error, int r, const char *err)
{
	struct ble_att_error e = ble_write_error(r);

	ble_log(b, LOG_NOTICE, "Bluetooth write refused: %s", err[0] ? err : strerror(-r));
	/* BlueZ reads an application ATT error code from the message, when
	 * the codec gives one; otherwise the text says what was wrong. */
	return sd_bus_error_setf(error, e.name, "%s",
	                         e.message ? e.message
	                         : err[0]  ? err
	                                   : strerror(-r));
}

static int write_select(struct ble *b, const uint8_t *p, size_t len, sd_bus_error *error)
{
	uint8_t buf[BLE_VALUE_MAX];
	unsigned addr;
	ssize_t n;

	int r;

	r = ble_battery_select_parse(p, len, &addr);
	if (r < 0)
		return write_error(b, error, r, "battery select: version 1, address 1..50");
	n = ble_record_battery(b->snap, addr, buf, sizeof(buf));
	if (n == -ENOENT)
		return write_error(b, error, -ENOENT,
		                   "battery select: no such battery in the bank");
	if (n < 0)
		return sd_bus_error_setf(error, ERR_FAILED, "battery %u: %s", addr, strerror(-n));
	b->selected_addr = addr;
	return 0;
}

static int write_settings(struct ble *b, const uint8_t *p, size_t len, sd_bus_error *error)
{
	_cleanup_free_ struct setting_change *ch = NULL;
	size_t max = settings_count(), n = 0;
	char err[256] = "";
	int r;

	ch = calloc(max, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	r = ble_settings_write_parse(p, len, ch, max, &n, err, sizeof(err));
	if (r < 0)
		return write_error(b, error, r, err);
	r = b->ops->set_settings(b->userdata, ch, n, err, sizeof(err));
	if (r < 0)
		return write_error(b, error, r, err);
	ble_log(b, LOG_INFO, "%zu setting(s) changed over Bluetooth", n);
	return r; /* SVC_PENDING: in effect, its save under way */
}

static int write_command(struct ble *b, const uint8_t *p, size_t len, sd_bus_error *error)
{
	struct ble_command cmd;
	char err[256] = "";
	int r;

	r = ble_command_parse(p, len, &cmd, err, sizeof(err));
	if (r < 0)
		return write_error(b, error, r, err);
	switch (cmd.op) {
	case BLE_CMD_SYNC:
		r = b->ops->synchronise(b->userdata, err, sizeof(err));
		break;
	case BLE_CMD_SET_SOC:
		r = b->ops->set_soc(b->userdata, cmd.soc_cpct, err, sizeof(err));
		break;
	case BLE_CMD_RESET_DEFAULTS:
		r = b->ops->reset_defaults(b->userdata, err, sizeof(err));
		break;
	case BLE_CMD_RESET_HISTORY:
		r = b->ops->reset_history(b->userdata, err, sizeof(err));
		break;
	default:
		return sd_bus_error_set(error, ERR_FAILED, "unknown command");
	}
	if (r < 0)
		return write_error(b, error, r, err);
	ble_log(b, LOG_INFO, "command %d over Bluetooth", (int)cmd.op);
	return r; /* SVC_PENDING: in effect, its save under way */
}

static int method_write(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble_chr *c = userdata;
	struct ble *b = c->b;
	const void *p;
	size_t len;
	uint16_t offset;
	int r;

	r = sd_bus_message_read_array(m, 'y', &p, &len);
	if (r < 0)
		return r;
	r = read_offset(m, &offset);
	if (r < 0)
		return r;
	if (offset != 0)
		return sd_bus_error_set(error, ERR_BAD_OFFSET, "writes are whole");
	if (len > BLE_VALUE_MAX)
		return sd_bus_error_set(error, ERR_BAD_LENGTH, "value too long");
	if (!b->have_snap)
		return sd_bus_error_set(error, ERR_FAILED, "not ready");
	if ((c->id == BLE_CHR_SETTINGS || c->id == BLE_CHR_COMMAND) &&
	    b->n_pending >= BLE_PENDING_MAX) {
		char why[96];

		snprintf(why, sizeof(why), "%d changes are waiting to be saved; try again",
		         BLE_PENDING_MAX);
		return write_error(b, error, -EBUSY, why);
	}
	switch (c->id) {
	case BLE_CHR_SELECT:
		r = write_select(b, p, len, error);
		break;
	case BLE_CHR_SETTINGS:
		r = write_settings(b, p, len, error);
		break;
	case BLE_CHR_COMMAND:
		r = write_command(b, p, len, error);
		break;
	default:
		return sd_bus_error_set(error, ERR_NOT_PERMITTED, "read-only characteristic");
	}
	if (r < 0)
		return r;
	if (sd_bus_error_is_set(error))
		return -sd_bus_error_get_errno(error);
	if (r == SVC_PENDING && b->ops->async && b->ops->ticket) {
		struct ble_pending *w = &b->pending[b->n_pending++];

		w->call = sd_bus_message_ref(m);
		w->ticket = b->ops->ticket(b->userdata);
		return 1; /* answered by ble_saved */
	}
	return sd_bus_reply_method_return(m, NULL);
}

void ble_saved(struct ble *b, uint64_t done, int result, const char *why)
{
	size_t k = 0;

	if (!b)
		return;
	for (size_t i = 0; i < b->n_pending; i++) {
		struct ble_pending *p = &b->pending[i];
		int r;

		if (p->ticket > done) {
			b->pending[k++] = *p;
			continue;
		}
		if (result >= 0) {
			r = sd_bus_reply_method_return(p->call, NULL);
		} else {
			_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
			struct ble_att_error att = ble_write_error(-EIO);

			ble_log(b, LOG_WARNING,
			        "Bluetooth write in effect but not saved (%s); saving is retried "
			        "every minute",
			        why && why[0] ? why : strerror(-result));
			(void)sd_bus_error_set(&e, att.name, att.message);
			r = sd_bus_reply_method_error(p->call, &e);
		}
		if (r < 0)
			ble_log(b, LOG_WARNING, "answer to a Bluetooth write lost: %s",
			        strerror(-r));
		sd_bus_message_unref(p->call);
	}
	b->n_pending = k;
}

void ble_gatt_pending_free(struct ble *b)
{
	for (size_t i = 0; i < b->n_pending; i++)
		sd_bus_message_unref(b->pending[i].call);
	b->n_pending = 0;
}

static int emit_value(struct ble_chr *c)
{
	return sd_bus_emit_properties_changed(c->b->bus, c->path, BLUEZ_GATT_CHR, "Value", NULL);
}

static int method_start_notify(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble_chr *c = userdata;
	uint8_t buf[BLE_VALUE_MAX];
	ssize_t n;

	if (!chr_can_notify(c->id))
		return sd_bus_error_set(error, ERR_NOT_PERMITTED, "no notifications here");
	if (!c->notifying) {
		c->notifying = true;
		/* the baseline: later changes of it are notified */
		n = c->b->have_snap ? build_value(c->b, c->id, buf, sizeof(buf)) : -ENODATA;
		if (n >= 0)
			set_cached(c, buf, (size_t)n);
		(void)sd_bus_emit_properties_changed(c->b->bus, c->path, BLUEZ_GATT_CHR,
		                                     "Notifying", NULL);
	}
	return sd_bus_reply_method_return(m, NULL);
}

static int method_stop_notify(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct ble_chr *c = userdata;

	if (c->notifying) {
		c->notifying = false;
		(void)sd_bus_emit_properties_changed(c->b->bus, c->path, BLUEZ_GATT_CHR,
		                                     "Notifying", NULL);
	}
	return sd_bus_reply_method_return(m, NULL);
}

/* --- properties ----------------------------------------------------------- */

static int prop_chr_uuid(sd_bus *bus, const char *path, const char *interface, const char *property,
                         sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	const struct ble_chr *c = userdata;

	return sd_bus_message_append(reply, "s", chr_descs[c->id].uuid);
}

static int prop_chr_service(sd_bus *bus, const char *path, const char *interface,
                            const char *property, sd_bus_message *reply, void *userdata,
                            sd_bus_error *error)
{
	const struct ble_chr *c = userdata;

	return sd_bus_message_append(reply, "o", chr_descs[c->id].service);
}

static int prop_chr_flags(sd_bus *bus, const char *path, const char *interface,
                          const char *property, sd_bus_message *reply, void *userdata,
                          sd_bus_error *error)
{
	const struct ble_chr *c = userdata;

	return sd_bus_message_append_strv(reply, (char **)chr_descs[c->id].flags);
}

static int prop_chr_value(sd_bus *bus, const char *path, const char *interface,
                          const char *property, sd_bus_message *reply, void *userdata,
                          sd_bus_error *error)
{
	const struct ble_chr *c = userdata;

	return sd_bus_message_append_array(reply, 'y', c->value, c->value_len);
}

static int prop_chr_notifying(sd_bus *bus, const char *path, const char *interface,
                              const char *property, sd_bus_message *reply, void *userdata,
                              sd_bus_error *error)
{
	const struct ble_chr *c = userdata;

	return sd_bus_message_append(reply, "b", c->notifying);
}

static int prop_svc_uuid(sd_bus *bus, const char *path, const char *interface, const char *property,
                         sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	return sd_bus_message_append(reply, "s",
	                             strcmp(path, SVC_BATTERY_PATH) == 0 ? BLE_UUID_BATTERY_SERVICE
	                                                                 : BLE_UUID_SERVICE);
}

static int prop_svc_primary(sd_bus *bus, const char *path, const char *interface,
                            const char *property, sd_bus_message *reply, void *userdata,
                            sd_bus_error *error)
{
	return sd_bus_message_append(reply, "b", 1);
}

static const sd_bus_vtable service_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("UUID", "s", prop_svc_uuid, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Primary", "b", prop_svc_primary, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable chr_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("UUID", "s", prop_chr_uuid, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Service", "o", prop_chr_service, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Flags", "as", prop_chr_flags, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Value", "ay", prop_chr_value, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Notifying", "b", prop_chr_notifying, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("ReadValue", SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_RESULT("ay", value), method_read, 0),
        SD_BUS_METHOD_WITH_ARGS("WriteValue", SD_BUS_ARGS("ay", value, "a{sv}", options),
                                SD_BUS_NO_RESULT, method_write, 0),
        SD_BUS_METHOD("StartNotify", "", "", method_start_notify, 0),
        SD_BUS_METHOD("StopNotify", "", "", method_stop_notify, 0),
        SD_BUS_VTABLE_END,
};

/* --- wiring ----------------------------------------------------------------- */

void ble_gatt_update(struct ble *b)
{
	static const enum ble_chr_id notified[] = {BLE_CHR_LEVEL, BLE_CHR_STATUS};
	uint8_t buf[BLE_VALUE_MAX];

	for (size_t i = 0; i < ELEMENTSOF(notified); i++) {
		struct ble_chr *c = &b->chr[notified[i]];
		ssize_t n;

		if (!c->notifying)
			continue;
		n = build_value(b, c->id, buf, sizeof(buf));
		if (n < 0 || ((size_t)n == c->value_len && memcmp(buf, c->value, (size_t)n) == 0))
			continue;
		set_cached(c, buf, (size_t)n);
		if (emit_value(c) < 0)
			ble_log(b, LOG_WARNING, "notification on %s lost", c->path);
	}
}

void ble_gatt_reset_notify(struct ble *b)
{
	for (size_t i = 0; i < BLE_CHR_COUNT; i++)
		b->chr[i].notifying = false;
}

static int add_vtable(struct ble *b, const char *path, const char *iface, const sd_bus_vtable *vt,
                      void *userdata)
{
	sd_bus_slot *s;
	int r;

	r = sd_bus_add_object_vtable(b->bus, &s, path, iface, vt, userdata);
	if (r < 0)
		return r;
	return ble_keep_slot(b, s);
}

int ble_gatt_add(struct ble *b)
{
	sd_bus_slot *s;
	int r;

	r = sd_bus_add_object_manager(b->bus, &s, BLE_APP_PATH);
	if (r < 0)
		return r;
	r = ble_keep_slot(b, s);
	if (r >= 0)
		r = add_vtable(b, SVC_BATTERY_PATH, BLUEZ_GATT_SVC, service_vtable, b);
	if (r >= 0)
		r = add_vtable(b, SVC_PROJECT_PATH, BLUEZ_GATT_SVC, service_vtable, b);
	for (size_t i = 0; r >= 0 && i < BLE_CHR_COUNT; i++) {
		struct ble_chr *c = &b->chr[i];

		c->b = b;
		c->id = (enum ble_chr_id)i;
		snprintf(c->path, sizeof(c->path), "%s/char%zu", chr_descs[i].service, i);
		r = add_vtable(b, c->path, BLUEZ_GATT_CHR, chr_vtable, c);
	}
	return r;
}
