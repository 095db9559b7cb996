/* SPDX-License-Identifier: GPL-2.0-or-later */
/* history, reset-history. */
#include <stdio.h>

#include "ctl/ctl.h"
#include "ctl/format.h"

/* History extremes use 0 (voltages) and 32767 (temperatures) for "none". */
static void mv_field(struct out *o, const char *key, const char *label, int32_t mv)
{
	char text[48], v[32];

	if (mv == 0) {
		out_null(o, key, label, "none seen");
		return;
	}
	snprintf(text, sizeof(text), "%s V", fmt_scaled(v, sizeof(v), mv, 3, 3));
	out_int(o, key, label, mv, text);
}

static void dc_field(struct out *o, const char *key, const char *label, int32_t dc)
{
	char text[48];

	if (dc == CTL_TEMP_NA) {
		out_null(o, key, label, "none seen");
		return;
	}
	out_int(o, key, label, dc, fmt_temp_dc(text, sizeof(text), dc));
}

int ctl_cmd_history(struct ctl *c)
{
	struct ctl_history h;
	struct out o;
	char text[64], v[32];
	uint64_t now = ctl_now_wall_us();
	int r = ctl_fetch_history(c, &h);

	if (r != CTL_EXIT_OK)
		return r;
	out_init(&o, stdout, c->args->json, true);
	snprintf(text, sizeof(text), "%s Ah",
	         fmt_scaled(v, sizeof(v), h.deepest_discharge_mah, 3, 1));
	out_int(&o, "deepest_discharge_mah", "Deepest discharge", h.deepest_discharge_mah, text);
	snprintf(text, sizeof(text), "%s Ah", fmt_scaled(v, sizeof(v), h.total_drawn_mah, 3, 1));
	out_int(&o, "total_drawn_mah", "Total drawn", h.total_drawn_mah, text);
	snprintf(text, sizeof(text), "%lld Wh", (long long)h.discharged_wh);
	out_int(&o, "discharged_wh", "Discharged", h.discharged_wh, text);
	snprintf(text, sizeof(text), "%lld Wh", (long long)h.charged_wh);
	out_int(&o, "charged_wh", "Charged", h.charged_wh, text);
	out_uint(&o, "synchronisations", "Synchronisations", h.synchronisations, NULL);
	out_uint(&o, "charge_cycles", "Charge cycles", h.charge_cycles, NULL);
	out_uint(&o, "last_full_charge_wall_us", "Last full charge", h.last_full_charge_wall_us,
	         fmt_wall(text, sizeof(text), h.last_full_charge_wall_us, now));
	mv_field(&o, "min_bank_mv", "Lowest bank", h.min_bank_mv);
	mv_field(&o, "max_bank_mv", "Highest bank", h.max_bank_mv);
	mv_field(&o, "min_cell_mv", "Lowest cell", h.min_cell_mv);
	mv_field(&o, "max_cell_mv", "Highest cell", h.max_cell_mv);
	dc_field(&o, "min_temperature_dc", "Lowest temp.", h.min_temp_dc);
	dc_field(&o, "max_temperature_dc", "Highest temp.", h.max_temp_dc);
	out_array_begin(&o, "last_errors", "Last errors");
	if (!o.json && h.last_errors.n == 0)
		out_text(&o, "none");
	for (size_t i = 0; i < h.last_errors.n; i++) {
		const struct ctl_last_error *e = &h.last_errors.v[i];

		if (!o.json) {
			out_text(&o, "%s at %s", e->name,
			         fmt_wall(text, sizeof(text), e->wall_us, now));
			continue;
		}
		out_object_begin(&o, NULL, NULL);
		out_uint(&o, "code", NULL, e->code, NULL);
		out_str(&o, "name", NULL, e->name);
		out_uint(&o, "wall_us", NULL, e->wall_us, NULL);
		out_object_end(&o);
	}
	out_array_end(&o);
	ctl_history_done(&h);
	if (out_finish(&o) < 0) {
		fprintf(stderr, "smallbmsctl: %s: cannot write the output\n", c->what);
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

int ctl_cmd_reset_history(struct ctl *c)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_HISTORY_PATH, CTL_HISTORY_IFACE,
	                           "Reset", &e, NULL, NULL);

	if (r < 0) {
		r = ctl_fail(c, r, &e);
		sd_bus_error_free(&e);
		return r;
	}
	return CTL_EXIT_OK;
}
