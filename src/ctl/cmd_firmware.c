/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * update-firmware FILE --battery N | --all (docs/firmware.md): checks the
 * image file here first, then asks org.smallbms.Firmware1.Start for one
 * battery at a time and follows the job's properties until it ends. A
 * progress bar with rate and time left on a terminal; plain lines (or JSON
 * lines with --json) otherwise. Ctrl-C asks Cancel and waits for the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fw_image.h"
#include "ctl/ctl.h"
#include "ctl/escape.h"
#include "ctl/json.h"

#define FW_IFACE   "org.smallbms.Firmware1"
#define POLL_US    200000
#define LINE_EVERY 1000000ULL /* plain progress lines: once a second */
#define BAR_WIDTH  30

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct job {
	char state[32];
	char failure[160];
	uint32_t sent, total, battery;
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int get_string(struct ctl *c, const char *prop, char *buf, size_t len, sd_bus_error *e)
{
	char *s = NULL;
	int r = sd_bus_get_property_string(c->bus, CTL_BUS_NAME, CTL_ROOT_PATH, FW_IFACE, prop, e,
	                                   &s);

	if (r < 0)
		return r;
	snprintf(buf, len, "%s", s);
	free(s);
	return 0;
}

static int get_u32(struct ctl *c, const char *prop, uint32_t *v, sd_bus_error *e)
{
	return sd_bus_get_property_trivial(c->bus, CTL_BUS_NAME, CTL_ROOT_PATH, FW_IFACE, prop, e,
	                                   'u', v);
}

static int fetch_job(struct ctl *c, struct job *j)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	if ((r = get_string(c, "State", j->state, sizeof(j->state), &e)) < 0 ||
	    (r = get_string(c, "FailureReason", j->failure, sizeof(j->failure), &e)) < 0 ||
	    (r = get_u32(c, "BytesSent", &j->sent, &e)) < 0 ||
	    (r = get_u32(c, "BytesTotal", &j->total, &e)) < 0 ||
	    (r = get_u32(c, "Battery", &j->battery, &e)) < 0) {
		r = ctl_fail(c, r, &e);
		sd_bus_error_free(&e);
		return r;
	}
	return CTL_EXIT_OK;
}

static bool job_ended(const struct job *j)
{
	return strcmp(j->state, "succeeded") == 0 || strcmp(j->state, "failed") == 0 ||
	       strcmp(j->state, "cancelled") == 0 || strcmp(j->state, "refused") == 0 ||
	       strcmp(j->state, "idle") == 0;
}

/* The image file, read and checked before anything goes on the bus. */
static int check_file(const char *path, struct fw_image *img, uint8_t **buf)
{
	FILE *f = fopen(path, "re");
	size_t len;

	if (!f) {
		fprintf(stderr, "smallbmsctl: update-firmware: cannot open %s: %m\n", path);
		return CTL_EXIT_FAILED;
	}
	*buf = malloc(FW_IMAGE_MAX_FILE + 1);
	if (!*buf) {
		fclose(f);
		return CTL_EXIT_FAILED;
	}
	len = fread(*buf, 1, FW_IMAGE_MAX_FILE + 1, f);
	if (ferror(f)) {
		fprintf(stderr, "smallbmsctl: update-firmware: cannot read %s\n", path);
		fclose(f);
		return CTL_EXIT_FAILED;
	}
	fclose(f);
	if (len > FW_IMAGE_MAX_FILE) {
		fprintf(stderr, "smallbmsctl: update-firmware: %s: %s\n", path,
		        fw_image_refusal_text(FW_IMAGE_BAD_SIZE));
		return CTL_EXIT_FAILED;
	}
	enum fw_image_refusal why;
	if (fw_image_parse(*buf, len, img, &why) < 0) {
		fprintf(stderr, "smallbmsctl: update-firmware: %s: %s\n", path,
		        fw_image_refusal_text(why));
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

static void show_progress(const struct ctl *c, bool tty, const struct job *j, unsigned addr,
                          uint64_t t0, uint64_t now)
{
	double secs = (double)(now - t0) / 1e6;
	double rate = secs > 0.5 ? (double)j->sent / secs : 0; /* bytes/s */
	long left = rate > 0 && j->total >= j->sent ? (long)((j->total - j->sent) / rate) : -1;
	unsigned pct = j->total ? (unsigned)((uint64_t)j->sent * 100 / j->total) : 0;

	if (c->args->json) {
		struct json js;

		json_init(&js, stdout, false);
		json_object_begin(&js);
		json_key(&js, "battery");
		json_uint(&js, addr);
		json_key(&js, "state");
		json_string(&js, j->state);
		json_key(&js, "bytes_sent");
		json_uint(&js, j->sent);
		json_key(&js, "bytes_total");
		json_uint(&js, j->total);
		json_key(&js, "rate_bps");
		json_uint(&js, (uint64_t)rate);
		json_key(&js, "seconds_left");
		if (left >= 0)
			json_int(&js, left);
		else
			json_null(&js);
		if (j->failure[0]) {
			json_key(&js, "failure");
			json_string(&js, j->failure);
		}
		json_object_end(&js);
		(void)json_finish(&js);
		fputc('\n', stdout);
	} else if (tty) {
		unsigned fill = pct * BAR_WIDTH / 100;
		char bar[BAR_WIDTH + 1];

		memset(bar, '#', fill);
		memset(bar + fill, '.', BAR_WIDTH - fill);
		bar[BAR_WIDTH] = '\0';
		printf("\rbattery %u [%s] %3u%% %u/%u KiB %.1f KiB/s ", addr, bar, pct,
		       j->sent / 1024, j->total / 1024, rate / 1024);
		if (left >= 0)
			printf("%ld:%02ld left %-10s", left / 60, left % 60, j->state);
		else
			printf("--:-- left %-10s", j->state);
	} else {
		printf("battery %u: %s %u/%u bytes (%u%%), %.1f KiB/s", addr, j->state, j->sent,
		       j->total, pct, rate / 1024);
		if (left >= 0)
			printf(", %ld s left", left);
		putchar('\n');
	}
	fflush(stdout);
}

static int cancel(struct ctl *c)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_ROOT_PATH, FW_IFACE, "Cancel", &e,
	                           NULL, NULL);

	if (r < 0) {
		/* too late (past FW_END) or already over: follow it to its end */
		fprintf(stderr, "\nsmallbmsctl: update-firmware: cannot cancel: %s\n",
		        e.message ? e.message : strerror(-r));
		sd_bus_error_free(&e);
		return r;
	}
	return 0;
}

/* One battery: Start, then follow the job. An exit status. */
static int update_one(struct ctl *c, const char *path, unsigned addr)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	bool tty = !c->args->json && isatty(STDOUT_FILENO);
	bool cancel_asked = false;
	uint64_t t0, last_line = 0;
	struct job j = {0};
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "smallbmsctl: update-firmware: cannot open %s: %m\n", path);
		return CTL_EXIT_FAILED;
	}
	r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_ROOT_PATH, FW_IFACE, "Start", &e, NULL,
	                       "uh", (uint32_t)addr, fd);
	close(fd);
	if (r < 0) {
		snprintf(c->what, sizeof(c->what), "update-firmware: battery %u", addr);
		r = ctl_fail(c, r, &e);
		sd_bus_error_free(&e);
		return r;
	}
	t0 = mono_us();
	for (;;) {
		uint64_t now;

		if (interrupted && !cancel_asked) {
			cancel_asked = true;
			(void)cancel(c);
		}
		r = fetch_job(c, &j);
		if (r != CTL_EXIT_OK)
			return r;
		now = mono_us();
		if (job_ended(&j))
			break;
		if (tty || now - last_line >= LINE_EVERY) {
			show_progress(c, tty, &j, addr, t0, now);
			last_line = now;
		}
		usleep(POLL_US);
	}
	show_progress(c, tty, &j, addr, t0, mono_us());
	if (tty)
		putchar('\n');
	if (strcmp(j.state, "succeeded") == 0) {
		if (!c->args->json)
			printf("battery %u: firmware updated (%u bytes in %.1f s)\n", addr, j.total,
			       (double)(mono_us() - t0) / 1e6);
		return CTL_EXIT_OK;
	}
	if (strcmp(j.state, "cancelled") == 0) {
		fprintf(stderr,
		        "smallbmsctl: update-firmware: battery %u: cancelled; it stays on "
		        "its old firmware\n",
		        addr);
		return CTL_EXIT_CANCELLED;
	}
	fprintf(stderr, "smallbmsctl: update-firmware: battery %u: %s", addr, j.state);
	if (j.failure[0]) {
		fputs(": ", stderr);
		ctl_escape_write(stderr, j.failure);
	}
	fputc('\n', stderr);
	return CTL_EXIT_FAILED;
}

int ctl_cmd_update_firmware(struct ctl *c)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct ctl_battery *bats = NULL;
	struct sigaction sa = {.sa_handler = on_sigint};
	struct fw_image img;
	unsigned addrs[CTL_MAX_BATTERY];
	size_t n_bats = 0, n = 0;
	int r;

	r = check_file(c->args->file, &img, &buf);
	if (r != CTL_EXIT_OK)
		return r;
	r = ctl_fetch_batteries(c, &bats, &n_bats);
	if (r != CTL_EXIT_OK)
		return r;
	for (size_t i = 0; i < n_bats && n < CTL_MAX_BATTERY; i++) {
		if (!c->args->all_batteries && bats[i].address != c->args->battery)
			continue;
		if (bats[i].type != img.battery_type) {
			fprintf(stderr,
			        "smallbmsctl: update-firmware: %s is for battery type %u, battery "
			        "%u is "
			        "type %u\n",
			        c->args->file, img.battery_type, bats[i].address, bats[i].type);
			ctl_batteries_free(bats, n_bats);
			return CTL_EXIT_FAILED;
		}
		addrs[n++] = bats[i].address;
	}
	ctl_batteries_free(bats, n_bats);
	if (n == 0) {
		fprintf(stderr, "smallbmsctl: update-firmware: %s\n",
		        c->args->all_batteries ? "no batteries in the bank"
		                               : "no such battery in the bank");
		return CTL_EXIT_FAILED;
	}
	if (!c->args->json)
		printf("%s: firmware %u.%u.%u for battery type %u, %u bytes; %zu %s\n",
		       c->args->file, img.version[0], img.version[1], img.version[2],
		       img.battery_type, img.size, n, n == 1 ? "battery" : "batteries");
	/* No SA_RESTART: Ctrl-C ends the sleep at once. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (size_t i = 0; i < n; i++) {
		r = update_one(c, c->args->file, addrs[i]);
		if (r != CTL_EXIT_OK)
			return r; /* --all stops at the first failure */
		if (interrupted)
			return CTL_EXIT_CANCELLED;
	}
	return CTL_EXIT_OK;
}
