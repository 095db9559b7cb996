/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ble/ble_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "core/crc32.h"
#include "core/le_codec.h"
#include "store/statefile.h"

struct ble_store {
	char *dir;
	struct statefile *sf;
	bool loaded;
	struct ble_store_record state;
	uint32_t next; /* the next counter to hand out */
	bool had_pin;  /* the loaded record held a PIN set by an older smallbmsd */
};

#define FLAG_UNENCRYPTED 0x01u

static int fail(char *err, size_t errlen, int r, const char *fmt, ...) _printf_(4, 5);

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static bool pin_valid(const char *pin)
{
	if (!pin || strlen(pin) != BLE_STORE_PIN_LEN)
		return false;
	for (size_t i = 0; i < BLE_STORE_PIN_LEN; i++)
		if (pin[i] < '0' || pin[i] > '9')
			return false;
	return true;
}

void ble_store_record_encode(const struct ble_store_record *s, uint8_t rec[BLE_STORE_RECORD_LEN])
{
	struct le_writer w = {.p = rec, .cap = BLE_STORE_RECORD_LEN};

	le_put_bytes(&w, BLE_STORE_MAGIC, 4);
	le_put_u8(&w, BLE_STORE_VERSION);
	le_put_u8(&w, s->unencrypted ? FLAG_UNENCRYPTED : 0);
	le_put_u16(&w, 0);
	le_put_bytes(&w, s->key, BLE_STORE_KEY_LEN);
	le_put_bytes(&w, s->pin, BLE_STORE_PIN_LEN);
	le_put_u32(&w, s->reserved);
	le_put_u32(&w, crc32_ieee(rec, BLE_STORE_RECORD_LEN - 4));
}

/* Every field checked; a newer version is refused, not misread. */
int ble_store_record_decode(const uint8_t *rec, size_t len, struct ble_store_record *out, char *err,
                            size_t errlen)
{
	struct le_reader r = {.p = rec, .len = len};
	struct ble_store_record s = {0};
	uint8_t version, flags;

	if (len != BLE_STORE_RECORD_LEN)
		return fail(err, errlen, -EBADMSG, "record of %zu bytes, expected %d", len,
		            BLE_STORE_RECORD_LEN);
	if (memcmp(rec, BLE_STORE_MAGIC, 4) != 0)
		return fail(err, errlen, -EBADMSG, "not a Bluetooth state record (bad magic)");
	le_skip(&r, 4);
	version = le_get_u8(&r);
	if (version != BLE_STORE_VERSION)
		return fail(err, errlen, -EBADMSG, "record version %u, this smallbmsd reads %d",
		            version, BLE_STORE_VERSION);
	flags = le_get_u8(&r);
	if (flags & ~FLAG_UNENCRYPTED)
		return fail(err, errlen, -EBADMSG, "unknown flags 0x%02x", flags);
	if (le_get_u16(&r) != 0)
		return fail(err, errlen, -EBADMSG, "reserved field not zero");
	for (size_t i = 0; i < BLE_STORE_KEY_LEN; i++)
		s.key[i] = le_get_u8(&r);
	for (size_t i = 0; i < BLE_STORE_PIN_LEN; i++)
		s.pin[i] = (char)le_get_u8(&r);
	s.pin[BLE_STORE_PIN_LEN] = '\0';
	s.reserved = le_get_u32(&r);
	uint32_t crc = le_get_u32(&r);
	if (crc != crc32_ieee(rec, BLE_STORE_RECORD_LEN - 4))
		return fail(err, errlen, -EBADMSG, "checksum mismatch");
	if (!pin_valid(s.pin))
		return fail(err, errlen, -EBADMSG, "PIN is not six digits");
	s.unencrypted = flags & FLAG_UNENCRYPTED;
	*out = s;
	return 0;
}

static int record_acceptable(const uint8_t *rec, size_t len, void *userdata)
{
	struct ble_store_record s;

	(void)userdata;
	return ble_store_record_decode(rec, len, &s, NULL, 0) == 0;
}

static int save(struct ble_store *st, const struct ble_store_record *s)
{
	uint8_t rec[BLE_STORE_RECORD_LEN];

	ble_store_record_encode(s, rec);
	return statefile_save(st->sf, rec, sizeof(rec));
}

static int random_key(uint8_t key[BLE_STORE_KEY_LEN])
{
	size_t got = 0;

	while (got < BLE_STORE_KEY_LEN) {
		ssize_t n = getrandom(key + got, BLE_STORE_KEY_LEN - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

int ble_store_open(const char *state_dir, struct ble_store **ret)
{
	_cleanup_free_ struct ble_store *st = NULL;
	int r;

	if (!state_dir || !ret)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	if (asprintf(&st->dir, "%s/%s", state_dir, BLE_STORE_SUBDIR) < 0) {
		st->dir = NULL;
		return -ENOMEM;
	}
	if (mkdir(st->dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		free(st->dir);
		return r;
	}
	r = statefile_open(st->dir, &st->sf);
	if (r < 0) {
		free(st->dir);
		return r;
	}
	*ret = TAKE_PTR(st);
	return 0;
}

void ble_store_free(struct ble_store *st)
{
	if (!st)
		return;
	statefile_free(st->sf);
	free(st->dir);
	explicit_bzero(&st->state, sizeof(st->state));
	free(st);
}

/* Whether either generation's file exists (damaged or not). */
static int any_file(const struct ble_store *st)
{
	static const char *const names[] = {"state.0", "state.1"};

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/%s", st->dir, names[i]) < 0)
			return -ENOMEM;
		if (access(path, F_OK) == 0)
			return 1;
		if (errno != ENOENT)
			return -errno;
	}
	return 0;
}

static int fresh_state(struct ble_store_record *s)
{
	*s = (struct ble_store_record){0};
	memcpy(s->pin, BLE_STORE_PIN_PLACEHOLDER, sizeof(s->pin));
	return random_key(s->key);
}

int ble_store_load(struct ble_store *st, char *err, size_t errlen)
{
	_cleanup_free_ uint8_t *rec = NULL;
	struct ble_store_record s;
	size_t len = 0;
	int r;

	if (!st)
		return -EINVAL;
	r = statefile_load(st->sf, record_acceptable, NULL, &rec, &len);
	if (r == -ENODATA) {
		int any = any_file(st);
		if (any < 0)
			return fail(err, errlen, any, "cannot look into %s: %s", st->dir,
			            strerror(-any));
		if (any)
			return fail(err, errlen, -EBADMSG,
			            "Bluetooth state in %s is damaged; refusing it (no new key "
			            "made: make one explicitly to start afresh)",
			            st->dir);
		r = fresh_state(&s);
		if (r < 0)
			return fail(err, errlen, r, "getrandom: %s", strerror(-r));
		r = save(st, &s);
		if (r < 0)
			return fail(err, errlen, r, "cannot save the new Bluetooth state in %s: %s",
			            st->dir, strerror(-r));
		st->state = s;
		st->next = 0;
		st->loaded = true;
		return 1;
	}
	if (r < 0)
		return fail(err, errlen, r, "cannot read the Bluetooth state in %s: %s", st->dir,
		            strerror(-r));
	r = ble_store_record_decode(rec, len, &s, err, errlen);
	if (r < 0)
		return r;
	/* Phones pair in a pairing window now (docs/ble.md): a PIN that an
	 * older smallbmsd kept is ignored, and the next save overwrites it. */
	st->had_pin = strcmp(s.pin, BLE_STORE_PIN_PLACEHOLDER) != 0;
	memcpy(s.pin, BLE_STORE_PIN_PLACEHOLDER, sizeof(s.pin));
	st->state = s;
	/* One block further: the older generation may lag a block behind. */
	st->next = s.reserved > UINT32_MAX - BLE_STORE_COUNTER_BLOCK
	                   ? UINT32_MAX
	                   : s.reserved + BLE_STORE_COUNTER_BLOCK;
	st->loaded = true;
	return 0;
}

int ble_store_next_counter(struct ble_store *st, uint32_t *counter)
{
	if (!st || !counter)
		return -EINVAL;
	if (!st->loaded)
		return -ENODATA;
	/* UINT32_MAX itself is never handed out: it marks "spent". */
	if (st->next == UINT32_MAX)
		return -EOVERFLOW;
	if (st->next >= st->state.reserved) {
		struct ble_store_record s = st->state;
		uint64_t end = (uint64_t)st->next + BLE_STORE_COUNTER_BLOCK;
		s.reserved = end > UINT32_MAX ? UINT32_MAX : (uint32_t)end;
		int r = save(st, &s);
		if (r < 0)
			return r;
		st->state.reserved = s.reserved;
	}
	*counter = st->next++;
	return 0;
}

int ble_store_set_encrypt(struct ble_store *st, bool encrypt)
{
	if (!st)
		return -EINVAL;
	if (!st->loaded)
		return -ENODATA;
	struct ble_store_record s = st->state;
	s.unencrypted = !encrypt;
	int r = save(st, &s);
	if (r < 0)
		return r;
	st->state = s;
	return 0;
}

int ble_store_new_key(struct ble_store *st)
{
	struct ble_store_record s;
	int r;

	if (!st)
		return -EINVAL;
	if (st->loaded) {
		s = st->state;
		r = random_key(s.key);
	} else {
		r = fresh_state(&s);
	}
	if (r < 0)
		return r;
	r = save(st, &s);
	if (r < 0)
		return r;
	/* A loaded store keeps counting up under the new key, so receivers
	 * that check for a rising counter keep working. */
	if (!st->loaded)
		st->next = 0;
	st->state = s;
	st->loaded = true;
	explicit_bzero(&s, sizeof(s));
	return 0;
}

const uint8_t *ble_store_key(const struct ble_store *st)
{
	return st && st->loaded ? st->state.key : NULL;
}

int ble_store_key_hex(const struct ble_store *st, char out[2 * BLE_STORE_KEY_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	if (!st || !st->loaded || !out)
		return -ENODATA;
	for (size_t i = 0; i < BLE_STORE_KEY_LEN; i++) {
		out[2 * i] = hex[st->state.key[i] >> 4];
		out[2 * i + 1] = hex[st->state.key[i] & 0x0f];
	}
	out[2 * BLE_STORE_KEY_LEN] = '\0';
	return 0;
}

bool ble_store_had_pin(const struct ble_store *st)
{
	return st && st->loaded && st->had_pin;
}

bool ble_store_encrypt(const struct ble_store *st)
{
	return st && st->loaded && !st->state.unencrypted;
}

uint32_t ble_store_reserved(const struct ble_store *st)
{
	return st && st->loaded ? st->state.reserved : 0;
}
