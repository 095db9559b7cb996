/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Crash-safe storage of one opaque record in a directory, two generations.
 *
 * Files: state.0 and state.1 hold alternate generations, each a 24-byte
 * header (magic, generation number, length, checksum) and the record. A save
 * writes state.N.tmp, fsyncs it, renames it over the older generation and
 * fsyncs the directory, so a live name only ever holds a complete file and
 * the newer generation survives a crash during the next save. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Largest record accepted, a guard against a corrupted length. */
#define STATEFILE_MAX_LEN (1024u * 1024u)

/* Returns non-zero when the record is acceptable to the caller. */
typedef int (*statefile_valid_fn)(const uint8_t *rec, size_t len, void *userdata);

struct statefile;

/* Opens (does not create) the directory. */
int statefile_open(const char *dir, struct statefile **ret);
void statefile_free(struct statefile *sf);

#define STATEFILE_WHY_MAX 256

/* Writes rec as a new generation, replacing the older of the two. Returns
 * 0, or 1 when the slot due was a directory and the other slot was written
 * (why says so), or -errno. A file it cannot read (-EACCES: left by another
 * user) is never overwritten: every save is refused until it is readable or
 * gone. */
int statefile_save(struct statefile *sf, const uint8_t *rec, size_t len);
/* The same; on failure why (why_len bytes, may be NULL) names the step and
 * the errno: "creating state.1.tmp: Read-only file system". */
int statefile_save_why(struct statefile *sf, const uint8_t *rec, size_t len, char *why,
                       size_t why_len);

/* 0 when a save may go ahead; else -errno and why: a state file present
 * but unreadable, or saves refused (-EROFS) by statefile_refuse_saves. */
int statefile_check_slots(struct statefile *sf, char *why, size_t why_len);
/* Refuses every later save (-EROFS) for the reason given (a generation of a
 * newer record version must survive a downgrade), until statefile_free. */
void statefile_refuse_saves(struct statefile *sf, const char *why);
/* The reason given to statefile_refuse_saves, or NULL. */
const char *statefile_saves_refused(const struct statefile *sf);

/* Newest generation that valid() accepts (valid may be NULL: any intact one);
 * *ret is malloc'ed, the caller frees it. -ENODATA when none is acceptable. */
int statefile_load(struct statefile *sf, statefile_valid_fn valid, void *userdata, uint8_t **ret,
                   size_t *ret_len);

/* Generation number of the last record saved or loaded, 0 before either. */
uint64_t statefile_generation(const struct statefile *sf);
