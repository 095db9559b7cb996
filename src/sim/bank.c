/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim/bank.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/lifepo4.h"

#define US_PER_HOUR 3600000000ll
/* Self-heating: 0.5 K per watt at steady state, reached with a time constant
 * of 30 minutes; so 100 A through a 12.8/100 warms it by about 12 K. */
#define THERMAL_TAU_US  1800000000ll
#define RISE_UDC_PER_UW 5 /* 0.5 K/W = 5e-6 x 0.1 degC per uW */

unsigned sim_type_sensors(uint8_t type)
{
	switch (type) {
	case M8_TYPE_12V8:
		return 2;
	case M8_TYPE_25V6:
		return 3;
	case M8_TYPE_51V2:
		return 4;
	default:
		return 0;
	}
}

static int64_t charge_for_ppm(const struct sim_cell *c, int64_t soc_ppm)
{
	if (soc_ppm < LIFEPO4_SOC_MIN_PPM)
		soc_ppm = LIFEPO4_SOC_MIN_PPM;
	if (soc_ppm > LIFEPO4_SOC_MAX_PPM)
		soc_ppm = LIFEPO4_SOC_MAX_PPM;
	return c->capacity_maus / LIFEPO4_SOC_FULL_PPM * soc_ppm;
}

static int32_t cell_soc_ppm(const struct sim_cell *c)
{
	return (int32_t)(c->charge_maus / (c->capacity_maus / LIFEPO4_SOC_FULL_PPM));
}

static unsigned cell_model_mv(const struct sim_cell *c, int32_t current_ma)
{
	int64_t mv = lifepo4_ocv_mv(cell_soc_ppm(c)) + c->ocv_offset_mv;

	mv += (int64_t)current_ma * c->r_uohm / 1000000;
	mv += c->drift_mv;
	if (mv < 0)
		mv = 0;
	if (mv > 0xFFFE)
		mv = 0xFFFE;
	return (unsigned)mv;
}

int sim_bank_init(struct sim_bank *b, const struct m8_model *model, unsigned series,
                  unsigned parallel, uint32_t soc_cpct, int32_t current_ma,
                  uint32_t time_scale_milli, uint64_t seed)
{
	struct sim_rng rng;
	unsigned i, j;

	if (!model || series == 0 || parallel == 0 || series > SIM_MAX_BATTERIES ||
	    parallel > SIM_MAX_BATTERIES)
		return -EINVAL;
	if (series * parallel > m8_type_max_batteries(model->type) ||
	    m8_type_cells(model->type) != model->cells || sim_type_sensors(model->type) == 0)
		return -EINVAL;
	if (soc_cpct > 10000 || time_scale_milli == 0 || current_ma > SIM_MAX_BANK_CURRENT ||
	    current_ma < -SIM_MAX_BANK_CURRENT)
		return -EINVAL;

	memset(b, 0, sizeof(*b));
	b->model = model;
	b->series = series;
	b->parallel = parallel;
	b->n = series * parallel;
	b->cells = model->cells;
	b->sensors = sim_type_sensors(model->type);
	b->current_ma = current_ma;
	b->time_scale_milli = time_scale_milli;

	sim_rng_seed(&rng, seed);
	for (i = 0; i < b->n; i++) {
		struct sim_pack *p = &b->pack[i];

		for (j = 0; j < b->cells; j++) {
			struct sim_cell *c = &p->cell[j];
			int64_t cap = (int64_t)model->capacity_ah * 1000 * US_PER_HOUR;

			/* +-1 % capacity, +-0.3 % charge, +-3 mV, +-10 % resistance */
			c->capacity_maus = cap + cap / 1000 * sim_rng_range(&rng, -10, 10);
			c->soc_offset_ppm = (int32_t)sim_rng_range(&rng, -3000, 3000);
			c->ocv_offset_mv = (int32_t)sim_rng_range(&rng, -3, 3);
			c->r_uohm = (uint32_t)(60000 / model->capacity_ah *
			                       (uint32_t)sim_rng_range(&rng, 90, 110) / 100);
		}
		for (j = 0; j < b->sensors; j++)
			p->sensor[j].offset_dc = (int16_t)sim_rng_range(&rng, -5, 5);
	}
	sim_bank_set_soc(b, soc_cpct);
	return 0;
}

void sim_bank_set_soc(struct sim_bank *b, uint32_t soc_cpct)
{
	unsigned i, j;

	for (i = 0; i < b->n; i++)
		for (j = 0; j < b->cells; j++) {
			struct sim_cell *c = &b->pack[i].cell[j];
			int64_t ppm = (int64_t)soc_cpct * 100 + c->soc_offset_ppm;

			if (ppm < 0)
				ppm = 0;
			if (ppm > LIFEPO4_SOC_FULL_PPM)
				ppm = LIFEPO4_SOC_FULL_PPM;
			c->charge_maus = charge_for_ppm(c, ppm);
		}
}

int32_t sim_bank_string_current_ma(const struct sim_bank *b)
{
	return b->current_ma / (int32_t)b->parallel;
}

static bool pack_balancing(const struct sim_bank *b, const struct sim_pack *p, int32_t current_ma)
{
	unsigned j;

	if (current_ma <= 0)
		return false;
	for (j = 0; j < b->cells; j++)
		if (cell_model_mv(&p->cell[j], current_ma) >= SIM_BALANCE_MV)
			return true;
	return false;
}

void sim_bank_step(struct sim_bank *b, uint64_t sim_dt_us)
{
	int32_t current_ma = sim_bank_string_current_ma(b);
	int64_t dt = (int64_t)sim_dt_us;
	unsigned i, j;

	for (i = 0; i < b->n; i++) {
		struct sim_pack *p = &b->pack[i];
		int64_t power_uw = 0, target, min, max;

		for (j = 0; j < b->cells; j++) {
			struct sim_cell *c = &p->cell[j];
			int64_t cell_ma = current_ma;

			/* balancing bleeds the high cells, so a bank converges */
			if (current_ma > 0 && cell_model_mv(c, current_ma) >= SIM_BALANCE_MV)
				cell_ma -= SIM_BALANCE_MA;
			c->charge_maus += cell_ma * dt;
			min = charge_for_ppm(c, LIFEPO4_SOC_MIN_PPM);
			max = charge_for_ppm(c, LIFEPO4_SOC_MAX_PPM);
			if (c->charge_maus < min)
				c->charge_maus = min;
			if (c->charge_maus > max)
				c->charge_maus = max;
			power_uw += (int64_t)current_ma * current_ma / 1000 * c->r_uohm / 1000;
		}
		target = power_uw * RISE_UDC_PER_UW;
		if (dt >= THERMAL_TAU_US)
			p->rise_udc = target;
		else
			p->rise_udc += (target - p->rise_udc) * dt / THERMAL_TAU_US;
	}
}

void sim_bank_advance(struct sim_bank *b, uint64_t now_us)
{
	uint64_t dt;

	if (!b->clock_started || now_us < b->last_us) {
		b->clock_started = true;
		b->last_us = now_us;
		return;
	}
	dt = now_us - b->last_us;
	b->last_us = now_us;
	sim_bank_step(b, dt * b->time_scale_milli / 1000);
}

int32_t sim_bank_cell_soc_ppm(const struct sim_bank *b, unsigned pos, unsigned cell)
{
	return cell_soc_ppm(&b->pack[pos - 1].cell[cell - 1]);
}

unsigned sim_bank_cell_model_mv(const struct sim_bank *b, unsigned pos, unsigned cell)
{
	return cell_model_mv(&b->pack[pos - 1].cell[cell - 1], sim_bank_string_current_ma(b));
}

static uint8_t apply_flag(uint8_t flags, const struct sim_pack *p, unsigned bit, bool model_on)
{
	bool on = model_on;

	if (p->flag_mode[bit] == SIM_FLAG_ON)
		on = true;
	else if (p->flag_mode[bit] == SIM_FLAG_OFF)
		on = false;
	return on ? (uint8_t)(flags | (1u << bit)) : flags;
}

void sim_bank_status(const struct sim_bank *b, unsigned pos, bool fw_update, struct m8_status *st)
{
	const struct sim_pack *p = &b->pack[pos - 1];
	int32_t current_ma = sim_bank_string_current_ma(b);
	bool ov = false, uv = false;
	uint32_t sum_mv = 0;
	int64_t temp;
	unsigned j;

	memset(st, 0, sizeof(*st));
	st->current_ma = current_ma;
	st->n_cells = (uint8_t)b->cells;
	for (j = 0; j < b->cells; j++) {
		const struct sim_cell *c = &p->cell[j];
		unsigned model_mv = cell_model_mv(c, current_ma);
		uint16_t mv = c->pinned ? c->pin_mv : (uint16_t)model_mv;

		st->cell_mv[j] = mv;
		/* the terminal is measured apart from the cell taps */
		sum_mv += mv == M8_CELL_NA ? model_mv : mv;
		if (mv != M8_CELL_NA && mv > SIM_HARD_OV_MV)
			ov = true;
		if (mv != M8_CELL_NA && mv < SIM_HARD_UV_MV)
			uv = true;
	}
	st->voltage_mv = sum_mv > 0xFFFF ? 0xFFFF : (uint16_t)sum_mv;
	st->n_temps = (uint8_t)b->sensors;
	for (j = 0; j < b->sensors; j++) {
		const struct sim_sensor *s = &p->sensor[j];

		temp = SIM_AMBIENT_DC + s->offset_dc + p->rise_udc / 1000000;
		st->temp_dc[j] = s->pinned ? s->pin_dc : (int16_t)temp;
	}
	st->flags = apply_flag(st->flags, p, 0, pack_balancing(b, p, current_ma));
	st->flags = apply_flag(st->flags, p, 1, fw_update);
	st->flags = apply_flag(st->flags, p, 2, false);
	st->flags = apply_flag(st->flags, p, 3, ov);
	st->flags = apply_flag(st->flags, p, 4, uv);
}
