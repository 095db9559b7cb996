#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""kernel/systemd: smallbmsd under systemd as PID 1 in the kernel stage's
guest (run-guest --systemd), installed as the README says on a board whose
devices exist already; guest_systemd.py's TAP is passed through.

    test_systemd.py BUILD_DIR SOURCE_DIR
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    build, source = sys.argv[1], sys.argv[2]
    # The daemon that ships (tools/test builds it without sanitizers and
    # with the README's install options): its restart is what the board's
    # 2 s monostable sees. The sanitizer build's start and exit take seconds
    # under the guest's emulated CPU.
    build = os.environ.get("SMALLBMS_PLAIN_BUILD") or build
    print("# installing from %s" % build, flush=True)
    # The guest compares its speed with the host's on the same binary.
    daemon = os.path.join(build, "src/daemon/smallbmsd")
    best = None
    for _ in range(3):
        t = time.monotonic()
        subprocess.run([daemon, "--help"], stdout=subprocess.DEVNULL, check=True)
        best = min(best or 1e9, time.monotonic() - t)
    t0 = time.monotonic()
    # --clock-ahead: the low-power shutdown's check hands the daemon a saved
    # timer older than the guest's real uptime (guest_systemd.py).
    r = subprocess.run([os.path.join(HERE, "run-guest"), "--systemd", "--clock-ahead", "3600",
                        "--timeout", "900",
                        "--env", "SMALLBMS_HOST_HELP_S=%.6f" % best,
                        os.path.join(HERE, "guest_systemd.py"), build, source],
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
