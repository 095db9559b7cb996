#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The low-power shutdown (docs/protection.md section 10, issue 17), TAP.

The rig of tests/ctl/test_ctl.py (simulator, fake IIO tree, dry-run
outputs, a private dbus-daemon) with python3-dbusmock's logind template on
that bus, and the daemon told to ask logind even in a dry run
([outputs] power-off = yes).

Ten minutes are not waited for: the condition (remote terminal OFF, no
charger) is set up, the daemon stopped (it saves the rule states), and the
saved age of the shutdown timer in the state record is moved to a few
seconds short of 10 min (record CRC and file checksum made right again).
The next daemon resumes that timer (protection_persist_apply), so logind
must see PowerOff(false) a few seconds after the start, not at once, and
not at all when a charger appears or the remote turns ON in time.

Environment: SMALLBMSD, SMALLBMS_SIM, SMALLBMS_IIO_FEEDER (meson passes them).
"""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "ctl"))

from harness import Fail, Skip, check, namespace_usable  # noqa: E402
from test_ctl import CtlRig  # noqa: E402
from state_record import HOLD_S, newest_state, set_shutdown_age, shutdown_timer  # noqa: E402

LOGIN1 = "org.freedesktop.login1"
LOGIN1_PATH = "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"
LEFT_S = 8    # what is left of the hold when the daemon starts
class PowerRig(CtlRig):
    def start_logind(self):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        self.logind_log = open(os.path.join(self.dir, "logind-mock.log"), "a")
        self.logind = subprocess.Popen(
            ["/usr/bin/python3", "-m", "dbusmock", "--system", "--template", "logind"],
            env=env, stdout=self.logind_log, stderr=self.logind_log)
        import dbus
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sysbus = dbus.bus.BusConnection(self.address)
                if self.sysbus.name_has_owner(LOGIN1):
                    break
                self.sysbus.close()
            except dbus.exceptions.DBusException:
                pass
            if time.monotonic() > deadline or self.logind.poll() is not None:
                raise Fail("the logind stand-in did not start")
            time.sleep(0.1)
        self.mock = dbus.Interface(self.sysbus.get_object(LOGIN1, LOGIN1_PATH,
                                                          introspect=False),
                                   "org.freedesktop.DBus.Mock")

    def poweroffs(self):
        return [[bool(a) for a in args] for _, args in self.mock.GetMethodCalls("PowerOff")]

    def logind_refuses(self, refuse):
        code = ("raise dbus.exceptions.DBusException('not allowed', "
                "name='org.freedesktop.DBus.Error.AccessDenied')" if refuse else "")
        self.mock.AddMethod(MANAGER, "PowerOff", "b", "", code)

    def close(self):
        if getattr(self, "logind", None) and self.logind.poll() is None:
            self.logind.terminate()
            self.logind.wait(10)
        if getattr(self, "sysbus", None):
            self.sysbus.close()
        super().close()


def condition_saved(rig):
    """A daemon with the remote OFF and no current until the saved state has
    the shutdown timer running; then stopped (SIGTERM saves)."""
    for name in os.listdir(rig.state_dir):  # a new state record each time
        if name.startswith("state."):
            os.unlink(os.path.join(rig.state_dir, name))
    rig.mock.ClearCalls()
    rig.sim_cmd("current 0")
    rig.feeder.remote = "on"
    d = rig.start_daemon()
    rig.wait_started()
    rig.feeder.remote = "off"
    check(rig.wait_outputs("open", "open", timeout=15), "remote OFF did not open both outputs")
    time.sleep(1.0)
    d.signal(15)
    check(d.wait_exit(30) == 0, "daemon exit after SIGTERM")
    running, age = shutdown_timer(rig.state_dir)
    check(running and age < HOLD_S, "saved shutdown timer: running %s, age %.1f s"
          % (running, age))
    check(not rig.poweroffs(), "PowerOff before the hold: %r" % rig.poweroffs())


def resume_short_of_hold(rig):
    """The saved timer LEFT_S short of 10 min, the daemon started again."""
    set_shutdown_age(rig.state_dir, HOLD_S - LEFT_S)
    rig.mock.ClearCalls()
    d = rig.start_daemon()
    t, _ = rig.notify.wait("READY", "1", timeout=90, since=len(rig.notify.messages))
    check(t is not None, "no READY=1")
    return d, t


def powers_off_after_hold(rig):
    """PowerOff(false) comes once the hold is complete, not at once; the
    journal line says why; the state was saved and every output released
    first."""
    condition_saved(rig)
    gen_before = newest_state(rig.state_dir)[0]
    d, t_ready = resume_short_of_hold(rig)
    early = LEFT_S / 2.0
    while time.monotonic() < t_ready + early:
        check(not rig.poweroffs(), "PowerOff %.1f s after the start, %d s before the hold "
              "was complete" % (time.monotonic() - t_ready, LEFT_S))
        time.sleep(0.1)
    deadline = time.monotonic() + LEFT_S + 20
    while not rig.poweroffs() and time.monotonic() < deadline:
        time.sleep(0.1)
    calls = rig.poweroffs()
    check(calls == [[False]], "logind's PowerOff calls: %r" % calls)
    took = time.monotonic() - t_ready
    rig.figures.append("PowerOff %.1f s after READY=1 (%d s were left of the hold)"
                       % (took, LEFT_S))
    _, m, _ = d.wait(r"power-off: low-power shutdown: (.*)", timeout=1)
    check(m is not None, "no journal line for the shutdown")
    why = m.group(1)
    check("remote terminal OFF" in why and "SoC" in why and " V" in why
          and "for 600 s" in why, "the line does not say why: %r" % why)
    check(newest_state(rig.state_dir)[0] > gen_before, "the state was not saved")
    # the dry run prints changes only: released lines were open already
    check(d.output("load-disconnect") != "closed" and d.output("charge-disconnect") != "closed",
          "outputs not released: ATD %s ATC %s" % (d.output("load-disconnect"),
                                                  d.output("charge-disconnect")))
    check(not d.matching(r"DRY-RUN: (load|charge)-disconnect -> closed"),
          "an output closed on the way to the power-off")
    time.sleep(1.5)
    check(rig.poweroffs() == [[False]], "PowerOff asked again: %r" % rig.poweroffs())
    d.signal(15)
    check(d.wait_exit(30) == 0, "daemon exit after SIGTERM")


def cancelled_by(rig, what, act):
    condition_saved(rig)
    d, t_ready = resume_short_of_hold(rig)
    time.sleep(LEFT_S / 4.0)
    act()
    end = t_ready + LEFT_S + 8
    while time.monotonic() < end:
        check(not rig.poweroffs(), "PowerOff although %s %.1f s after the start"
              % (what, time.monotonic() - t_ready))
        time.sleep(0.1)
    check(not d.matching(r"low-power shutdown:"), "a shutdown was logged after %s" % what)
    d.signal(15)
    check(d.wait_exit(30) == 0, "daemon exit after SIGTERM")


def charger_cancels(rig):
    """A charger (bank current above 0.5 % of the 100 Ah capacity) before
    the hold is complete: no PowerOff."""
    cancelled_by(rig, "a charger appeared", lambda: rig.sim_cmd("current 2000"))
    rig.sim_cmd("current 0")


def remote_on_cancels(rig):
    """The remote terminal ON before the hold is complete: no PowerOff."""
    def on():
        rig.feeder.remote = "on"
    cancelled_by(rig, "the remote turned ON", on)


def refused_is_retried(rig):
    """logind refuses: logged, the outputs stay released, asked again after
    10 s (the retry policy); accepted then."""
    rig.logind_refuses(True)
    condition_saved(rig)
    d, t_ready = resume_short_of_hold(rig)
    deadline = time.monotonic() + LEFT_S + 20
    while not rig.poweroffs() and time.monotonic() < deadline:
        time.sleep(0.1)
    check(len(rig.poweroffs()) == 1, "PowerOff calls %r" % rig.poweroffs())
    t_first = time.monotonic()
    _, m, _ = d.wait(r"power-off: logind's PowerOff failed: (.*)", timeout=5)
    check(m is not None and "not allowed" in m.group(1), "the refusal was not logged")
    rig.logind_refuses(False)
    deadline = t_first + 20
    while len(rig.poweroffs()) < 2 and time.monotonic() < deadline:
        check(not d.matching(r"DRY-RUN: (load|charge)-disconnect -> closed"),
              "an output closed while the power-off was pending")
        time.sleep(0.1)
    gap = time.monotonic() - t_first
    check(len(rig.poweroffs()) == 2, "not asked again within 20 s: %r" % rig.poweroffs())
    check(gap >= 9.0, "asked again after %.1f s, before the 10 s retry" % gap)
    rig.figures.append("refused PowerOff asked again after %.1f s" % gap)
    # The outputs are released on purpose: the daemon is healthy all the
    # same, and systemd's watchdog (WatchdogSec=10s; the rig's WATCHDOG_USEC)
    # must not kill it while it waits to ask again.
    pings = [t for t, f in rig.notify.messages if f.get("WATCHDOG") == "1" and t >= t_first]
    spans = [b - a for a, b in zip([t_first] + pings, pings + [t_first + gap])]
    check(len(pings) >= 3 and max(spans) < 5.0,
          "WATCHDOG=1 while the power-off waited for its retry: %d in %.1f s, longest gap "
          "%.1f s (systemd would kill the daemon after 10 s)"
          % (len(pings), gap, max(spans)))
    check(d.wait(r"power-off: logind accepted", timeout=5)[0] is not None,
          "the accepted retry was not logged")
    d.signal(15)
    check(d.wait_exit(30) == 0, "daemon exit after SIGTERM")


def called_off_while_refused(rig):
    """logind refuses; the remote turns ON before the retry: the shutdown is
    called off, the outputs are taken again (both close), and logind is not
    asked again."""
    rig.logind_refuses(True)
    condition_saved(rig)
    d, t_ready = resume_short_of_hold(rig)
    deadline = time.monotonic() + LEFT_S + 20
    while not rig.poweroffs() and time.monotonic() < deadline:
        time.sleep(0.1)
    check(len(rig.poweroffs()) == 1, "PowerOff calls %r" % rig.poweroffs())
    t_first = time.monotonic()
    mark = d.mark()
    rig.feeder.remote = "on"
    check(d.wait(r"power-off: low-power shutdown called off", timeout=8, since=mark)[0]
          is not None, "the shutdown was not called off on remote ON")
    check(rig.wait_outputs("closed", "closed", timeout=30),
          "the outputs were not taken again after the shutdown was called off")
    while time.monotonic() < t_first + 12:
        time.sleep(0.2)
    check(len(rig.poweroffs()) == 1, "logind asked again after the call-off: %r"
          % rig.poweroffs())
    rig.logind_refuses(False)
    d.signal(15)
    check(d.wait_exit(30) == 0, "daemon exit after SIGTERM")


CASES = [powers_off_after_hold, charger_cancels, remote_on_cancels, refused_is_retried,
         called_off_while_refused]


def main():
    print("1..%d" % len(CASES), flush=True)
    why = namespace_usable()
    try:
        import dbusmock  # noqa: F401
    except ImportError:
        why = why or "python3-dbusmock missing (tools/install-deps)"
    if why:
        for n, fn in enumerate(CASES, 1):
            print("ok %d - %s # SKIP %s" % (n, fn.__name__, why))
        return 0
    failed = 0
    rig = None
    try:
        rig = PowerRig("poweroff", series=1, parallel=1, soc=30, start_sim=False,
                       config_extra={"outputs": {"power-off": "yes"}})
        rig.figures = []
        rig.start_sim()
        rig.start_bus()
        rig.start_logind()
        for n, fn in enumerate(CASES, 1):
            try:
                fn(rig)
                print("ok %d - %s" % (n, fn.__name__), flush=True)
            except Skip as e:
                print("ok %d - %s # SKIP %s" % (n, fn.__name__, e), flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is a TAP "not ok"
                failed += 1
                print("not ok %d - %s" % (n, fn.__name__))
                for line in ("%s: %s\n%s" % (type(e).__name__, e,
                                             rig.diagnostics())).splitlines():
                    print("# " + line)
                sys.stdout.flush()
                for dd in rig.daemons:
                    if dd.proc.poll() is None:
                        dd.kill()
        for line in rig.figures:
            print("# " + line)
    except Exception as e:  # noqa: BLE001
        failed += 1
        print("# rig: %s: %s" % (type(e).__name__, e))
    finally:
        if rig:
            rig.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
