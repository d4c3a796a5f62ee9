"""An independent Zenoh peer (eclipse-zenoh) reading an axon gateway's topic.

Usage: zenoh_peer.py ENDPOINT KEY TYPE_KEY [ROOT_CA]

Connects to ENDPOINT (with ROOT_CA, a PEM file, as Zenoh's TLS
root_ca_certificate if given), subscribes to KEY, decodes one sample's attachment
with the layout documented in ARCHITECTURE.md ("Zenoh gateway"), asks
TYPE_KEY for the topic's announcement, and prints one JSON object.
"""

import json
import struct
import sys
import time

import zenoh


def main():
    endpoint, key, type_key = sys.argv[1:4]
    conf = zenoh.Config()
    conf.insert_json5("mode", '"peer"')
    conf.insert_json5("connect/endpoints", json.dumps([endpoint]))
    conf.insert_json5("scouting/multicast/enabled", "false")
    if len(sys.argv) > 4:
        conf.insert_json5("transport/link/tls/root_ca_certificate", json.dumps(sys.argv[4]))
    with zenoh.open(conf) as session:
        sub = session.declare_subscriber(key)
        deadline = time.monotonic() + 30
        sample = None
        while sample is None and time.monotonic() < deadline:
            sample = sub.try_recv()
            if sample is None:
                time.sleep(0.01)
        if sample is None:
            sys.exit("no sample on " + key)
        payload = sample.payload.to_bytes()
        att = sample.attachment.to_bytes()
        magic = att[0:4]
        seq, stamp, fingerprint, length, name_len, reserved = struct.unpack_from(
            "<QQQQHH", att, 4
        )
        type_name = att[40 : 40 + name_len].decode()
        assert len(att) == 40 + name_len, len(att)
        announce = None
        for reply in session.get(type_key, timeout=10.0):
            if reply.ok is not None:
                body = reply.ok.payload.to_bytes()
                # ANNOUNCE body: id u32, flags u8, 3 pad, fingerprint u64,
                # fixed u64, elem u64, max_elems u64, max_size u64, depth u32,
                # name_len u16, type_len u16, name, type, ...
                (fp,) = struct.unpack_from("<Q", body, 8)
                name_len2, type_len = struct.unpack_from("<HH", body, 52)
                topic = body[56 : 56 + name_len2].decode()
                ty = body[56 + name_len2 : 56 + name_len2 + type_len].decode()
                announce = {"topic": topic, "type": ty, "fingerprint": fp}
        print(
            json.dumps(
                {
                    "key": str(sample.key_expr),
                    "magic": magic.decode(),
                    "seq": seq,
                    "stamp_ns": stamp,
                    "fingerprint": fingerprint,
                    "len": length,
                    "reserved": reserved,
                    "type_name": type_name,
                    "payload": payload.hex(),
                    "announce": announce,
                }
            )
        )


main()
