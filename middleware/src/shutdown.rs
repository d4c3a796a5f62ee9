//! The process's shutdown request: SIGINT/SIGTERM (or
//! [`request_shutdown`]) set a flag and wake every waiter of this process;
//! SIGHUP sets a "reload parameters" flag that the executor turns into
//! `Node::reload_params`.
//!
//! Signals are per process, so this state is too. The handlers are
//! installed when the first [`Node`](crate::Node) is created (unless its
//! builder said [`no_signal_handlers`](crate::NodeBuilder::no_signal_handlers)),
//! or the first time a wait set or an executor is created, or when
//! [`install`] is called; later calls do nothing. Until then SIGINT keeps its
//! default action. So a node that only calls `recv()` sees
//! `WaitError::Shutdown` on Ctrl-C, runs its shutdown code and exits 0.
//!
//! Once installed, a *second* SIGINT/SIGTERM while the first is still
//! pending (received, and not taken back by [`clear_shutdown`]) terminates
//! the process at once (exit code 130 / 143), so a node stuck in user code
//! can still be stopped. A shutdown requested in code
//! ([`request_shutdown`]) does not count: only signals do. `launch` starts
//! each node in its own process group, so the terminal's Ctrl-C reaches the
//! launcher alone and a node gets exactly one SIGTERM, never this escape
//! hatch.
//!
//! A waiter sleeps on [`word`] (a process-private futex word) next to its
//! wake words: the handler bumps it and issues `FUTEX_WAKE`, both
//! async-signal-safe. A semaphore waiter cannot sleep on that word too: the
//! handler `sem_post`s the semaphores such waiters sleep on
//! (`wake/semaphore.rs`).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

const SHUTDOWN: u32 = 1;
const RELOAD: u32 = 2;

static FLAGS: AtomicU32 = AtomicU32::new(0);
/// Futex word bumped on every request (shutdown or reload).
static WORD: AtomicU32 = AtomicU32::new(0);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
/// A SIGINT/SIGTERM was received and not taken back by [`clear_shutdown`]:
/// the next one exits at once.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

/// Installs the SIGINT/SIGTERM/SIGHUP handlers (once per process; later
/// calls return the first result).
pub fn install() -> io::Result<()> {
    INSTALLED
        .get_or_init(|| install_handlers().map_err(|e| e.to_string()))
        .clone()
        .map_err(io::Error::other)
}

fn install_handlers() -> io::Result<()> {
    for (sig, code) in [(SIGINT, 130), (SIGTERM, 143)] {
        // SAFETY: the action only touches atomics, calls `signal` (atomic
        // RMW + one futex syscall, saving errno) or `_exit`, all
        // async-signal-safe; it allocates nothing and takes no lock.
        unsafe {
            signal_hook::low_level::register(sig, move || {
                if SIGNALLED.swap(true, Ordering::SeqCst) {
                    signal_hook::low_level::exit(code);
                }
                signal(SHUTDOWN);
            })?;
        }
    }
    // SAFETY: as above.
    unsafe {
        signal_hook::low_level::register(SIGHUP, || signal(RELOAD))?;
    }
    Ok(())
}

/// Sets `flag` and wakes every waiter; async-signal-safe.
fn signal(flag: u32) {
    // SAFETY: `__errno_location` returns this thread's errno, valid for the
    // thread's life; saving and restoring it keeps the interrupted code's
    // errno intact across the futex call.
    let errno = unsafe { *libc::__errno_location() };
    FLAGS.fetch_or(flag, Ordering::SeqCst);
    WORD.fetch_add(1, Ordering::SeqCst);
    crate::wake::futex_wake_private(&WORD);
    if flag == SHUTDOWN {
        crate::wake::post_semaphore_sleepers();
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Asks every wait of this process to return with a shutdown (the same as
/// receiving SIGTERM, without the signal).
pub fn request_shutdown() {
    signal(SHUTDOWN);
}

/// Whether shutdown was requested.
pub fn shutdown_requested() -> bool {
    FLAGS.load(Ordering::SeqCst) & SHUTDOWN != 0
}

/// Clears a shutdown request (tests, or a node that handles SIGINT itself
/// and decides to go on).
pub fn clear_shutdown() {
    FLAGS.fetch_and(!SHUTDOWN, Ordering::SeqCst);
    SIGNALLED.store(false, Ordering::SeqCst);
}

/// Takes the "reload parameters" request (SIGHUP), if any.
pub(crate) fn take_reload() -> bool {
    FLAGS.fetch_and(!RELOAD, Ordering::SeqCst) & RELOAD != 0
}

/// Whether a reload is pending (without taking it).
pub(crate) fn reload_pending() -> bool {
    FLAGS.load(Ordering::SeqCst) & RELOAD != 0
}

pub(crate) fn requested() -> bool {
    shutdown_requested()
}

/// The futex word a waiter sleeps on next to its wake words.
pub(crate) fn word() -> &'static crate::sync::AtomicU32 {
    &WORD
}

/// The word's current value: read before checking [`requested`].
pub(crate) fn token() -> u32 {
    WORD.load(Ordering::SeqCst)
}
