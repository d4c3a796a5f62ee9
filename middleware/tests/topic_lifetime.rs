//! A topic lives as long as someone holds it (issue 13, "nothing left
//! behind"): the last participant to leave cleanly removes its segment, and
//! a segment an earlier run left behind (nobody holds it) is replaced by the
//! next participant, whatever its capacities or counters were.

use axon::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use axon::{Message, Node, TopicName};

mod support;

#[derive(Debug, Clone, Copy, PartialEq, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Ping {
    seq: u64,
}

fn node(test: &str) -> Node {
    support::node_in(&format!("lifetime-{}-{test}", std::process::id()), "n")
}

fn segment(n: &Node, topic: &str) -> std::path::PathBuf {
    n.domain().segment_path(&TopicName::new(topic).unwrap())
}

#[test]
fn last_participant_to_leave_removes_the_segment() {
    let n = node("last");
    let path = segment(&n, "/t");
    let p = n.publisher::<Ping>("/t").create().unwrap();
    let s = n.subscriber::<Ping>("/t").create().unwrap();
    p.publish(&Ping { seq: 1 }).unwrap();
    drop(p);
    assert!(path.exists(), "a subscriber still holds the topic");
    assert_eq!(s.try_recv().unwrap().map(|x| x.seq), Some(1));
    drop(s);
    assert!(!path.exists(), "the last one out removes it");
    // Publisher alone, too.
    let p = n.publisher::<Ping>("/t").create().unwrap();
    drop(p);
    assert!(!path.exists());
    support::remove_domain(n.domain().name());
}

/// What a crashed run leaves: the segment file of a topic that had `pubs`
/// published with history 2, with nobody holding it.
fn leave_behind(n: &Node, published: u64) -> std::path::PathBuf {
    let path = segment(n, "/t");
    let p = n.publisher::<Ping>("/t").history(2).create().unwrap();
    for i in 1..=published {
        p.publish(&Ping { seq: i }).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    drop(p);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn leftover_segment_of_smaller_capacity_does_not_stop_the_next_run() {
    let n = node("smaller");
    let path = leave_behind(&n, 5);
    // Explicitly more history than the leftover offers: nobody holds it, so
    // the topic is made again from this request.
    let s = n.subscriber::<Ping>("/t").history(8).create().unwrap();
    let p = n.publisher::<Ping>("/t").history(8).create().unwrap();
    assert_eq!(
        p.raw().published(),
        0,
        "counters belong to this incarnation"
    );
    assert_eq!(
        s.try_recv().unwrap().map(|x| x.seq),
        None,
        "no stale samples"
    );
    p.publish(&Ping { seq: 1 }).unwrap();
    assert_eq!(s.try_recv().unwrap().map(|x| x.seq), Some(1));
    drop((s, p));
    assert!(!path.exists());
    support::remove_domain(n.domain().name());
}

#[test]
fn leftover_segment_of_another_type_does_not_stop_the_next_run() {
    #[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    struct Other {
        a: u32,
        b: u32,
    }
    let n = node("othertype");
    leave_behind(&n, 1);
    let p = n.publisher::<Other>("/t").create().unwrap();
    p.publish(&Other { a: 1, b: 2 }).unwrap();
    support::remove_domain(n.domain().name());
}

#[test]
fn a_live_topic_keeps_its_shape_and_refuses_what_it_cannot_give() {
    let n = node("live");
    let p = n.publisher::<Ping>("/t").history(2).create().unwrap();
    // A default subscriber takes what the topic offers.
    let s = n.subscriber::<Ping>("/t").create().unwrap();
    p.publish(&Ping { seq: 1 }).unwrap();
    assert_eq!(s.try_recv().unwrap().map(|x| x.seq), Some(1));
    // An explicit request beyond it is refused, naming both numbers.
    let e = n
        .subscriber::<Ping>("/t")
        .history(8)
        .create()
        .unwrap_err()
        .to_string();
    assert!(e.contains('8') && e.contains('2'), "{e}");
    drop((s, p));
    support::remove_domain(n.domain().name());
}

#[test]
fn resident_memory_follows_the_slots_in_use_not_the_worst_case() {
    use std::os::unix::fs::MetadataExt;
    #[derive(FromBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    struct Blob {
        len: u64,
        data: [u8],
    }
    const MIB: usize = 1 << 20;
    let n = node("resident");
    let p = n
        .publisher::<Blob>("/img")
        .history(2)
        .max_len(MIB)
        .create()
        .unwrap();
    let s = n.subscriber::<Blob>("/img").create().unwrap();
    for i in 0..50u64 {
        let mut l = p.loan_slice(MIB).unwrap();
        l.len = i;
        l.data.fill(i as u8);
        l.send();
        let got = s.try_recv().unwrap().expect("sample");
        assert_eq!(got.data[MIB - 1], i as u8);
    }
    let slots = p.raw().slot_stats().slots;
    let allocated = std::fs::metadata(segment(&n, "/img")).unwrap().blocks() * 512;
    let used_slots = allocated as f64 / MIB as f64;
    // history 2 + the loan + the one the reader holds, and some change:
    // far below the lane's worst case.
    assert!(slots >= 20, "{slots} slots per lane");
    assert!(
        used_slots < 8.0,
        "{used_slots:.1} MiB resident for a lane of {slots} 1-MiB slots"
    );
    drop((s, p));
    support::remove_domain(n.domain().name());
}
