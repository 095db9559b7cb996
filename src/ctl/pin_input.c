/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bluetooth set-pin` without an operand reads the PIN from standard input,
 * so that it never shows in the process list or the shell history. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/macro.h"
#include "ctl/args.h"

/* The terminal to give its echo back when a signal ends us mid-prompt
 * (Ctrl-C at the prompt must not leave the shell typing blind). */
static const int echo_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
static volatile sig_atomic_t tty_fd = -1;
static struct termios tty_saved;

static void restore_and_reraise(int sig)
{
	if (tty_fd >= 0)
		(void)tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Echo off on a terminal while the PIN is typed; echo_on() undoes it. */
static bool echo_off(int fd, struct sigaction old[])
{
	struct sigaction sa = {.sa_handler = restore_and_reraise};
	struct termios t;

	if (!isatty(fd) || tcgetattr(fd, &tty_saved) < 0)
		return false;
	tty_fd = fd;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ELEMENTSOF(echo_signals); i++)
		(void)sigaction(echo_signals[i], &sa, &old[i]);
	t = tty_saved;
	t.c_lflag &= ~(tcflag_t)ECHO;
	t.c_lflag |= ECHONL;
	if (tcsetattr(fd, TCSAFLUSH, &t) == 0)
		return true;
	for (size_t i = 0; i < ELEMENTSOF(echo_signals); i++)
		(void)sigaction(echo_signals[i], &old[i], NULL);
	tty_fd = -1;
	return false;
}

static void echo_on(const struct sigaction old[])
{
	(void)tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
	tty_fd = -1;
	for (size_t i = 0; i < ELEMENTSOF(echo_signals); i++)
		(void)sigaction(echo_signals[i], &old[i], NULL);
}

int ctl_read_pin(FILE *in, FILE *prompt, char pin[CTL_PIN_LEN + 1])
{
	/* room for a longer (wrong) line, so that it is refused, not cut */
	char line[CTL_PIN_LEN + 16];
	struct sigaction old[ELEMENTSOF(echo_signals)];
	bool restore = false;
	size_t len;
	int r = 0;

	if (prompt && isatty(fileno(in))) {
		fputs("Pairing PIN (6 digits): ", prompt);
		fflush(prompt);
		restore = echo_off(fileno(in), old);
	}
	if (!fgets(line, sizeof(line), in))
		r = ferror(in) ? -EIO : -ENODATA;
	if (restore)
		echo_on(old);
	if (r < 0)
		return r;
	len = strlen(line);
	if (len > 0 && line[len - 1] == '\n') {
		len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
	} else if (!feof(in)) {
		r = -EINVAL; /* a line without its end did not fit: too long */
	}
	line[len] = '\0';
	if (r == 0)
		r = ctl_parse_pin(line);
	if (r == 0)
		memcpy(pin, line, CTL_PIN_LEN + 1);
	explicit_bzero(line, sizeof(line));
	return r;
}
