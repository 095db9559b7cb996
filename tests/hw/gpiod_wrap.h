/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libgpiod calls that the GPIO adapter tests replace at link time
 * (-Wl,--wrap=..., tests/hw/meson.build and tests/daemon/meson.build): one
 * declaration of each stand-in, so that the tests that wrap them agree with
 * the library's signatures.
 */
#pragma once

#include <gpiod.h>
#include <stddef.h>

struct gpiod_chip *__wrap_gpiod_chip_open(const char *path);
void __wrap_gpiod_chip_close(struct gpiod_chip *chip);
int __wrap_gpiod_chip_get_line_offset_from_name(struct gpiod_chip *chip, const char *name);
struct gpiod_line_request *__wrap_gpiod_chip_request_lines(struct gpiod_chip *chip,
                                                           struct gpiod_request_config *req_cfg,
                                                           struct gpiod_line_config *line_cfg);
int __wrap_gpiod_line_request_set_value(struct gpiod_line_request *request, unsigned int offset,
                                        enum gpiod_line_value value);
int __wrap_gpiod_line_request_get_values_subset(struct gpiod_line_request *request,
                                                size_t num_values, const unsigned int *offsets,
                                                enum gpiod_line_value *values);
int __wrap_gpiod_line_request_get_fd(struct gpiod_line_request *request);
void __wrap_gpiod_line_request_release(struct gpiod_line_request *request);
