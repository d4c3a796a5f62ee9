//! Waiting without spinning: how a sleeping subscriber is woken.
//!
//! ## The wake protocol (ARCHITECTURE.md copies this)
//! Every subscriber record has a *wake area* ([`WakeArea`]: a futex word, a
//! mode, a process-shared semaphore) and a bit in the topic's
//! `Membership::sleepers` mask. The waiter is the record's owner (one thread
//! at a time: subscribers are not `Sync`); publishers are any process.
//!
//! **Waiter** (`sleep_once`, and the same steps per subscriber in a wait set):
//! 1. poll the rings (`try_recv`); a sample: done, no handshake at all;
//! 2. store its mode, read the *token* (the futex word; for a semaphore:
//!    drain stale posts) and the process's shutdown token;
//! 3. *announce*: set its `sleepers` bit (RMW, Release), then a SeqCst fence;
//! 4. *re-poll* the rings (`pending`): anything there, or a shutdown request:
//!    clear the bit and go back to 1;
//! 5. *sleep*: `futex_waitv` on (its word == token, shutdown word == token),
//!    or `sem_timedwait`, until a deadline no later than now + [`LIVENESS_SLICE`];
//! 6. clear the bit and go back to 1 (every wake-up may be spurious).
//!
//! **Publisher**, after `protocol::publish` (ring store): a SeqCst fence, then
//! load `sleepers` (Acquire). Zero, the common case: done, no system call.
//! Otherwise, for each bit: futex mode: add 1 to the word (Release), then
//! `FUTEX_WAKE` (shared); semaphore mode: `sem_post`.
//!
//! **Why no wake-up is lost.** The two SeqCst fences (waiter after
//! announcing, publisher after its ring store) are totally ordered. If the
//! publisher's fence is first, the waiter's re-poll (after its own fence)
//! sees the ring store and does not sleep. If the waiter's fence is first,
//! the publisher's load sees the bit; since the bit was set with Release
//! after the token was read, and read with Acquire, the publisher's bump
//! comes after the token in the word's modification order, so the kernel's
//! `FUTEX_WAIT` (which compares atomically with queueing) either sees a
//! changed word and returns at once, or is queued before the `FUTEX_WAKE`.
//! For the semaphore, a post after the drain is never lost (it is a count).
//! `wake/handshake.rs` has the loom model of exactly these steps.
//!
//! **Why nothing hangs.** Every sleep is bounded by [`LIVENESS_SLICE`];
//! after a slice without data the waiter checks (one `F_OFD_GETLK` per lane)
//! whether any publisher is alive, so a publisher killed with SIGKILL is
//! noticed within a slice and reported once as *publisher gone*; a publisher
//! that exits normally wakes its sleepers from `Drop`, so they learn at once.
//! Publishers never wait on a waiter: a dead waiter's bit only costs them a
//! `FUTEX_WAKE` per send until the record is reaped. A corrupted word makes
//! a futex wait return at once (value mismatch): a spurious wake-up, then a
//! re-poll; a corrupted mode reads as futex; a corrupted semaphore sleeps out
//! the slice. So corruption costs CPU or latency, never a hang.
//!
//! **Adaptive** (spin-then-sleep) is a waiter-side policy over the futex: it
//! polls for a spin budget before step 2. The default budget is
//! [`DEFAULT_SPIN`], about the cost of one futex sleep/wake round trip on the
//! project's machine (TARGETS.md: ~6.5 us; spinning as long as blocking
//! would cost is the classic 2-competitive choice); zero when this process
//! and every live publisher are pinned to the same single CPU (spinning
//! would only steal the peer's CPU).
//!
//! **Wait sets** (`waitset.rs`) sleep in one `futex_waitv` over the wake
//! words of all their subscribers (of any topics) plus the shutdown word, so
//! they always use the futex, whatever mechanism a subscriber's own `recv`
//! uses. `futex_waitv` takes at most 128 words: 127 subscribers per wait set.

pub mod handshake;

#[cfg(not(loom))]
mod futex;
#[cfg(not(loom))]
mod semaphore;

#[cfg(not(loom))]
pub(crate) use imp::*;

/// Whether this process waits with `futex_waitv` (Linux 5.16+), or with the
/// fallback for older kernels and strict seccomp profiles (`wake/futex.rs`).
#[cfg(not(loom))]
pub use futex::waitv_in_use as futex_waitv_in_use;

/// [`WakeArea::mode`] value: futex (also what unknown values mean).
pub const MODE_FUTEX: u32 = 0;
/// [`WakeArea::mode`] value: process-shared semaphore.
pub const MODE_SEMAPHORE: u32 = 1;

/// Longest a waiter sleeps before it checks that its publishers are alive.
pub const LIVENESS_SLICE: std::time::Duration = std::time::Duration::from_millis(200);

/// Default spin budget of [`WakeMechanism::Adaptive`] (see the module docs).
pub const DEFAULT_SPIN: std::time::Duration = std::time::Duration::from_micros(10);

/// How a subscriber sleeps while it waits for data. Chosen per node
/// (`NodeBuilder::wake`) or per subscriber (`SubscriberBuilder::wake`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WakeMechanism {
    /// A futex word in the topic's shared memory (Linux default).
    #[default]
    Futex,
    /// A process-shared POSIX semaphore in the topic's shared memory.
    Semaphore,
    /// Poll for `spin` (`None`: [`DEFAULT_SPIN`], or zero when pinned to the
    /// same single CPU as the publishers), then sleep on the futex.
    Adaptive {
        /// The spin budget.
        spin: Option<std::time::Duration>,
    },
}

/// Why a blocking receive returned without a sample.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// Nothing arrived before the deadline (a zero timeout or a deadline in
    /// the past polls exactly once).
    #[error("timed out waiting for a sample")]
    Timeout,
    /// Every publisher this subscriber had is gone (exited or died) and all
    /// their samples were read. Reported once; the next call waits for a new
    /// publisher.
    #[error("the topic's publishers are gone")]
    PublisherGone,
    /// The node's shutdown was requested (SIGINT/SIGTERM or
    /// `Node::request_shutdown`) while waiting.
    #[error("shutdown requested")]
    Shutdown,
    /// The subscriber already holds its maximum of samples (drop one first).
    #[error("subscriber already holds {max} samples (drop one first)")]
    TooManyHeld {
        /// The maximum (QoS `max_held`).
        max: u32,
    },
    /// The topic's segment file was truncated (by another process) while
    /// mapped: nothing in it can be trusted any more (`fault.rs`).
    #[error("topic {topic}: its shared-memory segment was truncated by another process while in use; this participant stopped using it (recreate the publisher or subscriber once the topic is set up again)")]
    SegmentTruncated {
        /// The topic.
        topic: String,
    },
    /// The operating system refused to sleep (not a timeout or a signal).
    #[error("waiting failed: {0}")]
    Os(#[from] std::io::Error),
}

/// What a waiter reads before announcing itself (protocol step 2).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    /// The wake word's value (futex).
    pub word: u32,
    /// The shutdown word's value.
    pub shutdown: u32,
}

#[cfg(not(loom))]
/// One wake-up mechanism, waiter side and publisher side; one file per
/// implementation, and the same conformance tests (`tests/wake.rs`) for each.
pub(crate) trait Mechanism {
    /// Its [`WakeArea::mode`] value.
    const MODE: u32;
    /// Protocol step 2: what to sleep on; called before announcing.
    fn prepare(area: &crate::layout::WakeArea) -> Token;
    /// Protocol step 5: sleeps until notified after `prepare`, until
    /// `until_ns` (`CLOCK_MONOTONIC`) or a signal; may return spuriously.
    fn sleep(area: &crate::layout::WakeArea, token: Token, until_ns: u64) -> std::io::Result<()>;
    /// Publisher side: wakes the announced sleeper of `area`.
    fn notify(area: &crate::layout::WakeArea);
}

#[cfg(not(loom))]
mod imp {
    use std::io;
    use std::time::Duration;

    use super::{handshake, Mechanism, WakeMechanism, MODE_SEMAPHORE};
    use crate::segment::{bits, Segment};
    use crate::sync::Ordering;

    pub(crate) use super::futex::{wait_any, wake as wake_word, Futex, Word, MAX_WORDS};
    pub(crate) use super::semaphore::{init as init_semaphore, Semaphore};

    /// Publisher side, after every send: wakes the subscribers that
    /// announced they sleep. No sleeper: one fence and one load.
    #[inline]
    pub(crate) fn notify_sleepers(seg: &Segment) {
        let s = handshake::to_wake(&seg.members().sleepers);
        if s != 0 {
            notify_all(seg, s);
        }
    }

    #[cold]
    fn notify_all(seg: &Segment, mask: u64) {
        let max = seg.config.max_subscribers as usize;
        for j in bits(mask).filter(|j| *j < max) {
            let area = &seg.subscriber(j).wake;
            match area.mode.load(Ordering::Relaxed) {
                MODE_SEMAPHORE => Semaphore::notify(area),
                _ => Futex::notify(area),
            }
        }
    }

    /// Protocol steps 2-6 for subscriber `index` of `seg`, once: returns
    /// after a wake-up (maybe spurious), at `until_ns`, or at once if
    /// `pending()` or a shutdown request shows up after announcing.
    pub(crate) fn sleep_once(
        seg: &Segment,
        index: usize,
        mechanism: WakeMechanism,
        pending: impl Fn() -> bool,
        until_ns: u64,
    ) -> io::Result<()> {
        match mechanism {
            WakeMechanism::Semaphore => sleep_with::<Semaphore>(seg, index, pending, until_ns),
            _ => sleep_with::<Futex>(seg, index, pending, until_ns),
        }
    }

    fn sleep_with<M: Mechanism>(
        seg: &Segment,
        index: usize,
        pending: impl Fn() -> bool,
        until_ns: u64,
    ) -> io::Result<()> {
        let area = &seg.subscriber(index).wake;
        let sleepers = &seg.members().sleepers;
        let bit = 1u64 << index;
        area.mode.store(M::MODE, Ordering::Relaxed);
        let token = M::prepare(area);
        handshake::announce(sleepers, bit);
        if pending() || crate::shutdown::requested() {
            handshake::retract(sleepers, bit);
            return Ok(());
        }
        let r = M::sleep(area, token, until_ns);
        handshake::retract(sleepers, bit);
        r
    }

    /// The spin budget of `mechanism` for a subscriber of `seg`.
    pub(crate) fn spin_budget(seg: &Segment, mechanism: WakeMechanism) -> Duration {
        match mechanism {
            WakeMechanism::Adaptive { spin: Some(d) } => d,
            WakeMechanism::Adaptive { spin: None } => {
                if pinned_with_publishers(seg) {
                    Duration::ZERO
                } else {
                    super::DEFAULT_SPIN
                }
            }
            _ => Duration::ZERO,
        }
    }

    /// Whether this process and every live publisher of `seg` may run on
    /// one and the same CPU only (or the machine has one CPU).
    fn pinned_with_publishers(seg: &Segment) -> bool {
        use nix::sched::{sched_getaffinity, CpuSet};
        use nix::unistd::Pid;
        // Online CPUs, not `available_parallelism` (that is this process's
        // affinity mask: a process pinned to one CPU would see a machine of
        // one CPU and never spin, even with its peer on another CPU).
        let online = nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN)
            .ok()
            .flatten()
            .unwrap_or(1);
        if online <= 1 {
            return true;
        }
        let only_cpu = |pid: Pid| -> Option<usize> {
            let set = sched_getaffinity(pid).ok()?;
            let mut cpus = (0..CpuSet::count()).filter(|c| set.is_set(*c).unwrap_or(false));
            let first = cpus.next()?;
            cpus.next().is_none().then_some(first)
        };
        let Some(mine) = only_cpu(Pid::from_raw(0)) else {
            return false;
        };
        let pubs = seg.members().publishers.load(Ordering::Relaxed);
        let max = seg.config.max_publishers as usize;
        let mut any = false;
        for lane in bits(pubs).filter(|l| *l < max) {
            let pid = seg.publisher(lane).pid.load(Ordering::Relaxed);
            match only_cpu(Pid::from_raw(pid as i32)) {
                Some(c) if c == mine => any = true,
                _ => return false,
            }
        }
        any
    }
}

/// Wakes the threads of this process sleeping on `word` (a private futex).
#[cfg(not(loom))]
pub(crate) fn futex_wake_private(word: &std::sync::atomic::AtomicU32) {
    futex::wake(word, true)
}

/// Posts the semaphores this process's semaphore waiters sleep on (the
/// shutdown handler; async-signal-safe).
#[cfg(not(loom))]
pub(crate) fn post_semaphore_sleepers() {
    semaphore::post_sleepers()
}

/// Wakes every thread sleeping on `word` in shared memory (services:
/// `service_shm.rs`).
#[cfg(not(loom))]
pub(crate) fn futex_wake_shared(word: &crate::sync::AtomicU32) {
    futex::wake(word, false)
}
