//! Publishing: loan a slot, write in place, send.
//!
//! A publisher owns one *lane* of its topic's segment: a ring and a pool of
//! slots nobody else writes. The free list is private to the process (it is
//! rebuilt from the ring and the hazards when a lane is taken over after a
//! crash). See `protocol.rs` for the lock-free part.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use axon_message::{Description, Message, ViewMeta};
use zerocopy::KnownLayout;

use crate::error::{LoanError, OpenError};
use crate::layout::NO_SLOT;
use crate::names::{Domain, TopicName};
use crate::protocol;
use crate::qos::Qos;
use crate::segment::{bits, LaneView, Segment, TopicSpec};
use crate::sync::Ordering;

/// The shape of a message type, as a segment records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDesc {
    /// `Schema::TYPE_NAME`.
    pub name: String,
    /// `Schema::FINGERPRINT`.
    pub fingerprint: u64,
    /// Bytes with no trailing elements (the size, if sized).
    pub fixed_size: u64,
    /// Bytes per trailing element, 0 if sized.
    pub elem_size: u64,
    /// What the bytes mean, field by field ([`Description::of`]): a
    /// segment created for this type carries it, so tools can read any
    /// type. `None` when the creator does not know it (a socket link's
    /// importer, which learns only name, fingerprint and sizes).
    pub description: Option<Description>,
}

impl TypeDesc {
    /// The description of `T`.
    pub fn of<T: Message + ?Sized>() -> Self {
        let meta_size = |n| <T::PointerMetadata as ViewMeta>::size_for::<T>(n).unwrap_or(0);
        let fixed = meta_size(0) as u64;
        let elem_size = if <T::PointerMetadata as ViewMeta>::IS_SLICE {
            // size_for rounds up to the alignment; the difference of two large
            // counts divided by their distance is the exact element size.
            (meta_size(1024) as u64 - meta_size(0) as u64) / 1024
        } else {
            0
        };
        TypeDesc {
            name: T::TYPE_NAME.to_string(),
            fingerprint: T::FINGERPRINT,
            fixed_size: fixed,
            elem_size,
            description: Some(Description::of::<T>()),
        }
    }

    pub(crate) fn spec(&self, topic: TopicName, qos: &Qos) -> TopicSpec {
        let max_elems = if self.elem_size == 0 {
            0
        } else {
            qos.max_len.map(|n| n as u64).unwrap_or_else(|| {
                (crate::qos::DEFAULT_SLICE_BYTES as u64)
                    .checked_div(self.elem_size)
                    .unwrap_or(0)
            })
        };
        TopicSpec {
            topic,
            description: self.description.as_ref().map(Description::encode),
            type_name: self.name.clone(),
            fingerprint: self.fingerprint,
            fixed_size: self.fixed_size,
            elem_size: self.elem_size,
            max_elems,
            max_elems_required: qos.max_len.is_some(),
            depth: qos.history.unwrap_or(crate::qos::DEFAULT_HISTORY),
            depth_required: qos.history.is_some(),
            max_publishers: qos.max_publishers,
            max_subscribers: qos.max_subscribers,
            max_held: qos.max_held,
            max_loans: qos.max_loans,
            mode: qos.mode,
            allow_foreign: qos.allow_other_users,
            declared: None,
        }
    }
}

/// Process-private state of a lane's owner.
#[derive(Debug)]
struct LaneState {
    /// Slots nobody can reach: not in the ring, not hazarded, not loaned.
    free: Vec<u32>,
    /// Slots displaced from the ring that a reader may still hold.
    retired: Vec<u32>,
    /// Slot at each ring position (`NO_SLOT` if none).
    in_ring: Vec<u32>,
    /// Loans handed out and not yet sent or dropped.
    loans: u32,
    /// Sequence number of the next send.
    next_seq: u64,
    /// Smallest reliable-subscriber cursor seen (a subscriber's cursor only
    /// grows; a new reliable subscriber bumps `Membership::joins`).
    min_reliable_cursor: u64,
    /// `Membership::joins` when `min_reliable_cursor` was read.
    joins_seen: u64,
    /// Scratch: which slots the last hazard scan found.
    hazarded: Vec<bool>,
    /// Slots whose pages this owner has reserved (`Segment::reserve_slot`):
    /// all of them in a lane reserved whole at claim.
    reserved: Vec<bool>,
    /// Large lanes: slots never sealed, not yet handed out; `refill` moves
    /// them to `free` only when a reclaim gives back too few.
    fresh: Vec<u32>,
    /// Last time dead readers were looked for.
    last_reap: Option<Instant>,
}

/// A publisher that does not know its message type at compile time (links,
/// tools). Typed code uses [`Publisher`].
#[derive(Debug)]
pub struct RawPublisher {
    seg: Segment,
    lane: usize,
    /// `seg`'s lane `lane`, located once (lives and dies with `seg`).
    view: LaneView,
    state: RefCell<LaneState>,
    /// Unique in the process: which publisher a [`HeldLoan`] belongs to.
    id: u64,
}

/// Source of [`RawPublisher`] ids.
static NEXT_PUBLISHER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl RawPublisher {
    /// Opens (or creates) `topic` in `domain` for type `desc` and claims a lane.
    pub fn create(
        domain: &Domain,
        topic: TopicName,
        desc: &TypeDesc,
        qos: &Qos,
        node: &str,
    ) -> Result<Self, OpenError> {
        Self::create_declared(domain, topic, desc, qos, node, None)
    }

    /// [`RawPublisher::create`] with what a launch file's declaration decided.
    pub(crate) fn create_declared(
        domain: &Domain,
        topic: TopicName,
        desc: &TypeDesc,
        qos: &Qos,
        node: &str,
        declared: Option<&crate::declared::Applied>,
    ) -> Result<Self, OpenError> {
        qos.validate()?;
        let mut spec = desc.spec(topic, qos);
        spec.declared = declared.cloned();
        let mut last = None;
        for _ in 0..4 {
            let seg = Segment::open_or_create(domain, &spec)?;
            seg.reap_dead(None, None);
            match seg.claim_publisher(node) {
                Ok(lane) => return Ok(Self::with_lane(seg, lane)),
                Err(e @ OpenError::Replaced { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("loop ran"))
    }

    fn with_lane(seg: Segment, lane: usize) -> Self {
        let c = seg.config;
        let slots = c.slots_per_lane;
        let ring = seg.ring(lane);
        let mut in_ring = vec![NO_SLOT; c.depth as usize];
        let mut used = vec![false; slots as usize];
        for (pos, entry) in ring.iter().enumerate() {
            let e = entry.load(Ordering::Acquire);
            let slot = protocol::entry_slot(e);
            if e != 0 && slot < slots && !used[slot as usize] {
                in_ring[pos] = slot;
                used[slot as usize] = true;
            }
        }
        let head = &seg.publisher(lane).head;
        // A head past MAX_TAKEOVER_SEQ can only be hostile (2^62 sends take
        // 146 years at one a nanosecond); continuing below it keeps every
        // later `seq + 1` from overflowing.
        let mut next_seq = head
            .load(Ordering::Acquire)
            .clamp(1, protocol::MAX_TAKEOVER_SEQ);
        // A previous owner killed inside a send: finish that send, so that
        // readers that already took the sample (from the ring, or from the
        // sealed slot, protocol step 2') and readers that take it later see
        // the same sample under the same sequence number.
        if let Some(slot) = interrupted_send(&seg, lane, next_seq, &used) {
            let pos = protocol::publish(ring, head, next_seq, slot);
            if in_ring[pos] != NO_SLOT {
                used[in_ring[pos] as usize] = false;
            }
            in_ring[pos] = slot;
            used[slot as usize] = true;
            next_seq += 1;
        }
        // Slots outside the ring get the retired mark before the first
        // reclaim's fence (protocol step 2'), whatever the previous owner
        // managed to write.
        for s in (0..slots).filter(|s| !used[*s as usize]) {
            let seq = &seg.slot_header(lane, s).seq;
            let v = seq.load(Ordering::Relaxed);
            // 0: never sealed, so no cursor (>= 1) matches it; and not
            // writing it leaves a slot never used unallocated.
            if v != 0 && v & protocol::RETIRED == 0 {
                protocol::retire(seq, v);
            }
        }
        let lazy = seg.layout.lane_stride > crate::layout::LAZY_LANE_BYTES;
        let never_sealed = |s: u32| seg.slot_header(lane, s).seq.load(Ordering::Relaxed) == 0;
        let (fresh, retired): (Vec<u32>, Vec<u32>) = (0..slots)
            .rev()
            .filter(|s| !used[*s as usize])
            .partition(|s| lazy && never_sealed(*s));
        let mut state = LaneState {
            free: Vec::new(),
            fresh,
            retired,
            in_ring,
            loans: 0,
            next_seq,
            min_reliable_cursor: 0,
            joins_seen: 0,
            hazarded: vec![false; slots as usize],
            reserved: vec![!lazy; slots as usize],
            last_reap: None,
        };
        // Slots not in the ring may still be held by readers of the previous
        // owner: sort them out through the hazards, as any reclaim does.
        reclaim(&seg, lane, &mut state);
        // SAFETY: the view is stored beside `seg` and used only through
        // `&self`, so never after `seg` is dropped.
        let view = unsafe { seg.lane_view(lane) };
        RawPublisher {
            seg,
            lane,
            view,
            state: RefCell::new(state),
            id: NEXT_PUBLISHER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The topic's type description, as its segment carries it; `None`
    /// if its creator wrote none.
    pub fn description(&self) -> Option<&Description> {
        self.seg.description.as_deref()
    }

    /// The topic's name.
    pub fn topic(&self) -> String {
        self.seg.config.topic_name()
    }

    /// The lane (publisher index) this publisher owns.
    pub fn lane(&self) -> usize {
        self.lane
    }

    /// Most trailing elements a sample may have (0 for sized messages).
    pub fn max_len(&self) -> usize {
        self.seg.config.max_elems as usize
    }

    /// Payload bytes of a sample with `elems` trailing elements.
    #[inline]
    pub fn payload_len(&self, elems: usize) -> usize {
        self.seg.config.payload_len(elems)
    }

    /// Reserves a slot for a sample with `elems` trailing elements.
    #[inline(always)]
    pub fn loan_slot(&self, elems: usize) -> Result<RawLoan<'_>, LoanError> {
        // A truncated segment (fault.rs): one relaxed load.
        if self.seg.poisoned() {
            return Err(self.truncated());
        }
        let c = &self.seg.config;
        if elems as u64 > c.max_elems {
            return Err(LoanError::TooLarge {
                requested: elems,
                max: c.max_elems as usize,
            });
        }
        let mut st = self.state.borrow_mut();
        if st.loans >= c.max_loans {
            return Err(LoanError::TooManyLoans { max: c.max_loans });
        }
        self.check_room(&mut st)?;
        let slot = match st.free.pop() {
            Some(s) => s,
            None => {
                refill(&self.seg, self.lane, &mut st);
                match st.free.pop() {
                    Some(s) => s,
                    None => {
                        self.seg.reap_dead(Some(self.lane), None);
                        refill(&self.seg, self.lane, &mut st);
                        st.free.pop().ok_or_else(|| {
                            self.seg
                                .publisher(self.lane)
                                .loan_failures
                                .fetch_add(1, Ordering::Relaxed);
                            LoanError::OutOfSlots
                        })?
                    }
                }
            }
        };
        if !st.reserved[slot as usize] {
            self.reserve(&mut st, slot)?;
        }
        st.loans += 1;
        Ok(RawLoan {
            publisher: self,
            slot,
            elems,
            done: false,
        })
    }

    /// A slot's first loan: reserves its pages (memory follows use).
    #[cold]
    fn reserve(&self, st: &mut LaneState, slot: u32) -> Result<(), LoanError> {
        if self.seg.reserve_slot(self.lane, slot).is_err() {
            st.free.push(slot);
            return Err(LoanError::NoSpace {
                needed: self.seg.layout.slot_stride as u64,
            });
        }
        st.reserved[slot as usize] = true;
        Ok(())
    }

    /// The error of a loan on a truncated segment (`fault.rs`).
    #[cold]
    fn truncated(&self) -> LoanError {
        LoanError::SegmentTruncated {
            topic: self.seg.topic_name(),
        }
    }

    /// Reliable subscribers: the next send (plus loans already out) must not
    /// overwrite a sample one of them has not read.
    #[inline]
    fn check_room(&self, st: &mut LaneState) -> Result<(), LoanError> {
        let depth = self.seg.config.depth as u64;
        let seq = st.next_seq + st.loans as u64;
        if seq <= depth {
            return Ok(());
        }
        let overwritten = seq - depth;
        let m = self.seg.members();
        // SYNC POINT G (Acquire): pairs with the joiner's bump in
        // `become_reliable`: a new reliable subscriber (whose cursor may be
        // below the cached minimum) makes us read the cursors again.
        let joins = m.joins.load(Ordering::Acquire);
        if st.min_reliable_cursor > overwritten && joins == st.joins_seen {
            return Ok(());
        }
        st.joins_seen = joins;
        st.min_reliable_cursor = 0;
        let reliable = self.reliable_members();
        if reliable == 0 {
            // No reliable reader: nothing to check until `joins` changes (a
            // reliable bit is only ever set before its joiner's bump, in
            // `become_reliable`), so the loans until then load `joins` only.
            st.min_reliable_cursor = u64::MAX;
            return Ok(());
        }
        let min = self.min_cursor(reliable);
        st.min_reliable_cursor = min;
        if min > overwritten {
            return Ok(());
        }
        // Full. A dead reliable subscriber must not block us forever.
        let now = Instant::now();
        if st
            .last_reap
            .is_none_or(|t| now.duration_since(t) > Duration::from_millis(10))
        {
            st.last_reap = Some(now);
            if self.seg.reap_dead(Some(self.lane), None) > 0 {
                st.min_reliable_cursor = self.min_cursor(self.reliable_members());
                if st.min_reliable_cursor > overwritten {
                    return Ok(());
                }
            }
        }
        self.seg
            .publisher(self.lane)
            .full_events
            .fetch_add(1, Ordering::Relaxed);
        Err(LoanError::Full {
            depth: self.seg.config.depth,
        })
    }

    /// Reliable subscribers: the reliable bits of members only (a stray
    /// reliable bit on an unused record must not hold us `Full`).
    fn reliable_members(&self) -> u64 {
        let m = self.seg.members();
        m.reliable.load(Ordering::SeqCst) & m.subscribers.load(Ordering::SeqCst)
    }

    fn min_cursor(&self, reliable: u64) -> u64 {
        let max_subs = self.seg.config.max_subscribers as usize;
        bits(reliable)
            .filter(|j| *j < max_subs)
            // SYNC POINT E (Acquire): pairs with the reader's Release store of
            // its cursor, made after it protected the sample it read.
            .map(|j| self.seg.subscriber(j).cursors[self.lane].load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Like [`RawPublisher::loan_slot`] but waits up to `timeout` while reliable subscribers are full.
    pub fn loan_slot_timeout(
        &self,
        elems: usize,
        timeout: Duration,
    ) -> Result<RawLoan<'_>, LoanError> {
        let deadline = Instant::now() + timeout;
        let mut spins = 0u32;
        loop {
            match self.loan_slot(elems) {
                Err(LoanError::Full { .. }) if Instant::now() < deadline => {
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else if spins < 128 {
                        std::thread::yield_now();
                    } else {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
                Err(LoanError::Full { .. }) => return Err(LoanError::Timeout),
                r => return r,
            }
        }
    }

    #[inline(always)]
    fn send_slot(&self, slot: u32, elems: usize) -> u64 {
        // First: the TSC read behind it overlaps the bookkeeping below.
        let stamp = crate::clock::stamp_ns();
        let view = &self.view;
        let mut st = self.state.borrow_mut();
        let seq = st.next_seq;
        // SAFETY: `slot` is this publisher's loan (see `own_slot`).
        let hdr = unsafe { own_slot(view, slot) };
        hdr.elems.store(elems as u64, Ordering::Relaxed);
        hdr.stamp_ns.store(stamp, Ordering::Relaxed);
        hdr.next_slot
            .store(next_slot_guess(view, &st, seq), Ordering::Relaxed);
        protocol::seal(&hdr.seq, seq);
        let pos = view.index(seq);
        protocol::publish_at(view.entry(seq), view.head(), seq, slot);
        // The wake hook: no sleeper, no system call (wake/mod.rs).
        crate::wake::notify_sleepers(&self.seg);
        let old = std::mem::replace(&mut st.in_ring[pos], slot);
        if old != NO_SLOT {
            let displaced = seq.wrapping_sub(view.depth());
            // SAFETY: `old` came out of `in_ring` (see `own_slot`).
            protocol::retire(&unsafe { own_slot(view, old) }.seq, displaced);
            st.retired.push(old);
        }
        st.next_seq = seq + 1;
        st.loans -= 1;
        // The next loan's slot is found now, after the sample is out, while
        // the readers take it: a reclaim (a fence and a hazard scan, which
        // reads lines the readers wrote) on the send's path would delay the
        // sample it sends. A reclaim only: never-used slots are taken by a
        // loan that finds nothing free (memory follows use).
        if st.free.is_empty() {
            reclaim(&self.seg, self.lane, &mut st);
        }
        seq
    }

    fn drop_loan(&self, slot: u32) {
        let mut st = self.state.borrow_mut();
        st.free.push(slot);
        st.loans -= 1;
    }

    /// Samples published on this lane so far (by every owner it had).
    pub fn published(&self) -> u64 {
        self.state.borrow().next_seq - 1
    }

    /// Subscribers currently on the topic (including ones not yet found dead).
    pub fn subscriber_count(&self) -> usize {
        self.seg
            .members()
            .subscribers
            .load(Ordering::Relaxed)
            .count_ones() as usize
    }

    /// Where this lane's slots are; `free + retired + in_ring + loaned`
    /// always equals `slots`. After a reclaim, `retired` counts slots that
    /// readers hold.
    pub fn slot_stats(&self) -> SlotStats {
        let mut st = self.state.borrow_mut();
        reclaim(&self.seg, self.lane, &mut st);
        SlotStats {
            slots: self.seg.config.slots_per_lane as usize,
            free: st.free.len() + st.fresh.len(),
            retired: st.retired.len(),
            in_ring: st.in_ring.iter().filter(|s| **s != NO_SLOT).count(),
            loaned: st.loans as usize,
        }
    }

    /// Looks for dead participants now and cleans up after them; returns how
    /// many it found. (Loans and sends do this by themselves when a dead
    /// reader is in the way.)
    pub fn reap_dead(&self) -> usize {
        self.seg.reap_dead(Some(self.lane), None)
    }
}

/// Slot accounting of a publisher's lane (see [`RawPublisher::slot_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotStats {
    /// Slots in the lane.
    pub slots: usize,
    /// Ready to loan.
    pub free: usize,
    /// Out of the ring, held by readers.
    pub retired: usize,
    /// In the history ring.
    pub in_ring: usize,
    /// Loaned and not sent.
    pub loaned: usize,
}

/// The header of one of this publisher's own slots, without a bounds check.
///
/// # Safety
/// `slot` is below the lane's `slots_per_lane`. Every slot index a publisher
/// holds is: `LaneState`'s lists (`free`, `fresh`, `retired`, `in_ring`
/// except `NO_SLOT`) start from `0..slots` and from ring entries checked
/// `< slots` (`with_lane`, `interrupted_send`), and slots only move between
/// them and loans (`RawLoan`, `HeldLoan`, whose owner is checked).
#[inline(always)]
unsafe fn own_slot(view: &LaneView, slot: u32) -> &crate::layout::SlotHeader {
    // SAFETY: the caller's contract.
    unsafe { view.slot_header_unchecked(slot) }
}

/// The slot the next loan will most likely get, for readers to prefetch:
/// the top of the free stack or, when it is empty, the slot that sending
/// `seq` displaces from the ring (the reclaim after the send frees it unless
/// a reader holds it), else the newest retired or a never-used one. Only a
/// hint: it costs no reclaim on the send's path.
#[inline]
fn next_slot_guess(view: &LaneView, st: &LaneState, seq: u64) -> u64 {
    let displaced = || {
        let pos = view.index(seq);
        st.in_ring.get(pos).copied().filter(|s| *s != NO_SLOT)
    };
    st.free
        .last()
        .copied()
        .or_else(displaced)
        .or_else(|| st.retired.last().copied())
        .or_else(|| st.fresh.last().copied())
        .map_or(NO_SLOT as u64, |s| s as u64)
}

/// The slot of sample `next_seq` if the lane's previous owner died inside
/// its send: after the ring store but before `head` (the entry is there), or
/// after sealing the slot but before the ring store (a slot outside the
/// ring, `used` false, carries the unmarked `next_seq`). A sealed slot is
/// complete: the seal is its last write.
fn interrupted_send(seg: &Segment, lane: usize, next_seq: u64, used: &[bool]) -> Option<u32> {
    let slots = seg.config.slots_per_lane;
    if let protocol::Poll::Ready(entry) = protocol::poll(seg.ring(lane), next_seq) {
        let slot = protocol::entry_slot(entry);
        return (slot < slots).then_some(slot);
    }
    (0..slots).find(|s| {
        // SYNC POINT F (Acquire): pairs with `seal`.
        !used[*s as usize] && seg.slot_header(lane, *s).seq.load(Ordering::Acquire) == next_seq
    })
}

/// Slots a refill of a large lane makes free at least, taking never-used
/// slots when a reclaim gives back fewer: its working set settles near
/// `depth + held + loans` slots, with a reclaim (a fence and a hazard scan,
/// ~100 ns) after nearly every send (after the sample is out, off its path:
/// `send_slot`). Large lanes only (lanes reserved whole have no never-used
/// slots), where a send writes a slot of hundreds of KiB: a slot less of
/// resident memory is worth the reclaim (a 640x480 topic with history 4: 2
/// held 7 slots, 1.41x iceoryx2's memory; 1 with the reclaim inside the send
/// 6, 1.21x; 1 with the reclaim after it 5, 1.01x).
const REFILL_BATCH: usize = 1;

/// Refills an empty free stack: a reclaim, then never-used slots (large
/// lanes) if it gave back fewer than [`REFILL_BATCH`], under the reclaimed
/// ones so that those go first.
fn refill(seg: &Segment, lane: usize, st: &mut LaneState) {
    reclaim(seg, lane, st);
    if st.free.len() < REFILL_BATCH && !st.fresh.is_empty() {
        let n = (REFILL_BATCH - st.free.len()).min(st.fresh.len());
        let at = st.fresh.len() - n;
        let fresh: Vec<u32> = st.fresh.drain(at..).collect();
        st.free.splice(0..0, fresh);
    }
}

/// Moves retired slots that no reader holds to the free list.
fn reclaim(seg: &Segment, lane: usize, st: &mut LaneState) {
    if st.retired.is_empty() {
        return;
    }
    // Readers find lanes through `used_lanes`; a peer that cleared our bit
    // would hide this lane from subscribers that join later.
    let used = &seg.members().used_lanes;
    if used.load(Ordering::Relaxed) & (1 << lane) == 0 {
        used.fetch_or(1 << lane, Ordering::SeqCst);
    }
    st.hazarded.iter_mut().for_each(|h| *h = false);
    let subs = seg.members().subscribers.load(Ordering::Acquire);
    let max_subs = seg.config.max_subscribers as usize;
    let held = seg.config.max_held as usize;
    let lists = bits(subs)
        .filter(|j| *j < max_subs)
        .map(|j| &seg.subscriber(j).hazards[..held]);
    let hazarded = &mut st.hazarded;
    protocol::hazard_scan(lists, lane, |slot| {
        if let Some(h) = hazarded.get_mut(slot as usize) {
            *h = true;
        }
    });
    let LaneState {
        retired,
        free,
        hazarded,
        ..
    } = st;
    retired.retain(|s| {
        if hazarded[*s as usize] {
            true
        } else {
            free.push(*s);
            false
        }
    });
}

impl Drop for RawPublisher {
    fn drop(&mut self) {
        self.seg.release_publisher(self.lane);
        // Sleeping subscribers learn at once that this publisher is gone.
        crate::wake::notify_sleepers(&self.seg);
        // The last participant to leave removes the topic.
        self.seg.remove_if_abandoned();
    }
}

/// A slot reserved by a [`RawPublisher`]: write its bytes, then send.
#[derive(Debug)]
pub struct RawLoan<'a> {
    publisher: &'a RawPublisher,
    slot: u32,
    elems: usize,
    done: bool,
}

impl RawLoan<'_> {
    /// The payload bytes (`payload_len(elems)` of them).
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.publisher.payload_len(self.elems);
        self.slot_bytes_mut(len)
    }

    /// The first `len` bytes of the slot's payload area (`len <=
    /// view_len(elems)`, which is at most `slot_payload`).
    #[inline]
    fn slot_bytes_mut(&mut self, len: usize) -> &mut [u8] {
        debug_assert!(len <= self.publisher.seg.config.view_len(self.elems));
        // SAFETY: `slot` is this loan's (see `own_slot`).
        let ptr = unsafe { self.publisher.view.payload_ptr_unchecked(self.slot) };
        // SAFETY: (1) `ptr..ptr + len` lies in the slot's payload area, since
        // `len <= view_len(elems) <= slot_payload` (callers pass
        // `payload_len` or `view_len` of `elems`, checked `<= max_elems` at
        // loan time) and the slot payload area holds `slot_payload` bytes; (2) the slot is
        // exclusively ours while loaned: it is not in the ring, so no reader
        // can validate a hazard on it (see protocol.rs), and no other loan has
        // it; (3) `&mut self` makes this the only live reference in-process.
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }
    }

    /// Trailing elements of this sample.
    pub fn elems(&self) -> usize {
        self.elems
    }

    /// Publishes the sample; returns its sequence number.
    #[inline(always)]
    pub fn send(mut self) -> u64 {
        self.done = true;
        self.publisher.send_slot(self.slot, self.elems)
    }
}

impl RawLoan<'_> {
    /// Keeps the loan without borrowing its publisher: the slot stays ours
    /// until [`RawPublisher::send_held`] or [`RawPublisher::drop_held`]. For
    /// bindings whose loans cannot borrow (Python's).
    pub fn detach(mut self) -> HeldLoan {
        self.done = true;
        HeldLoan {
            owner: self.publisher.id,
            slot: self.slot,
            elems: self.elems,
        }
    }
}

/// A loan [detached](RawLoan::detach) from the borrow of its publisher.
/// Only that publisher writes, sends or drops it; one dropped without
/// either keeps its slot (one of `max_loans`) until the publisher is dropped.
#[derive(Debug)]
pub struct HeldLoan {
    owner: u64,
    slot: u32,
    elems: usize,
}

impl HeldLoan {
    /// Trailing elements of this sample.
    pub fn elems(&self) -> usize {
        self.elems
    }
}

impl RawPublisher {
    /// The payload bytes of a held loan (`payload_len(elems)`); `None` if
    /// another publisher loaned it.
    pub fn held_bytes_mut<'a>(&'a self, held: &'a mut HeldLoan) -> Option<&'a mut [u8]> {
        if held.owner != self.id {
            return None;
        }
        let len = self.payload_len(held.elems);
        debug_assert!(len <= self.seg.config.view_len(held.elems));
        // SAFETY: `held.slot` is this publisher's loan (owner checked above;
        // see `own_slot`).
        let ptr = unsafe { self.view.payload_ptr_unchecked(held.slot) };
        // SAFETY: as in `RawLoan::slot_bytes_mut`: (1) `len = payload_len(elems)`
        // with `elems <= max_elems` checked at loan time, so the range lies in
        // the slot's payload area; (2) the slot is ours while loaned (not in
        // the ring, no other loan has it); (3) `&mut HeldLoan` (not `Copy`,
        // one per loan) makes this the only live reference in-process.
        Some(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
    }

    /// Publishes a held loan and returns its sequence number; the loan
    /// comes back untouched if another publisher loaned it.
    pub fn send_held(&self, held: HeldLoan) -> Result<u64, HeldLoan> {
        if held.owner != self.id {
            return Err(held);
        }
        Ok(self.send_slot(held.slot, held.elems))
    }

    /// Gives a held loan's slot back unpublished; the loan comes back
    /// untouched if another publisher loaned it.
    pub fn drop_held(&self, held: HeldLoan) -> Result<(), HeldLoan> {
        if held.owner != self.id {
            return Err(held);
        }
        self.drop_loan(held.slot);
        Ok(())
    }
}

impl Drop for RawLoan<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            self.publisher.drop_loan(self.slot);
        }
    }
}

/// Publishes messages of type `T` on one topic. Create with `Node::publisher`.
#[derive(Debug)]
pub struct Publisher<T: Message + ?Sized> {
    raw: RawPublisher,
    _type: PhantomData<fn(&T)>,
}

impl<T: Message + ?Sized> Publisher<T> {
    pub(crate) fn from_raw(raw: RawPublisher) -> Self {
        Publisher {
            raw,
            _type: PhantomData,
        }
    }

    /// The topic's name.
    pub fn topic(&self) -> String {
        self.raw.topic()
    }

    /// The untyped publisher underneath.
    pub fn raw(&self) -> &RawPublisher {
        &self.raw
    }

    #[inline(always)]
    fn typed(raw: RawLoan<'_>) -> Result<Loan<'_, T>, LoanError> {
        Ok(Loan {
            raw,
            _type: PhantomData,
        })
    }
}

impl<T: Message> Publisher<T> {
    /// Loans a slot for one sample. Its contents are unspecified (a previous
    /// sample's bytes, always a valid `T`): write every field you publish.
    #[inline(always)]
    pub fn loan(&self) -> Result<Loan<'_, T>, LoanError> {
        Self::typed(self.raw.loan_slot(0)?)
    }

    /// Like [`Publisher::loan`], waiting up to `timeout` for reliable subscribers.
    pub fn loan_timeout(&self, timeout: Duration) -> Result<Loan<'_, T>, LoanError> {
        Self::typed(self.raw.loan_slot_timeout(0, timeout)?)
    }
}

impl<T: Message + zerocopy::IntoBytes> Publisher<T> {
    /// Copies `value` into a slot and sends it; returns its sequence number.
    #[inline]
    pub fn publish(&self, value: &T) -> Result<u64, LoanError> {
        let mut loan = self.raw.loan_slot(0)?;
        loan.bytes_mut()
            .copy_from_slice(zerocopy::IntoBytes::as_bytes(value));
        Ok(loan.send())
    }
}

impl<T> Publisher<T>
where
    T: Message + ?Sized + KnownLayout<PointerMetadata = usize>,
{
    /// Loans a slot for a slice message with `len` trailing elements.
    #[inline(always)]
    pub fn loan_slice(&self, len: usize) -> Result<Loan<'_, T>, LoanError> {
        Self::typed(self.raw.loan_slot(len)?)
    }

    /// Like [`Publisher::loan_slice`], waiting up to `timeout` for reliable subscribers.
    pub fn loan_slice_timeout(
        &self,
        len: usize,
        timeout: Duration,
    ) -> Result<Loan<'_, T>, LoanError> {
        Self::typed(self.raw.loan_slot_timeout(len, timeout)?)
    }

    /// Most trailing elements a sample may have on this topic.
    pub fn max_len(&self) -> usize {
        self.raw.max_len()
    }
}

/// A loaned slot holding a `T` being written in place. `send` publishes it;
/// dropping it gives the slot back unpublished.
#[derive(Debug)]
pub struct Loan<'a, T: Message + ?Sized> {
    raw: RawLoan<'a>,
    _type: PhantomData<&'a mut T>,
}

impl<T: Message + ?Sized> Loan<'_, T> {
    /// Publishes the sample; returns its sequence number.
    #[inline(always)]
    pub fn send(self) -> u64 {
        self.raw.send()
    }
}

impl<T: Message + ?Sized> Deref for Loan<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        let elems = self.raw.elems;
        // With trailing padding: zerocopy's view of a slice message covers it.
        let len = self.raw.publisher.seg.config.view_len(elems);
        // SAFETY: `slot` is this loan's (see `own_slot`).
        let ptr = unsafe { self.raw.publisher.view.payload_ptr_unchecked(self.raw.slot) };
        // SAFETY: as in `RawLoan::bytes_mut`: in bounds and exclusively ours;
        // a shared view for the duration of `&self`.
        let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
        <T::PointerMetadata as ViewMeta>::view::<T>(bytes, elems)
            .expect("slot payload is 32-aligned and sized for the message at creation")
    }
}

impl<T: Message + ?Sized> DerefMut for Loan<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        let elems = self.raw.elems;
        let len = self.raw.publisher.seg.config.view_len(elems);
        axon_message::view_mut::<T>(self.raw.slot_bytes_mut(len), elems)
            .expect("slot payload is 32-aligned and sized for the message at creation")
    }
}
