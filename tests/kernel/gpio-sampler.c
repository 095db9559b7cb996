/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Samples gpio-sim line values every millisecond until SIGTERM, then prints
 * one JSON object: the number of samples, the longest interval between two
 * samples (so that a test can tell it really sampled every millisecond), and
 * per line its first and last value and every change with its time
 * (CLOCK_MONOTONIC, seconds).
 *
 *     gpio-sampler NAME=/sys/devices/platform/gpio-sim.0/gpiochipN/sim_gpioM/value ...
 *
 * Prints "sampling" on stdout once the first sample is taken. Runs
 * SCHED_FIFO with its memory locked when it may (a test rig in a guest),
 * so that the daemon under test does not hold it up. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINES   8
#define MAX_CHANGES 20000
#define INTERVAL_NS 1000000L

struct change {
	double t_s;
	int value;
};

struct line {
	const char *name;
	int fd;
	int first, last;
	size_t n_changes;
	struct change *changes;
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_value(int fd)
{
	char buf[8];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return atoi(buf);
}

int main(int argc, char **argv)
{
	struct line lines[MAX_LINES] = {};
	int n_lines = argc - 1;
	struct sigaction sa = {.sa_handler = on_term};
	struct sched_param sp = {.sched_priority = 50};
	struct timespec next;
	double prev = 0, max_gap = 0;
	unsigned long samples = 0;

	if (n_lines < 1 || n_lines > MAX_LINES) {
		fprintf(stderr, "usage: gpio-sampler NAME=PATH... (1 to %d lines)\n", MAX_LINES);
		return 2;
	}
	for (int i = 0; i < n_lines; i++) {
		char *eq = strchr(argv[i + 1], '=');

		if (!eq) {
			fprintf(stderr, "gpio-sampler: '%s' is not NAME=PATH\n", argv[i + 1]);
			return 2;
		}
		*eq = '\0';
		lines[i].name = argv[i + 1];
		lines[i].fd = open(eq + 1, O_RDONLY | O_CLOEXEC);
		if (lines[i].fd < 0) {
			fprintf(stderr, "gpio-sampler: open %s: %s\n", eq + 1, strerror(errno));
			return 1;
		}
		lines[i].changes = calloc(MAX_CHANGES, sizeof(struct change));
		if (!lines[i].changes) {
			fprintf(stderr, "gpio-sampler: out of memory\n");
			return 1;
		}
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
		fprintf(stderr, "gpio-sampler: no SCHED_FIFO (%s)\n", strerror(errno));
#ifndef __SANITIZE_ADDRESS__ /* ASan's shadow memory is far too big to lock */
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		fprintf(stderr, "gpio-sampler: no mlockall (%s)\n", strerror(errno));
#endif

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop) {
		double t = now_s();

		for (int i = 0; i < n_lines; i++) {
			int v = read_value(lines[i].fd);

			if (samples == 0)
				lines[i].first = v;
			else if (v != lines[i].last && lines[i].n_changes < MAX_CHANGES)
				lines[i].changes[lines[i].n_changes++] = (struct change){t, v};
			lines[i].last = v;
		}
		if (samples == 0) {
			printf("sampling\n");
			fflush(stdout);
		} else if (t - prev > max_gap) {
			max_gap = t - prev;
		}
		prev = t;
		samples++;
		next.tv_nsec += INTERVAL_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		/* Fallen behind (a stalled CPU): start afresh from now. */
		struct timespec cur;
		clock_gettime(CLOCK_MONOTONIC, &cur);
		if (cur.tv_sec > next.tv_sec + 1)
			next = cur;
	}

	printf("{\"samples\": %lu, \"max_interval_s\": %.6f, \"first\": {", samples, max_gap);
	for (int i = 0; i < n_lines; i++)
		printf("%s\"%s\": %d", i ? ", " : "", lines[i].name, lines[i].first);
	printf("}, \"last\": {");
	for (int i = 0; i < n_lines; i++)
		printf("%s\"%s\": %d", i ? ", " : "", lines[i].name, lines[i].last);
	printf("}, \"changes\": {");
	for (int i = 0; i < n_lines; i++) {
		printf("%s\"%s\": [", i ? ", " : "", lines[i].name);
		for (size_t c = 0; c < lines[i].n_changes; c++)
			printf("%s[%.6f, %d]", c ? ", " : "", lines[i].changes[c].t_s,
			       lines[i].changes[c].value);
		printf("]");
	}
	printf("}}\n");
	for (int i = 0; i < n_lines; i++) {
		close(lines[i].fd);
		free(lines[i].changes);
	}
	return 0;
}
