//! `demo-base`: a simulated differential-drive base. Subscribes to `Twist`
//! on `cmd_vel`; a timer integrates the newest command (forward speed and
//! yaw rate, in the body frame) into a pose and publishes `Odometry` on
//! `odom`. A command older than `cmd_timeout` counts as zero (the base
//! stops when its controller goes away).
//!
//! Params: `rate` (Hz, 50), `cmd_timeout` (0.5 s), `frame_id` ("odom"),
//! `child_frame_id` ("base_link").

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axon_msgs::{FrameId, Header, Odometry, Quaternion, Twist};
use axon_nodes::{Ctx, Timer};

fn main() -> ExitCode {
    axon_nodes::run("base", base)
}

fn base(ctx: Ctx) -> anyhow::Result<()> {
    let node = &ctx.node;
    let hz = ctx.hz("rate", 50.0)?;
    let cmd_timeout = Duration::from_secs_f64(node.param_or("cmd_timeout", 0.5)?);
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
    println!(
        "base: {} -> {} at {hz} Hz",
        commands.topic(),
        publisher.topic()
    );
    let mut cmd: Option<(Instant, Twist)> = None;
    let (mut x, mut y, mut yaw) = (0.0f64, 0.0f64, 0.0f64);
    let mut timer = Timer::hz(hz);
    let mut last = Instant::now();
    let mut seq = 0u64;
    while ctx.running() {
        if let Some(twist) = ctx.recv_until(&commands, Some(timer.deadline()))? {
            cmd = Some((Instant::now(), *twist));
        }
        if timer.due() {
            let now = Instant::now();
            let dt = (now - last).as_secs_f64();
            last = now;
            let twist = cmd
                .filter(|(at, _)| now - *at < cmd_timeout)
                .map(|(_, t)| t)
                .unwrap_or_default();
            let (v, w) = (twist.linear.x, twist.angular.z);
            // Midpoint heading: exact for constant v and w to second order.
            let mid = yaw + 0.5 * w * dt;
            x += v * dt * mid.cos();
            y += v * dt * mid.sin();
            yaw = wrap(yaw + w * dt);
            let mut odom = publisher.loan()?;
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
            odom.send();
            seq += 1;
        }
    }
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
