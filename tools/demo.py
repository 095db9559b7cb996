#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The running part of tools/demo (which installs and builds first).

Runs, in a temporary directory that it removes at the end:
  smallbms-sim   a bank of M8-bus batteries on a pty, playing
                 scenarios/discharge-recharge.scn faster than real time;
  iio-feeder     a fake IIO sysfs tree, a copy of the ti-ads1015 driver's
                 layout for an ADS1115 (--chip ads1015 for the 12-bit
                 chip; tests/hw/iio-layout/), whose bank voltage follows
                 the simulator (remote terminal ON: Remote L near 0 V);
  dbus-daemon    a private system bus with the project's policy
                 (dbus/org.smallbms.conf);
  smallbmsd      the real daemon on that bus, outputs in dry-run, inside
                 `unshare -m` with the fake tree mounted over /sys/bus/iio
                 (TESTING.md), its sd_notify STATUS read from a
                 NOTIFY_SOCKET of our own;
  smallbmsctl    `smallbmsctl monitor` on the bus: after every output
                 change its next view (outputs, reasons, codes, SoC) is shown.
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
    ap.add_argument("--chip", choices=["ads1015", "ads1115"], default="ads1115",
                    help="the ADC whose driver layout the fake tree copies")
    ap.add_argument("--sync-wait", type=float, default=150.0,
                    help="seconds to wait for the synchronisation after the scenario")
    ap.add_argument("--no-deps", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    daemon_bin = os.path.join(args.build, "src", "daemon", "smallbmsd")
    sim_bin = os.path.join(args.build, "src", "sim", "smallbms-sim")
    ctl_bin = os.path.join(args.build, "src", "ctl", "smallbmsctl")
    for b in (daemon_bin, sim_bin, ctl_bin):
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
        bus_addr, bus = start_bus(tmp)
        procs.append(bus)
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
        fmod.create_tree(tree, args.chip)

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
        env["DBUS_SYSTEM_BUS_ADDRESS"] = bus_addr
        ns = ('mount -t tmpfs none /sys/bus && mkdir /sys/bus/iio && '
              'mount --bind "$0" /sys/bus/iio && exec "$@"')
        daemon = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", ns, tree, daemon_bin, "--config-dir", conf,
             "--state-dir", state],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        daemon.is_daemon = True
        procs.append(daemon)
        # The live view over D-Bus; not on a tty, it prints one block per
        # change, blank-line separated. It waits for the daemon's name.
        time.sleep(0.5)
        monitor = subprocess.Popen([ctl_bin, "--address", bus_addr, "monitor"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(monitor)
        scr.say("watch it live from another terminal: sudo %s --address %s monitor"
                % (ctl_bin, bus_addr), DIM)
        run(scr, sim, daemon, notify, feeder, stopping, args.sync_wait, monitor)
    finally:
        cleanup(scr, procs, feeder, notify, tmp)


def start_bus(tmp):
    """A private system bus: the project's policy, everything else open
    (the demo runs as root, which the policy lets write)."""
    sock = os.path.join(tmp, "system_bus_socket")
    conf = os.path.join(tmp, "bus.conf")
    with open(conf, "w") as f:
        f.write('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"\n'
                ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
                "<busconfig><type>system</type><listen>unix:path=%s</listen>\n"
                "<auth>EXTERNAL</auth>\n"
                '<policy context="default"><allow user="*"/><allow own="*"/>'
                '<allow send_type="method_call"/><allow send_type="signal"/>'
                '<allow send_requested_reply="true" send_type="method_return"/>'
                '<allow send_requested_reply="true" send_type="error"/>'
                '<allow receive_type="method_call"/><allow receive_type="method_return"/>'
                '<allow receive_type="error"/><allow receive_type="signal"/></policy>\n'
                "<include>%s</include></busconfig>\n"
                % (sock, os.path.join(ROOT, "dbus", "org.smallbms.conf")))
    bus = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork",
                            "--print-address=1"], stdout=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    addr = bus.stdout.readline().decode().strip()
    if not addr:
        sys.exit("demo: the private dbus-daemon did not start")
    return addr, bus


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


def run(scr, sim, daemon, notify, feeder, stopping, sync_wait, monitor):
    read_sim = line_reader(sim.stderr)
    read_daemon = line_reader(daemon.stderr)
    read_monitor = line_reader(monitor.stdout)
    monitor_open = True
    block = []
    # After an output change, the next complete monitor block is shown.
    want_block_after = None
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
        if monitor_open:
            fds.append(monitor.stdout)
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
                if shown and (text.startswith("DRY-RUN:") or "synchronised" in text) \
                        and want_block_after is None:
                    want_block_after = now + 0.3
        if monitor_open and monitor.stdout in ready:
            lines, eof = read_monitor()
            monitor_open = not eof
            for text in lines:
                if text.strip():
                    block.append(text)
                    continue
                if block and want_block_after is not None and now >= want_block_after:
                    scr.say("smallbmsctl monitor:", DIM)
                    for b in block:
                        scr.say("   | " + b, DIM)
                    want_block_after = None
                block = []
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
                    if getattr(p, "is_daemon", False):
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
