//! Raw launch-file structs: exactly what serde reads from TOML, spans kept,
//! nothing checked beyond syntax, key names and types. `validate` turns
//! them into a [`Plan`](crate::plan::Plan).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// A map whose keys keep their spans.
pub type SpannedMap<V> = BTreeMap<Spanned<String>, Spanned<V>>;

/// A whole launch file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// `[launch]`.
    #[serde(default)]
    pub launch: RawLaunch,
    /// `[[node]]` tables, in file order.
    #[serde(default)]
    pub node: Vec<RawNode>,
    /// `[[link]]` tables (socket links), in file order.
    #[serde(default)]
    pub link: Vec<RawLink>,
    /// `[[record]]` tables (`axon bag record` processes), in file order.
    #[serde(default)]
    pub record: Vec<RawRecord>,
    /// `[[zenoh]]` tables (`axon-zenoh` gateways), in file order.
    #[serde(default)]
    pub zenoh: Vec<RawZenoh>,
    /// `[topic."/name"]` tables: topic declarations, by resolved name.
    #[serde(default)]
    pub topic: SpannedMap<RawTopic>,
}

/// One `[topic."/camera/image"]` table: the type, QoS and capacities every
/// node that opens the topic gets (see `axon::declared`). Numbers are
/// integers or strings of one (`"${depth}"`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopic {
    /// Message type name, e.g. `"axon-msgs/Image"`.
    #[serde(rename = "type")]
    pub ty: Option<Spanned<String>>,
    /// Keep-last depth (1..=65536).
    pub history: Option<Spanned<toml::Value>>,
    /// Slice messages: most trailing elements per sample.
    pub max_len: Option<Spanned<toml::Value>>,
    /// `"best-effort"` or `"reliable"`: the subscribers' default.
    pub reliability: Option<Spanned<String>>,
    /// `"volatile"` or `"transient-local"`: the subscribers' default.
    pub durability: Option<Spanned<String>>,
    /// Publishers the topic allows (1..=32).
    pub max_publishers: Option<Spanned<toml::Value>>,
    /// Subscribers the topic allows (1..=64).
    pub max_subscribers: Option<Spanned<toml::Value>>,
}

/// One `[[link]]` table: a socket link endpoint, supervised like a node.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    /// Unique name (shared with nodes); also the endpoint's identity.
    pub name: Spanned<String>,
    /// `"tcp"` or `"unix"`.
    pub transport: Spanned<String>,
    /// Address to listen on (TCP: `host:port` or a port for loopback; Unix: a path).
    pub listen: Option<Spanned<String>>,
    /// Address to connect to.
    pub connect: Option<Spanned<String>>,
    /// Local topic patterns sent to the peer.
    #[serde(default)]
    pub export: Vec<Spanned<String>>,
    /// Peer topic patterns republished here.
    #[serde(default)]
    pub import: Vec<Spanned<String>>,
    /// Exported topic patterns that get backpressure instead of drop-oldest.
    #[serde(default)]
    pub reliable: Vec<Spanned<String>>,
    /// File with the shared secret, relative to the launch file.
    pub secret_file: Option<Spanned<String>>,
    /// The local domain this link serves (default: `[launch] domain`, or `AXON_DOMAIN`).
    pub domain: Option<Spanned<String>>,
    /// Heartbeat period (default 250ms).
    pub heartbeat: Option<Spanned<String>>,
    /// Peer silence after which the connection is dropped (default 2s).
    pub dead_after: Option<Spanned<String>>,
    /// Respawn policy (default `always`).
    pub respawn: Option<Spanned<RawRespawn>>,
    /// Nodes or links that must be ready first.
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    /// If it ends for good, the robot stops.
    #[serde(default)]
    pub required: bool,
}

/// One `[[zenoh]]` table: an `axon-zenoh` gateway, supervised like a link.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZenoh {
    /// Unique name (shared with nodes and links); imported topics are
    /// published under the node name `zenoh:<name>`.
    pub name: Spanned<String>,
    /// The Zenoh json5 configuration file, relative to the launch file,
    /// passed to Zenoh unchanged (mode, endpoints, scouting, TLS, access
    /// control).
    pub config: Option<Spanned<String>>,
    /// The `<domain>` of the keys `axon/<domain>/<topic>` (default `default`).
    pub zenoh_domain: Option<Spanned<String>>,
    /// The local domain this gateway serves (default: `[launch] domain`, or `AXON_DOMAIN`).
    pub domain: Option<Spanned<String>>,
    /// Local topic patterns put on Zenoh.
    #[serde(default)]
    pub export: Vec<Spanned<String>>,
    /// Zenoh topic patterns republished here.
    #[serde(default)]
    pub import: Vec<Spanned<String>>,
    /// Exported topic patterns that get backpressure instead of drop-oldest.
    #[serde(default)]
    pub reliable: Vec<Spanned<String>>,
    /// ROS 2 mode: local topic patterns published for ROS 2 nodes on
    /// rmw_zenoh (`axon-zenoh --ros2-export`).
    #[serde(default)]
    pub ros2_export: Vec<Spanned<String>>,
    /// ROS 2 mode: ROS 2 topic patterns (rmw_zenoh publishers) republished
    /// here (`--ros2-import`).
    #[serde(default)]
    pub ros2_import: Vec<Spanned<String>>,
    /// ROS 2 mode: the ROS domain id, 0 to 232 (`--ros-domain`; default the
    /// gateway's `ROS_DOMAIN_ID`, else 0).
    pub ros_domain: Option<Spanned<i64>>,
    /// Respawn policy (default `always`).
    pub respawn: Option<Spanned<RawRespawn>>,
    /// Nodes or links that must be ready first.
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    /// If it ends for good, the robot stops.
    #[serde(default)]
    pub required: bool,
}

/// One `[[record]]` table: an `axon bag record` process, supervised like a
/// node, recording from the moment the robot starts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    /// Unique name (shared with nodes and links).
    pub name: Spanned<String>,
    /// Topics to record.
    #[serde(default)]
    pub topics: Vec<Spanned<String>>,
    /// Every topic, including those that appear later.
    #[serde(default)]
    pub all: bool,
    /// Topics this regular expression matches.
    pub regex: Option<Spanned<String>>,
    /// Topics this regular expression matches are left out.
    pub exclude: Option<Spanned<String>>,
    /// A directory (relative to the launch file) for new files, or a file.
    pub output: Spanned<String>,
    /// `"zstd"` (default), `"lz4"` or `"none"`.
    pub compression: Option<Spanned<String>>,
    /// A new file once one holds this many bytes, e.g. `"512M"`.
    pub split_size: Option<Spanned<String>>,
    /// A new file once one spans this long, e.g. `"60s"`.
    pub split_duration: Option<Spanned<String>>,
    /// Respawn policy (default `always`).
    pub respawn: Option<Spanned<RawRespawn>>,
    /// Nodes or links that must be ready first.
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    /// If it ends for good, the robot stops.
    #[serde(default)]
    pub required: bool,
}

/// The `[launch]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLaunch {
    /// Shutdown grace period, e.g. `"5s"`.
    pub grace: Option<Spanned<String>>,
    /// Log directory, relative to the launch file.
    pub log_dir: Option<Spanned<String>>,
    /// Run time after which the robot is shut down as if by Ctrl-C.
    pub duration: Option<Spanned<String>>,
    /// `AXON_DOMAIN` for every node.
    pub domain: Option<Spanned<String>>,
    /// Environment for every node of this file (and its includes).
    #[serde(default)]
    pub env: SpannedMap<String>,
    /// Declared args with their default values.
    #[serde(default)]
    pub args: SpannedMap<toml::Value>,
    /// Other launch files.
    #[serde(default)]
    pub include: Vec<Spanned<RawInclude>>,
    /// Topics that come from outside this launch file.
    #[serde(default)]
    pub external: Vec<Spanned<String>>,
}

/// One `include` entry: `"arm.toml"` or `{ file = "arm.toml", args = {..} }`.
#[derive(Debug)]
pub struct RawInclude {
    /// The file, relative to the including file.
    pub file: String,
    /// Arg overrides for the included file.
    pub args: SpannedMap<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncludeTable {
    file: String,
    #[serde(default)]
    args: SpannedMap<toml::Value>,
}

impl<'de> Deserialize<'de> for RawInclude {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawInclude;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file name or a table { file = \"..\", args = { .. } }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawInclude, E> {
                Ok(RawInclude {
                    file: s.to_owned(),
                    args: BTreeMap::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawInclude, A::Error> {
                let t = RawIncludeTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawInclude {
                    file: t.file,
                    args: t.args,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// One `[[node]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// Unique name.
    pub name: Spanned<String>,
    /// Binary name or path.
    pub exec: Spanned<String>,
    /// Command-line arguments.
    #[serde(default)]
    pub args: Vec<Spanned<String>>,
    /// Extra environment.
    #[serde(default)]
    pub env: SpannedMap<String>,
    /// Typed parameters handed to the node as JSON.
    pub params: Option<Spanned<toml::Table>>,
    /// Namespace for relative topic names.
    pub namespace: Option<Spanned<String>>,
    /// Topic renames, `from = "to"`.
    #[serde(default)]
    pub remap: SpannedMap<String>,
    /// Respawn policy.
    pub respawn: Option<Spanned<RawRespawn>>,
    /// Nodes that must be ready before this one starts.
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    /// When this node counts as ready.
    pub ready: Option<Spanned<RawReady>>,
    /// CPU affinity.
    pub cpu: Option<Spanned<Vec<usize>>>,
    /// SCHED_FIFO priority.
    pub priority: Option<Spanned<i64>>,
    /// If it ends, the robot stops.
    #[serde(default)]
    pub required: bool,
    /// Declared publications, topic = type.
    #[serde(default)]
    pub publishes: SpannedMap<String>,
    /// Declared subscriptions, topic = type.
    #[serde(default)]
    pub subscribes: SpannedMap<String>,
    /// Declared services this node serves (names).
    #[serde(default)]
    pub serves: Vec<Spanned<String>>,
    /// Declared services this node calls (names).
    #[serde(default)]
    pub calls: Vec<Spanned<String>>,
}

/// `never` / `on-failure` / `always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawPolicy {
    /// Never restart.
    Never,
    /// Restart after a non-zero exit or a death by signal.
    OnFailure,
    /// Restart after any exit.
    Always,
}

/// `respawn = "on-failure"` or `respawn = { policy = .., max_restarts = .., backoff = .., max_backoff = .. }`.
#[derive(Debug)]
pub struct RawRespawn {
    /// The policy.
    pub policy: RawPolicy,
    /// Restarts allowed before giving up.
    pub max_restarts: Option<u32>,
    /// First delay before a restart; doubles each time.
    pub backoff: Option<Spanned<String>>,
    /// Upper bound of the delay.
    pub max_backoff: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRespawnTable {
    policy: RawPolicy,
    max_restarts: Option<u32>,
    backoff: Option<Spanned<String>>,
    max_backoff: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawRespawn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawRespawn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"never\", \"on-failure\", \"always\" or a table { policy = .. }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawRespawn, E> {
                let policy = RawPolicy::deserialize(de::value::StrDeserializer::<E>::new(s))?;
                Ok(RawRespawn {
                    policy,
                    max_restarts: None,
                    backoff: None,
                    max_backoff: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawRespawn, A::Error> {
                let t = RawRespawnTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawRespawn {
                    policy: t.policy,
                    max_restarts: t.max_restarts,
                    backoff: t.backoff,
                    max_backoff: t.max_backoff,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `ready = { delay = "500ms" }`, `{ log = ".." }` or `{ topic = "/imu" }`,
/// each with an optional `timeout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReady {
    /// Ready this long after the start.
    pub delay: Option<Spanned<String>>,
    /// Ready once a stdout line contains this.
    pub log: Option<Spanned<String>>,
    /// Ready once a live publisher has published on this topic.
    pub topic: Option<Spanned<String>>,
    /// With `topic`: the publisher's message type (default: the topic's
    /// declared type, or the node's `publishes` type).
    #[serde(rename = "type")]
    pub ty: Option<Spanned<String>>,
    /// Give up after this long.
    pub timeout: Option<Spanned<String>>,
}
