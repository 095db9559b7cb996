/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON writer and the output layer. Every document written is parsed
 * back by a small strict checker (RFC 8259 grammar, strings decoded), so an
 * escaping mistake fails here, not in a user's jq.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/escape.h"
#include "ctl/json.h"
#include "ctl/out.h"

/* -- a strict checker ------------------------------------------------------ */

struct parser {
	const char *p;
	char *str; /* the last string decoded, UTF-8 */
	size_t str_len;
};

static void ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\t' || *ps->p == '\r')
		ps->p++;
}

static void put_utf8(struct parser *ps, uint32_t cp)
{
	unsigned char *o = (unsigned char *)ps->str + ps->str_len;

	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		ps->str_len += 1;
	} else if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		ps->str_len += 2;
	} else {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		ps->str_len += 3;
	}
}

static bool parse_string(struct parser *ps)
{
	if (*ps->p != '"')
		return false;
	ps->p++;
	free(ps->str);
	ps->str = calloc(strlen(ps->p) * 3 + 4, 1);
	ps->str_len = 0;
	for (;;) {
		unsigned char c = (unsigned char)*ps->p;

		if (c == '\0' || c < 0x20)
			return false; /* raw control characters are not JSON */
		ps->p++;
		if (c == '"')
			return true;
		if (c != '\\') {
			ps->str[ps->str_len++] = (char)c;
			continue;
		}
		c = (unsigned char)*ps->p++;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			ps->str[ps->str_len++] = (char)c;
			break;
		case 'b':
			ps->str[ps->str_len++] = '\b';
			break;
		case 'f':
			ps->str[ps->str_len++] = '\f';
			break;
		case 'n':
			ps->str[ps->str_len++] = '\n';
			break;
		case 'r':
			ps->str[ps->str_len++] = '\r';
			break;
		case 't':
			ps->str[ps->str_len++] = '\t';
			break;
		case 'u': {
			char hex[5] = {0};
			char *end;

			memcpy(hex, ps->p, 4);
			if (strlen(hex) != 4)
				return false;
			put_utf8(ps, (uint32_t)strtoul(hex, &end, 16));
			if (*end)
				return false;
			ps->p += 4;
			break;
		}
		default:
			return false;
		}
	}
}

static bool parse_value(struct parser *ps, int depth);

static bool parse_number(struct parser *ps)
{
	const char *start = ps->p;

	if (*ps->p == '-')
		ps->p++;
	if (*ps->p == '0')
		ps->p++;
	else if (*ps->p >= '1' && *ps->p <= '9')
		while (*ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	else
		return false;
	return ps->p > start;
}

static bool parse_container(struct parser *ps, int depth, char close)
{
	bool first = true;

	ps->p++;
	ws(ps);
	if (*ps->p == close) {
		ps->p++;
		return true;
	}
	for (;;) {
		if (!first) {
			ws(ps);
			if (*ps->p == close) {
				ps->p++;
				return true;
			}
			if (*ps->p != ',')
				return false;
			ps->p++;
		}
		first = false;
		ws(ps);
		if (close == '}') {
			if (!parse_string(ps))
				return false;
			ws(ps);
			if (*ps->p++ != ':')
				return false;
		}
		if (!parse_value(ps, depth + 1))
			return false;
	}
}

static bool parse_value(struct parser *ps, int depth)
{
	if (depth > 32)
		return false;
	ws(ps);
	switch (*ps->p) {
	case '{':
		return parse_container(ps, depth, '}');
	case '[':
		return parse_container(ps, depth, ']');
	case '"':
		return parse_string(ps);
	case 't':
		return strncmp(ps->p, "true", 4) == 0 && (ps->p += 4);
	case 'f':
		return strncmp(ps->p, "false", 5) == 0 && (ps->p += 5);
	case 'n':
		return strncmp(ps->p, "null", 4) == 0 && (ps->p += 4);
	default:
		return parse_number(ps);
	}
}

/* True when text is exactly one JSON document (plus whitespace). */
static bool valid_json(const char *text)
{
	struct parser ps = {.p = text};
	bool ok = parse_value(&ps, 0);

	ws(&ps);
	ok = ok && *ps.p == '\0';
	free(ps.str);
	return ok;
}

/* -- capture ----------------------------------------------------------------- */

struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void capture_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
}

static char *capture_close(struct capture *c)
{
	fclose(c->f);
	return c->buf;
}

/* Writes s as one JSON string, checks the document and decodes it back. */
static char *round_trip(const char *s, char **literal)
{
	struct capture c;
	struct json j;
	struct parser ps;
	char *text, *back;

	capture_open(&c);
	json_init(&j, c.f, false);
	json_string(&j, s);
	assert_int_equal(json_finish(&j), 0);
	text = capture_close(&c);
	if (!valid_json(text))
		fail_msg("not valid JSON: %s", text);
	ps = (struct parser){.p = text};
	assert_true(parse_string(&ps));
	back = calloc(ps.str_len + 1, 1);
	memcpy(back, ps.str, ps.str_len);
	free(ps.str);
	if (literal)
		*literal = text;
	else
		free(text);
	return back;
}

/* -- tests ------------------------------------------------------------------- */

static void expect_literal(const char *in, const char *want)
{
	char *lit, *back = round_trip(in, &lit);

	lit[strlen(lit) - 1] = '\0'; /* the document's newline */
	assert_string_equal(lit, want);
	free(lit);
	free(back);
}

static void test_escaping(void **state)
{
	expect_literal("plain", "\"plain\"");
	expect_literal("say \"hi\"", "\"say \\\"hi\\\"\"");
	expect_literal("C:\\path\\", "\"C:\\\\path\\\\\"");
	expect_literal("a\nb\tc\rd\be\ff", "\"a\\nb\\tc\\rd\\be\\ff\"");
	expect_literal("\x01\x1f", "\"\\u0001\\u001f\"");
	expect_literal("\x7f", "\"\\u007f\""); /* DEL: legal raw, escaped for terminals */
	expect_literal("/", "\"/\"");
	expect_literal("", "\"\"");
}

static void test_round_trip(void **state)
{
	static const char *const samples[] = {
	        "quote \" backslash \\ slash /",
	        "every control: \x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
	        "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f end",
	        "23.5 \xc2\xb0"
	        "C",
	        "\xe2\x82\xac \xf0\x9f\x94\x8b",
	};

	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		char *back = round_trip(samples[i], NULL);

		assert_string_equal(back, samples[i]);
		free(back);
	}
}

static void test_utf8(void **state)
{
	/* valid sequences pass through unchanged */
	expect_literal("\xc2\xb0", "\"\xc2\xb0\"");
	expect_literal("\xf0\x9f\x94\x8b", "\"\xf0\x9f\x94\x8b\"");
	expect_literal("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
	/* invalid bytes become U+FFFD each, the rest is kept */
	expect_literal("a\xff"
	               "b",
	               "\"a\xef\xbf\xbd"
	               "b\"");
	expect_literal("\xc0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong NUL */
	expect_literal("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* surrogate */
	expect_literal("\xf4\x90\x80\x80",
	               "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* > U+10FFFF */
	expect_literal("\xe2\x82", "\"\xef\xbf\xbd\xef\xbf\xbd\""); /* cut short at the end */
}

static void test_structure(void **state)
{
	struct capture c;
	struct json j;
	char *text;

	capture_open(&c);
	json_init(&j, c.f, false);
	json_object_begin(&j);
	json_key(&j, "a");
	json_int(&j, -5);
	json_key(&j, "b");
	json_array_begin(&j);
	json_uint(&j, UINT64_MAX);
	json_bool(&j, true);
	json_null(&j);
	json_string(&j, NULL);
	json_object_begin(&j);
	json_object_end(&j);
	json_array_begin(&j);
	json_array_end(&j);
	json_array_end(&j);
	json_key(&j, "c");
	json_int(&j, INT64_MIN);
	json_object_end(&j);
	assert_int_equal(json_finish(&j), 0);
	text = capture_close(&c);
	assert_string_equal(text, "{\"a\":-5,\"b\":[18446744073709551615,true,null,null,{},[]],"
	                          "\"c\":-9223372036854775808}\n");
	assert_true(valid_json(text));
	free(text);

	capture_open(&c);
	json_init(&j, c.f, true);
	json_object_begin(&j);
	json_key(&j, "x");
	json_array_begin(&j);
	json_int(&j, 1);
	json_int(&j, 2);
	json_array_end(&j);
	json_key(&j, "e");
	json_array_begin(&j);
	json_array_end(&j);
	json_object_end(&j);
	assert_int_equal(json_finish(&j), 0);
	text = capture_close(&c);
	assert_string_equal(text, "{\n  \"x\": [\n    1,\n    2\n  ],\n  \"e\": []\n}\n");
	assert_true(valid_json(text));
	free(text);
}

typedef void (*misuse_fn)(struct json *j);

static void misuse_key_in_array(struct json *j)
{
	json_array_begin(j);
	json_key(j, "k");
	json_array_end(j);
}

static void misuse_value_without_key(struct json *j)
{
	json_object_begin(j);
	json_int(j, 1);
	json_object_end(j);
}

static void misuse_unbalanced(struct json *j)
{
	json_object_begin(j);
}

static void misuse_wrong_end(struct json *j)
{
	json_object_begin(j);
	json_array_end(j);
}

static void misuse_two_documents(struct json *j)
{
	json_int(j, 1);
	json_int(j, 2);
}

static void misuse_dangling_key(struct json *j)
{
	json_object_begin(j);
	json_key(j, "k");
	json_object_end(j);
}

static void misuse_nothing(struct json *j)
{
}

static void misuse_too_deep(struct json *j)
{
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		json_array_begin(j);
}

static void test_misuse(void **state)
{
	static const misuse_fn cases[] = {
	        misuse_key_in_array,  misuse_value_without_key, misuse_unbalanced, misuse_wrong_end,
	        misuse_two_documents, misuse_dangling_key,      misuse_nothing,    misuse_too_deep,
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct capture c;
		struct json j;

		capture_open(&c);
		json_init(&j, c.f, false);
		cases[i](&j);
		if (json_finish(&j) == 0)
			fail_msg("misuse case %zu accepted", i);
		free(capture_close(&c));
	}
}

static void test_out_json(void **state)
{
	struct capture c;
	struct out o;
	char *text;

	capture_open(&c);
	out_init(&o, c.f, true, false);
	out_int(&o, "soc_cpct", "State of charge", 5500, "55.0 %");
	out_null(&o, "time_remaining_s", "Time remaining", "unknown");
	out_object_begin(&o, "leds", "LEDs");
	out_str(&o, "blue", "Blue", "solid \"on\"");
	out_object_end(&o);
	out_array_begin(&o, "flags", "Flags");
	out_str(&o, NULL, NULL, "balancing");
	out_array_end(&o);
	out_text(&o, "human only");
	out_bool(&o, "remote_on", "Remote", true, "on");
	out_uint(&o, "cycles", "Cycles", 7, NULL);
	assert_int_equal(out_finish(&o), 0);
	text = capture_close(&c);
	assert_string_equal(text, "{\"soc_cpct\":5500,\"time_remaining_s\":null,"
	                          "\"leds\":{\"blue\":\"solid \\\"on\\\"\"},"
	                          "\"flags\":[\"balancing\"],\"remote_on\":true,\"cycles\":7}\n");
	assert_true(valid_json(text));
	free(text);
}

static void test_out_human(void **state)
{
	struct capture c;
	struct out o;
	char *text;

	capture_open(&c);
	out_init(&o, c.f, false, false);
	out_int(&o, "soc_cpct", "State of charge", 5500, "55.0 %");
	out_null(&o, "time_remaining_s", "Time remaining", "unknown");
	out_object_begin(&o, "leds", "LEDs");
	out_str(&o, "blue", "Blue", "solid");
	out_object_end(&o);
	out_object_begin(&o, "quiet", NULL); /* no heading: no indentation */
	out_uint(&o, "cycles", "Cycles", 7, NULL);
	out_object_end(&o);
	out_text(&o, "free %d", 1);
	out_bool(&o, "remote_on", "Remote", false, NULL);
	out_int(&o, "voltage_mv", NULL, 13210, NULL); /* JSON only */
	assert_int_equal(out_finish(&o), 0);
	text = capture_close(&c);
	assert_string_equal(text, "State of charge:    55.0 %\n"
	                          "Time remaining:     unknown\n"
	                          "LEDs:\n"
	                          "  Blue:             solid\n"
	                          "Cycles:             7\n"
	                          "free 1\n"
	                          "Remote:             no\n");
	free(text);
}

/* Strings from the bus reach the terminal escaped, never raw (issue 15): a
 * phone named with an escape sequence, control bytes and invalid UTF-8. */
static void test_out_human_hostile(void **state)
{
	struct capture c;
	struct out o;
	char *text;

	capture_open(&c);
	out_init(&o, c.f, false, false);
	out_str(&o, "name", "Name", "\033]0;pwned\a\033[2J\033[31mred\r\n");
	out_str(&o, "serial", "Serial",
	        "a\xff\xc0\x80"
	        "b\\c \x7f\x01");
	out_str(&o, "reason", "Reason",
	        "23.5 \xc2\xb0"
	        "C \xc2\x9b"
	        "1m \xe2\x80\xae"
	        "fdp.exe");
	out_text(&o, "%-6s %s", "Phone:", "evil\033[H\033[2Jphone\x1b\x9b");
	assert_int_equal(out_finish(&o), 0);
	text = capture_close(&c);
	assert_string_equal(text, "Name:               \\x1b]0;pwned\\a\\x1b[2J\\x1b[31mred\\r\\n\n"
	                          "Serial:             a\\xff\\xc0\\x80b\\\\c \\x7f\\x01\n"
	                          "Reason:             23.5 \xc2\xb0"
	                          "C \\xc2\\x9b"
	                          "1m \\xe2\\x80\\xae"
	                          "fdp.exe\n"
	                          "Phone: evil\\x1b[H\\x1b[2Jphone\\x1b\\x9b\n");
	free(text);
}

static void expect_escaped(const char *in, const char *want)
{
	char *got = ctl_escape(in);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* ctl_escape(): printable text unchanged, everything else visible. */
static void test_escape(void **state)
{
	expect_escaped("", "");
	expect_escaped("Pixel 7 (Anna's)", "Pixel 7 (Anna's)");
	expect_escaped("J\xc3\xbcrgen \xf0\x9f\x94\x8b \xe2\x82\xac",
	               "J\xc3\xbcrgen \xf0\x9f\x94\x8b \xe2\x82\xac");
	expect_escaped("\a\b\t\n\v\f\r\\", "\\a\\b\\t\\n\\v\\f\\r\\\\");
	expect_escaped("\x01\x1b\x1f\x7f", "\\x01\\x1b\\x1f\\x7f");
	expect_escaped("\x80", "\\x80");          /* a lone continuation byte */
	expect_escaped("\xe2\x82", "\\xe2\\x82"); /* cut short */
	expect_escaped("\xf8\x88\x80\x80\x80", "\\xf8\\x88\\x80\\x80\\x80"); /* 5 bytes */
	expect_escaped("\xc2\x85", "\\xc2\\x85");                            /* NEL, a C1 control */
	expect_escaped("\xe2\x80\x8b"
	               "a\xef\xbb\xbf",
	               "\\xe2\\x80\\x8b"
	               "a\\xef\\xbb\\xbf");
	expect_escaped("\xe2\x81\xa6"
	               "x",
	               "\\xe2\\x81\\xa6"
	               "x"); /* bidi isolate */
}

/* The JSON of the same strings: valid, decoding back to the string (bad
 * bytes as U+FFFD), with DEL, C1 and the invisible format characters as
 * \u escapes so that no terminal acts on them either. */
static void test_json_hostile(void **state)
{
	char *back;

	expect_literal("\033[2J\a", "\"\\u001b[2J\\u0007\"");
	expect_literal("\x7f", "\"\\u007f\"");
	expect_literal("\xc2\x9b"
	               "1m",
	               "\"\\u009b1m\"");
	expect_literal("\xe2\x80\xae"
	               "x\xe2\x80\xa8",
	               "\"\\u202ex\\u2028\"");
	expect_literal("\xef\xbb\xbf", "\"\\ufeff\"");
	back = round_trip("n\033[31m\x7f\xc2\x9b\xe2\x80\xae.", NULL);
	assert_string_equal(back, "n\033[31m\x7f\xc2\x9b\xe2\x80\xae.");
	free(back);
}

static void test_checker_rejects(void **state)
{
	/* the checker itself must be able to fail */
	assert_false(valid_json("{\"a\":1,}"));
	assert_false(valid_json("\"raw\ncontrol\""));
	assert_false(valid_json("\"bad \\x escape\""));
	assert_false(valid_json("{\"a\" 1}"));
	assert_false(valid_json("[1 2]"));
	assert_false(valid_json("{} {}"));
	assert_true(valid_json(" {\"a\": [1, -2, true, null, \"\\u00e9\"]} \n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_escaping),
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_utf8),
	        cmocka_unit_test(test_structure),
	        cmocka_unit_test(test_misuse),
	        cmocka_unit_test(test_out_json),
	        cmocka_unit_test(test_out_human),
	        cmocka_unit_test(test_out_human_hostile),
	        cmocka_unit_test(test_json_hostile),
	        cmocka_unit_test(test_escape),
	        cmocka_unit_test(test_checker_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
