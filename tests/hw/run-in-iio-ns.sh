#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs a test program with an empty fake IIO sysfs tree bound at /sys/bus/iio
# inside a private mount namespace (TESTING.md). The program fills the tree
# through $IIO_FAKE_TREE, from outside the bind mount, as a driver would.
# Exit 77 (skip) where a mount namespace is not permitted.
set -u
if ! unshare -m true 2>/dev/null; then
	echo "# SKIP: unshare -m not permitted here" >&2
	exit 77
fi
TREE=$(mktemp -d "${TMPDIR:-/tmp}/fake-iio.XXXXXX") || exit 1
trap 'rm -rf "$TREE"' EXIT INT TERM
mkdir "$TREE/devices" || exit 1
IIO_FAKE_TREE=$TREE
export IIO_FAKE_TREE
unshare -m sh -c 'mount -t tmpfs none /sys/bus && mkdir /sys/bus/iio &&
	mount --bind "$IIO_FAKE_TREE" /sys/bus/iio && exec "$@"' sh "$@"
rc=$?
exit $rc
