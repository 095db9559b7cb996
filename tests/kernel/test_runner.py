#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""kernel/guest-boot: one guest through run-guest. The guest's own checks
(guest_boot_checks.sh: pinned kernel, modules, configfs, host paths, overlay,
modprobe) come back as TAP over virtio-serial; then run-guest must exit with
the script's status (7) and pass its stderr too."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    build_file = sys.argv[1]
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(HERE, "run-guest"), "--timeout", "240",
                        os.path.join(HERE, "guest_boot_checks.sh"),
                        os.path.join(HERE, "kernel.version"), build_file],
                       stdout=subprocess.PIPE, text=True)
    elapsed = time.monotonic() - t0
    guest = r.stdout.splitlines()
    tap = [l for l in guest if l.startswith(("ok ", "not ok "))]
    n = len(tap)
    print("1..%d" % (n + 3))
    for line in guest:
        if line.startswith(("ok ", "not ok ")) or line.startswith("#"):
            print(line)
    failed = any(l.startswith("not ok") for l in tap)
    checks = [
        (n == 6, "the guest ran all 6 checks"),
        (r.returncode == 7, "run-guest exits with the script's status 7 (got %d)" % r.returncode),
        ("guest says goodbye on stderr" in r.stdout, "the script's stderr is passed back"),
    ]
    for i, (ok, what) in enumerate(checks, n + 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, what))
        failed |= not ok
    print("# whole guest run %.1f s" % elapsed)
    if failed:
        print("# guest output:\n" + "\n".join("#   " + l for l in guest))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
