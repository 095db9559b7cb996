/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The battery firmware updater in the daemon (daemon_fw.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fw_image.h"
#include "core/fw_updater.h"
#include "smallbms/m8_proto.h"

struct daemon;

struct daemon_fw {
	struct fw_updater u;
	uint8_t *buf; /* the image file of the job (u.img.data points into it) */
	size_t len;
	char serial[M8_SERIAL_LEN + 1]; /* of the battery being updated */
	bool have_job;
	uint8_t reported_state; /* enum fw_job_state last journaled */
	bool pump;              /* a result came in: hand out the next request */
};

void daemon_fw_init(struct daemon_fw *fw);
void daemon_fw_free(struct daemon_fw *fw);
/* Before the protection step: timers, the battery still the one being
 * updated, and the updater's part of the protection input. */
void daemon_fw_before_step(struct daemon *d, uint64_t now);
/* After the protection step and after every bus event: the next request to
 * the bus master, and the journal. */
void daemon_fw_pump(struct daemon *d, uint64_t now);
int daemon_fw_start(struct daemon *d, unsigned addr, int fd, char *err, size_t errlen);
int daemon_fw_cancel(struct daemon *d, char *err, size_t errlen);
int daemon_fw_clear_failure(struct daemon *d, char *err, size_t errlen);
/* An update runs (from this daemon, or flagged by a battery's STATUS). */
bool daemon_fw_busy(const struct daemon *d);
/* At start: a failure still pending (E5 and its age) and a job that was
 * running when the daemon stopped, from the state record. */
void daemon_fw_resume(struct daemon *d, uint64_t now);
