/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim/control.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"

#define MAX_TOKENS 6
#define TOKEN_LEN  32

struct tokens {
	unsigned n;
	char t[MAX_TOKENS][TOKEN_LEN];
};

static const char *const flag_names[] = {"balancing", "fw-update", "fault", "hard-ov", "hard-uv"};

_printf_(3, 4) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int tokenize(const char *line, struct tokens *tk)
{
	const char *p = line;

	tk->n = 0;
	for (;;) {
		size_t len = 0;

		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (!*p)
			return 0;
		if (tk->n == MAX_TOKENS)
			return -E2BIG;
		while (*p && !isspace((unsigned char)*p)) {
			if (len + 1 >= TOKEN_LEN)
				return -E2BIG;
			tk->t[tk->n][len++] = *p++;
		}
		tk->t[tk->n][len] = '\0';
		tk->n++;
	}
}

/* A decimal integer with an optional sign, or 0x-prefixed hexadecimal. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	bool neg = false, hex = false;
	int64_t v = 0;
	int digits = 0;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		hex = true;
		s += 2;
	}
	for (; *s; s++) {
		int d;

		if (isdigit((unsigned char)*s))
			d = *s - '0';
		else if (hex && isxdigit((unsigned char)*s))
			d = tolower((unsigned char)*s) - 'a' + 10;
		else
			return -EINVAL;
		v = v * (hex ? 16 : 10) + d;
		if (v > 4000000000ll || ++digits > 12)
			return -ERANGE;
	}
	if (digits == 0)
		return -EINVAL;
	if (neg)
		v = -v;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* A non-negative decimal with at most `decimals` digits after the point,
 * scaled by 10^decimals: "12.5" with 2 gives 1250. */
static int parse_fixed(const char *s, unsigned decimals, int64_t max, int64_t *out)
{
	int64_t v = 0;
	unsigned frac = 0;
	bool point = false;
	int digits = 0;

	for (; *s; s++) {
		if (*s == '.' && !point) {
			point = true;
			continue;
		}
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		if (point && ++frac > decimals)
			return -EINVAL;
		v = v * 10 + (*s - '0');
		if (++digits > 15)
			return -ERANGE;
	}
	if (digits == 0)
		return -EINVAL;
	for (; frac < decimals; frac++)
		v *= 10;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int want_args(const struct tokens *tk, unsigned n, const char *usage, char *err,
                     size_t errlen)
{
	if (tk->n != n + 1)
		return fail(err, errlen, "usage: %s", usage);
	return 0;
}

static int arg_int(const char *s, const char *what, int64_t min, int64_t max, int64_t *out,
                   char *err, size_t errlen)
{
	if (parse_int(s, min, max, out) < 0)
		return fail(err, errlen, "%s must be an integer in %lld..%lld, not '%s'", what,
		            (long long)min, (long long)max, s);
	return 0;
}

static int arg_battery(const char *s, unsigned n, unsigned *out, char *err, size_t errlen)
{
	int64_t v;
	int r = arg_int(s, "battery", 1, n, &v, err, errlen);

	if (r == 0)
		*out = (unsigned)v;
	return r;
}

static int arg_onoff(const char *s, bool *on, char *err, size_t errlen)
{
	if (strcmp(s, "on") == 0)
		*on = true;
	else if (strcmp(s, "off") == 0)
		*on = false;
	else
		return fail(err, errlen, "expected on or off, not '%s'", s);
	return 0;
}

/* Commands of the form NAME K. */
static int parse_count(const struct tokens *tk, struct sim_cmd *cmd, int64_t min, int64_t max,
                       char *err, size_t errlen)
{
	char usage[48];

	snprintf(usage, sizeof(usage), "%s K", tk->t[0]);
	if (want_args(tk, 1, usage, err, errlen) < 0)
		return -EINVAL;
	return arg_int(tk->t[1], "count", min, max, &cmd->value, err, errlen);
}

/* Commands of the form NAME B K. */
static int parse_battery_count(const struct tokens *tk, unsigned n, struct sim_cmd *cmd,
                               int64_t max, const char *what, char *err, size_t errlen)
{
	char usage[48];

	snprintf(usage, sizeof(usage), "%s B %s", tk->t[0], what);
	if (want_args(tk, 2, usage, err, errlen) < 0 ||
	    arg_battery(tk->t[1], n, &cmd->battery, err, errlen) < 0)
		return -EINVAL;
	return arg_int(tk->t[2], what, 0, max, &cmd->value, err, errlen);
}

static int parse_pin(const struct tokens *tk, unsigned n, unsigned count, const char *what,
                     int64_t min, int64_t max, struct sim_cmd *cmd, char *err, size_t errlen)
{
	char usage[48];
	int64_t idx;

	snprintf(usage, sizeof(usage), "%s B %c VALUE|off", tk->t[0], what[0] == 'c' ? 'C' : 'I');
	if (want_args(tk, 3, usage, err, errlen) < 0 ||
	    arg_battery(tk->t[1], n, &cmd->battery, err, errlen) < 0 ||
	    arg_int(tk->t[2], what, 1, count, &idx, err, errlen) < 0)
		return -EINVAL;
	cmd->index = (unsigned)idx;
	if (strcmp(tk->t[3], "off") == 0) {
		cmd->on = false;
		return 0;
	}
	cmd->on = true;
	return arg_int(tk->t[3], "value", min, max, &cmd->value, err, errlen);
}

static int parse_flag(const struct tokens *tk, unsigned n, struct sim_cmd *cmd, char *err,
                      size_t errlen)
{
	unsigned i;

	if (want_args(tk, 3, "flag B NAME on|off|auto", err, errlen) < 0 ||
	    arg_battery(tk->t[1], n, &cmd->battery, err, errlen) < 0)
		return -EINVAL;
	for (i = 0; i < ELEMENTSOF(flag_names); i++)
		if (strcmp(tk->t[2], flag_names[i]) == 0)
			break;
	if (i == ELEMENTSOF(flag_names))
		return fail(err, errlen,
		            "unknown flag '%s' (balancing, fault, hard-ov, hard-uv, fw-update)",
		            tk->t[2]);
	cmd->flag_bit = i;
	if (strcmp(tk->t[3], "on") == 0)
		cmd->flag_mode = SIM_FLAG_ON;
	else if (strcmp(tk->t[3], "off") == 0)
		cmd->flag_mode = SIM_FLAG_OFF;
	else if (strcmp(tk->t[3], "auto") == 0)
		cmd->flag_mode = SIM_FLAG_AUTO;
	else
		return fail(err, errlen, "expected on, off or auto, not '%s'", tk->t[3]);
	return 0;
}

static int parse_tokens(const struct tokens *tk, unsigned n, unsigned cells, unsigned sensors,
                        struct sim_cmd *cmd, char *err, size_t errlen)
{
	const char *name = tk->t[0];
	int64_t v;

	if (strcmp(name, "silent") == 0) {
		cmd->kind = SIM_CMD_SILENT;
		if (want_args(tk, 2, "silent B on|off", err, errlen) < 0 ||
		    arg_battery(tk->t[1], n, &cmd->battery, err, errlen) < 0)
			return -EINVAL;
		return arg_onoff(tk->t[2], &cmd->on, err, errlen);
	}
	if (strcmp(name, "brownout") == 0 || strcmp(name, "miss-reset") == 0) {
		cmd->kind = name[0] == 'b' ? SIM_CMD_BROWNOUT : SIM_CMD_MISS_RESET;
		if (want_args(tk, 1, name[0] == 'b' ? "brownout B" : "miss-reset B", err, errlen) <
		    0)
			return -EINVAL;
		return arg_battery(tk->t[1], n, &cmd->battery, err, errlen);
	}
	if (strcmp(name, "drop") == 0) {
		cmd->kind = SIM_CMD_DROP;
		return parse_battery_count(tk, n, cmd, SIM_MAX_COUNT, "K", err, errlen);
	}
	if (strcmp(name, "garble") == 0) {
		cmd->kind = SIM_CMD_GARBLE;
		return parse_battery_count(tk, n, cmd, SIM_MAX_COUNT, "K", err, errlen);
	}
	if (strcmp(name, "busy") == 0) {
		cmd->kind = SIM_CMD_BUSY;
		return parse_battery_count(tk, n, cmd, SIM_MAX_COUNT, "K", err, errlen);
	}
	if (strcmp(name, "fw-corrupt") == 0) {
		cmd->kind = SIM_CMD_FW_CORRUPT;
		return parse_battery_count(tk, n, cmd, SIM_MAX_COUNT, "K", err, errlen);
	}
	if (strcmp(name, "fw-stuck") == 0) {
		cmd->kind = SIM_CMD_FW_STUCK;
		if (want_args(tk, 2, "fw-stuck B on|off", err, errlen) < 0 ||
		    arg_battery(tk->t[1], n, &cmd->battery, err, errlen) < 0)
			return -EINVAL;
		return arg_onoff(tk->t[2], &cmd->on, err, errlen);
	}
	if (strcmp(name, "slow") == 0) {
		cmd->kind = SIM_CMD_SLOW;
		return parse_battery_count(tk, n, cmd, SIM_MAX_SLOW_US, "US", err, errlen);
	}
	if (strcmp(name, "open-chain") == 0) {
		cmd->kind = SIM_CMD_OPEN_CHAIN;
		if (want_args(tk, 1, "open-chain B", err, errlen) < 0 ||
		    arg_int(tk->t[1], "battery", 0, n, &v, err, errlen) < 0)
			return -EINVAL;
		cmd->battery = (unsigned)v;
		return 0;
	}
	if (strcmp(name, "corrupt") == 0) {
		cmd->kind = SIM_CMD_CORRUPT;
		return parse_count(tk, cmd, 0, SIM_MAX_COUNT, err, errlen);
	}
	if (strcmp(name, "wrong-seq") == 0) {
		cmd->kind = SIM_CMD_WRONG_SEQ;
		return parse_count(tk, cmd, 0, SIM_MAX_COUNT, err, errlen);
	}
	if (strcmp(name, "wrong-addr") == 0) {
		cmd->kind = SIM_CMD_WRONG_ADDR;
		return parse_count(tk, cmd, 0, SIM_MAX_COUNT, err, errlen);
	}
	if (strcmp(name, "garbage") == 0) {
		cmd->kind = SIM_CMD_GARBAGE;
		return parse_count(tk, cmd, 1, SIM_MAX_GARBAGE, err, errlen);
	}
	if (strcmp(name, "cell") == 0) {
		cmd->kind = SIM_CMD_CELL;
		return parse_pin(tk, n, cells, "cell", 0, 0xFFFF, cmd, err, errlen);
	}
	if (strcmp(name, "temp") == 0) {
		cmd->kind = SIM_CMD_TEMP;
		return parse_pin(tk, n, sensors, "sensor", INT16_MIN, INT16_MAX, cmd, err, errlen);
	}
	if (strcmp(name, "drift") == 0) {
		cmd->kind = SIM_CMD_DRIFT;
		if (want_args(tk, 3, "drift B C MV", err, errlen) < 0 ||
		    arg_battery(tk->t[1], n, &cmd->battery, err, errlen) < 0 ||
		    arg_int(tk->t[2], "cell", 1, cells, &v, err, errlen) < 0)
			return -EINVAL;
		cmd->index = (unsigned)v;
		return arg_int(tk->t[3], "MV", -SIM_MAX_DRIFT, SIM_MAX_DRIFT, &cmd->value, err,
		               errlen);
	}
	if (strcmp(name, "flag") == 0) {
		cmd->kind = SIM_CMD_FLAG;
		return parse_flag(tk, n, cmd, err, errlen);
	}
	if (strcmp(name, "current") == 0) {
		cmd->kind = SIM_CMD_CURRENT;
		if (want_args(tk, 1, "current MA", err, errlen) < 0)
			return -EINVAL;
		return arg_int(tk->t[1], "MA", -SIM_MAX_BANK_CURRENT, SIM_MAX_BANK_CURRENT,
		               &cmd->value, err, errlen);
	}
	if (strcmp(name, "soc") == 0) {
		cmd->kind = SIM_CMD_SOC;
		if (want_args(tk, 1, "soc PCT", err, errlen) < 0)
			return -EINVAL;
		if (parse_fixed(tk->t[1], 2, 10000, &cmd->value) < 0)
			return fail(err, errlen,
			            "PCT must be 0..100 (two decimals at most), not '%s'",
			            tk->t[1]);
		return 0;
	}
	if (strcmp(name, "wait") == 0) {
		cmd->kind = SIM_CMD_WAIT;
		if (want_args(tk, 1, "wait SECONDS", err, errlen) < 0)
			return -EINVAL;
		if (parse_fixed(tk->t[1], 6, (int64_t)SIM_MAX_WAIT_US, &cmd->value) < 0)
			return fail(err, errlen,
			            "SECONDS must be 0..86400 (six decimals at most), not '%s'",
			            tk->t[1]);
		return 0;
	}
	if (strcmp(name, "bank") == 0) {
		cmd->kind = SIM_CMD_BANK;
		return want_args(tk, 0, name, err, errlen);
	}
	if (strcmp(name, "stats") == 0 || strcmp(name, "quit") == 0) {
		cmd->kind = name[0] == 's' ? SIM_CMD_STATS : SIM_CMD_QUIT;
		return want_args(tk, 0, name, err, errlen);
	}
	return fail(err, errlen, "unknown command '%s'", name);
}

int sim_cmd_parse(const char *line, unsigned n, unsigned cells, unsigned sensors,
                  struct sim_cmd *cmd, char *err, size_t errlen)
{
	struct tokens tk;
	struct sim_cmd c = {0};
	int r;

	r = tokenize(line, &tk);
	if (r < 0)
		return fail(err, errlen, "line too long or too many words");
	if (tk.n == 0)
		return fail(err, errlen, "empty command");
	r = parse_tokens(&tk, n, cells, sensors, &c, err, errlen);
	if (r < 0)
		return r;
	*cmd = c;
	return 0;
}

/* What a BMS would measure: the bank voltage at its terminals (the mean of
 * the strings' sums of battery voltages, as the strings sit in parallel), the
 * bank current, and the lowest and highest cell reading (0xFFFF excluded;
 * both 0 when no cell reads). */
static void bank_report(const struct sim_world *w, char *out, size_t outlen)
{
	const struct sim_bank *b = &w->bank;
	uint64_t sum_mv = 0;
	unsigned min_mv = 0xFFFF, max_mv = 0;

	for (unsigned pos = 1; pos <= b->n; pos++) {
		struct m8_status st;

		sim_bank_status(b, pos, false, &st);
		sum_mv += st.voltage_mv;
		for (unsigned j = 0; j < st.n_cells; j++) {
			if (st.cell_mv[j] == M8_CELL_NA)
				continue;
			if (st.cell_mv[j] < min_mv)
				min_mv = st.cell_mv[j];
			if (st.cell_mv[j] > max_mv)
				max_mv = st.cell_mv[j];
		}
	}
	if (min_mv > max_mv)
		min_mv = max_mv = 0;
	snprintf(out, outlen, "ok mv=%llu ma=%ld min-cell-mv=%u max-cell-mv=%u",
	         (unsigned long long)(sum_mv / (b->parallel ? b->parallel : 1)),
	         (long)b->current_ma, min_mv, max_mv);
}

void sim_cmd_apply(struct sim_world *w, const struct sim_cmd *cmd, char *out, size_t outlen)
{
	struct sim_battery *b = cmd->battery ? &w->chain.bat[cmd->battery - 1] : NULL;
	struct sim_pack *p = cmd->battery ? &w->bank.pack[cmd->battery - 1] : NULL;
	const struct sim_chain_stats *s = &w->chain.stats;

	snprintf(out, outlen, "ok");
	switch (cmd->kind) {
	case SIM_CMD_SILENT:
		b->silent = cmd->on;
		break;
	case SIM_CMD_BROWNOUT:
		sim_battery_unaddress(b);
		break;
	case SIM_CMD_DROP:
		b->drop = (unsigned)cmd->value;
		break;
	case SIM_CMD_GARBLE:
		b->garble = (unsigned)cmd->value;
		break;
	case SIM_CMD_MISS_RESET:
		b->miss_reset_armed = true;
		break;
	case SIM_CMD_OPEN_CHAIN:
		w->chain.open_after = cmd->battery;
		break;
	case SIM_CMD_CORRUPT:
		w->chain.corrupt = (unsigned)cmd->value;
		break;
	case SIM_CMD_GARBAGE:
		w->garbage_pending += (unsigned)cmd->value;
		break;
	case SIM_CMD_SLOW:
		b->reply_delay_us = (uint32_t)cmd->value;
		break;
	case SIM_CMD_CELL:
		p->cell[cmd->index - 1].pinned = cmd->on;
		p->cell[cmd->index - 1].pin_mv = (uint16_t)cmd->value;
		break;
	case SIM_CMD_DRIFT:
		p->cell[cmd->index - 1].drift_mv = (int32_t)cmd->value;
		break;
	case SIM_CMD_TEMP:
		p->sensor[cmd->index - 1].pinned = cmd->on;
		p->sensor[cmd->index - 1].pin_dc = (int16_t)cmd->value;
		break;
	case SIM_CMD_FLAG:
		p->flag_mode[cmd->flag_bit] = (uint8_t)cmd->flag_mode;
		break;
	case SIM_CMD_BUSY:
		b->busy = (unsigned)cmd->value;
		break;
	case SIM_CMD_FW_CORRUPT:
		b->fw_corrupt = (unsigned)cmd->value;
		break;
	case SIM_CMD_FW_STUCK:
		b->fw_stuck = cmd->on;
		break;
	case SIM_CMD_CURRENT:
		w->bank.current_ma = (int32_t)cmd->value;
		break;
	case SIM_CMD_SOC:
		sim_bank_set_soc(&w->bank, (uint32_t)cmd->value);
		break;
	case SIM_CMD_WRONG_SEQ:
		w->chain.wrong_seq = (unsigned)cmd->value;
		break;
	case SIM_CMD_WRONG_ADDR:
		w->chain.wrong_addr = (unsigned)cmd->value;
		break;
	case SIM_CMD_STATS: {
		char gap[32] = "none";
		if (s->assign_gaps > 0)
			snprintf(gap, sizeof(gap), "%llu",
			         (unsigned long long)s->assign_gap_min_us);
		snprintf(out, outlen,
		         "ok requests=%llu replies=%llu resets=%llu assigns=%llu "
		         "assign-gap-min-us=%s",
		         (unsigned long long)s->requests, (unsigned long long)s->replies,
		         (unsigned long long)s->resets, (unsigned long long)s->assigns, gap);
		break;
	}
	case SIM_CMD_BANK:
		bank_report(w, out, outlen);
		break;
	case SIM_CMD_QUIT:
		w->quit = true;
		break;
	case SIM_CMD_WAIT:
		break;
	}
}

int sim_control_line(struct sim_world *w, const char *line, char *out, size_t outlen)
{
	struct sim_cmd cmd;
	char err[160];

	if (sim_cmd_parse(line, w->bank.n, w->bank.cells, w->bank.sensors, &cmd, err, sizeof(err)) <
	    0) {
		snprintf(out, outlen, "error: %s", err);
		return -EINVAL;
	}
	if (cmd.kind == SIM_CMD_WAIT) {
		snprintf(out, outlen, "error: wait is for scenario files only");
		return -EINVAL;
	}
	sim_cmd_apply(w, &cmd, out, outlen);
	return 0;
}
