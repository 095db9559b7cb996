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
properties, the fake's pairing (the agent's passkey) and its devices.

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
NEW_PIN = "246810"
PERMISSION = "permission denied: run as root or as a member of group smallbms"


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


# -- the checks, in order ------------------------------------------------------

def not_running(w):
    """Before the daemon owns the name: exit 4; a bad PIN is exit 2 without
    the bus."""
    rc, _, err = w.ctl("bluetooth")
    check(rc == 4 and "not running" in err, "bluetooth: exit %d: %r" % (rc, err))
    rc, _, err = w.ctl("bluetooth", "set-pin", "12345")
    check(rc == 2 and err.startswith("smallbmsctl: bluetooth set-pin: "), "exit %d: %r" % (rc, err))


def state(w):
    """bluetooth and --json against the Bluetooth1 properties."""
    p = w.props()
    doc = w.ctl_json("bluetooth")
    check(doc["state"] == str(p["State"]) == "advertising", "state %r, property %s"
          % (doc["state"], p["State"]))
    check(doc["adapter_present"] is True and bool(p["AdapterPresent"]), "adapter_present")
    check(doc["address"] == str(p["Address"]) == MAC, "address %r" % doc["address"])
    check(doc["encrypted"] is True and bool(p["Encrypted"]), "encrypted %r" % doc["encrypted"])
    check(doc["pin_is_default"] is True and bool(p["PinIsDefault"]),
          "pin_is_default %r" % doc["pin_is_default"])
    check(doc["bonded_devices"] == [] and len(p["BondedDevices"]) == 0,
          "bonded %r" % doc["bonded_devices"])
    out, _ = w.ctl_ok("bluetooth")
    for rx in (r"^State: +advertising$", r"^Adapter: +%s$" % MAC,
               r"^Advertisement: +encrypted with the bind key",
               r"^Pairing PIN: +the DEFAULT 000000: ", r"^Bonded phones: +none$"):
        check(re.search(rx, out, re.M), "human output lacks /%s/:\n%s" % (rx, out))


def bad_pin(w):
    """A malformed PIN is exit 2, checked before the bus: the PIN stays."""
    for pin in ("12345", "1234567", "12a456", "", "-12345"):
        rc, _, err = w.ctl("bluetooth", "set-pin", pin)
        check(rc == 2, "set-pin %r: exit %d" % (pin, rc))
        check(err.startswith("smallbmsctl: "), "set-pin %r: message %r" % (pin, err))
    check(bool(w.props()["PinIsDefault"]), "PinIsDefault false after refused PINs")


def set_pin(w):
    """set-pin: a phone pairs with the new PIN and no longer with 000000."""
    f = w.fake
    a = f.add_device(PHONE_A, "Pixel")
    check(f.pair(a, "000000"), "pairing with the default PIN failed before set-pin")
    w.ctl_ok("bluetooth", "set-pin", NEW_PIN)
    check(not bool(w.props()["PinIsDefault"]), "PinIsDefault after set-pin")
    b = f.add_device(PHONE_B, "Tablet")
    check(not f.pair(b, "000000"), "the old PIN 000000 still pairs")
    check(f.pair(b, NEW_PIN), "the new PIN %s does not pair" % NEW_PIN)
    pump(lambda: len(w.bonded()) == 2, 5)
    want = [(PHONE_A, "Pixel"), (PHONE_B, "Tablet")]
    check(w.bonded() == want, "BondedDevices %r" % w.bonded())
    doc = w.ctl_json("bluetooth")
    check(doc["pin_is_default"] is False, "pin_is_default after set-pin")
    got = sorted((d["address"], d["name"]) for d in doc["bonded_devices"])
    check(got == want, "bonded_devices %r, property %r" % (got, want))
    out, _ = w.ctl_ok("bluetooth")
    check(re.search(r"^Pairing PIN: +set \(not the default\)$", out, re.M), "human:\n%s" % out)
    check(re.search(r"^Bonded phones: +%s  Pixel$" % PHONE_A, out, re.M) and
          re.search(r"^ +%s  Tablet$" % PHONE_B, out, re.M), "human bonded:\n%s" % out)
    check(NEW_PIN not in out, "the PIN is printed:\n%s" % out)


def set_pin_stdin(w):
    """set-pin without an operand reads the PIN from standard input (so it
    is never in the process list); a bad or missing line there is exit 2,
    is not echoed and leaves the PIN as it was."""
    f = w.fake
    for text, why in (("13579\n", "exactly 6 digits"), ("1357911\n", "exactly 6 digits"),
                      ("", "no PIN on standard input")):
        rc, _, err = w.ctl("bluetooth", "set-pin", stdin=text)
        check(rc == 2, "set-pin < %r: exit %d" % (text, rc))
        check(err.startswith("smallbmsctl: bluetooth set-pin: ") and why in err,
              "set-pin < %r: message %r" % (text, err))
        check(text.strip() == "" or text.strip() not in err, "the line is echoed: %r" % err)
    probes = []
    try:
        probes.append(f.add_device("AA:BB:CC:00:00:1A", "probe1"))
        check(f.pair(probes[-1], NEW_PIN), "the PIN changed after a refused line on stdin")
        w.ctl_ok_stdin("135792\r\n", "bluetooth", "set-pin")
        probes.append(f.add_device("AA:BB:CC:00:00:1B", "probe2"))
        check(not f.pair(probes[-1], NEW_PIN), "the old PIN still pairs after set-pin < stdin")
        check(f.pair(probes[-1], "135792"), "the PIN read from stdin does not pair")
        # back to the PIN the later checks expect; no line end at all
        w.ctl_ok_stdin(NEW_PIN, "bluetooth", "set-pin")
        probes.append(f.add_device("AA:BB:CC:00:00:1C", "probe3"))
        check(f.pair(probes[-1], NEW_PIN), "set-pin < %r without a line end" % NEW_PIN)
    finally:
        for p in probes:
            f.remove_device(p)
    check(pump(lambda: len(w.bonded()) == 2, 5), "BondedDevices %r after the probes left"
          % w.bonded())


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
    check(f.pair(d, NEW_PIN), "pairing the phone with the hostile name failed")
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
    """With the real policy, a user outside the group smallbms may read the
    state but neither set the PIN nor read the bind key."""
    rig = w.rig
    if not rig.policy or not shutil.which("setpriv"):
        raise Skip("needs root, setpriv and dbus/org.smallbms.conf")
    os.chmod(rig.dir, 0o711)  # nobody reaches the bus socket, nothing else
    rc, out, err = w.ctl("bluetooth", user=65534)
    check(rc == 0 and "State:" in out, "bluetooth as nobody: exit %d %r" % (rc, err))
    rc, _, err = w.ctl("bluetooth", "set-pin", "135790", user=65534)
    check(rc == 1, "set-pin as nobody: exit %d" % rc)
    check(err.strip() == "smallbmsctl: bluetooth set-pin: " + PERMISSION, "message %r" % err)
    rc, out, err = w.ctl("bluetooth", "bind-key", user=65534)
    check(rc == 1 and out == "", "bind-key as nobody: exit %d, printed %r" % (rc, out))
    check(err.strip() == "smallbmsctl: bluetooth bind-key: " + PERMISSION, "message %r" % err)
    # the PIN stayed: the next phone pairs with it
    c = w.fake.add_device("AA:BB:CC:00:00:0C", "c")
    check(w.fake.pair(c, NEW_PIN), "the PIN changed after a refused set-pin")


CHECKS = [state, bad_pin, set_pin, set_pin_stdin, bind_key, new_bind_key, encryption, forget,
          hostile_name, permission]


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
