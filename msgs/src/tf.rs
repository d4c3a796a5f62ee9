//! [`TfMessage`], as in ROS 2 `tf2_msgs`: the message of the `/tf` and
//! `/tf_static` topics.

use core::fmt;

use axon_derive::Message;
use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use crate::TransformStamped;

/// The most transforms a [`TfMessage`] holds.
pub const MAX_TRANSFORMS: usize = 16;

/// Up to [`MAX_TRANSFORMS`] transforms; the first `count` are valid.
///
/// Layout: `count` (4), explicit `_pad` (4), then the transforms
/// (16 × 208); 3336 bytes, no implicit padding. A hostile `count` is
/// clamped to [`MAX_TRANSFORMS`] by every accessor (and by the ROS 2 view,
/// which sends the valid ones as `tf2_msgs/msg/TFMessage`'s sequence).
///
/// Serde writes the ROS shape, `{transforms: [..]}` with `count` entries.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct TfMessage {
    pub count: u32,
    pub _pad: [u8; 4],
    pub transforms: [TransformStamped; MAX_TRANSFORMS],
}

/// Empty, and all zeros (unused entries too, as a decoded sample has them).
impl Default for TfMessage {
    fn default() -> Self {
        Self::new_zeroed()
    }
}

/// The error of [`TfMessage::push`]: all [`MAX_TRANSFORMS`] entries are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TfMessageFull;

impl fmt::Display for TfMessageFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a TfMessage holds at most {MAX_TRANSFORMS} transforms")
    }
}

impl std::error::Error for TfMessageFull {}

impl TfMessage {
    /// Number of valid transforms (`count`, clamped to [`MAX_TRANSFORMS`]).
    pub fn len(&self) -> usize {
        (self.count as usize).min(MAX_TRANSFORMS)
    }

    /// Whether there are no transforms.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The valid transforms.
    pub fn transforms(&self) -> &[TransformStamped] {
        &self.transforms[..self.len()]
    }

    /// Appends a transform.
    pub fn push(&mut self, t: TransformStamped) -> Result<(), TfMessageFull> {
        let i = self.len();
        if i == MAX_TRANSFORMS {
            return Err(TfMessageFull);
        }
        self.transforms[i] = t;
        self.count = i as u32 + 1;
        Ok(())
    }
}

impl Serialize for TfMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("TfMessage", 1)?;
        s.serialize_field("transforms", self.transforms())?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for TfMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct List {
            #[serde(default)]
            transforms: Vec<TransformStamped>,
        }
        let list = List::deserialize(deserializer)?;
        let n = list.transforms.len();
        if n > MAX_TRANSFORMS {
            return Err(D::Error::custom(format!(
                "{n} transforms; a TfMessage holds at most {MAX_TRANSFORMS}"
            )));
        }
        let mut out = TfMessage {
            count: n as u32,
            ..TfMessage::default()
        };
        out.transforms[..n].copy_from_slice(&list.transforms);
        Ok(out)
    }
}
