//! The real tests of the topic layer: publishers and subscribers in separate
//! processes, real shared memory, real SIGKILL.
//!
//! This binary is its own peer: run normally it lists the trials below
//! (libtest-mimic gives the usual `cargo test` interface); run with
//! `AXON_TEST_ROLE` set it plays one participant (see `role_*`) and reports
//! on stdout, one `key=value ...` line per event. Every child is killed when
//! its guard drops, and every wait has a deadline: no trial can hang.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axon::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use axon::{LoanError, Message, Node, OpenError};
use libtest_mimic::{Arguments, Failed, Trial};

mod support;

use support::peer::{arg, ensure, role_env, Args, Peer, TestDomain, WAIT};

fn node_in(domain: &str) -> Node {
    support::node_in(domain, "mp")
}

#[derive(Debug, Clone, Copy, PartialEq, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Ping {
    producer: u64,
    seq: u64,
    payload: [u64; 4],
}

#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Other {
    x: f32,
    y: f32,
}

// ---------------------------------------------------------------- harness

// ---------------------------------------------------------------- roles

fn run_role(role: &str) -> i32 {
    let (domain, a) = role_env();
    let node = node_in(&domain);
    let r = match role {
        "pub" => role_pub(&node, &a),
        "sub" => role_sub(&node, &a),
        "hold" => role_hold(&node, &a),
        "stream" => role_stream(&node, &a),
        "open-sub" => role_open_sub(&node, &a),
        _ => Err(format!("unknown role {role}")),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            println!("error {e}");
            1
        }
    }
}

fn wait_stdin_go() {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// Publishes `count` Pings; waits for `subs` subscribers first; reliable
/// backpressure is waited out with `loan_timeout`.
fn role_pub(node: &Node, a: &Args) -> Result<(), String> {
    let p = node
        .publisher::<Ping>(&arg(a, "topic", "/t".to_string()))
        .history(arg(a, "history", 8))
        .max_publishers(arg(a, "max_publishers", 4))
        .create()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + WAIT;
    while p.raw().subscriber_count() < arg(a, "subs", 0) {
        if Instant::now() > deadline {
            return Err("subscribers never came".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let producer = arg(a, "producer", 0u64);
    for seq in 1..=arg(a, "count", 0u64) {
        let mut l = p.loan_timeout(WAIT).map_err(|e| e.to_string())?;
        *l = Ping {
            producer,
            seq,
            payload: [seq; 4],
        };
        l.send();
    }
    println!("published count={}", arg(a, "count", 0u64));
    if arg(a, "linger", 0) == 1 {
        wait_stdin_go();
    }
    Ok(())
}

/// Receives until `expect` samples (or `go` on stdin, with `drain=1`), checks
/// per-producer order, reports counts.
fn role_sub(node: &Node, a: &Args) -> Result<(), String> {
    let mut b = node
        .subscriber::<Ping>(&arg(a, "topic", "/t".to_string()))
        .history(arg(a, "history", 8));
    if arg(a, "reliable", 0) == 1 {
        b = b.reliable();
    }
    if arg(a, "transient", 0) == 1 {
        b = b.transient_local();
    }
    let s = b.create().map_err(|e| e.to_string())?;
    println!("ready");
    if arg(a, "drain", 0) == 1 {
        wait_stdin_go();
    }
    let expect = arg(a, "expect", 0u64);
    let delay_us = arg(a, "delay_us", 0u64);
    let idle_ms = arg(a, "idle_ms", 0u64);
    let mut last: HashMap<u64, u64> = HashMap::new();
    let (mut received, mut in_order, mut gaps) = (0u64, true, 0u64);
    let mut seqs = Vec::new();
    let deadline = Instant::now() + WAIT;
    let mut last_seen = Instant::now();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    while received < expect || (expect == 0 && idle_ms > 0) {
        if Instant::now() > deadline {
            break;
        }
        match s.try_recv().map_err(|e| e.to_string())? {
            Some(x) => {
                last_seen = Instant::now();
                let prev = last.insert(x.producer, x.seq).unwrap_or(0);
                in_order &= x.seq > prev && x.payload == [x.seq; 4];
                gaps += x.seq - prev - 1;
                received += 1;
                if seqs.len() < 16 {
                    seqs.push(x.seq);
                }
                if delay_us > 0 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    std::thread::sleep(Duration::from_micros(rng % (2 * delay_us)));
                }
            }
            None => {
                if idle_ms > 0 && last_seen.elapsed() > Duration::from_millis(idle_ms) {
                    break;
                }
                std::hint::spin_loop();
            }
        }
    }
    let seqs: Vec<String> = seqs.iter().map(|s| s.to_string()).collect();
    println!(
        "result received={received} dropped={} in_order={in_order} gaps={gaps} first={}",
        s.dropped(),
        seqs.join(":")
    );
    Ok(())
}

/// Receives `hold` samples, keeps them, and waits to be killed.
fn role_hold(node: &Node, a: &Args) -> Result<(), String> {
    let s = node
        .subscriber::<Ping>(&arg(a, "topic", "/t".to_string()))
        .history(arg(a, "history", 2))
        .max_held(arg(a, "hold", 2))
        .create()
        .map_err(|e| e.to_string())?;
    println!("ready");
    let mut held = Vec::new();
    let deadline = Instant::now() + WAIT;
    while held.len() < arg(a, "hold", 2usize) && Instant::now() < deadline {
        if let Some(x) = s.try_recv().map_err(|e| e.to_string())? {
            held.push(x);
        }
    }
    println!("holding n={}", held.len());
    std::thread::sleep(WAIT * 2);
    Ok(())
}

/// Publishes as fast as it can until killed.
fn role_stream(node: &Node, a: &Args) -> Result<(), String> {
    let p = node
        .publisher::<Ping>(&arg(a, "topic", "/t".to_string()))
        .history(arg(a, "history", 8))
        .max_publishers(arg(a, "max_publishers", 4))
        .create()
        .map_err(|e| e.to_string())?;
    let mut seq = 0u64;
    let deadline = Instant::now() + WAIT * 2;
    while Instant::now() < deadline {
        seq += 1;
        let mut l = match p.loan() {
            Ok(l) => l,
            Err(LoanError::Full { .. }) => continue,
            Err(e) => return Err(e.to_string()),
        };
        *l = Ping {
            producer: 7,
            seq,
            payload: [seq; 4],
        };
        l.send();
        if seq == 1000 {
            println!("streaming");
        }
        if seq % 64 == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    Ok(())
}

/// Tries to open a subscriber of type `Other` or `Ping` and reports the outcome.
fn role_open_sub(node: &Node, a: &Args) -> Result<(), String> {
    let topic = arg(a, "topic", "/t".to_string());
    let r = if arg(a, "other", 0) == 1 {
        node.subscriber::<Other>(&topic).create().map(drop)
    } else {
        node.subscriber::<Ping>(&topic).create().map(drop)
    };
    match r {
        Ok(()) => println!("opened"),
        Err(e) => println!("refused {e}"),
    }
    Ok(())
}

// ---------------------------------------------------------------- trials

fn n_to_m_delivery_exact_counts() -> Result<(), Failed> {
    let d = TestDomain::new("mp", "nm");
    let subs: Vec<Peer> = (0..3)
        .map(|_| {
            Peer::spawn(
                "sub",
                &d.0,
                &[("reliable", "1".into()), ("expect", "1000".into())],
            )
        })
        .collect();
    for s in &subs {
        s.expect("ready")?;
    }
    let mut pubs: Vec<Peer> = (1..=2)
        .map(|i| {
            Peer::spawn(
                "pub",
                &d.0,
                &[
                    ("count", "500".into()),
                    ("subs", "3".into()),
                    ("producer", i.to_string()),
                ],
            )
        })
        .collect();
    for p in &mut pubs {
        p.expect("published")?;
        p.wait_exit()?;
    }
    for s in &subs {
        let r = s.expect("result")?;
        ensure(
            r["received"] == "1000",
            format!("received {} of 1000", r["received"]),
        )?;
        ensure(r["in_order"] == "true", "samples out of order or torn")?;
        ensure(
            r["gaps"] == "0" && r["dropped"] == "0",
            format!("lost samples: {r:?}"),
        )?;
    }
    Ok(())
}

fn best_effort_drops_oldest_counted() -> Result<(), Failed> {
    let d = TestDomain::new("mp", "drop");
    let mut sub = Peer::spawn(
        "sub",
        &d.0,
        &[
            ("history", "4".into()),
            ("drain", "1".into()),
            ("idle_ms", "200".into()),
        ],
    );
    sub.expect("ready")?;
    let mut p = Peer::spawn(
        "pub",
        &d.0,
        &[
            ("history", "4".into()),
            ("count", "1000".into()),
            ("subs", "1".into()),
        ],
    );
    p.expect("published")?;
    p.wait_exit()?;
    sub.go();
    let r = sub.expect("result")?;
    ensure(r["received"] == "4", format!("received {}", r["received"]))?;
    ensure(r["dropped"] == "996", format!("dropped {}", r["dropped"]))?;
    ensure(
        r["first"] == "997:998:999:1000",
        format!("kept {}", r["first"]),
    )
}

fn reliable_slow_subscriber_loses_nothing() -> Result<(), Failed> {
    let d = TestDomain::new("mp", "rel");
    let sub = Peer::spawn(
        "sub",
        &d.0,
        &[
            ("reliable", "1".into()),
            ("expect", "3000".into()),
            ("delay_us", "20".into()),
        ],
    );
    sub.expect("ready")?;
    let mut p = Peer::spawn(
        "pub",
        &d.0,
        &[("count", "3000".into()), ("subs", "1".into())],
    );
    p.expect("published")?;
    p.wait_exit()?;
    let r = sub.expect("result")?;
    ensure(
        r["received"] == "3000",
        format!("received {}", r["received"]),
    )?;
    ensure(
        r["gaps"] == "0" && r["dropped"] == "0" && r["in_order"] == "true",
        format!("{r:?}"),
    )
}

fn late_joiner_gets_history() -> Result<(), Failed> {
    let d = TestDomain::new("mp", "late");
    let p = Peer::spawn(
        "pub",
        &d.0,
        &[
            ("history", "4".into()),
            ("count", "10".into()),
            ("linger", "1".into()),
        ],
    );
    p.expect("published")?;
    let late = Peer::spawn(
        "sub",
        &d.0,
        &[
            ("history", "4".into()),
            ("transient", "1".into()),
            ("idle_ms", "300".into()),
        ],
    );
    let r = late.expect("result")?;
    ensure(
        r["first"] == "7:8:9:10",
        format!("transient-local got {}", r["first"]),
    )?;
    let volatile = Peer::spawn(
        "sub",
        &d.0,
        &[("history", "4".into()), ("idle_ms", "300".into())],
    );
    let r = volatile.expect("result")?;
    ensure(
        r["received"] == "0",
        format!("volatile got {}", r["received"]),
    )
}

fn type_mismatch_refused_across_processes() -> Result<(), Failed> {
    let d = TestDomain::new("mp", "type");
    let p = Peer::spawn(
        "pub",
        &d.0,
        &[("count", "1".into()), ("linger", "1".into())],
    );
    p.expect("published")?;
    let other = Peer::spawn("open-sub", &d.0, &[("other", "1".into())]);
    let r = other.expect("refused");
    let line = format!("{r:?}");
    ensure(
        r.is_ok(),
        format!("a subscriber of another type was accepted: {line}"),
    )?;
    let same = Peer::spawn("open-sub", &d.0, &[]);
    same.expect("opened")?;
    // and the message names both types
    let n = node_in(&d.0);
    let err = n
        .subscriber::<Other>("/t")
        .create()
        .unwrap_err()
        .to_string();
    ensure(err.contains("Ping") && err.contains("Other"), err)
}

fn sigkill_subscriber_holding_loans_is_reclaimed() -> Result<(), Failed> {
    let d = TestDomain::new("mp", "killsub");
    let n = node_in(&d.0);
    let p = n
        .publisher::<Ping>("/t")
        .history(2)
        .max_subscribers(1)
        .max_held(2)
        .create()?;
    let mut holder = Peer::spawn("hold", &d.0, &[("hold", "2".into())]);
    holder.expect("ready")?;
    for seq in 1..=2 {
        p.publish(&Ping {
            producer: 0,
            seq,
            payload: [seq; 4],
        })?;
    }
    holder.expect("holding")?;
    for seq in 3..=50 {
        p.publish(&Ping {
            producer: 0,
            seq,
            payload: [seq; 4],
        })?;
    }
    let s = p.raw().slot_stats();
    ensure(
        s.retired == 2,
        format!("the holder's 2 samples should be retired-but-held: {s:?}"),
    )?;
    holder.sigkill();
    // The topic allows one subscriber: joining works only if the dead one is reaped.
    let sub = n.subscriber::<Ping>("/t").history(2).max_held(2).create()?;
    for seq in 51..=5000 {
        p.publish(&Ping {
            producer: 0,
            seq,
            payload: [seq; 4],
        })?;
        if seq % 100 == 0 {
            while sub.try_recv()?.is_some() {}
        }
    }
    let s = p.raw().slot_stats();
    ensure(
        s.retired == 0 && s.free + s.in_ring == s.slots,
        format!("slots leaked: {s:?}"),
    )?;
    ensure(sub.received() > 0, "new subscriber received nothing")
}

fn sigkill_publisher_then_new_one_takes_over() -> Result<(), Failed> {
    let d = TestDomain::new("mp", "killpub");
    let n = node_in(&d.0);
    let sub = n
        .subscriber::<Ping>("/t")
        .max_publishers(1)
        .history(8)
        .create()?;
    let mut streamer = Peer::spawn("stream", &d.0, &[("max_publishers", "1".into())]);
    streamer.expect("streaming")?;
    let mut last = 0;
    while let Some(x) = sub.try_recv()? {
        last = x.seq;
    }
    streamer.sigkill();
    while let Some(x) = sub.try_recv()? {
        ensure(x.seq > last, "order broken after the kill")?;
        last = x.seq;
    }
    // Only one lane: creating a publisher must take over the dead one's.
    let p = n.publisher::<Ping>("/t").create()?;
    // As many as the history holds, so a best-effort reader loses none.
    for i in 0..8 {
        p.publish(&Ping {
            producer: 1,
            seq: 1_000_000 + i,
            payload: [1_000_000 + i; 4],
        })?;
    }
    let got: Vec<u64> =
        std::iter::from_fn(|| sub.try_recv().ok().flatten().map(|x| x.seq)).collect();
    ensure(
        got == (1_000_000..1_000_008).collect::<Vec<_>>(),
        format!("after takeover got {got:?}"),
    )
}

/// A publisher killed inside a send: after sealing its slot, before the ring
/// store (a reader polling that slot already has the sample), or after the
/// ring store, before `head`. The next owner must finish that send, not
/// reuse its number: every reader, early or late, sees the same sample 4 and
/// then the new owner's samples, none lost.
fn publisher_killed_inside_a_send_is_finished_by_the_next_owner() -> Result<(), Failed> {
    for ring_stored in [false, true] {
        let d = TestDomain::new("mp", &format!("midsend-{ring_stored}"));
        let n = node_in(&d.0);
        let sub = n
            .subscriber::<Ping>("/t")
            .max_publishers(1)
            .history(8)
            .create()?;
        let args = [("count", "3"), ("linger", "1"), ("max_publishers", "1")];
        let mut dying = Peer::spawn("pub", &d.0, &args.map(|(k, v)| (k, v.to_string())));
        dying.expect("published")?;
        let mut got = Vec::new();
        let deadline = Instant::now() + WAIT;
        while got.len() < 3 && Instant::now() < deadline {
            got.extend(sub.try_recv()?.map(|x| x.seq));
        }
        ensure(got == [1, 2, 3], format!("before the kill: {got:?}"))?;
        // Nothing more: the subscriber now waits on the slot the dead
        // publisher's next send would have used.
        ensure(sub.try_recv()?.is_none(), "a fourth sample out of nowhere")?;
        dying.sigkill();
        fake_interrupted_send(&n, ring_stored);
        // The sample is sealed: a reader takes it before any takeover.
        let first = sub.try_recv()?.map(|x| (x.info().seq, *x));
        ensure(
            first.is_some_and(|(seq, x)| seq == 4 && x.producer == 9 && x.payload == [9; 4]),
            format!("ring stored {ring_stored}: the sealed sample: {first:?}"),
        )?;
        let p = n
            .publisher::<Ping>("/t")
            .max_publishers(1)
            .history(8)
            .create()?;
        for seq in 5..=7 {
            p.publish(&Ping {
                producer: 2,
                seq,
                payload: [seq; 4],
            })?;
        }
        let late = n
            .subscriber::<Ping>("/t")
            .max_publishers(1)
            .history(8)
            .transient_local()
            .create()?;
        for (who, s) in [("early", &sub), ("late", &late)] {
            let seen: Vec<(u64, u64, u64)> = std::iter::from_fn(|| {
                s.try_recv()
                    .ok()
                    .flatten()
                    .map(|x| (x.info().seq, x.producer, x.seq))
            })
            .collect();
            let want: Vec<(u64, u64, u64)> = match who {
                "early" => (5..=7).map(|i| (i, 2, i)).collect(),
                _ => [(1, 0, 1), (2, 0, 2), (3, 0, 3), (4, 9, 4)]
                    .into_iter()
                    .chain((5..=7).map(|i| (i, 2, i)))
                    .collect(),
            };
            ensure(
                seen == want && s.dropped() == 0,
                format!(
                    "ring stored {ring_stored}, {who} reader: {seen:?}, dropped {}",
                    s.dropped()
                ),
            )?;
        }
    }
    Ok(())
}

/// Writes into the segment of `/t` what a publisher killed inside the send of
/// its sample 4 leaves: that sample (producer 9) in the slot its last sample
/// named as next, sealed, and with `ring_stored` also its ring entry.
fn fake_interrupted_send(n: &Node, ring_stored: bool) {
    use axon::layout::SLOT_HEADER;
    use std::sync::atomic::{AtomicU64, Ordering};
    let (map, config, layout) = support::map_segment(n, "/t");
    // SAFETY: every offset below comes from the validated layout (ring
    // entries, slot headers, slot payloads of lane 0), all 8-aligned words
    // or a payload area of at least size_of::<Ping>(); the lane's owner is
    // dead and the test's subscriber only reads.
    unsafe {
        let word = |offset: usize| &*(map.as_ptr().add(offset) as *const AtomicU64);
        let depth = config.depth as usize;
        let entry3 = word(layout.ring(0) + 8 * (3 % depth)).load(Ordering::Acquire);
        let slot3 = (entry3 & 0xFFFF) as usize;
        let next = word(layout.slot(0, slot3) + 24).load(Ordering::Relaxed) as usize;
        assert!(next < config.slots_per_lane as usize, "no next-slot hint");
        let ping = Ping {
            producer: 9,
            seq: 4,
            payload: [9; 4],
        };
        let payload = map.as_mut_ptr().add(layout.slot(0, next) + SLOT_HEADER);
        std::ptr::copy_nonoverlapping(ping.as_bytes().as_ptr(), payload, ping.as_bytes().len());
        word(layout.slot(0, next) + 8).store(0, Ordering::Relaxed); // elems
        word(layout.slot(0, next)).store(4, Ordering::Release); // the seal
        if ring_stored {
            word(layout.ring(0) + 8 * (4 % depth)).store(4 << 16 | next as u64, Ordering::Release);
        }
    }
}

fn corrupted_header_is_refused() -> Result<(), Failed> {
    let d = TestDomain::new("mp", "corrupt");
    let n = node_in(&d.0);
    let p = n.publisher::<Ping>("/t").create()?;
    let path = n.domain().segment_path(&axon::TopicName::new("/t")?);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&path)?;
        f.write_at(b"garbage!", 40)?; // inside the checksummed config
    }
    let other = Peer::spawn("open-sub", &d.0, &[]);
    let line = other.expect("refused")?["line"].clone();
    ensure(
        line.contains("corrupted"),
        format!("not reported as corrupted: {line}"),
    )?;
    drop(p);
    // Nobody uses it any more: the next participant replaces it.
    let p2 = n.publisher::<Ping>("/t").create()?;
    p2.publish(&Ping {
        producer: 0,
        seq: 1,
        payload: [1; 4],
    })?;
    Ok(())
}

fn stale_segment_of_crashed_run_is_replaced() -> Result<(), Failed> {
    let d = TestDomain::new("mp", "stale");
    let mut streamer = Peer::spawn("stream", &d.0, &[]);
    streamer.expect("streaming")?;
    streamer.sigkill();
    // Same topic, another type: the crashed run's segment is in the way.
    let n = node_in(&d.0);
    let p = n.publisher::<Other>("/t").create()?;
    let s = n.subscriber::<Other>("/t").create()?;
    p.publish(&Other { x: 1.0, y: 2.0 })?;
    let got = s.try_recv()?.map(|o| o.y);
    ensure(got == Some(2.0), "replaced segment does not work")
}

fn segments_are_private_to_their_user() -> Result<(), Failed> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let d = TestDomain::new("mp", "perm");
    let n = node_in(&d.0);
    let p = n.publisher::<Ping>("/t").create()?;
    let path = n.domain().segment_path(&axon::TopicName::new("/t")?);
    let meta = std::fs::metadata(&path)?;
    ensure(
        meta.permissions().mode() & 0o777 == 0o600,
        format!("mode {:o}", meta.mode()),
    )?;
    if nix_is_root() {
        // Another user's file under our name (the publisher keeps it here).
        std::os::unix::fs::chown(&path, Some(12345), None)?;
        let err = n.publisher::<Ping>("/t").create().unwrap_err();
        ensure(
            matches!(err, OpenError::ForeignOwner { uid: 12345, .. }),
            err.to_string(),
        )?;
    }
    drop(p);
    Ok(())
}

fn nix_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn main() {
    if let Ok(role) = std::env::var("AXON_TEST_ROLE") {
        std::process::exit(run_role(&role));
    }
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test("n_to_m_delivery_exact_counts", n_to_m_delivery_exact_counts),
        Trial::test(
            "best_effort_drops_oldest_counted",
            best_effort_drops_oldest_counted,
        ),
        Trial::test(
            "reliable_slow_subscriber_loses_nothing",
            reliable_slow_subscriber_loses_nothing,
        ),
        Trial::test("late_joiner_gets_history", late_joiner_gets_history),
        Trial::test(
            "type_mismatch_refused_across_processes",
            type_mismatch_refused_across_processes,
        ),
        Trial::test(
            "sigkill_subscriber_holding_loans_is_reclaimed",
            sigkill_subscriber_holding_loans_is_reclaimed,
        ),
        Trial::test(
            "sigkill_publisher_then_new_one_takes_over",
            sigkill_publisher_then_new_one_takes_over,
        ),
        Trial::test(
            "publisher_killed_inside_a_send_is_finished_by_the_next_owner",
            publisher_killed_inside_a_send_is_finished_by_the_next_owner,
        ),
        Trial::test("corrupted_header_is_refused", corrupted_header_is_refused),
        Trial::test(
            "stale_segment_of_crashed_run_is_replaced",
            stale_segment_of_crashed_run_is_replaced,
        ),
        Trial::test(
            "segments_are_private_to_their_user",
            segments_are_private_to_their_user,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
