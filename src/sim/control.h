/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control commands (fault injection and the bank's state), shared by the
 * control socket and the scenario files. A line is parsed and checked in
 * full first, then applied, so bad input changes nothing.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sim/world.h"

#define SIM_MAX_COUNT   1000000 /* K of drop, busy, corrupt ... */
#define SIM_MAX_GARBAGE 65536
#define SIM_MAX_SLOW_US 1000000
#define SIM_MAX_DRIFT   5000
#define SIM_MAX_WAIT_US (24ull * 3600 * 1000000)

enum sim_cmd_kind {
	SIM_CMD_SILENT,
	SIM_CMD_BROWNOUT,
	SIM_CMD_DROP,
	SIM_CMD_GARBLE,
	SIM_CMD_MISS_RESET,
	SIM_CMD_OPEN_CHAIN,
	SIM_CMD_CORRUPT,
	SIM_CMD_GARBAGE,
	SIM_CMD_SLOW,
	SIM_CMD_CELL,
	SIM_CMD_DRIFT,
	SIM_CMD_TEMP,
	SIM_CMD_FLAG,
	SIM_CMD_BUSY,
	SIM_CMD_FW_CORRUPT, /* the next K firmware blocks arrive with a bit flipped */
	SIM_CMD_FW_STUCK,   /* restarts into the old firmware after FW_END (on|off) */
	SIM_CMD_CURRENT,
	SIM_CMD_SOC,
	SIM_CMD_WRONG_SEQ,
	SIM_CMD_WRONG_ADDR,
	SIM_CMD_STATS,
	SIM_CMD_BANK, /* query: bank voltage, current, cell extremes */
	SIM_CMD_QUIT,
	SIM_CMD_WAIT, /* scenario files only */
};

struct sim_cmd {
	enum sim_cmd_kind kind;
	unsigned battery; /* 1-based chain position, or 0 (open-chain) */
	unsigned index;   /* 1-based cell or sensor */
	unsigned flag_bit;
	enum sim_flag_mode flag_mode;
	bool on;       /* silent on, or a pin (cell, temp) rather than `off` */
	int64_t value; /* K, N, US, MV, DC, MA, soc_cpct or wait in simulated us */
};

/* Parses one command line (no comments, not empty) for a bank of n
 * batteries of `cells` cells and `sensors` sensors. On error returns
 * -EINVAL and writes the reason (without "error: ") to err. */
int sim_cmd_parse(const char *line, unsigned n, unsigned cells, unsigned sensors,
                  struct sim_cmd *cmd, char *err, size_t errlen);

/* Applies a parsed command; writes "ok" or "ok <data>" to out. WAIT is the
 * scenario runner's and applies nothing. */
void sim_cmd_apply(struct sim_world *w, const struct sim_cmd *cmd, char *out, size_t outlen);

/* Parse and apply one line of the control socket: writes exactly one reply
 * line (without newline) to out. Returns 0, or -EINVAL when the line was
 * refused (and nothing changed). */
int sim_control_line(struct sim_world *w, const char *line, char *out, size_t outlen);
