//! `axon-launch`: launch files and node supervision.
//!
//! The pipeline has three stages and nothing starts before the last one:
//!
//! 1. **parse** ([`raw`]): TOML into raw serde structs with spans
//!    (`deny_unknown_fields`, so typos are errors);
//! 2. **validate** ([`validate`]): includes expanded, args bound and
//!    substituted, executables resolved, names, dependencies, remaps and the
//!    topic wiring checked, into a [`Plan`] of [`ProcessSpec`]s in start order;
//! 3. **supervise** ([`supervise`]): child processes with piped output,
//!    readiness, respawn with backoff, and the signal lifecycle.
//!
//! The `launch` binary (`src/main.rs`) only parses its command line
//! ([`cli`]) and calls these.

pub mod cli;
pub mod error;
pub mod link;
pub mod output;
pub mod plan;
pub mod raw;
pub mod source;
pub mod supervise;
pub mod topic;
pub mod validate;

pub use error::{LoadError, SuperviseError};
pub use plan::{Plan, ProcessKind, ProcessSpec};
pub use supervise::{run, Report, RunOptions};
pub use topic::{ShmTopicProbe, TopicProbe};
pub use validate::{load, LoadOptions};
