//! Samples of every standard type and of user types, each with the values
//! it holds written out by hand in ROS 2 shape (what an independent decoder
//! must find in its CDR).

#![allow(dead_code)]

use axon_message::Schema;
use axon_msgs as m;
use axon_msgs::FixedString;
use axon_ros2::View;
use serde_json::{json, Value};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// One test sample.
pub struct Case {
    pub name: &'static str,
    pub view: View,
    /// The sample as it lies in a slot.
    pub bytes: Vec<u8>,
    /// Its values, in ROS 2 shape.
    pub values: Value,
    /// Whether it is a standard type (its definitions must be ROS 2's).
    pub standard: bool,
}

fn case<T: Schema + IntoBytes + Immutable + ?Sized>(
    name: &'static str,
    sample: &T,
    values: Value,
    standard: bool,
) -> Case {
    Case {
        name,
        view: View::of::<T>().unwrap_or_else(|e| panic!("{name}: {e}")),
        bytes: sample.as_bytes().to_vec(),
        values,
        standard,
    }
}

/// A slice message with `n` trailing elements, zeroed, filled by `fill`.
fn slice_msg<T>(n: usize, fill: impl FnOnce(&mut T)) -> Vec<u8>
where
    T: FromBytes + IntoBytes + Immutable + KnownLayout<PointerMetadata = usize> + ?Sized,
{
    let len = T::size_for_metadata(n).expect("size");
    let mut buf = vec![0u64; len.div_ceil(8)];
    let t = T::mut_from_bytes(&mut buf.as_mut_bytes()[..len]).expect("view");
    fill(t);
    t.as_bytes().to_vec()
}

// ---- the values in ROS shape, from typed values ----

pub fn time(t: m::Time) -> Value {
    json!({"sec": t.sec, "nanosec": t.nanosec})
}
pub fn header(h: &m::Header) -> Value {
    json!({"stamp": time(h.stamp), "frame_id": h.frame_id.as_str()})
}
pub fn xyz(x: f64, y: f64, z: f64) -> Value {
    json!({"x": x, "y": y, "z": z})
}
pub fn vec3(v: m::Vector3) -> Value {
    xyz(v.x, v.y, v.z)
}
pub fn point(p: m::Point) -> Value {
    xyz(p.x, p.y, p.z)
}
pub fn quat(q: m::Quaternion) -> Value {
    json!({"x": q.x, "y": q.y, "z": q.z, "w": q.w})
}
pub fn pose(p: m::Pose) -> Value {
    json!({"position": point(p.position), "orientation": quat(p.orientation)})
}
pub fn twist(t: m::Twist) -> Value {
    json!({"linear": vec3(t.linear), "angular": vec3(t.angular)})
}
fn f32s(v: &[f32]) -> Value {
    v.iter().map(|x| f64::from(*x)).collect()
}

pub fn hdr(sec: i64, nanosec: u32, frame: &str) -> m::Header {
    // `seq` has no ROS counterpart: 0 so that a decoded sample is identical.
    m::Header::new(m::Time::new(sec, nanosec), frame)
}

fn cov(seed: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| seed + i as f64 * 0.25).collect()
}

/// Every standard type.
pub fn standard() -> Vec<Case> {
    let h = hdr(1_700_000_000, 123_456_789, "base_link");
    let q = m::Quaternion {
        x: 0.5,
        y: -0.5,
        z: 0.25,
        w: 0.625,
    };
    let v = m::Vector3 {
        x: 1.5,
        y: -2.25,
        z: 3.0,
    };
    let p = m::Point {
        x: -1.0,
        y: 2.0,
        z: 1e-3,
    };
    let ps = m::Pose {
        position: p,
        orientation: q,
    };
    let tw = m::Twist {
        linear: v,
        angular: m::Vector3 {
            x: 0.0,
            y: 0.125,
            z: -7.5,
        },
    };
    let mut pwc = m::PoseWithCovariance {
        pose: ps,
        ..Default::default()
    };
    pwc.covariance.copy_from_slice(&cov(0.5, 36));
    let mut twc = m::TwistWithCovariance {
        twist: tw,
        ..Default::default()
    };
    twc.covariance.copy_from_slice(&cov(-3.0, 36));
    let pwc_v = json!({"pose": pose(ps), "covariance": cov(0.5, 36)});
    let twc_v = json!({"twist": twist(tw), "covariance": cov(-3.0, 36)});

    let mut imu = m::Imu {
        header: h,
        orientation: q,
        angular_velocity: v,
        linear_acceleration: m::Vector3 {
            x: 0.0,
            y: 0.0,
            z: 9.81,
        },
        ..Default::default()
    };
    imu.orientation_covariance.copy_from_slice(&cov(1.0, 9));
    imu.angular_velocity_covariance
        .copy_from_slice(&cov(2.0, 9));
    imu.linear_acceleration_covariance[0] = -1.0;
    let mut lin_cov = vec![0.0; 9];
    lin_cov[0] = -1.0;

    let mut js = m::JointState {
        header: h,
        ..Default::default()
    };
    js.push("shoulder", 0.5, -1.25, 3.0).unwrap();
    js.push("elbow_joint", -0.75, 0.0, 12.5).unwrap();
    js.push("wrist", 1.0, 2.0, -4.0).unwrap();

    let mut bat = m::BatteryState {
        header: h,
        voltage: 12.5,
        temperature: 31.25,
        current: -1.5,
        charge: 2.75,
        capacity: 3.0,
        design_capacity: 3.5,
        percentage: 0.875,
        power_supply_status: m::BatteryState::STATUS_DISCHARGING,
        power_supply_health: m::BatteryState::HEALTH_GOOD,
        power_supply_technology: m::BatteryState::TECHNOLOGY_LION,
        present: 1,
        cell_count: 3,
        location: FixedString::new("slot-1"),
        serial_number: FixedString::new("SN-0042-ü"),
        ..Default::default()
    };
    bat.cell_voltage[..3].copy_from_slice(&[4.125, 4.0, 4.25]);
    bat.cell_temperature[..3].copy_from_slice(&[30.0, 30.5, 31.0]);

    let odom = m::Odometry {
        header: h,
        child_frame_id: FixedString::new("odom_child"),
        pose: pwc,
        twist: twc,
    };

    let tf_one = m::TransformStamped {
        header: h,
        child_frame_id: FixedString::new("laser"),
        transform: m::Transform {
            translation: v,
            rotation: q,
        },
    };
    let tf_one_v = json!({
        "header": header(&h),
        "child_frame_id": "laser",
        "transform": {"translation": vec3(v), "rotation": quat(q)},
    });
    let mut tf = m::TfMessage::default();
    tf.push(tf_one).unwrap();
    let mut tf_two = tf_one;
    tf_two.header = hdr(1_700_000_001, 5, "odom");
    tf_two.child_frame_id = FixedString::new("base_link");
    tf_two.transform.translation = m::Vector3 {
        x: -4.0,
        y: 0.5,
        z: 0.0,
    };
    tf.push(tf_two).unwrap();
    let tf_two_v = json!({
        "header": header(&tf_two.header),
        "child_frame_id": "base_link",
        "transform": {"translation": xyz(-4.0, 0.5, 0.0), "rotation": quat(q)},
    });

    let ranges = [1.5f32, 2.25, f32::MAX, 0.125, 30.0];
    let scan = slice_msg::<m::LaserScan>(ranges.len(), |s| {
        s.header = h;
        s.angle_min = -1.5;
        s.angle_max = 1.5;
        s.angle_increment = 0.75;
        s.time_increment = 0.001;
        s.scan_time = 0.1;
        s.range_min = 0.1;
        s.range_max = 30.0;
        s.ranges.copy_from_slice(&ranges);
    });
    let pixels: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7 % 256) as u8).collect();
    let image = slice_msg::<m::Image>(pixels.len(), |im| {
        im.header = h;
        im.encoding = m::Encoding::new("rgb8");
        im.height = 3;
        im.width = 4;
        im.step = 12;
        im.is_bigendian = 0;
        im.data.copy_from_slice(&pixels);
    });
    let points = [
        m::PointXyzi {
            x: 1.0,
            y: 2.0,
            z: 3.0,
            intensity: 0.5,
        },
        m::PointXyzi {
            x: -1.25,
            y: 0.0,
            z: 8.5,
            intensity: 100.0,
        },
    ];
    let cloud = slice_msg::<m::PointCloud>(points.len(), |c| {
        c.header = h;
        c.width = 2;
        c.height = 1;
        c.is_dense = 1;
        c.points.copy_from_slice(&points);
    });
    let cloud_data: Vec<u8> = points
        .iter()
        .flat_map(|p| [p.x, p.y, p.z, p.intensity])
        .flat_map(f32::to_le_bytes)
        .collect();
    let field = |name: &str, offset: u32| json!({"name": name, "offset": offset, "datatype": 7, "count": 1});
    let ts = m::Time::new(-5, 999_999_999);
    let d = m::Duration::new(-2_147_483_648, 1);

    vec![
        case("Time", &ts, time(ts), true),
        case(
            "Duration",
            &d,
            json!({"sec": d.sec, "nanosec": d.nanosec}),
            true,
        ),
        case("Header", &h, header(&h), true),
        case(
            "Text",
            &m::Text::new("hello, ROS 2 ✓"),
            json!({"data": "hello, ROS 2 ✓"}),
            true,
        ),
        case("Vector3", &v, vec3(v), true),
        case("Point", &p, point(p), true),
        case("Quaternion", &q, quat(q), true),
        case("Pose", &ps, pose(ps), true),
        case(
            "PoseStamped",
            &m::PoseStamped {
                header: h,
                pose: ps,
            },
            json!({"header": header(&h), "pose": pose(ps)}),
            true,
        ),
        case("PoseWithCovariance", &pwc, pwc_v.clone(), true),
        case("Twist", &tw, twist(tw), true),
        case(
            "TwistStamped",
            &m::TwistStamped {
                header: h,
                twist: tw,
            },
            json!({"header": header(&h), "twist": twist(tw)}),
            true,
        ),
        case("TwistWithCovariance", &twc, twc_v.clone(), true),
        case(
            "Accel",
            &m::Accel {
                linear: v,
                angular: v,
            },
            json!({"linear": vec3(v), "angular": vec3(v)}),
            true,
        ),
        case(
            "Odometry",
            &odom,
            json!({"header": header(&h), "child_frame_id": "odom_child", "pose": pwc_v, "twist": twc_v}),
            true,
        ),
        case(
            "Transform",
            &tf_one.transform,
            json!({"translation": vec3(v), "rotation": quat(q)}),
            true,
        ),
        case("TransformStamped", &tf_one, tf_one_v.clone(), true),
        case(
            "TfMessage",
            &tf,
            json!({"transforms": [tf_one_v, tf_two_v]}),
            true,
        ),
        case(
            "Imu",
            &imu,
            json!({
                "header": header(&h),
                "orientation": quat(q),
                "orientation_covariance": cov(1.0, 9),
                "angular_velocity": vec3(v),
                "angular_velocity_covariance": cov(2.0, 9),
                "linear_acceleration": xyz(0.0, 0.0, 9.81),
                "linear_acceleration_covariance": lin_cov,
            }),
            true,
        ),
        case(
            "JointState",
            &js,
            json!({
                "header": header(&h),
                "name": ["shoulder", "elbow_joint", "wrist"],
                "position": [0.5, -0.75, 1.0],
                "velocity": [-1.25, 0.0, 2.0],
                "effort": [3.0, 12.5, -4.0],
            }),
            true,
        ),
        case(
            "BatteryState",
            &bat,
            json!({
                "header": header(&h),
                "voltage": 12.5, "temperature": 31.25, "current": -1.5, "charge": 2.75,
                "capacity": 3.0, "design_capacity": 3.5, "percentage": 0.875,
                "power_supply_status": 2, "power_supply_health": 1, "power_supply_technology": 2,
                "present": true,
                "cell_voltage": f32s(&[4.125, 4.0, 4.25]),
                "cell_temperature": f32s(&[30.0, 30.5, 31.0]),
                "location": "slot-1",
                "serial_number": "SN-0042-ü",
            }),
            true,
        ),
        Case {
            name: "LaserScan",
            view: View::of::<m::LaserScan>().unwrap(),
            bytes: scan,
            values: json!({
                "header": header(&h),
                "angle_min": -1.5, "angle_max": 1.5, "angle_increment": 0.75,
                "time_increment": f64::from(0.001f32), "scan_time": f64::from(0.1f32),
                "range_min": f64::from(0.1f32), "range_max": 30.0,
                "ranges": f32s(&ranges),
                "intensities": [],
            }),
            standard: true,
        },
        Case {
            name: "Image",
            view: View::of::<m::Image>().unwrap(),
            bytes: image,
            values: json!({
                "header": header(&h), "height": 3, "width": 4, "encoding": "rgb8",
                "is_bigendian": 0, "step": 12, "data": pixels,
            }),
            standard: true,
        },
        Case {
            name: "PointCloud",
            view: View::of::<m::PointCloud>().unwrap(),
            bytes: cloud,
            values: json!({
                "header": header(&h), "height": 1, "width": 2,
                "fields": [field("x", 0), field("y", 4), field("z", 8), field("intensity", 12)],
                "is_bigendian": false, "point_step": 16, "row_step": 32,
                "data": cloud_data, "is_dense": true,
            }),
            standard: true,
        },
    ]
}

// ---- user types ----

/// Every integer and float width.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message, Clone, Copy, Default,
)]
#[repr(C)]
pub struct Inner {
    pub a: i8,
    pub b: u8,
    pub c: i16,
    pub d: u32,
    pub e: i64,
    pub f: f64,
}

/// Nested user and standard structs, arrays of structs, nested arrays,
/// strings and arrays of strings, an explicit pad, usize/isize.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message, Clone, Copy)]
#[repr(C)]
pub struct Wheel {
    pub header: m::Header,
    pub inner: Inner,
    pub inners: [Inner; 2],
    pub gains: [[f32; 3]; 2],
    pub name: FixedString<12>,
    pub names: [FixedString<8>; 2],
    pub count: u16,
    pub _pad: [u8; 6],
    pub pose: m::Pose,
    pub usz: usize,
    pub isz: isize,
}

/// A slice message of structs.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
#[repr(C)]
pub struct Track {
    pub stamp: m::Time,
    pub id: u32,
    pub _pad: [u8; 4],
    pub points: [Inner],
}

/// 128-bit integers, and a tuple struct.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message, Clone, Copy)]
#[repr(C)]
pub struct Wide(pub u128, pub [i128; 2]);

/// A slice of arrays.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
#[repr(C)]
pub struct Cloud3 {
    pub n: u32,
    pub xyz: [[f32; 3]],
}

/// A slice of strings.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
#[repr(C, packed)]
pub struct Labels {
    pub n: u8,
    pub labels: [FixedString<5>],
}

fn inner(k: i64) -> Inner {
    Inner {
        a: -3 * k as i8,
        b: 200,
        c: -30000,
        d: 4_000_000_000,
        e: -9_000_000_000_000 * k,
        f: 0.25 * k as f64,
    }
}

fn inner_v(i: Inner) -> Value {
    json!({"a": i.a, "b": i.b, "c": i.c, "d": i.d, "e": i.e, "f": i.f})
}

/// User types.
pub fn user() -> Vec<Case> {
    let h = hdr(42, 7, "wheel_fl");
    let ps = m::Pose {
        position: m::Point {
            x: 1.0,
            y: 2.0,
            z: 3.0,
        },
        orientation: m::Quaternion {
            x: 0.0,
            y: 0.0,
            z: 0.0,
            w: 1.0,
        },
    };
    let wheel = Wheel {
        header: h,
        inner: inner(1),
        inners: [inner(2), inner(3)],
        gains: [[1.0, 2.0, 3.0], [-0.5, 0.25, 8.0]],
        name: FixedString::new("front-left"),
        names: [FixedString::new("a"), FixedString::new("ünïco")],
        count: 65535,
        _pad: [0; 6],
        pose: ps,
        usz: usize::MAX,
        isz: isize::MIN,
    };
    let track_pts = [inner(4), inner(5), inner(6)];
    let track = slice_msg::<Track>(track_pts.len(), |t| {
        t.stamp = m::Time::new(9, 8);
        t.id = 77;
        t.points.copy_from_slice(&track_pts);
    });
    let wide = Wide(u128::MAX - 5, [i128::MIN + 1, -2]);
    let cloud = slice_msg::<Cloud3>(2, |c| {
        c.n = 2;
        c.xyz.copy_from_slice(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]);
    });
    let labels = slice_msg::<Labels>(3, |l| {
        l.n = 3;
        l.labels.copy_from_slice(&[
            FixedString::new("car"),
            FixedString::new(""),
            FixedString::new("bikes"),
        ]);
    });
    let le = |v: u128| v.to_le_bytes().to_vec();
    let wide_1 = [le((i128::MIN + 1) as u128), le(-2i128 as u128)].concat();
    vec![
        case(
            "Wheel",
            &wheel,
            json!({
                "header": header(&h),
                "inner": inner_v(inner(1)),
                "inners": [inner_v(inner(2)), inner_v(inner(3))],
                "gains": [1.0, 2.0, 3.0, -0.5, 0.25, 8.0],
                "name": "front-left",
                "names": ["a", "ünïco"],
                "count": 65535,
                "pose": pose(ps),
                "usz": u64::MAX,
                "isz": i64::MIN,
            }),
            false,
        ),
        Case {
            name: "Track",
            view: View::of::<Track>().unwrap(),
            bytes: track,
            values: json!({
                "stamp": time(m::Time::new(9, 8)),
                "id": 77,
                "points": track_pts.iter().map(|p| inner_v(*p)).collect::<Vec<_>>(),
            }),
            standard: false,
        },
        case(
            "Wide",
            &wide,
            json!({
                "field_0": le(u128::MAX - 5),
                "field_1": wide_1,
            }),
            false,
        ),
        Case {
            name: "Cloud3",
            view: View::of::<Cloud3>().unwrap(),
            bytes: cloud,
            values: json!({"n": 2, "xyz": [1.0, 2.0, 3.0, 4.0, 5.0, 6.5]}),
            standard: false,
        },
        Case {
            name: "Labels",
            view: View::of::<Labels>().unwrap(),
            bytes: labels,
            values: json!({"n": 3, "labels": ["car", "", "bikes"]}),
            standard: false,
        },
    ]
}

/// Every case.
pub fn all() -> Vec<Case> {
    let mut v = standard();
    v.extend(user());
    v
}
