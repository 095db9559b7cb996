/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The errors of docs/dbus-api.md from the negative errno values of
 * service/actions.h: which name depends on what was asked. */
#include <errno.h>
#include <string.h>

#include "dbus/dbus_private.h"

static const char *error_name(int r, enum dbus_err_ctx ctx)
{
	switch (r) {
	case -ENOENT:
		if (ctx == DBUS_CTX_FIRMWARE)
			return ERR_NOT_RUNNING;
		if (ctx == DBUS_CTX_SETTING)
			return ERR_UNKNOWN_SETTING;
		return ctx == DBUS_CTX_BATTERY ? ERR_NO_SUCH_BATTERY : ERR_INVALID_VALUE;
	case -EMEDIUMTYPE:
	case -EFBIG:
		return ERR_INVALID_IMAGE;
	case -EINPROGRESS:
		return ERR_BUSY;
	case -EINVAL:
		if (ctx == DBUS_CTX_FIRMWARE)
			return ERR_INVALID_IMAGE;
		/* fall through */
	case -ERANGE:
		return ctx == DBUS_CTX_SETTING ? ERR_INVALID_SETTING : ERR_INVALID_VALUE;
	case -EBUSY:
	case -EAGAIN:
		return ERR_BUSY;
	case -ENODEV:
	case -ENOTCONN:
		return ERR_NOT_AVAILABLE;
	case -EIO:
		return ERR_SAVE_FAILED;
	default:
		return SD_BUS_ERROR_FAILED;
	}
}

int dbus_error_from_errno(sd_bus_error *e, int r, enum dbus_err_ctx ctx, const char *msg)
{
	if (r >= 0)
		r = -EIO;
	sd_bus_error_set(e, error_name(r, ctx), msg && msg[0] ? msg : strerror(-r));
	/* the handler's return: sd-bus replies with e, whatever errno it maps to */
	return r;
}
