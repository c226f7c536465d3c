#!/usr/bin/env python3
"""kwire.py — the two Kafka requests the test scripts need, spoken on the wire with no client
library (python3's standard library only), for any Kafka 4.x broker.

  kwire.py probe HOST:PORT [TIMEOUT]
      exit 0 when the broker answers a Metadata request and reports at least one live
      (registered, unfenced) broker and an elected controller; prints one summary line.
      TIMEOUT (seconds, default 1.5) bounds the whole exchange. Exit 1 otherwise.
  kwire.py create-topic HOST:PORT NAME [PARTITIONS] [TIMEOUT]
      create a topic (default 3 partitions, replication factor 1); exit 0 when created or
      when it already exists, 1 on any other error. The test broker runs with
      auto.create.topics.enable=false, so kcat checks need this first.

Versions used: Metadata v4 and CreateTopics v2, the oldest ones Kafka 4.x still accepts; both
are non-flexible (no tagged fields), request header v1, response header v0.
"""
import socket
import struct
import sys
import time

CLIENT_ID = b"stagebus-kwire"


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        vals = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return vals[0] if len(vals) == 1 else vals

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed by the broker")
        buf += chunk
    return buf


def call(addr, api_key, version, body, timeout):
    """Send one request and return a Reader positioned after the correlation id."""
    host, _, port = addr.rpartition(":")
    deadline = time.monotonic() + timeout
    correlation_id = 7
    req = struct.pack(">hhi", api_key, version, correlation_id) + struct.pack(">h", len(CLIENT_ID))
    req += CLIENT_ID + body
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        sock.sendall(struct.pack(">i", len(req)) + req)
        size = struct.unpack(">i", read_exact(sock, 4))[0]
        r = Reader(read_exact(sock, size))
    if r.take(">i") != correlation_id:
        raise ValueError("unexpected correlation id")
    return r


def probe(addr, timeout=1.5):
    # Metadata v4: topics = null (all), allow_auto_topic_creation = false.
    r = call(addr, 3, 4, struct.pack(">ib", -1, 0), timeout)
    r.take(">i")  # throttle_time_ms
    brokers = []
    for _ in range(r.take(">i")):
        node = r.take(">i")
        host = r.string()
        port = r.take(">i")
        r.string()  # rack
        brokers.append(f"{node}@{host}:{port}")
    cluster = r.string()
    controller = r.take(">i")
    if not brokers or controller < 0:
        print(f"kwire: not ready (brokers={brokers}, controller={controller})", file=sys.stderr)
        return 1
    print(f"cluster={cluster} controller={controller} brokers={','.join(brokers)}")
    return 0


def create_topic(addr, name, partitions=3, timeout=10.0):
    # CreateTopics v2: [name, num_partitions, replication_factor, assignments[], configs[]],
    # timeout_ms, validate_only.
    body = struct.pack(">i", 1) + kstr(name) + struct.pack(">ihii", partitions, 1, 0, 0)
    body += struct.pack(">ib", int(timeout * 1000), 0)
    r = call(addr, 19, 2, body, timeout + 2)
    r.take(">i")  # throttle_time_ms
    rc = 0
    for _ in range(r.take(">i")):
        topic = r.string()
        err = r.take(">h")
        msg = r.string()
        if err == 36:  # TOPIC_ALREADY_EXISTS
            print(f"{topic}: already exists")
        elif err:
            print(f"kwire: {topic}: error {err}: {msg}", file=sys.stderr)
            rc = 1
        else:
            print(f"{topic}: created with {partitions} partitions")
    return rc


def main(argv):
    try:
        if len(argv) >= 2 and argv[0] == "probe":
            return probe(argv[1], *(float(a) for a in argv[2:3]))
        if len(argv) >= 3 and argv[0] == "create-topic":
            return create_topic(argv[1], argv[2], *(int(a) for a in argv[3:4]),
                                *(float(a) for a in argv[4:5]))
    except (OSError, EOFError, ValueError, struct.error, UnicodeDecodeError) as e:
        print(f"kwire: {argv[1]}: {e}", file=sys.stderr)
        return 1
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
