//! What the WebSocket side and the axon thread share: the advertised
//! channels, the clients with their subscriptions and outboxes, and the
//! bounded queue of what clients publish.
//!
//! One mutex guards it all; nobody holds it across I/O or an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::protocol::{ClientChannel, Graph, ServerChannel};

/// Message-data frames one client may have waiting; beyond, the oldest is
/// dropped (and counted).
pub const MAX_DATA_FRAMES: usize = 1024;
/// Message-data bytes one client may have waiting (16 MiB); beyond, the
/// oldest frames are dropped (and counted).
pub const MAX_DATA_BYTES: usize = 16 << 20;
/// Control frames (advertise, status, ...) one client may have waiting; a
/// client that lets more pile up is closed ("too slow").
pub const MAX_CONTROL_FRAMES: usize = 4096;
/// Client-published messages waiting for the axon thread, all clients
/// together; beyond, a message is refused with a status (counted).
pub const MAX_INBOUND: usize = 1024;
/// Client-published bytes waiting for the axon thread (64 MiB).
pub const MAX_INBOUND_BYTES: usize = 64 << 20;

/// What one client is sent: control frames first (never dropped), then the
/// newest `time` frame, then the newest message-data frames.
#[derive(Default)]
pub struct OutQueue {
    control: VecDeque<Message>,
    /// The newest `time` frame not sent yet (an older one is replaced).
    time: Option<Bytes>,
    data: VecDeque<Bytes>,
    data_bytes: usize,
    /// Message-data frames dropped because the client did not keep up.
    pub dropped: u64,
    /// Set when the client is to be closed, with the reason.
    close: Option<String>,
}

/// What the writer task sends next.
pub enum Next {
    Frame(Message),
    Close(String),
}

/// One client's outbox: the axon thread and the reader task push, the
/// writer task pops.
#[derive(Default)]
pub struct Outbox {
    queue: Mutex<OutQueue>,
    pub notify: Notify,
}

impl Outbox {
    fn lock(&self) -> MutexGuard<'_, OutQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a control frame (JSON); too many waiting closes the client.
    pub fn control(&self, text: String) {
        let mut q = self.lock();
        if q.close.is_some() {
            return;
        }
        if q.control.len() >= MAX_CONTROL_FRAMES {
            q.close = Some(format!(
                "too slow: more than {MAX_CONTROL_FRAMES} control messages waiting"
            ));
        } else {
            q.control.push_back(Message::text(text));
        }
        drop(q);
        self.notify.notify_one();
    }

    /// Sets the `time` frame to send next, replacing one not sent yet (a
    /// client that does not read holds one, not one per tick).
    pub fn time(&self, frame: Bytes) {
        let mut q = self.lock();
        if q.close.is_some() {
            return;
        }
        q.time = Some(frame);
        drop(q);
        self.notify.notify_one();
    }

    /// Queues a message-data frame, dropping the oldest ones beyond the
    /// bounds.
    pub fn data(&self, frame: Bytes) {
        let mut q = self.lock();
        if q.close.is_some() {
            return;
        }
        if frame.len() > MAX_DATA_BYTES {
            q.dropped += 1;
            return;
        }
        while q.data.len() >= MAX_DATA_FRAMES || q.data_bytes + frame.len() > MAX_DATA_BYTES {
            let Some(old) = q.data.pop_front() else { break };
            q.data_bytes -= old.len();
            q.dropped += 1;
        }
        q.data_bytes += frame.len();
        q.data.push_back(frame);
        drop(q);
        self.notify.notify_one();
    }

    /// Closes the client with `reason` (what is queued is discarded).
    pub fn close(&self, reason: String) {
        let mut q = self.lock();
        if q.close.is_none() {
            q.close = Some(reason);
            q.control.clear();
            q.data.clear();
            q.data_bytes = 0;
        }
        drop(q);
        self.notify.notify_one();
    }

    /// The next frame to send, if any.
    pub fn next(&self) -> Option<Next> {
        let mut q = self.lock();
        if let Some(reason) = &q.close {
            return Some(Next::Close(reason.clone()));
        }
        if let Some(m) = q.control.pop_front() {
            return Some(Next::Frame(m));
        }
        if let Some(t) = q.time.take() {
            return Some(Next::Frame(Message::Binary(t)));
        }
        let f = q.data.pop_front()?;
        q.data_bytes -= f.len();
        Some(Next::Frame(Message::Binary(f)))
    }

    /// Frames dropped so far.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

/// A connected client.
pub struct Client {
    pub out: Arc<Outbox>,
    /// Subscription id -> server channel id.
    pub subs: HashMap<u32, u32>,
    /// The client's own channels (client publishing), by client channel id.
    pub advertised: HashMap<u32, ClientChannel>,
    /// Whether it subscribed to the connection graph.
    pub graph: bool,
}

/// What clients ask of the axon thread.
pub enum Inbound {
    Advertise {
        client: u64,
        chan: ClientChannel,
    },
    Unadvertise {
        client: u64,
        id: u32,
    },
    Publish {
        client: u64,
        channel: u32,
        payload: Vec<u8>,
    },
    Gone {
        client: u64,
    },
}

/// The shared state.
#[derive(Default)]
pub struct State {
    pub channels: BTreeMap<u32, ServerChannel>,
    pub clients: HashMap<u64, Client>,
    pub inbound: VecDeque<Inbound>,
    pub inbound_bytes: usize,
    /// Bumped whenever a subscription or a client changes.
    pub subs_generation: u64,
    pub next_client: u64,
    /// The connection graph as last discovered.
    pub graph: Graph,
}

impl State {
    /// Queues a client-published message; false if the queue is full.
    pub fn push_publish(&mut self, client: u64, channel: u32, payload: Vec<u8>) -> bool {
        if self.inbound.len() >= MAX_INBOUND
            || self.inbound_bytes + payload.len() > MAX_INBOUND_BYTES
        {
            return false;
        }
        self.inbound_bytes += payload.len();
        self.inbound.push_back(Inbound::Publish {
            client,
            channel,
            payload,
        });
        true
    }

    /// The next request for the axon thread.
    pub fn pop_inbound(&mut self) -> Option<Inbound> {
        let i = self.inbound.pop_front()?;
        if let Inbound::Publish { payload, .. } = &i {
            self.inbound_bytes -= payload.len();
        }
        Some(i)
    }

    /// Sends `text` to every client.
    pub fn broadcast(&self, text: &str) {
        for c in self.clients.values() {
            c.out.control(text.to_string());
        }
    }
}

/// The hub: shared state plus the handle to wake the axon thread.
#[derive(Default)]
pub struct Hub {
    state: Mutex<State>,
    pub axon_thread: std::sync::OnceLock<std::thread::Thread>,
}

impl Hub {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the axon thread (a subscription changed, a client published).
    pub fn wake(&self) {
        if let Some(t) = self.axon_thread.get() {
            t.unpark();
        }
    }
}
