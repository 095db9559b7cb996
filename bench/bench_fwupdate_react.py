#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The protection's reaction time while a battery firmware update runs
(issue 17); prints figures, asserts nothing.

    /usr/bin/python3 bench/bench_fwupdate_react.py BUILD_DIR [--trips N] [--kib K]
    /usr/bin/python3 bench/bench_fwupdate_react.py BUILD_DIR --trips 0 --full-update 1@1,50@10
    meson compile -C BUILD_DIR bench-fwupdate-react   (the same with the defaults)

The real smallbmsd on the integration rig (tests/integration/harness.py:
smallbms-sim on a pty with --trace, the fake IIO tree, dry-run outputs) and
a private system bus (tests/dbus/test_policy.py), as the firmware test
(tests/dbus/test_firmware.py) runs it. For a 2- and a 50-battery bank at the
simulator's 1 ms reply delay, N trips each (default 20), every trip on a
fresh daemon (so the anti-chatter latch, 3 trips in 600 s, never holds the
rule, and ATD is closed before each trip):

- a K KiB image (default 256, made by smallbms-fwwrap) is sent to battery 1
  (Firmware1.Start); while W7 holds ATC open, the trip that matters is ATD;
- once FW_DATA flows (the job's BytesSent grows), after a random wait (a
  random phase of the poll cycle and of the update) the simulator raises the
  hard under-voltage flag (A2: ATD at once) of a battery: every other trip a
  random battery other than 1, else battery 1 itself (the daemon keeps
  polling the battery in its update: docs/m8bus.md section 6);
- the latency from the simulator's reply carrying the flag (its last byte
  handed to the pty, from --trace) to the daemon's
  `DRY-RUN: load-disconnect -> open` line, as bench-daemon measures it, and
  the time from the control command (which includes the wait for the
  battery's next GET_STATUS: the figure that would grow if FW_DATA blocks
  kept the polls waiting);
- a trip counts only if BytesSent grew before it and again within the
  second after it (FW_DATA flowing on both sides);
- the update's rate (BytesSent over time) before and after the trip, and
  the gaps between two STATUS replies of a battery in that window
  (from the trace).

Then the same trips without an update, on the same rig (the control: same
batteries and waits), and bench_daemon.py's bench_trips (the rig without a
bus; its hard-uv row is the one to compare; N runs of it).

--full-update N@MS,... also times whole updates through the daemon (Start to
the last byte sent, and to "succeeded"), for N = 1, 10 or 50 batteries at a
reply delay of MS ms: bench-fwupdate measures the bus master alone at one
poll cycle a second, the daemon polls continuously (`[bus] min-cycle-ms`,
100 ms by default). --min-cycle-ms MS sets it for this script's daemons.

Needs root (as test_policy.py). Use a build without sanitizers for figures
that mean anything.
"""

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench_daemon as bd  # noqa: E402

TARGET = 1
STATUS_REPLY = 0x84
FW_DATA_REPLY = 0x91
HARD_UV = bd.TRIPS["hard-uv"]  # (flag, STATUS bit, output line)
CONFIG_EXTRA = {}  # smallbmsd.conf sections of every daemon (--min-cycle-ms)


def make_world_class(tp, tf):
    class BenchWorld(tf.World):
        """test_firmware's world on a shared private bus, with a bank of the
        size asked and the simulator's trace."""

        def __init__(self, bus, series, parallel, sim_args=()):
            self.tmp = tempfile.mkdtemp(prefix="smallbms-bench-fwreact-")
            os.chmod(self.tmp, 0o755)
            self.bus = bus
            self.rig = tp.BusRig("bench-fwreact", series=series, parallel=parallel,
                                 sim_args=sim_args, config_extra=CONFIG_EXTRA,
                                 start_sim=False)
            self.rig.bus_address = bus.address
            self.trace = os.path.join(self.rig.dir, "trace")

        def start(self):
            self.rig.start_sim(extra=["--trace", self.trace])
            self.rig.start_daemon()
            self.rig.wait_started(timeout=120)
            if not tp.wait_named(self.bus.address):
                raise RuntimeError("org.smallbms not on the bus")

        def close(self):
            try:
                d = self.rig.daemon
                if d and d.proc.poll() is None:
                    d.signal(signal.SIGTERM)
                    d.wait_exit(30)
            finally:
                self.rig.close()
                shutil.rmtree(self.tmp, ignore_errors=True)

    return BenchWorld


def start_update(w, tp, tf, image, battery):
    import dbus
    bus = dbus.bus.BusConnection(w.bus.address)
    try:
        fw = dbus.Interface(bus.get_object(tp.NAME, tf.ROOT, introspect=False), tf.FW)
        with open(image, "rb") as f:
            fw.Start(dbus.UInt32(battery), dbus.types.UnixFd(f.fileno()))
    finally:
        bus.close()


def sent(w):
    return w.get("BytesSent") or 0


def status_gaps(trace, t0, t1):
    """The gaps between consecutive STATUS replies of each battery in [t0, t1]."""
    last, gaps = {}, []
    for kind, t, addr, cmd, _ in trace:
        if kind != "tx" or cmd != STATUS_REPLY or t < t0 or t > t1:
            continue
        if addr in last:
            gaps.append(t - last[addr])
        last[addr] = t
    return gaps


def one_trip(w, tp, tf, rng, n, kib, i, update, res):
    """One trip, during an update or without one (the control, on the same
    rig and bus); appends to res, or says why the trip does not count."""
    w.start()
    if update:
        image = w.image("bench", kib * 1024)
        start_update(w, tp, tf, image, TARGET)
        w.wait(lambda: sent(w) > 0, "FW_DATA flowing", timeout=60)
    t_a, s_a = time.monotonic(), sent(w)
    # a random phase of the poll cycle and of the update
    time.sleep(rng.uniform(0.5, 3.0))
    s_b, t_b = sent(w), time.monotonic()
    if update and s_b <= s_a:
        return "no FW_DATA before the trip (%d -> %d bytes)" % (s_a, s_b)
    d = w.rig.daemon
    if d.output(HARD_UV[2]) != "closed":
        return "%s not closed before the trip" % HARD_UV[2]
    if update and ("W7" not in w.codes() or d.output("charge-disconnect") != "open"):
        return "W7 or the open charge-disconnect missing before the trip"
    others = [b for b in range(1, n + 1) if b != TARGET]
    battery = TARGET if i % 2 else rng.choice(others)
    mark = d.mark()
    t_cmd = time.monotonic()
    w.rig.sim_cmd("flag %d %s on" % (battery, HARD_UV[0]))
    t, _, _ = d.wait(r"DRY-RUN: %s -> open" % HARD_UV[2], timeout=20, since=mark)
    if t is None:
        return "%s did not open (battery %d)" % (HARD_UV[2], battery)
    time.sleep(1.0)  # the update after the trip, ATD open
    s_c, t_c = sent(w), time.monotonic()
    if update and s_c <= s_b:
        return "no FW_DATA after the trip (%d -> %d bytes, job %s)" % (s_b, s_c, w.get("State"))
    trace = bd.read_trace(w.trace)
    replies = [e for e in trace if e[0] == "tx" and e[1] >= t_cmd and e[2] == battery and
               e[3] == STATUS_REPLY and e[4] is not None and e[4] & HARD_UV[1]]
    if not replies:
        return "no flagged reply in the trace"
    key = "target" if battery == TARGET else "other"
    res[key].append(t - replies[0][1])
    res[key + "_cmd"].append(t - t_cmd)
    res["rate_before"].append((s_b - s_a) / (t_b - t_a))
    res["rate_after"].append((s_c - s_b) / (t_c - t_b))
    res["gaps"] += status_gaps(trace, t_a, t_c)
    res["blocks"] += sum(1 for e in trace if e[0] == "tx" and e[3] == FW_DATA_REPLY and
                         t_a <= e[1] <= t_c)
    res["window"] += t_c - t_a
    return None


def row(label, v, c):
    return ("  %-30s n=%3d  p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms   "
            "(command to output: p50 %6.1f ms, max %6.1f ms)"
            % (label, len(v), bd.pct(v, 50) * 1000, bd.pct(v, 99) * 1000, max(v) * 1000,
               bd.pct(c, 50) * 1000, max(c) * 1000))


def bench_update_trips(BenchWorld, tp, tf, bus, trips, kib, series, parallel, update=True):
    n = series * parallel
    rng = random.Random(17)
    res = {"target": [], "target_cmd": [], "other": [], "other_cmd": [], "rate_before": [],
           "rate_after": [], "gaps": [], "blocks": 0, "window": 0.0}
    skipped = []
    for i in range(trips):
        w = BenchWorld(bus, series, parallel)
        try:
            why = one_trip(w, tp, tf, rng, n, kib, i, update, res)
        except Exception as e:  # a broken run is reported, the rest go on
            why = "%s: %s" % (type(e).__name__, e)
        finally:
            w.close()
        if why:
            skipped.append("trip %d: %s" % (i, why))
    if update:
        print("during a %d KiB update of battery %d: reply (last byte) to output line, "
              "%d batteries (%dS x %dP):" % (kib, TARGET, n, series, parallel))
    else:
        print("the same rig without an update: reply (last byte) to output line, "
              "%d batteries (%dS x %dP):" % (n, series, parallel))
    for key, label in (("other", "hard-uv, another battery"),
                       ("target", "hard-uv, battery %d" % TARGET + (" (in update)" if update
                                                                     else ""))):
        if res[key]:
            print(row("%s -> %s" % (label, HARD_UV[2]), res[key], res[key + "_cmd"]))
    both = res["other"] + res["target"]
    if both:
        print(row("all", both, res["other_cmd"] + res["target_cmd"]))
    if both and update:
        rb, ra = res["rate_before"], res["rate_after"]
        print("  update rate (BytesSent): before the trip p50 %5.2f KiB/s (min %5.2f), "
              "after it (ATD open) p50 %5.2f KiB/s (min %5.2f); %d FW_DATA replies in "
              "%.1f s of trip windows (%.1f blocks/s)"
              % (bd.pct(rb, 50) / 1024, min(rb) / 1024, bd.pct(ra, 50) / 1024, min(ra) / 1024,
                 res["blocks"], res["window"], res["blocks"] / res["window"]))
    if res["gaps"]:
        g = res["gaps"]
        print("  gap between two STATUS replies of a battery in those windows: n=%d  p50 %6.1f "
              "ms  p99 %6.1f ms  max %6.1f ms" % (len(g), bd.pct(g, 50) * 1000,
                                                 bd.pct(g, 99) * 1000, max(g) * 1000))
    for s in skipped:
        print("  not counted: " + s)


def bench_full_update(BenchWorld, tp, tf, bus, kib, n, delay_ms):
    """A whole update through the daemon: Start to the data sent, and to
    'succeeded' (FW_END, the battery's restart, GET_INFO with the new version)."""
    series, parallel = BANKS[n]
    w = BenchWorld(bus, series, parallel, sim_args=["--reply-delay-us", str(delay_ms * 1000)])
    try:
        w.start()
        image = w.image("bench", kib * 1024)
        t0 = time.monotonic()
        start_update(w, tp, tf, image, TARGET)
        t_data = None
        state = None
        while time.monotonic() - t0 < 3600:
            state = w.get("State")
            if t_data is None and sent(w) >= kib * 1024:
                t_data = time.monotonic() - t0
            if state not in ("starting", "sending", "verifying", "restarting"):
                break
            time.sleep(0.25)
        total = time.monotonic() - t0
        if state != "succeeded":
            print("  %2d batteries, %2d ms: the update ended %s (%s)"
                  % (n, delay_ms, state, w.get("FailureReason")))
            return
        t_data = t_data or total
        print("  %2d batteries, %2d ms reply delay: data %6.1f s (%5.2f KiB/s), total %6.1f s"
              % (n, delay_ms, t_data, kib / t_data, total))
    finally:
        w.close()


# bank sizes of the whole-update mode, as bench-fwupdate's table
BANKS = {1: (1, 1), 10: (2, 5), 50: (2, 25)}


def parse_list(text, sep, ok):
    """'AsepB,...' into [(A, B)], each pair checked by ok."""
    out = []
    for item in filter(None, text.split(",")):
        a, _, b = item.partition(sep)
        try:
            pair = (int(a), int(b))
        except ValueError:
            pair = None
        if pair is None or not ok(*pair):
            raise ValueError("%r: expected A%sB (--banks: S x P batteries, at most 50; "
                             "--full-update: N 1, 10 or 50 @ 1..10 ms)" % (item, sep))
        out.append(pair)
    return out


def main():
    ap = argparse.ArgumentParser(description="smallbmsd: reaction time during a firmware update")
    ap.add_argument("build", help="the meson build directory")
    ap.add_argument("--trips", type=int, default=20, help="trips per bank size (default 20)")
    ap.add_argument("--kib", type=int, default=256, help="image size in KiB (default 256)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="leave out the trips without an update")
    ap.add_argument("--banks", default="2x1,2x25",
                    help="SxP bank sizes, comma separated (default 2x1,2x25)")
    ap.add_argument("--full-update", metavar="N@MS,...",
                    help="also time whole updates through the daemon, e.g. "
                    "1@1,10@1,50@1,1@10,10@10,50@10 (N batteries: 1, 10 or 50; "
                    "MS: the simulator's reply delay)")
    ap.add_argument("--min-cycle-ms", type=int, metavar="MS",
                    help="[bus] min-cycle-ms of this script's daemons, not bench-daemon's "
                    "(20..1000; default: the daemon's, 100)")
    args = ap.parse_args()
    if args.min_cycle_ms is not None:
        if not 20 <= args.min_cycle_ms <= 1000:
            ap.error("--min-cycle-ms: %d is not 20..1000" % args.min_cycle_ms)
        CONFIG_EXTRA["bus"] = {"min-cycle-ms": str(args.min_cycle_ms)}
    build = os.path.abspath(args.build)
    bd.setup_env(build)
    sys.path.insert(0, os.path.join(ROOT, "tests", "dbus"))
    import harness as h
    import test_policy as tp
    import test_firmware as tf
    tp.DBUS_DIR = os.path.join(ROOT, "dbus")  # (it re-executes itself: argv stays ours)
    tf.FWWRAP = os.path.join(build, "src", "fwwrap", "smallbms-fwwrap")
    try:
        banks = parse_list(args.banks, "x", lambda s, p: 1 <= s and 1 <= p and s * p <= 50)
        full = parse_list(args.full_update or "", "@", lambda n, ms: n in BANKS and 1 <= ms <= 10)
    except ValueError as e:
        ap.error(str(e))

    if not shutil.which("dbus-daemon") or not os.access(tf.FWWRAP, os.X_OK):
        print("bench-fwupdate-react: dbus-daemon or %s missing" % tf.FWWRAP)
        return 1
    world = tp.bench_world("bench-fwupdate-react", "smallbms-bench-fwreact-bus-")
    if not world:
        return 1
    tmp, bus = world
    BenchWorld = make_world_class(tp, tf)
    try:
        print("smallbmsd: reaction time during a firmware update, build %s%s"
              % (build, ", min-cycle-ms %d" % args.min_cycle_ms if CONFIG_EXTRA else ""))
        for series, parallel in (banks if args.trips else []):
            bench_update_trips(BenchWorld, tp, tf, bus, args.trips, args.kib, series,
                               parallel)
            if not args.no_baseline:
                bench_update_trips(BenchWorld, tp, tf, bus, args.trips, args.kib, series,
                                   parallel, update=False)
                print("without an update, bench-daemon's trips (%d runs; no bus):" % args.trips)
                bd.bench_trips(h, 2 * args.trips, series, parallel)
            sys.stdout.flush()
        if full:
            print("whole %d KiB updates of battery %d through the daemon:" % (args.kib, TARGET))
        for n, ms in full:
            bench_full_update(BenchWorld, tp, tf, bus, args.kib, n, ms)
            sys.stdout.flush()
    finally:
        bus.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
