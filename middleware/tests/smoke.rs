//! In-process checks of the API's semantics (the multi-process suite is in
//! `multiprocess.rs`; these run fast and pin down the basics).

use axon::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use axon::{Domain, LoanError, Message, Node, OpenError};

mod support;

#[derive(Debug, Clone, Copy, PartialEq, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Ping {
    seq: u64,
    value: f64,
}

#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Other {
    a: u32,
    b: u32,
}

#[derive(FromBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Blob {
    len: u64,
    data: [u8],
}

fn node(test: &str) -> Node {
    let domain = Domain::new("/dev/shm", &format!("smoke-{}-{test}", std::process::id())).unwrap();
    Node::builder("smoke").domain(domain).create().unwrap()
}

fn cleanup(node: &Node) {
    support::remove_domain(node.domain().name())
}

#[test]
fn loan_send_receive_in_order() {
    let n = node("order");
    let p = n.publisher::<Ping>("/ping").create().unwrap();
    let s = n.subscriber::<Ping>("/ping").create().unwrap();
    assert!(s.try_recv().unwrap().is_none());
    for i in 1..=5 {
        let mut l = p.loan().unwrap();
        *l = Ping {
            seq: i,
            value: i as f64 * 0.5,
        };
        assert_eq!(l.send(), i);
    }
    for i in 1..=5 {
        let got = s.try_recv().unwrap().expect("sample");
        assert_eq!(
            *got,
            Ping {
                seq: i,
                value: i as f64 * 0.5
            }
        );
        assert_eq!(got.info().seq, i);
    }
    assert!(s.try_recv().unwrap().is_none());
    cleanup(&n);
}

#[test]
fn best_effort_drops_oldest_and_counts() {
    let n = node("drops");
    let p = n.publisher::<Ping>("/d").history(4).create().unwrap();
    let s = n.subscriber::<Ping>("/d").history(4).create().unwrap();
    for i in 1..=100 {
        p.publish(&Ping { seq: i, value: 0.0 }).unwrap();
    }
    let got: Vec<u64> = std::iter::from_fn(|| s.try_recv().unwrap().map(|x| x.seq)).collect();
    assert_eq!(got, vec![97, 98, 99, 100]);
    assert_eq!(s.dropped(), 96);
    cleanup(&n);
}

#[test]
fn reliable_reports_full_instead_of_dropping() {
    let n = node("full");
    let p = n.publisher::<Ping>("/r").history(4).create().unwrap();
    let s = n
        .subscriber::<Ping>("/r")
        .history(4)
        .reliable()
        .create()
        .unwrap();
    for i in 1..=4 {
        p.publish(&Ping { seq: i, value: 0.0 }).unwrap();
    }
    assert_eq!(
        p.publish(&Ping { seq: 5, value: 0.0 }),
        Err(LoanError::Full { depth: 4 })
    );
    assert_eq!(s.try_recv().unwrap().unwrap().seq, 1);
    p.publish(&Ping { seq: 5, value: 0.0 }).unwrap();
    let got: Vec<u64> = std::iter::from_fn(|| s.try_recv().unwrap().map(|x| x.seq)).collect();
    assert_eq!(got, vec![2, 3, 4, 5]);
    assert_eq!(s.dropped(), 0);
    cleanup(&n);
}

#[test]
fn held_samples_survive_overwrites() {
    let n = node("held");
    let p = n.publisher::<Ping>("/h").history(1).create().unwrap();
    let s = n.subscriber::<Ping>("/h").history(1).create().unwrap();
    p.publish(&Ping { seq: 1, value: 1.0 }).unwrap();
    let first = s.try_recv().unwrap().unwrap();
    for i in 2..=1000 {
        p.publish(&Ping {
            seq: i,
            value: i as f64,
        })
        .unwrap();
    }
    assert_eq!(
        *first,
        Ping { seq: 1, value: 1.0 },
        "a held sample is never reused"
    );
    let second = s.try_recv().unwrap().unwrap();
    assert_eq!(second.seq, 1000);
    assert!(matches!(s.try_recv(), Ok(None)));
    drop(first);
    drop(second);
    cleanup(&n);
}

#[test]
fn latest_skips_to_newest() {
    let n = node("latest");
    let p = n.publisher::<Ping>("/l").create().unwrap();
    let s = n.subscriber::<Ping>("/l").create().unwrap();
    for i in 1..=6 {
        p.publish(&Ping { seq: i, value: 0.0 }).unwrap();
    }
    assert_eq!(s.latest().unwrap().unwrap().seq, 6);
    assert!(s.try_recv().unwrap().is_none());
    cleanup(&n);
}

#[test]
fn type_mismatch_names_both_types() {
    let n = node("types");
    let _p = n.publisher::<Ping>("/t").create().unwrap();
    let err = n.subscriber::<Other>("/t").create().unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, OpenError::TypeMismatch { .. }), "{msg}");
    assert!(msg.contains("Ping") && msg.contains("Other"), "{msg}");
    cleanup(&n);
}

#[test]
fn slice_messages_carry_their_length() {
    let n = node("slice");
    let p = n
        .publisher::<Blob>("/blob")
        .max_len(8 << 20)
        .create()
        .unwrap();
    let s = n.subscriber::<Blob>("/blob").create().unwrap();
    let mut l = p.loan_slice(5 << 20).unwrap();
    l.len = 5 << 20;
    l.data
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = (i % 251) as u8);
    l.send();
    let got = s.try_recv().unwrap().unwrap();
    assert_eq!(got.data.len(), 5 << 20);
    assert!(got
        .data
        .iter()
        .enumerate()
        .all(|(i, b)| *b == (i % 251) as u8));
    assert!(matches!(
        p.loan_slice((8 << 20) + 1),
        Err(LoanError::TooLarge { .. })
    ));
    cleanup(&n);
}

#[test]
fn bad_names_and_qos_are_refused() {
    let n = node("bad");
    assert!(matches!(
        n.publisher::<Ping>("/a b").create(),
        Err(OpenError::InvalidName(_))
    ));
    assert!(matches!(
        n.publisher::<Ping>("/x").history(0).create(),
        Err(OpenError::InvalidQos(_))
    ));
    let missing = Domain::new("/nonexistent-axon-dir", "x").unwrap();
    let n2 = Node::builder("smoke").domain(missing).create().unwrap();
    let err = n2.publisher::<Ping>("/x").create().unwrap_err();
    assert!(matches!(err, OpenError::NoShm { .. }), "{err}");
    cleanup(&n);
}

#[test]
fn too_many_subscribers() {
    let n = node("many");
    let _p = n
        .publisher::<Ping>("/m")
        .max_subscribers(2)
        .create()
        .unwrap();
    let _a = n.subscriber::<Ping>("/m").create().unwrap();
    let _b = n.subscriber::<Ping>("/m").create().unwrap();
    let err = n.subscriber::<Ping>("/m").create().unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::TooManyParticipants {
                kind: "subscribers",
                max: 2,
                ..
            }
        ),
        "{err}"
    );
    cleanup(&n);
}
