//! The demo robot as Foxglove sees it: one coherent frame tree.
//!
//! The real node binaries (base, lidar, detector, camera) run on a private
//! domain; the Foxglove bridge (`axon_view::serve`) serves it; the client is
//! the independent Python one of the CLI's tests (`cli/tests/view_client.py`,
//! `websockets` + Foxglove's `mcap-ros2-support` decoding the CDR with the
//! schema text the bridge advertised), from the virtual environment `./test`
//! makes (`AXON_PYTHON`). Every wait has a deadline.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axon_msgs::{Twist, Vector3};
use common::TestDomain;
use serde_json::{json, Value};

const WATCHDOG: Duration = Duration::from_secs(60);
const EXIT_WATCHDOG: Duration = Duration::from_secs(10);

fn python() -> PathBuf {
    let path = std::env::var_os("AXON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/venv/bin/python")
        });
    assert!(
        path.exists(),
        "the Foxglove client needs the virtual environment with websockets and \
         mcap-ros2-support: run ./test (it sets AXON_PYTHON); not found: {}",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs the Python client to its end (killed after `WATCHDOG`); its stdout.
fn run_client(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/view_client.py");
    let mut child = Command::new(python())
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the Python client");
    let deadline = Instant::now() + WATCHDOG;
    while child.try_wait().expect("waiting").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("client output");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn foxglove_sees_one_frame_tree_tf_agrees_with_scan_odometry_camera_and_obstacle() {
    let domain = TestDomain::new("view");
    let mut nodes = vec![
        domain.spawn(
            env!("CARGO_BIN_EXE_demo-base"),
            "base",
            json!({ "rate": 50.0, "cmd_timeout": 1.0 }),
        ),
        domain.spawn(
            env!("CARGO_BIN_EXE_demo-lidar"),
            "lidar",
            json!({ "rate": 20.0, "beams": 90 }),
        ),
        domain.spawn(
            env!("CARGO_BIN_EXE_demo-detector"),
            "detector",
            json!({ "beams": 90 }),
        ),
        domain.spawn(
            env!("CARGO_BIN_EXE_demo-camera"),
            "camera",
            json!({ "rate": 10.0, "width": 32, "height": 24 }),
        ),
    ];
    // The robot drives a slow circle, so odom -> base_link moves and turns.
    let stop = Arc::new(AtomicBool::new(false));
    let driver = {
        let (node, stop) = (domain.node("driver"), stop.clone());
        std::thread::spawn(move || {
            let cmd = node
                .publisher::<Twist>("/cmd_vel")
                .create()
                .expect("cmd_vel");
            let twist = Twist {
                linear: Vector3 {
                    x: 0.3,
                    ..Default::default()
                },
                angular: Vector3 {
                    z: 0.4,
                    ..Default::default()
                },
            };
            while !stop.load(Ordering::Relaxed) {
                cmd.publish(&twist).expect("publishing a Twist");
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let port = free_port();
    let view_stop = Arc::new(AtomicBool::new(false));
    let server = {
        let dom = axon::Domain::new(&domain.dir, &domain.name).expect("domain");
        let stop = view_stop.clone();
        std::thread::spawn(move || {
            let opts = axon_view::ViewOptions {
                port,
                ..Default::default()
            };
            axon_view::serve(&dom, &opts, stop).expect("serving");
        })
    };
    // Give the robot a moment to move off the origin.
    std::thread::sleep(Duration::from_millis(500));
    let out = run_client(&["tf", &format!("ws://127.0.0.1:{port}")]);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT: {out}"));
    let r: Value = serde_json::from_str(line).expect("RESULT json");
    view_stop.store(true, Ordering::Relaxed);
    server.join().expect("the bridge");
    stop.store(true, Ordering::Relaxed);
    driver.join().expect("driver");
    for n in &mut nodes {
        let status = n.terminate(EXIT_WATCHDOG);
        assert_eq!(status.code(), Some(0), "{}", n.output().join("\n"));
    }

    assert_eq!(r["schemas"]["/tf"], "tf2_msgs/msg/TFMessage");
    assert_eq!(r["schemas"]["/tf_static"], "tf2_msgs/msg/TFMessage");
    // The sensor frames hang off base_link on /tf_static.
    let statics = r["tf_static"].as_array().unwrap();
    assert!(!statics.is_empty());
    let mut children = Vec::new();
    for t in statics[0].as_array().unwrap() {
        assert_eq!(t["parent"], "base_link", "{t}");
        assert_eq!(t["q"], json!([0.0, 0.0, 0.0, 1.0]), "{t}");
        children.push(t["child"].as_str().unwrap().to_string());
    }
    children.sort();
    assert_eq!(children, ["camera", "imu_link", "laser"]);
    // The topics' frames are those of the tree.
    assert_eq!(r["frames"]["/scan"], json!(["laser"]));
    assert_eq!(r["frames"]["/obstacle"], json!(["laser"]));
    assert_eq!(r["frames"]["/camera/image"], json!(["camera"]));
    assert_eq!(r["frames"]["/odom"], json!(["odom"]));
    // /tf: odom -> base_link, the very pose odometry reports at that stamp.
    let tfs = r["tf"].as_array().unwrap();
    let odom = r["odom"].as_array().unwrap();
    let mut matched = 0;
    let mut moved = false;
    for msg in tfs {
        let list = msg.as_array().unwrap();
        assert_eq!(list.len(), 1, "{msg}");
        let t = &list[0];
        assert_eq!(
            (t["parent"].as_str(), t["child"].as_str()),
            (Some("odom"), Some("base_link"))
        );
        moved |= t["t"][0].as_f64().unwrap().abs() > 1e-6;
        if let Some(o) = odom.iter().find(|o| o["stamp"] == t["stamp"]) {
            assert_eq!(o["child"], "base_link");
            assert_eq!(o["t"], t["t"], "{o} vs {t}");
            assert_eq!(o["q"], t["q"], "{o} vs {t}");
            matched += 1;
        }
    }
    assert!(matched >= 1, "no /tf stamp among the odometry's: {r}");
    assert!(moved, "the robot did not move: {r}");
}
