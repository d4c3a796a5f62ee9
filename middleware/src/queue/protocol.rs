//! The work-queue state machine: one 64-bit word per job slot, moved from
//! state to state by a single compare-and-swap each, and its loom model.
//!
//! ## The slot word
//! ```text
//!  63                              16 15        9 8     3 2   0
//! +----------------------------------+-----------+-------+-----+
//! | ticket (48 bits)                 | deliveries| owner | st  |
//! +----------------------------------+-----------+-------+-----+
//! ```
//! - `st`: [`FREE`], [`WRITING`], [`READY`], [`CLAIMED`], [`DEAD`],
//!   [`CLAIMED_DEAD`]; 6 and 7 are never written and read as corruption.
//! - `owner`: the participant record (0..64) that writes ([`WRITING`]) or
//!   holds ([`CLAIMED`], [`CLAIMED_DEAD`]) the slot.
//! - `deliveries`: how many times the job has been claimed so far.
//! - `ticket`: the job's place in the queue, taken from the header's `tail`
//!   counter when it was published; kept through requeues, so a requeued
//!   job goes back to its old place (the front). Tickets are unique for
//!   2^48 jobs, which makes every word a fresh value: no ABA.
//!
//! ## Transitions (each one CAS on the word, AcqRel)
//! ```text
//!            begin_write(p)            publish(p, t)
//!   FREE ----------------> WRITING(p) ---------------> READY(t, d=0)
//!    ^  <---------------- (abandon / owner p dead)        |   ^
//!    |                                          claim(w)  |   | requeue(w) / w dead,
//!    |   ack(w)                                           v   | d < max_deliveries
//!    +------------------------------------------- CLAIMED(w, t, d+1)
//!    |                                                    |  reject(w), or requeue
//!    |                                                    v  with d >= max_deliveries
//!    |   ack(w)           claim_dead(w)                   
//!    +-------- CLAIMED_DEAD(w) <------------------------ DEAD(t, d)
//!                 | requeue / w dead ------------------->  ^
//! ```
//! **Who may move a slot**: only the owner named in the word, or anyone who
//! holds that owner's OFD lock (which proves the owner is dead: the queue
//! segment's `reap`), or anyone for FREE/READY/DEAD (which have no owner).
//! Since every CAS expects the whole word, a stale actor (a reaper whose
//! look at the word predates a new claim) fails instead of undoing it.
//!
//! **At-least-once.** A job leaves the table only by `ack` from the worker
//! that holds it. A worker that dies holding it leaves `CLAIMED(w)`; the
//! reaper (anyone who takes `w`'s lock) puts it back to READY with its
//! delivery count, so the next claim sees `deliveries > 0`: a flagged
//! redelivery. After `max_deliveries` claims, the next requeue moves it to
//! DEAD (the dead-letter region), which only dead-letter workers claim.
//!
//! **Memory order.** The producer writes the payload, then `publish`
//! (Release); a worker's `claim` CAS (Acquire) sees the payload. A worker's
//! `ack` (Release) follows its last read of the payload; the producer's
//! `begin_write` CAS (Acquire) precedes its first write. So a payload is
//! never written while a worker reads it.

use crate::sync::{AtomicU64, Ordering};

/// Slot is empty; a producer may take it.
pub const FREE: u64 = 0;
/// A producer (the owner) is writing a job into it.
pub const WRITING: u64 = 1;
/// Holds a job waiting for a worker.
pub const READY: u64 = 2;
/// A worker (the owner) holds the job.
pub const CLAIMED: u64 = 3;
/// A dead letter: a job that was rejected or delivered too often.
pub const DEAD: u64 = 4;
/// A dead-letter worker (the owner) holds the dead letter.
pub const CLAIMED_DEAD: u64 = 5;

/// Most participant records (owner field: 6 bits).
pub const MAX_OWNERS: u32 = 64;
/// Largest `max_deliveries` (deliveries field: 7 bits).
pub const MAX_DELIVERIES: u32 = 127;
/// Tickets are taken modulo this.
pub const TICKET_MASK: u64 = (1 << 48) - 1;

/// A slot word, unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word {
    /// One of the state constants (anything else: corrupt).
    pub state: u64,
    /// Participant record.
    pub owner: u32,
    /// Claims so far.
    pub deliveries: u32,
    /// Place in the queue.
    pub ticket: u64,
}

impl Word {
    /// Unpacks a raw word.
    #[inline]
    pub fn unpack(raw: u64) -> Word {
        Word {
            state: raw & 7,
            owner: ((raw >> 3) & 63) as u32,
            deliveries: ((raw >> 9) & 127) as u32,
            ticket: raw >> 16,
        }
    }

    /// Packs it (fields are masked to their widths).
    #[inline]
    pub fn pack(self) -> u64 {
        (self.state & 7)
            | ((self.owner as u64 & 63) << 3)
            | ((self.deliveries as u64 & 127) << 9)
            | ((self.ticket & TICKET_MASK) << 16)
    }

    /// Whether the word is one the protocol writes (state 0..=5).
    #[inline]
    pub fn valid(self) -> bool {
        self.state <= CLAIMED_DEAD
    }
}

fn cas(slot: &AtomicU64, old: u64, new: u64) -> bool {
    // SYNC POINT: every transition is AcqRel (see "Memory order" above).
    slot.compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// FREE -> WRITING(producer). `seen` is the raw word the caller read.
/// Returns the word stored.
pub fn begin_write(slot: &AtomicU64, seen: u64, producer: u32) -> Option<u64> {
    let w = Word::unpack(seen);
    if w.state != FREE {
        return None;
    }
    let new = Word {
        state: WRITING,
        owner: producer,
        deliveries: 0,
        ticket: w.ticket,
    }
    .pack();
    cas(slot, seen, new).then_some(new)
}

/// WRITING(producer) -> READY(ticket, 0): the job is visible to workers.
/// `writing` is the word `begin_write` stored.
pub fn publish(slot: &AtomicU64, writing: u64, ticket: u64) -> bool {
    let w = Word::unpack(writing);
    let new = Word {
        state: READY,
        owner: 0,
        deliveries: 0,
        ticket,
    };
    w.state == WRITING && cas(slot, writing, new.pack())
}

/// WRITING -> FREE: a loan dropped unsent.
pub fn abandon_write(slot: &AtomicU64, writing: u64) -> bool {
    let w = Word::unpack(writing);
    let new = Word {
        state: FREE,
        owner: 0,
        deliveries: 0,
        ticket: w.ticket,
    };
    w.state == WRITING && cas(slot, writing, new.pack())
}

/// READY -> CLAIMED(worker, deliveries + 1), or DEAD -> CLAIMED_DEAD
/// (deliveries kept) for a dead-letter worker (`dead`). Returns the
/// claimed word.
pub fn claim(slot: &AtomicU64, seen: u64, worker: u32, dead: bool) -> Option<u64> {
    let w = Word::unpack(seen);
    let (from, to) = if dead {
        (DEAD, CLAIMED_DEAD)
    } else {
        (READY, CLAIMED)
    };
    if w.state != from {
        return None;
    }
    let new = Word {
        state: to,
        owner: worker,
        // A dead letter keeps the count that made it one.
        deliveries: if dead {
            w.deliveries
        } else {
            (w.deliveries + 1).min(MAX_DELIVERIES)
        },
        ticket: w.ticket,
    }
    .pack();
    cas(slot, seen, new).then_some(new)
}

/// How a held job is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Done: the slot becomes FREE.
    Ack,
    /// Back to the queue (READY), or to the dead letters once it has been
    /// delivered `max_deliveries` times; a dead letter goes back to DEAD.
    Requeue,
    /// To the dead letters.
    Reject,
}

/// Where a settled job went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Gone (acknowledged).
    Freed,
    /// Back in the queue.
    Requeued,
    /// In the dead letters.
    DeadLettered,
}

/// The word a held job (`held`: CLAIMED or CLAIMED_DEAD) becomes when
/// settled `how`, and where it went.
pub fn settled(held: u64, how: Settle, max_deliveries: u32) -> Option<(u64, Outcome)> {
    let w = Word::unpack(held);
    let (state, outcome) = match (w.state, how) {
        (CLAIMED | CLAIMED_DEAD, Settle::Ack) => (FREE, Outcome::Freed),
        (CLAIMED, Settle::Requeue) if w.deliveries < max_deliveries => (READY, Outcome::Requeued),
        (CLAIMED, _) | (CLAIMED_DEAD, _) => (DEAD, Outcome::DeadLettered),
        _ => return None,
    };
    let new = Word {
        state,
        owner: 0,
        deliveries: w.deliveries,
        ticket: w.ticket,
    };
    Some((new.pack(), outcome))
}

/// Settles the job the caller holds (`held`, the word `claim` returned).
/// `None`: the word is no longer `held` (only a hostile writer, or a reaper
/// that took this worker for dead, changes a held word).
pub fn settle(slot: &AtomicU64, held: u64, how: Settle, max_deliveries: u32) -> Option<Outcome> {
    let (new, outcome) = settled(held, how, max_deliveries)?;
    cas(slot, held, new).then_some(outcome)
}

/// What the reaper does to a slot `owner` (now dead) left: a job it was
/// writing is dropped (it was never sent), a job it held is requeued as if
/// nacked. Call only while holding `owner`'s lock. Returns what happened.
pub fn reap(slot: &AtomicU64, owner: u32, max_deliveries: u32) -> Option<Outcome> {
    let seen = slot.load(Ordering::Acquire);
    let w = Word::unpack(seen);
    if w.owner != owner {
        return None;
    }
    match w.state {
        WRITING => abandon_write(slot, seen).then_some(Outcome::Freed),
        CLAIMED | CLAIMED_DEAD => settle(slot, seen, Settle::Requeue, max_deliveries),
        _ => None,
    }
}

/// READY -> FREE: a purge drops a waiting job (`axon queue purge`). READY
/// has no owner, so anyone may; a worker whose claim raced it fails its CAS
/// and rescans. `seen` is the raw READY word the caller read.
pub fn purge(slot: &AtomicU64, seen: u64) -> bool {
    let w = Word::unpack(seen);
    let new = Word {
        state: FREE,
        owner: 0,
        deliveries: 0,
        ticket: w.ticket,
    };
    w.state == READY && cas(slot, seen, new.pack())
}

/// DEAD -> READY: a dead letter put back in the queue (`axon queue dead
/// --requeue`), at its old place (its ticket, so at the front), with a
/// delivery count of 1: its next delivery is flagged as a redelivery and
/// it has `max_deliveries - 1` more claims (at least one) before it is a
/// dead letter again. DEAD has no owner, so anyone may.
pub fn revive(slot: &AtomicU64, seen: u64) -> bool {
    let w = Word::unpack(seen);
    let new = Word {
        state: READY,
        owner: 0,
        deliveries: 1,
        ticket: w.ticket,
    };
    w.state == DEAD && cas(slot, seen, new.pack())
}

/// What one pass over the slot table found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// The claimable slot (READY, or DEAD when scanning dead letters) with
    /// the lowest ticket, and its raw word.
    pub best: Option<(usize, u64)>,
    /// Bit `i`: record `i` writes or holds some slot.
    pub owners: u64,
    /// Words that are not valid (counted as corruption).
    pub corrupt: u32,
}

/// Looks at every slot once. Lowest ticket first gives FIFO order.
pub fn scan(slots: &[AtomicU64], dead: bool) -> Scan {
    let want = if dead { DEAD } else { READY };
    let mut out = Scan::default();
    let mut best_ticket = u64::MAX;
    for (i, s) in slots.iter().enumerate() {
        let raw = s.load(Ordering::Acquire);
        let w = Word::unpack(raw);
        match w.state {
            s if s == want => {
                if w.ticket < best_ticket {
                    best_ticket = w.ticket;
                    out.best = Some((i, raw));
                }
            }
            WRITING | CLAIMED | CLAIMED_DEAD => out.owners |= 1 << w.owner,
            FREE | READY | DEAD => {}
            _ => out.corrupt += 1,
        }
    }
    out
}

/// Group commit of durable sends: concurrent senders (threads and
/// processes) whose jobs are published share one write-back to disk.
///
/// ## The commit word (one `u64` in the header)
/// ```text
///  63                                    8 7          0
/// +---------------------------------------+------------+
/// | seq: syncs begun (56 bits)            | holder     |
/// +---------------------------------------+------------+
/// ```
/// `holder` 0: idle, and syncs `1..=seq` have completed. `holder` `r + 1`:
/// record `r` runs sync number `seq`, so `1..seq` have completed. Every
/// value is a consistent state (there is no second word that a torn copy
/// or a power cut could leave out of step): what a file holds after a cut
/// is at worst a holder that is dead, which waiters clear.
///
/// ## A sender
/// 1. Has written its job and published it (the slot CAS).
/// 2. `enter`: reads the word with an RMW (`fetch_or(0)`, AcqRel) and takes
///    `e = seq`. A sync numbered `> e` begins (its CAS) after this RMW in
///    the word's modification order, so the job's bytes happen-before that
///    CAS and therefore before its `msync`/`fdatasync` (the kernel reads the
///    pages after the syncer's CAS): such a sync writes the job.
/// 3. Loops: if syncs up to `e + 1` have completed, return (durable).
///    If idle, `begin` (CAS idle `seq` -> `seq + 1`, holder = me): run the
///    sync, then `finish` (CAS to idle `seq + 1`) or, if it failed,
///    `abort` (CAS back to idle `seq`: nobody counts a failed sync). If a
///    sync is running, sleep on the commit futex word until it ends (the
///    token is read before the commit word, so the end is never missed),
///    and clear it (`abort`) if its holder is dead.
///
/// A sync is begun only when none runs: one write-back at a time, and the
/// senders that arrive while it runs share the next one (at most two
/// write-backs pass before any sender returns).
pub mod commit {
    use crate::sync::{AtomicU32, AtomicU64, Ordering};

    /// Syncs begun, as of `raw`.
    #[inline]
    pub fn seq(raw: u64) -> u64 {
        raw >> 8
    }

    /// The record running a sync (`None`: idle). May name no valid record
    /// in a hostile or cut file: callers bound-check it.
    #[inline]
    pub fn holder(raw: u64) -> Option<u32> {
        match raw & 0xff {
            0 => None,
            h => Some(h as u32 - 1),
        }
    }

    /// Syncs completed, as of `raw`.
    #[inline]
    pub fn done(raw: u64) -> u64 {
        match holder(raw) {
            None => seq(raw),
            Some(_) => seq(raw).saturating_sub(1),
        }
    }

    /// Step 2: the sync number a sender needs completed is `enter() + 1`.
    pub fn enter(word: &AtomicU64) -> u64 {
        // SYNC POINT G: an RMW, so it is ordered in the word's
        // modification order against every `begin` CAS: a `begin` after it
        // acquires this Release and with it the sender's job bytes.
        seq(word.fetch_or(0, Ordering::AcqRel))
    }

    /// idle(`seq`) -> running(`seq + 1`, `me`). Returns the word stored.
    pub fn begin(word: &AtomicU64, seen: u64, me: u32) -> Option<u64> {
        if holder(seen).is_some() {
            return None;
        }
        // `me < MAX_OWNERS` (64), so `me + 1` fits the 8-bit holder.
        let new = (seq(seen).wrapping_add(1) << 8) | ((me as u64 + 1) & 0xff);
        word.compare_exchange(seen, new, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| new)
    }

    /// running(`seq`) -> idle(`seq`): sync `seq` completed.
    pub fn finish(word: &AtomicU64, running: u64) -> bool {
        word.compare_exchange(
            running,
            seq(running) << 8,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
    }

    /// running(`seq`) -> idle(`seq - 1`): the sync failed, or its holder
    /// is dead; it counts for nobody.
    pub fn abort(word: &AtomicU64, running: u64) -> bool {
        holder(running).is_some()
            && word
                .compare_exchange(
                    running,
                    seq(running).saturating_sub(1) << 8,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    /// Step 3 for a sender that entered at `e` (record `me`): returns once
    /// a sync numbered `> e` has completed (`Ok`), or the sync this sender
    /// ran failed (its error). `sync` writes the file back; `sleep(token,
    /// running)` waits until `futex` moves from `token` (or a while), and
    /// clears a dead holder with [`abort`]; `woke()` is called after a
    /// sync ended, to wake sleepers.
    pub fn complete<E>(
        word: &AtomicU64,
        futex: &AtomicU32,
        me: u32,
        e: u64,
        mut sync: impl FnMut() -> Result<(), E>,
        mut sleep: impl FnMut(u32, u64),
        mut woke: impl FnMut(),
    ) -> Result<(), E> {
        loop {
            // The token before the word: a sync that ends after this read
            // bumps `futex` after its `finish`, so `sleep` returns.
            let token = futex.load(Ordering::Acquire);
            let c = word.load(Ordering::Acquire);
            if done(c) > e {
                return Ok(());
            }
            if holder(c).is_some() {
                sleep(token, c);
                continue;
            }
            let Some(running) = begin(word, c, me) else {
                continue;
            };
            let r = sync();
            if r.is_ok() {
                finish(word, running);
            } else {
                abort(word, running);
            }
            futex.fetch_add(1, Ordering::Release);
            woke();
            // `running`'s number is `> e` (begun after `enter`), so this
            // sync wrote the sender's job: done (or its error).
            return r;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_mask() {
        let w = Word {
            state: CLAIMED,
            owner: 63,
            deliveries: 127,
            ticket: TICKET_MASK,
        };
        assert_eq!(Word::unpack(w.pack()), w);
        assert!(!Word::unpack(6).valid());
    }

    #[test]
    fn purge_takes_only_ready_and_revive_only_dead_and_stale_words_fail() {
        let s = AtomicU64::new(0);
        let wr = begin_write(&s, 0, 1).unwrap();
        assert!(!purge(&s, wr), "a job being written is its producer's");
        assert!(publish(&s, wr, 9));
        let ready = s.load(Ordering::Relaxed);
        let held = claim(&s, ready, 2, false).unwrap();
        assert!(!purge(&s, ready), "stale: the job was claimed since");
        assert!(!purge(&s, held) && !revive(&s, held), "held jobs stay");
        settle(&s, held, Settle::Reject, 5).unwrap();
        let dead = s.load(Ordering::Relaxed);
        assert!(!purge(&s, dead), "purge leaves dead letters");
        assert!(revive(&s, dead));
        let w = Word::unpack(s.load(Ordering::Relaxed));
        assert_eq!((w.state, w.ticket, w.deliveries), (READY, 9, 1));
        assert!(!revive(&s, dead), "stale: already revived");
        assert!(purge(&s, s.load(Ordering::Relaxed)));
        assert_eq!(Word::unpack(s.load(Ordering::Relaxed)).state, FREE);
    }

    #[test]
    fn poison_job_goes_dead_after_max_deliveries() {
        let s = AtomicU64::new(0);
        let wr = begin_write(&s, 0, 1).unwrap();
        assert!(publish(&s, wr, 7));
        for round in 1..=3 {
            let seen = s.load(Ordering::Relaxed);
            let held = claim(&s, seen, 2, false).unwrap();
            assert_eq!(Word::unpack(held).deliveries, round);
            let out = settle(&s, held, Settle::Requeue, 3).unwrap();
            let want = if round < 3 {
                Outcome::Requeued
            } else {
                Outcome::DeadLettered
            };
            assert_eq!(out, want);
        }
        assert_eq!(Word::unpack(s.load(Ordering::Relaxed)).state, DEAD);
        assert_eq!(Word::unpack(s.load(Ordering::Relaxed)).ticket, 7);
    }

    #[test]
    fn stale_settle_fails_after_reap_and_reclaim() {
        let s = AtomicU64::new(
            Word {
                state: READY,
                owner: 0,
                deliveries: 0,
                ticket: 1,
            }
            .pack(),
        );
        let held = claim(&s, s.load(Ordering::Relaxed), 4, false).unwrap();
        assert_eq!(reap(&s, 4, 5), Some(Outcome::Requeued));
        let again = claim(&s, s.load(Ordering::Relaxed), 4, false).unwrap();
        assert_ne!(held, again);
        assert_eq!(settle(&s, held, Settle::Ack, 5), None);
        assert_eq!(settle(&s, again, Settle::Ack, 5), Some(Outcome::Freed));
    }
}

/// Loom models: `RUSTFLAGS="--cfg loom" cargo test -p axon --lib --release`.
#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use crate::sync::{fence, AtomicU32};
    use loom::sync::Arc;
    use loom::thread;

    fn ready(ticket: u64) -> u64 {
        Word {
            state: READY,
            owner: 0,
            deliveries: 0,
            ticket,
        }
        .pack()
    }

    /// Two workers race for two jobs: each job is claimed by exactly one,
    /// the lower ticket is never skipped by a worker that saw both.
    #[test]
    fn each_job_claimed_once() {
        loom::model(|| {
            let slots = Arc::new([AtomicU64::new(ready(1)), AtomicU64::new(ready(0))]);
            let got: Vec<_> = (0..2u32)
                .map(|w| {
                    let slots = slots.clone();
                    thread::spawn(move || {
                        let mut mine = Vec::new();
                        for _ in 0..2 {
                            let sc = scan(&slots[..], false);
                            if let Some((i, seen)) = sc.best {
                                if claim(&slots[i], seen, w, false).is_some() {
                                    mine.push(i);
                                }
                            }
                        }
                        mine
                    })
                })
                .collect();
            let all: Vec<usize> = got.into_iter().flat_map(|h| h.join().unwrap()).collect();
            let total: usize = (0..2)
                .filter(|&i| Word::unpack(slots[i].load(Ordering::Relaxed)).state == CLAIMED)
                .count();
            assert_eq!(all.len(), total, "a job claimed twice or a claim lost");
        });
    }

    /// A worker claims and dies (its steps all happen before the reaper
    /// takes its lock, as the kernel's lock orders them); a reaper requeues
    /// while a second worker and a producer run: the job ends either held by
    /// the second worker with deliveries == 2 (a flagged redelivery), or
    /// READY again, never lost, never held twice.
    #[test]
    fn dead_worker_job_is_redelivered_once() {
        loom::model(|| {
            let slots = Arc::new([AtomicU64::new(ready(0)), AtomicU64::new(FREE)]);
            // Worker 1 claims, then dies.
            let seen = slots[0].load(Ordering::Acquire);
            claim(&slots[0], seen, 1, false).unwrap();
            let reaper = {
                let slots = slots.clone();
                thread::spawn(move || {
                    for s in slots.iter() {
                        reap(s, 1, 5);
                    }
                })
            };
            let worker = {
                let slots = slots.clone();
                thread::spawn(move || {
                    let sc = scan(&slots[..], false);
                    sc.best
                        .and_then(|(i, seen)| claim(&slots[i], seen, 2, false).map(|h| (i, h)))
                })
            };
            let producer = {
                let slots = slots.clone();
                thread::spawn(move || {
                    let seen = slots[1].load(Ordering::Acquire);
                    if let Some(wr) = begin_write(&slots[1], seen, 3) {
                        assert!(publish(&slots[1], wr, 1));
                    }
                })
            };
            reaper.join().unwrap();
            producer.join().unwrap();
            let got = worker.join().unwrap();
            let w0 = Word::unpack(slots[0].load(Ordering::Relaxed));
            match got {
                Some((0, held)) => {
                    let h = Word::unpack(held);
                    assert_eq!((h.owner, h.deliveries), (2, 2));
                    assert_eq!(w0.state, CLAIMED);
                }
                _ => {
                    assert_eq!(w0.state, READY);
                    assert_eq!(w0.deliveries, 1);
                }
            }
        });
    }

    /// The sleep/wake handshake of queue waiters: a waiter announces itself
    /// (bit), fences, re-scans and sleeps on the token it read first; a
    /// producer publishes, fences, and bumps the word if it sees a bit. A
    /// waiter that would sleep (word still equals its token) never misses
    /// a job: the producer's bump comes after its token.
    #[test]
    fn no_lost_wakeup() {
        loom::model(|| {
            let slots = Arc::new([AtomicU64::new(FREE)]);
            let word = Arc::new(AtomicU32::new(0));
            let sleepers = Arc::new(AtomicU64::new(0));
            let producer = {
                let (slots, word, sleepers) = (slots.clone(), word.clone(), sleepers.clone());
                thread::spawn(move || {
                    let wr = begin_write(&slots[0], FREE, 0).unwrap();
                    assert!(publish(&slots[0], wr, 0));
                    fence(Ordering::SeqCst);
                    if sleepers.load(Ordering::Acquire) != 0 {
                        word.fetch_add(1, Ordering::Release);
                    }
                })
            };
            let token = word.load(Ordering::Acquire);
            sleepers.fetch_or(1, Ordering::Release);
            fence(Ordering::SeqCst);
            let found = scan(&slots[..], false).best.is_some();
            producer.join().unwrap();
            if !found {
                // FUTEX_WAIT(word, token) returns at once iff the word moved.
                assert_ne!(word.load(Ordering::Acquire), token, "lost wake-up");
            }
        });
    }

    /// Group commit (`commit`): two senders each write a job (a data word),
    /// `enter`, and `complete`; a sync copies every data word it sees to a
    /// "disk". With `fail_first`, sender 0's own syncs fail (and write
    /// nothing). Every sender that returns `Ok` finds its job on the disk,
    /// whoever ran the sync that covered it.
    fn group_commit(fail_first: bool) {
        loom::model(move || {
            let word = Arc::new(AtomicU64::new(0));
            let futex = Arc::new(AtomicU32::new(0));
            let data = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
            let disk = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
            let senders: Vec<_> = (0..2u32)
                .map(|me| {
                    let (word, futex) = (word.clone(), futex.clone());
                    let (data, disk) = (data.clone(), disk.clone());
                    thread::spawn(move || {
                        data[me as usize].store(1, Ordering::Relaxed);
                        let e = commit::enter(&word);
                        let r = commit::complete(
                            &word,
                            &futex,
                            me,
                            e,
                            || {
                                if fail_first && me == 0 {
                                    return Err(());
                                }
                                for i in 0..2 {
                                    if data[i].load(Ordering::Relaxed) == 1 {
                                        disk[i].store(1, Ordering::Relaxed);
                                    }
                                }
                                Ok(())
                            },
                            |_, _| thread::yield_now(),
                            || {},
                        );
                        if r.is_ok() {
                            assert_eq!(
                                disk[me as usize].load(Ordering::Relaxed),
                                1,
                                "a send returned before a sync wrote its job"
                            );
                        }
                        r.is_ok()
                    })
                })
                .collect();
            let ok: Vec<bool> = senders.into_iter().map(|h| h.join().unwrap()).collect();
            assert!(ok[1], "sender 1's syncs never fail");
            // Sender 0 fails only when its own sync did (none covered it).
            assert!(ok[0] || fail_first);
            assert_eq!(commit::holder(word.load(Ordering::Relaxed)), None);
        });
    }

    #[test]
    fn group_commit_covers_every_returned_send() {
        group_commit(false);
    }

    #[test]
    fn failed_sync_covers_no_sender() {
        group_commit(true);
    }
}
