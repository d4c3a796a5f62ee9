//! `axon bag record | info | play | reindex`: glue over crate `axon-bag`.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use axon::TopicName;
use axon_bag::play::Control;
use axon_bag::{Compression, PlayOptions, RecordOptions, Selection, Split};
use clap::Args;
use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices, Termios};

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
    /// Lose nothing: join as a reliable subscriber, so a writer slower than
    /// the data holds the publishers back (their sends find the topic full)
    /// instead of counting losses.
    #[arg(long)]
    reliable: bool,
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
    /// The MCAP files, played one after the other as one recording (the
    /// parts of a split recording, in order).
    #[arg(required = true, num_args = 1.., value_name = "FILE")]
    file: Vec<PathBuf>,
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
    opts.reliable = a.reliable;
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
        // A test knob (cli/tests/bag.rs): a short read-ahead.
        ahead: std::env::var("AXON_BAG_TEST_PLAY_AHEAD")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(axon_bag::play::AHEAD),
        control: None,
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
    let files: Vec<&std::path::Path> = a.file.iter().map(PathBuf::as_path).collect();
    let control = Arc::new(Control::default());
    let show = std::io::stderr().is_terminal();
    // Space pauses only when a user can press it; the terminal's modes are
    // back as they were when `keys` drops, on every way out of here
    // (return, error, panic unwinding; Ctrl-C and SIGTERM end the play,
    // which then returns).
    let keys = std::io::stdin()
        .is_terminal()
        .then(|| KeyMode::enter(std::io::stdin()))
        .and_then(Result::ok);
    let opts = PlayOptions {
        control: Some(control.clone()),
        ..opts
    };
    let span = span_of(&files);
    let done = AtomicBool::new(false);
    let report = std::thread::scope(|s| {
        if keys.is_some() {
            let c = control.clone();
            // Blocked in read(2) until a key; it ends with the process.
            std::thread::Builder::new()
                .name("axon-bag-keys".into())
                .spawn(move || toggle_on_space(&c))
                .ok();
        }
        if show {
            s.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    draw(&control, span, opts.rate, false);
                    std::thread::sleep(PROGRESS_EVERY);
                }
            });
        }
        let r = axon_bag::play_files(&domain, &files, &opts);
        done.store(true, Ordering::Release);
        r
    });
    if show {
        draw(&control, span, opts.rate, true);
    }
    drop(keys);
    let report = report?;
    for (topic, n) in &report.published {
        writeln!(out, "  {topic}  {n} messages")?;
    }
    if let Some(e) = report.error {
        let n: u64 = report.published.iter().map(|(_, n)| n).sum();
        bail!(
            "a file is damaged or unfinished: {e} (played the {n} messages of the whole chunks; \
             `axon bag reindex` writes a finished copy)"
        );
    }
    Ok(())
}

/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// The recording's first and last message times, if every file's summary
/// says (an unfinished file's end is unknown until it is read).
fn span_of(files: &[&std::path::Path]) -> Option<(u64, u64)> {
    let spans: Option<Vec<(u64, u64)>> =
        files.iter().map(|f| axon_bag::info::time_span(f)).collect();
    let spans = spans?;
    Some((
        spans.iter().map(|s| s.0).min()?,
        spans.iter().map(|s| s.1).max()?,
    ))
}

/// Redraws the progress line on stderr (a terminal): position / duration,
/// rate factor, messages published; `last` ends it with a newline.
fn draw(c: &Control, span: Option<(u64, u64)>, rate: f64, last: bool) {
    let first = c.first_ns.load(Ordering::Relaxed);
    let at = c.at_ns.load(Ordering::Relaxed);
    let pos = if first == 0 || at == 0 {
        0.0
    } else {
        at.saturating_sub(first) as f64 / 1e9
    };
    let of = span.map_or("?".to_string(), |(a, b)| {
        format!("{:.1}", b.saturating_sub(a) as f64 / 1e9)
    });
    let state = if c.paused.load(Ordering::Acquire) {
        "[paused] "
    } else {
        ""
    };
    let n = c.published.load(Ordering::Relaxed);
    let mut e = std::io::stderr().lock();
    let _ = write!(
        e,
        "\r\x1b[2K{state}{pos:.1} / {of} s  x{rate}  {n} published{}",
        if last { "\n" } else { "" }
    );
    let _ = e.flush();
}

/// Toggles the pause on each space read from stdin (a terminal in
/// [`KeyMode`]); ends at end of input or an error.
fn toggle_on_space(c: &Control) {
    let mut stdin = std::io::stdin().lock();
    let mut b = [0u8; 1];
    while let Ok(1) = stdin.read(&mut b) {
        if b[0] == b' ' {
            c.pause.fetch_xor(true, Ordering::AcqRel);
        }
    }
}

/// The terminal on stdin with line editing and echo off (a key is read as
/// it is pressed and not shown), signals kept (Ctrl-C still sends
/// SIGINT); its modes as they were are restored on drop.
struct KeyMode {
    stdin: std::io::Stdin,
    saved: Termios,
}

impl KeyMode {
    fn enter(stdin: std::io::Stdin) -> nix::Result<KeyMode> {
        // A job in the background would be stopped (SIGTTOU) for changing
        // the terminal: only the foreground job reads keys.
        if nix::unistd::tcgetpgrp(stdin.as_fd())? != nix::unistd::getpgrp() {
            return Err(nix::errno::Errno::ENOTTY);
        }
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut t = saved.clone();
        t.local_flags.remove(LocalFlags::ICANON | LocalFlags::ECHO);
        t.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        t.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &t)?;
        Ok(KeyMode { stdin, saved })
    }
}

impl Drop for KeyMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.stdin.as_fd(), SetArg::TCSANOW, &self.saved);
    }
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
