"""The Python API itself: structured slices, ctypes types, asyncio,
iteration, QoS keywords, bounds, in one process (real shared memory)."""

import asyncio
import ctypes

import numpy as np
import pytest

import axon


def test_point_cloud_points_are_a_structured_view(domain):
    node = axon.Node("t")
    pub = node.publisher("/cloud", axon.msgs.PointCloud, max_len=1000)
    sub = node.subscriber("/cloud", axon.msgs.PointCloud)
    with pub.loan(3) as cloud:
        pts = cloud.points
        pts["x"] = [1.0, 2.0, 3.0]
        pts["intensity"] = [0.5, 0.25, 0.125]
        del pts
    with sub.recv(timeout=20) as got:
        pts = got.points
        assert pts.shape == (3,) and list(pts["x"]) == [1.0, 2.0, 3.0]
        assert list(pts["intensity"]) == [0.5, 0.25, 0.125]
        del pts


def test_loan_send_refused_while_a_view_is_alive(domain):
    node = axon.Node("t")
    pub = node.publisher("/img", axon.msgs.Image, max_len=64)
    loan = pub.loan(64)
    data = loan.data
    data[:] = 1
    with pytest.raises(BufferError, match="sending"):
        loan.send()
    del data
    assert loan.send() == 1


class WheelC(ctypes.Structure):
    _fields_ = [("left", ctypes.c_double), ("right", ctypes.c_double),
                ("id", ctypes.c_uint32), ("flags", ctypes.c_uint16 * 2)]


def test_ctypes_structure_gives_the_same_type_as_numpy(domain):
    a = axon.message_type("axon-python/Wheel", WheelC)
    b = axon.message_type("axon-python/Wheel", np.dtype(
        [("left", "<f8"), ("right", "<f8"), ("id", "<u4"), ("flags", "<u2", (2,))], align=True))
    assert a == b and a.fingerprint == b.fingerprint and a.size == 24


def test_iteration_and_asyncio(domain):
    node = axon.Node("t")
    sub = node.subscriber("/imu", axon.msgs.Imu, history=16)
    pub = node.publisher("/imu", axon.msgs.Imu)
    for i in range(3):
        pub.publish(header={"seq": i})
    seen = []
    for s in sub:
        seen.append(s.header.seq)
        s.release()
        if len(seen) == 3:
            break
    assert seen == [0, 1, 2]

    async def main():
        task = asyncio.ensure_future(sub.recv_async())
        await asyncio.sleep(0.05)
        assert not task.done()
        pub.publish(header={"seq": 7})
        s = await asyncio.wait_for(task, 20)
        seq = s.header.seq
        s.release()
        return seq

    assert asyncio.run(main()) == 7


def test_bad_input_is_one_clear_error(domain):
    node = axon.Node("t")
    with pytest.raises(TypeError, match="unknown QoS keyword"):
        node.publisher("/x", axon.msgs.Imu, depth=3)
    with pytest.raises(TypeError, match="unknown QoS keyword.*reliable"):
        node.publisher("/x", axon.msgs.Imu, reliable=True)  # a subscriber's keyword
    pub = node.publisher("/x", axon.msgs.Imu)
    with pytest.raises(axon.AxonError, match="unknown field `bogus`"):
        pub.publish(bogus=1)
    with pytest.raises(ValueError, match="not a whole"):
        pub.publish_bytes(b"123")
    sub = node.subscriber("/x", axon.msgs.Imu, max_held=2)
    for _ in range(3):
        pub.publish()
    a, b = sub.recv(timeout=20), sub.recv(timeout=20)
    with pytest.raises(axon.AxonError, match="holds 2 samples"):
        sub.recv(timeout=20)
    with pytest.raises(TimeoutError):
        node.subscriber("/y", axon.msgs.Imu).recv(timeout=0.02)
    with pytest.raises(axon.AxonError, match="invalid topic|topic"):
        node.publisher("bad name!", axon.msgs.Imu)
    del a, b


def test_with_block_end_defers_release_until_views_are_gone(domain):
    node = axon.Node("t")
    sub = node.subscriber("/x", axon.msgs.Image, max_held=1)
    pub = node.publisher("/x", axon.msgs.Image, max_len=16, max_held=1)
    pub.publish(data=np.full(16, 5, np.uint8))
    pub.publish(data=np.full(16, 6, np.uint8))
    with sub.recv(timeout=20) as s:
        kept = s.data
    # The slot is still held (max_held=1): the next receive is refused...
    with pytest.raises(axon.AxonError, match="holds 1 samples"):
        sub.recv(timeout=20)
    assert kept.sum() == 16 * 5
    del kept
    # ...until the last view is gone.
    with sub.recv(timeout=20) as s2:
        assert s2.data.sum() == 16 * 6


def test_loan_field_reads_follow_writes_and_an_error_in_its_block_is_not_hidden(domain):
    node = axon.Node("t")
    pub = node.publisher("/img", axon.msgs.Image, max_len=16)
    sub = node.subscriber("/img", axon.msgs.Image)
    with pub.loan(4) as m:
        m.encoding = "mono8"
        assert m.encoding == "mono8"
        m.encoding = "bgr8"  # a decoded copy of the fields must not go stale
        assert m.encoding == "bgr8"
        m.width = 4
        assert m.width == 4
    with sub.recv(timeout=20) as s:
        assert (s.encoding, s.width) == ("bgr8", 4)
    # An exception in a loan's block propagates even while a view of the
    # loan is alive (the discard waits for the view instead of raising
    # BufferError over it), and the slot comes back once the view is gone.
    with pytest.raises(KeyError, match="mine"):
        with pub.loan(4) as m:
            pixels = m.data
            raise KeyError("mine")
    del pixels
    assert sub.try_recv() is None
    pub.publish(width=7)
    with sub.recv(timeout=20) as s:
        assert s.width == 7
