/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The board's 4-channel ADC (docs/board.md), behind an ops struct. Readings are
 * terminal voltages in integer mV: (raw + offset) x scale x divider. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum adc_signal {
	ADC_BANK,            /* Bat+ to Bat- */
	ADC_REMOTE_H,        /* Remote H terminal */
	ADC_REMOTE_L,        /* Remote L terminal */
	ADC_CHARGE_READBACK, /* Charge disconnect terminal */
	ADC_SIGNAL_COUNT
};

const char *adc_signal_name(enum adc_signal s);

#define ADC_URI_MAX  256
#define ADC_NAME_MAX 64

struct adc_config {
	char uri[ADC_URI_MAX];                        /* any libiio URI; "local:" on the board */
	char device[ADC_NAME_MAX];                    /* IIO device name, "ads1015" */
	char channel[ADC_SIGNAL_COUNT][ADC_NAME_MAX]; /* "voltage0".."voltage3" */
	uint32_t divider_milli[ADC_SIGNAL_COUNT];     /* 21.0 -> 21000 */
	/* The range to select: the scale_available entry whose full scale,
	 * scale x 2^(bits - 1) (signed data; 2^bits unsigned), is range_mv
	 * (+-4.096 V: 2 mV a count on the 12-bit ADS1015, 0.125 mV on the
	 * 16-bit ADS1115). bits comes from the driver: the channel's data
	 * format (scan_elements/in_voltageX_type). */
	uint32_t range_mv;
	/* 0: take the resolution from the driver. Set: a cross-check that the
	 * driver must agree with (open fails when it does not), and the
	 * resolution of a driver that publishes no data format. */
	uint32_t resolution_bits;
};

/* Bounds that keep the 64-bit arithmetic exact. */
#define ADC_MAX_BITS     24
#define ADC_MAX_RANGE_MV 100000

void adc_config_defaults(struct adc_config *cfg);

enum adc_status {
	ADC_VALID,
	ADC_MISSING,    /* channel not present on the device */
	ADC_READ_ERROR, /* the read failed; error holds the errno */
	ADC_CLIPPED,    /* at or above 98 % of full scale: E8 */
	ADC_IMPLAUSIBLE /* not a number, beyond the data format, or clearly below 0 V */
};

struct adc_reading {
	enum adc_status status;
	int error;   /* negative errno for ADC_READ_ERROR, else 0 */
	int32_t mv;  /* terminal voltage, only when status == ADC_VALID */
	int64_t raw; /* last raw value read (diagnostics) */
};

struct adc;

struct adc_ops {
	const char *name;
	/* Opens the context and sets each present channel's range, checking
	 * that it took (-EIO when not). On failure, why (why_len bytes, may be
	 * NULL) names the operation that failed, e.g. "writing \"2\" to
	 * in_voltage0_scale: Permission denied". */
	int (*open)(const struct adc_config *cfg, struct adc **ret, char *why, size_t why_len);
	/* One reading per signal; returns 0 even when some are invalid, a
	 * negative errno only when nothing could be attempted. */
	int (*read)(struct adc *adc, struct adc_reading out[ADC_SIGNAL_COUNT]);
	void (*close)(struct adc *adc);
};

struct adc {
	const struct adc_ops *ops;
};

extern const struct adc_ops adc_iio_ops;

/* Parses a decimal such as "0.125000" or "-3" into an integer scaled by
 * 10^decimals, rounding the rest; trailing whitespace allowed. */
int adc_parse_fixed(const char *s, unsigned decimals, int64_t *ret);

/* Terminal mV from raw, offset (milli-counts), scale (pV a count, i.e. the
 * sysfs mV value x 10^9) and divider (milli); 64-bit integer math. */
int64_t adc_terminal_uv(int64_t raw, int64_t offset_mcount, int64_t scale_pv,
                        uint32_t divider_milli);
