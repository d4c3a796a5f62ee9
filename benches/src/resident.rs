//! Resident memory of a camera topic: axon beside iceoryx2, in the same run.
//!
//! # What is measured
//!
//! One 640x480 RGB8 image topic (`axon_msgs::Image`, 921 600 bytes of pixels plus its 136-byte
//! header: [`IMAGE_BYTES`] per sample), one publisher process and one subscriber process, the
//! same history ([`HISTORY`]) and capacities on both sides. The publisher sends [`SAMPLES`]
//! frames, writing every pixel; the subscriber busy-polls and reads every byte of each frame it
//! gets. Two paces ([`Pace`]): *lockstep*, the next frame once the subscriber has read and
//! released the previous one (a subscriber that keeps up, like a viewer of a 30 Hz camera; the
//! working set is then fixed by the protocol, so the figures repeat exactly), and *burst*,
//! every frame back to back while the subscriber falls behind (the working set a slow reader
//! causes, which depends on timing). Then, with both processes still holding their ports, the
//! parent measures what each middleware holds for the topic:
//!
//! - **shared memory resident**: the allocated tmpfs pages (`st_blocks * 512`) of every file
//!   the run created in `/dev/shm` (axon: the files of the run's private domain, found by the
//!   domain's file prefix; iceoryx2: the files of the run's own file prefix `<run-id>_`). This
//!   is memory taken from the machine whether or not a process maps it. The sum of the files'
//!   sizes is printed beside it (the most the files can hold).
//! - **other files**: iceoryx2 also keeps node and service description files under its root
//!   (`/tmp/iceoryx2/<run-id>/`, on disk here, not in `/dev/shm`); their allocated bytes are
//!   shown separately and not added (axon has none).
//! - **each process's private memory growth** (`RssAnon` from `/proc/<pid>/status`, at the
//!   measurement minus at the process's start, before it created anything) and the shared
//!   pages it has mapped and touched (`RssShmem`).
//! - for axon, what `axon topic info` shows: the topic's reserved bytes (the same allocated
//!   pages, through `axon::inspect`) and the most it can reserve (the file's size).
//!
//! The ratio the gate checks is axon's shared memory resident / iceoryx2's.
//!
//! # How each side is configured (both from one [`Capacities`])
//!
//! | | axon | iceoryx2 0.10 |
//! |---|---|---|
//! | message | `Image` slice topic, `.max_len(921_600)` | `publish_subscribe::<[u8]>()`, publisher `.initial_max_slice_len(921_736)` (static allocation, the default) |
//! | history 4 | `.history(4)` (keep-last ring per publisher, also how far a reader may lag) | `.history_size(4)` and `.subscriber_max_buffer_size(4)`, subscriber `.buffer_size(4)`, safe overflow on (keep the newest) |
//! | publishers / subscribers | `.max_publishers(p)`, `.max_subscribers(s)` | `.max_publishers(p)`, `.max_subscribers(s)` |
//! | samples a subscriber holds | `.max_held(h)` | `.subscriber_max_borrowed_samples(h)` |
//! | loans a publisher holds | `.max_loans(l)` | publisher `.max_loaned_samples(l)` |
//!
//! [`Capacities::Defaults`] is axon's defaults (4 publishers, 8 subscribers, 2 held, 2 loans)
//! given to both; [`Capacities::OneToOne`] sizes both for exactly one publisher and one
//! subscriber (2 held, 2 loans). Worst cases these imply:
//! axon reserves `history + max_subscribers x max_held + max_loans + 1` slots per publisher lane
//! at most (23 or 9 here; lanes above 4 MiB reserve a slot on its first use, and only lanes a
//! publisher claimed); iceoryx2's publisher data segment holds
//! `max_subscribers x (buffer + borrowed) + history + loans` samples (54 or 12 here). Both
//! files are sparse: only the slots (axon) or chunks (iceoryx2's pool allocator) handed out
//! get pages, so the resident figures follow the working set, not these worst cases.
//!
//! # Processes
//!
//! The parent re-executes its own binary twice (`current_exe() __axon-resident-child
//! publisher|subscriber ...`), the publisher first; each child prints `base <RssAnon kB>`,
//! creates its side, prints `ready`. The subscriber prints `got <seq>` for every frame it has
//! read and released. Lockstep: the parent writes `next` to the publisher (which sends one frame
//! and prints `sent <seq>`) and waits for the subscriber's `got <seq>`, [`SAMPLES`] times.
//! Burst: it writes `burst` once and reads `got` lines until the last frame's. Then it
//! measures, and closes both children's stdin, on which they drop their ports and exit 0.
//! Every wait has a 30 s watchdog; children die with the parent
//! (`PR_SET_PDEATHSIG`); the run's files are removed at the end (axon's last participant
//! removes its segment itself; the parent removes iceoryx2's root and `/dev/shm` files).

use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context as _};
use axon_msgs::{encodings, Encoding, Image};

use crate::affinity::{self, Pinning};
use crate::{Ctx, RunId};

/// First argument that turns a harness binary into a resident-memory child.
pub const CHILD_FLAG: &str = "__axon-resident-child";

/// Image width, pixels.
pub const WIDTH: u32 = 640;
/// Image height, pixels.
pub const HEIGHT: u32 = 480;
/// Bytes of pixels (RGB8).
pub const PIXELS: usize = WIDTH as usize * HEIGHT as usize * 3;
/// `Image`'s fixed part before `data`.
pub const IMAGE_HEADER: usize = 136;
/// Bytes of one sample: the `Image` header and its pixels.
pub const IMAGE_BYTES: usize = IMAGE_HEADER + PIXELS;
/// History on both sides.
pub const HISTORY: u32 = 4;
/// Frames published per run.
pub const SAMPLES: u64 = 200;

const TOPIC: &str = "/camera/image";
const TIMEOUT: Duration = Duration::from_secs(30);

/// The capacities both middlewares get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capacities {
    /// axon's defaults for both: 4 publishers, 8 subscribers, 2 held, 2 loans.
    Defaults,
    /// Exactly one publisher and one subscriber; 2 held, 2 loans.
    OneToOne,
}

impl Capacities {
    /// Every variant, in table order.
    pub const ALL: [Capacities; 2] = [Capacities::Defaults, Capacities::OneToOne];

    /// The name on command lines, in `thresholds.toml` and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Capacities::Defaults => "defaults",
            Capacities::OneToOne => "one-to-one",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// (publishers, subscribers, held per subscriber, loans per publisher).
    pub fn numbers(self) -> (u32, u32, u32, u32) {
        match self {
            Capacities::Defaults => (4, 8, 2, 2),
            Capacities::OneToOne => (1, 1, 2, 2),
        }
    }
}

/// How the publisher paces its frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pace {
    /// The next frame is sent once the subscriber has read and released the previous one (a
    /// subscriber that keeps up, as with a camera at its frame rate): deterministic, gated.
    Lockstep,
    /// All frames back to back while the subscriber reads each one it gets (it falls behind
    /// and loses some): the working set a slow reader causes, which varies with timing.
    Burst,
}

/// One row of the table: capacities and pace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    /// What both sides were sized for.
    pub capacities: Capacities,
    /// How frames were sent.
    pub pace: Pace,
}

impl Row {
    /// Every row, in table order.
    pub const ALL: [Row; 3] = [
        Row {
            capacities: Capacities::Defaults,
            pace: Pace::Lockstep,
        },
        Row {
            capacities: Capacities::OneToOne,
            pace: Pace::Lockstep,
        },
        Row {
            capacities: Capacities::Defaults,
            pace: Pace::Burst,
        },
    ];

    /// The id `bench-gate --filter` and `thresholds.toml` use: `resident/defaults`.
    pub fn id(self) -> &'static str {
        match (self.capacities, self.pace) {
            (Capacities::Defaults, Pace::Lockstep) => "resident/defaults",
            (Capacities::OneToOne, Pace::Lockstep) => "resident/one-to-one",
            (Capacities::Defaults, Pace::Burst) => "resident/defaults-burst",
            (Capacities::OneToOne, Pace::Burst) => "resident/one-to-one-burst",
        }
    }

    /// The row called `id`.
    pub fn find(id: &str) -> Option<Row> {
        Row::ALL.into_iter().find(|r| r.id() == id)
    }
}

/// The middleware a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Middleware {
    /// axon.
    Axon,
    /// iceoryx2 0.10.
    Iceoryx2,
}

impl Middleware {
    /// `axon` or `iceoryx2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Middleware::Axon => "axon",
            Middleware::Iceoryx2 => "iceoryx2",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Middleware::Axon, Middleware::Iceoryx2]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// Memory of one process, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessMemory {
    /// `RssAnon` growth: at the measurement minus at the process's start.
    pub private_growth: i64,
    /// `RssShmem` at the measurement: shared pages it mapped and touched.
    pub shared_mapped: u64,
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Footprint {
    /// Which middleware.
    pub middleware: Middleware,
    /// The row (capacities both sides had, pace).
    pub row: Row,
    /// Allocated bytes of the run's files in `/dev/shm`.
    pub shm_resident: u64,
    /// Sum of their sizes (the most they can hold).
    pub shm_size: u64,
    /// How many files that is.
    pub shm_files: usize,
    /// Allocated bytes of files outside `/dev/shm` (iceoryx2's root).
    pub other_files: u64,
    /// The publisher process.
    pub publisher: ProcessMemory,
    /// The subscriber process.
    pub subscriber: ProcessMemory,
    /// Frames published.
    pub published: u64,
    /// Frames the subscriber got (best effort: it may miss some).
    pub received: u64,
    /// axon only: what `axon topic info` shows, (reserved, at most).
    pub topic_info: Option<(u64, u64)>,
}

/// One child process; killed and reaped when dropped before [`Kid::finish`].
struct Kid {
    role: &'static str,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<std::io::Result<String>>,
}

impl Kid {
    fn spawn(
        role: &'static str,
        mw: Middleware,
        caps: Capacities,
        ctx: &Ctx,
        cpu: Option<usize>,
    ) -> anyhow::Result<Kid> {
        let exe = std::env::current_exe().context("finding the harness binary")?;
        let mut child = Command::new(exe)
            .arg(CHILD_FLAG)
            .arg(role)
            .arg(mw.as_str())
            .arg(caps.as_str())
            .arg(SAMPLES.to_string())
            .arg(&ctx.run_id.0)
            .arg(ctx.parent_pid.to_string())
            .arg(cpu.map_or_else(|| "-".to_string(), |c| c.to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("spawning the {role} child"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Kid {
            role,
            child: Some(child),
            stdin,
            lines: rx,
        })
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The child's next line, whose first word must be `word`; returns the rest.
    fn expect(&mut self, word: &str) -> anyhow::Result<String> {
        let line = match self.lines.recv_timeout(TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(anyhow!(e).context(format!("reading the {}", self.role))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!(
                    "watchdog: the {} said nothing within {TIMEOUT:?}",
                    self.role
                )
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(Duration::from_millis(50));
                let status = match self.child.as_mut().map(Child::try_wait) {
                    Some(Ok(Some(st))) => st.to_string(),
                    _ => "closed its output".to_string(),
                };
                bail!("the {} exited before {word:?} ({status})", self.role)
            }
        };
        match line.split_once(' ') {
            Some((w, rest)) if w == word => Ok(rest.to_string()),
            None if line == word => Ok(String::new()),
            _ => bail!("the {} said {line:?}, not {word:?}", self.role),
        }
    }

    fn say(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin closed")?;
        writeln!(stdin, "{line}").with_context(|| format!("telling the {} {line}", self.role))
    }

    /// Closes its stdin (its cue to exit) and reaps it within 5 s.
    fn finish(mut self) -> anyhow::Result<()> {
        self.stdin = None;
        let mut child = self.child.take().expect("child present until finish");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match child.try_wait()? {
                Some(st) if st.success() => return Ok(()),
                Some(st) => bail!("the {} exited with {st}", self.role),
                None if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("the {} did not exit; killed", self.role)
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A `/proc/<pid>/status` field in bytes (`RssAnon:  1234 kB`).
fn status_field(pid: &str, field: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    let kb: u64 = line
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("{field} in /proc/{pid}/status"))?;
    Ok(kb * 1024)
}

/// Allocated bytes, sizes and count of the regular files directly in `dir` named `prefix...`.
fn files_with_prefix(dir: &Path, prefix: &str) -> (u64, u64, usize) {
    let (mut allocated, mut size, mut n) = (0, 0, 0);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if !e.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        if let Ok(m) = e.path().symlink_metadata() {
            if m.is_file() {
                allocated += m.blocks() * 512;
                size += m.size();
                n += 1;
            }
        }
    }
    (allocated, size, n)
}

/// Allocated bytes of every file under `dir`, recursively.
fn allocated_under(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(m) = e.path().symlink_metadata() else {
            continue;
        };
        if m.is_dir() {
            total += allocated_under(&e.path());
        } else if m.is_file() {
            total += m.blocks() * 512;
        }
    }
    total
}

/// Removes what a run left (normally nothing for axon; iceoryx2's root and `/dev/shm` files).
struct Cleanup {
    mw: Middleware,
    run_id: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self.mw {
            Middleware::Axon => {
                if let Ok(d) = crate::bench_domain("res", &self.run_id) {
                    crate::remove_domain_segments(&d);
                }
            }
            Middleware::Iceoryx2 => crate::iceoryx2_peer::remove_run_files(&self.run_id),
        }
    }
}

/// Runs one publisher and one subscriber process of `mw` as `row` says and measures them.
/// Errors start with the row and the middleware (`resident/defaults axon: ...`).
pub fn measure(mw: Middleware, row: Row, pinning: Pinning) -> anyhow::Result<Footprint> {
    measure_once(mw, row, pinning).with_context(|| format!("{} {}", row.id(), mw.as_str()))
}

fn measure_once(mw: Middleware, row: Row, pinning: Pinning) -> anyhow::Result<Footprint> {
    if mw == Middleware::Iceoryx2 {
        crate::iceoryx2_peer::sweep_stale();
    }
    let ctx = Ctx {
        run_id: RunId::fresh(),
        parent_pid: std::process::id(),
    };
    let _cleanup = Cleanup {
        mw,
        run_id: ctx.run_id.0.clone(),
    };
    let placement = affinity::plan(pinning);
    let caps = row.capacities;
    let mut publisher = Kid::spawn("publisher", mw, caps, &ctx, placement.parent_cpu())?;
    let number = |s: String| -> anyhow::Result<u64> {
        s.trim()
            .parse()
            .with_context(|| format!("not a number: {s:?}"))
    };
    let pub_base = number(publisher.expect("base")?)? as i64;
    publisher.expect("ready")?;
    let mut subscriber = Kid::spawn("subscriber", mw, caps, &ctx, placement.child_cpu())?;
    let sub_base = number(subscriber.expect("base")?)? as i64;
    subscriber.expect("ready")?;
    let mut received = 0;
    match row.pace {
        Pace::Lockstep => {
            for seq in 1..=SAMPLES {
                publisher.say("next")?;
                let sent = number(publisher.expect("sent")?)?;
                let got = number(subscriber.expect("got")?)?;
                ensure!(
                    sent == seq && got == seq,
                    "frame {seq}: the publisher sent {sent}, the subscriber got {got}"
                );
                received += 1;
            }
        }
        Pace::Burst => {
            publisher.say("burst")?;
            let sent = number(publisher.expect("sent")?)?;
            ensure!(sent == SAMPLES, "sent {sent} frames, not {SAMPLES}");
            loop {
                received += 1;
                if number(subscriber.expect("got")?)? >= SAMPLES {
                    break;
                }
            }
        }
    }
    let published = SAMPLES;

    let shm = Path::new("/dev/shm");
    let ((shm_resident, shm_size, shm_files), other_files, topic_info) = match mw {
        Middleware::Axon => {
            let domain = crate::bench_domain("res", &ctx.run_id.0)?;
            let topic = axon::TopicName::new(TOPIC).map_err(|e| anyhow!("{e}"))?;
            let r = axon::inspect::topic(&domain, &topic).map_err(|e| anyhow!("{e}"))?;
            (
                files_with_prefix(domain.dir(), &domain.prefix()),
                0,
                Some((r.allocated, r.file_size)),
            )
        }
        Middleware::Iceoryx2 => (
            files_with_prefix(shm, &format!("{}_", ctx.run_id)),
            allocated_under(&Path::new(crate::iceoryx2_peer::ROOT).join(&ctx.run_id.0)),
            None,
        ),
    };
    let process = |kid: &Kid, base: i64| -> anyhow::Result<ProcessMemory> {
        let pid = kid.pid().to_string();
        Ok(ProcessMemory {
            private_growth: status_field(&pid, "RssAnon")? as i64 - base,
            shared_mapped: status_field(&pid, "RssShmem")?,
        })
    };
    let footprint = Footprint {
        middleware: mw,
        row,
        shm_resident,
        shm_size,
        shm_files,
        other_files,
        publisher: process(&publisher, pub_base)?,
        subscriber: process(&subscriber, sub_base)?,
        published,
        received,
        topic_info,
    };
    subscriber.finish()?;
    publisher.finish()?;
    Ok(footprint)
}

/// If this process was started as a resident-memory child ([`CHILD_FLAG`]), runs it and
/// exits; otherwise returns. `bench-gate` calls it first thing.
pub fn run_child_if_requested() {
    crate::harness::run_child_with(CHILD_FLAG, "axon-resident child", child_main);
}

fn child_main(args: &[String]) -> anyhow::Result<()> {
    let [role, mw, caps, samples, run_id, parent_pid, cpu] = args else {
        bail!(
            "child arguments: publisher|subscriber middleware capacities samples run-id \
             parent-pid cpu"
        );
    };
    let parent_pid = crate::harness::adopt_child(parent_pid, cpu)?;
    let mw = Middleware::parse(mw).ok_or_else(|| anyhow!("bad middleware {mw}"))?;
    let caps = Capacities::parse(caps).ok_or_else(|| anyhow!("bad capacities {caps}"))?;
    let samples: u64 = samples.parse().context("samples")?;
    let ctx = Ctx {
        run_id: RunId(run_id.clone()),
        parent_pid,
    };
    say(&format!("base {}", status_field("self", "RssAnon")?))?;
    let mut stdin = std::io::stdin().lock();
    match role.as_str() {
        "publisher" => {
            let mut side: Box<dyn PublisherSide> = match mw {
                Middleware::Axon => Box::new(axon_side::publisher(&ctx, caps)?),
                Middleware::Iceoryx2 => Box::new(iceoryx2_side::Side::new(&ctx, caps, true)?),
            };
            say("ready")?;
            let mut seq = 0;
            let mut line = String::new();
            loop {
                line.clear();
                if stdin.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                let last = match line.trim() {
                    "next" => seq + 1,
                    "burst" => samples,
                    other => bail!("publisher: unknown command {other:?}"),
                };
                while seq < last {
                    seq += 1;
                    side.publish(seq)?;
                }
                say(&format!("sent {seq}"))?;
            }
        }
        "subscriber" => {
            let mut side: Box<dyn SubscriberSide> = match mw {
                Middleware::Axon => Box::new(axon_side::subscriber(&ctx, caps)?),
                Middleware::Iceoryx2 => Box::new(iceoryx2_side::Side::new(&ctx, caps, false)?),
            };
            say("ready")?;
            let t0 = Instant::now();
            loop {
                let seq = side.receive(t0)?;
                say(&format!("got {seq}"))?;
                if seq >= samples {
                    break;
                }
            }
            wait_for_eof(&mut stdin)
        }
        r => bail!("bad role {r}"),
    }
}

/// One line to the parent.
fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// A publisher child's port.
trait PublisherSide {
    /// Loans a frame, writes every pixel and the sequence number `seq`, sends it.
    fn publish(&mut self, seq: u64) -> anyhow::Result<()>;
}

/// A subscriber child's port.
trait SubscriberSide {
    /// Busy-polls for the next frame, reads all of it, releases it, returns its sequence
    /// number; fails [`TIMEOUT`] after `t0`.
    fn receive(&mut self, t0: Instant) -> anyhow::Result<u64>;
}

/// Blocks until the parent closes our stdin (its cue to drop the ports and exit).
fn wait_for_eof(stdin: &mut impl BufRead) -> anyhow::Result<()> {
    let mut rest = String::new();
    while stdin.read_line(&mut rest)? != 0 {
        rest.clear();
    }
    Ok(())
}

/// Fails the child once it has waited [`TIMEOUT`] for something.
fn check_deadline(t0: Instant, what: &str) -> anyhow::Result<()> {
    ensure!(
        t0.elapsed() < TIMEOUT,
        "watchdog: {what} within {TIMEOUT:?}"
    );
    Ok(())
}

/// Sums every byte of a frame (so the subscriber reads it all, as a real consumer would).
fn read_all(bytes: &[u8]) {
    let sum: u64 = bytes.iter().map(|&b| u64::from(b)).sum();
    std::hint::black_box(sum);
}

mod axon_side {
    use super::*;
    use axon::{Node, Publisher, Subscriber};

    fn node(ctx: &Ctx, name: &str) -> anyhow::Result<Node> {
        let domain = crate::bench_domain("res", &ctx.run_id.0)?;
        Ok(Node::builder(name).domain(domain).create()?)
    }

    pub(super) struct Pub(Publisher<Image>);

    /// `AXON_BENCH_HOLD_LOANS=N`: the publisher takes N loans it never gives back, a
    /// deliberate memory regression for proving that the gate fails (benches/tests/gate.rs).
    fn held_loans() -> anyhow::Result<u32> {
        match std::env::var("AXON_BENCH_HOLD_LOANS") {
            Ok(v) => v
                .parse()
                .context("AXON_BENCH_HOLD_LOANS must be a number of loans"),
            Err(_) => Ok(0),
        }
    }
    pub(super) struct Sub(Subscriber<Image>);

    pub(super) fn publisher(ctx: &Ctx, caps: Capacities) -> anyhow::Result<Pub> {
        let (p, s, h, l) = caps.numbers();
        let node = node(ctx, "camera")?;
        let publisher = node
            .publisher::<Image>(TOPIC)
            .history(HISTORY)
            .max_publishers(p)
            .max_subscribers(s)
            .max_held(h)
            .max_loans(l)
            .max_len(PIXELS)
            .create()?;
        let len = publisher.raw().payload_len(PIXELS);
        ensure!(
            len == IMAGE_BYTES,
            "Image sample is {len} bytes, not {IMAGE_BYTES}"
        );
        for _ in 0..held_loans()? {
            // A loan reserves its slot's pages; never sent nor dropped, it keeps them for
            // the rest of the run, as a leak would.
            std::mem::forget(publisher.loan_slice(PIXELS)?);
        }
        Ok(Pub(publisher))
    }

    pub(super) fn subscriber(ctx: &Ctx, caps: Capacities) -> anyhow::Result<Sub> {
        let (p, s, h, l) = caps.numbers();
        let node = node(ctx, "viewer")?;
        let subscriber = node
            .subscriber::<Image>(TOPIC)
            .history(HISTORY)
            .max_publishers(p)
            .max_subscribers(s)
            .max_held(h)
            .max_loans(l)
            .max_len(PIXELS)
            .create()?;
        Ok(Sub(subscriber))
    }

    impl PublisherSide for Pub {
        fn publish(&mut self, seq: u64) -> anyhow::Result<()> {
            let t0 = Instant::now();
            while self.0.raw().subscriber_count() < 1 {
                check_deadline(t0, "no subscriber")?;
                std::thread::yield_now();
            }
            let mut image = self.0.loan_slice(PIXELS)?;
            image.encoding = Encoding::new(encodings::RGB8);
            (image.width, image.height, image.step) = (WIDTH, HEIGHT, WIDTH * 3);
            image.is_bigendian = 0;
            image._pad = [0; 3];
            image.pixels_mut().fill(seq as u8);
            let mut header = axon_msgs::Header::now("camera");
            header.seq = seq;
            image.header = header;
            image.send();
            Ok(())
        }
    }

    impl SubscriberSide for Sub {
        fn receive(&mut self, t0: Instant) -> anyhow::Result<u64> {
            loop {
                if let Some(image) = self.0.try_recv()? {
                    read_all(image.pixels());
                    return Ok(image.header().seq);
                }
                check_deadline(t0, "the last frame not received")?;
                std::hint::spin_loop();
            }
        }
    }
}

mod iceoryx2_side {
    use super::*;
    use iceoryx2::port::publisher::Publisher;
    use iceoryx2::port::subscriber::Subscriber;
    use iceoryx2::prelude::*;

    /// One side; field order is drop order (ports, then the node).
    pub(super) struct Side {
        publisher: Option<Publisher<ipc::Service, [u8], ()>>,
        subscriber: Option<Subscriber<ipc::Service, [u8], ()>>,
        _node: Node<ipc::Service>,
    }

    impl Side {
        pub(super) fn new(ctx: &Ctx, caps: Capacities, publisher: bool) -> anyhow::Result<Side> {
            set_log_level(LogLevel::Error);
            let (p, s, h, l) = caps.numbers();
            let node = NodeBuilder::new()
                .config(&crate::iceoryx2_peer::config(ctx)?)
                .signal_handling_mode(SignalHandlingMode::Disabled)
                .create::<ipc::Service>()
                .map_err(|e| anyhow!("iceoryx2 node: {e:?}"))?;
            let name: ServiceName = format!("axon-bench/{}/camera/image", ctx.run_id)
                .as_str()
                .try_into()
                .map_err(|e| anyhow!("service name: {e:?}"))?;
            let service = node
                .service_builder(&name)
                .publish_subscribe::<[u8]>()
                .max_publishers(p as usize)
                .max_subscribers(s as usize)
                .history_size(HISTORY as usize)
                .subscriber_max_buffer_size(HISTORY as usize)
                .subscriber_max_borrowed_samples(h as usize)
                .enable_safe_overflow(true)
                .open_or_create()
                .map_err(|e| anyhow!("service: {e:?}"))?;
            let (publisher, subscriber) = if publisher {
                let p = service
                    .publisher_builder()
                    .initial_max_slice_len(IMAGE_BYTES)
                    .max_loaned_samples(l as usize)
                    .create()
                    .map_err(|e| anyhow!("publisher: {e:?}"))?;
                (Some(p), None)
            } else {
                let s = service
                    .subscriber_builder()
                    .buffer_size(HISTORY as usize)
                    .create()
                    .map_err(|e| anyhow!("subscriber: {e:?}"))?;
                (None, Some(s))
            };
            Ok(Side {
                publisher,
                subscriber,
                _node: node,
            })
        }
    }

    impl PublisherSide for Side {
        fn publish(&mut self, seq: u64) -> anyhow::Result<()> {
            let publisher = self.publisher.as_ref().context("not a publisher")?;
            let sample = publisher
                .loan_slice_uninit(IMAGE_BYTES)
                .map_err(|e| anyhow!("loan: {e:?}"))?;
            let mut sample = sample.write_from_fn(|_| seq as u8);
            sample.payload_mut()[..8].copy_from_slice(&seq.to_le_bytes());
            let receivers = sample.send().map_err(|e| anyhow!("send: {e:?}"))?;
            ensure!(
                receivers == 1,
                "frame {seq} reached {receivers} subscribers, not 1"
            );
            Ok(())
        }
    }

    impl SubscriberSide for Side {
        fn receive(&mut self, t0: Instant) -> anyhow::Result<u64> {
            let subscriber = self.subscriber.as_ref().context("not a subscriber")?;
            loop {
                if let Some(sample) = subscriber
                    .receive()
                    .map_err(|e| anyhow!("receive: {e:?}"))?
                {
                    let bytes = sample.payload();
                    read_all(&bytes[IMAGE_HEADER..]);
                    let mut seq = [0u8; 8];
                    seq.copy_from_slice(&bytes[..8]);
                    return Ok(u64::from_le_bytes(seq));
                }
                check_deadline(t0, "the last frame not received")?;
                std::hint::spin_loop();
            }
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / f64::from(1 << 20))
}

fn mib_signed(bytes: i64) -> String {
    format!("{:+.1}", bytes as f64 / f64::from(1 << 20))
}

/// Prints one table row per footprint.
pub fn print_table(out: &mut impl std::io::Write, runs: &[Footprint]) -> std::io::Result<()> {
    writeln!(
        out,
        "resident memory: 640x480 rgb8 Image ({IMAGE_BYTES} B a sample), history {HISTORY}, \
         1 publisher + 1 subscriber process, {SAMPLES} frames; MiB"
    )?;
    writeln!(
        out,
        "{:<22} {:<9} {:>9} {:>9} {:>5} {:>9} {:>10} {:>10} {:>10} {:>10} {:>9}  topic info (reserved / max)",
        "row", "mw", "shm res.", "shm max", "files", "other KiB", "pub anon+", "pub shmem",
        "sub anon+", "sub shmem", "received"
    )?;
    for f in runs {
        let info = f
            .topic_info
            .map_or("-".to_string(), |(r, m)| format!("{} / {}", mib(r), mib(m)));
        writeln!(
            out,
            "{:<22} {:<9} {:>9} {:>9} {:>5} {:>9} {:>10} {:>10} {:>10} {:>10} {:>9}  {}",
            f.row.id(),
            f.middleware.as_str(),
            mib(f.shm_resident),
            mib(f.shm_size),
            f.shm_files,
            f.other_files / 1024,
            mib_signed(f.publisher.private_growth),
            mib(f.publisher.shared_mapped),
            mib_signed(f.subscriber.private_growth),
            mib(f.subscriber.shared_mapped),
            format!("{}/{}", f.received, f.published),
            info
        )?;
    }
    Ok(())
}

/// Prints, for each row with both middlewares in `runs`, the ratio the gate checks and axon's
/// share of its topic's most (of the first run of each).
pub fn print_ratios(out: &mut impl std::io::Write, runs: &[Footprint]) -> std::io::Result<()> {
    for row in Row::ALL {
        let find = |mw| runs.iter().find(|f| f.row == row && f.middleware == mw);
        if let (Some(a), Some(i)) = (find(Middleware::Axon), find(Middleware::Iceoryx2)) {
            writeln!(
                out,
                "{}: axon / iceoryx2 shared memory resident = {:.3}; axon reserved / its max = {:.3}",
                row.id(),
                a.shm_resident as f64 / i.shm_resident.max(1) as f64,
                a.shm_resident as f64 / a.shm_size.max(1) as f64,
            )?;
        }
    }
    Ok(())
}
