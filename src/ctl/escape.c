/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ctl/escape.h"

#include <stdlib.h>

size_t ctl_utf8_decode(const unsigned char *s, uint32_t *cp)
{
	uint32_t v;
	size_t len;

	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
		v = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3;
		v = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		v = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0; /* also stops at the terminating NUL */
		v = (v << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) || v > 0x10FFFF ||
	    (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

bool ctl_unichar_unsafe(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || /* C0, DEL, C1 */
	       cp == 0x061C ||                            /* Arabic letter mark */
	       cp == 0x180E ||                            /* Mongolian vowel separator */
	       (cp >= 0x200B && cp <= 0x200F) ||          /* zero width, LRM, RLM */
	       (cp >= 0x2028 && cp <= 0x202E) ||          /* separators, bidi embeddings */
	       (cp >= 0x2060 && cp <= 0x206F) ||          /* word joiner, bidi isolates */
	       cp == 0xFEFF ||                            /* zero width no-break space */
	       (cp >= 0xFFF9 && cp <= 0xFFFB);            /* interlinear annotation */
}

static const char *named_escape(unsigned char c)
{
	switch (c) {
	case '\a':
		return "\\a";
	case '\b':
		return "\\b";
	case '\t':
		return "\\t";
	case '\n':
		return "\\n";
	case '\v':
		return "\\v";
	case '\f':
		return "\\f";
	case '\r':
		return "\\r";
	case '\\':
		return "\\\\";
	default:
		return NULL;
	}
}

void ctl_escape_write(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		const char *named = named_escape(*s);
		uint32_t cp;
		size_t n;

		if (named) {
			fputs(named, f);
			s++;
		} else if (*s >= 0x20 && *s < 0x7F) {
			fputc(*s, f);
			s++;
		} else if (*s < 0x80 || (n = ctl_utf8_decode(s, &cp)) == 0) {
			fprintf(f, "\\x%02x", *s); /* a control, DEL or a bad byte */
			s++;
		} else if (ctl_unichar_unsafe(cp)) {
			for (size_t i = 0; i < n; i++)
				fprintf(f, "\\x%02x", s[i]);
			s += n;
		} else {
			fwrite(s, 1, n, f);
			s += n;
		}
	}
}

char *ctl_escape(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	ctl_escape_write(f, s);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
