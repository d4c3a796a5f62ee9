//! `demo-scan-worker`: one of the workers the detector fans scan
//! processing out to through the work queue `scan_jobs` (each scan goes to
//! one worker; a worker that dies has its scan redelivered to another). For
//! each scan it measures the free space around the robot (the share of
//! beams with no return nearer than `clear`, 2 m by default) and prints a
//! summary every 50 scans. Each job is acknowledged when its callback
//! returns (`Executor::on_job`).
//!
//! Params: `beams` (360, as the detector's), `clear` (2.0 m). Read at start.

use std::process::ExitCode;

use anyhow::Context as _;
use axon::Node;
use axon_msgs::LaserScan;

fn main() -> ExitCode {
    axon::run("scan_worker", scan_worker)
}

fn scan_worker(node: &Node) -> anyhow::Result<()> {
    let beams: usize = node.param_or("beams", 360)?;
    let clear: f32 = node.param_or("clear", 2.0)?;
    let jobs = node
        .queue_worker::<LaserScan>("scan_jobs")
        .max_len(beams)
        .capacity(16)
        .create()
        .context("worker on scan_jobs")?;
    println!("{}: worker on {}", node.name(), jobs.name());
    let (mut done, mut again, mut free_sum) = (0u64, 0u64, 0.0f64);
    node.executor()
        .on_job(&jobs, |scan| {
            let n = scan.ranges().len().max(1);
            let free = scan.ranges().iter().filter(|r| r.partial_cmp(&&clear) != Some(std::cmp::Ordering::Less)).count();
            free_sum += free as f64 / n as f64;
            done += 1;
            again += scan.redelivered() as u64;
            if done % 50 == 0 {
                println!(
                    "{}: {done} scans, {:.0}% free within {clear} m on average, {again} redelivered",
                    node.name(),
                    100.0 * free_sum / done as f64
                );
            }
        })
        .spin()?;
    println!("{}: stopping after {done} scans", node.name());
    Ok(())
}
