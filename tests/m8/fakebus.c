/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The scripted bus of fakebus.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fakebus.h"

#define FAKE_FD 42

static int f_open(void *userdata, const char *path)
{
	struct fakebus *fb = userdata;
	fb->opens++;
	if (!fb->exists)
		return -ENOENT;
	fb->open = true;
	fb->hangup = false;
	fb->rx_len = 0;
	return FAKE_FD;
}

static ssize_t f_read(void *userdata, int fd, uint8_t *buf, size_t cap)
{
	struct fakebus *fb = userdata;
	assert_int_equal(fd, FAKE_FD);
	if (fb->hangup)
		return -EIO;
	if (fb->rx_len == 0 || fb->now_us < fb->rx_at_us)
		return 0;
	size_t n = fb->rx_len < cap ? fb->rx_len : cap;
	memcpy(buf, fb->rx, n);
	memmove(fb->rx, fb->rx + n, fb->rx_len - n);
	fb->rx_len -= n;
	return (ssize_t)n;
}

static void f_close(void *userdata, int fd)
{
	struct fakebus *fb = userdata;
	assert_int_equal(fd, FAKE_FD);
	fb->open = false;
}

static void info_of(const struct fakebus *fb, unsigned pos, struct m8_info *info)
{
	memset(info, 0, sizeof(*info));
	memcpy(info->serial, fb->bat[pos - 1].serial, sizeof(info->serial));
	info->type = M8_TYPE_12V8;
	info->capacity_ah = 100;
	info->cells = 4;
	info->sensors = 4;
	info->fw_major = 1;
	info->max_charge_a = 100;
	info->max_charge_pulse_a = 200;
	info->max_discharge_a = 100;
	info->max_discharge_pulse_a = 200;
	if (pos == fb->n && fb->open_after == 0)
		info->flags = M8_INFO_CHAIN_END;
}

/* The reply of battery pos to req, or 0 bytes when it does not answer. */
static int battery_reply(struct fakebus *fb, unsigned pos, const struct m8_frame *req, uint8_t *out)
{
	struct fake_bat *b = &fb->bat[pos - 1];
	struct m8_frame r = {.addr = b->addr, .cmd = req->cmd | M8_REPLY_BIT, .seq = req->seq};

	if (b->busy > 0 || b->nak > 0) {
		r.cmd = M8_CMD_NAK;
		r.len = 2;
		r.payload[0] = req->cmd;
		r.payload[1] = b->busy > 0 ? M8_NAK_BUSY : M8_NAK_BAD_PARAM;
		if (b->busy > 0)
			b->busy--;
		else
			b->nak--;
	} else if (req->cmd == M8_CMD_ASSIGN || req->cmd == M8_CMD_GET_INFO) {
		struct m8_info info;
		info_of(fb, pos, &info);
		r.len = (uint8_t)m8_info_encode(&info, r.payload, sizeof(r.payload));
	} else if (req->cmd == M8_CMD_GET_STATUS) {
		struct m8_status st = {.voltage_mv = 13200, .n_cells = 4, .n_temps = 4};
		if (b->bad_status)
			st.n_cells = 3;
		for (int i = 0; i < 4; i++) {
			st.cell_mv[i] = 3300;
			st.temp_dc[i] = 250;
		}
		r.len = (uint8_t)m8_status_encode(&st, r.payload, sizeof(r.payload));
	} else {
		r.len = 0;
	}
	if (b->drop > 0) {
		b->drop--;
		return 0;
	}
	if (fb->wrong_seq > 0) {
		fb->wrong_seq--;
		r.seq++;
	}
	if (fb->wrong_addr > 0) {
		fb->wrong_addr--;
		r.addr = (uint8_t)(r.addr % M8_ADDR_MAX + 1);
	}
	int n = m8_frame_encode(&r, out, M8_MAX_FRAME);
	if (n > 0 && b->garble > 0) {
		b->garble--;
		out[n / 2] ^= 0x10;
	}
	return n;
}

static int f_write(void *userdata, int fd, const uint8_t *buf, size_t len)
{
	struct fakebus *fb = userdata;
	struct m8_frame req;

	assert_int_equal(fd, FAKE_FD);
	assert_true(len >= 7 && len == (size_t)buf[4] + 7);
	assert_int_equal(buf[0], M8_SOF);
	assert_int_equal(m8_crc16(buf + 1, len - 3), buf[len - 2] | (buf[len - 1] << 8));
	req.addr = buf[1];
	req.cmd = buf[2];
	req.seq = buf[3];
	req.len = buf[4];
	memcpy(req.payload, buf + 5, req.len);
	assert_true(fb->n_sent < FAKE_MAX_LOG);
	fb->sent[fb->n_sent].t_us = fb->now_us;
	fb->sent[fb->n_sent].reply_end_us = 0;
	fb->sent[fb->n_sent].f = req;
	fb->n_sent++;

	uint8_t reply[M8_MAX_FRAME];
	int rlen = 0;
	bool reset = req.addr == M8_ADDR_BROADCAST && req.cmd == M8_CMD_RESET;
	bool assign_taken = false;
	for (unsigned pos = 1; pos <= fb->n; pos++) {
		struct fake_bat *b = &fb->bat[pos - 1];
		if (b->silent)
			break;
		bool passes = b->addr != 0 && fb->open_after != pos;
		bool hears = false;
		if (reset) {
			if (b->miss_reset)
				b->ignoring = true;
			b->miss_reset = false;
			if (!b->ignoring)
				b->addr = 0;
		} else {
			b->ignoring = false;
			if (req.addr == M8_ADDR_UNADDRESSED) {
				if (req.cmd == M8_CMD_ASSIGN && b->addr == 0 && !assign_taken) {
					assign_taken = true;
					b->addr = req.payload[0];
					hears = true;
				}
			} else if (req.addr == b->addr) {
				hears = true;
			}
		}
		if (hears) {
			uint8_t one[M8_MAX_FRAME];
			int n = battery_reply(fb, pos, &req, one);
			/* a refused ASSIGN leaves the battery unaddressed */
			if (n > 0 && req.cmd == M8_CMD_ASSIGN && one[2] == M8_CMD_NAK)
				b->addr = 0;
			if (n > 0 && rlen > 0) {
				for (int i = 0; i < n; i++)
					reply[i] &= one[i];
				if (n > rlen)
					rlen = n;
			} else if (n > 0) {
				memcpy(reply, one, (size_t)n);
				rlen = n;
			}
		}
		if (!passes)
			break;
	}
	if (rlen == 0)
		return 0;
	if (fb->corrupt > 0) {
		fb->corrupt--;
		reply[rlen / 2] ^= 0x10;
	}
	if (fb->garble_pm > 0) {
		fb->rng = fb->rng * 1103515245u + 12345u;
		if ((fb->rng >> 8) % 1000 < fb->garble_pm)
			reply[(fb->rng >> 4) % (uint32_t)rlen] ^= 0x04;
	}
	size_t at = fb->rx_len;
	if (fb->garbage_before) {
		fb->garbage_before = false;
		fb->rx[at++] = 0x3C;
	}
	memcpy(fb->rx + at, reply, (size_t)rlen);
	fb->rx_len = at + (size_t)rlen;
	fb->rx_at_us = fb->now_us + M8_WIRE_US(len) + fb->reply_delay_us + M8_WIRE_US(rlen);
	fb->sent[fb->n_sent - 1].reply_end_us = fb->rx_at_us;
	return 0;
}

static uint64_t f_clock(void *userdata)
{
	const struct fakebus *fb = userdata;
	return fb->now_us;
}

const struct m8_port_ops fake_ops = {
        .open = f_open,
        .read = f_read,
        .write = f_write,
        .close = f_close,
        .clock = f_clock,
};

static void on_event(void *userdata, enum m8_event_type ev, unsigned addr)
{
	struct fakebus *fb = userdata;
	assert_true(ev < 8);
	fb->events[ev]++;
}

void fake_init(struct fakebus *fb, unsigned n_batteries)
{
	memset(fb, 0, sizeof(*fb));
	fb->exists = true;
	fb->n = n_batteries;
	fb->reply_delay_us = 1000;
	fb->now_us = 1000000;
	for (unsigned i = 0; i < n_batteries; i++)
		snprintf(fb->bat[i].serial, sizeof(fb->bat[i].serial), "HQ2402JJ%03u",
		         (i + 1) % 1000);
}

struct m8_master *fake_master(struct fakebus *fb)
{
	struct m8_master_config cfg = {
	        .path = "/dev/fake", .cycle_period_us = fb->cycle_period_us, .on_event = on_event};
	assert_int_equal(m8_master_new(&fb->m, &cfg, &fake_ops, fb), 0);
	return fb->m;
}

static uint64_t next_lag(struct fakebus *fb)
{
	if (fb->n_lag == 0)
		return 0;
	return fb->lag_us[fb->lag_i++ % fb->n_lag];
}

/*
 * Without a lag the loop wakes at the next deadline or when a reply is
 * complete and passes that time. With one, it reads its clock at a deadline
 * but calls the master lag later; for input, the loop's clock is from before
 * the reply came (it woke for something else and was busy).
 */
void fake_run_until(struct fakebus *fb, uint64_t t_us)
{
	unsigned same = 0;
	while (fb->now_us <= t_us) {
		uint64_t d = m8_master_next_deadline_us(fb->m);
		bool rx = fb->open && (fb->rx_len > 0 || fb->hangup);
		uint64_t rx_at = rx ? (fb->hangup ? fb->now_us : fb->rx_at_us) : UINT64_MAX;
		uint64_t next = d < rx_at ? d : rx_at;
		if (next > t_us) {
			fb->now_us = t_us;
			return;
		}
		if (next < fb->now_us)
			next = fb->now_us;
		same = next == fb->now_us ? same + 1 : 0;
		assert_true(same < 1000); /* the master must make progress */
		bool input = rx && rx_at <= next && m8_master_fd(fb->m) >= 0;
		uint64_t lag = next_lag(fb), passed;
		if (input) {
			fb->now_us = next;
			passed = next - lag;
		} else {
			passed = next;
			fb->now_us = next + lag;
		}
		if (passed < fb->passed_us)
			passed = fb->passed_us;
		fb->passed_us = passed;
		if (input)
			m8_master_on_readable(fb->m, passed);
		else
			m8_master_on_timeout(fb->m, passed);
	}
}

void fake_run_for(struct fakebus *fb, uint64_t dt_us)
{
	fake_run_until(fb, fb->now_us + dt_us);
}

long fake_find(const struct fakebus *fb, size_t from, unsigned addr, uint8_t cmd)
{
	for (size_t i = from; i < fb->n_sent; i++)
		if ((addr == 0xFFFF || fb->sent[i].f.addr == addr) && fb->sent[i].f.cmd == cmd)
			return (long)i;
	return -1;
}

size_t fake_count(const struct fakebus *fb, size_t from, unsigned addr, uint8_t cmd)
{
	size_t n = 0;
	for (size_t i = from; i < fb->n_sent; i++)
		if ((addr == 0xFFFF || fb->sent[i].f.addr == addr) && fb->sent[i].f.cmd == cmd)
			n++;
	return n;
}
