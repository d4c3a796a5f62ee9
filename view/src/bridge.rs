//! The axon thread: discovers topics, keeps the channel list, subscribes
//! to what clients watch and publishes what clients send.
//!
//! It never sleeps on a topic's wake word: it polls its subscribers (every
//! millisecond while something is subscribed, else it parks until the
//! WebSocket side wakes it or the next discovery), so a publisher never
//! makes a wake-up call for the viewer, and its subscribers are
//! best-effort with `max_held = 1`, so a publisher never waits for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axon::inspect::{self, InspectError, Liveness, TopicReport};
use axon::{Domain, Qos, RawPublisher, RawSubscriber, TopicName, TypeDesc};
use axon_ros2::View;
use tokio_tungstenite::tungstenite::Bytes;

use crate::hub::{Hub, Inbound};
use crate::protocol::{self, ClientChannel, Level, ServerChannel};
use crate::ViewOptions;

/// How often the domain is scanned for topics that appeared or left.
pub const DISCOVER: Duration = Duration::from_millis(200);
/// How often subscribed topics are polled when the last poll found nothing.
const POLL: Duration = Duration::from_millis(1);
/// Most samples taken from one topic per poll (the others get their turn).
const BURST: usize = 64;
/// Most channels a client may advertise for publishing.
pub const MAX_CLIENT_CHANNELS: usize = 64;
/// Node name the bridge's participants carry.
const NODE: &str = "axon-view";

struct Known {
    chan: u32,
    fingerprint: u64,
    view: Arc<View>,
    sub: Option<RawSubscriber>,
    next_send: Instant,
    /// Whether the first sample that could not be encoded was reported.
    said_unencodable: bool,
}

struct ClientPub {
    topic: String,
    view: View,
    publisher: RawPublisher,
    failures: u64,
}

/// Runs until `stop` is set.
pub fn run(domain: Domain, opts: ViewOptions, hub: Arc<Hub>, stop: Arc<AtomicBool>) {
    let me = std::process::id();
    let offset = realtime_ns().wrapping_sub(monotonic_ns());
    let mut known: HashMap<TopicName, Known> = HashMap::new();
    let mut said_no_view: HashMap<TopicName, u64> = HashMap::new();
    let mut pubs: HashMap<(u64, u32), ClientPub> = HashMap::new();
    let mut next_chan: u32 = 1;
    let mut next_discovery = Instant::now();
    let mut subs_seen = u64::MAX;
    // chan -> (outbox, subscription id) of every client subscribed to it.
    let mut routes: HashMap<u32, Vec<(Arc<crate::hub::Outbox>, u32)>> = HashMap::new();
    let ros_types = ros_types();
    let interval = opts
        .max_rate
        .map(|hz| Duration::from_secs_f64(1.0 / hz))
        .unwrap_or(Duration::ZERO);
    let mut cdr = Vec::new();
    let mut buf = Vec::new();

    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next_discovery {
            next_discovery = Instant::now() + DISCOVER;
            discover(
                &domain,
                &opts,
                &hub,
                me,
                &pubs,
                &mut known,
                &mut said_no_view,
                &mut next_chan,
            );
            subs_seen = u64::MAX; // channels may have gone: recompute routes
        }

        // Client requests.
        loop {
            let Some(req) = hub.lock().pop_inbound() else {
                break;
            };
            handle_inbound(&domain, &hub, &ros_types, &mut pubs, req, &mut buf);
        }

        // Subscriptions: follow what the clients watch.
        let generation = hub.lock().subs_generation;
        if generation != subs_seen {
            subs_seen = generation;
            routes.clear();
            {
                let st = hub.lock();
                for c in st.clients.values() {
                    for (&sub_id, &chan) in &c.subs {
                        routes
                            .entry(chan)
                            .or_default()
                            .push((c.out.clone(), sub_id));
                    }
                }
            }
            for (name, k) in known.iter_mut() {
                let wanted = routes.contains_key(&k.chan);
                if wanted && k.sub.is_none() {
                    let qos = Qos {
                        durability: axon::qos::Durability::TransientLocal,
                        max_held: 1,
                        max_loans: 1,
                        ..Qos::default()
                    };
                    match RawSubscriber::create(&domain, name.clone(), None, &qos, NODE) {
                        Ok(s) => k.sub = Some(s),
                        Err(e) => eprintln!("axon view: cannot subscribe to {name}: {e}"),
                    }
                } else if !wanted && k.sub.is_some() {
                    k.sub = None;
                }
            }
        }

        // Samples to the clients.
        let mut got = false;
        for k in known.values_mut() {
            let Some(sub) = &k.sub else { continue };
            let Some(route) = routes.get(&k.chan) else {
                continue;
            };
            for _ in 0..BURST {
                let sample = if interval.is_zero() {
                    sub.try_recv()
                } else {
                    sub.latest()
                };
                let sample = match sample {
                    Ok(Some(s)) => s,
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("axon view: receiving on {}: {e}", sub.topic());
                        break;
                    }
                };
                got = true;
                let now = Instant::now();
                if !interval.is_zero() {
                    if now < k.next_send {
                        break;
                    }
                    k.next_send = (k.next_send + interval).max(now);
                }
                let stamp = sample.info().sent_ns.wrapping_add(offset);
                cdr.clear();
                if let Err(e) = k.view.encode(sample.bytes(), &mut cdr) {
                    if !k.said_unencodable {
                        eprintln!(
                            "axon view: {}: a sample cannot be encoded as CDR ({e}); such samples are not sent",
                            sub.topic()
                        );
                        k.said_unencodable = true;
                    }
                    continue;
                }
                drop(sample);
                for (out, sub_id) in route {
                    let mut frame = Vec::with_capacity(13 + cdr.len());
                    frame.extend_from_slice(&protocol::message_header(*sub_id, stamp));
                    frame.extend_from_slice(&cdr);
                    out.data(Bytes::from(frame));
                }
                if !interval.is_zero() {
                    break;
                }
            }
        }
        if !got {
            if routes.is_empty() {
                let wait = next_discovery.saturating_duration_since(Instant::now());
                std::thread::park_timeout(wait.min(DISCOVER));
            } else {
                std::thread::park_timeout(POLL);
            }
        }
    }
}

/// Whether a live participant other than the bridge's own (this process,
/// node [`NODE`]) takes part in the topic.
fn others_alive(r: &TopicReport, me: u32) -> bool {
    let other = |alive: bool, pid: u32, node: &str| alive && (pid != me || node != NODE);
    r.publishers
        .iter()
        .any(|p| other(p.liveness == Liveness::Alive, p.pid, &p.node))
        || r.subscribers
            .iter()
            .any(|s| other(s.liveness == Liveness::Alive, s.pid, &s.node))
}

/// The live publishers' and subscribers' ids of a topic, the bridge's own
/// left out: the node name, or `pid N` for a participant without one
/// (each listed once, sorted).
fn participants(r: &TopicReport, me: u32) -> (Vec<String>, Vec<String>) {
    let id = |pid: u32, node: &str| {
        if node.is_empty() {
            format!("pid {pid}")
        } else {
            node.to_string()
        }
    };
    let own = |pid: u32, node: &str| pid == me && node == NODE;
    let pubs: std::collections::BTreeSet<String> = r
        .publishers
        .iter()
        .filter(|p| p.liveness == Liveness::Alive && !own(p.pid, &p.node))
        .map(|p| id(p.pid, &p.node))
        .collect();
    let subs: std::collections::BTreeSet<String> = r
        .subscribers
        .iter()
        .filter(|s| s.liveness == Liveness::Alive && !own(s.pid, &s.node))
        .map(|s| id(s.pid, &s.node))
        .collect();
    (pubs.into_iter().collect(), subs.into_iter().collect())
}

#[allow(clippy::too_many_arguments)]
fn discover(
    domain: &Domain,
    opts: &ViewOptions,
    hub: &Hub,
    me: u32,
    pubs: &HashMap<(u64, u32), ClientPub>,
    known: &mut HashMap<TopicName, Known>,
    said_no_view: &mut HashMap<TopicName, u64>,
    next_chan: &mut u32,
) {
    let list = match inspect::topics(domain) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "axon view: cannot list the topics of domain {}: {e}",
                domain.name()
            );
            return;
        }
    };
    let mut present: HashMap<TopicName, TopicReport> = HashMap::new();
    let mut graph = protocol::Graph::new();
    for (name, report) in list {
        let Ok(report) = report else { continue };
        if let Some(allow) = &opts.topics {
            if !allow.iter().any(|t| t == name.as_str()) {
                continue;
            }
        }
        let (pubs_of, subs_of) = participants(&report, me);
        if !pubs_of.is_empty() || !subs_of.is_empty() {
            graph.insert(name.to_string(), (pubs_of, subs_of));
        }
        let ours = pubs.values().any(|p| p.topic == name.as_str());
        if others_alive(&report, me) || ours {
            present.insert(name, report);
        }
    }
    let mut added = Vec::new();
    let mut removed = Vec::new();
    known.retain(|name, k| {
        let keep = present
            .get(name)
            .is_some_and(|r| r.config.fingerprint == k.fingerprint);
        if !keep {
            removed.push(k.chan);
        }
        keep
    });
    for (name, report) in present {
        if known.contains_key(&name) {
            continue;
        }
        let view = report.description.as_deref().map(View::new);
        let view = match view {
            Some(Ok(v)) => v,
            other => {
                if said_no_view.get(&name) != Some(&report.config.fingerprint) {
                    let why = match other {
                        Some(Err(e)) => e.to_string(),
                        _ => "its segment carries no type description".to_string(),
                    };
                    eprintln!(
                        "axon view: {name} ({}) is not shown: no ROS 2 view ({why})",
                        report.config.type_name()
                    );
                    said_no_view.insert(name.clone(), report.config.fingerprint);
                }
                continue;
            }
        };
        let chan = *next_chan;
        *next_chan = next_chan.wrapping_add(1).max(1);
        added.push(ServerChannel {
            id: chan,
            topic: name.to_string(),
            schema_name: view.type_name().to_string(),
            schema: view.msg_text(),
        });
        known.insert(
            name,
            Known {
                chan,
                fingerprint: report.config.fingerprint,
                view: Arc::new(view),
                sub: None,
                next_send: Instant::now(),
                said_unencodable: false,
            },
        );
    }
    let mut st = hub.lock();
    if graph != st.graph {
        let update = protocol::connection_graph(&graph, &st.graph);
        for c in st.clients.values().filter(|c| c.graph) {
            c.out.control(update.clone());
        }
        st.graph = graph;
    }
    if added.is_empty() && removed.is_empty() {
        return;
    }
    if !removed.is_empty() {
        for id in &removed {
            st.channels.remove(id);
        }
        for c in st.clients.values_mut() {
            c.subs.retain(|_, chan| !removed.contains(chan));
        }
        st.subs_generation += 1;
        st.broadcast(&protocol::unadvertise(&removed));
    }
    if !added.is_empty() {
        for c in &added {
            st.channels.insert(c.id, c.clone());
        }
        st.broadcast(&protocol::advertise(&added));
    }
}

/// ROS 2 type name -> the axon type of the standard messages.
fn ros_types() -> HashMap<String, TypeDesc> {
    let mut map = HashMap::new();
    for info in axon_msgs::registry::all() {
        let description = info.description();
        let Ok(view) = View::new(&description) else {
            continue;
        };
        let (fixed_size, elem_size) = match info.layout {
            axon_msgs::registry::TypeLayout::Sized { size } => (size as u64, 0),
            axon_msgs::registry::TypeLayout::Slice {
                header_size,
                element_size,
            } => (header_size as u64, element_size as u64),
        };
        map.entry(view.type_name().to_string())
            .or_insert_with(|| TypeDesc {
                name: info.type_name.to_string(),
                fingerprint: info.fingerprint,
                fixed_size,
                elem_size,
                description: Some(description),
            });
    }
    map
}

fn status_to(hub: &Hub, client: u64, level: Level, msg: &str) {
    if let Some(c) = hub.lock().clients.get(&client) {
        c.out.control(protocol::status(level, msg));
    }
}

fn handle_inbound(
    domain: &Domain,
    hub: &Hub,
    ros_types: &HashMap<String, TypeDesc>,
    pubs: &mut HashMap<(u64, u32), ClientPub>,
    req: Inbound,
    buf: &mut Vec<u8>,
) {
    match req {
        Inbound::Advertise { client, chan } => match client_publisher(domain, ros_types, &chan) {
            Ok(p) => {
                pubs.insert((client, chan.id), p);
            }
            Err(why) => status_to(
                hub,
                client,
                Level::Error,
                &format!("cannot publish on {}: {why}", chan.topic),
            ),
        },
        Inbound::Unadvertise { client, id } => {
            pubs.remove(&(client, id));
        }
        Inbound::Gone { client } => pubs.retain(|(c, _), _| *c != client),
        Inbound::Publish {
            client,
            channel,
            payload,
        } => {
            // A channel refused at advertise time has no publisher: the
            // client was told then.
            let Some(p) = pubs.get_mut(&(client, channel)) else {
                return;
            };
            if let Err(why) = publish(p, &payload, buf) {
                p.failures += 1;
                status_to(
                    hub,
                    client,
                    Level::Error,
                    &format!(
                        "{}: message not published ({why}); {} refused so far",
                        p.topic, p.failures
                    ),
                );
            }
        }
    }
}

fn client_publisher(
    domain: &Domain,
    ros_types: &HashMap<String, TypeDesc>,
    chan: &ClientChannel,
) -> Result<ClientPub, String> {
    if chan.encoding != "cdr" {
        return Err(format!(
            "encoding {:?} is not supported (only cdr)",
            chan.encoding
        ));
    }
    let name = TopicName::new(&chan.topic).map_err(|e| e.to_string())?;
    let (desc, max_elems) = match inspect::topic(domain, &name) {
        Ok(r) => {
            let Some(d) = r.description.as_deref() else {
                return Err(format!(
                    "the topic's type {} carries no description",
                    r.config.type_name()
                ));
            };
            let view = View::new(d).map_err(|e| format!("{}: {e}", r.config.type_name()))?;
            if view.type_name() != chan.schema_name {
                return Err(format!(
                    "the topic carries {} ({}), not {}",
                    view.type_name(),
                    r.config.type_name(),
                    chan.schema_name
                ));
            }
            let c = &r.config;
            (
                TypeDesc {
                    name: c.type_name(),
                    fingerprint: c.fingerprint,
                    fixed_size: c.fixed_size,
                    elem_size: c.elem_size,
                    description: Some(d.clone()),
                },
                (c.elem_size > 0).then_some(c.max_elems as usize),
            )
        }
        Err(InspectError::NoSuchTopic { .. }) => match ros_types.get(&chan.schema_name) {
            Some(d) => (d.clone(), None),
            None => {
                return Err(format!(
                    "axon knows no type {:?} and the topic does not exist",
                    chan.schema_name
                ))
            }
        },
        Err(e) => return Err(e.to_string()),
    };
    let view =
        View::new(desc.description.as_ref().expect("set above")).map_err(|e| e.to_string())?;
    let qos = Qos {
        max_len: max_elems,
        ..Qos::default()
    };
    let publisher =
        RawPublisher::create(domain, name, &desc, &qos, NODE).map_err(|e| e.to_string())?;
    Ok(ClientPub {
        topic: chan.topic.clone(),
        view,
        publisher,
        failures: 0,
    })
}

fn publish(p: &ClientPub, cdr: &[u8], buf: &mut Vec<u8>) -> Result<(), String> {
    let elems = axon_ros2::cdr::decode_into(&p.view, cdr, buf)
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    let mut loan = p
        .publisher
        .loan_slot(elems)
        .map_err(|e| format!("cannot loan a slot for {elems} elements: {e}"))?;
    let dst = loan.bytes_mut();
    // A decoded slice message may end in alignment padding the slot lacks.
    if buf.len() > dst.len() && buf[dst.len()..].iter().any(|b| *b != 0) {
        return Err(format!(
            "{} bytes do not fit the topic's slot of {} bytes",
            buf.len(),
            dst.len()
        ));
    }
    let n = dst.len().min(buf.len());
    dst[..n].copy_from_slice(&buf[..n]);
    dst[n..].fill(0);
    loan.send();
    Ok(())
}

pub(crate) fn monotonic_ns() -> u64 {
    clock_ns(nix::time::ClockId::CLOCK_MONOTONIC)
}

pub(crate) fn realtime_ns() -> u64 {
    clock_ns(nix::time::ClockId::CLOCK_REALTIME)
}

fn clock_ns(id: nix::time::ClockId) -> u64 {
    nix::time::clock_gettime(id).map_or(0, |t| {
        (t.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_nsec() as u64)
    })
}
