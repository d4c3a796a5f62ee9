//! Read-only inspection of the segments in a directory, for tools (the
//! `axon` CLI): which topics exist, who takes part, whether they are alive,
//! their counters; and `clean`, which removes segments nobody uses.
//!
//! *Nothing here joins a topic.* A segment is opened read-only and mapped
//! read-only; liveness is asked of the kernel with `F_OFD_GETLK` on the
//! record's lock byte (see `sys.rs`), so looking never takes a lock, never
//! reaps a record and never changes a counter. The pid stored in a record is
//! reported for display only: a record is *alive* when its lock is held.
//!
//! [`clean`] removes a segment by the rule `segment.rs` uses to replace an
//! unusable one: under the exclusive admin lock, only if no record lock is
//! held, only if the path still names the file that was checked.
//!
//! File names are `axon.u<uid>.d<domain>.<topic stem>` (see `names.rs`);
//! `axon.u<uid>.d<domain>.~tmp.<pid>.<n>` is a segment being created.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::OpenError;
use crate::layout::{TopicConfig, LAYOUT_VERSION};
use crate::names::{Domain, TopicName};
use crate::segment::{self, bits, Removal, Segment, Temporary};
use crate::sync::Ordering;
use crate::sys;

/// Why a segment could not be inspected. Each variant is one clear line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// No segment for this topic in this domain.
    #[error("no topic {topic} in domain {domain:?}")]
    NoSuchTopic {
        /// The topic.
        topic: String,
        /// The domain's name.
        domain: String,
    },
    /// The segment file belongs to another user.
    #[error("{}: owned by uid {uid}, not by you (uid {me})", .path.display())]
    ForeignOwner {
        /// The segment file.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// The caller's effective uid.
        me: u32,
    },
    /// The segment was made by an incompatible version of axon.
    #[error("{}: made by an incompatible axon (layout version {found}, this tool reads {expected})", .path.display())]
    VersionMismatch {
        /// The segment file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// Ours.
        expected: u32,
    },
    /// The segment's header failed validation.
    #[error("{}: corrupted topic segment ({reason})", .path.display())]
    Corrupted {
        /// The segment file.
        path: PathBuf,
        /// What check failed.
        reason: String,
    },
    /// A file named like a segment that is not a regular file (a FIFO, a
    /// directory, a socket, a symlink, a device): it cannot be anyone's
    /// segment, and [`clean`] removes it.
    #[error("{}: {kind}, not a regular file: it cannot be a topic segment", .path.display())]
    NotASegment {
        /// The file.
        path: PathBuf,
        /// What it is: "a FIFO", "a directory", ...
        kind: &'static str,
    },
    /// An operating-system error (permission denied, ...).
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl InspectError {
    fn io(path: &Path, source: io::Error) -> Self {
        InspectError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn from_open(path: &Path, e: OpenError) -> Self {
        match e {
            OpenError::VersionMismatch {
                path,
                found,
                expected,
            } => InspectError::VersionMismatch {
                path,
                found,
                expected,
            },
            OpenError::Corrupted { path, reason } => InspectError::Corrupted { path, reason },
            OpenError::ForeignOwner { path, uid } => InspectError::ForeignOwner {
                path,
                uid,
                me: sys::euid(),
            },
            OpenError::Io { path, source } => {
                match source
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<sys::NotRegular>())
                {
                    Some(n) => InspectError::NotASegment { path, kind: n.kind },
                    None => InspectError::Io { path, source },
                }
            }
            other => InspectError::Io {
                path: path.to_path_buf(),
                source: io::Error::other(other.to_string()),
            },
        }
    }
}

/// An `axon.*` file in a segment directory, as its name describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFileName {
    /// Full path.
    pub path: PathBuf,
    /// The uid in the name (the creator's, if nobody renamed it).
    pub uid: u32,
    /// The domain in the name.
    pub domain: String,
    /// The topic, or `None` for a segment still being created (`~tmp.` file).
    pub topic: Option<TopicName>,
}

impl SegmentFileName {
    /// Parses `axon.u<uid>.d<domain>.<stem>`; `None` for any other name.
    pub fn parse(dir: &Path, file_name: &str) -> Option<Self> {
        let rest = file_name.strip_prefix("axon.u")?;
        let (uid, rest) = rest.split_once('.')?;
        let uid: u32 = uid.parse().ok()?;
        let rest = rest.strip_prefix('d')?;
        let (domain, stem) = rest.split_once('.')?;
        Domain::new(dir, domain).ok()?;
        let topic = if stem.starts_with("~tmp.") {
            None
        } else {
            Some(TopicName::from_file_stem(stem).ok()?)
        };
        Some(SegmentFileName {
            path: dir.join(file_name),
            uid,
            domain: domain.to_string(),
            topic,
        })
    }
}

/// Which files of a directory to consider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The segments of one domain of the calling user (what the runtime opens).
    Domain(&'a Domain),
    /// Every domain of the calling user.
    AllDomains,
    /// Every `axon.*` file, of any user (for `doctor`).
    Everyone,
}

/// Every `axon.*` file of `scope` in `dir`, sorted by name.
pub fn segment_files(dir: &Path, scope: Scope<'_>) -> io::Result<Vec<SegmentFileName>> {
    let me = sys::euid();
    let mut files: Vec<SegmentFileName> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| SegmentFileName::parse(dir, e.file_name().to_str()?))
        .filter(|f| match scope {
            Scope::Domain(d) => f.uid == me && f.domain == d.name(),
            Scope::AllDomains => f.uid == me,
            Scope::Everyone => true,
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Is a participant's record owned by a live process?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Liveness {
    /// Its lock is held: the process is alive.
    Alive,
    /// Marked as a member but nobody holds its lock: the process died and
    /// nobody has cleaned up after it yet.
    Dead,
    /// A publisher lane that had an owner who left; its samples may still be read.
    Left,
}

impl Liveness {
    /// `alive`, `dead` or `left`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Liveness::Alive => "alive",
            Liveness::Dead => "dead",
            Liveness::Left => "left",
        }
    }
}

/// A publisher lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherReport {
    /// Lane index.
    pub lane: usize,
    /// Whether its owner is alive.
    pub liveness: Liveness,
    /// Owner's pid, as the owner saw it (display only).
    pub pid: u32,
    /// Owner's node name.
    pub node: String,
    /// Samples published on the lane (by every owner it had).
    pub published: u64,
    /// How many times the lane was claimed.
    pub claims: u64,
    /// Sends refused because a reliable subscriber was full (backpressure).
    pub full_events: u64,
    /// Loans refused because no slot was free.
    pub loan_failures: u64,
}

/// A subscriber record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberReport {
    /// Record index.
    pub index: usize,
    /// Whether its owner is alive.
    pub liveness: Liveness,
    /// Owner's pid, as the owner saw it (display only).
    pub pid: u32,
    /// Owner's node name.
    pub node: String,
    /// Reliable (gives publishers backpressure) or best-effort.
    pub reliable: bool,
    /// Samples received.
    pub received: u64,
    /// Samples lost because it fell more than the history depth behind.
    pub dropped: u64,
    /// Corrupted entries skipped.
    pub corrupt: u64,
    /// Samples published and not read yet, over all lanes (at most the
    /// depth per lane is still available).
    pub unread: u64,
}

/// One topic's segment: its configuration and participants.
#[derive(Debug, Clone)]
pub struct TopicReport {
    /// The topic.
    pub topic: TopicName,
    /// The segment file.
    pub path: PathBuf,
    /// The immutable configuration its creator fixed.
    pub config: TopicConfig,
    /// The message type's description, as the segment carries it (decoded
    /// and checked against `config`'s type name and fingerprint, so tools
    /// can read samples of any type); `None` if its creator wrote none (a
    /// socket link's importer).
    pub description: Option<std::sync::Arc<axon_message::Description>>,
    /// File mode bits (`0o600` by default).
    pub mode: u32,
    /// File owner.
    pub owner_uid: u32,
    /// Size of the file.
    pub file_size: u64,
    /// Bytes of memory the file actually holds.
    pub allocated: u64,
    /// Lanes that have or had a publisher.
    pub publishers: Vec<PublisherReport>,
    /// Subscriber records in use (alive, or dead and not reaped yet).
    pub subscribers: Vec<SubscriberReport>,
}

impl TopicReport {
    /// Live publishers.
    pub fn live_publishers(&self) -> usize {
        self.publishers
            .iter()
            .filter(|p| p.liveness == Liveness::Alive)
            .count()
    }

    /// Live subscribers.
    pub fn live_subscribers(&self) -> usize {
        self.subscribers
            .iter()
            .filter(|s| s.liveness == Liveness::Alive)
            .count()
    }

    /// Records whose process died (not reaped yet).
    pub fn dead_participants(&self) -> usize {
        self.publishers
            .iter()
            .filter(|p| p.liveness == Liveness::Dead)
            .count()
            + self
                .subscribers
                .iter()
                .filter(|s| s.liveness == Liveness::Dead)
                .count()
    }
}

/// Inspects `topic` in `domain`.
pub fn topic(domain: &Domain, topic: &TopicName) -> Result<TopicReport, InspectError> {
    let path = domain.segment_path(topic);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(InspectError::NoSuchTopic {
            topic: topic.to_string(),
            domain: domain.name().to_string(),
        }),
        _ => segment_report(&path, topic.clone()),
    }
}

/// Inspects every topic of `domain`, sorted by name: one result per segment
/// file, so one bad segment does not hide the others.
pub fn topics(domain: &Domain) -> io::Result<Vec<(TopicName, Result<TopicReport, InspectError>)>> {
    Ok(domain
        .topics()?
        .into_iter()
        .map(|t| {
            let r = segment_report(&domain.segment_path(&t), t.clone());
            (t, r)
        })
        .collect())
}

/// Inspects the segment file at `path` (read-only; joins nothing).
pub fn segment_report(path: &Path, topic: TopicName) -> Result<TopicReport, InspectError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| InspectError::io(path, e))?;
    if !meta.file_type().is_file() {
        // Never opened: a FIFO would block the open (sys.rs opens with
        // O_NONBLOCK and checks again, for one swapped in meanwhile).
        return Err(InspectError::NotASegment {
            path: path.to_path_buf(),
            kind: sys::file_kind(meta.file_type()),
        });
    }
    let me = sys::euid();
    if meta.uid() != me {
        return Err(InspectError::ForeignOwner {
            path: path.to_path_buf(),
            uid: meta.uid(),
            me,
        });
    }
    let seg =
        Segment::open_existing(path, false, true).map_err(|e| InspectError::from_open(path, e))?;
    let c = seg.config;
    let m = seg.members();
    let pubs = m.publishers.load(Ordering::SeqCst);
    let used = m.used_lanes.load(Ordering::SeqCst);
    let subs = m.subscribers.load(Ordering::SeqCst);
    let reliable = m.reliable.load(Ordering::SeqCst);
    let lanes = c.max_publishers as usize;
    let mut heads = vec![0u64; lanes];
    let mut publishers = Vec::new();
    for lane in bits(used | pubs).filter(|l| *l < lanes) {
        let rec = seg.publisher(lane);
        let head = rec.head.load(Ordering::Acquire).max(1);
        heads[lane] = head;
        let liveness = if seg.publisher_alive(lane) {
            Liveness::Alive
        } else if pubs & (1 << lane) != 0 {
            Liveness::Dead
        } else {
            Liveness::Left
        };
        publishers.push(PublisherReport {
            lane,
            liveness,
            pid: rec.pid.load(Ordering::Relaxed),
            node: rec.node.get(),
            published: head - 1,
            claims: rec.claims.load(Ordering::Relaxed),
            full_events: rec.full_events.load(Ordering::Relaxed),
            loan_failures: rec.loan_failures.load(Ordering::Relaxed),
        });
    }
    let mut subscribers = Vec::new();
    for index in bits(subs).filter(|i| *i < c.max_subscribers as usize) {
        let rec = seg.subscriber(index);
        let unread = bits(used)
            .filter(|l| *l < lanes)
            .map(|l| {
                let cursor = rec.cursors[l].load(Ordering::Acquire);
                heads[l].saturating_sub(cursor.max(1))
            })
            // Heads are shared memory a hostile process may set anywhere:
            // saturate rather than overflow (found by fuzzing).
            .fold(0u64, u64::saturating_add);
        subscribers.push(SubscriberReport {
            index,
            liveness: if seg.subscriber_alive(index) {
                Liveness::Alive
            } else {
                Liveness::Dead
            },
            pid: rec.pid.load(Ordering::Relaxed),
            node: rec.node.get(),
            reliable: reliable & (1 << index) != 0,
            received: rec.received.load(Ordering::Relaxed),
            dropped: rec.dropped.load(Ordering::Relaxed),
            corrupt: rec.corrupt.load(Ordering::Relaxed),
            unread,
        });
    }
    if seg.poisoned() {
        // Truncated while we read it: what we read is zeros (fault.rs).
        return Err(InspectError::Corrupted {
            path: path.to_path_buf(),
            reason: "truncated by another process while it was read".into(),
        });
    }
    Ok(TopicReport {
        topic,
        path: path.to_path_buf(),
        config: c,
        description: seg.description.clone(),
        mode: meta.permissions().mode() & 0o7777,
        owner_uid: meta.uid(),
        file_size: meta.size(),
        allocated: meta.blocks() * 512,
        publishers,
        subscribers,
    })
}

/// A node: the records that one process holds under one node name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// Node name.
    pub name: String,
    /// Pid its records carry (display only).
    pub pid: u32,
    /// Alive if any of its records is alive.
    pub liveness: Liveness,
    /// Topics it publishes.
    pub publishes: Vec<String>,
    /// Topics it subscribes to.
    pub subscribes: Vec<String>,
}

/// Groups the participants of `reports` into nodes (by node name and pid),
/// sorted by name then pid. Lanes that were left are not participants.
pub fn nodes<'a>(reports: impl IntoIterator<Item = &'a TopicReport>) -> Vec<NodeReport> {
    let mut nodes: Vec<NodeReport> = Vec::new();
    let mut entry = |name: &str, pid: u32, liveness: Liveness| -> usize {
        if let Some(i) = nodes.iter().position(|n| n.name == name && n.pid == pid) {
            if liveness == Liveness::Alive {
                nodes[i].liveness = Liveness::Alive;
            }
            i
        } else {
            nodes.push(NodeReport {
                name: name.to_string(),
                pid,
                liveness,
                publishes: Vec::new(),
                subscribes: Vec::new(),
            });
            nodes.len() - 1
        }
    };
    let mut adds: Vec<(usize, bool, String)> = Vec::new();
    for r in reports {
        for p in r.publishers.iter().filter(|p| p.liveness != Liveness::Left) {
            adds.push((entry(&p.node, p.pid, p.liveness), true, r.topic.to_string()));
        }
        for s in &r.subscribers {
            adds.push((
                entry(&s.node, s.pid, s.liveness),
                false,
                r.topic.to_string(),
            ));
        }
    }
    for (i, publishes, topic) in adds {
        let list = if publishes {
            &mut nodes[i].publishes
        } else {
            &mut nodes[i].subscribes
        };
        if !list.contains(&topic) {
            list.push(topic);
        }
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name).then(a.pid.cmp(&b.pid)));
    nodes
}

/// What [`clean`] did with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanAction {
    /// Removed (or, in a dry run, would be removed).
    Removed,
    /// A live process uses it: left alone.
    InUse,
    /// Replaced or removed by someone else meanwhile: left alone.
    Vanished,
    /// A segment being created (`~tmp.` file) too recently to be abandoned.
    Recent,
    /// It could not be checked or removed (the reason says why): left alone.
    Failed,
}

/// Why a removed file was garbage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanReason {
    /// A valid segment whose participants are all gone; `dead` of them died
    /// without leaving (crashed), the others left normally.
    NoLiveParticipant {
        /// Records of dead processes.
        dead: usize,
    },
    /// The header is corrupted, of another layout version, or unreadable.
    Unusable(String),
    /// A segment creation that never finished (its process died).
    AbandonedTemporary,
}

/// One file [`clean`] looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanEntry {
    /// The file.
    pub path: PathBuf,
    /// Its topic (`None` for a temporary file).
    pub topic: Option<TopicName>,
    /// What happened.
    pub action: CleanAction,
    /// Why it was garbage (meaningful when removed).
    pub reason: CleanReason,
    /// Bytes of memory it held.
    pub bytes: u64,
}

/// A `~tmp.` file older than this that no creator holds locked belongs to a
/// creation that died (the rule of every segment creation too).
pub use crate::segment::TEMPORARY_GRACE;

/// Removes the files of `scope` in `dir` that no live process uses: segments
/// whose record locks are all free (their processes exited or were killed),
/// whatever state their header is in, abandoned temporary files, and files
/// named like a segment that are not regular files (a FIFO, socket,
/// symlink, device or empty directory: nobody can use them as a segment,
/// and a FIFO would hang whoever opens it without `O_NONBLOCK`). Never
/// touches a file of another user or one with a live participant; never
/// follows a symlink or empties a directory. A dry run reports the same
/// without removing anything. A file that cannot be checked or removed is
/// reported as [`CleanAction::Failed`] and the others still cleaned.
pub fn clean(dir: &Path, scope: Scope<'_>, dry_run: bool) -> io::Result<Vec<CleanEntry>> {
    let me = sys::euid();
    let mut out = Vec::new();
    for f in segment_files(dir, scope)? {
        let meta = match std::fs::symlink_metadata(&f.path) {
            Ok(m) => m,
            Err(_) => continue, // gone meanwhile
        };
        if meta.uid() != me {
            continue;
        }
        if !meta.file_type().is_file() {
            out.push(remove_not_a_segment(f, &meta, dry_run));
            continue;
        }
        let bytes = meta.blocks() * 512;
        let Some(topic) = f.topic.clone() else {
            let action = match segment::remove_temporary_if_abandoned(&f.path, dry_run) {
                Ok(Temporary::Removed) => CleanAction::Removed,
                Ok(Temporary::Recent) => CleanAction::Recent,
                Ok(Temporary::InUse) => CleanAction::InUse,
                Ok(Temporary::Vanished) => CleanAction::Vanished,
                Err(e) => {
                    out.push(CleanEntry {
                        reason: CleanReason::Unusable(format!("{}: {e}", f.path.display())),
                        path: f.path,
                        topic: None,
                        action: CleanAction::Failed,
                        bytes,
                    });
                    continue;
                }
            };
            out.push(CleanEntry {
                path: f.path,
                topic: None,
                action,
                reason: CleanReason::AbandonedTemporary,
                bytes,
            });
            continue;
        };
        let mut reason = match segment_report(&f.path, topic.clone()) {
            Ok(r) => CleanReason::NoLiveParticipant {
                dead: r.dead_participants(),
            },
            Err(e) => CleanReason::Unusable(e.to_string()),
        };
        let action = match segment::remove_if_unused(&f.path, dry_run) {
            Ok(Removal::Removed) => CleanAction::Removed,
            Ok(Removal::InUse) => CleanAction::InUse,
            Ok(Removal::Replaced) => CleanAction::Vanished,
            Err(e) if e.kind() == io::ErrorKind::NotFound => CleanAction::Vanished,
            Err(e) => {
                reason = CleanReason::Unusable(format!("{}: {e}", f.path.display()));
                CleanAction::Failed
            }
        };
        out.push(CleanEntry {
            path: f.path,
            topic: Some(topic),
            action,
            reason,
            bytes,
        });
    }
    out.extend(clean_queue_temporaries(dir, scope, dry_run)?);
    Ok(out)
}

/// The work-queue part of [`clean`]: abandoned temporaries of queue
/// creations (`axonq.u<uid>.d<domain>.<name>~tmp.<pid>.<n>`, older than
/// [`TEMPORARY_GRACE`] and unlocked). Queue files themselves are never
/// removed: a queue with no participant still holds its jobs (`axon queue
/// purge` empties one; deleting it is the user's decision).
fn clean_queue_temporaries(
    dir: &Path,
    scope: Scope<'_>,
    dry_run: bool,
) -> io::Result<Vec<CleanEntry>> {
    let prefix = match scope {
        Scope::Domain(d) => format!("axonq.u{}.d{}.", sys::euid(), d.name()),
        Scope::AllDomains => format!("axonq.u{}.d", sys::euid()),
        Scope::Everyone => "axonq.".to_string(),
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(&prefix) || !name.contains("~tmp.") {
            continue;
        }
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.uid() != sys::euid() || !meta.file_type().is_file() {
            continue;
        }
        let (action, reason) = match segment::remove_temporary_if_abandoned(&path, dry_run) {
            Ok(Temporary::Removed) => (CleanAction::Removed, CleanReason::AbandonedTemporary),
            Ok(Temporary::Recent) => (CleanAction::Recent, CleanReason::AbandonedTemporary),
            Ok(Temporary::InUse) => (CleanAction::InUse, CleanReason::AbandonedTemporary),
            Ok(Temporary::Vanished) => (CleanAction::Vanished, CleanReason::AbandonedTemporary),
            Err(e) => (
                CleanAction::Failed,
                CleanReason::Unusable(format!("{}: {e}", path.display())),
            ),
        };
        out.push(CleanEntry {
            path,
            topic: None,
            action,
            reason,
            bytes: meta.blocks() * 512,
        });
    }
    Ok(out)
}

/// [`clean`] of a file named like a segment that is not a regular file.
/// It is removed only if the name still names the same inode (`ino`, `dev`)
/// and kind just before; a directory only if empty (`rmdir`).
fn remove_not_a_segment(f: SegmentFileName, meta: &std::fs::Metadata, dry_run: bool) -> CleanEntry {
    let kind = sys::file_kind(meta.file_type());
    let mut entry = CleanEntry {
        reason: CleanReason::Unusable(format!(
            "{kind}, not a regular file: it cannot be a topic segment"
        )),
        path: f.path,
        topic: f.topic,
        action: CleanAction::Removed,
        bytes: 0,
    };
    if dry_run {
        return entry;
    }
    let same = std::fs::symlink_metadata(&entry.path).is_ok_and(|m| {
        m.ino() == meta.ino() && m.dev() == meta.dev() && m.file_type() == meta.file_type()
    });
    if !same {
        entry.action = CleanAction::Vanished;
        return entry;
    }
    let removed = if meta.file_type().is_dir() {
        std::fs::remove_dir(&entry.path)
    } else {
        std::fs::remove_file(&entry.path)
    };
    match removed {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => entry.action = CleanAction::Vanished,
        Err(e) => {
            entry.action = CleanAction::Failed;
            entry.reason = CleanReason::Unusable(format!(
                "{kind}, not a regular file: it cannot be a topic segment, but removing it failed: {e}"
            ));
        }
    }
    entry
}

/// The layout version this build reads and writes.
pub const fn layout_version() -> u32 {
    LAYOUT_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_parse_back() {
        let dir = Path::new("/dev/shm");
        let f = SegmentFileName::parse(dir, "axon.u1000.dtest-1.camera.image").unwrap();
        assert_eq!(f.uid, 1000);
        assert_eq!(f.domain, "test-1");
        assert_eq!(f.topic.unwrap().as_str(), "/camera/image");
        let t = SegmentFileName::parse(dir, "axon.u0.d0.~tmp.12.3").unwrap();
        assert_eq!(t.topic, None);
        for bad in [
            "axon.ux.d0.a",
            "axon.u1.0.a",
            "other",
            "axon.u1.d.a",
            "axon.u1.d0.",
        ] {
            assert_eq!(SegmentFileName::parse(dir, bad), None, "{bad}");
        }
    }
}
