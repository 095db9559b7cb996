/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replays the state record's fuzz corpus through LLVMFuzzerTestOneInput
 * without libFuzzer, so the normal test suite runs the checked-in cases:
 * every file of every directory given. A failing case aborts inside the
 * target; a file named "valid-*" must moreover be accepted, the others
 * refused.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
bool fuzz_record_accepts(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (1 << 20)

static int replay_file(const char *path, const char *name, uint8_t *buf)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	n = fread(buf, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	if (fuzz_record_accepts(buf, n) != (strncmp(name, "valid-", 6) == 0)) {
		fprintf(stderr, "%s: %s\n", path,
		        fuzz_record_accepts(buf, n) ? "accepted, expected refused"
		                                    : "refused, expected accepted");
		return -EBADMSG;
	}
	return 0;
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static int replay_dir(const char *dir, uint8_t *buf, unsigned *count)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -errno;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (replay_file(path, e->d_name, buf) < 0)
			return -EIO;
		(*count)++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	_cleanup_free_ uint8_t *buf = malloc(REPLAY_MAX_INPUT);
	unsigned count = 0;

	if (!buf || argc < 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (replay_dir(argv[i], buf, &count) < 0)
			return 1;
	if (count == 0) {
		fprintf(stderr, "no corpus files\n");
		return 1;
	}
	printf("replayed %u inputs\n", count);
	return 0;
}
