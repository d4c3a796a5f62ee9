//! Work queues: jobs for worker processes, competing consumers,
//! at-least-once delivery with acknowledgements, without a broker.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! #[axon::message]
//! #[derive(Debug, Clone, Copy)]
//! struct Job { id: u64 }
//!
//! let node = axon::Node::new("demo")?;
//! let producer = node.queue_producer::<Job>("/jobs").create()?;
//! producer.send(&Job { id: 1 })?;
//!
//! let worker = node.queue_worker::<Job>("/jobs").prefetch(4).create()?;
//! let job = worker.recv()?;          // a Delivery<Job>: the job in shared memory
//! println!("job {} (delivery {})", job.id, job.delivery_count());
//! job.ack()?;                        // done: the slot is free again
//! # Ok(()) }
//! ```
//!
//! ## The model
//! A queue is one file (a *queue segment*, beside topic segments: under
//! `/dev/shm`, or anywhere with [`QueueProducerBuilder::durable`]) holding a
//! fixed table of job slots, one 64-bit state word per slot
//! (`protocol.rs`), a ticket counter and participant records. A producer
//! takes a FREE slot, writes the job in place, takes the next ticket and
//! marks the slot READY. A worker scans the state words for the READY slot
//! with the lowest ticket and claims it with one CAS that records its
//! participant record and increments the delivery count. `ack` frees the
//! slot; `nack` (or dropping the delivery unsettled) puts it back READY with
//! its ticket (so at the front); `reject` makes it a dead letter.
//!
//! ## Semantics
//! - **One worker at a time**: a READY slot is claimed by exactly one CAS.
//!   A worker holds at most `prefetch` unsettled jobs (`PrefetchFull`).
//! - **At-least-once**: a job leaves the queue only by `ack`. A worker that
//!   dies (SIGKILL included) holding jobs leaves them CLAIMED by its
//!   record; its OFD lock is gone, and the next participant that looks
//!   (a worker about to sleep, at least every [`LIVENESS_SLICE`]; a producer
//!   waiting for room; anyone joining) takes the lock and requeues them.
//!   The next delivery has [`Delivery::redelivered`] `== true` and
//!   [`Delivery::delivery_count`] `> 1`.
//! - **A dropped delivery is requeued** (the safe default): a worker that
//!   returns early with `?` does not lose the job.
//! - **Poison jobs**: a job requeued after `max_deliveries` (default 5)
//!   claims becomes a *dead letter* instead. Dead letters stay in the
//!   queue's file (they take capacity, so a queue full of dead letters
//!   refuses sends with `Full`) until a dead-letter worker
//!   ([`QueueWorkerBuilder::dead_letters`], the queue's `/dead` view)
//!   acknowledges them.
//! - **Bounded**: `capacity` slots (default 1024, fixed by the queue's
//!   creator). A full queue gives [`SendError::Full`], or `send_timeout`
//!   waits for room; never a silent loss.
//! - **Order**: jobs are claimed lowest ticket first; one producer's tickets
//!   follow its sends, so its jobs are claimed in order, except that a
//!   requeued job keeps its old ticket (it comes back at the front), and a
//!   job published while a worker's scan is under way may be claimed just
//!   after a younger one the scan had already seen. Several workers run
//!   their jobs concurrently, so completion order is not FIFO.
//! - **Time to live** (optional): a producer's [`ttl`](QueueProducerBuilder::ttl),
//!   or [`JobLoan::set_ttl`] per job, gives a job an expiry time
//!   (`CLOCK_REALTIME`, so it still means the same after a reboot for a
//!   durable queue; a wall-clock step moves it). An expired job is **never
//!   delivered: it is dropped** (its slot freed) and counted as `expired`
//!   (`axon queue info`), not dead-lettered: a stale job is not a failed one,
//!   and dead letters would keep taking capacity. A worker drops the expired
//!   jobs its scan comes to (claim, see the expiry, free: two CASes, each
//!   one state move); a producer that finds the queue full drops every
//!   expired waiting job first (READY -> FREE, one CAS, as `purge`). A job
//!   already claimed when its time runs out is delivered.
//!
//! ## Bounds
//! Capacity at most 2^20 slots, a slot at most 1 GiB, 64 participant
//! records (producers and workers together), `max_deliveries` at most
//! 127, prefetch at most the capacity. Nothing read from the file sizes an
//! allocation; every index from it is checked; a corrupted slot word is
//! skipped and counted (`corrupt`); a slot whose element count is out of
//! range is counted and moved to the dead letters instead of delivered.
//! A send, claim and settle is a scan of at most `capacity` words and one
//! CAS; a send on a durable queue with `sync(true)` adds one `msync`, shared
//! with the sends of other producers under way (group commit).
//!
//! ## Tools
//! [`list`], [`inspect`] and [`dead_letters`] read a queue file through a
//! read-only mapping: they never join, never reap (a dead worker's jobs
//! stay in flight until a participant notices), never wake anyone.
//! [`purge`] (READY -> FREE) and [`requeue_dead`] (DEAD -> READY, flagged
//! as a redelivery) open the file writable without joining and move only
//! slots that have no owner, one CAS each, which the protocol allows
//! anyone; a worker racing for the same slot fails its CAS and rescans.
//! Each is one pass over the `capacity` slot words. `axon queue` is built
//! on them.
//!
//! ## Durable queues
//! [`QueueProducerBuilder::durable`] puts the queue in a file at the given
//! path (use a real file system, not tmpfs). The file is the queue: there
//! is no log. Every state word is self-describing, so whatever moment the
//! processes die at, reopening finds each slot FREE, being written (freed:
//! it was never sent), READY, claimed (requeued as a redelivery) or dead.
//! With `sync(true)` a send writes the job and its checksum, marks the slot
//! READY (workers may take it at once), then waits for one `msync` of the
//! slot words and slots that began after its READY (group commit: the
//! senders of every producer whose jobs are under way share one; `protocol::commit`),
//! and returns: a job `send` returned for is on disk. A slot whose word
//! reached the disk without its bytes fails its checksum at the claim and
//! is dropped, never delivered (only a send that had not returned can lose
//! its job that way). A `Sync` error means the job is queued but not known
//! to be on disk. Without `sync`, the kernel writes pages back when it
//! likes (a machine crash may lose recent sends, never corrupt older ones
//! beyond that). Settling does not `msync` (a RabbitMQ consumer's ack is
//! not synced either): after a power cut a settled job may be delivered
//! again, flagged as a redelivery if it was claimed in the file
//! (at-least-once).

#[cfg(not(loom))]
mod layout;
#[doc(hidden)]
pub mod protocol;
#[cfg(not(loom))]
mod segment;

#[cfg(not(loom))]
pub use api::*;

#[cfg(not(loom))]
mod api {
    use std::cell::Cell;
    use std::marker::PhantomData;
    use std::ops::{Deref, DerefMut};
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use axon_message::{Message, ViewMeta};
    use zerocopy::KnownLayout;

    use super::layout::{role, QueueConfig};
    use super::protocol::{self, Outcome, Settle, Word};
    use super::segment::QueueFile;
    use crate::names::{NameError, TopicName};
    use crate::publisher::TypeDesc;
    use crate::sync::{fence, Ordering};
    use crate::wake::LIVENESS_SLICE;
    use crate::Node;

    pub use super::layout::{
        QueueConfig as RawQueueConfig, MAX_CAPACITY, MAX_PARTICIPANTS, MAX_SLOT_PAYLOAD,
    };
    pub use super::protocol::MAX_DELIVERIES;

    /// Default queue capacity (job slots).
    pub const DEFAULT_CAPACITY: u32 = 1024;
    /// Default `max_deliveries`.
    pub const DEFAULT_MAX_DELIVERIES: u32 = 5;

    /// Why a queue could not be opened.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum QueueOpenError {
        /// The queue (or node) name is not valid.
        #[error(transparent)]
        InvalidName(#[from] NameError),
        /// The queue exists with another job type.
        #[error("queue {queue} carries {existing}, not {requested}")]
        TypeMismatch {
            /// The queue.
            queue: String,
            /// The type asked for.
            requested: String,
            /// The type it was created with.
            existing: String,
        },
        /// The queue exists with less room than this participant needs.
        #[error("queue {queue} has {what} {available}, this participant needs {requested}")]
        Capacity {
            /// The queue.
            queue: String,
            /// Which capacity.
            what: &'static str,
            /// Asked for.
            requested: u64,
            /// What it has.
            available: u64,
        },
        /// The settings are out of range.
        #[error("invalid queue settings: {0}")]
        InvalidConfig(String),
        /// The file is not a valid queue file (corrupted, truncated, or not
        /// a queue at all). It is left alone: it may hold jobs.
        #[error("{}: not a valid axon queue file ({reason}); left alone (move it away to start afresh)", .path.display())]
        Corrupted {
            /// The file.
            path: PathBuf,
            /// What check failed.
            reason: String,
        },
        /// Made by an incompatible axon.
        #[error("{}: queue file of layout version {found}, this axon reads version {expected}", .path.display())]
        VersionMismatch {
            /// The file.
            path: PathBuf,
            /// Its version.
            found: u32,
            /// Ours.
            expected: u32,
        },
        /// Another user owns the file.
        #[error("{}: owned by uid {uid}; refusing to use another user's queue", .path.display())]
        ForeignOwner {
            /// The file.
            path: PathBuf,
            /// Its owner.
            uid: u32,
        },
        /// Every participant record is taken.
        #[error("queue {queue} already has {max} participants, its maximum")]
        TooManyParticipants {
            /// The queue.
            queue: String,
            /// The maximum.
            max: u32,
        },
        /// Not enough room on the file system.
        #[error("{}: not enough space for a {needed}-byte queue", .dir.display())]
        NoSpace {
            /// The directory.
            dir: PathBuf,
            /// Bytes needed.
            needed: u64,
        },
        /// An operating-system error on the file.
        #[error("{}: {source}", .path.display())]
        Io {
            /// The file.
            path: PathBuf,
            /// The error.
            #[source]
            source: std::io::Error,
        },
    }

    impl QueueOpenError {
        pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
            QueueOpenError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }

    /// Why a send (or loan) failed.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum SendError {
        /// Every slot holds a job (or a dead letter): nothing was sent.
        #[error("queue {queue} is full ({capacity} jobs)")]
        Full {
            /// The queue.
            queue: String,
            /// Its capacity.
            capacity: u32,
        },
        /// Waiting for room timed out.
        #[error("timed out waiting for room in queue {queue}")]
        Timeout {
            /// The queue.
            queue: String,
        },
        /// A slice job longer than the queue allows.
        #[error("job of {requested} elements, queue allows at most {max}")]
        TooLarge {
            /// Asked for.
            requested: usize,
            /// The maximum.
            max: usize,
        },
        /// Shutdown was requested while waiting for room.
        #[error("shutdown requested")]
        Shutdown,
        /// The loaned slot was changed by someone else (a hostile writer):
        /// the job was not sent.
        #[error("queue {queue}: the loaned slot was overwritten by another process; the job was not sent")]
        Lost {
            /// The queue.
            queue: String,
        },
        /// The file was truncated under us; nothing in it can be trusted.
        #[error("queue {queue}: its file was truncated by another process while in use")]
        Truncated {
            /// The queue.
            queue: String,
        },
        /// Writing a durable job to disk failed (the job is queued, but not
        /// known to be on disk).
        #[error("queue {queue}: msync: {source}")]
        Sync {
            /// The queue.
            queue: String,
            /// The error.
            #[source]
            source: std::io::Error,
        },
        /// Raw job bytes that are not a whole job of the queue's type.
        #[error("{len} bytes are not a job of {type_name} with {elems} elements")]
        WrongSize {
            /// The queue's job type.
            type_name: String,
            /// Bytes given.
            len: usize,
            /// Trailing elements given.
            elems: usize,
        },
    }

    /// Why a receive returned no job.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum QueueRecvError {
        /// No job before the deadline.
        #[error("timed out waiting for a job")]
        Timeout,
        /// Shutdown was requested (SIGINT/SIGTERM) while waiting.
        #[error("shutdown requested")]
        Shutdown,
        /// This worker already holds `prefetch` unsettled jobs.
        #[error("worker already holds {prefetch} unsettled jobs (its prefetch): settle one first")]
        PrefetchFull {
            /// The prefetch.
            prefetch: u32,
        },
        /// The file was truncated under us.
        #[error("queue {queue}: its file was truncated by another process while in use")]
        Truncated {
            /// The queue.
            queue: String,
        },
        /// Sleeping failed.
        #[error("waiting failed: {0}")]
        Os(#[from] std::io::Error),
    }

    /// Why settling a delivery failed.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    #[non_exhaustive]
    pub enum SettleError {
        /// The job is no longer this worker's: someone requeued it (only a
        /// process that found this worker's record unlocked, or a hostile
        /// writer, does that). It will be, or was, delivered again.
        #[error("queue {queue}: the job was taken from this worker before it was settled")]
        Lost {
            /// The queue.
            queue: String,
        },
    }

    /// Where a queue lives and how it is made, shared by both builders.
    #[derive(Debug, Clone)]
    struct Common {
        name: String,
        capacity: u32,
        max_deliveries: u32,
        max_len: usize,
        durable: Option<PathBuf>,
    }

    impl Common {
        fn new(name: &str) -> Self {
            Common {
                name: name.to_string(),
                capacity: DEFAULT_CAPACITY,
                max_deliveries: DEFAULT_MAX_DELIVERIES,
                max_len: 0,
                durable: None,
            }
        }

        fn open(&self, node: &Node, desc: &TypeDesc) -> Result<QueueFile, QueueOpenError> {
            let name = node.resolve(&self.name)?;
            let bad = |s: String| QueueOpenError::InvalidConfig(s);
            if !(1..=MAX_CAPACITY).contains(&self.capacity) {
                return Err(bad(format!(
                    "capacity {} not in 1..={MAX_CAPACITY}",
                    self.capacity
                )));
            }
            if !(1..=MAX_DELIVERIES).contains(&self.max_deliveries) {
                return Err(bad(format!(
                    "max_deliveries {} not in 1..={MAX_DELIVERIES}",
                    self.max_deliveries
                )));
            }
            let max_elems = if desc.elem_size == 0 {
                0
            } else {
                self.max_len.max(1) as u64
            };
            let slot_payload = desc
                .elem_size
                .checked_mul(max_elems)
                .and_then(|b| b.checked_add(desc.fixed_size))
                .and_then(|b| b.checked_next_multiple_of(32))
                .filter(|b| *b <= MAX_SLOT_PAYLOAD)
                .ok_or_else(|| {
                    bad(format!(
                        "a job would be larger than {MAX_SLOT_PAYLOAD} bytes"
                    ))
                })?;
            let mut c = QueueConfig {
                type_name: [0; 128],
                queue_name: [0; 256],
                type_name_len: 0,
                queue_name_len: 0,
                fingerprint: desc.fingerprint,
                fixed_size: desc.fixed_size,
                elem_size: desc.elem_size,
                max_elems,
                slot_payload,
                capacity: self.capacity,
                max_participants: MAX_PARTICIPANTS,
                max_deliveries: self.max_deliveries,
                owner_uid: crate::sys::euid(),
                durable: self.durable.is_some() as u32,
                reserved: 0,
            };
            let tn = desc.name.as_bytes();
            if tn.len() > 128 {
                return Err(bad(format!(
                    "type name {:?} is longer than 128 bytes",
                    desc.name
                )));
            }
            c.type_name[..tn.len()].copy_from_slice(tn);
            c.type_name_len = tn.len() as u32;
            let qn = name.as_str().as_bytes();
            c.queue_name[..qn.len()].copy_from_slice(qn);
            c.queue_name_len = qn.len() as u32;
            c.check().map_err(|e| bad(e.to_string()))?;
            let path = match &self.durable {
                Some(p) => p.clone(),
                None => queue_path(node.domain(), &name),
            };
            QueueFile::open_or_create(&path, &c)
        }
    }

    /// The file of transient queue `name` in `domain`:
    /// `<dir>/axonq.u<uid>.d<domain>.<name with / as .>` (a prefix of its
    /// own, so topic tools and `axon clean` never take it for a topic).
    pub fn queue_path(domain: &crate::Domain, name: &TopicName) -> PathBuf {
        domain.dir().join(format!(
            "axonq.u{}.d{}.{}",
            crate::sys::euid(),
            domain.name(),
            name.file_stem()
        ))
    }

    impl Node {
        /// Starts building a producer on work queue `name` (resolved like a
        /// topic name).
        pub fn queue_producer<T: Message + ?Sized>(
            &self,
            name: &str,
        ) -> QueueProducerBuilder<'_, T> {
            QueueProducerBuilder {
                node: self,
                common: Common::new(name),
                sync: false,
                unless_acked: false,
                ttl: None,
                _type: PhantomData,
            }
        }

        /// Starts building a worker on work queue `name`.
        pub fn queue_worker<T: Message + ?Sized>(&self, name: &str) -> QueueWorkerBuilder<'_, T> {
            QueueWorkerBuilder {
                node: self,
                common: Common::new(name),
                prefetch: 1,
                dead: false,
                _type: PhantomData,
            }
        }
    }

    macro_rules! common_setters {
        () => {
            /// Job slots, if this participant creates the queue (default
            /// [`DEFAULT_CAPACITY`]); an existing queue keeps its own.
            pub fn capacity(mut self, n: u32) -> Self {
                self.common.capacity = n;
                self
            }

            /// Claims after which a requeued job becomes a dead letter, if
            /// this participant creates the queue (default 5).
            pub fn max_deliveries(mut self, n: u32) -> Self {
                self.common.max_deliveries = n;
                self
            }

            /// Most trailing elements of a slice job (slice job types).
            pub fn max_len(mut self, n: usize) -> Self {
                self.common.max_len = n;
                self
            }

            /// Keeps the queue in the file at `path` (a real file system, not
            /// tmpfs) instead of shared memory: its jobs survive every
            /// process and a reboot. All participants of a durable queue
            /// name the same path.
            pub fn durable(mut self, path: impl Into<PathBuf>) -> Self {
                self.common.durable = Some(path.into());
                self
            }
        };
    }

    /// Configures a [`QueueProducer`].
    #[derive(Debug)]
    pub struct QueueProducerBuilder<'n, T: ?Sized> {
        node: &'n Node,
        common: Common,
        sync: bool,
        unless_acked: bool,
        ttl: Option<Duration>,
        _type: PhantomData<fn(&T)>,
    }

    impl<T: ?Sized> QueueProducerBuilder<'_, T> {
        common_setters!();

        /// Durable queues: `send` returns only once the job is on disk (one
        /// `msync` after the job is published, shared with concurrent
        /// senders: group commit).
        pub fn sync(mut self, on: bool) -> Self {
            self.sync = on;
            self
        }

        /// Durable queues: like [`sync(true)`](Self::sync), but `send` also
        /// returns once a worker has acknowledged the job, if that happens
        /// within [`ACK_GRACE`] of its publication, and then the job need
        /// not reach the disk (it is done). This is what a RabbitMQ
        /// publisher confirm means for a persistent message: "persisted to
        /// disk, or consumed (acknowledged) on every queue". A job that is
        /// not acknowledged within the grace is written back as with
        /// `sync(true)`, so a send returned for a job that is not done is
        /// on disk. Costs up to `ACK_GRACE` more per send when workers are
        /// slow.
        pub fn sync_unless_acked(mut self, on: bool) -> Self {
            self.sync = on;
            self.unless_acked = on;
            self
        }

        /// Every job this producer sends expires `ttl` after its send (unless
        /// its loan sets another, [`JobLoan::set_ttl`]): not delivered after
        /// that, but dropped and counted as `expired`. Default: never.
        pub fn ttl(mut self, ttl: Duration) -> Self {
            self.ttl = Some(ttl);
            self
        }

        fn create_desc(self, desc: &TypeDesc) -> Result<QueueProducer<T>, QueueOpenError> {
            let q = self.common.open(self.node, desc)?;
            let me = q.join(role::PRODUCER, self.node.name(), 0)?;
            q.reap_dead(
                q.reap_candidates(protocol::scan(q.states(), false).owners),
                Some(me),
            );
            Ok(QueueProducer {
                name: q.config.queue_name(),
                q,
                me,
                cursor: Cell::new(0),
                sync: self.sync && self.common.durable.is_some(),
                unless_acked: self.unless_acked,
                ttl: self.ttl,
                _type: PhantomData,
            })
        }
    }

    /// Configures a [`QueueWorker`].
    #[derive(Debug)]
    pub struct QueueWorkerBuilder<'n, T: ?Sized> {
        node: &'n Node,
        common: Common,
        prefetch: u32,
        dead: bool,
        _type: PhantomData<fn(&T)>,
    }

    impl<T: ?Sized> QueueWorkerBuilder<'_, T> {
        common_setters!();

        /// Most unsettled jobs this worker holds at once (default 1).
        pub fn prefetch(mut self, n: u32) -> Self {
            self.prefetch = n;
            self
        }

        /// Takes the queue's dead letters (its `/dead` view) instead of its
        /// jobs: rejected jobs and jobs delivered `max_deliveries` times.
        /// `ack` removes a dead letter; `nack` or a drop leaves it dead.
        pub fn dead_letters(mut self) -> Self {
            self.dead = true;
            self
        }

        fn create_desc(self, desc: &TypeDesc) -> Result<QueueWorker<T>, QueueOpenError> {
            let q = self.common.open(self.node, desc)?;
            if !(1..=q.config.capacity).contains(&self.prefetch) {
                return Err(QueueOpenError::InvalidConfig(format!(
                    "prefetch {} not in 1..={} (the queue's capacity)",
                    self.prefetch, q.config.capacity
                )));
            }
            let r = if self.dead {
                role::DEAD_LETTER_WORKER
            } else {
                role::WORKER
            };
            let me = q.join(r, self.node.name(), self.prefetch)?;
            q.reap_dead(
                q.reap_candidates(protocol::scan(q.states(), false).owners),
                Some(me),
            );
            Ok(QueueWorker {
                name: q.config.queue_name(),
                q,
                me,
                dead: self.dead,
                prefetch: self.prefetch,
                held: Cell::new(0),
                _type: PhantomData,
            })
        }
    }

    /// Sends jobs to a work queue. Not `Sync` (one thread at a time).
    #[derive(Debug)]
    pub struct QueueProducer<T: ?Sized> {
        q: QueueFile,
        me: u32,
        name: String,
        cursor: Cell<usize>,
        sync: bool,
        unless_acked: bool,
        ttl: Option<Duration>,
        _type: PhantomData<fn(&T)>,
    }

    impl<T: ?Sized> Drop for QueueProducer<T> {
        fn drop(&mut self) {
            self.q.leave(self.me);
        }
    }

    /// How long a [`sync_unless_acked`](QueueProducerBuilder::sync_unless_acked)
    /// send waits for a worker's ack before it writes the job to disk.
    pub const ACK_GRACE: Duration = Duration::from_millis(2);

    /// How long to wait for room or a job.
    fn deadline(timeout: Option<Duration>) -> u64 {
        match timeout {
            Some(t) => {
                crate::sys::monotonic_ns().saturating_add(t.as_nanos().min(u64::MAX as u128) as u64)
            }
            None => u64::MAX,
        }
    }

    impl<T: ?Sized> QueueProducer<T> {
        /// The queue's name.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// Job slots.
        pub fn capacity(&self) -> u32 {
            self.q.config.capacity
        }

        /// Jobs in the queue now (READY, claimed or dead; a snapshot).
        pub fn len(&self) -> usize {
            queue_len(&self.q)
        }

        /// Whether the queue holds no job.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        fn try_begin(&self) -> Option<(usize, u64)> {
            let states = self.q.states();
            let n = states.len();
            let start = self.cursor.get() % n;
            for k in 0..n {
                let i = (start + k) % n;
                let seen = states[i].load(Ordering::Relaxed);
                if Word::unpack(seen).state != protocol::FREE {
                    continue;
                }
                if let Some(w) = protocol::begin_write(&states[i], seen, self.me) {
                    self.cursor.set(i + 1);
                    return Some((i, w));
                }
            }
            None
        }

        fn loan_elems(
            &self,
            elems: usize,
            timeout: Option<Option<Duration>>,
        ) -> Result<JobLoan<'_, T>, SendError> {
            let max = self.q.config.max_elems as usize;
            if elems > max {
                return Err(SendError::TooLarge {
                    requested: elems,
                    max,
                });
            }
            let truncated = || SendError::Truncated {
                queue: self.name.clone(),
            };
            if self.q.poisoned() {
                return Err(truncated());
            }
            if let Some((slot, word)) = self.try_begin() {
                return Ok(JobLoan {
                    p: self,
                    slot,
                    word,
                    elems,
                    ttl: self.ttl,
                    done: false,
                });
            }
            let Some(timeout) = timeout else {
                // Room held by a dead producer's unsent loans, or by
                // expired jobs, comes back now.
                self.q.reap_dead(self.q.reap_candidates(0), Some(self.me));
                drop_expired(&self.q);
                if let Some((slot, word)) = self.try_begin() {
                    return Ok(JobLoan {
                        p: self,
                        slot,
                        word,
                        elems,
                        ttl: self.ttl,
                        done: false,
                    });
                }
                self.q.shared().full.fetch_add(1, Ordering::Relaxed);
                return Err(SendError::Full {
                    queue: self.name.clone(),
                    capacity: self.capacity(),
                });
            };
            let until = deadline(timeout);
            let sh = self.q.shared();
            let bit = 1u64 << self.me;
            loop {
                let token = sh.free_word.load(Ordering::Acquire);
                let sd = crate::shutdown::token();
                sh.free_sleepers.fetch_or(bit, Ordering::Release);
                // SYNC POINT W (waiter side).
                fence(Ordering::SeqCst);
                let got = self.try_begin();
                if got.is_none() {
                    self.q.reap_dead(self.q.reap_candidates(0), Some(self.me));
                    drop_expired(&self.q);
                }
                let got = got.or_else(|| self.try_begin());
                let now = crate::sys::monotonic_ns();
                if got.is_none() && now < until && !crate::shutdown::requested() {
                    let slice = now.saturating_add(LIVENESS_SLICE.as_nanos() as u64);
                    let words = [
                        crate::wake::Word {
                            word: &sh.free_word,
                            expected: token,
                            private: false,
                        },
                        crate::wake::Word {
                            word: crate::shutdown::word(),
                            expected: sd,
                            private: true,
                        },
                    ];
                    let _ = crate::wake::wait_any(&words, until.min(slice));
                }
                sh.free_sleepers.fetch_and(!bit, Ordering::Release);
                if let Some((slot, word)) = got.or_else(|| self.try_begin()) {
                    return Ok(JobLoan {
                        p: self,
                        slot,
                        word,
                        elems,
                        ttl: self.ttl,
                        done: false,
                    });
                }
                if self.q.poisoned() {
                    return Err(truncated());
                }
                if crate::shutdown::requested() {
                    return Err(SendError::Shutdown);
                }
                if crate::sys::monotonic_ns() >= until {
                    self.q.shared().full.fetch_add(1, Ordering::Relaxed);
                    return Err(SendError::Timeout {
                        queue: self.name.clone(),
                    });
                }
            }
        }

        fn publish(
            &self,
            slot: usize,
            word: u64,
            elems: usize,
            ttl: Option<Duration>,
        ) -> Result<(), SendError> {
            let meta = self.q.meta(slot);
            meta.elems.store(elems as u64, Ordering::Relaxed);
            let expires = ttl.map_or(0, |t| {
                wall_ns()
                    .saturating_add(t.as_nanos().min(u64::MAX as u128) as u64)
                    .max(1)
            });
            meta.expires_ns.store(expires, Ordering::Relaxed);
            let sh = self.q.shared();
            let ticket = sh.tail.fetch_add(1, Ordering::Relaxed) & protocol::TICKET_MASK;
            if self.q.config.durable == 1 {
                let check = job_check(&self.q, slot, elems, ticket, expires);
                meta.check.store(check, Ordering::Relaxed);
            }
            meta.stamp_ns
                .store(crate::sys::monotonic_ns(), Ordering::Relaxed);
            // SYNC POINT P (Release inside): the payload before READY.
            if !protocol::publish(&self.q.states()[slot], word, ticket) {
                sh.corrupt.fetch_add(1, Ordering::Relaxed);
                return Err(SendError::Lost {
                    queue: self.name.clone(),
                });
            }
            sh.sent.fetch_add(1, Ordering::Relaxed);
            self.q
                .record(self.me as usize)
                .done
                .fetch_add(1, Ordering::Relaxed);
            // Workers may take the job now, before it is on disk (one
            // finished before a power cut needs no disk).
            self.q.notify_ready();
            if self.sync && !(self.unless_acked && self.acked_within_grace(slot, ticket)) {
                // Slot and word on disk (group commit) before `send` returns;
                // ARCHITECTURE.md "Durability" has the ordering.
                self.q.commit(self.me).map_err(|source| SendError::Sync {
                    queue: self.name.clone(),
                    source,
                })?;
            }
            if self.q.poisoned() {
                return Err(SendError::Truncated {
                    queue: self.name.clone(),
                });
            }
            Ok(())
        }

        /// `sync_unless_acked`: whether the job `ticket` in `slot` left the
        /// queue by an ack (its slot FREE or holding another ticket) within
        /// [`ACK_GRACE`]. Sleeps on `free_word` (which an ack bumps when a
        /// bit is set in `free_sleepers`) with the usual handshake.
        fn acked_within_grace(&self, slot: usize, ticket: u64) -> bool {
            let sh = self.q.shared();
            let word = &self.q.states()[slot];
            let gone = || {
                let w = Word::unpack(word.load(Ordering::Acquire));
                w.state == protocol::FREE || w.ticket != ticket
            };
            let until = crate::sys::monotonic_ns().saturating_add(ACK_GRACE.as_nanos() as u64);
            let bit = 1u64 << self.me;
            loop {
                let token = sh.free_word.load(Ordering::Acquire);
                sh.free_sleepers.fetch_or(bit, Ordering::Release);
                // SYNC POINT W (waiter side).
                fence(Ordering::SeqCst);
                if gone() || crate::sys::monotonic_ns() >= until {
                    sh.free_sleepers.fetch_and(!bit, Ordering::Release);
                    return gone();
                }
                let words = [crate::wake::Word {
                    word: &sh.free_word,
                    expected: token,
                    private: false,
                }];
                let _ = crate::wake::wait_any(&words, until);
                sh.free_sleepers.fetch_and(!bit, Ordering::Release);
            }
        }

        /// Loans a free slot to write a job in place; `Full` if none.
        pub fn loan(&self) -> Result<JobLoan<'_, T>, SendError> {
            self.loan_elems(0, None)
        }

        /// Loans a free slot, waiting up to `timeout` for one.
        pub fn loan_timeout(&self, timeout: Duration) -> Result<JobLoan<'_, T>, SendError> {
            self.loan_elems(0, Some(Some(timeout)))
        }
    }

    impl<T: Message + zerocopy::IntoBytes> QueueProducer<T> {
        /// Copies `job` into a free slot and queues it; `Full` if there is
        /// no free slot.
        pub fn send(&self, job: &T) -> Result<(), SendError> {
            let mut loan = self.loan()?;
            let b = zerocopy::IntoBytes::as_bytes(job);
            loan.bytes_mut()[..b.len()].copy_from_slice(b);
            loan.send()
        }

        /// Like [`send`](Self::send), waiting up to `timeout` for room
        /// (`None`: until there is room or shutdown is requested).
        pub fn send_timeout(&self, job: &T, timeout: Option<Duration>) -> Result<(), SendError> {
            let mut loan = self.loan_elems(0, Some(timeout))?;
            let b = zerocopy::IntoBytes::as_bytes(job);
            loan.bytes_mut()[..b.len()].copy_from_slice(b);
            loan.send()
        }
    }

    impl<T> QueueProducer<T>
    where
        T: Message + ?Sized + KnownLayout<PointerMetadata = usize>,
    {
        /// Loans a slot for a slice job with `len` trailing elements.
        pub fn loan_slice(&self, len: usize) -> Result<JobLoan<'_, T>, SendError> {
            self.loan_elems(len, None)
        }

        /// Like [`loan_slice`](Self::loan_slice), waiting up to `timeout` for room.
        pub fn loan_slice_timeout(
            &self,
            len: usize,
            timeout: Option<Duration>,
        ) -> Result<JobLoan<'_, T>, SendError> {
            self.loan_elems(len, Some(timeout))
        }
    }

    /// Now, `CLOCK_REALTIME` in ns since the Unix epoch (job expiry).
    fn wall_ns() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64)
    }

    /// The checksum of a durable job ([`SlotMeta::check`](super::layout::SlotMeta)):
    /// ticket, elements, expiry and the job's payload bytes. One pass over
    /// the payload (FNV-1a, about a byte per ns): durable queues only.
    fn job_check(q: &QueueFile, slot: usize, elems: usize, ticket: u64, expires: u64) -> u64 {
        let len = q
            .config
            .payload_len(elems)
            .min(q.config.slot_payload as usize);
        // SAFETY: (1) slot `slot`'s payload has `slot_payload >= len` bytes
        // inside the mapping (`QueueFile::payload_ptr`); (2) the caller
        // writes (WRITING) or holds (CLAIMED) the slot, so no producer or
        // worker writes it meanwhile; a hostile process may, which changes
        // bytes (and so the checksum), never validity of a `u8` read.
        let bytes = unsafe { std::slice::from_raw_parts(q.payload_ptr(slot), len) };
        axon_message::Fingerprint::new()
            .u64(ticket)
            .u64(elems as u64)
            .u64(expires)
            .bytes(bytes)
            .finish()
    }

    fn expired(expires_ns: u64, now: u64) -> bool {
        expires_ns != 0 && now >= expires_ns
    }

    /// Drops every waiting job whose time to live ran out (READY -> FREE,
    /// one CAS each, as `purge`: a READY slot has no owner; the expiry is
    /// read after the word, and a READY slot's meta does not change while
    /// it stays READY; tickets never repeat, so the CAS frees the very job
    /// whose expiry was read). Returns how many; wakes producers waiting
    /// for room.
    fn drop_expired(q: &QueueFile) -> usize {
        let now = wall_ns();
        let mut n = 0;
        for (i, s) in q.states().iter().enumerate() {
            let seen = s.load(Ordering::Acquire);
            if Word::unpack(seen).state != protocol::READY
                || !expired(q.meta(i).expires_ns.load(Ordering::Relaxed), now)
            {
                continue;
            }
            if protocol::purge(s, seen) {
                n += 1;
            }
        }
        if n > 0 {
            q.shared().expired.fetch_add(n as u64, Ordering::Relaxed);
            q.notify_free();
        }
        n
    }

    fn queue_len(q: &QueueFile) -> usize {
        q.states()
            .iter()
            .filter(|s| {
                let st = Word::unpack(s.load(Ordering::Relaxed)).state;
                st != protocol::FREE && st != protocol::WRITING
            })
            .count()
    }

    /// A job being written in place. `send` queues it; dropping it gives the
    /// slot back unsent.
    #[derive(Debug)]
    pub struct JobLoan<'a, T: ?Sized> {
        p: &'a QueueProducer<T>,
        slot: usize,
        word: u64,
        elems: usize,
        ttl: Option<Duration>,
        done: bool,
    }

    impl<T: ?Sized> JobLoan<'_, T> {
        /// This job's time to live from its send (`None`: it never
        /// expires); replaces the producer's [`ttl`](QueueProducerBuilder::ttl).
        pub fn set_ttl(&mut self, ttl: Option<Duration>) {
            self.ttl = ttl;
        }

        fn bytes_mut(&mut self) -> &mut [u8] {
            let len = self.p.q.config.view_len(self.elems);
            // SAFETY: (1) the payload of slot `self.slot` has `slot_payload
            // >= len` bytes inside the mapping (`QueueFile::payload_ptr`);
            // (2) the slot is WRITING with our record as owner, so no worker
            // reads it and no other producer takes it until we publish or
            // abandon it; a hostile same-user process may still write it,
            // which changes bytes, never validity (`T: FromBytes`); (3) the
            // borrow of `self` makes this the only view.
            unsafe { std::slice::from_raw_parts_mut(self.p.q.payload_ptr(self.slot), len) }
        }

        /// Queues the job.
        pub fn send(mut self) -> Result<(), SendError> {
            self.done = true;
            self.p.publish(self.slot, self.word, self.elems, self.ttl)
        }
    }

    impl<T: Message + ?Sized> Deref for JobLoan<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            let len = self.p.q.config.view_len(self.elems);
            // SAFETY: as in `bytes_mut`, a shared view for `&self`.
            let bytes = unsafe { std::slice::from_raw_parts(self.p.q.payload_ptr(self.slot), len) };
            <T::PointerMetadata as ViewMeta>::view::<T>(bytes, self.elems)
                .expect("slot payload is 32-aligned and sized for the job at creation")
        }
    }

    impl<T: Message + ?Sized> DerefMut for JobLoan<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            let elems = self.elems;
            axon_message::view_mut::<T>(self.bytes_mut(), elems)
                .expect("slot payload is 32-aligned and sized for the job at creation")
        }
    }

    impl<T: ?Sized> Drop for JobLoan<'_, T> {
        fn drop(&mut self) {
            if !self.done && protocol::abandon_write(&self.p.q.states()[self.slot], self.word) {
                self.p.q.notify_free();
            }
        }
    }

    /// Takes jobs from a work queue. Not `Sync` (one thread at a time).
    #[derive(Debug)]
    pub struct QueueWorker<T: ?Sized> {
        q: QueueFile,
        me: u32,
        name: String,
        dead: bool,
        prefetch: u32,
        held: Cell<u32>,
        _type: PhantomData<fn(&T)>,
    }

    impl<T: ?Sized> Drop for QueueWorker<T> {
        fn drop(&mut self) {
            self.q.leave(self.me);
        }
    }

    impl<T: ?Sized> QueueWorker<T> {
        /// The queue's name.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// Jobs in the queue now (READY, claimed or dead; a snapshot).
        pub fn len(&self) -> usize {
            queue_len(&self.q)
        }

        /// Whether the queue holds no job.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// Takes the oldest waiting job, if any, without waiting.
        pub fn try_recv(&self) -> Result<Option<Delivery<'_, T>>, QueueRecvError> {
            if self.q.poisoned() {
                return Err(QueueRecvError::Truncated {
                    queue: self.name.clone(),
                });
            }
            if self.held.get() >= self.prefetch {
                return Err(QueueRecvError::PrefetchFull {
                    prefetch: self.prefetch,
                });
            }
            let states = self.q.states();
            let sh = self.q.shared();
            // Each failed claim is another worker's success (or a hostile
            // writer's): bounded, so a writer flipping words cannot hold us.
            for _ in 0..1024 {
                let sc = protocol::scan(states, self.dead);
                if sc.corrupt > 0 {
                    sh.corrupt.fetch_add(sc.corrupt as u64, Ordering::Relaxed);
                }
                let Some((i, seen)) = sc.best else {
                    return Ok(None);
                };
                let Some(held) = protocol::claim(&states[i], seen, self.me, self.dead) else {
                    continue;
                };
                let elems = self.q.meta(i).elems.load(Ordering::Relaxed);
                let c = &self.q.config;
                if elems > c.max_elems || (c.elem_size == 0 && elems != 0) {
                    // A job nobody can read: counted and moved out of the way.
                    sh.corrupt.fetch_add(1, Ordering::Relaxed);
                    if protocol::settle(&states[i], held, Settle::Reject, c.max_deliveries)
                        .is_some()
                    {
                        sh.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                let m = self.q.meta(i);
                if c.durable == 1
                    && m.check.load(Ordering::Relaxed)
                        != job_check(
                            &self.q,
                            i,
                            elems as usize,
                            Word::unpack(held).ticket,
                            m.expires_ns.load(Ordering::Relaxed),
                        )
                {
                    // Not the job its word names (torn by a power cut or a
                    // copy, or scribbled on): dropped, counted, never delivered.
                    sh.corrupt.fetch_add(1, Ordering::Relaxed);
                    if protocol::settle(&states[i], held, Settle::Ack, c.max_deliveries).is_some() {
                        self.q.notify_free();
                    }
                    continue;
                }
                if !self.dead
                    && expired(self.q.meta(i).expires_ns.load(Ordering::Relaxed), wall_ns())
                {
                    // Not delivered: dropped (CLAIMED -> FREE) and counted.
                    if protocol::settle(&states[i], held, Settle::Ack, c.max_deliveries).is_some() {
                        sh.expired.fetch_add(1, Ordering::Relaxed);
                        self.q.notify_free();
                    }
                    continue;
                }
                self.held.set(self.held.get() + 1);
                self.q
                    .record(self.me as usize)
                    .in_flight
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(Some(Delivery {
                    w: self,
                    slot: i,
                    word: held,
                    elems: elems as usize,
                    settled: false,
                }));
            }
            Ok(None)
        }

        /// Waits for a job (until shutdown is requested).
        pub fn recv(&self) -> Result<Delivery<'_, T>, QueueRecvError> {
            self.recv_until(u64::MAX)
        }

        /// Waits up to `timeout` for a job.
        pub fn recv_timeout(&self, timeout: Duration) -> Result<Delivery<'_, T>, QueueRecvError> {
            self.recv_until(deadline(Some(timeout)))
        }

        fn recv_until(&self, until: u64) -> Result<Delivery<'_, T>, QueueRecvError> {
            let sh = self.q.shared();
            let bit = 1u64 << self.me;
            let mut next_reap = 0u64;
            loop {
                if let Some(d) = self.try_recv()? {
                    return Ok(d);
                }
                let token = sh.ready_word.load(Ordering::Acquire);
                let sd = crate::shutdown::token();
                sh.ready_sleepers.fetch_or(bit, Ordering::Release);
                // SYNC POINT W (waiter side): pairs with `notify_ready`.
                fence(Ordering::SeqCst);
                let found = self.try_recv();
                if !matches!(found, Ok(None)) {
                    sh.ready_sleepers.fetch_and(!bit, Ordering::Release);
                    return found.map(|d| d.expect("matched Some"));
                }
                let now = crate::sys::monotonic_ns();
                if now >= next_reap {
                    // Jobs of dead workers come back (then re-poll at once).
                    next_reap = now.saturating_add(LIVENESS_SLICE.as_nanos() as u64);
                    let owners = protocol::scan(self.q.states(), false).owners;
                    if self
                        .q
                        .reap_dead(self.q.reap_candidates(owners), Some(self.me))
                        > 0
                    {
                        sh.ready_sleepers.fetch_and(!bit, Ordering::Release);
                        continue;
                    }
                }
                if now < until && !crate::shutdown::requested() {
                    let words = [
                        crate::wake::Word {
                            word: &sh.ready_word,
                            expected: token,
                            private: false,
                        },
                        crate::wake::Word {
                            word: crate::shutdown::word(),
                            expected: sd,
                            private: true,
                        },
                    ];
                    crate::wake::wait_any(&words, until.min(next_reap))?;
                }
                sh.ready_sleepers.fetch_and(!bit, Ordering::Release);
                if crate::shutdown::requested() {
                    return Err(QueueRecvError::Shutdown);
                }
                if crate::sys::monotonic_ns() >= until {
                    return match self.try_recv()? {
                        Some(d) => Ok(d),
                        None => Err(QueueRecvError::Timeout),
                    };
                }
            }
        }

        fn settle(&self, slot: usize, word: u64, how: Settle) -> Result<Outcome, SettleError> {
            self.held.set(self.held.get().saturating_sub(1));
            let rec = self.q.record(self.me as usize);
            rec.in_flight.fetch_sub(1, Ordering::Relaxed);
            let sh = self.q.shared();
            let Some(out) = protocol::settle(
                &self.q.states()[slot],
                word,
                how,
                self.q.config.max_deliveries,
            ) else {
                return Err(SettleError::Lost {
                    queue: self.name.clone(),
                });
            };
            match out {
                Outcome::Freed => {
                    sh.acked.fetch_add(1, Ordering::Relaxed);
                    rec.done.fetch_add(1, Ordering::Relaxed);
                    self.q.notify_free();
                }
                Outcome::Requeued => {
                    sh.requeued.fetch_add(1, Ordering::Relaxed);
                    self.q.notify_ready();
                }
                Outcome::DeadLettered => {
                    if !self.dead {
                        sh.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    }
                    self.q.notify_ready();
                }
            }
            Ok(out)
        }
    }

    /// What a wait set needs of a worker (`waitset.rs`): its queue's ready
    /// word, its sleeper bit, whether a job is waiting for it.
    #[derive(Clone, Copy)]
    pub(crate) struct QueueWait<'a> {
        q: &'a QueueFile,
        me: u32,
        dead: bool,
        held: &'a Cell<u32>,
        prefetch: u32,
    }

    impl<'a> QueueWait<'a> {
        /// A job (or dead letter) is waiting and this worker may take it.
        pub fn pending(&self) -> bool {
            !self.q.poisoned()
                && self.held.get() < self.prefetch
                && protocol::scan(self.q.states(), self.dead).best.is_some()
        }

        /// The word to sleep on.
        pub fn word(&self) -> &'a crate::sync::AtomicU32 {
            &self.q.shared().ready_word
        }

        /// Sets the sleeper bit (then the caller fences and re-checks).
        pub fn announce(&self) {
            self.q
                .shared()
                .ready_sleepers
                .fetch_or(1 << self.me, Ordering::Release);
            // SYNC POINT W (waiter side).
            fence(Ordering::SeqCst);
        }

        /// Clears the sleeper bit.
        pub fn retract(&self) {
            self.q
                .shared()
                .ready_sleepers
                .fetch_and(!(1 << self.me), Ordering::Release);
        }

        /// Requeues the jobs of dead participants (once per liveness slice).
        pub fn reap(&self) {
            let owners = protocol::scan(self.q.states(), false).owners;
            self.q
                .reap_dead(self.q.reap_candidates(owners), Some(self.me));
        }
    }

    impl<T: Message + ?Sized> QueueWorker<T> {
        pub(crate) fn wait_handle(&self) -> QueueWait<'_> {
            QueueWait {
                q: &self.q,
                me: self.me,
                dead: self.dead,
                held: &self.held,
                prefetch: self.prefetch,
            }
        }
    }

    /// A job this worker holds, read where it lies in shared memory.
    /// Settle it with [`ack`](Self::ack), [`nack`](Self::nack) or
    /// [`reject`](Self::reject); **dropped unsettled, it is requeued** (as
    /// `nack`), so a worker that bails out early never loses a job.
    #[derive(Debug)]
    pub struct Delivery<'a, T: ?Sized> {
        w: &'a QueueWorker<T>,
        slot: usize,
        word: u64,
        elems: usize,
        settled: bool,
    }

    impl<T: ?Sized> Delivery<'_, T> {
        /// Whether an earlier delivery of this job was not acknowledged (its
        /// worker nacked it, dropped it or died): the job may have been
        /// partly done before.
        pub fn redelivered(&self) -> bool {
            self.delivery_count() > 1
        }

        /// How many times this job has been delivered, this time included.
        pub fn delivery_count(&self) -> u32 {
            Word::unpack(self.word).deliveries
        }

        /// The job's ticket (its place in the queue; unique per queue).
        pub fn ticket(&self) -> u64 {
            Word::unpack(self.word).ticket
        }

        /// When the job was sent (`CLOCK_MONOTONIC`, ns; as written by its producer).
        pub fn sent_ns(&self) -> u64 {
            self.w.q.meta(self.slot).stamp_ns.load(Ordering::Relaxed)
        }

        fn finish(mut self, how: Settle) -> Result<Outcome, SettleError> {
            self.settled = true;
            self.w.settle(self.slot, self.word, how)
        }

        /// Done: the job leaves the queue.
        pub fn ack(self) -> Result<(), SettleError> {
            self.finish(Settle::Ack).map(|_| ())
        }

        /// Not done: back to the front of the queue for any worker, or to
        /// the dead letters once delivered `max_deliveries` times. Returns
        /// whether it went to the dead letters.
        pub fn nack(self) -> Result<bool, SettleError> {
            self.finish(Settle::Requeue)
                .map(|o| o == Outcome::DeadLettered)
        }

        /// Never doable: to the dead letters.
        pub fn reject(self) -> Result<(), SettleError> {
            self.finish(Settle::Reject).map(|_| ())
        }
    }

    impl<T: Message + ?Sized> Deref for Delivery<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            let len = self.w.q.config.view_len(self.elems);
            // SAFETY: (1) slot `self.slot`'s payload has `slot_payload >=
            // len` bytes inside the mapping (`QueueFile::payload_ptr`; `elems`
            // was checked against `max_elems` at claim); (2) the slot is
            // CLAIMED by our record, so no producer writes it until we
            // settle it, which consumes the delivery (a hostile process may
            // write it: any bytes are a valid `T: FromBytes`).
            let bytes = unsafe { std::slice::from_raw_parts(self.w.q.payload_ptr(self.slot), len) };
            <T::PointerMetadata as ViewMeta>::view::<T>(bytes, self.elems)
                .expect("slot payload is 32-aligned and sized for the job at creation")
        }
    }

    impl<T: ?Sized> Drop for Delivery<'_, T> {
        fn drop(&mut self) {
            if !self.settled {
                let _ = self.w.settle(self.slot, self.word, Settle::Requeue);
            }
        }
    }

    impl<T: Message + ?Sized> QueueProducerBuilder<'_, T> {
        /// Opens (or creates) the queue and claims a producer record.
        pub fn create(self) -> Result<QueueProducer<T>, QueueOpenError> {
            self.create_desc(&TypeDesc::of::<T>())
        }
    }

    impl<T: Message + ?Sized> QueueWorkerBuilder<'_, T> {
        /// Opens (or creates) the queue and claims a worker record.
        pub fn create(self) -> Result<QueueWorker<T>, QueueOpenError> {
            self.create_desc(&TypeDesc::of::<T>())
        }
    }

    // ---------------------------------------------- description-typed (raw)

    /// The job type of a queue opened with a type known only at run time
    /// (a binding's): [`RawQueueProducer`], [`RawQueueWorker`]. Jobs are
    /// bytes; the type is checked against the queue's (name, fingerprint,
    /// sizes) when it is opened, as for a typed participant.
    #[derive(Debug)]
    pub enum Untyped {}
    /// A producer of a run-time type ([`Node::raw_queue_producer`]).
    pub type RawQueueProducer = QueueProducer<Untyped>;
    /// A worker of a run-time type ([`Node::raw_queue_worker`]).
    pub type RawQueueWorker = QueueWorker<Untyped>;

    impl Node {
        /// Starts building a producer of a type known at run time; open it
        /// with [`QueueProducerBuilder::create_raw`].
        pub fn raw_queue_producer(&self, name: &str) -> QueueProducerBuilder<'_, Untyped> {
            self.queue_producer_untyped(name)
        }

        /// Starts building a worker of a type known at run time; open it
        /// with [`QueueWorkerBuilder::create_raw`].
        pub fn raw_queue_worker(&self, name: &str) -> QueueWorkerBuilder<'_, Untyped> {
            QueueWorkerBuilder {
                node: self,
                common: Common::new(name),
                prefetch: 1,
                dead: false,
                _type: PhantomData,
            }
        }

        fn queue_producer_untyped(&self, name: &str) -> QueueProducerBuilder<'_, Untyped> {
            QueueProducerBuilder {
                node: self,
                common: Common::new(name),
                sync: false,
                unless_acked: false,
                ttl: None,
                _type: PhantomData,
            }
        }
    }

    impl QueueProducerBuilder<'_, Untyped> {
        /// Opens (or creates) the queue for jobs of type `desc`.
        pub fn create_raw(self, desc: &TypeDesc) -> Result<RawQueueProducer, QueueOpenError> {
            self.create_desc(desc)
        }
    }

    impl QueueWorkerBuilder<'_, Untyped> {
        /// Opens (or creates) the queue for jobs of type `desc`.
        pub fn create_raw(self, desc: &TypeDesc) -> Result<RawQueueWorker, QueueOpenError> {
            self.create_desc(desc)
        }
    }

    impl<T: ?Sized> QueueProducer<T> {
        /// Most trailing elements of a job.
        pub fn max_len(&self) -> usize {
            self.q.config.max_elems as usize
        }

        /// Copies `bytes` (a whole job with `elems` trailing elements) into
        /// a free slot and queues it, waiting up to `timeout` for room
        /// (`None`: not at all, `Full` at once).
        pub fn send_bytes(
            &self,
            bytes: &[u8],
            elems: usize,
            timeout: Option<Duration>,
        ) -> Result<(), SendError> {
            let c = &self.q.config;
            let want = c
                .elem_size
                .checked_mul(elems as u64)
                .and_then(|b| b.checked_add(c.fixed_size));
            if elems <= c.max_elems as usize && want != Some(bytes.len() as u64) {
                return Err(SendError::WrongSize {
                    type_name: c.type_name(),
                    len: bytes.len(),
                    elems,
                });
            }
            let mut loan = self.loan_elems(elems, timeout.map(Some))?;
            loan.bytes_mut()[..bytes.len()].copy_from_slice(bytes);
            loan.send()
        }
    }

    /// A delivery detached from its worker's borrow ([`Delivery::detach`]),
    /// for bindings that keep it in an object of their own: settle it with
    /// [`QueueWorker::settle_held`] on the worker that received it. Dropped
    /// unsettled, it stays claimed until its worker leaves (then it is
    /// requeued as a dead worker's job would be): settle or requeue it.
    #[derive(Debug)]
    pub struct HeldDelivery {
        slot: usize,
        word: u64,
        elems: usize,
    }

    /// How to settle a [`HeldDelivery`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Settlement {
        /// As [`Delivery::ack`].
        Ack,
        /// As [`Delivery::nack`] (also what dropping a delivery does).
        Nack,
        /// As [`Delivery::reject`].
        Reject,
    }

    impl HeldDelivery {
        /// As [`Delivery::delivery_count`].
        pub fn delivery_count(&self) -> u32 {
            Word::unpack(self.word).deliveries
        }
        /// As [`Delivery::redelivered`].
        pub fn redelivered(&self) -> bool {
            self.delivery_count() > 1
        }
        /// Trailing elements of the job.
        pub fn elems(&self) -> usize {
            self.elems
        }
    }

    impl<T: ?Sized> Delivery<'_, T> {
        /// The job's bytes where they lie in the slot.
        pub fn bytes(&self) -> &[u8] {
            self.w.held_bytes(self.slot, self.elems)
        }

        /// Detaches the delivery from the worker's borrow; it stays claimed
        /// (and counted against the prefetch) until settled.
        pub fn detach(mut self) -> HeldDelivery {
            self.settled = true;
            HeldDelivery {
                slot: self.slot,
                word: self.word,
                elems: self.elems,
            }
        }
    }

    impl<T: ?Sized> QueueWorker<T> {
        fn held_bytes(&self, slot: usize, elems: usize) -> &[u8] {
            // The job's own bytes, not the typed view's padding to 32.
            let len = self.q.config.payload_len(elems);
            // SAFETY: as in `Delivery::deref`: (1) the payload of `slot` has
            // `slot_payload >= view_len >= len` bytes inside the mapping (`elems` was
            // checked against `max_elems` at claim); (2) the slot is CLAIMED
            // by this worker's record, so no producer writes it until it is
            // settled (callers hold a delivery of it); a hostile process may
            // change the bytes, never their validity as bytes.
            unsafe { std::slice::from_raw_parts(self.q.payload_ptr(slot), len) }
        }

        /// The bytes of a held delivery (a delivery of this worker).
        pub fn held_delivery_bytes(&self, held: &HeldDelivery) -> &[u8] {
            self.held_bytes(held.slot, held.elems)
        }

        /// Settles a held delivery of this worker; returns whether it went
        /// to the dead letters. A delivery of another worker is refused by
        /// its state word ([`SettleError::Lost`]), never settled twice.
        pub fn settle_held(
            &self,
            held: HeldDelivery,
            how: Settlement,
        ) -> Result<bool, SettleError> {
            let how = match how {
                Settlement::Ack => Settle::Ack,
                Settlement::Nack => Settle::Requeue,
                Settlement::Reject => Settle::Reject,
            };
            self.settle(held.slot, held.word, how)
                .map(|o| o == Outcome::DeadLettered)
        }
    }

    /// Read-only look at a queue, for tools and tests.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct QueueInfo {
        /// The queue's name.
        pub name: String,
        /// Job type.
        pub type_name: String,
        /// Slots.
        pub capacity: u32,
        /// `max_deliveries`.
        pub max_deliveries: u32,
        /// Jobs waiting.
        pub ready: usize,
        /// Jobs held by workers.
        pub claimed: usize,
        /// Dead letters.
        pub dead: usize,
        /// Counters: sent, acked, requeued, dead-lettered, full, corrupt.
        pub sent: u64,
        /// Acknowledged. Counted just after the job's slot is freed, so a
        /// worker killed between the two leaves it one short (statistics:
        /// the slot states are what delivery relies on).
        pub acked: u64,
        /// Requeued.
        pub requeued: u64,
        /// Moved to dead letters.
        pub dead_lettered: u64,
        /// Refused sends.
        pub full: u64,
        /// Corruption seen.
        pub corrupt: u64,
        /// Dropped undelivered because their time to live ran out.
        pub expired: u64,
        /// Durable queues: write-backs begun by `sync(true)` sends (group
        /// commit: fewer than such sends when they overlapped).
        pub syncs: u64,
        /// Live participants: (record, role, pid, node, in flight).
        pub participants: Vec<(u32, u32, u32, String, u64)>,
    }

    /// Inspects the queue file at `path` (never joins, never writes).
    pub fn inspect(path: &Path) -> Result<QueueInfo, QueueOpenError> {
        let q = QueueFile::open_existing(path, false)?;
        let (mut ready, mut claimed, mut dead) = (0, 0, 0);
        for s in q.states() {
            match Word::unpack(s.load(Ordering::Relaxed)).state {
                protocol::READY => ready += 1,
                protocol::CLAIMED | protocol::CLAIMED_DEAD => claimed += 1,
                protocol::DEAD => dead += 1,
                _ => {}
            }
        }
        let sh = q.shared();
        let participants = (0..q.config.max_participants as usize)
            .filter(|&i| q.alive(i))
            .map(|i| {
                let r = q.record(i);
                (
                    i as u32,
                    r.role.load(Ordering::Relaxed),
                    r.pid.load(Ordering::Relaxed),
                    r.node.get(),
                    r.in_flight.load(Ordering::Relaxed),
                )
            })
            .collect();
        Ok(QueueInfo {
            name: q.config.queue_name(),
            type_name: q.config.type_name(),
            capacity: q.config.capacity,
            max_deliveries: q.config.max_deliveries,
            ready,
            claimed,
            dead,
            sent: sh.sent.load(Ordering::Relaxed),
            acked: sh.acked.load(Ordering::Relaxed),
            requeued: sh.requeued.load(Ordering::Relaxed),
            dead_lettered: sh.dead_lettered.load(Ordering::Relaxed),
            full: sh.full.load(Ordering::Relaxed),
            corrupt: sh.corrupt.load(Ordering::Relaxed),
            expired: sh.expired.load(Ordering::Relaxed),
            syncs: protocol::commit::seq(sh.commit.load(Ordering::Relaxed)),
            participants,
        })
    }

    /// One dead letter, as [`dead_letters`] reads it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DeadLetter {
        /// Its slot in the file.
        pub slot: u32,
        /// Its place in the queue.
        pub ticket: u64,
        /// How many times it was delivered.
        pub deliveries: u32,
        /// Trailing elements (slice jobs; 0 otherwise).
        pub elems: u64,
        /// When it was sent (`CLOCK_MONOTONIC`, ns, as its producer wrote it).
        pub sent_ns: u64,
        /// Whether a dead-letter worker holds it right now.
        pub held: bool,
    }

    /// The dead letters of the queue file at `path`, lowest ticket first
    /// (never joins, never writes; at most `capacity` entries).
    pub fn dead_letters(path: &Path) -> Result<Vec<DeadLetter>, QueueOpenError> {
        let q = QueueFile::open_existing(path, false)?;
        let mut out = Vec::new();
        for (i, s) in q.states().iter().enumerate() {
            let w = Word::unpack(s.load(Ordering::Acquire));
            if w.state != protocol::DEAD && w.state != protocol::CLAIMED_DEAD {
                continue;
            }
            let m = q.meta(i);
            out.push(DeadLetter {
                slot: i as u32,
                ticket: w.ticket,
                deliveries: w.deliveries,
                elems: m.elems.load(Ordering::Relaxed),
                sent_ns: m.stamp_ns.load(Ordering::Relaxed),
                held: w.state == protocol::CLAIMED_DEAD,
            });
        }
        out.sort_by_key(|d| d.ticket);
        Ok(out)
    }

    /// Drops every job waiting in the queue file at `path` (READY slots
    /// become FREE; jobs held by workers and dead letters stay) and
    /// returns how many. Does not join the queue: READY slots have no
    /// owner, each is freed by one CAS (a worker that raced for it simply
    /// claims another), then producers waiting for room are woken. Purged
    /// jobs are not counted as acknowledged.
    pub fn purge(path: &Path) -> Result<usize, QueueOpenError> {
        let q = QueueFile::open_existing(path, true)?;
        let mut n = 0;
        for s in q.states() {
            let seen = s.load(Ordering::Acquire);
            if protocol::purge(s, seen) {
                n += 1;
            }
        }
        if n > 0 {
            q.notify_free();
        }
        Ok(n)
    }

    /// Puts every dead letter of the queue file at `path` that no
    /// dead-letter worker holds back in the queue and returns how many:
    /// each goes back to its old place (the front) flagged as a redelivery
    /// with `max_deliveries - 1` more claims before it is a dead letter
    /// again (`protocol::revive`). Does not join the queue; sleeping
    /// workers are woken.
    pub fn requeue_dead(path: &Path) -> Result<usize, QueueOpenError> {
        let q = QueueFile::open_existing(path, true)?;
        let mut n = 0;
        for s in q.states() {
            let seen = s.load(Ordering::Acquire);
            if protocol::revive(s, seen) {
                n += 1;
            }
        }
        if n > 0 {
            q.notify_ready();
        }
        Ok(n)
    }

    /// The transient queues of `domain`: every file of its directory named
    /// `axonq.u<our uid>.d<domain>.<stem>`, with its name and what
    /// [`inspect`] made of it (an error for a file that is not a valid
    /// queue, or whose stem is not a valid name). Files being created
    /// (`~tmp.` in the name) are skipped. Sorted by file name.
    #[allow(clippy::type_complexity)]
    pub fn list(
        domain: &crate::Domain,
    ) -> std::io::Result<Vec<(PathBuf, Result<QueueInfo, QueueOpenError>)>> {
        let prefix = format!("axonq.u{}.d{}.", crate::sys::euid(), domain.name());
        let mut out = Vec::new();
        for e in std::fs::read_dir(domain.dir())? {
            let e = e?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(stem) = name.strip_prefix(&prefix) else {
                continue;
            };
            if name.contains("~tmp.") {
                continue;
            }
            let path = e.path();
            let r = TopicName::from_file_stem(stem)
                .map_err(QueueOpenError::from)
                .and_then(|_| inspect(&path));
            out.push((path, r));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The fuzz entry `axon::fuzzing::queue_image`: `data` as the bytes of a
    /// queue file, as a crashed, buggy or hostile process could have left
    /// it (the seeds, `fuzz/corpus/queue_image`, are real queues of
    /// [`crate::fuzzing::FuzzSample`] jobs). Runs the tools' inspection and
    /// dead-letter listing, then joins as a producer, a worker and a
    /// dead-letter worker and sends, receives and settles a few jobs, then
    /// runs the tools' `requeue_dead` and `purge`. Every call must return `Ok` or a
    /// clear error: a panic, a hang or an unbounded allocation is a bug.
    /// Bounds: the file is the input's size, 8 sends and 16 receives, one
    /// wait of at most 1 ms; the file lives in a private directory under
    /// `/dev/shm` (or the temporary directory), removed on return.
    #[doc(hidden)]
    pub fn fuzz_image(data: &[u8]) {
        use crate::fuzzing::FuzzSample;
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        use std::sync::atomic::{AtomicU64, Ordering as O};
        struct Scratch(PathBuf);
        impl Drop for Scratch {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "axon.fuzzq.{}.{}",
            std::process::id(),
            NEXT.fetch_add(1, O::Relaxed)
        ));
        if std::fs::create_dir(&dir).is_err() {
            return;
        }
        let scratch = Scratch(dir);
        let path = scratch.0.join("jobs.queue");
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(data));
        if written.is_err() {
            return;
        }
        if let Ok(info) = inspect(&path) {
            let _ = format!("{info:?}");
        }
        if let Ok(dead) = dead_letters(&path) {
            let _ = format!("{dead:?}");
        }
        let Ok(domain) = crate::Domain::new(&scratch.0, "fuzz") else {
            return;
        };
        let Ok(node) = Node::builder("fuzz")
            .domain(domain)
            .no_signal_handlers()
            .create()
        else {
            return;
        };
        let producer = node
            .queue_producer::<FuzzSample>("/fuzz")
            .durable(&path)
            .create();
        let worker = node
            .queue_worker::<FuzzSample>("/fuzz")
            .durable(&path)
            .prefetch(2)
            .create();
        let dead = node
            .queue_worker::<FuzzSample>("/fuzz")
            .durable(&path)
            .dead_letters()
            .create();
        for k in 0..8u64 {
            if let Ok(p) = &producer {
                let _ = (p.len(), p.capacity());
                let _ = p.send(&FuzzSample { seq: k, value: !k });
                if let Ok(mut l) = p.loan() {
                    // Expired at once (0) or never: both paths every round.
                    l.set_ttl((k % 2 == 0).then_some(Duration::ZERO));
                    let _ = l.send();
                }
            }
            if let Ok(w) = &worker {
                if let Ok(Some(d)) = w.try_recv() {
                    let _ = (d.seq, d.value, d.redelivered(), d.ticket(), d.sent_ns());
                    let _ = match k % 4 {
                        0 => d.ack(),
                        1 => d.nack().map(|_| ()),
                        2 => d.reject(),
                        _ => {
                            drop(d); // unsettled: requeued
                            Ok(())
                        }
                    };
                }
            }
            if let Ok(w) = &dead {
                if let Ok(Some(d)) = w.try_recv() {
                    let _ = d.ack();
                }
            }
        }
        if let Ok(w) = &worker {
            let _ = w.recv_timeout(Duration::from_millis(1)).map(|d| d.ack());
        }
        drop((producer, worker, dead));
        let _ = (requeue_dead(&path), purge(&path));
        if let Ok(info) = inspect(&path) {
            let _ = format!("{info:?}");
        }
    }
}
