/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libiio ADC adapter on fake ADS1015 and ADS1115 sysfs trees read through
 * libiio's real local: backend (run by run-in-iio-ns.sh in a private mount
 * namespace). The trees are built by the project's one generator,
 * tools/iio-feeder --create-only, from the capture of the real ti-ads1015
 * driver's layout (tests/hw/iio-layout/). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <iio.h>

#include "hw/adc.h"

#define DEV "devices/iio:device0"

struct fixture {
	char dev[512];
	struct adc_config cfg;
	char why[320];
};

/* Replaces a sysfs attribute atomically, as TESTING.md says libiio needs. */
static void put(const struct fixture *f, const char *attr, const char *value)
{
	char tmp[600], path[600];

	snprintf(tmp, sizeof(tmp), "%s/.tmp.%d", f->dev, (int)getpid());
	snprintf(path, sizeof(path), "%s/%s", f->dev, attr);
	FILE *fp = fopen(tmp, "w");
	assert_non_null(fp);
	fprintf(fp, "%s\n", value);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void put_raw(const struct fixture *f, unsigned ch, long raw)
{
	char attr[64], value[32];

	snprintf(attr, sizeof(attr), "in_voltage%u_raw", ch);
	snprintf(value, sizeof(value), "%ld", raw);
	put(f, attr, value);
}

static void get(const struct fixture *f, const char *attr, char *buf, size_t len)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", f->dev, attr);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, (int)len, fp));
	fclose(fp);
	buf[strcspn(buf, "\n")] = '\0';
}

static void drop(const struct fixture *f, const char *attr)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", f->dev, attr);
	assert_int_equal(unlink(path), 0);
}

/* The tree of CHIP as the ti-ads1015 driver lays it out, every channel at
 * the driver's power-on range (+-2.048 V), from the project's generator. */
static int setup_chip(void **state, const char *chip)
{
	const char *tree = getenv("IIO_FAKE_TREE");
	const char *gen = getenv("IIO_TREE_GENERATOR");
	struct fixture *f = calloc(1, sizeof(*f));
	char cmd[1600];

	assert_non_null(tree);
	assert_non_null(gen);
	assert_non_null(f);
	snprintf(f->dev, sizeof(f->dev), "%s/%s", tree, DEV);
	snprintf(cmd, sizeof(cmd),
	         "rm -rf '%s' && '%s' --tree '%s' --create-only --chip %s --start-scale driver",
	         f->dev, gen, tree, chip);
	assert_int_equal(system(cmd), 0);
	adc_config_defaults(&f->cfg);
	*state = f;
	return 0;
}

static int setup_ads1015(void **state)
{
	return setup_chip(state, "ads1015");
}

static int setup_ads1115(void **state)
{
	return setup_chip(state, "ads1115");
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dev);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int try_open(struct fixture *f, struct adc **adc)
{
	*adc = NULL;
	f->why[0] = '\0';
	return adc_iio_ops.open(&f->cfg, adc, f->why, sizeof(f->why));
}

static struct adc *open_adc(struct fixture *f)
{
	struct adc *adc = NULL;

	int r = try_open(f, &adc);
	if (r != 0)
		fail_msg("open: %s (%s)", strerror(-r), f->why);
	assert_non_null(adc);
	return adc;
}

static void read_all(struct adc *adc, struct adc_reading r[ADC_SIGNAL_COUNT])
{
	assert_int_equal(adc->ops->read(adc, r), 0);
}

static void assert_mv(const struct adc_reading *r, int32_t mv)
{
	assert_int_equal(r->status, ADC_VALID);
	assert_int_equal(r->mv, mv);
}

static void test_parse_fixed(void **state)
{
	int64_t v;

	assert_int_equal(adc_parse_fixed("0.125000\n", 9, &v), 0);
	assert_int_equal(v, 125000000);
	assert_int_equal(adc_parse_fixed("0.0078125", 9, &v), 0);
	assert_int_equal(v, 7812500);
	assert_int_equal(adc_parse_fixed("3", 9, &v), 0);
	assert_int_equal(v, 3000000000);
	assert_int_equal(adc_parse_fixed("-0.5", 3, &v), 0);
	assert_int_equal(v, -500);
	assert_int_equal(adc_parse_fixed("1.2345", 3, &v), 0);
	assert_int_equal(v, 1235); /* rounded half up */
	assert_int_equal(adc_parse_fixed("1.2344", 3, &v), 0);
	assert_int_equal(v, 1234);
	assert_int_equal(adc_parse_fixed("32767", 0, &v), 0);
	assert_int_equal(v, 32767);
	assert_int_equal(adc_parse_fixed("", 0, &v), -EINVAL);
	assert_int_equal(adc_parse_fixed("12x", 0, &v), -EINVAL);
	assert_int_equal(adc_parse_fixed("-", 0, &v), -EINVAL);
	assert_int_equal(adc_parse_fixed("99999999999999999999", 0, &v), -ERANGE);
	/* (raw + offset) x scale x divider in integer uV. */
	assert_int_equal(adc_terminal_uv(16000, 0, 125000000, 21000), 42000000);
	assert_int_equal(adc_terminal_uv(1000, 10000, 125000000, 21000), 2651250);
}

/* The scale each channel holds after open. */
static void assert_scales(const struct fixture *f, const char *want)
{
	char buf[64];

	for (unsigned i = 0; i < 4; i++) {
		char attr[32];
		snprintf(attr, sizeof(attr), "in_voltage%u_scale", i);
		get(f, attr, buf, sizeof(buf));
		assert_string_equal(buf, want);
	}
}

/* Issue 12: with the default configuration the 12-bit ADS1015 must get its
 * +-4.096 V entry (2 mV a count), not the 0.125 mV (+-256 mV) entry a
 * 16-bit default picks; a 26.5 V bank then reads 26.5 V. */
static void test_ads1015_range_from_data_format(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	assert_int_equal(f->cfg.resolution_bits, 0); /* the default: from the driver */
	put_raw(f, 0, 631);  /* 1262 mV at the pin: a 26.5 V bank through 21:1 */
	put_raw(f, 1, 0);    /* Remote H at Bat- */
	put_raw(f, 2, 631);  /* Remote L pulled up to the bank: OFF */
	put_raw(f, 3, 2000); /* 4000 mV at the pin */
	struct adc *adc = open_adc(f);
	assert_scales(f, "2.000000000");
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 26502); /* 631 x 2 mV x 21 */
	assert_mv(&r[ADC_REMOTE_H], 0);
	assert_mv(&r[ADC_REMOTE_L], 26502);
	assert_mv(&r[ADC_CHARGE_READBACK], 84000);
	adc->ops->close(adc);
}

static void test_ads1115_range_from_data_format(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	put_raw(f, 0, 10095); /* 1261.875 mV: a 26.5 V bank */
	put_raw(f, 2, 10095);
	put_raw(f, 3, 32000); /* 4000 mV */
	struct adc *adc = open_adc(f);
	assert_scales(f, "0.125000000");
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 26499); /* 26499.375 */
	assert_mv(&r[ADC_REMOTE_H], 0);
	assert_mv(&r[ADC_REMOTE_L], 26499);
	assert_mv(&r[ADC_CHARGE_READBACK], 84000);
	adc->ops->close(adc);
}

static void test_values(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	put_raw(f, 0, 16000);               /* 2000 mV at the pin */
	put(f, "in_voltage2_offset", "10"); /* (1000 + 10) x 0.125 = 126.25 mV */
	put_raw(f, 2, 1000);
	put_raw(f, 3, 12345); /* 1543.125 mV */
	struct adc *adc = open_adc(f);
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 42000);
	assert_mv(&r[ADC_REMOTE_H], 0);
	assert_mv(&r[ADC_REMOTE_L], 2651);         /* 2651.25 */
	assert_mv(&r[ADC_CHARGE_READBACK], 32406); /* 32405.625 */
	adc->ops->close(adc);
}

static void test_ads1015_other_divider_and_channels(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	put(f, "in_voltage1_offset", "-5");
	put_raw(f, 0, 1000);
	put_raw(f, 1, 105);
	put_raw(f, 3, 3);
	f->cfg.resolution_bits = 12; /* a cross-check that agrees */
	f->cfg.divider_milli[ADC_BANK] = 11500;
	f->cfg.divider_milli[ADC_CHARGE_READBACK] = 1000;
	/* Signals read from swapped channels. */
	snprintf(f->cfg.channel[ADC_REMOTE_H], ADC_NAME_MAX, "voltage3");
	snprintf(f->cfg.channel[ADC_CHARGE_READBACK], ADC_NAME_MAX, "voltage1");
	struct adc *adc = open_adc(f);
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 23000);          /* 2000 mV x 11.5 */
	assert_mv(&r[ADC_REMOTE_H], 126);        /* 3 x 2 mV x 21 */
	assert_mv(&r[ADC_CHARGE_READBACK], 200); /* (105 - 5) x 2 mV x 1 */
	adc->ops->close(adc);
}

static void test_ads1115_clipping_at_98_percent(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	/* 98 % of 4096 mV = 4014.08 mV: 32112 counts (4014.000) is below, 32113
	 * (4014.125) at or above. */
	put_raw(f, 0, 32112);
	put_raw(f, 1, 32113);
	put_raw(f, 2, 32767);
	put(f, "in_voltage3_offset", "1");
	put_raw(f, 3, 32112); /* 32113 with its offset */
	struct adc *adc = open_adc(f);
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 84294); /* 4014.000 x 21 */
	assert_int_equal(r[ADC_REMOTE_H].status, ADC_CLIPPED);
	assert_int_equal(r[ADC_REMOTE_H].raw, 32113);
	assert_int_equal(r[ADC_REMOTE_L].status, ADC_CLIPPED);
	assert_int_equal(r[ADC_CHARGE_READBACK].status, ADC_CLIPPED);
	adc->ops->close(adc);
}

static void test_ads1015_clipping_at_98_percent(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	/* 98 % of 4096 mV = 4014.08 mV: 2007 counts (4014 mV) is below, 2008
	 * (4016 mV) at or above; 2047 is the 12-bit maximum. */
	put_raw(f, 0, 2007);
	put_raw(f, 1, 2008);
	put_raw(f, 2, 2047);
	put_raw(f, 3, 2048); /* beyond 12 bits signed: no ADS1015 reading */
	struct adc *adc = open_adc(f);
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 84294); /* 4014 x 21 */
	assert_int_equal(r[ADC_REMOTE_H].status, ADC_CLIPPED);
	assert_int_equal(r[ADC_REMOTE_H].raw, 2008);
	assert_int_equal(r[ADC_REMOTE_L].status, ADC_CLIPPED);
	assert_int_equal(r[ADC_CHARGE_READBACK].status, ADC_IMPLAUSIBLE);
	adc->ops->close(adc);
}

static void test_implausible(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	struct adc *adc = open_adc(f);
	/* -2 % of 4096 mV = -81.92 mV: -655 counts (-81.875) passes, -656 not. */
	put_raw(f, 0, -655);
	put_raw(f, 1, -656);
	put(f, "in_voltage2_raw", "12ab");
	put_raw(f, 3, 32768); /* beyond 16 bits signed */
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], -1719); /* -81.875 x 21 = -1719.375 */
	assert_int_equal(r[ADC_REMOTE_H].status, ADC_IMPLAUSIBLE);
	assert_int_equal(r[ADC_REMOTE_L].status, ADC_IMPLAUSIBLE);
	assert_int_equal(r[ADC_CHARGE_READBACK].status, ADC_IMPLAUSIBLE);
	adc->ops->close(adc);
}

static void test_missing_channel(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	drop(f, "in_voltage3_raw");
	drop(f, "in_voltage3_scale");
	drop(f, "in_voltage3_sampling_frequency");
	drop(f, "scan_elements/in_voltage3_en");
	drop(f, "scan_elements/in_voltage3_index");
	drop(f, "scan_elements/in_voltage3_type");
	put_raw(f, 0, 8000);
	struct adc *adc = open_adc(f);
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 21000);
	assert_int_equal(r[ADC_CHARGE_READBACK].status, ADC_MISSING);
	assert_int_equal(r[ADC_CHARGE_READBACK].error, -ENOENT);

	/* A channel that vanishes after start is a read error. */
	drop(f, "in_voltage1_raw");
	read_all(adc, r);
	assert_int_equal(r[ADC_REMOTE_H].status, ADC_READ_ERROR);
	assert_true(r[ADC_REMOTE_H].error < 0);
	assert_mv(&r[ADC_BANK], 21000);
	adc->ops->close(adc);
}

static void test_values_change_between_reads(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	put_raw(f, 0, 8000);
	struct adc *adc = open_adc(f);
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 21000);
	put_raw(f, 0, 8001);
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 21003); /* 1000.125 x 21 = 21002.625 */
	put_raw(f, 0, 4000);
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 10500);
	adc->ops->close(adc);
}

static void assert_why(const struct fixture *f, const char *part)
{
	if (!strstr(f->why, part)) {
		print_error("message \"%s\" does not name \"%s\"\n", f->why, part);
		fail();
	}
}

/* A configured resolution that disagrees with the driver is refused, with
 * a message that says both. */
static void test_ads1015_resolution_mismatch_refused(void **state)
{
	struct fixture *f = *state;
	struct adc *adc;

	f->cfg.resolution_bits = 16;
	assert_int_equal(try_open(f, &adc), -EINVAL);
	assert_null(adc);
	assert_why(f, "resolution-bits = 16");
	assert_why(f, "voltage0 has 12 bits");
	assert_scales(f, "1.000000000"); /* nothing written */
}

static void test_ads1115_resolution_mismatch_refused(void **state)
{
	struct fixture *f = *state;
	struct adc *adc;

	f->cfg.resolution_bits = 12;
	assert_int_equal(try_open(f, &adc), -EINVAL);
	assert_null(adc);
	assert_why(f, "resolution-bits = 12");
	assert_why(f, "voltage0 has 16 bits");
	assert_scales(f, "0.062500000");
}

/* A driver without a data format: refused unless resolution-bits says. */
static void test_no_data_format(void **state)
{
	struct fixture *f = *state;
	struct adc *adc;
	char cmd[1800];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/scan_elements' '%s/buffer0' '%s/buffer'", f->dev,
	         f->dev, f->dev);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(try_open(f, &adc), -ENODATA);
	assert_null(adc);
	assert_why(f, "publishes no data format");
	assert_why(f, "resolution-bits");
	assert_scales(f, "1.000000000");

	f->cfg.resolution_bits = 12;
	adc = open_adc(f);
	assert_scales(f, "2.000000000");
	adc->ops->close(adc);
}

/* Other drivers publish the list as channel attributes. */
static void test_channel_scale_lists(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	drop(f, "scale_available");
	put(f, "in_voltage_scale_available", "0.187500 0.125000 0.062500");
	struct adc *adc = open_adc(f);
	assert_scales(f, "0.125000");
	adc->ops->close(adc);

	drop(f, "in_voltage_scale_available");
	for (unsigned i = 0; i < 4; i++) {
		char attr[48];
		snprintf(attr, sizeof(attr), "in_voltage%u_scale_available", i);
		put(f, attr, "0.0625 0.125");
	}
	put_raw(f, 0, 8000);
	adc = open_adc(f);
	assert_scales(f, "0.125");
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 21000);
	adc->ops->close(adc);
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct adc *adc = NULL;

	snprintf(f->cfg.device, ADC_NAME_MAX, "ads1115");
	assert_int_equal(try_open(f, &adc), -ENODEV);
	assert_why(f, "finding IIO device \"ads1115\"");
	snprintf(f->cfg.device, ADC_NAME_MAX, "ads1015");

	/* No +-4.096 V entry. */
	put(f, "scale_available", "3 1 0.5");
	assert_int_equal(try_open(f, &adc), -ENOENT);
	assert_null(adc);
	assert_why(f, "finding 2.000000000 mV a count in scale_available (\"3 1 0.5\")");
	drop(f, "scale_available");
	assert_int_equal(try_open(f, &adc), -ENOENT);
	assert_why(f, "finding the list of scales for voltage0");
	put(f, "scale_available", "3 2 1");

	f->cfg.resolution_bits = 40;
	assert_int_equal(try_open(f, &adc), -EINVAL);
	assert_why(f, "resolution-bits = 40");
	f->cfg.resolution_bits = 0;
	snprintf(f->cfg.uri, ADC_URI_MAX, "nosuchbackend:");
	assert_true(try_open(f, &adc) < 0);
	assert_null(adc);
	assert_why(f, "creating the libiio context nosuchbackend:");
}

/* Link-time wrap of the scale write, set per test: a driver that accepts
 * the write but keeps its old range, or a write that fails. */
static bool swallow_scale_writes;
static int fail_scale_writes;

ssize_t __real_iio_channel_attr_write(const struct iio_channel *chn, const char *attr,
                                      const char *src);
ssize_t __wrap_iio_channel_attr_write(const struct iio_channel *chn, const char *attr,
                                      const char *src);

ssize_t __wrap_iio_channel_attr_write(const struct iio_channel *chn, const char *attr,
                                      const char *src)
{
	if (swallow_scale_writes && strcmp(attr, "scale") == 0)
		return (ssize_t)strlen(src) + 1;
	if (fail_scale_writes && strcmp(attr, "scale") == 0)
		return fail_scale_writes;
	return __real_iio_channel_attr_write(chn, attr, src);
}

static void test_range_not_taken(void **state)
{
	struct fixture *f = *state;
	struct adc *adc = NULL;

	swallow_scale_writes = true;
	int r = try_open(f, &adc);
	swallow_scale_writes = false;
	assert_int_equal(r, -EIO);
	assert_null(adc);
	assert_why(f, "setting in_voltage0_scale: wrote \"2.000000000\", reads back "
	              "\"1.000000000\"");
	/* The same tree with a driver that takes the write opens. */
	adc = open_adc(f);
	adc->ops->close(adc);
}

/* Issue 12: the device opened, the scale write failed; the message says so. */
static void test_scale_write_error_named(void **state)
{
	struct fixture *f = *state;
	struct adc *adc = NULL;

	fail_scale_writes = -EROFS;
	int r = try_open(f, &adc);
	fail_scale_writes = 0;
	assert_int_equal(r, -EROFS);
	assert_null(adc);
	assert_string_equal(f->why,
	                    "writing \"2.000000000\" to in_voltage0_scale: Read-only file system");
}

/* A channel without a scale attribute cannot be set to the range. */
static void test_range_attribute_missing(void **state)
{
	struct fixture *f = *state;
	struct adc *adc = NULL;

	drop(f, "in_voltage2_scale");
	assert_int_equal(try_open(f, &adc), -ENOENT);
	assert_null(adc);
	assert_why(f, "using voltage2: no in_voltage2_scale");
}

#define CHIP_TEST(fn, chip) cmocka_unit_test_setup_teardown(fn, setup_##chip, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_fixed),
	        CHIP_TEST(test_ads1015_range_from_data_format, ads1015),
	        CHIP_TEST(test_ads1115_range_from_data_format, ads1115),
	        CHIP_TEST(test_values, ads1115),
	        CHIP_TEST(test_ads1015_other_divider_and_channels, ads1015),
	        CHIP_TEST(test_ads1115_clipping_at_98_percent, ads1115),
	        CHIP_TEST(test_ads1015_clipping_at_98_percent, ads1015),
	        CHIP_TEST(test_implausible, ads1115),
	        CHIP_TEST(test_missing_channel, ads1115),
	        CHIP_TEST(test_values_change_between_reads, ads1115),
	        CHIP_TEST(test_ads1015_resolution_mismatch_refused, ads1015),
	        CHIP_TEST(test_ads1115_resolution_mismatch_refused, ads1115),
	        CHIP_TEST(test_no_data_format, ads1015),
	        CHIP_TEST(test_channel_scale_lists, ads1115),
	        CHIP_TEST(test_open_errors, ads1015),
	        CHIP_TEST(test_range_not_taken, ads1015),
	        CHIP_TEST(test_scale_write_error_named, ads1015),
	        CHIP_TEST(test_range_attribute_missing, ads1015),
	};

	/* Only meaningful inside run-in-iio-ns.sh: skip rather than pass. */
	if (!getenv("IIO_FAKE_TREE") || access("/sys/bus/iio/devices", F_OK) != 0) {
		fprintf(stderr, "# SKIP: no fake IIO tree (run through run-in-iio-ns.sh)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
