//! A segment file truncated while mapped (issue 12): before `fault.rs`,
//! the next access to a page past the new end raised SIGBUS and killed
//! every participant. Now each one, in its own process, returns a clear
//! `SegmentTruncated` error naming the topic and exits normally: a
//! subscriber asleep in `recv`, one polling `try_recv`, and the publisher
//! on its next loan. Every wait has a watchdog; no test asserts a run time.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout};
use std::time::{Duration, Instant};

use axon::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use axon::{LoanError, Message, RecvError, TopicName, WaitError};

mod support;

#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Tick {
    seq: u64,
    check: u64,
}

const ROLE: &str = "AXON_TRUNC_TEST_ROLE";
const WATCHDOG: Duration = Duration::from_secs(60);
const TOPIC: &str = "/trunc";

/// The roles a spawned copy of this binary plays; each prints `ready` once
/// it takes part, then `ENDED <error>` when the truncation stops it.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    let node = support::node_in(args[1], args[0]);
    match args[0] {
        // publish a tick every 20 ms until a loan fails
        "publisher" => {
            let p = node.publisher::<Tick>(TOPIC).create().unwrap();
            println!("ready");
            for seq in 1.. {
                match p.publish(&Tick { seq, check: !seq }) {
                    Ok(_) => {}
                    Err(e @ LoanError::SegmentTruncated { .. }) => {
                        println!("ENDED {e}");
                        return;
                    }
                    Err(e) => panic!("unexpected {e}"),
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // block in recv (asleep between ticks) until it fails
        "sleeper" => {
            let s = node.subscriber::<Tick>(TOPIC).create().unwrap();
            println!("ready");
            loop {
                match s.recv() {
                    Ok(t) => assert_eq!(t.check, !t.seq, "zeros or garbage delivered"),
                    Err(WaitError::PublisherGone) => {}
                    Err(e @ WaitError::SegmentTruncated { .. }) => {
                        println!("ENDED {e}");
                        return;
                    }
                    Err(e) => panic!("unexpected {e}"),
                }
            }
        }
        // poll try_recv every millisecond until it fails
        "poller" => {
            let s = node.subscriber::<Tick>(TOPIC).create().unwrap();
            println!("ready");
            loop {
                match s.try_recv() {
                    Ok(Some(t)) => assert_eq!(t.check, !t.seq, "zeros or garbage delivered"),
                    Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                    Err(e @ RecvError::SegmentTruncated { .. }) => {
                        println!("ENDED {e}");
                        return;
                    }
                    Err(e) => panic!("unexpected {e}"),
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

struct Participant {
    child: Child,
    out: BufReader<ChildStdout>,
    what: String,
}

impl Participant {
    fn spawn(role: &str, domain: &str) -> Participant {
        let mut child = support::spawn_role(ROLE, role, &[domain], true);
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut p = Participant {
            child,
            out,
            what: role.to_string(),
        };
        let line = p.line();
        assert_eq!(line.trim(), "ready", "{role}");
        p
    }

    /// The next line the child prints that is its own (the test harness
    /// prints a few too), within the watchdog.
    fn line(&mut self) -> String {
        let deadline = Instant::now() + WATCHDOG;
        loop {
            let mut l = String::new();
            // Blocking read; the child exits (EOF) or the watchdog below
            // kills it, so this returns.
            let n = self.out.read_line(&mut l).unwrap();
            // The harness prints `test child_entry ... ` before the role's
            // first line, on the same line.
            if n == 0 {
                return l;
            }
            if let Some(i) = l.find("ready").or_else(|| l.find("ENDED")) {
                return l[i..].to_string();
            }
            assert!(Instant::now() < deadline, "watchdog: {}", self.what);
        }
    }

    /// Waits (watchdog) for the child to exit; returns its `ENDED` line.
    fn ended(mut self) -> String {
        let pid = self.child.id() as i32;
        let what = self.what.clone();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if rx.recv_timeout(WATCHDOG).is_err() {
                // SAFETY: kill(2) on our child's pid, not yet reaped (we
                // reap it below only after this thread was told to stop).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        });
        let line = self.line();
        let status = self.child.wait().unwrap();
        let _ = tx.send(());
        watchdog.join().unwrap();
        assert!(
            status.success(),
            "{what} died ({status:?}: SIGBUS is signal 7) instead of reporting the truncation; printed {line:?}"
        );
        line
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        // A failed assertion must not leave the child running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn truncate(domain: &str, len: u64) {
    let path = axon::Domain::new("/dev/shm", domain)
        .unwrap()
        .segment_path(&TopicName::new(TOPIC).unwrap());
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn every_participant_reports_truncation_to(len: u64) {
    let domain = format!("trunc-{}-{len}", std::process::id());
    let publisher = Participant::spawn("publisher", &domain);
    let sleeper = Participant::spawn("sleeper", &domain);
    let poller = Participant::spawn("poller", &domain);
    std::thread::sleep(Duration::from_millis(200)); // samples flow
    truncate(&domain, len);
    for p in [sleeper, poller, publisher] {
        let what = p.what.clone();
        let line = p.ended();
        assert!(
            line.contains("topic /trunc: its shared-memory segment was truncated"),
            "{what}: {line:?}"
        );
    }
    support::remove_domain(&domain);
}

#[test]
fn segment_truncated_to_zero_while_mapped_is_an_error_not_sigbus() {
    every_participant_reports_truncation_to(0);
}

/// Only the header page is left: the header reads fine, rings and slots fault.
#[test]
fn segment_truncated_to_one_page_while_mapped_is_an_error_not_sigbus() {
    every_participant_reports_truncation_to(4096);
}
