//! Every message type of this crate by name, for tools that only know a
//! topic's type name and fingerprint (as recorded in its segment).
//!
//! ```
//! use axon_msgs::registry;
//! use axon_message::Schema;
//! use zerocopy::IntoBytes;
//!
//! let point = axon_msgs::Point { x: 1.0, y: 2.0, z: 3.0 };
//! let info = registry::describe("axon-msgs/Point").unwrap();
//! assert_eq!(info.fingerprint, axon_msgs::Point::FINGERPRINT);
//! let json = info.decode(point.as_bytes()).unwrap();
//! assert_eq!(json, serde_json::json!({"x": 1.0, "y": 2.0, "z": 3.0}));
//! assert!(info.decode(&[0u8; 5]).is_err());
//! ```
//!
//! A tool should also compare [`TypeInfo::fingerprint`] with the topic's: a
//! type of the same name built from another version of this crate may have
//! another layout.

use core::fmt;
use std::sync::LazyLock;

use axon_message::{Message, Schema};
use serde::Serialize;
use zerocopy::{IntoBytes, KnownLayout};

use crate::*;

/// A known message type.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct TypeInfo {
    /// `Schema::TYPE_NAME`, e.g. `"axon-msgs/Imu"`.
    pub type_name: &'static str,
    /// `Schema::FINGERPRINT`.
    pub fingerprint: u64,
    /// The size of a sample.
    pub layout: TypeLayout,
    decode: fn(&[u8]) -> Result<serde_json::Value, DecodeError>,
}

/// The size of a type's samples. (Exhaustive: a message is sized or ends
/// in a slice.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeLayout {
    /// Every sample is `size` bytes.
    Sized { size: usize },
    /// A slice message: a sample of `n` elements is
    /// `header_size + n * element_size` bytes.
    Slice {
        header_size: usize,
        element_size: usize,
    },
}

impl TypeLayout {
    /// The size of a sample with `elements` slice elements (ignored for
    /// sized types), or `None` on overflow.
    pub fn size_for(&self, elements: usize) -> Option<usize> {
        match *self {
            TypeLayout::Sized { size } => Some(size),
            TypeLayout::Slice {
                header_size,
                element_size,
            } => elements.checked_mul(element_size)?.checked_add(header_size),
        }
    }
}

/// Why sample bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// No type of this crate has this name.
    UnknownType { type_name: String },
    /// The bytes are not the size of a sample of this type.
    WrongSize {
        type_name: &'static str,
        len: usize,
        layout: TypeLayout,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownType { type_name } => {
                write!(f, "`{type_name}` is not a message type of axon-msgs")
            }
            DecodeError::WrongSize {
                type_name,
                len,
                layout: TypeLayout::Sized { size },
            } => write!(
                f,
                "{len} bytes cannot be a {type_name}, which is {size} bytes"
            ),
            DecodeError::WrongSize {
                type_name,
                len,
                layout:
                    TypeLayout::Slice {
                        header_size,
                        element_size,
                    },
            } => write!(
                f,
                "{len} bytes cannot be a {type_name}, which is {header_size} bytes \
                 plus {element_size} per element"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

impl TypeInfo {
    /// The sample in `bytes` as JSON, as the type's `Serialize` writes it.
    /// Any alignment of `bytes` is accepted.
    pub fn decode(&self, bytes: &[u8]) -> Result<serde_json::Value, DecodeError> {
        (self.decode)(bytes)
    }
}

/// The type called `type_name`, if this crate defines it.
pub fn describe(type_name: &str) -> Option<TypeInfo> {
    TYPES.iter().find(|t| t.type_name == type_name).copied()
}

/// The type with this fingerprint, if this crate defines it.
pub fn by_fingerprint(fingerprint: u64) -> Option<TypeInfo> {
    TYPES.iter().find(|t| t.fingerprint == fingerprint).copied()
}

/// Every message type of this crate.
pub fn all() -> &'static [TypeInfo] {
    &TYPES
}

/// Decodes `bytes` as the type called `type_name`.
pub fn decode(type_name: &str, bytes: &[u8]) -> Result<serde_json::Value, DecodeError> {
    match describe(type_name) {
        Some(info) => info.decode(bytes),
        None => Err(DecodeError::UnknownType {
            type_name: type_name.to_owned(),
        }),
    }
}

macro_rules! registry {
    (sized: $($sized:ty),* ; slice: $($slice:ty),* $(,)?) => {
        // Lazy because a slice type's sizes come from a non-const function.
        static TYPES: LazyLock<Vec<TypeInfo>> = LazyLock::new(|| vec![
            $(TypeInfo {
                type_name: <$sized as Schema>::TYPE_NAME,
                fingerprint: <$sized as Schema>::FINGERPRINT,
                layout: TypeLayout::Sized { size: core::mem::size_of::<$sized>() },
                decode: decode_sized::<$sized>,
            },)*
            $(TypeInfo {
                type_name: <$slice as Schema>::TYPE_NAME,
                fingerprint: <$slice as Schema>::FINGERPRINT,
                layout: slice_layout::<$slice>(),
                decode: decode_slice::<$slice>,
            },)*
        ]);
    };
}

registry! {
    sized: Time, Duration, Header, Text,
        Vector3, Point, Quaternion, Pose, PoseStamped, PoseWithCovariance,
        Twist, TwistStamped, TwistWithCovariance, Accel,
        Odometry, Imu, JointState, BatteryState, PointXyzi;
    slice: LaserScan, Image, PointCloud,
}

fn decode_sized<T: Message + Serialize>(bytes: &[u8]) -> Result<serde_json::Value, DecodeError> {
    // `read_from_bytes` copies, so the bytes need no alignment.
    let value = T::read_from_bytes(bytes).map_err(|_| DecodeError::WrongSize {
        type_name: T::TYPE_NAME,
        len: bytes.len(),
        layout: TypeLayout::Sized {
            size: core::mem::size_of::<T>(),
        },
    })?;
    Ok(to_json(&value))
}

fn decode_slice<T>(bytes: &[u8]) -> Result<serde_json::Value, DecodeError>
where
    T: Message + Serialize + KnownLayout<PointerMetadata = usize> + ?Sized,
{
    let wrong_size = || DecodeError::WrongSize {
        type_name: T::TYPE_NAME,
        len: bytes.len(),
        layout: slice_layout::<T>(),
    };
    if let Ok(value) = T::ref_from_bytes(bytes) {
        return Ok(to_json(value));
    }
    // Perhaps only misaligned: copy into 8-aligned memory (no type here
    // needs more) and view that.
    let mut aligned = vec![0u64; bytes.len().div_ceil(8)];
    let copy = &mut aligned.as_mut_bytes()[..bytes.len()];
    copy.copy_from_slice(bytes);
    T::ref_from_bytes(copy)
        .map(to_json)
        .map_err(|_| wrong_size())
}

fn slice_layout<T: KnownLayout<PointerMetadata = usize> + ?Sized>() -> TypeLayout {
    let header_size = T::size_for_metadata(0).unwrap_or(usize::MAX);
    let element_size = T::size_for_metadata(1).unwrap_or(usize::MAX) - header_size;
    TypeLayout::Slice {
        header_size,
        element_size,
    }
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Value {
    // Serializing our types into a `Value` cannot fail: all map keys are
    // strings and non-finite floats become `null`.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
