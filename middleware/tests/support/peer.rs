//! The multi-process harness shared by `multiprocess.rs` and `services.rs`:
//! a test binary is its own peer. Run with `AXON_TEST_ROLE` set, it plays
//! one participant in `AXON_TEST_DOMAIN` with `AXON_TEST_ARGS`
//! (`key=value,...`) and reports on stdout, one `event key=value ...` line
//! per event; the parent reads those lines through a [`Peer`]. Every child
//! is killed when its guard drops, and every wait has a deadline.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use libtest_mimic::Failed;

/// How long any wait for a peer may take before the trial fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// A peer's `key=value` arguments, or the fields of one of its lines.
pub type Args = HashMap<String, String>;

/// `a[k]` parsed, or `default` when absent or unparsable.
pub fn arg<T: std::str::FromStr>(a: &Args, k: &str, default: T) -> T {
    a.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// In a child: its role's domain and arguments (from the environment
/// [`Peer::spawn`] set).
pub fn role_env() -> (String, Args) {
    let domain = std::env::var("AXON_TEST_DOMAIN").unwrap_or_default();
    let args = std::env::var("AXON_TEST_ARGS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (domain, args)
}

/// A child process playing a role; killed on drop.
pub struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    role: String,
}

impl Peer {
    /// This test binary again, as `role` in `domain` with `args`.
    pub fn spawn(role: &str, domain: &str, args: &[(&str, String)]) -> Peer {
        let a: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let (mut child, rx) = super::spawn_with_lines(
            Command::new(std::env::current_exe().unwrap())
                .env("AXON_TEST_ROLE", role)
                .env("AXON_TEST_DOMAIN", domain)
                .env("AXON_TEST_ARGS", a.join(","))
                .stderr(Stdio::inherit()),
        );
        Peer {
            stdin: child.stdin.take(),
            child,
            lines: rx,
            role: role.to_string(),
        }
    }

    /// Waits for a line starting with `prefix`; returns its `key=value`
    /// fields (and the whole line as `line`). A line starting with `error`
    /// fails the trial with it.
    pub fn expect(&self, prefix: &str) -> Result<Args, Failed> {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => {
                    let mut fields: Args = line
                        .split_whitespace()
                        .skip(1)
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    fields.insert("line".into(), line);
                    return Ok(fields);
                }
                Ok(line) if line.starts_with("error") => {
                    return Err(format!("{} peer: {line}", self.role).into())
                }
                Ok(_) => continue,
                Err(_) => {
                    return Err(
                        format!("{} peer: no '{prefix}' line within {WAIT:?}", self.role).into(),
                    )
                }
            }
        }
    }

    /// Tells a peer waiting on its stdin to go on.
    pub fn go(&mut self) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = writeln!(s, "go");
        }
    }

    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (at most [`WAIT`]) for the peer to exit successfully.
    pub fn wait_exit(&mut self) -> Result<(), Failed> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait()? {
                return if st.success() {
                    Ok(())
                } else {
                    Err(format!("{} peer exited {st}", self.role).into())
                };
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(format!("{} peer did not exit within {WAIT:?}", self.role).into())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A per-trial domain (`<tag><pid>-<name>`), removed (segments and all)
/// when dropped.
pub struct TestDomain(pub String);

impl TestDomain {
    pub fn new(tag: &str, name: &str) -> Self {
        TestDomain(format!("{tag}{}-{name}", std::process::id()))
    }
}

impl Drop for TestDomain {
    fn drop(&mut self) {
        super::remove_domain(&self.0);
    }
}

/// `Ok` if `cond`, else a failed trial saying `what`.
pub fn ensure(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}
