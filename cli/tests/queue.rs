//! `axon queue list|info|purge|dead` against real producer and worker
//! processes (this test binary, re-run with `AXON_QUEUE_CLI_ROLE`), on a
//! real queue file in a private directory under /dev/shm with its own
//! domain, removed when the test ends, pass or fail. Every wait for a child
//! or for `axon` has a deadline.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;

const AXON: &str = env!("CARGO_BIN_EXE_axon");
const ROLE: &str = "AXON_QUEUE_CLI_ROLE";
const WAIT: Duration = Duration::from_secs(20);

#[axon::message]
#[derive(Debug, Clone, Copy)]
struct Job {
    id: u64,
}

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_default()
}

/// The entry point of every child process: `AXON_QUEUE_CLI_ROLE` names
/// what it plays, in `AXON_SHM_DIR` / `AXON_DOMAIN`. Prints `@ready` (and
/// what it received, each line after an `@`) on stdout.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let domain = axon::Domain::new(env("AXON_SHM_DIR"), &env("AXON_DOMAIN")).unwrap();
    let node = axon::Node::builder(&role)
        .domain(domain)
        .no_signal_handlers()
        .create()
        .unwrap();
    let forever = || loop {
        std::thread::sleep(Duration::from_secs(1));
    };
    match role.as_str() {
        // Fills /jobs with jobs 0..10, then stays (a live producer).
        "producer" => {
            let p = node
                .queue_producer::<Job>("/jobs")
                .capacity(32)
                .max_deliveries(3)
                .create()
                .unwrap();
            for id in 0..10 {
                p.send(&Job { id }).unwrap();
            }
            println!("@ready");
            forever();
        }
        // Takes one job and rejects it: a poison job, now a dead letter.
        "rejecter" => {
            let w = node.queue_worker::<Job>("/jobs").create().unwrap();
            let d = w.recv_timeout(WAIT).unwrap();
            println!("@rejected {}", d.id);
            d.reject().unwrap();
            println!("@ready");
        }
        // Holds 3 jobs unacked (one of them a redelivery: it dropped it
        // unsettled once), then stays.
        "holder" => {
            let w = node
                .queue_worker::<Job>("/jobs")
                .prefetch(3)
                .create()
                .unwrap();
            let a = w.recv_timeout(WAIT).unwrap();
            let b = w.recv_timeout(WAIT).unwrap();
            let c = w.recv_timeout(WAIT).unwrap();
            drop(a); // requeued at the front: the next one is it again
            let a = w.recv_timeout(WAIT).unwrap();
            assert!(a.redelivered());
            println!("@holding {} {} {}", a.id, b.id, c.id);
            println!("@ready");
            forever();
        }
        // Takes one job, reports it, acknowledges it.
        "taker" => {
            let w = node.queue_worker::<Job>("/jobs").create().unwrap();
            let d = w.recv_timeout(WAIT).unwrap();
            println!("@got {} {} {}", d.id, d.redelivered(), d.delivery_count());
            d.ack().unwrap();
            println!("@ready");
        }
        other => panic!("unknown role {other}"),
    }
}

/// A private shared-memory directory and domain; kills the children and
/// removes the directory when dropped.
struct World {
    dir: PathBuf,
    domain: String,
    children: Vec<Child>,
}

impl World {
    fn new(tag: &str) -> World {
        let domain = format!("qcli{tag}{}", std::process::id());
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("axon-cli-{domain}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        World {
            dir,
            domain,
            children: Vec::new(),
        }
    }

    /// Starts `role` and waits for its `ready`; returns its pid and the
    /// lines it printed before.
    fn spawn(&mut self, role: &str) -> (u32, Vec<String>) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env("AXON_SHM_DIR", &self.dir)
            .env("AXON_DOMAIN", &self.domain)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = reader(child.stdout.take().unwrap());
        let pid = child.id();
        self.children.push(child);
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{role} did not get ready: {seen:?}"));
            // Libtest's "test child_entry ... " may precede a line.
            let Some((_, said)) = line.split_once('@') else {
                continue;
            };
            if said == "ready" {
                return (pid, seen);
            }
            seen.push(said.to_string());
        }
    }

    fn kill(&mut self, pid: u32) {
        let i = self.children.iter().position(|c| c.id() == pid).unwrap();
        let mut c = self.children.remove(i);
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// Runs `axon args...` in this domain (environment), with a deadline.
    fn axon(&self, args: &[&str]) -> Output {
        let mut child = Command::new(AXON)
            .args(args)
            .env("AXON_SHM_DIR", &self.dir)
            .env("AXON_DOMAIN", &self.domain)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + WAIT;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("axon {args:?} hung");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.axon(args);
        assert!(
            o.status.success(),
            "axon {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Lines of a child's stdout, read on a thread (so a wait can time out).
fn reader(out: ChildStdout) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line.trim().to_string()).is_err() {
                return;
            }
        }
    });
    rx
}

fn worker_of(info: &Value, pid: u32) -> Value {
    info["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .cloned()
        .unwrap_or_else(|| panic!("no participant with pid {pid}: {info}"))
}

#[test]
fn queue_tools_show_depth_workers_dead_letters_then_purge_and_requeue() {
    let mut w = World::new("main");
    let (producer, _) = w.spawn("producer");
    let (_, said) = w.spawn("rejecter");
    assert_eq!(said, ["rejected 0"]);
    let (holder, said) = w.spawn("holder");
    assert_eq!(said, ["holding 1 2 3"]);

    // 10 sent: 1 dead letter, 3 held by the holder, 6 ready.
    let out = w.ok(&["queue", "list"]);
    let row = out
        .lines()
        .find(|l| l.starts_with("/jobs "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("Job  6  3  1  1  1"), "{out}");
    let list = w.json(&["queue", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        (
            &list[0]["queue"],
            &list[0]["ready"],
            &list[0]["in_flight"],
            &list[0]["dead"]
        ),
        (
            &Value::from("/jobs"),
            &Value::from(6),
            &Value::from(3),
            &Value::from(1)
        ),
        "{list}"
    );

    let info = w.json(&["queue", "info", "/jobs", "--json"]);
    assert!(info["type"].as_str().unwrap().ends_with("Job"), "{info}");
    assert_eq!(info["capacity"], 32);
    assert_eq!(info["max_deliveries"], 3);
    assert_eq!(info["sent"], 10);
    assert_eq!(info["redeliveries"], 1, "the holder dropped one job once");
    assert_eq!(info["dead_lettered"], 1);
    let h = worker_of(&info, holder);
    assert_eq!(
        (&h["role"], &h["in_flight"]),
        (&Value::from("worker"), &Value::from(3))
    );
    assert_eq!(h["node"], "holder");
    assert_eq!(worker_of(&info, producer)["role"], "producer");
    assert_eq!(info["participants"].as_array().unwrap().len(), 2, "{info}");

    let text = w.ok(&["queue", "info", "/jobs"]);
    assert!(text.contains("6 ready, 3 in flight, 1 dead"), "{text}");
    assert!(
        text.contains("10 sent, 0 acked, 1 redeliveries, 1 dead-lettered"),
        "{text}"
    );
    assert!(
        text.contains(&format!("holder (pid {holder}), 3 in flight")),
        "{text}"
    );
    assert!(
        text.contains(&format!("producer (pid {producer})")),
        "{text}"
    );
    // Looking changed nothing (no participant joined, no job moved).
    assert_eq!(w.json(&["queue", "info", "/jobs", "--json"]), info);

    // The poison job: ticket 0, delivered once.
    let dead = w.json(&["queue", "dead", "/jobs", "--json"]);
    let letters = dead["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{dead}");
    assert_eq!(
        (&letters[0]["ticket"], &letters[0]["deliveries"]),
        (&Value::from(0), &Value::from(1))
    );
    let text = w.ok(&["queue", "dead", "/jobs"]);
    assert!(text.lines().nth(1).unwrap().starts_with("0  1  "), "{text}");

    // Purge drops the 6 ready jobs; held jobs and the dead letter stay.
    let text = w.ok(&["queue", "purge", "/jobs"]);
    assert_eq!(text.trim(), "purged 6 ready jobs from /jobs");
    let purged = w.json(&["queue", "purge", "/jobs", "--json"]);
    assert_eq!(purged["purged"], 0, "{purged}");
    let info = w.json(&["queue", "info", "/jobs", "--json"]);
    assert_eq!(
        (&info["ready"], &info["in_flight"], &info["dead"]),
        (&Value::from(0), &Value::from(3), &Value::from(1)),
        "{info}"
    );

    // --requeue puts the poison job back, where a worker receives it.
    let text = w.ok(&["queue", "dead", "/jobs", "--requeue"]);
    assert_eq!(text.trim(), "requeued 1 dead letters of /jobs");
    let (_, said) = w.spawn("taker");
    assert_eq!(said, ["got 0 true 2"], "job 0, flagged as a redelivery");
    let info = w.json(&["queue", "info", "/jobs", "--json"]);
    assert_eq!(
        (
            &info["ready"],
            &info["in_flight"],
            &info["dead"],
            &info["acked"]
        ),
        (
            &Value::from(0),
            &Value::from(3),
            &Value::from(0),
            &Value::from(1)
        ),
        "{info}"
    );
    assert!(w
        .ok(&["queue", "dead", "/jobs"])
        .contains("no dead letters in /jobs"));

    // A SIGKILLed holder: the tools show its jobs still held (inspection
    // never reaps) and no longer list it as a participant.
    w.kill(holder);
    let info = w.json(&["queue", "info", "/jobs", "--json"]);
    assert_eq!(info["in_flight"], 3, "{info}");
    assert_eq!(info["participants"].as_array().unwrap().len(), 1, "{info}");
}

#[test]
fn nonexistent_queue_is_one_clear_error_with_status_1() {
    let w = World::new("none");
    for args in [
        &["queue", "info", "/nope"][..],
        &["queue", "info", "/nope", "--json"],
        &["queue", "purge", "/nope"],
        &["queue", "dead", "/nope"],
        &["queue", "dead", "/nope", "--requeue"],
    ] {
        let o = w.axon(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("axon: queue /nope: no such queue in domain"),
            "{args:?}: {err}"
        );
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    assert!(w.axon(&["queue", "info", "bad name"]).status.code() == Some(1));
    let out = w.ok(&["queue", "list"]);
    assert_eq!(out.trim(), format!("no queues in domain {}", w.domain));
    assert_eq!(w.json(&["queue", "list", "--json"]), Value::Array(vec![]));
}

#[test]
fn list_reports_invalid_queue_files_clearly_and_never_hangs_on_a_fifo() {
    let w = World::new("bad");
    let uid = nix::unistd::geteuid().as_raw();
    let file = w.dir.join(format!("axonq.u{uid}.d{}.broken", w.domain));
    std::fs::write(&file, b"not a queue at all").unwrap();
    let out = w.ok(&["queue", "list"]);
    assert!(
        out.contains("broken  (invalid: ") && out.contains("too short for a queue header"),
        "{out}"
    );
    let list = w.json(&["queue", "list", "--json"]);
    assert_eq!(list[0]["file"], file.display().to_string(), "{list}");
    assert!(list[0]["error"]
        .as_str()
        .unwrap()
        .contains("not a valid axon queue file"));
    // A FIFO named like a queue is refused, not opened and waited on.
    let fifo = w.dir.join(format!("axonq.u{uid}.d{}.pipe", w.domain));
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let out = w.ok(&["queue", "list"]);
    assert!(out.contains("pipe  (invalid: "), "{out}");
    assert!(w.axon(&["queue", "info", "/pipe"]).status.code() == Some(1));
    let o = w.axon(&["queue", "info", "/broken"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("queue /broken") && err.contains("not a valid axon queue file"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
