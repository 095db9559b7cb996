/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The six output lines of the carrier board (docs/board.md), behind an ops struct
 * so the daemon drives real GPIO or a dry run without knowing which. Values
 * are logical: true = active (output closed, LED lit, heartbeat high). */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

enum output_line {
	OUTPUT_LOAD_DISCONNECT,
	OUTPUT_CHARGE_DISCONNECT,
	OUTPUT_PRE_ALARM,
	OUTPUT_LED_BLUETOOTH,
	OUTPUT_LED_ERROR,
	OUTPUT_HEARTBEAT,
	OUTPUT_LINE_COUNT
};

/* Default line names ("gpio-line-names" in the device tree). */
const char *output_line_name(enum output_line line);
/* Word for a state in logs: "closed"/"open", "lit"/"dark", "high"/"low". */
const char *output_state_word(enum output_line line, bool active);

#define OUTPUTS_NAME_MAX 64

struct outputs_line_config {
	char name[OUTPUTS_NAME_MAX]; /* looked up by name when offset < 0 */
	int offset;                  /* line offset on outputs_config.chip, or -1 */
};

/* Dry-run report of one change; text is e.g. "DRY-RUN: load-disconnect -> closed". */
typedef void (*outputs_report_fn)(void *userdata, enum output_line line, bool active,
                                  const char *text);

struct outputs_config {
	/* Chip path ("/dev/gpiochip0"); empty: every gpiochip* in dev_dir is
	 * searched for a chip holding all six names. */
	char chip[PATH_MAX];
	char dev_dir[PATH_MAX]; /* "/dev"; tests point it elsewhere */
	struct outputs_line_config line[OUTPUT_LINE_COUNT];
	outputs_report_fn report; /* dry run; NULL logs to stderr */
	void *report_userdata;
	/* Out, may be NULL: where open says which step failed and its errno,
	 * e.g. "finding line \"heartbeat\" on /dev/gpiochip0: No such file or
	 * directory". */
	char *why;
	size_t why_len;
};

/* Fills the docs/board.md defaults: search by name in /dev. */
void outputs_config_defaults(struct outputs_config *cfg);

struct outputs;

struct outputs_ops {
	const char *name;
	/* Takes all six lines at once, every one inactive (the safe state). */
	int (*open)(const struct outputs_config *cfg, struct outputs **ret);
	/* Drives one line; a value equal to the last one set is not written. */
	int (*set)(struct outputs *o, enum output_line line, bool active);
	/* Reads the lines' levels into active[]; -EIO (or -errno) when they
	 * cannot be read. Comparing them with the decided levels is the
	 * caller's: a backend's own idea of what it wrote is no reference. */
	int (*read_back)(struct outputs *o, bool active[OUTPUT_LINE_COUNT]);
	/* The fd that holds the lines (for the systemd fd store), or
	 * -EOPNOTSUPP. libgpiod 2.1 cannot adopt it: a restarted daemon
	 * closes the stored fd and opens anew (outputs_gpiod.c says more). */
	int (*fd)(struct outputs *o);
	/* Releases every line: undriven lines are the safe state. */
	void (*close)(struct outputs *o);
};

/* Every backend's object starts with this. */
struct outputs {
	const struct outputs_ops *ops;
};

extern const struct outputs_ops outputs_gpiod_ops;
extern const struct outputs_ops outputs_dryrun_ops;

static inline int outputs_set(struct outputs *o, enum output_line line, bool active)
{
	return o->ops->set(o, line, active);
}

static inline int outputs_read_back(struct outputs *o, bool active[OUTPUT_LINE_COUNT])
{
	return o->ops->read_back(o, active);
}

static inline void outputs_close(struct outputs *o)
{
	if (o)
		o->ops->close(o);
}
