/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control commands, the scenario files and the command line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim/control.h"
#include "sim/options.h"
#include "sim/scenario.h"

static int setup(void **state)
{
	struct sim_world *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	/* 3 batteries of 4 cells and 2 sensors */
	if (sim_bank_init(&w->bank, m8_model_by_name("12.8/100"), 3, 1, 8000, 0, 1000, 1) < 0 ||
	    sim_chain_init(&w->chain, &w->bank, "HQ2402JJ", 1000, 1) < 0) {
		free(w);
		return -1;
	}
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static void ok(struct sim_world *w, const char *line)
{
	char out[256];

	if (sim_control_line(w, line, out, sizeof(out)) != 0)
		fail_msg("'%s' -> %s", line, out);
	assert_string_equal(out, "ok");
}

/* A refused line answers `error: ...` and changes nothing at all. */
static void refused(struct sim_world *w, const char *line)
{
	struct sim_world *before = malloc(sizeof(*w));
	char out[256];

	assert_non_null(before);
	memcpy(before, w, sizeof(*w));
	if (sim_control_line(w, line, out, sizeof(out)) != -EINVAL)
		fail_msg("'%s' accepted: %s", line, out);
	assert_memory_equal(out, "error: ", 7);
	assert_true(strlen(out) > 7);
	assert_null(strchr(out, '\n'));
	assert_memory_equal(before, w, sizeof(*w));
	free(before);
}

static void battery_faults(void **state)
{
	struct sim_world *w = *state;

	ok(w, "silent 2 on");
	assert_true(w->chain.bat[1].silent);
	ok(w, "silent 2 off");
	assert_false(w->chain.bat[1].silent);
	w->chain.bat[2].addr = 3;
	ok(w, "brownout 3");
	assert_int_equal(w->chain.bat[2].addr, 0);
	ok(w, "drop 1 4");
	assert_int_equal(w->chain.bat[0].drop, 4);
	ok(w, "miss-reset 2");
	assert_true(w->chain.bat[1].miss_reset_armed);
	ok(w, "open-chain 2");
	assert_int_equal(w->chain.open_after, 2);
	ok(w, "open-chain 0");
	assert_int_equal(w->chain.open_after, 0);
	ok(w, "slow 3 12000");
	assert_int_equal(w->chain.bat[2].reply_delay_us, 12000);
	ok(w, "slow 3 0");
	assert_int_equal(w->chain.bat[2].reply_delay_us, 0);
	ok(w, "busy 2 3");
	assert_int_equal(w->chain.bat[1].busy, 3);
	ok(w, "garble 3 7");
	assert_int_equal(w->chain.bat[2].garble, 7);
	ok(w, "garble 3 0");
	assert_int_equal(w->chain.bat[2].garble, 0);
	/* extra blanks and a CR are fine */
	ok(w, "  drop\t3   2 \r");
	assert_int_equal(w->chain.bat[2].drop, 2);
}

static void line_faults(void **state)
{
	struct sim_world *w = *state;

	ok(w, "corrupt 2");
	assert_int_equal(w->chain.corrupt, 2);
	ok(w, "wrong-seq 5");
	assert_int_equal(w->chain.wrong_seq, 5);
	ok(w, "wrong-addr 1");
	assert_int_equal(w->chain.wrong_addr, 1);
	ok(w, "garbage 10");
	ok(w, "garbage 5");
	assert_int_equal(w->garbage_pending, 15);
}

static void cells_temps_flags(void **state)
{
	struct sim_world *w = *state;
	struct m8_status st;

	ok(w, "cell 2 4 3650");
	sim_bank_status(&w->bank, 2, false, &st);
	assert_int_equal(st.cell_mv[3], 3650);
	ok(w, "cell 2 4 0xFFFF");
	sim_bank_status(&w->bank, 2, false, &st);
	assert_int_equal(st.cell_mv[3], M8_CELL_NA);
	ok(w, "cell 2 4 off");
	sim_bank_status(&w->bank, 2, false, &st);
	assert_int_equal(st.cell_mv[3], sim_bank_cell_model_mv(&w->bank, 2, 4));

	ok(w, "drift 1 1 -150");
	assert_int_equal(w->bank.pack[0].cell[0].drift_mv, -150);
	ok(w, "drift 1 1 0");

	ok(w, "temp 3 2 -105");
	sim_bank_status(&w->bank, 3, false, &st);
	assert_int_equal(st.temp_dc[1], -105);
	ok(w, "temp 3 2 32767");
	sim_bank_status(&w->bank, 3, false, &st);
	assert_int_equal(st.temp_dc[1], M8_TEMP_NA);
	ok(w, "temp 3 2 off");
	sim_bank_status(&w->bank, 3, false, &st);
	assert_in_range(st.temp_dc[1], 240, 260);

	ok(w, "flag 1 fault on");
	ok(w, "flag 1 hard-ov on");
	ok(w, "flag 1 hard-uv on");
	ok(w, "flag 1 balancing on");
	ok(w, "flag 1 fw-update on");
	sim_bank_status(&w->bank, 1, false, &st);
	assert_int_equal(st.flags, 0x1F);
	ok(w, "flag 1 fault off");
	ok(w, "flag 1 fw-update off");
	sim_bank_status(&w->bank, 1, true, &st);
	assert_int_equal(st.flags, M8_ST_BALANCING | M8_ST_HARD_OV | M8_ST_HARD_UV);
	ok(w, "flag 1 hard-ov auto");
	ok(w, "flag 1 hard-uv auto");
	ok(w, "flag 1 balancing auto");
	ok(w, "flag 1 fw-update auto");
	sim_bank_status(&w->bank, 1, true, &st);
	assert_int_equal(st.flags, M8_ST_FW_UPDATE);
}

static void bank_state(void **state)
{
	struct sim_world *w = *state;

	ok(w, "current -45000");
	assert_int_equal(w->bank.current_ma, -45000);
	ok(w, "current +2000");
	assert_int_equal(w->bank.current_ma, 2000);
	ok(w, "soc 20");
	assert_in_range(sim_bank_cell_soc_ppm(&w->bank, 3, 2), 197000, 203000);
	ok(w, "soc 55.25");
	assert_in_range(sim_bank_cell_soc_ppm(&w->bank, 1, 1), 549500, 555500);
	ok(w, "soc 100");
	ok(w, "soc 0");
}

static void stats_and_quit(void **state)
{
	struct sim_world *w = *state;
	char out[256];

	w->chain.stats =
	        (struct sim_chain_stats){.requests = 9, .replies = 5, .resets = 3, .assigns = 2};
	assert_int_equal(sim_control_line(w, "stats", out, sizeof(out)), 0);
	assert_string_equal(out,
	                    "ok requests=9 replies=5 resets=3 assigns=2 assign-gap-min-us=none");
	w->chain.stats.assign_gaps = 1;
	w->chain.stats.assign_gap_min_us = 10087;
	assert_int_equal(sim_control_line(w, "stats", out, sizeof(out)), 0);
	assert_string_equal(out,
	                    "ok requests=9 replies=5 resets=3 assigns=2 assign-gap-min-us=10087");
	assert_false(w->quit);
	ok(w, "quit");
	assert_true(w->quit);
}

static void bad_input_changes_nothing(void **state)
{
	static const char *const bad[] = {
	        "",
	        "   ",
	        "bogus",
	        "silent",
	        "silent 2",
	        "silent 2 maybe",
	        "silent 0 on",
	        "silent 4 on",
	        "silent 2 on extra",
	        "brownout",
	        "brownout 0",
	        "brownout x",
	        "drop 1",
	        "drop 1 -1",
	        "drop 1 1000001",
	        "drop 1 1.5",
	        "miss-reset 4",
	        "open-chain 4",
	        "open-chain -1",
	        "corrupt",
	        "corrupt -2",
	        "corrupt 1e3",
	        "garbage 0",
	        "garbage 65537",
	        "slow 1 1000001",
	        "slow 1 -5",
	        "cell 1 5 3000",
	        "cell 1 0 3000",
	        "cell 1 1 65536",
	        "cell 1 1 -1",
	        "cell 1 1 on",
	        "cell 4 1 off",
	        "drift 1 1 5001",
	        "drift 1 1 -5001",
	        "drift 1 5 1",
	        "temp 1 3 100",
	        "temp 1 1 32768",
	        "temp 1 1 -32769",
	        "temp 1 1",
	        "flag 1 hot on",
	        "flag 1 fault yes",
	        "flag 4 fault on",
	        "busy 1",
	        "busy 0 1",
	        "garble 4 1",
	        "garble 1",
	        "garble 1 -1",
	        "current",
	        "current 2000001",
	        "current -2000001",
	        "current 12mA",
	        "soc 101",
	        "soc 100.01",
	        "soc -1",
	        "soc 50.125",
	        "soc .",
	        "wrong-seq x",
	        "wrong-addr -1",
	        "stats now",
	        "quit now",
	        "wait 1",
	        "0x",
	        "cell 1 1 0x",
	        "cell 1 1 0xG",
	        "drop 1 99999999999999999999",
	        "silent 1 on on on on on on on on",
	        "silent 111111111111111111111111111111111111111111111111 on",
	};
	struct sim_world *w = *state;
	size_t i;

	ok(w, "drop 2 7");
	ok(w, "current -1000");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(w, bad[i]);
	assert_int_equal(w->chain.bat[1].drop, 7);
	assert_int_equal(w->bank.current_ma, -1000);
}

static void scenario_parse_and_run(void **state)
{
	struct sim_world *w = *state;
	struct sim_scenario s;
	char err[256];

	assert_int_equal(sim_scenario_parse(&s, "demo.scn",
	                                    "# a discharge\n"
	                                    "\n"
	                                    "current -50000   # 50 A\n"
	                                    "wait 1.5\n"
	                                    "  soc 30\n"
	                                    "wait 0\n"
	                                    "drop 1 2\n"
	                                    "quit\n"
	                                    "current 7\n",
	                                    3, 4, 2, err, sizeof(err)),
	                 0);
	assert_int_equal(s.n_steps, 7);
	assert_int_equal(s.steps[0].line, 3);
	assert_int_equal(sim_scenario_run(&s, w), 1500000);
	assert_int_equal(w->bank.current_ma, -50000);
	assert_int_equal(sim_scenario_run(&s, w), 1); /* wait 0 still yields */
	assert_in_range(sim_bank_cell_soc_ppm(&w->bank, 1, 1), 297000, 303000);
	assert_int_equal(sim_scenario_run(&s, w), 0);
	assert_int_equal(w->chain.bat[0].drop, 2);
	assert_true(w->quit);
	assert_int_equal(w->bank.current_ma, -50000); /* nothing after quit */
	assert_false(sim_scenario_done(&s));
	sim_scenario_free(&s);
}

static void scenario_errors(void **state)
{
	struct sim_scenario s;
	char err[256];

	assert_int_equal(sim_scenario_parse(&s, "x.scn", "current 1\n\nsilent 9 on\n", 3, 4, 2, err,
	                                    sizeof(err)),
	                 -EINVAL);
	assert_string_equal(err, "x.scn:3: battery must be an integer in 1..3, not '9'");
	assert_null(s.steps);
	assert_int_equal(
	        sim_scenario_parse(&s, "x.scn", "wait 1.0000001\n", 3, 4, 2, err, sizeof(err)),
	        -EINVAL);
	assert_memory_equal(err, "x.scn:1: ", 9);
	assert_int_equal(sim_scenario_parse(&s, "x.scn", "wait 86401\n", 3, 4, 2, err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(sim_scenario_load(&s, "/nonexistent/x.scn", 3, 4, 2, err, sizeof(err)),
	                 -ENOENT);
	/* an empty script is fine and does nothing */
	assert_int_equal(sim_scenario_parse(&s, "e.scn", "# nothing\n", 3, 4, 2, err, sizeof(err)),
	                 0);
	assert_true(sim_scenario_done(&s));
	sim_scenario_free(&s);
}

static int parse_args(struct sim_options *o, const char *const *args)
{
	char *argv[32];
	FILE *null = fopen("/dev/null", "w");
	int argc = 0, r;

	assert_non_null(null);
	argv[argc++] = (char *)"smallbms-sim";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	r = sim_options_parse(o, argc, argv, null, null);
	fclose(null);
	return r;
}

static void command_line(void **state)
{
	struct sim_options o;

	assert_int_equal(parse_args(&o, (const char *const[]){NULL}), 1);
	assert_string_equal(o.model->name, "12.8/100");
	assert_int_equal(o.series, 1);
	assert_int_equal(o.parallel, 1);
	assert_int_equal(o.soc_cpct, 8000);
	assert_int_equal(o.reply_delay_us, 1000);
	assert_int_equal(o.time_scale_milli, 1000);
	assert_string_equal(o.serial_prefix, "HQ2402JJ");

	assert_int_equal(parse_args(&o, (const char *const[]){"--model",
	                                                      "51.2/100",
	                                                      "--series",
	                                                      "5",
	                                                      "--parallel",
	                                                      "5",
	                                                      "--soc",
	                                                      "12.5",
	                                                      "--current",
	                                                      "-30000",
	                                                      "--time-scale",
	                                                      "60.5",
	                                                      "--reply-delay-us",
	                                                      "200",
	                                                      "--seed",
	                                                      "99",
	                                                      "--link",
	                                                      "/tmp/l",
	                                                      "--control",
	                                                      "/tmp/c",
	                                                      "--serial-prefix",
	                                                      "AB",
	                                                      "--trace",
	                                                      "/tmp/t",
	                                                      NULL}),
	                 1);
	assert_int_equal(o.model->type, 3);
	assert_int_equal(o.series * o.parallel, 25);
	assert_int_equal(o.soc_cpct, 1250);
	assert_int_equal(o.current_ma, -30000);
	assert_int_equal(o.time_scale_milli, 60500);
	assert_int_equal(o.reply_delay_us, 200);
	assert_int_equal(o.seed, 99);
	assert_string_equal(o.link, "/tmp/l");
	assert_string_equal(o.control, "/tmp/c");
	assert_string_equal(o.serial_prefix, "AB");
	assert_string_equal(o.trace, "/tmp/t");

	assert_int_equal(parse_args(&o, (const char *const[]){"--help", NULL}), 0);
	assert_int_equal(parse_args(&o, (const char *const[]){"--version", NULL}), 0);
	assert_int_equal(parse_args(&o, (const char *const[]){"--model", "12.8/999", NULL}),
	                 -EINVAL);
	assert_int_equal(parse_args(&o, (const char *const[]){"--model", "51.2/100", "--series",
	                                                      "26", NULL}),
	                 -EINVAL);
	assert_int_equal(
	        parse_args(&o, (const char *const[]){"--series", "10", "--parallel", "6", NULL}),
	        -EINVAL);
	assert_int_equal(parse_args(&o, (const char *const[]){"--reply-delay-us", "199", NULL}),
	                 -EINVAL);
	assert_int_equal(parse_args(&o, (const char *const[]){"--reply-delay-us", "10001", NULL}),
	                 -EINVAL);
	assert_int_equal(parse_args(&o, (const char *const[]){"--soc", "100.5", NULL}), -EINVAL);
	assert_int_equal(parse_args(&o, (const char *const[]){"--time-scale", "0", NULL}), -EINVAL);
	assert_int_equal(
	        parse_args(&o, (const char *const[]){"--serial-prefix", "ABCDEFGHIJKLMN", NULL}),
	        -EINVAL);
	assert_int_equal(parse_args(&o, (const char *const[]){"--trace", "", NULL}), -EINVAL);
	assert_int_equal(parse_args(&o, (const char *const[]){"--bogus", NULL}), -EINVAL);
	assert_int_equal(parse_args(&o, (const char *const[]){"extra", NULL}), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(battery_faults, setup, teardown),
	        cmocka_unit_test_setup_teardown(line_faults, setup, teardown),
	        cmocka_unit_test_setup_teardown(cells_temps_flags, setup, teardown),
	        cmocka_unit_test_setup_teardown(bank_state, setup, teardown),
	        cmocka_unit_test_setup_teardown(stats_and_quit, setup, teardown),
	        cmocka_unit_test_setup_teardown(bad_input_changes_nothing, setup, teardown),
	        cmocka_unit_test_setup_teardown(scenario_parse_and_run, setup, teardown),
	        cmocka_unit_test(scenario_errors),
	        cmocka_unit_test(command_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
