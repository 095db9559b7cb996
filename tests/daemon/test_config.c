/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"

struct fixture {
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/test-config-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void write_file(const struct fixture *f, const char *rel, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/smallbmsd.conf.d", f->dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void test_defaults(void **state)
{
	struct fixture *f = *state;
	struct bms_config cfg, def;

	memset(&cfg, 0x5a, sizeof(cfg));
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	config_defaults(&def);
	assert_memory_equal(&cfg, &def, sizeof(cfg));
	assert_string_equal(cfg.bus_port, "/dev/ttyS1");
	assert_int_equal(cfg.min_cycle_ms, 100);
	assert_string_equal(cfg.adc.uri, "local:");
	assert_string_equal(cfg.adc.device, "ads1015");
	for (unsigned i = 0; i < ADC_SIGNAL_COUNT; i++) {
		char ch[16];
		snprintf(ch, sizeof(ch), "voltage%u", i);
		assert_string_equal(cfg.adc.channel[i], ch);
		assert_int_equal(cfg.adc.divider_milli[i], 21000);
	}
	assert_int_equal(cfg.adc.range_mv, 4096);
	assert_int_equal(cfg.adc.resolution_bits, 0); /* from the driver */
	assert_int_equal(cfg.outputs_backend, OUTPUTS_BACKEND_GPIOD);
	assert_int_equal(cfg.power_off, POWER_OFF_AUTO);
	assert_string_equal(cfg.outputs.chip, "");
	assert_string_equal(cfg.outputs.dev_dir, "/dev");
	assert_string_equal(cfg.outputs.line[OUTPUT_LOAD_DISCONNECT].name, "load-disconnect");
	assert_string_equal(cfg.outputs.line[OUTPUT_HEARTBEAT].name, "heartbeat");
	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++)
		assert_int_equal(cfg.outputs.line[i].offset, -1);
	assert_string_equal(cfg.state_dir, "/var/lib/smallbms");
}

static void test_every_key(void **state)
{
	struct fixture *f = *state;
	struct bms_config cfg;

	write_file(f, "smallbmsd.conf",
	           "# comment\n"
	           "[bus]\n"
	           "port = /dev/ttyAMA3\n"
	           "min-cycle-ms = 250\n"
	           "\n"
	           "[adc]\n"
	           "uri = ip:192.168.7.2\n"
	           "device = ads1115\n"
	           "bank-channel = voltage3\n"
	           "remote-h-channel = voltage2\n"
	           "remote-l-channel = voltage1\n"
	           "charge-readback-channel = voltage0\n"
	           "bank-divider = 21.5\n"
	           "remote-h-divider = 11\n"
	           "remote-l-divider = 1.001\n"
	           "charge-readback-divider = 1000.0\n"
	           "range-mv = 2048\n"
	           "resolution-bits = 12\n"
	           "[outputs]\n"
	           "backend = dry-run\n"
	           "power-off = yes\n"
	           "chip = /dev/gpiochip2\n"
	           "load-disconnect = 9\n"
	           "charge-disconnect = 0\n"
	           "pre-alarm = PRE_ALARM\n"
	           "led-bluetooth = led.blue\n"
	           "led-error = 65535\n"
	           "heartbeat = hb-out\n"
	           "[state]\n"
	           "directory = /srv/bms\n");
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	assert_string_equal(cfg.bus_port, "/dev/ttyAMA3");
	assert_int_equal(cfg.min_cycle_ms, 250);
	assert_string_equal(cfg.adc.uri, "ip:192.168.7.2");
	assert_string_equal(cfg.adc.device, "ads1115");
	assert_string_equal(cfg.adc.channel[ADC_BANK], "voltage3");
	assert_string_equal(cfg.adc.channel[ADC_REMOTE_H], "voltage2");
	assert_string_equal(cfg.adc.channel[ADC_REMOTE_L], "voltage1");
	assert_string_equal(cfg.adc.channel[ADC_CHARGE_READBACK], "voltage0");
	assert_int_equal(cfg.adc.divider_milli[ADC_BANK], 21500);
	assert_int_equal(cfg.adc.divider_milli[ADC_REMOTE_H], 11000);
	assert_int_equal(cfg.adc.divider_milli[ADC_REMOTE_L], 1001);
	assert_int_equal(cfg.adc.divider_milli[ADC_CHARGE_READBACK], 1000000);
	assert_int_equal(cfg.adc.range_mv, 2048);
	assert_int_equal(cfg.adc.resolution_bits, 12);
	assert_int_equal(cfg.outputs_backend, OUTPUTS_BACKEND_DRYRUN);
	assert_int_equal(cfg.power_off, POWER_OFF_YES);
	assert_string_equal(cfg.outputs.chip, "/dev/gpiochip2");
	assert_int_equal(cfg.outputs.line[OUTPUT_LOAD_DISCONNECT].offset, 9);
	assert_int_equal(cfg.outputs.line[OUTPUT_CHARGE_DISCONNECT].offset, 0);
	assert_int_equal(cfg.outputs.line[OUTPUT_PRE_ALARM].offset, -1);
	assert_string_equal(cfg.outputs.line[OUTPUT_PRE_ALARM].name, "PRE_ALARM");
	assert_string_equal(cfg.outputs.line[OUTPUT_LED_BLUETOOTH].name, "led.blue");
	assert_int_equal(cfg.outputs.line[OUTPUT_LED_ERROR].offset, 65535);
	assert_string_equal(cfg.outputs.line[OUTPUT_HEARTBEAT].name, "hb-out");
	assert_string_equal(cfg.state_dir, "/srv/bms");
}

static void test_dropin_order(void **state)
{
	struct fixture *f = *state;
	struct bms_config cfg;

	write_file(f, "smallbmsd.conf", "[bus]\nport = /dev/main\n[state]\ndirectory = /main\n");
	write_file(f, "smallbmsd.conf.d/10-a.conf", "[bus]\nport = /dev/ten\n");
	/* Lexical, not numeric: "9-" sorts after "10-" and wins. */
	write_file(f, "smallbmsd.conf.d/9-z.conf", "[bus]\nport = /dev/nine\n");
	write_file(f, "smallbmsd.conf.d/05.conf",
	           "[bus]\nport = /dev/five\n[outputs]\nbackend = dry-run\n");
	/* Not drop-ins: wrong suffix, hidden; they would fail if read. */
	write_file(f, "smallbmsd.conf.d/99.conf.bak", "[nonsense]\n");
	write_file(f, "smallbmsd.conf.d/.99.conf", "[nonsense]\n");
	write_file(f, "smallbmsd.conf.d/README", "[nonsense]\n");
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	assert_string_equal(cfg.bus_port, "/dev/nine");
	assert_string_equal(cfg.state_dir, "/main");
	assert_int_equal(cfg.outputs_backend, OUTPUTS_BACKEND_DRYRUN);

	/* A later drop-in can switch a line from an offset back to a name. */
	write_file(f, "smallbmsd.conf.d/50.conf",
	           "[outputs]\nchip = /dev/gpiochip0\nheartbeat = 4\n");
	write_file(f, "smallbmsd.conf.d/60.conf", "[outputs]\nheartbeat = beat\nchip =\n");
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	assert_int_equal(cfg.outputs.line[OUTPUT_HEARTBEAT].offset, -1);
	assert_string_equal(cfg.outputs.line[OUTPUT_HEARTBEAT].name, "beat");
	assert_string_equal(cfg.outputs.chip, "");

	/* The main file may be absent: drop-ins still apply. */
	char path[128];
	snprintf(path, sizeof(path), "%s/smallbmsd.conf", f->dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	assert_string_equal(cfg.bus_port, "/dev/nine");
	assert_string_equal(cfg.state_dir, "/var/lib/smallbms");
}

/* Loads text as the main file and expects a refusal at line with reason. */
static void expect_error(const struct fixture *f, const char *text, unsigned line,
                         const char *reason)
{
	struct bms_config cfg, before;
	struct config_error err;
	char file[128], message[512];

	write_file(f, "smallbmsd.conf", text);
	memset(&cfg, 0x3c, sizeof(cfg));
	before = cfg;
	memset(&err, 0, sizeof(err));
	assert_int_equal(config_load(f->dir, &cfg, &err), -EINVAL);
	snprintf(file, sizeof(file), "%s/smallbmsd.conf", f->dir);
	assert_string_equal(err.file, file);
	assert_int_equal(err.line, line);
	assert_string_equal(err.reason, reason);
	snprintf(message, sizeof(message), "%s:%u: %s", file, line, reason);
	assert_string_equal(err.message, message);
	/* Nothing applied. */
	assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_errors(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "[bus]\nport = /dev/x\n[batteries]\n", 3, "unknown section [batteries]");
	expect_error(f, "[Bus]\nport = /dev/x\n", 1, "unknown section [Bus]");
	expect_error(f, "port = /dev/x\n", 1, "key \"port\" outside a section");
	expect_error(f, "[bus]\nspeed = 9600\n", 2, "unknown key \"speed\" in [bus]");
	expect_error(f, "[adc]\nscale = 1\n", 2, "unknown key \"scale\" in [adc]");
	expect_error(f, "[outputs]\nbuzzer = 3\n", 2, "unknown key \"buzzer\" in [outputs]");
	expect_error(f, "[state]\ndir = /x\n", 2, "unknown key \"dir\" in [state]");
	expect_error(f, "[bus]\nport = ttyS1\n", 2, "port: \"ttyS1\" is not an absolute path");
	expect_error(f, "[bus]\nport =\n", 2, "port: \"\" is not an absolute path");
	expect_error(f, "[bus]\nmin-cycle-ms = 19\n", 2, "min-cycle-ms: \"19\" is not 20..1000");
	expect_error(f, "[bus]\nmin-cycle-ms = 1001\n", 2,
	             "min-cycle-ms: \"1001\" is not 20..1000");
	expect_error(f, "[bus]\nmin-cycle-ms = 0.1\n", 2, "min-cycle-ms: \"0.1\" is not 20..1000");
	expect_error(f, "[bus]\nmin-cycle-ms = -100\n", 2,
	             "min-cycle-ms: \"-100\" is not 20..1000");
	expect_error(f, "[bus]\nmin-cycle-ms =\n", 2, "min-cycle-ms: \"\" is not 20..1000");
	expect_error(f, "[state]\ndirectory = var/lib\n", 2,
	             "directory: \"var/lib\" is not an absolute path");
	expect_error(f, "[adc]\nuri = local\n", 2, "uri: \"local\" is no libiio URI");
	expect_error(f, "[adc]\ndevice = ads/1015\n", 2,
	             "device: \"ads/1015\" is no IIO device name");
	expect_error(f, "[adc]\nbank-channel = volt age0\n", 2,
	             "bank-channel: \"volt age0\" is no IIO channel name");
	static const char *const bad_dividers[] = {"0.999", "1000.001", "21.0001", "abc",
	                                           "21.",   ".5",       "-21",     ""};
	for (size_t i = 0; i < sizeof(bad_dividers) / sizeof(bad_dividers[0]); i++) {
		char text[96], reason[128];
		snprintf(text, sizeof(text), "[adc]\n\nremote-l-divider = %s\n", bad_dividers[i]);
		snprintf(reason, sizeof(reason),
		         "remote-l-divider: \"%s\" is not a ratio 1.0..1000.0 (3 decimals)",
		         bad_dividers[i]);
		expect_error(f, text, 3, reason);
	}
	expect_error(f, "[adc]\nrange-mv = 0\n", 2, "range-mv: \"0\" is not 1..100000");
	expect_error(f, "[adc]\nrange-mv = 100001\n", 2, "range-mv: \"100001\" is not 1..100000");
	expect_error(f, "[adc]\nresolution-bits = 25\n", 2,
	             "resolution-bits: \"25\" is not \"driver\" or 2..24");
	expect_error(f, "[adc]\nresolution-bits = 1\n", 2,
	             "resolution-bits: \"1\" is not \"driver\" or 2..24");
	expect_error(f, "[outputs]\nbackend = sysfs\n", 2,
	             "backend: \"sysfs\" is neither \"gpiod\" nor \"dry-run\"");
	expect_error(f, "[outputs]\npower-off = maybe\n", 2,
	             "power-off: \"maybe\" is none of \"auto\", \"yes\", \"no\"");
	expect_error(f, "[outputs]\nchip = gpiochip0\n", 2,
	             "chip: \"gpiochip0\" is not an absolute path");
	expect_error(f, "[outputs]\nchip = /dev/gpiochip0\npre-alarm = 65536\n", 3,
	             "pre-alarm: \"65536\" is no line offset (0..65535)");
	expect_error(f, "[outputs]\nchip = /dev/gpiochip0\npre-alarm = 12a\n", 3,
	             "pre-alarm: \"12a\" is no line offset (0..65535)");
	expect_error(f, "[outputs]\nled-error = red led\n", 2,
	             "led-error: \"red led\" is no GPIO line name");
	expect_error(f, "[outputs]\n# offsets need a chip\nheartbeat = 27\n", 3,
	             "a line offset needs [outputs] chip");
	expect_error(f, "[bus]\nport /dev/ttyS1\n", 2,
	             "syntax error (expected [section] or key = value)");
	expect_error(f, "[bus\n", 1, "syntax error (expected [section] or key = value)");

	/* The first error of a file is the one reported. */
	expect_error(f, "[bus]\nport = /dev/x\nbaud = 1\n[nope]\n", 3,
	             "unknown key \"baud\" in [bus]");

	char text[400];
	memset(text, 0, sizeof(text));
	strcpy(text, "[bus]\nport = /");
	memset(text + strlen(text), 'x', 250);
	strcat(text, "\n");
	expect_error(f, text, 2, "line longer than 198 characters");
}

static void write_bytes(const struct fixture *f, const char *rel, const char *bytes, size_t len)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(bytes, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* No byte below 0x20 but tab, no DEL, and none >= 0x80 in a message. */
static void assert_printable(const char *msg)
{
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
}

static void expect_bytes_error(const struct fixture *f, const char *bytes, size_t len,
                               unsigned line, const char *reason)
{
	struct bms_config cfg, before;
	struct config_error err;
	char file[128];

	write_bytes(f, "smallbmsd.conf", bytes, len);
	memset(&cfg, 0x3c, sizeof(cfg));
	before = cfg;
	memset(&err, 0, sizeof(err));
	assert_int_equal(config_load(f->dir, &cfg, &err), -EINVAL);
	snprintf(file, sizeof(file), "%s/smallbmsd.conf", f->dir);
	assert_string_equal(err.file, file);
	assert_int_equal(err.line, line);
	assert_string_equal(err.reason, reason);
	assert_printable(err.message);
	assert_memory_equal(&cfg, &before, sizeof(cfg));
}

/* Issue 15: a NUL byte cannot hide the rest of a line from the long-line
 * check (and make text past the limit a live key); control bytes are
 * refused with file and line, and messages print every byte escaped. */
static void test_hostile_bytes(void **state)
{
	struct fixture *f = *state;
	char text[512];
	size_t n = 0;

	n += (size_t)sprintf(text, "[bus]\n#");
	text[n++] = '\0';
	memset(text + n, 'x', 197);
	n += 197;
	n += (size_t)sprintf(text + n, "port = /dev/evil\n");
	expect_bytes_error(f, text, n, 2, "control byte \\x00 in column 2");

	static const char esc[] = "[bus]\nport = /dev/a\x1b[31m\n";
	expect_bytes_error(f, esc, sizeof(esc) - 1, 2, "control byte \\x1b in column 14");
	static const char del[] = "[bus]\n\x7f\n";
	expect_bytes_error(f, del, sizeof(del) - 1, 2, "control byte \\x7f in column 1");
	static const char cr[] = "[bus]\nport = /dev/a\rb\n";
	expect_bytes_error(f, cr, sizeof(cr) - 1, 2, "control byte \\x0d in column 14");
	/* a value echoed in a message: escaped */
	static const char high[] = "[state]\ndirectory = rel\xc2\x9b"
	                           "31m\n";
	expect_bytes_error(f, high, sizeof(high) - 1, 2,
	                   "directory: \"rel\\xc2\\x9b31m\" is not an absolute path");

	/* tabs and CRLF line ends stay fine */
	static const char crlf[] = "[bus]\r\n\tport = /dev/crlf\r\n";
	struct bms_config cfg;
	struct config_error err = {};
	write_bytes(f, "smallbmsd.conf", crlf, sizeof(crlf) - 1);
	assert_int_equal(config_load(f->dir, &cfg, &err), 0);
	assert_string_equal(cfg.bus_port, "/dev/crlf");
}

/* Issue 15: a configuration file that is a directory or a FIFO is an error
 * (never "configuration OK", never a hang); alarm() ends a hung test. */
static void test_not_regular_files(void **state)
{
	struct fixture *f = *state;
	struct bms_config cfg;
	struct config_error err = {};
	char path[256];

	alarm(10);
	snprintf(path, sizeof(path), "%s/smallbmsd.conf", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_true(config_load(f->dir, &cfg, &err) < 0);
	assert_non_null(strstr(err.message, "smallbmsd.conf: not a regular file (a directory)"));
	assert_int_equal(rmdir(path), 0);

	assert_int_equal(mkfifo(path, 0600), 0);
	memset(&err, 0, sizeof(err));
	assert_true(config_load(f->dir, &cfg, &err) < 0);
	assert_non_null(strstr(err.message, "smallbmsd.conf: not a regular file (a FIFO)"));
	assert_int_equal(unlink(path), 0);

	write_file(f, "smallbmsd.conf.d/10-ok.conf", "[bus]\nport = /dev/ok\n");
	snprintf(path, sizeof(path), "%s/smallbmsd.conf.d/20-fifo.conf", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	memset(&err, 0, sizeof(err));
	assert_true(config_load(f->dir, &cfg, &err) < 0);
	assert_non_null(strstr(err.message, "20-fifo.conf: not a regular file (a FIFO)"));
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/smallbmsd.conf.d/20-dir.conf", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	memset(&err, 0, sizeof(err));
	assert_true(config_load(f->dir, &cfg, &err) < 0);
	assert_non_null(strstr(err.message, "20-dir.conf: not a regular file (a directory)"));
	alarm(0);
}

/* Channels not wired on the board: "none" (remote both or neither, read-back
 * alone, never the bank). */
static void test_none_channels(void **state)
{
	struct fixture *f = *state;
	struct bms_config cfg;

	write_file(f, "smallbmsd.conf",
	           "[adc]\nremote-h-channel = none\nremote-l-channel = none\n"
	           "charge-readback-channel = none\n");
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	assert_true(config_adc_none(&cfg, ADC_REMOTE_H));
	assert_true(config_adc_none(&cfg, ADC_REMOTE_L));
	assert_true(config_adc_none(&cfg, ADC_CHARGE_READBACK));
	assert_false(config_adc_none(&cfg, ADC_BANK));
	assert_false(config_adc_none(&cfg, ADC_SIGNAL_COUNT));

	write_file(f, "smallbmsd.conf", "[adc]\ncharge-readback-channel = none\n");
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	assert_false(config_adc_none(&cfg, ADC_REMOTE_H));
	assert_true(config_adc_none(&cfg, ADC_CHARGE_READBACK));

	config_defaults(&cfg);
	for (unsigned s = 0; s < ADC_SIGNAL_COUNT; s++)
		assert_false(config_adc_none(&cfg, s));

	expect_error(f, "[adc]\nbank-channel = none\n", 2,
	             "bank-channel: the bank voltage cannot be \"none\"");
	expect_error(f, "[adc]\n\nremote-l-channel = none\n", 3,
	             "remote-h-channel and remote-l-channel must both be \"none\" or neither");
	expect_error(f, "[adc]\nremote-h-channel = none\nremote-l-channel = voltage2\n", 2,
	             "remote-h-channel and remote-l-channel must both be \"none\" or neither");
	/* A drop-in may wire back what the main file left out. */
	write_file(f, "smallbmsd.conf",
	           "[adc]\nremote-h-channel = none\nremote-l-channel = none\n");
	write_file(f, "smallbmsd.conf.d/10-wired.conf",
	           "[adc]\nremote-h-channel = voltage1\nremote-l-channel = voltage2\n");
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	assert_false(config_adc_none(&cfg, ADC_REMOTE_H));
}

static void test_error_in_dropin(void **state)
{
	struct fixture *f = *state;
	struct bms_config cfg;
	struct config_error err;
	char file[128];

	write_file(f, "smallbmsd.conf", "[bus]\nport = /dev/ok\n");
	write_file(f, "smallbmsd.conf.d/10-good.conf", "[state]\ndirectory = /good\n");
	write_file(f, "smallbmsd.conf.d/20-bad.conf", "[state]\n\n\ndirectory = rel\n");
	config_defaults(&cfg);
	assert_int_equal(config_load(f->dir, &cfg, &err), -EINVAL);
	snprintf(file, sizeof(file), "%s/smallbmsd.conf.d/20-bad.conf", f->dir);
	assert_string_equal(err.file, file);
	assert_int_equal(err.line, 4);
	assert_string_equal(cfg.state_dir, "/var/lib/smallbms");
	assert_string_equal(cfg.bus_port, "/dev/ttyS1");

	/* An offset set in one file and a chip cleared in a later one. */
	write_file(f, "smallbmsd.conf.d/20-bad.conf",
	           "[outputs]\nchip = /dev/gpiochip1\nled-error = 3\n");
	write_file(f, "smallbmsd.conf.d/30-nochip.conf", "[outputs]\nchip =\n");
	assert_int_equal(config_load(f->dir, &cfg, &err), -EINVAL);
	assert_string_equal(err.file, file);
	assert_int_equal(err.line, 3);
	assert_string_equal(err.reason, "a line offset needs [outputs] chip");
}

/* conf/smallbmsd.conf documents every key with its default: with each
 * "#key = value" line uncommented it must load and equal the defaults. */
static void test_annotated_example(void **state)
{
	const char *example = *state;
	char dir[] = "/tmp/test-config-example-XXXXXX", cmd[1024];
	struct bms_config cfg, def;

	if (!example) {
		skip();
		return;
	}
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "sed -E 's/^#([a-z-]+ =)/\\1/' '%s' > '%s/smallbmsd.conf'",
	         example, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "grep -c '^[a-z-]* =' '%s/smallbmsd.conf' | grep -qx 34", dir);
	int all_keys = system(cmd);
	assert_int_equal(config_load(dir, &cfg, NULL), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(all_keys, 0);
	config_defaults(&def);
	assert_memory_equal(&cfg, &def, sizeof(cfg));
}

static void test_mqtt_keys(void **state)
{
	struct fixture *f = *state;
	struct bms_config cfg;

	config_defaults(&cfg);
	assert_false(cfg.mqtt.enabled);
	assert_string_equal(cfg.mqtt.topic_prefix, "smallbms");
	assert_string_equal(cfg.mqtt.discovery_prefix, "homeassistant");
	assert_int_equal(cfg.mqtt.interval_s, 10);
	write_file(f, "smallbmsd.conf",
	           "[mqtt]\n"
	           "uri = mqtts://[fd00::1]:8884\n"
	           "ca-file = /etc/smallbms/ca.crt\n"
	           "cert-file = /etc/smallbms/bms.crt\n"
	           "key-file = /etc/smallbms/bms.key\n"
	           "user = bms-1\n"
	           "password-file = /etc/smallbms/mqtt.secret\n"
	           "topic-prefix = site/boat.1\n"
	           "discovery-prefix = ha\n"
	           "node-id = house_bank\n"
	           "publish-interval-s = 3600\n");
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	assert_true(cfg.mqtt.enabled);
	assert_true(cfg.mqtt.tls);
	assert_string_equal(cfg.mqtt.host, "fd00::1");
	assert_int_equal(cfg.mqtt.port, 8884);
	assert_string_equal(cfg.mqtt.ca_file, "/etc/smallbms/ca.crt");
	assert_string_equal(cfg.mqtt.cert_file, "/etc/smallbms/bms.crt");
	assert_string_equal(cfg.mqtt.key_file, "/etc/smallbms/bms.key");
	assert_string_equal(cfg.mqtt.user, "bms-1");
	assert_string_equal(cfg.mqtt.password_file, "/etc/smallbms/mqtt.secret");
	assert_string_equal(cfg.mqtt.topic_prefix, "site/boat.1");
	assert_string_equal(cfg.mqtt.discovery_prefix, "ha");
	assert_string_equal(cfg.mqtt.node_id, "house_bank");
	assert_int_equal(cfg.mqtt.interval_s, 3600);

	/* default ports; a later empty uri turns MQTT off again */
	write_file(f, "smallbmsd.conf",
	           "[mqtt]\nuri = mqtt://broker.lan\npublish-interval-s = 1\n");
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	assert_false(cfg.mqtt.tls);
	assert_string_equal(cfg.mqtt.host, "broker.lan");
	assert_int_equal(cfg.mqtt.port, 1883);
	assert_int_equal(cfg.mqtt.interval_s, 1);
	write_file(f, "smallbmsd.conf", "[mqtt]\nuri = mqtts://10.0.0.2/\n");
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	assert_int_equal(cfg.mqtt.port, 8883);
	assert_string_equal(cfg.mqtt.host, "10.0.0.2");
	write_file(f, "smallbmsd.conf", "[mqtt]\nuri = mqtt://b:1\n");
	write_file(f, "smallbmsd.conf.d/off.conf", "[mqtt]\nuri =\n");
	assert_int_equal(config_load(f->dir, &cfg, NULL), 0);
	assert_false(cfg.mqtt.enabled);
}

/* An error across keys: no line, the main file named. */
static void expect_mqtt_error(const struct fixture *f, const char *text, const char *reason)
{
	struct bms_config cfg, before;
	struct config_error err;
	char file[128];

	write_file(f, "smallbmsd.conf", text);
	memset(&cfg, 0x3c, sizeof(cfg));
	before = cfg;
	memset(&err, 0, sizeof(err));
	assert_int_equal(config_load(f->dir, &cfg, &err), -EINVAL);
	snprintf(file, sizeof(file), "%s/smallbmsd.conf", f->dir);
	assert_string_equal(err.file, file);
	assert_int_equal(err.line, 0);
	assert_string_equal(err.reason, reason);
	assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_mqtt_errors(void **state)
{
	struct fixture *f = *state;
	static const char *const bad_uris[] = {
	        "tcp://broker",      "mqtt://",          "mqtt://:1883",     "mqtt://host:0",
	        "mqtt://host:65536", "mqtt://host:",     "mqtt://ho st",     "mqtt://host:18x3",
	        "mqtt://[::1",       "mqtt://[zz::1]:1", "mqtt://host/path", "mqtts//host",
	        "mqtt://user@host",
	};
	for (size_t i = 0; i < sizeof(bad_uris) / sizeof(bad_uris[0]); i++) {
		char text[128], reason[160];
		snprintf(text, sizeof(text), "[mqtt]\nuri = %s\n", bad_uris[i]);
		snprintf(reason, sizeof(reason),
		         "uri: \"%s\" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]",
		         bad_uris[i]);
		expect_error(f, text, 2, reason);
	}
	expect_error(f, "[mqtt]\npublish-interval-s = 0\n", 2,
	             "publish-interval-s: \"0\" is not 1..3600");
	expect_error(f, "[mqtt]\npublish-interval-s = 3601\n", 2,
	             "publish-interval-s: \"3601\" is not 1..3600");
	expect_error(f, "[mqtt]\npublish-interval-s = 99999999999999999999\n", 2,
	             "publish-interval-s: \"99999999999999999999\" is not 1..3600");
	expect_error(f, "[mqtt]\npublish-interval-s =\n", 2,
	             "publish-interval-s: \"\" is not 1..3600");
	expect_error(f, "[mqtt]\nca-file = ca.crt\n", 2,
	             "ca-file: \"ca.crt\" is not an absolute path");
	expect_error(f, "[mqtt]\npassword-file = secret\n", 2,
	             "password-file: \"secret\" is not an absolute path");
	expect_error(f, "[mqtt]\nuser = a b\n", 2,
	             "user: \"a b\" is not printable ASCII without spaces");
	expect_error(f, "[mqtt]\ntopic-prefix = home/#\n", 2,
	             "topic-prefix: \"home/#\" is no topic prefix (levels of letters, digits, "
	             "'-', '_', '.', split by '/')");
	expect_error(f, "[mqtt]\ndiscovery-prefix = /ha\n", 2,
	             "discovery-prefix: \"/ha\" is no topic prefix (levels of letters, digits, "
	             "'-', '_', '.', split by '/')");
	expect_error(f, "[mqtt]\ntopic-prefix = a//b\n", 2,
	             "topic-prefix: \"a//b\" is no topic prefix (levels of letters, digits, "
	             "'-', '_', '.', split by '/')");
	expect_error(f, "[mqtt]\nnode-id = a/b\n", 2,
	             "node-id: \"a/b\" is not 1..63 letters, digits, '-', '_', '.'");
	expect_error(f, "[mqtt]\nnode-id = a+b\n", 2,
	             "node-id: \"a+b\" is not 1..63 letters, digits, '-', '_', '.'");
	expect_error(f, "[mqtt]\npassword = hunter2\n", 2, "unknown key \"password\" in [mqtt]");
	expect_mqtt_error(f, "[mqtt]\nuri = mqtts://b\ncert-file = /c\n",
	                  "cert-file and key-file go together: both or neither");
	expect_mqtt_error(f, "[mqtt]\nuri = mqtt://b\nca-file = /c\n",
	                  "ca-file, cert-file and key-file need an mqtts:// uri");
	expect_mqtt_error(f, "[mqtt]\nuri = mqtt://b\npassword-file = /p\n",
	                  "password-file needs user");
}

static void test_missing_dir(void **state)
{
	struct bms_config cfg;

	/* No configuration at all is the defaults, as for an empty dir. */
	assert_int_equal(config_load("/nonexistent/smallbms", &cfg, NULL), 0);
	assert_string_equal(cfg.bus_port, "/dev/ttyS1");
	assert_int_equal(config_load(NULL, &cfg, NULL), -EINVAL);
}

int main(int argc, char **argv)
{
	/* The annotated example's path, from meson. */
	void *example = argc > 1 ? argv[1] : NULL;

	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_dropin_order, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_error_in_dropin, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_none_channels, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_hostile_bytes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_not_regular_files, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_mqtt_keys, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_mqtt_errors, setup, teardown),
	        cmocka_unit_test(test_missing_dir),
	        cmocka_unit_test_prestate(test_annotated_example, example),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
