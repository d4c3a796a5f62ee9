//! One wait over many subscribers (any types, any topics), service
//! servers, pending calls, queue workers, timers and the process's
//! shutdown request.
//!
//! A wait set sleeps in a single `futex_waitv` over the wake words of all
//! its sources plus the shutdown word (see `wake/mod.rs` for the
//! handshake, done here for every source before sleeping; each kind of
//! source is one impl of the private `Source` trait). Timers are the
//! sleep's deadline, on `CLOCK_MONOTONIC`; a periodic timer never drifts:
//! its next deadline is the previous deadline plus the period, and periods
//! missed while the node was busy are skipped and counted
//! ([`Event::Timer`]`{ periods }`), never replayed as a burst.
//!
//! Readiness is level-triggered: a subscriber with unread samples makes
//! every wait return [`Event::Data`] for it until it is drained.
//!
//! Bad input: a zero period or delay is [`WaitSetError::ZeroDuration`]; a
//! period shorter than [`min_period`] (the clock's resolution or the
//! kernel's timer slack for this thread, whichever is larger; 50 us by
//! default) is [`WaitSetError::TimerTooFast`]; a subscriber created by
//! another node is [`WaitSetError::ForeignSubscriber`]. A zero timeout, or a
//! deadline in the past, checks readiness once and returns.

use std::io;
use std::time::{Duration, Instant};

use axon_message::Message;

use crate::node::Node;
use crate::subscriber::{RawSubscriber, Subscriber};
use crate::sync::Ordering;
use crate::wake::{self, handshake, Word, LIVENESS_SLICE, MAX_WORDS, MODE_FUTEX};

/// Names one thing a wait set waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(usize);

/// What became ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The subscriber has at least one unread sample.
    Data,
    /// Every publisher of the subscriber's topic is gone (reported once per
    /// disappearance, after its samples are read).
    PublisherGone,
    /// The server that has (or was sent) a pending call died; its
    /// `try_recv` now returns `ServerGone`.
    ServerGone,
    /// The timer fired; `periods` > 1 means that many periods elapsed since
    /// it last fired (the missed ones are skipped, not replayed).
    Timer {
        /// Periods elapsed (1 when on time).
        periods: u64,
    },
}

/// The result of one wait.
#[derive(Debug, Default, Clone)]
pub struct Ready {
    events: Vec<(Key, Event)>,
    shutdown: bool,
    reload: bool,
}

impl Ready {
    /// Nothing is ready (the wait timed out).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && !self.shutdown && !self.reload
    }

    /// Shutdown was requested (SIGINT, SIGTERM, `Node::request_shutdown`).
    pub fn shutdown(&self) -> bool {
        self.shutdown
    }

    /// SIGHUP: the parameters should be reloaded (taken by this wait).
    pub fn reload(&self) -> bool {
        self.reload
    }

    /// What happened to `key`, if anything.
    pub fn get(&self, key: Key) -> Option<Event> {
        self.events.iter().find(|(k, _)| *k == key).map(|(_, e)| *e)
    }

    /// Whether `key` is ready.
    pub fn contains(&self, key: Key) -> bool {
        self.get(key).is_some()
    }

    /// Every ready key with its event, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (Key, Event)> + '_ {
        self.events.iter().copied()
    }
}

/// Why a wait set could not add an entry or wait.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitSetError {
    /// The subscriber belongs to another node.
    #[error("subscriber of {topic} belongs to another node")]
    ForeignSubscriber {
        /// Its topic.
        topic: String,
    },
    /// A timer's period or delay is zero.
    #[error("{what} must be longer than zero")]
    ZeroDuration {
        /// Which duration.
        what: &'static str,
    },
    /// A periodic timer is faster than the clock can honour.
    #[error("timer period {period:?} is below {min:?}, the shortest this clock can honour")]
    TimerTooFast {
        /// Asked for.
        period: Duration,
        /// The minimum ([`min_period`]).
        min: Duration,
    },
    /// More sources (subscribers, servers, workers, pending calls) than
    /// one `futex_waitv` can watch.
    #[error("a wait set holds at most {max} subscribers, servers, workers and pending calls")]
    Full {
        /// The maximum.
        max: usize,
    },
    /// The signal handlers or the sleep failed.
    #[error("wait set: {0}")]
    Os(#[from] io::Error),
}

/// One thing a wait set sleeps on: a futex word in shared memory with its
/// sleeper bit, and a readiness check. Subscribers, servers, queue workers
/// and pending calls are each one impl; `WaitSet::sleep` runs the wake
/// handshake (`wake/mod.rs`, steps 1-4) over all of them at once: every
/// token is read, then every bit announced (each announce ends in a SeqCst
/// fence), then every source re-checked, and only if none is ready does
/// the thread sleep; every bit is retracted after.
trait Source {
    /// Step 1: the word to sleep on (anything the waker needs to know
    /// before the token is read is set here too).
    fn word(&self) -> &crate::sync::AtomicU32;
    /// Step 2: sets the sleeper bit, then a SeqCst fence.
    fn announce(&self);
    /// Step 4: clears the sleeper bit.
    fn retract(&self);
    /// Step 3 (the re-check): whether a wait would return at once. No
    /// system call.
    fn ready(&self) -> bool;
    /// What to report now; `thorough` once per liveness slice (the checks
    /// that cost a system call, like a peer's liveness, happen then).
    fn event(&self, thorough: bool) -> Option<Event>;
}

impl<T: Source + ?Sized> Source for &T {
    fn word(&self) -> &crate::sync::AtomicU32 {
        (**self).word()
    }
    fn announce(&self) {
        (**self).announce()
    }
    fn retract(&self) {
        (**self).retract()
    }
    fn ready(&self) -> bool {
        (**self).ready()
    }
    fn event(&self, thorough: bool) -> Option<Event> {
        (**self).event(thorough)
    }
}

impl Source for RawSubscriber {
    fn word(&self) -> &crate::sync::AtomicU32 {
        let area = &self.segment().subscriber(self.record_index()).wake;
        area.mode.store(MODE_FUTEX, Ordering::Relaxed);
        &area.word
    }
    fn announce(&self) {
        handshake::announce(&self.segment().members().sleepers, 1 << self.record_index());
    }
    fn retract(&self) {
        handshake::retract(&self.segment().members().sleepers, 1 << self.record_index());
    }
    fn ready(&self) -> bool {
        self.pending()
    }
    fn event(&self, thorough: bool) -> Option<Event> {
        if self.pending() {
            Some(Event::Data)
        } else if self.check_gone(thorough) {
            Some(Event::PublisherGone)
        } else {
            None
        }
    }
}

/// A service's server: ready when a request is posted.
impl Source for crate::service_shm::ServiceSegment {
    fn word(&self) -> &crate::sync::AtomicU32 {
        &self.server().word
    }
    fn announce(&self) {
        handshake::announce(&self.server().sleepers, 1);
    }
    fn retract(&self) {
        handshake::retract(&self.server().sleepers, 1);
    }
    fn ready(&self) -> bool {
        self.has_request()
    }
    fn event(&self, _thorough: bool) -> Option<Event> {
        self.has_request().then_some(Event::Data)
    }
}

/// A work-queue worker: `Event::Data` while a job waits for it.
impl Source for crate::queue::QueueWait<'_> {
    fn word(&self) -> &crate::sync::AtomicU32 {
        crate::queue::QueueWait::word(self)
    }
    fn announce(&self) {
        crate::queue::QueueWait::announce(self)
    }
    fn retract(&self) {
        crate::queue::QueueWait::retract(self)
    }
    fn ready(&self) -> bool {
        self.pending()
    }
    fn event(&self, thorough: bool) -> Option<Event> {
        if thorough {
            self.reap();
        }
        self.pending().then_some(Event::Data)
    }
}

/// A call in flight: `Event::Data` once answered (or declined),
/// `Event::ServerGone` once its server died (both: `try_recv` now).
impl<Req: Message + ?Sized, Resp: Message + ?Sized> Source
    for crate::service::Pending<'_, Req, Resp>
{
    fn word(&self) -> &crate::sync::AtomicU32 {
        &self.client_record().word
    }
    fn announce(&self) {
        handshake::announce(&self.client_record().sleepers, 1);
    }
    fn retract(&self) {
        handshake::retract(&self.client_record().sleepers, 1);
    }
    fn ready(&self) -> bool {
        self.answered_now()
    }
    fn event(&self, thorough: bool) -> Option<Event> {
        if self.answered_now() {
            Some(Event::Data)
        } else if thorough && self.server_died() {
            Some(Event::ServerGone)
        } else {
            None
        }
    }
}

enum Entry<'a> {
    Source(Box<dyn Source + 'a>),
    Timer {
        next_ns: u64,
        /// 0: one-shot.
        period_ns: u64,
        armed: bool,
    },
}

impl<'a> Entry<'a> {
    fn source(&self) -> Option<&(dyn Source + 'a)> {
        match self {
            Entry::Source(s) => Some(s.as_ref()),
            Entry::Timer { .. } => None,
        }
    }
}

/// Waits on subscribers, timers and shutdown at once. Create with
/// [`Node::wait_set`].
pub struct WaitSet<'a> {
    node_id: u64,
    entries: Vec<Entry<'a>>,
    subs: usize,
    next_liveness_ns: u64,
}

impl std::fmt::Debug for WaitSet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitSet")
            .field("entries", &self.entries.len())
            .field("subscribers", &self.subs)
            .finish()
    }
}

/// The shortest timer period this thread's sleeps can honour: the larger of
/// `CLOCK_MONOTONIC`'s resolution and the kernel's timer slack (50 us
/// unless changed with `prctl(PR_SET_TIMERSLACK)`).
pub fn min_period() -> Duration {
    let mut res = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `res` is a valid, exclusively borrowed timespec.
    unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut res) };
    let res_ns = res.tv_sec as u64 * 1_000_000_000 + res.tv_nsec as u64;
    // SAFETY: PR_GET_TIMERSLACK takes no pointer and returns the slack in ns.
    let slack = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
    let slack_ns = if slack > 0 { slack as u64 } else { 50_000 };
    Duration::from_nanos(res_ns.max(slack_ns).max(1))
}

impl<'a> WaitSet<'a> {
    pub(crate) fn new(node: &Node) -> Result<Self, WaitSetError> {
        crate::shutdown::install()?;
        Ok(WaitSet {
            node_id: node.id(),
            entries: Vec::new(),
            subs: 0,
            next_liveness_ns: crate::sys::monotonic_ns() + LIVENESS_SLICE.as_nanos() as u64,
        })
    }

    /// Adds a subscriber (of this node).
    pub fn subscriber<T: Message + ?Sized>(
        &mut self,
        sub: &'a Subscriber<T>,
    ) -> Result<Key, WaitSetError> {
        self.raw_subscriber(sub.raw())
    }

    /// Adds a work-queue worker: the wait returns [`Event::Data`] for it
    /// while a job is waiting that it may take (fewer than `prefetch`
    /// held); then `try_recv` it.
    pub fn queue_worker<T: Message + ?Sized>(
        &mut self,
        worker: &'a crate::queue::QueueWorker<T>,
    ) -> Result<Key, WaitSetError> {
        self.add(Box::new(worker.wait_handle()))
    }

    /// Adds an untyped subscriber (of this node, or created without one).
    pub fn raw_subscriber(&mut self, sub: &'a RawSubscriber) -> Result<Key, WaitSetError> {
        if sub.node_id() != 0 && sub.node_id() != self.node_id {
            return Err(WaitSetError::ForeignSubscriber { topic: sub.topic() });
        }
        self.add(Box::new(sub))
    }

    /// Adds a service's server: [`Event::Data`] when a request waits
    /// (take it with `try_recv_request`).
    pub fn server<Req: Message + ?Sized, Resp: Message + ?Sized>(
        &mut self,
        server: &'a crate::service::Server<Req, Resp>,
    ) -> Result<Key, WaitSetError> {
        self.add(Box::new(server.segment()))
    }

    /// Adds a call in flight: [`Event::Data`] once it is answered (or
    /// declined), [`Event::ServerGone`] once the server that has it died
    /// (checked once per liveness slice); either way
    /// [`Pending::try_recv`](crate::service::Pending::try_recv) now returns
    /// the response or the error. A finished `Pending` is never ready.
    pub fn pending<Req: Message + ?Sized, Resp: Message + ?Sized>(
        &mut self,
        pending: &'a crate::service::Pending<'_, Req, Resp>,
    ) -> Result<Key, WaitSetError> {
        self.add(Box::new(pending))
    }

    /// Adds one sleeping source; at most `MAX_WORDS - 1` (the shutdown
    /// word takes one).
    fn add(&mut self, source: Box<dyn Source + 'a>) -> Result<Key, WaitSetError> {
        if self.subs + 1 >= MAX_WORDS {
            return Err(WaitSetError::Full { max: MAX_WORDS - 1 });
        }
        self.subs += 1;
        self.entries.push(Entry::Source(source));
        Ok(Key(self.entries.len() - 1))
    }

    /// Adds a periodic timer: fires every `period`, first one `period` from now.
    pub fn interval(&mut self, period: Duration) -> Result<Key, WaitSetError> {
        if period.is_zero() {
            return Err(WaitSetError::ZeroDuration {
                what: "timer period",
            });
        }
        let min = min_period();
        if period < min {
            return Err(WaitSetError::TimerTooFast { period, min });
        }
        let period_ns = period.as_nanos().min(u64::MAX as u128 / 4) as u64;
        self.entries.push(Entry::Timer {
            next_ns: crate::sys::monotonic_ns().saturating_add(period_ns),
            period_ns,
            armed: true,
        });
        Ok(Key(self.entries.len() - 1))
    }

    /// Adds a one-shot timer firing once, `after` from now.
    pub fn once(&mut self, after: Duration) -> Result<Key, WaitSetError> {
        if after.is_zero() {
            return Err(WaitSetError::ZeroDuration {
                what: "one-shot delay",
            });
        }
        let after_ns = after.as_nanos().min(u64::MAX as u128 / 4) as u64;
        self.entries.push(Entry::Timer {
            next_ns: crate::sys::monotonic_ns().saturating_add(after_ns),
            period_ns: 0,
            armed: true,
        });
        Ok(Key(self.entries.len() - 1))
    }

    /// Waits until something is ready (or shutdown is requested).
    pub fn wait(&mut self) -> Result<Ready, WaitSetError> {
        self.wait_until(None)
    }

    /// Waits up to `timeout`; an empty [`Ready`] means it timed out.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Ready, WaitSetError> {
        let d = crate::sys::monotonic_ns()
            .saturating_add(timeout.as_nanos().min(u64::MAX as u128) as u64);
        self.wait_until(Some(d))
    }

    /// Waits until `deadline`; an empty [`Ready`] means it passed.
    pub fn wait_deadline(&mut self, deadline: Instant) -> Result<Ready, WaitSetError> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.wait_timeout(left)
    }

    fn wait_until(&mut self, deadline_ns: Option<u64>) -> Result<Ready, WaitSetError> {
        loop {
            let now = crate::sys::monotonic_ns();
            let thorough = now >= self.next_liveness_ns;
            if thorough {
                self.next_liveness_ns = now + LIVENESS_SLICE.as_nanos() as u64;
            }
            let ready = self.collect(now, thorough);
            if !ready.is_empty() {
                return Ok(ready);
            }
            if deadline_ns.is_some_and(|d| now >= d) {
                return Ok(ready);
            }
            let mut until = self.next_liveness_ns;
            if let Some(d) = deadline_ns {
                until = until.min(d);
            }
            for e in &self.entries {
                if let Entry::Timer {
                    next_ns,
                    armed: true,
                    ..
                } = e
                {
                    until = until.min(*next_ns);
                }
            }
            self.sleep(until)?;
        }
    }

    /// Protocol steps 2-6 (wake/mod.rs) for every source at once.
    fn sleep(&self, until_ns: u64) -> io::Result<()> {
        let sources: Vec<&dyn Source> = self.entries.iter().filter_map(Entry::source).collect();
        let mut words = Vec::with_capacity(sources.len() + 1);
        words.push(Word {
            word: crate::shutdown::word(),
            expected: crate::shutdown::token(),
            private: true,
        });
        for s in &sources {
            let word = s.word();
            words.push(Word {
                word,
                expected: handshake::token(word),
                private: false,
            });
        }
        for s in &sources {
            s.announce();
        }
        let ready_now = crate::shutdown::requested()
            || crate::shutdown::reload_pending()
            || sources.iter().any(|s| s.ready());
        let r = if ready_now {
            Ok(())
        } else {
            wake::wait_any(&words, until_ns)
        };
        for s in &sources {
            s.retract();
        }
        r
    }

    fn collect(&mut self, now: u64, thorough: bool) -> Ready {
        let mut ready = Ready {
            shutdown: crate::shutdown::requested(),
            reload: crate::shutdown::take_reload(),
            ..Ready::default()
        };
        for (i, e) in self.entries.iter_mut().enumerate() {
            match e {
                Entry::Source(s) => {
                    if let Some(ev) = s.event(thorough) {
                        ready.events.push((Key(i), ev));
                    }
                }
                Entry::Timer {
                    next_ns,
                    period_ns,
                    armed,
                } => {
                    if *armed && now >= *next_ns {
                        if let Some(elapsed) = (now - *next_ns).checked_div(*period_ns) {
                            let periods = elapsed + 1;
                            *next_ns = next_ns.saturating_add(periods.saturating_mul(*period_ns));
                            ready.events.push((Key(i), Event::Timer { periods }));
                        } else {
                            // period 0: a one-shot timer
                            *armed = false;
                            ready.events.push((Key(i), Event::Timer { periods: 1 }));
                        }
                    }
                }
            }
        }
        ready
    }
}
