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
//! It waits on several inputs in a loop of its own: one wait set over both
//! subscribers, the control timer and the shutdown request. Each wake-up
//! takes the newest IMU sample and detection (`latest`), and a timer firing
//! publishes a command. After the loop it tells the base to stop.
//!
//! Params: `rate` (Hz, 50), `cruise` (0.5 m/s), `turn_rate` (0.8 rad/s),
//! `slow_distance` (1.5 m), `stop_distance` (0.5 m), `yaw_gain` (0.5),
//! `stale_after` (0.5 s). On SIGHUP (`launch` rewrote the params) all but
//! `rate` are read again; a bad new value keeps the old settings.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axon::{Hz, Node, Seconds};
use axon_msgs::{Imu, PoseStamped, Twist, Vector3};

fn main() -> ExitCode {
    axon::run("controller", controller)
}

/// The controller's settings (the params), read at start and on SIGHUP.
#[derive(Debug, Clone, Copy)]
struct Gains {
    cruise: f64,
    turn_rate: f64,
    slow_distance: f64,
    stop_distance: f64,
    yaw_gain: f64,
    stale_after: Duration,
}

impl Gains {
    fn read(node: &Node) -> anyhow::Result<Gains> {
        let gains = Gains {
            cruise: node.param_or("cruise", 0.5)?,
            turn_rate: node.param_or("turn_rate", 0.8)?,
            slow_distance: node.param_or("slow_distance", 1.5)?,
            stop_distance: node.param_or("stop_distance", 0.5)?,
            yaw_gain: node.param_or("yaw_gain", 0.5)?,
            stale_after: node.param_or("stale_after", Seconds::new(0.5))?.duration(),
        };
        anyhow::ensure!(
            gains.slow_distance > gains.stop_distance,
            "slow_distance must exceed stop_distance"
        );
        Ok(gains)
    }
}

fn controller(node: &Node) -> anyhow::Result<()> {
    let rate = node.param_or("rate", Hz::new(50.0))?;
    let mut gains = Gains::read(node)?;
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
        "controller: {} + {} -> {} at {rate}",
        imu.topic(),
        obstacles.topic(),
        publisher.topic()
    );
    let mut set = node.wait_set()?;
    let imu_ready = set.subscriber(&imu)?;
    let obstacle_ready = set.subscriber(&obstacles)?;
    let tick = set.interval(rate.period())?;
    let mut yaw_rate = 0.0;
    let mut obstacle: Option<(Instant, f64, f64)> = None; // (received, distance, bearing)
    let mut sent = 0u64;
    loop {
        let ready = set.wait()?;
        if ready.shutdown() {
            break;
        }
        if ready.reload() {
            match node
                .reload_params()
                .map_err(anyhow::Error::from)
                .and_then(|()| Gains::read(node))
            {
                Ok(new) => {
                    gains = new;
                    println!("{}: params reloaded", node.name());
                }
                Err(e) => eprintln!("{}: reloading params: {e:#}", node.name()),
            }
        }
        if ready.contains(imu_ready) {
            if let Some(sample) = imu.latest()? {
                yaw_rate = sample.angular_velocity.z;
            }
        }
        if ready.contains(obstacle_ready) {
            if let Some(det) = obstacles.latest()? {
                let p = det.pose.position;
                obstacle = Some((Instant::now(), p.x.hypot(p.y), p.y.atan2(p.x)));
            }
        }
        if ready.contains(tick) {
            let fresh = obstacle.filter(|(at, ..)| at.elapsed() < gains.stale_after);
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
