//! End-to-end: the real `launch` binary, real node processes (sh scripts),
//! real signals. Every wait has a watchdog; no test asserts a run time.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::*;

#[test]
fn normal_run_and_sigint_stop_every_node_cleanly() {
    let (dir, mut l) = launch_robot(
        "normal",
        r#"
[launch]
grace = "10s"

[[node]]
name = "driver"
exec = "sh"
args = ["good.sh"]
ready = { log = "driver: up" }

[[node]]
name = "planner"
exec = "sh"
args = ["good.sh"]
depends_on = ["driver"]
"#,
    );
    l.wait_for("planner: up");
    l.signal(Signal::SIGINT);
    let out = l.expect_exit(0);
    assert!(
        out.contains("driver  | driver: up"),
        "prefixed output:\n{out}"
    );
    assert!(
        out.contains("driver: got TERM") && out.contains("planner: got TERM"),
        "{out}"
    );
    assert!(row(&out, "driver").contains("exit 0"), "{out}");
    assert!(row(&out, "planner").contains("exit 0"), "{out}");
    assert!(!out.contains("needed SIGKILL"), "{out}");
    // The planner started only after the driver was ready.
    let ready = out.find("driver is ready").expect("ready message");
    let started = out.find("started planner").expect("start message");
    assert!(ready < started, "{out}");
    // Output also went to the log directory.
    let log = std::fs::read_to_string(dir.path().join("log/driver.log")).unwrap();
    assert!(log.contains("driver: up"), "{log}");
}

#[test]
fn node_ignoring_sigterm_gets_sigkill_after_grace() {
    let (_dir, mut l) = launch_robot(
        "stubborn",
        r#"
[launch]
grace = "300ms"

[[node]]
name = "good"
exec = "sh"
args = ["good.sh"]

[[node]]
name = "stubborn"
exec = "sh"
args = ["stubborn.sh"]
"#,
    );
    l.wait_for("good: up");
    l.wait_for("stubborn: up");
    l.signal(Signal::SIGTERM);
    let out = l.expect_exit(0);
    assert!(out.contains("needed SIGKILL: stubborn"), "{out}");
    let r = row(&out, "stubborn");
    assert!(
        r.contains("signal SIGKILL") && r.contains("needed SIGKILL"),
        "{out}"
    );
    assert!(row(&out, "good").contains("exit 0"), "{out}");
}

#[test]
fn second_sigint_kills_at_once() {
    let (_dir, mut l) = launch_robot(
        "second",
        r#"
[launch]
grace = "1h"

[[node]]
name = "stubborn"
exec = "sh"
args = ["stubborn.sh"]
"#,
    );
    l.wait_for("stubborn: up");
    l.signal(Signal::SIGINT);
    l.wait_for("shutting down");
    l.signal(Signal::SIGINT);
    let out = l.expect_exit(0);
    assert!(out.contains("SIGKILL (second signal)"), "{out}");
}

#[test]
fn respawn_backs_off_and_gives_up_after_max_restarts() {
    let (_dir, mut l) = launch_robot(
        "respawn",
        r#"
[[node]]
name = "flaky"
exec = "sh"
args = ["crash.sh"]
respawn = { policy = "on-failure", max_restarts = 3, backoff = "50ms", max_backoff = "150ms" }
"#,
    );
    // Not required: its failure does not fail the robot.
    let out = l.expect_exit(0);
    assert_eq!(out.matches("flaky: crashing").count(), 4, "{out}");
    assert!(out.contains("restart 1/3 in 50ms"), "{out}");
    assert!(out.contains("restart 2/3 in 100ms"), "{out}");
    assert!(out.contains("restart 3/3 in 150ms"), "{out}");
    assert!(out.contains("giving up after 3 restarts"), "{out}");
    let r = row(&out, "flaky");
    assert!(r.contains("exit 3"), "{out}");
    assert_eq!(
        r.split_whitespace().nth(4),
        Some("3"),
        "restarts column: {r}"
    );
}

#[test]
fn respawn_always_restarts_clean_exits_too() {
    let (_dir, mut l) = launch_robot(
        "always",
        r#"
[[node]]
name = "oneshot"
exec = "sh"
args = ["-c", "echo tick"]
respawn = { policy = "always", max_restarts = 2, backoff = "10ms" }
"#,
    );
    assert_eq!(l.wait(), 0);
    assert_eq!(l.output().matches("| tick").count(), 3, "{}", l.output());
}

#[test]
fn required_node_crash_stops_the_robot_with_failure() {
    let (_dir, mut l) = launch_robot(
        "required",
        r#"
[launch]
grace = "10s"

[[node]]
name = "good"
exec = "sh"
args = ["good.sh"]
ready = { log = "good: up" }

[[node]]
name = "brain"
exec = "sh"
args = ["crash.sh"]
required = true
depends_on = ["good"]
"#,
    );
    let out = l.expect_exit(1);
    assert!(out.contains("required node brain ended: exit 3"), "{out}");
    assert!(out.contains("good: got TERM"), "{out}");
    assert!(row(&out, "brain").contains("exit 3 [required]"), "{out}");
    assert!(row(&out, "good").contains("exit 0"), "{out}");
}

#[test]
fn launcher_sigkill_leaves_no_orphans() {
    let (dir, mut l) = launch_robot(
        "orphans",
        r#"
[[node]]
name = "a"
exec = "sh"
args = ["good.sh"]

[[node]]
name = "b"
exec = "sh"
args = ["good.sh"]
"#,
    );
    l.wait_for("a: up");
    l.wait_for("b: up");
    let pids = [read_pid(&dir, "a"), read_pid(&dir, "b")];
    assert!(pids.iter().all(|&p| alive(p)));
    l.signal(Signal::SIGKILL);
    let _ = l.child.wait();
    let deadline = Instant::now() + WATCHDOG;
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "watchdog: nodes {pids:?} outlived the launcher"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn nodes_get_name_namespace_remap_domain_env_and_params() {
    let dir = robot_dir(
        "env",
        r#"
[launch]
domain = "lab"
env = { EXTRA = "from-launch" }
args = { speed = 1.0, mode = "slow" }

[[node]]
name = "checker"
exec = "sh"
args = ["envcheck.sh", "${mode}"]
namespace = "/robot1"
remap = { cmd = "/base/cmd", odom = "odom2" }
params = { speed = "${speed}", label = "at ${speed}", gains = [1, 2], pid = { p = 0.5 } }
"#,
    );
    let mut l = launch(
        &dir,
        &["robot.toml", "speed=2.5", "mode=fast", "duration=30"],
    );
    l.wait_for("env: done");
    l.signal(Signal::SIGINT);
    let out = l.expect_exit(0);
    assert!(
        out.contains("name=checker ns=/robot1 remap=cmd=/base/cmd;odom=odom2 domain=lab extra=from-launch argv=fast"),
        "{out}"
    );
    assert!(
        out.contains(r#"params={"gains":[1,2],"label":"at2.5","pid":{"p":0.5},"speed":2.5}"#),
        "{out}"
    );
}

#[test]
fn sighup_rewrites_params_and_forwards_the_signal() {
    let (dir, mut l) = launch_robot(
        "sighup",
        r#"
[[node]]
name = "checker"
exec = "sh"
args = ["envcheck.sh"]
params = { gain = 1 }
"#,
    );
    let file = dir.path().join("robot.toml");
    l.wait_for("env: done");
    assert!(l.output().contains(r#"params={"gain":1}"#));
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("gain = 1", "gain = 7");
    std::fs::write(&file, text).unwrap();
    l.signal(Signal::SIGHUP);
    l.wait_for(r#"params={"gain":7}"#);
    l.signal(Signal::SIGINT);
    assert_eq!(l.wait(), 0);
}

#[test]
fn duration_arg_stops_the_robot_like_ctrl_c() {
    let dir = robot_dir(
        "duration",
        r#"
[[node]]
name = "good"
exec = "sh"
args = ["good.sh"]
"#,
    );
    let mut l = launch(&dir, &["robot.toml", "duration=0.5"]);
    let out = l.expect_exit(0);
    assert!(out.contains("shutting down: duration elapsed"), "{out}");
    assert!(row(&out, "good").contains("exit 0"), "{out}");
}

#[test]
fn ready_topic_waits_for_a_live_publisher_not_a_leftover_file() {
    let uid = nix::unistd::getuid().as_raw();
    let me = std::env::current_exe().unwrap().display().to_string();
    let args = ["child_entry", "--exact", "--nocapture", "--test-threads=1"]
        .map(|a| format!("{a:?}"))
        .join(", ");
    let dir = robot_dir(
        "topic",
        &format!(
            r#"
[launch]
domain = "t"
duration = "60s"

[[node]]
name = "imu"
exec = "{me}"
args = [{args}]
env = {{ {ROLE_VAR} = "imu" }}
ready = {{ topic = "/sensors/imu", timeout = "20s" }}

[[node]]
name = "fusion"
exec = "sh"
args = ["good.sh"]
depends_on = ["imu"]
"#
        ),
    );
    // What an earlier run could leave: a file under the topic's name. It
    // must not make the imu count as ready (only a live publisher that has
    // published does).
    std::fs::write(dir.0.join(format!("axon.u{uid}.dt.sensors.imu")), b"").unwrap();
    let mut l = launch_with_env(&dir, &["robot.toml"], &[("AXON_SHM_DIR", ".")]);
    l.wait_for("fusion: up");
    // The launcher's own lines come in order on one stream; the node's
    // output on another, merged by a second thread: wait for ours too.
    l.wait_for("started fusion");
    let out = l.output();
    let published = out.find("imu: published").expect("published");
    let ready = out.find("imu is ready").expect("ready");
    assert!(published < ready, "{out}");
    assert!(ready < out.find("started fusion").unwrap(), "{out}");
    l.signal(Signal::SIGINT);
    assert_eq!(l.wait(), 0);
}

const ROLE_VAR: &str = "AXON_LIFECYCLE_ROLE";

/// Re-executed as a node by the tests above (`ROLE_VAR` names the role).
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE_VAR) else {
        return;
    };
    assert_eq!(role, "imu", "unknown role");
    let node = axon::Node::new("imu").expect("node");
    let p = node
        .publisher::<u64>("/sensors/imu")
        .create()
        .expect("publisher");
    // Joined, but not ready yet: nothing published.
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.publish(&1).expect("publish");
    println!("imu: published");
    while !node.shutdown_requested() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::process::exit(0);
}

#[test]
fn ready_timeout_stops_the_robot() {
    let (dir, mut l) = launch_robot(
        "readytimeout",
        r#"
[[node]]
name = "silent"
exec = "sh"
args = ["good.sh"]
ready = { log = "never printed", timeout = "200ms" }

[[node]]
name = "after"
exec = "sh"
args = ["marker.sh"]
depends_on = ["silent"]
"#,
    );
    let out = l.expect_exit(1);
    assert!(out.contains("silent did not become ready"), "{out}");
    assert!(row(&out, "after").contains("not started"), "{out}");
    assert!(!dir.exists("spawned.after"));
}

/// The message used to print Rust debug text: `within 300ms
/// (Topic("/never"))`.
#[test]
fn ready_timeout_message_has_no_rust_debug_text() {
    let (_dir, mut l) = launch_robot(
        "readymsg",
        r#"
[[node]]
name = "silent"
exec = "sh"
args = ["good.sh"]
ready = { topic = "/never", timeout = "300ms" }
"#,
    );
    let out = l.expect_exit(1);
    assert!(
        out.contains(
            "silent did not become ready within 300ms (waited for a publisher on topic /never; \
             found: no topic /never yet)"
        ),
        "{out}"
    );
    assert!(!out.contains("Topic("), "{out}");
}

#[test]
fn closed_stdout_does_not_stop_the_launcher() {
    let dir = robot_dir(
        "epipe",
        r#"
[launch]
duration = "1s"

[[node]]
name = "flood"
exec = "sh"
args = ["-c", "trap 'exit 0' TERM; while :; do echo lots of output; done"]
"#,
    );
    // stdout goes to a pipe whose reader is closed at once.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_launch"))
        .arg("robot.toml")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = wait_or_kill(&mut child)
        .unwrap_or_else(|| panic!("watchdog: launch hung with a closed stdout"));
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn cpu_affinity_is_applied_before_exec() {
    let (_dir, mut l) = launch_robot(
        "cpu",
        r#"
[[node]]
name = "pinned"
exec = "sh"
args = ["-c", "grep Cpus_allowed_list /proc/self/status"]
cpu = [0]
"#,
    );
    let out = l.expect_exit(0);
    let line = out
        .lines()
        .find(|l| l.contains("Cpus_allowed_list"))
        .expect("node output");
    assert_eq!(line.split_whitespace().last(), Some("0"), "{out}");
}
