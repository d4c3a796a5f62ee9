//! The executor's error paths and the node entry point, in real processes
//! on real shared memory: a failing callback ends `spin` with its error,
//! `on_reload` sees SIGHUP reloads (good and bad files) while `spin` goes
//! on, and `axon::run` turns a node's outcome into its exit status and one
//! error line. Every wait has a watchdog; no test asserts a run time.

use std::io::BufRead;
use std::process::{Child, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axon::{Node, SpinError};

mod support;

const ROLE: &str = "AXON_EXECUTOR_TEST_ROLE";
const WATCHDOG: Duration = Duration::from_secs(30);

fn domain_name(test: &str) -> String {
    format!("ex-{}-{test}", std::process::id())
}

/// The error of a failing callback.
#[derive(Debug, thiserror::Error)]
#[error("sample {0} is bad")]
struct Bad(u64);

/// An error with a cause, as a node's body returns it.
#[derive(Debug, thiserror::Error)]
#[error("opening the camera")]
struct Outer(#[source] std::io::Error);

#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[0] {
        // SIGHUP reloads reach on_reload, good file or bad, and spin goes on.
        "reload" => {
            let d = axon::Domain::new("/dev/shm", args[1]).unwrap();
            let node = Node::builder("reloader")
                .domain(d)
                .params_file(args[2])
                .create()
                .unwrap();
            let x = std::cell::Cell::new(node.param_or("x", 0u32).unwrap());
            let ready = std::cell::Cell::new(false);
            let result = node
                .every(Duration::from_millis(5), || {
                    // Ready once spinning (the handlers are installed).
                    if !ready.replace(true) {
                        println!("READY");
                    }
                })
                .on_reload(|r| -> Result<(), axon::ParamError> {
                    match r {
                        Ok(()) => {
                            x.set(node.param_or("x", 0)?);
                            println!("RELOAD ok x={}", x.get());
                        }
                        Err(e) => println!("RELOAD err {e}"),
                    }
                    Ok(())
                })
                .spin();
            println!("CLEAN {result:?} x={}", x.get());
        }
        // No on_reload: a bad file ends spin with SpinError::Params.
        "no-reload-handler" => {
            let d = axon::Domain::new("/dev/shm", args[1]).unwrap();
            let node = Node::builder("reloader")
                .domain(d)
                .params_file(args[2])
                .create()
                .unwrap();
            let ready = std::cell::Cell::new(false);
            let result = node
                .every(Duration::from_millis(5), || {
                    if !ready.replace(true) {
                        println!("READY");
                    }
                })
                .spin();
            match result {
                Err(SpinError::Params(e)) => println!("SPIN params error: {e}"),
                other => println!("SPIN {other:?}"),
            }
        }
        // axon::run with a body that fails with a cause.
        "run-fails" => {
            let code = axon::run("runner", |_node| {
                Err(Outer(std::io::Error::other("no such device")))
            });
            std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
        }
        // axon::run with a node that spins until SIGTERM.
        "run-spins" => {
            // The node's domain comes from AXON_DOMAIN, as the launcher sets it.
            let code = axon::run("runner", |node| {
                let mut ticks = 0u64;
                node.every(Duration::from_millis(5), || {
                    ticks += 1;
                    if ticks == 1 {
                        println!("READY");
                    }
                })
                .spin()?;
                println!("runner: stopped");
                Ok::<(), Box<dyn std::error::Error>>(())
            });
            std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
        }
        other => panic!("unknown role {other}"),
    }
}

/// Kills the child if the test fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Guard {
    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, sig) };
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WATCHDOG;
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "watchdog: the child did not exit"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The child's stdout lines, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line holding one of `tokens`, from the token on (the test
/// harness prints `test child_entry ... ` before the child's first line).
fn next(rx: &mpsc::Receiver<String>, tokens: &[&str]) -> String {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("watchdog: no line from the child");
        if let Some(at) = tokens.iter().filter_map(|t| line.find(t)).min() {
            return line[at..].to_string();
        }
    }
}

#[test]
fn a_failing_callback_ends_spin_with_its_error_and_nothing_runs_after_it() {
    let dom = domain_name("fail");
    let node = support::node_in(&dom, "failer");
    let publisher = node.publisher::<u64>("/n").history(8).create().unwrap();
    let sub = node.subscriber::<u64>("/n").history(8).create().unwrap();
    for n in 1..=5u64 {
        publisher.publish(&n).unwrap();
    }
    // Watchdog: a swallowed error would leave spin running; a shutdown
    // request then ends it with Ok, which fails the match below.
    let (done, watchdog) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = watchdog.recv_timeout(WATCHDOG) {
            axon::request_shutdown();
        }
    });
    let mut seen = Vec::new();
    let result = node
        .on(&sub, |n| -> Result<(), Bad> {
            seen.push(*n);
            if *n == 3 {
                return Err(Bad(*n));
            }
            Ok(())
        })
        .spin();
    drop(done);
    match result {
        Err(SpinError::Callback(e)) => assert_eq!(e.to_string(), "sample 3 is bad"),
        other => panic!("expected the callback's error, got {other:?}"),
    }
    assert_eq!(
        seen,
        [1, 2, 3],
        "samples after the failing one were handed out"
    );
    // The rest is still there for the next spin.
    assert_eq!(*sub.try_recv().unwrap().unwrap(), 4);
    drop((sub, publisher, node));
    support::remove_domain(&dom);
}

#[test]
fn sighup_reaches_on_reload_with_good_and_bad_files_and_spin_goes_on() {
    let dom = domain_name("reload");
    let params = std::env::temp_dir().join(format!("{dom}.json"));
    std::fs::write(&params, r#"{"x": 1}"#).unwrap();
    let mut child = support::role_command(ROLE, "reload", &[&dom, params.to_str().unwrap()]);
    let mut child = Guard(child.stdout(Stdio::piped()).spawn().unwrap());
    let rx = lines(&mut child.0);
    let tokens = ["READY", "RELOAD", "CLEAN"];
    assert_eq!(next(&rx, &tokens), "READY");
    std::fs::write(&params, "{not json").unwrap();
    child.signal(libc::SIGHUP);
    let bad = next(&rx, &tokens);
    assert!(bad.starts_with("RELOAD err parameters file "), "{bad}");
    std::fs::write(&params, r#"{"x": 2}"#).unwrap();
    child.signal(libc::SIGHUP);
    assert_eq!(next(&rx, &tokens), "RELOAD ok x=2");
    child.signal(libc::SIGTERM);
    assert_eq!(next(&rx, &tokens), "CLEAN Ok(()) x=2");
    assert!(child.wait().success());
    let _ = std::fs::remove_file(params);
    support::remove_domain(&dom);
}

#[test]
fn without_on_reload_a_bad_params_file_ends_spin_with_the_params_error() {
    let dom = domain_name("noreload");
    let params = std::env::temp_dir().join(format!("{dom}.json"));
    std::fs::write(&params, r#"{"x": 1}"#).unwrap();
    let mut child =
        support::role_command(ROLE, "no-reload-handler", &[&dom, params.to_str().unwrap()]);
    let mut child = Guard(child.stdout(Stdio::piped()).spawn().unwrap());
    let rx = lines(&mut child.0);
    assert_eq!(next(&rx, &["READY", "SPIN"]), "READY");
    std::fs::write(&params, "[1]").unwrap();
    child.signal(libc::SIGHUP);
    let line = next(&rx, &["SPIN"]);
    assert!(
        line.starts_with("SPIN params error: parameters file ")
            && line.ends_with("not a JSON object"),
        "{line}"
    );
    assert!(child.wait().success());
    let _ = std::fs::remove_file(params);
    support::remove_domain(&dom);
}

#[test]
fn run_prints_the_error_with_its_causes_under_the_node_name_and_exits_1() {
    for (node_name, expected) in [
        (None, "runner: error: opening the camera: no such device"),
        (
            Some("camera2"),
            "camera2: error: opening the camera: no such device",
        ),
    ] {
        let mut cmd = support::role_command(ROLE, "run-fails", &[]);
        cmd.env_remove("AXON_PARAMS_FILE")
            .env_remove("AXON_NODE_NAME");
        if let Some(n) = node_name {
            cmd.env("AXON_NODE_NAME", n);
        }
        let mut child = Guard(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let st = child.wait();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(st.code(), Some(1), "{err}");
        assert!(
            err.lines().any(|l| l == expected),
            "{expected:?} not in:\n{err}"
        );
    }
    // The node cannot be created: the name given is used.
    let missing = std::env::temp_dir().join(format!("ex-{}-missing.json", std::process::id()));
    let mut cmd = support::role_command(ROLE, "run-fails", &[]);
    cmd.env_remove("AXON_NODE_NAME")
        .env("AXON_PARAMS_FILE", &missing);
    let mut child = Guard(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let st = child.wait();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(st.code(), Some(1), "{err}");
    let line = format!("runner: error: parameters file {}: ", missing.display());
    assert!(
        err.lines().any(|l| l.starts_with(&line)),
        "{line:?} not in:\n{err}"
    );
}

#[test]
fn run_exits_0_when_the_node_stops_on_sigterm() {
    let dom = domain_name("runok");
    let mut cmd = support::role_command(ROLE, "run-spins", &[]);
    cmd.env("AXON_DOMAIN", &dom)
        .env_remove("AXON_PARAMS_FILE")
        .env_remove("AXON_NODE_NAME");
    let mut child = Guard(cmd.stdout(Stdio::piped()).spawn().unwrap());
    let rx = lines(&mut child.0);
    assert_eq!(next(&rx, &["READY"]), "READY");
    child.signal(libc::SIGTERM);
    assert_eq!(next(&rx, &["runner:"]), "runner: stopped");
    assert_eq!(child.wait().code(), Some(0));
    support::remove_domain(&dom);
}
