//! `demo-base`: a simulated differential-drive base. Subscribes to `Twist`
//! on `cmd_vel`; a timer integrates the newest command (forward speed and
//! yaw rate, in the body frame) into a pose and publishes `Odometry` on
//! `odom`. A command older than `cmd_timeout` counts as zero (the base
//! stops when its controller goes away).
//!
//! It also publishes the robot's frame tree as ROS 2 tools and Foxglove's
//! 3D panel expect it: on `/tf` (a `TfMessage`), with every odometry
//! message, the transform `frame_id` -> `child_frame_id` (odom ->
//! base_link) of the same pose and stamp; on `/tf_static`, the sensor
//! mounts [`MOUNTS`] (base_link -> laser, camera, imu_link: the default
//! `frame_id`s of demo-lidar, demo-camera and demo-imu), at start and once
//! a second after (axon keeps no latched sample for a viewer that joins
//! after a subscriber that already took it, so it is sent again).
//!
//! Serves `reset_odometry` ([`axon_nodes::ResetOdometry`] ->
//! [`axon_nodes::OdometryReset`]): odometry restarts from the pose given
//! (the origin by default) and the answer is the pose it had; e.g.
//! `axon service call /reset_odometry '{}'`.
//!
//! Executor callbacks: one per command (keeps the newest), one per
//! `reset_odometry` request, a timer at
//! `rate` (integrates and publishes; a failed loan ends the node with that
//! error), and `on_reload`. State two callbacks share lives in `Cell`s.
//!
//! Params: `rate` (Hz, 50), `cmd_timeout` (0.5 s), `frame_id` ("odom"),
//! `child_frame_id` ("base_link"). On SIGHUP `cmd_timeout` is read again
//! (a bad new value keeps the old one); the others apply at the next start.

use std::cell::Cell;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axon::{Hz, Node, Seconds};
use axon_msgs::{
    FrameId, Header, Odometry, Quaternion, TfMessage, Transform, TransformStamped, Twist, Vector3,
};
use axon_nodes::{OdometryReset, ResetOdometry};

/// Where the sensors sit on the base: child frame and translation (x
/// forward, y left, z up, metres) from `child_frame_id` (base_link); no
/// rotation. The lidar is at the base's centre, as its simulation assumes.
const MOUNTS: [(&str, [f64; 3]); 3] = [
    ("laser", [0.0, 0.0, 0.25]),
    ("camera", [0.15, 0.0, 0.35]),
    ("imu_link", [0.0, 0.0, 0.1]),
];

/// The sensor mounts as one `TfMessage` stamped now.
fn mounts(parent: &str) -> TfMessage {
    let mut tf = TfMessage::default();
    for (child, [x, y, z]) in MOUNTS {
        let t = TransformStamped {
            header: Header::now(parent),
            child_frame_id: FrameId::new(child),
            transform: Transform {
                translation: Vector3 { x, y, z },
                rotation: Quaternion::IDENTITY,
            },
        };
        // MOUNTS is far below MAX_TRANSFORMS.
        let _ = tf.push(t);
    }
    tf
}

fn main() -> ExitCode {
    axon::run("base", base)
}

fn cmd_timeout(node: &Node) -> Result<Duration, axon::ParamError> {
    Ok(node.param_or("cmd_timeout", Seconds::new(0.5))?.duration())
}

fn base(node: &Node) -> anyhow::Result<()> {
    let rate = node.param_or("rate", Hz::new(50.0))?;
    let timeout = Cell::new(cmd_timeout(node)?);
    let frame_id: String = node.param_or("frame_id", "odom".to_string())?;
    let child_frame_id: String = node.param_or("child_frame_id", "base_link".to_string())?;
    let commands = node
        .subscriber::<Twist>("cmd_vel")
        .create()
        .context("subscriber on cmd_vel")?;
    let publisher = node
        .publisher::<Odometry>("odom")
        .create()
        .context("publisher on odom")?;
    let tf = node
        .publisher::<TfMessage>("/tf")
        .create()
        .context("publisher on /tf")?;
    let tf_static = node
        .publisher::<TfMessage>("/tf_static")
        .history(1)
        .create()
        .context("publisher on /tf_static")?;
    tf_static.publish(&mounts(&child_frame_id))?;
    let mut last_static = Instant::now();
    let reset = node
        .service::<ResetOdometry, OdometryReset>("reset_odometry")
        .create()
        .context("service reset_odometry")?;
    println!(
        "base: {} -> {} at {rate}, serving {}",
        commands.topic(),
        publisher.topic(),
        reset.name()
    );
    let cmd: Cell<Option<(Instant, Twist)>> = Cell::new(None);
    // (x, y, yaw): shared by the timer and the reset callback.
    let pose = Cell::new((0.0f64, 0.0f64, 0.0f64));
    let mut last = Instant::now();
    let mut seq = 0u64;
    node.on(&commands, |twist| cmd.set(Some((Instant::now(), *twist))))
        .on_request(&reset, |r| {
            let (x, y, yaw) = pose.get();
            let to = (r.x, r.y, r.yaw);
            if !(to.0.is_finite() && to.1.is_finite() && to.2.is_finite()) {
                // Not a pose: declined (the caller gets `Declined`).
                eprintln!("base: reset_odometry to a non-finite pose declined");
                return Ok(());
            }
            pose.set((to.0, to.1, wrap(to.2)));
            println!(
                "base: odometry reset to x={:.2} y={:.2} yaw={:.2}",
                to.0, to.1, to.2
            );
            r.reply(&OdometryReset {
                previous_x: x,
                previous_y: y,
                previous_yaw: yaw,
            })
        })
        .every(rate.period(), || -> anyhow::Result<()> {
            let (mut x, mut y, mut yaw) = pose.get();
            let now = Instant::now();
            let dt = (now - last).as_secs_f64();
            last = now;
            let twist = cmd
                .get()
                .filter(|(at, _)| now - *at < timeout.get())
                .map(|(_, t)| t)
                .unwrap_or_default();
            let (v, w) = (twist.linear.x, twist.angular.z);
            // Midpoint heading: exact for constant v and w to second order.
            let mid = yaw + 0.5 * w * dt;
            x += v * dt * mid.cos();
            y += v * dt * mid.sin();
            yaw = wrap(yaw + w * dt);
            pose.set((x, y, yaw));
            let mut odom = publisher.loan().context("loaning on odom")?;
            let mut header = Header::now(&frame_id);
            header.seq = seq;
            odom.header = header;
            odom.child_frame_id = FrameId::new(&child_frame_id);
            odom.pose = Default::default();
            odom.pose.pose.position.x = x;
            odom.pose.pose.position.y = y;
            odom.pose.pose.orientation = Quaternion::from_yaw(yaw);
            odom.twist = Default::default();
            odom.twist.twist.linear.x = v;
            odom.twist.twist.angular.z = w;
            let sent = odom.pose.pose;
            odom.send();
            let mut msg = TfMessage::default();
            let _ = msg.push(TransformStamped {
                header,
                child_frame_id: FrameId::new(&child_frame_id),
                transform: Transform {
                    translation: Vector3 {
                        x: sent.position.x,
                        y: sent.position.y,
                        z: sent.position.z,
                    },
                    rotation: sent.orientation,
                },
            });
            tf.publish(&msg).context("publishing on /tf")?;
            if last_static.elapsed() >= Duration::from_secs(1) {
                last_static = now;
                tf_static
                    .publish(&mounts(&child_frame_id))
                    .context("publishing on /tf_static")?;
            }
            seq += 1;
            Ok(())
        })
        .on_reload(|reloaded| {
            match reloaded
                .map_err(|e| e.to_string())
                .and_then(|()| cmd_timeout(node).map_err(|e| e.to_string()))
            {
                Ok(t) => {
                    timeout.set(t);
                    println!("{}: params reloaded", node.name());
                }
                Err(e) => eprintln!("{}: reloading params: {e}", node.name()),
            }
        })
        .spin()?;
    let (x, y, yaw) = pose.get();
    println!("base: stopping at x={x:.2} y={y:.2} yaw={yaw:.2} after {seq} odometry messages");
    Ok(())
}

/// `a` wrapped to `(-π, π]`.
fn wrap(a: f64) -> f64 {
    use std::f64::consts::{PI, TAU};
    let w = a.rem_euclid(TAU);
    if w > PI {
        w - TAU
    } else {
        w
    }
}
