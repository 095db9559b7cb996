#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Memory of the whole smallbmsd at 50 batteries (issue 16); figures only.

    /usr/bin/python3 bench/bench_memory.py BUILD_DIR [--seconds S] [--no-bus]
        [--every S] [--top N] [--no-floor] [--loop-stats]
    meson compile -C BUILD_DIR bench-memory        (the defaults)

Uses the integration rig (tests/integration/harness.py): smallbms-sim on a
pty with a 50-battery bank (2 in series x 25 in parallel), the fake IIO tree
in a private mount namespace read through libiio's local backend, outputs
in dry run, and (unless --no-bus, root only) a private dbus-daemon so that
the daemon's D-Bus objects for 50 batteries exist as on a board. Measure a
build without sanitizers: the release build tools/test makes
(build-test-plain) or any -O2 build.

After S seconds (default 60; the issue asks for an hour: --seconds 3600)
it prints VmRSS (and RssAnon, RssFile), the totals of
/proc/PID/smaps_rollup (Rss, Pss, private clean and dirty, swap) and a table
of the mappings from /proc/PID/smaps summed per file ([heap], [stack],
anonymous, each library): Rss, Pss, Private_Clean, Private_Dirty in kB,
largest Rss first. With --every, VmRSS is also printed every S seconds.

Then the floor: a program that only loads the same shared libraries as
smallbmsd (its DT_NEEDED list, linked with cc) and waits, measured the
same way; and the same without libiio (and so without libxml2, ICU,
libstdc++, libusb, avahi). What smallbmsd adds above the first is its
own; the difference of the two is what loading libiio costs.
"""

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Shared_Clean", "Shared_Dirty",
          "Swap")


def setup_env(build):
    os.environ["SMALLBMSD"] = os.path.join(build, "src", "daemon", "smallbmsd")
    os.environ["SMALLBMS_SIM"] = os.path.join(build, "src", "sim", "smallbms-sim")
    os.environ["SMALLBMS_IIO_FEEDER"] = os.path.join(ROOT, "tools", "iio-feeder")
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "dbus"))


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


def rollup(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in FIELDS:
                out[k] = int(v.split()[0])
    return out


def per_mapping(pid):
    """{name: {field: kB}} summed over the mappings of each file."""
    table = collections.defaultdict(lambda: collections.Counter())
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                name = head[5] if len(head) > 5 else "[anon]"
                if name.startswith("/"):
                    name = os.path.basename(name)
                table[name]["maps"] += 1
                continue
            k = head[0].rstrip(":")
            if k in FIELDS and name is not None:
                table[name][k] += int(head[1])
    return table


def report(pid, top):
    st = status(pid)
    ro = rollup(pid)
    print("VmRSS %d kB (%.2f MiB): RssAnon %d kB, RssFile %d kB, RssShmem %d kB; "
          "VmHWM %d kB; threads %d"
          % (st["VmRSS"], st["VmRSS"] / 1024.0, st.get("RssAnon", 0), st.get("RssFile", 0),
             st.get("RssShmem", 0), st.get("VmHWM", 0), st.get("Threads", 0)))
    print("smaps_rollup: Rss %d kB, Pss %d kB, private %d kB (clean %d, dirty %d), "
          "shared %d kB (clean %d, dirty %d), swap %d kB"
          % (ro["Rss"], ro["Pss"], ro["Private_Clean"] + ro["Private_Dirty"],
             ro["Private_Clean"], ro["Private_Dirty"], ro["Shared_Clean"] + ro["Shared_Dirty"],
             ro["Shared_Clean"], ro["Shared_Dirty"], ro.get("Swap", 0)))
    table = per_mapping(pid)
    rows = sorted(table.items(), key=lambda kv: -kv[1]["Rss"])
    print("%-36s %5s %7s %7s %8s %8s" % ("mapping", "maps", "Rss", "Pss", "Priv_Cl",
                                          "Priv_Dty"))
    shown = collections.Counter()
    for i, (name, c) in enumerate(rows):
        if i >= top:
            break
        print("%-36s %5d %7d %7d %8d %8d" % (name[:36], c["maps"], c["Rss"], c["Pss"],
                                              c["Private_Clean"], c["Private_Dirty"]))
        shown.update(c)
    rest = collections.Counter()
    for name, c in rows[top:]:
        rest.update(c)
    if rows[top:]:
        print("%-36s %5d %7d %7d %8d %8d" % ("(%d more)" % len(rows[top:]), rest["maps"],
                                              rest["Rss"], rest["Pss"], rest["Private_Clean"],
                                              rest["Private_Dirty"]))


def needed(binary):
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def floor(binary, tmp, top):
    """RSS of programs that only load smallbmsd's libraries (with and
    without libiio)."""
    libs = [l for l in needed(binary) if not l.startswith("libc.so")]
    src = os.path.join(tmp, "floor.c")
    with open(src, "w") as f:
        f.write("#include <unistd.h>\nint main(void)\n{\n\tpause();\n\treturn 0;\n}\n")
    variants = [("the same libraries", libs),
                ("the same without libiio", [l for l in libs if not l.startswith("libiio")])]
    for what, ls in variants:
        exe = os.path.join(tmp, "floor-%d" % len(ls))
        r = subprocess.run(["cc", "-O2", "-o", exe, src, "-Wl,--no-as-needed"]
                           + ["-l:" + l for l in ls], capture_output=True, text=True)
        if r.returncode != 0:
            print("floor (%s): cannot link: %s" % (what, r.stderr.strip()))
            continue
        p = subprocess.Popen([exe])
        try:
            time.sleep(0.5)
            print("\nfloor: a program that only loads %s (%s):" % (what, " ".join(ls)))
            report(p.pid, top)
        finally:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description="smallbmsd memory at 50 batteries")
    ap.add_argument("build", help="the meson build directory (no sanitizers)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--every", type=float, default=0.0)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--no-bus", action="store_true", help="no private dbus-daemon")
    ap.add_argument("--no-floor", action="store_true", help="no floor measurement")
    ap.add_argument("--loop-stats", action="store_true",
                    help="run the daemon with --loop-stats and print its loop: lines")
    args = ap.parse_args()
    setup_env(os.path.abspath(args.build))
    import harness as h

    why = h.namespace_usable()
    if why:
        print("bench-memory: needs a private mount namespace (root or user namespaces): " + why)
        return 1
    use_bus = not args.no_bus and os.geteuid() == 0 and shutil.which("dbus-daemon")
    bus = None
    tmp = tempfile.mkdtemp(prefix="smallbms-bench-mem-")
    os.chmod(tmp, 0o755)
    rig = None
    try:
        if use_bus:
            import test_policy as tp
            tp.DBUS_DIR = os.path.join(ROOT, "dbus")
            bus = tp.Bus(tmp)
            rig = tp.BusRig("bench-memory", series=2, parallel=25, start_sim=False)
            rig.bus_address = bus.address
        else:
            rig = h.Rig("bench-memory", series=2, parallel=25, start_sim=False)
        rig.start_sim()
        d = rig.start_daemon(*(["--loop-stats"] if args.loop_stats else []))
        if not rig.wait_outputs("closed", "closed", timeout=120):
            print("50-battery bank: outputs not closed; last lines:\n" + d.text(20))
            return 1
        pid = d.proc.pid
        print("smallbmsd %s, 50 batteries (2S x 25P), D-Bus %s, %.0f s"
              % (os.environ["SMALLBMSD"], "on a private bus" if use_bus else "absent",
                 args.seconds))
        t0 = time.monotonic()
        while True:
            left = args.seconds - (time.monotonic() - t0)
            if left <= 0:
                break
            step = min(left, args.every) if args.every > 0 else left
            time.sleep(step)
            if args.every > 0:
                st = status(pid)
                print("  t=%5.0f s VmRSS %d kB" % (time.monotonic() - t0, st["VmRSS"]),
                      flush=True)
        if d.proc.poll() is not None:
            print("the daemon ended: %s" % d.text(20))
            return 1
        report(pid, args.top)
        for _, text in d.matching(r"smallbmsd: loop: "):
            print(text)
        d.signal(signal.SIGTERM)
        d.wait_exit(20)
        if not args.no_floor:
            floor(os.environ["SMALLBMSD"], tmp, min(args.top, 12))
    finally:
        if rig:
            rig.close()
        if bus:
            bus.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
