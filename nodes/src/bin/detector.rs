//! `demo-detector`: finds the nearest obstacle in each scan. Subscribes to
//! `LaserScan` on `scan`; publishes `PoseStamped` on `obstacle`: the
//! nearest valid return, in the scan's frame and with the scan's stamp (so
//! a consumer sees how old the measurement is), facing away from the sensor.
//! A scan with no valid return publishes nothing.
//!
//! Each scan is also queued as a job on the work queue `scan_jobs` for the
//! `demo-scan-worker`s (each scan to one of them; 16 slots, a time to live
//! of one second: a scan nobody took by then is stale and dropped). When
//! the queue is full (no worker running) the scan is not queued and counted.
//!
//! One executor callback per scan; the publisher is captured by reference,
//! and a failed publish ends the node with that error (the callback returns
//! a `Result`).
//!
//! Params: `beams` (360: the most beams a scan may have; a subscriber
//! needs no more room than the topic was created with). Read at start.

use std::process::ExitCode;

use anyhow::Context as _;
use axon::zerocopy::IntoBytes as _;
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
    let jobs = node
        .queue_producer::<LaserScan>("scan_jobs")
        .max_len(beams)
        .capacity(16)
        .ttl(std::time::Duration::from_secs(1))
        .create()
        .context("producer on scan_jobs")?;
    println!(
        "detector: {} -> {}, {}",
        scans.topic(),
        publisher.topic(),
        jobs.name()
    );
    let (mut detections, mut unqueued) = (0u64, 0u64);
    node.on(&scans, |scan| -> anyhow::Result<()> {
        // Fan the scan out to a worker: copied once into the job's slot.
        match jobs.loan_slice(scan.ranges().len()) {
            Ok(mut job) => {
                job.as_mut_bytes().copy_from_slice(scan.as_bytes());
                job.send().context("queueing on scan_jobs")?;
            }
            Err(axon::SendError::Full { .. }) => unqueued += 1,
            Err(e) => return Err(e).context("queueing on scan_jobs"),
        }
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
    println!(
        "detector: stopping after {detections} detections ({unqueued} scans not queued: no room)"
    );
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
