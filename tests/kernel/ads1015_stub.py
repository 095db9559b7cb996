# SPDX-License-Identifier: GPL-2.0-or-later
"""In the kernel stage's guest: the real ti-ads1015 driver on an emulated
chip (i2c-stub), and the layout of the iio:device it makes.

TESTING.md: i2c-stub at chip_addr 0x48 holds one conversion register
(pointer 0x00) that every channel reads. SMBus words are little-endian on
the wire and the chip's registers big-endian, so the word written with
`i2cset ... w` is byte-swapped: an ADS1015's raw reading is swap16(word) >> 4
(12 bits, left-aligned), an ADS1115's swap16(word).
"""

import os
import subprocess
import time

ADDR = 0x48
IIO = "/sys/bus/iio/devices"
I2C = "/sys/bus/i2c/devices"
DRIVER = "/sys/bus/i2c/drivers/ads1015"

# Attributes whose values change by themselves (runtime PM counters, device
# numbers): recorded by name only.
VOLATILE = ("dev", "uevent")
VOLATILE_DIRS = ("power/",)


def run(*argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r.stdout


def stub_adapter():
    """i2c-N of the stub, found by name (the guest may have other adapters)."""
    for d in sorted(os.listdir(I2C)):
        try:
            with open(os.path.join(I2C, d, "name")) as f:
                if f.read().strip() == "SMBus stub driver":
                    return d
        except OSError:
            continue
    raise RuntimeError("no i2c-stub adapter in %s" % I2C)


def load_modules():
    run("modprobe", "i2c-stub", "chip_addr=0x%02x" % ADDR)
    run("modprobe", "i2c-dev")
    run("modprobe", "ti-ads1015")


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for %s" % what)


def iio_device():
    """The iio:deviceN directory (under /sys/bus/iio/devices) of the i2c
    client at ADDR on the stub, or None. Found through the client, not by
    name: the driver names the device "ads1015" for an ADS1115 too."""
    client = os.path.join(I2C, client_name())
    try:
        names = [d for d in os.listdir(client) if d.startswith("iio:device")]
    except OSError:
        return None
    return os.path.join(IIO, names[0]) if names else None


def new_device(chip):
    """Instantiates chip (ads1015 or ads1115) at ADDR on the stub; its
    iio:device directory."""
    adapter = stub_adapter()
    with open(os.path.join(I2C, adapter, "new_device"), "w") as f:
        f.write("%s 0x%02x\n" % (chip, ADDR))
    return wait_for(iio_device, 10, "the iio:device of the %s" % chip)


def delete_device():
    adapter = stub_adapter()
    with open(os.path.join(I2C, adapter, "delete_device"), "w") as f:
        f.write("0x%02x\n" % ADDR)


def client_name():
    return "%s-%04x" % (stub_adapter().split("-")[1], ADDR)


def unbind():
    with open(os.path.join(DRIVER, "unbind"), "w") as f:
        f.write(client_name())


def bind():
    with open(os.path.join(DRIVER, "bind"), "w") as f:
        f.write(client_name())


def swap16(v):
    return ((v & 0xFF) << 8) | (v >> 8)


def set_raw(chip, raw):
    """Puts a reading in the conversion register: raw counts of the chip."""
    if chip == "ads1015":
        reg = (raw & 0xFFF) << 4
    else:
        reg = raw & 0xFFFF
    bus = stub_adapter().split("-")[1]
    run("i2cset", "-f", "-y", bus, "0x%02x" % ADDR, "0x00", "0x%04x" % swap16(reg), "w")


def kind(rel):
    """device or channel attribute, or the subdirectory it belongs to."""
    if "/" in rel:
        top = rel.split("/")[0]
        return {"scan_elements": "scan", "events": "event"}.get(top, top.rstrip("0123456789"))
    return "channel" if rel.startswith("in_") else "device"


def mode(st):
    return ("r" if st.st_mode & 0o400 else "-") + ("w" if st.st_mode & 0o200 else "-")


def read_value(path):
    try:
        with open(path, "rb") as f:
            data = f.read(4096)
    except OSError as e:
        return "<error %s>" % (os.strerror(e.errno) if e.errno else e)
    text = data.decode(errors="replace")
    if not text.endswith("\n"):
        return repr(text) + " (no newline)"
    return text[:-1].replace("\n", "\\n")


def capture(devdir):
    """The device's layout: one line per entry, sorted by path:
    KIND MODE PATH[ = VALUE] (links: 'link PATH'; directories: 'dir PATH/')."""
    lines = []
    for root, dirs, files in os.walk(devdir):
        rel_root = os.path.relpath(root, devdir)
        rel_root = "" if rel_root == "." else rel_root + "/"
        for d in list(dirs):
            p = os.path.join(root, d)
            if os.path.islink(p):
                dirs.remove(d)
                lines.append("link %s%s" % (rel_root, d))
            else:
                lines.append("dir %s%s/" % (rel_root, d))
        for name in files:
            p = os.path.join(root, name)
            rel = rel_root + name
            if os.path.islink(p):
                lines.append("link %s" % rel)
                continue
            st = os.stat(p)
            line = "%s %s %s" % (kind(rel), mode(st), rel)
            volatile = rel in VOLATILE or rel.startswith(VOLATILE_DIRS)
            if st.st_mode & 0o400 and not volatile:
                line += " = " + read_value(p)
            lines.append(line)
    return sorted(lines, key=lambda l: l.split(" ")[-1] if l.startswith(("dir", "link"))
                  else l.split(" ")[2])
