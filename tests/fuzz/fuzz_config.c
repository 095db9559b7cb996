/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: smallbmsd's configuration parser through its entry point
 * config_load() on a directory in /dev/shm (memory; /tmp where there is no
 * /dev/shm), created once per process. The input
 * is the main file; the part after a line "#dropin" (if any) becomes
 * smallbmsd.conf.d/50-fuzz.conf. Properties: a refusal returns a negative
 * errno, leaves the configuration untouched byte for byte and says where and
 * why (a terminated, non-empty message naming one of the two files); an
 * acceptance gives the same configuration when loaded again. Anything else
 * aborts.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* For the corpus replay: whether config_load() accepted the last input. */
bool fuzz_accepts(const uint8_t *data, size_t size);

#define DROPIN_MARK "\n#dropin\n"

static char dir[64];
static bool last_accepted;
static char main_path[128], dropin_dir[128], dropin_path[160];

static int setup(void)
{
	if (dir[0])
		return 0;
	snprintf(dir, sizeof(dir), "/dev/shm/smallbms-fuzz-config.XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "/tmp/smallbms-fuzz-config.XXXXXX");
		if (!mkdtemp(dir)) {
			dir[0] = '\0';
			return -errno;
		}
	}
	snprintf(main_path, sizeof(main_path), "%s/smallbmsd.conf", dir);
	snprintf(dropin_dir, sizeof(dropin_dir), "%s/smallbmsd.conf.d", dir);
	snprintf(dropin_path, sizeof(dropin_path), "%s/50-fuzz.conf", dropin_dir);
	if (mkdir(dropin_dir, 0700) < 0)
		return -errno;
	return 0;
}

static void cleanup(void)
{
	unlink(dropin_path);
	unlink(main_path);
	rmdir(dropin_dir);
	rmdir(dir);
}

static int write_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	while (size > 0) {
		ssize_t n = write(fd, data, size);
		if (n < 0) {
			close(fd);
			return -errno;
		}
		data += n;
		size -= (size_t)n;
	}
	return close(fd) < 0 ? -errno : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool registered;
	struct bms_config cfg, before, again;
	struct config_error err;
	const uint8_t *mark = NULL;
	size_t main_len = size;

	if (setup() < 0)
		abort();
	if (!registered) {
		atexit(cleanup);
		registered = true;
	}
	for (size_t i = 0; i + strlen(DROPIN_MARK) <= size; i++)
		if (memcmp(data + i, DROPIN_MARK, strlen(DROPIN_MARK)) == 0) {
			mark = data + i;
			break;
		}
	if (mark)
		main_len = (size_t)(mark - data) + 1;
	if (write_file(main_path, data, main_len) < 0)
		abort();
	unlink(dropin_path);
	if (mark) {
		size_t off = main_len + strlen(DROPIN_MARK) - 1;
		if (write_file(dropin_path, data + off, size - off) < 0)
			abort();
	}

	memset(&cfg, 0x5a, sizeof(cfg));
	memset(&err, 0, sizeof(err));
	before = cfg;
	int r = config_load(dir, &cfg, &err);
	last_accepted = r == 0;
	if (r < 0) {
		if (memcmp(&cfg, &before, sizeof(cfg)) != 0)
			abort();
		if (err.reason[0] == '\0' ||
		    strnlen(err.reason, sizeof(err.reason)) == sizeof(err.reason))
			abort();
		if (strnlen(err.message, sizeof(err.message)) == sizeof(err.message) ||
		    strnlen(err.file, sizeof(err.file)) == sizeof(err.file))
			abort();
		if (strcmp(err.file, main_path) != 0 && strcmp(err.file, dropin_path) != 0)
			abort();
		return 0;
	}
	if (r != 0)
		abort();
	memset(&again, 0x5a, sizeof(again));
	if (config_load(dir, &again, NULL) != 0 || memcmp(&cfg, &again, sizeof(cfg)) != 0)
		abort();
	return 0;
}

bool fuzz_accepts(const uint8_t *data, size_t size)
{
	LLVMFuzzerTestOneInput(data, size);
	return last_accepted;
}
