#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs IN the kernel-stage guest (run-guest): smallbms's Bluetooth front end
on the real stack, in smallbmsd itself (with the simulator and the fake ADC
of tests/integration's rig) or, for a quicker look, alone in tests/ble's
ble-harness: Linux 6.1's SMP and
HCI over two virtual controllers (hci_vhci, btvirt -L -l2), bluetoothd 5.66
(-P battery), a private system bus. One controller is the BMS's; the other
is the phone, driven here over D-Bus with its own non-default agent, once
for each I/O capability. This process is also the installer: it opens the
pairing window (Bluetooth1.OpenPairing) and answers the prompts the daemon
sends it. TAP on stdout.

    guest_bluez.py daemon          (SMALLBMSD, SMALLBMS_SIM, ... as meson sets them)
    guest_bluez.py harness BLE_HARNESS
"""

import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ctl"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import dbus  # noqa: E402
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

BLUEZ = "org.bluez"
OM = "org.freedesktop.DBus.ObjectManager"
PROPS = "org.freedesktop.DBus.Properties"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
CHR = "org.bluez.GattCharacteristic1"
AGENT = "org.bluez.Agent1"
AGENT_MGR = "org.bluez.AgentManager1"
BT1 = "org.smallbms.Bluetooth1"
BT1_PATH = "/org/smallbms/bluetooth"
UUID_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"
UUID_STATUS = "f0860101-c631-49cc-b9b4-8223cb1b8c9f"
UUID_SETTINGS = "f0860105-c631-49cc-b9b4-8223cb1b8c9f"
PHONE_AGENT = "/test/phone/agent"
WORK = "/tmp/smallbms-bluez"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s/bus</listen>
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


def pump(cond=None, timeout=5.0):
    ctx = GLib.MainContext.default()
    end = time.monotonic() + timeout
    tick = GLib.timeout_add(20, lambda: True)
    try:
        while True:
            while ctx.pending():
                ctx.iteration(False)
            if cond is not None and cond():
                return True
            if time.monotonic() >= end:
                return cond is None
            ctx.iteration(True)
    finally:
        GLib.source_remove(tick)


def call(fn, *args, timeout=60, **kw):
    """An async D-Bus call, pumped: (True, result) or (False, error name)."""
    box = []
    fn(*args, reply_handler=lambda *r: box.append((True, r)),
       error_handler=lambda e: box.append((False, e.get_dbus_name() + ": " +
                                           str(e.get_dbus_message()))),
       timeout=timeout, **kw)
    if not pump(lambda: box, timeout + 5):
        return False, "no reply"
    return box[0]


class PhoneAgent(dbus.service.Object):
    """The phone's user: accepts the number its screen shows (comparison),
    types the passkey the installer reads out (entry)."""

    def __init__(self, bus, rig):
        super().__init__(bus, PHONE_AGENT)
        self.rig = rig
        self.calls = []
        self.accept = True

    @dbus.service.method(AGENT, in_signature="", out_signature="")
    def Release(self):
        self.calls.append(("Release",))

    @dbus.service.method(AGENT, in_signature="ou", out_signature="")
    def RequestConfirmation(self, dev, passkey):
        self.calls.append(("RequestConfirmation", int(passkey)))
        if not self.accept:
            raise dbus.exceptions.DBusException("no", name="org.bluez.Error.Rejected")

    @dbus.service.method(AGENT, in_signature="o", out_signature="u",
                         async_callbacks=("ok", "fail"))
    def RequestPasskey(self, dev, ok, fail):
        self.calls.append(("RequestPasskey",))

        def typed():
            shown = [p for p in self.rig.prompts if str(p[1]) == "display"]
            if shown:
                ok(dbus.UInt32(int(shown[-1][4])))
                return False
            return True

        GLib.timeout_add(50, typed)

    @dbus.service.method(AGENT, in_signature="ouq", out_signature="")
    def DisplayPasskey(self, dev, passkey, entered):
        self.calls.append(("DisplayPasskey", int(passkey)))

    @dbus.service.method(AGENT, in_signature="o", out_signature="")
    def RequestAuthorization(self, dev):
        self.calls.append(("RequestAuthorization",))

    @dbus.service.method(AGENT, in_signature="os", out_signature="")
    def AuthorizeService(self, dev, uuid):
        pass

    @dbus.service.method(AGENT, in_signature="", out_signature="")
    def Cancel(self):
        self.calls.append(("Cancel",))


class HarnessBms:
    """src/ble alone (tests/ble/ble-harness): SoC 50 %, the settings registry."""

    def __init__(self, exe):
        self.exe = exe
        self.proc = None
        self.out, self.err = [], []

    def start_bus(self, spawn):
        with open(WORK + "/bus.conf", "w") as f:
            f.write(BUS_CONFIG % WORK)
        spawn(["dbus-daemon", "--nofork", "--config-file=" + WORK + "/bus.conf"], "dbus")
        check(pump(lambda: os.path.exists(WORK + "/bus"), 10), "no dbus-daemon")
        return "unix:path=%s/bus" % WORK

    def start(self, ibus):
        self.out, self.err = [], []
        self.proc = subprocess.Popen([self.exe, WORK + "/state"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: [k.append(l.rstrip("\n"))
                                                              for l in s],
                             daemon=True).start()
        check(pump(lambda: "ready" in self.out, 30), "harness not ready: %r" % self.err[-5:])
        self.settings = {}
        for line in self.out:
            m = re.match(r"setting (\d+) (\S+) (-?\d+) (-?\d+) (-?\d+)$", line)
            if m:
                i, name, v, lo, hi = m.groups()
                self.settings[name] = (int(i), int(v), int(lo), int(hi))

    def stop(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        if not pump(lambda: self.proc.poll() is not None, 15):
            self.proc.kill()
        self.proc.wait()
        check(self.proc.returncode == 0, "harness exit %r" % self.proc.returncode)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()

    def log(self):
        return list(self.err)

    def setting_applied(self, ibus, name, value):
        return any(re.match(r"action set_settings n=1 first=%s=%d r=0$" % (name, value), l)
                   for l in self.out)


class DaemonBms:
    """smallbmsd with the simulator (one 12.8 V battery) and the fake ADC."""

    def __init__(self):
        from test_ctl import CtlRig  # noqa: E402 - the integration rig
        self.rig = CtlRig("bluez", series=1, parallel=1, start_sim=False)

    def start_bus(self, spawn):
        self.rig.start_sim()
        self.rig.start_bus()
        return self.rig.address

    def start(self, ibus):
        mark = len(self.rig.notify.messages)
        self.rig.start_daemon()
        t, _ = self.rig.notify.wait("READY", "1", timeout=120, since=mark)
        check(t is not None, "smallbmsd: no READY=1: %s" % self.rig.daemon.text(20))
        bms = ibus.get_object("org.smallbms", "/org/smallbms", introspect=False)
        check(pump(lambda: self._valid(bms), 90), "smallbmsd: no valid measurements")
        # Battery Level needs a known SoC: synchronise to 50 %
        bms.SetSoc(dbus.Double(50.0), dbus_interface="org.smallbms.Bms1", timeout=30)
        self.settings = {}
        lst = ibus.get_object("org.smallbms", "/org/smallbms/settings",
                              introspect=False).List(dbus_interface="org.smallbms.Settings1",
                                                     timeout=30)
        for i, (n, _, v, _, lo, hi, _) in enumerate(lst):
            self.settings[str(n)] = (i, int(v), int(lo), int(hi))

    @staticmethod
    def _valid(bms):
        try:
            p = bms.GetAll("org.smallbms.Bms1", dbus_interface=PROPS, timeout=10)
        except dbus.exceptions.DBusException:
            return False
        return bool(p["MeasurementsValid"])

    def stop(self):
        d = self.rig.daemon
        d.signal(signal.SIGTERM)
        check(pump(lambda: d.proc.poll() is not None, 60), "smallbmsd did not stop")
        check(d.wait_exit(5) == 0, "smallbmsd exit %r" % d.proc.returncode)

    def kill(self):
        try:
            self.rig.stop_daemons_checked()
        finally:
            self.rig.close()

    def log(self):
        return self.rig.daemon.text(200, skip_heartbeat=True).splitlines()

    def setting_applied(self, ibus, name, value):
        lst = ibus.get_object("org.smallbms", "/org/smallbms/settings",
                              introspect=False).List(dbus_interface="org.smallbms.Settings1",
                                                     timeout=30)
        return any(str(n) == name and int(v) == value for n, _, v, _, _, _, _ in lst)


class Rig:
    def __init__(self, bms):
        self.bms = bms
        self.procs = []
        self.prompts, self.prompt_ends, self.window_ends = [], [], []

    # --- the stack ---------------------------------------------------------------

    def start_stack(self):
        os.makedirs(WORK + "/state", exist_ok=True)
        if not os.path.exists("/dev/fd"):
            os.symlink("/proc/self/fd", "/dev/fd")
        subprocess.run(["modprobe", "hci_vhci"], check=True)
        self.address = self.bms.start_bus(self.spawn)
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        # -E: Device1.AdvertisingFlags (the phone reads the Flags field) is
        # experimental in 5.66; -P battery: TESTING.md
        self.spawn(["/usr/libexec/bluetooth/bluetoothd", "-n", "-d", "-E", "-P", "battery"],
                   "bluetoothd")
        # two connections: the installer (opens the window) and the phone
        self.ibus = dbus.bus.BusConnection(self.address)
        self.pbus = dbus.bus.BusConnection(self.address)
        # Under TCG on a loaded machine the kernel's HCI reset of a new
        # virtual controller can time out (10 s, "Opcode 0x0c03 failed:
        # -110") and that controller never comes up: start btvirt again.
        for attempt in range(3):
            btvirt = self.spawn(["nice", "-n", "-10", "btvirt", "-L", "-l2"], "btvirt")
            if pump(lambda: len(self.adapters()) == 2, 40):
                break
            print("# btvirt attempt %d: bluetoothd shows %r; again" % (attempt + 1,
                                                                       self.adapters()))
            btvirt.terminate()
            btvirt.wait()
            self.procs.remove(btvirt)
            pump(lambda: not self.adapters(), 10)
        for name, sink in (("PairingRequest", self.prompts),
                           ("PairingRequestEnded", self.prompt_ends),
                           ("PairingEnded", self.window_ends)):
            self.ibus.add_signal_receiver(
                lambda *a, sink=sink: sink.append(tuple(a)), signal_name=name,
                dbus_interface=BT1, path=BT1_PATH)
        check(len(self.adapters()) == 2,
              "bluetoothd shows no two adapters: %r" % self.adapters())
        self.agent = PhoneAgent(self.pbus, self)

    def spawn(self, argv, name):
        log = open("%s/%s.log" % (WORK, name), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def objects(self):
        try:
            return self.pbus.get_object(BLUEZ, "/", introspect=False).GetManagedObjects(
                dbus_interface=OM, timeout=10)
        except dbus.exceptions.DBusException:
            return {}

    def adapters(self):
        return {str(p): str(i[ADAPTER]["Address"]) for p, i in self.objects().items()
                if ADAPTER in i}

    def prop(self, path, iface, name, bus=None):
        return (bus or self.pbus).get_object(BLUEZ if iface != BT1 else "org.smallbms", path,
                                             introspect=False).Get(
            iface, name, dbus_interface=PROPS, timeout=10)

    # --- the BMS --------------------------------------------------------

    def start_bms(self):
        self.bms.start(self.ibus)
        self.settings = self.bms.settings
        check(pump(lambda: self.bt1_get("State") == "advertising", 60),
              "not advertising: %r" % self.bms.log()[-5:])
        self.bms_address = str(self.bt1_get("Address"))
        paths = self.adapters()
        self.bms_adapter = next(p for p, a in paths.items() if a == self.bms_address)
        self.phone_adapter = next(p for p, a in paths.items() if a != self.bms_address)
        self.phone_address = paths[self.phone_adapter]

    @property
    def err(self):
        return self.bms.log()

    def bt1(self):
        return dbus.Interface(self.ibus.get_object("org.smallbms", BT1_PATH, introspect=False),
                              BT1)

    def bt1_get(self, name):
        try:
            return self.prop(BT1_PATH, BT1, name, bus=self.ibus)
        except dbus.exceptions.DBusException:
            return None

    def open_window(self, timeout_s=120):
        self.bt1().OpenPairing(dbus.UInt32(timeout_s), timeout=10)
        check(pump(lambda: bool(self.prop(self.bms_adapter, ADAPTER, "Pairable")), 10),
              "BMS adapter not Pairable in the window")

    # --- the phone ------------------------------------------------------------------

    def phone_device(self):
        return "%s/dev_%s" % (self.phone_adapter, self.bms_address.replace(":", "_"))

    def phone_agent(self, cap):
        mgr = self.pbus.get_object(BLUEZ, "/org/bluez", introspect=False)
        try:
            mgr.UnregisterAgent(dbus.ObjectPath(PHONE_AGENT), dbus_interface=AGENT_MGR)
        except dbus.exceptions.DBusException:
            pass
        mgr.RegisterAgent(dbus.ObjectPath(PHONE_AGENT), cap, dbus_interface=AGENT_MGR)
        self.agent.calls = []
        self.agent.accept = True

    def forget_both(self):
        """Neither side remembers the other."""
        dev = self.phone_device()
        if dev in self.objects():
            ad = self.pbus.get_object(BLUEZ, self.phone_adapter, introspect=False)
            call(ad.RemoveDevice, dbus.ObjectPath(dev), dbus_interface=ADAPTER)
        bonded = [str(a) for a, _ in self.bt1_get("BondedDevices") or []]
        if self.phone_address in bonded:
            ok, err = call(self.bt1().Forget, self.phone_address)
            check(ok, "Forget: %s" % (err,))
        check(pump(lambda: dev not in self.objects(), 10), "phone still knows the BMS")

    def discover(self, filtered, timeout):
        """StartDiscovery on the phone, plain (what a phone's settings do)
        or with an LE filter (what a scanner app does), restarted every
        second (btvirt reports once per scan start): whether the BMS shows."""
        ad = self.pbus.get_object(BLUEZ, self.phone_adapter, introspect=False)
        ad.SetDiscoveryFilter(dbus.Dictionary({"Transport": "le"} if filtered else {},
                                              signature="sv"),
                              dbus_interface=ADAPTER, timeout=10)
        end = time.monotonic() + timeout
        found = False
        while time.monotonic() < end and not found:
            call(ad.StartDiscovery, dbus_interface=ADAPTER, timeout=10)
            found = pump(lambda: self.phone_device() in self.objects(), 1.5)
            call(ad.StopDiscovery, dbus_interface=ADAPTER, timeout=10)
        return found

    def adv_flags(self):
        """The Flags AD field as the phone received it (Device1.AdvertisingFlags)."""
        try:
            return [int(x) for x in self.prop(self.phone_device(), DEVICE, "AdvertisingFlags")]
        except dbus.exceptions.DBusException as e:
            return "no AdvertisingFlags: %s" % e.get_dbus_name()

    def connect(self):
        dev = self.pbus.get_object(BLUEZ, self.phone_device(), introspect=False)
        for _ in range(3):
            ok, err = call(dev.Connect, dbus_interface=DEVICE, timeout=30)
            if ok:
                break
            pump(None, 1)
        check(ok, "Connect: %s" % (err,))
        check(pump(lambda: bool(self.prop(self.phone_device(), DEVICE, "ServicesResolved")),
                   30), "services not resolved")

    def disconnect(self):
        dev = self.pbus.get_object(BLUEZ, self.phone_device(), introspect=False)
        call(dev.Disconnect, dbus_interface=DEVICE, timeout=30)
        check(pump(lambda: not bool(self.prop(self.phone_device(), DEVICE, "Connected")), 15),
              "still connected")

    def char(self, uuid):
        for path, ifaces in self.objects().items():
            if CHR in ifaces and str(path).startswith(self.phone_device() + "/") and \
                    str(ifaces[CHR]["UUID"]) == uuid:
                return self.pbus.get_object(BLUEZ, path, introspect=False)
        raise Fail("the phone sees no characteristic %s" % uuid)

    def read(self, uuid):
        ok, r = call(self.char(uuid).ReadValue, dbus.Dictionary({}, signature="sv"),
                     dbus_interface=CHR, timeout=30)
        return (True, bytes(r[0])) if ok else (False, r)

    def write(self, uuid, value):
        ok, r = call(self.char(uuid).WriteValue, dbus.Array(value, signature="y"),
                     dbus.Dictionary({"type": "request"}, signature="sv"),
                     dbus_interface=CHR, timeout=30)
        return ok, r

    def pair(self, installer):
        """Device1.Pair() from the phone; installer(prompt) answers the BMS's
        prompts (True, False or None to leave it). (ok, error)."""
        dev = self.pbus.get_object(BLUEZ, self.phone_device(), introspect=False)
        box = []
        n = len(self.prompts)
        dev.Pair(dbus_interface=DEVICE, timeout=90,
                 reply_handler=lambda: box.append((True, None)),
                 error_handler=lambda e: box.append((False, e.get_dbus_name())))
        answered = set()
        end = time.monotonic() + 90
        while not box and time.monotonic() < end:
            pump(lambda: box or any(int(p[0]) not in answered for p in self.prompts[n:]), 1)
            for p in self.prompts[n:]:
                pid = int(p[0])
                if pid in answered:
                    continue
                answered.add(pid)
                verdict = installer(p)
                if verdict is not None and str(p[1]) == "confirm":
                    self.bt1().ConfirmPairing(dbus.UInt64(pid), dbus.Boolean(verdict),
                                              timeout=10)
        return box[0] if box else (False, "no reply from Pair")


def status_soc(v):
    check(v[0] == 1 and len(v) == 40, "status record %r" % v)
    return struct.unpack_from("<H", v, 2)[0]


def pick_setting(rig):
    for name, (i, v, lo, hi) in sorted(rig.settings.items()):
        if "soc" in name and lo <= v + 1 <= hi:
            return name, i, v, lo, hi
    name, (i, v, lo, hi) = next((n, s) for n, s in rig.settings.items() if s[1] + 1 <= s[3])
    return name, i, v, lo, hi


# --- the cases ------------------------------------------------------------------

def case_stack(rig):
    rig.start_stack()
    rig.start_bms()
    check(not bool(rig.prop(rig.bms_adapter, ADAPTER, "Pairable")), "Pairable outside a window")
    print("# BMS %s (%s), phone %s (%s)" % (rig.bms_address, rig.bms_adapter, rig.phone_address,
                                            rig.phone_adapter))


def case_closed_window(rig):
    """Window closed: a phone's plain discovery does not list the BMS, a
    scanner with a filter does; Battery Level reads without pairing, the
    status record does not, and pairing is refused before any prompt."""
    rig.phone_agent("KeyboardDisplay")
    check(not rig.discover(False, 6), "listed by plain discovery with the window closed")
    check(rig.discover(True, 15), "a filtered (scanner) discovery does not see the BMS")
    flags = rig.adv_flags()
    print("# advertisement Flags with the window closed: %r" % (flags,))
    check(flags == [0x04], "Flags %r with the window closed, not [0x04] (BR/EDR not "
          "supported, not discoverable)" % (flags,))
    rig.connect()
    ok, v = rig.read(UUID_LEVEL)
    check(ok and v == bytes([50]), "Battery Level before pairing: %r" % (v,))
    ok, err = rig.read(UUID_STATUS)
    check(not ok, "status record read without pairing")
    print("# status without pairing: %s" % err)
    n = len(rig.prompts)
    ok, err = rig.pair(lambda p: True)
    check(not ok, "paired with the window closed")
    check(len(rig.prompts) == n, "a prompt with the window closed: %r" % rig.prompts[n:])
    print("# pairing with the window closed: %s" % err)
    rig.disconnect()
    rig.forget_both()


def pair_and_use(rig, cap, full):
    rig.phone_agent(cap)
    t0 = time.monotonic()
    rig.open_window()
    check(rig.discover(False, 20), "plain discovery does not list the BMS in the window")
    flags = rig.adv_flags()
    print("# advertisement Flags in the window: %r" % (flags,))
    check(flags == [0x06], "Flags %r in the window, not [0x06] (LE General Discoverable, "
          "BR/EDR not supported)" % (flags,))
    rig.connect()
    ok, err = rig.pair(lambda p: True)
    check(ok, "%s: Pair failed: %s; phone agent %r; prompts %r; harness %r"
          % (cap, err, rig.agent.calls, rig.prompts[-2:], rig.err[-6:]))
    ok, v = rig.read(UUID_STATUS)
    check(ok and status_soc(v) == 5000, "status over the bond: %r" % (v,))
    took = time.monotonic() - t0
    p = rig.prompts[-1]
    if cap == "KeyboardOnly":
        check(str(p[1]) == "display", "prompt %r" % (p,))
        check(("RequestPasskey",) in rig.agent.calls, "phone calls %r" % rig.agent.calls)
    else:
        check(str(p[1]) == "confirm", "prompt %r" % (p,))
        phone = [c[1] for c in rig.agent.calls if c[0] == "RequestConfirmation"]
        check(phone == [int(p[4])], "the phone showed %r, the BMS %06d" % (phone, int(p[4])))
    check(str(p[2]) == rig.phone_address, "prompt address %r" % (p,))
    check(pump(lambda: not bool(rig.bt1_get("PairingOpen")), 10), "window open after the bond")
    check(pump(lambda: rig.window_ends and rig.window_ends[-1][0] == "bonded", 5),
          "PairingEnded %r" % rig.window_ends)
    check(pump(lambda: any("bonded with %s" % rig.phone_address in l for l in rig.err), 5),
          "no bond line in the log: %r" % rig.err[-5:])
    print("# %s: window open to bonded read %.1f s (model %s, prompt %s)"
          % (cap, took, p[1], p[4]))
    if not full:
        return
    # a write through the bond changes a setting; an invalid one changes nothing
    name, i, v0, lo, hi = pick_setting(rig)
    ok, err = rig.write(UUID_SETTINGS, bytes([1, i]) + struct.pack("<i", v0 + 1))
    check(ok, "valid settings write: %s" % (err,))
    check(pump(lambda: rig.bms.setting_applied(rig.ibus, name, v0 + 1), 5),
          "the write did not change %s" % name)
    ok, rec = rig.read(UUID_SETTINGS)
    check(ok and struct.unpack_from("<i", rec, 2 + 4 * i)[0] == v0 + 1, "setting not changed")
    ok, err = rig.write(UUID_SETTINGS, bytes([1, i]) + struct.pack("<i", hi + 1))
    check(not ok, "an out-of-range setting was accepted")
    ok, rec2 = rig.read(UUID_SETTINGS)
    check(ok and rec2 == rec, "a refused write changed the settings")
    check(rig.bms.setting_applied(rig.ibus, name, v0 + 1), "a refused write changed %s" % name)
    # reconnect after the window closed, and after a restart of the BMS
    rig.disconnect()
    rig.connect()
    ok, v = rig.read(UUID_STATUS)
    check(ok and status_soc(v) == 5000, "status after reconnecting: %r" % (v,))
    rig.disconnect()
    rig.bms.stop()
    rig.start_bms()
    check(not bool(rig.bt1_get("PairingOpen")), "window open after a restart")
    rig.connect()
    ok, v = rig.read(UUID_STATUS)
    check(ok and status_soc(v) == 5000, "status after a restart: %r" % (v,))
    rig.disconnect()


def case_keyboard_display(rig):
    """Numeric comparison confirmed on both sides; bond, write, reconnect,
    restart."""
    pair_and_use(rig, "KeyboardDisplay", True)
    rig.forget_both()


def case_rejected(rig):
    """The installer rejects the number: no bond, the window stays open;
    then closed on request, pairing is refused before any prompt and a
    phone's plain discovery no longer lists the BMS."""
    rig.phone_agent("KeyboardDisplay")
    rig.open_window()
    check(rig.discover(False, 20), "not discovered")
    rig.connect()
    ok, err = rig.pair(lambda p: False)
    check(not ok, "paired though the installer rejected")
    print("# rejected by the installer: %s" % err)
    check(not bool(rig.prop(rig.phone_device(), DEVICE, "Paired")), "Paired after a rejection")
    check(bool(rig.bt1_get("PairingOpen")), "a rejection closed the window")
    ok, _ = rig.read(UUID_STATUS)
    check(not ok, "status readable after a rejected pairing")
    rig.bt1().ClosePairing(timeout=10)
    check(pump(lambda: not bool(rig.prop(rig.bms_adapter, ADAPTER, "Pairable")), 10),
          "Pairable after ClosePairing")
    n = len(rig.prompts)
    ok, err = rig.pair(lambda p: True)
    check(not ok and len(rig.prompts) == n, "pairing after ClosePairing: %s %r"
          % (ok, rig.prompts[n:]))
    rig.disconnect()
    rig.forget_both()
    check(not rig.discover(False, 6), "listed by plain discovery after the window closed")


def case_keyboard_only(rig):
    """Passkey entry: the kernel's number shown to the installer, typed on
    the phone."""
    pair_and_use(rig, "KeyboardOnly", False)
    rig.disconnect()
    rig.forget_both()


def case_display_yes_no(rig):
    pair_and_use(rig, "DisplayYesNo", False)
    rig.disconnect()
    rig.forget_both()


def refused_cap(rig, cap):
    rig.phone_agent(cap)
    rig.open_window()
    check(rig.discover(False, 20), "not discovered")
    rig.connect()
    n = len(rig.prompts)
    ok, err = rig.pair(lambda p: True)
    check(not ok, "%s paired" % cap)
    check(len(rig.prompts) == n, "%s: a prompt %r" % (cap, rig.prompts[n:]))
    print("# %s: %s; phone agent %r" % (cap, err, rig.agent.calls))
    ok, _ = rig.read(UUID_STATUS)
    check(not ok, "status readable")
    rig.bt1().ClosePairing(timeout=10)
    rig.disconnect()
    rig.forget_both()


def case_display_only(rig):
    """A DisplayOnly phone cannot pair with a DisplayYesNo peripheral."""
    refused_cap(rig, "DisplayOnly")


def case_no_input_no_output(rig):
    """Just Works is refused (RequestAuthorization rejected)."""
    refused_cap(rig, "NoInputNoOutput")


CASES = [case_stack, case_closed_window, case_keyboard_display, case_rejected,
         case_keyboard_only, case_display_yes_no, case_display_only, case_no_input_no_output]


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    if sys.argv[1] == "daemon":
        from harness import namespace_usable  # noqa: E402
        why = namespace_usable()
        if why:
            print("1..0 # SKIP %s" % why)
            return 0
        bms = DaemonBms()
    else:
        bms = HarnessBms(sys.argv[2])
    rig = Rig(bms)
    print("1..%d" % len(CASES), flush=True)
    failed = False
    try:
        for n, case in enumerate(CASES, 1):
            name = case.__name__[5:]
            if failed and case is not case_stack and n <= 2:
                print("not ok %d - %s # after an earlier failure" % (n, name), flush=True)
                continue
            t0 = time.monotonic()
            try:
                case(rig)
                print("ok %d - %s (%.1f s)" % (n, name, time.monotonic() - t0), flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is a TAP "not ok"
                failed = True
                print("not ok %d - %s: %s: %s" % (n, name, type(e).__name__, e), flush=True)
                for line in rig.err[-15:]:
                    print("# harness: " + line)
                try:
                    rig.bt1().ClosePairing(timeout=5)
                    rig.forget_both()
                except Exception:  # noqa: BLE001
                    pass
                if n <= 1:
                    break
    finally:
        if failed:
            try:
                with open(WORK + "/bluetoothd.log") as f:
                    for line in f.readlines()[-40:]:
                        print("# bluetoothd: " + line.rstrip())
            except OSError:
                pass
        try:
            rig.bms.kill()
        except Exception as e:  # noqa: BLE001
            failed = True
            print("not ok %d - the BMS at the end: %s" % (len(CASES), e))
        for p in reversed(rig.procs):
            p.terminate()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
