//! The lock-free protocol between a lane's publisher and its readers.
//!
//! Written once here, called by `publisher.rs` and `subscriber.rs` on atomics
//! in shared memory, and by `tests/loom.rs`-style model tests (below, under
//! `cfg(loom)`) on loom's atomics. ARCHITECTURE.md has the prose version.
//!
//! ## The algorithm
//! Each lane is a single-producer broadcast ring of `depth` entries over a pool
//! of slots, with reclamation by *hazard pointers* (Michael, 2004):
//!
//! 1. **Publish.** The owner writes a free slot (payload, then its
//!    [`SlotHeader`](crate::layout::SlotHeader), `seq` last: [`seal`]),
//!    then stores the entry `pack(seq, slot)` at ring position
//!    `seq % depth` (Release), then advances `head` to `seq + 1` (Release).
//!    The slot that entry displaced is *retired*: no new reader can find it
//!    through the ring, and its header gets the mark ([`retire`], step 2').
//! 2. **Read.** A reader with cursor `c` loads the entry at `c % depth`
//!    (Acquire). `seq == c`: the sample is there. `seq == c - depth` or empty:
//!    not yet published. Anything else: the ring lapped the reader
//!    (best-effort loss, counted) and it jumps to `head - depth`.
//! 3. **Protect.** Before touching a slot the reader stores a hazard
//!    `(lane + 1) << 32 | slot` in its own record, issues a SeqCst fence, then
//!    re-loads the entry. Unchanged: the slot cannot be reused until the
//!    hazard is cleared. Changed: it clears the hazard and re-polls.
//! 4. **Reclaim.** Before reusing retired slots the owner issues a SeqCst
//!    fence, then loads every subscriber's hazards (Acquire); a retired slot
//!    that no hazard names is free.
//!
//! Why 3+4 are safe (the store-buffering pattern, closed by two SeqCst
//! fences): the reader's fence Fr and the owner's fence Fo are totally
//! ordered. If Fo comes first, the entry overwrite (before Fo) is visible to
//! the reader's re-load (after Fr): it sees the change and backs off. If Fr
//! comes first, the hazard (stored before Fr) is visible to the owner's scan
//! (after Fo): the slot stays retired. The sequence number inside the entry
//! rules out ABA (a slot recycled back into the same ring position). The
//! reader clears a hazard with Release and the scan loads with Acquire, so
//! every read of the payload happens before the slot's next reuse.
//!
//! **Arming ahead (3').** A reader may store the hazard for a slot *before*
//! the sample is there (the publisher's `next_slot` hint names the slot its
//! next send will most likely use), followed by the same SeqCst fence, while
//! it waits. A later poll whose entry names exactly that slot needs no
//! protect: its load of the entry comes after the fence, so it plays the
//! role of the re-load in the argument above (Fr before Fo: the scan sees
//! the hazard; Fo before Fr: the poll sees the overwrite and never finds the
//! slot). An armed hazard on a slot that is still free or loaned only keeps
//! the owner from reclaiming it later, which the slot budget covers (it
//! takes one of the reader's `max_held` hazards). So the fence moves off the
//! path from "sample published" to "sample read", into the reader's wait.
//!
//! **Polling the armed slot (2').** The publisher writes a slot's header
//! `seq` last, with Release (*sealing* it), before the ring entry; and when
//! the ring displaces a slot, it stores `seq | RETIRED` into that slot's
//! header (*marking* it) before any later reclaim's fence. A reader armed
//! on slot `x` (3') may then load `x`'s header `seq` (Acquire) instead of
//! the ring: `seq == cursor` means the sample is in `x`, protected, and
//! complete (the Acquire pairs with the seal). Why the slot cannot be
//! reused under it: a reuse needs a reclaim scan after the mark. If that
//! scan's fence Fo comes before the reader's arming fence Fr, the reader's
//! load (after Fr) sees the mark or a later seal, never `cursor`; if Fr
//! comes first, the scan sees the hazard. So a small sample reaches the
//! reader in the one cache line it polls, instead of a ring line and then
//! a slot line. The ring is still polled when that load fails (a wrong
//! guess, a lap, nothing armed).
//!
//! Fences rather than SeqCst accesses: the publish path stays a plain
//! Release store (no `xchg` on x86), the fence is paid once per reclaim
//! scan, and loom models fences exactly (it treats SeqCst *accesses* as
//! AcqRel and would report false races).

use crate::sync::{fence, AtomicU64, Ordering};

/// The mark of a retired slot in its header's `seq` (step 2'): the slot's
/// sequence number stays readable below it.
pub const RETIRED: u64 = 1 << 63;

/// Bits of the sequence number kept in a ring entry.
pub const SEQ_BITS: u32 = 48;
/// The largest sequence number a publisher taking over a lane continues
/// from (a larger `head` was written by a hostile peer).
pub const MAX_TAKEOVER_SEQ: u64 = 1 << 62;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

/// Packs a ring entry. `seq` is truncated to 48 bits: entries are only ever
/// compared for equality with a full cursor, which is unambiguous while
/// `depth` is far below 2^48.
#[inline]
pub fn pack(seq: u64, slot: u32) -> u64 {
    ((seq & SEQ_MASK) << 16) | (slot as u64 & 0xFFFF)
}

/// The slot index of an entry.
#[inline]
pub fn entry_slot(entry: u64) -> u32 {
    (entry & 0xFFFF) as u32
}

/// The (48-bit) sequence number of an entry.
#[inline]
pub fn entry_seq(entry: u64) -> u64 {
    entry >> 16
}

/// The ring entry of sequence number `seq` in a ring of `depth` entries.
/// Depths are usually powers of two (the default history is 8): those get a
/// mask, the others a division (15-40 cycles, on every send and receive).
#[inline]
pub fn ring_index(seq: u64, depth: u64) -> usize {
    if depth.is_power_of_two() {
        (seq & (depth - 1)) as usize
    } else {
        (seq % depth) as usize
    }
}

/// What a reader finds at its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Nothing new.
    Empty,
    /// The sample for the cursor, in this entry.
    Ready(u64),
    /// The entry belongs to another sequence number than the cursor's
    /// (the ring moved past the cursor, or the entry is garbage): the reader
    /// asks [`after_lap`] what to do, with the entry.
    Lapped(u64),
}

/// Step 2: looks at the ring position of `cursor`.
#[inline]
pub fn poll(ring: &[AtomicU64], cursor: u64) -> Poll {
    let depth = ring.len() as u64;
    poll_at(&ring[ring_index(cursor, depth)], cursor, depth)
}

/// [`poll`], with `at` the ring entry of `cursor` (at `ring_index`) in a
/// ring of `depth` entries.
#[inline]
pub fn poll_at(at: &AtomicU64, cursor: u64, depth: u64) -> Poll {
    // SYNC POINT A (Acquire): pairs with the Release store in `publish`; the
    // slot's payload and header written before it are visible.
    let entry = at.load(Ordering::Acquire);
    if entry == 0 {
        return Poll::Empty;
    }
    let seq = entry_seq(entry);
    if seq == cursor & SEQ_MASK {
        Poll::Ready(entry)
    } else if cursor >= depth && seq == (cursor - depth) & SEQ_MASK {
        Poll::Empty
    } else {
        Poll::Lapped(entry)
    }
}

/// What a reader does about an entry that is neither its cursor's sample
/// nor "not yet" ([`Poll::Lapped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lap {
    /// The ring lapped the reader: it lost the samples up to `next` (where
    /// it resumes; counted as dropped).
    Lost { next: u64 },
    /// The entry at a published position is garbage (no lap of the ring
    /// puts it there): the sample is lost; the reader counts one corrupt
    /// entry and resumes at `next` = cursor + 1.
    Corrupt { next: u64 },
    /// The reader's cursor is beyond the lane's `head` (a corrupted head
    /// moved it there earlier): resume at `next` = head, counted corrupt.
    Resync { next: u64 },
    /// The entry changed while we looked: poll again.
    Retry,
    /// Nothing to take yet: the entry is at a position not published yet
    /// (the publisher overwrites it when it gets there), or the publisher
    /// is between its seal and its `head` store.
    Wait,
}

/// Decides what a reader at `cursor` does about the entry at the cursor's
/// position that [`poll`] found (`first`, not its sample, not "not yet"),
/// given the lane's `head` loaded after it (Acquire) and the same entry
/// loaded again after that (`again`, Acquire).
///
/// Nothing here trusts one word alone, so garbage in a ring entry or in
/// `head` can neither stall a reader for good nor move its cursor further
/// than the ring itself shows:
/// - a genuine lap leaves `s = cursor + k * depth` (`k >= 1`), and since the
///   entry was stored after `head` reached `s`, a `head` loaded after
///   seeing it is `>= s`. The reader resumes at `s + 1 - depth`, the oldest
///   sample the entry proves may still be there, whatever `head` says;
/// - an entry that changed between the loads is looked at again;
/// - an unchanged entry that is no lap `head` backs, at a position `head`
///   says was published (so `again`, loaded after that `head`, must show
///   the cursor's sample or a later one), is garbage: skipped, one sample
///   lost and counted corrupt, so a reliable reader never deadlocks on it,
///   nor its publisher on the reader;
/// - a cursor more than one beyond `head` cannot happen without
///   corruption: the reader goes back to `head`. (One beyond is real: step
///   2' takes a sealed sample before the publisher stores its ring entry
///   and `head`. loom found this, and that a stale `first` with a fresh
///   `head` is real too, hence `again`.)
#[inline]
pub fn after_lap(first: u64, head: u64, again: u64, cursor: u64, depth: u64) -> Lap {
    if head < cursor {
        return if cursor - head > 1 {
            Lap::Resync { next: head.max(1) }
        } else {
            Lap::Wait
        };
    }
    // How far ahead of the cursor the entry's sequence number is (mod 2^48).
    let ahead = entry_seq(first).wrapping_sub(cursor) & SEQ_MASK;
    if ahead != 0 && ahead < 1 << (SEQ_BITS - 1) && ahead % depth == 0 {
        // A cursor near u64::MAX only comes from a corrupted record (found
        // by fuzzing): no lap there; the checks below resynchronize.
        if let Some(s) = cursor.checked_add(ahead) {
            if head >= s {
                // `ahead` is a non-zero multiple of `depth`, so `s >= depth`.
                return Lap::Lost {
                    next: s - depth + 1,
                };
            }
        }
    }
    if again != first {
        Lap::Retry
    } else if head > cursor {
        Lap::Corrupt { next: cursor + 1 }
    } else {
        Lap::Wait
    }
}

/// Step 3: protects the slot of `entry` with `hazard`, or returns `false`
/// (hazard cleared) if the ring moved on meanwhile.
#[inline]
pub fn protect(hazard: &AtomicU64, tag: u64, ring_entry: &AtomicU64, entry: u64) -> bool {
    // SYNC POINT C' (Release): a scan that reads this tag must also see the
    // release of the reader's previous hazard (a later plain store is not
    // part of a release sequence, so Relaxed here would let the owner reuse
    // the previous slot without a happens-before edge; loom found this).
    hazard.store(tag, Ordering::Release);
    // SYNC POINT B (reader's fence Fr): orders the hazard store before the
    // re-load; pairs with the owner's fence in `hazard_scan` (module docs).
    fence(Ordering::SeqCst);
    if ring_entry.load(Ordering::Acquire) == entry {
        true
    } else {
        release(hazard);
        false
    }
}

/// Step 3' (module docs): names `tag`'s slot in `hazard` before the
/// sample is there, then the fence. An entry later found naming that slot
/// is protected without [`protect`].
#[inline]
pub fn arm(hazard: &AtomicU64, tag: u64) {
    // SYNC POINT C' (Release), as in `protect`.
    hazard.store(tag, Ordering::Release);
    // SYNC POINT B (reader's fence Fr): orders the hazard store before every
    // later load of the ring; pairs with the owner's fence in `hazard_scan`.
    fence(Ordering::SeqCst);
}

/// Drops a hazard once the reader is done with the slot.
#[inline]
pub fn release(hazard: &AtomicU64) {
    // SYNC POINT C (Release): pairs with the Acquire loads in `hazard_scan`:
    // the reader's payload reads happen before the slot's reuse.
    hazard.store(0, Ordering::Release);
}

/// The hazard tag naming `slot` of `lane`.
#[inline]
pub fn hazard_tag(lane: usize, slot: u32) -> u64 {
    ((lane as u64 + 1) << 32) | slot as u64
}

/// Step 1, first half: `seq_word` is the header `seq` of a slot whose
/// payload and other header fields are written; this makes it the sample
/// `seq` for a reader polling that slot (step 2'). [`publish`] follows.
#[inline]
pub fn seal(seq_word: &AtomicU64, seq: u64) {
    // SYNC POINT F (Release): pairs with the Acquire load in `armed_holds`;
    // the payload and header written before are visible with the seq.
    seq_word.store(seq, Ordering::Release);
}

/// Step 2': whether the slot whose header `seq` is `seq_word`, armed by
/// this reader (step 3'), holds the sample `cursor`: if so it is protected
/// and complete, with no ring load.
#[inline]
pub fn armed_holds(seq_word: &AtomicU64, cursor: u64) -> bool {
    // SYNC POINT F (Acquire): pairs with `seal`. Loaded after the arming
    // fence Fr: sees `retire`'s mark if a reclaim fence came before Fr.
    seq_word.load(Ordering::Acquire) == cursor
}

/// The sequence number in a slot header's `seq`, with or without the mark.
#[inline]
pub fn sealed_seq(seq_word: u64) -> u64 {
    seq_word & !RETIRED
}

/// After the ring displaced a slot (sample `seq` in it): marks it, so a
/// reader polling it (step 2') no longer takes it. Must come before the
/// next reclaim's fence, which orders it (Relaxed is enough: module docs).
#[inline]
pub fn retire(seq_word: &AtomicU64, seq: u64) {
    seq_word.store(sealed_seq(seq) | RETIRED, Ordering::Relaxed);
}

/// Step 1: makes `slot` (already written) the sample `seq` of the lane;
/// returns the ring position it took (whose previous slot is now retired).
#[inline]
pub fn publish(ring: &[AtomicU64], head: &AtomicU64, seq: u64, slot: u32) -> usize {
    let pos = ring_index(seq, ring.len() as u64);
    publish_at(&ring[pos], head, seq, slot);
    pos
}

/// [`publish`], with `entry` the ring entry of `seq` (at `ring_index`).
#[inline]
pub fn publish_at(entry: &AtomicU64, head: &AtomicU64, seq: u64, slot: u32) {
    // SYNC POINT A (Release): pairs with the reader's Acquire load in `poll`.
    entry.store(pack(seq, slot), Ordering::Release);
    // SYNC POINT D (Release): pairs with the Acquire load of `head` by a
    // lapped reader; every entry below `seq + 1` is in place.
    head.store(seq + 1, Ordering::Release);
}

/// Step 4: calls `f(slot)` for every slot of `lane` named by a hazard in any
/// of the `lists` (one per subscriber).
#[inline]
pub fn hazard_scan<'a>(
    lists: impl IntoIterator<Item = &'a [AtomicU64]>,
    lane: usize,
    mut f: impl FnMut(u32),
) {
    // SYNC POINT B (owner's fence Fo): orders every earlier entry overwrite
    // before the hazard loads; pairs with the reader's fence in `protect`.
    fence(Ordering::SeqCst);
    for hazards in lists {
        for h in hazards {
            // SYNC POINT C (Acquire): pairs with `release`.
            let v = h.load(Ordering::Acquire);
            if v >> 32 == lane as u64 + 1 {
                f((v & 0xFFFF_FFFF) as u32);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ring(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn ring_index_is_seq_modulo_depth() {
        for depth in [1u64, 2, 3, 7, 8, 10, 64, 1000, 1 << 16] {
            for seq in (0..3 * depth).chain([u64::MAX - 1, u64::MAX, 1 << 47]) {
                assert_eq!(
                    ring_index(seq, depth) as u64,
                    seq % depth,
                    "{seq} % {depth}"
                );
            }
        }
    }

    #[test]
    fn poll_sees_publish_and_laps() {
        let r = ring(4);
        let head = AtomicU64::new(1);
        assert_eq!(poll(&r, 1), Poll::Empty);
        publish(&r, &head, 1, 7);
        assert_eq!(poll(&r, 1), Poll::Ready(pack(1, 7)));
        assert_eq!(poll(&r, 2), Poll::Empty);
        for s in 2..=5 {
            publish(&r, &head, s, s as u32);
        }
        // seq 5 overwrote seq 1's position
        assert_eq!(poll(&r, 1), Poll::Lapped(pack(5, 5)));
        assert_eq!(
            after_lap(pack(5, 5), head.load(Ordering::Relaxed), pack(5, 5), 1, 4),
            Lap::Lost { next: 2 }
        );
        assert_eq!(poll(&r, 6), Poll::Empty);
    }

    #[test]
    fn garbage_entries_and_heads_are_bounded() {
        // Garbage at a published position: skip one, counted corrupt.
        assert_eq!(
            after_lap(pack(12345, 1), 10, pack(12345, 1), 5, 4),
            Lap::Corrupt { next: 6 }
        );
        // Garbage at a position not published yet: wait for the overwrite.
        assert_eq!(
            after_lap(pack(12345, 1), 5, pack(12345, 1), 5, 4),
            Lap::Wait
        );
        // A genuine-looking lap that head does not back: garbage.
        assert_eq!(
            after_lap(pack(9, 1), 7, pack(9, 1), 5, 4),
            Lap::Corrupt { next: 6 }
        );
        // Between the publisher's ring store and head store: a real lap.
        assert_eq!(
            after_lap(pack(9, 1), 9, pack(9, 1), 5, 4),
            Lap::Lost { next: 6 }
        );
        // A huge head does not move the cursor further than the entry says.
        assert_eq!(
            after_lap(pack(9, 1), u64::MAX, pack(9, 1), 5, 4),
            Lap::Lost { next: 6 }
        );
        // A cursor beyond head (moved there by a corrupted head) comes back.
        assert_eq!(
            after_lap(pack(3, 1), 7, pack(3, 1), 1 << 40, 4),
            Lap::Resync { next: 7 }
        );
        // One beyond head: a sealed sample taken before the ring and head
        // stores (step 2'); the entry is an old one.
        assert_eq!(after_lap(pack(2, 1), 5, pack(2, 1), 6, 1), Lap::Wait);
        // A stale first look with a fresh head: look again.
        assert_eq!(after_lap(pack(1, 1), 10, pack(5, 2), 5, 4), Lap::Retry);
        // An entry behind the cursor is never a lap.
        assert_eq!(
            after_lap(pack(1, 1), 10, pack(1, 1), 9, 4),
            Lap::Corrupt { next: 10 }
        );
    }

    #[test]
    fn protect_fails_when_entry_changes() {
        let r = ring(2);
        let head = AtomicU64::new(1);
        let hz = AtomicU64::new(0);
        publish(&r, &head, 1, 3);
        let e = pack(1, 3);
        assert!(protect(&hz, hazard_tag(0, 3), &r[1], e));
        let mut seen = vec![];
        hazard_scan([std::slice::from_ref(&hz)], 0, |s| seen.push(s));
        assert_eq!(seen, vec![3]);
        release(&hz);
        publish(&r, &head, 3, 4);
        assert!(!protect(&hz, hazard_tag(0, 3), &r[1], e));
        assert_eq!(hz.load(Ordering::Relaxed), 0);
    }
}

/// Model check of publish/protect/reclaim with loom: run with
/// `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p axon --lib --release protocol`.
/// (Checked to fail when `protect` skips its re-validation or its fence.)
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    const DEPTH: usize = 1;
    const SLOTS: usize = 3; // depth + 1 held + 1 loan
    /// More sends than slots, so slots are recycled through the hazard scan.
    const PUBLISHES: u64 = 5;

    struct Lane {
        ring: Vec<AtomicU64>,
        head: AtomicU64,
        hazard: AtomicU64,
        /// Each slot's header `seq` (sealed, then marked).
        seqs: Vec<AtomicU64>,
        payload: Vec<UnsafeCell<u64>>,
    }

    impl Lane {
        fn new() -> Self {
            Lane {
                ring: (0..DEPTH).map(|_| AtomicU64::new(0)).collect(),
                head: AtomicU64::new(1),
                hazard: AtomicU64::new(0),
                seqs: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
                payload: (0..SLOTS).map(|_| UnsafeCell::new(0)).collect(),
            }
        }
    }

    /// One publisher sends seq 1..=n, each payload = seq, reusing slots only
    /// when no hazard names them; one reader reads at cursor 1. loom explores
    /// every interleaving: a torn or reused read is a data race on
    /// `UnsafeCell` (loom panics) or a wrong value (assert).
    #[test]
    fn reader_never_sees_a_reused_slot() {
        loom::model(|| {
            let lane = Arc::new(Lane::new());
            let p = lane.clone();
            let publisher = thread::spawn(move || publish_all(&p));
            read_three(&lane, false);
            publisher.join().unwrap();
        });
    }

    /// Publisher: sends seq 1..=PUBLISHES, reusing slots only when no hazard
    /// names them.
    fn publish_all(p: &Lane) {
        let mut free: Vec<u32> = (0..SLOTS as u32).collect();
        let mut retired: Vec<u32> = Vec::new();
        let mut in_ring: Option<u32> = None;
        for seq in 1..=PUBLISHES {
            if free.is_empty() {
                let mut hazarded = Vec::new();
                hazard_scan([std::slice::from_ref(&p.hazard)], 0, |s| hazarded.push(s));
                retired.retain(|s| {
                    if hazarded.contains(s) {
                        true
                    } else {
                        free.push(*s);
                        false
                    }
                });
            }
            let Some(slot) = free.pop() else { return };
            // SAFETY: the slot came from `free`: not in the ring and no
            // hazard names it, which is the property under test; loom
            // reports a data race if a reader touches it meanwhile.
            p.payload[slot as usize].with_mut(|v| unsafe { *v = seq });
            seal(&p.seqs[slot as usize], seq);
            publish(&p.ring, &p.head, seq, slot);
            if let Some(old) = in_ring.replace(slot) {
                retire(&p.seqs[old as usize], seq - DEPTH as u64);
                retired.push(old);
            }
        }
    }

    /// The same with the reader arming its hazard ahead of every poll, on a
    /// different guess each time (so guesses are right, wrong, and right
    /// about a slot that is recycled meanwhile), first polling the armed
    /// slot's header (step 2'), then reading without `protect` whenever the
    /// entry names the armed slot.
    #[test]
    fn armed_reader_never_sees_a_reused_slot() {
        loom::model(|| {
            let lane = Arc::new(Lane::new());
            let p = lane.clone();
            let publisher = thread::spawn(move || publish_all(&p));
            read_three(&lane, true);
            publisher.join().unwrap();
        });
    }

    /// Reader: three attempts at cursor 1, 2, ...; `armed`: arm a guess first.
    fn read_three(lane: &Lane, armed: bool) {
        let mut cursor = 1u64;
        for attempt in 0..3u32 {
            // Guesses 2, 1, 0: the first is what the publisher pops first.
            let guess = (SLOTS as u32 - 1).wrapping_sub(attempt) % SLOTS as u32;
            if armed {
                arm(&lane.hazard, hazard_tag(0, guess));
                if armed_holds(&lane.seqs[guess as usize], cursor) {
                    read_slot(lane, guess, cursor);
                    cursor += 1;
                    continue;
                }
            }
            match poll(&lane.ring, cursor) {
                Poll::Ready(entry) => {
                    let slot = entry_slot(entry);
                    let pos = (cursor % DEPTH as u64) as usize;
                    let safe = (armed && slot == guess)
                        || protect(&lane.hazard, hazard_tag(0, slot), &lane.ring[pos], entry);
                    if safe {
                        // Sealed before the entry; maybe marked since.
                        let seq = sealed_seq(lane.seqs[slot as usize].load(Ordering::Relaxed));
                        assert_eq!(seq, cursor, "header of a protected slot");
                        read_slot(lane, slot, cursor);
                        cursor += 1;
                    }
                }
                Poll::Lapped(first) => {
                    let head = lane.head.load(Ordering::Acquire);
                    let pos = (cursor % DEPTH as u64) as usize;
                    let again = lane.ring[pos].load(Ordering::Acquire);
                    match after_lap(first, head, again, cursor, DEPTH as u64) {
                        Lap::Lost { next } => cursor = next,
                        // The cursor is one beyond head after step 2', or
                        // the entry moved meanwhile.
                        Lap::Wait | Lap::Retry => thread::yield_now(),
                        other => panic!("a genuine lap classified as {other:?}"),
                    }
                }
                Poll::Empty => thread::yield_now(),
            }
        }
    }

    /// Reads the payload of a protected slot, checks it, drops the hazard.
    fn read_slot(lane: &Lane, slot: u32, cursor: u64) {
        // SAFETY: protected by the hazard (what is under test); a
        // concurrent write would be reported by loom.
        let v = lane.payload[slot as usize].with(|v| unsafe { *v });
        assert_eq!(v, cursor, "read a reused slot");
        release(&lane.hazard);
    }
}
