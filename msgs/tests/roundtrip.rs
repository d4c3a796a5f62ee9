//! Every message survives bytes -> value -> bytes, and every sized one
//! value -> JSON -> value; the registry prints what serde prints.

use std::fmt::Debug;

use axon_message::Message;
use axon_msgs::registry::{self, TypeLayout};
use axon_msgs::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use zerocopy::{FromBytes, IntoBytes, KnownLayout};

/// Bytes `0, 1, 2, ...`: no type here rejects any bit pattern.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn bytes_round_trip<T: Message + IntoBytes + Debug>() {
    let raw = pattern(size_of::<T>());
    let value = T::read_from_bytes(&raw).unwrap();
    assert_eq!(value.as_bytes(), &raw[..], "{}", T::TYPE_NAME);
}

fn value_round_trip<T: Message + IntoBytes + Serialize + DeserializeOwned + PartialEq + Debug>(
    value: T,
) {
    let json = serde_json::to_value(&value).unwrap();
    let back: T = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("{}: {e} in {json}", T::TYPE_NAME));
    assert_eq!(back, value);
    assert_eq!(T::read_from_bytes(value.as_bytes()).unwrap(), value);
    let info = registry::describe(T::TYPE_NAME).unwrap();
    assert_eq!(
        info.decode(value.as_bytes()).unwrap(),
        json,
        "{}",
        T::TYPE_NAME
    );
}

fn header() -> Header {
    Header {
        stamp: Time::new(1_700_000_000, 5),
        frame_id: FrameId::new("base_link"),
        seq: 42,
    }
}

fn pose() -> Pose {
    Pose {
        position: Point {
            x: 1.0,
            y: -2.0,
            z: 0.5,
        },
        orientation: Quaternion::from_yaw(0.3),
    }
}

fn twist() -> Twist {
    Twist {
        linear: Vector3 {
            x: 0.5,
            y: 0.0,
            z: 0.0,
        },
        angular: Vector3 {
            x: 0.0,
            y: 0.0,
            z: 0.1,
        },
    }
}

fn covariance() -> [f64; 36] {
    core::array::from_fn(|i| i as f64 / 10.0)
}

#[test]
fn sized_types_round_trip_bytes() {
    bytes_round_trip::<Time>();
    bytes_round_trip::<Duration>();
    bytes_round_trip::<Header>();
    bytes_round_trip::<Text>();
    bytes_round_trip::<Vector3>();
    bytes_round_trip::<Point>();
    bytes_round_trip::<Quaternion>();
    bytes_round_trip::<Pose>();
    bytes_round_trip::<PoseStamped>();
    bytes_round_trip::<PoseWithCovariance>();
    bytes_round_trip::<Twist>();
    bytes_round_trip::<TwistStamped>();
    bytes_round_trip::<TwistWithCovariance>();
    bytes_round_trip::<Accel>();
    bytes_round_trip::<Odometry>();
    bytes_round_trip::<Imu>();
    bytes_round_trip::<JointState>();
    bytes_round_trip::<TransformStamped>();
    bytes_round_trip::<TfMessage>();
    bytes_round_trip::<BatteryState>();
    bytes_round_trip::<PointXyzi>();
    bytes_round_trip::<FrameId>();
}

#[test]
fn sized_types_round_trip_values() {
    value_round_trip(Time::new(12, 345));
    value_round_trip(Duration::from_nanos(-1_500_000_000));
    value_round_trip(header());
    value_round_trip(Text::new("hello, robot"));
    value_round_trip(Vector3 {
        x: 1.0,
        y: 2.0,
        z: 3.0,
    });
    value_round_trip(pose().position);
    value_round_trip(pose().orientation);
    value_round_trip(pose());
    value_round_trip(PoseStamped {
        header: header(),
        pose: pose(),
    });
    value_round_trip(PoseWithCovariance {
        pose: pose(),
        covariance: covariance(),
    });
    value_round_trip(twist());
    value_round_trip(TwistStamped {
        header: header(),
        twist: twist(),
    });
    value_round_trip(TwistWithCovariance {
        twist: twist(),
        covariance: covariance(),
    });
    value_round_trip(Accel {
        linear: twist().angular,
        angular: twist().linear,
    });
    value_round_trip(Odometry {
        header: header(),
        child_frame_id: FrameId::new("base_footprint"),
        pose: PoseWithCovariance {
            pose: pose(),
            covariance: covariance(),
        },
        twist: TwistWithCovariance {
            twist: twist(),
            covariance: covariance(),
        },
    });
    value_round_trip(Imu {
        header: header(),
        orientation: Quaternion::from_yaw(1.0),
        orientation_covariance: [0.01, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.01],
        angular_velocity: twist().angular,
        angular_velocity_covariance: [-1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        linear_acceleration: Vector3 {
            x: 0.0,
            y: 0.0,
            z: 9.81,
        },
        linear_acceleration_covariance: [0.0; 9],
    });
    let mut joints = JointState {
        header: header(),
        ..Default::default()
    };
    joints.push("shoulder", 0.1, 0.2, 0.3).unwrap();
    joints.push("elbow", -1.0, 0.0, 2.5).unwrap();
    value_round_trip(joints);
    value_round_trip(BatteryState {
        header: header(),
        voltage: 24.1,
        current: -3.5,
        percentage: 0.8,
        power_supply_status: BatteryState::STATUS_DISCHARGING,
        present: 1,
        cell_count: 2,
        cell_voltage: core::array::from_fn(|i| if i < 2 { 4.1 } else { 0.0 }),
        location: FrameId::new("rear bay"),
        serial_number: FixedString::new("SN-0042"),
        ..Default::default()
    });
    value_round_trip(PointXyzi {
        x: 1.0,
        y: 2.0,
        z: 3.0,
        intensity: 100.0,
    });
}

/// A slice message of `elements` elements built from patterned bytes.
fn slice_round_trip<T>(elements: usize) -> usize
where
    T: Message + IntoBytes + KnownLayout<PointerMetadata = usize> + ?Sized,
{
    let len = T::size_for_metadata(elements).unwrap();
    // 8-aligned storage, as a topic's slots are.
    let mut storage = vec![0u64; len.div_ceil(8)];
    let raw = &mut storage.as_mut_bytes()[..len];
    raw.copy_from_slice(&pattern(len));
    let value = T::ref_from_bytes(raw).unwrap();
    assert_eq!(value.as_bytes(), &pattern(len)[..], "{}", T::TYPE_NAME);
    len
}

#[test]
fn slice_types_round_trip_bytes() {
    for n in [0, 1, 2, 3, 7, 100] {
        assert_eq!(slice_round_trip::<LaserScan>(n), 116 + 4 * n);
        assert_eq!(slice_round_trip::<Image>(n), 136 + n);
        assert_eq!(slice_round_trip::<PointCloud>(n), 104 + 16 * n);
    }
}

#[test]
fn sizes_are_as_documented() {
    assert_eq!(size_of::<Time>(), 16);
    assert_eq!(size_of::<Header>(), 88);
    assert_eq!(size_of::<Text>(), 256);
    assert_eq!(size_of::<Imu>(), 384);
    assert_eq!(size_of::<Odometry>(), 832);
    assert_eq!(size_of::<JointState>(), 1888);
    assert_eq!(size_of::<Transform>(), 56);
    assert_eq!(size_of::<TransformStamped>(), 208);
    assert_eq!(size_of::<TfMessage>(), 3336);
    assert_eq!(size_of::<BatteryState>(), 384);
    assert_eq!(
        registry::describe("axon-msgs/Image").unwrap().layout,
        TypeLayout::Slice {
            header_size: 136,
            element_size: 1
        }
    );
}

/// A laser scan of three beams in 8-aligned memory.
fn scan_bytes() -> Vec<u64> {
    let len = LaserScan::size_for_metadata(3).unwrap();
    let mut storage = vec![0u64; len.div_ceil(8)];
    let scan = LaserScan::mut_from_bytes(&mut storage.as_mut_bytes()[..len]).unwrap();
    scan.header = header();
    scan.angle_min = -1.0;
    scan.angle_max = 1.0;
    scan.angle_increment = 1.0;
    scan.range_min = 0.1;
    scan.range_max = 10.0;
    scan.ranges.copy_from_slice(&[0.5, f32::INFINITY, 2.0]);
    storage
}

#[test]
fn laser_scan_helpers_and_json() {
    let storage = scan_bytes();
    let len = LaserScan::size_for_metadata(3).unwrap();
    let bytes = &storage.as_bytes()[..len];
    let scan = LaserScan::ref_from_bytes(bytes).unwrap();
    assert_eq!(scan.header.frame_id.as_str(), "base_link");
    assert_eq!(
        scan.valid_points().collect::<Vec<_>>(),
        [(-1.0, 0.5), (1.0, 2.0)]
    );
    let json = registry::decode("axon-msgs/LaserScan", bytes).unwrap();
    assert_eq!(json["header"]["frame_id"], "base_link");
    assert_eq!(json["angle_min"], -1.0);
    assert_eq!(json["ranges"], json!([0.5, null, 2.0]));
}

#[test]
fn registry_decodes_misaligned_slice_messages() {
    let storage = scan_bytes();
    let len = LaserScan::size_for_metadata(3).unwrap();
    let mut shifted = vec![0u8; len + 1];
    shifted[1..].copy_from_slice(&storage.as_bytes()[..len]);
    let json = registry::decode("axon-msgs/LaserScan", &shifted[1..]).unwrap();
    assert_eq!(json["ranges"][0], 0.5);
}

#[test]
fn image_helpers_and_json() {
    let len = Image::size_for_metadata(2 * 3 * 3 + 1).unwrap();
    let mut storage = vec![0u64; len.div_ceil(8)];
    let image = Image::mut_from_bytes(&mut storage.as_mut_bytes()[..len]).unwrap();
    image.header = header();
    image.encoding = Encoding::new(encodings::RGB8);
    (image.width, image.height, image.step) = (2, 3, 6);
    for (i, b) in image.data.iter_mut().enumerate() {
        *b = i as u8;
    }
    assert_eq!(image.pixels().len(), 18);
    assert_eq!(image.row(1), Some(&[6, 7, 8, 9, 10, 11][..]));
    assert_eq!(image.row(3), None);
    assert_eq!(encodings::bytes_per_pixel(image.encoding()), Some(3));
    let json = serde_json::to_value(&*image).unwrap();
    assert_eq!(json["encoding"], "rgb8");
    assert_eq!(json["width"], 2);
    assert_eq!(json["data"].as_array().unwrap().len(), 19);
}

#[test]
fn image_with_hostile_sizes_does_not_panic() {
    let len = Image::size_for_metadata(4).unwrap();
    let mut storage = vec![0xffu8; len];
    let image = Image::mut_from_bytes(&mut storage).unwrap();
    assert_eq!(image.pixels().len(), 4);
    assert_eq!(image.row(u32::MAX - 1), None);
    assert_eq!(image.row(0), None); // a row of u32::MAX bytes does not fit
    let _ = serde_json::to_string(&*image).unwrap();
}

#[test]
fn point_cloud_helpers_and_json() {
    let len = PointCloud::size_for_metadata(4).unwrap();
    let mut storage = vec![0u64; len.div_ceil(8)];
    let cloud = PointCloud::mut_from_bytes(&mut storage.as_mut_bytes()[..len]).unwrap();
    (cloud.width, cloud.height) = (2, 2);
    for (i, p) in cloud.points.iter_mut().enumerate() {
        p.x = i as f32;
    }
    assert!(cloud.is_organized());
    assert_eq!(cloud.at(1, 1).unwrap().x, 3.0);
    assert_eq!(cloud.at(2, 0), None);
    let json = serde_json::to_value(&*cloud).unwrap();
    assert_eq!(
        json["points"][1],
        json!({"x": 1.0, "y": 0.0, "z": 0.0, "intensity": 0.0})
    );
}
