/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A streaming JSON writer: values are written as they are given, so a
 * document of any size needs no tree in memory. Structural mistakes (a key
 * outside an object, a value without its key, unbalanced ends) are recorded
 * in `error` and make json_finish() fail instead of printing bad JSON.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *f;
	bool pretty;
	bool after_key;
	unsigned depth;
	bool in_object[JSON_MAX_DEPTH]; /* per open container: object or array */
	bool has_items[JSON_MAX_DEPTH];
	bool done; /* the top-level value is complete */
	int error; /* first negative errno, 0 when fine */
};

/* pretty: two-space indentation and a newline at the end; otherwise the
 * whole document on one line (one document per line for a stream). */
void json_init(struct json *j, FILE *f, bool pretty);

void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
/* The key of the next value in an object. */
void json_key(struct json *j, const char *key);

/* NULL is written as null. Invalid UTF-8 becomes U+FFFD; control
 * characters, DEL, C1 and the invisible format characters of
 * ctl_unichar_unsafe() are written as \uXXXX (valid JSON either way, but
 * never acted on by a terminal that shows the document). */
void json_string(struct json *j, const char *s);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);

/* Ends the document (newline) and flushes. 0, or the first error: -EINVAL
 * for a structural mistake, -EIO when the stream failed. */
int json_finish(struct json *j);

/* Writes s as a JSON string literal (quotes included) to f. */
void json_write_string(FILE *f, const char *s);
