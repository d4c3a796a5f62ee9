"""`Subscriber.recv_async` against a real Rust publisher process: it sleeps
on the topic's wake word (no polling), uses one thread per subscriber
whatever the number of awaits, and a cancelled await loses no sample and
leaves no thread behind."""

import asyncio
import resource
import threading
import time

import numpy as np

import axon
from conftest import spawn

WATCHDOG = 20
WHEEL = np.dtype([("left", "<f8"), ("right", "<f8"), ("id", "<u4"), ("flags", "<u2", (2,))], align=True)


def finish(proc):
    out, err = proc.communicate(timeout=WATCHDOG)
    assert proc.returncode == 0, err
    return out


def switches():
    """Voluntary context switches of this process (all its threads): one
    per sleep, so a 1 ms poll makes about one per millisecond."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw


def waiters(sub):
    """The recv_async waiter threads of `sub` (other tests' idle waiters
    may still be ending: count only this subscriber's)."""
    suffix = f" {id(sub):#x}"
    return sum(t.name.startswith("axon recv_async") and t.name.endswith(suffix) for t in threading.enumerate())


def wait_until(cond, what):
    deadline = time.monotonic() + WATCHDOG
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_recv_async_sleeps_on_the_wake_word_and_wakes_for_a_rust_sample(domain, peer, tmp_path):
    wheel = axon.message_type("axon-python/Wheel", WHEEL)
    node = axon.Node("t")
    sub = node.subscriber("/wheel", wheel)

    async def main():
        tasks = [asyncio.ensure_future(sub.recv_async()) for _ in range(8)]
        await asyncio.sleep(0.05)
        # Eight awaits, one thread.
        assert waiters(sub) == 1
        # Idle for half a second: the old 1 ms poll slept and woke ~500
        # times here; a wait on the wake word wakes once per re-check
        # slice (0.1 s).
        before = switches()
        await asyncio.sleep(0.5)
        idle = switches() - before
        assert idle < 100, f"{idle} context switches while idle: polling"
        assert not any(t.done() for t in tasks)
        rust = spawn(peer, "pub-wheel", "/wheel", str(tmp_path / "w.bin"))
        done, pending = await asyncio.wait(tasks, timeout=WATCHDOG, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1
        s = done.pop().result()
        got = s.to_bytes()
        s.release()
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return rust, got

    rust, got = asyncio.run(main())
    assert got == (tmp_path / "w.bin").read_bytes()
    del sub
    finish(rust)


def test_cancelled_recv_async_loses_no_sample_and_leaks_no_thread(domain, peer, tmp_path):
    wheel = axon.message_type("axon-python/Wheel", WHEEL)
    node = axon.Node("t")
    sub = node.subscriber("/wheel", wheel)

    async def main():
        task = asyncio.ensure_future(sub.recv_async())
        await asyncio.sleep(0.05)
        # With the event loop busy (this block does not yield), the Rust
        # peer publishes; the waiter thread takes the sample from the topic
        # and schedules its hand-over; then the await is cancelled before
        # the loop runs that hand-over.
        rust = spawn(peer, "pub-wheel", "/wheel", str(tmp_path / "w.bin"))
        wait_until(lambda: sub.received() >= 1, "the waiter to take the sample")
        task.cancel()
        for _ in range(10):
            await asyncio.sleep(0)
        assert task.cancelled()
        # The sample was not lost: the next receive has it (the peer sends
        # one sample only: a lost one times this out).
        s = await asyncio.wait_for(sub.recv_async(), WATCHDOG)
        got = s.to_bytes()
        s.release()
        assert sub.try_recv() is None
        return rust, got

    rust, got = asyncio.run(main())
    assert got == (tmp_path / "w.bin").read_bytes()
    # The waiter thread ends once no await is pending (no leak).
    wait_until(lambda: waiters(sub) == 0, "the waiter thread to end")
    del sub
    finish(rust)
