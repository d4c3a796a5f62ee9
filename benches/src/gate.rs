//! The regression gate: the key ratios, measured in one run, against thresholds committed in
//! `benches/thresholds.toml`.
//!
//! Every ratio divides the median one-way latency of a row by that of another row measured in
//! the same run (a floor, a peer, or the same mechanism at another size), so it holds on any
//! machine. A shared 2-vCPU machine is noisy, so each row is measured `repeats` times
//! (interleaved: repeat 1 of every row, then repeat 2, ...), each repeat a fresh pair of
//! processes, and the ratio uses the *median of those medians* of each row. Not the best:
//! noise here goes both ways. Each session lands its two processes on a different placement
//! of the host's vCPUs, and a lucky one makes a floor (or iceoryx2) 15-50% faster than usual
//! for that repeat only. Best-of-medians on both sides let one lucky denominator fail the
//! gate; the median needs most repeats of a row to move. The table prints the best too.
//!
//! The file (see `benches/thresholds.toml` for the committed one):
//! ```toml
//! repeats = 3                 # optional, default 3
//! [[ratio]]
//! name = "polling vs atomic floor"
//! row = "axon/poll"           # a mechanism id (bench-gate --help lists them)
//! size = "8"                  # optional, default 8; 8, 1K, 64K, 1M, 8M
//! touch = "hdr"               # optional, hdr (default) or all
//! over = "floor/spin"         # the denominator's mechanism
//! over_size = "8"             # optional, default = size
//! max = 2.0                   # the gate fails when the ratio is above this
//! target = 1.5                # optional: the issue's target, printed beside it
//!
//! [[memory]]                  # resident memory (`crate::resident`), not a latency
//! name = "camera topic resident vs iceoryx2"
//! row = "resident/defaults"   # or resident/one-to-one, resident/defaults-burst
//! max = 1.5                   # axon's shared memory resident / iceoryx2's, same run
//! max_of_topic_max = 0.1      # optional: axon's resident / the most its topic can reserve
//! ```
//!
//! Memory rows are measured `repeats` times too (a fresh publisher and subscriber process
//! each time, axon then iceoryx2) and the median of each side is used.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _};
use serde::Deserialize;

use crate::report::{measure, MeasureConfig};
use crate::resident::{self, Footprint, Middleware, Row};
use crate::{find_mechanism, mechanisms, Mechanism, Payload, SessionOptions, Touch, HEADER_LEN};

/// `benches/thresholds.toml`, parsed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// How many times each row is measured; the median of the medians is used.
    #[serde(default = "default_repeats")]
    pub repeats: usize,
    /// The latency ratios to check.
    #[serde(rename = "ratio", default)]
    pub ratios: Vec<RatioSpec>,
    /// The resident-memory rows to check.
    #[serde(rename = "memory", default)]
    pub memory: Vec<MemorySpec>,
}

/// One `[[memory]]`: axon's resident shared memory for a camera topic against iceoryx2's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySpec {
    /// What the row means, printed in the table.
    pub name: String,
    /// `resident/defaults`, `resident/one-to-one` or `resident/defaults-burst`.
    pub row: String,
    /// The gate fails when axon's resident / iceoryx2's is above this.
    pub max: f64,
    /// The gate also fails when axon's resident / its topic's most is above this.
    pub max_of_topic_max: Option<f64>,
}

impl MemorySpec {
    fn resident_row(&self) -> anyhow::Result<Row> {
        Row::find(&self.row).ok_or_else(|| {
            let known: Vec<_> = Row::ALL.iter().map(|r| r.id()).collect();
            anyhow!(
                "unknown memory row {:?} (known: {})",
                self.row,
                known.join(", ")
            )
        })
    }
}

fn default_repeats() -> usize {
    3
}

/// One `[[ratio]]` as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioSpec {
    /// What the ratio means, printed in the table.
    pub name: String,
    /// The numerator's mechanism id.
    pub row: String,
    /// Payload size of the numerator (default 8).
    pub size: Option<String>,
    /// `hdr` (default) or `all`.
    pub touch: Option<String>,
    /// The denominator's mechanism id.
    pub over: String,
    /// Payload size of the denominator (default: `size`).
    pub over_size: Option<String>,
    /// The gate fails above this.
    pub max: f64,
    /// The target from the issues, for the report.
    pub target: Option<f64>,
}

/// A row the gate measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    mechanism: &'static str,
    size: usize,
    touch_all: bool,
}

impl RowKey {
    fn payload(&self) -> Payload {
        let touch = if self.touch_all && self.size > HEADER_LEN {
            Touch::All
        } else {
            Touch::Header
        };
        Payload::new(self.size, touch)
    }

    fn label(&self) -> String {
        format!("{} {}", self.mechanism, self.payload())
    }
}

/// A ratio ready to measure.
struct Check<'a> {
    spec: &'a RatioSpec,
    row: RowKey,
    over: RowKey,
}

/// Parses a size such as `8`, `1K`, `64KiB`, `8M`.
pub fn parse_size(s: &str) -> anyhow::Result<usize> {
    let s = s.trim();
    let (num, mul) = if let Some(n) = s.strip_suffix("MiB").or_else(|| s.strip_suffix('M')) {
        (n, 1 << 20)
    } else if let Some(n) = s.strip_suffix("KiB").or_else(|| s.strip_suffix('K')) {
        (n, 1 << 10)
    } else {
        (s, 1)
    };
    let n: usize = num
        .trim()
        .parse()
        .with_context(|| format!("size {s:?} is not a number with an optional K or M"))?;
    if n * mul < HEADER_LEN {
        bail!("size {s:?} is below the {HEADER_LEN}-byte message header");
    }
    Ok(n * mul)
}

impl Thresholds {
    /// Reads and checks `path`; errors name the file (and line and column for syntax errors).
    pub fn load(path: &Path) -> anyhow::Result<Thresholds> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let t: Thresholds =
            toml::from_str(&text).map_err(|e| anyhow!("{}: {}", path.display(), e))?;
        if t.repeats == 0 || t.repeats > 20 {
            bail!("{}: repeats must be 1..=20", path.display());
        }
        if t.ratios.is_empty() && t.memory.is_empty() {
            bail!("{}: no [[ratio]] or [[memory]] to check", path.display());
        }
        for (i, r) in t.ratios.iter().enumerate() {
            t.check(r)
                .with_context(|| format!("{}: ratio {} ({:?})", path.display(), i + 1, r.name))?;
        }
        for (i, m) in t.memory.iter().enumerate() {
            let positive = |v: f64| v.is_finite() && v > 0.0;
            let ok = m.resident_row().and_then(|_| {
                if !positive(m.max) || !m.max_of_topic_max.is_none_or(positive) {
                    bail!("max and max_of_topic_max must be positive numbers");
                }
                Ok(())
            });
            ok.with_context(|| format!("{}: memory {} ({:?})", path.display(), i + 1, m.name))?;
        }
        Ok(t)
    }

    fn check<'a>(&self, r: &'a RatioSpec) -> anyhow::Result<Check<'a>> {
        let mech = |id: &str| -> anyhow::Result<&'static str> {
            find_mechanism(id).map(|m| m.id()).ok_or_else(|| {
                let known: Vec<_> = mechanisms().iter().map(|m| m.id()).collect();
                anyhow!("unknown mechanism {id:?} (known: {})", known.join(", "))
            })
        };
        let touch_all = match r.touch.as_deref() {
            None | Some("hdr") => false,
            Some("all") => true,
            Some(t) => bail!("touch must be \"hdr\" or \"all\", not {t:?}"),
        };
        let size = parse_size(r.size.as_deref().unwrap_or("8"))?;
        let over_size = match &r.over_size {
            Some(s) => parse_size(s)?,
            None => size,
        };
        if !(r.max.is_finite() && r.max > 0.0) {
            bail!("max must be a positive number, not {}", r.max);
        }
        Ok(Check {
            spec: r,
            row: RowKey {
                mechanism: mech(&r.row)?,
                size,
                touch_all,
            },
            over: RowKey {
                mechanism: mech(&r.over)?,
                size: over_size,
                touch_all,
            },
        })
    }
}

/// Whether a check named `name` over rows `ids` is selected by `filters` (all when empty).
fn selected(filters: &[String], name: &str, ids: &[&str]) -> bool {
    filters.is_empty()
        || filters
            .iter()
            .any(|f| name.contains(f.as_str()) || ids.iter().any(|id| id.contains(f.as_str())))
}

/// Measures every row the thresholds need (only the checks whose name or rows contain one of
/// `filters`, when there are any), prints the table to `out`, and returns the names of the
/// ratios above their `max` (empty: the gate passes).
pub fn run(
    t: &Thresholds,
    opts: SessionOptions,
    cfg: &MeasureConfig,
    filters: &[String],
    out: &mut impl Write,
) -> anyhow::Result<Vec<String>> {
    let checks: Vec<Check> = t
        .ratios
        .iter()
        .filter(|r| selected(filters, &r.name, &[&r.row, &r.over]))
        .map(|r| t.check(r))
        .collect::<anyhow::Result<_>>()?;
    let memory: Vec<&MemorySpec> = t
        .memory
        .iter()
        .filter(|m| selected(filters, &m.name, &[&m.row]))
        .collect();
    if checks.is_empty() && memory.is_empty() {
        bail!("--filter selects none of the gate's checks");
    }
    let mut best: BTreeMap<RowKey, Vec<u64>> = BTreeMap::new();
    for c in &checks {
        best.entry(c.row).or_default();
        best.entry(c.over).or_default();
    }
    let keys: Vec<RowKey> = best.keys().copied().collect();
    for repeat in (1..=t.repeats).filter(|_| !keys.is_empty()) {
        write!(out, "repeat {repeat}/{}:", t.repeats)?;
        for key in &keys {
            let m: &dyn Mechanism = find_mechanism(key.mechanism).expect("checked at load");
            let row = measure(m, key.payload(), opts, cfg)
                .with_context(|| format!("measuring {}", key.label()))?;
            best.get_mut(key).expect("key").push(row.p50());
            write!(out, " .")?;
            out.flush()?;
        }
        writeln!(out)?;
    }
    let mut failed = run_memory(&memory, t.repeats, opts, out)?;
    if checks.is_empty() {
        return Ok(failed);
    }
    let us = |ns: u64| format!("{:.3}", ns as f64 / 1000.0);
    writeln!(
        out,
        "\n{:<42} {:<22} {:>8} {:<22} {:>8} {:>6} {:>5} {:>6}  verdict",
        "ratio", "row", "med. us", "over", "med. us", "ratio", "max", "target"
    )?;
    for c in &checks {
        let (a, b) = (median(&best[&c.row]), median(&best[&c.over]));
        let ratio = a as f64 / b.max(1) as f64;
        let pass = ratio <= c.spec.max;
        let target = c.spec.target.map_or("-".to_string(), |t| format!("{t:.2}"));
        let verdict = match (pass, c.spec.target) {
            (false, _) => "FAIL (above max)",
            (true, Some(t)) if ratio <= t => "ok, target met",
            (true, Some(_)) => "ok, target not met",
            (true, None) => "ok",
        };
        writeln!(
            out,
            "{:<42} {:<22} {:>8} {:<22} {:>8} {:>6.2} {:>5.2} {:>6}  {}",
            c.spec.name,
            c.row.label(),
            us(a),
            c.over.label(),
            us(b),
            ratio,
            c.spec.max,
            target,
            verdict
        )?;
        if !pass {
            failed.push(format!(
                "{}: {} / {} = {ratio:.2} > max {:.2}",
                c.spec.name,
                c.row.label(),
                c.over.label(),
                c.spec.max
            ));
        }
    }
    writeln!(out, "\nmedians per repeat (us), then the best:")?;
    for (key, meds) in &best {
        let list: Vec<String> = meds.iter().map(|m| us(*m)).collect();
        let best = meds.iter().min().map_or(0, |m| *m);
        writeln!(
            out,
            "  {:<28} {}   best {}",
            key.label(),
            list.join(" "),
            us(best)
        )?;
    }
    Ok(failed)
}

/// Measures the `[[memory]]` rows `repeats` times each, prints every run and the checks, and
/// returns the failed checks.
fn run_memory(
    specs: &[&MemorySpec],
    repeats: usize,
    opts: SessionOptions,
    out: &mut impl Write,
) -> anyhow::Result<Vec<String>> {
    if specs.is_empty() {
        return Ok(vec![]);
    }
    let mut rows: Vec<Row> = specs
        .iter()
        .map(|m| m.resident_row())
        .collect::<anyhow::Result<_>>()?;
    rows.sort();
    rows.dedup();
    let mut runs: Vec<Footprint> = vec![];
    write!(out, "memory rows, {repeats} repeats:")?;
    for _ in 0..repeats {
        for row in &rows {
            for mw in [Middleware::Axon, Middleware::Iceoryx2] {
                let f = resident::measure(mw, *row, opts.pinning).context("measuring")?;
                runs.push(f);
                write!(out, " .")?;
                out.flush()?;
            }
        }
    }
    writeln!(out, "\n")?;
    resident::print_table(out, &runs)?;
    let mib = |b: u64| format!("{:.2}", b as f64 / f64::from(1 << 20));
    writeln!(
        out,
        "\n{:<42} {:<22} {:>9} {:>9} {:>6} {:>5} {:>9} {:>6} {:>5}  verdict",
        "memory", "row", "axon MiB", "iox2 MiB", "ratio", "max", "topic max", "share", "max"
    )?;
    let mut failed = vec![];
    for m in specs {
        let row = m.resident_row()?;
        let of = |mw: Middleware, pick: fn(&Footprint) -> u64| {
            let v: Vec<u64> = runs
                .iter()
                .filter(|f| f.row == row && f.middleware == mw)
                .map(pick)
                .collect();
            median(&v)
        };
        let axon = of(Middleware::Axon, |f| f.shm_resident);
        let iox = of(Middleware::Iceoryx2, |f| f.shm_resident);
        let topic_max = of(Middleware::Axon, |f| f.topic_info.map_or(0, |(_, max)| max));
        let ratio = axon as f64 / iox.max(1) as f64;
        let share = axon as f64 / topic_max.max(1) as f64;
        let mut verdict = vec![];
        if ratio > m.max {
            verdict.push("FAIL (ratio above max)");
            failed.push(format!(
                "{}: {} axon / iceoryx2 resident = {ratio:.2} > max {:.2}",
                m.name, m.row, m.max
            ));
        }
        if let Some(limit) = m.max_of_topic_max.filter(|l| share > *l) {
            verdict.push("FAIL (share of the topic's max above max)");
            failed.push(format!(
                "{}: {} axon resident / its topic's max = {share:.3} > max {limit:.3}",
                m.name, m.row
            ));
        }
        writeln!(
            out,
            "{:<42} {:<22} {:>9} {:>9} {:>6.2} {:>5.2} {:>9} {:>6.3} {:>5}  {}",
            m.name,
            m.row,
            mib(axon),
            mib(iox),
            ratio,
            m.max,
            mib(topic_max),
            share,
            m.max_of_topic_max
                .map_or("-".to_string(), |l| format!("{l:.2}")),
            if verdict.is_empty() {
                "ok".to_string()
            } else {
                verdict.join(", ")
            }
        )?;
    }
    Ok(failed)
}

/// The median of the repeats' medians (the lower middle one for an even count).
fn median(values: &[u64]) -> u64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v[(v.len() - 1) / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` from a file of its own: tests run in parallel threads of one process.
    fn load(text: &str) -> anyhow::Result<Thresholds> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("axon-gate-unit-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("t.toml");
        std::fs::write(&path, text)?;
        let r = Thresholds::load(&path);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn the_committed_thresholds_load() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("thresholds.toml");
        let t = Thresholds::load(&path).unwrap();
        assert!(t.ratios.len() >= 6);
        assert!(t.memory.iter().any(|m| m.row == "resident/defaults"));
    }

    #[test]
    fn bad_files_name_what_is_wrong() {
        let e =
            load("[[ratio]]\nname = \"x\"\nrow = \"axon/poll\"\nover = \"floor/spin\"\nmax = \n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("line 5"), "{e}");
        let e = load(
            "[[ratio]]\nname = \"x\"\nrow = \"axon/nope\"\nover = \"floor/spin\"\nmax = 2.0\n",
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown mechanism \"axon/nope\""),
            "{e:#}"
        );
        let e = load(
            "[[ratio]]\nname = \"x\"\nrow = \"axon/poll\"\nover = \"floor/spin\"\nmax = -1.0\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("max must be a positive"), "{e:#}");
        let e = load("[[ratio]]\nname = \"x\"\nrow = \"axon/poll\"\nover = \"floor/spin\"\nmax = 2.0\nsize = \"3\"\n")
            .unwrap_err();
        assert!(format!("{e:#}").contains("below the 8-byte"), "{e:#}");
        let e = load(
            "[[ratio]]\nname = \"x\"\nrow = \"axon/poll\"\nover = \"floor/spin\"\nmaxx = 2.0\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn bad_memory_rows_name_what_is_wrong() {
        let e = load("[[memory]]\nname = \"m\"\nrow = \"resident/huge\"\nmax = 1.5\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown memory row \"resident/huge\""),
            "{e:#}"
        );
        let e = load(
            "[[memory]]\nname = \"m\"\nrow = \"resident/defaults\"\nmax = 1.5\nmax_of_topic_max = 0.0\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("must be positive"), "{e:#}");
        let e = load("repeats = 2\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("no [[ratio]] or [[memory]]"),
            "{e:#}"
        );
        let t =
            load("[[memory]]\nname = \"m\"\nrow = \"resident/defaults-burst\"\nmax = 2\n").unwrap();
        assert_eq!(t.memory.len(), 1);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8").unwrap(), 8);
        assert_eq!(parse_size("64K").unwrap(), 64 << 10);
        assert_eq!(parse_size("8MiB").unwrap(), 8 << 20);
        assert!(parse_size("lots").is_err());
    }
}
