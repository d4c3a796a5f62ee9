//! `bench-gate`: one run measuring the physical floors, iceoryx2 and axon, printed as one
//! table, so that ratios compare figures measured in the same run. With `--gate FILE` it is the
//! regression gate instead: it measures the rows the thresholds name and exits 1 when a ratio
//! is above its threshold (`axon_benches::gate`).
//!
//! ```text
//! cargo run --release -p axon-benches --bin bench-gate -- [--full] [--filter SUBSTR]...
//!     [--sizes 8,1024,...] [--rounds N] [--samples N] [--pin auto|same|off]
//!     [--gate benches/thresholds.toml] [--plot latency.svg]
//! ```

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context as _};
use axon_benches::affinity::{self, Pinning};
use axon_benches::gate::{self, Thresholds};
use axon_benches::report::{measure, print_table, MeasureConfig};
use axon_benches::resident::{self, Middleware, Row};
use axon_benches::{mechanisms, Mechanism, Payload, SessionOptions, Touch, HEADER_LEN};

const SIZES: [usize; 5] = [HEADER_LEN, 1 << 10, 64 << 10, 1 << 20, 8 << 20];

struct Args {
    full: bool,
    filters: Vec<String>,
    sizes: Option<Vec<usize>>,
    cfg: MeasureConfig,
    pinning: Pinning,
    gate: Option<std::path::PathBuf>,
    plot: Option<std::path::PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        full: false,
        filters: vec![],
        sizes: None,
        cfg: MeasureConfig::quick(),
        pinning: Pinning::Auto,
        gate: None,
        plot: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--full" => {
                args.full = true;
                args.cfg = MeasureConfig::full();
            }
            "--quick" => {}
            "--filter" => args.filters.push(value()?),
            "--gate" => args.gate = Some(value()?.into()),
            "--plot" => args.plot = Some(value()?.into()),
            "--sizes" => {
                args.sizes = Some(
                    value()?
                        .split(',')
                        .map(gate::parse_size)
                        .collect::<anyhow::Result<_>>()?,
                )
            }
            "--rounds" => args.cfg.rounds = value()?.parse().context("--rounds")?,
            "--samples" => args.cfg.samples = value()?.parse().context("--samples")?,
            "--pin" => {
                args.pinning = match value()?.as_str() {
                    "auto" => Pinning::Auto,
                    "same" => Pinning::SameCpu,
                    "off" => Pinning::Off,
                    v => bail!("--pin auto|same|off, not {v}"),
                }
            }
            "-h" | "--help" => {
                println!(
                    "bench-gate [--full] [--filter SUBSTR]... [--sizes 8,1K,64K,1M,8M] \
                     [--rounds N] [--samples N] [--pin auto|same|off] [--gate THRESHOLDS.toml] [--plot FILE.svg]\n\
                     mechanisms: {}",
                    axon_benches::mechanisms()
                        .iter()
                        .map(|m| m.id())
                        .chain(Row::ALL.iter().map(|r| r.id()))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                std::process::exit(0);
            }
            // `cargo bench` passes --bench to every bench target.
            "--bench" => {}
            _ => bail!("unknown argument {a} (try --help)"),
        }
    }
    Ok(args)
}

/// The rows a mechanism gets: quick mode measures the sleeping shared-memory floors at 8 B only
/// (their payload cost is the same memory traffic as the spin floor's) and sockets with every
/// byte written (a socket copies them all anyway).
fn rows_for(m: &dyn Mechanism, args: &Args) -> Vec<Payload> {
    let id = m.id();
    let sizes: Vec<usize> = match &args.sizes {
        Some(s) => s.clone(),
        None if args.full => SIZES.to_vec(),
        None if matches!(id, "floor/futex" | "floor/spin-futex" | "floor/sem") => {
            vec![HEADER_LEN]
        }
        None => SIZES.to_vec(),
    };
    let socket = matches!(id, "floor/unix" | "floor/tcp");
    let mut rows = vec![];
    for size in sizes {
        if size <= HEADER_LEN {
            rows.push(Payload::new(size, Touch::Header));
            continue;
        }
        if !socket || args.full {
            rows.push(Payload::new(size, Touch::Header));
        }
        rows.push(Payload::new(size, Touch::All));
    }
    rows
}

fn main() -> ExitCode {
    axon_benches::run_child_if_requested();
    axon_benches::resident::run_child_if_requested();
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        // `bench-gate | head`: a closed stdout is a normal end, not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-gate: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// What explains the figures of this machine: the clock's cost, and how idle vCPUs sleep
/// (a halting vCPU makes every cross-CPU wake-up pay for a trip through the hypervisor).
fn environment() -> String {
    let n = 200_000u32;
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(Instant::now());
    }
    let clock_ns = t0.elapsed().as_nanos() as f64 / f64::from(n);
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    format!(
        "clock read {clock_ns:.0} ns (each sample includes about one: +{:.0} ns one way); \
         cpuidle driver {}, haltpoll guest_halt_poll_ns {}",
        clock_ns / 2.0,
        read("/sys/devices/system/cpu/cpuidle/current_driver"),
        read("/sys/module/haltpoll/parameters/guest_halt_poll_ns"),
    )
}

fn run() -> anyhow::Result<bool> {
    let args = parse_args()?;
    let thresholds = match &args.gate {
        Some(path) => Some(Thresholds::load(path)?),
        None => None,
    };
    let opts = SessionOptions {
        pinning: args.pinning,
        ..SessionOptions::default()
    };
    let cpus = affinity::available_cpus();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "bench-gate: {} mode, {} CPUs available, {}",
        if args.full { "full" } else { "quick" },
        cpus.len(),
        affinity::plan(args.pinning)
    )?;
    writeln!(
        out,
        "one way = round trip / 2; {} rounds per row, each {} warm-up + up to {} samples \
         or {:?}",
        args.cfg.rounds, args.cfg.warmup, args.cfg.samples, args.cfg.round_budget
    )?;
    out.flush()?;
    writeln!(out, "{}", environment())?;
    let t0 = Instant::now();
    if let Some(t) = &thresholds {
        writeln!(
            out,
            "gate: {} ratios and {} memory rows from {}, each row measured {} times, median of the medians used\n",
            t.ratios.len(),
            t.memory.len(),
            args.gate.as_ref().expect("gate").display(),
            t.repeats
        )?;
        let failed = gate::run(t, opts, &args.cfg, &args.filters, &mut out)?;
        writeln!(out, "\ngate ran in {:.1} s", t0.elapsed().as_secs_f64())?;
        if failed.is_empty() {
            writeln!(out, "GATE PASSED")?;
            return Ok(true);
        }
        writeln!(
            out,
            "GATE FAILED: {} ratio(s) above threshold:",
            failed.len()
        )?;
        for f in &failed {
            writeln!(out, "  {f}")?;
        }
        return Ok(false);
    }
    let mut rows = vec![];
    let mut ok = true;
    for m in mechanisms() {
        if !args.filters.is_empty() && !args.filters.iter().any(|f| m.id().contains(f.as_str())) {
            continue;
        }
        for payload in rows_for(m, &args) {
            match measure(m, payload, opts, &args.cfg) {
                Ok(row) => rows.push(row),
                Err(e) => {
                    ok = false;
                    eprintln!("FAILED: {e:#}");
                }
            }
        }
    }
    let mut footprints = vec![];
    for row in Row::ALL {
        if !args.filters.is_empty() && !args.filters.iter().any(|f| row.id().contains(f.as_str())) {
            continue;
        }
        for mw in [Middleware::Axon, Middleware::Iceoryx2] {
            match resident::measure(mw, row, args.pinning) {
                Ok(f) => footprints.push(f),
                Err(e) => {
                    ok = false;
                    eprintln!("FAILED: {e:#}");
                }
            }
        }
    }
    writeln!(out)?;
    if !rows.is_empty() {
        print_table(&mut out, &rows)?;
    }
    if !footprints.is_empty() {
        writeln!(out)?;
        resident::print_table(&mut out, &footprints)?;
        resident::print_ratios(&mut out, &footprints)?;
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "one-way latency vs payload, {} ({} CPUs)",
            affinity::plan(args.pinning),
            cpus.len()
        );
        std::fs::write(path, axon_benches::plot::svg(&rows, &title))
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "plot written to {}", path.display())?;
    }
    writeln!(
        out,
        "\n{} latency rows and {} resident-memory runs in {:.1} s{}",
        rows.len(),
        footprints.len(),
        t0.elapsed().as_secs_f64(),
        if ok { "" } else { "; SOME ROWS FAILED" }
    )?;
    Ok(ok)
}
