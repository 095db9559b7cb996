/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scenario files: the control commands, one a line, plus `wait SECONDS`
 * (simulated seconds, so a script means the same at any --time-scale) and
 * comments from `#` to the end of the line. The whole file is checked before
 * anything runs.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sim/control.h"

struct sim_scenario_step {
	struct sim_cmd cmd;
	unsigned line;
	char text[48]; /* for the log, cut short when longer */
};

struct sim_scenario {
	char *name;
	struct sim_scenario_step *steps;
	size_t n_steps;
	size_t next;
};

/* Parses a script held in text. On error returns -EINVAL (or -ENOMEM) with
 * "NAME:LINE: reason" in err and *s left empty. */
int sim_scenario_parse(struct sim_scenario *s, const char *name, const char *text, unsigned n,
                       unsigned cells, unsigned sensors, char *err, size_t errlen);
/* Reads and parses a file; -errno when it cannot be read. */
int sim_scenario_load(struct sim_scenario *s, const char *path, unsigned n, unsigned cells,
                      unsigned sensors, char *err, size_t errlen);
void sim_scenario_free(struct sim_scenario *s);

/* Applies steps until a wait (returns its length in simulated us, > 0 or
 * 1 for `wait 0`), the end of the script or a quit (returns 0). */
uint64_t sim_scenario_run(struct sim_scenario *s, struct sim_world *w);
bool sim_scenario_done(const struct sim_scenario *s);
