//! Start order never matters (issue 13): a camera publisher and two
//! subscribers whose code asks for different QoS come up in every one of
//! the 6 start orders and data flows,
//! - started by hand (no launch file): the requests are compatible, and
//!   the node that leaves `history` / `max_len` to the defaults takes what
//!   the topic offers, whoever created it;
//! - started by `launch` with a `[topic."/cam"]` declaration, with requests
//!   that are *not* compatible on their own (the publisher asks history 2,
//!   a subscriber 6): the declaration decides the capacities, so whoever
//!   starts first creates the topic as declared;
//! - the same, with a segment an earlier run left under `/cam` (another
//!   type, or the same type with smaller capacities): it does not stop the
//!   launch.
//!
//! And `ready = { topic = .. }` is satisfied only by a live publisher of the
//! declared type.
//!
//! The nodes are this test binary run again (`child_entry`, with
//! [`ROLE_VAR`] saying which node). The order is forced: each node prints
//! `<name>: joined` once its publisher or subscriber exists, and the next
//! one starts only then (by hand: the test waits for the line; in
//! `launch`: `depends_on` + `ready = { log = ".. joined" }`). Every wait has
//! a watchdog.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axon::Schema;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

const ROLE_VAR: &str = "AXON_START_ORDER_ROLE";

#[axon::message]
struct Frame {
    seq: u64,
    data: [u64],
}

/// One node of the graph: its name and what its code asks for.
#[derive(Clone, Copy)]
struct Role {
    name: &'static str,
    publisher: bool,
    /// `history(n)` if set, else the default (what the topic offers).
    history: Option<u32>,
    /// `max_len(n)` if set, else the default.
    max_len: Option<usize>,
}

impl Role {
    fn spec(&self) -> String {
        let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
        format!(
            "{} {} {} {}",
            self.name,
            if self.publisher { "pub" } else { "sub" },
            opt(self.history.map(u64::from)),
            opt(self.max_len.map(|n| n as u64)),
        )
    }
}

/// Compatible requests: any creator's capacities meet every explicit
/// request (the publisher's 4 and 256 are at most what a default creator
/// makes, 8 and 1 MiB worth; `cam_b` asks history 4 too).
const COMPATIBLE: [Role; 3] = [
    Role {
        name: "cam",
        publisher: true,
        history: Some(4),
        max_len: Some(256),
    },
    Role {
        name: "cam_a",
        publisher: false,
        history: None,
        max_len: None,
    },
    Role {
        name: "cam_b",
        publisher: false,
        history: Some(4),
        max_len: None,
    },
];

/// Incompatible on their own: the publisher creating first makes history
/// 2 (and `cam_b` needs 6), `cam_b` creating first makes max_len 512 (and
/// `cam_a` is happy with anything). Only a declaration of history 6 and
/// max_len 512 fits every order.
const DECLARED: [Role; 3] = [
    Role {
        name: "cam",
        publisher: true,
        history: Some(2),
        max_len: Some(256),
    },
    Role {
        name: "cam_a",
        publisher: false,
        history: None,
        max_len: None,
    },
    Role {
        name: "cam_b",
        publisher: false,
        history: Some(6),
        max_len: Some(512),
    },
];

/// The 6 orders of three nodes.
const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// Samples each subscriber must receive.
const WANT: u64 = 5;

/// Re-executed as a node by the tests (`ROLE_VAR` = `Role::spec`).
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE_VAR) else {
        return;
    };
    let parts: Vec<&str> = role.split_whitespace().collect();
    if let [name, "u64"] = parts[..] {
        // Publishes `u64` on `/odd` until shutdown.
        let node = axon::Node::new(name).expect("node");
        let p = node.publisher::<u64>("/odd").create().unwrap_or_else(|e| {
            println!("{name}: publisher failed: {e}");
            std::process::exit(1)
        });
        while !node.shutdown_requested() {
            p.publish(&1).expect("publish");
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(p);
        std::process::exit(0);
    }
    let [name, kind, history, max_len] = parts[..] else {
        panic!("bad role {role:?}");
    };
    let history: Option<u32> = history.parse().ok();
    let max_len: Option<usize> = max_len.parse().ok();
    let node = axon::Node::new(name).expect("node");
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        println!("{name}: {what} failed: {e}");
        std::process::exit(1)
    };
    if kind == "pub" {
        let mut b = node.publisher::<Frame>("/cam");
        if let Some(h) = history {
            b = b.history(h);
        }
        if let Some(n) = max_len {
            b = b.max_len(n);
        }
        let p = b.create().unwrap_or_else(|e| fail("publisher", &e));
        println!("{name}: joined (max_len {})", p.max_len());
        let mut seq = 0u64;
        while !node.shutdown_requested() {
            seq += 1;
            let len = p.max_len().min(200);
            let mut l = p.loan_slice(len).unwrap_or_else(|e| fail("loan", &e));
            l.seq = seq;
            for (i, x) in l.data.iter_mut().enumerate() {
                *x = seq ^ i as u64;
            }
            l.send();
            std::thread::sleep(Duration::from_millis(20));
        }
    } else {
        let mut b = node.subscriber::<Frame>("/cam");
        if let Some(h) = history {
            b = b.history(h);
        }
        if let Some(n) = max_len {
            b = b.max_len(n);
        }
        let s = b.create().unwrap_or_else(|e| fail("subscriber", &e));
        println!("{name}: joined");
        let mut got = 0u64;
        while !node.shutdown_requested() {
            match s.recv_timeout(Duration::from_millis(100)) {
                Ok(f) => {
                    let ok = f
                        .data
                        .iter()
                        .enumerate()
                        .all(|(i, x)| *x == f.seq ^ i as u64);
                    assert!(ok, "{name}: sample {} is not what was sent", f.seq);
                    got += 1;
                    if got == WANT {
                        println!("{name}: received {WANT}");
                    }
                }
                Err(axon::WaitError::Timeout | axon::WaitError::PublisherGone) => {}
                Err(axon::WaitError::Shutdown) => break,
                Err(e) => fail("recv", &e),
            }
        }
    }
    println!("{name}: stopped");
    std::process::exit(0);
}

/// Removes every file of `domain` from `/dev/shm` (a failed run's segments).
fn remove_domain(domain: &str) {
    let prefix = axon::Domain::new("/dev/shm", domain).unwrap().prefix();
    for e in std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A unique domain for one run, whose files are removed when the test
/// ends, passed or failed.
struct TestDomain(String);

impl TestDomain {
    fn new(tag: &str) -> TestDomain {
        TestDomain(format!("so{}{tag}", std::process::id()))
    }
}

impl std::ops::Deref for TestDomain {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TestDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Drop for TestDomain {
    fn drop(&mut self) {
        remove_domain(&self.0);
    }
}

fn domain(tag: &str) -> TestDomain {
    TestDomain::new(tag)
}

/// A node started by hand, its stdout lines sent to a channel.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: String,
}

impl Proc {
    fn start(role: &Role, domain: &str) -> Proc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE_VAR, role.spec())
            .env("AXON_DOMAIN", domain)
            .env_remove("AXON_TOPICS")
            .env_remove("AXON_NAMESPACE")
            .env_remove("AXON_REMAP")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Waits for a line containing `pat` (watchdog: panics with what it saw).
    fn wait_for(&mut self, pat: &str) {
        let deadline = Instant::now() + WATCHDOG;
        while !self.seen.contains(pat) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push_str(&l);
                    self.seen.push('\n');
                }
                Err(_) => panic!("watchdog: `{pat}` never appeared in:\n{}", self.seen),
            }
        }
    }

    /// SIGTERM, then the exit status (watchdog: SIGKILL and panic).
    fn stop(mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let status = wait_or_kill(&mut self.child)
            .unwrap_or_else(|| panic!("watchdog: node did not stop:\n{}", self.seen));
        assert!(status.success(), "{status:?}:\n{}", self.seen);
    }
}

impl Drop for Proc {
    /// A failed test leaves no node running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Without a launch file: compatible requests, every order.
#[test]
fn every_start_order_comes_up_by_hand() {
    for (k, order) in ORDERS.iter().enumerate() {
        let d = domain(&format!("h{k}"));
        let mut procs = Vec::new();
        for &i in order {
            let role = &COMPATIBLE[i];
            let mut p = Proc::start(role, &d);
            p.wait_for(&format!("{}: joined", role.name));
            procs.push(p);
        }
        for (p, &i) in procs.iter_mut().zip(order) {
            if !COMPATIBLE[i].publisher {
                p.wait_for(&format!("{}: received {WANT}", COMPATIBLE[i].name));
            }
        }
        for p in procs {
            p.stop();
        }
        remove_domain(&d);
    }
}

/// `robot.toml` starting `roles` in `order` (each after the previous one
/// has joined), in domain `domain`, with `extra` prepended.
fn robot(roles: &[Role; 3], order: &[usize; 3], domain: &str, extra: &str) -> String {
    let me = std::env::current_exe().unwrap().display().to_string();
    let args = ["child_entry", "--exact", "--nocapture", "--test-threads=1"]
        .map(|a| format!("{a:?}"))
        .join(", ");
    let mut toml = format!("{extra}\n[launch]\ndomain = \"{domain}\"\n");
    let mut previous: Option<&str> = None;
    for &i in order {
        let r = &roles[i];
        let depends = previous.map_or(String::new(), |p| format!("depends_on = [\"{p}\"]\n"));
        toml.push_str(&format!(
            "\n[[node]]\nname = \"{}\"\nexec = \"{me}\"\nargs = [{args}]\n\
             env = {{ {ROLE_VAR} = \"{}\" }}\n{depends}\
             ready = {{ log = \"{}: joined\", timeout = \"20s\" }}\n",
            r.name,
            r.spec(),
            r.name
        ));
        previous = Some(r.name);
    }
    toml
}

fn declaration() -> String {
    format!(
        "[topic.\"/cam\"]\ntype = \"{}\"\nhistory = 6\nmax_len = 512\n",
        Frame::TYPE_NAME
    )
}

/// Runs the launch file and checks both subscribers receive, then a clean
/// stop.
fn run_robot(tag: &str, toml: &str, domain: &str) {
    let dir = robot_dir(tag, toml);
    let mut l = launch(&dir, &["robot.toml"]);
    l.wait_for(&format!("cam_a: received {WANT}"));
    l.wait_for(&format!("cam_b: received {WANT}"));
    l.signal(Signal::SIGINT);
    let out = l.expect_exit(0);
    for name in ["cam", "cam_a", "cam_b"] {
        assert!(row(&out, name).contains("exit 0"), "{out}");
    }
    remove_domain(domain);
}

/// With a `[topic]` declaration, through `launch`, every order. Without
/// the declaration, `cam` first makes history 2 and `cam_b` fails with
/// `CapacityMismatch` (the order [0, 2, 1] and others).
#[test]
fn every_start_order_comes_up_with_a_topic_declaration() {
    for (k, order) in ORDERS.iter().enumerate() {
        let d = domain(&format!("l{k}"));
        run_robot("declared", &robot(&DECLARED, order, &d, &declaration()), &d);
    }
}

/// What an earlier run may leave under `/cam`: a segment nobody holds, of
/// another type (even orders) or of `Frame` with smaller capacities (odd).
fn leave_behind(domain: &str, other_type: bool) {
    let d = axon::Domain::new("/dev/shm", domain).unwrap();
    let n = axon::Node::builder("earlier")
        .domain(d.clone())
        .no_signal_handlers()
        .create()
        .unwrap();
    let path = d.segment_path(&axon::TopicName::new("/cam").unwrap());
    let bytes = if other_type {
        let p = n.publisher::<u64>("/cam").history(1).create().unwrap();
        p.publish(&7).unwrap();
        std::fs::read(&path).unwrap()
    } else {
        let p = n
            .publisher::<Frame>("/cam")
            .history(1)
            .max_len(8)
            .create()
            .unwrap();
        p.loan_slice(8).unwrap().send();
        std::fs::read(&path).unwrap()
    };
    // The last one out removed it; put back what a crash would leave.
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_leftover_segment_of_another_type_or_smaller_capacity_does_not_stop_a_launch() {
    for (k, order) in ORDERS.iter().enumerate() {
        let d = domain(&format!("x{k}"));
        leave_behind(&d, k % 2 == 0);
        run_robot("leftover", &robot(&DECLARED, order, &d, &declaration()), &d);
    }
}

/// `ready = { topic = "/cam" }` with a declared type: a live publisher of
/// another type (here `u64`, from a node of this launch) does not make
/// its node ready, and the timeout says what was found. A publisher of
/// the declared type does.
#[test]
fn ready_topic_needs_a_live_publisher_of_the_declared_type() {
    let d = domain("ready");
    let me = std::env::current_exe().unwrap().display().to_string();
    let args = ["child_entry", "--exact", "--nocapture", "--test-threads=1"]
        .map(|a| format!("{a:?}"))
        .join(", ");
    let ty = Frame::TYPE_NAME;
    let toml = format!(
        r#"
[launch]
domain = "{d}"

[topic."/cam"]
type = "{ty}"

[[node]]
name = "cam"
exec = "{me}"
args = [{args}]
env = {{ {ROLE_VAR} = "cam pub - -" }}
ready = {{ topic = "/cam", timeout = "20s" }}

[[node]]
name = "wrong"
exec = "{me}"
args = [{args}]
env = {{ {ROLE_VAR} = "wrong u64" }}
depends_on = ["cam"]
ready = {{ topic = "/odd", type = "{ty}", timeout = "1s" }}
"#
    );
    let (_dir, mut l) = launch_robot("readytype", &toml);
    let out = l.expect_exit(1);
    assert!(out.contains("cam is ready"), "{out}");
    assert!(
        out.contains(&format!(
            "wrong did not become ready within 1s (waited for a publisher of {ty} on topic /odd; \
             found: topic /odd has type u64, declared {ty})"
        )),
        "{out}"
    );
    remove_domain(&d);
}

/// Through `launch`: a node whose code explicitly asks for more than the
/// `[topic]` declaration fails with `CapacityMismatch` naming both numbers
/// and the declaration's line; another type fails naming both types.
#[test]
fn a_request_the_declaration_cannot_meet_fails_naming_the_launch_file() {
    let d = domain("beyond");
    let me = std::env::current_exe().unwrap().display().to_string();
    let args = ["child_entry", "--exact", "--nocapture", "--test-threads=1"]
        .map(|a| format!("{a:?}"))
        .join(", ");
    let toml = format!(
        r#"[topic."/cam"]
history = 6

[topic."/odd"]
type = "{}"

[launch]
domain = "{d}"

[[node]]
name = "greedy"
exec = "{me}"
args = [{args}]
env = {{ {ROLE_VAR} = "greedy sub 9 -" }}

[[node]]
name = "wrong"
exec = "{me}"
args = [{args}]
env = {{ {ROLE_VAR} = "wrong u64" }}
"#,
        Frame::TYPE_NAME
    );
    let (_dir, mut l) = launch_robot("beyond", &toml);
    let out = l.expect_exit(0);
    assert!(
        out.contains(
            "greedy: subscriber failed: topic /cam is declared in the launch file with \
             history depth 6 ("
        ) && out.contains("robot.toml:1:8), this participant explicitly needs 9"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "topic /odd is declared as {} in the launch file (",
            Frame::TYPE_NAME
        )) && out.contains("robot.toml:4:8), this participant uses u64"),
        "{out}"
    );
    remove_domain(&d);
}
