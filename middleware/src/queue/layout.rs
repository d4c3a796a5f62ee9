//! The bytes of a work-queue file.
//!
//! ```text
//! +----------------------+  0
//! | QueueHeader          |  magic "AXONQUEU", version, checksummed
//! |                      |  QueueConfig; then (own lines) the ticket
//! |                      |  counter, wake words, sleeper masks, counters
//! +----------------------+  layout.records
//! | ParticipantRecord    |  x max_participants: role, pid, node, counters
//! +----------------------+  layout.states
//! | slot words           |  capacity x u64 (`protocol.rs`), packed
//! +----------------------+  layout.slots
//! | slot 0: SlotMeta 32 B|  elems, send stamp, expiry, check; payload
//! | slot 1 ...           |  capacity x slot_stride
//! +----------------------+  layout.total
//! ```
//!
//! *Architecture invariants* (those of topic segments, `crate::layout`):
//! only offsets and indices, every offset computed by [`QueueLayout::compute`]
//! from the checksummed config copied out once; everything another process
//! writes later is an atomic whose every value is handled.

use crate::layout::{Padded, ShmName, LINE};
use crate::sync::{AtomicU32, AtomicU64};
use axon_message::Fingerprint;

/// First bytes of every queue file.
pub const MAGIC: [u8; 8] = *b"AXONQUEU";
/// Bumped whenever the layout or the protocol changes incompatibly.
/// 2: slot meta has the job's expiry and, in durable queues, its checksum
/// (a version-1 file is refused by name, not read with its jobs dropped).
pub const VERSION: u32 = 2;
/// Most job slots a queue can have.
pub const MAX_CAPACITY: u32 = 1 << 20;
/// Most participant records (producers and workers) per queue.
pub const MAX_PARTICIPANTS: u32 = super::protocol::MAX_OWNERS;
/// Bytes of a slot before its payload.
pub const SLOT_META: usize = 32;
/// Largest slot payload (1 GiB).
pub const MAX_SLOT_PAYLOAD: u64 = 1 << 30;

/// [`ParticipantRecord::role`] values.
pub mod role {
    /// Sends jobs.
    pub const PRODUCER: u32 = 1;
    /// Takes jobs.
    pub const WORKER: u32 = 2;
    /// Takes dead letters.
    pub const DEAD_LETTER_WORKER: u32 = 3;
}

/// The immutable description of a queue, fixed by its creator. Plain bytes.
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
pub struct QueueConfig {
    /// Job type name, `type_name_len` bytes of UTF-8.
    pub type_name: [u8; 128],
    /// The queue's name, for tools.
    pub queue_name: [u8; 256],
    /// Used bytes of `type_name`.
    pub type_name_len: u32,
    /// Used bytes of `queue_name`.
    pub queue_name_len: u32,
    /// `Schema::FINGERPRINT` of the job type.
    pub fingerprint: u64,
    /// Bytes of a job with no trailing elements.
    pub fixed_size: u64,
    /// Bytes per trailing element (0: sized jobs).
    pub elem_size: u64,
    /// Most trailing elements (0 for sized jobs).
    pub max_elems: u64,
    /// Payload bytes of a slot (a multiple of 32).
    pub slot_payload: u64,
    /// Job slots.
    pub capacity: u32,
    /// Participant records.
    pub max_participants: u32,
    /// Claims after which a requeued job becomes a dead letter.
    pub max_deliveries: u32,
    /// Creator's effective uid.
    pub owner_uid: u32,
    /// 1: a durable queue (a file on a real file system).
    pub durable: u32,
    /// Zero.
    pub reserved: u32,
}

impl QueueConfig {
    /// The type name as text.
    pub fn type_name(&self) -> String {
        let n = (self.type_name_len as usize).min(self.type_name.len());
        String::from_utf8_lossy(&self.type_name[..n]).into_owned()
    }

    /// The queue name as text.
    pub fn queue_name(&self) -> String {
        let n = (self.queue_name_len as usize).min(self.queue_name.len());
        String::from_utf8_lossy(&self.queue_name[..n]).into_owned()
    }

    /// Bytes of a job with `elems` trailing elements.
    pub fn payload_len(&self, elems: usize) -> usize {
        (self.fixed_size + self.elem_size * elems as u64) as usize
    }

    /// Bytes a typed view of such a job covers (rounded up to 32, within
    /// the slot).
    pub fn view_len(&self, elems: usize) -> usize {
        self.payload_len(elems)
            .next_multiple_of(32)
            .min(self.slot_payload as usize)
    }

    /// Checks ranges and consistency; says what is wrong.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.type_name_len as usize > self.type_name.len()
            || self.queue_name_len as usize > self.queue_name.len()
        {
            return Err("name length out of range");
        }
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            return Err("capacity out of range");
        }
        if !(1..=MAX_PARTICIPANTS).contains(&self.max_participants) {
            return Err("max_participants out of range");
        }
        if !(1..=super::protocol::MAX_DELIVERIES).contains(&self.max_deliveries) {
            return Err("max_deliveries out of range");
        }
        if self.durable > 1 || self.reserved != 0 {
            return Err("flags out of range");
        }
        let payload = if self.elem_size == 0 {
            (self.max_elems == 0).then_some(self.fixed_size)
        } else {
            self.elem_size
                .checked_mul(self.max_elems)
                .and_then(|b| b.checked_add(self.fixed_size))
        };
        match payload {
            Some(p)
                if p <= self.slot_payload
                    && self.slot_payload % 32 == 0
                    && self.slot_payload <= MAX_SLOT_PAYLOAD =>
            {
                Ok(())
            }
            _ => Err("payload size inconsistent"),
        }
    }

    /// Checksum over every byte of the config.
    pub fn checksum(&self) -> u64 {
        Fingerprint::new()
            .bytes(zerocopy::IntoBytes::as_bytes(self))
            .finish()
    }
}

/// Shared counters and wake-up words, written by everyone.
#[repr(C, align(128))]
pub struct QueueShared {
    /// Next ticket (`protocol.rs`); taken with `fetch_add` by producers.
    pub tail: Padded<AtomicU64>,
    /// Futex word workers sleep on; bumped after a job becomes READY.
    pub ready_word: AtomicU32,
    /// Futex word producers (waiting for room) sleep on; bumped after a
    /// slot becomes FREE.
    pub free_word: AtomicU32,
    /// Bit `i`: record `i` may sleep on `ready_word`.
    pub ready_sleepers: AtomicU64,
    /// Bit `i`: record `i` may sleep on `free_word`.
    pub free_sleepers: AtomicU64,
    /// Bit `i`: record `i` is in use (cleared by its owner or its reaper).
    pub members: AtomicU64,
    /// Jobs sent.
    pub sent: AtomicU64,
    /// Jobs acknowledged.
    pub acked: AtomicU64,
    /// Jobs requeued (nack, dropped delivery, dead worker).
    pub requeued: AtomicU64,
    /// Jobs moved to the dead letters.
    pub dead_lettered: AtomicU64,
    /// Sends refused because the queue was full.
    pub full: AtomicU64,
    /// Slot words or slot headers found invalid (corruption).
    pub corrupt: AtomicU64,
    /// Jobs dropped because their time to live ran out before delivery.
    pub expired: AtomicU64,
    /// Durable queues: the group-commit word (`protocol::commit`): syncs
    /// begun and the record running one. Went into the header's padding
    /// (zero, idle, in every older version-2 file).
    pub commit: AtomicU64,
    /// Futex word senders waiting for a running sync sleep on; bumped when
    /// a sync ends.
    pub commit_word: AtomicU32,
}

/// Start of every queue file.
#[repr(C, align(128))]
pub struct QueueHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`VERSION`].
    pub version: u32,
    /// `size_of::<QueueHeader>()`.
    pub header_size: u32,
    /// File size.
    pub total_size: u64,
    /// [`QueueConfig::checksum`] of `config`.
    pub config_checksum: u64,
    /// The immutable config.
    pub config: QueueConfig,
    /// Written by everyone.
    pub shared: QueueShared,
}

/// A participant's record; written only by its owner (and its reaper).
#[repr(C, align(128))]
pub struct ParticipantRecord {
    /// `crate::layout::state` value.
    pub state: AtomicU32,
    /// [`role`] value.
    pub role: AtomicU32,
    /// Owner's pid (informational).
    pub pid: AtomicU32,
    /// A worker's prefetch (most jobs held at once).
    pub prefetch: AtomicU32,
    /// How many times the record was claimed.
    pub claims: AtomicU64,
    /// Jobs this owner holds now (informational, for tools).
    pub in_flight: AtomicU64,
    /// Jobs sent (producer) or acknowledged (worker) by this owner.
    pub done: AtomicU64,
    /// Owner's node name.
    pub node: ShmName,
}

/// Header of a job slot; written by the producer before `publish`.
#[repr(C)]
pub struct SlotMeta {
    /// Trailing elements of a slice job (0 for sized ones).
    pub elems: AtomicU64,
    /// Producer's `CLOCK_MONOTONIC` at send, ns.
    pub stamp_ns: AtomicU64,
    /// When the job expires (`CLOCK_REALTIME`, ns since the Unix epoch, so
    /// it means the same after a reboot); 0: never.
    pub expires_ns: AtomicU64,
    /// Durable queues: a checksum binding the job to its state word (its
    /// ticket, element count, expiry and payload bytes), written before the
    /// slot is published and checked at every claim: a slot whose bytes are
    /// not those of the job its word names (a torn copy, a power cut
    /// between an ack and the page write-back, a scribbler) is dropped and
    /// counted as corrupt, never delivered. Transient queues: zero.
    pub check: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<SlotMeta>() == SLOT_META);
const _: () = assert!(std::mem::size_of::<QueueHeader>() % LINE == 0);
// The `expired` counter and the commit words went into the header's padding.
const _: () = assert!(std::mem::size_of::<QueueHeader>() == 768);
const _: () = assert!(std::mem::size_of::<ParticipantRecord>() % LINE == 0);

/// Offsets of everything in a queue file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLayout {
    /// Offset of record 0.
    pub records: usize,
    /// Offset of slot word 0.
    pub states: usize,
    /// Offset of slot 0's meta.
    pub slots: usize,
    /// Bytes per slot.
    pub slot_stride: usize,
    /// Total bytes.
    pub total: usize,
}

fn round_up(x: usize, to: usize) -> Option<usize> {
    x.checked_add(to - 1).map(|v| v / to * to)
}

impl QueueLayout {
    /// Computes the layout; `None` on overflow or beyond 1 TiB.
    pub fn compute(c: &QueueConfig) -> Option<QueueLayout> {
        let records = std::mem::size_of::<QueueHeader>();
        let states = records.checked_add(
            (c.max_participants as usize).checked_mul(std::mem::size_of::<ParticipantRecord>())?,
        )?;
        let slots = round_up(
            states.checked_add((c.capacity as usize).checked_mul(8)?)?,
            4096,
        )?;
        let slot_stride = round_up(SLOT_META.checked_add(c.slot_payload as usize)?, 64)?;
        let total = round_up(
            slots.checked_add(slot_stride.checked_mul(c.capacity as usize)?)?,
            4096,
        )?;
        (total <= 1 << 40).then_some(QueueLayout {
            records,
            states,
            slots,
            slot_stride,
            total,
        })
    }

    /// Offset of record `i`.
    pub fn record(&self, i: usize) -> usize {
        self.records + i * std::mem::size_of::<ParticipantRecord>()
    }

    /// Offset of slot `i`'s meta (its payload follows).
    pub fn slot(&self, i: usize) -> usize {
        self.slots + i * self.slot_stride
    }
}

/// Lock byte owning record `i` (byte 0 is reserved).
pub fn record_lock(i: usize) -> u64 {
    1 + i as u64
}
