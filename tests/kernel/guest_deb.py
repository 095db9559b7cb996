#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""In the kernel stage's guest with systemd as PID 1 (run-guest --systemd):
smallbms installed from its Debian packages on a running board, upgraded,
removed and purged, as TAP.

    guest_deb.py CURRENT_DIR UPGRADE_DIR

CURRENT_DIR and UPGRADE_DIR hold the .debs of tools/build-debs (the same
source, the second with a higher version). The board is guest_systemd.py's:
a gpio-sim chip with the six lines of docs/board.md and the real ti-ads1015 on
i2c-stub, both there BEFORE the install (the package's postinst has to hand
them to group smallbms without a reboot), and the packaged smallbms-sim
behind a pty. The wiring is a drop-in written before the install, as an
installer would; one rig drop-in for the unit stands in for a real UART
(guest_systemd.py: a pty keeps TIOCEXCL after the daemon's last close).

dpkg installs the local .debs (apt would install them the same way, through
dpkg, but rebuilds its cache of the host's package lists over 9p: two
minutes a call under TCG): every dependency is installed on the host, whose
/ the guest sees under its tmpfs overlay.
"""

import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import guest_systemd as gs  # noqa: E402

tap, note, run, read, write, show, wait_for = (gs.tap, gs.note, gs.run, gs.read, gs.write,
                                               gs.show, gs.wait_for)
CONF = "/etc/smallbms/smallbmsd.conf"
STATE_DIR = "/var/lib/smallbms"
WIRING = "/etc/smallbms/smallbmsd.conf.d/50-board.conf"


def deb(directory, package):
    found = glob.glob(os.path.join(directory, "%s_*.deb" % package))
    if len(found) != 1:
        raise RuntimeError("%s: expected one %s_*.deb, found %s" % (directory, package, found))
    return found[0]


def dpkg(what, args):
    """dpkg ARGS, non-interactive; one TAP line; True on success."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    t0 = time.monotonic()
    try:
        r = run(["dpkg"] + args, check=False, timeout=400, env=env)
        rc, out = r.returncode, r.stdout
    except subprocess.TimeoutExpired as e:
        rc, out = "timeout", e.output if isinstance(e.output, str) else repr(e.output)
    return tap(rc == 0, "%s (%.1f s): dpkg %s" %
               (what, time.monotonic() - t0, " ".join(os.path.basename(a) for a in args)),
               "exit %s\n%s" % (rc, (out or "")[-3000:]))


def installed_version(package):
    r = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Version}", package], check=False)
    return r.stdout.strip() if r.returncode == 0 else "not installed"


def start_sim(binary):
    sim = subprocess.Popen([binary, "--series", "2"],
                           stdout=subprocess.PIPE, text=True)
    pty = None
    for line in sim.stdout:
        if line.startswith("pty "):
            pty = line.split(" ", 1)[1].strip()
        if line.strip() == "ready":
            break
    if not pty:
        raise RuntimeError("smallbms-sim printed no pty")
    os.chown(pty, 0, int(run(["getent", "group", "dialout"]).stdout.split(":")[2]))
    os.chmod(pty, 0o660)
    return sim, pty


def catalog_ids(source_catalog):
    with open(source_catalog) as f:
        return re.findall(r"^-- ([0-9a-f]{32})", f.read(), re.M)


def main():
    current, upgrade = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    t_start = time.monotonic()
    gs.note("guest: the test starts %.1f s after kernel start" % gs.uptime())
    old_version = re.sub(r"^.*?_(.*?)_.*$", r"\1", os.path.basename(deb(current, "smallbmsd")))
    new_version = re.sub(r"^.*?_(.*?)_.*$", r"\1", os.path.basename(deb(upgrade, "smallbmsd")))

    if not os.path.exists("/sys/kernel/debug/gpio"):
        run(["mount", "-t", "debugfs", "debugfs", "/sys/kernel/debug"], check=False)
    for p in ("smallbmsd", "smallbmsctl", "smallbms-sim"):
        if installed_version(p) != "not installed":
            raise RuntimeError("%s is installed on the host already (%s): the test needs a "
                               "machine without it" % (p, installed_version(p)))
    user_before = run(["getent", "passwd", "smallbms"], check=False).returncode == 0
    chip, paths = gs.make_gpio_chip()
    adc_dir, counts = gs.make_adc()
    scales = [os.path.join(adc_dir, "in_voltage%d_scale" % i) for i in range(4)]

    # Rig: this machine is a container image whose policy-rc.d (exit 101)
    # forbids maintainer scripts to start or restart services; a board has
    # none. man-db's dpkg trigger would index every manual page of the
    # host's / over 9p, minutes under TCG. Both in the guest's overlay only.
    for rig in ("/usr/sbin/policy-rc.d", "/var/lib/man-db/auto-update"):
        if os.path.exists(rig):
            os.unlink(rig)
            note("rig: removed %s in the guest" % rig)

    # The board runs before the install: the simulator is the packaged one,
    # unpacked beside the install (the same binary), then the wiring and
    # the rig drop-in.
    sim_root = "/run/smallbms-sim-deb"
    run(["dpkg-deb", "-x", deb(current, "smallbms-sim"), sim_root])
    sim, pty = start_sim(os.path.join(sim_root, "usr/bin/smallbms-sim"))
    note("board: %s (gpio-sim), ADS1015 at %s reading %d counts, bus on %s; user smallbms "
         "%s before the install" % (chip, adc_dir, counts, pty,
                                    "existed" if user_before else "did not exist"))
    write_dropins(chip, pty)

    # --- install ---------------------------------------------------------------
    t0 = time.monotonic()
    if not dpkg("install the three packages",
                ["-i"] + [deb(current, p) for p in ("smallbmsd", "smallbmsctl", "smallbms-sim")]):
        return gs.finish(t_start)
    note("install took %.1f s" % (time.monotonic() - t0))
    for p in ("smallbmsd", "smallbmsctl", "smallbms-sim"):
        v = installed_version(p)
        tap(v == "ii  " + old_version, "%s is installed: %s" % (p, v))
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "smallbmsd"]).stdout
    tap(CONF in conffiles, "%s is a conffile" % CONF, conffiles)
    tap(run(["getent", "passwd", "smallbms"], check=False).returncode == 0 and
        run(["getent", "group", "smallbms-admin"], check=False).returncode == 0,
        "sysusers: user smallbms and group smallbms-admin exist")
    gid = int(run(["getent", "group", "smallbms"]).stdout.split(":")[2])
    st = os.stat("/dev/" + chip)
    tap(st.st_gid == gid and st.st_mode & 0o060 == 0o060,
        "udev: /dev/%s, there before the install, is group smallbms rw without a reboot" % chip,
        "gid %d mode %o" % (st.st_gid, st.st_mode & 0o777))
    bad = ["%s: gid %d mode %o" % (p, os.stat(p).st_gid, os.stat(p).st_mode & 0o777)
           for p in scales if os.stat(p).st_gid != gid or not os.stat(p).st_mode & 0o020]
    tap(not bad, "udev: the ADC's in_voltage0..3_scale are group smallbms and g+w", "\n".join(bad))
    enabled = run(["systemctl", "is-enabled", gs.UNIT], check=False).stdout.strip()
    tap(enabled == "enabled", "the unit is enabled (%s)" % enabled)
    p = show("Type", "ActiveState", "SubState", "MainPID", "FragmentPath")
    tap(p["ActiveState"] == "active" and p["SubState"] == "running" and p["Type"] == "notify",
        "the packaged unit (%s) was started by the install and is active (running)" %
        p["FragmentPath"], str(p))
    closed = wait_for(lambda: gs.outputs_closed(paths), 30)
    tap(closed, "the daemon closes load-disconnect and charge-disconnect on gpio-sim",
        "lines: %s; status: %s" % ({k: read(v) for k, v in paths.items()}, gs.status_codes()[0]))
    status, codes = gs.status_codes()
    tap(codes is not None and "E8" not in codes,
        "the ADS1015 reads right: no ADC fault (E8) in the status (%s)" % status, status)
    ids = catalog_ids("/usr/lib/systemd/catalog/smallbms.catalog")
    listed = run(["journalctl", "--list-catalog", "--no-pager"] + ids[:1], check=False).stdout
    tap(bool(ids) and ids[0] in listed.replace("-", ""),
        "journal catalog: systemd's trigger took in smallbms.catalog (%s listed)" %
        (ids[0] if ids else "no id"), listed[-1000:])
    ctl = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
        run(["smallbmsctl", "--json"], check=False, timeout=30)), 30, step=1.0)
    tap(ctl is not None, "smallbmsctl reads the packaged daemon over the system bus "
        "(D-Bus policy in place)", "smallbmsctl --json failed for 30 s")
    state_files = sorted(os.listdir(STATE_DIR)) if os.path.isdir(STATE_DIR) else []
    state_ino = os.stat(STATE_DIR).st_ino if state_files else None
    tap(bool(state_files), "the daemon keeps its state in %s (%s)" % (STATE_DIR, state_files))

    # --- upgrade: the same source at a higher version ---------------------------
    gs.measure_slowdown()
    result = {}

    def do_upgrade():
        result["ok"] = dpkg("upgrade to %s" % new_version,
                            ["-i"] + [deb(upgrade, p) for p in
                                      ("smallbmsd", "smallbmsctl", "smallbms-sim")])

    gs.check_restart(paths, "upgrade %s -> %s" % (old_version, new_version), do_upgrade)
    v = installed_version("smallbmsd")
    tap(v == "ii  " + new_version, "smallbmsd is upgraded: %s" % v)
    kept = (os.path.isdir(STATE_DIR) and os.stat(STATE_DIR).st_ino == state_ino and
            set(state_files) <= set(os.listdir(STATE_DIR)))
    tap(kept, "the upgrade keeps the state directory and its files",
        "before %s, after %s" % (state_files, os.listdir(STATE_DIR)
                                 if os.path.isdir(STATE_DIR) else "gone"))

    # --- remove, then purge -------------------------------------------------------
    if dpkg("remove smallbmsd", ["--remove", "smallbmsd"]):
        a = show("ActiveState", "LoadState")
        tap(a["ActiveState"] in ("inactive", "failed") or a["LoadState"] == "not-found",
            "remove: the daemon is stopped", str(a))
        released = wait_for(lambda: all(read(paths[n]) == "0" for n in
                                        ("load-disconnect", "charge-disconnect")), 10)
        tap(released, "remove: load-disconnect and charge-disconnect are released (open)",
            str({k: read(v) for k, v in paths.items()}))
        tap(os.path.isdir(STATE_DIR) and bool(os.listdir(STATE_DIR)) and os.path.exists(CONF),
            "remove keeps the state directory and the configuration")
    if dpkg("purge smallbmsd", ["--purge", "smallbmsd"]):
        tap(not os.path.exists(STATE_DIR), "purge removes %s" % STATE_DIR)
        tap(not os.path.exists(CONF), "purge removes the conffile %s" % CONF)

    sim.terminate()
    sim.wait(timeout=10)
    return gs.finish(t_start)


def write_dropins(chip, pty):
    os.makedirs(os.path.dirname(gs.RIG_DROPIN), exist_ok=True)
    write(gs.RIG_DROPIN, "\n".join([
        "# test rig (guest_deb.py): the pty stands in for the board's UART",
        "[Service]",
        "ExecStartPre=+" + gs.CLEAR_EXCL % pty,
        ""]))
    os.makedirs(os.path.dirname(WIRING), exist_ok=True)
    write(WIRING, "\n".join([
        "[bus]", "port = " + pty,
        "[adc]", "device = ads1015",
        # i2c-stub has one conversion register that every channel reads.
        "remote-h-channel = none", "remote-l-channel = none",
        "charge-readback-channel = none",
        "[outputs]", "chip = /dev/" + chip, ""]))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a broken rig is a failure with its reason
        print("Bail out! %s: %s" % (type(e).__name__, e), flush=True)
        sys.exit(1)
