//! Work queues with real processes: workers SIGKILLed and restarted at
//! random moments while producers send (every job acknowledged, none lost,
//! duplicates only as flagged redeliveries), a poison job that kills its
//! workers reaching the dead letters after `max_deliveries`, a full queue,
//! corrupted and hostile queue files, and a durable queue whose every
//! process is SIGKILLed mid-stream. Every wait has a watchdog.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use axon::queue::{inspect, queue_path, QueueInfo};
use axon::{Domain, Node, QueueOpenError, QueueRecvError, SendError, TopicName};

const ROLE: &str = "AXON_QUEUE_TEST_ROLE";

#[axon::message]
#[derive(Debug, Clone, Copy)]
struct Job {
    id: u64,
    check: u64,
}

fn check_of(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5
}

fn node(domain: &str, name: &str) -> Node {
    let d = Domain::new("/dev/shm", domain).unwrap();
    Node::builder(name)
        .domain(d)
        .no_signal_handlers()
        .create()
        .unwrap()
}

fn path_of(domain: &str, name: &str) -> PathBuf {
    queue_path(
        &Domain::new("/dev/shm", domain).unwrap(),
        &TopicName::new(name).unwrap(),
    )
}

/// Removes the test domain's queue files (and any temporaries).
fn remove_queues(domain: &str) {
    let file = path_of(domain, "/x");
    let prefix = file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches('x')
        .to_string();
    for e in std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    support::remove_domain(domain);
}

/// Removes the test domain's files when the test ends, passed or failed.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_queues(&self.0);
    }
}

/// The entry point of every child process (`support::spawn_role`).
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split_whitespace().collect();
    match args[0] {
        // producer DOMAIN QUEUE FIRST COUNT [DURABLE_PATH]
        "producer" => {
            let n = node(args[1], "producer");
            let mut b = n.queue_producer::<Job>(args[2]).max_deliveries(10);
            if let Some(p) = args.get(5) {
                b = b.durable(p);
                b = if args.get(6) == Some(&"unless-acked") {
                    b.sync_unless_acked(true)
                } else {
                    b.sync(true)
                };
            }
            let p = b.create().unwrap();
            let first: u64 = args[3].parse().unwrap();
            let count: u64 = args[4].parse().unwrap();
            for id in first..first + count {
                p.send_timeout(
                    &Job {
                        id,
                        check: check_of(id),
                    },
                    Some(Duration::from_secs(60)),
                )
                .unwrap();
                if args.len() > 5 {
                    println!("SENT {id}");
                }
            }
            println!("DONE");
        }
        // worker DOMAIN QUEUE PREFETCH [DURABLE_PATH]
        "worker" => {
            let n = node(args[1], "worker");
            let mut b = n
                .queue_worker::<Job>(args[2])
                .max_deliveries(10)
                .prefetch(args[3].parse().unwrap());
            if let Some(p) = args.get(4) {
                b = b.durable(p);
            }
            let w = b.create().unwrap();
            println!("READY");
            let mut held = Vec::new();
            loop {
                // Hold up to 3 jobs while more are waiting, then settle them
                // all: kills then catch several jobs in flight.
                let next = if held.is_empty() {
                    w.recv_timeout(Duration::from_secs(60)).map(Some)
                } else {
                    w.try_recv()
                };
                match next {
                    Ok(Some(job)) => {
                        assert_eq!(job.check, check_of(job.id), "job {} corrupted", job.id);
                        // Printed before the ack: a kill in between redelivers it.
                        println!("GOT {} {}", job.id, job.delivery_count());
                        held.push(job);
                        if held.len() >= 3 {
                            for j in held.drain(..) {
                                j.ack().unwrap();
                            }
                        }
                    }
                    Ok(None) | Err(QueueRecvError::PrefetchFull { .. }) => {
                        for j in held.drain(..) {
                            j.ack().unwrap();
                        }
                    }
                    Err(e) => panic!("worker: {e}"),
                }
            }
        }
        // poison-worker DOMAIN QUEUE: dies (abort) on job 0, acks the rest
        "poison-worker" => {
            let n = node(args[1], "poison-worker");
            let w = n
                .queue_worker::<Job>(args[2])
                .max_deliveries(3)
                .create()
                .unwrap();
            loop {
                let job = match w.recv_timeout(Duration::from_millis(500)) {
                    Ok(job) => job,
                    Err(QueueRecvError::Timeout) => return,
                    Err(e) => panic!("{e}"),
                };
                println!("GOT {} {}", job.id, job.delivery_count());
                if job.id == 0 {
                    std::process::abort();
                }
                job.ack().unwrap();
            }
        }
        // exec-worker DOMAIN QUEUE FAIL_ID: an executor worker settling by
        // its callback's result; job FAIL_ID fails on its first delivery.
        "exec-worker" => {
            let n = node(args[1], "exec-worker");
            let w = n
                .queue_worker::<Job>(args[2])
                .max_deliveries(10)
                .prefetch(4)
                .create()
                .unwrap();
            let fail: u64 = args[3].parse().unwrap();
            println!("READY");
            let r = n
                .executor()
                .on_job(&w, |job| -> Result<(), String> {
                    assert_eq!(job.check, check_of(job.id), "job {} corrupted", job.id);
                    println!("GOT {} {}", job.id, job.delivery_count());
                    if job.id == fail && !job.redelivered() {
                        return Err(format!("job {} refused", job.id));
                    }
                    Ok(())
                })
                .spin();
            println!("SPIN-ERR {}", r.unwrap_err());
        }
        other => panic!("unknown role {other}"),
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn spawn(args: &[&str]) -> (Child, Receiver<String>) {
    support::spawn_with_lines(&mut support::role_command(ROLE, args[0], &args[1..]))
}

/// The next line within 50 ms, unless `until` has passed: a drain that
/// ends even when its peer never stops printing.
fn recv_until(rx: &Receiver<String>, until: Instant) -> Option<String> {
    if Instant::now() >= until {
        return None;
    }
    rx.recv_timeout(Duration::from_millis(50)).ok()
}

fn info_of(domain: &str, name: &str) -> QueueInfo {
    inspect(&path_of(domain, name)).unwrap()
}

/// What workers reported: per job, the delivery counts seen, in order.
#[derive(Default)]
struct Seen(HashMap<u64, Vec<u32>>);

impl Seen {
    fn take(&mut self, line: &str) {
        // The first line of a child follows libtest's "test child_entry ... ".
        if let Some(rest) = line.find("GOT ").map(|at| &line[at + 4..]) {
            let mut it = rest.split(' ');
            let id: u64 = it.next().unwrap().parse().unwrap();
            let count: u32 = it.next().unwrap().parse().unwrap();
            self.0.entry(id).or_default().push(count);
        }
    }

    /// Every delivery of a job has its own delivery count: a job seen
    /// again was flagged as a redelivery with a larger count. (The first
    /// one may itself be a redelivery: a worker killed between claim and
    /// print.)
    fn check_duplicates_flagged(&self) -> usize {
        let mut redelivered = 0;
        for (id, counts) in &self.0 {
            // Lines of several workers arrive on one channel each, read in
            // turn: order by delivery count, which must then be distinct
            // (two deliveries with one count = a duplicate unflagged).
            let mut counts = counts.clone();
            counts.sort_unstable();
            for w in counts.windows(2) {
                assert!(
                    w[1] > w[0],
                    "job {id} delivered again unflagged: {counts:?}"
                );
            }
            redelivered += counts.len() - 1;
        }
        redelivered
    }
}

#[test]
fn jobs_survive_sigkilled_workers_none_lost_duplicates_flagged() {
    let domain = format!("qkill{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let total: u64 = std::env::var("AXON_QUEUE_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let seed = 0x9E37_79B9u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    eprintln!("seed {seed:#x}");
    let mut rng = Rng(seed | 1);
    let half = (total / 2).to_string();
    let second = (total / 2).to_string();
    let rest = (total - total / 2).to_string();
    let q = "/jobs";
    let mut workers: Vec<(Child, Receiver<String>)> = (0..3)
        .map(|_| spawn(&["worker", &domain, q, "4"]))
        .collect();
    let mut producers = [
        spawn(&["producer", &domain, q, "0", &half]),
        spawn(&["producer", &domain, q, &second, &rest]),
    ];
    let mut seen = Seen::default();
    let mut done = 0;
    let mut kills = 0;
    let watchdog = Instant::now() + Duration::from_secs(240);
    let mut next_kill = Instant::now() + Duration::from_millis(5 + rng.next() % 35);
    while seen.0.len() < total as usize || done < 2 {
        assert!(
            Instant::now() < watchdog,
            "watchdog: {} of {total} jobs seen, {done} producers done after {kills} kills",
            seen.0.len()
        );
        for (_, rx) in workers.iter() {
            while let Ok(line) = rx.try_recv() {
                seen.take(&line);
            }
        }
        for (_, rx) in producers.iter() {
            while let Ok(line) = rx.try_recv() {
                done += line.ends_with("DONE") as usize;
            }
        }
        if Instant::now() >= next_kill && seen.0.len() < total as usize {
            let i = (rng.next() % 3) as usize;
            kill(&mut workers[i].0);
            // Lines it wrote before it died are still in the pipe.
            while let Ok(line) = workers[i].1.recv_timeout(Duration::from_millis(100)) {
                seen.take(&line);
            }
            workers[i] = spawn(&["worker", &domain, q, "4"]);
            kills += 1;
            next_kill = Instant::now() + Duration::from_millis(5 + rng.next() % 35);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // The last acks follow the last lines: wait until every slot is
    // settled (nothing waiting, held or dead), not for the `acked` counter:
    // a worker killed between freeing a slot and counting it leaves the
    // counter one short (counters are statistics; the slots are the truth).
    loop {
        let info = info_of(&domain, q);
        if (info.ready, info.claimed, info.dead) == (0, 0, 0) {
            break;
        }
        assert!(Instant::now() < watchdog, "watchdog: {info:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    for (c, _) in workers.iter_mut().chain(producers.iter_mut()) {
        kill(c);
    }
    let info = info_of(&domain, q);
    let redelivered = seen.check_duplicates_flagged();
    eprintln!("{kills} kills, {redelivered} redeliveries, {info:?}");
    assert!(kills >= 5, "the run was too short to kill anyone");
    assert_eq!(seen.0.len() as u64, total, "jobs lost");
    assert_eq!(info.sent, total);
    assert!(
        info.acked <= total && info.acked + kills as u64 >= total,
        "acked {} of {total} after {kills} kills: at most one count lost per kill",
        info.acked
    );
    assert_eq!((info.ready, info.claimed, info.dead), (0, 0, 0), "{info:?}");
    assert_eq!(info.corrupt, 0);
    remove_queues(&domain);
}

#[test]
fn poison_job_reaches_dead_letters_after_max_deliveries() {
    let domain = format!("qpoison{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let q = "/jobs";
    let n = node(&domain, "test");
    let p = n
        .queue_producer::<Job>(q)
        .max_deliveries(3)
        .create()
        .unwrap();
    for id in 0..20 {
        p.send(&Job {
            id,
            check: check_of(id),
        })
        .unwrap();
    }
    let mut seen = Seen::default();
    let watchdog = Instant::now() + Duration::from_secs(60);
    let mut restarts = 0;
    // Each worker process aborts on job 0; restart until all others are acked.
    while info_of(&domain, q).acked < 19 {
        assert!(
            Instant::now() < watchdog,
            "watchdog: {:?}",
            info_of(&domain, q)
        );
        let (mut c, rx) = spawn(&["poison-worker", &domain, q]);
        let _ = c.wait();
        restarts += 1;
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.take(&line);
        }
        assert!(
            restarts <= 10,
            "the poison job kept coming: {:?}",
            seen.0.get(&0)
        );
    }
    seen.check_duplicates_flagged();
    assert_eq!(seen.0[&0], vec![1, 2, 3], "poison job deliveries");
    let info = info_of(&domain, q);
    assert_eq!(
        (info.ready, info.claimed, info.dead, info.dead_lettered),
        (0, 0, 1, 1)
    );
    // The dead-letter view delivers it, once, with its count.
    let dead = n.queue_worker::<Job>(q).dead_letters().create().unwrap();
    let d = dead.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!((d.id, d.delivery_count()), (0, 3));
    d.ack().unwrap();
    assert!(dead.try_recv().unwrap().is_none());
    let w = n.queue_worker::<Job>(q).create().unwrap();
    assert!(
        w.try_recv().unwrap().is_none(),
        "a dead letter was delivered as a job"
    );
    assert_eq!(info_of(&domain, q).dead, 0);
    drop((w, dead, p));
    remove_queues(&domain);
}

#[test]
fn full_queue_gives_full_and_send_timeout_waits_for_room() {
    let domain = format!("qfull{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let n = node(&domain, "test");
    let p = n
        .queue_producer::<Job>("/jobs")
        .capacity(4)
        .create()
        .unwrap();
    for id in 0..4 {
        p.send(&Job {
            id,
            check: check_of(id),
        })
        .unwrap();
    }
    assert!(matches!(
        p.send(&Job { id: 9, check: 0 }),
        Err(SendError::Full { capacity: 4, .. })
    ));
    assert!(matches!(p.loan(), Err(SendError::Full { .. })));
    assert!(matches!(
        p.send_timeout(&Job { id: 9, check: 0 }, Some(Duration::from_millis(50))),
        Err(SendError::Timeout { .. })
    ));
    // Another process acknowledges one job: the waiting send goes through.
    let (mut c, rx) = spawn(&["worker", &domain, "/jobs", "1"]);
    p.send_timeout(
        &Job {
            id: 4,
            check: check_of(4),
        },
        Some(Duration::from_secs(20)),
    )
    .unwrap();
    kill(&mut c);
    drop(rx);
    // Two `Full`s and one `Timeout`.
    assert_eq!(info_of(&domain, "/jobs").full, 3);
    drop(p);
    remove_queues(&domain);
}

#[test]
fn worker_prefetch_bounds_held_jobs_and_dropped_delivery_is_requeued() {
    let domain = format!("qprefetch{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let n = node(&domain, "test");
    let p = n.queue_producer::<Job>("/jobs").create().unwrap();
    for id in 0..5 {
        p.send(&Job { id, check: 0 }).unwrap();
    }
    let w = n.queue_worker::<Job>("/jobs").prefetch(2).create().unwrap();
    let a = w.try_recv().unwrap().unwrap();
    let b = w.try_recv().unwrap().unwrap();
    assert_eq!((a.id, b.id), (0, 1), "FIFO");
    assert!(matches!(
        w.try_recv(),
        Err(QueueRecvError::PrefetchFull { prefetch: 2 })
    ));
    drop(a); // unsettled: requeued at the front
    let again = w.try_recv().unwrap().unwrap();
    assert_eq!(
        (again.id, again.redelivered(), again.delivery_count()),
        (0, true, 2)
    );
    assert!(!again.nack().unwrap());
    b.reject().unwrap();
    assert_eq!(info_of(&domain, "/jobs").dead, 1);
    drop(w);
    drop(p);
    remove_queues(&domain);
}

fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn corrupted_queue_file_is_refused_clearly_never_a_crash() {
    let domain = format!("qcorrupt{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let n = node(&domain, "test");
    let path = path_of(&domain, "/jobs");
    let open = || n.queue_worker::<Job>("/jobs").create().map(|_| ());
    // Not a queue at all.
    write_file(&path, b"hello");
    let e = open().unwrap_err();
    assert!(matches!(e, QueueOpenError::Corrupted { .. }), "{e}");
    assert!(e.to_string().contains("too short"), "{e}");
    write_file(&path, &vec![0u8; 64 << 10]);
    let e = open().unwrap_err();
    assert!(e.to_string().contains("bad magic"), "{e}");
    std::fs::remove_file(&path).unwrap();
    // A valid queue, then damaged in several ways.
    drop(
        n.queue_producer::<Job>("/jobs")
            .capacity(8)
            .create()
            .unwrap(),
    );
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    bad[8] ^= 0xFF; // version
    write_file(&path, &bad);
    assert!(matches!(
        open().unwrap_err(),
        QueueOpenError::VersionMismatch { .. }
    ));
    let mut bad = good.clone();
    bad[40] ^= 1; // inside the config: checksum
    write_file(&path, &bad);
    let e = open().unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
    write_file(&path, &good[..good.len() - 4096]);
    let e = open().unwrap_err();
    assert!(e.to_string().contains("does not match its header"), "{e}");
    // A FIFO is refused without blocking.
    std::fs::remove_file(&path).unwrap();
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
    assert!(matches!(open().unwrap_err(), QueueOpenError::Io { .. }));
    std::fs::remove_file(&path).unwrap();

    // A hostile process scribbles over the slot words and slot headers of a
    // live queue: sends, receives and settles go on without a panic or a
    // hang, and corruption is counted.
    write_file(&path, &good);
    let p = n.queue_producer::<Job>("/jobs").create().unwrap();
    let w = n.queue_worker::<Job>("/jobs").prefetch(8).create().unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let map = memmap2::MmapRaw::map_raw(&file).unwrap();
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let deadline = Instant::now() + Duration::from_secs(60);
    for round in 0..2000u64 {
        assert!(Instant::now() < deadline, "watchdog");
        // Random words anywhere past the config (records, slot words, metas).
        for _ in 0..4 {
            let off = (1024 + rng.next() as usize % (map.len() - 1032)) & !7;
            // SAFETY: in bounds (checked above) and 8-aligned; the queue's
            // own participants use only atomic accesses, so a racing plain
            // write is what a hostile process does.
            unsafe { std::ptr::write_volatile(map.as_mut_ptr().add(off) as *mut u64, rng.next()) };
        }
        let _ = p.send(&Job {
            id: round,
            check: 0,
        });
        if let Ok(Some(d)) = w.try_recv() {
            let _ = d.id;
            let _ = match round % 3 {
                0 => d.ack(),
                1 => d.nack().map(|_| ()),
                _ => d.reject(),
            };
        }
    }
    let info = info_of(&domain, "/jobs");
    assert!(info.corrupt > 0, "{info:?}");
    drop((w, p));
    remove_queues(&domain);
}

#[test]
fn durable_queue_every_process_sigkilled_mid_stream_delivers_all_remaining() {
    let domain = format!("qdurable{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let dir = std::env::temp_dir().join(format!("axon-queue-durable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    struct RemoveDir(PathBuf);
    impl Drop for RemoveDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _remove_dir = RemoveDir(dir.clone());
    let file = dir.join("jobs.queue");
    let fp = file.to_str().unwrap();
    let q = "/jobs";
    let mut sent = HashSet::new();
    let mut seen = Seen::default();
    let watchdog = Instant::now() + Duration::from_secs(120);
    for round in 0..3u64 {
        let first = (round * 100_000).to_string();
        let (mut prod, prx) = spawn(&["producer", &domain, q, &first, "100000", fp]);
        let (mut work, wrx) = spawn(&["worker", &domain, q, "4", fp]);
        // Let both run, then SIGKILL everyone at once.
        let until = Instant::now() + Duration::from_millis(300 + 200 * round);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        kill(&mut prod);
        kill(&mut work);
        while let Ok(l) = prx.recv_timeout(Duration::from_millis(50)) {
            if let Some(id) = l.find("SENT ").map(|at| &l[at + 5..]) {
                sent.insert(id.parse::<u64>().unwrap());
            }
        }
        while let Ok(l) = wrx.recv_timeout(Duration::from_millis(50)) {
            seen.take(&l);
        }
        assert!(Instant::now() < watchdog, "watchdog");
    }
    assert!(!sent.is_empty(), "nothing was sent before the kills");
    // Reopen: every job sent and not yet seen is delivered.
    let n = node(&domain, "drain");
    let w = n
        .queue_worker::<Job>(q)
        .durable(&file)
        .max_deliveries(10)
        .create()
        .unwrap();
    loop {
        assert!(Instant::now() < watchdog, "watchdog");
        match w.recv_timeout(Duration::from_millis(500)) {
            Ok(j) => {
                assert_eq!(j.check, check_of(j.id), "job {} corrupted", j.id);
                seen.take(&format!("GOT {} {}", j.id, j.delivery_count()));
                j.ack().unwrap();
            }
            Err(QueueRecvError::Timeout) => break,
            Err(e) => panic!("{e}"),
        }
    }
    seen.check_duplicates_flagged();
    let lost: Vec<_> = sent.iter().filter(|id| !seen.0.contains_key(id)).collect();
    assert!(
        lost.is_empty(),
        "{} sent jobs lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let info = inspect(&file).unwrap();
    assert_eq!((info.ready, info.claimed, info.dead), (0, 0, 0), "{info:?}");
    eprintln!("{} sent, {} delivered, {info:?}", sent.len(), seen.0.len());
    drop(w);
    // A damaged durable file is refused with its path.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] = b'X';
    std::fs::write(&file, &bytes).unwrap();
    let e = n
        .queue_worker::<Job>(q)
        .durable(&file)
        .create()
        .unwrap_err();
    assert!(
        e.to_string().contains("jobs.queue") && e.to_string().contains("bad magic"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    remove_queues(&domain);
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/queue_image")
}

/// Writes the seeds of `fuzz/corpus/queue_image`: real queue files made by
/// the public API, with jobs in every state (ready, claimed by a live or a
/// dead worker, dead letters), for `FuzzSample` jobs.
fn write_seeds() {
    use axon::fuzzing::FuzzSample;
    let dir = std::env::temp_dir().join(format!("axon-queue-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(corpus_dir()).unwrap();
    let n = node(&format!("qseed{}", std::process::id()), "seed");
    let job = |seq| FuzzSample { seq, value: !seq };
    for (name, capacity, states) in [
        ("empty", 1u32, ""),
        ("ready", 4, "rrr"),
        ("mixed", 8, "rrcdD"),
    ] {
        let path = dir.join(name);
        let p = n
            .queue_producer::<FuzzSample>("/fuzz")
            .durable(&path)
            .capacity(capacity)
            .max_deliveries(2)
            .create()
            .unwrap();
        let w = n
            .queue_worker::<FuzzSample>("/fuzz")
            .durable(&path)
            .prefetch(capacity)
            .create()
            .unwrap();
        let mut held = Vec::new();
        for (k, s) in states.chars().enumerate() {
            p.send(&job(k as u64)).unwrap();
            match s {
                'c' => held.push(w.try_recv().unwrap().unwrap()),
                'd' => w.try_recv().unwrap().unwrap().reject().unwrap(),
                'D' => {
                    // Delivered twice (max), then requeued: a dead letter.
                    w.try_recv().unwrap().unwrap().nack().unwrap();
                    let again = w.try_recv().unwrap().unwrap();
                    assert!(again.nack().unwrap());
                }
                _ => {}
            }
        }
        // The file as its processes left it when they died: held jobs
        // still claimed by a record nobody holds.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(corpus_dir().join(name), bytes).unwrap();
        drop(held);
        drop((w, p));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corpus_queue_image_replays_without_panic() {
    if std::env::var_os("AXON_FUZZ_WRITE_SEEDS").is_some() {
        write_seeds();
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/queue_image exists")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "the corpus lost its seeds: {files:?}");
    for f in &files {
        let data = std::fs::read(f).unwrap();
        axon::fuzzing::queue_image(&data);
        // Hostile variants: a byte flipped every 509 bytes (header, config,
        // records, slot words, payloads), and every 8-byte slot word region
        // filled with ones.
        for i in (0..data.len()).step_by(509) {
            let mut bad = data.clone();
            bad[i] ^= 0x5A;
            axon::fuzzing::queue_image(&bad);
        }
        let mut ones = data.clone();
        for b in ones.iter_mut().skip(768) {
            *b = 0xFF;
        }
        axon::fuzzing::queue_image(&ones);
        axon::fuzzing::queue_image(&data[..data.len() / 2]);
    }
    // The seeds are real queues: the valid ones deliver their ready jobs.
    let mixed = std::fs::read(corpus_dir().join("mixed")).unwrap();
    let dir = std::env::temp_dir().join(format!("axon-queue-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mixed");
    std::fs::write(&path, &mixed).unwrap();
    let info = inspect(&path).unwrap();
    assert_eq!((info.ready, info.claimed, info.dead), (2, 1, 2), "{info:?}");
    let n = node(&format!("qreplay{}", std::process::id()), "replay");
    let w = n
        .queue_worker::<axon::fuzzing::FuzzSample>("/fuzz")
        .durable(&path)
        .prefetch(4)
        .create()
        .unwrap();
    let mut got = Vec::new();
    while let Some(d) = w.try_recv().unwrap() {
        got.push((d.seq, d.delivery_count()));
        d.ack().unwrap();
    }
    got.sort();
    // Job 0 was claimed by a worker that is gone (redelivered), 1 and 2 are
    // dead letters, 3 and 4 were ready.
    assert_eq!(got, vec![(0, 2), (3, 1), (4, 1)]);
    drop(w);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn worker_in_a_wait_set_wakes_when_another_process_sends() {
    let domain = format!("qwaitset{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let n = node(&domain, "test");
    let w = n
        .queue_worker::<Job>("/jobs")
        .max_deliveries(10)
        .create()
        .unwrap();
    let mut ws = n.wait_set().unwrap();
    let key = ws.queue_worker(&w).unwrap();
    let ready = ws.wait_timeout(Duration::from_millis(20)).unwrap();
    assert!(ready.is_empty(), "nothing was sent yet");
    // A producer process sends 3 jobs; the wait set wakes for each.
    let (mut c, _rx) = spawn(&["producer", &domain, "/jobs", "0", "3"]);
    let mut got = Vec::new();
    let watchdog = Instant::now() + Duration::from_secs(30);
    while got.len() < 3 {
        assert!(Instant::now() < watchdog, "watchdog: got {got:?}");
        let ready = ws.wait_timeout(Duration::from_secs(5)).unwrap();
        if ready.get(key) == Some(axon::Event::Data) {
            let d = w.try_recv().unwrap().expect("Data means a job is waiting");
            got.push(d.id);
            d.ack().unwrap();
        }
    }
    let _ = c.wait();
    assert_eq!(got, vec![0, 1, 2]);
    drop(ws);
}

#[test]
fn purge_and_requeue_dead_move_only_unowned_jobs_without_joining() {
    let domain = format!("qpurge{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let n = node(&domain, "test");
    let p = n.queue_producer::<Job>("/jobs").create().unwrap();
    for id in 0..6 {
        p.send(&Job { id, check: 0 }).unwrap();
    }
    let w = n.queue_worker::<Job>("/jobs").prefetch(3).create().unwrap();
    let held = w.try_recv().unwrap().unwrap();
    let poison = w.try_recv().unwrap().unwrap();
    assert_eq!((held.id, poison.id), (0, 1));
    poison.reject().unwrap();
    let path = path_of(&domain, "/jobs");
    let members = inspect(&path).unwrap().participants.len();

    let dead = axon::queue::dead_letters(&path).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].deliveries, dead[0].held), (1, false));

    // Purge: the 4 waiting jobs go, the held job and the dead letter stay.
    assert_eq!(axon::queue::purge(&path).unwrap(), 4);
    let i = inspect(&path).unwrap();
    assert_eq!((i.ready, i.claimed, i.dead), (0, 1, 1), "{i:?}");
    assert_eq!(i.participants.len(), members, "purge never joins");
    assert!(w.try_recv().unwrap().is_none());

    // Requeue: the dead letter comes back, flagged as a redelivery.
    assert_eq!(axon::queue::requeue_dead(&path).unwrap(), 1);
    assert_eq!(axon::queue::requeue_dead(&path).unwrap(), 0);
    let back = w.try_recv().unwrap().unwrap();
    assert_eq!(
        (back.id, back.redelivered(), back.delivery_count()),
        (1, true, 2)
    );
    back.ack().unwrap();
    held.ack().unwrap();
    assert!(axon::queue::dead_letters(&path).unwrap().is_empty());
    let i = inspect(&path).unwrap();
    assert_eq!((i.ready, i.claimed, i.dead), (0, 0, 0), "{i:?}");

    // `list` finds the queue and names a non-queue file with the prefix.
    let bogus = path.with_file_name(
        path.file_name()
            .unwrap()
            .to_string_lossy()
            .replace("jobs", "bogus"),
    );
    write_file(&bogus, b"not a queue");
    let d = Domain::new("/dev/shm", &domain).unwrap();
    let listed = axon::queue::list(&d).unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(matches!(
        &listed[0].1,
        Err(QueueOpenError::Corrupted { .. })
    ));
    assert_eq!(listed[1].1.as_ref().unwrap().name, "/jobs");
    drop(w);
    drop(p);
    remove_queues(&domain);
}

#[test]
fn executor_workers_in_two_processes_settle_by_callback_result() {
    let domain = format!("qexec{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let q = "/jobs";
    // Create the queue with the workers' settings before anyone joins.
    let n = node(&domain, "test");
    let w0 = n
        .queue_worker::<Job>(q)
        .max_deliveries(10)
        .create()
        .unwrap();
    drop(w0);
    let (mut a, arx) = spawn(&["exec-worker", &domain, q, "7"]);
    let (mut b, brx) = spawn(&["exec-worker", &domain, q, "7"]);
    let (mut p, _prx) = spawn(&["producer", &domain, q, "0", "3000"]);
    let mut seen = Seen::default();
    let mut spin_errors = Vec::new();
    let watchdog = Instant::now() + Duration::from_secs(60);
    loop {
        for rx in [&arx, &brx] {
            while let Ok(l) = rx.try_recv() {
                seen.take(&l);
                if let Some(at) = l.find("SPIN-ERR ") {
                    spin_errors.push(l[at..].to_string());
                }
            }
        }
        let info = info_of(&domain, q);
        if info.sent == 3000 && info.ready + info.claimed == 0 && seen.0.len() == 3000 {
            break;
        }
        assert!(
            Instant::now() < watchdog,
            "watchdog: {info:?}, {} seen",
            seen.0.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = p.wait();
    // Job 7 failed once (requeued by the failing callback, which ended that
    // worker's spin) and was done by the other worker, flagged.
    // (Each worker's lines arrive on its own channel, read one after the
    // other: the two deliveries' lines come in either order.)
    let mut sevens = seen.0[&7].clone();
    sevens.sort_unstable();
    assert_eq!(sevens, vec![1, 2], "job 7's deliveries");
    assert_eq!(spin_errors.len(), 1, "{spin_errors:?}");
    assert!(spin_errors[0].contains("job 7 refused"), "{spin_errors:?}");
    assert_eq!(seen.check_duplicates_flagged(), 1, "only job 7 came twice");
    assert!(
        (0..3000).all(|id| seen.0.contains_key(&id)),
        "a job was lost"
    );
    let info = info_of(&domain, q);
    assert_eq!((info.ready, info.claimed, info.dead), (0, 0, 0), "{info:?}");
    assert_eq!(info.requeued, 1, "{info:?}");
    kill(&mut a);
    kill(&mut b);
}

#[test]
fn executor_on_delivery_settles_explicitly_and_keeps_to_prefetch() {
    let domain = format!("qexecd{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    // Declared before the worker: the callback borrows it for its life.
    let order = std::cell::RefCell::new(Vec::new());
    let n = node(&domain, "test");
    let p = n.queue_producer::<Job>("/jobs").create().unwrap();
    let w = n.queue_worker::<Job>("/jobs").prefetch(2).create().unwrap();
    for id in 0..10 {
        p.send(&Job {
            id,
            check: check_of(id),
        })
        .unwrap();
    }
    let mut kept = Vec::new();
    let seen = &order;
    let r = n
        .executor()
        .on_delivery(&w, move |d| -> Result<(), String> {
            seen.borrow_mut().push(d.id);
            let done = seen.borrow().len();
            match d.id {
                3 => d.reject().map_err(|e| e.to_string())?,
                // Kept unsettled; settled two jobs later.
                5 => kept.push(d),
                _ => d.ack().map_err(|e| e.to_string())?,
            }
            if done == 7 {
                for d in kept.drain(..) {
                    d.ack().map_err(|e| e.to_string())?;
                }
            }
            if done == 10 {
                return Err("all ten".into());
            }
            Ok(())
        })
        .spin();
    assert_eq!(r.unwrap_err().to_string(), "all ten");
    assert_eq!(order.into_inner(), (0..10).collect::<Vec<_>>());
    let info = info_of(&domain, "/jobs");
    assert_eq!((info.ready, info.claimed, info.dead), (0, 0, 1), "{info:?}");
    assert_eq!(info.acked, 9, "{info:?}");
}

#[test]
fn job_past_its_ttl_is_dropped_not_delivered_and_counted() {
    let domain = format!("qttl{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let n = node(&domain, "test");
    let job = |id| Job {
        id,
        check: check_of(id),
    };
    let p = n
        .queue_producer::<Job>("/jobs")
        .ttl(Duration::from_millis(50))
        .create()
        .unwrap();
    for id in 0..3 {
        p.send(&job(id)).unwrap(); // the producer's ttl: 50 ms
    }
    let mut l = p.loan().unwrap();
    *l = job(3);
    l.set_ttl(None); // never expires
    l.send().unwrap();
    let mut l = p.loan().unwrap();
    *l = job(4);
    l.set_ttl(Some(Duration::from_secs(600)));
    l.send().unwrap();
    std::thread::sleep(Duration::from_millis(120));
    let w = n.queue_worker::<Job>("/jobs").prefetch(8).create().unwrap();
    let mut got = Vec::new();
    while let Some(d) = w.try_recv().unwrap() {
        got.push(d.id);
        d.ack().unwrap();
    }
    assert_eq!(got, vec![3, 4], "expired jobs 0..3 were delivered");
    let info = info_of(&domain, "/jobs");
    assert_eq!(info.expired, 3, "{info:?}");
    assert_eq!((info.ready, info.claimed, info.dead), (0, 0, 0), "{info:?}");

    // A queue full of expired jobs makes room for a new one at once.
    let p = n
        .queue_producer::<Job>("/small")
        .capacity(4)
        .ttl(Duration::from_millis(30))
        .create()
        .unwrap();
    for id in 0..4 {
        p.send(&job(id)).unwrap();
    }
    assert!(matches!(p.send(&job(9)), Err(SendError::Full { .. })));
    std::thread::sleep(Duration::from_millis(80));
    p.send(&job(10)).unwrap();
    let info = info_of(&domain, "/small");
    assert_eq!((info.expired, info.ready), (4, 1), "{info:?}");
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Copies `from` to `to` in 64 KiB reads with a yield between them: a
/// torn snapshot, each part taken at a different moment, as a disk holds
/// pages written back at different moments when the power goes.
fn torn_copy(from: &Path, to: &Path) {
    use std::io::{Read, Write};
    let mut src = std::fs::File::open(from).unwrap();
    let mut dst = std::fs::File::create(to).unwrap();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = src.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n]).unwrap();
        std::thread::yield_now();
    }
}

#[test]
fn durable_queue_copied_mid_stream_reopens_with_every_returned_send() {
    copied_mid_stream("qpowercut", 1, "sync");
}

/// Group commit: three producer processes send with `sync(true)` at once
/// (their sends share write-backs) while the file is copied: every job
/// whose send returned before a copy is in it (or was delivered), and the
/// sends did share syncs (fewer write-backs than sends).
#[test]
fn group_commit_of_three_producer_processes_keeps_every_returned_send_in_each_copy() {
    copied_mid_stream("qgroupcommit", 3, "sync");
}

/// `sync_unless_acked`: a send returns once its job is on disk or acked;
/// every job whose send returned is still in each copy or was delivered.
#[test]
fn sync_unless_acked_sends_are_each_in_the_copy_or_delivered() {
    copied_mid_stream("qunlessacked", 3, "unless-acked");
}

/// `producers` processes (ids `k * 1_000_000 ..`) send to a durable
/// `sync(true)` queue; six torn copies of its file are taken at random
/// moments and each is reopened at a new path and drained.
fn copied_mid_stream(tag: &str, producers: u64, mode: &str) {
    let domain = format!("{tag}{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let dir = std::env::temp_dir().join(format!("axon-queue-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    struct RemoveDir(PathBuf);
    impl Drop for RemoveDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _remove_dir = RemoveDir(dir.clone());
    let file = dir.join("jobs.queue");
    let fp = file.to_str().unwrap();
    let q = "/jobs";
    let mut prods: Vec<(Child, Receiver<String>)> = (0..producers)
        .map(|k| {
            let first = (k * 1_000_000).to_string();
            spawn(&["producer", &domain, q, &first, "1000000", fp, mode])
        })
        .collect();
    // The worker starts after the first copy (which must then hold every
    // job sent before it).
    let mut worker: Option<(Child, Receiver<String>)> = None;
    let mut sent = HashSet::new();
    let mut got = HashSet::new();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ std::process::id() as u64);
    let watchdog = Instant::now() + Duration::from_secs(120);
    let (mut checked, mut redelivered) = (0usize, 0usize);
    for copy in 0..6u32 {
        // A random moment mid-stream.
        std::thread::sleep(Duration::from_millis(30 + rng.next() % 120));
        // Even copies: the worker is stopped (no ack during the copy), so
        // every job whose send returned before is either in the copy or
        // was delivered before the stop. Odd copies: the worker runs on.
        if copy == 1 {
            worker = Some(spawn(&["worker", &domain, q, "4", fp]));
        }
        let stopped = copy % 2 == 0;
        let (work, wrx) = match &worker {
            Some((c, rx)) => (Some(c), Some(rx)),
            None => (None, None),
        };
        if let (Some(work), Some(wrx), true) = (work, wrx, stopped) {
            signal(work, "-STOP");
            // Stopped: its lines end (bounded anyway).
            let until = Instant::now() + Duration::from_secs(2);
            while let Some(l) = recv_until(wrx, until) {
                if let Some(id) = l.find("GOT ").map(|at| &l[at + 4..]) {
                    got.insert(id.split(' ').next().unwrap().parse::<u64>().unwrap());
                }
            }
        }
        for (_, prx) in &prods {
            while let Ok(l) = prx.try_recv() {
                if let Some(id) = l.find("SENT ").map(|at| &l[at + 5..]) {
                    sent.insert(id.parse::<u64>().unwrap());
                }
            }
        }
        let sent_before = sent.clone();
        let got_before = got.clone();
        let copy_path = dir.join(format!("copy{copy}.queue"));
        torn_copy(&file, &copy_path);
        if let (Some(work), true) = (work, stopped) {
            signal(work, "-CONT");
        }
        // Reopen the copy as a durable queue of its own and drain it.
        let n = node(&domain, "reopen");
        let w = match n
            .queue_worker::<Job>(q)
            .durable(&copy_path)
            .max_deliveries(10)
            .prefetch(1)
            .create()
        {
            Ok(w) => w,
            Err(QueueOpenError::Corrupted { .. }) => continue, // refused clearly
            Err(e) => panic!("copy {copy}: {e}"),
        };
        let mut in_copy = HashSet::new();
        loop {
            assert!(Instant::now() < watchdog, "watchdog");
            match w.try_recv() {
                Ok(Some(j)) => {
                    assert_eq!(
                        j.check,
                        check_of(j.id),
                        "copy {copy}: job {} wrong data",
                        j.id
                    );
                    assert!(in_copy.insert(j.id), "copy {copy}: job {} twice", j.id);
                    redelivered += j.redelivered() as usize;
                    j.ack().unwrap();
                }
                Ok(None) => break,
                Err(e) => panic!("copy {copy}: {e}"),
            }
        }
        drop(w);
        // Jobs delivered before the copy ended (odd copies: at any time).
        if let (Some(wrx), false) = (wrx, stopped) {
            // A running worker never falls silent: read what it printed
            // until now (every GOT of a job acked before the copy ended was
            // printed before that ack), for at most 1 s.
            let until = Instant::now() + Duration::from_secs(1);
            while let Some(l) = recv_until(wrx, until) {
                if let Some(id) = l.find("GOT ").map(|at| &l[at + 4..]) {
                    got.insert(id.split(' ').next().unwrap().parse::<u64>().unwrap());
                }
            }
        }
        let delivered = if stopped { &got_before } else { &got };
        let lost: Vec<_> = sent_before
            .iter()
            .filter(|id| !in_copy.contains(id) && !delivered.contains(id))
            .collect();
        assert!(
            lost.is_empty(),
            "copy {copy}: {} jobs sent before it lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        checked += sent_before.len();
        let info = inspect(&copy_path).unwrap();
        eprintln!(
            "copy {copy} (worker {}): {} sent before, {} in the copy, corrupt {}",
            match (&worker, stopped) {
                (None, _) => "not started",
                (Some(_), true) => "stopped",
                _ => "running",
            },
            sent_before.len(),
            in_copy.len(),
            info.corrupt
        );
        std::fs::remove_file(&copy_path).unwrap();
    }
    let live = inspect(&file).unwrap();
    for (p, _) in &mut prods {
        kill(p);
    }
    if let Some((mut work, _)) = worker {
        kill(&mut work);
    }
    assert!(checked > 0, "nothing was sent before the copies");
    eprintln!(
        "{producers} producers: {} sends, {} write-backs",
        live.sent, live.syncs
    );
    assert!(live.syncs <= live.sent, "{live:?}");
    if mode == "sync" {
        // Before the worker starts every send needs a write-back.
        assert!(live.syncs > 0, "{live:?}");
    }
    if producers > 1 {
        assert!(
            live.syncs < live.sent,
            "concurrent sends never shared a write-back: {live:?}"
        );
    }
    eprintln!("{redelivered} flagged redeliveries across the copies");
}

#[test]
fn temporary_left_by_a_creator_killed_mid_creation_is_swept_by_the_next_creation() {
    let domain = format!("qtmp{}", std::process::id());
    remove_queues(&domain);
    let _cleanup = Cleanup(domain.clone());
    let file = path_of(&domain, "/jobs");
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    // What a creator SIGKILLed before publishing leaves: an unlocked
    // temporary, older than the grace (its mtime set 60 s back).
    let stale = file.with_file_name(format!("{name}~tmp.999999.0"));
    let recent = file.with_file_name(format!("{name}~tmp.999999.1"));
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::create(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    std::fs::File::create(&recent).unwrap();
    let n = node(&domain, "test");
    let p = n.queue_producer::<Job>("/jobs").create().unwrap();
    assert!(!stale.exists(), "the abandoned temporary was not swept");
    assert!(recent.exists(), "a temporary within the grace was removed");
    drop(p);
    let _ = std::fs::remove_file(&recent);
}
