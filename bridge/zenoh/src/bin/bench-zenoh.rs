//! `bench-zenoh`: the Zenoh gateway against plain Zenoh, in one run.
//!
//! - **gateway**: an axon publisher in domain A -> `axon-zenoh` (export)
//!   -> Zenoh over TCP on loopback -> `axon-zenoh` (import) -> an axon
//!   subscriber in domain B; the two gateways are separate processes (the
//!   `axon-zenoh` binary beside this one);
//! - **plain Zenoh**: a Zenoh publisher in this process -> TCP on loopback
//!   -> a Zenoh subscriber in a child process (this binary, `--zenoh-sub`),
//!   with the publisher options the gateway uses (congestion control `Drop`
//!   for these best-effort rows, default priority, `express` off) and the
//!   same session configuration (peer, TCP on loopback, no scouting); the
//!   payload is filled before it is stamped and put (moved, not copied);
//! - **one shm hop**: an axon publisher in this process -> an axon
//!   subscriber in a child process (`--hop-sub`) sleeping in a wait set
//!   (`futex_waitv`), as the exporting gateway sleeps: the unit of the
//!   target, which allows the gateway path one such hop more than plain
//!   Zenoh (it has two: publisher -> exporter, importer -> subscriber).
//!
//! One-way latency: each sample carries its send time (CLOCK_REALTIME,
//! one machine) in its first 8 bytes; the receiver subtracts it. Samples
//! are paced (8 B every 1 ms, 1 MiB every 5 ms), so every receiver sleeps
//! between samples; the first 10% of each run are warm-up and are not
//! counted. The three paths are measured in rounds (`--rounds N`, default
//! 5), interleaved, their order rotating per round; per round and path the
//! median; the target bound `1.2 x plain + hop` is computed per round from
//! that round's numbers; the summary gives min / median / max over rounds.
//! Throughput: 1 MiB samples back to back, reliable (backpressure, Zenoh
//! `CongestionControl::Block`), bytes received over the time from the first
//! to the last arrival, once per round too. Last, the gateways' CPU time
//! over 2 s without traffic (an idle gateway must cost nothing).
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

/// The stamp in the first 8 bytes of a Zenoh payload, read where it lies.
fn stamp_of_zbytes(p: &zenoh::bytes::ZBytes) -> u64 {
    let mut b = [0u8; 8];
    let mut at = 0;
    for s in p.slices() {
        let n = s.len().min(8 - at);
        b[at..at + n].copy_from_slice(&s[..n]);
        at += n;
        if at == 8 {
            break;
        }
    }
    u64::from_le_bytes(b)
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
            let _ = tx.try_send((now, stamp_of_zbytes(s.payload())));
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
    print_result(&lat, first, last);
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
    drop(line);
    let session = open(&zconfig("peer", None, Some(&ep)));
    let publisher = session
        .declare_publisher(key.as_str())
        .congestion_control(cc)
        .wait()
        .unwrap();
    thread::sleep(Duration::from_millis(500)); // the subscription reaches us
    let buf = vec![0u8; size];
    for _ in 0..count {
        let mut b = buf.clone(); // the application fills its payload,
        b[..8].copy_from_slice(&now_ns().to_le_bytes()); // stamps it, puts it
        publisher.put(b).wait().unwrap();
        if let Some(p) = pace {
            thread::sleep(p);
        }
    }
    read_result(out, child)
}

/// Reads a child's `result` line.
fn read_result(mut out: BufReader<std::process::ChildStdout>, mut child: Child) -> Run {
    let mut line = String::new();
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

/// Prints a child's `result` line.
fn print_result(lat: &[u64], first: u64, last: u64) {
    let text: Vec<String> = lat.iter().map(u64::to_string).collect();
    println!("result {} {} {}", lat.len(), last - first, text.join(" "));
}

// ------------------------------------------------------------ one shm hop

/// The child: `--hop-sub DOMAIN TOPIC COUNT SIZE` (DOMAIN in /dev/shm).
/// Sleeps in a wait set as the exporting gateway does; prints `ready`, then
/// `result ...` as `--zenoh-sub` does.
fn hop_sub(args: &[String]) {
    let domain = Domain::new("/dev/shm", &args[0]).unwrap();
    let count: usize = args[2].parse().unwrap();
    let size: usize = args[3].parse().unwrap();
    let node = Node::builder("bench-hop-rx")
        .domain(domain)
        .create()
        .unwrap();
    let sub = node
        .subscriber::<[u8]>(&args[1])
        .max_len(size)
        .create()
        .unwrap();
    let mut ws = node.wait_set().unwrap();
    ws.subscriber(&sub).unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut lat = Vec::with_capacity(count);
    let (mut first, mut last) = (0u64, 0u64);
    let mut idle_since = Instant::now();
    while lat.len() < count && idle_since.elapsed() < Duration::from_secs(3) {
        ws.wait_timeout(Duration::from_millis(100)).unwrap();
        while let Ok(Some(smp)) = sub.try_recv() {
            let now = now_ns();
            if first == 0 {
                first = now;
            }
            last = now;
            lat.push(now.saturating_sub(stamp_of(&smp)));
            idle_since = Instant::now();
        }
    }
    print_result(&lat, first, last);
}

/// One shm hop to another process: `count` samples of `size` bytes.
fn shm_hop(domain: &Domain, topic: &str, size: usize, count: usize, pace: Duration) -> Run {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--hop-sub",
            domain.name(),
            topic,
            &count.to_string(),
            &size.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the shm subscriber");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "shm subscriber: {line}");
    let node = Node::builder("bench-hop-tx")
        .domain(domain.clone())
        .create()
        .unwrap();
    let publisher = node
        .publisher::<[u8]>(topic)
        .max_len(size)
        .create()
        .unwrap();
    for _ in 0..count {
        if let Ok(mut l) = publisher.loan_slice(size) {
            l[..8].copy_from_slice(&now_ns().to_le_bytes());
            l.send();
        }
        thread::sleep(pace);
    }
    read_result(out, child)
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

/// CPU time (user + system, in clock ticks) of a process so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the
    // 14th field of the line, stime the 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

fn size_name(size: usize) -> String {
    if size >= MIB {
        "1 MiB".into()
    } else {
        format!("{size} B")
    }
}

/// Min, median and max.
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--zenoh-sub") => return zenoh_sub(&args[1..]),
        Some("--hop-sub") => return hop_sub(&args[1..]),
        _ => {}
    }
    let rounds: usize = match args.as_slice() {
        [] => 5,
        [flag, n] if flag == "--rounds" => n.parse().ok().filter(|n| *n > 0).unwrap_or_else(|| {
            eprintln!("bench-zenoh: --rounds takes a positive number");
            std::process::exit(2)
        }),
        _ => {
            eprintln!("usage: bench-zenoh [--rounds N]   (gateway vs plain Zenoh on loopback; prints tables)");
            std::process::exit(2);
        }
    };
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
        (8usize, 500usize, Duration::from_millis(1)),
        (MIB, 100, Duration::from_millis(5)),
    ];
    // (size index) -> per round (hop, plain, gateway) medians, ns
    let mut med: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); lat_cases.len()];
    let mut thr: Vec<(f64, f64)> = Vec::new();
    println!("| round | size | one shm hop | plain Zenoh | gateway | bound 1.2 x plain + hop | gateway / plain | met |");
    println!("|---|---|---|---|---|---|---|---|");
    for round in 0..rounds {
        for (i, (size, count, pace)) in lat_cases.iter().copied().enumerate() {
            let mut r = [f64::NAN; 3];
            for k in 0..3 {
                let which = (k + round) % 3; // the order rotates per round
                let run = match which {
                    0 => shm_hop(&da, &format!("/hop/{i}"), size, count, pace),
                    1 => plain_zenoh(size, count, Some(pace), CongestionControl::Drop),
                    _ => axon_run(
                        &da,
                        &db,
                        Case {
                            topic: format!("/bench/lat{i}"),
                            size,
                            count,
                            pace: Some(pace),
                            reliable: false,
                        },
                        Some(&start_gws),
                    ),
                };
                let (p50, _p99, n) = stats(run.lat, count);
                if n < count * 9 / 10 {
                    eprintln!(
                        "round {round}: path {which}, {}: only {n}/{count} received",
                        size_name(size)
                    );
                }
                r[which] = p50;
            }
            let [hop, plain, gw] = r;
            let bound = 1.2 * plain + hop;
            println!(
                "| {round} | {} | {:.1} us | {:.1} us | {:.1} us | {:.1} us | {:.2}x | {} |",
                size_name(size),
                hop / 1e3,
                plain / 1e3,
                gw / 1e3,
                bound / 1e3,
                gw / plain,
                if gw <= bound { "yes" } else { "no" }
            );
            med[i].push((hop, plain, gw));
        }
        let z = plain_zenoh(MIB, 500, None, CongestionControl::Block);
        let g = axon_run(
            &da,
            &db,
            Case {
                topic: "/bench/thr".into(),
                size: MIB,
                count: 500,
                pace: None,
                reliable: true,
            },
            Some(&start_gws),
        );
        thr.push((gbps(&z), gbps(&g)));
    }
    println!();
    println!("Summary over {rounds} rounds (median one-way latency per round; min / median / max over rounds):");
    println!();
    println!("| size | one shm hop | plain Zenoh | gateway | bound 1.2 x plain + hop | gateway / bound | rounds met |");
    println!("|---|---|---|---|---|---|---|");
    let us =
        |(a, b, c): (f64, f64, f64)| format!("{:.1} / {:.1} / {:.1} us", a / 1e3, b / 1e3, c / 1e3);
    let x = |(a, b, c): (f64, f64, f64)| format!("{a:.2} / {b:.2} / {c:.2}");
    for (i, (size, _, _)) in lat_cases.iter().enumerate() {
        let m = &med[i];
        let col = |f: &dyn Fn(&(f64, f64, f64)) -> f64| spread(m.iter().map(f).collect());
        let met = m.iter().filter(|(h, p, g)| *g <= 1.2 * p + h).count();
        println!(
            "| {} | {} | {} | {} | {} | {} | {met}/{rounds} |",
            size_name(*size),
            us(col(&|t| t.0)),
            us(col(&|t| t.1)),
            us(col(&|t| t.2)),
            us(col(&|t| 1.2 * t.1 + t.0)),
            x(col(&|t| t.2 / (1.2 * t.1 + t.0))),
        );
    }
    println!();
    println!("| 1 MiB throughput | plain Zenoh (Block) | gateway (reliable) | gateway / plain (target >= 0.80) |");
    println!("|---|---|---|---|");
    let gb = |(a, b, c): (f64, f64, f64)| format!("{a:.2} / {b:.2} / {c:.2} GB/s");
    println!(
        "| min / median / max | {} | {} | {} |",
        gb(spread(thr.iter().map(|t| t.0).collect())),
        gb(spread(thr.iter().map(|t| t.1).collect())),
        x(spread(thr.iter().map(|t| t.1 / t.0).collect())),
    );
    // An idle gateway costs nothing: CPU time of both over 2 s without traffic.
    let pids: Vec<u32> = gws.borrow().iter().map(|g| g.0.id()).collect();
    let before: u64 = pids.iter().map(|p| cpu_ticks(*p)).sum();
    thread::sleep(Duration::from_secs(2));
    let after: u64 = pids.iter().map(|p| cpu_ticks(*p)).sum();
    println!();
    println!(
        "idle: the two gateways used {} clock ticks (1/100 s) of CPU in 2 s without traffic",
        after - before
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

/// Bytes received over the time from the first to the last arrival (GB/s).
fn gbps(r: &Run) -> f64 {
    if r.elapsed_ns == 0 {
        0.0
    } else {
        (r.received.saturating_sub(1) * MIB) as f64 / r.elapsed_ns as f64 // bytes/ns = GB/s
    }
}
