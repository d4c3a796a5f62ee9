//! `axon topic list | info | echo | hz | bw | pub`.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use axon::desc::{Primitive, Ty};
use axon::dynamic;
use axon::inspect::{self, InspectError, Liveness, TopicReport};
use axon::{Description, Domain, Qos, RawPublisher, RawSubscriber, TopicName, TypeDesc};
use axon_msgs::registry::{self, TypeInfo, TypeLayout};
use clap::Args;
use serde_json::{json, Value};

use crate::stats::{Obs, Window};
use crate::text::{self, YamlStyle};
use crate::{ExitCode, Global};

/// How often a reading command looks for new samples. It polls rather than
/// sleeps on the topic's futex: a sleeping subscriber makes every `send`
/// of the publisher a wake-up system call, and this tool must never slow a
/// publisher down. Rates and periods come from the publisher's stamps, so
/// the polling does not show in them.
const POLL: Duration = Duration::from_millis(1);

/// Node name the tool's own publishers and subscribers carry.
const NODE: &str = "axon-cli";

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON (an array of topics).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The topic, e.g. /imu.
    topic: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct EchoArgs {
    /// The topic, e.g. /odom.
    topic: String,
    /// Print only this field: `pose.position`, `ranges[3]`.
    field: Option<String>,
    /// Stop after N samples.
    #[arg(short = 'n', long = "count", value_name = "N")]
    count: Option<u64>,
    /// Stop after one sample (same as -n 1).
    #[arg(long, conflicts_with = "count")]
    once: bool,
    /// One JSON value per line instead of YAML-like text.
    #[arg(long)]
    json: bool,
    /// Print at most N elements of an array and N bytes of a hex dump
    /// (0: everything). Default: 32 elements / 256 bytes in text, everything
    /// in JSON (where N cuts only the message's trailing slice: pixels,
    /// ranges, points).
    #[arg(long, value_name = "N")]
    max_array: Option<usize>,
    /// Wait for the topic and a publisher instead of failing when the topic
    /// does not exist yet or has no publisher.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Args)]
pub struct RateArgs {
    /// The topic.
    topic: String,
    /// Samples in the window the statistics are over.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    window: usize,
    /// Stop after N reports (one a second).
    #[arg(short = 'n', long = "count", value_name = "N")]
    count: Option<u64>,
    /// One JSON object per report.
    #[arg(long)]
    json: bool,
    /// Wait for the topic and a publisher instead of failing when the topic
    /// does not exist yet or has no publisher.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Args)]
pub struct PubArgs {
    /// The topic, e.g. /cmd_vel.
    topic: String,
    /// Message type: `axon-msgs/Twist` (or just `Twist` for axon-msgs types).
    #[arg(value_name = "TYPE")]
    type_name: String,
    /// The sample as YAML or JSON, e.g. '{linear: {x: 0.5}}'. Fields left out are zero.
    #[arg(value_name = "VALUE", default_value = "{}")]
    value: String,
    /// Publish repeatedly at HZ until Ctrl-C (or -n samples).
    #[arg(short, long, value_name = "HZ")]
    rate: Option<f64>,
    /// Stop after N samples (default: 1 without --rate, endless with it).
    #[arg(short = 'n', long = "count", value_name = "N")]
    count: Option<u64>,
}

fn topic_name(s: &str) -> anyhow::Result<TopicName> {
    Ok(TopicName::new(s)?)
}

/// What to tell the user to do about a segment that cannot be read.
fn hint(e: &InspectError) -> &'static str {
    match e {
        InspectError::NoSuchTopic { .. } => " (`axon topic list` shows the topics)",
        InspectError::VersionMismatch { .. } | InspectError::Corrupted { .. } => {
            " (`axon clean` removes it once no process uses it)"
        }
        InspectError::NotASegment { .. } => " (`axon clean` removes it)",
        InspectError::ForeignOwner { .. } => {
            " (each user has their own segments; run the tool as that user)"
        }
        _ => "",
    }
}

fn inspect_error(e: InspectError) -> anyhow::Error {
    let h = hint(&e);
    anyhow!("{e}{h}")
}

fn known_type(r: &TopicReport) -> Option<TypeInfo> {
    registry::describe(&r.config.type_name()).filter(|t| t.fingerprint == r.config.fingerprint)
}

/// How a tool reads and writes a topic's samples. The rule
/// (`axon_msgs::registry`): the registry's entry only when the type name
/// and the fingerprint both match it; otherwise the description the
/// segment carries; raw bytes when there is neither (a segment a socket
/// link created) or the message is just bytes (`[u8]`).
enum Codec {
    Registry(TypeInfo),
    Described(Arc<Description>),
    Bytes,
}

impl Codec {
    fn of(r: &TopicReport) -> Codec {
        if let Some(t) = known_type(r) {
            return Codec::Registry(t);
        }
        match &r.description {
            Some(d) if !is_bytes(d) => Codec::Described(d.clone()),
            _ => Codec::Bytes,
        }
    }

    /// What `topic info` says about it.
    fn note(&self, r: &TopicReport) -> &'static str {
        match self {
            Codec::Registry(_) => "decodable",
            Codec::Described(_) => "described by its segment",
            Codec::Bytes if r.description.is_some() => "bytes: echo shows them in hex",
            Codec::Bytes if registry::describe(&r.config.type_name()).is_some() => {
                "known name, but another layout than this tool's, and no description"
            }
            Codec::Bytes => "no description and unknown to this tool: echo shows bytes",
        }
    }
}

/// A message that is a plain byte slice reads best as a hex dump.
fn is_bytes(d: &Description) -> bool {
    matches!(&d.root, Ty::Slice { elem } if **elem == Ty::Primitive(Primitive::U8))
}

fn counts(live: usize, dead: usize) -> String {
    if dead > 0 {
        format!("{live} (+{dead} dead)")
    } else {
        live.to_string()
    }
}

fn payload_text(r: &TopicReport) -> String {
    let c = &r.config;
    if c.elem_size == 0 {
        text::bytes(c.fixed_size as f64)
    } else {
        format!("<= {}", text::bytes(c.slot_payload as f64))
    }
}

fn reliable_count(r: &TopicReport) -> usize {
    r.subscribers
        .iter()
        .filter(|s| s.reliable && s.liveness == Liveness::Alive)
        .count()
}

fn qos_text(r: &TopicReport) -> String {
    let rel = reliable_count(r);
    let mut s = format!("keep-last {}", r.config.depth);
    if rel > 0 {
        s.push_str(&format!(", {rel} reliable"));
    }
    s
}

fn summary_json(r: &TopicReport) -> Value {
    let c = &r.config;
    let dead_pubs = r
        .publishers
        .iter()
        .filter(|p| p.liveness == Liveness::Dead)
        .count();
    let dead_subs = r
        .subscribers
        .iter()
        .filter(|s| s.liveness == Liveness::Dead)
        .count();
    json!({
        "topic": r.topic.as_str(),
        "type": c.type_name(),
        "fingerprint": format!("{:016x}", c.fingerprint),
        "known_type": known_type(r).is_some(),
        "described": r.description.is_some(),
        "publishers": r.live_publishers(),
        "subscribers": r.live_subscribers(),
        "dead_publishers": dead_pubs,
        "dead_subscribers": dead_subs,
        "payload": {
            "fixed_bytes": c.fixed_size,
            "element_bytes": c.elem_size,
            "max_elements": c.max_elems,
            "capacity_bytes": c.slot_payload,
        },
        "qos": {
            "history": c.depth,
            "max_publishers": c.max_publishers,
            "max_subscribers": c.max_subscribers,
            "max_held": c.max_held,
            "max_loans": c.max_loans,
            "reliable_subscribers": reliable_count(r),
        },
    })
}

pub fn list(g: &Global, a: &ListArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let entries = inspect::topics(&domain).with_context(|| {
        format!(
            "{}: cannot list segments (is it there? `axon doctor` checks)",
            domain.dir().display()
        )
    })?;
    let mut bad = Vec::new();
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for (topic, r) in entries {
        match r {
            Ok(r) => {
                rows.push(vec![
                    r.topic.to_string(),
                    r.config.type_name(),
                    counts(
                        r.live_publishers(),
                        r.publishers
                            .iter()
                            .filter(|p| p.liveness == Liveness::Dead)
                            .count(),
                    ),
                    counts(
                        r.live_subscribers(),
                        r.subscribers
                            .iter()
                            .filter(|s| s.liveness == Liveness::Dead)
                            .count(),
                    ),
                    payload_text(&r),
                    qos_text(&r),
                ]);
                items.push(summary_json(&r));
            }
            Err(e) => {
                items.push(json!({"topic": topic.as_str(), "error": e.to_string()}));
                bad.push(inspect_error(e));
            }
        }
    }
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
    } else if rows.is_empty() && bad.is_empty() {
        writeln!(out, "no topics in domain {:?}", domain.name())?;
    } else {
        let t = text::table(&["TOPIC", "TYPE", "PUBS", "SUBS", "PAYLOAD", "QOS"], &rows);
        out.write_all(t.as_bytes())?;
    }
    report_bad(bad, out)
}

/// Prints each unreadable segment as one line on stderr; fails if any.
fn report_bad(bad: Vec<anyhow::Error>, out: &mut dyn Write) -> anyhow::Result<()> {
    if bad.is_empty() {
        return Ok(());
    }
    out.flush()?;
    for e in &bad {
        eprintln!("axon: {e:#}");
    }
    Err(ExitCode(1).into())
}

pub fn info(g: &Global, a: &InfoArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let r = inspect::topic(&domain, &topic_name(&a.topic)?).map_err(inspect_error)?;
    let c = &r.config;
    if a.json {
        let mut v = summary_json(&r);
        v["segment"] = json!({
            "path": r.path.display().to_string(),
            "mode": format!("{:04o}", r.mode),
            "owner_uid": r.owner_uid,
            "file_bytes": r.file_size,
            "memory_bytes": r.allocated,
            "slots_per_lane": c.slots_per_lane,
        });
        v["publisher_list"] = r
            .publishers
            .iter()
            .map(|p| {
                json!({"lane": p.lane, "state": p.liveness.as_str(), "node": p.node, "pid": p.pid,
                    "published": p.published, "claims": p.claims, "full_events": p.full_events,
                    "loan_failures": p.loan_failures})
            })
            .collect();
        v["subscriber_list"] = r
            .subscribers
            .iter()
            .map(|s| {
                json!({"index": s.index, "state": s.liveness.as_str(), "node": s.node, "pid": s.pid,
                    "reliable": s.reliable, "received": s.received, "dropped": s.dropped,
                    "corrupt": s.corrupt, "unread": s.unread})
            })
            .collect();
        if let Some(d) = &r.description {
            v["layout"] = layout_json(d);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    let known = Codec::of(&r).note(&r);
    writeln!(out, "topic:       {}", r.topic)?;
    writeln!(
        out,
        "type:        {} (fingerprint {:016x}, {known})",
        c.type_name(),
        c.fingerprint
    )?;
    let payload = if c.elem_size == 0 {
        format!("{} per sample", text::bytes(c.fixed_size as f64))
    } else {
        format!(
            "{} + {} per element, up to {} elements ({} per slot)",
            text::bytes(c.fixed_size as f64),
            text::bytes(c.elem_size as f64),
            c.max_elems,
            text::bytes(c.slot_payload as f64)
        )
    };
    writeln!(out, "payload:     {payload}")?;
    writeln!(
        out,
        "qos:         history {}, max {} publishers, max {} subscribers, {} held per subscriber, {} loans per publisher, {} reliable subscribers",
        c.depth, c.max_publishers, c.max_subscribers, c.max_held, c.max_loans, reliable_count(&r)
    )?;
    writeln!(
        out,
        "segment:     {} (mode {:04o}, uid {}, {} of memory reserved of {} at most, {} slots per lane)",
        r.path.display(),
        r.mode,
        r.owner_uid,
        text::bytes(r.allocated as f64),
        text::bytes(r.file_size as f64),
        c.slots_per_lane
    )?;
    if let Some(d) = &r.description {
        write_layout(out, d)?;
    }
    writeln!(out, "publishers:  {}", r.live_publishers())?;
    if !r.publishers.is_empty() {
        let rows: Vec<Vec<String>> = r
            .publishers
            .iter()
            .map(|p| {
                vec![
                    format!("  {}", p.lane),
                    p.liveness.as_str().into(),
                    p.node.clone(),
                    p.pid.to_string(),
                    p.published.to_string(),
                    p.full_events.to_string(),
                    p.loan_failures.to_string(),
                ]
            })
            .collect();
        out.write_all(
            text::table(
                &[
                    "  LANE",
                    "STATE",
                    "NODE",
                    "PID",
                    "PUBLISHED",
                    "FULL",
                    "LOAN-FAILURES",
                ],
                &rows,
            )
            .as_bytes(),
        )?;
    }
    writeln!(out, "subscribers: {}", r.live_subscribers())?;
    if !r.subscribers.is_empty() {
        let rows: Vec<Vec<String>> = r
            .subscribers
            .iter()
            .map(|s| {
                vec![
                    format!("  {}", s.index),
                    s.liveness.as_str().into(),
                    s.node.clone(),
                    s.pid.to_string(),
                    if s.reliable {
                        "reliable"
                    } else {
                        "best-effort"
                    }
                    .into(),
                    s.received.to_string(),
                    s.dropped.to_string(),
                    s.corrupt.to_string(),
                    s.unread.to_string(),
                ]
            })
            .collect();
        out.write_all(
            text::table(
                &[
                    "  INDEX", "STATE", "NODE", "PID", "MODE", "RECEIVED", "DROPPED", "CORRUPT",
                    "UNREAD",
                ],
                &rows,
            )
            .as_bytes(),
        )?;
    }
    Ok(())
}

/// The type's fields, struct by struct (`axon::dynamic::layout`), as JSON.
fn layout_json(d: &Description) -> Value {
    let structs: Vec<Value> = dynamic::layout(d)
        .into_iter()
        .map(|s| {
            let fields: Vec<Value> = s
                .fields
                .iter()
                .map(|f| {
                    json!({"name": f.name, "offset": f.offset, "size": f.size,
                        "type": f.ty, "padding": f.padding})
                })
                .collect();
            json!({"name": s.name, "size": s.size, "align": s.align, "fields": fields})
        })
        .collect();
    json!({
        "type": dynamic::type_text(d, &d.root),
        "size": d.size_of(&d.root),
        "slice": d.is_slice(),
        "structs": structs,
    })
}

/// The type's fields as tables: the message type, then each struct it
/// contains (once).
fn write_layout(out: &mut dyn Write, d: &Description) -> anyhow::Result<()> {
    let structs = dynamic::layout(d);
    // A message that is not a struct (`[u8]`, `[Point; 4]`) says so first.
    let root_is_struct = d.root_struct().is_some();
    if !root_is_struct {
        writeln!(
            out,
            "fields:      none: the message is a {}",
            dynamic::type_text(d, &d.root)
        )?;
    }
    for (i, s) in structs.iter().enumerate() {
        let label = if i == 0 && root_is_struct {
            "fields:"
        } else {
            ""
        };
        writeln!(
            out,
            "{label:<13}{} ({}, align {})",
            s.name,
            text::bytes(s.size as f64),
            s.align
        )?;
        let rows: Vec<Vec<String>> = s
            .fields
            .iter()
            .map(|f| {
                vec![
                    format!("  {}", f.offset),
                    if f.slice {
                        "-".into()
                    } else {
                        f.size.to_string()
                    },
                    f.name.clone(),
                    if f.padding {
                        format!("{} (padding)", f.ty)
                    } else {
                        f.ty.clone()
                    },
                ]
            })
            .collect();
        out.write_all(text::table(&["  OFFSET", "SIZE", "FIELD", "TYPE"], &rows).as_bytes())?;
    }
    Ok(())
}

/// How often `--wait` looks for a topic that does not exist yet.
const TOPIC_POLL: Duration = Duration::from_millis(20);

/// Checks the topic (exists, readable, has a publisher unless `wait`) and
/// joins it as a best-effort subscriber. With `wait`, a topic that does not
/// exist yet is waited for (polling its file, Ctrl-C ends the wait: `None`).
fn subscribe(
    domain: &Domain,
    topic: &str,
    wait: bool,
) -> anyhow::Result<Option<(TopicReport, RawSubscriber)>> {
    let name = topic_name(topic)?;
    axon::shutdown::install().context("cannot install the Ctrl-C handler")?;
    let mut said = false;
    let report = loop {
        match inspect::topic(domain, &name) {
            Err(InspectError::NoSuchTopic { .. }) if wait => {
                if !said {
                    eprintln!("axon: waiting for topic {name} to appear (Ctrl-C to stop)");
                    said = true;
                }
                if axon::shutdown_requested() {
                    return Ok(None);
                }
                std::thread::sleep(TOPIC_POLL);
            }
            r => break r.map_err(inspect_error)?,
        }
    };
    if report.live_publishers() == 0 && !wait {
        bail!(
            "topic {} has no live publisher (add --wait to wait for one)",
            report.topic
        );
    }
    let qos = Qos {
        history: Some(1),
        max_held: 1,
        max_loans: 1,
        ..Qos::default()
    };
    let sub = RawSubscriber::create(domain, name, None, &qos, NODE)
        .with_context(|| format!("cannot subscribe to {}", report.topic))?;
    Ok(Some((report, sub)))
}

pub fn echo(g: &Global, a: &EchoArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let Some((report, sub)) = subscribe(&domain, &a.topic, a.wait)? else {
        return Ok(());
    };
    let type_name = report.config.type_name();
    let codec = Codec::of(&report);
    if matches!(codec, Codec::Bytes) {
        if report.description.is_none() {
            let why = if registry::describe(&type_name).is_some() {
                "has another layout here than in this tool, and its segment carries no description"
            } else {
                "is not known to this tool and its segment carries no description"
            };
            eprintln!("axon: {type_name} {why}: showing raw bytes");
        }
        if a.field.is_some() {
            bail!("a field path needs a message type with fields ({type_name} is bytes)");
        }
    }
    let limit = match a.max_array {
        Some(0) => None,
        Some(n) => Some(n),
        None if a.json => None,
        None => Some(32),
    };
    let style = YamlStyle { max_array: limit };
    let count = if a.once { Some(1) } else { a.count };
    let mut printed = 0u64;
    while count.is_none_or(|n| printed < n) {
        if axon::shutdown_requested() {
            break;
        }
        let sample = match sub.try_recv()? {
            Some(s) => s,
            None => {
                std::thread::sleep(POLL);
                continue;
            }
        };
        let bytes = sample.bytes();
        // A long slice (an image's pixels) is decoded only as far as it is
        // printed: turning megabytes into JSON numbers would cost far more
        // than the sample.
        let c = &report.config;
        let elems = sample.info().elems;
        let slice_limit = limit.filter(|_| a.field.is_none());
        let decoded = match &codec {
            Codec::Registry(t) => {
                let (part, elided) = match slice_limit {
                    Some(n) if c.elem_size > 0 && elems > n => {
                        let len = (c.fixed_size + c.elem_size * n as u64) as usize;
                        (&bytes[..len.min(bytes.len())], elems - n)
                    }
                    _ => (bytes, 0),
                };
                let v = t
                    .decode(part)
                    .map_err(|e| anyhow!("{}: {e}", report.topic))?;
                // The slice is the top-level array that has as many
                // elements as were decoded.
                let n = elems - elided;
                let key = v.as_object().and_then(|o| {
                    o.iter().find_map(|(k, x)| {
                        (elided > 0 && x.as_array().is_some_and(|a| a.len() == n))
                            .then(|| k.clone())
                    })
                });
                Some((v, key, elided))
            }
            Codec::Described(d) => {
                let got = dynamic::decode(d, bytes, elems, slice_limit)
                    .map_err(|e| anyhow!("{}: {e}", report.topic))?;
                Some((got.value, got.slice_field, got.elided))
            }
            Codec::Bytes => None,
        };
        let text = match (decoded, a.json) {
            (Some((v, slice_key, elided)), json) => {
                let v = match &a.field {
                    Some(path) => text::field(&v, path)
                        .map_err(|e| anyhow!("{path}: {e}"))?
                        .clone(),
                    None => v,
                };
                if json {
                    format!("{}\n", serde_json::to_string(&v)?)
                } else {
                    let mut t = match slice_key.as_deref() {
                        Some(k) => text::to_yaml_elided(&v, style, Some((k, elided))),
                        None => text::to_yaml(&v, style),
                    };
                    if slice_key.is_none() && elided > 0 {
                        t.push_str(&format!("# ... {elided} more elements\n"));
                    }
                    format!("{t}---\n")
                }
            }
            (None, true) => format!(
                "{}\n",
                json!({"type": type_name, "bytes": bytes.len(), "hex": text::hex(&bytes[..limit.map_or(bytes.len(), |n| n.min(bytes.len()))])})
            ),
            (None, false) => format!(
                "# {type_name}, {} bytes\n{}---\n",
                bytes.len(),
                text::hex_dump(bytes, a.max_array.or(Some(256)).filter(|n| *n > 0))
            ),
        };
        drop(sample);
        out.write_all(text.as_bytes())?;
        out.flush()?;
        printed += 1;
    }
    Ok(())
}

/// What `rate` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Hz,
    Bw,
}

pub fn rate(g: &Global, a: &RateArgs, what: Measure, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let Some((report, sub)) = subscribe(&domain, &a.topic, a.wait)? else {
        return Ok(());
    };
    let mut window = Window::new(a.window);
    let mut reports = 0u64;
    let mut next = Instant::now() + Duration::from_secs(1);
    let mut fresh = 0u64;
    while a.count.is_none_or(|n| reports < n) {
        if axon::shutdown_requested() {
            break;
        }
        while let Some(s) = sub.try_recv()? {
            let info = s.info();
            window.push(Obs {
                lane: info.publisher,
                seq: info.seq,
                sent_ns: info.sent_ns,
                bytes: s.bytes().len(),
            });
            fresh += 1;
        }
        if Instant::now() < next {
            std::thread::sleep(POLL);
            continue;
        }
        next += Duration::from_secs(1);
        reports += 1;
        let line = match (window.report().filter(|_| fresh > 0), a.json) {
            (None, true) => json!({"topic": report.topic.as_str(), "samples": 0}).to_string(),
            (None, false) => "no new samples".to_string(),
            (Some(r), true) => json!({
                "topic": report.topic.as_str(),
                "rate_hz": r.rate_hz,
                "mean_period_s": r.mean_period_s,
                "min_period_s": r.min_period_s,
                "max_period_s": r.max_period_s,
                "std_dev_s": r.std_dev_s,
                "bytes_per_s": r.bytes_per_s,
                "mean_bytes": r.mean_bytes,
                "min_bytes": r.min_bytes,
                "max_bytes": r.max_bytes,
                "samples": r.samples,
                "lost": r.lost,
            })
            .to_string(),
            (Some(r), false) => match what {
                Measure::Hz => format!(
                    "average rate: {:.3} Hz\n  min: {}  max: {}  std dev: {}  window: {}{}",
                    r.rate_hz,
                    text::seconds(r.min_period_s),
                    text::seconds(r.max_period_s),
                    text::seconds(r.std_dev_s),
                    r.samples,
                    lost_note(r.lost)
                ),
                Measure::Bw => format!(
                    "{}/s from {} samples\n  mean: {}  min: {}  max: {}  rate: {:.3} Hz{}",
                    text::bytes(r.bytes_per_s),
                    r.samples,
                    text::bytes(r.mean_bytes),
                    text::bytes(r.min_bytes as f64),
                    text::bytes(r.max_bytes as f64),
                    r.rate_hz,
                    lost_note(r.lost)
                ),
            },
        };
        fresh = 0;
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Ok(())
}

fn lost_note(lost: u64) -> String {
    if lost > 0 {
        format!("  (this reader missed {lost}; they are counted)")
    } else {
        String::new()
    }
}

pub fn publish(g: &Global, a: &PubArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let name = topic_name(&a.topic)?;
    let type_name = if a.type_name.contains('/') {
        a.type_name.clone()
    } else {
        format!("axon-msgs/{}", a.type_name)
    };
    let value = text::parse_yaml(&a.value).map_err(|e| anyhow!("VALUE: {e}"))?;
    if let Some(hz) = a.rate {
        if !(hz.is_finite() && hz > 0.0 && hz <= 1e6) {
            bail!("--rate {hz}: give a rate in Hz, above 0 and at most 1000000");
        }
    }
    // An existing topic says what its type is (its segment's description);
    // a new one must be of a type this tool knows.
    let existing = match inspect::topic(&domain, &name) {
        Ok(r) => Some(r),
        Err(InspectError::NoSuchTopic { .. }) => None,
        Err(e) => return Err(inspect_error(e)),
    };
    let (desc, bytes, qos) = match &existing {
        Some(r) => {
            let c = &r.config;
            if c.type_name() != type_name {
                bail!("topic {name} carries {}, not {type_name}", c.type_name());
            }
            let max_bytes = c.payload_len(c.max_elems as usize);
            let bytes = match Codec::of(r) {
                Codec::Registry(info) if info.can_encode() => {
                    info.encode(&value).map_err(|e| anyhow!("VALUE: {e}"))?
                }
                _ => match &r.description {
                    Some(d) => {
                        dynamic::encode(d, &value, max_bytes).map_err(|e| anyhow!("VALUE: {e}"))?
                    }
                    None => bail!(
                        "topic {name}'s segment carries no type description \
                         (a socket link made it) and {type_name} is not known to this tool"
                    ),
                },
            };
            let desc = TypeDesc {
                name: type_name.clone(),
                fingerprint: c.fingerprint,
                fixed_size: c.fixed_size,
                elem_size: c.elem_size,
                description: r.description.as_deref().cloned(),
            };
            // Joining an existing topic needs only what this publisher uses.
            let qos = Qos {
                history: Some(1),
                max_held: 1,
                max_loans: 1,
                ..Qos::default()
            };
            (desc, bytes, qos)
        }
        None => {
            let info = registry::describe(&type_name).ok_or_else(|| {
                anyhow!(
                    "unknown message type {type_name} (types: axon-msgs/<Name>, e.g. \
                     axon-msgs/Twist; a topic that exists can be of any type: its \
                     segment describes it)"
                )
            })?;
            let d = info.description();
            let (fixed_size, elem_size) = match info.layout {
                TypeLayout::Sized { size } => (size as u64, 0),
                TypeLayout::Slice {
                    header_size,
                    element_size,
                } => (header_size as u64, element_size as u64),
            };
            let bytes = if info.can_encode() {
                info.encode(&value).map_err(|e| anyhow!("VALUE: {e}"))?
            } else {
                let max = (fixed_size as usize).saturating_add(axon::qos::DEFAULT_SLICE_BYTES);
                dynamic::encode(&d, &value, max).map_err(|e| anyhow!("VALUE: {e}"))?
            };
            let elems = dynamic::elems_of(&d, bytes.len()) as u64;
            let desc = TypeDesc {
                name: type_name.clone(),
                fingerprint: info.fingerprint,
                fixed_size,
                elem_size,
                description: Some(d),
            };
            // A new topic gets the defaults, so that other participants
            // find room (and room for this sample's slice).
            let qos = Qos {
                max_len: (elem_size > 0).then(|| {
                    (elems as usize).max(axon::qos::DEFAULT_SLICE_BYTES / elem_size as usize)
                }),
                ..Qos::default()
            };
            (desc, bytes, qos)
        }
    };
    let elems = desc
        .description
        .as_ref()
        .map_or(0, |d| dynamic::elems_of(d, bytes.len()));
    let publisher = RawPublisher::create(&domain, name.clone(), &desc, &qos, NODE)
        .with_context(|| format!("cannot publish on {name}"))?;
    let send = || -> anyhow::Result<()> {
        let mut loan = publisher.loan_slot(elems)?;
        let dst = loan.bytes_mut();
        // A slice message's payload may end in padding after its last
        // element (its fixed part is rounded up to its alignment).
        if dst.len() < bytes.len() {
            bail!(
                "{name}: a sample of {elems} elements is {} bytes here, the value {} bytes",
                dst.len(),
                bytes.len()
            );
        }
        dst.fill(0);
        dst[..bytes.len()].copy_from_slice(&bytes);
        loan.send();
        Ok(())
    };
    let mut sent = 0u64;
    match a.rate {
        None => {
            for _ in 0..a.count.unwrap_or(1) {
                send()?;
                sent += 1;
            }
        }
        Some(hz) => {
            let node = axon::Node::builder(NODE).domain(domain.clone()).create()?;
            let mut failure = None;
            let count = a.count;
            node.every(Duration::from_secs_f64(1.0 / hz), || {
                if failure.is_some() || count.is_some_and(|n| sent >= n) {
                    return;
                }
                match send() {
                    Ok(()) => sent += 1,
                    Err(e) => failure = Some(e),
                }
                if failure.is_some() || count.is_some_and(|n| sent >= n) {
                    axon::request_shutdown();
                }
            })
            .spin()?;
            if let Some(e) = failure {
                return Err(e);
            }
        }
    }
    writeln!(
        out,
        "published {sent} sample{} of {type_name} on {name}",
        if sent == 1 { "" } else { "s" }
    )?;
    Ok(())
}
