/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state record in the state directory (record.h through statefile.h),
 * and when to write it: SoC and history at most once a minute, settings
 * and a newly remembered bank at once, and at stop and when the bank falls
 * below 9.0 V (docs/board.md). An unreadable record (every generation present
 * is refused) leaves the defaults in use and raises E9.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/protection.h"
#include "core/record.h"
#include "store/statefile.h"

#define PERSIST_PERIOD_US (60ull * 1000000ull)

/* The record of a new installation: default settings, SoC unknown, empty
 * history, no bank. */
void persist_record_default(struct record *r);

enum persist_load_result {
	PERSIST_LOADED,     /* a record was read */
	PERSIST_NONE,       /* no record yet: a new installation */
	PERSIST_UNREADABLE, /* records present, none acceptable: E9, defaults */
};

/* Creates the directory (one level) when missing. */
int persist_open(const char *dir, struct statefile **ret);
/* Loads the newest acceptable record into *out, or the defaults; err says
 * why a record was refused. Returns enum persist_load_result or -errno. */
int persist_load(struct statefile *sf, const char *dir, struct record *out, char *err,
                 size_t errlen);
/* Encodes (checking it) and saves r. */
int persist_save(struct statefile *sf, const struct record *r, char *err, size_t errlen);
/* Encodes (checking it) r into buf; its length or -errno. The daemon hands
 * the bytes to its writer thread (saver.h). */
int persist_encode(const struct record *r, uint8_t *buf, size_t cap, char *err, size_t errlen);

/* Why the protection's state must be saved at once (docs/protection.md section
 * 4): an output opened or closed, a latch engaged, or a lead started (the
 * pre-alarm turned active); NULL when none of these happened between the
 * previous step's output (NULL at the first step) and this one. */
const char *persist_trigger(const struct protection_output *before,
                            const struct protection_output *now);

/* The cadence, pure: a save is due when urgent (settings, a new bank, stop,
 * bank low) or when dirty and PERSIST_PERIOD_US passed since the last one
 * (or none was made yet since start). */
struct persist_cadence {
	bool have_saved;
	uint64_t last_save_us;
};

bool persist_due(const struct persist_cadence *c, uint64_t now_us, bool dirty, bool urgent);
void persist_saved(struct persist_cadence *c, uint64_t now_us);
/* When the next periodic save may happen (for a timer). */
uint64_t persist_next_us(const struct persist_cadence *c, uint64_t now_us);
