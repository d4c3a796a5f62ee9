//! [`Odometry`], as in ROS 2 `nav_msgs`.

use axon_derive::Message;
use serde::{Deserialize, Serialize};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::{FrameId, Header, PoseWithCovariance, TwistWithCovariance};

/// An estimate of a pose and velocity: `pose` is in `header.frame_id`,
/// `twist` in `child_frame_id`. 832 bytes, no padding.
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
pub struct Odometry {
    pub header: Header,
    pub child_frame_id: FrameId,
    pub pose: PoseWithCovariance,
    pub twist: TwistWithCovariance,
}
