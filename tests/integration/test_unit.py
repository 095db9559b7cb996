#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The systemd integration files, checked with systemd's own tools. TAP.

    test_unit.py UNIT SYSUSERS SMALLBMSD

UNIT is the configured smallbmsd.service of the build; its ExecStart is
pointed at the built SMALLBMSD for `systemd-analyze verify` (the installed
path does not exist in a build tree).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

REQUIRED = [
    "Type=notify", "WatchdogSec=", "Restart=on-failure", "User=smallbms", "Group=smallbms",
    "DynamicUser=no", "StateDirectory=smallbms", "ConfigurationDirectory=smallbms",
    "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
    "RestrictAddressFamilies=AF_UNIX", "SystemCallFilter=@system-service",
    "SystemCallArchitectures=native", "MemoryDenyWriteExecute=yes", "LockPersonality=yes",
    "RestrictRealtime=yes", "ProtectKernelTunables=yes", "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes", "ProtectControlGroups=yes", "FileDescriptorStoreMax=4",
    "KillMode=mixed", "DevicePolicy=closed", "DeviceAllow=char-gpiochip rw",
    "DeviceAllow=char-iio rw", "DeviceAllow=char-ttyS rw",
]
# Exposure of `systemd-analyze security` in tenths: 0.6, and a change that
# loosens the sandbox past it fails here.
THRESHOLD = "6"
RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "systemd",
                     "60-smallbms.rules")


def rules_checks():
    """The udev rule gives group smallbms the ADC's scale attributes on
    "add" and on "change" (what `udevadm trigger` sends, issue 12)."""
    text = open(RULES).read().replace("\\\n", " ")
    results = []
    runs = [x for x in text.splitlines() if "in_voltage0_scale" in x and "RUN+=" in x]
    actions = set()
    for line in runs:
        m = re.search(r'ACTION=="([^"]*)"', line)
        actions |= set(m.group(1).split("|")) if m else {"add", "change", "any"}
    results.append(("udev rule sets the ADC scale attributes on add and change (%s)"
                    % "|".join(sorted(actions)), {"add", "change"} <= actions, text))
    # Issue 15: the hardware group gets the board's ADC only, not every IIO
    # device: each rule of the iio subsystem matches the ADC's name.
    iio = [x for x in text.splitlines()
           if 'SUBSYSTEM=="iio"' in x and not x.lstrip().startswith("#")]
    loose = [x for x in iio if not re.search(r'ATTR\{name\}=="ads1015(\|ads1115)?"', x)]
    results.append(("every iio rule matches only the ADC by name (%d rules, %d without)"
                    % (len(iio), len(loose)), bool(iio) and not loose, "\n".join(loose)))
    return results


def main():
    unit, sysusers, daemon = sys.argv[1:4]
    text = open(unit).read()
    results = []
    lines = set(x.strip() for x in text.splitlines())
    missing = [k for k in REQUIRED if not any(x.startswith(k) for x in lines)]
    results.append(("unit has the hardening directives (missing: %s)" % (missing or "none"),
                    not missing, ""))
    results.append(("no capabilities at all", "CapabilityBoundingSet=" in lines, ""))
    # The ADC's scale attributes wherever the ADC sits (platform, PCI, USB).
    rw = [x.split("=", 1)[1].lstrip("-") for x in lines if x.startswith("ReadWritePaths=")]
    results.append(("ReadWritePaths= reaches every /sys/devices ADC (%s)" % " ".join(rw),
                    "/sys/devices" in rw, ""))
    results += rules_checks()
    tool = shutil.which("systemd-analyze")
    tmp = tempfile.mkdtemp(prefix="smallbms-unit-")
    try:
        local = os.path.join(tmp, "smallbmsd.service")
        with open(local, "w") as f:
            f.write(re.sub(r"^ExecStart=\S+", "ExecStart=" + daemon, text, flags=re.M))
        if tool:
            r = subprocess.run([tool, "verify", "--man=no", local], capture_output=True,
                               text=True)
            results.append(("systemd-analyze verify", r.returncode == 0 and not r.stderr.strip(),
                            r.stderr))
            r = subprocess.run([tool, "security", "--offline=yes", "--threshold=" + THRESHOLD,
                                local], capture_output=True, text=True)
            m = re.search(r"Overall exposure level for \S+: (\S+)", r.stdout + r.stderr)
            results.append(("systemd-analyze security: exposure %s (at most 0.6)"
                            % (m.group(1) if m else "?"), r.returncode == 0 and m is not None,
                            r.stdout[-2000:]))
        users = shutil.which("systemd-sysusers")
        if users:
            root = os.path.join(tmp, "root")
            os.makedirs(os.path.join(root, "etc"))
            r = subprocess.run([users, "--root=" + root, sysusers], capture_output=True,
                               text=True)
            passwd = open(os.path.join(root, "etc", "passwd")).read() if r.returncode == 0 else ""
            group = open(os.path.join(root, "etc", "group")).read() if r.returncode == 0 else ""
            good = (re.search(r"^smallbms:x:\d+:\d+:.*:/var/lib/smallbms:", passwd, re.M)
                    and re.search(r"^dialout:x:\d+:.*\bsmallbms\b", group, re.M))
            results.append(("sysusers.d creates user smallbms in group dialout", bool(good),
                            r.stderr))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(results))
    for n, (name, ok, detail) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
        if not ok:
            for line in detail.splitlines():
                print("# " + line)
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
