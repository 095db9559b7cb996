/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ctl/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

const char ctl_usage_text[] =
        "Usage: smallbmsctl [OPTIONS] [COMMAND [ARGS...]]\n"
        "\n"
        "Query and control smallbmsd over D-Bus.\n"
        "\n"
        "Read commands (--json prints one JSON document):\n"
        "  status              Summary: SoC, V, A, W, outputs and why, codes (default)\n"
        "  batteries           One line per battery (--names: the battery numbers)\n"
        "  battery N           Everything about battery N\n"
        "  history             The history values\n"
        "  get [NAME...]       Settings, all when none is named (--names: the names)\n"
        "  monitor             Live view, redrawn on every change (--count N)\n"
        "\n"
        "Commands that change something (root, group smallbms-admin, or as polkit allows):\n"
        "  set NAME=VALUE...   Change settings, all or nothing\n"
        "  reset-defaults      Reset the battery-monitor settings\n"
        "  reset-all           Reset every setting\n"
        "  reset-history       Clear the history\n"
        "  sync                Synchronise: SoC 100 % now\n"
        "  set-soc PCT         Set the state of charge by hand\n"
        "  identify N          Blink the LED of battery N\n"
        "  accept-bank         Accept a changed bank (clears E3)\n"
        "  update-firmware FILE --battery N | --all\n"
        "                      Update battery firmware from an image file, one battery\n"
        "                      at a time; Ctrl-C cancels (--json: progress as JSON lines)\n"
        "\n"
        "Bluetooth (all but the first: root, group smallbms-admin, or as polkit allows):\n"
        "  bluetooth                   State, adapter, encryption, pairing, bonded phones\n"
        "  bluetooth pair              Open a pairing window for a new phone and show its\n"
        "                              number to confirm (--timeout S, default 120)\n"
        "  bluetooth pair close        Close the pairing window\n"
        "  bluetooth bind-key          The BTHome bind key, for Home Assistant\n"
        "  bluetooth new-bind-key      A new random bind key\n"
        "  bluetooth encryption on|off Encrypt the advertisement, or not\n"
        "  bluetooth forget ADDRESS    Remove a phone's bond (AA:BB:CC:DD:EE:FF)\n"
        "\n"
        "Options:\n"
        "  --json              JSON output of the read commands\n"
        "  --system            Connect to the system bus (default)\n"
        "  --user              Connect to the user bus\n"
        "  --address ADDR      Connect to the bus at ADDR\n"
        "  --count N           monitor: stop after N status blocks\n"
        "  --names             get, batteries: print the names or numbers only\n"
        "  --timeout S         bluetooth pair: keep the window open S seconds (10..600)\n"
        "  --battery N         update-firmware: the battery to update (1..50)\n"
        "  --all               update-firmware: every battery, stopping at a failure\n"
        "  -h, --help          Show this help\n"
        "  --version           Show the version\n"
        "\n"
        "Exit status: 0 ok, 1 refused or failed, 2 usage error, 4 smallbmsd not running,\n"
        "5 update-firmware cancelled.\n";

struct verb {
	const char *word;
	enum ctl_cmd cmd;
	int min_ops, max_ops; /* -1: unlimited */
};

static const struct verb verbs[] = {
        {"status", CTL_CMD_STATUS, 0, 0},
        {"batteries", CTL_CMD_BATTERIES, 0, 0},
        {"battery", CTL_CMD_BATTERY, 1, 1},
        {"history", CTL_CMD_HISTORY, 0, 0},
        {"get", CTL_CMD_GET, 0, -1},
        {"set", CTL_CMD_SET, 1, -1},
        {"reset-defaults", CTL_CMD_RESET_DEFAULTS, 0, 0},
        {"reset-all", CTL_CMD_RESET_ALL, 0, 0},
        {"reset-history", CTL_CMD_RESET_HISTORY, 0, 0},
        {"sync", CTL_CMD_SYNC, 0, 0},
        {"set-soc", CTL_CMD_SET_SOC, 1, 1},
        {"identify", CTL_CMD_IDENTIFY, 1, 1},
        {"accept-bank", CTL_CMD_ACCEPT_BANK, 0, 0},
        {"monitor", CTL_CMD_MONITOR, 0, 0},
        {"update-firmware", CTL_CMD_UPDATE_FIRMWARE, 1, 1},
        /* the sub-commands are resolved before the operands are checked */
        {"bluetooth", CTL_CMD_BLUETOOTH, 0, 0},
};

/* bluetooth SUB: word is the whole command as messages name it. */
struct bt_verb {
	const char *sub;
	struct verb v;
};

static const struct bt_verb bt_verbs[] = {
        {"pair", {"bluetooth pair", CTL_CMD_BT_PAIR, 0, 1}},
        {"bind-key", {"bluetooth bind-key", CTL_CMD_BT_BIND_KEY, 0, 0}},
        {"new-bind-key", {"bluetooth new-bind-key", CTL_CMD_BT_NEW_BIND_KEY, 0, 0}},
        {"encryption", {"bluetooth encryption", CTL_CMD_BT_ENCRYPTION, 1, 1}},
        {"forget", {"bluetooth forget", CTL_CMD_BT_FORGET, 1, 1}},
};

static const char *const verb_usage[] = {
        [CTL_CMD_BATTERY] = "battery N",
        [CTL_CMD_SET] = "set NAME=VALUE...",
        [CTL_CMD_SET_SOC] = "set-soc PCT",
        [CTL_CMD_IDENTIFY] = "identify N",
        [CTL_CMD_BT_PAIR] = "bluetooth pair [close] [--timeout S]",
        [CTL_CMD_BT_ENCRYPTION] = "bluetooth encryption on|off",
        [CTL_CMD_BT_FORGET] = "bluetooth forget ADDRESS",
        [CTL_CMD_UPDATE_FIRMWARE] = "update-firmware FILE --battery N | --all",
};

bool ctl_cmd_reads(enum ctl_cmd cmd)
{
	switch (cmd) {
	case CTL_CMD_STATUS:
	case CTL_CMD_BATTERIES:
	case CTL_CMD_BATTERY:
	case CTL_CMD_HISTORY:
	case CTL_CMD_GET:
	case CTL_CMD_MONITOR:
	case CTL_CMD_BLUETOOTH:
	case CTL_CMD_BT_BIND_KEY:
		return true;
	default:
		return false;
	}
}

int ctl_parse_bt_address(const char *s, char out[CTL_BT_ADDRESS_LEN + 1])
{
	static const char hex[] = "0123456789abcdefABCDEF";

	if (!s || strlen(s) != CTL_BT_ADDRESS_LEN)
		return -EINVAL;
	for (size_t i = 0; i < CTL_BT_ADDRESS_LEN; i++) {
		bool colon = i % 3 == 2;

		if (colon ? s[i] != ':' : !strchr(hex, s[i]))
			return -EINVAL;
	}
	for (size_t i = 0; i < CTL_BT_ADDRESS_LEN; i++)
		out[i] = s[i] >= 'a' && s[i] <= 'f' ? (char)(s[i] - 'a' + 'A') : s[i];
	out[CTL_BT_ADDRESS_LEN] = '\0';
	return 0;
}

void ctl_args_done(struct ctl_args *a)
{
	free(a->operands);
	free(a->assigns);
	a->operands = NULL;
	a->assigns = NULL;
	a->n_operands = a->n_assigns = 0;
}

/* The value of an option: "--opt=VALUE" or "--opt VALUE". NULL when missing. */
static const char *option_value(int argc, char **argv, int *i, const char *opt)
{
	size_t n = strlen(opt);

	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static bool option_is(const char *arg, const char *opt, bool takes_value)
{
	size_t n = strlen(opt);

	return strncmp(arg, opt, n) == 0 && (arg[n] == '\0' || (takes_value && arg[n] == '='));
}

static int check_operands(struct ctl_args *a, const struct verb *v, char *err, size_t errlen)
{
	long long x;

	if ((int)a->n_operands < v->min_ops ||
	    (v->max_ops >= 0 && (int)a->n_operands > v->max_ops)) {
		if (v->max_ops == 0)
			snprintf(err, errlen, "%s takes no arguments", v->word);
		else
			snprintf(err, errlen, "usage: smallbmsctl %s", verb_usage[v->cmd]);
		return -EINVAL;
	}
	switch (v->cmd) {
	case CTL_CMD_BATTERY:
	case CTL_CMD_IDENTIFY:
		if (ctl_parse_int(a->operands[0], 1, CTL_MAX_BATTERY, &x) < 0) {
			snprintf(err, errlen, "%s: the battery number must be 1..%d, not '%s'",
			         v->word, CTL_MAX_BATTERY, a->operands[0]);
			return -EINVAL;
		}
		a->battery = (unsigned)x;
		return 0;
	case CTL_CMD_SET_SOC:
		if (ctl_parse_percent(a->operands[0], &a->soc_pct) < 0) {
			snprintf(err, errlen, "set-soc: PCT must be a number 0..100, not '%s'",
			         a->operands[0]);
			return -EINVAL;
		}
		return 0;
	case CTL_CMD_SET: {
		char why[160];

		a->assigns = calloc(a->n_operands, sizeof(*a->assigns));
		if (!a->assigns)
			return -ENOMEM;
		if (ctl_set_parse(a->operands, a->n_operands, a->assigns, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "set: %s", why);
			return -EINVAL;
		}
		a->n_assigns = a->n_operands;
		return 0;
	}
	case CTL_CMD_BT_PAIR:
		if (a->n_operands == 1 && strcmp(a->operands[0], "close") != 0) {
			snprintf(err, errlen, "%s: unknown argument '%s' (close, or none)", v->word,
			         a->operands[0]);
			return -EINVAL;
		}
		a->pair_close = a->n_operands == 1;
		return 0;
	case CTL_CMD_BT_ENCRYPTION:
		if (strcmp(a->operands[0], "on") != 0 && strcmp(a->operands[0], "off") != 0) {
			snprintf(err, errlen, "%s: on or off, not '%s'", v->word, a->operands[0]);
			return -EINVAL;
		}
		a->encrypt = strcmp(a->operands[0], "on") == 0;
		return 0;
	case CTL_CMD_BT_FORGET:
		if (ctl_parse_bt_address(a->operands[0], a->bt_address) < 0) {
			snprintf(err, errlen,
			         "%s: '%s' is not a Bluetooth address like AA:BB:CC:DD:EE:FF",
			         v->word, a->operands[0]);
			return -EINVAL;
		}
		return 0;
	case CTL_CMD_UPDATE_FIRMWARE:
		if (!*a->operands[0]) {
			snprintf(err, errlen, "update-firmware: FILE must not be empty");
			return -EINVAL;
		}
		a->file = a->operands[0];
		return 0;
	case CTL_CMD_GET:
		for (size_t i = 0; i < a->n_operands; i++)
			if (!*a->operands[i] || strchr(a->operands[i], '=')) {
				snprintf(err, errlen,
				         "get: '%s' is not a setting name (did you mean set?)",
				         a->operands[i]);
				return -EINVAL;
			}
		return 0;
	default:
		return 0;
	}
}

/* bluetooth SUB ARGS: the sub-command becomes the command, its arguments the
 * operands. Without one, bluetooth shows the state. */
static int bluetooth_sub(struct ctl_args *a, const struct verb **v, char *err, size_t errlen)
{
	const struct bt_verb *b = NULL;

	if (a->n_operands == 0)
		return 0;
	for (size_t k = 0; k < ELEMENTSOF(bt_verbs) && !b; k++)
		if (strcmp(a->operands[0], bt_verbs[k].sub) == 0)
			b = &bt_verbs[k];
	if (!b) {
		snprintf(err, errlen,
		         "bluetooth: unknown sub-command '%s' (pair, bind-key, new-bind-key, "
		         "encryption, forget)",
		         a->operands[0]);
		return -EINVAL;
	}
	memmove(a->operands, a->operands + 1, (a->n_operands - 1) * sizeof(*a->operands));
	a->n_operands--;
	*v = &b->v;
	a->cmd = b->v.cmd;
	a->verb = b->v.word;
	return 0;
}

int ctl_args_parse(int argc, char **argv, struct ctl_args *a, char *err, size_t errlen)
{
	const struct verb *v = NULL;
	bool help = false, version = false, count_given = false, options_end = false;
	bool timeout_given = false, battery_given = false;
	const char *bad = NULL;
	long long x;

	memset(a, 0, sizeof(*a));
	a->cmd = CTL_CMD_STATUS;
	a->verb = "status";
	a->bus = CTL_BUS_SYSTEM;
	a->pair_timeout_s = CTL_PAIR_TIMEOUT_DEFAULT_S;
	err[0] = '\0';
	a->operands = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*a->operands));
	if (!a->operands)
		return -ENOMEM;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (options_end || arg[0] != '-' || arg[1] == '\0') {
			if (!v && !bad) {
				for (size_t k = 0; k < ELEMENTSOF(verbs); k++)
					if (strcmp(arg, verbs[k].word) == 0)
						v = &verbs[k];
				if (!v)
					bad = arg;
				continue;
			}
			a->operands[a->n_operands++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options_end = true;
		} else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			help = true;
		} else if (strcmp(arg, "--version") == 0) {
			version = true;
		} else if (strcmp(arg, "--json") == 0) {
			a->json = true;
		} else if (strcmp(arg, "--names") == 0) {
			a->names = true;
		} else if (strcmp(arg, "--system") == 0) {
			a->bus = CTL_BUS_SYSTEM;
		} else if (strcmp(arg, "--user") == 0) {
			a->bus = CTL_BUS_USER;
		} else if (option_is(arg, "--address", true)) {
			a->address = option_value(argc, argv, &i, "--address");
			if (!a->address || !*a->address) {
				snprintf(err, errlen, "--address needs a bus address");
				return -EINVAL;
			}
			a->bus = CTL_BUS_ADDRESS;
		} else if (option_is(arg, "--count", true)) {
			const char *val = option_value(argc, argv, &i, "--count");

			if (ctl_parse_int(val, 1, 1000000000, &x) < 0) {
				snprintf(err, errlen,
				         "--count needs a number 1..1000000000, not '%s'",
				         val ? val : "");
				return -EINVAL;
			}
			a->count = (unsigned)x;
			count_given = true;
		} else if (option_is(arg, "--battery", true)) {
			const char *val = option_value(argc, argv, &i, "--battery");

			if (ctl_parse_int(val, 1, CTL_MAX_BATTERY, &x) < 0) {
				snprintf(err, errlen,
				         "--battery needs a battery number 1..%d, not '%s'",
				         CTL_MAX_BATTERY, val ? val : "");
				return -EINVAL;
			}
			a->battery = (unsigned)x;
			battery_given = true;
		} else if (strcmp(arg, "--all") == 0) {
			a->all_batteries = true;
		} else if (option_is(arg, "--timeout", true)) {
			const char *val = option_value(argc, argv, &i, "--timeout");

			if (ctl_parse_int(val, CTL_PAIR_TIMEOUT_MIN_S, CTL_PAIR_TIMEOUT_MAX_S, &x) <
			    0) {
				snprintf(err, errlen, "--timeout needs seconds %d..%d, not '%s'",
				         CTL_PAIR_TIMEOUT_MIN_S, CTL_PAIR_TIMEOUT_MAX_S,
				         val ? val : "");
				return -EINVAL;
			}
			a->pair_timeout_s = (unsigned)x;
			timeout_given = true;
		} else {
			snprintf(err, errlen, "unknown option '%s'", arg);
			return -EINVAL;
		}
	}
	if (help || version) {
		a->cmd = help ? CTL_CMD_HELP : CTL_CMD_VERSION;
		return 0;
	}
	if (bad) {
		snprintf(err, errlen, "unknown command '%s'", bad);
		return -EINVAL;
	}
	if (v) {
		a->cmd = v->cmd;
		a->verb = v->word;
	} else {
		v = &verbs[0];
	}
	if (a->cmd == CTL_CMD_BLUETOOTH && bluetooth_sub(a, &v, err, errlen) < 0)
		return -EINVAL;
	if (timeout_given && a->cmd != CTL_CMD_BT_PAIR) {
		snprintf(err, errlen, "--timeout applies to bluetooth pair only");
		return -EINVAL;
	}
	if ((battery_given || a->all_batteries) && a->cmd != CTL_CMD_UPDATE_FIRMWARE) {
		snprintf(err, errlen, "--battery and --all apply to update-firmware only");
		return -EINVAL;
	}
	if (a->cmd == CTL_CMD_UPDATE_FIRMWARE && battery_given == a->all_batteries) {
		snprintf(err, errlen, "update-firmware: give either --battery N or --all");
		return -EINVAL;
	}
	if (count_given && a->cmd != CTL_CMD_MONITOR) {
		snprintf(err, errlen, "--count applies to monitor only");
		return -EINVAL;
	}
	if (a->names && a->cmd != CTL_CMD_GET && a->cmd != CTL_CMD_BATTERIES) {
		snprintf(err, errlen, "--names applies to get and batteries only");
		return -EINVAL;
	}
	if (a->names && a->n_operands > 0) {
		snprintf(err, errlen, "get --names takes no setting names");
		return -EINVAL;
	}
	if (a->json && !ctl_cmd_reads(a->cmd) && a->cmd != CTL_CMD_UPDATE_FIRMWARE) {
		snprintf(err, errlen, "--json applies to the read commands only");
		return -EINVAL;
	}
	return check_operands(a, v, err, errlen);
}
