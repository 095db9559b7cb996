/* SPDX-License-Identifier: GPL-2.0-or-later */
/* INFO and STATUS payloads (docs/m8bus.md section 4). Decoders check everything
 * before they write, so a bad payload leaves the caller's copy intact. */
#include <errno.h>
#include <string.h>

#include "smallbms/m8_proto.h"

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v & 0xFF);
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

/* A serial is 1..16 printable ASCII characters, NUL-padded to 16 bytes. */
static bool serial_valid(const uint8_t *s, size_t len)
{
	size_t n = 0;
	while (n < len && s[n] != 0)
		n++;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7E)
			return false;
	for (size_t i = n; i < len; i++)
		if (s[i] != 0)
			return false;
	return true;
}

static bool info_values_valid(uint8_t type, uint8_t cells, uint8_t sensors)
{
	unsigned want = m8_type_cells(type);
	return want != 0 && cells == want && sensors >= 1 && sensors <= M8_MAX_TEMPS;
}

int m8_info_encode(const struct m8_info *info, uint8_t *out, size_t cap)
{
	if (!info || !out)
		return -EINVAL;
	size_t slen = strnlen(info->serial, sizeof(info->serial));
	if (slen > M8_SERIAL_LEN)
		return -EINVAL;
	if (!serial_valid((const uint8_t *)info->serial, slen) ||
	    !info_values_valid(info->type, info->cells, info->sensors))
		return -EINVAL;
	if (cap < M8_INFO_LEN)
		return -ENOBUFS;

	memset(out, 0, M8_INFO_LEN);
	memcpy(out, info->serial, slen);
	out[16] = info->type;
	put_u16(out + 17, info->capacity_ah);
	out[19] = info->cells;
	out[20] = info->sensors;
	out[21] = info->fw_major;
	out[22] = info->fw_minor;
	out[23] = info->fw_patch;
	put_u16(out + 24, info->max_charge_a);
	put_u16(out + 26, info->max_charge_pulse_a);
	put_u16(out + 28, info->max_discharge_a);
	put_u16(out + 30, info->max_discharge_pulse_a);
	out[32] = info->flags;
	return M8_INFO_LEN;
}

int m8_info_decode(struct m8_info *info, const uint8_t *p, size_t len)
{
	if (!info || (!p && len > 0))
		return -EINVAL;
	if (len != M8_INFO_LEN)
		return -EBADMSG;
	if (!serial_valid(p, M8_SERIAL_LEN) || !info_values_valid(p[16], p[19], p[20]))
		return -EINVAL;

	struct m8_info v = {
	        .type = p[16],
	        .capacity_ah = get_u16(p + 17),
	        .cells = p[19],
	        .sensors = p[20],
	        .fw_major = p[21],
	        .fw_minor = p[22],
	        .fw_patch = p[23],
	        .max_charge_a = get_u16(p + 24),
	        .max_charge_pulse_a = get_u16(p + 26),
	        .max_discharge_a = get_u16(p + 28),
	        .max_discharge_pulse_a = get_u16(p + 30),
	        .flags = p[32],
	};
	memcpy(v.serial, p, M8_SERIAL_LEN);
	v.serial[M8_SERIAL_LEN] = '\0';
	*info = v;
	return 0;
}

size_t m8_status_len(unsigned n_cells, unsigned n_temps)
{
	return 9 + 2 * (size_t)n_cells + 2 * (size_t)n_temps;
}

int m8_status_encode(const struct m8_status *st, uint8_t *out, size_t cap)
{
	if (!st || !out)
		return -EINVAL;
	if (st->n_cells > M8_MAX_CELLS || st->n_temps > M8_MAX_TEMPS)
		return -EINVAL;
	size_t n = m8_status_len(st->n_cells, st->n_temps);
	if (cap < n)
		return -ENOBUFS;

	put_u16(out, st->voltage_mv);
	uint32_t cur = (uint32_t)st->current_ma;
	for (int i = 0; i < 4; i++)
		out[2 + i] = (uint8_t)(cur >> (8 * i));
	out[6] = st->flags;
	out[7] = st->n_cells;
	for (unsigned i = 0; i < st->n_cells; i++)
		put_u16(out + 8 + 2 * i, st->cell_mv[i]);
	size_t t = 8 + 2 * (size_t)st->n_cells;
	out[t] = st->n_temps;
	for (unsigned i = 0; i < st->n_temps; i++)
		put_u16(out + t + 1 + 2 * i, (uint16_t)st->temp_dc[i]);
	return (int)n;
}

int m8_status_decode(struct m8_status *st, const uint8_t *p, size_t len)
{
	if (!st || (!p && len > 0))
		return -EINVAL;
	if (len < 8)
		return -EBADMSG;
	unsigned n = p[7];
	if (n > M8_MAX_CELLS)
		return -EINVAL;
	size_t t_off = 8 + 2 * (size_t)n;
	if (len < t_off + 1)
		return -EBADMSG;
	unsigned t = p[t_off];
	if (t > M8_MAX_TEMPS)
		return -EINVAL;
	if (len != m8_status_len(n, t))
		return -EBADMSG;

	struct m8_status v = {
	        .voltage_mv = get_u16(p),
	        .current_ma = (int32_t)((uint32_t)p[2] | ((uint32_t)p[3] << 8) |
	                                ((uint32_t)p[4] << 16) | ((uint32_t)p[5] << 24)),
	        .flags = p[6],
	        .n_cells = (uint8_t)n,
	        .n_temps = (uint8_t)t,
	};
	for (unsigned i = 0; i < n; i++)
		v.cell_mv[i] = get_u16(p + 8 + 2 * i);
	for (unsigned i = 0; i < t; i++)
		v.temp_dc[i] = (int16_t)get_u16(p + t_off + 1 + 2 * i);
	*st = v;
	return 0;
}
