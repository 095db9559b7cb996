/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim/bus.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/macro.h"
#include "sim/battery.h"

uint64_t sim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int set_raw(int fd)
{
	struct termios t;

	if (tcgetattr(fd, &t) < 0)
		return -errno;
	cfmakeraw(&t);
	cfsetispeed(&t, B115200);
	cfsetospeed(&t, B115200);
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		return -errno;
	return 0;
}

static int arm_tx(struct sim_bus *bus, uint64_t at_ns)
{
	int r;

	r = sd_event_source_set_time(bus->tx_timer, (at_ns + 999) / 1000);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(bus->tx_timer, SD_EVENT_ONESHOT);
}

/* --trace: a reply handed to the pty whole, with the STATUS flags. */
static void trace_tx(struct sim_bus *bus, const struct sim_tx_seg *seg)
{
	uint64_t now = sim_now_ns();

	if (!bus->trace || seg->len < M8_HEADER_LEN + M8_CRC_LEN || seg->bytes[0] != M8_SOF)
		return;
	if (seg->bytes[2] == (M8_CMD_GET_STATUS | M8_REPLY_BIT) &&
	    seg->len >= M8_HEADER_LEN + 7 + M8_CRC_LEN)
		fprintf(bus->trace, "tx %" PRIu64 " %u %u %02x\n", now, seg->bytes[1],
		        seg->bytes[2], seg->bytes[M8_HEADER_LEN + 6]);
	else
		fprintf(bus->trace, "tx %" PRIu64 " %u %u -\n", now, seg->bytes[1], seg->bytes[2]);
}

/*
 * Hands each frame to the pty whole, at the moment its last byte would leave
 * a 115200-baud line (start + length x 86.8 us). Writing byte by byte would
 * turn every moment this process is not scheduled into a pause inside the
 * frame, which the master rightly takes for idle line and drops (docs/m8bus.md
 * section 1), though a battery's UART never pauses mid-frame.
 */
static int tx_pump(struct sim_bus *bus)
{
	uint64_t now = sim_now_ns();

	while (bus->tx_count > 0) {
		struct sim_tx_seg *seg = &bus->txq[bus->tx_head];
		uint64_t end_ns;
		ssize_t w;

		if (bus->tx_begin_ns == 0)
			bus->tx_begin_ns = seg->start_ns > bus->line_free_ns ? seg->start_ns
			                                                     : bus->line_free_ns;
		end_ns = bus->tx_begin_ns + seg->len * SIM_BYTE_NS;
		if (now < end_ns)
			return arm_tx(bus, end_ns);
		w = write(bus->master_fd, seg->bytes + bus->tx_sent, seg->len - bus->tx_sent);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			/* nobody reads the slave: its buffer is full; try again */
			return arm_tx(bus, now + 1000000);
		}
		if (w < 0) {
			fprintf(stderr, "smallbms-sim: write to the pty: %m\n");
			return -errno;
		}
		bus->tx_sent += (size_t)w;
		if (bus->tx_sent == seg->len) {
			trace_tx(bus, seg);
			bus->line_free_ns = end_ns;
			bus->tx_head = (bus->tx_head + 1) % SIM_TXQ_SEGMENTS;
			bus->tx_count--;
			bus->tx_sent = 0;
			bus->tx_begin_ns = 0;
		}
	}
	return 0;
}

static int enqueue(struct sim_bus *bus, const uint8_t *bytes, size_t len, uint64_t start_ns)
{
	struct sim_tx_seg *seg;

	if (bus->tx_count == SIM_TXQ_SEGMENTS)
		return -ENOBUFS;
	seg = &bus->txq[(bus->tx_head + bus->tx_count) % SIM_TXQ_SEGMENTS];
	memcpy(seg->bytes, bytes, len);
	seg->len = len;
	seg->start_ns = start_ns;
	bus->tx_count++;
	return tx_pump(bus);
}

int sim_bus_send_garbage(struct sim_bus *bus, unsigned n)
{
	uint64_t now = sim_now_ns();

	while (n > 0) {
		uint8_t chunk[M8_MAX_FRAME];
		size_t len = n < sizeof(chunk) ? n : sizeof(chunk), i;
		int r;

		for (i = 0; i < len; i++)
			chunk[i] = (uint8_t)sim_rng_next(&bus->rng);
		r = enqueue(bus, chunk, len, now);
		if (r < 0)
			return r;
		n -= (unsigned)len;
	}
	return 0;
}

static int on_tx_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct sim_bus *bus = userdata;

	return tx_pump(bus);
}

static void on_frame(const struct m8_frame *f, void *userdata)
{
	struct sim_bus *bus = userdata;
	uint64_t end_us = bus->rx_end_ns / 1000;
	struct sim_reply reply;
	int r;

	sim_bank_advance(&bus->world->bank, sim_now_ns() / 1000);
	if (bus->trace)
		fprintf(bus->trace, "rx %" PRIu64 " %u %u\n", bus->rx_end_ns, f->addr, f->cmd);
	r = sim_chain_request(&bus->world->chain, f, end_us, &reply);
	if (r < 0) {
		fprintf(stderr, "smallbms-sim: request 0x%02x to %u: %s\n", f->cmd, f->addr,
		        strerror(-r));
		return;
	}
	if (r == 0)
		return;
	r = enqueue(bus, reply.bytes, reply.len, reply.start_us * 1000);
	if (r < 0)
		fprintf(stderr, "smallbms-sim: reply lost: %s\n", strerror(-r));
}

static int on_readable(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct sim_bus *bus = userdata;
	uint8_t buf[512];
	ssize_t n, i;
	uint64_t now;

	n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	now = sim_now_ns();
	for (i = 0; i < n; i++) {
		/* a burst of bytes still took 86.8 us each on the wire */
		uint64_t end = bus->rx_end_ns + SIM_BYTE_NS;

		if (end < now && i == 0)
			end = now;
		if (m8_parser_busy(&bus->parser) && end - SIM_BYTE_NS > bus->rx_end_ns &&
		    end - SIM_BYTE_NS - bus->rx_end_ns > SIM_IDLE_DROP_NS)
			m8_parser_idle(&bus->parser);
		bus->rx_end_ns = end;
		m8_parser_feed(&bus->parser, &buf[i], 1, on_frame, bus);
	}
	return 0;
}

int sim_bus_open(struct sim_bus *bus, sd_event *e, struct sim_world *w, uint64_t seed)
{
	_cleanup_close_ int master = -1, slave = -1;
	char name[64];
	int r;

	memset(bus, 0, sizeof(*bus));
	bus->master_fd = bus->slave_fd = -1;
	if (openpty(&master, &slave, name, NULL, NULL) < 0)
		return -errno;
	r = set_raw(master);
	if (r < 0)
		return r;
	r = set_raw(slave);
	if (r < 0)
		return r;
	if (fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(master, F_SETFD, FD_CLOEXEC) < 0 || fcntl(slave, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;

	bus->event = e;
	bus->world = w;
	m8_parser_init(&bus->parser);
	sim_rng_seed(&bus->rng, seed ^ 0xA5A5A5A5ull);
	snprintf(bus->slave_path, sizeof(bus->slave_path), "%s", name);
	r = sd_event_add_io(e, &bus->io, master, EPOLLIN, on_readable, bus);
	if (r < 0)
		return r;
	r = sd_event_add_time(e, &bus->tx_timer, CLOCK_MONOTONIC, 0, 1, on_tx_timer, bus);
	if (r < 0) {
		bus->io = sd_event_source_unref(bus->io);
		return r;
	}
	r = sd_event_source_set_enabled(bus->tx_timer, SD_EVENT_OFF);
	if (r < 0) {
		bus->io = sd_event_source_unref(bus->io);
		bus->tx_timer = sd_event_source_unref(bus->tx_timer);
		return r;
	}
	bus->master_fd = TAKE_FD(master);
	bus->slave_fd = TAKE_FD(slave);
	return 0;
}

void sim_bus_close(struct sim_bus *bus)
{
	bus->io = sd_event_source_disable_unref(bus->io);
	bus->tx_timer = sd_event_source_disable_unref(bus->tx_timer);
	if (bus->master_fd >= 0)
		close(bus->master_fd);
	if (bus->slave_fd >= 0)
		close(bus->slave_fd);
	bus->master_fd = bus->slave_fd = -1;
}
