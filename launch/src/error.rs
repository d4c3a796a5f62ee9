//! Error enums: one for loading a launch file, one for supervising a plan.

use std::io;
use std::path::PathBuf;

use crate::source::{Location, ReadError};

/// Why a launch file (or one of its includes, or the command-line args)
/// could not become a [`Plan`](crate::plan::Plan). Nothing has been started
/// when this is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The top-level file could not be read (missing, not a regular file,
    /// too large).
    #[error("{}: cannot read launch file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: ReadError,
    },
    /// An included file could not be read, or may not be included (too
    /// deep, too many files, not a regular file, too large).
    #[error("{at}: cannot include {}: {problem}", path.display())]
    Include {
        /// The include entry.
        at: Location,
        /// The included file (relative to the including file's directory).
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// A launch file is not UTF-8.
    #[error("{at}: invalid UTF-8{}", included_at.as_ref().map(|i| format!(" (included at {i})")).unwrap_or_default())]
    InvalidUtf8 {
        /// The first byte that is not UTF-8.
        at: Location,
        /// The include entry, for an included file.
        included_at: Option<Location>,
    },
    /// TOML syntax error, unknown key, or a value of the wrong type.
    #[error("{at}: {message}")]
    Parse {
        /// Where the parser stopped.
        at: Location,
        /// The parser's message.
        message: String,
    },
    /// Two nodes share a name.
    #[error("{at}: duplicate node name `{name}` (first defined at {first})")]
    DuplicateNode {
        /// The second definition.
        at: Location,
        /// The name.
        name: String,
        /// The first definition.
        first: Location,
    },
    /// `exec` names no executable file.
    #[error("{at}: executable `{exec}` not found{hint}")]
    MissingExecutable {
        /// The `exec` value.
        at: Location,
        /// What was asked for.
        exec: String,
        /// Where it was looked for.
        hint: String,
    },
    /// `depends_on` names a node that does not exist.
    #[error("{at}: `depends_on` names unknown node `{name}`")]
    UnknownDependency {
        /// The entry.
        at: Location,
        /// The unknown name.
        name: String,
    },
    /// `depends_on` forms a cycle.
    #[error("{at}: dependency cycle: {cycle}")]
    DependencyCycle {
        /// One entry of the cycle.
        at: Location,
        /// The cycle, `a -> b -> a`.
        cycle: String,
    },
    /// An argument was given (on the command line or by an `include`) that
    /// the launch file does not declare in `[launch] args`.
    #[error("{at}: unknown arg `{name}` (declared args: {declared})")]
    UnknownArg {
        /// The include entry, or the top-level file for command-line args.
        at: Location,
        /// The unknown name.
        name: String,
        /// What the file declares, comma separated.
        declared: String,
    },
    /// `${name}` refers to an arg that is not declared.
    #[error("{at}: `${{{name}}}` refers to an undeclared arg")]
    UndefinedArg {
        /// The string holding the reference.
        at: Location,
        /// The name.
        name: String,
    },
    /// A file includes itself, directly or not.
    #[error("{at}: include cycle: {} is already being included", path.display())]
    IncludeCycle {
        /// The include entry.
        at: Location,
        /// The file.
        path: PathBuf,
    },
    /// Two topics of one node would be renamed to the same name.
    #[error("{at}: remap collision: {message}")]
    RemapCollision {
        /// The remap entry.
        at: Location,
        /// What collides.
        message: String,
    },
    /// A subscription has no publisher, or types disagree.
    #[error("{at}: wiring: {message}")]
    Wiring {
        /// The subscription or publication.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// Any other invalid value (bad duration, bad name, bad cpu...).
    #[error("{at}: {message}")]
    Invalid {
        /// The value.
        at: Location,
        /// What is wrong.
        message: String,
    },
}

/// Why supervision could not run at all. (Nodes failing is not an error: it
/// is reported in the [`Report`](crate::supervise::Report).)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuperviseError {
    /// The log directory could not be created or written.
    #[error("log directory {}: {source}", path.display())]
    LogDir {
        /// The directory or file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The launcher's own signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] io::Error),
}
