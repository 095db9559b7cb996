#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Latency of the BlueZ adapter through the fake org.bluez (tests/ble):
from a SoC change given to the adapter (ble_update in tests/ble/ble-harness)
to the GATT notification a subscribed phone sees, and to the refreshed
advertisement (a SoC change waits for the 5 s rebuild; a code change is
advertised at once). Prints figures, asserts nothing.

    bench_ble_bluez.py path/to/ble-harness [ROUNDS]
"""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(HERE, "..", "tests", "ble"))

import dbus.mainloop.glib  # noqa: E402
import test_bluez as tb  # noqa: E402
from fake_bluez import pump  # noqa: E402


def figures(name, samples_s):
    ms = sorted(s * 1000 for s in samples_s)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"{name}: n={len(ms)} p50={statistics.median(ms):.2f} ms p99={p99:.2f} ms "
          f"max={ms[-1]:.2f} ms")


def send(rig, line):
    rig.proc.stdin.write(line + "\n")
    rig.proc.stdin.flush()


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rig = tb.Rig(sys.argv[1])
    try:
        rig.start()
        rig.registered()
        f = rig.fake
        dev = rig.paired_phone()
        level = f.start_notify(tb.UUID_LEVEL, dev)
        key = bytes.fromhex(str(rig.bt1().GetBindKey()))
        notify = []
        for i in range(rounds):
            pct = 10 + i % 80
            n = len(f.notifications)
            t0 = time.monotonic()
            send(rig, f"soc {pct * 100}")
            ok = pump(lambda: any(p == level and v == bytes([pct])
                                  for _, p, v in f.notifications[n:]), 5)
            if ok:
                notify.append(next(t for t, p, v in f.notifications[n:]
                                   if p == level and v == bytes([pct])) - t0)
        figures("SoC change -> Battery Level notification", notify)

        def advertised(t0, cond):
            for t, props in f.advert_log:
                data = props.get("ServiceData", {}).get(tb.BTHOME_UUID)
                if t >= t0 and data is not None and cond(tb.bthome_decode(bytes(data),
                                                                         tb.MAC, key)[0]):
                    return t
            return None

        soc_adv, code_adv = [], []
        for i in range(3):
            pct = 20 + i
            t0 = time.monotonic()
            send(rig, f"soc {pct * 100}")
            if pump(lambda: advertised(t0, lambda v: v.get(0x01) == pct) is not None, 8):
                soc_adv.append(advertised(t0, lambda v: v.get(0x01) == pct) - t0)
            for codes in (0xffffffff, 0):
                t0 = time.monotonic()
                send(rig, f"codes 0x{codes:x}")
                want = 1 if codes else 0
                if pump(lambda: advertised(t0, lambda v: v.get(0x15) == want) is not None, 8):
                    code_adv.append(advertised(t0, lambda v: v.get(0x15) == want) - t0)
        figures("SoC change -> refreshed advertisement (5 s period)", soc_adv)
        figures("code change -> refreshed advertisement (at once)", code_adv)
    finally:
        rig.close()


if __name__ == "__main__":
    main()
