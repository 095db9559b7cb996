/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Everything the simulator models, apart from its I/O. */
#pragma once

#include <stdbool.h>

#include "sim/bank.h"
#include "sim/battery.h"

struct sim_world {
	struct sim_bank bank;
	struct sim_chain chain;
	unsigned garbage_pending; /* random bytes the line owes */
	bool quit;
};
