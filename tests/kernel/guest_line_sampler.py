#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""In the kernel stage's guest: reads gpio-sim line values (sim_gpioN/value)
every millisecond until SIGTERM, then prints one JSON object on stdout:

    {"samples": N, "max_interval_s": S, "start": T0, "end": T1,
     "lines": {NAME: {"first": V, "changes": [[T, V], ...]}}}

Times are CLOCK_MONOTONIC seconds. max_interval_s is the longest time
between two samples, so that a caller can tell whether a gap it sees in a
line's edges is the line's or the sampler's. Prints "sampling" on stderr
once the first sample is taken.

    guest_line_sampler.py [--driven] NAME=/sys/devices/platform/gpio-sim.0/gpiochipN/sim_gpioM/value ...

--driven also reads the kernel's view (/sys/kernel/debug/gpio) at every
tenth sample (a release lasts until the next request, far longer than 10 ms;
parsing it every millisecond would slow the guest) and records, as line "driven:NAME", 1 while a consumer holds line
NAME as an output and 0 otherwise: a line driven low and a released line
both read 0 on gpio-sim, only the kernel tells them apart.
"""
import json
import os
import re
import signal
import sys
import time

INTERVAL_S = 0.001
DEBUGFS_GPIO = "/sys/kernel/debug/gpio"
# " gpio-3   (load-disconnect     |smallbmsd           ) out hi"; a line
# nobody holds has no "|consumer".
DEBUGFS_LINE = re.compile(r"^\s*gpio-\d+\s+\(([^|)]*?)\s*(\|[^)]*)?\)\s*(\S*)")


def driven(text, names):
    """{name: 1 if a consumer holds it as an output, else 0}."""
    held = {}
    for line in text.splitlines():
        m = DEBUGFS_LINE.match(line)
        if m and m.group(1) in names:
            held[m.group(1)] = 1 if m.group(2) and m.group(3) == "out" else 0
    return {n: held.get(n, 0) for n in names}


def main():
    lines = []
    args = sys.argv[1:]
    debugfs = None
    if args and args[0] == "--driven":
        args = args[1:]
        debugfs = os.open(DEBUGFS_GPIO, os.O_RDONLY | os.O_CLOEXEC)
    for arg in args:
        name, sep, path = arg.partition("=")
        if not sep or not name or not path:
            sys.stderr.write("guest_line_sampler: want NAME=PATH, got %r\n" % arg)
            return 2
        lines.append((name, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
    if not lines:
        sys.stderr.write("guest_line_sampler: no line to sample\n")
        return 2
    try:
        # Ahead of the daemon under test, so that the samples stay 1 ms
        # apart while it restarts (the guest has two CPUs).
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except OSError as e:
        sys.stderr.write("guest_line_sampler: SCHED_FIFO refused (%s)\n" % e.strerror)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    names = [name for name, _ in lines]
    state = {name: {"first": None, "changes": []} for name in names}
    if debugfs is not None:
        state.update({"driven:" + name: {"first": None, "changes": []} for name in names})
    last = {}
    n = 0
    max_interval = 0.0
    prev = None
    start = time.monotonic()
    while not stop:
        now = time.monotonic()
        values = []
        for name, fd in lines:
            text = os.pread(fd, 8, 0).strip()
            values.append((name, int(text) if text in (b"0", b"1") else -1))
        if debugfs is not None and n % 10 == 0:
            text = os.pread(debugfs, 1 << 16, 0).decode(errors="replace")
            values += [("driven:" + k, v) for k, v in driven(text, names).items()]
        for name, v in values:
            if name not in last:
                state[name]["first"] = v
            elif v != last[name]:
                state[name]["changes"].append([now, v])
            last[name] = v
        if prev is None:
            sys.stderr.write("sampling\n")
            sys.stderr.flush()
        else:
            max_interval = max(max_interval, now - prev)
        prev = now
        n += 1
        time.sleep(INTERVAL_S)
    json.dump({"samples": n, "max_interval_s": max_interval, "start": start,
               "end": time.monotonic(), "lines": state}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
