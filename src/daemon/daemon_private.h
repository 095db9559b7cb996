/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's state, shared by its files: daemon.c (loop, step, events),
 * daemon_bus.c (the M8 master), daemon_outputs.c (GPIO or dry run, the fd
 * store, power-off) and daemon_state.c (the state record). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "core/monitor.h"
#include "core/protection.h"
#include "core/record.h"
#include "daemon/bank_feed.h"
#include "daemon/adc_worker.h"
#include "daemon/config.h"
#include "daemon/daemon_fw.h"
#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/loopstat.h"
#include "daemon/persist.h"
#include "daemon/saver.h"
#include "ble/ble.h"
#include "dbus/bms_dbus.h"
#include "hw/adc.h"
#include "hw/outputs.h"
#include "m8/master.h"
#include "mqtt/mqtt.h"

struct daemon {
	sd_event *event;
	struct events ev;
	struct bms_config cfg;
	bool remote_none, readback_none; /* "none" in the configuration */
	bool readback_dry_run;           /* wired, but nothing drives ATC: not checked */

	struct m8_master *master;
	sd_event_source *bus_io, *bus_timer, *prot_timer, *tick;
	int bus_fd;
	bool port_open, port_reported;
	char port_why[256]; /* the last port failure: step and errno */
	uint64_t last_cycles, last_statuses;

	struct adc_worker *adc_worker; /* reads the ADC off the loop */
	sd_event_source *adc_io;       /* its results */
	bool adc_open;                 /* the device is open (the last cycle said) */
	uint64_t adc_retry_us, adc_last_ok_us;
	bool adc_reported, adc_slow_reported;
	bool adc_first; /* the first tick asks for a cycle and waits for it */
	struct adc_reading adc_rd[ADC_SIGNAL_COUNT];

	struct outputs *out;
	int adopt_fd;    /* a stored line request handed back by systemd, or -1 */
	bool out_stored; /* our line request is in systemd's fd store */
	bool adopted;    /* the request was the previous instance's (resume) */
	uint64_t out_retry_us;
	uint64_t out_check_us; /* next read-back of the driven lines */
	/* The level each line must be at: what the protection decided for the
	 * outputs, the LED and heartbeat levels. The read-back compares the
	 * lines with this, never with a backend's cache (issue 13 item 2). */
	bool line_decided[OUTPUT_LINE_COUNT];
	bool out_reported;
	bool poweroff_done, stopping; /* poweroff_done: outputs released for the shutdown */
	/* daemon_poweroff.c */
	int poweroff_phase;       /* enum poweroff_phase */
	uint64_t poweroff_ticket; /* the save that goes before the call */
	uint64_t poweroff_retry_us, poweroff_backoff_us;
	sd_bus_slot *poweroff_call; /* logind's PowerOff, while out */

	struct statefile *sf; /* the saver's alone once it runs */
	struct saver *saver;  /* NULL: no state directory, or saving on the loop */
	uint64_t save_checked_seq;
	const char *save_why; /* of the newest request */
	struct record rec;
	bool record_unreadable;
	struct persist_cadence cad;
	bool dirty, save_failed_reported, save_note_reported;
	bool async_call;           /* an action called through daemon_actions_async */
	uint64_t ticket;           /* the save the last SVC_PENDING answer waits for */
	uint64_t settings_ticket;  /* the save of the settings in effect */
	sd_event_source *saver_io; /* the saver's completions */

	struct protection prot;
	struct monitor mon;
	struct bank_feed feed;
	struct bank_feed_in fin;
	struct bank_feed_out fout;
	struct protection_output pout;
	bool have_pout, ready;
	uint64_t publish_us; /* last daemon_publish() from daemon_evaluate() */
	enum bank_id_match last_match;
	enum bank_error last_topo_err;
	uint32_t soc_events_seen;

	struct loopstat loopstat; /* --loop-stats */

	bool heartbeat;
	uint64_t status_us, watchdog_us, watchdog_every_us;
	char status[256];

	/* the front ends (daemon_snapshot.c, daemon_actions.c) */
	struct bms_dbus *dbus; /* NULL while the system bus is not there */
	struct ble *ble;       /* NULL without the bus or with a damaged store */
	bool ble_reported;
	uint64_t dbus_retry_us;
	bool dbus_reported;
	struct mqtt *mqtt; /* NULL: [mqtt] uri not set */
	struct svc_snapshot snap;

	struct daemon_fw fw; /* battery firmware updates (daemon_fw.c) */
};

static inline uint64_t now_us(const struct daemon *d)
{
	uint64_t t = 0;

	sd_event_now(d->event, CLOCK_MONOTONIC, &t);
	return t;
}

/* daemon.c */
void daemon_evaluate(struct daemon *d, uint64_t now);
/* The same for a new reading from the bus: D-Bus is updated when the
 * decision changed, else at most every DAEMON_TICK_US. */
void daemon_evaluate_reading(struct daemon *d, uint64_t now);

/* daemon_adc.c: the ADC through its reader thread */
int daemon_adc_start(struct daemon *d);
void daemon_adc_stop(struct daemon *d);
/* Takes a finished cycle, asks for the next one (every tick). */
void daemon_adc_poll(struct daemon *d, uint64_t now);

/* daemon_bus.c */
int daemon_on_bus_timer(sd_event_source *s, uint64_t usec, void *userdata);
/* The serial port for the master; remembers why it last failed (port_why). */
extern const struct m8_port_ops daemon_bus_port_ops;
void daemon_on_bus_event(void *userdata, enum m8_event_type type, unsigned addr);

/* daemon_outputs.c */
int daemon_take_stored_fd(void);
void daemon_outputs_open(struct daemon *d, uint64_t now);
/* Records the decided level of a line and drives it; a failed write is a
 * read-back mismatch: every line released (the heartbeat stops with them,
 * the safe state), the request retried 5 s later. */
void daemon_set_line(struct daemon *d, enum output_line line, bool active, uint64_t now);
/* Reads the lines back (once a second); a line not at its decided level,
 * or a failed read, releases them all (the safe state) and retries. */
void daemon_check_outputs(struct daemon *d, uint64_t now);
/* Drives every line inactive and releases the request (and its stored copy). */
void daemon_release_outputs(struct daemon *d);
/* At a stop: leaves a stored request to systemd, else releases. */
void daemon_leave_outputs(struct daemon *d);

/* daemon_poweroff.c: the low-power shutdown (docs/protection.md section 10),
 * stepped after every evaluation with the core's request. */
void daemon_poweroff_step(struct daemon *d, uint64_t now, const struct protection_output *o);
/* The saver finished up to done (result, why): the call waits for it. */
void daemon_poweroff_saved(struct daemon *d, uint64_t done, int result, const char *why);
void daemon_poweroff_free(struct daemon *d);

/* daemon_snapshot.c */
void daemon_snapshot_fill(struct daemon *d, uint64_t now, struct svc_snapshot *s);
/* Shows the daemon's state on D-Bus and MQTT (after every evaluation). */
void daemon_publish(struct daemon *d, uint64_t now);
/* The MQTT publisher when [mqtt] uri is set; its trouble is logged and
 * never stops the daemon. */
void daemon_mqtt_start(struct daemon *d);
/* Connects to the system bus, or notices it went away (every tick). */
void daemon_dbus_poll(struct daemon *d, uint64_t now);

/* daemon_actions.c: what D-Bus and Bluetooth may change; SVC_PENDING
 * instead of waiting for a save */
extern const struct svc_actions daemon_actions_async;

/* daemon_state.c */
int daemon_load_state(struct daemon *d);
/* The writer thread, after the record is loaded; stopping it writes what
 * is pending first. */
void daemon_saver_start(struct daemon *d);
void daemon_saver_stop(struct daemon *d);
/* Watches the saver's completions on the loop (answers pending replies). */
int daemon_saver_watch(struct daemon *d);
/* Hands the record to the writer and returns at once: the request's
 * sequence number (> 0; 0 when it was written on the loop) or -errno. A
 * failure is logged (once until a save succeeds) and leaves the state
 * dirty. */
int64_t daemon_save_state(struct daemon *d, uint64_t now, const char *why);
/* The same, then waits for the write: 0 or -errno (settings, stop, power-off). */
int daemon_save_state_wait(struct daemon *d, uint64_t now, const char *why);
/* Reports the writer's results (every tick). */
void daemon_save_check(struct daemon *d);
