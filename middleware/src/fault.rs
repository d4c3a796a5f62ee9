//! Containing SIGBUS on segment mappings.
//!
//! A segment is a file: anyone who can open it (a hostile or buggy process
//! of the same user, a careless `truncate`) can shrink it while it is
//! mapped. Every later access to a page past the new end raises SIGBUS,
//! whose default action kills the process: one truncation would kill every
//! participant of the topic and every tool looking at it.
//!
//! ## The protocol
//! 1. **Register.** Every mapping of a segment is a [`GuardedMap`]: right
//!    after `mmap`, its range is listed in [`TABLE`], a fixed array of
//!    [`MAX_MAPPINGS`] entries (address, length, state) made only of
//!    atomics, so a signal handler can read it. The first registration
//!    installs the handler (once per process).
//! 2. **Contain.** On SIGBUS, the handler looks `si_addr` up in the table.
//!    Inside a listed range, it maps anonymous zero pages over the *whole*
//!    range (`mmap(MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS)`, an
//!    async-signal-safe system call), marks the entry *poisoned* and
//!    returns: the faulting instruction runs again, on zeros, and the
//!    process lives. Outside every range, it hands the signal to the handler
//!    that was installed before (Rust's own stack-overflow handler, or the
//!    default action, which then kills the process as before).
//! 3. **Notice.** Zeros are never taken for a sample: a ring entry or slot
//!    header of zero carries sequence number 0, and a cursor is at least 1,
//!    so the read that faulted finds nothing (protocol.rs). The participant
//!    then learns it from the poisoned flag ([`GuardedMap::poisoned`], one
//!    relaxed load): a subscriber checks it on every `try_recv` and in its
//!    liveness slice, a publisher on every loan, and both then fail with
//!    `SegmentTruncated` naming the topic. A sleeping subscriber is not
//!    touching memory (the kernel's futex wait on a truncated page fails
//!    with `EFAULT` instead of raising SIGBUS), so it also compares the
//!    file's size with the layout when a sleep fails and once per liveness
//!    slice ([`GuardedMap::poison`] does what the handler does).
//! 4. **Unregister** on drop, before `munmap`.
//!
//! **Limits, written down:** at most [`MAX_MAPPINGS`] mappings per process
//! are guarded at once (two per open segment during an open, one after); a
//! mapping beyond that is used unguarded, as before. A handler installed for
//! SIGBUS after axon's replaces it (then a truncation kills again). A sample
//! handed out before the truncation reads zeros from then on: zero-copy
//! cannot take it back, as with any peer that overwrites payloads; the next
//! receive reports the truncation.

use std::io;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::OnceLock;

use memmap2::MmapRaw;

/// Most segment mappings one process guards at once.
pub const MAX_MAPPINGS: usize = 4096;

/// Entry states.
const FREE: u32 = 0;
/// Being filled in or emptied by its owner: the handler skips it.
const BUSY: u32 = 1;
const ACTIVE: u32 = 2;
const POISONED: u32 = 3;

/// One guarded range.
struct Entry {
    state: AtomicU32,
    start: AtomicUsize,
    len: AtomicUsize,
}

impl Entry {
    const fn new() -> Self {
        Entry {
            state: AtomicU32::new(FREE),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
        }
    }
}

/// The guarded ranges. Fixed size, atomics only: the handler reads it.
static TABLE: [Entry; MAX_MAPPINGS] = [const { Entry::new() }; MAX_MAPPINGS];

/// The entry of mappings that did not fit in [`TABLE`]: never listed,
/// never poisoned by the handler (only by [`GuardedMap::poison`]).
static UNLISTED: Entry = Entry::new();

/// The SIGBUS action that was installed before ours, to chain to.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// A segment mapping whose SIGBUS faults are contained (module docs).
#[derive(Debug)]
pub(crate) struct GuardedMap {
    /// Declared before `map`: unregistered before the mapping goes away.
    guard: Guard,
    map: MmapRaw,
}

#[derive(Debug)]
struct Guard {
    entry: &'static Entry,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish()
    }
}

impl GuardedMap {
    /// Lists `map` in the table (installing the handler on first use).
    pub fn new(map: MmapRaw) -> Self {
        install();
        let (start, len) = (map.as_ptr() as usize, map.len());
        let entry = TABLE
            .iter()
            .find(|e| {
                e.state
                    .compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            })
            .inspect(|e| {
                e.start.store(start, Ordering::Relaxed);
                e.len.store(len, Ordering::Relaxed);
                // SYNC POINT F (Release): pairs with the handler's Acquire
                // load of `state`; it then reads this range.
                e.state.store(ACTIVE, Ordering::Release);
            })
            .unwrap_or(&UNLISTED);
        GuardedMap {
            guard: Guard { entry },
            map,
        }
    }

    /// The mapping.
    #[inline]
    pub fn map(&self) -> &MmapRaw {
        &self.map
    }

    /// Whether a fault (or [`poison`](Self::poison)) replaced the mapping
    /// with zeros: one relaxed load.
    #[inline(always)]
    pub fn poisoned(&self) -> bool {
        self.guard.entry.state.load(Ordering::Relaxed) == POISONED
    }

    /// Does what the handler does, outside a handler: zeros over the whole
    /// mapping, and the flag set. For a truncation found without a fault
    /// (a futex call on a truncated page fails with `EFAULT` instead). An
    /// unlisted mapping (the table was full) is left as it is: its owner
    /// only learns of the truncation from the file size.
    pub fn poison(&self) {
        if std::ptr::eq(self.guard.entry, &UNLISTED) {
            return;
        }
        if zero_over(self.map.as_ptr() as usize, self.map.len()).is_ok() {
            self.guard.entry.state.store(POISONED, Ordering::Release);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if std::ptr::eq(self.entry, &UNLISTED) {
            return;
        }
        // Not listed any more before the range is unmapped (the map is
        // dropped after this guard): a fault there then is not ours.
        self.entry.state.store(BUSY, Ordering::Release);
        self.entry.start.store(0, Ordering::Relaxed);
        self.entry.len.store(0, Ordering::Relaxed);
        self.entry.state.store(FREE, Ordering::Release);
    }
}

/// Maps private zero pages over `start..start + len`: async-signal-safe
/// (one system call).
fn zero_over(start: usize, len: usize) -> io::Result<()> {
    // SAFETY: (1) `start..start + len` is a mapping this process made
    // (a registered `GuardedMap`, alive: it unregisters before unmapping);
    // replacing it with anonymous memory of the same size keeps every
    // address valid, so references into it stay valid (they point to
    // atomics and bytes for which zero is a valid value); (2) MAP_FIXED
    // replaces exactly that range and nothing else.
    let r = unsafe {
        libc::mmap(
            start as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if r == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Installs [`on_sigbus`] once, remembering the previous action.
fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: (1) `sigaction` is a plain C struct, all-zero is a valid
        // value, and every field the kernel reads is set; (2) the previous
        // action is read first and stored in `PREVIOUS` before ours is
        // installed, so the handler always finds it; (3) `on_sigbus` has
        // the `SA_SIGINFO` signature.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) != 0 {
                return;
            }
            let _ = PREVIOUS.set(old);
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_sigbus as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
            libc::sigemptyset(&mut new.sa_mask);
            libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut());
        }
    });
}

/// The SIGBUS handler (module docs, step 2). Async-signal-safe: atomics,
/// `mmap`, and the chained handler; errno is preserved.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` to an SA_SIGINFO
    // handler; for SIGBUS `si_addr` is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    // SAFETY: `__errno_location` returns this thread's errno; saved and
    // restored so the interrupted code does not see ours.
    let errno = unsafe { *libc::__errno_location() };
    for e in &TABLE {
        // SYNC POINT F (Acquire): see `GuardedMap::new`.
        let state = e.state.load(Ordering::Acquire);
        if state != ACTIVE && state != POISONED {
            continue;
        }
        let (start, len) = (
            e.start.load(Ordering::Relaxed),
            e.len.load(Ordering::Relaxed),
        );
        if addr.wrapping_sub(start) < len {
            if zero_over(start, len).is_ok() {
                e.state.store(POISONED, Ordering::Release);
                // SAFETY: as above.
                unsafe { *libc::__errno_location() = errno };
                return;
            }
            break;
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
    chain(sig, info, ctx);
}

/// Hands a fault that is not ours to the previous action: its handler, or
/// for the default action (and "ignore", which the kernel does not honour
/// for a fault), the default restored, so that returning re-raises the
/// fault and it kills the process as it would have without axon.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(old) = PREVIOUS.get() else {
        restore_default(sig);
        return;
    };
    let handler = old.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        restore_default(sig);
    } else if old.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous action was installed with SA_SIGINFO, so
        // `handler` is a three-argument handler; we pass it the arguments
        // the kernel passed us.
        unsafe {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(handler);
            f(sig, info, ctx);
        }
    } else {
        // SAFETY: without SA_SIGINFO, `handler` is a one-argument handler.
        unsafe {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
            f(sig);
        }
    }
}

fn restore_default(sig: libc::c_int) {
    // SAFETY: `signal` is async-signal-safe; SIG_DFL is a valid action.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}
