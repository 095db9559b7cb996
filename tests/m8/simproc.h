/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runs the real smallbms-sim behind its pty and control socket, and drives
 * a bus master in real time with a small poll() loop. Shared by the master's
 * integration tests and its benchmark.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "m8/master.h"

struct simproc {
	pid_t pid;
	int out_fd; /* the simulator's stdout */
	char dir[64];
	char pty[128];
	char control[96];
	char link[96];
};

uint64_t sim_now_us(void);
/* The simulator for a benchmark: arg when given and not empty, else
 * ../src/sim/smallbms-sim beside this program (a build directory's
 * layout); 0 when it is executable, else -errno with the reason on stderr. */
int sim_exe_path(const char *arg, char *out, size_t cap);
/* A private directory for the control socket and link; link is dir/tty. */
int sim_dir_init(struct simproc *sp);
void sim_dir_cleanup(struct simproc *sp);
/* Starts exe with the control socket and link in sp->dir plus the extra
 * arguments (NULL-terminated); waits for `ready`. Returns 0 or -errno. */
int sim_start(struct simproc *sp, const char *exe, const char *const *extra);
/* Sends one control command; reply (may be NULL) receives the line.
 * Returns 0 for `ok`, -EPROTO for `error: ...`, other -errno. */
int sim_ctl(struct simproc *sp, const char *cmd, char *reply, size_t cap);
/* Asks the simulator to quit and reaps it (SIGKILL after 3 s). */
void sim_stop(struct simproc *sp);

/* Runs the master for dt_us of real time. */
void sim_drive(struct m8_master *m, uint64_t dt_us);
/* Runs until pred(m, arg) holds or timeout_us passes; returns the result. */
bool sim_drive_until(struct m8_master *m, uint64_t timeout_us,
                     bool (*pred)(struct m8_master *m, void *arg), void *arg);
