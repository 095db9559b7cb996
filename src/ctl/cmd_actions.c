/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sync, set-soc, accept-bank: the methods of Bms1 that change the SoC or the bank. */
#include "ctl/ctl.h"

static int call(struct ctl *c, const char *member, const char *types, double arg)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	if (types)
		r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_ROOT_PATH, CTL_BMS_IFACE, member,
		                       &e, NULL, types, arg);
	else
		r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_ROOT_PATH, CTL_BMS_IFACE, member,
		                       &e, NULL, NULL);
	if (r < 0) {
		r = ctl_fail(c, r, &e);
		sd_bus_error_free(&e);
		return r;
	}
	return CTL_EXIT_OK;
}

int ctl_cmd_sync(struct ctl *c)
{
	return call(c, "Synchronise", NULL, 0);
}

int ctl_cmd_set_soc(struct ctl *c)
{
	return call(c, "SetSoc", "d", c->args->soc_pct);
}

int ctl_cmd_accept_bank(struct ctl *c)
{
	return call(c, "AcceptBank", NULL, 0);
}
