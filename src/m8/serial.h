/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The M8-bus port A tty: 115200 8N1 raw, no flow control (docs/m8bus.md section 1). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Opens and configures path. Returns the fd, or -ENOENT (no such device),
 * -EBUSY (another process holds it), -ENOTTY (not a tty), other -errno. */
int m8_serial_open(const char *path);
/* The same; on failure why (why_len bytes, may be NULL) names the step that
 * failed and the errno: "locking (flock; ...) /dev/ttyS1: Device or
 * resource busy". */
int m8_serial_open_why(const char *path, char *why, size_t why_len);
/* Reads what is there: > 0 bytes, 0 nothing now, -EPIPE or -EIO when the
 * device hung up (the caller closes and reopens), other -errno. */
ssize_t m8_serial_read(int fd, uint8_t *buf, size_t cap);
/* Writes all of buf: 0, -EAGAIN if the tty would not take it all, -errno. */
int m8_serial_write(int fd, const uint8_t *buf, size_t len);
