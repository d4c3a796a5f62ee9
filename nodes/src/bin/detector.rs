//! `demo-detector`: finds the nearest obstacle in each scan. Subscribes to
//! `LaserScan` on `scan`; publishes `PoseStamped` on `obstacle`: the
//! nearest valid return, in the scan's frame and with the scan's stamp (so
//! a consumer sees how old the measurement is), facing away from the sensor.
//! A scan with no valid return publishes nothing.
//!
//! One executor callback per scan; the publisher is captured by reference,
//! and a failed publish ends the node with that error (the callback returns
//! a `Result`).
//!
//! Params: `beams` (360: the most beams a scan may have; a subscriber
//! needs no more room than the topic was created with). Read at start.

use std::process::ExitCode;

use anyhow::Context as _;
use axon::Node;
use axon_msgs::{LaserScan, Point, Pose, PoseStamped, Quaternion};

fn main() -> ExitCode {
    axon::run("detector", detector)
}

fn detector(node: &Node) -> anyhow::Result<()> {
    let beams: usize = node.param_or("beams", 360)?;
    let scans = node
        .subscriber::<LaserScan>("scan")
        .max_len(beams)
        .create()
        .context("subscriber on scan")?;
    let publisher = node
        .publisher::<PoseStamped>("obstacle")
        .create()
        .context("publisher on obstacle")?;
    println!("detector: {} -> {}", scans.topic(), publisher.topic());
    let mut detections = 0u64;
    node.on(&scans, |scan| -> anyhow::Result<()> {
        let Some(nearest) = nearest(&scan) else {
            return Ok(());
        };
        let mut header = scan.header();
        header.seq = detections;
        drop(scan); // hand the slot back before publishing
        publisher
            .publish(&PoseStamped {
                header,
                pose: nearest,
            })
            .context("publishing on obstacle")?;
        detections += 1;
        Ok(())
    })
    .on_reload(|reloaded| match reloaded {
        Ok(()) => println!("{}: params reloaded", node.name()),
        Err(e) => eprintln!("{}: reloading params: {e}", node.name()),
    })
    .spin()?;
    println!("detector: stopping after {detections} detections");
    Ok(())
}

/// The nearest valid return of `scan` as a pose (position of the hit,
/// orientation along the beam).
fn nearest(scan: &LaserScan) -> Option<Pose> {
    let (angle, range) = scan.valid_points().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let (angle, range) = (angle as f64, range as f64);
    Some(Pose {
        position: Point {
            x: range * angle.cos(),
            y: range * angle.sin(),
            z: 0.0,
        },
        orientation: Quaternion::from_yaw(angle),
    })
}
