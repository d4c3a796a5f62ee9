"""The independent side of axon-ros2's tests (tests/python.rs runs it).

Reads a JSON list of cases written by the Rust test; for each case
(a ROS 2 type name, axon's ros2msg schema text, axon's CDR bytes, axon's
RIHS01 hash, and the values the sample holds, in ROS shape) it uses two
independent implementations. Foxglove's `mcap-ros2-support` (what MCAP
readers use) parses the schema text, decodes axon's CDR to the values, and
encodes the values to the same bytes. The `rosbags` package is used to:

1. parse axon's schema text (and, for a standard type, require that every
   definition in it equals the ROS 2 definition rosbags ships);
2. decode axon's CDR and compare the result with the values, field for field;
3. encode the values itself and compare with axon's CDR bytes;
4. compute the RIHS01 hash from axon's schema text and compare it.

Writes, per case, the list of failures and rosbags' own CDR (hex), which the
Rust test decodes with axon. Exit status 0 whenever it ran to the end; the
Rust side judges the failures.
"""

import json
import sys

import numpy as np
from mcap_ros2._dynamic import generate_dynamic, serialize_dynamic
from rosbags.typesys import Stores, get_typestore, get_types_from_msg
from rosbags.typesys.base import Nodetype

DTYPES = {
    'bool': np.bool_, 'int8': np.int8, 'uint8': np.uint8, 'int16': np.int16,
    'uint16': np.uint16, 'int32': np.int32, 'uint32': np.uint32,
    'int64': np.int64, 'uint64': np.uint64, 'float32': np.float32,
    'float64': np.float64,
}


def plain(ts, typ, value):
    """A decoded rosbags message as plain Python values."""
    out = {}
    for name, desc in ts.fielddefs[typ][1]:
        out[name] = plain_value(ts, desc, getattr(value, name))
    return out


def plain_value(ts, desc, value):
    kind, rest = desc
    if kind == Nodetype.NAME:
        return plain(ts, rest, value)
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        elem = rest[0]
        if isinstance(value, np.ndarray):
            return value.tolist()
        return [plain_value(ts, elem, v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def build(ts, typ, values):
    """A rosbags message of type `typ` from plain values."""
    args = {}
    for name, desc in ts.fielddefs[typ][1]:
        args[name] = build_value(ts, desc, values[name])
    return ts.types[typ](**args)


def build_value(ts, desc, value):
    kind, rest = desc
    if kind == Nodetype.NAME:
        return build(ts, rest, value)
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        ekind, erest = rest[0]
        if ekind == Nodetype.BASE and erest[0] in DTYPES:
            return np.array(value, dtype=DTYPES[erest[0]])
        return [build_value(ts, rest[0], v) for v in value]
    return value


def plain_mcap(ts, typ, value):
    """A message decoded by mcap-ros2-support as plain Python values."""
    out = {}
    for name, desc in ts.fielddefs[typ][1]:
        out[name] = plain_mcap_value(ts, desc, getattr(value, name))
    return out


def plain_mcap_value(ts, desc, value):
    kind, rest = desc
    if kind == Nodetype.NAME:
        return plain_mcap(ts, rest, value)
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        if isinstance(value, (bytes, bytearray)):
            return list(value)
        return [plain_mcap_value(ts, rest[0], v) for v in value]
    return value


def mcap_check(case, ts, cdr, fails):
    name = case['type']
    try:
        msg = generate_dynamic(name, case['msg_text'])[name](cdr)
        diff('mcap ' + name, plain_mcap(ts, name, msg), case['values'], fails)
    except Exception as e:  # noqa: BLE001 - reported to the Rust test
        fails.append(f'mcap-ros2-support cannot decode axon CDR: {e!r}')
    try:
        own = bytes(serialize_dynamic(name, case['msg_text'])[name](case['values']))
        if own != cdr:
            fails.append(f'mcap-ros2-support encodes {own.hex()}, axon {cdr.hex()}')
    except Exception as e:  # noqa: BLE001
        fails.append(f'mcap-ros2-support cannot encode the values: {e!r}')


def diff(path, got, want, out):
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            out.append(f'{path}: fields {sorted(got) if isinstance(got, dict) else got!r}, expected {sorted(want)}')
            return
        for k in want:
            diff(f'{path}.{k}', got[k], want[k], out)
    elif isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            out.append(f'{path}: {got!r}, expected {want!r}')
            return
        for i, (g, w) in enumerate(zip(got, want)):
            diff(f'{path}[{i}]', g, w, out)
    elif type(want) is bool or type(got) is bool:
        if got is not want:
            out.append(f'{path}: {got!r}, expected {want!r}')
    elif got != want:
        out.append(f'{path}: {got!r}, expected {want!r}')


def check(case, ros):
    fails = []
    name = case['type']
    ts = get_typestore(Stores.EMPTY)
    try:
        types = get_types_from_msg(case['msg_text'], name)
        ts.register(types)
    except Exception as e:  # noqa: BLE001 - reported to the Rust test
        return [f'rosbags cannot parse the schema text: {e}'], ''
    if case['standard']:
        for t, (_, fields) in types.items():
            if t not in ros.fielddefs:
                fails.append(f'{t}: not a ROS 2 type rosbags knows')
            elif fields != ros.fielddefs[t][1]:
                fails.append(f'{t}: {fields} differs from the ROS 2 definition {ros.fielddefs[t][1]}')
    cdr = bytes.fromhex(case['cdr'])
    try:
        msg = ts.deserialize_cdr(cdr, name)
        diff(name, plain(ts, name, msg), case['values'], fails)
    except Exception as e:  # noqa: BLE001
        fails.append(f'rosbags cannot decode axon CDR: {e!r}')
    mcap_check(case, ts, cdr, fails)
    own = b''
    try:
        own = bytes(ts.serialize_cdr(build(ts, name, case['values']), name))
        if own != cdr:
            fails.append(f'rosbags encodes {own.hex()}, axon {cdr.hex()}')
    except Exception as e:  # noqa: BLE001
        fails.append(f'rosbags cannot encode the values: {e!r}')
    try:
        h = ts.hash_rihs01(name)
        if h != case['hash']:
            fails.append(f'rosbags hashes {h}, axon {case["hash"]}')
    except Exception as e:  # noqa: BLE001
        fails.append(f'rosbags cannot hash: {e!r}')
    return fails, own.hex()


def main():
    cases = json.load(open(sys.argv[1]))
    ros = get_typestore(Stores.ROS2_JAZZY)
    results = []
    for case in cases:
        fails, own = check(case, ros)
        results.append({'type': case['type'], 'failures': fails, 'cdr': own})
    json.dump(results, open(sys.argv[2], 'w'))


main()
