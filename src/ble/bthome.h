/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * BTHome v2 "instant readout" (https://bthome.io/format/, /encryption/): the
 * service data of the 16-bit UUID 0xFCD2 that smallbmsd advertises, so that
 * Home Assistant and other receivers show the bank without connecting.
 *
 * A legacy advertisement (31 bytes, 3 of them Flags) leaves the service
 * data 24 bytes (after its 2-byte header and the UUID); the encrypted form
 * spends 9 of them (device info, counter, MIC), so at most 15 bytes of
 * objects fit. Everything the issue asks for takes 23, so two packets
 * alternate (advert.c), each a complete BTHome v2 packet with its own
 * counter, objects in the ascending id order BTHome v2 requires, each
 * omitted while its value is not known (docs/ble.md has the why):
 *
 *   packet A                                 bytes
 *   0x01 battery     uint8  1 %      SoC rounded to nearest, 0..100     2
 *   0x0C voltage     uint16 0.001 V  bank voltage, 0..65.535 V          3
 *   0x15 battery low uint8  binary   W1, W2, A1, A2 or A5 active        2
 *   0x26 problem     uint8  binary   any alarm (A) or error (E) active  2
 *   0x45 temperature sint16 0.1 degC the hottest battery sensor         3
 *   0x5D current     sint16 0.001 A  bank current, +-32.767 A           3
 *                                                                      15
 *   packet B
 *   0x01 battery     uint8  1 %      as in A                            2
 *   0x15 battery low uint8  binary   as in A                            2
 *   0x26 problem     uint8  binary   as in A                            2
 *   0x42 duration    uint24 0.001 s  time remaining, 0..16777.215 s     4
 *   0x5C power       sint32 0.01 W   bank power, negative discharging   5
 *                                                                      15
 * A value outside its object's range is clamped to the bound, never
 * wrapped (time remaining beyond 4 h 39 min 37 s reads as that bound).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "service/snapshot.h"

/* BTHome device information byte: version 2 in bits 5-7, bit 0 encrypted. */
#define BTHOME_DEVICE_INFO           0x40
#define BTHOME_DEVICE_INFO_ENCRYPTED 0x01
#define BTHOME_UUID16                0xFCD2
#define BTHOME_KEY_LEN               16
#define BTHOME_MIC_LEN               4
/* Longest service data bthome_encode() writes (encrypted, every object). */
#define BTHOME_MAX_LEN 24

/* Which of the two alternating packets (see above). */
enum bthome_packet {
	BTHOME_PACKET_A, /* SoC, voltage, flags, temperature, current */
	BTHOME_PACKET_B, /* SoC, flags, time remaining, power */
	BTHOME_PACKET_COUNT,
};

struct bthome_values { /* what the advertisement carries */
	bool soc_known;
	int32_t soc_cpct;
	bool measure_valid;
	int32_t bank_mv;
	int32_t current_ma;
	int64_t power_mw; /* packet B, with measure_valid */
	bool temp_valid;
	int16_t temp_dc;
	bool time_remaining_known; /* packet B */
	int64_t time_remaining_s;
	uint32_t codes; /* BMS_CODE_BIT mask: alarm/warning state */
};

void bthome_values_from_snapshot(const struct svc_snapshot *s, struct bthome_values *v);

/* BTHome v2 service data (the bytes after the 16-bit UUID 0xFCD2) of
 * packet A or B: device info byte, then the objects; when key16 != NULL encrypted with
 * AES-CCM (BTHome's scheme: nonce = MAC(6) + UUID(2, LE) + device info(1)
 * + counter(4, LE), 4-byte MIC, counter appended) using nettle's
 * AES-128-CCM. mac is the advertiser's address as written, most
 * significant byte first (54:48:E6:8F:80:A5 = {0x54, 0x48, ...}). The
 * counter must never repeat under one key (ble_store.h). Returns bytes, or
 * -EINVAL, -ENOBUFS. */
ssize_t bthome_encode(const struct bthome_values *v, enum bthome_packet packet,
                      const uint8_t mac[6], const uint8_t *key16, uint32_t counter, uint8_t *out,
                      size_t cap);

/* The encryption step alone: service data for already-encoded objects
 * (device info 0x41, ciphertext, counter, MIC). For tests against
 * BTHome's worked example. Returns bytes or -EINVAL, -ENOBUFS, -EIO. */
ssize_t bthome_encrypt(const uint8_t *objects, size_t len, const uint8_t mac[6],
                       const uint8_t key16[16], uint32_t counter, uint8_t *out, size_t cap);
