/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replays a Bluetooth fuzz corpus through LLVMFuzzerTestOneInput without
 * libFuzzer, so the normal test suite runs the checked-in cases: every file
 * of every directory given. A failing case aborts inside the target. The
 * hand-written seeds say what they expect: a file named "valid-*" must be
 * accepted (fuzz_accepts()), one named "invalid-*" refused; the inputs
 * libFuzzer added may be either. Prints TAP.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
bool fuzz_accepts(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (1 << 20)

static int replay_file(const char *path, const char *name, uint8_t *buf, unsigned *n)
{
	FILE *f = fopen(path, "rb");
	size_t len;

	if (!f) {
		printf("not ok %u - %s: %s\n", ++*n, path, strerror(errno));
		return -EIO;
	}
	len = fread(buf, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	bool accepted = fuzz_accepts(buf, len);
	if ((strncmp(name, "valid-", 6) == 0 && !accepted) ||
	    (strncmp(name, "invalid-", 8) == 0 && accepted)) {
		printf("not ok %u - %s: %s\n", ++*n, path,
		       accepted ? "accepted, expected refused" : "refused, expected accepted");
		return -EBADMSG;
	}
	printf("ok %u - %s (%s)\n", ++*n, path, accepted ? "accepted" : "refused");
	return 0;
}

static int replay_dir(const char *dir, uint8_t *buf, unsigned *n)
{
	struct dirent **names;
	char path[4096];
	struct stat st;
	int count, r = 0;

	count = scandir(dir, &names, NULL, alphasort);
	if (count < 0) {
		printf("not ok %u - %s: %s\n", ++*n, dir, strerror(errno));
		return -EIO;
	}
	for (int i = 0; i < count; i++) {
		const char *name = names[i]->d_name;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    replay_file(path, name, buf, n) < 0)
			r = -EIO;
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	_cleanup_free_ uint8_t *buf = malloc(REPLAY_MAX_INPUT);
	unsigned n = 0;
	int r = 0;

	if (!buf || argc < 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (replay_dir(argv[i], buf, &n) < 0)
			r = -EIO;
	printf("1..%u\n", n);
	return r < 0 || n == 0 ? 1 : 0;
}
