/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The BlueZ adapter's life cycle: follow org.bluez (its name owner, the
 * adapter's Powered, devices' Connected and Paired) and keep the GATT
 * application, the advertisement and the agent registered whenever an
 * adapter is up. Registration is asynchronous throughout: BlueZ calls back
 * into our objects (GetManagedObjects, GetAll) before it replies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include <systemd/sd-journal.h>

#include "ble/ble_internal.h"
#include "ble/ble_store.h"

void ble_log(const struct ble *b, int prio, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (b->journal && sd_journal_send("MESSAGE=bluetooth: %s", msg, "PRIORITY=%d", prio,
	                                  "SMALLBMS_EVENT=bluetooth", NULL) >= 0)
		return;
	fprintf(stderr, "smallbmsd: bluetooth: %s\n", msg);
}

static bool journal_is_stderr(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	/* JOURNAL_STREAM is inherited: trust it only when it names our stderr. */
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int ble_keep_slot(struct ble *b, sd_bus_slot *s)
{
	if (b->n_slots >= ELEMENTSOF(b->slots)) {
		sd_bus_slot_unref(s);
		return -ENOBUFS;
	}
	b->slots[b->n_slots++] = s;
	return 0;
}

/* --- devices ------------------------------------------------------------ */

const struct ble_device *ble_device_find(const struct ble *b, const char *path)
{
	for (size_t i = 0; i < b->n_dev; i++)
		if (path && strcmp(b->dev[i].path, path) == 0)
			return &b->dev[i];
	return NULL;
}

static struct ble_device *device_get(struct ble *b, const char *path)
{
	struct ble_device *d = (struct ble_device *)ble_device_find(b, path);

	if (d)
		return d;
	d = reallocarray(b->dev, b->n_dev + 1, sizeof(*b->dev));
	if (!d)
		return NULL;
	b->dev = d;
	d = &b->dev[b->n_dev];
	*d = (struct ble_device){.path = strdup(path)};
	if (!d->path)
		return NULL;
	b->n_dev++;
	return d;
}

static void device_remove(struct ble *b, const char *path)
{
	for (size_t i = 0; i < b->n_dev; i++) {
		if (strcmp(b->dev[i].path, path) != 0)
			continue;
		free(b->dev[i].path);
		free(b->dev[i].name);
		b->dev[i] = b->dev[--b->n_dev];
		return;
	}
}

static void devices_clear(struct ble *b)
{
	for (size_t i = 0; i < b->n_dev; i++) {
		free(b->dev[i].path);
		free(b->dev[i].name);
	}
	free(b->dev);
	b->dev = NULL;
	b->n_dev = 0;
}

/* --- property dictionaries ---------------------------------------------- */

/* Reads the variant at m when it holds sig (1), else skips it (0). */
static int read_variant(sd_bus_message *m, const char *sig, void *p)
{
	const char *contents;
	char type;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	if (type != 'v' || !contents || strcmp(contents, sig) != 0)
		return sd_bus_message_skip(m, "v") < 0 ? -EBADMSG : 0;
	r = sd_bus_message_read(m, "v", sig, p);
	return r < 0 ? r : 1;
}

struct dev_props {
	const char *address, *name, *alias;
	int paired, connected, powered, pairable;
	bool has_paired, has_connected, has_powered, has_pairable;
};

static int read_props(sd_bus_message *m, struct dev_props *p)
{
	int r;

	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *name;

		r = sd_bus_message_read(m, "s", &name);
		if (r < 0)
			return r;
		if (strcmp(name, "Address") == 0)
			r = read_variant(m, "s", &p->address);
		else if (strcmp(name, "Name") == 0)
			r = read_variant(m, "s", &p->name);
		else if (strcmp(name, "Alias") == 0)
			r = read_variant(m, "s", &p->alias);
		else if (strcmp(name, "Paired") == 0)
			r = p->has_paired = read_variant(m, "b", &p->paired);
		else if (strcmp(name, "Connected") == 0)
			r = p->has_connected = read_variant(m, "b", &p->connected);
		else if (strcmp(name, "Powered") == 0)
			r = p->has_powered = read_variant(m, "b", &p->powered);
		else if (strcmp(name, "Pairable") == 0)
			r = p->has_pairable = read_variant(m, "b", &p->pairable);
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

static void copy_address(char dst[18], const char *src)
{
	snprintf(dst, 18, "%s", src);
}

/* One bluetoothd may serve several adapters (the phone-side controller in
 * the real-stack test is one): only devices of ours count. */
static bool device_of_adapter(const struct ble *b, const char *path)
{
	size_t n;

	if (!b->adapter_path)
		return false;
	n = strlen(b->adapter_path);
	return strncmp(path, b->adapter_path, n) == 0 && path[n] == '/';
}

/* live: a change BlueZ reports now, not the state found at start. */
static int device_apply(struct ble *b, const char *path, const struct dev_props *p, bool live)
{
	struct ble_device *d;
	bool was_paired;

	if (!device_of_adapter(b, path))
		return 0;
	d = device_get(b, path);
	if (!d)
		return -ENOMEM;
	was_paired = d->paired;
	if (p->address)
		copy_address(d->address, p->address);
	if (p->name || (p->alias && !d->name)) {
		char *n = strdup(p->name ? p->name : p->alias);

		if (!n)
			return -ENOMEM;
		free(d->name);
		d->name = n;
	}
	if (p->has_paired)
		d->paired = p->paired;
	if (p->has_connected)
		d->connected = p->connected;
	if (live && d->paired && !was_paired)
		ble_pairing_bonded(b, d);
	return 0;
}

/* --- registration --------------------------------------------------------- */

static void sync_registration(struct ble *b);
static void state_changed(struct ble *b);

static bool reply_ok(struct ble *b, sd_bus_message *reply, const char *what)
{
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	if (!e)
		return true;
	/* Our previous registration outlived a power cycle: it still holds. */
	if (sd_bus_error_has_name(e, "org.bluez.Error.AlreadyExists"))
		return true;
	ble_log(b, LOG_WARNING, "%s refused: %s: %s (retrying every 5 s)", what, e->name,
	        e->message ? e->message : "");
	return false;
}

static int app_registered(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;

	b->call_app = sd_bus_slot_unref(b->call_app);
	b->app_reg = reply_ok(b, reply, "RegisterApplication") ? BLE_REG_DONE : BLE_REG_NONE;
	state_changed(b);
	return 0;
}

static int adv_registered(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;

	b->call_adv = sd_bus_slot_unref(b->call_adv);
	b->adv_reg = reply_ok(b, reply, "RegisterAdvertisement") ? BLE_REG_DONE : BLE_REG_NONE;
	state_changed(b);
	return 0;
}

static int agent_default(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;

	b->call_agent = sd_bus_slot_unref(b->call_agent);
	b->agent_reg = reply_ok(b, reply, "RequestDefaultAgent") ? BLE_REG_DONE : BLE_REG_NONE;
	return 0;
}

static int agent_registered(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	int r;

	b->call_agent = sd_bus_slot_unref(b->call_agent);
	if (!reply_ok(b, reply, "RegisterAgent")) {
		b->agent_reg = BLE_REG_NONE;
		return 0;
	}
	r = sd_bus_call_method_async(b->bus, &b->call_agent, BLUEZ_NAME, "/org/bluez",
	                             BLUEZ_AGENT_MGR, "RequestDefaultAgent", agent_default, b, "o",
	                             BLE_AGENT_PATH);
	if (r < 0)
		b->agent_reg = BLE_REG_NONE;
	return 0;
}

static void sync_registration(struct ble *b)
{
	int r;

	if (!b->bluez_up)
		return;
	if (b->agent_reg == BLE_REG_NONE) {
		r = sd_bus_call_method_async(b->bus, &b->call_agent, BLUEZ_NAME, "/org/bluez",
		                             BLUEZ_AGENT_MGR, "RegisterAgent", agent_registered, b,
		                             "os", BLE_AGENT_PATH, BLE_AGENT_CAPABILITY);
		if (r >= 0)
			b->agent_reg = BLE_REG_PENDING;
	}
	if (!b->adapter_path || !b->powered)
		return;
	if (b->app_reg == BLE_REG_NONE) {
		r = sd_bus_call_method_async(b->bus, &b->call_app, BLUEZ_NAME, b->adapter_path,
		                             BLUEZ_GATT_MGR, "RegisterApplication", app_registered,
		                             b, "oa{sv}", BLE_APP_PATH, 0);
		if (r >= 0)
			b->app_reg = BLE_REG_PENDING;
	}
	if (b->adv_reg == BLE_REG_NONE) {
		r = ble_adv_rebuild(b);
		if (r >= 0)
			r = sd_bus_call_method_async(b->bus, &b->call_adv, BLUEZ_NAME,
			                             b->adapter_path, BLUEZ_ADV_MGR,
			                             "RegisterAdvertisement", adv_registered, b,
			                             "oa{sv}", BLE_ADV_PATH, 0);
		if (r >= 0)
			b->adv_reg = BLE_REG_PENDING;
	}
}

/* The adapter went away or powered off: what BlueZ held is gone (or will
 * be refused as AlreadyExists when we ask again, which counts as done). */
static void adapter_down(struct ble *b, bool unregister)
{
	if (unregister && b->adapter_path && b->bluez_up) {
		if (b->app_reg == BLE_REG_DONE)
			(void)sd_bus_call_method_async(b->bus, NULL, BLUEZ_NAME, b->adapter_path,
			                               BLUEZ_GATT_MGR, "UnregisterApplication",
			                               NULL, NULL, "o", BLE_APP_PATH);
		if (b->adv_reg == BLE_REG_DONE)
			(void)sd_bus_call_method_async(b->bus, NULL, BLUEZ_NAME, b->adapter_path,
			                               BLUEZ_ADV_MGR, "UnregisterAdvertisement",
			                               NULL, NULL, "o", BLE_ADV_PATH);
	}
	b->call_app = sd_bus_slot_unref(b->call_app);
	b->call_adv = sd_bus_slot_unref(b->call_adv);
	b->app_reg = b->adv_reg = BLE_REG_NONE;
	ble_gatt_reset_notify(b);
	ble_pairing_close(b, "adapter down", NULL);
}

static void adapter_lost(struct ble *b)
{
	adapter_down(b, false);
	ble_pairing_adapter_lost(b);
	free(b->adapter_path);
	b->adapter_path = NULL;
	b->adapter_address[0] = '\0';
	b->powered = false;
	devices_clear(b);
}

static void check_no_adapter(struct ble *b)
{
	if (b->adapter_path) {
		b->warned_no_adapter = false;
		return;
	}
	if (!b->warned_no_adapter)
		ble_log(b, LOG_WARNING, "no Bluetooth adapter%s; running without Bluetooth",
		        b->bluez_up ? "" : " (BlueZ is not running)");
	b->warned_no_adapter = true;
}

static void state_changed(struct ble *b)
{
	check_no_adapter(b);
	ble_bluetooth1_changed(b, NULL);
}

static int adapter_apply(struct ble *b, const char *path, const struct dev_props *p)
{
	bool was_powered = b->powered;

	if (!b->adapter_path) {
		b->adapter_path = strdup(path);
		if (!b->adapter_path)
			return -ENOMEM;
		b->powered = false;
		was_powered = false;
	} else if (strcmp(b->adapter_path, path) != 0) {
		return 0; /* one adapter is enough: the first one found */
	}
	if (p->address)
		copy_address(b->adapter_address, p->address);
	if (p->has_powered)
		b->powered = p->powered;
	if (was_powered && !b->powered)
		adapter_down(b, true);
	if (p->has_pairable)
		ble_pairing_adapter_pairable(b, p->pairable);
	else
		ble_pairing_sync_adapter(b);
	return 0;
}

/* One object of GetManagedObjects or InterfacesAdded: a{sa{sv}}. */
static int read_interfaces(struct ble *b, sd_bus_message *m, const char *path, bool live)
{
	int r;

	r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
		struct dev_props p = {0};
		const char *iface;

		r = sd_bus_message_read(m, "s", &iface);
		if (r < 0)
			return r;
		if (strcmp(iface, BLUEZ_ADAPTER) == 0 || strcmp(iface, BLUEZ_DEVICE) == 0) {
			r = read_props(m, &p);
			if (r >= 0)
				r = strcmp(iface, BLUEZ_ADAPTER) == 0
				            ? adapter_apply(b, path, &p)
				            : device_apply(b, path, &p, live);
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

static int objects_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	int r;

	b->call_objects = sd_bus_slot_unref(b->call_objects);
	if (sd_bus_message_is_method_error(reply, NULL)) {
		b->bluez_up = false;
		state_changed(b);
		return 0;
	}
	b->bluez_up = true;
	r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
	while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
		const char *path;

		r = sd_bus_message_read(reply, "o", &path);
		if (r >= 0)
			r = read_interfaces(b, reply, path, false);
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	if (r < 0)
		ble_log(b, LOG_WARNING, "BlueZ's object list unreadable: %s", strerror(-r));
	sync_registration(b);
	state_changed(b);
	return 0;
}

static int query_bluez(struct ble *b)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

	b->call_objects = sd_bus_slot_unref(b->call_objects);
	r = sd_bus_message_new_method_call(b->bus, &m, BLUEZ_NAME, "/",
	                                   "org.freedesktop.DBus.ObjectManager",
	                                   "GetManagedObjects");
	if (r < 0)
		return r;
	/* Never start bluetoothd on our account: it is the system's choice. */
	r = sd_bus_message_set_auto_start(m, false);
	if (r < 0)
		return r;
	return sd_bus_call_async(b->bus, &b->call_objects, m, objects_reply, b, 0);
}

static void bluez_gone(struct ble *b)
{
	b->bluez_up = false;
	adapter_lost(b);
	b->call_agent = sd_bus_slot_unref(b->call_agent);
	b->call_objects = sd_bus_slot_unref(b->call_objects);
	b->agent_reg = BLE_REG_NONE;
}

static int on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
static int on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

/* BlueZ's signals, each matched on the sender's unique name: a match on
 * the well-known name is not checked by sd-bus on our side, so a signal sent
 * to us alone by any client would pass it. */
static const struct {
	const char *rule;
	sd_bus_message_handler_t cb;
} bluez_signals[] = {
        {.rule = "path='/',interface='org.freedesktop.DBus.ObjectManager',"
                 "member='InterfacesAdded'",
         .cb = on_interfaces_added},
        {.rule = "path='/',interface='org.freedesktop.DBus.ObjectManager',"
                 "member='InterfacesRemoved'",
         .cb = on_interfaces_removed},
        {.rule = "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
                 "path_namespace='/org/bluez'",
         .cb = on_properties_changed},
};

/* A unique bus name as the bus driver gives it (":1.42"): nothing that
 * could end the quoted value of a match rule. */
static bool unique_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 255 || s[0] != ':')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static void bluez_unarm(struct ble *b)
{
	for (size_t i = 0; i < ELEMENTSOF(b->bluez_match); i++)
		b->bluez_match[i] = sd_bus_slot_unref(b->bluez_match[i]);
	free(b->bluez_owner);
	b->bluez_owner = NULL;
}

static int on_match_installed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);

	if (e)
		ble_log(b, LOG_WARNING, "cannot listen to BlueZ's signals: %s",
		        e->message ? e->message : e->name);
	return 0; /* never close the connection for it (sd-bus's default) */
}

/* Listens to BlueZ's signals from owner alone; NULL or "": from nobody. */
static int bluez_arm(struct ble *b, const char *owner)
{
	int r = 0;

	bluez_unarm(b);
	if (!owner || !owner[0])
		return 0;
	if (!unique_name_valid(owner))
		return -EINVAL;
	b->bluez_owner = strdup(owner);
	if (!b->bluez_owner)
		return -ENOMEM;
	_Static_assert(ELEMENTSOF(bluez_signals) == ELEMENTSOF(b->bluez_match), "one slot each");
	for (size_t i = 0; i < ELEMENTSOF(bluez_signals) && r >= 0; i++) {
		char rule[512];

		snprintf(rule, sizeof(rule), "type='signal',sender='%s',%s", owner,
		         bluez_signals[i].rule);
		r = sd_bus_add_match_async(b->bus, &b->bluez_match[i], rule, bluez_signals[i].cb,
		                           on_match_installed, b);
	}
	if (r < 0)
		bluez_unarm(b);
	return r;
}

/* The answer to GetNameOwner(org.bluez) at the start: listen to that owner
 * (an error: nobody owns it), then read BlueZ's objects. */
static int owner_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const char *owner = NULL;
	int r;

	b->call_owner = sd_bus_slot_unref(b->call_owner);
	if (!sd_bus_message_is_method_error(reply, NULL) &&
	    sd_bus_message_read(reply, "s", &owner) < 0)
		owner = NULL;
	r = bluez_arm(b, owner);
	if (r < 0)
		ble_log(b, LOG_WARNING, "cannot listen to BlueZ (%s): %s", owner, strerror(-r));
	r = query_bluez(b);
	if (r < 0)
		ble_log(b, LOG_WARNING, "cannot ask BlueZ for its objects: %s", strerror(-r));
	return 0;
}

static int on_name_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const char *name, *old_owner, *new_owner;
	int r;

	r = sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner);
	if (r < 0 || strcmp(name, BLUEZ_NAME) != 0)
		return 0;
	if (old_owner[0])
		bluez_gone(b);
	r = bluez_arm(b, new_owner);
	if (r < 0)
		ble_log(b, LOG_WARNING, "cannot listen to BlueZ (%s): %s", new_owner, strerror(-r));
	if (new_owner[0]) {
		/* after the matches, so that nothing BlueZ signals later is missed */
		r = query_bluez(b);
		if (r < 0)
			ble_log(b, LOG_WARNING, "cannot ask BlueZ for its objects: %s",
			        strerror(-r));
	}
	state_changed(b);
	return 0;
}

static int on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const char *path;
	int r;

	r = sd_bus_message_read(m, "o", &path);
	if (r >= 0)
		r = read_interfaces(b, m, path, true);
	if (r < 0)
		return 0;
	sync_registration(b);
	state_changed(b);
	return 0;
}

static int on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const char *path, *iface;
	int r;

	r = sd_bus_message_read(m, "o", &path);
	if (r >= 0)
		r = sd_bus_message_enter_container(m, 'a', "s");
	while (r >= 0 && (r = sd_bus_message_read(m, "s", &iface)) > 0) {
		if (strcmp(iface, BLUEZ_ADAPTER) == 0 && b->adapter_path &&
		    strcmp(path, b->adapter_path) == 0)
			adapter_lost(b);
		else if (strcmp(iface, BLUEZ_DEVICE) == 0)
			device_remove(b, path);
	}
	state_changed(b);
	return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const char *path = sd_bus_message_get_path(m), *iface;
	struct dev_props p = {0};
	int r;

	r = sd_bus_message_read(m, "s", &iface);
	if (r < 0 || !path)
		return 0;
	if (strcmp(iface, BLUEZ_ADAPTER) == 0) {
		if (read_props(m, &p) < 0 || adapter_apply(b, path, &p) < 0)
			return 0;
		sync_registration(b);
	} else if (strcmp(iface, BLUEZ_DEVICE) == 0) {
		if (read_props(m, &p) < 0 || device_apply(b, path, &p, true) < 0)
			return 0;
	} else {
		return 0;
	}
	state_changed(b);
	return 0;
}

/* --- timer, public API ------------------------------------------------ */

static int on_adv_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ble *b = userdata;

	/* The advertisement itself is rebuilt by advert.c's 2.5 s alternation
	 * (and at once on a code change): one more rebuild here would only
	 * spend counters, and with them writes of the Bluetooth store. */
	sync_registration(b); /* retries what BlueZ refused */
	(void)sd_event_source_set_time_relative(s, BLE_ADV_REFRESH_US);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

enum bt_state ble_state(const struct ble *b)
{
	if (!b || !b->adapter_path || !b->powered)
		return BT_OFF;
	for (size_t i = 0; i < b->n_dev; i++)
		if (b->dev[i].connected)
			return BT_CONNECTED;
	return b->adv_reg == BLE_REG_DONE ? BT_ADVERTISING : BT_OFF;
}

void ble_update(struct ble *b, const struct svc_snapshot *snap)
{
	bool codes_changed;
	int r;

	if (!b || !snap)
		return;
	codes_changed = !b->have_snap || snap->prot.codes != b->adv_codes;
	*b->snap = *snap;
	b->have_snap = true;
	ble_gatt_update(b);
	if (codes_changed) {
		r = ble_adv_rebuild(b);
		if (r < 0)
			ble_log(b, LOG_WARNING, "advertisement not rebuilt: %s", strerror(-r));
		/* the next periodic rebuild counts from this one */
		(void)sd_event_source_set_time_relative(b->adv_timer, BLE_ADV_REFRESH_US);
	}
}

struct ble *ble_free(struct ble *b)
{
	if (!b)
		return NULL;
	ble_pairing_close(b, "daemon stopping", NULL);
	ble_pairing_free(b);
	if (b->bluez_up && b->agent_reg == BLE_REG_DONE)
		(void)sd_bus_call_method_async(b->bus, NULL, BLUEZ_NAME, "/org/bluez",
		                               BLUEZ_AGENT_MGR, "UnregisterAgent", NULL, NULL, "o",
		                               BLE_AGENT_PATH);
	adapter_down(b, true);
	adapter_lost(b);
	polkit_registry_clear(&b->polkit);
	ble_gatt_pending_free(b);
	sd_bus_slot_unref(b->call_objects);
	sd_bus_slot_unref(b->call_agent);
	sd_bus_slot_unref(b->call_owner);
	bluez_unarm(b);
	for (size_t i = b->n_slots; i > 0; i--)
		sd_bus_slot_unref(b->slots[i - 1]);
	sd_event_source_disable_unref(b->adv_timer);
	if (b->bus)
		(void)sd_bus_flush(b->bus);
	ble_store_free(b->store);
	free(b->snap);
	sd_bus_unref(b->bus);
	sd_event_unref(b->event);
	free(b);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct ble *, ble_free);

static int add_match(struct ble *b, const char *rule, sd_bus_message_handler_t cb)
{
	sd_bus_slot *s;
	int r;

	r = sd_bus_add_match(b->bus, &s, rule, cb, b);
	if (r < 0)
		return r;
	return ble_keep_slot(b, s);
}

int ble_new(struct ble **ret, sd_event *e, sd_bus *system_bus, const char *state_dir,
            const struct svc_actions *ops, void *userdata)
{
	_cleanup_(ble_freep) struct ble *b = NULL;
	char err[256] = "";
	int r;

	if (!ret || !e || !system_bus || !state_dir || !ops)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->event = sd_event_ref(e);
	b->bus = sd_bus_ref(system_bus);
	b->ops = ops;
	b->userdata = userdata;
	b->journal = journal_is_stderr();
	b->selected_addr = 1;
	b->snap = calloc(1, sizeof(*b->snap));
	if (!b->snap)
		return -ENOMEM;

	r = ble_store_open(state_dir, &b->store);
	if (r >= 0)
		r = ble_store_load(b->store, err, sizeof(err));
	if (r < 0) {
		/* Never a new key over a damaged store: phones and Home Assistant
		 * hold the old one. Bluetooth stays off until someone decides. */
		ble_log(b, LOG_ERR,
		        "Bluetooth state in %s/" BLE_STORE_SUBDIR " unusable (%s%s%s); Bluetooth "
		        "stays off. Remove that directory to start over with a new bind key",
		        state_dir, strerror(-r), err[0] ? ": " : "", err);
		return r;
	}
	if (r > 0)
		ble_log(b, LOG_NOTICE, "new Bluetooth state: bind key made");
	if (ble_store_had_pin(b->store))
		ble_log(b, LOG_NOTICE,
		        "the pairing PIN stored by an older smallbmsd is ignored: phones pair "
		        "in a pairing window now (smallbmsctl bluetooth pair)");

	r = ble_gatt_add(b);
	if (r >= 0)
		r = ble_adv_add(b);
	if (r >= 0)
		r = ble_agent_add(b);
	if (r >= 0)
		r = ble_bluetooth1_add(b);
	if (r < 0)
		return r;

	r = add_match(b,
	              "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
	              "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
	              "arg0='" BLUEZ_NAME "'",
	              on_name_owner);
	if (r < 0)
		return r;

	r = sd_event_add_time_relative(e, &b->adv_timer, CLOCK_MONOTONIC, BLE_ADV_REFRESH_US, 0,
	                               on_adv_timer, b);
	if (r < 0)
		return r;
	/* Who owns org.bluez now: its signals are listened to, then its
	 * objects read (owner_reply); NameOwnerChanged follows restarts. */
	r = sd_bus_call_method_async(b->bus, &b->call_owner, "org.freedesktop.DBus",
	                             "/org/freedesktop/DBus", "org.freedesktop.DBus",
	                             "GetNameOwner", owner_reply, b, "s", BLUEZ_NAME);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(b);
	return 0;
}
