"""Python <-> Rust, byte for byte, with real processes and shared memory."""

import glob
import os
import select
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import axon
from conftest import spawn

WATCHDOG = 20


def wait_ready(proc):
    line = proc.stdout.readline()
    assert line.strip() == "ready", (line, proc.stderr.read() if proc.poll() is not None else "")


def finish(proc):
    out, err = proc.communicate(timeout=WATCHDOG)
    assert proc.returncode == 0, err
    return out


def mapping_of(ptr):
    """The mapping holding address `ptr` in this process (/proc/self/maps):
    (inode, start, end). (Segments are created under a temporary name and
    linked into place, so maps may show the old name: compare inodes.)"""
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= ptr < hi:
                return int(parts[4]), lo, hi
    return None, 0, 0


def test_rust_image_8mib_arrives_as_numpy_view_into_the_segment(domain, peer, tmp_path):
    n = 8 << 20
    out = tmp_path / "sent.bin"
    node = axon.Node("viewer")
    sub = node.subscriber("/camera/image", axon.msgs.Image, max_len=n)
    rust = spawn(peer, "pub-image", "/camera/image", str(n), str(out))
    sample = sub.recv(timeout=WATCHDOG)
    data = sample.data
    assert isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.shape == (n,)
    assert not data.flags.writeable
    ptr = data.__array_interface__["data"][0]
    inode, lo, hi = mapping_of(ptr)
    segment = glob.glob(f"/dev/shm/axon.u{os.getuid()}.d{domain}.*camera*image*")
    assert len(segment) == 1, segment
    assert inode == os.stat(segment[0]).st_ino, "the view is not in the topic's segment"
    assert lo <= ptr and ptr + n <= hi, "the view lies inside the mapped segment"
    sent = out.read_bytes()
    assert sample.to_bytes() == sent
    assert data.tobytes() == sent[136:]
    assert (sample.width, sample.height, sample.step, sample.encoding, sample.header.seq) == (
        1024, n // 1024, 1024, "mono8", 42)
    del data
    sample.release()
    del sub
    finish(rust)


def test_python_image_reaches_rust_byte_identical(domain, peer, tmp_path):
    out = tmp_path / "got.bin"
    rust = spawn(peer, "sub-image", "/img", str(out))
    wait_ready(rust)
    node = axon.Node("camera")
    pub = node.publisher("/img", axon.msgs.Image, max_len=4096)
    pixels = (np.arange(4096) * 13 % 256).astype(np.uint8)
    deadline = time.monotonic() + WATCHDOG
    while pub.subscriber_count() == 0:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    # Our own subscriber sees exactly the bytes we sent.
    mine = node.subscriber("/img", axon.msgs.Image)
    pub.publish(width=64, height=64, step=64, encoding="mono8",
                header={"seq": 9, "frame_id": "cam"}, data=pixels)
    finish(rust)
    with mine.recv(timeout=WATCHDOG) as s:
        sent = s.to_bytes()
    got = out.read_bytes()
    assert got == sent
    assert got[136:] == pixels.tobytes()


def test_loan_writes_in_place_and_rust_reads_it(domain, peer, tmp_path):
    out = tmp_path / "got.bin"
    rust = spawn(peer, "sub-image", "/img", str(out))
    wait_ready(rust)
    node = axon.Node("camera")
    pub = node.publisher("/img", axon.msgs.Image, max_len=1 << 16)
    deadline = time.monotonic() + WATCHDOG
    while pub.subscriber_count() == 0:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    with pub.loan(256) as img:
        img.width, img.height, img.step = 16, 16, 16
        img.encoding = "mono8"
        img.data[:] = np.arange(256, dtype=np.uint8)
        expected = img.to_bytes()
    finish(rust)
    got = out.read_bytes()
    assert got == expected and got[136:] == bytes(range(256))


def test_view_after_release_raises(domain):
    node = axon.Node("t")
    pub = node.publisher("/scan", axon.msgs.LaserScan, max_len=100)
    sub = node.subscriber("/scan", axon.msgs.LaserScan)
    pub.publish(angle_min=-1.0, ranges=np.linspace(0, 1, 100, dtype=np.float32))
    s = sub.recv(timeout=WATCHDOG)
    ranges = s.ranges
    assert ranges.dtype == np.float32 and ranges[-1] == 1.0
    derived = ranges[10:20]
    del ranges
    # A view (even a derived one) keeps the slot: release is refused.
    with pytest.raises(BufferError, match="still alive"):
        s.release()
    assert derived[0] == np.float32(np.linspace(0, 1, 100, dtype=np.float32)[10])
    del derived
    s.release()
    with pytest.raises(RuntimeError, match="released"):
        s.ranges
    with pytest.raises(RuntimeError, match="released"):
        s.to_bytes()
    # Views cannot be made writable into a received sample.
    s2 = (pub.publish(ranges=np.zeros(3, np.float32)), sub.recv(timeout=WATCHDOG))[1]
    r = s2.ranges
    with pytest.raises(ValueError):
        r.setflags(write=True)
    with pytest.raises(ValueError):
        r[0] = 1.0
    del r
    s2.release()


def test_type_mismatch_with_rust_names_both_types(domain, peer, tmp_path):
    rust = spawn(peer, "pub-image", "/camera/image", "1024", str(tmp_path / "x"))
    node = axon.Node("t")
    deadline = time.monotonic() + WATCHDOG
    while True:
        try:
            node.subscriber("/camera/image", axon.msgs.Imu)
        except axon.AxonError as e:
            msg = str(e)
            if "axon-msgs/Image" in msg:
                break
        assert time.monotonic() < deadline, "the Rust topic never appeared"
        time.sleep(0.01)
    assert "axon-msgs/Imu" in msg and "axon-msgs/Image" in msg, msg
    rust.terminate()
    assert rust.wait(timeout=WATCHDOG) == 0


def test_any_topic_reads_through_its_description(domain, peer, tmp_path):
    rust = spawn(peer, "pub-wheel", "/wheel", str(tmp_path / "w.bin"))
    node = axon.Node("t")
    deadline = time.monotonic() + WATCHDOG
    while True:
        try:
            sub = node.subscriber("/wheel")
            break
        except axon.AxonError:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    with sub.recv(timeout=WATCHDOG) as w:
        assert (w.left, w.right, w.id, w.flags) == (0.5, -1.25, 7, [1, 65535])
        assert w.to_bytes() == (tmp_path / "w.bin").read_bytes()
    del sub
    finish(rust)


WHEEL = np.dtype([("left", "<f8"), ("right", "<f8"), ("id", "<u4"), ("flags", "<u2", (2,))], align=True)


def test_custom_type_matches_rust_fingerprint_both_ways(domain, peer, tmp_path):
    wheel = axon.message_type("axon-python/Wheel", WHEEL)
    # Rust -> Python, declared type (the fingerprint must match to open).
    rust = spawn(peer, "pub-wheel", "/wheel", str(tmp_path / "w.bin"))
    node = axon.Node("t")
    sub = node.subscriber("/wheel", wheel)
    with sub.recv(timeout=WATCHDOG) as w:
        assert w.to_bytes() == (tmp_path / "w.bin").read_bytes()
        assert w.fields["right"] == -1.25
    del sub
    finish(rust)
    # Python -> Rust.
    rust = spawn(peer, "sub-wheel", "/wheel2", str(tmp_path / "r.bin"))
    wait_ready(rust)
    pub = node.publisher("/wheel2", wheel)
    deadline = time.monotonic() + WATCHDOG
    while pub.subscriber_count() == 0:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    rec = np.zeros((), WHEEL)
    rec["left"], rec["right"], rec["id"], rec["flags"] = 2.5, 3.5, 11, (4, 5)
    pub.publish_bytes(rec.tobytes())
    finish(rust)
    assert (tmp_path / "r.bin").read_bytes() == rec.tobytes()


def test_custom_type_with_other_layout_is_refused_naming_both(domain, peer, tmp_path):
    other = np.dtype([("left", "<f8"), ("right", "<f8"), ("id", "<u8")], align=True)
    rust = spawn(peer, "sub-wheel", "/wheel", str(tmp_path / "r.bin"))
    wait_ready(rust)
    node = axon.Node("t")
    with pytest.raises(axon.AxonError) as e:
        node.publisher("/wheel", axon.message_type("axon-python/Wheel", other))
    assert "fingerprint" in str(e.value) or "axon-python/Wheel" in str(e.value), str(e.value)
    rust.terminate()
    assert rust.wait(timeout=WATCHDOG) == 0


CHILD = textwrap.dedent("""
    import signal, sys, time, axon
    # Python raises KeyboardInterrupt only if SIGINT was not ignored when it
    # started; a test run started in the background (nohup, `&` in a script)
    # inherits it ignored. The test is of recv, not of that inheritance.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    node = axon.Node("blocked")
    sub = node.subscriber("/never", axon.msgs.Imu)
    print("ready", flush=True)
    try:
        sub.recv()
    except KeyboardInterrupt:
        print(time.clock_gettime_ns(time.CLOCK_MONOTONIC), flush=True)
        sys.exit(0)
    sys.exit(5)
""")


def test_ctrl_c_interrupts_a_blocking_recv_within_100ms(domain):
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([child.stdout], [], [], WATCHDOG)
        assert ready, "watchdog: the child never said ready"
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.2)  # well inside recv
        sent = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        child.send_signal(signal.SIGINT)
        # communicate's timeout is the watchdog: a recv that ignores the
        # signal fails the test instead of hanging it.
        out, err = child.communicate(timeout=WATCHDOG)
        assert child.returncode == 0, err
        caught = int(out.strip())
    finally:
        child.kill()
    assert caught - sent < 100_000_000, f"KeyboardInterrupt after {(caught - sent) / 1e6:.1f} ms"
