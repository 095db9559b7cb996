#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`smallbmsctl bluetooth` against the real smallbmsd and a fake BlueZ, as TAP.

The rig of test_ctl.py (CtlRig: the simulator, the fake IIO tree and a
private dbus-daemon the daemon takes for its system bus) with
tests/ble/fake_bluez.py's FakeBluez owning org.bluez on that bus. The fake
lives in this process on a GLib main loop, and the daemon calls it (agent
registration, RemoveDevice for Forget), so every wait here pumps that loop:
smallbmsctl runs as a child while the loop turns.

What smallbmsctl prints is checked against org.smallbms.Bluetooth1 read
directly with python-dbus, and what it changes against the daemon's
properties, the fake's pairing (the kernel's passkey shown to the installer,
numeric comparison and passkey entry) and its devices.

Environment as test_ctl.py: SMALLBMSD, SMALLBMS_SIM, SMALLBMS_IIO_FEEDER,
SMALLBMSCTL, SMALLBMS_DBUS_CONF.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "ble"))

import dbus  # noqa: E402
import dbus.mainloop.glib  # noqa: E402

import fake_bluez  # noqa: E402
from fake_bluez import FakeBluez, pump  # noqa: E402
from test_ctl import CTL, CtlRig, Fail, Skip, check, server_missing  # noqa: E402
from harness import namespace_usable  # noqa: E402

BT1 = "org.smallbms.Bluetooth1"
BT_PATH = "/org/smallbms/bluetooth"
MAC = "54:48:E6:8F:80:A5"
PHONE_A = "AA:BB:CC:00:00:0A"
PHONE_B = "AA:BB:CC:00:00:0B"
PHONE_D = "AA:BB:CC:00:00:0D"
UNKNOWN = "AA:BB:CC:99:99:99"
PERMISSION = "permission denied: run as root or as a member of group smallbms-admin ("


class World:
    """The rig, the fake BlueZ and this process's connection to the bus."""

    def __init__(self):
        self.rig = CtlRig("ctlbt", series=1, parallel=1, start_sim=False)
        self.bus = None
        self.fake = None

    def start(self):
        self.rig.start_sim()
        self.rig.start_bus()
        self.bus = fake_bluez.private_bus(self.rig.address)
        self.fake = FakeBluez(self.bus, MAC)
        self.fake.start()

    def ctl(self, *args, user=None, timeout=30, stdin=None):
        """smallbmsctl --address <bus> ARGS while the fake's loop turns, with
        the text stdin (or nothing) on its standard input: (exit status,
        stdout, stderr)."""
        argv = [CTL, "--address", self.rig.address] + list(args)
        if user:
            argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + argv
        out_path = os.path.join(self.rig.dir, "ctl.out")
        err_path = os.path.join(self.rig.dir, "ctl.err")
        in_path = os.path.join(self.rig.dir, "ctl.in")
        with open(in_path, "w") as f:
            f.write(stdin or "")
        with open(out_path, "w") as out, open(err_path, "w") as err, open(in_path) as inp:
            p = subprocess.Popen(argv, stdin=inp if stdin is not None else subprocess.DEVNULL,
                                 stdout=out, stderr=err)
            if not pump(lambda: p.poll() is not None, timeout):
                p.kill()
                p.wait(5)
                raise Fail("smallbmsctl %s: no exit within %d s" % (" ".join(args), timeout))
        with open(out_path) as out, open(err_path) as err:
            # A coverage build adds "profiling: ... Cannot open" lines for a
            # user who may not write the build tree: not smallbmsctl's.
            text = "".join(x for x in err.readlines() if not x.startswith("profiling:"))
            return p.returncode, out.read(), text

    def pair_session(self, *args):
        """smallbmsctl bluetooth pair ARGS as a child with a pipe on its
        standard input: the installer's terminal."""
        return PairSession(self, list(args))

    def ctl_ok(self, *args):
        rc, out, err = self.ctl(*args)
        check(rc == 0, "smallbmsctl %s: exit %d: %s" % (" ".join(args), rc, err.strip()))
        return out, err

    def ctl_ok_stdin(self, text, *args):
        rc, out, err = self.ctl(*args, stdin=text)
        check(rc == 0, "smallbmsctl %s < %r: exit %d: %s" % (" ".join(args), text, rc,
                                                             err.strip()))
        return out, err

    def ctl_json(self, *args):
        out, _ = self.ctl_ok(*(list(args) + ["--json"]))
        try:
            return json.loads(out)
        except ValueError as e:
            raise Fail("smallbmsctl %s --json: not JSON (%s): %r" % (" ".join(args), e, out[:300]))

    def bt1(self):
        return dbus.Interface(self.bus.get_object("org.smallbms", BT_PATH, introspect=False), BT1)

    def props(self):
        obj = self.bus.get_object("org.smallbms", BT_PATH, introspect=False)
        return obj.GetAll(BT1, dbus_interface="org.freedesktop.DBus.Properties")

    def bonded(self):
        return sorted((str(a), str(n)) for a, n in self.props()["BondedDevices"])

    def close(self):
        try:
            if self.bus:
                self.bus.close()
        finally:
            self.rig.close()


class PairSession:
    """A running `smallbmsctl bluetooth pair`: its output read as it comes."""

    def __init__(self, w, args):
        self.out, self.err = [], []
        self.proc = subprocess.Popen([CTL, "--address", w.rig.address, "bluetooth", "pair"] + args,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _read(stream, sink):
        while True:
            c = stream.read(1)
            if not c:
                return
            sink.append(c)

    def text(self):
        return "".join(self.out)

    def wait_for(self, rx, timeout=10):
        found = []

        def cond():
            m = re.search(rx, self.text())
            if m:
                found.append(m)
            return bool(m)

        check(pump(cond, timeout), "pair printed no /%s/:\n%s\nstderr: %s"
              % (rx, self.text(), "".join(self.err)))
        return found[0]

    def answer(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_exit(self, timeout=10):
        if not pump(lambda: self.proc.poll() is not None, timeout):
            self.proc.kill()
            self.proc.wait(5)
            raise Fail("bluetooth pair did not exit:\n%s" % self.text())
        pump(None, 0.1)  # the reader threads catch up
        return self.proc.returncode


# -- the checks, in order ------------------------------------------------------

def not_running(w):
    """Before the daemon owns the name: exit 4; a bad timeout is exit 2
    without the bus; set-pin is gone."""
    rc, _, err = w.ctl("bluetooth")
    check(rc == 4 and "not running" in err, "bluetooth: exit %d: %r" % (rc, err))
    rc, _, err = w.ctl("bluetooth", "pair", "--timeout", "5")
    check(rc == 2 and "--timeout needs seconds 10..600" in err, "exit %d: %r" % (rc, err))
    rc, _, err = w.ctl("bluetooth", "set-pin", "123456")
    check(rc == 2 and "unknown sub-command 'set-pin'" in err, "exit %d: %r" % (rc, err))


def state(w):
    """bluetooth and --json against the Bluetooth1 properties."""
    p = w.props()
    doc = w.ctl_json("bluetooth")
    check(doc["state"] == str(p["State"]) == "advertising", "state %r, property %s"
          % (doc["state"], p["State"]))
    check(doc["adapter_present"] is True and bool(p["AdapterPresent"]), "adapter_present")
    check(doc["address"] == str(p["Address"]) == MAC, "address %r" % doc["address"])
    check(doc["encrypted"] is True and bool(p["Encrypted"]), "encrypted %r" % doc["encrypted"])
    check(doc["pairing_open"] is False and not bool(p["PairingOpen"]),
          "pairing_open %r" % doc["pairing_open"])
    check(doc["pairing_seconds_left"] == 0, "pairing_seconds_left %r" % doc)
    check("pin_is_default" not in doc, "a PIN in %r" % doc)
    check(doc["bonded_devices"] == [] and len(p["BondedDevices"]) == 0,
          "bonded %r" % doc["bonded_devices"])
    out, _ = w.ctl_ok("bluetooth")
    for rx in (r"^State: +advertising$", r"^Adapter: +%s$" % MAC,
               r"^Advertisement: +encrypted with the bind key",
               r"^Pairing window: +closed", r"^Bonded phones: +none$"):
        check(re.search(rx, out, re.M), "human output lacks /%s/:\n%s" % (rx, out))


def pair_confirm(w):
    """bluetooth pair: the window opens, a KeyboardDisplay phone asks, the
    number the kernel drew is shown with the time left, y bonds it, the
    window closes and pair exits 0."""
    f = w.fake
    a = f.add_device(PHONE_A, "Pixel")
    f.connect(a)
    t0 = time.monotonic()
    s = w.pair_session("--timeout", "60")
    s.wait_for(r"Pairing window open for 60 s")
    check(pump(lambda: bool(w.props()["PairingOpen"]), 5), "PairingOpen after pair")
    doc = w.ctl_json("bluetooth")
    check(doc["pairing_open"] is True and 50 <= doc["pairing_seconds_left"] <= 60, "%r" % doc)
    check(pump(lambda: bool(f.adapter.props["Pairable"]), 5), "adapter not Pairable")
    attempt = f.pair_async(a, "KeyboardDisplay")
    m = s.wait_for(r"Does the phone show (\d{6})\? Answer y .* within (\d+) s")
    check(int(m.group(1)) == attempt.passkey, "shown %s, the kernel drew %06d"
          % (m.group(1), attempt.passkey))
    check(25 <= int(m.group(2)) <= 30, "time left %s" % m.group(2))
    check(PHONE_A in s.text() and '"Pixel"' in s.text(), "phone not named:\n%s" % s.text())
    pump(None, 0.3)
    check(not attempt.done, "paired before the installer answered")
    s.answer("y")
    check(pump(lambda: attempt.done, 10) and attempt.ok, "pairing failed: %s" % attempt.error)
    check(s.wait_exit() == 0, "pair exit %r:\n%s" % (s.proc.returncode, s.text()))
    check(re.search(r'Bonded with %s "Pixel"' % PHONE_A, s.text()), "output:\n%s" % s.text())
    print("# pair: window open to bond %.2f s" % (time.monotonic() - t0))
    check(not bool(w.props()["PairingOpen"]), "window open after the bond")


def pair_passkey(w):
    """A keyboard-only phone: pair shows the passkey to type on the phone."""
    f = w.fake
    b = f.add_device(PHONE_B, "Tablet")
    f.connect(b)
    s = w.pair_session()
    s.wait_for(r"Pairing window open for 120 s")
    check(pump(lambda: bool(f.adapter.props["Pairable"]), 5), "adapter not Pairable")
    typed = []

    def user(kind, passkey):
        m = re.search(r"Type (\d{6}) on the phone within (\d+) s", s.text())
        if m:
            typed.append(int(m.group(1)))
        return typed[-1] if typed else None

    attempt = f.pair_async(b, "KeyboardOnly", phone=user)
    check(pump(lambda: attempt.done, 10) and attempt.ok, "passkey entry failed: %s"
          % attempt.error)
    check(typed and typed[-1] == attempt.passkey, "typed %r, drawn %06d" % (typed, attempt.passkey))
    check(s.wait_exit() == 0, "pair exit %r:\n%s" % (s.proc.returncode, s.text()))
    check(pump(lambda: w.bonded() == [(PHONE_A, "Pixel"), (PHONE_B, "Tablet")], 5),
          "BondedDevices %r" % w.bonded())
    doc = w.ctl_json("bluetooth")
    got = sorted((d["address"], d["name"]) for d in doc["bonded_devices"])
    check(got == w.bonded(), "bonded_devices %r" % got)
    out, _ = w.ctl_ok("bluetooth")
    check(re.search(r"^Bonded phones: +%s  Pixel$" % PHONE_A, out, re.M) and
          re.search(r"^ +%s  Tablet$" % PHONE_B, out, re.M), "human bonded:\n%s" % out)


def pair_refused(w):
    """n refuses (nothing bonds, the window stays), a hostile name is shown
    escaped, pair close ends the window and the waiting pair exits 1;
    Ctrl-C closes the window too."""
    f = w.fake
    c = f.add_device("AA:BB:CC:00:00:0C", "evil\x1b[2J\x07")
    f.connect(c)
    s = w.pair_session("--timeout", "60")
    s.wait_for(r"Pairing window open")
    check(pump(lambda: bool(f.adapter.props["Pairable"]), 5), "adapter not Pairable")
    attempt = f.pair_async(c, "KeyboardDisplay")
    s.wait_for(r"Does the phone show")
    check("\x1b" not in s.text() and "\x07" not in s.text(), "raw control characters printed")
    check('"evil\\x1b[2J\\x07"' in s.text(), "name not escaped:\n%r" % s.text())
    s.answer("n")
    check(pump(lambda: attempt.done, 10) and not attempt.ok, "paired after n")
    check(bool(w.props()["PairingOpen"]), "the window closed after one rejection")
    w.ctl_ok("bluetooth", "pair", "close")
    check(s.wait_exit() == 1, "pair exit %r" % s.proc.returncode)
    check(re.search(r"Pairing window closed \(closed\); no phone bonded", s.text()),
          "output:\n%s" % s.text())
    f.remove_device(c)
    s = w.pair_session("--timeout", "60")
    s.wait_for(r"Pairing window open")
    s.proc.send_signal(signal.SIGINT)
    check(s.wait_exit() == 1, "pair exit %r after SIGINT" % s.proc.returncode)
    check(pump(lambda: not bool(w.props()["PairingOpen"]), 5), "window open after Ctrl-C")


def bind_key(w):
    """bind-key prints GetBindKey; the hint goes to standard error."""
    key = str(w.bt1().GetBindKey())
    check(re.fullmatch(r"[0-9a-f]{32}", key), "GetBindKey %r" % key)
    out, err = w.ctl_ok("bluetooth", "bind-key")
    check(out == key + "\n", "bind-key printed %r, GetBindKey %r" % (out, key))
    check("Home Assistant" in err and "BTHome" in err and len(err.splitlines()) == 1,
          "hint %r" % err)
    doc = w.ctl_json("bluetooth", "bind-key")
    check(doc == {"bind_key": key, "encrypted": True}, "bind-key --json %r" % doc)


def new_bind_key(w):
    """new-bind-key: GetBindKey and bind-key change, to the same new key."""
    old = str(w.bt1().GetBindKey())
    w.ctl_ok("bluetooth", "new-bind-key")
    new = str(w.bt1().GetBindKey())
    check(new != old and re.fullmatch(r"[0-9a-f]{32}", new), "key %r after %r" % (new, old))
    out, _ = w.ctl_ok("bluetooth", "bind-key")
    check(out.strip() == new, "bind-key %r, GetBindKey %r" % (out.strip(), new))


def encryption(w):
    """encryption off/on: the Encrypted property, the status and the
    advertisement's device information byte follow."""
    f = w.fake
    check(pump(lambda: len(f.adverts) == 1), "no advertisement registered")
    w.ctl_ok("bluetooth", "encryption", "off")
    check(not bool(w.props()["Encrypted"]), "Encrypted true after encryption off")
    check(w.ctl_json("bluetooth")["encrypted"] is False, "--json encrypted after off")
    out, _ = w.ctl_ok("bluetooth")
    check(re.search(r"^Advertisement: +UNENCRYPTED", out, re.M), "human:\n%s" % out)
    _, err = w.ctl_ok("bluetooth", "bind-key")
    check("unencrypted" in err, "bind-key hint while unencrypted: %r" % err)
    check(pump(lambda: f.service_data()[0] & 1 == 0), "advertisement still encrypted")
    w.ctl_ok("bluetooth", "encryption", "on")
    check(bool(w.props()["Encrypted"]), "Encrypted false after encryption on")
    check(w.ctl_json("bluetooth")["encrypted"] is True, "--json encrypted after on")
    check(pump(lambda: f.service_data()[0] & 1 == 1), "advertisement not encrypted again")
    rc, _, err = w.ctl("bluetooth", "encryption", "maybe")
    check(rc == 2 and "on or off" in err, "encryption maybe: exit %d %r" % (rc, err))


def forget(w):
    """forget a bonded phone (given in lower case): BlueZ removes it and it
    leaves BondedDevices; an unknown address is exit 1 with a message."""
    f = w.fake
    path_a = "%s/dev_%s" % (f.adapter_path, PHONE_A.replace(":", "_"))
    check(path_a in f.devices, "phone A not in the fake")
    w.ctl_ok("bluetooth", "forget", PHONE_A.lower())
    check(path_a not in f.devices, "BlueZ was not asked to remove %s" % PHONE_A)
    check(pump(lambda: w.bonded() == [(PHONE_B, "Tablet")], 5), "BondedDevices %r" % w.bonded())
    got = [d["address"] for d in w.ctl_json("bluetooth")["bonded_devices"]]
    check(got == [PHONE_B], "bonded_devices after forget %r" % got)
    rc, _, err = w.ctl("bluetooth", "forget", UNKNOWN)
    check(rc == 1, "forget %s: exit %d" % (UNKNOWN, rc))
    check(err.startswith("smallbmsctl: bluetooth forget: %s: " % UNKNOWN) and
          "knows no device" in err, "message %r" % err)
    rc, _, err = w.ctl("bluetooth", "forget", "AA:BB:CC:DD:EE")
    check(rc == 2, "malformed address: exit %d %r" % (rc, err))
    check(len(f.devices) == 1, "devices %r" % list(f.devices))


def hostile_name(w):
    """A phone's name is chosen over the air: smallbmsctl prints it escaped
    (no escape sequence, control byte or bidi override reaches the
    terminal) and --json gives it back exactly (issue 15)."""
    f = w.fake
    name = "Ev\x1b]0;pwned\x07il\x1b[2J\r\x7f\u009b1m\u202eexe"
    d = f.add_device(PHONE_D, name)
    f.bond(d, True)  # as after an accepted pairing (pair_confirm tests that)
    check(pump(lambda: (PHONE_D, name) in w.bonded(), 5), "BondedDevices %r" % w.bonded())
    out, _ = w.ctl_ok("bluetooth")
    want = "Ev\\x1b]0;pwned\\ail\\x1b[2J\\r\\x7f\\xc2\\x9b1m\\xe2\\x80\\xaeexe"
    check(re.search(r"^ +%s  %s$" % (PHONE_D, re.escape(want)), out, re.M),
          "human output of the hostile name:\n%r" % out)
    check(not any(c in out for c in "\x1b\x07\r\x7f\u009b\u202e"), "raw bytes in %r" % out)
    doc = w.ctl_json("bluetooth")
    got = [d["name"] for d in doc["bonded_devices"] if d["address"] == PHONE_D]
    check(got == [name], "--json name %r" % got)
    w.ctl_ok("bluetooth", "forget", PHONE_D)
    check(pump(lambda: all(a != PHONE_D for a, _ in w.bonded()), 5), "not forgotten")


def permission(w):
    """With the real policy and no polkit on the bus, nobody may read the
    state but neither open a pairing window nor read the bind key."""
    rig = w.rig
    if not rig.policy or not shutil.which("setpriv"):
        raise Skip("needs root, setpriv and dbus/org.smallbms.conf")
    os.chmod(rig.dir, 0o711)  # nobody reaches the bus socket, nothing else
    rc, out, err = w.ctl("bluetooth", user=65534)
    check(rc == 0 and "State:" in out, "bluetooth as nobody: exit %d %r" % (rc, err))
    rc, _, err = w.ctl("bluetooth", "pair", user=65534)
    check(rc == 1, "pair as nobody: exit %d" % rc)
    check(err.strip().startswith("smallbmsctl: bluetooth pair: " + PERMISSION) and "polkit" in err,
          "message %r" % err)
    check(not bool(w.props()["PairingOpen"]), "a refused pair opened the window")
    rc, out, err = w.ctl("bluetooth", "bind-key", user=65534)
    check(rc == 1 and out == "", "bind-key as nobody: exit %d, printed %r" % (rc, out))
    check(err.strip().startswith("smallbmsctl: bluetooth bind-key: " + PERMISSION)
          and "polkit" in err, "message %r" % err)


CHECKS = [state, pair_confirm, pair_passkey, pair_refused, bind_key, new_bind_key, encryption,
          forget, hostile_name, permission]


def wait_started(w, timeout=90):
    """READY=1 and both outputs closed, then Bluetooth registered with the
    fake, while the fake's loop turns (the daemon calls it meanwhile)."""
    rig, f = w.rig, w.fake

    def up():
        return (rig.notify.wait("READY", "1", timeout=0)[0] is not None and
                rig.daemon.output("load-disconnect") == "closed" and
                rig.daemon.output("charge-disconnect") == "closed")

    check(pump(up, timeout), "daemon not started (READY=1, outputs closed) in %d s" % timeout)
    check(pump(lambda: len(f.apps) == 1 and len(f.adverts) == 1 and f.default_agent, 30),
          "Bluetooth not registered with BlueZ: apps %d adverts %d agent %r calls %r"
          % (len(f.apps), len(f.adverts), f.agent, f.calls[-6:]))
    check(pump(lambda: w.ctl("bluetooth")[0] == 0, 20), "smallbmsctl bluetooth never worked")


def stop_daemon(w):
    """SIGTERM with the loop turning (the daemon unregisters from BlueZ):
    exit 0, and no sanitizer report."""
    d = w.rig.daemon
    d.signal(signal.SIGTERM)
    check(pump(lambda: d.proc.poll() is not None, 30), "daemon still running 30 s after SIGTERM")
    check(d.wait_exit(5) == 0, "daemon exit status %r after SIGTERM" % d.proc.returncode)
    w.rig.stop_daemons_checked()


def main():
    names = ["not_running"] + [fn.__name__ for fn in CHECKS]
    print("1..%d" % len(names), flush=True)
    why = server_missing() or namespace_usable()
    if not why and b"org.smallbms.Bluetooth1" not in open(os.environ["SMALLBMSD"], "rb").read():
        why = "smallbmsd of this build has no org.smallbms.Bluetooth1"
    if why:
        for i, name in enumerate(names, 1):
            print("ok %d - %s # SKIP %s" % (i, name, why))
        return 0
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    failed = 0
    w = World()
    try:
        w.start()
        try:
            not_running(w)
            print("ok 1 - not_running", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is a TAP "not ok"
            failed += 1
            print("not ok 1 - not_running\n# %s: %s" % (type(e).__name__, e), flush=True)
        w.rig.start_daemon()
        try:
            wait_started(w)
            start_error = None
        except Exception as e:  # noqa: BLE001
            start_error = "%s: %s" % (type(e).__name__, e)
        for i, fn in enumerate(CHECKS, 2):
            if start_error:
                failed += 1
                print("not ok %d - %s\n# daemon did not come up: %s" % (i, fn.__name__,
                                                                      start_error))
                continue
            t0 = time.monotonic()
            try:
                fn(w)
                print("ok %d - %s" % (i, fn.__name__), flush=True)
            except Skip as e:
                print("ok %d - %s # SKIP %s" % (i, fn.__name__, e), flush=True)
            except Exception as e:  # noqa: BLE001
                failed += 1
                print("not ok %d - %s (after %.1f s)" % (i, fn.__name__, time.monotonic() - t0))
                for line in ("%s: %s" % (type(e).__name__, e)).splitlines():
                    print("# " + line)
                sys.stdout.flush()
        if failed:
            for line in w.rig.diagnostics().splitlines():
                print("# " + line)
        stop_daemon(w)
    except Exception as e:  # noqa: BLE001
        failed += 1
        print("# rig: %s: %s" % (type(e).__name__, e))
        for line in w.rig.diagnostics().splitlines():
            print("# " + line)
    finally:
        w.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
