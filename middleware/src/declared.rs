//! Topic declarations: a topic's type, QoS and capacities decided once for
//! a whole robot, by its launch file, instead of by whichever node happens
//! to create the topic first.
//!
//! `launch` writes the `[topic."/name"]` tables of a launch file to one
//! JSON file in its log directory and hands its path to every node in
//! `AXON_TOPICS` ([`TOPICS_ENV`]). [`crate::Node`] reads it when it is
//! created ([`crate::NodeBuilder::topics_file`] sets it in code) and applies
//! a declaration whenever one of its publishers or subscribers opens the
//! declared topic:
//!
//! - **type**: a participant of another type gets
//!   [`OpenError::DeclaredTypeMismatch`], naming both types;
//! - **history**, **max_len** (slice messages; ignored for sized ones),
//!   **max_publishers**, **max_subscribers**: the topic is created with the
//!   declared numbers whoever creates it, and a live topic with less is
//!   refused ([`OpenError::CapacityMismatch`], "the launch file declares").
//!   A participant's own explicit `history(n)` / `max_len(n)` above the
//!   declaration is refused the same way ("declared in the launch file");
//!   one at or below it is met by the declaration. Its `max_publishers` /
//!   `max_subscribers` are replaced by the declared ones (they describe the
//!   topic, not the participant);
//! - **reliability**, **durability**: the default of the topic's
//!   subscribers. A declaration only strengthens: a subscriber that asks
//!   for `reliable()` or `transient_local()` keeps it.
//!
//! Declarations are by the topic's final name, after the node's namespace
//! and remaps ([`crate::Node::resolve`]): `[topic."/robot1/imu"]` applies to
//! `imu` in namespace `/robot1` and to `/imu` remapped to `/robot1/imu`.
//!
//! **Bounds.** The file is read with `O_NONBLOCK` and must be a regular file
//! of at most [`MAX_FILE_BYTES`] (8 MiB); it declares at most
//! [`MAX_DECLARED_TOPICS`] (4096) topics; every name, type and number is
//! checked as [`crate::Qos::validate`] would, and each problem is one
//! [`crate::NodeError::Topics`] naming the file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DeclaredNumber, OpenError};
use crate::layout::{MAX_DEPTH, MAX_PUBLISHERS, MAX_SUBSCRIBERS};
use crate::names::TopicName;
use crate::publisher::TypeDesc;
use crate::qos::{Durability, Qos, Reliability};

/// The environment variable with the declarations file's path.
pub const TOPICS_ENV: &str = "AXON_TOPICS";
/// Largest declarations file a node reads. What `launch` writes always
/// fits: at most [`MAX_DECLARED_TOPICS`] entries of at most ~1.3 KiB each
/// (a 200-byte name, a 128-byte type and a 256-byte `declared_at`, each
/// escaped at most twice over, and the numbers), about 5.3 MiB.
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// Most topics one file declares.
pub const MAX_DECLARED_TOPICS: usize = 4096;
/// Longest type name (what a segment records).
pub const MAX_TYPE_NAME_LEN: usize = 128;
/// Longest `declared_at` text kept.
pub const MAX_DECLARED_AT_LEN: usize = 256;
/// The file format's version.
pub const VERSION: u32 = 1;

/// One topic's declaration. Every field is optional: what is not declared
/// is left to the participants as without a declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicDecl {
    /// The message type name (`Schema::TYPE_NAME`, e.g. `axon-msgs/Image`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// Keep-last depth the topic is created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<u32>,
    /// Slice messages: most trailing elements per sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<u64>,
    /// Default reliability of the topic's subscribers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliability: Option<Reliability>,
    /// Default durability of the topic's subscribers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durability: Option<Durability>,
    /// Publishers the topic allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_publishers: Option<u32>,
    /// Subscribers the topic allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_subscribers: Option<u32>,
    /// Where it was declared (`robot.toml:12:1`), for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_at: Option<String>,
}

impl TopicDecl {
    /// Checks every value is in range; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        if let Some(t) = &self.type_name {
            check_type_name(t)?;
        }
        if let Some(h) = self.history {
            check_range("history", h as u64, 1, MAX_DEPTH as u64)?;
        }
        if let Some(n) = self.max_len {
            check_range("max_len", n, 1, u32::MAX as u64)?;
        }
        if let Some(n) = self.max_publishers {
            check_range("max_publishers", n as u64, 1, MAX_PUBLISHERS as u64)?;
        }
        if let Some(n) = self.max_subscribers {
            check_range("max_subscribers", n as u64, 1, MAX_SUBSCRIBERS as u64)?;
        }
        if let Some(at) = &self.declared_at {
            if at.len() > MAX_DECLARED_AT_LEN {
                return Err(format!(
                    "declared_at is longer than {MAX_DECLARED_AT_LEN} bytes"
                ));
            }
            if at.chars().any(char::is_control) {
                return Err("declared_at contains a control character".into());
            }
        }
        Ok(())
    }

    /// Applies this declaration of `topic` to a participant of type `desc`
    /// that asked for `qos`: the QoS it opens the topic with, and which
    /// numbers of it the declaration decided.
    pub(crate) fn apply(
        &self,
        topic: &TopicName,
        desc: &TypeDesc,
        qos: &Qos,
        at: &str,
    ) -> Result<(Qos, Applied), OpenError> {
        if let Some(ty) = &self.type_name {
            if *ty != desc.name {
                return Err(OpenError::DeclaredTypeMismatch {
                    topic: topic.to_string(),
                    declared: ty.clone(),
                    requested: desc.name.clone(),
                    at: at.to_string(),
                });
            }
        }
        let beyond = |what: &'static str, requested: u64, available: u64| {
            Err(OpenError::CapacityMismatch {
                topic: topic.to_string(),
                what,
                requested,
                available,
                declared: Some(DeclaredNumber::Available { at: at.to_string() }),
            })
        };
        let mut q = qos.clone();
        let mut applied = Applied {
            at: at.to_string(),
            ..Applied::default()
        };
        if let Some(h) = self.history {
            match qos.history {
                Some(asked) if asked > h => return beyond("history depth", asked as u64, h as u64),
                _ => {}
            }
            q.history = Some(h);
            applied.depth = true;
        }
        if let (Some(n), true) = (self.max_len, desc.elem_size > 0) {
            match qos.max_len {
                Some(asked) if asked as u64 > n => {
                    return beyond("max slice length", asked as u64, n)
                }
                _ => {}
            }
            q.max_len = Some(usize::try_from(n).unwrap_or(usize::MAX));
            applied.max_elems = true;
        }
        if let Some(n) = self.max_publishers {
            q.max_publishers = n;
            applied.max_publishers = true;
        }
        if let Some(n) = self.max_subscribers {
            q.max_subscribers = n;
            applied.max_subscribers = true;
        }
        if self.reliability == Some(Reliability::Reliable) {
            q.reliability = Reliability::Reliable;
        }
        if self.durability == Some(Durability::TransientLocal) {
            q.durability = Durability::TransientLocal;
        }
        Ok((q, applied))
    }
}

/// Which numbers of a participant's topic spec a declaration decided, and
/// where it was made: a live topic with less than these is refused with the
/// launch file named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    /// `declared_at`, or the file's path.
    pub at: String,
    pub depth: bool,
    pub max_elems: bool,
    pub max_publishers: bool,
    pub max_subscribers: bool,
}

fn check_range(what: &str, v: u64, lo: u64, hi: u64) -> Result<(), String> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!("{what} {v} is not in {lo}..={hi}"))
    }
}

/// A type name as a segment can record it: 1 to 128 bytes, no control
/// characters.
pub fn check_type_name(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Err("the type name is empty".into());
    }
    if t.len() > MAX_TYPE_NAME_LEN {
        return Err(format!(
            "type name {t:?} is longer than {MAX_TYPE_NAME_LEN} bytes"
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(format!("type name {t:?} contains a control character"));
    }
    Ok(())
}

/// The file as JSON.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicsFile {
    version: u32,
    topics: BTreeMap<String, TopicDecl>,
}

/// Every declaration one node knows, by resolved topic name.
#[derive(Debug, Clone, Default)]
pub struct TopicDecls {
    topics: HashMap<TopicName, TopicDecl>,
    /// The file they were read from, if any (named in messages).
    file: Option<PathBuf>,
}

impl TopicDecls {
    /// No declarations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the declaration of `topic`; refuses a bad value
    /// and a declaration past [`MAX_DECLARED_TOPICS`].
    pub fn insert(&mut self, topic: TopicName, decl: TopicDecl) -> Result<(), String> {
        decl.check().map_err(|e| format!("topic {topic}: {e}"))?;
        if self.topics.len() >= MAX_DECLARED_TOPICS && !self.topics.contains_key(&topic) {
            return Err(format!(
                "more than {MAX_DECLARED_TOPICS} declared topics (the limit)"
            ));
        }
        self.topics.insert(topic, decl);
        Ok(())
    }

    /// The declaration of `topic`, if any.
    pub fn get(&self, topic: &TopicName) -> Option<&TopicDecl> {
        self.topics.get(topic)
    }

    /// How many topics are declared.
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Where `decl` was declared, for messages: its `declared_at`, else the
    /// file, else "the launch file".
    pub(crate) fn location(&self, decl: &TopicDecl) -> String {
        match (&decl.declared_at, &self.file) {
            (Some(at), _) => at.clone(),
            (None, Some(f)) => f.display().to_string(),
            (None, None) => "the launch file".to_string(),
        }
    }

    /// The file's JSON text (what `launch` writes).
    pub fn to_json(&self) -> String {
        let file = TopicsFile {
            version: VERSION,
            topics: self
                .topics
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        serde_json::to_string_pretty(&file).unwrap_or_default() + "\n"
    }

    /// Parses a declarations file's bytes (at most [`MAX_FILE_BYTES`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(format!("larger than {MAX_FILE_BYTES} bytes (the limit)"));
        }
        let file: TopicsFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if file.version != VERSION {
            return Err(format!(
                "format version {} (this axon reads version {VERSION})",
                file.version
            ));
        }
        if file.topics.len() > MAX_DECLARED_TOPICS {
            return Err(format!(
                "{} declared topics, more than {MAX_DECLARED_TOPICS} (the limit)",
                file.topics.len()
            ));
        }
        let mut decls = TopicDecls::new();
        for (name, decl) in file.topics {
            let topic = TopicName::new(&name).map_err(|e| e.to_string())?;
            decls.insert(topic, decl)?;
        }
        Ok(decls)
    }

    /// Reads the declarations file at `path`: a regular file (opened
    /// `O_NONBLOCK`, so a FIFO cannot block) of at most [`MAX_FILE_BYTES`].
    /// The error is the reason only; the caller names the file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes =
            crate::sys::read_regular_file(path, MAX_FILE_BYTES).map_err(|e| e.to_string())?;
        let mut decls = Self::from_json(&bytes)?;
        decls.file = Some(path.to_path_buf());
        Ok(decls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> TypeDesc {
        TypeDesc {
            name: "m/Image".into(),
            fingerprint: 1,
            fixed_size: 16,
            elem_size: 1,
            description: None,
        }
    }

    #[test]
    fn round_trip_and_bounds() {
        let mut d = TopicDecls::new();
        let decl = TopicDecl {
            type_name: Some("m/Image".into()),
            history: Some(3),
            max_len: Some(100),
            reliability: Some(Reliability::Reliable),
            durability: Some(Durability::TransientLocal),
            max_publishers: Some(2),
            max_subscribers: Some(9),
            declared_at: Some("robot.toml:3:1".into()),
        };
        d.insert(TopicName::new("/cam").unwrap(), decl.clone())
            .unwrap();
        let text = d.to_json();
        assert!(text.contains("\"transient-local\""), "{text}");
        let back = TopicDecls::from_json(text.as_bytes()).unwrap();
        assert_eq!(back.get(&TopicName::new("/cam").unwrap()), Some(&decl));
        for bad in [
            r#"{"version":1,"topics":{"cam":{}}}"#,
            r#"{"version":1,"topics":{"/c":{"history":0}}}"#,
            r#"{"version":1,"topics":{"/c":{"max_publishers":33}}}"#,
            r#"{"version":1,"topics":{"/c":{"colour":1}}}"#,
            r#"{"version":2,"topics":{}}"#,
            r#"{"version":1,"topics":{"/c":{"type":""}}}"#,
            r#"{"version":1,"topics":{"/c":{"reliability":"sometimes"}}}"#,
            "not json",
        ] {
            assert!(TopicDecls::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    /// What `launch` writes for the most and largest declarations still
    /// fits what a node reads.
    #[test]
    fn the_largest_file_launch_can_write_fits_the_read_bound() {
        let mut d = TopicDecls::new();
        for i in 0..MAX_DECLARED_TOPICS {
            let name = format!("/{:0>199}", i);
            let decl = TopicDecl {
                // Escaped twice over in JSON.
                type_name: Some("\"".repeat(MAX_TYPE_NAME_LEN)),
                history: Some(MAX_DEPTH),
                max_len: Some(u32::MAX as u64),
                reliability: Some(Reliability::BestEffort),
                durability: Some(Durability::TransientLocal),
                max_publishers: Some(MAX_PUBLISHERS),
                max_subscribers: Some(MAX_SUBSCRIBERS),
                declared_at: Some("\\".repeat(MAX_DECLARED_AT_LEN)),
            };
            d.insert(TopicName::new(&name).unwrap(), decl).unwrap();
        }
        let text = d.to_json();
        assert!(text.len() as u64 <= MAX_FILE_BYTES, "{} bytes", text.len());
        assert_eq!(TopicDecls::from_json(text.as_bytes()).unwrap().len(), 4096);
    }

    #[test]
    fn explicit_requests_beyond_the_declaration_are_refused() {
        let t = TopicName::new("/cam").unwrap();
        let decl = TopicDecl {
            history: Some(4),
            max_len: Some(10),
            ..Default::default()
        };
        let q = Qos {
            history: Some(2),
            ..Default::default()
        };
        let (got, applied) = decl.apply(&t, &image(), &q, "f:1:1").unwrap();
        assert_eq!((got.history, got.max_len), (Some(4), Some(10)));
        assert!(applied.depth && applied.max_elems);
        let q = Qos {
            history: Some(5),
            ..Default::default()
        };
        let e = decl
            .apply(&t, &image(), &q, "f:1:1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("declared in the launch file") && e.contains('4') && e.contains('5'),
            "{e}"
        );
        let other = TopicDecl {
            type_name: Some("m/Imu".into()),
            ..Default::default()
        };
        let e = other
            .apply(&t, &image(), &Qos::default(), "f:1:1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("m/Imu") && e.contains("m/Image"), "{e}");
    }
}
