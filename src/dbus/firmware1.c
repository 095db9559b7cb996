/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * org.smallbms.Firmware1 at /org/smallbms (docs/dbus-api.md, docs/firmware.md):
 * start and cancel a battery firmware update, and the job's progress. Both
 * methods ask polkit for org.smallbms.firmware-update.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/fw_updater.h"
#include "dbus/dbus_private.h"

#define FIRMWARE1_PROPS(X)                                                                         \
	X(STATE, "State", "s", PROP_NOW)                                                           \
	X(RUNNING, "Running", "b", PROP_NOW)                                                       \
	X(BATTERY, "Battery", "u", PROP_NOW)                                                       \
	X(SERIAL, "Serial", "s", PROP_NOW)                                                         \
	X(FROM, "FromVersion", "s", PROP_NOW)                                                      \
	X(TO, "ToVersion", "s", PROP_NOW)                                                          \
	X(SENT, "BytesSent", "u", PROP_NOW)                                                        \
	X(TOTAL, "BytesTotal", "u", PROP_NOW)                                                      \
	X(FAILURE, "FailureReason", "s", PROP_NOW)                                                 \
	X(STARTED, "StartedWallUs", "t", PROP_NOW | PROP_CUSTOM)                                   \
	X(ENDED, "EndedWallUs", "t", PROP_NOW | PROP_CUSTOM)                                       \
	X(FAILED, "FailurePending", "b", PROP_NOW)                                                 \
	X(FAILED_BATTERY, "FailedBattery", "u", PROP_NOW)                                          \
	X(FAILED_SINCE, "FailedSinceWallUs", "t", PROP_NOW | PROP_CUSTOM)                          \
	X(FLAGGED, "FlaggedBattery", "u", PROP_NOW)

#define AS_ENUM(id, name, sig, cls) P_##id,
enum { FIRMWARE1_PROPS(AS_ENUM) P_COUNT };
#define AS_DESC(id, name, sig, cls) [P_##id] = {name, sig, cls},
static const struct dbus_prop props[] = {FIRMWARE1_PROPS(AS_DESC)};

static void version(const uint8_t v[3], struct prop_value *out)
{
	snprintf(out->buf, sizeof(out->buf), "%u.%u.%u", v[0], v[1], v[2]);
	out->s = out->buf;
}

static void value(const void *src, const struct svc_snapshot *unused, unsigned id,
                  struct prop_value *v)
{
	const struct svc_firmware *f = &((const struct svc_snapshot *)src)->fw;

	switch (id) {
	case P_STATE:
		v->s = fw_job_state_name(f->state);
		break;
	case P_RUNNING:
		v->n = f->running;
		break;
	case P_BATTERY:
		v->n = f->have_job ? f->addr : 0;
		break;
	case P_SERIAL:
		v->s = f->serial;
		break;
	case P_FROM:
		version(f->from_version, v);
		break;
	case P_TO:
		version(f->to_version, v);
		break;
	case P_SENT:
		v->n = f->bytes_sent;
		break;
	case P_TOTAL:
		v->n = f->bytes_total;
		break;
	case P_FAILURE:
		v->s = f->state == FW_JOB_FAILED ? fw_failure_text(f->failure) : "";
		break;
	case P_FAILED:
		v->n = f->failed;
		break;
	case P_FAILED_BATTERY:
		v->n = f->failed ? f->failed_addr : 0;
		break;
	case P_FLAGGED:
		v->n = f->flagged_addr;
		break;
	default:
		break;
	}
}

static uint64_t mono_of(const struct svc_snapshot *s, unsigned id)
{
	switch (id) {
	case P_STARTED:
		return s->fw.have_job ? s->fw.started_us : 0;
	case P_ENDED:
		return s->fw.have_job && !s->fw.running ? s->fw.ended_us : 0;
	case P_FAILED_SINCE:
		return s->fw.failed ? s->fw.failed_since_us : 0;
	default:
		return 0;
	}
}

static int append(sd_bus_message *m, const void *src, const struct svc_snapshot *snap, unsigned id)
{
	uint64_t t = dbus_wall_us(snap, mono_of(src, id));

	return sd_bus_message_append_basic(m, 't', &t);
}

static bool equal(const void *a, const void *b, unsigned id)
{
	return mono_of(a, id) == mono_of(b, id);
}

const struct dbus_iface firmware1_iface = {
        .name = FIRMWARE1_IFACE,
        .props = props,
        .n_props = P_COUNT,
        .value = value,
        .append = append,
        .equal = equal,
};

static int method_start(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ((const struct prop_ref *)userdata)->b;
	int r = polkit_check(&b->polkit, m, POLKIT_ACTION_FIRMWARE, e);
	char err[256] = "";
	uint32_t addr;
	int fd;

	if (r <= 0)
		return r < 0 ? r : 1; /* refused, or answered once polkit has */
	r = sd_bus_message_read(m, "uh", &addr, &fd);
	if (r < 0)
		return r;
	if (!b->ops->firmware_start)
		return dbus_error_from_errno(e, -ENODEV, DBUS_CTX_FIRMWARE,
		                             "firmware updates are not available");
	if ((r = dbus_action_room(b, DBUS_CTX_FIRMWARE, e)) < 0)
		return r;
	/* The daemon reads the whole file from fd before this returns; the
	 * message keeps fd open meanwhile. */
	r = b->ops->firmware_start(b->userdata, addr, fd, err, sizeof(err));
	return dbus_action_reply(b, m, r, DBUS_CTX_FIRMWARE, err, e);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ((const struct prop_ref *)userdata)->b;
	int r = polkit_check(&b->polkit, m, POLKIT_ACTION_FIRMWARE, e);
	char err[256] = "";

	if (r <= 0)
		return r < 0 ? r : 1;
	if (!b->ops->firmware_cancel)
		return dbus_error_from_errno(e, -ENODEV, DBUS_CTX_FIRMWARE,
		                             "firmware updates are not available");
	if ((r = dbus_action_room(b, DBUS_CTX_FIRMWARE, e)) < 0)
		return r;
	r = b->ops->firmware_cancel(b->userdata, err, sizeof(err));
	return dbus_action_reply(b, m, r, DBUS_CTX_FIRMWARE, err, e);
}

static int method_clear_failure(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct bms_dbus *b = ((const struct prop_ref *)userdata)->b;
	int r = polkit_check(&b->polkit, m, POLKIT_ACTION_FIRMWARE, e);
	char err[256] = "";

	if (r <= 0)
		return r < 0 ? r : 1;
	if (!b->ops->firmware_clear_failure)
		return dbus_error_from_errno(e, -ENODEV, DBUS_CTX_FIRMWARE,
		                             "firmware updates are not available");
	if ((r = dbus_action_room(b, DBUS_CTX_FIRMWARE, e)) < 0)
		return r;
	r = b->ops->firmware_clear_failure(b->userdata, err, sizeof(err));
	return dbus_action_reply(b, m, r, DBUS_CTX_FIRMWARE, err, e);
}

#define AS_VTABLE(id, name, sig, cls)                                                              \
	SD_BUS_PROPERTY(name, sig, dbus_prop_get, PROP_REF(P_##id), PROP_FLAGS),
const sd_bus_vtable firmware1_vtable[] = {
        SD_BUS_VTABLE_START(0),
        FIRMWARE1_PROPS(AS_VTABLE)
                SD_BUS_METHOD_WITH_ARGS("Start", SD_BUS_ARGS("u", battery, "h", image),
                                        SD_BUS_NO_RESULT, method_start, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Cancel", NULL, NULL, method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ClearFailure", NULL, NULL, method_clear_failure, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
