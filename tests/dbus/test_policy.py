#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The D-Bus policy and the running daemon on a private system bus (TAP).

A private dbus-daemon whose configuration is deny-by-default like Debian's
system.conf and <include>s dbus/org.smallbms.conf; the real smallbmsd on the
integration rig (simulator on a pty, fake IIO tree, dry-run outputs) with
DBUS_SYSTEM_BUS_ADDRESS pointing at it, and a polkit stand-in
(python3-dbusmock's polkitd template) on the same bus. Clients run as other
users (fork, setgroups, setgid, setuid to nobody): anyone may read
everything; every write is decided by polkit (the action the stand-in is
told to allow, SetAllowed), a refused one gets AccessDenied and changes
nothing; membership of the group smallbms (the daemon's hardware group)
grants nothing; root writes without polkit; polkit absent: refused. The
group smallbms is made to exist only in this test's private mount
namespace (a copy of /etc/group bound over it).

Usage: test_policy.py DBUS_DIR   (the source tree's dbus/ directory)
Needs root (setuid, bind mounts); skipped otherwise.
"""

import grp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

DBUS_DIR = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "dbus")
NOBODY = 65534
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
NAME = "org.smallbms"
PATHS = {
    "org.smallbms.Bms1": "/org/smallbms",
    "org.smallbms.Settings1": "/org/smallbms/settings",
    "org.smallbms.History1": "/org/smallbms/history",
    "org.smallbms.Battery1": "/org/smallbms/battery/1",
    "org.smallbms.Firmware1": "/org/smallbms",
}

BASE_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%(socket)s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
  <policy user="root">
    <allow own="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
  <include>%(policy)s</include>
</busconfig>
"""


# ---- the private world --------------------------------------------------

def enter_namespace():
    """Re-runs this script in a private mount namespace (once)."""
    if os.environ.get("SMALLBMS_POLICY_NS") == "1":
        return
    env = dict(os.environ, SMALLBMS_POLICY_NS="1")
    try:
        os.execvpe("unshare", ["unshare", "-m", "--propagation", "private",
                               sys.executable] + sys.argv, env)
    except OSError as e:
        print("1..0 # SKIP unshare: %s" % e)
        sys.exit(0)


def group_with_smallbms(tmp):
    """/etc/group plus smallbms (no members) bound over /etc/group; its gid."""
    try:
        return grp.getgrnam("smallbms").gr_gid
    except KeyError:
        pass
    used = {g.gr_gid for g in grp.getgrall()}
    gid = next(g for g in range(60999, 50000, -1) if g not in used)
    path = os.path.join(tmp, "group")
    with open("/etc/group") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        text += "\n"
    with open(path, "w") as f:
        f.write(text + "smallbms:x:%d:\n" % gid)
    os.chmod(path, 0o644)
    subprocess.run(["mount", "--bind", path, "/etc/group"], check=True)
    return gid


def world_skip_reason():
    """This script again in a private mount namespace (enter_namespace);
    None when a World can run there, else why the test must skip."""
    enter_namespace()
    try:
        import dbus  # noqa: F401
    except ImportError:
        return "python3-dbus missing"
    why = harness.namespace_usable()
    if why:
        return "private mount namespace not permitted: %s" % why
    return None


def run_world_cases(w, cases, funcs, more=0):
    """Starts World w and runs funcs["case_" + name](w) for each of cases
    as TAP lines, after the plan (with room for `more` lines the caller
    prints after). A failed start fails every case left. Returns (number
    of TAP lines printed, failures)."""
    print("1..%d" % (len(cases) + more), flush=True)
    failed = 0
    n = 0
    try:
        w.start()
        for name in cases:
            n += 1
            try:
                funcs["case_" + name](w)
                print("ok %d - %s" % (n, name), flush=True)
            except Exception as e:
                failed += 1
                print("not ok %d - %s" % (n, name))
                for line in ("%s: %s\n%s" % (type(e).__name__, e,
                                             w.rig.diagnostics())).splitlines():
                    print("# " + line)
    except Exception as e:
        for name in cases[n:]:
            n += 1
            failed += 1
            print("not ok %d - %s # setup: %s" % (n, name, e))
    finally:
        w.close()
    return n, failed


def bench_world(what, prefix):
    """A benchmark's private world, as root: this script again in a private
    mount namespace, group smallbms, a private dbus-daemon with the
    project's policy. (tmp directory, Bus), or None once what is missing
    has been said on stdout."""
    if os.geteuid() != 0:
        print("%s: needs root (a private bus and mount namespace)" % what)
        return None
    enter_namespace()
    why = harness.namespace_usable()
    if why:
        print("%s: needs a private mount namespace: %s" % (what, why))
        return None
    tmp = tempfile.mkdtemp(prefix=prefix)
    os.chmod(tmp, 0o755)
    group_with_smallbms(tmp)
    return tmp, Bus(tmp)


class Bus:
    def __init__(self, tmp):
        self.socket = os.path.join(tmp, "system_bus_socket")
        conf = os.path.join(tmp, "system.conf")
        with open(conf, "w") as f:
            f.write(BASE_CONF % {"socket": self.socket,
                                 "policy": os.path.join(DBUS_DIR, "org.smallbms.conf")})
        self.log = open(os.path.join(tmp, "dbus-daemon.log"), "w")
        self.proc = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork",
                                      "--print-address=1"],
                                     stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("unix:"):
            raise harness.Fail("dbus-daemon did not start: %r" % line)
        self.address = "unix:path=" + self.socket
        os.chmod(self.socket, 0o666)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc.stdout.close()
        self.log.close()


PK_NAME = "org.freedesktop.PolicyKit1"
PK_PATH = "/org/freedesktop/PolicyKit1/Authority"
SETTINGS_ACTION = "org.smallbms.change-settings"
BLUETOOTH_ACTION = "org.smallbms.bluetooth"
BT_PATH = "/org/smallbms/bluetooth"
CONTROL_ACTION = "org.smallbms.control"


class Polkit:
    """python3-dbusmock's polkitd template on the private bus: allows the
    action ids given to allow() and nothing else."""

    def __init__(self, tmp, address):
        self.address = address
        self.log = open(os.path.join(tmp, "polkitd-mock.log"), "a")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
        self.proc = subprocess.Popen([sys.executable, "-m", "dbusmock", "--system",
                                      "--template", "polkitd"],
                                     env=env, stdout=self.log, stderr=self.log)
        import dbus
        deadline = time.monotonic() + 30
        while True:
            try:
                bus = dbus.bus.BusConnection(address)
                up = bus.name_has_owner(PK_NAME)
                bus.close()
                if up:
                    break
            except dbus.exceptions.DBusException:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise harness.Fail("the polkitd stand-in did not start")
            time.sleep(0.1)

    def allow(self, actions):
        import dbus
        bus = dbus.bus.BusConnection(self.address)
        mock = dbus.Interface(bus.get_object(PK_NAME, PK_PATH, introspect=False),
                              "org.freedesktop.DBus.Mock")
        mock.AllowUnknown(False)
        mock.SetAllowed(dbus.Array(actions, signature="s"))
        bus.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


class ChallengingPolkit(Polkit):
    """A polkit stand-in (plain dbusmock object) that wants a password: it
    allows only a call that allows interactive authorization (flags bit 0,
    as an agent would have asked), and answers is_challenge otherwise."""

    def __init__(self, tmp, address):
        import dbus
        self.address = address
        self.log = open(os.path.join(tmp, "polkitd-challenge.log"), "a")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
        self.proc = subprocess.Popen([sys.executable, "-m", "dbusmock", "--system", PK_NAME,
                                      PK_PATH, "org.freedesktop.PolicyKit1.Authority"],
                                     env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while True:
            try:
                bus = dbus.bus.BusConnection(address)
                up = bus.name_has_owner(PK_NAME)
                if up:
                    mock = dbus.Interface(bus.get_object(PK_NAME, PK_PATH, introspect=False),
                                          "org.freedesktop.DBus.Mock")
                    mock.AddMethod("org.freedesktop.PolicyKit1.Authority",
                                   "CheckAuthorization", "(sa{sv})sa{ss}us", "(bba{ss})",
                                   "ret = (bool(args[3] & 1), not (args[3] & 1), {})")
                bus.close()
                if up:
                    break
            except dbus.exceptions.DBusException:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise harness.Fail("the challenging polkit stand-in did not start")
            time.sleep(0.1)


def have_dbusmock():
    try:
        import dbusmock  # noqa: F401
        return True
    except ImportError:
        return False


class BusRig(harness.Rig):
    """The integration rig whose daemon talks to our private bus."""
    bus_address = "unix:path=/nonexistent"

    def env(self):
        e = super().env()
        e["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus_address
        return e


# ---- clients ------------------------------------------------------------

def attempt(fn):
    import dbus
    try:
        return ["ok", jsonable(fn())]
    except dbus.exceptions.DBusException as e:
        return ["error", e.get_dbus_name(), e.get_dbus_message()]


def jsonable(v):
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    return str(v)


def as_user(fn, uid, gid, groups):
    """fn() in a child running as uid/gid/groups; its JSON-able result."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            res = {"ok": True, "value": fn()}
        except BaseException as e:  # everything goes back to the parent
            res = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    res = json.loads(data.decode())
    if not res["ok"]:
        raise harness.Fail("client failed: " + res["error"])
    return res["value"]


def client_ops(address, writes):
    """Every read, then the writes (as given), on a new connection."""
    import dbus
    bus = dbus.bus.BusConnection(address)

    def obj(path):
        return bus.get_object(NAME, path, introspect=False)

    def props(path):
        return dbus.Interface(obj(path), "org.freedesktop.DBus.Properties")

    out = {}
    for iface, path in PATHS.items():
        out["GetAll " + iface] = attempt(lambda: len(props(path).GetAll(iface)))
    out["Get UvTripMv"] = attempt(
        lambda: props(PATHS["org.smallbms.Settings1"]).Get("org.smallbms.Settings1", "UvTripMv"))
    out["Get LoadDisconnect"] = attempt(
        lambda: props("/org/smallbms").Get("org.smallbms.Bms1", "LoadDisconnect")[0])
    out["GetManagedObjects"] = attempt(lambda: sorted(dbus.Interface(
        obj("/org/smallbms"), "org.freedesktop.DBus.ObjectManager").GetManagedObjects().keys()))
    out["Introspect"] = attempt(lambda: len(dbus.Interface(
        obj("/org/smallbms"), "org.freedesktop.DBus.Introspectable").Introspect()) > 0)
    out["Ping"] = attempt(lambda: dbus.Interface(
        obj("/org/smallbms"), "org.freedesktop.DBus.Peer").Ping())
    for name, call in writes:
        out[name] = attempt(lambda: call(bus, obj, props))
    return out


def write_calls():
    import dbus
    s = PATHS["org.smallbms.Settings1"]
    return [
        ("Set UvTripMv", lambda bus, obj, props: props(s).Set(
            "org.smallbms.Settings1", "UvTripMv", dbus.Int32(2850, variant_level=1))),
        ("Set UvTripMv out of bounds", lambda bus, obj, props: props(s).Set(
            "org.smallbms.Settings1", "UvTripMv", dbus.Int32(1, variant_level=1))),
        ("SetMany", lambda bus, obj, props: dbus.Interface(obj(s), "org.smallbms.Settings1")
            .SetMany(dbus.Dictionary({"uv_trip_mv": dbus.Int32(2860)}, signature="si"))),
        ("List", lambda bus, obj, props: len(dbus.Interface(
            obj(s), "org.smallbms.Settings1").List())),
        ("SetSoc", lambda bus, obj, props: dbus.Interface(
            obj("/org/smallbms"), "org.smallbms.Bms1").SetSoc(dbus.Double(50.0))),
        ("Identify", lambda bus, obj, props: dbus.Interface(
            obj("/org/smallbms"), "org.smallbms.Bms1").Identify(dbus.UInt32(1))),
        ("Battery1.Identify", lambda bus, obj, props: dbus.Interface(
            obj("/org/smallbms/battery/1"), "org.smallbms.Battery1").Identify()),
        ("History1.Reset", lambda bus, obj, props: dbus.Interface(
            obj("/org/smallbms/history"), "org.smallbms.History1").Reset()),
        ("GetBindKey", lambda bus, obj, props: len(dbus.Interface(
            obj(BT_PATH), "org.smallbms.Bluetooth1").GetBindKey())),
        ("ClosePairing", lambda bus, obj, props: dbus.Interface(
            obj(BT_PATH), "org.smallbms.Bluetooth1").ClosePairing()),
        ("Set Encrypted", lambda bus, obj, props: props(BT_PATH).Set(
            "org.smallbms.Bluetooth1", "Encrypted", dbus.Boolean(False, variant_level=1))),
        ("RequestName", lambda bus, obj, props: bus.request_name(NAME)),
    ]


def more_writes():
    """Writes whose success would upset the later cases: tried refused only."""
    import dbus
    s = PATHS["org.smallbms.Settings1"]

    def call(path, iface, member):
        return lambda bus, obj, props: getattr(dbus.Interface(obj(path), iface), member)()
    return [
        ("ResetToDefaults", call(s, "org.smallbms.Settings1", "ResetToDefaults")),
        ("ResetAll", call(s, "org.smallbms.Settings1", "ResetAll")),
        ("Synchronise", call("/org/smallbms", "org.smallbms.Bms1", "Synchronise")),
        ("AcceptBank", call("/org/smallbms", "org.smallbms.Bms1", "AcceptBank")),
    ]


MORE_SETTINGS = ["ResetToDefaults", "ResetAll"]
MORE_CONTROL = ["Synchronise", "AcceptBank"]


def root_get(address, path, iface, prop):
    import dbus
    bus = dbus.bus.BusConnection(address)
    p = dbus.Interface(bus.get_object(NAME, path, introspect=False),
                       "org.freedesktop.DBus.Properties")
    v = jsonable(p.Get(iface, prop))
    bus.close()
    return v


def wait_named(address, timeout=30):
    import dbus
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            bus = dbus.bus.BusConnection(address)
            ok = bus.name_has_owner(NAME)
            bus.close()
            if ok:
                return True
        except dbus.exceptions.DBusException:
            pass
        time.sleep(0.1)
    return False


# ---- the cases ----------------------------------------------------------

class World:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="smallbms-dbus-")
        os.chmod(self.tmp, 0o755)
        self.gid = group_with_smallbms(self.tmp)
        self.bus = None
        self.rig = None
        self.polkit = None

    def start(self, bus_first=True):
        if bus_first:
            self.bus = Bus(self.tmp)
            self.polkit = Polkit(self.tmp, self.bus.address)
        self.rig = BusRig("dbus", series=1, parallel=2, start_sim=False)
        self.rig.bus_address = (self.bus.address if self.bus
                                else "unix:path=" + os.path.join(self.tmp, "system_bus_socket"))
        self.rig.start_sim()
        self.rig.start_daemon()
        self.rig.wait_started()

    def close(self):
        if self.rig:
            try:
                self.rig.stop_daemons_checked()
            finally:
                self.rig.close()
        if self.polkit:
            self.polkit.close()
        if self.bus:
            self.bus.close()


def expect_denied(res, names):
    for n in names:
        harness.check(res[n][0] == "error" and res[n][1] == ACCESS_DENIED,
                      "%s: expected AccessDenied, got %r" % (n, res[n]))


def expect_reads(res):
    for iface in PATHS:
        harness.check(res["GetAll " + iface][0] == "ok" and res["GetAll " + iface][1] > 0,
                      "GetAll %s refused: %r" % (iface, res["GetAll " + iface]))
    for n in ("Get UvTripMv", "Get LoadDisconnect", "GetManagedObjects", "Introspect", "Ping",
              "List"):
        harness.check(res[n][0] == "ok", "%s refused: %r" % (n, res[n]))
    harness.check("/org/smallbms/battery/2" in res["GetManagedObjects"][1],
                  "GetManagedObjects: %r" % (res["GetManagedObjects"],))


WRITES = ["Set UvTripMv", "Set UvTripMv out of bounds", "SetMany", "SetSoc",
          "Identify", "Battery1.Identify", "History1.Reset"]


SETTINGS_WRITES = ["Set UvTripMv", "Set UvTripMv out of bounds", "SetMany"]
CONTROL_WRITES = ["SetSoc", "Identify", "Battery1.Identify", "History1.Reset"]
BLUETOOTH_WRITES = ["GetBindKey", "ClosePairing", "Set Encrypted"]


def expect_refused_by_polkit(res, names, why):
    expect_denied(res, names)
    for n in names:
        harness.check(why in res[n][2], "%s: refused without saying why (%r): %r"
                      % (n, why, res[n]))


def settings_value(w, prop="UvTripMv"):
    return root_get(w.bus.address, PATHS["org.smallbms.Settings1"], "org.smallbms.Settings1",
                    prop)


def soc(w):
    return root_get(w.bus.address, "/org/smallbms", "org.smallbms.Bms1", "SocCpct")


def encrypted(w):
    return bool(root_get(w.bus.address, BT_PATH, "org.smallbms.Bluetooth1", "Encrypted"))


def set_encrypted(address, on):
    import dbus
    bus = dbus.bus.BusConnection(address)
    p = dbus.Interface(bus.get_object(NAME, BT_PATH, introspect=False),
                       "org.freedesktop.DBus.Properties")
    value = on if isinstance(on, dbus.String) else dbus.Boolean(on, variant_level=1)
    res = attempt(lambda: p.Set("org.smallbms.Bluetooth1", "Encrypted", value))
    bus.close()
    return res


def refused_write_ms(address, n=20):
    """Median time of SetSoc(101 %): authorized, then refused as out of
    range, nothing saved: the authorization's round trips (the caller's
    user from the bus daemon, then polkit unless root) and one dispatch."""
    import dbus
    bus = dbus.bus.BusConnection(address)
    bms = dbus.Interface(bus.get_object(NAME, "/org/smallbms", introspect=False),
                         "org.smallbms.Bms1")
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        res = attempt(lambda: bms.SetSoc(dbus.Double(101.0)))
        times.append(time.monotonic() - t0)
        if res[0] != "error" or res[1] != "org.smallbms.Error.InvalidValue":
            bus.close()
            return ["unexpected", res]
    bus.close()
    return sorted(times)[n // 2] * 1000


def case_reader_denied(w):
    """Anyone reads; polkit allowing nothing, every write is refused."""
    addr = w.bus.address
    w.polkit.allow([])
    soc_before = soc(w)
    known_before = root_get(addr, "/org/smallbms", "org.smallbms.Bms1", "SocKnown")
    ov_before = settings_value(w, "OvDelayMs")
    res = as_user(lambda: client_ops(addr, write_calls() + more_writes()), NOBODY, NOBODY, [])
    expect_reads(res)
    harness.check(res["Get UvTripMv"][1] == 2800, "UvTripMv %r" % (res["Get UvTripMv"],))
    expect_refused_by_polkit(res, SETTINGS_WRITES + MORE_SETTINGS,
                             "not authorized for " + SETTINGS_ACTION)
    expect_refused_by_polkit(res, CONTROL_WRITES + MORE_CONTROL,
                             "not authorized for " + CONTROL_ACTION)
    harness.check(root_get(addr, "/org/smallbms", "org.smallbms.Bms1", "SocKnown")
                  == known_before, "a refused AcceptBank or Synchronise changed SocKnown")
    harness.check(settings_value(w, "OvDelayMs") == ov_before, "a refused reset changed OvDelayMs")
    expect_refused_by_polkit(res, BLUETOOTH_WRITES, "not authorized for " + BLUETOOTH_ACTION)
    expect_denied(res, ["RequestName"])
    harness.check(settings_value(w) == 2800, "a refused Set changed UvTripMv")
    harness.check(soc(w) == soc_before, "a refused SetSoc changed SocCpct")
    harness.check(encrypted(w) is True, "a refused Set changed Encrypted")


def case_hardware_group_grants_nothing(w):
    """The group smallbms is the daemon's hardware group: no write right."""
    addr = w.bus.address
    w.polkit.allow([])
    res = as_user(lambda: client_ops(addr, write_calls()), NOBODY, NOBODY, [w.gid])
    expect_reads(res)
    expect_refused_by_polkit(res, SETTINGS_WRITES + CONTROL_WRITES, "not authorized for")
    harness.check(settings_value(w) == 2800, "a refused Set changed UvTripMv")


def case_settings_allowed(w):
    """polkit allows change-settings only: settings change, control refused."""
    addr = w.bus.address
    w.polkit.allow([SETTINGS_ACTION])
    soc_before = soc(w)
    res = as_user(lambda: client_ops(addr, write_calls()), NOBODY, NOBODY, [])
    for n in ("Set UvTripMv", "SetMany"):
        harness.check(res[n][0] == "ok", "%s with %s allowed: %r" % (n, SETTINGS_ACTION, res[n]))
    bad = res["Set UvTripMv out of bounds"]
    harness.check(bad[0] == "error" and bad[1] == "org.smallbms.Error.InvalidSetting"
                  and "uv_trip_mv=1" in bad[2], "out of bounds: %r" % (bad,))
    expect_refused_by_polkit(res, CONTROL_WRITES + BLUETOOTH_WRITES, "not authorized for ")
    expect_denied(res, ["RequestName"])  # only root and the user smallbms own the name
    harness.check(settings_value(w) == 2860, "UvTripMv after SetMany")
    harness.check(soc(w) == soc_before, "a refused SetSoc changed SocCpct")
    # saved at once: the record on disk has it
    show = w.rig.run_tool("--show-state")
    harness.check("uv_trip_mv = 2860" in show.stdout, "state record: %s" % show.stdout[-600:])
    d = w.rig.daemon
    harness.check(d.wait(r"settings changed: uv_trip_mv=2860", timeout=5)[0] is not None,
                  "no 'settings changed' event")


def case_control_allowed(w):
    """polkit allows control only: SetSoc, Identify, History1.Reset; settings refused."""
    addr = w.bus.address
    w.polkit.allow([CONTROL_ACTION])
    res = as_user(lambda: client_ops(addr, write_calls()), NOBODY, NOBODY, [])
    for n in CONTROL_WRITES:
        harness.check(res[n][0] == "ok", "%s with %s allowed: %r" % (n, CONTROL_ACTION, res[n]))
    expect_refused_by_polkit(res, SETTINGS_WRITES + BLUETOOTH_WRITES, "not authorized for ")
    harness.check(settings_value(w) == 2860, "a refused Set changed UvTripMv")
    harness.check(soc(w) == 5000, "SocCpct after SetSoc(50)")
    # figures: the asynchronous authorization chain, nobody and root
    ms = as_user(lambda: refused_write_ms(addr), NOBODY, NOBODY, [])
    root_ms = refused_write_ms(addr)
    harness.check(isinstance(ms, float) and isinstance(root_ms, float),
                  "SetSoc(101) not refused as InvalidValue after authorization: %r %r"
                  % (ms, root_ms))
    print("# a write authorized and refused: %.1f ms as nobody (user + polkit), "
          "%.1f ms as root (user only), median of 20" % (ms, root_ms))


def case_bluetooth_allowed(w):
    """polkit allows bluetooth only: the bind key and the pairing window."""
    addr = w.bus.address
    w.polkit.allow([BLUETOOTH_ACTION])
    res = as_user(lambda: client_ops(addr, write_calls()), NOBODY, NOBODY, [])
    harness.check(res["GetBindKey"] == ["ok", 32], "GetBindKey: %r" % (res["GetBindKey"],))
    harness.check(res["ClosePairing"][0] == "ok", "ClosePairing: %r" % (res["ClosePairing"],))
    harness.check(res["Set Encrypted"][0] == "ok", "Set Encrypted: %r" % (res["Set Encrypted"],))
    harness.check(encrypted(w) is False, "Encrypted after a Set to false allowed by polkit")
    expect_refused_by_polkit(res, SETTINGS_WRITES + CONTROL_WRITES, "not authorized for ")
    back = as_user(lambda: set_encrypted(addr, True), NOBODY, NOBODY, [])
    harness.check(back[0] == "ok" and encrypted(w) is True, "Set Encrypted true: %r" % (back,))


def hanging_set(address, value):
    import dbus
    bus = dbus.bus.BusConnection(address)
    st = dbus.Interface(bus.get_object(NAME, PATHS["org.smallbms.Settings1"], introspect=False),
                        "org.smallbms.Settings1")
    return attempt(lambda: st.SetMany(dbus.Dictionary({"uv_trip_mv": dbus.Int32(value)},
                                                      signature="si"), timeout=60))


def case_polkit_slow(w):
    """While polkit takes its time, the daemon answers others (the question
    does not block its loop) and the write waits; once polkit allows it,
    the write is done."""
    import dbus
    addr = w.bus.address
    w.polkit.allow([SETTINGS_ACTION])
    pk = dbus.bus.BusConnection(addr)
    mock = dbus.Interface(pk.get_object(PK_NAME, PK_PATH, introspect=False),
                          "org.freedesktop.DBus.Mock")
    mock.SimulateHang(True)
    r, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            res = hanging_set(addr, 2870)
        except BaseException as e:  # noqa: BLE001 - back to the parent
            res = ["exception", str(e)]
        os.write(wfd, json.dumps(res).encode())
        os._exit(0)
    os.close(wfd)
    try:
        deadline = time.monotonic() + 20
        while not mock.HaveHangingCalls() and time.monotonic() < deadline:
            time.sleep(0.05)
        harness.check(bool(mock.HaveHangingCalls()), "the daemon never asked polkit")
        t0 = time.monotonic()
        v = settings_value(w)
        took = time.monotonic() - t0
        harness.check(v == 2860, "UvTripMv changed before polkit answered: %r" % v)
        harness.check(took < 2.0, "a read took %.2f s while polkit was asked" % took)
        print("# read answered in %.3f s while a write waited for polkit" % took)
        mock.SimulateHang(False)
        mock.ReleaseHangingCalls()
        data = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
        pk.close()
    res = json.loads(data.decode())
    harness.check(res[0] == "ok", "the write after polkit allowed it: %r" % (res,))
    harness.check(settings_value(w) == 2870, "UvTripMv after the slow polkit allowed it")


def case_polkit_absent(w):
    """No polkit on the bus: every write is refused (fail safe), reads work."""
    addr = w.bus.address
    w.polkit.close()
    w.polkit = None
    before = settings_value(w)
    res = as_user(lambda: client_ops(addr, write_calls() + more_writes()), NOBODY, NOBODY, [])
    expect_reads(res)
    expect_refused_by_polkit(res, SETTINGS_WRITES + CONTROL_WRITES + BLUETOOTH_WRITES
                             + MORE_SETTINGS + MORE_CONTROL, "polkit")
    harness.check(settings_value(w) == before, "a refused Set changed UvTripMv")


def case_interactive(w):
    """polkit wants a password: a call that does not allow interactive
    authorization gets InteractiveAuthorizationRequired and changes nothing;
    smallbmsctl allows it (as systemctl does) and so is allowed here."""
    addr = w.bus.address
    if w.polkit:
        w.polkit.close()
    w.polkit = ChallengingPolkit(w.tmp, addr)
    before = settings_value(w)
    res = as_user(lambda: hanging_set(addr, 2890), NOBODY, NOBODY, [])
    harness.check(res[0] == "error" and
                  res[1] == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
                  and SETTINGS_ACTION in res[2], "SetMany without interaction: %r" % (res,))
    harness.check(settings_value(w) == before, "a refused SetMany changed UvTripMv")
    ctl = os.environ.get("SMALLBMSCTL", "")
    if not ctl or not shutil.which("setpriv"):
        print("# smallbmsctl part skipped: SMALLBMSCTL or setpriv missing")
        return
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ctl,
                        "--address", addr, "set", "uv_trip_mv=2890"],
                       capture_output=True, text=True, timeout=60)
    harness.check(r.returncode == 0, "smallbmsctl set as nobody with a password-asking "
                  "polkit: exit %d: %s" % (r.returncode, r.stderr.strip()))
    harness.check(settings_value(w) == 2890, "UvTripMv after smallbmsctl set")


def case_root_actions(w):
    """The daemon's actions behind the methods, as root (polkit not asked:
    it allows nothing here)."""
    import dbus
    w.polkit.allow([])
    bus = dbus.bus.BusConnection(w.bus.address)
    try:
        bms = dbus.Interface(bus.get_object(NAME, "/org/smallbms", introspect=False),
                             "org.smallbms.Bms1")
        st = dbus.Interface(bus.get_object(NAME, "/org/smallbms/settings", introspect=False),
                            "org.smallbms.Settings1")
        s = PATHS["org.smallbms.Settings1"]

        def get(path, iface, prop):
            return root_get(w.bus.address, path, iface, prop)

        bms.Synchronise()
        harness.check(get("/org/smallbms", "org.smallbms.Bms1", "SocCpct") == 10000,
                      "SocCpct after Synchronise")
        st.SetMany(dbus.Dictionary({"charged_detect_s": dbus.Int32(600),
                                    "ov_delay_ms": dbus.Int32(2000)}, signature="si"))
        st.ResetToDefaults()
        harness.check(get(s, "org.smallbms.Settings1", "ChargedDetectS") == 180,
                      "ResetToDefaults kept ChargedDetectS")
        harness.check(get(s, "org.smallbms.Settings1", "OvDelayMs") == 2000,
                      "ResetToDefaults reset OvDelayMs")
        st.ResetAll()
        harness.check(get(s, "org.smallbms.Settings1", "OvDelayMs") == 1000, "ResetAll")
        harness.check(get(s, "org.smallbms.Settings1", "UvTripMv") == 2800, "ResetAll")
        for fn, want in ((lambda: bms.SetSoc(dbus.Double(101.0)),
                          "org.smallbms.Error.InvalidValue"),
                         (lambda: bms.Identify(dbus.UInt32(9)),
                          "org.smallbms.Error.NoSuchBattery")):
            res = attempt(fn)
            harness.check(res[0] == "error" and res[1] == want, "%s: %r" % (want, res))
        for on in (False, True):
            res = set_encrypted(w.bus.address, on)
            harness.check(res[0] == "ok" and encrypted(w) is on,
                          "Set Encrypted %s as root: %r" % (on, res))
        res = set_encrypted(w.bus.address, dbus.String("no", variant_level=1))
        harness.check(res[0] == "error" and res[1] == "org.freedesktop.DBus.Error.InvalidArgs"
                      and encrypted(w) is True,
                      "Set Encrypted to a string as root: %r" % (res,))
        bms.AcceptBank()
        harness.check(get("/org/smallbms", "org.smallbms.Bms1", "SocKnown") == 0,
                      "SoC still known after AcceptBank")
        d = w.rig.daemon
        harness.check(d.wait(r"bank changed: accepted by the installer", timeout=5)[0]
                      is not None, "no 'bank changed' event for AcceptBank")
        harness.check(d.wait(r"bank stored: 2 batteries", timeout=10, since=d.wait(
            r"accepted by the installer", timeout=1)[2])[0] is not None,
            "the bank was not stored anew after AcceptBank")
    finally:
        bus.close()


def interface_members(xml_text, iface):
    root = ET.fromstring(xml_text)
    for i in root.iter("interface"):
        if i.get("name") != iface:
            continue
        members = set()
        for m in i:
            if m.tag == "property":
                members.add(("property", m.get("name"), m.get("type"), m.get("access")))
            elif m.tag in ("method", "signal"):
                args = tuple((a.get("direction", "in" if m.tag == "method" else "out"),
                              a.get("type")) for a in m.findall("arg"))
                members.add((m.tag, m.get("name"), args, None))
        return members
    return None


def case_introspection(w):
    for iface, path in PATHS.items():
        r = subprocess.run(["busctl", "--address=" + w.bus.address, "introspect",
                            "--xml-interface", NAME, path],
                           capture_output=True, text=True, timeout=30)
        harness.check(r.returncode == 0, "busctl introspect %s: %s" % (path, r.stderr))
        live = interface_members(r.stdout, iface)
        with open(os.path.join(DBUS_DIR, iface + ".xml")) as f:
            doc = interface_members(f.read(), iface)
        harness.check(live is not None and doc is not None, "%s missing" % iface)
        harness.check(live == doc, "%s: served but not in the XML: %s; in the XML but not "
                      "served: %s" % (iface, sorted(live - doc), sorted(doc - live)))


def case_bus_comes_later():
    """No system bus at start: the daemon runs (READY, outputs closed), warns
    once, and appears on the bus within the retry period once it is there."""
    w = World()
    try:
        w.start(bus_first=False)
        d = w.rig.daemon
        harness.check(d.wait(r"dbus: system bus not available", timeout=10)[0] is not None,
                      "no warning about the missing bus")
        w.bus = Bus(w.tmp)
        harness.check(wait_named(w.bus.address, timeout=15),
                      "the daemon did not take org.smallbms after the bus came")
        harness.check(len(d.matching(r"dbus: system bus not available")) == 1,
                      "the warning repeated")
        w.bus.close()
        w.bus = Bus(w.tmp)  # a restarted bus: the daemon comes back
        harness.check(wait_named(w.bus.address, timeout=15),
                      "the daemon did not come back after a bus restart")
    finally:
        w.close()


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (setuid to nobody, bind mount of /etc/group)")
        return 0
    if not shutil.which("dbus-daemon") or not shutil.which("busctl"):
        print("1..0 # SKIP dbus-daemon or busctl missing")
        return 0
    why = world_skip_reason()
    if why:
        print("1..0 # SKIP " + why)
        return 0

    if not have_dbusmock():
        print("1..0 # SKIP python3-dbusmock missing (tools/install-deps)")
        return 0
    shared = ["reader_denied", "hardware_group_grants_nothing", "settings_allowed",
              "control_allowed", "bluetooth_allowed", "polkit_slow", "root_actions",
              "introspection", "polkit_absent", "interactive"]
    w = World()
    n, failed = run_world_cases(w, shared, globals(), more=1)
    n += 1
    try:
        case_bus_comes_later()
        print("ok %d - bus_comes_later" % n)
    except Exception as e:
        failed += 1
        print("not ok %d - bus_comes_later\n# %s: %s" % (n, type(e).__name__, e))
    shutil.rmtree(w.tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
