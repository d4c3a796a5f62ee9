"""An independent reader of an `axon bag record` file (cli/tests/bag.rs).

Opens the MCAP file with the Python `mcap` package (checking its summary)
and decodes every message with Foxglove's `mcap-ros2-support`, using only
the schema text the file carries. Writes, per topic, the schema name, the
message encoding and every decoded message as JSON to argv[2]; exits
non-zero on any message it cannot decode.
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
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        header = reader.get_header()
        summary = reader.get_summary()
        assert header.profile == "ros2", header.profile
        count = 0
        for schema, channel, message, decoded in reader.iter_decoded_messages(log_time_order=False):
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
                {"log_time": message.log_time, "publish_time": message.publish_time, "value": plain(decoded)}
            )
            count += 1
        assert summary.statistics.message_count == count, (summary.statistics.message_count, count)
    with open(out, "w") as f:
        json.dump(topics, f)


main()
