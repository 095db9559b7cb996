#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The running part of tools/demo (which installs and builds first).

Runs, in a temporary directory that it removes at the end:
  smallbms-sim   a bank of M8-bus batteries on a pty, playing
                 scenarios/discharge-recharge.scn faster than real time;
  iio-feeder     a fake ADS1015 sysfs tree whose bank voltage follows the
                 simulator (remote terminal ON: Remote L near 0 V);
  smallbmsd      the real daemon, outputs in dry-run, inside `unshare -m`
                 with the fake tree mounted over /sys/bus/iio (TESTING.md),
                 its sd_notify STATUS read from a NOTIFY_SOCKET of our own.
and shows the outputs, their reasons and the bank on the terminal.
"""

import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOLD, RED, GREEN, YELLOW, DIM, RESET = "\033[1m", "\033[31m", "\033[32m", "\033[33m", "\033[2m", "\033[0m"


def load_feeder():
    import importlib.machinery
    import importlib.util

    path = os.path.join(ROOT, "tools", "iio-feeder")
    loader = importlib.machinery.SourceFileLoader("iio_feeder", path)
    spec = importlib.util.spec_from_loader("iio_feeder", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


class Screen:
    def __init__(self, colour):
        self.t0 = time.monotonic()
        self.colour = colour

    def say(self, text, style=""):
        stamp = "[%6.1f s]" % (time.monotonic() - self.t0)
        if self.colour and style:
            text = style + text + RESET
        print("%s %s" % (stamp, text), flush=True)


def main():
    ap = argparse.ArgumentParser(description="smallbmsd demo against smallbms-sim")
    ap.add_argument("--build", default=os.path.join(ROOT, "build-demo"))
    ap.add_argument("--scenario", default=os.path.join(ROOT, "scenarios", "discharge-recharge.scn"))
    ap.add_argument("--time-scale", default="50")
    ap.add_argument("--series", default="2")
    ap.add_argument("--sync-wait", type=float, default=150.0,
                    help="seconds to wait for the synchronisation after the scenario")
    ap.add_argument("--no-deps", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    daemon_bin = os.path.join(args.build, "src", "daemon", "smallbmsd")
    sim_bin = os.path.join(args.build, "src", "sim", "smallbms-sim")
    for b in (daemon_bin, sim_bin):
        if not os.access(b, os.X_OK):
            sys.exit("demo: %s is not built" % b)
    scr = Screen(sys.stdout.isatty())
    tmp = tempfile.mkdtemp(prefix="smallbms-demo-")
    procs = []
    feeder = None
    notify = None
    stopping = {"flag": False}

    def on_signal(signum, frame):
        stopping["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    try:
        port = os.path.join(tmp, "ttyM8")
        control = os.path.join(tmp, "sim.sock")
        tree = os.path.join(tmp, "iio")
        conf = os.path.join(tmp, "etc")
        state = os.path.join(tmp, "state")
        os.makedirs(conf)
        os.makedirs(state)
        with open(os.path.join(conf, "smallbmsd.conf"), "w") as f:
            f.write("# smallbms demo: outputs in dry-run, the simulator's pty, a fake ADC\n"
                    "[bus]\nport = %s\n[adc]\nuri = local:\ncharge-readback-channel = none\n"
                    "[outputs]\nbackend = dry-run\n[state]\ndirectory = %s\n" % (port, state))
        fmod = load_feeder()
        fmod.create_tree(tree)

        # The daemon's settings, offline (commissioning): synchronise after
        # 60 s of full and resting instead of 3 min, to keep the demo short.
        r = subprocess.run([daemon_bin, "--config-dir", conf, "--state-dir", state,
                            "--set", "charged_detect_s=60"], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("demo: smallbmsd --set failed: %s" % r.stderr.strip())

        scr.say("smallbms demo in %s: a %s x 12.8 V/100 Ah bank at %sx time, outputs in dry-run"
                % (tmp, args.series, args.time_scale), BOLD)
        scr.say("scenario %s: discharge to the pre-alarm and the load disconnect, "
                "then recharge to a synchronisation" % os.path.basename(args.scenario))
        sim = subprocess.Popen(
            [sim_bin, "--model", "12.8/100", "--series", args.series, "--soc", "80",
             "--time-scale", args.time_scale, "--link", port, "--control", control,
             "--scenario", args.scenario],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        procs.append(sim)
        if not sim.stdout.readline().startswith(b"pty ") or sim.stdout.readline().strip() != b"ready":
            sys.exit("demo: the simulator did not start")

        feeder = fmod.Feeder(tree, control)
        feeder.feed_once()
        feeder.start()

        notify_path = os.path.join(tmp, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)

        env = {k: v for k, v in os.environ.items()
               if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        env["NOTIFY_SOCKET"] = notify_path
        ns = ('mount -t tmpfs none /sys/bus && mkdir /sys/bus/iio && '
              'mount --bind "$0" /sys/bus/iio && exec "$@"')
        daemon = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", ns, tree, daemon_bin, "--config-dir", conf,
             "--state-dir", state],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        procs.append(daemon)
        run(scr, sim, daemon, notify, feeder, stopping, args.sync_wait)
    finally:
        cleanup(scr, procs, feeder, notify, tmp)


def line_reader(pipe):
    """Non-blocking line splitter over a pipe."""
    buf = b""
    fd = pipe.fileno()
    os.set_blocking(fd, False)

    def read():
        nonlocal buf
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return [], False
        if not chunk:
            return ([buf.decode(errors="replace")] if buf else []), True
        buf += chunk
        *lines, buf = buf.split(b"\n")
        return [x.decode(errors="replace") for x in lines], False

    return read


def run(scr, sim, daemon, notify, feeder, stopping, sync_wait):
    read_sim = line_reader(sim.stderr)
    read_daemon = line_reader(daemon.stderr)
    last_status = None
    last_status_key = None
    last_status_shown = 0.0
    scenario_done_at = None
    synced_at = None
    seen = {}
    sim_open = daemon_open = True
    while not stopping["flag"]:
        fds = [notify]
        if sim_open:
            fds.append(sim.stderr)
        if daemon_open:
            fds.append(daemon.stderr)
        ready, _, _ = select.select(fds, [], [], 0.5)
        now = time.monotonic()
        if notify in ready:
            data = notify.recv(65536).decode(errors="replace")
            for item in data.split("\n"):
                if item.startswith("STATUS="):
                    last_status = item[7:]
                elif item == "READY=1":
                    scr.say("READY: the outputs are decided", GREEN)
        if sim_open and sim.stderr in ready:
            lines, eof = read_sim()
            sim_open = not eof
            for text in lines:
                m = re.match(r"^[^:]+\.scn:\d+: (.*): ok", text)
                if m:
                    scr.say("simulator: %s%s" % (m.group(1), describe_step(m.group(1))), DIM)
                elif text.endswith(": done"):
                    scr.say("simulator: scenario done; waiting for the synchronisation", DIM)
                    scenario_done_at = now
        if daemon_open and daemon.stderr in ready:
            lines, eof = read_daemon()
            daemon_open = not eof
            for text in lines:
                shown = show_daemon_line(scr, text, seen)
                if shown and "synchronised" in text:
                    synced_at = now
        if last_status:
            key = " ".join(re.findall(r"(?:ATD|ATC|PRE|codes)=\S+|SoC=unknown", last_status))
            if key != last_status_key or now - last_status_shown >= 15:
                scr.say("STATUS %s | bank min cell %s mV" % (last_status, feeder.last_min_cell_mv),
                        BOLD if key != last_status_key else "")
                last_status_key = key
                last_status_shown = now
        if daemon.poll() is not None and not daemon_open:
            scr.say("smallbmsd exited with status %d" % daemon.returncode, RED)
            return
        if sim.poll() is not None and not sim_open:
            scr.say("the simulator exited", RED)
            return
        if synced_at is not None and now - synced_at >= 6:
            scr.say("synchronised: the demo is complete", GREEN)
            return
        if scenario_done_at is not None and now - scenario_done_at >= sync_wait:
            scr.say("no synchronisation within %.0f s after the scenario; ending" % sync_wait, YELLOW)
            return
    scr.say("interrupted: stopping the daemon (it releases its outputs) and the simulator")


def describe_step(step):
    m = re.match(r"current (-?\d+)$", step)
    if m:
        ma = int(m.group(1))
        if ma < 0:
            return "  (a %.0f A load)" % (-ma / 1000)
        if ma > 0:
            return "  (charging at %.0f A)" % (ma / 1000)
        return "  (no current)"
    return ""


def show_daemon_line(scr, text, seen=None):
    """Shows what matters, leaves out the heartbeat and LED toggling. seen
    keeps when the pre-alarm started, to show the lead before the load
    disconnect."""
    if seen is None:
        seen = {}
    if re.search(r"DRY-RUN: (heartbeat|led-bluetooth|led-error) ", text):
        return False
    m = re.search(r"DRY-RUN: (\S+) -> (\S+)", text)
    if m:
        line, state = m.groups()
        now = time.monotonic()
        if line == "pre-alarm":
            word = "SOUNDING" if state == "active" else "silent"
            seen["prealarm"] = now if state == "active" else None
        else:
            word = state.upper()
            if line == "load-disconnect" and state == "open" and seen.get("prealarm"):
                word += "   (%.1f s after the pre-alarm began; the lead is 30 s)" % (
                    now - seen["prealarm"])
        style = RED if (state == "open" and line != "pre-alarm") or word == "SOUNDING" else GREEN
        scr.say(">> %-18s %s" % (line, word), BOLD + style)
        return True
    text = re.sub(r"^smallbmsd: ", "", text)
    if re.match(r"(output |pre-alarm |error |alarm |warning )", text):
        scr.say("   " + text, YELLOW)
    else:
        scr.say("   " + text)
    return True


def cleanup(scr, procs, feeder, notify, tmp):
    """Stops the daemon first (it releases its outputs), then the rest; the
    daemon's mounts live in its own namespace and end with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p.stderr:
            try:
                os.set_blocking(p.stderr.fileno(), True)
                for raw in p.stderr.read().decode(errors="replace").splitlines():
                    if p is procs[-1] and len(procs) > 1:
                        show_daemon_line(scr, raw)
            except (OSError, ValueError):
                pass
    if feeder:
        feeder.stop()
    if notify:
        notify.close()
    shutil.rmtree(tmp, ignore_errors=True)
    scr.say("demo: cleaned up (processes stopped, %s removed)" % tmp)


if __name__ == "__main__":
    sys.exit(main())
