/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The protection state machine (docs/protection.md): a step function. The caller
 * passes the time and a snapshot of every input; the step decides the
 * outputs, the LEDs, the active codes and why each output is open. No I/O,
 * no clock: the daemon arms a timer at protection_next_deadline_us() so
 * that rules act on the clock, not on the next reading.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bank_extremes.h"
#include "core/leds.h"
#include "core/protection_rules.h"
#include "core/protection_settings.h"
#include "core/remote.h"

#define PROTECTION_MAX_BATTERIES 50
#define PROTECTION_MAX_CELLS     16
#define PROTECTION_MAX_TEMPS     4
#define PROTECTION_CELL_NA       0xFFFF
#define PROTECTION_TEMP_NA       0x7FFF
#define PROTECTION_SAVE_BELOW_MV 9000

struct protection_battery {
	bool has_status;         /* a valid STATUS was ever received */
	uint64_t last_status_us; /* time of the last valid STATUS */
	bool count_mismatch;     /* STATUS cell/sensor count differs from INFO */
	bool fault;              /* internal fault (E4) */
	bool hard_ov, hard_uv;
	bool fw_update; /* STATUS update flag */
	bool balancing; /* for the monitor; not a protection input */
	/* Set by the firmware updater during its windows (docs/protection.md 9: the
	 * 10 s after FW_END, the 120 s after a failure): staleness does not
	 * trip, but nothing releases on this battery's data either. */
	bool stale_exempt;
	uint8_t n_cells, n_temps;
	uint16_t cell_mv[PROTECTION_MAX_CELLS]; /* PROTECTION_CELL_NA: not available */
	int16_t temp_dc[PROTECTION_MAX_TEMPS];  /* PROTECTION_TEMP_NA: not available */
};

struct protection_input {
	uint8_t n_batteries;
	struct protection_battery bat[PROTECTION_MAX_BATTERIES];
	bool enumerated;     /* cold-start enumeration done */
	bool chain_open;     /* E2: no CHAIN_END */
	bool enum_failed;    /* E2 */
	bool bank_changed;   /* E3, until the installer accepts */
	bool more_batteries; /* W8 */
	bool topology_bad;   /* E6 */
	uint8_t series_s;    /* S */
	uint8_t cells_per_battery;
	bool bank_mv_valid; /* ADC bank channel; invalid = E8 */
	int32_t bank_mv;
	bool remote_vh_valid, remote_vl_valid;
	int32_t remote_vh_mv, remote_vl_mv;
	bool readback_valid;
	int32_t readback_mv;
	bool soc_known;
	int32_t soc_cpct;        /* 0.01 % */
	uint32_t soc_sync_count; /* increments at each synchronisation or manual set */
	bool current_valid;
	int32_t current_ma; /* positive = charging */
	int32_t capacity_ah;
	bool fw_running;
	bool fw_failed;
	uint64_t fw_failed_since_us;
	bool adc_fallback;      /* W6 */
	bool record_unreadable; /* E9 */
	enum bt_state bt;
	/* The cell and temperature extremes over every battery with a STATUS
	 * (stale ones included, section 0), kept by the caller one reading at
	 * a time (core/bank_extremes.h). false: the step scans every cell. */
	bool have_extremes;
	struct bank_extreme extremes[BANK_EXT_DIMS];
};

/* The reading that tripped a rule. */
struct protection_reading {
	int32_t value;
	const char *unit;
	int16_t battery; /* -1: bank-wide */
	int16_t index;   /* cell or sensor; -1 where it does not apply */
};

struct protection_hold {
	enum protection_rule_id rule;
	int code; /* enum bms_code or PROTECTION_NO_CODE */
	const char *name;
	uint64_t since_us;
	struct protection_reading reading;
	bool latched; /* anti-chatter (W3) */
};

struct protection_output_report {
	bool closed;
	uint64_t since_us; /* open or closed since */
	unsigned n_holds;
	struct protection_hold holds[PROT_RULE_COUNT];
};

enum protection_output_id {
	PROT_OUT_ATD,
	PROT_OUT_ATC,
	PROT_OUT_PREALARM,
	PROT_OUT_COUNT,
};

_Static_assert(PROT_RULE_COUNT <= 32, "latched_rules is a uint32_t mask of rule ids");

struct protection_output {
	bool atd_closed;
	bool atc_closed;
	bool prealarm_active;
	enum led_mode blue, red;
	uint32_t codes; /* BMS_CODE_BIT mask */
	/* Per output. For the pre-alarm, "closed" means inactive and the holds
	 * are its causes (W1, W2, E7, rules counting towards ATD). */
	struct protection_output_report report[PROT_OUT_COUNT];
	bool request_poweroff;
	bool remote_on;
	bool lead_complete;
	/* docs/board.md: the bank voltage has just fallen below 9.0 V: save the
	 * state record now (true for the one step of the fall). */
	bool save_record;
	uint32_t latched_rules; /* rule-id mask of anti-chatter latches */
};

enum protection_phase {
	PROT_PH_CLEAR,
	PROT_PH_PENDING, /* trip condition holds: counting, or waiting for the lead */
	PROT_PH_TRIPPED,
};

struct protection_rule_state {
	uint8_t phase; /* enum protection_phase */
	bool latched;
	bool release_running;
	bool lead_wait;    /* PROT_F_LEAD_ON_SET: this trip waits for the lead */
	uint8_t n_chatter; /* recent clear-to-tripped transitions kept (< PROT_CHATTER_COUNT) */
	uint64_t trip_start_us;
	uint64_t tripped_since_us;
	uint64_t release_start_us;
	uint64_t chatter_us[PROT_CHATTER_COUNT - 1];
	uint32_t sync_count_at_trip;
	struct protection_reading reading;
};

enum protection_start {
	PROT_START_COLD,    /* both outputs open until enumerated and all fresh */
	PROT_START_RESUMED, /* restart: ATC open until all fresh */
	PROT_START_RUNNING,
};

/* Fields are private to the protection core; the struct is public so that
 * callers can keep it in their own memory. */
struct protection {
	struct protection_settings settings;
	struct remote remote;
	uint8_t start; /* enum protection_start */
	struct protection_rule_state rule[PROT_RULE_COUNT];
	bool prealarm_on;
	uint64_t prealarm_since_us;
	bool drain_running;
	uint64_t drain_since_us;
	bool poweroff_running;
	uint64_t poweroff_since_us;
	bool atd_closed, atc_closed;
	bool bank_low;
	uint64_t atd_since_us, atc_since_us, prealarm_change_us;
	uint64_t next_deadline_us;
	/* Batteries fresh on real data at the last step (bit = index), saved
	 * for the next instance's staleness window. */
	uint64_t fresh_mask;
	uint8_t fresh_n;
	/* After a resume: the saved fresh batteries count as not stale until
	 * resume_until_us (docs/protection.md section 11). */
	uint64_t resume_mask;
	uint8_t resume_n;
	uint64_t resume_until_us;
	/* PROT_T_ATD/ATC: found open on the adopted lines after a resume. */
	uint8_t resume_open;
	/* What the last step saw, to tell a manual set or a floor change from a
	 * discharge (PROT_F_LEAD_ON_SET). */
	bool soc_seen;
	uint32_t soc_seen_sync_count;
	int32_t soc_seen_floor_pct;
};

_Static_assert(PROTECTION_MAX_BATTERIES <= 64, "fresh_mask is a uint64_t mask of batteries");

/* settings must be valid (protection_settings_validate); -ERANGE otherwise.
 * remote_debounce_ms < 0 selects the default 200 ms. */
int protection_init(struct protection *p, const struct protection_settings *s,
                    int32_t remote_debounce_ms);
struct protection *protection_new(const struct protection_settings *s, int32_t remote_debounce_ms);
void protection_free(struct protection *p);
/* Validates the whole candidate and swaps it in, or changes nothing. */
int protection_set_settings(struct protection *p, const struct protection_settings *s, char *err,
                            size_t errlen);
const struct protection_settings *protection_get_settings(const struct protection *p);

void protection_step(struct protection *p, uint64_t now_us, const struct protection_input *in,
                     struct protection_output *out);
/* The next time a timer completes (a delay, hold, lead, staleness ...) so
 * the daemon steps then; UINT64_MAX when nothing is pending. */
uint64_t protection_next_deadline_us(const struct protection *p);

/* docs/protection.md section 9: a battery firmware update may start only while
 * no alarm or error is active (out: the last step's output) and every cell
 * is known and at or above the pre-alarm level. 0, or -EBUSY. */
int protection_fw_update_allowed(const struct protection *p, const struct protection_input *in,
                                 const struct protection_output *out);

/* Persistence of rule states (docs/protection.md section 11), an opaque section
 * of the state record. Little-endian, field by field. */
#define PROTECTION_PERSIST_MAX 4096
int protection_persist_encode(const struct protection *p, uint64_t now_us, uint8_t *buf,
                              size_t cap);
int protection_persist_check(const uint8_t *buf, size_t len);
/* adopted: this instance took over the previous instance's output lines
 * (the fd store); it resumes. Otherwise it is a cold start with the saved
 * states, latches and countdowns restored (docs/protection.md section 4). */
int protection_persist_apply(struct protection *p, uint64_t now_us, const uint8_t *buf, size_t len,
                             bool adopted);
/* After a resume: the levels found on the adopted lines (closed = driven).
 * An output found open stays open until the first complete fresh data set,
 * on which the rules of that output start tripped without their delay
 * (the record may be older than the lines: a crash before its save). */
void protection_adopted_outputs(struct protection *p, bool atd_closed, bool atc_closed);

/* The text of an active code for the journal, D-Bus and the phone: its
 * summary (docs/protection.md section 8); for W3 "chattering: <rule>[, <rule>]"
 * with every latched rule (section 5). -ENOENT when the code is not active
 * in out, -ENOBUFS when buf is too short (nothing useful written). */
int protection_code_text(const struct protection_output *out, enum bms_code code, char *buf,
                         size_t len);
