/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fault injection for tests and benchmarks only (never installed): an
 * LD_PRELOAD shim that delays every opening of an IIO raw attribute (a
 * file whose name ends in "_raw", e.g. in_voltage0_raw) by
 * SMALLBMS_IIO_RAW_DELAY_MS milliseconds, standing in for a real ADS1015
 * or ADS1115, whose driver starts a conversion on each such read and
 * sleeps until it ends. libiio 0.24's local backend opens every attribute
 * with fopen() and reads it with fread(), whose read() glibc calls
 * internally (not through the PLT), so the delay sits in fopen().
 * Without the variable (or with 0) the calls go straight through.
 */
/* Both names are defined here: no redirection of fopen to fopen64. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

FILE *fopen(const char *path, const char *mode);
FILE *fopen64(const char *path, const char *mode);

static void delay_raw(const char *path)
{
	const char *v = getenv("SMALLBMS_IIO_RAW_DELAY_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;
	size_t n = path ? strlen(path) : 0;

	if (ms <= 0 || ms > 60000 || n < 4 || strcmp(path + n - 4, "_raw") != 0)
		return;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

typedef FILE *(*fopen_fn)(const char *, const char *);

static FILE *open_via(const char *name, const char *path, const char *mode)
{
	fopen_fn real = (fopen_fn)dlsym(RTLD_NEXT, name);

	delay_raw(path);
	if (!real) {
		errno = ENOSYS;
		return NULL;
	}
	return real(path, mode);
}

FILE *fopen(const char *path, const char *mode)
{
	return open_via("fopen", path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
	return open_via("fopen64", path, mode);
}
