/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Restart without a load drop (docs/protection.md section 11): the GPIO line
 * request is kept in systemd's file descriptor store across a restart, and
 * the new instance drives the inherited request fd itself with the kernel's
 * GPIO v2 uAPI, because libgpiod 2.1 cannot adopt a request fd.
 *
 * Which bit of the request is which output comes from the kernel, not from
 * a guess: /proc/self/fdinfo of a line request lists its chip and the line
 * offsets in request order ("gpio-chip:" and "gpio-line:" entries), and the
 * configured lines are resolved on that chip by name or offset. Anything
 * that does not match exactly (another chip, a line missing or extra) is
 * refused, and the daemon releases the stored fd and requests anew.
 */
#pragma once

#include <stddef.h>

#include "hw/outputs.h"

#define GPIO_ADOPT_FDNAME "gpio-lines"
#define GPIO_ADOPT_MAX    64 /* lines in one v2 request */

/* Parses fdinfo text: the chip name ("gpiochip0") and the offsets in
 * request order. Returns the number of lines, or -EINVAL when the text is
 * not a line request's. */
int gpio_adopt_parse_fdinfo(const char *text, char *chip, size_t chip_len, unsigned *offsets,
                            size_t max);

/* bit[l] = index of output line l's offset in the request. -ENOENT when
 * one is missing, -EINVAL when the request holds other lines or one twice. */
int gpio_adopt_map(const unsigned *req, size_t n, const unsigned line_offset[OUTPUT_LINE_COUNT],
                   unsigned bit[OUTPUT_LINE_COUNT]);

/* Adopts fd (a line request of the configured lines) as the outputs, with
 * the values it drives now. Takes ownership of fd on success only. */
int outputs_adopt_fd(int fd, const struct outputs_config *cfg, struct outputs **ret);
