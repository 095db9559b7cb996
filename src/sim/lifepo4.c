/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim/lifepo4.h"

#include "common/macro.h"

struct ocv_point {
	int32_t soc_ppm;
	unsigned mv;
};

/* Typical LiFePO4 shape: a steep knee below 10 %, a long flat plateau, and a
 * sharp rise in the last percent, continued past 0 % and 100 % so that
 * over-discharge and overcharge reach the batteries' hard limits. */
static const struct ocv_point ocv_curve[] = {
        {-20000, 2000},  {0, 2500},       {10000, 2800},  {30000, 3000},  {50000, 3100},
        {100000, 3200},  {200000, 3250},  {300000, 3265}, {500000, 3290}, {700000, 3310},
        {850000, 3330},  {950000, 3350},  {980000, 3400}, {990000, 3450}, {1000000, 3600},
        {1010000, 3750}, {1020000, 4000},
};

unsigned lifepo4_ocv_mv(int32_t soc_ppm)
{
	size_t i;

	if (soc_ppm <= ocv_curve[0].soc_ppm)
		return ocv_curve[0].mv;
	for (i = 1; i < ELEMENTSOF(ocv_curve); i++) {
		const struct ocv_point *a = &ocv_curve[i - 1], *b = &ocv_curve[i];

		if (soc_ppm <= b->soc_ppm) {
			int64_t span = b->soc_ppm - a->soc_ppm;
			int64_t pos = soc_ppm - a->soc_ppm;

			return a->mv + (unsigned)(((int64_t)(b->mv - a->mv) * pos) / span);
		}
	}
	return ocv_curve[ELEMENTSOF(ocv_curve) - 1].mv;
}
