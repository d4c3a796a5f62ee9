//! A topic's shared-memory segment: create or open it, check it, own a
//! participant record in it, find and clean up dead participants.
//!
//! ## Life of a segment
//! - **Create** by writing the whole header into a temporary file in the same
//!   directory and hard-linking it to its final name, which fails if the name
//!   exists: no opener ever sees a half-written header.
//! - **Open** copies the header's config out once, checks magic, version,
//!   checksum, internal consistency and file size, then computes every offset
//!   from the private copy ([`Layout`]). It copies the type description out
//!   once too (at most [`MAX_DESCRIPTION`] bytes) and decodes it as hostile
//!   input: it must decode, name the header's type and have the header's
//!   fingerprint, or the segment is `Corrupted`.
//! - **Join** under the *admin lock* held shared: take the OFD lock of a free
//!   record (that lock *is* ownership), fill the record in, set the member
//!   bits, then check the path still names this file.
//! - **Replace** a segment that is incompatible (another type, another
//!   layout version, a corrupted header) only if no participant is alive,
//!   under the admin lock held exclusively. So a stale segment left by a
//!   crashed run never needs manual cleanup, and a live one is never pulled
//!   from under its users.
//! - **Reap**: a record whose lock nobody holds but whose member bit is set
//!   belongs to a dead process; whoever notices takes its lock, clears its
//!   hazards and bits, and lets go.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64 as StdAtomicU64;
use std::sync::Arc;

use axon_message::Description;

use crate::error::{DeclaredNumber, OpenError};
use crate::fault::GuardedMap;
use crate::layout::{self, *};
use crate::names::{Domain, TopicName};
use crate::sync::{AtomicU64, Ordering};
use crate::sys::{self, FileInfo, SegmentFile};

/// What a participant needs from a topic: its type and, if it creates the
/// segment, the capacities.
#[derive(Debug, Clone)]
pub(crate) struct TopicSpec {
    pub topic: TopicName,
    /// The type's encoded description ([`Description::encode`]), written
    /// into a segment this participant creates; `None`: not known.
    pub description: Option<Vec<u8>>,
    pub type_name: String,
    pub fingerprint: u64,
    pub fixed_size: u64,
    pub elem_size: u64,
    /// Trailing elements this participant needs room for (slice messages).
    pub max_elems: u64,
    /// Whether `max_elems` was asked for (`max_len`), not a default: only
    /// then does a live topic with less room refuse this participant.
    pub max_elems_required: bool,
    pub depth: u32,
    /// Whether `depth` was asked for (`history`), not a default.
    pub depth_required: bool,
    pub max_publishers: u32,
    pub max_subscribers: u32,
    pub max_held: u32,
    pub max_loans: u32,
    /// File mode for a new segment.
    pub mode: u32,
    /// Accept segments owned by other users.
    pub allow_foreign: bool,
    /// What a launch file's topic declaration decided (`declared.rs`): those
    /// numbers are required of a live topic, and a refusal names the file.
    pub declared: Option<crate::declared::Applied>,
}

impl TopicSpec {
    fn config(&self) -> Result<TopicConfig, OpenError> {
        let mut type_name = [0u8; 128];
        let tn = self.type_name.as_bytes();
        if tn.len() > type_name.len() {
            return Err(OpenError::InvalidQos(format!(
                "type name {:?} is longer than 128 bytes",
                self.type_name
            )));
        }
        type_name[..tn.len()].copy_from_slice(tn);
        let description_len = self.check_description()?;
        let mut topic_name = [0u8; 256];
        let t = self.topic.as_str().as_bytes();
        topic_name[..t.len()].copy_from_slice(t);
        let slot_payload = self
            .elem_size
            .checked_mul(self.max_elems)
            .and_then(|b| b.checked_add(self.fixed_size))
            // Room for a typed view's trailing padding (`TopicConfig::view_len`).
            .and_then(|b| b.checked_next_multiple_of(PAYLOAD_ALIGN as u64))
            .ok_or_else(|| OpenError::InvalidQos("payload size overflows".into()))?;
        let slots = TopicConfig::needed_slots(
            self.depth,
            self.max_subscribers,
            self.max_held,
            self.max_loans,
        );
        let c = TopicConfig {
            type_name,
            topic_name,
            type_name_len: tn.len() as u32,
            topic_name_len: t.len() as u32,
            fingerprint: self.fingerprint,
            fixed_size: self.fixed_size,
            elem_size: self.elem_size,
            max_elems: if self.elem_size == 0 {
                0
            } else {
                self.max_elems
            },
            slot_payload,
            depth: self.depth,
            max_publishers: self.max_publishers,
            max_subscribers: self.max_subscribers,
            max_held: self.max_held,
            max_loans: self.max_loans,
            slots_per_lane: slots.min(u32::MAX as u64) as u32,
            owner_uid: sys::euid(),
            description_len,
        };
        c.check()
            .map_err(|why| OpenError::InvalidQos(why.to_string()))?;
        Ok(c)
    }

    /// The description's length, once it is known to fit in a segment and
    /// to describe this type (what every opener will check).
    fn check_description(&self) -> Result<u32, OpenError> {
        let Some(bytes) = &self.description else {
            return Ok(0);
        };
        let bad = |reason: String| OpenError::BadDescription {
            type_name: self.type_name.clone(),
            reason,
        };
        if bytes.len() > MAX_DESCRIPTION {
            return Err(bad(format!(
                "is {} bytes, more than the {MAX_DESCRIPTION} a segment holds \
                 (fewer fields or fewer distinct nested types make it smaller)",
                bytes.len()
            )));
        }
        check_description(bytes, &self.type_name, self.fingerprint).map_err(bad)?;
        Ok(bytes.len() as u32)
    }
}

/// Decodes a segment's description and checks that it describes the type
/// the header names: the same name and the same fingerprint.
fn check_description(
    bytes: &[u8],
    type_name: &str,
    fingerprint: u64,
) -> Result<Description, String> {
    let d = Description::decode(bytes).map_err(|e| format!("does not decode: {e}"))?;
    if d.type_name() != type_name {
        return Err(format!(
            "describes type {:?}, but the segment's type is {type_name:?}",
            d.type_name()
        ));
    }
    let computed = d.fingerprint();
    if computed != fingerprint {
        return Err(format!(
            "has fingerprint {computed:016x}, but the segment's type has {fingerprint:016x}"
        ));
    }
    Ok(d)
}

/// An open, validated, mapped segment.
#[derive(Debug)]
pub(crate) struct Segment {
    file: SegmentFile,
    /// SIGBUS on it is contained (`fault.rs`): a truncated file poisons it.
    map: GuardedMap,
    path: PathBuf,
    info: FileInfo,
    /// Private copy of the immutable config, checked.
    pub config: TopicConfig,
    /// Offsets computed from `config`.
    pub layout: Layout,
    /// The type description, copied out and checked at open (`None`: the
    /// creator wrote none).
    pub description: Option<Arc<Description>>,
    writable: bool,
}

/// Why an existing segment cannot be used as it is.
enum Unusable {
    /// Not valid at all (corrupt, other version): replace if nobody uses it.
    Invalid(OpenError),
    /// Valid but for something else (type, capacity): replace if nobody uses it.
    Incompatible(OpenError),
}

impl Segment {
    /// Opens `spec.topic`'s segment in `domain`, creating it if needed.
    pub fn open_or_create(domain: &Domain, spec: &TopicSpec) -> Result<Segment, OpenError> {
        let path = domain.segment_path(&spec.topic);
        let config = spec.config()?;
        for _attempt in 0..16 {
            match SegmentFile::open(&path) {
                Ok(file) => match Self::from_file(file, &path, true, spec.allow_foreign) {
                    // Nobody holds it: whatever an earlier run left (its
                    // capacities, its counters, its history) goes, and the
                    // topic starts again from this participant's request.
                    Ok(seg) if seg.remove_if_abandoned() => {}
                    Ok(seg) => match seg.check_compatible(spec) {
                        Ok(()) => return Ok(seg),
                        Err(e) => seg.replace_if_unused(Unusable::Incompatible(e))?,
                    },
                    Err((Some(file), e)) if e.is_replaceable() => {
                        Self::replace_file_if_unused(file, &path, Unusable::Invalid(e))?
                    }
                    Err((_, e)) => return Err(e),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    match Self::create(domain, &path, &config, spec, spec.mode) {
                        Ok(file) => {
                            if let Ok(seg) = Self::from_file(file, &path, true, spec.allow_foreign)
                            {
                                return Ok(seg);
                            }
                        }
                        Err(OpenError::Io { source, .. })
                            if source.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(OpenError::io(&path, e)),
            }
        }
        Err(OpenError::io(
            &path,
            io::Error::other("segment kept changing while it was being opened"),
        ))
    }

    /// Opens an existing segment without a type expectation (tools).
    /// `allow_foreign`: accept a segment another user owns (read-only
    /// inspection checks ownership itself; joining one needs the QoS opt-in).
    pub fn open_existing(
        path: &Path,
        writable: bool,
        allow_foreign: bool,
    ) -> Result<Segment, OpenError> {
        let file = if writable {
            SegmentFile::open(path)
        } else {
            SegmentFile::open_read_only(path)
        }
        .map_err(|e| OpenError::io(path, e))?;
        Self::from_file(file, path, writable, allow_foreign).map_err(|(_, e)| e)
    }

    /// Creates the segment at `path` and returns its file with the admin
    /// lock held shared: the creator keeps it until its first claim is
    /// made (`joining`), so nobody takes the new topic for abandoned.
    fn create(
        domain: &Domain,
        path: &Path,
        config: &TopicConfig,
        spec: &TopicSpec,
        mode: u32,
    ) -> Result<SegmentFile, OpenError> {
        let layout = Layout::compute(config)
            .ok_or_else(|| OpenError::InvalidQos("segment would be larger than 1 TiB".into()))?;
        static COUNTER: StdAtomicU64 = StdAtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = domain
            .dir()
            .join(format!("{}~tmp.{}.{}", domain.prefix(), sys::pid(), n));
        remove_stale_temporaries(domain.dir(), &domain.prefix());
        let file = SegmentFile::create_new(&tmp, 0o600).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => OpenError::NoShm {
                dir: domain.dir().to_path_buf(),
            },
            _ => OpenError::io(&tmp, e),
        })?;
        // Held until the file is published or removed (and by the kernel
        // no longer once we die): `remove_stale_temporaries` leaves it alone.
        let _ = file.try_lock(ADMIN_LOCK, true);
        let result = (|| {
            // The header and records are reserved now; a lane's pages when a
            // publisher claims it (`claim_publisher`), so unused lanes cost nothing.
            let needed = layout.lanes as u64;
            let free = sys::free_space(domain.dir()).unwrap_or(u64::MAX);
            if free < needed {
                return Err(OpenError::NoSpace {
                    dir: domain.dir().to_path_buf(),
                    needed,
                    free,
                });
            }
            file.set_size(layout.total as u64)
                .map_err(|e| OpenError::io(&tmp, e))?;
            file.allocate_range(0, needed)
                .map_err(|e| space_or_io(domain.dir(), &tmp, e, needed))?;
            let map = GuardedMap::new(file.map(layout.total).map_err(|e| OpenError::io(&tmp, e))?);
            let hdr = map.map().as_mut_ptr() as *mut SegmentHeader;
            // SAFETY: (1) the mapping is `layout.total` bytes, at least
            // `size_of::<SegmentHeader>()`, and page-aligned, so `hdr` is in
            // bounds and aligned; (2) the file is still private to us (its
            // name is not published yet), so nothing else accesses it.
            unsafe {
                std::ptr::addr_of_mut!((*hdr).config).write(*config);
                std::ptr::addr_of_mut!((*hdr).config_checksum).write(config.checksum());
                std::ptr::addr_of_mut!((*hdr).total_size).write(layout.total as u64);
                std::ptr::addr_of_mut!((*hdr).header_size)
                    .write(std::mem::size_of::<SegmentHeader>() as u32);
                std::ptr::addr_of_mut!((*hdr).version).write(LAYOUT_VERSION);
                std::ptr::addr_of_mut!((*hdr).magic).write(MAGIC);
            }
            if let Some(d) = &spec.description {
                debug_assert_eq!(d.len(), config.description_len as usize);
                // SAFETY: (1) `layout.description + description_len <=
                // layout.publishers <= layout.total` (`Layout::compute`), so
                // the destination lies inside the mapping and `d` (private
                // memory) cannot overlap it; (2) the file is still private
                // to us, as above.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        d.as_ptr(),
                        map.map().as_mut_ptr().add(layout.description),
                        d.len().min(config.description_len as usize),
                    );
                }
            }
            if map.poisoned() {
                return Err(OpenError::io(
                    &tmp,
                    io::Error::other("truncated by another process while being created"),
                ));
            }
            map.map().flush().map_err(|e| OpenError::io(&tmp, e))?;
            file.set_mode(mode).map_err(|e| OpenError::io(&tmp, e))?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        sys::publish_file(&tmp, path).map_err(|e| OpenError::io(path, e))?;
        // Exclusive -> shared, atomically (the same open file description).
        let _ = file.try_lock(ADMIN_LOCK, false);
        Ok(file)
    }

    fn from_file(
        file: SegmentFile,
        path: &Path,
        writable: bool,
        allow_foreign: bool,
    ) -> Result<Segment, (Option<SegmentFile>, OpenError)> {
        let info = match file.info() {
            Ok(i) => i,
            Err(e) => return Err((None, OpenError::io(path, e))),
        };
        if info.uid != sys::euid() && !allow_foreign {
            return Err((
                None,
                OpenError::ForeignOwner {
                    path: path.to_path_buf(),
                    uid: info.uid,
                },
            ));
        }
        let corrupt = |reason: String| OpenError::Corrupted {
            path: path.to_path_buf(),
            reason,
        };
        let hsize = std::mem::size_of::<SegmentHeader>();
        if info.size < hsize as u64 {
            return Err((
                Some(file),
                corrupt(format!("file is {} bytes, too short", info.size)),
            ));
        }
        let mapped = if writable {
            file.map(hsize)
        } else {
            file.map_read_only(hsize)
        };
        let head = match mapped {
            Ok(m) => GuardedMap::new(m),
            Err(e) => return Err((Some(file), OpenError::io(path, e))),
        };
        let hdr = head.map().as_ptr() as *const SegmentHeader;
        // SAFETY: (1) `head` maps `size_of::<SegmentHeader>()` bytes and is
        // page-aligned; (2) these fields are plain bytes, copied out with
        // volatile reads because another process may (if hostile) write them
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
            return Err((
                Some(file),
                corrupt("truncated by another process while its header was read".into()),
            ));
        }
        if magic != MAGIC {
            return Err((
                Some(file),
                corrupt("bad magic: not an axon topic segment".into()),
            ));
        }
        if version != LAYOUT_VERSION {
            return Err((
                Some(file),
                OpenError::VersionMismatch {
                    path: path.to_path_buf(),
                    found: version,
                    expected: LAYOUT_VERSION,
                },
            ));
        }
        if config.checksum() != checksum {
            return Err((Some(file), corrupt("header checksum mismatch".into())));
        }
        if let Err(why) = config.check() {
            return Err((Some(file), corrupt(why.into())));
        }
        let layout = match Layout::compute(&config) {
            Some(l) if l.total as u64 == total && total == info.size => l,
            _ => {
                return Err((
                    Some(file),
                    corrupt(format!("size {} does not match its header", info.size)),
                ))
            }
        };
        let map = match if writable {
            file.map(layout.total)
        } else {
            file.map_read_only(layout.total)
        } {
            Ok(m) => GuardedMap::new(m),
            Err(e) => return Err((Some(file), OpenError::io(path, e))),
        };
        let description = match Self::read_description(&map, &config, &layout) {
            Ok(d) => d.map(Arc::new),
            Err(why) => {
                drop(map);
                return Err((Some(file), corrupt(format!("type description {why}"))));
            }
        };
        Ok(Segment {
            file,
            map,
            path: path.to_path_buf(),
            info,
            config,
            layout,
            description,
            writable,
        })
    }

    /// Copies the description out of the mapping once and checks it
    /// against the (already validated) config.
    fn read_description(
        map: &GuardedMap,
        config: &TopicConfig,
        layout: &Layout,
    ) -> Result<Option<Description>, String> {
        let len = config.description_len as usize;
        if len == 0 {
            return Ok(None);
        }
        let mut bytes = vec![0u8; len.min(MAX_DESCRIPTION)];
        let base = map.map().as_ptr();
        for (i, b) in bytes.iter_mut().enumerate() {
            // SAFETY: (1) `config` passed `check` (so `len <=
            // MAX_DESCRIPTION`) and `layout` was computed from it and
            // checked against the file and mapping size, so
            // `layout.description + i < layout.publishers <= total`; (2)
            // a byte has no alignment; (3) read volatile because a hostile
            // process may write it concurrently: any value is decoded as
            // hostile input below.
            *b = unsafe { std::ptr::read_volatile(base.add(layout.description + i)) };
        }
        if map.poisoned() {
            return Err("truncated by another process while it was read".into());
        }
        check_description(&bytes, &config.type_name(), config.fingerprint).map(Some)
    }

    fn check_compatible(&self, spec: &TopicSpec) -> Result<(), OpenError> {
        let c = &self.config;
        if c.fingerprint != spec.fingerprint || c.type_name() != spec.type_name {
            return Err(OpenError::TypeMismatch {
                topic: spec.topic.to_string(),
                requested: spec.type_name.clone(),
                existing: c.type_name(),
                layouts_differ: c.type_name() == spec.type_name,
            });
        }
        let decl = spec.declared.as_ref();
        // `by_decl`: the requested number is the launch file's declaration.
        let need = |what: &'static str, requested: u64, available: u64, by_decl: bool| {
            if requested > available {
                Err(OpenError::CapacityMismatch {
                    topic: spec.topic.to_string(),
                    what,
                    requested,
                    available,
                    declared: decl
                        .filter(|_| by_decl)
                        .map(|d| DeclaredNumber::Requested { at: d.at.clone() }),
                })
            } else {
                Ok(())
            }
        };
        let declared = |f: fn(&crate::declared::Applied) -> bool| decl.is_some_and(f);
        // Defaults adapt to the topic as it is; explicit requests (and a
        // launch file's declarations) must be met.
        if spec.max_elems_required {
            need(
                "max slice length",
                spec.max_elems * (spec.elem_size > 0) as u64,
                c.max_elems,
                declared(|d| d.max_elems),
            )?;
        }
        if spec.depth_required {
            need(
                "history depth",
                spec.depth as u64,
                c.depth as u64,
                declared(|d| d.depth),
            )?;
        }
        if declared(|d| d.max_publishers) {
            need(
                "max publishers",
                spec.max_publishers as u64,
                c.max_publishers as u64,
                true,
            )?;
        }
        if declared(|d| d.max_subscribers) {
            need(
                "max subscribers",
                spec.max_subscribers as u64,
                c.max_subscribers as u64,
                true,
            )?;
        }
        need(
            "samples held per subscriber",
            spec.max_held as u64,
            c.max_held as u64,
            false,
        )?;
        need(
            "loans per publisher",
            spec.max_loans as u64,
            c.max_loans as u64,
            false,
        )
    }

    fn replace_if_unused(self, why: Unusable) -> Result<(), OpenError> {
        let Segment { file, path, .. } = self;
        Self::replace_file_if_unused(file, &path, why)
    }

    /// Removes the file at `path` (if it still is `file`) when no participant
    /// holds a record lock; otherwise returns the reason it was unusable.
    fn replace_file_if_unused(
        file: SegmentFile,
        path: &Path,
        why: Unusable,
    ) -> Result<(), OpenError> {
        let err = match why {
            Unusable::Invalid(e) | Unusable::Incompatible(e) => e,
        };
        let info = file.info().map_err(|e| OpenError::io(path, e))?;
        file.lock_wait(ADMIN_LOCK, true)
            .map_err(|e| OpenError::io(path, e))?;
        match unlink_if_unheld(&file, path, &info).map_err(|e| OpenError::io(path, e))? {
            Removal::InUse => Err(err),
            _ => Ok(()), // the admin lock goes with `file`
        }
    }

    #[inline]
    fn at<T>(&self, offset: usize) -> &T {
        debug_assert!(offset + std::mem::size_of::<T>() <= self.layout.total);
        debug_assert!(offset % std::mem::align_of::<T>() == 0);
        // SAFETY: (1) every caller passes an offset from `self.layout`, which
        // was computed from the validated config and checked against the file
        // size, so `offset..offset + size_of::<T>()` lies inside the mapping;
        // (2) offsets of `T`s are multiples of their alignment by construction
        // (records and lines are 128-aligned, slots 64-aligned) and the mapping
        // is page-aligned; (3) `T` is one of the layout's types, made only of
        // atomics (or bytes read volatile), for which any bit pattern is valid
        // and concurrent access from other processes is what they are for.
        unsafe { &*(self.map.map().as_ptr().add(offset) as *const T) }
    }

    /// The header.
    #[inline]
    pub fn header(&self) -> &SegmentHeader {
        self.at(0)
    }

    /// The membership bitmasks.
    #[inline]
    pub fn members(&self) -> &Membership {
        &self.header().members
    }

    /// Publisher record `lane` (`lane < max_publishers`).
    #[inline]
    pub fn publisher(&self, lane: usize) -> &PublisherRecord {
        assert!(lane < self.config.max_publishers as usize);
        self.at(self.layout.publisher(lane))
    }

    /// Subscriber record `index` (`index < max_subscribers`).
    #[inline]
    pub fn subscriber(&self, index: usize) -> &SubscriberRecord {
        assert!(index < self.config.max_subscribers as usize);
        self.at(self.layout.subscriber(index))
    }

    /// Lane `lane`'s ring of `depth` entries.
    #[inline]
    pub fn ring(&self, lane: usize) -> &[AtomicU64] {
        assert!(lane < self.config.max_publishers as usize);
        let first: &AtomicU64 = self.at(self.layout.ring(lane));
        // SAFETY: the ring is `depth` consecutive `AtomicU64`s starting at
        // `layout.ring(lane)`, inside the mapping (see `at`), 8-aligned.
        unsafe { std::slice::from_raw_parts(first, self.config.depth as usize) }
    }

    /// Header of `slot` in `lane` (`slot < slots_per_lane`).
    #[inline]
    pub fn slot_header(&self, lane: usize, slot: u32) -> &SlotHeader {
        assert!(lane < self.config.max_publishers as usize);
        assert!(slot < self.config.slots_per_lane);
        self.at(self.layout.slot(lane, slot as usize))
    }

    /// Lane `lane` located once (`lane < max_publishers`, asserted), for the
    /// hot path: its ring, `head` and slots without recomputing offsets or
    /// re-checking `lane` per access (see [`LaneView`]).
    ///
    /// # Safety
    /// The view points into this segment's mapping: it must not be used
    /// after `self` is dropped. Endpoints keep it next to their `Segment`
    /// and only hand out references that borrow the endpoint.
    #[inline]
    pub unsafe fn lane_view(&self, lane: usize) -> LaneView {
        let ring = self.ring(lane).as_ptr();
        let head: &AtomicU64 = &self.publisher(lane).head;
        let depth = self.config.depth as u64;
        LaneView {
            ring,
            depth,
            mask: if depth.is_power_of_two() {
                depth - 1
            } else {
                0
            },
            head,
            // Slot 0's header; `slots_per_lane` slots of `slot_stride` bytes
            // follow inside the mapping (`Layout::compute`).
            slots: self.slot_header(lane, 0) as *const SlotHeader as *mut u8,
            slot_stride: self.layout.slot_stride,
            slots_per_lane: self.config.slots_per_lane,
        }
    }

    /// Subscriber record `index` located once (`index < max_subscribers`,
    /// asserted), for the hot path.
    ///
    /// # Safety
    /// As for [`Segment::lane_view`]: not used after `self` is dropped.
    #[inline]
    pub unsafe fn subscriber_view(&self, index: usize) -> Located<SubscriberRecord> {
        Located {
            ptr: self.subscriber(index) as *const SubscriberRecord,
        }
    }

    /// Whether the file was truncated under the mapping and a fault there
    /// replaced it with zeros (`fault.rs`): one relaxed load. Nothing read
    /// from the mapping since can be trusted.
    #[inline(always)]
    pub fn poisoned(&self) -> bool {
        self.map.poisoned()
    }

    /// The topic's name, for errors.
    #[cold]
    pub fn topic_name(&self) -> String {
        self.config.topic_name()
    }

    /// Whether the mapping is still backed by the file: not poisoned, and
    /// the file (one `fstat`) not shorter than the layout. A shorter file
    /// poisons the mapping as a fault would, so every later check agrees.
    /// For the slow paths (a failed sleep, the liveness slice): a sleeping
    /// subscriber touches no memory, so no fault tells it.
    pub fn check_intact(&self) -> bool {
        if self.poisoned() {
            return false;
        }
        match self.file.info() {
            Ok(i) if i.size < self.layout.total as u64 => {
                self.map.poison();
                false
            }
            _ => true,
        }
    }

    fn ensure_writable(&self) -> Result<(), OpenError> {
        if self.writable {
            Ok(())
        } else {
            Err(OpenError::io(
                &self.path,
                io::Error::from(io::ErrorKind::PermissionDenied),
            ))
        }
    }

    /// Runs `f` with the admin lock held shared, then checks that the path
    /// still names this file (it was not replaced meanwhile).
    fn joining<R>(&self, f: impl FnOnce() -> Result<R, OpenError>) -> Result<R, OpenError> {
        self.ensure_writable()?;
        self.file
            .lock_wait(ADMIN_LOCK, false)
            .map_err(|e| OpenError::io(&self.path, e))?;
        let r = f();
        let replaced = !sys::same_file(&self.path, &self.info);
        let _ = self.file.unlock(ADMIN_LOCK);
        match r {
            Ok(_) if replaced => Err(OpenError::Replaced {
                path: self.path.clone(),
            }),
            r => r,
        }
    }

    /// Claims a free (or dead) publisher lane and reserves its pages.
    pub fn claim_publisher(&self, node: &str) -> Result<usize, OpenError> {
        self.joining(|| {
            for lane in 0..self.config.max_publishers as usize {
                let taken = self
                    .file
                    .try_lock(publisher_lock(lane), true)
                    .map_err(|e| OpenError::io(&self.path, e))?;
                if !taken {
                    continue;
                }
                // A large lane: the ring now, each slot on its first loan
                // (`reserve_slot`), so memory follows the slots in use.
                let off = self.layout.ring(lane) as u64;
                let needed = if self.layout.lane_stride > LAZY_LANE_BYTES {
                    self.layout.slots_in_lane
                } else {
                    self.layout.lane_stride
                } as u64;
                if let Err(e) = self.file.allocate_range(off, needed) {
                    let _ = self.file.unlock(publisher_lock(lane));
                    let dir = self.path.parent().unwrap_or(Path::new("/"));
                    return Err(space_or_io(dir, &self.path, e, needed));
                }
                let rec = self.publisher(lane);
                rec.state.store(state::CLAIMING, Ordering::Relaxed);
                rec.pid.store(sys::pid(), Ordering::Relaxed);
                rec.node.set(node);
                rec.claims.fetch_add(1, Ordering::Relaxed);
                if rec.head.load(Ordering::Relaxed) == 0 {
                    rec.head.store(1, Ordering::Release);
                }
                let bit = 1u64 << lane;
                self.members().used_lanes.fetch_or(bit, Ordering::SeqCst);
                self.members().publishers.fetch_or(bit, Ordering::SeqCst);
                rec.state.store(state::ACTIVE, Ordering::Release);
                return Ok(lane);
            }
            Err(OpenError::TooManyParticipants {
                topic: self.config.topic_name(),
                kind: "publishers",
                max: self.config.max_publishers,
            })
        })
    }

    /// Reserves the pages of `slot` of `lane` before its first use, so a
    /// full `/dev/shm` is an error at loan time and never a SIGBUS.
    pub fn reserve_slot(&self, lane: usize, slot: u32) -> io::Result<()> {
        let off = self.layout.slot(lane, slot as usize) as u64;
        self.file
            .allocate_range(off, self.layout.slot_stride as u64)
    }

    /// Gives lane `lane` up (its retained samples stay readable to the
    /// participants still there; the last one to leave removes the file).
    pub fn release_publisher(&self, lane: usize) {
        let rec = self.publisher(lane);
        rec.state.store(state::FREE, Ordering::Release);
        self.members()
            .publishers
            .fetch_and(!(1u64 << lane), Ordering::SeqCst);
        let _ = self.file.unlock(publisher_lock(lane));
    }

    /// Claims a subscriber record; `position` sets its cursors (per lane,
    /// from that lane's head) before it becomes visible as reliable.
    pub fn claim_subscriber(
        &self,
        node: &str,
        reliable: bool,
        position: impl Fn(usize, u64, bool) -> u64,
    ) -> Result<usize, OpenError> {
        self.joining(|| {
            for index in 0..self.config.max_subscribers as usize {
                let taken = self
                    .file
                    .try_lock(subscriber_lock(index), true)
                    .map_err(|e| OpenError::io(&self.path, e))?;
                if !taken {
                    continue;
                }
                let rec = self.subscriber(index);
                rec.state.store(state::CLAIMING, Ordering::Relaxed);
                rec.pid.store(sys::pid(), Ordering::Relaxed);
                rec.node.set(node);
                rec.claims.fetch_add(1, Ordering::Relaxed);
                for h in rec.hazards.iter() {
                    h.store(0, Ordering::Release);
                }
                rec.received.store(0, Ordering::Relaxed);
                rec.dropped.store(0, Ordering::Relaxed);
                rec.corrupt.store(0, Ordering::Relaxed);
                let active = self.members().publishers.load(Ordering::SeqCst);
                for lane in 0..self.config.max_publishers as usize {
                    let head = self.publisher(lane).head.load(Ordering::Acquire).max(1);
                    let cursor = position(lane, head, active & (1 << lane) != 0);
                    rec.cursors[lane].store(cursor, Ordering::Release);
                }
                let bit = 1u64 << index;
                let m = self.members();
                m.sleepers.fetch_and(!bit, Ordering::SeqCst);
                m.reliable.fetch_and(!bit, Ordering::SeqCst);
                // Member first: a joiner killed after this is reaped like
                // any dead subscriber (a reliable bit alone would not be).
                m.subscribers.fetch_or(bit, Ordering::SeqCst);
                if reliable {
                    self.become_reliable(index);
                }
                rec.state.store(state::ACTIVE, Ordering::Release);
                return Ok(index);
            }
            Err(OpenError::TooManyParticipants {
                topic: self.config.topic_name(),
                kind: "subscribers",
                max: self.config.max_subscribers,
            })
        })
    }

    /// Removes the segment's file if no participant holds a record and
    /// nobody is joining (the admin lock is free: tried, never waited for);
    /// returns whether it did. The rule of `remove_if_unused`, for a
    /// segment already open: after the last participant leaves, and for a
    /// segment an earlier run left behind.
    pub fn remove_if_abandoned(&self) -> bool {
        if !self.writable || !matches!(self.file.try_lock(ADMIN_LOCK, true), Ok(true)) {
            return false;
        }
        let removed = matches!(
            unlink_if_unheld(&self.file, &self.path, &self.info),
            Ok(Removal::Removed)
        );
        let _ = self.file.unlock(ADMIN_LOCK);
        removed
    }

    /// Makes subscriber `index` (a member, cursors set) reliable, so that
    /// from now on no publisher overwrites a sample it has not read.
    ///
    /// Publishers check reliable readers at loan time and cache the smallest
    /// cursor (`publisher.rs`, `check_room`), so a joiner must (1) tell them
    /// the set changed: `joins` is bumped after the bit, and a publisher
    /// whose cached `joins` differs reads the cursors again; and (2) not
    /// count on samples a publisher may overwrite without having seen that:
    /// loans checked before it saw the bump. The fences make that set
    /// small: either a publisher's loan check (after the fence each send
    /// ends with, in `notify_sleepers`) sees the bump, or our load of its
    /// `head` below sees every send before that fence. So at most the
    /// `max_loans` loans then outstanding, sequence numbers `head ..
    /// head + max_loans`, can be sent unchecked, overwriting samples below
    /// `head + max_loans - depth`: the cursor starts at least there. Those
    /// samples were published before this join completed; a volatile
    /// reader never expected them, a transient-local one gets less history.
    /// The floor never passes `head` itself, so with `depth < max_loans` a
    /// loan checked before the join and sent after it can still overwrite
    /// a sample the joiner has not read (it counts it as dropped).
    fn become_reliable(&self, index: usize) {
        let m = self.members();
        let rec = self.subscriber(index);
        m.reliable.fetch_or(1 << index, Ordering::SeqCst);
        // SYNC POINT G (Release, as part of SeqCst): pairs with the
        // publisher's Acquire load of `joins` in `check_room`: a publisher
        // that sees the bump sees the reliable bit and the cursors.
        m.joins.fetch_add(1, Ordering::SeqCst);
        // SYNC POINT H (joiner's fence): pairs with the fence that ends
        // every send (`wake::notify_sleepers`): store-buffering, as above.
        crate::sync::fence(Ordering::SeqCst);
        let c = &self.config;
        for lane in 0..c.max_publishers as usize {
            let head = self.publisher(lane).head.load(Ordering::SeqCst);
            // Never beyond `head`: samples published after the join are this
            // reader's (with `depth < max_loans`, one loan checked before
            // the join can still overwrite one of them: counted as dropped).
            // `head` is shared memory a hostile process may have set near
            // u64::MAX: saturate rather than overflow (found by fuzzing).
            let floor = head
                .saturating_add(c.max_loans as u64)
                .saturating_sub(c.depth as u64)
                .min(head);
            if rec.cursors[lane].load(Ordering::Relaxed) < floor {
                rec.cursors[lane].store(floor, Ordering::Release);
            }
        }
    }

    /// Gives subscriber record `index` up; the last participant to leave
    /// removes the file.
    pub fn release_subscriber(&self, index: usize) {
        self.clear_subscriber(index);
        let _ = self.file.unlock(subscriber_lock(index));
        self.remove_if_abandoned();
    }

    fn clear_subscriber(&self, index: usize) {
        let rec = self.subscriber(index);
        let bit = !(1u64 << index);
        let m = self.members();
        m.reliable.fetch_and(bit, Ordering::SeqCst);
        m.subscribers.fetch_and(bit, Ordering::SeqCst);
        m.sleepers.fetch_and(bit, Ordering::SeqCst);
        for h in rec.hazards.iter() {
            crate::protocol::release(h);
        }
        rec.state.store(state::FREE, Ordering::Release);
    }

    /// Whether a live process owns publisher lane `lane` (never call for your own lane).
    pub fn publisher_alive(&self, lane: usize) -> bool {
        self.file
            .is_locked_by_other(publisher_lock(lane))
            .unwrap_or(true)
    }

    /// Whether a live process owns subscriber record `index` (never call for your own record).
    pub fn subscriber_alive(&self, index: usize) -> bool {
        self.file
            .is_locked_by_other(subscriber_lock(index))
            .unwrap_or(true)
    }

    /// Cleans up the records of dead participants (except `own_*`); returns
    /// how many it reaped.
    pub fn reap_dead(&self, own_lane: Option<usize>, own_sub: Option<usize>) -> usize {
        if !self.writable {
            return 0;
        }
        let mut reaped = 0;
        let m = self.members();
        // A reliable or sleeper bit without the member bit is a stray (a
        // hostile write): reaped too, or it would hold publishers `Full`.
        let subs = m.subscribers.load(Ordering::SeqCst)
            | m.reliable.load(Ordering::SeqCst)
            | m.sleepers.load(Ordering::SeqCst);
        for index in bits(subs) {
            if Some(index) == own_sub || index >= self.config.max_subscribers as usize {
                continue;
            }
            if let Ok(true) = self.file.try_lock(subscriber_lock(index), true) {
                // Nobody held it: the owner is dead. We own it for a moment.
                self.clear_subscriber(index);
                let _ = self.file.unlock(subscriber_lock(index));
                reaped += 1;
            }
        }
        let pubs = m.publishers.load(Ordering::SeqCst);
        for lane in bits(pubs) {
            if Some(lane) == own_lane || lane >= self.config.max_publishers as usize {
                continue;
            }
            if let Ok(true) = self.file.try_lock(publisher_lock(lane), true) {
                self.publisher(lane)
                    .state
                    .store(state::FREE, Ordering::Release);
                m.publishers.fetch_and(!(1u64 << lane), Ordering::SeqCst);
                let _ = self.file.unlock(publisher_lock(lane));
                reaped += 1;
            }
        }
        reaped
    }
}

/// One lane of a segment, located once by [`Segment::lane_view`] (the lane
/// index checked then): the hot path reaches its ring, `head` and slots with
/// one multiply at most, instead of an offset computation from the layout
/// and a bounds assertion per access. Slot indices are still checked
/// ([`LaneView::slot_header`]) unless the caller proves them in range
/// (`_unchecked`, for a publisher's own slot lists).
#[derive(Debug, Clone, Copy)]
pub struct LaneView {
    ring: *const AtomicU64,
    depth: u64,
    /// `depth - 1` for a power-of-two depth (a mask: the default history is
    /// 8, and 1 is a power of two), else `u64::MAX` (a division).
    mask: u64,
    head: *const AtomicU64,
    /// Slot 0's header.
    slots: *mut u8,
    slot_stride: usize,
    slots_per_lane: u32,
}

// SAFETY: a `LaneView` is a set of addresses of atomics and payload bytes in a
// shared mapping (which is `Send + Sync` itself); what may be done through
// them is the protocol's business, from any thread, while the segment lives
// (the contract of `Segment::lane_view`).
unsafe impl Send for LaneView {}
// SAFETY: as for `Send`: only shared references to atomics are handed out.
unsafe impl Sync for LaneView {}

impl LaneView {
    /// Ring entries (the topic's history depth).
    #[inline(always)]
    pub fn depth(&self) -> u64 {
        self.depth
    }

    /// Slots in the lane.
    #[inline(always)]
    pub fn slots(&self) -> u32 {
        self.slots_per_lane
    }

    /// The ring position of sequence number `seq` (`protocol::ring_index`,
    /// with the power-of-two test done once).
    #[inline(always)]
    pub fn index(&self, seq: u64) -> usize {
        let i = if self.mask != u64::MAX {
            seq & self.mask
        } else {
            seq % self.depth
        };
        debug_assert_eq!(i as usize, crate::protocol::ring_index(seq, self.depth));
        i as usize
    }

    /// The ring.
    #[inline(always)]
    pub fn ring(&self) -> &[AtomicU64] {
        // SAFETY: `depth` consecutive, 8-aligned `AtomicU64`s inside the
        // mapping (`Segment::ring`), alive while the segment is (the view's
        // contract).
        unsafe { std::slice::from_raw_parts(self.ring, self.depth as usize) }
    }

    /// The ring entry of sequence number `seq`.
    #[inline(always)]
    pub fn entry(&self, seq: u64) -> &AtomicU64 {
        // SAFETY: `index` is below `depth` (a mask of a power-of-two depth,
        // or a remainder), so the entry is one of the ring's (see `ring`).
        unsafe { &*self.ring.add(self.index(seq)) }
    }

    /// The lane's `head`.
    #[inline(always)]
    pub fn head(&self) -> &AtomicU64 {
        // SAFETY: the publisher record's `head`, inside the mapping, alive
        // while the segment is (the view's contract).
        unsafe { &*self.head }
    }

    /// Header of `slot` (`slot < slots`, asserted: for indices read from
    /// shared memory, which callers check first anyway).
    #[inline(always)]
    pub fn slot_header(&self, slot: u32) -> &SlotHeader {
        assert!(slot < self.slots_per_lane);
        // SAFETY: just checked.
        unsafe { self.slot_header_unchecked(slot) }
    }

    /// Header of `slot` without the bounds check.
    ///
    /// # Safety
    /// `slot < slots()`.
    #[inline(always)]
    pub unsafe fn slot_header_unchecked(&self, slot: u32) -> &SlotHeader {
        debug_assert!(slot < self.slots_per_lane);
        // SAFETY: `slot < slots_per_lane` (the caller's contract), so the
        // header lies in the lane's slot area inside the mapping (`Layout`),
        // 64-aligned; alive while the segment is (the view's contract).
        unsafe { &*(self.slots.add(slot as usize * self.slot_stride) as *const SlotHeader) }
    }

    /// Pointer to the payload of `slot`, without a bounds check;
    /// `slot_payload` bytes, 32-aligned.
    ///
    /// # Safety
    /// `slot < slots()`.
    #[inline(always)]
    pub unsafe fn payload_ptr_unchecked(&self, slot: u32) -> *mut u8 {
        debug_assert!(slot < self.slots_per_lane);
        // SAFETY: `slot < slots_per_lane` (the caller's contract): the slot's
        // header and its `slot_payload` bytes lie inside the mapping.
        unsafe {
            self.slots
                .add(slot as usize * self.slot_stride + SLOT_HEADER)
        }
    }

    /// Starts fetching `slot`'s first line; nothing for a slot out of range
    /// (a pure performance hint: no memory effect).
    #[inline(always)]
    pub fn prefetch(&self, slot: u64) {
        if slot >= self.slots_per_lane as u64 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `slot` is in range, so the address is inside the mapping,
        // and a prefetch neither faults nor changes memory.
        unsafe {
            let p = self.slots.add(slot as usize * self.slot_stride) as *const i8;
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p);
        }
    }
}

/// A record of a segment located once ([`Segment::subscriber_view`]).
pub struct Located<T> {
    ptr: *const T,
}

impl<T> std::fmt::Debug for Located<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Located").field("ptr", &self.ptr).finish()
    }
}

// SAFETY: the address of a `Sync` value (atomics) in a shared mapping, alive
// while its segment is (the constructor's contract).
unsafe impl<T: Sync> Send for Located<T> {}
// SAFETY: as for `Send`: only shared references are handed out.
unsafe impl<T: Sync> Sync for Located<T> {}

impl<T> Located<T> {
    /// The record.
    #[inline(always)]
    pub fn get(&self) -> &T {
        // SAFETY: made from a reference into the mapping, which outlives the
        // `Located` (the constructor's contract).
        unsafe { &*self.ptr }
    }
}

/// Bytes of the segment `spec` would create, if it is representable.
pub(crate) fn segment_size(spec: &TopicSpec) -> Option<u64> {
    let config = spec.config().ok()?;
    Layout::compute(&config).map(|l| l.total as u64)
}

/// How old an unlocked temporary file must be before it counts as left by a
/// creator that died (a creator locks its file right after creating it and
/// holds the lock until the file is published or removed).
pub const TEMPORARY_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// What [`remove_temporary_if_abandoned`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Temporary {
    /// Abandoned: removed (or, in a dry run, would have been).
    Removed,
    /// Younger than [`TEMPORARY_GRACE`]: its creator may not have locked it yet.
    Recent,
    /// Its creator holds it locked: a creation in progress.
    InUse,
    /// Gone meanwhile (published or removed by someone else).
    Vanished,
}

/// The one rule for a temporary file (`<prefix>~tmp.<pid>.<n>`): it was left
/// by a creator killed between creating a segment and publishing it when it
/// is older than [`TEMPORARY_GRACE`] and nobody holds its admin lock. Used by
/// every segment creation (for its domain) and by `axon clean`.
pub(crate) fn remove_temporary_if_abandoned(path: &Path, dry_run: bool) -> io::Result<Temporary> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Temporary::Vanished),
        Err(e) => return Err(e),
    };
    let age = meta
        .modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or_default();
    if age < TEMPORARY_GRACE {
        return Ok(Temporary::Recent);
    }
    let file = match SegmentFile::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Temporary::Vanished),
        Err(e) => return Err(e),
    };
    if !file.try_lock(ADMIN_LOCK, true)? {
        return Ok(Temporary::InUse);
    }
    if dry_run {
        return Ok(Temporary::Removed);
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(Temporary::Removed),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Temporary::Vanished),
        Err(e) => Err(e),
    }
}

/// Removes the abandoned temporary files of `prefix` in `dir` (see
/// [`remove_temporary_if_abandoned`]). Returns how many.
pub(crate) fn remove_stale_temporaries(dir: &Path, prefix: &str) -> usize {
    let stem = format!("{prefix}~tmp.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&stem))
        .filter(|e| {
            matches!(
                remove_temporary_if_abandoned(&e.path(), false),
                Ok(Temporary::Removed)
            )
        })
        .count()
}

/// What [`remove_if_unused`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// No participant held a record lock: the file was removed (or, in a
    /// dry run, would have been).
    Removed,
    /// A live participant holds a record lock (or a joiner held the admin
    /// lock throughout): left alone.
    InUse,
    /// The path named another file (replaced meanwhile) or nothing: left alone.
    Replaced,
}

/// Removes the segment file at `path` when no participant is alive, by the
/// same rule as replacing an unusable segment: under the exclusive admin
/// lock, only if no record lock is held, and only if `path` still names the
/// file that was checked. Works on files whose header is corrupted or of
/// another layout version (nothing in the header is read). A dry run only
/// looks (`F_OFD_GETLK`) and never takes a lock or removes anything.
///
/// The admin lock is tried, not waited for: joiners hold it for
/// microseconds, so if it stays taken for about a second the segment counts
/// as in use.
pub(crate) fn remove_if_unused(path: &Path, dry_run: bool) -> io::Result<Removal> {
    let file = if dry_run {
        SegmentFile::open_read_only(path)?
    } else {
        SegmentFile::open(path)?
    };
    let info = file.info()?;
    if dry_run {
        return Ok(if any_record_locked(&file)? {
            Removal::InUse
        } else {
            Removal::Removed
        });
    }
    let mut locked = false;
    for _ in 0..100 {
        if file.try_lock(ADMIN_LOCK, true)? {
            locked = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if !locked {
        return Ok(Removal::InUse);
    }
    unlink_if_unheld(&file, path, &info) // the admin lock goes with `file`
}

/// The last step of every removal of a segment (replacing an unusable one,
/// the last participant leaving, `axon clean`), with the admin lock held
/// exclusive: unlinks `path` only if no record lock is held and `path`
/// still names the file `info` describes.
fn unlink_if_unheld(file: &SegmentFile, path: &Path, info: &FileInfo) -> io::Result<Removal> {
    if any_record_locked(file)? {
        return Ok(Removal::InUse);
    }
    if !sys::same_file(path, info) {
        return Ok(Removal::Replaced);
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(Removal::Removed),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Removal::Replaced),
        Err(e) => Err(e),
    }
}

/// Indices of the set bits of `mask`.
#[inline]
pub(crate) fn bits(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if mask == 0 {
            None
        } else {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            Some(i)
        }
    })
}

fn any_record_locked(file: &SegmentFile) -> io::Result<bool> {
    file.is_range_locked_by_other(1, (layout::MAX_PUBLISHERS + layout::MAX_SUBSCRIBERS) as u64)
}

/// `ENOSPC` on `dir` becomes `NoSpace` (with what is free), anything else `Io` on `path`.
fn space_or_io(dir: &Path, path: &Path, e: io::Error, needed: u64) -> OpenError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        OpenError::NoSpace {
            dir: dir.to_path_buf(),
            needed,
            free: sys::free_space(dir).unwrap_or(0),
        }
    } else {
        OpenError::io(path, e)
    }
}
