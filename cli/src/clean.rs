//! `axon clean`: remove segments that no live process uses.

use std::io::Write;

use anyhow::Context;
use axon::inspect::{self, CleanAction, CleanReason, Scope};
use clap::Args;
use serde_json::json;

use crate::{text, ExitCode, Global};

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only report what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Clean every domain of this user, not only the selected one.
    #[arg(long)]
    all_domains: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn reason_text(r: &CleanReason) -> String {
    match r {
        CleanReason::NoLiveParticipant { dead: 0 } => "no participant left".into(),
        CleanReason::NoLiveParticipant { dead } => {
            format!("{dead} participant(s) died, none alive")
        }
        CleanReason::Unusable(why) => why.clone(),
        CleanReason::AbandonedTemporary => "unfinished segment creation".into(),
    }
}

pub fn run(g: &Global, a: &CleanArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let scope = if a.all_domains {
        Scope::AllDomains
    } else {
        Scope::Domain(&domain)
    };
    let entries = inspect::clean(domain.dir(), scope, a.dry_run)
        .with_context(|| format!("{}: cannot clean", domain.dir().display()))?;
    let removed: Vec<_> = entries
        .iter()
        .filter(|e| e.action == CleanAction::Removed)
        .collect();
    let failed: Vec<_> = entries
        .iter()
        .filter(|e| e.action == CleanAction::Failed)
        .collect();
    let in_use = entries
        .iter()
        .filter(|e| e.action == CleanAction::InUse)
        .count();
    let freed: u64 = removed.iter().map(|e| e.bytes).sum();
    if a.json {
        let item = |e: &&inspect::CleanEntry| {
            json!({
                "path": e.path.display().to_string(),
                "topic": e.topic.as_ref().map(|t| t.to_string()),
                "reason": reason_text(&e.reason),
                "bytes": e.bytes,
            })
        };
        let v = json!({
            "dry_run": a.dry_run,
            "removed": removed.iter().map(item).collect::<Vec<_>>(),
            "failed": failed.iter().map(item).collect::<Vec<_>>(),
            "in_use": in_use,
            "freed_bytes": freed,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        let verb = if a.dry_run { "would remove" } else { "removed" };
        for e in &removed {
            writeln!(
                out,
                "{verb} {} ({}; {})",
                e.path.display(),
                reason_text(&e.reason),
                text::bytes(e.bytes as f64)
            )?;
        }
        writeln!(
            out,
            "{} {} segment(s), {}; {in_use} in use, left alone",
            if a.dry_run { "would free" } else { "freed" },
            removed.len(),
            text::bytes(freed as f64)
        )?;
    }
    if failed.is_empty() {
        return Ok(());
    }
    out.flush()?;
    for e in failed {
        eprintln!(
            "axon: left {}: {}",
            e.path.display(),
            reason_text(&e.reason)
        );
    }
    Err(ExitCode(1).into())
}
