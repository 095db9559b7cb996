/* SPDX-License-Identifier: GPL-2.0-or-later */
/* status: the bank at a glance. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/format.h"

static void print_reasons(struct out *o, const struct ctl_output *x, uint64_t now)
{
	char buf[256];

	out_array_begin(o, "reasons", NULL);
	for (size_t i = 0; i < x->n_reasons; i++) {
		const struct ctl_reason *r = &x->reasons[i];

		if (!o->json) {
			out_text(o, "%-19s %s", "", fmt_reason(buf, sizeof(buf), r, now));
			continue;
		}
		out_object_begin(o, NULL, NULL);
		out_str(o, "code", NULL, r->code);
		out_str(o, "rule", NULL, r->rule);
		out_int(o, "since_wall_us", NULL, r->since_wall_us, NULL);
		out_int(o, "value", NULL, r->value, NULL);
		out_str(o, "unit", NULL, r->unit);
		out_int(o, "battery", NULL, r->battery, NULL);
		out_int(o, "index", NULL, r->index, NULL);
		out_bool(o, "latched", NULL, r->latched, NULL);
		out_str(o, "text", NULL, fmt_reason(buf, sizeof(buf), r, now));
		out_object_end(o);
	}
	out_array_end(o);
}

static void print_output(struct out *o, const char *key, const char *label,
                         const struct ctl_output *x, bool prealarm, uint64_t now)
{
	char text[160], since[40], dur[40];
	const char *state =
	        prealarm ? (x->closed ? "SOUNDING" : "silent") : (x->closed ? "closed" : "OPEN");

	if (x->since_wall_us)
		snprintf(text, sizeof(text), "%s since %s (%s)", state,
		         fmt_wall(since, sizeof(since), x->since_wall_us, now),
		         fmt_duration(dur, sizeof(dur), x->seconds));
	else
		snprintf(text, sizeof(text), "%s", state);
	if (o->json) {
		out_object_begin(o, key, NULL);
		out_bool(o, prealarm ? "sounding" : "closed", NULL, x->closed, NULL);
		out_uint(o, "since_wall_us", NULL, x->since_wall_us, NULL);
		out_int(o, "seconds", NULL, x->seconds, NULL);
		print_reasons(o, x, now);
		out_object_end(o);
		return;
	}
	out_str(o, NULL, label, text);
	print_reasons(o, x, now);
}

static void print_measurements(struct out *o, const struct ctl_bms *b)
{
	char v[32], a[32], w[32], text[160], lo[32], hi[32];

	if (b->soc_known) {
		snprintf(text, sizeof(text), "%s %%", fmt_scaled(v, sizeof(v), b->soc_cpct, 2, 1));
		out_int(o, "soc_cpct", "State of charge", b->soc_cpct, text);
	} else {
		out_null(o, "soc_cpct", "State of charge", "unknown");
	}
	if (b->measurements_valid) {
		snprintf(text, sizeof(text), "%s V  %s A  %s W",
		         fmt_scaled(v, sizeof(v), b->voltage_mv, 3, 2),
		         fmt_scaled(a, sizeof(a), b->current_ma, 3, 2),
		         fmt_scaled(w, sizeof(w), b->power_mw, 3, 1));
		out_text(o, "%-19s %s", "Bank:", text);
		out_int(o, "voltage_mv", NULL, b->voltage_mv, NULL);
		out_int(o, "current_ma", NULL, b->current_ma, NULL);
		out_int(o, "power_mw", NULL, b->power_mw, NULL);
	} else {
		out_text(o, "%-19s %s", "Bank:", "voltage and current unknown");
		out_null(o, "voltage_mv", NULL, NULL);
		out_null(o, "current_ma", NULL, NULL);
		out_null(o, "power_mw", NULL, NULL);
	}
	snprintf(text, sizeof(text), "%s Ah", fmt_scaled(v, sizeof(v), b->consumed_mah, 3, 1));
	out_int(o, "consumed_mah", "Consumed", b->consumed_mah, text);
	if (b->time_remaining_known)
		out_int(o, "time_remaining_s", "Time remaining", b->time_remaining_s,
		        fmt_duration(text, sizeof(text), b->time_remaining_s));
	else
		out_null(o, "time_remaining_s", "Time remaining", "unknown");
	snprintf(text, sizeof(text), "%s .. %s", fmt_cell_mv(lo, sizeof(lo), b->min_cell_mv),
	         fmt_cell_mv(hi, sizeof(hi), b->max_cell_mv));
	out_text(o, "%-19s %s", "Cells:", text);
	snprintf(text, sizeof(text), "%s .. %s", fmt_temp_dc(lo, sizeof(lo), b->min_temp_dc),
	         fmt_temp_dc(hi, sizeof(hi), b->max_temp_dc));
	out_text(o, "%-19s %s", "Temperatures:", text);
	if (o->json) {
		if (b->min_cell_mv == CTL_CELL_NA)
			out_null(o, "min_cell_mv", NULL, NULL);
		else
			out_int(o, "min_cell_mv", NULL, b->min_cell_mv, NULL);
		if (b->max_cell_mv == CTL_CELL_NA)
			out_null(o, "max_cell_mv", NULL, NULL);
		else
			out_int(o, "max_cell_mv", NULL, b->max_cell_mv, NULL);
		if (b->min_temp_dc == CTL_TEMP_NA)
			out_null(o, "min_temperature_dc", NULL, NULL);
		else
			out_int(o, "min_temperature_dc", NULL, b->min_temp_dc, NULL);
		if (b->max_temp_dc == CTL_TEMP_NA)
			out_null(o, "max_temperature_dc", NULL, NULL);
		else
			out_int(o, "max_temperature_dc", NULL, b->max_temp_dc, NULL);
	}
}

static void print_codes(struct out *o, const struct ctl_bms *b)
{
	char text[128];

	if (!o->json) {
		if (b->codes.n == 0)
			out_text(o, "%-19s none", "Codes:");
		for (size_t i = 0; i < b->codes.n; i++) {
			snprintf(text, sizeof(text), "%s %s", b->codes.v[i].name,
			         b->codes.v[i].text);
			out_text(o, "%-19s %s", i == 0 ? "Codes:" : "", text);
		}
		return;
	}
	out_array_begin(o, "codes", NULL);
	for (size_t i = 0; i < b->codes.n; i++) {
		out_object_begin(o, NULL, NULL);
		out_int(o, "code", NULL, b->codes.v[i].code, NULL);
		out_str(o, "name", NULL, b->codes.v[i].name);
		out_str(o, "text", NULL, b->codes.v[i].text);
		out_object_end(o);
	}
	out_array_end(o);
}

static void print_topology(struct out *o, const struct ctl_bms *b)
{
	char text[256], v[32];

	if (!o->json) {
		if (b->topology_valid)
			snprintf(text, sizeof(text),
			         "%" PRIu32 " batteries, %" PRIu32 "S%" PRIu32 "P, type %u, %s V, "
			         "%" PRIu32 " Ah",
			         b->batteries, b->series, b->parallel, b->battery_type,
			         fmt_scaled(v, sizeof(v), b->nominal_voltage_mv, 3, 1),
			         b->capacity_ah);
		else if (b->series)
			snprintf(text, sizeof(text),
			         "%" PRIu32 " batteries, %" PRIu32
			         " in series (remembered), INVALID: %s",
			         b->batteries, b->series,
			         *b->topology_error ? b->topology_error : "unknown");
		else
			snprintf(text, sizeof(text), "%" PRIu32 " batteries, INVALID: %s",
			         b->batteries, *b->topology_error ? b->topology_error : "unknown");
		out_text(o, "%-19s %s", "Topology:", text);
		if (b->bank_changed)
			out_text(o, "%-19s %s", "", "bank CHANGED: run smallbmsctl accept-bank");
		return;
	}
	out_object_begin(o, "topology", NULL);
	out_bool(o, "valid", NULL, b->topology_valid, NULL);
	out_str(o, "error", NULL, b->topology_error);
	out_bool(o, "bank_changed", NULL, b->bank_changed, NULL);
	out_uint(o, "batteries", NULL, b->batteries, NULL);
	out_uint(o, "series", NULL, b->series, NULL);
	out_uint(o, "parallel", NULL, b->parallel, NULL);
	out_uint(o, "battery_type", NULL, b->battery_type, NULL);
	out_uint(o, "cells_per_battery", NULL, b->cells_per_battery, NULL);
	out_uint(o, "cells_in_series", NULL, b->cells_in_series, NULL);
	out_uint(o, "capacity_ah", NULL, b->capacity_ah, NULL);
	out_uint(o, "nominal_voltage_mv", NULL, b->nominal_voltage_mv, NULL);
	out_object_end(o);
}

static void print_bus(struct out *o, const struct ctl_bms *b)
{
	char text[256], ms[32];

	if (!o->json) {
		if (!b->bus_port_open)
			snprintf(text, sizeof(text), "port CLOSED%s%s", *b->bus_error ? ": " : "",
			         b->bus_error);
		else
			snprintf(text, sizeof(text), "%s, chain %s, %" PRIu64 " cycles, last %s ms",
			         b->bus_enumeration_failed ? "enumeration FAILED"
			         : b->bus_enumerated       ? "enumerated"
			                                   : "enumerating",
			         b->bus_chain_open ? "OPEN" : "closed", b->bus_cycles,
			         fmt_scaled(ms, sizeof(ms), (int64_t)b->bus_last_cycle_us, 3, 1));
		out_text(o, "%-19s %s", "Bus:", text);
		return;
	}
	out_object_begin(o, "bus", NULL);
	out_bool(o, "port_open", NULL, b->bus_port_open, NULL);
	out_bool(o, "enumerated", NULL, b->bus_enumerated, NULL);
	out_bool(o, "chain_open", NULL, b->bus_chain_open, NULL);
	out_bool(o, "enumeration_failed", NULL, b->bus_enumeration_failed, NULL);
	out_uint(o, "cycles", NULL, b->bus_cycles, NULL);
	out_uint(o, "last_cycle_us", NULL, b->bus_last_cycle_us, NULL);
	out_str(o, "error", NULL, b->bus_error);
	out_object_end(o);
}

void ctl_print_status(struct out *o, const struct ctl_bms *b, uint64_t now)
{
	char text[128];

	print_measurements(o, b);
	print_output(o, "load_disconnect", "Load output", &b->load, false, now);
	print_output(o, "charge_disconnect", "Charge output", &b->charge, false, now);
	print_output(o, "pre_alarm", "Pre-alarm", &b->prealarm, true, now);
	print_codes(o, b);
	out_str(o, "balancer", "Balancer", b->balancer);
	out_bool(o, "remote_on", "Remote", b->remote_on,
	         !b->remote_wired ? "not wired (counts as on)"
	         : b->remote_on   ? "on"
	                          : "OFF");
	out_bool(o, "remote_wired", NULL, b->remote_wired, NULL);
	out_bool(o, "readback_wired", "Read-back", b->readback_wired,
	         b->readback_wired ? "wired" : "not wired (no E7 check)");
	print_topology(o, b);
	print_bus(o, b);
	if (o->json) {
		out_object_begin(o, "leds", NULL);
		out_str(o, "blue", NULL, b->blue_led);
		out_str(o, "red", NULL, b->red_led);
		out_object_end(o);
	} else {
		snprintf(text, sizeof(text), "blue %s, red %s", b->blue_led, b->red_led);
		out_text(o, "%-19s %s", "LEDs:", text);
	}
	out_str(o, "bluetooth", "Bluetooth", b->bluetooth);
}

int ctl_cmd_status(struct ctl *c)
{
	struct ctl_bms b;
	struct out o;
	int r = ctl_fetch_bms(c, &b);

	if (r != CTL_EXIT_OK)
		return r;
	out_init(&o, stdout, c->args->json, true);
	ctl_print_status(&o, &b, ctl_now_wall_us());
	ctl_bms_done(&b);
	if (out_finish(&o) < 0) {
		fprintf(stderr, "smallbmsctl: %s: cannot write the output\n", c->what);
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}
