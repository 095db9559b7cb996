#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Reply to GPIO line change on a real kernel's gpio-sim (issue 16); prints
figures, asserts nothing. Runs inside the kernel stage's QEMU guest:

    SMALLBMSD=BUILD/src/daemon/smallbmsd SMALLBMS_SIM=BUILD/src/sim/smallbms-sim \\
    SMALLBMS_IIO_FEEDER=tools/iio-feeder \\
      tests/kernel/run-guest --timeout 900 bench/bench_gpio_guest.py [TRIPS]

(BUILD: a build without sanitizers for figures that mean anything, e.g.
meson setup build-rel --buildtype=release -Dtests=true.) The guest runs
under TCG (no KVM on the CI machines): its CPU is emulated and several
times slower than a board's, so the figures are an upper bound.

The daemon drives a gpio-sim chip through libgpiod (tests/kernel/
guest_gpio.py's rig); smallbms-sim on a pty with --trace says when the
reply carrying a battery's hard over-voltage, internal-fault (stale at
once) or hard under-voltage flag was handed to the pty whole, and the
kernel's gpio_value tracepoint (trace_clock mono) when the charge or load
disconnect line went to 0. p50 / p99 / max for a 2- and a 50-battery bank.
"""
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "kernel"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import guest_gpio as gg  # noqa: E402

TRIPS = {
    "hard-ov": ("hard-ov", 0x08, "charge-disconnect"),
    "fault": ("fault", 0x04, "charge-disconnect"),
    "hard-uv": ("hard-uv", 0x10, "load-disconnect"),
}


def pct(values, p):
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def read_trace(path):
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 4 and p[0] in ("rx", "tx"):
                flags = int(p[4], 16) if len(p) > 4 and p[4] != "-" else None
                out.append((p[0], int(p[1]) / 1e9, int(p[2]), int(p[3]), flags))
    return out


def bank(series, parallel, trips, rng):
    res = {k: [] for k in TRIPS}
    n = series * parallel
    for i in range((trips + 1) // 2):
        g = gg.GpioRig("bench-gpio", series=series, parallel=parallel)
        try:
            trace = os.path.join(g.rig.dir, "trace")
            g.rig.start_sim(extra=["--trace", trace])
            g.start_daemon()
            if g.wait_values({"load-disconnect": 1, "charge-disconnect": 1}, 180) is None:
                print("# run %d: outputs not closed" % i, flush=True)
                continue
            for kind in ("hard-ov" if i % 2 == 0 else "fault", "hard-uv"):
                flag, bit, line = TRIPS[kind]
                battery = rng.randint(1, n)
                time.sleep(rng.uniform(0.05, 0.6))
                g.trace.start()
                t_cmd = time.monotonic()
                g.rig.sim_cmd("flag %d %s on" % (battery, flag))
                if g.wait_values({line: 0}, 30) is None:
                    print("# run %d: %s did not open on %s" % (i, line, kind), flush=True)
                    continue
                time.sleep(0.2)
                ev, _ = g.trace.events()
                sets = [e[0] for e in ev if e[1] == "value" and e[2] == g.gpio[line] and
                        e[3] == "set" and e[4] == 0 and e[0] >= t_cmd]
                replies = [e[1] for e in read_trace(trace) if e[0] == "tx" and
                           e[1] >= t_cmd and e[2] == battery and e[3] == 0x84 and
                           e[4] is not None and e[4] & bit]
                if not sets or not replies:
                    print("# run %d: %s: no line event or no flagged reply traced" % (i, kind))
                    continue
                res[kind].append(sets[0] - replies[0])
        finally:
            g.close()
    print("reply (last byte) to GPIO line at 0, %d batteries (%dS x %dP), gpio-sim:"
          % (n, series, parallel), flush=True)
    for kind, v in res.items():
        if v:
            print("  %-8s -> %-17s  n=%3d  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms"
                  % (kind, TRIPS[kind][2], len(v), pct(v, 50) * 1e3, pct(v, 99) * 1e3,
                     max(v) * 1e3), flush=True)


def main():
    trips = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    rng = random.Random(16)
    for series, parallel in ((2, 1), (2, 25)):
        bank(series, parallel, trips, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
