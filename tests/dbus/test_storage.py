#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Storage under abuse (issue 15), the real daemon on a private system bus (TAP).

The world of test_policy.py (private dbus-daemon, the integration rig), the
daemon run with the test-only shim that delays every fsync by 600 ms
(tests/shim/slow_fsync.c, LD_PRELOAD), standing in for a slow SD card.

- A write that changes nothing saves nothing: no new state generation.
- A write is answered only once durable (the reply takes at least one
  delayed fsync), and while it waits the loop goes on: another client's
  property read is answered at once, not after the fsyncs.

Usage: test_storage.py DBUS_DIR SHIM   Needs root (as test_policy.py).
"""

import os
import shutil
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import test_policy as tp  # noqa: E402

SHIM = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else ""
DELAY_MS = 600
SETTINGS = "/org/smallbms/settings"
SETTINGS_IFACE = "org.smallbms.Settings1"


class SlowRig(tp.BusRig):
    def env(self):
        e = super().env()
        e["LD_PRELOAD"] = SHIM
        e["SMALLBMS_FSYNC_DELAY_MS"] = str(DELAY_MS)
        # the shim is preloaded before the sanitizer runtime
        e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
        return e


def generations(state_dir):
    """The generation numbers in state.0 and state.1 (0: none)."""
    out = []
    for g in (0, 1):
        try:
            with open(os.path.join(state_dir, "state.%d" % g), "rb") as f:
                head = f.read(24)
            out.append(struct.unpack("<IIQQ", head)[2] if len(head) == 24 else 0)
        except FileNotFoundError:
            out.append(0)
    return max(out)


def settings_iface(address):
    import dbus
    bus = dbus.bus.BusConnection(address)
    obj = bus.get_object(tp.NAME, SETTINGS, introspect=False)
    return bus, dbus.Interface(obj, SETTINGS_IFACE), dbus.Interface(
        obj, "org.freedesktop.DBus.Properties")


def case_noop_saves_nothing(w):
    import dbus
    bus, st, props = settings_iface(w.bus.address)
    try:
        cur = int(props.Get(SETTINGS_IFACE, "UvDelayMs"))
        st.SetMany(dbus.Dictionary({"uv_delay_ms": dbus.Int32(cur + 500)}, signature="si"))
        before = generations(w.rig.state_dir)
        harness.check(before > 0, "no generation after a change")
        for _ in range(20):
            st.SetMany(dbus.Dictionary({"uv_delay_ms": dbus.Int32(cur + 500)},
                                       signature="si"))
            props.Set(SETTINGS_IFACE, "UvDelayMs", dbus.Int32(cur + 500, variant_level=1))
        st.SetMany(dbus.Dictionary({}, signature="si"))
        after = generations(w.rig.state_dir)
        harness.check(after == before, "20 no-op writes saved: generation %d -> %d"
                      % (before, after))
        st.SetMany(dbus.Dictionary({"uv_delay_ms": dbus.Int32(cur)}, signature="si"))
        harness.check(generations(w.rig.state_dir) > after, "a real change was not saved")
    finally:
        bus.close()


def case_durable_reply_loop_free(w):
    """The SetMany reply comes after the delayed fsyncs, and a read by
    another client during the wait is answered at once."""
    import dbus
    bus, st, props = settings_iface(w.bus.address)
    rbus, _, rprops = settings_iface(w.bus.address)
    try:
        cur = int(props.Get(SETTINGS_IFACE, "UvDelayMs"))
        before = generations(w.rig.state_dir)
        done = {}

        def writer():
            t0 = time.monotonic()
            st.SetMany(dbus.Dictionary({"uv_delay_ms": dbus.Int32(cur + 1000)},
                                       signature="si"), timeout=30)
            done["took"] = time.monotonic() - t0
            done["gen"] = generations(w.rig.state_dir)

        th = threading.Thread(target=writer)
        th.start()
        time.sleep(0.15)  # the write is in its first delayed fsync
        reads = []
        while th.is_alive() and len(reads) < 20:
            t0 = time.monotonic()
            rprops.Get(SETTINGS_IFACE, "OvDelayMs")
            reads.append(time.monotonic() - t0)
            time.sleep(0.02)
        th.join(30)
        harness.check("took" in done, "SetMany did not return")
        print("# SetMany took %.0f ms; %d reads during it, slowest %.0f ms"
              % (done["took"] * 1000, len(reads), max(reads or [0]) * 1000))
        harness.check(done["took"] >= DELAY_MS / 1000.0,
                      "SetMany answered in %.0f ms, before its %d ms fsync"
                      % (done["took"] * 1000, DELAY_MS))
        harness.check(done["gen"] > before, "the change was not on disk when answered")
        harness.check(reads, "no read could be made while the write waited")
        harness.check(max(reads) < 0.3, "a read waited %.0f ms behind the save"
                      % (max(reads) * 1000))
        st.SetMany(dbus.Dictionary({"uv_delay_ms": dbus.Int32(cur)}, signature="si"),
                   timeout=30)
    finally:
        bus.close()
        rbus.close()


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (as test_policy.py)")
        return 0
    if not shutil.which("dbus-daemon") or not os.path.exists(SHIM):
        print("1..0 # SKIP dbus-daemon or the fsync shim missing")
        return 0
    why = tp.world_skip_reason()
    if why:
        print("1..0 # SKIP " + why)
        return 0
    tp.BusRig = SlowRig
    cases = ["noop_saves_nothing", "durable_reply_loop_free"]
    w = tp.World()
    _, failed = tp.run_world_cases(w, cases, globals())
    shutil.rmtree(w.tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
