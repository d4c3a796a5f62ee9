//! `axon bag info`: what a file holds, and the streaming reader `play`
//! shares.
//!
//! The file is mapped (`axon::MappedFile`: a fault from a file truncated
//! under the mapping becomes an error naming the file) and read from start
//! to end through mcap's sans-io reader (a bounded buffer, never the whole
//! file on the heap; see the crate docs, *Bounds*).
//! A file whose recorder did not finish it (killed, disk full) has no
//! footer: it is read as far as its records are whole, and [`BagInfo`]
//! says it was not finished and where reading stopped.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use mcap::records::{ChunkHeader, Record};
use mcap::sans_io::linear_reader::{LinearReadEvent, LinearReader, LinearReaderOptions};
use serde_json::{json, Value};

use crate::{keys, BagError, MAX_RECORD};

/// One topic of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicInfo {
    /// The topic name.
    pub topic: String,
    /// The ROS 2 type (schema name), empty for a raw channel.
    pub ros_type: String,
    /// The axon type (channel metadata), empty if the file does not say.
    pub axon_type: String,
    /// The message encoding (`cdr` or `axon-raw`).
    pub encoding: String,
    /// Messages read.
    pub messages: u64,
    /// First and last `log_time` (ns since the epoch), 0 if none.
    pub first_ns: u64,
    pub last_ns: u64,
    /// Losses the recorder counted (queue full, dropped in shared memory,
    /// unencodable), when the file holds the `axon.losses` record.
    pub losses: Option<Losses>,
}

/// Samples the recorder counted as lost for one topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Losses {
    /// The queue to the writer was full.
    pub queue: u64,
    /// Overwritten in shared memory before the recorder read them.
    pub dropped: u64,
    /// Could not be encoded as CDR (a value out of its ROS 2 range).
    pub unencodable: u64,
}

impl Losses {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.queue + self.dropped + self.unencodable
    }
}

impl TopicInfo {
    /// Messages per second between the first and the last (0 with fewer than two).
    pub fn rate_hz(&self) -> f64 {
        if self.messages < 2 || self.last_ns <= self.first_ns {
            return 0.0;
        }
        (self.messages - 1) as f64 * 1e9 / (self.last_ns - self.first_ns) as f64
    }
}

/// What a file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct BagInfo {
    pub path: PathBuf,
    /// File size in bytes.
    pub size: u64,
    /// The MCAP profile.
    pub profile: String,
    /// Whether the file ends with its footer (its recorder finished it).
    pub finished: bool,
    /// Where and why reading stopped early (a truncated or damaged file).
    pub error: Option<String>,
    /// Chunk compressions found (`zstd`, `lz4`, `""` for none).
    pub compression: Vec<String>,
    /// Chunks read whole.
    pub chunks: u64,
    /// Damaged chunks skipped (their neighbours were read).
    pub skipped_chunks: u64,
    /// Where reading stopped before the end of the file (the byte offset
    /// of the first record that is not whole), if it did.
    pub stopped_at: Option<u64>,
    /// Messages read.
    pub messages: u64,
    /// First and last `log_time` over all messages.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Per topic, by name.
    pub topics: Vec<TopicInfo>,
}

impl BagInfo {
    /// Duration from the first to the last message.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// The JSON form (`axon bag info --json`).
    pub fn to_json(&self) -> Value {
        json!({
            "path": self.path.display().to_string(),
            "size": self.size,
            "profile": self.profile,
            "finished": self.finished,
            "error": self.error,
            "compression": self.compression,
            "chunks": self.chunks,
            "skipped_chunks": self.skipped_chunks,
            "stopped_at": self.stopped_at,
            "messages": self.messages,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "duration_s": self.duration_ns() as f64 / 1e9,
            "topics": self.topics.iter().map(|t| json!({
                "topic": t.topic,
                "ros_type": t.ros_type,
                "axon_type": t.axon_type,
                "encoding": t.encoding,
                "messages": t.messages,
                "rate_hz": t.rate_hz(),
                "first_ns": t.first_ns,
                "last_ns": t.last_ns,
                "losses": t.losses.map(|l| json!({
                    "queue": l.queue, "dropped": l.dropped, "unencodable": l.unencodable,
                    "total": l.total(),
                })),
            })).collect::<Vec<_>>(),
        })
    }
}

/// What the streaming reader hands its visitor.
pub(crate) enum Seen<'a> {
    /// A chunk starts (its records follow).
    Chunk(&'a ChunkHeader),
    /// A record, top-level or from inside a chunk.
    Record(Record<'a>),
}

/// How a stream ended.
pub(crate) struct StreamEnd {
    /// A footer was read.
    pub finished: bool,
    /// Chunks read whole.
    pub chunks: u64,
    /// Chunks skipped because they were damaged (their framing was whole,
    /// their content was not: CRC, decompression, inner records).
    pub skipped_chunks: u64,
    /// Why reading stopped before the end, or the first damaged chunk.
    pub error: Option<String>,
    /// The byte offset where reading stopped early (the start of the
    /// first record that was not whole), if it did.
    pub stopped_at: Option<u64>,
}

/// Whether the visitor wants more.
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// Streams the records of `path` to `visit`, chunks unpacked. A damaged
/// or truncated file ends the stream with `error` set once at least its
/// start was MCAP; a file that is not MCAP at all is `Err`.
pub(crate) fn stream(
    path: &Path,
    visit: &mut dyn FnMut(Seen<'_>) -> Result<Flow, BagError>,
) -> Result<StreamEnd, BagError> {
    let meta = std::fs::metadata(path).map_err(|e| BagError::io(path, e))?;
    if !meta.is_file() {
        return Err(BagError::Format {
            path: path.to_path_buf(),
            what: "not a regular file".into(),
        });
    }
    let map = axon::MappedFile::open(path).map_err(|e| BagError::io(path, e))?;
    stream_from(path, &mut MapReader { map, at: 0 }, MAX_RECORD, visit)
}

/// Reads a file through its memory map (crate docs, *Reading*): each read
/// is a bounded copy out of the mapping into the sans-io reader's buffer;
/// a file truncated under the mapping is an error, not a crash.
struct MapReader {
    map: axon::MappedFile,
    at: u64,
}

impl Read for MapReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self
            .map
            .read_at(self.at, buf)
            .map_err(std::io::Error::other)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Bytes of the magic that opens an MCAP file.
const MAGIC_LEN: u64 = 8;

/// [`stream`] over any reader (`path` names it in errors), no record or
/// chunk (compressed or not) larger than `limit` bytes.
///
/// Offsets: `at` is the byte offset of the record being read (the magic
/// is 8 bytes, each record 9 bytes of opcode and length plus its body),
/// so every error names where in the file it is. A chunk whose framing is
/// whole but whose content is damaged is skipped (counted, the first such
/// error kept) and reading goes on after it; anything else that is not
/// whole ends the reading there.
pub(crate) fn stream_from(
    path: &Path,
    file: &mut dyn Read,
    limit: usize,
    visit: &mut dyn FnMut(Seen<'_>) -> Result<Flow, BagError>,
) -> Result<StreamEnd, BagError> {
    let mut reader = LinearReader::new_with_options(
        LinearReaderOptions::default()
            .with_skip_end_magic(true)
            .with_emit_chunks(true)
            .with_record_length_limit(limit),
    );
    let mut end = StreamEnd {
        finished: false,
        chunks: 0,
        skipped_chunks: 0,
        error: None,
        stopped_at: None,
    };
    let mut records = 0u64;
    let mut read_total = 0u64;
    let mut at = MAGIC_LEN;
    let mut at_end = false;
    // Ends the stream at `at`: an error for a file with no whole record
    // (not MCAP at all), else the reason kept in `end`.
    let stop = |end: &mut StreamEnd, what: String, records: u64, at: u64| -> Result<(), BagError> {
        if records == 0 {
            return Err(BagError::Format {
                path: path.to_path_buf(),
                what: format!("at byte {at}: {what}"),
            });
        }
        end.error = Some(format!("at byte {at}: {what}"));
        end.stopped_at = Some(at);
        Ok(())
    };
    while let Some(event) = reader.next_event() {
        let event = match event {
            Ok(e) => e,
            Err(mcap::McapError::RecordTooLarge { opcode, len })
                if opcode == mcap::records::op::CHUNK && len == u64::MAX =>
            {
                stop(
                    &mut end,
                    "a chunk its recorder was still writing (its length was never filled in: \
                     the recorder was killed or the disk filled)"
                        .into(),
                    records,
                    at,
                )?;
                return Ok(end);
            }
            Err(e) => {
                stop(&mut end, e.to_string(), records, at)?;
                return Ok(end);
            }
        };
        match event {
            LinearReadEvent::ReadRequest(need) => {
                // A reader that asks again after being told of the end would
                // ask forever (mcap's lz4 path does, on a damaged chunk).
                if at_end {
                    let what = if read_total <= at {
                        format!("the file ends at byte {read_total}, before its footer (its recorder did not finish it)")
                    } else {
                        format!(
                            "the record there is cut off by the end of the file at byte {read_total} \
                             (its recorder did not finish it)"
                        )
                    };
                    stop(&mut end, what, records, at)?;
                    return Ok(end);
                }
                let n = file
                    .read(reader.insert(need.clamp(1, 16 << 20)))
                    .map_err(|e| BagError::io(path, e))?;
                at_end = n == 0;
                read_total += n as u64;
                reader.notify_read(n);
            }
            LinearReadEvent::Record { opcode, data } => {
                let record_at = at;
                at += 9 + data.len() as u64;
                let record = match mcap::parse_record(opcode, data) {
                    Ok(r) => r,
                    Err(e) => {
                        stop(&mut end, e.to_string(), records, record_at)?;
                        return Ok(end);
                    }
                };
                records += 1;
                match record {
                    Record::Footer(_) => {
                        end.finished = true;
                    }
                    Record::Chunk { header, data } => {
                        // The whole chunk is checked before any of it is
                        // visited: a damaged chunk is skipped entirely.
                        let unpacked = match unpack(&header, &data, limit) {
                            Ok(u) => u,
                            Err(what) => {
                                skip(&mut end, record_at, what);
                                continue;
                            }
                        };
                        let inner: Result<Vec<Record<'_>>, _> =
                            mcap::read::LinearReader::sans_magic(&unpacked).collect();
                        let inner = match inner {
                            Ok(i) => i,
                            Err(e) => {
                                skip(&mut end, record_at, format!("in a chunk: {e}"));
                                continue;
                            }
                        };
                        if let Flow::Stop = visit(Seen::Chunk(&header))? {
                            return Ok(end);
                        }
                        for r in inner {
                            if let Flow::Stop = visit(Seen::Record(r))? {
                                return Ok(end);
                            }
                        }
                        end.chunks += 1;
                    }
                    r => {
                        if let Flow::Stop = visit(Seen::Record(r))? {
                            return Ok(end);
                        }
                    }
                }
            }
        }
    }
    if !end.finished && end.stopped_at.is_none() {
        stop(
            &mut end,
            "the file ends before its footer (its recorder did not finish it)".into(),
            records,
            at,
        )?;
    }
    Ok(end)
}

/// Notes a damaged chunk at `at` that reading skips.
fn skip(end: &mut StreamEnd, at: u64, what: String) {
    end.skipped_chunks += 1;
    if end.error.is_none() {
        end.error = Some(format!(
            "the chunk at byte {at} is damaged and was skipped: {what}"
        ));
    }
}

/// A chunk's records, decompressed: at most `limit` bytes (the size the
/// chunk states, checked first), the whole of them, and their CRC checked
/// when the chunk has one. Every decoder here returns on any input.
fn unpack(h: &ChunkHeader, data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let size = h.uncompressed_size;
    if size > limit as u64 {
        return Err(format!(
            "a chunk of {size} bytes uncompressed (at most {limit})"
        ));
    }
    let size = size as usize;
    let out = match h.compression.as_str() {
        "" => data.to_vec(),
        "zstd" => zstd::bulk::decompress(data, size).map_err(|e| format!("zstd chunk: {e}"))?,
        "lz4" => {
            let mut out = Vec::new();
            lz4_flex::frame::FrameDecoder::new(data)
                .take(size as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("lz4 chunk: {e}"))?;
            out
        }
        other => {
            return Err(format!(
                "a chunk compressed with {other:?} (zstd, lz4 or none)"
            ))
        }
    };
    if out.len() != size {
        return Err(format!(
            "a chunk holds {} bytes uncompressed, its header says {size}",
            out.len()
        ));
    }
    if h.uncompressed_crc != 0 {
        let crc = crc32fast::hash(&out);
        if crc != h.uncompressed_crc {
            return Err(format!(
                "a chunk's CRC is {crc:08x}, its header says {:08x}",
                h.uncompressed_crc
            ));
        }
    }
    Ok(out)
}

/// Reads `path` and says what it holds.
pub fn info(path: &Path) -> Result<BagInfo, BagError> {
    let size = std::fs::metadata(path)
        .map_err(|e| BagError::io(path, e))?
        .len();
    summarize(path, size, &mut |visit| stream(path, visit))
}

/// [`info`] of bytes in memory, with records and chunks of at most
/// `limit` bytes (the fuzzing entry uses a smaller limit than files get, so
/// that a hostile chunk size costs megabytes per input, not a gigabyte).
pub(crate) fn info_of_bytes(data: &[u8], limit: usize) -> Result<BagInfo, BagError> {
    let path = Path::new("<bytes>");
    summarize(path, data.len() as u64, &mut |visit| {
        let mut r = data;
        stream_from(path, &mut r, limit, visit)
    })
}

type Streamer<'s> = dyn FnMut(&mut dyn FnMut(Seen<'_>) -> Result<Flow, BagError>) -> Result<StreamEnd, BagError>
    + 's;

fn summarize(path: &Path, size: u64, run: &mut Streamer<'_>) -> Result<BagInfo, BagError> {
    let mut out = BagInfo {
        path: path.to_path_buf(),
        size,
        profile: String::new(),
        finished: false,
        error: None,
        compression: Vec::new(),
        chunks: 0,
        skipped_chunks: 0,
        stopped_at: None,
        messages: 0,
        start_ns: 0,
        end_ns: 0,
        topics: Vec::new(),
    };
    let mut schemas: HashMap<u16, String> = HashMap::new();
    // channel id -> index in out.topics
    let mut channels: HashMap<u16, usize> = HashMap::new();
    let mut losses: BTreeMap<String, Losses> = BTreeMap::new();
    let end = run(&mut |seen| {
        match seen {
            Seen::Chunk(h) => {
                if !out.compression.contains(&h.compression) {
                    out.compression.push(h.compression.clone());
                }
            }
            Seen::Record(Record::Header(h)) => out.profile = h.profile,
            Seen::Record(Record::Schema { header, .. }) => {
                schemas.insert(header.id, header.name);
            }
            Seen::Record(Record::Channel(c)) => {
                if let std::collections::hash_map::Entry::Vacant(v) = channels.entry(c.id) {
                    v.insert(out.topics.len());
                    out.topics.push(TopicInfo {
                        topic: c.topic.clone(),
                        ros_type: schemas.get(&c.schema_id).cloned().unwrap_or_default(),
                        axon_type: c.metadata.get(keys::TYPE).cloned().unwrap_or_default(),
                        encoding: c.message_encoding.clone(),
                        messages: 0,
                        first_ns: 0,
                        last_ns: 0,
                        losses: None,
                    });
                }
            }
            Seen::Record(Record::Message { header, .. }) => {
                let t = header.log_time;
                if out.messages == 0 {
                    (out.start_ns, out.end_ns) = (t, t);
                }
                out.start_ns = out.start_ns.min(t);
                out.end_ns = out.end_ns.max(t);
                out.messages += 1;
                if let Some(&i) = channels.get(&header.channel_id) {
                    let topic = &mut out.topics[i];
                    if topic.messages == 0 {
                        (topic.first_ns, topic.last_ns) = (t, t);
                    }
                    topic.first_ns = topic.first_ns.min(t);
                    topic.last_ns = topic.last_ns.max(t);
                    topic.messages += 1;
                }
            }
            Seen::Record(Record::Metadata(m)) if m.name == keys::LOSSES => {
                for (topic, v) in &m.metadata {
                    let v: Value = serde_json::from_str(v).unwrap_or(Value::Null);
                    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
                    losses.insert(
                        topic.clone(),
                        Losses {
                            queue: n("queue"),
                            dropped: n("dropped"),
                            unencodable: n("unencodable"),
                        },
                    );
                }
            }
            Seen::Record(_) => {}
        }
        Ok(Flow::Continue)
    })?;
    for t in &mut out.topics {
        t.losses = losses.get(&t.topic).copied();
    }
    out.topics.sort_by(|a, b| a.topic.cmp(&b.topic));
    out.finished = end.finished;
    out.error = end.error;
    out.chunks = end.chunks;
    out.skipped_chunks = end.skipped_chunks;
    out.stopped_at = end.stopped_at;
    Ok(out)
}

/// First and last message `log_time` of a finished file, from the
/// Statistics record of its summary (read from the footer backwards, at
/// most [`SPAN_SUMMARY_MAX`] bytes); `None` for a file without a footer,
/// summary or statistics (an unfinished file: its span is only known by
/// reading it all). For `play`'s progress line.
pub fn time_span(path: &Path) -> Option<(u64, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    // Footer record: opcode, length (20), summary start, summary offset
    // start, summary CRC; then the closing magic.
    const TAIL: u64 = 1 + 8 + 20 + MAGIC_LEN;
    if len < MAGIC_LEN + TAIL {
        return None;
    }
    let mut tail = [0u8; TAIL as usize];
    f.seek(SeekFrom::Start(len - TAIL)).ok()?;
    f.read_exact(&mut tail).ok()?;
    let u64_at = |b: &[u8], i: usize| -> Option<u64> {
        Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?))
    };
    if tail[0] != mcap::records::op::FOOTER || u64_at(&tail, 1)? != 20 || &tail[29..] != mcap::MAGIC
    {
        return None;
    }
    let start = u64_at(&tail, 9)?;
    let end = len - TAIL;
    if start < MAGIC_LEN || start >= end || end - start > SPAN_SUMMARY_MAX {
        return None;
    }
    let mut summary = vec![0u8; (end - start) as usize];
    f.seek(SeekFrom::Start(start)).ok()?;
    f.read_exact(&mut summary).ok()?;
    let mut i = 0usize;
    while i + 9 <= summary.len() {
        let op = summary[i];
        let n = usize::try_from(u64_at(&summary, i + 1)?).ok()?;
        let body = summary.get(i + 9..(i + 9).checked_add(n)?)?;
        // Statistics: message count u64, schema count u16, channel,
        // attachment, metadata and chunk counts u32, then the first and
        // last message times.
        if op == mcap::records::op::STATISTICS {
            return Some((u64_at(body, 26)?, u64_at(body, 34)?));
        }
        i += 9 + n;
    }
    None
}

/// Largest summary section [`time_span`] reads.
pub const SPAN_SUMMARY_MAX: u64 = 64 << 20;
