"""Fixtures of the axon Python package tests: a unique AXON_DOMAIN per test
(so parallel runs never collide; the test checks nothing is left in
/dev/shm), and the Rust peer (python/examples/py_peer.rs)."""

import gc
import glob
import os
import subprocess
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _target_dir():
    return os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")


@pytest.fixture
def domain(monkeypatch):
    name = "py" + uuid.uuid4().hex[:12]
    monkeypatch.setenv("AXON_DOMAIN", name)
    for var in ("AXON_NAMESPACE", "AXON_REMAP", "AXON_PARAMS_FILE", "AXON_TOPICS", "AXON_NODE_NAME"):
        monkeypatch.delenv(var, raising=False)
    yield name
    # A test's endpoints close when their last reference goes; a recv_async
    # waiter thread may hold one for a moment after the test returns (it
    # drops it before sleeping, within its 0.1 s wait slice), which a loaded
    # machine stretches. So: collect, then wait up to 5 s for the files to
    # go; a real leak stays and fails.
    pattern = f"/dev/shm/axon.u{os.getuid()}.d{name}.*"
    gc.collect()
    deadline = time.monotonic() + 5.0
    while glob.glob(pattern) and time.monotonic() < deadline:
        time.sleep(0.02)
        gc.collect()
    left = glob.glob(pattern)
    for f in left:
        os.unlink(f)
    assert not left, f"segments left behind: {left}"


@pytest.fixture(scope="session")
def peer():
    """The Rust peer binary, built by `cargo test` (examples) or here."""
    path = os.path.join(_target_dir(), "release", "examples", "py_peer")
    if not os.path.exists(path):
        subprocess.run(
            ["cargo", "build", "--release", "-p", "axon-python", "--example", "py_peer"],
            cwd=REPO, check=True,
        )
    return path


def spawn(peer, *args, env=None):
    return subprocess.Popen([peer, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
