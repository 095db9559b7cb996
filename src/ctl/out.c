/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ctl/out.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/escape.h"

void out_init(struct out *o, FILE *f, bool json, bool pretty)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->json = json;
	o->label_width = OUT_LABEL_WIDTH;
	json_init(&o->j, f, pretty);
	if (json)
		json_object_begin(&o->j);
}

int out_finish(struct out *o)
{
	if (o->json) {
		json_object_end(&o->j);
		return json_finish(&o->j);
	}
	if (o->error)
		return o->error;
	if (fflush(o->f) != 0 || ferror(o->f))
		return -EIO;
	return 0;
}

static void indent(struct out *o)
{
	for (unsigned i = 0; i < o->indent; i++)
		fputs("  ", o->f);
}

/* A field without a label is for JSON only (raw values beside the text). */
static void human_line(struct out *o, const char *label, const char *text)
{
	size_t used;
	unsigned pad;

	if (!label)
		return;
	used = 2 * o->indent + strlen(label) + 1;
	pad = used < o->label_width ? (unsigned)(o->label_width - used) : 0;
	indent(o);
	ctl_escape_write(o->f, label);
	fprintf(o->f, ":%*s ", (int)pad, "");
	ctl_escape_write(o->f, text);
	fputc('\n', o->f);
}

static void key(struct out *o, const char *k)
{
	if (k)
		json_key(&o->j, k);
}

static void container_begin(struct out *o, const char *k, const char *label, bool object)
{
	if (o->json) {
		key(o, k);
		if (object)
			json_object_begin(&o->j);
		else
			json_array_begin(&o->j);
		return;
	}
	if (o->depth < 32 && label) {
		indent(o);
		fprintf(o->f, "%s:\n", label);
		o->indent++;
		o->indented |= UINT32_C(1) << o->depth;
	}
	o->depth++;
}

static void container_end(struct out *o, bool object)
{
	if (o->json) {
		if (object)
			json_object_end(&o->j);
		else
			json_array_end(&o->j);
		return;
	}
	if (o->depth == 0)
		return;
	o->depth--;
	if (o->depth < 32 && (o->indented & (UINT32_C(1) << o->depth))) {
		o->indented &= ~(UINT32_C(1) << o->depth);
		o->indent--;
	}
}

void out_object_begin(struct out *o, const char *k, const char *label)
{
	container_begin(o, k, label, true);
}

void out_object_end(struct out *o)
{
	container_end(o, true);
}

void out_array_begin(struct out *o, const char *k, const char *label)
{
	container_begin(o, k, label, false);
}

void out_array_end(struct out *o)
{
	container_end(o, false);
}

void out_str(struct out *o, const char *k, const char *label, const char *value)
{
	if (o->json) {
		key(o, k);
		json_string(&o->j, value);
		return;
	}
	human_line(o, label, value ? value : "");
}

void out_int(struct out *o, const char *k, const char *label, int64_t value, const char *text)
{
	char buf[32];

	if (o->json) {
		key(o, k);
		json_int(&o->j, value);
		return;
	}
	if (!text) {
		snprintf(buf, sizeof(buf), "%" PRId64, value);
		text = buf;
	}
	human_line(o, label, text);
}

void out_uint(struct out *o, const char *k, const char *label, uint64_t value, const char *text)
{
	char buf[32];

	if (o->json) {
		key(o, k);
		json_uint(&o->j, value);
		return;
	}
	if (!text) {
		snprintf(buf, sizeof(buf), "%" PRIu64, value);
		text = buf;
	}
	human_line(o, label, text);
}

void out_bool(struct out *o, const char *k, const char *label, bool value, const char *text)
{
	if (o->json) {
		key(o, k);
		json_bool(&o->j, value);
		return;
	}
	human_line(o, label, text ? text : value ? "yes" : "no");
}

void out_null(struct out *o, const char *k, const char *label, const char *text)
{
	if (o->json) {
		key(o, k);
		json_null(&o->j);
		return;
	}
	human_line(o, label, text ? text : "n/a");
}

void out_text(struct out *o, const char *fmt, ...)
{
	_cleanup_free_ char *line = NULL;
	va_list ap;
	int n;

	if (o->json)
		return;
	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0) {
		line = NULL;
		if (o->error == 0)
			o->error = -ENOMEM;
		return;
	}
	indent(o);
	ctl_escape_write(o->f, line); /* the fields may come from the bus */
	fputc('\n', o->f);
}
