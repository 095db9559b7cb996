# SPDX-License-Identifier: GPL-2.0-or-later
"""The integration rig: the real smallbmsd, smallbms-sim on a pty, and a fake
IIO tree mounted over /sys/bus/iio in a private mount namespace (TESTING.md).

Every rig lives in its own temporary directory (configuration, state, the
simulator's pty link and control socket, the NOTIFY_SOCKET, the IIO tree),
so rigs run in parallel. The daemon is observed only through its own
surfaces: the sd_notify datagrams, its event lines on stderr, and the
dry-run backend's "DRY-RUN: <line> -> <state>" lines, which are the ground
truth of what was driven.
"""

import importlib.machinery
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SMALLBMSD = os.environ.get("SMALLBMSD", "")
SIM = os.environ.get("SMALLBMS_SIM", "")
FEEDER = os.environ.get("SMALLBMS_IIO_FEEDER", "")

STATUS_RE = re.compile(
    r"^ATD=(open|closed) ATC=(open|closed) PRE=(on|off) "
    r"SoC=(\d{1,3}\.\d\d|unknown) V=(\d+\.\d\d|unknown) I=(-?\d+\.\d\d|unknown) "
    r"codes=(-|[WAE]\d(,[WAE]\d)*)$"
)
DRYRUN_RE = re.compile(r"DRY-RUN: ([a-z-]+) -> (\w+)")


def load_feeder():
    loader = importlib.machinery.SourceFileLoader("iio_feeder", FEEDER)
    spec = importlib.util.spec_from_loader("iio_feeder", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def namespace_usable():
    """A private mount namespace with a tmpfs over /sys/bus, or why not."""
    tree = tempfile.mkdtemp(prefix="smallbms-ns-")
    try:
        r = subprocess.run(ns_prefix(tree) + ["true"], capture_output=True, timeout=20)
        if r.returncode != 0:
            return r.stderr.decode(errors="replace").strip() or "unshare failed"
        return None
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def ns_prefix(tree):
    """argv prefix that runs a command with TREE mounted over /sys/bus/iio.

    `unshare -m` replaces itself with sh, which replaces itself with the
    command: the pid we hold is the daemon's, signals reach it directly."""
    flags = "-m" if os.geteuid() == 0 else "-rm"
    script = (
        'mount -t tmpfs none /sys/bus && mkdir /sys/bus/iio && '
        'mount --bind "$0" /sys/bus/iio && exec "$@"'
    )
    return ["unshare", flags, "sh", "-c", script, tree]


class Notify:
    """A test-owned NOTIFY_SOCKET: collects every datagram with its time."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []  # (monotonic time, {key: value})
        self.cond = threading.Condition()
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            fields = {}
            for line in data.decode(errors="replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            with self.cond:
                self.messages.append((now, fields))
                self.cond.notify_all()

    def wait(self, key, value=None, timeout=30, since=0):
        """First message from index `since` carrying key (=value); its time."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.messages):
                    t, f = self.messages[i]
                    i += 1
                    if key in f and (value is None or f[key] == value):
                        return t, f[key]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, None
                self.cond.wait(left)

    def statuses(self):
        with self.cond:
            return [(t, f["STATUS"]) for t, f in self.messages if "STATUS" in f]

    def close(self):
        self._stop = True
        self.sock.close()
        self.thread.join(2)


class Daemon:
    """One smallbmsd process; its stderr lines are kept with their times."""

    def __init__(self, argv, env, log_prefix):
        self.lines = []  # (monotonic time, text)
        self.outputs = {}  # line name -> last DRY-RUN state
        self.cond = threading.Condition()
        self.log_prefix = log_prefix
        self.proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stderr:
            now = time.monotonic()
            text = raw.decode(errors="replace").rstrip("\n")
            m = DRYRUN_RE.search(text)
            with self.cond:
                self.lines.append((now, text))
                if m:
                    self.outputs[m.group(1)] = m.group(2)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait(self, pattern, timeout=30, since=0):
        """First line from index `since` matching pattern: (time, match, index),
        or (None, None, None) at the timeout or when the daemon has ended."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.lines):
                    t, text = self.lines[i]
                    i += 1
                    m = rx.search(text)
                    if m:
                        return t, m, i - 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.thread.is_alive()):
                    return None, None, None
                self.cond.wait(min(left, 0.5))

    def mark(self):
        with self.cond:
            return len(self.lines)

    def matching(self, pattern, since=0):
        rx = re.compile(pattern)
        with self.cond:
            return [(t, text) for t, text in self.lines[since:] if rx.search(text)]

    def output(self, name):
        with self.cond:
            return self.outputs.get(name)

    def text(self, last=60, skip_heartbeat=True):
        with self.cond:
            lines = [x for _, x in self.lines
                     if not (skip_heartbeat and re.search(r"DRY-RUN: (heartbeat|led-)", x))]
        return "\n".join(lines[-last:])

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait_exit(self, timeout=20):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.thread.join(5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.thread.join(5)


def sim_control(path, line):
    """A control command to smallbms-sim's socket at path, on a connection of
    its own; its 'ok ...' reply (Fail on anything else)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    try:
        s.sendall(line.encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    reply = buf.decode().strip()
    if not reply.startswith("ok"):
        raise Fail("simulator refused %r: %s" % (line, reply))
    return reply


class Rig:
    """A temporary world for one test: simulator, fake ADC, configuration."""

    def __init__(self, name, series=1, parallel=1, soc=80, model="12.8/100",
                 sim_args=(), config_extra=None, start_sim=True, chip=None):
        if not (SMALLBMSD and os.access(SMALLBMSD, os.X_OK)):
            raise Skip("smallbmsd not built (SMALLBMSD=%r)" % SMALLBMSD)
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="smallbms-it-%s-" % name)
        self.port = os.path.join(self.dir, "ttyM8")
        self.control = os.path.join(self.dir, "sim.sock")
        self.tree = os.path.join(self.dir, "iio")
        self.conf_dir = os.path.join(self.dir, "etc")
        self.state_dir = os.path.join(self.dir, "state")
        self.series, self.parallel, self.soc, self.model = series, parallel, soc, model
        self.sim_args = list(sim_args)
        self.sim = None
        self.daemon = None
        self.daemons = []
        os.makedirs(self.conf_dir)
        os.makedirs(self.state_dir)
        self.feeder_mod = load_feeder()
        # The fake ADC copies the real driver's layout of this chip
        # (tests/hw/iio-layout/), the ADS1115 unless a case says.
        self.chip = chip or self.feeder_mod.DEFAULT_CHIP
        self.feeder_mod.create_tree(self.tree, self.chip)
        self.feeder = self.feeder_mod.Feeder(self.tree, self.control)
        self.notify = Notify(os.path.join(self.dir, "notify"))
        self.write_config(config_extra or {})
        if start_sim:
            self.start_sim()

    # -- configuration -------------------------------------------------
    def config_text(self, extra):
        sections = {
            "bus": {"port": self.port},
            "adc": {"uri": "local:", "charge-readback-channel": "none"},
            "outputs": {"backend": "dry-run"},
            "state": {"directory": self.state_dir},
        }
        for sec, kv in extra.items():
            sections.setdefault(sec, {}).update(kv)
        out = ["# smallbms integration test %s" % self.name]
        for sec, kv in sections.items():
            out.append("[%s]" % sec)
            out += ["%s = %s" % (k, v) for k, v in kv.items()]
        return "\n".join(out) + "\n"

    def write_config(self, extra):
        with open(os.path.join(self.conf_dir, "smallbmsd.conf"), "w") as f:
            f.write(self.config_text(extra))

    # -- the simulator -------------------------------------------------
    def start_sim(self, extra=()):
        argv = [SIM, "--model", self.model, "--series", str(self.series),
                "--parallel", str(self.parallel), "--soc", str(self.soc),
                "--link", self.port, "--control", self.control] + self.sim_args + list(extra)
        self.sim_log = open(os.path.join(self.dir, "sim.log"), "w")
        self.sim = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=self.sim_log)
        first = self.sim.stdout.readline().decode()
        second = self.sim.stdout.readline().decode()
        if not first.startswith("pty ") or second.strip() != "ready":
            raise Fail("simulator did not start: %r %r" % (first, second))
        self.feeder.feed_once()
        self.feeder.start()

    def sim_cmd(self, line):
        """A control command on a connection of its own; 'ok ...' expected."""
        return sim_control(self.control, line)

    # -- the daemon ------------------------------------------------------
    def env(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_PID", "LISTEN_FDS",
                            "LISTEN_PID", "INVOCATION_ID")}
        env["NOTIFY_SOCKET"] = self.notify.path
        env["WATCHDOG_USEC"] = "10000000"
        return env

    def base_args(self):
        return ["--config-dir", self.conf_dir, "--state-dir", self.state_dir]

    def run_tool(self, *args, timeout=60):
        """smallbmsd with offline arguments (--set, --show-state, --check-config)."""
        return subprocess.run([SMALLBMSD] + self.base_args() + list(args), env=self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def set(self, *assignments):
        args = []
        for a in assignments:
            args += ["--set", a]
        r = self.run_tool(*args)
        if r.returncode != 0:
            raise Fail("--set %s: exit %d: %s" % (" ".join(assignments), r.returncode,
                                                  r.stderr.strip()))

    def start_daemon(self, *extra):
        argv = ns_prefix(self.tree) + [SMALLBMSD] + self.base_args() + list(extra)
        self.daemon = Daemon(argv, self.env(), self.name)
        self.daemons.append(self.daemon)
        return self.daemon

    def wait_outputs(self, atd, atc, timeout=60, since=0):
        """Waits until the last DRY-RUN states of both disconnect outputs are
        atd and atc ('open'/'closed'); True when they are."""
        d = self.daemon
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if d.output("load-disconnect") == atd and d.output("charge-disconnect") == atc:
                return True
            if d.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def wait_started(self, timeout=90):
        """READY=1, then both disconnect outputs closed."""
        t, _ = self.notify.wait("READY", "1", timeout=timeout)
        check(t is not None, "no READY=1 within %d s" % timeout)
        check(self.wait_outputs("closed", "closed", timeout=timeout),
              "ATD and ATC not both closed after start")
        return t

    def stop_daemons_checked(self):
        """SIGTERM to every daemon still running: each must exit 0, so that
        the sanitizers' reports (leaks at exit, UB) fail the case; and no
        daemon of the case may have printed a sanitizer report."""
        for d in self.daemons:
            if d.proc.poll() is None:
                d.signal(signal.SIGTERM)
                rc = d.wait_exit(30)
                check(rc == 0, "exit status %r after SIGTERM at the end" % rc)
        for d in self.daemons:
            bad = d.matching(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")
            check(not bad, "sanitizer report: %s" % (bad[0][1] if bad else ""))

    def close(self):
        for d in self.daemons:
            d.kill()
        self.feeder.stop()
        if self.sim and self.sim.poll() is None:
            self.sim.terminate()
            try:
                self.sim.wait(10)
            except subprocess.TimeoutExpired:
                self.sim.kill()
                self.sim.wait(5)
        if self.sim:
            self.sim.stdout.close()
            self.sim_log.close()
        self.notify.close()
        if os.environ.get("SMALLBMS_KEEP_RIG"):
            sys.stderr.write("# rig kept in %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def diagnostics(self):
        out = []
        if self.daemon:
            out.append("daemon stderr (last lines, heartbeat and LEDs left out):")
            out.append(self.daemon.text())
        out.append("feeder: running %s, last error %s, last bank %s mV" % (
            bool(self.feeder._thread and self.feeder._thread.is_alive()),
            self.feeder.last_error, self.feeder.last_bank_mv))
        st = self.notify.statuses()
        if st:
            out.append("last STATUS: " + st[-1][1])
        try:
            with open(os.path.join(self.dir, "sim.log")) as f:
                tail = f.read().splitlines()[-10:]
            out.append("simulator log tail:")
            out += tail
        except OSError:
            pass
        return "\n".join(out)


def run_cases(cases, selected):
    """Runs the selected cases (all when empty), printing TAP."""
    names = selected or list(cases)
    unknown = [n for n in names if n not in cases]
    if unknown:
        print("Bail out! unknown case(s): %s" % ", ".join(unknown))
        return 2
    print("1..%d" % len(names), flush=True)
    why = namespace_usable()
    failed = 0
    for i, name in enumerate(names, 1):
        fn = cases[name]
        if why is not None:
            print("ok %d - %s # SKIP private mount namespace not permitted: %s" % (i, name, why))
            continue
        try:
            fn()
            print("ok %d - %s" % (i, name), flush=True)
        except Skip as e:
            print("ok %d - %s # SKIP %s" % (i, name, e), flush=True)
        except Exception as e:  # a failure of any kind is this case's
            failed += 1
            print("not ok %d - %s" % (i, name))
            detail = getattr(e, "rig_diagnostics", "")
            for line in ("%s: %s" % (type(e).__name__, e) + "\n" + detail).splitlines():
                print("# " + line)
            sys.stdout.flush()
    return 1 if failed else 0


def with_rig(fn, **rig_args):
    """Runs fn(rig) with a fresh rig, attaching the rig's logs to a failure."""
    autostart = rig_args.pop("start_sim", True)
    rig = Rig(fn.__name__, start_sim=False, **rig_args)
    try:
        if autostart:
            rig.start_sim()
        fn(rig)
        rig.stop_daemons_checked()
    except Exception as e:
        e.rig_diagnostics = rig.diagnostics()
        raise
    finally:
        rig.close()
