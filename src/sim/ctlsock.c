/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim/ctlsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/macro.h"
#include "sim/control.h"

void sim_after_command(sd_event *e, struct sim_world *w, struct sim_bus *bus)
{
	if (w->garbage_pending > 0) {
		int r = sim_bus_send_garbage(bus, w->garbage_pending);

		if (r < 0)
			fprintf(stderr, "smallbms-sim: garbage not sent: %s\n", strerror(-r));
		w->garbage_pending = 0;
	}
	if (w->quit)
		sd_event_exit(e, 0);
}

static void client_close(struct sim_ctl_client *c)
{
	c->io = sd_event_source_disable_unref(c->io);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->have = 0;
	c->overlong = false;
}

static void client_reply(struct sim_ctl_client *c, const char *text)
{
	char line[SIM_CTL_LINE_MAX + 16];
	size_t len = (size_t)snprintf(line, sizeof(line), "%s\n", text), off = 0;

	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	while (off < len) {
		ssize_t n = send(c->fd, line + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* a client that does not read its answers is dropped */
			client_close(c);
			return;
		}
		off += (size_t)n;
	}
}

static void client_line(struct sim_ctl_client *c, char *line)
{
	struct sim_ctlsock *cs = c->owner;
	char out[256];
	size_t len = strlen(line);

	if (len > 0 && line[len - 1] == '\r')
		line[len - 1] = '\0';
	sim_bank_advance(&cs->world->bank, sim_now_ns() / 1000);
	sim_control_line(cs->world, line, out, sizeof(out));
	client_reply(c, out);
	sim_after_command(cs->event, cs->world, cs->bus);
}

static int on_client(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct sim_ctl_client *c = userdata;
	ssize_t n;

	n = recv(fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		client_close(c);
		return 0;
	}
	c->have += (size_t)n;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->have);
		size_t used;

		if (!nl) {
			if (c->have == sizeof(c->buf)) {
				/* answer once, then drop the rest of that line */
				if (!c->overlong)
					client_reply(c, "error: line too long");
				if (c->fd < 0)
					return 0;
				c->overlong = true;
				c->have = 0;
			}
			return 0;
		}
		*nl = '\0';
		used = (size_t)(nl - c->buf) + 1;
		if (!c->overlong)
			client_line(c, c->buf);
		c->overlong = false;
		if (c->fd < 0)
			return 0;
		memmove(c->buf, c->buf + used, c->have - used);
		c->have -= used;
	}
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct sim_ctlsock *cs = userdata;
	_cleanup_close_ int cfd = -1;
	unsigned i;
	int r;

	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	for (i = 0; i < SIM_CTL_MAX_CLIENTS; i++)
		if (cs->clients[i].fd < 0)
			break;
	if (i == SIM_CTL_MAX_CLIENTS) {
		static const char msg[] = "error: too many control connections\n";

		(void)!send(cfd, msg, sizeof(msg) - 1, MSG_NOSIGNAL);
		return 0;
	}
	r = sd_event_add_io(cs->event, &cs->clients[i].io, cfd, EPOLLIN, on_client,
	                    &cs->clients[i]);
	if (r < 0)
		return 0;
	cs->clients[i].fd = TAKE_FD(cfd);
	cs->clients[i].have = 0;
	cs->clients[i].overlong = false;
	return 0;
}

int sim_ctlsock_open(struct sim_ctlsock *cs, sd_event *e, const char *path, struct sim_world *w,
                     struct sim_bus *bus)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	unsigned i;
	int r;

	memset(cs, 0, sizeof(*cs));
	cs->listen_fd = -1;
	for (i = 0; i < SIM_CTL_MAX_CLIENTS; i++) {
		cs->clients[i].fd = -1;
		cs->clients[i].owner = cs;
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	/* a socket left by a simulator that died is replaced; anything else is not */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (unlink(path) < 0)
			return -errno;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (listen(fd, 8) < 0) {
		r = -errno;
		unlink(path);
		return r;
	}
	cs->path = strdup(path);
	if (!cs->path) {
		unlink(path);
		return -ENOMEM;
	}
	r = sd_event_add_io(e, &cs->listen_io, fd, EPOLLIN, on_accept, cs);
	if (r < 0) {
		unlink(path);
		cs->path = (free(cs->path), NULL);
		return r;
	}
	cs->event = e;
	cs->world = w;
	cs->bus = bus;
	cs->listen_fd = TAKE_FD(fd);
	return 0;
}

void sim_ctlsock_close(struct sim_ctlsock *cs)
{
	unsigned i;

	for (i = 0; i < SIM_CTL_MAX_CLIENTS; i++)
		client_close(&cs->clients[i]);
	cs->listen_io = sd_event_source_disable_unref(cs->listen_io);
	if (cs->listen_fd >= 0)
		close(cs->listen_fd);
	cs->listen_fd = -1;
	if (cs->path)
		unlink(cs->path);
	free(cs->path);
	cs->path = NULL;
}
