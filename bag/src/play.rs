//! `axon bag play`: a file's messages back onto their topics.
//!
//! The file is streamed once per pass (the reader `info` uses). Each
//! channel becomes a `RawPublisher` of the exact axon type its metadata
//! names (type name, fingerprint, sizes and the description, which must
//! decode, name the type and recompute to the fingerprint); a topic that
//! exists with another type is refused, naming both. A message is decoded
//! from CDR through the type's ROS 2 view (a raw channel's bytes are taken
//! as they are) and copied into a loaned slot. Timing follows `log_time`:
//! a message goes out `(log_time - first log_time) / rate` after the pass
//! started, and the wait returns early on SIGINT/SIGTERM.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use axon::inspect::{self, InspectError};
use axon::{Description, Domain, Qos, RawPublisher, TopicName, TypeDesc};
use mcap::records::Record;

use crate::info::{stream, Flow, Seen};
use crate::{keys, BagError};

/// Node name the player's publishers carry.
const NODE: &str = "axon-bag";

/// How to play.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// Speed factor (2.0 = twice as fast); finite and above 0.
    pub rate: f64,
    /// Start again at the end, until stopped.
    pub looped: bool,
    /// Only these topics (as recorded), if given.
    pub topics: Option<Vec<String>>,
    /// `(from, to)`: publish the recorded topic `from` on `to`.
    pub remaps: Vec<(String, String)>,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            rate: 1.0,
            looped: false,
            topics: None,
            remaps: Vec::new(),
        }
    }
}

/// What playing did.
#[derive(Debug, Clone, Default)]
pub struct PlayReport {
    /// Messages published, per topic published on.
    pub published: Vec<(String, u64)>,
    /// Why the file's reading stopped before its end (a truncated file).
    pub error: Option<String>,
}

struct Player {
    topic: String,
    publisher: RawPublisher,
    view: Option<axon_ros2::View>,
    fixed_size: u64,
    elem_size: u64,
    published: u64,
}

/// What a channel's metadata says its axon type is.
fn type_of(path: &Path, c: &mcap::records::Channel) -> Result<TypeDesc, BagError> {
    let bad = |what: String| BagError::Channel {
        path: path.to_path_buf(),
        topic: c.topic.clone(),
        what,
    };
    let get = |k: &str| {
        c.metadata.get(k).ok_or_else(|| {
            bad(format!(
                "no {k} in its channel metadata (not recorded by axon)"
            ))
        })
    };
    let num = |k: &str| -> Result<u64, BagError> {
        get(k)?
            .parse::<u64>()
            .map_err(|_| bad(format!("{k} is not a number")))
    };
    let name = get(keys::TYPE)?.clone();
    let fingerprint = u64::from_str_radix(get(keys::FINGERPRINT)?, 16)
        .map_err(|_| bad(format!("{} is not 16 hex digits", keys::FINGERPRINT)))?;
    let description = match c.metadata.get(keys::DESCRIPTION) {
        None => None,
        Some(h) => {
            let bytes =
                crate::unhex(h).ok_or_else(|| bad(format!("{} is not hex", keys::DESCRIPTION)))?;
            let d = Description::decode(&bytes).map_err(|e| bad(e.to_string()))?;
            if d.type_name() != name || d.fingerprint() != fingerprint {
                return Err(bad(format!(
                    "its type description is of {} ({:016x}), not {name} ({fingerprint:016x})",
                    d.type_name(),
                    d.fingerprint()
                )));
            }
            Some(d)
        }
    };
    Ok(TypeDesc {
        name,
        fingerprint,
        fixed_size: num(keys::FIXED_SIZE)?,
        elem_size: num(keys::ELEM_SIZE)?,
        description,
    })
}

/// Plays `path` into `domain`.
pub fn play(domain: &Domain, path: &Path, opts: &PlayOptions) -> Result<PlayReport, BagError> {
    if !(opts.rate.is_finite() && opts.rate > 0.0) {
        return Err(BagError::Domain {
            what: format!("--rate {}: give a factor above 0", opts.rate),
        });
    }
    let remap: HashMap<&str, &str> = opts
        .remaps
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    // Publishers by topic published on, kept across passes.
    let mut players: Vec<Player> = Vec::new();
    let mut report = PlayReport::default();
    loop {
        let pass = play_pass(domain, path, opts, &remap, &mut players)?;
        report.error = pass;
        if !opts.looped || report.error.is_some() || axon::shutdown_requested() {
            break;
        }
    }
    report.published = players
        .iter()
        .map(|p| (p.topic.clone(), p.published))
        .collect();
    Ok(report)
}

fn play_pass(
    domain: &Domain,
    path: &Path,
    opts: &PlayOptions,
    remap: &HashMap<&str, &str>,
    players: &mut Vec<Player>,
) -> Result<Option<String>, BagError> {
    // mcap channel id -> index in players (None: not played)
    let mut channels: HashMap<u16, Option<usize>> = HashMap::new();
    let mut first: Option<(u64, Instant)> = None;
    let mut buf = Vec::new();
    let end = stream(path, &mut |seen| {
        if axon::shutdown_requested() {
            return Ok(Flow::Stop);
        }
        match seen {
            Seen::Record(Record::Channel(c)) => {
                if channels.contains_key(&c.id) {
                    return Ok(Flow::Continue);
                }
                let wanted = opts.topics.as_ref().is_none_or(|t| t.contains(&c.topic));
                if !wanted {
                    channels.insert(c.id, None);
                    return Ok(Flow::Continue);
                }
                let target = remap.get(c.topic.as_str()).copied().unwrap_or(&c.topic);
                if let Some(i) = players.iter().position(|p| p.topic == target) {
                    channels.insert(c.id, Some(i));
                    return Ok(Flow::Continue);
                }
                let p = player(domain, path, &c, target)?;
                channels.insert(c.id, Some(players.len()));
                players.push(p);
            }
            Seen::Record(Record::Message { header, data }) => {
                let Some(Some(i)) = channels.get(&header.channel_id).copied() else {
                    return Ok(Flow::Continue);
                };
                let (t0, s0) = *first.get_or_insert((header.log_time, Instant::now()));
                let due = s0
                    + Duration::from_secs_f64(
                        header.log_time.saturating_sub(t0) as f64 / 1e9 / opts.rate,
                    );
                loop {
                    if axon::shutdown_requested() {
                        return Ok(Flow::Stop);
                    }
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    std::thread::sleep((due - now).min(Duration::from_millis(50)));
                }
                let p = &mut players[i];
                publish(p, path, &data, &mut buf)?;
            }
            _ => {}
        }
        Ok(Flow::Continue)
    })?;
    Ok(end.error)
}

fn player(
    domain: &Domain,
    path: &Path,
    c: &mcap::records::Channel,
    target: &str,
) -> Result<Player, BagError> {
    let bad = |what: String| BagError::Channel {
        path: path.to_path_buf(),
        topic: c.topic.clone(),
        what,
    };
    let desc = type_of(path, c)?;
    let view = match c.message_encoding.as_str() {
        crate::CDR_ENCODING => {
            let d = desc
                .description
                .as_ref()
                .ok_or_else(|| bad("a cdr channel without a type description".into()))?;
            Some(axon_ros2::View::new(d).map_err(|e| bad(e.to_string()))?)
        }
        crate::RAW_ENCODING => None,
        other => {
            return Err(bad(format!(
                "message encoding {other:?} is not cdr or axon-raw"
            )))
        }
    };
    let name = TopicName::new(target).map_err(|e| bad(format!("{target}: {e}")))?;
    match inspect::topic(domain, &name) {
        Ok(r) => {
            let c2 = &r.config;
            if c2.type_name() != desc.name || c2.fingerprint != desc.fingerprint {
                return Err(bad(format!(
                    "topic {name} exists with type {} ({:016x}); the file has {} ({:016x})",
                    c2.type_name(),
                    c2.fingerprint,
                    desc.name,
                    desc.fingerprint
                )));
            }
        }
        Err(InspectError::NoSuchTopic { .. }) => {}
        Err(e) => return Err(bad(format!("cannot read topic {name}: {e}"))),
    }
    let max_elems = c
        .metadata
        .get(keys::MAX_ELEMS)
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0);
    let qos = Qos {
        max_len: if desc.elem_size > 0 { max_elems } else { None },
        ..Qos::default()
    };
    let (fixed_size, elem_size) = (desc.fixed_size, desc.elem_size);
    let publisher = RawPublisher::create(domain, name.clone(), &desc, &qos, NODE)
        .map_err(|e| bad(format!("cannot publish on {name}: {e}")))?;
    Ok(Player {
        topic: target.to_string(),
        publisher,
        view,
        fixed_size,
        elem_size,
        published: 0,
    })
}

fn publish(p: &mut Player, path: &Path, data: &[u8], buf: &mut Vec<u8>) -> Result<(), BagError> {
    let bad = |what: String| BagError::Channel {
        path: path.to_path_buf(),
        topic: p.topic.clone(),
        what,
    };
    let (bytes, elems): (&[u8], usize) = match &p.view {
        Some(v) => {
            let n = axon_ros2::cdr::decode_into(v, data, buf).map_err(|e| bad(e.to_string()))?;
            (&buf[..], n.unwrap_or(0))
        }
        None => {
            let elems = (data.len() as u64)
                .saturating_sub(p.fixed_size)
                .checked_div(p.elem_size)
                .unwrap_or(0);
            (data, elems as usize)
        }
    };
    let mut loan = p
        .publisher
        .loan_slot(elems)
        .map_err(|e| bad(format!("cannot loan a slot for {elems} elements: {e}")))?;
    let dst = loan.bytes_mut();
    // A decoded slice message may end in alignment padding the slot lacks.
    if bytes.len() > dst.len() && bytes[dst.len()..].iter().any(|b| *b != 0) {
        return Err(bad(format!(
            "a message of {} bytes does not fit the topic's slot of {} bytes",
            bytes.len(),
            dst.len()
        )));
    }
    let n = dst.len().min(bytes.len());
    dst[..n].copy_from_slice(&bytes[..n]);
    dst[n..].fill(0);
    loan.send();
    p.published += 1;
    Ok(())
}
