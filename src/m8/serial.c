/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Serial port setup for the battery bus. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "common/macro.h"
#include "m8/master.h"
#include "m8/serial.h"

/* Says what failed into the caller's buffer; returns r. */
static int fail(int r, char *why, size_t len, const char *what, const char *path)
{
	if (why && len > 0)
		snprintf(why, len, "%s %s: %s", what, path, strerror(-r));
	return r;
}

static int configure(int fd, const char *path, char *why, size_t why_len)
{
	struct termios t;

	if (!isatty(fd))
		return fail(-ENOTTY, why, why_len, "configuring", path);
	if (tcgetattr(fd, &t) < 0)
		return fail(-errno, why, why_len, "reading the line settings (tcgetattr) of", path);
	cfmakeraw(&t);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
	t.c_cflag |= CS8 | CLOCAL | CREAD;
	t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
	/* VMIN 1 with O_NONBLOCK: an empty line reads as EAGAIN, so a read of
	 * 0 bytes can only mean a hang-up. */
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (cfsetispeed(&t, B115200) < 0 || cfsetospeed(&t, B115200) < 0)
		return fail(-errno, why, why_len, "setting 115200 baud on", path);
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		return fail(-errno, why, why_len, "setting 115200 8N1 raw (tcsetattr) on", path);
	/* Stale bytes from before we owned the line are not replies. */
	(void)tcflush(fd, TCIOFLUSH);
	return 0;
}

int m8_serial_open_why(const char *path, char *why, size_t why_len)
{
	if (why && why_len > 0)
		why[0] = '\0';
	if (!path || !*path)
		return fail(-EINVAL, why, why_len, "opening", "(no path)");

	_cleanup_close_ int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fail(-errno, why, why_len, "opening", path);
	/* TIOCEXCL does not stop root, so an advisory lock backs it up. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return fail(errno == EWOULDBLOCK ? -EBUSY : -errno, why, why_len,
		            "locking (flock; another process holds it?)", path);
	if (ioctl(fd, TIOCEXCL) < 0)
		return fail(-errno, why, why_len, "taking exclusive use (TIOCEXCL) of", path);
	int r = configure(fd, path, why, why_len);
	if (r < 0)
		return r;
	return TAKE_FD(fd);
}

int m8_serial_open(const char *path)
{
	return m8_serial_open_why(path, NULL, 0);
}

ssize_t m8_serial_read(int fd, uint8_t *buf, size_t cap)
{
	ssize_t n = read(fd, buf, cap);
	if (n > 0)
		return n;
	if (n == 0)
		return cap == 0 ? 0 : -EPIPE; /* end of file: the other side is gone */
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return -errno;
}

int m8_serial_write(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EAGAIN;
		done += (size_t)n;
	}
	return 0;
}

static int port_open(void *userdata, const char *path)
{
	return m8_serial_open(path);
}

static ssize_t port_read(void *userdata, int fd, uint8_t *buf, size_t cap)
{
	return m8_serial_read(fd, buf, cap);
}

static int port_write(void *userdata, int fd, const uint8_t *buf, size_t len)
{
	return m8_serial_write(fd, buf, len);
}

static void port_close(void *userdata, int fd)
{
	if (fd >= 0)
		close(fd);
}

const struct m8_port_ops m8_serial_port_ops = {
        .open = port_open,
        .read = port_read,
        .write = port_write,
        .close = port_close,
};
