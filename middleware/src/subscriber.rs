//! Receiving: find the next sample, protect its slot, read it where it lies.
//!
//! A subscriber owns one record of its topic's segment: its hazards (the
//! slots it is reading), its per-lane cursors and its counters. It polls
//! every lane that ever had a publisher, round-robin, so samples of a
//! publisher that has already left are still delivered.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Deref;
use std::time::{Duration, Instant};

use axon_message::{Message, ViewMeta};

use crate::error::{OpenError, RecvError};
use crate::layout::SubscriberRecord;
use crate::layout::NO_SLOT;
use crate::names::{Domain, TopicName};
use crate::protocol::{self, Poll};
use crate::publisher::TypeDesc;
use crate::qos::{Durability, Qos, Reliability};
use crate::segment::{bits, LaneView, Located, Segment};
use crate::sync::Ordering;
use crate::wake::{self, WaitError, WakeMechanism};

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
    /// `seg`'s record `index`, located once (lives and dies with `seg`).
    rec: Located<SubscriberRecord>,
    /// Per lane (`max_publishers` of them): where it is and how far we read.
    lanes: Box<[Lane]>,
    /// The hazard armed ahead (protocol step 3'): (lane, slot, hazard index).
    armed: Cell<Option<(usize, u32, usize)>>,
    /// The lane of the last sample taken (`usize::MAX`: none yet), the one
    /// that gets armed.
    last_lane: Cell<usize>,
    held: Cell<u32>,
    next_lane: Cell<usize>,
    received: Cell<u64>,
    dropped: Cell<u64>,
    corrupt: Cell<u64>,
    /// How `recv` sleeps.
    wake: Cell<WakeMechanism>,
    /// Spin budget of an adaptive `wake`, computed on first use.
    spin: Cell<Option<Duration>>,
    /// A live publisher was seen since "gone" was last reported.
    saw_publisher: Cell<bool>,
    /// Per lane, the `claims` count of the publisher found dead there (that
    /// incarnation was reported gone, or counted as gone); 0: none. A dead
    /// publisher's bit stays in `publishers` until someone reaps it, so
    /// without this every liveness check would see it "back" and report it
    /// gone again.
    dead_claims: Box<[Cell<u64>]>,
    /// The node that created this subscriber (0: none, the raw API).
    node_id: Cell<u64>,
    /// Lanes seen in `Membership::used_lanes` so far: that word is never
    /// cleared, so a peer that clears it cannot make us stop polling.
    seen_lanes: Cell<u64>,
    /// Unique in the process: which subscriber a [`HeldSample`] belongs to.
    id: u64,
}

/// A subscriber's view of one lane.
#[derive(Debug)]
struct Lane {
    /// The lane in `seg`, located once (lives and dies with `seg`).
    view: LaneView,
    /// The next sequence number to read.
    cursor: Cell<u64>,
    /// The slot its publisher said it would likely use next
    /// (`SlotHeader::next_slot`), armed or prefetched while polling.
    next_slot: Cell<u64>,
}

/// Source of [`RawSubscriber`] ids.
static NEXT_SUBSCRIBER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

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
        Self::create_declared(domain, topic, desc, qos, node, None)
    }

    /// [`RawSubscriber::create`] with what a launch file's declaration decided.
    pub(crate) fn create_declared(
        domain: &Domain,
        topic: TopicName,
        desc: Option<&TypeDesc>,
        qos: &Qos,
        node: &str,
        declared: Option<&crate::declared::Applied>,
    ) -> Result<Self, OpenError> {
        qos.validate()?;
        let spec = desc.map(|d| {
            let mut spec = d.spec(topic.clone(), qos);
            spec.declared = declared.cloned();
            spec
        });
        let mut last = None;
        for _ in 0..4 {
            let seg = match &spec {
                Some(spec) => Segment::open_or_create(domain, spec)?,
                None => Segment::open_existing(
                    &domain.segment_path(&topic),
                    true,
                    qos.allow_other_users,
                )?,
            };
            seg.reap_dead(None, None);
            let depth = seg.config.depth;
            let history = qos.history.unwrap_or(depth).min(depth) as u64;
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
                    let lanes: Box<[Lane]> = (0..seg.config.max_publishers as usize)
                        .map(|l| Lane {
                            // SAFETY: stored beside `seg` and used only
                            // through `&self`, so never after `seg` is dropped.
                            view: unsafe { seg.lane_view(l) },
                            cursor: Cell::new(rec.cursors[l].load(Ordering::Relaxed)),
                            next_slot: Cell::new(NO_SLOT as u64),
                        })
                        .collect();
                    let dead_claims = (0..lanes.len()).map(|_| Cell::new(0)).collect();
                    // SAFETY: as for the lanes' views.
                    let rec = unsafe { seg.subscriber_view(index) };
                    return Ok(RawSubscriber {
                        seg,
                        index,
                        rec,
                        lanes,
                        armed: Cell::new(None),
                        last_lane: Cell::new(usize::MAX),
                        held: Cell::new(0),
                        next_lane: Cell::new(0),
                        received: Cell::new(0),
                        dropped: Cell::new(0),
                        corrupt: Cell::new(0),
                        wake: Cell::new(WakeMechanism::default()),
                        spin: Cell::new(None),
                        saw_publisher: Cell::new(false),
                        dead_claims,
                        node_id: Cell::new(0),
                        seen_lanes: Cell::new(0),
                        id: NEXT_SUBSCRIBER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
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

    /// The topic's type description, as its segment carries it (checked
    /// when the segment was opened); `None` if its creator wrote none.
    pub fn description(&self) -> Option<&axon_message::Description> {
        self.seg.description.as_deref()
    }

    /// The topic's configuration as its segment records it (type, sizes,
    /// capacities): what a socket link announces to its peer.
    pub fn topic_config(&self) -> crate::layout::TopicConfig {
        self.seg.config
    }

    /// The node name of the publisher that owns (or last owned) `lane`
    /// (`SampleInfo::publisher`); empty for a lane out of range. Socket
    /// links use it to never send a sample back to where it came from.
    pub fn publisher_node(&self, lane: usize) -> String {
        if lane >= self.seg.config.max_publishers as usize {
            return String::new();
        }
        self.seg.publisher(lane).node.get()
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

    /// The lanes to poll: every lane that ever had a publisher.
    #[inline(always)]
    fn used_lanes(&self) -> u64 {
        let shared = self.seg.members().used_lanes.load(Ordering::Acquire);
        let seen = self.seen_lanes.get();
        if shared & !seen != 0 {
            self.seen_lanes.set(seen | shared);
        }
        seen | shared
    }

    /// The next sample from any publisher, if one is there.
    #[inline(always)]
    pub fn try_recv(&self) -> Result<Option<RawSample<'_>>, RecvError> {
        // A truncated segment (fault.rs): one relaxed load.
        if self.seg.poisoned() {
            return Err(self.truncated());
        }
        let used = self.used_lanes();
        let lanes = self.lanes.len();
        if used & used.wrapping_sub(1) == 0 {
            // At most one lane (the common single-publisher topic): no round-robin.
            let lane = used.trailing_zeros() as usize;
            return match self.lanes.get(lane) {
                Some(l) => self.recv_lane(lane, l),
                None => Ok(None),
            };
        }
        let start = self.next_lane.get();
        // Round-robin over the used lanes, starting after the last one served.
        for lane in bits(used.rotate_right(start as u32)).map(|b| (b + start) % 64) {
            let Some(l) = self.lanes.get(lane) else {
                continue;
            };
            if let Some(s) = self.recv_lane(lane, l)? {
                // Not `% lanes`: a division on every sample.
                self.next_lane
                    .set(if lane + 1 == lanes { 0 } else { lane + 1 });
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// The newest sample (of any publisher); older unread ones are skipped
    /// (not counted as dropped: the caller asked for the newest).
    pub fn latest(&self) -> Result<Option<RawSample<'_>>, RecvError> {
        let used = self.used_lanes();
        let mut best: Option<RawSample<'_>> = None;
        for (lane, l) in bits(used).filter_map(|i| Some((i, self.lanes.get(i)?))) {
            let head = l.view.head().load(Ordering::Acquire);
            let cursor = l.cursor.get();
            if head <= cursor {
                continue;
            }
            // Jump to the newest sample only if the ring shows it there: a
            // corrupted `head` must not move the cursor where no sample
            // will ever be (the plain receive below copes with anything).
            let newest = head - 1;
            if let Poll::Ready(_) = protocol::poll(l.view.ring(), newest) {
                l.cursor.set(cursor.max(newest));
            }
            if best.is_some() && free_hazard(self.held.get(), self.seg.config.max_held).is_none() {
                break;
            }
            if let Some(s) = self.recv_lane(lane, l)? {
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

    /// Chooses how this subscriber sleeps in `recv` (default: futex).
    pub fn set_wake(&self, mechanism: WakeMechanism) -> std::io::Result<()> {
        if mechanism == WakeMechanism::Semaphore {
            wake::init_semaphore(&self.rec.get().wake)?;
        }
        self.wake.set(mechanism);
        self.spin.set(None);
        Ok(())
    }

    /// How this subscriber sleeps in `recv`.
    pub fn wake_mechanism(&self) -> WakeMechanism {
        self.wake.get()
    }

    /// Waits for the next sample, as long as it takes (see [`WaitError`]
    /// for why it may return without one).
    pub fn recv(&self) -> Result<RawSample<'_>, WaitError> {
        self.recv_until(&mut Wait::Forever)
    }

    /// Waits up to `timeout` for the next sample; a zero timeout polls once.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<RawSample<'_>, WaitError> {
        self.recv_until(&mut Wait::For(timeout))
    }

    /// Waits until `deadline` for the next sample; a deadline in the past polls once.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<RawSample<'_>, WaitError> {
        self.recv_until(&mut Wait::Until(deadline))
    }

    /// Waits as `wait` says; once the wait has read the clock, `wait` holds
    /// its deadline (`Until`), so a caller that waits again keeps it.
    pub(crate) fn recv_until(&self, wait: &mut Wait) -> Result<RawSample<'_>, WaitError> {
        // A sample already there, or (adaptive) one that comes while we
        // spin, costs no clock read: under steady traffic a blocking receive
        // is a poll. The clock (about 25 ns a read) comes in after that.
        if let Some(s) = self.take()? {
            return Ok(s);
        }
        let mut first_clock = None;
        let budget = self.spin_budget();
        if !budget.is_zero() && wait.may_spin_before_clock() {
            match self.spin(budget) {
                Ok(()) => {
                    if let Some(s) = self.take()? {
                        return Ok(s);
                    }
                }
                Err(start) => first_clock = Some(start),
            }
        }
        let start = first_clock.unwrap_or_else(Instant::now);
        *wait = wait.resolved(start);
        let deadline = wait.deadline();
        let mechanism = self.wake.get();
        let mut busy = 0u32;
        // Since when nothing came and liveness was not asked: the kernel is
        // asked once per LIVENESS_SLICE of that, however many (spurious or
        // fallback-sliced) wake-ups the slice holds.
        let mut quiet_since = start;
        let mut clock = Some(start);
        loop {
            if crate::shutdown::requested() {
                return Err(WaitError::Shutdown);
            }
            if self.check_gone(false) {
                return Err(WaitError::PublisherGone);
            }
            let now = clock.take().unwrap_or_else(Instant::now);
            let left = match deadline {
                Some(d) if now >= d => return Err(WaitError::Timeout),
                Some(d) => d - now,
                None => wake::LIVENESS_SLICE,
            };
            if self.pending() {
                if let Some(s) = self.take()? {
                    return Ok(s);
                }
                // The rings show something `try_recv` did not take (a
                // corrupted entry): do not spin on it.
                busy += 1;
                if busy > 64 {
                    std::thread::sleep(Duration::from_millis(1).min(left));
                }
                continue;
            }
            busy = 0;
            let slice = left.min(wake::LIVENESS_SLICE);
            let until = crate::sys::monotonic_ns() + slice.as_nanos() as u64;
            if let Err(e) =
                wake::sleep_once(&self.seg, self.index, mechanism, || self.pending(), until)
            {
                // A futex wait on a truncated page fails (EFAULT), no SIGBUS.
                return Err(self.wait_failed(e));
            }
            if let Some(s) = self.take()? {
                return Ok(s);
            }
            let due = quiet_since.elapsed() >= wake::LIVENESS_SLICE
                || deadline.is_some_and(|d| Instant::now() >= d);
            if due && !self.pending() {
                if !self.seg.check_intact() {
                    return Err(self.wait_failed_truncated());
                }
                if self.check_gone(true) {
                    return Err(WaitError::PublisherGone);
                }
                quiet_since = Instant::now();
            }
        }
    }

    /// `try_recv` for the blocking receives.
    #[inline(always)]
    fn take(&self) -> Result<Option<RawSample<'_>>, WaitError> {
        self.try_recv().map_err(|e| match e {
            RecvError::TooManyHeld { max } => WaitError::TooManyHeld { max },
            RecvError::SegmentTruncated { topic } => WaitError::SegmentTruncated { topic },
        })
    }

    /// The error of a receive from a truncated segment (`fault.rs`).
    #[cold]
    fn truncated(&self) -> RecvError {
        RecvError::SegmentTruncated {
            topic: self.seg.topic_name(),
        }
    }

    #[cold]
    fn wait_failed_truncated(&self) -> WaitError {
        WaitError::SegmentTruncated {
            topic: self.seg.topic_name(),
        }
    }

    /// A sleep failed: because the segment was truncated, or `e`.
    #[cold]
    fn wait_failed(&self, e: std::io::Error) -> WaitError {
        if self.seg.check_intact() {
            WaitError::Os(e)
        } else {
            self.wait_failed_truncated()
        }
    }

    /// Polls until something is pending (`Ok`) or `budget` has passed
    /// (`Err`, with when the budget started). The clock is read once per 32
    /// polls, the first time after 32: the budget starts there.
    #[inline(always)]
    fn spin(&self, budget: Duration) -> Result<(), Instant> {
        let mut start = None;
        loop {
            for _ in 0..32 {
                if self.pending() {
                    return Ok(());
                }
                std::hint::spin_loop();
            }
            let now = Instant::now();
            let start = *start.get_or_insert(now);
            if now.duration_since(start) >= budget {
                return Err(start);
            }
        }
    }

    fn spin_budget(&self) -> Duration {
        if !matches!(self.wake.get(), WakeMechanism::Adaptive { .. }) {
            return Duration::ZERO;
        }
        match self.spin.get() {
            Some(d) => d,
            None => {
                let d = wake::spin_budget(&self.seg, self.wake.get());
                self.spin.set(Some(d));
                d
            }
        }
    }

    /// Whether a ring shows something at one of our cursors (protocol
    /// step 4: the re-poll after announcing; consumes nothing).
    pub(crate) fn pending(&self) -> bool {
        let used = self.used_lanes();
        bits(used).any(|lane| {
            let Some(l) = self.lanes.get(lane) else {
                return false;
            };
            let cursor = l.cursor.get();
            if self.armed_holds(lane, l, cursor).is_some() {
                return true;
            }
            let empty =
                protocol::poll_at(l.view.entry(cursor), cursor, l.view.depth()) == Poll::Empty;
            if empty {
                // Adaptive spinning polls here: prepare for the next sample.
                self.arm_next(lane, l);
            }
            !empty
        })
    }

    /// Whether the publishers went away since one was last seen: true once
    /// per disappearance. `thorough` also asks the kernel whether the
    /// publishers whose bits are set are alive (one `F_OFD_GETLK` each).
    /// A publisher found dead is remembered by its lane's `claims` count, so
    /// it is reported once, not again at every check while its bit stays
    /// set; a new publisher on that lane has another count.
    pub(crate) fn check_gone(&self, thorough: bool) -> bool {
        let pubs = self.seg.members().publishers.load(Ordering::Acquire);
        let mut alive = false;
        for lane in bits(pubs).filter(|l| *l < self.dead_claims.len()) {
            // SYNC POINT: Acquire pairs with the claim's SeqCst fetch_or of
            // the bit, after its `claims` increment.
            let claims = self.seg.publisher(lane).claims.load(Ordering::Acquire);
            if self.dead_claims[lane].get() == claims {
                continue;
            }
            if thorough && !self.seg.publisher_alive(lane) {
                self.dead_claims[lane].set(claims);
                continue;
            }
            alive = true;
            if !thorough {
                break;
            }
        }
        if alive {
            self.saw_publisher.set(true);
            false
        } else {
            self.saw_publisher.replace(false)
        }
    }

    pub(crate) fn segment(&self) -> &Segment {
        &self.seg
    }

    pub(crate) fn record_index(&self) -> usize {
        self.index
    }

    pub(crate) fn node_id(&self) -> u64 {
        self.node_id.get()
    }

    pub(crate) fn set_node_id(&self, id: u64) {
        self.node_id.set(id);
    }

    #[inline(always)]
    fn recv_lane(&self, lane: usize, l: &Lane) -> Result<Option<RawSample<'_>>, RecvError> {
        let c = &self.seg.config;
        let view = &l.view;
        let rec = self.rec.get();
        // Bounded: a publisher lapping us faster than we can read must not
        // keep us here; the next call continues.
        for _ in 0..8 {
            let cursor = l.cursor.get();
            // Step 2': the armed slot's own header, the one line a small
            // sample needs.
            if let Some((slot, hazard)) = self.armed_holds(lane, l, cursor) {
                self.armed.set(None);
                match self.accept(lane, l, slot, hazard, cursor) {
                    Some(sample) => return Ok(Some(sample)),
                    None => continue,
                }
            }
            let at = view.entry(cursor);
            match protocol::poll_at(at, cursor, view.depth()) {
                Poll::Empty => {
                    self.arm_next(lane, l);
                    return Ok(None);
                }
                Poll::Lapped(first) => {
                    let head = view.head().load(Ordering::Acquire);
                    let again = at.load(Ordering::Acquire);
                    match protocol::after_lap(first, head, again, cursor, view.depth()) {
                        protocol::Lap::Lost { next } => {
                            self.count(&self.dropped, &rec.dropped, next - cursor);
                            self.set_cursor(lane, l, next);
                        }
                        protocol::Lap::Corrupt { next } | protocol::Lap::Resync { next } => {
                            self.count(&self.corrupt, &rec.corrupt, 1);
                            self.set_cursor(lane, l, next);
                        }
                        protocol::Lap::Retry => continue,
                        protocol::Lap::Wait => return Ok(None),
                    }
                }
                Poll::Ready(entry) => {
                    let slot = protocol::entry_slot(entry);
                    if slot >= view.slots() {
                        self.count(&self.corrupt, &rec.corrupt, 1);
                        self.set_cursor(lane, l, cursor + 1);
                        continue;
                    }
                    let held = self.held.get();
                    let Some(hazard) = free_hazard(held, c.max_held) else {
                        return Err(RecvError::TooManyHeld { max: c.max_held });
                    };
                    let tag = protocol::hazard_tag(lane, slot);
                    // Armed for exactly this slot before this poll's load:
                    // already protected (protocol step 3'). Otherwise the
                    // protect below reuses (and so disarms) that hazard.
                    let armed = match self.armed.take() {
                        Some(a) if a == (lane, slot, hazard) => true,
                        // Armed on an index that is no longer the next free
                        // one (a held sample was dropped meanwhile): clear
                        // it, so it does not keep a slot from reclaim.
                        Some((_, _, h)) if h != hazard => {
                            protocol::release(&rec.hazards[h]);
                            false
                        }
                        _ => false,
                    };
                    if !armed && !protocol::protect(&rec.hazards[hazard], tag, at, entry) {
                        continue; // overwritten meanwhile: poll again (it lapped us)
                    }
                    if let Some(sample) = self.accept(lane, l, slot, hazard, cursor) {
                        return Ok(Some(sample));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Protocol step 2': the armed slot and hazard, if that slot holds the
    /// sample `cursor` of `lane`.
    #[inline]
    fn armed_holds(&self, lane: usize, l: &Lane, cursor: u64) -> Option<(u32, usize)> {
        let (_, slot, hazard) = self.armed.get().filter(|a| a.0 == lane)?;
        protocol::armed_holds(&l.view.slot_header(slot).seq, cursor).then_some((slot, hazard))
    }

    /// Takes the sample `cursor` of `lane` from `slot`, which `hazard`
    /// protects, after checking its header; a bad header is counted as
    /// corrupt and skipped (`None`, hazard released). Moves the cursor on.
    /// Every [`RawSample`] is made here, so its slot passed `slot_header`'s
    /// range check (which `payload` relies on).
    #[inline(always)]
    fn accept(
        &self,
        lane: usize,
        l: &Lane,
        slot: u32,
        hazard: usize,
        cursor: u64,
    ) -> Option<RawSample<'_>> {
        let c = &self.seg.config;
        let rec = self.rec.get();
        let hdr = l.view.slot_header(slot);
        // Sealed before the sample was found; maybe marked retired since.
        let seq = protocol::sealed_seq(hdr.seq.load(Ordering::Relaxed));
        let elems = hdr.elems.load(Ordering::Relaxed);
        self.set_cursor(lane, l, cursor + 1);
        if seq != cursor || elems > c.max_elems {
            protocol::release(&rec.hazards[hazard]);
            self.count(&self.corrupt, &rec.corrupt, 1);
            return None;
        }
        l.next_slot.set(hdr.next_slot.load(Ordering::Relaxed));
        self.last_lane.set(lane);
        self.held.set(self.held.get() | 1 << hazard);
        self.count(&self.received, &rec.received, 1);
        let info = SampleInfo {
            seq,
            publisher: lane,
            sent_ns: hdr.stamp_ns.load(Ordering::Relaxed),
            elems: elems as usize,
        };
        Some(RawSample {
            sub: self,
            hazard,
            slot,
            info,
        })
    }

    /// While `lane` has nothing new: arms a free hazard on the slot its
    /// publisher said it will use next (protocol step 3'), so that the next
    /// poll reads that slot's header (step 2') and the sample, when it
    /// comes, is read in one cache line without a fence. With no hazard
    /// free, it only warms that line.
    #[inline]
    fn arm_next(&self, lane: usize, l: &Lane) {
        let slot = l.next_slot.get();
        let c = &self.seg.config;
        // With several publishers, only the lane that delivered last (before
        // the first sample: the first lane armed) is armed: re-arming, with a
        // fence, on every lane of every poll would cost more than it saves.
        let last = self.last_lane.get();
        let armed = self.armed.get();
        let ours = last == lane || (last >= self.lanes.len() && armed.is_none_or(|a| a.0 == lane));
        let hazard = free_hazard(self.held.get(), c.max_held).filter(|_| ours);
        let Some(hazard) = hazard.filter(|_| slot < l.view.slots() as u64) else {
            l.view.prefetch(slot);
            return;
        };
        let want = (lane, slot as u32, hazard);
        if armed != Some(want) {
            let rec = self.rec.get();
            if let Some((_, _, old)) = armed.filter(|a| a.2 != hazard) {
                // Armed on an index that is no longer the lowest free one.
                protocol::release(&rec.hazards[old]);
            }
            protocol::arm(&rec.hazards[want.2], protocol::hazard_tag(lane, want.1));
            self.armed.set(Some(want));
        }
    }

    #[inline]
    fn set_cursor(&self, lane: usize, l: &Lane, cursor: u64) {
        l.cursor.set(cursor);
        // SYNC POINT E (Release): pairs with the publisher's Acquire load in
        // `min_cursor`; the hazard for the sample before `cursor` is already set.
        self.rec.get().cursors[lane].store(cursor, Ordering::Release);
    }

    #[inline]
    fn count(&self, local: &Cell<u64>, shared: &crate::sync::AtomicU64, n: u64) {
        local.set(local.get() + n);
        shared.store(local.get(), Ordering::Relaxed);
    }

    #[inline]
    fn release(&self, hazard: usize) {
        protocol::release(&self.rec.get().hazards[hazard]);
        self.held.set(self.held.get() & !(1 << hazard));
    }

    /// Payload bytes of a sample in `slot` of `lane` with `elems` elements.
    #[inline]
    fn payload(&self, lane: usize, slot: u32, len: usize) -> &[u8] {
        debug_assert!(len <= self.seg.config.slot_payload as usize);
        // SAFETY: `slot` is a sample's, whose range `accept` checked (every
        // `RawSample`, and so every `HeldSample`, is made there), and `lane`
        // indexed `lanes` there too.
        let ptr = unsafe { self.lanes[lane].view.payload_ptr_unchecked(slot) };
        // SAFETY: (1) in bounds: callers pass `payload_len` or `view_len` of
        // the sample's `elems`, validated `<= max_elems` in `accept`, both at
        // most `slot_payload`, the size of the slot's payload area; (2) only
        // called for a slot protected by one of our hazards, so its owner does
        // not reuse it until we release it (protocol.rs); (3) the bytes are
        // only read, and every message type is `FromBytes`, so whatever a
        // faulty or hostile peer writes there is still a valid value.
        unsafe { std::slice::from_raw_parts(ptr as *const u8, len) }
    }
}

/// The hazard a new sample takes: the lowest free one. Hazards are only
/// ever taken this way, so `held` has no bit at or above `max_held` and "all
/// taken" is "the lowest free one is `max_held`" (no popcount).
#[inline]
fn free_hazard(held: u32, max_held: u32) -> Option<usize> {
    let lowest_free = held.trailing_ones();
    (lowest_free < max_held).then_some(lowest_free as usize)
}

/// How long a blocking receive waits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    Forever,
    /// From the wait's first clock read (after the spin, if any: at most
    /// 32 polls after the call).
    For(Duration),
    Until(Instant),
}

impl Wait {
    /// `For` turned into the deadline it means when the wait starts at `start`.
    fn resolved(self, start: Instant) -> Wait {
        match self {
            // `Instant` + huge durations overflow: then it never comes.
            Wait::For(d) => start.checked_add(d).map_or(Wait::Forever, Wait::Until),
            w => w,
        }
    }

    /// The deadline of a resolved wait.
    fn deadline(self) -> Option<Instant> {
        match self {
            Wait::Until(t) => Some(t),
            _ => None,
        }
    }

    /// Whether the wait may spin before it reads the clock: not with a zero
    /// timeout ("poll once"), nor a deadline that may have passed.
    fn may_spin_before_clock(self) -> bool {
        match self {
            Wait::Forever => true,
            Wait::For(d) => !d.is_zero(),
            Wait::Until(_) => false,
        }
    }
}

impl Drop for RawSubscriber {
    fn drop(&mut self) {
        self.seg.release_subscriber(self.index);
    }
}

impl<'a> RawSample<'a> {
    /// Where the sample came from.
    #[inline]
    pub fn info(&self) -> SampleInfo {
        self.info
    }

    /// The payload bytes, where they lie in shared memory.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        let len = self.sub.seg.config.payload_len(self.info.elems);
        self.sub.payload(self.info.publisher, self.slot, len)
    }

    /// The payload with its trailing padding (`TopicConfig::view_len`),
    /// which a typed view of a slice message covers.
    #[inline]
    fn view_bytes(&self) -> &'a [u8] {
        let len = self.sub.seg.config.view_len(self.info.elems);
        self.sub.payload(self.info.publisher, self.slot, len)
    }
}

impl RawSample<'_> {
    /// Keeps the sample without borrowing its subscriber: the slot stays
    /// protected until [`RawSubscriber::release_held`] (or the subscriber is
    /// dropped). For bindings whose samples cannot borrow (Python's).
    pub fn detach(self) -> HeldSample {
        let held = HeldSample {
            owner: self.sub.id,
            hazard: self.hazard,
            slot: self.slot,
            info: self.info,
        };
        std::mem::forget(self);
        held
    }
}

/// A sample [detached](RawSample::detach) from the borrow of its
/// subscriber: a token of the hazard that protects its slot. Only the
/// subscriber that received it reads or releases it; one dropped without
/// [`RawSubscriber::release_held`] keeps its hazard (one of `max_held`)
/// until the subscriber is dropped.
#[derive(Debug)]
pub struct HeldSample {
    owner: u64,
    hazard: usize,
    slot: u32,
    info: SampleInfo,
}

impl HeldSample {
    /// Where the sample came from.
    pub fn info(&self) -> SampleInfo {
        self.info
    }
}

impl RawSubscriber {
    /// The payload bytes of a held sample, where they lie in shared memory;
    /// `None` if another subscriber received it.
    pub fn held_bytes<'a>(&'a self, held: &'a HeldSample) -> Option<&'a [u8]> {
        if held.owner != self.id {
            return None;
        }
        let len = self.seg.config.payload_len(held.info.elems);
        Some(self.payload(held.info.publisher, held.slot, len))
    }

    /// Gives a held sample's slot back to its publisher; the sample comes
    /// back untouched if another subscriber received it.
    pub fn release_held(&self, held: HeldSample) -> Result<(), HeldSample> {
        if held.owner != self.id {
            return Err(held);
        }
        self.release(held.hazard);
        Ok(())
    }
}

impl Drop for RawSample<'_> {
    #[inline]
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
    #[inline(always)]
    pub fn try_recv(&self) -> Result<Option<Sample<'_, T>>, RecvError> {
        Ok(self.raw.try_recv()?.and_then(Sample::new))
    }

    /// Waits for the next sample (see [`RawSubscriber::recv`]).
    pub fn recv(&self) -> Result<Sample<'_, T>, WaitError> {
        self.typed(Wait::Forever)
    }

    /// Waits up to `timeout` for the next sample; a zero timeout polls once.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Sample<'_, T>, WaitError> {
        self.typed(Wait::For(timeout))
    }

    /// Waits until `deadline` for the next sample; a past deadline polls once.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Sample<'_, T>, WaitError> {
        self.typed(Wait::Until(deadline))
    }

    #[inline(always)]
    fn typed(&self, mut wait: Wait) -> Result<Sample<'_, T>, WaitError> {
        loop {
            // A sample that cannot be viewed is dropped (see `Sample::new`);
            // the wait goes on to the same deadline, so a stream of them
            // cannot hold it beyond its timeout.
            if let Some(s) = Sample::new(self.raw.recv_until(&mut wait)?) {
                return Ok(s);
            }
            wait = wait.resolved(Instant::now());
        }
    }

    /// How this subscriber sleeps in `recv`.
    pub fn wake_mechanism(&self) -> WakeMechanism {
        self.raw.wake_mechanism()
    }

    /// The newest sample, skipping older unread ones.
    #[inline]
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
    #[inline]
    fn new(raw: RawSample<'a>) -> Option<Self> {
        // Views fail only on a misaligned or short slot, which the segment's
        // validated layout rules out; if it happens anyway, the sample is
        // dropped (and its hazard released) rather than panicking.
        let value = <T::PointerMetadata as ViewMeta>::view::<T>(raw.view_bytes(), raw.info.elems);
        value.map(|value| Sample { raw, value })
    }

    /// Where the sample came from.
    pub fn info(&self) -> SampleInfo {
        self.raw.info
    }
}

impl<T: Message + ?Sized> Deref for Sample<'_, T> {
    type Target = T;
    #[inline]
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::free_hazard;

    #[test]
    fn free_hazard_is_the_lowest_clear_bit_below_max_held() {
        assert_eq!(free_hazard(0, 2), Some(0));
        assert_eq!(free_hazard(0b01, 2), Some(1));
        assert_eq!(free_hazard(0b11, 2), None);
        // A sample dropped out of order leaves a hole, taken first.
        assert_eq!(free_hazard(0b101, 3), Some(1));
        assert_eq!(free_hazard(0b111, 3), None);
        assert_eq!(free_hazard(0xFFFF, 16), None);
    }
}
