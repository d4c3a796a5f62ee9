"""An independent rmw_zenoh-style peer (eclipse-zenoh, rosbags, mcap-ros2-support,
xxhash) for the gateway's ROS 2 mode. Nothing here comes from axon: the
key, the type hash and the schema text are rosbags' (its ROS 2 Jazzy type
store), the CDR decoder is mcap-ros2-support's, the encoder rosbags', the
attachment layout and the tokens are rmw_zenoh's docs/design.md.

Usage:
  ros2_peer.py sub ENDPOINT DOMAIN TOPIC
      subscribes to the rmw_zenoh key of TOPIC (a geometry_msgs/msg/Twist),
      decodes one sample and its attachment, lists the liveliness tokens
      of the domain and prints one JSON object.
  ros2_peer.py pub ENDPOINT DOMAIN TOPIC BAD_TOPIC
      puts a CDR Twist (linear 1.5 -2.0 0.25, angular 0 0 0.75) with an
      rmw_zenoh attachment on TOPIC's key every 20 ms, and the same bytes on
      BAD_TOPIC under a wrong type hash, until stdin closes (at most 60 s).
  ros2_peer.py flood ENDPOINT DOMAIN TOPIC N
      a publisher with congestion control BLOCK (what rmw_zenoh gives a
      RELIABLE + KEEP_ALL publisher) puts marker Twists (linear.x = -1)
      every 20 ms until a line arrives on stdin, then N Twists with
      linear.x = 0, 1, ..., N-1 as fast as it can, prints "flooded", and
      keeps the session open until stdin closes (at most 60 s).
"""

import json
import select
import struct
import sys
import time

import xxhash
import zenoh
from mcap_ros2._dynamic import generate_dynamic
from rosbags.typesys import Stores, get_typestore

TYPE = "geometry_msgs/msg/Twist"
DDS = "geometry_msgs::msg::dds_::Twist_"


def session(endpoint):
    conf = zenoh.Config()
    conf.insert_json5("mode", '"peer"')
    conf.insert_json5("connect/endpoints", json.dumps([endpoint]))
    conf.insert_json5("scouting/multicast/enabled", "false")
    return zenoh.open(conf)


def gid_of(token):
    # rmw_zenoh: XXH3-128 of the token, low 64 bits then high, little-endian.
    return xxhash.xxh3_128_intdigest(token.encode()).to_bytes(16, "little")


def sub(endpoint, domain, topic):
    store = get_typestore(Stores.ROS2_JAZZY)
    type_hash = store.hash_rihs01(TYPE)
    key = f"{domain}/{topic.lstrip('/')}/{DDS}/{type_hash}"
    schema, _ = store.generate_msgdef(TYPE, ros_version=2)
    decode = generate_dynamic(TYPE, schema)[TYPE]
    with session(endpoint) as s:
        z = s.declare_subscriber(key)
        deadline = time.monotonic() + 30
        sample = None
        while sample is None and time.monotonic() < deadline:
            sample = z.try_recv()
            if sample is None:
                time.sleep(0.01)
        if sample is None:
            sys.exit("no sample on " + key)
        payload = sample.payload.to_bytes()
        att = sample.attachment.to_bytes()
        seq, stamp, gid_len = struct.unpack_from("<qqB", att, 0)
        gid = att[17:]
        msg = decode(payload)
        tokens = [
            str(r.ok.key_expr)
            for r in s.liveliness().get(f"@ros2_lv/{domain}/**", timeout=5.0)
            if r.ok is not None
        ]
        pubs = [t for t in tokens if f"/MP/%/%/" in t and t.split("/")[9] == "%" + topic.lstrip("/").replace("/", "%")]
        print(
            json.dumps(
                {
                    "key": str(sample.key_expr),
                    "expected_key": key,
                    "payload_header": payload[:4].hex(),
                    "linear": [msg.linear.x, msg.linear.y, msg.linear.z],
                    "angular": [msg.angular.x, msg.angular.y, msg.angular.z],
                    "att_len": len(att),
                    "seq": seq,
                    "stamp_ns": stamp,
                    "now_ns": time.time_ns(),
                    "gid_len": gid_len,
                    "gid": gid.hex(),
                    "tokens": tokens,
                    "publisher_tokens": pubs,
                    "gid_of_publisher_token": [gid_of(t).hex() for t in pubs],
                }
            )
        )


def pub(endpoint, domain, topic, bad_topic):
    store = get_typestore(Stores.ROS2_JAZZY)
    type_hash = store.hash_rihs01(TYPE)
    Twist = store.types[TYPE]
    Vector3 = store.types["geometry_msgs/msg/Vector3"]
    msg = Twist(linear=Vector3(x=1.5, y=-2.0, z=0.25), angular=Vector3(x=0.0, y=0.0, z=0.75))
    cdr = bytes(store.serialize_cdr(msg, TYPE))
    key = f"{domain}/{topic.lstrip('/')}/{DDS}/{type_hash}"
    bad_key = f"{domain}/{bad_topic.lstrip('/')}/{DDS}/RIHS01_{'0' * 64}"
    token = (
        f"@ros2_lv/{domain}/0123456789abcdef0123456789abcdef/0/1/MP/%/%/py_talker/"
        f"%{topic.lstrip('/').replace('/', '%')}/{DDS}/{type_hash}/::,:,:,:,,"
    )
    gid = gid_of(token)
    with session(endpoint) as s:
        live = s.liveliness().declare_token(token)
        p = s.declare_publisher(key)
        bad = s.declare_publisher(bad_key)
        print("publishing", key, flush=True)
        seq = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seq += 1
            att = struct.pack("<qqB", seq, time.time_ns(), 16) + gid
            p.put(cdr, attachment=att)
            bad.put(cdr, attachment=att)
            ready, _, _ = select.select([sys.stdin], [], [], 0.02)
            if ready and not sys.stdin.read(1):
                break
        live.undeclare()


def flood(endpoint, domain, topic, n):
    store = get_typestore(Stores.ROS2_JAZZY)
    type_hash = store.hash_rihs01(TYPE)
    Twist = store.types[TYPE]
    Vector3 = store.types["geometry_msgs/msg/Vector3"]

    def cdr(x):
        msg = Twist(linear=Vector3(x=x, y=0.0, z=0.0), angular=Vector3(x=0.0, y=0.0, z=0.0))
        return bytes(store.serialize_cdr(msg, TYPE))

    key = f"{domain}/{topic.lstrip('/')}/{DDS}/{type_hash}"
    token = (
        f"@ros2_lv/{domain}/0123456789abcdef0123456789abcdef/0/1/MP/%/%/py_flood/"
        f"%{topic.lstrip('/').replace('/', '%')}/{DDS}/{type_hash}/::,:,:,:,,"
    )
    gid = gid_of(token)
    deadline = time.monotonic() + 60
    with session(endpoint) as s:
        live = s.liveliness().declare_token(token)
        p = s.declare_publisher(key, congestion_control=zenoh.CongestionControl.BLOCK)
        seq = 0

        def put(x):
            nonlocal seq
            seq += 1
            p.put(cdr(x), attachment=struct.pack("<qqB", seq, time.time_ns(), 16) + gid)

        while time.monotonic() < deadline:
            put(-1.0)
            ready, _, _ = select.select([sys.stdin], [], [], 0.02)
            if ready:
                sys.stdin.readline()
                break
        for i in range(n):
            put(float(i))
        print("flooded", flush=True)
        while time.monotonic() < deadline:
            ready, _, _ = select.select([sys.stdin], [], [], 0.1)
            if ready and not sys.stdin.read(1):
                break
        live.undeclare()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "sub":
        sub(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif mode == "pub":
        pub(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif mode == "flood":
        flood(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    else:
        sys.exit("mode: sub, pub or flood")
