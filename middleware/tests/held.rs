//! Samples and loans detached from their endpoint's borrow (`HeldSample`,
//! `HeldLoan`: what the Python binding holds): only their own endpoint
//! reads, releases, sends or drops them.

mod support;

use axon::{Qos, TypeDesc};

#[axon::message]
#[derive(Debug, Clone, Copy)]
struct Held {
    value: u64,
}

#[test]
fn held_tokens_work_only_with_their_own_endpoint() {
    let domain = format!("held{}", std::process::id());
    let node = support::node_in(&domain, "held");
    let desc = TypeDesc::of::<Held>();
    let qos = Qos {
        max_held: 1,
        ..Qos::default()
    };
    let sub_a = node.raw_subscriber("/held", Some(&desc), &qos).unwrap();
    let sub_b = node.raw_subscriber("/held", Some(&desc), &qos).unwrap();
    let publ = node.raw_publisher("/held", &desc, &qos).unwrap();
    let other = node.raw_publisher("/other", &desc, &qos).unwrap();

    let mut loan = publ.loan_slot(0).unwrap().detach();
    assert!(
        other.held_bytes_mut(&mut loan).is_none(),
        "a foreign loan is not writable"
    );
    publ.held_bytes_mut(&mut loan)
        .unwrap()
        .copy_from_slice(&7u64.to_ne_bytes());
    let loan = other.send_held(loan).expect_err("nor sendable");
    let loan = other.drop_held(loan).expect_err("nor droppable");
    assert_eq!(publ.send_held(loan).ok(), Some(1));

    let held = sub_a.try_recv().unwrap().unwrap().detach();
    assert_eq!(sub_a.held_bytes(&held).unwrap(), &7u64.to_ne_bytes());
    assert!(
        sub_b.held_bytes(&held).is_none(),
        "a foreign sample is not readable"
    );
    // The detached sample keeps its hazard: max_held = 1 refuses another.
    publ.loan_slot(0).unwrap().send();
    assert!(sub_a.try_recv().is_err());
    let held = sub_b
        .release_held(held)
        .expect_err("nor releasable elsewhere");
    assert!(sub_a.try_recv().is_err(), "the foreign release did nothing");
    sub_a.release_held(held).unwrap();
    assert!(
        sub_a.try_recv().unwrap().is_some(),
        "the hazard is free again"
    );
    drop((sub_a, sub_b, publ, other));
    support::remove_domain(&domain);
}
