//! SIGKILL chaos: real publishers and subscribers in separate processes, one
//! of them (sometimes two) killed with SIGKILL at a random moment, and what
//! axon promises checked on everyone left and on the segment afterwards.
//!
//! ## One trial
//! A seed fixes everything the driver decides: the message type (a sized
//! message or a variable-size slice message), the history depth, 1-3
//! publishers, 1-4 subscribers (each reliable or best-effort, transient-local
//! or volatile, waking by futex, semaphore, adaptive spinning or polling
//! `try_recv`; some join at the start, some late, some *churn*: leave and
//! join again every few milliseconds, so a kill often lands in join code),
//! whom to kill and when (40% of the kills land within 25 ms of the victim's
//! spawn, in its start-up and join code, half of those on the first
//! participant, which creates the segment; the rest anywhere in the run), a
//! second kill, whether a replacement of the same kind starts after a kill,
//! and, in 30% of trials, a *creator* that creates topic after topic and is
//! killed, most likely inside a segment creation. Each child
//! gets its own seed for its pacing (bursts, pauses, slow reads, samples
//! held) and payload sizes. Process timing is not deterministic, so a replay
//! re-runs the same plan, not the same interleaving.
//!
//! Each publisher (writer `W`, ids 1, 2, ... in spawn order) sends samples
//! `[W, seq, len, FNV-1a checksum over (W, seq, len, payload)]` plus `len`
//! payload bytes (a pattern derived from `W` and `seq`), `seq` = 1, 2, ...
//! counting only samples it sent: a loan that failed or was never sent
//! because the process died takes no number. Then the driver stops the
//! publishers (`stop` on stdin; each reports how many it sent), then the
//! subscribers, which read what is left and report.
//!
//! ## What counts as a violation
//! Every subscriber, for every sample: the checksum and length hold; per
//! lane, the lane sequence number (`SampleInfo::seq`) grows; per writer,
//! `seq` grows and the writer stays on one lane. At the end: `corrupt() == 0`
//! (nobody writes garbage here) and the lane-sequence gaps it saw are at
//! most its `dropped()` count (losses are counted).
//!
//! A *reliable* subscriber that survives, in addition (what "reliable topics
//! lose nothing among survivors" means here):
//! - **no gap**: after the first sample it got from writer `W` (or lane `L`),
//!   every later one is `seq + 1`. A writer killed mid-send makes no gap: its
//!   interrupted sample is finished by the lane's next owner or never
//!   numbered. Samples from before the subscriber joined are not expected
//!   (volatile), or only as far as the history reaches (transient-local),
//!   so the first sample of each writer starts the count;
//! - `dropped() == 0`;
//! - **no lost start**: if it was ready before the driver spawned `W` (its
//!   `ready` line was read before the spawn), its first sample of `W` is
//!   `seq` 1;
//! - **no lost tail**: if `W` survived and sent `N` samples, and the
//!   subscriber got any sample of `W` or was ready before `W` was spawned,
//!   its last sample of `W` is `N`. (A killed writer's last sends are
//!   unknown, so its tail is not checked.)
//! - a surviving publisher is never stuck: a loan that keeps failing with
//!   `Full` for 5 s is reported (a dead reliable reader must be reaped).
//!
//! After every process has exited, the segment is audited:
//! - `axon::inspect`: no record is alive; counters are sane (a subscriber
//!   never received plus dropped more than was published; no corrupt count);
//! - a fresh publisher and reliable subscriber join (reaping the dead): no
//!   dead record is left, the reliable/sleepers masks are within the member
//!   mask, every record outside it has no hazard set (read from the file),
//!   the fresh lane has no slot held by anyone, and `3 * history + 5`
//!   samples go through, checked;
//! - when they leave, nothing is alive; every other topic of the domain has
//!   no record alive either;
//! - a `~tmp.` file a killed creator left in `/dev/shm` is removed by the
//!   next creation in the domain once it is older than the grace period
//!   (5 s, `TEMP_GRACE` in segment.rs): the audit waits for that, creates a
//!   topic and looks again.
//!
//! ## Running it
//! `cargo test --release -p axon --test chaos` runs trials for about 45 s
//! (`AXON_CHAOS_SECS` sets the budget; `AXON_CHAOS_SECS=3600` runs for an
//! hour). Every trial prints its seed; `AXON_CHAOS_SEED=0x...` replays that
//! one trial. All failures are collected and reported at the end, each with
//! its seed, the plan, who was killed when, and the violations. Every child
//! has a watchdog and every wait of the driver a deadline: a hung child is a
//! failure of its trial, not a hung test.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use axon::layout::{Layout, Membership, SegmentHeader, SubscriberRecord, TopicConfig};
use axon::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use axon::{
    Domain, Loan, LoanError, Message, Publisher, Qos, SampleInfo, TopicName, WaitError,
    WakeMechanism,
};

mod support;

const ROLE: &str = "AXON_CHAOS_ROLE";
const TOPIC: &str = "/chaos";
/// Slice messages: most payload elements (`u64`).
const MAX_SLICE: usize = 64;
/// Sized messages: payload bytes (a prefix of `len` of them is used).
const FIXED: usize = 96;
const MAX_PUBLISHERS: u32 = 8;
const MAX_SUBSCRIBERS: u32 = 16;
/// A publisher whose loans keep failing this long reports itself stuck.
const STALL: Duration = Duration::from_secs(5);
/// Longest a child may take to exit after `stop`.
const EXIT_DEADLINE: Duration = Duration::from_secs(15);
/// The fresh participant's writer id.
const FRESH_WRITER: u64 = 1_000_000;

/// A variable-size sample: `head` = `[writer, seq, len, checksum]`, `len`
/// in bytes (all of `data`). Its elements are `u64`: a `[u8]` tail of a
/// length off the 8-byte alignment cannot be loaned (see
/// `slice_message_of_bytes_with_a_length_off_its_alignment_round_trips`).
#[derive(FromBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Chaos {
    head: [u64; 4],
    data: [u64],
}

/// A sized sample: the first `head[2]` bytes of `data` are used.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct ChaosFixed {
    head: [u64; 4],
    data: [u8; FIXED],
}

/// What the roles need of both message types.
trait Wire: Message {
    const SLICE: bool;
    const MAX_LEN: usize;
    fn loan(p: &Publisher<Self>, len: usize, t: Duration) -> Result<Loan<'_, Self>, LoanError>;
    fn head(&self) -> [u64; 4];
    fn set_head(&mut self, h: [u64; 4]);
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
}

impl Wire for Chaos {
    const SLICE: bool = true;
    const MAX_LEN: usize = MAX_SLICE;
    fn loan(p: &Publisher<Self>, len: usize, t: Duration) -> Result<Loan<'_, Self>, LoanError> {
        p.loan_slice_timeout(len, t)
    }
    fn head(&self) -> [u64; 4] {
        self.head
    }
    fn set_head(&mut self, h: [u64; 4]) {
        self.head = h;
    }
    fn data(&self) -> &[u8] {
        self.data.as_bytes()
    }
    fn data_mut(&mut self) -> &mut [u8] {
        self.data.as_mut_bytes()
    }
}

impl Wire for ChaosFixed {
    const SLICE: bool = false;
    const MAX_LEN: usize = FIXED;
    fn loan(p: &Publisher<Self>, _len: usize, t: Duration) -> Result<Loan<'_, Self>, LoanError> {
        p.loan_timeout(t)
    }
    fn head(&self) -> [u64; 4] {
        self.head
    }
    fn set_head(&mut self, h: [u64; 4]) {
        self.head = h;
    }
    fn data(&self) -> &[u8] {
        &self.data
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
}

/// FNV-1a over the first three head words and the payload.
fn checksum(writer: u64, seq: u64, len: u64, data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in [writer, seq, len]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .chain(data.iter().copied())
    {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn write_sample<T: Wire + ?Sized>(x: &mut T, writer: u64, seq: u64, len: usize) {
    let d = x.data_mut();
    // A slice message's length is its element count: it fills all of `data`.
    let len = if T::SLICE { d.len() } else { len.min(d.len()) };
    let mut r = Rng(writer.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq);
    for chunk in d[..len].chunks_mut(8) {
        let w = r.next().to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
    let sum = checksum(writer, seq, len as u64, &d[..len]);
    x.set_head([writer, seq, len as u64, sum]);
}

/// `(writer, seq)` of a sample whose length and checksum hold.
fn verify<T: Wire + ?Sized>(x: &T) -> Result<(u64, u64), String> {
    let [writer, seq, len, sum] = x.head();
    let d = x.data();
    if len > d.len() as u64 || (T::SLICE && len != d.len() as u64) {
        return Err(format!(
            "kind=length writer={writer} seq={seq} expected={} got={len}",
            d.len()
        ));
    }
    let got = checksum(writer, seq, len, &d[..len as usize]);
    if got != sum {
        return Err(format!(
            "kind=checksum writer={writer} seq={seq} expected={sum:#x} got={got:#x}"
        ));
    }
    Ok((writer, seq))
}

/// splitmix64.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 for `n == 0`).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// A payload length: mostly small, sometimes large, sometimes the edges.
    fn len(&mut self, max: usize) -> usize {
        let max = max as u64;
        (match self.below(20) {
            0 => 0,
            1 => max,
            2..=6 => self.range(64.min(max), max),
            _ => self.range(0, 64.min(max)),
        }) as usize
    }
}

/// The QoS every participant of a trial uses (capacities must agree).
fn qos(history: u32) -> Qos {
    Qos {
        history: Some(history),
        max_publishers: MAX_PUBLISHERS,
        max_subscribers: MAX_SUBSCRIBERS,
        max_held: 2,
        max_loans: 2,
        max_len: Some(MAX_SLICE),
        ..Qos::default()
    }
}

// ---------------------------------------------------------------- children

type Args = HashMap<String, String>;

fn num(a: &Args, k: &str) -> u64 {
    a.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
}

static STOP: AtomicBool = AtomicBool::new(false);

fn stopped() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// The roles a spawned copy of this binary plays (`AXON_CHAOS_ROLE` set):
/// `pub` or `sub`, with `key=value` arguments. A child stops on `stop` (or
/// end of file) on stdin and reports on stdout, one line per event.
#[test]
fn child_entry() {
    let Ok(spec) = std::env::var(ROLE) else {
        return;
    };
    // End libtest's "test child_entry ... " line: ours start on their own.
    println!();
    let mut words = spec.split_whitespace();
    let role = words.next().unwrap_or_default().to_string();
    let a: Args = words
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let who = format!("{role} {}", num(&a, "id"));
    let watchdog = Duration::from_millis(num(&a, "watchdog_ms"));
    std::thread::spawn(move || {
        std::thread::sleep(watchdog);
        println!("violation kind=watchdog {who} still running after {watchdog:?}: hung");
        std::process::exit(3);
    });
    std::thread::spawn(|| {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line.trim() == "stop" => break,
                Ok(_) => {}
            }
        }
        STOP.store(true, Ordering::Relaxed);
    });
    let slice = a.get("kind").map(String::as_str) == Some("slice");
    let code = match (role.as_str(), slice) {
        ("creator", _) => run_creator(&a),
        ("pub", true) => run_pub::<Chaos>(&a),
        ("pub", false) => run_pub::<ChaosFixed>(&a),
        ("sub", true) => run_sub::<Chaos>(&a),
        ("sub", false) => run_sub::<ChaosFixed>(&a),
        _ => {
            println!("error unknown role {role}");
            2
        }
    };
    std::process::exit(code);
}

fn run_pub<T: Wire + ?Sized>(a: &Args) -> i32 {
    let writer = num(a, "id");
    let node = support::node_in(&a["domain"], &format!("chaos-pub{writer}"));
    let p = match node
        .publisher::<T>(TOPIC)
        .qos(qos(num(a, "history") as u32))
        .create()
    {
        Ok(p) => p,
        Err(e) => {
            println!("error writer={writer} create: {e}");
            return 2;
        }
    };
    let lane = p.raw().lane();
    println!("ready writer={writer} lane={lane}");
    let mut rng = Rng(num(a, "seed"));
    let (mut seq, mut burst) = (0u64, 0u64);
    let mut stalled_since: Option<Instant> = None;
    let mut reported = false;
    while !stopped() {
        let len = rng.len(T::MAX_LEN);
        match T::loan(&p, len, Duration::from_millis(20)) {
            Ok(mut l) => {
                seq += 1;
                write_sample(&mut *l, writer, seq, len);
                l.send();
                stalled_since = None;
            }
            Err(LoanError::Full { .. } | LoanError::Timeout) => {
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() > STALL && !reported {
                    reported = true;
                    println!(
                        "violation kind=stuck writer={writer} lane={lane} after seq={seq}: \
                         loans failed with Full for {:?} (a reliable reader that never reads, \
                         or one that died and was never reaped)",
                        since.elapsed()
                    );
                }
                continue;
            }
            Err(e) => {
                println!("violation kind=loan-error writer={writer} lane={lane} error={e}");
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        }
        if burst == 0 {
            burst = rng.range(1, 64);
            std::thread::sleep(Duration::from_micros(rng.below(2000)));
        } else {
            burst -= 1;
        }
    }
    println!("done writer={writer} lane={lane} sent={seq}");
    0
}

fn run_creator(a: &Args) -> i32 {
    let id = num(a, "id");
    let node = support::node_in(&a["domain"], &format!("chaos-creator{id}"));
    println!("ready creator={id}");
    let mut k = 0;
    while !stopped() {
        k += 1;
        let topic = format!("/chaos_create_{id}_{k}");
        let q = Qos {
            history: Some(2),
            max_publishers: 1,
            max_subscribers: 1,
            ..Qos::default()
        };
        match node.publisher::<ChaosFixed>(&topic).qos(q).create() {
            Ok(p) => drop(p),
            Err(e) => println!("violation creator={id} kind=create-error topic={topic} error={e}"),
        }
        // Keep the directory small: this one is ours and nobody uses it.
        let name = TopicName::new(&topic).expect("topic");
        let _ = std::fs::remove_file(node.domain().segment_path(&name));
        std::thread::sleep(Duration::from_micros(200));
    }
    println!("result creator={id} created={k}");
    0
}

/// What one subscriber saw of one writer.
#[derive(Debug, Clone, Copy)]
struct Seen {
    first: u64,
    last: u64,
    count: u64,
    lane: usize,
}

/// A subscriber's checks of every sample (see the module docs).
struct Checker {
    id: String,
    reliable: bool,
    writers: HashMap<u64, Seen>,
    lanes: HashMap<usize, u64>,
    lane_gaps: u64,
    violations: u64,
}

impl Checker {
    fn new(id: String, reliable: bool) -> Checker {
        Checker {
            id,
            reliable,
            writers: HashMap::new(),
            lanes: HashMap::new(),
            lane_gaps: 0,
            violations: 0,
        }
    }

    /// The end-of-life checks (counters); returns the violations in all.
    fn finish<T: Message + ?Sized>(&mut self, s: &axon::Subscriber<T>) -> u64 {
        let (dropped, corrupt) = (s.dropped(), s.raw().corrupt());
        if self.reliable && dropped > 0 {
            let when = if self.lane_gaps == 0 {
                "before its first sample of the lane: lost at join (transient-local history \
                 overwritten?)"
            } else {
                "between samples it read"
            };
            self.violation(format!(
                "kind=dropped expected=0 got={dropped} (a reliable subscriber lost samples, \
                 {when})"
            ));
        }
        if corrupt > 0 {
            self.violation(format!("kind=corrupt expected=0 got={corrupt}"));
        }
        if self.lane_gaps > dropped {
            self.violation(format!(
                "kind=uncounted-loss expected<={dropped} got={} (lane sequence gaps not \
                 counted as dropped)",
                self.lane_gaps
            ));
        }
        if self.violations > 20 {
            println!(
                "violation sub={} ... {} violations in all",
                self.id, self.violations
            );
        }
        self.violations
    }

    fn violation(&mut self, what: String) {
        self.violations += 1;
        if self.violations <= 20 {
            println!("violation sub={} {what}", self.id);
        }
    }

    fn check<T: Wire + ?Sized>(&mut self, x: &T, info: SampleInfo) {
        let lane = info.publisher;
        let (writer, seq) = match verify(x) {
            Ok(ws) => ws,
            Err(e) => {
                return self.violation(format!("{e} lane={lane} lane_seq={}", info.seq));
            }
        };
        if let Some(&prev) = self.lanes.get(&lane) {
            if info.seq <= prev {
                self.violation(format!(
                    "kind=lane-order lane={lane} writer={writer} expected>{prev} got={}",
                    info.seq
                ));
            } else if info.seq > prev + 1 {
                self.lane_gaps += info.seq - prev - 1;
                if self.reliable {
                    self.violation(format!(
                        "kind=lane-gap lane={lane} writer={writer} expected={} got={} \
                         (reliable: {} samples of the lane lost)",
                        prev + 1,
                        info.seq,
                        info.seq - prev - 1
                    ));
                }
            }
        }
        self.lanes.insert(lane, info.seq);
        let Some(seen) = self.writers.get(&writer).copied() else {
            self.writers.insert(
                writer,
                Seen {
                    first: seq,
                    last: seq,
                    count: 1,
                    lane,
                },
            );
            return;
        };
        if seen.lane != lane {
            self.violation(format!(
                "kind=writer-lane writer={writer} expected={} got={lane}",
                seen.lane
            ));
        }
        if seq <= seen.last {
            self.violation(format!(
                "kind=writer-order writer={writer} lane={lane} expected>{} got={seq}",
                seen.last
            ));
        } else if seq != seen.last + 1 && self.reliable {
            self.violation(format!(
                "kind=gap writer={writer} lane={lane} expected={} got={seq} \
                 (reliable: {} samples lost)",
                seen.last + 1,
                seq - seen.last - 1
            ));
        }
        let s = self.writers.get_mut(&writer).expect("seen");
        s.last = s.last.max(seq);
        s.count += 1;
    }
}

fn run_sub<T: Wire + ?Sized>(a: &Args) -> i32 {
    let id = num(a, "id");
    let reliable = num(a, "reliable") == 1;
    let wake = a.get("wake").cloned().unwrap_or_default();
    let node = support::node_in(&a["domain"], &format!("chaos-sub{id}"));
    let create = || {
        let mut b = node
            .subscriber::<T>(TOPIC)
            .qos(qos(num(a, "history") as u32));
        match wake.as_str() {
            "semaphore" => b = b.wake(WakeMechanism::Semaphore),
            "adaptive" => b = b.wake(WakeMechanism::Adaptive { spin: None }),
            _ => b = b.wake(WakeMechanism::Futex),
        }
        if reliable {
            b = b.reliable();
        }
        if num(a, "transient") == 1 {
            b = b.transient_local();
        }
        b.create()
    };
    let mut rng = Rng(num(a, "seed"));
    // 0: fast; 1: a short pause now and then; 2: slow (lapped if best-effort,
    // backpressure if reliable).
    let pace = rng.below(3);
    if num(a, "churn") == 1 {
        // Join, read for a few milliseconds, leave; again and again (every
        // join is a chance for a kill in the join code). Each incarnation is
        // checked on its own.
        let mut k = 0;
        let mut violations = 0;
        while !stopped() {
            k += 1;
            let s = match create() {
                Ok(s) => s,
                Err(e) => {
                    println!("error sub={id}.{k} create: {e}");
                    return 2;
                }
            };
            if k == 1 {
                println!("ready sub={id}");
            }
            let mut chk = Checker::new(format!("{id}.{k}"), reliable);
            let until = Instant::now() + Duration::from_millis(rng.range(2, 60));
            consume(&s, &mut chk, &mut rng, &wake, pace, || {
                stopped() || Instant::now() > until
            });
            violations += chk.finish(&s);
            drop(s);
            std::thread::sleep(Duration::from_micros(rng.below(5_000)));
        }
        println!("result sub={id} churn incarnations={k} violations={violations}");
        return 0;
    }
    let s = match create() {
        Ok(s) => s,
        Err(e) => {
            println!("error sub={id} create: {e}");
            return 2;
        }
    };
    println!("ready sub={id}");
    let mut chk = Checker::new(id.to_string(), reliable);
    consume(&s, &mut chk, &mut rng, &wake, pace, stopped);
    // Every publisher has exited: read what is left in the rings.
    let (deadline, mut idle) = (Instant::now() + Duration::from_secs(10), Instant::now());
    while idle.elapsed() < Duration::from_millis(150) && Instant::now() < deadline {
        match s.try_recv() {
            Ok(Some(x)) => {
                chk.check(&*x, x.info());
                idle = Instant::now();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => chk.violation(format!("kind=recv-error error={e}")),
        }
    }
    let violations = chk.finish(&s);
    let mut writers: Vec<_> = chk.writers.iter().collect();
    writers.sort_by_key(|(w, _)| **w);
    let writers: Vec<String> = writers
        .iter()
        .map(|(w, s)| format!("{w}:{}:{}:{}:{}", s.first, s.last, s.count, s.lane))
        .collect();
    println!(
        "result sub={id} received={} dropped={} corrupt={} lane_gaps={} violations={violations} \
         writers={}",
        s.received(),
        s.dropped(),
        s.raw().corrupt(),
        chk.lane_gaps,
        writers.join(",")
    );
    0
}

/// Receives and checks samples until `done()`, by the subscriber's wake
/// mechanism (or by polling), at its pace, holding a sample now and then.
fn consume<T: Wire + ?Sized>(
    s: &axon::Subscriber<T>,
    chk: &mut Checker,
    rng: &mut Rng,
    wake: &str,
    pace: u64,
    done: impl Fn() -> bool,
) {
    let mut kept = None;
    while !done() {
        let got = if wake == "poll" {
            match s.try_recv() {
                Ok(x) => x,
                Err(e) => {
                    chk.violation(format!("kind=recv-error error={e}"));
                    None
                }
            }
        } else {
            match s.recv_timeout(Duration::from_millis(50)) {
                Ok(x) => Some(x),
                Err(WaitError::Timeout | WaitError::PublisherGone) => None,
                Err(e) => {
                    chk.violation(format!("kind=recv-error error={e}"));
                    std::thread::sleep(Duration::from_millis(1));
                    None
                }
            }
        };
        let Some(x) = got else {
            if wake == "poll" {
                std::thread::sleep(Duration::from_micros(20));
            }
            continue;
        };
        chk.check(&*x, x.info());
        // Hold a sample now and then (a killed reader then holds a slot).
        if rng.chance(5) {
            kept = Some(x);
        } else {
            drop(x);
            if rng.chance(20) {
                kept = None;
            }
        }
        match pace {
            1 if rng.chance(2) => std::thread::sleep(Duration::from_millis(rng.range(1, 5))),
            2 if rng.chance(20) => std::thread::sleep(Duration::from_micros(rng.below(500))),
            _ => {}
        }
    }
    drop(kept);
}

// ---------------------------------------------------------------- the plan

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sized,
    Slice,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Pub {
        writer: u64,
    },
    Sub {
        id: u64,
        reliable: bool,
        transient: bool,
        wake: &'static str,
        /// Leaves and joins again every few milliseconds.
        churn: bool,
    },
    /// Creates topic after topic (`/chaos_create_<id>_<k>`): most of its
    /// time is spent creating segments, so a kill mostly lands there.
    Creator {
        id: u64,
    },
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Pub { writer } => write!(f, "pub w{writer}"),
            Role::Creator { id } => write!(f, "creator c{id}"),
            Role::Sub {
                id,
                reliable,
                transient,
                wake,
                churn,
            } => write!(
                f,
                "sub s{id} ({}{}, {wake}{})",
                if *reliable { "reliable" } else { "best-effort" },
                if *transient { ", transient-local" } else { "" },
                if *churn { ", churning" } else { "" }
            ),
        }
    }
}

/// One participant: what it is, when it starts (µs into the run).
#[derive(Debug, Clone)]
struct Part {
    role: Role,
    at_us: u64,
    seed: u64,
}

#[derive(Debug, Clone)]
enum Event {
    Spawn(usize),
    Kill(usize),
}

#[derive(Debug, Clone)]
struct Plan {
    kind: Kind,
    history: u32,
    run_us: u64,
    parts: Vec<Part>,
    /// `(µs into the run, event)`, sorted.
    events: Vec<(u64, Event)>,
}

impl Plan {
    fn new(seed: u64) -> Plan {
        let mut r = Rng(seed);
        let kind = if r.chance(50) {
            Kind::Slice
        } else {
            Kind::Sized
        };
        let history = [2u32, 4, 8, 16][r.below(4) as usize];
        let run_us = r.range(1_000_000, 2_500_000);
        let mut parts = Vec::new();
        let (mut writers, mut subs) = (0u64, 0u64);
        let n_subs = r.range(1, 4);
        for i in 0..n_subs {
            subs += 1;
            let early = i == 0 || r.chance(60);
            parts.push(Part {
                role: Role::Sub {
                    id: subs,
                    reliable: i == 0 || r.chance(50),
                    transient: r.chance(35),
                    wake: ["futex", "semaphore", "adaptive", "poll"][r.below(4) as usize],
                    churn: i > 0 && r.chance(40),
                },
                at_us: if early {
                    r.below(5_000)
                } else {
                    r.range(50_000, run_us - 400_000)
                },
                seed: r.next(),
            });
        }
        for _ in 0..r.range(1, 3) {
            writers += 1;
            parts.push(Part {
                role: Role::Pub { writer: writers },
                at_us: r.below(30_000),
                seed: r.next(),
            });
        }
        let mut events: Vec<(u64, Event)> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| (p.at_us, Event::Spawn(i)))
            .collect();
        let original = parts.len() as u64;
        let kills = if r.chance(30) { 2 } else { 1 };
        let mut victims = Vec::new();
        if r.chance(30) {
            let at_us = r.below(run_us / 2);
            events.push((at_us, Event::Spawn(parts.len())));
            let kill = at_us + r.range(5_000, 300_000);
            events.push((kill, Event::Kill(parts.len())));
            parts.push(Part {
                role: Role::Creator { id: 1 },
                at_us,
                seed: r.next(),
            });
        }
        let first = (0..parts.len())
            .min_by_key(|i| parts[*i].at_us)
            .expect("participants");
        for _ in 0..kills {
            // Early kills hit start-up and join code; half of them the first
            // participant, which creates the segment.
            // The rest: half of them a reliable subscriber (its death is
            // what reliable survivors and publishers must get over).
            let early = r.chance(40);
            let reliable: Vec<usize> = (0..original as usize)
                .filter(|i| matches!(parts[*i].role, Role::Sub { reliable: true, .. }))
                .collect();
            let v = if early && r.chance(50) {
                first
            } else if !early && r.chance(50) {
                reliable[r.below(reliable.len() as u64) as usize]
            } else {
                r.below(original) as usize
            };
            if victims.contains(&v) {
                continue;
            }
            victims.push(v);
            let spawn = parts[v].at_us;
            let at = if early {
                spawn + r.below(25_000)
            } else {
                r.range(spawn + 1_000, run_us - 300_000)
            };
            events.push((at, Event::Kill(v)));
            if r.chance(50) {
                let role = match &parts[v].role {
                    Role::Pub { .. } => {
                        writers += 1;
                        Role::Pub { writer: writers }
                    }
                    Role::Creator { id } => Role::Creator { id: id + 1 },
                    Role::Sub {
                        reliable,
                        transient,
                        wake,
                        churn,
                        ..
                    } => {
                        subs += 1;
                        Role::Sub {
                            id: subs,
                            reliable: *reliable,
                            transient: *transient,
                            wake,
                            churn: *churn,
                        }
                    }
                };
                let at_us = at + r.below(100_000);
                events.push((at_us, Event::Spawn(parts.len())));
                parts.push(Part {
                    role,
                    at_us,
                    seed: r.next(),
                });
            }
        }
        events.sort_by_key(|(t, e)| (*t, matches!(e, Event::Kill(_))));
        Plan {
            kind,
            history,
            run_us,
            parts,
            events,
        }
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "{:?} messages, history {}, run {} ms:",
            self.kind,
            self.history,
            self.run_us / 1000
        );
        for (t, e) in &self.events {
            match e {
                Event::Spawn(i) => s += &format!(" +{}@{:.1}ms", self.parts[*i].role, ms(*t)),
                Event::Kill(i) => s += &format!(" KILL({})@{:.1}ms", self.parts[*i].role, ms(*t)),
            }
        }
        s
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

// ---------------------------------------------------------------- the driver

/// A running child; killed on drop.
struct Peer {
    role: Role,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    log: Vec<String>,
    spawned: Instant,
    ready: Option<Instant>,
    killed: Option<String>,
    exited: Option<std::process::ExitStatus>,
}

impl Peer {
    fn spawn(part: &Part, plan: &Plan, domain: &str) -> Peer {
        let kind = match plan.kind {
            Kind::Slice => "slice",
            Kind::Sized => "sized",
        };
        let watchdog_ms = plan.run_us / 1000 + 40_000;
        let mut args = vec![
            format!("domain={domain}"),
            format!("kind={kind}"),
            format!("history={}", plan.history),
            format!("seed={}", part.seed),
            format!("watchdog_ms={watchdog_ms}"),
        ];
        let role = match &part.role {
            Role::Pub { writer } => {
                args.push(format!("id={writer}"));
                "pub"
            }
            Role::Creator { id } => {
                args.push(format!("id={id}"));
                "creator"
            }
            Role::Sub {
                id,
                reliable,
                transient,
                wake,
                churn,
            } => {
                args.push(format!("id={id}"));
                args.push(format!("churn={}", *churn as u8));
                args.push(format!("reliable={}", *reliable as u8));
                args.push(format!("transient={}", *transient as u8));
                args.push(format!("wake={wake}"));
                "sub"
            }
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (mut child, rx) =
            support::spawn_with_lines(&mut support::role_command(ROLE, role, &args));
        Peer {
            role: part.role.clone(),
            stdin: child.stdin.take(),
            child,
            lines: rx,
            log: Vec::new(),
            spawned: Instant::now(),
            ready: None,
            killed: None,
            exited: None,
        }
    }

    /// Reads the lines that have arrived.
    fn pump(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            // libtest's "test child_entry ... " has no newline of its own.
            let l = l.trim_start_matches("test child_entry ... ").to_string();
            if l.starts_with("ready") && self.ready.is_none() {
                self.ready = Some(Instant::now());
            }
            self.log.push(l);
        }
    }

    fn alive(&self) -> bool {
        self.killed.is_none() && self.exited.is_none()
    }

    fn stop(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            let _ = writeln!(s, "stop");
        }
    }

    /// Waits for the child to exit (reading its lines); false if it did not
    /// by `deadline` (it is then killed).
    fn wait_exit(&mut self, deadline: Instant) -> bool {
        loop {
            self.pump();
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exited = Some(st);
                // The reader thread ends with the pipe: take its last lines.
                let until = Instant::now() + Duration::from_secs(2);
                while let Ok(l) = self
                    .lines
                    .recv_timeout(until.saturating_duration_since(Instant::now()))
                {
                    let l = l.trim_start_matches("test child_entry ... ").to_string();
                    self.log.push(l);
                }
                return true;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.pump();
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn lines_starting<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.log.iter().filter(move |l| l.starts_with(prefix))
    }

    fn field(&self, prefix: &str, key: &str) -> Option<String> {
        let line = self.lines_starting(prefix).last()?;
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A trial's domain; its files are removed when dropped.
struct TrialDomain(String);

impl Drop for TrialDomain {
    fn drop(&mut self) {
        support::remove_domain(&self.0);
    }
}

/// Runs the trial of `seed`; `Err` lists every violation found.
fn run_trial(seed: u64, n: u64) -> Result<String, String> {
    let plan = Plan::new(seed);
    let domain = TrialDomain(format!("chaos{}-{n}", std::process::id()));
    let mut problems = Vec::new();
    let mut peers: Vec<Option<Peer>> = plan.parts.iter().map(|_| None).collect();
    let mut kills = Vec::new();
    let start = Instant::now();
    let since = |t: Instant| t.duration_since(start).as_micros() as u64;
    let mut events = plan.events.iter().peekable();
    while let Some((at, event)) = events.peek() {
        for p in peers.iter_mut().flatten() {
            p.pump();
        }
        let now = since(Instant::now());
        if now < *at {
            std::thread::sleep(Duration::from_micros((at - now).min(2_000)));
            continue;
        }
        match event {
            Event::Spawn(i) => peers[*i] = Some(Peer::spawn(&plan.parts[*i], &plan, &domain.0)),
            Event::Kill(i) => {
                if let Some(p) = peers[*i].as_mut().filter(|p| p.alive()) {
                    let _ = p.child.kill();
                    let _ = p.child.wait();
                    p.pump();
                    let what = format!(
                        "SIGKILL {} at {:.1} ms, {:.1} ms after its spawn, {}",
                        p.role,
                        ms(now),
                        p.spawned.elapsed().as_secs_f64() * 1000.0,
                        match p.ready {
                            Some(_) => "after it was ready".to_string(),
                            None => "before its ready line (in start-up or join)".to_string(),
                        }
                    );
                    p.killed = Some(what.clone());
                    kills.push(what);
                }
            }
        }
        events.next();
    }
    while since(Instant::now()) < plan.run_us {
        for p in peers.iter_mut().flatten() {
            p.pump();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // What the segment says while the survivors still run (for the report).
    let snapshot = snapshot(&domain.0, &peers);
    // Stop: publishers first (each reports what it sent), then subscribers
    // (which read what is left).
    for publishers in [true, false] {
        let group = peers
            .iter_mut()
            .flatten()
            .filter(|p| p.alive() && matches!(p.role, Role::Pub { .. }) == publishers);
        let group: Vec<&mut Peer> = group.collect();
        let mut group = group;
        for p in group.iter_mut() {
            p.stop();
        }
        let deadline = Instant::now() + EXIT_DEADLINE;
        for p in group.iter_mut() {
            if !p.wait_exit(deadline) {
                problems.push(format!(
                    "{} did not exit within {EXIT_DEADLINE:?} of its stop: hung (killed now); \
                     its last lines: {:?}",
                    p.role,
                    p.log.iter().rev().take(3).collect::<Vec<_>>()
                ));
            }
        }
    }
    let peers: Vec<Peer> = peers.into_iter().flatten().collect();
    check_peers(&peers, &mut problems);
    let mut notes = Vec::new();
    audit(&plan, &domain.0, &mut problems, &mut notes);
    let summary = format!(
        "{}; {}{}",
        plan.describe(),
        if notes.is_empty() {
            String::new()
        } else {
            format!("audit: {}; ", notes.join(", "))
        },
        peers
            .iter()
            .filter_map(|p| Some(format!(
                "{} (ready after {:.1} ms): {}",
                p.role,
                p.ready
                    .map(|r| r.duration_since(p.spawned).as_secs_f64() * 1000.0)
                    .unwrap_or(-1.0),
                p.lines_starting("result")
                    .chain(p.lines_starting("done"))
                    .last()?
            )))
            .collect::<Vec<_>>()
            .join("; ")
    );
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(format!(
            "plan: {}\nkills: {}\nsegment before the stop: {snapshot}\naudit notes: {}\n\
             violations:\n  {}",
            plan.describe(),
            if kills.is_empty() {
                "none (victims had exited or not started)".to_string()
            } else {
                kills.join("; ")
            },
            notes.join(", "),
            problems.join("\n  ")
        ))
    }
}

/// The records of the topic as `axon::inspect` sees them, owners named by pid.
fn snapshot(domain: &str, peers: &[Option<Peer>]) -> String {
    let dom = Domain::new("/dev/shm", domain).expect("domain");
    let r = match axon::inspect::topic(&dom, &TopicName::new(TOPIC).expect("topic")) {
        Ok(r) => r,
        Err(e) => return e.to_string(),
    };
    let who = |pid: u32| {
        peers
            .iter()
            .flatten()
            .find(|p| p.child.id() == pid)
            .map(|p| p.role.to_string())
            .unwrap_or_else(|| format!("pid {pid}"))
    };
    let mut out: Vec<String> = r
        .publishers
        .iter()
        .map(|p| {
            format!(
                "lane {} {} {} published={}",
                p.lane,
                p.liveness.as_str(),
                who(p.pid),
                p.published
            )
        })
        .collect();
    out.extend(r.subscribers.iter().map(|s| {
        format!(
            "record {} {} {} {} received={} dropped={} unread={}",
            s.index,
            s.liveness.as_str(),
            who(s.pid),
            if s.reliable {
                "reliable"
            } else {
                "best-effort"
            },
            s.received,
            s.dropped,
            s.unread
        )
    }));
    out.join("; ")
}

/// The survivors' reports, against each other (see the module docs).
fn check_peers(peers: &[Peer], problems: &mut Vec<String>) {
    for p in peers {
        for l in p.lines_starting("violation") {
            problems.push(format!("{}: {l}", p.role));
        }
        if p.killed.is_some() {
            continue;
        }
        if let Some(l) = p.lines_starting("error").next() {
            problems.push(format!("{}: {l}", p.role));
        }
        match p.exited {
            Some(st) if st.success() => {}
            Some(st) => problems.push(format!("{} exited with {st}", p.role)),
            None => {}
        }
        let want = match p.role {
            Role::Pub { .. } => "done",
            Role::Sub { .. } | Role::Creator { .. } => "result",
        };
        if p.exited.is_some() && p.lines_starting(want).next().is_none() {
            problems.push(format!("{} ended without its '{want}' line", p.role));
        }
    }
    // Reliable survivors against every writer.
    for s in peers.iter().filter(|p| p.killed.is_none()) {
        let Role::Sub { reliable: true, .. } = s.role else {
            continue;
        };
        let Some(seen) = s.field("result", "writers") else {
            continue;
        };
        let seen: HashMap<u64, (u64, u64)> = seen
            .split(',')
            .filter_map(|w| {
                let f: Vec<u64> = w.split(':').filter_map(|x| x.parse().ok()).collect();
                (f.len() == 5).then(|| (f[0], (f[1], f[2])))
            })
            .collect();
        for w in peers {
            let Role::Pub { writer } = w.role else {
                continue;
            };
            let before = s.ready.is_some_and(|r| r < w.spawned);
            let sent = w
                .field("done", "sent")
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|_| w.killed.is_none());
            match (seen.get(&writer), sent) {
                (Some(&(first, _)), _) if before && first != 1 => problems.push(format!(
                    "{}: kind=lost-start writer={writer} expected=1 got={first} (it was ready \
                     before w{writer} was spawned, so it must get every sample of it)",
                    s.role
                )),
                (Some(&(_, last)), Some(n)) if last != n => problems.push(format!(
                    "{}: kind=lost-tail writer={writer} expected={n} got={last} (w{writer} \
                     survived and sent {n})",
                    s.role
                )),
                (None, Some(n)) if before && n > 0 => problems.push(format!(
                    "{}: kind=lost-all writer={writer} expected={n} got=0 (ready before \
                     w{writer} was spawned, which sent {n})",
                    s.role
                )),
                _ => {}
            }
        }
    }
}

/// Reads `n` bytes at `offset` of the segment file as little-endian words.
fn words_at(file: &std::fs::File, offset: usize, n: usize) -> std::io::Result<Vec<u64>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; n * 8];
    file.read_exact_at(&mut buf, offset as u64)?;
    Ok(buf
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

/// The membership masks and, for every subscriber record outside the
/// member mask, its hazards, read from the file (no process writes it now).
fn membership_problems(path: &std::path::Path, config: &TopicConfig) -> Vec<String> {
    let mut out = Vec::new();
    let Some(layout) = Layout::compute(config) else {
        return vec!["the segment's config has no layout".into()];
    };
    let r = (|| -> std::io::Result<()> {
        let file = std::fs::File::open(path)?;
        let m = std::mem::offset_of!(SegmentHeader, members);
        let word = |off: usize| words_at(&file, m + off, 1).map(|w| w[0]);
        let subs = word(std::mem::offset_of!(Membership, subscribers))?;
        let reliable = word(std::mem::offset_of!(Membership, reliable))?;
        let sleepers = word(std::mem::offset_of!(Membership, sleepers))?;
        if reliable & !subs != 0 {
            out.push(format!(
                "reliable mask {reliable:#x} has bits outside the subscriber mask {subs:#x} \
                 (left by a process killed between its reliable and member bits?)"
            ));
        }
        if sleepers & !subs != 0 {
            out.push(format!(
                "sleepers mask {sleepers:#x} has bits outside the subscriber mask {subs:#x}"
            ));
        }
        let hz = std::mem::offset_of!(SubscriberRecord, hazards);
        for i in 0..config.max_subscribers as usize {
            if subs & (1 << i) != 0 {
                continue;
            }
            let h = words_at(&file, layout.subscriber(i) + hz, config.max_held as usize)?;
            if h.iter().any(|w| *w != 0) {
                out.push(format!(
                    "subscriber record {i} is not a member but has hazards {h:x?}"
                ));
            }
        }
        Ok(())
    })();
    if let Err(e) = r {
        out.push(format!("reading {}: {e}", path.display()));
    }
    out
}

/// The audit after every child has exited (see the module docs).
fn audit(plan: &Plan, domain: &str, problems: &mut Vec<String>, notes: &mut Vec<String>) {
    let dom = Domain::new("/dev/shm", domain).expect("domain");
    let topic = TopicName::new(TOPIC).expect("topic");
    // The last participant to leave removes the topic; it stays only when
    // the last ones out were killed, and then it must hold nothing alive.
    let before = match axon::inspect::topic(&dom, &topic) {
        Ok(r) => Some(r),
        Err(axon::inspect::InspectError::NoSuchTopic { .. }) => {
            notes.push("removed by its last participant".into());
            None
        }
        Err(e) => {
            problems.push(format!("audit: inspect after the run: {e}"));
            return;
        }
    };
    if let Some(before) = &before {
        audit_leftover(before, problems);
    }
    audit_rest(plan, domain, &dom, &topic, problems, notes);
}

/// The checks of a topic the run left behind (its last participants were
/// killed): nothing counted alive, counters sane.
fn audit_leftover(before: &axon::inspect::TopicReport, problems: &mut Vec<String>) {
    let alive: Vec<String> = before
        .publishers
        .iter()
        .filter(|p| p.liveness == axon::inspect::Liveness::Alive)
        .map(|p| format!("publisher lane {} (pid {})", p.lane, p.pid))
        .chain(
            before
                .subscribers
                .iter()
                .filter(|s| s.liveness == axon::inspect::Liveness::Alive)
                .map(|s| format!("subscriber record {} (pid {})", s.index, s.pid)),
        )
        .collect();
    if !alive.is_empty() {
        problems.push(format!(
            "audit: every process has exited, but inspect counts alive: {}",
            alive.join(", ")
        ));
    }
    let published: u64 = before.publishers.iter().map(|p| p.published).sum();
    for p in &before.publishers {
        if p.published > 1 << 40 || p.claims == 0 {
            problems.push(format!("audit: insane publisher counters: {p:?}"));
        }
    }
    for s in &before.subscribers {
        if s.received.saturating_add(s.dropped) > published || s.corrupt != 0 {
            problems.push(format!(
                "audit: insane subscriber counters (the topic published {published}): {s:?}"
            ));
        }
    }
}

/// The rest of the audit: other topics, fresh participants, temporary files.
fn audit_rest(
    plan: &Plan,
    domain: &str,
    dom: &Domain,
    topic: &TopicName,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    // The other topics of the domain (a creator's): nothing alive either.
    for (t, r) in axon::inspect::topics(dom).unwrap_or_default() {
        match r {
            Ok(r) if r.live_publishers() + r.live_subscribers() > 0 => problems.push(format!(
                "audit: every process has exited, but {t} counts records alive: {:?} {:?}",
                r.publishers, r.subscribers
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("audit: {t}: {e}")),
        }
    }
    match plan.kind {
        Kind::Slice => fresh::<Chaos>(plan, domain, problems, notes),
        Kind::Sized => fresh::<ChaosFixed>(plan, domain, problems, notes),
    }
    // Nothing left behind: the fresh participants were the last to leave.
    match axon::inspect::topic(dom, topic) {
        Err(axon::inspect::InspectError::NoSuchTopic { .. }) => {}
        Ok(r) => problems.push(format!(
            "audit: the topic outlived its last participant: publishers {:?}, subscribers {:?}",
            r.publishers, r.subscribers
        )),
        Err(e) => problems.push(format!("audit: inspect at the end: {e}")),
    }
    let tmp = temporaries(dom);
    if tmp.is_empty() {
        return;
    }
    // A creator killed before publishing leaves its temporary file; the next
    // creation in the domain removes those unlocked and older than
    // TEMP_GRACE. Wait until they are, create another topic, look again.
    notes.push(format!("a killed creator left {tmp:?}"));
    let deadline = Instant::now() + TEMP_GRACE + Duration::from_secs(5);
    while Instant::now() < deadline
        && tmp.iter().any(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() < TEMP_GRACE)
        })
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let node = support::node_in(domain, "chaos-sweep");
    match node.publisher::<ChaosFixed>("/chaos_sweep").create() {
        Ok(p) => drop(p),
        Err(e) => problems.push(format!("audit: creating /chaos_sweep: {e}")),
    }
    let left = temporaries(dom);
    if left.is_empty() {
        notes.push("swept by the next creation".into());
    } else {
        problems.push(format!(
            "audit: temporary files left behind in /dev/shm, not removed by the next \
             creation {TEMP_GRACE:?} later: {left:?}"
        ));
    }
}

/// How old an unlocked temporary file must be before the next creation
/// removes it (`TEMP_GRACE` in segment.rs), plus a margin.
const TEMP_GRACE: Duration = Duration::from_millis(5_500);

/// The `~tmp.` files of `dom` in `/dev/shm`.
fn temporaries(dom: &Domain) -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&dom.prefix()) && n.contains("~tmp.")
        })
        .map(|e| e.path())
        .collect()
}

/// A fresh publisher and reliable subscriber join the audited segment.
fn fresh<T: Wire + ?Sized>(
    plan: &Plan,
    domain: &str,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    let node = support::node_in(domain, "chaos-fresh");
    let q = qos(plan.history);
    let sub = match node
        .subscriber::<T>(TOPIC)
        .qos(q.clone())
        .reliable()
        .create()
    {
        Ok(s) => s,
        Err(e) => return problems.push(format!("audit: a fresh subscriber cannot join: {e}")),
    };
    let p = match node.publisher::<T>(TOPIC).qos(q).create() {
        Ok(p) => p,
        Err(e) => return problems.push(format!("audit: a fresh publisher cannot join: {e}")),
    };
    let st = p.raw().slot_stats();
    if st.retired != 0 || st.free + st.retired + st.in_ring + st.loaned != st.slots {
        problems.push(format!(
            "audit: the fresh publisher's lane {} has slots held by nobody alive: {st:?}",
            p.raw().lane()
        ));
    }
    let dom = Domain::new("/dev/shm", domain).expect("domain");
    let topic = TopicName::new(TOPIC).expect("topic");
    match axon::inspect::topic(&dom, &topic) {
        Ok(r) => {
            if r.dead_participants() != 0 || r.live_publishers() != 1 || r.live_subscribers() != 1 {
                problems.push(format!(
                    "audit: after fresh participants joined (and reaped), want exactly them: \
                     publishers {:?}, subscribers {:?}",
                    r.publishers, r.subscribers
                ));
            }
            problems.extend(
                membership_problems(&r.path, &r.config)
                    .into_iter()
                    .map(|m| format!("audit: {m}")),
            );
        }
        Err(e) => problems.push(format!("audit: inspect with fresh participants: {e}")),
    }
    let mut rng = Rng(0x5eed);
    for seq in 1..=3 * plan.history as u64 + 5 {
        let len = rng.len(T::MAX_LEN);
        match T::loan(&p, len, Duration::from_secs(3)) {
            Ok(mut l) => {
                write_sample(&mut *l, FRESH_WRITER, seq, len);
                l.send();
            }
            Err(e) => {
                return problems.push(format!(
                    "audit: the fresh publisher cannot send sample {seq}: {e}"
                ))
            }
        }
        let mut got = sub.recv_timeout(Duration::from_secs(3));
        // A writer killed inside a send on the lane the fresh publisher
        // took: the new owner finishes that send first (once).
        if seq == 1 {
            if let Ok(Ok((w, _))) = got.as_ref().map(|x| verify(&**x)) {
                if w != FRESH_WRITER {
                    notes.push(format!("the fresh publisher finished a send of w{w}"));
                    drop(got);
                    got = sub.recv_timeout(Duration::from_secs(3));
                }
            }
        }
        match got {
            Ok(x) => match verify(&*x) {
                Ok((FRESH_WRITER, s)) if s == seq => {}
                Ok(ws) => {
                    return problems.push(format!(
                        "audit: the fresh subscriber got (writer, seq) {ws:?}, expected ({FRESH_WRITER}, {seq})"
                    ))
                }
                Err(e) => return problems.push(format!("audit: fresh sample: {e}")),
            },
            Err(e) => {
                return problems.push(format!(
                    "audit: the fresh subscriber did not get sample {seq}: {e}"
                ))
            }
        }
    }
}

fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The chaos campaign: trials until `AXON_CHAOS_SECS` (default 45) have
/// passed, or the one trial `AXON_CHAOS_SEED` names.
#[test]
fn sigkill_chaos_reliable_loses_nothing_and_segment_stays_clean() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let secs: u64 = std::env::var("AXON_CHAOS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(45);
    let replay = std::env::var("AXON_CHAOS_SEED")
        .ok()
        .map(|s| parse_seed(&s).expect("AXON_CHAOS_SEED: a number, decimal or 0x-hex"));
    let base = replay.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ std::process::id() as u64
    });
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut n = 0u64;
    loop {
        let seed = match replay {
            Some(s) => s,
            None => Rng(base.wrapping_add(n)).next(),
        };
        let t = Instant::now();
        match run_trial(seed, n) {
            Ok(summary) => eprintln!(
                "chaos trial {n} seed={seed:#x} ok ({:.1} s): {summary}",
                t.elapsed().as_secs_f64()
            ),
            Err(why) => {
                let f = format!(
                    "chaos trial {n} seed={seed:#x} FAILED (replay: AXON_CHAOS_SEED={seed:#x} \
                     cargo test --release -p axon --test chaos -- --nocapture)\n{why}"
                );
                eprintln!("{f}");
                failures.push(f);
            }
        }
        n += 1;
        if replay.is_some() || started.elapsed() >= Duration::from_secs(secs) {
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} chaos trials failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A slice message whose elements are smaller than its alignment, as the
/// chaos publishers first sent: `{ len: u64, data: [u8] }`.
#[derive(FromBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Bytes {
    len: u64,
    data: [u8],
}

/// Found by the first chaos run: a slot holds `fixed + len * elem` bytes,
/// but the typed view of a `{ u64, [u8] }` message of `len` elements needs
/// that rounded up to the 8-byte alignment. So writing a loan of 5 elements
/// panics in `Loan::deref_mut` ("slot payload is 32-aligned and sized for
/// the message at creation"), and a subscriber silently drops such a sample
/// (`Sample::new` finds the view too short), even a reliable one.
#[test]
fn slice_message_of_bytes_with_a_length_off_its_alignment_round_trips() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let domain = TrialDomain(format!("chaos{}-odd", std::process::id()));
    let node = support::node_in(&domain.0, "odd");
    let p = node
        .publisher::<Bytes>("/odd")
        .max_len(64)
        .create()
        .unwrap();
    let s = node
        .subscriber::<Bytes>("/odd")
        .max_len(64)
        .reliable()
        .create()
        .unwrap();
    let mut problems = Vec::new();
    for len in [5usize, 8, 13] {
        // Reader side: the bytes written untyped.
        let mut l = p.raw().loan_slot(len).unwrap();
        let b = l.bytes_mut();
        b[..8].copy_from_slice(&(len as u64).to_le_bytes());
        b[8..].fill(len as u8);
        l.send();
        match s.try_recv() {
            Ok(Some(x)) if x.data.len() == len && x.data.iter().all(|b| *b == len as u8) => {}
            Ok(Some(x)) => problems.push(format!(
                "{len} elements: received {} elements",
                x.data.len()
            )),
            Ok(None) => problems.push(format!(
                "{len} elements: a reliable subscriber received nothing (dropped={}, \
                 corrupt={})",
                s.dropped(),
                s.raw().corrupt()
            )),
            Err(e) => problems.push(format!("{len} elements: {e}")),
        }
        // Writer side: the typed loan.
        let typed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut l = p.loan_slice(len).unwrap();
            l.len = len as u64;
            l.data.fill(len as u8);
            l.send();
        }));
        if typed.is_err() {
            problems.push(format!(
                "{len} elements: writing the typed loan panicked (Loan::deref_mut)"
            ));
        }
        while let Ok(Some(_)) = s.try_recv() {}
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
