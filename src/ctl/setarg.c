/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The operands of `set`, `set-soc`, `battery` and `identify`. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/args.h"

int ctl_parse_int(const char *s, long long min, long long max, long long *v)
{
	char *end;
	long long x;

	/* strtoll would accept leading blanks and a lone sign: refuse them */
	if (!s || !((s[0] >= '0' && s[0] <= '9') ||
	            ((s[0] == '-' || s[0] == '+') && s[1] >= '0' && s[1] <= '9')))
		return -EINVAL;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || x < min || x > max)
		return -EINVAL;
	*v = x;
	return 0;
}

int ctl_parse_percent(const char *s, double *pct)
{
	char buf[32];
	size_t len, dot = 0;
	char *end;
	double x;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len > 0 && s[len - 1] == '%')
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	/* digits with at most one '.', digits on both sides: no exponents, no
	 * hex, no "nan" that strtod would take */
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (dot || i == 0 || i + 1 == len)
				return -EINVAL;
			dot = i;
		} else if (s[i] < '0' || s[i] > '9') {
			return -EINVAL;
		}
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	x = strtod(buf, &end);
	if (*end != '\0' || !isfinite(x) || x < 0.0 || x > 100.0)
		return -EINVAL;
	*pct = x;
	return 0;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

int ctl_set_parse(char *const *words, size_t n, struct ctl_assign *out, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const char *w = words[i], *eq = strchr(w, '=');
		size_t name_len;
		long long v;

		if (!eq) {
			snprintf(err, errlen, "'%s' is not NAME=VALUE", w);
			return -EINVAL;
		}
		name_len = (size_t)(eq - w);
		if (name_len == 0) {
			snprintf(err, errlen, "'%s' has no setting name before '='", w);
			return -EINVAL;
		}
		if (name_len >= CTL_SETTING_NAME_MAX) {
			snprintf(err, errlen, "'%.*s...' is too long for a setting name", 20, w);
			return -EINVAL;
		}
		for (size_t k = 0; k < name_len; k++)
			if (!name_char(w[k])) {
				snprintf(err, errlen,
				         "'%.*s' is not a setting name (lower case, digits, '_')",
				         (int)name_len, w);
				return -EINVAL;
			}
		if (ctl_parse_int(eq + 1, INT32_MIN, INT32_MAX, &v) < 0) {
			snprintf(err, errlen,
			         "%.*s: '%s' is not an integer (in the unit of the name)",
			         (int)name_len, w, eq + 1);
			return -EINVAL;
		}
		memcpy(out[i].name, w, name_len);
		out[i].name[name_len] = '\0';
		out[i].value = (int32_t)v;
		for (size_t k = 0; k < i; k++)
			if (strcmp(out[k].name, out[i].name) == 0) {
				snprintf(err, errlen, "%s is given twice", out[i].name);
				return -EINVAL;
			}
	}
	return 0;
}
