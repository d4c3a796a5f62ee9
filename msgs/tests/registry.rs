//! The registry knows every type, with distinct fingerprints, and never
//! panics on bad bytes.

use std::collections::HashSet;

use axon_message::Schema;
use axon_msgs::registry::{self, DecodeError, TypeLayout};
use axon_msgs::*;

#[test]
fn every_type_is_listed_once_with_a_distinct_fingerprint() {
    let all = registry::all();
    assert_eq!(all.len(), 25);
    let names: HashSet<_> = all.iter().map(|t| t.type_name).collect();
    let prints: HashSet<_> = all.iter().map(|t| t.fingerprint).collect();
    assert_eq!(names.len(), all.len());
    assert_eq!(prints.len(), all.len());
    for info in all {
        assert!(
            info.type_name.starts_with("axon-msgs/"),
            "{}",
            info.type_name
        );
        assert_eq!(
            registry::by_fingerprint(info.fingerprint)
                .unwrap()
                .type_name,
            info.type_name
        );
    }
}

#[test]
fn look_up_by_name() {
    let imu = registry::describe(Imu::TYPE_NAME).unwrap();
    assert_eq!(imu.type_name, "axon-msgs/Imu");
    assert_eq!(imu.fingerprint, Imu::FINGERPRINT);
    assert_eq!(imu.layout, TypeLayout::Sized { size: 384 });
    assert!(registry::describe("axon-msgs/Nope").is_none());
    assert!(matches!(
        registry::decode("std_msgs/String", b"hi"),
        Err(DecodeError::UnknownType { .. })
    ));
}

#[test]
fn point_and_vector_differ_only_by_name_but_still_differ() {
    assert_ne!(Point::FINGERPRINT, Vector3::FINGERPRINT);
    assert_ne!(Twist::FINGERPRINT, Accel::FINGERPRINT);
    assert_ne!(Time::FINGERPRINT, Duration::FINGERPRINT);
}

#[test]
fn short_long_and_garbage_bytes_are_errors() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
    for info in registry::all() {
        let min = info.layout.size_for(0).unwrap();
        for len in [0, 1, min.saturating_sub(1)] {
            if len < min {
                let err = info.decode(&garbage[..len]).unwrap_err();
                assert!(
                    matches!(err, DecodeError::WrongSize { .. }),
                    "{}: {err}",
                    info.type_name
                );
                assert!(err.to_string().contains(info.type_name));
            }
        }
        match info.layout {
            TypeLayout::Sized { size } => {
                assert!(info.decode(&garbage[..size + 1]).is_err());
                // Garbage of the right size is a value (any bit pattern is),
                // and must print without panicking.
                info.decode(&garbage[..size]).unwrap();
            }
            TypeLayout::Slice { element_size, .. } => {
                if element_size > 1 {
                    let odd = info.layout.size_for(3).unwrap() + 1;
                    assert!(info.decode(&garbage[..odd]).is_err(), "{}", info.type_name);
                }
                for n in [0, 5] {
                    let size = info.layout.size_for(n).unwrap();
                    info.decode(&garbage[..size]).unwrap();
                    info.decode(&garbage[1..size + 1]).unwrap();
                }
            }
        }
    }
}
