//! Helpers of the gateway tests: the process, domain and network-namespace
//! harness shared with the socket link tests (`net`, one file included by
//! path), Zenoh configs, `axon-zenoh` processes, and a ticking publisher
//! with the receiving side's checks.

#![allow(dead_code)]

#[path = "../../../../launch/tests/support/net.rs"]
pub mod net;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use axon::{Domain, Node, WaitError};
#[allow(unused_imports)] // each test binary uses a part
pub use net::{command_in, free_port, Hosts, Proc, Shm, NET_WATCHDOG as WATCHDOG};

/// The gateway binary.
pub const GW: &str = env!("CARGO_BIN_EXE_axon-zenoh");

/// The `launch` binary, built beside `axon-zenoh` by `cargo test
/// --workspace` (`./test`); a clear failure if it was not built.
pub fn launch_bin() -> PathBuf {
    let p = net::dir_of(GW).join("launch");
    assert!(
        p.is_file(),
        "{} is missing: build it with `cargo build --release -p axon-launch` \
         (./test builds every binary of the workspace)",
        p.display()
    );
    p
}

/// A temporary directory for configs, named after the test.
pub fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("axon-zenoh-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A Zenoh json5 config: `mode`, listening on `listen`, connecting to
/// `connect` (endpoints such as `tcp/10.0.0.1:7447`), no multicast
/// scouting (tests must not find each other), and `extra` json5 members.
pub fn zconfig_eps(
    dir: &Path,
    name: &str,
    mode: &str,
    listen: &[String],
    connect: &[String],
    extra: &str,
) -> PathBuf {
    let eps = |v: &[String]| {
        v.iter()
            .map(|e| format!("\"{e}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "{{\n  mode: \"{mode}\",\n  listen: {{ endpoints: [{}] }},\n  connect: {{ endpoints: [{}] }},\n  \
         scouting: {{ multicast: {{ enabled: false }} }},\n{extra}}}\n",
        eps(listen),
        eps(connect)
    );
    let path = dir.join(format!("{name}.json5"));
    std::fs::write(&path, text).unwrap();
    path
}

/// [`zconfig_eps`] on loopback ports, nothing extra.
pub fn zconfig(dir: &Path, name: &str, mode: &str, listen: &[u16], connect: &[u16]) -> PathBuf {
    let eps = |ports: &[u16]| -> Vec<String> {
        ports.iter().map(|p| format!("tcp/127.0.0.1:{p}")).collect()
    };
    zconfig_eps(dir, name, mode, &eps(listen), &eps(connect), "")
}

/// Starts `axon-zenoh ARGS` for domain `shm`, in network namespace
/// `netns` if given.
pub fn spawn_gw_in(netns: Option<&str>, args: &[&str], shm: &Shm) -> Proc {
    let mut cmd = command_in(netns, GW);
    cmd.args(args).envs(shm.env());
    Proc::spawn(cmd, &format!("axon-zenoh {}", args.get(1).unwrap_or(&"")))
}

/// Starts `axon-zenoh ARGS` for domain `shm`.
pub fn spawn_gw(args: &[&str], shm: &Shm) -> Proc {
    spawn_gw_in(None, args, shm)
}

/// SIGTERM; asserts a clean exit and returns the log.
pub fn stop(mut gw: Proc) -> String {
    let code = gw.terminate();
    let log = gw.log();
    assert_eq!(code, 0, "axon-zenoh exited with {code}; log:\n{log}");
    log
}

/// A publisher thread: `[u8]` samples of 16 bytes, the first 8 a counter.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    /// The counter of the next sample.
    pub next: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Publishes on `topic` of `domain` every 5 ms until dropped.
pub fn ticker(domain: Domain, topic: &'static str) -> Ticker {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let next = Arc::new(AtomicU64::new(0));
    let counter = next.clone();
    let thread = thread::spawn(move || {
        let node = Node::builder("ticker").domain(domain).create().unwrap();
        let p = node.publisher::<[u8]>(topic).max_len(16).create().unwrap();
        let mut n = 0u64;
        while !flag.load(Ordering::SeqCst) {
            if let Ok(mut loan) = p.loan_slice(16) {
                loan[..8].copy_from_slice(&n.to_le_bytes());
                loan[8..].copy_from_slice(&[0xab; 8]);
                loan.send();
                n += 1;
                counter.store(n, Ordering::SeqCst);
            }
            thread::sleep(Duration::from_millis(5));
        }
    });
    Ticker {
        stop,
        next,
        thread: Some(thread),
    }
}

impl Ticker {
    /// The counter of the next sample.
    pub fn next(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A subscriber of `topic` in `domain` for [`Ticker`] samples.
pub fn sink(domain: &Domain, topic: &str) -> (Node, axon::Subscriber<[u8]>) {
    let n = Node::builder("sink")
        .domain(domain.clone())
        .create()
        .unwrap();
    let s = n
        .subscriber::<[u8]>(topic)
        .max_len(16)
        .history(64)
        .create()
        .unwrap();
    (n, s)
}

/// Receives until `want` samples arrived (watchdog); returns their counters.
pub fn receive(sub: &axon::Subscriber<[u8]>, want: usize, what: &str) -> Vec<u64> {
    let deadline = Instant::now() + WATCHDOG;
    let mut got = Vec::new();
    while got.len() < want {
        match sub.recv_timeout(Duration::from_millis(100)) {
            Ok(s) => {
                assert_eq!(s.len(), 16, "{what}: a sample of {} bytes", s.len());
                assert_eq!(&s[8..], &[0xab; 8], "{what}: payload bytes changed");
                got.push(u64::from_le_bytes(s[..8].try_into().unwrap()));
            }
            Err(WaitError::Timeout | WaitError::PublisherGone) => {}
            Err(e) => panic!("{what}: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: {what}: {} of {want} samples",
            got.len()
        );
    }
    got
}

/// Receives until a sample with counter `from` or later arrives (watchdog).
pub fn await_counter(sub: &axon::Subscriber<[u8]>, from: u64, what: &str) {
    let deadline = Instant::now() + WATCHDOG;
    while receive(sub, 1, what)[0] < from {
        assert!(
            Instant::now() < deadline,
            "watchdog: {what}: nothing published after {from}"
        );
    }
}

/// A Zenoh `<domain>` for keys, unique per test process.
pub fn zdomain(tag: &str) -> String {
    format!("t{}{tag}", std::process::id())
}

/// The Python interpreter with eclipse-zenoh: `AXON_PYTHON` (set by
/// `./test`), else target/venv.
pub fn python() -> PathBuf {
    let path = std::env::var_os("AXON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python")
        });
    assert!(
        path.exists(),
        "no Python with eclipse-zenoh: run ./test (it creates target/venv and sets \
         AXON_PYTHON); not found: {}",
        path.display()
    );
    path
}
