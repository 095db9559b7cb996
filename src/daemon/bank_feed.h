/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Turns what the bus master and the ADC saw into the inputs of the
 * protection and monitor cores (docs/protection.md sections 0 and 4, docs/monitor.md
 * "Bank values"): per-battery cells and flags, the bank's topology and
 * identity, bank current and voltage, the remote terminal and read-back
 * channels. Pure: no I/O, no clock, so every mapping is unit-tested.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/bank.h"
#include "core/bank_extremes.h"
#include "core/monitor.h"
#include "core/protection.h"
#include "hw/adc.h"
#include "m8/master.h"

struct bank_feed_in {
	uint64_t now_us;
	struct m8_bank_state bank;
	/* Batteries at addresses 1..bank.count in bat[0..count-1]. */
	const struct m8_battery *bat[PROTECTION_MAX_BATTERIES];
	bool fresh[PROTECTION_MAX_BATTERIES]; /* m8_master_battery_fresh() */
	bool adc_read; /* adc[] holds this cycle's reading (the ADC is open) */
	struct adc_reading adc[ADC_SIGNAL_COUNT];
	bool remote_none;   /* no remote wiring: the terminal is always ON */
	bool readback_none; /* no read-back wiring: no E7 check */
	bool soc_known;
	int32_t soc_cpct;
	uint32_t soc_events;
	bool record_unreadable;
	enum bt_state bt;      /* the Bluetooth front end's state (blue LED) */
	uint32_t active_codes; /* last protection step's codes, for the monitor */
};

/* What a battery's extremes were last taken from: a reading (its time) and
 * whether it counted. */
struct bank_feed_seen {
	bool counts;
	uint64_t status_us;
};

/* What the feed remembers between calls: the bank's identity (mirrored into
 * the state record by the caller), and the bank's extremes, updated only
 * for the batteries with a new reading or a change of whether they count:
 * for the protection every battery with a STATUS, for the monitor the
 * fresh ones. */
struct bank_feed {
	bool have_identity;
	struct bank_identity identity;
	struct bank_extremes prot_ext, mon_ext;
	struct bank_feed_seen prot_seen[PROTECTION_MAX_BATTERIES];
	struct bank_feed_seen mon_seen[PROTECTION_MAX_BATTERIES];
	uint64_t ext_updates; /* batteries whose extremes were taken anew */
};

struct bank_feed_out {
	struct protection_input pin;
	struct monitor_input min;
	bool have_topology;
	struct bank_topology topo;
	enum bank_error topo_err; /* why no topology or E6 */
	enum bank_id_match match; /* against the remembered bank, when one is */
	bool identity_stored;     /* this call remembered a new bank: save the record */
	bool adc_bank_used;       /* the shown bank voltage is the ADC's (else fallback or none) */
	/* The bank voltage shown (monitor, STATUS, D-Bus): the ADC's when it is
	 * plausible, else S x mean battery voltage (W6). pin.bank_mv is what the
	 * protection uses: every valid ADC reading, plausible or not. */
	bool shown_mv_valid;
	int32_t shown_mv;
};

/* Fresh as docs/protection.md section 4 says: a valid STATUS within the window
 * (timely, m8_master_battery_fresh()), no internal fault, and the chain
 * closed and enumerated: while it is open (E2) every battery is stale. */
bool bank_feed_battery_fresh(const struct m8_bank_state *bank, const struct m8_battery *b,
                             bool timely);
/* Starts with a remembered bank (id may be NULL: first installation). */
void bank_feed_init(struct bank_feed *bf, const struct bank_identity *id);
void bank_feed_update(struct bank_feed *bf, const struct bank_feed_in *in,
                      struct bank_feed_out *out);
