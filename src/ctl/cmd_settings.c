/* SPDX-License-Identifier: GPL-2.0-or-later */
/* get, set, reset-defaults, reset-all: org.smallbms.Settings1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/settings.h"
#include "ctl/ctl.h"

struct setting_row {
	const char *name, *unit, *summary;
	int32_t value, def, min, max;
};

static int fail_bus(struct ctl *c, int r, sd_bus_error *e)
{
	r = ctl_fail(c, r, e);
	sd_bus_error_free(e);
	return r;
}

/* The names straight from the registry this client was built with, so that
 * shell completion works without the daemon or the right to reach it. */
static int print_names(void)
{
	for (size_t i = 0; i < settings_count(); i++)
		printf("%s\n", settings_desc(i)->name);
	return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

static bool wanted(const struct ctl_args *a, const char *name, bool *seen)
{
	if (a->n_operands == 0)
		return true;
	for (size_t i = 0; i < a->n_operands; i++)
		if (strcmp(a->operands[i], name) == 0) {
			seen[i] = true;
			return true;
		}
	return false;
}

static void print_row(struct out *o, const struct setting_row *s)
{
	char range[48];

	if (o->json) {
		out_object_begin(o, NULL, NULL);
		out_str(o, "name", NULL, s->name);
		out_int(o, "value", NULL, s->value, NULL);
		out_str(o, "unit", NULL, s->unit);
		out_int(o, "default", NULL, s->def, NULL);
		out_int(o, "min", NULL, s->min, NULL);
		out_int(o, "max", NULL, s->max, NULL);
		out_str(o, "summary", NULL, s->summary);
		out_object_end(o);
		return;
	}
	snprintf(range, sizeof(range), "%d..%d", s->min, s->max);
	out_text(o, "%-24s %8d  %-10s %8d  %s", s->name, s->value, s->unit, s->def, range);
}

int ctl_print_setting_names(void)
{
	return print_names();
}

int ctl_cmd_get(struct ctl *c)
{
	const struct ctl_args *a = c->args;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	_cleanup_free_ bool *seen = NULL;
	struct setting_row s;
	struct out o;
	int r;

	if (a->names)
		return print_names();
	seen = calloc(a->n_operands + 1, sizeof(*seen));
	if (!seen) {
		fprintf(stderr, "smallbmsctl: %s: out of memory\n", c->what);
		return CTL_EXIT_FAILED;
	}
	r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_SETTINGS_PATH, CTL_SETTINGS_IFACE, "List",
	                       &e, &reply, NULL);
	if (r < 0)
		return fail_bus(c, r, &e);
	/* first pass: every named setting must exist before anything is printed */
	r = sd_bus_message_enter_container(reply, 'a', "(ssiiiis)");
	while (r >= 0 && (r = sd_bus_message_read(reply, "(ssiiiis)", &s.name, &s.unit, &s.value,
	                                          &s.def, &s.min, &s.max, &s.summary)) > 0)
		wanted(a, s.name, seen);
	if (r >= 0)
		r = sd_bus_message_rewind(reply, true);
	if (r < 0) {
		sd_bus_message_unref(reply);
		return ctl_fail_reply(c, r);
	}
	for (size_t i = 0; i < a->n_operands; i++)
		if (!seen[i]) {
			fprintf(stderr, "smallbmsctl: %s: no setting named '%s'\n", c->what,
			        a->operands[i]);
			sd_bus_message_unref(reply);
			return CTL_EXIT_FAILED;
		}
	out_init(&o, stdout, a->json, true);
	out_array_begin(&o, "settings", NULL);
	out_text(&o, "%-24s %8s  %-10s %8s  %s", "NAME", "VALUE", "UNIT", "DEFAULT", "BOUNDS");
	r = sd_bus_message_enter_container(reply, 'a', "(ssiiiis)");
	while (r >= 0 && (r = sd_bus_message_read(reply, "(ssiiiis)", &s.name, &s.unit, &s.value,
	                                          &s.def, &s.min, &s.max, &s.summary)) > 0)
		if (wanted(a, s.name, seen))
			print_row(&o, &s);
	out_array_end(&o);
	sd_bus_message_unref(reply);
	if (r < 0)
		return ctl_fail_reply(c, r);
	if (out_finish(&o) < 0) {
		fprintf(stderr, "smallbmsctl: %s: cannot write the output\n", c->what);
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

int ctl_cmd_set(struct ctl *c)
{
	const struct ctl_args *a = c->args;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	int r;

	r = sd_bus_message_new_method_call(c->bus, &m, CTL_BUS_NAME, CTL_SETTINGS_PATH,
	                                   CTL_SETTINGS_IFACE, "SetMany");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{si}");
	for (size_t i = 0; r >= 0 && i < a->n_assigns; i++)
		r = sd_bus_message_append(m, "{si}", a->assigns[i].name, a->assigns[i].value);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r < 0) {
		sd_bus_message_unref(m);
		fprintf(stderr, "smallbmsctl: %s: cannot build the request: %s\n", c->what,
		        strerror(-r));
		return CTL_EXIT_FAILED;
	}
	r = sd_bus_call(c->bus, m, 0, &e, NULL);
	sd_bus_message_unref(m);
	if (r < 0)
		return fail_bus(c, r, &e);
	return CTL_EXIT_OK;
}

int ctl_cmd_reset_settings(struct ctl *c, bool all)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_SETTINGS_PATH, CTL_SETTINGS_IFACE,
	                           all ? "ResetAll" : "ResetToDefaults", &e, NULL, NULL);

	if (r < 0)
		return fail_bus(c, r, &e);
	return CTL_EXIT_OK;
}
