/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the command files share: the connection, the error reporting that
 * turns a bus error into smallbmsctl's message and exit status, and one
 * entry point per command.
 */
#pragma once

#include <systemd/sd-bus.h>

#include "common/macro.h"
#include "ctl/args.h"
#include "ctl/out.h"
#include "ctl/props.h"

enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_NOT_RUNNING = 4,
	CTL_EXIT_CANCELLED = 5, /* update-firmware: cancelled (Ctrl-C, or by another client) */
};

struct ctl {
	sd_bus *bus;
	const struct ctl_args *args;
	char what[256]; /* "set: uv_trip_mv=3100 ...", the prefix of messages */
};

/* Connects as args say. An exit status: 0, or 1 with the message printed. */
int ctl_connect(struct ctl *c, const struct ctl_args *args);
void ctl_disconnect(struct ctl *c);

/* Prints "smallbmsctl: WHAT: why" for a failed call and returns the exit
 * status: 4 when org.smallbms has no owner, else 1. */
int ctl_fail(const struct ctl *c, int r, const sd_bus_error *e);
/* The same for a reply that does not have the shape of the API. */
int ctl_fail_reply(const struct ctl *c, int r);

/* Fetches and decodes; each returns an exit status, the message printed. */
int ctl_fetch_bms(struct ctl *c, struct ctl_bms *b);
int ctl_fetch_batteries(struct ctl *c, struct ctl_battery **v, size_t *n);
int ctl_fetch_battery(struct ctl *c, unsigned n, struct ctl_battery *b);
int ctl_fetch_history(struct ctl *c, struct ctl_history *h);

/* The current CLOCK_REALTIME in us, for "since" times. */
uint64_t ctl_now_wall_us(void);

/* Printers shared by status, batteries and monitor. */
void ctl_print_status(struct out *o, const struct ctl_bms *b, uint64_t now_wall_us);
void ctl_print_battery_table(struct out *o, const struct ctl_battery *v, size_t n);

/* One per command; each returns the exit status. */
int ctl_cmd_status(struct ctl *c);
int ctl_cmd_batteries(struct ctl *c);
int ctl_cmd_battery(struct ctl *c);
int ctl_cmd_history(struct ctl *c);
int ctl_cmd_reset_history(struct ctl *c);
int ctl_cmd_get(struct ctl *c);
/* get --names: needs no connection. */
int ctl_print_setting_names(void);
int ctl_cmd_set(struct ctl *c);
int ctl_cmd_reset_settings(struct ctl *c, bool all);
int ctl_cmd_sync(struct ctl *c);
int ctl_cmd_set_soc(struct ctl *c);
int ctl_cmd_identify(struct ctl *c);
int ctl_cmd_accept_bank(struct ctl *c);
int ctl_cmd_monitor(struct ctl *c);
int ctl_cmd_bluetooth(struct ctl *c);
int ctl_cmd_bt_pair(struct ctl *c);
int ctl_cmd_bt_bind_key(struct ctl *c);
int ctl_cmd_bt_new_bind_key(struct ctl *c);
int ctl_cmd_bt_encryption(struct ctl *c);
int ctl_cmd_bt_forget(struct ctl *c);
int ctl_cmd_update_firmware(struct ctl *c);
