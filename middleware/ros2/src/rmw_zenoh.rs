//! The names and bytes of ROS 2's Zenoh middleware, `rmw_zenoh_cpp`: data
//! key expressions, the per-sample attachment and the liveliness tokens of
//! the ROS graph. Pure functions (no Zenoh, no I/O): the gateway
//! (`axon-zenoh`, ROS 2 mode) uses them, and the attachment decoder is
//! fuzzed (`fuzzing::rmw_attachment`).
//!
//! Followed: `rmw_zenoh_cpp` 0.6 and later (ROS 2 Jazzy, Kilted, Rolling;
//! the attachment layout is the one of its 0.6.0 change "Change
//! serialization format in attachment_helpers.cpp (#601)"), from
//! github.com/ros2/rmw_zenoh:
//! - `docs/design.md`, "Topic and Service name mapping to Zenoh key
//!   expressions", "Graph Cache" and "Publishers" (the attachment's bytes);
//! - `rmw_zenoh_cpp/src/detail/liveliness_utils.cpp` (commit 3411fde:
//!   `TopicInfo`, `Entity::Entity`, `qos_to_keyexpr`, `mangle_name`, the GID
//!   as XXH3-128 of the token);
//! - `rmw_zenoh_cpp/src/detail/attachment_helpers.cpp` (commit 534747d:
//!   `serialize_to_zbytes` with zenoh's serializer);
//! - `rmw_zenoh_cpp/src/detail/rmw_publisher_data.cpp` (commit 3e19ec7:
//!   the sequence number starts at 1, the timestamp is the system clock);
//! - `rmw_zenoh_cpp/src/detail/qos.cpp` (commit 7efeee2: the default QoS the
//!   token's QoS part leaves out).
//!
//! **Data key**: `<domain id>/<topic without its leading slash>/<DDS type
//! name>/<type hash>`, e.g.
//! `0/chatter/std_msgs::msg::dds_::String_/RIHS01_df66...1a18`.
//!
//! **Attachment** (33 bytes): sequence number (i64 little-endian, from 1
//! per publisher), source timestamp (i64 little-endian, ns since the UNIX
//! epoch), one byte 16 (the GID's length, zenoh's LEB128 sequence length),
//! the 16-byte publisher GID.
//!
//! **Liveliness tokens**: a node
//! `@ros2_lv/<domain>/<zid>/<nid>/<nid>/NN/<enclave>/<namespace>/<node>`,
//! a publisher (`MP`) or subscription (`MS`)
//! `@ros2_lv/<domain>/<zid>/<nid>/<id>/<MP|MS>/<enclave>/<namespace>/<node>/<topic>/<DDS type>/<hash>/<qos>`,
//! where enclave, namespace and topic are *mangled* (every `/` is `%`: the
//! root namespace is `%`, `/chatter` is `%chatter`) and `<qos>` is
//! `qos_to_keyexpr`'s compact form (values equal to rmw_zenoh's default
//! left empty). The entity's GID is XXH3-128 of its token, the low 64 bits
//! then the high 64 bits, each little-endian (the gateway computes it).

use std::fmt::Write as _;

/// The GID's length (`RMW_GID_STORAGE_SIZE` since Jazzy).
pub const GID_LEN: usize = 16;
/// The attachment's length.
pub const ATTACHMENT_LEN: usize = 8 + 8 + 1 + GID_LEN;
/// The liveliness tokens' admin space.
pub const ADMIN_SPACE: &str = "@ros2_lv";
/// The type hash prefix (REP-2016, version 1).
pub const HASH_PREFIX: &str = "RIHS01_";
/// The infix of a DDS message type name (`pkg::msg::dds_::Type_`).
pub const DDS_INFIX: &str = "::msg::dds_::";
/// The token QoS of a reliable, volatile, keep-last publisher or
/// subscription with rmw_zenoh's default depth (every part default).
pub const QOS_RELIABLE: &str = "::,:,:,:,,";
/// The same, best effort (`RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT` = 2).
pub const QOS_BEST_EFFORT: &str = "2::,:,:,:,,";
/// Longest key this module parses (longer keys are not ROS 2 topics the
/// gateway takes).
pub const MAX_KEY: usize = 1024;

/// What travels beside every sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attachment {
    /// The publisher's sequence number (1, 2, ...).
    pub seq: i64,
    /// The publisher's send time, ns since the UNIX epoch.
    pub stamp_ns: i64,
    /// The publisher's GID.
    pub gid: [u8; GID_LEN],
}

impl Attachment {
    /// The 33 bytes.
    pub fn encode(&self) -> [u8; ATTACHMENT_LEN] {
        let mut b = [0u8; ATTACHMENT_LEN];
        b[..8].copy_from_slice(&self.seq.to_le_bytes());
        b[8..16].copy_from_slice(&self.stamp_ns.to_le_bytes());
        b[16] = GID_LEN as u8;
        b[17..].copy_from_slice(&self.gid);
        b
    }

    /// Decodes exactly 33 bytes whose GID length byte is 16.
    pub fn decode(b: &[u8]) -> Result<Attachment, String> {
        if b.len() != ATTACHMENT_LEN {
            return Err(format!(
                "an rmw_zenoh attachment of {} bytes, expected {ATTACHMENT_LEN}",
                b.len()
            ));
        }
        if b[16] as usize != GID_LEN {
            return Err(format!(
                "an rmw_zenoh attachment with a GID of {} bytes, expected {GID_LEN}",
                b[16]
            ));
        }
        let i64_at = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[o..o + 8]);
            i64::from_le_bytes(w)
        };
        let mut gid = [0u8; GID_LEN];
        gid.copy_from_slice(&b[17..]);
        Ok(Attachment {
            seq: i64_at(0),
            stamp_ns: i64_at(8),
            gid,
        })
    }
}

/// `/` -> `%` (`mangle_name`).
pub fn mangle(name: &str) -> String {
    name.replace('/', "%")
}

/// The data key of `topic` (absolute, `/a/b`).
pub fn data_key(domain: u32, topic: &str, dds_type: &str, hash: &str) -> String {
    format!(
        "{domain}/{}/{dds_type}/{hash}",
        topic.trim_start_matches('/')
    )
}

/// A data key taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKey {
    /// The topic, with its leading slash.
    pub topic: String,
    /// `pkg::msg::dds_::Type_`.
    pub dds_type: String,
    /// `RIHS01_` and 64 hex digits.
    pub hash: String,
}

/// Takes a data key of `domain` apart; `None` for anything else (another
/// domain, no type or hash chunk, a key longer than [`MAX_KEY`]).
pub fn parse_data_key(domain: u32, key: &str) -> Option<DataKey> {
    if key.len() > MAX_KEY {
        return None;
    }
    let mut prefix = String::with_capacity(12);
    let _ = write!(prefix, "{domain}/");
    let rest = key.strip_prefix(prefix.as_str())?;
    let (rest, hash) = rest.rsplit_once('/')?;
    let (topic, dds_type) = rest.rsplit_once('/')?;
    let hex = hash.strip_prefix(HASH_PREFIX)?;
    if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    if topic.is_empty() || ros_type_of(dds_type).is_none() {
        return None;
    }
    Some(DataKey {
        topic: format!("/{topic}"),
        dds_type: dds_type.to_owned(),
        hash: hash.to_owned(),
    })
}

/// `pkg::msg::dds_::Type_` -> `pkg/msg/Type`, if it has that form.
pub fn ros_type_of(dds_type: &str) -> Option<String> {
    let (pkg, ty) = dds_type.split_once(DDS_INFIX)?;
    let ty = ty.strip_suffix('_')?;
    if pkg.is_empty() || ty.is_empty() || pkg.contains(':') || ty.contains(':') {
        return None;
    }
    Some(format!("{pkg}/msg/{ty}"))
}

/// A node's token (enclave and namespace `/`).
pub fn node_token(domain: u32, zid: &str, nid: u32, node: &str) -> String {
    format!("{ADMIN_SPACE}/{domain}/{zid}/{nid}/{nid}/NN/%/%/{node}")
}

/// The kind of a topic entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `MP`, a message publisher.
    Publisher,
    /// `MS`, a message subscription.
    Subscription,
}

/// A publisher's or subscription's token (enclave and namespace `/`).
#[allow(clippy::too_many_arguments)] // the token's own parts
pub fn entity_token(
    domain: u32,
    zid: &str,
    nid: u32,
    id: u32,
    kind: Kind,
    node: &str,
    topic: &str,
    dds_type: &str,
    hash: &str,
    reliable: bool,
) -> String {
    let kind = match kind {
        Kind::Publisher => "MP",
        Kind::Subscription => "MS",
    };
    let qos = if reliable {
        QOS_RELIABLE
    } else {
        QOS_BEST_EFFORT
    };
    format!(
        "{ADMIN_SPACE}/{domain}/{zid}/{nid}/{id}/{kind}/%/%/{node}/{}/{}/{}/{qos}",
        mangle(topic),
        mangle(dds_type),
        mangle(hash)
    )
}

/// A ROS 2 node name from any text: ASCII letters, digits and `_` kept,
/// every other character `_`, `_` put before a leading digit.
pub fn node_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18";

    #[test]
    fn the_design_md_examples() {
        // docs/design.md, "Topic and Service name mapping".
        assert_eq!(
            data_key(0, "/robot1/chatter", "std_msgs::msg::dds_::String_", HASH),
            format!("0/robot1/chatter/std_msgs::msg::dds_::String_/{HASH}")
        );
        let k = parse_data_key(
            0,
            &format!("0/robot1/chatter/std_msgs::msg::dds_::String_/{HASH}"),
        )
        .unwrap();
        assert_eq!(k.topic, "/robot1/chatter");
        assert_eq!(ros_type_of(&k.dds_type).unwrap(), "std_msgs/msg/String");
        assert_eq!(
            parse_data_key(1, &data_key(0, "/a", "p::msg::dds_::T_", HASH)),
            None
        );
        assert_eq!(parse_data_key(0, "0/a/p::msg::dds_::T_/RIHS01_00"), None);
        assert_eq!(
            parse_data_key(0, &format!("0/p::msg::dds_::T_/{HASH}")),
            None
        );
        // "Graph Cache" examples (a talker's publisher with depth 7 there;
        // the default depth here).
        assert_eq!(
            node_token(2, "aac3178e146ba6f1fc6e6a4085e77f21", 0, "listener"),
            "@ros2_lv/2/aac3178e146ba6f1fc6e6a4085e77f21/0/0/NN/%/%/listener"
        );
        assert_eq!(
            entity_token(
                2,
                "8b20917502ee955ac4476e0266340d5c",
                0,
                10,
                Kind::Publisher,
                "talker",
                "/chatter",
                "std_msgs::msg::dds_::String_",
                HASH,
                true
            ),
            format!(
                "@ros2_lv/2/8b20917502ee955ac4476e0266340d5c/0/10/MP/%/%/talker/%chatter/\
                 std_msgs::msg::dds_::String_/{HASH}/::,:,:,:,,"
            )
        );
        assert_eq!(node_name("gw-1.a"), "gw_1_a");
        assert_eq!(node_name("1x"), "_1x");
    }

    #[test]
    fn attachment_round_trip_and_refusals() {
        let a = Attachment {
            seq: 1,
            stamp_ns: 1_700_000_000_000_000_000,
            gid: [7; GID_LEN],
        };
        let b = a.encode();
        assert_eq!(b[16], 16);
        assert_eq!(Attachment::decode(&b).unwrap(), a);
        assert!(Attachment::decode(&b[..32]).is_err());
        let mut long = b.to_vec();
        long.push(0);
        assert!(Attachment::decode(&long).is_err());
        let mut bad = b;
        bad[16] = 24;
        assert!(Attachment::decode(&bad).is_err());
    }
}
