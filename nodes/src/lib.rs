//! The demo robot's shared content: [`sim`], the simulated world the
//! sensors measure.
//!
//! There is no node framework here: every node in `src/bin/` is written
//! against axon's public API, as a user's node would be (`axon::run` for
//! `main`, the executor's callbacks and timers, a wait set where a node
//! waits on several inputs in its own loop, params with defaults and
//! validation through `axon::Hz` / `axon::Seconds`).

pub mod sim;
