/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Open-circuit voltage of one LiFePO4 cell as a function of its charge. */
#pragma once

#include <stdint.h>

#define LIFEPO4_SOC_FULL_PPM 1000000
/* The curve is defined a little past empty and full, where real cells go
 * when they are over-discharged or overcharged. */
#define LIFEPO4_SOC_MIN_PPM (-20000)
#define LIFEPO4_SOC_MAX_PPM 1020000

/* Open-circuit voltage in mV for a state of charge in parts per million of
 * the capacity; values outside MIN..MAX are clamped. Never decreases as the charge grows. */
unsigned lifepo4_ocv_mv(int32_t soc_ppm);
