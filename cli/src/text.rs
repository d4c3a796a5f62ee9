//! Text in and out: the YAML-like printer for samples, the YAML-or-JSON
//! reader for `topic pub`, field paths, hex dumps, tables and units.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// How [`to_yaml`] shortens long arrays.
#[derive(Debug, Clone, Copy)]
pub struct YamlStyle {
    /// Longest array printed whole; longer ones show this many elements and
    /// a count of the rest. `None`: print everything.
    pub max_array: Option<usize>,
}

/// `value` as YAML-like text: block mappings, arrays of scalars inline,
/// strings quoted only where a plain one would read as something else.
/// Ends with a newline.
pub fn to_yaml(value: &Value, style: YamlStyle) -> String {
    to_yaml_elided(value, style, None)
}

/// [`to_yaml`], where the top-level array field `elided.0` lost
/// `elided.1` elements before printing (a slice decoded only in part):
/// they are counted with the ones the style leaves out.
pub fn to_yaml_elided(value: &Value, style: YamlStyle, elided: Option<(&str, usize)>) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0, style, elided),
        Value::Array(a) if !a.is_empty() && !a.iter().all(is_scalar) => {
            write_list(&mut out, a, 0, style, 0)
        }
        other => {
            out.push_str(&inline(other, style, 0));
            out.push('\n');
        }
    }
    out
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(
    out: &mut String,
    m: &Map<String, Value>,
    depth: usize,
    style: YamlStyle,
    elided: Option<(&str, usize)>,
) {
    for (k, v) in m {
        indent(out, depth);
        out.push_str(&scalar_string(k));
        out.push(':');
        let more = elided.filter(|(key, _)| key == k).map_or(0, |(_, n)| n);
        write_nested(out, v, depth, style, more);
    }
}

fn write_list(out: &mut String, a: &[Value], depth: usize, style: YamlStyle, more: usize) {
    let shown = style.max_array.map_or(a.len(), |n| a.len().min(n));
    for v in &a[..shown] {
        indent(out, depth);
        match v {
            Value::Object(m) if !m.is_empty() => {
                // `- first: 1` with the other keys under `first`.
                let mut item = String::new();
                write_map(&mut item, m, depth + 2, style, None);
                out.push_str("- ");
                out.push_str(&item[depth + 2..]);
            }
            _ => {
                out.push('-');
                write_nested(out, v, depth, style, 0);
            }
        }
    }
    let hidden = a.len() - shown + more;
    if hidden > 0 {
        indent(out, depth);
        let _ = writeln!(out, "# ... {hidden} more");
    }
}

/// Writes what follows `key:` or `-`; `more` elements of an array value
/// were dropped before printing.
fn write_nested(out: &mut String, v: &Value, depth: usize, style: YamlStyle, more: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, depth + 2, style, None);
        }
        Value::Array(a) if !a.is_empty() && !a.iter().all(is_scalar) => {
            out.push('\n');
            write_list(out, a, depth + 2, style, more);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other, style, more));
            out.push('\n');
        }
    }
}

/// A value on one line (flow style); `more` as in [`write_nested`].
fn inline(v: &Value, style: YamlStyle, more: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s),
        Value::Array(a) => {
            let shown = style.max_array.map_or(a.len(), |n| a.len().min(n));
            let mut items: Vec<String> = a[..shown].iter().map(|x| inline(x, style, 0)).collect();
            let hidden = a.len() - shown + more;
            if hidden > 0 {
                items.push(format!("... {hidden} more"));
            }
            format!("[{}]", items.join(", "))
        }
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, x)| format!("{}: {}", scalar_string(k), inline(x, style, 0)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// A string as a YAML scalar: plain when it reads back as the same string,
/// else JSON-quoted (which YAML accepts).
fn scalar_string(s: &str) -> String {
    let plain = !s.is_empty()
        && parse_plain(s) == Value::String(s.to_string())
        && s.trim() == s
        && !s.starts_with([
            '-', '[', '{', '"', '\'', '#', '&', '*', '!', '|', '>', '%', '@', '?',
        ])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains([',', '\n', '\t'])
        && !s.ends_with(':');
    if plain {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

/// The value at `path` (`pose.position.x`, `ranges.3` or `ranges[3]`).
pub fn field<'a>(value: &'a Value, path: &str) -> Result<&'a Value, String> {
    let mut at = value;
    let normalized = path.replace('[', ".").replace(']', "");
    let mut walked = String::new();
    for part in normalized.split('.').filter(|p| !p.is_empty()) {
        let next = match at {
            Value::Object(m) => m.get(part).ok_or_else(|| {
                let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                format!(
                    "no field `{part}` in {} (fields: {})",
                    if walked.is_empty() {
                        "the message"
                    } else {
                        &walked
                    },
                    keys.join(", ")
                )
            })?,
            Value::Array(a) => {
                let i: usize = part
                    .parse()
                    .map_err(|_| format!("`{walked}` is a list: index it with a number"))?;
                a.get(i)
                    .ok_or_else(|| format!("`{walked}` has {} elements, no index {i}", a.len()))?
            }
            _ => return Err(format!("`{walked}` is a single value, it has no `{part}`")),
        };
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(part);
        at = next;
    }
    Ok(at)
}

/// `bytes` as a hex dump, 16 per line with offsets and ASCII; at most
/// `limit` bytes, then a count of the rest.
pub fn hex_dump(bytes: &[u8], limit: Option<usize>) -> String {
    let shown = limit.map_or(bytes.len(), |n| bytes.len().min(n));
    let mut out = String::new();
    for (i, chunk) in bytes[..shown].chunks(16).enumerate() {
        let _ = write!(out, "{:08x} ", i * 16);
        for j in 0..16 {
            if j == 8 {
                out.push(' ');
            }
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(out, " {b:02x}");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
    }
    if shown < bytes.len() {
        let _ = writeln!(out, "# ... {} more bytes", bytes.len() - shown);
    }
    out
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Bytes with a binary unit: `512 B`, `1.5 KiB`, `8.0 MiB`.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[0])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Seconds with a readable unit: `850ns`, `4.998ms`, `1.250s`, `3h05m`.
pub fn seconds(s: f64) -> String {
    if s < 1e-6 {
        format!("{:.0}ns", s * 1e9)
    } else if s < 1e-3 {
        format!("{:.3}us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.3}ms", s * 1e3)
    } else if s < 120.0 {
        format!("{s:.3}s")
    } else if s < 7200.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else if s < 172800.0 {
        format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    } else {
        format!(
            "{}d{:02}h",
            (s / 86400.0) as u64,
            ((s % 86400.0) / 3600.0) as u64
        )
    }
}

/// Left-aligned columns under a header, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(c);
            let pad = widths[i].saturating_sub(c.chars().count());
            l.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

// ------------------------------------------------------------ reading

/// Reads JSON, or the YAML a person types on a command line: flow style
/// (`{linear: {x: 0.5}, angular: {z: 1}}`), block style (`key: value`
/// lines, nested by indentation, `- item` lists) and plain scalars. Not
/// supported: anchors, tags, multi-line strings, several documents.
///
/// Bounded: nesting deeper than [`MAX_DEPTH`] (brackets, braces or indented
/// blocks) is an error naming where, so no input can exhaust the stack; no
/// input makes it panic (it scans by characters, never slices inside one).
pub fn parse_yaml(input: &str) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_str::<Value>(input) {
        return Ok(v);
    }
    let lines: Vec<(usize, &str)> = input
        .lines()
        .map(strip_comment)
        .filter(|l| !l.trim().is_empty() && l.trim() != "---")
        .map(|l| (l.len() - l.trim_start().len(), l.trim_end()))
        .collect();
    if lines.is_empty() {
        return Ok(Value::Null);
    }
    if lines.len() == 1 && !is_block_line(lines[0].1.trim_start()) {
        return Flow::new(lines[0].1.trim()).parse_all();
    }
    let (v, used) = parse_block(&lines, 0, lines[0].0, 0)?;
    if used != lines.len() {
        return Err(format!(
            "unexpected indentation at `{}`",
            lines[used].1.trim()
        ));
    }
    Ok(v)
}

fn strip_comment(line: &str) -> &str {
    // A '#' starts a comment at the line start or after a space, outside quotes.
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return &line[..i],
            None => {}
        }
        prev = c;
    }
    line
}

fn is_block_line(l: &str) -> bool {
    l.starts_with("- ")
        || l == "-"
        || (!l.starts_with(['{', '[', '"', '\'']) && key_split(l).is_some())
}

/// `key: rest` of a block mapping line.
fn key_split(l: &str) -> Option<(String, &str)> {
    if let Some(q) = l.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let mut f = Flow::new(l);
        let key = f.quoted(q).ok()?;
        let rest = &l[f.pos..];
        let rest = rest.strip_prefix(':')?;
        return (rest.is_empty() || rest.starts_with(' ')).then(|| (key, rest.trim()));
    }
    let i = l
        .find(": ")
        .or_else(|| l.ends_with(':').then(|| l.len() - 1))?;
    Some((l[..i].trim().to_string(), l[i + 1..].trim()))
}

/// Parses the block at `lines[start..]` indented by `indent`; returns the
/// value and the index after it.
fn parse_block(
    lines: &[(usize, &str)],
    start: usize,
    indent: usize,
    depth: usize,
) -> Result<(Value, usize), String> {
    let first = lines[start].1.trim_start();
    if depth >= MAX_DEPTH {
        return Err(format!(
            "nesting deeper than {MAX_DEPTH} levels at line {} (`{}`)",
            start + 1,
            excerpt(first)
        ));
    }
    let depth = depth + 1;
    let is_list = first.starts_with("- ") || first == "-";
    let mut i = start;
    if is_list {
        let mut items = Vec::new();
        while i < lines.len() && lines[i].0 == indent {
            let l = lines[i].1.trim_start();
            let Some(rest) = l.strip_prefix('-') else {
                return Err(format!("expected a `- item` at `{l}`"));
            };
            let rest = rest.trim();
            i += 1;
            if rest.is_empty() {
                if i < lines.len() && lines[i].0 > indent {
                    let (v, next) = parse_block(lines, i, lines[i].0, depth)?;
                    items.push(v);
                    i = next;
                } else {
                    items.push(Value::Null);
                }
            } else if let Some((key, value)) =
                key_split(rest).filter(|_| !rest.starts_with(['{', '[']))
            {
                // `- key: value` starts a mapping whose further keys are
                // indented to where `key` starts.
                let inner = indent + (l.len() - rest.len());
                let mut m = Map::new();
                let (v, next) = block_value(lines, i, indent, value, depth)?;
                m.insert(key, v);
                i = next;
                if i < lines.len() && lines[i].0 == inner {
                    let (more, next) = parse_block(lines, i, inner, depth)?;
                    match more {
                        Value::Object(more) => m.extend(more),
                        _ => {
                            return Err(format!("expected `key: value` at `{}`", lines[i].1.trim()))
                        }
                    }
                    i = next;
                }
                items.push(Value::Object(m));
            } else {
                items.push(Flow::nested(rest, depth).parse_all()?);
            }
        }
        Ok((Value::Array(items), i))
    } else {
        let mut m = Map::new();
        while i < lines.len() && lines[i].0 == indent {
            let l = lines[i].1.trim_start();
            let (key, value) =
                key_split(l).ok_or_else(|| format!("expected `key: value` at `{l}`"))?;
            let (v, next) = block_value(lines, i + 1, indent, value, depth)?;
            if m.insert(key.clone(), v).is_some() {
                return Err(format!("`{key}` is given twice"));
            }
            i = next;
        }
        Ok((Value::Object(m), i))
    }
}

/// The value after `key:`: inline, or the block indented below it.
fn block_value(
    lines: &[(usize, &str)],
    next: usize,
    indent: usize,
    inline_text: &str,
    depth: usize,
) -> Result<(Value, usize), String> {
    if !inline_text.is_empty() {
        return Ok((Flow::nested(inline_text, depth).parse_all()?, next));
    }
    if next < lines.len() && lines[next].0 > indent {
        return parse_block(lines, next, lines[next].0, depth);
    }
    // A list may sit at the key's own indentation (`key:\n- a\n- b`).
    if next < lines.len() && lines[next].0 == indent && lines[next].1.trim_start().starts_with('-')
    {
        return parse_block(lines, next, indent, depth);
    }
    Ok((Value::Null, next))
}

/// A plain (unquoted) scalar: number, bool, null, or the string itself.
fn parse_plain(s: &str) -> Value {
    match s {
        "null" | "Null" | "NULL" | "~" | "" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::Number(i.into());
    }
    if let Ok(u) = s.parse::<u64>() {
        return Value::Number(u.into());
    }
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if let Ok(u) = u64::from_str_radix(h, 16) {
            return Value::Number(u.into());
        }
    }
    let looks_numeric = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && s.chars().any(|c| c.is_ascii_digit());
    if looks_numeric {
        if let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(s.to_string())
}

/// Deepest nesting [`parse_yaml`] reads: brackets and braces of flow style
/// and indented blocks together (a `topic pub` value of any axon-msgs type
/// needs fewer than 10).
pub const MAX_DEPTH: usize = 64;

/// At most 40 characters of `s`, for error messages (whole characters).
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// A recursive-descent reader of YAML flow style (a superset of JSON).
///
/// `pos` is a byte offset that only ever moves by whole characters
/// (`len_utf8`), so every `&s[pos..]` is on a character boundary.
struct Flow<'a> {
    s: &'a str,
    pos: usize,
    /// Open brackets and braces around `pos`, plus the block levels this
    /// text sits in; at most [`MAX_DEPTH`].
    depth: usize,
}

impl<'a> Flow<'a> {
    fn new(s: &'a str) -> Self {
        Self::nested(s, 0)
    }

    /// Flow text inside `depth` levels of block nesting.
    fn nested(s: &'a str, depth: usize) -> Self {
        Flow { s, pos: 0, depth }
    }

    fn parse_all(mut self) -> Result<Value, String> {
        let v = self.value(false)?;
        self.ws();
        if self.pos != self.s.len() {
            return Err(format!("unexpected `{}`", excerpt(self.rest())));
        }
        Ok(v)
    }

    /// What is left to read.
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    /// Enters a bracket or brace: an error past [`MAX_DEPTH`], naming the
    /// character position.
    fn enter(&mut self) -> Result<(), String> {
        if self.depth >= MAX_DEPTH {
            let column = self.s[..self.pos].chars().count() + 1;
            return Err(format!(
                "nesting deeper than {MAX_DEPTH} levels at character {column} (`{}`)",
                excerpt(self.rest())
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!(
                "expected `{c}` at `{}`",
                if self.pos < self.s.len() {
                    excerpt(self.rest())
                } else {
                    "the end".to_string()
                }
            ))
        }
    }

    /// A value; `nested` means inside `[]`/`{}`, where `,` `]` `}` end a plain scalar.
    fn value(&mut self, nested: bool) -> Result<Value, String> {
        self.ws();
        match self.peek() {
            Some('{') => {
                self.enter()?;
                let v = self.map();
                self.depth -= 1;
                v
            }
            Some('[') => {
                self.enter()?;
                let v = self.list();
                self.depth -= 1;
                v
            }
            Some(q @ ('"' | '\'')) => Ok(Value::String(self.quoted(q)?)),
            Some(_) => Ok(parse_plain(self.plain(nested, false).trim())),
            None => Err("a value is missing".into()),
        }
    }

    fn plain(&mut self, nested: bool, key: bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if (nested && matches!(c, ',' | ']' | '}'))
                || (key && c == ':' && self.rest()[1..].starts_with([' ', ',', '}', ']']))
                || (key && c == ':' && self.pos + 1 == self.s.len())
            {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }

    /// A quoted string starting at `pos`: `"..."` with JSON escapes, or
    /// `'...'` where `''` is a quote.
    fn quoted(&mut self, q: char) -> Result<String, String> {
        let start = self.pos;
        // `q` is one byte ('"' or '\''), so `start + 1` is a boundary.
        let rest = &self.s[start + 1..];
        let unterminated = || format!("unterminated string `{}`", excerpt(&self.s[start..]));
        if q == '"' {
            let mut escaped = false;
            for (i, c) in rest.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        let end = start + 1 + i;
                        let text = &self.s[start..=end];
                        let s: String = serde_json::from_str(text)
                            .map_err(|e| format!("bad string {text}: {e}"))?;
                        self.pos = end + 1;
                        return Ok(s);
                    }
                    _ => {}
                }
            }
            return Err(unterminated());
        }
        let mut out = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if let Some((_, '\'')) = chars.peek() {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                self.pos = start + 1 + i + 1;
                return Ok(out);
            }
            out.push(c);
        }
        Err(unterminated())
    }

    fn list(&mut self) -> Result<Value, String> {
        self.expect('[')?;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(true)?);
            self.ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(format!("expected `,` or `]` at `{}`", excerpt(self.rest()))),
            }
        }
    }

    fn map(&mut self) -> Result<Value, String> {
        self.expect('{')?;
        let mut m = Map::new();
        self.ws();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(Value::Object(m));
        }
        loop {
            self.ws();
            let key = match self.peek() {
                Some(q @ ('"' | '\'')) => self.quoted(q)?,
                _ => self.plain(true, true).trim().to_string(),
            };
            if key.is_empty() {
                return Err(format!("a key is missing at `{}`", excerpt(self.rest())));
            }
            self.expect(':')?;
            let v = self.value(true)?;
            if m.insert(key.clone(), v).is_some() {
                return Err(format!("`{key}` is given twice"));
            }
            self.ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    return Ok(Value::Object(m));
                }
                _ => {
                    return Err(format!(
                        "expected `,` or `}}` at `{}`",
                        excerpt(self.rest())
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FULL: YamlStyle = YamlStyle { max_array: None };

    #[test]
    fn yaml_reads_flow_block_and_json() {
        let want = json!({"linear": {"x": 0.5, "y": 0}, "angular": {"z": -1.25}});
        for text in [
            r#"{"linear": {"x": 0.5, "y": 0}, "angular": {"z": -1.25}}"#,
            "{linear: {x: 0.5, y: 0}, angular: {z: -1.25}}",
            "linear:\n  x: 0.5\n  y: 0\nangular:\n  z: -1.25\n",
            "linear: {x: 0.5, y: 0}   # comment\nangular: {z: -1.25}",
        ] {
            assert_eq!(parse_yaml(text).unwrap(), want, "{text}");
        }
        assert_eq!(
            parse_yaml("name: [a, 'b c', \"d\\\"e\"]\nflag: true\nnone: ~").unwrap(),
            json!({"name": ["a", "b c", "d\"e"], "flag": true, "none": null})
        );
        assert_eq!(
            parse_yaml("joints:\n  - name: a\n    pos: 1\n  - name: b\n    pos: 2").unwrap(),
            json!({"joints": [{"name": "a", "pos": 1}, {"name": "b", "pos": 2}]})
        );
        assert_eq!(
            parse_yaml("frame: base_link").unwrap(),
            json!({"frame": "base_link"})
        );
        assert_eq!(parse_yaml("3.5").unwrap(), json!(3.5));
        assert!(parse_yaml("{a: 1").is_err());
        assert!(parse_yaml("{a: 1, a: 2}").is_err());
        assert!(parse_yaml("a: 1\n   b: 2").is_err());
    }

    #[test]
    fn printed_yaml_reads_back() {
        let v = json!({
            "header": {"stamp": {"sec": 1, "nanosec": 2}, "frame_id": "odom"},
            "name": ["", "true", "a: b", "-x", "plain"],
            "points": [{"x": 1.5, "y": -2}, {"x": 0.0, "y": 1e-9}],
            "empty": {}, "none": [], "text": "hello world"
        });
        let text = to_yaml(&v, FULL);
        assert!(text.contains("header:\n  stamp:\n    sec: 1\n"), "{text}");
        assert!(text.contains("frame_id: odom\n"), "{text}");
        assert_eq!(parse_yaml(&text).unwrap(), v, "{text}");
    }

    #[test]
    fn long_arrays_are_shortened_only_when_asked() {
        let v = json!({"ranges": (0..100).collect::<Vec<_>>()});
        let short = to_yaml(&v, YamlStyle { max_array: Some(3) });
        assert_eq!(short, "ranges: [0, 1, 2, ... 97 more]\n");
        assert!(to_yaml(&v, FULL).contains("98, 99]"));
        let part = json!({"ranges": [0, 1], "points": [{"x": 1}]});
        let style = YamlStyle { max_array: Some(3) };
        assert_eq!(
            to_yaml_elided(&part, style, Some(("ranges", 98))),
            "ranges: [0, 1, ... 98 more]\npoints:\n  - x: 1\n"
        );
        assert_eq!(
            to_yaml_elided(&part, style, Some(("points", 5))),
            "ranges: [0, 1]\npoints:\n  - x: 1\n  # ... 5 more\n"
        );
    }

    #[test]
    fn field_paths() {
        let v = json!({"pose": {"position": {"x": 1.0}}, "ranges": [1, 2, 3]});
        assert_eq!(field(&v, "pose.position").unwrap(), &json!({"x": 1.0}));
        assert_eq!(field(&v, "ranges[2]").unwrap(), &json!(3));
        assert_eq!(field(&v, "ranges.0").unwrap(), &json!(1));
        assert!(field(&v, "pose.orientation")
            .unwrap_err()
            .contains("position"));
        assert!(field(&v, "ranges.9").unwrap_err().contains("3 elements"));
        assert!(field(&v, "pose.position.x.y").is_err());
    }

    #[test]
    fn hex_dump_and_units() {
        let d = hex_dump(b"axon\x00\x01 topic segment!!", Some(16));
        assert_eq!(
            d,
            "00000000  61 78 6f 6e 00 01 20 74  6f 70 69 63 20 73 65 67  |axon.. topic seg|\n# ... 6 more bytes\n"
        );
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(8.0 * 1024.0 * 1024.0), "8.0 MiB");
        assert_eq!(seconds(0.005), "5.000ms");
        assert_eq!(seconds(3725.0), "62m05s");
        assert_eq!(
            table(&["A", "BB"], &[vec!["xyz".into(), "1".into()]]),
            "A    BB\nxyz  1\n"
        );
    }
}
