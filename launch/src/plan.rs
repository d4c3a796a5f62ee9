//! The validated plan: everything the supervisor needs, nothing it must check.
//!
//! A plan is a list of [`ProcessSpec`]s in start order. What every supervised
//! process has in common (program, args, env, respawn, readiness, ordering,
//! affinity) lives in `ProcessSpec`; what is particular to one *kind* of
//! process lives in [`ProcessKind`]. Today there is one kind, a node; a
//! `[[link]]` table becomes another variant without touching the supervisor's
//! state machine.

use std::path::PathBuf;
use std::time::Duration;

use crate::source::Location;

/// A launch file, validated, includes expanded, args substituted.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The top-level launch file.
    pub file: PathBuf,
    /// `[launch]` settings of the top-level file.
    pub settings: Settings,
    /// Every supervised process, in start order (dependencies first, then
    /// file order).
    pub processes: Vec<ProcessSpec>,
}

impl Plan {
    /// The process with this name.
    pub fn process(&self, name: &str) -> Option<&ProcessSpec> {
        self.processes.iter().find(|p| p.name == name)
    }
}

/// `[launch]`-level settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long nodes get between SIGTERM and SIGKILL at shutdown.
    pub grace: Duration,
    /// Where node logs and params files go.
    pub log_dir: PathBuf,
    /// Shut down after this long, as if by Ctrl-C.
    pub duration: Option<Duration>,
    /// `AXON_DOMAIN` for every node, if set in the file.
    pub domain: Option<String>,
    /// Topics that come from outside (no publisher needed here).
    pub external: Vec<String>,
    /// `[topic."/name"]` declarations of the file and its includes, by
    /// resolved name; every node gets them (`AXON_TOPICS`).
    pub topics: Vec<DeclaredTopic>,
}

/// One `[topic."/name"]` table, validated.
#[derive(Debug, Clone)]
pub struct DeclaredTopic {
    /// The resolved (absolute) topic name.
    pub name: String,
    /// What it declares, as nodes read it.
    pub decl: axon::TopicDecl,
    /// Where it was declared.
    pub at: Location,
}

/// Default shutdown grace period.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// Default ready timeout.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default respawn limit.
pub const DEFAULT_MAX_RESTARTS: u32 = 5;
/// Default first respawn delay.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// Default longest respawn delay.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One supervised process.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// Unique name (prefix of its output, name of its log file).
    pub name: String,
    /// Where it was defined.
    pub defined_at: Location,
    /// Resolved executable.
    pub program: PathBuf,
    /// Arguments.
    pub args: Vec<String>,
    /// Environment added to the launcher's own, in order (later wins).
    pub env: Vec<(String, String)>,
    /// Restart policy.
    pub respawn: Respawn,
    /// Indices (into [`Plan::processes`]) that must be ready first.
    pub depends_on: Vec<usize>,
    /// When the process counts as ready; `None` means at once.
    pub ready: Option<Ready>,
    /// CPU affinity.
    pub cpu: Option<Vec<usize>>,
    /// SCHED_FIFO priority (1..=99).
    pub priority: Option<i32>,
    /// If it ends for good, the robot stops.
    pub required: bool,
    /// What kind of process this is.
    pub kind: ProcessKind,
}

/// The kinds of supervised process.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ProcessKind {
    /// An axon node (`[[node]]`).
    Node(NodeSpec),
    /// A socket link endpoint (`[[link]]`, runs `axon-link`).
    Link(crate::link::LinkSpec),
    /// A Zenoh gateway (`[[zenoh]]`, runs `axon-zenoh`).
    Zenoh(crate::zenoh::ZenohSpec),
    /// A recorder (`[[record]]`, runs `axon bag record`; its settings are
    /// its arguments).
    Record,
}

impl ProcessKind {
    /// The node part, if this is a node.
    pub fn as_node(&self) -> Option<&NodeSpec> {
        match self {
            ProcessKind::Node(n) => Some(n),
            _ => None,
        }
    }

    /// The link part, if this is a link.
    pub fn as_link(&self) -> Option<&crate::link::LinkSpec> {
        match self {
            ProcessKind::Link(l) => Some(l),
            _ => None,
        }
    }
}

/// What only nodes have.
#[derive(Debug, Clone, Default)]
pub struct NodeSpec {
    /// Namespace prefix, e.g. `/robot1`.
    pub namespace: Option<String>,
    /// Topic renames in file order.
    pub remap: Vec<(String, String)>,
    /// The params table as JSON (always an object).
    pub params: serde_json::Value,
    /// Declared publications, resolved names.
    pub publishes: Vec<Topic>,
    /// Declared subscriptions, resolved names.
    pub subscribes: Vec<Topic>,
    /// Declared served services, resolved names (`ty` is empty).
    pub serves: Vec<Topic>,
    /// Declared called services, resolved names (`ty` is empty).
    pub calls: Vec<Topic>,
}

/// A declared topic after namespace and remap.
#[derive(Debug, Clone)]
pub struct Topic {
    /// The resolved (absolute) name.
    pub name: String,
    /// The declared message type; empty if not declared.
    pub ty: String,
    /// Where it was declared.
    pub at: Location,
}

/// Restart policy of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Never restart.
    Never,
    /// Restart after a non-zero exit or death by signal.
    OnFailure,
    /// Restart after any exit.
    Always,
}

/// Respawn settings.
#[derive(Debug, Clone, Copy)]
pub struct Respawn {
    /// When to restart.
    pub policy: Policy,
    /// How many restarts before giving up.
    pub max_restarts: u32,
    /// Delay before the first restart; doubles for each further one.
    pub backoff: Duration,
    /// Upper bound of the delay.
    pub max_backoff: Duration,
}

impl Respawn {
    /// Never restart.
    pub const NEVER: Respawn = Respawn {
        policy: Policy::Never,
        max_restarts: 0,
        backoff: DEFAULT_BACKOFF,
        max_backoff: DEFAULT_MAX_BACKOFF,
    };

    /// Delay before restart number `n` (0-based): `backoff * 2^n`, capped.
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
        self.backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// When a process counts as ready.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The condition.
    pub condition: ReadyCondition,
    /// Give up (and stop the robot) after this long.
    pub timeout: Duration,
}

/// Ready conditions.
#[derive(Debug, Clone)]
pub enum ReadyCondition {
    /// This long after the start.
    Delay(Duration),
    /// A stdout line contains this text.
    Log(String),
    /// A live publisher of this (resolved) topic has published at least
    /// once; with `ty`, the topic carries that message type.
    Topic {
        /// The resolved topic name.
        name: String,
        /// The message type the publisher must have, if declared.
        ty: Option<String>,
    },
}

impl std::fmt::Display for ReadyCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadyCondition::Delay(d) => write!(f, "a delay of {}", human(*d)),
            ReadyCondition::Log(text) => write!(f, "a stdout line containing \"{text}\""),
            ReadyCondition::Topic { name, ty: None } => write!(f, "a publisher on topic {name}"),
            ReadyCondition::Topic { name, ty: Some(ty) } => {
                write!(f, "a publisher of {ty} on topic {name}")
            }
        }
    }
}

/// A duration as a launch file writes it: `500ms`, `2s`, `1.5s`.
pub fn human(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) && d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        let s = format!("{:.3}", d.as_secs_f64());
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_a_launch_file_writes_them() {
        assert_eq!(human(Duration::from_secs(5)), "5s");
        assert_eq!(human(Duration::from_millis(200)), "200ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(
            ReadyCondition::Log("up".into()).to_string(),
            "a stdout line containing \"up\""
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let r = Respawn {
            policy: Policy::Always,
            max_restarts: 10,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        assert_eq!(r.delay(0), Duration::from_millis(100));
        assert_eq!(r.delay(1), Duration::from_millis(200));
        assert_eq!(r.delay(2), Duration::from_millis(400));
        assert_eq!(r.delay(3), Duration::from_millis(500));
        assert_eq!(r.delay(200), Duration::from_millis(500));
    }
}
