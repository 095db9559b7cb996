#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""kernel/deb-install: smallbms's Debian packages installed, upgraded,
removed and purged under systemd as PID 1 in the kernel stage's guest
(run-guest --systemd); guest_deb.py's TAP is passed through.

    test_deb.py BUILD_DIR SOURCE_DIR

The packages come from tools/build-debs into $SMALLBMS_DEB_DIR (tools/test
builds them there once for the run), or BUILD_DIR/debs; build-debs rebuilds
only when the checkout changed.
"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    build, source = sys.argv[1], sys.argv[2]
    debs = os.environ.get("SMALLBMS_DEB_DIR") or os.path.join(build, "debs")
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(source, "tools", "build-debs"), debs],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in r.stdout.splitlines():
        print("# " + line, flush=True)
    if r.returncode != 0:
        print("Bail out! tools/build-debs %s failed (exit %d)" % (debs, r.returncode))
        return 1
    print("# packages ready in %.1f s" % (time.monotonic() - t0), flush=True)
    current, upgrade = os.path.join(debs, "current"), os.path.join(debs, "upgrade")
    # The guest compares its speed with the host's on the packaged binary.
    deb = [f for f in os.listdir(current) if f.startswith("smallbmsd_")][0]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", os.path.join(current, deb), tmp], check=True)
        best = None
        for _ in range(3):
            t = time.monotonic()
            subprocess.run([os.path.join(tmp, "usr/sbin/smallbmsd"), "--help"],
                           stdout=subprocess.DEVNULL, check=True)
            best = min(best or 1e9, time.monotonic() - t)
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(HERE, "run-guest"), "--systemd", "--timeout", "900",
                        "--env", "SMALLBMS_HOST_HELP_S=%.6f" % best,
                        os.path.join(HERE, "guest_deb.py"), current, upgrade],
                       stdout=subprocess.PIPE, text=True)
    sys.stdout.write(r.stdout)
    print("# whole guest run %.1f s (host wall clock)" % (time.monotonic() - t0))
    tap = [l for l in r.stdout.splitlines() if l.startswith(("ok ", "not ok "))]
    if r.returncode != 0 and not any(l.startswith("not ok") for l in tap) \
            and "Bail out!" not in r.stdout:
        print("Bail out! the guest failed (run-guest exit %d) without a failed test"
              % r.returncode)
    return 1 if r.returncode != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
