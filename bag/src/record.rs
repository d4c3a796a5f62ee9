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

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
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
/// Node name the recorder's subscribers carry.
const NODE: &str = "axon-bag";

/// Which topics to record.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every topic of the domain, including those that appear later.
    All,
    /// These topics (each joined once it exists).
    Topics(Vec<TopicName>),
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
    /// The file written.
    pub path: PathBuf,
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
    /// Per topic id: queue losses and shared-memory drops.
    End(Vec<(u64, u64)>),
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
    let path = output_path(&opts.output);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| BagError::io(&path, e))?;
    let offset = crate::realtime_ns().wrapping_sub(crate::monotonic_ns());
    let write_opts = mcap::WriteOptions::new()
        .profile(crate::PROFILE)
        .library(concat!("axon-bag ", env!("CARGO_PKG_VERSION")))
        .compression(opts.compression.to_mcap());
    let mut writer = write_opts
        .create(BufWriter::with_capacity(1 << 20, file))
        .map_err(|e| format_error(&path, e))?;
    let mut start = BTreeMap::new();
    start.insert("domain".to_string(), domain.name().to_string());
    start.insert(
        "clock".to_string(),
        "publish_time = send stamp, log_time = receive time: CLOCK_MONOTONIC + clock_offset_ns"
            .to_string(),
    );
    start.insert("clock_offset_ns".to_string(), offset.to_string());
    writer
        .write_metadata(&Metadata {
            name: keys::RECORDING.into(),
            metadata: start,
        })
        .map_err(|e| format_error(&path, e))?;

    let (tx, rx) = mpsc::sync_channel::<Event>(QUEUE_LEN);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let writer_thread = {
        let p = path.clone();
        let in_flight = in_flight.clone();
        thread::Builder::new()
            .name("axon-bag-writer".into())
            .spawn(move || write_loop(writer, rx, &p, offset, &in_flight))
            .map_err(|e| BagError::io(&path, e))?
    };
    let received = receive_loop(domain, opts, stop, &tx, &in_flight);
    drop(tx);
    let written = writer_thread.join().map_err(|_| BagError::Format {
        path: path.clone(),
        what: "the writer thread panicked".into(),
    })?;
    received?;
    Ok(RecordReport {
        path,
        topics: written?,
    })
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
) -> Result<(), BagError> {
    let started = Instant::now();
    let mut joined: HashMap<TopicName, Joined> = HashMap::new();
    let mut losses: Vec<(u64, u64)> = Vec::new();
    let mut waiting_said = false;
    let mut next_discovery = Instant::now();
    let qos = Qos {
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
            let candidates: Vec<TopicName> = match &opts.selection {
                Selection::All => inspect::topics(domain)
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
                if joined.contains_key(&name) {
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
                let id = losses.len();
                losses.push((0, 0));
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
                if in_flight.load(Ordering::Relaxed) + bytes.len() > QUEUE_BYTES {
                    losses[j.id].0 += 1;
                    continue;
                }
                let event = Event::Sample {
                    id: j.id,
                    sent_ns: info.sent_ns,
                    recv_ns,
                    bytes: bytes.to_vec(),
                };
                drop(sample);
                let len = match &event {
                    Event::Sample { bytes, .. } => bytes.len(),
                    _ => 0,
                };
                in_flight.fetch_add(len, Ordering::Relaxed);
                match tx.try_send(event) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        in_flight.fetch_sub(len, Ordering::Relaxed);
                        losses[j.id].0 += 1;
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
    for j in joined.values() {
        losses[j.id].1 = j.sub.dropped();
    }
    let _ = tx.send(Event::End(losses));
    Ok(())
}

struct Channel {
    mcap_id: u16,
    topic: String,
    type_name: String,
    encoding: String,
    view: Option<axon_ros2::View>,
    messages: u64,
    unencodable: u64,
    said: bool,
}

fn write_loop(
    mut writer: mcap::Writer<BufWriter<File>>,
    rx: Receiver<Event>,
    path: &Path,
    offset: u64,
    in_flight: &AtomicUsize,
) -> Result<Vec<RecordedTopic>, BagError> {
    let mut channels: Vec<Channel> = Vec::new();
    let mut cdr = Vec::new();
    let mut end = Vec::new();
    for event in rx {
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
                let (schema_id, encoding) = match &view {
                    Some(v) => (
                        writer
                            .add_schema(
                                v.type_name(),
                                crate::SCHEMA_ENCODING,
                                v.msg_text().as_bytes(),
                            )
                            .map_err(|e| format_error(path, e))?,
                        crate::CDR_ENCODING,
                    ),
                    None => {
                        eprintln!(
                            "axon bag: {topic} ({type_name}) has no ROS 2 view{}: recording its raw bytes ({})",
                            if description.is_none() { " (its segment carries no description)" } else { "" },
                            crate::RAW_ENCODING
                        );
                        (0, crate::RAW_ENCODING)
                    }
                };
                let mcap_id = writer
                    .add_channel(schema_id, &topic, encoding, &meta)
                    .map_err(|e| format_error(path, e))?;
                channels.push(Channel {
                    mcap_id,
                    topic,
                    type_name,
                    encoding: encoding.to_string(),
                    view,
                    messages: 0,
                    unencodable: 0,
                    said: false,
                });
            }
            Event::Sample {
                id,
                sent_ns,
                recv_ns,
                bytes,
            } => {
                in_flight.fetch_sub(bytes.len(), Ordering::Relaxed);
                let Some(ch) = channels.get_mut(id) else {
                    continue;
                };
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
                    channel_id: ch.mcap_id,
                    sequence: ch.messages as u32,
                    log_time: recv_ns.wrapping_add(offset),
                    publish_time: sent_ns.wrapping_add(offset),
                };
                writer
                    .write_to_known_channel(&header, data)
                    .map_err(|e| format_error(path, e))?;
                ch.messages += 1;
            }
            Event::End(l) => end = l,
        }
    }
    let mut topics = Vec::new();
    let mut meta = BTreeMap::new();
    for (i, ch) in channels.iter().enumerate() {
        let (queue, dropped) = end.get(i).copied().unwrap_or((0, 0));
        let losses = Losses {
            queue,
            dropped,
            unencodable: ch.unencodable,
        };
        meta.insert(
            ch.topic.clone(),
            json!({"queue": queue, "dropped": dropped, "unencodable": ch.unencodable}).to_string(),
        );
        topics.push(RecordedTopic {
            topic: ch.topic.clone(),
            type_name: ch.type_name.clone(),
            encoding: ch.encoding.clone(),
            messages: ch.messages,
            losses,
        });
    }
    writer
        .write_metadata(&Metadata {
            name: keys::LOSSES.into(),
            metadata: meta,
        })
        .map_err(|e| format_error(path, e))?;
    writer.finish().map_err(|e| format_error(path, e))?;
    let mut inner = writer.into_inner();
    std::io::Write::flush(&mut inner).map_err(|e| BagError::io(path, e))?;
    inner
        .get_ref()
        .sync_all()
        .map_err(|e| BagError::io(path, e))?;
    topics.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok(topics)
}
