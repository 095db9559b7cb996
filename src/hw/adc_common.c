/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <string.h>

#include "hw/adc.h"

static const char *const signal_names[ADC_SIGNAL_COUNT] = {
        [ADC_BANK] = "bank",
        [ADC_REMOTE_H] = "remote-h",
        [ADC_REMOTE_L] = "remote-l",
        [ADC_CHARGE_READBACK] = "charge-readback",
};

const char *adc_signal_name(enum adc_signal s)
{
	return (unsigned)s < ADC_SIGNAL_COUNT ? signal_names[s] : "invalid";
}

void adc_config_defaults(struct adc_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->uri, sizeof(cfg->uri), "local:");
	snprintf(cfg->device, sizeof(cfg->device), "ads1015");
	for (unsigned i = 0; i < ADC_SIGNAL_COUNT; i++) {
		snprintf(cfg->channel[i], sizeof(cfg->channel[i]), "voltage%u", i);
		cfg->divider_milli[i] = 21000;
	}
	cfg->range_mv = 4096;
	cfg->resolution_bits = 0; /* from the driver */
}
