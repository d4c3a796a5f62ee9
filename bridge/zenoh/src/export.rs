//! The one export engine of both modes: discovery of local topics and the
//! loop that carries their samples to Zenoh. What differs between axon
//! mode ([`crate::gateway`]) and ROS 2 mode ([`crate::ros2`]) is a
//! [`Mapping`]: the Zenoh side of a topic (key, publisher, queryable or
//! liveliness token) and how one sample becomes a put (payload encoding
//! and attachment).
//!
//! Every [`RESCAN`] the engine lists the local domain's topics; a new one
//! that matches the mapping's patterns is offered with `engine::offer`
//! (reliable for `--reliable` topics), and the mapping declares its Zenoh
//! side. A topic whose subscriber cannot be created yet (`Retry`) is tried
//! again at the next scan (its reason logged once); one that cannot travel
//! (`Refused`) or whose Zenoh side failed is logged and not tried again.
//! Between scans a wait set wakes the engine for ready subscribers; each
//! topic gets a bounded batch per wake-up, samples this gateway's
//! importers published are skipped (the loop rule, `engine::is_echo`), and
//! the rest go to [`Mapping::put`].
//!
//! *Bounds.* At most [`MAX_TOPICS`] topics per mode (more are logged once
//! and ignored); a batch is at most [`BATCH`] samples per topic.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axon::link::engine::{self, OfferError};
use axon::link::wire::Announce;
use axon::link::{any_match, Pattern};
use axon::{Node, RawSample, RawSubscriber};

use crate::args::GatewayConfig;
use crate::gateway::MAX_TOPICS;

/// How often local topics are rescanned.
pub const RESCAN: Duration = Duration::from_millis(250);
/// Samples taken from one topic per wake-up (keeps the others flowing).
pub const BATCH: usize = 64;

/// One mode's mapping of local topics onto Zenoh.
pub trait Mapping {
    /// What the mode keeps per exported topic (its Zenoh publisher and
    /// whatever its puts need).
    type Out;
    /// The exporter's axon node name.
    const NODE: &'static str;
    /// The local topics this mode exports.
    fn patterns(&self) -> &[Pattern];
    /// Writes one log line, with the mode's prefix.
    fn log(&self, msg: std::fmt::Arguments<'_>);
    /// Declares the Zenoh side of an offered topic (and logs that it is
    /// exported, and where).
    fn declare(&mut self, ann: &Announce) -> anyhow::Result<Self::Out>;
    /// Puts one local sample (never an echo); true if it went out.
    fn put(&mut self, out: &Self::Out, sample: RawSample<'_>) -> bool;
}

/// A topic being exported.
pub struct Topic<O> {
    /// The engine's subscriber on the local topic.
    pub sub: RawSubscriber,
    /// The mode's part.
    pub out: O,
}

/// What an export run did, when it ends.
pub struct Summary<O> {
    /// Samples put.
    pub sent: u64,
    /// Samples the engine's subscribers lost before export (best-effort
    /// topics when Zenoh was slower than their publishers).
    pub dropped: u64,
    /// The exported topics, for the mode's own counters.
    pub topics: Vec<Topic<O>>,
}

/// Runs the export engine with `mapping` until shutdown is requested.
pub fn run<M: Mapping>(cfg: &GatewayConfig, mapping: &mut M) -> anyhow::Result<Summary<M::Out>> {
    let node = Node::builder(M::NODE)
        .domain(cfg.domain.clone())
        .create()
        .map_err(err("cannot create the exporter's node"))?;
    let import_node = cfg.import_node();
    let mut topics: Vec<Topic<M::Out>> = Vec::new();
    let mut known: HashSet<String> = HashSet::new();
    let mut failed: HashSet<String> = HashSet::new();
    let mut sent = 0u64;
    while !axon::shutdown::shutdown_requested() {
        scan(
            cfg,
            mapping,
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
                for _ in 0..BATCH {
                    let s = match t.sub.try_recv() {
                        Ok(Some(s)) => s,
                        Ok(None) | Err(_) => break,
                    };
                    if engine::is_echo(&t.sub, s.info().publisher, &import_node) {
                        continue; // imported by this gateway: never sent back
                    }
                    if mapping.put(&t.out, s) {
                        sent += 1;
                    }
                }
            }
        }
    }
    let dropped = topics.iter().map(|t| t.sub.dropped()).sum();
    Ok(Summary {
        sent,
        dropped,
        topics,
    })
}

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{what}: {e}")
}

/// Offers every new local topic that matches the mapping's patterns.
fn scan<M: Mapping>(
    cfg: &GatewayConfig,
    mapping: &mut M,
    import_node: &str,
    topics: &mut Vec<Topic<M::Out>>,
    known: &mut HashSet<String>,
    failed: &mut HashSet<String>,
) {
    let names = match cfg.domain.topics() {
        Ok(n) => n,
        Err(e) => {
            mapping.log(format_args!(
                "cannot list topics in {}: {e}",
                cfg.domain.dir().display()
            ));
            return;
        }
    };
    for topic in names {
        let name = topic.as_str().to_owned();
        if known.contains(&name) || !any_match(mapping.patterns(), &name) {
            continue;
        }
        if topics.len() >= MAX_TOPICS {
            if failed.insert(name.clone()) {
                mapping.log(format_args!(
                    "cannot export {name}: at most {MAX_TOPICS} topics"
                ));
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
                    mapping.log(format_args!("{why}"));
                }
                continue;
            }
            Err(OfferError::Refused(why)) => {
                known.insert(name.clone());
                mapping.log(format_args!("{why}"));
                continue;
            }
        };
        known.insert(name.clone());
        match mapping.declare(&ann) {
            Ok(out) => topics.push(Topic { sub, out }),
            Err(e) => mapping.log(format_args!("cannot export {name}: {e:#}")),
        }
    }
}
