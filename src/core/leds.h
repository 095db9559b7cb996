/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The two LEDs of docs/protection.md section 7: modes and their level in time. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum led_mode {
	LED_OFF,
	LED_SOLID,
	LED_BLINK,      /* 0.5 s on, 0.5 s off */
	LED_BLINK_FAST, /* 0.1 s on, 0.1 s off */
};

enum bt_state {
	BT_OFF,
	BT_ADVERTISING, /* on, no phone connected */
	BT_CONNECTED,
};

/* Lit or dark at now_us; blinking phases start lit at multiples of the period. */
bool led_level(enum led_mode mode, uint64_t now_us);
enum led_mode led_blue_mode(enum bt_state bt);
/* codes: active BMS_CODE_BIT mask. */
enum led_mode led_red_mode(bool fw_update_running, uint32_t codes);
