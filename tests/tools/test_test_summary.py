#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""tools/test-summary: TAP TODO lines (a known failure, e.g. kernel/systemd's
heartbeat gap under TCG) count as neither passed nor failed but are listed;
a TODO line that passes counts as failed (meson: unexpected pass); plain
lines, skips and crashed binaries as before. TAP on stdout."""
import json
import os
import subprocess
import sys
import tempfile

SUMMARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                       "test-summary")


def summary(entries):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        for e in entries:
            f.write(json.dumps(e) + "\n")
    try:
        r = subprocess.run([sys.executable, SUMMARY, f.name], stdout=subprocess.PIPE, text=True)
    finally:
        os.unlink(f.name)
    return r.returncode, r.stdout.splitlines()


CASES = [
    ("a failed TODO line is not a failure, and is listed",
     [{"name": "k", "result": "OK", "stdout": "ok 1 - a\nnot ok 2 - b # TODO slow\n1..2\n"}],
     0, ["TODO: k: not ok 2 - b # TODO slow", "1 passed, 0 failed"]),
    ("a passing TODO line is an unexpected pass: failed",
     [{"name": "k", "result": "FAIL", "stdout": "ok 1 - a\nok 2 - b # TODO fixed?\n1..2\n"}],
     1, ["FAILED: k", "1 passed, 1 failed"]),
    ("a plain failed line still fails",
     [{"name": "k", "result": "FAIL", "stdout": "ok 1 - a\nnot ok 2 - b\n1..2\n"}],
     1, ["FAILED: k", "1 passed, 1 failed"]),
    ("a skip counts as neither",
     [{"name": "k", "result": "OK", "stdout": "ok 1 - a # SKIP no bus\nok 2 - b\n1..2\n"}],
     0, ["1 passed, 0 failed"]),
    ("a crash after passing TAP lines fails",
     [{"name": "k", "result": "ERROR", "stdout": "ok 1 - a\n"}],
     1, ["FAILED: k", "1 passed, 1 failed"]),
    ("nothing run is a failure",
     [], 1, ["0 passed, 0 failed"]),
]


def main():
    print("1..%d" % len(CASES))
    bad = 0
    for i, (what, entries, want_rc, want_out) in enumerate(CASES, 1):
        rc, out = summary(entries)
        ok = rc == want_rc and out == want_out
        print("%s %d - %s" % ("ok" if ok else "not ok", i, what))
        if not ok:
            print("#   want exit %d %r\n#   got  exit %d %r" % (want_rc, want_out, rc, out))
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
