/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The M8 master in the loop: its fd, its timer, its events; every valid
 * STATUS reply (and every completed poll cycle) steps the protection at
 * once, so a reading acts when it arrives, not at the end of the cycle. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "daemon/daemon_private.h"
#include "m8/serial.h"

static int on_bus_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* The real tty (m8/serial.c), remembering why it last failed, so that the
 * "not open" line says which step failed with which errno. */
static int bus_port_open(void *userdata, const char *path)
{
	struct daemon *d = userdata;

	return m8_serial_open_why(path, d->port_why, sizeof(d->port_why));
}

static ssize_t bus_port_read(void *userdata, int fd, uint8_t *buf, size_t cap)
{
	struct daemon *d = userdata;
	ssize_t n = m8_serial_read(fd, buf, cap);

	if (n < 0)
		snprintf(d->port_why, sizeof(d->port_why), "reading %.160s: %s", d->cfg.bus_port,
		         n == -EPIPE ? "the device hung up" : strerror((int)-n));
	return n;
}

static int bus_port_write(void *userdata, int fd, const uint8_t *buf, size_t len)
{
	struct daemon *d = userdata;
	int r = m8_serial_write(fd, buf, len);

	if (r < 0)
		snprintf(d->port_why, sizeof(d->port_why), "writing %zu bytes to %.160s: %s", len,
		         d->cfg.bus_port, strerror(-r));
	return r;
}

static void bus_port_close(void *userdata, int fd)
{
	if (fd >= 0)
		close(fd);
}

const struct m8_port_ops daemon_bus_port_ops = {
        .open = bus_port_open,
        .read = bus_port_read,
        .write = bus_port_write,
        .close = bus_port_close,
};

static void bus_sync(struct daemon *d, uint64_t now)
{
	struct m8_bank_state bank;
	int fd = m8_master_fd(d->master);

	/* A firmware reply came in: its next request before the timer is set. */
	if (d->fw.pump)
		daemon_fw_pump(d, now);
	if (fd != d->bus_fd) {
		d->bus_io = sd_event_source_disable_unref(d->bus_io);
		d->bus_fd = -1;
		if (fd >= 0 &&
		    sd_event_add_io(d->event, &d->bus_io, fd, EPOLLIN, on_bus_io, d) >= 0)
			d->bus_fd = fd;
	}
	uint64_t t = m8_master_next_deadline_us(d->master);
	if (t == UINT64_MAX) {
		sd_event_source_set_enabled(d->bus_timer, SD_EVENT_OFF);
	} else {
		sd_event_source_set_time(d->bus_timer, t);
		sd_event_source_set_enabled(d->bus_timer, SD_EVENT_ONESHOT);
	}

	m8_master_bank(d->master, &bank);
	if (bank.port_open != d->port_open || !d->port_reported) {
		if (bank.port_open)
			events_log(&d->ev, EV_DEVICE, LOG_NOTICE, "bus", "port %s open",
			           d->cfg.bus_port);
		else
			events_log(&d->ev, EV_DEVICE, LOG_ERR, "bus",
			           "port %s not open%s%s%s; retrying every second", d->cfg.bus_port,
			           d->port_why[0] ? " (" : "", d->port_why,
			           d->port_why[0] ? ")" : "");
		d->port_open = bank.port_open;
		d->port_reported = true;
	}
	if (bank.statuses != d->last_statuses || bank.cycles != d->last_cycles) {
		d->last_statuses = bank.statuses;
		d->last_cycles = bank.cycles;
		daemon_evaluate_reading(d, now);
	}
}

static int on_bus_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct daemon *d = userdata;
	uint64_t now = now_us(d);

	m8_master_on_readable(d->master, now);
	bus_sync(d, now);
	return 0;
}

int daemon_on_bus_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;
	uint64_t now = now_us(d);

	m8_master_on_timeout(d->master, now);
	bus_sync(d, now);
	return 0;
}

void daemon_on_bus_event(void *userdata, enum m8_event_type type, unsigned addr)
{
	struct daemon *d = userdata;
	const struct m8_battery *b = m8_master_battery(d->master, addr);
	const char *serial = b ? b->info.serial : "?";

	switch (type) {
	case M8_EV_ENUMERATED:
		events_log(&d->ev, EV_BATTERY, LOG_NOTICE, "bus", "enumerated %u batteries", addr);
		break;
	case M8_EV_ENUM_FAILED:
		events_log(&d->ev, EV_BATTERY, LOG_ERR, "bus", "enumeration failed (%u in a row)",
		           addr);
		break;
	case M8_EV_FOUND:
		events_log(&d->ev, EV_BATTERY, LOG_NOTICE, "battery found", "%u %s", addr, serial);
		break;
	case M8_EV_LOST:
		events_log(&d->ev, EV_BATTERY, LOG_WARNING, "battery lost", "%u %s", addr, serial);
		break;
	case M8_EV_REPLACED:
		events_log(&d->ev, EV_BATTERY, LOG_WARNING, "battery replaced", "%u %s", addr,
		           serial);
		break;
	case M8_EV_CHAIN: {
		struct m8_bank_state bank;

		m8_master_bank(d->master, &bank);
		events_log(&d->ev, EV_BATTERY, bank.chain_open ? LOG_ERR : LOG_NOTICE, "bus",
		           "chain %s", bank.chain_open ? "open (no CHAIN_END)" : "closed");
		break;
	}
	case M8_EV_PORT:
		/* bus_sync() reports the port after the master returns. */
		break;
	}
}
