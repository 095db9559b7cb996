/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim/scenario.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

#define MAX_LINE      256
#define MAX_FILE_SIZE (1024 * 1024)

static void trim_end(char *s)
{
	size_t len = strlen(s);

	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		s[--len] = '\0';
}

void sim_scenario_free(struct sim_scenario *s)
{
	free(s->name);
	free(s->steps);
	memset(s, 0, sizeof(*s));
}

int sim_scenario_parse(struct sim_scenario *s, const char *name, const char *text, unsigned n,
                       unsigned cells, unsigned sensors, char *err, size_t errlen)
{
	_cleanup_free_ struct sim_scenario_step *steps = NULL;
	_cleanup_free_ char *dup = NULL;
	size_t n_steps = 0, cap = 0;
	const char *p = text;
	unsigned lineno = 0;

	memset(s, 0, sizeof(*s));
	dup = strdup(name);
	if (!dup)
		return -ENOMEM;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[MAX_LINE], reason[160];
		char *hash;
		struct sim_cmd cmd;

		lineno++;
		if (len >= sizeof(line)) {
			snprintf(err, errlen, "%s:%u: line too long", name, lineno);
			return -EINVAL;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (eol ? 1 : 0);
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (strspn(line, " \t\r") == strlen(line))
			continue;
		if (sim_cmd_parse(line, n, cells, sensors, &cmd, reason, sizeof(reason)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", name, lineno, reason);
			return -EINVAL;
		}
		if (n_steps == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct sim_scenario_step *grown = realloc(steps, ncap * sizeof(*steps));

			if (!grown)
				return -ENOMEM;
			steps = grown;
			cap = ncap;
		}
		steps[n_steps].cmd = cmd;
		steps[n_steps].line = lineno;
		snprintf(steps[n_steps].text, sizeof(steps[n_steps].text), "%s",
		         line + strspn(line, " \t"));
		trim_end(steps[n_steps].text);
		n_steps++;
	}
	s->name = TAKE_PTR(dup);
	s->steps = TAKE_PTR(steps);
	s->n_steps = n_steps;
	return 0;
}

int sim_scenario_load(struct sim_scenario *s, const char *path, unsigned n, unsigned cells,
                      unsigned sensors, char *err, size_t errlen)
{
	_cleanup_free_ char *text = NULL;
	FILE *f;
	size_t len;
	int r;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	text = malloc(MAX_FILE_SIZE + 1);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(text, 1, MAX_FILE_SIZE + 1, f);
	r = ferror(f) ? -EIO : 0;
	fclose(f);
	if (r == 0 && len > MAX_FILE_SIZE)
		r = -EFBIG;
	if (r == 0 && memchr(text, '\0', len))
		r = -EINVAL;
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot read a script from it: %s", path, strerror(-r));
		return r;
	}
	text[len] = '\0';
	return sim_scenario_parse(s, path, text, n, cells, sensors, err, errlen);
}

bool sim_scenario_done(const struct sim_scenario *s)
{
	return s->next >= s->n_steps;
}

uint64_t sim_scenario_run(struct sim_scenario *s, struct sim_world *w)
{
	while (s->next < s->n_steps && !w->quit) {
		const struct sim_scenario_step *st = &s->steps[s->next++];
		char out[160];

		if (st->cmd.kind == SIM_CMD_WAIT)
			return st->cmd.value > 0 ? (uint64_t)st->cmd.value : 1;
		sim_cmd_apply(w, &st->cmd, out, sizeof(out));
		fprintf(stderr, "%s:%u: %s: %s\n", s->name, st->line, st->text, out);
	}
	return 0;
}
