/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/settings.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

#define SETTINGS_MAX_CHANGES 64

/* Where the i-th setting lives: its descriptor and its part's offset in
 * struct bms_settings. The table is the concatenation of the two parts'. */
static const struct setting_desc *entry(size_t i, size_t *base)
{
	size_t np, nm;
	const struct setting_desc *p = protection_setting_descs(&np);
	const struct setting_desc *m = monitor_setting_descs(&nm);

	if (i < np) {
		*base = offsetof(struct bms_settings, protection);
		return &p[i];
	}
	if (i < np + nm) {
		*base = offsetof(struct bms_settings, monitor);
		return &m[i - np];
	}
	return NULL;
}

static int32_t *field(struct bms_settings *s, size_t i)
{
	size_t base;
	const struct setting_desc *d = entry(i, &base);

	return setting_field((char *)s + base, d);
}

int32_t *settings_value(struct bms_settings *s, size_t i)
{
	if (i >= settings_count())
		return NULL;
	return field(s, i);
}

static int32_t value_at(const struct bms_settings *s, size_t i)
{
	size_t base;
	const struct setting_desc *d = entry(i, &base);

	return setting_get((const char *)s + base, d);
}

size_t settings_count(void)
{
	size_t np, nm;

	protection_setting_descs(&np);
	monitor_setting_descs(&nm);
	return np + nm;
}

const struct setting_desc *settings_desc(size_t i)
{
	size_t base;

	return entry(i, &base);
}

int settings_find(const char *name)
{
	if (!name)
		return -ENOENT;
	for (size_t i = 0; i < settings_count(); i++)
		if (strcmp(settings_desc(i)->name, name) == 0)
			return (int)i;
	return -ENOENT;
}

void settings_default(struct bms_settings *s)
{
	protection_settings_default(&s->protection);
	monitor_settings_default(&s->monitor);
}

static void reset_class(struct bms_settings *s, bool only_defaults_class)
{
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_desc *d = settings_desc(i);
		if (only_defaults_class && d->reset != SETTING_RESET_DEFAULTS)
			continue;
		*field(s, i) = d->def;
	}
}

void settings_reset_defaults(struct bms_settings *s)
{
	reset_class(s, true);
}

void settings_reset_all(struct bms_settings *s)
{
	reset_class(s, false);
}

static int refuse(char *err, size_t errlen, const char *name, int32_t value, const char *what,
                  int32_t bound)
{
	if (err && errlen > 0)
		snprintf(err, errlen, "%s=%d must be %s (%d)", name, (int)value, what, (int)bound);
	return -ERANGE;
}

int settings_validate(const struct bms_settings *s, char *err, size_t errlen)
{
	int r;

	/* Static bounds of the whole table first, so the message names the
	 * setting's own bound before any relation. */
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_desc *d = settings_desc(i);
		int32_t v = value_at(s, i);

		if (v == 0 && (d->flags & SETTING_ZERO_DISABLES))
			continue;
		if (v < d->min)
			return refuse(err, errlen, d->name, v, ">= its minimum", d->min);
		if (v > d->max)
			return refuse(err, errlen, d->name, v, "<= its maximum", d->max);
	}
	r = protection_settings_validate(&s->protection, err, errlen);
	if (r < 0)
		return r;
	r = monitor_settings_validate(&s->monitor, err, errlen);
	if (r < 0)
		return r;
	/* A charged voltage at or above the over-voltage trip could never be
	 * held for the detection time: synchronisation would never happen. */
	if (s->monitor.charged_cell_mv >= s->protection.ov_trip_mv)
		return refuse(err, errlen, "charged_cell_mv", s->monitor.charged_cell_mv,
		              "<= ov_trip_mv - 1", s->protection.ov_trip_mv - 1);
	return 0;
}

int settings_get(const struct bms_settings *s, const char *name, int32_t *value)
{
	int i = settings_find(name);

	if (i < 0)
		return i;
	*value = value_at(s, (size_t)i);
	return 0;
}

int settings_apply(struct bms_settings *s, const struct setting_change *ch, size_t n, char *err,
                   size_t errlen)
{
	struct bms_settings next = *s;
	int r;

	for (size_t k = 0; k < n; k++) {
		int i = settings_find(ch[k].name);
		if (i < 0) {
			if (err && errlen > 0)
				snprintf(err, errlen, "%s: no such setting",
				         ch[k].name ? ch[k].name : "(null)");
			return -ENOENT;
		}
		for (size_t j = 0; j < k; j++)
			if (strcmp(ch[j].name, ch[k].name) == 0) {
				if (err && errlen > 0)
					snprintf(err, errlen, "%s: set twice in one change",
					         ch[k].name);
				return -EINVAL;
			}
		*field(&next, (size_t)i) = ch[k].value;
	}
	r = settings_validate(&next, err, errlen);
	if (r < 0)
		return r;
	*s = next;
	return 0;
}

int settings_set(struct bms_settings *s, const char *name, int32_t value, char *err, size_t errlen)
{
	struct setting_change c = {.name = name, .value = value};

	return settings_apply(s, &c, 1, err, errlen);
}

/* Splits "name=value" into name (copied into buf) and a decimal int32. */
static int parse_assignment(const char *a, char *buf, size_t buflen, int32_t *value)
{
	const char *eq = a ? strchr(a, '=') : NULL;
	char *end;
	long long v;

	if (!eq || eq == a || (size_t)(eq - a) >= buflen)
		return -EINVAL;
	memcpy(buf, a, (size_t)(eq - a));
	buf[eq - a] = '\0';
	if (eq[1] == '\0')
		return -EINVAL;
	errno = 0;
	v = strtoll(eq + 1, &end, 10);
	if (errno != 0 || *end != '\0' || v < INT32_MIN || v > INT32_MAX)
		return -EINVAL;
	*value = (int32_t)v;
	return 0; /* mutation: equivalent [const] (callers test < 0) */
}

int settings_apply_strings(struct bms_settings *s, const char *const *assignments, size_t n,
                           char *err, size_t errlen)
{
	char names[SETTINGS_MAX_CHANGES][64];
	struct setting_change ch[SETTINGS_MAX_CHANGES];

	if (n > SETTINGS_MAX_CHANGES) {
		if (err && errlen > 0)
			snprintf(err, errlen, "too many changes at once (at most %d)",
			         SETTINGS_MAX_CHANGES);
		return -EINVAL;
	}
	for (size_t k = 0; k < n; k++) {
		if (parse_assignment(assignments[k], names[k], sizeof(names[k]), &ch[k].value) <
		    0) {
			if (err && errlen > 0)
				snprintf(err, errlen, "'%s': expected name=integer",
				         assignments[k] ? assignments[k] : "(null)");
			return -EINVAL;
		}
		ch[k].name = names[k];
	}
	return settings_apply(s, ch, n, err, errlen);
}
