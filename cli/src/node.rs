//! `axon node list`: the processes behind the topics' records.
//!
//! A node is what its records say: a node name and a pid. It is *alive*
//! when one of its records' locks is held (the kernel's answer, immune to
//! pid reuse). State and uptime come from `/proc/<pid>` and are shown only
//! for live nodes (the pid is the one the node saw, so it is right when the
//! node runs in this pid namespace).

use std::io::Write;

use anyhow::Context;
use axon::inspect::{self, Liveness};
use clap::Args;
use serde_json::json;

use crate::{text, Global};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON (an array of nodes).
    #[arg(long)]
    json: bool,
    /// Also show nodes whose process died (records not cleaned up yet).
    #[arg(long)]
    all: bool,
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, PartialEq)]
struct ProcInfo {
    state: &'static str,
    uptime_s: f64,
}

fn proc_info(pid: u32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    parse_stat(&stat, uptime, ticks)
}

/// Parses `/proc/<pid>/stat` (the command name may contain spaces and
/// parentheses: fields start after the last `)`).
fn parse_stat(stat: &str, uptime_s: f64, ticks_per_s: f64) -> Option<ProcInfo> {
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let state = match *fields.first()? {
        "R" => "running",
        "S" => "sleeping",
        "D" => "disk-wait",
        "T" | "t" => "stopped",
        "Z" => "zombie",
        "I" => "idle",
        _ => "other",
    };
    // Field 22 of the line is the start time in clock ticks after boot;
    // here fields start at field 3.
    let start: f64 = fields.get(19)?.parse().ok()?;
    Some(ProcInfo {
        state,
        uptime_s: (uptime_s - start / ticks_per_s).max(0.0),
    })
}

pub fn list(g: &Global, a: &ListArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let entries = inspect::topics(&domain)
        .with_context(|| format!("{}: cannot list segments", domain.dir().display()))?;
    let reports: Vec<_> = entries.into_iter().filter_map(|(_, r)| r.ok()).collect();
    let nodes: Vec<_> = inspect::nodes(&reports)
        .into_iter()
        .filter(|n| a.all || n.liveness == Liveness::Alive)
        .collect();
    let procs: Vec<Option<ProcInfo>> = nodes
        .iter()
        .map(|n| {
            (n.liveness == Liveness::Alive)
                .then(|| proc_info(n.pid))
                .flatten()
        })
        .collect();
    if a.json {
        let items: Vec<_> = nodes
            .iter()
            .zip(&procs)
            .map(|(n, p)| {
                json!({
                    "name": n.name,
                    "pid": n.pid,
                    "alive": n.liveness == Liveness::Alive,
                    "state": match (n.liveness, p) {
                        (Liveness::Alive, Some(p)) => p.state,
                        (Liveness::Alive, None) => "unknown",
                        _ => "dead",
                    },
                    "uptime_s": p.as_ref().map(|p| p.uptime_s),
                    "publishes": n.publishes,
                    "subscribes": n.subscribes,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
        return Ok(());
    }
    if nodes.is_empty() {
        writeln!(out, "no live nodes in domain {:?}", domain.name())?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .zip(&procs)
        .map(|(n, p)| {
            let (state, uptime) = match (n.liveness, p) {
                (Liveness::Alive, Some(p)) => (p.state.to_string(), text::seconds(p.uptime_s)),
                (Liveness::Alive, None) => ("alive".into(), "?".into()),
                _ => ("dead".into(), "-".into()),
            };
            vec![
                n.name.clone(),
                n.pid.to_string(),
                state,
                uptime,
                n.publishes.join(","),
                n.subscribes.join(","),
            ]
        })
        .collect();
    out.write_all(
        text::table(
            &["NODE", "PID", "STATE", "UPTIME", "PUBLISHES", "SUBSCRIBES"],
            &rows,
        )
        .as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names() {
        let line = "4242 (my (odd) node) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 1000 1000000 200 18446744073709551615";
        let p = parse_stat(line, 30.0, 100.0).unwrap();
        assert_eq!(p.state, "sleeping");
        assert!((p.uptime_s - 20.0).abs() < 1e-9, "{p:?}");
        assert_eq!(parse_stat("garbage", 1.0, 100.0), None);
    }

    #[test]
    fn this_process_is_running_or_sleeping() {
        let p = proc_info(std::process::id()).unwrap();
        assert!(matches!(p.state, "running" | "sleeping"), "{p:?}");
        assert!(p.uptime_s < 3600.0, "{p:?}");
    }
}
