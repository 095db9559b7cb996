/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Dry run: drives nothing, reports every change, so the daemon can run on a
 * machine without the board (or beside a second BMS) and show its decisions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "hw/outputs.h"

struct outputs_dryrun {
	struct outputs base;
	bool value[OUTPUT_LINE_COUNT];
	outputs_report_fn report;
	void *report_userdata;
};

static int dryrun_open(const struct outputs_config *cfg, struct outputs **ret)
{
	if (!cfg || !ret)
		return -EINVAL;
	struct outputs_dryrun *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->base.ops = &outputs_dryrun_ops;
	d->report = cfg->report;
	d->report_userdata = cfg->report_userdata;
	*ret = &d->base;
	return 0;
}

static int dryrun_set(struct outputs *o, enum output_line line, bool active)
{
	struct outputs_dryrun *d = (struct outputs_dryrun *)o;
	char text[96];

	if ((unsigned)line >= OUTPUT_LINE_COUNT)
		return -EINVAL;
	if (d->value[line] == active)
		return 0;
	d->value[line] = active;
	snprintf(text, sizeof(text), "DRY-RUN: %s -> %s", output_line_name(line),
	         output_state_word(line, active));
	if (d->report)
		d->report(d->report_userdata, line, active, text);
	else
		fprintf(stderr, "%s\n", text);
	return 0;
}

static int dryrun_read_back(struct outputs *o, bool active[OUTPUT_LINE_COUNT])
{
	struct outputs_dryrun *d = (struct outputs_dryrun *)o;

	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++)
		active[i] = d->value[i];
	return 0;
}

static int dryrun_fd(struct outputs *o)
{
	return -EOPNOTSUPP;
}

static void dryrun_close(struct outputs *o)
{
	free(o);
}

const struct outputs_ops outputs_dryrun_ops = {
        .name = "dry-run",
        .open = dryrun_open,
        .set = dryrun_set,
        .read_back = dryrun_read_back,
        .fd = dryrun_fd,
        .close = dryrun_close,
};
