#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""tools/check-doc-refs: the tree documents itself (nothing it ships sends
the reader to the development machines' spec folder, and every
"protection.md section N" names a section docs/protection.md has); and the
checker finds each kind of bad reference planted in a copy of docs/.
TAP on stdout."""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CHECK = os.path.join(ROOT, "tools", "check-doc-refs")

# Written in pieces, so that this file is not itself a finding.
UP = ".." + "/shared"
SPEC = "shared" + "/spec"
MD = ".md"  # so that the bad section references below are not findings either


def run(root):
    r = subprocess.run([sys.executable, CHECK, root], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    return r.returncode, r.stdout.splitlines(), r.stderr


def planted(files):
    """A tree with the real docs/ and the given files; the checker's result."""
    d = tempfile.mkdtemp(prefix="doc-refs-")
    try:
        shutil.copytree(os.path.join(ROOT, "docs"), os.path.join(d, "docs"))
        for rel, text in files.items():
            os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w", encoding="utf-8") as f:
                f.write(text)
        return run(d)
    finally:
        shutil.rmtree(d)


# (what, files, want exit, a line the output must contain or None)
CASES = [
    ("a spec path in a C comment",
     {"src/core/x.c": "/* the rule (%s/spec/protection.md section 5) */\n" % UP},
     1, "src/core/x.c:1:"),
    ("the machines' test notes in a Python test",
     {"tests/ble/x.py": "# (%s/TESTING.md)\n" % UP}, 1, "tests/ble/x.py:1:"),
    ("a spec folder without the parent in the README",
     {"README.md": "text\n\nsee `%s/board.md`\n" % SPEC}, 1, "README.md:3:"),
    ("a man page's SEE ALSO", {"man/x.8.scd": "# SEE ALSO\n\n%s/m8bus.md\n" % UP}, 1,
     "man/x.8.scd:3:"),
    ("a section the docs do not have",
     {"src/m8/x.c": "/* m8bus" + MD + " section 8 */\n"}, 1, "docs/m8bus.md has no section 8"),
    ("a section in a list of sections",
     {"src/x.h": "/* protection" + MD + " sections 4 and 12 */\n"}, 1,
     "docs/protection.md has no section 12"),
    ("a range of sections", {"src/x.h": "/* protection" + MD + " sections 10-12 */\n"}, 1,
     "docs/protection.md has no section 12"),
    ("a reference wrapped in a comment",
     {"src/x.c": "/* see docs/protection" + MD + " section\n * 13, the rest */\n"}, 1,
     "src/x.c:1: docs/protection.md has no section 13"),
    ("a section of a document that has none",
     {"systemd/x.rules": "# board" + MD + " section 2\n"}, 1, "docs/board.md has no section 2"),
    ("a heading the page does not have",
     {"src/core/x.h": "/* monitor" + MD + " \"Bank figures\" */\n"}, 1,
     "docs/monitor.md has no heading \"Bank figures\""),
    ("a heading of a wrapped comment",
     {"src/core/x.h": "/* (board" + MD + ", \"Remote on/off\n * switch\") */\n"}, 1,
     "src/core/x.h:1: docs/board.md has no heading"),
    ("good references pass",
     {"src/x.c": "/* docs/protection.md sections 4 and 11, m8bus.md 3 step 4,\n"
                 " * protection.md section\n * 11, board.md rev 3, monitor.md \"History\",\n"
                 " * board.md, \"Remote on/off\n * terminal\" */\n"},
     0, None),
    ("files outside the shipped tree are not checked",
     {"notes/x.txt": "%s/spec/\n" % UP}, 0, None),
]


def main():
    print("1..%d" % (len(CASES) + 1))
    bad = 0
    rc, out, err = run(ROOT)
    ok = rc == 0
    print("%s 1 - the source tree documents itself" % ("ok" if ok else "not ok"))
    if not ok:
        bad += 1
        for line in out:
            print("#   " + line)
        print("#   " + err.strip())
    for i, (what, files, want_rc, want) in enumerate(CASES, 2):
        rc, out, err = planted(files)
        ok = rc == want_rc and (want is None or any(want in line for line in out))
        print("%s %d - %s" % ("ok" if ok else "not ok", i, what))
        if not ok:
            bad += 1
            print("#   want exit %d and %r\n#   got  exit %d %r %s" % (want_rc, want, rc, out, err))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
