/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <linux/gpio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/macro.h"
#include "daemon/gpio_adopt.h"

int gpio_adopt_parse_fdinfo(const char *text, char *chip, size_t chip_len, unsigned *offsets,
                            size_t max)
{
	const char *p = text;
	size_t n = 0;
	bool have_chip = false;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[128];
		unsigned long v;
		char *end;

		if (len < sizeof(line)) {
			memcpy(line, p, len);
			line[len] = '\0';
			if (strncmp(line, "gpio-chip:", 10) == 0) {
				const char *name = line + 10 + strspn(line + 10, " \t");

				if (have_chip || !name[0] || strlen(name) >= chip_len ||
				    strchr(name, '/'))
					return -EINVAL;
				snprintf(chip, chip_len, "%s", name);
				have_chip = true;
			} else if (strncmp(line, "gpio-line:", 10) == 0) {
				const char *num = line + 10 + strspn(line + 10, " \t");

				errno = 0;
				v = strtoul(num, &end, 10);
				if (errno || end == num || *end || v > 65535 || n >= max)
					return -EINVAL;
				offsets[n++] = (unsigned)v;
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	return have_chip && n > 0 ? (int)n : -EINVAL;
}

int gpio_adopt_map(const unsigned *req, size_t n, const unsigned line_offset[OUTPUT_LINE_COUNT],
                   unsigned bit[OUTPUT_LINE_COUNT])
{
	bool used[GPIO_ADOPT_MAX] = {};

	if (n != OUTPUT_LINE_COUNT)
		return -EINVAL;
	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++) {
		size_t i;

		for (i = 0; i < n && req[i] != line_offset[l]; i++)
			;
		if (i == n)
			return -ENOENT;
		if (used[i])
			return -EINVAL; /* two outputs on one line */
		used[i] = true;
		bit[l] = (unsigned)i;
	}
	return 0;
}

struct outputs_adopted {
	struct outputs base;
	int fd;
	unsigned bit[OUTPUT_LINE_COUNT];
	bool value[OUTPUT_LINE_COUNT];
};

static int get_values(int fd, const unsigned bit[OUTPUT_LINE_COUNT], bool active[OUTPUT_LINE_COUNT])
{
	struct gpio_v2_line_values v = {};

	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++)
		v.mask |= UINT64_C(1) << bit[l];
	if (ioctl(fd, GPIO_V2_LINE_GET_VALUES_IOCTL, &v) < 0)
		return -errno;
	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++)
		active[l] = (v.bits >> bit[l]) & 1;
	return 0;
}

static int adopted_set(struct outputs *o, enum output_line line, bool active)
{
	struct outputs_adopted *a = (struct outputs_adopted *)o;
	struct gpio_v2_line_values v = {};

	if ((unsigned)line >= OUTPUT_LINE_COUNT)
		return -EINVAL;
	if (a->value[line] == active)
		return 0;
	v.mask = UINT64_C(1) << a->bit[line];
	v.bits = active ? v.mask : 0;
	if (ioctl(a->fd, GPIO_V2_LINE_SET_VALUES_IOCTL, &v) < 0)
		return -errno;
	a->value[line] = active;
	return 0;
}

static int adopted_read_back(struct outputs *o, bool active[OUTPUT_LINE_COUNT])
{
	struct outputs_adopted *a = (struct outputs_adopted *)o;

	/* The levels only: the daemon compares them with its decision. */
	return get_values(a->fd, a->bit, active);
}

static int adopted_fd(struct outputs *o)
{
	return ((struct outputs_adopted *)o)->fd;
}

static void adopted_close(struct outputs *o)
{
	struct outputs_adopted *a = (struct outputs_adopted *)o;

	close(a->fd);
	free(a);
}

static const struct outputs_ops adopted_ops = {
        .name = "gpiod (adopted request)",
        .set = adopted_set,
        .read_back = adopted_read_back,
        .fd = adopted_fd,
        .close = adopted_close,
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct gpiod_chip *, gpiod_chip_close)

static int read_fdinfo(int fd, char *buf, size_t cap)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	_cleanup_close_ int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -errno;
	n = read(f, buf, cap - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int outputs_adopt_fd(int fd, const struct outputs_config *cfg, struct outputs **ret)
{
	unsigned req[GPIO_ADOPT_MAX], line_offset[OUTPUT_LINE_COUNT], bit[OUTPUT_LINE_COUNT];
	char info[4096], chip_name[64], chip_path[PATH_MAX + 80];
	bool active[OUTPUT_LINE_COUNT];

	if (fd < 0 || !cfg || !ret)
		return -EINVAL;
	int r = read_fdinfo(fd, info, sizeof(info));
	if (r < 0)
		return r;
	int n = gpio_adopt_parse_fdinfo(info, chip_name, sizeof(chip_name), req, GPIO_ADOPT_MAX);
	if (n < 0)
		return n;
	snprintf(chip_path, sizeof(chip_path), "%s/%s", cfg->dev_dir[0] ? cfg->dev_dir : "/dev",
	         chip_name);
	/* A configured chip must be the request's chip. */
	if (cfg->chip[0]) {
		char a[PATH_MAX], b[PATH_MAX];

		if (!realpath(cfg->chip, a) || !realpath(chip_path, b) || strcmp(a, b) != 0)
			return -EXDEV;
	}
	errno = 0;
	_cleanup_(gpiod_chip_closep) struct gpiod_chip *chip = gpiod_chip_open(chip_path);
	if (!chip)
		return errno > 0 ? -errno : -ENODEV;
	for (unsigned l = 0; l < OUTPUT_LINE_COUNT; l++) {
		if (cfg->line[l].offset >= 0) {
			line_offset[l] = (unsigned)cfg->line[l].offset;
			continue;
		}
		errno = 0;
		int off = gpiod_chip_get_line_offset_from_name(chip, cfg->line[l].name);
		if (off < 0)
			return errno > 0 ? -errno : -ENOENT;
		line_offset[l] = (unsigned)off;
	}
	r = gpio_adopt_map(req, (size_t)n, line_offset, bit);
	if (r < 0)
		return r;
	r = get_values(fd, bit, active);
	if (r < 0)
		return r;

	struct outputs_adopted *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->base.ops = &adopted_ops;
	a->fd = fd;
	memcpy(a->bit, bit, sizeof(bit));
	memcpy(a->value, active, sizeof(active));
	*ret = &a->base;
	return 0;
}
