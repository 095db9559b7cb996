#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The fake IIO trees are copies of the captured driver layout. TAP.

    test_iio_tree.py FEEDER

FEEDER is tools/iio-feeder, the one generator of fake trees (the C adapter
test, the integration rig, the demo). For each chip the tree it builds at
the driver's power-on range must hold exactly the captured entries
(tests/hw/iio-layout/<chip>.txt): the same directories and files, the same
owner read/write bits, the same contents where the capture has them; only
the capture's symlinks are left out (a dangling one stops libiio).
"""

import importlib.machinery
import importlib.util
import os
import shutil
import stat
import sys
import tempfile


def load(path):
    loader = importlib.machinery.SourceFileLoader("iio_feeder", path)
    spec = importlib.util.spec_from_loader("iio_feeder", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def tree_entries(dev):
    found = {}
    for root, dirs, files in os.walk(dev):
        for name in dirs + files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, dev)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("L", None, None)
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("D", None, None)
            else:
                with open(p, "rb") as f:
                    found[rel] = ("F", f.read(), st.st_mode & 0o600)
    return found


def check_chip(feeder, chip):
    problems = []
    kernel, entries = feeder.read_layout(chip)
    if not kernel:
        problems.append("the capture names no kernel")
    tmp = tempfile.mkdtemp(prefix="smallbms-iio-tree-")
    try:
        dev = feeder.create_tree(tmp, chip, scale="driver")
        found = tree_entries(dev)
        want = set()
        for kind, name, value, mode in entries:
            if kind == "L":
                if name in found:
                    problems.append("%s: the symlink was reproduced" % name)
                continue
            want.add(name)
            got = found.get(name)
            if got is None:
                problems.append("%s: missing" % name)
            elif got[0] != kind:
                problems.append("%s: a %s, not a %s" % (name, got[0], kind))
            elif kind == "F":
                if value is not None and got[1] != value:
                    problems.append("%s: %r, captured %r" % (name, got[1], value))
                if got[2] != mode & 0o600:
                    problems.append("%s: mode %o, captured %o" % (name, got[2], mode & 0o600))
        for extra in sorted(set(found) - want):
            problems.append("%s: not in the capture" % extra)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return kernel, len(entries), problems


def main():
    feeder = load(sys.argv[1])
    results = []
    for chip in feeder.CHIPS:
        kernel, n, problems = check_chip(feeder, chip)
        results.append(("%s tree is the capture's %d entries (%s)" % (chip, n, kernel),
                        not problems, problems))
    # The +-4.096 V entry the daemon selects, from each chip's own list.
    for chip, want in (("ads1015", "2.000000000"), ("ads1115", "0.125000000")):
        _, entries = feeder.read_layout(chip)
        got = feeder.range_scale(entries)
        results.append(("%s: the +-4.096 V entry is %s" % (chip, want), got == want,
                        ["got %s" % got]))
    print("1..%d" % len(results))
    for n, (name, ok, detail) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
        if not ok:
            for line in detail[:40]:
                print("# %s" % line)
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
