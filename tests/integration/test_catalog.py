#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The journal message catalog (systemd/smallbms.catalog) has one entry for
every MESSAGE_ID of src/daemon/events.c, each with a Subject, and nothing
else; journalctl accepts it. TAP output.

    test_catalog.py EVENTS_C CATALOG
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile


def main():
    events_c, catalog = sys.argv[1], sys.argv[2]
    ids = re.findall(r'\[EV_[A-Z_]+\]\s*=\s*"([0-9a-f]{32})"', open(events_c).read())
    text = open(catalog).read()
    entries = re.split(r"^-- ", text, flags=re.M)[1:]
    cat = {}
    for e in entries:
        head, _, body = e.partition("\n")
        cat[head.strip()] = body
    results = []
    results.append(("events.c names message ids", len(ids) >= 10))
    missing = [i for i in ids if i not in cat]
    results.append(("every MESSAGE_ID has an entry (missing: %s)" % (missing or "none"),
                    not missing))
    extra = [i for i in cat if i not in ids]
    results.append(("no entry for an unknown id (extra: %s)" % (extra or "none"), not extra))
    results.append(("every entry has a Subject",
                    all(re.search(r"^Subject: \S", b, re.M) for b in cat.values())))
    ok = None
    if shutil.which("journalctl"):
        root = tempfile.mkdtemp(prefix="smallbms-catalog-")
        try:
            d = os.path.join(root, "usr", "lib", "systemd", "catalog")
            os.makedirs(d)
            shutil.copy(catalog, d)
            r = subprocess.run(["journalctl", "--root=" + root, "--update-catalog"],
                               capture_output=True, text=True)
            listed = subprocess.run(["journalctl", "--root=" + root, "--list-catalog"],
                                    capture_output=True, text=True).stdout
            ok = r.returncode == 0 and all(i in listed for i in ids) and not r.stderr.strip()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print("1..%d" % (len(results) + 1))
    for n, (name, good) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if good else "not ok", n, name))
    n = len(results) + 1
    if ok is None:
        print("ok %d - journalctl accepts the catalog # SKIP no journalctl" % n)
    else:
        print("%s %d - journalctl accepts the catalog" % ("ok" if ok else "not ok", n))
    return 0 if all(g for _, g in results) and ok is not False else 1


if __name__ == "__main__":
    sys.exit(main())
