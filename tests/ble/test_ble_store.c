/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "ble/ble_store.h"
#include "core/crc32.h"
#include "store/statefile.h"

struct fixture {
	char dir[64];
	char sub[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/test-ble-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sub, sizeof(f->sub), "%s/bluetooth", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {"state.0", "state.1", "state.0.tmp", "state.1.tmp"};
	char path[160];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->sub, names[i]);
		unlink(path);
	}
	rmdir(f->sub);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct ble_store *open_loaded(const struct fixture *f, int want)
{
	struct ble_store *st = NULL;
	char err[256] = "";

	assert_int_equal(ble_store_open(f->dir, &st), 0);
	int r = ble_store_load(st, err, sizeof(err));
	if (r != want)
		print_error("load: %d %s\n", r, err);
	assert_int_equal(r, want);
	return st;
}

/* The generation of the newest acceptable file, read apart from the store. */
static uint64_t generation(const struct fixture *f)
{
	struct statefile *sf;
	uint8_t *rec = NULL;
	size_t len;

	assert_int_equal(statefile_open(f->sub, &sf), 0);
	assert_int_equal(statefile_load(sf, NULL, NULL, &rec, &len), 0);
	uint64_t g = statefile_generation(sf);
	free(rec);
	statefile_free(sf);
	return g;
}

/* A record built from docs/ble.md, independent of ble_store.c. */
static void write_record(const struct fixture *f, uint8_t version, uint8_t flags,
                         const uint8_t key[16], const char *pin, uint32_t reserved, bool good_crc)
{
	uint8_t rec[BLE_STORE_RECORD_LEN] = {'S', 'B', 'B', 'T', version, flags, 0, 0};
	struct statefile *sf;

	memcpy(rec + 8, key, 16);
	memcpy(rec + 24, pin, 6);
	for (int i = 0; i < 4; i++)
		rec[30 + i] = (uint8_t)(reserved >> (8 * i));
	uint32_t crc = crc32_ieee(rec, 34) ^ (good_crc ? 0 : 1);
	for (int i = 0; i < 4; i++)
		rec[34 + i] = (uint8_t)(crc >> (8 * i));
	mkdir(f->sub, 0700);
	assert_int_equal(statefile_open(f->sub, &sf), 0);
	assert_int_equal(statefile_save(sf, rec, sizeof(rec)), 0);
	statefile_free(sf);
}

static void fresh_then_round_trip(void **state)
{
	struct fixture *f = *state;
	struct ble_store *st = open_loaded(f, 1);
	uint8_t key[16];
	char hex[33], err[128];
	struct stat sb;

	assert_int_equal(stat(f->sub, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_non_null(ble_store_key(st));
	memcpy(key, ble_store_key(st), 16);
	static const uint8_t zero[16];
	assert_memory_not_equal(key, zero, 16);
	assert_false(ble_store_had_pin(st));
	assert_true(ble_store_encrypt(st));
	assert_int_equal(ble_store_key_hex(st, hex), 0);
	assert_int_equal(strlen(hex), 32);
	for (int i = 0; i < 16; i++) {
		char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
		assert_int_equal(strtoul(two, NULL, 16), key[i]);
	}
	assert_int_equal(ble_store_set_encrypt(st, false), 0);
	ble_store_free(st);

	st = open_loaded(f, 0);
	assert_memory_equal(ble_store_key(st), key, 16);
	assert_false(ble_store_had_pin(st));
	assert_false(ble_store_encrypt(st));
	assert_int_equal(ble_store_set_encrypt(st, true), 0);
	assert_int_equal(ble_store_new_key(st), 0);
	uint8_t key2[16];
	memcpy(key2, ble_store_key(st), 16);
	assert_memory_not_equal(key2, key, 16);
	ble_store_free(st);

	st = open_loaded(f, 0);
	assert_memory_equal(ble_store_key(st), key2, 16);
	assert_true(ble_store_encrypt(st));
	ble_store_free(st);
	(void)err;
}

/* The raw record of the newest generation. */
static void read_raw(const struct fixture *f, uint8_t rec[BLE_STORE_RECORD_LEN])
{
	struct statefile *sf;
	uint8_t *data = NULL;
	size_t len = 0;

	assert_int_equal(statefile_open(f->sub, &sf), 0);
	assert_int_equal(statefile_load(sf, NULL, NULL, &data, &len), 0);
	assert_int_equal(len, BLE_STORE_RECORD_LEN);
	memcpy(rec, data, BLE_STORE_RECORD_LEN);
	free(data);
	statefile_free(sf);
}

/* Issue 14: a PIN kept by an older smallbmsd is read (the record stays
 * acceptable), reported, ignored, and gone from the next save. */
static void old_pin_ignored(void **state)
{
	struct fixture *f = *state;
	const uint8_t key[16] = {3, 1, 4, 1, 5, 9, 2, 6};
	uint8_t rec[BLE_STORE_RECORD_LEN];

	write_record(f, 1, 0, key, "424242", 1000, true);
	struct ble_store *st = open_loaded(f, 0);
	assert_true(ble_store_had_pin(st));
	assert_memory_equal(ble_store_key(st), key, 16);
	read_raw(f, rec);
	assert_memory_equal(rec + 24, "424242", 6); /* nothing written by the load */
	assert_int_equal(ble_store_set_encrypt(st, false), 0);
	read_raw(f, rec);
	assert_memory_equal(rec + 24, "000000", 6);
	ble_store_free(st);
	st = open_loaded(f, 0);
	assert_false(ble_store_had_pin(st));
	assert_false(ble_store_encrypt(st));
	ble_store_free(st);
}

static void reads_the_documented_layout(void **state)
{
	struct fixture *f = *state;
	const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

	write_record(f, 1, 0x01, key, "424242", 5000, true);
	struct ble_store *st = open_loaded(f, 0);
	assert_memory_equal(ble_store_key(st), key, 16);
	assert_true(ble_store_had_pin(st));
	assert_false(ble_store_encrypt(st));
	assert_int_equal(ble_store_reserved(st), 5000);
	uint32_t c;
	assert_int_equal(ble_store_next_counter(st, &c), 0);
	/* a start skips one block past the saved end */
	assert_int_equal(c, 5000 + BLE_STORE_COUNTER_BLOCK);
	ble_store_free(st);
}

/* Loading a damaged store fails with a message and writes nothing. */
static void refused(const struct fixture *f, const char *what)
{
	struct ble_store *st = NULL;
	char err[256] = "";
	uint32_t c;

	assert_int_equal(ble_store_open(f->dir, &st), 0);
	assert_int_equal(ble_store_load(st, err, sizeof(err)), -EBADMSG);
	print_message("# %s: %s\n", what, err);
	assert_true(strlen(err) > 10);
	assert_null(ble_store_key(st));
	assert_int_equal(ble_store_next_counter(st, &c), -ENODATA);
	assert_int_equal(ble_store_set_encrypt(st, false), -ENODATA);
	assert_false(ble_store_had_pin(st));
	ble_store_free(st);
}

static void corrupt_refused(void **state)
{
	struct fixture *f = *state;
	const uint8_t key[16] = {7};
	char path[160];
	struct stat before, after;

	/* A file that is not a state file at all. */
	mkdir(f->sub, 0700);
	snprintf(path, sizeof(path), "%s/state.0", f->sub);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("garbage, not a state file\n", fp);
	fclose(fp);
	assert_int_equal(stat(path, &before), 0);
	refused(f, "garbage file");
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	snprintf(path, sizeof(path), "%s/state.1", f->sub);
	assert_int_equal(access(path, F_OK), -1); /* no new key written */
	snprintf(path, sizeof(path), "%s/state.0", f->sub);
	unlink(path);

	/* Intact files holding bad records: checksum, version, flags, PIN. */
	write_record(f, 1, 0, key, "000000", 0, false);
	refused(f, "bad checksum");
	write_record(f, 2, 0, key, "000000", 0, true);
	refused(f, "newer version");
	write_record(f, 1, 0x80, key, "000000", 0, true);
	refused(f, "unknown flag");
	write_record(f, 1, 0, key, "00a000", 0, true);
	refused(f, "PIN not digits");

	/* The explicit way out: a new key replaces the damaged state. */
	struct ble_store *st = NULL;
	char err[256];
	uint32_t c;
	assert_int_equal(ble_store_open(f->dir, &st), 0);
	assert_int_equal(ble_store_load(st, err, sizeof(err)), -EBADMSG);
	assert_int_equal(ble_store_new_key(st), 0);
	assert_non_null(ble_store_key(st));
	assert_false(ble_store_had_pin(st));
	assert_int_equal(ble_store_next_counter(st, &c), 0);
	assert_int_equal(c, 0);
	ble_store_free(st);
	st = open_loaded(f, 0);
	ble_store_free(st);
}

static void block_reservation(void **state)
{
	struct fixture *f = *state;
	struct ble_store *st = open_loaded(f, 1);
	uint64_t g = generation(f);
	uint32_t c;

	assert_int_equal(ble_store_reserved(st), 0);
	assert_int_equal(ble_store_next_counter(st, &c), 0);
	assert_int_equal(c, 0);
	/* the block was saved before counter 0 was handed out */
	assert_int_equal(generation(f), g + 1);
	assert_int_equal(ble_store_reserved(st), BLE_STORE_COUNTER_BLOCK);
	for (uint32_t i = 1; i < BLE_STORE_COUNTER_BLOCK; i++) {
		assert_int_equal(ble_store_next_counter(st, &c), 0);
		assert_int_equal(c, i);
	}
	/* 256 counters, one write */
	assert_int_equal(generation(f), g + 1);
	assert_int_equal(ble_store_next_counter(st, &c), 0);
	assert_int_equal(c, BLE_STORE_COUNTER_BLOCK);
	assert_int_equal(generation(f), g + 2);
	assert_int_equal(ble_store_reserved(st), 2 * BLE_STORE_COUNTER_BLOCK);
	ble_store_free(st);
}

static void counter_never_reused_after_crash(void **state)
{
	struct fixture *f = *state;
	int fds[2];
	uint32_t top = 0;

	ble_store_free(open_loaded(f, 1));
	for (int round = 0; round < 3; round++) {
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* Take some counters and die without any cleanup. */
			struct ble_store *st = NULL;
			uint32_t c = 0;
			char err[128];
			if (ble_store_open(f->dir, &st) < 0 || ble_store_load(st, err, sizeof(err)))
				_exit(3);
			for (int i = 0; i < 100 + 150 * round; i++)
				if (ble_store_next_counter(st, &c) < 0)
					_exit(4);
			if (write(fds[1], &c, sizeof(c)) != sizeof(c))
				_exit(5);
			_exit(0);
		}
		close(fds[1]);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		uint32_t last;
		assert_int_equal(read(fds[0], &last, sizeof(last)), sizeof(last));
		close(fds[0]);
		assert_true(round == 0 || last > top);
		top = last;

		struct ble_store *st = open_loaded(f, 0);
		uint32_t c;
		assert_int_equal(ble_store_next_counter(st, &c), 0);
		assert_true(c > top);
		ble_store_free(st);
	}
}

/* The store falls back to the older generation when the newest is
 * damaged; the skipped block keeps counters unique even then. */
static void fallback_generation_never_reuses(void **state)
{
	struct fixture *f = *state;
	struct ble_store *st = open_loaded(f, 1);
	uint32_t c, last = 0;
	char path[160];

	for (uint32_t i = 0; i < BLE_STORE_COUNTER_BLOCK + 10; i++)
		assert_int_equal(ble_store_next_counter(st, &last), 0);
	ble_store_free(st);
	/* Damage the newest generation (the one reserving 512). */
	uint64_t g = generation(f);
	snprintf(path, sizeof(path), "%s/state.%u", f->sub, (unsigned)(g % 2));
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 30), 1);
	close(fd);
	st = open_loaded(f, 0);
	assert_int_equal(ble_store_reserved(st), BLE_STORE_COUNTER_BLOCK);
	assert_int_equal(ble_store_next_counter(st, &c), 0);
	assert_true(c > last);
	ble_store_free(st);
}

/* No counter is handed out unless its block is on disk. */
static void failed_save_hands_out_nothing(void **state)
{
	struct fixture *f = *state;
	struct ble_store *st = open_loaded(f, 1); /* generation 1, in state.1 */
	char blocker[160];
	uint32_t c = 77;

	/* The next save (generation 2) writes state.0.tmp: make that fail. */
	snprintf(blocker, sizeof(blocker), "%s/state.0.tmp", f->sub);
	assert_int_equal(mkdir(blocker, 0700), 0);
	assert_true(ble_store_next_counter(st, &c) < 0);
	assert_int_equal(c, 77);
	assert_int_equal(ble_store_reserved(st), 0);
	assert_true(ble_store_set_encrypt(st, false) < 0);
	assert_true(ble_store_encrypt(st));
	assert_int_equal(rmdir(blocker), 0);
	assert_int_equal(ble_store_next_counter(st, &c), 0);
	assert_int_equal(c, 0);
	ble_store_free(st);
}

static void counter_exhausted(void **state)
{
	struct fixture *f = *state;
	const uint8_t key[16] = {9};
	uint32_t c = 77;

	write_record(f, 1, 0, key, "000000", UINT32_MAX - 300, true);
	struct ble_store *st = open_loaded(f, 0);
	uint32_t n = 0;
	int r;
	while ((r = ble_store_next_counter(st, &c)) == 0)
		n++;
	assert_int_equal(r, -EOVERFLOW);
	assert_int_equal(c, UINT32_MAX - 1);
	assert_int_equal(n, 300 - BLE_STORE_COUNTER_BLOCK);
	ble_store_free(st);
	/* at the very end the start's skip saturates: nothing left */
	write_record(f, 1, 0, key, "000000", UINT32_MAX - 10, true);
	st = open_loaded(f, 0);
	assert_int_equal(ble_store_next_counter(st, &c), -EOVERFLOW);
	ble_store_free(st);
}

static void bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct ble_store *st = NULL;
	char path[160];

	assert_int_equal(ble_store_open(NULL, &st), -EINVAL);
	snprintf(path, sizeof(path), "%s/missing/deeper", f->dir);
	assert_int_equal(ble_store_open(path, &st), -ENOENT);
	assert_int_equal(ble_store_load(NULL, NULL, 0), -EINVAL);
	assert_false(ble_store_had_pin(NULL));
	assert_false(ble_store_encrypt(NULL));
	ble_store_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(fresh_then_round_trip, setup, teardown),
	        cmocka_unit_test_setup_teardown(old_pin_ignored, setup, teardown),
	        cmocka_unit_test_setup_teardown(reads_the_documented_layout, setup, teardown),
	        cmocka_unit_test_setup_teardown(corrupt_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(block_reservation, setup, teardown),
	        cmocka_unit_test_setup_teardown(counter_never_reused_after_crash, setup, teardown),
	        cmocka_unit_test_setup_teardown(fallback_generation_never_reuses, setup, teardown),
	        cmocka_unit_test_setup_teardown(failed_save_hands_out_nothing, setup, teardown),
	        cmocka_unit_test_setup_teardown(counter_exhausted, setup, teardown),
	        cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
