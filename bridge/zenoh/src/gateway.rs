//! The gateway in axon mode: local topics -> Zenoh (the exporter, on the
//! calling thread) and Zenoh -> local topics (the importer: Zenoh's
//! subscriber callback, and one thread for decisions).
//!
//! Both ends use the engine every carrier shares (`axon::link::engine`):
//! the exporter offers each local topic that matches `export` with
//! [`engine::offer`], puts every sample on `axon/<zenoh domain>/<topic>`
//! with the [`Attachment`], and skips samples its own importer published
//! ([`engine::is_echo`], the loop rule); for each exported topic a
//! queryable on the type key replies with the topic's announcement. The
//! importer subscribes to `axon/<zenoh domain>/**` (remote origins only),
//! and for a topic seen for the first time asks the type key, checks the
//! answer against the sample's attachment and decides with
//! [`engine::Imports::accept`] (import patterns, limits, type and
//! fingerprint against the local topic, both types named on refusal); an
//! accepted topic gets a publisher named `zenoh:<gateway name>`.
//!
//! *Bounds.* The importer republishes an accepted topic's samples in
//! its Zenoh subscriber's callback, on Zenoh's receiving thread (no thread
//! hop: loan, copy and send never wait); samples that need a decision
//! (and every sample behind them, to keep the order) wait for the importer
//! thread in a queue of at most [`RING`] samples (more are dropped and
//! counted; each sample is at most Zenoh's own configured message size);
//! the import table holds at most [`MAX_TOPICS`] topics (more are logged
//! and ignored); a type reply larger than [`MAX_TYPE_REPLY`] is refused
//! before decoding, and decoding is the socket link's bounded
//! `decode_announce`; a payload that does not fit the announced shape is
//! dropped and counted. Imports are further bounded by
//! [`axon::link::Limits`] (topics and shared memory created).
//!
//! *Delivery.* Best effort: a best-effort topic's exporter subscriber
//! loses its oldest samples when Zenoh is slow (counted); a `reliable`
//! topic is put with congestion control `Block`, so a full Zenoh queue
//! holds the local publishers back; the importer drops a sample when its
//! local topic has no free slot (a `reliable` local topic is full) or its
//! queue of samples waiting for a decision is full. Zenoh itself reconnects (its
//! `connect` endpoints are retried); the gateway needs no reconnect logic
//! and keeps its topics across reconnections.

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axon::link::any_match;
use axon::link::engine::{self, ImportRules, Imports, OfferError};
use axon::link::wire::{self, Announce};
use axon::{Node, RawPublisher, RawSubscriber};
use zenoh::qos::CongestionControl;
use zenoh::sample::{Locality, Sample};
use zenoh::{Session, Wait};

use crate::args::GatewayConfig;
use crate::attachment::{self, Attachment};
use crate::keys;

/// Samples the importer's Zenoh subscriber holds at most.
pub const RING: usize = 64;
/// Most topics the importer remembers (accepted or refused).
pub const MAX_TOPICS: usize = 1024;
/// Largest type reply decoded (an ANNOUNCE body with a type description).
pub const MAX_TYPE_REPLY: usize = wire::MAX_CONTROL_BODY as usize;
/// How long the importer waits for a type reply.
const TYPE_QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// A topic whose type could not be learned is asked again after this.
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// How often local topics are rescanned.
const RESCAN: Duration = Duration::from_millis(250);

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

/// One exported topic.
struct Exported {
    sub: RawSubscriber,
    publisher: zenoh::pubsub::Publisher<'static>,
    fingerprint: u64,
    type_name: String,
    _type_queryable: zenoh::query::Queryable<()>,
}

/// The exporter: returns (samples put, samples dropped before export).
fn export(cfg: &GatewayConfig, session: &Session) -> anyhow::Result<(u64, u64)> {
    let node = Node::builder("axon-zenoh")
        .domain(cfg.domain.clone())
        .create()
        .map_err(err("cannot create the exporter's node"))?;
    let import_node = cfg.import_node();
    let mut topics: Vec<Exported> = Vec::new();
    let mut known: HashSet<String> = HashSet::new();
    let mut failed: HashSet<String> = HashSet::new();
    let mut sent = 0u64;
    loop {
        if axon::shutdown::shutdown_requested() {
            let dropped = topics.iter().map(|t| t.sub.dropped()).sum();
            return Ok((sent, dropped));
        }
        scan(
            cfg,
            session,
            &import_node,
            &mut topics,
            &mut known,
            &mut failed,
        );
        let mut ws = node.wait_set().map_err(err("wait set"))?;
        for t in &topics {
            ws.raw_subscriber(&t.sub).map_err(err("wait set"))?;
        }
        let next_scan = Instant::now() + RESCAN;
        while Instant::now() < next_scan {
            let ready = ws
                .wait_timeout(next_scan.saturating_duration_since(Instant::now()))
                .map_err(err("wait"))?;
            if ready.shutdown() {
                break;
            }
            for t in &topics {
                // A bounded batch per topic keeps the others flowing.
                for _ in 0..64 {
                    let s = match t.sub.try_recv() {
                        Ok(Some(s)) => s,
                        Ok(None) | Err(_) => break,
                    };
                    let info = s.info();
                    if engine::is_echo(&t.sub, info.publisher, &import_node) {
                        continue; // imported by this gateway: never sent back
                    }
                    let bytes = s.bytes();
                    let att = attachment::encode(
                        info.seq,
                        info.sent_ns,
                        t.fingerprint,
                        bytes.len() as u64,
                        &t.type_name,
                    );
                    // Zenoh sends from buffers it owns: one copy, from
                    // where the sample lies in shared memory.
                    if let Err(e) = t.publisher.put(bytes.to_vec()).attachment(att).wait() {
                        log(cfg, format_args!("put on {}: {e}", t.publisher.key_expr()));
                    } else {
                        sent += 1;
                    }
                }
            }
        }
    }
}

/// Offers every new local topic that matches `export`.
fn scan(
    cfg: &GatewayConfig,
    session: &Session,
    import_node: &str,
    topics: &mut Vec<Exported>,
    known: &mut HashSet<String>,
    failed: &mut HashSet<String>,
) {
    let names = match cfg.domain.topics() {
        Ok(n) => n,
        Err(e) => {
            log(
                cfg,
                format_args!("cannot list topics in {}: {e}", cfg.domain.dir().display()),
            );
            return;
        }
    };
    for topic in names {
        let name = topic.as_str().to_owned();
        if known.contains(&name) || !any_match(&cfg.export, &name) {
            continue;
        }
        if topics.len() >= MAX_TOPICS {
            if failed.insert(name.clone()) {
                log(
                    cfg,
                    format_args!("cannot export {name}: at most {MAX_TOPICS} topics"),
                );
            }
            continue;
        }
        let reliable = any_match(&cfg.reliable, &name);
        let (sub, ann) = match engine::offer(
            &cfg.domain,
            topic,
            topics.len() as u32,
            reliable,
            import_node,
        ) {
            Ok(o) => o,
            Err(OfferError::Retry(why)) => {
                if failed.insert(name.clone()) {
                    log(cfg, format_args!("{why}"));
                }
                continue;
            }
            Err(OfferError::Refused(why)) => {
                known.insert(name.clone());
                log(cfg, format_args!("{why}"));
                continue;
            }
        };
        known.insert(name.clone());
        match declare_export(cfg, session, sub, &ann) {
            Ok(e) => {
                log(
                    cfg,
                    format_args!(
                        "exporting {name} ({}) on {}",
                        ann.type_name,
                        e.publisher.key_expr()
                    ),
                );
                topics.push(e);
            }
            Err(e) => log(cfg, format_args!("cannot export {name}: {e:#}")),
        }
    }
}

fn declare_export(
    cfg: &GatewayConfig,
    session: &Session,
    sub: RawSubscriber,
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
        sub,
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

/// What Zenoh's callback (the fast path) and the importer thread (the
/// decisions, which may wait for a type query) share.
struct ImportState {
    table: HashMap<String, Import>,
    /// Samples handed to the importer thread and not handled yet. While
    /// there are any, the callback hands every sample over, so samples keep
    /// their order across a decision.
    backlog: usize,
    received: u64,
    dropped: u64,
    bad_logged: HashSet<String>,
}

impl ImportState {
    /// Counts one sample's outcome (and logs a malformed one once per key).
    fn count(&mut self, cfg: &GatewayConfig, key: &str, outcome: Result<bool, String>) {
        match outcome {
            Ok(true) => self.received += 1,
            Ok(false) => self.dropped += 1,
            Err(why) => {
                self.dropped += 1;
                if self.bad_logged.len() < MAX_TOPICS && self.bad_logged.insert(key.to_owned()) {
                    log(cfg, format_args!("dropped a sample on {key}: {why}"));
                }
            }
        }
    }
}

fn lock(state: &Mutex<ImportState>) -> MutexGuard<'_, ImportState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A sample's topic and checked attachment ([`parse`]).
struct Parsed {
    topic: String,
    att: Attachment,
}

/// The importer: Zenoh samples -> loaned local samples. A sample of an
/// accepted topic is republished on Zenoh's receiving thread, in the
/// subscriber's callback (no thread hop: the loan, the copy and the send
/// never wait, a full reliable topic drops the sample); a sample that needs
/// a decision (and every sample behind it) goes to the importer thread
/// through a queue of [`RING`] samples (full: dropped and counted), since
/// deciding may wait up to 2 s for a type reply.
fn import(cfg: &Arc<GatewayConfig>, session: &Session) -> anyhow::Result<()> {
    let state = Arc::new(Mutex::new(ImportState {
        table: HashMap::new(),
        backlog: 0,
        received: 0,
        dropped: 0,
        bad_logged: HashSet::new(),
    }));
    let (tx, rx) = mpsc::sync_channel::<(Sample, Parsed)>(RING);
    let (c, st) = (cfg.clone(), state.clone());
    let sub = session
        .declare_subscriber(keys::all_data(&cfg.zenoh_domain))
        .callback(move |sample| on_sample(&c, &st, &tx, sample))
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
    while !axon::shutdown::shutdown_requested() {
        let (sample, parsed) = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(h) => h,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                log(cfg, format_args!("import subscriber ended"));
                break;
            }
        };
        let mut st = lock(&state);
        let outcome = if needs_decision(&st.table, &parsed) {
            if !st.table.contains_key(&parsed.topic) && st.table.len() >= MAX_TOPICS {
                Err(format!("at most {MAX_TOPICS} imported topics"))
            } else {
                // The callback queues everything meanwhile (backlog > 0).
                let before = st.table.remove(&parsed.topic);
                drop(st);
                let entry = decide(
                    cfg,
                    session,
                    &rules,
                    &import_node,
                    &mut imports,
                    &parsed,
                    before,
                );
                st = lock(&state);
                st.table.insert(parsed.topic.clone(), entry);
                republish(&st.table, &parsed, sample.payload())
            }
        } else {
            republish(&st.table, &parsed, sample.payload())
        };
        st.backlog -= 1;
        st.count(cfg, sample.key_expr().as_str(), outcome);
    }
    drop(sub); // no new callbacks; one still running finds no publisher to use
    let mut st = lock(&state);
    let total = st.table.len();
    st.table.clear(); // publishers go before their segments may be removed
    let (received, dropped) = (st.received, st.dropped);
    drop(st);
    let removed = imports.remove_unused_segments();
    log(
        cfg,
        format_args!(
            "imported {received} samples, {dropped} dropped; {total} topics seen, \
             {removed} unused segments removed"
        ),
    );
    Ok(())
}

/// Zenoh's callback: republishes at once, or hands the sample over.
fn on_sample(
    cfg: &GatewayConfig,
    state: &Mutex<ImportState>,
    to_thread: &mpsc::SyncSender<(Sample, Parsed)>,
    sample: Sample,
) {
    let parsed = match parse(cfg, &sample) {
        Ok(Some(p)) => p,
        Ok(None) => {
            lock(state).dropped += 1;
            return;
        }
        Err(why) => {
            lock(state).count(cfg, sample.key_expr().as_str(), Err(why));
            return;
        }
    };
    let mut st = lock(state);
    if st.backlog == 0 && !needs_decision(&st.table, &parsed) {
        let outcome = republish(&st.table, &parsed, sample.payload());
        st.count(cfg, sample.key_expr().as_str(), outcome);
        return;
    }
    match to_thread.try_send((sample, parsed)) {
        Ok(()) => st.backlog += 1,
        Err(_) => st.dropped += 1, // RING samples wait already (or shutdown)
    }
}

/// The sample's topic and attachment: Ok(None) for a topic not imported,
/// Err for a malformed sample.
fn parse(cfg: &GatewayConfig, sample: &Sample) -> Result<Option<Parsed>, String> {
    let Some(topic) = keys::topic_of(&cfg.zenoh_domain, sample.key_expr().as_str()) else {
        return Ok(None);
    };
    if !any_match(&cfg.import, &topic) {
        return Ok(None);
    }
    let att = Attachment::decode(
        &sample
            .attachment()
            .ok_or("no attachment (not put by an axon gateway)")?
            .to_bytes(),
    )?;
    let len = sample.payload().len();
    if len as u64 != att.len {
        return Err(format!(
            "a payload of {len} bytes, the attachment says {}",
            att.len
        ));
    }
    Ok(Some(Parsed { topic, att }))
}

/// Whether the sample's topic is seen for the first time, its type
/// changed, or a failed type query is due again.
fn needs_decision(table: &HashMap<String, Import>, p: &Parsed) -> bool {
    match table.get(&p.topic) {
        None => true,
        Some(Import::Accepted { ann, .. }) => ann.fingerprint != p.att.fingerprint,
        Some(Import::Refused { fingerprint }) => *fingerprint != p.att.fingerprint,
        Some(Import::Unknown { retry_at, .. }) => Instant::now() >= *retry_at,
    }
}

/// Learns the topic's type and decides (`before`: the topic's previous
/// entry, so a failure that stays the same is not logged again).
fn decide(
    cfg: &GatewayConfig,
    session: &Session,
    rules: &ImportRules<'_>,
    import_node: &str,
    imports: &mut Imports,
    p: &Parsed,
    before: Option<Import>,
) -> Import {
    let topic = &p.topic;
    match learn_type(cfg, session, topic, &p.att) {
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
                    fingerprint: p.att.fingerprint,
                }
            }
        },
    }
}

/// Copies the payload into a loaned slot of the topic's publisher and
/// sends it: Ok(true) republished, Ok(false) dropped (no free slot, or the
/// topic is refused or not known yet), Err for a payload that does not fit.
fn republish(
    table: &HashMap<String, Import>,
    p: &Parsed,
    payload: &zenoh::bytes::ZBytes,
) -> Result<bool, String> {
    let topic = &p.topic;
    let Some(Import::Accepted { ann, publisher }) = table.get(topic) else {
        return Ok(false);
    };
    let len = payload.len() as u64;
    let Some(elems) = ann.elems_for(len) else {
        return Err(format!(
            "a payload of {len} bytes does not fit topic {topic} (at most {} bytes: {} + n x {})",
            ann.max_size, ann.fixed_size, ann.elem_size
        ));
    };
    let Ok(mut loan) = publisher.loan_slot(elems as usize) else {
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
