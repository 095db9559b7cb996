/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the daemon shows its front ends (D-Bus, Bluetooth): one plain-data
 * copy of everything an owner or installer may read, filled by the daemon
 * after every evaluation (src/daemon/daemon_snapshot.c). The front ends read
 * only this; they change the BMS only through struct svc_actions
 * (service/actions.h), so D-Bus and Bluetooth share one code path.
 *
 * Times: mono_us is CLOCK_MONOTONIC of the evaluation, wall_us
 * CLOCK_REALTIME at that moment; a monotonic time t converts to wall time as
 * wall_us - (mono_us - t).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/balancer.h"
#include "core/bank.h"
#include "core/history.h"
#include "core/leds.h"
#include "core/protection.h"
#include "core/settings.h"
#include "m8/master.h"
#include "smallbms/m8_proto.h"

#define SVC_MAX_BATTERIES PROTECTION_MAX_BATTERIES

struct svc_battery {
	unsigned addr; /* chain position, 1-based: /org/smallbms/battery/<addr> */
	struct m8_info info;
	bool has_status;
	struct m8_status status; /* the last valid STATUS (when has_status) */
	uint64_t status_us;      /* monotonic time it arrived */
	bool fresh;              /* docs/protection.md section 4 */
	bool lost;
	struct m8_link_stats stats;
};

/* The battery firmware updater (docs/firmware.md). */
struct svc_firmware {
	bool have_job; /* a job since the daemon started */
	unsigned addr; /* its battery */
	char serial[M8_SERIAL_LEN + 1];
	uint8_t state;       /* enum fw_job_state */
	uint8_t failure;     /* enum fw_failure */
	uint32_t bytes_sent; /* confirmed by the battery */
	uint32_t bytes_total;
	uint8_t from_version[3], to_version[3];
	uint64_t started_us, ended_us; /* monotonic */
	bool running;                  /* W7 from this daemon's job */
	bool failed;                   /* E5 pending or active: until a success or a clear */
	unsigned failed_addr;
	uint64_t failed_since_us;
	unsigned flagged_addr; /* a battery reporting an update with no job, 0: none */
};

struct svc_snapshot {
	uint64_t mono_us;
	int64_t wall_us;
	uint64_t generation; /* +1 at every fill */

	/* battery monitor (docs/monitor.md) */
	bool soc_known;
	int32_t soc_cpct; /* 0.01 % */
	double consumed_ah;
	bool time_remaining_known;
	int64_t time_remaining_s;
	bool measure_valid; /* bank voltage and current known */
	int32_t bank_mv;
	int32_t current_ma;                /* positive = charging */
	int64_t power_mw;                  /* bank_mv x current_ma / 1000 */
	uint16_t min_cell_mv, max_cell_mv; /* 0xFFFF: not available */
	int16_t min_temp_dc, max_temp_dc;  /* 0x7FFF: not available */
	enum balancer_status balancer;
	struct history history;
	uint32_t soc_events;

	/* protection (docs/protection.md section 8) */
	bool have_protection;          /* false until the first evaluation */
	struct protection_output prot; /* outputs, holds, codes, LED modes, remote */
	bool remote_on;
	/* "none" in the configuration: the board lacks the remote terminal or
	 * the charge read-back wiring (issue 13 item 10). */
	bool remote_wired, readback_wired;

	/* topology */
	bool have_topology;
	struct bank_topology topo;
	enum bank_error topo_err;
	uint8_t stored_s;  /* S of the remembered bank, 0 when none is remembered */
	bool bank_changed; /* E3: waiting for "accept bank" */

	/* the bus */
	struct m8_bank_state bus;
	unsigned n_batteries;
	struct svc_battery bat[SVC_MAX_BATTERIES];

	/* settings (the registry's values; service/actions.h changes them) */
	struct bms_settings settings;

	enum bt_state bt;

	struct svc_firmware fw;
};
