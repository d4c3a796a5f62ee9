//! Socket links (`[[link]]` tables and the `axon-link` binary's command
//! line). A validated [`LinkSpec`] becomes `axon-link` arguments
//! ([`to_args`]); the binary parses them back ([`parse_args`]) into an
//! `axon::link::LinkConfig`. One module holds both directions so that they
//! cannot drift apart (a unit test round-trips them).

use std::path::PathBuf;
use std::time::Duration;

use axon::link::{Address, LinkConfig, Mode, Pattern, Timing};
use axon::Domain;

use crate::validate::parse_duration;

/// The executable the launcher runs for a `[[link]]` (found beside `launch`).
pub const LINK_EXEC: &str = "axon-link";

/// Environment variable holding a shared secret (instead of a file).
pub const SECRET_ENV: &str = "AXON_LINK_SECRET";

/// What only links have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    /// Listen or connect, TCP or Unix.
    pub mode: Mode,
    /// Local topics sent to the peer.
    pub export: Vec<String>,
    /// Peer topics republished here.
    pub import: Vec<String>,
    /// Exported topics with backpressure instead of drop-oldest.
    pub reliable: Vec<String>,
    /// File holding the shared secret.
    pub secret_file: Option<PathBuf>,
    /// The local domain, if not the launcher's.
    pub domain: Option<String>,
    /// Heartbeat period, if not the default.
    pub heartbeat: Option<Duration>,
    /// Silence after which the peer is dead, if not the default.
    pub dead_after: Option<Duration>,
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// The `axon-link` command line for link `name`.
pub fn to_args(name: &str, spec: &LinkSpec) -> Vec<String> {
    let mut a = vec!["--name".to_owned(), name.to_owned()];
    let (verb, addr) = match &spec.mode {
        Mode::Listen(addr) => ("--listen", addr),
        Mode::Connect(addr) => ("--connect", addr),
    };
    let (transport, where_) = match addr {
        Address::Tcp(s) => ("tcp", s.clone()),
        Address::Unix(p) => ("unix", p.display().to_string()),
    };
    a.extend(["--transport".into(), transport.into(), verb.into(), where_]);
    for (flag, list) in [
        ("--export", &spec.export),
        ("--import", &spec.import),
        ("--reliable", &spec.reliable),
    ] {
        for p in list {
            a.extend([flag.to_owned(), p.clone()]);
        }
    }
    if let Some(f) = &spec.secret_file {
        a.extend(["--secret-file".into(), f.display().to_string()]);
    }
    if let Some(d) = &spec.domain {
        a.extend(["--domain".into(), d.clone()]);
    }
    if let Some(d) = spec.heartbeat {
        a.extend(["--heartbeat".into(), ms(d)]);
    }
    if let Some(d) = spec.dead_after {
        a.extend(["--dead-after".into(), ms(d)]);
    }
    a
}

/// Usage text of `axon-link`.
pub const USAGE: &str = "\
usage: axon-link --name NAME --transport tcp|unix (--listen ADDR | --connect ADDR)
                 [--export PATTERN]... [--import PATTERN]... [--reliable PATTERN]...
                 [--secret-file PATH] [--domain NAME] [--heartbeat 250ms] [--dead-after 2s]
                 [--max-peers N] [--max-pending N] [--max-imports N]
                 [--max-topic-bytes 128MiB] [--max-import-bytes 256MiB]

Forwards local topics that match --export to the peer and republishes the
peer's topics that match --import, over one TCP or Unix socket connection.
TCP --listen takes host:port, or a port alone for 127.0.0.1 (loopback).
Patterns: /odom, /camera/* (one level), /camera/** (any depth).
The shared secret comes from --secret-file or $AXON_LINK_SECRET.
The domain is $AXON_DOMAIN (default 0) unless --domain is given.
Limits (per listener, then per peer; see README \"Across machines\"):
--max-peers (16) established peers; --max-pending (16) connections in their
handshake (a new one closes the oldest); --max-imports (256) topics one peer
may have imported; --max-topic-bytes (128MiB) largest segment an announced
topic may create; --max-import-bytes (256MiB) all segments one peer's
imports may create. A topic over a limit is refused with the limit's name.
SIGINT/SIGTERM stop it cleanly.";

/// Parses a byte count: `4096`, `64KiB`, `128MiB`, `1GiB`.
fn parse_bytes(v: &str) -> Option<u64> {
    let (num, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, ""),
    };
    let shift = match unit {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return None,
    };
    num.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// Parses `axon-link`'s arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<LinkConfig, String> {
    let mut name = None;
    let mut transport = None;
    let mut listen = None;
    let mut connect = None;
    let (mut export, mut import, mut reliable) = (Vec::new(), Vec::new(), Vec::new());
    let mut secret_file: Option<PathBuf> = None;
    let mut domain = None;
    let mut timing = Timing::default();
    let mut max_peers = 16usize;
    let mut max_pending = 16usize;
    let mut limits = axon::link::Limits::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let duration = |v: String| {
            parse_duration(&v)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("{flag} {v}: expected a duration like 250ms or 2s"))
        };
        let pattern = |v: String| Pattern::new(&v).map(|_| v);
        match flag.as_str() {
            "--name" => name = Some(value()?),
            "--transport" => transport = Some(value()?),
            "--listen" => listen = Some(value()?),
            "--connect" => connect = Some(value()?),
            "--export" => export.push(pattern(value()?)?),
            "--import" => import.push(pattern(value()?)?),
            "--reliable" => reliable.push(pattern(value()?)?),
            "--secret-file" => secret_file = Some(PathBuf::from(value()?)),
            "--domain" => domain = Some(value()?),
            "--heartbeat" => timing.heartbeat = duration(value()?)?,
            "--dead-after" => timing.dead_after = duration(value()?)?,
            "--max-peers" => {
                let v = value()?;
                max_peers = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--max-peers {v}: expected a positive number"))?;
            }
            "--max-pending" => {
                let v = value()?;
                max_pending = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--max-pending {v}: expected a positive number"))?;
            }
            "--max-imports" => {
                let v = value()?;
                limits.max_imports = v
                    .parse()
                    .map_err(|_| format!("--max-imports {v}: expected a number"))?;
            }
            "--max-topic-bytes" | "--max-import-bytes" => {
                let v = value()?;
                let n = parse_bytes(&v).ok_or_else(|| {
                    format!("{flag} {v}: expected a size like 4096, 64KiB, 128MiB or 1GiB")
                })?;
                if flag == "--max-topic-bytes" {
                    limits.max_topic_bytes = n;
                } else {
                    limits.max_import_bytes = n;
                }
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let name = name.ok_or("--name is required")?;
    axon::names::validate_node_name(&name).map_err(|e| e.to_string())?;
    let address = |s: String| match transport.as_deref() {
        Some("tcp") => Ok(Address::Tcp(s)),
        Some("unix") => Ok(Address::Unix(PathBuf::from(s))),
        Some(t) => Err(format!("--transport {t}: expected tcp or unix")),
        None => Err("--transport is required (tcp or unix)".to_owned()),
    };
    let mode = match (listen, connect) {
        (Some(l), None) => Mode::Listen(address(l)?),
        (None, Some(c)) => Mode::Connect(address(c)?),
        _ => return Err("give exactly one of --listen and --connect".to_owned()),
    };
    let domain = match domain {
        Some(d) => Domain::new(
            std::env::var_os(Domain::DIR_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/dev/shm")),
            &d,
        ),
        None => Domain::from_env(),
    }
    .map_err(|e| e.to_string())?;
    let secret = match secret_file {
        Some(f) => {
            // A regular file of at most 4 KiB: a FIFO or a device would
            // hang or exhaust the link process.
            let bytes = crate::source::read_regular(&f, crate::source::MAX_SECRET_BYTES)
                .map_err(|e| format!("cannot read the secret file {}: {e}", f.display()))?;
            let trimmed = bytes.trim_ascii().to_vec();
            if trimmed.is_empty() {
                return Err(format!("the secret file {} is empty", f.display()));
            }
            Some(trimmed)
        }
        None => std::env::var(SECRET_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .map(String::into_bytes),
    };
    let patterns = |v: Vec<String>| -> Vec<Pattern> {
        v.iter().filter_map(|p| Pattern::new(p).ok()).collect()
    };
    let mut cfg = LinkConfig::new(&name, mode, domain);
    cfg.export = patterns(export);
    cfg.import = patterns(import);
    cfg.reliable = patterns(reliable);
    cfg.secret = secret;
    cfg.timing = timing;
    cfg.max_peers = max_peers;
    cfg.max_pending = max_pending;
    cfg.limits = limits;
    if cfg.export.is_empty() && cfg.import.is_empty() {
        return Err("give at least one --export or --import pattern".to_owned());
    }
    if cfg.timing.heartbeat >= cfg.timing.dead_after {
        return Err(format!(
            "--heartbeat {:?} must be shorter than --dead-after {:?}",
            cfg.timing.heartbeat, cfg.timing.dead_after
        ));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let spec = LinkSpec {
            mode: Mode::Connect(Address::Tcp("robot.local:7447".into())),
            export: vec!["/cmd_vel".into()],
            import: vec!["/camera/**".into(), "/odom".into()],
            reliable: vec!["/cmd_vel".into()],
            secret_file: None,
            domain: None,
            heartbeat: Some(Duration::from_millis(100)),
            dead_after: Some(Duration::from_secs(1)),
        };
        let mut args = to_args("base", &spec);
        args.extend(["--domain".into(), "x".into()]);
        let cfg = parse_args(&args).unwrap();
        assert_eq!(cfg.name, "base");
        assert_eq!(cfg.mode, spec.mode);
        assert_eq!(cfg.import.len(), 2);
        assert!(cfg.import[0].matches("/camera/left"));
        assert_eq!(cfg.reliable[0].as_str(), "/cmd_vel");
        assert_eq!(cfg.timing.heartbeat, Duration::from_millis(100));
        assert_eq!(cfg.timing.dead_after, Duration::from_secs(1));
        assert_eq!(cfg.domain.name(), "x");
    }

    #[test]
    fn bad_command_lines_say_why() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = ["--name", "a", "--transport", "tcp"];
        let e = parse_args(&s(&[&base[..], &["--export", "/x"]].concat())).unwrap_err();
        assert!(e.contains("exactly one of --listen and --connect"), "{e}");
        let e = parse_args(&s(
            &[&base[..], &["--listen", "1", "--export", "x"]].concat()
        ))
        .unwrap_err();
        assert!(e.contains("not a topic pattern"), "{e}");
        let e = parse_args(&s(&[&base[..], &["--listen", "1"]].concat())).unwrap_err();
        assert!(e.contains("at least one --export or --import"), "{e}");
        let e =
            parse_args(&s(&["--name", "a", "--transport", "udp", "--listen", "1"])).unwrap_err();
        assert!(e.contains("expected tcp or unix"), "{e}");
        let e = parse_args(&s(&[
            &base[..],
            &[
                "--listen",
                "1",
                "--import",
                "/x",
                "--max-topic-bytes",
                "12 MB",
            ],
        ]
        .concat()))
        .unwrap_err();
        assert!(e.contains("expected a size like"), "{e}");
    }

    #[test]
    fn limits_parse() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cfg = parse_args(&s(&[
            "--name",
            "a",
            "--transport",
            "tcp",
            "--listen",
            "1",
            "--import",
            "/**",
            "--max-pending",
            "4",
            "--max-imports",
            "3",
            "--max-topic-bytes",
            "64KiB",
            "--max-import-bytes",
            "1GiB",
        ]))
        .unwrap();
        assert_eq!(cfg.max_pending, 4);
        assert_eq!(cfg.limits.max_imports, 3);
        assert_eq!(cfg.limits.max_topic_bytes, 64 << 10);
        assert_eq!(cfg.limits.max_import_bytes, 1 << 30);
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("18446744073709551615GiB"), None);
        assert_eq!(parse_bytes("5TB"), None);
    }

    #[test]
    fn fifo_or_device_secret_file_is_refused_not_hung() {
        let dir = std::env::temp_dir().join(format!("axon-link-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("pipe.key");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let big = dir.join("big.key");
        std::fs::write(&big, vec![b'k'; 4097]).unwrap();
        let cmd = |secret: &str| {
            [
                "--name",
                "a",
                "--transport",
                "tcp",
                "--listen",
                "1",
                "--export",
                "/x",
                "--secret-file",
                secret,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
        };
        // Watchdog: a blocking open of the FIFO must fail the test, not hang it.
        let (tx, rx) = std::sync::mpsc::channel();
        let fifo_cmd = cmd(fifo.to_str().unwrap());
        std::thread::spawn(move || tx.send(parse_args(&fifo_cmd).unwrap_err()));
        let e = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("watchdog: reading a FIFO secret file hung");
        assert!(
            e.ends_with("pipe.key: it is not a regular file (a FIFO)"),
            "{e}"
        );
        let e = parse_args(&cmd("/dev/zero")).unwrap_err();
        assert_eq!(
            e,
            "cannot read the secret file /dev/zero: it is not a regular file (a character device)"
        );
        let e = parse_args(&cmd(big.to_str().unwrap())).unwrap_err();
        assert!(
            e.ends_with("big.key: it is larger than 4096 bytes (the limit)"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
