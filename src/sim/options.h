/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The command line of smallbms-sim. */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "smallbms/m8_proto.h"

struct sim_options {
	const struct m8_model *model;
	unsigned series, parallel;
	const char *link;
	const char *control;
	const char *scenario;
	uint32_t soc_cpct;
	int32_t current_ma;
	uint32_t reply_delay_us;
	uint32_t time_scale_milli;
	uint64_t seed;
	const char *serial_prefix;
	const char *trace; /* --trace FILE: one line per frame on the line */
};

/* Returns 1 to run, 0 after --help or --version (printed to out), -EINVAL
 * for a bad option (explained on err). */
int sim_options_parse(struct sim_options *o, int argc, char **argv, FILE *out, FILE *err);
