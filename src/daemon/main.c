/* SPDX-License-Identifier: GPL-2.0-or-later */
/* smallbmsd: command line, the offline state commands, and the daemon. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "core/codes.h"
#include "core/fw_updater.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/persist.h"

#ifndef SMALLBMS_VERSION
#define SMALLBMS_VERSION "unknown"
#endif

#define EXIT_CONFIG  1 /* bad configuration or arguments */
#define EXIT_RUNTIME 2

#define MAX_SETS 64

struct options {
	const char *config_dir;
	const char *state_dir;
	bool check_config, show_state, loop_stats;
	const char *sets[MAX_SETS];
	size_t n_sets;
};

static void help(void)
{
	printf("Usage: smallbmsd [OPTIONS]\n"
	       "\n"
	       "The smallbms battery management daemon: protects a LiFePO4 bank on the M8 bus.\n"
	       "\n"
	       "  --config-dir DIR     configuration directory (default %s):\n"
	       "                       DIR/smallbmsd.conf and DIR/smallbmsd.conf.d/*.conf\n"
	       "  --state-dir DIR      state directory, overrides [state] directory\n"
	       "  --check-config       validate the configuration and exit\n"
	       "  --set NAME=VALUE     change a BMS setting in the state record and exit\n"
	       "                       (repeatable; all are checked as a whole, or none is\n"
	       "                       applied); run it while the daemon is stopped\n"
	       "  --show-state         print the state record and exit\n"
	       "  --loop-stats         log every 10 s how long the event loop was held\n"
	       "                       (tick lateness, longest tick, ADC read time)\n"
	       "  --help               show this help and exit\n"
	       "  --version            show the version and exit\n"
	       "\n"
	       "Exit status: 0 ok, 1 bad configuration or arguments, 2 runtime failure.\n",
	       CONFIG_DIR_DEFAULT);
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum {
		ARG_CONFIG_DIR = 0x100,
		ARG_STATE_DIR,
		ARG_CHECK,
		ARG_SET,
		ARG_SHOW,
		ARG_VERSION,
		ARG_LOOP_STATS
	};
	static const struct option longopts[] = {
	        {"config-dir", required_argument, NULL, ARG_CONFIG_DIR},
	        {"state-dir", required_argument, NULL, ARG_STATE_DIR},
	        {"check-config", no_argument, NULL, ARG_CHECK},
	        {"set", required_argument, NULL, ARG_SET},
	        {"show-state", no_argument, NULL, ARG_SHOW},
	        {"loop-stats", no_argument, NULL, ARG_LOOP_STATS},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, ARG_VERSION},
	        {},
	};
	int c;

	o->config_dir = CONFIG_DIR_DEFAULT;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) >= 0) {
		switch (c) {
		case ARG_CONFIG_DIR:
			o->config_dir = optarg;
			break;
		case ARG_STATE_DIR:
			if (!optarg[0] || strlen(optarg) >= PATH_MAX) {
				fprintf(stderr, "smallbmsd: --state-dir: bad directory\n");
				return -EINVAL;
			}
			o->state_dir = optarg;
			break;
		case ARG_CHECK:
			o->check_config = true;
			break;
		case ARG_SET:
			if (o->n_sets >= MAX_SETS) {
				fprintf(stderr, "smallbmsd: more than %d --set\n", MAX_SETS);
				return -EINVAL;
			}
			o->sets[o->n_sets++] = optarg;
			break;
		case ARG_SHOW:
			o->show_state = true;
			break;
		case ARG_LOOP_STATS:
			o->loop_stats = true;
			break;
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("smallbmsd %s\n", SMALLBMS_VERSION);
			return 0;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "smallbmsd: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	return 1;
}

/* A minimum and maximum of the history; a fresh record has none yet (its
 * sentinels are never shown). */
static void print_extremes(const char *name, int32_t min, int32_t max, const char *unit)
{
	if (min == HISTORY_MIN_NONE || max == HISTORY_MAX_NONE)
		printf("  %s = none yet\n", name);
	else
		printf("  %s = %d .. %d %s\n", name, (int)min, (int)max, unit);
}

static void print_state(const char *dir, const struct record *r, enum persist_load_result how)
{
	char codes[8];

	printf("state directory: %s (%s)\n", dir,
	       how == PERSIST_LOADED ? "record loaded"
	       : how == PERSIST_NONE ? "no record: defaults"
	                             : "record unreadable: defaults (E9)");
	printf("settings:\n");
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_desc *sd = settings_desc(i);
		int32_t v = 0;

		settings_get(&r->settings, sd->name, &v);
		printf("  %s = %d %s%s\n", sd->name, (int)v, sd->unit,
		       v == sd->def ? "" : " (changed)");
	}
	if (r->soc.known)
		printf("soc: %.2f %% (consumed %.3f Ah, %u synchronisations and sets)\n",
		       r->soc.soc_pct, r->soc.consumed_ah, r->soc.soc_events);
	else
		printf("soc: unknown (%u synchronisations and sets)\n", r->soc.soc_events);
	const struct history *h = &r->hist;
	char full[48] = "never";

	if (h->last_full_charge_s > 0)
		snprintf(full, sizeof(full), "%lld (s since the epoch)",
		         (long long)h->last_full_charge_s);
	printf("history:\n"
	       "  deepest discharge = %.3f Ah\n"
	       "  drawn = %.3f Ah\n"
	       "  discharged energy = %.3f kWh\n"
	       "  charged energy = %.3f kWh\n"
	       "  synchronisations = %u\n"
	       "  cycles = %u\n"
	       "  last full charge = %s\n",
	       h->deepest_ah, h->drawn_ah, h->discharged_wh / 1000.0, h->charged_wh / 1000.0,
	       h->syncs, h->cycles, full);
	print_extremes("bank voltage", h->min_bank_mv, h->max_bank_mv, "mV");
	print_extremes("cell voltage", h->min_cell_mv, h->max_cell_mv, "mV");
	print_extremes("temperature", h->min_temp_dc, h->max_temp_dc, "(0.1 degC)");
	for (unsigned i = 0; i < h->n_errors && i < HISTORY_ERRORS; i++) {
		const char *name =
		        bms_code_valid(h->errors[i].code) ? bms_code_name(h->errors[i].code) : "?";
		snprintf(codes, sizeof(codes), "%s", name);
		printf("  last error %u = %s at %lld\n", i + 1, codes,
		       (long long)h->errors[i].wall_s);
	}
	if (r->have_bank) {
		printf("bank: %u batteries, type %u, %u Ah each, %u in series\n", r->bank.n,
		       r->bank.type, r->bank.capacity_ah, r->bank.s);
		for (unsigned i = 0; i < r->bank.n && i < BANK_MAX_BATTERIES; i++)
			printf("  battery %s\n", r->bank.serial[i]);
	} else {
		printf("bank: none remembered\n");
	}
	printf("protection state: %u bytes\n", r->prot_len);
	if (r->fw_len > 0) {
		struct fw_updater u;

		/* the ages as of the save: applied at time 0 */
		if (fw_updater_persist_apply(&u, UINT64_MAX / 2, r->fw, r->fw_len) == 0) {
			if (u.state == FW_JOB_INTERRUPTED)
				printf("firmware update: battery %u to %u.%u.%u running at the "
				       "save "
				       "(%u of %u bytes confirmed)\n",
				       u.addr, u.img.version[0], u.img.version[1], u.img.version[2],
				       u.acked, u.img.size);
			if (u.failed)
				printf("firmware update: battery %u failed %llu s before the save "
				       "(E5)\n",
				       u.failed_addr,
				       (unsigned long long)((UINT64_MAX / 2 - u.failed_since_us) /
				                            1000000u));
		}
	} else {
		printf("firmware update: nothing pending\n");
	}
}

static int state_commands(const struct options *o, const struct bms_config *cfg)
{
	_cleanup_free_ struct record *rec = calloc(1, sizeof(*rec));
	struct statefile *sf = NULL;
	char err[512] = "";
	int how, r;

	if (!rec)
		return EXIT_RUNTIME;
	r = persist_open(cfg->state_dir, &sf);
	if (r < 0) {
		fprintf(stderr, "smallbmsd: cannot open state directory %s: %s\n", cfg->state_dir,
		        strerror(-r));
		return EXIT_RUNTIME;
	}
	how = persist_load(sf, cfg->state_dir, rec, err, sizeof(err));
	if (how < 0) {
		fprintf(stderr, "smallbmsd: cannot read the state record: %s\n", strerror(-how));
		statefile_free(sf);
		return EXIT_RUNTIME;
	}
	if (o->n_sets > 0) {
		struct bms_settings s = rec->settings;

		if (how == PERSIST_UNREADABLE) {
			fprintf(stderr,
			        "smallbmsd: the state record in %s is unreadable (%s); not "
			        "overwritten by --set\n",
			        cfg->state_dir, err);
			statefile_free(sf);
			return EXIT_RUNTIME;
		}
		r = settings_apply_strings(&s, o->sets, o->n_sets, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "smallbmsd: --set refused, nothing changed: %s\n", err);
			statefile_free(sf);
			return EXIT_CONFIG;
		}
		rec->settings = s;
		r = persist_save(sf, rec, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "smallbmsd: cannot save the state record: %s\n",
			        err[0] ? err : strerror(-r));
			statefile_free(sf);
			return EXIT_RUNTIME;
		}
		fprintf(stderr, "smallbmsd: settings changed:");
		for (size_t i = 0; i < o->n_sets; i++)
			fprintf(stderr, " %s", o->sets[i]);
		fprintf(stderr, "\n");
		how = PERSIST_LOADED;
	}
	if (o->show_state)
		print_state(cfg->state_dir, rec, how);
	statefile_free(sf);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {};
	struct bms_config cfg;
	struct config_error cerr = {};
	struct events ev;
	struct daemon *d = NULL;

	int r = parse_args(argc, argv, &o);
	if (r <= 0)
		return r < 0 ? EXIT_CONFIG : 0;

	r = config_load(o.config_dir, &cfg, &cerr);
	if (r < 0) {
		if (cerr.message[0])
			fprintf(stderr, "%s\n", cerr.message);
		else
			fprintf(stderr, "smallbmsd: reading the configuration in %s: %s\n",
			        o.config_dir, strerror(-r));
		return EXIT_CONFIG;
	}
	if (o.state_dir)
		snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", o.state_dir);
	cfg.loop_stats = o.loop_stats;
	if (o.check_config) {
		printf("configuration OK\n");
		return 0;
	}
	if (o.n_sets > 0 || o.show_state)
		return state_commands(&o, &cfg);

	events_init(&ev);
	r = daemon_new(&d, &cfg, &ev);
	if (r < 0) {
		events_log(&ev, EV_LIFECYCLE, 3, "error", "cannot start: %s", strerror(-r));
		return EXIT_RUNTIME;
	}
	r = daemon_run(d);
	daemon_free(d);
	if (r < 0) {
		events_log(&ev, EV_LIFECYCLE, 3, "error", "event loop failed: %s", strerror(-r));
		return EXIT_RUNTIME;
	}
	return 0;
}
