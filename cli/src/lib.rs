//! The `axon` command-line tool: see and clean what runs.
//!
//! The binary is glue (ripgrep style): arguments are parsed here with
//! `clap`, and every command reads the segments through `axon::inspect`
//! (read-only, joins nothing) or takes part through the public topic API
//! (`RawSubscriber`, `RawPublisher`) like any node.
//!
//! A crate with its own message types builds its own `axon` that knows
//! them: its `main` registers them and calls [`main`], the whole program
//! (arguments, run, error line, exit code). [`run`] is the part below it,
//! for parsed arguments and another output.
//!
//! ```no_run
//! // src/bin/axon.rs of a crate with its own messages:
//! // axon_msgs::registry::register(TypeInfo::sized::<MyType>()).unwrap();
//! std::process::exit(axon_cli::main());
//! ```
//!
//! Exit codes: 0 success, 1 an error (one line on stderr, `axon: ...`) or a
//! `doctor` finding that breaks axon, 2 bad arguments. A closed stdout
//! (`axon topic echo /t | head`) ends the command quietly with 0.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod bag;
mod clean;
mod doctor;
mod node;
mod queue;
mod service;
mod stats;
pub mod text;
mod topic;
mod view;

/// See and clean what runs on axon: topics, nodes, shared memory.
#[derive(Debug, Parser)]
#[command(name = "axon", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Domain to look at (default: $AXON_DOMAIN, else "0").
    #[arg(long, global = true, value_name = "NAME")]
    pub domain: Option<String>,
    /// Directory of the segments (default: $AXON_SHM_DIR, else /dev/shm).
    #[arg(long, global = true, value_name = "DIR")]
    pub shm_dir: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Topics: list, info, echo, hz, bw, pub.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Nodes: list.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Services: list, info, call.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Work queues: list, info, purge, dead (dead letters, --requeue).
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Record topics to an MCAP file, show what a file holds, play it back.
    #[command(subcommand)]
    Bag(BagCommand),
    /// Remove segments no live process uses (left by crashed or finished runs).
    Clean(clean::CleanArgs),
    /// Serve the domain to Foxglove (foxglove.websocket.v1 on ws://127.0.0.1:8765): watch topics live, publish into them.
    View(view::ViewArgs),
    /// Check what commonly breaks shared-memory middleware, with the fix for each finding.
    Doctor(doctor::DoctorArgs),
}

/// `axon topic ...`
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Every topic: type, publishers, subscribers, payload capacity, QoS.
    List(topic::ListArgs),
    /// One topic in detail, with each participant's node, pid and counters.
    Info(topic::InfoArgs),
    /// Print samples as they arrive (a best-effort subscriber: never slows a publisher).
    Echo(topic::EchoArgs),
    /// Publishing rate: mean, min, max and std dev of the period over a window.
    Hz(topic::RateArgs),
    /// Bandwidth: bytes per second and sample sizes over a window.
    Bw(topic::RateArgs),
    /// Publish a sample given as YAML or JSON, once or at a rate.
    Pub(topic::PubArgs),
}

/// `axon service ...`
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Every service: request and response types, its server, live clients.
    List(service::ListArgs),
    /// One service in detail: types, capacities, server and clients.
    Info(service::InfoArgs),
    /// Call a service with a request given as YAML or JSON; print the response.
    Call(service::CallArgs),
}

/// `axon queue ...`
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Every work queue: type, ready, in flight, dead letters, workers.
    List(queue::ListArgs),
    /// One queue in detail: depth, counters, each worker's in-flight jobs and pid.
    Info(queue::InfoArgs),
    /// Drop every job waiting in a queue (held jobs and dead letters stay).
    Purge(queue::PurgeArgs),
    /// A queue's dead letters; --requeue puts them back in the queue.
    Dead(queue::DeadArgs),
}

/// `axon bag ...`
#[derive(Debug, Subcommand)]
pub enum BagCommand {
    /// Record topics into an MCAP file (ros2 profile, CDR) until Ctrl-C, SIGTERM or --duration.
    Record(bag::RecordArgs),
    /// What a file holds: duration, compression, per topic type, count, rate, losses.
    Info(bag::InfoArgs),
    /// Publish a file's messages on their topics with their original timing.
    Play(bag::PlayArgs),
    /// Write a finished copy of a file whose recorder was killed (or that has damaged chunks).
    Reindex(bag::ReindexArgs),
}

/// `axon node ...`
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Live nodes with pid, state, uptime and their topics.
    List(node::ListArgs),
}

impl Global {
    /// The domain these options select.
    pub fn domain(&self) -> anyhow::Result<axon::Domain> {
        let dir = match &self.shm_dir {
            Some(d) => d.clone(),
            None => std::env::var_os(axon::Domain::DIR_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/dev/shm")),
        };
        let name = match &self.domain {
            Some(n) => n.clone(),
            None => std::env::var(axon::Domain::ENV).unwrap_or_else(|_| "0".to_string()),
        };
        Ok(axon::Domain::new(dir, &name)?)
    }
}

/// How a command ended, beyond success.
#[derive(Debug)]
pub(crate) struct ExitCode(pub i32);

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}", self.0)
    }
}

impl std::error::Error for ExitCode {}

/// Runs `cli`, writing to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Topic(TopicCommand::List(a)) => topic::list(g, &a, out),
        Command::Topic(TopicCommand::Info(a)) => topic::info(g, &a, out),
        Command::Topic(TopicCommand::Echo(a)) => topic::echo(g, &a, out),
        Command::Topic(TopicCommand::Hz(a)) => topic::rate(g, &a, topic::Measure::Hz, out),
        Command::Topic(TopicCommand::Bw(a)) => topic::rate(g, &a, topic::Measure::Bw, out),
        Command::Topic(TopicCommand::Pub(a)) => topic::publish(g, &a, out),
        Command::Node(NodeCommand::List(a)) => node::list(g, &a, out),
        Command::Service(ServiceCommand::List(a)) => service::list(g, &a, out),
        Command::Service(ServiceCommand::Info(a)) => service::info(g, &a, out),
        Command::Service(ServiceCommand::Call(a)) => service::call(g, &a, out),
        Command::Queue(QueueCommand::List(a)) => queue::list(g, &a, out),
        Command::Queue(QueueCommand::Info(a)) => queue::info(g, &a, out),
        Command::Queue(QueueCommand::Purge(a)) => queue::purge(g, &a, out),
        Command::Queue(QueueCommand::Dead(a)) => queue::dead(g, &a, out),
        Command::Bag(BagCommand::Record(a)) => bag::record(g, &a, out),
        Command::Bag(BagCommand::Info(a)) => bag::info(&a, out),
        Command::Bag(BagCommand::Play(a)) => bag::play(g, &a, out),
        Command::Bag(BagCommand::Reindex(a)) => bag::reindex(&a, out),
        Command::Clean(a) => clean::run(g, &a, out),
        Command::Doctor(a) => doctor::run(g, &a, out),
        Command::View(a) => view::run(g, &a, out),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The whole program: parses `std::env::args`, runs, prints an error as one
/// line, and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let code = e.exit_code();
            let _ = e.print();
            return code;
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = run(cli, &mut out).and_then(|()| out.flush().map_err(Into::into));
    match result {
        Ok(()) => 0,
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            if let Some(ExitCode(code)) = e.downcast_ref::<ExitCode>() {
                return *code;
            }
            let _ = writeln!(io::stderr(), "axon: {e:#}");
            1
        }
    }
}

/// Entry points for fuzzing (issue 12): each takes arbitrary bytes and must
/// never panic, hang or allocate without bound. The seeds are in
/// `fuzz/corpus/<name>/`; `tests/fuzz_corpus.rs` replays them.
#[doc(hidden)]
pub mod fuzzing {
    /// The message types [`value_parser`] encodes a parsed value as: flat,
    /// nested, with arrays and with fixed strings.
    const TYPES: [&str; 5] = [
        "axon-msgs/Twist",
        "axon-msgs/Vector3",
        "axon-msgs/Header",
        "axon-msgs/Imu",
        "axon-msgs/Odometry",
    ];

    /// `data` as the VALUE of `axon topic pub` (UTF-8, as the shell hands
    /// it over): parsed by [`crate::text::parse_yaml`], encoded as each
    /// of a few axon-msgs types, and printed back as `topic echo` would.
    pub fn value_parser(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let Ok(value) = crate::text::parse_yaml(text) else {
            return;
        };
        for name in TYPES {
            if let Some(info) = axon_msgs::registry::describe(name) {
                let _ = info.encode(&value);
            }
        }
        let _ = crate::text::to_yaml(&value, crate::text::YamlStyle { max_array: Some(8) });
    }
}
