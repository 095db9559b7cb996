#!/usr/bin/python3
"""Compiles the carrier board's device-tree overlays and checks them (TAP).

    check_overlays.py WORKDIR

For boards/rpi and boards/bbb: dtc -@ compiles the overlay with no warning
at all (any output of dtc fails); fdtget finds in it what docs/board.md and the
kernel bindings ask (ti,ads1115 at 0x48 with single-ended channels 4..7 at
+-4.096 V, the six line names, the UART, gpio-poweroff); the overlay then
applies with fdtoverlay onto the board's own base tree, compiled from the
pinned Debian linux-source (tests/kernel/kernel.version) into WORKDIR once,
and the merged tree is checked through the base tree's labels. Last, the
default configuration's line names (conf/smallbmsd.conf) are the overlays'.
"""
import os
import re
import shutil
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

OUTPUTS = ["load-disconnect", "charge-disconnect", "pre-alarm",
           "led-bluetooth", "led-error", "heartbeat"]

# What each overlay must give, in the merged tree. Labels are the base
# tree's; offsets are lines of the GPIO chip.
BOARDS = {
    "rpi": {
        "base": "bcm2711-rpi-4-b",
        "i2c": "i2c1",
        "uart": "uart3",
        "gpio": "gpio",
        "lines": {"load-disconnect": 17, "charge-disconnect": 27, "pre-alarm": 22,
                  "led-bluetooth": 23, "led-error": 24, "heartbeat": 25},
        "latch": 26,
        # docs/board.md: outputs only on BCM 9..27 (reset state: pull-down)
        "allowed": range(9, 28),
    },
    "bbb": {
        "base": "am335x-boneblack",
        "i2c": "i2c2",
        "uart": "uart1",
        "gpio": "gpio1",
        "lines": {"load-disconnect": 13, "charge-disconnect": 12, "pre-alarm": 15,
                  "led-bluetooth": 14, "led-error": 16, "heartbeat": 17},
        "latch": 28,
        "allowed": range(0, 32),
        # pad offsets muxed as GPIO (mode 7) with the pull-down (0x00)
        "pads": {0x034, 0x030, 0x03C, 0x038, 0x040, 0x044, 0x078},
    },
}


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        self.n += 1
        if not ok:
            self.failed += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {what}", flush=True)
        if not ok and detail:
            for line in str(detail).rstrip().splitlines()[-30:]:
                print(f"# {line}", flush=True)
        return ok


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace", **kw)


def fdtget(blob, node, prop, typ=None):
    """A property's value (string list or cells), or None when absent."""
    cmd = ["fdtget"] + (["-t", typ] if typ else []) + [blob, node, prop]
    p = run(cmd)
    if p.returncode != 0:
        return None
    return p.stdout.strip()


def strings(blob, node, prop):
    """A string-list property as a list (fdtget -t s joins with spaces, so
    read the raw bytes instead)."""
    p = subprocess.run(["fdtget", "-t", "bx", blob, node, prop],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        return None
    raw = bytes(int(x, 16) for x in p.stdout.split())
    if not raw.endswith(b"\0"):
        return None
    return raw[:-1].decode("ascii", "replace").split("\0")


def cells(blob, node, prop):
    v = fdtget(blob, node, prop, "u")
    return None if v is None else [int(x) for x in v.split()]


def kernel_source_tar():
    version = {}
    with open(os.path.join(ROOT, "tests", "kernel", "kernel.version"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^([A-Z_]+)=(.*)$", line.strip())
            if m:
                version[m.group(1)] = m.group(2)
    return "/usr/src/%s.tar.xz" % version["SOURCE_PACKAGE"], version["SOURCE_PACKAGE"]


def extract_dts(work):
    """The ARM device-tree sources and dt-bindings headers of the pinned
    kernel, extracted once into work/linux."""
    dest = os.path.join(work, "linux")
    stamp = os.path.join(dest, ".done")
    tar, top = kernel_source_tar()
    if os.path.exists(stamp):
        return os.path.join(dest, top), None
    if not os.path.exists(tar):
        return None, f"{tar} is missing (tools/install-deps installs it)"
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    wanted = (f"{top}/arch/arm/boot/dts/", f"{top}/include/dt-bindings/",
              f"{top}/scripts/dtc/include-prefixes/")
    with tarfile.open(tar, "r:xz") as t:
        for m in t:
            if m.name.startswith(wanted) and (m.isfile() or m.isdir() or m.issym()):
                t.extract(m, dest, set_attrs=False)
    open(stamp, "w").close()
    return os.path.join(dest, top), None


def build_base(src, name, work):
    dts_dir = os.path.join(src, "arch", "arm", "boot", "dts")
    pre = os.path.join(work, name + ".pre.dts")
    dtb = os.path.join(work, name + ".dtb")
    p = run(["cpp", "-nostdinc", "-undef", "-x", "assembler-with-cpp", "-D__DTS__",
             "-I", os.path.join(src, "include"), "-I", dts_dir,
             "-I", os.path.join(src, "scripts", "dtc", "include-prefixes"),
             "-o", pre, os.path.join(dts_dir, name + ".dts")])
    if p.returncode != 0:
        return None, p.stderr
    # -q: the base tree's own warnings are the kernel's, not ours
    p = run(["dtc", "-@", "-q", "-i", dts_dir, "-I", "dts", "-O", "dtb", "-o", dtb, pre])
    if p.returncode != 0:
        return None, p.stderr
    return dtb, None


def check_overlay_blob(tap, board, want, dtbo):
    """The compiled overlay alone: fragments, targets left to the loader."""
    fixups = run(["fdtget", "-p", dtbo, "/__fixups__"]).stdout.split()
    labels = {want["i2c"], want["uart"], want["gpio"]}
    tap.check(labels <= set(fixups), f"{board}: overlay refers to the base labels {sorted(labels)}",
              f"__fixups__: {fixups}")
    tap.check(fdtget(dtbo, "/", "compatible", "s") is not None,
              f"{board}: overlay names its SoC or board (compatible)")


def check_merged(tap, board, want, merged):
    def sym(label):
        return fdtget(merged, "/__symbols__", label, "s")

    i2c, uart, gpio = sym(want["i2c"]), sym(want["uart"]), sym(want["gpio"])
    if not tap.check(None not in (i2c, uart, gpio), f"{board}: base labels resolve",
                     f"{want['i2c']}={i2c} {want['uart']}={uart} {want['gpio']}={gpio}"):
        return
    adc = i2c + "/adc@48"
    tap.check(strings(merged, adc, "compatible") == ["ti,ads1115"],
              f"{board}: ADS1115 (ti,ads1115) on {want['i2c']}",
              strings(merged, adc, "compatible"))
    tap.check(cells(merged, adc, "reg") == [0x48], f"{board}: ADC at 0x48",
              cells(merged, adc, "reg"))
    tap.check(strings(merged, i2c, "status") == ["okay"], f"{board}: {want['i2c']} enabled")
    chans = run(["fdtget", "-l", merged, adc]).stdout.split()
    tap.check(sorted(chans) == ["channel@4", "channel@5", "channel@6", "channel@7"],
              f"{board}: ADC channels 4..7 (AIN0..3 to GND: in_voltage0..3)", chans)
    gains = [cells(merged, f"{adc}/channel@{c}", "ti,gain") for c in range(4, 8)]
    regs = [cells(merged, f"{adc}/channel@{c}", "reg") for c in range(4, 8)]
    tap.check(gains == [[1]] * 4 and regs == [[c] for c in range(4, 8)],
              f"{board}: every channel at gain 1 (+-4.096 V), reg = its unit address",
              f"gains {gains} regs {regs}")
    # the binding allows nothing else in a channel node
    extra = [p for c in range(4, 8)
             for p in run(["fdtget", "-p", merged, f"{adc}/channel@{c}"]).stdout.split()
             if p not in ("reg", "ti,gain", "ti,datarate")]
    tap.check(not extra, f"{board}: channel nodes hold binding properties only", extra)

    names = strings(merged, gpio, "gpio-line-names")
    ok = names is not None
    where = {n: [i for i, x in enumerate(names) if x == n] for n in OUTPUTS} if ok else {}
    tap.check(ok and all(where[n] == [want["lines"][n]] for n in OUTPUTS),
              f"{board}: the six output lines named once each, at their offsets",
              f"{where}")
    tap.check(ok and all(want["lines"][n] in want["allowed"] for n in OUTPUTS),
              f"{board}: outputs only on lines whose reset state is pull-down")

    uphandle = cells(merged, uart, "pinctrl-0")
    tap.check(strings(merged, uart, "status") == ["okay"] and uphandle is not None,
              f"{board}: {want['uart']} enabled with its pins", f"pinctrl-0 {uphandle}")

    gphandle = cells(merged, gpio, "phandle")
    latch = cells(merged, "/smallbms-power-latch", "gpios")
    tap.check(strings(merged, "/smallbms-power-latch", "compatible") == ["gpio-poweroff"]
              and gphandle is not None and latch == [gphandle[0], want["latch"], 0],
              f"{board}: gpio-poweroff on {want['gpio']} line {want['latch']}, active high",
              f"gpios {latch}, gpio phandle {gphandle}")
    if names is not None and want["latch"] < len(names):
        tap.check(names[want["latch"]] == "power-latch", f"{board}: the latch line is named",
                  names[want["latch"]])

    if "pads" in want:
        pin_node = fdtget(merged, "/__symbols__", "smallbms_gpio_pins", "s")
        vals = cells(merged, pin_node, "pinctrl-single,pins") if pin_node else None
        triples = [tuple(vals[i:i + 3]) for i in range(0, len(vals), 3)] if vals else []
        tap.check(vals is not None and len(vals) % 3 == 0
                  and {t[0] for t in triples} == want["pads"]
                  and all(t[1] == 0 and t[2] == 7 for t in triples),
                  f"{board}: output pads muxed as GPIO (mode 7) with the pull-down",
                  triples)
        gp = cells(merged, gpio, "pinctrl-0")
        ph = cells(merged, pin_node, "phandle") if pin_node else None
        tap.check(gp is not None and gp == ph, f"{board}: {want['gpio']} applies those pads",
                  f"{gp} {ph}")


def conf_line_names():
    names = {}
    with open(os.path.join(ROOT, "conf", "smallbmsd.conf"), encoding="utf-8") as f:
        section = None
        for line in f:
            m = re.match(r"^\[(\w+)\]", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^#?\s*([a-z-]+)\s*=\s*(\S+)\s*$", line)
            if section == "outputs" and m and m.group(1) in OUTPUTS:
                names[m.group(1)] = m.group(2)
    return names


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    work = os.path.abspath(sys.argv[1])
    os.makedirs(work, exist_ok=True)
    tap = Tap()
    for tool in ("dtc", "fdtget", "fdtoverlay", "cpp"):
        if shutil.which(tool) is None:
            tap.check(False, f"{tool} present", "run tools/install-deps (device-tree-compiler)")
    if tap.failed:
        print(f"1..{tap.n}")
        return 1

    src, why = extract_dts(work)
    tap.check(src is not None, "kernel device-tree sources extracted", why)
    for board, want in BOARDS.items():
        dts = os.path.join(ROOT, "boards", board, "smallbms-overlay.dts")
        dtbo = os.path.join(work, f"smallbms-{board}.dtbo")
        p = run(["dtc", "-@", "-I", "dts", "-O", "dtb", "-o", dtbo, dts])
        if not tap.check(p.returncode == 0 and not p.stdout and not p.stderr,
                         f"{board}: dtc -@ compiles the overlay without a warning",
                         p.stdout + p.stderr):
            continue
        check_overlay_blob(tap, board, want, dtbo)
        if src is None:
            continue
        base, why = build_base(src, want["base"], work)
        if not tap.check(base is not None, f"{board}: base tree {want['base']} built", why):
            continue
        merged = os.path.join(work, f"{want['base']}+smallbms.dtb")
        p = run(["fdtoverlay", "-i", base, "-o", merged, dtbo])
        if not tap.check(p.returncode == 0 and not p.stderr,
                         f"{board}: overlay applies onto {want['base']}", p.stdout + p.stderr):
            continue
        check_merged(tap, board, want, merged)

    conf = conf_line_names()
    tap.check(sorted(conf) == sorted(OUTPUTS) and all(conf[n] == n for n in OUTPUTS),
              "conf/smallbmsd.conf finds the lines by the overlays' names", conf)
    print(f"1..{tap.n}")
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
