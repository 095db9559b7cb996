/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CRC-32 (IEEE 802.3): reflected polynomial 0xEDB88320, init and xorout
 * 0xFFFFFFFF; crc32_ieee("123456789") = 0xCBF43926. */
#pragma once

#include <stddef.h>
#include <stdint.h>

uint32_t crc32_ieee(const void *data, size_t len);
/* Continues a CRC: crc32_ieee_update(crc32_ieee(a), b) = crc32_ieee(a b). */
uint32_t crc32_ieee_update(uint32_t crc, const void *data, size_t len);
