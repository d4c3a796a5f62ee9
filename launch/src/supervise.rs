//! Supervision: start a [`Plan`]'s processes, watch them, stop them.
//!
//! # How it works
//!
//! One thread — the caller's — runs an event loop and is the only one that
//! spawns, signals or reaps children. Two kinds of helper threads feed it
//! through a channel: a signal thread (signal-hook's iterator, for SIGINT,
//! SIGTERM, SIGHUP and SIGCHLD) and one output thread per child pipe, which
//! reports `ready = { log = ".." }` matches. The loop also wakes on a short
//! timer, so a coalesced SIGCHLD or a polled ready condition is never missed.
//!
//! Each process moves through `Pending -> Running -> (Backoff -> Running)*
//! -> Done`. A pending process starts once every process it depends on is
//! ready; start order is the plan's order. Exits are collected with
//! `waitpid(pid, WNOHANG)` on the known pids after every SIGCHLD.
//!
//! Shutdown (SIGINT/SIGTERM, `duration` elapsed, or a required process
//! ending) sends SIGTERM to every running process in reverse start order,
//! waits up to the grace period, then sends SIGKILL to the rest and reports
//! them. A second SIGINT/SIGTERM sends SIGKILL at once.
//!
//! Each child starts in a process group of its own (`setpgid(0, 0)`), so
//! the terminal's Ctrl-C (SIGINT to the terminal's foreground process
//! group) reaches the launcher alone. Shutdown is then exactly one request
//! per node: the launcher's SIGTERM, sent to the node's whole group (a node
//! started through a shell script stops with its children), then SIGKILL
//! to the group only after the grace period or on a second Ctrl-C. A node's
//! own "second signal exits at once" escape hatch (`axon::shutdown`) never
//! fires on that single request, so its shutdown code runs to the end.
//!
//! Children are started with `PR_SET_PDEATHSIG = SIGTERM`, so they are told
//! to stop if the launcher dies, even by SIGKILL. Linux delivers that signal when the *thread* that
//! forked the child exits, which is why all spawning happens on the thread
//! that calls [`run`]: it must live as long as the children (the `launch`
//! binary calls it from its main thread).

use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sched::CpuSet;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::{LoadError, SuperviseError};
use crate::output::{pump, LineSink, Printer, Stream};
use crate::plan::{Plan, Policy, ProcessKind, ProcessSpec, ReadyCondition};
use crate::topic::TopicProbe;

/// The longest the loop sleeps without looking at its children.
const TICK: Duration = Duration::from_millis(100);
/// The longest the launcher waits for node output after the last exit.
const DRAIN: Duration = Duration::from_secs(2);

/// How [`run`] behaves beyond what the plan says.
pub struct RunOptions {
    /// Answers `ready = { topic = ".." }`.
    pub probe: Box<dyn TopicProbe>,
    /// Colour node prefixes.
    pub colour: bool,
    /// Re-reads the launch file on SIGHUP; `None` ignores SIGHUP.
    pub reload: Option<Box<dyn FnMut() -> Result<Plan, LoadError>>>,
}

/// How one process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Never started (shutdown came first).
    NotStarted,
    /// Could not be started.
    SpawnFailed(String),
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(Signal),
    /// Still running when the launcher gave up on it (should not happen).
    Unknown,
}

impl Status {
    /// Exit 0.
    pub fn success(&self) -> bool {
        *self == Status::Exited(0)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::NotStarted => f.write_str("not started"),
            Status::SpawnFailed(e) => write!(f, "spawn failed: {e}"),
            Status::Exited(c) => write!(f, "exit {c}"),
            Status::Signaled(s) => write!(f, "signal {}", s.as_str()),
            Status::Unknown => f.write_str("unknown"),
        }
    }
}

/// One line of the summary table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Process name.
    pub name: String,
    /// Last pid, if it ever ran.
    pub pid: Option<i32>,
    /// How it ended (last run).
    pub status: Status,
    /// Number of restarts.
    pub restarts: u32,
    /// Total time running, over all restarts.
    pub run_time: Duration,
    /// It needed SIGKILL at shutdown.
    pub killed: bool,
    /// `required = true`.
    pub required: bool,
}

/// What happened, for the summary table and the exit code.
#[derive(Debug, Clone)]
pub struct Report {
    /// One row per process, in start order.
    pub rows: Vec<Row>,
    /// A required process failed, or the start could not complete.
    pub failed: bool,
    /// Why the robot stopped.
    pub reason: String,
}

impl Report {
    /// 0 if all went well, 1 if a required process failed.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.failed)
    }

    /// The summary table.
    pub fn table(&self) -> String {
        let w = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut s = format!(
            "{:<w$}  {:>7}  {:<28}  {:>8}  {:>9}\n",
            "NODE", "PID", "STATUS", "RESTARTS", "RUN TIME"
        );
        for r in &self.rows {
            let mut status = r.status.to_string();
            if r.killed {
                status.push_str(" (needed SIGKILL)");
            }
            if r.required && !r.status.success() && r.status != Status::NotStarted {
                status.push_str(" [required]");
            }
            let pid = r.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
            let _ = writeln!(
                s,
                "{:<w$}  {:>7}  {:<28}  {:>8}  {:>8.1}s",
                r.name,
                pid,
                status,
                r.restarts,
                r.run_time.as_secs_f64()
            );
        }
        s
    }
}

enum Event {
    Signal(i32),
    LogReady { index: usize, generation: u64 },
}

#[derive(Debug, Clone, Copy)]
enum State {
    Pending,
    Running { pid: Pid, since: Instant },
    Backoff(Instant),
    Done,
}

struct Proc {
    spec: ProcessSpec,
    state: State,
    restarts: u32,
    run_time: Duration,
    last_pid: Option<Pid>,
    status: Status,
    ready: bool,
    first_start: Option<Instant>,
    start_seq: usize,
    generation: u64,
    killed: bool,
    log: Option<Arc<Mutex<File>>>,
    params_file: Option<PathBuf>,
}

/// Runs the plan until every process has ended; see the module docs.
///
/// Call it from a thread that outlives the children (the main thread).
pub fn run(plan: Plan, opts: RunOptions) -> Result<Report, SuperviseError> {
    let log_dir = &plan.settings.log_dir;
    std::fs::create_dir_all(log_dir).map_err(|source| SuperviseError::LogDir {
        path: log_dir.clone(),
        source,
    })?;
    let log_dir = std::fs::canonicalize(log_dir).map_err(|source| SuperviseError::LogDir {
        path: log_dir.clone(),
        source,
    })?;

    let topics_file = write_topics(&log_dir, &plan)?;

    // Handlers go in before any child exists, so no early signal is lost.
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP, SIGCHLD]).map_err(SuperviseError::Signals)?;
    let handle = signals.handle();
    let (tx, rx) = mpsc::channel();
    let sig_tx = tx.clone();
    let sig_thread = thread::spawn(move || {
        for s in signals.forever() {
            if sig_tx.send(Event::Signal(s)).is_err() {
                break;
            }
        }
    });

    let width = plan
        .processes
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0);
    let printer = Arc::new(Printer::new(opts.colour, width));
    let mut procs = Vec::with_capacity(plan.processes.len());
    for spec in &plan.processes {
        let log_path = log_dir.join(format!("{}.log", spec.name));
        let log = File::create(&log_path).map_err(|source| SuperviseError::LogDir {
            path: log_path,
            source,
        })?;
        let params_file = match &spec.kind {
            ProcessKind::Node(_) => Some(log_dir.join(format!("{}.params.json", spec.name))),
            ProcessKind::Link(_) | ProcessKind::Zenoh(_) | ProcessKind::Record => None,
        };
        procs.push(Proc {
            spec: spec.clone(),
            state: State::Pending,
            restarts: 0,
            run_time: Duration::ZERO,
            last_pid: None,
            status: Status::NotStarted,
            ready: false,
            first_start: None,
            start_seq: 0,
            generation: 0,
            killed: false,
            log: Some(Arc::new(Mutex::new(log))),
            params_file,
        });
    }

    let mut sup = Supervisor {
        plan,
        procs,
        opts,
        printer,
        tx,
        stopping: false,
        grace_deadline: None,
        failed: false,
        reason: String::new(),
        next_seq: 0,
        pumps: Vec::new(),
        topics_file,
    };
    let report = sup.event_loop(&rx);
    handle.close();
    let _ = sig_thread.join();
    Ok(report)
}

struct Supervisor {
    plan: Plan,
    procs: Vec<Proc>,
    opts: RunOptions,
    printer: Arc<Printer>,
    tx: Sender<Event>,
    stopping: bool,
    grace_deadline: Option<Instant>,
    failed: bool,
    reason: String,
    next_seq: usize,
    /// Output threads; drained (with a bound) before the report.
    pumps: Vec<thread::JoinHandle<()>>,
    /// The `[topic]` declarations file every node gets in `AXON_TOPICS`.
    topics_file: Option<PathBuf>,
}

impl Supervisor {
    fn say(&self, msg: std::fmt::Arguments<'_>) {
        self.printer.say(msg);
    }

    fn event_loop(&mut self, rx: &Receiver<Event>) -> Report {
        let started = Instant::now();
        let end_at = self.plan.settings.duration.map(|d| started + d);
        loop {
            self.reap();
            let now = Instant::now();
            if !self.stopping && end_at.is_some_and(|t| now >= t) {
                self.begin_shutdown("duration elapsed".to_owned(), false);
            }
            if !self.stopping {
                self.check_ready(now);
            }
            if !self.stopping {
                self.start_due(now);
                self.check_stuck();
            }
            if self.grace_deadline.is_some_and(|g| now >= g) {
                self.grace_deadline = None;
                self.kill_remaining("grace period over");
            }
            if self.procs.iter().all(|p| matches!(p.state, State::Done)) {
                break;
            }

            let mut wake = now + TICK;
            for t in [end_at, self.grace_deadline].into_iter().flatten() {
                wake = wake.min(t);
            }
            for p in &self.procs {
                if let State::Backoff(t) = p.state {
                    wake = wake.min(t);
                }
            }
            let timeout = wake.saturating_duration_since(Instant::now());
            match rx.recv_timeout(timeout) {
                Ok(ev) => {
                    self.handle(ev);
                    while let Ok(ev) = rx.try_recv() {
                        self.handle(ev);
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
            }
        }
        if self.reason.is_empty() {
            self.reason = "all nodes ended".to_owned();
        }
        self.drain_output();
        let killed: Vec<&str> = self
            .procs
            .iter()
            .filter(|p| p.killed)
            .map(|p| p.spec.name.as_str())
            .collect();
        if !killed.is_empty() {
            self.say(format_args!("needed SIGKILL: {}", killed.join(", ")));
        }
        let mut order: Vec<&Proc> = self.procs.iter().collect();
        order.sort_by_key(|p| (p.first_start.is_none(), p.start_seq));
        Report {
            rows: order
                .into_iter()
                .map(|p| Row {
                    name: p.spec.name.clone(),
                    pid: p.last_pid.map(Pid::as_raw),
                    status: p.status.clone(),
                    restarts: p.restarts,
                    run_time: p.run_time,
                    killed: p.killed,
                    required: p.spec.required,
                })
                .collect(),
            failed: self.failed,
            reason: self.reason.clone(),
        }
    }

    /// Lets the output threads pass on what the nodes wrote last. A pipe
    /// can outlive its node (a grandchild may hold it), so the wait is
    /// bounded by [`DRAIN`].
    fn drain_output(&mut self) {
        let deadline = Instant::now() + DRAIN;
        while Instant::now() < deadline && self.pumps.iter().any(|h| !h.is_finished()) {
            thread::sleep(Duration::from_millis(5));
        }
        for h in std::mem::take(&mut self.pumps) {
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Signal(SIGCHLD) => self.reap(),
            Event::Signal(s @ (SIGINT | SIGTERM)) => {
                let name = if s == SIGINT { "SIGINT" } else { "SIGTERM" };
                if self.stopping {
                    self.say(format_args!("{name} again: killing everything now"));
                    self.grace_deadline = None;
                    self.kill_remaining("second signal");
                } else {
                    self.begin_shutdown(format!("{name} received"), false);
                }
            }
            Event::Signal(SIGHUP) => self.reload(),
            Event::Signal(_) => {}
            Event::LogReady { index, generation } => {
                let p = &self.procs[index];
                if p.generation == generation && !p.ready {
                    self.mark_ready(index);
                }
            }
        }
    }

    fn mark_ready(&mut self, i: usize) {
        self.procs[i].ready = true;
        if self.procs[i].spec.ready.is_some() {
            self.say(format_args!("{} is ready", self.procs[i].spec.name));
        }
    }

    /// Collects every child that has ended.
    fn reap(&mut self) {
        for i in 0..self.procs.len() {
            let State::Running { pid, .. } = self.procs[i].state else {
                continue;
            };
            let status = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => Status::Exited(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => Status::Signaled(sig),
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(_) => Status::Unknown,
            };
            self.on_exit(i, status);
        }
    }

    fn on_exit(&mut self, i: usize, status: Status) {
        let now = Instant::now();
        let p = &mut self.procs[i];
        if let State::Running { since, .. } = p.state {
            p.run_time += now - since;
        }
        p.status = status.clone();
        let name = p.spec.name.clone();
        let pid = p.last_pid.map_or(0, Pid::as_raw);
        if self.stopping {
            p.state = State::Done;
            self.say(format_args!("{name} (pid {pid}) stopped: {status}"));
            return;
        }
        let failed = !status.success();
        let respawn = p.spec.respawn;
        let want = match respawn.policy {
            Policy::Never => false,
            Policy::OnFailure => failed,
            Policy::Always => true,
        };
        if want && p.restarts < respawn.max_restarts {
            let delay = respawn.delay(p.restarts);
            p.restarts += 1;
            p.state = State::Backoff(now + delay);
            let n = p.restarts;
            self.say(format_args!(
                "{name} (pid {pid}) ended: {status}; restart {n}/{} in {}",
                respawn.max_restarts,
                crate::plan::human(delay)
            ));
            return;
        }
        p.state = State::Done;
        let required = p.spec.required;
        if want {
            self.say(format_args!(
                "{name} (pid {pid}) ended: {status}; giving up after {} restarts",
                respawn.max_restarts
            ));
        } else {
            self.say(format_args!("{name} (pid {pid}) ended: {status}"));
        }
        if required {
            self.begin_shutdown(format!("required node {name} ended: {status}"), failed);
        }
    }

    /// Ready conditions other than `log` (which arrives as an event), and
    /// ready timeouts.
    fn check_ready(&mut self, now: Instant) {
        for i in 0..self.procs.len() {
            let p = &self.procs[i];
            if p.ready {
                continue;
            }
            let (Some(first), Some(ready)) = (p.first_start, &p.spec.ready) else {
                continue;
            };
            let mut found = None;
            let is_ready = match &ready.condition {
                ReadyCondition::Delay(d) => now >= first + *d,
                ReadyCondition::Topic { name, ty } => {
                    match self.opts.probe.probe(name, ty.as_deref()) {
                        Ok(()) => true,
                        Err(what) => {
                            found = Some(what);
                            false
                        }
                    }
                }
                ReadyCondition::Log(_) => false,
            };
            if is_ready {
                self.mark_ready(i);
            } else if now >= first + ready.timeout {
                let found = found.map(|f| format!("; found: {f}")).unwrap_or_default();
                let msg = format!(
                    "{} did not become ready within {} (waited for {}{found})",
                    p.spec.name,
                    crate::plan::human(ready.timeout),
                    ready.condition
                );
                self.say(format_args!("{msg}"));
                self.begin_shutdown(msg, true);
                return;
            }
        }
    }

    /// Starts pending processes whose dependencies are ready, and restarts
    /// those whose backoff has elapsed.
    fn start_due(&mut self, now: Instant) {
        for i in 0..self.procs.len() {
            if self.stopping {
                return;
            }
            let due = match self.procs[i].state {
                State::Pending => self.procs[i]
                    .spec
                    .depends_on
                    .iter()
                    .all(|&d| self.procs[d].ready),
                State::Backoff(t) => now >= t,
                _ => false,
            };
            if due {
                self.spawn(i);
            }
        }
    }

    /// A pending process whose dependency ended without becoming ready can
    /// never start: stop the robot.
    fn check_stuck(&mut self) {
        for p in &self.procs {
            if !matches!(p.state, State::Pending) {
                continue;
            }
            for &d in &p.spec.depends_on {
                let dep = &self.procs[d];
                if matches!(dep.state, State::Done) && !dep.ready {
                    let msg = format!(
                        "{} cannot start: {} ended before it was ready",
                        p.spec.name, dep.spec.name
                    );
                    self.say(format_args!("{msg}"));
                    self.begin_shutdown(msg, true);
                    return;
                }
            }
        }
    }

    fn begin_shutdown(&mut self, reason: String, failed: bool) {
        self.failed |= failed;
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.say(format_args!("shutting down: {reason}"));
        self.reason = reason;
        self.grace_deadline = Some(Instant::now() + self.plan.settings.grace);
        for p in &mut self.procs {
            if matches!(p.state, State::Pending | State::Backoff(_)) {
                p.state = State::Done;
            }
        }
        let mut running: Vec<(usize, Pid)> = self
            .procs
            .iter()
            .filter_map(|p| match p.state {
                State::Running { pid, .. } => Some((p.start_seq, pid)),
                _ => None,
            })
            .collect();
        running.sort_by_key(|r| std::cmp::Reverse(r.0));
        for (_, pid) in running {
            signal_group(pid, Signal::SIGTERM);
        }
    }

    fn kill_remaining(&mut self, why: &str) {
        for p in &mut self.procs {
            if let State::Running { pid, .. } = p.state {
                if signal_group(pid, Signal::SIGKILL) {
                    p.killed = true;
                    self.printer
                        .say(format_args!("{} (pid {pid}): SIGKILL ({why})", p.spec.name));
                }
            }
        }
    }

    fn reload(&mut self) {
        let Some(reload) = self.opts.reload.as_mut() else {
            return;
        };
        let plan = match reload() {
            Ok(plan) => plan,
            Err(e) => {
                self.say(format_args!("SIGHUP: reload failed, params unchanged: {e}"));
                return;
            }
        };
        let mut n = 0;
        for p in &mut self.procs {
            let Some(new) = plan.process(&p.spec.name) else {
                continue;
            };
            // A link has no params; its settings change on restart.
            if let (ProcessKind::Node(old), ProcessKind::Node(new)) = (&mut p.spec.kind, &new.kind)
            {
                old.params = new.params.clone();
            }
            if let Some(path) = &p.params_file {
                if let Err(e) = write_params(path, &p.spec) {
                    self.printer.say(format_args!(
                        "{}: cannot write {}: {e}",
                        p.spec.name,
                        path.display()
                    ));
                    continue;
                }
            }
            if let State::Running { pid, .. } = p.state {
                let _ = kill(pid, Signal::SIGHUP);
            }
            n += 1;
        }
        self.say(format_args!("SIGHUP: params reloaded for {n} node(s)"));
    }

    fn spawn(&mut self, i: usize) {
        self.procs[i].generation += 1;
        match self.try_spawn(i) {
            Ok(pid) => {
                let now = Instant::now();
                let p = &mut self.procs[i];
                p.state = State::Running { pid, since: now };
                p.last_pid = Some(pid);
                if p.first_start.is_none() {
                    p.first_start = Some(now);
                    p.start_seq = self.next_seq;
                    self.next_seq += 1;
                }
                let restart = p.restarts > 0;
                let name = p.spec.name.clone();
                let immediately_ready = p.spec.ready.is_none();
                self.say(format_args!(
                    "{} {name} (pid {pid})",
                    if restart { "restarted" } else { "started" }
                ));
                if immediately_ready && !self.procs[i].ready {
                    self.mark_ready(i);
                }
            }
            Err(e) => {
                let p = &mut self.procs[i];
                p.state = State::Done;
                p.status = Status::SpawnFailed(e.to_string());
                let name = p.spec.name.clone();
                let required = p.spec.required;
                self.say(format_args!("cannot start {name}: {e}"));
                if required {
                    self.begin_shutdown(format!("required node {name} could not start"), true);
                }
            }
        }
    }

    fn try_spawn(&mut self, i: usize) -> io::Result<Pid> {
        let p = &self.procs[i];
        let spec = &p.spec;
        let mut cmd = Command::new(&spec.program);
        // Its own process group: the terminal's SIGINT is the launcher's
        // alone (see the module docs).
        cmd.process_group(0);
        cmd.args(&spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        match &spec.kind {
            ProcessKind::Node(node) => {
                cmd.env("AXON_NODE_NAME", &spec.name);
                match &node.namespace {
                    Some(ns) => cmd.env("AXON_NAMESPACE", ns),
                    None => cmd.env_remove("AXON_NAMESPACE"),
                };
                let remap: Vec<String> =
                    node.remap.iter().map(|(f, t)| format!("{f}={t}")).collect();
                cmd.env("AXON_REMAP", remap.join(";"));
                match &self.topics_file {
                    Some(f) => cmd.env(axon::declared::TOPICS_ENV, f),
                    None => cmd.env_remove(axon::declared::TOPICS_ENV),
                };
                if let Some(d) = &self.plan.settings.domain {
                    cmd.env("AXON_DOMAIN", d);
                }
            }
            ProcessKind::Link(_) | ProcessKind::Zenoh(_) | ProcessKind::Record => {
                if let Some(d) = &self.plan.settings.domain {
                    cmd.env("AXON_DOMAIN", d);
                }
            }
        }
        if let Some(path) = &p.params_file {
            write_params(path, spec)?;
            cmd.env("AXON_PARAMS_FILE", path);
        }

        let setup = ChildSetup {
            parent: nix::unistd::getpid(),
            cpus: match &spec.cpu {
                Some(list) => {
                    let mut set = CpuSet::new();
                    for &c in list {
                        set.set(c).map_err(io::Error::from)?;
                    }
                    Some(set)
                }
                None => None,
            },
            priority: spec.priority,
        };
        // SAFETY: the closure runs in the forked child before exec, where only
        // async-signal-safe calls are allowed. `ChildSetup::apply` (1) makes
        // only raw system calls (prctl, getppid, sched_setaffinity,
        // sched_setscheduler), (2) allocates nothing (its data was prepared
        // before the fork and errors are built from raw errno values), and
        // (3) takes no locks.
        unsafe {
            cmd.pre_exec(move || setup.apply());
        }
        let mut child = cmd.spawn()?;
        let pid = Pid::from_raw(child.id() as i32);

        let generation = p.generation;
        for (stream, reader) in [
            (
                Stream::Stdout,
                child
                    .stdout
                    .take()
                    .map(|r| Box::new(r) as Box<dyn io::Read + Send>),
            ),
            (
                Stream::Stderr,
                child
                    .stderr
                    .take()
                    .map(|r| Box::new(r) as Box<dyn io::Read + Send>),
            ),
        ] {
            let Some(reader) = reader else { continue };
            let watch = match (&spec.ready, stream, p.ready) {
                (Some(r), Stream::Stdout, false) => match &r.condition {
                    ReadyCondition::Log(text) => {
                        let tx = self.tx.clone();
                        let notify: Box<dyn FnOnce() + Send> = Box::new(move || {
                            let _ = tx.send(Event::LogReady {
                                index: i,
                                generation,
                            });
                        });
                        Some((text.clone(), notify))
                    }
                    _ => None,
                },
                _ => None,
            };
            let sink = LineSink {
                name: spec.name.clone(),
                index: i,
                stream,
                printer: Arc::clone(&self.printer),
                log: p.log.clone(),
                watch,
            };
            let handle = thread::Builder::new()
                .name(format!("out-{}", spec.name))
                .spawn(move || pump(reader, sink))?;
            self.pumps.push(handle);
        }
        // The child is reaped by `reap` with waitpid; dropping `Child` neither
        // waits for nor kills it.
        drop(child);
        Ok(pid)
    }
}

/// Sends `sig` to the process group of child `pid` (which leads it, see
/// [`Supervisor::try_spawn`]); falls back to the child alone if the group
/// cannot be signalled. True if the signal was sent.
///
/// Only called for children not yet reaped, so the group id still names
/// this child's group and no other.
fn signal_group(pid: Pid, sig: Signal) -> bool {
    match nix::sys::signal::killpg(pid, sig) {
        Ok(()) => true,
        Err(_) => kill(pid, sig).is_ok(),
    }
}

/// What the child does between fork and exec.
struct ChildSetup {
    parent: Pid,
    cpus: Option<CpuSet>,
    priority: Option<i32>,
}

impl ChildSetup {
    fn apply(&self) -> io::Result<()> {
        nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
        // If the launcher died between fork and prctl, the death signal was
        // armed too late and will never come; the child has been re-parented,
        // so getppid() no longer names the launcher. Do not start.
        if nix::unistd::getppid() != self.parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        if let Some(set) = &self.cpus {
            nix::sched::sched_setaffinity(Pid::from_raw(0), set)?;
        }
        if let Some(prio) = self.priority {
            let param = libc::sched_param {
                sched_priority: prio,
            };
            // SAFETY: `param` is a valid, initialised sched_param that outlives
            // the call; pid 0 means the calling process.
            if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Name of the declarations file in the log directory.
pub const TOPICS_FILE: &str = "topics.json";

/// Writes the plan's `[topic]` declarations to `<log_dir>/topics.json`
/// (atomically) for `AXON_TOPICS`; `None` when there are none. Written once
/// per run: a SIGHUP reload does not change the topics of a running robot.
fn write_topics(log_dir: &Path, plan: &Plan) -> Result<Option<PathBuf>, SuperviseError> {
    let path = log_dir.join(TOPICS_FILE);
    if plan.settings.topics.is_empty() {
        // Not one from an earlier run: nobody is told about it, but a
        // reader of the log directory should not be misled.
        let _ = std::fs::remove_file(&path);
        return Ok(None);
    }
    let err = |source: io::Error| SuperviseError::LogDir {
        path: path.clone(),
        source,
    };
    let mut decls = axon::TopicDecls::new();
    for t in &plan.settings.topics {
        let name = axon::TopicName::new(&t.name).map_err(|e| err(io::Error::other(e)))?;
        decls
            .insert(name, t.decl.clone())
            .map_err(|e| err(io::Error::other(e)))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, decls.to_json()).map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)?;
    Ok(Some(path))
}

/// Writes a node's params as a JSON object, atomically (temp file + rename),
/// so a node reloading on SIGHUP never reads half a file.
fn write_params(path: &Path, spec: &ProcessSpec) -> io::Result<()> {
    let ProcessKind::Node(node) = &spec.kind else {
        return Ok(());
    };
    let text = serde_json::to_string_pretty(&node.params).map_err(io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, path)
}
