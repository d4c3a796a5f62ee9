//! Errors, one enum per operation (crossbeam and iceoryx2 style). Every
//! variant names what the user can act on; none of them is a panic.

use std::io;
use std::path::{Path, PathBuf};

use crate::names::NameError;

/// Why a publisher or subscriber could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The topic (or node, or domain) name is not valid.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// The topic exists with another message type (or another layout of the same type name).
    #[error("topic {topic} carries {existing}, not {requested}{}", if *.layouts_differ { " (same type name, different layout: rebuild both sides from the same message definition)" } else { "" })]
    TypeMismatch {
        /// The topic.
        topic: String,
        /// The type this participant asked for.
        requested: String,
        /// The type the topic was created with.
        existing: String,
        /// The names agree but the layout fingerprints differ.
        layouts_differ: bool,
    },
    /// The topic exists but was created with less room than this participant
    /// needs, or (`declared`) a launch file's topic declaration and this
    /// participant's explicit request disagree.
    #[error("{}", capacity_message(topic, what, *requested, *available, declared.as_ref()))]
    CapacityMismatch {
        /// The topic.
        topic: String,
        /// Which capacity.
        what: &'static str,
        /// What was asked for.
        requested: u64,
        /// What the topic has (or what the declaration allows).
        available: u64,
        /// Which of the two numbers a launch file's declaration gave, if one did.
        declared: Option<DeclaredNumber>,
    },
    /// The launch file declares the topic with another message type.
    #[error("topic {topic} is declared as {declared} in the launch file ({at}), this participant uses {requested}")]
    DeclaredTypeMismatch {
        /// The topic.
        topic: String,
        /// The declared type.
        declared: String,
        /// The type this participant uses.
        requested: String,
        /// Where it was declared.
        at: String,
    },
    /// The QoS settings are out of range or inconsistent.
    #[error("invalid QoS: {0}")]
    InvalidQos(String),
    /// The message type's description cannot go into a segment: it is
    /// larger than a segment holds (`desc::MAX_ENCODED` bytes), or it does
    /// not describe the type it came with (a raw creator's mistake).
    #[error("message type {type_name}: its type description {reason}")]
    BadDescription {
        /// The type.
        type_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The segment was made by an incompatible version of axon and is in use.
    #[error("{}: made by an incompatible axon (layout version {found}, this is {expected}) and still in use", .path.display())]
    VersionMismatch {
        /// The segment file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// Ours.
        expected: u32,
    },
    /// The segment's header is corrupted and the segment is in use.
    #[error("{}: corrupted topic segment ({reason}); still in use, so it was left alone", .path.display())]
    Corrupted {
        /// The segment file.
        path: PathBuf,
        /// What check failed.
        reason: String,
    },
    /// The segment belongs to another user.
    #[error("{}: owned by uid {uid}; refusing to use another user's segment", .path.display())]
    ForeignOwner {
        /// The segment file.
        path: PathBuf,
        /// Its owner.
        uid: u32,
    },
    /// Not enough free space for the segment.
    #[error("{}: not enough shared memory: need {needed} bytes, {free} free (enlarge /dev/shm or lower the topic's capacities)", .dir.display())]
    NoSpace {
        /// The shared-memory directory.
        dir: PathBuf,
        /// Bytes needed.
        needed: u64,
        /// Bytes free.
        free: u64,
    },
    /// The shared-memory directory does not exist.
    #[error("{}: no such directory (is /dev/shm mounted? set AXON_SHM_DIR, or link over sockets)", .dir.display())]
    NoShm {
        /// The directory.
        dir: PathBuf,
    },
    /// The topic already has as many participants of this kind as it was created for.
    #[error("topic {topic} already has {max} {kind}, its maximum")]
    TooManyParticipants {
        /// The topic.
        topic: String,
        /// "publishers" or "subscribers".
        kind: &'static str,
        /// The maximum.
        max: u32,
    },
    /// The segment was replaced (by a cleanup) while joining; try again.
    #[error("{}: the segment was replaced while joining", .path.display())]
    Replaced {
        /// The segment file.
        path: PathBuf,
    },
    /// An operating-system error on the segment.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Which number of an [`OpenError::CapacityMismatch`] came from a launch
/// file's topic declaration (`AXON_TOPICS`, see [`crate::declared`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeclaredNumber {
    /// `requested` is the declared number, and the live topic offers less.
    Requested {
        /// Where it was declared (`robot.toml:12:1`).
        at: String,
    },
    /// `available` is the declared number, and this participant explicitly
    /// asked for more.
    Available {
        /// Where it was declared.
        at: String,
    },
}

fn capacity_message(
    topic: &str,
    what: &str,
    requested: u64,
    available: u64,
    declared: Option<&DeclaredNumber>,
) -> String {
    match declared {
        None => format!(
            "topic {topic} was created with {what} {available}, this participant needs {requested}"
        ),
        Some(DeclaredNumber::Requested { at }) => format!(
            "topic {topic} was created with {what} {available}, but the launch file declares \
             {requested} ({at}); it is still held by a participant that did not get the \
             declaration (stop it, or declare the topic as it is)"
        ),
        Some(DeclaredNumber::Available { at }) => format!(
            "topic {topic} is declared in the launch file with {what} {available} ({at}), \
             this participant explicitly needs {requested} (raise the declaration or lower \
             the request)"
        ),
    }
}

impl OpenError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        OpenError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether the segment may be replaced when nobody uses it.
    pub(crate) fn is_replaceable(&self) -> bool {
        matches!(
            self,
            OpenError::Corrupted { .. } | OpenError::VersionMismatch { .. }
        )
    }
}

/// Why a loan failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoanError {
    /// This publisher already holds its maximum of unsent loans.
    #[error("publisher already holds {max} loans (send or drop one first)")]
    TooManyLoans {
        /// The maximum (QoS `max_loans`).
        max: u32,
    },
    /// No free slot: subscribers hold more samples than the topic provides
    /// for (a misbehaving or hostile peer).
    #[error("no free slot on this topic: subscribers hold every sample")]
    OutOfSlots,
    /// A reliable subscriber has not read the oldest retained sample.
    #[error("a reliable subscriber is {depth} samples behind (the history depth): topic full")]
    Full {
        /// The history depth.
        depth: u32,
    },
    /// The requested slice is longer than the topic allows.
    #[error("slice of {requested} elements requested, topic allows at most {max}")]
    TooLarge {
        /// Asked for.
        requested: usize,
        /// The topic's maximum.
        max: usize,
    },
    /// Waiting for room timed out.
    #[error("timed out waiting for a reliable subscriber to make room")]
    Timeout,
    /// The slot's pages could not be reserved: the shared-memory
    /// filesystem is full (a slot's pages are reserved on its first loan).
    #[error("no space left in shared memory for a {needed}-byte slot (free some, or make /dev/shm larger)")]
    NoSpace {
        /// Bytes the slot needs.
        needed: u64,
    },
    /// The topic's segment file was truncated (by another process) while
    /// mapped: nothing in it can be trusted any more (`fault.rs`).
    #[error("topic {topic}: {TRUNCATED}")]
    SegmentTruncated {
        /// The topic.
        topic: String,
    },
}

/// What the `SegmentTruncated` variants say after the topic (`WaitError`'s,
/// in `wake/`, says the same).
pub(crate) const TRUNCATED: &str = "its shared-memory segment was truncated by another process \
     while in use; this participant stopped using it (recreate the publisher or subscriber once \
     the topic is set up again)";

/// Why a receive failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The subscriber already holds its maximum of samples.
    #[error("subscriber already holds {max} samples (drop one first)")]
    TooManyHeld {
        /// The maximum (QoS `max_held`).
        max: u32,
    },
    /// The topic's segment file was truncated (by another process) while
    /// mapped: nothing in it can be trusted any more (`fault.rs`).
    #[error("topic {topic}: {TRUNCATED}")]
    SegmentTruncated {
        /// The topic.
        topic: String,
    },
}

/// Why a node could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A name (node, domain, namespace, remap) is not valid.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// `AXON_REMAP` is malformed.
    #[error("AXON_REMAP entry {0:?} is not of the form /from=/to")]
    Remap(String),
    /// The topic declarations file (`AXON_TOPICS`) could not be read or is invalid.
    #[error("topic declarations file {}: {reason}", .path.display())]
    Topics {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The parameters file could not be read or parsed.
    #[error("parameters file {}: {reason}", .path.display())]
    Params {
        /// The file (`AXON_PARAMS_FILE`).
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The SIGINT/SIGTERM/SIGHUP handlers could not be installed.
    #[error("cannot install the signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Why a parameter could not be read.
#[derive(Debug, thiserror::Error)]
#[error("parameter {name:?}: {reason}")]
pub struct ParamError {
    /// The parameter.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}
