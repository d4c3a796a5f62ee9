//! The Zenoh gateway end to end: real `axon-zenoh` processes talking Zenoh
//! over TCP on loopback, each bridging its own axon domain (what two or
//! three hosts see), real signals. The same across network namespaces, a
//! Zenoh router and access control: `netns.rs`; an independent Zenoh peer
//! (Python `eclipse-zenoh`): `python_peer.rs`.
//!
//! Every wait has a watchdog; no test asserts a run time.

mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use axon::{LoanError, Node, TypeDesc};
use support::*;

#[test]
fn topic_crosses_two_gateways_and_resumes_after_sigkill_of_either() {
    let (a, b) = (Shm::new("zg", "a"), Shm::new("zg", "b"));
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
    let log_b = stop(gwb);
    assert!(log_b.contains("imported "), "{log_b}");
    stop(gwa);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fingerprint_mismatch_is_refused_and_names_both_types() {
    let (a, b) = (Shm::new("zg", "fa"), Shm::new("zg", "fb"));
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
    stop(gwb);
    stop(gwa);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mesh_of_three_with_a_router_delivers_once_and_never_loops() {
    let (a, b, c) = (
        Shm::new("zg", "ma"),
        Shm::new("zg", "mb"),
        Shm::new("zg", "mc"),
    );
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
    let log_a = stop(gwa);
    let (log_b, log_c) = (stop(gwb), stop(gwc));
    for (log, what) in [(&log_a, "A"), (&log_b, "B"), (&log_c, "C")] {
        assert!(!log.contains("panicked"), "{what}: {log}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// What [`flood`] saw: the counters B's slow subscriber received (in
/// arrival order), how often A's publisher found the topic full, and the
/// losses both gateways counted (A before export, B at import).
struct Flood {
    got: Vec<u64>,
    fulls: u64,
    lost_a: u64,
    lost_b: u64,
}

/// Samples of the flood and their size (large, so that the flood is more
/// than the loopback TCP buffers, Zenoh's queues and the topics' histories
/// hold together: only backpressure can then keep every sample).
const FLOOD_N: u64 = 400;
const FLOOD_LEN: usize = 256 * 1024;
/// Marks the warm-up samples (before the flood).
const MARK: u64 = u64::MAX;

/// The number after `before` in the line of `log` that contains `line`.
fn counter(log: &str, line: &str, before: &str) -> u64 {
    let l = log
        .lines()
        .find(|l| l.contains(line))
        .unwrap_or_else(|| panic!("no line with {line:?} in:\n{log}"));
    let rest = &l[l
        .find(before)
        .unwrap_or_else(|| panic!("{before:?} in {l}"))
        + before.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {before:?} in {l}"))
}

/// A publisher on A sends [`FLOOD_N`] samples as fast as it can to a
/// subscriber on B that is reliable and slow (2 ms per sample), through two
/// gateways; `/bulk` is `--reliable` on A's gateway if `reliable`.
fn flood(tag: &str, reliable: bool) -> Flood {
    let (a, b) = (
        Shm::new("zr", &format!("{tag}a")),
        Shm::new("zr", &format!("{tag}b")),
    );
    let dir = tmp_dir(tag);
    let port = free_port();
    let ca = zconfig(&dir, "a", "peer", &[port], &[]);
    let cb = zconfig(&dir, "b", "peer", &[], &[port]);
    let zd = zdomain(tag);
    let (ca, cb) = (ca.to_str().unwrap(), cb.to_str().unwrap());
    let warm = Arc::new(AtomicBool::new(false));
    let flooded = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let slow = {
        let (domain, warm, flooded) = (b.domain.clone(), warm.clone(), flooded.clone());
        thread::spawn(move || {
            let n = Node::builder("slow").domain(domain).create().unwrap();
            let sub = n
                .subscriber::<[u8]>("/bulk")
                .max_len(FLOOD_LEN)
                .reliable()
                .create()
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut got = Vec::new();
            let deadline = Instant::now() + WATCHDOG;
            let mut quiet_since = Instant::now();
            while (got.len() as u64) < FLOOD_N && Instant::now() < deadline {
                match sub.recv_timeout(Duration::from_millis(50)) {
                    Ok(s) => {
                        quiet_since = Instant::now();
                        let c = u64::from_le_bytes(s[..8].try_into().unwrap());
                        assert_eq!(s.len(), FLOOD_LEN, "sample {c}: {} bytes", s.len());
                        if c == MARK {
                            warm.store(true, Ordering::SeqCst);
                            continue;
                        }
                        assert_eq!(s[FLOOD_LEN - 1], c as u8, "sample {c}: last byte");
                        got.push(c);
                        drop(s);
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => {
                        // Best effort: the rest was lost. Done after 3 s
                        // without a sample once the flood is over.
                        if flooded.load(Ordering::SeqCst)
                            && quiet_since.elapsed() > Duration::from_secs(3)
                        {
                            break;
                        }
                    }
                }
            }
            got
        })
    };
    ready_rx.recv().unwrap();
    let na = Node::builder("fast")
        .domain(a.domain.clone())
        .create()
        .unwrap();
    let publisher = na
        .publisher::<[u8]>("/bulk")
        .max_len(FLOOD_LEN)
        .create()
        .unwrap();
    let mut args_a = vec![
        "--name",
        "gwa",
        "--config",
        ca,
        "--zenoh-domain",
        &zd,
        "--export",
        "/bulk",
    ];
    if reliable {
        args_a.extend(["--reliable", "/bulk"]);
    }
    let gwa = spawn_gw(&args_a, &a);
    gwa.wait_for("exporting /bulk");
    let gwb = spawn_gw(
        &[
            "--name",
            "gwb",
            "--config",
            cb,
            "--zenoh-domain",
            &zd,
            "--import",
            "/bulk",
        ],
        &b,
    );
    let send = |c: u64, fulls: &mut u64| {
        let deadline = Instant::now() + WATCHDOG;
        loop {
            match publisher.loan_slice(FLOOD_LEN) {
                Ok(mut l) => {
                    l[..8].copy_from_slice(&c.to_le_bytes());
                    l[FLOOD_LEN - 1] = c as u8;
                    l.send();
                    return;
                }
                Err(LoanError::Full { .. }) => {
                    *fulls += 1;
                    assert!(Instant::now() < deadline, "watchdog: sample {c} never sent");
                    thread::sleep(Duration::from_micros(200));
                }
                Err(e) => panic!("loan: {e}"),
            }
        }
    };
    // Warm-up until B's subscriber has a sample: both gateways know /bulk.
    let mut fulls = 0;
    let deadline = Instant::now() + WATCHDOG;
    while !warm.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "watchdog: nothing reached B");
        send(MARK, &mut fulls);
        thread::sleep(Duration::from_millis(20));
    }
    let mut fulls = 0;
    for c in 0..FLOOD_N {
        send(c, &mut fulls);
    }
    flooded.store(true, Ordering::SeqCst);
    let got = slow.join().unwrap();
    let (log_b, log_a) = (stop(gwb), stop(gwa));
    let _ = std::fs::remove_dir_all(dir);
    Flood {
        got,
        fulls,
        lost_a: counter(&log_a, "exported ", "samples, "),
        lost_b: counter(&log_b, "imported ", "samples, "),
    }
}

#[test]
fn reliable_topic_is_lossless_end_to_end_and_backpressures_the_remote_publisher() {
    let f = flood("rel", true);
    let want: Vec<u64> = (0..FLOOD_N).collect();
    assert!(
        f.got == want,
        "B received {} of {FLOOD_N} (first gap after {:?}); losses counted: A {}, B {}",
        f.got.len(),
        f.got.windows(2).find(|w| w[1] != w[0] + 1),
        f.lost_a,
        f.lost_b
    );
    assert_eq!((f.lost_a, f.lost_b), (0, 0), "no loss counted");
    assert!(
        f.fulls > 0,
        "A's publisher never found the topic full: the slow subscriber on B did not hold it back"
    );
}

#[test]
fn best_effort_topic_loses_counted_samples_and_never_blocks_the_publisher() {
    let f = flood("be", false);
    assert_eq!(f.fulls, 0, "a best-effort topic made A's publisher wait");
    assert!(
        (f.got.len() as u64) < FLOOD_N,
        "all {FLOOD_N} samples reached a subscriber slower than the flood"
    );
    assert!(
        f.got.windows(2).all(|w| w[0] < w[1]),
        "out of order or twice: {:?}",
        f.got
    );
    assert!(
        f.lost_a + f.lost_b > 0,
        "{} of {FLOOD_N} samples arrived and no loss was counted",
        f.got.len()
    );
}
