"""An independent reader of an `axon bag record` file (cli/tests/bag.rs).

Opens the MCAP file with the Python `mcap` package (checking its summary)
and decodes every message with Foxglove's `mcap-ros2-support`, using only
the schema text the file carries. Writes, per topic, the schema name, the
message encoding and every decoded message as JSON to argv[2] (a channel
of encoding `axon-raw` has no schema: its messages are given as their
length); exits non-zero on any `cdr` message it cannot decode.
"""

import json
import sys

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory


def plain(v):
    if isinstance(v, (bytes, bytearray)):
        return list(v)
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if hasattr(v, "__slots__"):
        return {k: plain(getattr(v, k)) for k in v.__slots__}
    if hasattr(v, "__dict__"):
        return {k: plain(x) for k, x in vars(v).items() if not k.startswith("_")}
    if hasattr(v, "tolist"):
        return v.tolist()
    return v


def main():
    path, out = sys.argv[1], sys.argv[2]
    topics = {}
    with open(path, "rb") as f:
        reader = make_reader(f)
        factory = DecoderFactory()
        decoders = {}
        header = reader.get_header()
        summary = reader.get_summary()
        assert header.profile == "ros2", header.profile
        count = 0
        for schema, channel, message in reader.iter_messages(log_time_order=False):
            if channel.message_encoding == "cdr":
                if channel.id not in decoders:
                    decoders[channel.id] = factory.decoder_for("cdr", schema)
                value = plain(decoders[channel.id](message.data))
            else:
                assert channel.message_encoding == "axon-raw", channel.message_encoding
                assert schema is None or schema.encoding == "", schema
                value = {"raw_len": len(message.data)}
            t = topics.setdefault(
                channel.topic,
                {
                    "schema": schema.name if schema else "",
                    "schema_encoding": schema.encoding if schema else "",
                    "encoding": channel.message_encoding,
                    "messages": [],
                },
            )
            t["messages"].append(
                {"log_time": message.log_time, "publish_time": message.publish_time, "value": value}
            )
            count += 1
        assert summary.statistics.message_count == count, (summary.statistics.message_count, count)
    with open(out, "w") as f:
        json.dump(topics, f)


main()
