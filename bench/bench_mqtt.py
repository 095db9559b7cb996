#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark of the MQTT publisher (issue 19): the traffic a 50-battery bank
sends to the broker per minute; prints figures, asserts nothing.

    /usr/bin/python3 bench/bench_mqtt.py BUILD_DIR [--seconds S] [--interval I ...]
    meson compile -C BUILD_DIR bench-mqtt       (the same with the defaults)

The integration rig (tests/integration/harness.py: smallbms-sim on a pty
with 2 in series x 25 in parallel, the fake ADC, outputs in dry-run) and a
mosquitto broker on a private port (tests/mqtt/mqttc.py). For each publish
interval (default: 10 s, the default, and 1 s, the fastest) a subscriber
counts, over S seconds (default 60) after the discovery burst, the messages
and their bytes as PUBLISH packets on the wire (fixed header, topic, payload;
QoS 0), and the broker's own count of bytes received
($SYS/broker/bytes/received, which adds PINGREQ and TCP-free MQTT framing of
everything the daemon sent). The one-time discovery burst is shown apart.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def setup_env(build):
    os.environ["SMALLBMSD"] = os.path.join(build, "src", "daemon", "smallbmsd")
    os.environ["SMALLBMS_SIM"] = os.path.join(build, "src", "sim", "smallbms-sim")
    os.environ["SMALLBMS_IIO_FEEDER"] = os.path.join(ROOT, "tools", "iio-feeder")
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "mqtt"))


def wire_bytes(topic, payload):
    """A QoS 0 PUBLISH packet's size."""
    body = 2 + len(topic.encode()) + len(payload)
    n = 1
    while body >= 128 ** n:
        n += 1
    return 1 + n + body


def sys_bytes(port, mqttc):
    """The broker's bytes received so far (its $SYS topic, retained)."""
    s = mqttc.Subscriber(port, topics=["$SYS/broker/bytes/received"])
    try:
        r = s.wait(lambda t, p: True, timeout=5)
        return int(r[2]) if r else None
    finally:
        s.close()


def run(interval, seconds, harness, mqttc):
    tmp = tempfile.mkdtemp(prefix="smallbms-bench-mqtt-")
    broker = mqttc.Broker(tmp)
    rig = harness.Rig("bench-mqtt", series=2, parallel=25, start_sim=False, config_extra={
        "mqtt": {"uri": "mqtt://127.0.0.1:%d" % broker.port, "node-id": "bench",
                 "publish-interval-s": str(interval)}})
    sub = None
    try:
        sub = mqttc.Subscriber(broker.port, topics=["smallbms/#", "homeassistant/#"])
        rig.start_sim()
        rig.start_daemon()
        rig.wait_started(timeout=180)
        # the discovery burst: 15 bank entities and 2 for each battery
        want = 15 + 2 * 50
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            configs = {m[1] for m in sub.all() if m[1].endswith("/config")}
            if len(configs) >= want:
                break
            time.sleep(0.2)
        disc = [m for m in sub.all() if m[1].endswith("/config")]
        time.sleep(interval + 1)  # past the burst
        before = sys_bytes(broker.port, mqttc)
        mark = sub.mark()
        time.sleep(seconds)
        msgs = [m for m in sub.all(mark) if not m[1].endswith("/config")]
        time.sleep(1.5)  # $SYS is refreshed every second (sys_interval 1)
        after = sys_bytes(broker.port, mqttc)
        per_min = 60.0 / seconds
        by_kind = {}
        for m in msgs:
            kind = m[1].split("/")[2] if m[1].count("/") >= 2 else m[1]
            n, b = by_kind.get(kind, (0, 0))
            by_kind[kind] = (n + 1, b + wire_bytes(m[1], m[2]))
        total_b = sum(wire_bytes(m[1], m[2]) for m in msgs)
        print("publish interval %d s, 50 batteries (2S x 25P), %d s measured:" % (
            interval, seconds))
        print("  %.0f messages/min, %.0f bytes/min as PUBLISH packets (%.1f kB/min)" % (
            len(msgs) * per_min, total_b * per_min, total_b * per_min / 1000))
        for kind, (n, b) in sorted(by_kind.items()):
            print("    %-12s %6.0f messages/min %8.0f bytes/min" % (kind, n * per_min,
                                                                  b * per_min))
        if before is not None and after is not None:
            print("  broker: %.0f bytes/min received from all clients (the daemon's "
                  "packets, PINGREQ, and the subscribers' few)" % ((after - before) * per_min))
        bank = [m for m in msgs if m[1].endswith("/bank")]
        if bank:
            print("  one bank message: %d bytes; %s" % (len(bank[-1][2]),
                                                       json.loads(bank[-1][2])))
        print("  discovery (once per connection, retained): %d messages, %d bytes" % (
            len(disc), sum(wire_bytes(m[1], m[2]) for m in disc)))
        sys.stdout.flush()
        rig.stop_daemons_checked()
    finally:
        if sub:
            sub.close()
        rig.close()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--interval", type=int, action="append")
    args = ap.parse_args()
    setup_env(os.path.abspath(args.build))
    import harness
    import mqttc
    for interval in args.interval or [10, 1]:
        run(interval, args.seconds, harness, mqttc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
