/* SPDX-License-Identifier: GPL-2.0-or-later */
/* smallbmsctl: the command line of smallbmsd over D-Bus. Options, dispatch. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/args.h"
#include "ctl/ctl.h"

#ifndef SMALLBMS_VERSION
#define SMALLBMS_VERSION "unknown"
#endif

/* "set: uv_trip_mv=3100 uv_release_mv=2900": the prefix of every message. */
static void describe(struct ctl *c, const struct ctl_args *a)
{
	size_t pos = (size_t)snprintf(c->what, sizeof(c->what), "%s", a->verb);

	for (size_t i = 0; i < a->n_operands && pos < sizeof(c->what); i++)
		pos += (size_t)snprintf(c->what + pos, sizeof(c->what) - pos, "%s%s",
		                        i == 0 ? ": " : " ", a->operands[i]);
}

static int dispatch(struct ctl *c)
{
	switch (c->args->cmd) {
	case CTL_CMD_STATUS:
		return ctl_cmd_status(c);
	case CTL_CMD_BATTERIES:
		return ctl_cmd_batteries(c);
	case CTL_CMD_BATTERY:
		return ctl_cmd_battery(c);
	case CTL_CMD_HISTORY:
		return ctl_cmd_history(c);
	case CTL_CMD_GET:
		return ctl_cmd_get(c);
	case CTL_CMD_SET:
		return ctl_cmd_set(c);
	case CTL_CMD_RESET_DEFAULTS:
		return ctl_cmd_reset_settings(c, false);
	case CTL_CMD_RESET_ALL:
		return ctl_cmd_reset_settings(c, true);
	case CTL_CMD_RESET_HISTORY:
		return ctl_cmd_reset_history(c);
	case CTL_CMD_SYNC:
		return ctl_cmd_sync(c);
	case CTL_CMD_SET_SOC:
		return ctl_cmd_set_soc(c);
	case CTL_CMD_IDENTIFY:
		return ctl_cmd_identify(c);
	case CTL_CMD_ACCEPT_BANK:
		return ctl_cmd_accept_bank(c);
	case CTL_CMD_MONITOR:
		return ctl_cmd_monitor(c);
	case CTL_CMD_BLUETOOTH:
		return ctl_cmd_bluetooth(c);
	case CTL_CMD_BT_PAIR:
		return ctl_cmd_bt_pair(c);
	case CTL_CMD_BT_BIND_KEY:
		return ctl_cmd_bt_bind_key(c);
	case CTL_CMD_BT_NEW_BIND_KEY:
		return ctl_cmd_bt_new_bind_key(c);
	case CTL_CMD_BT_ENCRYPTION:
		return ctl_cmd_bt_encryption(c);
	case CTL_CMD_BT_FORGET:
		return ctl_cmd_bt_forget(c);
	case CTL_CMD_UPDATE_FIRMWARE:
		return ctl_cmd_update_firmware(c);
	case CTL_CMD_HELP:
	case CTL_CMD_VERSION:
		break;
	}
	return CTL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct ctl_args args;
	struct ctl c = {0};
	char err[256];
	int r;

	r = ctl_args_parse(argc, argv, &args, err, sizeof(err));
	if (r < 0) {
		if (r == -EINVAL)
			fprintf(stderr, "smallbmsctl: %s\nTry 'smallbmsctl --help'.\n", err);
		else
			fprintf(stderr, "smallbmsctl: %s\n", strerror(-r));
		ctl_args_done(&args);
		return r == -EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_FAILED;
	}
	if (args.cmd == CTL_CMD_HELP || args.cmd == CTL_CMD_VERSION) {
		fputs(args.cmd == CTL_CMD_HELP ? ctl_usage_text
		                               : "smallbmsctl " SMALLBMS_VERSION "\n",
		      stdout);
		ctl_args_done(&args);
		return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILED;
	}
	if (args.cmd == CTL_CMD_GET && args.names) {
		r = ctl_print_setting_names();
		ctl_args_done(&args);
		return r;
	}
	describe(&c, &args);
	r = ctl_connect(&c, &args);
	if (r == CTL_EXIT_OK)
		r = dispatch(&c);
	ctl_disconnect(&c);
	ctl_args_done(&args);
	return r;
}
