/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The output layer: a command describes what it shows once, field by field,
 * with a JSON key and a human label; the layer prints either aligned
 * "Label: text" lines or JSON. A key of NULL is an array element (JSON); a
 * label of NULL is a field for JSON only (human output shows it otherwise,
 * e.g. in a combined line of out_text()).
 *
 * Human output escapes every string as ctl/escape.h says (values and
 * out_text() lines alike: their fields may come from the bus); JSON output
 * escapes as json_write_string() does.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/macro.h"
#include "ctl/json.h"

struct out {
	FILE *f;
	bool json;
	struct json j;
	unsigned indent;      /* human: nesting depth */
	unsigned label_width; /* human: labels are padded to this */
	unsigned depth;       /* human: open containers */
	uint32_t indented;    /* human: which of them indented */
	int error;            /* human: first negative errno (out of memory) */
};

void out_init(struct out *o, FILE *f, bool json, bool pretty);
/* Ends the output: 0 or a negative errno (bad structure, write error). */
int out_finish(struct out *o);

/* A nested object: JSON {"key": {...}}; human: "Label:" then indented lines
 * (label NULL: no heading, no indentation). */
void out_object_begin(struct out *o, const char *key, const char *label);
void out_object_end(struct out *o);
void out_array_begin(struct out *o, const char *key, const char *label);
void out_array_end(struct out *o);

/* Human labels are padded so that values start in this column (+1). */
#define OUT_LABEL_WIDTH 19

/* A field: the JSON value, and the human text (NULL: the value itself). */
void out_str(struct out *o, const char *key, const char *label, const char *value);
void out_int(struct out *o, const char *key, const char *label, int64_t value, const char *text);
void out_uint(struct out *o, const char *key, const char *label, uint64_t value, const char *text);
void out_bool(struct out *o, const char *key, const char *label, bool value, const char *text);
/* JSON null; human text (e.g. "unknown"). */
void out_null(struct out *o, const char *key, const char *label, const char *text);
/* Human-only text at the current indentation; nothing in JSON. */
_printf_(2, 3) void out_text(struct out *o, const char *fmt, ...);
