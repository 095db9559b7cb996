/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ADC through libiio: any URI (local:, ip:, usb:, serial:). */
#include <errno.h>
#include <iio.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/adc.h"

/* A pin voltage at or above 98 % of the selected range is clipped (E8). */
#define CLIP_PERCENT 98
/* The dividers go to Bat-, so a pin below -2 % of the range is no voltage the
 * board can make: a broken input or driver. */
#define NEGATIVE_PERCENT 2

struct adc_chan {
	struct iio_channel *ch; /* NULL: channel missing */
	int64_t offset_mcount;
	int64_t scale_pv;
};

struct adc_iio {
	struct adc base;
	struct iio_context *ctx;
	struct adc_chan chan[ADC_SIGNAL_COUNT];
	uint32_t divider_milli[ADC_SIGNAL_COUNT];
	int64_t range_uv;
	int64_t raw_limit; /* |raw| and |offset| beyond 2^bits are no ADC reading */
};

int adc_parse_fixed(const char *s, unsigned decimals, int64_t *ret)
{
	bool neg = false, digits = false;
	int64_t v = 0;
	unsigned frac = 0;

	if (!s || decimals > 12)
		return -EINVAL;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	int64_t pow10 = 1;
	for (unsigned i = 0; i < decimals; i++)
		pow10 *= 10;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX / pow10 - 9) / 10)
			return -ERANGE;
		v = v * 10 + (*s - '0');
		digits = true;
	}
	v *= pow10;
	if (*s == '.') {
		s++;
		int64_t place = pow10;
		for (; *s >= '0' && *s <= '9'; s++) {
			digits = true;
			place /= 10;
			if (place > 0)
				v += (*s - '0') * place;
			else if (frac == 0)
				frac = (unsigned)(*s - '0') + 1; /* first dropped digit + 1 */
		}
	}
	if (frac >= 6) /* first dropped digit >= 5: round half up */
		v += 1;
	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (!digits || *s)
		return -EINVAL;
	*ret = neg ? -v : v;
	return 0;
}

int64_t adc_terminal_uv(int64_t raw, int64_t offset_mcount, int64_t scale_pv,
                        uint32_t divider_milli)
{
	/* milli-counts x pV = 1e-15 V; / 1e9 gives uV at the pin. Bounds: raw
	 * is 16 bits, scale_pv a few 1e9 at most, so the product fits. */
	int64_t pin_uv = (raw * 1000 + offset_mcount) * scale_pv / 1000000000;
	return pin_uv * (int64_t)divider_milli / 1000;
}

static int read_attr(struct iio_channel *ch, const char *attr, char *buf, size_t len)
{
	ssize_t n = iio_channel_attr_read(ch, attr, buf, len);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ENODATA;
	return 0;
}

/* The +-range entry of scale_available: scale x 2^(bits-1) = range, within
 * 0.1 % (drivers print 0.0078125 as 0.007812). */
static int pick_scale(struct iio_channel *ch, int64_t target_pv, char *entry, size_t len,
                      int64_t *ret_pv)
{
	char buf[512];
	int r = read_attr(ch, "scale_available", buf, sizeof(buf));
	if (r < 0)
		return r;
	for (char *save = NULL, *tok = strtok_r(buf, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		int64_t pv;
		if (adc_parse_fixed(tok, 9, &pv) < 0 || pv <= 0)
			continue;
		int64_t diff = pv > target_pv ? pv - target_pv : target_pv - pv;
		if (diff * 1000 <= target_pv) {
			snprintf(entry, len, "%s", tok);
			*ret_pv = pv;
			return 0;
		}
	}
	return -ENOENT;
}

static int setup_channel(struct iio_channel *ch, int64_t target_pv, int64_t raw_limit,
                         struct adc_chan *c)
{
	char entry[64], buf[64];
	int64_t want_pv, got_pv;

	/* libiio skips attributes that are not regular files; a channel
	 * without raw or scale cannot be read at a known range. */
	if (!iio_channel_find_attr(ch, "raw") || !iio_channel_find_attr(ch, "scale"))
		return -ENOENT;
	int r = pick_scale(ch, target_pv, entry, sizeof(entry), &want_pv);
	if (r < 0)
		return r;
	ssize_t n = iio_channel_attr_write(ch, "scale", entry);
	if (n < 0)
		return (int)n;
	r = read_attr(ch, "scale", buf, sizeof(buf));
	if (r < 0)
		return r;
	if (adc_parse_fixed(buf, 9, &got_pv) < 0)
		return -EIO;
	int64_t diff = got_pv > want_pv ? got_pv - want_pv : want_pv - got_pv;
	if (diff * 1000 > want_pv)
		return -EIO; /* the range did not take */
	c->scale_pv = got_pv;
	c->offset_mcount = 0;
	if (iio_channel_find_attr(ch, "offset")) {
		r = read_attr(ch, "offset", buf, sizeof(buf));
		if (r < 0)
			return r;
		if (adc_parse_fixed(buf, 3, &c->offset_mcount) < 0 ||
		    c->offset_mcount > raw_limit * 1000 || c->offset_mcount < -raw_limit * 1000)
			return -EIO;
	}
	c->ch = ch;
	return 0;
}

static void adc_iio_close(struct adc *adc)
{
	struct adc_iio *a = (struct adc_iio *)adc;

	if (!a)
		return;
	if (a->ctx)
		iio_context_destroy(a->ctx);
	free(a);
}

static int adc_iio_open(const struct adc_config *cfg, struct adc **ret)
{
	if (!cfg || !ret || cfg->resolution_bits < 2 || cfg->resolution_bits > ADC_MAX_BITS ||
	    cfg->range_mv == 0 || cfg->range_mv > ADC_MAX_RANGE_MV)
		return -EINVAL;
	struct adc_iio *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->base.ops = &adc_iio_ops;
	errno = 0;
	a->ctx = iio_create_context_from_uri(cfg->uri);
	if (!a->ctx) {
		int r = errno > 0 ? -errno : -ENODEV;
		adc_iio_close(&a->base);
		return r;
	}
	struct iio_device *dev = iio_context_find_device(a->ctx, cfg->device);
	if (!dev) {
		adc_iio_close(&a->base);
		return -ENODEV;
	}
	/* pV a count for the wanted range: range_mv x 1e9 / 2^(bits-1). */
	int64_t target_pv =
	        (int64_t)cfg->range_mv * 1000000000 / ((int64_t)1 << (cfg->resolution_bits - 1));
	a->range_uv = (int64_t)cfg->range_mv * 1000;
	a->raw_limit = (int64_t)1 << cfg->resolution_bits;
	for (unsigned i = 0; i < ADC_SIGNAL_COUNT; i++) {
		a->divider_milli[i] = cfg->divider_milli[i];
		struct iio_channel *ch = iio_device_find_channel(dev, cfg->channel[i], false);
		if (!ch)
			continue; /* reported as ADC_MISSING on every read */
		/* Two signals may share a channel; it is set up twice, harmlessly. */
		int r = setup_channel(ch, target_pv, a->raw_limit, &a->chan[i]);
		if (r < 0) {
			adc_iio_close(&a->base);
			return r;
		}
	}
	*ret = &a->base;
	return 0;
}

static void read_one(const struct adc_iio *a, unsigned i, struct adc_reading *out)
{
	const struct adc_chan *c = &a->chan[i];
	char buf[64];
	int64_t raw;

	memset(out, 0, sizeof(*out));
	if (!c->ch) {
		out->status = ADC_MISSING;
		out->error = -ENOENT;
		return;
	}
	int r = read_attr(c->ch, "raw", buf, sizeof(buf));
	if (r < 0) {
		out->status = ADC_READ_ERROR;
		out->error = r;
		return;
	}
	if (adc_parse_fixed(buf, 0, &raw) < 0 || raw > a->raw_limit || raw < -a->raw_limit) {
		out->status = ADC_IMPLAUSIBLE;
		return;
	}
	out->raw = raw;
	/* Clipping is judged at the pin, against the selected range. */
	int64_t pin_uv = adc_terminal_uv(raw, c->offset_mcount, c->scale_pv, 1000);
	if (pin_uv * 100 >= a->range_uv * CLIP_PERCENT) {
		out->status = ADC_CLIPPED;
		return;
	}
	if (pin_uv * 100 < -a->range_uv * NEGATIVE_PERCENT) {
		out->status = ADC_IMPLAUSIBLE;
		return;
	}
	int64_t uv = adc_terminal_uv(raw, c->offset_mcount, c->scale_pv, a->divider_milli[i]);
	/* Round half away from zero to mV. */
	out->mv = (int32_t)((uv >= 0 ? uv + 500 : uv - 500) / 1000);
	out->status = ADC_VALID;
}

static int adc_iio_read(struct adc *adc, struct adc_reading out[ADC_SIGNAL_COUNT])
{
	const struct adc_iio *a = (const struct adc_iio *)adc;

	if (!a || !out)
		return -EINVAL;
	for (unsigned i = 0; i < ADC_SIGNAL_COUNT; i++)
		read_one(a, i, &out[i]);
	return 0;
}

const struct adc_ops adc_iio_ops = {
        .name = "iio",
        .open = adc_iio_open,
        .read = adc_iio_read,
        .close = adc_iio_close,
};
