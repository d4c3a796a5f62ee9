//! Helpers shared by the tests that run processes across "hosts": the
//! socket link tests (`launch/tests/link.rs`) and the Zenoh gateway tests
//! (`bridge/zenoh/tests/*.rs`, which include this file by path). One copy:
//! a shared-memory domain removed on drop, a child process with its output
//! collected and watchdog waits, and network namespaces joined by veth
//! pairs to a bridge (each namespace a host with its own address).
//!
//! Every wait has a watchdog ([`NET_WATCHDOG`]); nothing asserts a run time.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use axon::Domain;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Watchdog of every wait here.
pub const NET_WATCHDOG: Duration = Duration::from_secs(60);

/// A domain whose segments are removed on drop (also those left by killed
/// processes).
pub struct Shm {
    pub domain: Domain,
    own_dir: bool,
}

impl Shm {
    /// Domain `<prefix><pid><tag>` in /dev/shm.
    pub fn new(prefix: &str, tag: &str) -> Shm {
        let name = format!("{prefix}{}{tag}", std::process::id());
        Shm {
            domain: Domain::new("/dev/shm", &name).unwrap(),
            own_dir: false,
        }
    }

    /// A domain in a private directory: another shared-memory namespace.
    pub fn private(prefix: &str, tag: &str) -> Shm {
        let dir = PathBuf::from(format!(
            "/dev/shm/axon-{prefix}test-{}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Shm {
            domain: Domain::new(dir, tag).unwrap(),
            own_dir: true,
        }
    }

    /// `AXON_DOMAIN` and `AXON_SHM_DIR` for a process using this domain.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AXON_DOMAIN".into(), self.domain.name().into()),
            (
                "AXON_SHM_DIR".into(),
                self.domain.dir().display().to_string(),
            ),
        ]
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        let prefix = self.domain.prefix();
        for e in std::fs::read_dir(self.domain.dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        if self.own_dir {
            let _ = std::fs::remove_dir_all(self.domain.dir());
        }
    }
}

/// A command for `program`, run in network namespace `netns` if given
/// (through `ip netns exec`).
pub fn command_in(netns: Option<&str>, program: &str) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, program]);
            c
        }
        None => Command::new(program),
    }
}

/// A running child with its stdout and stderr collected (one log, by line);
/// killed on drop.
pub struct Proc {
    child: Child,
    what: String,
    log: Arc<(Mutex<String>, Condvar)>,
}

fn collect(from: impl Read + Send + 'static, log: Arc<(Mutex<String>, Condvar)>) {
    thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            let (m, cv) = &*log;
            let mut s = m.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
            cv.notify_all();
        }
    });
}

impl Proc {
    /// Spawns `cmd` (stdin null, stdout and stderr collected); `what` names
    /// it in failures.
    pub fn spawn(mut cmd: Command, what: &str) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let log = Arc::new((Mutex::new(String::new()), Condvar::new()));
        collect(child.stdout.take().unwrap(), log.clone());
        collect(child.stderr.take().unwrap(), log.clone());
        Proc {
            child,
            what: what.to_owned(),
            log,
        }
    }

    /// Everything it printed so far.
    pub fn log(&self) -> String {
        self.log.0.lock().unwrap().clone()
    }

    /// Waits until `pat` appears `count` times in the log.
    pub fn wait_for_n(&self, pat: &str, count: usize) {
        let (m, cv) = &*self.log;
        let deadline = Instant::now() + NET_WATCHDOG;
        let mut s = m.lock().unwrap();
        while s.matches(pat).count() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "watchdog: {}: `{pat}` x{count} never appeared in:\n{s}",
                self.what
            );
            s = cv.wait_timeout(s, left).unwrap().0;
        }
    }

    /// Waits until `pat` appears in the log.
    pub fn wait_for(&self, pat: &str) {
        self.wait_for_n(pat, 1)
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends `sig`.
    pub fn signal(&self, sig: Signal) {
        let _ = kill(self.pid(), sig);
    }

    /// SIGKILL, reaped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `sig`, then the exit code (-1 for a death by signal); watchdog:
    /// SIGKILL and panic.
    pub fn stop_with(&mut self, sig: Signal) -> i32 {
        self.signal(sig);
        let deadline = Instant::now() + NET_WATCHDOG;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                thread::sleep(Duration::from_millis(50)); // let the readers drain
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("{} ignored {sig}:\n{}", self.what, self.log());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then the exit code.
    pub fn terminate(&mut self) -> i32 {
        self.stop_with(Signal::SIGTERM)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `ip ARGS`.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `n` hosts: network namespaces, each joined by a veth pair to one bridge
/// (in a namespace of its own, so the machine's network is never touched),
/// host `i` at `10.77.<pid % 250>.<i + 1>/24`. Everything is deleted on
/// drop (a namespace takes its veth ends with it).
pub struct Hosts {
    names: Vec<String>,
    veths: Vec<String>,
    bridge_ns: String,
    subnet: String,
}

impl Hosts {
    /// Makes them; `Err(why)` if this process is not root or `ip` fails
    /// (then the caller says so and falls back or stops). `tag` (at most 3
    /// characters) keeps tests of one process apart.
    pub fn create(tag: &str, n: usize) -> Result<Hosts, String> {
        assert!(
            tag.len() <= 3 && n <= 9,
            "tag `{tag}` or {n} hosts too long"
        );
        if !nix::unistd::geteuid().is_root() {
            return Err("not running as root".into());
        }
        let pid = std::process::id();
        let mut h = Hosts {
            names: (0..n).map(|i| format!("axh{pid}{tag}{i}")).collect(),
            veths: (0..n).map(|i| format!("v{pid}{tag}{i}h")).collect(),
            bridge_ns: format!("axh{pid}{tag}br"),
            subnet: format!("10.77.{}", pid % 250),
        };
        // Partly made: Drop deletes what exists.
        let made = std::mem::take(&mut h.names);
        ip(&["netns", "add", &h.bridge_ns])?;
        let br = "br0";
        ip(&["-n", &h.bridge_ns, "link", "add", br, "type", "bridge"])?;
        ip(&["-n", &h.bridge_ns, "link", "set", br, "up"])?;
        for (i, ns) in made.iter().enumerate() {
            ip(&["netns", "add", ns])?;
            h.names.push(ns.clone());
            let (veth, peer) = (&h.veths[i], format!("v{pid}{tag}{i}b"));
            ip(&["link", "add", veth, "type", "veth", "peer", "name", &peer])?;
            ip(&["link", "set", veth, "netns", ns])?;
            ip(&["link", "set", &peer, "netns", &h.bridge_ns])?;
            ip(&["-n", &h.bridge_ns, "link", "set", &peer, "master", br])?;
            ip(&["-n", &h.bridge_ns, "link", "set", &peer, "up"])?;
            let addr = format!("{}/24", h.addr(i));
            ip(&["-n", ns, "addr", "add", &addr, "dev", veth])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", veth, "up"])?;
        }
        Ok(h)
    }

    /// The namespace of host `i`.
    pub fn ns(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The address of host `i`.
    pub fn addr(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, i + 1)
    }

    /// The network interface of host `i` (inside its namespace).
    pub fn interface(&self, i: usize) -> &str {
        &self.veths[i]
    }

    /// Plugs host `i`'s cable in or out.
    pub fn set_link(&self, i: usize, up: bool) {
        ip(&[
            "-n",
            &self.names[i],
            "link",
            "set",
            &self.veths[i],
            if up { "up" } else { "down" },
        ])
        .unwrap();
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["netns", "del", &self.bridge_ns]);
    }
}

/// The directory of `path` (for finding sibling binaries of a test binary).
pub fn dir_of(path: &str) -> &Path {
    Path::new(path).parent().unwrap()
}
