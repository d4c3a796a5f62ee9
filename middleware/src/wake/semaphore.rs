//! POSIX semaphore wake-up, the portable alternative: a process-shared
//! `sem_t` (`sem_init(pshared = 1)`) in the subscriber's wake area. The
//! waiter drains stale posts before announcing itself and sleeps in
//! `sem_timedwait`; a publisher `sem_post`s.
//!
//! Differences from futex, documented: a semaphore waiter cannot also sleep
//! on the shutdown word, so while it sleeps its semaphore is listed in
//! [`SLEEPING`] and the SIGINT/SIGTERM handler posts it (`sem_post` is
//! async-signal-safe; [`post_sleepers`]); `sem_timedwait` measures
//! `CLOCK_REALTIME`, so a wall-clock jump can shorten or lengthen one slice
//! (the deadline itself is kept on `CLOCK_MONOTONIC`); wait sets always use
//! the futex word.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use super::{Mechanism, Token};
use crate::layout::WakeArea;

const _: () = assert!(std::mem::size_of::<libc::sem_t>() <= 64);
const _: () = assert!(std::mem::align_of::<libc::sem_t>() <= 8);

/// Most stale posts drained before sleeping; more (only after corruption)
/// show up as spurious wake-ups.
const MAX_DRAIN: u32 = 64;

fn sem(area: &WakeArea) -> *mut libc::sem_t {
    area.sem.as_ptr() as *mut libc::sem_t
}

/// A publisher's `sem_post`, without libc (glibc, 64-bit): the publisher
/// posts semaphores in records any peer can write, and glibc's `sem_post`
/// aborts the process when the futex call it makes from those bytes fails
/// (a corrupted `private` word). This is glibc's own algorithm on its
/// `{ u64 data (value | waiters << 32); int private; .. }`: add one to the
/// value unless it is at `SEM_VALUE_MAX`, and if the waiter count is not
/// zero, `FUTEX_WAKE` the value word (shared: the semaphore is
/// `pshared`). Nothing read from the record decides an operation, so
/// garbage costs a spurious or a missed wake-up (bounded by the waiter's
/// liveness slice), never the publisher. So a forged mode word (`MODE_*`)
/// can only make a publisher post into bytes it does not trust.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    target_pointer_width = "64",
    target_endian = "little"
))]
fn post(area: &WakeArea) {
    let data = &area.sem[0];
    let mut d = data.load(Ordering::Relaxed);
    loop {
        if d as u32 >= i32::MAX as u32 {
            return; // at SEM_VALUE_MAX: the waiter has posts to take
        }
        // SYNC POINT (Release, as glibc's `sem_post`): pairs with the
        // waiter's Acquire in `sem_timedwait`.
        match data.compare_exchange_weak(d, d + 1, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => d = now,
        }
    }
    if d >> 32 != 0 {
        // SAFETY: the value is the low half of `data` (little-endian: the
        // first 4 bytes; glibc's SEM_VALUE_OFFSET is 0 there), a 4-aligned
        // u32 inside the record for as long as `area` is borrowed, only ever
        // accessed atomically.
        let word = unsafe { &*(data.as_ptr() as *const std::sync::atomic::AtomicU32) };
        super::futex::wake(word, false);
    }
}

/// Elsewhere (musl, 32-bit, big-endian): libc's `sem_post`, after the repair.
#[cfg(not(all(
    target_os = "linux",
    target_env = "gnu",
    target_pointer_width = "64",
    target_endian = "little"
)))]
fn post(area: &WakeArea) {
    repair(area);
    // SAFETY: as in `init`. The result is ignored: EOVERFLOW or EINVAL (a
    // corrupted semaphore) must not stop or block the publisher.
    unsafe { libc::sem_post(sem(area)) };
}

/// Restores the semaphore's futex flags before every call into libc.
///
/// glibc's 64-bit `sem_t` is `{ u64 data; int private; int pad; }` and it
/// passes `private` to the futex system call as part of the operation. A
/// peer that corrupts it makes the call fail with ENOSYS, and glibc then
/// *aborts the process* ("The futex facility returned an unexpected error
/// code"): one bad subscriber could kill every publisher posting to it. The
/// word is constant after `sem_init`, so it is put back to what `sem_init`
/// writes (learned once from a local semaphore) before each use; garbage in
/// `data` only costs spurious or missed wake-ups, which the waiter's
/// liveness slice bounds. A peer rewriting the word again in the few
/// nanoseconds between this store and glibc's read can still win the race:
/// the semaphore mode trusts its peers that much, the futex mode not at all.
fn repair(area: &WakeArea) {
    #[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
    {
        let flags = *FLAGS.get_or_init(|| {
            let mut local = [0u64; 8];
            // SAFETY: `local` is 64 bytes, 8-aligned, covering `sem_t`
            // (asserted above) and private to this frame; it is destroyed
            // right after its second word is read.
            unsafe {
                let p = local.as_mut_ptr() as *mut libc::sem_t;
                if libc::sem_init(p, 1, 0) != 0 {
                    return None;
                }
                let word = std::ptr::read_volatile(local.as_ptr().add(1));
                libc::sem_destroy(p);
                Some(word)
            }
        });
        restore_flags(area, flags);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64")))]
    let _ = area;
}

/// What `sem_init` writes into the second word of a `sem_t` (`None`: it
/// failed), learned once by [`repair`].
static FLAGS: OnceLock<Option<u64>> = OnceLock::new();

/// [`repair`] with the flags already learned: plain loads and stores, so
/// async-signal-safe.
fn restore_flags(area: &WakeArea, flags: Option<u64>) {
    if let Some(flags) = flags {
        if area.sem[1].load(crate::sync::Ordering::Relaxed) != flags {
            area.sem[1].store(flags, crate::sync::Ordering::Relaxed);
        }
    }
}

/// The wake areas whose semaphore a thread of this process sleeps on right
/// now, as addresses (0: a free entry), for the shutdown handler to post.
/// Bit 0 set: the handler is posting that one, and the sleeper must not
/// return (its mapping may go away after) until the handler clears it.
/// More sleeping threads than entries are not listed; those see a shutdown
/// at the end of their slice (at most [`super::LIVENESS_SLICE`]).
static SLEEPING: [AtomicUsize; 64] = [const { AtomicUsize::new(0) }; 64];

/// Lists `area` in [`SLEEPING`]; `None` if the list is full.
fn list_sleeper(area: &WakeArea) -> Option<&'static AtomicUsize> {
    let addr = area as *const WakeArea as usize;
    // SYNC POINT S (SeqCst): with the handler's SeqCst flag store and scan,
    // either the handler sees this entry or the caller's check of the flag,
    // after this, sees the request (store-buffering, both sides SeqCst).
    SLEEPING.iter().find(|e| {
        e.compare_exchange(0, addr, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    })
}

/// Takes `area`'s entry off [`SLEEPING`], waiting for a handler that is
/// posting it (on another thread; a few instructions) to finish.
fn unlist_sleeper(entry: &AtomicUsize, area: &WakeArea) {
    let addr = area as *const WakeArea as usize;
    while entry
        .compare_exchange(addr, 0, Ordering::SeqCst, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
    }
}

/// Called by the SIGINT/SIGTERM handler: posts every semaphore a thread of
/// this process sleeps on, so `recv` returns `Shutdown` at once.
/// Async-signal-safe: atomics, plain stores and `sem_post`; it never waits
/// (an entry another handler is posting is skipped: it is being posted).
pub(crate) fn post_sleepers() {
    // Learned before any area was listed (the sleeper repaired first).
    let flags = FLAGS.get().copied().flatten();
    for entry in &SLEEPING {
        let addr = entry.load(Ordering::SeqCst);
        if addr == 0 || addr & 1 != 0 {
            continue;
        }
        if entry
            .compare_exchange(addr, addr | 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            continue;
        }
        // SAFETY: (1) `addr` is a live `WakeArea`: its sleeper listed it
        // and cannot unlist it (and so return, and maybe unmap it) while
        // bit 0 is set; (2) `sem_post` is async-signal-safe (POSIX); (3) a
        // post the sleeper does not need is a spurious wake-up, drained by
        // its next `prepare`.
        unsafe {
            let area = &*(addr as *const WakeArea);
            restore_flags(area, flags);
            libc::sem_post(sem(area));
        }
        entry.store(addr, Ordering::SeqCst);
    }
}

/// Initialises the record's semaphore (value 0). Only the record's owner
/// calls this, right after claiming it.
pub(crate) fn init(area: &WakeArea) -> io::Result<()> {
    // SAFETY: (1) `area.sem` is 64 bytes, 8-aligned, inside the shared
    // mapping, which covers `sem_t` (size and alignment asserted above);
    // (2) pshared = 1 because the mapping is MAP_SHARED between processes;
    // (3) a publisher may `sem_post` concurrently only if it saw a stale
    // sleeper bit of a previous owner; glibc's semaphore is a single atomic
    // word, so that costs at most one spurious wake-up, which waiters handle.
    let r = unsafe { libc::sem_init(sem(area), 1, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The semaphore mechanism.
pub(crate) struct Semaphore;

impl Mechanism for Semaphore {
    const MODE: u32 = super::MODE_SEMAPHORE;

    fn prepare(area: &WakeArea) -> Token {
        // Drain posts left over from earlier wake-ups, so that a sleep ends
        // only for a post made after this point (extra ones are spurious
        // wake-ups, never lost ones).
        // SAFETY: as in `init`; the semaphore was initialised at claim time
        // (and all-zero bytes are also a valid, empty glibc semaphore).
        // Bounded: a corrupted count must not keep us here.
        repair(area);
        for _ in 0..MAX_DRAIN {
            // SAFETY: see above.
            if unsafe { libc::sem_trywait(sem(area)) } != 0 {
                break;
            }
        }
        Token {
            word: 0,
            shutdown: crate::shutdown::token(),
        }
    }

    fn sleep(area: &WakeArea, _token: Token, until_ns: u64) -> io::Result<()> {
        let now_mono = crate::sys::monotonic_ns();
        let left = until_ns.saturating_sub(now_mono);
        let mut real = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `real` is a valid, exclusively borrowed timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut real) };
        let abs = real.tv_sec as u64 * 1_000_000_000 + real.tv_nsec as u64 + left;
        let ts = libc::timespec {
            tv_sec: (abs / 1_000_000_000) as libc::time_t,
            tv_nsec: (abs % 1_000_000_000) as libc::c_long,
        };
        repair(area);
        let listed = list_sleeper(area);
        if crate::shutdown::requested() {
            if let Some(entry) = listed {
                unlist_sleeper(entry, area);
            }
            return Ok(());
        }
        // SAFETY: as in `init`; `ts` is a valid timespec read by the call.
        let r = unsafe { libc::sem_timedwait(sem(area), &ts) };
        let e = io::Error::last_os_error();
        if let Some(entry) = listed {
            unlist_sleeper(entry, area);
        }
        if r == 0 {
            return Ok(());
        }
        match e.raw_os_error() {
            Some(libc::ETIMEDOUT) | Some(libc::EINTR) | Some(libc::EAGAIN) => Ok(()),
            // A corrupted semaphore: sleep out the slice without it, so the
            // caller's loop neither spins nor hangs.
            Some(libc::EINVAL) => {
                std::thread::sleep(std::time::Duration::from_nanos(left.min(1_000_000)));
                Ok(())
            }
            _ => Err(e),
        }
    }

    fn notify(area: &WakeArea) {
        post(area);
    }
}
