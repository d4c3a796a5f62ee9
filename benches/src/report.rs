//! Rounds of samples into HDR histograms, and the summary table.
//!
//! A row is measured in `rounds` rounds over one session. Each round warms up, then records
//! one-way samples (round trip / 2, nanoseconds) until it has `samples` of them or its time
//! budget is spent. The row reports percentiles of all rounds merged, and the spread of the
//! per-round medians (what a gate compares: medians, never tails).

use std::io::{self, Write};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::affinity::Placement;
use crate::{Mechanism, Payload, Session, Touch};

/// How much to measure per row.
#[derive(Clone, Copy, Debug)]
pub struct MeasureConfig {
    /// Rounds per row.
    pub rounds: usize,
    /// Round trips before each round's samples (not recorded).
    pub warmup: usize,
    /// Samples per round, at most.
    pub samples: usize,
    /// Time budget of one round (warm-up included); a round stops early when it is spent.
    pub round_budget: Duration,
}

impl MeasureConfig {
    /// Quick mode: the whole default `bench-gate` table in about a minute on 2 cores.
    pub fn quick() -> Self {
        Self {
            rounds: 5,
            warmup: 1_000,
            samples: 10_000,
            round_budget: Duration::from_millis(100),
        }
    }

    /// Full mode: ten times the samples.
    pub fn full() -> Self {
        Self {
            rounds: 5,
            warmup: 10_000,
            samples: 100_000,
            round_budget: Duration::from_secs(1),
        }
    }
}

/// The measurement of one (mechanism, payload).
#[derive(Debug)]
pub struct RowResult {
    /// Mechanism id.
    pub mechanism: &'static str,
    /// Whether the mechanism sleeps while waiting.
    pub sleeps: bool,
    /// What was sent.
    pub payload: Payload,
    /// One-way latencies of all rounds, in nanoseconds.
    pub hist: Histogram<u64>,
    /// Median of each round, in nanoseconds.
    pub round_medians: Vec<u64>,
    /// Where the two sides ran.
    pub placement: Placement,
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid histogram bounds")
}

/// Starts a session for `mechanism`/`payload`, measures it as `cfg` says, and stops it.
pub fn measure(
    mechanism: &dyn Mechanism,
    payload: Payload,
    opts: crate::SessionOptions,
    cfg: &MeasureConfig,
) -> anyhow::Result<RowResult> {
    let mut session = Session::start(mechanism, payload, opts)?;
    let mut hist = new_hist();
    let mut round_medians = Vec::with_capacity(cfg.rounds);
    for _ in 0..cfg.rounds {
        let t0 = Instant::now();
        for _ in 0..cfg.warmup {
            session.round_trip()?;
            if t0.elapsed() > cfg.round_budget / 4 {
                break;
            }
        }
        let mut round = new_hist();
        // At least a few samples even when one round trip exceeds the budget.
        while (round.len() as usize) < cfg.samples
            && (round.len() < 5 || t0.elapsed() < cfg.round_budget)
        {
            let rtt = session.round_trip()?;
            round.saturating_record((rtt.as_nanos() as u64 / 2).max(1));
        }
        round_medians.push(round.value_at_quantile(0.5));
        hist.add(&round).expect("same bounds");
    }
    let placement = session.placement();
    session.finish()?;
    Ok(RowResult {
        mechanism: mechanism.id(),
        sleeps: mechanism.sleeps(),
        payload,
        hist,
        round_medians,
        placement,
    })
}

fn us(ns: u64) -> String {
    let us = ns as f64 / 1000.0;
    if us < 10.0 {
        format!("{us:.3}")
    } else if us < 1000.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}

fn ratio(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

impl RowResult {
    /// Median of all samples, in nanoseconds.
    pub fn p50(&self) -> u64 {
        self.hist.value_at_quantile(0.5)
    }
}

/// The floor a row is compared with: the spin floor for mechanisms that spin, the semaphore
/// floor for semaphore mechanisms, the futex floor for the others that sleep; same payload.
pub fn floor_of<'a>(row: &RowResult, rows: &'a [RowResult]) -> Option<&'a RowResult> {
    let floor = if row.mechanism.ends_with("/sem") {
        "floor/sem"
    } else if row.sleeps {
        "floor/futex"
    } else {
        "floor/spin"
    };
    let same = |r: &&RowResult| r.mechanism == floor && r.payload == row.payload;
    rows.iter().find(same).or_else(|| {
        // A floor measured only at 8 B still serves as the notification floor.
        rows.iter()
            .find(|r| r.mechanism == floor && r.payload.size == crate::HEADER_LEN)
    })
}

/// Prints the table of `rows`.
pub fn print_table(out: &mut impl Write, rows: &[RowResult]) -> io::Result<()> {
    writeln!(
        out,
        "{:<18} {:>12} {:>9} {:>9} {:>9} {:>9} {:>8} {:>6} {:>19} {:>14}",
        "mechanism",
        "payload",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "max us",
        "samples",
        "rounds",
        "round p50 min..max",
        "p50 / floor"
    )?;
    for r in rows {
        let min = r.round_medians.iter().copied().min().unwrap_or(0);
        let max = r.round_medians.iter().copied().max().unwrap_or(0);
        let ratio = match floor_of(r, rows) {
            Some(f) if f.p50() > 0 => format!(
                "{}x {}",
                ratio(r.p50() as f64 / f.p50() as f64),
                f.mechanism.trim_start_matches("floor/")
            ),
            _ => "-".into(),
        };
        let payload = match (r.payload.size, r.payload.touch) {
            (crate::HEADER_LEN, _) => crate::format_size(r.payload.size),
            (_, Touch::Header) => format!("{} hdr", crate::format_size(r.payload.size)),
            (_, Touch::All) => format!("{} all", crate::format_size(r.payload.size)),
        };
        writeln!(
            out,
            "{:<18} {:>12} {:>9} {:>9} {:>9} {:>9} {:>8} {:>6} {:>19} {:>14}",
            r.mechanism,
            payload,
            us(r.p50()),
            us(r.hist.value_at_quantile(0.99)),
            us(r.hist.value_at_quantile(0.999)),
            us(r.hist.max()),
            r.hist.len(),
            r.round_medians.len(),
            format!("{}..{}", us(min), us(max)),
            ratio
        )?;
    }
    Ok(())
}
