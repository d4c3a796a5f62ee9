//! Replays the fuzz corpus of `service_image` (`fuzz/corpus/service_image`)
//! without a fuzzer, and checks that its seeds are what they claim: real
//! service segments made by the public API.
//!
//! Regenerate the seeds (after a layout change, which makes the old ones
//! fail validation and so fuzz only the error path):
//! `AXON_FUZZ_WRITE_SEEDS=1 cargo test --release -p axon --test service_corpus`.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use axon::fuzzing::{service_image, FuzzBlob, FuzzSample, SERVICE};
use axon::service::layout::service_path;
use axon::{Domain, Node, TopicName};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/service_image")
}

type MakeSeed = fn(&Node) -> Vec<u8>;

/// The seeds: name, and how to make the service's segment.
const SEEDS: &[(&str, MakeSeed)] = &[
    ("idle", idle),
    ("in_flight", in_flight),
    ("answered_unread", answered_unread),
];

fn bytes(node: &Node) -> Vec<u8> {
    std::fs::read(service_path(
        node.domain(),
        &TopicName::new(SERVICE).unwrap(),
    ))
    .unwrap()
}

fn pair(
    node: &Node,
) -> (
    axon::Server<FuzzSample, FuzzBlob>,
    axon::Client<FuzzSample, FuzzBlob>,
) {
    let s = node
        .service::<FuzzSample, FuzzBlob>(SERVICE)
        .max_clients(2)
        .max_in_flight(2)
        .max_response_len(4)
        .create()
        .unwrap();
    let c = node
        .client::<FuzzSample, FuzzBlob>(SERVICE)
        .max_response_len(4)
        .create()
        .unwrap();
    (s, c)
}

fn idle(node: &Node) -> Vec<u8> {
    let (_s, _c) = pair(node);
    bytes(node)
}

/// One request taken by the server (held), one posted and not taken.
fn in_flight(node: &Node) -> Vec<u8> {
    let (s, c) = pair(node);
    let _p1 = c.send(&FuzzSample { seq: 1, value: 10 }).unwrap();
    let _r = s.try_recv_request().unwrap().unwrap();
    let _p2 = c.send(&FuzzSample { seq: 2, value: 20 }).unwrap();
    bytes(node)
}

/// Two slice responses written, not read yet.
fn answered_unread(node: &Node) -> Vec<u8> {
    let (s, c) = pair(node);
    let p1 = c.send(&FuzzSample { seq: 1, value: 10 }).unwrap();
    let p2 = c.send(&FuzzSample { seq: 2, value: 20 }).unwrap();
    for len in [3, 4] {
        let r = s.try_recv_request().unwrap().unwrap();
        let mut l = r.loan_reply_slice(len).unwrap();
        l.seq = len as u64;
        l.data.fill(7);
        l.send();
    }
    let b = bytes(node);
    assert_eq!(p1.wait(Duration::from_secs(5)).unwrap().data.len(), 3);
    assert_eq!(p2.wait(Duration::from_secs(5)).unwrap().data.len(), 4);
    b
}

#[test]
fn seeds_are_real_service_segments() {
    let write = std::env::var_os("AXON_FUZZ_WRITE_SEEDS").is_some();
    for (name, make) in SEEDS {
        let domain = format!("svseed{}-{name}", std::process::id());
        let node = support::node_in(&domain, "seed");
        let made = make(&node);
        support::remove_domain(&domain);
        let file = corpus_dir().join(name);
        if write {
            std::fs::write(&file, &made).unwrap();
        }
        // The stored seed is a valid segment of this build's layout.
        let stored = std::fs::read(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        let check = format!("svcheck{}-{name}", std::process::id());
        let d = Domain::new("/dev/shm", &check).unwrap();
        let path = service_path(&d, &TopicName::new(SERVICE).unwrap());
        std::fs::write(&path, &stored).unwrap();
        let report = axon::service::inspect(&d, &TopicName::new(SERVICE).unwrap());
        support::remove_domain(&check);
        let report = report.unwrap_or_else(|e| panic!("seed {name} is not valid: {e}"));
        assert!(report.request_type.0.ends_with("FuzzSample"));
        assert!(
            report.server.is_none(),
            "nobody holds a stored seed's locks"
        );
    }
}

#[test]
fn corpus_service_image_replays_without_panic() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/service_image exists")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= SEEDS.len(),
        "the corpus lost its seeds: {files:?}"
    );
    for f in &files {
        let data = std::fs::read(f).unwrap();
        service_image(&data);
        // A byte flipped every 61 bytes, each in its own image, and a cut.
        for i in (0..data.len()).step_by(61) {
            let mut bad = data.clone();
            bad[i] ^= 0xa5;
            service_image(&bad);
        }
        service_image(&data[..data.len() / 2]);
    }
}
