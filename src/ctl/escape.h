/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Strings from the bus (a phone's name chosen over the air, battery names,
 * reasons, error messages) are printed escaped, so that none can reach the
 * terminal as a control sequence, much as systemctl does with cescape() and
 * utf8_escape_non_printable():
 *   \a \b \t \n \v \f \r and \\ as such; every other C0 control, DEL, each
 *   byte of a C1 control (U+0080..U+009F) or of an invisible format
 *   character (bidirectional overrides, zero-width characters, line and
 *   paragraph separators, see ctl_unichar_unsafe()) and every byte that is
 *   not part of valid UTF-8 as \xNN; printable ASCII and printable UTF-8
 *   (degree sign, umlauts, emoji) unchanged.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The valid UTF-8 sequence at s: its length (2..4) and code point, or 0 when
 * it is not one (overlong forms, surrogates, past U+10FFFF, cut short). */
size_t ctl_utf8_decode(const unsigned char *s, uint32_t *cp);

/* A code point that must never reach a terminal raw: C0, DEL, C1 and the
 * invisible format characters that reorder or hide text. */
bool ctl_unichar_unsafe(uint32_t cp);

/* Writes s escaped to f. */
void ctl_escape_write(FILE *f, const char *s);

/* s escaped, newly allocated (free()); NULL when out of memory. */
char *ctl_escape(const char *s);
