/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ADC through libiio: any URI (local:, ip:, usb:, serial:). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
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
	int64_t raw_min, raw_max; /* the data format's range */
};

struct adc_iio {
	struct adc base;
	struct iio_context *ctx;
	struct adc_chan chan[ADC_SIGNAL_COUNT];
	uint32_t divider_milli[ADC_SIGNAL_COUNT];
	int64_t range_uv;
};

/* Says what failed into the caller's buffer; returns r. */
__attribute__((format(printf, 4, 5))) static int fail(int r, char *why, size_t len, const char *fmt,
                                                      ...)
{
	if (why && len > 0) {
		char what[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		snprintf(why, len, "%s: %s", what, strerror(-r));
	}
	return r;
}

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

/* The sysfs file behind a channel attribute, for messages. */
static const char *attr_file(const struct iio_channel *ch, const char *attr)
{
	const char *f = iio_channel_attr_get_filename(ch, attr);
	return f ? f : attr;
}

/* The list of scales: a channel attribute (in_voltageX_scale_available or
 * in_voltage_scale_available, both "scale_available" in libiio) or, as
 * Linux's ti-ads1015 publishes it, the device attribute scale_available. */
static int read_scales(const struct iio_device *dev, struct iio_channel *ch, char *buf, size_t len,
                       const char **file, char *why, size_t why_len)
{
	ssize_t n;

	if (iio_channel_find_attr(ch, "scale_available")) {
		*file = attr_file(ch, "scale_available");
		n = iio_channel_attr_read(ch, "scale_available", buf, len);
	} else if (iio_device_find_attr(dev, "scale_available")) {
		*file = "scale_available";
		n = iio_device_attr_read(dev, "scale_available", buf, len);
	} else {
		return fail(
		        -ENOENT, why, why_len,
		        "finding the list of scales for %s (neither the device attribute "
		        "scale_available nor in_voltage_scale_available or in_%s_scale_available)",
		        iio_channel_get_id(ch), iio_channel_get_id(ch));
	}
	if (n == 0)
		n = -ENODATA;
	if (n < 0)
		return fail((int)n, why, why_len, "reading %s", *file);
	return 0;
}

/* The range entry of the list: scale x counts = range, within 0.1 %
 * (drivers print 0.0078125 as 0.007812 or 0.007812500). */
static int pick_scale(const struct iio_device *dev, struct iio_channel *ch, int64_t target_pv,
                      char *entry, size_t len, int64_t *ret_pv, char *why, size_t why_len)
{
	char buf[512];
	const char *file = NULL;
	int r = read_scales(dev, ch, buf, sizeof(buf), &file, why, why_len);
	if (r < 0)
		return r;
	char list[sizeof(buf)];
	snprintf(list, sizeof(list), "%s", buf);
	list[strcspn(list, "\n")] = '\0';
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
	return fail(-ENOENT, why, why_len,
	            "finding %" PRId64 ".%09" PRId64 " mV a count in %s (\"%s\")",
	            target_pv / 1000000000, target_pv % 1000000000, file, list);
}

/* The channel's resolution from its data format (the driver's
 * scan_elements/in_voltageX_type, e.g. "le:s12/16>>4"), checked against a
 * configured resolution_bits; a driver without a data format needs one. */
static int channel_bits(const struct iio_channel *ch, uint32_t cfg_bits, unsigned *bits,
                        bool *is_signed, char *why, size_t why_len)
{
	const struct iio_data_format *fmt = iio_channel_get_data_format(ch);
	const char *id = iio_channel_get_id(ch);

	if (!fmt || fmt->bits == 0) {
		if (cfg_bits == 0)
			return fail(
			        -ENODATA, why, why_len,
			        "finding the resolution of %s (the driver publishes no data "
			        "format, scan_elements/in_%s_type; set resolution-bits in [adc])",
			        id, id);
		*bits = cfg_bits;
		*is_signed = true;
		return 0;
	}
	if (fmt->bits < 2 || fmt->bits > ADC_MAX_BITS)
		return fail(-ERANGE, why, why_len, "using %s: the driver says %u bits, not 2..%u",
		            id, fmt->bits, ADC_MAX_BITS);
	if (cfg_bits != 0 && cfg_bits != fmt->bits)
		return fail(-EINVAL, why, why_len,
		            "checking resolution-bits = %u: the driver says %s has %u bits "
		            "(%c%u/%u>>%u)",
		            cfg_bits, id, fmt->bits, fmt->is_signed ? 's' : 'u', fmt->bits,
		            fmt->length, fmt->shift);
	*bits = fmt->bits;
	*is_signed = fmt->is_signed;
	return 0;
}

static int setup_channel(const struct iio_device *dev, struct iio_channel *ch,
                         const struct adc_config *cfg, struct adc_chan *c, char *why,
                         size_t why_len)
{
	char entry[64], buf[64];
	int64_t want_pv, got_pv;
	unsigned bits;
	bool is_signed;

	/* libiio skips attributes that are not regular files; a channel
	 * without raw or scale cannot be read at a known range. */
	if (!iio_channel_find_attr(ch, "raw") || !iio_channel_find_attr(ch, "scale"))
		return fail(-ENOENT, why, why_len, "using %s: no in_%s_%s", iio_channel_get_id(ch),
		            iio_channel_get_id(ch),
		            iio_channel_find_attr(ch, "raw") ? "scale" : "raw");
	int r = channel_bits(ch, cfg->resolution_bits, &bits, &is_signed, why, why_len);
	if (r < 0)
		return r;
	/* pV a count for the wanted range: range_mv x 1e9 / full-scale counts. */
	int64_t counts = (int64_t)1 << (is_signed ? bits - 1 : bits);
	int64_t target_pv = (int64_t)cfg->range_mv * 1000000000 / counts;
	r = pick_scale(dev, ch, target_pv, entry, sizeof(entry), &want_pv, why, why_len);
	if (r < 0)
		return r;
	ssize_t n = iio_channel_attr_write(ch, "scale", entry);
	if (n < 0)
		return fail((int)n, why, why_len, "writing \"%s\" to %s", entry,
		            attr_file(ch, "scale"));
	r = read_attr(ch, "scale", buf, sizeof(buf));
	if (r < 0)
		return fail(r, why, why_len, "reading back %s", attr_file(ch, "scale"));
	buf[strcspn(buf, "\n")] = '\0';
	if (adc_parse_fixed(buf, 9, &got_pv) < 0)
		return fail(-EIO, why, why_len, "reading back %s: \"%s\" is no number",
		            attr_file(ch, "scale"), buf);
	int64_t diff = got_pv > want_pv ? got_pv - want_pv : want_pv - got_pv;
	if (diff * 1000 > want_pv) /* the range did not take */
		return fail(-EIO, why, why_len, "setting %s: wrote \"%s\", reads back \"%s\"",
		            attr_file(ch, "scale"), entry, buf);
	c->scale_pv = got_pv;
	c->raw_min = is_signed ? -counts : 0;
	c->raw_max = counts - 1;
	c->offset_mcount = 0;
	if (iio_channel_find_attr(ch, "offset")) {
		r = read_attr(ch, "offset", buf, sizeof(buf));
		if (r < 0)
			return fail(r, why, why_len, "reading %s", attr_file(ch, "offset"));
		buf[strcspn(buf, "\n")] = '\0';
		int64_t limit_mcount = counts * 2 * 1000;
		if (adc_parse_fixed(buf, 3, &c->offset_mcount) < 0 ||
		    c->offset_mcount > limit_mcount || c->offset_mcount < -limit_mcount)
			return fail(-EIO, why, why_len, "reading %s: \"%s\" is no offset",
			            attr_file(ch, "offset"), buf);
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

static int adc_iio_open(const struct adc_config *cfg, struct adc **ret, char *why, size_t why_len)
{
	if (why && why_len > 0)
		why[0] = '\0';
	if (!cfg || !ret)
		return fail(-EINVAL, why, why_len, "opening the ADC");
	if (cfg->resolution_bits == 1 || cfg->resolution_bits > ADC_MAX_BITS)
		return fail(-EINVAL, why, why_len, "checking resolution-bits = %u (2..%u)",
		            cfg->resolution_bits, ADC_MAX_BITS);
	if (cfg->range_mv == 0 || cfg->range_mv > ADC_MAX_RANGE_MV)
		return fail(-EINVAL, why, why_len, "checking range-mv = %u (1..%u)", cfg->range_mv,
		            ADC_MAX_RANGE_MV);
	struct adc_iio *a = calloc(1, sizeof(*a));
	if (!a)
		return fail(-ENOMEM, why, why_len, "allocating the ADC");
	a->base.ops = &adc_iio_ops;
	errno = 0;
	a->ctx = iio_create_context_from_uri(cfg->uri);
	if (!a->ctx) {
		int r = errno > 0 ? -errno : -ENODEV;
		adc_iio_close(&a->base);
		return fail(r, why, why_len, "creating the libiio context %s", cfg->uri);
	}
	struct iio_device *dev = iio_context_find_device(a->ctx, cfg->device);
	if (!dev) {
		adc_iio_close(&a->base);
		return fail(-ENODEV, why, why_len, "finding IIO device \"%s\"", cfg->device);
	}
	a->range_uv = (int64_t)cfg->range_mv * 1000;
	for (unsigned i = 0; i < ADC_SIGNAL_COUNT; i++) {
		a->divider_milli[i] = cfg->divider_milli[i];
		struct iio_channel *ch = iio_device_find_channel(dev, cfg->channel[i], false);
		if (!ch)
			continue; /* reported as ADC_MISSING on every read */
		/* Two signals may share a channel; it is set up twice, harmlessly. */
		int r = setup_channel(dev, ch, cfg, &a->chan[i], why, why_len);
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
	if (adc_parse_fixed(buf, 0, &raw) < 0 || raw > c->raw_max || raw < c->raw_min) {
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
