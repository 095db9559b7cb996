/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command line of smallbmsctl, parsed without touching the bus: every
 * usage error is found here, before anything is sent, so that a bad command
 * line never half-applies.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_SETTING_NAME_MAX 64
#define CTL_MAX_BATTERY      50
/* bluetooth pair --timeout: the daemon's bounds (OpenPairing), seconds */
#define CTL_PAIR_TIMEOUT_MIN_S     10
#define CTL_PAIR_TIMEOUT_MAX_S     600
#define CTL_PAIR_TIMEOUT_DEFAULT_S 120
#define CTL_BT_ADDRESS_LEN         17 /* AA:BB:CC:DD:EE:FF */

enum ctl_cmd {
	CTL_CMD_STATUS,
	CTL_CMD_BATTERIES,
	CTL_CMD_BATTERY,
	CTL_CMD_HISTORY,
	CTL_CMD_GET,
	CTL_CMD_SET,
	CTL_CMD_RESET_DEFAULTS,
	CTL_CMD_RESET_ALL,
	CTL_CMD_RESET_HISTORY,
	CTL_CMD_SYNC,
	CTL_CMD_SET_SOC,
	CTL_CMD_IDENTIFY,
	CTL_CMD_ACCEPT_BANK,
	CTL_CMD_MONITOR,
	CTL_CMD_BLUETOOTH, /* bluetooth: the state */
	CTL_CMD_BT_PAIR,
	CTL_CMD_BT_BIND_KEY,
	CTL_CMD_BT_NEW_BIND_KEY,
	CTL_CMD_BT_ENCRYPTION,
	CTL_CMD_BT_FORGET,
	CTL_CMD_UPDATE_FIRMWARE,
	CTL_CMD_HELP,
	CTL_CMD_VERSION,
};

enum ctl_bus_kind {
	CTL_BUS_SYSTEM,
	CTL_BUS_USER,
	CTL_BUS_ADDRESS,
};

/* One NAME=VALUE of `set`. */
struct ctl_assign {
	char name[CTL_SETTING_NAME_MAX];
	int32_t value;
};

struct ctl_args {
	enum ctl_cmd cmd;
	const char *verb; /* the command word as given, "status" when none */
	enum ctl_bus_kind bus;
	const char *address; /* CTL_BUS_ADDRESS */
	bool json;
	bool names;     /* get --names, batteries --names */
	unsigned count; /* monitor --count; 0 = until stopped */
	unsigned battery;
	double soc_pct;
	unsigned pair_timeout_s;                 /* bluetooth pair --timeout */
	bool pair_close;                         /* bluetooth pair close */
	bool encrypt;                            /* bluetooth encryption on|off */
	char bt_address[CTL_BT_ADDRESS_LEN + 1]; /* bluetooth forget, upper case */
	bool all_batteries;                      /* update-firmware --all (else battery) */
	const char *file;                        /* update-firmware FILE */
	/* get: the setting names (pointers into argv); set: the raw words */
	char **operands;
	size_t n_operands;
	/* set: parsed */
	struct ctl_assign *assigns;
	size_t n_assigns;
};

/* Parses argv (argv[0] is the program). 0 on success; -EINVAL on a usage
 * error with the message in err; -ENOMEM. --help and --version win over
 * everything else (cmd CTL_CMD_HELP / CTL_CMD_VERSION). Free with
 * ctl_args_done() in every case. */
int ctl_args_parse(int argc, char **argv, struct ctl_args *a, char *err, size_t errlen);
void ctl_args_done(struct ctl_args *a);

/* True for the commands that only read (the ones --json shapes). */
bool ctl_cmd_reads(enum ctl_cmd cmd);

/* Parses the words of `set` into out (n entries): NAME=VALUE with NAME of
 * [a-z0-9_], VALUE a decimal int32, each name once. 0, or -EINVAL with the
 * offending word in err. */
int ctl_set_parse(char *const *words, size_t n, struct ctl_assign *out, char *err, size_t errlen);

/* A percentage 0..100 with an optional fraction and '%': "55", "55.5%".
 * 0, or -EINVAL. */
int ctl_parse_percent(const char *s, double *pct);

/* A Bluetooth address AA:BB:CC:DD:EE:FF (hex digits of either case),
 * written to out in upper case. 0 or -EINVAL. */
int ctl_parse_bt_address(const char *s, char out[CTL_BT_ADDRESS_LEN + 1]);

/* A decimal integer within min..max, nothing else around it. 0 or -EINVAL. */
int ctl_parse_int(const char *s, long long min, long long max, long long *v);

/* The usage text of --help. */
extern const char ctl_usage_text[];
