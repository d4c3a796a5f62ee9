//! Smoke tests of `bench-throughput` with real processes: it runs every row, exits 0, the
//! lossless rows lose nothing, a killed subscriber fails the run instead of hanging it, and no
//! run leaves processes or shared memory behind. Behaviour only: no rate is asserted.

use std::io::Read as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use axon_benches::throughput::CHILD_FLAG;

const BIN: &str = env!("CARGO_BIN_EXE_bench-throughput");

/// Waits for `child` at most `limit`; kills it (and fails) past that.
fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bench-throughput still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Files a run of process `pid` may create: axon domains `tp-axb<pid>x..` in /dev/shm,
/// iceoryx2 roots `/tmp/iceoryx2/axb<pid>x..` and files `axb<pid>x.._...` in /dev/shm.
fn leftovers(pid: u32) -> Vec<String> {
    let tag = format!("axb{pid}x");
    let mut v = vec![];
    for dir in ["/dev/shm", "/tmp/iceoryx2"] {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(&tag) {
                v.push(format!("{dir}/{name}"));
            }
        }
    }
    v
}

/// Processes whose command line carries the child flag and whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let me = pid.to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let child: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let cmd = std::fs::read_to_string(e.path().join("cmdline")).ok()?;
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .to_string();
            (ppid == me && cmd.contains(CHILD_FLAG)).then_some(child)
        })
        .collect()
}

fn run_to_end(args: &[&str], limit: Duration) -> (ExitStatus, String, String, u32) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bench-throughput");
    let pid = child.id();
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let st = wait_bounded(&mut child, limit);
    (
        st,
        reader.join().expect("stdout reader"),
        err_reader.join().expect("stderr reader"),
        pid,
    )
}

#[test]
fn every_row_runs_and_lossless_rows_lose_nothing() {
    let (st, out, err, pid) =
        run_to_end(&["--secs", "0.05", "--runs", "2"], Duration::from_secs(180));
    assert!(st.success(), "exit {st}\nstdout:\n{out}\nstderr:\n{err}");
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("| ")).collect();
    for (transport, row) in [
        ("axon", "8 B lossy"),
        ("axon", "8 B lossless"),
        ("axon", "1 MiB lossless"),
        ("axon", "fan-out 1"),
        ("axon", "fan-out 2"),
        ("axon", "fan-out 4"),
        ("axon", "fan-out 8"),
        ("iceoryx2", "8 B lossy"),
        ("iceoryx2", "8 B lossless"),
    ] {
        let prefix = format!("| {transport} | {row} |");
        let line = rows
            .iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no row {prefix}\n{out}"));
        assert!(!line.contains("FAILED"), "{line}");
        if row.contains("lossless") || row.starts_with("fan-out") {
            // The binary checks every sequence number of a lossless row, per subscriber.
            assert!(line.contains("| 0 (checked) |"), "{line}");
        } else {
            assert!(line.contains(" %"), "lossy rows report a loss: {line}");
        }
        if row.starts_with("1 MiB") {
            let gbs = line
                .trim_end_matches(" |")
                .rsplit("| ")
                .next()
                .unwrap_or("");
            assert!(!gbs.trim().is_empty(), "1 MiB reports GB/s: {line}");
        }
    }
    assert!(children_of(pid).is_empty());
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

#[test]
fn a_killed_subscriber_fails_the_run_without_hanging_or_leftovers() {
    let mut child = Command::new(BIN)
        .args([
            "--secs",
            "20",
            "--runs",
            "1",
            "--filter",
            "axon 8 B lossless",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bench-throughput");
    let pid = child.id();
    let t0 = Instant::now();
    let sub = loop {
        if let Some(&c) = children_of(pid).first() {
            break c;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no subscriber appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    // Let it get going, then kill the subscriber in the middle of the 20 s run.
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sub as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the subscriber");
    // A hang guard, not a timing check: the run would otherwise go on for 20 s.
    let st = wait_bounded(&mut child, Duration::from_secs(60));
    let mut out = String::new();
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out);
    assert_eq!(st.code(), Some(1), "{out}");
    // The publisher's watchdog noticed the death (a run that ended on its own would say
    // "exited before done" instead).
    assert!(out.contains("FAILED") && out.contains("died"), "{out}");
    assert!(children_of(pid).is_empty());
    assert_eq!(leftovers(pid), Vec::<String>::new());
}
