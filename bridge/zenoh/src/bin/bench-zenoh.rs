//! `bench-zenoh`: the Zenoh gateway against plain Zenoh, in one run.
//!
//! - **gateway**: an axon publisher in domain A -> `axon-zenoh` (export)
//!   -> Zenoh over TCP on loopback -> `axon-zenoh` (import) -> an axon
//!   subscriber in domain B; the two gateways are separate processes (the
//!   `axon-zenoh` binary beside this one);
//! - **plain Zenoh**: a Zenoh publisher in this process -> TCP on loopback
//!   -> a Zenoh subscriber in a child process (this binary, `--zenoh-sub`),
//!   with the same congestion control the gateway uses;
//! - **one shm hop**: an axon publisher -> subscriber in one domain (what
//!   the gateway path adds twice, once on each side).
//!
//! One-way latency: each sample carries its send time (CLOCK_REALTIME,
//! one machine) in its first 8 bytes; the receiver subtracts it. Samples
//! are paced (8 B every 1 ms, 1 MiB every 5 ms); the first 10% are warm-up
//! and are not counted. Throughput: 1 MiB samples back to back, reliable
//! (backpressure, Zenoh `CongestionControl::Block`), bytes received over
//! the time from the first to the last arrival.
//!
//! Not run by CI (a standalone benchmark binary, like bench-queue); it lives
//! in this crate so that the benches crate never compiles Zenoh.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axon::{Domain, Node, WaitError};
use zenoh::qos::CongestionControl;
use zenoh::Wait;

const MIB: usize = 1 << 20;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn stamp_of(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().unwrap())
}

/// Median and 99th percentile (ns) of the samples after the warm-up.
fn stats(mut lat: Vec<u64>, sent: usize) -> (f64, f64, usize) {
    let n = lat.len();
    let skip = sent / 10;
    lat = lat.split_off(skip.min(n));
    lat.sort_unstable();
    if lat.is_empty() {
        return (f64::NAN, f64::NAN, n);
    }
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize] as f64;
    (p(0.5), p(0.99), n)
}

fn zconfig(mode: &str, listen: Option<&str>, connect: Option<&str>) -> String {
    let list = |e: Option<&str>| e.map(|e| format!("\"{e}\"")).unwrap_or_default();
    format!(
        "{{ mode: \"{mode}\", listen: {{ endpoints: [{}] }}, connect: {{ endpoints: [{}] }}, \
         scouting: {{ multicast: {{ enabled: false }} }} }}",
        list(listen),
        list(connect)
    )
}

fn open(json5: &str) -> zenoh::Session {
    let cfg = zenoh::Config::from_json5(json5).expect("zenoh config");
    zenoh::open(cfg).wait().expect("open a Zenoh session")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ------------------------------------------------------------ plain Zenoh

/// The child: `--zenoh-sub ENDPOINT KEY COUNT`. Prints `ready`, then
/// `result <received> <elapsed_ns> <latency>...` when `COUNT` samples
/// arrived or nothing came for 3 s.
fn zenoh_sub(args: &[String]) {
    let (ep, key) = (&args[0], &args[1]);
    let count: usize = args[2].parse().unwrap();
    let session = open(&zconfig("peer", Some(ep), None));
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, u64)>(count.max(1));
    let _sub = session
        .declare_subscriber(key.as_str())
        .callback(move |s| {
            let now = now_ns();
            let b = s.payload().to_bytes();
            let _ = tx.try_send((now, stamp_of(&b)));
        })
        .wait()
        .unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut lat = Vec::with_capacity(count);
    let (mut first, mut last) = (0u64, 0u64);
    while lat.len() < count {
        match rx.recv_timeout(Duration::from_secs(3)) {
            Ok((now, stamp)) => {
                if first == 0 {
                    first = now;
                }
                last = now;
                lat.push(now.saturating_sub(stamp));
            }
            Err(_) => break,
        }
    }
    let text: Vec<String> = lat.iter().map(u64::to_string).collect();
    println!("result {} {} {}", lat.len(), last - first, text.join(" "));
}

struct Run {
    received: usize,
    elapsed_ns: u64,
    lat: Vec<u64>,
}

/// Publishes `count` samples of `size` bytes to a child subscriber process,
/// every `pace` (or back to back), with congestion control `cc`.
fn plain_zenoh(size: usize, count: usize, pace: Option<Duration>, cc: CongestionControl) -> Run {
    let ep = format!("tcp/127.0.0.1:{}", free_port());
    let key = format!("bench/{}/{size}", std::process::id());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--zenoh-sub", &ep, &key, &count.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the Zenoh subscriber");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "subscriber: {line}");
    let session = open(&zconfig("peer", None, Some(&ep)));
    let publisher = session
        .declare_publisher(key.as_str())
        .congestion_control(cc)
        .wait()
        .unwrap();
    thread::sleep(Duration::from_millis(500)); // the subscription reaches us
    let mut buf = vec![0u8; size];
    for _ in 0..count {
        buf[..8].copy_from_slice(&now_ns().to_le_bytes());
        publisher.put(buf.clone()).wait().unwrap();
        if let Some(p) = pace {
            thread::sleep(p);
        }
    }
    line.clear();
    out.read_line(&mut line).unwrap();
    let _ = child.wait();
    let mut it = line
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse::<u64>().unwrap());
    let received = it.next().unwrap_or(0) as usize;
    let elapsed_ns = it.next().unwrap_or(0);
    Run {
        received,
        elapsed_ns,
        lat: it.collect(),
    }
}

// ------------------------------------------------------------------ axon

struct Gw(Child);

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = nix_term(self.0.id());
        let _ = self.0.wait();
    }
}

/// SIGTERM through `kill` (no libc in this crate).
fn nix_term(pid: u32) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
}

/// Starts `axon-zenoh` and waits until its stderr shows `until` (60 s watchdog).
fn gateway(args: &[&str], domain: &Domain, until: &str) -> Gw {
    let exe = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("axon-zenoh");
    let mut child = Command::new(&exe)
        .args(args)
        .env("AXON_DOMAIN", domain.name())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", exe.display()));
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let until = until.to_owned();
    thread::spawn(move || {
        let mut told = false;
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if !told && line.contains(&until) {
                let _ = tx.send(());
                told = true;
            }
            if line.contains("refused") || line.contains("cannot") {
                eprintln!("{line}");
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("watchdog: the gateway never got ready");
    Gw(child)
}

/// One axon measurement: `count` samples of `size` bytes on `topic`,
/// paced or back to back.
struct Case {
    topic: String,
    size: usize,
    count: usize,
    pace: Option<Duration>,
    reliable: bool,
}

/// Publishes `c` in `from`, received in `to` (the same domain: one shm
/// hop); `gw` starts the gateways once both ends exist.
fn axon_run(from: &Domain, to: &Domain, c: Case, gw: Option<&dyn Fn()>) -> Run {
    let Case {
        topic,
        size,
        count,
        pace,
        reliable,
    } = c;
    let rx_node = Node::builder("bench-rx")
        .domain(to.clone())
        .create()
        .unwrap();
    let mut b = rx_node.subscriber::<[u8]>(&topic).max_len(size);
    if reliable {
        b = b.reliable();
    }
    let sub = b.create().unwrap();
    let tx_node = Node::builder("bench-tx")
        .domain(from.clone())
        .create()
        .unwrap();
    let publisher = tx_node
        .publisher::<[u8]>(&topic)
        .max_len(size)
        .create()
        .unwrap();
    if let Some(start) = gw {
        start();
    }
    // Warm up until a sample gets through (the gateways have imported).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut l) = publisher.loan_slice(size) {
            l[..8].copy_from_slice(&0u64.to_le_bytes());
            l.send();
        }
        if sub.recv_timeout(Duration::from_millis(50)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: nothing arrives on {topic}"
        );
    }
    while sub.try_recv().ok().flatten().is_some() {}
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    thread::scope(|s| {
        let h = s.spawn(move || {
            let mut lat = Vec::with_capacity(count);
            let (mut first, mut last) = (0u64, 0u64);
            let mut idle_since = Instant::now();
            while lat.len() < count {
                match sub.recv_timeout(Duration::from_millis(100)) {
                    Ok(smp) => {
                        let now = now_ns();
                        if first == 0 {
                            first = now;
                        }
                        last = now;
                        lat.push(now.saturating_sub(stamp_of(&smp)));
                        idle_since = Instant::now();
                    }
                    Err(WaitError::Timeout) | Err(WaitError::PublisherGone) => {
                        if d.load(Ordering::SeqCst) && idle_since.elapsed() > Duration::from_secs(3)
                        {
                            break;
                        }
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Run {
                received: lat.len(),
                elapsed_ns: last - first,
                lat,
            }
        });
        for _ in 0..count {
            loop {
                match publisher.loan_slice(size) {
                    Ok(mut l) => {
                        l[..8].copy_from_slice(&now_ns().to_le_bytes());
                        l.send();
                        break;
                    }
                    Err(_) => thread::sleep(Duration::from_micros(50)),
                }
            }
            if let Some(p) = pace {
                thread::sleep(p);
            }
        }
        done.store(true, Ordering::SeqCst);
        h.join().unwrap()
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--zenoh-sub") {
        zenoh_sub(&args[1..]);
        return;
    }
    if !args.is_empty() {
        eprintln!("usage: bench-zenoh   (gateway vs plain Zenoh on loopback; prints a table)");
        std::process::exit(2);
    }
    let pid = std::process::id();
    let da = Domain::new("/dev/shm", &format!("bz{pid}a")).unwrap();
    let db = Domain::new("/dev/shm", &format!("bz{pid}b")).unwrap();
    let port = free_port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("bench-zenoh-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("a.json5");
    let cb = dir.join("b.json5");
    std::fs::write(&ca, zconfig("peer", Some(&listen), None)).unwrap();
    std::fs::write(&cb, zconfig("peer", None, Some(&listen))).unwrap();
    let zd = format!("bench{pid}");
    let (ca, cb) = (ca.display().to_string(), cb.display().to_string());
    let gws: std::cell::RefCell<Vec<Gw>> = Default::default();
    let start_gws = || {
        if gws.borrow().is_empty() {
            let a = gateway(
                &[
                    "--name",
                    "ga",
                    "--config",
                    &ca,
                    "--zenoh-domain",
                    &zd,
                    "--export",
                    "/bench/**",
                    "--reliable",
                    "/bench/thr",
                ],
                &da,
                "Zenoh session",
            );
            let b = gateway(
                &[
                    "--name",
                    "gb",
                    "--config",
                    &cb,
                    "--zenoh-domain",
                    &zd,
                    "--import",
                    "/bench/**",
                ],
                &db,
                "Zenoh session",
            );
            gws.borrow_mut().extend([a, b]);
        }
    };

    let lat_cases = [
        (8usize, 2000usize, Duration::from_millis(1)),
        (MIB, 400, Duration::from_millis(5)),
    ];
    println!("| path | size | median one-way | p99 one-way | received |");
    println!("|---|---|---|---|---|");
    let row = |path: &str, size: usize, r: &Run, sent: usize| -> f64 {
        let (p50, p99, n) = stats(r.lat.clone(), sent);
        let sz = if size >= MIB {
            "1 MiB".into()
        } else {
            format!("{size} B")
        };
        println!(
            "| {path} | {sz} | {:.1} us | {:.1} us | {n}/{sent} |",
            p50 / 1e3,
            p99 / 1e3
        );
        p50
    };
    let mut summary = Vec::new();
    for (i, (size, count, pace)) in lat_cases.iter().copied().enumerate() {
        let case = |topic: String| Case {
            topic,
            size,
            count,
            pace: Some(pace),
            reliable: false,
        };
        let hop = axon_run(&da, &da, case(format!("/hop/{i}")), None);
        let hop50 = row("axon, one shm hop", size, &hop, count);
        let z = plain_zenoh(size, count, Some(pace), CongestionControl::Drop);
        let z50 = row("plain Zenoh pub -> sub (2 processes)", size, &z, count);
        let g = axon_run(&da, &db, case(format!("/bench/lat{i}")), Some(&start_gws));
        let g50 = row("axon -> gateway -> gateway -> axon", size, &g, count);
        summary.push((size, g50, z50, hop50));
    }
    let thr_count = 1000;
    let z = plain_zenoh(MIB, thr_count, None, CongestionControl::Block);
    let thr = Case {
        topic: "/bench/thr".into(),
        size: MIB,
        count: thr_count,
        pace: None,
        reliable: true,
    };
    let g = axon_run(&da, &db, thr, Some(&start_gws));
    let gbps = |r: &Run| {
        if r.elapsed_ns == 0 {
            0.0
        } else {
            (r.received.saturating_sub(1) * MIB) as f64 / r.elapsed_ns as f64 // bytes/ns = GB/s
        }
    };
    println!();
    println!("| 1 MiB throughput | GB/s | received |");
    println!("|---|---|---|");
    println!(
        "| plain Zenoh (Block) | {:.2} | {}/{thr_count} |",
        gbps(&z),
        z.received
    );
    println!(
        "| gateway (reliable) | {:.2} | {}/{thr_count} |",
        gbps(&g),
        g.received
    );
    println!();
    for (size, g50, z50, hop50) in summary {
        let target = 1.2 * z50 + hop50;
        println!(
            "latency {}: gateway {:.1} us vs target 1.2 x Zenoh + one hop = {:.1} us: {} ({:.2}x Zenoh)",
            if size >= MIB { "1 MiB".to_owned() } else { format!("{size} B") },
            g50 / 1e3,
            target / 1e3,
            if g50 <= target { "MET" } else { "MISSED" },
            g50 / z50
        );
    }
    let ratio = gbps(&g) / gbps(&z);
    println!(
        "throughput 1 MiB: gateway {:.0}% of plain Zenoh (target >= 80%): {}",
        ratio * 100.0,
        if ratio >= 0.8 { "MET" } else { "MISSED" }
    );
    drop(gws);
    for d in [&da, &db] {
        let prefix = d.prefix();
        for e in std::fs::read_dir(d.dir()).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
