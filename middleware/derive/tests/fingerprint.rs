//! Fingerprints change with the layout and only with the layout.

use axon_derive::Message;
use axon_message::{Fingerprint, Schema};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

// Every module defines a struct named `Pose` with the same type name, so only
// the layout can tell them apart.
mod original {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    #[axon(name = "test/Pose")]
    pub struct Pose {
        pub x: f64,
        pub y: f64,
        pub yaw: f32,
        pub flags: u32,
    }
}

mod identical {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    #[axon(name = "test/Pose")]
    pub struct Pose {
        pub x: f64,
        pub y: f64,
        pub yaw: f32,
        pub flags: u32,
    }
}

mod renamed {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    #[axon(name = "test/Pose")]
    pub struct Pose {
        pub x: f64,
        pub y: f64,
        pub theta: f32,
        pub flags: u32,
    }
}

mod reordered {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    #[axon(name = "test/Pose")]
    pub struct Pose {
        pub y: f64,
        pub x: f64,
        pub yaw: f32,
        pub flags: u32,
    }
}

mod retyped {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    #[axon(name = "test/Pose")]
    pub struct Pose {
        pub x: f64,
        pub y: f64,
        pub yaw: f32,
        pub flags: i32,
    }
}

mod realigned {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C, align(32))]
    #[axon(name = "test/Pose")]
    pub struct Pose {
        pub x: f64,
        pub y: f64,
        pub yaw: f32,
        pub flags: u32,
        pub _pad: [u8; 8],
    }
}

mod padded {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    #[axon(name = "test/Pose")]
    pub struct Pose {
        pub x: f64,
        pub y: f64,
        pub yaw: f32,
        pub flags: u32,
        pub _pad: [u8; 8],
    }
}

mod renamed_type {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    #[axon(name = "test/Pose2D")]
    pub struct Pose {
        pub x: f64,
        pub y: f64,
        pub yaw: f32,
        pub flags: u32,
    }
}

#[test]
fn identical_definitions_agree() {
    assert_eq!(original::Pose::FINGERPRINT, identical::Pose::FINGERPRINT);
    assert_eq!(original::Pose::TYPE_NAME, identical::Pose::TYPE_NAME);
}

#[test]
fn layout_changes_change_the_fingerprint() {
    let variants = [
        ("original", original::Pose::FINGERPRINT),
        ("renamed field", renamed::Pose::FINGERPRINT),
        ("reordered fields", reordered::Pose::FINGERPRINT),
        ("retyped field", retyped::Pose::FINGERPRINT),
        ("over-aligned", realigned::Pose::FINGERPRINT),
        ("added field", padded::Pose::FINGERPRINT),
        ("renamed type", renamed_type::Pose::FINGERPRINT),
    ];
    for (i, (a, fa)) in variants.iter().enumerate() {
        for (b, fb) in &variants[i + 1..] {
            assert_ne!(fa, fb, "{a} and {b} have the same fingerprint");
        }
    }
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Inner {
    a: u32,
    b: u32,
}

mod inner_changed {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    #[axon(name = "axon-derive/Inner")]
    pub struct Inner {
        pub a: u32,
        pub c: u32,
    }
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
#[axon(name = "test/Outer")]
struct Outer {
    inner: Inner,
}

mod outer_with_changed_inner {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    #[axon(name = "test/Outer")]
    pub struct Outer {
        pub inner: inner_changed::Inner,
    }
}

#[test]
fn a_nested_change_reaches_the_outer_fingerprint() {
    assert_eq!(Inner::TYPE_NAME, inner_changed::Inner::TYPE_NAME);
    assert_ne!(Inner::FINGERPRINT, inner_changed::Inner::FINGERPRINT);
    assert_ne!(
        Outer::FINGERPRINT,
        outer_with_changed_inner::Outer::FINGERPRINT
    );
}

#[test]
fn default_type_name_is_package_slash_ident() {
    assert_eq!(Inner::TYPE_NAME, "axon-derive/Inner");
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
#[axon(name = "test/Pair")]
struct PairTuple(u32, u32);

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
#[axon(name = "test/Pair")]
struct PairTupleSwapped(u32, i32);

#[test]
fn tuple_structs_hash_their_indices() {
    let expected = Fingerprint::new()
        .str("struct")
        .str("test/Pair")
        .u64(2)
        .str("0")
        .u64(u32::FINGERPRINT)
        .u64(0)
        .str("1")
        .u64(u32::FINGERPRINT)
        .u64(4)
        .u64(8)
        .u64(4)
        .finish();
    assert_eq!(PairTuple::FINGERPRINT, expected);
    assert_ne!(PairTuple::FINGERPRINT, PairTupleSwapped::FINGERPRINT);
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
#[axon(name = "test/Empty")]
struct Empty;

#[test]
fn unit_structs_are_accepted() {
    let expected = Fingerprint::new()
        .str("struct")
        .str("test/Empty")
        .u64(0)
        .u64(0)
        .u64(1)
        .finish();
    assert_eq!(Empty::FINGERPRINT, expected);
}

mod bytes_slice {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C, packed)]
    #[axon(name = "test/Blob")]
    pub struct Blob {
        pub len: u64,
        pub data: [u8],
    }
}

mod words_slice {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    #[axon(name = "test/Blob")]
    pub struct Blob {
        pub len: u64,
        pub data: [u64],
    }
}

mod renamed_slice {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C, packed)]
    #[axon(name = "test/Blob")]
    pub struct Blob {
        pub len: u64,
        pub bytes: [u8],
    }
}

mod identical_slice {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C, packed)]
    #[axon(name = "test/Blob")]
    pub struct Blob {
        pub len: u64,
        pub data: [u8],
    }
}

#[test]
fn slice_messages_hash_the_element_type_and_name() {
    assert_eq!(
        bytes_slice::Blob::FINGERPRINT,
        identical_slice::Blob::FINGERPRINT
    );
    assert_ne!(
        bytes_slice::Blob::FINGERPRINT,
        words_slice::Blob::FINGERPRINT
    );
    assert_ne!(
        bytes_slice::Blob::FINGERPRINT,
        renamed_slice::Blob::FINGERPRINT
    );
}

#[test]
fn slice_messages_view_bytes_in_place() {
    let raw = [7u64, 1, 2, 3];
    let blob = words_slice::Blob::ref_from_bytes(raw.as_bytes()).unwrap();
    assert_eq!(blob.len, 7);
    assert_eq!(&blob.data, &[1, 2, 3]);
}

#[test]
fn packed_byte_slices_view_bytes_in_place() {
    let mut raw = 5u64.to_ne_bytes().to_vec();
    raw.extend_from_slice(b"abc");
    let blob = bytes_slice::Blob::ref_from_bytes(&raw).unwrap();
    assert_eq!({ blob.len }, 5);
    assert_eq!(&blob.data, b"abc");
}

// A sized struct that only differs in having a sized array where the other
// has a slice must not collide either.
mod array_not_slice {
    use super::*;
    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
    #[repr(C)]
    #[axon(name = "test/Blob")]
    pub struct Blob {
        pub len: u64,
        pub data: [u64; 0],
    }
}

#[test]
fn arrays_and_slices_differ() {
    assert_ne!(
        array_not_slice::Blob::FINGERPRINT,
        words_slice::Blob::FINGERPRINT
    );
}

#[test]
fn fingerprints_are_usable_in_const_context() {
    const F: u64 = original::Pose::FINGERPRINT;
    assert_eq!(F, original::Pose::FINGERPRINT);
}

#[test]
fn slice_message_sequence_is_pinned() {
    let expected = Fingerprint::new()
        .str("struct")
        .str("test/Blob")
        .u64(2)
        .str("len")
        .u64(u64::FINGERPRINT)
        .u64(0)
        .str("data")
        .u64(<[u64]>::FINGERPRINT)
        .u64(8)
        .str("slice")
        .finish();
    assert_eq!(words_slice::Blob::FINGERPRINT, expected);
}
