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
   (2 in series x 25 in parallel), polled continuously at the daemon's own
   rate, and CPU for banks of 1, 2 and 10 (--soak-small seconds each);
3. the latency from a tripping reading on the bus to the output change, for
   a 2- and a 50-battery bank at the simulator's 1 ms reply delay: the
   simulator raises a battery's hard over-voltage flag (A3: ATC at once), its
   internal-fault flag (E4 makes it stale: the stale rule opens ATC at once,
   a zero-delay rule) or its hard under-voltage flag (A2: ATD at once). The
   simulator's --trace tells when the reply carrying the flag was handed to
   the pty whole (its last byte); the daemon's DRY-RUN line of the output,
   read by this script, ends the interval, so the figure includes the pipe
   and this script's wake-up. Also the time from the control command. Each
   daemon instance takes two trips (ATC, then ATD) on a fresh state
   directory, so the anti-chatter latch (3 trips in 600 s) never holds a rule.

The reading age and the cycle time next to the wire bound are bench-m8's
(the master alone over the pty: ./build/bench/bench-m8).
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


def bench_soak(h, seconds, series=2, parallel=25, quiet=False):
    rig = h.Rig("bench-soak", series=series, parallel=parallel, start_sim=False)
    n = series * parallel
    try:
        rig.start_sim()
        d = rig.start_daemon()
        if not rig.wait_outputs("closed", "closed", timeout=120):
            print("%d-battery bank: outputs not closed; last lines:\n" % n + d.text(20))
            return
        time.sleep(2.0)  # past the start's first cycles
        pid = d.proc.pid
        c0, _ = proc_stat(pid)
        s0 = rig.sim_cmd("stats")
        t0 = time.monotonic()
        time.sleep(seconds)
        c1, rss = proc_stat(pid)
        wall = time.monotonic() - t0
        s1 = rig.sim_cmd("stats")
        print("%2d batteries (%dS x %dP), %.0f s: VmRSS %d kB, CPU %.2f %% of one core "
              "(%.2f s)" % (n, series, parallel, wall, rss, 100.0 * (c1 - c0) / wall, c1 - c0))
        if not quiet:
            print("  simulator before: %s\n  simulator after:  %s" % (s0, s1))
        d.signal(signal.SIGTERM)
        d.wait_exit(20)
    finally:
        rig.close()


def read_trace(path):
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 4 and p[0] in ("rx", "tx"):
                flags = int(p[4], 16) if len(p) > 4 and p[4] != "-" else None
                out.append((p[0], int(p[1]) / 1e9, int(p[2]), int(p[3]), flags))
    return out


# (simulator flag, STATUS bit, output line)
TRIPS = {
    "hard-ov": ("hard-ov", 0x08, "charge-disconnect"),
    "fault": ("fault", 0x04, "charge-disconnect"),
    "hard-uv": ("hard-uv", 0x10, "load-disconnect"),
}


def bench_trips(h, trips, series, parallel):
    """Reply (last byte) to output line, per kind of trip; see the top."""
    res = {k: [] for k in TRIPS}
    cmd = {k: [] for k in TRIPS}
    rng = random.Random(6)
    n = series * parallel
    runs = (trips + 1) // 2
    for i in range(runs):
        rig = h.Rig("bench-trip", series=series, parallel=parallel, start_sim=False)
        try:
            trace = os.path.join(rig.dir, "trace")
            rig.start_sim(extra=["--trace", trace])
            d = rig.start_daemon()
            if not rig.wait_outputs("closed", "closed", timeout=120):
                print("trip run %d: outputs not closed" % i)
                continue
            first = "hard-ov" if i % 2 == 0 else "fault"
            for kind in (first, "hard-uv"):
                flag, bit, line = TRIPS[kind]
                battery = rng.randint(1, n)
                # spread the trips over the phase of the daemon's poll cycle
                time.sleep(rng.uniform(0.05, 0.6))
                mark = d.mark()
                t_cmd = time.monotonic()
                rig.sim_cmd("flag %d %s on" % (battery, flag))
                t, _, _ = d.wait(r"DRY-RUN: %s -> open" % line, timeout=20, since=mark)
                if t is None:
                    print("trip run %d: %s did not open on %s" % (i, line, kind))
                    continue
                time.sleep(0.05)
                replies = [e for e in read_trace(trace) if e[0] == "tx" and e[1] >= t_cmd and
                           e[2] == battery and e[3] == 0x84 and e[4] is not None and
                           e[4] & bit]
                if not replies:
                    print("trip run %d: no flagged reply in the trace" % i)
                    continue
                res[kind].append(t - replies[0][1])
                cmd[kind].append(t - t_cmd)
            d.signal(signal.SIGTERM)
            d.wait_exit(20)
        finally:
            rig.close()
    print("reply (last byte) to output line, %d batteries (%dS x %dP):" % (n, series, parallel))
    for kind, v in res.items():
        if not v:
            continue
        print("  %-8s -> %-17s  n=%3d  p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms   "
              "(command to output: p50 %6.1f ms, max %6.1f ms)"
              % (kind, TRIPS[kind][2], len(v), pct(v, 50) * 1000, pct(v, 99) * 1000,
                 max(v) * 1000, pct(cmd[kind], 50) * 1000, max(cmd[kind]) * 1000))
    both = [x for v in res.values() for x in v]
    if both:
        print("  all      n=%3d  p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms"
              % (len(both), pct(both, 50) * 1000, pct(both, 99) * 1000, max(both) * 1000))


def main():
    ap = argparse.ArgumentParser(description="smallbmsd benchmark")
    ap.add_argument("build", help="the meson build directory")
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--soak", type=float, default=60.0)
    ap.add_argument("--soak-small", type=float, default=15.0)
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
    if args.soak_small:
        for series, parallel in ((1, 1), (2, 1), (2, 5)):
            bench_soak(h, args.soak_small, series, parallel, quiet=True)
    if args.trips:
        for series, parallel in ((2, 1), (2, 25)):
            bench_trips(h, args.trips, series, parallel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
