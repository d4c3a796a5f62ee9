//! `axon bag reindex`: a finished copy of a file whose recorder did not
//! finish it (killed, disk full) or that has damaged chunks.
//!
//! The input is streamed once with the reader `info` and `play` use (see
//! [`crate::info()`]): every whole chunk's schemas, channels and messages,
//! and every metadata and attachment record, are written again through
//! mcap's writer into a new file, which gets chunk and message indexes, a
//! summary and a footer. Reading stops where the input stops being whole;
//! damaged chunks are skipped. The copy holds an `axon.reindexed` metadata
//! record saying what it was made from and where reading stopped. Memory:
//! one input chunk (at most [`crate::MAX_RECORD`]) and one output chunk.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use mcap::records::{MessageHeader, Metadata, Record};

use crate::info::{stream, Flow, Seen};
use crate::{keys, BagError, Compression};

/// What reindexing did.
#[derive(Debug, Clone)]
pub struct ReindexReport {
    /// The finished copy.
    pub output: PathBuf,
    /// Whether the input was finished already.
    pub input_finished: bool,
    /// Whole chunks copied and damaged ones skipped.
    pub chunks: u64,
    pub skipped_chunks: u64,
    /// Messages copied.
    pub messages: u64,
    /// Messages whose channel the input never defined (not copied).
    pub orphans: u64,
    /// Where and why reading the input stopped early, or its first damaged
    /// chunk.
    pub error: Option<String>,
}

/// The default name of the copy: `<stem>.reindexed.mcap` beside `input`.
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "axon".into());
    input.with_file_name(format!("{stem}.reindexed.mcap"))
}

/// Writes a finished copy of `input` to `output` (refused if it exists),
/// chunks compressed with `compression` (by default: as the input's first
/// chunk).
pub fn reindex(
    input: &Path,
    output: &Path,
    compression: Option<Compression>,
) -> Result<ReindexReport, BagError> {
    // A first look, up to the first chunk: the profile and compression.
    let mut profile = String::new();
    let mut found: Option<Compression> = None;
    stream(input, &mut |seen| {
        Ok(match seen {
            Seen::Record(Record::Header(h)) => {
                profile = h.profile;
                Flow::Continue
            }
            Seen::Chunk(c) => {
                found = Compression::parse(if c.compression.is_empty() {
                    "none"
                } else {
                    &c.compression
                });
                Flow::Stop
            }
            _ => Flow::Continue,
        })
    })?;
    let compression = compression.or(found).unwrap_or_default();
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(output)
        .map_err(|e| BagError::io(output, e))?;
    let out_err = |e: mcap::McapError| match e {
        mcap::McapError::Io(e) => BagError::io(output, e),
        e => BagError::Format {
            path: output.to_path_buf(),
            what: e.to_string(),
        },
    };
    let mut writer = mcap::WriteOptions::new()
        .profile(profile)
        .library(concat!("axon-bag reindex ", env!("CARGO_PKG_VERSION")))
        .compression(compression.to_mcap())
        .create(BufWriter::with_capacity(1 << 20, file))
        .map_err(out_err)?;
    let mut report = ReindexReport {
        output: output.to_path_buf(),
        input_finished: false,
        chunks: 0,
        skipped_chunks: 0,
        messages: 0,
        orphans: 0,
        error: None,
    };
    // Input schema id -> its record; input channel id -> output channel id.
    let mut schemas: HashMap<u16, (String, String, Vec<u8>)> = HashMap::new();
    let mut schema_ids: HashMap<u16, u16> = HashMap::new();
    let mut channels: HashMap<u16, u16> = HashMap::new();
    let end = stream(input, &mut |seen| {
        match seen {
            Seen::Record(Record::Schema { header, data }) => {
                schemas.entry(header.id).or_insert((
                    header.name,
                    header.encoding,
                    data.into_owned(),
                ));
            }
            Seen::Record(Record::Channel(c)) => {
                if channels.contains_key(&c.id) {
                    return Ok(Flow::Continue);
                }
                let schema_id = match (c.schema_id, schema_ids.get(&c.schema_id)) {
                    (0, _) => 0,
                    (_, Some(&id)) => id,
                    (old, None) => match schemas.get(&old) {
                        Some((name, encoding, data)) => {
                            let id = writer.add_schema(name, encoding, data).map_err(out_err)?;
                            schema_ids.insert(old, id);
                            id
                        }
                        // A channel whose schema never came: kept without it.
                        None => 0,
                    },
                };
                let id = writer
                    .add_channel(schema_id, &c.topic, &c.message_encoding, &c.metadata)
                    .map_err(out_err)?;
                channels.insert(c.id, id);
            }
            Seen::Record(Record::Message { header, data }) => {
                let Some(&id) = channels.get(&header.channel_id) else {
                    report.orphans += 1;
                    return Ok(Flow::Continue);
                };
                writer
                    .write_to_known_channel(
                        &MessageHeader {
                            channel_id: id,
                            ..header
                        },
                        &data,
                    )
                    .map_err(out_err)?;
                report.messages += 1;
            }
            Seen::Record(Record::Metadata(m)) => {
                writer.write_metadata(&m).map_err(out_err)?;
            }
            Seen::Record(Record::Attachment { header, data, .. }) => {
                writer
                    .attach(&mcap::Attachment {
                        log_time: header.log_time,
                        create_time: header.create_time,
                        name: header.name,
                        media_type: header.media_type,
                        data,
                    })
                    .map_err(out_err)?;
            }
            _ => {}
        }
        Ok(Flow::Continue)
    })?;
    report.input_finished = end.finished;
    report.chunks = end.chunks;
    report.skipped_chunks = end.skipped_chunks;
    report.error = end.error.clone();
    let mut meta = BTreeMap::new();
    meta.insert("from".to_string(), input.display().to_string());
    meta.insert("input_finished".to_string(), end.finished.to_string());
    meta.insert("chunks".to_string(), end.chunks.to_string());
    meta.insert("skipped_chunks".to_string(), end.skipped_chunks.to_string());
    if let Some(at) = end.stopped_at {
        meta.insert("stopped_at".to_string(), at.to_string());
    }
    if let Some(e) = &end.error {
        meta.insert("error".to_string(), e.clone());
    }
    writer
        .write_metadata(&Metadata {
            name: keys::REINDEXED.into(),
            metadata: meta,
        })
        .map_err(out_err)?;
    writer.finish().map_err(out_err)?;
    let mut inner = writer.into_inner();
    inner.flush().map_err(|e| BagError::io(output, e))?;
    inner
        .get_ref()
        .sync_all()
        .map_err(|e| BagError::io(output, e))?;
    Ok(report)
}
