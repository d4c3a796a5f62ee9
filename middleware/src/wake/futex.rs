//! Futex wake-up (the Linux default): the waiter sleeps in `futex_waitv` on
//! its record's wake word (shared futex: the word is in a `MAP_SHARED`
//! mapping) together with the process's shutdown word (private futex); a
//! publisher bumps the word and issues `FUTEX_WAKE`.
//!
//! The only file in axon that calls `futex(2)` / `futex_waitv(2)`.
//!
//! **Without `futex_waitv`** (Linux before 5.16, e.g. Ubuntu 22.04's 5.15 or
//! a Jetson's 5.10; or a container whose seccomp profile predates the call
//! and answers `EPERM`), the first failure switches the process to a
//! fallback: sleep in `FUTEX_WAIT_BITSET` on *one* word (the first
//! shared-memory word: a `recv`'s own word, a wait set's first subscriber)
//! for at most [`FALLBACK_SLICE_NS`], then let the caller re-poll everything.
//! That word still wakes at once; the others (more subscribers of a wait
//! set, the shutdown request) are seen within the slice. Set
//! `AXON_FUTEX_WAITV=off` to force the fallback (tests do).

use std::io;

use super::{Mechanism, Token};
use crate::layout::WakeArea;
use crate::sync::AtomicU32;

/// `FUTEX_32` from `<linux/futex.h>`: the word is 32 bits.
const FUTEX_32: u32 = 2;
/// `FUTEX_PRIVATE_FLAG`: the word is only shared between threads.
const FUTEX_PRIVATE_FLAG: u32 = 128;
/// `futex_waitv` accepts at most this many words.
pub(crate) const MAX_WORDS: usize = 128;

/// `struct futex_waitv` from `<linux/futex.h>`.
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// One word to sleep on.
#[derive(Clone, Copy)]
pub(crate) struct Word<'a> {
    /// The word.
    pub word: &'a AtomicU32,
    /// Sleep only while it still holds this value.
    pub expected: u32,
    /// Process-private word (the shutdown word) rather than shared memory.
    pub private: bool,
}

/// Sleeps until one of `words` is woken (or no longer holds its expected
/// value), `until_ns` on `CLOCK_MONOTONIC` passes, or a signal arrives.
/// Spurious returns are allowed; the caller re-polls.
pub(crate) fn wait_any(words: &[Word<'_>], until_ns: u64) -> io::Result<()> {
    assert!(!words.is_empty() && words.len() <= MAX_WORDS);
    if !waitv_in_use() {
        return wait_one(words, until_ns);
    }
    match wait_v(words, until_ns) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {
            NO_WAITV.store(true, std::sync::atomic::Ordering::Relaxed);
            wait_one(words, until_ns)
        }
        r => r,
    }
}

/// Longest sleep of the fallback (module docs) before the caller re-polls.
pub const FALLBACK_SLICE_NS: u64 = 2_000_000;

/// Set once `futex_waitv` turned out to be missing (or by the environment).
static NO_WAITV: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether waits use `futex_waitv` (false: the fallback of the module docs).
pub fn waitv_in_use() -> bool {
    static FORCED_OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let off =
        *FORCED_OFF.get_or_init(|| std::env::var("AXON_FUTEX_WAITV").is_ok_and(|v| v == "off"));
    !off && !NO_WAITV.load(std::sync::atomic::Ordering::Relaxed)
}

/// The fallback: `FUTEX_WAIT_BITSET` on the first shared word (or the first
/// word), until `until_ns` or the end of a slice, whichever comes first.
fn wait_one(words: &[Word<'_>], until_ns: u64) -> io::Result<()> {
    // Any word already changed: no sleep, the caller re-polls.
    if words
        .iter()
        .any(|w| w.word.load(crate::sync::Ordering::Acquire) != w.expected)
    {
        return Ok(());
    }
    let w = words.iter().find(|w| !w.private).unwrap_or(&words[0]);
    let until = until_ns.min(crate::sys::monotonic_ns().saturating_add(FALLBACK_SLICE_NS));
    let ts = libc::timespec {
        tv_sec: (until / 1_000_000_000) as libc::time_t,
        tv_nsec: (until % 1_000_000_000) as libc::c_long,
    };
    let op = libc::FUTEX_WAIT_BITSET
        | if w.private {
            libc::FUTEX_PRIVATE_FLAG
        } else {
            0
        };
    // SAFETY: `w.word` is a live, 4-aligned u32 borrowed for the call; the
    // kernel only reads it (compares with `expected`); `ts` is a valid
    // absolute CLOCK_MONOTONIC timespec (FUTEX_WAIT_BITSET's clock without
    // FUTEX_CLOCK_REALTIME), read only; the bitset matches any waker.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            w.word as *const AtomicU32,
            op,
            w.expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            libc::FUTEX_BITSET_MATCH_ANY,
        )
    };
    wait_result(r)
}

/// `futex_waitv` on all of `words`.
fn wait_v(words: &[Word<'_>], until_ns: u64) -> io::Result<()> {
    let waiters: Vec<FutexWaitv> = words
        .iter()
        .map(|w| FutexWaitv {
            val: w.expected as u64,
            uaddr: w.word as *const AtomicU32 as usize as u64,
            flags: FUTEX_32 | if w.private { FUTEX_PRIVATE_FLAG } else { 0 },
            reserved: 0,
        })
        .collect();
    let ts = libc::timespec {
        tv_sec: (until_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (until_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: (1) `waiters` is a live, initialised array of `words.len()`
    // (<= 128) `struct futex_waitv`, each naming a 4-aligned `AtomicU32` that
    // outlives the call (borrowed by `words`); the kernel only reads it;
    // (2) `ts` is a valid absolute timespec on CLOCK_MONOTONIC, read only;
    // (3) flags = 0 as the syscall requires.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            waiters.as_ptr(),
            waiters.len() as libc::c_uint,
            0 as libc::c_uint,
            &ts as *const libc::timespec,
            libc::CLOCK_MONOTONIC,
        )
    };
    wait_result(r)
}

/// A futex wait's return: value changed meanwhile, timed out, or
/// interrupted all mean "re-poll"; anything else is an error.
fn wait_result(r: libc::c_long) -> io::Result<()> {
    if r >= 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::ETIMEDOUT) | Some(libc::EINTR) => Ok(()),
        _ => Err(e),
    }
}

/// Wakes every thread sleeping on `word` (shared or private).
pub(crate) fn wake(word: &AtomicU32, private: bool) {
    let op = libc::FUTEX_WAKE | if private { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    // SAFETY: `word` is a valid, 4-aligned u32 for the duration of the call;
    // FUTEX_WAKE only uses its address as a key and never writes it. The
    // result (number woken, or an error for a bad address) needs no
    // handling: a wake-up nobody waits for is harmless.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const AtomicU32,
            op,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// The futex mechanism.
pub(crate) struct Futex;

impl Mechanism for Futex {
    const MODE: u32 = super::MODE_FUTEX;

    fn prepare(area: &WakeArea) -> Token {
        Token {
            word: super::handshake::token(&area.word),
            shutdown: crate::shutdown::token(),
        }
    }

    fn sleep(area: &WakeArea, token: Token, until_ns: u64) -> io::Result<()> {
        wait_any(
            &[
                Word {
                    word: &area.word,
                    expected: token.word,
                    private: false,
                },
                Word {
                    word: crate::shutdown::word(),
                    expected: token.shutdown,
                    private: true,
                },
            ],
            until_ns,
        )
    }

    fn notify(area: &WakeArea) {
        super::handshake::bump(&area.word);
        wake(&area.word, false);
    }
}
