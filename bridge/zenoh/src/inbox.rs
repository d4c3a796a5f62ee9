//! The importers' queue between Zenoh and the importer thread (both
//! modes): where a slow local side turns into loss for best-effort samples
//! and into backpressure for reliable ones.
//!
//! Zenoh hands every sample to a callback on the thread that reads the
//! network link it came from. A sample put with congestion control
//! `Block` (a `reliable` topic of an axon gateway, or a ROS 2 publisher
//! that asked for it) waits in that callback while the queue is full: the
//! link is not read meanwhile, the sender's Zenoh queue fills, and its
//! `Block` puts wait, up to the local publisher of the exporting gateway
//! (which gets `Full`). Any other sample never waits: when the queue is
//! full, the oldest queued best-effort sample is dropped (or the new one,
//! if every queued sample is reliable), and counted.
//!
//! One exception keeps the importer from waiting on itself: while it asks
//! a remote queryable for a topic's type ([`Inbox::querying`]), the reply
//! travels on the same link as the samples, so reliable samples are queued
//! without waiting, up to [`PARKED`]; only beyond that does the callback
//! wait again (until the query's own timeout frees the importer).
//!
//! *Bounds.* At most [`RING`] samples queued, [`PARKED`] while a type query
//! runs; each sample is at most Zenoh's own configured message size. A
//! waiting callback wakes every [`POLL`] to notice shutdown.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use zenoh::qos::CongestionControl;
use zenoh::sample::Sample;

/// Samples queued at most.
pub const RING: usize = 64;
/// Samples queued at most while the importer waits for a type reply.
pub const PARKED: usize = 1024;
/// How often a waiting callback or receiver checks for shutdown.
const POLL: Duration = Duration::from_millis(100);

/// The queue (see the module docs).
#[derive(Default)]
pub struct Inbox {
    state: Mutex<State>,
    /// Signalled when a sample is taken (room for a waiting callback).
    room: Condvar,
    /// Signalled when a sample is queued.
    ready: Condvar,
}

#[derive(Default)]
struct State {
    /// Samples, and whether each is reliable (congestion control `Block`).
    queue: VecDeque<(Sample, bool)>,
    /// A type query is running: reliable samples do not wait below PARKED.
    querying: bool,
    /// Best-effort samples dropped because the queue was full.
    dropped: u64,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a sample (the Zenoh subscriber's callback): a reliable one
    /// waits for room, a best-effort one displaces the oldest best-effort
    /// sample when the queue is full.
    pub fn push(&self, sample: Sample) {
        let reliable = sample.congestion_control() == CongestionControl::Block;
        let mut st = self.lock();
        if reliable {
            loop {
                let limit = if st.querying { PARKED } else { RING };
                if st.queue.len() < limit || axon::shutdown::shutdown_requested() {
                    break;
                }
                st = self
                    .room
                    .wait_timeout(st, POLL)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        } else if st.queue.len() >= RING {
            st.dropped += 1;
            match st.queue.iter().position(|(_, r)| !r) {
                Some(i) => drop(st.queue.remove(i)),
                None => return, // every queued sample is reliable: drop this one
            }
        }
        st.queue.push_back((sample, reliable));
        drop(st);
        self.ready.notify_one();
    }

    /// The oldest queued sample, waiting up to `timeout` for one.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Sample> {
        let mut st = self.lock();
        if st.queue.is_empty() {
            st = self
                .ready
                .wait_timeout(st, timeout.min(POLL))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let s = st.queue.pop_front().map(|(s, _)| s);
        drop(st);
        if s.is_some() {
            self.room.notify_all();
        }
        s
    }

    /// Marks a type query as running (`true`) or done (`false`).
    pub fn querying(&self, on: bool) {
        self.lock().querying = on;
        self.room.notify_all();
    }

    /// Best-effort samples dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}
