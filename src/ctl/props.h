/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's objects as C structs, decoded from the a{sv} of GetAll and
 * GetManagedObjects. Strings and fixed arrays point into the reply message,
 * which each struct keeps a reference to until its _done().
 * A property missing from the reply, or of another type than the API
 * states, is left at its zero value (so a newer daemon does not break an
 * older client).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ctl/format.h"

#define CTL_BUS_NAME        "org.smallbms"
#define CTL_ROOT_PATH       "/org/smallbms"
#define CTL_SETTINGS_PATH   "/org/smallbms/settings"
#define CTL_HISTORY_PATH    "/org/smallbms/history"
#define CTL_BATTERY_PREFIX  "/org/smallbms/battery/"
#define CTL_BLUETOOTH_PATH  "/org/smallbms/bluetooth"
#define CTL_BMS_IFACE       "org.smallbms.Bms1"
#define CTL_SETTINGS_IFACE  "org.smallbms.Settings1"
#define CTL_HISTORY_IFACE   "org.smallbms.History1"
#define CTL_BATTERY_IFACE   "org.smallbms.Battery1"
#define CTL_BLUETOOTH_IFACE "org.smallbms.Bluetooth1"

struct ctl_output {
	bool closed; /* PreAlarm: sounding */
	uint64_t since_wall_us;
	int64_t seconds;
	struct ctl_reason *reasons;
	size_t n_reasons;
};

struct ctl_code {
	uint8_t code;
	const char *name;
	const char *text;
};

struct ctl_codes {
	struct ctl_code *v;
	size_t n;
};

struct ctl_bms {
	sd_bus_message *msg;
	bool soc_known;
	int32_t soc_cpct;
	bool measurements_valid;
	int32_t voltage_mv;
	int32_t current_ma;
	int64_t power_mw;
	int64_t consumed_mah;
	bool time_remaining_known;
	int64_t time_remaining_s;
	uint16_t min_cell_mv, max_cell_mv;
	int16_t min_temp_dc, max_temp_dc;
	struct ctl_output load, charge, prealarm;
	struct ctl_codes codes;
	const char *blue_led, *red_led;
	bool remote_on;
	bool remote_wired, readback_wired;
	const char *balancer;
	bool bank_changed;
	bool topology_valid;
	const char *topology_error;
	uint32_t batteries, series, parallel;
	uint8_t battery_type;
	uint32_t cells_per_battery, cells_in_series, capacity_ah, nominal_voltage_mv;
	bool bus_port_open, bus_enumerated, bus_chain_open, bus_enumeration_failed;
	uint64_t bus_cycles, bus_last_cycle_us;
	const char *bus_error;
	const char *bluetooth;
};

struct ctl_u16s {
	const uint16_t *v;
	size_t n;
};

struct ctl_i16s {
	const int16_t *v;
	size_t n;
};

struct ctl_strv {
	char **v;
	size_t n;
};

struct ctl_battery {
	sd_bus_message *msg;
	uint8_t address;
	const char *serial;
	uint8_t type;
	uint16_t capacity_ah;
	const char *firmware;
	uint16_t max_charge_a, max_charge_pulse_a, max_discharge_a, max_discharge_pulse_a;
	bool has_status;
	uint16_t voltage_mv;
	int32_t current_ma;
	struct ctl_u16s cells_mv;
	struct ctl_i16s temps_dc;
	struct ctl_strv flags;
	bool fresh, lost;
	uint64_t last_status_wall_us;
	uint64_t requests, timeouts, crc_errors, naks;
};

struct ctl_last_error {
	uint8_t code;
	const char *name;
	uint64_t wall_us;
};

struct ctl_last_errors {
	struct ctl_last_error *v;
	size_t n;
};

struct ctl_history {
	sd_bus_message *msg;
	int64_t deepest_discharge_mah, total_drawn_mah, discharged_wh, charged_wh;
	uint32_t synchronisations, charge_cycles;
	uint64_t last_full_charge_wall_us;
	int32_t min_bank_mv, max_bank_mv, min_cell_mv, max_cell_mv;
	int32_t min_temp_dc, max_temp_dc;
	struct ctl_last_errors last_errors;
};

struct ctl_bonded {
	const char *address;
	const char *name;
};

struct ctl_bondeds {
	struct ctl_bonded *v;
	size_t n;
};

struct ctl_bluetooth {
	sd_bus_message *msg;
	const char *state; /* off, advertising, connected */
	bool adapter_present;
	const char *address; /* "" without an adapter */
	bool encrypted;
	bool pairing_open;             /* a pairing window is open */
	uint32_t pairing_seconds_left; /* 0 while closed */
	struct ctl_bondeds bonded;     /* as BlueZ reports them paired */
};

/* Decode an a{sv} at the read position of m into the struct; the struct
 * takes a reference to m. 0 or a negative errno (malformed message). */
int ctl_bms_read(sd_bus_message *m, struct ctl_bms *b);
int ctl_battery_read(sd_bus_message *m, struct ctl_battery *b);
int ctl_history_read(sd_bus_message *m, struct ctl_history *h);
int ctl_bluetooth_read(sd_bus_message *m, struct ctl_bluetooth *bt);

void ctl_bms_done(struct ctl_bms *b);
void ctl_battery_done(struct ctl_battery *b);
void ctl_history_done(struct ctl_history *h);
void ctl_bluetooth_done(struct ctl_bluetooth *bt);

/* The batteries of a GetManagedObjects reply, sorted by address. */
int ctl_batteries_read(sd_bus_message *m, struct ctl_battery **ret, size_t *n);
void ctl_batteries_free(struct ctl_battery *v, size_t n);
