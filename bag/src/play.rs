//! `axon bag play`: a file's messages back onto their topics.
//!
//! The file is streamed once per pass (the reader `info` uses) by a
//! reading thread that stays a bounded number of messages and bytes ahead
//! of the publishing thread (see [`AHEAD`], [`AHEAD_BYTES`]), so reading and
//! decompressing a chunk never delays a message's publication. Each
//! channel becomes a `RawPublisher` of the exact axon type its metadata
//! names (type name, fingerprint, sizes and the description, which must
//! decode, name the type and recompute to the fingerprint); a topic that
//! exists with another type is refused, naming both. A message is decoded
//! from CDR through the type's ROS 2 view (a raw channel's bytes are taken
//! as they are) and copied into a loaned slot. Timing follows `log_time`:
//! a message goes out `(log_time - first log_time) / rate` after the pass
//! started, and the wait returns early on SIGINT/SIGTERM.
//!
//! # Pausing and progress
//! [`PlayOptions::control`] is shared with whoever shows progress or
//! pauses (the CLI: a progress line and the space bar in a terminal). The
//! publishing thread checks [`Control::pause`] before each message; while
//! it is set, it publishes nothing, says so in [`Control::paused`] (set
//! only once it has stopped: after that flag reads true, no message goes
//! out until the pause is lifted), and when it resumes it shifts the
//! schedule by the time spent paused, so the messages after the pause keep
//! their recorded gaps instead of going out in a burst. It reports the
//! `log_time` of the last message published and the count in the same
//! struct.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axon::inspect::{self, InspectError};
use axon::{Description, Domain, Qos, RawPublisher, TopicName, TypeDesc};
use mcap::records::Record;

use crate::info::{stream, Flow, Seen};
use crate::{keys, BagError};

/// Node name the player's publishers carry.
const NODE: &str = "axon-bag";

/// How to play.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// Speed factor (2.0 = twice as fast); finite and above 0.
    pub rate: f64,
    /// Start again at the end, until stopped.
    pub looped: bool,
    /// Only these topics (as recorded), if given.
    pub topics: Option<Vec<String>>,
    /// Topics (as recorded) this matches anywhere in the name are not
    /// played.
    pub exclude: Option<regex::Regex>,
    /// `(from, to)`: publish the recorded topic `from` on `to`.
    pub remaps: Vec<(String, String)>,
    /// Skip the messages logged less than this after the file's first
    /// message (of any topic); timing starts at the first one played.
    pub start_offset: Duration,
    /// Pausing and progress, shared with the caller (module docs).
    pub control: Option<Arc<Control>>,
    /// Test knob: messages read ahead ([`AHEAD`] by default).
    #[doc(hidden)]
    pub ahead: usize,
}

/// What the player and its caller share while it plays (module docs,
/// *Pausing and progress*). Each field is one atomic.
#[derive(Debug, Default)]
pub struct Control {
    /// Set by the caller: stop publishing until cleared.
    pub pause: AtomicBool,
    /// Set by the player once it has stopped publishing for a pause,
    /// cleared when it resumes.
    pub paused: AtomicBool,
    /// `log_time` (ns since the epoch) of the timeline's first message (the
    /// first file's), 0 until it is read.
    pub first_ns: AtomicU64,
    /// `log_time` of the last message published, 0 before the first.
    pub at_ns: AtomicU64,
    /// Messages published so far (all passes).
    pub published: AtomicU64,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            rate: 1.0,
            looped: false,
            topics: None,
            exclude: None,
            remaps: Vec::new(),
            start_offset: Duration::ZERO,
            control: None,
            ahead: AHEAD,
        }
    }
}

/// What playing did.
#[derive(Debug, Clone, Default)]
pub struct PlayReport {
    /// Messages published, per topic published on.
    pub published: Vec<(String, u64)>,
    /// Why the file's reading stopped before its end (a truncated file).
    pub error: Option<String>,
}

struct Player {
    topic: String,
    publisher: RawPublisher,
    view: Option<axon_ros2::View>,
    fixed_size: u64,
    elem_size: u64,
    published: u64,
}

/// What a channel's metadata says its axon type is.
fn type_of(path: &Path, c: &mcap::records::Channel) -> Result<TypeDesc, BagError> {
    let bad = |what: String| BagError::Channel {
        path: path.to_path_buf(),
        topic: c.topic.clone(),
        what,
    };
    let get = |k: &str| {
        c.metadata.get(k).ok_or_else(|| {
            bad(format!(
                "no {k} in its channel metadata (not recorded by axon)"
            ))
        })
    };
    let num = |k: &str| -> Result<u64, BagError> {
        get(k)?
            .parse::<u64>()
            .map_err(|_| bad(format!("{k} is not a number")))
    };
    let name = get(keys::TYPE)?.clone();
    let fingerprint = u64::from_str_radix(get(keys::FINGERPRINT)?, 16)
        .map_err(|_| bad(format!("{} is not 16 hex digits", keys::FINGERPRINT)))?;
    let description = match c.metadata.get(keys::DESCRIPTION) {
        None => None,
        Some(h) => {
            let bytes =
                crate::unhex(h).ok_or_else(|| bad(format!("{} is not hex", keys::DESCRIPTION)))?;
            let d = Description::decode(&bytes).map_err(|e| bad(e.to_string()))?;
            if d.type_name() != name || d.fingerprint() != fingerprint {
                return Err(bad(format!(
                    "its type description is of {} ({:016x}), not {name} ({fingerprint:016x})",
                    d.type_name(),
                    d.fingerprint()
                )));
            }
            Some(d)
        }
    };
    Ok(TypeDesc {
        name,
        fingerprint,
        fixed_size: num(keys::FIXED_SIZE)?,
        elem_size: num(keys::ELEM_SIZE)?,
        description,
    })
}

/// Plays `path` into `domain`.
pub fn play(domain: &Domain, path: &Path, opts: &PlayOptions) -> Result<PlayReport, BagError> {
    play_files(domain, &[path], opts)
}

/// Plays `paths` one after the other as one recording (the parts of a
/// split recording, in order): one timeline from the first file's first
/// message, `start_offset` counted from it. A file that is unfinished is
/// played as far as it is whole and the next one follows; the report
/// keeps the first such problem, naming its file.
pub fn play_files(
    domain: &Domain,
    paths: &[&Path],
    opts: &PlayOptions,
) -> Result<PlayReport, BagError> {
    if !(opts.rate.is_finite() && opts.rate > 0.0) {
        return Err(BagError::Domain {
            what: format!("--rate {}: give a factor above 0", opts.rate),
        });
    }
    let remap: HashMap<&str, &str> = opts
        .remaps
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    // Publishers by topic published on, kept across passes.
    let mut players: Vec<Player> = Vec::new();
    let mut report = PlayReport::default();
    loop {
        let before: u64 = players.iter().map(|p| p.published).sum();
        let mut clock = Clock::default();
        report.error = None;
        for path in paths {
            let problem = play_pass(domain, path, opts, &remap, &mut players, &mut clock)?;
            if report.error.is_none() {
                report.error = problem.map(|e| format!("{}: {e}", path.display()));
            }
            if axon::shutdown_requested() {
                break;
            }
        }
        let after: u64 = players.iter().map(|p| p.published).sum();
        // An unfinished file plays what it has, each pass; one that gave
        // nothing would loop without end.
        if !opts.looped || axon::shutdown_requested() || (report.error.is_some() && after == before)
        {
            break;
        }
    }
    report.published = players
        .iter()
        .map(|p| (p.topic.clone(), p.published))
        .collect();
    Ok(report)
}

/// What the reading thread hands the publishing thread.
enum Item {
    /// A channel to play (selected, not excluded).
    Channel(mcap::records::Channel),
    /// A message of a channel to play, at or past the start offset.
    Message {
        channel_id: u16,
        log_time: u64,
        data: Vec<u8>,
    },
}

/// Messages the reading thread may be ahead of the publishing one.
pub const AHEAD: usize = 4096;
/// Message bytes it may be ahead (beyond this it waits; one message larger
/// than this still goes, alone).
pub const AHEAD_BYTES: usize = 64 << 20;

/// One pass over the file. A reading thread streams it (reading,
/// decompressing chunks, selecting) up to [`AHEAD`] messages and
/// [`AHEAD_BYTES`] ahead, so that the publishing thread (this one) only
/// waits for each message's time, decodes and publishes it: a chunk's
/// decompression never delays the message that follows it.
/// One timeline over the files of a pass.
#[derive(Default)]
struct Clock {
    /// The first message's `log_time` (for `start_offset`).
    file_start: Option<u64>,
    /// The first played message's `log_time` and when it went out.
    first: Option<(u64, Instant)>,
}

fn play_pass(
    domain: &Domain,
    path: &Path,
    opts: &PlayOptions,
    remap: &HashMap<&str, &str>,
    players: &mut Vec<Player>,
    clock: &mut Clock,
) -> Result<Option<String>, BagError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Item>(opts.ahead.clamp(1, AHEAD));
    let ahead = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let mut file_start = clock.file_start;
        let (ahead, stopped) = (&ahead, &stopped);
        let reading = scope.spawn(move || {
            let end = read_ahead(path, opts, tx, ahead, stopped, &mut file_start);
            (end, file_start)
        });
        let played = publish_loop(
            domain,
            path,
            opts,
            remap,
            players,
            &rx,
            ahead,
            &mut clock.first,
        );
        // Stops the reader if publishing ended first (an error, a signal).
        stopped.store(true, Ordering::Release);
        drop(rx);
        let (end, file_start) = reading.join().map_err(|_| BagError::Format {
            path: path.to_path_buf(),
            what: "the reading thread panicked".into(),
        })?;
        clock.file_start = file_start;
        played?;
        Ok(end?.error)
    })
}

fn read_ahead(
    path: &Path,
    opts: &PlayOptions,
    tx: std::sync::mpsc::SyncSender<Item>,
    ahead: &AtomicUsize,
    stopped: &AtomicBool,
    file_start: &mut Option<u64>,
) -> Result<crate::info::StreamEnd, BagError> {
    // mcap channel id -> played
    let mut channels: HashMap<u16, bool> = HashMap::new();
    let skip_ns = opts.start_offset.as_nanos().min(u64::MAX as u128) as u64;
    stream(path, &mut |seen| {
        if axon::shutdown_requested() {
            return Ok(Flow::Stop);
        }
        let item = match seen {
            Seen::Record(Record::Channel(c)) => {
                if channels.contains_key(&c.id) {
                    return Ok(Flow::Continue);
                }
                let wanted = opts.topics.as_ref().is_none_or(|t| t.contains(&c.topic))
                    && !opts.exclude.as_ref().is_some_and(|e| e.is_match(&c.topic));
                channels.insert(c.id, wanted);
                if !wanted {
                    return Ok(Flow::Continue);
                }
                Item::Channel(c)
            }
            Seen::Record(Record::Message { header, data }) => {
                let t_file = *file_start.get_or_insert(header.log_time);
                if let Some(c) = &opts.control {
                    let _ = c.first_ns.compare_exchange(
                        0,
                        t_file,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
                if header.log_time < t_file.saturating_add(skip_ns)
                    || channels.get(&header.channel_id) != Some(&true)
                {
                    return Ok(Flow::Continue);
                }
                // Bounded bytes ahead: wait for the publisher to catch up.
                while ahead.load(Ordering::Acquire) > 0
                    && ahead.load(Ordering::Acquire) + data.len() > AHEAD_BYTES
                {
                    if axon::shutdown_requested() || stopped.load(Ordering::Acquire) {
                        return Ok(Flow::Stop);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                ahead.fetch_add(data.len(), Ordering::AcqRel);
                Item::Message {
                    channel_id: header.channel_id,
                    log_time: header.log_time,
                    data: data.into_owned(),
                }
            }
            _ => return Ok(Flow::Continue),
        };
        Ok(match tx.send(item) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop, // the publisher stopped
        })
    })
}

// The pass's state, each piece borrowed as its own thread needs it.
#[allow(clippy::too_many_arguments)]
fn publish_loop(
    domain: &Domain,
    path: &Path,
    opts: &PlayOptions,
    remap: &HashMap<&str, &str>,
    players: &mut Vec<Player>,
    rx: &std::sync::mpsc::Receiver<Item>,
    ahead: &AtomicUsize,
    first: &mut Option<(u64, Instant)>,
) -> Result<(), BagError> {
    // mcap channel id -> index in players
    let mut channels: HashMap<u16, usize> = HashMap::new();
    let mut buf = Vec::new();
    for item in rx {
        if axon::shutdown_requested() {
            return Ok(());
        }
        match item {
            Item::Channel(c) => {
                let target = remap.get(c.topic.as_str()).copied().unwrap_or(&c.topic);
                if let Some(i) = players.iter().position(|p| p.topic == target) {
                    channels.insert(c.id, i);
                    continue;
                }
                let p = player(domain, path, &c, target)?;
                channels.insert(c.id, players.len());
                players.push(p);
            }
            Item::Message {
                channel_id,
                log_time,
                data,
            } => {
                ahead.fetch_sub(data.len(), Ordering::AcqRel);
                let Some(&i) = channels.get(&channel_id) else {
                    continue;
                };
                let control = opts.control.as_deref();
                let (t0, _) = *first.get_or_insert((log_time, Instant::now()));
                let after =
                    Duration::from_secs_f64(log_time.saturating_sub(t0) as f64 / 1e9 / opts.rate);
                loop {
                    if axon::shutdown_requested() {
                        return Ok(());
                    }
                    if let Some(c) = control.filter(|c| c.pause.load(Ordering::Acquire)) {
                        let paused = pause(c);
                        // The schedule moves by the pause: what was due
                        // during it keeps its gaps after it.
                        if let Some((_, s0)) = first.as_mut() {
                            *s0 += paused;
                        }
                        continue;
                    }
                    let due = first.map_or_else(Instant::now, |f| f.1) + after;
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    // Short steps while a caller may pause.
                    let step = if control.is_some() { 10 } else { 50 };
                    std::thread::sleep((due - now).min(Duration::from_millis(step)));
                }
                publish(&mut players[i], path, &data, &mut buf)?;
                if let Some(c) = control {
                    c.at_ns.store(log_time, Ordering::Relaxed);
                    c.published.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    Ok(())
}

/// Waits while `c.pause` is set (or until a shutdown), saying so in
/// `c.paused`; returns how long it waited.
fn pause(c: &Control) -> Duration {
    let start = Instant::now();
    c.paused.store(true, Ordering::Release);
    while c.pause.load(Ordering::Acquire) && !axon::shutdown_requested() {
        std::thread::sleep(Duration::from_millis(5));
    }
    c.paused.store(false, Ordering::Release);
    start.elapsed()
}

fn player(
    domain: &Domain,
    path: &Path,
    c: &mcap::records::Channel,
    target: &str,
) -> Result<Player, BagError> {
    let bad = |what: String| BagError::Channel {
        path: path.to_path_buf(),
        topic: c.topic.clone(),
        what,
    };
    let desc = type_of(path, c)?;
    let view = match c.message_encoding.as_str() {
        crate::CDR_ENCODING => {
            let d = desc
                .description
                .as_ref()
                .ok_or_else(|| bad("a cdr channel without a type description".into()))?;
            Some(axon_ros2::View::new(d).map_err(|e| bad(e.to_string()))?)
        }
        crate::RAW_ENCODING => None,
        other => {
            return Err(bad(format!(
                "message encoding {other:?} is not cdr or axon-raw"
            )))
        }
    };
    let name = TopicName::new(target).map_err(|e| bad(format!("{target}: {e}")))?;
    match inspect::topic(domain, &name) {
        Ok(r) => {
            let c2 = &r.config;
            if c2.type_name() != desc.name || c2.fingerprint != desc.fingerprint {
                return Err(bad(format!(
                    "topic {name} exists with type {} ({:016x}); the file has {} ({:016x})",
                    c2.type_name(),
                    c2.fingerprint,
                    desc.name,
                    desc.fingerprint
                )));
            }
        }
        Err(InspectError::NoSuchTopic { .. }) => {}
        Err(e) => return Err(bad(format!("cannot read topic {name}: {e}"))),
    }
    let max_elems = c
        .metadata
        .get(keys::MAX_ELEMS)
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0);
    let qos = Qos {
        max_len: if desc.elem_size > 0 { max_elems } else { None },
        ..Qos::default()
    };
    let (fixed_size, elem_size) = (desc.fixed_size, desc.elem_size);
    let publisher = RawPublisher::create(domain, name.clone(), &desc, &qos, NODE)
        .map_err(|e| bad(format!("cannot publish on {name}: {e}")))?;
    Ok(Player {
        topic: target.to_string(),
        publisher,
        view,
        fixed_size,
        elem_size,
        published: 0,
    })
}

fn publish(p: &mut Player, path: &Path, data: &[u8], buf: &mut Vec<u8>) -> Result<(), BagError> {
    let bad = |what: String| BagError::Channel {
        path: path.to_path_buf(),
        topic: p.topic.clone(),
        what,
    };
    let (bytes, elems): (&[u8], usize) = match &p.view {
        Some(v) => {
            let n = axon_ros2::cdr::decode_into(v, data, buf).map_err(|e| bad(e.to_string()))?;
            (&buf[..], n.unwrap_or(0))
        }
        None => {
            let elems = (data.len() as u64)
                .saturating_sub(p.fixed_size)
                .checked_div(p.elem_size)
                .unwrap_or(0);
            (data, elems as usize)
        }
    };
    let mut loan = p
        .publisher
        .loan_slot(elems)
        .map_err(|e| bad(format!("cannot loan a slot for {elems} elements: {e}")))?;
    let dst = loan.bytes_mut();
    // A decoded slice message may end in alignment padding the slot lacks.
    if bytes.len() > dst.len() && bytes[dst.len()..].iter().any(|b| *b != 0) {
        return Err(bad(format!(
            "a message of {} bytes does not fit the topic's slot of {} bytes",
            bytes.len(),
            dst.len()
        )));
    }
    let n = dst.len().min(bytes.len());
    dst[..n].copy_from_slice(&bytes[..n]);
    dst[n..].fill(0);
    loan.send();
    p.published += 1;
    Ok(())
}
