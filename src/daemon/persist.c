/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "daemon/persist.h"

void persist_record_default(struct record *r)
{
	memset(r, 0, sizeof(*r));
	settings_default(&r->settings);
	history_reset(&r->hist);
	balancer_reset(&r->bal);
}

int persist_open(const char *dir, struct statefile **ret)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return statefile_open(dir, ret);
}

struct load_check {
	struct record *scratch;
	char *err;
	size_t errlen;
	char newer[STATEFILE_WHY_MAX]; /* a generation of a version not this one's */
};

static int record_acceptable(const uint8_t *rec, size_t len, void *userdata)
{
	struct load_check *lc = userdata;
	char why[160] = "";
	int r = record_decode(rec, len, lc->scratch, why, sizeof(why));

	if (r < 0 && lc->err && lc->errlen)
		snprintf(lc->err, lc->errlen, "%s", why);
	if (r == -ENOTSUP && !lc->newer[0])
		snprintf(lc->newer, sizeof(lc->newer),
		         "a state generation holds a record this daemon cannot read (%s): not "
		         "overwritten, saving refused",
		         why);
	return r == 0;
}

static bool any_generation(const char *dir)
{
	char path[4096];
	struct stat st;

	for (unsigned g = 0; g < 2; g++) {
		snprintf(path, sizeof(path), "%s/state.%u", dir, g);
		if (stat(path, &st) == 0)
			return true;
	}
	return false;
}

int persist_load(struct statefile *sf, const char *dir, struct record *out, char *err,
                 size_t errlen)
{
	_cleanup_free_ struct record *scratch = calloc(1, sizeof(*scratch));
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;

	if (!scratch)
		return -ENOMEM;
	if (err && errlen)
		err[0] = '\0';
	struct load_check lc = {.scratch = scratch, .err = err, .errlen = errlen};
	int r = statefile_load(sf, record_acceptable, &lc, &buf, &len);
	/* A newer daemon's record survives running an older one: never saved over. */
	if (lc.newer[0])
		statefile_refuse_saves(sf, lc.newer);
	if (r == 0) {
		r = record_decode(buf, len, out, err, errlen);
		if (r == 0)
			return PERSIST_LOADED;
	}
	persist_record_default(out);
	if (r == -ENODATA && !any_generation(dir))
		return PERSIST_NONE;
	if (r != -ENODATA && r != -EBADMSG && r != -ENOTSUP && r != -ERANGE)
		return r;
	if (err && errlen && !err[0])
		snprintf(err, errlen, "no intact generation in %s", dir);
	return PERSIST_UNREADABLE;
}

int persist_encode(const struct record *r, uint8_t *buf, size_t cap, char *err, size_t errlen)
{
	return record_encode(r, buf, cap, err, errlen);
}

int persist_save(struct statefile *sf, const struct record *r, char *err, size_t errlen)
{
	uint8_t buf[RECORD_MAX_SIZE];
	int len = persist_encode(r, buf, sizeof(buf), err, errlen);

	if (len < 0) {
		if (err && errlen) {
			char what[160];
			snprintf(what, sizeof(what), "%s", err[0] ? err : "refused");
			snprintf(err, errlen, "encoding the record (%s): %s", what, strerror(-len));
		}
		return len;
	}
	return statefile_save_why(sf, buf, (size_t)len, err, errlen);
}

const char *persist_trigger(const struct protection_output *before,
                            const struct protection_output *now)
{
	if (!before || !now)
		return NULL;
	if (now->atd_closed != before->atd_closed)
		return now->atd_closed ? "load output closed" : "load output opened";
	if (now->atc_closed != before->atc_closed)
		return now->atc_closed ? "charge output closed" : "charge output opened";
	if (now->latched_rules & ~before->latched_rules)
		return "latch engaged";
	if (now->prealarm_active && !before->prealarm_active)
		return "lead started";
	return NULL;
}

bool persist_due(const struct persist_cadence *c, uint64_t now_us, bool dirty, bool urgent)
{
	if (urgent)
		return true;
	if (!dirty)
		return false;
	return !c->have_saved || now_us - c->last_save_us >= PERSIST_PERIOD_US;
}

void persist_saved(struct persist_cadence *c, uint64_t now_us)
{
	c->have_saved = true;
	c->last_save_us = now_us;
}

uint64_t persist_next_us(const struct persist_cadence *c, uint64_t now_us)
{
	return c->have_saved ? c->last_save_us + PERSIST_PERIOD_US : now_us;
}
