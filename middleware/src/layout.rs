//! The bytes of a topic segment.
//!
//! ```text
//! +--------------------+  0
//! | SegmentHeader      |  magic, version, checksummed TopicConfig, then
//! |                    |  the participant bitmasks (own cache line)
//! +--------------------+  layout.description
//! | type description   |  config.description_len bytes (desc::encode),
//! |                    |  immutable, padded to a line; may be empty
//! +--------------------+  layout.publishers
//! | PublisherRecord    |  x max_publishers: owner, head (own line), counters
//! +--------------------+  layout.subscribers
//! | SubscriberRecord   |  x max_subscribers: owner, hazards, cursors,
//! |                    |  counters, wake word (each on its own line)
//! +--------------------+  layout.lanes
//! | lane 0: ring       |  depth x u64 entries: (seq << 16) | slot
//! |         slots      |  slots_per_lane x (SlotHeader 32 B + payload)
//! | lane 1 ...         |
//! +--------------------+  layout.total
//! ```
//!
//! *Architecture invariants:*
//! - Shared memory holds only offsets and indices, never pointers. Every
//!   offset is *computed* by [`Layout::compute`] from the validated
//!   [`TopicConfig`]; nothing read from the segment later is used as an offset
//!   without a bounds check against it.
//! - The config is immutable after creation and covered by a checksum; an
//!   opener copies it out once, checks magic, version and checksum, and from
//!   then on uses only its private copy.
//! - Everything another process may write concurrently is an atomic; fields
//!   written by different processes live on different 128-byte lines (two
//!   64-byte lines: the adjacent-line prefetcher moves pairs).

use crate::sync::{AtomicU32, AtomicU64, Ordering};
use axon_message::Fingerprint;

/// First bytes of every segment.
pub const MAGIC: [u8; 8] = *b"AXONTOPC";
/// Bumped whenever the layout or the protocol changes incompatibly.
/// 3: slot headers are sealed and marked retired (protocol step 2').
/// 4: `Membership::joins` (reliable joins seen by publishers' caches).
/// 5: the type description after the header (`TopicConfig::description_len`).
pub const LAYOUT_VERSION: u32 = 5;
/// Cache-line padding unit.
pub const LINE: usize = 128;
/// Most publishers (lanes) a topic can have.
pub const MAX_PUBLISHERS: u32 = 32;
/// Most subscribers a topic can have (one bit each in a `u64` mask).
pub const MAX_SUBSCRIBERS: u32 = 64;
/// Most samples one subscriber can hold at once.
pub const MAX_HELD: u32 = 16;
/// Deepest history ring.
pub const MAX_DEPTH: u32 = 1 << 16;
/// Lanes larger than this reserve their slots' pages one slot at a time,
/// on first use, instead of all at once when a publisher claims the lane:
/// their memory follows the slots in use (large messages). Smaller lanes
/// are reserved whole (their slots circulate through fewer reclaims).
pub const LAZY_LANE_BYTES: usize = 4 << 20;
/// Slot indices are 16 bits in a ring entry; this value is never a slot.
pub const NO_SLOT: u32 = 0xFFFF;
/// Bytes of a slot before its payload.
pub const SLOT_HEADER: usize = 32;
/// Alignment the payload gets (slots are 64-aligned, payload at +32).
pub const PAYLOAD_ALIGN: usize = 32;

/// Participant state word values.
pub mod state {
    /// Nobody owns the record.
    pub const FREE: u32 = 0;
    /// An owner is filling it in.
    pub const CLAIMING: u32 = 1;
    /// In use.
    pub const ACTIVE: u32 = 2;
}

/// A fixed-capacity name in shared memory (node names, for tools).
#[repr(C)]
pub struct ShmName {
    len: AtomicU32,
    bytes: [AtomicU64; 8],
}

impl ShmName {
    /// Stores `s`, truncated to 64 bytes.
    pub fn set(&self, s: &str) {
        let b = s.as_bytes();
        let n = b.len().min(64);
        for (i, word) in self.bytes.iter().enumerate() {
            let mut chunk = [0u8; 8];
            for (j, c) in chunk.iter_mut().enumerate() {
                if i * 8 + j < n {
                    *c = b[i * 8 + j];
                }
            }
            word.store(u64::from_le_bytes(chunk), Ordering::Relaxed);
        }
        self.len.store(n as u32, Ordering::Release);
    }

    /// Reads it back (lossy on garbage, never panics).
    pub fn get(&self) -> String {
        let n = (self.len.load(Ordering::Acquire) as usize).min(64);
        let mut out = Vec::with_capacity(64);
        for word in &self.bytes {
            out.extend_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        out.truncate(n);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The immutable description of a topic, fixed by whoever created it.
/// Plain bytes (no padding), so tools and tests can read and forge one.
#[repr(C)]
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
    zerocopy::KnownLayout,
)]
pub struct TopicConfig {
    /// Message type name (`Schema::TYPE_NAME`), UTF-8, `type_name_len` bytes.
    pub type_name: [u8; 128],
    /// The topic's name, for tools.
    pub topic_name: [u8; 256],
    /// Used bytes of `type_name`.
    pub type_name_len: u32,
    /// Used bytes of `topic_name`.
    pub topic_name_len: u32,
    /// `Schema::FINGERPRINT` of the message type.
    pub fingerprint: u64,
    /// Bytes of a message with no trailing elements (its size, if sized).
    pub fixed_size: u64,
    /// Bytes per trailing element; 0 for sized messages.
    pub elem_size: u64,
    /// Most trailing elements a sample can have; 0 for sized messages.
    pub max_elems: u64,
    /// Payload capacity of a slot in bytes.
    pub slot_payload: u64,
    /// History ring length (keep-last-N).
    pub depth: u32,
    /// Publisher lanes.
    pub max_publishers: u32,
    /// Subscriber records.
    pub max_subscribers: u32,
    /// Samples one subscriber may hold at once.
    pub max_held: u32,
    /// Loans one publisher may hold at once.
    pub max_loans: u32,
    /// Slots per lane: depth + max_subscribers * max_held + max_loans + 1.
    pub slots_per_lane: u32,
    /// Creator's effective uid.
    pub owner_uid: u32,
    /// Bytes of the encoded type description (`axon_message::desc`) that
    /// follows the header, at most [`MAX_DESCRIPTION`]; 0: the creator did
    /// not know the type's description (a socket link's importer).
    pub description_len: u32,
}

/// Most bytes of a segment's type description (`desc::MAX_ENCODED`).
pub const MAX_DESCRIPTION: usize = axon_message::desc::MAX_ENCODED;

impl TopicConfig {
    /// The type name as text.
    pub fn type_name(&self) -> String {
        let n = (self.type_name_len as usize).min(self.type_name.len());
        String::from_utf8_lossy(&self.type_name[..n]).into_owned()
    }

    /// The topic name as text.
    pub fn topic_name(&self) -> String {
        let n = (self.topic_name_len as usize).min(self.topic_name.len());
        String::from_utf8_lossy(&self.topic_name[..n]).into_owned()
    }

    /// Bytes of a sample with `elems` trailing elements, as sent (no
    /// trailing padding): what links carry and tools read.
    #[inline]
    pub fn payload_len(&self, elems: usize) -> usize {
        (self.fixed_size + self.elem_size * elems as u64) as usize
    }

    /// Bytes a typed view of such a sample covers: the payload rounded up
    /// to the slot's payload alignment (a `{u64, [u8]}` with 3 bytes is 16
    /// bytes to zerocopy), which `slot_payload` always has room for.
    #[inline]
    pub fn view_len(&self, elems: usize) -> usize {
        let padded = self.payload_len(elems).next_multiple_of(PAYLOAD_ALIGN);
        padded.min(self.slot_payload as usize)
    }

    /// Slots a lane needs so that a loan never waits for best-effort readers
    /// that respect `max_held`: the ring holds `depth`, readers hold at most
    /// `max_subscribers * max_held`, the publisher `max_loans`, plus one.
    pub fn needed_slots(depth: u32, max_subscribers: u32, max_held: u32, max_loans: u32) -> u64 {
        depth as u64 + max_subscribers as u64 * max_held as u64 + max_loans as u64 + 1
    }

    /// Checks the numbers are in range and consistent; returns what is wrong.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.type_name_len as usize > self.type_name.len()
            || self.topic_name_len as usize > self.topic_name.len()
        {
            return Err("name length out of range");
        }
        if self.description_len as usize > MAX_DESCRIPTION {
            return Err("type description length out of range");
        }
        if !(1..=MAX_DEPTH).contains(&self.depth) {
            return Err("depth out of range");
        }
        if !(1..=MAX_PUBLISHERS).contains(&self.max_publishers) {
            return Err("max_publishers out of range");
        }
        if !(1..=MAX_SUBSCRIBERS).contains(&self.max_subscribers) {
            return Err("max_subscribers out of range");
        }
        if !(1..=MAX_HELD).contains(&self.max_held) || !(1..=64).contains(&self.max_loans) {
            return Err("max_held or max_loans out of range");
        }
        let need = Self::needed_slots(
            self.depth,
            self.max_subscribers,
            self.max_held,
            self.max_loans,
        );
        if self.slots_per_lane as u64 != need || need >= NO_SLOT as u64 {
            return Err("slot count inconsistent");
        }
        let payload = if self.elem_size == 0 {
            (self.max_elems == 0).then_some(self.fixed_size)
        } else {
            self.elem_size
                .checked_mul(self.max_elems)
                .and_then(|b| b.checked_add(self.fixed_size))
        };
        match payload {
            Some(p) if p <= self.slot_payload && self.slot_payload <= (1 << 40) => Ok(()),
            _ => Err("payload size inconsistent"),
        }
    }

    /// Checksum over every byte of the config.
    pub fn checksum(&self) -> u64 {
        let c = self;
        Fingerprint::new()
            .bytes(&c.type_name)
            .bytes(&c.topic_name)
            .u64(c.type_name_len as u64)
            .u64(c.topic_name_len as u64)
            .u64(c.fingerprint)
            .u64(c.fixed_size)
            .u64(c.elem_size)
            .u64(c.max_elems)
            .u64(c.slot_payload)
            .u64(c.depth as u64)
            .u64(c.max_publishers as u64)
            .u64(c.max_subscribers as u64)
            .u64(c.max_held as u64)
            .u64(c.max_loans as u64)
            .u64(c.slots_per_lane as u64)
            .u64(c.owner_uid as u64)
            .u64(c.description_len as u64)
            .finish()
    }
}

/// Bitmasks of who takes part, on their own line.
#[repr(C, align(128))]
pub struct Membership {
    /// Bit i: lane i has (or had, until cleaned up) a live publisher.
    pub publishers: AtomicU64,
    /// Bit j: subscriber record j is in use.
    pub subscribers: AtomicU64,
    /// Bit j: subscriber j is reliable (publishers must not overwrite what it has not read).
    pub reliable: AtomicU64,
    /// Bit j: subscriber j may be asleep and wants a wake-up (the wake-up issue).
    pub sleepers: AtomicU64,
    /// Bit i: lane i has ever had a publisher (never cleared): readers poll
    /// these lanes, so samples of a publisher that already left are still read.
    pub used_lanes: AtomicU64,
    /// Bumped by every subscriber that becomes reliable (after its bit):
    /// publishers re-read reliable cursors when it changed
    /// (`segment.rs`, `become_reliable`).
    pub joins: AtomicU64,
}

/// Start of every segment.
#[repr(C, align(128))]
pub struct SegmentHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`LAYOUT_VERSION`].
    pub version: u32,
    /// `size_of::<SegmentHeader>()` of the creator.
    pub header_size: u32,
    /// Total bytes of the segment.
    pub total_size: u64,
    /// [`TopicConfig::checksum`] of `config`.
    pub config_checksum: u64,
    /// What the topic is.
    pub config: TopicConfig,
    /// Who takes part.
    pub members: Membership,
}

/// A publisher's lane record.
#[repr(C, align(128))]
pub struct PublisherRecord {
    /// [`state`] value.
    pub state: AtomicU32,
    /// Owner's pid (informational; liveness is the record's lock).
    pub pid: AtomicU32,
    /// How many times the lane was claimed.
    pub claims: AtomicU64,
    /// Owner's node name.
    pub node: ShmName,
    /// Next sequence number to publish (first is 1). Written only by the
    /// owner, once per send; on its own line.
    pub head: Padded<AtomicU64>,
    /// Sends refused because a reliable subscriber was full.
    pub full_events: AtomicU64,
    /// Loans refused because no slot was free.
    pub loan_failures: AtomicU64,
}

/// A subscriber's record.
#[repr(C, align(128))]
pub struct SubscriberRecord {
    /// [`state`] value.
    pub state: AtomicU32,
    /// Owner's pid (informational).
    pub pid: AtomicU32,
    /// How many times the record was claimed.
    pub claims: AtomicU64,
    /// Owner's node name.
    pub node: ShmName,
    /// Slots this subscriber is reading: `(lane + 1) << 32 | slot`, 0 = none.
    /// Written only by the owner; publishers scan them before reusing a slot.
    pub hazards: Padded<[AtomicU64; MAX_HELD as usize]>,
    /// Per lane, the next sequence number this subscriber will read. Written
    /// only by the owner; publishers read them for reliable subscribers.
    pub cursors: Padded<[AtomicU64; MAX_PUBLISHERS as usize]>,
    /// Samples received.
    pub received: AtomicU64,
    /// Samples lost because the subscriber fell more than `depth` behind.
    pub dropped: AtomicU64,
    /// Ring entries or slots that failed validation (corruption), skipped.
    pub corrupt: AtomicU64,
    /// How this subscriber is woken when it sleeps (see `wake/mod.rs`).
    pub wake: WakeArea,
}

/// A subscriber's wake-up area, on its own line. Written by its owner (the
/// waiter) and by publishers that wake it; see `wake/mod.rs` for the protocol.
#[repr(C, align(128))]
pub struct WakeArea {
    /// Futex word: a publisher adds 1 (Release) before `FUTEX_WAKE`; the
    /// waiter sleeps on the value it read before announcing itself. Any
    /// value is valid (a corrupted word only causes a spurious wake-up).
    pub word: AtomicU32,
    /// Which mechanism the sleeper wants (`wake::MODE_*`); written by the
    /// owner before it sets its `Membership::sleepers` bit (Release), read by
    /// publishers after they see that bit. Unknown values mean futex.
    pub mode: AtomicU32,
    /// Reserved, zero.
    pub reserved: [AtomicU64; 3],
    /// Storage of a process-shared `sem_t` (semaphore mode), initialised by
    /// the owner with `sem_init(pshared = 1)` when it claims the record.
    pub sem: [AtomicU64; 8],
}

const _: () = assert!(std::mem::size_of::<WakeArea>() == LINE);

/// Header of a slot, written by the lane owner before it publishes the slot.
#[repr(C)]
pub struct SlotHeader {
    /// Sequence number of the sample in the slot, written last (the seal:
    /// readers polling this slot take the sample when it equals their
    /// cursor), with the top bit (`RETIRED`) set once the ring
    /// has displaced the slot (protocol.rs, step 2').
    pub seq: AtomicU64,
    /// Trailing elements of a slice message (0 for sized ones).
    pub elems: AtomicU64,
    /// Publisher's `CLOCK_MONOTONIC` at send, in ns.
    pub stamp_ns: AtomicU64,
    /// A hint, never trusted: the slot the lane's owner will most likely
    /// use for its next sample (`NO_SLOT`: no guess). Readers prefetch it
    /// while they poll, so the slot's cache line travels to them in parallel
    /// with the ring entry's instead of after it. Any value is harmless.
    pub next_slot: AtomicU64,
}

/// Pads its content to [`LINE`] bytes.
#[repr(C, align(128))]
pub struct Padded<T>(pub T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

const _: () = assert!(std::mem::size_of::<SlotHeader>() == SLOT_HEADER);
const _: () = assert!(std::mem::size_of::<SegmentHeader>() % LINE == 0);
const _: () = assert!(std::mem::size_of::<PublisherRecord>() % LINE == 0);
const _: () = assert!(std::mem::size_of::<SubscriberRecord>() % LINE == 0);

/// Offsets of everything in a segment, computed from a [`TopicConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Offset of the type description (`config.description_len` bytes).
    pub description: usize,
    /// Offset of publisher record 0.
    pub publishers: usize,
    /// Offset of subscriber record 0.
    pub subscribers: usize,
    /// Offset of lane 0.
    pub lanes: usize,
    /// Bytes per lane.
    pub lane_stride: usize,
    /// Offset of the slots within a lane (after the ring).
    pub slots_in_lane: usize,
    /// Bytes per slot.
    pub slot_stride: usize,
    /// Total bytes.
    pub total: usize,
}

fn round_up(x: usize, to: usize) -> Option<usize> {
    x.checked_add(to - 1).map(|v| v / to * to)
}

impl Layout {
    /// Computes the layout; `None` if it would overflow or exceed 1 TiB.
    pub fn compute(c: &TopicConfig) -> Option<Layout> {
        let description = std::mem::size_of::<SegmentHeader>();
        let publishers = round_up(description.checked_add(c.description_len as usize)?, LINE)?;
        let subscribers = publishers
            .checked_add(c.max_publishers as usize * std::mem::size_of::<PublisherRecord>())?;
        let lanes = subscribers
            .checked_add(c.max_subscribers as usize * std::mem::size_of::<SubscriberRecord>())?;
        let slots_in_lane = round_up(c.depth as usize * 8, LINE)?;
        let slot_stride = round_up(SLOT_HEADER.checked_add(c.slot_payload as usize)?, 64)?;
        let lane_stride = round_up(
            slots_in_lane.checked_add(slot_stride.checked_mul(c.slots_per_lane as usize)?)?,
            4096,
        )?;
        let total = lanes.checked_add(lane_stride.checked_mul(c.max_publishers as usize)?)?;
        (total <= 1 << 40).then_some(Layout {
            description,
            publishers,
            subscribers,
            lanes,
            lane_stride,
            slots_in_lane,
            slot_stride,
            total,
        })
    }

    /// Offset of publisher record `lane`.
    #[inline]
    pub fn publisher(&self, lane: usize) -> usize {
        self.publishers + lane * std::mem::size_of::<PublisherRecord>()
    }

    /// Offset of subscriber record `index`.
    #[inline]
    pub fn subscriber(&self, index: usize) -> usize {
        self.subscribers + index * std::mem::size_of::<SubscriberRecord>()
    }

    /// Offset of lane `lane`'s ring.
    #[inline]
    pub fn ring(&self, lane: usize) -> usize {
        self.lanes + lane * self.lane_stride
    }

    /// Offset of slot `slot` of lane `lane` (its header; payload follows).
    #[inline]
    pub fn slot(&self, lane: usize, slot: usize) -> usize {
        self.ring(lane) + self.slots_in_lane + slot * self.slot_stride
    }
}

/// Lock byte of the admin lock.
pub const ADMIN_LOCK: u64 = 0;

/// Lock byte owning publisher lane `lane`.
pub fn publisher_lock(lane: usize) -> u64 {
    1 + lane as u64
}

/// Lock byte owning subscriber record `index`.
pub fn subscriber_lock(index: usize) -> u64 {
    1 + MAX_PUBLISHERS as u64 + index as u64
}
