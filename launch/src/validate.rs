//! Raw structs -> [`Plan`]: read files, expand includes, bind and substitute
//! args, resolve executables, check names, dependencies, remaps and wiring.
//!
//! Every check runs before anything starts; the first problem found is
//! returned as a [`LoadError`] carrying `file:line:col`.
//!
//! Args: a file declares `[launch] args = { name = default }`. The top-level
//! file's args are overridden from the command line (`speed=2.0`), an included
//! file's by its `include` entry. `${name}` in a string is replaced by the
//! arg's text; a string that is *exactly* `"${name}"` inside `params` takes
//! the arg's typed value (so `speed = "${speed}"` stays a float). `$$` is a
//! literal `$`. Overrides are coerced to the type of the declared default.
//!
//! **Bounds** (besides the reading bounds of [`crate::source`]), each
//! refused with `file:line:col` and a message naming the limit:
//! - includes nest at most [`MAX_INCLUDE_DEPTH`] (32) deep below the
//!   top-level file, and cycles are refused;
//! - at most [`MAX_FILES`] (1024) launch files are read for one launch,
//!   counting a file each time it is included;
//! - what `${name}` substitution inserts (arg texts, and typed copies
//!   counted by the memory they take) plus the environment copied into each
//!   included file and process is at most [`MAX_EXPANSION_BYTES`] (64 MiB)
//!   in all, and a substituted value nests
//!   at most [`MAX_NESTING`] deep: args doubled at each include level
//!   cannot grow exponentially;
//! - at most [`MAX_PROCESSES`] (10,000) nodes and links, [`MAX_TOPICS`]
//!   (65,536) `publishes`/`subscribes`/`serves`/`calls` entries, [`MAX_DECLARED_TOPICS`]
//!   (4096) `[topic]` declarations (each value range-checked here as a node
//!   will check it, so the file `launch` writes always fits what a node
//!   reads) and [`MAX_IMPORT_PATTERNS`] (1024) link and zenoh import patterns
//!   (a `[[zenoh]]` config file is read only to check it, at most
//!   1 MiB, `crate::zenoh::MAX_CONFIG_BYTES`); every check is `O(n log n)` in them (hash maps, a heap-ordered
//!   topological sort, an iterative cycle search that cannot overflow the
//!   stack).

use std::cell::Cell;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use crate::error::LoadError;
use crate::plan::*;
use crate::raw::*;
use crate::source::{
    check_nesting, read_launch_file, read_regular, Location, SourceFile, MAX_FILE_BYTES,
    MAX_NESTING, MAX_SECRET_BYTES, MAX_TOTAL_BYTES,
};
use crate::topic::resolve_topic;

/// The built-in command-line arg that sets the run time (`duration=10`).
pub const DURATION_ARG: &str = "duration";

/// What the command line adds to a launch file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `name=value` overrides of the top-level file's args.
    pub args: Vec<(String, String)>,
    /// Where bare `exec` names are looked for first (the `launch` binary's
    /// directory when `None`).
    pub exe_dir: Option<PathBuf>,
    /// Overrides `[launch] log_dir`.
    pub log_dir: Option<PathBuf>,
}

/// Deepest include chain below the top-level file.
pub const MAX_INCLUDE_DEPTH: usize = 32;
/// Most launch files read for one launch (the top-level file and each
/// include, a file included twice counting twice).
pub const MAX_FILES: usize = 1024;
/// Most bytes that arg substitution inserts and environment copies make,
/// over the whole launch.
pub const MAX_EXPANSION_BYTES: u64 = 64 << 20;
/// Most nodes and links in one launch.
pub const MAX_PROCESSES: usize = 10_000;
/// Most declared topics and services (`publishes`, `subscribes`, `serves`
/// and `calls` entries) in one launch.
pub const MAX_TOPICS: usize = 65_536;
/// Most `import` patterns of all `[[link]]`s and `[[zenoh]]`s together.
pub const MAX_IMPORT_PATTERNS: usize = 1024;
/// Most `[topic."/name"]` declarations in one launch (what a node reads).
pub const MAX_DECLARED_TOPICS: usize = axon::declared::MAX_DECLARED_TOPICS;

/// The args a file sees, and the launch-wide expansion budget they draw on.
#[derive(Debug, Clone)]
struct Args {
    values: BTreeMap<String, toml::Value>,
    /// Bytes left of [`MAX_EXPANSION_BYTES`] (shared by every file).
    budget: Rc<Cell<u64>>,
}

impl Args {
    fn new(budget: Rc<Cell<u64>>) -> Args {
        Args {
            values: BTreeMap::new(),
            budget,
        }
    }

    fn get(&self, name: &str) -> Option<&toml::Value> {
        self.values.get(name)
    }

    /// Takes `bytes` from the budget; `Err` once it is spent.
    fn charge(&self, bytes: usize) -> Result<(), SubstError> {
        let left = self.budget.get();
        match left.checked_sub(bytes as u64) {
            Some(rest) => {
                self.budget.set(rest);
                Ok(())
            }
            None => {
                self.budget.set(0);
                Err(SubstError::Budget)
            }
        }
    }
}

/// The message for a spent expansion budget.
const EXPANSION_MESSAGE: &str =
    "args and environment expand to more than 64 MiB in all (the limit for one launch)";
/// The message for nesting over [`MAX_NESTING`].
const NESTING_MESSAGE: &str = "values nested more than 64 deep (the limit for a launch file)";

/// Reads, expands and validates a launch file into a [`Plan`].
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Plan, LoadError> {
    let bytes = read_launch_file(path, MAX_TOTAL_BYTES).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_bytes(path, bytes, opts)
}

/// [`load`] for a top-level launch file already in memory: `bytes` are
/// taken as the contents of `path` (includes are read from disk, relative
/// to `path`'s directory). Every bound of [`load`] applies; the fuzzer
/// calls this.
pub fn load_bytes(path: &Path, bytes: Vec<u8>, opts: &LoadOptions) -> Result<Plan, LoadError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(LoadError::Read {
            path: path.to_path_buf(),
            source: crate::source::ReadError::TooLarge,
        });
    }
    let exe_dir = opts.exe_dir.clone().or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
    });
    let bytes_read = bytes.len() as u64;
    let top = decode(path, bytes, None)?;
    let raw = parse(&top)?;
    let budget = Rc::new(Cell::new(MAX_EXPANSION_BYTES));

    let mut duration_override = None;
    let mut cli = Vec::new();
    for (name, text) in &opts.args {
        if name == DURATION_ARG {
            let secs: f64 = text
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s > 0.0)
                .ok_or_else(|| LoadError::Invalid {
                    at: top.whole(),
                    message: format!("duration={text}: expected a positive number of seconds"),
                })?;
            duration_override = Some(Duration::from_secs_f64(secs));
        } else {
            cli.push((name.clone(), Given::Text(text.clone()), top.whole()));
        }
    }
    let args = bind_args(&top, &raw.launch.args, cli, &budget)?;

    let l = &raw.launch;
    let grace = match &l.grace {
        Some(s) => duration(&top, s, &args)?,
        None => DEFAULT_GRACE,
    };
    let duration = match (duration_override, &l.duration) {
        (Some(d), _) => Some(d),
        (None, Some(s)) => Some(duration(&top, s, &args)?),
        (None, None) => None,
    };
    let log_dir = match (&opts.log_dir, &l.log_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(s)) => top.dir().join(subst(&top, s, &args)?),
        (None, None) => top.dir().join("log"),
    };
    let domain = l
        .domain
        .as_ref()
        .map(|s| subst(&top, s, &args))
        .transpose()?;

    let mut loader = Loader {
        exe_dir,
        stack: Vec::new(),
        files_read: 1,
        bytes_read,
        topics: 0,
        nodes: Vec::new(),
        names: HashMap::new(),
        external: Vec::new(),
        imports: Vec::new(),
        declared: Vec::new(),
        declared_index: HashMap::new(),
    };
    loader.add_file(top, raw, args, Vec::new())?;
    let Loader {
        mut nodes,
        external,
        imports,
        declared,
        ..
    } = loader;

    ready_types(&mut nodes, &declared)?;
    let processes = order(nodes)?;
    check_wiring(&processes, &external, &imports)?;
    check_declared_types(&processes, &declared)?;
    Ok(Plan {
        file: path.to_path_buf(),
        settings: Settings {
            grace,
            log_dir,
            duration,
            domain,
            external: external.into_iter().map(|(t, _)| t).collect(),
            topics: declared,
        },
        processes,
    })
}

/// Bytes -> a [`SourceFile`], or the position of the first byte that is not
/// UTF-8 (and the include entry that named the file).
fn decode(
    path: &Path,
    bytes: Vec<u8>,
    included_at: Option<&Location>,
) -> Result<SourceFile, LoadError> {
    SourceFile::from_bytes(path, bytes).map_err(|at| LoadError::InvalidUtf8 {
        at,
        included_at: included_at.cloned(),
    })
}

fn parse(src: &SourceFile) -> Result<RawFile, LoadError> {
    if let Err(offset) = check_nesting(&src.text) {
        return Err(invalid(src, offset..offset, NESTING_MESSAGE));
    }
    toml::from_str(&src.text).map_err(|e| LoadError::Parse {
        at: match e.span() {
            Some(span) => src.location(span),
            None => src.whole(),
        },
        message: e.message().trim_end().to_owned(),
    })
}

fn invalid(
    src: &SourceFile,
    span: std::ops::Range<usize>,
    message: impl Into<String>,
) -> LoadError {
    LoadError::Invalid {
        at: src.location(span),
        message: message.into(),
    }
}

/// A node collected from some file, before ordering.
struct Collected {
    spec: ProcessSpec,
    deps: Vec<(String, Location)>,
    /// Where `ready.type` was written, if it was.
    ready_type_at: Option<Location>,
}

struct Loader {
    exe_dir: Option<PathBuf>,
    /// Canonical and shown paths of the files being included (cycle check,
    /// depth bound, the chain in messages).
    stack: Vec<(PathBuf, Arc<Path>)>,
    /// Launch files read so far (bounded by [`MAX_FILES`]).
    files_read: usize,
    /// Bytes read so far (bounded by [`MAX_TOTAL_BYTES`]).
    bytes_read: u64,
    /// Topics declared so far (bounded by [`MAX_TOPICS`]).
    topics: usize,
    nodes: Vec<Collected>,
    names: HashMap<String, Location>,
    external: Vec<(String, Location)>,
    /// Import patterns of every `[[link]]`: their topics come from a peer.
    imports: Vec<axon::link::Pattern>,
    /// `[topic."/name"]` declarations, in file order.
    declared: Vec<DeclaredTopic>,
    /// Resolved name -> index in `declared`.
    declared_index: HashMap<String, usize>,
}

enum Given {
    Text(String),
    Value(toml::Value),
}

/// Binds declared args to their defaults and applies overrides.
fn bind_args(
    src: &SourceFile,
    declared: &SpannedMap<toml::Value>,
    overrides: Vec<(String, Given, Location)>,
    budget: &Rc<Cell<u64>>,
) -> Result<Args, LoadError> {
    let mut args = Args::new(Rc::clone(budget));
    for (name, default) in declared {
        if name.get_ref() == DURATION_ARG {
            return Err(invalid(
                src,
                name.span(),
                "`duration` is a built-in arg (the run time in seconds) and cannot be declared",
            ));
        }
        args.values
            .insert(name.get_ref().clone(), default.get_ref().clone());
    }
    for (name, given, at) in overrides {
        let Some(default) = args.get(&name) else {
            let declared: Vec<&str> = declared.keys().map(|k| k.get_ref().as_str()).collect();
            return Err(LoadError::UnknownArg {
                at,
                name,
                declared: if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                },
            });
        };
        let value = coerce(default, given).map_err(|message| LoadError::Invalid {
            at,
            message: format!("arg `{name}`: {message}"),
        })?;
        args.values.insert(name, value);
    }
    Ok(args)
}

/// Makes an override take the type of the declared default.
fn coerce(default: &toml::Value, given: Given) -> Result<toml::Value, String> {
    use toml::Value as V;
    let value = match given {
        Given::Text(t) if matches!(default, V::String(_)) => return Ok(V::String(t)),
        Given::Text(t) => parse_text(default, t)?,
        Given::Value(V::String(t)) if !matches!(default, V::String(_)) => parse_text(default, t)?,
        Given::Value(v) => v,
    };
    match (default, value) {
        (V::Float(_), V::Integer(i)) => Ok(V::Float(i as f64)),
        (d, v) if d.same_type(&v) => Ok(v),
        (V::String(_), v) => Ok(V::String(value_text(&v))),
        (d, v) => Err(format!(
            "expected a {}, got a {}",
            d.type_str(),
            v.type_str()
        )),
    }
}

fn parse_text(default: &toml::Value, t: String) -> Result<toml::Value, String> {
    t.parse::<toml::Value>()
        .map_err(|_| format!("`{t}` is not a {}", default.type_str()))
}

/// The text an arg value substitutes into a string.
fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Why a substitution failed.
#[derive(Debug, PartialEq, Eq)]
enum SubstError {
    /// `${` without `}`.
    Unterminated,
    /// `${name}` of an undeclared arg.
    Undefined(String),
    /// The expansion budget is spent.
    Budget,
    /// A typed copy would nest deeper than [`MAX_NESTING`].
    TooDeep,
}

/// Replaces `${name}` by the arg's text; `$$` is a literal `$`. What is
/// inserted is charged to the args' expansion budget.
fn subst_str(s: &str, args: &Args) -> Result<String, SubstError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r.find('}').ok_or(SubstError::Unterminated)?;
            let name = &r[..end];
            let v = args
                .get(name)
                .ok_or_else(|| SubstError::Undefined(name.to_owned()))?;
            match v {
                toml::Value::String(text) => {
                    args.charge(text.len())?;
                    out.push_str(text);
                }
                other => {
                    let text = other.to_string();
                    args.charge(text.len())?;
                    out.push_str(&text);
                }
            }
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// (bytes, depth) of a value: about the memory a copy takes (each value's
/// own size, its string and key bytes, a map entry's overhead), and how
/// deeply it nests (a scalar is 0).
fn measure(v: &toml::Value) -> (usize, usize) {
    use toml::Value as V;
    const VALUE: usize = std::mem::size_of::<toml::Value>();
    /// A map entry's key `String` and tree overhead, roughly.
    const ENTRY: usize = 64;
    match v {
        V::String(s) => (VALUE + s.len(), 0),
        V::Array(a) => a.iter().fold((VALUE, 1), |(b, d), x| {
            let (xb, xd) = measure(x);
            (b.saturating_add(xb), d.max(xd + 1))
        }),
        V::Table(t) => t.iter().fold((VALUE, 1), |(b, d), (k, x)| {
            let (xb, xd) = measure(x);
            (b.saturating_add(ENTRY + k.len() + xb), d.max(xd + 1))
        }),
        _ => (VALUE, 0),
    }
}

fn subst_error(at: Location, e: SubstError) -> LoadError {
    match e {
        SubstError::Unterminated => LoadError::Invalid {
            at,
            message: "unterminated `${`".to_owned(),
        },
        SubstError::Undefined(name) => LoadError::UndefinedArg { at, name },
        SubstError::Budget => LoadError::Invalid {
            at,
            message: EXPANSION_MESSAGE.to_owned(),
        },
        SubstError::TooDeep => LoadError::Invalid {
            at,
            message: NESTING_MESSAGE.to_owned(),
        },
    }
}

fn subst_at(s: &str, at: Location, args: &Args) -> Result<String, LoadError> {
    subst_str(s, args).map_err(|e| subst_error(at, e))
}

fn subst(src: &SourceFile, s: &Spanned<String>, args: &Args) -> Result<String, LoadError> {
    subst_str(s.get_ref(), args).map_err(|e| subst_error(src.location(s.span()), e))
}

/// Substitutes args through a params value; an exact `"${name}"` keeps the
/// arg's type. The result nests at most [`MAX_NESTING`] deep.
fn subst_value(v: &toml::Value, at: &Location, args: &Args) -> Result<toml::Value, LoadError> {
    subst_value_at(v, 0, args).map_err(|e| subst_error(at.clone(), e))
}

fn subst_value_at(v: &toml::Value, depth: usize, args: &Args) -> Result<toml::Value, SubstError> {
    use toml::Value as V;
    if depth > MAX_NESTING {
        return Err(SubstError::TooDeep);
    }
    Ok(match v {
        V::String(s) => {
            let exact = s
                .strip_prefix("${")
                .and_then(|r| r.strip_suffix('}'))
                .filter(|n| !n.contains('}'));
            match exact.and_then(|n| args.get(n)) {
                Some(typed) => {
                    let (bytes, d) = measure(typed);
                    if depth + d > MAX_NESTING {
                        return Err(SubstError::TooDeep);
                    }
                    args.charge(bytes)?;
                    typed.clone()
                }
                None => V::String(subst_str(s, args)?),
            }
        }
        V::Array(a) => V::Array(
            a.iter()
                .map(|x| subst_value_at(x, depth + 1, args))
                .collect::<Result<_, _>>()?,
        ),
        V::Table(t) => V::Table(
            t.iter()
                .map(|(k, x)| Ok((k.clone(), subst_value_at(x, depth + 1, args)?)))
                .collect::<Result<_, SubstError>>()?,
        ),
        other => other.clone(),
    })
}

/// Charges a copy of `env` to the expansion budget (its strings and pairs).
fn charge_env(env: &[(String, String)], at: &Location, args: &Args) -> Result<(), LoadError> {
    const PAIR: usize = std::mem::size_of::<(String, String)>();
    let bytes = env.iter().map(|(k, v)| PAIR + k.len() + v.len()).sum();
    args.charge(bytes).map_err(|e| subst_error(at.clone(), e))
}

/// TOML -> JSON (datetimes become strings).
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    use toml::Value as V;
    match v {
        V::String(s) => J::String(s.clone()),
        V::Integer(i) => J::from(*i),
        V::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        V::Boolean(b) => J::Bool(*b),
        V::Datetime(d) => J::String(d.to_string()),
        V::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        V::Table(t) => J::Object(
            t.iter()
                .map(|(k, x)| (k.clone(), toml_to_json(x)))
                .collect(),
        ),
    }
}

/// Parses `"500ms"`, `"2s"`, `"1.5s"`, `"1m"`, `"1h"`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    // One spelling: no spaces ("5 s" is refused by name in `duration`).
    if s.contains(char::is_whitespace) {
        return None;
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

fn duration(src: &SourceFile, s: &Spanned<String>, args: &Args) -> Result<Duration, LoadError> {
    let text = subst(src, s, args)?;
    parse_duration(&text).ok_or_else(|| {
        let spaces = if text.contains(char::is_whitespace) {
            " (no spaces: write the number and the unit together)"
        } else {
            ""
        };
        invalid(
            src,
            s.span(),
            format!(
                "`{text}` is not a duration{spaces}; use e.g. \"500ms\", \"2s\", \"1.5s\", \"1m\""
            ),
        )
    })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn valid_topic(s: &str) -> bool {
    !s.is_empty() && !s.contains([';', '=', ' ']) && !s.ends_with('/') && !s.contains("//")
}

impl Loader {
    fn add_file(
        &mut self,
        src: SourceFile,
        raw: RawFile,
        args: Args,
        mut env: Vec<(String, String)>,
    ) -> Result<(), LoadError> {
        let canonical = std::fs::canonicalize(&src.path).unwrap_or_else(|_| src.path.to_path_buf());
        self.stack.push((canonical, Arc::clone(&src.path)));
        let l = &raw.launch;
        if self.stack.len() > 1 {
            for (key, span) in [
                ("grace", l.grace.as_ref().map(Spanned::span)),
                ("log_dir", l.log_dir.as_ref().map(Spanned::span)),
                ("duration", l.duration.as_ref().map(Spanned::span)),
                ("domain", l.domain.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    return Err(invalid(
                        &src,
                        span,
                        format!("`{key}` may only be set in the top-level launch file"),
                    ));
                }
            }
        }
        for (k, v) in &l.env {
            env.push((k.get_ref().clone(), subst(&src, v, &args)?));
        }
        for t in &l.external {
            let name = subst(&src, t, &args)?;
            if !valid_topic(&name) {
                return Err(invalid(
                    &src,
                    t.span(),
                    format!("`{name}` is not a topic name"),
                ));
            }
            let name = resolve_topic(&name, None, &[]);
            self.external.push((name, src.location(t.span())));
        }
        for (name, t) in &raw.topic {
            self.add_topic(&src, name, t, &args)?;
        }
        for node in &raw.node {
            self.add_node(&src, node, &args, &env)?;
        }
        for link in &raw.link {
            self.add_link(&src, link, &args, &env)?;
        }
        for rec in &raw.record {
            self.add_record(&src, rec, &args, &env)?;
        }
        for z in &raw.zenoh {
            self.add_zenoh(&src, z, &args, &env)?;
        }
        for inc in &l.include {
            let at = src.location(inc.span());
            let file = subst_at(&inc.get_ref().file, at.clone(), &args)?;
            let path = src.dir().join(&file);
            let (child, child_raw) = self.read_include(&at, &path)?;
            let mut overrides = Vec::new();
            for (k, v) in &inc.get_ref().args {
                let vat = src.location(v.span());
                let value = subst_value(v.get_ref(), &vat, &args)?;
                overrides.push((
                    k.get_ref().clone(),
                    Given::Value(value),
                    src.location(k.span()),
                ));
            }
            let child_args = bind_args(&child, &child_raw.launch.args, overrides, &args.budget)?;
            charge_env(&env, &at, &args)?;
            self.add_file(child, child_raw, child_args, env.clone())?;
        }
        self.stack.pop();
        Ok(())
    }

    /// Reads and parses the file an include entry at `at` names, within the
    /// include depth, file count and byte bounds; every refusal names `at`.
    fn read_include(
        &mut self,
        at: &Location,
        path: &Path,
    ) -> Result<(SourceFile, RawFile), LoadError> {
        let refuse = |problem: String| LoadError::Include {
            at: at.clone(),
            path: path.to_path_buf(),
            problem,
        };
        // The top-level file is depth 0; the child would be this deep.
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            let mut chain: Vec<String> = self
                .stack
                .iter()
                .map(|(_, shown)| shown.display().to_string())
                .collect();
            chain.push(path.display().to_string());
            let shown = if chain.len() > 6 {
                let tail = chain.split_off(chain.len() - 3);
                chain.truncate(3);
                chain.push("...".to_owned());
                chain.extend(tail);
                chain
            } else {
                chain
            };
            return Err(refuse(format!(
                "includes nested more than {MAX_INCLUDE_DEPTH} deep ({})",
                shown.join(" -> ")
            )));
        }
        let canonical = std::fs::canonicalize(path).map_err(|e| refuse(e.to_string()))?;
        if self.stack.iter().any(|(c, _)| *c == canonical) {
            return Err(LoadError::IncludeCycle {
                at: at.clone(),
                path: path.to_path_buf(),
            });
        }
        if self.files_read >= MAX_FILES {
            return Err(refuse(format!(
                "more than {MAX_FILES} launch files read (the limit for one launch)"
            )));
        }
        let bytes = read_launch_file(path, MAX_TOTAL_BYTES - self.bytes_read)
            .map_err(|e| refuse(e.to_string()))?;
        self.files_read += 1;
        self.bytes_read += bytes.len() as u64;
        let child = decode(path, bytes, Some(at))?;
        let raw = parse(&child)?;
        Ok((child, raw))
    }

    /// One `[topic."/name"]` table: the name absolute and valid, declared
    /// once in the whole launch, every value in range (each refusal at its
    /// `file:line:col`).
    fn add_topic(
        &mut self,
        src: &SourceFile,
        key: &Spanned<String>,
        t: &Spanned<RawTopic>,
        args: &Args,
    ) -> Result<(), LoadError> {
        let here = src.location(key.span());
        let name = subst_at(key.get_ref(), here.clone(), args)?;
        if !name.starts_with('/') {
            return Err(invalid(
                src,
                key.span(),
                format!(
                    "`[topic.\"{name}\"]`: declarations are by the resolved topic name, which \
                     starts with `/` (after a node's namespace and remaps, e.g. `/robot1/{name}`)"
                ),
            ));
        }
        if let Err(e) = axon::TopicName::new(&name) {
            return Err(invalid(
                src,
                key.span(),
                format!("`[topic.\"{name}\"]`: {}", e.reason),
            ));
        }
        if let Some(&first) = self.declared_index.get(&name) {
            return Err(invalid(
                src,
                key.span(),
                format!(
                    "topic `{name}` is declared twice (first at {})",
                    self.declared[first].at
                ),
            ));
        }
        if self.declared.len() >= MAX_DECLARED_TOPICS {
            return Err(invalid(
                src,
                key.span(),
                format!(
                    "more than {MAX_DECLARED_TOPICS} `[topic]` declarations (the limit for one launch)"
                ),
            ));
        }
        let raw = t.get_ref();
        let number = |v: &Option<Spanned<toml::Value>>, what: &str, hi: u64| {
            v.as_ref()
                .map(|v| declared_number(src, v, args, what, hi))
                .transpose()
        };
        let choice = |v: &Option<Spanned<String>>, what: &str, options: [&str; 2]| {
            v.as_ref()
                .map(|v| {
                    let text = subst(src, v, args)?;
                    if options.contains(&text.as_str()) {
                        Ok(text)
                    } else {
                        Err(invalid(
                            src,
                            v.span(),
                            format!(
                                "`{what}` is `{text}`: expected \"{}\" or \"{}\"",
                                options[0], options[1]
                            ),
                        ))
                    }
                })
                .transpose()
        };
        let type_name = match &raw.ty {
            Some(ty) => {
                let text = subst(src, ty, args)?;
                axon::declared::check_type_name(&text)
                    .map_err(|e| invalid(src, ty.span(), format!("`type`: {e}")))?;
                Some(text)
            }
            None => None,
        };
        // What a node shows in messages: no control characters (a path may
        // have them), and the end of a long path (the file name, line:col).
        let mut at: String = here
            .to_string()
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        if at.len() > axon::declared::MAX_DECLARED_AT_LEN {
            // Keep the end: the file name and line:col.
            let mut cut = at.len() - axon::declared::MAX_DECLARED_AT_LEN + 3;
            while !at.is_char_boundary(cut) {
                cut += 1;
            }
            at = format!("...{}", &at[cut..]);
        }
        let decl = axon::TopicDecl {
            type_name,
            history: number(&raw.history, "history", axon::layout::MAX_DEPTH as u64)?
                .map(|n| n as u32),
            max_len: number(&raw.max_len, "max_len", u32::MAX as u64)?,
            reliability: choice(&raw.reliability, "reliability", ["best-effort", "reliable"])?.map(
                |r| {
                    if r == "reliable" {
                        axon::Reliability::Reliable
                    } else {
                        axon::Reliability::BestEffort
                    }
                },
            ),
            durability: choice(
                &raw.durability,
                "durability",
                ["volatile", "transient-local"],
            )?
            .map(|d| {
                if d == "transient-local" {
                    axon::Durability::TransientLocal
                } else {
                    axon::Durability::Volatile
                }
            }),
            max_publishers: number(
                &raw.max_publishers,
                "max_publishers",
                axon::layout::MAX_PUBLISHERS as u64,
            )?
            .map(|n| n as u32),
            max_subscribers: number(
                &raw.max_subscribers,
                "max_subscribers",
                axon::layout::MAX_SUBSCRIBERS as u64,
            )?
            .map(|n| n as u32),
            declared_at: Some(at),
        };
        // What a node will check when it reads the file: refused here first.
        decl.check()
            .map_err(|e| invalid(src, t.span(), format!("topic `{name}`: {e}")))?;
        self.declared_index
            .insert(name.clone(), self.declared.len());
        self.declared.push(DeclaredTopic {
            name,
            decl,
            at: here,
        });
        Ok(())
    }

    /// Records `name` as a process defined at `here`; a second node or link
    /// of the same name is refused, pointing at the first, and so is one
    /// process more than [`MAX_PROCESSES`].
    fn claim_name(&mut self, name: &str, here: &Location) -> Result<(), LoadError> {
        if self.names.len() >= MAX_PROCESSES {
            return Err(LoadError::Invalid {
                at: here.clone(),
                message: format!(
                    "more than {MAX_PROCESSES} nodes and links (the limit for one launch)"
                ),
            });
        }
        if let Some(first) = self.names.get(name) {
            return Err(LoadError::DuplicateNode {
                at: here.clone(),
                name: name.to_owned(),
                first: first.clone(),
            });
        }
        self.names.insert(name.to_owned(), here.clone());
        Ok(())
    }

    fn add_link(
        &mut self,
        src: &SourceFile,
        l: &RawLink,
        args: &Args,
        launch_env: &[(String, String)],
    ) -> Result<(), LoadError> {
        use axon::link::{Address, Mode, Pattern};
        let name = subst(src, &l.name, args)?;
        if axon::names::validate_node_name(&name).is_err() || !valid_name(&name) {
            return Err(invalid(
                src,
                l.name.span(),
                format!("link name `{name}` must be non-empty ASCII letters, digits, `_` or `-`"),
            ));
        }
        let here = src.location(l.name.span());
        self.claim_name(&name, &here)?;
        let transport = subst(src, &l.transport, args)?;
        let (verb, at) = match (&l.listen, &l.connect) {
            (Some(a), None) => (true, a),
            (None, Some(a)) => (false, a),
            _ => {
                return Err(invalid(
                    src,
                    l.name.span(),
                    format!("link `{name}` needs exactly one of `listen` and `connect`"),
                ))
            }
        };
        let addr_text = subst(src, at, args)?;
        if addr_text.is_empty() {
            return Err(invalid(src, at.span(), "the link address is empty"));
        }
        let address = match transport.as_str() {
            "tcp" => {
                if !verb && !addr_text.contains(':') {
                    return Err(invalid(
                        src,
                        at.span(),
                        format!("`connect = \"{addr_text}\"`: expected host:port"),
                    ));
                }
                Address::Tcp(addr_text)
            }
            "unix" => Address::Unix(src.dir().join(addr_text)),
            other => {
                return Err(invalid(
                    src,
                    l.transport.span(),
                    format!("transport `{other}`: expected \"tcp\" or \"unix\""),
                ))
            }
        };
        let mode = if verb {
            Mode::Listen(address)
        } else {
            Mode::Connect(address)
        };
        let patterns = |list: &[Spanned<String>]| -> Result<Vec<String>, LoadError> {
            list.iter()
                .map(|p| {
                    let text = subst(src, p, args)?;
                    Pattern::new(&text).map_err(|e| invalid(src, p.span(), e))?;
                    Ok(text)
                })
                .collect()
        };
        let export = patterns(&l.export)?;
        let import = patterns(&l.import)?;
        let reliable = patterns(&l.reliable)?;
        if export.is_empty() && import.is_empty() {
            return Err(invalid(
                src,
                l.name.span(),
                format!("link `{name}` neither exports nor imports a topic"),
            ));
        }
        if self.imports.len() + import.len() > MAX_IMPORT_PATTERNS {
            return Err(invalid(
                src,
                l.name.span(),
                format!(
                    "more than {MAX_IMPORT_PATTERNS} link import patterns in all (the limit for one launch)"
                ),
            ));
        }
        for p in &import {
            if let Ok(p) = Pattern::new(p) {
                self.imports.push(p);
            }
        }
        let secret_file = match &l.secret_file {
            Some(f) => {
                let path = src.dir().join(subst(src, f, args)?);
                // Read as `axon-link` will (bounded, regular files only), so a
                // FIFO or device is refused here, with its position.
                if let Err(e) = read_regular(&path, MAX_SECRET_BYTES) {
                    return Err(invalid(
                        src,
                        f.span(),
                        format!("cannot read the secret file {}: {e}", path.display()),
                    ));
                }
                Some(path)
            }
            None => None,
        };
        let domain = match &l.domain {
            Some(d) => {
                let text = subst(src, d, args)?;
                axon::Domain::new("/dev/shm", &text)
                    .map_err(|e| invalid(src, d.span(), e.to_string()))?;
                Some(text)
            }
            None => None,
        };
        let heartbeat = l
            .heartbeat
            .as_ref()
            .map(|d| duration(src, d, args))
            .transpose()?;
        let dead_after = l
            .dead_after
            .as_ref()
            .map(|d| duration(src, d, args))
            .transpose()?;
        let hb = heartbeat.unwrap_or(axon::link::Timing::default().heartbeat);
        let dead = dead_after.unwrap_or(axon::link::Timing::default().dead_after);
        if hb.is_zero() || hb >= dead {
            return Err(invalid(
                src,
                l.name.span(),
                format!("link `{name}`: heartbeat {hb:?} must be above zero and shorter than dead_after {dead:?}"),
            ));
        }
        let program = resolve_exec(crate::link::LINK_EXEC, src.dir(), self.exe_dir.as_deref())
            .map_err(|hint| LoadError::MissingExecutable {
                at: here.clone(),
                exec: crate::link::LINK_EXEC.to_owned(),
                hint,
            })?;
        let spec = crate::link::LinkSpec {
            mode,
            export,
            import,
            reliable,
            secret_file,
            domain,
            heartbeat,
            dead_after,
        };
        let always = Respawn {
            policy: Policy::Always,
            max_restarts: u32::MAX,
            backoff: DEFAULT_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        };
        let deps = depends_on(src, &l.depends_on, args)?;
        charge_env(launch_env, &here, args)?;
        self.nodes.push(Collected {
            spec: ProcessSpec {
                args: crate::link::to_args(&name, &spec),
                name,
                defined_at: here,
                program,
                env: launch_env.to_vec(),
                respawn: respawn(src, l.respawn.as_ref(), args, always)?,
                depends_on: Vec::new(),
                ready: None,
                cpu: None,
                priority: None,
                required: l.required,
                kind: ProcessKind::Link(spec),
            },
            deps,
            ready_type_at: None,
        });
        Ok(())
    }

    /// A `[[zenoh]]` table: an `axon-zenoh` gateway (beside the launcher or
    /// on `$PATH`), supervised like a link; every setting checked here with
    /// its position, the Zenoh config file only for being a readable regular
    /// file (Zenoh reads it).
    fn add_zenoh(
        &mut self,
        src: &SourceFile,
        z: &RawZenoh,
        args: &Args,
        launch_env: &[(String, String)],
    ) -> Result<(), LoadError> {
        use axon::link::Pattern;
        let name = subst(src, &z.name, args)?;
        if axon::names::validate_node_name(&name).is_err() || !valid_name(&name) {
            return Err(invalid(
                src,
                z.name.span(),
                format!("zenoh name `{name}` must be non-empty ASCII letters, digits, `_` or `-`"),
            ));
        }
        let here = src.location(z.name.span());
        self.claim_name(&name, &here)?;
        let patterns = |list: &[Spanned<String>]| -> Result<Vec<String>, LoadError> {
            list.iter()
                .map(|p| {
                    let text = subst(src, p, args)?;
                    Pattern::new(&text).map_err(|e| invalid(src, p.span(), e))?;
                    Ok(text)
                })
                .collect()
        };
        let export = patterns(&z.export)?;
        let import = patterns(&z.import)?;
        let reliable = patterns(&z.reliable)?;
        let ros2_export = patterns(&z.ros2_export)?;
        let ros2_import = patterns(&z.ros2_import)?;
        let ros_domain = match &z.ros_domain {
            None => None,
            Some(d) => match u32::try_from(*d.get_ref()) {
                Ok(v) if v <= crate::zenoh::MAX_ROS_DOMAIN => Some(v),
                _ => {
                    return Err(invalid(
                        src,
                        d.span(),
                        format!(
                            "`ros_domain` is a ROS domain id from 0 to {}, not {}",
                            crate::zenoh::MAX_ROS_DOMAIN,
                            d.get_ref()
                        ),
                    ))
                }
            },
        };
        if export.is_empty()
            && import.is_empty()
            && ros2_export.is_empty()
            && ros2_import.is_empty()
            && z.config.is_none()
        {
            return Err(invalid(
                src,
                z.name.span(),
                format!(
                    "zenoh `{name}` neither exports nor imports a topic \
                     (a gateway that only routes Zenoh needs its `config`)"
                ),
            ));
        }
        // ROS 2 imports publish here too: both lists count as publishers
        // for the wiring check.
        if self.imports.len() + import.len() + ros2_import.len() > MAX_IMPORT_PATTERNS {
            return Err(invalid(
                src,
                z.name.span(),
                format!(
                    "more than {MAX_IMPORT_PATTERNS} link import patterns in all (the limit for one launch)"
                ),
            ));
        }
        for p in import.iter().chain(&ros2_import) {
            if let Ok(p) = Pattern::new(p) {
                self.imports.push(p);
            }
        }
        let config = match &z.config {
            Some(f) => {
                let path = src.dir().join(subst(src, f, args)?);
                if let Err(e) = read_regular(&path, crate::zenoh::MAX_CONFIG_BYTES) {
                    return Err(invalid(
                        src,
                        f.span(),
                        format!("cannot read the Zenoh config {}: {e}", path.display()),
                    ));
                }
                Some(path)
            }
            None => None,
        };
        let zenoh_domain = match &z.zenoh_domain {
            Some(d) => {
                let text = subst(src, d, args)?;
                if !crate::zenoh::valid_zenoh_domain(&text) {
                    return Err(invalid(
                        src,
                        d.span(),
                        format!(
                            "zenoh_domain `{text}`: expected 1 to 64 ASCII letters, digits, `_`, `-` or `.`"
                        ),
                    ));
                }
                Some(text)
            }
            None => None,
        };
        let domain = match &z.domain {
            Some(d) => {
                let text = subst(src, d, args)?;
                axon::Domain::new("/dev/shm", &text)
                    .map_err(|e| invalid(src, d.span(), e.to_string()))?;
                Some(text)
            }
            None => None,
        };
        let program = resolve_exec(crate::zenoh::ZENOH_EXEC, src.dir(), self.exe_dir.as_deref())
            .map_err(|hint| LoadError::MissingExecutable {
                at: here.clone(),
                exec: crate::zenoh::ZENOH_EXEC.to_owned(),
                hint,
            })?;
        let spec = crate::zenoh::ZenohSpec {
            config,
            zenoh_domain,
            domain,
            export,
            import,
            reliable,
            ros2_export,
            ros2_import,
            ros_domain,
        };
        let always = Respawn {
            policy: Policy::Always,
            max_restarts: u32::MAX,
            backoff: DEFAULT_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        };
        let deps = depends_on(src, &z.depends_on, args)?;
        charge_env(launch_env, &here, args)?;
        self.nodes.push(Collected {
            spec: ProcessSpec {
                args: crate::zenoh::to_args(&name, &spec),
                name,
                defined_at: here,
                program,
                env: launch_env.to_vec(),
                respawn: respawn(src, z.respawn.as_ref(), args, always)?,
                depends_on: Vec::new(),
                ready: None,
                cpu: None,
                priority: None,
                required: z.required,
                kind: ProcessKind::Zenoh(spec),
            },
            deps,
            ready_type_at: None,
        });
        Ok(())
    }

    /// A `[[record]]` table: an `axon bag record` process (the `axon`
    /// executable beside the launcher or on `$PATH`), every setting checked
    /// here with its position.
    fn add_record(
        &mut self,
        src: &SourceFile,
        r: &RawRecord,
        args: &Args,
        launch_env: &[(String, String)],
    ) -> Result<(), LoadError> {
        let name = subst(src, &r.name, args)?;
        if axon::names::validate_node_name(&name).is_err() || !valid_name(&name) {
            return Err(invalid(
                src,
                r.name.span(),
                format!("record name `{name}` must be non-empty ASCII letters, digits, `_` or `-`"),
            ));
        }
        let here = src.location(r.name.span());
        self.claim_name(&name, &here)?;
        let mut a: Vec<String> = vec!["bag".into(), "record".into()];
        let chosen =
            usize::from(!r.topics.is_empty()) + usize::from(r.all) + usize::from(r.regex.is_some());
        if chosen != 1 {
            return Err(invalid(
                src,
                r.name.span(),
                format!("record `{name}` needs exactly one of `topics`, `all = true` and `regex`"),
            ));
        }
        for t in &r.topics {
            let topic = subst(src, t, args)?;
            if !valid_topic(&topic) {
                return Err(invalid(
                    src,
                    t.span(),
                    format!("`{topic}` is not a topic name"),
                ));
            }
            a.push(resolve_topic(&topic, None, &[]));
        }
        if r.all {
            a.push("-a".into());
        }
        for (flag, re) in [("-e", &r.regex), ("--exclude", &r.exclude)] {
            if let Some(re) = re {
                let text = subst(src, re, args)?;
                if let Err(e) = regex::Regex::new(&text) {
                    return Err(invalid(src, re.span(), format!("`{text}`: {e}")));
                }
                a.extend([flag.to_owned(), text]);
            }
        }
        let output = subst(src, &r.output, args)?;
        if output.is_empty() {
            return Err(invalid(src, r.output.span(), "`output` is empty"));
        }
        a.extend(["-o".into(), src.dir().join(output).display().to_string()]);
        if let Some(c) = &r.compression {
            let text = subst(src, c, args)?;
            if !matches!(text.as_str(), "zstd" | "lz4" | "none") {
                return Err(invalid(
                    src,
                    c.span(),
                    format!("compression `{text}`: expected \"zstd\", \"lz4\" or \"none\""),
                ));
            }
            a.extend(["--compression".into(), text]);
        }
        if let Some(s) = &r.split_size {
            let text = subst(src, s, args)?;
            let (num, unit) = text.split_at(
                text.find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(text.len()),
            );
            let ok = num.parse::<u64>().is_ok_and(|n| n > 0)
                && matches!(unit, "" | "K" | "M" | "G" | "KiB" | "MiB" | "GiB");
            if !ok {
                return Err(invalid(
                    src,
                    s.span(),
                    format!(
                        "split_size `{text}`: expected bytes above 0, e.g. \"512M\" or \"1GiB\""
                    ),
                ));
            }
            a.extend(["--split-size".into(), text]);
        }
        if let Some(at) = &r.split_duration {
            let d = duration(src, at, args)?;
            if d.is_zero() {
                return Err(invalid(src, at.span(), "split_duration must be above zero"));
            }
            a.extend(["--split-duration".into(), format!("{}", d.as_secs_f64())]);
        }
        let program = resolve_exec("axon", src.dir(), self.exe_dir.as_deref()).map_err(|hint| {
            LoadError::MissingExecutable {
                at: here.clone(),
                exec: "axon".to_owned(),
                hint,
            }
        })?;
        let always = Respawn {
            policy: Policy::Always,
            max_restarts: u32::MAX,
            backoff: DEFAULT_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        };
        let deps = depends_on(src, &r.depends_on, args)?;
        charge_env(launch_env, &here, args)?;
        self.nodes.push(Collected {
            spec: ProcessSpec {
                args: a,
                name,
                defined_at: here,
                program,
                env: launch_env.to_vec(),
                respawn: respawn(src, r.respawn.as_ref(), args, always)?,
                depends_on: Vec::new(),
                ready: None,
                cpu: None,
                priority: None,
                required: r.required,
                kind: ProcessKind::Record,
            },
            deps,
            ready_type_at: None,
        });
        Ok(())
    }

    fn add_node(
        &mut self,
        src: &SourceFile,
        n: &RawNode,
        args: &Args,
        launch_env: &[(String, String)],
    ) -> Result<(), LoadError> {
        let name = subst(src, &n.name, args)?;
        if !valid_name(&name) {
            return Err(invalid(
                src,
                n.name.span(),
                format!(
                    "node name `{name}` must be non-empty ASCII letters, digits, `_`, `-` or `.`"
                ),
            ));
        }
        let here = src.location(n.name.span());
        self.claim_name(&name, &here)?;

        let exec = subst(src, &n.exec, args)?;
        let program = resolve_exec(&exec, src.dir(), self.exe_dir.as_deref()).map_err(|hint| {
            LoadError::MissingExecutable {
                at: src.location(n.exec.span()),
                exec: exec.clone(),
                hint,
            }
        })?;
        let cmd_args = n
            .args
            .iter()
            .map(|a| subst(src, a, args))
            .collect::<Result<Vec<_>, _>>()?;
        charge_env(launch_env, &here, args)?;
        let mut env = launch_env.to_vec();
        for (k, v) in &n.env {
            env.push((k.get_ref().clone(), subst(src, v, args)?));
        }

        let namespace = match &n.namespace {
            Some(ns) => {
                let s = subst(src, ns, args)?;
                if !s.starts_with('/') || !valid_topic(&s) {
                    return Err(invalid(
                        src,
                        ns.span(),
                        format!("namespace `{s}` must start with `/` and not end with `/`"),
                    ));
                }
                Some(s)
            }
            None => None,
        };

        let mut remap: Vec<(String, String)> = Vec::new();
        let mut targets: HashMap<String, &Spanned<String>> = HashMap::new();
        for (from, to) in &n.remap {
            let target = subst(src, to, args)?;
            if !valid_topic(from.get_ref()) || !valid_topic(&target) {
                return Err(invalid(
                    src,
                    to.span(),
                    format!("remap `{}` -> `{target}`: not a topic name", from.get_ref()),
                ));
            }
            let resolved = resolve_topic(&target, namespace.as_deref(), &[]);
            if let Some(other) = targets.get(&resolved) {
                return Err(LoadError::RemapCollision {
                    at: src.location(from.span()),
                    message: format!(
                        "`{}` and `{}` are both renamed to `{resolved}`",
                        other.get_ref(),
                        from.get_ref()
                    ),
                });
            }
            targets.insert(resolved, from);
            remap.push((from.get_ref().clone(), target));
        }
        // `from` names are unique (map keys): a lookup instead of a scan per topic.
        let renamed: HashMap<&str, &str> = remap
            .iter()
            .map(|(from, to)| (from.as_str(), to.as_str()))
            .collect();
        let resolve = |topic: &str| {
            let topic = renamed.get(topic).copied().unwrap_or(topic);
            resolve_topic(topic, namespace.as_deref(), &[])
        };
        let declared = n.publishes.len() + n.subscribes.len() + n.serves.len() + n.calls.len();
        if self.topics + declared > MAX_TOPICS {
            return Err(LoadError::Invalid {
                at: here.clone(),
                message: format!(
                    "more than {MAX_TOPICS} declared topics and services in all (the limit for one launch)"
                ),
            });
        }
        self.topics += declared;

        // Service names resolve like topic names (the node API does so);
        // services carry no type.
        let declare = |noun, what, items| resolve_declared(src, &name, &resolve, noun, what, items);
        let publishes = declare("topic", "publications", typed(&n.publishes))?;
        let subscribes = declare("topic", "subscriptions", typed(&n.subscribes))?;
        let serves = declare("service", "served services", untyped(&n.serves))?;
        let calls = declare("service", "called services", untyped(&n.calls))?;

        let params = match &n.params {
            Some(p) => {
                let at = src.location(p.span());
                let v = subst_value(&toml::Value::Table(p.get_ref().clone()), &at, args)?;
                toml_to_json(&v)
            }
            None => serde_json::Value::Object(Default::default()),
        };

        let respawn = respawn(src, n.respawn.as_ref(), args, Respawn::NEVER)?;

        let mut ready_type_at = None;
        let ready = match &n.ready {
            None => None,
            Some(r) => {
                let raw = r.get_ref();
                let mut conds = Vec::new();
                if let Some(d) = &raw.delay {
                    conds.push(ReadyCondition::Delay(duration(src, d, args)?));
                }
                if let Some(l) = &raw.log {
                    let text = subst(src, l, args)?;
                    if text.is_empty() {
                        return Err(invalid(src, l.span(), "`ready.log` must not be empty"));
                    }
                    conds.push(ReadyCondition::Log(text));
                }
                if let Some(t) = &raw.topic {
                    let text = subst(src, t, args)?;
                    if !valid_topic(&text) {
                        return Err(invalid(
                            src,
                            t.span(),
                            format!("`{text}` is not a topic name"),
                        ));
                    }
                    let topic = resolve(&text);
                    // Default: the type this node declares it publishes
                    // (the topic's `[topic]` type is added after loading).
                    let mut ty = publishes
                        .iter()
                        .find(|p| p.name == topic && !p.ty.is_empty())
                        .map(|p| p.ty.clone());
                    if let Some(given) = &raw.ty {
                        let text = subst(src, given, args)?;
                        axon::declared::check_type_name(&text).map_err(|e| {
                            invalid(src, given.span(), format!("`ready.type`: {e}"))
                        })?;
                        if let Some(own) = ty.as_ref().filter(|own| **own != text) {
                            return Err(invalid(
                                src,
                                given.span(),
                                format!(
                                    "`ready.type` is `{text}` but node `{name}` declares it publishes `{own}` on that topic"
                                ),
                            ));
                        }
                        ready_type_at = Some(src.location(given.span()));
                        ty = Some(text);
                    }
                    conds.push(ReadyCondition::Topic { name: topic, ty });
                } else if let Some(given) = &raw.ty {
                    return Err(invalid(
                        src,
                        given.span(),
                        "`ready.type` needs `ready.topic`",
                    ));
                }
                if conds.len() != 1 {
                    return Err(invalid(
                        src,
                        r.span(),
                        "`ready` needs exactly one of `delay`, `log` or `topic`",
                    ));
                }
                let timeout = match &raw.timeout {
                    Some(s) => duration(src, s, args)?,
                    None => DEFAULT_READY_TIMEOUT,
                };
                Some(Ready {
                    condition: conds.remove(0),
                    timeout,
                })
            }
        };

        let cpu = match &n.cpu {
            None => None,
            Some(c) => {
                let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok();
                if c.get_ref().is_empty() {
                    return Err(invalid(src, c.span(), "`cpu` must list at least one CPU"));
                }
                for &cpu in c.get_ref() {
                    let ok = allowed
                        .as_ref()
                        .is_some_and(|set| set.is_set(cpu).unwrap_or(false));
                    if !ok {
                        return Err(invalid(
                            src,
                            c.span(),
                            format!("CPU {cpu} is not available to this launcher"),
                        ));
                    }
                }
                Some(c.get_ref().clone())
            }
        };
        let priority = match &n.priority {
            None => None,
            Some(p) => match i32::try_from(*p.get_ref()) {
                Ok(v) if (1..=99).contains(&v) => Some(v),
                _ => {
                    return Err(invalid(
                        src,
                        p.span(),
                        "`priority` is a SCHED_FIFO priority from 1 to 99",
                    ))
                }
            },
        };

        let deps = depends_on(src, &n.depends_on, args)?;

        self.nodes.push(Collected {
            spec: ProcessSpec {
                name,
                defined_at: here,
                program,
                args: cmd_args,
                env,
                respawn,
                depends_on: Vec::new(),
                ready,
                cpu,
                priority,
                required: n.required,
                kind: ProcessKind::Node(NodeSpec {
                    namespace,
                    remap,
                    params,
                    publishes,
                    subscribes,
                    serves,
                    calls,
                }),
            },
            deps,
            ready_type_at,
        });
        Ok(())
    }
}

/// A declared number: an integer, or a string that is one after
/// substitution (`"${depth}"`), from 1 to `hi`.
/// A node's declared names (`publishes`, `subscribes`, `serves` or
/// `calls`: `noun` is `topic` or `service`, `what` names the list in
/// messages), each checked and resolved (remap, then namespace); two that
/// resolve to one name are refused.
fn resolve_declared<'a>(
    src: &SourceFile,
    node: &str,
    resolve: &dyn Fn(&str) -> String,
    noun: &str,
    what: &str,
    items: Vec<(&'a Spanned<String>, &'a str)>,
) -> Result<Vec<Topic>, LoadError> {
    let mut out: Vec<Topic> = Vec::new();
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (t, ty) in items {
        if !valid_topic(t.get_ref()) {
            return Err(invalid(
                src,
                t.span(),
                format!("`{}` is not a {noun} name", t.get_ref()),
            ));
        }
        let resolved = resolve(t.get_ref());
        if let Some(first) = seen.get(&resolved) {
            return Err(LoadError::RemapCollision {
                at: src.location(t.span()),
                message: format!(
                    "{what} `{first}` and `{}` of node `{node}` both resolve to `{resolved}`",
                    t.get_ref()
                ),
            });
        }
        seen.insert(resolved.clone(), t.get_ref());
        out.push(Topic {
            name: resolved,
            ty: ty.trim().to_owned(),
            at: src.location(t.span()),
        });
    }
    Ok(out)
}

/// `publishes` / `subscribes` entries (topic = type) for [`resolve_declared`].
fn typed(map: &SpannedMap<String>) -> Vec<(&Spanned<String>, &str)> {
    map.iter()
        .map(|(t, ty)| (t, ty.get_ref().as_str()))
        .collect()
}

/// `serves` / `calls` entries (names, no type) for [`resolve_declared`].
fn untyped(list: &[Spanned<String>]) -> Vec<(&Spanned<String>, &str)> {
    list.iter().map(|t| (t, "")).collect()
}

fn declared_number(
    src: &SourceFile,
    v: &Spanned<toml::Value>,
    args: &Args,
    what: &str,
    hi: u64,
) -> Result<u64, LoadError> {
    let n = match v.get_ref() {
        toml::Value::Integer(i) => Some(*i),
        toml::Value::String(s) => {
            let text = subst_str(s, args).map_err(|e| subst_error(src.location(v.span()), e))?;
            text.trim().parse::<i64>().ok()
        }
        _ => None,
    };
    match n {
        Some(n) if n >= 1 && n as u64 <= hi => Ok(n as u64),
        Some(n) => Err(invalid(
            src,
            v.span(),
            format!("`{what}` is {n}: it must be from 1 to {hi}"),
        )),
        None => Err(invalid(
            src,
            v.span(),
            format!("`{what}` must be an integer from 1 to {hi}"),
        )),
    }
}

/// Completes `ready = { topic = .. }` conditions with the topic's declared
/// type, and refuses a `ready.type` that contradicts it.
fn ready_types(nodes: &mut [Collected], declared: &[DeclaredTopic]) -> Result<(), LoadError> {
    let by_name: HashMap<&str, &DeclaredTopic> =
        declared.iter().map(|d| (d.name.as_str(), d)).collect();
    for c in nodes {
        let Some(Ready {
            condition: ReadyCondition::Topic { name, ty },
            ..
        }) = &mut c.spec.ready
        else {
            continue;
        };
        let Some(d) = by_name.get(name.as_str()) else {
            continue;
        };
        let Some(decl_ty) = &d.decl.type_name else {
            continue;
        };
        match ty {
            None => *ty = Some(decl_ty.clone()),
            Some(given) if given != decl_ty => {
                let at = c
                    .ready_type_at
                    .clone()
                    .unwrap_or_else(|| c.spec.defined_at.clone());
                return Err(LoadError::Wiring {
                    at,
                    message: format!(
                        "`{}` waits for a publisher of `{given}` on `{name}`, but the topic is \
                         declared as `{decl_ty}` ({})",
                        c.spec.name, d.at
                    ),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A node's declared `publishes` / `subscribes` type agrees with the
/// topic's `[topic]` type.
fn check_declared_types(
    processes: &[ProcessSpec],
    declared: &[DeclaredTopic],
) -> Result<(), LoadError> {
    let types: HashMap<&str, (&str, &DeclaredTopic)> = declared
        .iter()
        .filter_map(|d| Some((d.name.as_str(), (d.decl.type_name.as_deref()?, d))))
        .collect();
    if types.is_empty() {
        return Ok(());
    }
    for p in processes {
        let Some(n) = p.kind.as_node() else {
            continue;
        };
        for (t, verb) in n
            .publishes
            .iter()
            .map(|t| (t, "publishes"))
            .chain(n.subscribes.iter().map(|t| (t, "subscribes to")))
        {
            if let Some((ty, d)) = types.get(t.name.as_str()) {
                if !t.ty.is_empty() && t.ty != *ty {
                    return Err(LoadError::Wiring {
                        at: t.at.clone(),
                        message: format!(
                            "`{}` {verb} `{}` as `{}`, but the topic is declared as `{ty}` ({})",
                            p.name, t.name, t.ty, d.at
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// A `depends_on` list with args substituted, each name with where it
/// stands (resolved against the other processes later, in [`order`]).
fn depends_on(
    src: &SourceFile,
    list: &[Spanned<String>],
    args: &Args,
) -> Result<Vec<(String, Location)>, LoadError> {
    list.iter()
        .map(|d| Ok((subst(src, d, args)?, src.location(d.span()))))
        .collect()
}

/// A `respawn` entry, or `default` when absent.
fn respawn(
    src: &SourceFile,
    r: Option<&Spanned<RawRespawn>>,
    args: &Args,
    default: Respawn,
) -> Result<Respawn, LoadError> {
    let Some(r) = r else {
        return Ok(default);
    };
    let raw = r.get_ref();
    let policy = match raw.policy {
        RawPolicy::Never => Policy::Never,
        RawPolicy::OnFailure => Policy::OnFailure,
        RawPolicy::Always => Policy::Always,
    };
    let backoff = match &raw.backoff {
        Some(s) => duration(src, s, args)?,
        None => DEFAULT_BACKOFF,
    };
    let max_backoff = match &raw.max_backoff {
        Some(s) => duration(src, s, args)?,
        None => DEFAULT_MAX_BACKOFF.max(backoff),
    };
    if max_backoff < backoff {
        return Err(invalid(
            src,
            r.span(),
            "`max_backoff` is shorter than `backoff`",
        ));
    }
    Ok(Respawn {
        policy,
        max_restarts: raw.max_restarts.unwrap_or(DEFAULT_MAX_RESTARTS),
        backoff,
        max_backoff,
    })
}

/// Finds the program for `exec`: a path (contains `/`) relative to the
/// launch file's directory; a bare name in `exe_dir`, then in `$PATH`.
pub fn resolve_exec(
    exec: &str,
    file_dir: &Path,
    exe_dir: Option<&Path>,
) -> Result<PathBuf, String> {
    fn executable(p: &Path) -> bool {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    if exec.is_empty() {
        return Err(" (empty `exec`)".to_owned());
    }
    if exec.contains('/') {
        let p = file_dir.join(exec);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(format!(" (looked for {})", p.display()))
        };
    }
    let mut dirs: Vec<PathBuf> = exe_dir.map(Path::to_path_buf).into_iter().collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.iter()
        .map(|d| d.join(exec))
        .find(|p| executable(p))
        .ok_or_else(|| {
            format!(
                " (looked in {} and $PATH)",
                exe_dir.map_or_else(
                    || "<no launcher dir>".to_owned(),
                    |d| d.display().to_string()
                )
            )
        })
}

/// A dependency cycle, as the indices along it (first repeated at the end)
/// and the `depends_on` entry that closes it. Depth-first search with an
/// explicit stack, so a chain of any length cannot overflow the thread's.
fn find_cycle(deps: &[Vec<(usize, Location)>]) -> Option<(Vec<usize>, Location)> {
    // 0 = unvisited, 1 = on the path, 2 = done.
    let mut state = vec![0u8; deps.len()];
    for root in 0..deps.len() {
        if state[root] != 0 {
            continue;
        }
        // (process, next dependency to look at); the path is the stack.
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some(top) = stack.last_mut() {
            let (i, next) = *top;
            let Some((j, at)) = deps[i].get(next) else {
                state[i] = 2;
                stack.pop();
                continue;
            };
            top.1 += 1;
            match state[*j] {
                1 => {
                    let start = stack.iter().position(|(x, _)| x == j).unwrap_or(0);
                    let mut cycle: Vec<usize> = stack[start..].iter().map(|(x, _)| *x).collect();
                    cycle.push(*j);
                    return Some((cycle, at.clone()));
                }
                0 => {
                    state[*j] = 1;
                    stack.push((*j, 0));
                }
                _ => {}
            }
        }
    }
    None
}

/// Resolves `depends_on`, rejects cycles and orders processes: a process
/// comes after its dependencies, otherwise file order is kept.
fn order(nodes: Vec<Collected>) -> Result<Vec<ProcessSpec>, LoadError> {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.spec.name.as_str(), i))
        .collect();
    let mut deps: Vec<Vec<(usize, Location)>> = Vec::with_capacity(nodes.len());
    for n in &nodes {
        let mut d = Vec::new();
        for (name, at) in &n.deps {
            match index.get(name.as_str()) {
                Some(&i) => d.push((i, at.clone())),
                None => {
                    return Err(LoadError::UnknownDependency {
                        at: at.clone(),
                        name: name.clone(),
                    })
                }
            }
        }
        deps.push(d);
    }

    if let Some((cycle, at)) = find_cycle(&deps) {
        let names: Vec<&str> = cycle.iter().map(|&k| nodes[k].spec.name.as_str()).collect();
        return Err(LoadError::DependencyCycle {
            at,
            cycle: names.join(" -> "),
        });
    }

    // Stable topological order: repeatedly take the first (lowest file
    // index) not-yet-placed process whose dependencies are all placed.
    // Kahn's algorithm with a min-heap of ready processes: O(n log n + e).
    let n = nodes.len();
    let mut waiting_on: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, d) in deps.iter().enumerate() {
        for (j, _) in d {
            dependents[*j].push(i);
        }
    }
    let mut ready: BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&i| waiting_on[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut new_index = vec![0usize; n];
    let mut seq = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(next)) = ready.pop() {
        new_index[next] = seq.len();
        seq.push(next);
        for &k in &dependents[next] {
            waiting_on[k] -= 1;
            if waiting_on[k] == 0 {
                ready.push(std::cmp::Reverse(k));
            }
        }
    }
    // Acyclic (checked above), so every process was placed.
    debug_assert_eq!(seq.len(), n);
    let mut slots: Vec<Option<Collected>> = nodes.into_iter().map(Some).collect();
    Ok(seq
        .into_iter()
        .map(|old| {
            let mut c = slots[old].take().expect("each process placed once");
            c.spec.depends_on = deps[old].iter().map(|(j, _)| new_index[*j]).collect();
            c.spec
        })
        .collect())
}

/// Every declared subscription has a declared publisher (or is external or
/// imported by a link), and declared types agree; every declared call has a
/// declared server (or is external), and no service has two.
fn check_wiring(
    processes: &[ProcessSpec],
    external: &[(String, Location)],
    imports: &[axon::link::Pattern],
) -> Result<(), LoadError> {
    let external: HashSet<&str> = external.iter().map(|(e, _)| e.as_str()).collect();
    let nodes: Vec<(&str, &NodeSpec)> = processes
        .iter()
        .filter_map(|p| p.kind.as_node().map(|n| (p.name.as_str(), n)))
        .collect();
    let publishers = TOPICS.producers(&nodes)?;
    let servers = SERVICES.producers(&nodes)?;
    SERVICES.consumers(&nodes, &servers, |s| external.contains(s))?;
    TOPICS.consumers(&nodes, &publishers, |t| {
        external.contains(t) || axon::link::any_match(imports, t)
    })
}

/// A producer/consumer pair of node declarations and its wording in
/// messages: [`TOPICS`] or [`SERVICES`].
struct Pair {
    produced: fn(&NodeSpec) -> &[Topic],
    consumed: fn(&NodeSpec) -> &[Topic],
    /// Verb: "`node` publishes `/t`".
    produces: &'static str,
    /// Participle: "`/t` is published as ...".
    produced_as: &'static str,
    /// Verb: "`node` subscribes to `/t`".
    consumes: &'static str,
    /// `Some(why)`: a second producer of a name is refused; `None`: producers
    /// may share a name when their declared types agree.
    one_producer: Option<&'static str>,
    /// How a consumed name may come from outside the launch.
    outside: &'static str,
}

/// `publishes` and `subscribes`.
const TOPICS: Pair = Pair {
    produced: |n| &n.publishes,
    consumed: |n| &n.subscribes,
    produces: "publishes",
    produced_as: "published",
    consumes: "subscribes to",
    one_producer: None,
    outside:
        "list it in `[launch] external`, or import it with a `[[link]]`, if it comes from outside",
};

/// `serves` and `calls` (services carry no type).
const SERVICES: Pair = Pair {
    produced: |n| &n.serves,
    consumed: |n| &n.calls,
    produces: "serves",
    produced_as: "served",
    consumes: "calls",
    // axon refuses a second server at run time.
    one_producer: Some("a service has one server"),
    outside: "list it in `[launch] external` if it is served from outside",
};

/// Name -> its producer (the first with a declared type, else the last)
/// and that producer's node.
type Producers<'a> = HashMap<&'a str, (&'a Topic, &'a str)>;

impl Pair {
    /// Every produced name with its producer; refuses a second producer
    /// ([`Pair::one_producer`]) or one declaring another type, naming both
    /// places.
    fn producers<'a>(&self, nodes: &[(&'a str, &'a NodeSpec)]) -> Result<Producers<'a>, LoadError> {
        let Pair {
            produces,
            produced_as,
            ..
        } = self;
        let mut producers = Producers::new();
        for &(name, n) in nodes {
            for t in (self.produced)(n) {
                if let Some((first, first_node)) = producers.get(t.name.as_str()) {
                    if let Some(why) = self.one_producer {
                        return Err(wiring(
                            t,
                            format!(
                                "`{name}` {produces} `{}` but `{first_node}` {produces} it already ({}): {why}",
                                t.name, first.at
                            ),
                        ));
                    }
                    if clash(first, t) {
                        return Err(wiring(
                            t,
                            format!(
                                "`{}` is {produced_as} as `{}` by `{name}` but as `{}` by `{first_node}` ({})",
                                t.name, t.ty, first.ty, first.at
                            ),
                        ));
                    }
                    if !first.ty.is_empty() {
                        continue;
                    }
                }
                producers.insert(&t.name, (t, name));
            }
        }
        Ok(producers)
    }

    /// Each consumed name is produced, with an agreeing declared type, or
    /// `from_outside` says it comes from outside the launch.
    fn consumers(
        &self,
        nodes: &[(&str, &NodeSpec)],
        producers: &Producers,
        from_outside: impl Fn(&str) -> bool,
    ) -> Result<(), LoadError> {
        let Pair {
            produces, consumes, ..
        } = self;
        for &(name, n) in nodes {
            for t in (self.consumed)(n) {
                match producers.get(t.name.as_str()) {
                    Some((p, pnode)) => {
                        if clash(p, t) {
                            return Err(wiring(
                                t,
                                format!(
                                    "`{name}` {consumes} `{}` as `{}` but `{pnode}` {produces} `{}` ({})",
                                    t.name, t.ty, p.ty, p.at
                                ),
                            ));
                        }
                    }
                    None if from_outside(&t.name) => {}
                    None => {
                        return Err(wiring(
                            t,
                            format!(
                                "`{name}` {consumes} `{}` but no node {produces} it ({})",
                                t.name, self.outside
                            ),
                        ))
                    }
                }
            }
        }
        Ok(())
    }
}

/// Both declare a type, and not the same one.
fn clash(a: &Topic, b: &Topic) -> bool {
    !a.ty.is_empty() && !b.ty.is_empty() && a.ty != b.ty
}

/// A wiring error at `t`'s declaration.
fn wiring(t: &Topic, message: String) -> LoadError {
    LoadError::Wiring {
        at: t.at.clone(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("fast"), None);
        assert_eq!(parse_duration("5 s"), None);
        assert_eq!(parse_duration(" 5s"), None);
    }

    #[test]
    fn substitution() {
        let mut args = Args::new(Rc::new(Cell::new(MAX_EXPANSION_BYTES)));
        args.values.insert("speed".into(), toml::Value::Float(2.0));
        args.values
            .insert("name".into(), toml::Value::String("r1".into()));
        assert_eq!(
            subst_str("${name}_x at ${speed} $$5", &args).unwrap(),
            "r1_x at 2.0 $5"
        );
        assert_eq!(
            subst_str("${nope}", &args).unwrap_err(),
            SubstError::Undefined("nope".into())
        );
        let at = Location {
            file: Path::new("f").into(),
            line_col: None,
        };
        let v = subst_value(&toml::Value::String("${speed}".into()), &at, &args).unwrap();
        assert_eq!(v, toml::Value::Float(2.0));
    }

    #[test]
    fn overrides_take_the_declared_type() {
        use toml::Value as V;
        assert_eq!(
            coerce(&V::Float(1.0), Given::Text("2".into())).unwrap(),
            V::Float(2.0)
        );
        assert_eq!(
            coerce(&V::String("a".into()), Given::Text("2".into())).unwrap(),
            V::String("2".into())
        );
        assert_eq!(
            coerce(&V::Boolean(false), Given::Text("true".into())).unwrap(),
            V::Boolean(true)
        );
        assert!(coerce(&V::Integer(1), Given::Text("x".into())).is_err());
    }
}
