/* SPDX-License-Identifier: GPL-2.0-or-later */
/* persist: the save cadence, and the record through the state directory. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/persist.h"

static void test_cadence(void **state)
{
	struct persist_cadence c = {};
	const uint64_t t0 = 5000000;

	/* Nothing saved since start: a dirty state is due at once. */
	assert_true(persist_due(&c, t0, true, false));
	assert_false(persist_due(&c, t0, false, false));
	persist_saved(&c, t0);
	/* SoC and history: at most once a minute, exactly at the minute. */
	assert_false(persist_due(&c, t0 + 1, true, false));
	assert_false(persist_due(&c, t0 + PERSIST_PERIOD_US - 1, true, false));
	assert_true(persist_due(&c, t0 + PERSIST_PERIOD_US, true, false));
	assert_int_equal(persist_next_us(&c, t0), t0 + PERSIST_PERIOD_US);
	/* Not dirty: never, however late. */
	assert_false(persist_due(&c, t0 + 10 * PERSIST_PERIOD_US, false, false));
	/* Settings, a new bank, stop, bank low: at once. */
	assert_true(persist_due(&c, t0 + 1, false, true));
	assert_true(persist_due(&c, t0 + 1, true, true));
}

struct dir {
	char path[64];
	struct statefile *sf;
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	strcpy(d->path, "/tmp/test-persist-XXXXXX");
	assert_non_null(mkdtemp(d->path));
	strcat(d->path, "/state"); /* persist_open creates it */
	assert_int_equal(persist_open(d->path, &d->sf), 0);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;
	char cmd[128];

	statefile_free(d->sf);
	d->path[strlen(d->path) - strlen("/state")] = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	assert_int_equal(system(cmd), 0);
	free(d);
	return 0;
}

static void test_new_installation(void **state)
{
	struct dir *d = *state;
	struct record *r = calloc(1, sizeof(*r)), *def = calloc(1, sizeof(*def));
	char err[256];

	memset(r, 0x5a, sizeof(*r));
	assert_int_equal(persist_load(d->sf, d->path, r, err, sizeof(err)), PERSIST_NONE);
	persist_record_default(def);
	assert_memory_equal(r, def, sizeof(*r));
	assert_false(r->soc.known);
	assert_false(r->have_bank);
	free(r);
	free(def);
}

static void test_roundtrip(void **state)
{
	struct dir *d = *state;
	struct record *r = calloc(1, sizeof(*r)), *back = calloc(1, sizeof(*back));
	char err[256];

	persist_record_default(r);
	assert_int_equal(settings_set(&r->settings, "uv_trip_mv", 2700, err, sizeof(err)), 0);
	r->soc.known = true;
	r->soc.soc_pct = 55.5;
	r->soc.soc_events = 2;
	assert_int_equal(persist_save(d->sf, r, err, sizeof(err)), 0);
	assert_int_equal(persist_load(d->sf, d->path, back, err, sizeof(err)), PERSIST_LOADED);
	assert_int_equal(back->settings.protection.uv_trip_mv, 2700);
	assert_true(back->soc.known);
	assert_true(back->soc.soc_pct == 55.5);
	assert_int_equal(back->soc.soc_events, 2);

	/* A newer save wins. */
	r->soc.soc_pct = 40.0;
	assert_int_equal(persist_save(d->sf, r, err, sizeof(err)), 0);
	assert_int_equal(persist_load(d->sf, d->path, back, err, sizeof(err)), PERSIST_LOADED);
	assert_true(back->soc.soc_pct == 40.0);

	/* A record the decoder would refuse is never written. */
	r->settings.protection.uv_trip_mv = 1;
	assert_true(persist_save(d->sf, r, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "encoding the record ("));
	assert_int_equal(persist_load(d->sf, d->path, back, err, sizeof(err)), PERSIST_LOADED);
	assert_true(back->soc.soc_pct == 40.0);
	free(r);
	free(back);
}

static void scribble(const char *dir, const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) < 0)
		return;
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	/* Past the store's header: the record itself is damaged. */
	assert_int_equal(pwrite(fd, "\xde\xad\xbe\xef\xde\xad\xbe\xef", 8, st.st_size / 2), 8);
	close(fd);
}

static void test_unreadable(void **state)
{
	struct dir *d = *state;
	struct record *r = calloc(1, sizeof(*r)), *def = calloc(1, sizeof(*def));
	char err[256];

	persist_record_default(r);
	r->soc.known = true;
	assert_int_equal(persist_save(d->sf, r, err, sizeof(err)), 0);
	assert_int_equal(persist_save(d->sf, r, err, sizeof(err)), 0);
	scribble(d->path, "state.0");
	scribble(d->path, "state.1");
	statefile_free(d->sf);
	assert_int_equal(statefile_open(d->path, &d->sf), 0);
	assert_int_equal(persist_load(d->sf, d->path, r, err, sizeof(err)), PERSIST_UNREADABLE);
	assert_true(err[0] != '\0');
	persist_record_default(def);
	assert_memory_equal(r, def, sizeof(*r)); /* the defaults, E9 */
	free(r);
	free(def);
}

/* A generation of a newer record version (a newer daemon ran, then an older
 * one): the older generation is loaded, and no save ever replaces the newer
 * one (issue 15); the reason names the version. */
static void test_newer_version_never_overwritten(void **state)
{
	struct dir *d = *state;
	struct record *r = calloc(1, sizeof(*r));
	uint8_t buf[RECORD_MAX_SIZE], *raw = NULL;
	size_t raw_len = 0;
	char err[256];

	persist_record_default(r);
	assert_int_equal(persist_save(d->sf, r, err, sizeof(err)), 0); /* generation 1 */
	int len = persist_encode(r, buf, sizeof(buf), err, sizeof(err));
	assert_true(len > 8);
	buf[4] = RECORD_VERSION + 1; /* version, u16 little-endian at offset 4 */
	assert_int_equal(statefile_save(d->sf, buf, (size_t)len), 0); /* generation 2 */
	statefile_free(d->sf);
	assert_int_equal(statefile_open(d->path, &d->sf), 0);
	assert_int_equal(persist_load(d->sf, d->path, r, err, sizeof(err)), PERSIST_LOADED);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(persist_save(d->sf, r, err, sizeof(err)), -EROFS);
		assert_non_null(strstr(err, "is newer than this one"));
	}
	assert_non_null(statefile_saves_refused(d->sf));
	/* the newer generation is still the newest, intact */
	statefile_free(d->sf);
	assert_int_equal(statefile_open(d->path, &d->sf), 0);
	assert_int_equal(statefile_load(d->sf, NULL, NULL, &raw, &raw_len), 0);
	assert_int_equal(statefile_generation(d->sf), 2);
	assert_int_equal(raw[4], RECORD_VERSION + 1);
	free(raw);
	free(r);
}

/* Issue 13 item 1: what makes the protection's state be saved at once. */
static void test_trigger(void **state)
{
	struct protection_output a, b;

	memset(&a, 0, sizeof(a));
	a.atd_closed = a.atc_closed = true;
	b = a;
	assert_null(persist_trigger(NULL, &a)); /* the first step: nothing before */
	assert_null(persist_trigger(&a, &b));
	b.codes = 0x10; /* a code alone is no trigger */
	b.atc_closed = false;
	assert_string_equal(persist_trigger(&a, &b), "charge output opened");
	assert_string_equal(persist_trigger(&b, &a), "charge output closed");
	b = a;
	b.atd_closed = false;
	assert_string_equal(persist_trigger(&a, &b), "load output opened");
	assert_string_equal(persist_trigger(&b, &a), "load output closed");
	b = a;
	b.prealarm_active = true;
	assert_string_equal(persist_trigger(&a, &b), "lead started");
	assert_null(persist_trigger(&b, &a)); /* the pre-alarm ending is none */
	b = a;
	a.latched_rules = 0x4;
	b.latched_rules = 0x6;
	assert_string_equal(persist_trigger(&a, &b), "latch engaged");
	assert_null(persist_trigger(&b, &a)); /* a latch cleared is none */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cadence),
	        cmocka_unit_test_setup_teardown(test_new_installation, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_newer_version_never_overwritten, setup,
	                                        teardown),
	        cmocka_unit_test(test_trigger),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
