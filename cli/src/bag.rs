//! `axon bag record | info | play | reindex`: glue over crate `axon-bag`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use axon::TopicName;
use axon_bag::{Compression, PlayOptions, RecordOptions, Selection, Split};
use clap::Args;

use crate::{ExitCode, Global};

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Topics to record (each joined once it exists).
    topics: Vec<String>,
    /// Every topic of the domain, including those that appear later.
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Every topic whose name this regular expression matches (anywhere in
    /// the name), including those that appear later.
    #[arg(short = 'e', long = "regex", value_name = "REGEX")]
    regex: Option<String>,
    /// Leave out the topics this regular expression matches.
    #[arg(long, value_name = "REGEX")]
    exclude: Option<String>,
    /// Start a new file once one holds this many bytes (suffix K, M or G,
    /// or KiB, MiB, GiB: powers of 1024). Parts are named <stem>_0.mcap, <stem>_1.mcap, ...
    #[arg(long, value_name = "BYTES")]
    split_size: Option<String>,
    /// Start a new file once one spans this many seconds.
    #[arg(long, value_name = "SECONDS")]
    split_duration: Option<f64>,
    /// Samples that may wait for the writer (beyond: counted losses).
    #[arg(long, hide = true, default_value_t = axon_bag::record::QUEUE_LEN)]
    queue_len: usize,
    /// Output file, or a directory for a new axon-<unix seconds>.mcap (default: the current directory).
    #[arg(short = 'o', long = "output", value_name = "FILE_OR_DIR")]
    output: Option<PathBuf>,
    /// Chunk compression: zstd, lz4 or none.
    #[arg(long, default_value = "zstd", value_name = "zstd|lz4|none")]
    compression: String,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The MCAP file.
    file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct PlayArgs {
    /// The MCAP file.
    file: PathBuf,
    /// Speed factor (2 = twice as fast).
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Start again at the end, until Ctrl-C.
    #[arg(long = "loop")]
    looped: bool,
    /// Only these topics (as recorded).
    #[arg(long, num_args = 1.., value_name = "TOPIC")]
    topics: Vec<String>,
    /// Leave out the topics this regular expression matches.
    #[arg(long, value_name = "REGEX")]
    exclude: Option<String>,
    /// Publish recorded topic FROM on TO (repeatable).
    #[arg(long, value_name = "FROM:=TO")]
    remap: Vec<String>,
    /// Start this many seconds after the file's first message.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    start_offset: f64,
}

#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// The MCAP file (unfinished or damaged).
    file: PathBuf,
    /// The finished copy (default: <stem>.reindexed.mcap beside FILE).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Chunk compression of the copy: zstd, lz4 or none (default: as FILE's).
    #[arg(long, value_name = "zstd|lz4|none")]
    compression: Option<String>,
}

fn regex(flag: &str, r: &Option<String>) -> anyhow::Result<Option<regex::Regex>> {
    r.as_deref()
        .map(|r| regex::Regex::new(r).map_err(|e| anyhow!("{flag} {r}: {e}")))
        .transpose()
}

fn seconds(flag: &str, s: f64) -> anyhow::Result<Duration> {
    if s.is_finite() && s > 0.0 && s < 1e9 {
        Ok(Duration::from_secs_f64(s))
    } else {
        bail!("{flag} {s}: give seconds above 0")
    }
}

/// `123`, `64K`, `500M`, `2G` (or `KiB`, `MiB`, `GiB`; powers of 1024) as
/// bytes.
fn size(flag: &str, s: &str) -> anyhow::Result<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let shift = match unit {
        "" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => 64,
    };
    num.parse::<u64>()
        .ok()
        .filter(|_| shift < 64)
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow!("{flag} {s}: give a size in bytes above 0 (suffix K, M or G)"))
}

pub fn record(g: &Global, a: &RecordArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let selection = match (a.all, &a.regex, a.topics.is_empty()) {
        (true, None, true) => Selection::All,
        (false, Some(_), true) => Selection::Matching(
            regex("-e", &a.regex)?.unwrap_or_else(|| unreachable!("a regex was given")),
        ),
        (false, None, true) => {
            bail!("give the topics to record, -e REGEX for those it matches, or -a for all of them")
        }
        (false, None, false) => Selection::Topics(
            a.topics
                .iter()
                .map(|t| TopicName::new(t).map_err(|e| anyhow!("{t}: {e}")))
                .collect::<anyhow::Result<_>>()?,
        ),
        _ => bail!("give one of: topics, -e REGEX, -a"),
    };
    let compression = Compression::parse(&a.compression)
        .ok_or_else(|| anyhow!("--compression {}: zstd, lz4 or none", a.compression))?;
    let duration = a.duration.map(|s| seconds("--duration", s)).transpose()?;
    let split = Split {
        size: a
            .split_size
            .as_deref()
            .map(|s| size("--split-size", s))
            .transpose()?,
        duration: a
            .split_duration
            .map(|s| seconds("--split-duration", s))
            .transpose()?,
    };
    if a.queue_len == 0 {
        bail!("--queue-len 0: give at least 1");
    }
    axon::shutdown::install().context("cannot install the Ctrl-C handler")?;
    let mut opts = RecordOptions::new(
        selection,
        a.output.clone().unwrap_or_else(|| PathBuf::from(".")),
    );
    opts.compression = compression;
    opts.duration = duration;
    opts.exclude = regex("--exclude", &a.exclude)?;
    opts.split = split;
    opts.queue_len = a.queue_len;
    // A test knob (cli/tests/bag.rs): a writer slower than the data.
    if let Some(ms) = std::env::var("AXON_BAG_TEST_WRITER_STALL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        opts.writer_stall = Duration::from_millis(ms);
    }
    eprintln!(
        "axon bag: recording domain {} (Ctrl-C to stop)",
        domain.name()
    );
    let report = axon_bag::record(&domain, &opts, &|| false)?;
    for p in &report.paths {
        writeln!(out, "wrote {}", p.display())?;
    }
    for t in &report.topics {
        let l = t.losses;
        writeln!(
            out,
            "  {}  {}  {} messages  lost {} (queue full {}, dropped in shared memory {}, unencodable {})",
            t.topic,
            t.type_name,
            t.messages,
            l.total(),
            l.queue,
            l.dropped,
            l.unencodable
        )?;
    }
    Ok(())
}

pub fn info(a: &InfoArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let i = axon_bag::info(&a.file)?;
    if a.json {
        writeln!(out, "{}", i.to_json())?;
    } else {
        let secs = |ns: u64| ns as f64 / 1e9;
        writeln!(out, "path:        {}", i.path.display())?;
        writeln!(out, "size:        {} bytes", i.size)?;
        writeln!(out, "profile:     {}", i.profile)?;
        let comp: Vec<&str> = i
            .compression
            .iter()
            .map(|c| if c.is_empty() { "none" } else { c.as_str() })
            .collect();
        writeln!(out, "compression: {}", comp.join(", "))?;
        writeln!(out, "chunks:      {}", i.chunks)?;
        writeln!(out, "messages:    {}", i.messages)?;
        writeln!(out, "duration:    {:.3} s", secs(i.duration_ns()))?;
        writeln!(out, "start:       {:.9} (unix s)", secs(i.start_ns))?;
        writeln!(out, "end:         {:.9} (unix s)", secs(i.end_ns))?;
        writeln!(
            out,
            "finished:    {}",
            match (i.finished, i.stopped_at) {
                (true, _) => "yes".to_string(),
                (false, Some(at)) => format!("no (no summary or footer; read up to byte {at})"),
                (false, None) => "no (no summary or footer)".to_string(),
            }
        )?;
        if i.skipped_chunks > 0 {
            writeln!(out, "damaged:     {} chunks skipped", i.skipped_chunks)?;
        }
        writeln!(out, "topics:")?;
        for t in &i.topics {
            let ty = if t.ros_type.is_empty() {
                format!("{} ({})", t.axon_type, t.encoding)
            } else {
                format!("{} ({})", t.ros_type, t.axon_type)
            };
            let lost = t
                .losses
                .map_or("not recorded".to_string(), |l| l.total().to_string());
            writeln!(
                out,
                "  {}  {}  {} messages  {:.2} Hz  lost {}",
                t.topic,
                ty,
                t.messages,
                t.rate_hz(),
                lost
            )?;
        }
    }
    if let Some(e) = &i.error {
        eprintln!(
            "axon: {}: the file is {}: {e} (the counts above are of its {} whole chunks; \
             `axon bag reindex` writes a finished copy)",
            i.path.display(),
            if i.finished {
                "damaged"
            } else {
                "damaged or unfinished"
            },
            i.chunks
        );
        return Err(ExitCode(1).into());
    }
    Ok(())
}

pub fn play(g: &Global, a: &PlayArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let remaps = a
        .remap
        .iter()
        .map(|r| {
            r.split_once(":=")
                .map(|(f, t)| (f.to_string(), t.to_string()))
                .ok_or_else(|| anyhow!("--remap {r}: write FROM:=TO"))
        })
        .collect::<anyhow::Result<_>>()?;
    axon::shutdown::install().context("cannot install the Ctrl-C handler")?;
    let opts = PlayOptions {
        rate: a.rate,
        looped: a.looped,
        topics: (!a.topics.is_empty()).then(|| a.topics.clone()),
        exclude: regex("--exclude", &a.exclude)?,
        remaps,
        start_offset: if a.start_offset == 0.0 {
            Duration::ZERO
        } else {
            seconds("--start-offset", a.start_offset)?
        },
    };
    let report = axon_bag::play(&domain, &a.file, &opts)?;
    for (topic, n) in &report.published {
        writeln!(out, "  {topic}  {n} messages")?;
    }
    if let Some(e) = report.error {
        let n: u64 = report.published.iter().map(|(_, n)| n).sum();
        bail!(
            "{}: the file is damaged or unfinished: {e} (played the {n} messages of its whole chunks; \
             `axon bag reindex` writes a finished copy)",
            a.file.display()
        );
    }
    Ok(())
}

pub fn reindex(a: &ReindexArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let compression = a
        .compression
        .as_deref()
        .map(|c| {
            Compression::parse(c).ok_or_else(|| anyhow!("--compression {c}: zstd, lz4 or none"))
        })
        .transpose()?;
    let output = a
        .output
        .clone()
        .unwrap_or_else(|| axon_bag::reindex::default_output(&a.file));
    let r = axon_bag::reindex(&a.file, &output, compression)?;
    writeln!(
        out,
        "wrote {}: {} messages from {} whole chunks{}",
        r.output.display(),
        r.messages,
        r.chunks,
        if r.skipped_chunks > 0 {
            format!(" ({} damaged chunks skipped)", r.skipped_chunks)
        } else {
            String::new()
        }
    )?;
    if let Some(e) = &r.error {
        writeln!(out, "{}: {e}", a.file.display())?;
    } else if r.input_finished {
        writeln!(out, "{} was finished already", a.file.display())?;
    }
    Ok(())
}
