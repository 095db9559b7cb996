#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""In the kernel stage's guest with systemd as PID 1 (run-guest --systemd):
smallbmsd installed on a "running board" exactly as the README says, then
what systemd does with it, as TAP.

    guest_systemd.py BUILD_DIR SOURCE_DIR

The board: the real ti-ads1015 driver on i2c-stub (an ADS1015 whose
conversion register reads a plausible bank voltage), a gpio-sim chip with the
six lines of docs/board.md, and smallbms-sim behind a pty. They all exist BEFORE
the install, as on a board that is already running: the README's udev
trigger has to reach them, no reboot.

The install runs the commands of the README's "Running smallbmsd on a board"
block one by one, as they are written there, with three differences a test
cannot avoid: ./tools/install-deps is skipped (the machine has them), the
build is the test's build directory (configured again with the README's
`meson setup` options, in the guest's overlay: the host's build directory is
not touched), and `meson compile` is left to the host (`meson install
--no-rebuild`). The wiring is a drop-in next to the README's copied example.

One rig drop-in for the unit stands in for a real UART: an ExecStartPre=
that clears the pty's TIOCEXCL (TESTING.md: a pty keeps it after the
daemon's last close, a real UART does not). DevicePolicy=closed lets every
unit reach /dev/pts, so the pty needs no DeviceAllow=.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(HERE, "..", "integration"))
import ads1015_stub  # noqa: E402
import harness  # noqa: E402
import state_record  # noqa: E402
from guest_line_sampler import driven  # noqa: E402

UNIT = "smallbmsd.service"
LINES = ("load-disconnect", "charge-disconnect", "pre-alarm", "led-bluetooth",
         "led-error", "heartbeat")
GPIO_SIM = "/sys/kernel/config/gpio-sim/smallbms"
# The bank: 2 x 12.8 V in series; the ADC reads it through the 21:1 divider
# of docs/board.md, at the +-4.096 V range the daemon selects (2 mV a count on
# the 12-bit ADS1015).
BANK_MV = 26400
DIVIDER = 21.0
ADS1015_MV_PER_COUNT = 2
# docs/board.md: the monostable opens the outputs 2 s after the heartbeat's last
# edge.
MONOSTABLE_S = 2.0
RIG_DROPIN = "/etc/systemd/system/smallbmsd.service.d/90-test-rig.conf"
# TIOCNXCL on the pty, as root (tests/kernel/pty-nxcl.c).
CLEAR_EXCL = os.environ.get("SMALLBMS_PTY_NXCL", "pty-nxcl") + " %s"

n_tests = 0
failed = 0


def uptime():
    """Seconds since the kernel started (the guest's clocks may run ahead:
    run-guest --clock-ahead)."""
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) - int(os.environ.get("SMALLBMS_GUEST_CLOCK_AHEAD", "0"))


def tap(ok, what, detail=None):
    global n_tests, failed
    n_tests += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n_tests, what), flush=True)
    if not ok:
        # A TODO line is a known failure: TAP (and meson) count it apart.
        failed += "# TODO" not in what
        for line in (detail or "").splitlines():
            print("#   " + line, flush=True)
    return ok


def note(text):
    for line in text.splitlines():
        print("# " + line, flush=True)


# Set once the shutdown may stop this job: systemd then sends SIGTERM to
# the test unit's processes, once at the stop and again when its main
# process (guest-init) has exited; the commands that read the outcome must
# outlive both.
children_ignore_sigterm = False


def ignore_sigterm():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run(argv, check=True, timeout=120, **kw):
    if children_ignore_sigterm:
        kw.setdefault("preexec_fn", ignore_sigterm)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stdout.strip()))
    return r


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read().strip()


def show(*props):
    out = run(["systemctl", "show", UNIT] + ["-p" + p for p in props]).stdout
    return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


# --- the running board ------------------------------------------------------

def make_gpio_chip():
    """A gpio-sim chip with the six lines of docs/board.md; {name: value path}."""
    os.mkdir(GPIO_SIM)
    bank = os.path.join(GPIO_SIM, "bank0")
    os.mkdir(bank)
    write(os.path.join(bank, "num_lines"), "%d\n" % len(LINES))
    write(os.path.join(bank, "label"), "smallbms-board\n")
    for i, name in enumerate(LINES):
        os.mkdir(os.path.join(bank, "line%d" % i))
        write(os.path.join(bank, "line%d" % i, "name"), name + "\n")
    write(os.path.join(GPIO_SIM, "live"), "1\n")
    chip = read(os.path.join(bank, "chip_name"))
    dev = read(os.path.join(GPIO_SIM, "dev_name"))
    base = "/sys/devices/platform/%s/%s" % (dev, chip)
    return chip, {name: "%s/sim_gpio%d/value" % (base, i) for i, name in enumerate(LINES)}


def make_adc():
    """The ADS1015 on i2c-stub reading BANK_MV; its /sys/devices path."""
    ads1015_stub.load_modules()
    dev = ads1015_stub.new_device("ads1015")
    counts = round(BANK_MV / DIVIDER / ADS1015_MV_PER_COUNT)
    ads1015_stub.set_raw("ads1015", counts)
    return os.path.realpath(dev), counts


SIM_CONTROL = "/run/smallbms-sim.ctl"


def start_sim(build):
    sim = subprocess.Popen([os.path.join(build, "src/sim/smallbms-sim"), "--series", "2",
                            "--control", SIM_CONTROL],
                           stdout=subprocess.PIPE, text=True)
    pty = None
    for line in sim.stdout:
        if line.startswith("pty "):
            pty = line.split(" ", 1)[1].strip()
        if line.strip() == "ready":
            break
    if not pty:
        raise RuntimeError("smallbms-sim printed no pty")
    # A board's UART belongs to group dialout (the unit's SupplementaryGroups).
    os.chown(pty, 0, int(run(["getent", "group", "dialout"]).stdout.split(":")[2]))
    os.chmod(pty, 0o660)
    return sim, pty


# --- the README's install -----------------------------------------------------

def readme_commands(source):
    """The shell commands of the README's "Running smallbmsd on a board"
    block, one entry per command (lines split at &&, comments dropped)."""
    with open(os.path.join(source, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Running smallbmsd on a board\n+```sh\n(.*?)^```", text, re.M | re.S)
    if not m:
        raise RuntimeError("README.md has no sh block under 'Running smallbmsd on a board'")
    cmds = []
    for line in m.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        cmds += [c.strip() for c in line.split("&&") if c.strip()]
    return cmds


def install(source, build, wiring):
    """Runs the README's commands; one TAP line each. The time the last one
    (systemctl enable --now, which returns on READY=1) took."""
    started = None
    for cmd in readme_commands(source):
        argv = shlex.split(cmd)
        what = "README: " + cmd
        if argv[0] == "./tools/install-deps":
            note("skipped (the test machine has the deps): " + cmd)
            continue
        if argv[:2] == ["meson", "setup"] and argv[2] == "build":
            argv = ["meson", "setup", "--reconfigure", build] + argv[3:]
        elif argv[:3] == ["meson", "compile", "-C"] and argv[3] == "build":
            note("skipped (built on the host, installed with --no-rebuild): " + cmd)
            continue
        elif argv[:3] == ["meson", "install", "-C"] and argv[3] == "build":
            argv = ["meson", "install", "-C", build, "--no-rebuild", "--quiet"]
        elif argv[0] == "meson" or argv[0].startswith("./"):
            tap(False, what, "this test does not know how to run this README step")
            continue
        if argv[:3] == ["systemctl", "enable", "--now"]:
            # "then edit the wiring": a drop-in beside the copied example.
            os.makedirs("/etc/smallbms/smallbmsd.conf.d", exist_ok=True)
            write("/etc/smallbms/smallbmsd.conf.d/50-board.conf", wiring)
            started = time.monotonic()
        if argv == ["smallbmsd", "--check-config"]:
            os.makedirs("/etc/smallbms/smallbmsd.conf.d", exist_ok=True)
            write("/etc/smallbms/smallbmsd.conf.d/50-board.conf", wiring)
        t0 = time.monotonic()
        r = run(argv, check=False, timeout=240, cwd=source)
        took = time.monotonic() - t0
        tap(r.returncode == 0, "%s (%.1f s)" % (what, took),
            "exit %d\n%s" % (r.returncode, r.stdout[-3000:]))
        if started is not None:
            return took
    return None


# --- checks ---------------------------------------------------------------------

class Sampler:
    def __init__(self, paths, driven=False):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "guest_line_sampler.py")] +
            (["--driven"] if driven else []) +
            ["%s=%s" % (k, v) for k, v in paths.items()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if self.proc.stderr.readline().strip() != "sampling":
            raise RuntimeError("the line sampler did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        if self.proc.returncode != 0:
            raise RuntimeError("line sampler: exit %d: %s" % (self.proc.returncode, err))
        return json.loads(out)


def low_samples(res, name):
    """Times at which line name was seen at 0 (first value or a change)."""
    line = res["lines"][name]
    lows = [res["start"]] if line["first"] != 1 else []
    return lows + [t for t, v in line["changes"] if v != 1]


def longest_edge_gap(res, name):
    """The longest time the line went without an edge, window ends included."""
    times = [res["start"]] + [t for t, _ in res["lines"][name]["changes"]] + [res["end"]]
    return max(b - a for a, b in zip(times, times[1:]))


def status_codes():
    st = show("StatusText")["StatusText"]
    m = re.search(r"codes=(\S+)", st)
    return st, (m.group(1) if m else None)


def outputs_closed(paths):
    return all(read(paths[n]) == "1" for n in ("load-disconnect", "charge-disconnect"))


def journal_since(t_mono):
    """The unit's journal lines from CLOCK_MONOTONIC t_mono on."""
    out = run(["journalctl", "-u", UNIT, "-o", "short-monotonic", "--no-pager",
               "-n", "200"]).stdout.splitlines()
    keep = []
    for line in out:
        m = re.match(r"\[\s*([0-9.]+)\]", line)
        if m and float(m.group(1)) >= t_mono:
            keep.append(line)
    return keep


def check_restart(paths, what, action):
    """Samples the lines (values, and the kernel's view of who drives them)
    around action(); TAP lines; the pids and NRestarts before and after."""
    before = show("MainPID", "NRestarts")
    s = Sampler({k: paths[k] for k in ("load-disconnect", "charge-disconnect", "heartbeat")},
                driven=True)
    time.sleep(1.0)
    t0 = time.monotonic()
    action()
    new_pid = wait_for(lambda: show("MainPID", "ActiveState")["MainPID"] not in
                       ("0", before["MainPID"]) and
                       show("ActiveState")["ActiveState"] == "active", 20)
    t_active = time.monotonic() - t0
    time.sleep(4.0)
    res = s.stop()
    after = show("MainPID", "NRestarts", "ActiveState")
    hb = [t for t, _ in res["lines"]["heartbeat"]["changes"]]
    gap, g0, g1 = max(((b - a, a, b) for a, b in zip([res["start"]] + hb, hb + [res["end"]])),
                      default=(res["end"] - res["start"], res["start"], res["end"]))
    note("%s: active again %.2f s after the command; %d samples, at most %.1f ms apart; "
         "heartbeat gap %.3f s from %.3f to %.3f (CLOCK_MONOTONIC)" %
         (what, t_active, res["samples"], res["max_interval_s"] * 1000, gap, g0, g1))
    log = journal_since(t0 - 0.5)
    note("journal (monotonic):\n" + "\n".join(log))
    tap(bool(new_pid), "%s: a new daemon is active (pid %s -> %s)" %
        (what, before["MainPID"], after["MainPID"]))
    lows = low_samples(res, "load-disconnect")
    tap(not lows, "%s: load-disconnect stays closed throughout (docs/protection.md 11)" % what,
        "seen at 0 at %s s after the sampler's start" %
        [round(t - res["start"], 3) for t in lows])
    for name in ("load-disconnect", "charge-disconnect"):
        lows = low_samples(res, "driven:" + name)
        tap(not lows, "%s: %s stays driven (held as an output) throughout" % (what, name),
            "released at %s s after the sampler's start" %
            [round(t - res["start"], 3) for t in lows])
    atc = res["lines"]["charge-disconnect"]
    opened = low_samples(res, "charge-disconnect")
    if opened:
        note("%s: charge-disconnect open from %.3f s (docs/protection.md 11: ATC stays open until "
             "every battery is fresh); changes %s" %
             (what, opened[0] - res["start"],
              [(round(t - res["start"], 3), v) for t, v in atc["changes"]]))
    # Closed again once the stale rule has seen its 5 s of fresh data.
    t_open = time.monotonic()
    closed = wait_for(lambda: read(paths["charge-disconnect"]) == "1", 20)
    tap(closed, "%s: charge-disconnect closes again once the batteries are fresh (%.1f s "
        "after the sampling ended)" % (what, time.monotonic() - t_open))
    new = [l for l in log if "smallbmsd[%s]" % after["MainPID"] in l]
    resumed = [stamp(l) for l in new if "resumed the GPIO line request" in l]
    # The new daemon's first edge comes right after it adopts the request
    # (daemon_outputs.c); the journal stamps its log line a little later.
    tap(bool(resumed), "%s: the new daemon resumed the stored line request (at %s; first "
        "heartbeat edge %.3f)" % (what, resumed[0] if resumed else "never", g1))
    # docs/protection.md 11: "a restart neither sounds the pre-alarm nor raises E1".
    bad = [l for l in new if "pre-alarm on" in l or "error E1" in l]
    tap(not bad, "%s: the new daemon neither sounds the pre-alarm nor raises E1 "
        "(docs/protection.md 11)" % what, "\n".join(bad))
    old = [l for l in log if "smallbmsd[%s]" % before["MainPID"] in l]
    note("%s: heartbeat gap %.3f s: last edge %.3f; %s; first edge of the new daemon %.3f" %
         (what, gap, g0, "; ".join(l for l in old[-1:] + new[:1]), g1))
    # The gap is the old daemon's exit, systemd starting the sandboxed unit
    # anew, and the new daemon's start. Under this guest's emulated CPU
    # systemd's part alone takes 1-2 s (on a board: a small fraction), so
    # the 2 s bound is checked on the daemon's own part: from its last edge
    # to its exit, and from the new daemon's first journal line to its
    # first edge. kernel/gpio-restart checks the whole restart of the
    # daemon, exec included, without systemd. The whole gap is reported.
    t_exit = next((stamp(l) for l in log if "systemd[1]" in l and stamp(l) >= g0 and
                   ("Main process exited" in l or "Deactivated successfully" in l)), None)
    t_new = stamp(new[0]) if new else None
    slow = SLOWDOWN[0]
    if t_exit is None or t_new is None:
        tap(False, "%s: the daemon's part of the heartbeat gap < %.1f s" % (what, MONOSTABLE_S),
            "no exit (%r) or no line of the new daemon (%r) in the journal" % (t_exit, t_new))
    else:
        own = max(0.0, t_exit - g0) + max(0.0, g1 - t_new)
        tap(own < MONOSTABLE_S,
            "%s: the daemon's part of the heartbeat gap %.3f s < %.1f s (docs/board.md monostable) "
            "# whole gap %.3f s: old daemon's last edge to its exit %.3f s, systemd and exec "
            "%.3f s, new daemon's first line to its first edge %.3f s; this guest runs "
            "smallbmsd --help %.0fx slower than the host" %
            (what, own, MONOSTABLE_S, gap, t_exit - g0, t_new - t_exit, g1 - t_new, slow),
            "edges: %d" % len(hb))
    return before, after


# How much slower this guest is than the host: smallbmsd --help, best of 3,
# in the guest over the host's figure (SMALLBMS_HOST_HELP_S, test_systemd.py).
SLOWDOWN = [0.0]


def measure_slowdown():
    host = float(os.environ.get("SMALLBMS_HOST_HELP_S", "0") or 0)
    best = None
    for _ in range(3):
        t = time.monotonic()
        run(["smallbmsd", "--help"])
        best = min(best or 1e9, time.monotonic() - t)
    if host > 0:
        SLOWDOWN[0] = best / host
    note("smallbmsd --help: %.3f s in the guest, %.3f s on the host: %.0fx" %
         (best, host, SLOWDOWN[0]))


def stamp(line):
    """The CLOCK_MONOTONIC seconds of a short-monotonic journal line."""
    m = re.match(r"\[\s*([0-9.]+)\]", line)
    return float(m.group(1)) if m else -1.0


def probe_sandbox(pid, tries):
    """Opens each MODE:PATH inside the daemon's cgroup, mount namespace, user
    and groups, without capabilities: {path: "ok" or errno name}."""
    cg = show("ControlGroup")["ControlGroup"]
    procs = "/sys/fs/cgroup%s/cgroup.procs" % cg

    def enter_cgroup():
        with open(procs, "w") as f:
            f.write("%d\n" % os.getpid())

    # The script goes in on stdin: the unit's sandbox (PrivateTmp=,
    # ProtectHome=) may hide the checkout it comes from.
    with open(os.path.join(HERE, "guest_sandbox_probe.py")) as f:
        probe_script = f.read()
    r = run(["nsenter", "-t", str(pid), "-m", "--",
             "setpriv", "--reuid=smallbms", "--regid=smallbms", "--init-groups",
             "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
             sys.executable, "-"] + tries,
            preexec_fn=enter_cgroup, input=probe_script)
    return dict(l.rsplit(" ", 1) for l in r.stdout.splitlines())


def main():
    build, source = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    t_start = time.monotonic()
    note("guest: the test starts %.1f s after kernel start" % uptime())

    if not os.path.exists("/sys/kernel/debug/gpio"):
        run(["mount", "-t", "debugfs", "debugfs", "/sys/kernel/debug"], check=False)
    chip, paths = make_gpio_chip()
    adc_dir, counts = make_adc()
    i2c_bus = ads1015_stub.stub_adapter()
    sim, pty = start_sim(build)
    note("board: %s (gpio-sim), ADS1015 at %s reading %d counts, bus on %s" %
         (chip, adc_dir, counts, pty))
    scales = [os.path.join(adc_dir, "in_voltage%d_scale" % i) for i in range(4)]

    os.makedirs(os.path.dirname(RIG_DROPIN), exist_ok=True)
    write(RIG_DROPIN, "\n".join([
        "# test rig (guest_systemd.py): the pty stands in for the board's UART",
        "[Service]",
        "ExecStartPre=+" + CLEAR_EXCL % pty,
        # The test's build has ASan and coverage. LeakSanitizer cannot stop
        # the world inside the sandbox (no ptrace) and would fail every
        # exit; coverage data goes to the private /tmp instead of the
        # read-only build directory.
        "Environment=ASAN_OPTIONS=detect_leaks=0 GCOV_PREFIX=/tmp/gcov",
        ""]))
    wiring = "\n".join([
        "[bus]", "port = " + pty,
        "[adc]", "device = ads1015",
        # i2c-stub has one conversion register that every channel reads:
        # only the bank channel gets a meaningful value.
        "remote-h-channel = none", "remote-l-channel = none",
        "charge-readback-channel = none",
        "[outputs]", "chip = /dev/" + chip, ""])

    t_inst = time.monotonic()
    ready_s = install(source, build, wiring)
    note("install (README steps) took %.1f s" % (time.monotonic() - t_inst))
    if ready_s is None:
        tap(False, "the README ends with systemctl enable --now smallbmsd")
        return finish(t_start)

    measure_slowdown()
    # The ADC existed before the install: the README's trigger (no reboot)
    # must have handed its scale attributes to the daemon's group.
    bad = []
    gid = int(run(["getent", "group", "smallbms"]).stdout.split(":")[2])
    for p in scales:
        st = os.stat(p)
        if st.st_gid != gid or not st.st_mode & 0o020:
            bad.append("%s: gid %d mode %o" % (p, st.st_gid, st.st_mode & 0o777))
    tap(not bad, "the ADC's in_voltage0..3_scale are group smallbms and g+w after the "
        "README's udev trigger, without a reboot (under %s)" % os.path.dirname(adc_dir),
        "\n".join(bad))

    # READY: `systemctl enable --now` of a Type=notify unit returns on READY=1.
    p = show("Type", "ActiveState", "SubState", "MainPID", "WatchdogUSec", "RestartUSec",
             "NRestarts")
    tap(p["Type"] == "notify" and p["ActiveState"] == "active" and p["SubState"] == "running",
        "READY: the notify unit is active (running) %.2f s after systemctl enable --now" %
        ready_s, str(p))
    closed = wait_for(lambda: outputs_closed(paths), 20)
    with open("/sys/kernel/debug/gpio") as f:
        note("kernel's view of the lines:\n" + f.read())
    tap(closed, "the daemon closes load-disconnect and charge-disconnect on gpio-sim",
        "lines: %s; status: %s" % ({k: read(v) for k, v in paths.items()}, status_codes()[0]))
    st, codes = status_codes()
    tap(codes is not None and "E8" not in codes,
        "the ADS1015 reads right: no ADC fault (E8) in the status (%s)" % st, st)
    scale0 = read(scales[0])
    tap(float(scale0) == 2.0, "the daemon set the bank channel's range: in_voltage0_scale = %s "
        "(2 mV a count: +-4.096 V on the 12-bit ADS1015)" % scale0)

    # WATCHDOG: not killed over twice WatchdogSec.
    wd_prop = p["WatchdogUSec"]
    wd_s = parse_span(wd_prop)
    if not tap(wd_s > 0, "WATCHDOG: the unit has WatchdogSec (%s)" % wd_prop):
        wd_s = 10
    s = Sampler({"heartbeat": paths["heartbeat"]})
    time.sleep(2 * wd_s + 1)
    res = s.stop()
    q = show("MainPID", "NRestarts", "ActiveState", "Result")
    tap(q["MainPID"] == p["MainPID"] and q["NRestarts"] == p["NRestarts"] and
        q["ActiveState"] == "active",
        "WATCHDOG: the daemon is not killed over %.0f s (2 x WatchdogSec)" % (2 * wd_s),
        "before %s, after %s" % (p, q))
    gap = longest_edge_gap(res, "heartbeat")
    tap(gap < MONOSTABLE_S, "the heartbeat toggles throughout (longest gap %.3f s, %d edges)" %
        (gap, len(res["lines"]["heartbeat"]["changes"])),
        "the sampler's own longest time between two samples: %.3f s (a stalled guest)" %
        res["max_interval_s"])

    # systemctl restart: the line request goes through the fd store.
    before, after = check_restart(paths, "systemctl restart",
                                  lambda: run(["systemctl", "restart", UNIT]))
    exits = [l for l in journal_since(0) if "Main process exited" in l or
             "Failed with result" in l]
    tap(not exits, "systemctl restart: the old daemon exits cleanly on SIGTERM",
        "\n".join(exits))

    # SIGKILL: Restart=on-failure after RestartSec, the request kept by systemd.
    restart_s = parse_span(show("RestartUSec")["RestartUSec"])
    before, after = check_restart(paths, "systemctl kill -s KILL",
                                     lambda: run(["systemctl", "kill", "-s", "KILL", UNIT]))
    tap(int(after["NRestarts"]) == int(before["NRestarts"]) + 1,
        "systemctl kill -s KILL: systemd restarted it (NRestarts %s -> %s, RestartSec %.1f s)" %
        (before["NRestarts"], after["NRestarts"], restart_s))

    # The sandbox: what the daemon reaches, and a few things it must not.
    pid = int(show("MainPID")["MainPID"])
    rw_world = "/srv/smallbms-probe"
    write(rw_world, "x\n")
    os.chmod(rw_world, 0o666)
    tunable = "/sys/kernel/mm/transparent_hugepage/enabled"
    i2c_dev = "/dev/" + i2c_bus
    for path in (tunable, i2c_dev, "/dev/kmsg"):
        if os.path.exists(path):
            # Give the daemon's group the modes, so that only the unit's
            # hardening stands between it and them.
            os.chown(path, 0, gid)
            os.chmod(path, 0o660)
    iio_node = "/dev/" + os.path.basename(adc_dir)
    expect = [
        ("rw", "/dev/" + chip, "ok", "its gpiochip"),
        ("rw", iio_node, "ok", "its IIO device"),
        ("w", scales[0], "ok", "the ADC's scale attribute"),
        ("r", "/var/lib/smallbms", "ok", "its state directory"),
        ("rw", "/dev/kmsg", "EACCES", "the kernel log, group smallbms rw (ProtectKernelLogs)"),
        ("rw", i2c_dev, "EPERM", "the ADC's raw I2C bus, group smallbms rw (DevicePolicy)"),
        ("w", tunable, "EROFS", "a kernel tunable, group smallbms g+w (ProtectKernelTunables)"),
        ("w", rw_world, "EROFS", "a world-writable file outside its state (ProtectSystem)"),
    ]
    got = probe_sandbox(pid, ["%s:%s" % (m, p) for m, p, _, _ in expect])
    for mode, path, want, what in expect:
        tap(got.get(path) == want, "sandbox: %s %s -> %s (%s)" % (mode, path, want, what),
            "got %s" % got.get(path))

    # systemd-analyze security: the figure the README gives.
    out = run(["systemd-analyze", "security", UNIT, "--no-pager"], check=False).stdout
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)", out)
    with open(os.path.join(source, "README.md")) as f:
        claimed = re.search(r"systemd-analyze security`: ([0-9.]+) (\S+?)\)", f.read())
    tap(m and claimed and m.group(1) == claimed.group(1),
        "systemd-analyze security: %s %s, as the README says (%s)" %
        (m.group(1) if m else "?", m.group(2) if m else "?",
         claimed.group(1) if claimed else "README gives no figure"),
        out[-1500:])

    # journalctl -x: the catalog's text beside the daemon's events.
    with open(os.path.join(source, "systemd/smallbms.catalog")) as f:
        subjects = set(re.findall(r"^Subject: (.+)$", f.read(), re.M))
    x = run(["journalctl", "-x", "-u", UNIT, "--no-pager"]).stdout
    shown = set(re.findall(r"^░░ Subject: (.+)$", x, re.M)) & subjects
    tap(bool(shown), "journalctl -x -u smallbmsd shows the catalog's text (%d subjects, e.g. %r)"
        % (len(shown), sorted(shown)[0] if shown else None),
        "\n".join(x.splitlines()[-20:]))

    check_polkit()
    check_mqtt()
    # Last: the daemon powers the guest off (guest-init's own power-off
    # never comes: this job is stopped by the shutdown).
    check_poweroff()
    return finish(t_start, write_status=True)


PLAIN_USER, ADMIN_USER = "sbplain", "sbadmin"
SETTINGS = ("org.smallbms", "/org/smallbms/settings", "org.smallbms.Settings1")


def uv_trip():
    r = run(["busctl", "get-property"] + list(SETTINGS) + ["UvTripMv"], check=False)
    m = re.match(r"i (-?\d+)", r.stdout.strip())
    return int(m.group(1)) if m else None


def as_user(user, argv):
    return run(["runuser", "-u", user, "--"] + argv, check=False, timeout=120)


def check_polkit():
    """The real polkitd with the installed actions and rules: a plain user
    is refused every write (nothing changes), a member of smallbms-admin is
    allowed without a password, root is allowed; reads are open to all."""
    run(["useradd", "-M", "-s", "/usr/sbin/nologin", PLAIN_USER])
    run(["useradd", "-M", "-s", "/usr/sbin/nologin", "-G", "smallbms-admin", ADMIN_USER])
    before = uv_trip()
    tap(before is not None, "polkit: root reads UvTripMv with busctl (%r)" % before)
    if before is None:
        return
    new = before + 50
    setarg = "uv_trip_mv=%d" % new

    r = as_user(PLAIN_USER, ["busctl", "--allow-interactive-authorization=no", "call"]
                + list(SETTINGS) + ["SetMany", "a{si}", "1", "uv_trip_mv", str(new)])
    # busctl prints the error's message: the daemon's text for
    # InteractiveAuthorizationRequired (src/polkit/polkit.c)
    tap(r.returncode != 0 and "needs authentication" in r.stdout
        and uv_trip() == before,
        "polkit: a plain user's busctl SetMany without interaction is refused "
        "(InteractiveAuthorizationRequired: polkit wants an administrator), nothing changed",
        "exit %d: %s; UvTripMv %r" % (r.returncode, r.stdout.strip(), uv_trip()))
    r = as_user(PLAIN_USER, ["smallbmsctl", "set", setarg])
    tap(r.returncode != 0 and uv_trip() == before,
        "polkit: a plain user's smallbmsctl set is refused (no agent to ask a password), "
        "nothing changed: %s" % (r.stdout.strip().splitlines() or ["?"])[-1],
        "exit %d: %s; UvTripMv %r" % (r.returncode, r.stdout.strip(), uv_trip()))
    active = run(["systemctl", "is-active", "polkit.service"], check=False).stdout.strip()
    tap(active == "active", "polkit: the writes were decided by the real polkitd "
        "(polkit.service %s)" % active)
    r = as_user(PLAIN_USER, ["smallbmsctl", "status"])
    tap(r.returncode == 0, "polkit: a plain user reads (smallbmsctl status)",
        "exit %d: %s" % (r.returncode, r.stdout.strip()))
    r = as_user(PLAIN_USER, ["busctl", "get-property"] + list(SETTINGS) + ["UvTripMv"])
    tap(r.returncode == 0 and r.stdout.strip() == "i %d" % before,
        "polkit: a plain user reads a setting (busctl get-property: %s)" % r.stdout.strip(),
        r.stdout.strip())

    r = as_user(ADMIN_USER, ["smallbmsctl", "set", setarg])
    tap(r.returncode == 0 and uv_trip() == new,
        "polkit: a member of smallbms-admin sets uv_trip_mv without a password "
        "(smallbmsctl set %s)" % setarg,
        "exit %d: %s; UvTripMv %r" % (r.returncode, r.stdout.strip(), uv_trip()))
    r = as_user(ADMIN_USER, ["busctl", "--allow-interactive-authorization=no", "call"]
                + list(SETTINGS) + ["SetMany", "a{si}", "1", "uv_trip_mv", str(before)])
    tap(r.returncode == 0 and uv_trip() == before,
        "polkit: a member of smallbms-admin's busctl SetMany without interaction is allowed",
        "exit %d: %s; UvTripMv %r" % (r.returncode, r.stdout.strip(), uv_trip()))
    r = run(["smallbmsctl", "set", setarg], check=False)
    tap(r.returncode == 0 and uv_trip() == new, "polkit: root sets uv_trip_mv (smallbmsctl)",
        "exit %d: %s; UvTripMv %r" % (r.returncode, r.stdout.strip(), uv_trip()))
    run(["smallbmsctl", "set", "uv_trip_mv=%d" % before], check=False)


MQTT_PORT = 18883
MQTT_EXAMPLE = "/usr/share/doc/smallbmsd/mqtt.conf.example"
MQTT_UNIT_DROPIN = "/etc/systemd/system/smallbmsd.service.d/mqtt.conf"
MQTT_CONF_DROPIN = "/etc/smallbms/smallbmsd.conf.d/mqtt.conf"


def discovery_seen(wait_s):
    """One retained Home Assistant discovery message from the broker."""
    r = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(MQTT_PORT), "-t", "homeassistant/#",
             "-v", "-C", "1", "-W", str(wait_s)], check=False, timeout=wait_s + 30)
    return r.returncode == 0 and r.stdout.startswith("homeassistant/"), r.stdout


def check_mqtt():
    """README "Home Assistant (MQTT)" under the installed unit and a real
    mosquitto: with [mqtt] configured but without the unit drop-in, the
    sandbox keeps the daemon off the network and the journal says where the
    drop-in is; with the shipped example installed as the README says (the
    broker's address put in), the discovery reaches the broker."""
    if not tap(os.path.exists(MQTT_EXAMPLE), "mqtt: %s is installed" % MQTT_EXAMPLE):
        return
    broker = subprocess.Popen(["mosquitto", "-p", str(MQTT_PORT)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        os.makedirs(os.path.dirname(MQTT_CONF_DROPIN), exist_ok=True)
        write(MQTT_CONF_DROPIN, "[mqtt]\nuri = mqtt://127.0.0.1:%d\n" % MQTT_PORT)
        t0 = time.monotonic()
        run(["systemctl", "restart", UNIT])
        said = wait_for(lambda: "mqtt.conf.example" in "\n".join(journal_since(t0)), 30, step=1)
        tap(said, "mqtt: without the unit drop-in the journal points to %s" % MQTT_EXAMPLE,
            "\n".join(journal_since(t0)[-15:]))
        seen, out = discovery_seen(3)
        tap(not seen, "mqtt: without the drop-in nothing reaches the broker", out[-500:])

        example = read(MQTT_EXAMPLE)
        dropin = example.replace("IPAddressAllow=192.0.2.10", "IPAddressAllow=127.0.0.1")
        tap(dropin != example, "mqtt: the example names the broker's address to put in")
        os.makedirs(os.path.dirname(MQTT_UNIT_DROPIN), exist_ok=True)
        write(MQTT_UNIT_DROPIN, dropin)
        run(["systemctl", "daemon-reload"])
        run(["systemctl", "restart", UNIT])
        seen, out = discovery_seen(30)
        tap(seen, "mqtt: with the drop-in the daemon publishes Home Assistant's discovery "
            "to the broker", out[-500:] + "\n".join(journal_since(t0)[-15:]))
    finally:
        for f in (MQTT_UNIT_DROPIN, MQTT_CONF_DROPIN):
            if os.path.exists(f):
                os.unlink(f)
        run(["systemctl", "daemon-reload"], check=False)
        broker.terminate()
        broker.wait(timeout=10)


# --- the low-power shutdown (docs/protection.md section 10, issue 17) ---------

STATE_DIR = "/var/lib/smallbms"  # StateDirectory=smallbms
POWEROFF_LEFT_S = 15  # of the 10 min hold, when the resumed daemon starts
POWEROFF_MESSAGE_ID = "99cad35b78984b13ac65d3ad177f3c04"  # systemd/smallbms.catalog


def sim_cmd(line):
    return harness.sim_control(SIM_CONTROL, line)


def saved_timer():
    try:
        return state_record.shutdown_timer(STATE_DIR)
    except (OSError, state_record.RecordError):
        return False, 0.0


def unit_journal():
    """The unit's last 400 journal lines (short-monotonic)."""
    return run(["journalctl", "-u", UNIT, "-o", "short-monotonic", "--no-pager",
                "-n", "400"]).stdout.splitlines()


def unit_log(pattern, pid=None, lines=None):
    """(monotonic stamp, text) of the unit's journal lines matching pattern
    (of process pid only, if given), from lines or the journal now."""
    hits = []
    for line in unit_journal() if lines is None else lines:
        if pid is not None and "smallbmsd[%d]" % pid not in line:
            continue
        m = re.search(pattern, line)
        if m:
            hits.append((stamp(line), line))
    return hits


def check_poweroff():
    """The last test: the guest really powers off. A cell at 2.45 V (A2)
    opens load-disconnect with no charger, which starts the 10 min hold; the
    daemon saves it. Ten minutes are not waited for: the daemon is frozen,
    the saved timer made POWEROFF_LEFT_S short of 10 min (the guest's clocks
    run an hour ahead: run-guest --clock-ahead, so the age is not older than
    the clock), and the daemon SIGKILLed. systemd restarts it, the new one
    resumes the timer with the line request from the fd store, and when the
    hold is complete it says why in the journal, saves, releases every
    output and calls the real logind's PowerOff, which the real polkitd
    allows for user smallbms (systemd/50-smallbms.rules). The shutdown stops
    this job (SIGTERM), which then reads what happened."""
    global children_ignore_sigterm
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(time.monotonic()))
    children_ignore_sigterm = True
    ahead = int(os.environ.get("SMALLBMS_GUEST_CLOCK_AHEAD", "0"))
    if not tap(time.monotonic() > state_record.HOLD_S + 60,
               "power-off: the guest's clocks read more than 10 min (run-guest --clock-ahead "
               "%d; CLOCK_MONOTONIC %.0f s)" % (ahead, time.monotonic())):
        return
    sim_cmd("current 0")
    sim_cmd("cell 1 3 2450")
    t0 = time.monotonic()
    running = wait_for(lambda: saved_timer()[0], 30, step=0.2)
    pid = int(show("MainPID")["MainPID"])
    opened = unit_log(r"load-disconnect.*open|ATD open|error A2|alarm A2", pid)
    tap(running, "power-off: a cell at 2.45 V (A2) with no charger starts the shutdown timer and "
        "the daemon saves it (%.1f s after the command; saved age %.1f s)"
        % (time.monotonic() - t0, saved_timer()[1]),
        "\n".join(l for _, l in unit_log(".", pid)[-20:]))
    if not running:
        return
    note("power-off: journal of the trip:\n" + "\n".join(l for _, l in opened[-5:]))
    os.kill(pid, signal.SIGSTOP)
    try:
        state_record.set_shutdown_age(STATE_DIR, state_record.HOLD_S - POWEROFF_LEFT_S)
        gen_edit = state_record.newest_state(STATE_DIR)[0]
    finally:
        os.kill(pid, signal.SIGKILL)
    t_kill = time.monotonic()
    note("power-off: daemon %d frozen, saved timer set to %d s, SIGKILLed at %.3f"
         % (pid, state_record.HOLD_S - POWEROFF_LEFT_S, t_kill))

    # Until the shutdown stops this job: when the kernel last saw the
    # disconnect outputs held (the fd store holds them across the restart).
    released = None
    deadline = t_kill + POWEROFF_LEFT_S + 120
    while not stopped and time.monotonic() < deadline:
        held = driven(read("/sys/kernel/debug/gpio"), ("load-disconnect", "charge-disconnect"))
        if released is None and not any(held.values()):
            released = time.monotonic()
        time.sleep(0.05)
    if not tap(bool(stopped), "power-off: the shutdown stopped this job (SIGTERM) %.1f s after "
               "the SIGKILL" % ((stopped[0] if stopped else time.monotonic()) - t_kill),
               "\n".join(l for _, l in unit_log(".")[-30:])):
        return
    state = run(["systemctl", "is-system-running"], check=False).stdout.strip()
    journal = unit_journal()  # read once: each journalctl takes a while under TCG
    new_pid = [int(m) for _, l in unit_log(r"low-power shutdown", lines=journal)
               for m in re.findall(r"smallbmsd\[(\d+)\]", l)]
    new_pid = new_pid[-1] if new_pid else -1
    resumed = unit_log(r"resumed the GPIO line request", new_pid, journal)
    why = unit_log(r"power-off: low-power shutdown: (.*)", new_pid, journal)
    asked = unit_log(r"power-off: asking logind to power off", new_pid, journal)
    accepted = unit_log(r"power-off: logind accepted the power-off", new_pid, journal)
    stop_line = unit_log(r"stopping", new_pid, journal)
    held_s = re.search(r"for (\d+) s with no charger", why[0][1]) if why else None
    took = why[0][0] - resumed[0][0] if why and resumed else None
    tap(bool(resumed and why and held_s) and
        state_record.HOLD_S <= int(held_s.group(1)) <= state_record.HOLD_S + 2 and
        POWEROFF_LEFT_S - 1 <= took <= POWEROFF_LEFT_S + 10,
        "power-off: the restarted daemon %d resumed the saved timer and began the shutdown %s s "
        "after its resume (%d s were left of the hold), saying why: %s"
        % (new_pid, "%.1f" % took if took is not None else "?", POWEROFF_LEFT_S,
           why[0][1].split("low-power shutdown: ", 1)[1] if why else "no journal line"),
        "\n".join(journal[-30:]))
    r = run(["journalctl", "MESSAGE_ID=" + POWEROFF_MESSAGE_ID, "_PID=%d" % new_pid,
             "-o", "cat", "--no-pager"], check=False)
    tap("low-power shutdown" in r.stdout, "power-off: the journal entry carries MESSAGE_ID %s "
        "(journalctl -x explains it)" % POWEROFF_MESSAGE_ID, r.stdout[-800:])
    gen, _, _ = state_record.newest_state(STATE_DIR)
    run_, age = saved_timer()
    tap(gen > gen_edit and run_ and age >= state_record.HOLD_S - 1,
        "power-off: the state was saved first (generation %d -> %d, shutdown timer age %.1f s)"
        % (gen_edit, gen, age))
    tap(why and released is not None and released >= why[0][0] - 0.5 and
        (not stop_line or released <= stop_line[-1][0]) and
        (not asked or released <= asked[0][0] + 0.5),
        "power-off: load-disconnect and charge-disconnect released by the daemon %s s after its "
        "shutdown line, before it asked logind and before systemd stopped it"
        % ("%.2f" % (released - why[0][0]) if why and released else "?"),
        "released %s; asked %s; stop %s" % (released, asked[:1], stop_line[-1:]))
    logind = run(["journalctl", "-u", "systemd-logind", "-o", "cat", "--no-pager", "-n", "50"],
                 check=False).stdout
    tap(bool(accepted) and "System is powering down" in logind and state == "stopping",
        "power-off: the real logind accepted PowerOff from user smallbms (the real polkitd, "
        "systemd/50-smallbms.rules) and the system is %s: \"%s\"" %
        (state, "System is powering down." if "System is powering down" in logind else "?"),
        logind[-800:])


def parse_span(text):
    """A systemd time span ("10s", "300ms", "1min 30s") in seconds."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600}
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)\s*(us|ms|min|s|h)", text):
        total += float(num) * units[unit]
    return total


def finish(t_start, write_status=False):
    """The plan; with write_status also the exit status to the host, for a
    job that the guest's shutdown stops before guest-init could send it."""
    note("whole guest test %.1f s (from job start)" % (time.monotonic() - t_start))
    print("1..%d" % n_tests, flush=True)
    rc = 1 if failed else 0
    if write_status:
        write(os.environ["SMALLBMS_GUEST_STATUS"], "%d\n" % rc)
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a broken rig is a failure with its reason
        print("Bail out! %s: %s" % (type(e).__name__, e), flush=True)
        if children_ignore_sigterm:  # guest-init may be gone: tell the host
            write(os.environ["SMALLBMS_GUEST_STATUS"], "1\n")
        sys.exit(1)
