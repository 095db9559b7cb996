/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/fw_image.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/crc32.h"
#include "core/le_codec.h"

#define HEADER_CRC_SPAN 20 /* the header CRC covers bytes 0..19 */

static const char *const refusal_text[FW_IMAGE_REFUSAL_COUNT] = {
        [FW_IMAGE_OK] = "valid image",
        [FW_IMAGE_TRUNCATED] = "truncated: shorter than the 24-byte image header",
        [FW_IMAGE_BAD_MAGIC] = "bad magic: not a smallbms firmware image",
        [FW_IMAGE_BAD_FORMAT] = "unsupported image format version",
        [FW_IMAGE_BAD_HEADER_CRC] = "image header damaged (header CRC mismatch)",
        [FW_IMAGE_BAD_RESERVED] = "image header has non-zero reserved bytes",
        [FW_IMAGE_BAD_TYPE] = "image names an unknown battery type",
        [FW_IMAGE_BAD_SIZE] = "image size out of range (1 byte .. 512 KiB)",
        [FW_IMAGE_SIZE_MISMATCH] = "file length does not match the image size in its header",
        [FW_IMAGE_BAD_CRC] = "image damaged (CRC-32 mismatch)",
        [FW_IMAGE_WRONG_BATTERY] = "image is for another battery type",
};

const char *fw_image_refusal_text(enum fw_image_refusal why)
{
	if ((unsigned)why >= FW_IMAGE_REFUSAL_COUNT)
		return "unknown reason";
	return refusal_text[why];
}

static int refuse(enum fw_image_refusal *why, enum fw_image_refusal r)
{
	if (why)
		*why = r;
	return -EINVAL;
}

int fw_image_parse(const uint8_t *buf, size_t len, struct fw_image *img, enum fw_image_refusal *why)
{
	struct le_reader r = {.p = buf, .len = len};
	/* mutation: equivalent [const] because every field is set before out is used */
	struct fw_image out = {0};
	uint32_t header_crc;
	uint8_t reserved[3]; /* mutation: equivalent [const 4] (a byte more holds the same 3) */

	if (!buf || !img || len < FW_IMAGE_HEADER_LEN)
		return refuse(why, FW_IMAGE_TRUNCATED);
	if (memcmp(buf, FW_IMAGE_MAGIC, 4) != 0)
		return refuse(why, FW_IMAGE_BAD_MAGIC);
	le_skip(&r, 4);
	out.format = le_get_u8(&r);
	/* A later format may lay the rest out differently: check it first. */
	if (out.format != FW_IMAGE_FORMAT_VERSION)
		return refuse(why, FW_IMAGE_BAD_FORMAT);
	out.battery_type = le_get_u8(&r);
	for (int i = 0; i < 3; i++)
		out.version[i] = le_get_u8(&r);
	for (int i = 0; i < 3; i++)
		reserved[i] = le_get_u8(&r);
	out.size = le_get_u32(&r);
	out.crc32 = le_get_u32(&r);
	header_crc = le_get_u32(&r);
	/* mutation: equivalent [if 0] because len >= FW_IMAGE_HEADER_LEN is checked first and the
	 * header is that long: never true; kept should a field be added */
	if (r.short_read)
		return refuse(why, FW_IMAGE_TRUNCATED);
	if (crc32_ieee(buf, HEADER_CRC_SPAN) != header_crc)
		return refuse(why, FW_IMAGE_BAD_HEADER_CRC);
	if (reserved[0] || reserved[1] || reserved[2])
		return refuse(why, FW_IMAGE_BAD_RESERVED);
	if (out.battery_type < FW_BATTERY_TYPE_MIN || out.battery_type > FW_BATTERY_TYPE_MAX)
		return refuse(why, FW_IMAGE_BAD_TYPE);
	if (out.size == 0 || out.size > FW_IMAGE_MAX_SIZE)
		return refuse(why, FW_IMAGE_BAD_SIZE);
	if (len - FW_IMAGE_HEADER_LEN != out.size)
		return refuse(why, FW_IMAGE_SIZE_MISMATCH);
	out.data = buf + FW_IMAGE_HEADER_LEN;
	if (crc32_ieee(out.data, out.size) != out.crc32)
		return refuse(why, FW_IMAGE_BAD_CRC);
	*img = out;
	if (why)
		*why = FW_IMAGE_OK;
	return 0;
}

int fw_image_check_battery(const struct fw_image *img, uint8_t battery_type,
                           enum fw_image_refusal *why)
{
	if (!img)
		return -EINVAL;
	if (img->battery_type != battery_type) {
		if (why)
			*why = FW_IMAGE_WRONG_BATTERY;
		return -EMEDIUMTYPE;
	}
	if (why)
		*why = FW_IMAGE_OK;
	return 0;
}

/* mutation: equivalent [const] because an array parameter is a pointer: its size is no part
 * of the type */
int fw_image_write_header(uint8_t hdr[FW_IMAGE_HEADER_LEN], uint8_t battery_type,
                          const uint8_t version[3], const uint8_t *data, uint32_t size)
{
	struct le_writer w = {.p = hdr, .cap = FW_IMAGE_HEADER_LEN};

	if (!hdr || !version || !data || size == 0 || size > FW_IMAGE_MAX_SIZE ||
	    battery_type < FW_BATTERY_TYPE_MIN || battery_type > FW_BATTERY_TYPE_MAX)
		return -EINVAL;
	le_put_bytes(&w, FW_IMAGE_MAGIC, 4);
	le_put_u8(&w, FW_IMAGE_FORMAT_VERSION);
	le_put_u8(&w, battery_type);
	le_put_bytes(&w, version, 3);
	/* mutation: equivalent [const uint8_t[4]] (3 of its bytes are written) */
	le_put_bytes(&w, (const uint8_t[3]){0, 0, 0}, 3);
	le_put_u32(&w, size);
	le_put_u32(&w, crc32_ieee(data, size));
	le_put_u32(&w, crc32_ieee(hdr, HEADER_CRC_SPAN));
	return w.len == FW_IMAGE_HEADER_LEN ? 0 : -ENOBUFS;
}

/* mutation: equivalent [const] because an array parameter is a pointer: its size is no part
 * of the type */
int fw_version_parse(const char *s, uint8_t version[3])
{
	unsigned part[3] = {0}; /* mutation: equivalent [const 4] (a part more is never read) */
	int n = 0;
	bool digit = false;

	if (!s || !version)
		return -EINVAL;
	for (const char *c = s;; c++) {
		if (*c >= '0' && *c <= '9') {
			part[n] = part[n] * 10 + (unsigned)(*c - '0');
			if (part[n] > 255)
				return -EINVAL;
			digit = true;
		} else if ((*c == '.' || *c == '\0') && digit) {
			n++;
			digit = false;
			if (*c == '\0')
				break;
			if (n == 3)
				return -EINVAL;
		} else
			return -EINVAL;
	}
	if (n != 3)
		return -EINVAL;
	for (int i = 0; i < 3; i++)
		version[i] = (uint8_t)part[i];
	return 0;
}
