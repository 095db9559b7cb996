/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The line at BMS port A: a pty whose slave end the BMS opens. Requests are
 * read and replies written at 115200 baud wire speed (86.8 us a byte), and a
 * partial frame is dropped after 2 ms of idle line (docs/m8bus.md section 1).
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-event.h>

#include "sim/rng.h"
#include "sim/world.h"
#include "smallbms/m8_proto.h"

#define SIM_IDLE_DROP_NS 2000000ull
#define SIM_TXQ_SEGMENTS 512

struct sim_tx_seg {
	uint64_t start_ns; /* earliest start on the line */
	size_t len;
	uint8_t bytes[M8_MAX_FRAME];
};

struct sim_bus {
	sd_event *event;
	sd_event_source *io;
	sd_event_source *tx_timer;
	struct sim_world *world;
	int master_fd;
	int slave_fd; /* held open so the master never sees a hang-up */
	char slave_path[64];

	struct m8_parser parser;
	uint64_t rx_end_ns; /* when the last byte received ended on the wire */

	struct sim_tx_seg txq[SIM_TXQ_SEGMENTS];
	size_t tx_head, tx_count;
	size_t tx_sent;        /* bytes of the head segment written */
	uint64_t tx_begin_ns;  /* when the head segment started, 0 = not yet */
	uint64_t line_free_ns; /* end of the last byte sent */
	struct sim_rng rng;
	FILE *trace; /* --trace: a line per frame, or NULL */
};

/* Opens the pty (both ends raw) and starts serving it on e. */
int sim_bus_open(struct sim_bus *bus, sd_event *e, struct sim_world *w, uint64_t seed);
void sim_bus_close(struct sim_bus *bus);
/* Queues n random bytes, sent now at wire speed. */
int sim_bus_send_garbage(struct sim_bus *bus, unsigned n);
/* Monotonic time in ns and us. */
uint64_t sim_now_ns(void);
