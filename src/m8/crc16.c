/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CRC-16/CCITT-FALSE of docs/m8bus.md section 2, bitwise: frames are short and
 * 115200 baud leaves plenty of time, so no table is worth its cache lines. */
#include "smallbms/m8_proto.h"

uint16_t m8_crc16_update(uint16_t crc, const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)(data[i] << 8);
		for (int bit = 0; bit < 8; bit++) {
			if (crc & 0x8000)
				crc = (uint16_t)((crc << 1) ^ 0x1021);
			else
				crc = (uint16_t)(crc << 1);
		}
	}
	return crc;
}

uint16_t m8_crc16(const uint8_t *data, size_t len)
{
	return m8_crc16_update(0xFFFF, data, len);
}
