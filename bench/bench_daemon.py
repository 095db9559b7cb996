#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark of the whole smallbmsd (issue 6); prints figures, asserts nothing.

    /usr/bin/python3 bench/bench_daemon.py BUILD_DIR [--starts N] [--soak S] [--trips N]
    meson compile -C BUILD_DIR bench-daemon       (the same with the defaults)

Uses the integration rig (tests/integration/harness.py): smallbms-sim on a
pty, the fake IIO tree in a private mount namespace, outputs in dry-run.
Use a build without sanitizers for figures that mean anything.

1. start to READY=1, and to both disconnect outputs closed (1 battery);
2. VmRSS and CPU use after S seconds (default 60) with a 50-battery bank
   (2 in series x 25 in parallel), polled at the daemon's own rate;
3. the latency from a tripping reading on the bus to the output change: the
   simulator raises a battery's hard over-voltage or hard under-voltage flag
   (both act at once, without a delay) and the time to the DRY-RUN line of
   the charge or load disconnect is taken, p50/p99 over N trips. Each
   daemon instance takes one of each, on a fresh state directory, so the
   anti-chatter latch (3 trips in 600 s) never holds a rule.
"""

import argparse
import os
import random
import shutil
import signal
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def setup_env(build):
    os.environ["SMALLBMSD"] = os.path.join(build, "src", "daemon", "smallbmsd")
    os.environ["SMALLBMS_SIM"] = os.path.join(build, "src", "sim", "smallbms-sim")
    os.environ["SMALLBMS_IIO_FEEDER"] = os.path.join(ROOT, "tools", "iio-feeder")
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def pct(values, p):
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def proc_stat(pid):
    """(utime + stime in seconds, VmRSS in kB) of a process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return cpu, rss


def bench_start(h, n):
    ready, closed = [], []
    for i in range(n):
        rig = h.Rig("bench-start", start_sim=False)
        try:
            rig.start_sim()
            t0 = time.monotonic()
            d = rig.start_daemon()
            t_ready, _ = rig.notify.wait("READY", "1", timeout=60)
            ok = rig.wait_outputs("closed", "closed", timeout=60)
            t_closed = time.monotonic()
            if t_ready is None or not ok:
                print("start %d: no READY or outputs not closed" % i)
                continue
            ready.append(t_ready - t0)
            closed.append(t_closed - t0)
            d.signal(signal.SIGTERM)
            d.wait_exit(20)
        finally:
            rig.close()
    if ready:
        print("start to READY=1:            median %6.1f ms  max %6.1f ms  (%d starts)"
              % (statistics.median(ready) * 1000, max(ready) * 1000, len(ready)))
        print("start to ATD+ATC closed:     median %6.1f ms  max %6.1f ms"
              % (statistics.median(closed) * 1000, max(closed) * 1000))


def bench_soak(h, seconds):
    rig = h.Rig("bench-soak", series=2, parallel=25, start_sim=False)
    try:
        rig.start_sim()
        d = rig.start_daemon()
        if not rig.wait_outputs("closed", "closed", timeout=120):
            print("50-battery bank: outputs not closed; last lines:\n" + d.text(20))
            return
        pid = d.proc.pid
        c0, _ = proc_stat(pid)
        t0 = time.monotonic()
        time.sleep(seconds)
        c1, rss = proc_stat(pid)
        wall = time.monotonic() - t0
        polls = rig.sim_cmd("stats")
        print("50 batteries (2S x 25P), %.0f s: VmRSS %d kB, CPU %.2f %% of one core (%.2f s)"
              % (wall, rss, 100.0 * (c1 - c0) / wall, c1 - c0))
        print("  simulator after the soak: %s" % polls)
        d.signal(signal.SIGTERM)
        d.wait_exit(20)
    finally:
        rig.close()


def bench_trips(h, trips):
    ov, uv = [], []
    rng = random.Random(6)
    runs = (trips + 1) // 2
    for i in range(runs):
        rig = h.Rig("bench-trip", start_sim=False)
        try:
            rig.start_sim()
            d = rig.start_daemon()
            if not rig.wait_outputs("closed", "closed", timeout=60):
                print("trip run %d: outputs not closed" % i)
                continue
            for flag, line, out in (("hard-ov", "charge-disconnect", ov),
                                    ("hard-uv", "load-disconnect", uv)):
                # spread the trips over the phase of the daemon's poll cycle
                time.sleep(rng.uniform(0.05, 1.25))
                mark = d.mark()
                t0 = time.monotonic()
                rig.sim_cmd("flag 1 %s on" % flag)
                t, _, _ = d.wait(r"DRY-RUN: %s -> open" % line, timeout=20, since=mark)
                if t is None:
                    print("trip run %d: %s did not open" % (i, line))
                    continue
                out.append(t - t0)
                rig.sim_cmd("flag 1 %s auto" % flag)
            d.signal(signal.SIGTERM)
            d.wait_exit(20)
        finally:
            rig.close()
    both = ov + uv
    if both:
        print("trip to output (%d trips): p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms"
              % (len(both), pct(both, 50) * 1000, pct(both, 99) * 1000, max(both) * 1000))
        if ov:
            print("  hard OV flag -> ATC open:  p50 %6.1f ms  p99 %6.1f ms"
                  % (pct(ov, 50) * 1000, pct(ov, 99) * 1000))
        if uv:
            print("  hard UV flag -> ATD open:  p50 %6.1f ms  p99 %6.1f ms"
                  % (pct(uv, 50) * 1000, pct(uv, 99) * 1000))


def main():
    ap = argparse.ArgumentParser(description="smallbmsd benchmark")
    ap.add_argument("build", help="the meson build directory")
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--soak", type=float, default=60.0)
    ap.add_argument("--trips", type=int, default=40)
    args = ap.parse_args()
    setup_env(os.path.abspath(args.build))
    import harness as h

    why = h.namespace_usable()
    if why:
        print("bench-daemon: needs a private mount namespace (root or user namespaces): " + why)
        return 1
    if not shutil.which("unshare"):
        print("bench-daemon: unshare missing")
        return 1
    print("smallbmsd benchmark, build %s" % args.build)
    if args.starts:
        bench_start(h, args.starts)
    if args.soak:
        bench_soak(h, args.soak)
    if args.trips:
        bench_trips(h, args.trips)
    return 0


if __name__ == "__main__":
    sys.exit(main())
