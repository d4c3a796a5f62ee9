//! ROS 2 mode from a `[[zenoh]]` launch table: `ros2_export`,
//! `ros2_import` and `ros_domain` reach `axon-zenoh` as `--ros2-export`,
//! `--ros2-import` and `--ros-domain`, under the real `launch` (built beside
//! `axon-zenoh`), checked by the independent rmw_zenoh-style peer
//! (`ros2_peer.py`: Python eclipse-zenoh + rosbags' type hash). The
//! launcher's wiring check counts `ros2_import` as a publisher.
//!
//! Every wait has a watchdog; no test asserts a run time.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use axon::Node;
use axon_msgs::{Twist, Vector3};
use nix::sys::signal::Signal;
use support::*;

#[test]
fn launched_zenoh_table_passes_ros2_export_and_ros_domain_to_the_gateway() {
    let shm = Shm::new("zl", "r2");
    let dir = tmp_dir("launchros2");
    let port = free_port();
    zconfig(&dir, "gw", "peer", &[port], &[]);
    std::fs::write(
        dir.join("robot.toml"),
        format!(
            "[launch]\ngrace = \"10s\"\n\n[[zenoh]]\nname = \"gw\"\nconfig = \"gw.json5\"\n\
             domain = \"{}\"\nros2_export = [\"/turtle1/**\"]\nros_domain = 7\n",
            shm.domain.name()
        ),
    )
    .unwrap();
    let stop_flag = Arc::new(AtomicBool::new(false));
    let (flag, d) = (stop_flag.clone(), shm.domain.clone());
    let publisher = thread::spawn(move || {
        let node = Node::builder("talker").domain(d).create().unwrap();
        let p = node
            .publisher::<Twist>("/turtle1/cmd_vel")
            .create()
            .unwrap();
        let v = |x, y, z| Vector3 { x, y, z };
        while !flag.load(Ordering::SeqCst) {
            p.publish(&Twist {
                linear: v(1.0, 2.0, 3.0),
                angular: v(0.0, 0.0, -0.5),
            })
            .unwrap();
            thread::sleep(Duration::from_millis(10));
        }
    });
    let mut cmd = Command::new(launch_bin());
    cmd.arg("robot.toml")
        .current_dir(&dir)
        .envs(shm.env())
        .env_remove("ROS_DOMAIN_ID");
    let mut launch = Proc::spawn(cmd, "launch");
    launch.wait_for("exporting /turtle1/cmd_vel");
    let out = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ros2_peer.py"))
        .args([
            "sub",
            &format!("tcp/127.0.0.1:{port}"),
            "7",
            "/turtle1/cmd_vel",
        ])
        .output()
        .unwrap();
    stop_flag.store(true, Ordering::SeqCst);
    publisher.join().unwrap();
    let code = launch.stop_with(Signal::SIGINT);
    let log = launch.log();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{log}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python peer failed: {}\n{stdout}\nlaunch:\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    // The peer subscribed to the rmw_zenoh key it built itself for ROS
    // domain 7 (rosbags' hash); a sample arrived on it.
    assert!(
        v["expected_key"]
            .as_str()
            .unwrap()
            .starts_with("7/turtle1/cmd_vel/geometry_msgs::msg::dds_::Twist_/RIHS01_"),
        "{v}"
    );
    assert_eq!(v["key"], v["expected_key"], "{v}");
    assert_eq!(v["linear"], serde_json::json!([1.0, 2.0, 3.0]));
    // The gateway's node and publisher liveliness tokens, in domain 7.
    let tokens: Vec<&str> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tokens
            .iter()
            .any(|t| t.starts_with("@ros2_lv/7/") && t.ends_with("/NN/%/%/axon_zenoh_gw")),
        "no node token in {tokens:?}"
    );
    assert_eq!(v["publisher_tokens"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["gid"], v["gid_of_publisher_token"][0], "{v}");
}

/// `launch --check` on `body` (in a fresh directory): exit code and output.
fn check(tag: &str, body: &str) -> (i32, String) {
    let dir = tmp_dir(tag);
    std::fs::write(dir.join("robot.toml"), body).unwrap();
    let out = Command::new(launch_bin())
        .args(["--check", "robot.toml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_zenoh_ros2_import_counts_as_the_publisher_of_a_subscription() {
    let node = "[[node]]\nname = \"driver\"\nexec = \"sh\"\n\
                subscribes = { \"/cmd_vel\" = \"axon-msgs/Twist\" }\n\n";
    let (code, out) = check(
        "ros2imp",
        &format!("{node}[[zenoh]]\nname = \"gw\"\nros2_import = [\"/cmd_vel\"]\n"),
    );
    assert_eq!(code, 0, "{out}");
    // The same gateway exporting only: nobody publishes /cmd_vel.
    let (code, out) = check(
        "ros2exp",
        &format!("{node}[[zenoh]]\nname = \"gw\"\nros2_export = [\"/odom\"]\n"),
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("robot.toml:4:"), "{out}");
    assert!(out.contains("no node publishes it"), "{out}");
}
