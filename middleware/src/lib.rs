//! axon: zero-copy publish/subscribe over shared memory, for robots.
//!
//! ```no_run
//! use axon::Node;
//!
//! #[axon::message]           // #[repr(C)] + zerocopy derives + Message
//! #[derive(Debug, Clone, Copy)]
//! struct Ping { seq: u64, stamp_ns: u64 }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::new("pinger")?;
//! let publisher = node.publisher::<Ping>("/ping").create()?;
//! let mut sample = publisher.loan()?;          // a slot in shared memory
//! *sample = Ping { seq: 1, stamp_ns: axon::monotonic_ns() };
//! sample.send();                              // no copy: readers see the slot
//!
//! let subscriber = node.subscriber::<Ping>("/ping").create()?;
//! if let Some(ping) = subscriber.try_recv()? {  // read where it lies
//!     println!("{}", ping.seq);
//! }
//! # Ok(()) }
//! ```
//!
//! A node's program: [`run`] for `main`; the [`executor`] (callbacks on
//! subscribers, timers and SIGHUP reloads) or a [`WaitSet`] for its loop;
//! [`Node::param_or`] with [`Hz`] / [`Seconds`] ([`param`]) for its
//! settings. The README's "Writing nodes" shows all of them.
//!
//! The layers, bottom up (ARCHITECTURE.md has the map): `sys` (OS calls),
//! `layout` + `protocol` (shared-memory bytes and the lock-free algorithm),
//! `segment` (a topic's file: create, validate, join, reap), then the safe
//! API: `publisher`, `subscriber`, `node`.
#![warn(missing_docs)]
#![cfg_attr(loom, allow(dead_code, unused_imports))]

// Lets `#[derive(Message)]`'s `::axon::` paths resolve inside this crate's own tests.
extern crate self as axon;

mod sync;

#[cfg(loom)]
pub mod protocol;
#[cfg(loom)]
pub mod service_protocol;
#[cfg(loom)]
pub mod wake;

#[cfg(not(loom))]
mod clock;
#[cfg(not(loom))]
pub mod declared;
#[cfg(not(loom))]
pub mod dynamic;
#[cfg(not(loom))]
mod error;
#[cfg(not(loom))]
pub mod executor;
#[cfg(not(loom))]
mod fault;
#[cfg(not(loom))]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(not(loom))]
pub mod inspect;
#[cfg(not(loom))]
pub mod layout;
#[cfg(not(loom))]
pub mod link;
#[cfg(not(loom))]
pub mod names;
#[cfg(not(loom))]
mod node;
#[cfg(not(loom))]
pub mod param;
#[cfg(not(loom))]
mod protocol;
#[cfg(not(loom))]
mod publisher;
#[cfg(not(loom))]
pub mod qos;
pub mod queue;
#[cfg(not(loom))]
mod run;
#[cfg(not(loom))]
mod segment;
#[cfg(not(loom))]
pub mod service;
#[cfg(not(loom))]
mod service_protocol;
#[cfg(not(loom))]
pub(crate) mod service_shm;
#[cfg(not(loom))]
pub mod shutdown;
#[cfg(not(loom))]
mod subscriber;
#[cfg(not(loom))]
mod sys;
#[cfg(not(loom))]
pub mod waitset;
#[cfg(not(loom))]
pub mod wake;

pub use axon_derive::{message, Message};
pub use axon_message::{desc, Description, Fingerprint, Kind, Message, Schema, ViewMeta};
pub use zerocopy;

#[cfg(not(loom))]
pub use {
    declared::{TopicDecl, TopicDecls},
    error::{DeclaredNumber, LoanError, NodeError, OpenError, ParamError, RecvError},
    executor::{CallbackResult, Executor, SpinError},
    names::{Domain, NameError, TopicName},
    node::{Node, NodeBuilder, PublisherBuilder, SubscriberBuilder},
    param::{Hz, Seconds},
    publisher::{HeldLoan, Loan, Publisher, RawLoan, RawPublisher, SlotStats, TypeDesc},
    qos::{Durability, Qos, Reliability},
    queue::{
        Delivery, JobLoan, QueueOpenError, QueueProducer, QueueProducerBuilder, QueueRecvError,
        QueueWorker, QueueWorkerBuilder, SendError, SettleError,
    },
    run::run,
    service::{
        CallError, Client, ClientBuilder, Pending, ReplyLoan, Request, RequestLoan, Response,
        ServeError, Server, ServiceBuilder, ServiceError,
    },
    shutdown::{request_shutdown, shutdown_requested},
    subscriber::{HeldSample, RawSample, RawSubscriber, Sample, SampleInfo, Subscriber},
    sys::{monotonic_ns, read_regular_file, MapError, MappedFile},
    waitset::{Event, Key, Ready, WaitSet, WaitSetError},
    wake::{WaitError, WakeMechanism},
};

/// The README's examples, compiled as doc tests so the front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
