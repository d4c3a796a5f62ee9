//! Launch-file sources and byte-offset to `line:col` conversion.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One launch file as read from disk: its path and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path of the file as given (relative paths stay relative for messages).
    pub path: PathBuf,
    /// The whole text.
    pub text: String,
}

impl SourceFile {
    /// Where a byte span starts, as a [`Location`] in this file.
    pub fn location(&self, span: Range<usize>) -> Location {
        let (line, col) = line_col(&self.text, span.start);
        Location {
            file: self.path.clone(),
            line_col: Some((line, col)),
        }
    }

    /// A location naming only this file (for problems without a span).
    pub fn whole(&self) -> Location {
        Location {
            file: self.path.clone(),
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
}

/// Converts a byte offset into a 1-based `(line, column)` pair; columns count
/// characters, not bytes. Offsets past the end map to the end of the text.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// A place in a launch file: `file:line:col`, or just `file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The launch file.
    pub file: PathBuf,
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
    use super::line_col;

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
}
