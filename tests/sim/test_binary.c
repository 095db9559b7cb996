/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real smallbms-sim binary, driven through its pty as the BMS would:
 * the test vector frames of docs/m8bus.md section 2, the control socket, and a
 * clean exit that removes the link and the socket. argv[1] is the binary.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "smallbms/m8_proto.h"

/* Generous: the binary may run under the sanitizers on a busy machine.
 * These bound a wait, they are no assertion on speed. */
#define START_TIMEOUT_MS 20000
#define REPLY_WAIT_MS    300

static const char *sim_path;

struct proc {
	pid_t pid;
	int out; /* the simulator's stdout */
	char dir[64];
	char link[96];
	char sock[96];
	char pty[128]; /* holds any "pty PATH" line read into line[128] */
	int bus;
	int ctl;
	uint8_t seq;
};

static void read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char c;

		assert_int_equal(poll(&p, 1, START_TIMEOUT_MS), 1);
		assert_int_equal(read(fd, &c, 1), 1);
		if (c == '\n')
			break;
		assert_true(n + 1 < cap);
		buf[n++] = c;
	}
	buf[n] = '\0';
}

static void start(struct proc *p, const char *const *extra)
{
	const char *argv[24];
	char line[128];
	int pipefd[2], argc = 0;

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/test-sim-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->link, sizeof(p->link), "%s/ttyM8", p->dir);
	snprintf(p->sock, sizeof(p->sock), "%s/control", p->dir);
	argv[argc++] = sim_path;
	argv[argc++] = "--link";
	argv[argc++] = p->link;
	argv[argc++] = "--control";
	argv[argc++] = p->sock;
	for (; extra && *extra; extra++)
		argv[argc++] = *extra;
	argv[argc] = NULL;

	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		/* never outlive a test that failed half-way */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pipefd[1], STDOUT_FILENO);
		execv(sim_path, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	p->out = pipefd[0];

	read_line(p->out, line, sizeof(line));
	assert_memory_equal(line, "pty /dev/", 9);
	int n = snprintf(p->pty, sizeof(p->pty), "%s", line + 4);
	assert_true(n > 0 && (size_t)n < sizeof(p->pty));
	read_line(p->out, line, sizeof(line));
	assert_string_equal(line, "ready");
}

static void open_bus(struct proc *p)
{
	struct termios t;
	char target[64];
	ssize_t n;

	/* the link points at the pty it printed */
	n = readlink(p->link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, p->pty);
	p->bus = open(p->link, O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(p->bus >= 0);
	assert_int_equal(tcgetattr(p->bus, &t), 0);
	cfmakeraw(&t);
	assert_int_equal(tcsetattr(p->bus, TCSANOW, &t), 0);
}

static void open_control(struct proc *p)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	p->ctl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->ctl >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->sock);
	assert_int_equal(connect(p->ctl, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void control(struct proc *p, const char *cmd, char *reply, size_t cap)
{
	char line[256];

	snprintf(line, sizeof(line), "%s\n", cmd);
	assert_int_equal(write(p->ctl, line, strlen(line)), (ssize_t)strlen(line));
	read_line(p->ctl, reply, cap);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void send_frame(struct proc *p, uint8_t addr, uint8_t cmd, const uint8_t *payload,
                       uint8_t len, uint8_t *wire, size_t *wire_len)
{
	struct m8_frame f = {.addr = addr, .cmd = cmd, .seq = p->seq++, .len = len};
	uint8_t buf[M8_MAX_FRAME];
	int n;

	if (len)
		memcpy(f.payload, payload, len);
	n = m8_frame_encode(&f, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(write(p->bus, buf, (size_t)n), n);
	if (wire) {
		memcpy(wire, buf, (size_t)n);
		*wire_len = (size_t)n;
	}
}

struct got {
	unsigned frames;
	struct m8_frame f;
};

static void on_frame(const struct m8_frame *f, void *userdata)
{
	struct got *g = userdata;

	g->f = *f;
	g->frames++;
}

/* Collects what comes back within REPLY_WAIT_MS. */
static unsigned receive(struct proc *p, struct got *g, size_t *bytes)
{
	struct m8_parser parser;
	struct pollfd pf = {.fd = p->bus, .events = POLLIN};
	uint8_t buf[512];

	memset(g, 0, sizeof(*g));
	*bytes = 0;
	m8_parser_init(&parser);
	while (poll(&pf, 1, REPLY_WAIT_MS) == 1) {
		ssize_t n = read(p->bus, buf, sizeof(buf));

		assert_true(n > 0);
		*bytes += (size_t)n;
		m8_parser_feed(&parser, buf, (size_t)n, on_frame, g);
		if (g->frames && !m8_parser_busy(&parser))
			break;
	}
	return g->frames;
}

static void finish(struct proc *p, int sig)
{
	struct stat st;
	int status;

	if (sig)
		assert_int_equal(kill(p->pid, sig), 0);
	assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
	p->pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the link and the socket are gone */
	assert_int_equal(lstat(p->link, &st), -1);
	assert_int_equal(lstat(p->sock, &st), -1);
	if (p->bus > 0)
		close(p->bus);
	if (p->ctl > 0)
		close(p->ctl);
	close(p->out);
	assert_int_equal(rmdir(p->dir), 0);
}

static void spec_vectors_through_the_pty(void **state)
{
	static const uint8_t status_vector[] = {0xA5, 0x01, 0x04, 0x00, 0x00, 0xB4, 0x2E};
	static const uint8_t assign_vector[] = {0xA5, 0x00, 0x02, 0x00, 0x01, 0x01, 0x74, 0xDF};
	struct proc *p = *state;
	struct got g;
	struct m8_info info;
	struct m8_status st;
	uint8_t wire[M8_MAX_FRAME];
	size_t wire_len, bytes;
	char reply[256];
	int i;

	start(p, (const char *const[]){"--series", "2", "--soc", "50", NULL});
	open_bus(p);
	open_control(p);

	for (i = 0; i < 3; i++) {
		send_frame(p, M8_ADDR_BROADCAST, M8_CMD_RESET, NULL, 0, NULL, NULL);
		sleep_ms(20);
	}
	sleep_ms(100);

	p->seq = 0;
	send_frame(p, M8_ADDR_UNADDRESSED, M8_CMD_ASSIGN, (const uint8_t[]){1}, 1, wire, &wire_len);
	assert_int_equal(wire_len, sizeof(assign_vector));
	assert_memory_equal(wire, assign_vector, sizeof(assign_vector));
	assert_int_equal(receive(p, &g, &bytes), 1);
	assert_int_equal(bytes, 7 + M8_INFO_LEN); /* RESET got no reply */
	assert_int_equal(g.f.addr, 1);
	assert_int_equal(g.f.cmd, 0x82);
	assert_int_equal(g.f.seq, 0);
	assert_int_equal(m8_info_decode(&info, g.f.payload, g.f.len), 0);
	assert_string_equal(info.serial, "HQ2402JJ001");
	assert_int_equal(info.type, 1);
	assert_int_equal(info.cells, 4);
	assert_int_equal(info.flags, 0); /* two batteries: not the last */
	sleep_ms(10);

	p->seq = 0;
	send_frame(p, 1, M8_CMD_GET_STATUS, NULL, 0, wire, &wire_len);
	assert_int_equal(wire_len, sizeof(status_vector));
	assert_memory_equal(wire, status_vector, sizeof(status_vector));
	assert_int_equal(receive(p, &g, &bytes), 1);
	assert_int_equal(g.f.addr, 1);
	assert_int_equal(g.f.cmd, 0x84);
	assert_int_equal(g.f.seq, 0);
	assert_int_equal(m8_status_decode(&st, g.f.payload, g.f.len), 0);
	assert_int_equal(st.n_cells, 4);
	assert_int_equal(st.n_temps, 2);
	for (i = 0; i < 4; i++)
		assert_in_range(st.cell_mv[i], 3250, 3330);

	/* the second battery is reachable now, and it ends the chain */
	p->seq = 1;
	send_frame(p, M8_ADDR_UNADDRESSED, M8_CMD_ASSIGN, (const uint8_t[]){2}, 1, NULL, NULL);
	assert_int_equal(receive(p, &g, &bytes), 1);
	assert_int_equal(m8_info_decode(&info, g.f.payload, g.f.len), 0);
	assert_string_equal(info.serial, "HQ2402JJ002");
	assert_int_equal(info.flags, M8_INFO_CHAIN_END);

	/* a fault injected over the socket shows on the line */
	control(p, "cell 2 3 3712", reply, sizeof(reply));
	assert_string_equal(reply, "ok");
	send_frame(p, 2, M8_CMD_GET_STATUS, NULL, 0, NULL, NULL);
	assert_int_equal(receive(p, &g, &bytes), 1);
	assert_int_equal(m8_status_decode(&st, g.f.payload, g.f.len), 0);
	assert_int_equal(st.cell_mv[2], 3712);
	control(p, "silent 1 on", reply, sizeof(reply));
	assert_string_equal(reply, "ok");
	send_frame(p, 2, M8_CMD_GET_STATUS, NULL, 0, NULL, NULL);
	assert_int_equal(receive(p, &g, &bytes), 0);
	assert_int_equal(bytes, 0);

	control(p, "bogus 1", reply, sizeof(reply));
	assert_string_equal(reply, "error: unknown command 'bogus'");
	control(p, "stats", reply, sizeof(reply));
	/* (the ASSIGN gap is this test's timing, not checked here) */
	const char *counts = "ok requests=8 replies=4 resets=3 assigns=2 assign-gap-min-us=";
	assert_memory_equal(reply, counts, strlen(counts));
	control(p, "quit", reply, sizeof(reply));
	assert_string_equal(reply, "ok");
	finish(p, 0);
}

/* docs/m8bus.md section 1: a receiver drops a partial frame after 2 ms of idle
 * line. Without that, the SOF of the next frame would be taken for payload
 * (LEN 0xA5) and the whole request swallowed. */
static void partial_frame_dropped_after_idle(void **state)
{
	static const uint8_t partial[] = {0xA5, 0x01, 0x04, 0x07}; /* up to SEQ */
	struct proc *p = *state;
	struct got g;
	size_t bytes;
	char reply[256];
	int i;

	start(p, NULL);
	open_bus(p);
	open_control(p);
	for (i = 0; i < 3; i++) {
		send_frame(p, M8_ADDR_BROADCAST, M8_CMD_RESET, NULL, 0, NULL, NULL);
		sleep_ms(20);
	}
	sleep_ms(100);
	send_frame(p, M8_ADDR_UNADDRESSED, M8_CMD_ASSIGN, (const uint8_t[]){1}, 1, NULL, NULL);
	assert_int_equal(receive(p, &g, &bytes), 1);
	sleep_ms(10);

	assert_int_equal(write(p->bus, partial, sizeof(partial)), (ssize_t)sizeof(partial));
	sleep_ms(20);
	send_frame(p, 1, M8_CMD_GET_STATUS, NULL, 0, NULL, NULL);
	assert_int_equal(receive(p, &g, &bytes), 1);
	assert_int_equal(g.f.cmd, 0x84);
	assert_int_equal(g.f.seq, p->seq - 1);
	control(p, "quit", reply, sizeof(reply));
	finish(p, 0);
}

static void garbage_on_the_line(void **state)
{
	struct proc *p = *state;
	struct got g;
	size_t bytes, total = 0;
	char reply[256];

	start(p, NULL);
	open_bus(p);
	open_control(p);
	control(p, "garbage 40", reply, sizeof(reply));
	assert_string_equal(reply, "ok");
	while (total < 40 && receive(p, &g, &bytes) == 0 && bytes > 0)
		total += bytes;
	assert_int_equal(total, 40);
	finish(p, SIGTERM);
}

static void bad_scenario_refused(void **state)
{
	char path[] = "/tmp/test-sim-scn-XXXXXX";
	int fd = mkstemp(path), status;
	pid_t pid;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "current 5\nsilent 3 on\n", 22), 22);
	close(fd);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execl(sim_path, sim_path, "--scenario", path, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	unlink(path);
}

static int proc_setup(void **state)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (!p)
		return -1;
	*state = p;
	return 0;
}

/* After a failure half-way: stop the simulator and clean up after it. */
static int proc_teardown(void **state)
{
	struct proc *p = *state;

	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		unlink(p->link);
		unlink(p->sock);
		rmdir(p->dir);
	}
	free(p);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(spec_vectors_through_the_pty, proc_setup,
	                                        proc_teardown),
	        cmocka_unit_test_setup_teardown(partial_frame_dropped_after_idle, proc_setup,
	                                        proc_teardown),
	        cmocka_unit_test_setup_teardown(garbage_on_the_line, proc_setup, proc_teardown),
	        cmocka_unit_test(bad_scenario_refused),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-smallbms-sim\n", argv[0]);
		return 2;
	}
	sim_path = argv[1];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
