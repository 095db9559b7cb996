/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 256 KiB battery firmware update through the real bus master and the
 * updater's state machine, against smallbms-sim on a pty (115200-baud
 * timing), for banks of 1, 10 and 50 batteries at a 1 ms and a 10 ms reply
 * delay, next to the wire bound: every FW_DATA exchange (251 request + 11
 * reply bytes at 86.8 us, plus the reply delay) back to back, and the same
 * with each 1 s poll cycle's GET_STATUS traffic taken out. Prints figures;
 * asserts nothing.
 *
 *   ./build/bench/bench-fwupdate [PATH-TO-smallbms-sim] [IMAGE-KIB]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tests/m8/simproc.h"
#include "core/fw_image.h"
#include "core/fw_updater.h"

struct run {
	unsigned series, parallel;
	unsigned delay_us;
};

struct job {
	struct m8_master *m;
	struct fw_updater u;
	bool submitted_fail;
};

static void on_reply(void *userdata, int result, const struct m8_frame *reply)
{
	struct job *j = userdata;
	struct fw_result res = {.error = result};
	struct m8_info info;

	if (result == 0 && reply) {
		res.payload = reply->payload;
		res.len = reply->len;
		if (j->u.in_flight_cmd == M8_CMD_GET_INFO &&
		    m8_info_decode(&info, reply->payload, reply->len) >= 0) {
			res.have_version = true;
			res.version[0] = info.fw_major;
			res.version[1] = info.fw_minor;
			res.version[2] = info.fw_patch;
		}
	} else if (result == -EREMOTEIO && reply && reply->len == 2) {
		res.nak_reason = reply->payload[1];
	}
	fw_updater_on_result(&j->u, sim_now_us(), &res);
}

static bool all_fresh(struct m8_master *m, void *arg)
{
	struct m8_bank_state b;
	m8_master_bank(m, &b);
	if (!b.enumerated || b.count != *(unsigned *)arg)
		return false;
	for (unsigned a = 1; a <= b.count; a++)
		if (!m8_master_battery_fresh(m, a, sim_now_us()))
			return false;
	return true;
}

/* The daemon's pump: the next request as soon as the last one is done. */
static bool job_ended(struct m8_master *m, void *arg)
{
	struct job *j = arg;
	struct fw_request req;
	uint64_t now = sim_now_us();

	fw_updater_tick(&j->u, now);
	if (fw_updater_next_request(&j->u, now, &req)) {
		struct fw_result res;

		if (m8_master_submit(m, req.addr, req.cmd, req.payload, req.len, req.tries,
		                     on_reply, j) < 0) {
			res = (struct fw_result){.error = -EAGAIN};
			fw_updater_on_result(&j->u, now, &res);
		}
	}
	return j->u.state >= FW_JOB_SUCCEEDED;
}

static bool data_done(struct m8_master *m, void *arg)
{
	struct job *j = arg;
	bool ended = job_ended(m, arg);

	return ended || j->u.state >= FW_JOB_END;
}

static int bench_one(const char *exe, const struct run *r, const struct fw_image *img)
{
	struct simproc sp;
	struct job j = {0};
	char s[16], p[16], d[16];
	unsigned n = r->series * r->parallel;
	const uint8_t old[3] = {1, 4, 2};
	int ret = -1;

	snprintf(s, sizeof(s), "%u", r->series);
	snprintf(p, sizeof(p), "%u", r->parallel);
	snprintf(d, sizeof(d), "%u", r->delay_us);
	const char *const args[] = {"--series", s, "--parallel", p, "--reply-delay-us", d, NULL};

	if (sim_dir_init(&sp) < 0)
		return -1;
	if (sim_start(&sp, exe, args) < 0) {
		fprintf(stderr, "cannot start %s\n", exe);
		goto out;
	}
	struct m8_master_config cfg = {.path = sp.pty};
	if (m8_master_new(&j.m, &cfg, &m8_serial_port_ops, NULL) < 0)
		goto out;
	if (!sim_drive_until(j.m, 30000000, all_fresh, &n)) {
		fprintf(stderr, "bank of %u not enumerated\n", n);
		goto out;
	}
	const struct m8_battery *b1 = m8_master_battery(j.m, 1);
	unsigned cells = b1->info.cells, temps = b1->info.sensors;
	fw_updater_init(&j.u);
	uint64_t t0 = sim_now_us();
	if (fw_updater_start(&j.u, img, 1, old, t0) < 0)
		goto out;
	if (!sim_drive_until(j.m, 1200000000ull, data_done, &j))
		goto out;
	uint64_t t_data = sim_now_us() - t0;
	if (!sim_drive_until(j.m, 60000000, job_ended, &j) || j.u.state != FW_JOB_SUCCEEDED) {
		fprintf(stderr, "update of a bank of %u ended %s: %s\n", n,
		        fw_job_state_name(j.u.state), fw_failure_text(j.u.failure));
		goto out;
	}
	uint64_t t_all = sim_now_us() - t0;

	unsigned blocks = (img->size + FW_BLOCK_MAX - 1) / FW_BLOCK_MAX;
	double block_ms = (262 * 86.8 + r->delay_us) / 1000.0;
	double wire_s = blocks * block_ms / 1000.0;
	double status_ms = n * ((23.0 + 2 * cells + 2 * temps) * 86.8 + r->delay_us) / 1000.0;
	double free_share = (1000.0 - status_ms) / 1000.0;
	double cycle_s = free_share > 0 ? wire_s / free_share : 0;
	printf("%4u  %8.1f  %10.1f  %12.1f  %10.1f  %9.1f  %8.2f  %7u\n", n, r->delay_us / 1000.0,
	       wire_s, cycle_s, t_data / 1e6, t_all / 1e6,
	       (double)img->size / 1024.0 / ((double)t_data / 1e6), j.u.repeats);
	ret = 0;
out:
	m8_master_free(j.m);
	sim_dir_cleanup(&sp);
	return ret;
}

int main(int argc, char **argv)
{
	char exe[4096];
	unsigned kib = argc > 2 ? (unsigned)atoi(argv[2]) : 256;
	static uint8_t file[FW_IMAGE_MAX_FILE];
	struct fw_image img;

	if (sim_exe_path(argc > 1 ? argv[1] : NULL, exe, sizeof(exe)) < 0)
		return 1;
	if (kib == 0 || kib * 1024u > FW_IMAGE_MAX_SIZE) {
		fprintf(stderr, "IMAGE-KIB must be 1..512\n");
		return 1;
	}
	uint32_t size = kib * 1024u;
	for (uint32_t i = 0; i < size; i++)
		file[FW_IMAGE_HEADER_LEN + i] = (uint8_t)(i * 31 + (i >> 8));
	if (fw_image_write_header(file, 1, (const uint8_t[3]){1, 5, 0}, file + FW_IMAGE_HEADER_LEN,
	                          size) < 0 ||
	    fw_image_parse(file, FW_IMAGE_HEADER_LEN + size, &img, NULL) < 0)
		return 1;

	const struct run runs[] = {
	        {1, 1, 1000},  {2, 5, 1000},  {2, 25, 1000},
	        {1, 1, 10000}, {2, 5, 10000}, {2, 25, 10000},
	};
	printf("Firmware update of battery 1: %u KiB image, %u FW_DATA blocks of 240 bytes\n", kib,
	       (size + FW_BLOCK_MAX - 1) / FW_BLOCK_MAX);
	printf("   N  delay ms  wire bound s  with polls s  data s  total s  KiB/s  repeats\n");
	int r = 0;
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		if (bench_one(exe, &runs[i], &img) < 0)
			r = 1;
	return r;
}
