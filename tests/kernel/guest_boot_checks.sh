#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs inside the guest (test_runner.py): what every test of the kernel stage
# relies on, as TAP; then exits 7 so that the runner's exit status is seen to
# be the script's.
KVER_FILE=${1:?kernel.version}
BUILD_FILE=${2:?a file of the build directory}
n=0
check() {
	n=$((n + 1))
	what=$1
	shift
	if "$@" >/dev/null 2>&1; then echo "ok $n - $what"; else echo "not ok $n - $what"; fi
}
want=$(sed -n 's/^KVER=//p' "$KVER_FILE")
echo "1..6"
check "the pinned kernel $want runs" [ "$(uname -r)" = "$want" ]
check "gpio-sim and irq_sim are loaded" grep -q '^gpio_sim .*irq_sim\|^gpio_sim ' /proc/modules
check "configfs offers gpio-sim" [ -d /sys/kernel/config/gpio-sim ]
check "the build directory is seen at its host path" [ -e "$BUILD_FILE" ]
check "the root is writable (tmpfs overlay)" sh -c 'echo x >/smallbms-overlay-probe && rm /smallbms-overlay-probe'
check "modprobe finds Debian's modules (i2c-stub)" modprobe i2c-stub chip_addr=0x48
echo "guest says goodbye on stderr" >&2
exit 7
