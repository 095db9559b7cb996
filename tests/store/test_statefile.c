/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/statefile.h"

/* A test record: u32 counter, then counter-derived bytes up to its length, so
 * a torn or mixed record never validates. */
static size_t make_record(uint8_t *buf, uint32_t counter)
{
	size_t len = 8 + (counter * 37u) % 4000u;

	memcpy(buf, &counter, 4);
	uint32_t len32 = (uint32_t)len;
	memcpy(buf + 4, &len32, 4);
	for (size_t i = 8; i < len; i++)
		buf[i] = (uint8_t)(counter * 131u + i);
	return len;
}

static int record_valid(const uint8_t *rec, size_t len, void *userdata)
{
	uint32_t counter, len32;

	(void)userdata;
	if (len < 8)
		return 0;
	memcpy(&counter, rec, 4);
	memcpy(&len32, rec + 4, 4);
	if (len32 != len)
		return 0;
	for (size_t i = 8; i < len; i++)
		if (rec[i] != (uint8_t)(counter * 131u + i))
			return 0;
	return 1;
}

static uint32_t record_counter(const uint8_t *rec)
{
	uint32_t c;

	memcpy(&c, rec, 4);
	return c;
}

struct fixture {
	char dir[64];
	struct statefile *sf;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/test-statefile-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(statefile_open(f->dir, &f->sf), 0);
	*state = f;
	return 0;
}

static void remove_all(const char *dir)
{
	static const char *const names[] = {"state.0", "state.1", "state.0.tmp", "state.1.tmp",
	                                    "aside"};
	char path[128];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	statefile_free(f->sf);
	remove_all(f->dir);
	free(f);
	return 0;
}

static void save_counter(struct statefile *sf, uint32_t counter)
{
	uint8_t buf[4096];
	size_t len = make_record(buf, counter);

	assert_int_equal(statefile_save(sf, buf, len), 0);
}

static uint32_t load_counter(struct statefile *sf)
{
	uint8_t *rec = NULL;
	size_t len = 0;

	assert_int_equal(statefile_load(sf, record_valid, NULL, &rec, &len), 0);
	assert_true(record_valid(rec, len, NULL));
	uint32_t c = record_counter(rec);
	free(rec);
	return c;
}

static void path_of(const struct fixture *f, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", f->dir, name);
}

static bool exists(const struct fixture *f, const char *name)
{
	char p[128];

	path_of(f, name, p, sizeof(p));
	return access(p, F_OK) == 0;
}

/* Flips one byte of the record part of a file. */
static void corrupt(const struct fixture *f, const char *name, off_t at)
{
	char p[128];
	uint8_t b;

	path_of(f, name, p, sizeof(p));
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

static void test_empty_dir_is_nodata(void **state)
{
	struct fixture *f = *state;
	uint8_t *rec = NULL;
	size_t len = 0;

	assert_int_equal(statefile_load(f->sf, record_valid, NULL, &rec, &len), -ENODATA);
	assert_null(rec);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096], *rec = NULL;
	size_t len = make_record(buf, 7), got = 0;

	assert_int_equal(statefile_save(f->sf, buf, len), 0);
	assert_int_equal(statefile_load(f->sf, NULL, NULL, &rec, &got), 0);
	assert_int_equal(got, len);
	assert_memory_equal(rec, buf, len);
	free(rec);
	assert_false(exists(f, "state.0.tmp") || exists(f, "state.1.tmp"));

	/* A fresh handle on the same directory reads the same record. */
	struct statefile *other = NULL;
	assert_int_equal(statefile_open(f->dir, &other), 0);
	assert_int_equal(load_counter(other), 7);
	statefile_free(other);
}

static void test_empty_record(void **state)
{
	struct fixture *f = *state;
	uint8_t *rec = NULL;
	size_t len = 99;

	assert_int_equal(statefile_save(f->sf, NULL, 0), 0);
	assert_int_equal(statefile_load(f->sf, NULL, NULL, &rec, &len), 0);
	assert_int_equal(len, 0);
	free(rec);
}

static void test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct statefile *sf = NULL;
	uint8_t b = 0;

	assert_int_equal(statefile_open("/nonexistent/dir/x", &sf), -ENOENT);
	assert_null(sf);
	assert_int_equal(statefile_save(f->sf, NULL, 3), -EINVAL);
	assert_int_equal(statefile_save(f->sf, &b, STATEFILE_MAX_LEN + 1), -EINVAL);
	assert_false(exists(f, "state.0") || exists(f, "state.1"));
}

/* A failed save names its step and errno (issue 12). */
static void test_save_error_named(void **state)
{
	struct fixture *f = *state;
	char path[128], why[128];
	uint8_t b = 7;

	/* The first save goes to slot 1: a directory in the way of its
	 * temporary file makes the create fail. */
	snprintf(path, sizeof(path), "%s/state.1.tmp", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(statefile_save_why(f->sf, &b, 1, why, sizeof(why)), -EISDIR);
	assert_string_equal(why, "creating state.1.tmp: Is a directory");
	assert_false(exists(f, "state.0") || exists(f, "state.1"));
	assert_int_equal(rmdir(path), 0);
	/* Directories in both slots: nowhere to write, nothing is left (one
	 * directory only sends the save to the other slot, issue 15). */
	snprintf(path, sizeof(path), "%s/state.1", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/state.0", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(statefile_save_why(f->sf, &b, 1, why, sizeof(why)), -EISDIR);
	assert_string_equal(why,
	                    "saving: both state.0 and state.1 are directories: Is a directory");
	assert_false(exists(f, "state.1.tmp") || exists(f, "state.0.tmp"));
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/state.1", f->dir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(statefile_save_why(f->sf, &b, 1, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(statefile_save_why(f->sf, NULL, 3, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "saving a record: Invalid argument");
}

static void test_generations_alternate(void **state)
{
	struct fixture *f = *state;

	save_counter(f->sf, 1);
	assert_int_equal(statefile_generation(f->sf), 1);
	assert_true(exists(f, "state.1"));
	assert_false(exists(f, "state.0"));
	save_counter(f->sf, 2);
	assert_int_equal(statefile_generation(f->sf), 2);
	assert_true(exists(f, "state.0"));
	for (uint32_t c = 3; c <= 10; c++) {
		save_counter(f->sf, c);
		assert_int_equal(load_counter(f->sf), c);
		assert_int_equal(statefile_generation(f->sf), c);
	}

	/* Both generations are present: the older one holds counter 9. */
	corrupt(f, "state.0", 30); /* generation 10 lives in slot 0 */
	assert_int_equal(load_counter(f->sf), 9);
}

static void test_corrupt_newest_falls_back(void **state)
{
	struct fixture *f = *state;

	save_counter(f->sf, 1);
	save_counter(f->sf, 2);
	corrupt(f, "state.0", 24 + 10);
	assert_int_equal(load_counter(f->sf), 1);

	/* The next save replaces the corrupt slot and keeps generation 1. */
	save_counter(f->sf, 3);
	assert_int_equal(load_counter(f->sf), 3);
	corrupt(f, "state.0", 24 + 10);
	assert_int_equal(load_counter(f->sf), 1);
}

static int reject_counter(const uint8_t *rec, size_t len, void *userdata)
{
	return record_valid(rec, len, NULL) && record_counter(rec) != *(uint32_t *)userdata;
}

static void test_validator_rejects_newest(void **state)
{
	struct fixture *f = *state;
	uint32_t reject = 5;
	uint8_t *rec = NULL;
	size_t len;

	save_counter(f->sf, 4);
	save_counter(f->sf, 5);
	assert_int_equal(statefile_load(f->sf, reject_counter, &reject, &rec, &len), 0);
	assert_int_equal(record_counter(rec), 4);
	free(rec);
}

static void test_both_bad_is_nodata(void **state)
{
	struct fixture *f = *state;
	uint8_t *rec = NULL;
	size_t len;

	save_counter(f->sf, 1);
	save_counter(f->sf, 2);
	corrupt(f, "state.0", 40);
	corrupt(f, "state.1", 3); /* the header's magic */
	assert_int_equal(statefile_load(f->sf, record_valid, NULL, &rec, &len), -ENODATA);
	assert_null(rec);
}

static void test_truncated_file_is_rejected(void **state)
{
	struct fixture *f = *state;
	char p[128];

	save_counter(f->sf, 1);
	save_counter(f->sf, 2);
	path_of(f, "state.0", p, sizeof(p));
	assert_int_equal(truncate(p, 30), 0);
	assert_int_equal(load_counter(f->sf), 1);
	/* A stale temp file is ignored by load and replaced by save. */
	path_of(f, "state.1.tmp", p, sizeof(p));
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);
	assert_int_equal(load_counter(f->sf), 1);
	save_counter(f->sf, 3);
	assert_int_equal(load_counter(f->sf), 3);
}

/* The child continues from the newest record and writes counters forever;
 * a SIGKILL at any point must leave a complete, valid record that is never
 * older than the last one loaded. */
static void __attribute__((noreturn)) writer_child(const char *dir)
{
	struct statefile *sf = NULL;
	uint8_t *rec = NULL;
	size_t len;
	uint32_t c = 0;
	uint8_t buf[4096];

	if (statefile_open(dir, &sf) < 0)
		_exit(2);
	if (statefile_load(sf, record_valid, NULL, &rec, &len) == 0)
		c = record_counter(rec);
	free(rec);
	for (;;) {
		c++;
		len = make_record(buf, c);
		if (statefile_save(sf, buf, len) < 0)
			_exit(3);
	}
}

static void test_kill_during_writes(void **state)
{
	struct fixture *f = *state;
	unsigned seed = 20261125;
	uint32_t last = 0;

	save_counter(f->sf, 0);
	for (int i = 0; i < 200; i++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			writer_child(f->dir);
		struct timespec ts = {0, (long)(rand_r(&seed) % 8000) * 1000};
		nanosleep(&ts, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		/* Killed, not an error exit of the writer. */
		assert_true(WIFSIGNALED(status) || WEXITSTATUS(status) == 0);
		uint32_t c = load_counter(f->sf);
		assert_true(c >= last);
		last = c;
		/* No live name holds a partial file: with the newest set aside,
		 * the other generation is whole and older. */
		char live[128], aside[128];
		snprintf(live, sizeof(live), "%s/state.%u", f->dir,
		         (unsigned)(statefile_generation(f->sf) & 1));
		snprintf(aside, sizeof(aside), "%s/aside", f->dir);
		assert_int_equal(rename(live, aside), 0);
		if (c > 0)
			assert_true(load_counter(f->sf) < c);
		assert_int_equal(rename(aside, live), 0);
	}
	print_message("# kill test: %u records written over 200 kills\n", last);
}

/* A FIFO named like a state file: loading and saving neither hang nor take
 * it for a generation (alarm() ends a hung test). */
static void test_fifo_slot_does_not_hang(void **state)
{
	struct fixture *f = *state;
	char p[128];
	uint8_t *rec = NULL;
	size_t len = 0;

	save_counter(f->sf, 1); /* generation 1 in state.1 */
	path_of(f, "state.0", p, sizeof(p));
	assert_int_equal(mkfifo(p, 0600), 0);
	alarm(10);
	assert_int_equal(statefile_load(f->sf, record_valid, NULL, &rec, &len), 0);
	assert_int_equal(record_counter(rec), 1);
	free(rec);
	save_counter(f->sf, 2); /* replaces the FIFO */
	assert_int_equal(load_counter(f->sf), 2);
	alarm(0);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

/* A directory in the slot due: the other slot is written, and the return
 * (> 0) and why say so; later saves go on. */
static void test_directory_in_due_slot(void **state)
{
	struct fixture *f = *state;
	char p[128], why[256] = "";
	uint8_t buf[4096];

	save_counter(f->sf, 1); /* generation 1 in state.1; state.0 is due next */
	path_of(f, "state.0", p, sizeof(p));
	assert_int_equal(mkdir(p, 0700), 0);
	size_t len = make_record(buf, 2);
	int r = statefile_save_why(f->sf, buf, len, why, sizeof(why));
	assert_int_equal(r, 1);
	assert_non_null(strstr(why, "state.0 is a directory"));
	assert_non_null(strstr(why, "state.1"));
	assert_int_equal(load_counter(f->sf), 2);
	len = make_record(buf, 3);
	assert_true(statefile_save_why(f->sf, buf, len, why, sizeof(why)) >= 0);
	assert_int_equal(load_counter(f->sf), 3);
	rmdir(p);
}

/* Runs in a child as an unprivileged user (root reads every file). */
static void __attribute__((noreturn)) unreadable_child(const char *dir)
{
	struct statefile *sf = NULL;
	uint8_t buf[4096], *rec = NULL;
	char why[256] = "";
	size_t len = 0;

	if (geteuid() == 0 &&
	    (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0))
		_exit(10);
	if (statefile_open(dir, &sf) < 0)
		_exit(11);
	/* the older generation is still loaded ... */
	if (statefile_load(sf, record_valid, NULL, &rec, &len) < 0 || record_counter(rec) != 1)
		_exit(12);
	free(rec);
	/* ... but no save may replace the one it cannot read */
	len = make_record(buf, 3);
	int r = statefile_save_why(sf, buf, len, why, sizeof(why));
	if (r != -EACCES)
		_exit(13);
	if (!strstr(why, "state.0") || !strstr(why, "cannot be read"))
		_exit(14);
	r = statefile_save_why(sf, buf, len, why, sizeof(why));
	if (r != -EACCES)
		_exit(15);
	statefile_free(sf);
	_exit(0);
}

/* A generation the daemon's user cannot read (left by root) is never
 * overwritten: every save is refused and says why. */
static void test_unreadable_generation_not_overwritten(void **state)
{
	struct fixture *f = *state;
	char p0[128], p1[128];
	struct stat before, after;
	int status;

	save_counter(f->sf, 1); /* state.1 */
	save_counter(f->sf, 2); /* state.0 */
	path_of(f, "state.0", p0, sizeof(p0));
	path_of(f, "state.1", p1, sizeof(p1));
	if (geteuid() == 0) {
		assert_int_equal(chown(f->dir, 65534, 65534), 0);
		assert_int_equal(chown(p1, 65534, 65534), 0);
		assert_int_equal(chmod(p0, 0600), 0); /* root's */
	} else {
		assert_int_equal(chmod(p0, 0), 0);
	}
	assert_int_equal(stat(p0, &before), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		unreadable_child(f->dir);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(stat(p0, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(load_counter(f->sf), 2); /* root can read it: untouched */
}

/* statefile_refuse_saves: no save at all, the reason given. */
static void test_refused_saves(void **state)
{
	struct fixture *f = *state;
	char why[256] = "";
	uint8_t buf[4096];

	save_counter(f->sf, 1);
	statefile_refuse_saves(f->sf, "state.1 holds record version 9");
	size_t len = make_record(buf, 2);
	assert_int_equal(statefile_save_why(f->sf, buf, len, why, sizeof(why)), -EROFS);
	assert_non_null(strstr(why, "record version 9"));
	assert_int_equal(load_counter(f->sf), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_empty_dir_is_nodata, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_empty_record, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_save_error_named, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_generations_alternate, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_corrupt_newest_falls_back, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_validator_rejects_newest, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_both_bad_is_nodata, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_truncated_file_is_rejected, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_kill_during_writes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fifo_slot_does_not_hang, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_directory_in_due_slot, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unreadable_generation_not_overwritten, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_refused_saves, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
