//! Quality of service: how much history a topic keeps, what happens when a
//! reader is slow, and what a late joiner gets.
//!
//! The capacities (`history`, `max_*`, `max_len`) are fixed while anyone
//! holds the topic, by whoever created its segment. A later participant
//! takes what the topic offers for what it left to the defaults (`history`,
//! `max_len`); one that explicitly needs more gets
//! `OpenError::CapacityMismatch` naming both numbers. A segment nobody
//! holds is made again from the next participant's request. A launch
//! file's `[topic]` declaration, when the node has one for the topic
//! ([`crate::declared`]), replaces the request's capacities before any of
//! this happens.

/// What happens when a subscriber falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reliability {
    /// Keep-last-N: a slow subscriber loses its oldest samples (counted in
    /// `Subscriber::dropped`) and never slows the publisher.
    #[default]
    BestEffort,
    /// The publisher gets backpressure: `loan` reports `LoanError::Full` (or
    /// `loan_timeout` waits) rather than overwrite what this subscriber has
    /// not read. Set on the subscriber.
    Reliable,
}

/// What a subscriber gets when it joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Only samples published after it joined.
    #[default]
    Volatile,
    /// Also up to `history` samples retained from live publishers.
    TransientLocal,
}

/// The QoS of one publisher or subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qos {
    /// Keep-last depth: samples retained per publisher, and how far a
    /// subscriber can lag before it loses samples. `None` (the default):
    /// whatever the topic offers, [`DEFAULT_HISTORY`] if this creates it.
    /// `Some(n)`: at least `n`, or `CapacityMismatch` from a live topic
    /// with less (one nobody holds is made again with `n`).
    pub history: Option<u32>,
    /// Default best-effort.
    pub reliability: Reliability,
    /// Default volatile.
    pub durability: Durability,
    /// Publishers the topic allows. Default 4.
    pub max_publishers: u32,
    /// Subscribers the topic allows. Default 8.
    pub max_subscribers: u32,
    /// Samples one subscriber may hold at once. Default 2.
    pub max_held: u32,
    /// Unsent loans one publisher may hold at once. Default 2.
    pub max_loans: u32,
    /// Slice messages only: most trailing elements of a sample. Default:
    /// 1 MiB worth of elements.
    pub max_len: Option<usize>,
    /// File mode of a new segment. Default `0o600`; `0o660` shares with the group.
    pub mode: u32,
    /// Accept a segment created by another user. Default false.
    pub allow_other_users: bool,
}

/// History of a topic created by a participant that did not ask for one.
pub const DEFAULT_HISTORY: u32 = 8;

/// Payload bytes a slice message gets when `max_len` is not set.
pub const DEFAULT_SLICE_BYTES: usize = 1 << 20;

impl Default for Qos {
    fn default() -> Self {
        Qos {
            history: None,
            reliability: Reliability::BestEffort,
            durability: Durability::Volatile,
            max_publishers: 4,
            max_subscribers: 8,
            max_held: 2,
            max_loans: 2,
            max_len: None,
            mode: 0o600,
            allow_other_users: false,
        }
    }
}

impl Qos {
    /// Checks every number is in range.
    pub fn validate(&self) -> Result<(), crate::OpenError> {
        use crate::layout::*;
        let q = self;
        let bad = |s: String| Err(crate::OpenError::InvalidQos(s));
        if let Some(h) = q.history.filter(|h| !(1..=MAX_DEPTH).contains(h)) {
            return bad(format!("history {h} is not in 1..={MAX_DEPTH}"));
        }
        if !(1..=MAX_PUBLISHERS).contains(&q.max_publishers) {
            return bad(format!(
                "max_publishers {} is not in 1..={MAX_PUBLISHERS}",
                q.max_publishers
            ));
        }
        if !(1..=MAX_SUBSCRIBERS).contains(&q.max_subscribers) {
            return bad(format!(
                "max_subscribers {} is not in 1..={MAX_SUBSCRIBERS}",
                q.max_subscribers
            ));
        }
        if !(1..=MAX_HELD).contains(&q.max_held) {
            return bad(format!("max_held {} is not in 1..={MAX_HELD}", q.max_held));
        }
        if !(1..=64).contains(&q.max_loans) {
            return bad(format!("max_loans {} is not in 1..=64", q.max_loans));
        }
        if q.mode & !0o666 != 0 || q.mode & 0o600 != 0o600 {
            return bad(format!(
                "mode {:o} must include 0600 and only read/write bits",
                q.mode
            ));
        }
        Ok(())
    }
}
