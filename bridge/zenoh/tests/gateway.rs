//! The Zenoh gateway end to end: real `axon-zenoh` processes talking Zenoh
//! over TCP on loopback, each bridging its own axon domain (what two or
//! three hosts see), real signals, and an independent Zenoh peer (the
//! Python `eclipse-zenoh` package, pinned in requirements-test.txt at the
//! Rust crate's version).
//!
//! Every wait has a watchdog; no test asserts a run time.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use axon::{Domain, Node, TypeDesc, WaitError};

const GW: &str = env!("CARGO_BIN_EXE_axon-zenoh");
const WATCHDOG: Duration = Duration::from_secs(60);

/// A domain whose segments are removed on drop.
struct Shm {
    domain: Domain,
}

impl Shm {
    fn new(tag: &str) -> Shm {
        let name = format!("zg{}{tag}", std::process::id());
        Shm {
            domain: Domain::new("/dev/shm", &name).unwrap(),
        }
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
    }
}

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("axon-zenoh-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Zenoh json5 config: `mode`, listening on `listen`, connecting to
/// `connect`, no multicast scouting (tests must not find each other).
fn zconfig(
    dir: &std::path::Path,
    name: &str,
    mode: &str,
    listen: &[u16],
    connect: &[u16],
) -> PathBuf {
    let eps = |ports: &[u16]| {
        ports
            .iter()
            .map(|p| format!("\"tcp/127.0.0.1:{p}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "{{\n  mode: \"{mode}\",\n  listen: {{ endpoints: [{}] }},\n  connect: {{ endpoints: [{}] }},\n  \
         scouting: {{ multicast: {{ enabled: false }} }},\n}}\n",
        eps(listen),
        eps(connect)
    );
    let path = dir.join(format!("{name}.json5"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A running `axon-zenoh` with its stderr collected.
struct Gw {
    child: Child,
    log: Arc<(Mutex<String>, Condvar)>,
}

fn spawn_gw(args: &[&str], shm: &Shm) -> Gw {
    let mut child = Command::new(GW)
        .args(args)
        .env("AXON_DOMAIN", shm.domain.name())
        .env("AXON_SHM_DIR", shm.domain.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn axon-zenoh");
    let log = Arc::new((Mutex::new(String::new()), Condvar::new()));
    let stderr = child.stderr.take().unwrap();
    let l = log.clone();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let (m, cv) = &*l;
            let mut s = m.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
            cv.notify_all();
        }
    });
    Gw { child, log }
}

impl Gw {
    fn log(&self) -> String {
        self.log.0.lock().unwrap().clone()
    }

    fn wait_for(&self, pat: &str) {
        let (m, cv) = &*self.log;
        let deadline = Instant::now() + WATCHDOG;
        let mut s = m.lock().unwrap();
        while !s.contains(pat) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "watchdog: `{pat}` never logged; log:\n{s}");
            s = cv.wait_timeout(s, left).unwrap().0;
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit (watchdog: SIGKILL and fail).
    fn stop(mut self) -> String {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + WATCHDOG;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                thread::sleep(Duration::from_millis(50)); // let the reader drain
                let log = self.log();
                assert!(st.success(), "axon-zenoh exited with {st}; log:\n{log}");
                return log;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("watchdog: axon-zenoh did not stop; log:\n{}", self.log());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// A publisher thread: `[u8]` samples of 16 bytes, the first 8 a counter.
struct Ticker {
    stop: Arc<AtomicBool>,
    /// The counter of the next sample.
    next: Arc<std::sync::atomic::AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

fn ticker(domain: Domain, topic: &'static str) -> Ticker {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
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

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Receives until `want` samples arrived (watchdog); returns their counters.
fn receive(sub: &axon::Subscriber<[u8]>, want: usize, what: &str) -> Vec<u64> {
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
fn await_counter(sub: &axon::Subscriber<[u8]>, from: u64, what: &str) {
    let deadline = Instant::now() + WATCHDOG;
    while receive(sub, 1, what)[0] < from {
        assert!(
            Instant::now() < deadline,
            "watchdog: {what}: nothing published after {from}"
        );
    }
}

fn zdomain(tag: &str) -> String {
    format!("t{}{tag}", std::process::id())
}

#[test]
fn topic_crosses_two_gateways_and_resumes_after_sigkill_of_either() {
    let (a, b) = (Shm::new("a"), Shm::new("b"));
    let dir = tmp_dir("two");
    let port = free_port();
    let ca = zconfig(&dir, "a", "peer", &[port], &[]);
    let cb = zconfig(&dir, "b", "peer", &[], &[port]);
    let zd = zdomain("two");
    let ca = ca.to_str().unwrap();
    let cb = cb.to_str().unwrap();
    let args_a = [
        "--name",
        "gwa",
        "--config",
        ca,
        "--zenoh-domain",
        &zd,
        "--export",
        "/tick",
    ];
    let args_b = [
        "--name",
        "gwb",
        "--config",
        cb,
        "--zenoh-domain",
        &zd,
        "--import",
        "/**",
    ];
    let tick = ticker(a.domain.clone(), "/tick");
    let mut gwa = spawn_gw(&args_a, &a);
    gwa.wait_for("exporting /tick");
    let mut gwb = spawn_gw(&args_b, &b);
    gwb.wait_for("importing /tick");
    let nb = Node::builder("sink")
        .domain(b.domain.clone())
        .create()
        .unwrap();
    let sub = nb.subscriber::<[u8]>("/tick").max_len(16).create().unwrap();
    let got = receive(&sub, 50, "A -> B");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");

    // SIGKILL of the importing gateway: a new one takes its place.
    gwb.kill();
    let gwb = spawn_gw(&args_b, &b);
    let dead_at = tick.next.load(Ordering::SeqCst);
    gwb.wait_for("importing /tick");
    // Samples published after the old gateway died can only have come
    // through the new one.
    await_counter(&sub, dead_at, "A -> B after B's gateway was killed");

    // SIGKILL of the exporting gateway (the one B connects to): B's Zenoh
    // reconnects to the new one.
    gwa.kill();
    let dead_at = tick.next.load(Ordering::SeqCst);
    let gwa = spawn_gw(&args_a, &a);
    gwa.wait_for("exporting /tick");
    await_counter(&sub, dead_at, "A -> B after A's gateway was killed");
    receive(&sub, 20, "A -> B still flowing");
    let log_b = gwb.stop();
    assert!(log_b.contains("imported "), "{log_b}");
    gwa.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fingerprint_mismatch_is_refused_and_names_both_types() {
    let (a, b) = (Shm::new("fa"), Shm::new("fb"));
    let dir = tmp_dir("fp");
    let port = free_port();
    let ca = zconfig(&dir, "a", "peer", &[port], &[]);
    let cb = zconfig(&dir, "b", "peer", &[], &[port]);
    let zd = zdomain("fp");
    // In B, /pose already carries u64 slices; A publishes u8 slices.
    let nb = Node::builder("local")
        .domain(b.domain.clone())
        .create()
        .unwrap();
    let _other = nb.subscriber::<[u64]>("/pose").max_len(4).create().unwrap();
    let _tick = ticker(a.domain.clone(), "/pose");
    let gwa = spawn_gw(
        &[
            "--name",
            "gwa",
            "--config",
            ca.to_str().unwrap(),
            "--zenoh-domain",
            &zd,
            "--export",
            "/**",
        ],
        &a,
    );
    gwa.wait_for("exporting /pose");
    let gwb = spawn_gw(
        &[
            "--name",
            "gwb",
            "--config",
            cb.to_str().unwrap(),
            "--zenoh-domain",
            &zd,
            "--import",
            "/**",
        ],
        &b,
    );
    gwb.wait_for("refused topic /pose");
    let log = gwb.log();
    let line = log
        .lines()
        .find(|l| l.contains("refused topic /pose"))
        .unwrap();
    let (ours, theirs) = (TypeDesc::of::<[u64]>().name, TypeDesc::of::<[u8]>().name);
    assert!(
        line.contains(&ours) && line.contains(&theirs),
        "both types named: {line}"
    );
    gwb.stop();
    gwa.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mesh_of_three_with_a_router_delivers_once_and_never_loops() {
    let (a, b, c) = (Shm::new("ma"), Shm::new("mb"), Shm::new("mc"));
    let dir = tmp_dir("mesh");
    let port = free_port();
    // A's gateway is the Zenoh router; B and C are peers connected to it
    // (and learn of each other through it). Every gateway exports and
    // imports everything: only the loop rule stops samples from circling.
    let ca = zconfig(&dir, "a", "router", &[port], &[]);
    let cb = zconfig(&dir, "b", "peer", &[], &[port]);
    let cc = zconfig(&dir, "c", "peer", &[], &[port]);
    let zd = zdomain("mesh");
    let gw = |name: &str, cfg: &PathBuf, shm: &Shm| {
        spawn_gw(
            &[
                "--name",
                name,
                "--config",
                cfg.to_str().unwrap(),
                "--zenoh-domain",
                &zd,
                "--export",
                "/**",
                "--import",
                "/**",
            ],
            shm,
        )
    };
    let subscribe = |shm: &Shm| {
        let n = Node::builder("sink")
            .domain(shm.domain.clone())
            .create()
            .unwrap();
        let s = n
            .subscriber::<[u8]>("/tick")
            .max_len(16)
            .history(64)
            .create()
            .unwrap();
        (n, s)
    };
    let (_na, sub_a) = subscribe(&a);
    let (_nb, sub_b) = subscribe(&b);
    let (_nc, sub_c) = subscribe(&c);
    let gwa = gw("gwa", &ca, &a);
    let gwb = gw("gwb", &cb, &b);
    let gwc = gw("gwc", &cc, &c);
    let _tick = ticker(a.domain.clone(), "/tick");
    gwa.wait_for("exporting /tick");
    gwb.wait_for("importing /tick");
    gwc.wait_for("importing /tick");
    // B and C export /tick too (it exists there); their exporters must skip
    // what their importers published, or A, B and C would see copies.
    gwb.wait_for("exporting /tick");
    gwc.wait_for("exporting /tick");
    // Watch all three domains for 3 s of steady flow: every counter at most
    // once in each (A sees its own publisher's, B and C the gateways').
    let mut seen = [HashSet::new(), HashSet::new(), HashSet::new()];
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        for (i, sub) in [&sub_a, &sub_b, &sub_c].into_iter().enumerate() {
            while let Ok(Some(s)) = sub.try_recv() {
                let n = u64::from_le_bytes(s[..8].try_into().unwrap());
                assert!(
                    seen[i].insert(n),
                    "domain {i}: sample {n} arrived twice (a loop)"
                );
            }
        }
        thread::sleep(Duration::from_millis(2));
    }
    for (i, s) in seen.iter().enumerate() {
        assert!(s.len() > 100, "domain {i}: only {} samples in 3 s", s.len());
    }
    let log_a = gwa.stop();
    let (log_b, log_c) = (gwb.stop(), gwc.stop());
    for (log, what) in [(&log_a, "A"), (&log_b, "B"), (&log_c, "C")] {
        assert!(!log.contains("panicked"), "{what}: {log}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
