/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fault injection for tests and benchmarks only (never installed): an
 * LD_PRELOAD shim that delays every fsync and fdatasync of the process by
 * SMALLBMS_FSYNC_DELAY_MS milliseconds, standing in for a slow SD card.
 * Without the variable (or with 0) the calls go straight through.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);

static void delay(void)
{
	const char *v = getenv("SMALLBMS_FSYNC_DELAY_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;

	if (ms <= 0 || ms > 60000)
		return;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	delay();
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(fd);
}

int fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	delay();
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(fd);
}
