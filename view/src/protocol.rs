//! The `foxglove.websocket.v1` messages this server speaks: client frames
//! parsed as hostile input, server frames built.
//!
//! Spec: <https://github.com/foxglove/ws-protocol/blob/main/docs/spec.md>.
//! Text frames are JSON objects with an `op`; binary frames start with a
//! one-byte opcode. A client frame that is not one of the messages below
//! (bad JSON, unknown `op`, a missing or mistyped field, a short binary
//! frame, an unknown opcode) is a [`FrameError`], and the server closes
//! that client with its text as the reason. Operations of capabilities this
//! server does not offer (parameters, services, assets, playback control)
//! are [`ClientMsg::Unsupported`]: answered with a status error, not a
//! close, since a viewer may try them.

use serde_json::{json, Map, Value};

/// The WebSocket subprotocol.
pub const SUBPROTOCOL: &str = "foxglove.websocket.v1";
/// Server binary opcode: message data.
pub const OP_MESSAGE_DATA: u8 = 0x01;
/// Server binary opcode: the server's time (`time` capability).
pub const OP_TIME: u8 = 0x02;
/// Client binary opcode: message data on a client channel.
pub const OP_CLIENT_MESSAGE_DATA: u8 = 0x01;
/// Most subscriptions (or advertisements, ids) one client frame may list.
pub const MAX_ITEMS: usize = 4096;
/// Longest topic, schema name or encoding a client may advertise.
pub const MAX_NAME: usize = 256;
/// Longest text (JSON) frame a client may send (1 MiB): the operations are
/// small, and a parsed JSON value can take several times its text.
pub const MAX_TEXT: usize = 1 << 20;

/// A client channel (`advertise` from a client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientChannel {
    pub id: u32,
    pub topic: String,
    pub encoding: String,
    pub schema_name: String,
}

/// A parsed client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    /// `(subscription id, channel id)` pairs.
    Subscribe(Vec<(u32, u32)>),
    Unsubscribe(Vec<u32>),
    Advertise(Vec<ClientChannel>),
    Unadvertise(Vec<u32>),
    /// Binary message data on a client channel.
    Publish {
        channel: u32,
        payload: Vec<u8>,
    },
    /// `subscribeConnectionGraph` (true) or `unsubscribeConnectionGraph`.
    ConnectionGraph(bool),
    /// A known operation of a capability this server does not offer.
    Unsupported(String),
}

/// Why a client frame is not a protocol message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FrameError(pub String);

fn bad(what: impl Into<String>) -> FrameError {
    FrameError(what.into())
}

/// Ops of the spec's other capabilities, refused with a status.
const OTHER_OPS: [&str; 7] = [
    "getParameters",
    "setParameters",
    "subscribeParameterUpdates",
    "unsubscribeParameterUpdates",
    "fetchAsset",
    "callService",
    "playbackControl",
];

/// Parses a text frame.
pub fn parse_text(text: &str) -> Result<ClientMsg, FrameError> {
    if text.len() > MAX_TEXT {
        return Err(bad(format!(
            "a text frame of {} bytes (at most {MAX_TEXT})",
            text.len()
        )));
    }
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    let op = obj
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no \"op\" string"))?;
    match op {
        "subscribe" => {
            let subs = array(obj, "subscriptions")?;
            let mut out = Vec::with_capacity(subs.len());
            for s in subs {
                let s = s
                    .as_object()
                    .ok_or_else(|| bad("subscribe: an entry is not an object"))?;
                out.push((u32_field(s, "id", op)?, u32_field(s, "channelId", op)?));
            }
            Ok(ClientMsg::Subscribe(out))
        }
        "unsubscribe" => Ok(ClientMsg::Unsubscribe(u32_array(obj, "subscriptionIds")?)),
        "advertise" => {
            let chans = array(obj, "channels")?;
            let mut out = Vec::with_capacity(chans.len());
            for c in chans {
                let c = c
                    .as_object()
                    .ok_or_else(|| bad("advertise: an entry is not an object"))?;
                out.push(ClientChannel {
                    id: u32_field(c, "id", op)?,
                    topic: str_field(c, "topic", op)?,
                    encoding: str_field(c, "encoding", op)?,
                    schema_name: str_field(c, "schemaName", op)?,
                });
            }
            Ok(ClientMsg::Advertise(out))
        }
        "unadvertise" => Ok(ClientMsg::Unadvertise(u32_array(obj, "channelIds")?)),
        "subscribeConnectionGraph" => Ok(ClientMsg::ConnectionGraph(true)),
        "unsubscribeConnectionGraph" => Ok(ClientMsg::ConnectionGraph(false)),
        other if OTHER_OPS.contains(&other) => Ok(ClientMsg::Unsupported(other.to_string())),
        other => Err(bad(format!(
            "unknown op {:?}",
            other.chars().take(64).collect::<String>()
        ))),
    }
}

/// Parses a binary frame.
pub fn parse_binary(data: &[u8]) -> Result<ClientMsg, FrameError> {
    match data.first() {
        None => Err(bad("empty binary frame")),
        Some(&OP_CLIENT_MESSAGE_DATA) => {
            let id = data
                .get(1..5)
                .ok_or_else(|| bad("binary message data shorter than its 5-byte header"))?;
            Ok(ClientMsg::Publish {
                channel: u32::from_le_bytes([id[0], id[1], id[2], id[3]]),
                payload: data[5..].to_vec(),
            })
        }
        Some(op) => Err(bad(format!("unknown binary opcode {op:#04x}"))),
    }
}

fn array<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Vec<Value>, FrameError> {
    let a = obj
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("no \"{key}\" array")))?;
    if a.len() > MAX_ITEMS {
        return Err(bad(format!(
            "\"{key}\" lists {} entries, at most {MAX_ITEMS}",
            a.len()
        )));
    }
    Ok(a)
}

fn u32_array(obj: &Map<String, Value>, key: &str) -> Result<Vec<u32>, FrameError> {
    array(obj, key)?
        .iter()
        .map(|v| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(format!("\"{key}\": an entry is not a u32")))
        })
        .collect()
}

fn u32_field(obj: &Map<String, Value>, key: &str, op: &str) -> Result<u32, FrameError> {
    obj.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad(format!("{op}: \"{key}\" is not a u32")))
}

fn str_field(obj: &Map<String, Value>, key: &str, op: &str) -> Result<String, FrameError> {
    let s = obj
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{op}: no \"{key}\" string")))?;
    if s.len() > MAX_NAME {
        return Err(bad(format!("{op}: \"{key}\" longer than {MAX_NAME} bytes")));
    }
    Ok(s.to_string())
}

/// A server channel as advertised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerChannel {
    pub id: u32,
    pub topic: String,
    pub schema_name: String,
    pub schema: String,
}

/// `serverInfo`.
pub fn server_info(name: &str, session: &str) -> String {
    json!({
        "op": "serverInfo",
        "name": name,
        "capabilities": ["clientPublish", "connectionGraph", "time"],
        "supportedEncodings": ["cdr"],
        "metadata": {},
        "sessionId": session,
    })
    .to_string()
}

/// `advertise` of `channels`.
pub fn advertise(channels: &[ServerChannel]) -> String {
    let list: Vec<Value> = channels
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "topic": c.topic,
                "encoding": "cdr",
                "schemaName": c.schema_name,
                "schema": c.schema,
                "schemaEncoding": "ros2msg",
            })
        })
        .collect();
    json!({"op": "advertise", "channels": list}).to_string()
}

/// `unadvertise` of `ids`.
pub fn unadvertise(ids: &[u32]) -> String {
    json!({"op": "unadvertise", "channelIds": ids}).to_string()
}

/// Status levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info = 0,
    Warning = 1,
    Error = 2,
}

/// `status`.
pub fn status(level: Level, message: &str) -> String {
    json!({"op": "status", "level": level as u8, "message": message}).to_string()
}

/// Who takes part in each topic: topic -> (publisher ids, subscriber ids),
/// an id being a node name (or `pid N` for a participant without one).
pub type Graph = std::collections::BTreeMap<String, (Vec<String>, Vec<String>)>;

/// `connectionGraphUpdate`: every topic of `now` (new or changed ones are
/// replaced whole by the client; sending unchanged ones again is
/// harmless) and the topics of `before` that are gone. No services are
/// listed (axon's services are not shown).
pub fn connection_graph(now: &Graph, before: &Graph) -> String {
    let published: Vec<Value> = now
        .iter()
        .filter(|(_, (p, _))| !p.is_empty())
        .map(|(t, (p, _))| json!({"name": t, "publisherIds": p}))
        .collect();
    let subscribed: Vec<Value> = now
        .iter()
        .filter(|(_, (_, s))| !s.is_empty())
        .map(|(t, (_, s))| json!({"name": t, "subscriberIds": s}))
        .collect();
    let removed: Vec<&String> = before.keys().filter(|t| !now.contains_key(*t)).collect();
    json!({
        "op": "connectionGraphUpdate",
        "publishedTopics": published,
        "subscribedTopics": subscribed,
        "advertisedServices": [],
        "removedTopics": removed,
        "removedServices": [],
    })
    .to_string()
}

/// A binary `time` frame.
pub fn time(time_ns: u64) -> [u8; 9] {
    let mut t = [0u8; 9];
    t[0] = OP_TIME;
    t[1..9].copy_from_slice(&time_ns.to_le_bytes());
    t
}

/// The header of a binary message-data frame; the payload follows it.
pub fn message_header(subscription: u32, time_ns: u64) -> [u8; 13] {
    let mut h = [0u8; 13];
    h[0] = OP_MESSAGE_DATA;
    h[1..5].copy_from_slice(&subscription.to_le_bytes());
    h[5..13].copy_from_slice(&time_ns.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_and_publish_parse() {
        assert_eq!(
            parse_text(r#"{"op":"subscribe","subscriptions":[{"id":3,"channelId":7}]}"#),
            Ok(ClientMsg::Subscribe(vec![(3, 7)]))
        );
        assert_eq!(
            parse_binary(&[1, 2, 0, 0, 0, 9]),
            Ok(ClientMsg::Publish {
                channel: 2,
                payload: vec![9]
            })
        );
    }

    #[test]
    fn malformed_frames_are_errors() {
        for t in [
            "",
            "[]",
            "{}",
            r#"{"op":"nope"}"#,
            r#"{"op":"subscribe","subscriptions":[{"id":-1,"channelId":1}]}"#,
            r#"{"op":"subscribe","subscriptions":[{"id":4294967296,"channelId":1}]}"#,
            r#"{"op":"unsubscribe","subscriptionIds":"x"}"#,
            r#"{"op":"advertise","channels":[{"id":1,"topic":"/a","encoding":"cdr"}]}"#,
        ] {
            assert!(parse_text(t).is_err(), "{t}");
        }
        for b in [&[][..], &[1, 0, 0], &[9, 0, 0, 0, 0]] {
            assert!(parse_binary(b).is_err(), "{b:?}");
        }
    }
}
