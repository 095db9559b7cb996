/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>

#include <systemd/sd-journal.h>

#include "daemon/events.h"

static const char *const message_ids[EV_CLASS_COUNT] = {
        [EV_OUTPUT_OPENED] = "8539ef43ce0d4b9e9b61743c1ddfb2a3",
        [EV_OUTPUT_CLOSED] = "e0873be13b9e4c3ab87e5e9e286b5ce1",
        [EV_PREALARM] = "f55434dfa18240668b99dbcdb9241b47",
        [EV_BATTERY] = "e3803f27b7fb4ec692ae83ef3571a196",
        [EV_BANK] = "83c16f3c1ba64764b9f3ba1c66506c22",
        [EV_SETTINGS] = "3105bd430b1d460a8b169c72fbce446d",
        [EV_SYNCHRONISED] = "a81d95b595754725931cdb5197063154",
        [EV_ERROR_CODE] = "0f4408e3d9914ed3960b17fa4481af37",
        [EV_CODE] = "6d19bf49e3e44ecca8ad6a9cf16d1fb0",
        [EV_DEVICE] = "bda6d4f1866b4d938bdc3656743424da",
        [EV_STATE] = "e2e35a09d34f42b09cfcd2c02cfaac82",
        [EV_LIFECYCLE] = "491e1c1090ee43eab8f01454790b3e59",
        [EV_POWEROFF] = "99cad35b78984b13ac65d3ad177f3c04",
        [EV_FW_STARTED] = "2830b3f4a0604289b9351e16df09c88c",
        [EV_FW_SUCCEEDED] = "6bf2fbafc0434f2abd78855c8c920bb0",
        [EV_FW_FAILED] = "df5545da31a34f7c9577b054132086c0",
        [EV_FW_CANCELLED] = "041bc53acf854e0cba374225ab93cef8",
};

const char *event_message_id(enum event_class c)
{
	return (unsigned)c < EV_CLASS_COUNT ? message_ids[c] : NULL;
}

void events_init(struct events *ev)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	ev->journal = false;
	/* JOURNAL_STREAM is inherited by children too: only trust it when it
	 * names the stderr we actually have. */
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0)
		ev->journal = (unsigned long long)st.st_dev == dev &&
		              (unsigned long long)st.st_ino == ino;
}

void events_log(const struct events *ev, enum event_class c, int prio, const char *event,
                const char *details_fmt, ...)
{
	char details[768] = "";

	if (details_fmt) {
		va_list ap;

		va_start(ap, details_fmt);
		vsnprintf(details, sizeof(details), details_fmt, ap);
		va_end(ap);
	}
	if (ev && ev->journal) {
		const char *id = event_message_id(c);

		if (sd_journal_send("MESSAGE=%s%s%s", event, details_fmt ? ": " : "", details,
		                    "MESSAGE_ID=%s", id ? id : "", "PRIORITY=%d", prio,
		                    "SMALLBMS_EVENT=%s", event, NULL) >= 0)
			return;
	}
	if (details_fmt)
		fprintf(stderr, "smallbmsd: %s: %s\n", event, details);
	else
		fprintf(stderr, "smallbmsd: %s\n", event);
}
