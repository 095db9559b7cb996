#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Storage under abuse (issue 15): prints figures, asserts nothing.

    /usr/bin/python3 bench/bench_storage.py BUILD_DIR [--runs N] [--clients N]
    meson compile -C BUILD_DIR bench-storage      (the same with the defaults)

The real smallbmsd on the integration rig (smallbms-sim on a pty, fake IIO
tree, dry-run outputs) and a private system bus (tests/dbus/test_policy.py),
every fsync of the daemon delayed by 600 ms (tests/shim/slow_fsync.c, a
test-only LD_PRELOAD shim standing in for a slow SD card). Twice: without
and with a flood of settings writes (N client processes, each calling
SetMany and Properties.Set in a loop as fast as it is answered). Per mode:

- trip to output: the simulator raises a battery's hard over-voltage (then
  hard under-voltage) flag; the time to the DRY-RUN line of the charge (load)
  disconnect, p50/p99/max;
- the heartbeat: the gaps between heartbeat ticks while the mode runs,
  p50/p99/max (the board's monostable trips at 2 s). The dry-run backend
  does not print the heartbeat's toggles, so the daemon is given
  WATCHDOG_USEC=360000: its watchdog ping (every 90 ms) then goes with every
  heartbeat toggle of the 100 ms tick (same code path, healthy() only), and
  the gaps between the WATCHDOG=1 datagrams on the rig's NOTIFY_SOCKET are
  the heartbeat's gaps;
- with the flood: calls answered, refused busy, state generations written.

Needs root (as test_policy.py). Use a build without sanitizers for figures
that mean anything.
"""

import argparse
import multiprocessing
import os
import random
import shutil
import signal
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DELAY_MS = 600


def pct(values, p):
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def generation(state_dir):
    best = 0
    for g in (0, 1):
        try:
            with open(os.path.join(state_dir, "state.%d" % g), "rb") as f:
                head = f.read(24)
            if len(head) == 24:
                best = max(best, struct.unpack("<IIQQ", head)[2])
        except OSError:
            pass
    return best


def flooder(address, stop, counts, idx):
    """One client: SetMany and Properties.Set, toggling a value, until stop."""
    import dbus
    bus = dbus.bus.BusConnection(address)
    obj = bus.get_object("org.smallbms", "/org/smallbms/settings", introspect=False)
    st = dbus.Interface(obj, "org.smallbms.Settings1")
    props = dbus.Interface(obj, "org.freedesktop.DBus.Properties")
    ok = busy = other = 0
    i = 0
    while not stop.is_set():
        v = 2000 + 500 * (i % 2) + idx
        i += 1
        try:
            if i % 2:
                st.SetMany(dbus.Dictionary({"uv_delay_ms": dbus.Int32(v)}, signature="si"),
                           timeout=30)
            else:
                props.Set("org.smallbms.Settings1", "OvDelayMs",
                          dbus.Int32(v, variant_level=1), timeout=30)
            ok += 1
        except dbus.exceptions.DBusException as e:
            if e.get_dbus_name() == "org.smallbms.Error.Busy":
                busy += 1
            else:
                other += 1
    counts[3 * idx] = ok
    counts[3 * idx + 1] = busy
    counts[3 * idx + 2] = other
    bus.close()


def one_mode(h, tp, shim, bus, runs, clients, flood):
    trips, gaps = [], []
    ok = busy = other = gens = 0
    seconds = 0.0
    rng = random.Random(15)

    class SlowRig(tp.BusRig):
        def env(self):
            e = super().env()
            e["LD_PRELOAD"] = shim
            e["SMALLBMS_FSYNC_DELAY_MS"] = str(DELAY_MS)
            e["WATCHDOG_USEC"] = "360000"
            e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") +
                                 ":verify_asan_link_order=0").lstrip(":")
            return e

    for run in range(runs):
        rig = SlowRig("bench-storage", series=1, parallel=2, start_sim=False)
        rig.bus_address = bus.address
        procs = []
        stop = multiprocessing.Event()
        counts = multiprocessing.Array("i", 3 * max(clients, 1))
        try:
            rig.start_sim()
            d = rig.start_daemon()
            rig.wait_started()
            if not tp.wait_named(bus.address, timeout=30):
                print("run %d: the daemon did not appear on the bus" % run)
                continue
            gen0 = generation(rig.state_dir)
            t_start = time.monotonic()
            if flood:
                for i in range(clients):
                    p = multiprocessing.Process(target=flooder,
                                                args=(bus.address, stop, counts, i))
                    p.start()
                    procs.append(p)
                time.sleep(2.0)  # the flood is under way
            for flag, line in (("hard-ov", "charge-disconnect"),
                               ("hard-uv", "load-disconnect")):
                time.sleep(rng.uniform(0.05, 1.25))
                m = d.mark()
                t0 = time.monotonic()
                rig.sim_cmd("flag 1 %s on" % flag)
                t, _, _ = d.wait(r"DRY-RUN: %s -> open" % line, timeout=20, since=m)
                if t is None:
                    print("run %d: %s did not open" % (run, line))
                else:
                    trips.append(t - t0)
                rig.sim_cmd("flag 1 %s auto" % flag)
            time.sleep(1.0)
            stop.set()
            for p in procs:
                p.join(60)
            seconds += time.monotonic() - t_start
            with rig.notify.cond:
                beats = [t for t, f in rig.notify.messages
                         if t >= t_start and f.get("WATCHDOG") == "1"]
            gaps += [b - a for a, b in zip(beats, beats[1:])]
            for i in range(clients if flood else 0):
                ok += counts[3 * i]
                busy += counts[3 * i + 1]
                other += counts[3 * i + 2]
            gens += generation(rig.state_dir) - gen0
            d.signal(signal.SIGTERM)
            d.wait_exit(30)
        finally:
            stop.set()
            for p in procs:
                if p.is_alive():
                    p.kill()
            rig.close()
    name = "with a flood of %d clients" % clients if flood else "without a flood"
    print("fsync +%d ms, %s (%d runs, %.0f s):" % (DELAY_MS, name, runs, seconds))
    if trips:
        print("  trip to output (%d trips): p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms"
              % (len(trips), pct(trips, 50) * 1000, pct(trips, 99) * 1000, max(trips) * 1000))
    if gaps:
        print("  heartbeat gap (%d gaps):    p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms"
              % (len(gaps), pct(gaps, 50) * 1000, pct(gaps, 99) * 1000, max(gaps) * 1000))
    if flood:
        print("  writes answered %d (%.1f/s), refused busy %d, other errors %d; "
              "state generations %d" % (ok, ok / seconds if seconds else 0, busy, other, gens))
    else:
        print("  state generations %d" % gens)


def main():
    ap = argparse.ArgumentParser(description="smallbmsd storage benchmark")
    ap.add_argument("build", help="the meson build directory")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--shim", help="the fsync shim (default: BUILD_DIR/tests/shim/), e.g. "
                    "to measure a build of older code that has none")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    os.environ["SMALLBMSD"] = os.path.join(build, "src", "daemon", "smallbmsd")
    os.environ["SMALLBMS_SIM"] = os.path.join(build, "src", "sim", "smallbms-sim")
    os.environ["SMALLBMS_IIO_FEEDER"] = os.path.join(ROOT, "tools", "iio-feeder")
    shim = os.path.abspath(args.shim) if args.shim else os.path.join(
        build, "tests", "shim", "libslow-fsync.so")
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "dbus"))
    import harness as h
    import test_policy as tp
    tp.DBUS_DIR = os.path.join(ROOT, "dbus")  # (it re-executes itself: argv stays ours)

    if not os.path.exists(shim):
        print("bench-storage: %s missing (a build with -Dtests=true)" % shim)
        return 1
    world = tp.bench_world("bench-storage", "smallbms-bench-storage-")
    if not world:
        return 1
    tmp, bus = world
    try:
        print("smallbmsd storage benchmark, build %s" % build)
        one_mode(h, tp, shim, bus, args.runs, args.clients, flood=False)
        one_mode(h, tp, shim, bus, args.runs, args.clients, flood=True)
    finally:
        bus.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
