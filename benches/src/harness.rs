//! One ping-pong session between this process and a re-executed child of it.
//!
//! Lifecycle: [`Session::start`] plans the placement, pins the calling thread, lets the
//! mechanism create its resources, spawns `current_exe() __axon-bench-child ...`, waits (with a
//! watchdog) for the child's `ready` line, then calls [`Pinger::ready`]. Each
//! [`Session::round_trip`] or [`Session::one_way_batch`] runs under a watchdog; a stalled child
//! is killed and the error names it. [`Session::finish`] sends [`STOP`] and reaps the child;
//! dropping a session without it kills the child. The child asks the kernel to kill it when the
//! parent dies (`PR_SET_PDEATHSIG`), so nothing outlives a crashed parent.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

use crate::affinity::{self, Pinning, Placement};
use crate::{find_mechanism, Ctx, Mechanism, Payload, Pinger, RunId, Touch, Watchdog, STOP};

/// First argument that turns a harness binary into a child (ponger).
pub const CHILD_FLAG: &str = "__axon-bench-child";

/// How a session is set up.
#[derive(Clone, Copy, Debug)]
pub struct SessionOptions {
    /// Placement of the two sides.
    pub pinning: Pinning,
    /// A round (a batch of pings, or the child's start) that takes longer fails.
    pub round_timeout: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            pinning: Pinning::Auto,
            round_timeout: Duration::from_secs(30),
        }
    }
}

/// A running child echoing messages over one mechanism.
pub struct Session {
    // Field order is drop order: the child is gone before the pinger releases resources.
    child: Option<Child>,
    pinger: Box<dyn Pinger>,
    seq: u64,
    opts: SessionOptions,
    placement: Placement,
    // Last: restores the parent thread's affinity after everything else is gone, also when
    // `start` fails half-way.
    _affinity: AffinityGuard,
    label: String,
}

impl Session {
    /// Starts a child for `mechanism` sending `payload`.
    pub fn start(
        mechanism: &dyn Mechanism,
        payload: Payload,
        opts: SessionOptions,
    ) -> anyhow::Result<Session> {
        let label = format!("{} {}", mechanism.id(), payload);
        let placement = affinity::plan(opts.pinning);
        let affinity_guard = AffinityGuard(affinity::current().ok());
        if let Some(cpu) = placement.parent_cpu() {
            affinity::pin_current_thread(cpu)
                .with_context(|| format!("pinning the parent thread to CPU {cpu}"))?;
        }
        let ctx = Ctx {
            run_id: RunId::fresh(),
            parent_pid: std::process::id(),
        };
        let (pinger, args) = mechanism
            .create(&ctx, payload)
            .with_context(|| format!("{label}: creating the parent side"))?;
        let exe = std::env::current_exe().context("finding the harness binary")?;
        let child_cpu = placement
            .child_cpu()
            .map_or_else(|| "-".to_string(), |c| c.to_string());
        let child = Command::new(exe)
            .arg(CHILD_FLAG)
            .arg(mechanism.id())
            .arg(payload.size.to_string())
            .arg(payload.touch.as_str())
            .arg(&ctx.run_id.0)
            .arg(ctx.parent_pid.to_string())
            .arg(child_cpu)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("{label}: spawning the child"))?;
        let mut session = Session {
            child: Some(child),
            pinger,
            seq: 0,
            opts,
            placement,
            _affinity: affinity_guard,
            label,
        };
        session.wait_ready()?;
        let wd = session.watchdog();
        if let Err(e) = session.pinger.ready(&wd) {
            return Err(session.fail(e));
        }
        Ok(session)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let child = self.child.as_mut().expect("child present until finish");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let res = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(res);
        });
        match rx.recv_timeout(self.opts.round_timeout) {
            Ok(Ok(line)) if line.trim() == "ready" => Ok(()),
            Ok(Ok(line)) if line.is_empty() => Err(self.fail(anyhow!("child exited before ready"))),
            Ok(Ok(line)) => Err(self.fail(anyhow!("child said {line:?} instead of ready"))),
            Ok(Err(e)) => Err(self.fail(anyhow!(e).context("reading the child's ready line"))),
            Err(_) => Err(self.fail(anyhow!(
                "watchdog: child not ready within {:?}",
                self.opts.round_timeout
            ))),
        }
    }

    /// Kills the child and wraps `err` with what became of it.
    fn fail(&mut self, err: anyhow::Error) -> anyhow::Error {
        let status = self.kill_child();
        err.context(format!("{}: child {status}", self.label))
    }

    fn kill_child(&mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return "already reaped".into();
        };
        let exited = matches!(child.try_wait(), Ok(Some(_)));
        if !exited {
            let _ = child.kill();
        }
        match child.wait() {
            Ok(st) if exited => format!("had exited ({st})"),
            Ok(_) => "killed".into(),
            Err(e) => format!("could not be reaped: {e}"),
        }
    }

    fn watchdog(&self) -> Watchdog {
        let wd = Watchdog::new(self.opts.round_timeout);
        match &self.child {
            Some(c) => wd.with_child(c.id()),
            None => wd,
        }
    }

    /// Process id of the child, while it runs.
    pub fn child_pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Where the two sides run.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// One round trip, timed with the clock around it.
    pub fn round_trip(&mut self) -> anyhow::Result<Duration> {
        self.seq += 1;
        let wd = self.watchdog();
        let t0 = Instant::now();
        let res = self.pinger.ping(self.seq, &wd);
        let dt = t0.elapsed();
        match res {
            Ok(()) => Ok(dt),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// `iters` round trips back to back; returns their total time divided by two, which is
    /// what criterion's `iter_custom` wants for a one-way latency.
    pub fn one_way_batch(&mut self, iters: u64) -> anyhow::Result<Duration> {
        let wd = self.watchdog();
        let t0 = Instant::now();
        for _ in 0..iters {
            self.seq += 1;
            if let Err(e) = self.pinger.ping(self.seq, &wd) {
                return Err(self.fail(e));
            }
        }
        Ok(t0.elapsed() / 2)
    }

    /// Tells the child to exit and reaps it. The child exits with status 0 only after it
    /// received [`STOP`], so a clean exit counts as success even if its echo of `STOP` was lost
    /// (iceoryx2 may drop a sample whose publisher is gone before it is received).
    pub fn finish(mut self) -> anyhow::Result<()> {
        let wd = self.watchdog();
        let stop = self.pinger.ping(STOP, &wd);
        let mut child = self.child.take().expect("child present until finish");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match child.try_wait()? {
                Some(st) if st.success() => return Ok(()),
                Some(st) => {
                    let err = anyhow!("{}: child exited with {st}", self.label);
                    return Err(match stop {
                        Err(e) => err.context(format!("{e:#}")),
                        Ok(()) => err,
                    });
                }
                None if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let err = anyhow!("{}: child did not exit after STOP; killed", self.label);
                    return Err(match stop {
                        Err(e) => err.context(format!("{e:#}")),
                        Ok(()) => err,
                    });
                }
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.kill_child();
    }
}

/// Restores the calling thread's CPU affinity on drop.
struct AffinityGuard(Option<nix::sched::CpuSet>);

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = affinity::restore(saved);
        }
    }
}

/// If this process was started as a child ([`CHILD_FLAG`] as first argument), runs the child
/// and exits; otherwise returns. Call it first thing in every harness `main`.
pub fn run_child_if_requested() {
    run_child_with(CHILD_FLAG, "axon-bench child", child_main);
}

/// The re-executed child entry both harnesses share: if `flag` is this process's first
/// argument, runs `child` on the rest, reports its error as `label: ...`, and exits.
pub(crate) fn run_child_with(flag: &str, label: &str, child: fn(&[String]) -> anyhow::Result<()>) {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(flag) {
        return;
    }
    let code = match child(&args[2..]) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{label}: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

/// Ties a child to its parent (`parent_pid`, as passed on its command line): it dies with
/// the parent, fails if the parent is already gone, and is pinned to `cpu` unless it is `-`.
pub(crate) fn adopt_child(parent_pid: &str, cpu: &str) -> anyhow::Result<u32> {
    let parent_pid: u32 = parent_pid.parse().context("parent pid")?;
    // Die with the parent, and make sure it did not die before we asked.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    if nix::unistd::getppid().as_raw() as u32 != parent_pid {
        bail!("parent {parent_pid} is gone");
    }
    if cpu != "-" {
        let cpu: usize = cpu.parse().context("cpu")?;
        affinity::pin_current_thread(cpu).with_context(|| format!("pinning child to {cpu}"))?;
    }
    Ok(parent_pid)
}

fn child_main(args: &[String]) -> anyhow::Result<()> {
    let [id, size, touch, run_id, parent_pid, cpu, rest @ ..] = args else {
        bail!("child arguments: mechanism size touch run-id parent-pid cpu [mechanism args]");
    };
    let parent_pid = adopt_child(parent_pid, cpu)?;
    let mechanism = find_mechanism(id).ok_or_else(|| anyhow!("unknown mechanism {id}"))?;
    let touch = Touch::parse(touch).ok_or_else(|| anyhow!("bad touch {touch}"))?;
    let payload = Payload::new(size.parse().context("size")?, touch);
    let ctx = Ctx {
        run_id: RunId(run_id.clone()),
        parent_pid,
    };
    let mut ponger = mechanism.open(&ctx, payload, rest)?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready")?;
        out.flush()?;
    }
    let wd = Watchdog::never();
    while ponger.pong(&wd)? != STOP {}
    Ok(())
}
