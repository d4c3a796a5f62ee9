//! A small executor: a node written as callbacks.
//!
//! ```no_run
//! # use axon::{Node, Message, zerocopy::{FromBytes, IntoBytes, KnownLayout, Immutable}};
//! # #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
//! # #[repr(C)]
//! # struct Ping { seq: u64 }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::new("listener")?;
//! let pings = node.subscriber::<Ping>("/ping").create()?;
//! node.on(&pings, |ping| println!("ping {}", ping.seq))
//!     .every(std::time::Duration::from_secs(1), || println!("alive"))
//!     .spin()?; // returns Ok(()) on SIGINT/SIGTERM
//! # Ok(()) }
//! ```
//!
//! `spin` waits on one [`WaitSet`](crate::WaitSet) over everything
//! registered; a subscriber's callback runs for each of its samples (at most
//! [`BATCH`] per wake-up, so one busy topic cannot starve the others); a
//! timer's callback runs once per firing (missed periods are skipped). SIGHUP
//! reloads the node's parameters between callbacks. Registration errors
//! (a foreign subscriber, a bad period) are returned by `spin` before
//! anything runs.

use std::time::Duration;

use axon_message::Message;

use crate::error::{NodeError, RecvError};
use crate::node::Node;
use crate::subscriber::{Sample, Subscriber};
use crate::waitset::{Event, Key, WaitSet, WaitSetError};

/// Most samples one subscriber's callback gets per wake-up.
pub const BATCH: usize = 64;

/// Why [`Executor::spin`] stopped other than by shutdown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpinError {
    /// Registering a callback or waiting failed.
    #[error(transparent)]
    WaitSet(#[from] WaitSetError),
    /// Receiving failed (a callback kept samples beyond `max_held`).
    #[error(transparent)]
    Recv(#[from] RecvError),
    /// SIGHUP asked for a parameter reload and the file was bad (the old
    /// parameters stay; `spin` may be called again).
    #[error(transparent)]
    Params(#[from] NodeError),
}

type Handler<'a> = Box<dyn FnMut() -> Result<(), RecvError> + 'a>;

/// Callbacks on subscribers and timers, run by [`Executor::spin`].
pub struct Executor<'a> {
    node: &'a Node,
    set: Result<WaitSet<'a>, WaitSetError>,
    handlers: Vec<(Key, Handler<'a>)>,
}

impl std::fmt::Debug for Executor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("handlers", &self.handlers.len())
            .finish()
    }
}

impl<'a> Executor<'a> {
    pub(crate) fn new(node: &'a Node) -> Self {
        Executor {
            node,
            set: node.wait_set(),
            handlers: Vec::new(),
        }
    }

    fn add(
        mut self,
        key: impl FnOnce(&mut WaitSet<'a>) -> Result<Key, WaitSetError>,
        h: Handler<'a>,
    ) -> Self {
        if let Ok(set) = &mut self.set {
            match key(set) {
                Ok(k) => self.handlers.push((k, h)),
                Err(e) => self.set = Err(e),
            }
        }
        self
    }

    /// Runs `f` for every sample of `sub`.
    pub fn on<T: Message + ?Sized>(
        self,
        sub: &'a Subscriber<T>,
        mut f: impl FnMut(Sample<'_, T>) + 'a,
    ) -> Self {
        let h: Handler<'a> = Box::new(move || {
            for _ in 0..BATCH {
                match sub.try_recv()? {
                    Some(s) => f(s),
                    None => break,
                }
            }
            Ok(())
        });
        self.add(|set| set.subscriber(sub), h)
    }

    /// Runs `f` every `period` (no drift; missed periods are skipped).
    pub fn every(self, period: Duration, mut f: impl FnMut() + 'a) -> Self {
        self.add(
            |set| set.interval(period),
            Box::new(move || {
                f();
                Ok(())
            }),
        )
    }

    /// Runs `f` once, `after` from now.
    pub fn once(self, after: Duration, f: impl FnOnce() + 'a) -> Self {
        let mut f = Some(f);
        self.add(
            |set| set.once(after),
            Box::new(move || {
                if let Some(f) = f.take() {
                    f();
                }
                Ok(())
            }),
        )
    }

    /// Runs the callbacks until shutdown is requested; then returns `Ok(())`.
    pub fn spin(&mut self) -> Result<(), SpinError> {
        let set = match &mut self.set {
            Ok(s) => s,
            Err(e) => {
                return Err(SpinError::WaitSet(std::mem::replace(
                    e,
                    WaitSetError::ZeroDuration {
                        what: "(already reported)",
                    },
                )))
            }
        };
        loop {
            let ready = set.wait()?;
            if ready.shutdown() {
                return Ok(());
            }
            if ready.reload() {
                self.node.reload_params()?;
            }
            for (key, event) in ready.iter() {
                if matches!(event, Event::PublisherGone) {
                    continue;
                }
                if let Some((_, h)) = self.handlers.iter_mut().find(|(k, _)| *k == key) {
                    h()?;
                }
            }
        }
    }
}
