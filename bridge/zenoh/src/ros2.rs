//! ROS 2 mode: axon topics as ROS 2 topics of an `rmw_zenoh` system, and
//! rmw_zenoh publishers feeding axon topics.
//!
//! The mapping is rmw_zenoh's own, as `axon_ros2::rmw_zenoh` documents it
//! with its sources (rmw_zenoh_cpp 0.6 and later: `docs/design.md`,
//! `liveliness_utils.cpp`, `attachment_helpers.cpp`,
//! `rmw_publisher_data.cpp`):
//! - data key `<ROS domain id>/<topic without its leading slash>/<DDS type
//!   name>/<RIHS01 type hash>`; the payload is the sample as CDR
//!   (`axon_ros2`'s encoder, the type's ROS 2 view);
//! - every put carries rmw_zenoh's 33-byte attachment: a sequence number per
//!   exported topic (1, 2, ...), the send time (ns since the UNIX epoch)
//!   and the publisher's GID;
//! - the gateway is one ROS 2 node, `axon_zenoh_<gateway name>` (every
//!   character but letters and digits `_`) in namespace `/`: a node token
//!   `@ros2_lv/<domain>/<zid>/0/0/NN/%/%/<node>`, and per exported topic a
//!   publisher token (`MP`), per imported topic a subscription token (`MS`),
//!   with entity ids 1, 2, ... and the QoS part of a reliable (`--reliable`
//!   topics) or best-effort keep-last publisher of rmw_zenoh's default depth;
//!   the GID is XXH3-128 of the entity's token (low 64 bits, then high,
//!   little-endian), as rmw_zenoh computes it.
//!
//! *Export.* Local topics that match `--ros2-export` are subscribed with the
//! engine (`engine::offer`, reliable for `--reliable` topics), encoded to CDR
//! and put; samples this gateway's importers published are never exported
//! (the loop rule, `engine::is_echo`). A type with no ROS 2 view (not a
//! struct, names that collide) is refused and named once.
//!
//! *Import.* The importer subscribes to `<domain>/**` (remote origins only)
//! and takes the samples whose key is an rmw_zenoh data key of a topic that
//! matches `--ros2-import`; rmw_zenoh drops samples without an attachment,
//! and so does the gateway (named once per key). The axon type of a topic
//! is the local topic's (from its segment's type description) if the topic
//! exists, else the standard `axon-msgs` type whose ROS 2 name is the key's
//! (sized types only: a slice type needs a local topic for its capacity).
//! Its ROS 2 view must give the key's DDS type name and type hash, else the
//! topic is refused and both types are named. An accepted topic is
//! published under the node name `zenoh:<gateway name>` (the engine's
//! `Imports::accept`, with its limits and type checks); each sample's CDR
//! is decoded into a buffer and copied into a loaned slot.
//!
//! *Delivery.* As axon mode's (see [`crate::gateway`]): exported
//! `--reliable` topics have a reliable subscriber and congestion control
//! `Block` (what rmw_zenoh gives a RELIABLE + KEEP_ALL publisher); an
//! imported sample put with `Block` (rmw_zenoh does so for RELIABLE +
//! KEEP_ALL publishers) waits in the [`Inbox`] and for a free slot
//! (`engine::import_loan`), so a slow local reliable subscriber holds the
//! ROS 2 publisher back; any other sample is dropped, counted, when the
//! importer falls behind or no slot is free.
//!
//! *Bounds.* As axon mode: the importer's Zenoh subscriber feeds an
//! [`Inbox`] of [`RING`](crate::inbox::RING) samples; at most
//! [`MAX_TOPICS`](crate::gateway::MAX_TOPICS) keys are remembered by the
//! importer and topics exported; the attachment decoder
//! takes exactly 33 bytes; the CDR decoder is bounded by the input (its
//! module docs), and a decoded sample that does not fit the topic is
//! dropped and named once; keys longer than `rmw_zenoh::MAX_KEY` are not
//! parsed.
//!
//! *Not done.* Services, actions, TRANSIENT_LOCAL durability (rmw_zenoh's
//! advanced publisher cache), and the QoS of ROS 2 publishers: the
//! importer takes every sample it receives.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axon::link::engine::{self, ImportRules, Imports};
use axon::link::wire::Announce;
use axon::link::{any_match, Pattern};
use axon::names::TopicName;
use axon::{Description, Qos, RawPublisher, RawSample, RawSubscriber};
use axon_ros2::rmw_zenoh::{self as rmw, Attachment, DataKey, Kind};
use axon_ros2::View;
use zenoh::liveliness::LivelinessToken;
use zenoh::qos::CongestionControl;
use zenoh::sample::Locality;
use zenoh::{Session, Wait};

use crate::args::GatewayConfig;
use crate::export;
use crate::gateway::MAX_TOPICS;
use crate::inbox::Inbox;
/// How often a reliable import waiting for a slot checks for shutdown.
const POLL: Duration = Duration::from_millis(100);
/// History depth of a topic this gateway creates for a ROS 2 import.
const IMPORT_DEPTH: u32 = 8;

fn log(cfg: &GatewayConfig, msg: std::fmt::Arguments<'_>) {
    eprintln!("axon-zenoh {} (ROS 2): {msg}", cfg.name);
}

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{what}: {e}")
}

/// The running ROS 2 mode: the node's token and the two threads.
pub struct Ros2Mode {
    _node_token: Option<LivelinessToken>,
    threads: Vec<JoinHandle<anyhow::Result<()>>>,
}

/// The gateway's ROS 2 node name.
pub fn node_name(cfg: &GatewayConfig) -> String {
    rmw::node_name(&format!("axon_zenoh_{}", cfg.name))
}

/// The GID of the entity whose liveliness token is `token`.
pub fn gid_of(token: &str) -> [u8; rmw::GID_LEN] {
    let h = twox_hash::XxHash3_128::oneshot(token.as_bytes());
    let mut gid = [0u8; rmw::GID_LEN];
    gid[..8].copy_from_slice(&(h as u64).to_le_bytes());
    gid[8..].copy_from_slice(&((h >> 64) as u64).to_le_bytes());
    gid
}

/// Starts the ROS 2 mode if any `--ros2-export` or `--ros2-import` pattern
/// is given: declares the node and starts the exporter and the importer.
pub fn start(cfg: &Arc<GatewayConfig>, session: &Session) -> anyhow::Result<Ros2Mode> {
    let r = &cfg.ros2;
    if r.export.is_empty() && r.import.is_empty() {
        return Ok(Ros2Mode {
            _node_token: None,
            threads: Vec::new(),
        });
    }
    let zid = session.zid().to_string();
    let node = node_name(cfg);
    let token = rmw::node_token(r.domain_id, &zid, 0, &node);
    let node_token = session
        .liveliness()
        .declare_token(token.clone())
        .wait()
        .map_err(err("declare the ROS 2 node's liveliness token"))?;
    log(cfg, format_args!("ROS 2 node {node}: {token}"));
    let ids = Arc::new(AtomicU32::new(1));
    let mut threads = Vec::new();
    for (name, exporter) in [("ros2-export", true), ("ros2-import", false)] {
        if (exporter && r.export.is_empty()) || (!exporter && r.import.is_empty()) {
            continue;
        }
        let (c, s, i) = (cfg.clone(), session.clone(), ids.clone());
        let t = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let res = if exporter {
                    export(&c, &s, &i)
                } else {
                    import(&c, &s, &i)
                };
                if res.is_err() {
                    axon::shutdown::request_shutdown();
                }
                res
            })
            .map_err(err("cannot start a ROS 2 thread"))?;
        threads.push(t);
    }
    Ok(Ros2Mode {
        _node_token: Some(node_token),
        threads,
    })
}

impl Ros2Mode {
    /// Waits for the threads (after `axon::shutdown::request_shutdown`).
    pub fn join(self) -> anyhow::Result<()> {
        let mut first = Ok(());
        for t in self.threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a ROS 2 thread panicked")));
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// A ROS 2 entity's identity: its token (kept declared) and GID.
struct Entity {
    _token: LivelinessToken,
    gid: [u8; rmw::GID_LEN],
}

#[allow(clippy::too_many_arguments)]
fn declare_entity(
    cfg: &GatewayConfig,
    session: &Session,
    ids: &AtomicU32,
    kind: Kind,
    topic: &str,
    dds_type: &str,
    hash: &str,
    reliable: bool,
) -> anyhow::Result<(Entity, String)> {
    let id = ids.fetch_add(1, Ordering::Relaxed);
    let token = rmw::entity_token(
        cfg.ros2.domain_id,
        &session.zid().to_string(),
        0,
        id,
        kind,
        &node_name(cfg),
        topic,
        dds_type,
        hash,
        reliable,
    );
    let t = session
        .liveliness()
        .declare_token(token.clone())
        .wait()
        .map_err(err("declare a liveliness token"))?;
    Ok((
        Entity {
            _token: t,
            gid: gid_of(&token),
        },
        token,
    ))
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// ROS 2 mode's side of an exported topic.
struct Exported {
    name: String,
    publisher: zenoh::pubsub::Publisher<'static>,
    view: View,
    entity: Entity,
    /// The last sequence number put (a `Cell`: the export engine's wait
    /// set borrows the topics while samples are handled).
    seq: Cell<i64>,
    /// Samples that did not encode (their reason logged once).
    bad: Cell<u64>,
}

/// ROS 2 mode's mapping for the export engine ([`crate::export`]): the
/// rmw_zenoh data key, CDR payload, rmw_zenoh's attachment, and a
/// publisher liveliness token per topic.
struct Ros2Mapping<'a> {
    cfg: &'a GatewayConfig,
    session: &'a Session,
    ids: &'a AtomicU32,
    /// The CDR of the sample being put (kept to reuse its allocation).
    cdr: Vec<u8>,
}

impl export::Mapping for Ros2Mapping<'_> {
    type Out = Exported;
    const NODE: &'static str = "axon-zenoh-ros2";

    fn patterns(&self) -> &[Pattern] {
        &self.cfg.ros2.export
    }

    fn log(&self, msg: std::fmt::Arguments<'_>) {
        log(self.cfg, msg);
    }

    fn declare(&mut self, ann: &Announce) -> anyhow::Result<Exported> {
        let e = declare_export(self.cfg, self.session, self.ids, ann)?;
        self.log(format_args!(
            "exporting {} ({} as {}) on {}",
            ann.name,
            ann.type_name,
            e.view.type_name(),
            e.publisher.key_expr()
        ));
        Ok(e)
    }

    fn put(&mut self, t: &Exported, s: RawSample<'_>) -> bool {
        self.cdr.clear();
        if let Err(e) = t.view.encode(s.bytes(), &mut self.cdr) {
            if t.bad.get() == 0 {
                self.log(format_args!("{}: a sample does not encode: {e}", t.name));
            }
            t.bad.set(t.bad.get() + 1);
            return false;
        }
        drop(s);
        t.seq.set(t.seq.get() + 1);
        let att = Attachment {
            seq: t.seq.get(),
            stamp_ns: now_ns(),
            gid: t.entity.gid,
        };
        match t
            .publisher
            .put(std::mem::take(&mut self.cdr))
            .attachment(att.encode().to_vec())
            .wait()
        {
            Ok(()) => true,
            Err(e) => {
                self.log(format_args!("put on {}: {e}", t.publisher.key_expr()));
                false
            }
        }
    }
}

/// The ROS 2 exporter: local samples -> CDR on rmw_zenoh keys.
fn export(cfg: &GatewayConfig, session: &Session, ids: &AtomicU32) -> anyhow::Result<()> {
    let mut mapping = Ros2Mapping {
        cfg,
        session,
        ids,
        cdr: Vec::new(),
    };
    let s = export::run(cfg, &mut mapping)?;
    let bad: u64 = s.topics.iter().map(|t| t.out.bad.get()).sum();
    log(
        cfg,
        format_args!(
            "exported {} samples as CDR, {} dropped before export, {bad} not encodable",
            s.sent, s.dropped
        ),
    );
    Ok(())
}

fn declare_export(
    cfg: &GatewayConfig,
    session: &Session,
    ids: &AtomicU32,
    ann: &Announce,
) -> anyhow::Result<Exported> {
    let desc = ann.description.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "the topic's segment has no type description ({})",
            ann.type_name
        )
    })?;
    let view =
        View::new(desc).map_err(|e| anyhow::anyhow!("{} has no ROS 2 view: {e}", ann.type_name))?;
    let (dds, hash) = (view.dds_type_name(), view.type_hash());
    let key = rmw::data_key(cfg.ros2.domain_id, &ann.name, &dds, &hash);
    let publisher = session
        .declare_publisher(key)
        .congestion_control(if ann.reliable {
            CongestionControl::Block
        } else {
            CongestionControl::Drop
        })
        .wait()
        .map_err(err("declare publisher"))?;
    let (entity, token) = declare_entity(
        cfg,
        session,
        ids,
        Kind::Publisher,
        &ann.name,
        &dds,
        &hash,
        ann.reliable,
    )?;
    log(cfg, format_args!("publisher token {token}"));
    Ok(Exported {
        name: ann.name.clone(),
        publisher,
        view,
        entity,
        seq: Cell::new(0),
        bad: Cell::new(0),
    })
}

/// An accepted rmw_zenoh topic.
struct Accepted {
    ann: Announce,
    view: View,
    publisher: RawPublisher,
    _entity: Entity,
}

/// One rmw_zenoh data key the importer has seen.
enum Import {
    /// Republished here (boxed: refused keys are small).
    Accepted(Box<Accepted>),
    /// Refused (the reason was logged once).
    Refused,
}

/// The standard sized types by ROS 2 name, with their size.
fn standard_types() -> &'static HashMap<String, (axon_msgs::registry::TypeInfo, usize)> {
    static TABLE: OnceLock<HashMap<String, (axon_msgs::registry::TypeInfo, usize)>> =
        OnceLock::new();
    TABLE.get_or_init(|| {
        axon_msgs::registry::all()
            .iter()
            .filter_map(|t| {
                let axon_msgs::registry::TypeLayout::Sized { size } = t.layout else {
                    return None;
                };
                let v = View::new(&t.description()).ok()?;
                Some((v.type_name().to_owned(), (*t, size)))
            })
            .collect()
    })
}

/// The axon type an rmw_zenoh topic is imported as (see the module docs),
/// as the announcement the engine decides on, and its ROS 2 view.
fn local_type(
    cfg: &GatewayConfig,
    import_node: &str,
    key: &DataKey,
) -> Result<(Announce, View), String> {
    let topic = TopicName::new(&key.topic).map_err(|e| e.to_string())?;
    let ros_type = rmw::ros_type_of(&key.dds_type).unwrap_or_default();
    let announce = |desc: Description, fixed, elem, max_elems, depth| Announce {
        id: 0,
        name: key.topic.clone(),
        type_name: desc.type_name().to_owned(),
        fingerprint: desc.fingerprint(),
        fixed_size: fixed,
        elem_size: elem,
        max_elems,
        max_size: elem.saturating_mul(max_elems).saturating_add(fixed),
        depth,
        reliable: false,
        description: Some(desc),
    };
    let ann = if std::fs::symlink_metadata(cfg.domain.segment_path(&topic)).is_ok() {
        let sub = RawSubscriber::create(&cfg.domain, topic, None, &Qos::default(), import_node)
            .map_err(|e| format!("cannot read the local topic's type: {e}"))?;
        let c = sub.topic_config();
        let desc = sub.description().cloned().ok_or_else(|| {
            format!(
                "the local topic's type {} has no type description",
                c.type_name()
            )
        })?;
        announce(desc, c.fixed_size, c.elem_size, c.max_elems, c.depth)
    } else if let Some((t, size)) = standard_types().get(&ros_type) {
        announce(t.description(), *size as u64, 0, 0, IMPORT_DEPTH)
    } else {
        return Err(format!(
            "no axon type for ROS 2 type {ros_type}: not a standard axon-msgs type \
             and no local topic {} to take the type from",
            key.topic
        ));
    };
    let Some(desc) = ann.description.as_ref() else {
        return Err("no type description".into()); // set above
    };
    let view = View::new(desc)
        .map_err(|e| format!("the local type {} has no ROS 2 view: {e}", ann.type_name))?;
    if view.dds_type_name() != key.dds_type || view.type_hash() != key.hash {
        return Err(format!(
            "the ROS 2 publisher's type is {} ({}), the local axon type {} is {} ({})",
            key.dds_type,
            key.hash,
            ann.type_name,
            view.dds_type_name(),
            view.type_hash()
        ));
    }
    Ok((ann, view))
}

/// The ROS 2 importer: rmw_zenoh samples -> loaned local samples.
fn import(cfg: &GatewayConfig, session: &Session, ids: &AtomicU32) -> anyhow::Result<()> {
    let inbox = Arc::new(Inbox::default());
    let feed = inbox.clone();
    let _sub = session
        .declare_subscriber(format!("{}/**", cfg.ros2.domain_id))
        .callback(move |s| feed.push(s))
        .allowed_origin(Locality::Remote)
        .wait()
        .map_err(err("declare subscriber"))?;
    let import_node = cfg.import_node();
    let rules = ImportRules {
        carrier: &cfg.name,
        import: &cfg.ros2.import,
        limits: cfg.limits,
        domain: &cfg.domain,
    };
    let mut imports = Imports::new();
    let mut table: HashMap<String, Import> = HashMap::new();
    let mut bad_logged: HashSet<String> = HashSet::new();
    let (mut received, mut dropped) = (0u64, 0u64);
    let mut buf = Vec::new();
    while !axon::shutdown::shutdown_requested() {
        let Some(sample) = inbox.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        let key = sample.key_expr().as_str();
        let Some(dk) = rmw::parse_data_key(cfg.ros2.domain_id, key) else {
            continue; // not an rmw_zenoh topic key
        };
        if !any_match(&cfg.ros2.import, &dk.topic) {
            continue;
        }
        let r = import_one(
            cfg,
            session,
            ids,
            &rules,
            &import_node,
            &mut imports,
            &mut table,
            &dk,
            key,
            &sample,
            &mut buf,
        );
        match r {
            Ok(true) => received += 1,
            Ok(false) => dropped += 1,
            Err(why) => {
                dropped += 1;
                if bad_logged.len() < MAX_TOPICS && bad_logged.insert(key.to_owned()) {
                    log(cfg, format_args!("dropped a sample on {key}: {why}"));
                }
            }
        }
    }
    let total = table.len();
    table.clear();
    let removed = imports.remove_unused_segments();
    let behind = inbox.dropped();
    log(
        cfg,
        format_args!(
            "imported {received} samples, {} dropped ({behind} when the importer fell behind); \
             {total} keys seen, {removed} unused segments removed",
            dropped + behind
        ),
    );
    Ok(())
}

/// Handles one sample: Ok(true) republished, Ok(false) dropped (refused
/// topic, no free slot), Err for a malformed sample.
#[allow(clippy::too_many_arguments)]
fn import_one(
    cfg: &GatewayConfig,
    session: &Session,
    ids: &AtomicU32,
    rules: &ImportRules<'_>,
    import_node: &str,
    imports: &mut Imports,
    table: &mut HashMap<String, Import>,
    dk: &DataKey,
    key: &str,
    sample: &zenoh::sample::Sample,
    buf: &mut Vec<u8>,
) -> Result<bool, String> {
    let att = sample
        .attachment()
        .ok_or("no attachment (rmw_zenoh drops such samples too)")?;
    Attachment::decode(&att.to_bytes())?;
    if !table.contains_key(key) {
        if table.len() >= MAX_TOPICS {
            return Err(format!("at most {MAX_TOPICS} imported keys"));
        }
        let entry = match local_type(cfg, import_node, dk)
            .and_then(|(ann, view)| Ok((imports.accept(rules, &ann, import_node)?, ann, view)))
        {
            Ok((publisher, ann, view)) => {
                let (entity, token) = declare_entity(
                    cfg,
                    session,
                    ids,
                    Kind::Subscription,
                    &dk.topic,
                    &dk.dds_type,
                    &dk.hash,
                    false,
                )
                .map_err(|e| format!("{e:#}"))?;
                log(
                    cfg,
                    format_args!(
                        "importing {} ({} as {}) from {key}; subscription token {token}",
                        dk.topic,
                        view.type_name(),
                        ann.type_name
                    ),
                );
                Import::Accepted(Box::new(Accepted {
                    ann,
                    view,
                    publisher,
                    _entity: entity,
                }))
            }
            Err(why) => {
                log(cfg, format_args!("refused topic {}: {why}", dk.topic));
                Import::Refused
            }
        };
        table.insert(key.to_owned(), entry);
    }
    let Some(Import::Accepted(acc)) = table.get(key) else {
        return Ok(false);
    };
    let payload = sample.payload().to_bytes();
    axon_ros2::decode_into(&acc.view, &payload, buf).map_err(|e| e.to_string())?;
    let len = buf.len() as u64;
    let Some(elems) = acc.ann.elems_for(len) else {
        return Err(format!(
            "a decoded sample of {len} bytes does not fit topic {} (at most {} bytes)",
            dk.topic, acc.ann.max_size
        ));
    };
    // rmw_zenoh puts with `Block` for publishers that want backpressure.
    let reliable = sample.congestion_control() == CongestionControl::Block;
    let stop = axon::shutdown::shutdown_requested;
    let Ok(Some(mut loan)) =
        engine::import_loan(&acc.publisher, elems as usize, reliable, POLL, &stop)
    else {
        return Ok(false);
    };
    let dst = loan.bytes_mut();
    if dst.len() != buf.len() {
        return Err(format!(
            "topic {}: {len} decoded bytes, the local slot holds {}",
            dk.topic,
            dst.len()
        ));
    }
    dst.copy_from_slice(buf);
    loan.send();
    Ok(true)
}
