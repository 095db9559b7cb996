/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the settings arguments as they reach the daemon. The
 * input is split at '\n' into words (at most 80), then
 *   - smallbmsctl's `set` parser (ctl_set_parse) reads them as NAME=VALUE and
 *     what it accepts is applied with settings_apply, as the D-Bus SetMany
 *     method applies its a{si} (names and values straight from the caller);
 *   - settings_apply_strings (smallbmsd --set) reads the same words.
 * Properties: a refusal leaves the settings untouched byte for byte and says
 * why (a non-empty, terminated message); an acceptance leaves settings that
 * validate as a whole and read back exactly the values given. Anything else
 * aborts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/settings.h"
#include "ctl/args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* For the corpus replay: whether both parsers accepted the last input. */
bool fuzz_accepts(const uint8_t *data, size_t size);

#define MAX_WORDS 80
#define ERR_LEN   256

static bool ctl_accepted, strings_accepted;

static void check_refused(int r, const struct bms_settings *before, const struct bms_settings *s,
                          const char *err)
{
	if (r >= 0)
		abort();
	if (memcmp(before, s, sizeof(*s)) != 0)
		abort();
	if (err[0] == '\0' || strnlen(err, ERR_LEN) == ERR_LEN)
		abort();
}

static void check_applied(const struct bms_settings *s, const struct setting_change *ch, size_t n)
{
	char err[ERR_LEN] = "";

	if (settings_validate(s, err, sizeof(err)) != 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		int32_t v;
		if (settings_get(s, ch[i].name, &v) != 0 || v != ch[i].value)
			abort();
	}
}

static bool apply_changes(const struct setting_change *ch, size_t n)
{
	struct bms_settings s, before;
	char err[ERR_LEN] = "";

	settings_default(&s);
	before = s;
	int r = settings_apply(&s, ch, n, err, sizeof(err));
	if (r < 0) {
		check_refused(r, &before, &s, err);
		if (r != -ENOENT && r != -EINVAL && r != -ERANGE)
			abort();
		return false;
	}
	check_applied(&s, ch, n);
	return true;
}

static void via_ctl(char **words, size_t n)
{
	static struct ctl_assign out[MAX_WORDS];
	struct setting_change ch[MAX_WORDS];
	char err[ERR_LEN] = "";

	ctl_accepted = false;
	if (ctl_set_parse(words, n, out, err, sizeof(err)) < 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	for (size_t i = 0; i < n; i++) {
		for (const char *p = out[i].name; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
				abort();
		ch[i] = (struct setting_change){.name = out[i].name, .value = out[i].value};
	}
	ctl_accepted = apply_changes(ch, n);
}

static void via_strings(char **words, size_t n)
{
	struct bms_settings s, before;
	char err[ERR_LEN] = "";

	settings_default(&s);
	before = s;
	int r = settings_apply_strings(&s, (const char *const *)words, n, err, sizeof(err));
	strings_accepted = r == 0;
	if (r < 0) {
		check_refused(r, &before, &s, err);
		return;
	}
	/* Accepted: every word is NAME=VALUE; read each value back. */
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(words[i], '=');
		char name[64];
		int32_t v;

		if (!eq || (size_t)(eq - words[i]) >= sizeof(name))
			abort();
		memcpy(name, words[i], (size_t)(eq - words[i]));
		name[eq - words[i]] = '\0';
		if (settings_get(&s, name, &v) != 0 || v != (int32_t)strtoll(eq + 1, NULL, 10))
			abort();
	}
	if (settings_validate(&s, err, sizeof(err)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *words[MAX_WORDS];
	size_t n = 0;
	char *buf = malloc(size + 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (char *p = buf; n < MAX_WORDS;) {
		char *nl = memchr(p, '\n', (size_t)(buf + size - p));
		words[n++] = p;
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	via_ctl(words, n);
	via_strings(words, n);
	free(buf);
	return 0;
}

bool fuzz_accepts(const uint8_t *data, size_t size)
{
	LLVMFuzzerTestOneInput(data, size);
	return ctl_accepted && strings_accepted;
}
