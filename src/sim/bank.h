/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Physics of the simulated bank: S batteries in series times P strings in
 * parallel, every battery a string of LiFePO4 cells with a seeded spread of
 * capacity, charge, open-circuit voltage and internal resistance. The caller
 * passes the time in; nothing here reads a clock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sim/rng.h"
#include "smallbms/m8_proto.h"

#define SIM_MAX_BATTERIES    50
#define SIM_AMBIENT_DC       250
#define SIM_BALANCE_MV       3450 /* a cell at or above this bleeds while charging */
#define SIM_BALANCE_MA       50
#define SIM_HARD_OV_MV       3900 /* the battery's own last-resort limits */
#define SIM_HARD_UV_MV       2300
#define SIM_MAX_BANK_CURRENT 2000000 /* mA, the bound of `current` */

/* Forced state of one STATUS flag, set over the control socket. */
enum sim_flag_mode {
	SIM_FLAG_AUTO = 0, /* the model decides */
	SIM_FLAG_ON,
	SIM_FLAG_OFF,
};

struct sim_cell {
	int64_t charge_maus;   /* stored charge, mA x us */
	int64_t capacity_maus; /* full charge, mA x us */
	int32_t soc_offset_ppm;
	int32_t ocv_offset_mv;
	uint32_t r_uohm; /* internal resistance, micro-ohm */
	bool pinned;
	uint16_t pin_mv; /* M8_CELL_NA allowed */
	int32_t drift_mv;
};

struct sim_sensor {
	int16_t offset_dc;
	bool pinned;
	int16_t pin_dc; /* M8_TEMP_NA allowed */
};

struct sim_pack {
	struct sim_cell cell[M8_MAX_CELLS];
	struct sim_sensor sensor[M8_MAX_TEMPS];
	int64_t rise_udc;     /* self-heating above ambient, 1e-6 x 0.1 degC */
	uint8_t flag_mode[8]; /* enum sim_flag_mode per bit of enum m8_status_flag */
};

struct sim_bank {
	const struct m8_model *model;
	unsigned series, parallel, n;
	unsigned cells, sensors;
	int32_t current_ma; /* bank current, positive = charging */
	uint32_t time_scale_milli;
	uint64_t last_us;
	bool clock_started;
	struct sim_pack pack[SIM_MAX_BATTERIES];
};

/* Temperature sensors a battery of this type has (2, 3 or 4), 0 if unknown. */
unsigned sim_type_sensors(uint8_t type);

/* -EINVAL for S or P of 0, N = S x P above the type's maximum, soc_cpct above
 * 10000, |current_ma| above SIM_MAX_BANK_CURRENT or a zero time scale. */
int sim_bank_init(struct sim_bank *b, const struct m8_model *model, unsigned series,
                  unsigned parallel, uint32_t soc_cpct, int32_t current_ma,
                  uint32_t time_scale_milli, uint64_t seed);

/* Runs the physics from the last call up to now_us (real time, scaled). The
 * first call only starts the clock. */
void sim_bank_advance(struct sim_bank *b, uint64_t now_us);
/* Integrates sim_dt_us of simulated time. */
void sim_bank_step(struct sim_bank *b, uint64_t sim_dt_us);

/* Sets every cell of every battery to soc_cpct plus its own small offset. */
void sim_bank_set_soc(struct sim_bank *b, uint32_t soc_cpct);
/* Current of one string, which every battery of it reports. */
int32_t sim_bank_string_current_ma(const struct sim_bank *b);

/* pos and cell are 1-based. */
int32_t sim_bank_cell_soc_ppm(const struct sim_bank *b, unsigned pos, unsigned cell);
/* The modelled voltage of a cell (curve, IR drop, drift), ignoring a pin. */
unsigned sim_bank_cell_model_mv(const struct sim_bank *b, unsigned pos, unsigned cell);

/* The STATUS of battery pos (1-based); fw_update sets flag bit 1 unless the
 * control socket forces it. */
void sim_bank_status(const struct sim_bank *b, unsigned pos, bool fw_update, struct m8_status *st);
