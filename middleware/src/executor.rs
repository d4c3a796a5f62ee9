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
//! `spin` waits on one [`WaitSet`] over everything
//! registered; a subscriber's callback runs for each of its samples (at most
//! [`BATCH`] per wake-up, so one busy topic cannot starve the others); a
//! timer's callback runs once per firing: deadlines are absolute (the n-th
//! firing is due at start + n x period, so a late callback does not shift
//! the later ones) and periods missed while the node was busy are skipped,
//! not replayed (a [`WaitSet`] counts them, in
//! [`Event::Timer`]). Registration errors (a foreign
//! subscriber, a bad period) are returned by `spin` before anything runs.
//!
//! **Callbacks that can fail** return a `Result` (anything that converts
//! into `Box<dyn Error + Send + Sync>`, such as `anyhow::Error` or
//! axon's own errors); the first error ends `spin` with
//! [`SpinError::Callback`], and no other callback runs after it. A closure
//! that uses `?` names its return type:
//!
//! ```no_run
//! # use axon::Node;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::new("doubler")?;
//! let input = node.subscriber::<u64>("/in").create()?;
//! let output = node.publisher::<u64>("/out").create()?; // captured by reference
//! node.on(&input, |n| -> Result<(), axon::LoanError> {
//!     output.publish(&(*n * 2))?; // an error here ends spin with it
//!     Ok(())
//! })
//! .spin()?;
//! # Ok(()) }
//! ```
//!
//! **SIGHUP** (what `launch` sends after rewriting a node's params file)
//! reloads the node's parameters between callbacks. Without an
//! [`on_reload`](Executor::on_reload) callback a file that cannot be read
//! ends `spin` with [`SpinError::Params`]; with one, that callback gets the
//! outcome (the old parameters stay on an error) and `spin` goes on. Values
//! a node read into variables at start do not change by themselves: read
//! them again in `on_reload` (or read them with [`Node::param`] where they
//! are used).
//!
//! **Work-queue workers**: [`on_job`](Executor::on_job) settles each job
//! by its callback's result (acknowledged on success, requeued on an error,
//! which also ends `spin`); [`on_delivery`](Executor::on_delivery) hands
//! the delivery over to be settled explicitly.
//!
//! Bounds: one boxed closure per registration; at most [`BATCH`] samples
//! (requests, jobs) per subscriber (server, worker) per wake-up; the wait set's own bounds (at most
//! `wake::MAX_WORDS - 1` subscribers).

use std::error::Error as StdError;
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
    /// parameters stay; `spin` may be called again). Not returned when an
    /// [`on_reload`](Executor::on_reload) callback is registered: it gets
    /// the error instead.
    #[error(transparent)]
    Params(#[from] NodeError),
    /// A callback returned this error (`spin` may be called again).
    #[error(transparent)]
    Callback(Box<dyn StdError + Send + Sync>),
}

/// What a callback may return: `()` (it cannot fail), or `Result<(), E>`
/// with any error `E` that converts into `Box<dyn Error + Send + Sync>`
/// (`anyhow::Error`, `std::io::Error`, axon's errors, ...). An `Err` ends
/// [`Executor::spin`] with [`SpinError::Callback`].
///
/// Sealed: implemented for those two shapes only.
#[diagnostic::on_unimplemented(
    message = "an axon callback returns `()` or `Result<(), E>`, not `{Self}`",
    note = "end a fallible callback with `Ok(())`, e.g. `publisher.publish(&x)?; Ok(())`"
)]
pub trait CallbackResult: sealed::Sealed {
    /// `Ok(())` to go on, or the error that ends `spin`.
    fn into_result(self) -> Result<(), Box<dyn StdError + Send + Sync>>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for () {}
    impl<E> Sealed for Result<(), E> {}
}

impl CallbackResult for () {
    fn into_result(self) -> Result<(), Box<dyn StdError + Send + Sync>> {
        Ok(())
    }
}

impl<E: Into<Box<dyn StdError + Send + Sync>>> CallbackResult for Result<(), E> {
    fn into_result(self) -> Result<(), Box<dyn StdError + Send + Sync>> {
        self.map_err(Into::into)
    }
}

type Handler<'a> = Box<dyn FnMut() -> Result<(), SpinError> + 'a>;
type ReloadHandler<'a> = Box<dyn FnMut(Result<(), &NodeError>) -> Result<(), SpinError> + 'a>;

fn callback(r: impl CallbackResult) -> Result<(), SpinError> {
    r.into_result().map_err(SpinError::Callback)
}

/// Callbacks on subscribers and timers, run by [`Executor::spin`].
pub struct Executor<'a> {
    node: &'a Node,
    set: Result<WaitSet<'a>, WaitSetError>,
    handlers: Vec<(Key, Handler<'a>)>,
    reload: Vec<ReloadHandler<'a>>,
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
            reload: Vec::new(),
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

    /// Runs `f` for every sample of `sub` (see [`CallbackResult`] for what
    /// `f` may return).
    pub fn on<T: Message + ?Sized, R: CallbackResult>(
        self,
        sub: &'a Subscriber<T>,
        mut f: impl FnMut(Sample<'_, T>) -> R + 'a,
    ) -> Self {
        let h: Handler<'a> = Box::new(move || {
            for _ in 0..BATCH {
                match sub.try_recv()? {
                    Some(s) => callback(f(s))?,
                    None => break,
                }
            }
            Ok(())
        });
        self.add(|set| set.subscriber(sub), h)
    }

    /// Runs `f` for every request to `server`, at most [`BATCH`] per
    /// wake-up; `f` answers it (`reply`, `loan_reply`), or keeps it to
    /// answer later (out of order), or drops it (the caller gets
    /// `Declined`).
    pub fn on_request<Req: Message + ?Sized, Resp: Message + ?Sized, R: CallbackResult>(
        self,
        server: &'a crate::service::Server<Req, Resp>,
        mut f: impl FnMut(crate::service::Request<'a, Req, Resp>) -> R + 'a,
    ) -> Self {
        let h: Handler<'a> = Box::new(move || {
            for _ in 0..BATCH {
                match server.try_recv_request() {
                    Ok(Some(r)) => callback(f(r))?,
                    Ok(None) => break,
                    Err(e) => return Err(SpinError::Callback(Box::new(e))),
                }
            }
            Ok(())
        });
        self.add(|set| set.server(server), h)
    }

    /// Runs `f` for every job of work-queue `worker`, at most [`BATCH`] per
    /// wake-up, and **settles the job by `f`'s result**: `()` or `Ok(())`
    /// acknowledges it; an `Err` requeues it (flagged as a redelivery; a dead
    /// letter after `max_deliveries`) and ends `spin` with
    /// [`SpinError::Callback`], so a worker that cannot do its job stops
    /// and another worker gets the job. `f` sees the
    /// [`Delivery`](crate::queue::Delivery) (the job in shared memory,
    /// `redelivered()`, `delivery_count()`).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// #[axon::message]
    /// #[derive(Debug, Clone, Copy)]
    /// struct Job { id: u64 }
    /// let node = axon::Node::new("worker")?;
    /// let jobs = node.queue_worker::<Job>("/jobs").prefetch(4).create()?;
    /// node.executor()
    ///     .on_job(&jobs, |job| println!("job {}", job.id)) // acked on return
    ///     .spin()?;
    /// # Ok(()) }
    /// ```
    pub fn on_job<T: Message + ?Sized, R: CallbackResult>(
        self,
        worker: &'a crate::queue::QueueWorker<T>,
        mut f: impl FnMut(&crate::queue::Delivery<'_, T>) -> R + 'a,
    ) -> Self {
        self.on_delivery(
            worker,
            move |d| -> Result<(), Box<dyn StdError + Send + Sync>> {
                match f(&d).into_result() {
                    Ok(()) => Ok(d.ack()?),
                    Err(e) => {
                        // Requeued before spin ends; a lost job was taken already.
                        let _ = d.nack();
                        Err(e)
                    }
                }
            },
        )
    }

    /// Runs `f` for every job of work-queue `worker`, at most [`BATCH`] per
    /// wake-up, handing it the [`Delivery`](crate::queue::Delivery) to
    /// **settle explicitly**: `ack`, `nack` or `reject` it, or keep it (up
    /// to the worker's `prefetch`) to settle later. A delivery `f` drops
    /// unsettled is requeued, as everywhere. While the worker holds
    /// `prefetch` jobs it is not offered more.
    pub fn on_delivery<T: Message + ?Sized, R: CallbackResult>(
        self,
        worker: &'a crate::queue::QueueWorker<T>,
        mut f: impl FnMut(crate::queue::Delivery<'a, T>) -> R + 'a,
    ) -> Self {
        let h: Handler<'a> = Box::new(move || {
            for _ in 0..BATCH {
                match worker.try_recv() {
                    Ok(Some(d)) => callback(f(d))?,
                    Ok(None) | Err(crate::queue::QueueRecvError::PrefetchFull { .. }) => break,
                    Err(e) => return Err(SpinError::Callback(Box::new(e))),
                }
            }
            Ok(())
        });
        self.add(|set| set.queue_worker(worker), h)
    }

    /// Runs `f` every `period`: absolute deadlines (no drift), missed
    /// periods skipped. A period read from a param: [`Hz::period`](crate::Hz::period).
    pub fn every<R: CallbackResult>(self, period: Duration, mut f: impl FnMut() -> R + 'a) -> Self {
        self.add(|set| set.interval(period), Box::new(move || callback(f())))
    }

    /// Runs `f` once, `after` from now.
    pub fn once<R: CallbackResult>(self, after: Duration, f: impl FnOnce() -> R + 'a) -> Self {
        let mut f = Some(f);
        self.add(
            |set| set.once(after),
            Box::new(move || match f.take() {
                Some(f) => callback(f()),
                None => Ok(()),
            }),
        )
    }

    /// Runs `f` after each SIGHUP with the outcome of
    /// [`Node::reload_params`]: `Ok(())` when the new parameters are in
    /// (read the ones the node uses again here), or the error when the file
    /// could not be read (the old parameters stay). Registering one means a
    /// bad file no longer ends `spin`; `f` decides (return an error to end it).
    ///
    /// ```no_run
    /// # use axon::Node;
    /// # use std::cell::Cell;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let node = Node::new("base")?;
    /// let timeout = Cell::new(node.param_or("cmd_timeout", 0.5)?);
    /// node.every(std::time::Duration::from_millis(20), || { let _ = timeout.get(); })
    ///     .on_reload(|reloaded| -> Result<(), axon::ParamError> {
    ///         match reloaded {
    ///             Ok(()) => timeout.set(node.param_or("cmd_timeout", 0.5)?),
    ///             Err(e) => eprintln!("base: keeping the old params: {e}"),
    ///         }
    ///         Ok(())
    ///     })
    ///     .spin()?;
    /// # Ok(()) }
    /// ```
    pub fn on_reload<R: CallbackResult>(
        mut self,
        mut f: impl FnMut(Result<(), &NodeError>) -> R + 'a,
    ) -> Self {
        self.reload.push(Box::new(move |r| callback(f(r))));
        self
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
                let result = self.node.reload_params();
                if self.reload.is_empty() {
                    result?;
                } else {
                    for h in &mut self.reload {
                        h(result.as_ref().map(|_| ()))?;
                    }
                }
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
