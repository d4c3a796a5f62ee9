//! `axon bag record | info | play`: glue over crate `axon-bag`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use axon::TopicName;
use axon_bag::{Compression, PlayOptions, RecordOptions, Selection};
use clap::Args;

use crate::{ExitCode, Global};

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Topics to record (each joined once it exists).
    topics: Vec<String>,
    /// Every topic of the domain, including those that appear later.
    #[arg(short = 'a', long = "all")]
    all: bool,
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
    /// Publish recorded topic FROM on TO (repeatable).
    #[arg(long, value_name = "FROM:=TO")]
    remap: Vec<String>,
}

pub fn record(g: &Global, a: &RecordArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let selection = match (a.all, a.topics.is_empty()) {
        (true, true) => Selection::All,
        (true, false) => bail!("give topics or -a, not both"),
        (false, true) => bail!("give the topics to record, or -a for all of them"),
        (false, false) => Selection::Topics(
            a.topics
                .iter()
                .map(|t| TopicName::new(t).map_err(|e| anyhow!("{t}: {e}")))
                .collect::<anyhow::Result<_>>()?,
        ),
    };
    let compression = Compression::parse(&a.compression)
        .ok_or_else(|| anyhow!("--compression {}: zstd, lz4 or none", a.compression))?;
    let duration = match a.duration {
        None => None,
        Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Some(Duration::from_secs_f64(s)),
        Some(s) => bail!("--duration {s}: give seconds above 0"),
    };
    axon::shutdown::install().context("cannot install the Ctrl-C handler")?;
    let opts = RecordOptions {
        selection,
        output: a.output.clone().unwrap_or_else(|| PathBuf::from(".")),
        compression,
        duration,
    };
    eprintln!(
        "axon bag: recording domain {} (Ctrl-C to stop)",
        domain.name()
    );
    let report = axon_bag::record(&domain, &opts, &|| false)?;
    writeln!(out, "wrote {}", report.path.display())?;
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
            if i.finished { "yes" } else { "no" }
        )?;
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
            "axon: {}: the file is damaged or unfinished: {e} (the counts above are of what precedes it)",
            i.path.display()
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
        remaps,
    };
    let report = axon_bag::play(&domain, &a.file, &opts)?;
    for (topic, n) in &report.published {
        writeln!(out, "  {topic}  {n} messages")?;
    }
    if let Some(e) = report.error {
        bail!("{}: {e}", a.file.display());
    }
    Ok(())
}
