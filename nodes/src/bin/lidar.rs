//! `demo-lidar`: a simulated planar lidar at the centre of a room
//! (`axon_nodes::sim::Room`) with an obstacle moving across it. Publishes
//! `LaserScan` on `scan`, loaned with `loan_slice` and filled in place.
//!
//! Params: `rate` (Hz, 10), `beams` (360), `range_min` (0.1 m),
//! `range_max` (12 m), `noise` (0.01 m, uniform amplitude), `frame_id`
//! ("laser").

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use axon_msgs::{Header, LaserScan};
use axon_nodes::sim::{Noise, Room};
use axon_nodes::{Ctx, Rate};

fn main() -> ExitCode {
    axon_nodes::run("lidar", lidar)
}

fn lidar(ctx: Ctx) -> anyhow::Result<()> {
    let node = &ctx.node;
    let hz = ctx.hz("rate", 10.0)?;
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
    println!("lidar: {beams} beams at {hz} Hz on {}", publisher.topic());
    let room = Room::default();
    let mut noise = Noise::new(0x5CA9);
    let increment = std::f32::consts::TAU / beams as f32;
    let start = Instant::now();
    let mut rate = Rate::new(hz);
    let mut seq = 0u64;
    while ctx.sleep(&mut rate) {
        let mut scan = match publisher.loan_slice(beams) {
            Ok(scan) => scan,
            Err(e) => {
                eprintln!("lidar: scan {seq} skipped: {e}");
                continue;
            }
        };
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
            let d = room.raycast((0.0, 0.0), angle, obstacle) + noise_amp * noise.uniform();
            *r = if (d as f32) > range_max {
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
    }
    println!("lidar: stopping after {seq} scans");
    Ok(())
}
