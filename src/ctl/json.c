/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ctl/json.h"

#include "ctl/escape.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

void json_init(struct json *j, FILE *f, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->pretty = pretty;
}

static void fail(struct json *j, int r)
{
	if (j->error == 0)
		j->error = r;
}

static void newline_indent(struct json *j)
{
	if (!j->pretty)
		return;
	fputc('\n', j->f);
	for (unsigned i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/* Everything a value needs before it: a comma, a newline, the check that a
 * value may stand here at all. false when it may not. */
static bool before_value(struct json *j)
{
	if (j->error)
		return false;
	if (j->depth == 0) {
		if (j->done) {
			fail(j, -EINVAL);
			return false;
		}
		return true;
	}
	if (j->in_object[j->depth - 1]) {
		if (!j->after_key) {
			fail(j, -EINVAL);
			return false;
		}
		j->after_key = false;
		return true;
	}
	if (j->has_items[j->depth - 1])
		fputc(',', j->f);
	j->has_items[j->depth - 1] = true;
	newline_indent(j);
	return true;
}

static void after_value(struct json *j)
{
	if (j->depth == 0)
		j->done = true;
}

void json_key(struct json *j, const char *key)
{
	if (j->error)
		return;
	if (j->depth == 0 || !j->in_object[j->depth - 1] || j->after_key || !key) {
		fail(j, -EINVAL);
		return;
	}
	if (j->has_items[j->depth - 1])
		fputc(',', j->f);
	j->has_items[j->depth - 1] = true;
	newline_indent(j);
	json_write_string(j->f, key);
	fputs(j->pretty ? ": " : ":", j->f);
	j->after_key = true;
}

static void open_container(struct json *j, bool object)
{
	if (!before_value(j))
		return;
	if (j->depth >= JSON_MAX_DEPTH) {
		fail(j, -E2BIG);
		return;
	}
	fputc(object ? '{' : '[', j->f);
	j->in_object[j->depth] = object;
	j->has_items[j->depth] = false;
	j->depth++;
}

static void close_container(struct json *j, bool object)
{
	if (j->error)
		return;
	if (j->depth == 0 || j->in_object[j->depth - 1] != object || j->after_key) {
		fail(j, -EINVAL);
		return;
	}
	j->depth--;
	if (j->has_items[j->depth])
		newline_indent(j);
	fputc(object ? '}' : ']', j->f);
	after_value(j);
}

void json_object_begin(struct json *j)
{
	open_container(j, true);
}

void json_object_end(struct json *j)
{
	close_container(j, true);
}

void json_array_begin(struct json *j)
{
	open_container(j, false);
}

void json_array_end(struct json *j)
{
	close_container(j, false);
}

void json_write_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		unsigned char c = *s;

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\r') {
			fputs("\\r", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c == '\b') {
			fputs("\\b", f);
		} else if (c == '\f') {
			fputs("\\f", f);
		} else if (c < 0x20 || c == 0x7F) {
			fprintf(f, "\\u%04x", c);
		} else if (c < 0x80) {
			fputc(c, f);
		} else {
			uint32_t cp;
			size_t n = ctl_utf8_decode(s, &cp);

			if (n == 0)
				fputs("\xEF\xBF\xBD", f); /* U+FFFD for the bad byte */
			else if (ctl_unichar_unsafe(cp))
				fprintf(f, "\\u%04" PRIx32, cp); /* C1, bidi, zero width */
			else
				fwrite(s, 1, n, f);
			s += n ? n : 1;
			continue;
		}
		s++;
	}
	fputc('"', f);
}

void json_string(struct json *j, const char *s)
{
	if (!s) {
		json_null(j);
		return;
	}
	if (!before_value(j))
		return;
	json_write_string(j->f, s);
	after_value(j);
}

void json_int(struct json *j, int64_t v)
{
	if (!before_value(j))
		return;
	fprintf(j->f, "%" PRId64, v);
	after_value(j);
}

void json_uint(struct json *j, uint64_t v)
{
	if (!before_value(j))
		return;
	fprintf(j->f, "%" PRIu64, v);
	after_value(j);
}

void json_bool(struct json *j, bool v)
{
	if (!before_value(j))
		return;
	fputs(v ? "true" : "false", j->f);
	after_value(j);
}

void json_null(struct json *j)
{
	if (!before_value(j))
		return;
	fputs("null", j->f);
	after_value(j);
}

int json_finish(struct json *j)
{
	if (j->error == 0 && (j->depth != 0 || !j->done))
		j->error = -EINVAL;
	if (j->error)
		return j->error;
	fputc('\n', j->f);
	if (fflush(j->f) != 0 || ferror(j->f))
		return -EIO;
	return 0;
}
