//! `bench-throughput`: one-way message throughput of axon between processes (8 B lossy and
//! lossless, 1 MiB lossless, fan-out to 1/2/4/8 subscribers), beside iceoryx2's 8 B rows from
//! the same run, printed as one table. Method: `axon_benches::throughput`.
//!
//! ```text
//! cargo run --release -p axon-benches --bin bench-throughput -- [--quick] [--secs S]
//!     [--runs N] [--filter SUBSTR]... [--fanout-wait futex|adaptive|poll] [--no-iceoryx2]
//!     [--pin auto|same|off]
//! ```
//!
//! Exits 1 when a row failed or a lossless row lost, reordered or corrupted a message (the
//! other rows are still measured and printed), 2 on a usage error.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use axon_benches::affinity::Pinning;
use axon_benches::throughput::{
    self, default_rows, describe_placement, median, run_once, Delivery, Row, RunOptions, RunResult,
    Wait,
};

const USAGE: &str = "bench-throughput [--quick] [--secs S] [--runs N] [--filter SUBSTR]... \
                     [--fanout-wait futex|adaptive|poll] [--no-iceoryx2] [--pin auto|same|off]";

struct Args {
    opts: RunOptions,
    runs: usize,
    filters: Vec<String>,
    fanout_wait: Wait,
    iceoryx2: bool,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = Args {
        opts: RunOptions::default(),
        runs: 3,
        filters: vec![],
        fanout_wait: Wait::Futex,
        iceoryx2: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => {}
            "--secs" => {
                let s: f64 = value()?.parse().context("--secs")?;
                anyhow::ensure!(s > 0.0 && s < 3600.0, "--secs must be in (0, 3600)");
                args.opts.duration = Duration::from_secs_f64(s);
            }
            "--runs" => {
                args.runs = value()?.parse().context("--runs")?;
                anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
            }
            "--filter" => args.filters.push(value()?),
            "--fanout-wait" => {
                let v = value()?;
                args.fanout_wait = Wait::parse(&v)
                    .with_context(|| format!("--fanout-wait futex|adaptive|poll, not {v}"))?;
            }
            "--no-iceoryx2" => args.iceoryx2 = false,
            "--pin" => {
                args.opts.pinning = match value()?.as_str() {
                    "auto" => Pinning::Auto,
                    "same" => Pinning::SameCpu,
                    "off" => Pinning::Off,
                    v => bail!("--pin auto|same|off, not {v}"),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                println!(
                    "  --quick      the default: 3 runs x 0.3 s per row (~15 s in all)\n  \
                     --secs S     seconds of publishing per run\n  \
                     --runs N     runs per row (median and min..max are printed)\n  \
                     --filter S   only rows whose 'transport row' label contains S\n  \
                     --fanout-wait  how fan-out subscribers wait (default futex)\n  \
                     --no-iceoryx2  skip iceoryx2's rows\n  \
                     --pin        auto = publisher on the first CPU, subscribers on the others"
                );
                return Ok(None);
            }
            _ => bail!("unknown argument {a}\n{USAGE}"),
        }
    }
    Ok(Some(args))
}

fn label(row: &Row) -> String {
    format!("{} {}", row.transport.as_str(), row.name)
}

/// `5.23 M`, `812 k`.
fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.0} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn spread(values: &[f64], fmt: impl Fn(f64) -> String) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.len() < 2 {
        fmt(median(values.to_vec()))
    } else {
        format!(
            "{} ({}..{})",
            fmt(median(values.to_vec())),
            fmt(min),
            fmt(max)
        )
    }
}

struct Outcome {
    row: Row,
    runs: Vec<RunResult>,
    error: Option<String>,
}

fn table_line(o: &Outcome) -> String {
    let row = &o.row;
    let head = format!(
        "| {} | {} | {} | {} | {} |",
        row.transport.as_str(),
        row.name,
        row.subscribers,
        row.wait.as_str(),
        row.history
    );
    if o.runs.is_empty() {
        return format!(
            "{head} FAILED: {} | | | | |",
            o.error.as_deref().unwrap_or("")
        );
    }
    let col = |f: fn(&RunResult) -> f64| -> Vec<f64> { o.runs.iter().map(f).collect() };
    let sent = spread(&col(RunResult::sent_rate), fmt_rate);
    let per_sub = spread(&col(RunResult::per_sub_rate), fmt_rate);
    let total = fmt_rate(median(col(RunResult::total_rate)));
    let loss = match row.delivery {
        Delivery::Lossy => format!("{:.1} %", 100.0 * median(col(RunResult::loss))),
        Delivery::Lossless => match o.error {
            None => "0 (checked)".to_string(),
            Some(_) => "LOST".to_string(),
        },
    };
    let gbs = if row.size > axon_benches::HEADER_LEN {
        let size = row.size as f64;
        spread(
            &o.runs
                .iter()
                .map(|r| r.per_sub_rate() * size / 1e9)
                .collect::<Vec<_>>(),
            |g| format!("{g:.2}"),
        )
    } else {
        String::new()
    };
    let mut line = format!("{head} {sent} | {per_sub} | {total} | {loss} | {gbs} |");
    if let Some(e) = &o.error {
        let _ = write!(line, " {e}");
    }
    line
}

fn measure(row: &Row, args: &Args) -> Outcome {
    let mut out = Outcome {
        row: row.clone(),
        runs: vec![],
        error: None,
    };
    for _ in 0..args.runs {
        match run_once(row, &args.opts) {
            Ok(r) => {
                let violation = match row.delivery {
                    Delivery::Lossless => r.lossless_violation(),
                    Delivery::Lossy => r.integrity_violation(),
                };
                out.runs.push(r);
                if let Some(v) = violation {
                    out.error = Some(format!("VIOLATION: {v}"));
                    break;
                }
            }
            Err(e) => {
                out.error = Some(format!("{e:#}"));
                break;
            }
        }
    }
    out
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn run(args: &Args) -> anyhow::Result<bool> {
    let rows: Vec<Row> = default_rows(args.fanout_wait, args.iceoryx2)
        .into_iter()
        .filter(|r| args.filters.is_empty() || args.filters.iter().any(|f| label(r).contains(f)))
        .collect();
    anyhow::ensure!(!rows.is_empty(), "no row matches the filters");
    let started = Instant::now();
    let load_before = load_average();
    let mut outcomes = vec![];
    for row in &rows {
        eprint!("{} ... ", label(row));
        let o = measure(row, args);
        eprintln!("{}", if o.error.is_some() { "FAILED" } else { "ok" });
        outcomes.push(o);
    }
    let mut s = String::new();
    writeln!(
        s,
        "axon throughput, {} run(s) x {:.2} s per row; {}; {} CPUs; load average {} (before) / {} \
         (after); {:.1} s in all",
        args.runs,
        args.opts.duration.as_secs_f64(),
        describe_placement(args.opts.pinning),
        axon_benches::affinity::available_cpus().len(),
        load_before,
        load_average(),
        started.elapsed().as_secs_f64()
    )?;
    writeln!(
        s,
        "msgs/s: median of the runs (min..max); sent = publisher, recv = per subscriber \
         (median of subscribers), total = sum over subscribers; lossless loss is checked per \
         sequence number; GB/s = bytes received and read per second per subscriber"
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "| transport | row | subs | wait | history | sent msgs/s | recv msgs/s per sub | recv total | loss | GB/s |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|---|---|")?;
    for o in &outcomes {
        writeln!(s, "{}", table_line(o))?;
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(s.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(outcomes.iter().all(|o| o.error.is_none()))
}

fn main() -> ExitCode {
    throughput::run_child_if_requested();
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-throughput: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bench-throughput: {e:#}");
            ExitCode::from(1)
        }
    }
}
