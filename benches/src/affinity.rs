//! CPU pinning: the parent thread and the child on different CPUs when there are two or more.

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// Where the two sides run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Parent thread on the first CPU, child on the second.
    Pinned {
        /// CPU of the parent thread (the pinger).
        parent: usize,
        /// CPU of the child (the ponger).
        child: usize,
    },
    /// Both on one CPU (asked for, to see the same-core case).
    SameCpu(usize),
    /// Not pinned: only one CPU is available, or pinning was turned off.
    Unpinned {
        /// CPUs this process may run on.
        available: usize,
    },
}

impl Placement {
    /// The CPU the child pins itself to, if any.
    pub fn child_cpu(self) -> Option<usize> {
        match self {
            Placement::Pinned { child, .. } => Some(child),
            Placement::SameCpu(cpu) => Some(cpu),
            Placement::Unpinned { .. } => None,
        }
    }

    /// The CPU the parent thread pins itself to, if any.
    pub fn parent_cpu(self) -> Option<usize> {
        match self {
            Placement::Pinned { parent, .. } => Some(parent),
            Placement::SameCpu(cpu) => Some(cpu),
            Placement::Unpinned { .. } => None,
        }
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Placement::Pinned { parent, child } => {
                write!(f, "pinned: parent on CPU {parent}, child on CPU {child}")
            }
            Placement::SameCpu(cpu) => write!(f, "pinned: both sides on CPU {cpu}"),
            Placement::Unpinned { available: 1 } => {
                write!(f, "NOT pinned: only 1 CPU available, both sides share it")
            }
            Placement::Unpinned { available } => {
                write!(f, "NOT pinned (pinning off; {available} CPUs available)")
            }
        }
    }
}

/// How to place the two sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Pinning {
    /// Different CPUs if there are two or more, else no pinning.
    #[default]
    Auto,
    /// Both sides on the first available CPU.
    SameCpu,
    /// No pinning.
    Off,
}

/// CPUs the calling thread may run on.
pub fn available_cpus() -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => vec![],
    }
}

/// Decides the placement for `pinning` on this machine.
pub fn plan(pinning: Pinning) -> Placement {
    let cpus = available_cpus();
    match (pinning, cpus.as_slice()) {
        (Pinning::Auto, [a, b, ..]) => Placement::Pinned {
            parent: *a,
            child: *b,
        },
        (Pinning::SameCpu, [a, ..]) => Placement::SameCpu(*a),
        _ => Placement::Unpinned {
            available: cpus.len().max(1),
        },
    }
}

/// The calling thread's affinity, to restore later.
pub fn current() -> nix::Result<CpuSet> {
    sched_getaffinity(Pid::from_raw(0))
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> nix::Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu)?;
    sched_setaffinity(Pid::from_raw(0), &set)
}

/// Restores an affinity returned by [`current`].
pub fn restore(set: &CpuSet) -> nix::Result<()> {
    sched_setaffinity(Pid::from_raw(0), set)
}
