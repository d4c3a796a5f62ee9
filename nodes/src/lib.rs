//! Shared helpers of the demo robot's nodes (`src/bin/*.rs`).
//!
//! The nodes are written against the topic API only (`Node`, publishers,
//! subscribers, params, blocking `recv_deadline`). What they need on top of
//! it lives here:
//!
//! - [`Ctx`]: the node plus shutdown and reload. SIGINT/SIGTERM are the
//!   middleware's (`axon::shutdown`): they end every blocking receive with
//!   `WaitError::Shutdown` and make [`Ctx::running`] false; a second one
//!   exits at once (130/143). SIGHUP, which the launcher forwards after
//!   rewriting the params file, reloads the params.
//! - [`Ctx::recv_until`]: wait for a subscriber's next sample or a deadline.
//! - [`Rate`] and [`Timer`]: periodic work on absolute deadlines, so a late
//!   tick does not shift every later one.
//! - [`run`]: the `main` of every node (errors printed with `{:#}`, exit codes).
//! - [`sim`]: the simulated world the sensors measure.
//!
//! *Deliberately temporary:* the middleware has blocking receive but no wait
//! set or executor yet, so a node with several inputs blocks on its busiest
//! one (with its timer's deadline) and polls the others when it wakes. When
//! the executor lands, this file is the one to change.
//!
//! All deadlines use [`Instant`], which is `CLOCK_MONOTONIC` on Linux, the
//! clock `axon::monotonic_ns` and `SampleInfo::sent_ns` use.

pub mod sim;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axon::{Message, Node, Sample, Subscriber, WaitError};
use signal_hook::consts::SIGHUP;

/// Longest single sleep, so a stop request is noticed within this time even
/// when a rate is slow.
const MAX_NAP: Duration = Duration::from_millis(20);

/// Runs a node's body and turns its result into the process's exit status:
/// 0 on a normal return (including a stop by SIGINT/SIGTERM), 1 on an error,
/// printed as `name: error: cause: cause` on stderr.
pub fn run(name: &str, body: impl FnOnce(Ctx) -> anyhow::Result<()>) -> ExitCode {
    let result = Ctx::new(name).and_then(body);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A running node: its [`Node`] and the process's signal flags.
#[derive(Debug)]
pub struct Ctx {
    /// The node (name, namespace, remaps and params from the launcher).
    pub node: Node,
    hup: Arc<AtomicBool>,
}

impl Ctx {
    /// Installs the signal handlers, then creates the node `name`
    /// (configured from the `AXON_*` environment).
    pub fn new(name: &str) -> anyhow::Result<Ctx> {
        axon::shutdown::install().context("installing the signal handlers")?;
        // The middleware's SIGHUP flag is for its executor; this one is ours.
        let hup = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGHUP, Arc::clone(&hup))
            .context("installing the SIGHUP handler")?;
        let node = Node::new(name).context("creating the node")?;
        Ok(Ctx { node, hup })
    }

    /// False once SIGINT or SIGTERM arrived. Also handles a pending SIGHUP
    /// by reloading the params file (the nodes read their params at start,
    /// so new values apply at the next start).
    pub fn running(&self) -> bool {
        if self.hup.swap(false, Ordering::Relaxed) {
            match self.node.reload_params() {
                Ok(()) => println!("{}: params reloaded", self.node.name()),
                Err(e) => eprintln!("{}: reloading params: {e:#}", self.node.name()),
            }
        }
        !axon::shutdown::shutdown_requested()
    }

    /// Waits for `sub`'s next sample until `deadline` (`None`: no deadline).
    /// `Ok(None)` when the deadline passed, shutdown was requested (check
    /// [`Ctx::running`]) or the topic's publishers left (the next call
    /// waits for a new one).
    pub fn recv_until<'s, T: Message + ?Sized>(
        &self,
        sub: &'s Subscriber<T>,
        deadline: Option<Instant>,
    ) -> anyhow::Result<Option<Sample<'s, T>>> {
        let result = match deadline {
            Some(d) => sub.recv_deadline(d),
            None => sub.recv(),
        };
        match result {
            Ok(sample) => Ok(Some(sample)),
            Err(WaitError::Timeout | WaitError::Shutdown | WaitError::PublisherGone) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("receiving on {}", sub.topic())),
        }
    }

    /// A frequency param in Hz: `default` if unset, an error unless positive.
    pub fn hz(&self, name: &str, default: f64) -> anyhow::Result<f64> {
        let hz: f64 = self.node.param_or(name, default)?;
        anyhow::ensure!(
            hz > 0.0 && hz.is_finite(),
            "param {name} must be a positive frequency in Hz, not {hz}"
        );
        Ok(hz)
    }

    /// Sleeps until `rate`'s next tick; false (at once) if asked to stop.
    pub fn sleep(&self, rate: &mut Rate) -> bool {
        let deadline = rate.next_deadline();
        loop {
            if !self.running() {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(MAX_NAP));
        }
    }
}

/// A fixed rate with absolute deadlines: tick `n` is due at `start + n ×
/// period`. After an overrun of more than a period the missed ticks are
/// skipped (counted in [`Rate::missed`]) rather than fired in a burst.
#[derive(Debug, Clone)]
pub struct Rate {
    timer: Timer,
}

impl Rate {
    /// `hz` ticks per second, the first one a period from now.
    pub fn new(hz: f64) -> Rate {
        Rate {
            timer: Timer::new(Duration::from_secs_f64(1.0 / hz)),
        }
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.timer.period
    }

    /// Ticks skipped because the caller was late.
    pub fn missed(&self) -> u64 {
        self.timer.missed
    }

    /// Claims the next tick and returns when it is due.
    fn next_deadline(&mut self) -> Instant {
        let due = self.timer.deadline;
        self.timer.advance(Instant::now());
        due
    }
}

/// A non-blocking periodic timer for loops that also poll subscribers:
/// [`Timer::due`] says whether a deadline has passed (and moves to the
/// next one); [`Timer::deadline`] bounds the wait for input (see [`Ctx::recv_until`]).
#[derive(Debug, Clone)]
pub struct Timer {
    period: Duration,
    deadline: Instant,
    missed: u64,
}

impl Timer {
    /// A timer firing every `period`, the first time a period from now.
    pub fn new(period: Duration) -> Timer {
        Timer {
            period,
            deadline: Instant::now() + period,
            missed: 0,
        }
    }

    /// A timer firing `hz` times a second.
    pub fn hz(hz: f64) -> Timer {
        Timer::new(Duration::from_secs_f64(1.0 / hz))
    }

    /// The next deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed; if so the timer moves to the next one.
    pub fn due(&mut self) -> bool {
        let now = Instant::now();
        if now < self.deadline {
            return false;
        }
        self.advance(now);
        true
    }

    /// Moves the deadline one period on, or (when more than a period late)
    /// to the first deadline after `now`, counting the skipped ones.
    fn advance(&mut self, now: Instant) {
        self.deadline += self.period;
        if self.deadline < now {
            let late = now - self.deadline;
            let skip = (late.as_nanos() / self.period.as_nanos().max(1)) as u64 + 1;
            self.missed += skip;
            self.deadline += self.period * skip as u32;
        }
    }
}

/// `CLOCK_REALTIME` now, in ns since the epoch: the clock of message
/// header stamps (`axon_msgs::Time::now`).
pub fn realtime_ns() -> i64 {
    axon_msgs::Time::now().as_nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_skips_missed_ticks_instead_of_bursting() {
        let mut t = Timer::new(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(10));
        assert!(t.due());
        assert!(!t.due(), "the missed ticks must not fire in a burst");
        assert!(t.missed >= 5);
        assert!(t.deadline() > Instant::now());
    }

    #[test]
    fn rate_deadlines_are_absolute() {
        let mut r = Rate::new(100.0);
        let first = r.next_deadline();
        let second = r.next_deadline();
        assert_eq!(second - first, r.period());
    }
}
