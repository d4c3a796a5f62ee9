//! Helpers shared by the multi-process test binaries (`mod support;`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};

use axon::layout::{Layout, SegmentHeader, TopicConfig};
use axon::{Domain, Node, TopicName};

#[allow(dead_code)] // the binaries that spawn role peers use it
pub mod peer;

/// A node named `name` in the test domain `domain` (under `/dev/shm`).
#[allow(dead_code)] // not every test binary uses every helper
pub fn node_in(domain: &str, name: &str) -> Node {
    let d = Domain::new("/dev/shm", domain).unwrap();
    Node::builder(name).domain(d).create().unwrap()
}

/// Removes every file of the test domain `domain` from `/dev/shm`
/// (segments and any temporary names under the domain's prefix).
#[allow(dead_code)]
pub fn remove_domain(domain: &str) {
    let prefix = Domain::new("/dev/shm", domain).unwrap().prefix();
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

/// Runs this test binary's `child_entry` test again as a child process,
/// with `role_var` set to `role` and its `args` (space-separated);
/// `piped`: its stdout is piped to the parent.
#[allow(dead_code)]
pub fn spawn_role(role_var: &str, role: &str, args: &[&str], piped: bool) -> Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(role_var, format!("{role} {}", args.join(" ")));
    if piped {
        c.stdout(Stdio::piped());
    }
    c.spawn().unwrap()
}

/// `topic`'s segment in `node`'s domain, mapped writable, as a hostile or
/// crashed peer leaves it, with its config and layout (copied out once, as
/// an opener does).
#[allow(dead_code)] // not every test binary writes into segments
pub fn map_segment(node: &Node, topic: &str) -> (memmap2::MmapRaw, TopicConfig, Layout) {
    let path = node.domain().segment_path(&TopicName::new(topic).unwrap());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let map = memmap2::MmapRaw::map_raw(&file).unwrap();
    // SAFETY: the mapping starts with a SegmentHeader (the topic exists and
    // was validated by `node`'s participants); we copy out its immutable
    // config.
    let config =
        unsafe { std::ptr::read_volatile(&(*(map.as_ptr() as *const SegmentHeader)).config) };
    let layout = Layout::compute(&config).unwrap();
    (map, config, layout)
}

/// The command [`spawn_role`] runs (this test binary's `child_entry` test
/// again, with `role_var` set to `role` and its `args`), for a caller that
/// sets up stdin, stdout or the environment itself before spawning it.
#[allow(dead_code)]
pub fn role_command(role_var: &str, role: &str, args: &[&str]) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(role_var, format!("{role} {}", args.join(" ")));
    c
}

/// Spawns `command` with stdin and stdout piped; its stdout lines arrive on
/// the returned channel (read by a thread, so a test can wait with a timeout).
#[allow(dead_code)]
pub fn spawn_with_lines(command: &mut Command) -> (Child, Receiver<String>) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn a child process");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}
