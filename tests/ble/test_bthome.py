#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""An independent check of smallbmsd's BTHome v2 advertisement (TAP).

It decodes the service data that bthome-dump prints the way a receiver
does, from the rules of bthome.io/format and /encryption: the device
information byte, AES-CCM with a 4-byte MIC under the nonce MAC + UUID
0xFCD2 (little-endian) + device info + counter, objects in ascending id
order, little-endian values times the object's factor. It shares no code
with the C side. Usage: test_bthome.py path/to/bthome-dump
"""
import random
import subprocess
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

# BTHome v2 objects: id -> (name, bytes, signed, factor) (bthome.io/format)
OBJECTS = {
    0x00: ("packet_id", 1, False, 1),
    0x01: ("battery", 1, False, 1),
    0x02: ("temperature", 2, True, 0.01),
    0x03: ("humidity", 2, False, 0.01),
    0x0B: ("power", 3, False, 0.01),
    0x0C: ("voltage", 2, False, 0.001),
    0x15: ("battery_low", 1, False, 1),
    0x16: ("battery_charging", 1, False, 1),
    0x26: ("problem", 1, False, 1),
    0x42: ("duration", 3, False, 0.001),
    0x43: ("current_unsigned", 2, False, 0.001),
    0x45: ("temperature_coarse", 2, True, 0.1),
    0x4A: ("voltage_coarse", 2, False, 0.1),
    0x5C: ("power_signed", 4, True, 0.01),
    0x5D: ("current", 2, True, 0.001),
}

KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
MAC = bytes.fromhex("5448e68f80a5")

W1, W2, W3, W9, A1, A2, A3, A5, E1, E9 = 0, 1, 2, 8, 9, 10, 11, 13, 16, 24
LOW_CODES = (1 << W1) | (1 << W2) | (1 << A1) | (1 << A2) | (1 << A5)
PROBLEM_CODES = ((1 << 25) - 1) & ~((1 << 9) - 1)  # A1..A7, E1..E9


class DecodeError(Exception):
    pass


def decode(data, key=None, mac=None):
    """Service data -> (encrypted, counter, [(id, name, raw)])."""
    if not data:
        raise DecodeError("empty")
    info = data[0]
    if info >> 5 != 2:
        raise DecodeError("not BTHome v2: device info 0x%02x" % info)
    if info & 0x1E:
        raise DecodeError("reserved device info bits set")
    encrypted = bool(info & 1)
    counter = None
    payload = data[1:]
    if encrypted:
        if key is None or len(payload) < 8:
            raise DecodeError("encrypted, no key or too short")
        ciphertext, ctr, mic = payload[:-8], payload[-8:-4], payload[-4:]
        nonce = mac + bytes([0xD2, 0xFC, info]) + ctr
        payload = AESCCM(key, tag_length=4).decrypt(nonce, ciphertext + mic, None)
        counter = int.from_bytes(ctr, "little")
    objects = []
    i, last = 0, -1
    while i < len(payload):
        oid = payload[i]
        if oid not in OBJECTS:
            raise DecodeError("unknown object 0x%02x" % oid)
        if oid < last:
            raise DecodeError("object ids not ascending")
        last = oid
        name, size, signed, _ = OBJECTS[oid]
        if i + 1 + size > len(payload):
            raise DecodeError("object 0x%02x truncated" % oid)
        raw = int.from_bytes(payload[i + 1:i + 1 + size], "little", signed=signed)
        objects.append((oid, name, raw))
        i += 1 + size
    return encrypted, counter, objects


def dump(exe, *args):
    out = subprocess.run([exe] + [str(a) for a in args], check=True,
                         capture_output=True, text=True).stdout
    return bytes.fromhex(out.strip())


def clamp(v, lo, hi):
    return max(lo, min(hi, v))


def round_half_away(v, d):
    q = (abs(v) + d // 2) // d
    return q if v >= 0 else -q


def expected(packet, soc_known, soc_cpct, measure_valid, bank_mv, current_ma,
             power_mw, temp_valid, temp_dc, time_known, time_s, codes):
    """The documented content of packet A or B, as (id, raw) in id order."""
    want = []
    if soc_known:
        want.append((0x01, (clamp(soc_cpct, 0, 10000) + 50) // 100))
    if packet == "A" and measure_valid:
        want.append((0x0C, clamp(bank_mv, 0, 65535)))
    want.append((0x15, 1 if codes & LOW_CODES else 0))
    want.append((0x26, 1 if codes & PROBLEM_CODES else 0))
    if packet == "B" and time_known:
        want.append((0x42, clamp(time_s * 1000, 0, (1 << 24) - 1)))
    if packet == "A" and temp_valid:
        want.append((0x45, temp_dc))
    if packet == "B" and measure_valid:
        want.append((0x5C, clamp(round_half_away(power_mw, 10), -(1 << 31), (1 << 31) - 1)))
    if packet == "A" and measure_valid:
        want.append((0x5D, clamp(current_ma, -32768, 32767)))
    return want


I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
P_MAX, P_MIN = ((1 << 31) - 1) * 10, -(1 << 31) * 10


def cases():
    rng = random.Random(8)
    yield (1, 6789, 1, 53210, -12345, -656877, 1, -55, 1, 7200, 0)
    yield (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 << E9)
    # each bound, one inside and one past
    for soc in (-2147483648, -1, 0, 49, 50, 9949, 9950, 10000, 10001, 2147483647):
        yield (1, soc, 1, 13300, 0, 0, 1, 250, 1, 60, 0)
    for mv in (-2147483648, -1, 0, 65535, 65536, 2147483647):
        yield (1, 5000, 1, mv, 100, 1330, 0, 0, 0, 0, 0)
    for ma in (-2147483648, -32769, -32768, 32767, 32768, 2147483647):
        yield (1, 5000, 1, 13300, ma, 0, 0, 0, 0, 0, 0)
    for t in (-32768, -1, 0, 32767):
        yield (1, 5000, 0, 0, 0, 0, 1, t, 0, 0, 0)
    for mw in (I64_MIN, P_MIN - 6, P_MIN - 5, P_MIN - 4, P_MIN, P_MIN + 10, -15, -14, -5,
               -4, 0, 4, 5, 14, 15, P_MAX - 5, P_MAX, P_MAX + 4, P_MAX + 5, I64_MAX):
        yield (1, 5000, 1, 13300, 0, mw, 1, 200, 1, 100, 0)
    for sec in (I64_MIN, -1, 0, 1, 16776, 16777, 16778, 16779, I64_MAX):
        yield (1, 5000, 1, 13300, -1000, -13300, 1, 200, 1, sec, 0)
    for code in (W1, W2, W3, W9, A1, A2, A3, A5, E1, E9):
        yield (1, 5000, 1, 13300, 0, 0, 1, 200, 1, 3600, 1 << code)
    for _ in range(60):
        yield (rng.randint(0, 1), rng.randint(-20000, 20000), rng.randint(0, 1),
               rng.randint(-100000, 100000), rng.randint(-100000, 100000),
               rng.randint(-(1 << 40), 1 << 40), rng.randint(0, 1),
               rng.randint(-32768, 32767), rng.randint(0, 1),
               rng.randint(-100000, 100000), rng.getrandbits(25))


def main():
    exe = sys.argv[1]
    results = []

    def check(ok, desc):
        results.append((bool(ok), desc))

    # The worked example of bthome.io/encryption.
    ex = dump(exe, "-r", "02ca0903bf13", "-k", KEY.hex(), "-m", MAC.hex(),
              "-c", 0x00112233)
    check(ex.hex() == "41e445f3c9962b332211006c7c4519",
          "worked example of bthome.io/encryption byte for byte")
    enc, ctr, objs = decode(ex, KEY, MAC)
    check(enc and ctr == 0x00112233 and
          [(o[0], o[2]) for o in objs] == [(0x02, 2506), (0x03, 5055)],
          "worked example decrypts to 25.06 degC, 50.55 %")

    all_ok_plain = all_ok_enc = True
    longest = 0
    seen = {"A": set(), "B": set()}
    n = 0
    for vals, packet in ((v, p) for v in cases() for p in ("A", "B")):
        n += 1
        want = expected(packet, *vals)
        plain = dump(exe, "-p", packet, "--", *vals)
        enc, ctr, objs = decode(plain)
        got = [(o[0], o[2]) for o in objs]
        seen[packet].update(o[0] for o in objs)
        if enc or got != want or plain[0] != 0x40:
            all_ok_plain = False
            print("# plain %r: got %r want %r" % (vals, got, want))
        counter = (n * 2654435761) & 0xFFFFFFFF
        blob = dump(exe, "-p", packet, "-k", KEY.hex(), "-m", MAC.hex(), "-c", counter,
                    "--", *vals)
        longest = max(longest, len(blob))
        enc, ctr, objs = decode(blob, KEY, MAC)
        got = [(o[0], o[2]) for o in objs]
        if not enc or ctr != counter or got != want or blob[0] != 0x41 or \
                len(blob) != len(plain) + 8:
            all_ok_enc = False
            print("# encrypted %r: got %r/%r want %r/%r" % (vals, got, ctr, want, counter))
    check(all_ok_plain, "unencrypted vectors decode to the documented values")
    check(all_ok_enc, "encrypted vectors decrypt to the documented values and counter")
    check(longest <= 24, "longest encrypted service data %d <= 24 bytes" % longest)
    check(seen["A"] == {0x01, 0x0C, 0x15, 0x26, 0x45, 0x5D},
          "packet A: SoC, voltage, flags, temperature, current")
    check(seen["B"] == {0x01, 0x15, 0x26, 0x42, 0x5C},
          "packet B: SoC, flags, time remaining, power")
    # The documented example decodes to human values.
    full = (1, 6789, 1, 53210, -12345, -656877, 1, -55, 1, 7200, 0)
    a = {o[1]: o[2] * OBJECTS[o[0]][3] for o in decode(dump(exe, "-p", "A", "--", *full))[2]}
    b = {o[1]: o[2] * OBJECTS[o[0]][3] for o in decode(dump(exe, "-p", "B", "--", *full))[2]}
    check(a["battery"] == 68 and abs(a["voltage"] - 53.21) < 1e-9 and
          abs(a["temperature_coarse"] + 5.5) < 1e-9 and abs(a["current"] + 12.345) < 1e-9,
          "packet A reads 68 %, 53.21 V, -5.5 degC, -12.345 A")
    check(b["battery"] == 68 and abs(b["power_signed"] + 656.88) < 1e-9 and
          abs(b["duration"] - 7200) < 1e-9 and b["problem"] == 0,
          "packet B reads 68 %, -656.88 W, 7200 s")
    # Clamped, never wrapped, at both bounds of both new objects.
    for mw, want in ((I64_MIN, -(1 << 31)), (I64_MAX, (1 << 31) - 1)):
        got = dict((o[0], o[2]) for o in decode(
            dump(exe, "-p", "B", "--", 1, 0, 1, 0, 0, mw, 0, 0, 1, 1, 0))[2])
        check(got[0x5C] == want, "power %d clamps to %d" % (mw, want))
    for sec, want in ((I64_MIN, 0), (I64_MAX, (1 << 24) - 1), (16778, (1 << 24) - 1)):
        got = dict((o[0], o[2]) for o in decode(
            dump(exe, "-p", "B", "--", 1, 0, 1, 0, 0, 0, 0, 0, 1, sec, 0))[2])
        check(got[0x42] == want, "time remaining %d s clamps to %d ms" % (sec, want))
    try:
        dump(exe, "-p", "C", "--", *full)
        check(False, "a third packet kind is refused")
    except subprocess.CalledProcessError:
        check(True, "a third packet kind is refused")

    blob = dump(exe, "-p", "B", "-k", KEY.hex(), "-m", MAC.hex(), "-c", 7, "--",
                1, 5000, 1, 13300, 0, 0, 1, 0, 1, 60, 0)
    for desc, key, mac in (("wrong key", bytes(16), MAC),
                           ("wrong MAC", KEY, bytes.fromhex("5448e68f80a6"))):
        try:
            decode(blob, key, mac)
            check(False, "%s is refused" % desc)
        except InvalidTag:
            check(True, "%s is refused" % desc)
    tampered = bytearray(blob)
    tampered[-5] ^= 1  # the counter
    try:
        decode(bytes(tampered), KEY, MAC)
        check(False, "a changed counter is refused")
    except InvalidTag:
        check(True, "a changed counter is refused")

    print("1..%d" % len(results))
    for i, (ok, desc) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, desc))
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
