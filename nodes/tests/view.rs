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

use axon_msgs::{LaserScan, Odometry, Twist, Vector3};
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

/// Distance from `(x, y)` to the demo room's walls (the rectangle
/// `±half_x` by `±half_y` around the odom origin).
fn off_the_walls((x, y): (f64, f64)) -> f64 {
    let room = axon_nodes::sim::Room::default();
    let (dx, dy) = (x.abs() - room.half_x, y.abs() - room.half_y);
    if dx <= 0.0 && dy <= 0.0 {
        (-dx).min(-dy)
    } else {
        dx.max(0.0).hypot(dy.max(0.0))
    }
}

/// The share of a scan's finite returns that lie on a wall (within `tol`)
/// once each is placed in `odom` from the laser at pose `(x, y, yaw)` (the
/// laser sits at base_link's origin, unrotated).
fn on_the_walls(angles: &[(f64, f64)], (x, y, yaw): (f64, f64, f64), tol: f64) -> f64 {
    let finite: Vec<_> = angles.iter().filter(|(_, r)| r.is_finite()).collect();
    let on = finite
        .iter()
        .filter(|(a, r)| off_the_walls((x + r * (yaw + a).cos(), y + r * (yaw + a).sin())) < tol)
        .count();
    on as f64 / finite.len().max(1) as f64
}

fn yaw_of(o: &Odometry) -> f64 {
    let q = o.pose.pose.orientation;
    (2.0 * (q.w * q.z + q.x * q.y)).atan2(1.0 - 2.0 * (q.y * q.y + q.z * q.z))
}

#[test]
fn lidar_casts_from_the_odometry_pose_so_the_walls_stay_put_in_odom() {
    const TOL: f64 = 0.05; // the lidar's noise is +-0.01 m
    let domain = TestDomain::new("lidarpose");
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
    ];
    // Join the topics the nodes made (with their QoS).
    nodes[0].wait_output(WATCHDOG, |out| out.iter().any(|l| l.starts_with("base: ")));
    nodes[1].wait_output(WATCHDOG, |out| out.iter().any(|l| l.starts_with("lidar: ")));
    let node = domain.node("driver");
    let cmd = node
        .publisher::<Twist>("/cmd_vel")
        .create()
        .expect("cmd_vel");
    let odom = node.subscriber::<Odometry>("/odom").create().expect("odom");
    let scans = node
        .subscriber::<LaserScan>("/scan")
        .max_len(90)
        .create()
        .expect("scan");
    // A circle of radius 0.75 m around (0, 0.75): it stays in the room.
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
    // (stamp ns, x, y, yaw) of every odometry; (stamp ns, [(angle, range)]) of every scan.
    let mut poses: Vec<(i64, f64, f64, f64)> = Vec::new();
    let mut taken: Vec<(i64, Vec<(f64, f64)>)> = Vec::new();
    let deadline = Instant::now() + WATCHDOG;
    // Until 3.5 s of scans with the robot moving (x beyond 0.4 m).
    let mut moving_since: Option<Instant> = None;
    while moving_since.is_none_or(|t| t.elapsed() < Duration::from_millis(3500)) {
        assert!(
            Instant::now() < deadline,
            "watchdog: the robot did not drive"
        );
        cmd.publish(&twist).expect("publishing a Twist");
        std::thread::sleep(Duration::from_millis(10));
        while let Some(o) = odom.try_recv().expect("odom") {
            poses.push((
                o.header.stamp.as_nanos(),
                o.pose.pose.position.x,
                o.pose.pose.position.y,
                yaw_of(&o),
            ));
        }
        while let Some(s) = scans.try_recv().expect("scan") {
            let (a0, inc) = (s.angle_min as f64, s.angle_increment as f64);
            let beams = s
                .ranges
                .iter()
                .enumerate()
                .map(|(i, r)| (a0 + i as f64 * inc, *r as f64))
                .collect();
            let stamp = { s.header.stamp };
            taken.push((stamp.as_nanos(), beams));
        }
        if moving_since.is_none() && poses.last().is_some_and(|p| p.1 > 0.4) {
            moving_since = Some(Instant::now());
        }
    }
    for n in &mut nodes {
        let status = n.terminate(EXIT_WATCHDOG);
        assert_eq!(status.code(), Some(0), "{}", n.output().join("\n"));
    }

    // Each scan against the pose the lidar cast it from: the newest odometry
    // stamped before the scan (the lidar reads the newest, then stamps; one
    // stamped meanwhile may not have been sent yet: the three newest are
    // candidates). A scan around which this test missed odometry (its
    // subscriber queue overran on a loaded machine: a gap over 30 ms at
    // 50 Hz) is skipped.
    let mut checked = 0;
    let mut spread = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    let mut far_identity_fit = 1.0f64;
    for (stamp, beams) in &taken {
        let before: Vec<_> = poses.iter().filter(|p| p.0 <= *stamp).collect();
        let Some(newest) = before.last() else {
            continue;
        };
        if newest.1 < 0.2 {
            continue; // still near the start
        }
        const GAP: i64 = 30_000_000;
        let recent: Vec<i64> = before.iter().rev().take(3).map(|p| p.0).collect();
        if stamp - recent[0] > GAP || recent.windows(2).any(|w| w[0] - w[1] > GAP) {
            continue;
        }
        let best = before
            .iter()
            .rev()
            .take(3)
            .map(|p| on_the_walls(beams, (p.1, p.2, p.3), TOL))
            .fold(0.0, f64::max);
        // The moving obstacle hides a few beams; every other return is a wall.
        assert!(
            best >= 0.75,
            "scan at {stamp}: only {:.0}% of its returns on the walls from pose {newest:?}",
            best * 100.0
        );
        checked += 1;
        spread = (
            spread.0.min(newest.1),
            spread.1.max(newest.1),
            spread.2.min(newest.3),
            spread.3.max(newest.3),
        );
        // A lidar that ignored the pose would cast from the origin, heading 0:
        // then its returns placed from the origin would lie on the walls.
        far_identity_fit = far_identity_fit.min(on_the_walls(beams, (0.0, 0.0, 0.0), TOL));
    }
    eprintln!(
        "checked {checked} of {} scans; poses spread {spread:?}; identity fit {far_identity_fit}",
        taken.len()
    );
    assert!(checked >= 20, "{checked} scans checked of {}", taken.len());
    // The scans were taken from poses far apart (so the walls could not stay
    // put by accident) ...
    assert!(
        spread.1 - spread.0 > 0.3 && spread.3 - spread.2 > 0.5,
        "poses spread {spread:?}"
    );
    // ... and they are not what a lidar at the origin sees.
    assert!(
        far_identity_fit < 0.5,
        "a scan fits the walls seen from the origin: {far_identity_fit}"
    );
}
