# SPDX-License-Identifier: GPL-2.0-or-later
"""A small MQTT 3.1.1 subscriber for the tests (Debian has no Python MQTT
client in the test's package set): CONNECT, SUBSCRIBE, and every PUBLISH
kept with the monotonic time it arrived, its topic, payload and retain
flag. QoS 1 deliveries are acknowledged. Also the broker the tests run:
Debian's mosquitto with a configuration of the test's own."""

import os
import socket
import ssl
import struct
import subprocess
import threading
import time


def _varint(n):
    out = b""
    while True:
        b = n % 128
        n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


class Subscriber:
    def __init__(self, port, topics=("#",), host="127.0.0.1", client_id=None,
                 user=None, password=None, tls=None, timeout=10):
        self.messages = []  # (monotonic, topic, payload bytes, retain)
        self.cond = threading.Condition()
        self.closed = False
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            sock = tls.wrap_socket(sock, server_hostname=host)
        self.sock = sock
        cid = client_id or "test-%d-%d" % (os.getpid(), id(self) % 100000)
        flags = 0x02  # clean session
        payload = _str(cid)
        if user is not None:
            flags |= 0x80
            payload += _str(user)
            if password is not None:
                flags |= 0x40
                payload += _str(password)
        var = _str("MQTT") + bytes([4, flags]) + struct.pack(">H", 60)
        self._send(0x10, var + payload)
        kind, body = self._read_packet()
        if kind != 0x20 or len(body) < 2 or body[1] != 0:
            raise RuntimeError("CONNACK refused: %r" % body)
        sub = struct.pack(">H", 1)
        for t in topics:
            sub += _str(t) + bytes([1])
        self._send(0x82, sub)
        kind, body = self._read_packet()
        if kind != 0x90:
            raise RuntimeError("no SUBACK: %x" % kind)
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _send(self, first, body):
        self.sock.sendall(bytes([first]) + _varint(len(body)) + body)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("broker closed the connection")
            buf += chunk
        return buf

    def _read_packet(self):
        first = self._recv_exact(1)[0]
        mult, length = 1, 0
        while True:
            b = self._recv_exact(1)[0]
            length += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        return first, self._recv_exact(length)

    def _run(self):
        try:
            while True:
                first, body = self._read_packet()
                now = time.monotonic()
                if first >> 4 != 3:
                    continue
                qos = (first >> 1) & 3
                tlen = struct.unpack(">H", body[:2])[0]
                topic = body[2:2 + tlen].decode()
                off = 2 + tlen
                if qos:
                    pid = body[off:off + 2]
                    off += 2
                    self._send(0x40, pid)
                with self.cond:
                    self.messages.append((now, topic, body[off:], bool(first & 1)))
                    self.cond.notify_all()
        except (OSError, EOFError, ValueError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def publish(self, topic, payload, retain=False):
        """A QoS 0 PUBLISH from this client."""
        self._send(0x30 | (1 if retain else 0), _str(topic) + payload)

    def mark(self):
        with self.cond:
            return len(self.messages)

    def wait(self, pred, timeout=30, since=0):
        """First message from index `since` for which pred(topic, payload)
        holds: (time, topic, payload, retain, index) or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.messages):
                    t, topic, payload, retain = self.messages[i]
                    i += 1
                    if pred(topic, payload):
                        return t, topic, payload, retain, i - 1
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(left)

    def all(self, since=0):
        with self.cond:
            return list(self.messages[since:])

    def close(self):
        try:
            self._send(0xE0, b"")
        except OSError:
            pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


def tls_context(ca, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    """mosquitto on 127.0.0.1:port with the given extra configuration lines;
    no persistence, so a restart forgets every retained message."""

    def __init__(self, tmp, port=None, extra=(), name="broker"):
        self.tmp = tmp
        self.port = port or free_port()
        self.extra = list(extra)
        self.name = name
        self.proc = None
        self.start()

    def start(self):
        conf = os.path.join(self.tmp, "%s.conf" % self.name)
        with open(conf, "w") as f:
            f.write("per_listener_settings false\n")
            f.write("persistence false\n")
            f.write("sys_interval 1\n")
            f.write("listener %d 127.0.0.1\n" % self.port)
            for line in self.extra:
                f.write(line + "\n")
            if not any(x.startswith("allow_anonymous") for x in self.extra):
                f.write("allow_anonymous true\n")
        self.log = open(os.path.join(self.tmp, "%s.log" % self.name), "a")
        self.proc = subprocess.Popen(["mosquitto", "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mosquitto exited: %s" % self.log_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen on %d" % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc:
            self.log.close()
        self.proc = None

    def log_text(self):
        try:
            with open(os.path.join(self.tmp, "%s.log" % self.name)) as f:
                return f.read()[-3000:]
        except OSError:
            return ""
