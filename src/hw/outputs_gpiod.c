/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The six outputs through libgpiod v2 (the GPIO character device).
 *
 * All six lines are requested once, as outputs whose first value is
 * INACTIVE, so that taking the lines never closes an output by accident.
 *
 * Restart (docs/protection.md 11): the request fd (outputs_ops.fd) can be handed
 * to systemd's fd store so the lines stay requested, and keep their driven
 * values, while the daemon restarts. libgpiod 2.1 cannot adopt an existing
 * request fd, so a new instance does NOT drive through the stored fd: it
 * closes the stored fd (releasing the lines) and re-requests them here at
 * once. The board's monostable keeps the three outputs enabled for 2 s after
 * the last heartbeat edge, so the new instance must be toggling the heartbeat
 * within 2 s of the old one's last edge. Between the release and the new
 * request (microseconds) the lines are undriven; docs/board.md counts an undriven
 * line as open, so on hardware that lets a released pin fall, the loads may
 * blip during a restart. */
#include <dirent.h>
#include <errno.h>
#include <gpiod.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "hw/outputs.h"

#define CONSUMER "smallbmsd"

struct outputs_gpiod {
	struct outputs base;
	struct gpiod_line_request *request;
	unsigned int offset[OUTPUT_LINE_COUNT];
	bool value[OUTPUT_LINE_COUNT];
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct gpiod_chip *, gpiod_chip_close)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct gpiod_line_settings *, gpiod_line_settings_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct gpiod_line_config *, gpiod_line_config_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct gpiod_request_config *, gpiod_request_config_free)

static int errno_or(int fallback)
{
	return errno > 0 ? -errno : fallback;
}

/* Says what failed into cfg->why (when given); returns r. */
__attribute__((format(printf, 3, 4))) static int fail(const struct outputs_config *cfg, int r,
                                                      const char *fmt, ...)
{
	if (cfg && cfg->why && cfg->why_len > 0) {
		char what[PATH_MAX + 200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		snprintf(cfg->why, cfg->why_len, "%s: %s", what, strerror(-r));
	}
	return r;
}

/* Resolves every line on one chip: a configured offset, else the name. */
static int resolve_lines(struct gpiod_chip *chip, const char *path,
                         const struct outputs_config *cfg, unsigned int offset[OUTPUT_LINE_COUNT])
{
	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++) {
		if (cfg->line[i].offset >= 0) {
			offset[i] = (unsigned int)cfg->line[i].offset;
			continue;
		}
		errno = 0;
		int r = gpiod_chip_get_line_offset_from_name(chip, cfg->line[i].name);
		if (r < 0)
			return fail(cfg, errno_or(-ENOENT), "finding line \"%s\" on %s",
			            cfg->line[i].name, path);
		offset[i] = (unsigned int)r;
	}
	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++)
		for (unsigned j = i + 1; j < OUTPUT_LINE_COUNT; j++)
			if (offset[i] == offset[j])
				return fail(cfg, -EINVAL, "using %s: %s and %s are both offset %u",
				            path, output_line_name((enum output_line)i),
				            output_line_name((enum output_line)j), offset[i]);
	return 0;
}

static int chip_filter(const struct dirent *de)
{
	const char *p = de->d_name;

	if (strncmp(p, "gpiochip", 8) != 0 || !p[8])
		return 0;
	for (p += 8; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

static void free_dirents(struct dirent **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* Finds the chip holding all six lines. -ENOENT when a name is on no chip. */
static int find_chip(const struct outputs_config *cfg, struct gpiod_chip **ret,
                     unsigned int offset[OUTPUT_LINE_COUNT], char *path, size_t path_len)
{
	struct dirent **list = NULL;
	int r = -ENOENT;

	if (cfg->chip[0]) {
		_cleanup_(gpiod_chip_closep) struct gpiod_chip *chip = NULL;
		errno = 0;
		chip = gpiod_chip_open(cfg->chip);
		if (!chip)
			return fail(cfg, errno_or(-ENODEV), "opening %s", cfg->chip);
		r = resolve_lines(chip, cfg->chip, cfg, offset);
		if (r < 0)
			return r;
		snprintf(path, path_len, "%s", cfg->chip);
		*ret = TAKE_PTR(chip);
		return 0;
	}

	int n = scandir(cfg->dev_dir, &list, chip_filter, versionsort);
	if (n < 0)
		return fail(cfg, -errno, "listing the GPIO chips in %s", cfg->dev_dir);
	for (int i = 0; i < n; i++) {
		snprintf(path, path_len, "%s/%s", cfg->dev_dir, list[i]->d_name);
		errno = 0;
		struct gpiod_chip *chip = gpiod_chip_open(path);
		if (!chip) {
			/* An unreadable chip only matters if no other one fits. */
			if (r == -ENOENT)
				r = fail(cfg, errno_or(-ENODEV), "opening %s", path);
			continue;
		}
		int q = resolve_lines(chip, path, cfg, offset);
		if (q >= 0) {
			*ret = chip;
			free_dirents(list, n);
			return 0;
		}
		gpiod_chip_close(chip);
		if (q != -ENOENT)
			r = q;
	}
	free_dirents(list, n);
	if (n == 0)
		return fail(cfg, -ENODEV, "finding a GPIO chip in %s (no gpiochipN)", cfg->dev_dir);
	/* why holds the last chip's failure, e.g. the line it lacks. */
	return r;
}

static int og_open(const struct outputs_config *cfg, struct outputs **ret)
{
	_cleanup_(gpiod_chip_closep) struct gpiod_chip *chip = NULL;
	_cleanup_(gpiod_line_settings_freep) struct gpiod_line_settings *settings = NULL;
	_cleanup_(gpiod_line_config_freep) struct gpiod_line_config *line_cfg = NULL;
	_cleanup_(gpiod_request_config_freep) struct gpiod_request_config *req_cfg = NULL;
	unsigned int offset[OUTPUT_LINE_COUNT];

	if (cfg && cfg->why && cfg->why_len > 0)
		cfg->why[0] = '\0';
	if (!cfg || !ret)
		return fail(cfg, -EINVAL, "opening the GPIO outputs");
	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++)
		if (cfg->line[i].offset >= 0 && !cfg->chip[0])
			/* an offset means nothing without its chip */
			return fail(cfg, -EINVAL, "using offset %d for %s: no chip configured",
			            cfg->line[i].offset, output_line_name((enum output_line)i));
	char chip_path[PATH_MAX + 300];
	int r = find_chip(cfg, &chip, offset, chip_path, sizeof(chip_path));
	if (r < 0)
		return r;

	settings = gpiod_line_settings_new();
	line_cfg = gpiod_line_config_new();
	req_cfg = gpiod_request_config_new();
	if (!settings || !line_cfg || !req_cfg)
		return fail(cfg, -ENOMEM, "setting up the line request");
	if (gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT) < 0 ||
	    gpiod_line_settings_set_output_value(settings, GPIOD_LINE_VALUE_INACTIVE) < 0)
		return fail(cfg, errno_or(-EINVAL),
		            "setting up the line request (output, inactive)");
	if (gpiod_line_config_add_line_settings(line_cfg, offset, OUTPUT_LINE_COUNT, settings) < 0)
		return fail(cfg, errno_or(-EINVAL), "setting up the line request (offsets)");
	gpiod_request_config_set_consumer(req_cfg, CONSUMER);

	struct outputs_gpiod *g = calloc(1, sizeof(*g));
	if (!g)
		return fail(cfg, -ENOMEM, "allocating the outputs");
	errno = 0;
	g->request = gpiod_chip_request_lines(chip, req_cfg, line_cfg);
	if (!g->request) {
		r = errno_or(-EIO);
		free(g);
		return fail(cfg, r, "requesting the six lines of %s as outputs", chip_path);
	}
	g->base.ops = &outputs_gpiod_ops;
	memcpy(g->offset, offset, sizeof(offset));
	*ret = &g->base;
	return 0;
}

static int og_set(struct outputs *o, enum output_line line, bool active)
{
	struct outputs_gpiod *g = (struct outputs_gpiod *)o;

	if ((unsigned)line >= OUTPUT_LINE_COUNT)
		return -EINVAL;
	if (g->value[line] == active)
		return 0;
	errno = 0;
	if (gpiod_line_request_set_value(g->request, g->offset[line],
	                                 active ? GPIOD_LINE_VALUE_ACTIVE
	                                        : GPIOD_LINE_VALUE_INACTIVE) < 0)
		return errno_or(-EIO);
	g->value[line] = active;
	return 0;
}

static int og_read_back(struct outputs *o, bool active[OUTPUT_LINE_COUNT])
{
	struct outputs_gpiod *g = (struct outputs_gpiod *)o;
	enum gpiod_line_value v[OUTPUT_LINE_COUNT];

	/* The subset call names the offsets, so the order never depends on how
	 * the library sorts the request. */
	errno = 0;
	if (gpiod_line_request_get_values_subset(g->request, OUTPUT_LINE_COUNT, g->offset, v) < 0)
		return errno_or(-EIO);
	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++) {
		if (v[i] != GPIOD_LINE_VALUE_ACTIVE && v[i] != GPIOD_LINE_VALUE_INACTIVE)
			return -EIO;
		active[i] = v[i] == GPIOD_LINE_VALUE_ACTIVE;
	}
	/* The levels only: the caller compares them with its decision, never
	 * with what this adapter believes it wrote (a write can fail). */
	return 0;
}

static int og_fd(struct outputs *o)
{
	struct outputs_gpiod *g = (struct outputs_gpiod *)o;

	return gpiod_line_request_get_fd(g->request);
}

static void og_close(struct outputs *o)
{
	struct outputs_gpiod *g = (struct outputs_gpiod *)o;

	gpiod_line_request_release(g->request);
	free(g);
}

const struct outputs_ops outputs_gpiod_ops = {
        .name = "gpiod",
        .open = og_open,
        .set = og_set,
        .read_back = og_read_back,
        .fd = og_fd,
        .close = og_close,
};
