#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Battery firmware update end to end (issue 17), TAP.

The real smallbmsd on a private system bus (the world of test_policy.py)
with smallbms-sim on a pty; images made by smallbms-fwwrap; the update
driven by smallbmsctl update-firmware (root: no polkit question). Each case
watches what the daemon drove (the dry-run lines: the charge output open
while the update runs, the load output untouched), its STATUS codes (W7,
E5), its journal events and the simulator's log.

- success: the battery runs the new version, W7 then clear, ATC closes again.
- failure: the battery finds the image damaged (sim fw-corrupt): FW_END
  result 6, E5 and the pre-alarm at once, exit status 1.
- failure_restart: the failure (E5) kept across a SIGKILL and restart by
  the state record; Firmware1.ClearFailure ends it.
- no_new_version: the battery restarts into its old firmware (sim
  fw-stuck): failure after 10 s.
- all: --all updates one battery after another and stops at a failure.
- cancel: Ctrl-C (SIGINT) to smallbmsctl: FW_ABORT, exit status 5, no E5.
- restart: the daemon killed (SIGKILL) mid-update and started again: W7 and
  the open charge output from the battery's STATUS flag alone; an update of
  another battery is refused meanwhile; the update started again succeeds.
- refused: an image for another battery type, a damaged file, a second
  update while one runs, identify while one runs.
- trip_other, trip_target: while FW_DATA flows, a battery's hard
  under-voltage flag (A2: ATD at once), on the other battery or on the one
  in update (still polled: m8bus.md section 6): the load output opens with
  A2, the charge output stays open (W7), the blocks go on and the update
  succeeds.

Usage: test_firmware.py DBUS_DIR FWWRAP   Needs root (as test_policy.py).
"""

import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import test_policy as tp  # noqa: E402

FWWRAP = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else ""
CTL = os.environ.get("SMALLBMSCTL", "")
ROOT = "/org/smallbms"
FW = "org.smallbms.Firmware1"


class World:
    """A private bus and a rig of 2 batteries (12.8 V, type 1, 1.4.2)."""

    def __init__(self, name):
        self.tmp = __import__("tempfile").mkdtemp(prefix="smallbms-fw-")
        os.chmod(self.tmp, 0o755)
        self.bus = tp.Bus(self.tmp)
        self.rig = tp.BusRig(name, series=2, parallel=1, start_sim=False)
        self.rig.bus_address = self.bus.address

    def start(self):
        self.rig.start_sim()
        self.rig.start_daemon()
        self.rig.wait_started()
        harness.check(tp.wait_named(self.bus.address), "org.smallbms not on the bus")

    def image(self, name, size, version="1.5.0", btype=1):
        raw = os.path.join(self.tmp, name + ".bin")
        with open(raw, "wb") as f:
            f.write(bytes((i * 7 + 3) & 0xFF for i in range(size)))
        out = os.path.join(self.tmp, name + ".sbfw")
        r = subprocess.run([FWWRAP, "--type", str(btype), "--version", version, "-o", out, raw],
                           capture_output=True, text=True, timeout=30)
        harness.check(r.returncode == 0, "fwwrap: %s" % r.stderr)
        return out

    def ctl(self, *args, timeout=120):
        return subprocess.run([CTL, "--address", self.bus.address] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def ctl_start(self, *args):
        return subprocess.Popen([CTL, "--address", self.bus.address] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def get(self, prop, iface=FW, path=ROOT):
        return tp.root_get(self.bus.address, path, iface, prop)

    def codes(self):
        st = self.rig.notify.statuses()
        if not st:
            return set()
        m = harness.STATUS_RE.match(st[-1][1])
        return set(m.group(7).split(",")) if m and m.group(7) != "-" else set()

    def prealarm(self):
        st = self.rig.notify.statuses()
        m = harness.STATUS_RE.match(st[-1][1]) if st else None
        return bool(m) and m.group(3) == "on"

    def sim_log(self):
        with open(os.path.join(self.rig.dir, "sim.log")) as f:
            return f.read()

    def wait(self, cond, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        raise harness.Fail("timed out waiting for %s" % what)

    def close(self):
        try:
            self.rig.stop_daemons_checked()
        finally:
            self.rig.close()
            self.bus.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


def watch_outputs(w, proc):
    """While proc runs: (ATC ever closed while W7, ATD ever open)."""
    atc_closed_w7 = atd_open = False
    while proc.poll() is None:
        codes = w.codes()
        if "W7" in codes and w.rig.daemon.output("charge-disconnect") == "closed":
            atc_closed_w7 = True
        if w.rig.daemon.output("load-disconnect") == "open":
            atd_open = True
        time.sleep(0.05)
    return atc_closed_w7, atd_open


def case_success(w):
    img = w.image("ok", 24000)
    since = w.rig.daemon.mark()
    p = w.ctl_start("update-firmware", img, "--battery", "2")
    # the charge output opens while it runs (W7)
    w.wait(lambda: "W7" in w.codes(), "W7")
    w.wait(lambda: w.rig.daemon.output("charge-disconnect") == "open", "ATC open")
    atc_closed_w7, atd_open = watch_outputs(w, p)
    out, err = p.communicate(timeout=30)
    harness.check(p.returncode == 0, "exit %d: %s %s" % (p.returncode, out, err))
    harness.check(not atc_closed_w7, "charge output closed while W7 was active")
    harness.check(not atd_open, "load output opened during a successful update")
    harness.check("firmware updated" in out, "no success line: %r" % out)
    harness.check("battery 2: " in out, "no plain progress lines (not a tty): %r" % out)
    harness.check(w.get("State") == "succeeded", "State %r" % w.get("State"))
    harness.check(w.get("BytesSent") == 24000 and w.get("BytesTotal") == 24000, "bytes")
    harness.check("firmware 1.5.0 verified" in w.sim_log(), "simulator did not verify")
    harness.check(w.rig.daemon.matching(r"firmware update started: battery 2 ", since),
                  "no start event")
    harness.check(w.rig.daemon.matching(r"firmware update succeeded: battery 2 ", since),
                  "no success event")
    # W7 ends; ATC closes again once the battery is fresh
    w.wait(lambda: "W7" not in w.codes(), "W7 cleared", timeout=30)
    harness.check(w.rig.wait_outputs("closed", "closed", timeout=60), "outputs not closed after")
    harness.check("E5" not in w.codes(), "E5 after a success")
    w.wait(lambda: w.get("FirmwareVersion", "org.smallbms.Battery1",
                         "/org/smallbms/battery/2") == "1.5.0", "GET_INFO 1.5.0", timeout=60)


def case_failure(w):
    img = w.image("bad", 6000)
    w.rig.sim_cmd("fw-corrupt 1 1")
    since = w.rig.daemon.mark()
    p = w.ctl_start("update-firmware", img, "--battery", "1", "--json")
    atc_closed_w7, _ = watch_outputs(w, p)
    out, err = p.communicate(timeout=30)
    harness.check(p.returncode == 1, "exit %d (want 1): %s" % (p.returncode, err))
    harness.check(not atc_closed_w7, "charge output closed while W7 was active")
    harness.check('"state":"failed"' in out.replace(" ", ""), "no JSON failed line: %r" % out)
    harness.check("damaged" in err, "no reason: %r" % err)
    harness.check(w.get("State") == "failed", "State %r" % w.get("State"))
    harness.check(bool(w.get("FailurePending")), "FailurePending")
    w.wait(lambda: "E5" in w.codes(), "E5")
    w.wait(w.prealarm, "pre-alarm", timeout=10)
    harness.check(w.rig.daemon.output("load-disconnect") == "closed",
                  "loads off before the 120 s")
    harness.check(w.rig.daemon.matching(r"firmware update failed: battery 1 ", since),
                  "no failure event")
    # a retry of the same battery is allowed despite E5, and clears it
    p = w.ctl("update-firmware", img, "--battery", "1")
    harness.check(p.returncode == 0, "retry: exit %d: %s" % (p.returncode, p.stderr))
    w.wait(lambda: "E5" not in w.codes(), "E5 cleared by the retry", timeout=30)


def case_failure_restart(w):
    """A pending failure survives a restart (state record), and the
    authenticated clear (Firmware1.ClearFailure) ends E5."""
    img = w.image("bad", 3000)
    w.rig.sim_cmd("fw-corrupt 1 1")
    r = w.ctl("update-firmware", img, "--battery", "1")
    harness.check(r.returncode == 1, "exit %d (want 1)" % r.returncode)
    w.wait(lambda: "E5" in w.codes(), "E5")
    w.rig.daemon.signal(signal.SIGKILL)
    w.rig.daemon.wait_exit(10)
    # the record saved at the failure says so
    st = w.rig.run_tool("--show-state")
    harness.check(st.returncode == 0 and "firmware update: battery 1 failed" in st.stdout,
                  "--show-state: %s %s" % (st.stdout[-300:], st.stderr))
    n = len(w.rig.notify.messages)
    w.rig.start_daemon()
    t, _ = w.rig.notify.wait("READY", "1", timeout=60, since=n)
    harness.check(t is not None, "no READY after the restart")
    harness.check(tp.wait_named(w.bus.address), "org.smallbms not back on the bus")
    harness.check(w.rig.daemon.matching(r"failed firmware update of battery 1 is pending"),
                  "the restart did not read the failure back")
    w.wait(lambda: "E5" in w.codes(), "E5 after the restart", timeout=30)
    harness.check(bool(w.get("FailurePending")), "FailurePending after the restart")
    import dbus
    bus = dbus.bus.BusConnection(w.bus.address)
    fw = dbus.Interface(bus.get_object(tp.NAME, ROOT, introspect=False), FW)
    fw.ClearFailure()
    w.wait(lambda: "E5" not in w.codes(), "E5 cleared", timeout=30)
    harness.check(not w.get("FailurePending"), "FailurePending after the clear")
    try:
        fw.ClearFailure()
        raise harness.Fail("a second clear succeeded")
    except dbus.exceptions.DBusException as e:
        harness.check(e.get_dbus_name() == "org.smallbms.Error.NotRunning", str(e))
    bus.close()
    harness.check(w.rig.wait_outputs("closed", "closed", timeout=60), "outputs not closed")


def case_no_new_version(w):
    """The battery restarts into its old firmware (sim fw-stuck): the new
    version is not seen within 10 s of FW_END: a failure."""
    img = w.image("stuck", 3000)
    w.rig.sim_cmd("fw-stuck 2 on")
    r = w.ctl("update-firmware", img, "--battery", "2")
    harness.check(r.returncode == 1, "exit %d (want 1): %s" % (r.returncode, r.stderr))
    harness.check("within 10 s" in r.stderr, "no reason: %r" % r.stderr)
    harness.check("firmware 1.5.0 verified" in w.sim_log(), "FW_END was not answered 0")
    w.wait(lambda: "E5" in w.codes(), "E5")


def case_all(w):
    """--all: one battery after another; it stops at the first failure."""
    img = w.image("all", 4000)
    since = w.rig.daemon.mark()
    r = w.ctl("update-firmware", img, "--all")
    harness.check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
    harness.check(r.stdout.count("firmware updated") == 2, "not both: %r" % r.stdout)
    started = [t for t, x in w.rig.daemon.matching(r"firmware update started: battery", since)]
    harness.check(len(started) == 2, "%d starts" % len(started))
    img2 = w.image("all2", 4000, version="1.6.0")
    w.rig.sim_cmd("fw-corrupt 1 1")
    since = w.rig.daemon.mark()
    r = w.ctl("update-firmware", img2, "--all")
    harness.check(r.returncode == 1, "exit %d (want 1)" % r.returncode)
    harness.check(not w.rig.daemon.matching(r"firmware update started: battery 2", since),
                  "--all went on after a failure")


def case_cancel(w):
    img = w.image("big", 96000)
    since = w.rig.daemon.mark()
    p = w.ctl_start("update-firmware", img, "--battery", "1")
    w.wait(lambda: (w.get("BytesSent") or 0) > 2000, "some bytes sent", timeout=30)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    harness.check(p.returncode == 5, "exit %d (want 5): %s" % (p.returncode, err))
    harness.check(w.get("State") == "cancelled", "State %r" % w.get("State"))
    harness.check(not w.get("FailurePending"), "a cancel is a failure")
    harness.check(w.rig.daemon.matching(r"firmware update cancelled: battery 1 ", since),
                  "no cancel event")
    w.wait(lambda: "W7" not in w.codes(), "W7 cleared", timeout=30)
    harness.check("E5" not in w.codes(), "E5 after a cancel")
    harness.check(w.rig.wait_outputs("closed", "closed", timeout=60), "outputs not closed")
    harness.check("1.5.0" not in w.sim_log(), "battery took the new firmware")


def case_restart(w):
    img = w.image("big", 96000)
    p = w.ctl_start("update-firmware", img, "--battery", "1")
    w.wait(lambda: (w.get("BytesSent") or 0) > 2000, "some bytes sent", timeout=30)
    w.rig.daemon.signal(signal.SIGKILL)
    w.rig.daemon.wait_exit(10)
    p.communicate(timeout=30)
    harness.check(p.returncode != 0, "ctl succeeded although the daemon died")
    # This rig's restart is a cold start, whose RESET makes the simulated
    # battery drop its update; a battery still in its update after a
    # restart (no RESET) is modelled by forcing its STATUS flag.
    w.rig.sim_cmd("flag 1 fw-update on")
    n = len(w.rig.notify.messages)
    w.rig.start_daemon()
    t, _ = w.rig.notify.wait("READY", "1", timeout=60, since=n)
    harness.check(t is not None, "no READY after the restart")
    harness.check(tp.wait_named(w.bus.address), "org.smallbms not back on the bus")
    w.wait(lambda: w.get("FlaggedBattery") == 1, "FlaggedBattery", timeout=60)
    # the battery reports its update: W7, the charge output stays open
    end = time.monotonic() + 3
    while time.monotonic() < end:
        harness.check("W7" in w.codes(), "no W7 while a battery flags its update")
        harness.check(w.rig.daemon.output("charge-disconnect") != "closed",
                      "charge output closed while a battery flags its update")
        time.sleep(0.1)
    harness.check(w.rig.daemon.output("load-disconnect") == "closed", "loads off")
    # one battery at a time: another battery is refused meanwhile
    r = w.ctl("update-firmware", img, "--battery", "2")
    harness.check(r.returncode == 1 and "another battery" in r.stderr,
                  "second battery not refused: %d %s" % (r.returncode, r.stderr))
    # resumed: the same battery starts over and succeeds
    r = w.ctl("update-firmware", img, "--battery", "1")
    harness.check(r.returncode == 0, "resume: exit %d: %s" % (r.returncode, r.stderr))
    harness.check("1.5.0" in w.sim_log(), "the battery did not take the image")
    w.rig.sim_cmd("flag 1 fw-update auto")
    w.wait(lambda: "W7" not in w.codes(), "W7 cleared", timeout=30)
    harness.check(w.rig.wait_outputs("closed", "closed", timeout=60), "outputs not closed")


def case_refusals(w):
    wrong = w.image("type2", 3000, btype=2)
    r = w.ctl("update-firmware", wrong, "--battery", "1")
    harness.check(r.returncode == 1 and "battery type 2" in r.stderr,
                  "wrong type: %d %s" % (r.returncode, r.stderr))
    damaged = w.image("damaged", 3000)
    with open(damaged, "r+b") as f:
        f.seek(100)
        f.write(b"\xff\x00")
    r = w.ctl("update-firmware", damaged, "--battery", "1")
    harness.check(r.returncode == 1 and "CRC" in r.stderr, "damaged: %s" % r.stderr)
    # the daemon checks on its own too (a client that skips the check)
    import dbus
    bus = dbus.bus.BusConnection(w.bus.address)
    fw = dbus.Interface(bus.get_object(tp.NAME, ROOT, introspect=False), FW)
    for path, name in ((wrong, "org.smallbms.Error.InvalidImage"),
                       (damaged, "org.smallbms.Error.InvalidImage")):
        with open(path, "rb") as f:
            try:
                fw.Start(dbus.UInt32(1), dbus.types.UnixFd(f.fileno()))
                raise harness.Fail("daemon accepted %s" % path)
            except dbus.exceptions.DBusException as e:
                harness.check(e.get_dbus_name() == name, "%s: %s" % (path, e))
    # a pipe is no image file
    rd, wr = os.pipe()
    try:
        fw.Start(dbus.UInt32(1), dbus.types.UnixFd(rd))
        raise harness.Fail("daemon accepted a pipe")
    except dbus.exceptions.DBusException as e:
        harness.check("regular file" in e.get_dbus_message(), "pipe: %s" % e)
    os.close(rd)
    os.close(wr)
    harness.check(w.get("State") == "idle", "a refused start changed the job")
    # while one runs: a second start and identify are refused as busy
    img = w.image("big", 96000)
    p = w.ctl_start("update-firmware", img, "--battery", "1")
    w.wait(lambda: bool(w.get("Running")), "running", timeout=30)
    with open(img, "rb") as f:
        try:
            fw.Start(dbus.UInt32(2), dbus.types.UnixFd(f.fileno()))
            raise harness.Fail("second update accepted")
        except dbus.exceptions.DBusException as e:
            harness.check(e.get_dbus_name() == "org.smallbms.Error.Busy", str(e))
    r = w.ctl("identify", "2")
    harness.check(r.returncode == 1 and "firmware update" in r.stderr, "identify: %s" % r.stderr)
    fw.Cancel()
    p.communicate(timeout=30)
    harness.check(p.returncode == 5, "cancel by another client: exit %d" % p.returncode)
    bus.close()


def trip_during_update(w, battery):
    img = w.image("trip", 24000)
    p = w.ctl_start("update-firmware", img, "--battery", "1")
    w.wait(lambda: (w.get("BytesSent") or 0) > 1000, "some bytes sent", timeout=30)
    harness.check(w.rig.daemon.output("load-disconnect") == "closed", "loads off before the trip")
    since = w.rig.daemon.mark()
    w.rig.sim_cmd("flag %d hard-uv on" % battery)
    t, _, _ = w.rig.daemon.wait(r"DRY-RUN: load-disconnect -> open", timeout=10, since=since)
    harness.check(t is not None, "load output not opened by battery %d's hard-UV flag during "
                  "an update" % battery)
    w.wait(lambda: "A2" in w.codes() and "W7" in w.codes(), "A2 and W7", timeout=10)
    harness.check(w.rig.daemon.output("charge-disconnect") == "open", "charge output closed")
    # the update goes on: more blocks after the trip, and it succeeds
    after = w.get("BytesSent")
    w.wait(lambda: w.get("BytesSent") > after or w.get("State") != "sending",
           "blocks after the trip", timeout=30)
    out, err = p.communicate(timeout=120)
    harness.check(p.returncode == 0, "exit %d after the trip: %s %s" % (p.returncode, out, err))
    harness.check(w.get("State") == "succeeded", "State %r" % w.get("State"))
    harness.check(w.rig.daemon.output("load-disconnect") == "open", "loads back on while A2")
    w.rig.sim_cmd("flag %d hard-uv auto" % battery)


def case_trip_other(w):
    trip_during_update(w, 2)


def case_trip_target(w):
    trip_during_update(w, 1)


CASES = ["success", "failure", "failure_restart", "no_new_version", "all", "cancel", "restart",
         "refusals", "trip_other", "trip_target"]


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (as test_policy.py)")
        return 0
    if not shutil.which("dbus-daemon") or not (FWWRAP and CTL):
        print("1..0 # SKIP dbus-daemon, smallbms-fwwrap or smallbmsctl missing")
        return 0
    tp.enter_namespace()
    try:
        import dbus  # noqa: F401
    except ImportError:
        print("1..0 # SKIP python3-dbus missing")
        return 0
    selected = sys.argv[3:] or CASES
    print("1..%d" % len(selected), flush=True)
    failed = 0
    for n, name in enumerate(selected, 1):
        w = None
        try:
            w = World(name)
            w.start()
            globals()["case_" + name](w)
            print("ok %d - %s" % (n, name), flush=True)
        except Exception as e:
            failed += 1
            print("not ok %d - %s" % (n, name))
            diag = w.rig.diagnostics() if w and w.rig else ""
            for line in ("%s: %s\n%s" % (type(e).__name__, e, diag)).splitlines():
                print("# " + line)
            sys.stdout.flush()
        finally:
            if w:
                try:
                    w.close()
                except Exception as e:
                    failed += 1
                    print("# close: %s" % e)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
