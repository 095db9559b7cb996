/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Time of one atomic state write (temp file, fsync, rename, directory fsync)
 * on this machine: p50/p99 over 200 writes. Prints figures, asserts nothing.
 *   bench-store [DIR] [RECORD_BYTES]   (default: a temp dir in /var/tmp, 512) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/statefile.h"

#define WRITES 200

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	char tmpl[] = "/var/tmp/bench-store-XXXXXX";
	const char *dir = argc > 1 ? argv[1] : NULL;
	size_t len = argc > 2 ? strtoul(argv[2], NULL, 10) : 512;
	uint64_t t[WRITES];
	struct statefile *sf = NULL;

	if (!dir && !(dir = mkdtemp(tmpl))) {
		perror("mkdtemp");
		return 1;
	}
	if (len == 0 || len > STATEFILE_MAX_LEN) {
		fprintf(stderr, "record size 1..%u\n", STATEFILE_MAX_LEN);
		return 1;
	}
	uint8_t *rec = malloc(len);
	if (!rec)
		return 1;
	int r = statefile_open(dir, &sf);
	if (r < 0) {
		fprintf(stderr, "open %s: %s\n", dir, strerror(-r));
		return 1;
	}
	for (unsigned i = 0; i < WRITES; i++) {
		memset(rec, (int)i, len);
		uint64_t t0 = now_ns();
		r = statefile_save(sf, rec, len);
		t[i] = now_ns() - t0;
		if (r < 0) {
			fprintf(stderr, "save: %s\n", strerror(-r));
			return 1;
		}
	}
	qsort(t, WRITES, sizeof(t[0]), cmp_u64);
	printf("state write (%zu bytes, fsync, rename, dir fsync) in %s, %d writes:\n", len, dir,
	       WRITES);
	printf("  p50 %.1f us  p99 %.1f us  max %.1f us\n", (double)t[WRITES / 2] / 1e3,
	       (double)t[WRITES * 99 / 100] / 1e3, (double)t[WRITES - 1] / 1e3);
	statefile_free(sf);
	free(rec);
	if (dir == tmpl) {
		char p[64];
		for (int s = 0; s < 2; s++) {
			snprintf(p, sizeof(p), "%s/state.%d", tmpl, s);
			unlink(p);
		}
		rmdir(tmpl);
	}
	return 0;
}
