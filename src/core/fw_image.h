/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The battery firmware image file (docs/firmware.md): a 24-byte header, then
 * the image the battery receives over FW_DATA. Little-endian:
 *
 *   0  4  magic "SBFW"
 *   4  1  format version (1)
 *   5  1  battery type the image is for (1, 2, 3: docs/m8bus.md INFO)
 *   6  3  firmware version: major, minor, patch
 *   9  3  reserved, zero
 *  12  4  image size in bytes (1 .. FW_IMAGE_MAX_SIZE)
 *  16  4  CRC-32 (IEEE 802.3) of the image: what FW_BEGIN announces
 *  20  4  CRC-32 of header bytes 0..19
 *  24     the image; the file ends with it
 *
 * The parser is pure: it reads only the buffer it is given, never past its
 * length, and says why it refused.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define FW_IMAGE_MAGIC          "SBFW"
#define FW_IMAGE_FORMAT_VERSION 1
#define FW_IMAGE_HEADER_LEN     24
/* The batteries' flash (the simulator's SIM_FW_MAX_IMAGE is the same). */
#define FW_IMAGE_MAX_SIZE   (512u * 1024u)
#define FW_IMAGE_MAX_FILE   (FW_IMAGE_HEADER_LEN + FW_IMAGE_MAX_SIZE)
#define FW_BATTERY_TYPE_MIN 1
#define FW_BATTERY_TYPE_MAX 3

enum fw_image_refusal {
	FW_IMAGE_OK = 0,
	FW_IMAGE_TRUNCATED,      /* shorter than the header */
	FW_IMAGE_BAD_MAGIC,      /* not an image file */
	FW_IMAGE_BAD_FORMAT,     /* a format version this program does not know */
	FW_IMAGE_BAD_HEADER_CRC, /* header damaged */
	FW_IMAGE_BAD_RESERVED,   /* reserved bytes not zero */
	FW_IMAGE_BAD_TYPE,       /* battery type not 1..3 */
	FW_IMAGE_BAD_SIZE,       /* image size 0 or above the flash */
	FW_IMAGE_SIZE_MISMATCH,  /* the file does not hold exactly the image */
	FW_IMAGE_BAD_CRC,        /* the image does not match its CRC-32 */
	FW_IMAGE_WRONG_BATTERY,  /* for another battery type (fw_image_check_battery) */
	FW_IMAGE_REFUSAL_COUNT,
};

struct fw_image {
	uint8_t format;
	uint8_t battery_type;
	uint8_t version[3];
	uint32_t size;
	uint32_t crc32;
	const uint8_t *data; /* points into the parsed buffer */
};

/* Parses a whole file held in buf. 0 and *img filled, or -EINVAL with the
 * reason in *why (why may be NULL); *img is untouched on a refusal. */
int fw_image_parse(const uint8_t *buf, size_t len, struct fw_image *img,
                   enum fw_image_refusal *why);
/* 0 when img is for a battery of battery_type; -EMEDIUMTYPE and
 * FW_IMAGE_WRONG_BATTERY otherwise. */
int fw_image_check_battery(const struct fw_image *img, uint8_t battery_type,
                           enum fw_image_refusal *why);
/* The reason in words, for an error message ("bad magic: not a smallbms
 * firmware image"). */
const char *fw_image_refusal_text(enum fw_image_refusal why);

/* Writes the header for data (size bytes) into hdr. -EINVAL for a size or
 * type out of range. */
int fw_image_write_header(uint8_t hdr[FW_IMAGE_HEADER_LEN], uint8_t battery_type,
                          const uint8_t version[3], const uint8_t *data, uint32_t size);
/* Parses "1.4.2" (each part 0..255). 0 or -EINVAL. */
int fw_version_parse(const char *s, uint8_t version[3]);
