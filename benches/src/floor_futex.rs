//! Floors: shared memory + futex. [`Futex`] always sleeps (every wait is a `FUTEX_WAIT`, every
//! post a `FUTEX_WAKE`); [`SpinFutex`] spins for a budget first and only then sleeps, and the
//! poster calls `FUTEX_WAKE` only when the reader said it is asleep.
//!
//! The futex word is the direction's message counter in the shared mapping. The calls use the
//! shared (not `FUTEX_PRIVATE_FLAG`) variants because the two sides are different processes.
//!
//! Sleep/wake handshake of [`SpinFutex`] (Dekker style, both sides SeqCst): the reader stores
//! `sleeping = 1`, then re-loads the counter; the writer stores the counter, then loads
//! `sleeping`. At least one of them sees the other's store, so either the reader does not sleep
//! or the writer wakes it; `FUTEX_WAIT` itself re-checks the counter in the kernel.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::shm::{Counters, Dir, ShmPingPong, Wake};
use crate::Watchdog;

/// How long one `FUTEX_WAIT` sleeps before the watchdog is consulted.
const WAIT_SLICE: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 100_000_000,
};

/// `FUTEX_WAIT` on `word` while it holds `expected`, for at most [`WAIT_SLICE`].
/// Returns `Ok(true)` when woken or the word changed, `Ok(false)` on time-out.
fn futex_wait(word: &AtomicU32, expected: u32) -> io::Result<bool> {
    // SAFETY: (1) `word` is a live, 4-byte aligned AtomicU32 in a MAP_SHARED mapping, which is
    // what FUTEX_WAIT on a shared futex needs; (2) the timeout points at a valid timespec;
    // (3) uaddr2 and val3 are unused by FUTEX_WAIT.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &WAIT_SLICE as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(true),
        Some(libc::ETIMEDOUT) => Ok(false),
        _ => Err(err),
    }
}

/// `FUTEX_WAKE` one waiter on `word`.
fn futex_wake(word: &AtomicU32) -> io::Result<()> {
    // SAFETY: (1) `word` is a live, aligned AtomicU32 in a MAP_SHARED mapping; (2) FUTEX_WAKE
    // reads no other pointer argument.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            1u32,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sleep_until_change(word: &AtomicU32, old: u32, wd: &Watchdog) -> anyhow::Result<u32> {
    loop {
        // SYNC POINT: Acquire pairs with the poster's store of the counter.
        let v = word.load(Ordering::Acquire);
        if v != old {
            return Ok(v);
        }
        if !futex_wait(word, old)? {
            wd.check()?;
        }
    }
}

/// Always sleeps: wait is `FUTEX_WAIT` until the counter changes, post always `FUTEX_WAKE`s.
#[derive(Clone, Copy, Debug, Default)]
pub struct Futex;

impl Wake for Futex {
    type Control = Counters;

    fn post(&self, ctl: &Counters, dir: Dir, n: u32) -> anyhow::Result<()> {
        let word = ctl.word(dir);
        // SYNC POINT: Release pairs with the Acquire in `sleep_until_change`.
        word.store(n, Ordering::Release);
        futex_wake(word)?;
        Ok(())
    }

    fn wait(&self, ctl: &Counters, dir: Dir, old: u32, wd: &Watchdog) -> anyhow::Result<u32> {
        sleep_until_change(ctl.word(dir), old, wd)
    }
}

/// Spin for a budget, then sleep on the futex.
#[derive(Clone, Copy, Debug)]
pub struct SpinFutex {
    /// How long to spin before sleeping.
    pub spin: Duration,
}

/// `spin_loop` turns (each with an atomic load) per microsecond on this CPU, measured once.
pub fn spins_per_us() -> u64 {
    static CAL: OnceLock<u64> = OnceLock::new();
    *CAL.get_or_init(|| {
        let word = AtomicU32::new(0);
        let n = 20_000u64;
        let t0 = Instant::now();
        for _ in 0..n {
            std::hint::black_box(word.load(Ordering::Acquire));
            std::hint::spin_loop();
        }
        let ns = t0.elapsed().as_nanos().max(1) as u64;
        (n * 1000 / ns).max(1)
    })
}

impl Wake for SpinFutex {
    type Control = Counters;

    fn post(&self, ctl: &Counters, dir: Dir, n: u32) -> anyhow::Result<()> {
        let word = ctl.word(dir);
        // SYNC POINT: SeqCst store, then SeqCst load of `sleeping`: pairs with the reader's
        // SeqCst store of `sleeping` then load of the counter (see module docs).
        word.store(n, Ordering::SeqCst);
        if ctl.sleeping[dir as usize].0.load(Ordering::SeqCst) != 0 {
            futex_wake(word)?;
        }
        Ok(())
    }

    fn wait(&self, ctl: &Counters, dir: Dir, old: u32, wd: &Watchdog) -> anyhow::Result<u32> {
        let word = ctl.word(dir);
        let sleeping = &ctl.sleeping[dir as usize].0;
        let budget = spins_per_us() * self.spin.as_micros() as u64;
        for _ in 0..budget {
            // SYNC POINT: Acquire pairs with the poster's store of the counter.
            let v = word.load(Ordering::Acquire);
            if v != old {
                return Ok(v);
            }
            std::hint::spin_loop();
        }
        loop {
            sleeping.store(1, Ordering::SeqCst);
            let v = word.load(Ordering::SeqCst);
            if v != old {
                sleeping.store(0, Ordering::Relaxed);
                return Ok(v);
            }
            let woken = futex_wait(word, old)?;
            sleeping.store(0, Ordering::Relaxed);
            if !woken {
                wd.check()?;
            }
        }
    }
}

/// Shared memory + futex, always sleeping.
pub static FUTEX: ShmPingPong<Futex> = ShmPingPong::new("floor/futex", true, Futex);

/// Shared memory, spin ~5 us, then futex.
pub static SPIN_FUTEX: ShmPingPong<SpinFutex> = ShmPingPong::new(
    "floor/spin-futex",
    false,
    SpinFutex {
        spin: Duration::from_micros(5),
    },
);
