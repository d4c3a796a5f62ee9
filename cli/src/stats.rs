//! Rate and bandwidth over a window of received samples.
//!
//! Times are the publisher's send stamps (`SampleInfo::sent_ns`), not when
//! this tool happened to read the sample, so the tool's own scheduling does
//! not show in the result. Counts come from sequence numbers: a sample this
//! best-effort reader lost (it fell behind) still counts as published, so
//! the rate stays right when the reader cannot keep up (large messages,
//! high rates); bandwidth is the mean size of the samples seen times that
//! rate.

use std::collections::VecDeque;

/// One received sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Obs {
    /// Publisher lane.
    pub lane: usize,
    /// Sequence number in the lane.
    pub seq: u64,
    /// Publisher's send time, ns.
    pub sent_ns: u64,
    /// Payload bytes.
    pub bytes: usize,
}

/// The last `cap` samples.
#[derive(Debug)]
pub struct Window {
    cap: usize,
    obs: VecDeque<Obs>,
}

/// What a window shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Samples published per second (all publishers).
    pub rate_hz: f64,
    /// Periods between consecutive samples: mean, min, max, standard deviation (s).
    pub mean_period_s: f64,
    /// Shortest period.
    pub min_period_s: f64,
    /// Longest period.
    pub max_period_s: f64,
    /// Standard deviation of the period.
    pub std_dev_s: f64,
    /// Samples in the window.
    pub samples: usize,
    /// Samples published in the window's span that this reader did not get.
    pub lost: u64,
    /// Bytes per second.
    pub bytes_per_s: f64,
    /// Mean, smallest and largest sample size in the window.
    pub mean_bytes: f64,
    /// Smallest sample.
    pub min_bytes: usize,
    /// Largest sample.
    pub max_bytes: usize,
}

impl Window {
    /// A window of the last `cap` samples (at least 2).
    pub fn new(cap: usize) -> Self {
        Window {
            cap: cap.max(2),
            obs: VecDeque::new(),
        }
    }

    /// Adds a sample, forgetting the oldest if full.
    pub fn push(&mut self, o: Obs) {
        if self.obs.len() == self.cap {
            self.obs.pop_front();
        }
        self.obs.push_back(o);
    }

    /// The statistics, once there are two samples of one lane.
    pub fn report(&self) -> Option<Report> {
        let lanes: std::collections::BTreeSet<usize> = self.obs.iter().map(|o| o.lane).collect();
        let mut rate_hz = 0.0;
        let mut published = 0u64;
        for lane in lanes {
            let first = self.obs.iter().find(|o| o.lane == lane)?;
            let last = self.obs.iter().rfind(|o| o.lane == lane)?;
            let span = last.sent_ns.saturating_sub(first.sent_ns);
            let count = last.seq.saturating_sub(first.seq);
            if span > 0 && count > 0 {
                rate_hz += count as f64 / (span as f64 * 1e-9);
                published += count + 1;
            }
        }
        if rate_hz == 0.0 {
            return None;
        }
        // Periods between consecutive samples of the merged stream, skipping
        // a pair of one lane with a gap (a loss in between).
        let mut periods = Vec::with_capacity(self.obs.len());
        for (a, b) in self.obs.iter().zip(self.obs.iter().skip(1)) {
            if a.lane == b.lane && b.seq != a.seq + 1 {
                continue;
            }
            if b.sent_ns >= a.sent_ns {
                periods.push((b.sent_ns - a.sent_ns) as f64 * 1e-9);
            }
        }
        let n = periods.len().max(1) as f64;
        let mean = periods.iter().sum::<f64>() / n;
        let var = periods.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / n;
        let sizes = self.obs.iter().map(|o| o.bytes);
        let mean_bytes = sizes.clone().sum::<usize>() as f64 / self.obs.len() as f64;
        Some(Report {
            rate_hz,
            mean_period_s: mean,
            min_period_s: periods.iter().copied().fold(f64::INFINITY, f64::min),
            max_period_s: periods.iter().copied().fold(0.0, f64::max),
            std_dev_s: var.sqrt(),
            samples: self.obs.len(),
            lost: published.saturating_sub(self.obs.len() as u64),
            bytes_per_s: mean_bytes * rate_hz,
            mean_bytes,
            min_bytes: sizes.clone().min().unwrap_or(0),
            max_bytes: sizes.max().unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(lane: usize, seq: u64, ms: f64, bytes: usize) -> Obs {
        Obs {
            lane,
            seq,
            sent_ns: (ms * 1e6) as u64,
            bytes,
        }
    }

    #[test]
    fn a_steady_publisher() {
        let mut w = Window::new(100);
        assert!(w.report().is_none());
        for i in 0..10 {
            w.push(obs(0, i + 1, i as f64 * 5.0, 1000));
        }
        let r = w.report().unwrap();
        assert!((r.rate_hz - 200.0).abs() < 1e-6, "{r:?}");
        assert!((r.mean_period_s - 0.005).abs() < 1e-9);
        assert!(r.std_dev_s < 1e-9);
        assert_eq!(r.lost, 0);
        assert!((r.bytes_per_s - 200_000.0).abs() < 1e-3);
    }

    #[test]
    fn losses_do_not_lower_the_rate() {
        let mut w = Window::new(100);
        // Published every 10 ms, the reader saw every third sample.
        for i in (0..30).step_by(3) {
            w.push(obs(0, i + 1, i as f64 * 10.0, 8 << 20));
        }
        let r = w.report().unwrap();
        assert!((r.rate_hz - 100.0).abs() < 1e-6, "{r:?}");
        assert_eq!(r.lost, 18);
        assert!((r.bytes_per_s - 100.0 * (8 << 20) as f64).abs() < 1.0);
    }

    #[test]
    fn two_publishers_add_up_and_the_window_slides() {
        let mut w = Window::new(4);
        for i in 0..10u64 {
            w.push(obs(0, i + 1, i as f64 * 10.0, 10));
            w.push(obs(1, i + 1, i as f64 * 10.0 + 5.0, 30));
        }
        let r = w.report().unwrap();
        assert_eq!(r.samples, 4);
        assert!((r.rate_hz - 200.0).abs() < 1e-6, "{r:?}");
        assert!((r.mean_period_s - 0.005).abs() < 1e-9);
        assert_eq!((r.min_bytes, r.max_bytes), (10, 30));
    }
}
