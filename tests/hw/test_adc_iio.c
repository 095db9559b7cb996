/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libiio ADC adapter on a fake ADS1015 sysfs tree read through libiio's
 * real local: backend (run by run-in-iio-ns.sh in a private mount namespace). */
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
};

/* Replaces a sysfs attribute atomically, as TESTING.md says libiio needs. */
static void put(const struct fixture *f, const char *attr, const char *value)
{
	char tmp[600], path[600];

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", f->dev, attr);
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
}

static void drop(const struct fixture *f, const char *attr)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", f->dev, attr);
	assert_int_equal(unlink(path), 0);
}

/* An ADS1115 as the ads1015 driver shows it, at its default +-2.048 V. */
static int setup(void **state)
{
	const char *tree = getenv("IIO_FAKE_TREE");
	struct fixture *f = calloc(1, sizeof(*f));
	char cmd[1200];

	assert_non_null(tree);
	assert_non_null(f);
	snprintf(f->dev, sizeof(f->dev), "%s/%s", tree, DEV);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", f->dev, f->dev);
	assert_int_equal(system(cmd), 0);
	put(f, "name", "ads1015");
	put(f, "in_voltage_scale_available",
	    "0.187500 0.125000 0.062500 0.031250 0.015625 0.007812");
	for (unsigned i = 0; i < 4; i++) {
		char attr[32];
		snprintf(attr, sizeof(attr), "in_voltage%u_scale", i);
		put(f, attr, "0.062500");
		put_raw(f, i, 0);
	}
	adc_config_defaults(&f->cfg);
	*state = f;
	return 0;
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

static struct adc *open_adc(const struct fixture *f)
{
	struct adc *adc = NULL;

	assert_int_equal(adc_iio_ops.open(&f->cfg, &adc), 0);
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

static void test_sets_range_and_reads_back(void **state)
{
	struct fixture *f = *state;
	char buf[64];

	struct adc *adc = open_adc(f);
	for (unsigned i = 0; i < 4; i++) {
		char attr[32];
		snprintf(attr, sizeof(attr), "in_voltage%u_scale", i);
		get(f, attr, buf, sizeof(buf));
		assert_string_equal(buf, "0.125000");
	}
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

static void test_values_other_divider_and_adc(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	/* A 12-bit ADS1015: +-4.096 V is the 2 mV entry. */
	put(f, "in_voltage_scale_available", "3 2 1 0.5 0.25 0.125");
	put(f, "in_voltage1_offset", "-5");
	put_raw(f, 0, 1000);
	put_raw(f, 1, 105);
	put_raw(f, 3, 3);
	f->cfg.resolution_bits = 12;
	f->cfg.divider_milli[ADC_BANK] = 11500;
	f->cfg.divider_milli[ADC_CHARGE_READBACK] = 1000;
	/* Signals read from swapped channels. */
	snprintf(f->cfg.channel[ADC_REMOTE_H], ADC_NAME_MAX, "voltage3");
	snprintf(f->cfg.channel[ADC_CHARGE_READBACK], ADC_NAME_MAX, "voltage1");
	struct adc *adc = open_adc(f);
	char buf[32];
	get(f, "in_voltage0_scale", buf, sizeof(buf));
	assert_string_equal(buf, "2");
	read_all(adc, r);
	assert_mv(&r[ADC_BANK], 23000);          /* 2000 mV x 11.5 */
	assert_mv(&r[ADC_REMOTE_H], 126);        /* 3 x 2 mV x 21 */
	assert_mv(&r[ADC_CHARGE_READBACK], 200); /* (105 - 5) x 2 mV x 1 */
	adc->ops->close(adc);
}

static void test_clipping_at_98_percent(void **state)
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

static void test_implausible(void **state)
{
	struct fixture *f = *state;
	struct adc_reading r[ADC_SIGNAL_COUNT];

	struct adc *adc = open_adc(f);
	/* -2 % of 4096 mV = -81.92 mV: -655 counts (-81.875) passes, -656 not. */
	put_raw(f, 0, -655);
	put_raw(f, 1, -656);
	put(f, "in_voltage2_raw", "12ab");
	put_raw(f, 3, 70000); /* beyond 16 bits */
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

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct adc *adc = NULL;

	snprintf(f->cfg.device, ADC_NAME_MAX, "ads1115");
	assert_int_equal(adc_iio_ops.open(&f->cfg, &adc), -ENODEV);
	snprintf(f->cfg.device, ADC_NAME_MAX, "ads1015");

	/* No +-4.096 V entry. */
	put(f, "in_voltage_scale_available", "0.187500 0.062500");
	assert_int_equal(adc_iio_ops.open(&f->cfg, &adc), -ENOENT);
	assert_null(adc);
	put(f, "in_voltage_scale_available", "0.187500 0.125000 0.062500");

	f->cfg.resolution_bits = 40;
	assert_int_equal(adc_iio_ops.open(&f->cfg, &adc), -EINVAL);
	f->cfg.resolution_bits = 16;
	snprintf(f->cfg.uri, ADC_URI_MAX, "nosuchbackend:");
	assert_true(adc_iio_ops.open(&f->cfg, &adc) < 0);
	assert_null(adc);
}

/* A driver that accepts the range write but keeps its old range: the
 * write is swallowed (link-time wrap, set per test) and reported done. */
static bool swallow_scale_writes;

ssize_t __real_iio_channel_attr_write(const struct iio_channel *chn, const char *attr,
                                      const char *src);
ssize_t __wrap_iio_channel_attr_write(const struct iio_channel *chn, const char *attr,
                                      const char *src);

ssize_t __wrap_iio_channel_attr_write(const struct iio_channel *chn, const char *attr,
                                      const char *src)
{
	if (swallow_scale_writes && strcmp(attr, "scale") == 0)
		return (ssize_t)strlen(src) + 1;
	return __real_iio_channel_attr_write(chn, attr, src);
}

static void test_range_not_taken(void **state)
{
	struct fixture *f = *state;
	struct adc *adc = NULL;

	swallow_scale_writes = true;
	int r = adc_iio_ops.open(&f->cfg, &adc);
	swallow_scale_writes = false;
	assert_int_equal(r, -EIO);
	assert_null(adc);
	/* The same tree with a driver that takes the write opens. */
	adc = open_adc(f);
	adc->ops->close(adc);
}

/* A channel without a scale attribute cannot be set to the range. */
static void test_range_attribute_missing(void **state)
{
	struct fixture *f = *state;
	struct adc *adc = NULL;

	drop(f, "in_voltage2_scale");
	assert_int_equal(adc_iio_ops.open(&f->cfg, &adc), -ENOENT);
	assert_null(adc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_fixed),
	        cmocka_unit_test_setup_teardown(test_sets_range_and_reads_back, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_values, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_values_other_divider_and_adc, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_clipping_at_98_percent, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_implausible, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_missing_channel, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_values_change_between_reads, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_range_not_taken, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_range_attribute_missing, setup, teardown),
	};

	/* Only meaningful inside run-in-iio-ns.sh: skip rather than pass. */
	if (!getenv("IIO_FAKE_TREE") || access("/sys/bus/iio/devices", F_OK) != 0) {
		fprintf(stderr, "# SKIP: no fake IIO tree (run through run-in-iio-ns.sh)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
