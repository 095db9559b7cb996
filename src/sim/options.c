/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim/options.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sim/bank.h"
#include "sim/battery.h"

#ifndef SIM_VERSION
#define SIM_VERSION "unknown"
#endif

enum {
	OPT_MODEL = 0x100,
	OPT_SERIES,
	OPT_PARALLEL,
	OPT_LINK,
	OPT_CONTROL,
	OPT_SCENARIO,
	OPT_SOC,
	OPT_CURRENT,
	OPT_REPLY_DELAY,
	OPT_TIME_SCALE,
	OPT_SEED,
	OPT_SERIAL_PREFIX,
	OPT_TRACE,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_options[] = {
        {"model", required_argument, NULL, OPT_MODEL},
        {"series", required_argument, NULL, OPT_SERIES},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        {"link", required_argument, NULL, OPT_LINK},
        {"control", required_argument, NULL, OPT_CONTROL},
        {"scenario", required_argument, NULL, OPT_SCENARIO},
        {"soc", required_argument, NULL, OPT_SOC},
        {"current", required_argument, NULL, OPT_CURRENT},
        {"reply-delay-us", required_argument, NULL, OPT_REPLY_DELAY},
        {"time-scale", required_argument, NULL, OPT_TIME_SCALE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"serial-prefix", required_argument, NULL, OPT_SERIAL_PREFIX},
        {"trace", required_argument, NULL, OPT_TRACE},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {0},
};

static void usage(FILE *f)
{
	fputs("Usage: smallbms-sim [OPTIONS]\n"
	      "Simulates a bank of M8-bus batteries behind a pty for smallbms.\n"
	      "Prints `pty PATH` and then `ready` on stdout.\n\n"
	      "  --model NAME        battery model, e.g. 12.8/100 (default), 51.2/100\n"
	      "  --series S          batteries in series (default 1)\n"
	      "  --parallel P        strings in parallel (default 1); S x P <= 50 (25 for 51.2 V)\n"
	      "  --link PATH         also create a symlink PATH to the pty (removed at exit)\n"
	      "  --control PATH      listen for control commands on a unix socket\n"
	      "  --scenario FILE     run a scenario script\n"
	      "  --soc PCT           initial state of charge (default 80)\n"
	      "  --current MA        initial bank current in mA, + = charging (default 0)\n"
	      "  --reply-delay-us N  reply delay of every battery, 200..10000 (default 1000)\n"
	      "  --time-scale X      run the physics X times faster than real time (default 1)\n"
	      "  --seed N            seed of the cell spread and random faults (default 1)\n"
	      "  --serial-prefix S   serial numbers S001, S002 ... (default HQ2402JJ)\n"
	      "  --trace FILE        append a line per frame: `rx NS ADDR CMD` when a request's\n"
	      "                      last byte came in, `tx NS ADDR CMD FLAGS` once a reply was\n"
	      "                      handed to the pty whole (NS: CLOCK_MONOTONIC; FLAGS: a\n"
	      "                      STATUS reply's flags in hex, else -); for benchmarks\n"
	      "  --help              show this help\n"
	      "  --version           show the version\n\n"
	      "See smallbms-sim(1) for the control commands.\n",
	      f);
}

/* Unsigned decimal with at most `decimals` digits after the point, scaled. */
static int parse_scaled(const char *s, unsigned decimals, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	unsigned frac = 0;
	bool point = false, digit = false;

	for (; *s; s++) {
		if (*s == '.' && !point) {
			point = true;
			continue;
		}
		if (*s < '0' || *s > '9' || (point && ++frac > decimals))
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		digit = true;
		if (v > max * 1000000ull)
			return -ERANGE;
	}
	if (!digit)
		return -EINVAL;
	for (; frac < decimals; frac++)
		v *= 10;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int bad(FILE *err, const char *opt, const char *arg, const char *want)
{
	fprintf(err, "smallbms-sim: --%s '%s': %s\n", opt, arg, want);
	return -EINVAL;
}

int sim_options_parse(struct sim_options *o, int argc, char **argv, FILE *out, FILE *err)
{
	int c;

	*o = (struct sim_options){
	        .model = m8_model_by_name("12.8/100"),
	        .series = 1,
	        .parallel = 1,
	        .soc_cpct = 8000,
	        .reply_delay_us = SIM_DEFAULT_REPLY_DELAY_US,
	        .time_scale_milli = 1000,
	        .seed = 1,
	        .serial_prefix = SIM_DEFAULT_SERIAL_PREFIX,
	};
	optind = 0;
	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		uint64_t u;
		int64_t v;

		switch (c) {
		case OPT_MODEL:
			o->model = m8_model_by_name(optarg);
			if (!o->model)
				return bad(err, "model", optarg,
				           "not a model of docs/m8bus.md section 4");
			break;
		case OPT_SERIES:
		case OPT_PARALLEL:
			if (parse_i64(optarg, 1, SIM_MAX_BATTERIES, &v) < 0)
				return bad(err, c == OPT_SERIES ? "series" : "parallel", optarg,
				           "expected 1..50");
			if (c == OPT_SERIES)
				o->series = (unsigned)v;
			else
				o->parallel = (unsigned)v;
			break;
		case OPT_LINK:
			o->link = optarg;
			break;
		case OPT_CONTROL:
			o->control = optarg;
			break;
		case OPT_SCENARIO:
			o->scenario = optarg;
			break;
		case OPT_SOC:
			if (parse_scaled(optarg, 2, 10000, &u) < 0)
				return bad(err, "soc", optarg, "expected 0..100");
			o->soc_cpct = (uint32_t)u;
			break;
		case OPT_CURRENT:
			if (parse_i64(optarg, -SIM_MAX_BANK_CURRENT, SIM_MAX_BANK_CURRENT, &v) < 0)
				return bad(err, "current", optarg, "expected -2000000..2000000 mA");
			o->current_ma = (int32_t)v;
			break;
		case OPT_REPLY_DELAY:
			if (parse_i64(optarg, SIM_MIN_REPLY_DELAY_US, SIM_MAX_REPLY_DELAY_US, &v) <
			    0)
				return bad(err, "reply-delay-us", optarg, "expected 200..10000");
			o->reply_delay_us = (uint32_t)v;
			break;
		case OPT_TIME_SCALE:
			if (parse_scaled(optarg, 3, 1000000000ull, &u) < 0 || u == 0)
				return bad(err, "time-scale", optarg, "expected 0.001..1000000");
			o->time_scale_milli = (uint32_t)u;
			break;
		case OPT_SEED:
			if (parse_scaled(optarg, 0, UINT32_MAX, &u) < 0)
				return bad(err, "seed", optarg, "expected 0..4294967295");
			o->seed = u;
			break;
		case OPT_SERIAL_PREFIX:
			if (strlen(optarg) > SIM_SERIAL_PREFIX_MAX)
				return bad(err, "serial-prefix", optarg, "at most 13 characters");
			o->serial_prefix = optarg;
			break;
		case OPT_TRACE:
			if (!optarg[0])
				return bad(err, "trace", optarg, "expected a file name");
			o->trace = optarg;
			break;
		case OPT_HELP:
			usage(out);
			return 0;
		case OPT_VERSION:
			fprintf(out, "smallbms-sim %s\n", SIM_VERSION);
			return 0;
		default:
			usage(err);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(err, "smallbms-sim: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o->series * o->parallel > m8_type_max_batteries(o->model->type)) {
		fprintf(err, "smallbms-sim: %u x %u batteries: at most %u of %s\n", o->series,
		        o->parallel, m8_type_max_batteries(o->model->type), o->model->name);
		return -EINVAL;
	}
	return 1;
}
