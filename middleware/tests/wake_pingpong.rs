//! Ping-pong between two processes through blocking receive, per wake
//! mechanism; prints one-way latency (round trip / 2). A measurement, not a
//! gate: `cargo test -p axon --release --test wake_pingpong -- --ignored --nocapture`.

use std::process::Command;
use std::time::{Duration, Instant};

use axon::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use axon::{Domain, Message, Node, WakeMechanism};

#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Ball {
    seq: u64,
}

const ROLE: &str = "AXON_PINGPONG_ROLE";
const ROUNDS: u64 = 20_000;

fn node(dom: &str, mech: WakeMechanism) -> Node {
    Node::builder("pp")
        .domain(Domain::new("/dev/shm", dom).unwrap())
        .wake(mech)
        .create()
        .unwrap()
}

fn mech(name: &str) -> WakeMechanism {
    match name {
        "futex" => WakeMechanism::Futex,
        "semaphore" => WakeMechanism::Semaphore,
        _ => WakeMechanism::Adaptive { spin: None },
    }
}

#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let a: Vec<&str> = role.split(' ').collect();
    let n = node(a[0], mech(a[1]));
    let ping = n.subscriber::<Ball>("/ping").create().unwrap();
    let pong = n.publisher::<Ball>("/pong").create().unwrap();
    while let Ok(b) = ping.recv_timeout(Duration::from_secs(10)) {
        let seq = b.seq;
        drop(b);
        pong.publish(&Ball { seq }).unwrap();
        if seq == ROUNDS {
            break;
        }
    }
}

fn run(name: &str) {
    let dom = format!("pp-{}-{name}", std::process::id());
    let n = node(&dom, mech(name));
    let pong = n.subscriber::<Ball>("/pong").create().unwrap();
    let ping = n.publisher::<Ball>("/ping").create().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture"])
        .env(ROLE, format!("{dom} {name}"))
        .spawn()
        .unwrap();
    while ping.raw().subscriber_count() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut lat = Vec::with_capacity(ROUNDS as usize);
    for seq in 1..=ROUNDS {
        let t = Instant::now();
        ping.publish(&Ball { seq }).unwrap();
        let b = pong.recv_timeout(Duration::from_secs(10)).expect("pong");
        assert_eq!(b.seq, seq);
        lat.push(t.elapsed().as_nanos() as u64 / 2);
    }
    let _ = child.wait();
    lat.sort_unstable();
    let q = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0;
    println!(
        "{name:>9}: one-way p50 {:.2} us  p99 {:.2} us  p99.9 {:.2} us",
        q(0.5),
        q(0.99),
        q(0.999)
    );
    let prefix = Domain::new("/dev/shm", &dom).unwrap().prefix();
    for e in std::fs::read_dir("/dev/shm").unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[test]
#[ignore = "measurement; run with --ignored --nocapture in release"]
fn pingpong() {
    for m in ["futex", "semaphore", "adaptive"] {
        run(m);
    }
}
