//! The sleep/wake handshake on plain atomics: written once here, called by
//! the waiters (`wake/mod.rs`, `waitset.rs`) and the publisher's send path on
//! atomics in shared memory, and by the loom model below on loom's atomics.
//! The prose is in the parent module's docs.

use crate::sync::{AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
use loom::sync::atomic::fence;
#[cfg(not(loom))]
use std::sync::atomic::fence;

/// Waiter, step 1: the token to sleep on. Read *before* [`announce`].
#[inline]
pub fn token(word: &AtomicU32) -> u32 {
    // SYNC POINT W1 (Acquire): nothing to acquire as such; the read must come
    // before `announce` in program order, which the Release half of the
    // announcing RMW guarantees for the publisher that sees the bit.
    word.load(Ordering::Acquire)
}

/// Waiter, step 2: sets `bit` in `sleepers`, then a SeqCst fence. After this
/// the waiter must poll its rings once more before it may sleep.
#[inline]
pub fn announce(sleepers: &AtomicU64, bit: u64) {
    // SYNC POINT W2 (Release RMW): pairs with the Acquire load in
    // `to_wake`; a publisher that sees the bit also sees `token`'s read as
    // done, so its bump of the word comes later in the word's order.
    sleepers.fetch_or(bit, Ordering::SeqCst);
    // SYNC POINT W3 (SeqCst fence): pairs with the fence in `to_wake`
    // (Dekker): either the publisher's fence comes first in the single total
    // order of SeqCst fences, and our re-poll sees its ring store, or ours
    // comes first, and its load of `sleepers` sees our bit.
    fence(Ordering::SeqCst);
}

/// Waiter, step 4: clears `bit` after waking (or after the re-poll found data).
#[inline]
pub fn retract(sleepers: &AtomicU64, bit: u64) {
    sleepers.fetch_and(!bit, Ordering::Relaxed);
}

/// Publisher, after the ring store: which subscribers announced that they
/// sleep. Zero (the common case) costs one fence and one load: no system call.
#[inline]
pub fn to_wake(sleepers: &AtomicU64) -> u64 {
    // SYNC POINT W3 (publisher side).
    fence(Ordering::SeqCst);
    // SYNC POINT W2 (Acquire side).
    sleepers.load(Ordering::Acquire)
}

/// Publisher: changes the sleeper's word so that a `FUTEX_WAIT` on the old
/// token fails (or, once the kernel call follows, is woken).
#[inline]
pub fn bump(word: &AtomicU32) {
    word.fetch_add(1, Ordering::Release);
}

/// Model check of the handshake with loom: run with
/// `RUSTFLAGS="--cfg loom" cargo test -p axon --lib --release wake::handshake`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::protocol::{self, Poll};
    use loom::sync::Arc;
    use loom::thread;

    struct Topic {
        ring: Vec<AtomicU64>,
        head: AtomicU64,
        sleepers: AtomicU64,
        word: AtomicU32,
    }

    /// One publisher sends seq 1; one waiter at cursor 1 polls, announces,
    /// re-polls and "sleeps" on its token. A futex wait returns only if the
    /// word differs from the token, so a lost wake-up is: the waiter decided
    /// to sleep, the publisher is done, and the word still equals the token.
    #[test]
    fn no_lost_wake_up() {
        loom::model(|| {
            let t = Arc::new(Topic {
                ring: (0..2).map(|_| AtomicU64::new(0)).collect(),
                head: AtomicU64::new(1),
                sleepers: AtomicU64::new(0),
                word: AtomicU32::new(0),
            });
            let p = t.clone();
            let publisher = thread::spawn(move || {
                protocol::publish(&p.ring, &p.head, 1, 0);
                if to_wake(&p.sleepers) & 1 != 0 {
                    bump(&p.word);
                }
            });
            let slept_on = match protocol::poll(&t.ring, 1) {
                Poll::Ready(_) => None,
                _ => {
                    let tok = token(&t.word);
                    announce(&t.sleepers, 1);
                    match protocol::poll(&t.ring, 1) {
                        Poll::Ready(_) => {
                            retract(&t.sleepers, 1);
                            None
                        }
                        _ => Some(tok),
                    }
                }
            };
            publisher.join().unwrap();
            if let Some(tok) = slept_on {
                assert_ne!(t.word.load(Ordering::Acquire), tok, "lost wake-up");
            }
        });
    }

    /// Two waiters (two records) and one publisher: both are woken or see the sample.
    #[test]
    fn every_sleeper_is_woken() {
        loom::model(|| {
            let t = Arc::new((
                Topic {
                    ring: (0..2).map(|_| AtomicU64::new(0)).collect(),
                    head: AtomicU64::new(1),
                    sleepers: AtomicU64::new(0),
                    word: AtomicU32::new(0),
                },
                AtomicU32::new(0),
            ));
            let p = t.clone();
            let publisher = thread::spawn(move || {
                protocol::publish(&p.0.ring, &p.0.head, 1, 0);
                let s = to_wake(&p.0.sleepers);
                if s & 1 != 0 {
                    bump(&p.0.word);
                }
                if s & 2 != 0 {
                    bump(&p.1);
                }
            });
            let w = t.clone();
            let second = thread::spawn(move || {
                let tok = token(&w.1);
                announce(&w.0.sleepers, 2);
                match protocol::poll(&w.0.ring, 1) {
                    Poll::Ready(_) => None,
                    _ => Some(tok),
                }
            });
            let tok = token(&t.0.word);
            announce(&t.0.sleepers, 1);
            let first = match protocol::poll(&t.0.ring, 1) {
                Poll::Ready(_) => None,
                _ => Some(tok),
            };
            let second = second.join().unwrap();
            publisher.join().unwrap();
            if let Some(tok) = first {
                assert_ne!(t.0.word.load(Ordering::Acquire), tok, "first: lost wake-up");
            }
            if let Some(tok) = second {
                assert_ne!(t.1.load(Ordering::Acquire), tok, "second: lost wake-up");
            }
        });
    }
}
