//! `axon service list|info`: the services of a domain, read through
//! `axon::service::list` / `inspect` (read-only: never claims a record,
//! never wakes anyone).

use std::io::Write;

use anyhow::Context;
use axon::service::{self, ServiceReport};
use clap::Args;
use serde_json::{json, Value};

use crate::Global;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON (an array of services).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The service, e.g. /plan.
    name: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn to_json(r: &ServiceReport) -> Value {
    let p = |p: &service::ParticipantReport| {
        json!({"index": p.index, "pid": p.pid, "node": p.node, "alive": p.alive,
               "count": p.count, "in_flight": p.in_flight})
    };
    json!({
        "service": r.name,
        "request_type": r.request_type.0,
        "request_fingerprint": format!("{:016x}", r.request_type.1),
        "response_type": r.response_type.0,
        "response_fingerprint": format!("{:016x}", r.response_type.1),
        "max_clients": r.max_clients,
        "max_in_flight": r.max_in_flight,
        "max_request_len": r.max_lens.0,
        "max_response_len": r.max_lens.1,
        "server": r.server.as_ref().map(p),
        "clients": r.clients.iter().map(p).collect::<Vec<_>>(),
    })
}

pub fn list(g: &Global, a: &ListArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let entries = service::list(&domain)
        .with_context(|| format!("{}: cannot list services", domain.dir().display()))?;
    if a.json {
        let items: Vec<Value> = entries
            .iter()
            .map(|(n, r)| match r {
                Ok(r) => to_json(r),
                Err(e) => json!({"service": n.as_str(), "error": e.to_string()}),
            })
            .collect();
        writeln!(out, "{}", Value::Array(items))?;
        return Ok(());
    }
    if entries.is_empty() {
        writeln!(out, "no services in domain {}", domain.name())?;
        return Ok(());
    }
    writeln!(out, "SERVICE  REQUEST -> RESPONSE  SERVER  CLIENTS")?;
    for (n, r) in &entries {
        match r {
            Ok(r) => {
                let server = r.server.as_ref().map_or("none".to_string(), |s| {
                    format!("{} (pid {})", s.node, s.pid)
                });
                let alive = r.clients.iter().filter(|c| c.alive).count();
                writeln!(
                    out,
                    "{}  {} -> {}  {server}  {alive}",
                    r.name, r.request_type.0, r.response_type.0
                )?;
            }
            Err(e) => writeln!(out, "{n}  (unreadable: {e})")?,
        }
    }
    Ok(())
}

pub fn info(g: &Global, a: &InfoArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let name = axon::TopicName::new(&a.name)?;
    let r = service::inspect(&domain, &name).with_context(|| format!("service {name}"))?;
    if a.json {
        writeln!(out, "{}", to_json(&r))?;
        return Ok(());
    }
    writeln!(out, "service:   {}", r.name)?;
    writeln!(
        out,
        "request:   {} ({:016x})",
        r.request_type.0, r.request_type.1
    )?;
    writeln!(
        out,
        "response:  {} ({:016x})",
        r.response_type.0, r.response_type.1
    )?;
    writeln!(
        out,
        "capacity:  {} clients x {} in flight; slices up to {} / {} elements",
        r.max_clients, r.max_in_flight, r.max_lens.0, r.max_lens.1
    )?;
    match &r.server {
        Some(s) => writeln!(
            out,
            "server:    {} (pid {}), {} answered",
            s.node, s.pid, s.count
        )?,
        None => writeln!(out, "server:    none")?,
    }
    for c in &r.clients {
        writeln!(
            out,
            "client {}:  {} (pid {}) {}, {} calls, {} in flight",
            c.index,
            c.node,
            c.pid,
            if c.alive { "alive" } else { "dead" },
            c.count,
            c.in_flight
        )?;
    }
    Ok(())
}
