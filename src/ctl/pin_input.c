/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bluetooth set-pin` without an operand reads the PIN from standard input,
 * so that it never shows in the process list or the shell history. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ctl/args.h"

/* Echo off on a terminal while the PIN is typed; restored by the caller. */
static bool echo_off(int fd, struct termios *saved)
{
	struct termios t;

	if (!isatty(fd) || tcgetattr(fd, saved) < 0)
		return false;
	t = *saved;
	t.c_lflag &= ~(tcflag_t)ECHO;
	t.c_lflag |= ECHONL;
	return tcsetattr(fd, TCSAFLUSH, &t) == 0;
}

int ctl_read_pin(FILE *in, FILE *prompt, char pin[CTL_PIN_LEN + 1])
{
	/* room for a longer (wrong) line, so that it is refused, not cut */
	char line[CTL_PIN_LEN + 16];
	struct termios saved;
	bool restore = false;
	size_t len;
	int r = 0;

	if (prompt && isatty(fileno(in))) {
		fputs("Pairing PIN (6 digits): ", prompt);
		fflush(prompt);
		restore = echo_off(fileno(in), &saved);
	}
	if (!fgets(line, sizeof(line), in))
		r = ferror(in) ? -EIO : -ENODATA;
	if (restore)
		(void)tcsetattr(fileno(in), TCSAFLUSH, &saved);
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
