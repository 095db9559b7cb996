/* SPDX-License-Identifier: GPL-2.0-or-later */
/* smallbmsd's command line, run as a program (argv[1] is the binary):
 * exit codes of --check-config, and --set applied as a whole or not at all. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char *binary;

struct fx {
	char dir[64];
	char out[8192], err[8192];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/test-cli-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	if (fp) {
		n = fread(buf, 1, cap - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
}

/* Runs the binary with --config-dir DIR --state-dir DIR/state and args. */
static int run(struct fx *f, const char *const *args)
{
	char conf[96], st[96], out[96], err[96];
	const char *argv[32];
	size_t n = 0;
	int status;

	snprintf(conf, sizeof(conf), "%s", f->dir);
	snprintf(st, sizeof(st), "%s/state", f->dir);
	snprintf(out, sizeof(out), "%s/stdout", f->dir);
	snprintf(err, sizeof(err), "%s/stderr", f->dir);
	argv[n++] = binary;
	argv[n++] = "--config-dir";
	argv[n++] = conf;
	argv[n++] = "--state-dir";
	argv[n++] = st;
	for (; *args && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		execv(binary, (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	slurp(out, f->out, sizeof(f->out));
	slurp(err, f->err, sizeof(f->err));
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void write_conf(struct fx *f, const char *text)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/smallbmsd.conf", f->dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void test_help_version_usage(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, (const char *[]){"--help", NULL}), 0);
	assert_non_null(strstr(f->out, "--check-config"));
	assert_int_equal(run(f, (const char *[]){"--version", NULL}), 0);
	assert_non_null(strstr(f->out, "smallbmsd "));
	assert_int_equal(run(f, (const char *[]){"--no-such-option", NULL}), 1);
	assert_int_equal(run(f, (const char *[]){"stray", NULL}), 1);
	assert_int_equal(run(f, (const char *[]){"--set", NULL}), 1);
}

static void test_check_config(void **state)
{
	struct fx *f = *state;
	char want[128];

	/* No file at all: the defaults are a valid configuration. */
	assert_int_equal(run(f, (const char *[]){"--check-config", NULL}), 0);
	assert_string_equal(f->out, "configuration OK\n");

	write_conf(f, "[bus]\nport = /dev/ttyS4\n[outputs]\nbackend = dry-run\n");
	assert_int_equal(run(f, (const char *[]){"--check-config", NULL}), 0);
	assert_string_equal(f->out, "configuration OK\n");

	write_conf(f, "[bus]\nport = /dev/ttyS4\nbaud = 9600\n");
	assert_int_equal(run(f, (const char *[]){"--check-config", NULL}), 1);
	snprintf(want, sizeof(want), "%s/smallbmsd.conf:3: ", f->dir);
	assert_non_null(strstr(f->err, want));
	assert_string_equal(f->out, "");

	/* Half a remote terminal cannot be decoded. */
	write_conf(f, "[adc]\nremote-h-channel = none\n");
	assert_int_equal(run(f, (const char *[]){"--check-config", NULL}), 1);
	snprintf(want, sizeof(want), "%s/smallbmsd.conf:2: ", f->dir);
	assert_non_null(strstr(f->err, want));
	write_conf(f, "[adc]\nremote-h-channel = none\nremote-l-channel = none\n"
	              "charge-readback-channel = none\n");
	assert_int_equal(run(f, (const char *[]){"--check-config", NULL}), 0);
	write_conf(f, "[adc]\nbank-channel = none\n");
	assert_int_equal(run(f, (const char *[]){"--check-config", NULL}), 1);

	/* A bad configuration stops --set too, before the state is touched. */
	write_conf(f, "[nonsense]\n");
	assert_int_equal(run(f, (const char *[]){"--set", "uv_trip_mv=2700", NULL}), 1);
	char path[128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/state", f->dir);
	assert_int_equal(stat(path, &st), -1);
}

static void state_bytes(struct fx *f, char *buf, size_t cap, size_t *len)
{
	*len = 0;
	for (unsigned g = 0; g < 2; g++) {
		char path[128];

		snprintf(path, sizeof(path), "%s/state/state.%u", f->dir, g);
		FILE *fp = fopen(path, "r");
		if (!fp)
			continue;
		*len += fread(buf + *len, 1, cap - *len, fp);
		fclose(fp);
	}
}

static void test_set(void **state)
{
	struct fx *f = *state;
	static char before[65536], after[65536];
	size_t lb, la;

	assert_int_equal(run(f, (const char *[]){"--set", "uv_trip_mv=2700", "--set",
	                                         "low_soc_warning_pct=25", NULL}),
	                 0);
	assert_int_equal(run(f, (const char *[]){"--show-state", NULL}), 0);
	assert_non_null(strstr(f->out, "uv_trip_mv = 2700 mV"));
	assert_non_null(strstr(f->out, "low_soc_warning_pct = 25 %"));
	assert_non_null(strstr(f->out, "ov_trip_mv = 3750 mV\n"));

	/* One good and one out of bounds: refused as a whole, state untouched. */
	state_bytes(f, before, sizeof(before), &lb);
	assert_true(lb > 0);
	assert_int_equal(run(f, (const char *[]){"--set", "uv_trip_mv=2650", "--set",
	                                         "ov_trip_mv=3900", NULL}),
	                 1);
	assert_non_null(strstr(f->err, "ov_trip_mv"));
	assert_non_null(strstr(f->err, "3900"));
	state_bytes(f, after, sizeof(after), &la);
	assert_int_equal(la, lb);
	assert_memory_equal(before, after, lb);

	/* An ordering rule broken only by the pair together. */
	assert_int_equal(run(f, (const char *[]){"--set", "ov_release_mv=3700", NULL}), 1);
	assert_int_equal(run(f, (const char *[]){"--set", "no_such_setting=1", NULL}), 1);
	assert_int_equal(run(f, (const char *[]){"--set", "uv_trip_mv", NULL}), 1);
	assert_int_equal(run(f, (const char *[]){"--set", "uv_trip_mv=27x0", NULL}), 1);
	state_bytes(f, after, sizeof(after), &la);
	assert_int_equal(la, lb);
	assert_memory_equal(before, after, lb);

	assert_int_equal(run(f, (const char *[]){"--show-state", NULL}), 0);
	assert_non_null(strstr(f->out, "uv_trip_mv = 2700 mV"));
}

/* Issue 15: --set run as root writes generations owned by the state
 * directory's owner (the daemon's user), who can read them back; a root-owned
 * generation was unreadable to the daemon and every setting was lost. */
static void test_set_as_root_keeps_owner(void **state)
{
	struct fx *f = *state;
	char path[128];
	struct stat st;

	if (geteuid() != 0)
		skip();
	snprintf(path, sizeof(path), "%s/state", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(run(f, (const char *[]){"--set", "uv_trip_mv=2700", NULL}), 0);
	assert_int_equal(run(f, (const char *[]){"--set", "uv_trip_mv=2650", NULL}), 0);
	for (unsigned g = 0; g < 2; g++) {
		snprintf(path, sizeof(path), "%s/state/state.%u", f->dir, g);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_uid, 65534);
		assert_int_equal(st.st_gid, 65534);
	}
}

/* Issue 13 item 16: a fresh record has no extremes yet; --show-state says
 * so instead of printing the sentinels (2147483647 .. -2147483648). */
static void test_show_state_fresh(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, (const char *[]){"--show-state", NULL}), 0);
	assert_null(strstr(f->out, "2147483647"));
	assert_null(strstr(f->out, "-2147483648"));
	assert_non_null(strstr(f->out, "  bank voltage = none yet\n"));
	assert_non_null(strstr(f->out, "  cell voltage = none yet\n"));
	assert_non_null(strstr(f->out, "  temperature = none yet\n"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_help_version_usage, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_check_config, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_set, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_set_as_root_keeps_owner, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_show_state_fresh, setup, teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s SMALLBMSD\n", argv[0]);
		return 2;
	}
	binary = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
