//! `demo-imu`: a simulated IMU. Publishes `Imu` on `imu`: gravity on z,
//! a slow yaw oscillation, and uniform noise.
//!
//! An executor timer at `rate` fills a loaned sample and sends it.
//!
//! Params: `rate` (Hz, 200), `noise` (0.02, uniform amplitude in rad/s and
//! m/s²), `frame_id` ("imu_link"). Read at start: a SIGHUP reload applies
//! them at the next start.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use axon::{Hz, Node};
use axon_msgs::{Header, Imu, Quaternion, Vector3};
use axon_nodes::sim::Noise;

const GRAVITY: f64 = 9.806_65;

fn main() -> ExitCode {
    axon::run("imu", imu)
}

fn imu(node: &Node) -> anyhow::Result<()> {
    let rate = node.param_or("rate", Hz::new(200.0))?;
    let amp: f64 = node.param_or("noise", 0.02)?;
    let frame_id: String = node.param_or("frame_id", "imu_link".to_string())?;
    let publisher = node
        .publisher::<Imu>("imu")
        .history(16)
        .create()
        .context("publisher on imu")?;
    println!("imu: {rate} on {}", publisher.topic());
    let mut noise = Noise::new(0x1A0);
    let start = Instant::now();
    let mut seq = 0u64;
    node.every(rate.period(), || {
        let t = start.elapsed().as_secs_f64();
        // Yaw oscillates ±0.3 rad with a 10 s period.
        let w = std::f64::consts::TAU / 10.0;
        let yaw = 0.3 * (w * t).sin();
        let yaw_rate = 0.3 * w * (w * t).cos();
        let mut imu = match publisher.loan() {
            Ok(imu) => imu,
            Err(e) => {
                eprintln!("imu: sample {seq} skipped: {e}");
                return;
            }
        };
        imu.orientation = Quaternion::from_yaw(yaw);
        imu.orientation_covariance = diagonal(1e-4);
        imu.angular_velocity = Vector3 {
            x: amp * noise.uniform(),
            y: amp * noise.uniform(),
            z: yaw_rate + amp * noise.uniform(),
        };
        imu.angular_velocity_covariance = diagonal(amp * amp / 3.0);
        imu.linear_acceleration = Vector3 {
            x: amp * noise.uniform(),
            y: amp * noise.uniform(),
            z: GRAVITY + amp * noise.uniform(),
        };
        imu.linear_acceleration_covariance = diagonal(amp * amp / 3.0);
        let mut header = Header::now(&frame_id);
        header.seq = seq;
        imu.header = header;
        imu.send();
        seq += 1;
    })
    .on_reload(|reloaded| match reloaded {
        Ok(()) => println!("{}: params reloaded", node.name()),
        Err(e) => eprintln!("{}: reloading params: {e}", node.name()),
    })
    .spin()?;
    println!("imu: stopping after {seq} samples");
    Ok(())
}

/// A 3x3 row-major covariance with `v` on the diagonal.
fn diagonal(v: f64) -> [f64; 9] {
    [v, 0.0, 0.0, 0.0, v, 0.0, 0.0, 0.0, v]
}
