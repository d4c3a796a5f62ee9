//! The type descriptions `#[derive(Message)]` writes agree with the
//! compiler's layout and with the fingerprints, for every standard type.

use axon_message::desc::{Description, Primitive, Ty};
use axon_message::{Message, Schema};
use axon_msgs::*;
use zerocopy::KnownLayout;

/// The description of `T` (sized): its fingerprint is `T::FINGERPRINT`, its
/// size and alignment the compiler's, it survives encoding, and every
/// field's bytes lie inside the struct.
fn check_sized<T: Message>() -> Description {
    let d = Description::of::<T>();
    d.validate().unwrap();
    assert_eq!(d.fingerprint(), T::FINGERPRINT, "{}", T::TYPE_NAME);
    assert_eq!(d.type_name(), T::TYPE_NAME);
    assert_eq!(d.size_of(&d.root), core::mem::size_of::<T>() as u64);
    assert_eq!(d.align_of(&d.root), core::mem::align_of::<T>() as u64);
    assert_eq!(Description::decode(&d.encode()).unwrap(), d);
    assert!(!d.is_slice());
    d
}

/// The description of a slice message: as for a sized one, and the fixed
/// part's size and the element size give zerocopy's sample sizes.
fn check_slice<T: Message + KnownLayout<PointerMetadata = usize> + ?Sized>() -> Description {
    let d = Description::of::<T>();
    d.validate().unwrap();
    assert_eq!(d.fingerprint(), T::FINGERPRINT, "{}", T::TYPE_NAME);
    assert_eq!(Description::decode(&d.encode()).unwrap(), d);
    assert!(d.is_slice());
    let s = d.root_struct().unwrap();
    let tail = s.fields.last().unwrap();
    let Ty::Slice { elem } = &tail.ty else {
        panic!("{}: last field is not the slice", T::TYPE_NAME)
    };
    assert_eq!(tail.offset, s.size);
    let elem = d.size_of(elem) as usize;
    let align = s.align as usize;
    for n in [0usize, 1, 2, 3, 7, 640] {
        let unpadded = s.size as usize + n * elem;
        assert_eq!(
            T::size_for_metadata(n).unwrap(),
            unpadded.div_ceil(align) * align,
            "{} with {n} elements",
            T::TYPE_NAME
        );
    }
    d
}

#[test]
fn every_standard_type_is_described_as_the_compiler_lays_it_out() {
    check_sized::<Time>();
    check_sized::<Duration>();
    check_sized::<Header>();
    check_sized::<Text>();
    check_sized::<Vector3>();
    check_sized::<Point>();
    check_sized::<Quaternion>();
    check_sized::<Pose>();
    check_sized::<PoseStamped>();
    check_sized::<PoseWithCovariance>();
    check_sized::<Twist>();
    check_sized::<TwistStamped>();
    check_sized::<TwistWithCovariance>();
    check_sized::<Accel>();
    check_sized::<Odometry>();
    check_sized::<Imu>();
    check_sized::<JointState>();
    check_sized::<Transform>();
    check_sized::<TransformStamped>();
    check_sized::<TfMessage>();
    check_sized::<BatteryState>();
    check_sized::<PointXyzi>();
    check_slice::<LaserScan>();
    check_slice::<Image>();
    check_slice::<PointCloud>();
}

#[test]
fn fixed_strings_are_described_as_strings() {
    let d = check_sized::<FixedString<60>>();
    assert_eq!(d.root, Ty::String { capacity: 60 });
    check_sized::<FixedString<28>>();
}

#[test]
fn header_fields_padding_and_nesting() {
    let d = check_sized::<Imu>();
    let imu = d.root_struct().unwrap();
    let names: Vec<_> = imu.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "header",
            "orientation",
            "orientation_covariance",
            "angular_velocity",
            "angular_velocity_covariance",
            "linear_acceleration",
            "linear_acceleration_covariance"
        ]
    );
    let Ty::Struct(h) = imu.fields[0].ty else {
        panic!("header is a struct")
    };
    let header = &d.structs[h];
    assert_eq!(header.name, Header::TYPE_NAME);
    assert_eq!(header.fields[1].ty, Ty::String { capacity: 60 });
    // Time's `_pad` is padding; its `sec` is not.
    let Ty::Struct(t) = header.fields[0].ty else {
        panic!("stamp is a struct")
    };
    let time = &d.structs[t];
    assert!(time.fields.iter().any(|f| f.name == "_pad" && f.padding));
    assert!(time.fields.iter().any(|f| f.name == "sec" && !f.padding));
    // Vector3 appears three times in Imu but once in the table.
    let vectors = d
        .structs
        .iter()
        .filter(|s| s.name == Vector3::TYPE_NAME)
        .count();
    assert_eq!(vectors, 1);
    assert_eq!(
        imu.fields[2].ty,
        Ty::Array {
            elem: Box::new(Ty::Primitive(Primitive::F64)),
            len: 9
        }
    );
}

#[test]
fn plain_numbers_and_byte_slices_are_described() {
    assert_eq!(check_sized::<u64>().root, Ty::Primitive(Primitive::U64));
    check_sized::<[f32; 3]>();
    let bytes = Description::of::<[u8]>();
    assert!(bytes.is_slice());
    assert_eq!(bytes.fingerprint(), <[u8]>::FINGERPRINT);
}

mod user {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
    #[repr(C)]
    pub struct Samples {
        pub count: u64,
        pub data: [u64],
    }

    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
    #[repr(C, packed)]
    pub struct Blob {
        pub stamp: u64,
        pub flag: u8,
        pub data: [u32],
    }

    #[derive(FromBytes, KnownLayout, Immutable, axon_derive::Message)]
    #[repr(C)]
    pub struct Padded {
        pub tag: u8,
        pub data: [u64],
    }

    #[derive(FromBytes, KnownLayout, Immutable, axon_derive::Message)]
    #[repr(C, align(32))]
    pub struct Wide {
        pub tag: u16,
        pub data: [u16],
    }

    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
    #[repr(C)]
    pub struct Pair(pub u32, pub u32);

    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
    #[repr(C, align(64))]
    pub struct Nested {
        pub pairs: [Pair; 3],
        pub name: axon_msgs::FixedString<12>,
        pub _pad: [u8; 24],
    }

    #[derive(FromBytes, KnownLayout, Immutable, axon_derive::Message)]
    #[repr(C)]
    pub struct OnlySlice {
        pub items: [Pair],
    }
}

#[test]
fn user_slice_messages_of_every_repr_match_zerocopy() {
    check_slice::<user::Samples>();
    let blob = check_slice::<user::Blob>();
    assert_eq!(blob.root_struct().unwrap().size, 9);
    let padded = check_slice::<user::Padded>();
    assert_eq!(padded.root_struct().unwrap().size, 8);
    let wide = check_slice::<user::Wide>();
    assert_eq!(wide.root_struct().unwrap().align, 32);
    check_slice::<user::OnlySlice>();
}

#[test]
fn user_sized_messages_with_tuples_arrays_strings_and_align() {
    let d = check_sized::<user::Nested>();
    let nested = d.root_struct().unwrap();
    assert_eq!(nested.fields[0].name, "pairs");
    assert_eq!(nested.fields[1].ty, Ty::String { capacity: 12 });
    assert!(nested.fields[2].padding);
    let pair = check_sized::<user::Pair>();
    assert_eq!(pair.root_struct().unwrap().fields[1].name, "1");
}
