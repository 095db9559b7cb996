/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runs a libFuzzer target over stored inputs without libFuzzer, so the
 * corpus is checked in the normal test suite. Arguments are files or
 * directories (every regular file in them). Prints TAP.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (1 << 20)

static int run_file(const char *path, unsigned *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("not ok %u - %s: %s\n", ++*n, path, strerror(errno));
		return -1;
	}
	uint8_t *buf = malloc(REPLAY_MAX_INPUT);
	if (!buf) {
		fclose(f);
		return -1;
	}
	size_t len = fread(buf, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	printf("ok %u - %s\n", ++*n, path);
	return 0;
}

static int run_path(const char *path, unsigned *n)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		printf("not ok %u - %s: %s\n", ++*n, path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path, n);

	struct dirent **names;
	int count = scandir(path, &names, NULL, alphasort);
	if (count < 0) {
		printf("not ok %u - %s: %s\n", ++*n, path, strerror(errno));
		return -1;
	}
	int r = 0;
	for (int i = 0; i < count; i++) {
		char full[4096];
		if (names[i]->d_name[0] != '.') {
			snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
			if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && run_file(full, n) < 0)
				r = -1;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	unsigned n = 0;
	int r = 0;

	for (int i = 1; i < argc; i++)
		if (run_path(argv[i], &n) < 0)
			r = -1;
	printf("1..%u\n", n);
	return r < 0 || n == 0 ? 1 : 0;
}
