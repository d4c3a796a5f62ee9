//! Blocking receive across real processes: the same conformance tests for
//! every wake mechanism (futex, semaphore, adaptive), publisher death,
//! dead waiters, bad input and wake-area corruption. Every wait has a
//! watchdog; no test asserts a run time.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use axon::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use axon::{Message, Node, WaitError, WakeMechanism};

mod support;

#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Tick {
    seq: u64,
    check: u64,
}

const ROLE: &str = "AXON_WAKE_TEST_ROLE";
const WATCHDOG: Duration = Duration::from_secs(60);

fn domain_name(test: &str) -> String {
    format!("wake-{}-{test}", std::process::id())
}

fn node_in(domain: &str) -> Node {
    support::node_in(domain, "waketest")
}

fn cleanup(domain: &str) {
    support::remove_domain(domain)
}

fn mechanism(name: &str) -> WakeMechanism {
    match name {
        "futex" => WakeMechanism::Futex,
        "semaphore" => WakeMechanism::Semaphore,
        _ => WakeMechanism::Adaptive { spin: None },
    }
}

/// Runs this test binary again as `role` (see `child_entry`).
fn spawn(role: &str, args: &[&str]) -> Child {
    support::spawn_role(ROLE, role, args, false)
}

/// Waits for `child` to exit, killing it (and failing) after the watchdog.
fn wait_child(mut child: Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watchdog: {what} did not finish");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill9(child: &mut Child) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
}

/// xorshift: deterministic random delays.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn delay(&mut self) {
        match self.next() % 100 {
            0..=2 => std::thread::sleep(Duration::from_micros(self.next() % 300)),
            3..=10 => std::thread::yield_now(),
            11..=20 => {
                for _ in 0..self.next() % 2000 {
                    std::hint::spin_loop()
                }
            }
            _ => {}
        }
    }
}

/// The roles a spawned copy of this binary plays.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    let node = node_in(args[1]);
    match args[0] {
        // publish n ticks to /stress with random delays, then exit
        "stress-pub" => {
            let n: u64 = args[2].parse().unwrap();
            let p = node
                .publisher::<Tick>("/stress")
                .history(16)
                .create()
                .unwrap();
            let mut rng = Rng(0x9E3779B97F4A7C15 ^ n);
            for seq in 1..=n {
                let mut l = p.loan_timeout(Duration::from_secs(30)).expect("room");
                *l = Tick {
                    seq,
                    check: seq.wrapping_mul(31),
                };
                l.send();
                rng.delay();
            }
        }
        // publish one tick, then sleep (the parent kills us)
        "one-then-hang" => {
            let p = node.publisher::<Tick>("/gone").create().unwrap();
            p.publish(&Tick { seq: 1, check: 31 }).unwrap();
            println!("SENT");
            std::thread::sleep(Duration::from_secs(120));
        }
        // publish one tick, then exit normally
        "one-then-exit" => {
            let p = node.publisher::<Tick>("/gone").create().unwrap();
            p.publish(&Tick { seq: 1, check: 31 }).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        // subscribe and sleep in recv forever (the parent kills us)
        "sleeper" => {
            let s = node
                .subscriber::<Tick>("/sleepy")
                .wake(mechanism(args[2]))
                .create()
                .unwrap();
            let _ = s.recv_timeout(Duration::from_secs(120));
        }
        // sleep in recv with SIGINT/SIGTERM handlers installed; report how it ended
        "shutdown-sleeper" => {
            axon::shutdown::install().unwrap();
            let s = node
                .subscriber::<Tick>("/sleepy")
                .wake(mechanism(args[2]))
                .create()
                .unwrap();
            let r = s.recv_timeout(Duration::from_secs(120)).map(|t| t.seq);
            println!("ENDED {r:?}");
        }
        // publish n ticks to /forge
        "forge-pub" => {
            let n: u64 = args[2].parse().unwrap();
            let p = node
                .publisher::<Tick>("/forge")
                .history(16)
                .create()
                .unwrap();
            for seq in 1..=n {
                let mut l = p.loan_timeout(Duration::from_secs(30)).expect("room");
                *l = Tick {
                    seq,
                    check: seq.wrapping_mul(31),
                };
                l.send();
            }
            println!("SENT {n}");
        }
        other => panic!("unknown role {other}"),
    }
}

/// Many messages from another process with random delays on both sides:
/// every one arrives, in order, and no receive ever times out.
fn stress(mech: &str) {
    let dom = domain_name(&format!("stress-{mech}"));
    let node = node_in(&dom);
    let sub = node
        .subscriber::<Tick>("/stress")
        .history(16)
        .reliable()
        .wake(mechanism(mech))
        .create()
        .unwrap();
    let n = 20_000u64;
    let child = spawn("stress-pub", &[&dom, &n.to_string()]);
    let mut rng = Rng(12345);
    for seq in 1..=n {
        match sub.recv_timeout(Duration::from_secs(20)) {
            Ok(t) => {
                assert_eq!(t.seq, seq, "{mech}: out of order");
                assert_eq!(t.check, seq.wrapping_mul(31), "{mech}: torn sample");
            }
            Err(e) => panic!("{mech}: waiter stuck or failed at {seq}: {e}"),
        }
        rng.delay();
    }
    assert!(wait_child(child, "publisher").success());
    // The publisher exited: the waiter learns it, once.
    match sub.recv_timeout(Duration::from_secs(20)) {
        Err(WaitError::PublisherGone) => {}
        other => panic!("{mech}: expected PublisherGone, got {other:?}"),
    }
    assert!(matches!(
        sub.recv_timeout(Duration::from_millis(1)),
        Err(WaitError::Timeout)
    ));
    cleanup(&dom);
}

#[test]
fn stress_futex() {
    stress("futex");
}

#[test]
fn stress_semaphore() {
    stress("semaphore");
}

#[test]
fn stress_adaptive() {
    stress("adaptive");
}

fn publisher_killed(mech: &str) {
    let dom = domain_name(&format!("killed-{mech}"));
    let node = node_in(&dom);
    let sub = node
        .subscriber::<Tick>("/gone")
        .wake(mechanism(mech))
        .create()
        .unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, format!("one-then-hang {dom}"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let got = sub
        .recv_timeout(Duration::from_secs(30))
        .expect("first sample");
    assert_eq!(got.seq, 1);
    drop(got);
    let pid = child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: kill(2) on our child's pid (not yet reaped).
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    match sub.recv_timeout(Duration::from_secs(30)) {
        Err(WaitError::PublisherGone) => {}
        other => panic!("{mech}: expected PublisherGone, got {other:?}"),
    }
    killer.join().unwrap();
    let _ = child.wait();
    kill9(&mut child);
    cleanup(&dom);
}

#[test]
fn killed_publisher_wakes_futex_waiter() {
    publisher_killed("futex");
}

#[test]
fn killed_publisher_wakes_semaphore_waiter() {
    publisher_killed("semaphore");
}

/// Counts the `PublisherGone`s a waiter sees in `window` (about five
/// liveness slices), receiving with short timeouts as a node's loop would.
fn gone_reports(sub: &axon::Subscriber<Tick>, window: Duration) -> usize {
    let end = Instant::now() + window;
    let mut gone = 0;
    while Instant::now() < end {
        match sub.recv_timeout(Duration::from_millis(50)) {
            Err(WaitError::PublisherGone) => gone += 1,
            Err(WaitError::Timeout) => {}
            other => panic!("expected PublisherGone or Timeout, got {other:?}"),
        }
    }
    gone
}

/// A SIGKILLed publisher's bit stays set until someone reaps it; each
/// liveness check used to see it "back" and report it gone again, every
/// 200 ms for ever. Now: once per publisher incarnation, and a new
/// publisher (on the same lane) is reported again when it dies.
#[test]
fn killed_publisher_is_reported_gone_once_per_incarnation() {
    let dom = domain_name("gone-once");
    let node = node_in(&dom);
    let sub = node.subscriber::<Tick>("/gone").create().unwrap();
    let window = axon::wake::LIVENESS_SLICE * 6;
    for incarnation in 1..=2 {
        let mut child = spawn("one-then-hang", &[&dom]);
        // (A new owner of the lane goes on with its sequence numbers.)
        drop(
            sub.recv_timeout(Duration::from_secs(30))
                .expect("the publisher's sample"),
        );
        kill9(&mut child);
        let deadline = Instant::now() + WATCHDOG;
        loop {
            match sub.recv_timeout(Duration::from_millis(50)) {
                Err(WaitError::PublisherGone) => break,
                Err(WaitError::Timeout) => {}
                other => panic!("expected PublisherGone, got {other:?}"),
            }
            assert!(Instant::now() < deadline, "watchdog: no PublisherGone");
        }
        assert_eq!(
            gone_reports(&sub, window),
            0,
            "incarnation {incarnation}: PublisherGone reported again for the same dead publisher"
        );
    }
    cleanup(&dom);
}

#[test]
fn exited_publisher_wakes_waiter() {
    let dom = domain_name("exited");
    let node = node_in(&dom);
    let sub = node.subscriber::<Tick>("/gone").create().unwrap();
    let child = spawn("one-then-exit", &[&dom]);
    assert_eq!(sub.recv_timeout(Duration::from_secs(30)).unwrap().seq, 1);
    match sub.recv_timeout(Duration::from_secs(30)) {
        Err(WaitError::PublisherGone) => {}
        other => panic!("expected PublisherGone, got {other:?}"),
    }
    assert!(wait_child(child, "publisher").success());
    cleanup(&dom);
}

/// A waiter killed while asleep leaves its sleeper bit set: the publisher
/// goes on (it only issues wake-ups nobody hears) and never blocks.
fn dead_waiter(mech: &str) {
    let dom = domain_name(&format!("deadwaiter-{mech}"));
    let node = node_in(&dom);
    let p = node.publisher::<Tick>("/sleepy").create().unwrap();
    let mut child = spawn("sleeper", &[&dom, mech]);
    let deadline = Instant::now() + WATCHDOG;
    while p.raw().subscriber_count() == 0 {
        assert!(Instant::now() < deadline, "watchdog: sleeper never joined");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(100)); // let it fall asleep
    kill9(&mut child);
    let (tx, rx) = std::sync::mpsc::channel();
    let dom2 = dom.clone();
    std::thread::spawn(move || {
        let node = node_in(&dom2);
        let p = node.publisher::<Tick>("/sleepy").create().unwrap();
        for seq in 1..=10_000 {
            p.publish(&Tick { seq, check: 0 }).unwrap();
        }
        tx.send(()).unwrap();
    });
    rx.recv_timeout(WATCHDOG)
        .expect("watchdog: a publisher blocked on a dead waiter");
    drop(p);
    cleanup(&dom);
}

#[test]
fn dead_waiter_never_blocks_publisher_futex() {
    dead_waiter("futex");
}

#[test]
fn dead_waiter_never_blocks_publisher_semaphore() {
    dead_waiter("semaphore");
}

#[test]
fn zero_timeout_and_past_deadline_poll_once() {
    let dom = domain_name("zero");
    let node = node_in(&dom);
    let p = node.publisher::<Tick>("/z").create().unwrap();
    // Adaptive spins before it reads the clock: not for these.
    for mech in ["futex", "adaptive"] {
        let s = node
            .subscriber::<Tick>("/z")
            .wake(mechanism(mech))
            .create()
            .unwrap();
        assert!(
            matches!(s.recv_timeout(Duration::ZERO), Err(WaitError::Timeout)),
            "{mech}"
        );
        let past = Instant::now() - Duration::from_millis(5);
        assert!(
            matches!(s.recv_deadline(past), Err(WaitError::Timeout)),
            "{mech}"
        );
        // A short timeout ends (after the spin, for adaptive).
        assert!(
            matches!(
                s.recv_timeout(Duration::from_millis(2)),
                Err(WaitError::Timeout)
            ),
            "{mech}"
        );
        p.publish(&Tick { seq: 7, check: 0 }).unwrap();
        assert_eq!(s.recv_timeout(Duration::ZERO).unwrap().seq, 7, "{mech}");
        // A huge timeout does not overflow the deadline.
        p.publish(&Tick { seq: 8, check: 0 }).unwrap();
        assert_eq!(s.recv_timeout(Duration::MAX).unwrap().seq, 8, "{mech}");
    }
    cleanup(&dom);
}

/// SIGTERM to a node sleeping in `recv` makes it return `Shutdown` at once,
/// whatever the mechanism: a semaphore waiter cannot also sleep on the
/// shutdown word, so the handler posts its semaphore. "At once" is checked
/// as "well inside one liveness slice", which a waiter that only noticed
/// the request at the end of its slice (as before) would take in full.
fn sigterm_wakes_a_sleeping_waiter(mech: &str) {
    let dom = domain_name(&format!("term-{mech}"));
    let node = node_in(&dom);
    let _p = node.publisher::<Tick>("/sleepy").create().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, format!("shutdown-sleeper {dom} {mech}"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Asleep: its bit in the topic's sleepers mask (wake protocol step 3).
    let (map, _, _) = support::map_segment(&node, "/sleepy");
    let members = std::mem::offset_of!(axon::layout::SegmentHeader, members)
        + std::mem::offset_of!(axon::layout::Membership, sleepers);
    // SAFETY: `members` is the offset of an AtomicU64 inside the mapped
    // header; only loaded.
    let sleepers = unsafe { &*(map.as_ptr().add(members) as *const std::sync::atomic::AtomicU64) };
    let deadline = Instant::now() + WATCHDOG;
    while sleepers.load(std::sync::atomic::Ordering::Acquire) == 0 {
        assert!(Instant::now() < deadline, "{mech}: the waiter never slept");
        std::thread::sleep(Duration::from_millis(1));
    }
    let sent = Instant::now();
    // SAFETY: kill(2) on our child's pid (not yet reaped).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let took = sent.elapsed();
    assert!(
        wait_child(child, "sleeper").success(),
        "{mech}: the waiter failed"
    );
    assert!(out.contains("ENDED Err(Shutdown)"), "{mech}: {out}");
    assert!(
        took < axon::wake::LIVENESS_SLICE / 2,
        "{mech}: SIGTERM took {took:?}, about a liveness slice: the waiter was not woken"
    );
    cleanup(&dom);
}

#[test]
fn sigterm_wakes_a_sleeping_futex_waiter() {
    sigterm_wakes_a_sleeping_waiter("futex");
}

#[test]
fn sigterm_wakes_a_sleeping_semaphore_waiter() {
    sigterm_wakes_a_sleeping_waiter("semaphore");
}

/// Garbage written into a sleeping subscriber's wake area (word, mode,
/// semaphore) costs spurious wake-ups, never a hang or a lost sample.
/// `topic`'s segment mapped writable, as a hostile peer would, and the
/// offset of subscriber record 0's wake area in it.
fn map_wake_area(node: &Node, topic: &str) -> (memmap2::MmapRaw, usize) {
    let (map, _, layout) = support::map_segment(node, topic);
    let wake = layout.subscriber(0) + std::mem::offset_of!(axon::layout::SubscriberRecord, wake);
    (map, wake)
}

fn corrupted_wake_area(mech: &str) {
    let dom = domain_name(&format!("corrupt-{mech}"));
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let (dom2, m) = (dom.clone(), mechanism(mech));
    std::thread::spawn(move || {
        let node = node_in(&dom2);
        let s = node.subscriber::<Tick>("/c").wake(m).create().unwrap();
        tx.send(()).unwrap();
        let r = s.recv_timeout(Duration::from_secs(30)).map(|t| t.seq);
        done_tx.send(r.map_err(|e| e.to_string())).unwrap();
    });
    rx.recv_timeout(WATCHDOG).unwrap();
    let node = node_in(&dom);
    let p = node.publisher::<Tick>("/c").create().unwrap();
    let (map, wake) = map_wake_area(&node, "/c");
    let t0 = Instant::now();
    let mut x = 0xDEAD_BEEFu32;
    while t0.elapsed() < Duration::from_millis(200) {
        x = x.rotate_left(7) ^ 0x5A5A_1234;
        // SAFETY: `wake..wake + 128` is inside the mapping (the record's
        // wake area); volatile writes of garbage are what this test is about
        // (the other side only uses atomics on these bytes).
        unsafe {
            let base = map.as_mut_ptr().add(wake) as *mut u32;
            for i in 0..32 {
                std::ptr::write_volatile(base.add(i), x.wrapping_add(i as u32));
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    p.publish(&Tick { seq: 42, check: 0 }).unwrap();
    let got = done_rx
        .recv_timeout(WATCHDOG)
        .expect("watchdog: waiter hung");
    assert_eq!(got, Ok(42), "{mech}");
    cleanup(&dom);
}

#[test]
fn corrupted_wake_area_futex() {
    corrupted_wake_area("futex");
}

#[test]
fn corrupted_wake_area_semaphore() {
    corrupted_wake_area("semaphore");
}

/// glibc passes the `private` field of a `sem_t` to the futex call, and
/// aborts the whole process when the kernel rejects it. A peer that
/// corrupts that field of a sleeping subscriber's semaphore must not kill
/// the publisher that posts to it (before the fix: "The futex facility
/// returned an unexpected error code", SIGABRT, every time).
#[test]
fn corrupted_semaphore_flags_do_not_abort_the_publisher() {
    use axon::layout::WakeArea;
    let dom = domain_name("semflags");
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let dom2 = dom.clone();
    std::thread::spawn(move || {
        let node = node_in(&dom2);
        let s = node
            .subscriber::<Tick>("/f")
            .wake(WakeMechanism::Semaphore)
            .create()
            .unwrap();
        tx.send(()).unwrap();
        let r = s.recv_timeout(Duration::from_secs(30)).map(|t| t.seq);
        done_tx.send(r.map_err(|e| e.to_string())).unwrap();
    });
    rx.recv_timeout(WATCHDOG).unwrap();
    let node = node_in(&dom);
    let p = node.publisher::<Tick>("/f").create().unwrap();
    // Asleep in sem_timedwait by now (its spin budget is zero).
    std::thread::sleep(Duration::from_millis(300));
    let (map, wake) = map_wake_area(&node, "/f");
    // Bytes 8..16 of the sem_t: glibc's `private` and `pad`.
    let flags = wake + std::mem::offset_of!(WakeArea, sem) + 8;
    // SAFETY: `flags..flags + 8` is inside the mapping (the record's wake
    // area), 8-aligned; the other side only uses atomics on these bytes.
    unsafe {
        std::ptr::write_volatile(
            map.as_mut_ptr().add(flags) as *mut u64,
            0xDEAD_BEEF_0BAD_F00D,
        )
    };
    p.publish(&Tick { seq: 7, check: 0 }).unwrap();
    let got = done_rx
        .recv_timeout(WATCHDOG)
        .expect("watchdog: waiter hung");
    assert_eq!(got, Ok(7));
    cleanup(&dom);
}

/// A publisher chooses its wake mechanism from the sleeper's mode word in
/// shared memory, so a peer that set a futex subscriber's word to
/// "semaphore" (and garbage into the semaphore's `private` word, which
/// glibc hands to the futex call) made it call libc's `sem_post` on bytes
/// the peer controls, and glibc aborts the process on those. A publisher
/// now posts without libc (`semaphore::post`): it lives, and the other
/// subscribers get every sample, in order and whole.
#[test]
fn forged_semaphore_mode_word_does_not_abort_the_publisher() {
    use axon::layout::{Membership, SegmentHeader, SubscriberRecord, WakeArea};
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
    let dom = domain_name("forge");
    let node = node_in(&dom);
    let victim = node
        .subscriber::<Tick>("/forge")
        .history(16)
        .create()
        .unwrap();
    let ok = node
        .subscriber::<Tick>("/forge")
        .history(16)
        .reliable()
        .create()
        .unwrap();
    let (map, _, layout) = support::map_segment(&node, "/forge");
    let base = map.as_mut_ptr() as usize;
    let area = base + layout.subscriber(0) + std::mem::offset_of!(SubscriberRecord, wake);
    let sleepers = base
        + std::mem::offset_of!(SegmentHeader, members)
        + std::mem::offset_of!(Membership, sleepers);
    let sem = area + std::mem::offset_of!(WakeArea, sem);
    // SAFETY: `sem..sem + 16` is record 0's semaphore inside the mapping,
    // 8-aligned; the other side uses only atomics on these bytes. A count
    // of 0 with one waiter: a `sem_post` would make the count 1 and call
    // the futex with the `private` word below.
    let data = unsafe { &*(sem as *const AtomicU64) };
    data.store(1 << 32, Ordering::SeqCst);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let hostile = std::thread::spawn(move || {
        // SAFETY: each address is an aligned atomic word of the live
        // mapping `map` (record 0's wake area and the sleepers mask),
        // which outlives this thread (joined below).
        let (mode, private, mask) = unsafe {
            (
                &*((area + std::mem::offset_of!(WakeArea, mode)) as *const AtomicU32),
                &*((sem + 8) as *const AtomicU64),
                &*(sleepers as *const AtomicU64),
            )
        };
        while !stop2.load(Ordering::Relaxed) {
            mode.store(axon::wake::MODE_SEMAPHORE, Ordering::SeqCst);
            private.store(0xDEAD_BEEF_0BAD_F00D, Ordering::SeqCst);
            mask.fetch_or(1, Ordering::SeqCst);
            std::hint::spin_loop();
        }
    });
    let n = 20_000u64;
    let mut child = support::spawn_role(ROLE, "forge-pub", &[&dom, &n.to_string()], true);
    let mut out = child.stdout.take().unwrap();
    for seq in 1..=n {
        match ok.recv_timeout(WATCHDOG) {
            Ok(t) => {
                assert_eq!(t.seq, seq, "out of order");
                assert_eq!(t.check, seq.wrapping_mul(31), "torn sample");
            }
            Err(e) => panic!("the other subscriber stopped receiving at {seq}: {e}"),
        }
    }
    let status = wait_child(child, "publisher");
    stop.store(true, Ordering::Relaxed);
    hostile.join().unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut out, &mut text).unwrap();
    assert!(status.success(), "the publisher died: {status:?} {text}");
    drop(victim);
    cleanup(&dom);
}

/// Without `futex_waitv` (Linux before 5.16; forced here with
/// `AXON_FUTEX_WAITV=off`), the futex stress test and the killed-publisher
/// test of this binary pass again in a child process.
#[test]
fn without_futex_waitv_blocking_receive_still_works() {
    for test in ["stress_futex", "killed_publisher_wakes_futex_waiter"] {
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
