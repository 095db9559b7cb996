# SPDX-License-Identifier: GPL-2.0-or-later
"""The daemon's state record as tests read and edit it: the newest of the two
slots, the low-power shutdown timer saved in its protection block, and that
timer's age moved with every checksum made right again. Used by
tests/integration/test_poweroff.py and, in the kernel stage's guest, by
tests/kernel/guest_systemd.py.

Layout (src/store/statefile.c, src/core/record.c, src/core/protection_persist.c):
a slot is a header (magic, length, generation, FNV-1a 64 of the rest) and the
record ("SBSR", version, reserved, payload length, CRC-32 of the payload);
the protection block in the payload starts with "SBPR", version, rule count,
start, the flag bits (G_POWEROFF = 1 << 4), then the ages (us) of the
pre-alarm, the drain guard and the shutdown timer.
"""

import os
import struct
import zlib

HOLD_S = 600  # docs/protection.md section 10
PROT_MAGIC = b"SBPR"
G_POWEROFF = 1 << 4
POWEROFF_AGE_AT = 24


class RecordError(Exception):
    pass


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def newest_state(state_dir):
    """(generation, path, bytes) of the newest slot."""
    best = None
    for g in (0, 1):
        path = os.path.join(state_dir, "state.%d" % g)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        gen = struct.unpack_from("<Q", data, 8)[0]
        if best is None or gen > best[0]:
            best = (gen, path, data)
    if best is None:
        raise RecordError("no state record in %s" % state_dir)
    return best


def shutdown_timer(state_dir):
    """(running, age in s) of the low-power shutdown timer as saved."""
    _, _, data = newest_state(state_dir)
    at = data.find(PROT_MAGIC, 24)
    if at <= 0:
        raise RecordError("no protection block in the state record")
    running = bool(data[at + 7] & G_POWEROFF)
    return running, struct.unpack_from("<Q", data, at + POWEROFF_AGE_AT)[0] / 1e6


def set_shutdown_age(state_dir, age_s):
    """The saved timer's age set to age_s, checksums made right."""
    _, path, data = newest_state(state_dir)
    buf = bytearray(data)
    rec = 24  # statefile header: magic, length, generation, FNV-1a 64
    at = buf.find(PROT_MAGIC, rec)
    if at <= 0 or not buf[at + 7] & G_POWEROFF:
        raise RecordError("the saved shutdown timer is not running")
    struct.pack_into("<Q", buf, at + POWEROFF_AGE_AT, int(age_s * 1e6))
    payload_len = struct.unpack_from("<I", buf, rec + 8)[0]
    payload = bytes(buf[rec + 16:rec + 16 + payload_len])
    struct.pack_into("<I", buf, rec + 12, zlib.crc32(payload) & 0xFFFFFFFF)
    struct.pack_into("<Q", buf, 16, fnv1a64(bytes(buf[:16]) + bytes(buf[rec:])))
    tmp = path + ".edit"
    with open(tmp, "wb") as f:
        f.write(buf)
    os.rename(tmp, path)
