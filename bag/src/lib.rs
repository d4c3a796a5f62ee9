//! Record and replay axon topics as MCAP files (`axon bag`).
//!
//! The file is the third way data leaves shared memory, in the format
//! robotics tools already open: MCAP with the `ros2` profile, one channel
//! per topic, `ros2msg` schemas and `cdr` messages (the ROS 2 view of each
//! topic's type description, crate `axon-ros2`). Foxglove, `ros2 bag` with
//! the MCAP storage plugin and the Python `mcap` readers open it.
//!
//! - [`record()`]: joins topics as a best-effort subscriber that never
//!   slows a publisher; a receive loop copies samples into a bounded queue
//!   and a writer thread encodes CDR and writes the file. A full queue is a
//!   counted loss per topic, never backpressure.
//! - [`info()`]: what a file holds, per topic; a file whose recorder never
//!   finished it is read as far as its records are whole.
//! - [`play()`]: publishes the recorded messages with their original
//!   timing, recreating each topic's exact axon type; a reading thread
//!   stays a bounded distance ahead of the publishing one.
//! - [`reindex()`]: a finished copy of a file whose recorder was killed
//!   (every whole chunk, new indexes, summary and footer).
//!
//! # Crash safety
//! The writer finishes its chunk and hands the file to the kernel every
//! [`record::FLUSH`] (1 s) when messages came, so a recorder killed
//! outright leaves a file of whole chunks plus at most one chunk it was
//! writing (its length never filled in). The reader names the byte offset
//! where a file stops being whole; `info` and `play` use every whole chunk
//! before it, and a chunk whose framing is whole but whose content is
//! damaged is skipped (counted) and reading goes on.
//!
//! # Reading through a memory map
//! `info`, `play` and `reindex` map the file (`axon::MappedFile`, whose
//! one `unsafe` copy lives in the core crate). Another process may
//! truncate the file while it is mapped: the read that touches a page past
//! the new end faults, axon's SIGBUS handler (the one that contains
//! truncated segments) puts zeros there and flags the mapping, and the read
//! returns an error instead of those zeros; `play` and `info` end with one
//! error naming the file (exit 1), never a crash. A file rewritten in place
//! is read as it is then: the reader checks lengths and chunk CRCs as for
//! any damaged file. A file that only grows (a recording still being
//! written) is read to its length at open.
//!
//! # Splitting
//! With [`Split`], the recording is a series of finished files
//! `<stem>_<i>.mcap`, each with every channel known so far and its own
//! `axon.losses` record (the losses during that part).
//!
//! # What a file holds
//! Each channel carries, besides its ROS 2 schema, the axon type in its
//! metadata (keys in [`keys`]): the type name, fingerprint, fixed and
//! element sizes, and the type description (`Description::encode`, in
//! hex). `play` recreates the topic from those, so it publishes the exact
//! axon type whatever the ROS 2 name is; the `ros2msg` text is for other
//! readers. A topic whose type has no ROS 2 view (`[u8]`, a primitive) or
//! whose segment carries no description (a socket link's importer made it)
//! is recorded anyway, with no schema and message encoding [`RAW_ENCODING`]
//! (the sample's bytes as they lie in the slot); other tools see its
//! channel but cannot decode it.
//!
//! # Times
//! Both stamps of a message are in one clock domain: the sample's send
//! stamp (`SampleInfo::sent_ns`, `CLOCK_MONOTONIC`) and the recorder's
//! receive time (`CLOCK_MONOTONIC` read when the sample was taken from the
//! ring) are each shifted by one offset, `CLOCK_REALTIME - CLOCK_MONOTONIC`
//! measured once when the recording starts. So `publish_time` and
//! `log_time` are nanoseconds since the Unix epoch, as other MCAP tools
//! expect, and their differences are exact monotonic intervals (a wall
//! clock step during the recording does not show). The offset is stored in
//! the `axon.recording` metadata record.
//!
//! # Bounds
//! - Recording: at most [`record::QUEUE_LEN`] samples (or
//!   `RecordOptions::queue_len`) and [`record::QUEUE_BYTES`] bytes wait
//!   between the receive loop and the writer; beyond either, the sample is
//!   a counted loss. Every topic the
//!   domain has can be joined (`-a`); each costs one subscriber record.
//! - Reading (`info`, `play`): the file is mapped read-only
//!   (`axon::MappedFile`) and read through mcap's sans-io reader in
//!   bounded copies out of the mapping, never held whole on the heap (the
//!   mapping's pages are the kernel's page cache, dropped under memory
//!   pressure); one record, compressed chunk or
//!   decompressed chunk larger than [`MAX_RECORD`] is an error naming the
//!   file. A decoded sample is at most the topic's slot. `play` reads at
//!   most 4,096 messages and 64 MiB ahead of publishing.

use std::path::PathBuf;

pub mod info;
pub mod play;
pub mod record;
pub mod reindex;

pub use info::{info, BagInfo, TopicInfo};
pub use play::{play, play_files, PlayOptions, PlayReport};
pub use record::{record, RecordOptions, RecordReport, Selection, Split};
pub use reindex::{reindex, ReindexReport};

/// The MCAP profile axon writes.
pub const PROFILE: &str = "ros2";
/// Schema encoding of the ROS 2 message definitions.
pub const SCHEMA_ENCODING: &str = "ros2msg";
/// Message encoding of CDR messages.
pub const CDR_ENCODING: &str = "cdr";
/// Message encoding of a topic recorded as its raw slot bytes (no ROS 2
/// view): no schema; `play` publishes the bytes as they are.
pub const RAW_ENCODING: &str = "axon-raw";
/// Largest record, compressed chunk or decompressed chunk a reader accepts
/// (1 GiB, `axon_ros2::cdr::MAX_SAMPLE`).
pub const MAX_RECORD: usize = 1 << 30;

/// Keys of the axon metadata in each channel and of the metadata records.
pub mod keys {
    /// Channel: the axon type name (`Schema::TYPE_NAME`).
    pub const TYPE: &str = "axon.type";
    /// Channel: the layout fingerprint, 16 hex digits.
    pub const FINGERPRINT: &str = "axon.fingerprint";
    /// Channel: bytes of the type without its trailing slice.
    pub const FIXED_SIZE: &str = "axon.fixed_size";
    /// Channel: bytes per trailing element (0 if sized).
    pub const ELEM_SIZE: &str = "axon.elem_size";
    /// Channel: the topic's capacity in trailing elements (0 if sized).
    pub const MAX_ELEMS: &str = "axon.max_elems";
    /// Channel: `Description::encode` in hex (absent when the segment
    /// carried none).
    pub const DESCRIPTION: &str = "axon.description";
    /// Metadata record written when recording starts: domain, clock offset.
    pub const RECORDING: &str = "axon.recording";
    /// Metadata record written when recording ends: per topic, a JSON
    /// object `{"queue": N, "dropped": N, "unencodable": N}`.
    pub const LOSSES: &str = "axon.losses";
    /// Metadata record of a copy `axon bag reindex` wrote: the input, how
    /// far it was read, why it stopped.
    pub const REINDEXED: &str = "axon.reindexed";
}

/// Chunk compression of a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// zstd (the default).
    #[default]
    Zstd,
    /// lz4 frames.
    Lz4,
    /// Uncompressed chunks.
    None,
}

impl Compression {
    /// Parses `zstd`, `lz4` or `none`.
    pub fn parse(s: &str) -> Option<Compression> {
        match s {
            "zstd" => Some(Compression::Zstd),
            "lz4" => Some(Compression::Lz4),
            "none" => Some(Compression::None),
            _ => None,
        }
    }

    pub(crate) fn to_mcap(self) -> Option<mcap::Compression> {
        match self {
            Compression::Zstd => Some(mcap::Compression::Zstd),
            Compression::Lz4 => Some(mcap::Compression::Lz4),
            Compression::None => None,
        }
    }
}

/// Why a bag operation failed. Every variant names the file it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BagError {
    /// The file cannot be opened, created, read or written.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is not a readable MCAP file (or is damaged).
    #[error("{path}: not a readable MCAP file: {what}")]
    Format { path: PathBuf, what: String },
    /// A channel of the file cannot be played (its type is unknown, ...).
    #[error("{path}: topic {topic}: {what}")]
    Channel {
        path: PathBuf,
        topic: String,
        what: String,
    },
    /// Taking part in the domain failed.
    #[error("{what}")]
    Domain { what: String },
}

impl BagError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> BagError {
        BagError::Io {
            path: path.to_path_buf(),
            error: source,
        }
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// `CLOCK_MONOTONIC` now, in ns (the clock of `SampleInfo::sent_ns`).
pub(crate) fn monotonic_ns() -> u64 {
    clock_ns(nix::time::ClockId::CLOCK_MONOTONIC)
}

/// `CLOCK_REALTIME` now, in ns since the Unix epoch.
pub(crate) fn realtime_ns() -> u64 {
    clock_ns(nix::time::ClockId::CLOCK_REALTIME)
}

fn clock_ns(id: nix::time::ClockId) -> u64 {
    // Both clocks always exist on Linux; a failure would leave 0.
    nix::time::clock_gettime(id).map_or(0, |t| {
        (t.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_nsec() as u64)
    })
}

/// Entries for fuzzing (the repository's convention): each takes arbitrary
/// bytes and must never panic, hang or allocate without bound. Seeds in
/// `fuzz/corpus/<name>/`; `tests/fuzz_corpus.rs` replays them.
#[doc(hidden)]
pub mod fuzzing {
    /// Largest record or chunk the fuzzing entry accepts (files get
    /// [`crate::MAX_RECORD`]; the code is the same).
    pub const LIMIT: usize = 16 << 20;

    /// `data` as an MCAP file read by `axon bag info` (the reader `play`
    /// uses too).
    pub fn bag_reader(data: &[u8]) {
        let _ = crate::info::info_of_bytes(data, LIMIT);
    }

    /// What [`bag_reader`] finds (for the corpus test).
    pub fn bag_info(data: &[u8]) -> Result<crate::BagInfo, crate::BagError> {
        crate::info::info_of_bytes(data, LIMIT)
    }
}
