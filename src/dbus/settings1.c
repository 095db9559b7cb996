/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * org.smallbms.Settings1 at /org/smallbms/settings: one writable "i"
 * property per setting of the registry, named in CamelCase (uv_trip_mv ->
 * UvTripMv), so a setting added to the registry appears here by itself.
 * Every write goes through svc_actions.set_settings: validated with all the
 * other current values, all or nothing, saved at once.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "dbus/dbus_private.h"

/* More changes than this in one SetMany cannot be valid (each name once). */
#define SETMANY_MAX 256

static char *camel_case(const char *snake)
{
	size_t n = strlen(snake);
	char *out = malloc(n + 1), *o = out;
	bool up = true;

	if (!out)
		return NULL;
	for (const char *p = snake; *p; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		*o++ = up ? (char)toupper((unsigned char)*p) : *p;
		up = false;
	}
	*o = '\0';
	return out;
}

static int prop_setting_get(sd_bus *bus, const char *path, const char *interface,
                            const char *property, sd_bus_message *reply, void *userdata,
                            sd_bus_error *ret_error)
{
	const struct prop_ref *ref = userdata;
	const struct setting_desc *d = settings_desc(ref->id);
	int32_t v = 0;
	int r = d ? settings_get(&ref->b->cur.settings, d->name, &v) : -ENOENT;

	if (r < 0)
		return r;
	return sd_bus_message_append(reply, "i", v);
}

static int prop_setting_set(sd_bus *bus, const char *path, const char *interface,
                            const char *property, sd_bus_message *value, void *userdata,
                            sd_bus_error *ret_error)
{
	const struct prop_ref *ref = userdata;
	struct bms_dbus *b = ref->b;
	const struct setting_desc *d = settings_desc(ref->id);
	char err[256] = "";
	int32_t v;
	int r = sd_bus_message_read(value, "i", &v);

	if (r < 0)
		return r;
	if (!d)
		return -ENOENT;
	struct setting_change ch = {.name = d->name, .value = v};
	r = b->ops->set_settings(b->userdata, &ch, 1, err, sizeof(err));
	if (r < 0)
		return dbus_error_from_errno(ret_error, r, DBUS_CTX_SETTING, err);
	/* Reached only without the filter below (it answers every Set of a
	 * setting); SVC_PENDING cannot be waited for here. */
	return 0;
}

/* Properties.Set of a setting, before sd-bus's own dispatch: a property
 * setter must answer at once, but a write is answered only once durable
 * (service/actions.h), so the call is taken here and answered like
 * SetMany. Anything else (another interface, an unknown name, a value not
 * an "i") goes on to sd-bus, which refuses it as before. */
static int set_filter(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = userdata;
	const char *iface, *prop, *path = sd_bus_message_get_path(m);
	char err[256] = "";
	int32_t v;
	size_t id;

	if (!sd_bus_message_is_method_call(m, "org.freedesktop.DBus.Properties", "Set") || !path ||
	    strcmp(path, SETTINGS_PATH) != 0)
		return 0;
	/* every Set of the settings object is a write: authorized first */
	sd_bus_message_rewind(m, true);
	int ra = polkit_check(&b->polkit, m, POLKIT_ACTION_SETTINGS, e);
	if (ra <= 0)
		return ra < 0 ? ra : 1; /* refused, or answered once polkit has */
	if (sd_bus_message_read(m, "ss", &iface, &prop) < 0 || strcmp(iface, SETTINGS1_IFACE) != 0)
		goto pass;
	for (id = 0; id < settings_count(); id++)
		if (strcmp(b->settings_names[id], prop) == 0)
			break;
	if (id == settings_count() || sd_bus_message_enter_container(m, 'v', "i") <= 0 ||
	    sd_bus_message_read(m, "i", &v) <= 0)
		goto pass;
	int r = dbus_action_room(b, DBUS_CTX_SETTING, e);
	if (r < 0)
		return r;
	struct setting_change ch = {.name = settings_desc(id)->name, .value = v};
	r = b->ops->set_settings(b->userdata, &ch, 1, err, sizeof(err));
	r = dbus_action_reply(b, m, r, DBUS_CTX_SETTING, err, e);
	return r < 0 ? r : 1;
pass:
	sd_bus_message_rewind(m, true);
	return 0;
}

int settings1_add_filter(struct bms_dbus *b)
{
	return sd_bus_add_filter(b->bus, &b->slot_set_filter, set_filter, b);
}

static int method_list(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	const struct prop_ref *ref = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r = sd_bus_message_new_method_return(m, &reply);

	if (r < 0 || (r = sd_bus_message_open_container(reply, 'a', "(ssiiiis)")) < 0)
		return r;
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_desc *d = settings_desc(i);
		int32_t v = 0;

		if ((r = settings_get(&ref->b->cur.settings, d->name, &v)) < 0 ||
		    (r = sd_bus_message_append(reply, "(ssiiiis)", d->name, d->unit ? d->unit : "",
		                               v, d->def, d->min, d->max,
		                               d->summary ? d->summary : "")) < 0)
			return r;
	}
	if ((r = sd_bus_message_close_container(reply)) < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int method_set_many(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ((const struct prop_ref *)userdata)->b;
	int ra = polkit_check(&b->polkit, m, POLKIT_ACTION_SETTINGS, e);
	if (ra <= 0)
		return ra < 0 ? ra : 1; /* refused, or answered once polkit has */
	_cleanup_free_ struct setting_change *ch = NULL;
	char err[256] = "";
	size_t n = 0;
	int r = sd_bus_message_enter_container(m, 'a', "{si}");

	if (r < 0)
		return r;
	for (;;) {
		const char *name;
		int32_t v;

		r = sd_bus_message_read(m, "{si}", &name, &v);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (n == SETMANY_MAX) {
			snprintf(err, sizeof(err), "more than %d changes", SETMANY_MAX);
			return dbus_error_from_errno(e, -EINVAL, DBUS_CTX_SETTING, err);
		}
		if (!ch && !(ch = calloc(SETMANY_MAX, sizeof(*ch))))
			return -ENOMEM;
		ch[n++] = (struct setting_change){.name = name, .value = v};
	}
	if ((r = sd_bus_message_exit_container(m)) < 0)
		return r;
	if (n == 0)
		return sd_bus_reply_method_return(m, NULL);
	if ((r = dbus_action_room(b, DBUS_CTX_SETTING, e)) < 0)
		return r;
	r = b->ops->set_settings(b->userdata, ch, n, err, sizeof(err));
	return dbus_action_reply(b, m, r, DBUS_CTX_SETTING, err, e);
}

static int reset(sd_bus_message *m, struct bms_dbus *b,
                 int (*f)(void *userdata, char *err, size_t errlen), sd_bus_error *e)
{
	char err[256] = "";
	int r = polkit_check(&b->polkit, m, POLKIT_ACTION_SETTINGS, e);

	if (r <= 0)
		return r < 0 ? r : 1; /* refused, or answered once polkit has */
	if ((r = dbus_action_room(b, DBUS_CTX_SETTING, e)) < 0)
		return r;
	r = f(b->userdata, err, sizeof(err));
	return dbus_action_reply(b, m, r, DBUS_CTX_SETTING, err, e);
}

static int method_reset_defaults(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ((const struct prop_ref *)userdata)->b;
	return reset(m, b, b->ops->reset_defaults, e);
}

static int method_reset_all(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ((const struct prop_ref *)userdata)->b;
	return reset(m, b, b->ops->reset_all, e);
}

static const sd_bus_vtable head[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("List", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssiiiis)", settings),
                                method_list, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetMany", SD_BUS_ARGS("a{si}", changes), SD_BUS_NO_RESULT,
                                method_set_many, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ResetToDefaults", NULL, NULL, method_reset_defaults,
                      SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ResetAll", NULL, NULL, method_reset_all, SD_BUS_VTABLE_UNPRIVILEGED),
};

int settings1_build(struct bms_dbus *b)
{
	size_t n = settings_count(), k = 0;

	b->settings_names = calloc(n, sizeof(char *));
	b->ref_settings = calloc(n ? n : 1, sizeof(struct prop_ref));
	b->settings_vtable = calloc(ELEMENTSOF(head) + n + 1, sizeof(sd_bus_vtable));
	if (!b->settings_names || !b->ref_settings || !b->settings_vtable)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(head); i++)
		b->settings_vtable[k++] = head[i];
	for (size_t i = 0; i < n; i++) {
		b->settings_names[i] = camel_case(settings_desc(i)->name);
		if (!b->settings_names[i])
			return -ENOMEM;
		b->ref_settings[i] = (struct prop_ref){.b = b, .ifc = NULL, .id = (unsigned)i};
		b->settings_vtable[k++] = (sd_bus_vtable)SD_BUS_WRITABLE_PROPERTY(
		        b->settings_names[i], "i", prop_setting_get, prop_setting_set, PROP_REF(i),
		        PROP_FLAGS | SD_BUS_VTABLE_UNPRIVILEGED);
	}
	b->settings_vtable[k++] = (sd_bus_vtable)SD_BUS_VTABLE_END;
	return 0;
}

void settings1_free(struct bms_dbus *b)
{
	for (size_t i = 0; b->settings_names && i < settings_count(); i++)
		free(b->settings_names[i]);
	free(b->settings_names);
	free(b->ref_settings);
	free(b->settings_vtable);
	b->settings_names = NULL;
	b->ref_settings = NULL;
	b->settings_vtable = NULL;
}

void settings1_changed(struct bms_dbus *b, const char **names, size_t *n)
{
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_desc *d = settings_desc(i);
		int32_t now = 0, before = 0;

		if (settings_get(&b->cur.settings, d->name, &now) < 0 ||
		    settings_get(&b->prev.settings, d->name, &before) < 0 || now != before)
			names[(*n)++] = b->settings_names[i];
	}
}
