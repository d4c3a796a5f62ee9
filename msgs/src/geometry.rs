//! Positions, orientations and velocities, as in ROS 2 `geometry_msgs`.
//!
//! All fields are `f64`, so none of these types has padding. Units are SI:
//! metres, radians, m/s, rad/s, m/s².

use axon_derive::Message;
use serde::{Deserialize, Serialize};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use crate::{FrameId, Header};

/// A direction and magnitude in 3-D.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Vector3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// A position in 3-D.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// An orientation as a unit quaternion. The default is the identity
/// (`w = 1`), not all zeros.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Quaternion {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub w: f64,
}

impl Quaternion {
    /// No rotation.
    pub const IDENTITY: Quaternion = Quaternion {
        x: 0.0,
        y: 0.0,
        z: 0.0,
        w: 1.0,
    };

    /// A rotation of `yaw` radians about the z axis.
    pub fn from_yaw(yaw: f64) -> Self {
        let (s, c) = (yaw / 2.0).sin_cos();
        Quaternion {
            x: 0.0,
            y: 0.0,
            z: s,
            w: c,
        }
    }
}

impl Default for Quaternion {
    fn default() -> Self {
        Self::IDENTITY
    }
}

/// A position and an orientation.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Pose {
    pub position: Point,
    pub orientation: Quaternion,
}

/// A [`Pose`] with a header.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct PoseStamped {
    pub header: Header,
    pub pose: Pose,
}

/// A [`Pose`] with its 6x6 row-major covariance over
/// (x, y, z, rotation about x, about y, about z).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct PoseWithCovariance {
    pub pose: Pose,
    #[serde(with = "crate::big_array")]
    pub covariance: [f64; 36],
}

impl Default for PoseWithCovariance {
    fn default() -> Self {
        PoseWithCovariance {
            pose: Pose::default(),
            covariance: [0.0; 36],
        }
    }
}

/// Linear and angular velocity.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Twist {
    pub linear: Vector3,
    pub angular: Vector3,
}

/// A [`Twist`] with a header.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct TwistStamped {
    pub header: Header,
    pub twist: Twist,
}

/// A [`Twist`] with its 6x6 row-major covariance (order as in
/// [`PoseWithCovariance`]).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct TwistWithCovariance {
    pub twist: Twist,
    #[serde(with = "crate::big_array")]
    pub covariance: [f64; 36],
}

impl Default for TwistWithCovariance {
    fn default() -> Self {
        Self::new_zeroed()
    }
}

/// Linear and angular acceleration.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Accel {
    pub linear: Vector3,
    pub angular: Vector3,
}

/// A rigid transform: translate, then rotate. 56 bytes, no padding.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Transform {
    pub translation: Vector3,
    pub rotation: Quaternion,
}

/// The transform from `header.frame_id` (the parent) to `child_frame_id`
/// at `header.stamp`: a point with coordinates `p` in the child frame is
/// at `rotation * p + translation` in the parent frame. What tf2 (and
/// Foxglove's 3D panel) chain into a frame tree. 208 bytes, no padding.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct TransformStamped {
    pub header: Header,
    pub child_frame_id: FrameId,
    pub transform: Transform,
}
