//! The request/response slot handshake of a service, on plain atomics:
//! written once here, used by `service_shm.rs` on atomics in shared memory
//! and by the loom model below on loom's atomics. The prose is in
//! ARCHITECTURE.md ("Services").
//!
//! Every slot belongs to one client record and has one state word:
//!
//! ```text
//!  bits 0..8   state: FREE 0 | REQUESTED 1 | TAKEN 2 | ANSWERED 3 | DECLINED 4 | LOANED 5
//!  bits 32..64 epoch of the server that took it (TAKEN, ANSWERED, DECLINED)
//! ```
//!
//! Who may write what: the client owns a FREE, LOANED, ANSWERED or DECLINED slot
//! (writes the request, reads the response, frees it); the server owns a
//! TAKEN slot (reads the request, writes the response). Ownership moves
//! only by these transitions:
//!
//! | transition | by | how |
//! |---|---|---|
//! | FREE -> LOANED | client, to write a request (a loan) | CAS: a loan is exclusive |
//! | LOANED -> REQUESTED | client, after writing the request | store, Release (SYNC POINT S1) |
//! | LOANED -> FREE | client, dropping an unsent loan | store |
//! | REQUESTED -> TAKEN(e) | server `e` | CAS, Acquire (pairs with S1) |
//! | TAKEN(e) -> ANSWERED(e) / DECLINED(e) | server `e`, after writing the response | CAS, Release (SYNC POINT S2) |
//! | ANSWERED / DECLINED -> FREE | client, after reading the response | load Acquire (pairs with S2), then store |
//! | REQUESTED -> FREE | client cancelling (timeout, drop, server gone) | CAS: exactly one of this and the take wins |
//! | TAKEN(e) -> FREE | client, once server `e` is dead (its lock is free or another epoch holds it) | CAS on the exact word seen |
//!
//! A server never reads a slot before its take succeeds, so a request
//! cancelled and posted again between the server's scan and its CAS is
//! simply the newer request (the CAS reads from the newer Release store).
//! Epochs rule out ABA on the last transition: a server that died cannot
//! write again, and a new server takes with a new epoch.

use crate::sync::{AtomicU64, Ordering};

/// The client owns the slot; no request in it.
pub const FREE: u64 = 0;
/// A request waits for a server.
pub const REQUESTED: u64 = 1;
/// A server took the request and owns the slot until it answers.
pub const TAKEN: u64 = 2;
/// The response is in the slot; the client owns it again.
pub const ANSWERED: u64 = 3;
/// The server dropped the request unanswered; the client owns the slot.
pub const DECLINED: u64 = 4;
/// The client is writing a request into it (a loan): servers skip it.
pub const LOANED: u64 = 5;

/// A state word from a state and an epoch.
#[inline]
pub fn pack(state: u64, epoch: u32) -> u64 {
    state | (epoch as u64) << 32
}

/// The state bits of a word.
#[inline]
pub fn state_of(word: u64) -> u64 {
    word & 0xff
}

/// The epoch bits of a word.
#[inline]
pub fn epoch_of(word: u64) -> u32 {
    (word >> 32) as u32
}

/// Client: loans a free slot to write a request into; `false` if it is
/// not free. Exactly one loan of a slot succeeds, so a loan is exclusive.
#[inline]
pub fn loan(slot: &AtomicU64) -> bool {
    slot.compare_exchange(FREE, LOANED, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
}

/// Client: the request is written; hand the slot to the server.
#[inline]
pub fn post(slot: &AtomicU64) {
    // SYNC POINT S1 (Release): pairs with the server's Acquire CAS in
    // `take`; a server that takes the slot sees the request bytes.
    slot.store(REQUESTED, Ordering::Release);
}

/// Server `epoch`: takes a posted request. `false` if it is not (or no
/// longer) posted.
#[inline]
pub fn take(slot: &AtomicU64, epoch: u32) -> bool {
    // SYNC POINT S1 (Acquire side).
    slot.compare_exchange(
        REQUESTED,
        pack(TAKEN, epoch),
        Ordering::Acquire,
        Ordering::Relaxed,
    )
    .is_ok()
}

/// Server `epoch`: the response is written (or, `declined`, none will
/// come); hand the slot back. `false` if the slot was not ours any more
/// (only a hostile write does that).
#[inline]
pub fn answer(slot: &AtomicU64, epoch: u32, declined: bool) -> bool {
    let to = if declined { DECLINED } else { ANSWERED };
    // SYNC POINT S2 (Release): pairs with the client's Acquire `load`; a
    // client that sees ANSWERED sees the response bytes.
    slot.compare_exchange(
        pack(TAKEN, epoch),
        pack(to, epoch),
        Ordering::Release,
        Ordering::Relaxed,
    )
    .is_ok()
}

/// Client: the slot's state.
#[inline]
pub fn load(slot: &AtomicU64) -> u64 {
    // SYNC POINT S2 (Acquire side).
    slot.load(Ordering::Acquire)
}

/// Client: takes back a request no server took yet; `false` if one did.
#[inline]
pub fn cancel(slot: &AtomicU64) -> bool {
    slot.compare_exchange(REQUESTED, FREE, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
}

/// Client: frees a slot it owns (response read), or one whose word is
/// still exactly `seen` (a dead server's TAKEN, garbage).
#[inline]
pub fn release(slot: &AtomicU64, seen: u64) -> bool {
    slot.compare_exchange(seen, FREE, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
}

/// Model check of the slot handshake together with the sleep/wake
/// handshake (`wake/handshake.rs`): run with
/// `RUSTFLAGS="--cfg loom" cargo test -p axon --lib --release service_protocol`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::AtomicU32;
    use crate::wake::handshake;
    use loom::sync::Arc;
    use loom::thread;

    struct Slot {
        state: AtomicU64,
        request: AtomicU64,
        response: AtomicU64,
        /// The server's sleepers bit and futex word.
        server_sleepers: AtomicU64,
        server_word: AtomicU32,
        /// The client's.
        client_sleepers: AtomicU64,
        client_word: AtomicU32,
    }

    fn slot() -> Arc<Slot> {
        Arc::new(Slot {
            state: AtomicU64::new(FREE),
            request: AtomicU64::new(0),
            response: AtomicU64::new(0),
            server_sleepers: AtomicU64::new(0),
            server_word: AtomicU32::new(0),
            client_sleepers: AtomicU64::new(0),
            client_word: AtomicU32::new(0),
        })
    }

    /// Request direction: a client writes request 7, posts it and wakes
    /// the server if it announced itself; the server polls, announces,
    /// re-polls and decides to sleep. A lost wake-up is: the server decided
    /// to sleep, the client is done, and the server's word still equals
    /// its token. Whenever the server takes the slot it reads 7.
    #[test]
    fn posted_request_is_seen_or_wakes_the_server() {
        loom::model(|| {
            let s = slot();
            let client = {
                let s = s.clone();
                thread::spawn(move || {
                    s.request.store(7, Ordering::Relaxed);
                    post(&s.state);
                    if handshake::to_wake(&s.server_sleepers) != 0 {
                        handshake::bump(&s.server_word);
                    }
                })
            };
            if !take(&s.state, 1) {
                let token = handshake::token(&s.server_word);
                handshake::announce(&s.server_sleepers, 1);
                if !take(&s.state, 1) {
                    client.join().unwrap();
                    assert_ne!(
                        s.server_word.load(Ordering::Acquire),
                        token,
                        "server slept through a posted request"
                    );
                    assert!(take(&s.state, 1));
                    assert_eq!(s.request.load(Ordering::Relaxed), 7);
                    return;
                }
            }
            assert_eq!(s.request.load(Ordering::Relaxed), 7);
            client.join().unwrap();
        });
    }

    /// Response direction: the server writes response 8 into a slot it
    /// took and answers, waking the client if it announced itself; the
    /// client polls, announces, re-polls and decides to sleep. No lost
    /// wake-up, and a client that sees ANSWERED reads 8.
    #[test]
    fn answer_is_seen_or_wakes_the_client() {
        loom::model(|| {
            let s = slot();
            s.state.store(pack(TAKEN, 1), Ordering::Relaxed);
            let server = {
                let s = s.clone();
                thread::spawn(move || {
                    s.response.store(8, Ordering::Relaxed);
                    assert!(answer(&s.state, 1, false));
                    if handshake::to_wake(&s.client_sleepers) != 0 {
                        handshake::bump(&s.client_word);
                    }
                })
            };
            let answered = |w: u64| state_of(w) == ANSWERED;
            if !answered(load(&s.state)) {
                let token = handshake::token(&s.client_word);
                handshake::announce(&s.client_sleepers, 1);
                if !answered(load(&s.state)) {
                    server.join().unwrap();
                    assert_ne!(
                        s.client_word.load(Ordering::Acquire),
                        token,
                        "client slept through its response"
                    );
                    assert!(answered(load(&s.state)));
                    assert_eq!(s.response.load(Ordering::Relaxed), 8);
                    return;
                }
            }
            assert_eq!(s.response.load(Ordering::Relaxed), 8);
            assert!(release(&s.state, pack(ANSWERED, 1)));
            server.join().unwrap();
        });
    }

    /// A client cancels (timeout) while the server takes: exactly one wins.
    /// If the cancel won, the client reuses the slot for request 9 and a
    /// server that takes later sees 9, never 7; if the take won, the
    /// client gets the answer to 7.
    #[test]
    fn cancel_races_take_and_reuse_is_seen_whole() {
        loom::model(|| {
            let s = slot();
            s.request.store(7, Ordering::Relaxed);
            post(&s.state);
            let server = {
                let s = s.clone();
                thread::spawn(move || {
                    for _ in 0..2 {
                        if take(&s.state, 3) {
                            let req = s.request.load(Ordering::Relaxed);
                            s.response.store(req + 1, Ordering::Relaxed);
                            assert!(answer(&s.state, 3, false));
                            return Some(req);
                        }
                        thread::yield_now();
                    }
                    None
                })
            };
            let cancelled = cancel(&s.state);
            if cancelled {
                s.request.store(9, Ordering::Relaxed);
                post(&s.state);
            }
            let took = server.join().unwrap();
            let w = load(&s.state);
            match took {
                Some(req) => {
                    assert_eq!(req, if cancelled { 9 } else { 7 });
                    assert_eq!(state_of(w), ANSWERED);
                    assert_eq!(epoch_of(w), 3);
                    assert_eq!(s.response.load(Ordering::Relaxed), req + 1);
                }
                None => assert!(cancelled || state_of(w) == REQUESTED),
            }
        });
    }

    /// A client reclaims a slot a dead server (epoch 1) took, while a new
    /// server (epoch 2) scans: the new server never takes it, and the
    /// reclaim succeeds exactly once.
    #[test]
    fn dead_servers_slot_is_reclaimed_once() {
        loom::model(|| {
            let s = slot();
            s.state.store(pack(TAKEN, 1), Ordering::Relaxed);
            let server = {
                let s = s.clone();
                thread::spawn(move || take(&s.state, 2))
            };
            let first = release(&s.state, pack(TAKEN, 1));
            let second = release(&s.state, pack(TAKEN, 1));
            let took = server.join().unwrap();
            assert!(first && !second);
            assert!(!took);
            assert_eq!(load(&s.state), FREE);
        });
    }
}
