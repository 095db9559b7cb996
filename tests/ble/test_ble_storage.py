#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Bluetooth writes and a slow store (issue 15), the real daemon, TAP.

The rig of test_daemon_ble.py (simulator, fake IIO tree, private
dbus-daemon, tests/ble/fake_bluez.py playing bluetoothd and a bonded phone)
with the daemon run under the test-only shim that delays every fsync by
600 ms (tests/shim/slow_fsync.c, LD_PRELOAD), standing in for a slow SD
card, and WATCHDOG_USEC=800000 so that the loop sends WATCHDOG=1 on every
other 100 ms tick (a gap in them is a stalled loop, as a stalled heartbeat).

- A GATT settings write is answered only once durable (after at least one
  delayed fsync, with a new state generation on disk), and while it waits
  the loop goes on: a D-Bus read by another client is answered at once and
  WATCHDOG=1 keeps coming.
- More writes than may wait at once: the one too many is refused as busy
  (org.bluez.Error.InProgress) and changes nothing; the others are answered
  once durable.

Usage: test_ble_storage.py SHIM   (meson passes the rig's environment)
"""

import os
import struct
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import dbus  # noqa: E402
import dbus.mainloop.glib  # noqa: E402

import test_daemon_ble as tdb  # noqa: E402
from fake_bluez import pump  # noqa: E402
from harness import Fail, check  # noqa: E402
from test_bluez import UUID_SETTINGS, settings_write  # noqa: E402

SHIM = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else ""
DELAY_MS = 600
# BLE_PENDING_MAX in src/ble/ble_internal.h
PENDING_MAX = 8


class SlowBleRig(tdb.BleRig):
    def env(self):
        e = super().env()
        e["LD_PRELOAD"] = SHIM
        e["SMALLBMS_FSYNC_DELAY_MS"] = str(DELAY_MS)
        e["WATCHDOG_USEC"] = "800000"
        # the shim is preloaded before the sanitizer runtime
        e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
        return e


def generation(state_dir):
    """The newest generation number in state.0 / state.1 (0: none)."""
    best = 0
    for g in (0, 1):
        try:
            with open(os.path.join(state_dir, "state.%d" % g), "rb") as f:
                head = f.read(24)
        except FileNotFoundError:
            continue
        if len(head) == 24:
            best = max(best, struct.unpack("<IIQQ", head)[2])
    return best


def watchdogs(rig, t0, t1):
    return [t for t, f in rig.notify.messages if f.get("WATCHDOG") == "1" and t0 <= t <= t1]


def paired(rig):
    """The daemon up with the fake BlueZ, a phone bonded."""
    rig.fake.start()
    rig.start_daemon()
    rig.wait_started_pumped()
    rig.registered()
    tdb.wait("State advertising", lambda: rig.bt_state() == "advertising")
    tdb.pair_phone(rig)
    rig.settings = {n: (i, v, lo, hi) for i, (n, v, lo, hi) in enumerate(rig.settings_list())}


def durable_reply_loop_free(rig):
    """The WriteValue answer comes after the delayed fsync with the change
    on disk; meanwhile D-Bus reads are answered at once and WATCHDOG=1
    keeps its 200 ms pace."""
    f = rig.fake
    i, v, lo, hi = rig.settings["low_soc_warning_pct"]
    new = v + 5 if v + 5 <= hi else v - 5
    before = generation(rig.state_dir)
    done = {}

    def answered(err):
        done["t"] = time.monotonic()
        done["err"] = err
        done["gen"] = generation(rig.state_dir)

    t0 = time.monotonic()
    f.write_async(UUID_SETTINGS, rig.phone, settings_write([(i, new)]), answered)
    pump(None, 0.15)  # the write is in its first delayed fsync
    reads = []
    while "t" not in done and time.monotonic() - t0 < 10:
        r0 = time.monotonic()
        rig.get("/org/smallbms", "org.smallbms.Bms1", "SocCpct")
        reads.append(time.monotonic() - r0)
        pump(None, 0.02)
    check("t" in done, "WriteValue not answered in 10 s")
    check(done["err"] is None, "WriteValue refused: %s" % done["err"])
    took = done["t"] - t0
    beats = watchdogs(rig, t0, done["t"])
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    rig.figures.append("settings write answered after %.0f ms; %d D-Bus reads meanwhile, "
                       "slowest %.0f ms; %d WATCHDOG=1, largest gap %.0f ms"
                       % (took * 1000, len(reads), max(reads or [0]) * 1000, len(beats),
                          max(gaps or [0]) * 1000))
    check(took >= DELAY_MS / 1000.0, "WriteValue answered in %.0f ms, before its %d ms fsync"
          % (took * 1000, DELAY_MS))
    check(done["gen"] > before, "the change was not on disk when answered")
    check(tdb.settings_prop(rig, "low_soc_warning_pct") == new, "Settings1 does not show it")
    check(reads, "no D-Bus read could be made while the write waited")
    check(max(reads) < 0.3, "a D-Bus read waited %.0f ms behind the save" % (max(reads) * 1000))
    check(len(beats) >= 2 and max(gaps) < 0.5,
          "WATCHDOG=1 stalled behind the save: %d of them, largest gap %.0f ms"
          % (len(beats), max(gaps or [0]) * 1000))
    rig.low_soc = new


def too_many_waiting(rig):
    """PENDING_MAX + 1 writes at once: the last is refused as busy and
    changes nothing; the others are answered once durable."""
    f = rig.fake
    i, v, lo, hi = rig.settings["low_soc_warning_pct"]
    base = rig.low_soc
    values = [base - 1 - k if base - 1 - k >= lo else base + 1 + k
              for k in range(PENDING_MAX + 1)]
    results = {}
    for k, val in enumerate(values):
        f.write_async(UUID_SETTINGS, rig.phone, settings_write([(i, val)]),
                      lambda err, k=k: results.__setitem__(k, err))
    if not pump(lambda: len(results) == len(values), 15):
        raise Fail("answers to %d of %d writes" % (len(results), len(values)))
    refused = [k for k, e in results.items() if e is not None]
    check(refused == [PENDING_MAX], "refused writes %s (%s), want only the last"
          % (refused, [str(results[k]) for k in refused]))
    e = results[PENDING_MAX]
    check(e.name == "org.bluez.Error.InProgress", "the one too many: %s %s"
          % (e.name, e.message))
    check(tdb.settings_prop(rig, "low_soc_warning_pct") == values[PENDING_MAX - 1],
          "Settings1 shows %d, want %d (the last accepted write)"
          % (tdb.settings_prop(rig, "low_soc_warning_pct"), values[PENDING_MAX - 1]))


CASES = [paired, durable_reply_loop_free, too_many_waiting]


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    print("1..%d" % len(CASES), flush=True)
    why = tdb.missing()
    if not why and not os.path.exists(SHIM):
        why = "the fsync shim is missing (%r)" % SHIM
    if why:
        for n, fn in enumerate(CASES, 1):
            print("ok %d - %s # SKIP %s" % (n, fn.__name__, why))
        return 0
    failed = 0
    rig = SlowBleRig("blestore", series=tdb.SERIES, parallel=tdb.PARALLEL, soc=60,
                     start_sim=False)
    rig.figures = []
    try:
        rig.start_sim()
        rig.start_bus()
        rig.start_fake()
        broken = None
        for n, fn in enumerate(CASES, 1):
            if broken:
                failed += 1
                print("not ok %d - %s # after %s failed" % (n, fn.__name__, broken), flush=True)
                continue
            try:
                fn(rig)
                print("ok %d - %s" % (n, fn.__name__), flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is a TAP "not ok"
                failed += 1
                broken = fn.__name__
                print("not ok %d - %s" % (n, fn.__name__))
                for line in ("%s: %s" % (type(e).__name__, e)).splitlines():
                    print("# " + line)
        for line in rig.figures:
            print("# " + line)
        if failed:
            for line in rig.diagnostics().splitlines():
                print("# " + line)
    finally:
        rig.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
