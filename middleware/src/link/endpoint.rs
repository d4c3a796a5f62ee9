//! A link endpoint: listen or connect, shake hands, then run one exporter
//! thread (local subscribers -> socket) and one importer (socket -> local
//! loaned samples) per connection.
//!
//! Threads per connection: the importer runs on the connection's thread and
//! owns the read half and the import publishers; the exporter owns the
//! export subscribers and a wait set over them. Both write through one
//! mutex-protected handle (the exporter for data and heartbeats, the
//! importer for verdicts). A third handle only shuts the socket down.
//! Nothing crosses threads but frames, verdicts (a bounded channel: one per
//! announced id, at most `MAX_TOPICS`) and flags.
//!
//! A listener admits connections by the rule of `Admission`: one absolute
//! handshake deadline from accept, and at most `max_pending` handshakes at
//! once (a new connection closes the oldest). An announced topic is
//! imported within the connection's [`super::Limits`]; the segments created
//! for it are removed at disconnect when nobody else uses them.
//!
//! What stops a connection, and what happens then:
//! - a protocol violation, a failed handshake, a dead peer (nothing read
//!   for `dead_after`), a stalled write: the reason is logged, a `CLOSE`
//!   with the reason is sent when the socket still takes it, the socket is
//!   shut down, and the connection's publishers and subscribers are
//!   dropped. Local topics are untouched; other peers keep running.
//! - a connecting endpoint then reconnects with exponential backoff.

use std::collections::HashSet;
use std::io::{IoSlice, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::auth::{self, Role};
use super::engine::{self, ImportRules, Imports, OfferError};
use super::transport::{Conn, Listener};
use super::wire::{self, Announce, DataHeader, FrameReader, Hello, Kind, Verdict, WireError};
use super::{any_match, tcp, unix, Address, LinkConfig, Mode};
use crate::publisher::RawPublisher;
use crate::subscriber::RawSubscriber;
use crate::Node;

/// How long one blocking socket call waits before checking flags.
const IO_SLICE: Duration = Duration::from_millis(100);

/// Asks a running endpoint to stop (the process's SIGINT/SIGTERM does too).
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// A fresh, unset flag.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests the stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop (or process shutdown) was requested.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst) || crate::shutdown::shutdown_requested()
    }
}

/// Why an endpoint could not run at all (per-connection failures are
/// logged and retried, not returned).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// Where.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("invalid link configuration: {0}")]
    Config(String),
}

fn log(cfg: &LinkConfig, msg: std::fmt::Arguments<'_>) {
    if cfg.log {
        eprintln!("axon-link {}: {msg}", cfg.name);
    }
}

/// A bound (or about to connect) endpoint.
pub struct Endpoint {
    cfg: Arc<LinkConfig>,
    listener: Option<Box<dyn Listener>>,
    local: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.cfg.name)
            .field("mode", &self.cfg.mode)
            .finish()
    }
}

/// Binds (when listening) and runs until `stop`.
pub fn run(cfg: LinkConfig, stop: &Stop) -> Result<(), LinkError> {
    Endpoint::new(cfg)?.run(stop)
}

impl Endpoint {
    /// Checks the configuration and, when listening, binds the socket.
    pub fn new(cfg: LinkConfig) -> Result<Self, LinkError> {
        if cfg.export.is_empty() && cfg.import.is_empty() {
            return Err(LinkError::Config(
                "neither `export` nor `import` names a topic".into(),
            ));
        }
        let t = &cfg.timing;
        if t.heartbeat >= t.dead_after {
            return Err(LinkError::Config(format!(
                "heartbeat {:?} must be shorter than dead_after {:?}",
                t.heartbeat, t.dead_after
            )));
        }
        let (listener, local): (Option<Box<dyn Listener>>, _) = match &cfg.mode {
            Mode::Connect(_) => (None, None),
            Mode::Listen(Address::Tcp(a)) => {
                let l = tcp::TcpLink::bind(a).map_err(|source| LinkError::Listen {
                    address: format!("tcp {a}"),
                    source,
                })?;
                let local = l.local_addr().ok().map(|a| a.to_string());
                (Some(Box::new(l)), local)
            }
            Mode::Listen(Address::Unix(p)) => {
                let l = unix::UnixLink::bind(p).map_err(|source| LinkError::Listen {
                    address: format!("unix {}", p.display()),
                    source,
                })?;
                (Some(Box::new(l)), Some(p.display().to_string()))
            }
        };
        Ok(Endpoint {
            cfg: Arc::new(cfg),
            listener,
            local,
        })
    }

    /// The bound address (`ip:port` or the socket path) of a listener.
    pub fn local_addr(&self) -> Option<&str> {
        self.local.as_deref()
    }

    /// Serves until `stop` (or SIGINT/SIGTERM).
    pub fn run(self, stop: &Stop) -> Result<(), LinkError> {
        match (&self.listener, &self.cfg.mode) {
            (Some(l), _) => {
                log(&self.cfg, format_args!("listening on {}", l.describe()));
                accept_loop(&self.cfg, l.as_ref(), stop);
            }
            (None, Mode::Connect(addr)) => connect_loop(&self.cfg, addr, stop),
            (None, Mode::Listen(_)) => unreachable!("a listener is bound in new"),
        }
        Ok(())
    }
}

/// Stack of every connection thread. Nothing on these threads recurses or
/// keeps large arrays on the stack (the read-ahead window is boxed), so this
/// is ample; it bounds what each thread can reserve.
const THREAD_STACK: usize = 512 << 10;

/// A listener's admission rule: established peers (at most `max_peers`) and
/// connections still in their handshake (at most `max_pending`) are counted
/// apart. A connection that arrives when `max_pending` are handshaking
/// closes the oldest of them, so connections that never finish (a byte a
/// second) cannot keep a legitimate peer out: it gets in unless more than
/// `max_pending` new connections arrive within its own handshake round
/// trip. Every handshake also has one absolute deadline from accept
/// (`Timing::handshake`).
struct Admission {
    /// Handshaking connections, oldest first.
    pending: Mutex<Vec<Arc<PendingConn>>>,
    /// Connections past their handshake.
    established: AtomicUsize,
    max_peers: usize,
    max_pending: usize,
}

/// One connection in its handshake.
struct PendingConn {
    /// A handle on the socket to evict it with (its read side is shut down:
    /// the handshake's next read ends at once).
    control: Mutex<Box<dyn Conn>>,
    evicted: AtomicBool,
    peer: String,
}

/// A listener connection's place in the [`Admission`] counts; releases it
/// when dropped.
struct Gate {
    adm: Arc<Admission>,
    me: Arc<PendingConn>,
    admitted: bool,
}

impl Gate {
    /// Moves this connection from "in handshake" to "established", if it
    /// was not evicted meanwhile and a peer slot is free.
    fn admit(&mut self) -> Result<(), WireError> {
        self.leave_pending();
        if self.evicted() {
            return Err(self.evicted_error());
        }
        let max = self.adm.max_peers;
        if self
            .adm
            .established
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
            return Err(WireError::Refused(format!(
                "too many peers (at most {max})"
            )));
        }
        self.admitted = true;
        Ok(())
    }

    fn leave_pending(&self) {
        lock(&self.adm.pending).retain(|c| !Arc::ptr_eq(c, &self.me));
    }

    fn evicted(&self) -> bool {
        self.me.evicted.load(Ordering::SeqCst)
    }

    fn evicted_error(&self) -> WireError {
        WireError::Refused(format!(
            "handshake not completed: closed to make room for a newer connection \
             (at most {} connections in handshake)",
            self.adm.max_pending
        ))
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        if self.admitted {
            self.adm.established.fetch_sub(1, Ordering::SeqCst);
        } else {
            self.leave_pending();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(cfg: &Arc<LinkConfig>, l: &dyn Listener, stop: &Stop) {
    let adm = Arc::new(Admission {
        pending: Mutex::new(Vec::new()),
        established: AtomicUsize::new(0),
        max_peers: cfg.max_peers,
        max_pending: cfg.max_pending.max(1),
    });
    // Connection threads alive at once: established peers, handshakes, and
    // evicted ones finishing (within one IO_SLICE). Each established peer
    // also has its exporter thread.
    let max_threads = cfg.max_peers + 2 * adm.max_pending;
    let mut handles = Vec::new();
    while !stop.requested() {
        let conn = match l.accept_timeout(IO_SLICE) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                log(cfg, format_args!("accept failed: {e}"));
                std::thread::sleep(IO_SLICE);
                continue;
            }
        };
        let accepted = Instant::now();
        handles.retain(|h: &std::thread::JoinHandle<()>| !h.is_finished());
        let peer = conn.peer();
        if adm.established.load(Ordering::SeqCst) >= cfg.max_peers {
            log(
                cfg,
                format_args!("refused {peer}: already serving {} peers", cfg.max_peers),
            );
            refuse(
                conn.as_ref(),
                &format!("too many peers (at most {})", cfg.max_peers),
            );
            continue;
        }
        if handles.len() >= max_threads {
            log(
                cfg,
                format_args!(
                    "refused {peer}: {} connections are still closing",
                    handles.len()
                ),
            );
            refuse(conn.as_ref(), "busy: too many connections at once, retry");
            continue;
        }
        let control = match conn.try_clone_box() {
            Ok(c) => c,
            Err(e) => {
                log(cfg, format_args!("cannot serve {peer}: {e}"));
                conn.shutdown_both();
                continue;
            }
        };
        let me = Arc::new(PendingConn {
            control: Mutex::new(control),
            evicted: AtomicBool::new(false),
            peer: peer.clone(),
        });
        {
            let mut pending = lock(&adm.pending);
            while pending.len() >= adm.max_pending {
                let oldest = pending.remove(0);
                oldest.evicted.store(true, Ordering::SeqCst);
                lock(&oldest.control).shutdown_read();
                log(
                    cfg,
                    format_args!(
                        "closing {} (still in its handshake) to make room for {peer}: \
                         at most {} connections in handshake",
                        oldest.peer, adm.max_pending
                    ),
                );
            }
            pending.push(me.clone());
        }
        let gate = Gate {
            adm: adm.clone(),
            me,
            admitted: false,
        };
        let (c, s, p) = (cfg.clone(), stop.clone(), peer.clone());
        let h = std::thread::Builder::new()
            .name("link-peer".into())
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let mut gate = gate;
                let r = serve(conn, Role::Listener, &c, &s, accepted, Some(&mut gate));
                report(&c, &p, r);
                drop(gate);
            });
        match h {
            Ok(h) => handles.push(h),
            Err(e) => log(cfg, format_args!("cannot start a thread for {peer}: {e}")),
        }
    }
    for h in handles {
        let _ = h.join();
    }
}

fn connect_loop(cfg: &Arc<LinkConfig>, addr: &Address, stop: &Stop) {
    let t = cfg.timing;
    let mut delay = t.backoff_min;
    let mut announced_failure = false;
    while !stop.requested() {
        let conn = match addr {
            Address::Tcp(a) => tcp::connect(a, t.handshake),
            Address::Unix(p) => unix::connect(p),
        };
        match conn {
            Ok(conn) => {
                announced_failure = false;
                let peer = conn.peer();
                let r = serve(conn, Role::Connector, cfg, stop, Instant::now(), None);
                if matches!(r, Ok(ref s) if s.established) {
                    delay = t.backoff_min;
                }
                report(cfg, &peer, r);
            }
            Err(e) => {
                if !announced_failure {
                    log(
                        cfg,
                        format_args!("cannot connect to {addr}: {e} (retrying with backoff)"),
                    );
                    announced_failure = true;
                }
            }
        }
        // Interruptible backoff.
        let until = Instant::now() + delay;
        while Instant::now() < until && !stop.requested() {
            std::thread::sleep(IO_SLICE.min(until.saturating_duration_since(Instant::now())));
        }
        delay = (delay * 2).min(t.backoff_max);
    }
}

/// What a connection did.
#[derive(Debug, Default)]
struct Summary {
    /// The handshake succeeded.
    established: bool,
    peer: String,
    sent: u64,
    received: u64,
    dropped: u64,
    end: String,
}

fn report(cfg: &LinkConfig, addr: &str, r: Result<Summary, (Summary, WireError)>) {
    match r {
        Ok(s) => log(
            cfg,
            format_args!(
                "connection to {} ({addr}) ended: {} (sent {}, received {}, dropped {})",
                s.peer, s.end, s.sent, s.received, s.dropped
            ),
        ),
        Err((s, e)) => log(
            cfg,
            format_args!(
                "closed connection with {} ({addr}): {e} (sent {}, received {}, dropped {})",
                if s.peer.is_empty() {
                    "unidentified peer"
                } else {
                    &s.peer
                },
                s.sent,
                s.received,
                s.dropped
            ),
        ),
    }
}

/// Best-effort `CLOSE` on a connection we will not serve.
fn refuse(conn: &dyn Conn, reason: &str) {
    if let Ok(mut c) = conn.try_clone_box() {
        let _ = c.set_io_timeout(IO_SLICE);
        let _ = c.write_all(&wire::encode_close(reason));
    }
    conn.shutdown_both();
}

/// The write side shared by the exporter and the importer.
struct Tx {
    conn: Mutex<Box<dyn Conn>>,
    closing: AtomicBool,
    stop: Stop,
    stall_after: Duration,
    last_write: Mutex<Instant>,
    /// When the importer last finished reading a frame (`monotonic_ns`).
    /// A write that makes no progress fails only if the peer has also been
    /// silent this long: a live peer that does not read is applying
    /// backpressure (a reliable topic), a silent one is gone.
    last_rx_ns: AtomicU64,
    /// The handshake's absolute deadline (and its budget), while it runs:
    /// a write still blocked then fails like a read would.
    deadline: Mutex<Option<(Instant, Duration)>>,
}

impl Tx {
    fn new(
        conn: Box<dyn Conn>,
        stop: &Stop,
        stall_after: Duration,
        deadline: Option<(Instant, Duration)>,
    ) -> Tx {
        Tx {
            conn: Mutex::new(conn),
            closing: AtomicBool::new(false),
            stop: stop.clone(),
            stall_after,
            last_write: Mutex::new(Instant::now()),
            last_rx_ns: AtomicU64::new(crate::sys::monotonic_ns()),
            deadline: Mutex::new(deadline),
        }
    }

    fn stopping(&self) -> bool {
        self.closing.load(Ordering::SeqCst) || self.stop.requested()
    }

    fn send(&self, bufs: &mut [IoSlice<'_>]) -> Result<(), WireError> {
        let mut c = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let start = Instant::now();
        wire::write_all_vectored(&mut **c, bufs, || {
            let silent =
                crate::sys::monotonic_ns().saturating_sub(self.last_rx_ns.load(Ordering::SeqCst));
            if self.stopping() {
                Err(WireError::Stopped)
            } else if let Some((_, budget)) =
                lock(&self.deadline).filter(|(at, _)| Instant::now() >= *at)
            {
                Err(WireError::Timeout(budget))
            } else if start.elapsed() >= self.stall_after
                && silent >= self.stall_after.as_nanos() as u64
            {
                Err(WireError::Stalled(self.stall_after))
            } else {
                Ok(())
            }
        })?;
        *self.last_write.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        Ok(())
    }

    fn heard_from_peer(&self) {
        self.last_rx_ns
            .store(crate::sys::monotonic_ns(), Ordering::SeqCst);
    }

    fn frame(&self, bytes: &[u8]) -> Result<(), WireError> {
        self.send(&mut [IoSlice::new(bytes)])
    }

    fn idle_for(&self) -> Duration {
        self.last_write
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }
}

/// Runs one connection to its end. `since`: when it was accepted (or
/// connected); the handshake must end within `Timing::handshake` of it.
/// `gate`: a listener's admission place for this connection.
fn serve(
    conn: Box<dyn Conn>,
    role: Role,
    cfg: &Arc<LinkConfig>,
    stop: &Stop,
    since: Instant,
    mut gate: Option<&mut Gate>,
) -> Result<Summary, (Summary, WireError)> {
    let mut summary = Summary::default();
    let setup = || -> std::io::Result<(Box<dyn Conn>, Box<dyn Conn>)> {
        conn.set_io_timeout(IO_SLICE)?;
        Ok((conn.try_clone_box()?, conn.try_clone_box()?))
    };
    let (write_half, control) = match setup() {
        Ok(x) => x,
        Err(e) => return Err((summary, e.into())),
    };
    let deadline = Some((since + cfg.timing.handshake, cfg.timing.handshake));
    let tx = Arc::new(Tx::new(write_half, stop, cfg.timing.dead_after, deadline));
    let mut rx = FrameReader::new(conn, cfg.timing.handshake);
    rx.set_deadline(deadline);
    let mut imports = Imports::new();
    let result = (|| {
        let handshaken =
            handshake(&mut rx, &tx, role, cfg).and_then(|peer| match gate.as_deref_mut() {
                Some(g) => g.admit().map(|()| peer),
                None => Ok(peer),
            });
        let peer = handshaken.map_err(|e| match e {
            _ if gate.as_ref().is_some_and(|g| g.evicted()) => {
                gate.as_ref().expect("checked").evicted_error()
            }
            WireError::Timeout(d) => {
                WireError::Refused(format!("handshake not completed within {d:?}"))
            }
            e => e,
        })?;
        rx.set_deadline(None);
        *lock(&tx.deadline) = None;
        summary.established = true;
        summary.peer = format!("{}@{}", peer.node, peer.host);
        rx.set_dead_after(cfg.timing.dead_after);
        log(
            cfg,
            format_args!(
                "connected to {} (pid {}, {})",
                summary.peer,
                peer.pid,
                control.peer()
            ),
        );
        let import_node = wire::truncate(&format!("link:{}", summary.peer), 64).to_owned();
        // Bounded: the peer answers each of our announcements once (a
        // second VERDICT for an id is a violation), and we announce at most
        // MAX_TOPICS.
        let (verdict_tx, verdict_rx) = mpsc::sync_channel(wire::MAX_TOPICS as usize);
        let announced = Arc::new(AtomicU32::new(0));
        let exporter = {
            let (cfg, tx, import_node, announced) = (
                cfg.clone(),
                tx.clone(),
                import_node.clone(),
                announced.clone(),
            );
            std::thread::Builder::new()
                .name("link-export".into())
                .stack_size(THREAD_STACK)
                .spawn(move || export(&cfg, &tx, &import_node, &announced, verdict_rx))
                .map_err(WireError::Io)?
        };
        let r = import(
            &mut rx,
            &tx,
            cfg,
            &import_node,
            &announced,
            &verdict_tx,
            &mut summary,
            &mut imports,
        );
        tx.closing.store(true, Ordering::SeqCst);
        let exported = exporter
            .join()
            .unwrap_or_else(|_| (0, 0, Err(WireError::Violation("exporter panicked".into()))));
        summary.sent = exported.0;
        summary.dropped += exported.1;
        // The first failure is the reason; a stop seen second is its consequence.
        match (r, exported.2) {
            (Err(WireError::Stopped), Err(e)) if !stop.requested() => Err(e),
            (Err(e), _) => Err(e),
            (Ok(end), Err(WireError::Stopped)) => Ok(end),
            (Ok(_), Err(e)) => Err(e),
            (Ok(end), Ok(())) => Ok(end),
        }
    })();
    tx.closing.store(true, Ordering::SeqCst);
    let out = match result {
        Ok(end) => {
            summary.end = end;
            Ok(summary)
        }
        Err(WireError::Stopped) => {
            summary.end = "endpoint is shutting down".into();
            let _ = control.try_clone_box().map(|mut c| {
                let _ = c.write_all(&wire::encode_close("endpoint is shutting down"));
            });
            Ok(summary)
        }
        Err(e) => {
            if let Ok(mut c) = control.try_clone_box() {
                let _ = c.write_all(&wire::encode_close(&e.to_string()));
            }
            Err((summary, e))
        }
    };
    control.shutdown_both();
    // The publishers and the exporter are gone: remove the segments created
    // for this peer that nobody else uses.
    let removed = imports.remove_unused_segments();
    if removed > 0 {
        log(
            cfg,
            format_args!("removed {removed} unused segment(s) created for this connection"),
        );
    }
    out
}

fn handshake(
    rx: &mut FrameReader<Box<dyn Conn>>,
    tx: &Tx,
    role: Role,
    cfg: &LinkConfig,
) -> Result<Hello, WireError> {
    let stop = || tx.stopping();
    let ours = Hello {
        version: wire::VERSION,
        auth: cfg.secret.is_some(),
        nonce: auth::nonce()?,
        pid: std::process::id(),
        node: cfg.name.clone(),
        host: super::host_name(),
    };
    tx.frame(&wire::encode_hello(&ours))?;
    let h = rx.header(&stop)?;
    if h.kind != Kind::Hello {
        return Err(WireError::Violation(format!(
            "expected a HELLO frame first, got {:?}",
            h.kind
        )));
    }
    let peer = wire::decode_hello(&rx.control_body(&h, &stop)?)?;
    if peer.nonce == ours.nonce {
        return Err(WireError::Violation(
            "the peer is this endpoint itself".into(),
        ));
    }
    match (&cfg.secret, peer.auth) {
        (None, false) => {}
        (Some(_), false) => {
            return Err(WireError::Refused(
                "authentication failed: this endpoint requires a shared secret and the peer offers none"
                    .into(),
            ))
        }
        (None, true) => {
            return Err(WireError::Refused(
                "authentication failed: the peer requires a shared secret and this endpoint has none"
                    .into(),
            ))
        }
        (Some(secret), true) => {
            let peer_role = match role {
                Role::Listener => Role::Connector,
                Role::Connector => Role::Listener,
            };
            let mine = auth::proof(secret, role, &peer.nonce, &ours.nonce);
            tx.frame(&wire::encode_auth(&mine))?;
            let h = rx.header(&stop)?;
            if h.kind != Kind::Auth {
                return Err(WireError::Violation(format!(
                    "expected an AUTH frame, got {:?}",
                    h.kind
                )));
            }
            let tag = rx.control_body(&h, &stop)?;
            let want = auth::proof(secret, peer_role, &ours.nonce, &peer.nonce);
            if !auth::tags_equal(&tag, &want) {
                return Err(WireError::Refused(
                    "authentication failed: wrong shared secret".into(),
                ));
            }
        }
    }
    Ok(peer)
}

/// The fuzz harness of the handshake ([`super::fuzzing::handshake`]): runs
/// [`handshake`] as a listener over a Unix socket pair whose other end has
/// written `peer_bytes` (as much as the socket buffer takes) and closed its
/// write side, with an absolute deadline of `deadline`.
pub(super) fn handshake_with_peer_bytes(
    peer_bytes: &[u8],
    secret: Option<&[u8]>,
    deadline: Duration,
) -> Option<Hello> {
    use std::os::unix::net::UnixStream;
    let (ours, mut theirs) = UnixStream::pair().ok()?;
    theirs.set_nonblocking(true).ok()?;
    let mut rest = peer_bytes;
    while !rest.is_empty() {
        match theirs.write(rest) {
            Ok(0) | Err(_) => break,
            Ok(n) => rest = &rest[n..],
        }
    }
    let _ = theirs.shutdown(std::net::Shutdown::Write);
    let ours: Box<dyn Conn> = Box::new(ours);
    ours.set_io_timeout(Duration::from_millis(20)).ok()?;
    let domain = crate::names::Domain::new("/dev/shm", "fuzz").ok()?;
    let mut cfg = LinkConfig::new(
        "fuzz",
        super::Mode::Connect(Address::Tcp(String::new())),
        domain,
    );
    cfg.secret = secret.map(<[u8]>::to_vec);
    cfg.log = false;
    let at = Some((Instant::now() + deadline, deadline));
    let tx = Tx::new(ours.try_clone_box().ok()?, &Stop::new(), deadline, at);
    let mut rx = FrameReader::new(ours, deadline);
    rx.set_deadline(at);
    let hello = handshake(&mut rx, &tx, Role::Listener, &cfg).ok();
    drop(theirs);
    hello
}

/// One exported topic.
struct Exported {
    /// Dropped once the peer refuses the topic: a reliable subscriber
    /// nobody drains would hold the local publishers back for ever.
    sub: Option<RawSubscriber>,
    id: u32,
    state: ExportState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ExportState {
    Pending,
    Accepted,
    Refused,
}

/// The exporter thread: returns (samples sent, samples dropped, why it ended).
fn export(
    cfg: &LinkConfig,
    tx: &Tx,
    import_node: &str,
    announced: &AtomicU32,
    verdicts: Receiver<Verdict>,
) -> (u64, u64, Result<(), WireError>) {
    let (mut sent, mut dropped) = (0u64, 0u64);
    let r = export_inner(
        cfg,
        tx,
        import_node,
        announced,
        verdicts,
        &mut sent,
        &mut dropped,
    );
    (sent, dropped, r)
}

fn export_inner(
    cfg: &LinkConfig,
    tx: &Tx,
    import_node: &str,
    announced: &AtomicU32,
    verdicts: Receiver<Verdict>,
    sent: &mut u64,
    dropped: &mut u64,
) -> Result<(), WireError> {
    let node = Node::builder("axon-link")
        .domain(cfg.domain.clone())
        .create()
        .map_err(|e| WireError::Io(std::io::Error::other(e.to_string())))?;
    let mut topics: Vec<Exported> = Vec::new();
    let mut known: HashSet<String> = HashSet::new();
    let mut failed: HashSet<String> = HashSet::new();
    let mut next_scan = Instant::now();
    let slice = cfg.timing.heartbeat.min(IO_SLICE);
    let mut hdr_buf = Vec::new();
    loop {
        if tx.stopping() {
            return Err(WireError::Stopped);
        }
        if Instant::now() >= next_scan && !cfg.export.is_empty() {
            next_scan = Instant::now() + cfg.timing.rescan;
            scan(
                cfg,
                tx,
                import_node,
                announced,
                &mut topics,
                &mut known,
                &mut failed,
            )?;
        }
        *dropped = topics
            .iter()
            .filter_map(|t| t.sub.as_ref())
            .map(|s| s.dropped())
            .sum();
        while let Ok(v) = verdicts.try_recv() {
            if let Some(t) = topics.iter_mut().find(|t| t.id == v.id) {
                if v.accepted {
                    t.state = ExportState::Accepted;
                } else if let Some(sub) = t.sub.take() {
                    t.state = ExportState::Refused;
                    log(
                        cfg,
                        format_args!("peer refused topic {}: {}", sub.topic(), v.reason),
                    );
                }
            }
        }
        // Wait on the accepted topics until the next scan or verdict check.
        let accepted: Vec<(u32, &RawSubscriber)> = topics
            .iter()
            .filter(|t| t.state == ExportState::Accepted)
            .filter_map(|t| Some((t.id, t.sub.as_ref()?)))
            .collect();
        let mut ws = node
            .wait_set()
            .map_err(|e| WireError::Io(std::io::Error::other(e.to_string())))?;
        for (_, sub) in &accepted {
            ws.raw_subscriber(sub)
                .map_err(|e| WireError::Io(std::io::Error::other(e.to_string())))?;
        }
        let until_scan = next_scan.saturating_duration_since(Instant::now());
        let pending = topics.iter().any(|t| t.state == ExportState::Pending);
        loop {
            if tx.stopping() {
                return Err(WireError::Stopped);
            }
            let wait = if pending {
                Duration::from_millis(5)
            } else {
                slice
            };
            let ready = match ws.wait_timeout(wait.min(until_scan.max(Duration::from_millis(1)))) {
                Ok(r) => r,
                Err(e) => return Err(WireError::Io(std::io::Error::other(e.to_string()))),
            };
            if ready.shutdown() {
                return Err(WireError::Stopped);
            }
            let mut any = false;
            for &(id, sub) in &accepted {
                // A bounded batch per topic keeps the others flowing.
                for _ in 0..64 {
                    let s = match sub.try_recv() {
                        Ok(Some(s)) => s,
                        Ok(None) | Err(_) => break,
                    };
                    any = true;
                    let info = s.info();
                    if engine::is_echo(sub, info.publisher, import_node) {
                        continue; // it came from this peer: never send it back
                    }
                    let bytes = s.bytes();
                    let h = wire::data_header(
                        &DataHeader {
                            topic: id,
                            seq: info.seq,
                            stamp_ns: info.sent_ns,
                        },
                        bytes.len(),
                    );
                    tx.send(&mut [IoSlice::new(&h), IoSlice::new(bytes)])?;
                    *sent += 1;
                }
            }
            if !any && tx.idle_for() >= cfg.timing.heartbeat {
                hdr_buf.clear();
                hdr_buf.extend_from_slice(&wire::encode_heartbeat());
                tx.frame(&hdr_buf)?;
            }
            if Instant::now() >= next_scan || pending {
                break;
            }
        }
    }
}

fn scan(
    cfg: &LinkConfig,
    tx: &Tx,
    import_node: &str,
    announced: &AtomicU32,
    topics: &mut Vec<Exported>,
    known: &mut HashSet<String>,
    failed: &mut HashSet<String>,
) -> Result<(), WireError> {
    let names = match cfg.domain.topics() {
        Ok(n) => n,
        Err(e) => {
            log(
                cfg,
                format_args!("cannot list topics in {}: {e}", cfg.domain.dir().display()),
            );
            return Ok(());
        }
    };
    for topic in names {
        let name = topic.as_str().to_owned();
        if known.contains(&name) || !any_match(&cfg.export, &name) {
            continue;
        }
        if topics.len() as u32 >= wire::MAX_TOPICS {
            if failed.insert(name.clone()) {
                log(
                    cfg,
                    format_args!(
                        "cannot export {name}: at most {} topics per link",
                        wire::MAX_TOPICS
                    ),
                );
            }
            continue;
        }
        let reliable = any_match(&cfg.reliable, &name);
        let id = topics.len() as u32;
        let (sub, a) = match engine::offer(&cfg.domain, topic, id, reliable, import_node) {
            Ok(o) => o,
            Err(OfferError::Retry(why)) => {
                if failed.insert(name.clone()) {
                    log(cfg, format_args!("{why}"));
                }
                continue;
            }
            Err(OfferError::Refused(why)) => {
                known.insert(name.clone());
                log(cfg, format_args!("{why}"));
                continue;
            }
        };
        known.insert(name.clone());
        announced.store(id + 1, Ordering::SeqCst);
        tx.frame(&wire::encode_announce(&a))?;
        topics.push(Exported {
            sub: Some(sub),
            id,
            state: ExportState::Pending,
        });
    }
    Ok(())
}

/// One imported topic: its announcement and, if accepted, its publisher.
struct Imported {
    ann: Announce,
    publisher: Option<RawPublisher>,
}

/// The importer: reads frames until the connection ends; returns the end's
/// description when the peer closed cleanly.
#[allow(clippy::too_many_arguments)]
fn import(
    rx: &mut FrameReader<Box<dyn Conn>>,
    tx: &Tx,
    cfg: &LinkConfig,
    import_node: &str,
    announced: &AtomicU32,
    verdicts: &SyncSender<Verdict>,
    summary: &mut Summary,
    imports: &mut Imports,
) -> Result<String, WireError> {
    let stop = || tx.stopping();
    let mut table: Vec<Imported> = Vec::new();
    // Which of our announcements the peer has answered (at most MAX_TOPICS).
    let mut answered: Vec<bool> = Vec::new();
    loop {
        tx.heard_from_peer();
        let h = rx.header(&stop)?;
        match h.kind {
            Kind::Data => {
                let d = rx.data_header(&stop)?;
                let len = h.body_len as u64 - wire::DATA_HEADER as u64;
                let Some(t) = table.get(d.topic as usize) else {
                    return Err(WireError::Violation(format!(
                        "data for topic id {} but only {} topics were announced",
                        d.topic,
                        table.len()
                    )));
                };
                let Some(publisher) = &t.publisher else {
                    return Err(WireError::Violation(format!(
                        "data for topic {} (id {}), which this endpoint refused",
                        t.ann.name, d.topic
                    )));
                };
                let Some(elems) = t.ann.elems_for(len) else {
                    return Err(WireError::Violation(format!(
                        "a payload of {len} bytes does not fit topic {} (at most {} bytes: {} + n x {})",
                        t.ann.name, t.ann.max_size, t.ann.fixed_size, t.ann.elem_size
                    )));
                };
                let elems = elems as usize;
                // Backpressure for a reliable topic: this read waits as
                // long as local reliable readers need (the peer's writes
                // wait too; it still hears our heartbeats, so it knows we
                // are alive).
                let loan = engine::import_loan(publisher, elems, t.ann.reliable, IO_SLICE, &stop)
                    .map_err(|engine::Stopped| WireError::Stopped)?;
                if t.ann.reliable {
                    rx.touch();
                }
                match loan {
                    Some(mut l) => {
                        let dst = l.bytes_mut();
                        if dst.len() as u64 != len {
                            return Err(WireError::Violation(format!(
                                "topic {}: {len} payload bytes for {elems} elements, the local topic expects {}",
                                t.ann.name,
                                dst.len()
                            )));
                        }
                        rx.payload_into(dst, &stop)?;
                        l.send();
                        summary.received += 1;
                    }
                    None => {
                        rx.skip(len as usize, &stop)?;
                        summary.dropped += 1;
                    }
                }
            }
            Kind::Heartbeat => {}
            Kind::Announce => {
                let body = rx.control_body(&h, &stop)?;
                let a = wire::decode_announce(&body)?;
                if a.id as usize != table.len() {
                    return Err(WireError::Violation(format!(
                        "announced topic id {} out of order (expected {})",
                        a.id,
                        table.len()
                    )));
                }
                if table.len() as u32 >= wire::MAX_TOPICS {
                    return Err(WireError::Violation(format!(
                        "more than {} topics announced",
                        wire::MAX_TOPICS
                    )));
                }
                let (publisher, reason) = match imports.accept(
                    &ImportRules {
                        carrier: &cfg.name,
                        import: &cfg.import,
                        limits: cfg.limits,
                        domain: &cfg.domain,
                    },
                    &a,
                    import_node,
                ) {
                    Ok(p) => (Some(p), String::new()),
                    Err(why) => {
                        log(cfg, format_args!("refused topic {}: {why}", a.name));
                        (None, why)
                    }
                };
                let v = Verdict {
                    id: a.id,
                    accepted: publisher.is_some(),
                    reason,
                };
                tx.frame(&wire::encode_verdict(&v))?;
                // The description is in the segment now (or was refused
                // with the topic): the table keeps ~0.5 KiB per entry.
                let ann = wire::Announce {
                    description: None,
                    ..a
                };
                table.push(Imported { ann, publisher });
            }
            Kind::Verdict => {
                let v = wire::decode_verdict(&rx.control_body(&h, &stop)?)?;
                let n = announced.load(Ordering::SeqCst);
                if v.id >= n {
                    return Err(WireError::Violation(format!(
                        "verdict for topic id {} that was never announced",
                        v.id
                    )));
                }
                answered.resize(n as usize, false);
                if std::mem::replace(&mut answered[v.id as usize], true) {
                    return Err(WireError::Violation(format!(
                        "a second VERDICT for topic id {} (each announcement is answered once)",
                        v.id
                    )));
                }
                if verdicts.try_send(v).is_err() {
                    // Unreachable while each id is answered once; never
                    // buffer more than the channel's bound.
                    return Err(WireError::Violation(
                        "more verdicts than announcements".into(),
                    ));
                }
            }
            Kind::Close => {
                let reason = wire::decode_close(&rx.control_body(&h, &stop)?)?;
                return Ok(format!("peer closed: {reason}"));
            }
            Kind::Hello | Kind::Auth => {
                return Err(WireError::Violation(format!(
                    "unexpected {:?} frame after the handshake",
                    h.kind
                )))
            }
        }
    }
}
