//! The standard messages: which ROS 2 type each `axon-msgs` type is, and
//! where each ROS field's value lives in the axon layout.
//!
//! The table is data: every ROS field, in the ROS definition's order (the
//! order of the CDR bytes), names its [`Src`]. The ROS type of a field
//! follows from its source (a [`Src::Field`] takes the ROS type of the axon
//! field's type, so `[f64; 9]` is `float64[9]` and a nested `Header` is
//! `std_msgs/Header`). The tests compare the result with the real ROS 2
//! definitions (the published RIHS01 hashes, and the definitions the
//! Python `rosbags` package ships).
//!
//! A struct is standard only if both its name and its fingerprint are the
//! `axon-msgs` type's: a same-named type of another layout maps like any
//! user type.

use axon_message::Schema;
use axon_msgs as m;

use crate::view::RosPrim;

/// Where a ROS field's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Src {
    /// The axon field of this name, converted by its type.
    Field(&'static str),
    /// The first `count` entries of the fixed array `field`, as a sequence.
    Counted {
        field: &'static str,
        count: &'static str,
    },
    /// An `i64` field sent as `int32` (out of range is an encode error).
    NarrowI32(&'static str),
    /// A `u8` field sent as `bool` (non-zero is true).
    Bool(&'static str),
    /// A sequence axon has no data for: always empty.
    Empty(RosPrim),
    /// A constant `uint32`.
    ConstU32(u32),
    /// A constant `bool`.
    ConstBool(bool),
    /// `width * point_step`.
    RowStep {
        width: &'static str,
        point_step: u32,
    },
    /// The `PointField`s describing [`m::PointXyzi`] ([`PCL_FIELDS`]).
    PointFields,
    /// The trailing slice's bytes as `uint8[]`.
    SliceBytes(&'static str),
}

/// One standard type.
pub(crate) struct StdType {
    pub axon: &'static str,
    pub fingerprint: u64,
    pub ros: &'static str,
    pub fields: &'static [(&'static str, Src)],
}

/// `sensor_msgs/PointField` entries of a [`m::PointCloud`]: name, byte
/// offset in the point, datatype (7 = `FLOAT32`), count.
pub(crate) const PCL_FIELDS: [(&str, u32, u8, u32); 4] = [
    ("x", 0, 7, 1),
    ("y", 4, 7, 1),
    ("z", 8, 7, 1),
    ("intensity", 12, 7, 1),
];

const fn ty<T: Schema + ?Sized>(
    ros: &'static str,
    fields: &'static [(&'static str, Src)],
) -> StdType {
    StdType {
        axon: T::TYPE_NAME,
        fingerprint: T::FINGERPRINT,
        ros,
        fields,
    }
}

use Src::*;

const XYZ: &[(&str, Src)] = &[("x", Field("x")), ("y", Field("y")), ("z", Field("z"))];
const LIN_ANG: &[(&str, Src)] = &[("linear", Field("linear")), ("angular", Field("angular"))];
const SEC_NANOSEC: &[(&str, Src)] = &[("sec", NarrowI32("sec")), ("nanosec", Field("nanosec"))];

/// Every standard type.
pub(crate) static TABLE: &[StdType] = &[
    ty::<m::Time>("builtin_interfaces/msg/Time", SEC_NANOSEC),
    ty::<m::Duration>("builtin_interfaces/msg/Duration", SEC_NANOSEC),
    // `seq` has no counterpart.
    ty::<m::Header>(
        "std_msgs/msg/Header",
        &[("stamp", Field("stamp")), ("frame_id", Field("frame_id"))],
    ),
    ty::<m::Text>("std_msgs/msg/String", &[("data", Field("data"))]),
    ty::<m::Vector3>("geometry_msgs/msg/Vector3", XYZ),
    ty::<m::Point>("geometry_msgs/msg/Point", XYZ),
    ty::<m::Quaternion>(
        "geometry_msgs/msg/Quaternion",
        &[
            ("x", Field("x")),
            ("y", Field("y")),
            ("z", Field("z")),
            ("w", Field("w")),
        ],
    ),
    ty::<m::Pose>(
        "geometry_msgs/msg/Pose",
        &[
            ("position", Field("position")),
            ("orientation", Field("orientation")),
        ],
    ),
    ty::<m::PoseStamped>(
        "geometry_msgs/msg/PoseStamped",
        &[("header", Field("header")), ("pose", Field("pose"))],
    ),
    ty::<m::PoseWithCovariance>(
        "geometry_msgs/msg/PoseWithCovariance",
        &[("pose", Field("pose")), ("covariance", Field("covariance"))],
    ),
    ty::<m::Twist>("geometry_msgs/msg/Twist", LIN_ANG),
    ty::<m::TwistStamped>(
        "geometry_msgs/msg/TwistStamped",
        &[("header", Field("header")), ("twist", Field("twist"))],
    ),
    ty::<m::TwistWithCovariance>(
        "geometry_msgs/msg/TwistWithCovariance",
        &[
            ("twist", Field("twist")),
            ("covariance", Field("covariance")),
        ],
    ),
    ty::<m::Accel>("geometry_msgs/msg/Accel", LIN_ANG),
    ty::<m::Transform>(
        "geometry_msgs/msg/Transform",
        &[
            ("translation", Field("translation")),
            ("rotation", Field("rotation")),
        ],
    ),
    ty::<m::TransformStamped>(
        "geometry_msgs/msg/TransformStamped",
        &[
            ("header", Field("header")),
            ("child_frame_id", Field("child_frame_id")),
            ("transform", Field("transform")),
        ],
    ),
    ty::<m::TfMessage>(
        "tf2_msgs/msg/TFMessage",
        &[(
            "transforms",
            Counted {
                field: "transforms",
                count: "count",
            },
        )],
    ),
    ty::<m::Odometry>(
        "nav_msgs/msg/Odometry",
        &[
            ("header", Field("header")),
            ("child_frame_id", Field("child_frame_id")),
            ("pose", Field("pose")),
            ("twist", Field("twist")),
        ],
    ),
    ty::<m::Imu>(
        "sensor_msgs/msg/Imu",
        &[
            ("header", Field("header")),
            ("orientation", Field("orientation")),
            ("orientation_covariance", Field("orientation_covariance")),
            ("angular_velocity", Field("angular_velocity")),
            (
                "angular_velocity_covariance",
                Field("angular_velocity_covariance"),
            ),
            ("linear_acceleration", Field("linear_acceleration")),
            (
                "linear_acceleration_covariance",
                Field("linear_acceleration_covariance"),
            ),
        ],
    ),
    ty::<m::JointState>(
        "sensor_msgs/msg/JointState",
        &[
            ("header", Field("header")),
            (
                "name",
                Counted {
                    field: "name",
                    count: "count",
                },
            ),
            (
                "position",
                Counted {
                    field: "position",
                    count: "count",
                },
            ),
            (
                "velocity",
                Counted {
                    field: "velocity",
                    count: "count",
                },
            ),
            (
                "effort",
                Counted {
                    field: "effort",
                    count: "count",
                },
            ),
        ],
    ),
    ty::<m::BatteryState>(
        "sensor_msgs/msg/BatteryState",
        &[
            ("header", Field("header")),
            ("voltage", Field("voltage")),
            ("temperature", Field("temperature")),
            ("current", Field("current")),
            ("charge", Field("charge")),
            ("capacity", Field("capacity")),
            ("design_capacity", Field("design_capacity")),
            ("percentage", Field("percentage")),
            ("power_supply_status", Field("power_supply_status")),
            ("power_supply_health", Field("power_supply_health")),
            ("power_supply_technology", Field("power_supply_technology")),
            ("present", Bool("present")),
            (
                "cell_voltage",
                Counted {
                    field: "cell_voltage",
                    count: "cell_count",
                },
            ),
            (
                "cell_temperature",
                Counted {
                    field: "cell_temperature",
                    count: "cell_count",
                },
            ),
            ("location", Field("location")),
            ("serial_number", Field("serial_number")),
        ],
    ),
    ty::<m::LaserScan>(
        "sensor_msgs/msg/LaserScan",
        &[
            ("header", Field("header")),
            ("angle_min", Field("angle_min")),
            ("angle_max", Field("angle_max")),
            ("angle_increment", Field("angle_increment")),
            ("time_increment", Field("time_increment")),
            ("scan_time", Field("scan_time")),
            ("range_min", Field("range_min")),
            ("range_max", Field("range_max")),
            ("ranges", Field("ranges")),
            ("intensities", Empty(RosPrim::Float32)),
        ],
    ),
    ty::<m::Image>(
        "sensor_msgs/msg/Image",
        &[
            ("header", Field("header")),
            ("height", Field("height")),
            ("width", Field("width")),
            ("encoding", Field("encoding")),
            ("is_bigendian", Field("is_bigendian")),
            ("step", Field("step")),
            ("data", Field("data")),
        ],
    ),
    ty::<m::PointCloud>(
        "sensor_msgs/msg/PointCloud2",
        &[
            ("header", Field("header")),
            ("height", Field("height")),
            ("width", Field("width")),
            ("fields", PointFields),
            ("is_bigendian", ConstBool(false)),
            ("point_step", ConstU32(16)),
            (
                "row_step",
                RowStep {
                    width: "width",
                    point_step: 16,
                },
            ),
            ("data", SliceBytes("points")),
            ("is_dense", Bool("is_dense")),
        ],
    ),
];

/// The standard type with this name and fingerprint.
pub(crate) fn find(name: &str, fingerprint: u64) -> Option<&'static StdType> {
    TABLE
        .iter()
        .find(|t| t.axon == name && t.fingerprint == fingerprint)
}
