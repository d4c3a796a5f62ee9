//! Services: request/response between nodes, zero-copy and crash-aware.
//!
//! ```no_run
//! # use axon::Node;
//! # use std::time::Duration;
//! #[axon::message]
//! #[derive(Debug, Clone, Copy)]
//! struct AddRequest { a: i64, b: i64 }
//! #[axon::message]
//! #[derive(Debug, Clone, Copy)]
//! struct AddResponse { sum: i64 }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::new("adder")?;
//! let server = node.service::<AddRequest, AddResponse>("/add").create()?;
//! let client = node.client::<AddRequest, AddResponse>("/add").create()?;
//! let pending = client.send(&AddRequest { a: 2, b: 3 })?;
//! let request = server.recv_request()?;
//! let sum = request.a + request.b;
//! request.reply(&AddResponse { sum })?;
//! assert_eq!(pending.wait(Duration::from_secs(1))?.sum, 5);
//! # Ok(()) }
//! ```
//!
//! A service is one shared-memory segment per name (`service_shm.rs`),
//! with at most one server and up to `max_clients` clients. Each client
//! owns `max_in_flight` slots; a request is written into one (in place,
//! with `loan_request`), the server reads it where it lies and writes the
//! response into the same slot, so the response reaches only its caller
//! and nothing is copied. The handshake per slot is in
//! `service_protocol.rs`, the rules in ARCHITECTURE.md ("Services").
//!
//! **Rules.**
//! - *One server per name.* A second server is refused with
//!   [`ServiceError::ServerExists`], naming the holder's pid and node. A
//!   restarted server takes over at once (its record is free when the old
//!   one died); requests the dead one held fail with
//!   [`CallError::ServerGone`], new ones are served.
//! - *Every request is answered at most once.* A [`Request`] dropped
//!   without a reply answers [`CallError::Declined`].
//! - *Backpressure.* A client with all its slots in flight gets
//!   [`CallError::Full`]; nothing is dropped silently.
//! - *Crash awareness.* A waiting call checks the server's OFD lock (one
//!   `F_OFD_GETLK`) at least every [`LIVENESS_SLICE`] and fails with
//!   `ServerGone` when the server that has (or was sent) its request died.
//!   A dead client's slots are reclaimed by the next client that claims its
//!   record; a server keeps no memory per request.
//! - Services always sleep on futex words (never semaphores), whatever
//!   the node's wake mechanism.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use axon_message::{desc::MAX_ENCODED, Description, Message, ViewMeta};

use crate::names::TopicName;
use crate::node::Node;
use crate::publisher::TypeDesc;
use crate::service_shm::{
    Answered, Poll, Posted, ServiceConfig, ServiceSegment, ServiceSpec, Shape, Taken,
};
pub use crate::service_shm::{ServiceError, MAX_CLIENTS, MAX_PAYLOAD, MAX_SLOTS};
/// The bytes of a service segment, for tools, tests and fuzzers that read
/// or forge one (`service_shm.rs` documents them).
pub mod layout {
    pub use crate::service_shm::{
        service_path, ClientRecord, Directory, ServerRecord, ServiceConfig, ServiceHeader,
        ServiceLayout, Shape, SlotHeader, MAGIC, MAX_TOTAL, SLOT_HEADER, VERSION,
    };
}
use crate::sync::Ordering;
use crate::wake::{handshake, wait_any, Word};

/// Clients a service allows unless told otherwise.
pub const DEFAULT_MAX_CLIENTS: u32 = 16;
/// Requests in flight per client unless told otherwise.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 4;
/// Longest a waiting call sleeps before it checks that its server lives.
pub const LIVENESS_SLICE: Duration = Duration::from_millis(20);
/// Polls of [`Pending::try_recv`] between two server liveness checks.
const POLLS_PER_CHECK: u32 = 1024;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No server has ever served this name (`wait_for_service` first).
    #[error("service {service} has no server")]
    NoServer {
        /// The service.
        service: String,
    },
    /// Every slot of this client is in flight.
    #[error("service {service}: all {max} requests of this client are in flight (max_in_flight)")]
    Full {
        /// The service.
        service: String,
        /// The client's slots.
        max: u32,
    },
    /// No response before the deadline (the request stays in flight; the
    /// `Pending` may be waited on again).
    #[error("timed out waiting for the response")]
    Timeout,
    /// The server that had (or was sent) the request exited or died.
    #[error("service {service}: the server is gone (exited or died) before answering")]
    ServerGone {
        /// The service.
        service: String,
    },
    /// The server dropped the request without answering it.
    #[error("service {service}: the server declined the request (dropped it unanswered)")]
    Declined {
        /// The service.
        service: String,
    },
    /// A response that does not fit the response type (a hostile segment).
    #[error("service {service}: corrupted response: {reason}")]
    Corrupted {
        /// The service.
        service: String,
        /// What was wrong.
        reason: String,
    },
    /// A slice longer than the service allows.
    #[error("{len} elements, but the service allows at most {max}")]
    TooLong {
        /// Asked for.
        len: usize,
        /// Allowed.
        max: usize,
    },
    /// The node's shutdown was requested while waiting.
    #[error("shutdown requested")]
    Shutdown,
    /// This `Pending` already returned its response or its final error.
    #[error("this call already returned its response or its error")]
    Finished,
    /// The segment was truncated by another process while mapped.
    #[error("service {service}: {}", crate::error::TRUNCATED)]
    SegmentTruncated {
        /// The service.
        service: String,
    },
    /// The operating system refused to sleep.
    #[error("waiting failed: {0}")]
    Os(#[from] std::io::Error),
}

/// Why a server's receive or reply failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// No request before the deadline.
    #[error("timed out waiting for a request")]
    Timeout,
    /// The node's shutdown was requested while waiting.
    #[error("shutdown requested")]
    Shutdown,
    /// A slice longer than the service allows.
    #[error("{len} elements, but the service allows at most {max}")]
    TooLong {
        /// Asked for.
        len: usize,
        /// Allowed.
        max: usize,
    },
    /// The segment was truncated by another process while mapped.
    #[error("service {service}: {}", crate::error::TRUNCATED)]
    SegmentTruncated {
        /// The service.
        service: String,
    },
    /// The operating system refused to sleep.
    #[error("waiting failed: {0}")]
    Os(#[from] std::io::Error),
    /// A raw response whose bytes are not a whole value of the type.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, Default)]
struct Options {
    max_clients: Option<u32>,
    max_in_flight: Option<u32>,
    max_request_len: Option<usize>,
    max_response_len: Option<usize>,
}

macro_rules! options {
    () => {
        /// Most clients the service allows, if this creates it (at most
        /// [`MAX_CLIENTS`]); explicit: refused if the service has fewer.
        pub fn max_clients(mut self, n: u32) -> Self {
            self.opts.max_clients = Some(n);
            self
        }
        /// Requests in flight per client, if this creates it (at most
        /// [`MAX_SLOTS`]); explicit: refused if the service has fewer. A
        /// client uses this many of its slots even if the service has more.
        pub fn max_in_flight(mut self, n: u32) -> Self {
            self.opts.max_in_flight = Some(n);
            self
        }
        /// Most trailing elements of a slice request.
        pub fn max_request_len(mut self, n: usize) -> Self {
            self.opts.max_request_len = Some(n);
            self
        }
        /// Most trailing elements of a slice response.
        pub fn max_response_len(mut self, n: usize) -> Self {
            self.opts.max_response_len = Some(n);
            self
        }
    };
}

fn shape<T: Message + ?Sized>(
    max_len: Option<usize>,
) -> Result<(Shape, Option<Vec<u8>>), ServiceError> {
    let d = TypeDesc::of::<T>();
    crate::node::check_alignment::<T>(&d).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    shape_of(&d, max_len)
}

/// The segment's record of a type known at run time (raw endpoints).
fn shape_of(
    d: &TypeDesc,
    max_len: Option<usize>,
) -> Result<(Shape, Option<Vec<u8>>), ServiceError> {
    let mut name = [0u8; 128];
    if d.name.len() > name.len() {
        return Err(ServiceError::Invalid(format!(
            "type name {} is longer than 128 bytes",
            d.name
        )));
    }
    name[..d.name.len()].copy_from_slice(d.name.as_bytes());
    let description = d
        .description
        .as_ref()
        .map(Description::encode)
        .filter(|e| e.len() <= MAX_ENCODED);
    let max_elems = if d.elem_size == 0 {
        0
    } else {
        max_len.map(|n| n as u64).unwrap_or_else(|| {
            (crate::qos::DEFAULT_SLICE_BYTES as u64)
                .checked_div(d.elem_size)
                .unwrap_or(0)
        })
    };
    Ok((
        Shape {
            name,
            name_len: d.name.len() as u32,
            description_len: description.as_ref().map_or(0, |e| e.len() as u32),
            fingerprint: d.fingerprint,
            fixed_size: d.fixed_size,
            elem_size: d.elem_size,
            max_elems,
        },
        description,
    ))
}

fn spec<Req: Message + ?Sized, Resp: Message + ?Sized>(
    name: TopicName,
    o: &Options,
) -> Result<ServiceSpec, ServiceError> {
    let request = shape::<Req>(o.max_request_len)?;
    let response = shape::<Resp>(o.max_response_len)?;
    Ok(spec_of(name, request, response, o))
}

fn spec_of(
    name: TopicName,
    (request, rd): (Shape, Option<Vec<u8>>),
    (response, pd): (Shape, Option<Vec<u8>>),
    o: &Options,
) -> ServiceSpec {
    let mut n = [0u8; 256];
    n[..name.as_str().len()].copy_from_slice(name.as_str().as_bytes());
    let config = ServiceConfig {
        name: n,
        name_len: name.as_str().len() as u32,
        max_clients: o.max_clients.unwrap_or(DEFAULT_MAX_CLIENTS),
        slots_per_client: o.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
        reserved: 0,
        request,
        response,
    };
    ServiceSpec {
        name,
        config,
        descriptions: (rd, pd),
        explicit_clients: o.max_clients.is_some(),
        explicit_slots: o.max_in_flight.is_some(),
        explicit_request_len: o.max_request_len.is_some(),
        explicit_response_len: o.max_response_len.is_some(),
    }
}

/// Configures a [`Server`]; `create()` opens the service and claims its
/// server record.
#[derive(Debug)]
pub struct ServiceBuilder<'n, Req: Message + ?Sized, Resp: Message + ?Sized> {
    node: &'n Node,
    name: String,
    opts: Options,
    _types: PhantomData<fn(&Req, &Resp)>,
}

impl<'n, Req: Message + ?Sized, Resp: Message + ?Sized> ServiceBuilder<'n, Req, Resp> {
    pub(crate) fn new(node: &'n Node, name: &str) -> Self {
        ServiceBuilder {
            node,
            name: name.to_string(),
            opts: Options::default(),
            _types: PhantomData,
        }
    }

    options!();

    /// Opens (or creates) the service and becomes its server.
    pub fn create(self) -> Result<Server<Req, Resp>, ServiceError> {
        let name = self.node.resolve(&self.name)?;
        let spec = spec::<Req, Resp>(name, &self.opts)?;
        let seg = ServiceSegment::open_or_create(self.node.domain(), &spec)?;
        let claimed = seg.claim_server(self.node.name());
        seg.joined();
        let epoch = claimed?;
        Ok(Server {
            seg,
            epoch,
            next: Cell::new(0),
            corrupt: Cell::new(0),
            _types: PhantomData,
        })
    }
}

/// Configures a [`Client`]; `create()` opens the service and claims a
/// client record.
#[derive(Debug)]
pub struct ClientBuilder<'n, Req: Message + ?Sized, Resp: Message + ?Sized> {
    node: &'n Node,
    name: String,
    opts: Options,
    _types: PhantomData<fn(&Req, &Resp)>,
}

impl<'n, Req: Message + ?Sized, Resp: Message + ?Sized> ClientBuilder<'n, Req, Resp> {
    pub(crate) fn new(node: &'n Node, name: &str) -> Self {
        ClientBuilder {
            node,
            name: name.to_string(),
            opts: Options::default(),
            _types: PhantomData,
        }
    }

    options!();

    /// Opens (or creates) the service and becomes one of its clients.
    /// Works before the server exists ([`Client::wait_for_service`]).
    pub fn create(self) -> Result<Client<Req, Resp>, ServiceError> {
        let name = self.node.resolve(&self.name)?;
        let spec = spec::<Req, Resp>(name, &self.opts)?;
        let seg = ServiceSegment::open_or_create(self.node.domain(), &spec)?;
        let claimed = seg.claim_client(self.node.name());
        seg.joined();
        let (index, held) = claimed?;
        let slots = seg.config.slots_per_client;
        Ok(Client {
            limit: self.opts.max_in_flight.map_or(slots, |n| n.min(slots)) as usize,
            seg,
            index,
            in_use: Cell::new(held),
            abandoned: Cell::new(held),
            calls: Cell::new(0),
            _types: PhantomData,
        })
    }
}

// ------------------------------------------------------------------ server

/// The server of a service: receives requests and answers them, in any
/// order, several at a time. Not `Sync`: one thread serves.
#[derive(Debug)]
pub struct Server<Req: Message + ?Sized, Resp: Message + ?Sized> {
    seg: ServiceSegment,
    epoch: u32,
    next: Cell<usize>,
    corrupt: Cell<u64>,
    _types: PhantomData<fn(&Req, &Resp)>,
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Server<Req, Resp> {
    /// The service's name.
    pub fn name(&self) -> String {
        self.seg.name()
    }

    /// Requests refused unread because their element count did not fit
    /// (only a hostile or corrupted segment makes them).
    pub fn corrupt(&self) -> u64 {
        self.corrupt.get()
    }

    /// Most trailing elements of a slice response.
    pub fn max_response_len(&self) -> usize {
        self.seg.config.response.max_elems as usize
    }

    /// The next posted request, if any; never blocks.
    pub fn try_recv_request(&self) -> Result<Option<Request<'_, Req, Resp>>, ServeError> {
        if self.seg.poisoned() {
            return Err(ServeError::SegmentTruncated {
                service: self.name(),
            });
        }
        let cfg = &self.seg.config.request;
        let cap = self.seg.layout.request_capacity;
        let n = (self.seg.config.max_clients * self.seg.config.slots_per_client) as usize;
        for _ in 0..n {
            let Some((taken, next)) = self.seg.take_next(self.epoch, self.next.get()) else {
                return Ok(None);
            };
            self.next.set(next);
            let elems = taken.elems;
            let fits = elems <= cfg.max_elems
                && <Req::PointerMetadata as ViewMeta>::size_for::<Req>(elems as usize)
                    .is_some_and(|len| len <= cap);
            if fits {
                return Ok(Some(Request {
                    server: self,
                    taken: Some(taken),
                }));
            }
            self.corrupt.set(self.corrupt.get() + 1);
            self.seg.answer(taken, None);
        }
        Ok(None)
    }

    /// Waits for the next request (until shutdown).
    pub fn recv_request(&self) -> Result<Request<'_, Req, Resp>, ServeError> {
        self.wait(None)
    }

    /// Waits for the next request at most `timeout`.
    pub fn recv_request_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Request<'_, Req, Resp>, ServeError> {
        self.wait(Some(timeout))
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<Request<'_, Req, Resp>, ServeError> {
        wait_for_request(&self.seg, timeout, || self.try_recv_request())
    }

    /// Whether a request is waiting (cheap: no system call).
    pub fn has_request(&self) -> bool {
        self.seg.has_request()
    }

    pub(crate) fn segment(&self) -> &ServiceSegment {
        &self.seg
    }
}

fn sleep(
    word: &crate::sync::AtomicU32,
    token: u32,
    shutdown: u32,
    until: u64,
) -> std::io::Result<()> {
    wait_any(
        &[
            Word {
                word,
                expected: token,
                private: false,
            },
            Word {
                word: crate::shutdown::word(),
                expected: shutdown,
                private: true,
            },
        ],
        until,
    )
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Drop for Server<Req, Resp> {
    fn drop(&mut self) {
        self.seg.release_server();
    }
}

/// A request the server took: read it where it lies (`Deref`), then
/// answer with [`Request::reply`] or [`Request::loan_reply`]. Dropped
/// unanswered, it answers [`CallError::Declined`].
#[derive(Debug)]
pub struct Request<'s, Req: Message + ?Sized, Resp: Message + ?Sized> {
    server: &'s Server<Req, Resp>,
    taken: Option<Taken>,
}

impl<'s, Req: Message + ?Sized, Resp: Message + ?Sized> Request<'s, Req, Resp> {
    fn taken(&self) -> &Taken {
        self.taken
            .as_ref()
            .expect("a request holds its slot until answered")
    }

    /// Which client record sent it (0-based; for logs).
    pub fn client(&self) -> usize {
        self.taken().client()
    }

    /// Loans the response in place (zero-copy): fill it, then `send`.
    pub fn loan_reply(mut self) -> ReplyLoan<'s, Req, Resp>
    where
        Resp: Sized,
    {
        ReplyLoan {
            server: self.server,
            taken: self.taken.take(),
            elems: 0,
        }
    }

    /// Loans a slice response with `len` trailing elements.
    pub fn loan_reply_slice(mut self, len: usize) -> Result<ReplyLoan<'s, Req, Resp>, ServeError>
    where
        Resp: zerocopy::KnownLayout<PointerMetadata = usize>,
    {
        let max = self.server.max_response_len();
        if len > max {
            return Err(ServeError::TooLong { len, max });
        }
        Ok(ReplyLoan {
            server: self.server,
            taken: self.taken.take(),
            elems: len,
        })
    }

    /// Answers with a copy of `response`.
    pub fn reply(self, response: &Resp) -> Result<(), ServeError>
    where
        Resp: Sized + zerocopy::IntoBytes,
    {
        let mut loan = self.loan_reply();
        let bytes = zerocopy::IntoBytes::as_bytes(response);
        loan.bytes_mut()[..bytes.len()].copy_from_slice(bytes);
        loan.send();
        Ok(())
    }
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Deref for Request<'_, Req, Resp> {
    type Target = Req;
    fn deref(&self) -> &Req {
        let t = self.taken();
        <Req::PointerMetadata as ViewMeta>::view::<Req>(
            self.server.seg.request(t),
            t.elems as usize,
        )
        .expect("checked when taken: the count fits the slot, which is 32-aligned")
    }
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Drop for Request<'_, Req, Resp> {
    fn drop(&mut self) {
        if let Some(t) = self.taken.take() {
            self.server.seg.answer(t, None);
        }
    }
}

/// A response being written in place; `send` answers the request.
/// Dropped unsent, the request is declined.
#[derive(Debug)]
pub struct ReplyLoan<'s, Req: Message + ?Sized, Resp: Message + ?Sized> {
    server: &'s Server<Req, Resp>,
    taken: Option<Taken>,
    elems: usize,
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> ReplyLoan<'_, Req, Resp> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        let t = self
            .taken
            .as_mut()
            .expect("a loan holds its slot until sent");
        self.server.seg.response_mut(t)
    }

    /// Answers the request with the response as written.
    pub fn send(mut self) {
        if let Some(t) = self.taken.take() {
            self.server.seg.answer(t, Some(self.elems as u64));
        }
    }
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Deref for ReplyLoan<'_, Req, Resp> {
    type Target = Resp;
    fn deref(&self) -> &Resp {
        let t = self
            .taken
            .as_ref()
            .expect("a loan holds its slot until sent");
        let bytes = self.server.seg.response_view(t);
        <Resp::PointerMetadata as ViewMeta>::view::<Resp>(bytes, self.elems)
            .expect("the slot is sized and 32-aligned for the response")
    }
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> DerefMut for ReplyLoan<'_, Req, Resp> {
    fn deref_mut(&mut self) -> &mut Resp {
        let elems = self.elems;
        axon_message::view_mut::<Resp>(self.bytes_mut(), elems)
            .expect("the slot is sized and 32-aligned for the response")
    }
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Drop for ReplyLoan<'_, Req, Resp> {
    fn drop(&mut self) {
        if let Some(t) = self.taken.take() {
            self.server.seg.answer(t, None);
        }
    }
}

// ------------------------------------------------------------------ client

/// A client of a service: sends requests, up to `max_in_flight` at once,
/// and receives each response in place. Not `Sync`: one thread calls.
#[derive(Debug)]
pub struct Client<Req: Message + ?Sized, Resp: Message + ?Sized> {
    seg: ServiceSegment,
    index: usize,
    /// Slots this client uses: its `max_in_flight`, at most the service's.
    limit: usize,
    /// Slots loaned, posted or answered and not yet read (bit per slot).
    in_use: Cell<u64>,
    /// Slots given up while a live server held them: free once answered.
    abandoned: Cell<u64>,
    calls: Cell<u64>,
    _types: PhantomData<fn(&Req, &Resp)>,
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Client<Req, Resp> {
    /// The service's name.
    pub fn name(&self) -> String {
        self.seg.name()
    }

    /// Whether a live server serves the name now (one `F_OFD_GETLK`).
    pub fn service_is_ready(&self) -> bool {
        self.seg.server_epoch().is_some()
    }

    /// Waits until a live server serves the name, at most `timeout`.
    pub fn wait_for_service(&self, timeout: Duration) -> Result<(), CallError> {
        let deadline = crate::sys::monotonic_ns().saturating_add(timeout.as_nanos() as u64);
        loop {
            if self.service_is_ready() {
                return Ok(());
            }
            if crate::shutdown::requested() {
                return Err(CallError::Shutdown);
            }
            let now = crate::sys::monotonic_ns();
            if now >= deadline {
                return Err(CallError::Timeout);
            }
            std::thread::sleep(Duration::from_nanos((deadline - now).min(5_000_000)));
        }
    }

    /// Most trailing elements of a slice request.
    pub fn max_request_len(&self) -> usize {
        self.seg.config.request.max_elems as usize
    }

    /// Requests in flight this client allows (its own `max_in_flight`,
    /// at most the service's).
    pub fn max_in_flight(&self) -> u32 {
        self.limit as u32
    }

    fn loan_slot(&self, elems: usize) -> Result<RequestLoan<'_, Req, Resp>, CallError> {
        if self.seg.poisoned() {
            return Err(CallError::SegmentTruncated {
                service: self.name(),
            });
        }
        let k = self.limit;
        let in_use = self.in_use.get();
        for s in (0..k).filter(|s| in_use & (1 << s) == 0) {
            if let Some(loaned) = self.seg.loan(self.index, s) {
                self.in_use.set(self.in_use.get() | 1 << s);
                return Ok(RequestLoan {
                    client: self,
                    loaned: Some((loaned, s)),
                    elems,
                });
            }
        }
        let abandoned = self.abandoned.get();
        if abandoned != 0 {
            let live = self.seg.server_epoch();
            for s in (0..k).filter(|s| abandoned & (1 << s) != 0) {
                if self.seg.reclaim(self.index, s, live) {
                    self.abandoned.set(self.abandoned.get() & !(1 << s));
                    self.in_use.set(self.in_use.get() & !(1 << s));
                }
            }
            if self.abandoned.get() != abandoned {
                return self.loan_slot(elems);
            }
        }
        Err(CallError::Full {
            service: self.name(),
            max: k as u32,
        })
    }

    /// Loans a request slot to write a request in place.
    pub fn loan_request(&self) -> Result<RequestLoan<'_, Req, Resp>, CallError>
    where
        Req: Sized,
    {
        self.loan_slot(0)
    }

    /// Loans a request slot for a slice request of `len` elements.
    pub fn loan_request_slice(&self, len: usize) -> Result<RequestLoan<'_, Req, Resp>, CallError>
    where
        Req: zerocopy::KnownLayout<PointerMetadata = usize>,
    {
        let max = self.max_request_len();
        if len > max {
            return Err(CallError::TooLong { len, max });
        }
        self.loan_slot(len)
    }

    /// Sends a copy of `request`; the response comes through the `Pending`.
    pub fn send(&self, request: &Req) -> Result<Pending<'_, Req, Resp>, CallError>
    where
        Req: Sized + zerocopy::IntoBytes,
    {
        let mut loan = self.loan_request()?;
        let bytes = zerocopy::IntoBytes::as_bytes(request);
        loan.bytes_mut()[..bytes.len()].copy_from_slice(bytes);
        loan.send()
    }

    /// Sends `request` and waits for its response at most `timeout`.
    pub fn call(
        &self,
        request: &Req,
        timeout: Duration,
    ) -> Result<Response<'_, Req, Resp>, CallError>
    where
        Req: Sized + zerocopy::IntoBytes,
    {
        self.send(request)?.wait(timeout)
    }

    fn give_up(&self, posted: Posted) {
        let s = posted.slot();
        match self.seg.abandon(posted) {
            None => self.in_use.set(self.in_use.get() & !(1 << s)),
            Some(_) => self.abandoned.set(self.abandoned.get() | 1 << s),
        }
    }
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Drop for Client<Req, Resp> {
    fn drop(&mut self) {
        self.seg.release_client(self.index);
    }
}

/// A request being written in place; `send` posts it.
#[derive(Debug)]
pub struct RequestLoan<'c, Req: Message + ?Sized, Resp: Message + ?Sized> {
    client: &'c Client<Req, Resp>,
    loaned: Option<(crate::service_shm::Loaned, usize)>,
    elems: usize,
}

impl<'c, Req: Message + ?Sized, Resp: Message + ?Sized> RequestLoan<'c, Req, Resp> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        let (l, _) = self
            .loaned
            .as_mut()
            .expect("a loan holds its slot until sent");
        self.client.seg.request_mut(l)
    }

    /// Posts the request to the service's server.
    pub fn send(mut self) -> Result<Pending<'c, Req, Resp>, CallError> {
        let (loaned, s) = self
            .loaned
            .take()
            .expect("a loan holds its slot until sent");
        let c = self.client;
        let epoch = c.seg.server().epoch.load(Ordering::Acquire) as u32;
        if epoch == 0 {
            c.seg.unloan(loaned);
            c.in_use.set(c.in_use.get() & !(1 << s));
            return Err(CallError::NoServer { service: c.name() });
        }
        let call = c.calls.get() + 1;
        c.calls.set(call);
        c.seg.client(c.index).calls.store(call, Ordering::Relaxed);
        let posted = c.seg.post(loaned, self.elems as u64, call, epoch);
        Ok(Pending {
            client: c,
            posted: Cell::new(Some(posted)),
            polls: Cell::new(0),
            recheck: Cell::new(false),
        })
    }

    /// Posts the request and waits for its response at most `timeout`.
    pub fn call(self, timeout: Duration) -> Result<Response<'c, Req, Resp>, CallError> {
        self.send()?.wait(timeout)
    }
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Deref for RequestLoan<'_, Req, Resp> {
    type Target = Req;
    fn deref(&self) -> &Req {
        let (l, _) = self
            .loaned
            .as_ref()
            .expect("a loan holds its slot until sent");
        <Req::PointerMetadata as ViewMeta>::view::<Req>(self.client.seg.request_view(l), self.elems)
            .expect("the slot is sized and 32-aligned for the request")
    }
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> DerefMut for RequestLoan<'_, Req, Resp> {
    fn deref_mut(&mut self) -> &mut Req {
        let elems = self.elems;
        axon_message::view_mut::<Req>(self.bytes_mut(), elems)
            .expect("the slot is sized and 32-aligned for the request")
    }
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Drop for RequestLoan<'_, Req, Resp> {
    fn drop(&mut self) {
        if let Some((l, s)) = self.loaned.take() {
            self.client.seg.unloan(l);
            self.client.in_use.set(self.client.in_use.get() & !(1 << s));
        }
    }
}

/// A request in flight: poll it ([`Pending::try_recv`]), wait for it
/// ([`Pending::wait`]), or add it to a wait set
/// ([`WaitSet::pending`](crate::WaitSet::pending)). Dropped, the request is cancelled if the server
/// has not taken it, and its answer is thrown away otherwise.
pub struct Pending<'c, Req: Message + ?Sized, Resp: Message + ?Sized> {
    client: &'c Client<Req, Resp>,
    posted: Cell<Option<Posted>>,
    polls: Cell<u32>,
    /// A wait set saw the server die: the next `try_recv` checks at once.
    recheck: Cell<bool>,
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> std::fmt::Debug for Pending<'_, Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.posted.take();
        let slot = p.as_ref().map(Posted::slot);
        self.posted.set(p);
        f.debug_struct("Pending")
            .field("service", &self.service())
            .field("slot", &slot)
            .finish()
    }
}

impl<'c, Req: Message + ?Sized, Resp: Message + ?Sized> Pending<'c, Req, Resp> {
    fn service(&self) -> String {
        self.client.name()
    }

    /// The response if it is there; never blocks. Every 1024th poll (and
    /// the first after a wait set reported [`Event::ServerGone`] for it)
    /// also checks that the server lives (`ServerGone`).
    ///
    /// [`Event::ServerGone`]: crate::Event::ServerGone
    pub fn try_recv(&self) -> Result<Option<Response<'c, Req, Resp>>, CallError> {
        let polls = self.polls.get().wrapping_add(1);
        self.polls.set(polls);
        let r = self.poll_once()?;
        if r.is_none() && (polls % POLLS_PER_CHECK == 0 || self.recheck.take()) {
            self.check_server()?;
        }
        Ok(r)
    }

    /// The client record whose word and sleeper bit a waiter uses.
    pub(crate) fn client_record(&self) -> &'c crate::service_shm::ClientRecord {
        self.client.seg.client(self.client.index)
    }

    /// Whether the call is answered (or declined) now; no system call.
    pub(crate) fn answered_now(&self) -> bool {
        let p = self.posted.take();
        let r = p.as_ref().is_some_and(|p| self.client.seg.is_answered(p));
        self.posted.set(p);
        r
    }

    /// Whether the server that has (or was sent) the call died (one
    /// `F_OFD_GETLK`); if so the next `try_recv` reports it.
    pub(crate) fn server_died(&self) -> bool {
        let p = self.posted.take();
        let gone = p.as_ref().is_some_and(|p| self.client.seg.server_gone(p));
        self.posted.set(p);
        if gone {
            self.recheck.set(true);
        }
        gone
    }

    fn poll_once(&self) -> Result<Option<Response<'c, Req, Resp>>, CallError> {
        let c = self.client;
        if c.seg.poisoned() {
            return Err(CallError::SegmentTruncated {
                service: self.service(),
            });
        }
        let Some(posted) = self.posted.take() else {
            return Err(CallError::Finished);
        };
        match c.seg.poll(posted) {
            Poll::Waiting(p) => {
                self.posted.set(Some(p));
                Ok(None)
            }
            Poll::Answered(a) => self.answered(a).map(Some),
        }
    }

    fn answered(&self, a: Answered) -> Result<Response<'c, Req, Resp>, CallError> {
        let c = self.client;
        let cfg = &c.seg.config.response;
        let bad = if a.declined {
            Some(CallError::Declined {
                service: self.service(),
            })
        } else if a.elems > cfg.max_elems
            || <Resp::PointerMetadata as ViewMeta>::size_for::<Resp>(a.elems as usize)
                .is_none_or(|n| n > c.seg.layout.response_capacity)
        {
            Some(CallError::Corrupted {
                service: self.service(),
                reason: format!(
                    "response of {} elements, the service allows {}",
                    a.elems, cfg.max_elems
                ),
            })
        } else {
            None
        };
        if let Some(e) = bad {
            let s = a.slot();
            c.seg.finish(a);
            c.in_use.set(c.in_use.get() & !(1 << s));
            return Err(e);
        }
        Ok(Response {
            client: c,
            answered: Some(a),
        })
    }

    fn check_server(&self) -> Result<(), CallError> {
        let p = self.posted.take();
        let gone = p.as_ref().is_some_and(|p| self.client.seg.server_gone(p));
        self.posted.set(p);
        if gone {
            // Answered just before it died? Take the answer.
            if let Some(r) = self.poll_once()? {
                drop(r);
            }
            if let Some(p) = self.posted.take() {
                self.client.give_up(p);
            }
            return Err(CallError::ServerGone {
                service: self.service(),
            });
        }
        Ok(())
    }

    /// Waits for the response at most `timeout`, sleeping on the client's
    /// futex word; checks the server's liveness every [`LIVENESS_SLICE`].
    /// On `Timeout` the call is given up ([`Pending::wait_mut`] keeps it).
    pub fn wait(mut self, timeout: Duration) -> Result<Response<'c, Req, Resp>, CallError> {
        self.wait_mut(timeout)
    }

    /// [`Pending::wait`] without giving the call up: after `Timeout` it is
    /// still in flight (wait again, poll, or drop).
    pub fn wait_mut(&mut self, timeout: Duration) -> Result<Response<'c, Req, Resp>, CallError> {
        let deadline = crate::sys::monotonic_ns().saturating_add(timeout.as_nanos() as u64);
        let rec = self.client.seg.client(self.client.index);
        let mut next_check = 0u64;
        loop {
            if let Some(r) = self.poll_once()? {
                return Ok(r);
            }
            let now = crate::sys::monotonic_ns();
            if now >= next_check {
                self.check_server()?;
                next_check = now + LIVENESS_SLICE.as_nanos() as u64;
            }
            if crate::shutdown::requested() {
                return Err(CallError::Shutdown);
            }
            if now >= deadline {
                return Err(CallError::Timeout);
            }
            let token = handshake::token(&rec.word);
            let shutdown = crate::shutdown::token();
            handshake::announce(&rec.sleepers, 1);
            if let Some(r) = self.poll_once()? {
                handshake::retract(&rec.sleepers, 1);
                return Ok(r);
            }
            let slept = sleep(&rec.word, token, shutdown, deadline.min(next_check));
            handshake::retract(&rec.sleepers, 1);
            if slept.is_err() && !self.client.seg.check_intact() {
                return Err(CallError::SegmentTruncated {
                    service: self.service(),
                });
            }
            slept?;
        }
    }
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Drop for Pending<'_, Req, Resp> {
    fn drop(&mut self) {
        if let Some(p) = self.posted.get_mut().take() {
            self.client.give_up(p);
        }
    }
}

/// A response, read where the server wrote it (`Deref`). Dropping it
/// frees the client's slot.
#[derive(Debug)]
pub struct Response<'c, Req: Message + ?Sized, Resp: Message + ?Sized> {
    client: &'c Client<Req, Resp>,
    answered: Option<Answered>,
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Deref for Response<'_, Req, Resp> {
    type Target = Resp;
    fn deref(&self) -> &Resp {
        let a = self
            .answered
            .as_ref()
            .expect("a response holds its slot until dropped");
        <Resp::PointerMetadata as ViewMeta>::view::<Resp>(
            self.client.seg.response(a),
            a.elems as usize,
        )
        .expect("checked on arrival: the count fits the slot, which is 32-aligned")
    }
}

impl<Req: Message + ?Sized, Resp: Message + ?Sized> Drop for Response<'_, Req, Resp> {
    fn drop(&mut self) {
        if let Some(a) = self.answered.take() {
            let s = a.slot();
            self.client.seg.finish(a);
            self.client.in_use.set(self.client.in_use.get() & !(1 << s));
        }
    }
}

// ------------------------------------------------------------------ tools

/// A participant of a service, as tools see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantReport {
    /// Its record index (clients) or 0 (the server).
    pub index: usize,
    /// Its pid (display only).
    pub pid: u32,
    /// Its node.
    pub node: String,
    /// Whether a live process holds the record (`F_OFD_GETLK`).
    pub alive: bool,
    /// Requests answered (server) or sent (client).
    pub count: u64,
    /// Requests of this client posted or being served now (clients).
    pub in_flight: u32,
}

/// What tools see of a service: read-only, never claims a record.
#[derive(Debug, Clone)]
pub struct ServiceReport {
    /// The service's name.
    pub name: String,
    /// Request type name and fingerprint.
    pub request_type: (String, u64),
    /// Response type name and fingerprint.
    pub response_type: (String, u64),
    /// Their descriptions, when the creator wrote them.
    pub descriptions: (
        Option<std::sync::Arc<Description>>,
        Option<std::sync::Arc<Description>>,
    ),
    /// Most trailing elements of a slice request / response.
    pub max_lens: (u64, u64),
    /// Client records and slots per client.
    pub max_clients: u32,
    /// Requests in flight per client.
    pub max_in_flight: u32,
    /// The live server, if any.
    pub server: Option<ParticipantReport>,
    /// Client records that were claimed (alive or dead).
    pub clients: Vec<ParticipantReport>,
}

/// Reads the service `name` of `domain` for tools.
pub fn inspect(domain: &crate::Domain, name: &TopicName) -> Result<ServiceReport, ServiceError> {
    let path = crate::service_shm::service_path(domain, name);
    let seg = ServiceSegment::open_read_only(&path)?;
    let c = &seg.config;
    let rec = seg.server();
    let server = seg.server_epoch().map(|_| ParticipantReport {
        index: 0,
        pid: rec.pid.load(Ordering::Relaxed),
        node: rec.node.get(),
        alive: true,
        count: rec.served.load(Ordering::Relaxed),
        in_flight: 0,
    });
    let mask = seg.directory().clients.load(Ordering::Acquire);
    let clients = (0..c.max_clients as usize)
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| {
            let r = seg.client(i);
            let in_flight = (0..c.slots_per_client as usize)
                .filter(|s| {
                    let st = crate::service_protocol::state_of(
                        seg.slot(i, *s).state.load(Ordering::Relaxed),
                    );
                    st == crate::service_protocol::REQUESTED || st == crate::service_protocol::TAKEN
                })
                .count() as u32;
            ParticipantReport {
                index: i,
                pid: r.pid.load(Ordering::Relaxed),
                node: r.node.get(),
                alive: seg.client_alive(i),
                count: r.calls.load(Ordering::Relaxed),
                in_flight,
            }
        })
        .collect();
    if seg.poisoned() {
        return Err(ServiceError::Corrupted {
            path,
            reason: "truncated by another process while read".into(),
        });
    }
    Ok(ServiceReport {
        name: seg.name(),
        request_type: (c.request.type_name(), c.request.fingerprint),
        response_type: (c.response.type_name(), c.response.fingerprint),
        descriptions: seg.descriptions.clone(),
        max_lens: (c.request.max_elems, c.response.max_elems),
        max_clients: c.max_clients,
        max_in_flight: c.slots_per_client,
        server,
        clients,
    })
}

/// Every service with a segment in `domain`, sorted by name, each read
/// with [`inspect`].
#[allow(clippy::type_complexity)]
pub fn list(
    domain: &crate::Domain,
) -> std::io::Result<Vec<(TopicName, Result<ServiceReport, ServiceError>)>> {
    let mut names: Vec<TopicName> = std::fs::read_dir(domain.dir())?
        .flatten()
        .filter_map(|e| crate::service_shm::service_of_file(domain, e.file_name().to_str()?))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .map(|n| {
            let r = inspect(domain, &n);
            (n, r)
        })
        .collect())
}

// -------------------------------------------------------------- raw client

/// A response as bytes (a copy out of the slot), for tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The response's bytes: its fixed part and `elems` trailing elements.
    pub bytes: Vec<u8>,
    /// Trailing-slice elements (0 for a sized type).
    pub elems: u64,
}

/// A client that knows its service's types only from the segment (names,
/// fingerprints, sizes and type descriptions, as the server wrote them):
/// for tools like `axon service call`, which encode a request from text
/// with [`crate::dynamic::encode`] and decode the response with
/// [`crate::dynamic::decode`]. One call at a time; the request and
/// response are copied (tools, not a hot path).
#[derive(Debug)]
pub struct RawClient {
    seg: ServiceSegment,
    index: usize,
    calls: Cell<u64>,
}

impl RawClient {
    /// Joins the existing service `name` of `domain` as a client named
    /// `node`, with the service's own types and capacities.
    /// [`ServiceError::NoSuchService`] if no segment exists.
    pub fn open(
        domain: &crate::Domain,
        name: &TopicName,
        node: &str,
    ) -> Result<Self, ServiceError> {
        let path = crate::service_shm::service_path(domain, name);
        let existing = match ServiceSegment::open_read_only(&path) {
            Ok(s) => s,
            Err(ServiceError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(ServiceError::NoSuchService {
                    service: name.to_string(),
                })
            }
            Err(e) => return Err(e),
        };
        let spec = ServiceSpec {
            name: name.clone(),
            config: existing.config,
            descriptions: (
                existing.descriptions.0.as_deref().map(Description::encode),
                existing.descriptions.1.as_deref().map(Description::encode),
            ),
            explicit_clients: false,
            explicit_slots: false,
            explicit_request_len: false,
            explicit_response_len: false,
        };
        drop(existing);
        let seg = ServiceSegment::open_or_create(domain, &spec)?;
        let claimed = seg.claim_client(node);
        seg.joined();
        let (index, _held) = claimed?;
        Ok(RawClient {
            seg,
            index,
            calls: Cell::new(0),
        })
    }

    /// The service's name.
    pub fn name(&self) -> String {
        self.seg.name()
    }

    /// The request and response type names.
    pub fn type_names(&self) -> (String, String) {
        (
            self.seg.config.request.type_name(),
            self.seg.config.response.type_name(),
        )
    }

    /// The request and response type descriptions, if the segment has them.
    pub fn descriptions(&self) -> (Option<&Description>, Option<&Description>) {
        (
            self.seg.descriptions.0.as_deref(),
            self.seg.descriptions.1.as_deref(),
        )
    }

    /// The most bytes a request may have (fixed part and its longest slice).
    pub fn max_request_bytes(&self) -> usize {
        let r = &self.seg.config.request;
        r.payload_len(r.max_elems)
            .map_or(0, |n| n as usize)
            .min(self.seg.layout.request_capacity)
    }

    /// Whether a live server serves the name now (one `F_OFD_GETLK`).
    pub fn service_is_ready(&self) -> bool {
        self.seg.server_epoch().is_some()
    }

    /// Sends `request` (its bytes, with `elems` trailing elements) and
    /// waits for the response at most `timeout`, checking the server's
    /// liveness every [`LIVENESS_SLICE`]. The call is given up on any
    /// error.
    pub fn call(
        &self,
        request: &[u8],
        elems: u64,
        timeout: Duration,
    ) -> Result<RawResponse, CallError> {
        self.call_interruptible(request, elems, timeout, &mut || false)
    }

    /// As [`call`](Self::call), also asking `interrupted` at least every
    /// [`LIVENESS_SLICE`] while waiting: when it says `true` the call is
    /// given up and [`CallError::Shutdown`] returned (a binding's Ctrl-C).
    pub fn call_interruptible(
        &self,
        request: &[u8],
        elems: u64,
        timeout: Duration,
        interrupted: &mut dyn FnMut() -> bool,
    ) -> Result<RawResponse, CallError> {
        let service = || self.name();
        let cfg = &self.seg.config.request;
        if elems > cfg.max_elems {
            return Err(CallError::TooLong {
                len: elems as usize,
                max: cfg.max_elems as usize,
            });
        }
        if request.len() > self.seg.layout.request_capacity {
            return Err(CallError::TooLong {
                len: request.len(),
                max: self.seg.layout.request_capacity,
            });
        }
        if self.seg.poisoned() {
            return Err(CallError::SegmentTruncated { service: service() });
        }
        let k = self.seg.config.slots_per_client as usize;
        let mut loaned = (0..k)
            .find_map(|s| self.seg.loan(self.index, s))
            .ok_or_else(|| CallError::Full {
                service: service(),
                max: k as u32,
            })?;
        let epoch = self.seg.server().epoch.load(Ordering::Acquire) as u32;
        if epoch == 0 || !self.service_is_ready() {
            self.seg.unloan(loaned);
            return Err(CallError::NoServer { service: service() });
        }
        self.seg.request_mut(&mut loaned)[..request.len()].copy_from_slice(request);
        let call = self.calls.get() + 1;
        self.calls.set(call);
        self.seg
            .client(self.index)
            .calls
            .store(call, Ordering::Relaxed);
        let mut posted = self.seg.post(loaned, elems, call, epoch);
        let deadline = crate::sys::monotonic_ns().saturating_add(timeout.as_nanos() as u64);
        let rec = self.seg.client(self.index);
        let mut next_check = 0u64;
        let give_up = |p: Posted| {
            let _ = self.seg.abandon(p);
        };
        loop {
            posted = match self.seg.poll(posted) {
                Poll::Answered(a) => return self.read(a),
                Poll::Waiting(p) => p,
            };
            let now = crate::sys::monotonic_ns();
            if now >= next_check {
                if self.seg.server_gone(&posted) {
                    match self.seg.poll(posted) {
                        Poll::Answered(a) => return self.read(a),
                        Poll::Waiting(p) => give_up(p),
                    }
                    return Err(CallError::ServerGone { service: service() });
                }
                next_check = now + LIVENESS_SLICE.as_nanos() as u64;
            }
            if crate::shutdown::requested() || interrupted() {
                give_up(posted);
                return Err(CallError::Shutdown);
            }
            if now >= deadline {
                give_up(posted);
                return Err(CallError::Timeout);
            }
            let token = handshake::token(&rec.word);
            let shutdown = crate::shutdown::token();
            handshake::announce(&rec.sleepers, 1);
            let answered = self.seg.is_answered(&posted);
            let slept = if answered {
                Ok(())
            } else {
                sleep(&rec.word, token, shutdown, deadline.min(next_check))
            };
            handshake::retract(&rec.sleepers, 1);
            if slept.is_err() && !self.seg.check_intact() {
                return Err(CallError::SegmentTruncated { service: service() });
            }
            if let Err(e) = slept {
                give_up(posted);
                return Err(CallError::Os(e));
            }
        }
    }

    fn read(&self, a: Answered) -> Result<RawResponse, CallError> {
        let cfg = &self.seg.config.response;
        let len = cfg
            .payload_len(a.elems)
            .filter(|n| a.elems <= cfg.max_elems && *n <= self.seg.layout.response_capacity as u64);
        let r = if a.declined {
            Err(CallError::Declined {
                service: self.name(),
            })
        } else if let Some(len) = len {
            Ok(RawResponse {
                bytes: self.seg.response(&a)[..len as usize].to_vec(),
                elems: a.elems,
            })
        } else {
            Err(CallError::Corrupted {
                service: self.name(),
                reason: format!(
                    "response of {} elements, the service allows {}",
                    a.elems, cfg.max_elems
                ),
            })
        };
        self.seg.finish(a);
        r
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.seg.release_client(self.index);
    }
}

// ------------------------------------------------- description-typed (raw)

/// Capacities of a raw client or server (as the builders' setters; `None`:
/// the default, or what the existing service has).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawServiceOptions {
    /// As [`ServiceBuilder::max_clients`].
    pub max_clients: Option<u32>,
    /// As [`ServiceBuilder::max_in_flight`].
    pub max_in_flight: Option<u32>,
    /// As [`ServiceBuilder::max_request_len`].
    pub max_request_len: Option<usize>,
    /// As [`ServiceBuilder::max_response_len`].
    pub max_response_len: Option<usize>,
}

impl RawServiceOptions {
    fn options(&self) -> Options {
        Options {
            max_clients: self.max_clients,
            max_in_flight: self.max_in_flight,
            max_request_len: self.max_request_len,
            max_response_len: self.max_response_len,
        }
    }
}

fn raw_spec(
    node: &Node,
    name: &str,
    request: &TypeDesc,
    response: &TypeDesc,
    o: &RawServiceOptions,
) -> Result<ServiceSpec, ServiceError> {
    let name = node.resolve(name)?;
    let o = o.options();
    let rq = shape_of(request, o.max_request_len)?;
    let rs = shape_of(response, o.max_response_len)?;
    Ok(spec_of(name, rq, rs, &o))
}

impl RawClient {
    /// Joins (or creates) service `name` of `node` as a client with types
    /// known at run time (`request`, `response`: e.g. built from
    /// descriptions by a binding); the types are checked against the
    /// service's as a typed client's are ([`ServiceError`] names both).
    pub fn create(
        node: &Node,
        name: &str,
        request: &TypeDesc,
        response: &TypeDesc,
        opts: &RawServiceOptions,
    ) -> Result<Self, ServiceError> {
        let spec = raw_spec(node, name, request, response, opts)?;
        let seg = ServiceSegment::open_or_create(node.domain(), &spec)?;
        let claimed = seg.claim_client(node.name());
        seg.joined();
        let (index, _held) = claimed?;
        Ok(RawClient {
            seg,
            index,
            calls: Cell::new(0),
        })
    }

    /// The most trailing elements of a request.
    pub fn max_request_len(&self) -> usize {
        self.seg.config.request.max_elems as usize
    }
}

/// The server of a service whose types are known at run time (for
/// bindings): requests and responses are copied (one `memcpy` each way).
/// Same rules as [`Server`]: one server per name, each request answered
/// at most once, a [`RawRequest`] dropped unanswered is declined.
#[derive(Debug)]
pub struct RawServer {
    seg: std::sync::Arc<ServiceSegment>,
    epoch: u32,
    next: Cell<usize>,
}

/// A request a [`RawServer`] took, copied out of its slot; answer it with
/// [`RawServer::reply`] (dropped unanswered: declined).
#[derive(Debug)]
pub struct RawRequest {
    seg: std::sync::Arc<ServiceSegment>,
    taken: Option<Taken>,
    /// The request's bytes (its fixed part and `elems` trailing elements).
    pub bytes: Vec<u8>,
    /// Trailing-slice elements (0 for a sized type).
    pub elems: u64,
}

impl Drop for RawRequest {
    fn drop(&mut self) {
        if let Some(t) = self.taken.take() {
            self.seg.answer(t, None);
        }
    }
}

impl RawServer {
    /// Opens (or creates) service `name` of `node` and becomes its server,
    /// with types known at run time (checked as [`ServiceBuilder::create`]
    /// checks them).
    pub fn create(
        node: &Node,
        name: &str,
        request: &TypeDesc,
        response: &TypeDesc,
        opts: &RawServiceOptions,
    ) -> Result<Self, ServiceError> {
        let spec = raw_spec(node, name, request, response, opts)?;
        let seg = ServiceSegment::open_or_create(node.domain(), &spec)?;
        let claimed = seg.claim_server(node.name());
        seg.joined();
        let epoch = claimed?;
        Ok(RawServer {
            seg: std::sync::Arc::new(seg),
            epoch,
            next: Cell::new(0),
        })
    }

    /// The service's name.
    pub fn name(&self) -> String {
        self.seg.name()
    }

    /// The most trailing elements of a response.
    pub fn max_response_len(&self) -> usize {
        self.seg.config.response.max_elems as usize
    }

    /// The next posted request, if any; never blocks.
    pub fn try_recv_request(&self) -> Result<Option<RawRequest>, ServeError> {
        if self.seg.poisoned() {
            return Err(ServeError::SegmentTruncated {
                service: self.name(),
            });
        }
        let cfg = &self.seg.config.request;
        let cap = self.seg.layout.request_capacity;
        let n = (self.seg.config.max_clients * self.seg.config.slots_per_client) as usize;
        for _ in 0..n {
            let Some((taken, next)) = self.seg.take_next(self.epoch, self.next.get()) else {
                return Ok(None);
            };
            self.next.set(next);
            let elems = taken.elems;
            let len = cfg
                .payload_len(elems)
                .filter(|l| elems <= cfg.max_elems && *l <= cap as u64);
            match len {
                Some(len) => {
                    let bytes = self.seg.request(&taken)[..len as usize].to_vec();
                    return Ok(Some(RawRequest {
                        seg: self.seg.clone(),
                        taken: Some(taken),
                        bytes,
                        elems,
                    }));
                }
                None => self.seg.answer(taken, None),
            }
        }
        Ok(None)
    }

    /// Waits up to `timeout` (`None`: until shutdown) for a request.
    pub fn recv_request_timeout(
        &self,
        timeout: Option<Duration>,
    ) -> Result<RawRequest, ServeError> {
        wait_for_request(&self.seg, timeout, || self.try_recv_request())
    }

    /// Answers `request` with `response` (its bytes, with `elems` trailing
    /// elements): the response must be exactly the bytes of that many.
    pub fn reply(
        &self,
        mut request: RawRequest,
        response: &[u8],
        elems: u64,
    ) -> Result<(), ServeError> {
        let cfg = &self.seg.config.response;
        if elems > cfg.max_elems {
            return Err(ServeError::TooLong {
                len: elems as usize,
                max: cfg.max_elems as usize,
            });
        }
        let want = cfg.payload_len(elems).unwrap_or(u64::MAX);
        if want != response.len() as u64 || want > self.seg.layout.response_capacity as u64 {
            return Err(ServeError::Invalid(format!(
                "a response of {} with {elems} elements is {want} bytes, not {}",
                cfg.type_name(),
                response.len()
            )));
        }
        let mut taken = request
            .taken
            .take()
            .expect("a raw request holds its slot until answered");
        self.seg.response_mut(&mut taken)[..response.len()].copy_from_slice(response);
        self.seg.answer(taken, Some(elems));
        Ok(())
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.seg.release_server();
    }
}

/// A server's wait for a request (typed and raw servers alike): `poll`
/// until it gives one, sleeping on the server record's word in between
/// with the wake handshake (`wake/mod.rs`: token, announce, re-check,
/// sleep, retract), at most a liveness slice at a time; `Shutdown`,
/// `Timeout` after `timeout` (`None`: never), or `SegmentTruncated`.
fn wait_for_request<R>(
    seg: &ServiceSegment,
    timeout: Option<Duration>,
    mut poll: impl FnMut() -> Result<Option<R>, ServeError>,
) -> Result<R, ServeError> {
    let deadline = timeout.map(|t| crate::sys::monotonic_ns().saturating_add(t.as_nanos() as u64));
    let rec = seg.server();
    loop {
        if let Some(r) = poll()? {
            return Ok(r);
        }
        if crate::shutdown::requested() {
            return Err(ServeError::Shutdown);
        }
        let now = crate::sys::monotonic_ns();
        if deadline.is_some_and(|d| now >= d) {
            return Err(ServeError::Timeout);
        }
        let token = handshake::token(&rec.word);
        let shutdown = crate::shutdown::token();
        handshake::announce(&rec.sleepers, 1);
        if let Some(r) = poll()? {
            handshake::retract(&rec.sleepers, 1);
            return Ok(r);
        }
        let until = now
            .saturating_add(crate::wake::LIVENESS_SLICE.as_nanos() as u64)
            .min(deadline.unwrap_or(u64::MAX));
        let slept = sleep(&rec.word, token, shutdown, until);
        handshake::retract(&rec.sleepers, 1);
        if slept.is_err() && !seg.check_intact() {
            return Err(ServeError::SegmentTruncated {
                service: seg.name(),
            });
        }
        slept?;
    }
}
