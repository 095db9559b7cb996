/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "daemon/bank_feed.h"

_Static_assert(PROTECTION_MAX_BATTERIES == BANK_EXT_MAX_BATTERIES &&
                       PROTECTION_MAX_CELLS == BANK_EXT_MAX_CELLS &&
                       PROTECTION_MAX_TEMPS == BANK_EXT_MAX_TEMPS &&
                       M8_MAX_CELLS >= BANK_EXT_MAX_CELLS && M8_MAX_TEMPS >= BANK_EXT_MAX_TEMPS,
               "one size of battery for the feed, the protection and the extremes");

void bank_feed_init(struct bank_feed *bf, const struct bank_identity *id)
{
	memset(bf, 0, sizeof(*bf));
	bank_extremes_init(&bf->prot_ext);
	bank_extremes_init(&bf->mon_ext);
	if (id && bank_identity_check(id) == 0) {
		bf->have_identity = true;
		bf->identity = *id;
	}
}

bool bank_feed_battery_fresh(const struct m8_bank_state *bank, const struct m8_battery *b,
                             bool timely)
{
	return timely && b && b->has_status && !(b->status.flags & M8_ST_FAULT) &&
	       !bank->chain_open && !bank->enum_failed;
}

static void map_battery(const struct m8_battery *b, struct protection_battery *pb)
{
	const struct m8_status *st = &b->status;

	memset(pb, 0, sizeof(*pb));
	pb->has_status = b->has_status;
	pb->last_status_us = b->status_us;
	if (!b->has_status)
		return;
	pb->count_mismatch = st->n_cells != b->info.cells || st->n_temps != b->info.sensors;
	pb->fault = st->flags & M8_ST_FAULT;
	pb->hard_ov = st->flags & M8_ST_HARD_OV;
	pb->hard_uv = st->flags & M8_ST_HARD_UV;
	pb->fw_update = st->flags & M8_ST_FW_UPDATE;
	pb->balancing = st->flags & M8_ST_BALANCING;
	pb->n_cells = st->n_cells < PROTECTION_MAX_CELLS ? st->n_cells : PROTECTION_MAX_CELLS;
	pb->n_temps = st->n_temps < PROTECTION_MAX_TEMPS ? st->n_temps : PROTECTION_MAX_TEMPS;
	for (unsigned c = 0; c < pb->n_cells; c++)
		pb->cell_mv[c] = st->cell_mv[c];
	for (unsigned t = 0; t < pb->n_temps; t++)
		pb->temp_dc[t] = st->temp_dc[t];
}

/* The remembered bank's topology: S is stored and not derived again. */
static enum bank_error topology_of_identity(const struct bank_identity *id, struct bank_topology *t)
{
	unsigned cells = bank_type_cells(id->type);

	if (!cells || !id->s || !id->n || id->n % id->s)
		return BANK_ERR_S_NOT_DIVISOR;
	memset(t, 0, sizeof(*t));
	t->type = id->type;
	t->n = id->n;
	t->s = id->s;
	t->p = (uint8_t)(id->n / id->s);
	t->cells_per_battery = (uint8_t)cells;
	t->battery_capacity_ah = id->capacity_ah;
	t->cells_total = (uint16_t)(id->n * cells);
	t->cells_in_series = (uint16_t)(id->s * cells);
	t->capacity_ah = (uint32_t)t->p * id->capacity_ah;
	t->nominal_mv = (uint32_t)id->s * cells * BANK_CELL_NOMINAL_MV;
	return BANK_OK;
}

static void topology(struct bank_feed *bf, const struct bank_feed_in *in, unsigned n,
                     const struct bank_battery_info *info, bool have_mean, uint32_t mean_mv,
                     bool adc_ok, int32_t adc_mv, struct bank_feed_out *out)
{
	out->topo_err = BANK_ERR_EMPTY;
	out->match = BANK_ID_SAME;
	if (bf->have_identity) {
		if (in->bank.enumerated && n > 0) {
			out->match = bank_identity_compare(&bf->identity, info, n);
			out->pin.bank_changed = out->match == BANK_ID_CHANGED;
			out->pin.more_batteries = out->match == BANK_ID_MORE;
		}
		out->topo_err = topology_of_identity(&bf->identity, &out->topo);
		out->have_topology = out->topo_err == BANK_OK;
		out->pin.topology_bad = !out->have_topology;
		return;
	}
	if (!in->bank.enumerated || n == 0)
		return;
	/* First installation: derive S from the ADC's bank voltage once every
	 * battery has told its voltage, then remember the bank. */
	if (!have_mean) {
		out->topo_err = BANK_ERR_NO_VOLTAGE;
		return;
	}
	out->topo_err = bank_derive(info, n, mean_mv, adc_ok && adc_mv > 0 ? (uint32_t)adc_mv : 0,
	                            &out->topo);
	if (out->topo_err != BANK_OK) {
		out->pin.topology_bad = true;
		return;
	}
	if (bank_identity_set(&bf->identity, info, n, &out->topo) < 0) {
		out->topo_err = BANK_ERR_TYPE;
		out->pin.topology_bad = true;
		return;
	}
	bf->have_identity = true;
	out->have_topology = true;
	out->identity_stored = true;
}

static bool adc_valid(const struct bank_feed_in *in, enum adc_signal s)
{
	return in->adc_read && in->adc[s].status == ADC_VALID;
}

/* Takes battery b's extremes anew when it has a new reading or stopped or
 * started counting; a battery at or above n (the bank shrank) counts no more. */
static void track(struct bank_feed *bf, struct bank_extremes *e, struct bank_feed_seen *seen,
                  unsigned b, const struct m8_battery *bat, bool counts)
{
	uint64_t at = counts ? bat->status_us : 0;

	if (seen->counts == counts && seen->status_us == at)
		return;
	seen->counts = counts;
	seen->status_us = at;
	bf->ext_updates++;
	if (!counts) {
		(void)bank_extremes_remove(e, b);
		return;
	}
	const struct m8_status *st = &bat->status;
	unsigned nc = st->n_cells < BANK_EXT_MAX_CELLS ? st->n_cells : BANK_EXT_MAX_CELLS;
	unsigned nt = st->n_temps < BANK_EXT_MAX_TEMPS ? st->n_temps : BANK_EXT_MAX_TEMPS;
	/* counts within the bounds checked: cannot fail */
	(void)bank_extremes_set(e, b, st->cell_mv, nc, st->temp_dc, nt);
}

static void track_extremes(struct bank_feed *bf, const struct bank_feed_in *in, unsigned n)
{
	for (unsigned b = 0; b < PROTECTION_MAX_BATTERIES; b++) {
		const struct m8_battery *bat = b < n ? in->bat[b] : NULL;
		bool has = bat && bat->has_status;

		track(bf, &bf->prot_ext, &bf->prot_seen[b], b, bat, has);
		track(bf, &bf->mon_ext, &bf->mon_seen[b], b, bat,
		      has && in->fresh[b] && !(bat->status.flags & M8_ST_FAULT));
	}
}

static void monitor_extremes(const struct bank_feed *bf, const struct bank_feed_in *in, unsigned n,
                             struct monitor_input *m)
{
	struct bank_extreme x;

	for (unsigned b = 0; b < n; b++)
		if (bf->mon_seen[b].counts)
			m->any_balancing |= (in->bat[b]->status.flags & M8_ST_BALANCING) != 0;
	x = bank_extremes_get(&bf->mon_ext, BANK_EXT_MIN_CELL);
	m->min_cell_mv = x.known ? (uint16_t)x.value : 0xFFFF;
	x = bank_extremes_get(&bf->mon_ext, BANK_EXT_MAX_CELL);
	m->max_cell_mv = x.known ? (uint16_t)x.value : 0xFFFF;
	x = bank_extremes_get(&bf->mon_ext, BANK_EXT_MIN_TEMP);
	m->min_temp_dc = x.known ? (int16_t)x.value : 0x7FFF;
	x = bank_extremes_get(&bf->mon_ext, BANK_EXT_MAX_TEMP);
	m->max_temp_dc = x.known ? (int16_t)x.value : 0x7FFF;
}

void bank_feed_update(struct bank_feed *bf, const struct bank_feed_in *in,
                      struct bank_feed_out *out)
{
	struct bank_battery_info info[PROTECTION_MAX_BATTERIES];
	struct bank_reading rd[PROTECTION_MAX_BATTERIES];
	struct protection_input *pin = &out->pin;
	unsigned n = in->bank.count < PROTECTION_MAX_BATTERIES ? in->bank.count
	                                                       : PROTECTION_MAX_BATTERIES;
	bool all_fresh = in->bank.enumerated && n > 0 && !in->bank.chain_open;
	uint32_t mean_mv = 0;

	memset(out, 0, sizeof(*out));
	for (unsigned b = 0; b < n; b++)
		if (!in->bat[b])
			n = b; /* a gap ends the bank: never read past what the master has */

	track_extremes(bf, in, n);
	pin->have_extremes = true;
	for (unsigned d = 0; d < BANK_EXT_DIMS; d++)
		pin->extremes[d] = bank_extremes_get(&bf->prot_ext, (enum bank_ext_dim)d);
	pin->n_batteries = (uint8_t)n;
	pin->enumerated = in->bank.enumerated;
	pin->chain_open = in->bank.chain_open;
	pin->enum_failed = in->bank.enum_failed;
	for (unsigned b = 0; b < n; b++) {
		const struct m8_battery *bat = in->bat[b];

		map_battery(bat, &pin->bat[b]);
		memset(&info[b], 0, sizeof(info[b]));
		memcpy(info[b].serial, bat->info.serial, BANK_SERIAL_LEN);
		info[b].serial[BANK_SERIAL_LEN] = '\0';
		info[b].type = bat->info.type;
		info[b].capacity_ah = bat->info.capacity_ah;
		info[b].cells = bat->info.cells;
		/* An internal fault or an open chain makes a battery stale (section 4). */
		rd[b].fresh = bank_feed_battery_fresh(&in->bank, bat, in->fresh[b]);
		rd[b].current_ma = bat->status.current_ma;
		rd[b].voltage_mv = bat->status.voltage_mv;
		all_fresh &= rd[b].fresh;
	}
	bool have_mean = n > 0 && bank_mean_battery_mv(rd, n, &mean_mv) == 0;

	bool adc_bank_ok = adc_valid(in, ADC_BANK);
	bool adc_clipped = in->adc_read && in->adc[ADC_BANK].status == ADC_CLIPPED;
	int32_t adc_bank_mv = in->adc[ADC_BANK].mv;

	topology(bf, in, n, info, have_mean, mean_mv, adc_bank_ok, adc_bank_mv, out);
	if (out->have_topology) {
		pin->series_s = out->topo.s;
		pin->cells_per_battery = out->topo.cells_per_battery;
		pin->capacity_ah = (int32_t)out->topo.capacity_ah;
		pin->current_valid =
		        n > 0 && bank_current_ma(rd, n, out->topo.s, &pin->current_ma) == 0;
	}

	/* Bank voltage (docs/protection.md section 3, docs/monitor.md "Bank values").
	 * The protection gets every valid ADC reading (in range, not clipped):
	 * the bank over-voltage backstop is for exactly the case where the ADC
	 * and the batteries disagree. Plausibility (+-10 % of S x mean battery
	 * voltage) only decides what is shown; a disagreement, or no ADC
	 * reading, shows S x mean battery voltage with W6. A clipped reading is
	 * an ADC fault (E8): no bank voltage at all. */
	if (!adc_clipped) {
		bool adc_ok = adc_bank_ok && adc_bank_mv >= 0;
		bool plausible = adc_ok;
		uint32_t v = 0;
		bool w6 = false;

		if (adc_ok && out->have_topology && have_mean)
			plausible = bank_adc_plausible((uint32_t)adc_bank_mv, out->topo.s, mean_mv);
		if (adc_ok) {
			pin->bank_mv_valid = true;
			pin->bank_mv = adc_bank_mv;
		}
		if (plausible) {
			out->shown_mv_valid = true;
			out->shown_mv = adc_bank_mv;
			out->adc_bank_used = true;
		} else if (out->have_topology && have_mean &&
		           bank_voltage_mv(false, 0, out->topo.s, mean_mv, &v, &w6) == 0) {
			out->shown_mv_valid = true;
			out->shown_mv = (int32_t)v;
			pin->adc_fallback = w6;
			if (!adc_ok) {
				pin->bank_mv_valid = true;
				pin->bank_mv = (int32_t)v;
			}
		}
	}

	if (in->remote_none) {
		/* No wiring: VL at 0 V is the "L pulled to minus" cause, always ON. */
		pin->remote_vh_valid = pin->remote_vl_valid = true;
		pin->remote_vh_mv = pin->remote_vl_mv = 0;
	} else {
		pin->remote_vh_valid = adc_valid(in, ADC_REMOTE_H);
		pin->remote_vh_mv = in->adc[ADC_REMOTE_H].mv;
		pin->remote_vl_valid = adc_valid(in, ADC_REMOTE_L);
		pin->remote_vl_mv = in->adc[ADC_REMOTE_L].mv;
	}
	if (!in->readback_none) {
		pin->readback_valid = adc_valid(in, ADC_CHARGE_READBACK);
		pin->readback_mv = in->adc[ADC_CHARGE_READBACK].mv;
	}
	pin->soc_known = in->soc_known;
	pin->soc_cpct = in->soc_cpct;
	pin->soc_sync_count = in->soc_events;
	pin->record_unreadable = in->record_unreadable;
	pin->bt = in->bt;

	struct monitor_input *m = &out->min;
	m->valid = pin->current_valid && out->shown_mv_valid;
	m->current_ma = pin->current_ma;
	m->bank_mv = out->shown_mv_valid && out->shown_mv > 0 ? (uint32_t)out->shown_mv : 0;
	m->all_fresh = all_fresh;
	m->active_codes = in->active_codes;
	monitor_extremes(bf, in, n, m);
}
