/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pairing window (issue 14, docs/ble.md "Pairing a phone"). New phones
 * pair only while an authorized user keeps a window open
 * (Bluetooth1.OpenPairing). While it is open the adapter is Pairable and the
 * advertisement Discoverable; it closes at its timeout, on the first bond,
 * after too many attempts, or on request (ClosePairing).
 *
 * The kernel's SMP draws the passkey, so the agent (agent.c) cannot check a
 * number by itself: each request is shown to the client that opened the
 * window (a PairingRequest signal addressed to it) and numeric comparison is
 * accepted only when that client answers ConfirmPairing(id, true) before the
 * SMP timeout (about 30 s, docs/testing.md). A passkey the kernel draws
 * for a keyboard-only phone is shown the same way, for the installer to type
 * on the phone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "ble/ble_internal.h"

static uint64_t now_us(const struct ble *b)
{
	uint64_t t = 0;

	if (sd_event_now(b->event, CLOCK_MONOTONIC, &t) < 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
	}
	return t;
}

static uint32_t seconds_until(const struct ble *b, uint64_t deadline_us)
{
	uint64_t t = now_us(b);

	return deadline_us > t ? (uint32_t)((deadline_us - t + 999999ULL) / 1000000ULL) : 0;
}

void ble_escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return;
	for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p; p++) {
		char piece[5];
		size_t n;

		if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') {
			piece[0] = (char)*p;
			piece[1] = '\0';
		} else {
			snprintf(piece, sizeof(piece), "\\x%02x", *p);
		}
		n = strlen(piece);
		if (o + n >= outlen)
			break;
		memcpy(out + o, piece, n);
		o += n;
	}
	out[o] = '\0';
}

bool ble_pairing_is_open(const struct ble *b)
{
	return b->pair.open;
}

uint32_t ble_pairing_seconds_left(const struct ble *b)
{
	return b->pair.open ? seconds_until(b, b->pair.deadline_us) : 0;
}

/* --- the adapter's Pairable follows the window ----------------------------- */

static int pairable_set(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	b->pair.call_pairable = sd_bus_slot_unref(b->pair.call_pairable);
	if (e)
		ble_log(b, LOG_WARNING,
		        "setting the adapter's Pairable refused: %s: %s (the agent refuses "
		        "pairing outside a window all the same)",
		        e->name, e->message ? e->message : "");
	return 0;
}

void ble_pairing_sync_adapter(struct ble *b)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

	if (!b->bluez_up || !b->adapter_path)
		return;
	if (b->pair.pairable_known && b->pair.adapter_pairable == b->pair.open)
		return;
	r = sd_bus_message_new_method_call(b->bus, &m, BLUEZ_NAME, b->adapter_path,
	                                   "org.freedesktop.DBus.Properties", "Set");
	if (r >= 0)
		r = sd_bus_message_append(m, "ssv", BLUEZ_ADAPTER, "Pairable", "b", b->pair.open);
	if (r >= 0) {
		b->pair.call_pairable = sd_bus_slot_unref(b->pair.call_pairable);
		r = sd_bus_call_async(b->bus, &b->pair.call_pairable, m, pairable_set, b, 0);
	}
	if (r < 0) {
		ble_log(b, LOG_WARNING, "cannot set the adapter's Pairable: %s", strerror(-r));
		return;
	}
	/* as asked; PropertiesChanged from BlueZ confirms or corrects it */
	b->pair.pairable_known = true;
	b->pair.adapter_pairable = b->pair.open;
}

void ble_pairing_adapter_pairable(struct ble *b, bool pairable)
{
	b->pair.pairable_known = true;
	b->pair.adapter_pairable = pairable;
	ble_pairing_sync_adapter(b);
}

void ble_pairing_adapter_lost(struct ble *b)
{
	b->pair.pairable_known = false;
	b->pair.call_pairable = sd_bus_slot_unref(b->pair.call_pairable);
}

/* --- prompts ----------------------------------------------------------------- */

static const char *kind_name(enum ble_prompt_kind k)
{
	return k == BLE_PROMPT_CONFIRM ? "confirm" : "display";
}

/* Signals with the passkey go to the opener only: other local users never
 * see a number that lets them complete someone else's pairing. */
static int emit_to_opener(struct ble *b, const char *member, const char *sig, ...)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	va_list ap;
	int r;

	if (!b->pair.opener)
		return 0;
	r = sd_bus_message_new_signal(b->bus, &m, BLE_BLUETOOTH_PATH, BLUETOOTH1_IFACE, member);
	if (r < 0)
		return r;
	r = sd_bus_message_set_destination(m, b->pair.opener);
	if (r < 0)
		return r;
	va_start(ap, sig);
	r = sd_bus_message_appendv(m, sig, ap);
	va_end(ap);
	if (r < 0)
		return r;
	return sd_bus_send(b->bus, m, NULL);
}

static const char *device_address(const struct ble *b, const char *path)
{
	const struct ble_device *d = ble_device_find(b, path);

	return d && d->address[0] ? d->address : "";
}

static const char *device_name(const struct ble *b, const char *path)
{
	const struct ble_device *d = ble_device_find(b, path);

	return d && d->name ? d->name : "";
}

/* Ends the request now shown: a numeric comparison still waiting is
 * rejected towards BlueZ. */
static void prompt_end(struct ble *b, const char *outcome)
{
	struct ble_pairing *p = &b->pair;

	if (p->kind == BLE_PROMPT_NONE)
		return;
	if (p->call) {
		(void)sd_bus_reply_method_errorf(p->call, "org.bluez.Error.Rejected", "pairing %s",
		                                 outcome);
		p->call = sd_bus_message_unref(p->call);
	}
	(void)emit_to_opener(b, "PairingRequestEnded", "ts", p->id, outcome);
	p->kind = BLE_PROMPT_NONE;
	p->prompt_timer = sd_event_source_disable_unref(p->prompt_timer);
	free(p->device);
	p->device = NULL;
}

static int on_prompt_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ble *b = userdata;

	ble_log(b, LOG_NOTICE, "pairing with %s: no answer within the SMP timeout",
	        device_address(b, b->pair.device));
	prompt_end(b, "timeout");
	return 0;
}

static void cancel_device_pairing(struct ble *b, const char *device)
{
	(void)sd_bus_call_method_async(b->bus, NULL, BLUEZ_NAME, device, BLUEZ_DEVICE,
	                               "CancelPairing", NULL, NULL, NULL);
}

/* Every agent request of a window counts; past the limit the window closes:
 * a stranger in range cannot keep trying while the installer looks away. */
static int count_attempt(struct ble *b, const char *device, sd_bus_error *error)
{
	char addr[18];

	if (!b->pair.open) {
		ble_log(b, LOG_NOTICE, "pairing with %s refused: no pairing window open",
		        device_address(b, device));
		return sd_bus_error_set(error, "org.bluez.Error.Rejected",
		                        "no pairing window open");
	}
	if (++b->pair.attempts > BLE_PAIR_MAX_ATTEMPTS) {
		snprintf(addr, sizeof(addr), "%s", device_address(b, device));
		ble_log(b, LOG_WARNING,
		        "pairing with %s refused: more than %d attempts; "
		        "pairing window closed",
		        addr, BLE_PAIR_MAX_ATTEMPTS);
		ble_pairing_close(b, "attempts", NULL);
		return sd_bus_error_set(error, "org.bluez.Error.Rejected", "too many attempts");
	}
	/* A numeric comparison waiting for the installer holds the others
	 * off. A passkey shown for typing does not: BlueZ does not tell the
	 * agent when that entry failed, so it would block every phone for the
	 * SMP timeout; the next request replaces it on the installer's screen. */
	if (b->pair.kind == BLE_PROMPT_CONFIRM &&
	    !(b->pair.device && strcmp(b->pair.device, device) == 0)) {
		ble_log(b, LOG_NOTICE, "pairing with %s refused: another one is in progress",
		        device_address(b, device));
		return sd_bus_error_set(error, "org.bluez.Error.Rejected",
		                        "another pairing is in progress");
	}
	return 0;
}

int ble_pairing_prompt(struct ble *b, enum ble_prompt_kind kind, sd_bus_message *m,
                       const char *device, uint32_t passkey, sd_bus_error *error)
{
	struct ble_pairing *p = &b->pair;
	char name[256];
	int r;

	if (kind == BLE_PROMPT_DISPLAY && p->kind == BLE_PROMPT_DISPLAY && p->device &&
	    strcmp(p->device, device) == 0 && p->passkey == passkey)
		return 0; /* the same passkey again (keypress updates) */
	r = count_attempt(b, device, error);
	if (r < 0) {
		if (kind == BLE_PROMPT_DISPLAY)
			cancel_device_pairing(b, device);
		return r;
	}
	prompt_end(b, "superseded");
	p->device = strdup(device);
	if (!p->device)
		return -ENOMEM;
	p->kind = kind;
	p->id = ++p->next_id;
	p->passkey = passkey;
	p->prompt_deadline_us = now_us(b) + BLE_SMP_TIMEOUT_US;
	r = sd_event_add_time(b->event, &p->prompt_timer, CLOCK_MONOTONIC, p->prompt_deadline_us, 0,
	                      on_prompt_timeout, b);
	if (r < 0) {
		prompt_end(b, "failed");
		return r;
	}
	if (kind == BLE_PROMPT_CONFIRM)
		p->call = sd_bus_message_ref(m);
	ble_escape(device_name(b, device), name, sizeof(name));
	ble_log(b, LOG_NOTICE, "pairing request %llu from %s \"%s\": %s %06u",
	        (unsigned long long)p->id, device_address(b, device), name,
	        kind == BLE_PROMPT_CONFIRM ? "numeric comparison" : "passkey to type on the phone",
	        passkey);
	r = emit_to_opener(b, "PairingRequest", "tsssuu", p->id, kind_name(kind),
	                   device_address(b, device), device_name(b, device), passkey,
	                   seconds_until(b, p->prompt_deadline_us));
	if (r < 0)
		ble_log(b, LOG_WARNING, "pairing request not shown: %s", strerror(-r));
	return 1;
}

int ble_pairing_answer(struct ble *b, uint64_t id, bool accept)
{
	struct ble_pairing *p = &b->pair;
	int r = 0;

	if (p->kind == BLE_PROMPT_NONE || id != p->id)
		return -ENOENT;
	ble_log(b, LOG_NOTICE, "pairing request %llu from %s %s by the installer",
	        (unsigned long long)id, device_address(b, p->device),
	        accept ? "confirmed" : "rejected");
	if (p->kind == BLE_PROMPT_CONFIRM && accept) {
		r = sd_bus_reply_method_return(p->call, NULL);
		p->call = sd_bus_message_unref(p->call);
	} else if (p->kind == BLE_PROMPT_DISPLAY && !accept) {
		cancel_device_pairing(b, p->device);
	}
	prompt_end(b, accept ? "confirmed" : "rejected");
	return r < 0 ? r : 0;
}

void ble_pairing_cancel(struct ble *b)
{
	if (b->pair.kind == BLE_PROMPT_NONE)
		return;
	ble_log(b, LOG_NOTICE, "pairing with %s canceled by BlueZ",
	        device_address(b, b->pair.device));
	prompt_end(b, "canceled");
}

/* --- the window -------------------------------------------------------------- */

static int on_window_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	ble_pairing_close(userdata, "timeout", NULL);
	return 0;
}

static int on_opener_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const char *name, *old_owner, *new_owner;

	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
		return 0;
	if (!new_owner[0] && b->pair.opener && strcmp(name, b->pair.opener) == 0)
		ble_pairing_close(b, "opener gone", NULL);
	return 0;
}

static void window_changed(struct ble *b)
{
	ble_pairing_sync_adapter(b);
	ble_adv_discoverable_changed(b);
	(void)sd_bus_emit_properties_changed(b->bus, BLE_BLUETOOTH_PATH, BLUETOOTH1_IFACE,
	                                     "PairingOpen", NULL);
}

int ble_pairing_open(struct ble *b, uint32_t timeout_s, const char *opener)
{
	struct ble_pairing *p = &b->pair;
	char *who;
	int r;

	if (timeout_s < BLE_PAIR_TIMEOUT_MIN_S || timeout_s > BLE_PAIR_TIMEOUT_MAX_S)
		return -ERANGE;
	if (!b->adapter_path || !b->powered)
		return -ENODEV;
	who = opener ? strdup(opener) : NULL;
	if (opener && !who)
		return -ENOMEM;
	p->deadline_us = now_us(b) + (uint64_t)timeout_s * 1000000ULL;
	if (p->timer)
		r = sd_event_source_set_time(p->timer, p->deadline_us);
	else
		r = sd_event_add_time(b->event, &p->timer, CLOCK_MONOTONIC, p->deadline_us, 0,
		                      on_window_timeout, b);
	if (r >= 0)
		r = sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
	if (r < 0) {
		free(who);
		return r;
	}
	/* a new opener takes over the prompts; one waiting is dropped */
	prompt_end(b, "superseded");
	free(p->opener);
	p->opener = who;
	p->opener_match = sd_bus_slot_unref(p->opener_match);
	if (who) {
		char rule[256];

		/* the prompts cannot be answered once the opener is gone */
		snprintf(rule, sizeof(rule),
		         "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
		         "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='%s'",
		         who);
		r = sd_bus_add_match(b->bus, &p->opener_match, rule, on_opener_owner, b);
		if (r < 0)
			ble_log(b, LOG_WARNING, "cannot follow the pairing window's opener: %s",
			        strerror(-r));
	}
	p->attempts = 0;
	if (!p->open) {
		p->open = true;
		window_changed(b);
	}
	ble_log(b, LOG_NOTICE, "pairing window open for %u s", timeout_s);
	return 0;
}

void ble_pairing_close(struct ble *b, const char *reason, const struct ble_device *bonded)
{
	struct ble_pairing *p = &b->pair;

	if (!p->open)
		return;
	prompt_end(b, "closed");
	p->open = false;
	p->timer = sd_event_source_disable_unref(p->timer);
	ble_log(b, LOG_NOTICE, "pairing window closed (%s)", reason);
	(void)sd_bus_emit_signal(b->bus, BLE_BLUETOOTH_PATH, BLUETOOTH1_IFACE, "PairingEnded",
	                         "sss", reason, bonded ? bonded->address : "",
	                         bonded && bonded->name ? bonded->name : "");
	free(p->opener);
	p->opener = NULL;
	p->opener_match = sd_bus_slot_unref(p->opener_match);
	window_changed(b);
}

void ble_pairing_bonded(struct ble *b, const struct ble_device *d)
{
	char name[256];

	ble_escape(d->name, name, sizeof(name));
	if (!b->pair.open) {
		ble_log(b, LOG_WARNING, "%s \"%s\" became paired outside a pairing window",
		        d->address, name);
		return;
	}
	ble_log(b, LOG_NOTICE, "bonded with %s \"%s\"", d->address, name);
	ble_pairing_close(b, "bonded", d);
}

void ble_pairing_free(struct ble *b)
{
	struct ble_pairing *p = &b->pair;

	prompt_end(b, "closed");
	p->open = false;
	p->timer = sd_event_source_disable_unref(p->timer);
	p->call_pairable = sd_bus_slot_unref(p->call_pairable);
	p->opener_match = sd_bus_slot_unref(p->opener_match);
	free(p->opener);
	p->opener = NULL;
}
