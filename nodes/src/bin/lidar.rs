//! `demo-lidar`: a simulated planar lidar at the centre of a room
//! (`axon_nodes::sim::Room`) with an obstacle moving across it. Publishes
//! `LaserScan` on `scan`, loaned with `loan_slice` and filled in place.
//!
//! The lidar rides on the base: it casts its beams from the newest pose on
//! `odom` (the room's centre is the odom origin; before any odometry, from
//! there), so in the `laser` frame of the robot's frame tree the room's
//! walls stay still while the robot drives, and a viewer draws one
//! coherent scene. Angles are relative to the robot's heading, as a real
//! scanner's are.
//!
//! An executor timer at `rate` casts the beams and sends each scan.
//!
//! Params: `rate` (Hz, 10), `beams` (360), `range_min` (0.1 m),
//! `range_max` (12 m), `noise` (0.01 m, uniform amplitude), `frame_id`
//! ("laser"). Read at start: a SIGHUP reload applies them at the next start.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use axon::{Hz, Node};
use axon_msgs::{Header, LaserScan, Odometry};
use axon_nodes::sim::{Noise, Room};

fn main() -> ExitCode {
    axon::run("lidar", lidar)
}

fn lidar(node: &Node) -> anyhow::Result<()> {
    let rate = node.param_or("rate", Hz::new(10.0))?;
    let beams: usize = node.param_or("beams", 360)?;
    let range_min: f32 = node.param_or("range_min", 0.1)?;
    let range_max: f32 = node.param_or("range_max", 12.0)?;
    let noise_amp: f64 = node.param_or("noise", 0.01)?;
    let frame_id: String = node.param_or("frame_id", "laser".to_string())?;
    anyhow::ensure!(beams > 0, "beams must be positive");
    let publisher = node
        .publisher::<LaserScan>("scan")
        .max_len(beams)
        .create()
        .context("publisher on scan")?;
    let odom = node
        .subscriber::<Odometry>("odom")
        .create()
        .context("subscriber on odom")?;
    println!("lidar: {beams} beams at {rate} on {}", publisher.topic());
    let mut pose = (0.0f64, 0.0f64, 0.0f64);
    let room = Room::default();
    let mut noise = Noise::new(0x5CA9);
    let increment = std::f32::consts::TAU / beams as f32;
    let start = Instant::now();
    let mut seq = 0u64;
    node.every(rate.period(), || {
        let mut scan = match publisher.loan_slice(beams) {
            Ok(scan) => scan,
            Err(e) => {
                eprintln!("lidar: scan {seq} skipped: {e}");
                return;
            }
        };
        match odom.latest() {
            Ok(Some(o)) => {
                let p = o.pose.pose;
                let q = p.orientation;
                let yaw =
                    (2.0 * (q.w * q.z + q.x * q.y)).atan2(1.0 - 2.0 * (q.y * q.y + q.z * q.z));
                pose = (p.position.x, p.position.y, yaw);
            }
            Ok(None) => {}
            Err(e) => eprintln!("lidar: reading odom: {e}"),
        }
        let obstacle = room.obstacle_at(start.elapsed().as_secs_f64());
        scan.angle_min = -std::f32::consts::PI;
        scan.angle_increment = increment;
        scan.angle_max = scan.angle_min + increment * (beams - 1) as f32;
        scan.time_increment = 0.0;
        scan.scan_time = rate.period().as_secs_f32();
        (scan.range_min, scan.range_max) = (range_min, range_max);
        let angle_min = scan.angle_min as f64;
        for (i, r) in scan.ranges.iter_mut().enumerate() {
            let angle = angle_min + i as f64 * increment as f64;
            let d = room.raycast((pose.0, pose.1), pose.2 + angle, obstacle)
                + noise_amp * noise.uniform();
            *r = if !(0.0..=range_max).contains(&(d as f32)) {
                f32::INFINITY
            } else {
                d as f32
            };
        }
        let mut header = Header::now(&frame_id);
        header.seq = seq;
        scan.header = header;
        scan.send();
        seq += 1;
    })
    .on_reload(|reloaded| match reloaded {
        Ok(()) => println!("{}: params reloaded", node.name()),
        Err(e) => eprintln!("{}: reloading params: {e}", node.name()),
    })
    .spin()?;
    println!("lidar: stopping after {seq} scans");
    Ok(())
}
