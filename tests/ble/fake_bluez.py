# SPDX-License-Identifier: GPL-2.0-or-later
"""A test-owned org.bluez for the BlueZ adapter's tests.

It exports what smallbmsd uses of BlueZ 5.66 (ObjectManager at /,
AgentManager1 at /org/bluez, an Adapter1 with GattManager1 and
LEAdvertisingManager1, Device1 objects) on a private bus, and plays the
phone: it reads and writes characteristics, enforcing their security flags
as BlueZ does, subscribes to notifications and pairs through the agent.

Pairing copies what the real stack did in the checks recorded in
docs/testing.md ("BlueZ": kernel 6.1 SMP with LE Secure Connections,
bluetoothd 5.66, two btvirt controllers): an adapter with Pairable false
refuses before any agent call; the kernel draws the passkey (random, never
fixed); with the peripheral's agent DisplayYesNo a KeyboardDisplay phone gets
numeric comparison (RequestConfirmation(device, passkey) on the peripheral's
agent, rejecting it fails the phone's Pair() with AuthenticationFailed), a
KeyboardOnly phone passkey entry (DisplayPasskey on the peripheral, the user
types the number on the phone), both bonding with an authenticated key; a
DisplayOnly phone fails at once (authentication requirements); a
NoInputNoOutput phone reaches RequestAuthorization (Just Works, an
unauthenticated key that secure-* reads refuse). An agent that does not
answer within the SMP timeout (about 30 s) gets Cancel and the pairing
fails. A DisplayYesNo phone is not in TESTING.md: it gets numeric
comparison, as the Core specification's table says for LE Secure
Connections (Vol 3 Part H 2.3.5.1).

Like bluetoothd it asks the application for its objects (GetManagedObjects)
BEFORE it answers RegisterApplication, with a short timeout: a client that
calls RegisterApplication synchronously deadlocks and the test fails.
"""

import os
import time

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

BLUEZ = "org.bluez"
OM = "org.freedesktop.DBus.ObjectManager"
PROPS = "org.freedesktop.DBus.Properties"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
GATT_MGR = "org.bluez.GattManager1"
ADV_MGR = "org.bluez.LEAdvertisingManager1"
AGENT_MGR = "org.bluez.AgentManager1"
CHR = "org.bluez.GattCharacteristic1"
SVC = "org.bluez.GattService1"
ADV = "org.bluez.LEAdvertisement1"
AGENT = "org.bluez.Agent1"
CALLBACK_TIMEOUT_S = 3
SMP_TIMEOUT_S = 30  # the kernel's SMP timeout (docs/testing.md)
AGENT_CALL_TIMEOUT_S = 60  # bluetoothd's own timeout for an agent request


class AttError(Exception):
    """What the phone would see: an ATT error (name) instead of a value."""

    def __init__(self, name, message=""):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def private_bus(address):
    return dbus.bus.BusConnection(address, mainloop=dbus.mainloop.glib.DBusGMainLoop())


def pump(cond=None, timeout=5.0):
    """Runs the GLib loop until cond() is true (returns True) or timeout."""
    ctx = GLib.MainContext.default()
    end = time.monotonic() + timeout
    tick = GLib.timeout_add(10, lambda: True)  # wakes the blocking iteration
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


class Device(dbus.service.Object):
    def __init__(self, fake, path, address, name):
        super().__init__(fake.bus, path)
        self.fake = fake
        self.path = path
        self.props = {"Address": dbus.String(address), "Name": dbus.String(name),
                      "Alias": dbus.String(name), "Paired": dbus.Boolean(False),
                      "Connected": dbus.Boolean(False),
                      "Adapter": dbus.ObjectPath(fake.adapter_path)}

    def set(self, name, value):
        self.props[name] = value
        self.PropertiesChanged(DEVICE, {name: value}, [])

    @dbus.service.method(DEVICE, in_signature="", out_signature="")
    def CancelPairing(self):
        self.fake.calls.append(("CancelPairing", self.path))
        attempt = self.fake.attempts.get(self.path)
        if attempt is None or attempt.done:
            raise dbus.exceptions.DBusException("no pairing",
                                                name="org.bluez.Error.DoesNotExist")
        attempt.finish(False, "org.bluez.Error.AuthenticationCanceled")

    @dbus.service.method(PROPS, in_signature="ss", out_signature="v")
    def Get(self, iface, name):
        return self.props[name]

    @dbus.service.method(PROPS, in_signature="s", out_signature="a{sv}")
    def GetAll(self, iface):
        return self.props

    @dbus.service.signal(PROPS, signature="sa{sv}as")
    def PropertiesChanged(self, iface, changed, invalidated):
        pass


class Adapter(dbus.service.Object):
    def __init__(self, fake, path, address):
        super().__init__(fake.bus, path)
        self.fake = fake
        self.props = {"Address": dbus.String(address), "Powered": dbus.Boolean(True),
                      "Name": dbus.String("fake"), "Alias": dbus.String("fake"),
                      "Pairable": dbus.Boolean(True), "Discoverable": dbus.Boolean(False)}

    def interfaces(self):
        return {ADAPTER: self.props, GATT_MGR: {}, ADV_MGR: {
            "ActiveInstances": dbus.Byte(len(self.fake.adverts)),
            "SupportedInstances": dbus.Byte(4)}}

    def set_powered(self, on):
        self.props["Powered"] = dbus.Boolean(on)
        if not on:  # bluetoothd drops the advertising instances when powered off
            self.fake.adverts.clear()
        self.PropertiesChanged(ADAPTER, {"Powered": dbus.Boolean(on)}, [])

    @dbus.service.method(PROPS, in_signature="ss", out_signature="v")
    def Get(self, iface, name):
        return self.props[name]

    @dbus.service.method(PROPS, in_signature="s", out_signature="a{sv}")
    def GetAll(self, iface):
        return self.props if iface == ADAPTER else {}

    @dbus.service.method(PROPS, in_signature="ssv", out_signature="")
    def Set(self, iface, name, value):
        self.fake.calls.append(("Set", str(name), value))
        if iface != ADAPTER or name not in ("Pairable", "Discoverable", "Powered"):
            raise dbus.exceptions.DBusException("read-only",
                                                name="org.bluez.Error.NotSupported")
        if name == "Powered":
            self.set_powered(bool(value))
            return
        self.props[name] = dbus.Boolean(value)
        self.PropertiesChanged(ADAPTER, {name: dbus.Boolean(value)}, [])

    @dbus.service.signal(PROPS, signature="sa{sv}as")
    def PropertiesChanged(self, iface, changed, invalidated):
        pass

    @dbus.service.method(ADAPTER, in_signature="o", out_signature="")
    def RemoveDevice(self, path):
        self.fake.remove_device(str(path))

    @dbus.service.method(GATT_MGR, in_signature="oa{sv}", out_signature="", sender_keyword="sender",
                         async_callbacks=("ok", "fail"))
    def RegisterApplication(self, app, options, sender, ok, fail):
        self.fake.calls.append(("RegisterApplication", str(app)))
        if (sender, str(app)) in self.fake.apps:
            fail(dbus.exceptions.DBusException("already registered",
                                               name="org.bluez.Error.AlreadyExists"))
            return

        def got(objects):
            self.fake.apps[(sender, str(app))] = self.fake.parse_app(objects)
            ok()

        def failed(e):
            fail(dbus.exceptions.DBusException(f"GetManagedObjects failed: {e}",
                                               name="org.bluez.Error.Failed"))

        self.fake.bus.call_async(sender, str(app), OM, "GetManagedObjects", "", (),
                                 got, failed, timeout=CALLBACK_TIMEOUT_S)

    @dbus.service.method(GATT_MGR, in_signature="o", out_signature="", sender_keyword="sender")
    def UnregisterApplication(self, app, sender):
        self.fake.calls.append(("UnregisterApplication", str(app)))
        if self.fake.apps.pop((sender, str(app)), None) is None:
            raise dbus.exceptions.DBusException("not registered",
                                                name="org.bluez.Error.DoesNotExist")

    @dbus.service.method(ADV_MGR, in_signature="oa{sv}", out_signature="", sender_keyword="sender",
                         async_callbacks=("ok", "fail"))
    def RegisterAdvertisement(self, path, options, sender, ok, fail):
        self.fake.calls.append(("RegisterAdvertisement", str(path)))
        if not self.props["Powered"]:
            fail(dbus.exceptions.DBusException("Not Powered", name="org.bluez.Error.Failed"))
            return
        if (sender, str(path)) in self.fake.adverts:
            fail(dbus.exceptions.DBusException("already registered",
                                               name="org.bluez.Error.AlreadyExists"))
            return

        def got(props):
            self.fake.adverts[(sender, str(path))] = dict(props)
            self.fake.advert_log.append((time.monotonic(), dict(props)))
            ok()

        def failed(e):
            fail(dbus.exceptions.DBusException(f"GetAll failed: {e}",
                                               name="org.bluez.Error.Failed"))

        self.fake.bus.call_async(sender, str(path), PROPS, "GetAll", "s", (ADV,),
                                 got, failed, timeout=CALLBACK_TIMEOUT_S)

    @dbus.service.method(ADV_MGR, in_signature="o", out_signature="", sender_keyword="sender")
    def UnregisterAdvertisement(self, path, sender):
        self.fake.calls.append(("UnregisterAdvertisement", str(path)))
        if self.fake.adverts.pop((sender, str(path)), None) is None:
            raise dbus.exceptions.DBusException("not registered",
                                                name="org.bluez.Error.DoesNotExist")


class Root(dbus.service.Object):
    """/ (ObjectManager) and /org/bluez (AgentManager1) share this class."""

    def __init__(self, fake, path):
        super().__init__(fake.bus, path)
        self.fake = fake

    @dbus.service.method(OM, in_signature="", out_signature="a{oa{sa{sv}}}")
    def GetManagedObjects(self):
        out = {dbus.ObjectPath("/org/bluez"): {AGENT_MGR: {}}}
        if self.fake.adapter:
            out[dbus.ObjectPath(self.fake.adapter_path)] = self.fake.adapter.interfaces()
        for d in self.fake.devices.values():
            out[dbus.ObjectPath(d.path)] = {DEVICE: d.props}
        return out

    @dbus.service.signal(OM, signature="oa{sa{sv}}")
    def InterfacesAdded(self, path, interfaces):
        pass

    @dbus.service.signal(OM, signature="oas")
    def InterfacesRemoved(self, path, interfaces):
        pass

    @dbus.service.method(AGENT_MGR, in_signature="os", out_signature="", sender_keyword="sender")
    def RegisterAgent(self, path, capability, sender):
        self.fake.calls.append(("RegisterAgent", str(path), str(capability)))
        if self.fake.agent:
            raise dbus.exceptions.DBusException("exists", name="org.bluez.Error.AlreadyExists")
        self.fake.agent = (sender, str(path), str(capability))

    @dbus.service.method(AGENT_MGR, in_signature="o", out_signature="", sender_keyword="sender")
    def RequestDefaultAgent(self, path, sender):
        self.fake.calls.append(("RequestDefaultAgent", str(path)))
        if not self.fake.agent or self.fake.agent[:2] != (sender, str(path)):
            raise dbus.exceptions.DBusException("no agent", name="org.bluez.Error.DoesNotExist")
        self.fake.default_agent = True

    @dbus.service.method(AGENT_MGR, in_signature="o", out_signature="", sender_keyword="sender")
    def UnregisterAgent(self, path, sender):
        self.fake.calls.append(("UnregisterAgent", str(path)))
        self.fake.agent = None
        self.fake.default_agent = False


class FakeBluez:
    def __init__(self, bus, adapter_address="54:48:E6:8F:80:A5", with_adapter=True):
        self.bus = bus
        self.adapter_path = "/org/bluez/hci0"
        self.adapter_address = adapter_address
        self.root = Root(self, "/")
        self.agent_mgr = Root(self, "/org/bluez")
        self.adapter = None
        self.devices = {}
        self.owned = False
        self.reset()
        if with_adapter:
            self.add_adapter()
        self.signals = []
        self.bus.add_signal_receiver(self._on_props, signal_name="PropertiesChanged",
                                     dbus_interface=PROPS, path_keyword="path",
                                     sender_keyword="sender")

    # --- bluetoothd's life ---------------------------------------------------

    def reset(self):
        """What a restart of bluetoothd forgets."""
        self.apps = {}       # (sender, app path) -> {path: props}
        self.adverts = {}    # (sender, adv path) -> props
        self.advert_log = []  # (time, props): registrations and refreshes
        self.agent = None
        self.default_agent = False
        self.attempts = {}  # device path -> PairAttempt
        self.calls = []
        self.notifications = []  # (time, char path, bytes)

    def start(self):
        self.bus.request_name(BLUEZ, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
        self.owned = True

    def stop(self):
        """bluetoothd exits: its name goes, and so does every registration."""
        self.bus.release_name(BLUEZ)
        self.owned = False
        for d in self.devices.values():  # its links go down with it
            d.props["Connected"] = dbus.Boolean(False)
        self.reset()

    def add_adapter(self):
        self.adapter = Adapter(self, self.adapter_path, self.adapter_address)
        if self.owned:
            self.root.InterfacesAdded(self.adapter_path, self.adapter.interfaces())

    def remove_adapter(self):
        for path in list(self.devices):
            self.remove_device(path)
        self.adapter.remove_from_connection()
        self.adapter = None
        self.apps.clear()
        self.adverts.clear()
        self.root.InterfacesRemoved(self.adapter_path, [ADAPTER, GATT_MGR, ADV_MGR])

    # --- devices --------------------------------------------------------------

    def add_device(self, address, name="phone"):
        path = f"{self.adapter_path}/dev_{address.replace(':', '_')}"
        d = Device(self, path, address, name)
        self.devices[path] = d
        self.root.InterfacesAdded(path, {DEVICE: d.props})
        return path

    def remove_device(self, path):
        d = self.devices.pop(path)
        d.remove_from_connection()
        self.root.InterfacesRemoved(path, [DEVICE])

    def connect(self, path, on=True):
        self.devices[path].set("Connected", dbus.Boolean(on))

    def pair_async(self, path, io="KeyboardDisplay", phone=None,
                   smp_timeout=SMP_TIMEOUT_S):
        """The phone (I/O capability io) pairs with the BMS; returns a
        PairAttempt, done when the pairing succeeded or failed. phone(kind,
        passkey) is the user at the phone: for "confirm" it says whether
        they accept the number the phone shows (default: yes); for "enter"
        it returns the number they type (default: none, the pairing fails)."""
        attempt = PairAttempt(self, path, io, phone, smp_timeout)
        self.attempts[path] = attempt
        attempt.start()
        return attempt

    def pair(self, path, io="KeyboardDisplay", phone=None, timeout=10):
        """pair_async, pumped until it ends: True when bonded."""
        attempt = self.pair_async(path, io, phone)
        if not pump(lambda: attempt.done, timeout):
            raise AssertionError(f"pairing {path} never ended")
        return attempt.ok

    def agent_obj(self):
        sender, agent_path, _ = self.agent
        return self.bus.get_object(sender, agent_path, introspect=False)

    def bond(self, path, authenticated):
        d = self.devices[path]
        d.authenticated = authenticated
        d.set("Paired", dbus.Boolean(True))

    # --- discovery (the advertisement's Flags) -------------------------------------

    def advert_flags(self):
        """The Flags AD field BlueZ and the kernel put in the advertisement:
        Discoverable true gives 0x06 (LE General Discoverable, BR/EDR not
        supported; TESTING.md). Discoverable false gives 0x04, BR/EDR not
        supported (what the phone received in tests/kernel/guest_bluez.py:
        bluetoothd 5.66, kernel 6.1, an LE-only btvirt controller)."""
        if len(self.adverts) != 1:
            return None
        props = next(iter(self.adverts.values()))
        return 0x06 if bool(props.get("Discoverable", False)) else 0x04

    def discover(self):
        """A phone's plain StartDiscovery (general discovery): lists the BMS
        only while the advertisement says LE General Discoverable."""
        if not self.adverts:
            return False
        flags = self.advert_flags()
        return flags is not None and bool(flags & 0x02)

    # --- the GATT client (the phone) -------------------------------------------

    @staticmethod
    def parse_app(objects):
        return {str(path): {str(i): dict(p) for i, p in ifaces.items()}
                for path, ifaces in objects.items()}

    def app(self):
        if len(self.apps) != 1:
            raise AssertionError(f"{len(self.apps)} applications registered")
        (sender, _), objects = next(iter(self.apps.items()))
        return sender, objects

    def char(self, uuid):
        sender, objects = self.app()
        for path, ifaces in objects.items():
            if CHR in ifaces and str(ifaces[CHR]["UUID"]) == uuid:
                return sender, path, [str(f) for f in ifaces[CHR]["Flags"]]
        raise AssertionError(f"no characteristic {uuid}")

    def _link_ok(self, device, flags, op):
        """BlueZ's check of a characteristic's security flags for op (read
        or write): encrypt-* needs a bond, encrypt-authenticated-* and
        secure-* an authenticated key (all keys here are LE Secure
        Connections ones, as on kernel 6.1)."""
        d = self.devices.get(device)
        paired = d is not None and bool(d.props["Paired"])
        authenticated = paired and getattr(d, "authenticated", False)
        if f"encrypt-{op}" in flags and not paired:
            raise AttError("org.bluez.Error.NotAuthorized",
                           "insufficient encryption (ATT 0x0f)")
        if f"encrypt-authenticated-{op}" in flags or f"secure-{op}" in flags:
            if not paired:
                raise AttError("org.bluez.Error.NotAuthorized",
                               "insufficient authentication (ATT 0x05)")
            if not authenticated:
                # an unauthenticated (Just Works) key: TESTING.md saw ATT 0x0e
                raise AttError("org.bluez.Error.NotAuthorized",
                               "unauthenticated key refused (ATT 0x0e)")

    def read(self, uuid, device):
        sender, path, flags = self.char(uuid)
        if not any(f in flags for f in ("read", "encrypt-read", "encrypt-authenticated-read",
                                         "secure-read")):
            raise AttError("org.bluez.Error.NotPermitted", "read not permitted (ATT 0x02)")
        self._link_ok(device, flags, "read")
        obj = self.bus.get_object(sender, path, introspect=False)
        try:
            v = obj.ReadValue(dbus.Dictionary({"device": dbus.ObjectPath(device)}, signature="sv"),
                              dbus_interface=CHR,
                              timeout=CALLBACK_TIMEOUT_S)
        except dbus.exceptions.DBusException as e:
            raise AttError(e.get_dbus_name(), e.get_dbus_message()) from e
        return bytes(v)

    def write(self, uuid, device, value):
        sender, path, flags = self.char(uuid)
        if not any(f in flags for f in ("write", "encrypt-write", "encrypt-authenticated-write",
                                         "secure-write", "write-without-response")):
            raise AttError("org.bluez.Error.NotPermitted", "write not permitted (ATT 0x03)")
        self._link_ok(device, flags, "write")
        obj = self.bus.get_object(sender, path, introspect=False)
        try:
            obj.WriteValue(dbus.Array(value, signature="y"),
                           dbus.Dictionary({"device": dbus.ObjectPath(device),
                                            "type": "request"}, signature="sv"),
                           dbus_interface=CHR, timeout=CALLBACK_TIMEOUT_S)
        except dbus.exceptions.DBusException as e:
            raise AttError(e.get_dbus_name(), e.get_dbus_message()) from e

    def write_async(self, uuid, device, value, done):
        """The phone's write without waiting for the answer: done(None) on
        success, done(AttError) on a refusal, from the GLib loop."""
        sender, path, flags = self.char(uuid)
        self._link_ok(device, flags, "write")
        obj = self.bus.get_object(sender, path, introspect=False)
        obj.WriteValue(dbus.Array(value, signature="y"),
                       dbus.Dictionary({"device": dbus.ObjectPath(device),
                                        "type": "request"}, signature="sv"),
                       dbus_interface=CHR, timeout=CALLBACK_TIMEOUT_S,
                       reply_handler=lambda: done(None),
                       error_handler=lambda e: done(AttError(e.get_dbus_name(),
                                                             e.get_dbus_message())))

    def start_notify(self, uuid, device):
        sender, path, flags = self.char(uuid)
        if "notify" not in flags:
            raise AttError("org.bluez.Error.NotSupported", "no notify")
        # the CCC descriptor inherits the characteristic's read security
        self._link_ok(device, flags, "read")
        obj = self.bus.get_object(sender, path, introspect=False)
        obj.StartNotify(dbus_interface=CHR, timeout=CALLBACK_TIMEOUT_S)
        return path

    def _on_props(self, iface, changed, invalidated, path=None, sender=None):
        now = time.monotonic()
        if iface == CHR and "Value" in changed:
            self.notifications.append((now, str(path), bytes(changed["Value"])))
        elif iface == ADV:
            # like bluetoothd's proxy: a registered advertisement is refreshed
            key = (sender, str(path))
            if key in self.adverts:
                self.adverts[key].update(changed)
                self.advert_log.append((now, dict(self.adverts[key])))
        self.signals.append((now, str(iface), str(path), dict(changed)))

    def service_data(self, uuid="0000fcd2-0000-1000-8000-00805f9b34fb"):
        if len(self.adverts) != 1:
            raise AssertionError(f"{len(self.adverts)} advertisements registered")
        props = next(iter(self.adverts.values()))
        sd = props.get("ServiceData", {})
        return bytes(sd[uuid]) if uuid in sd else None


class PairAttempt:
    """One pairing from the phone's side, as the kernel's SMP and bluetoothd
    run it (module docstring; docs/testing.md)."""

    def __init__(self, fake, path, io, phone, smp_timeout):
        self.fake = fake
        self.path = path
        self.io = io
        self.phone = phone or (lambda kind, passkey: True if kind == "confirm" else None)
        self.smp_timeout = smp_timeout
        self.done = False
        self.ok = False
        self.error = None
        self.model = None
        self.passkey = None
        self.agent_calls = []  # what the peripheral's agent was asked
        self.timer = None

    def finish(self, ok, error=None):
        if self.done:
            return
        self.done = True
        self.ok = ok
        self.error = error
        if self.timer is not None:
            GLib.source_remove(self.timer)
            self.timer = None

    def start(self):
        f = self.fake
        adapter = f.adapter
        if adapter is None or not bool(adapter.props["Powered"]):
            self.finish(False, "org.bluez.Error.NotReady")
            return
        if not bool(adapter.props["Pairable"]):
            # refused before any agent call
            self.finish(False, "org.bluez.Error.AuthenticationFailed")
            return
        cap = f.agent[2] if f.agent and f.default_agent else "NoInputNoOutput"
        if self.io == "DisplayOnly" and cap != "NoInputNoOutput":
            self.finish(False, "org.bluez.Error.AuthenticationFailed")  # auth requirements
            return
        # the kernel draws the passkey
        self.passkey = int.from_bytes(os.urandom(4), "little") % 1000000
        if self.io == "NoInputNoOutput" or cap == "NoInputNoOutput":
            self.model = "just-works"
            if not (f.agent and f.default_agent):
                f.bond(self.path, authenticated=False)
                self.finish(True)
                return
            self._ask("RequestAuthorization", "o", (dbus.ObjectPath(self.path),),
                      lambda: self._bond(False))
        elif self.io == "KeyboardOnly" or cap in ("KeyboardOnly", "DisplayOnly"):
            self.model = "passkey"
            self.agent_calls.append(("DisplayPasskey", self.passkey))
            # the reply does not matter: the number is only shown
            f.agent_obj().DisplayPasskey(dbus.ObjectPath(self.path), dbus.UInt32(self.passkey),
                                         dbus.UInt16(0), dbus_interface=AGENT,
                                         reply_handler=lambda: None,
                                         error_handler=lambda e: None,
                                         timeout=AGENT_CALL_TIMEOUT_S)
            self._arm_timeout()
            GLib.timeout_add(50, self._typed)
        else:
            self.model = "numeric-comparison"
            self._ask("RequestConfirmation", "ou",
                      (dbus.ObjectPath(self.path), dbus.UInt32(self.passkey)),
                      self._confirmed_peripheral)

    def _arm_timeout(self):
        self.timer = GLib.timeout_add(int(self.smp_timeout * 1000), self._smp_timeout)

    def _smp_timeout(self):
        self.timer = None
        if not self.done:
            self.agent_calls.append(("Cancel",))
            self.fake.agent_obj().Cancel(dbus_interface=AGENT, reply_handler=lambda: None,
                                         error_handler=lambda e: None)
            self.finish(False, "org.bluez.Error.AuthenticationTimeout")
        return False

    def _ask(self, method, sig, args, on_ok):
        self.agent_calls.append((method,) + tuple(args[1:]))
        self._arm_timeout()

        def ok(*_):
            if not self.done:
                on_ok()

        def fail(e):
            if not self.done:
                self.finish(False, "org.bluez.Error.AuthenticationFailed")

        getattr(self.fake.agent_obj(), method)(*args, dbus_interface=AGENT,
                                               reply_handler=ok, error_handler=fail,
                                               timeout=AGENT_CALL_TIMEOUT_S)

    def _confirmed_peripheral(self):
        # the phone shows the same number; its user accepts or not
        if self.phone("confirm", self.passkey):
            self._bond(True)
        else:
            self.finish(False, "org.bluez.Error.AuthenticationFailed")

    def _typed(self):
        if self.done:
            return False
        typed = self.phone("enter", self.passkey)
        if typed is None:
            return True  # nothing typed yet: ask again, until the SMP timeout
        if int(typed) == self.passkey:
            self._bond(True)
        else:
            self.finish(False, "org.bluez.Error.AuthenticationFailed")
        return False

    def _bond(self, authenticated):
        self.fake.bond(self.path, authenticated)
        self.finish(True)
