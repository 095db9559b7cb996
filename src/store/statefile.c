/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "store/statefile.h"

#define STATEFILE_MAGIC 0x54534d53u /* "SMST" little-endian */
#define HEADER_LEN      24u

struct statefile {
	int dir_fd;
	uint64_t generation;
	char refused[STATEFILE_WHY_MAX]; /* non-empty: every save refused */
};

/* Header, stored little-endian: magic u32, length u32, generation u64,
 * checksum u64 (FNV-1a over the first 16 header bytes and the record). It
 * only tells which generation is newest and whether a file is whole; whether
 * the record makes sense is the caller's validator's business. */
struct header {
	uint32_t magic;
	uint32_t len;
	uint64_t generation;
	uint64_t checksum;
};

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t checksum(const uint8_t *head16, const uint8_t *rec, size_t len)
{
	return fnv1a(fnv1a(0xcbf29ce484222325ull, head16, 16), rec, len);
}

int statefile_open(const char *dir, struct statefile **ret)
{
	if (!dir || !ret)
		return -EINVAL;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct statefile *sf = calloc(1, sizeof(*sf));
	if (!sf) {
		close(fd);
		return -ENOMEM;
	}
	sf->dir_fd = fd;
	*ret = sf;
	return 0;
}

void statefile_free(struct statefile *sf)
{
	if (!sf)
		return;
	close(sf->dir_fd);
	free(sf);
}

uint64_t statefile_generation(const struct statefile *sf)
{
	return sf ? sf->generation : 0;
}

static int read_full(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* Reads slot's file whole and checks its header; *ret gets the record.
 * -ENOENT: no file; -EISDIR: a directory; -EBADMSG: damaged or not a regular
 * file (a FIFO, a device, a symbolic link: opened non-blocking, never read);
 * any other error: the file is there but cannot be read. */
static int read_slot(struct statefile *sf, unsigned slot, struct header *h, uint8_t **ret)
{
	char name[16];
	uint8_t head[HEADER_LEN];
	struct stat st;

	snprintf(name, sizeof(name), "state.%u", slot);
	_cleanup_close_ int fd =
	        openat(sf->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	int r = read_full(fd, head, sizeof(head));
	if (r < 0)
		return r == -ENODATA ? -EBADMSG : r;
	h->magic = (uint32_t)get_le(head, 4);
	h->len = (uint32_t)get_le(head + 4, 4);
	h->generation = get_le(head + 8, 8);
	h->checksum = get_le(head + 16, 8);
	if (h->magic != STATEFILE_MAGIC || h->len > STATEFILE_MAX_LEN ||
	    (uint64_t)st.st_size != HEADER_LEN + (uint64_t)h->len)
		return -EBADMSG;
	_cleanup_free_ uint8_t *rec = malloc(h->len ? h->len : 1);
	if (!rec)
		return -ENOMEM;
	r = read_full(fd, rec, h->len);
	if (r < 0)
		return r == -ENODATA ? -EBADMSG : r;
	if (checksum(head, rec, h->len) != h->checksum)
		return -EBADMSG;
	if (ret)
		*ret = TAKE_PTR(rec);
	return 0;
}

int statefile_load(struct statefile *sf, statefile_valid_fn valid, void *userdata, uint8_t **ret,
                   size_t *ret_len)
{
	struct header h[2];
	uint8_t *rec[2] = {NULL, NULL};
	bool ok[2];

	if (!sf || !ret || !ret_len)
		return -EINVAL;
	for (unsigned s = 0; s < 2; s++) {
		int r = read_slot(sf, s, &h[s], &rec[s]);
		if (r == -ENOMEM) {
			free(rec[0]);
			return r;
		}
		ok[s] = r >= 0;
	}
	/* Newest first; an equal generation cannot happen but would pick 0. */
	unsigned order[2] = {0, 1};
	if (ok[0] && ok[1] && h[1].generation > h[0].generation) {
		order[0] = 1;
		order[1] = 0;
	} else if (!ok[0]) {
		order[0] = 1;
		order[1] = 0;
	}
	int r = -ENODATA;
	for (unsigned i = 0; i < 2; i++) {
		unsigned s = order[i];
		if (!ok[s] || (valid && !valid(rec[s], h[s].len, userdata)))
			continue;
		*ret = TAKE_PTR(rec[s]);
		*ret_len = h[s].len;
		sf->generation = h[s].generation;
		r = 0;
		break;
	}
	free(rec[0]);
	free(rec[1]);
	return r;
}

/* Says which step failed into the caller's buffer; returns r. */
static int fail(int r, char *why, size_t why_len, const char *what, const char *name)
{
	if (why && why_len > 0)
		snprintf(why, why_len, "%s%s%s: %s", what, name ? " " : "", name ? name : "",
		         strerror(-r));
	return r;
}

/* Present but unreadable (permissions, I/O): it may hold the newest
 * generation, so it must not be overwritten. */
static bool slot_unreadable(int r)
{
	return r < 0 && r != -ENOENT && r != -EBADMSG && r != -EISDIR;
}

void statefile_refuse_saves(struct statefile *sf, const char *why)
{
	if (sf)
		snprintf(sf->refused, sizeof(sf->refused), "%s", why && why[0] ? why : "refused");
}

const char *statefile_saves_refused(const struct statefile *sf)
{
	return sf && sf->refused[0] ? sf->refused : NULL;
}

int statefile_check_slots(struct statefile *sf, char *why, size_t why_len)
{
	struct header h;

	if (why && why_len > 0)
		why[0] = '\0';
	if (!sf)
		return -EINVAL;
	if (sf->refused[0]) {
		if (why && why_len > 0)
			snprintf(why, why_len, "%s", sf->refused);
		return -EROFS;
	}
	for (unsigned s = 0; s < 2; s++) {
		int r = read_slot(sf, s, &h, NULL);
		if (slot_unreadable(r)) {
			if (why && why_len > 0)
				snprintf(why, why_len,
				         "state.%u cannot be read (%s): not overwritten, saving "
				         "refused; "
				         "give it to the daemon's user or remove it",
				         s, strerror(-r));
			return r;
		}
	}
	return 0;
}

int statefile_save(struct statefile *sf, const uint8_t *rec, size_t len)
{
	return statefile_save_why(sf, rec, len, NULL, 0);
}

int statefile_save_why(struct statefile *sf, const uint8_t *rec, size_t len, char *why,
                       size_t why_len)
{
	struct header h[2];
	uint64_t newest = 0;
	uint8_t head[HEADER_LEN];
	char tmp[16], live[16];

	if (why && why_len > 0)
		why[0] = '\0';
	if (!sf || (!rec && len) || len > STATEFILE_MAX_LEN)
		return fail(-EINVAL, why, why_len, "saving a record", NULL);
	int rs[2];
	int r = statefile_check_slots(sf, why, why_len);
	if (r < 0)
		return r;
	/* The slot to overwrite is the one not holding the newest intact
	 * generation, so that the newest survives a crash during this save. */
	for (unsigned s = 0; s < 2; s++) {
		rs[s] = read_slot(sf, s, &h[s], NULL);
		if (rs[s] >= 0 && h[s].generation > newest)
			newest = h[s].generation;
	}
	if (sf->generation > newest)
		newest = sf->generation;
	uint64_t gen = newest + 1;
	unsigned slot = (unsigned)(gen & 1);
	if (read_slot(sf, slot ^ 1u, &h[slot ^ 1u], NULL) < 0 ||
	    h[slot ^ 1u].generation != newest) {
		/* The newest lives in the slot we would overwrite (files renamed
		 * by hand): write the other slot instead, keeping the newest. */
		if (rs[slot] >= 0 && h[slot].generation == newest)
			slot ^= 1u;
	}
	/* A directory in the slot due would refuse every rename over it: the
	 * other slot takes this generation, and the caller is told. */
	bool moved = false;
	if (rs[slot] == -EISDIR) {
		if (rs[slot ^ 1u] == -EISDIR)
			return fail(-EISDIR, why, why_len, "saving: both state.0 and state.1 are",
			            "directories");
		slot ^= 1u;
		moved = true;
	}

	put_le(head, STATEFILE_MAGIC, 4);
	put_le(head + 4, len, 4);
	put_le(head + 8, gen, 8);
	put_le(head + 16, checksum(head, rec, len), 8);

	snprintf(tmp, sizeof(tmp), "state.%u.tmp", slot);
	snprintf(live, sizeof(live), "state.%u", slot);
	_cleanup_close_ int fd = openat(
	        sf->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail(-errno, why, why_len, "creating", tmp);
	/* Run as root (smallbmsd --set), the file still goes to the directory's
	 * owner, the daemon's user: a root-owned generation would be one the
	 * daemon cannot read. */
	if (geteuid() == 0) {
		struct stat dst;
		if (fstat(sf->dir_fd, &dst) < 0 || fchown(fd, dst.st_uid, dst.st_gid) < 0) {
			r = -errno;
			unlinkat(sf->dir_fd, tmp, 0);
			return fail(r, why, why_len, "giving the directory's owner", tmp);
		}
	}
	const char *step = "writing";
	r = write_full(fd, head, sizeof(head));
	if (r >= 0 && len)
		r = write_full(fd, rec, len);
	if (r >= 0 && fsync(fd) < 0) {
		r = -errno;
		step = "syncing";
	}
	if (r < 0) {
		unlinkat(sf->dir_fd, tmp, 0);
		return fail(r, why, why_len, step, tmp);
	}
	if (renameat(sf->dir_fd, tmp, sf->dir_fd, live) < 0) {
		r = -errno;
		unlinkat(sf->dir_fd, tmp, 0);
		char names[40];
		snprintf(names, sizeof(names), "%s to %s", tmp, live);
		return fail(r, why, why_len, "renaming", names);
	}
	if (fsync(sf->dir_fd) < 0)
		return fail(-errno, why, why_len, "syncing the directory after writing", live);
	sf->generation = gen;
	if (moved) {
		if (why && why_len > 0)
			snprintf(why, why_len,
			         "state.%u is a directory: wrote %s instead; remove it", slot ^ 1u,
			         live);
		return 1;
	}
	return 0;
}
