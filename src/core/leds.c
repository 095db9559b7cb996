/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/leds.h"

#include "core/codes.h"

bool led_level(enum led_mode mode, uint64_t now_us)
{
	switch (mode) {
	case LED_SOLID:
		return true;
	case LED_BLINK:
		return (now_us / 500000u) % 2 == 0;
	case LED_BLINK_FAST:
		return (now_us / 100000u) % 2 == 0;
	case LED_OFF:
	default:
		return false;
	}
}

enum led_mode led_blue_mode(enum bt_state bt)
{
	switch (bt) {
	case BT_CONNECTED:
		return LED_SOLID;
	case BT_ADVERTISING:
		return LED_BLINK;
	case BT_OFF:
	default:
		return LED_OFF;
	}
}

enum led_mode led_red_mode(bool fw_update_running, uint32_t codes)
{
	if (fw_update_running)
		return LED_BLINK_FAST;
	if (codes & (bms_code_class_mask(BMS_CLASS_ALARM) | bms_code_class_mask(BMS_CLASS_ERROR)))
		return LED_SOLID;
	if (codes & bms_code_class_mask(BMS_CLASS_WARNING))
		return LED_BLINK;
	return LED_OFF;
}
