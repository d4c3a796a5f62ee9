//! Receiving: find the next sample, protect its slot, read it where it lies.
//!
//! A subscriber owns one record of its topic's segment: its hazards (the
//! slots it is reading), its per-lane cursors and its counters. It polls
//! every lane that ever had a publisher, round-robin, so samples of a
//! publisher that has already left are still delivered.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Deref;

use axon_message::{Message, ViewMeta};

use crate::error::{OpenError, RecvError};
use crate::names::{Domain, TopicName};
use crate::protocol::{self, Poll};
use crate::publisher::TypeDesc;
use crate::qos::{Durability, Qos, Reliability};
use crate::segment::{bits, Segment};
use crate::sync::Ordering;

/// Where a sample came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleInfo {
    /// Sequence number within its publisher's lane (1, 2, ...).
    pub seq: u64,
    /// The publisher's lane index.
    pub publisher: usize,
    /// Publisher's `CLOCK_MONOTONIC` at send, in ns (see `axon::monotonic_ns`).
    pub sent_ns: u64,
    /// Trailing elements (0 for sized messages).
    pub elems: usize,
}

/// A subscriber that does not know its message type at compile time.
#[derive(Debug)]
pub struct RawSubscriber {
    seg: Segment,
    index: usize,
    cursors: Vec<Cell<u64>>,
    held: Cell<u32>,
    next_lane: Cell<usize>,
    received: Cell<u64>,
    dropped: Cell<u64>,
    corrupt: Cell<u64>,
}

/// A received sample, untyped: its slot stays protected until dropped.
#[derive(Debug)]
pub struct RawSample<'a> {
    sub: &'a RawSubscriber,
    hazard: usize,
    slot: u32,
    info: SampleInfo,
}

impl RawSubscriber {
    /// Opens (or creates) `topic` for type `desc` (or, with `desc == None`,
    /// opens an existing topic of any type: tools) and claims a record.
    pub fn create(
        domain: &Domain,
        topic: TopicName,
        desc: Option<&TypeDesc>,
        qos: &Qos,
        node: &str,
    ) -> Result<Self, OpenError> {
        qos.validate()?;
        let mut last = None;
        for _ in 0..4 {
            let seg = match desc {
                Some(d) => Segment::open_or_create(domain, &d.spec(topic.clone(), qos))?,
                None => Segment::open_existing(&domain.segment_path(&topic), true)?,
            };
            seg.reap_dead(None, None);
            let history = qos.history.min(seg.config.depth) as u64;
            let transient = qos.durability == Durability::TransientLocal;
            let position = |_lane: usize, head: u64, active: bool| {
                if transient && active {
                    head.saturating_sub(history).max(1)
                } else {
                    head
                }
            };
            let reliable = qos.reliability == Reliability::Reliable;
            match seg.claim_subscriber(node, reliable, position) {
                Ok(index) => {
                    let rec = seg.subscriber(index);
                    let cursors = (0..seg.config.max_publishers as usize)
                        .map(|l| Cell::new(rec.cursors[l].load(Ordering::Relaxed)))
                        .collect();
                    return Ok(RawSubscriber {
                        seg,
                        index,
                        cursors,
                        held: Cell::new(0),
                        next_lane: Cell::new(0),
                        received: Cell::new(0),
                        dropped: Cell::new(0),
                        corrupt: Cell::new(0),
                    });
                }
                Err(e @ OpenError::Replaced { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("loop ran"))
    }

    /// The topic's name.
    pub fn topic(&self) -> String {
        self.seg.config.topic_name()
    }

    /// The topic's message type name.
    pub fn type_name(&self) -> String {
        self.seg.config.type_name()
    }

    /// Samples received so far.
    pub fn received(&self) -> u64 {
        self.received.get()
    }

    /// Samples lost because this subscriber fell more than `history` behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Ring entries or slots that failed validation and were skipped.
    pub fn corrupt(&self) -> u64 {
        self.corrupt.get()
    }

    /// Number of publishers currently on the topic.
    pub fn publisher_count(&self) -> usize {
        self.seg
            .members()
            .publishers
            .load(Ordering::Relaxed)
            .count_ones() as usize
    }

    /// The next sample from any publisher, if one is there.
    pub fn try_recv(&self) -> Result<Option<RawSample<'_>>, RecvError> {
        let used = self.seg.members().used_lanes.load(Ordering::Acquire);
        if used == 0 {
            return Ok(None);
        }
        let lanes = self.cursors.len();
        let start = self.next_lane.get();
        // Round-robin over the used lanes, starting after the last one served.
        for lane in bits(used.rotate_right(start as u32)).map(|b| (b + start) % 64) {
            if lane >= lanes {
                continue;
            }
            if let Some(s) = self.recv_lane(lane)? {
                self.next_lane.set((lane + 1) % lanes);
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// The newest sample (of any publisher); older unread ones are skipped
    /// (not counted as dropped: the caller asked for the newest).
    pub fn latest(&self) -> Result<Option<RawSample<'_>>, RecvError> {
        let used = self.seg.members().used_lanes.load(Ordering::Acquire);
        let mut best: Option<RawSample<'_>> = None;
        for lane in bits(used).filter(|l| *l < self.cursors.len()) {
            let head = self.seg.publisher(lane).head.load(Ordering::Acquire);
            let cursor = self.cursors[lane].get();
            if head <= cursor {
                continue;
            }
            self.cursors[lane].set(cursor.max(head - 1));
            if best.is_some() && self.held.get().count_ones() + 1 > self.seg.config.max_held {
                break;
            }
            if let Some(s) = self.recv_lane(lane)? {
                if best
                    .as_ref()
                    .is_none_or(|b| s.info.sent_ns >= b.info.sent_ns)
                {
                    best = Some(s);
                }
            }
        }
        Ok(best)
    }

    fn recv_lane(&self, lane: usize) -> Result<Option<RawSample<'_>>, RecvError> {
        let c = &self.seg.config;
        let ring = self.seg.ring(lane);
        let rec = self.seg.subscriber(self.index);
        // Bounded: a publisher lapping us faster than we can read must not
        // keep us here; the next call continues.
        for _ in 0..8 {
            let cursor = self.cursors[lane].get();
            match protocol::poll(ring, cursor) {
                Poll::Empty => return Ok(None),
                Poll::Lapped => {
                    let head = self.seg.publisher(lane).head.load(Ordering::Acquire);
                    match protocol::resume_after_lap(head, cursor, c.depth as u64) {
                        Some(next) => {
                            self.count(&self.dropped, &rec.dropped, next - cursor);
                            self.set_cursor(lane, next);
                        }
                        None => {
                            // An entry that belongs to no lap of ours: garbage.
                            self.count(&self.corrupt, &rec.corrupt, 1);
                            return Ok(None);
                        }
                    }
                }
                Poll::Ready(entry) => {
                    let slot = protocol::entry_slot(entry);
                    if slot >= c.slots_per_lane {
                        self.count(&self.corrupt, &rec.corrupt, 1);
                        self.set_cursor(lane, cursor + 1);
                        continue;
                    }
                    let held = self.held.get();
                    if held.count_ones() >= c.max_held {
                        return Err(RecvError::TooManyHeld { max: c.max_held });
                    }
                    let hazard = held.trailing_ones() as usize;
                    let pos = (cursor % c.depth as u64) as usize;
                    let tag = protocol::hazard_tag(lane, slot);
                    if !protocol::protect(&rec.hazards[hazard], tag, &ring[pos], entry) {
                        continue; // overwritten meanwhile: poll again (it lapped us)
                    }
                    let hdr = self.seg.slot_header(lane, slot);
                    let seq = hdr.seq.load(Ordering::Relaxed);
                    let elems = hdr.elems.load(Ordering::Relaxed);
                    if seq != cursor || elems > c.max_elems {
                        protocol::release(&rec.hazards[hazard]);
                        self.count(&self.corrupt, &rec.corrupt, 1);
                        self.set_cursor(lane, cursor + 1);
                        continue;
                    }
                    self.held.set(held | 1 << hazard);
                    self.set_cursor(lane, cursor + 1);
                    self.count(&self.received, &rec.received, 1);
                    let info = SampleInfo {
                        seq,
                        publisher: lane,
                        sent_ns: hdr.stamp_ns.load(Ordering::Relaxed),
                        elems: elems as usize,
                    };
                    return Ok(Some(RawSample {
                        sub: self,
                        hazard,
                        slot,
                        info,
                    }));
                }
            }
        }
        Ok(None)
    }

    fn set_cursor(&self, lane: usize, cursor: u64) {
        self.cursors[lane].set(cursor);
        // SYNC POINT E (Release): pairs with the publisher's Acquire load in
        // `min_cursor`; the hazard for the sample before `cursor` is already set.
        self.seg.subscriber(self.index).cursors[lane].store(cursor, Ordering::Release);
    }

    fn count(&self, local: &Cell<u64>, shared: &crate::sync::AtomicU64, n: u64) {
        local.set(local.get() + n);
        shared.store(local.get(), Ordering::Relaxed);
    }

    fn release(&self, hazard: usize) {
        protocol::release(&self.seg.subscriber(self.index).hazards[hazard]);
        self.held.set(self.held.get() & !(1 << hazard));
    }

    /// Payload bytes of a sample in `slot` of `lane` with `elems` elements.
    fn payload(&self, lane: usize, slot: u32, elems: usize) -> &[u8] {
        let c = &self.seg.config;
        let len = (c.fixed_size + c.elem_size * elems as u64) as usize;
        let ptr = self.seg.payload_ptr(lane, slot);
        // SAFETY: (1) in bounds: `elems <= max_elems` was validated in
        // `recv_lane` and the slot's payload area holds `fixed_size +
        // elem_size * max_elems` bytes; (2) only called for a slot protected by
        // one of our hazards, so its owner does not reuse it until we release
        // it (protocol.rs); (3) the bytes are only read, and every message type
        // is `FromBytes`, so whatever a faulty or hostile peer writes there is
        // still a valid value.
        unsafe { std::slice::from_raw_parts(ptr as *const u8, len) }
    }
}

impl Drop for RawSubscriber {
    fn drop(&mut self) {
        self.seg.release_subscriber(self.index);
    }
}

impl<'a> RawSample<'a> {
    /// Where the sample came from.
    pub fn info(&self) -> SampleInfo {
        self.info
    }

    /// The payload bytes, where they lie in shared memory.
    pub fn bytes(&self) -> &'a [u8] {
        self.sub
            .payload(self.info.publisher, self.slot, self.info.elems)
    }
}

impl Drop for RawSample<'_> {
    fn drop(&mut self) {
        self.sub.release(self.hazard);
    }
}

/// Receives messages of type `T` from one topic. Create with `Node::subscriber`.
#[derive(Debug)]
pub struct Subscriber<T: Message + ?Sized> {
    raw: RawSubscriber,
    _type: PhantomData<fn() -> Box<T>>,
}

impl<T: Message + ?Sized> Subscriber<T> {
    pub(crate) fn from_raw(raw: RawSubscriber) -> Self {
        Subscriber {
            raw,
            _type: PhantomData,
        }
    }

    /// The untyped subscriber underneath.
    pub fn raw(&self) -> &RawSubscriber {
        &self.raw
    }

    /// The topic's name.
    pub fn topic(&self) -> String {
        self.raw.topic()
    }

    /// The next sample, if one is there; never blocks.
    pub fn try_recv(&self) -> Result<Option<Sample<'_, T>>, RecvError> {
        Ok(self.raw.try_recv()?.and_then(Sample::new))
    }

    /// The newest sample, skipping older unread ones.
    pub fn latest(&self) -> Result<Option<Sample<'_, T>>, RecvError> {
        Ok(self.raw.latest()?.and_then(Sample::new))
    }

    /// Samples received so far.
    pub fn received(&self) -> u64 {
        self.raw.received()
    }

    /// Samples lost by falling behind (best-effort only).
    pub fn dropped(&self) -> u64 {
        self.raw.dropped()
    }
}

/// A message read in place from shared memory. Derefs to `T`; the slot goes
/// back to its publisher when the sample is dropped.
pub struct Sample<'a, T: Message + ?Sized> {
    raw: RawSample<'a>,
    value: &'a T,
}

impl<'a, T: Message + ?Sized> Sample<'a, T> {
    fn new(raw: RawSample<'a>) -> Option<Self> {
        // Views fail only on a misaligned or short slot, which the segment's
        // validated layout rules out; if it happens anyway, the sample is
        // dropped (and its hazard released) rather than panicking.
        let value = <T::PointerMetadata as ViewMeta>::view::<T>(raw.bytes(), raw.info.elems);
        value.map(|value| Sample { raw, value })
    }

    /// Where the sample came from.
    pub fn info(&self) -> SampleInfo {
        self.raw.info
    }
}

impl<T: Message + ?Sized> Deref for Sample<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: Message + ?Sized + std::fmt::Debug> std::fmt::Debug for Sample<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sample")
            .field("info", &self.raw.info)
            .field("value", &self.value)
            .finish()
    }
}
