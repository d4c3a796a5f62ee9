//! Entry points for the fuzzers in `fuzz/` (not part of the API).
//!
//! [`segment_image`] treats its input as the bytes of a topic's segment file,
//! as a crashed, buggy or hostile process could have left it, and runs the
//! real code on it: the read-only inspection of the tools, joining as
//! subscribers (type-free as the CLI does, and typed), receiving (and
//! decoding each sample through the segment's type description as `axon
//! topic echo` does), taking a publisher lane over and sending. Whatever the bytes, every call must return
//! `Ok` or a clear error: a panic, a hang or an unbounded allocation is a bug
//! (the fuzzer reports it). Samples the fuzz publisher sends must reach the
//! fuzz subscribers intact: a wrong payload under one of its sequence numbers
//! is a bug too.
//!
//! Each input runs twice: once as a segment whose participants died (their
//! records are reaped, their lanes taken over), once with them alive (this
//! process holds their record locks, so their records stay in force).
//!
//! Bounds: the image is written once to a file of its own size (so the
//! segment can never be larger than the input, and no file is truncated while
//! mapped), at most [`MAX_RECEIVES`] receives and [`MAX_SENDS`] sends are made
//! per input, and the one blocking call waits at most [`WAIT`].
//!
//! The file lives in a private directory, `axon.fuzz.<pid>.<n>` under
//! `/dev/shm` (or the temporary directory when there is no `/dev/shm`),
//! removed again when the call returns or unwinds; domain `fuzz`, topic
//! `/fuzz` (the topic name inside the image is not checked against the path).
//! The seeds (`fuzz/corpus/segment_image`) are real segments made with the
//! public API from the two message types here; see `tests/fuzz_corpus.rs`.
//!
//! [`type_description`] treats its input as the type description a segment
//! carries (`desc::Description::decode`, as every open does) and, when it is
//! valid, reads samples of that type with the tools' JSON decoder
//! (`dynamic::decode`) and writes them back (`dynamic::encode`). Bounds: a
//! sample buffer of at most [`MAX_SAMPLE`] bytes. [`with_description`]
//! makes a segment image carry any description (tests use it to make
//! hostile segments).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::inspect::{self, Scope};
use crate::layout::{publisher_lock, subscriber_lock};
use crate::names::{Domain, TopicName};
use crate::publisher::{RawPublisher, TypeDesc};
use crate::qos::{Durability, Qos, Reliability};
use crate::subscriber::RawSubscriber;
use crate::sys::SegmentFile;
use crate::wake::WakeMechanism;
use crate::{Node, Schema};

pub use crate::queue::fuzz_image as queue_image;

/// Largest sample [`type_description`] decodes.
pub const MAX_SAMPLE: usize = 64 * 1024;

/// Decodes `data` as a type description; if it is valid, decodes a sample
/// of that type (its fixed size, or [`MAX_SAMPLE`] if smaller, plus a few
/// slice elements; bytes from the input, then a pattern) into JSON, encodes
/// the JSON back, and checks that decoding what was encoded gives the same
/// JSON. Never panics, hangs or allocates without bound on any input,
/// unless axon has a bug.
pub fn type_description(data: &[u8]) {
    let Ok(d) = crate::Description::decode(data) else {
        return;
    };
    // What tools do with a description besides samples.
    let _ = (d.type_name(), d.is_slice(), d.fingerprint());
    let _ = crate::dynamic::layout(&d);
    let _ = crate::dynamic::type_text(&d, &d.root);
    let fixed = d.size_of(&d.root).min(MAX_SAMPLE as u64) as usize;
    let (elem, elems) = match crate::dynamic::slice_shape(&d) {
        Some((_, size)) => (size.min(MAX_SAMPLE as u64) as usize, 3),
        None => (0, 0),
    };
    let len = (fixed + elem * elems).min(MAX_SAMPLE);
    let sample: Vec<u8> = (0..len)
        .map(|i| data.get(i).copied().unwrap_or((i * 37) as u8))
        .collect();
    let Ok(first) = crate::dynamic::decode(&d, &sample, elems, None) else {
        return;
    };
    let _ = crate::dynamic::decode(&d, &sample, elems, Some(1));
    // JSON back to bytes and again to JSON: the same values (padding and
    // bytes after a string's text aside, which the JSON does not carry).
    let Ok(bytes) = crate::dynamic::encode(&d, &first.value, MAX_SAMPLE) else {
        // Only a value JSON cannot carry exactly may fail: none does today
        // but a NaN's payload, which encodes fine. So this is a bug.
        panic!("a decoded sample does not encode back: {:?}", first.value);
    };
    let again = crate::dynamic::decode(&d, &bytes, elems, None)
        .unwrap_or_else(|e| panic!("an encoded sample does not decode: {e}"));
    // Fields that share bytes (a hostile description may say so; no
    // compiler lays a type out that way) read back what the last write
    // left, so only types without them must give the same values.
    if !overlaps(&d) {
        assert_eq!(
            again.value, first.value,
            "decode(encode(decode(x))) differs"
        );
    }
}

/// Whether two fields of a struct of `d` share bytes, or its trailing
/// slice starts inside its fixed part.
fn overlaps(d: &crate::Description) -> bool {
    let fixed = d.size_of(&d.root);
    if crate::dynamic::slice_shape(d).is_some_and(|(at, _)| at < fixed) {
        return true;
    }
    d.structs.iter().any(|s| {
        let mut spans: Vec<(u64, u64)> = s
            .fields
            .iter()
            .map(|f| (f.offset, f.offset.saturating_add(d.size_of(&f.ty))))
            .filter(|(a, b)| a < b)
            .collect();
        spans.sort_unstable();
        spans.windows(2).any(|w| w[0].1 > w[1].0)
    })
}

/// `image` (a segment's bytes) carrying `description` (any bytes, at most
/// `layout::MAX_DESCRIPTION`) as its type description: the config's
/// `description_len`, checksum and total size set to match, the
/// description region resized and everything after it moved. `None` if
/// `image` does not start with a header and a config that lays out.
pub fn with_description(image: &[u8], description: &[u8]) -> Option<Vec<u8>> {
    use crate::layout::{Layout, SegmentHeader, TopicConfig, MAX_DESCRIPTION};
    use zerocopy::FromBytes;
    let at = std::mem::offset_of!(SegmentHeader, config);
    let size = std::mem::size_of::<TopicConfig>();
    let mut config = TopicConfig::read_from_bytes(image.get(at..at + size)?).ok()?;
    let old = Layout::compute(&config)?;
    if description.len() > MAX_DESCRIPTION {
        return None;
    }
    config.description_len = description.len() as u32;
    let new = Layout::compute(&config)?;
    let mut out = vec![0u8; new.total];
    out.get_mut(..old.description)?
        .copy_from_slice(image.get(..old.description)?);
    out.get_mut(at..at + size)?
        .copy_from_slice(config.as_bytes());
    let put = |out: &mut Vec<u8>, offset: usize, bytes: &[u8]| -> Option<()> {
        out.get_mut(offset..offset + bytes.len())?
            .copy_from_slice(bytes);
        Some(())
    };
    put(
        &mut out,
        std::mem::offset_of!(SegmentHeader, config_checksum),
        &config.checksum().to_ne_bytes(),
    )?;
    put(
        &mut out,
        std::mem::offset_of!(SegmentHeader, total_size),
        &(new.total as u64).to_ne_bytes(),
    )?;
    put(&mut out, new.description, description)?;
    let rest = image.get(old.publishers..old.total)?;
    put(&mut out, new.publishers, rest)?;
    Some(out)
}

/// Receives per subscriber and per round (there are two rounds).
pub const MAX_RECEIVES: usize = 16;
/// Loans (and sends) by the fuzz publisher per input.
pub const MAX_SENDS: usize = 4;
/// How long the one blocking receive waits.
pub const WAIT: Duration = Duration::from_micros(200);
/// Domain of the fuzz topic.
pub const DOMAIN: &str = "fuzz";
/// The fuzz topic.
pub const TOPIC: &str = "/fuzz";

/// A sized message type the seeds use.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, crate::Message,
)]
#[repr(C)]
pub struct FuzzSample {
    /// Any number.
    pub seq: u64,
    /// Any number.
    pub value: u64,
}

/// A slice message type the seeds use.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, crate::Message)]
#[repr(C)]
pub struct FuzzBlob {
    /// Any number.
    pub seq: u64,
    /// Any bytes.
    pub data: [u64],
}

/// A private directory for one input, removed on drop (also when unwinding
/// from a panic, before the fuzzer aborts).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("axon.fuzz.{}.{n}", std::process::id()));
        std::fs::create_dir(&dir)?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `data` as the segment of [`TOPIC`] in a private directory and
/// exercises the validator, the inspection of the tools, the subscriber's
/// reader paths and a publisher taking a lane over, with the image's
/// participants dead and then alive. Never panics, hangs or allocates
/// beyond the input's size on any input, unless axon has a bug.
pub fn segment_image(data: &[u8]) {
    run(data, Peers::Dead);
    run(data, Peers::Alive);
}

/// Whether the participants the image lists are still alive.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Peers {
    /// They died (nobody holds their record locks): joining reaps them, a
    /// publisher takes their lanes over.
    Dead,
    /// They live: this process holds their record locks through a file
    /// description of its own, as their processes would, so they are not
    /// reaped and their records (cursors, hazards, reliable and sleeper bits,
    /// wake areas) act on the fuzz participants.
    Alive,
}

fn run(data: &[u8], peers: Peers) {
    let Ok(dir) = ScratchDir::new() else { return };
    let domain = Domain::new(&dir.0, DOMAIN).expect("valid domain name");
    let topic = TopicName::new(TOPIC).expect("valid topic name");
    let path = domain.segment_path(&topic);
    if write_private(&path, data).is_err() {
        return;
    }
    let held = match peers {
        Peers::Dead => None,
        Peers::Alive => match hold_records(&path, &topic) {
            Some(f) => Some(f),
            None => return, // not a valid segment: the dead pass covered it
        },
    };
    inspect_all(&domain, &topic, &path);
    exercise(&domain, &topic);
    drop(held);
    // The whole domain again, after our participants left (and reaped or
    // replaced what they found).
    inspect_all(&domain, &topic, &path);
    let _ = inspect::clean(domain.dir(), Scope::Domain(&domain), false);
}

/// Takes the record locks of every lane and subscriber record the segment at
/// `path` lists (at most 32 + 64), if it is a valid segment.
fn hold_records(path: &Path, topic: &TopicName) -> Option<SegmentFile> {
    let report = inspect::segment_report(path, topic.clone()).ok()?;
    let file = SegmentFile::open(path).ok()?;
    for p in &report.publishers {
        let _ = file.try_lock(publisher_lock(p.lane), true);
    }
    for s in &report.subscribers {
        let _ = file.try_lock(subscriber_lock(s.index), true);
    }
    Some(file)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}

/// What the tools do: `topic list/info`, `node list`, `clean --dry-run`.
fn inspect_all(domain: &Domain, topic: &TopicName, path: &Path) {
    let report = inspect::segment_report(path, topic.clone());
    if let Ok(r) = &report {
        let _ = (r.live_publishers(), r.live_subscribers());
        let _ = r.dead_participants();
        let _ = inspect::nodes([r]);
        let _ = format!("{r:?}");
    }
    if let Ok(all) = inspect::topics(domain) {
        for (_, r) in all {
            let _ = r.map_err(|e| e.to_string());
        }
    }
    let _ = inspect::clean(domain.dir(), Scope::Domain(domain), true);
}

/// Joins the topic as the CLI does (any type), typed, and as a publisher.
fn exercise(domain: &Domain, topic: &TopicName) {
    // Type-free, best-effort and volatile, like `axon topic echo`.
    let echo = RawSubscriber::create(domain, topic.clone(), None, &Qos::default(), "fuzz-echo");
    // Reliable and transient-local at once, sleeping on the semaphore.
    let durable_qos = Qos {
        reliability: Reliability::Reliable,
        durability: Durability::TransientLocal,
        ..Qos::default()
    };
    let durable = RawSubscriber::create(domain, topic.clone(), None, &durable_qos, "fuzz-durable");
    if let Ok(d) = &durable {
        let _ = d.set_wake(WakeMechanism::Semaphore);
    }
    let subs: Vec<&RawSubscriber> = echo.iter().chain(durable.iter()).collect();
    for s in &subs {
        let _ = (s.topic(), s.type_name(), s.publisher_count());
        let c = s.topic_config();
        for lane in 0..c.max_publishers as usize {
            let _ = s.publisher_node(lane);
        }
    }
    drain(&subs, &[]);
    if let Some(s) = subs.first() {
        if let Ok(Some(sample)) = s.latest() {
            check_len(s, &sample);
        }
    }
    if let Some(s) = subs.last() {
        let _ = s.recv_timeout(WAIT);
    }

    let Some(config) = subs.first().map(|s| s.topic_config()) else {
        // Not a valid segment: a typed participant replaces it (nobody uses it).
        return typed(domain, FuzzSample::TYPE_NAME);
    };
    // Take a lane over as `axon-link`'s importer does: with the type the
    // segment names.
    let desc = TypeDesc {
        name: config.type_name(),
        fingerprint: config.fingerprint,
        fixed_size: config.fixed_size,
        elem_size: config.elem_size,
        description: None,
    };
    let qos = Qos {
        history: Some(1),
        max_held: 1,
        max_loans: 1,
        max_len: Some(config.max_elems.min(1 << 20) as usize),
        ..Qos::default()
    };
    let mut sent = Vec::new();
    if let Ok(p) = RawPublisher::create(domain, topic.clone(), &desc, &qos, "fuzz-pub") {
        let _ = (
            p.topic(),
            p.published(),
            p.subscriber_count(),
            p.slot_stats(),
        );
        for k in 0..MAX_SENDS {
            let elems = k.min(p.max_len());
            let Ok(mut loan) = p.loan_slot(elems) else {
                continue;
            };
            let bytes = loan.bytes_mut();
            fill(bytes, k);
            let len = bytes.len();
            let seq = loan.send();
            sent.push((p.lane(), seq, k, elems, len));
            drain(&subs, &sent);
        }
        let _ = p.reap_dead();
    }
    drain(&subs, &sent);
    drop(subs);
    drop((echo, durable));
    typed(domain, &config.type_name());
}

/// Typed participants, if the segment is of one of the seeds' message types.
fn typed(domain: &Domain, type_name: &str) {
    let Ok(node) = Node::builder("fuzz-typed").domain(domain.clone()).create() else {
        return;
    };
    if type_name == FuzzSample::TYPE_NAME {
        typed_sample(&node);
    } else if type_name == FuzzBlob::TYPE_NAME {
        typed_blob(&node);
    }
}

fn typed_sample(node: &Node) {
    if let Ok(s) = node
        .subscriber::<FuzzSample>(TOPIC)
        .history(1)
        .max_held(1)
        .max_loans(1)
        .transient_local()
        .create()
    {
        for _ in 0..MAX_RECEIVES {
            match s.try_recv() {
                Ok(Some(v)) => {
                    let _ = (v.seq, v.value, v.info());
                }
                _ => break,
            }
        }
        if let Ok(p) = node
            .publisher::<FuzzSample>(TOPIC)
            .history(1)
            .max_held(1)
            .max_loans(1)
            .create()
        {
            let _ = p.publish(&FuzzSample { seq: 1, value: 2 });
        }
        let _ = s.latest().map(|v| v.map(|v| v.value));
    }
}

fn typed_blob(node: &Node) {
    if let Ok(s) = node
        .subscriber::<FuzzBlob>(TOPIC)
        .history(1)
        .max_held(1)
        .max_loans(1)
        .max_len(1)
        .create()
    {
        if let Ok(p) = node
            .publisher::<FuzzBlob>(TOPIC)
            .history(1)
            .max_held(1)
            .max_loans(1)
            .max_len(1)
            .create()
        {
            if let Ok(mut loan) = p.loan_slice(p.max_len().min(3)) {
                loan.seq = 7;
                loan.data.fill(9);
                loan.send();
            }
        }
        for _ in 0..MAX_RECEIVES {
            match s.try_recv() {
                Ok(Some(v)) => {
                    let _ = (v.seq, v.data.len(), v.info());
                }
                _ => break,
            }
        }
    }
}

/// The payload of the fuzz publisher's `k`th loan.
fn fill(bytes: &mut [u8], k: usize) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(k as u8);
    }
}

/// Receives up to [`MAX_RECEIVES`] samples on each subscriber; a sample
/// under a sequence number of ours must be ours, byte for byte.
fn drain(subs: &[&RawSubscriber], sent: &[(usize, u64, usize, usize, usize)]) {
    for s in subs {
        for _ in 0..MAX_RECEIVES {
            let sample = match s.try_recv() {
                Ok(Some(sample)) => sample,
                Ok(None) | Err(_) => break,
            };
            check_len(s, &sample);
            let info = sample.info();
            // What `axon topic echo` does with a described sample.
            if let Some(d) = s.description() {
                let _ = crate::dynamic::decode(d, sample.bytes(), info.elems, Some(4));
            }
            if let Some(&(_, _, k, elems, len)) = sent
                .iter()
                .find(|(lane, seq, ..)| *lane == info.publisher && *seq == info.seq)
            {
                let mut want = vec![0u8; len];
                fill(&mut want, k);
                assert_eq!(
                    info.elems, elems,
                    "our sample {} has another length",
                    info.seq
                );
                assert!(
                    sample.bytes() == want.as_slice(),
                    "our sample {} arrived with other bytes",
                    info.seq
                );
            }
        }
        let _ = (s.received(), s.dropped(), s.corrupt());
    }
}

/// A sample's bytes lie within the slot's payload and match its length.
fn check_len(s: &RawSubscriber, sample: &crate::RawSample<'_>) {
    let c = s.topic_config();
    let info = sample.info();
    assert!(info.publisher < c.max_publishers as usize);
    assert!(info.elems as u64 <= c.max_elems);
    let len = sample.bytes().len() as u64;
    assert!(
        len <= c.slot_payload,
        "sample of {len} bytes in a slot of {}",
        c.slot_payload
    );
    assert_eq!(len, c.fixed_size + c.elem_size * info.elems as u64);
}

/// Parses `data` as a topic declarations file (`AXON_TOPICS`, see
/// [`crate::declared`]) with the code a [`Node`] runs on the file's bytes
/// (`TopicDecls::read` reads at most `MAX_FILE_BYTES` and calls
/// `from_json`); what it accepts is written as `launch` writes it and must
/// read back the same. Never panics, hangs or allocates beyond a small
/// multiple of the input, unless axon has a bug.
pub fn topics_file(data: &[u8]) {
    use crate::declared::TopicDecls;
    let Ok(decls) = TopicDecls::from_json(data) else {
        return;
    };
    let text = decls.to_json();
    let again = match TopicDecls::from_json(text.as_bytes()) {
        Ok(d) => d,
        Err(e) => panic!("accepted declarations do not read back: {e}"),
    };
    assert_eq!(
        again.to_json(),
        text,
        "declarations changed on a round trip"
    );
}

/// The service [`service_image`] uses.
pub const SERVICE: &str = "/fuzz_service";

/// Treats `data` as the bytes of a service's segment file (`service_shm.rs`)
/// and runs the real code on it: the tools' `service::list`, a client
/// joining (reclaiming whatever its record's slots hold) and sending, a
/// server taking requests over and answering them with slice responses,
/// the client polling. Each input runs twice: its participants dead, then
/// alive (this process holds every record lock of the image). Bounds: the
/// file has the input's size; at most 4 sends, 8 receives, 4 polls; no call
/// blocks (every wait has a zero timeout). Responses our server wrote for
/// our client's requests must arrive intact; anything else is an error
/// value. Seeds: `fuzz/corpus/service_image` (real segments of
/// `FuzzSample -> FuzzBlob`, see `tests/fuzz_corpus.rs`).
pub fn service_image(data: &[u8]) {
    service_run(data, false);
    service_run(data, true);
}

fn service_run(data: &[u8], alive: bool) {
    let Ok(dir) = ScratchDir::new() else { return };
    let domain = Domain::new(&dir.0, DOMAIN).expect("valid domain name");
    let name = TopicName::new(SERVICE).expect("valid service name");
    let path = crate::service_shm::service_path(&domain, &name);
    if write_private(&path, data).is_err() {
        return;
    }
    let held = alive.then(|| SegmentFile::open(&path).ok()).flatten();
    if let Some(f) = &held {
        for byte in 1..=1 + crate::service::MAX_CLIENTS as u64 {
            let _ = f.try_lock(byte, true);
        }
    }
    let _ = crate::service::list(&domain);
    let Ok(node) = Node::builder("fuzz")
        .domain(domain.clone())
        .no_signal_handlers()
        .create()
    else {
        return;
    };
    let client = node
        .client::<FuzzSample, FuzzBlob>(SERVICE)
        .max_response_len(4)
        .create();
    let server = node
        .service::<FuzzSample, FuzzBlob>(SERVICE)
        .max_response_len(4)
        .create();
    if let Ok(c) = &client {
        let _ = (c.service_is_ready(), c.max_request_len(), c.max_in_flight());
        let mut pending = Vec::new();
        for seq in 0..4 {
            match c.send(&FuzzSample { seq, value: !seq }) {
                Ok(p) => pending.push((seq, p)),
                Err(_) => break,
            }
        }
        let mut answered = Vec::new();
        if let Ok(s) = &server {
            for _ in 0..8 {
                let Ok(Some(r)) = s.try_recv_request() else {
                    break;
                };
                let (seq, value, from) = (r.seq, r.value, r.client());
                let len = (seq % 4) as usize;
                if let Ok(mut loan) = r.loan_reply_slice(len) {
                    loan.seq = seq;
                    loan.data.fill(value);
                    loan.send();
                    answered.push((from, seq));
                }
            }
            let _ = s.recv_request_timeout(Duration::ZERO);
        }
        for (seq, mut p) in pending {
            if let Ok(Some(resp)) = p.try_recv() {
                // Only our server's answers to our requests are checked:
                // the image's live peers may answer anything.
                if server.is_ok() && !alive && answered.iter().any(|(_, s)| *s == seq) {
                    assert_eq!(resp.seq, seq, "response to another request");
                    assert_eq!(resp.data.len(), (seq % 4) as usize, "wrong length");
                    assert!(resp.data.iter().all(|v| *v == !seq), "wrong bytes");
                }
            }
            let _ = p.wait_mut(Duration::ZERO);
        }
    }
    drop(server);
    drop(client);
    let _ = crate::service::list(&domain);
    drop(held);
}
