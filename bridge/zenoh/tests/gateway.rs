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
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use axon::{Node, TypeDesc};
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
