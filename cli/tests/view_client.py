"""An independent Foxglove WebSocket client for `axon view` (cli/tests/view.rs).

It speaks `foxglove.websocket.v1` with the Python `websockets` package (or,
for the client that never reads, a raw socket) and decodes CDR with
Foxglove's `mcap-ros2-support`, using only the schema text the server
advertised. Nothing here shares code with the server.

Modes (argv[1]):
  main URL        see the test topics, coordinate with the test over
                  stdin/stdout ("STEP name" lines out, one line in per step),
                  subscribe, decode, publish a Twist, try refused channels;
                  prints "RESULT <json>" at the end.
  watch URL TOPIC [pause]  print "CHANNELS <json>" (the topics advertised
                  once TOPIC is), with pause wait for a line on stdin, then
                  subscribe and print "MSG <header.stamp.nanosec>" per message.
  stuck URL TOPIC handshake and subscribe by hand, print "SUBSCRIBED", then
                  never read again.
  malformed URL KIND  send one malformed frame, print "CLOSED <json>" with
                  the close code and reason (KIND big: a JSON frame over 1 MiB).
  crowd URL N     open N raw connections without a handshake, print "HELD",
                  wait for a line; then report how one more connection and one
                  more WebSocket client fare: "CROWD <json>".
  scans URL N     decode N /scan messages in full, print "RESULT <json>"
                  (channels, schema, TLS version, frame ids, stamps, ranges).
  refused URL     a WebSocket handshake that must fail: print "REFUSED <why>"
                  (a ws:// client on a wss:// port, an untrusted certificate).
  garbage URL KIND  send bytes that are not a TLS handshake (KIND record: a
                  handshake record with a garbage body; noise: no TLS at all),
                  print "DROPPED <json>" once the server closed the socket.
For a wss:// URL the certificate is checked against the CA file named by
AXON_VIEW_CA (unset: the system's trust store only).
  tf URL          the demo robot: subscribe to /tf, /tf_static, /scan, /odom,
                  /obstacle and /camera/image, decode them, print
                  "RESULT <json>" with the frames and transforms seen.
Every wait has a deadline: a hang is a failure.
"""

import asyncio
import base64
import json
import os
import socket
import ssl
import struct
import sys
import time

from mcap_ros2._dynamic import generate_dynamic, serialize_dynamic
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

PROTO = "foxglove.websocket.v1"
WAIT = 30.0


def tls(url):
    """connect() arguments for a wss:// URL: trust AXON_VIEW_CA only."""
    if not url.startswith("wss://"):
        return {}
    ca = os.environ.get("AXON_VIEW_CA")
    ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    return {"ssl": ctx}


def say(*parts):
    print(*parts, flush=True)


class Session:
    def __init__(self, ws):
        self.ws = ws
        self.channels = {}  # id -> channel
        self.removed = []
        self.statuses = []
        self.messages = []  # (sub id, time, payload)
        self.server_info = None
        self.times = []  # server time frames (ns)
        self.graphs = []  # connectionGraphUpdate messages

    async def pump(self, until, what):
        deadline = time.monotonic() + WAIT
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"timed out waiting for {what}")
            try:
                frame = await asyncio.wait_for(self.ws.recv(), left)
            except asyncio.TimeoutError:
                continue
            self.take(frame)

    def take(self, frame):
        if isinstance(frame, str):
            m = json.loads(frame)
            op = m["op"]
            if op == "serverInfo":
                self.server_info = m
            elif op == "advertise":
                for c in m["channels"]:
                    self.channels[c["id"]] = c
            elif op == "unadvertise":
                for i in m["channelIds"]:
                    self.removed.append(i)
                    self.channels.pop(i, None)
            elif op == "status":
                self.statuses.append(m)
            elif op == "connectionGraphUpdate":
                self.graphs.append(m)
        elif frame[0] == 2:
            self.times.append(struct.unpack_from("<Q", frame, 1)[0])
        else:
            assert frame[0] == 1, f"unknown server opcode {frame[0]}"
            sub, t = struct.unpack_from("<IQ", frame, 1)
            self.messages.append((sub, t, bytes(frame[13:])))

    def channel(self, topic):
        for c in self.channels.values():
            if c["topic"] == topic:
                return c
        return None


def decoder(ch):
    assert ch["encoding"] == "cdr", ch
    assert ch["schemaEncoding"] == "ros2msg", ch
    return generate_dynamic(ch["schemaName"], ch["schema"])[ch["schemaName"]]


async def step(name):
    say("STEP", name)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line:
        raise SystemExit("the test went away")


async def main(url):
    result = {}
    async with connect(url, subprotocols=[PROTO], max_size=64 << 20, **tls(url)) as ws:
        assert ws.subprotocol == PROTO, ws.subprotocol
        s = Session(ws)
        want = ["/scan", "/camera/image", "/imu"]
        await s.pump(
            lambda: s.server_info and all(s.channel(t) for t in want), "advertisements"
        )
        result["capabilities"] = s.server_info["capabilities"]
        result["encodings"] = s.server_info["supportedEncodings"]
        result["schemas"] = {t: s.channel(t)["schemaName"] for t in want}
        imu_id = s.channel("/imu")["id"]
        # Server time: a few ticks, near this machine's clock.
        await s.pump(lambda: len(s.times) >= 3, "three time frames")
        result["time_skew_ms"] = abs(s.times[-1] - time.time_ns()) / 1e6
        result["time_increasing"] = s.times == sorted(s.times)
        # The connection graph: the whole graph at once.
        await ws.send(json.dumps({"op": "subscribeConnectionGraph"}))
        await s.pump(lambda: s.graphs, "the connection graph")
        result["graph"] = s.graphs[0]

        # The test now drops /imu and creates /late.
        await step("advertised")
        await s.pump(lambda: s.channel("/late") and imu_id in s.removed, "/late and /imu gone")
        result["late"] = s.channel("/late")["schemaName"]
        gone = lambda: any("/imu" in g["removedTopics"] for g in s.graphs)
        late = lambda: any(t["name"] == "/late" for g in s.graphs for t in g["publishedTopics"])
        await s.pump(lambda: gone() and late(), "a graph update: /imu gone, /late new")
        result["graph_updates"] = s.graphs[1:]

        scan, image = s.channel("/scan"), s.channel("/camera/image")
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": 10, "channelId": scan["id"]},
            {"id": 11, "channelId": image["id"]},
        ]}))
        count = lambda sub: sum(1 for m in s.messages if m[0] == sub)
        await s.pump(lambda: count(10) >= 3 and count(11) >= 3, "3 scans and 3 images")
        dec = {10: decoder(scan), 11: decoder(image)}
        scans, images = [], []
        now_ns = time.time_ns()
        for sub, t, payload in s.messages:
            m = dec[sub](payload)
            assert abs(now_ns - t) < 600e9, f"receive time {t} is not near now {now_ns}"
            if sub == 10:
                scans.append({
                    "frame_id": m.header.frame_id, "n": m.header.stamp.nanosec,
                    "angle_min": m.angle_min, "angle_max": m.angle_max,
                    "range_max": m.range_max, "ranges": list(m.ranges),
                })
            else:
                images.append({
                    "frame_id": m.header.frame_id, "n": m.header.stamp.nanosec,
                    "encoding": m.encoding, "height": m.height, "width": m.width,
                    "step": m.step, "data": list(bytes(m.data)),
                })
        result["scans"], result["images"] = scans, images

        # Unsubscribe: nothing more arrives for sub 11 after the server read it.
        await ws.send(json.dumps({"op": "unsubscribe", "subscriptionIds": [11]}))

        # Client publishing: a Twist to /cmd_vel (a Rust subscriber waits).
        twist_name = "geometry_msgs/msg/Twist"
        twist_text = "geometry_msgs/Vector3 linear\ngeometry_msgs/Vector3 angular\n" \
            "================================================================================\n" \
            "MSG: geometry_msgs/Vector3\nfloat64 x\nfloat64 y\nfloat64 z\n"
        enc = serialize_dynamic(twist_name, twist_text)[twist_name]
        await ws.send(json.dumps({"op": "advertise", "channels": [
            {"id": 1, "topic": "/cmd_vel", "encoding": "cdr", "schemaName": twist_name,
             "schema": twist_text, "schemaEncoding": "ros2msg"},
            {"id": 2, "topic": "/weird", "encoding": "cdr", "schemaName": "foo_msgs/msg/Bar",
             "schema": "int32 x\n"},
            {"id": 3, "topic": "/scan", "encoding": "cdr", "schemaName": twist_name,
             "schema": twist_text},
            {"id": 4, "topic": "/json", "encoding": "json", "schemaName": twist_name},
        ]}))
        payload = enc({"linear": {"x": 0.25, "y": -1.0, "z": 0.0},
                       "angular": {"x": 0.0, "y": 0.0, "z": -0.5}})
        for _ in range(5):
            await ws.send(b"\x01" + struct.pack("<I", 1) + payload)
        # A message that is not a Twist's CDR: refused with a status.
        await ws.send(b"\x01" + struct.pack("<I", 1) + b"\x00\x01\x00\x00\x01")
        await step("published")
        await s.pump(lambda: len(s.statuses) >= 4, "four refusals")
        result["statuses"] = [[m["level"], m["message"]] for m in s.statuses]
    say("RESULT", json.dumps(result))


async def watch(url, topic, pause):
    async with connect(url, subprotocols=[PROTO], max_size=64 << 20, **tls(url)) as ws:
        s = Session(ws)
        await s.pump(lambda: s.channel(topic), topic)
        say("CHANNELS", json.dumps(sorted(c["topic"] for c in s.channels.values())))
        if pause:
            await step("subscribe")
        ch = s.channel(topic)
        dec = decoder(ch)
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": 1, "channelId": ch["id"]}]}))
        while True:
            frame = await ws.recv()
            if isinstance(frame, str) or frame[0] != 1:
                continue
            m = dec(bytes(frame[13:]))
            say("MSG", m.header.stamp.nanosec)


async def scans(url, n):
    async with connect(url, subprotocols=[PROTO], max_size=64 << 20, **tls(url)) as ws:
        ssl_object = ws.transport.get_extra_info("ssl_object")
        s = Session(ws)
        await s.pump(lambda: s.server_info and s.channel("/scan"), "/scan advertised")
        ch = s.channel("/scan")
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": 5, "channelId": ch["id"]}]}))
        await s.pump(lambda: sum(1 for m in s.messages if m[0] == 5) >= n, f"{n} scans")
        dec = decoder(ch)
        out = {"channels": sorted(c["topic"] for c in s.channels.values()),
               "schema": ch["schemaName"],
               "tls": ssl_object.version() if ssl_object else None, "scans": []}
        for sub, _, payload in s.messages:
            if sub == 5:
                m = dec(payload)
                out["scans"].append({"frame_id": m.header.frame_id, "n": m.header.stamp.nanosec,
                                     "ranges": list(m.ranges)})
    say("RESULT", json.dumps(out))


async def refused(url):
    try:
        async with connect(url, subprotocols=[PROTO], open_timeout=WAIT, **tls(url)):
            pass
    except Exception as e:  # what a refused handshake raises varies: say it
        say("REFUSED", f"{type(e).__name__}: {e}")
        return
    raise SystemExit("the handshake succeeded")


def garbage(url, kind):
    host, port = url.split("://")[1].rstrip("/").split(":")
    sock = socket.create_connection((host, int(port)), timeout=WAIT)
    if kind == "record":
        # A TLS handshake record (type 22, version 3.1) whose body is no ClientHello.
        body = b"\x01\x00\x00\x0c" + b"\xff" * 12
        sock.sendall(b"\x16\x03\x01" + struct.pack(">H", len(body)) + body)
    else:
        sock.sendall(bytes(range(200, 256)) * 4)
    got = 0
    try:
        while True:
            b = sock.recv(4096)
            if not b:
                break
            got += len(b)
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise SystemExit("the server kept the connection open")
    say("DROPPED", json.dumps({"bytes": got}))


def raw_connect(url, rcvbuf=None):
    host, port = url.removeprefix("ws://").rstrip("/").split(":")
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(WAIT)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((
        f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {PROTO}\r\n\r\n"
    ).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = sock.recv(1)
        if not b:
            raise SystemExit("closed during the handshake")
        head += b
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        b = sock.recv(n - len(out))
        if not b:
            raise SystemExit("connection closed")
        out += b
    return out


def read_frame(sock):
    b0, b1 = recv_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(sock, 8))[0]
    return b0 & 0x0F, recv_exact(sock, n)


def send_frame(sock, opcode, data):
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def stuck(url, topic):
    sock = raw_connect(url, rcvbuf=4096)
    chan = None
    while chan is None:
        op, data = read_frame(sock)
        if op == 1:
            m = json.loads(data)
            if m["op"] == "advertise":
                for c in m["channels"]:
                    if c["topic"] == topic:
                        chan = c["id"]
    send_frame(sock, 1, json.dumps({"op": "subscribe", "subscriptions": [
        {"id": 1, "channelId": chan}]}).encode())
    say("SUBSCRIBED")
    # Never read again; the test kills this process.
    time.sleep(3600)


async def malformed(url, kind):
    frames = {
        "json": "{not json",
        "op": json.dumps({"op": "explode"}),
        "field": json.dumps({"op": "subscribe", "subscriptions": [{"id": "x"}]}),
        "opcode": b"\x7f\x00\x00\x00\x00",
        "short": b"\x01\x00",
        "unadvertised": b"\x01\x09\x00\x00\x00payload",
        # Valid JSON, a known op, over the 1 MiB limit for text frames.
        "big": json.dumps({"op": "unsubscribe", "subscriptionIds": [1] * 400000}),
    }
    async with connect(url, subprotocols=[PROTO], max_size=64 << 20, **tls(url)) as ws:
        await ws.send(frames[kind])
        deadline = time.monotonic() + WAIT
        try:
            while time.monotonic() < deadline:
                await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
        except ConnectionClosed as e:
            rcvd = e.rcvd
            say("CLOSED", json.dumps({"code": rcvd.code if rcvd else None,
                                      "reason": rcvd.reason if rcvd else None}))
            return
    raise SystemExit("the server did not close the connection")


def crowd(url, n):
    held = []
    for _ in range(n):
        host, port = url.removeprefix("ws://").rstrip("/").split(":")
        sock = socket.create_connection((host, int(port)), timeout=WAIT)
        held.append(sock)
    say("HELD")
    sys.stdin.readline()
    out = {}
    # One more TCP connection: closed at once, without a byte.
    sock = socket.create_connection((host, int(port)), timeout=WAIT)
    try:
        out["extra_read"] = len(sock.recv(100))
    except ConnectionResetError:
        out["extra_read"] = "reset"
    sock.close()
    # The held ones are still open (nothing read yet, no EOF).
    held[0].setblocking(False)
    try:
        out["held_read"] = len(held[0].recv(100))
    except BlockingIOError:
        out["held_read"] = "open"
    say("CROWD", json.dumps(out))
    for s in held:
        s.close()


async def tf(url):
    want = ["/tf", "/tf_static", "/scan", "/odom", "/obstacle", "/camera/image"]
    async with connect(url, subprotocols=[PROTO], max_size=64 << 20, **tls(url)) as ws:
        s = Session(ws)
        await s.pump(lambda: all(s.channel(t) for t in want), "the demo topics")
        chans = {i: s.channel(t) for i, t in enumerate(want)}
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": i, "channelId": c["id"]} for i, c in chans.items()]}))
        count = lambda sub: sum(1 for m in s.messages if m[0] == sub)
        await s.pump(lambda: all(count(i) >= (20 if i == 0 else 1) for i in chans),
                     "20 /tf and one of each other topic")
        dec = {i: decoder(c) for i, c in chans.items()}
        out = {"schemas": {c["topic"]: c["schemaName"] for c in chans.values()},
               "tf": [], "tf_static": [], "frames": {}, "odom": []}

        def transform(t):
            tr, r = t.transform.translation, t.transform.rotation
            return {"parent": t.header.frame_id, "child": t.child_frame_id,
                    "stamp": [t.header.stamp.sec, t.header.stamp.nanosec],
                    "t": [tr.x, tr.y, tr.z], "q": [r.x, r.y, r.z, r.w]}
        for sub, _, payload in s.messages:
            m = dec[sub](payload)
            topic = chans[sub]["topic"]
            if topic in ("/tf", "/tf_static"):
                out[topic[1:]].append([transform(t) for t in m.transforms])
            else:
                out["frames"].setdefault(topic, set()).add(m.header.frame_id)
            if topic == "/odom":
                p = m.pose.pose
                out["odom"].append({
                    "child": m.child_frame_id,
                    "stamp": [m.header.stamp.sec, m.header.stamp.nanosec],
                    "t": [p.position.x, p.position.y, p.position.z],
                    "q": [p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w]})
        out["frames"] = {k: sorted(v) for k, v in out["frames"].items()}
    say("RESULT", json.dumps(out))


if __name__ == "__main__":
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "main":
        asyncio.run(main(url))
    elif mode == "watch":
        asyncio.run(watch(url, sys.argv[3], sys.argv[4:] == ["pause"]))
    elif mode == "stuck":
        stuck(url, sys.argv[3])
    elif mode == "malformed":
        asyncio.run(malformed(url, sys.argv[3]))
    elif mode == "crowd":
        crowd(url, int(sys.argv[3]))
    elif mode == "scans":
        asyncio.run(scans(url, int(sys.argv[3])))
    elif mode == "refused":
        asyncio.run(refused(url))
    elif mode == "garbage":
        garbage(url, sys.argv[3])
    elif mode == "tf":
        asyncio.run(tf(url))
    else:
        raise SystemExit(f"unknown mode {mode}")
