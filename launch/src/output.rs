//! Node output: one reader thread per pipe, lines prefixed with the node name
//! (coloured on a terminal) on the launcher's stdout/stderr, and copied to the
//! node's log file.
//!
//! Robustness rules:
//! - the supervisor loop never reads pipes, so a node flooding its output can
//!   slow only its own reader thread, never supervision;
//! - writes to the launcher's own stdout/stderr ignore errors (a closed pipe
//!   downstream, e.g. `launch robot.toml | head`, must not stop the robot;
//!   Rust binaries ignore SIGPIPE, so such writes return `EPIPE`);
//! - lines are cut at [`MAX_LINE`] bytes so output without newlines cannot
//!   grow memory without bound.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

/// Longest line passed on in one piece.
pub const MAX_LINE: usize = 16 * 1024;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The node's stdout (goes to the launcher's stdout).
    Stdout,
    /// The node's stderr (goes to the launcher's stderr).
    Stderr,
}

const COLOURS: [&str; 6] = ["36", "32", "33", "35", "34", "31"];

/// Writes prefixed lines and the launcher's own messages.
#[derive(Debug)]
pub struct Printer {
    colour: bool,
    width: usize,
}

impl Printer {
    /// `colour`: use ANSI colours; `width`: pad node names to this.
    pub fn new(colour: bool, width: usize) -> Self {
        Printer { colour, width }
    }

    /// Whether the launcher's stdout is a terminal and `NO_COLOR` is unset.
    pub fn want_colour() -> bool {
        use std::io::IsTerminal;
        std::env::var_os("NO_COLOR").is_none() && io::stdout().is_terminal()
    }

    /// Prints one line of node output.
    pub fn node_line(&self, name: &str, index: usize, stream: Stream, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let prefix = if self.colour {
            let c = COLOURS[index % COLOURS.len()];
            format!("\x1b[{c}m{name:<w$} |\x1b[0m", w = self.width)
        } else {
            format!("{name:<w$} |", w = self.width)
        };
        // Errors (EPIPE, closed terminal) are deliberately ignored.
        let _ = match stream {
            Stream::Stdout => writeln!(io::stdout().lock(), "{prefix} {text}"),
            Stream::Stderr => writeln!(io::stderr().lock(), "{prefix} {text}"),
        };
    }

    /// Prints a message of the launcher itself, on stderr.
    pub fn say(&self, msg: std::fmt::Arguments<'_>) {
        let _ = if self.colour {
            writeln!(io::stderr().lock(), "\x1b[1m[launch]\x1b[0m {msg}")
        } else {
            writeln!(io::stderr().lock(), "[launch] {msg}")
        };
    }
}

/// Where one pipe's lines go.
pub struct LineSink {
    /// Node name (prefix).
    pub name: String,
    /// Index of the node (colour).
    pub index: usize,
    /// Which pipe.
    pub stream: Stream,
    /// Shared printer.
    pub printer: Arc<Printer>,
    /// The node's log file (both pipes, all restarts).
    pub log: Option<Arc<Mutex<File>>>,
    /// Called once with the first line containing the text.
    pub watch: Option<(String, Box<dyn FnOnce() + Send>)>,
}

/// Reads `reader` to its end, passing each line to `sink`. Runs on its own
/// thread; returns when the node (and anything it forked that holds the
/// pipe) has closed it.
pub fn pump(reader: impl Read, mut sink: LineSink) {
    let mut reader = BufReader::with_capacity(MAX_LINE, reader);
    let mut line = Vec::new();
    loop {
        let buf = match reader.fill_buf() {
            Ok([]) => break,
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let (used, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let take = used.min(MAX_LINE - line.len());
        line.extend_from_slice(&buf[..take]);
        let complete = complete && take == used;
        reader.consume(take);
        if complete || line.len() >= MAX_LINE {
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            emit(&mut sink, &line);
            line.clear();
        }
    }
    if !line.is_empty() {
        emit(&mut sink, &line);
    }
}

fn emit(sink: &mut LineSink, line: &[u8]) {
    sink.printer
        .node_line(&sink.name, sink.index, sink.stream, line);
    if let Some(log) = &sink.log {
        if let Ok(mut f) = log.lock() {
            let tag = match sink.stream {
                Stream::Stdout => "",
                Stream::Stderr => "[stderr] ",
            };
            let _ = f.write_all(tag.as_bytes());
            let _ = f.write_all(line);
            let _ = f.write_all(b"\n");
        }
    }
    let hit = match &sink.watch {
        Some((text, _)) => {
            let text = text.as_bytes();
            line.windows(text.len()).any(|w| w == text)
        }
        None => false,
    };
    if hit {
        if let Some((_, notify)) = sink.watch.take() {
            notify();
        }
    }
}
