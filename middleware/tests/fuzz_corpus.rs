//! Replays the fuzz corpus of `segment_image` (`fuzz/corpus/segment_image`)
//! without a fuzzer, and checks that its seeds are what they claim: real
//! segments, made by the public API, that still deliver their samples.
//!
//! Regenerate the seeds (after a layout change, which makes the old ones
//! fail validation and so fuzz only the error path):
//! `AXON_FUZZ_WRITE_SEEDS=1 cargo test --release -p axon --test fuzz_corpus`.

mod support;

use std::path::{Path, PathBuf};

use axon::fuzzing::{segment_image, FuzzBlob, FuzzSample, TOPIC};
use axon::{Domain, Node, Qos, RawPublisher, RawSubscriber, TopicName, TypeDesc, WakeMechanism};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/segment_image")
}

/// Serialises the tests: each checks that `segment_image` left no scratch
/// directory of this process behind, which the other's could be.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The scratch directories `segment_image` made in this process and did not
/// remove.
fn leftover_scratch_dirs() -> Vec<String> {
    let mine = format!("axon.fuzz.{}.", std::process::id());
    std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&mine))
        .collect()
}

#[test]
fn corpus_segment_image_replays_without_panic() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/segment_image exists")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= SEEDS.len(),
        "the corpus lost its seeds: {files:?}"
    );
    for f in &files {
        let data = std::fs::read(f).unwrap();
        segment_image(&data);
        // Every byte flipped in turn would take too long; a few hostile
        // variants of each file do not.
        for (i, v) in [
            (0usize, 0xffu8),
            (data.len() / 2, 0),
            (data.len() / 3, 0x80),
        ] {
            let mut bad = data.clone();
            if let Some(b) = bad.get_mut(i) {
                *b ^= v | 1;
            }
            segment_image(&bad);
        }
        segment_image(&data[..data.len() / 2]);
    }
    assert_eq!(leftover_scratch_dirs(), Vec::<String>::new());
}

/// Makes topic [`TOPIC`] with `node`'s participants and returns the bytes
/// of its segment file, copied while they are alive.
type MakeSeed = fn(&Node) -> Vec<u8>;

/// The seeds: name, and how to make the topic's segment.
const SEEDS: &[(&str, MakeSeed)] = &[
    ("sample_best_effort", sample_best_effort),
    ("sample_reliable_full", sample_reliable_full),
    ("sample_transient_local", sample_transient_local),
    ("sample_two_publishers", sample_two_publishers),
    ("sample_semaphore_sleeper", sample_semaphore_sleeper),
    ("blob_slices", blob_slices),
];

fn segment_bytes(node: &Node) -> Vec<u8> {
    std::fs::read(node.domain().segment_path(&TopicName::new(TOPIC).unwrap())).unwrap()
}

/// A small topic (a seed stays near 10 KiB) with a lane and a subscriber
/// record to spare, so the fuzz participants can join while the seed's own
/// are alive.
fn small<T: axon::Message + ?Sized>(
    b: axon::PublisherBuilder<'_, T>,
) -> axon::PublisherBuilder<'_, T> {
    b.history(2)
        .max_publishers(2)
        .max_subscribers(3)
        .max_held(1)
        .max_loans(1)
}

fn sample(seq: u64) -> FuzzSample {
    FuzzSample {
        seq,
        value: seq * 1000,
    }
}

/// A publisher ahead of a best-effort subscriber that holds one sample.
fn sample_best_effort(node: &Node) -> Vec<u8> {
    let p = small(node.publisher::<FuzzSample>(TOPIC)).create().unwrap();
    let s = node
        .subscriber::<FuzzSample>(TOPIC)
        .history(2)
        .max_held(1)
        .max_loans(1)
        .create()
        .unwrap();
    p.publish(&sample(1)).unwrap();
    let held = s.try_recv().unwrap().unwrap();
    assert_eq!(held.seq, 1);
    for seq in 2..=4 {
        p.publish(&sample(seq)).unwrap();
    }
    segment_bytes(node)
}

/// A reliable subscriber that read nothing: the publisher is full.
fn sample_reliable_full(node: &Node) -> Vec<u8> {
    let p = small(node.publisher::<FuzzSample>(TOPIC)).create().unwrap();
    let _s = node
        .subscriber::<FuzzSample>(TOPIC)
        .history(2)
        .max_held(1)
        .max_loans(1)
        .reliable()
        .create()
        .unwrap();
    p.publish(&sample(1)).unwrap();
    p.publish(&sample(2)).unwrap();
    assert!(matches!(p.loan(), Err(axon::LoanError::Full { .. })));
    segment_bytes(node)
}

/// A late transient-local subscriber that read the retained history.
fn sample_transient_local(node: &Node) -> Vec<u8> {
    let p = small(node.publisher::<FuzzSample>(TOPIC)).create().unwrap();
    for seq in 1..=3 {
        p.publish(&sample(seq)).unwrap();
    }
    let s = node
        .subscriber::<FuzzSample>(TOPIC)
        .history(2)
        .max_held(1)
        .max_loans(1)
        .transient_local()
        .create()
        .unwrap();
    assert_eq!(s.try_recv().unwrap().unwrap().seq, 2);
    segment_bytes(node)
}

/// Two lanes, each with samples; the subscriber read some of each.
fn sample_two_publishers(node: &Node) -> Vec<u8> {
    let p1 = small(node.publisher::<FuzzSample>(TOPIC))
        .max_publishers(3)
        .create()
        .unwrap();
    let p2 = node
        .publisher::<FuzzSample>(TOPIC)
        .history(2)
        .max_held(1)
        .max_loans(1)
        .create()
        .unwrap();
    let s = node
        .subscriber::<FuzzSample>(TOPIC)
        .history(2)
        .max_held(1)
        .max_loans(1)
        .create()
        .unwrap();
    p1.publish(&sample(1)).unwrap();
    p2.publish(&sample(101)).unwrap();
    let _ = s.try_recv().unwrap().unwrap();
    p1.publish(&sample(2)).unwrap();
    p2.publish(&sample(102)).unwrap();
    segment_bytes(node)
}

/// A subscriber asleep on the process-shared semaphore in the segment (its
/// sleeper bit set) when the file is copied.
fn sample_semaphore_sleeper(node: &Node) -> Vec<u8> {
    use axon::layout::{Membership, SegmentHeader};
    use std::time::{Duration, Instant};
    let p = small(node.publisher::<FuzzSample>(TOPIC)).create().unwrap();
    p.publish(&sample(1)).unwrap();
    p.publish(&sample(2)).unwrap();
    let domain = node.domain().clone();
    let sleeper = std::thread::spawn(move || {
        let n = Node::builder("sleeper").domain(domain).create().unwrap();
        let s = n
            .subscriber::<FuzzSample>(TOPIC)
            .history(2)
            .max_held(1)
            .max_loans(1)
            .wake(WakeMechanism::Semaphore)
            .create()
            .unwrap();
        s.recv_timeout(Duration::from_secs(60)).map(|v| v.seq)
    });
    let sleepers =
        std::mem::offset_of!(SegmentHeader, members) + std::mem::offset_of!(Membership, sleepers);
    let deadline = Instant::now() + Duration::from_secs(60); // watchdog
    let image = loop {
        let image = segment_bytes(node);
        if image[sleepers..sleepers + 8] != [0; 8] {
            break image;
        }
        assert!(Instant::now() < deadline, "the subscriber never slept");
        std::thread::sleep(Duration::from_millis(1));
    };
    p.publish(&sample(3)).unwrap();
    assert_eq!(sleeper.join().unwrap().unwrap(), 3);
    image
}

/// A slice message: samples of 0, 3 and 8 elements (the first lapped), one held.
fn blob_slices(node: &Node) -> Vec<u8> {
    let p = small(node.publisher::<FuzzBlob>(TOPIC))
        .max_len(8)
        .create()
        .unwrap();
    let s = node
        .subscriber::<FuzzBlob>(TOPIC)
        .history(2)
        .max_held(1)
        .max_loans(1)
        .max_len(8)
        .create()
        .unwrap();
    for (seq, len) in [(1, 0), (2, 3), (3, 8)] {
        let mut l = p.loan_slice(len).unwrap();
        l.seq = seq;
        for (i, d) in l.data.iter_mut().enumerate() {
            *d = seq * 100 + i as u64;
        }
        l.send();
    }
    let held = s.try_recv().unwrap().unwrap();
    assert_eq!(held.seq, 2, "lapped: sample 1 is gone");
    segment_bytes(node)
}

/// Checks that `image`, copied while its participants were alive, is a
/// valid segment in which they are dead, with `published[lane]` samples per
/// lane; and that a new publisher takes a lane over, continues its sequence
/// numbers and reaches a new subscriber.
fn check_image(image: &[u8], name: &str, i: usize, published: &[u64]) {
    let dom = format!("fuzzcheck-{}-{i}", std::process::id());
    let domain = Domain::new("/dev/shm", &dom).unwrap();
    let topic = TopicName::new(TOPIC).unwrap();
    let path = domain.segment_path(&topic);
    std::fs::write(&path, image).unwrap();
    let result = std::panic::catch_unwind(|| {
        let report = axon::inspect::segment_report(&path, topic.clone()).unwrap();
        let counts: Vec<u64> = report.publishers.iter().map(|p| p.published).collect();
        assert_eq!(counts, published, "{name}: {report:?}");
        assert_eq!(report.live_publishers() + report.live_subscribers(), 0);
        assert!(report.dead_participants() >= 2, "{name}: {report:?}");

        let s =
            RawSubscriber::create(&domain, topic.clone(), None, &Qos::default(), "check").unwrap();
        let c = s.topic_config();
        let desc = TypeDesc {
            name: c.type_name(),
            fingerprint: c.fingerprint,
            fixed_size: c.fixed_size,
            elem_size: c.elem_size,
            description: None,
        };
        let qos = Qos {
            history: Some(1),
            max_held: 1,
            max_loans: 1,
            max_len: Some(1),
            ..Qos::default()
        };
        let p = RawPublisher::create(&domain, topic.clone(), &desc, &qos, "check").unwrap();
        let mut loan = p.loan_slot(0).unwrap();
        loan.bytes_mut()[..8].copy_from_slice(&77u64.to_ne_bytes());
        let seq = loan.send();
        let before = published.get(p.lane()).copied().unwrap_or(0);
        assert_eq!(seq, before + 1, "{name}: lane {}", p.lane());
        let got = s.try_recv().unwrap().expect("the new sample");
        assert_eq!((got.info().publisher, got.info().seq), (p.lane(), seq));
        assert_eq!(got.bytes()[..8], 77u64.to_ne_bytes());
    });
    support::remove_domain(&dom);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn seed_images_are_real_segments_that_still_deliver() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let write = std::env::var_os("AXON_FUZZ_WRITE_SEEDS").is_some();
    for (i, (name, make)) in SEEDS.iter().enumerate() {
        let dom = format!("fuzzseed-{}-{i}", std::process::id());
        let image = std::panic::catch_unwind(|| make(&support::node_in(&dom, "seed")));
        support::remove_domain(&dom);
        let image = image.unwrap_or_else(|e| std::panic::resume_unwind(e));
        assert!(image.len() <= 64 << 10, "{name}: {} bytes", image.len());

        let published: &[u64] = match *name {
            "sample_best_effort" => &[4],
            "sample_reliable_full" | "sample_semaphore_sleeper" => &[2],
            "sample_transient_local" | "blob_slices" => &[3],
            "sample_two_publishers" => &[2, 2],
            _ => unreachable!("{name}"),
        };
        check_image(&image, name, i, published);
        segment_image(&image);
        if write {
            // Renamed into place: the replay test may be reading the
            // directory (a partial file would only be one more input for it).
            let tmp = corpus_dir().join(format!(".{name}.tmp"));
            std::fs::write(&tmp, &image).unwrap();
            std::fs::rename(&tmp, corpus_dir().join(name)).unwrap();
        }
    }
    assert_eq!(leftover_scratch_dirs(), Vec::<String>::new());
}

/// `fuzz/corpus/topics_file`: each seed, and each of its prefixes and a few
/// byte flips, through `axon::fuzzing::topics_file` (the libFuzzer target
/// calls the same function). The full seed is accepted and reads back.
#[test]
fn corpus_topics_file_replays_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/topics_file");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fuzz/corpus/topics_file exists")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the corpus lost its seeds: {files:?}");
    for f in &files {
        let data = std::fs::read(f).unwrap();
        axon::fuzzing::topics_file(&data);
        for end in 0..data.len() {
            axon::fuzzing::topics_file(&data[..end]);
        }
        for i in (0..data.len()).step_by(7) {
            let mut bad = data.clone();
            bad[i] ^= 0x20;
            axon::fuzzing::topics_file(&bad);
        }
    }
    let full = std::fs::read(dir.join("full.json")).unwrap();
    let decls = axon::TopicDecls::from_json(&full).expect("the full seed is valid");
    assert_eq!(decls.len(), 2);
}

// ------------------------------------------------------ type_description

fn description_corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/type_description")
}

#[derive(
    axon::zerocopy::FromBytes, axon::zerocopy::KnownLayout, axon::zerocopy::Immutable, axon::Message,
)]
#[repr(C)]
struct Gain {
    p: f32,
    i: f32,
}

#[derive(
    axon::zerocopy::FromBytes, axon::zerocopy::KnownLayout, axon::zerocopy::Immutable, axon::Message,
)]
#[repr(C)]
struct Reading {
    seq: u64,
    gain: Gain,
    wheels: [i16; 4],
    flag: u8,
    _pad: [u8; 7],
    history: [[Gain; 2]; 2],
    samples: [f32],
}

/// A description with every kind: a string, a nested struct, an array, a
/// 128-bit integer, and a trailing slice of structs.
fn with_string() -> axon::Description {
    use axon::desc::{Primitive, Struct, StructField, Ty};
    let field = |name: &str, offset, ty| StructField {
        name: name.into(),
        offset,
        ty,
        padding: false,
    };
    axon::Description {
        root: Ty::Struct(1),
        structs: vec![
            Struct {
                name: "seed/Point".into(),
                size: 8,
                align: 4,
                fields: vec![
                    field("x", 0, Ty::Primitive(Primitive::F32)),
                    field("y", 4, Ty::Primitive(Primitive::I32)),
                ],
            },
            Struct {
                name: "seed/Labelled".into(),
                size: 48,
                align: 16,
                fields: vec![
                    field("label", 0, Ty::String { capacity: 12 }),
                    field("big", 16, Ty::Primitive(Primitive::U128)),
                    field(
                        "corner",
                        32,
                        Ty::Array {
                            elem: Box::new(Ty::Struct(0)),
                            len: 2,
                        },
                    ),
                    field(
                        "points",
                        48,
                        Ty::Slice {
                            elem: Box::new(Ty::Struct(0)),
                        },
                    ),
                ],
            },
        ],
    }
}

/// The seeds of `type_description`: valid descriptions of real types and
/// hand-made ones, and hostile encodings.
fn description_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use axon::desc::{Primitive, Ty};
    let mut deep = Ty::Primitive(Primitive::U8);
    for _ in 0..17 {
        deep = Ty::Array {
            elem: Box::new(deep),
            len: 1,
        };
    }
    let mut too_deep = axon::Description::of::<Reading>();
    let root = too_deep.structs.len() - 1;
    too_deep.structs[root].fields[0].ty = deep;
    let mut overlapping = with_string();
    overlapping.structs[1].fields[1].offset = 0;
    let mut bad_kind = axon::Description::of::<FuzzSample>().encode();
    let last = bad_kind.len() - 5;
    bad_kind[last] = 9;
    vec![
        (
            "fuzz_sample",
            axon::Description::of::<FuzzSample>().encode(),
        ),
        ("fuzz_blob", axon::Description::of::<FuzzBlob>().encode()),
        ("reading", axon::Description::of::<Reading>().encode()),
        ("with_string", with_string().encode()),
        ("overlapping", overlapping.encode()),
        ("bytes", axon::Description::of::<[u8]>().encode()),
        ("array", axon::Description::of::<[f64; 3]>().encode()),
        ("too_deep", too_deep.encode()),
        ("unknown_kind", bad_kind),
    ]
}

#[test]
fn type_description_seeds_are_current() {
    let write = std::env::var_os("AXON_FUZZ_WRITE_SEEDS").is_some();
    for (name, bytes) in description_seeds() {
        let path = description_corpus_dir().join(name);
        if write {
            std::fs::write(&path, &bytes).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (AXON_FUZZ_WRITE_SEEDS=1 writes it)",
                path.display()
            )
        });
        assert_eq!(
            on_disk, bytes,
            "{name} is stale (AXON_FUZZ_WRITE_SEEDS=1 rewrites it)"
        );
        let valid = !matches!(name, "too_deep" | "unknown_kind" | "overlapping");
        assert_eq!(axon::Description::decode(&bytes).is_ok(), valid, "{name}");
    }
}

#[test]
fn corpus_type_description_replays_without_panic() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(description_corpus_dir())
        .expect("fuzz/corpus/type_description exists")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 9, "the corpus lost its seeds: {files:?}");
    for f in &files {
        let data = std::fs::read(f).unwrap();
        axon::fuzzing::type_description(&data);
        for cut in [0, data.len() / 2, data.len().saturating_sub(1)] {
            axon::fuzzing::type_description(&data[..cut]);
        }
        for i in (0..data.len()).step_by(7) {
            let mut bad = data.clone();
            bad[i] ^= 0x5a;
            axon::fuzzing::type_description(&bad);
        }
    }
}
