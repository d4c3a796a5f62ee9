//! [`Header`] and [`Text`], as in ROS 2 `std_msgs`.

use axon_derive::Message;
use serde::{Deserialize, Serialize};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::{FixedString, FrameId, Time};

/// When and in which frame a measurement was taken. 88 bytes, no padding.
///
/// `seq` is a per-publisher counter for the publisher to fill in if it
/// wants one (ROS 2 dropped it; it is cheap here and helps spot drops).
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
pub struct Header {
    pub stamp: Time,
    pub frame_id: FrameId,
    pub seq: u64,
}

impl Header {
    /// A header stamped `stamp` in `frame_id` (truncated to [`FrameId`]'s
    /// capacity), with `seq` 0.
    pub fn new(stamp: Time, frame_id: &str) -> Self {
        Header {
            stamp,
            frame_id: FrameId::new(frame_id),
            seq: 0,
        }
    }

    /// A header stamped now in `frame_id`.
    pub fn now(frame_id: &str) -> Self {
        Self::new(Time::now(), frame_id)
    }
}

/// Capacity of [`Text`] in bytes (the whole message is 256 bytes).
pub const TEXT_CAPACITY: usize = 252;

/// A line of text (ROS `std_msgs/String`). Serde: `{"data": "..."}`.
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
pub struct Text {
    pub data: FixedString<TEXT_CAPACITY>,
}

/// The ROS name of [`Text`].
pub type StringMsg = Text;

impl Text {
    /// `s`, truncated at a character boundary to [`TEXT_CAPACITY`] bytes.
    pub fn new(s: &str) -> Self {
        Text {
            data: FixedString::new(s),
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        self.data.as_str()
    }
}
