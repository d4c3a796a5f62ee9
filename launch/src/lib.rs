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
pub mod zenoh;

pub use error::{LoadError, SuperviseError};
pub use plan::{Plan, ProcessKind, ProcessSpec};
pub use supervise::{run, Report, RunOptions};
pub use topic::{ShmTopicProbe, TopicProbe};
pub use validate::{load, load_bytes, LoadOptions};

/// Entry points for fuzzers (see `fuzz/`); not an API.
#[doc(hidden)]
pub mod fuzzing {
    use std::path::{Path, PathBuf};

    use crate::plan::ProcessKind;

    /// Where the fuzzed file pretends to live: a directory that does not
    /// exist, so relative includes and `exec` paths fail to resolve instead
    /// of reading this machine's files (absolute includes still go through
    /// the real, bounded reader).
    const FUZZ_DIR: &str = "/nonexistent-axon-launch-fuzz";

    /// Parses and validates `data` as a top-level launch file, in memory,
    /// through the same code as `launch --check` ([`crate::load_bytes`]),
    /// then renders the error or walks the plan (link arguments are parsed
    /// back). Must never panic, hang or allocate without bound.
    pub fn launch_file(data: &[u8]) {
        let opts = crate::LoadOptions {
            args: Vec::new(),
            exe_dir: Some(PathBuf::from(FUZZ_DIR)),
            log_dir: Some(PathBuf::from(FUZZ_DIR).join("log")),
        };
        let path = Path::new(FUZZ_DIR).join("robot.toml");
        match crate::load_bytes(&path, data.to_vec(), &opts) {
            Err(e) => {
                let _ = e.to_string();
            }
            Ok(plan) => {
                for p in &plan.processes {
                    let _ = (p.defined_at.to_string(), format!("{:?}", p.kind));
                    if let ProcessKind::Link(_) = &p.kind {
                        let _ = crate::link::parse_args(&p.args);
                    }
                }
            }
        }
    }
}
