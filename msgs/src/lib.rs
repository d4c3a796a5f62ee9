//! The standard robot messages of axon, modelled on ROS 2
//! `common_interfaces` with fixed-size choices.
//!
//! Every type here is a `#[repr(C)]` struct that zerocopy can view as bytes
//! both ways and that derives [`Message`](axon_derive::Message), so it can
//! be published and read in place in shared memory. Every type implements
//! `serde::Serialize` (tools print samples) and every sized type also
//! `Deserialize` (tools publish samples written as YAML or JSON).
//!
//! # Code map
//!
//! - [`time`] — [`Time`], [`Duration`].
//! - [`string`] — [`FixedString`], an inline string of fixed capacity, and
//!   [`FrameId`].
//! - [`std_msgs`] — [`Header`], [`Text`].
//! - [`geometry`] — vectors, poses, twists, accelerations and transforms.
//! - [`nav`] — [`Odometry`].
//! - [`sensor`] — [`Imu`], [`JointState`], [`BatteryState`] and the slice
//!   messages [`LaserScan`], [`Image`], [`PointCloud`].
//! - [`tf`] — [`TfMessage`] (the `/tf` and `/tf_static` topics); the
//!   transforms themselves are in [`geometry`].
//! - [`registry`] — every type above by name, with a function that turns raw
//!   sample bytes into JSON (what `axon topic echo` uses).
//!
//! # Layout rules
//!
//! A message may not contain padding (zerocopy's `IntoBytes` refuses it:
//! padding bytes are uninitialised), so fields are ordered by alignment and
//! any gap is an explicit `_pad` field, always zero and never serialized.
//! Strings and variable-length lists become fixed-capacity arrays with a
//! count. The three *slice messages* end in a slice whose length is chosen
//! per sample (`publisher.loan_slice(len)` in the runtime); their docs say
//! how their layout avoids trailing padding.
//!
//! *Architecture invariant:* this crate never depends on the runtime (`axon`);
//! only on `axon-message` and `axon-derive`. Nodes, tools and tests can use
//! the messages without linking shared memory code.
//!
//! Deliberately absent: enumerations (a peer may write any bit pattern; use
//! the `u8` fields with associated constants, as [`BatteryState`] does),
//! pointers and heap data of any kind.

mod big_array;
pub mod geometry;
pub mod nav;
pub mod registry;
pub mod sensor;
pub mod std_msgs;
pub mod string;
pub mod tf;
pub mod time;

pub use geometry::{
    Accel, Point, Pose, PoseStamped, PoseWithCovariance, Quaternion, Transform, TransformStamped,
    Twist, TwistStamped, TwistWithCovariance, Vector3,
};
pub use nav::Odometry;
pub use sensor::{
    encodings, BatteryState, Encoding, Image, Imu, JointName, JointState, JointStateFull,
    LaserScan, PointCloud, PointXyzi, MAX_CELLS, MAX_JOINTS,
};
pub use std_msgs::{Header, StringMsg, Text, TEXT_CAPACITY};
pub use string::{FixedString, FrameId, StringTooLong};
pub use tf::{TfMessage, TfMessageFull, MAX_TRANSFORMS};
pub use time::{Duration, Time};
