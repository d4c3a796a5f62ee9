//! `axon bag record`: topics into an MCAP file.
//!
//! Two threads. The caller's thread is the receive loop: it joins each
//! selected topic as a best-effort subscriber (`TransientLocal`, so a topic
//! found late still gives what its publishers retain) and polls every
//! subscriber every millisecond instead of sleeping on the topic's wake
//! word, so a publisher never makes a wake-up call for it (the `topic
//! echo` rule). It copies each sample's bytes into a bounded queue and
//! never waits on it: a full queue is a loss counted for that topic. With
//! `Selection::All` it looks for new topics every 100 ms. The writer
//! thread turns each sample into CDR through the topic's ROS 2 view and
//! writes the file. On a stop (the caller's `stop`, `--duration`, or
//! axon's SIGINT/SIGTERM shutdown request) the loop takes what the rings
//! still hold, writes the losses into an `axon.losses` metadata record and
//! the writer finishes the file (summary, indexes, footer).
//!
//! # Reliable recording (`--reliable`)
//! With [`RecordOptions::reliable`] each topic is joined as a *reliable*
//! subscriber and nothing is ever counted lost for lack of room: when the
//! queue to the writer is full (samples or bytes), the receive loop waits
//! for the writer instead of dropping the sample. Meanwhile the topic's
//! ring fills up to its history depth and the publishers are held back: a
//! `loan` fails with `LoanError::Full` (counted in the publisher's
//! `full_events`, `axon topic info`), `loan_timeout` waits. The trade-off:
//! the recording is complete, but a disk slower than the data slows the
//! robot's publishers (and with them every other subscriber of those
//! topics) to the disk's pace; a stalled disk stops them. Use it for
//! regression data where completeness matters more than live timing,
//! never on a control loop's topics in the field. A publisher that dies
//! does not hold anything; a reliable recorder that dies is skipped by the
//! publishers (a dead reliable subscriber never blocks them).

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use axon::inspect::{self, InspectError};
use axon::{Description, Domain, Qos, RawSubscriber, TopicName};
use mcap::records::{MessageHeader, Metadata};
use serde_json::json;

use crate::info::Losses;
use crate::{keys, BagError, Compression};

/// Samples that may wait for the writer at once.
pub const QUEUE_LEN: usize = 16 * 1024;
/// Sample bytes that may wait for the writer at once (512 MiB).
pub const QUEUE_BYTES: usize = 512 << 20;
/// How often the receive loop polls when it found nothing.
const POLL: Duration = Duration::from_millis(1);
/// How often `Selection::All` (and a listed topic that does not exist yet)
/// looks for topics.
const DISCOVER: Duration = Duration::from_millis(100);
/// How often the writer finishes its chunk and hands the file to the
/// kernel when messages came since (what a recorder killed outright can
/// lose, besides what waits in the queue).
pub const FLUSH: Duration = Duration::from_secs(1);
/// Node name the recorder's subscribers carry.
const NODE: &str = "axon-bag";

/// Which topics to record.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every topic of the domain, including those that appear later.
    All,
    /// These topics (each joined once it exists).
    Topics(Vec<TopicName>),
    /// Every topic whose name the expression matches (anywhere in the
    /// name, as `ros2 bag record -e`), including those that appear later.
    Matching(regex::Regex),
}

/// When a recording starts a new file (a part): each part is a whole,
/// finished MCAP file with every channel known so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split {
    /// Once a part holds at least this many bytes (checked before each
    /// message: a part is this size plus one message and its summary).
    pub size: Option<u64>,
    /// Once the first message of a part was received this long ago.
    pub duration: Option<Duration>,
}

impl Split {
    /// Whether a recording is split at all.
    pub fn any(&self) -> bool {
        self.size.is_some() || self.duration.is_some()
    }
}

/// How to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub selection: Selection,
    /// A file (refused if it exists) or a directory (a new
    /// `axon-<unix seconds>.mcap` in it).
    pub output: PathBuf,
    pub compression: Compression,
    /// Stop after this long (from the start of the recording).
    pub duration: Option<Duration>,
    /// Topics this matches (anywhere in the name) are not recorded,
    /// whatever `selection` says.
    pub exclude: Option<regex::Regex>,
    /// New files as the recording goes: with a split, `output` names the
    /// parts `<stem>_<i>.mcap` (i from 0).
    pub split: Split,
    /// Samples that may wait for the writer ([`QUEUE_LEN`] by default;
    /// at least 1).
    pub queue_len: usize,
    /// Join as a reliable subscriber and never count a loss: a full queue
    /// makes the receive loop wait for the writer, so the topic's rings
    /// fill and publishers are held back (`LoanError::Full`, or a wait in
    /// `loan_timeout`) instead (module docs, *Reliable recording*).
    pub reliable: bool,
    /// Test knob: the writer sleeps this long before each message (a disk
    /// slower than the data), to show losses are counted, not pushed back.
    #[doc(hidden)]
    pub writer_stall: Duration,
}

impl RecordOptions {
    /// Options with the defaults: zstd, no duration, no exclusion, no split.
    pub fn new(selection: Selection, output: PathBuf) -> RecordOptions {
        RecordOptions {
            selection,
            output,
            compression: Compression::default(),
            duration: None,
            exclude: None,
            split: Split::default(),
            queue_len: QUEUE_LEN,
            reliable: false,
            writer_stall: Duration::ZERO,
        }
    }
}

/// One recorded topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedTopic {
    pub topic: String,
    pub type_name: String,
    /// The channel's message encoding (`cdr` or `axon-raw`).
    pub encoding: String,
    /// Messages written.
    pub messages: u64,
    pub losses: Losses,
}

/// What a recording did.
#[derive(Debug, Clone)]
pub struct RecordReport {
    /// The files written, in order (one unless split).
    pub paths: Vec<PathBuf>,
    /// Per topic, over all the files.
    pub topics: Vec<RecordedTopic>,
}

/// What the receive loop hands the writer.
enum Event {
    Topic {
        id: usize,
        topic: String,
        type_name: String,
        fingerprint: u64,
        fixed_size: u64,
        elem_size: u64,
        max_elems: u64,
        description: Option<Arc<Description>>,
    },
    Sample {
        id: usize,
        sent_ns: u64,
        recv_ns: u64,
        bytes: Vec<u8>,
    },
    /// The receive loop ended; the final counts are in the shared losses.
    End,
}

/// Per topic id: samples lost because the queue was full, and samples
/// overwritten in shared memory before they were read. The receive loop
/// counts them; the writer reads them when a part ends.
type Counters = Arc<std::sync::Mutex<Vec<(u64, u64)>>>;

fn lock(c: &Counters) -> std::sync::MutexGuard<'_, Vec<(u64, u64)>> {
    // A poisoned lock only means a thread panicked holding it; the counts
    // are plain numbers and still good.
    c.lock().unwrap_or_else(|e| e.into_inner())
}

/// The output file's path: `output` itself, or a new name in a directory.
fn output_path(output: &Path) -> PathBuf {
    if output.is_dir() {
        let secs = crate::realtime_ns() / 1_000_000_000;
        output.join(format!("axon-{secs}.mcap"))
    } else {
        output.to_path_buf()
    }
}

/// Part `i` of a split recording named `base`: `<stem>_<i>.<ext>`.
pub fn part_path(base: &Path, i: usize) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "axon".into());
    let ext = base
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mcap".into());
    base.with_file_name(format!("{stem}_{i}.{ext}"))
}

/// Whether a topic is recorded under `opts` (its selection and exclusion).
fn selected(opts: &RecordOptions, name: &TopicName) -> bool {
    if opts
        .exclude
        .as_ref()
        .is_some_and(|e| e.is_match(name.as_str()))
    {
        return false;
    }
    match &opts.selection {
        Selection::All => true,
        Selection::Topics(t) => t.contains(name),
        Selection::Matching(r) => r.is_match(name.as_str()),
    }
}

struct Joined {
    id: usize,
    sub: RawSubscriber,
}

/// Records `domain` until `stop` returns true, `duration` has passed, or
/// axon's shutdown is requested (SIGINT/SIGTERM once
/// `axon::shutdown::install` ran).
pub fn record(
    domain: &Domain,
    opts: &RecordOptions,
    stop: &dyn Fn() -> bool,
) -> Result<RecordReport, BagError> {
    let base = output_path(&opts.output);
    let offset = crate::realtime_ns().wrapping_sub(crate::monotonic_ns());
    let counters: Counters = Arc::default();
    let first = Part::open(
        if opts.split.any() {
            part_path(&base, 0)
        } else {
            base.clone()
        },
        0,
        opts.compression,
        opts.split,
        domain.name(),
        offset,
        &[],
    )?;
    let (tx, rx) = mpsc::sync_channel::<Event>(opts.queue_len.max(1));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let writer_gone = Arc::new(AtomicBool::new(false));
    let writer_thread = {
        let in_flight = in_flight.clone();
        let writer_gone = writer_gone.clone();
        let counters = counters.clone();
        let w = Writing {
            base: base.clone(),
            split: opts.split,
            compression: opts.compression,
            domain: domain.name().to_string(),
            offset,
            stall: opts.writer_stall,
        };
        thread::Builder::new()
            .name("axon-bag-writer".into())
            .spawn(move || {
                let r = write_loop(w, first, rx, &in_flight, &counters);
                writer_gone.store(true, Ordering::Release);
                r
            })
            .map_err(|e| BagError::io(&base, e))?
    };
    let received = receive_loop(domain, opts, stop, &tx, &in_flight, &writer_gone, &counters);
    drop(tx);
    let written = writer_thread.join().map_err(|_| BagError::Format {
        path: base.clone(),
        what: "the writer thread panicked".into(),
    })?;
    received?;
    let (paths, topics) = written?;
    Ok(RecordReport { paths, topics })
}

fn format_error(path: &Path, e: mcap::McapError) -> BagError {
    match e {
        mcap::McapError::Io(e) => BagError::io(path, e),
        e => BagError::Format {
            path: path.to_path_buf(),
            what: e.to_string(),
        },
    }
}

fn receive_loop(
    domain: &Domain,
    opts: &RecordOptions,
    stop: &dyn Fn() -> bool,
    tx: &SyncSender<Event>,
    in_flight: &AtomicUsize,
    writer_gone: &AtomicBool,
    counters: &Counters,
) -> Result<(), BagError> {
    let started = Instant::now();
    let mut joined: HashMap<TopicName, Joined> = HashMap::new();
    let mut waiting_said = false;
    let mut next_discovery = Instant::now();
    let qos = Qos {
        reliability: if opts.reliable {
            axon::qos::Reliability::Reliable
        } else {
            axon::qos::Reliability::BestEffort
        },
        durability: axon::qos::Durability::TransientLocal,
        max_held: 1,
        max_loans: 1,
        ..Qos::default()
    };
    let mut done = false;
    loop {
        if !done
            && (stop()
                || axon::shutdown_requested()
                || opts.duration.is_some_and(|d| started.elapsed() >= d))
        {
            // One last pass takes what the rings still hold.
            done = true;
        }
        if !done && Instant::now() >= next_discovery {
            next_discovery = Instant::now() + DISCOVER;
            {
                let mut c = lock(counters);
                for j in joined.values() {
                    c[j.id].1 = j.sub.dropped();
                }
            }
            let candidates: Vec<TopicName> = match &opts.selection {
                Selection::All | Selection::Matching(_) => inspect::topics(domain)
                    .map_err(|e| BagError::Domain {
                        what: format!("cannot list the topics of domain {}: {e}", domain.name()),
                    })?
                    .into_iter()
                    .filter(|(_, r)| r.is_ok())
                    .map(|(n, _)| n)
                    .collect(),
                Selection::Topics(t) => t.clone(),
            };
            for name in candidates {
                if joined.contains_key(&name) || !selected(opts, &name) {
                    continue;
                }
                let report = match inspect::topic(domain, &name) {
                    Ok(r) => r,
                    Err(InspectError::NoSuchTopic { .. }) => {
                        if !waiting_said {
                            eprintln!("axon bag: waiting for {name} to appear");
                            waiting_said = true;
                        }
                        continue;
                    }
                    Err(e) => {
                        eprintln!("axon bag: skipping {name}: {e}");
                        if matches!(opts.selection, Selection::Topics(_)) {
                            return Err(BagError::Domain {
                                what: format!("cannot read topic {name}: {e}"),
                            });
                        }
                        continue;
                    }
                };
                let sub = match RawSubscriber::create(domain, name.clone(), None, &qos, NODE) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("axon bag: cannot subscribe to {name}: {e}");
                        continue;
                    }
                };
                let c = sub.topic_config();
                let id = {
                    let mut c = lock(counters);
                    c.push((0, 0));
                    c.len() - 1
                };
                let description = report.description.clone();
                let event = Event::Topic {
                    id,
                    topic: name.to_string(),
                    type_name: c.type_name(),
                    fingerprint: c.fingerprint,
                    fixed_size: c.fixed_size,
                    elem_size: c.elem_size,
                    max_elems: c.max_elems,
                    description,
                };
                // Topic events are rare: this one may wait for the writer.
                if tx.send(event).is_err() {
                    return Ok(()); // the writer failed; it reports why
                }
                joined.insert(name, Joined { id, sub });
            }
        }
        let mut got = false;
        for j in joined.values() {
            loop {
                let sample = match j.sub.try_recv() {
                    Ok(Some(s)) => s,
                    Ok(None) => break,
                    Err(e) => {
                        return Err(BagError::Domain {
                            what: format!("receiving on {}: {e}", j.sub.topic()),
                        })
                    }
                };
                got = true;
                let recv_ns = crate::monotonic_ns();
                let info = sample.info();
                let bytes = sample.bytes();
                if opts.reliable {
                    // Wait for the writer rather than lose the sample: the
                    // rings fill meanwhile and hold publishers back.
                    while in_flight.load(Ordering::Relaxed) > 0
                        && in_flight.load(Ordering::Relaxed) + bytes.len() > QUEUE_BYTES
                    {
                        if writer_gone.load(Ordering::Acquire) {
                            return Ok(()); // it reports why
                        }
                        thread::sleep(POLL);
                    }
                    let len = bytes.len();
                    let event = Event::Sample {
                        id: j.id,
                        sent_ns: info.sent_ns,
                        recv_ns,
                        bytes: bytes.to_vec(),
                    };
                    drop(sample);
                    in_flight.fetch_add(len, Ordering::Relaxed);
                    if tx.send(event).is_err() {
                        return Ok(()); // the writer failed; it reports why
                    }
                    continue;
                }
                if in_flight.load(Ordering::Relaxed) + bytes.len() > QUEUE_BYTES {
                    lock(counters)[j.id].0 += 1;
                    continue;
                }
                let len = bytes.len();
                let event = Event::Sample {
                    id: j.id,
                    sent_ns: info.sent_ns,
                    recv_ns,
                    bytes: bytes.to_vec(),
                };
                drop(sample);
                in_flight.fetch_add(len, Ordering::Relaxed);
                match tx.try_send(event) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        in_flight.fetch_sub(len, Ordering::Relaxed);
                        lock(counters)[j.id].0 += 1;
                    }
                    Err(TrySendError::Disconnected(_)) => return Ok(()),
                }
            }
        }
        if done {
            break;
        }
        if !got {
            thread::sleep(POLL);
        }
    }
    {
        let mut c = lock(counters);
        for j in joined.values() {
            c[j.id].1 = j.sub.dropped();
        }
    }
    let _ = tx.send(Event::End);
    Ok(())
}

/// A channel the writer knows (in every part).
struct Channel {
    topic: String,
    type_name: String,
    encoding: String,
    /// The ROS 2 schema: name and `ros2msg` text (none for a raw channel).
    schema: Option<(String, String)>,
    metadata: BTreeMap<String, String>,
    view: Option<axon_ros2::View>,
    messages: u64,
    unencodable: u64,
    said: bool,
}

/// What the writer needs to open parts.
struct Writing {
    base: PathBuf,
    split: Split,
    compression: Compression,
    domain: String,
    offset: u64,
    stall: Duration,
}

/// A file being written and its position (for `--split-size`).
struct Sink {
    inner: BufWriter<File>,
    pos: u64,
    len: Arc<AtomicU64>,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        self.len.fetch_max(self.pos, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for Sink {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

/// Uncompressed bytes of messages per chunk: mcap's default (768 KiB),
/// smaller with `--split-size` (a quarter of it, at least 4 KiB) since the
/// size of a part is known at the end of each chunk.
fn chunk_size(split: Split) -> u64 {
    const DEFAULT: u64 = 768 << 10;
    split
        .size
        .map_or(DEFAULT, |s| (s / 4).clamp(4 << 10, DEFAULT))
}

/// One output file.
struct Part {
    path: PathBuf,
    writer: mcap::Writer<Sink>,
    len: Arc<AtomicU64>,
    /// Per channel (index as in the writer's list): its id in this file.
    ids: Vec<u16>,
    /// Receive time of the part's first message.
    first_recv: Option<u64>,
    /// Counters when the part began: (queue, dropped, unencodable).
    base: Vec<(u64, u64, u64)>,
    /// Messages written since the last flush.
    dirty: bool,
}

impl Part {
    /// Creates `path` (refused if it exists), with the recording metadata
    /// and every channel of `channels`.
    fn open(
        path: PathBuf,
        index: usize,
        compression: Compression,
        split: Split,
        domain: &str,
        offset: u64,
        channels: &[Channel],
    ) -> Result<Part, BagError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| BagError::io(&path, e))?;
        let len = Arc::new(AtomicU64::new(0));
        let sink = Sink {
            inner: BufWriter::with_capacity(1 << 20, file),
            pos: 0,
            len: len.clone(),
        };
        let write_opts = mcap::WriteOptions::new()
            .profile(crate::PROFILE)
            .library(concat!("axon-bag ", env!("CARGO_PKG_VERSION")))
            .compression(compression.to_mcap())
            .chunk_size(Some(chunk_size(split)));
        let mut writer = write_opts
            .create(sink)
            .map_err(|e| format_error(&path, e))?;
        let mut start = BTreeMap::new();
        start.insert("domain".to_string(), domain.to_string());
        start.insert(
            "clock".to_string(),
            "publish_time = send stamp, log_time = receive time: CLOCK_MONOTONIC + clock_offset_ns"
                .to_string(),
        );
        start.insert("clock_offset_ns".to_string(), offset.to_string());
        start.insert("part".to_string(), index.to_string());
        writer
            .write_metadata(&Metadata {
                name: keys::RECORDING.into(),
                metadata: start,
            })
            .map_err(|e| format_error(&path, e))?;
        let mut part = Part {
            path,
            writer,
            len,
            ids: Vec::new(),
            first_recv: None,
            base: Vec::new(),
            dirty: false,
        };
        for ch in channels {
            part.add(ch)?;
        }
        Ok(part)
    }

    /// Adds `ch` to this file.
    fn add(&mut self, ch: &Channel) -> Result<(), BagError> {
        let path = &self.path;
        let schema_id = match &ch.schema {
            Some((name, text)) => self
                .writer
                .add_schema(name, crate::SCHEMA_ENCODING, text.as_bytes())
                .map_err(|e| format_error(path, e))?,
            None => 0,
        };
        let id = self
            .writer
            .add_channel(schema_id, &ch.topic, &ch.encoding, &ch.metadata)
            .map_err(|e| format_error(path, e))?;
        self.ids.push(id);
        Ok(())
    }

    /// Writes the losses of this part and the summary; syncs the file.
    fn finish(
        mut self,
        channels: &[Channel],
        now: &[(u64, u64, u64)],
    ) -> Result<PathBuf, BagError> {
        let path = self.path.clone();
        let mut meta = BTreeMap::new();
        for (i, ch) in channels.iter().enumerate() {
            let (q, d, u) = now.get(i).copied().unwrap_or_default();
            let (q0, d0, u0) = self.base.get(i).copied().unwrap_or_default();
            let (queue, dropped, unencodable) = (
                q.saturating_sub(q0),
                d.saturating_sub(d0),
                u.saturating_sub(u0),
            );
            meta.insert(
                ch.topic.clone(),
                json!({"queue": queue, "dropped": dropped, "unencodable": unencodable}).to_string(),
            );
        }
        self.writer
            .write_metadata(&Metadata {
                name: keys::LOSSES.into(),
                metadata: meta,
            })
            .map_err(|e| format_error(&path, e))?;
        self.writer.finish().map_err(|e| format_error(&path, e))?;
        let mut sink = self.writer.into_inner();
        sink.inner.flush().map_err(|e| BagError::io(&path, e))?;
        sink.inner
            .get_ref()
            .sync_all()
            .map_err(|e| BagError::io(&path, e))?;
        Ok(path)
    }
}

/// The counters of every channel now: (queue, dropped, unencodable).
fn totals(counters: &Counters, channels: &[Channel]) -> Vec<(u64, u64, u64)> {
    let c = self::lock(counters);
    channels
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            let (q, d) = c.get(i).copied().unwrap_or_default();
            (q, d, ch.unencodable)
        })
        .collect()
}

fn write_loop(
    w: Writing,
    first: Part,
    rx: Receiver<Event>,
    in_flight: &AtomicUsize,
    counters: &Counters,
) -> Result<(Vec<PathBuf>, Vec<RecordedTopic>), BagError> {
    let mut channels: Vec<Channel> = Vec::new();
    let mut part = first;
    let mut parts = 1usize;
    let mut paths = Vec::new();
    let mut cdr = Vec::new();
    let mut last_flush = Instant::now();
    loop {
        // Complete chunks reach the file at least every FLUSH, so a
        // recorder killed outright loses at most that much.
        if part.dirty && last_flush.elapsed() >= FLUSH {
            part.writer
                .flush()
                .map_err(|e| format_error(&part.path, e))?;
            part.dirty = false;
            last_flush = Instant::now();
        }
        let event = match rx.recv_timeout(FLUSH) {
            Ok(e) => e,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match event {
            Event::Topic {
                id,
                topic,
                type_name,
                fingerprint,
                fixed_size,
                elem_size,
                max_elems,
                description,
            } => {
                debug_assert_eq!(id, channels.len());
                let view = description
                    .as_deref()
                    .and_then(|d| axon_ros2::View::new(d).ok());
                let mut meta = BTreeMap::new();
                meta.insert(keys::TYPE.to_string(), type_name.clone());
                meta.insert(keys::FINGERPRINT.to_string(), format!("{fingerprint:016x}"));
                meta.insert(keys::FIXED_SIZE.to_string(), fixed_size.to_string());
                meta.insert(keys::ELEM_SIZE.to_string(), elem_size.to_string());
                meta.insert(keys::MAX_ELEMS.to_string(), max_elems.to_string());
                if let Some(d) = &description {
                    meta.insert(keys::DESCRIPTION.to_string(), crate::hex(&d.encode()));
                }
                let (schema, encoding) = match &view {
                    Some(v) => (
                        Some((v.type_name().to_string(), v.msg_text().to_string())),
                        crate::CDR_ENCODING,
                    ),
                    None => {
                        eprintln!(
                            "axon bag: {topic} ({type_name}) has no ROS 2 view{}: recording its raw bytes ({})",
                            if description.is_none() { " (its segment carries no description)" } else { "" },
                            crate::RAW_ENCODING
                        );
                        (None, crate::RAW_ENCODING)
                    }
                };
                let ch = Channel {
                    topic,
                    type_name,
                    encoding: encoding.to_string(),
                    schema,
                    metadata: meta,
                    view,
                    messages: 0,
                    unencodable: 0,
                    said: false,
                };
                part.add(&ch)?;
                part.base.push((0, 0, 0));
                channels.push(ch);
            }
            Event::Sample {
                id,
                sent_ns,
                recv_ns,
                bytes,
            } => {
                in_flight.fetch_sub(bytes.len(), Ordering::Relaxed);
                if !w.stall.is_zero() {
                    thread::sleep(w.stall);
                }
                if id >= channels.len() {
                    continue;
                }
                let full = w
                    .split
                    .size
                    .is_some_and(|s| part.len.load(Ordering::Relaxed) >= s);
                let long = match (w.split.duration, part.first_recv) {
                    (Some(d), Some(t0)) => recv_ns.saturating_sub(t0) >= d.as_nanos() as u64,
                    _ => false,
                };
                if full || long {
                    let now = totals(counters, &channels);
                    let next = Part::open(
                        part_path(&w.base, parts),
                        parts,
                        w.compression,
                        w.split,
                        &w.domain,
                        w.offset,
                        &channels,
                    )?;
                    let done = std::mem::replace(&mut part, next);
                    paths.push(done.finish(&channels, &now)?);
                    part.base = now;
                    parts += 1;
                }
                part.first_recv.get_or_insert(recv_ns);
                let ch = &mut channels[id];
                let data: &[u8] = match &ch.view {
                    Some(v) => {
                        cdr.clear();
                        if let Err(e) = v.encode(&bytes, &mut cdr) {
                            ch.unencodable += 1;
                            if !ch.said {
                                eprintln!("axon bag: {}: a sample cannot be encoded as CDR ({e}); such samples are counted as lost", ch.topic);
                                ch.said = true;
                            }
                            continue;
                        }
                        &cdr
                    }
                    None => &bytes,
                };
                let header = MessageHeader {
                    channel_id: part.ids[id],
                    sequence: ch.messages as u32,
                    // A receipt never precedes its send: the send stamp is
                    // the TSC interpolated between clock reads (axon::clock,
                    // exact to ~0.5 us), the receive time a clock read, so
                    // a message received within that error of its send could
                    // log before it was published (seen: 318 ns).
                    log_time: recv_ns.max(sent_ns).wrapping_add(w.offset),
                    publish_time: sent_ns.wrapping_add(w.offset),
                };
                part.writer
                    .write_to_known_channel(&header, data)
                    .map_err(|e| format_error(&part.path, e))?;
                part.dirty = true;
                ch.messages += 1;
            }
            Event::End => break,
        }
    }
    let now = totals(counters, &channels);
    paths.push(part.finish(&channels, &now)?);
    let mut topics: Vec<RecordedTopic> = channels
        .iter()
        .zip(&now)
        .map(|(ch, &(queue, dropped, unencodable))| RecordedTopic {
            topic: ch.topic.clone(),
            type_name: ch.type_name.clone(),
            encoding: ch.encoding.clone(),
            messages: ch.messages,
            losses: Losses {
                queue,
                dropped,
                unencodable,
            },
        })
        .collect();
    topics.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok((paths, topics))
}
