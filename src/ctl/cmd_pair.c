/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bluetooth pair: opens the daemon's pairing window (Bluetooth1.OpenPairing)
 * and stays with it. The daemon sends this client, and only it, each
 * pairing request: a number to compare with the phone's (answered here with
 * y or n, ConfirmPairing) or a passkey to type on the phone. Ends when a
 * phone bonded (exit 0), or the window closed without one (exit 1). An
 * interrupt closes the window. "bluetooth pair close" only closes it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"

#define ERR_NOT_AVAILABLE "org.smallbms.Error.NotAvailable"

struct pair {
	struct ctl *c;
	const char *daemon;  /* unique name of org.smallbms: signals only from it */
	uint64_t waiting_id; /* a numeric comparison waiting for y/n; 0 none */
	bool stdin_open;
	bool ended;
	int exit;
	char line[64];
	size_t line_len;
};

/* A name or address from a phone, for the terminal: printable ASCII kept,
 * everything else as \xNN, so that a hostile name cannot drive it. */
static void term_escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && outlen > 0; p++) {
		char piece[5];
		size_t n;

		if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
			snprintf(piece, sizeof(piece), "%c", *p);
		else
			snprintf(piece, sizeof(piece), "\\x%02x", *p);
		n = strlen(piece);
		if (o + n >= outlen)
			break;
		memcpy(out + o, piece, n);
		o += n;
	}
	if (outlen > 0)
		out[o] = '\0';
}

static bool from_daemon(const struct pair *p, sd_bus_message *m)
{
	const char *sender = sd_bus_message_get_sender(m);

	return sender && p->daemon && strcmp(sender, p->daemon) == 0;
}

static int on_request(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct pair *p = userdata;
	const char *kind, *address, *name;
	char ename[256], eaddr[64];
	uint64_t id;
	uint32_t passkey, left;

	if (!from_daemon(p, m) ||
	    sd_bus_message_read(m, "tsssuu", &id, &kind, &address, &name, &passkey, &left) < 0)
		return 0;
	term_escape(name, ename, sizeof(ename));
	term_escape(address, eaddr, sizeof(eaddr));
	if (strcmp(kind, "confirm") == 0) {
		printf("\nPhone %s \"%s\" asks to pair.\n"
		       "Does the phone show %06u? Answer y (same number) or n within %u s, and "
		       "accept on the phone too: ",
		       eaddr, ename, passkey, left);
		p->waiting_id = id;
		if (!p->stdin_open) {
			printf("\nno answer possible (standard input closed): rejected\n");
			(void)sd_bus_call_method(p->c->bus, CTL_BUS_NAME, CTL_BLUETOOTH_PATH,
			                         CTL_BLUETOOTH_IFACE, "ConfirmPairing", NULL, NULL,
			                         "tb", id, 0);
			p->waiting_id = 0;
		}
	} else {
		printf("\nPhone %s \"%s\" asks to pair.\n"
		       "Type %06u on the phone within %u s.\n",
		       eaddr, ename, passkey, left);
	}
	fflush(stdout);
	return 0;
}

static int on_request_ended(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct pair *p = userdata;
	const char *outcome;
	uint64_t id;

	if (!from_daemon(p, m) || sd_bus_message_read(m, "ts", &id, &outcome) < 0)
		return 0;
	if (id == p->waiting_id)
		p->waiting_id = 0;
	if (strcmp(outcome, "confirmed") == 0)
		printf("Confirmed; waiting for the phone to finish.\n");
	else if (strcmp(outcome, "timeout") == 0)
		printf("\nNo answer within the phone's time limit: that attempt failed.\n");
	else
		printf("\nThat pairing attempt ended: %s.\n", outcome);
	fflush(stdout);
	return 0;
}

static int on_ended(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct pair *p = userdata;
	const char *reason, *address, *name;
	char ename[256], eaddr[64];

	if (!from_daemon(p, m) || sd_bus_message_read(m, "sss", &reason, &address, &name) < 0)
		return 0;
	term_escape(name, ename, sizeof(ename));
	term_escape(address, eaddr, sizeof(eaddr));
	if (strcmp(reason, "bonded") == 0) {
		printf("Bonded with %s \"%s\". Pairing window closed.\n", eaddr, ename);
		p->exit = CTL_EXIT_OK;
	} else {
		printf("Pairing window closed (%s); no phone bonded.\n", reason);
		p->exit = CTL_EXIT_FAILED;
	}
	fflush(stdout);
	p->ended = true;
	return 0;
}

static int on_daemon_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct pair *p = userdata;
	const char *name, *old_owner, *new_owner;

	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
		return 0;
	if (strcmp(name, CTL_BUS_NAME) == 0 && !new_owner[0]) {
		fprintf(stderr, "smallbmsctl: %s: smallbmsd stopped\n", p->c->what);
		p->exit = CTL_EXIT_NOT_RUNNING;
		p->ended = true;
	}
	return 0;
}

static void answer(struct pair *p, const char *line)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	bool yes = strcmp(line, "y") == 0 || strcmp(line, "yes") == 0 || strcmp(line, "Y") == 0;
	uint64_t id = p->waiting_id;
	int r;

	if (id == 0)
		return; /* nothing asked: ignore the line */
	p->waiting_id = 0;
	r = sd_bus_call_method(p->c->bus, CTL_BUS_NAME, CTL_BLUETOOTH_PATH, CTL_BLUETOOTH_IFACE,
	                       "ConfirmPairing", &e, NULL, "tb", id, (int)yes);
	if (r < 0)
		printf("Too late: %s\n", e.message ? e.message : strerror(-r));
	else if (!yes)
		printf("Rejected.\n");
	fflush(stdout);
	sd_bus_error_free(&e);
}

static void read_stdin(struct pair *p)
{
	char buf[64];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n <= 0) {
		if (n < 0 && errno == EINTR)
			return;
		p->stdin_open = false;
		if (p->waiting_id) {
			printf("\nstandard input closed: rejected\n");
			answer(p, "n");
		}
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			p->line[p->line_len] = '\0';
			if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
				p->line[p->line_len - 1] = '\0';
			answer(p, p->line);
			p->line_len = 0;
		} else if (p->line_len + 1 < sizeof(p->line)) {
			p->line[p->line_len++] = buf[i];
		}
	}
}

static int add_signal_match(struct pair *p, const char *member, sd_bus_message_handler_t cb)
{
	return sd_bus_match_signal(p->c->bus, NULL, NULL, CTL_BLUETOOTH_PATH, CTL_BLUETOOTH_IFACE,
	                           member, cb, p);
}

static int close_window(struct ctl *c)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_BLUETOOTH_PATH, CTL_BLUETOOTH_IFACE,
	                           "ClosePairing", &e, NULL, NULL);

	if (r < 0) {
		r = ctl_fail(c, r, &e);
		sd_bus_error_free(&e);
		return r;
	}
	return CTL_EXIT_OK;
}

static int loop(struct pair *p, int sfd)
{
	while (!p->ended) {
		struct pollfd fds[3] = {
		        {.fd = sd_bus_get_fd(p->c->bus),
		         .events = (short)sd_bus_get_events(p->c->bus)},
		        {.fd = sfd, .events = POLLIN},
		        {.fd = p->stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
		};
		uint64_t until = 0;
		int timeout_ms = -1, r;

		r = sd_bus_process(p->c->bus, NULL);
		if (r < 0) {
			fprintf(stderr, "smallbmsctl: %s: bus: %s\n", p->c->what, strerror(-r));
			return CTL_EXIT_FAILED;
		}
		if (r > 0)
			continue;
		if (fds[0].fd < 0)
			return CTL_EXIT_FAILED;
		if (sd_bus_get_timeout(p->c->bus, &until) >= 0 && until != UINT64_MAX) {
			struct timespec ts;
			uint64_t now;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			now = (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
			timeout_ms = until > now ? (int)((until - now + 999) / 1000) : 0;
		}
		fds[0].events = (short)sd_bus_get_events(p->c->bus);
		r = poll(fds, 3, timeout_ms);
		if (r < 0 && errno != EINTR)
			return CTL_EXIT_FAILED;
		if (r > 0 && (fds[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			(void)read(sfd, &si, sizeof(si));
			printf("\nInterrupted: closing the pairing window.\n");
			fflush(stdout);
			(void)close_window(p->c);
			return CTL_EXIT_FAILED;
		}
		if (r > 0 && p->stdin_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR)))
			read_stdin(p);
	}
	return p->exit;
}

int ctl_cmd_bt_pair(struct ctl *c)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	struct pair p = {.c = c, .stdin_open = true, .exit = CTL_EXIT_FAILED};
	sigset_t mask, old;
	int r, sfd;

	if (c->args->pair_close)
		return close_window(c);
	/* Listen before opening: a phone may ask at once. */
	r = add_signal_match(&p, "PairingRequest", on_request);
	if (r >= 0)
		r = add_signal_match(&p, "PairingRequestEnded", on_request_ended);
	if (r >= 0)
		r = add_signal_match(&p, "PairingEnded", on_ended);
	if (r >= 0)
		r = sd_bus_match_signal(c->bus, NULL, "org.freedesktop.DBus",
		                        "/org/freedesktop/DBus", "org.freedesktop.DBus",
		                        "NameOwnerChanged", on_daemon_owner, &p);
	if (r < 0) {
		fprintf(stderr, "smallbmsctl: %s: cannot listen for the daemon's signals: %s\n",
		        c->what, strerror(-r));
		return CTL_EXIT_FAILED;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, &old) < 0)
		return CTL_EXIT_FAILED;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "smallbmsctl: %s: signalfd: %s\n", c->what, strerror(errno));
		(void)sigprocmask(SIG_SETMASK, &old, NULL);
		return CTL_EXIT_FAILED;
	}
	{
		sd_bus_message *reply = NULL;

		r = sd_bus_call_method(c->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
		                       "org.freedesktop.DBus", "GetNameOwner", &e, &reply, "s",
		                       CTL_BUS_NAME);
		if (r >= 0) {
			const char *owner;

			r = sd_bus_message_read(reply, "s", &owner);
			if (r >= 0)
				p.daemon = strdup(owner);
			if (r >= 0 && !p.daemon)
				r = -ENOMEM;
		}
		sd_bus_message_unref(reply);
	}
	if (r >= 0)
		r = sd_bus_call_method(c->bus, CTL_BUS_NAME, CTL_BLUETOOTH_PATH,
		                       CTL_BLUETOOTH_IFACE, "OpenPairing", &e, NULL, "u",
		                       (uint32_t)c->args->pair_timeout_s);
	if (r < 0) {
		if (sd_bus_error_has_name(&e, ERR_NOT_AVAILABLE))
			fprintf(stderr, "smallbmsctl: %s: %s\n", c->what, e.message);
		r = sd_bus_error_has_name(&e, ERR_NOT_AVAILABLE) ? CTL_EXIT_FAILED
		                                                 : ctl_fail(c, r, &e);
		sd_bus_error_free(&e);
		goto out;
	}
	printf("Pairing window open for %u s. On the phone, scan for \"smallbms\" (nRF Connect, "
	       "or the phone's Bluetooth settings) and pair.\n"
	       "Each request shows here; answer it within about 30 s. Ctrl-C closes the "
	       "window.\n",
	       c->args->pair_timeout_s);
	fflush(stdout);
	r = loop(&p, sfd);
out:
	close(sfd);
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	free((char *)p.daemon);
	return r;
}
