/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-id128.h>

#include "common/macro.h"
#include "mqtt/mqtt.h"
#include "mqtt/mqtt_payload.h"

/* The node id when none is configured: from the machine id, app-specific,
 * so that it is stable and does not reveal the machine id. */
#define NODE_APP_ID SD_ID128_MAKE(6b, 1f, 0e, 42, 9a, 5c, 4d, 37, 8e, 21, c4, 70, 3d, 9b, 58, e6)

/* libmosquitto's last error line, where its callbacks can write it: the
 * first member of both structs that are a connection's user data. */
struct logbuf {
	char err[256];
};

/* One connect in its thread. The loop owns it until the thread starts and
 * after `done`; `abandoned` (mqtt_free during the connect) hands the
 * clean-up to the thread. */
struct attempt {
	struct logbuf log;
	pthread_mutex_t lock;
	bool done, abandoned;
	int efd;
	struct mosquitto *mosq;
	char host[MQTT_HOST_MAX];
	uint16_t port;
	int rc, err; /* MOSQ_ERR_*, errno (or the getaddrinfo code) */
};

enum conn_state {
	ST_WAIT,      /* until retry_us */
	ST_RESOLVING, /* the connect thread runs */
	ST_HANDSHAKE, /* TCP, TLS, CONNECT/CONNACK on the loop */
	ST_CONNECTED,
};

struct mqtt {
	struct logbuf log;
	sd_event *event;
	struct mqtt_config cfg;
	struct mqtt_names names;
	char client_id[MQTT_NODE_ID_MAX + 16];
	mqtt_log_fn log_fn;
	void *log_data;

	enum conn_state st;
	struct attempt *att;
	sd_event_source *att_io, *io, *timer;
	struct mosquitto *mosq;
	uint64_t retry_us, backoff_us, started_us;
	bool refused; /* CONNACK said no (rc below) */
	int connack_rc;
	bool ever_connected;
	bool outage_said, refusal_said; /* in this outage; cleared by a connection */

	const struct svc_snapshot *snap;
	uint64_t next_values_us;
	bool discovery_due;
	char last_status[MQTT_PAYLOAD_MAX];
	char announced[SVC_MAX_BATTERIES][MQTT_BATTERY_ID_MAX];
	unsigned n_announced;
};

static void say(struct mqtt *m, int prio, const char *fmt, ...) _printf_(3, 4);
static void say(struct mqtt *m, int prio, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m->log_fn)
		m->log_fn(m->log_data, prio, msg);
}

static void on_mosq_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
	struct logbuf *lb = obj;

	if (lb && (level & MOSQ_LOG_ERR))
		snprintf(lb->err, sizeof(lb->err), "%s", str);
}

/* ---- the connect thread ---- */

static void *connect_thread(void *arg)
{
	struct attempt *a = arg;
	uint64_t one = 1;

	int rc = mosquitto_connect_async(a->mosq, a->host, a->port, MQTT_KEEPALIVE_S);
	int err = errno;

	pthread_mutex_lock(&a->lock);
	a->rc = rc;
	a->err = err;
	a->done = true;
	bool abandoned = a->abandoned;
	if (!abandoned && write(a->efd, &one, sizeof(one)) < 0) {
		/* an eventfd write of 1 cannot fail short of a bug; the loop's
		 * connect timeout recovers */
	}
	pthread_mutex_unlock(&a->lock);
	if (abandoned) {
		mosquitto_destroy(a->mosq);
		close(a->efd);
		pthread_mutex_destroy(&a->lock);
		free(a);
	}
	return NULL;
}

static void attempt_free(struct attempt *a)
{
	if (!a)
		return;
	if (a->mosq)
		mosquitto_destroy(a->mosq);
	if (a->efd >= 0)
		close(a->efd);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* mqtt_free while the thread runs: it cleans up when it is done. */
static void attempt_abandon(struct attempt *a)
{
	pthread_mutex_lock(&a->lock);
	bool done = a->done;
	a->abandoned = !done;
	pthread_mutex_unlock(&a->lock);
	if (done)
		attempt_free(a);
}

/* ---- failures and back-off ---- */

static void drop_connection(struct mqtt *m)
{
	m->io = sd_event_source_disable_unref(m->io);
	if (m->mosq) {
		mosquitto_destroy(m->mosq);
		m->mosq = NULL;
	}
}

/* The connection failed or went away: back off, and say so once per
 * outage: the first failure, and a refusal by the broker (user or password
 * wrong: a configuration to fix) once more. Never per attempt. */
static void fail(struct mqtt *m, uint64_t now, const char *why)
{
	bool was_connected = m->st == ST_CONNECTED;

	drop_connection(m);
	m->st = ST_WAIT;
	if (was_connected)
		m->backoff_us = MQTT_BACKOFF_MIN_US;
	m->retry_us = now + m->backoff_us;
	m->backoff_us =
	        m->backoff_us * 2 > MQTT_BACKOFF_MAX_US ? MQTT_BACKOFF_MAX_US : m->backoff_us * 2;
	if (m->refused ? !m->refusal_said : !m->outage_said)
		say(m, was_connected || m->refused ? LOG_ERR : LOG_WARNING,
		    "%s %s: %s; retrying with back-off (1 s doubling to 60 s), said again once "
		    "connected",
		    was_connected ? "lost the broker" : "cannot connect to", m->cfg.uri, why);
	if (m->refused)
		m->refusal_said = true;
	m->outage_said = true;
	m->refused = false;
}

static const char *mosq_why(struct mqtt *m, int rc, int err, char *buf, size_t size)
{
	if (rc == MOSQ_ERR_EAI)
		snprintf(buf, size, "resolving %s: %s", m->cfg.host, gai_strerror(err));
	else if (rc == MOSQ_ERR_ERRNO)
		/* what the unit's sandbox answers when the drop-in is missing */
		snprintf(buf, size, "%s%s", strerror(err),
		         err == EAFNOSUPPORT || err == EPERM || err == EACCES || err == ENETUNREACH
		                 ? " (under systemd: is the network allowed? see "
		                   "/usr/share/doc/smallbmsd/mqtt.conf.example)"
		                 : "");
	else if (rc == MOSQ_ERR_TLS && m->log.err[0])
		snprintf(buf, size, "TLS: %s", m->log.err);
	else if (m->log.err[0])
		snprintf(buf, size, "%s (%s)", mosquitto_strerror(rc), m->log.err);
	else
		snprintf(buf, size, "%s", mosquitto_strerror(rc));
	return buf;
}

/* ---- publishing ---- */

static void update_io(struct mqtt *m)
{
	if (m->io && m->mosq)
		sd_event_source_set_io_events(
		        m->io, EPOLLIN | (mosquitto_want_write(m->mosq) ? EPOLLOUT : 0));
}

static void pub(struct mqtt *m, const char *topic, const char *payload, int qos, bool retain)
{
	int rc =
	        mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload), payload, qos, retain);
	/* A failed publish means the connection broke: the next read or
	 * write says so and reconnects. Nothing else to do here. */
	(void)rc;
}

static void publish_discovery(struct mqtt *m)
{
	char topic[MQTT_TOPIC_MAX], payload[MQTT_PAYLOAD_MAX];

	for (unsigned i = 0; i < mqtt_bank_entity_count(); i++)
		if (mqtt_bank_discovery(&m->names, i, topic, sizeof(topic), payload,
		                        sizeof(payload)) >= 0)
			pub(m, topic, payload, 1, true);
	m->n_announced = 0;
	m->discovery_due = false;
}

/* Each battery's entities, once per connection (and after HA's birth). */
static void announce_batteries(struct mqtt *m, const struct svc_snapshot *s)
{
	char topic[MQTT_TOPIC_MAX], payload[MQTT_PAYLOAD_MAX], id[MQTT_BATTERY_ID_MAX];

	for (unsigned i = 0; i < s->n_batteries; i++) {
		const struct svc_battery *b = &s->bat[i];
		bool known = false;

		mqtt_battery_id(b, id, sizeof(id));
		for (unsigned k = 0; k < m->n_announced && !known; k++)
			known = strcmp(m->announced[k], id) == 0;
		if (known || m->n_announced >= SVC_MAX_BATTERIES)
			continue;
		for (unsigned e = 0; e < mqtt_battery_entity_count(); e++)
			if (mqtt_battery_discovery(&m->names, b, e, topic, sizeof(topic), payload,
			                           sizeof(payload)) >= 0)
				pub(m, topic, payload, 1, true);
		snprintf(m->announced[m->n_announced++], MQTT_BATTERY_ID_MAX, "%s", id);
	}
}

static void publish_values(struct mqtt *m, const struct svc_snapshot *s)
{
	char topic[MQTT_TOPIC_MAX], payload[MQTT_PAYLOAD_MAX], id[MQTT_BATTERY_ID_MAX];

	if (mqtt_bank_payload(s, payload, sizeof(payload)) >= 0) {
		snprintf(topic, sizeof(topic), "%s/bank", m->names.base);
		pub(m, topic, payload, 0, false);
	}
	for (unsigned i = 0; i < s->n_batteries; i++) {
		mqtt_battery_id(&s->bat[i], id, sizeof(id));
		if (mqtt_battery_payload(&s->bat[i], payload, sizeof(payload)) < 0)
			continue;
		snprintf(topic, sizeof(topic), "%s/battery/%s", m->names.base, id);
		pub(m, topic, payload, 0, false);
	}
}

static void publish(struct mqtt *m, uint64_t now, bool force_status)
{
	const struct svc_snapshot *s = m->snap;
	char topic[MQTT_TOPIC_MAX], status[MQTT_PAYLOAD_MAX];

	if (m->st != ST_CONNECTED || !s)
		return;
	if (m->discovery_due)
		publish_discovery(m);
	announce_batteries(m, s);

	/* outputs, pre-alarm, codes: at once on a change */
	bool values_due = now >= m->next_values_us;
	if (mqtt_status_payload(s, status, sizeof(status)) >= 0 &&
	    (force_status || values_due || strcmp(status, m->last_status) != 0)) {
		snprintf(topic, sizeof(topic), "%s/status", m->names.base);
		pub(m, topic, status, 0, false);
		memcpy(m->last_status, status, sizeof(status));
	}
	/* readings: every interval, skipped while the last ones are still
	 * queued (a slow broker never grows the queue without bound) */
	if (values_due) {
		if (!mosquitto_want_write(m->mosq))
			publish_values(m, s);
		m->next_values_us = now + (uint64_t)m->cfg.interval_s * 1000000u;
	}
	update_io(m);
}

/* ---- libmosquitto's callbacks (inside loop_read/loop_write) ---- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct mqtt *m = obj;
	char topic[MQTT_TOPIC_MAX];
	uint64_t now = 0;

	if (rc != 0) {
		m->refused = true;
		m->connack_rc = rc;
		return;
	}
	m->st = ST_CONNECTED;
	m->backoff_us = MQTT_BACKOFF_MIN_US;
	if (m->outage_said || !m->ever_connected)
		say(m, LOG_NOTICE, "connected to %s as %s, publishing under %s", m->cfg.uri,
		    m->client_id, m->names.base);
	m->outage_said = m->refusal_said = false;
	m->ever_connected = true;
	snprintf(topic, sizeof(topic), "%s/availability", m->names.base);
	pub(m, topic, "online", 1, true);
	/* Home Assistant says "online" here when it starts: discovery again */
	snprintf(topic, sizeof(topic), "%s/status", m->names.discovery);
	mosquitto_subscribe(mosq, NULL, topic, 0);
	m->discovery_due = true;
	m->next_values_us = 0;
	sd_event_now(m->event, CLOCK_MONOTONIC, &now);
	publish(m, now, true);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
	struct mqtt *m = obj;
	uint64_t now = 0;

	if (msg->payloadlen == 6 && memcmp(msg->payload, "online", 6) == 0) {
		m->discovery_due = true;
		m->next_values_us = 0;
		sd_event_now(m->event, CLOCK_MONOTONIC, &now);
		publish(m, now, true);
	}
}

/* ---- the loop's sources ---- */

static void after_loop_call(struct mqtt *m, uint64_t now, int rc)
{
	char why[320];

	if (m->refused) {
		snprintf(why, sizeof(why), "the broker refused the connection: %s%s",
		         mosquitto_connack_string(m->connack_rc),
		         m->connack_rc == 4 || m->connack_rc == 5
		                 ? " (check user and password-file)"
		                 : "");
		fail(m, now, why);
		return;
	}
	if (rc != MOSQ_ERR_SUCCESS) {
		int err = errno;
		fail(m, now, mosq_why(m, rc, err, why, sizeof(why)));
		return;
	}
	update_io(m);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct mqtt *m = userdata;
	uint64_t now = 0;
	int rc = MOSQ_ERR_SUCCESS;

	sd_event_now(m->event, CLOCK_MONOTONIC, &now);
	if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rc = mosquitto_loop_read(m->mosq, 1);
	if (rc == MOSQ_ERR_SUCCESS && !m->refused && m->mosq && (revents & EPOLLOUT))
		rc = mosquitto_loop_write(m->mosq, 1);
	after_loop_call(m, now, rc);
	return 0;
}

static int watch_socket(struct mqtt *m)
{
	int fd = mosquitto_socket(m->mosq);

	if (fd < 0)
		return -ENOTCONN;
	return sd_event_add_io(m->event, &m->io, fd, EPOLLIN | EPOLLOUT, on_io, m);
}

static int on_attempt_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct mqtt *m = userdata;
	struct attempt *a = m->att;
	uint64_t now = 0, v;
	char why[320];

	sd_event_now(m->event, CLOCK_MONOTONIC, &now);
	if (read(fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
		return 0;
	pthread_mutex_lock(&a->lock);
	bool done = a->done;
	pthread_mutex_unlock(&a->lock);
	if (!done)
		return 0;
	m->att_io = sd_event_source_disable_unref(m->att_io);
	m->att = NULL;
	m->mosq = TAKE_PTR(a->mosq);
	memcpy(m->log.err, a->log.err, sizeof(m->log.err));
	int rc = a->rc, err = a->err;
	attempt_free(a);
	mosquitto_user_data_set(m->mosq, m);
	m->st = ST_HANDSHAKE;
	if (rc != MOSQ_ERR_SUCCESS) {
		fail(m, now, mosq_why(m, rc, err, why, sizeof(why)));
		return 0;
	}
	int r = watch_socket(m);
	if (r < 0) {
		snprintf(why, sizeof(why), "watching the socket: %s", strerror(-r));
		fail(m, now, why);
	}
	return 0;
}

static int read_password(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	if ((size_t)n == size - 1)
		return -EFBIG;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0'; /* the first line */
	return 0;
}

/* A new connection each attempt, set up here and connected in a thread. */
static void start_attempt(struct mqtt *m, uint64_t now)
{
	char why[320], password[512] = "", topic[MQTT_TOPIC_MAX];
	int r;

	m->log.err[0] = '\0';
	if (m->cfg.password_file[0]) {
		r = read_password(m->cfg.password_file, password, sizeof(password));
		if (r < 0) {
			/* A long path is cut short on purpose; using the result
			 * tells the truncation check so. */
			int n = snprintf(why, sizeof(why), "cannot read password-file %s: %s",
			                 m->cfg.password_file,
			                 r == -EFBIG ? "longer than 511 bytes" : strerror(-r));
			if (n < 0)
				why[0] = '\0';
			fail(m, now, why);
			return;
		}
	}
	struct attempt *a = calloc(1, sizeof(*a));
	if (!a) {
		fail(m, now, "out of memory");
		return;
	}
	a->efd = -1;
	pthread_mutex_init(&a->lock, NULL);
	snprintf(a->host, sizeof(a->host), "%s", m->cfg.host);
	a->port = m->cfg.port;
	a->mosq = mosquitto_new(m->client_id, true, a);
	if (!a->mosq) {
		attempt_free(a);
		fail(m, now, "cannot create the MQTT client: out of memory");
		return;
	}
	mosquitto_log_callback_set(a->mosq, on_mosq_log);
	mosquitto_connect_callback_set(a->mosq, on_connect);
	mosquitto_message_callback_set(a->mosq, on_message);
	snprintf(topic, sizeof(topic), "%s/availability", m->names.base);
	r = mosquitto_will_set(a->mosq, topic, 7, "offline", 1, true);
	if (r == MOSQ_ERR_SUCCESS && m->cfg.user[0])
		r = mosquitto_username_pw_set(a->mosq, m->cfg.user,
		                              m->cfg.password_file[0] ? password : NULL);
	explicit_bzero(password, sizeof(password));
	if (r == MOSQ_ERR_SUCCESS && m->cfg.tls) {
		if (!m->cfg.ca_file[0])
			r = mosquitto_int_option(a->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
		if (r == MOSQ_ERR_SUCCESS)
			r = mosquitto_tls_set(a->mosq, m->cfg.ca_file[0] ? m->cfg.ca_file : NULL,
			                      NULL, m->cfg.cert_file[0] ? m->cfg.cert_file : NULL,
			                      m->cfg.key_file[0] ? m->cfg.key_file : NULL, NULL);
	}
	if (r != MOSQ_ERR_SUCCESS) {
		snprintf(why, sizeof(why), "setting up the client: %s%s%s", mosquitto_strerror(r),
		         a->log.err[0] ? ": " : "", a->log.err);
		attempt_free(a);
		fail(m, now, why);
		return;
	}
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0 ||
	    (r = sd_event_add_io(m->event, &m->att_io, a->efd, EPOLLIN, on_attempt_done, m)) < 0) {
		r = a->efd < 0 ? -errno : r;
		attempt_free(a);
		snprintf(why, sizeof(why), "setting up the connect thread: %s", strerror(-r));
		fail(m, now, why);
		return;
	}
	pthread_attr_t attr;
	pthread_t tid;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&tid, &attr, connect_thread, a);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		m->att_io = sd_event_source_disable_unref(m->att_io);
		attempt_free(a);
		snprintf(why, sizeof(why), "starting the connect thread: %s", strerror(r));
		fail(m, now, why);
		return;
	}
	m->att = a;
	m->st = ST_RESOLVING;
	m->started_us = now;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct mqtt *m = userdata;
	uint64_t now = 0;

	sd_event_now(m->event, CLOCK_MONOTONIC, &now);
	sd_event_source_set_time(s, now + 1000000u);

	switch (m->st) {
	case ST_WAIT:
		if (now >= m->retry_us)
			start_attempt(m, now);
		break;
	case ST_RESOLVING:
		break; /* the thread ends by itself (getaddrinfo has its timeouts) */
	case ST_HANDSHAKE:
		if (now - m->started_us > MQTT_CONNECT_TIMEOUT_US) {
			fail(m, now, "no answer from the broker within 15 s");
			break;
		}
		/* fall through */
	case ST_CONNECTED:
		after_loop_call(m, now, mosquitto_loop_misc(m->mosq));
		if (m->st == ST_CONNECTED)
			publish(m, now, false);
		break;
	}
	return 0;
}

static void node_default(char *node, size_t size)
{
	sd_id128_t id;
	char host[256];

	if (sd_id128_get_machine_app_specific(NODE_APP_ID, &id) >= 0) {
		char s[SD_ID128_STRING_MAX];
		snprintf(node, size, "bms-%.12s", sd_id128_to_string(id, s));
		return;
	}
	if (gethostname(host, sizeof(host)) == 0 && host[0]) {
		host[sizeof(host) - 1] = '\0';
		size_t o = 0;
		for (const char *p = host; *p && o + 1 < size; p++)
			node[o++] = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			             (*p >= '0' && *p <= '9') || *p == '-')
			                    ? *p
			                    : '_';
		node[o] = '\0';
		return;
	}
	snprintf(node, size, "bms");
}

int mqtt_new(struct mqtt **ret, sd_event *event, const struct mqtt_config *cfg, const char *version,
             mqtt_log_fn log, void *userdata)
{
	char node[MQTT_NODE_ID_MAX];
	uint64_t now = 0;

	if (!ret || !event || !cfg || !cfg->enabled)
		return -EINVAL;
	struct mqtt *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->event = sd_event_ref(event);
	m->cfg = *cfg;
	m->log_fn = log;
	m->log_data = userdata;
	if (cfg->node_id[0])
		snprintf(node, sizeof(node), "%s", cfg->node_id);
	else
		node_default(node, sizeof(node));
	mqtt_names_init(&m->names, cfg->topic_prefix, cfg->discovery_prefix, node, version);
	snprintf(m->client_id, sizeof(m->client_id), "smallbms-%s", node);
	m->backoff_us = MQTT_BACKOFF_MIN_US;
	mosquitto_lib_init();
	sd_event_now(event, CLOCK_MONOTONIC, &now);
	int r = sd_event_add_time(event, &m->timer, CLOCK_MONOTONIC, now, 1000, on_timer, m);
	if (r >= 0) /* a time source fires once unless told otherwise */
		r = sd_event_source_set_enabled(m->timer, SD_EVENT_ON);
	if (r < 0) {
		mqtt_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

void mqtt_update(struct mqtt *m, const struct svc_snapshot *s, uint64_t now_us)
{
	if (!m)
		return;
	m->snap = s;
	publish(m, now_us, false);
}

struct mqtt *mqtt_free(struct mqtt *m)
{
	char topic[MQTT_TOPIC_MAX];

	if (!m)
		return NULL;
	if (m->st == ST_CONNECTED && m->mosq) {
		/* a clean disconnect sends no will: say it ourselves */
		snprintf(topic, sizeof(topic), "%s/availability", m->names.base);
		pub(m, topic, "offline", 0, true);
		mosquitto_disconnect(m->mosq);
		for (int i = 0; i < 10 && mosquitto_want_write(m->mosq); i++)
			if (mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
				break;
	}
	drop_connection(m);
	m->att_io = sd_event_source_disable_unref(m->att_io);
	if (m->att)
		attempt_abandon(m->att);
	m->timer = sd_event_source_disable_unref(m->timer);
	sd_event_unref(m->event);
	if (!m->att)
		mosquitto_lib_cleanup();
	free(m);
	return NULL;
}

const char *mqtt_node_id(const struct mqtt *m)
{
	return m->names.node;
}
