//! Floor: a process-shared POSIX semaphore per direction (`sem_init(sem, 1, 0)` in the shared
//! mapping), `sem_post` to send and `sem_timedwait` to receive.

use std::cell::UnsafeCell;
use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::shm::{Control, Counters, Dir, Padded, ShmPingPong, Wake};
use crate::Watchdog;

/// A `sem_t` living in shared memory.
pub struct SemCell(UnsafeCell<libc::sem_t>);

// SAFETY: a process-shared semaphore is made to be used concurrently from several threads and
// processes through its address; the harness only hands out that address.
unsafe impl Sync for SemCell {}

/// Control block of the semaphore floor.
#[repr(C)]
pub struct SemControl {
    /// Message counters (for symmetry with the other floors; the semaphore does the waking).
    pub counters: Counters,
    /// One semaphore per [`Dir`].
    pub sem: [Padded<SemCell>; 2],
}

// SAFETY: repr(C), under a page, all-zero bytes are a valid (not yet initialised) `sem_t` and
// valid atomics; the parent runs `sem_init` before the child starts; all fields are atomics or
// `UnsafeCell<sem_t>` used only through the sem_* functions.
unsafe impl Control for SemControl {
    fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// A process-shared POSIX semaphore.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sem;

fn check(r: libc::c_int, what: &str) -> anyhow::Result<()> {
    if r != 0 {
        return Err(anyhow::Error::from(io::Error::last_os_error()).context(what.to_string()));
    }
    Ok(())
}

impl Wake for Sem {
    type Control = SemControl;

    fn init(&self, ctl: &SemControl) -> anyhow::Result<()> {
        for s in &ctl.sem {
            // SAFETY: (1) the pointer is to a `sem_t` in the shared mapping, valid for the
            // mapping's lifetime; (2) pshared = 1 because both processes map it; (3) nobody
            // uses it before this returns (the child is not started yet).
            check(unsafe { libc::sem_init(s.0 .0.get(), 1, 0) }, "sem_init")?;
        }
        Ok(())
    }

    fn post(&self, ctl: &SemControl, dir: Dir, n: u32) -> anyhow::Result<()> {
        ctl.counters.word(dir).store(n, Ordering::Release);
        // SAFETY: the semaphore was initialised by `init` and is destroyed only after the
        // child exited.
        check(
            unsafe { libc::sem_post(ctl.sem[dir as usize].0 .0.get()) },
            "sem_post",
        )
    }

    fn wait(&self, ctl: &SemControl, dir: Dir, old: u32, wd: &Watchdog) -> anyhow::Result<u32> {
        let sem = ctl.sem[dir as usize].0 .0.get();
        loop {
            let until = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                + Duration::from_millis(100);
            let ts = libc::timespec {
                tv_sec: until.as_secs() as libc::time_t,
                tv_nsec: until.subsec_nanos() as libc::c_long,
            };
            // SAFETY: `sem` was initialised by `init` and outlives this call; `ts` is valid.
            let r = unsafe { libc::sem_timedwait(sem, &ts) };
            if r == 0 {
                // SYNC POINT: sem_post/sem_wait order the counter store before this load.
                let v = ctl.counters.word(dir).load(Ordering::Acquire);
                debug_assert_ne!(v, old);
                return Ok(v);
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::ETIMEDOUT) => wd.check()?,
                _ => return Err(anyhow::Error::from(err).context("sem_timedwait")),
            }
        }
    }

    fn destroy(&self, ctl: &SemControl) {
        for s in &ctl.sem {
            // SAFETY: called once by the parent after the child is gone (the session reaps the
            // child before dropping the pinger), so no process waits on it.
            unsafe { libc::sem_destroy(s.0 .0.get()) };
        }
    }
}

/// Process-shared POSIX semaphore.
pub static SEM: ShmPingPong<Sem> = ShmPingPong::new("floor/sem", true, Sem);
