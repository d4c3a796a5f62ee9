//! Services and work queues for Python: the core's description-typed
//! endpoints (`service::RawClient` / `RawServer`, `Node::raw_queue_producer`
//! / `raw_queue_worker`) behind Python classes. Requests, responses and jobs
//! are copied (one copy each way), unlike topic samples, which are numpy
//! views into their slots.
//!
//! Blocking calls release the GIL and check for signals (Ctrl-C) at least
//! every 20 ms: a call is withdrawn when interrupted, a receive just stops
//! waiting (nothing is taken).
//!
//! Bounds: a request, response or job is at most its type's size with the
//! endpoint's `max_len` trailing elements (checked against the segment);
//! a worker holds at most `prefetch` deliveries (the core refuses more).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axon::queue::{HeldDelivery, RawQueueProducer, RawQueueWorker, Settlement};
use axon::service::{RawClient, RawRequest, RawServer, RawServiceOptions};
use axon::{CallError, QueueRecvError, SendError, ServeError, TypeDesc};
use pyo3::create_exception;
use pyo3::exceptions::{PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::{axon_err, lock, AxonError, MessageType, PyNode, Shutdown, SIGNAL_SLICE};

create_exception!(
    _axon,
    ServerGone,
    AxonError,
    "The server died (or left) with the call in flight."
);
create_exception!(
    _axon,
    NoServer,
    AxonError,
    "No live server serves the service."
);
create_exception!(
    _axon,
    Full,
    AxonError,
    "No room: every slot is in use (nothing was sent)."
);

fn call_err(e: CallError) -> PyErr {
    match e {
        CallError::Timeout => PyTimeoutError::new_err(e.to_string()),
        CallError::ServerGone { .. } => ServerGone::new_err(e.to_string()),
        CallError::NoServer { .. } => NoServer::new_err(e.to_string()),
        CallError::Full { .. } => Full::new_err(e.to_string()),
        CallError::Shutdown => Shutdown::new_err(e.to_string()),
        e => axon_err(e),
    }
}

fn serve_err(e: ServeError) -> PyErr {
    match e {
        ServeError::Timeout => PyTimeoutError::new_err(e.to_string()),
        ServeError::Shutdown => Shutdown::new_err(e.to_string()),
        e => axon_err(e),
    }
}

fn send_err(e: SendError) -> PyErr {
    match e {
        SendError::Full { .. } => Full::new_err(e.to_string()),
        SendError::Timeout { .. } => PyTimeoutError::new_err(e.to_string()),
        SendError::Shutdown => Shutdown::new_err(e.to_string()),
        e => axon_err(e),
    }
}

fn recv_err(e: QueueRecvError) -> PyErr {
    match e {
        QueueRecvError::Timeout => PyTimeoutError::new_err(e.to_string()),
        QueueRecvError::Shutdown => Shutdown::new_err(e.to_string()),
        e => axon_err(e),
    }
}

/// `timeout` seconds as a deadline (`None`: forever).
fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        Some(t) if t.is_finite() && t >= 0.0 => {
            Ok(Some(Instant::now() + Duration::from_secs_f64(t.min(1e9))))
        }
        Some(t) if t.is_nan() || t < 0.0 => Err(PyValueError::new_err(
            "timeout must be >= 0 seconds or None",
        )),
        _ => Ok(None),
    }
}

/// The next wait slice before `deadline` (at most [`SIGNAL_SLICE`]).
fn slice(deadline: Option<Instant>) -> Duration {
    match deadline {
        Some(d) => d
            .saturating_duration_since(Instant::now())
            .min(SIGNAL_SLICE),
        None => SIGNAL_SLICE,
    }
}

/// Waits with the GIL released in slices of [`SIGNAL_SLICE`], checking
/// for signals between them; `attempt` returns `Ok(None)` when a slice
/// passed with nothing.
fn sliced<T: Send>(
    py: Python<'_>,
    timeout: Option<f64>,
    on_timeout: impl Fn() -> PyErr,
    attempt: impl Fn(Duration) -> PyResult<Option<T>> + Sync,
) -> PyResult<T> {
    let deadline = deadline(timeout)?;
    loop {
        let s = slice(deadline);
        if let Some(v) = py.detach(|| attempt(s))? {
            return Ok(v);
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(on_timeout());
        }
    }
}

/// `_client` and `_service`: the same keywords (a [`RawServiceOptions`])
/// make a `RawClient` or a `RawServer` and the class that holds it.
macro_rules! service_end {
    ($function:ident, $raw:ident, $class:ident) => {
        #[pyfunction]
        #[pyo3(signature = (node, name, req, resp, max_clients=None, max_in_flight=None, max_request_len=None, max_response_len=None))]
        #[allow(clippy::too_many_arguments)]
        fn $function(
            node: PyRef<'_, PyNode>,
            name: &str,
            req: &MessageType,
            resp: &MessageType,
            max_clients: Option<u32>,
            max_in_flight: Option<u32>,
            max_request_len: Option<usize>,
            max_response_len: Option<usize>,
        ) -> PyResult<$class> {
            let o = RawServiceOptions {
                max_clients,
                max_in_flight,
                max_request_len,
                max_response_len,
            };
            let raw = $raw::create(&node.node, name, &req.desc, &resp.desc, &o).map_err(axon_err)?;
            Ok($class {
                name: raw.name(),
                raw: Arc::new(Mutex::new(raw)),
                request_type: req.clone(),
                response_type: resp.clone(),
            })
        }
    };
}

service_end!(_client, RawClient, PyClient);
service_end!(_service, RawServer, PyServer);

#[pyfunction]
#[pyo3(signature = (node, name, ty, capacity=None, max_deliveries=None, max_len=None))]
fn _queue_producer(
    node: PyRef<'_, PyNode>,
    name: &str,
    ty: &MessageType,
    capacity: Option<u32>,
    max_deliveries: Option<u32>,
    max_len: Option<usize>,
) -> PyResult<PyProducer> {
    let mut b = node.node.raw_queue_producer(name);
    if let Some(n) = capacity {
        b = b.capacity(n);
    }
    if let Some(n) = max_deliveries {
        b = b.max_deliveries(n);
    }
    if let Some(n) = max_len {
        b = b.max_len(n);
    }
    let raw = b.create_raw(&ty.desc).map_err(axon_err)?;
    Ok(PyProducer {
        name: raw.name().to_string(),
        raw: Arc::new(Mutex::new(raw)),
        message_type: ty.clone(),
    })
}

#[pyfunction]
#[pyo3(signature = (node, name, ty, prefetch=1, capacity=None, max_deliveries=None, max_len=None, dead_letters=false))]
#[allow(clippy::too_many_arguments)]
fn _queue_worker(
    node: PyRef<'_, PyNode>,
    name: &str,
    ty: &MessageType,
    prefetch: u32,
    capacity: Option<u32>,
    max_deliveries: Option<u32>,
    max_len: Option<usize>,
    dead_letters: bool,
) -> PyResult<PyWorker> {
    let mut b = node.node.raw_queue_worker(name).prefetch(prefetch);
    if let Some(n) = capacity {
        b = b.capacity(n);
    }
    if let Some(n) = max_deliveries {
        b = b.max_deliveries(n);
    }
    if let Some(n) = max_len {
        b = b.max_len(n);
    }
    if dead_letters {
        b = b.dead_letters();
    }
    let raw = b.create_raw(&ty.desc).map_err(axon_err)?;
    Ok(PyWorker {
        name: raw.name().to_string(),
        raw: Arc::new(Mutex::new(raw)),
        message_type: ty.clone(),
    })
}

/// Whether `len` bytes are a whole `ty` with `elems` trailing elements.
fn check_whole(ty: &TypeDesc, len: usize, elems: u64) -> PyResult<()> {
    let want = ty
        .elem_size
        .checked_mul(elems)
        .and_then(|b| b.checked_add(ty.fixed_size));
    if want != Some(len as u64) {
        return Err(PyValueError::new_err(format!(
            "{len} bytes are not a {} with {elems} elements",
            ty.name
        )));
    }
    Ok(())
}

/// A wait slice's outcome for [`sliced`]: `Ok(None)` if it timed out.
fn slice_outcome<T, E>(
    r: Result<T, E>,
    timed_out: fn(&E) -> bool,
    err: fn(E) -> PyErr,
) -> PyResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if timed_out(&e) => Ok(None),
        Err(e) => Err(err(e)),
    }
}

/// Takes what a request or delivery holds until it is answered or settled
/// (once: a second time is an error saying it was already `done`).
fn take_once<T>(held: &Mutex<Option<T>>, done: &str) -> PyResult<T> {
    lock(held)?
        .take()
        .ok_or_else(|| AxonError::new_err(format!("this {done}")))
}

/// A client of a service with run-time types.
#[pyclass(frozen, module = "axon._axon")]
pub(crate) struct PyClient {
    raw: Arc<Mutex<RawClient>>,
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    request_type: MessageType,
    #[pyo3(get)]
    response_type: MessageType,
}

#[pymethods]
impl PyClient {
    #[getter]
    fn max_request_len(&self) -> PyResult<usize> {
        Ok(lock(&self.raw)?.max_request_len())
    }
    fn service_is_ready(&self) -> PyResult<bool> {
        Ok(lock(&self.raw)?.service_is_ready())
    }
    /// Calls with `request` (its whole bytes, `elems` trailing elements),
    /// waiting up to `timeout` seconds (`None`: a day) with the GIL
    /// released; Ctrl-C withdraws the call and raises KeyboardInterrupt.
    /// Returns the response's bytes and trailing elements.
    #[pyo3(signature = (request, elems, timeout=None))]
    fn _call<'py>(
        &self,
        py: Python<'py>,
        request: Vec<u8>,
        elems: u64,
        timeout: Option<f64>,
    ) -> PyResult<(Bound<'py, PyBytes>, u64)> {
        let wait = match deadline(timeout)? {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(86_400),
        };
        check_whole(&self.request_type.desc, request.len(), elems)?;
        let raw = self.raw.clone();
        let mut signal: Option<PyErr> = None;
        let r = py.detach(|| {
            let raw = raw.lock().map_err(|_| CallError::Shutdown)?;
            let mut interrupted = || {
                Python::attach(|py| match py.check_signals() {
                    Ok(()) => false,
                    Err(e) => {
                        signal = Some(e);
                        true
                    }
                })
            };
            raw.call_interruptible(&request, elems, wait, &mut interrupted)
        });
        if let Some(e) = signal {
            return Err(e);
        }
        let r = r.map_err(call_err)?;
        Ok((PyBytes::new(py, &r.bytes), r.elems))
    }
}

/// The server of a service with run-time types.
#[pyclass(frozen, module = "axon._axon")]
pub(crate) struct PyServer {
    raw: Arc<Mutex<RawServer>>,
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    request_type: MessageType,
    #[pyo3(get)]
    response_type: MessageType,
}

#[pymethods]
impl PyServer {
    #[getter]
    fn max_response_len(&self) -> PyResult<usize> {
        Ok(lock(&self.raw)?.max_response_len())
    }
    /// The next request if one is waiting (never blocks).
    fn try_recv_request(&self) -> PyResult<Option<PyRequest>> {
        let r = lock(&self.raw)?.try_recv_request().map_err(serve_err)?;
        Ok(r.map(|r| self.request(r)))
    }
    /// Waits up to `timeout` seconds (`None`: forever) for a request, with
    /// the GIL released, checking for Ctrl-C every 10 ms.
    #[pyo3(signature = (timeout=None))]
    fn recv_request(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<PyRequest> {
        let raw = self.raw.clone();
        let r = sliced(
            py,
            timeout,
            || serve_err(ServeError::Timeout),
            |s| {
                let r = lock(&raw)?.recv_request_timeout(Some(s));
                slice_outcome(r, |e| matches!(e, ServeError::Timeout), serve_err)
            },
        )?;
        Ok(self.request(r))
    }
}

impl PyServer {
    fn request(&self, r: RawRequest) -> PyRequest {
        PyRequest {
            server: self.raw.clone(),
            elems: r.elems,
            resp: self.response_type.desc.clone(),
            req: Mutex::new(Some(r)),
        }
    }
}

/// A request taken by a [`PyServer`]: its bytes, and `_reply`. Dropped
/// (garbage-collected) unanswered, it is declined.
#[pyclass(frozen, module = "axon._axon")]
pub(crate) struct PyRequest {
    server: Arc<Mutex<RawServer>>,
    req: Mutex<Option<RawRequest>>,
    elems: u64,
    resp: TypeDesc,
}

#[pymethods]
impl PyRequest {
    /// A copy of the request's bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let g = lock(&self.req)?;
        let r = g
            .as_ref()
            .ok_or_else(|| AxonError::new_err("this request was already answered"))?;
        Ok(PyBytes::new(py, &r.bytes))
    }
    #[getter]
    fn elems(&self) -> u64 {
        self.elems
    }
    #[getter]
    fn answered(&self) -> PyResult<bool> {
        Ok(lock(&self.req)?.is_none())
    }
    /// Answers with a response's whole bytes (`elems` trailing elements).
    fn _reply(&self, response: &[u8], elems: u64) -> PyResult<()> {
        check_whole(&self.resp, response.len(), elems)?;
        let r = take_once(&self.req, "request was already answered")?;
        lock(&self.server)?
            .reply(r, response, elems)
            .map_err(serve_err)
    }
    /// Declines the request (the caller gets `Declined`).
    fn decline(&self) -> PyResult<()> {
        let r = lock(&self.req)?.take();
        drop(r);
        Ok(())
    }
}

/// A producer of a work queue with a run-time job type.
#[pyclass(frozen, module = "axon._axon")]
pub(crate) struct PyProducer {
    raw: Arc<Mutex<RawQueueProducer>>,
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    message_type: MessageType,
}

#[pymethods]
impl PyProducer {
    #[getter]
    fn capacity(&self) -> PyResult<u32> {
        Ok(lock(&self.raw)?.capacity())
    }
    #[getter]
    fn max_len(&self) -> PyResult<usize> {
        Ok(lock(&self.raw)?.max_len())
    }
    fn __len__(&self) -> PyResult<usize> {
        Ok(lock(&self.raw)?.len())
    }
    /// Queues a job given as its whole bytes (`elems` trailing elements).
    /// `timeout=None`: `Full` at once if there is no room; otherwise waits
    /// up to `timeout` seconds for room (GIL released, Ctrl-C checked).
    #[pyo3(signature = (job, elems, timeout=None))]
    fn _send(
        &self,
        py: Python<'_>,
        job: Vec<u8>,
        elems: usize,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let Some(_) = timeout else {
            return lock(&self.raw)?
                .send_bytes(&job, elems, None)
                .map_err(send_err);
        };
        let raw = self.raw.clone();
        sliced(
            py,
            timeout,
            || Full::new_err(format!("timed out waiting for room in queue {}", self.name)),
            |s| {
                let r = lock(&raw)?.send_bytes(&job, elems, Some(s));
                slice_outcome(r, |e| matches!(e, SendError::Timeout { .. }), send_err)
            },
        )
    }
}

/// A worker of a work queue with a run-time job type.
#[pyclass(frozen, module = "axon._axon")]
pub(crate) struct PyWorker {
    raw: Arc<Mutex<RawQueueWorker>>,
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    message_type: MessageType,
}

#[pymethods]
impl PyWorker {
    fn __len__(&self) -> PyResult<usize> {
        Ok(lock(&self.raw)?.len())
    }
    /// The oldest waiting job, if any (never blocks).
    fn try_recv(&self) -> PyResult<Option<PyDelivery>> {
        let raw = lock(&self.raw)?;
        let d = raw.try_recv().map_err(recv_err)?;
        Ok(d.map(|d| self.delivery(&raw, d.detach())))
    }
    /// Waits up to `timeout` seconds (`None`: forever) for a job, with the
    /// GIL released, checking for Ctrl-C every 10 ms.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<PyDelivery> {
        let worker = self.raw.clone();
        sliced(
            py,
            timeout,
            || recv_err(QueueRecvError::Timeout),
            |s| {
                let raw = lock(&worker)?;
                let held = raw.recv_timeout(s).map(|d| d.detach());
                let held = slice_outcome(held, |e| matches!(e, QueueRecvError::Timeout), recv_err)?;
                Ok(held.map(|held| self.delivery(&raw, held)))
            },
        )
    }
}

impl PyWorker {
    fn delivery(&self, raw: &RawQueueWorker, held: HeldDelivery) -> PyDelivery {
        PyDelivery {
            bytes: raw.held_delivery_bytes(&held).to_vec(),
            elems: held.elems(),
            count: held.delivery_count(),
            worker: self.raw.clone(),
            held: Mutex::new(Some(held)),
        }
    }
}

/// A job a [`PyWorker`] holds (a copy of its bytes). Settle it with
/// `ack`, `nack` or `reject`; garbage-collected unsettled, it is requeued.
#[pyclass(frozen, module = "axon._axon")]
pub(crate) struct PyDelivery {
    worker: Arc<Mutex<RawQueueWorker>>,
    held: Mutex<Option<HeldDelivery>>,
    bytes: Vec<u8>,
    elems: usize,
    count: u32,
}

impl PyDelivery {
    fn settle(&self, how: Settlement) -> PyResult<bool> {
        let held = take_once(&self.held, "delivery was already settled")?;
        lock(&self.worker)?.settle_held(held, how).map_err(axon_err)
    }
}

impl Drop for PyDelivery {
    fn drop(&mut self) {
        let held = self.held.get_mut().ok().and_then(Option::take);
        if let (Some(held), Ok(w)) = (held, self.worker.lock()) {
            let _ = w.settle_held(held, Settlement::Nack);
        }
    }
}

#[pymethods]
impl PyDelivery {
    /// A copy of the job's bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }
    #[getter]
    fn elems(&self) -> usize {
        self.elems
    }
    /// How many times this job has been delivered, this time included.
    #[getter]
    fn delivery_count(&self) -> u32 {
        self.count
    }
    /// Whether an earlier delivery of this job was not acknowledged.
    #[getter]
    fn redelivered(&self) -> bool {
        self.count > 1
    }
    #[getter]
    fn settled(&self) -> PyResult<bool> {
        Ok(lock(&self.held)?.is_none())
    }
    /// Done: the job leaves the queue.
    fn ack(&self) -> PyResult<()> {
        self.settle(Settlement::Ack).map(|_| ())
    }
    /// Not done: back to the queue (redelivered), or to the dead letters
    /// after `max_deliveries`; returns whether it went to the dead letters.
    fn nack(&self) -> PyResult<bool> {
        self.settle(Settlement::Nack)
    }
    /// Never doable: to the dead letters.
    fn reject(&self) -> PyResult<()> {
        self.settle(Settlement::Reject).map(|_| ())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_client, m)?)?;
    m.add_function(wrap_pyfunction!(_service, m)?)?;
    m.add_function(wrap_pyfunction!(_queue_producer, m)?)?;
    m.add_function(wrap_pyfunction!(_queue_worker, m)?)?;
    m.add_class::<PyClient>()?;
    m.add_class::<PyServer>()?;
    m.add_class::<PyRequest>()?;
    m.add_class::<PyProducer>()?;
    m.add_class::<PyWorker>()?;
    m.add_class::<PyDelivery>()?;
    m.add("ServerGone", m.py().get_type::<ServerGone>())?;
    m.add("NoServer", m.py().get_type::<NoServer>())?;
    m.add("Full", m.py().get_type::<Full>())?;
    Ok(())
}
