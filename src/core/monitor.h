/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The battery monitor of docs/monitor.md: coulomb counting with charge
 * efficiency and Peukert correction, synchronisation to 100 %, manual sync
 * and set, time remaining, and the history and balancer status it feeds.
 *
 * SoC is a displayed estimate and is integrated in floating point; what the
 * protection core reads is the integer soc_cpct (0.01 %, clamped 0..100 %),
 * its known flag and the count of synchronisations and manual sets.
 *
 * The caller passes the monotonic time (now_us) for integration and timers,
 * and the wall-clock time (wall_s, seconds since the epoch) for what must
 * survive reboots: last full charge, the 30-day balancer rule, error times.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/balancer.h"
#include "core/history.h"
#include "core/setting_desc.h"

#define MONITOR_CHARGE_EFFICIENCY 0.99
#define MONITOR_PEUKERT           1.05
/* A gap between samples longer than this is not integrated (no data). */
#define MONITOR_MAX_GAP_US (60ull * 1000000ull)
/* Time remaining averages the discharge over this window, in buckets. */
#define MONITOR_WINDOW_BUCKETS 36
#define MONITOR_BUCKET_US      (5ull * 1000000ull)

/*
 * The monitor's own three settings. The bank-dependent two follow the bank:
 * the charged voltage is stored per cell (x cells in series of the bank) and
 * the tail current in 0.1 % of the bank capacity, so a bank accepted anew
 * needs no new values.
 */
struct monitor_settings {
	int32_t charged_cell_mv;   /* 3500 (14.00 V for 4 cells); 3400..3600 */
	int32_t tail_current_pmil; /* 0.1 % of C: 40 (4 %); 5..100 */
	int32_t charged_detect_s;  /* 180 (3 min); 60..3000 */
};

const struct setting_desc *monitor_setting_descs(size_t *n);
void monitor_settings_default(struct monitor_settings *s);
/* 0, or -ERANGE with a message naming the setting, its value and the bound. */
int monitor_settings_validate(const struct monitor_settings *s, char *err, size_t errlen);

/* What the monitor keeps across restarts besides the history and balancer. */
struct monitor_soc {
	bool known;
	double soc_pct;      /* 0..100, full precision */
	double consumed_ah;  /* raw Ah taken out since full, >= 0 */
	uint32_t soc_events; /* synchronisations and manual sets, ever */
};

/* One bank-wide sample. */
struct monitor_input {
	bool valid;                        /* bank current and voltage are known */
	int32_t current_ma;                /* bank current, positive = charging */
	uint32_t bank_mv;                  /* bank voltage */
	bool all_fresh;                    /* every battery fresh (sync needs it) */
	uint16_t min_cell_mv, max_cell_mv; /* 0xFFFF = not available */
	int16_t min_temp_dc, max_temp_dc;  /* 0x7FFF = not available */
	bool any_balancing;
	uint32_t active_codes; /* BMS_CODE_BIT mask; new E codes enter the history */
};

struct monitor_bucket {
	uint64_t epoch;    /* now_us / MONITOR_BUCKET_US of the bucket */
	double charge_mas; /* Peukert-corrected discharge (positive) x time, mA s */
	double time_s;
};

struct monitor {
	struct monitor_settings set;
	int32_t discharge_floor_pct;
	uint32_t capacity_ah;  /* bank capacity C; 0 = no bank yet */
	uint16_t series_cells; /* cells in series of the bank */

	struct monitor_soc soc;
	struct history hist;
	struct balancer_state bal;

	/* not saved */
	bool have_last;
	uint64_t last_us;
	bool charged_running; /* the charged condition holds since charged_since_us */
	bool charged_done;    /* synchronised in this charged episode */
	uint64_t charged_since_us;
	struct monitor_input last_in;
	struct monitor_bucket win[MONITOR_WINDOW_BUCKETS];
};

/* A new installation: SoC unknown, empty history. */
void monitor_init(struct monitor *m, const struct monitor_settings *s, int32_t discharge_floor_pct);
void monitor_set_settings(struct monitor *m, const struct monitor_settings *s,
                          int32_t discharge_floor_pct);
/* The bank's capacity and cells in series (bank.h). */
void monitor_set_bank(struct monitor *m, uint32_t capacity_ah, uint16_t series_cells);
/* "Accept bank": SoC and balancer status unknown, history kept. */
void monitor_bank_accepted(struct monitor *m);
/* Restores the saved part (from a state record, already checked). */
void monitor_restore(struct monitor *m, const struct monitor_soc *soc, const struct history *h,
                     const struct balancer_state *b);

void monitor_step(struct monitor *m, uint64_t now_us, int64_t wall_s,
                  const struct monitor_input *in);
/* Manual "synchronise": SoC 100 %. */
void monitor_sync(struct monitor *m, int64_t wall_s);
/* Manual set, 0..10000 cpct; -EINVAL otherwise (nothing changed). */
int monitor_set_soc(struct monitor *m, int32_t soc_cpct);
void monitor_reset_history(struct monitor *m);

/* SoC in 0.01 %, rounded and clamped; *known false while unknown. */
int32_t monitor_soc_cpct(const struct monitor *m, bool *known);
/* Incremented at every synchronisation and manual set. */
uint32_t monitor_soc_events(const struct monitor *m);
double monitor_consumed_ah(const struct monitor *m);
/* Seconds left to the discharge floor, or -ENODATA while unknown. */
int monitor_time_remaining_s(const struct monitor *m, uint64_t now_us, int64_t *out_s);
/* The mean Peukert-corrected discharge current of the last 3 min (positive =
 * discharge), or -ENODATA when there is no sample in the window. */
int monitor_mean_discharge_ma(const struct monitor *m, uint64_t now_us, double *out_ma);
enum balancer_status monitor_balancer_status(const struct monitor *m, int64_t wall_s);
/* Checks a saved SoC state: 0 or -EINVAL. */
int monitor_soc_check(const struct monitor_soc *soc);
