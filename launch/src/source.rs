//! Launch-file sources: reading them within bounds, checking their nesting,
//! and byte-offset to `line:col` conversion.
//!
//! **Bounds** (each refused with a message naming the file, and for an
//! include the `file:line:col` of the include entry):
//! - only regular files are read: the file is opened with `O_NONBLOCK` (so
//!   opening a FIFO does not wait for a writer) and `fstat`ed, and anything
//!   else (FIFO, device, directory, socket) is refused ([`read_launch_file`]);
//! - at most [`MAX_FILE_BYTES`] (1 MiB) are read from one file, and at most
//!   [`MAX_TOTAL_BYTES`] (16 MiB) from a launch file and all its includes;
//! - values and keys may nest at most [`MAX_NESTING`] (64) deep, checked on
//!   the text before the TOML parser sees it ([`check_nesting`]), so nothing
//!   downstream (parser, substitution, JSON, drop) recurses deeper;
//! - the text must be UTF-8; the first bad byte is reported by its position;
//! - a link's `secret_file` is read the same way, at most
//!   [`MAX_SECRET_BYTES`] (4 KiB), by `launch --check` and by `axon-link`.
//!
//! `line:col` lookups use a table of line starts built once per file, so a
//! lookup is a binary search (`O(log lines)`) plus a count of the characters
//! before the offset on its line.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::ops::Range;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most bytes read from one launch file (the top-level file or an include).
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Most bytes read from a launch file and all its includes together.
pub const MAX_TOTAL_BYTES: u64 = 16 << 20;
/// Deepest nesting of arrays, inline tables, table headers and dotted keys.
pub const MAX_NESTING: usize = 64;
/// Most bytes of a link's `secret_file`.
pub const MAX_SECRET_BYTES: u64 = 4096;

/// One launch file: its path, its text and where its lines start.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path of the file as given (relative paths stay relative for messages).
    pub path: Arc<Path>,
    /// The whole text.
    pub text: String,
    /// Byte offset of the start of each line (the first is 0).
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A source from its path and text; builds the line table.
    pub fn new(path: impl Into<PathBuf>, text: String) -> SourceFile {
        let line_starts = line_starts(&text);
        SourceFile {
            path: Arc::from(path.into()),
            text,
            line_starts,
        }
    }

    /// A source from raw bytes; `Err` holds the `line:col` of the first byte
    /// that is not UTF-8.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<SourceFile, Location> {
        let path = path.into();
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(path, text)),
            Err(e) => {
                let good = e.utf8_error().valid_up_to();
                let mut bytes = e.into_bytes();
                bytes.truncate(good);
                // The prefix is valid by construction.
                let text = String::from_utf8(bytes).unwrap_or_default();
                let (line, col) = line_col(&text, good);
                Err(Location {
                    file: Arc::from(path),
                    line_col: Some((line, col)),
                })
            }
        }
    }

    /// Where a byte span starts, as a [`Location`] in this file.
    pub fn location(&self, span: Range<usize>) -> Location {
        Location {
            file: Arc::clone(&self.path),
            line_col: Some(self.line_col(span.start)),
        }
    }

    /// A location naming only this file (for problems without a span).
    pub fn whole(&self) -> Location {
        Location {
            file: Arc::clone(&self.path),
            line_col: None,
        }
    }

    /// Directory that relative paths in this file are resolved against.
    pub fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    /// 1-based `(line, column)` of a byte offset, columns in characters;
    /// offsets past the end map to the end of the text. `O(log lines)` plus
    /// the characters before `offset` on its line.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col_in(&self.text, &self.line_starts, offset)
    }
}

/// Byte offsets where lines start: 0, then one past each `\n`.
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect()
}

fn line_col_in(text: &str, starts: &[usize], offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    // The last line start <= offset; `starts[0] == 0`, so there is one.
    let line = starts.partition_point(|&s| s <= offset).max(1) - 1;
    #[cfg(test)]
    tests::SCANNED.with(|n| n.set(n.get() + offset - starts[line]));
    let col = text[starts[line]..offset].chars().count() + 1;
    (line + 1, col)
}

/// Converts a byte offset into a 1-based `(line, column)` pair; columns count
/// characters, not bytes. Offsets past the end map to the end of the text.
/// (Builds the line table each call: for one lookup; a [`SourceFile`] keeps
/// its table.)
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    line_col_in(text, &line_starts(text), offset)
}

/// Why a launch file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The OS refused (not found, permission, ...).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A FIFO, device, directory or socket.
    #[error("it is not a regular file ({0})")]
    NotRegular(&'static str),
    /// Over [`MAX_FILE_BYTES`].
    #[error("it is larger than 1 MiB (the limit for one launch file)")]
    TooLarge,
    /// Over [`MAX_TOTAL_BYTES`] together with the files read before.
    #[error(
        "the launch file and its includes are larger than 16 MiB together (the limit for one launch)"
    )]
    TotalTooLarge,
    /// Over the limit [`read_regular`] was given.
    #[error("it is larger than {0} bytes (the limit)")]
    Larger(u64),
}

/// What kind of non-regular file this is, for messages.
fn kind(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Reads a regular file of at most `limit` bytes (a launch file, a secret).
///
/// The file is opened `O_NONBLOCK | O_NOCTTY` (and `O_CLOEXEC`, as std
/// always does): opening a FIFO returns at once instead of waiting for a
/// writer. Then the open file is `fstat`ed and anything but a regular file
/// is refused before one byte is read. At most `limit + 1` bytes are read,
/// so an endless or huge file costs at most that much memory.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::Larger(limit));
    }
    Ok(bytes)
}

/// Reads a launch file of at most `min(MAX_FILE_BYTES, budget)` bytes with
/// [`read_regular`]; `budget` is what is left of [`MAX_TOTAL_BYTES`].
pub fn read_launch_file(path: &Path, budget: u64) -> Result<Vec<u8>, ReadError> {
    let limit = MAX_FILE_BYTES.min(budget);
    read_regular(path, limit).map_err(|e| match e {
        ReadError::Larger(_) if limit == MAX_FILE_BYTES => ReadError::TooLarge,
        ReadError::Larger(_) => ReadError::TotalTooLarge,
        other => other,
    })
}

/// Checks that nothing in `text` nests deeper than [`MAX_NESTING`]; `Err`
/// is the byte offset where the limit is crossed.
///
/// A conservative scan (it may count a level too many, never too few, for
/// one value): strings and comments are skipped; each `[` or `{` opens a
/// level on top of the dotted-key levels before it; each `.` outside a
/// string adds a level until the next `=`, `,`, newline or bracket (so a
/// float's point counts once); a table header's levels (`[a.b.c]`) stay for
/// the keys below it.
pub fn check_nesting(text: &str) -> Result<(), usize> {
    let b = text.as_bytes();
    // Depth at which each open bracket started its contents.
    let mut stack: Vec<usize> = Vec::new();
    // Depth of the last top-level table header's table.
    let mut header = 0usize;
    // Dotted-key levels since the last separator.
    let mut dots = 0usize;
    // A top-level `[`/`[[` at the start of a line opens a header.
    let mut line_start = true;
    let mut in_header = false;
    let mut i = 0;
    let base = |stack: &Vec<usize>, header: usize| stack.last().copied().unwrap_or(header);
    while i < b.len() {
        let c = b[i];
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let triple = b[i..].starts_with(if c == b'"' { b"\"\"\"" } else { b"'''" });
                i += if triple { 3 } else { 1 };
                while i < b.len() {
                    if c == b'"' && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == c && (!triple || b[i..].starts_with(&[c, c, c])) {
                        i += if triple { 3 } else { 1 };
                        // A triple-quoted string may end in up to two more quotes.
                        while triple && i < b.len() && b[i] == c {
                            i += 1;
                        }
                        break;
                    }
                    if !triple && b[i] == b'\n' {
                        break;
                    }
                    i += 1;
                }
                line_start = false;
                continue;
            }
            b'[' | b'{' => {
                if c == b'[' && line_start && stack.is_empty() {
                    in_header = true;
                    header = 0;
                }
                let depth = base(&stack, header) + dots + 1;
                if depth > MAX_NESTING {
                    return Err(i);
                }
                stack.push(depth);
                dots = 0;
            }
            b']' | b'}' => {
                let inner = base(&stack, header) + dots;
                stack.pop();
                dots = 0;
                if in_header {
                    // The keys below `[a.b]` (or `[[a.b]]`) sit as deep as
                    // the header's deepest level.
                    header = header.max(inner);
                    in_header = !stack.is_empty();
                }
            }
            b'.' => {
                dots += 1;
                if base(&stack, header) + dots > MAX_NESTING {
                    return Err(i);
                }
            }
            b'=' | b',' | b'\n' => dots = 0,
            _ => {}
        }
        line_start = c == b'\n' || (line_start && (c == b' ' || c == b'\t' || c == b'\r'));
        i += 1;
    }
    Ok(())
}

/// A place in a launch file: `file:line:col`, or just `file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The launch file (shared by every location in it).
    pub file: Arc<Path>,
    /// 1-based line and column, when the problem has a span.
    pub line_col: Option<(usize, usize)>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((line, col)) => write!(f, "{}:{line}:{col}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Bytes `line_col_in` counted characters over (work, not time).
        pub(super) static SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn a_lookup_scans_only_its_own_line() {
        // 100,000 lines: the old lookup scanned everything before the
        // offset (quadratic over a file's spans); now only the line's start.
        let text = "[[node]]\nname = \"n\"\n".repeat(50_000);
        let src = SourceFile::new("big.toml", text.clone());
        SCANNED.with(|n| n.set(0));
        let last = text.rfind("\"n\"").unwrap();
        assert_eq!(src.line_col(last), (100_000, 8));
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(SCANNED.with(|n| n.get()), 7);
    }

    #[test]
    fn offsets_become_one_based_line_and_column() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (1, 5));
        assert_eq!(line_col(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(text, 10), (2, 4));
        assert_eq!(line_col(text, 1000), (3, 1));
    }

    #[test]
    fn line_table_agrees_with_a_scan_on_multibyte_and_crlf_text() {
        // Two-, three- and four-byte characters, CRLF and LF line ends, an
        // empty line and no final newline.
        let text = "é = \"ü\"\r\n\r\n日本 = '語'\n🦀x = 1\r\nlast";
        let src = SourceFile::new("t.toml", text.to_owned());
        for offset in 0..=text.len() + 2 {
            // The reference: count from the start, as the old code did.
            let mut o = offset.min(text.len());
            while !text.is_char_boundary(o) {
                o -= 1;
            }
            let before = &text[..o];
            let line = before.matches('\n').count() + 1;
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            let col = before[start..].chars().count() + 1;
            assert_eq!(src.line_col(offset), (line, col), "offset {offset}");
        }
        // Spot checks: the `\r` of a CRLF is the last column of its line.
        assert_eq!(src.line_col(text.find('\r').unwrap()), (1, 8));
        assert_eq!(src.line_col(text.find('日').unwrap()), (3, 1));
        // Inside the four-byte crab: its own column; the `x` after it: 2.
        assert_eq!(src.line_col(text.find('🦀').unwrap() + 2), (4, 1));
        assert_eq!(src.line_col(text.find('x').unwrap()), (4, 2));
        assert_eq!(src.line_col(text.find("last").unwrap()), (5, 1));
    }

    #[test]
    fn invalid_utf8_reports_the_first_bad_byte() {
        let e = SourceFile::from_bytes("x.toml", b"a = 1\n# \xc3\xa9\xff".to_vec()).unwrap_err();
        assert_eq!(e.to_string(), "x.toml:2:4");
        // A truncated multi-byte sequence at the very end.
        let e = SourceFile::from_bytes("x.toml", b"\xe6\x97".to_vec()).unwrap_err();
        assert_eq!(e.to_string(), "x.toml:1:1");
    }

    #[test]
    fn nesting_within_the_limit_passes() {
        let ok = format!(
            "[a.b.c]\nx.y = {{ z = [[1.5, 2.5], [3]] }}\ns = \"[[[[.{{{{\" # [[[[ ....\n'''\n[[[\n'''\n{}{}",
            "[".repeat(MAX_NESTING - 4),
            "]".repeat(MAX_NESTING - 4)
        );
        assert_eq!(check_nesting(&ok), Ok(()));
        let floats = format!("v = [{}]\n", "1.5, ".repeat(10_000));
        assert_eq!(check_nesting(&floats), Ok(()));
    }

    #[test]
    fn nesting_over_the_limit_is_found_where_it_crosses() {
        let deep = "[".repeat(100_000);
        assert_eq!(check_nesting(&deep), Err(MAX_NESTING));
        let dots = format!("x{}", ".x".repeat(100_000));
        assert_eq!(check_nesting(&dots), Err(2 * MAX_NESTING + 1));
        // Header levels count for the keys below it.
        let header = format!("[{}]\n{} = 1", "a.".repeat(40) + "a", "b.".repeat(30) + "b");
        assert!(check_nesting(&header).is_err());
    }
}
