//! Socket links: carry topics between hosts (TCP) or between shared-memory
//! namespaces on one host (Unix sockets), while nodes keep using plain
//! publishers and subscribers.
//!
//! A link *endpoint* subscribes to its local topics that match `export`,
//! announces them to its peer, and forwards every sample over the socket;
//! it republishes what the peer sends for topics that match `import`. Both
//! directions share one connection. The protocol is in `wire.rs` and in
//! ARCHITECTURE.md ("Socket links").
//!
//! Code map:
//! - `wire.rs`: frames, the bounded decoder (every length and id checked
//!   before use), vectored writes;
//! - `auth.rs`: HMAC-SHA256 challenge-response on a shared secret;
//! - `transport.rs` (the `Conn`/`Listener` traits), `tcp.rs`, `unix.rs`;
//! - `engine.rs`: what every carrier shares (this link and the Zenoh
//!   gateway, crate `axon-zenoh`): export selection ([`engine::offer`]),
//!   import decisions with type checks and limits ([`engine::Imports`]),
//!   the loop rule ([`engine::is_echo`]);
//! - `endpoint.rs`: the handshake, the exporter (wait set over the exported
//!   subscribers -> socket) and the importer (socket -> loaned samples),
//!   reconnection with backoff, several peers on one listener, admission
//!   (handshake deadline, evict-oldest handshakes) and import limits;
//! - `fuzzing.rs`: the fuzz entry points `wire_decoder` and `handshake`
//!   (seeds in `fuzz/corpus/`, replayed by its tests).
//!
//! *Resource bounds* (ARCHITECTURE.md "Socket links" states them all): per
//! listener `max_peers` established peers and `max_pending` handshakes;
//! per connection a 4 KiB read-ahead, one control body, a bounded verdict
//! queue, two threads; per peer at most [`Limits`] of imported topics and
//! of shared memory created for them, removed when unused at disconnect.
//!
//! *Loop rule:* an endpoint republishes what it imports from peer `P` under
//! the node name `link:<P's name>@<P's host>`; its exporter skips samples
//! whose publisher has exactly that name. So a topic that two endpoints
//! export to each other crosses once in each direction and stops. (A ring
//! of three or more endpoints that all relay the same topic is not covered:
//! declare such topics in one direction per edge.)

pub mod auth;
mod endpoint;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod tcp;
pub mod transport;
pub mod unix;
pub mod wire;

use std::path::PathBuf;
use std::time::Duration;

use crate::names::Domain;

pub use endpoint::{run, Endpoint, LinkError, Stop};

/// Which socket family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// TCP: `host:port`, or a port alone for loopback when listening.
    Tcp(String),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp(a) => write!(f, "tcp {a}"),
            Address::Unix(p) => write!(f, "unix {}", p.display()),
        }
    }
}

/// Listen for peers, or connect to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Accept peers (several at once, up to `max_peers`).
    Listen(Address),
    /// Connect, and reconnect with backoff whenever the connection ends.
    Connect(Address),
}

/// A topic pattern: `/odom` (exact), `/camera/*` (one level),
/// `/camera/**` (any depth below `/camera`), `/**` (everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// Checks the syntax: absolute, `*` and `**` only as whole levels.
    pub fn new(s: &str) -> Result<Pattern, String> {
        if !s.starts_with('/') || s.len() < 2 || s.ends_with('/') || s.contains("//") {
            return Err(format!(
                "`{s}` is not a topic pattern (absolute, like /odom or /camera/**)"
            ));
        }
        for level in s[1..].split('/') {
            let plain = level
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !(plain || level == "*" || level == "**") {
                return Err(format!(
                    "`{s}`: level `{level}` must be a name, `*` or `**`"
                ));
            }
        }
        Ok(Pattern(s.to_owned()))
    }

    /// The pattern's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        fn go(p: &[&str], t: &[&str]) -> bool {
            match (p.first(), t.first()) {
                (None, None) => true,
                (Some(&"**"), _) => (1..=t.len()).any(|k| go(&p[1..], &t[k..])),
                (Some(&"*"), Some(_)) => go(&p[1..], &t[1..]),
                (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
                _ => false,
            }
        }
        let Some(topic) = topic.strip_prefix('/') else {
            return false;
        };
        let p: Vec<&str> = self.0[1..].split('/').collect();
        let t: Vec<&str> = topic.split('/').collect();
        go(&p, &t)
    }
}

/// Whether any of `patterns` matches `topic`.
pub fn any_match(patterns: &[Pattern], topic: &str) -> bool {
    patterns.iter().any(|p| p.matches(topic))
}

/// Timings of a link; the defaults suit a LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A heartbeat goes out after this long without another frame.
    pub heartbeat: Duration,
    /// A peer that sends nothing for this long is dead (and a write that
    /// makes no progress for this long fails).
    pub dead_after: Duration,
    /// How often the domain is rescanned for new topics to export.
    pub rescan: Duration,
    /// First reconnection delay; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest reconnection delay.
    pub backoff_max: Duration,
    /// The whole handshake (HELLO, and AUTH when there is a secret) must
    /// finish within this, counted from accept (or connect): one absolute
    /// deadline that bytes arriving slowly do not push back.
    pub handshake: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat: Duration::from_millis(250),
            dead_after: Duration::from_secs(2),
            rescan: Duration::from_millis(250),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            handshake: Duration::from_secs(5),
        }
    }
}

/// What one peer (one connection) may make this endpoint create: imported
/// topics, and the shared memory of the segments created for them. An
/// announced topic beyond a limit is refused with a `VERDICT` naming it;
/// the connection and the other topics go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most topics one peer may have imported (accepted) at once.
    pub max_imports: usize,
    /// Largest segment an announced topic may make this endpoint create
    /// (bytes; a topic that already exists here costs nothing).
    pub max_topic_bytes: u64,
    /// Most bytes of segments one peer's imports may create in total.
    pub max_import_bytes: u64,
}

impl Limits {
    /// Default `max_imports`.
    pub const DEFAULT_MAX_IMPORTS: usize = 256;
    /// Default `max_topic_bytes`: 128 MiB.
    pub const DEFAULT_MAX_TOPIC_BYTES: u64 = 128 << 20;
    /// Default `max_import_bytes`: 256 MiB.
    pub const DEFAULT_MAX_IMPORT_BYTES: u64 = 256 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_imports: Self::DEFAULT_MAX_IMPORTS,
            max_topic_bytes: Self::DEFAULT_MAX_TOPIC_BYTES,
            max_import_bytes: Self::DEFAULT_MAX_IMPORT_BYTES,
        }
    }
}

/// One link endpoint.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// This endpoint's name (sent in the handshake; the peer republishes
    /// our samples as `link:<name>@<host>`).
    pub name: String,
    /// Listen or connect, and where.
    pub mode: Mode,
    /// Local topics sent to the peer.
    pub export: Vec<Pattern>,
    /// Peer topics accepted and republished here.
    pub import: Vec<Pattern>,
    /// Exported topics that get backpressure instead of dropping oldest.
    pub reliable: Vec<Pattern>,
    /// Shared secret: both sides must know it.
    pub secret: Option<Vec<u8>>,
    /// The local topics' domain.
    pub domain: Domain,
    /// Timings.
    pub timing: Timing,
    /// Most simultaneous established peers of a listener.
    pub max_peers: usize,
    /// Most connections of a listener still in their handshake; a new
    /// connection beyond this closes the oldest of them.
    pub max_pending: usize,
    /// Resource limits on what one peer may make this endpoint create.
    pub limits: Limits,
    /// Log connections, refusals and errors to stderr (default true).
    pub log: bool,
}

impl LinkConfig {
    /// A configuration with default timings and no topics.
    pub fn new(name: &str, mode: Mode, domain: Domain) -> Self {
        LinkConfig {
            name: name.to_owned(),
            mode,
            export: Vec::new(),
            import: Vec::new(),
            reliable: Vec::new(),
            secret: None,
            domain,
            timing: Timing::default(),
            max_peers: 16,
            max_pending: 16,
            limits: Limits::default(),
            log: true,
        }
    }
}

/// The machine's host name (for the handshake).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = |s| Pattern::new(s).unwrap();
        assert!(p("/odom").matches("/odom"));
        assert!(!p("/odom").matches("/odom/x"));
        assert!(p("/camera/**").matches("/camera/image"));
        assert!(p("/camera/**").matches("/camera/left/image"));
        assert!(!p("/camera/**").matches("/camera"));
        assert!(!p("/camera/**").matches("/cameras/x"));
        assert!(p("/*/image").matches("/left/image"));
        assert!(!p("/*/image").matches("/a/b/image"));
        assert!(p("/**").matches("/anything/at/all"));
        assert!(p("/a/**/z").matches("/a/b/c/z"));
        for bad in ["odom", "/", "/a/", "/a//b", "/a*", "/a/b c"] {
            assert!(Pattern::new(bad).is_err(), "{bad}");
        }
    }
}
