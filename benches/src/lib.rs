//! Cross-process one-way latency harness: axon beside the physical floors and iceoryx2.
//!
//! # Method
//!
//! Every measured row is a ping-pong between two processes. The parent (the process running
//! `bench-gate` or a criterion bench) re-executes its own binary with a hidden role argument
//! ([`CHILD_FLAG`]); that child opens its side of the mechanism and echoes every message back.
//! With two or more CPUs the parent thread and the child are pinned to different CPUs. One way
//! is the round trip divided by two, so both directions carry the same payload.
//!
//! # Code map
//!
//! - [`harness`]: [`Session`] (spawn, pin, ready handshake, watchdog, stop, cleanup) and the
//!   `iter_custom`-compatible measurement functions.
//! - [`report`]: rounds of samples into an HDR histogram, and the summary table.
//! - [`shm`]: a memfd mapped in both processes, split into a control block and two payload
//!   buffers; the generic [`shm::ShmPingPong`] that the shared-memory floors plug a wake-up into.
//! - one module per mechanism: [`floor_spin`], [`floor_futex`] (always sleeps, and spin then
//!   sleep), [`floor_sem`], [`floor_unix`], [`floor_tcp`], [`iceoryx2_peer`], and axon's own
//!   rows: [`axon_topic`] (poll, futex, semaphore, adaptive) and [`axon_link`] (Unix, TCP).
//! - [`gate`]: the regression gate over `benches/thresholds.toml`; [`plot`]: the SVG plot.
//! - [`resident`]: resident memory of a 640x480 image topic, axon beside iceoryx2 (a gate row).
//! - [`throughput`]: one publisher process and N subscriber processes streaming (msgs/s, GB/s,
//!   fan-out), for the `bench-throughput` binary.
//!
//! # Adding a mechanism
//!
//! Implement [`Mechanism`] (parent side `create`, child side `open`) returning a [`Pinger`] and a
//! [`Ponger`], and list it in [`mechanisms`]. Payload bytes are written and read with
//! [`write_message`] / [`read_message`] so that every mechanism touches its payload the same way.
//!
//! *Architecture invariant*: `unsafe` lives only in the OS wrappers ([`shm`], [`floor_futex`],
//! [`floor_sem`]) plus one documented `assume_init` in [`iceoryx2_peer`].

pub mod affinity;
pub mod axon_link;
pub mod axon_service;
pub mod axon_topic;
pub mod floor_futex;
pub mod floor_sem;
pub mod floor_spin;
pub mod floor_tcp;
pub mod floor_unix;
pub mod gate;
pub mod harness;
pub mod iceoryx2_peer;
pub mod iceoryx2_rr;
pub mod plot;
pub mod report;
pub mod resident;
pub mod shm;
pub mod stream;
pub mod throughput;

use std::fmt;
use std::time::{Duration, Instant};

pub use harness::{run_child_if_requested, Session, SessionOptions, CHILD_FLAG};
pub use report::{measure, MeasureConfig, RowResult};

/// The sequence number that tells the child to echo once more and exit.
pub const STOP: u64 = u64::MAX;

/// Smallest payload: the 8-byte header that carries the sequence number.
pub const HEADER_LEN: usize = 8;

/// How much of the payload the writer writes and the reader reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Touch {
    /// Only the 8-byte header (the sequence number) is written and read.
    Header,
    /// The writer fills every byte; the reader sums every byte.
    All,
}

impl Touch {
    /// Short name used on command lines and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Touch::Header => "hdr",
            Touch::All => "all",
        }
    }

    /// Inverse of [`Touch::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hdr" => Some(Touch::Header),
            "all" => Some(Touch::All),
            _ => None,
        }
    }
}

/// What one measured row sends in each direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Payload {
    /// Bytes per message, at least [`HEADER_LEN`].
    pub size: usize,
    /// How much of it is touched.
    pub touch: Touch,
}

impl Payload {
    /// A payload of `size` bytes (clamped up to [`HEADER_LEN`]).
    pub fn new(size: usize, touch: Touch) -> Self {
        Self {
            size: size.max(HEADER_LEN),
            touch,
        }
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", format_size(self.size))?;
        if self.size > HEADER_LEN {
            write!(f, " {}", self.touch.as_str())?;
        }
        Ok(())
    }
}

/// `8 B`, `1 KiB`, `64 KiB`, `8 MiB`.
pub fn format_size(n: usize) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// Writes message `seq` into `buf` as `touch` says: all bytes first (if asked), header last.
pub fn write_message(buf: &mut [u8], seq: u64, touch: Touch) {
    write_body(buf, seq, touch);
    buf[..HEADER_LEN].copy_from_slice(&seq.to_le_bytes());
}

/// The part of [`write_message`] after the header: with [`Touch::All`], fills `buf[8..]`.
/// For mechanisms that carry the header elsewhere (the shared-memory floors keep it on the
/// same cache line as the wake-up word).
pub fn write_body(buf: &mut [u8], seq: u64, touch: Touch) {
    if touch == Touch::All && buf.len() > HEADER_LEN {
        buf[HEADER_LEN..].fill(seq as u8);
    }
}

/// The part of [`read_message`] after the header: with [`Touch::All`], sums `buf[8..]`.
pub fn read_body(buf: &[u8], touch: Touch) {
    if touch == Touch::All && buf.len() > HEADER_LEN {
        let sum: u64 = buf[HEADER_LEN..].iter().map(|&b| u64::from(b)).sum();
        std::hint::black_box(sum);
    }
}

/// Reads the sequence number of the message in `buf`; with [`Touch::All`] also reads (sums)
/// every other byte.
pub fn read_message(buf: &[u8], touch: Touch) -> u64 {
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&buf[..HEADER_LEN]);
    read_body(buf, touch);
    u64::from_le_bytes(header)
}

/// Error of a ping whose echo carried another sequence number.
pub fn check_echo(sent: u64, got: u64) -> anyhow::Result<()> {
    anyhow::ensure!(sent == got, "echo mismatch: sent {sent}, got {got}");
    Ok(())
}

/// A private axon domain for one run, `<tag>-<run id>` (cut to the 32 bytes a domain name may
/// have): parallel runs never see each other's topics. [`remove_domain_segments`] cleans it.
pub fn bench_domain(tag: &str, run_id: &str) -> anyhow::Result<axon::Domain> {
    let name: String = format!("{tag}-{run_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    axon::Domain::new("/dev/shm", &name).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Removes every segment of a run's [`bench_domain`]. Called once the run's processes are gone
/// or going: a segment still open is only unlinked, never corrupted.
pub fn remove_domain_segments(domain: &axon::Domain) {
    for topic in domain.topics().unwrap_or_default() {
        let _ = std::fs::remove_file(domain.segment_path(&topic));
    }
}

/// Identifies one run of the harness: names of services, sockets and files derive from it, so
/// parallel runs never collide. Format `axb<pid>x<n>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunId(pub String);

impl RunId {
    /// A fresh id for this process.
    pub fn fresh() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        RunId(format!("axb{}x{}", std::process::id(), n))
    }

    /// The process id embedded in an id like `axb<pid>x<n>...`, if `name` is one.
    pub fn owner_pid(name: &str) -> Option<u32> {
        let rest = name.strip_prefix("axb")?;
        let end = rest.find('x')?;
        rest[..end].parse().ok()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Gives up a wait that takes longer than its budget, or whose peer process died. Arms itself
/// on the first [`Watchdog::check`], so the fast path of a ping never reads the clock.
#[derive(Debug)]
pub struct Watchdog {
    budget: Option<Duration>,
    peer: Option<u32>,
    started: std::cell::Cell<Option<Instant>>,
    last_probe: std::cell::Cell<Option<Instant>>,
}

impl Watchdog {
    /// A watchdog that fails `budget` after its first check.
    pub fn new(budget: Duration) -> Self {
        Self {
            budget: Some(budget),
            peer: None,
            started: std::cell::Cell::new(None),
            last_probe: std::cell::Cell::new(None),
        }
    }

    /// Also fails as soon as child process `pid` has exited (probed every 10 ms at most,
    /// without reaping it).
    pub fn with_child(mut self, pid: u32) -> Self {
        self.peer = Some(pid);
        self
    }

    /// A watchdog that never fires (the child: its parent's death kills it).
    pub fn never() -> Self {
        Self {
            budget: None,
            peer: None,
            started: std::cell::Cell::new(None),
            last_probe: std::cell::Cell::new(None),
        }
    }

    /// Fails once the budget is spent or the child is gone. Call it from every slow path of a
    /// wait loop.
    pub fn check(&self) -> anyhow::Result<()> {
        let Some(budget) = self.budget else {
            return Ok(());
        };
        let now = Instant::now();
        match self.started.get() {
            None => self.started.set(Some(now)),
            Some(t0) if now.duration_since(t0) > budget => {
                anyhow::bail!("watchdog: no answer within {budget:?}")
            }
            Some(_) => {}
        }
        if let Some(pid) = self.peer {
            let due = self
                .last_probe
                .get()
                .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(10));
            if due {
                self.last_probe.set(Some(now));
                use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
                let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
                match waitid(Id::Pid(nix::unistd::Pid::from_raw(pid as i32)), flags) {
                    Ok(WaitStatus::StillAlive) => {}
                    Ok(st) => anyhow::bail!("the child died while we waited ({st:?})"),
                    Err(e) => anyhow::bail!("the child is gone ({e})"),
                }
            }
        }
        Ok(())
    }
}

/// Spins on `ready` with `spin_loop` hints, checking the watchdog every few thousand turns.
#[inline]
pub fn spin_until(mut ready: impl FnMut() -> bool, wd: &Watchdog) -> anyhow::Result<()> {
    let mut turns: u32 = 0;
    while !ready() {
        std::hint::spin_loop();
        turns = turns.wrapping_add(1);
        if turns % 4096 == 0 {
            wd.check()?;
        }
    }
    Ok(())
}

/// Context both sides of a session know: the run id and the parent's pid.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Unique per session.
    pub run_id: RunId,
    /// The process that runs the pinger.
    pub parent_pid: u32,
}

/// The parent's side: sends a message and waits for its echo.
pub trait Pinger {
    /// Called once the child said it is ready (for instance to accept its connection).
    fn ready(&mut self, _wd: &Watchdog) -> anyhow::Result<()> {
        Ok(())
    }
    /// Sends message `seq` and waits until the child echoed it.
    fn ping(&mut self, seq: u64, wd: &Watchdog) -> anyhow::Result<()>;
}

/// The child's side: waits for a message and echoes it.
pub trait Ponger {
    /// Waits for the next message, echoes it, and returns its sequence number.
    fn pong(&mut self, wd: &Watchdog) -> anyhow::Result<u64>;
}

/// One end of a two-way link that sends and receives one message at a time.
/// Both ping-pong roles follow from it (blanket impls below), so a mechanism
/// writes only how it sends and receives.
pub trait Endpoint {
    /// Sends message `seq`.
    fn send(&mut self, seq: u64) -> anyhow::Result<()>;
    /// Waits for the next message and returns its sequence number.
    fn receive(&mut self, wd: &Watchdog) -> anyhow::Result<u64>;
    /// See [`Pinger::ready`].
    fn ready(&mut self, _wd: &Watchdog) -> anyhow::Result<()> {
        Ok(())
    }
}

impl<E: Endpoint> Pinger for E {
    fn ready(&mut self, wd: &Watchdog) -> anyhow::Result<()> {
        Endpoint::ready(self, wd)
    }

    fn ping(&mut self, seq: u64, wd: &Watchdog) -> anyhow::Result<()> {
        self.send(seq)?;
        check_echo(seq, self.receive(wd)?)
    }
}

impl<E: Endpoint> Ponger for E {
    fn pong(&mut self, wd: &Watchdog) -> anyhow::Result<u64> {
        let seq = self.receive(wd)?;
        self.send(seq)?;
        Ok(seq)
    }
}

/// A way of moving a message between two processes.
pub trait Mechanism: Sync {
    /// Stable name, used on the child's command line and in reports (`floor/spin`).
    fn id(&self) -> &'static str;
    /// Whether the mechanism sleeps while it waits (it is then compared with the futex floor).
    fn sleeps(&self) -> bool;
    /// Parent side: creates the shared resources and the pinger; returns the arguments the
    /// child needs to open its side.
    fn create(&self, ctx: &Ctx, payload: Payload)
        -> anyhow::Result<(Box<dyn Pinger>, Vec<String>)>;
    /// Child side: opens what the parent created.
    fn open(&self, ctx: &Ctx, payload: Payload, args: &[String])
        -> anyhow::Result<Box<dyn Ponger>>;
}

/// Every mechanism the harness knows, floors first.
pub fn mechanisms() -> Vec<&'static dyn Mechanism> {
    vec![
        &floor_spin::SPIN,
        &floor_futex::FUTEX,
        &floor_futex::SPIN_FUTEX,
        &floor_sem::SEM,
        &floor_unix::UNIX,
        &floor_tcp::TCP,
        &iceoryx2_peer::ICEORYX2_POLL,
        &iceoryx2_peer::ICEORYX2_BLOCK,
        &axon_topic::AXON_POLL,
        &axon_topic::AXON_FUTEX,
        &axon_topic::AXON_SEM,
        &axon_topic::AXON_ADAPTIVE,
        &axon_link::AXON_UNIX_LINK,
        &axon_link::AXON_TCP_LINK,
        &iceoryx2_rr::ICEORYX2_RR_POLL,
        &axon_service::AXON_SERVICE_POLL,
        &axon_service::AXON_SERVICE_FUTEX,
    ]
}

/// The mechanism called `id`.
pub fn find_mechanism(id: &str) -> Option<&'static dyn Mechanism> {
    mechanisms().into_iter().find(|m| m.id() == id)
}
