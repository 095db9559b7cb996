/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ctl/format.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/macro.h"

char *fmt_scaled(char *buf, size_t len, int64_t value, unsigned scale, unsigned decimals)
{
	uint64_t mag, drop = 1, whole, frac, fdiv = 1;
	bool neg = value < 0;

	if (decimals > scale)
		decimals = scale;
	for (unsigned i = decimals; i < scale; i++)
		drop *= 10;
	for (unsigned i = 0; i < decimals; i++)
		fdiv *= 10;
	/* magnitude without overflow at INT64_MIN */
	mag = neg ? (uint64_t)(-(value + 1)) + 1 : (uint64_t)value;
	mag = mag / drop + (mag % drop >= (drop + 1) / 2 && drop > 1 ? 1 : 0);
	whole = mag / fdiv;
	frac = mag % fdiv;
	if (mag == 0)
		neg = false; /* no "-0.00" */
	if (decimals == 0)
		snprintf(buf, len, "%s%" PRIu64, neg ? "-" : "", whole);
	else
		snprintf(buf, len, "%s%" PRIu64 ".%0*" PRIu64, neg ? "-" : "", whole, (int)decimals,
		         frac);
	return buf;
}

char *fmt_duration(char *buf, size_t len, int64_t seconds)
{
	uint64_t s = seconds < 0 ? 0 : (uint64_t)seconds;

	if (s < 60)
		snprintf(buf, len, "%" PRIu64 " s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 " min %02" PRIu64 " s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 " h %02" PRIu64 " min", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRIu64 " d %02" PRIu64 " h", s / 86400, s % 86400 / 3600);
	return buf;
}

char *fmt_wall(char *buf, size_t len, uint64_t wall_us, uint64_t now_wall_us)
{
	time_t t = (time_t)(wall_us / 1000000), now = (time_t)(now_wall_us / 1000000);
	struct tm tm, tm_now;

	if (wall_us == 0) {
		snprintf(buf, len, "never");
		return buf;
	}
	if (!localtime_r(&t, &tm) || !localtime_r(&now, &tm_now)) {
		snprintf(buf, len, "@%" PRIu64, wall_us / 1000000);
		return buf;
	}
	if (tm.tm_year == tm_now.tm_year && tm.tm_yday == tm_now.tm_yday)
		snprintf(buf, len, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

static bool is_temperature_unit(const char *unit)
{
	return unit && strcmp(unit, "0.1 degC") == 0;
}

char *fmt_reading(char *buf, size_t len, int32_t value, const char *unit)
{
	char num[32];

	if (!unit || !*unit)
		snprintf(buf, len, "%s", "");
	else if (is_temperature_unit(unit))
		snprintf(buf, len, "%s °C", fmt_scaled(num, sizeof(num), value, 1, 1));
	else if (strcmp(unit, "0.01 %") == 0)
		snprintf(buf, len, "%s %%", fmt_scaled(num, sizeof(num), value, 2, 2));
	else if (strcmp(unit, "0.1 %") == 0)
		snprintf(buf, len, "%s %%", fmt_scaled(num, sizeof(num), value, 1, 1));
	else
		snprintf(buf, len, "%" PRId32 " %s", value, unit);
	return buf;
}

char *fmt_cell_mv(char *buf, size_t len, uint32_t cell_mv)
{
	if (cell_mv == CTL_CELL_NA)
		snprintf(buf, len, "n/a");
	else
		snprintf(buf, len, "%" PRIu32 " mV", cell_mv);
	return buf;
}

char *fmt_temp_dc(char *buf, size_t len, int32_t temp_dc)
{
	if (temp_dc == CTL_TEMP_NA)
		snprintf(buf, len, "n/a");
	else
		fmt_reading(buf, len, temp_dc, "0.1 degC");
	return buf;
}

/* Appends with snprintf semantics; *pos may run past len (then truncated). */
_printf_(4, 5) static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*pos < len ? buf + *pos : NULL, *pos < len ? len - *pos : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += (size_t)n;
}

char *fmt_reason(char *buf, size_t len, const struct ctl_reason *r, uint64_t now_wall_us)
{
	size_t pos = 0;
	char tmp[64];
	bool has_code = r->code && *r->code;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (has_code)
		append(buf, len, &pos, "%s ", r->code);
	append(buf, len, &pos, "%s", r->rule && *r->rule ? r->rule : "(unnamed rule)");
	if (r->battery >= 1 || r->index >= 1)
		append(buf, len, &pos, ",");
	if (r->battery >= 1)
		append(buf, len, &pos, " battery %d", (int)r->battery);
	if (r->index >= 1)
		append(buf, len, &pos, " %s %d", is_temperature_unit(r->unit) ? "sensor" : "cell",
		       (int)r->index);
	if (r->unit && *r->unit)
		append(buf, len, &pos, ": %s", fmt_reading(tmp, sizeof(tmp), r->value, r->unit));
	if (r->since_wall_us > 0)
		append(buf, len, &pos, ", since %s",
		       fmt_wall(tmp, sizeof(tmp), (uint64_t)r->since_wall_us, now_wall_us));
	if (r->latched)
		append(buf, len, &pos, " (latched)");
	return buf;
}
