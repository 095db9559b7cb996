/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The tty setup of the bus port (docs/m8bus.md section 1), on a pty pair. */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "m8/serial.h"

struct pair {
	int master, slave;
	char path[128];
};

static int setup(void **state)
{
	struct pair *p = test_malloc(sizeof(*p));
	if (openpty(&p->master, &p->slave, p->path, NULL, NULL) < 0)
		return -1;
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;
	if (p->master >= 0)
		close(p->master);
	close(p->slave);
	test_free(p);
	return 0;
}

static void test_settings(void **state)
{
	struct pair *p = *state;
	int fd = m8_serial_open(p->path);
	struct termios t;

	assert_true(fd >= 0);
	assert_int_equal(tcgetattr(fd, &t), 0);
	assert_int_equal(cfgetispeed(&t), B115200);
	assert_int_equal(cfgetospeed(&t), B115200);
	assert_int_equal(t.c_cflag & CSIZE, CS8);
	assert_int_equal(t.c_cflag & (PARENB | CSTOPB | CRTSCTS), 0);
	assert_int_equal(t.c_cflag & (CLOCAL | CREAD), CLOCAL | CREAD);
	assert_int_equal(t.c_iflag & (IXON | IXOFF | ICRNL | INLCR | ISTRIP), 0);
	assert_int_equal(t.c_oflag & OPOST, 0);
	assert_int_equal(t.c_lflag & (ICANON | ECHO | ISIG | IEXTEN), 0);
	int fl = fcntl(fd, F_GETFL);
	assert_true(fl & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

static void test_errors(void **state)
{
	struct pair *p = *state;

	assert_int_equal(m8_serial_open("/nonexistent/ttyS9"), -ENOENT);
	assert_int_equal(m8_serial_open("/dev/null"), -ENOTTY);
	assert_int_equal(m8_serial_open(""), -EINVAL);
	assert_int_equal(m8_serial_open(NULL), -EINVAL);
	int fd = m8_serial_open(p->path);
	assert_true(fd >= 0);
	assert_int_equal(m8_serial_open(p->path), -EBUSY);
	close(fd);
	fd = m8_serial_open(p->path);
	assert_true(fd >= 0);
	close(fd);
}

/* Each failure names its step and errno (issue 12: "not open" said neither). */
static void test_errors_named(void **state)
{
	struct pair *p = *state;
	char why[256], want[400];

	assert_int_equal(m8_serial_open_why("/nonexistent/ttyS9", why, sizeof(why)), -ENOENT);
	assert_string_equal(why, "opening /nonexistent/ttyS9: No such file or directory");
	assert_int_equal(m8_serial_open_why("/dev/null", why, sizeof(why)), -ENOTTY);
	assert_string_equal(
	        why,
	        "taking exclusive use (TIOCEXCL) of /dev/null: Inappropriate ioctl for device");
	int fd = m8_serial_open_why(p->path, why, sizeof(why));
	assert_true(fd >= 0);
	assert_string_equal(why, "");
	assert_int_equal(m8_serial_open_why(p->path, why, sizeof(why)), -EBUSY);
	snprintf(want, sizeof(want),
	         "locking (flock; another process holds it?) %s: Device or resource busy", p->path);
	assert_string_equal(why, want);
	close(fd);
	/* A short buffer is cut, never overrun; none at all is allowed. */
	assert_int_equal(m8_serial_open_why("/nonexistent/ttyS9", why, 8), -ENOENT);
	assert_string_equal(why, "opening");
	assert_int_equal(m8_serial_open_why("/nonexistent/ttyS9", NULL, 0), -ENOENT);
}

static void test_read_write_hangup(void **state)
{
	struct pair *p = *state;
	int fd = m8_serial_open(p->path);
	uint8_t buf[16];
	const uint8_t frame[] = {0xA5, 0x01, 0x04, 0x00, 0x00, 0xB4, 0x2E};

	assert_true(fd >= 0);
	assert_int_equal(m8_serial_read(fd, buf, sizeof(buf)), 0); /* nothing yet */
	assert_int_equal(m8_serial_write(fd, frame, sizeof(frame)), 0);
	uint8_t got[16];
	assert_int_equal(read(p->master, got, sizeof(got)), (ssize_t)sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame)); /* raw: no CR/LF mangling */
	const uint8_t reply[] = {0x0A, 0x0D, 0x11, 0x13, 0xFF, 0x00};
	assert_int_equal(write(p->master, reply, sizeof(reply)), (ssize_t)sizeof(reply));
	usleep(20000);
	assert_int_equal(m8_serial_read(fd, buf, sizeof(buf)), (ssize_t)sizeof(reply));
	assert_memory_equal(buf, reply, sizeof(reply));

	/* the other end goes away: a hang-up, not "nothing to read" */
	close(p->master);
	p->master = -1;
	ssize_t r = m8_serial_read(fd, buf, sizeof(buf));
	assert_true(r == -EIO || r == -EPIPE);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_errors_named, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_read_write_hangup, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
