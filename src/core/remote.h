/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Decoder of the remote on/off terminal (docs/board.md, "Remote on/off
 * terminal"): hysteresis per cause, the VH wiring fault (W4), a debounce on
 * every change of state and the 5 s grace of an unreadable ADC (E8).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define REMOTE_DEBOUNCE_DEFAULT_MS 200
#define REMOTE_L_ON_MV             3500 /* VL below: ON */
#define REMOTE_L_OFF_MV            3700 /* VL above: that cause ends */
#define REMOTE_H_ON_MV             2900 /* VH above (and not above the bank): ON */
#define REMOTE_H_OFF_MV            2700 /* VH below: that cause ends */
#define REMOTE_WIRING_US           1000000ull
#define REMOTE_UNREADABLE_US       5000000ull

struct remote_input {
	bool vh_valid, vl_valid, bank_valid;
	int32_t vh_mv, vl_mv, bank_mv;
};

struct remote {
	int32_t debounce_ms;
	bool known; /* a state has been decided (first reading, or restored) */
	bool on;
	bool l_cause, h_cause; /* hysteresis memory of each ON cause */
	bool candidate_running;
	uint64_t candidate_since_us;
	bool wiring_running;
	uint64_t wiring_since_us;
	bool wiring_fault; /* W4 */
	bool unreadable_running;
	uint64_t unreadable_since_us;
	bool adc_fault; /* E8: unreadable for 5 s */
};

/* debounce_ms < 0 selects the default. */
void remote_init(struct remote *r, int32_t debounce_ms);
/* Starts in a known state without debounce (restart: the saved state). */
void remote_restore(struct remote *r, bool on);
void remote_step(struct remote *r, uint64_t now_us, const struct remote_input *in);
/* ON only when decided ON; an undecided terminal counts OFF. */
bool remote_is_on(const struct remote *r);
/* The next time a pending debounce, W4 or E8 timer completes; UINT64_MAX if none. */
uint64_t remote_next_deadline_us(const struct remote *r);
