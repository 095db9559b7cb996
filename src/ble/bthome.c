/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ble/bthome.h"

#include <errno.h>
#include <string.h>

#include <nettle/ccm.h>

#include "common/macro.h"
#include "core/codes.h"

enum {
	OBJ_BATTERY = 0x01,
	OBJ_VOLTAGE_MV = 0x0C,
	OBJ_BATTERY_LOW = 0x15,
	OBJ_PROBLEM = 0x26,
	OBJ_DURATION_MS = 0x42,
	OBJ_TEMPERATURE_DC = 0x45,
	OBJ_POWER_CW = 0x5C, /* centiwatt: 0.01 W */
	OBJ_CURRENT_MA = 0x5D,
};

/* uint24 in ms: 16777.215 s, 4 h 39 min 37 s. */
#define DURATION_MS_MAX 0xFFFFFF

/* Codes that mean "the battery is low": low SoC and under-voltage. */
#define BATTERY_LOW_CODES                                                                          \
	(BMS_CODE_BIT(BMS_W1) | BMS_CODE_BIT(BMS_W2) | BMS_CODE_BIT(BMS_A1) |                      \
	 BMS_CODE_BIT(BMS_A2) | BMS_CODE_BIT(BMS_A5))

/* Bytes of the objects before encryption, either packet: A is
 * 2 + 3 + 2 + 2 + 3 + 3, B is 2 + 2 + 2 + 4 + 5. */
#define OBJECTS_MAX 15

void bthome_values_from_snapshot(const struct svc_snapshot *s, struct bthome_values *v)
{
	*v = (struct bthome_values){
	        .soc_known = s->soc_known,
	        .soc_cpct = s->soc_cpct,
	        .measure_valid = s->measure_valid,
	        .bank_mv = s->bank_mv,
	        .current_ma = s->current_ma,
	        .power_mw = s->power_mw,
	        .temp_valid = s->max_temp_dc != M8_TEMP_NA,
	        .temp_dc = s->max_temp_dc,
	        .time_remaining_known = s->time_remaining_known,
	        .time_remaining_s = s->time_remaining_s,
	        .codes = s->have_protection ? s->prot.codes : 0,
	};
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static size_t put_le(uint8_t *p, uint8_t id, uint32_t v, size_t bytes)
{
	p[0] = id;
	for (size_t i = 0; i < bytes; i++)
		p[1 + i] = (uint8_t)(v >> (8 * i));
	return 1 + bytes;
}

/* mW to 0.01 W, rounded to nearest (half away from zero), clamped to the
 * sint32 of object 0x5C. Clamping first keeps the rounding in range. */
static int32_t power_cw(int64_t mw)
{
	int64_t c = clamp(mw, (int64_t)INT32_MIN * 10 - 10, (int64_t)INT32_MAX * 10 + 10);

	c = c < 0 ? (c - 5) / 10 : (c + 5) / 10;
	return (int32_t)clamp(c, INT32_MIN, INT32_MAX);
}

/* Seconds to the uint24 ms of object 0x42, clamped at 0 and its maximum. */
static uint32_t duration_ms(int64_t s)
{
	/* The seconds clamped first: the product cannot overflow. */
	int64_t ms = clamp(s, 0, DURATION_MS_MAX / 1000 + 1) * 1000;

	return (uint32_t)(ms > DURATION_MS_MAX ? DURATION_MS_MAX : ms);
}

static size_t put_objects(const struct bthome_values *v, enum bthome_packet packet, uint8_t *p)
{
	uint32_t problem =
	        bms_code_class_mask(BMS_CLASS_ALARM) | bms_code_class_mask(BMS_CLASS_ERROR);
	bool a = packet == BTHOME_PACKET_A;
	size_t n = 0;

	if (v->soc_known) /* rounded to nearest whole percent */
		n += put_le(p + n, OBJ_BATTERY,
		            (uint32_t)((clamp(v->soc_cpct, 0, 10000) + 50) / 100), 1);
	if (a && v->measure_valid)
		n += put_le(p + n, OBJ_VOLTAGE_MV, (uint32_t)clamp(v->bank_mv, 0, UINT16_MAX), 2);
	n += put_le(p + n, OBJ_BATTERY_LOW, (v->codes & BATTERY_LOW_CODES) ? 1 : 0, 1);
	n += put_le(p + n, OBJ_PROBLEM, (v->codes & problem) ? 1 : 0, 1);
	if (!a && v->time_remaining_known)
		n += put_le(p + n, OBJ_DURATION_MS, duration_ms(v->time_remaining_s), 3);
	/* The object's sint16 in 0.1 degC is temp_dc's own range. */
	if (a && v->temp_valid)
		n += put_le(p + n, OBJ_TEMPERATURE_DC, (uint16_t)v->temp_dc, 2);
	if (!a && v->measure_valid)
		n += put_le(p + n, OBJ_POWER_CW, (uint32_t)power_cw(v->power_mw), 4);
	if (a && v->measure_valid)
		n += put_le(p + n, OBJ_CURRENT_MA,
		            (uint16_t)(int16_t)clamp(v->current_ma, INT16_MIN, INT16_MAX), 2);
	return n;
}

/* AES-128-CCM (nettle), 13-byte nonce, no associated data, 4-byte tag;
 * out gets len bytes, tag 4. The key schedule is wiped afterwards. */
static int bthome_ccm(const uint8_t key[16], const uint8_t nonce[13], const uint8_t *in, size_t len,
                      uint8_t *out, uint8_t tag[BTHOME_MIC_LEN])
{
	struct ccm_aes128_ctx ctx;

	/* CCM with a 13-byte nonce has a 2-byte length field: 65535 bytes
	 * at most (nettle asserts on more). */
	if (len > 0xffff)
		return -EINVAL;
	ccm_aes128_set_key(&ctx, key);
	ccm_aes128_set_nonce(&ctx, 13, nonce, 0, len, BTHOME_MIC_LEN);
	ccm_aes128_encrypt(&ctx, len, out, in);
	ccm_aes128_digest(&ctx, BTHOME_MIC_LEN, tag);
	explicit_bzero(&ctx, sizeof(ctx));
	return 0;
}

ssize_t bthome_encrypt(const uint8_t *objects, size_t len, const uint8_t mac[6],
                       const uint8_t key16[16], uint32_t counter, uint8_t *out, size_t cap)
{
	uint8_t info = BTHOME_DEVICE_INFO | BTHOME_DEVICE_INFO_ENCRYPTED;
	uint8_t ctr[4] = {(uint8_t)counter, (uint8_t)(counter >> 8), (uint8_t)(counter >> 16),
	                  (uint8_t)(counter >> 24)};
	uint8_t nonce[13];
	size_t need = 1 + len + 4 + BTHOME_MIC_LEN;
	int r;

	if (!objects || !mac || !key16 || !out || len > INT32_MAX / 2)
		return -EINVAL;
	if (cap < need)
		return -ENOBUFS;
	memcpy(nonce, mac, 6);
	nonce[6] = (uint8_t)(BTHOME_UUID16 & 0xff);
	nonce[7] = (uint8_t)(BTHOME_UUID16 >> 8);
	nonce[8] = info;
	memcpy(nonce + 9, ctr, 4);

	r = bthome_ccm(key16, nonce, objects, len, out + 1, out + 1 + len + 4);
	if (r < 0)
		return r;
	out[0] = info;
	memcpy(out + 1 + len, ctr, 4);
	return (ssize_t)need;
}

ssize_t bthome_encode(const struct bthome_values *v, enum bthome_packet packet,
                      const uint8_t mac[6], const uint8_t *key16, uint32_t counter, uint8_t *out,
                      size_t cap)
{
	uint8_t obj[OBJECTS_MAX];
	size_t n;

	if (!v || !out || (unsigned)packet >= BTHOME_PACKET_COUNT)
		return -EINVAL;
	n = put_objects(v, packet, obj);
	if (key16)
		return bthome_encrypt(obj, n, mac, key16, counter, out, cap);
	if (cap < 1 + n)
		return -ENOBUFS;
	out[0] = BTHOME_DEVICE_INFO;
	memcpy(out + 1, obj, n);
	return (ssize_t)(1 + n);
}
