#!/usr/bin/env python3
"""Python-to-Python one-way latency: axon's Python package beside the
published iceoryx2 wheel (`iceoryx2==0.10.0`, the version of the Rust
iceoryx2 the benches use), measured in the same run.

    python/bench/run [--rounds 5] [--iters 2000]

(`run` makes target/venv from requirements-test.txt as ./test does, builds
the package into it and runs this script; `python pingpong.py` runs it in
any environment with `axon` and `iceoryx2==0.10.0`; benches/README.md has
the measured table.)

Rows: {axon, iceoryx2} x {poll, block} x {8 B, 8 MiB}. Each row is a
ping-pong between two processes pinned to different CPUs (0 and 1): the
pinger loans a slot of the payload size, writes a sequence number into
its first 8 bytes, sends it, and waits for the ponger's answer of the same
size; the ponger receives the sample, takes a numpy view of the whole
payload (the "image" a Python node would process), reads the sequence
number through that view and answers with it. One-way latency = round trip
/ 2, per round trip; a row reports the median of each round's median and
the spread (min..max) over the rounds, rounds interleaved across rows so
that load drifts hit every row alike.

Waiting: `poll` spins on the non-blocking receive (axon `try_recv`,
iceoryx2 `Subscriber.receive`); `block` sleeps in the library's wait
(axon `Subscriber.recv(timeout=...)`, which releases the GIL and sleeps on
the topic's futex word; iceoryx2, whose subscriber has no blocking
receive, pairs each direction with an event service as its
event-based-communication example does: `Notifier.notify()` after `send`,
`Listener.timed_wait` before `receive`).

Payloads are equal: axon's type is `bench/Blob {counter: u64, data: [u8]}`
with `len - 8` data bytes (8 B = the sequence number alone), iceoryx2's is
`Slice[c_uint8]` of `len` bytes. Neither side writes the payload beyond
the sequence number (a camera writes its pixels in place in both).
"""

import argparse
import ctypes
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid

import numpy as np

SIZES = (8, 8 << 20)
IMPLS = ("axon", "iceoryx2")
MODES = ("poll", "block")
WATCHDOG = 30.0  # seconds without progress before a role gives up (exit 3)
WARMUP = 200


def _deadline():
    return time.monotonic() + WATCHDOG


def _check(deadline, what):
    if time.monotonic() > deadline:
        print(f"pingpong: timed out waiting for {what}", file=sys.stderr)
        sys.exit(3)


# ----- axon -----

class AxonEnd:
    def __init__(self, name, size, blocking, tx, rx, run):
        import axon

        blob = axon.message_type("bench/Blob", np.dtype([("counter", "<u8")], align=True), slice_of=np.uint8)
        self.n = size - 8
        node = axon.Node(name)
        self.node = node
        self.pub = node.publisher(tx, blob, max_len=max(self.n, 1))
        self.sub = node.subscriber(rx, blob, max_len=max(self.n, 1))
        self.blocking = blocking

    def send(self, seq):
        with self.pub.loan(self.n) as loan:
            loan.counter = seq

    def recv(self, deadline):
        """The sequence number of the next sample, read through a numpy
        view of the payload."""
        if self.blocking:
            s = self.sub.recv(timeout=WATCHDOG)
        else:
            s = self.sub.try_recv()
            while s is None:
                _check(deadline, "a sample")
                s = self.sub.try_recv()
        return self._seq(s)

    def poll_once(self):
        s = self.sub.try_recv()
        return None if s is None else self._seq(s)

    @staticmethod
    def _seq(s):
        data = s.data  # numpy view into the slot (the image)
        seq = s.counter
        del data
        s.release()
        return seq

    def close(self):
        pass


# ----- iceoryx2 -----

_IOX2_ROOT = "/tmp/iceoryx2"
_IOX2_PREFIX = "axpb"


def _remove_iox2_run(run):

    shutil.rmtree(f"{_IOX2_ROOT}/{run}", ignore_errors=True)
    try:
        os.rmdir(_IOX2_ROOT)  # only if no other run uses it
    except OSError:
        pass
    for f in glob.glob(f"/dev/shm/{_IOX2_PREFIX}{run}_*"):
        os.unlink(f)


class Iceoryx2End:
    def __init__(self, name, size, blocking, tx, rx, run):
        import iceoryx2 as iox2

        self.iox2 = iox2
        iox2.set_log_level(iox2.LogLevel.Error)
        self.n = size
        # Files of this run only (as the Rust iceoryx2 peer of the benches
        # does): root /tmp/iceoryx2/<run>/, prefix <run>_; the driver
        # removes both after the row.
        cfg = iox2.config.default()
        cfg.global_cfg.prefix = iox2.FileName.new(f"{_IOX2_PREFIX}{run}_")
        cfg.global_cfg.root_path = iox2.Path.new(f"{_IOX2_ROOT}/{run}/")
        node = iox2.NodeBuilder.new().config(cfg).create(iox2.ServiceType.Ipc)
        self.node = node

        def pubsub(topic):
            return (
                node.service_builder(iox2.ServiceName.new(topic))
                .publish_subscribe(iox2.Slice[ctypes.c_uint8])
                .open_or_create()
            )

        self.pub = pubsub(tx).publisher_builder().initial_max_slice_len(size).create()
        self.sub = pubsub(rx).subscriber_builder().create()
        self.blocking = blocking
        if blocking:
            self.notifier = (
                node.service_builder(iox2.ServiceName.new(tx + "/event")).event().open_or_create()
                .notifier_builder().create()
            )
            self.listener = (
                node.service_builder(iox2.ServiceName.new(rx + "/event")).event().open_or_create()
                .listener_builder().create()
            )
            self.wait_slice = iox2.Duration.from_millis(100)

    def send(self, seq):
        sample = self.pub.loan_slice_uninit(self.n)
        ctypes.c_uint64.from_address(sample.payload_ptr).value = seq
        sample.assume_init().send()
        if self.blocking:
            self.notifier.notify()

    def recv(self, deadline):
        s = self.sub.receive()
        while s is None:
            _check(deadline, "a sample")
            if self.blocking:
                self.listener.timed_wait(self.wait_slice)
            s = self.sub.receive()
        return self._seq(s)

    def poll_once(self):
        s = self.sub.receive()
        return None if s is None else self._seq(s)

    @staticmethod
    def _seq(s):
        data = np.frombuffer(s.payload().as_memory_view(), np.uint8)  # the image
        seq = int(data[:8].view("<u8")[0])
        del data
        s.delete()
        return seq

    def close(self):
        for port in ("notifier", "listener"):
            if hasattr(self, port):
                getattr(self, port).delete()
        self.sub.delete()
        self.pub.delete()


ENDS = {"axon": AxonEnd, "iceoryx2": Iceoryx2End}


def role(args):
    os.sched_setaffinity(0, {args.cpu})
    ping, pong = f"/bench/{args.run}/ping", f"/bench/{args.run}/pong"
    if args.role == "ping":
        end = ENDS[args.impl](f"pinger_{args.run}", args.size, args.mode == "block", ping, pong, args.run)
    else:
        end = ENDS[args.impl](f"ponger_{args.run}", args.size, args.mode == "block", pong, ping, args.run)
    print("ready", flush=True)
    if args.role == "pong":
        deadline = _deadline()
        while True:
            seq = end.recv(deadline)
            deadline = _deadline()
            end.send(seq)
            if seq == 2**64 - 1:
                break
    else:
        # Connect: ping seq 0 until its answer comes (the ponger's
        # subscriber may not be connected yet); stale answers are dropped
        # by sequence number below.
        deadline = _deadline()
        got = None
        while got != 0:
            end.send(0)
            t = time.monotonic() + 0.02
            while got != 0 and time.monotonic() < t:
                got = end.poll_once()
                time.sleep(0.001)
            _check(deadline, "the ponger")
        lat = []
        for i in range(1, WARMUP + args.iters + 1):
            t0 = time.perf_counter_ns()
            end.send(i)
            while True:
                seq = end.recv(_deadline())
                if seq == i:
                    break
            t1 = time.perf_counter_ns()
            if i > WARMUP:
                lat.append((t1 - t0) / 2)
        end.send(2**64 - 1)
        end.recv(_deadline())
        print(json.dumps(lat), flush=True)
    end.close()


def run_row(impl, mode, size, iters):
    run = uuid.uuid4().hex[:10]
    env = dict(os.environ, AXON_DOMAIN=f"pb{run}")
    base = [sys.executable, os.path.abspath(__file__), "--impl", impl, "--mode", mode,
            "--size", str(size), "--iters", str(iters), "--run", run]
    pong = subprocess.Popen(base + ["--role", "pong", "--cpu", "1"], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert pong.stdout.readline().strip() == "ready"
    ping = subprocess.Popen(base + ["--role", "ping", "--cpu", "0"], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert ping.stdout.readline().strip() == "ready"
    try:
        out, _ = ping.communicate(timeout=600)
        pong.wait(timeout=60)
    finally:
        for p in (ping, pong):
            if p.poll() is None:
                p.kill()
                p.wait()
        if impl == "iceoryx2":
            _remove_iox2_run(run)
        else:  # left only by a killed process
            for f in glob.glob(f"/dev/shm/axon.u{os.getuid()}.dpb{run}.*"):
                os.unlink(f)
    if ping.returncode or pong.returncode:
        raise SystemExit(f"{impl}/{mode}/{size}: pinger exit {ping.returncode}, ponger exit {pong.returncode}")
    return json.loads(out)


def fmt_size(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} B"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--impl", choices=IMPLS)
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--size", type=int)
    p.add_argument("--role", choices=("ping", "pong"))
    p.add_argument("--cpu", type=int)
    p.add_argument("--run")
    p.add_argument("--only", help="comma-separated impls to run (default: both)")
    args = p.parse_args()
    if args.role:
        return role(args)

    import iceoryx2

    impls = args.only.split(",") if args.only else IMPLS
    rows = [(i, m, s) for m in MODES for s in SIZES for i in impls]
    medians = {r: [] for r in rows}
    p99 = {r: [] for r in rows}
    for rnd in range(args.rounds):
        for r in rows:
            lat = run_row(*r, args.iters)
            medians[r].append(statistics.median(lat) / 1000)
            p99[r].append(np.percentile(lat, 99) / 1000)
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    print(f"# one-way latency, us (median of {args.rounds} round medians of {args.iters} round trips / 2; "
          f"spread = min..max of round medians); iceoryx2 {iceoryx2.__version__ if hasattr(iceoryx2, '__version__') else '0.10.0'}, "
          f"Python {sys.version.split()[0]}, numpy {np.__version__}")
    print("| wait | payload | axon-python | iceoryx2-python | axon / iceoryx2 |")
    print("|---|---|---|---|---|")
    for m in MODES:
        for s in SIZES:
            cells = []
            for i in IMPLS:
                if (i, m, s) in medians:
                    md = medians[(i, m, s)]
                    cells.append(f"{statistics.median(md):.2f} ({min(md):.2f}..{max(md):.2f}; p99 {statistics.median(p99[(i, m, s)]):.1f})")
                else:
                    cells.append("-")
            ratio = "-"
            if ("axon", m, s) in medians and ("iceoryx2", m, s) in medians:
                ratio = f"{statistics.median(medians[('axon', m, s)]) / statistics.median(medians[('iceoryx2', m, s)]):.2f}"
            print(f"| {m} | {fmt_size(s)} | {cells[0]} | {cells[1]} | {ratio} |")


if __name__ == "__main__":
    main()
