/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control socket: a unix stream socket taking one command a line and
 * answering each with one line (`ok`, `ok <data>` or `error: <reason>`). */
#pragma once

#include <systemd/sd-event.h>

#include "sim/bus.h"
#include "sim/world.h"

#define SIM_CTL_MAX_CLIENTS 16
#define SIM_CTL_LINE_MAX    512

struct sim_ctl_client {
	struct sim_ctlsock *owner;
	sd_event_source *io;
	int fd;
	size_t have;
	bool overlong; /* skipping the rest of a line that was too long */
	char buf[SIM_CTL_LINE_MAX];
};

struct sim_ctlsock {
	sd_event *event;
	sd_event_source *listen_io;
	int listen_fd;
	char *path;
	struct sim_world *world;
	struct sim_bus *bus;
	struct sim_ctl_client clients[SIM_CTL_MAX_CLIENTS];
};

int sim_ctlsock_open(struct sim_ctlsock *cs, sd_event *e, const char *path, struct sim_world *w,
                     struct sim_bus *bus);
/* Closes every connection and removes the socket file. */
void sim_ctlsock_close(struct sim_ctlsock *cs);
/* After a command changed the world: send the garbage it asked for, and
 * leave the event loop on quit. Shared with the scenario runner. */
void sim_after_command(sd_event *e, struct sim_world *w, struct sim_bus *bus);
