"""axon for Python: zero-copy shared-memory publish/subscribe.

    import axon
    node = axon.Node("detector")
    sub = node.subscriber("/camera/image", axon.msgs.Image)
    with sub.recv(timeout=1.0) as img:
        pixels = img.data            # read-only numpy view of the slot
        print(img.width, img.height, pixels.mean())

A received sample is valid while held: until ``release()`` or the end of
its ``with`` block. Its numpy views point into shared memory, so no view
may outlive the slot: ``release()`` while a view is alive raises
``BufferError`` (delete the views first); the end of a ``with`` block with
views still alive leaves the slot held until the last view is gone; any
access through the sample after release raises ``RuntimeError``.
"""

import asyncio
import atexit
import collections
import json
import signal
import struct
import threading
import types
import weakref

import numpy as np

from . import _axon
from ._axon import (AxonError, Full, MessageType, NoServer, PublisherGone, ServerGone, Shutdown,
                    monotonic_ns)

__all__ = [
    "AxonError", "PublisherGone", "Shutdown", "MessageType", "Node", "Publisher",
    "Subscriber", "Sample", "Loan", "msgs", "message_type", "monotonic_ns",
    "ServerGone", "NoServer", "Full", "Client", "Server", "Request", "QueueProducer",
    "QueueWorker", "Delivery",
]


def _dtype(spec):
    if isinstance(spec, dict):
        return np.dtype({
            "names": spec["names"],
            "formats": [_dtype(f) for f in spec["formats"]],
            "offsets": spec["offsets"],
            "itemsize": spec["itemsize"],
        })
    if isinstance(spec, tuple):
        return np.dtype((_dtype(spec[0]), spec[1]))
    return np.dtype(spec)


_STRUCT_CODES = {
    ("u", 1): "B", ("u", 2): "H", ("u", 4): "I", ("u", 8): "Q",
    ("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q",
    ("f", 4): "f", ("f", 8): "d", ("b", 1): "?",
}


def _prim_property(name, st, off):
    """A top-level number field, read and written with `struct` straight
    from the slot (no decode of the fixed part, no numpy scalar)."""
    size, unpack, pack = st.size, st.unpack, st.pack

    def get(self):
        return unpack(self._slot._read(off, size))[0]

    def set(self, value):
        try:
            self._slot._write(off, pack(value))
        except struct.error:
            _set_field(self, name, value)  # numpy's conversion (and its error)

    return property(get, set)


def _field_property(name):
    """Any other fixed field: decoded (the fixed part only, once per
    sample) on read, written through the `fields` structured view."""

    def get(self):
        try:
            cache = self._fields_cache
        except AttributeError:
            cache = self._fields_cache = self._info.ty._decode(self._slot._read(0, self._info.fixed_size))
        return _ns(cache[name])

    def set(self, value):
        _set_field(self, name, value)

    return property(get, set)


def _set_field(loan, name, value):
    if not isinstance(loan, Loan):
        raise AttributeError(f"{loan._info.ty.name}.{name}: a received sample is read-only")
    try:
        del loan._fields_cache  # decoded before this write: stale now
    except AttributeError:
        pass
    rec = loan.fields
    if loan._info.fields[name] == "string":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        rec[name] = (len(raw), raw)
    else:
        rec[name] = _tuples(value)


class _TypeInfo:
    """What the Python layer needs of a message type, computed once."""

    def __init__(self, ty):
        self.ty = ty
        fixed, sl = ty._dtypes()
        self.fixed = _dtype(fixed)
        if sl is not None:
            self.slice_field, self.slice_dtype, self.slice_offset = sl[0], _dtype(sl[1]), sl[2]
            self.slice_bytes = self.slice_dtype == np.uint8  # a plain byte slice needs no view
        else:
            self.slice_field = self.slice_dtype = self.slice_offset = None
            self.slice_bytes = False
        self.fields = dict(ty._fields())
        self.fixed_size = self.fixed.itemsize
        # Top-level number fields, read and written with `struct` straight
        # from the slot (no decode of the whole fixed part, no numpy scalar).
        self.prims = {}
        for name, kind in self.fields.items():
            if kind != "number" or self.fixed.names is None or name not in self.fixed.names:
                continue
            dt, off = self.fixed.fields[name][:2]
            code = _STRUCT_CODES.get((dt.kind, dt.itemsize))
            if code is not None and dt.byteorder in "<=|":
                self.prims[name] = (struct.Struct("<" + code), off)
        self.slice_name = self.slice_field or ("data" if self.slice_field == "" else None)
        # Samples and loans of this type are instances of classes made for
        # it: each field a property (no __getattr__ miss per access; names
        # the base classes define, like `seq`, keep their meaning there and
        # are reached through `fields`).
        props = {"__slots__": (), "_info": self}
        for name in self.fields:
            if name == self.slice_name:
                props[name] = property(_Slot._slice_array)
            elif name in self.prims:
                props[name] = _prim_property(name, *self.prims[name])
            else:
                props[name] = _field_property(name)
        if self.slice_name:
            props[self.slice_name] = property(_Slot._slice_array)
        short = ty.name.rsplit("/", 1)[-1]
        self.sample_cls = type(f"Sample[{short}]", (Sample,), _unshadowed(props, Sample))
        self.loan_cls = type(f"Loan[{short}]", (Loan,), _unshadowed(props, Loan))


def _unshadowed(props, base):
    return {k: v for k, v in props.items() if k in ("__slots__", "_info") or not hasattr(base, k)}


_infos = {}


def _info(ty):
    key = (ty.name, ty.fingerprint)
    info = _infos.get(key)
    if info is None:
        info = _infos[key] = _TypeInfo(ty)
    return info


def _ns(value):
    if isinstance(value, dict):
        return types.SimpleNamespace(**{k: _ns(v) for k, v in value.items()})
    return value


class _Slot:
    """Shared parts of Sample and Loan: fields and numpy views of a slot.
    Instances are of the per-type subclasses `_TypeInfo` makes (their
    class attribute `_info` is the type)."""

    __slots__ = ("_slot", "_fields_cache")
    _info = None

    def __init__(self, slot):
        self._slot = slot

    def _slice_array(self):
        info = self._info
        raw = self._slot._bytes_view(info.slice_offset, self._slot.elems * info.slice_dtype.itemsize)
        return raw if info.slice_bytes else raw.view(info.slice_dtype)

    @property
    def fields(self):
        """The fixed part as a 0-d numpy structured array into the slot."""
        info = self._info
        return np.ndarray((), info.fixed, buffer=self._slot._bytes_view(0, info.fixed_size))

    def __getattr__(self, name):
        info = self._info
        raise AttributeError(f"{info.ty.name} has no field {name!r} (fields: {', '.join(info.fields)})")

    def to_bytes(self):
        """A copy of the sample's bytes."""
        return self._slot.to_bytes()

    @property
    def released(self):
        return self._slot.released

    def __enter__(self):
        return self

    def __repr__(self):
        return f"<{type(self).__name__} of {self._info.ty.name}>"


class Sample(_Slot):
    """A received sample, held in shared memory until released."""

    __slots__ = ()

    @property
    def seq(self):
        return self._slot.seq

    @property
    def sent_ns(self):
        return self._slot.sent_ns

    def release(self):
        """Gives the slot back; BufferError while numpy views are alive."""
        self._slot.release()

    def __exit__(self, *exc):
        # Views still alive keep the slot until they are gone (then it is
        # released); the block's end never frees memory a view reads.
        self._slot._release_when_unused()
        return False


class Loan(_Slot):
    """A slot loaned for writing; `send()` publishes it (a `with` block
    sends on a normal exit and discards on an exception)."""

    __slots__ = ()

    def send(self):
        return self._slot.send()

    def discard(self):
        self._slot.release()

    def __exit__(self, exc_type, *rest):
        if exc_type is None:
            self._slot.send()
        else:
            # Discarded; views the exception's traceback still holds defer
            # that to the last one's end (a BufferError here would hide
            # the exception).
            self._slot._release_when_unused()
        return False


def _tuples(value):
    if isinstance(value, dict):
        return tuple(_tuples(v) for v in value.values())
    if isinstance(value, types.SimpleNamespace):
        return tuple(_tuples(v) for v in vars(value).values())
    return value


class _Port:
    """What publishers and subscribers share: the native port and the
    message type's Python-side information."""

    def __init__(self, raw):
        self._raw = raw
        self._info = _info(raw.message_type)

    @property
    def topic(self):
        return self._raw.topic

    @property
    def message_type(self):
        return self._raw.message_type


class Publisher(_Port):
    """Publishes messages of one type on one topic."""

    @property
    def max_len(self):
        return self._raw.max_len

    def subscriber_count(self):
        return self._raw.subscriber_count()

    def publish(self, msg=None, **fields):
        """Publishes by copy: a dict of fields (or keywords); the trailing
        slice (e.g. `data`) as a numpy array or bytes. Returns the sequence number."""
        if msg is None:
            msg = fields
        elif isinstance(msg, (bytes, bytearray, memoryview)):
            return self._raw.publish_bytes(bytes(msg))
        elif not isinstance(msg, dict):
            msg = {k: getattr(msg, k) for k in self._info.fields if hasattr(msg, k)}
        info = self._info
        msg = dict(msg)
        slice_bytes = None
        key = info.slice_field if info.slice_field else ("data" if info.slice_field == "" else None)
        if key is not None and key in msg:
            arr = np.ascontiguousarray(msg.pop(key), dtype=info.slice_dtype)
            slice_bytes = arr.reshape(-1).view(np.uint8)
        return self._raw._publish_parts(info.ty._encode_fixed(msg), slice_bytes)

    def publish_bytes(self, data):
        return self._raw.publish_bytes(bytes(data))

    def loan(self, n=0):
        """A slot for a sample with `n` trailing elements, written in place
        through writable numpy views (`loan.data[:] = ...`)."""
        return self._info.loan_cls(self._raw._loan(n))


# recv_async: one waiter thread per subscriber with awaits pending sleeps in
# the native receive on the topic's wake word (a futex: no polling) and hands
# each sample to the oldest pending await through its loop's
# call_soon_threadsafe. A sample (or error) whose await was cancelled in the
# meantime goes to the next pending await of the same subscriber, or else to
# the subscriber's stash, which every receive takes from first: a cancelled
# await loses nothing and leaks nothing.
# Bounds: one thread per subscriber (not per await); the stash holds at most
# one result per cancelled await; the waiter re-checks for cancelled awaits
# every _WAIT_SLICE (so a fully cancelled subscriber's thread stops within
# that) and exits after _IDLE seconds without awaits.
_WAIT_SLICE = 0.1
_IDLE = 2.0
_waiter_threads = set()
_closing = threading.Event()


def _stop_waiters():
    """At interpreter exit: stop the waiter threads before finalization
    (a thread in the native wait must not outlive the interpreter)."""
    _closing.set()
    for t in list(_waiter_threads):
        t.join(timeout=_WAIT_SLICE + 0.5)


atexit.register(_stop_waiters)


def _settle(fut, result):
    kind, value = result
    if kind == "ok":
        fut.set_result(value)
    else:
        fut.set_exception(value)


def _serve(ref, wake):
    """The waiter thread of one subscriber. It holds the subscriber only
    while an await is pending: an idle waiter keeps no topic alive, and
    ends when its subscriber is gone or after _IDLE s without awaits."""
    try:
        while not _closing.is_set():
            with wake:
                sub = ref()
                if sub is None:
                    return
                if sub._next_await() is None:
                    del sub
                    wake.wait(_IDLE)
                    sub = ref()
                    if sub is None:
                        return
                    if sub._next_await() is None or _closing.is_set():
                        sub._thread = None
                        return
            try:
                slot = sub._raw._wait_recv(_WAIT_SLICE)
            except Exception as e:  # PublisherGone, Shutdown, ...
                result = ("err", e.with_traceback(None))
            else:
                result = None if slot is None else ("ok", slot)
            if result is not None:
                sub._hand_over(result)
            del sub
    finally:
        sub = ref()
        if sub is not None:
            with wake:
                if sub._thread is threading.current_thread():
                    sub._thread = None
        _waiter_threads.discard(threading.current_thread())


class Subscriber(_Port):
    """Receives messages of one topic; iterate it, or call recv / try_recv,
    or `await recv_async()`."""

    def __init__(self, raw):
        super().__init__(raw)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stash = collections.deque()  # ("ok", slot) | ("err", exc)
        self._awaits = collections.deque()  # (loop, future), oldest first
        self._thread = None

    def received(self):
        return self._raw.received()

    def dropped(self):
        return self._raw.dropped()

    def _sample(self, slot):
        return self._info.sample_cls(slot)

    def _from_stash(self):
        if not self._stash:  # (a deque's length is read atomically)
            return None
        with self._lock:
            if not self._stash:
                return None
            kind, value = self._stash.popleft()
        if kind == "err":
            raise value
        return self._sample(value)

    def try_recv(self):
        """The next sample, or None if none is there (never blocks)."""
        s = self._from_stash()
        if s is not None:
            return s
        s = self._raw.try_recv()
        return None if s is None else self._sample(s)

    def recv(self, timeout=None):
        """Waits for the next sample (GIL released, Ctrl-C raises
        KeyboardInterrupt at once); TimeoutError after `timeout` seconds."""
        s = self._from_stash()
        if s is not None:
            return s
        return self._sample(self._raw.recv(timeout))

    async def recv_async(self):
        """Awaits the next sample without blocking the event loop: a thread
        sleeps on the topic's wake word for it (no polling). Cancel-safe:
        a sample that arrives for a cancelled await is kept for the next
        receive."""
        s = self._from_stash()
        if s is not None:
            return s
        if self._thread is None and not self._awaits:
            # (With awaits pending, the sample is theirs first: FIFO.)
            s = self._raw.try_recv()
            if s is not None:
                return self._sample(s)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._lock:
            self._awaits.append((loop, fut))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=_serve, args=(weakref.ref(self), self._wake),
                    name=f"axon recv_async {self._raw.topic} {id(self):#x}", daemon=True)
                _waiter_threads.add(self._thread)
                self._thread.start()
            else:
                self._wake.notify()
        return self._sample(await fut)

    def _next_await(self):
        """The oldest await not yet done (cancelled ones are dropped); the
        caller holds the lock."""
        while self._awaits:
            loop, fut = self._awaits[0]
            if not fut.done():
                return loop, fut
            self._awaits.popleft()
        return None

    def _hand_over(self, result):
        with self._lock:
            target = self._next_await()
            if target is None:
                self._stash.append(result)
                return
            self._awaits.popleft()
        loop, fut = target
        try:
            loop.call_soon_threadsafe(self._deliver, loop, fut, result)
        except RuntimeError:  # the loop is closed
            with self._lock:
                self._stash.append(result)

    def _deliver(self, loop, fut, result):
        """In the loop's thread: settle `fut`, or (cancelled) the next
        pending await of this loop, or keep the result in the stash."""
        if not fut.done():
            return _settle(fut, result)
        with self._lock:
            target = self._next_await()
            if target is None or target[0] is not loop:
                self._stash.append(result)
                return
            self._awaits.popleft()
        _settle(target[1], result)

    def __iter__(self):
        while True:
            try:
                yield self.recv()
            except PublisherGone:
                return


class Node:
    """A process's identity on the robot, configured from the launcher's
    environment (AXON_DOMAIN, AXON_NAMESPACE, AXON_REMAP, AXON_PARAMS_FILE...)."""

    def __init__(self, name):
        self._raw = _axon.PyNode(name)
        _sigterm_as_interrupt()

    @property
    def name(self):
        return self._raw.name

    @property
    def namespace(self):
        return self._raw.namespace

    @property
    def params(self):
        """The node's parameters (the launch file's `params`) as a dict."""
        return json.loads(self._raw._params_json())

    def param(self, name, default=None):
        return self.params.get(name, default)

    def resolve(self, topic):
        return self._raw.resolve(topic)

    def publisher(self, topic, msg_type, **qos):
        return Publisher(self._raw._publisher(topic, _as_type(msg_type), **qos))

    def subscriber(self, topic, msg_type=None, **qos):
        """`msg_type=None` reads any existing topic through the type
        description its segment carries."""
        ty = None if msg_type is None else _as_type(msg_type)
        return Subscriber(self._raw._subscriber(topic, ty, **qos))


    # ----- services and work queues (copies, not views: see Client) -----

    def client(self, service, request_type, response_type, **opts):
        """A client of `service`: `client.call(request, timeout=...)`.
        Options as the Rust builder's: max_clients, max_in_flight,
        max_request_len, max_response_len."""
        return Client(_axon._client(self._raw, service, _as_type(request_type), _as_type(response_type), **opts))

    def service(self, service, request_type, response_type, **opts):
        """The server of `service` (one per name): `server.recv_request()`."""
        return Server(_axon._service(self._raw, service, _as_type(request_type), _as_type(response_type), **opts))

    def queue_producer(self, queue, job_type, **opts):
        """A producer of work queue `queue` (capacity, max_deliveries, max_len)."""
        return QueueProducer(_axon._queue_producer(self._raw, queue, _as_type(job_type), **opts))

    def queue_worker(self, queue, job_type, prefetch=1, **opts):
        """A worker of work queue `queue` holding up to `prefetch` jobs;
        `dead_letters=True` takes the queue's dead letters instead."""
        return QueueWorker(_axon._queue_worker(self._raw, queue, _as_type(job_type), prefetch, **opts))


class _Copy:
    """A message received by copy (a service's request or response, a
    queue's job) behind the same interface as a slot, so the per-type
    classes read its fields; its numpy views are read-only views of the copy."""

    __slots__ = ("_buf", "elems")
    released = False
    seq = sent_ns = publisher = None

    def __init__(self, data, elems):
        self._buf = np.frombuffer(data, dtype=np.uint8)
        self.elems = elems

    def _bytes_view(self, start=0, length=None):
        return self._buf[start:] if length is None else self._buf[start:start + length]

    def _read(self, offset, length):
        if offset + length > len(self._buf):
            raise ValueError("read beyond the sample")
        return self._buf[offset:offset + length].tobytes()

    def to_bytes(self):
        return self._buf.tobytes()

    def release(self):
        pass

    def _release_when_unused(self):
        return True


def _encode(info, msg, fields):
    """A message (dict, keywords, object with the fields, a received
    sample, or whole bytes) as its bytes and trailing-element count."""
    ty = info.ty
    if msg is None:
        msg = fields
    if isinstance(msg, (bytes, bytearray, memoryview)):
        data = bytes(msg)
        rest = len(data) - ty.size
        elems = rest // ty.elem_size if ty.elem_size and rest > 0 else 0
        return data, elems
    if isinstance(msg, _Slot):
        return msg.to_bytes(), msg._slot.elems
    if isinstance(msg, _Delivered):
        return msg.message.to_bytes(), msg.message._slot.elems
    if not isinstance(msg, dict):
        msg = {k: getattr(msg, k) for k in info.fields if hasattr(msg, k)}
    msg = dict(msg)
    tail = b""
    elems = 0
    key = info.slice_name
    if key is not None and key in msg:
        arr = np.ascontiguousarray(msg.pop(key), dtype=info.slice_dtype).reshape(-1)
        elems = arr.size
        tail = arr.view(np.uint8).tobytes()
    out = bytearray(ty.size + elems * ty.elem_size)
    out[:ty.size] = ty._encode_fixed(msg)
    if tail:
        at = info.slice_offset
        out[at:at + len(tail)] = tail
    return bytes(out), elems


def _decode(info, data, elems):
    return info.sample_cls(_Copy(data, elems))


class Client:
    """A service client. Requests and responses are copied (one copy each
    way, fine for commands and queries; stream big data on topics)."""

    def __init__(self, raw):
        self._raw = raw
        self._req = _info(raw.request_type)
        self._resp = _info(raw.response_type)

    @property
    def name(self):
        return self._raw.name

    def service_is_ready(self):
        return self._raw.service_is_ready()

    def call(self, request=None, timeout=None, **fields):
        """Sends `request` (dict, keywords, object with the fields, or bytes)
        and waits up to `timeout` seconds for the response (GIL released;
        Ctrl-C withdraws the call). Raises TimeoutError, ServerGone, NoServer,
        Full, AxonError (declined...)."""
        data, elems = _encode(self._req, request, fields)
        out, n = self._raw._call(data, elems, timeout)
        return _decode(self._resp, out, n)


class _Delivered:
    """A received request or job: its message's fields as attributes (and
    `message`), settled through the methods of the subclass."""

    __slots__ = ("_raw", "message")

    def __init__(self, raw, info):
        self._raw = raw
        self.message = _decode(info, raw.to_bytes(), raw.elems)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.message, name)

    def to_bytes(self):
        return self.message.to_bytes()

    def __enter__(self):
        return self


class Request(_Delivered):
    """A request a server took: read its fields, then `reply(response)`.
    Not answered (declined) if dropped unanswered."""

    __slots__ = ("_server",)

    def reply(self, response=None, **fields):
        data, elems = _encode(self._server._resp, response, fields)
        self._raw._reply(data, elems)

    def decline(self):
        self._raw.decline()

    @property
    def answered(self):
        return self._raw.answered

    def __exit__(self, *exc):
        self._raw.decline()  # a no-op once answered
        return False


class Server:
    """The server of a service: `recv_request()` then `reply()`."""

    def __init__(self, raw):
        self._raw = raw
        self._req = _info(raw.request_type)
        self._resp = _info(raw.response_type)

    @property
    def name(self):
        return self._raw.name

    def _wrap(self, raw):
        r = Request(raw, self._req)
        r._server = self
        return r

    def try_recv_request(self):
        raw = self._raw.try_recv_request()
        return None if raw is None else self._wrap(raw)

    def recv_request(self, timeout=None):
        """Waits up to `timeout` seconds (None: forever; GIL released,
        Ctrl-C raises KeyboardInterrupt) for a request."""
        return self._wrap(self._raw.recv_request(timeout))


class QueueProducer:
    """Sends jobs to a work queue (each job copied into a slot)."""

    def __init__(self, raw):
        self._raw = raw
        self._info = _info(raw.message_type)

    @property
    def name(self):
        return self._raw.name

    @property
    def capacity(self):
        return self._raw.capacity

    def __len__(self):
        return len(self._raw)

    def send(self, job=None, timeout=None, **fields):
        """Queues `job`. `timeout=None`: raises Full at once if the queue
        is full; else waits up to `timeout` seconds for room."""
        data, elems = _encode(self._info, job, fields)
        self._raw._send(data, elems, timeout)


class Delivery(_Delivered):
    """A job a worker holds: `ack()`, `nack()` (back to the queue,
    redelivered) or `reject()` (to the dead letters). Unsettled at the
    end of a `with` block (or when garbage-collected) it is requeued, as
    a dropped Rust `Delivery` is."""

    __slots__ = ()

    @property
    def redelivered(self):
        return self._raw.redelivered

    @property
    def delivery_count(self):
        return self._raw.delivery_count

    @property
    def settled(self):
        return self._raw.settled

    def ack(self):
        self._raw.ack()

    def nack(self):
        """Returns whether the job went to the dead letters (max_deliveries)."""
        return self._raw.nack()

    def reject(self):
        self._raw.reject()

    def __exit__(self, *exc):
        if not self._raw.settled:
            self._raw.nack()
        return False


class QueueWorker:
    """Takes jobs from a work queue, at most `prefetch` unsettled at once."""

    def __init__(self, raw):
        self._raw = raw
        self._info = _info(raw.message_type)

    @property
    def name(self):
        return self._raw.name

    def __len__(self):
        return len(self._raw)

    def try_recv(self):
        raw = self._raw.try_recv()
        return None if raw is None else Delivery(raw, self._info)

    def recv(self, timeout=None):
        """Waits up to `timeout` seconds (None: forever; GIL released,
        Ctrl-C raises KeyboardInterrupt) for a job."""
        return Delivery(self._raw.recv(timeout), self._info)


def _sigterm_as_interrupt():
    """The launcher stops nodes with SIGTERM (and Ctrl-C with SIGINT): make
    SIGTERM raise KeyboardInterrupt too, if nobody handles it yet."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, signal.default_int_handler)


# ----- message types -----

_NUMBERS = {
    "u1": "u8", "i1": "i8", "u2": "u16", "i2": "i16", "u4": "u32", "i4": "i32",
    "u8": "u64", "i8": "i64", "f4": "f32", "f8": "f64",
}


def _kind_of_dtype(dt, name=None):
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        k = _kind_of_dtype(base)
        for n in reversed(shape):
            k = ("array", k, int(n))
        return k
    if dt.names is not None:
        sname = name or (dt.metadata or {}).get("type_name")
        if not sname:
            raise ValueError("a nested struct dtype needs a type name: np.dtype(..., metadata={'type_name': 'pkg/Name'})")
        fields = []
        align = 1
        for fname in dt.names:
            fdt, off = dt.fields[fname][:2]
            fk = _kind_of_dtype(fdt)
            align = max(align, fdt.alignment)
            padding = fname.startswith("_") and fk[0] == "array" and fk[1] == ("number", "u8")
            fields.append((fname, int(off), fk, padding))
        return ("struct", sname, int(dt.itemsize), int(align), fields)
    key = dt.str.lstrip("<|=")
    if key not in _NUMBERS:
        raise ValueError(f"numpy type {dt} has no axon equivalent")
    return ("number", _NUMBERS[key])


def message_type(name, dtype, slice_of=None, slice_field="data"):
    """A custom message type from a numpy structured dtype (aligned, as
    `#[repr(C)]` lays it out: `np.dtype([...], align=True)`) and its Rust
    type name: same layout and fingerprint as the `#[derive(Message)]`
    struct with the same fields. `slice_of`: the element dtype of a
    trailing slice field named `slice_field` (a slice message).

    A `ctypes.Structure` class works too (its `_fields_`)."""
    dtype = _to_dtype(dtype)
    kind = _kind_of_dtype(dtype, name)
    if slice_of is not None:
        tag, sname, size, align, fields = kind
        elem = _kind_of_dtype(_to_dtype(slice_of))
        ealign = _to_dtype(slice_of).alignment
        align = max(align, ealign)
        off = -(-size // ealign) * ealign
        fields = fields + [(slice_field, off, ("slice", elem), False)]
        size = off
        kind = (tag, sname, size, align, fields)
    return _axon._custom_type(kind)


def _to_dtype(t):
    import ctypes

    if isinstance(t, type) and issubclass(t, ctypes.Structure):
        return np.dtype(t)
    return np.dtype(t)


def _as_type(t):
    if isinstance(t, MessageType):
        return t
    raise TypeError(f"expected an axon message type (axon.msgs.X or axon.message_type(...)), got {t!r}")


def _std():
    ns = types.SimpleNamespace()
    for type_name, ty in _axon._std_types():
        setattr(ns, type_name.rsplit("/", 1)[-1], ty)
    return ns


msgs = _std()
