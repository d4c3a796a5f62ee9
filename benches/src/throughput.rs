//! Cross-process throughput: one publishing process, N subscribing processes, as many messages
//! as fit in a time budget.
//!
//! # Method
//!
//! The parent (the process running `bench-throughput`) opens the topic and its publisher, then
//! re-executes its own binary once per subscriber with [`CHILD_FLAG`]. Each child opens a
//! subscriber, prints `ready`, receives until it gets the [`STOP`] message, and prints one
//! `done key=value...` line with what it counted. Once every child is ready (and the topic
//! shows every subscriber), the parent publishes back to back for the run's duration, then
//! publishes `STOP`.
//!
//! - **Payload**: the first 8 bytes carry the sequence number (1, 2, 3, ...). Larger payloads
//!   are filled by the writer with `seq as u8` in every byte, and the reader compares every
//!   byte against that pattern (an OR-reduction over all words, so no byte is skipped): a
//!   zero-copy transport gets no credit for never touching the data, and a torn or stale
//!   payload is counted as `corrupt`.
//! - **Lossy** rows (best effort, keep-last `history`): the publisher never waits. The child
//!   counts the gaps in the sequence numbers; loss = 1 - received / published.
//! - **Lossless** rows (reliable subscribers): a publish that finds the slowest subscriber
//!   `history` samples behind (`LoanError::Full`; for iceoryx2, a send that reached no
//!   subscriber) is retried, spinning. The child checks that every sequence number arrives
//!   once, in order, and the row fails when one did not.
//! - **Rates**: sent = published / the publisher's time from first to last message; received
//!   = a child's messages / its time from its first message to `STOP`.
//! - **Placement**: with two or more CPUs, the publisher thread runs on the first CPU and the
//!   subscribers are spread over the others (all on the second one on a 2-CPU machine); the
//!   parent thread's affinity is restored afterwards.
//!
//! # Robustness
//!
//! The publish loop consults one [`Watchdog`] per child on its slow path (every few thousand
//! spins while the topic is full, and every check of the clock), so a dead child fails the run
//! within ~10 ms instead of hanging it; a child that never says `ready` or `done` fails it
//! after the time-out. Children set `PR_SET_PDEATHSIG(SIGKILL)`, and dropping a run kills and
//! reaps its children. axon runs use a private domain (`/dev/shm/axon.tp-<run>...`) whose files
//! the parent removes at the end; iceoryx2 runs use their own root and prefix (as in
//! [`crate::iceoryx2_peer`], whose `sweep_stale` also removes what a crashed run left).

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context as _};

use crate::affinity::{self, Pinning};
use crate::{RunId, Watchdog, HEADER_LEN, STOP};

/// First argument that turns a throughput binary into a subscriber child.
pub const CHILD_FLAG: &str = "__axon-throughput-child";

/// Which middleware carries the messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// axon slice topics (`Publisher<[u8]>` / `Subscriber<[u8]>`).
    Axon,
    /// iceoryx2 0.10 publish-subscribe over `[u8]`.
    Iceoryx2,
}

impl Transport {
    /// Name used on the child's command line and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Axon => "axon",
            Transport::Iceoryx2 => "iceoryx2",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "axon" => Some(Transport::Axon),
            "iceoryx2" => Some(Transport::Iceoryx2),
            _ => None,
        }
    }
}

/// What the publisher does when a subscriber falls behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Keep-last: the subscriber loses the oldest samples, the publisher never waits.
    Lossy,
    /// Reliable: the publisher retries until there is room; nothing is lost.
    Lossless,
}

impl Delivery {
    /// Name used on the child's command line and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Lossy => "lossy",
            Delivery::Lossless => "lossless",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "lossy" => Some(Delivery::Lossy),
            "lossless" => Some(Delivery::Lossless),
            _ => None,
        }
    }
}

/// How a subscriber waits for the next message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Busy-polls `try_recv` (one CPU per subscriber).
    Poll,
    /// `recv_timeout` with [`axon::WakeMechanism::Futex`]: sleeps at once when empty.
    Futex,
    /// `recv_timeout` with [`axon::WakeMechanism::Adaptive`] (default spin budget, then futex).
    Adaptive,
}

impl Wait {
    /// Name used on command lines and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Wait::Poll => "poll",
            Wait::Futex => "futex",
            Wait::Adaptive => "adaptive",
        }
    }

    /// Inverse of [`Wait::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "poll" => Some(Wait::Poll),
            "futex" => Some(Wait::Futex),
            "adaptive" => Some(Wait::Adaptive),
            _ => None,
        }
    }
}

/// One row of the table: what is sent, to how many subscribers, and how they wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Label in the table (`8 B lossy`, `fan-out 4`).
    pub name: String,
    /// Middleware.
    pub transport: Transport,
    /// Lossy or lossless.
    pub delivery: Delivery,
    /// Bytes per message, at least [`HEADER_LEN`].
    pub size: usize,
    /// Subscriber processes.
    pub subscribers: usize,
    /// How they wait.
    pub wait: Wait,
    /// Keep-last depth (iceoryx2: the subscriber buffer size).
    pub history: u32,
}

/// The rows `bench-throughput` measures by default. `fanout_wait` is how fan-out subscribers
/// wait (see the README for why futex is the default on 2 CPUs); `iceoryx2` adds its 8 B
/// one-way rows for comparison.
pub fn default_rows(fanout_wait: Wait, iceoryx2: bool) -> Vec<Row> {
    let one_way = |name: &str, transport, delivery, size, history| Row {
        name: name.to_string(),
        transport,
        delivery,
        size,
        subscribers: 1,
        wait: Wait::Poll,
        history,
    };
    let mut rows = vec![
        one_way(
            "8 B lossy",
            Transport::Axon,
            Delivery::Lossy,
            HEADER_LEN,
            64,
        ),
        one_way(
            "8 B lossless",
            Transport::Axon,
            Delivery::Lossless,
            HEADER_LEN,
            64,
        ),
        one_way(
            "1 MiB lossless",
            Transport::Axon,
            Delivery::Lossless,
            1 << 20,
            8,
        ),
    ];
    for n in [1, 2, 4, 8] {
        rows.push(Row {
            name: format!("fan-out {n}"),
            transport: Transport::Axon,
            delivery: Delivery::Lossless,
            size: HEADER_LEN,
            subscribers: n,
            wait: fanout_wait,
            history: 256,
        });
    }
    if iceoryx2 {
        rows.push(one_way(
            "8 B lossy",
            Transport::Iceoryx2,
            Delivery::Lossy,
            HEADER_LEN,
            64,
        ));
        rows.push(one_way(
            "8 B lossless",
            Transport::Iceoryx2,
            Delivery::Lossless,
            HEADER_LEN,
            64,
        ));
    }
    rows
}

/// How a run is set up.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// How long the publisher publishes.
    pub duration: Duration,
    /// Placement of publisher and subscribers.
    pub pinning: Pinning,
    /// A child that is not ready, or not done after `STOP`, within this fails the run.
    pub timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_millis(300),
            pinning: Pinning::Auto,
            timeout: Duration::from_secs(30),
        }
    }
}

/// What one subscriber counted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SubReport {
    /// Messages received (without `STOP`).
    pub received: u64,
    /// Sequence numbers skipped (lost messages).
    pub missing: u64,
    /// Messages whose sequence number was not above the previous one.
    pub disorder: u64,
    /// Messages whose bytes did not match their sequence number.
    pub corrupt: u64,
    /// The transport's own count of lost samples (axon: `Subscriber::dropped`).
    pub dropped: u64,
    /// Seconds from the first message to `STOP`.
    pub secs: f64,
}

impl SubReport {
    /// Messages per second received.
    pub fn rate(&self) -> f64 {
        rate(self.received, self.secs)
    }

    fn to_line(self) -> String {
        format!(
            "done received={} missing={} disorder={} corrupt={} dropped={} secs={}",
            self.received, self.missing, self.disorder, self.corrupt, self.dropped, self.secs
        )
    }

    fn parse(line: &str) -> anyhow::Result<Self> {
        let rest = line
            .trim()
            .strip_prefix("done ")
            .ok_or_else(|| anyhow!("child said {line:?} instead of done"))?;
        let mut r = SubReport::default();
        for kv in rest.split_whitespace() {
            let (k, v) = kv.split_once('=').context("done: key=value")?;
            match k {
                "received" => r.received = v.parse()?,
                "missing" => r.missing = v.parse()?,
                "disorder" => r.disorder = v.parse()?,
                "corrupt" => r.corrupt = v.parse()?,
                "dropped" => r.dropped = v.parse()?,
                "secs" => r.secs = v.parse()?,
                _ => bail!("done: unknown key {k}"),
            }
        }
        Ok(r)
    }
}

/// What one run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Messages published (without `STOP`).
    pub published: u64,
    /// Seconds the publisher spent publishing them.
    pub pub_secs: f64,
    /// One report per subscriber.
    pub subs: Vec<SubReport>,
}

impl RunResult {
    /// Messages per second published.
    pub fn sent_rate(&self) -> f64 {
        rate(self.published, self.pub_secs)
    }

    /// Median over subscribers of their received rate.
    pub fn per_sub_rate(&self) -> f64 {
        median(self.subs.iter().map(SubReport::rate).collect())
    }

    /// Sum of the subscribers' received rates.
    pub fn total_rate(&self) -> f64 {
        self.subs.iter().map(SubReport::rate).sum()
    }

    /// Largest fraction of published messages a subscriber did not receive.
    pub fn loss(&self) -> f64 {
        if self.published == 0 {
            return 0.0;
        }
        self.subs
            .iter()
            .map(|s| 1.0 - s.received.min(self.published) as f64 / self.published as f64)
            .fold(0.0, f64::max)
    }

    /// For a lossless row: why it is not lossless (`None` when every subscriber got every
    /// message exactly once, in order, intact).
    pub fn lossless_violation(&self) -> Option<String> {
        for (i, s) in self.subs.iter().enumerate() {
            if s.received != self.published || s.missing + s.disorder + s.corrupt + s.dropped > 0 {
                return Some(format!(
                    "subscriber {i}: received {} of {} (missing {}, disorder {}, corrupt {}, \
                     dropped {})",
                    s.received, self.published, s.missing, s.disorder, s.corrupt, s.dropped
                ));
            }
        }
        None
    }

    /// Whether any subscriber saw a corrupted payload or a message out of order.
    pub fn integrity_violation(&self) -> Option<String> {
        self.subs.iter().enumerate().find_map(|(i, s)| {
            (s.corrupt + s.disorder > 0).then(|| {
                format!(
                    "subscriber {i}: {} corrupt, {} out of order",
                    s.corrupt, s.disorder
                )
            })
        })
    }
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// Median of `v` (mean of the middle two for an even count; 0 for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// CPU of the publisher thread and of each subscriber, and a description for the header.
pub fn placement(pinning: Pinning, subscribers: usize) -> (Option<usize>, Vec<Option<usize>>) {
    let cpus = affinity::available_cpus();
    match (pinning, cpus.as_slice()) {
        (Pinning::Auto, [first, rest @ ..]) if !rest.is_empty() => (
            Some(*first),
            (0..subscribers)
                .map(|i| Some(rest[i % rest.len()]))
                .collect(),
        ),
        (Pinning::SameCpu, [first, ..]) => (Some(*first), vec![Some(*first); subscribers]),
        _ => (None, vec![None; subscribers]),
    }
}

/// One line saying where publisher and subscribers run.
pub fn describe_placement(pinning: Pinning) -> String {
    let cpus = affinity::available_cpus();
    match (pinning, cpus.as_slice()) {
        (Pinning::Auto, [first, rest @ ..]) if !rest.is_empty() => format!(
            "pinned: publisher on CPU {first}, subscribers on CPU{} {}",
            if rest.len() > 1 { "s" } else { "" },
            rest.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        (Pinning::SameCpu, [first, ..]) => format!("pinned: everything on CPU {first}"),
        (Pinning::Off, _) => format!("NOT pinned (pinning off; {} CPUs)", cpus.len()),
        _ => "NOT pinned: only 1 CPU available".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Payload

fn write_payload(buf: &mut [u8], seq: u64) {
    if buf.len() > HEADER_LEN {
        buf[HEADER_LEN..].fill(seq as u8);
    }
    buf[..HEADER_LEN].copy_from_slice(&seq.to_le_bytes());
}

/// The sequence number in `buf`, and whether every byte after the header is `seq as u8`
/// (every byte is read: the words are XORed with the pattern and ORed together).
fn read_payload(buf: &[u8]) -> (u64, bool) {
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&buf[..HEADER_LEN]);
    let seq = u64::from_le_bytes(header);
    let body = &buf[HEADER_LEN..];
    if body.is_empty() {
        return (seq, true);
    }
    let byte = seq as u8;
    let pattern = u64::from_ne_bytes([byte; 8]);
    let words = body.chunks_exact(8);
    let tail = words
        .remainder()
        .iter()
        .fold(0u8, |acc, b| acc | (b ^ byte));
    let diff = words.fold(0u64, |acc, w| {
        acc | (u64::from_ne_bytes(w.try_into().expect("8-byte chunk")) ^ pattern)
    });
    (seq, std::hint::black_box(diff) == 0 && tail == 0)
}

/// The child's bookkeeping of what arrived.
struct Tally {
    next: u64,
    report: SubReport,
    first: Option<Instant>,
}

impl Tally {
    fn new() -> Self {
        Self {
            next: 1,
            report: SubReport::default(),
            first: None,
        }
    }

    /// Counts one message; returns true for `STOP`.
    fn on_message(&mut self, buf: &[u8]) -> bool {
        let (seq, intact) = read_payload(buf);
        if seq == STOP {
            self.report.secs = self.first.map_or(0.0, |t| t.elapsed().as_secs_f64());
            return true;
        }
        if self.first.is_none() {
            self.first = Some(Instant::now());
        }
        let r = &mut self.report;
        r.received += 1;
        if !intact {
            r.corrupt += 1;
        }
        if seq >= self.next {
            r.missing += seq - self.next;
            self.next = seq + 1;
        } else {
            r.disorder += 1;
        }
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Publisher side

/// The parent's publisher.
trait Source {
    /// Subscribers the publisher sees on the topic.
    fn subscribers(&self) -> usize;
    /// Publishes message `seq`; false if it was not delivered (topic full) and must be retried.
    fn try_send(&mut self, seq: u64) -> anyhow::Result<bool>;
}

/// The child's subscriber.
trait Sink {
    /// Waits a little for the next message and hands it to `f`; `None` if none came.
    fn next<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> anyhow::Result<Option<R>>;
    /// The transport's count of lost samples.
    fn dropped(&self) -> u64;
}

mod axon_side {
    use super::*;
    use axon::{Domain, LoanError, Node, Publisher, Subscriber, WaitError, WakeMechanism};

    fn domain(run_id: &str) -> anyhow::Result<Domain> {
        crate::bench_domain("tp", run_id)
    }

    const TOPIC: &str = "/throughput";

    /// Removes the run's segments on drop (after the publisher is gone).
    pub(super) struct DomainCleanup(Domain);

    impl Drop for DomainCleanup {
        fn drop(&mut self) {
            crate::remove_domain_segments(&self.0);
        }
    }

    pub(super) struct AxonSource {
        publisher: Publisher<[u8]>,
        size: usize,
        _node: Node,
    }

    pub(super) fn source(row: &Row, run_id: &str) -> anyhow::Result<(AxonSource, DomainCleanup)> {
        let domain = domain(run_id)?;
        let cleanup = DomainCleanup(domain.clone());
        let node = Node::builder("tp-pub").domain(domain).create()?;
        let publisher = node
            .publisher::<[u8]>(TOPIC)
            .history(row.history)
            .max_publishers(1)
            .max_subscribers(row.subscribers as u32)
            .max_len(row.size)
            .create()?;
        Ok((
            AxonSource {
                publisher,
                size: row.size,
                _node: node,
            },
            cleanup,
        ))
    }

    impl Source for AxonSource {
        fn subscribers(&self) -> usize {
            self.publisher.raw().subscriber_count()
        }

        #[inline]
        fn try_send(&mut self, seq: u64) -> anyhow::Result<bool> {
            match self.publisher.loan_slice(self.size) {
                Ok(mut loan) => {
                    write_payload(&mut loan, seq);
                    loan.send();
                    Ok(true)
                }
                Err(LoanError::Full { .. }) => Ok(false),
                Err(e) => Err(anyhow!("loan: {e}")),
            }
        }
    }

    pub(super) struct AxonSink {
        subscriber: Subscriber<[u8]>,
        wait: Wait,
        _node: Node,
    }

    pub(super) fn sink(row: &Row, run_id: &str) -> anyhow::Result<AxonSink> {
        let node = Node::builder("tp-sub").domain(domain(run_id)?).create()?;
        let mut builder = node
            .subscriber::<[u8]>(TOPIC)
            .history(row.history)
            .max_publishers(1)
            .max_subscribers(row.subscribers as u32)
            .max_len(row.size);
        if row.delivery == Delivery::Lossless {
            builder = builder.reliable();
        }
        builder = match row.wait {
            Wait::Poll | Wait::Futex => builder.wake(WakeMechanism::Futex),
            Wait::Adaptive => builder.wake(WakeMechanism::Adaptive { spin: None }),
        };
        let subscriber = builder.create()?;
        Ok(AxonSink {
            subscriber,
            wait: row.wait,
            _node: node,
        })
    }

    impl Sink for AxonSink {
        #[inline]
        fn next<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> anyhow::Result<Option<R>> {
            if self.wait == Wait::Poll {
                return Ok(self.subscriber.try_recv()?.map(|s| f(&s)));
            }
            match self.subscriber.recv_timeout(Duration::from_millis(100)) {
                Ok(s) => Ok(Some(f(&s))),
                Err(WaitError::Timeout) => Ok(None),
                Err(e) => Err(anyhow!("recv: {e}")),
            }
        }

        fn dropped(&self) -> u64 {
            self.subscriber.dropped()
        }
    }
}

mod iceoryx2_side {
    use super::*;
    use iceoryx2::port::publisher::Publisher;
    use iceoryx2::port::subscriber::Subscriber;
    use iceoryx2::prelude::*;

    const ROOT: &str = "/tmp/iceoryx2";

    fn config(run_id: &str) -> anyhow::Result<Config> {
        let mut config = Config::default();
        config.global.set_root_path(
            &Path::new(format!("{ROOT}/{run_id}/").as_bytes())
                .map_err(|e| anyhow!("root path: {e:?}"))?,
        );
        config.global.prefix =
            FileName::new(format!("{run_id}_").as_bytes()).map_err(|e| anyhow!("prefix: {e:?}"))?;
        Ok(config)
    }

    type Service =
        iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>;

    fn open(row: &Row, run_id: &str) -> anyhow::Result<(Node<ipc::Service>, Service)> {
        set_log_level(LogLevel::Error);
        let node = NodeBuilder::new()
            .config(&config(run_id)?)
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<ipc::Service>()
            .map_err(|e| anyhow!("iceoryx2 node: {e:?}"))?;
        let name: ServiceName = format!("axon-bench/{run_id}/throughput")
            .as_str()
            .try_into()
            .map_err(|e| anyhow!("service name: {e:?}"))?;
        let service = node
            .service_builder(&name)
            .publish_subscribe::<[u8]>()
            .max_publishers(1)
            .max_subscribers(row.subscribers)
            .history_size(0)
            .subscriber_max_buffer_size(row.history as usize)
            .enable_safe_overflow(row.delivery == Delivery::Lossy)
            .open_or_create()
            .map_err(|e| anyhow!("iceoryx2 service: {e:?}"))?;
        Ok((node, service))
    }

    /// Removes the run's iceoryx2 files on drop (after the ports and the node).
    pub(super) struct Cleanup(String);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(format!("{ROOT}/{}", self.0));
            let _ = std::fs::remove_dir(ROOT);
            let prefix = format!("{}_", self.0);
            for e in std::fs::read_dir("/dev/shm")
                .into_iter()
                .flatten()
                .flatten()
            {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// Field order is drop order: port, service, node.
    pub(super) struct IoxSource {
        publisher: Publisher<ipc::Service, [u8], ()>,
        service: Service,
        size: usize,
        subscribers: usize,
        _node: Node<ipc::Service>,
    }

    pub(super) fn source(row: &Row, run_id: &str) -> anyhow::Result<(IoxSource, Cleanup)> {
        crate::iceoryx2_peer::sweep_stale();
        let cleanup = Cleanup(run_id.to_string());
        let (node, service) = open(row, run_id)?;
        let publisher = service
            .publisher_builder()
            .initial_max_slice_len(row.size)
            // Lossless: a full subscriber buffer makes `send` report fewer receivers, and the
            // loop retries (so the watchdog keeps running, unlike RetryUntilDelivered).
            .backpressure_strategy(BackpressureStrategy::DiscardData)
            .create()
            .map_err(|e| anyhow!("iceoryx2 publisher: {e:?}"))?;
        Ok((
            IoxSource {
                publisher,
                service,
                size: row.size,
                subscribers: row.subscribers,
                _node: node,
            },
            cleanup,
        ))
    }

    impl Source for IoxSource {
        fn subscribers(&self) -> usize {
            self.service.dynamic_config().number_of_subscribers()
        }

        #[inline]
        fn try_send(&mut self, seq: u64) -> anyhow::Result<bool> {
            let sample = self
                .publisher
                .loan_slice_uninit(self.size)
                .map_err(|e| anyhow!("loan: {e:?}"))?;
            let header = seq.to_le_bytes();
            let sample =
                sample.write_from_fn(|i| if i < HEADER_LEN { header[i] } else { seq as u8 });
            let receivers = sample.send().map_err(|e| anyhow!("send: {e:?}"))?;
            // Fewer receivers: a subscriber's buffer was full (lossless) or a connection is
            // not set up yet; either way the message did not reach everyone: send it again.
            Ok(receivers >= self.subscribers)
        }
    }

    pub(super) struct IoxSink {
        subscriber: Subscriber<ipc::Service, [u8], ()>,
        _service: Service,
        _node: Node<ipc::Service>,
    }

    pub(super) fn sink(row: &Row, run_id: &str) -> anyhow::Result<IoxSink> {
        ensure!(row.wait == Wait::Poll, "iceoryx2 rows busy-poll");
        let (node, service) = open(row, run_id)?;
        let subscriber = service
            .subscriber_builder()
            .create()
            .map_err(|e| anyhow!("iceoryx2 subscriber: {e:?}"))?;
        Ok(IoxSink {
            subscriber,
            _service: service,
            _node: node,
        })
    }

    impl Sink for IoxSink {
        #[inline]
        fn next<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> anyhow::Result<Option<R>> {
            let sample = self
                .subscriber
                .receive()
                .map_err(|e| anyhow!("receive: {e:?}"))?;
            Ok(sample.map(|s| f(s.payload())))
        }

        fn dropped(&self) -> u64 {
            0
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parent

/// The children of one run; dropping it kills and reaps those still running.
struct Children {
    procs: Vec<Child>,
    lines: mpsc::Receiver<(usize, Option<String>)>,
    watchdogs: Vec<Watchdog>,
}

impl Children {
    fn spawn(
        row: &Row,
        run_id: &RunId,
        cpus: &[Option<usize>],
        budget: Duration,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding the benchmark binary")?;
        let (tx, lines) = mpsc::channel();
        let mut children = Children {
            procs: vec![],
            lines,
            watchdogs: vec![],
        };
        for (i, cpu) in cpus.iter().enumerate() {
            let mut child = Command::new(&exe)
                .arg(CHILD_FLAG)
                .arg(row.transport.as_str())
                .arg(row.delivery.as_str())
                .arg(row.size.to_string())
                .arg(row.history.to_string())
                .arg(row.subscribers.to_string())
                .arg(row.wait.as_str())
                .arg(&run_id.0)
                .arg(std::process::id().to_string())
                .arg(cpu.map_or_else(|| "-".to_string(), |c| c.to_string()))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("spawning subscriber {i}"))?;
            let stdout = child.stdout.take().expect("stdout is piped");
            children
                .watchdogs
                .push(Watchdog::new(budget).with_child(child.id()));
            children.procs.push(child);
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    match line {
                        Ok(l) => {
                            if tx.send((i, Some(l))).is_err() {
                                return;
                            }
                        }
                        Err(_) => break,
                    }
                }
                let _ = tx.send((i, None));
            });
        }
        Ok(children)
    }

    /// Fails when a child died or the budget is spent.
    fn check(&self) -> anyhow::Result<()> {
        for (i, wd) in self.watchdogs.iter().enumerate() {
            wd.check().with_context(|| format!("subscriber {i}"))?;
        }
        Ok(())
    }

    /// Waits for one line from every child, each passed to `f`.
    fn collect<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&str) -> anyhow::Result<T>,
    ) -> anyhow::Result<Vec<T>> {
        let deadline = Instant::now() + timeout;
        let mut got: Vec<Option<T>> = (0..self.procs.len()).map(|_| None).collect();
        while got.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((i, Some(line))) if got[i].is_none() => {
                    got[i] = Some(f(&line).with_context(|| format!("subscriber {i}"))?)
                }
                Ok((i, Some(line))) => bail!("subscriber {i}: unexpected line {line:?}"),
                // End of output after its line: the child exited, as it should after done.
                Ok((i, None)) if got[i].is_some() => {}
                Ok((i, None)) => bail!("subscriber {i} exited before {what}{}", self.status(i)),
                Err(_) => bail!("watchdog: not every subscriber was {what} within {timeout:?}"),
            }
        }
        Ok(got.into_iter().map(|g| g.expect("all set")).collect())
    }

    /// ` (exit status ...)` of child `i` if it has exited (waits up to 100 ms for it).
    fn status(&self, i: usize) -> String {
        use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
        let pid = nix::unistd::Pid::from_raw(self.procs[i].id() as i32);
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        for _ in 0..100 {
            match waitid(Id::Pid(pid), flags) {
                Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(1)),
                Ok(st) => return format!(" ({st:?})"),
                Err(e) => return format!(" ({e})"),
            }
        }
        String::new()
    }

    /// Waits (up to `timeout`) for every child to exit, and fails unless all exited with 0.
    fn reap(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for (i, child) in self.procs.iter_mut().enumerate() {
            loop {
                match child.try_wait()? {
                    Some(st) if st.success() => break,
                    Some(st) => bail!("subscriber {i} exited with {st}"),
                    None if Instant::now() > deadline => {
                        bail!("subscriber {i} did not exit after STOP")
                    }
                    None => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        }
        Ok(())
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.procs {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// Restores the calling thread's CPU affinity on drop.
struct AffinityGuard(Option<nix::sched::CpuSet>);

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = affinity::restore(saved);
        }
    }
}

/// Measures `row` once: starts the subscribers, publishes for `opts.duration`, collects their
/// reports.
pub fn run_once(row: &Row, opts: &RunOptions) -> anyhow::Result<RunResult> {
    ensure!(row.size >= HEADER_LEN, "messages carry at least the header");
    ensure!(row.subscribers >= 1, "at least one subscriber");
    let run_id = RunId::fresh();
    // Field order of the locals below is reversed on drop: children first, then the
    // publisher, then the files.
    let res = match row.transport {
        Transport::Axon => {
            let (source, _cleanup) = axon_side::source(row, &run_id.0)?;
            drive(row, opts, &run_id, source)
        }
        Transport::Iceoryx2 => {
            let (source, _cleanup) = iceoryx2_side::source(row, &run_id.0)?;
            drive(row, opts, &run_id, source)
        }
    };
    res.with_context(|| format!("{} {}", row.transport.as_str(), row.name))
}

fn drive(
    row: &Row,
    opts: &RunOptions,
    run_id: &RunId,
    mut source: impl Source,
) -> anyhow::Result<RunResult> {
    let (pub_cpu, sub_cpus) = placement(opts.pinning, row.subscribers);
    let budget = opts.duration + opts.timeout;
    let mut children = Children::spawn(row, run_id, &sub_cpus, budget)?;
    children.collect("ready", opts.timeout, |line| {
        ensure!(line.trim() == "ready", "said {line:?} instead of ready");
        Ok(())
    })?;
    let wd = Watchdog::new(opts.timeout);
    while source.subscribers() < row.subscribers {
        wd.check()
            .context("the topic does not show every subscriber")?;
        children.check()?;
        std::thread::sleep(Duration::from_micros(100));
    }

    let _affinity = AffinityGuard(affinity::current().ok());
    if let Some(cpu) = pub_cpu {
        affinity::pin_current_thread(cpu)
            .with_context(|| format!("pinning the publisher to CPU {cpu}"))?;
    }
    // Large messages are few: read the clock after each one; small ones every 256.
    let check_every: u64 = if row.size >= 4096 { 1 } else { 256 };
    let mut seq: u64 = 1;
    let mut spins: u32 = 0;
    let t0 = Instant::now();
    let deadline = t0 + opts.duration;
    let end = loop {
        if seq % check_every == 0 {
            let now = Instant::now();
            if now >= deadline {
                break now;
            }
            children.check()?;
        }
        if source.try_send(seq)? {
            seq += 1;
            spins = 0;
        } else {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins % 4096 == 0 {
                children.check()?;
            }
        }
    };
    let published = seq - 1;
    while !source.try_send(STOP)? {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % 4096 == 0 {
            children.check()?;
        }
    }
    drop(_affinity);
    let subs = children.collect("done", opts.timeout, SubReport::parse)?;
    children.reap(Duration::from_secs(5))?;
    Ok(RunResult {
        published,
        pub_secs: (end - t0).as_secs_f64(),
        subs,
    })
}

// ---------------------------------------------------------------------------------------------
// Child

/// If this process was started as a subscriber child ([`CHILD_FLAG`] as first argument), runs
/// it and exits; otherwise returns. Call it first thing in `main`.
pub fn run_child_if_requested() {
    crate::harness::run_child_with(CHILD_FLAG, "axon throughput child", child_main);
}

fn child_main(args: &[String]) -> anyhow::Result<()> {
    let [transport, delivery, size, history, subscribers, wait, run_id, parent_pid, cpu] = args
    else {
        bail!(
            "child arguments: transport delivery size history subscribers wait run-id \
             parent-pid cpu"
        );
    };
    crate::harness::adopt_child(parent_pid, cpu)?;
    let row = Row {
        name: String::new(),
        transport: Transport::parse(transport).ok_or_else(|| anyhow!("transport {transport}"))?,
        delivery: Delivery::parse(delivery).ok_or_else(|| anyhow!("delivery {delivery}"))?,
        size: size.parse().context("size")?,
        subscribers: subscribers.parse().context("subscribers")?,
        wait: Wait::parse(wait).ok_or_else(|| anyhow!("wait {wait}"))?,
        history: history.parse().context("history")?,
    };
    match row.transport {
        Transport::Axon => receive_all(axon_side::sink(&row, run_id)?),
        Transport::Iceoryx2 => receive_all(iceoryx2_side::sink(&row, run_id)?),
    }
}

fn receive_all(mut sink: impl Sink) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let mut tally = Tally::new();
    loop {
        match sink.next(|buf| tally.on_message(buf))? {
            Some(true) => break,
            Some(false) => {}
            None => std::hint::spin_loop(),
        }
    }
    tally.report.dropped = sink.dropped();
    writeln!(out, "{}", tally.report.to_line())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip_and_corruption() {
        let mut buf = vec![0u8; 1000];
        write_payload(&mut buf, 77);
        assert_eq!(read_payload(&buf), (77, true));
        buf[999] ^= 1;
        assert_eq!(read_payload(&buf), (77, false));
        let mut small = [0u8; 8];
        write_payload(&mut small, STOP);
        assert_eq!(read_payload(&small), (STOP, true));
    }

    #[test]
    fn tally_counts_gaps_and_disorder() {
        let mut t = Tally::new();
        for seq in [1u64, 2, 5, 4, 6] {
            let mut b = [0u8; 8];
            write_payload(&mut b, seq);
            assert!(!t.on_message(&b));
        }
        assert_eq!(t.report.received, 5);
        assert_eq!(t.report.missing, 2);
        assert_eq!(t.report.disorder, 1);
        let line = t.report.to_line();
        assert_eq!(SubReport::parse(&line).unwrap(), t.report);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }
}
