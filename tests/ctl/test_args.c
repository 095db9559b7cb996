/* SPDX-License-Identifier: GPL-2.0-or-later */
/* smallbmsctl's command line: every command, every option, the bad ones. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/macro.h"
#include "ctl/args.h"

#define MAX_WORDS 16

/* Parses a NULL-terminated list of words after the program name. */
static int parse_words(struct ctl_args *a, char *err, size_t errlen, const char *const *words)
{
	char *argv[MAX_WORDS + 2];
	int argc = 1;

	argv[0] = (char *)"smallbmsctl";
	for (size_t i = 0; words[i]; i++)
		argv[argc++] = (char *)words[i];
	argv[argc] = NULL;
	return ctl_args_parse(argc, argv, a, err, errlen);
}

#define PARSE(a, err, ...)                                                                         \
	parse_words(a, err, sizeof(err), (const char *const[]){__VA_ARGS__, NULL})

static void expect_usage_error(const char *const *words, const char *needle)
{
	struct ctl_args a;
	char err[256];
	int r = parse_words(&a, err, sizeof(err), words);

	ctl_args_done(&a);
	if (r != -EINVAL)
		fail_msg("'%s ...' parsed (%d), expected a usage error", words[0] ? words[0] : "",
		         r);
	assert_true(strlen(err) > 0);
	if (needle && !strstr(err, needle))
		fail_msg("message '%s' does not mention '%s'", err, needle);
}

#define BAD(needle, ...) expect_usage_error((const char *const[]){__VA_ARGS__, NULL}, needle)

static void test_default_is_status(void **state)
{
	struct ctl_args a;
	char err[128];

	assert_int_equal(parse_words(&a, err, sizeof(err), (const char *const[]){NULL}), 0);
	assert_int_equal(a.cmd, CTL_CMD_STATUS);
	assert_string_equal(a.verb, "status");
	assert_int_equal(a.bus, CTL_BUS_SYSTEM);
	assert_false(a.json);
	ctl_args_done(&a);
}

static void test_every_command(void **state)
{
	static const struct {
		const char *words[3];
		enum ctl_cmd cmd;
	} cases[] = {
	        {{"status"}, CTL_CMD_STATUS},
	        {{"batteries"}, CTL_CMD_BATTERIES},
	        {{"battery", "7"}, CTL_CMD_BATTERY},
	        {{"history"}, CTL_CMD_HISTORY},
	        {{"get"}, CTL_CMD_GET},
	        {{"get", "uv_trip_mv"}, CTL_CMD_GET},
	        {{"set", "uv_trip_mv=2800"}, CTL_CMD_SET},
	        {{"reset-defaults"}, CTL_CMD_RESET_DEFAULTS},
	        {{"reset-all"}, CTL_CMD_RESET_ALL},
	        {{"reset-history"}, CTL_CMD_RESET_HISTORY},
	        {{"sync"}, CTL_CMD_SYNC},
	        {{"set-soc", "55"}, CTL_CMD_SET_SOC},
	        {{"identify", "3"}, CTL_CMD_IDENTIFY},
	        {{"accept-bank"}, CTL_CMD_ACCEPT_BANK},
	        {{"monitor"}, CTL_CMD_MONITOR},
	        {{"bluetooth"}, CTL_CMD_BLUETOOTH},
	};
	/* update-firmware needs an option besides its word: test_update_firmware */

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct ctl_args a;
		char err[128];

		if (parse_words(&a, err, sizeof(err), cases[i].words) != 0)
			fail_msg("%s: %s", cases[i].words[0], err);
		assert_int_equal(a.cmd, cases[i].cmd);
		assert_string_equal(a.verb, cases[i].words[0]);
		ctl_args_done(&a);
	}
}

static void test_operands(void **state)
{
	struct ctl_args a;
	char err[128];

	assert_int_equal(PARSE(&a, err, "battery", "50"), 0);
	assert_int_equal(a.battery, 50);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "identify", "1"), 0);
	assert_int_equal(a.battery, 1);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "set-soc", "55.5%"), 0);
	assert_true(a.soc_pct > 55.49 && a.soc_pct < 55.51);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "set-soc", "100"), 0);
	assert_true(a.soc_pct == 100.0);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "set-soc", "0"), 0);
	assert_true(a.soc_pct == 0.0);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "get", "uv_trip_mv", "ov_trip_mv"), 0);
	assert_int_equal(a.n_operands, 2);
	assert_string_equal(a.operands[0], "uv_trip_mv");
	assert_string_equal(a.operands[1], "ov_trip_mv");
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "set", "uv_trip_mv=2800", "uv_release_mv=-5"), 0);
	assert_int_equal(a.n_assigns, 2);
	assert_string_equal(a.assigns[0].name, "uv_trip_mv");
	assert_int_equal(a.assigns[0].value, 2800);
	assert_string_equal(a.assigns[1].name, "uv_release_mv");
	assert_int_equal(a.assigns[1].value, -5);
	ctl_args_done(&a);
}

static void expect_bt(const char *const *words, enum ctl_cmd cmd, const char *verb)
{
	struct ctl_args a;
	char err[256];

	if (parse_words(&a, err, sizeof(err), words) != 0)
		fail_msg("bluetooth %s: %s", words[1] ? words[1] : "", err);
	assert_int_equal(a.cmd, cmd);
	assert_string_equal(a.verb, verb);
	ctl_args_done(&a);
}

#define BT(cmd, verb, ...) expect_bt((const char *const[]){__VA_ARGS__, NULL}, cmd, verb)

static void test_bluetooth(void **state)
{
	struct ctl_args a;
	char err[256];

	BT(CTL_CMD_BLUETOOTH, "bluetooth", "bluetooth");
	BT(CTL_CMD_BLUETOOTH, "bluetooth", "bluetooth", "--json");
	BT(CTL_CMD_BT_PAIR, "bluetooth pair", "bluetooth", "pair");
	BT(CTL_CMD_BT_PAIR, "bluetooth pair", "bluetooth", "pair", "close");
	BT(CTL_CMD_BT_PAIR, "bluetooth pair", "bluetooth", "pair", "--timeout", "30");
	BT(CTL_CMD_BT_BIND_KEY, "bluetooth bind-key", "bluetooth", "bind-key");
	BT(CTL_CMD_BT_BIND_KEY, "bluetooth bind-key", "--json", "bluetooth", "bind-key");
	BT(CTL_CMD_BT_NEW_BIND_KEY, "bluetooth new-bind-key", "bluetooth", "new-bind-key");
	BT(CTL_CMD_BT_ENCRYPTION, "bluetooth encryption", "bluetooth", "encryption", "on");
	BT(CTL_CMD_BT_FORGET, "bluetooth forget", "bluetooth", "forget", "AA:BB:CC:DD:EE:FF");

	/* the pairing window: 120 s by default, --timeout within 10..600 s */
	assert_int_equal(PARSE(&a, err, "bluetooth", "pair"), 0);
	assert_int_equal(a.pair_timeout_s, 120);
	assert_false(a.pair_close);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "bluetooth", "pair", "--timeout=10"), 0);
	assert_int_equal(a.pair_timeout_s, 10);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "--timeout", "600", "bluetooth", "pair"), 0);
	assert_int_equal(a.pair_timeout_s, 600);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "bluetooth", "pair", "close"), 0);
	assert_true(a.pair_close);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "bluetooth", "encryption", "off"), 0);
	assert_false(a.encrypt);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "bluetooth", "encryption", "on"), 0);
	assert_true(a.encrypt);
	ctl_args_done(&a);
	/* an address of either case is sent in upper case */
	assert_int_equal(PARSE(&a, err, "bluetooth", "forget", "aa:bb:cc:0d:ee:f9"), 0);
	assert_string_equal(a.bt_address, "AA:BB:CC:0D:EE:F9");
	assert_int_equal(a.n_operands, 1);
	ctl_args_done(&a);
	/* options anywhere, "--" before the sub-command */
	assert_int_equal(PARSE(&a, err, "bluetooth", "--address=unix:path=/b", "forget",
	                       "00:11:22:33:44:55"),
	                 0);
	assert_int_equal(a.cmd, CTL_CMD_BT_FORGET);
	assert_int_equal(a.bus, CTL_BUS_ADDRESS);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "bluetooth", "--", "pair", "close"), 0);
	assert_int_equal(a.cmd, CTL_CMD_BT_PAIR);
	ctl_args_done(&a);
}

static void test_bluetooth_bad(void **state)
{

	BAD("unknown sub-command", "bluetooth", "bogus");
	BAD("unknown sub-command", "bluetooth", "status");
	BAD("no arguments", "bluetooth", "bind-key", "x");
	BAD("no arguments", "bluetooth", "new-bind-key", "x");
	/* the fixed PIN is gone (issue 14) */
	BAD("unknown sub-command", "bluetooth", "set-pin", "123456");
	BAD("unknown sub-command", "bluetooth", "set-pin");
	BAD("usage", "bluetooth", "pair", "close", "now");
	BAD("unknown argument", "bluetooth", "pair", "open");
	BAD("--timeout needs", "bluetooth", "pair", "--timeout", "9");
	BAD("--timeout needs", "bluetooth", "pair", "--timeout", "601");
	BAD("--timeout needs", "bluetooth", "pair", "--timeout", "2m");
	BAD("--timeout needs", "bluetooth", "pair", "--timeout");
	BAD("--timeout applies", "bluetooth", "--timeout", "30");
	BAD("--timeout applies", "status", "--timeout", "30");
	BAD("--json", "bluetooth", "pair", "--json");
	BAD("usage", "bluetooth", "encryption");
	BAD("on or off", "bluetooth", "encryption", "yes");
	BAD("on or off", "bluetooth", "encryption", "ON");
	BAD("usage", "bluetooth", "encryption", "on", "off");
	BAD("usage", "bluetooth", "forget");
	BAD("Bluetooth address", "bluetooth", "forget", "AA:BB:CC:DD:EE");
	BAD("Bluetooth address", "bluetooth", "forget", "AA:BB:CC:DD:EE:FF:00");
	BAD("Bluetooth address", "bluetooth", "forget", "AA-BB-CC-DD-EE-FF");
	BAD("Bluetooth address", "bluetooth", "forget", "AA:BB:CC:DD:EE:FG");
	BAD("Bluetooth address", "bluetooth", "forget", "AABB:CC:DD:EE:FF:");
	BAD("Bluetooth address", "bluetooth", "forget", "/org/bluez/hci0");
	BAD("--json", "bluetooth", "new-bind-key", "--json");
	BAD("--json", "bluetooth", "encryption", "off", "--json");
	BAD("--json", "bluetooth", "forget", "AA:BB:CC:DD:EE:FF", "--json");
	BAD("--names", "bluetooth", "--names");
	BAD("--count", "bluetooth", "--count", "1");

	assert_null(strstr(ctl_usage_text, "set-pin"));
	assert_non_null(strstr(ctl_usage_text, "bluetooth pair "));
	assert_non_null(strstr(ctl_usage_text, "bluetooth forget ADDRESS"));
}

static void test_options(void **state)
{
	struct ctl_args a;
	char err[128];

	assert_int_equal(PARSE(&a, err, "--json", "status"), 0);
	assert_true(a.json);
	assert_int_equal(a.cmd, CTL_CMD_STATUS);
	ctl_args_done(&a);
	/* options after the command, and both forms of a value */
	assert_int_equal(PARSE(&a, err, "batteries", "--address", "unix:path=/x", "--json"), 0);
	assert_int_equal(a.bus, CTL_BUS_ADDRESS);
	assert_string_equal(a.address, "unix:path=/x");
	assert_true(a.json);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "--address=unix:path=/y", "history"), 0);
	assert_string_equal(a.address, "unix:path=/y");
	ctl_args_done(&a);
	/* the last bus option wins */
	assert_int_equal(PARSE(&a, err, "--address=unix:path=/y", "--user"), 0);
	assert_int_equal(a.bus, CTL_BUS_USER);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "--user", "--system"), 0);
	assert_int_equal(a.bus, CTL_BUS_SYSTEM);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "monitor", "--count", "3"), 0);
	assert_int_equal(a.count, 3);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "monitor", "--count=1"), 0);
	assert_int_equal(a.count, 1);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "get", "--names"), 0);
	assert_true(a.names);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "batteries", "--names"), 0);
	assert_true(a.names);
	ctl_args_done(&a);
	/* "--" ends the options: a negative-looking setting value is fine */
	assert_int_equal(PARSE(&a, err, "set", "--", "uv_trip_mv=1"), 0);
	assert_int_equal(a.n_assigns, 1);
	ctl_args_done(&a);
}

static void test_help_and_version(void **state)
{
	struct ctl_args a;
	char err[128];

	assert_int_equal(PARSE(&a, err, "-h"), 0);
	assert_int_equal(a.cmd, CTL_CMD_HELP);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "set", "--help"), 0);
	assert_int_equal(a.cmd, CTL_CMD_HELP);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "bogus", "--help"), 0);
	assert_int_equal(a.cmd, CTL_CMD_HELP);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "--version"), 0);
	assert_int_equal(a.cmd, CTL_CMD_VERSION);
	ctl_args_done(&a);
	assert_non_null(strstr(ctl_usage_text, "set NAME=VALUE"));
}

static void test_bad_command_lines(void **state)
{
	BAD("unknown command", "bogus");
	BAD("unknown option", "--frobnicate");
	BAD("unknown option", "status", "-x");
	BAD("no arguments", "status", "extra");
	BAD("no arguments", "sync", "now");
	BAD("no arguments", "reset-all", "x");
	BAD("usage", "battery");
	BAD("usage", "battery", "1", "2");
	BAD("1..50", "battery", "0");
	BAD("1..50", "battery", "51");
	BAD("1..50", "battery", "1x");
	BAD("unknown option", "identify", "-1");
	BAD("1..50", "identify", " 1");
	BAD("usage", "identify");
	BAD("usage", "set");
	BAD("usage", "set-soc");
	BAD("0..100", "set-soc", "101");
	BAD("0..100", "set-soc", "100.01");
	BAD("0..100", "set-soc", "abc");
	BAD("0..100", "set-soc", "1e2");
	BAD("0..100", "set-soc", "nan");
	BAD("0..100", "set-soc", ".5");
	BAD("0..100", "set-soc", "5.");
	BAD("0..100", "set-soc", "%");
	BAD("unknown option", "set-soc", "-1");
	BAD("NAME=VALUE", "set", "uv_trip_mv");
	BAD("did you mean set", "get", "uv_trip_mv=1");
	BAD("--count", "status", "--count", "2");
	BAD("--count", "monitor", "--count", "0");
	BAD("--count", "monitor", "--count");
	BAD("--count", "monitor", "--count=x");
	BAD("--address", "--address");
	BAD("--address", "--address=");
	BAD("--names", "status", "--names");
	BAD("--names", "get", "--names", "uv_trip_mv");
	BAD("--json", "set", "uv_trip_mv=1", "--json");
	BAD("--json", "sync", "--json");
}

static void test_update_firmware(void **state)
{
	struct ctl_args a;
	char err[128];

	(void)state;
	assert_int_equal(PARSE(&a, err, "update-firmware", "fw.sbfw", "--battery", "7"), 0);
	assert_int_equal(a.cmd, CTL_CMD_UPDATE_FIRMWARE);
	assert_string_equal(a.file, "fw.sbfw");
	assert_int_equal(a.battery, 7);
	assert_false(a.all_batteries);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "--all", "update-firmware", "fw.sbfw", "--json"), 0);
	assert_true(a.all_batteries);
	assert_true(a.json);
	ctl_args_done(&a);
	assert_int_equal(PARSE(&a, err, "update-firmware", "x", "--battery=50"), 0);
	assert_int_equal(a.battery, 50);
	ctl_args_done(&a);
	BAD("either --battery N or --all", "update-firmware", "fw.sbfw");
	BAD("either --battery N or --all", "update-firmware", "fw.sbfw", "--all", "--battery", "1");
	BAD("usage", "update-firmware", "--all");
	BAD("usage", "update-firmware", "a", "b", "--all");
	BAD("1..50", "update-firmware", "fw", "--battery", "0");
	BAD("1..50", "update-firmware", "fw", "--battery", "51");
	BAD("1..50", "update-firmware", "fw", "--battery");
	BAD("empty", "update-firmware", "", "--all");
	BAD("update-firmware only", "status", "--all");
	BAD("update-firmware only", "identify", "1", "--battery", "1");
	assert_non_null(strstr(ctl_usage_text, "update-firmware FILE"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_default_is_status), cmocka_unit_test(test_every_command),
	        cmocka_unit_test(test_operands),          cmocka_unit_test(test_options),
	        cmocka_unit_test(test_help_and_version),  cmocka_unit_test(test_bad_command_lines),
	        cmocka_unit_test(test_bluetooth),         cmocka_unit_test(test_bluetooth_bad),
	        cmocka_unit_test(test_update_firmware),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
