/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The simulator as a child process, and a real-time poll() loop for the master. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/macro.h"
#include "simproc.h"

uint64_t sim_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

int sim_exe_path(const char *arg, char *out, size_t cap)
{
	if (arg && arg[0]) {
		snprintf(out, cap, "%s", arg);
	} else {
		char self[4096];
		ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (k < 0) {
			int r = -errno;
			fprintf(stderr, "/proc/self/exe: %s\n", strerror(-r));
			return r;
		}
		self[k] = '\0';
		snprintf(out, cap, "%s/../src/sim/smallbms-sim", dirname(self));
	}
	if (access(out, X_OK) < 0) {
		int r = -errno;
		fprintf(stderr, "%s: %s (pass the simulator's path)\n", out, strerror(-r));
		return r;
	}
	return 0;
}

int sim_dir_init(struct simproc *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->pid = -1;
	sp->out_fd = -1;
	snprintf(sp->dir, sizeof(sp->dir), "/tmp/m8test.XXXXXX");
	if (!mkdtemp(sp->dir))
		return -errno;
	snprintf(sp->control, sizeof(sp->control), "%s/ctl", sp->dir);
	snprintf(sp->link, sizeof(sp->link), "%s/tty", sp->dir);
	return 0;
}

void sim_dir_cleanup(struct simproc *sp)
{
	sim_stop(sp);
	unlink(sp->control);
	unlink(sp->link);
	rmdir(sp->dir);
}

/* Reads one line from fd within timeout_ms; returns its length or -errno. */
static int read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t n = 0;
	uint64_t end = sim_now_us() + (uint64_t)timeout_ms * 1000;

	while (n + 1 < cap) {
		uint64_t now = sim_now_us();
		if (now >= end)
			return -ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)((end - now) / 1000) + 1);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		ssize_t k = read(fd, buf + n, 1);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			return k == 0 ? -EPIPE : -errno;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return (int)n;
		}
		n++;
	}
	return -ENOBUFS;
}

int sim_start(struct simproc *sp, const char *exe, const char *const *extra)
{
	const char *argv[32];
	size_t argc = 0;
	int pipefd[2];

	argv[argc++] = exe;
	argv[argc++] = "--control";
	argv[argc++] = sp->control;
	argv[argc++] = "--link";
	argv[argc++] = sp->link;
	for (size_t i = 0; extra && extra[i] && argc < ELEMENTSOF(argv) - 1; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;

	unlink(sp->control);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return r;
	}
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	sp->pid = pid;
	sp->out_fd = pipefd[0];

	char line[256];
	int r = read_line(sp->out_fd, line, sizeof(line), 5000);
	if (r < 0 || strncmp(line, "pty ", 4) != 0)
		return r < 0 ? r : -EPROTO;
	if (strlen(line + 4) >= sizeof(sp->pty))
		return -ENAMETOOLONG;
	memcpy(sp->pty, line + 4, strlen(line + 4) + 1);
	r = read_line(sp->out_fd, line, sizeof(line), 5000);
	if (r < 0 || strcmp(line, "ready") != 0)
		return r < 0 ? r : -EPROTO;
	return 0;
}

int sim_ctl(struct simproc *sp, const char *cmd, char *reply, size_t cap)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char line[512];

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sp->control);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	size_t len = strlen(cmd);
	if (write(fd, cmd, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		return -EIO;
	int r = read_line(fd, line, sizeof(line), 3000);
	if (r < 0)
		return r;
	if (reply)
		snprintf(reply, cap, "%s", line);
	if (strncmp(line, "ok", 2) == 0)
		return 0;
	return -EPROTO;
}

void sim_stop(struct simproc *sp)
{
	if (sp->pid > 0) {
		(void)sim_ctl(sp, "quit", NULL, 0);
		uint64_t end = sim_now_us() + 3000000;
		int status;
		while (waitpid(sp->pid, &status, WNOHANG) == 0) {
			if (sim_now_us() >= end) {
				kill(sp->pid, SIGKILL);
				waitpid(sp->pid, &status, 0);
				break;
			}
			usleep(5000);
		}
		sp->pid = -1;
	}
	if (sp->out_fd >= 0)
		close(sp->out_fd);
	sp->out_fd = -1;
}

static void drive_once(struct m8_master *m, uint64_t until_us)
{
	uint64_t now = sim_now_us();
	uint64_t deadline = m8_master_next_deadline_us(m);
	uint64_t wake = deadline < until_us ? deadline : until_us;
	int fd = m8_master_fd(m);

	if (wake > now) {
		uint64_t dt = wake - now;
		struct timespec ts = {.tv_sec = (time_t)(dt / 1000000),
		                      .tv_nsec = (long)(dt % 1000000) * 1000};
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = ppoll(&p, fd >= 0 ? 1 : 0, &ts, NULL);
		now = sim_now_us();
		if (r > 0 && p.revents) {
			m8_master_on_readable(m, now);
			return;
		}
	}
	if (now >= deadline)
		m8_master_on_timeout(m, now);
}

void sim_drive(struct m8_master *m, uint64_t dt_us)
{
	uint64_t end = sim_now_us() + dt_us;
	while (sim_now_us() < end)
		drive_once(m, end);
}

bool sim_drive_until(struct m8_master *m, uint64_t timeout_us,
                     bool (*pred)(struct m8_master *m, void *arg), void *arg)
{
	uint64_t end = sim_now_us() + timeout_us;
	while (!pred(m, arg)) {
		if (sim_now_us() >= end)
			return false;
		drive_once(m, end);
	}
	return true;
}
