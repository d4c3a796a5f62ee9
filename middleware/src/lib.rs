//! axon: zero-copy publish/subscribe over shared memory.
#![warn(missing_docs)]

// Lets `#[derive(Message)]`'s `::axon::` paths resolve inside this crate's own tests.
extern crate self as axon;

pub use axon_derive::Message;
pub use axon_message::{Fingerprint, Message, Schema};
pub use zerocopy;
