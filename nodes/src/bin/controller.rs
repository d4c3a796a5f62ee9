//! `demo-controller`: drives the base away from obstacles. Subscribes to
//! `Imu` on `imu` and `PoseStamped` on `obstacle`; a timer publishes
//! `Twist` on `cmd_vel`.
//!
//! The law: cruise forward, slowing linearly from `slow_distance` to a stop
//! at `stop_distance` when the nearest obstacle is ahead (within ±90°);
//! when it is within ±60° ahead and nearer than `slow_distance`, turn away
//! at `turn_rate`. The IMU's yaw rate closes the loop on the turn. With no
//! detection for `stale_after` seconds the base is told to stop.
//!
//! Params: `rate` (Hz, 50), `cruise` (0.5 m/s), `turn_rate` (0.8 rad/s),
//! `slow_distance` (1.5 m), `stop_distance` (0.5 m), `yaw_gain` (0.5),
//! `stale_after` (0.5 s).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axon_msgs::{Imu, PoseStamped, Twist, Vector3};
use axon_nodes::{Ctx, Timer};

fn main() -> ExitCode {
    axon_nodes::run("controller", controller)
}

/// The controller's settings (the params).
#[derive(Debug, Clone, Copy)]
struct Gains {
    cruise: f64,
    turn_rate: f64,
    slow_distance: f64,
    stop_distance: f64,
    yaw_gain: f64,
}

fn controller(ctx: Ctx) -> anyhow::Result<()> {
    let node = &ctx.node;
    let hz = ctx.hz("rate", 50.0)?;
    let gains = Gains {
        cruise: node.param_or("cruise", 0.5)?,
        turn_rate: node.param_or("turn_rate", 0.8)?,
        slow_distance: node.param_or("slow_distance", 1.5)?,
        stop_distance: node.param_or("stop_distance", 0.5)?,
        yaw_gain: node.param_or("yaw_gain", 0.5)?,
    };
    anyhow::ensure!(
        gains.slow_distance > gains.stop_distance,
        "slow_distance must exceed stop_distance"
    );
    let stale_after = Duration::from_secs_f64(node.param_or("stale_after", 0.5)?);
    let imu = node
        .subscriber::<Imu>("imu")
        .history(16)
        .create()
        .context("subscriber on imu")?;
    let obstacles = node
        .subscriber::<PoseStamped>("obstacle")
        .create()
        .context("subscriber on obstacle")?;
    let publisher = node
        .publisher::<Twist>("cmd_vel")
        .create()
        .context("publisher on cmd_vel")?;
    println!(
        "controller: {} + {} -> {} at {hz} Hz",
        imu.topic(),
        obstacles.topic(),
        publisher.topic()
    );
    let mut yaw_rate = 0.0;
    let mut obstacle: Option<(Instant, f64, f64)> = None; // (received, distance, bearing)
    let mut timer = Timer::hz(hz);
    let mut sent = 0u64;
    while ctx.running() {
        // Block on the busiest input (200 Hz) until the timer is due; poll
        // the detections whenever we wake (no wait set yet).
        if let Some(sample) = ctx.recv_until(&imu, Some(timer.deadline()))? {
            yaw_rate = sample.angular_velocity.z;
        }
        if let Some(det) = obstacles.latest()? {
            let p = det.pose.position;
            obstacle = Some((Instant::now(), p.x.hypot(p.y), p.y.atan2(p.x)));
        }
        if timer.due() {
            let fresh = obstacle.filter(|(at, ..)| at.elapsed() < stale_after);
            let cmd = command(&gains, fresh.map(|(_, d, b)| (d, b)), yaw_rate);
            publisher.publish(&cmd)?;
            sent += 1;
        }
    }
    // Leave the base stopped.
    publisher.publish(&Twist::default())?;
    println!("controller: stopping after {sent} commands");
    Ok(())
}

/// The command for the nearest obstacle `(distance, bearing)` (`None`:
/// nothing known, stop) and the measured yaw rate.
fn command(g: &Gains, obstacle: Option<(f64, f64)>, yaw_rate: f64) -> Twist {
    let Some((distance, bearing)) = obstacle else {
        return Twist::default();
    };
    let ahead = bearing.abs() < std::f64::consts::FRAC_PI_2;
    let speed = if ahead {
        let s = (distance - g.stop_distance) / (g.slow_distance - g.stop_distance);
        g.cruise * s.clamp(0.0, 1.0)
    } else {
        g.cruise
    };
    let turn = if bearing.abs() < std::f64::consts::FRAC_PI_3 && distance < g.slow_distance {
        // Away from the obstacle: positive (left) when it is on the right.
        -g.turn_rate.copysign(bearing)
    } else {
        0.0
    };
    let angular = turn + g.yaw_gain * (turn - yaw_rate);
    Twist {
        linear: Vector3 {
            x: speed,
            y: 0.0,
            z: 0.0,
        },
        angular: Vector3 {
            x: 0.0,
            y: 0.0,
            z: angular.clamp(-2.0 * g.turn_rate, 2.0 * g.turn_rate),
        },
    }
}
