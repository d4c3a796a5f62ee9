//! `demo-monitor`: prints, once a period, a table of every watched topic's
//! message rate and latencies.
//!
//! It subscribes without knowing the types at compile time (a
//! `RawSubscriber` on the existing topic; topics that do not exist yet are
//! retried every period) and reads only two things per sample:
//!
//! - `age`: `CLOCK_REALTIME` at receipt minus the `Header` stamp, for types
//!   that start with a `Header` (the stamp is realtime, so both sides use
//!   that clock). For derived messages that copy their input's stamp
//!   (`obstacle` carries its scan's) this is the end-to-end age of the
//!   measurement.
//! - `shm`: `axon::monotonic_ns()` at receipt minus the publisher's
//!   `sent_ns`, i.e. transport latency, both on `CLOCK_MONOTONIC`.
//!
//! Both include the monitor's polling delay (`poll_ms`, default 0.2 ms here).
//!
//! It polls rather than sleeps on the topics' wake words, so watching never
//! makes a publisher pay for a wake-up (as `axon topic hz` does). Its loop
//! is a wait set with two timers and no subscriber: `poll_ms` drains every
//! topic, `period` prints the table and retries missing topics. The wait
//! set also ends the loop on SIGINT/SIGTERM.
//!
//! Params: `topics` (list; default the demo robot's six), `period` (1.0 s),
//! `poll_ms` (0.2 unless set; at least the timer resolution,
//! `axon::waitset::min_period`, 50 us by default). Read at start.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axon::zerocopy::FromBytes;
use axon::{Node, OpenError, Qos, RawSubscriber, Seconds, TopicName};
use axon_msgs::{Header, Time};

const DEFAULT_TOPICS: [&str; 6] = ["camera/image", "scan", "imu", "obstacle", "cmd_vel", "odom"];

/// Message types of axon-msgs that start with a `Header`.
const WITH_HEADER: [&str; 9] = [
    "axon-msgs/Imu",
    "axon-msgs/LaserScan",
    "axon-msgs/Image",
    "axon-msgs/PointCloud",
    "axon-msgs/PoseStamped",
    "axon-msgs/TwistStamped",
    "axon-msgs/Odometry",
    "axon-msgs/JointState",
    "axon-msgs/BatteryState",
];

fn main() -> ExitCode {
    axon::run("monitor", monitor)
}

/// One watched topic and this period's numbers.
struct Watch {
    topic: TopicName,
    sub: Option<RawSubscriber>,
    has_header: bool,
    /// The last open error, printed once per change.
    last_error: Option<String>,
    count: u64,
    dropped_before: u64,
    age_ns: Vec<i64>,
    shm_ns: Vec<u64>,
}

fn monitor(node: &Node) -> anyhow::Result<()> {
    let names: Vec<String> = node.param_or(
        "topics",
        DEFAULT_TOPICS.iter().map(|s| s.to_string()).collect(),
    )?;
    let period = node.param_or("period", Seconds::new(1.0))?;
    let poll_ms: f64 = node.param_or("poll_ms", 0.2)?;
    let poll = Seconds::try_from(poll_ms / 1000.0)
        .context("param poll_ms")?
        .duration();
    let mut watches = names
        .iter()
        .map(|n| {
            let topic = node.resolve(n).with_context(|| format!("topic {n:?}"))?;
            Ok(Watch {
                topic,
                sub: None,
                has_header: false,
                last_error: None,
                count: 0,
                dropped_before: 0,
                age_ns: Vec::new(),
                shm_ns: Vec::new(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut set = node.wait_set()?;
    let poll_tick = set.interval(poll).context("param poll_ms")?;
    let table_tick = set.interval(period.duration()).context("param period")?;
    println!(
        "monitor: watching {} topics every {} s",
        watches.len(),
        period.get()
    );
    for w in &mut watches {
        open(node, w);
    }
    let mut window_start = Instant::now();
    let mut elapsed_total = Duration::ZERO;
    loop {
        let ready = set.wait()?;
        if ready.shutdown() {
            break;
        }
        if ready.contains(poll_tick) || ready.contains(table_tick) {
            for w in &mut watches {
                drain(w)?;
            }
        }
        if ready.contains(table_tick) {
            let window = window_start.elapsed();
            window_start = Instant::now();
            elapsed_total += window;
            print_table(&mut watches, window, elapsed_total);
            for w in watches.iter_mut().filter(|w| w.sub.is_none()) {
                open(node, w);
            }
        }
        if ready.reload() {
            // Watched topics and timers are set at start; nothing to re-read.
            match node.reload_params() {
                Ok(()) => println!("{}: params reloaded", node.name()),
                Err(e) => eprintln!("{}: reloading params: {e}", node.name()),
            }
        }
    }
    println!("monitor: stopping");
    Ok(())
}

/// Tries to subscribe to an existing topic of any type.
fn open(node: &Node, w: &mut Watch) {
    let qos = Qos {
        history: Some(64),
        ..Qos::default()
    };
    match RawSubscriber::create(node.domain(), w.topic.clone(), None, &qos, node.name()) {
        Ok(sub) => {
            let type_name = sub.type_name();
            w.has_header = WITH_HEADER.contains(&type_name.as_str());
            w.dropped_before = sub.dropped();
            println!("monitor: subscribed to {} ({type_name})", w.topic);
            w.sub = Some(sub);
            w.last_error = None;
        }
        Err(OpenError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            let msg = e.to_string();
            if w.last_error.as_ref() != Some(&msg) {
                eprintln!("monitor: {}: {msg}", w.topic);
                w.last_error = Some(msg);
            }
        }
    }
}

/// Reads every waiting sample of `w`.
fn drain(w: &mut Watch) -> anyhow::Result<()> {
    let Some(sub) = &w.sub else {
        return Ok(());
    };
    while let Some(sample) = sub.try_recv()? {
        let recv_mono = axon::monotonic_ns();
        // The clock of header stamps.
        let recv_real = Time::now().as_nanos();
        w.count += 1;
        w.shm_ns
            .push(recv_mono.saturating_sub(sample.info().sent_ns));
        if w.has_header {
            if let Ok((header, _)) = Header::read_from_prefix(sample.bytes()) {
                w.age_ns
                    .push(recv_real.saturating_sub(header.stamp.as_nanos()));
            }
        }
    }
    Ok(())
}

fn print_table(watches: &mut [Watch], window: Duration, total: Duration) {
    println!(
        "monitor: --- {:.1} s ---\n{:<16} {:<22} {:>8} {:>9} {:>9} {:>9} {:>9} {:>6}",
        total.as_secs_f64(),
        "topic",
        "type",
        "rate/s",
        "age p50",
        "age max",
        "shm p50",
        "shm max",
        "lost"
    );
    for w in watches.iter_mut() {
        let (type_name, lost) = match &w.sub {
            Some(sub) => {
                let lost = sub.dropped() - w.dropped_before;
                w.dropped_before = sub.dropped();
                (sub.type_name(), lost.to_string())
            }
            None => ("(not advertised)".to_string(), "-".to_string()),
        };
        let rate = w.count as f64 / window.as_secs_f64();
        let ages: Vec<u64> = w.age_ns.iter().map(|a| (*a).max(0) as u64).collect();
        let (age50, age_max) = percentiles(ages);
        let (shm50, shm_max) = percentiles(std::mem::take(&mut w.shm_ns));
        println!(
            "{:<16} {:<22} {:>8.1} {:>9} {:>9} {:>9} {:>9} {:>6}",
            w.topic.as_str(),
            type_name,
            rate,
            age50,
            age_max,
            shm50,
            shm_max,
            lost
        );
        w.count = 0;
        w.age_ns.clear();
    }
}

/// Median and maximum of `v` as text (`-` when empty).
fn percentiles(mut v: Vec<u64>) -> (String, String) {
    if v.is_empty() {
        return ("-".into(), "-".into());
    }
    v.sort_unstable();
    (fmt_ns(v[v.len() / 2]), fmt_ns(v[v.len() - 1]))
}

/// `ns` as µs below 1 ms, else ms.
fn fmt_ns(ns: u64) -> String {
    if ns < 1_000_000 {
        format!("{:.0}us", ns as f64 / 1e3)
    } else {
        format!("{:.2}ms", ns as f64 / 1e6)
    }
}
