/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ctl_read_pin(): `bluetooth set-pin` reading the PIN from standard input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl/args.h"

/* Reads a PIN from the bytes of text (len of them); the result, pin as read. */
static int read_from(const char *text, size_t len, char pin[CTL_PIN_LEN + 1])
{
	/* fmemopen of 0 bytes is refused by glibc: a pipe-less empty stream */
	FILE *f = len ? fmemopen((void *)text, len, "r") : fopen("/dev/null", "r");
	int r;

	assert_non_null(f);
	memset(pin, 'x', CTL_PIN_LEN + 1);
	/* a memory stream is no terminal: no prompt even with a prompt stream */
	r = ctl_read_pin(f, stderr, pin);
	fclose(f);
	return r;
}

#define READ(text, pin) read_from(text, sizeof(text) - 1, pin)

static void test_good_lines(void **state)
{
	char pin[CTL_PIN_LEN + 1];

	(void)state;
	assert_int_equal(READ("314159\n", pin), 0);
	assert_string_equal(pin, "314159");
	assert_int_equal(READ("000000", pin), 0); /* no line end at the end of input */
	assert_string_equal(pin, "000000");
	assert_int_equal(READ("271828\r\n", pin), 0);
	assert_string_equal(pin, "271828");
	/* only the first line counts */
	assert_int_equal(READ("123456\n654321\n", pin), 0);
	assert_string_equal(pin, "123456");
}

static void expect_refused(const char *text, size_t len, int want)
{
	char pin[CTL_PIN_LEN + 1];

	assert_int_equal(read_from(text, len, pin), want);
	/* nothing written on a refusal */
	for (size_t i = 0; i < sizeof(pin); i++)
		assert_int_equal(pin[i], 'x');
}

#define REFUSED(text, want) expect_refused(text, sizeof(text) - 1, want)

static void test_bad_lines(void **state)
{
	(void)state;
	REFUSED("", -ENODATA);
	REFUSED("\n", -EINVAL);
	REFUSED("12345\n", -EINVAL);
	REFUSED("1234567\n", -EINVAL);
	REFUSED("12a456\n", -EINVAL);
	REFUSED(" 123456\n", -EINVAL);
	REFUSED("123456 \n", -EINVAL);
	/* longer than the reader's buffer: refused whole, not cut to 6 digits */
	REFUSED("123456123456123456123456123456\n", -EINVAL);
	REFUSED("123456123456123456123456123456", -EINVAL);
	REFUSED("123456\r\r\n", -EINVAL);
}

/* ---- on a terminal: a pty stands in for the installer's terminal ---- */

struct term {
	int master, slave;
	pid_t child;
};

static bool echo_is_on(int fd)
{
	struct termios t;

	assert_int_equal(tcgetattr(fd, &t), 0);
	return (t.c_lflag & ECHO) != 0;
}

/* A child reads the PIN from the pty's slave side, prompting on it as
 * smallbmsctl does; it exits 0 if it read want, 1 if it read something else,
 * 2 on a refusal. Returns once the child has turned echo off. */
static void term_start(struct term *t, const char *want)
{
	assert_int_equal(openpty(&t->master, &t->slave, NULL, NULL, NULL), 0);
	assert_true(echo_is_on(t->slave));
	t->child = fork();
	assert_true(t->child >= 0);
	if (t->child == 0) {
		FILE *in = fdopen(dup(t->slave), "r"), *out = fdopen(dup(t->slave), "w");
		char pin[CTL_PIN_LEN + 1];

		alarm(10); /* never outlives a failed test */
		if (!in || !out)
			_exit(3);
		if (ctl_read_pin(in, out, pin) < 0)
			_exit(2);
		_exit(strcmp(pin, want) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 500 && echo_is_on(t->slave); i++)
		usleep(10000);
	if (echo_is_on(t->slave)) {
		kill(t->child, SIGKILL);
		waitpid(t->child, NULL, 0);
		fail_msg("the terminal still echoes while the PIN is asked for");
	}
}

/* What the terminal showed (the master side), at most len - 1 bytes. */
static void term_screen(struct term *t, char *buf, size_t len)
{
	size_t have = 0;
	struct pollfd p = {.fd = t->master, .events = POLLIN};

	while (have + 1 < len && poll(&p, 1, 200) > 0) {
		ssize_t n = read(t->master, buf + have, len - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
}

static int term_wait(struct term *t)
{
	int status;

	assert_int_equal(waitpid(t->child, &status, 0), t->child);
	return status;
}

static void term_done(struct term *t)
{
	close(t->master);
	close(t->slave);
}

static void test_terminal_prompt_without_echo(void **state)
{
	struct term t;
	char screen[256];
	int status;

	(void)state;
	term_start(&t, "314159");
	assert_int_equal(write(t.master, "314159\n", 7), 7);
	status = term_wait(&t);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	term_screen(&t, screen, sizeof(screen));
	/* the prompt, then only the line end (ECHONL): the digits never show */
	assert_non_null(strstr(screen, "Pairing PIN (6 digits): "));
	assert_null(strstr(screen, "314159"));
	/* and the terminal echoes again afterwards */
	assert_true(echo_is_on(t.slave));
	term_done(&t);
}

static void test_terminal_echo_back_after_ctrl_c(void **state)
{
	struct term t;
	int status;

	(void)state;
	term_start(&t, "314159");
	assert_int_equal(kill(t.child, SIGINT), 0);
	status = term_wait(&t);
	/* it still dies of the signal, as the user asked */
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGINT);
	assert_true(echo_is_on(t.slave));
	term_done(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_good_lines),
	        cmocka_unit_test(test_bad_lines),
	        cmocka_unit_test(test_terminal_prompt_without_echo),
	        cmocka_unit_test(test_terminal_echo_back_after_ctrl_c),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
