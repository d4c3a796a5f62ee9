//! `axon queue list|info|purge|dead`: the work queues of a domain, read
//! through `axon::queue::list` / `inspect` / `dead_letters` (read-only:
//! never joins as a participant, never wakes anyone), changed only through
//! `axon::queue::purge` and `requeue_dead` (which move unowned slots with
//! one CAS each, as the queue protocol allows anyone to).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use axon::queue::{self, QueueInfo};
use clap::Args;
use serde_json::{json, Value};

use crate::Global;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON (an array of queues).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The queue, e.g. /jobs.
    name: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// The queue, e.g. /jobs.
    name: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct DeadArgs {
    /// The queue, e.g. /jobs.
    name: String,
    /// Put the dead letters back in the queue (those no dead-letter worker holds).
    #[arg(long)]
    requeue: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn role_name(role: u32) -> &'static str {
    match role {
        1 => "producer",
        2 => "worker",
        3 => "dead-letter worker",
        _ => "unknown",
    }
}

fn to_json(i: &QueueInfo) -> Value {
    let parts: Vec<Value> = i
        .participants
        .iter()
        .map(|(rec, role, pid, node, in_flight)| {
            json!({"record": rec, "role": role_name(*role), "pid": pid, "node": node,
                   "in_flight": in_flight})
        })
        .collect();
    json!({
        "queue": i.name,
        "type": i.type_name,
        "capacity": i.capacity,
        "max_deliveries": i.max_deliveries,
        "ready": i.ready,
        "in_flight": i.claimed,
        "dead": i.dead,
        "sent": i.sent,
        "acked": i.acked,
        "redeliveries": i.requeued,
        "dead_lettered": i.dead_lettered,
        "full": i.full,
        "corrupt": i.corrupt,
        "expired": i.expired,
        "participants": parts,
    })
}

/// The file of queue `name` in the selected domain; an error naming the
/// queue and the domain if there is none.
fn existing(g: &Global, name: &str) -> anyhow::Result<(String, PathBuf)> {
    let domain = g.domain()?;
    let name = axon::TopicName::new(name)?;
    let path = queue::queue_path(&domain, &name);
    if !path.exists() {
        anyhow::bail!(
            "queue {name}: no such queue in domain {} ({} does not exist)",
            domain.name(),
            path.display()
        );
    }
    Ok((name.to_string(), path))
}

pub fn list(g: &Global, a: &ListArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let entries = queue::list(&domain)
        .with_context(|| format!("{}: cannot list queues", domain.dir().display()))?;
    if a.json {
        let items: Vec<Value> = entries
            .iter()
            .map(|(p, r)| match r {
                Ok(i) => to_json(i),
                Err(e) => json!({"file": p.display().to_string(), "error": e.to_string()}),
            })
            .collect();
        writeln!(out, "{}", Value::Array(items))?;
        return Ok(());
    }
    if entries.is_empty() {
        writeln!(out, "no queues in domain {}", domain.name())?;
        return Ok(());
    }
    writeln!(
        out,
        "QUEUE  TYPE  READY  IN-FLIGHT  DEAD  WORKERS  PRODUCERS"
    )?;
    for (p, r) in &entries {
        match r {
            Ok(i) => {
                let count = |role| i.participants.iter().filter(|x| x.1 == role).count();
                writeln!(
                    out,
                    "{}  {}  {}  {}  {}  {}  {}",
                    i.name,
                    i.type_name,
                    i.ready,
                    i.claimed,
                    i.dead,
                    count(2),
                    count(1)
                )?;
            }
            Err(e) => writeln!(out, "{}  (invalid: {e})", p.display())?,
        }
    }
    Ok(())
}

pub fn info(g: &Global, a: &InfoArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (name, path) = existing(g, &a.name)?;
    let i = queue::inspect(&path).with_context(|| format!("queue {name}"))?;
    if a.json {
        writeln!(out, "{}", to_json(&i))?;
        return Ok(());
    }
    writeln!(out, "queue:        {}", i.name)?;
    writeln!(out, "type:         {}", i.type_name)?;
    writeln!(
        out,
        "capacity:     {} jobs, max {} deliveries",
        i.capacity, i.max_deliveries
    )?;
    writeln!(
        out,
        "jobs:         {} ready, {} in flight, {} dead",
        i.ready, i.claimed, i.dead
    )?;
    writeln!(
        out,
        "counters:     {} sent, {} acked, {} redeliveries, {} dead-lettered, {} expired, {} refused (full), {} corrupt",
        i.sent, i.acked, i.requeued, i.dead_lettered, i.expired, i.full, i.corrupt
    )?;
    if i.participants.is_empty() {
        writeln!(out, "participants: none")?;
    }
    for (rec, role, pid, node, in_flight) in &i.participants {
        if *role == 1 {
            writeln!(out, "producer {rec}:  {node} (pid {pid})")?;
        } else {
            writeln!(
                out,
                "{} {rec}:  {node} (pid {pid}), {in_flight} in flight",
                role_name(*role)
            )?;
        }
    }
    Ok(())
}

pub fn purge(g: &Global, a: &PurgeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (name, path) = existing(g, &a.name)?;
    let n = queue::purge(&path).with_context(|| format!("queue {name}"))?;
    if a.json {
        writeln!(out, "{}", json!({"queue": name, "purged": n}))?;
    } else {
        writeln!(out, "purged {n} ready jobs from {name}")?;
    }
    Ok(())
}

pub fn dead(g: &Global, a: &DeadArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (name, path) = existing(g, &a.name)?;
    if a.requeue {
        let n = queue::requeue_dead(&path).with_context(|| format!("queue {name}"))?;
        if a.json {
            writeln!(out, "{}", json!({"queue": name, "requeued": n}))?;
        } else {
            writeln!(out, "requeued {n} dead letters of {name}")?;
        }
        return Ok(());
    }
    let letters = queue::dead_letters(&path).with_context(|| format!("queue {name}"))?;
    if a.json {
        let items: Vec<Value> = letters
            .iter()
            .map(|d| {
                json!({"slot": d.slot, "ticket": d.ticket, "deliveries": d.deliveries,
                       "elems": d.elems, "sent_ns": d.sent_ns, "held": d.held})
            })
            .collect();
        writeln!(out, "{}", json!({"queue": name, "dead_letters": items}))?;
        return Ok(());
    }
    if letters.is_empty() {
        writeln!(out, "no dead letters in {name}")?;
        return Ok(());
    }
    writeln!(out, "TICKET  DELIVERIES  SLOT  ELEMS  HELD")?;
    for d in &letters {
        writeln!(
            out,
            "{}  {}  {}  {}  {}",
            d.ticket,
            d.deliveries,
            d.slot,
            d.elems,
            if d.held { "yes" } else { "no" }
        )?;
    }
    Ok(())
}
