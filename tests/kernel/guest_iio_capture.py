#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""In the guest: binds the chip named on the command line (ads1015 or
ads1115) on i2c-stub with the real ti-ads1015 driver and prints its
iio:device layout, taken right after binding, between '=== CHIP' and
'=== end' lines (capture-iio-layout writes it to tests/hw/iio-layout/)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ads1015_stub as stub  # noqa: E402


def main():
    stub.load_modules()
    chip = sys.argv[1]
    dev = stub.new_device(chip)
    print("=== %s" % chip)
    for line in stub.capture(dev):
        print(line)
    print("=== end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
