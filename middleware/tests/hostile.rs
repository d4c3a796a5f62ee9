//! Regression tests for what a hostile or buggy peer found by writing into a
//! live segment (issue 12). Each test writes the words such a peer wrote,
//! through its own writable mapping of the segment (as another process
//! would), and checks that the victims count the corruption, keep serving,
//! and recover by themselves. Named after what broke.

use std::sync::atomic::{AtomicU64, Ordering};

use axon::layout::{Layout, SegmentHeader, TopicConfig};
use axon::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use axon::{LoanError, Message, Node};

mod support;

#[derive(Debug, Clone, Copy, PartialEq, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Ping {
    seq: u64,
}

fn node(test: &str) -> Node {
    support::node_in(&format!("hostile-{}-{test}", std::process::id()), "victim")
}

/// The hostile peer: a writable mapping of the topic's segment.
struct Peer {
    map: memmap2::MmapRaw,
    config: TopicConfig,
    layout: Layout,
}

impl Peer {
    fn new(n: &Node, topic: &str) -> Peer {
        let (map, config, layout) = support::map_segment(n, topic);
        Peer {
            map,
            config,
            layout,
        }
    }

    /// The 8-byte word at `offset` of the segment.
    fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(offset % 8 == 0 && offset + 8 <= self.layout.total);
        // SAFETY: in bounds and 8-aligned (checked above; the mapping is
        // page-aligned), and segment words are only accessed atomically.
        unsafe { &*(self.map.as_ptr().add(offset) as *const AtomicU64) }
    }

    fn header(&self) -> &SegmentHeader {
        // SAFETY: the mapping starts with a validated SegmentHeader whose
        // shared fields are atomics.
        unsafe { &*(self.map.as_ptr() as *const SegmentHeader) }
    }

    /// Ring entry word of sequence number `seq` in lane 0.
    fn ring_entry(&self, seq: u64) -> &AtomicU64 {
        let pos = (seq % self.config.depth as u64) as usize;
        self.word(self.layout.ring(0) + 8 * pos)
    }

    /// Lane 0's `head` (`PublisherRecord::head`, on the record's second line).
    fn head(&self) -> &AtomicU64 {
        let rec = self.layout.publisher(0);
        let off = std::mem::offset_of!(axon::layout::PublisherRecord, head);
        self.word(rec + off)
    }
}

fn publish(p: &axon::Publisher<Ping>, seq: u64) -> Result<u64, LoanError> {
    p.publish(&Ping { seq })
}

#[test]
fn bad_seqs_ahead_of_a_reliable_reader_are_skipped_not_a_deadlock() {
    let n = node("badseq");
    let p = n.publisher::<Ping>("/t").history(8).create().unwrap();
    let s = n.subscriber::<Ping>("/t").reliable().create().unwrap();
    for i in 1..=4 {
        publish(&p, i).unwrap();
    }
    let peer = Peer::new(&n, "/t");
    // Two garbage sequence numbers in the entries just ahead of the reader.
    peer.ring_entry(1)
        .store(0xdead_beef << 16 | 1, Ordering::Release);
    peer.ring_entry(2)
        .store(0x1234_5678 << 16 | 2, Ordering::Release);
    let got: Vec<u64> = std::iter::from_fn(|| s.try_recv().unwrap().map(|x| x.seq)).collect();
    assert_eq!(got, vec![3, 4], "the reader skips the two garbage entries");
    assert_eq!(s.raw().corrupt(), 2, "and counts them");
    // The publisher is not held Full by a reader stuck on garbage.
    for i in 5..=40 {
        publish(&p, i).unwrap_or_else(|e| panic!("publish {i}: {e}"));
        assert_eq!(s.try_recv().unwrap().map(|x| x.seq), Some(i));
    }
    support::remove_domain(n.domain().name());
}

#[test]
fn stray_reliable_bit_on_an_unused_record_does_not_hold_the_publisher_full() {
    let n = node("strayreliable");
    let p = n.publisher::<Ping>("/t").history(4).create().unwrap();
    let _s = n.subscriber::<Ping>("/t").history(4).create().unwrap();
    let peer = Peer::new(&n, "/t");
    peer.header()
        .members
        .reliable
        .fetch_or(1 << 5, Ordering::SeqCst);
    for i in 1..=100 {
        publish(&p, i).unwrap_or_else(|e| panic!("publish {i}: {e}"));
    }
    // The stray bit is reaped like a dead subscriber's.
    p.raw().reap_dead();
    assert_eq!(peer.header().members.reliable.load(Ordering::SeqCst), 0);
    support::remove_domain(n.domain().name());
}

#[test]
fn huge_head_does_not_strand_a_latest_reader_or_its_counters() {
    let n = node("hugehead");
    let p = n.publisher::<Ping>("/t").history(8).create().unwrap();
    let s = n.subscriber::<Ping>("/t").create().unwrap();
    for i in 1..=3 {
        publish(&p, i).unwrap();
    }
    assert_eq!(s.latest().unwrap().map(|x| x.seq), Some(3));
    let peer = Peer::new(&n, "/t");
    peer.head().store(1 << 62, Ordering::Release);
    assert!(
        s.latest().unwrap().is_none(),
        "no sample behind a forged head"
    );
    assert!(s.try_recv().unwrap().is_none());
    // The publisher's next send rewrites head; the reader carries on.
    publish(&p, 4).unwrap();
    assert_eq!(s.latest().unwrap().map(|x| x.seq), Some(4));
    publish(&p, 5).unwrap();
    assert_eq!(s.try_recv().unwrap().map(|x| x.seq), Some(5));
    assert_eq!(s.dropped(), 0, "a forged head adds nothing to the losses");
    support::remove_domain(n.domain().name());
}

#[test]
fn huge_head_and_a_garbage_entry_do_not_move_a_reader_out_of_reach() {
    let n = node("hugehead2");
    let p = n.publisher::<Ping>("/t").history(8).create().unwrap();
    let s = n.subscriber::<Ping>("/t").create().unwrap();
    publish(&p, 1).unwrap();
    let peer = Peer::new(&n, "/t");
    peer.head().store(u64::MAX / 2, Ordering::Release);
    peer.ring_entry(1).store(77 << 16 | 1, Ordering::Release);
    // The garbage entry is skipped (a corrupt sample), the cursor stays
    // where the ring can reach it.
    assert!(s.try_recv().unwrap().is_none());
    for i in 2..=4 {
        publish(&p, i).unwrap();
    }
    let got: Vec<u64> = std::iter::from_fn(|| s.try_recv().unwrap().map(|x| x.seq)).collect();
    assert_eq!(got, vec![2, 3, 4]);
    assert!(s.dropped() < 8, "dropped {}", s.dropped());
    support::remove_domain(n.domain().name());
}

#[test]
fn cleared_used_lanes_word_does_not_silence_subscribers() {
    let n = node("usedlanes");
    let p = n.publisher::<Ping>("/t").history(4).create().unwrap();
    let s = n.subscriber::<Ping>("/t").history(4).create().unwrap();
    publish(&p, 1).unwrap();
    assert_eq!(s.try_recv().unwrap().map(|x| x.seq), Some(1));
    let peer = Peer::new(&n, "/t");
    peer.header().members.used_lanes.store(0, Ordering::SeqCst);
    publish(&p, 2).unwrap();
    assert_eq!(
        s.try_recv().unwrap().map(|x| x.seq),
        Some(2),
        "a subscriber that saw the lane keeps polling it"
    );
    // A subscriber that joins after the clear finds the lane again once
    // the publisher puts its bit back (at its next reclaim).
    let late = n.subscriber::<Ping>("/t").history(4).create().unwrap();
    let slots = peer.config.slots_per_lane as u64;
    for i in 3..3 + 2 * slots {
        publish(&p, i).unwrap();
    }
    assert_ne!(peer.header().members.used_lanes.load(Ordering::SeqCst), 0);
    assert!(late.latest().unwrap().is_some());
    support::remove_domain(n.domain().name());
}

#[test]
fn reliable_transient_local_joiner_is_not_overwritten_by_a_cached_minimum() {
    let n = node("joincache");
    let p = n.publisher::<Ping>("/t").history(8).create().unwrap();
    let a = n.subscriber::<Ping>("/t").reliable().create().unwrap();
    for i in 1..=10 {
        publish(&p, i).unwrap();
        assert_eq!(a.try_recv().unwrap().map(|x| x.seq), Some(i));
    }
    // The publisher now caches A's cursor (11) as the reliable minimum.
    publish(&p, 11).unwrap();
    assert_eq!(a.try_recv().unwrap().map(|x| x.seq), Some(11));
    // B joins reliable and transient-local: its cursor is behind that
    // minimum (history 4: samples 8..=11).
    let b = n
        .subscriber::<Ping>("/t")
        .reliable()
        .transient_local()
        .history(4)
        .create()
        .unwrap();
    let mut full = false;
    for i in 12..=40 {
        match publish(&p, i) {
            Ok(_) => assert_eq!(a.try_recv().unwrap().map(|x| x.seq), Some(i)),
            Err(LoanError::Full { .. }) => {
                full = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(full, "B's unread samples must hold the publisher Full");
    let got: Vec<u64> = std::iter::from_fn(|| b.try_recv().unwrap().map(|x| x.seq)).collect();
    assert_eq!(b.dropped(), 0, "B lost samples: got {got:?}");
    assert_eq!(got.first(), Some(&8));
    assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{got:?}");
    support::remove_domain(n.domain().name());
}

#[test]
fn reliable_joiner_is_seen_by_a_publisher_that_cached_no_reliable_reader() {
    let n = node("joinnone");
    let p = n.publisher::<Ping>("/t").history(4).create().unwrap();
    let a = n.subscriber::<Ping>("/t").create().unwrap();
    // Past the ring's depth with a best-effort reader only: the publisher
    // caches "no reliable reader" (it loads only `joins` per loan from now on).
    for i in 1..=10 {
        publish(&p, i).unwrap();
        assert_eq!(a.try_recv().unwrap().map(|x| x.seq), Some(i));
    }
    let b = n.subscriber::<Ping>("/t").reliable().create().unwrap();
    let mut sent = 0;
    for i in 11..=40 {
        match publish(&p, i) {
            Ok(_) => sent += 1,
            Err(LoanError::Full { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        sent, 4,
        "B's unread samples must hold the publisher Full after 4"
    );
    let got: Vec<u64> = std::iter::from_fn(|| b.try_recv().unwrap().map(|x| x.seq)).collect();
    assert_eq!(got, vec![11, 12, 13, 14]);
    assert_eq!(b.dropped(), 0);
    support::remove_domain(n.domain().name());
}

/// Holds an OFD write lock on byte 0 (the admin lock) of `path`, as a
/// creator does while it builds a segment; released when the file closes.
fn hold_admin_lock(path: &std::path::Path) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::options()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    // SAFETY: a zeroed `flock` is a valid value; the fields set below are
    // the ones F_OFD_SETLK reads.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start = 0;
    fl.l_len = 1;
    // SAFETY: `f` is an open descriptor and `fl` a valid flock.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    f
}

fn make_old(path: &std::path::Path) {
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
}

#[test]
fn clean_and_creation_apply_one_rule_to_temporary_files() {
    use axon::inspect::{clean, CleanAction, Scope};
    let n = node("tmprule");
    let dir = n.domain().dir().to_path_buf();
    let name = |i: u32| dir.join(format!("{}~tmp.999999.{i}", n.domain().prefix()));
    let (abandoned, building, recent) = (name(0), name(1), name(2));
    for path in [&abandoned, &building, &recent] {
        std::fs::write(path, b"half a segment").unwrap();
    }
    make_old(&abandoned);
    make_old(&building);
    let _creator = hold_admin_lock(&building);
    let report = clean(&dir, Scope::Domain(n.domain()), true).unwrap();
    let action = |p: &std::path::Path| report.iter().find(|e| e.path == p).map(|e| e.action);
    assert_eq!(action(&abandoned), Some(CleanAction::Removed));
    assert_eq!(
        action(&building),
        Some(CleanAction::InUse),
        "an old file its creator still holds"
    );
    assert_eq!(action(&recent), Some(CleanAction::Recent));
    assert!(abandoned.exists(), "a dry run removes nothing");
    // A creation sweeps by the same rule.
    let _p = n.publisher::<Ping>("/t").create().unwrap();
    assert!(!abandoned.exists());
    assert!(building.exists() && recent.exists());
    support::remove_domain(n.domain().name());
}

#[test]
fn temporary_file_of_a_creator_killed_before_publishing_is_removed() {
    let n = node("staletmp");
    let dir = n.domain().dir().to_path_buf();
    let stale = dir.join(format!("{}~tmp.999999.0", n.domain().prefix()));
    let fresh = dir.join(format!("{}~tmp.999999.1", n.domain().prefix()));
    for path in [&stale, &fresh] {
        std::fs::write(path, b"half a segment").unwrap();
    }
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    // The next creation in the domain sweeps what dead creators left.
    let _p = n.publisher::<Ping>("/t").create().unwrap();
    assert!(
        !stale.exists(),
        "a dead creator's temporary file is removed"
    );
    assert!(
        fresh.exists(),
        "one that may be in the making is left alone"
    );
    support::remove_domain(n.domain().name());
}

/// Takes the OFD write lock on byte `byte` of `file`, as a participant
/// holding a record does.
fn hold_record_lock(file: &std::fs::File, byte: i64) {
    use std::os::fd::AsRawFd;
    let fl = libc::flock {
        l_type: libc::F_WRLCK as i16,
        l_whence: libc::SEEK_SET as i16,
        l_start: byte,
        l_len: 1,
        l_pid: 0,
    };
    // SAFETY: `fl` is a valid flock for the duration of the call and the
    // descriptor is open; F_OFD_SETLK only reads it.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
}

/// Hostile type descriptions of `Ping`, each with what the refusal says.
fn hostile_ping_descriptions() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    use axon::desc::{Primitive, Ty};
    let good = axon::Description::of::<Ping>();
    let mut out = Vec::new();
    let mut b = good.encode();
    b[10..12].copy_from_slice(&u16::MAX.to_le_bytes()); // the struct name's length
    out.push(("length", b, "a name of 65535 bytes"));
    let mut d = good.clone();
    d.structs[0].fields[0].offset = 1 << 20;
    out.push(("offset", d.encode(), "lies outside the struct"));
    let mut d = good.clone();
    let mut deep = Ty::Primitive(Primitive::U8);
    for _ in 0..17 {
        deep = Ty::Array {
            elem: Box::new(deep),
            len: 1,
        };
    }
    d.structs[0].fields[0].ty = deep;
    out.push(("depth", d.encode(), "nest more than 16 deep"));
    let mut d = good.clone();
    d.structs[0].fields[0].ty = Ty::Struct(0);
    out.push(("cycle", d.encode(), "which is not defined before it"));
    let mut b = good.encode();
    let tag = b.len() - 5; // the root's kind: TAG_STRUCT + u32 index
    b[tag] = 9;
    out.push(("kind", b, "unknown kind 9"));
    let mut d = good.clone();
    d.structs[0].fields[0].name = "sek".into();
    out.push(("fingerprint", d.encode(), "has fingerprint"));
    let mut d = good.clone();
    d.structs[0].name = "hostile/Ping".into();
    out.push(("type name", d.encode(), "describes type \"hostile/Ping\""));
    out
}

#[test]
fn hostile_type_description_makes_the_segment_corrupted_for_typed_opens() {
    let n = node("desc");
    let path = |t: &str| n.domain().segment_path(&axon::TopicName::new(t).unwrap());
    let p = n.publisher::<Ping>("/template").create().unwrap();
    let image = std::fs::read(path("/template")).unwrap();
    drop(p);
    for (i, (what, bytes, want)) in hostile_ping_descriptions().into_iter().enumerate() {
        let topic = format!("/bad{i}");
        let forged = axon::fuzzing::with_description(&image, &bytes).unwrap();
        std::fs::write(path(&topic), forged).unwrap();
        // A live participant holds it (the lock of publisher lane 0), so a
        // typed open must refuse it, not replace it.
        let holder = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path(&topic))
            .unwrap();
        hold_record_lock(&holder, 1);
        for e in [
            n.subscriber::<Ping>(&topic).create().map(drop).unwrap_err(),
            n.publisher::<Ping>(&topic).create().map(drop).unwrap_err(),
        ] {
            assert!(
                matches!(&e, axon::OpenError::Corrupted { reason, .. }
                    if reason.starts_with("type description ") && reason.contains(want)),
                "{what}: {e}"
            );
        }
        // Once nobody holds it, a typed open replaces it like any
        // corrupted segment, and the topic works.
        drop(holder);
        let p = n.publisher::<Ping>(&topic).create().unwrap();
        let s = n.subscriber::<Ping>(&topic).create().unwrap();
        publish(&p, 5).unwrap();
        assert_eq!(s.try_recv().unwrap().map(|x| x.seq), Some(5), "{what}");
    }
    support::remove_domain(n.domain().name());
}

#[test]
fn description_too_large_for_a_segment_is_refused_at_creation() {
    // A raw creator's description that does not describe its type, and one
    // larger than a segment holds: refused before anything is created.
    let n = node("bigdesc");
    let mut desc = axon::TypeDesc::of::<Ping>();
    let mut d = desc.description.clone().unwrap();
    d.structs[0].name = "other/Name".into();
    desc.description = Some(d);
    let e = axon::RawPublisher::create(
        n.domain(),
        axon::TopicName::new("/t").unwrap(),
        &desc,
        &axon::Qos::default(),
        "n",
    )
    .unwrap_err();
    assert!(
        matches!(&e, axon::OpenError::BadDescription { reason, .. } if reason.contains("describes type")),
        "{e}"
    );
    let mut desc = axon::TypeDesc::of::<Ping>();
    let mut d = desc.description.clone().unwrap();
    // 256 structs of 1024 fields each would be far above 64 KiB; 200 of
    // 200 fields with long names are enough.
    let proto = d.structs[0].clone();
    d.structs.clear();
    for k in 0..200 {
        let mut s = proto.clone();
        s.name = format!("big/S{k:03}{}", "x".repeat(100));
        s.fields = (0..200)
            .map(|f| {
                let mut field = proto.fields[0].clone();
                field.name = format!("field_{f:03}_{}", "y".repeat(100));
                field
            })
            .collect();
        d.structs.push(s);
    }
    d.root = axon::desc::Ty::Struct(199);
    desc.description = Some(d);
    let e = axon::RawPublisher::create(
        n.domain(),
        axon::TopicName::new("/t").unwrap(),
        &desc,
        &axon::Qos::default(),
        "n",
    )
    .unwrap_err();
    assert!(
        matches!(&e, axon::OpenError::BadDescription { reason, .. } if reason.contains("more than the 65536 a segment holds")),
        "{e}"
    );
    assert!(
        !n.domain()
            .segment_path(&axon::TopicName::new("/t").unwrap())
            .exists(),
        "nothing was created"
    );
    support::remove_domain(n.domain().name());
}
