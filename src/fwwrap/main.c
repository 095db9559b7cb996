/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * smallbms-fwwrap: wraps a raw battery firmware image into the smallbms
 * image file format (docs/firmware.md), or checks such a file.
 *
 *   smallbms-fwwrap --type T --version X.Y.Z -o OUT RAW
 *   smallbms-fwwrap --check FILE [--type T]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macro.h"
#include "core/fw_image.h"

enum { EXIT_REFUSED = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
	fputs("Usage: smallbms-fwwrap --type T --version X.Y.Z -o OUT RAW\n"
	      "       smallbms-fwwrap --check FILE [--type T]\n"
	      "Wraps a raw battery firmware image into a smallbms image file, or checks one.\n"
	      "  -t, --type T         battery type the image is for: 1 (12.8 V), 2 (25.6 V),\n"
	      "                       3 (51.2 V); with --check: refuse another type\n"
	      "  -V, --version X.Y.Z  the firmware version the image holds\n"
	      "  -o, --output OUT     where to write the image file\n"
	      "  -c, --check FILE     check an image file and print its header\n"
	      "  -h, --help           show this help\n"
	      "Exit status: 0 done, 1 refused or failed, 2 usage error.\n",
	      f);
}

/* Reads the whole file, at most max bytes; -EFBIG when it is longer. */
static int read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;

	if (fd < 0)
		return -errno;
	buf = malloc(max + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return -EFBIG;
	}
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int wrap(const char *raw, const char *out, uint8_t type, const uint8_t version[3])
{
	_cleanup_free_ uint8_t *data = NULL;
	_cleanup_close_ int fd = -1;
	uint8_t hdr[FW_IMAGE_HEADER_LEN];
	size_t len;
	int r;

	r = read_file(raw, FW_IMAGE_MAX_SIZE, &data, &len);
	if (r == -EFBIG) {
		fprintf(stderr,
		        "smallbms-fwwrap: %s: larger than the batteries' flash (%u bytes)\n", raw,
		        FW_IMAGE_MAX_SIZE);
		return EXIT_REFUSED;
	}
	if (r < 0) {
		fprintf(stderr, "smallbms-fwwrap: cannot read %s: %s\n", raw, strerror(-r));
		return EXIT_REFUSED;
	}
	if (len == 0) {
		fprintf(stderr, "smallbms-fwwrap: %s: empty image\n", raw);
		return EXIT_REFUSED;
	}
	r = fw_image_write_header(hdr, type, version, data, (uint32_t)len);
	if (r < 0) {
		fprintf(stderr, "smallbms-fwwrap: cannot build the header: %s\n", strerror(-r));
		return EXIT_REFUSED;
	}
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "smallbms-fwwrap: cannot create %s: %m\n", out);
		return EXIT_REFUSED;
	}
	r = write_all(fd, hdr, sizeof(hdr));
	if (r >= 0)
		r = write_all(fd, data, len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "smallbms-fwwrap: cannot write %s: %s\n", out, strerror(-r));
		(void)unlink(out);
		return EXIT_REFUSED;
	}
	return 0;
}

static int check(const char *path, int type)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct fw_image img;
	enum fw_image_refusal why;
	size_t len;
	int r;

	r = read_file(path, FW_IMAGE_MAX_FILE, &buf, &len);
	if (r == -EFBIG) {
		fprintf(stderr, "smallbms-fwwrap: %s: %s\n", path,
		        fw_image_refusal_text(FW_IMAGE_BAD_SIZE));
		return EXIT_REFUSED;
	}
	if (r < 0) {
		fprintf(stderr, "smallbms-fwwrap: cannot read %s: %s\n", path, strerror(-r));
		return EXIT_REFUSED;
	}
	if (fw_image_parse(buf, len, &img, &why) < 0 ||
	    (type > 0 && fw_image_check_battery(&img, (uint8_t)type, &why) < 0)) {
		fprintf(stderr, "smallbms-fwwrap: %s: %s\n", path, fw_image_refusal_text(why));
		return EXIT_REFUSED;
	}
	printf("format %u\nbattery type %u\nversion %u.%u.%u\nsize %u\ncrc32 0x%08x\n", img.format,
	       img.battery_type, img.version[0], img.version[1], img.version[2], img.size,
	       img.crc32);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"type", required_argument, NULL, 't'},   {"version", required_argument, NULL, 'V'},
	        {"output", required_argument, NULL, 'o'}, {"check", required_argument, NULL, 'c'},
	        {"help", no_argument, NULL, 'h'},         {0},
	};
	const char *out = NULL, *check_path = NULL;
	uint8_t version[3];
	bool have_version = false;
	int type = 0, c;

	while ((c = getopt_long(argc, argv, "t:V:o:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (strlen(optarg) != 1 || optarg[0] < '1' || optarg[0] > '3') {
				fprintf(stderr, "smallbms-fwwrap: --type must be 1, 2 or 3\n");
				return EXIT_USAGE;
			}
			type = optarg[0] - '0';
			break;
		case 'V':
			if (fw_version_parse(optarg, version) < 0) {
				fprintf(stderr,
				        "smallbms-fwwrap: --version must be X.Y.Z, each 0..255\n");
				return EXIT_USAGE;
			}
			have_version = true;
			break;
		case 'o':
			out = optarg;
			break;
		case 'c':
			check_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (check_path) {
		if (optind != argc || out || have_version) {
			usage(stderr);
			return EXIT_USAGE;
		}
		return check(check_path, type);
	}
	if (optind + 1 != argc || !out || !have_version || type == 0) {
		fprintf(stderr,
		        "smallbms-fwwrap: wrapping needs --type, --version, -o and one RAW file\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	return wrap(argv[optind], out, (uint8_t)type, version);
}
