/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's events: one line each, "smallbmsd: <event>: <details>" on
 * stderr, or a structured journal entry with a MESSAGE_ID per event class
 * when stderr is the journal (JOURNAL_STREAM names stderr's device:inode).
 * The MESSAGE_IDs below are stable; the message catalog lists them.
 */
#pragma once

#include <stdbool.h>

#include "common/macro.h"

enum event_class {
	EV_OUTPUT_OPENED, /* "output load-disconnect|charge-disconnect opened: <why>" */
	EV_OUTPUT_CLOSED, /* "output load-disconnect|charge-disconnect closed" */
	EV_PREALARM,      /* "pre-alarm on: <why>" / "pre-alarm off" */
	EV_BATTERY,       /* "battery found|lost|replaced: <address> <serial>" */
	EV_BANK,          /* "bank changed: ...", "bank stored: ...", "bank topology: ..." */
	EV_SETTINGS,      /* "settings changed: name=value ..." */
	EV_SYNCHRONISED,  /* "synchronised: SoC 100 %" */
	EV_ERROR_CODE,    /* "error E1: battery data stale" (an E code became active) */
	EV_CODE,          /* "warning W6: ..." / "alarm A1: ..." / "cleared E1: ..." */
	EV_DEVICE,        /* "bus: ...", "adc: ...", "outputs: ..." (device missing, retrying) */
	EV_STATE,         /* "state: ..." (state record loaded, saved, unreadable) */
	EV_LIFECYCLE,     /* "ready", "stopping" */
	EV_POWEROFF,      /* "power-off: ..." (the low-power shutdown, docs/protection.md 10) */
	EV_FW_STARTED,    /* "firmware update started: battery N <serial> X.Y.Z -> X.Y.Z" */
	EV_FW_SUCCEEDED,  /* "firmware update succeeded: battery N <serial> runs X.Y.Z" */
	EV_FW_FAILED,     /* "firmware update failed: battery N <serial>: <reason>" (E5) */
	EV_FW_CANCELLED,  /* "firmware update cancelled|refused: battery N <serial> ..." */
	EV_CLASS_COUNT,
};

/* The journal MESSAGE_ID (32 hex digits) of each class, one line each:
 * EV_OUTPUT_OPENED  8539ef43ce0d4b9e9b61743c1ddfb2a3  an output opened, with the rules and reading
 * EV_OUTPUT_CLOSED  e0873be13b9e4c3ab87e5e9e286b5ce1  an output closed again
 * EV_PREALARM       f55434dfa18240668b99dbcdb9241b47  the pre-alarm output turned on or off
 * EV_BATTERY        e3803f27b7fb4ec692ae83ef3571a196  a battery joined, answered again, was lost or
 * replaced EV_BANK           83c16f3c1ba64764b9f3ba1c66506c22  bank identity stored, changed (E3),
 * more batteries (W8), topology EV_SETTINGS       3105bd430b1d460a8b169c72fbce446d  BMS settings
 * changed EV_SYNCHRONISED   a81d95b595754725931cdb5197063154  SoC synchronised to 100 %
 * EV_ERROR_CODE     0f4408e3d9914ed3960b17fa4481af37  an error code (E1..E9) became active
 * EV_CODE           6d19bf49e3e44ecca8ad6a9cf16d1fb0  a warning or alarm became active, or any code
 * cleared EV_DEVICE         bda6d4f1866b4d938bdc3656743424da  a device (bus port, ADC, GPIO) is
 * missing or back EV_STATE          e2e35a09d34f42b09cfcd2c02cfaac82  the state record was loaded,
 * was unreadable (E9) or failed to save EV_LIFECYCLE      491e1c1090ee43eab8f01454790b3e59  daemon
 * ready, stopping EV_POWEROFF       99cad35b78984b13ac65d3ad177f3c04  the low-power shutdown:
 * due (why), logind asked, refused (retried), accepted, or called off
 * EV_FW_STARTED     2830b3f4a0604289b9351e16df09c88c  a battery firmware update started
 * EV_FW_SUCCEEDED   6bf2fbafc0434f2abd78855c8c920bb0  a battery runs its new firmware
 * EV_FW_FAILED      df5545da31a34f7c9577b054132086c0  a battery firmware update failed (E5)
 * EV_FW_CANCELLED   041bc53acf854e0cba374225ab93cef8  an update was cancelled or refused
 */
const char *event_message_id(enum event_class c);

struct events {
	bool journal; /* stderr is the journal: use sd_journal_send */
};

/* Decides the sink from JOURNAL_STREAM and stderr. */
void events_init(struct events *ev);

/* Logs "<event>" or "<event>: <details>"; details may be NULL. prio is a
 * syslog priority (LOG_INFO, LOG_WARNING, ...). */
void events_log(const struct events *ev, enum event_class c, int prio, const char *event,
                const char *details_fmt, ...) _printf_(5, 6);
