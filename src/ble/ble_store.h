/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Bluetooth state that survives restarts, in <state dir>/bluetooth/
 * (two generations, store/statefile.h): the BTHome bind key, whether to
 * advertise unencrypted and the advertisement counter. The record keeps the
 * six bytes that held the pairing PIN before pairing windows (issue 14):
 * written as "000000", a stored PIN is ignored (ble_store_had_pin()).
 *
 * The counter is reserved in blocks of BLE_STORE_COUNTER_BLOCK: a block's
 * end is saved before any counter of it is handed out, so a crash never
 * reuses a counter under one key (AES-CCM nonces must never repeat) and the
 * flash is written once per 256 advertisements, not every 5 s. A start
 * skips one more block, because the store falls back to the older
 * generation when the newest file is damaged, and that one may be a block
 * behind.
 *
 * A damaged file is refused (-EBADMSG with a message); no new key is made
 * over it unless the caller asks with ble_store_new_key().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLE_STORE_KEY_LEN 16
#define BLE_STORE_PIN_LEN 6
/* What the former PIN field holds now; older smallbmsd read it as a PIN. */
#define BLE_STORE_PIN_PLACEHOLDER "000000"
#define BLE_STORE_COUNTER_BLOCK   256u
#define BLE_STORE_SUBDIR          "bluetooth"
/* The record (docs/ble.md): magic, version, flags, key, PIN, counter, CRC. */
#define BLE_STORE_MAGIC      "SBBT"
#define BLE_STORE_VERSION    1
#define BLE_STORE_RECORD_LEN 38

struct ble_store;

/* What the record holds. */
struct ble_store_record {
	uint8_t key[BLE_STORE_KEY_LEN];
	/* the former PIN: six ASCII digits, terminated; "000000" when saved */
	char pin[BLE_STORE_PIN_LEN + 1];
	bool unencrypted;
	uint32_t reserved; /* every counter below it may have been used */
};

/* The record's bytes (docs/ble.md), as ble_store_load() reads them: every
 * field checked, a newer version refused; -EBADMSG with err, out untouched.
 * Exported for the fuzz target (tests/fuzz/fuzz_ble_store.c). */
int ble_store_record_decode(const uint8_t *rec, size_t len, struct ble_store_record *out, char *err,
                            size_t errlen);
/* The record as saved, CRC included. */
void ble_store_record_encode(const struct ble_store_record *s, uint8_t rec[BLE_STORE_RECORD_LEN]);

/* Creates <state_dir>/bluetooth (0700) if missing and opens it; loads
 * nothing yet. */
int ble_store_open(const char *state_dir, struct ble_store **ret);
void ble_store_free(struct ble_store *st);

/*
 * Loads the saved state. With none saved yet, makes the first one (a key
 * from getrandom(2), encrypted advertising, counter 0), saves
 * it and returns 1. 0 when loaded; -EBADMSG with err when the files exist
 * but none is acceptable (nothing is written then); other -errno.
 */
int ble_store_load(struct ble_store *st, char *err, size_t errlen);

/* The next advertisement counter; saves a new block first when the
 * reserved one is used up. -ENODATA before a load, -EOVERFLOW when the
 * 32-bit counter is spent (make a new key), or the save's error: no counter
 * is handed out unless it is reserved on disk. */
int ble_store_next_counter(struct ble_store *st, uint32_t *counter);

int ble_store_set_encrypt(struct ble_store *st, bool encrypt);
/* A new bind key from getrandom(2), saved; also the explicit way out of a
 * refused (damaged) store, which it replaces with a fresh state whose
 * counter starts at 0 under the new key. */
int ble_store_new_key(struct ble_store *st);

/* Valid after a successful load (NULL / false / 0 before). */
const uint8_t *ble_store_key(const struct ble_store *st);
/* The key as 32 lowercase hex digits, for Home Assistant's bind key. */
int ble_store_key_hex(const struct ble_store *st, char out[2 * BLE_STORE_KEY_LEN + 1]);
/* The loaded record held a PIN other than "000000", set with an older
 * smallbmsd: it is ignored (and overwritten by the next save). */
bool ble_store_had_pin(const struct ble_store *st);
bool ble_store_encrypt(const struct ble_store *st);
/* End of the reserved block as saved: every counter below it may be used. */
uint32_t ble_store_reserved(const struct ble_store *st);
