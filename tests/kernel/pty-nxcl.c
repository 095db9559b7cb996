/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Clears a tty's exclusive mode (TIOCNXCL), as root. The kernel stage's
 * systemd test runs it before each start of smallbmsd: the pty that stands
 * in for the board's UART keeps the daemon's TIOCEXCL while the simulator
 * holds the other end (a real UART is released on its last close). A
 * compiled program because a script interpreter's start under the guest's
 * emulated CPU would be counted in the restart's heartbeat gap.
 *
 *   pty-nxcl PATH
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: pty-nxcl PATH\n");
		return 2;
	}
	int fd = open(argv[1], O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "pty-nxcl: opening %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (ioctl(fd, TIOCNXCL) < 0) {
		fprintf(stderr, "pty-nxcl: TIOCNXCL on %s: %s\n", argv[1], strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}
