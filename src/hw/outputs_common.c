/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <string.h>

#include "hw/outputs.h"

static const char *const line_names[OUTPUT_LINE_COUNT] = {
        [OUTPUT_LOAD_DISCONNECT] = "load-disconnect",
        [OUTPUT_CHARGE_DISCONNECT] = "charge-disconnect",
        [OUTPUT_PRE_ALARM] = "pre-alarm",
        [OUTPUT_LED_BLUETOOTH] = "led-bluetooth",
        [OUTPUT_LED_ERROR] = "led-error",
        [OUTPUT_HEARTBEAT] = "heartbeat",
};

const char *output_line_name(enum output_line line)
{
	return (unsigned)line < OUTPUT_LINE_COUNT ? line_names[line] : "invalid";
}

const char *output_state_word(enum output_line line, bool active)
{
	switch (line) {
	case OUTPUT_LOAD_DISCONNECT:
	case OUTPUT_CHARGE_DISCONNECT:
		return active ? "closed" : "open";
	case OUTPUT_PRE_ALARM:
		return active ? "active" : "inactive";
	case OUTPUT_LED_BLUETOOTH:
	case OUTPUT_LED_ERROR:
		return active ? "lit" : "dark";
	default:
		return active ? "high" : "low";
	}
}

void outputs_config_defaults(struct outputs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->dev_dir, sizeof(cfg->dev_dir), "/dev");
	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++) {
		snprintf(cfg->line[i].name, sizeof(cfg->line[i].name), "%s", line_names[i]);
		cfg->line[i].offset = -1;
	}
}
