//! The export/import engine shared by every carrier (the socket link in
//! `endpoint.rs`, the Zenoh gateway in crate `axon-zenoh`): which local
//! topics are offered, how an offered topic is accepted (import patterns,
//! type check, import limits) and republished, and the loop rule.
//!
//! A carrier owns only its transport: how offers ([`Announce`]), verdicts
//! and samples travel. The engine owns the decisions:
//! - [`offer`]: a local topic that matches `export` becomes a subscriber
//!   (reliable or best-effort) and the [`Announce`] describing it (name,
//!   type, fingerprint, shape, depth, type description);
//! - [`Imports::accept`]: an [`Announce`] from a peer is refused unless it
//!   matches `import`, fits the [`Limits`] and the local topic (if any) has
//!   the same type and fingerprint (the refusal names both types); else it
//!   becomes a [`RawPublisher`] under the carrier's import node name;
//! - [`Imports::remove_unused_segments`]: segments created for a peer are
//!   removed when it goes, if nobody else uses them;
//! - [`is_echo`] (the loop rule): a sample whose publisher is the import
//!   node itself is never exported back;
//! - [`import_loan`] (the republish rule): an imported sample of a
//!   `reliable` topic waits for a free slot while local reliable
//!   subscribers are behind, and the carrier stops taking samples from its
//!   transport meanwhile, so the wait travels back to the remote publisher
//!   as backpressure; a best-effort sample takes a free slot or is dropped
//!   (the carrier counts it).

use super::wire::Announce;
use super::{any_match, Limits, Pattern};
use crate::error::LoanError;
use crate::layout::MAX_DEPTH;
use crate::names::{Domain, TopicName};
use crate::publisher::{RawLoan, RawPublisher, TypeDesc};
use crate::qos::{Qos, Reliability};
use crate::subscriber::RawSubscriber;

/// Why a local topic could not be offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferError {
    /// Its subscriber could not be created yet (for instance the segment is
    /// still being created): try again at the next scan.
    Retry(String),
    /// The topic cannot travel (its shape is beyond the wire's bounds).
    Refused(String),
}

/// Subscribes to the local `topic` for export and describes it as
/// announcement `id`. `reliable` topics get a reliable subscriber (the
/// local publishers wait for the carrier); others lose their oldest
/// samples when the carrier is slow, counted by the subscriber.
pub fn offer(
    domain: &Domain,
    topic: TopicName,
    id: u32,
    reliable: bool,
    import_node: &str,
) -> Result<(RawSubscriber, Announce), OfferError> {
    let name = topic.as_str().to_owned();
    let qos = Qos {
        reliability: if reliable {
            Reliability::Reliable
        } else {
            Reliability::BestEffort
        },
        ..Qos::default()
    };
    let sub = RawSubscriber::create(domain, topic, None, &qos, import_node)
        .map_err(|e| OfferError::Retry(format!("cannot export {name}: {e} (will retry)")))?;
    let c = sub.topic_config();
    let max_size = c
        .elem_size
        .checked_mul(c.max_elems)
        .and_then(|b| b.checked_add(c.fixed_size));
    let a = Announce {
        id,
        name: name.clone(),
        type_name: c.type_name(),
        fingerprint: c.fingerprint,
        fixed_size: c.fixed_size,
        elem_size: c.elem_size,
        max_elems: c.max_elems,
        max_size: max_size.unwrap_or(u64::MAX),
        depth: c.depth.clamp(1, MAX_DEPTH),
        reliable,
        description: sub.description().cloned(),
    };
    a.check()
        .map_err(|why| OfferError::Refused(format!("cannot export {name}: {why}")))?;
    Ok((sub, a))
}

/// The loop rule: whether a sample published on lane `lane` of `sub` was
/// published by this carrier's importer (node name `import_node`), in
/// which case it must not be exported back.
pub fn is_echo(sub: &RawSubscriber, lane: usize, import_node: &str) -> bool {
    sub.publisher_node(lane) == import_node
}

/// The carrier was asked to stop while a reliable import waited for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// The republish rule for one imported sample of `elems` elements on
/// `publisher`. A `reliable` topic waits for a free slot as long as local
/// reliable subscribers need (asking `stop` every `slice`): the carrier
/// reads nothing else from its transport meanwhile, which is how the wait
/// reaches the remote publisher. A best-effort topic takes a free slot or
/// none. `Ok(None)`: the sample is dropped (no slot, or the slot cannot be
/// loaned at all); the carrier counts it. `Err(Stopped)`: `stop` said so
/// while a reliable sample waited.
pub fn import_loan<'p>(
    publisher: &'p RawPublisher,
    elems: usize,
    reliable: bool,
    slice: std::time::Duration,
    stop: &dyn Fn() -> bool,
) -> Result<Option<RawLoan<'p>>, Stopped> {
    if !reliable {
        return Ok(publisher.loan_slot(elems).ok());
    }
    loop {
        match publisher.loan_slot_timeout(elems, slice) {
            Ok(l) => return Ok(Some(l)),
            Err(LoanError::Timeout) if !stop() => continue,
            Err(LoanError::Timeout) => return Err(Stopped),
            Err(_) => return Ok(None),
        }
    }
}

/// What a carrier accepts: its name (for refusals), its `import` patterns,
/// the limits per peer and the local domain.
#[derive(Debug, Clone, Copy)]
pub struct ImportRules<'a> {
    /// The carrier's name, as refusals show it.
    pub carrier: &'a str,
    /// Topics accepted from peers.
    pub import: &'a [Pattern],
    /// What one peer may make this side create.
    pub limits: Limits,
    /// The local domain.
    pub domain: &'a Domain,
}

/// What one peer's imports hold, against [`Limits`]: how many topics were
/// accepted, and the segments created for them (which outlive the
/// publishers and are removed, if nobody else uses them, when the peer
/// goes).
#[derive(Debug, Default)]
pub struct Imports {
    accepted: usize,
    /// Bytes of the segments in `created`.
    bytes: u64,
    created: Vec<CreatedSegment>,
}

/// A segment file this peer's imports created.
#[derive(Debug)]
struct CreatedSegment {
    path: std::path::PathBuf,
    /// Device and inode: only this file is removed, not one that replaced it.
    id: (u64, u64),
}

/// Bytes of the segment a new topic would take (the segment layer's own
/// computation), if it is representable.
fn segment_bytes(desc: &TypeDesc, topic: &TopicName, qos: &Qos) -> Option<u64> {
    crate::segment::segment_size(&desc.spec(topic.clone(), qos))
}

impl Imports {
    /// Nothing imported yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many topics were accepted.
    pub fn accepted(&self) -> usize {
        self.accepted
    }

    /// Removes each created segment that is still the file this peer's
    /// imports created and that no participant uses (the segment layer's
    /// rule for replacing a segment); returns how many went.
    pub fn remove_unused_segments(&mut self) -> usize {
        use std::os::unix::fs::MetadataExt as _;
        let mut removed = 0;
        for c in self.created.drain(..) {
            let same = std::fs::symlink_metadata(&c.path).is_ok_and(|m| (m.dev(), m.ino()) == c.id);
            if same
                && matches!(
                    crate::segment::remove_if_unused(&c.path, false),
                    Ok(crate::segment::Removal::Removed)
                )
            {
                removed += 1;
            }
        }
        self.bytes = 0;
        removed
    }

    /// Decides whether to import an announced topic; creates its publisher
    /// under the node name `import_node`. Refused (with the reason to send
    /// back or log): a topic that does not match `import`, one beyond
    /// `max_imports`, one whose new segment would exceed `max_topic_bytes`
    /// or this peer's `max_import_bytes`, and one whose local topic has
    /// another type or fingerprint (the reason names both).
    pub fn accept(
        &mut self,
        rules: &ImportRules<'_>,
        a: &Announce,
        import_node: &str,
    ) -> Result<RawPublisher, String> {
        let topic = TopicName::new(&a.name).map_err(|e| e.to_string())?;
        if !any_match(rules.import, &a.name) {
            return Err(format!(
                "{} is not imported by {} (import = [{}])",
                a.name,
                rules.carrier,
                rules
                    .import
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let limits = rules.limits;
        if self.accepted >= limits.max_imports {
            return Err(format!(
                "{}: this peer already has {} imported topics, the limit (max_imports = {})",
                a.name, self.accepted, limits.max_imports
            ));
        }
        let desc = TypeDesc {
            name: a.type_name.clone(),
            fingerprint: a.fingerprint,
            fixed_size: a.fixed_size,
            elem_size: a.elem_size,
            description: a.description.clone(),
        };
        let max_len = (a.elem_size > 0).then_some(a.max_elems as usize);
        // An existing topic keeps its capacities; ask for the least (it costs
        // this peer nothing: a local participant chose its size). A new one
        // gets the source's depth and counts against the limits. (If a local
        // process removes the topic between this check and the open, the
        // segment is created with the least capacities: one lane of five slots.)
        let path = rules.domain.segment_path(&topic);
        let existed = std::fs::symlink_metadata(&path).is_ok();
        let qos = if existed {
            Qos {
                history: None,
                max_publishers: 1,
                max_subscribers: 1,
                max_held: 1,
                max_loans: 2,
                max_len,
                ..Qos::default()
            }
        } else {
            Qos {
                history: Some(a.depth),
                max_len,
                ..Qos::default()
            }
        };
        let new_bytes = if existed {
            0
        } else {
            let bytes = segment_bytes(&desc, &topic, &qos).unwrap_or(u64::MAX);
            if bytes > limits.max_topic_bytes {
                return Err(format!(
                    "{}: a segment for it would take {bytes} bytes, more than the per-topic limit \
                     (max_topic_bytes = {})",
                    a.name, limits.max_topic_bytes
                ));
            }
            if self.bytes.saturating_add(bytes) > limits.max_import_bytes {
                return Err(format!(
                    "{}: a segment for it would take {bytes} bytes, and this peer's imports already \
                     hold {} of at most {} (max_import_bytes)",
                    a.name, self.bytes, limits.max_import_bytes
                ));
            }
            bytes
        };
        let publisher = RawPublisher::create(rules.domain, topic, &desc, &qos, import_node);
        // A segment that appeared is this peer's to clean up (and to
        // count), even if joining it then failed: removal only ever takes a
        // segment nobody uses.
        if !existed {
            use std::os::unix::fs::MetadataExt as _;
            if let Ok(m) = std::fs::symlink_metadata(&path) {
                self.bytes = self.bytes.saturating_add(new_bytes.max(m.len()));
                self.created.push(CreatedSegment {
                    path,
                    id: (m.dev(), m.ino()),
                });
            }
        }
        let publisher = publisher.map_err(|e| {
            format!(
                "{e} (peer announced {} fingerprint {:#018x})",
                a.type_name, a.fingerprint
            )
        })?;
        self.accepted += 1;
        Ok(publisher)
    }
}
