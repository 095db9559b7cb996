/* SPDX-License-Identifier: GPL-2.0-or-later */
/* smallbmsd's configuration: DIR/smallbmsd.conf, then DIR/smallbmsd.conf.d/
 * *.conf in lexical order, a later value replacing an earlier one. Every key
 * is documented in conf/smallbmsd.conf. A bad file, an unknown section or
 * key, or a bad value is refused with its file, line and reason, and nothing
 * of it is applied: the daemon then does not start. */
#pragma once

#include <limits.h>
#include <stdbool.h>

#include "hw/adc.h"
#include "hw/outputs.h"
#include "mqtt/mqtt_config.h"

#define CONFIG_DIR_DEFAULT "/etc/smallbms"
/* [bus] min-cycle-ms: the shortest poll cycle; polling is otherwise
 * continuous (docs/m8bus.md section 7 bounds a cycle at 1.0 s). */
#define CONFIG_MIN_CYCLE_MS_DEFAULT 100
#define CONFIG_MIN_CYCLE_MS_MIN     20
#define CONFIG_MIN_CYCLE_MS_MAX     1000

enum outputs_backend {
	OUTPUTS_BACKEND_GPIOD,
	OUTPUTS_BACKEND_DRYRUN,
};

/* [outputs] power-off: whether the low-power shutdown (docs/protection.md
 * section 10) asks logind to power off. auto: yes, except with the dry-run
 * backend (a dry run sits beside a real system). */
enum power_off_mode {
	POWER_OFF_AUTO,
	POWER_OFF_YES,
	POWER_OFF_NO,
};

struct bms_config {
	char bus_port[PATH_MAX];              /* [bus] port */
	unsigned min_cycle_ms;                /* [bus] min-cycle-ms */
	struct adc_config adc;                /* [adc] */
	enum outputs_backend outputs_backend; /* [outputs] backend */
	struct outputs_config outputs;        /* [outputs] chip and lines */
	enum power_off_mode power_off;        /* [outputs] power-off */
	char state_dir[PATH_MAX];             /* [state] directory */
	struct mqtt_config mqtt;              /* [mqtt]: off unless uri is set */
	bool loop_stats;                      /* --loop-stats (not in the files) */
};

struct config_error {
	char file[PATH_MAX];
	unsigned line; /* 0 when the error is not on one line */
	char reason[256];
	char message[PATH_MAX + 300]; /* "FILE:LINE: reason" */
};

/* The docs/board.md defaults. */
void config_defaults(struct bms_config *cfg);

/* Reads the files under dir (CONFIG_DIR_DEFAULT on the board). A missing
 * main file or drop-in directory is not an error. On failure *cfg is left
 * as it was and err (optional) says where and why. */
int config_load(const char *dir, struct bms_config *cfg, struct config_error *err);

/* The channel name that says "not wired" ([adc] remote-h-channel,
 * remote-l-channel, charge-readback-channel; never the bank channel). The
 * remote channels are both "none" or neither: no remote wiring means the
 * terminal is always ON. No read-back wiring means no E7 check. */
#define CONFIG_ADC_NONE "none"
bool config_adc_none(const struct bms_config *cfg, enum adc_signal s);
