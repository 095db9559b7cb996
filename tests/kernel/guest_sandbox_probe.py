#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""In the kernel stage's guest, inside smallbmsd's sandbox (its cgroup, its
mount namespace, its user and groups, no capabilities; guest_systemd.py
puts it there): tries to open each PATH with MODE (r, w or rw) and prints
one line per path, "PATH ok" or "PATH ERRNAME".

    guest_sandbox_probe.py MODE:PATH ...
"""
import errno
import os
import sys

FLAGS = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}


def main():
    for arg in sys.argv[1:]:
        mode, _, path = arg.partition(":")
        try:
            # O_NONBLOCK: a tty or a device must not block the probe.
            fd = os.open(path, FLAGS[mode] | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
            os.close(fd)
            print("%s ok" % path)
        except OSError as e:
            print("%s %s" % (path, errno.errorcode.get(e.errno, str(e.errno))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
