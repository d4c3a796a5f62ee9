//! The demo nodes as real processes: each test starts node binaries on a
//! private domain (own `AXON_DOMAIN` and `AXON_SHM_DIR`), drives or watches
//! them through topics, stops them with SIGTERM and checks they exit 0.
//! Every wait has a watchdog; children are killed on any failure.

mod common;

use std::time::{Duration, Instant};

use axon_msgs::{Odometry, PoseStamped, Twist, Vector3};
use common::TestDomain;
use serde_json::json;

const WATCHDOG: Duration = Duration::from_secs(30);
const EXIT_WATCHDOG: Duration = Duration::from_secs(10);

/// The `rate/s` column of the monitor's table rows for `topic`.
fn monitor_rates(output: &[String], topic: &str) -> Vec<f64> {
    output
        .iter()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.first() == Some(&topic) && cols.get(1) != Some(&"(not"))
                .then(|| cols.get(2)?.parse().ok())
                .flatten()
        })
        .collect()
}

#[test]
fn monitor_reports_the_imu_rate_and_both_exit_0_on_sigterm() {
    let domain = TestDomain::new("imu-monitor");
    let mut imu = domain.spawn(
        env!("CARGO_BIN_EXE_demo-imu"),
        "imu",
        json!({ "rate": 200.0 }),
    );
    let mut monitor = domain.spawn(
        env!("CARGO_BIN_EXE_demo-monitor"),
        "monitor",
        json!({ "topics": ["imu"], "period": 0.5 }),
    );
    // Four full windows after the one in which the subscription was made.
    let out = monitor.wait_output(WATCHDOG, |out| monitor_rates(out, "/imu").len() >= 5);
    let rates = monitor_rates(&out, "/imu");
    let mut steady = rates[1..].to_vec();
    steady.sort_by(f64::total_cmp);
    let median = steady[steady.len() / 2];
    assert!(
        (150.0..=250.0).contains(&median),
        "median /imu rate {median} is not near 200 Hz: {rates:?}\n{}",
        out.join("\n")
    );
    let types: Vec<&String> = out
        .iter()
        .filter(|l| l.starts_with("/imu") && !l.contains("(not advertised)"))
        .collect();
    assert!(
        types.iter().all(|l| l.contains("axon-msgs/Imu")),
        "{types:?}"
    );

    let monitor_status = monitor.terminate(EXIT_WATCHDOG);
    let imu_status = imu.terminate(EXIT_WATCHDOG);
    assert_eq!(
        monitor_status.code(),
        Some(0),
        "{}",
        monitor.output().join("\n")
    );
    assert_eq!(imu_status.code(), Some(0), "{}", imu.output().join("\n"));
    assert!(imu
        .output()
        .iter()
        .any(|l| l.contains("imu: stopping after")));
}

#[test]
fn base_integrates_a_twist_into_odometry_and_stops_when_commands_stop() {
    let domain = TestDomain::new("base");
    let mut base = domain.spawn(
        env!("CARGO_BIN_EXE_demo-base"),
        "base",
        json!({ "rate": 50.0, "cmd_timeout": 0.3 }),
    );
    base.wait_output(WATCHDOG, |out| out.iter().any(|l| l.starts_with("base: ")));
    let node = domain.node("driver");
    let cmd = node
        .publisher::<Twist>("/cmd_vel")
        .create()
        .expect("cmd_vel");
    let odom = node.subscriber::<Odometry>("/odom").create().expect("odom");
    let forward = Twist {
        linear: Vector3 {
            x: 1.0,
            y: 0.0,
            z: 0.0,
        },
        angular: Vector3::default(),
    };

    // Drive forward at 1 m/s until the base has integrated half a metre.
    let deadline = Instant::now() + WATCHDOG;
    let last = loop {
        assert!(
            Instant::now() < deadline,
            "watchdog: odometry never reached x = 0.5"
        );
        cmd.publish(&forward).expect("publish");
        std::thread::sleep(Duration::from_millis(10));
        let mut newest = None;
        while let Some(o) = odom.try_recv().expect("recv") {
            newest = Some(*o);
        }
        if let Some(o) = newest {
            if o.pose.pose.position.x >= 0.5 {
                break o;
            }
        }
    };
    assert_eq!(last.twist.twist.linear.x, 1.0);
    assert!(last.pose.pose.position.y.abs() < 1e-9, "{last:?}");
    assert_eq!(last.child_frame_id.as_str(), "base_link");
    assert_eq!(last.header.frame_id.as_str(), "odom");

    // No more commands: after cmd_timeout the base reports zero velocity
    // and its position stays where it is.
    let deadline = Instant::now() + WATCHDOG;
    let stopped = loop {
        assert!(
            Instant::now() < deadline,
            "watchdog: the base never stopped"
        );
        if let Some(o) = odom.try_recv().expect("recv") {
            if o.twist.twist.linear.x == 0.0 {
                break *o;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    std::thread::sleep(Duration::from_millis(200));
    let mut after = stopped;
    while let Some(o) = odom.try_recv().expect("recv") {
        after = *o;
    }
    assert_eq!(after.pose.pose.position.x, stopped.pose.pose.position.x);
    assert!(stopped.pose.pose.position.x >= 0.5);

    // The base's `reset_odometry` service (a client here, the base's
    // executor serves it): the answer is the pose it had, and odometry
    // restarts from the pose asked for.
    let reset = node
        .client::<axon_nodes::ResetOdometry, axon_nodes::OdometryReset>("/reset_odometry")
        .create()
        .expect("client");
    reset
        .wait_for_service(WATCHDOG)
        .expect("the base serves reset_odometry");
    let answer = reset
        .call(
            &axon_nodes::ResetOdometry {
                x: -2.0,
                y: 1.0,
                yaw: 0.0,
            },
            WATCHDOG,
        )
        .expect("reset_odometry");
    assert_eq!(answer.previous_x, after.pose.pose.position.x, "{answer:?}");
    let deadline = Instant::now() + WATCHDOG;
    loop {
        assert!(
            Instant::now() < deadline,
            "watchdog: odometry never restarted from the reset pose"
        );
        if let Some(o) = odom.try_recv().expect("recv") {
            if o.pose.pose.position.x == -2.0 {
                assert_eq!(o.pose.pose.position.y, 1.0);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let declined = reset.call(
        &axon_nodes::ResetOdometry {
            x: f64::NAN,
            y: 0.0,
            yaw: 0.0,
        },
        WATCHDOG,
    );
    assert!(
        matches!(declined, Err(axon::CallError::Declined { .. })),
        "{declined:?}"
    );

    let status = base.terminate(EXIT_WATCHDOG);
    assert_eq!(status.code(), Some(0), "{}", base.output().join("\n"));
}

#[test]
fn detector_reports_the_nearest_return_of_the_lidar() {
    let domain = TestDomain::new("detector");
    let mut lidar = domain.spawn(
        env!("CARGO_BIN_EXE_demo-lidar"),
        "lidar",
        json!({ "rate": 20.0, "beams": 180, "noise": 0.0 }),
    );
    lidar.wait_output(WATCHDOG, |out| out.iter().any(|l| l.starts_with("lidar: ")));
    let mut detector = domain.spawn(
        env!("CARGO_BIN_EXE_demo-detector"),
        "detector",
        json!({ "beams": 180 }),
    );
    let node = domain.node("checker");
    let obstacles = node
        .subscriber::<PoseStamped>("/obstacle")
        .create()
        .expect("obstacle");
    let mut seen = Vec::new();
    let deadline = Instant::now() + WATCHDOG;
    while seen.len() < 5 {
        assert!(
            Instant::now() < deadline,
            "watchdog: too few detections: {seen:?}"
        );
        match obstacles.recv_timeout(Duration::from_millis(100)) {
            Ok(d) => seen.push(*d),
            Err(axon::WaitError::Timeout | axon::WaitError::PublisherGone) => {}
            Err(e) => panic!("recv: {e}"),
        }
    }
    for d in &seen {
        let p = d.pose.position;
        let range = p.x.hypot(p.y);
        // The room is 10 m x 6 m around the sensor; the obstacle (radius
        // 0.3 m at y = 1.2 m) is at most 0.9 m away, the nearest wall 3 m.
        assert!((0.85..=3.01).contains(&range), "range {range} in {d:?}");
        assert_eq!(d.header.frame_id.as_str(), "laser");
    }
    assert_eq!(detector.terminate(EXIT_WATCHDOG).code(), Some(0));
    assert_eq!(lidar.terminate(EXIT_WATCHDOG).code(), Some(0));
}

#[test]
fn the_whole_robot_runs_and_every_node_exits_0_on_sigint() {
    let domain = TestDomain::new("robot");
    let nodes = [
        (
            env!("CARGO_BIN_EXE_demo-camera"),
            "camera",
            json!({ "width": 320, "height": 240 }),
        ),
        (env!("CARGO_BIN_EXE_demo-lidar"), "lidar", json!({})),
        (env!("CARGO_BIN_EXE_demo-imu"), "imu", json!({})),
        (env!("CARGO_BIN_EXE_demo-detector"), "detector", json!({})),
        (
            env!("CARGO_BIN_EXE_demo-controller"),
            "controller",
            json!({}),
        ),
        (env!("CARGO_BIN_EXE_demo-base"), "base", json!({})),
    ];
    let mut procs = Vec::new();
    for (exe, name, params) in nodes {
        let mut p = domain.spawn(exe, name, params);
        // In order, as the launch file's dependencies would have it.
        let prefix = format!("{name}: ");
        p.wait_output(WATCHDOG, |out| out.iter().any(|l| l.starts_with(&prefix)));
        procs.push(p);
    }
    let mut monitor = domain.spawn(
        env!("CARGO_BIN_EXE_demo-monitor"),
        "monitor",
        json!({ "period": 0.5 }),
    );
    // Every topic flowing, end to end: commands reach the base.
    let out = monitor.wait_output(WATCHDOG, |out| {
        [
            "/camera/image",
            "/scan",
            "/imu",
            "/obstacle",
            "/cmd_vel",
            "/odom",
        ]
        .iter()
        .all(|t| monitor_rates(out, t).iter().any(|r| *r > 0.0))
    });
    assert!(
        !out.iter().any(|l| l.starts_with("[stderr]")),
        "{}",
        out.join("\n")
    );
    procs.push(monitor);
    for p in &procs {
        p.signal(nix::sys::signal::Signal::SIGINT);
    }
    for p in &mut procs {
        let status = p.wait(EXIT_WATCHDOG);
        assert_eq!(
            status.code(),
            Some(0),
            "{}:\n{}",
            p.name,
            p.output().join("\n")
        );
    }
}

/// Params that used to reach `Duration::from_secs_f64` or a timer unchecked
/// (a negative timeout panicked the node with exit 101) are refused with
/// one line naming the param, and exit status 1.
#[test]
fn bad_param_values_are_one_error_line_and_exit_1_not_a_panic() {
    let domain = TestDomain::new("bad-params");
    let cases = [
        (
            env!("CARGO_BIN_EXE_demo-base"),
            "base",
            json!({ "cmd_timeout": -1.0 }),
            "base: error: parameter \"cmd_timeout\": -1 is not a span of time in seconds",
        ),
        (
            env!("CARGO_BIN_EXE_demo-controller"),
            "controller",
            json!({ "stale_after": -0.5 }),
            "controller: error: parameter \"stale_after\": -0.5 is not a span of time",
        ),
        (
            env!("CARGO_BIN_EXE_demo-monitor"),
            "monitor",
            json!({ "poll_ms": -1.0 }),
            "monitor: error: param poll_ms: -0.001 is not a span of time",
        ),
        (
            env!("CARGO_BIN_EXE_demo-camera"),
            "camera",
            json!({ "rate": 0.0 }),
            "camera: error: parameter \"rate\": 0 is not a frequency",
        ),
        (
            env!("CARGO_BIN_EXE_demo-imu"),
            "imu",
            json!({ "rate": "fast" }),
            "imu: error: parameter \"rate\": invalid type: string \"fast\", expected f64",
        ),
    ];
    for (exe, name, params, expected) in cases {
        let mut p = domain.spawn(exe, name, params);
        let status = p.wait(EXIT_WATCHDOG);
        let out = p.output();
        assert_eq!(status.code(), Some(1), "{name}:\n{}", out.join("\n"));
        let errors: Vec<&String> = out.iter().filter(|l| l.starts_with("[stderr]")).collect();
        assert_eq!(
            errors.len(),
            1,
            "{name}: one line expected:\n{}",
            out.join("\n")
        );
        assert!(
            errors[0].starts_with(&format!("[stderr] {expected}")),
            "{name}: {:?} does not start with {expected:?}",
            errors[0]
        );
    }
}

/// SIGHUP (what `launch` sends after rewriting the params file): a bad file
/// is reported and the base keeps running on its old params; a good one
/// changes `cmd_timeout` while it runs (a command then lasts 30 s instead
/// of 0.2 s).
#[test]
fn base_reads_cmd_timeout_again_on_sighup_and_survives_a_bad_params_file() {
    let domain = TestDomain::new("base-reload");
    let mut base = domain.spawn(
        env!("CARGO_BIN_EXE_demo-base"),
        "base",
        json!({ "rate": 50.0, "cmd_timeout": 0.2 }),
    );
    base.wait_output(WATCHDOG, |out| out.iter().any(|l| l.starts_with("base: ")));
    let params_file = domain.dir.join("base.params.json");

    std::fs::write(&params_file, "{ not json").unwrap();
    base.signal(nix::sys::signal::Signal::SIGHUP);
    base.wait_output(WATCHDOG, |out| {
        out.iter()
            .any(|l| l.starts_with("[stderr] base: reloading params: parameters file "))
    });
    std::fs::write(&params_file, json!({ "cmd_timeout": -3 }).to_string()).unwrap();
    base.signal(nix::sys::signal::Signal::SIGHUP);
    base.wait_output(WATCHDOG, |out| {
        out.iter().any(|l| l.contains("-3 is not a span of time"))
    });
    std::fs::write(&params_file, json!({ "cmd_timeout": 30.0 }).to_string()).unwrap();
    base.signal(nix::sys::signal::Signal::SIGHUP);
    base.wait_output(WATCHDOG, |out| {
        out.iter().any(|l| l == "base: params reloaded")
    });

    // One command, then none: with the new timeout the base still drives
    // half a second later (with the old 0.2 s it would have stopped).
    let node = domain.node("driver");
    let cmd = node
        .publisher::<Twist>("/cmd_vel")
        .create()
        .expect("cmd_vel");
    let odom = node.subscriber::<Odometry>("/odom").create().expect("odom");
    let forward = Twist {
        linear: Vector3 {
            x: 1.0,
            y: 0.0,
            z: 0.0,
        },
        angular: Vector3::default(),
    };
    let deadline = Instant::now() + WATCHDOG;
    while cmd.raw().subscriber_count() == 0 {
        assert!(
            Instant::now() < deadline,
            "watchdog: the base never subscribed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    cmd.publish(&forward).expect("publish");
    let sent = Instant::now();
    let deadline = Instant::now() + WATCHDOG;
    let moving_late = loop {
        assert!(Instant::now() < deadline, "watchdog: no odometry");
        match odom.recv_timeout(Duration::from_millis(100)) {
            Ok(o) if sent.elapsed() > Duration::from_millis(500) => {
                break o.twist.twist.linear.x;
            }
            Ok(_) | Err(axon::WaitError::Timeout | axon::WaitError::PublisherGone) => {}
            Err(e) => panic!("recv: {e}"),
        }
    };
    assert_eq!(moving_late, 1.0, "{}", base.output().join("\n"));
    assert_eq!(base.terminate(EXIT_WATCHDOG).code(), Some(0));
}
