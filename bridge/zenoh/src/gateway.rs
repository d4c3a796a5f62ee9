//! The gateway in axon mode: local topics -> Zenoh (the exporter, on the
//! calling thread) and Zenoh -> local topics (the importer, one thread).
//!
//! Both ends use the engine every carrier shares (`axon::link::engine`):
//! the exporter is the export engine of both modes ([`crate::export`],
//! which offers each local topic that matches `export` with
//! `engine::offer` and skips samples its own importer published,
//! `engine::is_echo`, the loop rule) with axon mode's mapping
//! (`AxonMapping`): every sample is put on `axon/<zenoh domain>/<topic>`
//! with the [`Attachment`]; for each exported topic a
//! queryable on the type key replies with the topic's announcement. The
//! importer subscribes to `axon/<zenoh domain>/**` (remote origins only),
//! and for a topic seen for the first time asks the type key, checks the
//! answer against the sample's attachment and decides with
//! [`engine::Imports::accept`] (import patterns, limits, type and
//! fingerprint against the local topic, both types named on refusal); an
//! accepted topic gets a publisher named `zenoh:<gateway name>`.
//!
//! *Bounds.* The importer's Zenoh subscriber feeds an [`Inbox`] of
//! [`RING`](crate::inbox::RING) samples (see *Delivery*; each sample is at most Zenoh's
//! own configured message size); the import table holds at most [`MAX_TOPICS`] topics (more are logged
//! and ignored); a type reply larger than [`MAX_TYPE_REPLY`] is refused
//! before decoding, and decoding is the socket link's bounded
//! `decode_announce`; a payload that does not fit the announced shape is
//! dropped and counted. Imports are further bounded by
//! [`axon::link::Limits`] (topics and shared memory created).
//!
//! *Delivery.* A best-effort topic's exporter subscriber loses its oldest
//! samples when Zenoh is slow (counted, "dropped before export"), its puts
//! use congestion control `Drop`, and the importing side drops its oldest
//! queued samples or a sample with no free slot (counted, "dropped"): a
//! slow network or importer costs the publisher nothing. A `reliable`
//! topic is lossless end to end once both gateways know it: the exporter's
//! subscriber is reliable and its puts use congestion control `Block`; the
//! importer republishes with the engine's rule (`engine::import_loan`:
//! wait for a free slot while local reliable subscribers are behind), and
//! while it waits its [`Inbox`] fills and holds Zenoh's link reader, so
//! the remote gateway's `Block` puts wait, and its reliable subscriber
//! makes the remote publisher wait (`Full`). Zenoh closes a link whose
//! `Block` queue stays full longer than its
//! `transport/link/tx/queue/congestion_control/block/wait_before_close`
//! (5 s by default): a local reliable subscriber that stalls longer loses
//! what was in flight, and the link is reopened. Zenoh itself reconnects
//! (its `connect` endpoints are retried); the gateway needs no reconnect
//! logic and keeps its topics across reconnections.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axon::link::engine::{self, ImportRules, Imports};
use axon::link::wire::{self, Announce};
use axon::link::{any_match, Pattern};
use axon::{RawPublisher, RawSample};
use zenoh::qos::{CongestionControl, Priority};
use zenoh::sample::{Locality, Sample};
use zenoh::{Session, Wait};

use crate::args::GatewayConfig;
use crate::attachment::{self, Attachment};
use crate::inbox::Inbox;
use crate::{export, keys};

/// Most topics the importer remembers (accepted or refused).
pub const MAX_TOPICS: usize = 1024;
/// Largest type reply decoded (an ANNOUNCE body with a type description).
pub const MAX_TYPE_REPLY: usize = wire::MAX_CONTROL_BODY as usize;
/// How often a reliable import waiting for a slot checks for shutdown.
const POLL: Duration = Duration::from_millis(100);
/// How long the importer waits for a type reply.
const TYPE_QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// A topic whose type could not be learned is asked again after this.
const RETRY_AFTER: Duration = Duration::from_millis(500);

fn log(cfg: &GatewayConfig, msg: std::fmt::Arguments<'_>) {
    eprintln!("axon-zenoh {}: {msg}", cfg.name);
}

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{what}: {e}")
}

/// Runs the gateway until SIGINT/SIGTERM (`axon::shutdown`).
pub fn run(cfg: GatewayConfig) -> anyhow::Result<()> {
    let zconfig = match &cfg.config {
        Some(path) => zenoh::Config::from_file(path)
            .map_err(|e| anyhow::anyhow!("Zenoh config {}: {e}", path.display()))?,
        None => zenoh::Config::default(),
    };
    let session = zenoh::open(zconfig)
        .wait()
        .map_err(err("cannot open the Zenoh session"))?;
    log(
        &cfg,
        format_args!(
            "Zenoh session {} open; domain {} as axon/{}/**",
            session.zid(),
            cfg.domain.name(),
            cfg.zenoh_domain
        ),
    );
    let cfg = Arc::new(cfg);
    let ros2 = crate::ros2::start(&cfg, &session)?;
    let importer = if cfg.import.is_empty() {
        None
    } else {
        let (c, s) = (cfg.clone(), session.clone());
        Some(
            std::thread::Builder::new()
                .name("import".into())
                .spawn(move || {
                    let r = import(&c, &s);
                    if r.is_err() {
                        axon::shutdown::request_shutdown(); // the exporter stops too
                    }
                    r
                })
                .map_err(err("cannot start the importer thread"))?,
        )
    };
    let exported = if cfg.export.is_empty() {
        wait_for_shutdown();
        Ok((0, 0))
    } else {
        export(&cfg, &session)
    };
    axon::shutdown::request_shutdown();
    let imported = importer.map(|t| t.join());
    let ros2 = ros2.join();
    let _ = session.close().wait();
    ros2?;
    let (sent, dropped) = exported?;
    if !cfg.export.is_empty() {
        log(
            &cfg,
            format_args!("exported {sent} samples, {dropped} dropped before export"),
        );
    }
    match imported {
        Some(Ok(r)) => r,
        Some(Err(_)) => Err(anyhow::anyhow!("the importer thread panicked")),
        None => Ok(()),
    }
}

fn wait_for_shutdown() {
    while !axon::shutdown::shutdown_requested() {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Axon mode's side of an exported topic.
struct Exported {
    publisher: zenoh::pubsub::Publisher<'static>,
    fingerprint: u64,
    type_name: String,
    _type_queryable: zenoh::query::Queryable<()>,
}

/// Axon mode's mapping for the export engine ([`crate::export`]): key
/// `axon/<zenoh domain>/<topic>`, the sample's bytes as the payload, the
/// [`Attachment`], and a queryable on the type key per topic.
struct AxonMapping<'a> {
    cfg: &'a GatewayConfig,
    session: &'a Session,
}

impl export::Mapping for AxonMapping<'_> {
    type Out = Exported;
    const NODE: &'static str = "axon-zenoh";

    fn patterns(&self) -> &[Pattern] {
        &self.cfg.export
    }

    fn log(&self, msg: std::fmt::Arguments<'_>) {
        log(self.cfg, msg);
    }

    fn declare(&mut self, ann: &Announce) -> anyhow::Result<Exported> {
        let e = declare_export(self.cfg, self.session, ann)?;
        self.log(format_args!(
            "exporting {} ({}) on {}",
            ann.name,
            ann.type_name,
            e.publisher.key_expr()
        ));
        Ok(e)
    }

    fn put(&mut self, t: &Exported, s: RawSample<'_>) -> bool {
        let info = s.info();
        let bytes = s.bytes();
        let att = attachment::encode(
            info.seq,
            info.sent_ns,
            t.fingerprint,
            bytes.len() as u64,
            &t.type_name,
        );
        // Zenoh sends from buffers it owns: one copy, from where the
        // sample lies in shared memory.
        if let Err(e) = t.publisher.put(bytes.to_vec()).attachment(att).wait() {
            self.log(format_args!("put on {}: {e}", t.publisher.key_expr()));
            return false;
        }
        true
    }
}

/// The exporter: returns (samples put, samples dropped before export).
fn export(cfg: &GatewayConfig, session: &Session) -> anyhow::Result<(u64, u64)> {
    let s = export::run(cfg, &mut AxonMapping { cfg, session })?;
    Ok((s.sent, s.dropped))
}

fn declare_export(
    cfg: &GatewayConfig,
    session: &Session,
    ann: &Announce,
) -> anyhow::Result<Exported> {
    let key = keys::data_key(&cfg.zenoh_domain, &ann.name);
    let publisher = session
        .declare_publisher(key)
        .congestion_control(if ann.reliable {
            CongestionControl::Block
        } else {
            CongestionControl::Drop
        })
        .wait()
        .map_err(err("declare publisher"))?;
    let type_key = keys::type_key(&cfg.zenoh_domain, &ann.name);
    // The ANNOUNCE body, without the link's frame header.
    let body: Arc<Vec<u8>> = Arc::new(wire::encode_announce(ann)[wire::FRAME_HEADER..].to_vec());
    let reply_key = type_key.clone();
    let queryable = session
        .declare_queryable(type_key)
        .callback(move |q| {
            let _ = q.reply(reply_key.clone(), body.as_slice().to_vec()).wait();
        })
        .wait()
        .map_err(err("declare the type queryable"))?;
    Ok(Exported {
        publisher,
        fingerprint: ann.fingerprint,
        type_name: ann.type_name.clone(),
        _type_queryable: queryable,
    })
}

/// One topic the importer has seen.
enum Import {
    /// Republished here.
    Accepted {
        ann: Announce,
        /// Boxed: a publisher is large, refused and unknown topics are not.
        publisher: Box<RawPublisher>,
    },
    /// Refused for this fingerprint (the reason was logged once).
    Refused { fingerprint: u64 },
    /// Its type could not be learned yet; asked again after the instant
    /// (`why` was logged, and is not logged again while it stays the same).
    Unknown { retry_at: Instant, why: String },
}

/// The importer: Zenoh samples -> loaned local samples.
fn import(cfg: &GatewayConfig, session: &Session) -> anyhow::Result<()> {
    let inbox = Arc::new(Inbox::default());
    let feed = inbox.clone();
    let _sub = session
        .declare_subscriber(keys::all_data(&cfg.zenoh_domain))
        .callback(move |s| feed.push(s))
        .allowed_origin(Locality::Remote)
        .wait()
        .map_err(err("declare subscriber"))?;
    let import_node = cfg.import_node();
    let rules = ImportRules {
        carrier: &cfg.name,
        import: &cfg.import,
        limits: cfg.limits,
        domain: &cfg.domain,
    };
    let mut imports = Imports::new();
    let mut table: HashMap<String, Import> = HashMap::new();
    let (mut received, mut dropped) = (0u64, 0u64);
    let mut bad_logged: HashSet<String> = HashSet::new();
    while !axon::shutdown::shutdown_requested() {
        let Some(sample) = inbox.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        match import_one(
            cfg,
            session,
            &inbox,
            &rules,
            &import_node,
            &mut imports,
            &mut table,
            &sample,
        ) {
            Ok(true) => received += 1,
            Ok(false) => dropped += 1,
            Err(why) => {
                dropped += 1;
                let key = sample.key_expr().as_str().to_owned();
                if bad_logged.len() < MAX_TOPICS && bad_logged.insert(key.clone()) {
                    log(cfg, format_args!("dropped a sample on {key}: {why}"));
                }
            }
        }
    }
    let total = table.len();
    table.clear(); // publishers go before their segments may be removed
    let removed = imports.remove_unused_segments();
    let behind = inbox.dropped();
    log(
        cfg,
        format_args!(
            "imported {received} samples, {} dropped ({behind} when the importer fell behind); \
             {total} topics seen, {removed} unused segments removed",
            dropped + behind
        ),
    );
    Ok(())
}

/// Handles one sample: Ok(true) republished, Ok(false) dropped (no free
/// slot, or the topic is refused or not known yet), Err for a sample that
/// is malformed (logged once per key).
#[allow(clippy::too_many_arguments)]
fn import_one(
    cfg: &GatewayConfig,
    session: &Session,
    inbox: &Inbox,
    rules: &ImportRules<'_>,
    import_node: &str,
    imports: &mut Imports,
    table: &mut HashMap<String, Import>,
    sample: &Sample,
) -> Result<bool, String> {
    let Some(topic) = keys::topic_of(&cfg.zenoh_domain, sample.key_expr().as_str()) else {
        return Ok(false);
    };
    if !any_match(&cfg.import, &topic) {
        return Ok(false);
    }
    let att = Attachment::decode(
        &sample
            .attachment()
            .ok_or("no attachment (not put by an axon gateway)")?
            .to_bytes(),
    )?;
    let payload = sample.payload();
    if payload.len() as u64 != att.len {
        return Err(format!(
            "a payload of {} bytes, the attachment says {}",
            payload.len(),
            att.len
        ));
    }
    // Decide about a topic seen for the first time, or whose type changed.
    let decide = match table.get(&topic) {
        None => true,
        Some(Import::Accepted { ann, .. }) => ann.fingerprint != att.fingerprint,
        Some(Import::Refused { fingerprint }) => *fingerprint != att.fingerprint,
        Some(Import::Unknown { retry_at, .. }) => Instant::now() >= *retry_at,
    };
    if decide {
        if !table.contains_key(&topic) && table.len() >= MAX_TOPICS {
            return Err(format!("at most {MAX_TOPICS} imported topics"));
        }
        let before = table.remove(&topic);
        inbox.querying(true); // the reply comes on the link the samples use
        let learned = learn_type(cfg, session, &topic, &att);
        inbox.querying(false);
        let entry = match learned {
            Err(why) => {
                if !matches!(&before, Some(Import::Unknown { why: w, .. }) if *w == why) {
                    log(
                        cfg,
                        format_args!("cannot import {topic} yet: {why} (will ask again)"),
                    );
                }
                Import::Unknown {
                    retry_at: Instant::now() + RETRY_AFTER,
                    why,
                }
            }
            Ok(ann) => match imports.accept(rules, &ann, import_node) {
                Ok(publisher) => {
                    log(
                        cfg,
                        format_args!("importing {topic} ({}) from Zenoh", ann.type_name),
                    );
                    Import::Accepted {
                        ann,
                        publisher: Box::new(publisher),
                    }
                }
                Err(why) => {
                    log(cfg, format_args!("refused topic {topic}: {why}"));
                    Import::Refused {
                        fingerprint: att.fingerprint,
                    }
                }
            },
        };
        table.insert(topic.clone(), entry);
    }
    let Some(Import::Accepted { ann, publisher }) = table.get(&topic) else {
        return Ok(false);
    };
    let len = payload.len() as u64;
    let Some(elems) = ann.elems_for(len) else {
        return Err(format!(
            "a payload of {len} bytes does not fit topic {topic} (at most {} bytes: {} + n x {})",
            ann.max_size, ann.fixed_size, ann.elem_size
        ));
    };
    let stop = axon::shutdown::shutdown_requested;
    let Ok(Some(mut loan)) =
        engine::import_loan(publisher, elems as usize, ann.reliable, POLL, &stop)
    else {
        return Ok(false);
    };
    let dst = loan.bytes_mut();
    if dst.len() as u64 != len {
        return Err(format!(
            "topic {topic}: {len} payload bytes for {elems} elements, the local topic expects {}",
            dst.len()
        ));
    }
    let mut at = 0;
    for s in payload.slices() {
        dst[at..at + s.len()].copy_from_slice(s);
        at += s.len();
    }
    loan.send();
    Ok(true)
}

/// Asks the topic's type key and checks the answer: the bounded decoder of
/// the socket link's ANNOUNCE, the same topic name, and the fingerprint
/// and type name the sample's attachment carries.
fn learn_type(
    cfg: &GatewayConfig,
    session: &Session,
    topic: &str,
    att: &Attachment,
) -> Result<Announce, String> {
    let key = keys::type_key(&cfg.zenoh_domain, topic);
    let replies = session
        .get(key.as_str())
        // Replies take the query's priority: ahead of queued data.
        .priority(Priority::InteractiveHigh)
        .timeout(TYPE_QUERY_TIMEOUT)
        .wait()
        .map_err(|e| format!("query {key}: {e}"))?;
    let mut last = format!("no answer on {key}");
    while let Ok(reply) = replies.recv() {
        let Ok(s) = reply.result() else {
            last = format!("an error reply on {key}");
            continue;
        };
        let p = s.payload();
        if p.len() > MAX_TYPE_REPLY {
            last = format!(
                "a type reply of {} bytes on {key}, more than {MAX_TYPE_REPLY}",
                p.len()
            );
            continue;
        }
        let ann = match wire::decode_announce(&p.to_bytes()) {
            Ok(a) => a,
            Err(e) => {
                last = format!("a bad type reply on {key}: {e}");
                continue;
            }
        };
        if ann.name != topic {
            last = format!("the type reply on {key} names topic {}", ann.name);
            continue;
        }
        if ann.fingerprint != att.fingerprint || ann.type_name != att.type_name {
            // Another source with another type (or one that just changed):
            // keep looking for the one this sample came from.
            last = format!(
                "the type reply on {key} is {} ({:#018x}), the sample says {} ({:#018x})",
                ann.type_name, ann.fingerprint, att.type_name, att.fingerprint
            );
            continue;
        }
        return Ok(ann);
    }
    Err(last)
}
