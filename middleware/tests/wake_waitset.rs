//! Wait sets, timers, the executor and shutdown, across real processes.
//! Every wait has a watchdog; no test asserts a run time.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use axon::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use axon::{Domain, Event, Message, Node, WaitSetError};

mod support;

#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct A {
    seq: u64,
}

#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct B {
    seq: u32,
    pad: u32,
}

const ROLE: &str = "AXON_WAITSET_TEST_ROLE";
const WATCHDOG: Duration = Duration::from_secs(60);

fn node_in(domain: &str) -> Node {
    support::node_in(domain, "wstest")
}

fn domain_name(test: &str) -> String {
    format!("ws-{}-{test}", std::process::id())
}

fn cleanup(domain: &str) {
    support::remove_domain(domain)
}

fn spawn(role: &str, args: &[&str]) -> Child {
    support::spawn_role(ROLE, role, args, true)
}

fn wait_child(mut child: Child, what: &str) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut out = String::new();
            use std::io::Read;
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            return (st, out);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watchdog: {what} did not finish");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn cpu_ns() -> u64 {
    // SAFETY: `ru` is a valid, exclusively borrowed rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1000;
    t(ru.ru_utime) + t(ru.ru_stime)
}

#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[0] {
        // which wait the process uses (see the fallback test)
        "report-waitv" => println!("waitv={}", axon::wake::futex_waitv_in_use()),
        // publish n samples alternating over /a (A) and /b (B), random gaps
        "two-topics" => {
            let node = node_in(args[1]);
            let n: u64 = args[2].parse().unwrap();
            let pa = node.publisher::<A>("/a").history(64).create().unwrap();
            let pb = node.publisher::<B>("/b").history(64).create().unwrap();
            let mut x = 88172645463325252u64;
            for seq in 1..=n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x % 2 == 0 {
                    while pa.publish(&A { seq }).is_err() {
                        std::thread::yield_now();
                    }
                } else {
                    while pb
                        .publish(&B {
                            seq: seq as u32,
                            pad: 0,
                        })
                        .is_err()
                    {
                        std::thread::yield_now();
                    }
                }
                if x % 50 == 0 {
                    std::thread::sleep(Duration::from_micros(x % 500));
                }
            }
        }
        // 20 idle topics, wait 3 s: report this process's CPU time
        "idle" => {
            let node = node_in(args[1]);
            let subs: Vec<_> = (0..20)
                .map(|i| node.subscriber::<A>(&format!("/idle{i}")).create().unwrap())
                .collect();
            let mut ws = node.wait_set().unwrap();
            for s in &subs {
                ws.subscriber(s).unwrap();
            }
            let t0 = Instant::now();
            let c0 = cpu_ns();
            while t0.elapsed() < Duration::from_secs(3) {
                let r = ws
                    .wait_timeout(Duration::from_secs(3) - t0.elapsed())
                    .unwrap();
                assert!(r.is_empty(), "nothing should be ready: {r:?}");
            }
            let c1 = cpu_ns();
            println!(
                "IDLE_CPU_NS {} WALL_NS {}",
                c1 - c0,
                t0.elapsed().as_nanos()
            );
        }
        // an executor node: counts samples, a timer, exits cleanly on SIGTERM;
        // SIGHUP reloads params
        "executor" => {
            let d = Domain::new("/dev/shm", args[1]).unwrap();
            let node = Node::builder("exec")
                .domain(d)
                .params_file(args[2])
                .create()
                .unwrap();
            let sub = node
                .subscriber::<A>("/a")
                .history(16)
                .reliable()
                .create()
                .unwrap();
            let count = std::cell::Cell::new(0u64);
            let reloaded = std::cell::Cell::new(false);
            let ready = std::cell::Cell::new(false);
            node.on(&sub, |_s| count.set(count.get() + 1))
                .every(Duration::from_millis(5), || {
                    // Ready once spinning: the executor has installed the
                    // SIGHUP/SIGTERM handlers by then (before, SIGHUP's
                    // default action would kill us: a race this test lost).
                    if !ready.replace(true) {
                        println!("READY");
                    }
                    if !reloaded.get() && node.param_or("x", 0).unwrap() == 2 {
                        reloaded.set(true);
                        println!("RELOADED");
                    }
                })
                .spin()
                .unwrap();
            println!("CLEAN {}", count.get());
        }
        other => panic!("unknown role {other}"),
    }
}

/// Two topics of different types from another process, in one wait: every
/// sample arrives, none is waited for in vain.
#[test]
fn waitset_over_two_topics_gets_everything() {
    let dom = domain_name("two");
    let node = node_in(&dom);
    let sa = node
        .subscriber::<A>("/a")
        .history(64)
        .reliable()
        .create()
        .unwrap();
    let sb = node
        .subscriber::<B>("/b")
        .history(64)
        .reliable()
        .create()
        .unwrap();
    let mut ws = node.wait_set().unwrap();
    let ka = ws.subscriber(&sa).unwrap();
    let kb = ws.subscriber(&sb).unwrap();
    let n = 10_000u64;
    let child = spawn("two-topics", &[&dom, &n.to_string()]);
    let mut seen = vec![false; n as usize + 1];
    let mut got = 0;
    let mut gone = 0;
    while got < n || gone < 2 {
        let r = ws.wait_timeout(Duration::from_secs(20)).unwrap();
        assert!(!r.is_empty(), "waiter stuck after {got} samples");
        if r.get(ka) == Some(Event::PublisherGone) {
            gone += 1;
        }
        if r.get(kb) == Some(Event::PublisherGone) {
            gone += 1;
        }
        while let Some(s) = sa.try_recv().unwrap() {
            assert!(!seen[s.seq as usize]);
            seen[s.seq as usize] = true;
            got += 1;
        }
        while let Some(s) = sb.try_recv().unwrap() {
            assert!(!seen[s.seq as usize]);
            seen[s.seq as usize] = true;
            got += 1;
        }
    }
    assert!(wait_child(child, "publisher").0.success());
    cleanup(&dom);
}

/// A node waiting on 20 topics with no traffic uses (almost) no CPU.
#[test]
fn idle_waitset_uses_no_cpu() {
    let dom = domain_name("idle");
    let node = node_in(&dom);
    // Live (idle) publishers on every topic.
    let _pubs: Vec<_> = (0..20)
        .map(|i| node.publisher::<A>(&format!("/idle{i}")).create().unwrap())
        .collect();
    let (st, out) = wait_child(spawn("idle", &[&dom]), "idle waiter");
    assert!(st.success(), "{out}");
    let at = out.find("IDLE_CPU_NS").expect("child's report");
    let v: Vec<u64> = out[at..]
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let share = v[0] as f64 / v[1] as f64;
    println!(
        "idle: {} us CPU over {} ms = {:.4}%",
        v[0] / 1000,
        v[1] / 1_000_000,
        share * 100.0
    );
    assert!(share < 0.01, "idle wait set used {:.3}% CPU", share * 100.0);
    cleanup(&dom);
}

#[test]
fn executor_runs_callbacks_reloads_on_sighup_and_returns_on_sigterm() {
    let dom = domain_name("exec");
    let params = std::env::temp_dir().join(format!("{dom}.json"));
    std::fs::write(&params, r#"{"x": 1}"#).unwrap();
    let node = node_in(&dom);
    let p = node.publisher::<A>("/a").history(16).create().unwrap();
    let mut child = spawn("executor", &[&dom, params.to_str().unwrap()]);
    let pid = child.id() as i32;
    /// Kills the child if the test fails half-way.
    struct Guard(i32);
    impl Drop for Guard {
        fn drop(&mut self) {
            if std::thread::panicking() {
                // SAFETY: kill(2) on our child.
                unsafe { libc::kill(self.0, libc::SIGKILL) };
            }
        }
    }
    let _guard = Guard(pid);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            for token in ["READY", "RELOADED", "CLEAN"] {
                if let Some(at) = line.find(token) {
                    let _ = tx.send(line[at..].trim().to_string());
                }
            }
        }
    });
    let next = || rx.recv_timeout(WATCHDOG).expect("watchdog: executor child");
    assert_eq!(next(), "READY");
    let deadline = Instant::now() + WATCHDOG;
    while p.raw().subscriber_count() == 0 {
        assert!(Instant::now() < deadline, "watchdog");
        std::thread::sleep(Duration::from_millis(2));
    }
    for seq in 1..=10 {
        p.publish(&A { seq }).unwrap();
    }
    std::fs::write(&params, r#"{"x": 2}"#).unwrap();
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    assert_eq!(next(), "RELOADED");
    std::thread::sleep(Duration::from_millis(50));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(next(), "CLEAN 10");
    let deadline = Instant::now() + WATCHDOG;
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "watchdog");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(st.success());
    let _ = std::fs::remove_file(params);
    cleanup(&dom);
}

#[test]
fn bad_input_gets_clear_errors() {
    let dom = domain_name("bad");
    let node = node_in(&dom);
    let other = node_in(&dom);
    let foreign = other.subscriber::<A>("/x").create().unwrap();
    let mut ws = node.wait_set().unwrap();
    assert!(matches!(
        ws.subscriber(&foreign),
        Err(WaitSetError::ForeignSubscriber { .. })
    ));
    assert!(matches!(
        ws.interval(Duration::ZERO),
        Err(WaitSetError::ZeroDuration { .. })
    ));
    assert!(matches!(
        ws.once(Duration::ZERO),
        Err(WaitSetError::ZeroDuration { .. })
    ));
    assert!(matches!(
        ws.interval(Duration::from_nanos(10)),
        Err(WaitSetError::TimerTooFast { .. })
    ));
    // A zero timeout checks once.
    assert!(ws.wait_timeout(Duration::ZERO).unwrap().is_empty());
    // The executor reports registration errors from spin, before running.
    let e = node
        .every(Duration::ZERO, || -> Result<(), axon::LoanError> {
            panic!("must not run")
        })
        .spin();
    assert!(e.is_err());
    cleanup(&dom);
}

#[test]
fn timers_fire_once_and_skip_missed_periods() {
    let dom = domain_name("timers");
    let node = node_in(&dom);
    let mut ws = node.wait_set().unwrap();
    let once = ws.once(Duration::from_millis(5)).unwrap();
    let tick = ws.interval(Duration::from_millis(10)).unwrap();
    let mut once_fired = 0;
    let mut ticks = 0;
    while ticks < 3 {
        let r = ws.wait_timeout(WATCHDOG).unwrap();
        assert!(!r.is_empty(), "watchdog");
        if r.contains(once) {
            once_fired += 1;
        }
        if let Some(Event::Timer { periods }) = r.get(tick) {
            ticks += 1;
            assert!(periods >= 1);
        }
    }
    assert_eq!(once_fired, 1);
    // Busy for 3.5 periods: the next firing counts the missed ones.
    std::thread::sleep(Duration::from_millis(35));
    let r = ws.wait_timeout(WATCHDOG).unwrap();
    match r.get(tick) {
        Some(Event::Timer { periods }) => assert!(periods >= 3, "periods {periods}"),
        other => panic!("expected the tick, got {other:?}"),
    }
    cleanup(&dom);
}

/// Linux before 5.16 (and old container seccomp profiles) has no
/// `futex_waitv`. With the fallback forced (`AXON_FUTEX_WAITV=off`), this
/// binary's own tests of a wait set over two topics and of an executor that
/// must return on SIGTERM pass again, in a child process.
#[test]
fn without_futex_waitv_the_fallback_still_delivers_and_shuts_down() {
    let probe = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, "report-waitv")
        .env("AXON_FUTEX_WAITV", "off")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout);
    assert!(text.contains("waitv=false"), "fallback not in use: {text}");
    for test in [
        "waitset_over_two_topics_gets_everything",
        "executor_runs_callbacks_reloads_on_sighup_and_returns_on_sigterm",
    ] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--test-threads=1"])
            .env("AXON_FUTEX_WAITV", "off")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{test} with the fallback:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
