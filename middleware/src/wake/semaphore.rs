//! POSIX semaphore wake-up, the portable alternative: a process-shared
//! `sem_t` (`sem_init(pshared = 1)`) in the subscriber's wake area. The
//! waiter drains stale posts before announcing itself and sleeps in
//! `sem_timedwait`; a publisher `sem_post`s.
//!
//! Differences from futex, documented: a semaphore waiter cannot also sleep
//! on the shutdown word, so it notices a shutdown request at its next
//! liveness slice (at most [`super::LIVENESS_SLICE`]); `sem_timedwait`
//! measures `CLOCK_REALTIME`, so a wall-clock jump can shorten or lengthen
//! one slice (the deadline itself is kept on `CLOCK_MONOTONIC`); wait sets
//! always use the futex word.

use std::io;

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
        // SAFETY: as in `init`; `ts` is a valid timespec read by the call.
        let r = unsafe { libc::sem_timedwait(sem(area), &ts) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
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
        // SAFETY: as in `init`. The result is ignored: EOVERFLOW (a waiter
        // that died with its bit set, posted to its limit) or EINVAL (a
        // corrupted semaphore) must not stop or block the publisher.
        unsafe { libc::sem_post(sem(area)) };
    }
}
