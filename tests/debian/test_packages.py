#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""debian/packages: the Debian packages of tools/build-debs, as TAP: lintian
finds no error or warning (overrides carry their reason in
debian/*.lintian-overrides), each package holds what issue 18 asks of it,
and the maintainer scripts restart the daemon on upgrade (one `systemctl
restart`, which keeps the GPIO line request in systemd's fd store) instead
of stopping it before the unpack.

    test_packages.py BUILD_DIR SOURCE_DIR

The packages are built into $SMALLBMS_DEB_DIR (tools/test) or BUILD_DIR/debs;
tools/build-debs rebuilds only when the checkout changed.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

n = 0
failed = 0

# Each package's files that must be there (paths in the .deb).
EXPECTED = {
    "smallbmsd": [
        "./usr/sbin/smallbmsd",
        "./lib/systemd/system/smallbmsd.service",
        "./usr/lib/sysusers.d/smallbms.conf",
        "./lib/udev/rules.d/60-smallbms.rules",
        "./usr/lib/systemd/catalog/smallbms.catalog",
        "./usr/share/polkit-1/actions/org.smallbms.policy",
        "./usr/share/polkit-1/rules.d/50-smallbms.rules",
        "./usr/share/polkit-1/rules.d/50-smallbms-admin.rules",
        "./usr/share/dbus-1/system.d/org.smallbms.conf",
        "./usr/share/dbus-1/system-services/org.smallbms.service",
        "./usr/share/dbus-1/interfaces/org.smallbms.Bms1.xml",
        "./etc/smallbms/smallbmsd.conf",
        "./usr/share/man/man8/smallbmsd.8.gz",
        "./usr/share/doc/smallbmsd/README.md.gz",
        "./usr/share/doc/smallbmsd/mqtt.conf.example",
        "./usr/share/doc/smallbmsd/cockpit-phone.png",
        "./usr/share/cockpit/smallbms/manifest.json",
        "./usr/share/cockpit/smallbms/index.html",
        "./usr/share/cockpit/smallbms/smallbms.js",
        "./usr/share/cockpit/smallbms/smallbms.css",
    ],
    "smallbmsctl": [
        "./usr/bin/smallbmsctl",
        "./usr/share/bash-completion/completions/smallbmsctl",
        "./usr/share/man/man1/smallbmsctl.1.gz",
        "./usr/bin/smallbms-fwwrap",
        "./usr/share/man/man1/smallbms-fwwrap.1.gz",
    ],
    "smallbms-sim": [
        "./usr/bin/smallbms-sim",
        "./usr/share/man/man1/smallbms-sim.1.gz",
    ],
}


def tap(ok, what, detail=""):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, what), flush=True)
    if not ok:
        failed += 1
        for line in detail.splitlines():
            print("#   " + line, flush=True)
    return ok


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def main():
    build, source = sys.argv[1], sys.argv[2]
    debs = os.environ.get("SMALLBMS_DEB_DIR") or os.path.join(build, "debs")
    r = run([os.path.join(source, "tools", "build-debs"), debs])
    for line in r.stdout.splitlines():
        print("# " + line, flush=True)
    if r.returncode != 0:
        print("Bail out! tools/build-debs %s failed (exit %d)" % (debs, r.returncode))
        return 1
    current = os.path.join(debs, "current")

    changes = glob.glob(os.path.join(current, "*.changes"))
    r = run(["lintian", "--fail-on", "error,warning", "--display-info", "--pedantic",
             "--no-tag-display-limit"] + changes)
    tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIPX]: ", l)]
    for line in tags:
        print("# lintian: " + line, flush=True)
    bad = [l for l in tags if l.startswith(("E:", "W:"))]
    tap(len(changes) == 1 and r.returncode == 0 and not bad,
        "lintian %s: no error or warning (%d tags shown: info, pedantic)" %
        (" ".join(os.path.basename(c) for c in changes), len(tags)),
        "exit %d\n%s" % (r.returncode, r.stdout[-3000:]))

    for package, want in EXPECTED.items():
        found = glob.glob(os.path.join(current, "%s_*.deb" % package))
        if not tap(len(found) == 1, "%s: one package built (%s)" % (package, found)):
            continue
        listing = run(["dpkg-deb", "-c", found[0]]).stdout
        have = {l.split()[-1] for l in listing.splitlines() if l.strip()}
        missing = [p for p in want if p not in have]
        tap(not missing, "%s: holds %d expected files" % (package, len(want)),
            "missing: %s" % missing)

    smallbmsd = glob.glob(os.path.join(current, "smallbmsd_*.deb"))
    if smallbmsd:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["dpkg-deb", "-e", smallbmsd[0], tmp], check=True)

            def script(name):
                p = os.path.join(tmp, name)
                return open(p).read() if os.path.exists(p) else ""

            conffiles = script("conffiles").split()
            tap(conffiles == ["/etc/smallbms/smallbmsd.conf"],
                "smallbmsd: the configuration is its one conffile (%s)" % conffiles)
            postinst, prerm, preinst = script("postinst"), script("prerm"), script("preinst")
            tap(re.search(r"_dh_action=restart\b", postinst) is not None and
                "systemd-sysusers" in postinst,
                "smallbmsd postinst: sysusers, then `restart` on upgrade (the fd store "
                "keeps the lines), `start` on a new install", postinst[-2000:])
            # A stop before the unpack would close the fd store: the loads drop.
            # Every stop must sit in a block that runs on "remove" only.
            blocks = re.split(r"^# Automatically added by .*$", prerm, flags=re.M)
            stray = [b.strip() for b in blocks if "deb-systemd-invoke stop" in b and
                     '"$1" = remove' not in b]
            tap("deb-systemd-invoke stop" in prerm and not stray and
                "deb-systemd-invoke stop" not in preinst,
                "smallbmsd: the daemon is stopped on remove only, never before an upgrade",
                "prerm:\n%s\npreinst:\n%s" % (prerm, preinst))
            postrm = script("postrm")
            m = re.search(r'if \[ "\$1" = "purge" \]; then\s*\n\s*rm -rf /var/lib/smallbms\s*\n',
                          postrm)
            tap(m is not None, "smallbmsd postrm: /var/lib/smallbms goes on purge only",
                postrm)

    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
