/* SPDX-License-Identifier: GPL-2.0-or-later */
/* batteries, battery N, identify N. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/format.h"

static void cell_extremes(const struct ctl_battery *b, uint32_t *lo, uint32_t *hi)
{
	*lo = CTL_CELL_NA;
	*hi = CTL_CELL_NA;
	for (size_t i = 0; i < b->cells_mv.n; i++) {
		uint16_t v = b->cells_mv.v[i];

		if (v == CTL_CELL_NA)
			continue;
		if (*lo == CTL_CELL_NA || v < *lo)
			*lo = v;
		if (*hi == CTL_CELL_NA || v > *hi)
			*hi = v;
	}
}

static int32_t temp_max(const struct ctl_battery *b)
{
	int32_t hi = CTL_TEMP_NA;

	for (size_t i = 0; i < b->temps_dc.n; i++) {
		int16_t v = b->temps_dc.v[i];

		if (v != CTL_TEMP_NA && (hi == CTL_TEMP_NA || v > hi))
			hi = v;
	}
	return hi;
}

static const char *freshness(const struct ctl_battery *b)
{
	if (b->lost)
		return "LOST";
	if (!b->has_status)
		return "none";
	return b->fresh ? "fresh" : "STALE";
}

static void flags_text(const struct ctl_battery *b, char *buf, size_t len)
{
	size_t pos = 0;

	snprintf(buf, len, "-");
	for (size_t i = 0; i < b->flags.n && pos < len; i++) {
		int n = snprintf(buf + pos, len - pos, "%s%s", i ? "," : "", b->flags.v[i]);

		if (n < 0)
			break;
		pos += (size_t)n;
	}
}

static void json_mv_or_null(struct out *o, const char *key, uint32_t mv)
{
	if (mv == CTL_CELL_NA)
		out_null(o, key, NULL, NULL);
	else
		out_uint(o, key, NULL, mv, NULL);
}

static void json_dc_or_null(struct out *o, const char *key, int32_t dc)
{
	if (dc == CTL_TEMP_NA)
		out_null(o, key, NULL, NULL);
	else
		out_int(o, key, NULL, dc, NULL);
}

static void battery_json_common(struct out *o, const struct ctl_battery *b)
{
	uint32_t lo, hi;

	cell_extremes(b, &lo, &hi);
	out_uint(o, "address", NULL, b->address, NULL);
	out_str(o, "serial", NULL, b->serial);
	out_uint(o, "voltage_mv", NULL, b->voltage_mv, NULL);
	out_int(o, "current_ma", NULL, b->current_ma, NULL);
	json_mv_or_null(o, "min_cell_mv", lo);
	json_mv_or_null(o, "max_cell_mv", hi);
	json_dc_or_null(o, "max_temperature_dc", temp_max(b));
	out_bool(o, "has_status", NULL, b->has_status, NULL);
	out_bool(o, "fresh", NULL, b->fresh, NULL);
	out_bool(o, "lost", NULL, b->lost, NULL);
	out_array_begin(o, "flags", NULL);
	for (size_t i = 0; i < b->flags.n; i++)
		out_str(o, NULL, NULL, b->flags.v[i]);
	out_array_end(o);
}

void ctl_print_battery_table(struct out *o, const struct ctl_battery *v, size_t n)
{
	char volt[32], amp[32], lo_s[32], hi_s[32], t[32], flags[128];

	if (o->json) {
		out_array_begin(o, "batteries", NULL);
		for (size_t i = 0; i < n; i++) {
			out_object_begin(o, NULL, NULL);
			battery_json_common(o, &v[i]);
			out_object_end(o);
		}
		out_array_end(o);
		return;
	}
	if (n == 0) {
		out_text(o, "no batteries");
		return;
	}
	out_text(o, "%2s  %-16s %9s %9s %9s %9s %9s  %-5s  %s", "N", "SERIAL", "VOLTAGE", "CURRENT",
	         "MIN CELL", "MAX CELL", "MAX TEMP", "DATA", "FLAGS");
	for (size_t i = 0; i < n; i++) {
		const struct ctl_battery *b = &v[i];
		uint32_t lo, hi;

		cell_extremes(b, &lo, &hi);
		flags_text(b, flags, sizeof(flags));
		snprintf(volt, sizeof(volt), "%s V", fmt_scaled(t, sizeof(t), b->voltage_mv, 3, 2));
		snprintf(amp, sizeof(amp), "%s A", fmt_scaled(t, sizeof(t), b->current_ma, 3, 2));
		out_text(o, "%2u  %-16s %9s %9s %9s %9s %9s  %-5s  %s", b->address, b->serial, volt,
		         amp, fmt_cell_mv(lo_s, sizeof(lo_s), lo),
		         fmt_cell_mv(hi_s, sizeof(hi_s), hi),
		         fmt_temp_dc(t, sizeof(t), temp_max(b)), freshness(b), flags);
	}
}

static int finish(struct ctl *c, struct out *o)
{
	if (out_finish(o) < 0) {
		fprintf(stderr, "smallbmsctl: %s: cannot write the output\n", c->what);
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

int ctl_cmd_batteries(struct ctl *c)
{
	struct ctl_battery *v = NULL;
	size_t n = 0;
	struct out o;
	int r = ctl_fetch_batteries(c, &v, &n);

	if (r != CTL_EXIT_OK)
		return r;
	if (c->args->names) {
		for (size_t i = 0; i < n; i++)
			printf("%u\n", v[i].address);
		ctl_batteries_free(v, n);
		return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILED;
	}
	out_init(&o, stdout, c->args->json, true);
	ctl_print_battery_table(&o, v, n);
	ctl_batteries_free(v, n);
	return finish(c, &o);
}

static void print_cells(struct out *o, const struct ctl_battery *b)
{
	char line[512], one[32];
	size_t pos = 0;

	if (o->json) {
		out_array_begin(o, "cell_voltages_mv", NULL);
		for (size_t i = 0; i < b->cells_mv.n; i++)
			json_mv_or_null(o, NULL, b->cells_mv.v[i]);
		out_array_end(o);
		out_array_begin(o, "temperatures_dc", NULL);
		for (size_t i = 0; i < b->temps_dc.n; i++)
			json_dc_or_null(o, NULL, b->temps_dc.v[i]);
		out_array_end(o);
		return;
	}
	line[0] = '\0';
	for (size_t i = 0; i < b->cells_mv.n && pos < sizeof(line); i++) {
		if (b->cells_mv.v[i] == CTL_CELL_NA)
			snprintf(one, sizeof(one), "n/a");
		else
			snprintf(one, sizeof(one), "%u", b->cells_mv.v[i]);
		pos += (size_t)snprintf(line + pos, sizeof(line) - pos, "%s%s", i ? " " : "", one);
	}
	out_str(o, NULL, "Cells (mV)", b->cells_mv.n ? line : "none");
	line[0] = '\0';
	pos = 0;
	for (size_t i = 0; i < b->temps_dc.n && pos < sizeof(line); i++)
		pos += (size_t)snprintf(line + pos, sizeof(line) - pos, "%s%s", i ? "  " : "",
		                        fmt_temp_dc(one, sizeof(one), b->temps_dc.v[i]));
	out_str(o, NULL, "Temperatures", b->temps_dc.n ? line : "none");
}

int ctl_cmd_battery(struct ctl *c)
{
	struct ctl_battery b;
	struct out o;
	char text[128], t[32], w[48];
	uint64_t now = ctl_now_wall_us();
	int r = ctl_fetch_battery(c, c->args->battery, &b);

	if (r != CTL_EXIT_OK)
		return r;
	out_init(&o, stdout, c->args->json, true);
	if (o.json) {
		battery_json_common(&o, &b);
		out_uint(&o, "type", NULL, b.type, NULL);
		out_uint(&o, "capacity_ah", NULL, b.capacity_ah, NULL);
		out_str(&o, "firmware_version", NULL, b.firmware);
		out_uint(&o, "max_charge_a", NULL, b.max_charge_a, NULL);
		out_uint(&o, "max_charge_pulse_a", NULL, b.max_charge_pulse_a, NULL);
		out_uint(&o, "max_discharge_a", NULL, b.max_discharge_a, NULL);
		out_uint(&o, "max_discharge_pulse_a", NULL, b.max_discharge_pulse_a, NULL);
		print_cells(&o, &b);
		out_uint(&o, "last_status_wall_us", NULL, b.last_status_wall_us, NULL);
		out_uint(&o, "requests", NULL, b.requests, NULL);
		out_uint(&o, "timeouts", NULL, b.timeouts, NULL);
		out_uint(&o, "crc_errors", NULL, b.crc_errors, NULL);
		out_uint(&o, "naks", NULL, b.naks, NULL);
	} else {
		out_uint(&o, NULL, "Battery", b.address, NULL);
		out_str(&o, NULL, "Serial", b.serial);
		snprintf(text, sizeof(text), "%u, %u Ah, firmware %s", b.type, b.capacity_ah,
		         b.firmware);
		out_str(&o, NULL, "Type", text);
		snprintf(text, sizeof(text),
		         "charge %u A (pulse %u A), discharge %u A (pulse %u A)", b.max_charge_a,
		         b.max_charge_pulse_a, b.max_discharge_a, b.max_discharge_pulse_a);
		out_str(&o, NULL, "Limits", text);
		snprintf(text, sizeof(text), "%s V", fmt_scaled(t, sizeof(t), b.voltage_mv, 3, 3));
		out_str(&o, NULL, "Voltage", text);
		snprintf(text, sizeof(text), "%s A", fmt_scaled(t, sizeof(t), b.current_ma, 3, 3));
		out_str(&o, NULL, "Current", text);
		print_cells(&o, &b);
		flags_text(&b, text, sizeof(text));
		out_str(&o, NULL, "Flags", text);
		snprintf(text, sizeof(text), "%s, last status %s", freshness(&b),
		         fmt_wall(w, sizeof(w), b.last_status_wall_us, now));
		out_str(&o, NULL, "Data", text);
		snprintf(text, sizeof(text),
		         "%" PRIu64 " requests, %" PRIu64 " timeouts, %" PRIu64 " CRC errors, "
		         "%" PRIu64 " NAKs",
		         b.requests, b.timeouts, b.crc_errors, b.naks);
		out_str(&o, NULL, "Bus", text);
	}
	ctl_battery_done(&b);
	return finish(c, &o);
}

int ctl_cmd_identify(struct ctl *c)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_ROOT_PATH, CTL_BMS_IFACE, "Identify",
	                           &e, NULL, "u", (uint32_t)c->args->battery);

	if (r < 0) {
		r = ctl_fail(c, r, &e);
		sd_bus_error_free(&e);
		return r;
	}
	return CTL_EXIT_OK;
}
