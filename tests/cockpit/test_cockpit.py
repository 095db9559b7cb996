#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The Cockpit page in a real browser (TAP).

The real cockpit-ws and cockpit-bridge (Debian's cockpit packages), started
with --local-session as the unprivileged user nobody, serve the page from a
copy of cockpit/ on XDG_DATA_DIRS; the bridge talks to a private system bus
(the project's policy, tests/dbus/test_policy.py's Bus) where the real
smallbmsd runs on the integration rig (simulator on a pty, fake IIO tree,
dry-run outputs) and python3-dbusmock's polkitd template decides the
writes. Debian's chromium, headless, driven through chromedriver
(python3-selenium), loads the page:

- it loads without console errors and its figures match D-Bus;
- a trip (a battery's hard over-voltage flag) shows within a second of the
  daemon's PropertiesChanged;
- a valid setting applies (D-Bus reads it back); an out-of-bounds one shows
  the daemon's own message and changes nothing; a user whom polkit refuses
  sees the refusal and nothing changes;
- an action asks for confirmation: dismissed, nothing happens; accepted, it
  is done;
- on a phone-sized window nothing overflows sideways.

Usage: test_cockpit.py DBUS_DIR COCKPIT_DIR [SCREENSHOT]
Needs root (setuid to nobody, a private mount namespace); skipped when
cockpit-ws, chromium or chromedriver are missing.
"""

import grp
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "dbus"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import test_policy as pol  # noqa: E402

DBUS_DIR = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "dbus")
COCKPIT_DIR = (os.path.abspath(sys.argv[2]) if len(sys.argv) > 2
               else os.path.join(HERE, "..", "..", "cockpit"))
SCREENSHOT = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else None
pol.DBUS_DIR = DBUS_DIR
sys.path.insert(0, os.path.join(HERE, "..", "ble"))
# BlueZ's own bus policy (the bluez package's file), so that the fake
# org.bluez of tests/ble may own its name on the private bus as bluetoothd
# does on the real one.
BLUEZ_POLICY = "/etc/dbus-1/system.d/bluetooth.conf"
pol.BASE_CONF = pol.BASE_CONF.replace(
    "</busconfig>", '  <include ignore_missing="yes">%s</include>\n</busconfig>' % BLUEZ_POLICY)

COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"
BRIDGE = "/usr/bin/cockpit-bridge"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
NOBODY = 65534
PAGE_FILES = ("manifest.json", "index.html", "smallbms.js", "smallbms.css")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cockpit:
    """cockpit-ws with a local session (no login) as nobody, serving the
    page from a copy of the files meson installs."""

    def __init__(self, tmp, bus_address):
        self.home = os.path.join(tmp, "home")
        share = os.path.join(tmp, "share")
        page = os.path.join(share, "cockpit", "smallbms")
        os.makedirs(page)
        for f in PAGE_FILES:
            shutil.copy(os.path.join(COCKPIT_DIR, f), page)
        os.makedirs(self.home)
        os.chown(self.home, NOBODY, NOBODY)
        runtime = os.path.join(tmp, "runtime")
        os.makedirs(runtime, mode=0o700)
        os.chown(runtime, NOBODY, NOBODY)
        self.port = free_port()
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": self.home,
            "USER": "nobody",
            "LANG": "C.UTF-8",
            "XDG_DATA_DIRS": share + ":/usr/local/share:/usr/share",
            "XDG_RUNTIME_DIR": runtime,
            "DBUS_SYSTEM_BUS_ADDRESS": bus_address,
            "G_MESSAGES_DEBUG": "",
        }
        self.log = open(os.path.join(tmp, "cockpit-ws.log"), "w")

        try:
            journal_gid = [grp.getgrnam("systemd-journal").gr_gid]
        except KeyError:
            journal_gid = []

        def drop():
            # As an owner in the group systemd-journal, who may read the
            # system journal (the recent events).
            os.setgroups(journal_gid)
            os.setgid(NOBODY)
            os.setuid(NOBODY)

        self.proc = subprocess.Popen(
            [COCKPIT_WS, "--no-tls", "--address", "127.0.0.1", "--port", str(self.port),
             "--local-session=" + BRIDGE],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=drop, cwd=self.home)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise harness.Fail("cockpit-ws did not start: see %s" % self.log.name)
                time.sleep(0.1)
        self.url = "http://127.0.0.1:%d/cockpit/@localhost/smallbms/index.html" % self.port

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


class Browser:
    def __init__(self, tmp):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--no-first-run", "--window-size=1280,1600",
                  "--user-data-dir=" + os.path.join(tmp, "chromium")):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER,
                                                       log_output=os.path.join(tmp, "chromedriver.log")),
                                       options=opts)
        self.driver.set_page_load_timeout(60)

    def console_errors(self):
        return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def text(self, element_id):
        return self.driver.execute_script(
            "var e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
            element_id)

    def wait_for(self, fn, timeout, what):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.02)
        raise harness.Fail("%s (last: %r)" % (what() if callable(what) else what, last))

    def close(self):
        self.driver.quit()


def frame_ready(b):
    """The page runs inside Cockpit's shell only when it is the top document
    here (the direct URL): its body carries data-ready when init ran."""
    return b.driver.execute_script(
        "return document.body && document.body.getAttribute('data-ready') === '1'")


def root_props(address, path, iface):
    import dbus
    bus = dbus.bus.BusConnection(address)
    try:
        p = dbus.Interface(bus.get_object(pol.NAME, path, introspect=False),
                           "org.freedesktop.DBus.Properties")
        return p.GetAll(iface)
    finally:
        bus.close()


def root_settings(address):
    import dbus
    bus = dbus.bus.BusConnection(address)
    try:
        s = dbus.Interface(bus.get_object(pol.NAME, "/org/smallbms/settings", introspect=False),
                           "org.smallbms.Settings1")
        return {str(r[0]): [int(r[2]), str(r[1]), int(r[4]), int(r[5])] for r in s.List()}
    finally:
        bus.close()


JOURNALD = "/lib/systemd/systemd-journald"


class Journald:
    """The real systemd-journald, alone in this test's mount namespace:
    tmpfs over /run/systemd and /run/log, so that the daemon's entries (and
    only this run's) are what journalctl reads."""

    def __init__(self, tmp):
        for d in ("/run/systemd", "/run/log"):
            os.makedirs(d, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "tmpfs", d], check=True)
        # As systemd-tmpfiles prepares it (tmpfiles.d/systemd.conf): the
        # group systemd-journal may read what journald writes here.
        os.makedirs("/run/log/journal")
        try:
            os.chown("/run/log/journal", 0, grp.getgrnam("systemd-journal").gr_gid)
        except KeyError:
            pass
        os.chmod("/run/log/journal", 0o2755)
        self.log = open(os.path.join(tmp, "journald.log"), "w")
        self.proc = subprocess.Popen([JOURNALD], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not os.path.exists("/run/systemd/journal/socket"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise harness.Fail("systemd-journald did not start")
            time.sleep(0.05)

    def entries(self):
        out = subprocess.run(["journalctl", "--no-pager", "--output=json",
                              "SYSLOG_IDENTIFIER=smallbmsd"], capture_output=True, text=True,
                             check=True).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


class JournalRig(pol.BusRig):
    """The rig's daemon with JOURNAL_STREAM naming its stderr, as systemd
    sets it: its events go to the journal with their MESSAGE_IDs (the rest
    of its stderr still reaches the rig)."""

    def start_daemon(self, *extra):
        argv = (["sh", "-c", 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"', "sh"]
                + harness.ns_prefix(self.tree) + [harness.SMALLBMSD] + self.base_args()
                + list(extra))
        self.daemon = harness.Daemon(argv, self.env(), self.name)
        self.daemons.append(self.daemon)
        return self.daemon


class World(pol.World):
    def __init__(self):
        super().__init__()
        self.cockpit = None
        self.browser = None
        self.journald = None

    def start(self):
        self.journald = Journald(self.tmp)
        self.bus = pol.Bus(self.tmp)
        self.polkit = pol.Polkit(self.tmp, self.bus.address)
        self.rig = JournalRig("cockpit", series=1, parallel=2, start_sim=False)
        self.rig.bus_address = self.bus.address
        self.rig.start_sim()
        self.rig.start_daemon()
        self.rig.wait_started()
        # A known SoC (a new installation has none until synchronised).
        import dbus
        bus = dbus.bus.BusConnection(self.bus.address)
        try:
            dbus.Interface(bus.get_object(pol.NAME, "/org/smallbms", introspect=False),
                           "org.smallbms.Bms1").SetSoc(dbus.Double(80.0))
        finally:
            bus.close()
        self.cockpit = Cockpit(self.tmp, self.bus.address)
        self.browser = Browser(self.tmp)

    def load(self):
        b = self.browser
        b.driver.get(self.cockpit.url)
        b.wait_for(lambda: frame_ready(b), 30, "the page did not run its init")
        # The figures arrive with the first GetAll.
        b.wait_for(lambda: b.text("soc") not in (None, "–"), 30, "no SoC shown")
        b.wait_for(lambda: b.driver.execute_script(
            "return document.querySelectorAll('#settings-fields input').length") > 0,
            30, "the settings form stayed empty")

    def close(self):
        for part in (self.browser, self.cockpit):
            if part:
                try:
                    part.close()
                except Exception:  # the rest must still be torn down
                    pass
        try:
            super().close()
        finally:
            if self.journald:
                self.journald.close()

    def diagnostics(self):
        out = [self.rig.diagnostics() if self.rig else ""]
        try:
            with open(os.path.join(self.tmp, "cockpit-ws.log")) as f:
                out.append("cockpit-ws log tail:\n" + "\n".join(f.read().splitlines()[-15:]))
        except OSError:
            pass
        return "\n".join(out)


# ---- the cases ---------------------------------------------------------

def case_loads_without_console_errors(w):
    w.load()
    bad = w.browser.console_errors()
    harness.check(not bad, "console errors: %s" % json.dumps(bad)[:2000])
    harness.check(w.browser.driver.title == "Battery (smallbms)",
                  "title %r" % w.browser.driver.title)


def case_values_match_dbus(w):
    b = w.browser
    d = root_props(w.bus.address, "/org/smallbms", "org.smallbms.Bms1")
    harness.check(bool(d["SocKnown"]), "SoC not known on D-Bus")
    want_soc = "%.1f %%" % (int(d["SocCpct"]) / 100.0)
    # Measurements move a little between the two reads: compare with what
    # D-Bus says around the page's reading.
    b.wait_for(lambda: b.text("soc") == want_soc or
               b.text("soc") == "%.1f %%" % (int(root_props(
                   w.bus.address, "/org/smallbms", "org.smallbms.Bms1")["SocCpct"]) / 100.0),
               5, "SoC on the page %r, D-Bus %r" % (b.text("soc"), want_soc))

    def voltage_matches():
        mv = int(root_props(w.bus.address, "/org/smallbms", "org.smallbms.Bms1")["VoltageMv"])
        shown = b.text("voltage")
        return shown == "%.2f V" % (mv / 1000.0) or (shown, mv)
    res = b.wait_for(lambda: voltage_matches() is True, 5, "voltage differs from D-Bus")
    harness.check(res is True, "voltage")
    topo = b.text("topology")
    harness.check(topo.startswith("%dS%dP" % (int(d["Series"]), int(d["Parallel"]))),
                  "topology %r vs D-Bus %sS%sP" % (topo, d["Series"], d["Parallel"]))
    n = b.wait_for(lambda: b.driver.execute_script(
        "return document.querySelectorAll('#batteries .battery').length") == int(d["Batteries"]),
        10, "battery cards vs Batteries=%d" % int(d["Batteries"]))
    harness.check(n, "battery cards")
    bat = root_props(w.bus.address, "/org/smallbms/battery/1", "org.smallbms.Battery1")
    cells = " ".join(str(int(v)) for v in bat["CellVoltagesMv"])
    cap = b.driver.execute_script(
        "return document.querySelector('#batteries .battery[data-address=\"1\"] .caption').textContent")
    harness.check(cap.startswith("Cell voltages (mV): ") and
                  len(cap.split(":")[1].split()) == len(bat["CellVoltagesMv"]),
                  "battery 1 caption %r, D-Bus cells %s" % (cap, cells))
    bars = b.driver.execute_script(
        "return document.querySelectorAll('#batteries .battery[data-address=\"1\"] svg.cells rect.bar').length")
    harness.check(bars == len(bat["CellVoltagesMv"]), "%d bars for %d cells" % (bars, len(bat["CellVoltagesMv"])))
    settings = root_settings(w.bus.address)
    shown = b.driver.execute_script(
        "var o = {}; document.querySelectorAll('#settings-fields input').forEach("
        "function (i) { o[i.name] = [i.value, i.min, i.max]; }); return o;")
    harness.check(sorted(shown) == sorted(settings),
                  "settings on the page %r vs D-Bus %r" % (sorted(shown), sorted(settings)))
    for name, (value, _unit, lo, hi) in settings.items():
        harness.check(shown[name] == [str(value), str(lo), str(hi)],
                      "%s: page %r, D-Bus value %d bounds %d..%d" % (name, shown[name], value, lo, hi))
    harness.check(b.text("load-state").startswith("closed") and b.text("charge-state").startswith("closed"),
                  "outputs shown %r / %r with both closed on D-Bus" % (b.text("load-state"),
                                                                    b.text("charge-state")))


def case_trip_shows_within_a_second(w):
    """From the output's change (the daemon's DRY-RUN line, written when it
    sets the line) to the page showing it open, with its reason."""
    b = w.browser
    d = w.rig.daemon
    mark = d.mark()
    w.rig.sim_cmd("flag 1 hard-ov on")
    try:
        deadline = time.monotonic() + 15
        shown_at = None
        while time.monotonic() < deadline and shown_at is None:
            if b.text("charge-state").startswith("OPEN"):
                shown_at = time.monotonic()
            else:
                time.sleep(0.005)
        opened = d.matching(r"DRY-RUN: charge-disconnect -> open", since=mark)
        harness.check(opened, "the daemon did not open the charge disconnect within 15 s")
        harness.check(shown_at is not None, "the page never showed the charge disconnect open")
        lag = shown_at - opened[0][0]
        print("# trip shown %.0f ms after the output changed" % (lag * 1000), flush=True)
        harness.check(lag < 1.0, "shown %.2f s after the output changed" % lag)
        reasons = b.text("charge-reasons")
        harness.check("A3" in reasons and "battery 1" in reasons, "reasons shown: %r" % reasons)
    finally:
        w.rig.sim_cmd("flag 1 hard-ov off")


def set_field(b, name, value):
    b.driver.execute_script(
        "var i = document.getElementById('setting-' + arguments[0]);"
        "i.value = arguments[1]; i.dispatchEvent(new Event('input'));", name, str(value))


def click(b, element_id):
    b.driver.find_element("id", element_id).click()


def pick_setting(settings):
    """A setting whose value can move by one within its bounds without
    breaking another's ordering: the charged-detection time."""
    for name in ("charged_detect_s", "prealarm_lead_s"):
        if name in settings:
            return name
    raise harness.Fail("no known simple setting in %r" % sorted(settings))


def case_valid_setting_applies(w):
    b = w.browser
    w.polkit.allow([pol.SETTINGS_ACTION])
    w.load()
    settings = root_settings(w.bus.address)
    name = pick_setting(settings)
    value, _unit, lo, hi = settings[name]
    new = value + 1 if value < hi else value - 1
    set_field(b, name, new)
    click(b, "settings-apply")
    b.wait_for(lambda: "Applied" in (b.text("settings-message") or ""), 30,
               lambda: "no success message after Apply: %r" % b.text("settings-message"))
    harness.check(root_settings(w.bus.address)[name][0] == new,
                  "D-Bus still says %s = %d" % (name, root_settings(w.bus.address)[name][0]))


def case_out_of_bounds_shows_daemon_message(w):
    b = w.browser
    w.polkit.allow([pol.SETTINGS_ACTION])
    w.load()
    before = root_settings(w.bus.address)
    name = pick_setting(before)
    value, _unit, lo, hi = before[name]
    set_field(b, name, hi + 1)
    click(b, "settings-apply")
    msg = b.wait_for(lambda: "Refused" in (b.text("settings-message") or "") and b.text("settings-message"),
                     10, "no refusal shown for %s=%d" % (name, hi + 1))
    harness.check(name in msg and str(hi + 1) in msg and "InvalidSetting" in msg,
                  "the daemon's message is not shown: %r" % msg)
    harness.check(root_settings(w.bus.address) == before, "a setting changed after the refusal")


def case_polkit_refusal_shown(w):
    b = w.browser
    w.polkit.allow([])
    w.load()
    before = root_settings(w.bus.address)
    name = pick_setting(before)
    value, _unit, lo, hi = before[name]
    set_field(b, name, value + 1 if value < hi else value - 1)
    click(b, "settings-apply")
    msg = b.wait_for(lambda: "Refused" in (b.text("settings-message") or "") and b.text("settings-message"),
                     10, "no refusal shown")
    harness.check("not authorized" in msg.lower() and "org.smallbms.change-settings" in msg,
                  "polkit's refusal not shown: %r" % msg)
    harness.check(root_settings(w.bus.address) == before, "a setting changed after the refusal")
    # An action too.
    b.driver.execute_script("window.confirm = function () { return true; };")
    click(b, "act-reset-history")
    msg = b.wait_for(lambda: "refused" in (b.text("actions-message") or "") and b.text("actions-message"),
                     10, "no refusal shown for the history reset")
    harness.check("org.smallbms.control" in msg, "polkit's refusal not shown: %r" % msg)


def case_action_confirmation(w):
    b = w.browser
    w.polkit.allow([pol.CONTROL_ACTION])
    w.load()
    before = int(root_props(w.bus.address, "/org/smallbms", "org.smallbms.Bms1")["SocCpct"])
    harness.check(before < 9900, "SoC %d already 100 %%" % before)
    b.driver.execute_script("window.confirm = function () { window.asked = (window.asked || 0) + 1; return false; };")
    click(b, "act-synchronise")
    time.sleep(1.0)
    harness.check(b.driver.execute_script("return window.asked") == 1, "no confirmation asked")
    now = int(root_props(w.bus.address, "/org/smallbms", "org.smallbms.Bms1")["SocCpct"])
    harness.check(now < 9900, "synchronised although the confirmation was dismissed (%d)" % now)
    b.driver.execute_script("window.confirm = function () { return true; };")
    click(b, "act-synchronise")
    b.wait_for(lambda: "done" in (b.text("actions-message") or ""), 10, "no 'done' after Synchronise")
    now = int(root_props(w.bus.address, "/org/smallbms", "org.smallbms.Bms1")["SocCpct"])
    harness.check(now == 10000, "SoC %d after Synchronise" % now)
    b.wait_for(lambda: b.text("soc") == "100.0 %", 5, "the page does not show 100.0 %")


def case_phone_sized(w):
    b = w.browser
    b.driver.set_window_size(390, 844)
    try:
        w.load()
        width = b.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        wide = b.driver.execute_script(
            "var out = []; document.querySelectorAll('body *').forEach(function (e) {"
            " var r = e.getBoundingClientRect(); if (r.right > window.innerWidth + 0.5)"
            " out.push(e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(r.right)); });"
            " return out.slice(0, 8);")
        harness.check(width[0] <= width[1], "the page is %d px wide in a %d px window: %s"
                      % (width[0], width[1], ", ".join(wide)))
        if SCREENSHOT:
            b.driver.set_window_size(390, 2400)
            b.driver.save_screenshot(SCREENSHOT)
            print("# screenshot: %s" % SCREENSHOT, flush=True)
    finally:
        b.driver.set_window_size(1280, 1600)


def case_pairing_prompt(w):
    """The pairing window opened from the page; a phone pairs (the fake
    BlueZ of tests/ble plays bluetoothd and the phone); the page shows the
    number the phone shows, the user says yes, the phone is bonded."""
    if not os.path.exists(BLUEZ_POLICY):
        raise harness.Skip("%s missing (package bluez)" % BLUEZ_POLICY)
    import dbus.mainloop.glib
    import fake_bluez
    b = w.browser
    w.polkit.allow([pol.BLUETOOTH_ACTION])
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    pbus = fake_bluez.private_bus(w.bus.address)
    fake = fake_bluez.FakeBluez(pbus, "54:48:E6:8F:80:A5")
    fake.start()
    pump = fake_bluez.pump
    try:
        harness.check(pump(lambda: len(fake.apps) == 1 and len(fake.adverts) == 1
                           and fake.default_agent, 20),
                      "the daemon did not register with the fake BlueZ: calls %s; the daemon said: %s"
                      % (fake.calls, [e.get("MESSAGE") for e in w.journald.entries()
                                      if "luetooth" in e.get("MESSAGE", "")][-5:]))
        w.load()
        harness.check(pump(lambda: b.text("bt-state").startswith("advertising"), 10),
                      "Bluetooth state on the page: %r" % b.text("bt-state"))
        phone = fake.add_device("AA:BB:CC:00:11:22", "Pixel")
        fake.connect(phone)
        b.driver.execute_script("document.getElementById('bt-timeout').value = '60';")
        click(b, "bt-open")
        harness.check(pump(lambda: bool(fake.adapter.props["Pairable"]), 10),
                      "the adapter never became pairable: %r" % b.text("bt-message"))
        harness.check(pump(lambda: b.text("bt-pairing") == "open", 5), "window not shown open")
        attempt = fake.pair_async(phone, "KeyboardDisplay")
        harness.check(pump(lambda: b.driver.execute_script(
            "return !document.getElementById('bt-prompt').hidden"), 10),
            "no prompt on the page (message %r)" % b.text("bt-message"))
        text = b.text("bt-prompt-text")
        harness.check("%06d" % attempt.passkey in text and "Pixel" in text,
                      "prompt %r, the phone shows %06d" % (text, attempt.passkey))
        click(b, "bt-accept")
        harness.check(pump(lambda: attempt.done, 10), "the pairing never ended")
        harness.check(attempt.ok, "pairing failed: %s" % attempt.error)
        harness.check(pump(lambda: "bonded" in (b.text("bt-message") or "") and
                           "Pixel" in b.text("bt-bonded"), 10),
                      "page: message %r, bonded %r" % (b.text("bt-message"), b.text("bt-bonded")))
    finally:
        pbus.close()


EVENT_OPENED = "8539ef43ce0d4b9e9b61743c1ddfb2a3"  # smallbms.catalog: an output opened


def case_recent_events(w):
    b = w.browser
    entries = [e for e in w.journald.entries() if e.get("MESSAGE_ID")]
    harness.check(any(e["MESSAGE_ID"] == EVENT_OPENED for e in entries),
                  "the daemon wrote no 'output opened' entry to the journal: %r"
                  % [e.get("MESSAGE") for e in entries][:10])
    w.load()
    shown = b.wait_for(lambda: b.driver.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#events li[data-message-id]'),"
        " function (li) { return [li.getAttribute('data-message-id'), li.textContent]; });"),
        15, "no event listed: %r" % b.text("events"))
    newest = entries[-len(shown):] if len(entries) >= len(shown) else entries
    want = [e["MESSAGE"] for e in reversed(entries[-25:])]
    got = [t for _id, t in shown]
    harness.check(len(got) == len(want), "%d events shown, the journal has %d of the daemon's"
                  % (len(got), len(want)))
    for g, m in zip(got, want):
        harness.check(g.endswith(" " + m), "shown %r, journal %r" % (g, m))
    harness.check(any(i == EVENT_OPENED for i, _t in shown), "no 'output opened' event shown")
    del newest


CASES = ["loads_without_console_errors", "values_match_dbus", "trip_shows_within_a_second",
         "valid_setting_applies", "out_of_bounds_shows_daemon_message", "polkit_refusal_shown",
         "action_confirmation", "recent_events", "pairing_prompt", "phone_sized"]


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (setuid to nobody, a private mount namespace)")
        return 0
    for p in (COCKPIT_WS, BRIDGE, CHROMIUM, CHROMEDRIVER, shutil.which("dbus-daemon") or "/nonexistent"):
        if not os.access(p, os.X_OK):
            print("1..0 # SKIP %s missing (tools/install-deps)" % p)
            return 0
    try:
        import dbus  # noqa: F401
        import selenium  # noqa: F401
    except ImportError as e:
        print("1..0 # SKIP %s (tools/install-deps)" % e)
        return 0
    # Only looked for, not imported: importing dbusmock patches dbus-python's
    # method lookup for every object of the process (the fake BlueZ's too).
    if importlib.util.find_spec("dbusmock") is None:
        print("1..0 # SKIP python3-dbusmock missing (tools/install-deps)")
        return 0
    pol.enter_namespace()
    why = harness.namespace_usable()
    if why:
        print("1..0 # SKIP private mount namespace not permitted: %s" % why)
        return 0
    selected = sys.argv[4:] or CASES
    print("1..%d" % len(selected), flush=True)
    failed = 0
    w = World()
    try:
        w.start()
        w.polkit.allow([])
        w.load()
        for n, name in enumerate(selected, 1):
            try:
                globals()["case_" + name](w)
                print("ok %d - %s" % (n, name), flush=True)
            except Exception as e:
                failed += 1
                print("not ok %d - %s" % (n, name))
                for line in ("%s: %s\n%s" % (type(e).__name__, e, w.diagnostics())).splitlines():
                    print("# " + line)
                sys.stdout.flush()
    except Exception as e:
        for line in ("setting up: %s: %s\n%s" % (type(e).__name__, e, w.diagnostics())).splitlines():
            print("# " + line)
        return 1
    finally:
        w.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
