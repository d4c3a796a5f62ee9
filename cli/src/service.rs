//! `axon service list|info`: the services of a domain, read through
//! `axon::service::list` / `inspect` (read-only: never claims a record,
//! never wakes anyone). `axon service call`: one call through
//! `axon::service::RawClient`, the request encoded from YAML or JSON with
//! the request type's description in the segment (`axon::dynamic`), the
//! response decoded with the response type's.

use std::io::Write;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use axon::dynamic;
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

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The service, e.g. /plan.
    name: String,
    /// The request as YAML or JSON, e.g. '{goal_x: 3.0, goal_y: 4.0}'
    /// (fields left out are zero).
    #[arg(default_value = "{}")]
    value: String,
    /// Seconds to wait for the response.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Print the response as one line of JSON.
    #[arg(long)]
    json: bool,
}

/// Longest response slice printed as text (the rest is counted).
const MAX_PRINTED: usize = 1 << 16;

pub fn call(g: &Global, a: &CallArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let name = axon::TopicName::new(&a.name)?;
    if !(a.timeout.is_finite() && a.timeout >= 0.0 && a.timeout <= 1e9) {
        bail!(
            "--timeout {}: give seconds, at least 0 and at most 1e9",
            a.timeout
        );
    }
    let value = axon_value(&a.value)?;
    let client = match service::RawClient::open(&domain, &name, "axon-service-call") {
        Ok(c) => c,
        Err(e @ axon::ServiceError::NoSuchService { .. }) => bail!("{e}"),
        Err(e) => return Err(anyhow!(e).context(format!("service {name}"))),
    };
    let (req_type, resp_type) = client.type_names();
    let (Some(req_desc), resp_desc) = client.descriptions() else {
        bail!("service {name}: its segment carries no description of its request type {req_type}");
    };
    let bytes = dynamic::encode(req_desc, &value, client.max_request_bytes())
        .map_err(|e| anyhow!("VALUE does not fit {req_type}: {e}"))?;
    let elems = dynamic::elems_of(req_desc, bytes.len()) as u64;
    let r = client
        .call(&bytes, elems, Duration::from_secs_f64(a.timeout))
        .map_err(|e| match e {
            axon::CallError::Timeout => anyhow!(
                "service {name}: no response within {}s (--timeout)",
                a.timeout
            ),
            axon::CallError::NoServer { .. } => anyhow!("service {name} has no live server"),
            e => anyhow!(e),
        })?;
    let Some(resp_desc) = resp_desc else {
        bail!(
            "service {name}: its segment carries no description of its response type {resp_type}"
        );
    };
    let got = dynamic::decode(resp_desc, &r.bytes, r.elems as usize, Some(MAX_PRINTED))
        .map_err(|e| anyhow!("service {name}: response: {e}"))?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&got.value)?)?;
    } else {
        let style = crate::text::YamlStyle { max_array: None };
        let t = match got.slice_field.as_deref() {
            Some(k) => crate::text::to_yaml_elided(&got.value, style, Some((k, got.elided))),
            None => crate::text::to_yaml(&got.value, style),
        };
        write!(out, "{t}")?;
    }
    Ok(())
}

fn axon_value(text: &str) -> anyhow::Result<Value> {
    crate::text::parse_yaml(text).map_err(|e| anyhow!("VALUE: {e}"))
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
