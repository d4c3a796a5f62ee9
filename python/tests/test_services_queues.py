"""Services and work queues between Python and Rust processes (issue 20's
"services and work queues from Python"): real processes, real shared
memory; the Rust side is python/examples/py_peer.rs."""

import glob
import os
import subprocess

import numpy as np
import pytest

import axon
from conftest import spawn

WATCHDOG = 20

ADD_REQ = axon.message_type("axon-python/AddRequest", np.dtype([("a", "<i8"), ("b", "<i8")], align=True))
ADD_RESP = axon.message_type("axon-python/AddResponse", np.dtype([("sum", "<i8")], align=True))
JOB_DTYPE = np.dtype([("id", "<u8"), ("value", "<f8")], align=True)
JOB = axon.message_type("axon-python/Job", JOB_DTYPE)


@pytest.fixture
def queues(domain):
    """Queue files outlive their participants (a queue keeps its jobs):
    remove this test's."""
    yield domain
    for f in glob.glob(f"/dev/shm/axonq.u{os.getuid()}.d{domain}.*"):
        os.unlink(f)


def ready(proc):
    line = proc.stdout.readline()
    assert line.strip() == "ready", (line, proc.stderr.read() if proc.poll() is not None else "")


def finish(proc):
    # Read through the same buffered reader `ready` used (communicate()
    # would read the pipe itself and miss lines already buffered); the
    # peer's own 20 s watchdog bounds the read.
    out = proc.stdout.read()
    err = proc.stderr.read()
    assert proc.wait(timeout=WATCHDOG) == 0, err
    return out


def test_python_client_calls_rust_server(domain, peer):
    rust = spawn(peer, "serve-add", "/add", "3")
    ready(rust)
    node = axon.Node("caller")
    client = node.client("/add", ADD_REQ, ADD_RESP)
    for a, b in [(2, 3), (-7, 100), (1 << 40, 5)]:
        resp = client.call({"a": a, "b": b}, timeout=WATCHDOG)
        assert resp.sum == a + b
    finish(rust)
    # The server is gone: a new call fails at once, naming the reason.
    with pytest.raises(axon.NoServer, match="/add"):
        client.call(a=1, b=2, timeout=WATCHDOG)


def test_rust_client_calls_python_server(domain, peer):
    node = axon.Node("adder")
    server = node.service("/add", ADD_REQ, ADD_RESP)
    rust = spawn(peer, "call-add", "/add", "40", "2")
    req = server.recv_request(timeout=WATCHDOG)
    assert (req.a, req.b) == (40, 2)
    req.reply(sum=req.a + req.b)
    assert finish(rust).strip() == "42"


def test_python_server_timeout_and_python_client_timeout(domain):
    node = axon.Node("both")
    server = node.service("/slow", ADD_REQ, ADD_RESP)
    with pytest.raises(TimeoutError):
        server.recv_request(timeout=0.05)
    client = node.client("/slow", ADD_REQ, ADD_RESP)
    with pytest.raises(TimeoutError):
        client.call(a=1, b=1, timeout=0.05)  # nobody serves it in this thread
    # The withdrawn call's request is never delivered half-answered: a
    # new one is served.
    req = server.try_recv_request()
    if req is not None:
        req.decline()


def test_service_type_mismatch_names_both(domain, peer):
    rust = spawn(peer, "serve-add", "/add", "1")
    ready(rust)
    node = axon.Node("wrong")
    other = axon.message_type("axon-python/AddRequest", np.dtype([("a", "<i4"), ("b", "<i4")], align=True))
    with pytest.raises(axon.AxonError) as e:
        node.client("/add", other, ADD_RESP)
    assert "AddRequest" in str(e.value) and ("fingerprint" in str(e.value) or "size" in str(e.value)), str(e.value)
    rust.terminate()
    rust.communicate(timeout=WATCHDOG)


def test_python_producer_feeds_rust_worker(queues, peer):
    node = axon.Node("producer")
    prod = node.queue_producer("/jobs", JOB)
    for i in range(5):
        prod.send(id=i, value=i * 0.25)
    rust = spawn(peer, "work", "/jobs", "5")
    ready(rust)
    lines = finish(rust).split()
    got = [(int(lines[k]), float(lines[k + 1]), int(lines[k + 2])) for k in range(0, len(lines), 3)]
    assert got == [(i, i * 0.25, 1) for i in range(5)]
    assert len(prod) == 0


def test_rust_producer_feeds_python_workers_ack_nack_reject(queues, peer):
    node = axon.Node("workers")
    w1 = node.queue_worker("/jobs", JOB, prefetch=2)
    w2 = node.queue_worker("/jobs", JOB, prefetch=2)
    dead = node.queue_worker("/jobs", JOB, dead_letters=True)
    finish(spawn(peer, "produce", "/jobs", "3"))

    a = w1.recv(timeout=WATCHDOG)
    b = w1.recv(timeout=WATCHDOG)
    assert (a.id, a.value, a.redelivered, a.delivery_count) == (0, 0.0, False, 1)
    assert (b.id, b.value) == (1, 1.5)
    # Exactly the job's 16 bytes (a job's slot view is padded to 32: the
    # padding is not part of the job).
    assert b.to_bytes() == np.array([(1, 1.5)], dtype=JOB_DTYPE).tobytes()
    with pytest.raises(axon.AxonError, match="prefetch"):
        w1.try_recv()  # two held: prefetch 2
    a.ack()
    assert b.nack() is False  # back to the queue, not dead
    again = w2.recv(timeout=WATCHDOG)
    assert (again.id, again.redelivered, again.delivery_count) == (1, True, 2)
    c = w2.recv(timeout=WATCHDOG)
    assert (c.id, c.value) == (2, 3.0)
    c.reject()
    letter = dead.recv(timeout=WATCHDOG)
    assert letter.id == 2
    letter.ack()
    with pytest.raises(axon.AxonError, match="already settled"):
        c.ack()
    # Unsettled at the end of a `with` block: requeued, as in Rust.
    with again:
        pass
    with w1.recv(timeout=WATCHDOG) as d:
        assert (d.id, d.delivery_count) == (1, 3)
        d.ack()
    assert w1.try_recv() is None and dead.try_recv() is None
    assert len(w1) == 0


def test_queue_type_mismatch_names_both_and_full(queues, peer):
    node = axon.Node("q")
    prod = node.queue_producer("/small", JOB, capacity=2)
    prod.send(id=1, value=1.0)
    prod.send(id=2, value=2.0)
    with pytest.raises(axon.Full, match="/small"):
        prod.send(id=3, value=3.0)
    other = axon.message_type("axon-python/Other", np.dtype([("x", "<u4")], align=True))
    with pytest.raises(axon.AxonError) as e:
        node.queue_worker("/small", other)
    assert "axon-python/Job" in str(e.value) and "axon-python/Other" in str(e.value), str(e.value)
    # A Rust worker of the right type takes the two jobs.
    rust = spawn(peer, "work", "/small", "2")
    ready(rust)
    assert finish(rust).split()[0::3] == ["1", "2"]


def test_server_killed_mid_call_raises_server_gone(domain, peer):
    rust = spawn(peer, "serve-hang", "/add")
    ready(rust)
    node = axon.Node("caller")
    client = node.client("/add", ADD_REQ, ADD_RESP)
    import threading

    def kill_when_taken():
        line = rust.stdout.readline()
        assert line.strip() == "took 9", line
        rust.kill()

    killer = threading.Thread(target=kill_when_taken)
    killer.start()
    try:
        with pytest.raises(axon.ServerGone, match="/add"):
            client.call(a=9, b=1, timeout=WATCHDOG)
    finally:
        killer.join(WATCHDOG)
        rust.kill()
        rust.communicate(timeout=WATCHDOG)


CALLER = """
import signal, sys, numpy as np, axon
signal.signal(signal.SIGINT, signal.default_int_handler)
req = axon.message_type("axon-python/AddRequest", np.dtype([("a", "<i8"), ("b", "<i8")], align=True))
resp = axon.message_type("axon-python/AddResponse", np.dtype([("sum", "<i8")], align=True))
client = axon.Node("blocked").client("/add", req, resp)
print("ready", flush=True)
try:
    client.call(a=1, b=2)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(0)
sys.exit(5)
"""


def test_ctrl_c_interrupts_a_blocking_call_and_withdraws_it(domain):
    import select
    import signal
    import sys

    node = axon.Node("server")
    server = node.service("/add", ADD_REQ, ADD_RESP)
    child = subprocess.Popen([sys.executable, "-c", CALLER], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        r, _, _ = select.select([child.stdout], [], [], WATCHDOG)
        assert r and child.stdout.readline().strip() == "ready"
        req = server.recv_request(timeout=WATCHDOG)  # the call is in flight
        assert (req.a, req.b) == (1, 2)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=WATCHDOG)
        assert child.returncode == 0 and out.strip() == "interrupted", err
    finally:
        child.kill()
    # Answering the withdrawn call harms nobody.
    req.reply(sum=3)
