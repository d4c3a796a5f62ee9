//! A queue's file: create or open it, validate it, own a participant
//! record in it, reap the records of dead participants. The only place of
//! the queue module that turns offsets into references.
//!
//! - **Create**: the whole header is written into a temporary file in the
//!   same directory, all its pages are reserved (`posix_fallocate`: a full
//!   file system is an error now, never a SIGBUS later), and it is
//!   hard-linked to its name, which fails if the name exists: no opener
//!   sees a half-written header.
//! - **Open** copies the config out once, checks magic, version, checksum,
//!   ranges and file size, and computes every offset from the private copy.
//!   A queue file is never replaced or removed by an opener (it may hold
//!   jobs): an invalid one is an error naming the file and the check.
//! - **Join**: take the OFD lock of a free record (that lock *is*
//!   ownership), requeue whatever its previous, dead owner held, fill it in.
//! - **Reap**: a record whose lock nobody holds but which writes or holds
//!   slots, or announced itself as a sleeper, belongs to a dead process.
//!   Whoever notices takes its lock, requeues its jobs (`protocol::reap`),
//!   clears its bits and lets go.
//!
//! The mapping is a [`GuardedMap`]: a file truncated under us poisons it
//! (zeros, then every operation reports `Truncated`), never a SIGBUS.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64 as StdAtomicU64;

use super::layout::*;
use super::protocol::{self, Outcome};
use super::QueueOpenError;
use crate::fault::GuardedMap;
use crate::layout::state;
use crate::segment::bits;
use crate::sync::{fence, AtomicU64, Ordering};
use crate::sys::{self, SegmentFile};

/// How long a sender waits for a running sync before it checks that the
/// sync's holder is alive (a write-back takes milliseconds; a dead holder's
/// sync is cleared after this).
const COMMIT_SLICE_NS: u64 = 50_000_000;

/// An open, validated, mapped queue file.
#[derive(Debug)]
pub(crate) struct QueueFile {
    file: SegmentFile,
    map: GuardedMap,
    pub path: PathBuf,
    /// Private copy of the checked config.
    pub config: QueueConfig,
    /// Offsets computed from `config`.
    pub layout: QueueLayout,
}

impl QueueFile {
    /// Opens the queue at `path`, creating it from `config` if it does not
    /// exist. An existing queue must have the same type; its capacities are
    /// kept (the creator's).
    pub fn open_or_create(path: &Path, config: &QueueConfig) -> Result<QueueFile, QueueOpenError> {
        for _ in 0..16 {
            match SegmentFile::open(path) {
                Ok(file) => {
                    let q = Self::from_file(file, path, true)?;
                    let c = &q.config;
                    if c.fingerprint != config.fingerprint || c.type_name() != config.type_name() {
                        return Err(QueueOpenError::TypeMismatch {
                            queue: config.queue_name(),
                            requested: config.type_name(),
                            existing: c.type_name(),
                        });
                    }
                    if c.max_elems < config.max_elems {
                        return Err(QueueOpenError::Capacity {
                            queue: config.queue_name(),
                            what: "max_len",
                            requested: config.max_elems,
                            available: c.max_elems,
                        });
                    }
                    return Ok(q);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => match Self::create(path, config) {
                    Ok(()) => {}
                    Err(QueueOpenError::Io { source, .. })
                        if source.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(QueueOpenError::io(path, e)),
            }
        }
        Err(QueueOpenError::io(
            path,
            io::Error::other("queue file kept changing while it was being opened"),
        ))
    }

    /// Opens an existing queue file without a type expectation (tools).
    pub fn open_existing(path: &Path, writable: bool) -> Result<QueueFile, QueueOpenError> {
        let file = if writable {
            SegmentFile::open(path)
        } else {
            SegmentFile::open_read_only(path)
        }
        .map_err(|e| QueueOpenError::io(path, e))?;
        Self::from_file(file, path, writable)
    }

    fn create(path: &Path, config: &QueueConfig) -> Result<(), QueueOpenError> {
        let layout = QueueLayout::compute(config).ok_or_else(|| {
            QueueOpenError::InvalidConfig("queue would be larger than 1 TiB".into())
        })?;
        static COUNTER: StdAtomicU64 = StdAtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Temporaries of this queue left by creators killed mid-creation
        // (older than the grace, and unlocked: their creator is dead).
        crate::segment::remove_stale_temporaries(dir, &name);
        let tmp = dir.join(format!("{name}~tmp.{}.{n}", sys::pid()));
        let file = SegmentFile::create_new(&tmp, 0o600).map_err(|e| QueueOpenError::io(&tmp, e))?;
        // Held until the file is published: a sweeper sees a creation in
        // progress (byte 0 is no record's lock).
        let _ = file.try_lock(crate::layout::ADMIN_LOCK, true);
        let result = (|| {
            file.set_size(layout.total as u64)
                .map_err(|e| QueueOpenError::io(&tmp, e))?;
            file.allocate_range(0, layout.total as u64).map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOSPC) {
                    QueueOpenError::NoSpace {
                        dir: dir.to_path_buf(),
                        needed: layout.total as u64,
                    }
                } else {
                    QueueOpenError::io(&tmp, e)
                }
            })?;
            let map = GuardedMap::new(
                file.map(layout.total)
                    .map_err(|e| QueueOpenError::io(&tmp, e))?,
            );
            let hdr = map.map().as_mut_ptr() as *mut QueueHeader;
            // SAFETY: (1) the mapping is `layout.total >= size_of::<QueueHeader>()`
            // bytes and page-aligned, so `hdr` is in bounds and aligned; (2)
            // the file's name is not published yet, so nothing else maps it;
            // (3) the rest of the file is zeros, which is every atomic at 0:
            // slots FREE, records free, counters 0.
            unsafe {
                std::ptr::addr_of_mut!((*hdr).config).write(*config);
                std::ptr::addr_of_mut!((*hdr).config_checksum).write(config.checksum());
                std::ptr::addr_of_mut!((*hdr).total_size).write(layout.total as u64);
                std::ptr::addr_of_mut!((*hdr).header_size)
                    .write(std::mem::size_of::<QueueHeader>() as u32);
                std::ptr::addr_of_mut!((*hdr).version).write(VERSION);
                std::ptr::addr_of_mut!((*hdr).magic).write(MAGIC);
            }
            if map.poisoned() {
                return Err(QueueOpenError::io(
                    &tmp,
                    io::Error::other("truncated by another process while being created"),
                ));
            }
            // Durable or not, the header is on disk before the name is.
            map.map().flush().map_err(|e| QueueOpenError::io(&tmp, e))?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let published = sys::publish_file(&tmp, path).map_err(|e| QueueOpenError::io(path, e));
        let _ = std::fs::remove_file(&tmp);
        published
    }

    fn from_file(
        file: SegmentFile,
        path: &Path,
        writable: bool,
    ) -> Result<QueueFile, QueueOpenError> {
        let info = file.info().map_err(|e| QueueOpenError::io(path, e))?;
        if info.uid != sys::euid() {
            return Err(QueueOpenError::ForeignOwner {
                path: path.to_path_buf(),
                uid: info.uid,
            });
        }
        let corrupt = |reason: String| QueueOpenError::Corrupted {
            path: path.to_path_buf(),
            reason,
        };
        let hsize = std::mem::size_of::<QueueHeader>();
        if info.size < hsize as u64 {
            return Err(corrupt(format!(
                "file is {} bytes, too short for a queue header",
                info.size
            )));
        }
        let map = |len| {
            if writable {
                file.map(len)
            } else {
                file.map_read_only(len)
            }
            .map(GuardedMap::new)
            .map_err(|e| QueueOpenError::io(path, e))
        };
        let head = map(hsize)?;
        let hdr = head.map().as_ptr() as *const QueueHeader;
        // SAFETY: (1) `head` maps `size_of::<QueueHeader>()` bytes,
        // page-aligned; (2) these fields are plain bytes (no atomics),
        // copied out volatile because a hostile process may write them
        // concurrently; every value is validated below before use.
        let (magic, version, total, checksum, config) = unsafe {
            (
                std::ptr::read_volatile(std::ptr::addr_of!((*hdr).magic)),
                std::ptr::read_volatile(std::ptr::addr_of!((*hdr).version)),
                std::ptr::read_volatile(std::ptr::addr_of!((*hdr).total_size)),
                std::ptr::read_volatile(std::ptr::addr_of!((*hdr).config_checksum)),
                std::ptr::read_volatile(std::ptr::addr_of!((*hdr).config)),
            )
        };
        let truncated = head.poisoned();
        drop(head);
        if truncated {
            return Err(corrupt(
                "truncated by another process while its header was read".into(),
            ));
        }
        if magic != MAGIC {
            return Err(corrupt("bad magic: not an axon queue file".into()));
        }
        if version != VERSION {
            return Err(QueueOpenError::VersionMismatch {
                path: path.to_path_buf(),
                found: version,
                expected: VERSION,
            });
        }
        if config.checksum() != checksum {
            return Err(corrupt("header checksum mismatch".into()));
        }
        config.check().map_err(|why| corrupt(why.into()))?;
        let layout = match QueueLayout::compute(&config) {
            Some(l) if l.total as u64 == total && total == info.size => l,
            _ => {
                return Err(corrupt(format!(
                    "size {} does not match its header",
                    info.size
                )))
            }
        };
        let map = map(layout.total)?;
        Ok(QueueFile {
            file,
            map,
            path: path.to_path_buf(),
            config,
            layout,
        })
    }

    /// Whether the file was truncated under us (everything reads as zero).
    pub fn poisoned(&self) -> bool {
        self.map.poisoned()
    }

    fn at<T>(&self, offset: usize) -> &T {
        debug_assert!(offset + std::mem::size_of::<T>() <= self.layout.total);
        debug_assert_eq!(offset % std::mem::align_of::<T>(), 0);
        // SAFETY: (1) every caller passes an offset computed by
        // `QueueLayout` from the validated config, for a `T` that lies
        // inside `layout.total`, which is the mapping's length (checked
        // against the file size at open); (2) offsets are multiples of 128
        // (header, records) or 8/64 (slot words, slot metas) and the
        // mapping is page-aligned, so `T` is aligned; (3) every `T` used
        // here consists of atomics (shared with other processes: only
        // atomic accesses) and every bit pattern is valid for them.
        unsafe { &*(self.map.map().as_ptr().add(offset) as *const T) }
    }

    /// The shared counters and wake words.
    pub fn shared(&self) -> &QueueShared {
        // `shared` is a field of the header at offset 0.
        &self.at::<QueueHeader>(0).shared
    }

    /// Record `i` (`i < max_participants`).
    pub fn record(&self, i: usize) -> &ParticipantRecord {
        assert!(i < self.config.max_participants as usize);
        self.at(self.layout.record(i))
    }

    /// The slot words.
    pub fn states(&self) -> &[AtomicU64] {
        let n = self.config.capacity as usize;
        let ptr = self.at::<AtomicU64>(self.layout.states) as *const AtomicU64;
        // SAFETY: (1) `layout.states + 8 * capacity <= layout.slots <=
        // total` (`QueueLayout::compute`), 8-aligned (`records` is a multiple
        // of 128 and records are 128-byte multiples); (2) `AtomicU64` has
        // no invalid bit patterns and is only accessed atomically.
        unsafe { std::slice::from_raw_parts(ptr, n) }
    }

    /// Slot `i`'s meta (`i < capacity`).
    pub fn meta(&self, i: usize) -> &SlotMeta {
        assert!(i < self.config.capacity as usize);
        self.at(self.layout.slot(i))
    }

    /// Slot `i`'s payload (`slot_payload` bytes, 32-aligned).
    pub fn payload_ptr(&self, i: usize) -> *mut u8 {
        assert!(i < self.config.capacity as usize);
        // SAFETY: `slot(i) + SLOT_META + slot_payload <= slot(i) +
        // slot_stride <= total` for `i < capacity` (`QueueLayout::compute`),
        // so the result stays inside the mapping.
        unsafe {
            self.map
                .map()
                .as_mut_ptr()
                .add(self.layout.slot(i) + SLOT_META)
        }
    }

    /// Durable `sync(true)` sends: returns once every job record `me`
    /// published before the call is on disk, sharing the write-back with
    /// concurrent senders (group commit, `protocol::commit`). The
    /// write-back is one `msync(MS_SYNC)` of the slot words and slots (one
    /// `vfs_fsync_range` on Linux: the dirty pages of that range, written
    /// by any participant, then the device's cache flush); the header and
    /// records (counters, wake words) are not written back: they mean
    /// nothing after a cut.
    pub fn commit(&self, me: u32) -> io::Result<()> {
        let sh = self.shared();
        let e = protocol::commit::enter(&sh.commit);
        let (from, len) = (self.layout.states, self.layout.total - self.layout.states);
        protocol::commit::complete(
            &sh.commit,
            &sh.commit_word,
            me,
            e,
            || self.map.map().flush_range(from, len),
            |token, running| {
                let until = sys::monotonic_ns().saturating_add(COMMIT_SLICE_NS);
                let words = [crate::wake::Word {
                    word: &sh.commit_word,
                    expected: token,
                    private: false,
                }];
                let _ = crate::wake::wait_any(&words, until);
                if sh.commit.load(Ordering::Acquire) != running || sys::monotonic_ns() < until {
                    return;
                }
                // A whole slice with the same sync running: is its holder
                // alive? (A holder beyond the records, or a record nobody
                // holds the lock of, is a cut file's or a dead sender's.)
                let alive = protocol::commit::holder(running).is_some_and(|h| {
                    (h as usize) < self.config.max_participants as usize && self.alive(h as usize)
                });
                if !alive {
                    protocol::commit::abort(&sh.commit, running);
                }
            },
            || {
                crate::wake::wake_word(&sh.commit_word, false);
            },
        )
    }

    /// Claims a free record as `role`; its previous owner, if it died
    /// holding jobs, has them requeued first.
    pub fn join(&self, role: u32, node: &str, prefetch: u32) -> Result<u32, QueueOpenError> {
        let max = self.config.max_participants as usize;
        for i in 0..max {
            match self.file.try_lock(record_lock(i), true) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return Err(QueueOpenError::io(&self.path, e)),
            }
            // The lock is ours: no other owner, and any previous one is dead.
            self.reap_record(i as u32);
            let r = self.record(i);
            r.state.store(state::CLAIMING, Ordering::Relaxed);
            r.role.store(role, Ordering::Relaxed);
            r.pid.store(sys::pid(), Ordering::Relaxed);
            r.prefetch.store(prefetch, Ordering::Relaxed);
            r.in_flight.store(0, Ordering::Relaxed);
            r.done.store(0, Ordering::Relaxed);
            r.node.set(node);
            r.claims.fetch_add(1, Ordering::Relaxed);
            r.state.store(state::ACTIVE, Ordering::Release);
            self.shared().members.fetch_or(1 << i, Ordering::AcqRel);
            return Ok(i as u32);
        }
        Err(QueueOpenError::TooManyParticipants {
            queue: self.config.queue_name(),
            max: max as u32,
        })
    }

    /// Gives record `i` (ours) back: whatever it still holds is requeued.
    pub fn leave(&self, i: u32) {
        self.reap_record(i);
        self.record(i as usize)
            .state
            .store(state::FREE, Ordering::Release);
        self.shared().members.fetch_and(!(1 << i), Ordering::AcqRel);
        let _ = self.file.unlock(record_lock(i as usize));
    }

    /// Requeues what record `owner` writes or holds, clears its bits. The
    /// caller holds its lock (it is the owner, or the owner is dead).
    fn reap_record(&self, owner: u32) -> u32 {
        let max_deliveries = self.config.max_deliveries;
        let sh = self.shared();
        let (mut requeued, mut dead, mut freed) = (0u32, 0u32, 0u32);
        for s in self.states() {
            match protocol::reap(s, owner, max_deliveries) {
                Some(Outcome::Requeued) => requeued += 1,
                Some(Outcome::DeadLettered) => dead += 1,
                Some(Outcome::Freed) => freed += 1,
                None => {}
            }
        }
        sh.ready_sleepers.fetch_and(!(1 << owner), Ordering::AcqRel);
        sh.free_sleepers.fetch_and(!(1 << owner), Ordering::AcqRel);
        // A sync its dead owner was running counts for nobody.
        let c = sh.commit.load(Ordering::Acquire);
        if protocol::commit::holder(c) == Some(owner) {
            protocol::commit::abort(&sh.commit, c);
        }
        self.record(owner as usize)
            .in_flight
            .store(0, Ordering::Relaxed);
        if requeued + dead > 0 {
            sh.requeued.fetch_add(requeued as u64, Ordering::Relaxed);
            sh.dead_lettered.fetch_add(dead as u64, Ordering::Relaxed);
            self.notify_ready();
        }
        if freed > 0 {
            self.notify_free();
        }
        requeued + dead + freed
    }

    /// Reaps every record in `candidates` (but `own`) whose owner is dead:
    /// one `F_OFD_SETLK` per candidate. Returns how many slots it moved.
    pub fn reap_dead(&self, candidates: u64, own: Option<u32>) -> u32 {
        let max = self.config.max_participants as usize;
        let mut moved = 0;
        for i in bits(candidates).filter(|&i| i < max && Some(i as u32) != own) {
            if let Ok(true) = self.file.try_lock(record_lock(i), true) {
                moved += self.reap_record(i as u32);
                let r = self.record(i);
                if r.state.load(Ordering::Acquire) != state::FREE {
                    r.state.store(state::FREE, Ordering::Release);
                }
                self.shared().members.fetch_and(!(1 << i), Ordering::AcqRel);
                let _ = self.file.unlock(record_lock(i));
            }
        }
        moved
    }

    /// Records that may need reaping: members and sleepers, plus `owners`
    /// (from a scan).
    pub fn reap_candidates(&self, owners: u64) -> u64 {
        let sh = self.shared();
        owners
            | sh.members.load(Ordering::Acquire)
            | sh.ready_sleepers.load(Ordering::Acquire)
            | sh.free_sleepers.load(Ordering::Acquire)
    }

    /// Whether record `i`'s owner is alive (its lock is held by someone
    /// other than this open file).
    pub fn alive(&self, i: usize) -> bool {
        self.file
            .is_locked_by_other(record_lock(i))
            .unwrap_or(false)
    }

    /// After a slot became READY or DEAD: wakes workers that sleep.
    pub fn notify_ready(&self) {
        let sh = self.shared();
        // SYNC POINT W: pairs with the waiter's fence after it set its
        // sleeper bit (`protocol.rs` loom model `no_lost_wakeup`).
        fence(Ordering::SeqCst);
        if sh.ready_sleepers.load(Ordering::Acquire) != 0 {
            sh.ready_word.fetch_add(1, Ordering::Release);
            crate::wake::wake_word(&sh.ready_word, false);
        }
    }

    /// After a slot became FREE: wakes producers waiting for room.
    pub fn notify_free(&self) {
        let sh = self.shared();
        // SYNC POINT W, for producers.
        fence(Ordering::SeqCst);
        if sh.free_sleepers.load(Ordering::Acquire) != 0 {
            sh.free_word.fetch_add(1, Ordering::Release);
            crate::wake::wake_word(&sh.free_word, false);
        }
    }
}
