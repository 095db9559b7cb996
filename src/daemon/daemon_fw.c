/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The firmware updater's wiring (docs/firmware.md): the core state machine
 * (core/fw_updater.c) decides, this file carries its requests to the bus
 * master (m8_master_submit: they go out in the time left in a poll cycle),
 * brings the replies back, feeds W7/E5 to the protection input and writes
 * the journal. Requests are handed out after the master has run (never
 * from inside its callbacks).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "common/macro.h"
#include "daemon/daemon_fw.h"
#include "daemon/daemon_private.h"

void daemon_fw_init(struct daemon_fw *fw)
{
	memset(fw, 0, sizeof(*fw));
	fw_updater_init(&fw->u);
}

void daemon_fw_free(struct daemon_fw *fw)
{
	free(fw->buf);
	fw->buf = NULL;
}

static void ver_str(const uint8_t v[3], char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u", v[0], v[1], v[2]);
}

static void on_reply(void *userdata, int result, const struct m8_frame *reply)
{
	struct daemon *d = userdata;
	struct fw_result res = {.error = result};
	struct m8_info info;

	if (result == 0 && reply) {
		res.payload = reply->payload;
		res.len = reply->len;
		if (d->fw.u.in_flight_cmd == M8_CMD_GET_INFO &&
		    m8_info_decode(&info, reply->payload, reply->len) >= 0) {
			res.have_version = true;
			res.version[0] = info.fw_major;
			res.version[1] = info.fw_minor;
			res.version[2] = info.fw_patch;
		}
	} else if (result == -EREMOTEIO && reply && reply->len == 2) {
		res.nak_reason = reply->payload[1];
	} else if (result == -EREMOTEIO) {
		res.error = -EBADMSG;
	}
	fw_updater_on_result(&d->fw.u, now_us(d), &res);
	d->fw.pump = true;
}

static void journal(struct daemon *d)
{
	struct daemon_fw *fw = &d->fw;
	const struct fw_updater *u = &fw->u;
	char to[16];

	if (u->state == fw->reported_state)
		return;
	fw->reported_state = u->state;
	/* a job that ended, or a failure: the record says so at once, so
	 * that a restart knows about E5 and its age */
	if (u->state >= FW_JOB_SUCCEEDED)
		daemon_save_state(d, now_us(d), "firmware update");
	ver_str(u->img.version, to, sizeof(to));
	switch (u->state) {
	case FW_JOB_SUCCEEDED:
		events_log(&d->ev, EV_FW_SUCCEEDED, LOG_NOTICE, "firmware update succeeded",
		           "battery %u %s runs %s (%u bytes, %u blocks sent again)", u->addr,
		           fw->serial, to, u->img.size, u->repeats);
		break;
	case FW_JOB_FAILED:
		if (u->failure == FW_FAIL_INTERRUPTED) {
			events_log(&d->ev, EV_FW_FAILED, LOG_ERR, "firmware update failed",
			           "battery %u %s: %s; the loads open in 120 s (E5) unless a retry "
			           "succeeds",
			           u->addr, fw->serial, fw_failure_text(u->failure));
			break;
		}
		events_log(&d->ev, EV_FW_FAILED, LOG_ERR, "firmware update failed",
		           "battery %u %s: %s after %u of %u bytes; it stays on its old firmware; "
		           "the loads open in 120 s (E5) unless a retry succeeds",
		           u->addr, fw->serial, fw_failure_text(u->failure), u->acked, u->img.size);
		break;
	case FW_JOB_CANCELLED:
		events_log(&d->ev, EV_FW_CANCELLED, LOG_NOTICE, "firmware update cancelled",
		           "battery %u %s, after %u of %u bytes", u->addr, fw->serial, u->acked,
		           u->img.size);
		break;
	case FW_JOB_REFUSED:
		events_log(&d->ev, EV_FW_CANCELLED, LOG_WARNING, "firmware update refused",
		           "battery %u %s refused FW_BEGIN for %s (type %u)", u->addr, fw->serial,
		           to, u->img.battery_type);
		break;
	default:
		break;
	}
}

static bool job_battery_changed(struct daemon *d)
{
	const struct m8_battery *b = m8_master_battery(d->master, d->fw.u.addr);

	return !b || strncmp(b->info.serial, d->fw.serial, M8_SERIAL_LEN) != 0;
}

/* A job interrupted by a restart, once the battery at its address has
 * fresh data: still in its update (flagged), done, or failed. */
static void resolve_interrupted(struct daemon *d, uint64_t now)
{
	struct fw_updater *u = &d->fw.u;
	const struct m8_battery *b;
	struct m8_bank_state bank;
	uint8_t serial[FW_SERIAL_LEN] = {0}, version[3];

	m8_master_bank(d->master, &bank);
	if (!bank.enumerated)
		return;
	b = m8_master_battery(d->master, u->addr);
	if (b && !m8_master_battery_fresh(d->master, u->addr, now))
		return;
	if (b) {
		memcpy(serial, b->info.serial, strnlen(b->info.serial, FW_SERIAL_LEN));
		version[0] = b->info.fw_major;
		version[1] = b->info.fw_minor;
		version[2] = b->info.fw_patch;
	}
	fw_updater_resolve(u, now, b != NULL, serial, b && (b->status.flags & M8_ST_FW_UPDATE),
	                   b ? version : NULL);
}

void daemon_fw_before_step(struct daemon *d, uint64_t now)
{
	struct fw_updater *u = &d->fw.u;

	if (u->state == FW_JOB_INTERRUPTED)
		resolve_interrupted(d, now);
	if (fw_updater_running(u) && u->state >= FW_JOB_BEGIN && u->state <= FW_JOB_VERIFY) {
		struct m8_bank_state bank;

		m8_master_bank(d->master, &bank);
		/* A re-enumerated bank may hold another battery at the address. */
		if (bank.enumerated && job_battery_changed(d)) {
			events_log(&d->ev, EV_FW_FAILED, LOG_ERR, "firmware update",
			           "battery %u is no longer %s: aborting", u->addr, d->fw.serial);
			fw_updater_fail(u, now, FW_FAIL_ABORTED);
		}
	}
	fw_updater_tick(u, now);
	fw_updater_protection_input(u, now, &d->fout.pin);
	journal(d);
}

void daemon_fw_pump(struct daemon *d, uint64_t now)
{
	struct fw_updater *u = &d->fw.u;
	struct fw_request req;
	int r;

	d->fw.pump = false;
	fw_updater_tick(u, now);
	journal(d);
	if (!fw_updater_next_request(u, now, &req))
		return;
	r = m8_master_submit(d->master, req.addr, req.cmd, req.payload, req.len, req.tries,
	                     on_reply, d);
	if (r < 0) {
		/* Not sent (queue full, bus not enumerated): the updater tries
		 * again at the next pump; its 30 s without progress bound it. */
		struct fw_result res = {.error = r};

		fw_updater_on_result(u, now, &res);
		journal(d);
	}
}

bool daemon_fw_busy(const struct daemon *d)
{
	if (fw_updater_running(&d->fw.u))
		return true;
	for (unsigned i = 0; i < d->fout.pin.n_batteries; i++)
		if (d->fout.pin.bat[i].fw_update)
			return true;
	return false;
}

/* The image file from the caller's fd: a regular file (a pipe or socket
 * could keep the event loop waiting), at most FW_IMAGE_MAX_FILE bytes,
 * read in full from its start. */
static int read_image(int fd, uint8_t **ret, size_t *ret_len, char *err, size_t errlen)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct stat st;
	size_t len = 0;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot stat the image file: %s", strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "the image must be a regular file");
		return -EINVAL;
	}
	if (st.st_size > (off_t)FW_IMAGE_MAX_FILE) {
		snprintf(err, errlen, "the image file is larger than %u bytes", FW_IMAGE_MAX_FILE);
		return -EFBIG;
	}
	buf = malloc(FW_IMAGE_MAX_FILE + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = pread(fd, buf + len, FW_IMAGE_MAX_FILE + 1 - len, (off_t)len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "cannot read the image file: %s", strerror(errno));
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > FW_IMAGE_MAX_FILE) {
			snprintf(err, errlen, "the image file is larger than %u bytes",
			         FW_IMAGE_MAX_FILE);
			return -EFBIG;
		}
	}
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int daemon_fw_start(struct daemon *d, unsigned addr, int fd, char *err, size_t errlen)
{
	_cleanup_free_ uint8_t *buf = NULL;
	const struct m8_battery *b;
	struct m8_bank_state bank;
	enum fw_image_refusal why;
	enum fw_start_refusal no;
	struct fw_image img;
	uint64_t now = now_us(d);
	uint8_t old[3];
	char from[16], to[16];
	size_t len = 0;
	int r;

	m8_master_bank(d->master, &bank);
	if (!bank.enumerated) {
		snprintf(err, errlen, "the bus is %s",
		         !bank.port_open ? "not open" : "not enumerated");
		return -ENODEV;
	}
	b = m8_master_battery(d->master, addr);
	if (!b) {
		snprintf(err, errlen, "battery %u is not in the bank (%u batteries)", addr,
		         bank.count);
		return -ENOENT;
	}
	if (fw_updater_running(&d->fw.u)) {
		snprintf(err, errlen, "a firmware update of battery %u is running", d->fw.u.addr);
		return -EBUSY;
	}
	r = read_image(fd, &buf, &len, err, errlen);
	if (r < 0)
		return r;
	if (fw_image_parse(buf, len, &img, &why) < 0) {
		snprintf(err, errlen, "not a valid image: %s", fw_image_refusal_text(why));
		return -EINVAL;
	}
	if (!d->have_pout) {
		snprintf(err, errlen, "the BMS has not evaluated the bank yet");
		return -EBUSY;
	}
	no = fw_updater_check_start(&d->fw.u, &d->prot, &d->fout.pin, &d->pout, &img, (uint8_t)addr,
	                            b->info.type);
	if (no != FW_START_OK) {
		if (no == FW_START_WRONG_BATTERY)
			snprintf(err, errlen,
			         "the image is for battery type %u, battery %u is type %u",
			         img.battery_type, addr, b->info.type);
		else
			snprintf(err, errlen, "not now: %s", fw_start_refusal_text(no));
		return no == FW_START_WRONG_BATTERY ? -EMEDIUMTYPE : -EBUSY;
	}
	old[0] = b->info.fw_major;
	old[1] = b->info.fw_minor;
	old[2] = b->info.fw_patch;
	r = fw_updater_start(&d->fw.u, &img, (uint8_t)addr, old, now);
	if (r < 0) {
		snprintf(err, errlen, "cannot start: %s", strerror(-r));
		return r;
	}
	free(d->fw.buf);
	d->fw.buf = TAKE_PTR(buf);
	d->fw.len = len;
	snprintf(d->fw.serial, sizeof(d->fw.serial), "%.*s", M8_SERIAL_LEN, b->info.serial);
	memcpy(d->fw.u.serial, b->info.serial, strnlen(b->info.serial, FW_SERIAL_LEN));
	d->fw.have_job = true;
	d->fw.reported_state = d->fw.u.state;
	daemon_save_state(d, now, "firmware update started");
	ver_str(old, from, sizeof(from));
	ver_str(img.version, to, sizeof(to));
	events_log(&d->ev, EV_FW_STARTED, LOG_NOTICE, "firmware update started",
	           "battery %u %s: %s -> %s, %u bytes; charging is off (W7) while it runs", addr,
	           d->fw.serial, from, to, img.size);
	/* W7 and the open charge output first, then the first request. */
	daemon_evaluate(d, now);
	return 0;
}

int daemon_fw_cancel(struct daemon *d, char *err, size_t errlen)
{
	uint64_t now = now_us(d);
	int r = fw_updater_cancel(&d->fw.u, now);

	if (r == -EINPROGRESS) {
		snprintf(err, errlen,
		         "battery %u is verifying or installing the image: too late to cancel",
		         d->fw.u.addr);
		return r;
	}
	if (r == -ENOENT) {
		/* An update from before a restart, seen from the STATUS flag. */
		for (unsigned i = 0; i < d->fout.pin.n_batteries; i++) {
			const struct m8_battery *b = m8_master_battery(d->master, i + 1);

			if (!d->fout.pin.bat[i].fw_update || !b)
				continue;
			r = fw_updater_abort_orphan(&d->fw.u, (uint8_t)(i + 1), now);
			if (r < 0)
				break;
			snprintf(d->fw.serial, sizeof(d->fw.serial), "%.*s", M8_SERIAL_LEN,
			         b->info.serial);
			d->fw.have_job = true;
			memset(&d->fw.u.img, 0, sizeof(d->fw.u.img));
			events_log(&d->ev, EV_FW_CANCELLED, LOG_NOTICE, "firmware update cancelled",
			           "battery %u %s reports an update this daemon does not drive: "
			           "sending FW_ABORT",
			           i + 1, d->fw.serial);
			d->fw.reported_state = d->fw.u.state;
			daemon_fw_pump(d, now);
			return 0;
		}
		snprintf(err, errlen, "no firmware update is running");
		return -ENOENT;
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot cancel: %s", strerror(-r));
		return r;
	}
	journal(d);
	daemon_fw_pump(d, now);
	return 0;
}

void daemon_fw_resume(struct daemon *d, uint64_t now)
{
	struct fw_updater *u = &d->fw.u;
	char to[16];
	int r;

	if (d->rec.fw_len == 0)
		return;
	r = fw_updater_persist_apply(u, now, d->rec.fw, d->rec.fw_len);
	if (r < 0) {
		events_log(&d->ev, EV_STATE, LOG_WARNING, "state",
		           "saved firmware update state not used: %s", strerror(-r));
		return;
	}
	d->fw.reported_state = u->state;
	if (u->state == FW_JOB_INTERRUPTED) {
		d->fw.have_job = true;
		snprintf(d->fw.serial, sizeof(d->fw.serial), "%.*s", FW_SERIAL_LEN,
		         (const char *)u->serial);
		ver_str(u->img.version, to, sizeof(to));
		events_log(&d->ev, EV_STATE, LOG_WARNING, "state",
		           "a firmware update of battery %u %s to %s was running when the daemon "
		           "stopped (%u of %u bytes confirmed): it is resumed by starting it again "
		           "or cancelled; otherwise its result is read from the battery",
		           u->addr, d->fw.serial, to, u->acked, u->img.size);
	}
	if (u->failed)
		events_log(&d->ev, EV_STATE, LOG_WARNING, "state",
		           "a failed firmware update of battery %u is pending (E5, since %llu s)",
		           u->failed_addr,
		           (unsigned long long)((now - u->failed_since_us) / 1000000u));
}

int daemon_fw_clear_failure(struct daemon *d, char *err, size_t errlen)
{
	uint64_t now = now_us(d);
	unsigned addr = d->fw.u.failed_addr;

	if (!d->fw.u.failed) {
		snprintf(err, errlen, "no failed firmware update is pending");
		return -ENOENT;
	}
	fw_updater_clear_failure(&d->fw.u);
	events_log(&d->ev, EV_FW_CANCELLED, LOG_NOTICE, "firmware update failure cleared",
	           "battery %u: E5 cleared by an authorised user", addr);
	daemon_save_state(d, now, "firmware failure cleared");
	daemon_evaluate(d, now);
	return 0;
}
