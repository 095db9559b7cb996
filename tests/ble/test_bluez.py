#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The BlueZ adapter (src/ble) against a fake org.bluez (fake_bluez.py) on a
private dbus-daemon, driven through tests/ble/ble-harness. TAP output.

    test_bluez.py HARNESS [CASE...]
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import dbus
import dbus.lowlevel
import dbus.mainloop.glib

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_bluez  # noqa: E402
import test_bthome  # noqa: E402
from fake_bluez import AttError, FakeBluez, pump  # noqa: E402

UUID_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"
UUID_STATUS = "f0860101-c631-49cc-b9b4-8223cb1b8c9f"
UUID_SELECT = "f0860102-c631-49cc-b9b4-8223cb1b8c9f"
UUID_BATTERY = "f0860103-c631-49cc-b9b4-8223cb1b8c9f"
UUID_HISTORY = "f0860104-c631-49cc-b9b4-8223cb1b8c9f"
UUID_SETTINGS = "f0860105-c631-49cc-b9b4-8223cb1b8c9f"
UUID_COMMAND = "f0860106-c631-49cc-b9b4-8223cb1b8c9f"
BT1 = "org.smallbms.Bluetooth1"
PHONE = "AA:BB:CC:00:11:22"
MAC = "54:48:E6:8F:80:A5"
BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


# --- the advertisement, read with blecodec's independent BTHome decoder ----------

def bthome_decode(data, mac, key):
    """Returns ({object id: value x factor}, counter or None)."""
    _, counter, objects = test_bthome.decode(data, key, bytes.fromhex(mac.replace(":", "")))
    return {oid: raw * test_bthome.OBJECTS[oid][3] for oid, _, raw in objects}, counter


# --- the rig -------------------------------------------------------------------

class Rig:
    def __init__(self, harness, with_bluez=True, with_adapter=True):
        self.harness_exe = harness
        self.dir = tempfile.mkdtemp(prefix="smallbms-bluez-")
        self.state = os.path.join(self.dir, "state")
        os.mkdir(self.state)
        sock = os.path.join(self.dir, "bus")
        conf = os.path.join(self.dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG.format(path=sock))
        self.daemon = subprocess.Popen(["dbus-daemon", "--nofork", "--config-file=" + conf,
                                        "--print-address=1"], stdout=subprocess.PIPE, text=True)
        self.address = self.daemon.stdout.readline().strip()
        check(self.address, "dbus-daemon gave no address")
        self.bus = fake_bluez.private_bus(self.address)
        self.fake = FakeBluez(self.bus, MAC, with_adapter=with_adapter)
        if with_bluez:
            self.fake.start()
        self.proc = None
        # what the daemon tells the window's opener (this connection)
        self.prompts, self.prompt_ends, self.window_ends = [], [], []
        self.bus.add_signal_receiver(
            lambda *a: self.prompts.append(tuple(a)), signal_name="PairingRequest",
            dbus_interface=BT1, path="/org/smallbms/bluetooth")
        self.bus.add_signal_receiver(
            lambda *a: self.prompt_ends.append(tuple(a)), signal_name="PairingRequestEnded",
            dbus_interface=BT1, path="/org/smallbms/bluetooth")
        self.bus.add_signal_receiver(
            lambda *a: self.window_ends.append(tuple(str(x) for x in a)),
            signal_name="PairingEnded", dbus_interface=BT1, path="/org/smallbms/bluetooth")

    def start(self):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        env.pop("JOURNAL_STREAM", None)
        self.out, self.err = [], []
        self.proc = subprocess.Popen([self.harness_exe, self.state], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env, bufsize=1)
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._reader, args=(stream, sink), daemon=True).start()
        self.wait_out(r"^ready$")
        self.settings = {}
        for line in self.out:
            m = re.match(r"setting (\d+) (\S+) (-?\d+) (-?\d+) (-?\d+)$", line)
            if m:
                i, name, v, lo, hi = m.groups()
                self.settings[name] = (int(i), int(v), int(lo), int(hi))

    @staticmethod
    def _reader(stream, sink):
        for line in stream:
            sink.append(line.rstrip("\n"))

    def wait_out(self, pattern, since=0, timeout=10):
        rx = re.compile(pattern)
        found = []

        def cond():
            found[:] = [l for l in self.out[since:] if rx.search(l)]
            return bool(found)

        if not pump(cond, timeout):
            raise Fail(f"harness never printed /{pattern}/; output: {self.out[-15:]} "
                       f"stderr: {self.err[-10:]}")
        return found[0]

    def send(self, line):
        mark = len(self.out)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        self.wait_out("^ok " + re.escape(line) + "$", since=mark)

    def stop_harness(self):
        if self.proc and self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            end = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < end:
                pump(None, 0.05)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            check(self.proc.returncode == 0,
                  f"harness exit {self.proc.returncode}: {self.err[-10:]}")
        self.proc = None

    def state_is(self, name, timeout=10):
        def cond():
            states = [l for l in self.out if l.startswith("state ")]
            return bool(states) and states[-1] == "state " + name
        if not pump(cond, timeout):
            raise Fail(f"state never {name}: {[l for l in self.out if l.startswith('state')]}")

    def registered(self, timeout=10):
        f = self.fake
        ok = pump(lambda: len(f.apps) == 1 and len(f.adverts) == 1 and f.default_agent, timeout)
        check(ok, f"not registered: apps {len(f.apps)} adverts {len(f.adverts)} "
                  f"agent {f.agent} calls {f.calls} stderr {self.err[-5:]}")

    def settings_value(self, index):
        return next(v for i, v, _, _ in self.settings.values() if i == index)

    def bt1(self):
        return dbus.Interface(self.bus.get_object("org.smallbms", "/org/smallbms/bluetooth",
                                                  introspect=False), BT1)

    def bt1_get(self, name):
        obj = self.bus.get_object("org.smallbms", "/org/smallbms/bluetooth", introspect=False)
        return obj.Get(BT1, name, dbus_interface="org.freedesktop.DBus.Properties")

    def bt1_set(self, name, value):
        obj = self.bus.get_object("org.smallbms", "/org/smallbms/bluetooth", introspect=False)
        obj.Set(BT1, name, dbus.Boolean(value, variant_level=1),
                dbus_interface="org.freedesktop.DBus.Properties")

    def open_window(self, timeout_s=60):
        self.bt1().OpenPairing(dbus.UInt32(timeout_s))
        check(pump(lambda: bool(self.fake.adapter.props["Pairable"])),
              "the adapter is not Pairable while the window is open")

    def prompt_for(self, dev, timeout=5):
        """The PairingRequest the opener got for dev (fake device path)."""
        address = str(self.fake.devices[dev].props["Address"])
        found = []

        def cond():
            found[:] = [p for p in self.prompts if str(p[2]) == address]
            return bool(found)

        check(pump(cond, timeout), f"no pairing request for {address}: {self.prompts}")
        return found[-1]

    def confirm(self, dev, accept=True):
        pid = int(self.prompt_for(dev)[0])
        self.bt1().ConfirmPairing(dbus.UInt64(pid), dbus.Boolean(accept))
        return pid

    def paired_phone(self, address=PHONE, name="Pixel", io="KeyboardDisplay"):
        """A phone bonded the way an installer does it: window, number, yes."""
        dev = self.fake.add_device(address, name)
        self.fake.connect(dev)
        self.open_window()
        attempt = self.fake.pair_async(dev, io, phone=self.phone_user)
        if io != "KeyboardOnly":
            self.confirm(dev)
        check(pump(lambda: attempt.done), "pairing never ended")
        check(attempt.ok, f"pairing {io} failed: {attempt.error} {attempt.agent_calls}")
        return dev

    def phone_user(self, kind, passkey):
        """The user at the phone: accepts the number shown, or types the one
        the installer's terminal (the opener's PairingRequest) shows."""
        if kind == "confirm":
            return True
        shown = [int(p[4]) for p in self.prompts if str(p[1]) == "display"]
        return shown[-1] if shown else None

    def close(self):
        try:
            self.stop_harness()
        finally:
            self.bus.close()
            self.daemon.terminate()
            self.daemon.wait()
            shutil.rmtree(self.dir, ignore_errors=True)


# --- record readers (docs/ble.md) ------------------------------------------------

def parse_status(v):
    check(v[0] == 1, f"status version {v[0]}")
    f = struct.unpack_from("<BBHiiiIIHHhhIBBBB", v, 0)
    keys = ("version flags soc_cpct bank_mv current_ma power_mw consumed_mah remaining_s "
            "min_cell_mv max_cell_mv min_temp_dc max_temp_dc codes balancer leds flags2 "
            "n_batteries").split()
    return dict(zip(keys, f))


def parse_battery(v):
    check(v[0] == 1, f"battery version {v[0]}")
    addr = v[1]
    serial = v[2:18].rstrip(b"\0").decode()
    btype, cap, fw0, fw1, fw2, flags, age, mv, ma, sflags, nc = struct.unpack_from(
        "<BHBBBBIHiBB", v, 18)
    return {"addr": addr, "serial": serial, "type": btype, "capacity_ah": cap,
            "fw": (fw0, fw1, fw2), "voltage_mv": mv, "current_ma": ma, "n_cells": nc,
            "cells": list(struct.unpack_from(f"<{nc}H", v, 18 + 19))}


def parse_settings(v):
    check(v[0] == 1, f"settings version {v[0]}")
    n = v[1]
    return list(struct.unpack_from(f"<{n}i", v, 2))


def settings_write(pairs, version=1):
    return bytes([version]) + b"".join(struct.pack("<Bi", i, val) for i, val in pairs)


def expect_att_error(fn, what):
    try:
        fn()
    except AttError as e:
        return e
    raise Fail(f"{what}: accepted")


# --- cases -----------------------------------------------------------------------

def case_register_and_read(rig):
    rig.start()
    rig.registered()
    rig.state_is("advertising")
    f = rig.fake
    check(f.agent[2] == "DisplayYesNo", f"agent capability {f.agent}")
    # BlueZ asked for the objects before it answered: that needs an async call
    check(("RegisterApplication", "/org/smallbms/ble") in f.calls, f"calls {f.calls}")
    dev = rig.paired_phone()
    check(f.read(UUID_LEVEL, dev) == bytes([50]), "battery level of SoC 50.00 %")
    st = parse_status(f.read(UUID_STATUS, dev))
    want = {"soc_cpct": 5000, "bank_mv": 26400, "current_ma": -3000, "power_mw": -79200,
            "remaining_s": 36000, "min_cell_mv": 3290, "max_cell_mv": 3320,
            "min_temp_dc": 215, "max_temp_dc": 222, "codes": 0, "n_batteries": 2}
    for k, v in want.items():
        check(st[k] == v, f"status {k} = {st[k]}, want {v}")
    check(st["flags"] & 0x3f == 0x3f, f"status flags 0x{st['flags']:02x}")
    bat = parse_battery(f.read(UUID_BATTERY, dev))
    check(bat["addr"] == 1 and bat["serial"] == "SB000101", f"battery 1: {bat}")
    check(bat["voltage_mv"] == 13201 and bat["current_ma"] == -1500, f"battery 1: {bat}")
    check(bat["cells"] == [3310, 3311, 3312, 3313], f"battery 1 cells {bat['cells']}")
    f.write(UUID_SELECT, dev, bytes([1, 2]))
    bat = parse_battery(f.read(UUID_BATTERY, dev))
    check(bat["addr"] == 2 and bat["voltage_mv"] == 13202, f"battery 2: {bat}")
    expect_att_error(lambda: f.write(UUID_SELECT, dev, bytes([1, 7])), "select battery 7")
    expect_att_error(lambda: f.write(UUID_SELECT, dev, bytes([1, 0])), "select battery 0")
    bat = parse_battery(f.read(UUID_BATTERY, dev))
    check(bat["addr"] == 2, "a refused select changed the selection")
    hist = f.read(UUID_HISTORY, dev)
    check(hist[0] == 1, "history version")
    syncs, cycles = struct.unpack_from("<II", hist, 1 + 4 + 8 + 4 + 4)
    check((syncs, cycles) == (3, 7), f"history syncs/cycles {syncs}/{cycles}")
    values = parse_settings(f.read(UUID_SETTINGS, dev))
    check(len(values) == len(rig.settings), "settings count")
    for name, (i, v, _, _) in rig.settings.items():
        check(values[i] == v, f"setting {name} = {values[i]}, want {v}")
    expect_att_error(lambda: f.read(UUID_COMMAND, dev), "read of the command")
    # the daemon's ObjectManager shows Bluetooth1, none of BlueZ's objects
    om = rig.bus.get_object("org.smallbms", "/org/smallbms", introspect=False)
    objs = om.GetManagedObjects(dbus_interface=fake_bluez.OM)
    check(BT1 in objs.get("/org/smallbms/bluetooth", {}), "Bluetooth1 not managed")
    leaked = [str(p) for p, ifaces in objs.items()
              if any(str(i).startswith("org.bluez.") for i in ifaces)]
    check(not leaked, f"BlueZ objects in the daemon's ObjectManager: {leaked}")


def pick_setting(rig):
    # the low-SoC warning level: a plain bounded setting with no ordering partner
    for name, (i, v, lo, hi) in sorted(rig.settings.items()):
        if "soc" in name and v + 1 <= hi and v + 1 >= lo:
            return name, i, v, lo, hi
    name, (i, v, lo, hi) = next((n, s) for n, s in rig.settings.items() if s[1] + 1 <= s[3])
    return name, i, v, lo, hi


def case_settings_write(rig):
    rig.start()
    rig.registered()
    f = rig.fake
    dev = rig.paired_phone()
    name, i, v, lo, hi = pick_setting(rig)
    mark = len(rig.out)
    f.write(UUID_SETTINGS, dev, settings_write([(i, v + 1)]))
    rig.wait_out(rf"^action set_settings n=1 first={name}={v + 1} r=0$", since=mark)
    check(parse_settings(f.read(UUID_SETTINGS, dev))[i] == v + 1, "valid write not applied")
    before = f.read(UUID_SETTINGS, dev)
    bad = {"past the maximum": settings_write([(i, hi + 1)]),
           "below the minimum": settings_write([(i, lo - 1)]),
           "bad version": settings_write([(i, v)], version=2),
           "index out of range": settings_write([(len(rig.settings), v)]),
           "duplicate": settings_write([(i, v), (i, v)]),
           "short": settings_write([(i, v)])[:-1],
           "empty": b""}
    for what, data in bad.items():
        e = expect_att_error(lambda: f.write(UUID_SETTINGS, dev, data), what)
        check(e.name.startswith("org.bluez.Error."), f"{what}: error {e.name}")
        check(f.read(UUID_SETTINGS, dev) == before, f"{what}: settings changed")
    # a mixed write is all or nothing
    j = next(s[0] for n, s in rig.settings.items() if n != name)
    e = expect_att_error(lambda: f.write(UUID_SETTINGS, dev,
                                         settings_write([(j, rig.settings_value(j)),
                                                         (i, hi + 1)])), "mixed")
    check(f.read(UUID_SETTINGS, dev) == before, "mixed write half-applied")
    # commands go through svc_actions too
    mark = len(rig.out)
    f.write(UUID_COMMAND, dev, bytes([1, 2]) + struct.pack("<i", 4200))
    rig.wait_out(r"^action set_soc 4200 r=0$", since=mark)
    check(f.read(UUID_LEVEL, dev) == bytes([42]), "SoC command not applied")
    expect_att_error(lambda: f.write(UUID_COMMAND, dev, bytes([1, 2]) + struct.pack("<i", 10001)),
                     "SoC 100.01 %")
    expect_att_error(lambda: f.write(UUID_COMMAND, dev, bytes([1, 99])), "unknown command")
    check(f.read(UUID_LEVEL, dev) == bytes([42]), "a refused command changed SoC")


def case_unauthenticated(rig):
    rig.start()
    rig.registered()
    f = rig.fake
    _, objects = f.app()
    for path, ifaces in objects.items():
        if fake_bluez.CHR not in ifaces:
            continue
        flags = [str(x) for x in ifaces[fake_bluez.CHR]["Flags"]]
        if str(ifaces[fake_bluez.CHR]["UUID"]) == UUID_LEVEL:
            check(flags == ["read", "notify"], f"Battery Level flags {flags}")
            continue
        for fl in flags:
            check(fl in ("secure-read", "secure-write", "notify"), f"{path}: flag {fl}")
    dev = f.add_device(PHONE, "stranger")
    f.connect(dev)
    # Battery Level without pairing, as on common BLE devices; nothing else
    check(f.read(UUID_LEVEL, dev) == bytes([50]), "Battery Level before pairing")
    f.start_notify(UUID_LEVEL, dev)
    name, i, v, lo, hi = pick_setting(rig)
    expect_att_error(lambda: f.write(UUID_SETTINGS, dev, settings_write([(i, v + 1)])),
                     "write without pairing")
    expect_att_error(lambda: f.write(UUID_COMMAND, dev, bytes([1, 1])), "command without pairing")
    expect_att_error(lambda: f.read(UUID_STATUS, dev), "read without pairing")
    expect_att_error(lambda: f.start_notify(UUID_STATUS, dev), "status notify without pairing")
    # no window: refused before any agent call
    a = f.pair_async(dev, "KeyboardDisplay")
    check(pump(lambda: a.done) and not a.ok, "paired with the window closed")
    check(a.agent_calls == [], f"agent asked with the window closed: {a.agent_calls}")
    # a Just Works bond (an unauthenticated key) reads nothing protected
    f.bond(dev, authenticated=False)
    expect_att_error(lambda: f.read(UUID_STATUS, dev), "read over a Just Works key")
    expect_att_error(lambda: f.write(UUID_SETTINGS, dev, settings_write([(i, v + 1)])),
                     "write over a Just Works key")
    check(not any(l.startswith("action") for l in rig.out), f"an action ran: {rig.out}")


def case_pairing(rig):
    """Numeric comparison with a KeyboardDisplay phone, the window, the bond."""
    rig.start()
    rig.registered()
    f = rig.fake
    check(f.agent[2] == "DisplayYesNo", f"agent capability {f.agent}")
    check(("RequestDefaultAgent", "/org/smallbms/ble/agent") in f.calls, f"calls {f.calls}")
    check(not any("000000" in l or "PIN" in l for l in rig.err), f"PIN talk: {rig.err}")
    # outside a window: not pairable, not discoverable
    check(pump(lambda: not bool(f.adapter.props["Pairable"])), "adapter Pairable at start")
    check(not bool(rig.bt1_get("PairingOpen")), "PairingOpen at start")
    check(pump(lambda: f.advert_flags() == 0x04), f"flags {f.advert_flags()}")
    check(not f.discover(), "listed by general discovery with the window closed")
    a = f.add_device("AA:BB:CC:00:00:01", "Pixel \"7\"\x1b[2J")
    f.connect(a)
    # even if BlueZ asked, the agent refuses outside a window
    try:
        f.agent_obj().RequestConfirmation(dbus.ObjectPath(a), dbus.UInt32(123456),
                                          dbus_interface=fake_bluez.AGENT, timeout=3)
        raise Fail("RequestConfirmation accepted with the window closed")
    except dbus.exceptions.DBusException as e:
        check(e.get_dbus_name() == "org.bluez.Error.Rejected", e.get_dbus_name())
    # a listener that did not open the window never sees a passkey
    other = fake_bluez.private_bus(rig.address)
    overheard = []
    other.add_signal_receiver(lambda *x: overheard.append(x), signal_name="PairingRequest",
                              dbus_interface=BT1)
    other.add_match_string("type='signal',interface='org.smallbms.Bluetooth1'")
    t0 = time.monotonic()
    rig.open_window(60)
    check(bool(rig.bt1_get("PairingOpen")), "PairingOpen")
    left = int(rig.bt1_get("PairingSecondsLeft"))
    check(55 <= left <= 60, f"PairingSecondsLeft {left}")
    check(pump(lambda: f.advert_flags() == 0x06), f"flags {f.advert_flags()} while open")
    check(f.discover(), "not listed by general discovery while the window is open")
    attempt = f.pair_async(a, "KeyboardDisplay")
    pid, kind, address, name, passkey, secs = rig.prompt_for(a)
    check(str(kind) == "confirm", f"kind {kind}")
    check(str(address) == "AA:BB:CC:00:00:01", f"address {address}")
    check(str(name) == "Pixel \"7\"\x1b[2J", f"name {name!r}")
    check(int(passkey) == attempt.passkey, f"passkey {passkey} != the kernel's {attempt.passkey}")
    check(25 <= int(secs) <= 30, f"seconds left {secs}")
    check(attempt.agent_calls == [("RequestConfirmation", dbus.UInt32(attempt.passkey))],
          f"agent calls {attempt.agent_calls}")
    # nothing is accepted without the installer
    pump(None, 0.5)
    check(not attempt.done, f"pairing ended without the installer: {attempt.error}")
    rig.bt1().ConfirmPairing(dbus.UInt64(int(pid)), dbus.Boolean(True))
    check(pump(lambda: attempt.done) and attempt.ok, f"pairing failed: {attempt.error}")
    bonded_s = time.monotonic() - t0
    check(pump(lambda: rig.window_ends), "no PairingEnded")
    check(rig.window_ends[-1] == ("bonded", "AA:BB:CC:00:00:01", "Pixel \"7\"\x1b[2J"),
          f"PairingEnded {rig.window_ends}")
    check(not bool(rig.bt1_get("PairingOpen")), "window still open after the bond")
    check(pump(lambda: not bool(f.adapter.props["Pairable"])), "Pairable after the bond")
    check(pump(lambda: f.advert_flags() == 0x04), "Discoverable after the bond")
    # the journal line: address and the name escaped
    check(pump(lambda: any('bonded with AA:BB:CC:00:00:01 "Pixel \\x227\\x22\\x1b[2J"' in l
                           for l in rig.err)), f"no bond line: {rig.err[-5:]}")
    st = parse_status(f.read(UUID_STATUS, a))
    check(st["soc_cpct"] == 5000, f"status over the bond {st}")
    print(f"# window open to bonded read: {time.monotonic() - t0:.3f} s "
          f"(bond {bonded_s:.3f} s)")
    pump(None, 0.2)
    check(overheard == [], f"another client saw the prompt: {overheard}")
    other.close()
    bonded = sorted((str(x), str(y)) for x, y in rig.bt1_get("BondedDevices"))
    check(bonded == [("AA:BB:CC:00:00:01", "Pixel \"7\"\x1b[2J")], f"bonded {bonded}")
    # window closed: a new phone is refused before any agent call
    b = f.add_device("AA:BB:CC:00:00:02", "b")
    f.connect(b)
    att = f.pair_async(b, "KeyboardDisplay")
    check(pump(lambda: att.done) and not att.ok and att.agent_calls == [],
          f"second phone after the window: {att.ok} {att.agent_calls}")
    # Forget: the harness calls BlueZ back, so call it asynchronously
    done = []
    rig.bt1().Forget("aa:bb:cc:00:00:01", reply_handler=lambda: done.append("ok"),
                     error_handler=lambda e: done.append(e))
    check(pump(lambda: done), "Forget never answered")
    check(done == ["ok"], f"Forget: {done}")
    check(a not in f.devices, "device not removed")
    check(pump(lambda: [str(x) for x, _ in rig.bt1_get("BondedDevices")] == []),
          "BondedDevices after Forget")
    done.clear()
    rig.bt1().Forget("AA:BB:CC:99:99:99", reply_handler=lambda: done.append("ok"),
                     error_handler=lambda e: done.append(e.get_dbus_name()))
    check(pump(lambda: done) and done == ["org.smallbms.Error.UnknownDevice"], f"{done}")


def case_pairing_refused(rig):
    """The installer rejects, the phone's user rejects, the SMP times out."""
    rig.start()
    rig.registered()
    f = rig.fake
    rig.open_window(60)
    a = f.add_device("AA:BB:CC:00:00:03", "a")
    f.connect(a)
    att = f.pair_async(a, "KeyboardDisplay")
    pid = rig.confirm(a, accept=False)
    check(pump(lambda: att.done) and not att.ok, "paired though the installer rejected")
    check(att.error == "org.bluez.Error.AuthenticationFailed", f"error {att.error}")
    check(pump(lambda: (dbus.UInt64(pid), "rejected") in rig.prompt_ends), f"{rig.prompt_ends}")
    check(not bool(f.devices[a].props["Paired"]), "bonded after a rejection")
    check(bool(rig.bt1_get("PairingOpen")), "a rejection closed the window")
    # the phone's user says the numbers differ
    att = f.pair_async(a, "KeyboardDisplay", phone=lambda kind, pk: False)
    n = len(rig.prompts)
    check(pump(lambda: len(rig.prompts) > n), "no second prompt")
    rig.bt1().ConfirmPairing(dbus.UInt64(int(rig.prompts[-1][0])), dbus.Boolean(True))
    check(pump(lambda: att.done) and not att.ok, "paired though the phone rejected")
    # no answer: the SMP gives up (here after 1.5 s), BlueZ calls Cancel
    n = len(rig.prompts)
    att = f.pair_async(a, "KeyboardDisplay", smp_timeout=1.5)
    check(pump(lambda: len(rig.prompts) > n), "no third prompt")
    pid = int(rig.prompts[-1][0])
    check(pump(lambda: att.done, 5) and not att.ok, "paired without an answer")
    check(("Cancel",) in att.agent_calls, f"no Cancel: {att.agent_calls}")
    check(pump(lambda: (dbus.UInt64(pid), "canceled") in rig.prompt_ends),
          f"prompt not ended on Cancel: {rig.prompt_ends}")
    try:
        rig.bt1().ConfirmPairing(dbus.UInt64(pid), dbus.Boolean(True))
        raise Fail("ConfirmPairing of a canceled request accepted")
    except dbus.exceptions.DBusException as e:
        check(e.get_dbus_name() == "org.smallbms.Error.NotAvailable", e.get_dbus_name())
    check(not bool(f.devices[a].props["Paired"]), "bonded")
    # Just Works and DisplayOnly phones cannot pair
    att = f.pair_async(a, "NoInputNoOutput")
    check(pump(lambda: att.done) and not att.ok, "Just Works accepted")
    check([c[0] for c in att.agent_calls] == ["RequestAuthorization"], f"{att.agent_calls}")
    att = f.pair_async(a, "DisplayOnly")
    check(pump(lambda: att.done) and not att.ok and att.agent_calls == [],
          f"DisplayOnly: {att.ok} {att.agent_calls}")
    check(not bool(f.devices[a].props["Paired"]), "bonded")
    # a window closed on request refuses
    rig.bt1().ClosePairing()
    check(pump(lambda: rig.window_ends and rig.window_ends[-1][0] == "closed"),
          f"PairingEnded {rig.window_ends}")
    att = f.pair_async(a, "KeyboardDisplay")
    check(pump(lambda: att.done) and not att.ok and att.agent_calls == [],
          "paired after ClosePairing")


def case_pairing_passkey(rig):
    """A keyboard-only phone types the passkey the installer is shown;
    DisplayYesNo phones get numeric comparison like KeyboardDisplay."""
    rig.start()
    rig.registered()
    f = rig.fake
    rig.open_window(60)
    a = f.add_device("AA:BB:CC:00:00:04", "kbd")
    f.connect(a)
    att = f.pair_async(a, "KeyboardOnly", phone=lambda kind, pk: 0 if pk else 1)  # wrong
    check(pump(lambda: att.done) and not att.ok, "a wrong passkey paired")
    att = f.pair_async(a, "KeyboardOnly", phone=rig.phone_user)
    check(pump(lambda: att.done) and att.ok, f"passkey entry failed: {att.error}")
    kind, passkey = str(rig.prompts[-1][1]), int(rig.prompts[-1][4])
    check(kind == "display" and passkey == att.passkey, f"prompt {rig.prompts[-1]}")
    check(att.agent_calls == [("DisplayPasskey", att.passkey)], f"{att.agent_calls}")
    check(pump(lambda: not bool(rig.bt1_get("PairingOpen"))), "window open after the bond")
    st = parse_status(f.read(UUID_STATUS, a))
    check(st["soc_cpct"] == 5000, "status over a passkey bond")
    b = rig.paired_phone("AA:BB:CC:00:00:05", "yesno", io="DisplayYesNo")
    check(f.read(UUID_LEVEL, b) == bytes([50]), "level over the bond")
    # with the window closed a DisplayPasskey (BlueZ ignoring Pairable) is
    # cancelled on the device
    c = f.add_device("AA:BB:CC:00:00:06", "late")
    f.connect(c)
    f.adapter.props["Pairable"] = dbus.Boolean(True)  # as if BlueZ forgot
    att = f.pair_async(c, "KeyboardOnly", phone=lambda kind, pk: None, smp_timeout=5)
    check(pump(lambda: att.done, 6) and not att.ok, "paired outside the window")
    check(("CancelPairing", c) in f.calls, f"no CancelPairing: {f.calls[-5:]}")


def case_pairing_limits(rig):
    """Bounds, one request at a time, the attempt limit, timeout, opener gone."""
    rig.start()
    rig.registered()
    f = rig.fake
    for bad in (0, 9, 601):
        try:
            rig.bt1().OpenPairing(dbus.UInt32(bad))
            raise Fail(f"OpenPairing({bad}) accepted")
        except dbus.exceptions.DBusException as e:
            check(e.get_dbus_name() == "org.smallbms.Error.InvalidValue", e.get_dbus_name())
    check(not bool(rig.bt1_get("PairingOpen")), "a refused OpenPairing opened the window")
    rig.open_window(60)
    a = f.add_device("AA:BB:CC:00:00:07", "a")
    b = f.add_device("AA:BB:CC:00:00:08", "b")
    att_a = f.pair_async(a, "KeyboardDisplay")
    rig.prompt_for(a)
    att_b = f.pair_async(b, "KeyboardDisplay")
    check(pump(lambda: att_b.done) and not att_b.ok, "a second pairing while one waits")
    rig.confirm(a, accept=False)
    check(pump(lambda: att_a.done) and not att_a.ok, "rejected")
    # attempts 3, 4, 5 rejected by the installer; the 6th closes the window
    for _ in range(3):
        n = len(rig.prompts)
        att = f.pair_async(a, "KeyboardDisplay")
        check(pump(lambda: len(rig.prompts) > n), "no prompt")
        rig.bt1().ConfirmPairing(dbus.UInt64(int(rig.prompts[-1][0])), dbus.Boolean(False))
        check(pump(lambda: att.done) and not att.ok, "rejected attempt paired")
    check(bool(rig.bt1_get("PairingOpen")), "closed before the limit")
    f.adapter.props["Pairable"] = dbus.Boolean(True)
    att = f.pair_async(a, "KeyboardDisplay")
    check(pump(lambda: att.done) and not att.ok, "attempt past the limit paired")
    check(pump(lambda: rig.window_ends and rig.window_ends[-1][0] == "attempts"),
          f"window not closed after too many attempts: {rig.window_ends}")
    # the window closes by itself at its timeout
    rig.open_window(10)
    t0 = time.monotonic()
    check(pump(lambda: not bool(rig.bt1_get("PairingOpen")), 13), "window outlived its timeout")
    took = time.monotonic() - t0
    check(9.0 <= took <= 12.5, f"window closed after {took:.1f} s, not 10")
    check(pump(lambda: rig.window_ends[-1][0] == "timeout"), f"{rig.window_ends}")
    check(pump(lambda: not bool(f.adapter.props["Pairable"])), "Pairable after the timeout")
    # the opener leaves: nobody can answer, the window closes
    other = fake_bluez.private_bus(rig.address)
    other.get_object("org.smallbms", "/org/smallbms/bluetooth", introspect=False).OpenPairing(
        dbus.UInt32(60), dbus_interface=BT1)
    check(bool(rig.bt1_get("PairingOpen")), "opened by another client")
    other.close()
    check(pump(lambda: not bool(rig.bt1_get("PairingOpen"))), "window open after its opener left")
    check(pump(lambda: rig.window_ends[-1][0] == "opener gone"), f"{rig.window_ends}")


def case_notify(rig):
    rig.start()
    rig.registered()
    f = rig.fake
    dev = rig.paired_phone()
    level = f.start_notify(UUID_LEVEL, dev)
    status = f.start_notify(UUID_STATUS, dev)
    rig.send("soc 5600")
    check(pump(lambda: any(p == level and v == bytes([56]) for _, p, v in f.notifications)),
          f"no level notification: {f.notifications}")
    check(pump(lambda: any(p == status and parse_status(v)["soc_cpct"] == 5600
                           for _, p, v in f.notifications)), "no status notification")
    n_level = sum(1 for _, p, _ in f.notifications if p == level)
    rig.send("soc 5610")  # same whole percent: level unchanged
    rig.send("mv 26500")
    check(pump(lambda: any(p == status and parse_status(v)["bank_mv"] == 26500
                           for _, p, v in f.notifications)), "no status notification for mV")
    check(sum(1 for _, p, _ in f.notifications if p == level) == n_level,
          "level notified without a change")


def case_bonded_restart(rig):
    """A bonded phone reads and writes after the window closed and after a
    restart of the daemon, with no window open."""
    rig.start()
    rig.registered()
    f = rig.fake
    dev = rig.paired_phone()
    check(not bool(rig.bt1_get("PairingOpen")), "window open after the bond")
    rig.stop_harness()
    f.reset()
    f.connect(dev, False)
    rig.start()
    rig.registered()
    check(not bool(rig.bt1_get("PairingOpen")), "window open after a restart")
    check(pump(lambda: not bool(f.adapter.props["Pairable"])), "Pairable after a restart")
    f.connect(dev)
    check(parse_status(f.read(UUID_STATUS, dev))["soc_cpct"] == 5000, "status after restart")
    name, i, v, lo, hi = pick_setting(rig)
    mark = len(rig.out)
    f.write(UUID_SETTINGS, dev, settings_write([(i, v + 1)]))
    rig.wait_out(rf"^action set_settings n=1 first={name}={v + 1} r=0$", since=mark)
    bonded = [str(x) for x, _ in rig.bt1_get("BondedDevices")]
    check(bonded == [PHONE], f"bonded after restart {bonded}")
    check(not any("bonded with" in l for l in rig.err), "a known bond logged as new")


def write_old_record(state_dir, key, pin):
    """The Bluetooth state as an older smallbmsd kept it (docs/ble.md: record
    version 1 with the pairing PIN at bytes 24..29), in a statefile
    (src/store/statefile.c: magic, length, generation, FNV-1a checksum)."""
    rec = b"SBBT" + bytes([1, 0, 0, 0]) + key + pin.encode() + struct.pack("<I", 512)
    rec += struct.pack("<I", zlib.crc32(rec))
    head16 = struct.pack("<IIQ", 0x54534D53, len(rec), 1)
    h = 0xCBF29CE484222325
    for b in head16 + rec:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    d = os.path.join(state_dir, "bluetooth")
    os.makedirs(d, mode=0o700)
    with open(os.path.join(d, "state.1"), "wb") as f:
        f.write(head16 + struct.pack("<Q", h) + rec)


def case_old_pin(rig):
    """A PIN kept by an older smallbmsd: the record is read (the bind key
    stays), the PIN is ignored with a notice, and phones pair in a window
    with the kernel's number, never with that PIN."""
    key = bytes(range(0x10, 0x20))
    write_old_record(rig.state, key, "424242")
    rig.start()
    rig.registered()
    f = rig.fake
    check(pump(lambda: any("pairing PIN stored by an older smallbmsd is ignored" in l
                           for l in rig.err)), f"no notice: {rig.err}")
    check(str(rig.bt1().GetBindKey()) == key.hex(), "the old bind key was not kept")
    try:
        rig.bt1().SetPin("424242")
        raise Fail("SetPin still exists")
    except dbus.exceptions.DBusException as e:
        check(e.get_dbus_name() == "org.freedesktop.DBus.Error.UnknownMethod", e.get_dbus_name())
    a = f.add_device(PHONE, "old")
    f.connect(a)
    att = f.pair_async(a, "KeyboardOnly", phone=lambda kind, pk: 424242)
    check(pump(lambda: att.done) and not att.ok, "the old PIN paired with the window closed")
    rig.open_window()
    att = f.pair_async(a, "KeyboardOnly", phone=lambda kind, pk: 424242 if pk != 424242 else 0)
    check(pump(lambda: att.done) and not att.ok, "the old PIN paired in the window")
    # BlueZ does not tell the agent that a passkey entry failed (the
    # DisplayPasskey call was answered): the next phone is not held up by it
    b = f.add_device("AA:BB:CC:00:00:42", "new")
    f.connect(b)
    att = f.pair_async(b, "KeyboardDisplay")
    rig.confirm(b)
    check(pump(lambda: att.done) and att.ok, f"the next phone did not pair: {att.error} "
          f"{rig.err[-3:]}")
    check(parse_status(f.read(UUID_STATUS, b))["soc_cpct"] == 5000, "status after pairing")


def case_bluez_restart(rig):
    rig.start()
    rig.registered()
    f = rig.fake
    dev = rig.paired_phone()
    f.connect(dev)
    rig.state_is("connected")
    f.stop()
    rig.state_is("off")
    pump(None, 0.2)
    f.start()
    rig.registered()
    rig.state_is("advertising")
    check(f.service_data() is not None, "advertisement without service data")
    states = [str(c["State"]) for _, i, p, c in f.signals
              if i == BT1 and p == "/org/smallbms/bluetooth" and "State" in c]
    check(states[-3:] == ["connected", "off", "advertising"] or
          states[-2:] == ["off", "advertising"], f"Bluetooth1.State signals {states}")
    check(sum(1 for c in f.calls if c[0] == "RegisterApplication") == 1, f"{f.calls}")


def unicast_signal(bus, dest, path, iface, member, sig, *args):
    """A signal sent to one connection only: the bus delivers it whatever
    that connection's match rules say."""
    m = dbus.lowlevel.SignalMessage(path, iface, member)
    m.set_destination(dest)
    m.append(*args, signature=sig)
    bus.send_message(m)
    bus.flush()


def bonded(rig):
    return sorted((str(x), str(y)) for x, y in rig.bt1_get("BondedDevices"))


def sync(bus):
    """Returns once the harness has handled what bus sent it before."""
    obj = bus.get_object("org.smallbms", "/org/smallbms/bluetooth", introspect=False)
    obj.Get(BT1, "State", dbus_interface="org.freedesktop.DBus.Properties")


EVIL = "66:66:66:66:66:66"


def look_alike_device(rig, bus, target):
    """From a connection that does not own org.bluez (now): what BlueZ sends
    for a bonded phone appearing."""
    adapter = rig.fake.adapter_path
    dev = adapter + "/dev_" + EVIL.replace(":", "_")
    props = {"Address": dbus.String(EVIL), "Alias": dbus.String("evil"),
             "Name": dbus.String("evil"), "Paired": dbus.Boolean(True),
             "Connected": dbus.Boolean(True), "Adapter": dbus.ObjectPath(adapter)}
    unicast_signal(bus, target, "/", fake_bluez.OM, "InterfacesAdded", "oa{sa{sv}}",
                   dbus.ObjectPath(dev), {fake_bluez.DEVICE: props})
    unicast_signal(bus, target, dev, fake_bluez.PROPS, "PropertiesChanged", "sa{sv}as",
                   fake_bluez.DEVICE, {"Paired": dbus.Boolean(True)}, [])
    sync(bus)


def look_alike_adapter_gone(rig, bus, target):
    """The same for the adapter powering off and going away."""
    adapter = rig.fake.adapter_path
    unicast_signal(bus, target, adapter, fake_bluez.PROPS, "PropertiesChanged", "sa{sv}as",
                   fake_bluez.ADAPTER, {"Powered": dbus.Boolean(False)}, [])
    unicast_signal(bus, target, "/", fake_bluez.OM, "InterfacesRemoved", "oas",
                   dbus.ObjectPath(adapter), [fake_bluez.ADAPTER, fake_bluez.GATT_MGR,
                                              fake_bluez.ADV_MGR])
    sync(bus)


def no_look_alike(rig, who):
    check(all(a != EVIL for a, _ in bonded(rig)),
          f"a look-alike device from {who} is listed: {bonded(rig)}")


def case_look_alike_signals(rig):
    """Signals that look like BlueZ's from another client on the bus (sent to
    the daemon alone) are ignored: only the unique name that owns org.bluez
    is listened to, and after bluetoothd restarts under a new unique name,
    the old one is no longer (issue 15)."""
    rig.start()
    rig.registered()
    rig.state_is("advertising")
    target = rig.bus.get_name_owner("org.smallbms")
    evil = fake_bluez.private_bus(rig.address)
    bus2 = None
    try:
        look_alike_device(rig, evil, target)
        no_look_alike(rig, "another client")
        rig.paired_phone()  # a real one, after the look-alike
        check(pump(lambda: bonded(rig) == [(PHONE, "Pixel")]), f"bonded {bonded(rig)}")
        rig.state_is("connected")
        mark = len(rig.out)
        look_alike_adapter_gone(rig, evil, target)
        check("state off" not in rig.out[mark:],
              f"the look-alike adapter signals were obeyed: {rig.out[mark:]}")
        check(bool(rig.bt1_get("AdapterPresent")), "adapter gone after look-alike signals")

        # bluetoothd restarts under a new unique name; its old connection stays
        rig.fake.stop()
        rig.state_is("off")
        bus2 = fake_bluez.private_bus(rig.address)
        fake2 = FakeBluez(bus2, MAC)
        fake2.start()
        check(pump(lambda: len(fake2.apps) == 1 and len(fake2.adverts) == 1 and
                   fake2.default_agent, 10), "not registered with the new bluetoothd")
        rig.state_is("advertising")
        look_alike_device(rig, rig.bus, target)  # from the former owner
        no_look_alike(rig, "the former owner of org.bluez")
        d = fake2.add_device("AA:BB:CC:00:00:0E", "new")
        fake2.bond(d, True)  # the new owner signals a bond (pairing: case pairing)
        check(pump(lambda: ("AA:BB:CC:00:00:0E", "new") in bonded(rig)),
              f"the new bluetoothd's phone is not listed: {bonded(rig)}")
        mark = len(rig.out)
        look_alike_adapter_gone(rig, rig.bus, target)
        check("state off" not in rig.out[mark:],
              f"the former owner's look-alike signals were obeyed: {rig.out[mark:]}")
    finally:
        evil.close()
        if bus2:
            bus2.close()


def case_powered(rig):
    rig.start()
    rig.registered()
    f = rig.fake
    rig.state_is("advertising")
    f.adapter.set_powered(False)
    rig.state_is("off")
    check(pump(lambda: not f.apps), "application still registered while powered off")
    f.adapter.set_powered(True)
    rig.registered()
    rig.state_is("advertising")


def case_no_adapter(rig):
    rig.start()
    pump(None, 0.5)
    check(not rig.fake.apps and not rig.fake.adverts, "registered without an adapter")
    check(not any(l == "state advertising" for l in rig.out), "advertising without adapter")
    check(not bool(rig.bt1_get("AdapterPresent")), "AdapterPresent")
    check(str(rig.bt1_get("State")) == "off", "State")
    rig.fake.stop()
    rig.fake.start()
    pump(None, 0.5)
    warnings = [l for l in rig.err if "no Bluetooth adapter" in l]
    check(len(warnings) == 1, f"warnings {warnings}")
    rig.fake.add_adapter()
    rig.registered()
    rig.state_is("advertising")
    check(bool(rig.bt1_get("AdapterPresent")), "AdapterPresent after the adapter came")
    check(str(rig.bt1_get("Address")) == MAC, "Address")
    rig.fake.remove_adapter()
    rig.state_is("off")


def case_no_bluez(rig):
    rig.start()
    pump(None, 0.5)
    check(str(rig.bt1_get("State")) == "off", "State")
    check(len([l for l in rig.err if "no Bluetooth adapter" in l]) == 1, f"{rig.err}")
    rig.fake.start()
    rig.registered()
    rig.state_is("advertising")


def service_values(rig, key):
    sd = rig.fake.service_data()
    check(sd is not None, "no BTHome service data")
    return bthome_decode(sd, MAC, key)


def packet_kind(values):
    """'A' (voltage, temperature, current) or 'B' (time remaining, power)."""
    a = any(o in values for o in (0x0C, 0x45, 0x5D))
    b = any(o in values for o in (0x42, 0x5C))
    check(a != b, f"neither or both packets in one: {values}")
    return "A" if a else "B"


def logged_packets(rig, key, since):
    """[(time, kind, values, counter)] advertised at or after since."""
    out = []
    for t, props in rig.fake.advert_log:
        sd = props.get("ServiceData", {}).get(BTHOME_UUID)
        if t >= since and sd is not None:
            values, counter = bthome_decode(bytes(sd), MAC, key)
            out.append((t, packet_kind(values), values, counter))
    return out


def both_packets(rig, key, since, timeout=6.0):
    """The latest packet A and B advertised after since: A and B alternate
    every 2.5 s, so both come within 5 s (timeout: that and 1 s of slack)."""
    def latest():
        got = {}
        for _, kind, values, _ in logged_packets(rig, key, since):
            got[kind] = values
        return got
    check(pump(lambda: len(latest()) == 2, timeout),
          f"not both packets within {timeout} s: {[k for _, k, _, _ in logged_packets(rig, key, since)]}")
    return latest()


def case_advertisement(rig):
    rig.start()
    rig.registered()
    f = rig.fake
    key = bytes.fromhex(str(rig.bt1().GetBindKey()))
    check(len(key) == 16 and bool(rig.bt1_get("Encrypted")), "key / Encrypted")
    _, counter1 = service_values(rig, key)
    check(counter1 is not None, "default advertisement not encrypted")
    # both packets within 5 s, each decodable on its own
    got = both_packets(rig, key, time.monotonic() - 0.01)
    a, b = got["A"], got["B"]
    check(a.get(0x01) == 50 and b.get(0x01) == 50, f"battery {a} {b}")
    check(abs(a.get(0x0C, 0) - 26.4) < 1e-6, f"voltage {a}")
    check(a.get(0x5D) is not None and abs(a[0x5D] - (-3.0)) < 1e-6, f"current {a}")
    check(abs(a.get(0x45, 0) - 22.2) < 1e-6, f"temperature {a}")
    # the snapshot's power, 26.4 V x -3 A, negative while discharging
    check(b.get(0x5C) is not None and abs(b[0x5C] - (-79.2)) < 1e-6, f"power {b}")
    # the snapshot's 36000 s is past the uint24 ms object: clamped, not wrapped
    check(b.get(0x42) is not None and abs(b[0x42] - 16777.215) < 1e-6,
          f"time remaining {b}")
    check(all(b.get(o) == 0 for o in (0x15, 0x26)) and
          all(a.get(o) == 0 for o in (0x15, 0x26)), f"flags {a} {b}")
    # a new current reaches A's current and B's power within 5 s
    rig.send("ma -5000")
    rig.wait_out(r"^ok ma -5000$")
    got = both_packets(rig, key, time.monotonic())
    check(abs(got["A"][0x5D] - (-5.0)) < 1e-6 and abs(got["B"][0x5C] - (-132.0)) < 1e-6,
          f"after ma -5000: {got}")
    # they keep alternating: over 5.5 s at least 2 switches, and the counter
    # grows with every packet
    t1 = time.monotonic()
    first = packet_kind(service_values(rig, key)[0])
    pump(lambda: False, 5.5)
    log = logged_packets(rig, key, t1)
    kinds = [first] + [k for _, k, _, _ in log]
    switches = sum(1 for x, y in zip(kinds, kinds[1:]) if x != y)
    check(switches >= 2, f"packets over 5.5 s: {kinds}")
    counters = [c for _, _, _, c in log]
    check(counters == sorted(set(counters)), f"counters not increasing: {counters}")
    try:
        bthome_decode(f.service_data(), MAC, bytes(16))
        raise Fail("decrypted with a wrong key")
    except Fail:
        raise
    except Exception:
        pass
    # periodic refresh, then at once on a code change
    n = len(f.advert_log)
    check(pump(lambda: len(f.advert_log) > n, 8), "no periodic refresh within 8 s")
    t0 = time.monotonic()
    rig.send("codes 0x%x" % 0xffffffff)
    check(pump(lambda: any(e.get(0x15) == 1 and e.get(0x26) == 1 for e in
                           [bthome_decode(bytes(p["ServiceData"][
                               "0000fcd2-0000-1000-8000-00805f9b34fb"]), MAC, key)[0]
                            for t, p in f.advert_log if t >= t0]), 1),
          "code change not advertised at once")
    # then both packets carry the flags
    got = both_packets(rig, key, t0)
    check(all(got[k].get(o) == 1 for k in "AB" for o in (0x15, 0x26)), f"flags {got}")
    _, counter2 = service_values(rig, key)
    check(counter2 > counter1, "counter did not increase")
    rig.stop_harness()
    f.reset()
    rig.start()
    rig.registered()
    _, counter3 = service_values(rig, key)
    check(counter3 > counter2, f"counter after a restart {counter3} <= {counter2}")
    # unencrypted on request, then a new key
    rig.bt1_set("Encrypted", dbus.Boolean(False))
    check(pump(lambda: f.service_data()[0] & 1 == 0), "still encrypted")
    values, counter = service_values(rig, None)
    check(counter is None and values.get(0x01) == 50, f"plain {values}")
    got = both_packets(rig, None, time.monotonic())
    check(abs(got["B"][0x5C] - (-79.2)) < 1e-6 and abs(got["A"][0x0C] - 26.4) < 1e-6,
          f"plain packets {got}")
    rig.bt1_set("Encrypted", dbus.Boolean(True))
    rig.bt1().NewBindKey()
    key2 = bytes.fromhex(str(rig.bt1().GetBindKey()))
    check(key2 != key, "NewBindKey kept the key")
    check(pump(lambda: f.service_data()[0] & 1 == 1), "not encrypted again")
    service_values(rig, key2)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    harness = sys.argv[1]
    names = sys.argv[2:] or list(CASES)
    print(f"1..{len(names)}", flush=True)
    failed = 0
    for n, name in enumerate(names, 1):
        rig = None
        try:
            rig = Rig(harness, with_bluez=name != "no_bluez",
                      with_adapter=name != "no_adapter")
            CASES[name](rig)
            print(f"ok {n} - {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is a TAP "not ok"
            failed += 1
            print(f"not ok {n} - {name}: {type(e).__name__}: {e}", flush=True)
            if rig:
                for line in rig.err[-20:]:
                    print(f"# stderr: {line}")
        finally:
            if rig:
                try:
                    rig.close()
                except Exception as e:  # noqa: BLE001
                    failed += 1
                    print(f"# close: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
