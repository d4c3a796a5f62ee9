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
//!
//! The other direction, for `axon topic pub`: [`TypeInfo::encode`] turns a
//! JSON value into sample bytes. Fields left out keep their zero value, so
//! `{"linear": {"x": 0.5}}` is a whole `Twist`; a field the type does not
//! have is an error that names it. (Slice messages are decode-only.)
//!
//! ## The registry and type descriptions
//!
//! Tools no longer need this registry to read a type: every topic's segment
//! carries its type's [`Description`], and `axon::dynamic` prints and
//! writes any sample field by field from it, so the stock `axon` tool works
//! on user types with no registration. What the registry still adds is each
//! type's *serde shape*, where that differs from the field-by-field form:
//! a `JointState` is lists of its `count` joints (not four fixed arrays and
//! the count), and `topic pub` checks that shape (as many positions as
//! names); padding and packed fields read as in ROS. The rule tools
//! follow: **a registry entry's decoder and encoder are used only when the
//! topic's type name and fingerprint both match the entry; otherwise the
//! segment's description.** [`TypeInfo::description`] gives the description
//! a tool writes when it creates a topic of a registry type itself.
//!
//! A user crate's own message types can still join the registry with
//! [`register`], after which `describe`, `by_fingerprint` and `decode` find
//! them too; that is worth it only for a type with its own `Serialize`
//! shape (a plain `#[derive(Message)]` type prints the same from its
//! description). A tool built with them (`axon_cli::main()` after
//! `register`) then prints and publishes them in that shape:
//!
//! ```
//! use axon_msgs::registry::{self, TypeInfo};
//! # use axon_message::Schema;
//! # use zerocopy::IntoBytes;
//! #[derive(Clone, Copy, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::KnownLayout,
//!          zerocopy::Immutable, axon_derive::Message, serde::Serialize, serde::Deserialize)]
//! #[repr(C)]
//! struct Wheel { left: f64, right: f64 }
//!
//! registry::register(TypeInfo::sized::<Wheel>()).unwrap();
//! let info = registry::describe(Wheel::TYPE_NAME).unwrap();
//! let bytes = info.encode(&serde_json::json!({"left": 0.5})).unwrap();
//! assert_eq!(bytes, Wheel { left: 0.5, right: 0.0 }.as_bytes());
//! assert!(info.encode(&serde_json::json!({"lft": 0.5})).is_err());
//! ```

use core::fmt;
use std::sync::{LazyLock, RwLock};

use axon_message::{Description, Message};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use zerocopy::{FromZeros, IntoBytes, KnownLayout};

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
    encode: Option<EncodeFn>,
    description: fn() -> Description,
}

type EncodeFn = fn(&Value) -> Result<Vec<u8>, EncodeError>;

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

/// Why a JSON value could not become sample bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// No registered type has this name.
    UnknownType { type_name: String },
    /// The type is a slice message; those can only be decoded.
    NotEncodable { type_name: &'static str },
    /// The value does not describe a sample of the type.
    Invalid {
        type_name: &'static str,
        reason: String,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::UnknownType { type_name } => {
                write!(f, "`{type_name}` is not a registered message type")
            }
            EncodeError::NotEncodable { type_name } => write!(
                f,
                "{type_name} is a slice message; it cannot be written from text"
            ),
            EncodeError::Invalid { type_name, reason } => {
                write!(f, "not a valid {type_name}: {reason}")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why [`register`] refused a type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// Another type with this name and another layout is registered.
    NameTaken { type_name: &'static str },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::NameTaken { type_name } => write!(
                f,
                "a message type named `{type_name}` with another layout is already registered"
            ),
        }
    }
}

impl std::error::Error for RegisterError {}

impl TypeInfo {
    /// The entry of a sized message type: decodes, and encodes from JSON.
    pub fn sized<T>() -> TypeInfo
    where
        T: Message + Serialize + DeserializeOwned + FromZeros + IntoBytes,
    {
        TypeInfo {
            type_name: T::TYPE_NAME,
            fingerprint: T::FINGERPRINT,
            layout: TypeLayout::Sized {
                size: core::mem::size_of::<T>(),
            },
            decode: decode_sized::<T>,
            encode: Some(encode_sized::<T>),
            description: Description::of::<T>,
        }
    }

    /// The entry of a slice message type (decode only).
    pub fn slice<T>() -> TypeInfo
    where
        T: Message + Serialize + KnownLayout<PointerMetadata = usize> + ?Sized,
    {
        TypeInfo {
            type_name: T::TYPE_NAME,
            fingerprint: T::FINGERPRINT,
            layout: slice_layout::<T>(),
            decode: decode_slice::<T>,
            encode: None,
            description: Description::of::<T>,
        }
    }

    /// The sample in `bytes` as JSON, as the type's `Serialize` writes it.
    /// Any alignment of `bytes` is accepted.
    pub fn decode(&self, bytes: &[u8]) -> Result<serde_json::Value, DecodeError> {
        (self.decode)(bytes)
    }

    /// The type's description ([`Description::of`]): what a segment
    /// created for it carries.
    pub fn description(&self) -> Description {
        (self.description)()
    }

    /// Whether [`TypeInfo::encode`] can work for this type.
    pub fn can_encode(&self) -> bool {
        self.encode.is_some()
    }

    /// A sample's bytes from JSON in the type's serde form. Fields left out
    /// are zero; unknown fields are an error naming them.
    pub fn encode(&self, value: &Value) -> Result<Vec<u8>, EncodeError> {
        match self.encode {
            Some(encode) => encode(value),
            None => Err(EncodeError::NotEncodable {
                type_name: self.type_name,
            }),
        }
    }
}

/// Types added by [`register`] (user crates' messages).
static USER_TYPES: RwLock<Vec<TypeInfo>> = RwLock::new(Vec::new());

fn user_types() -> Vec<TypeInfo> {
    match USER_TYPES.read() {
        Ok(types) => types.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Adds a message type of another crate (see [`TypeInfo::sized`] and
/// [`TypeInfo::slice`]). Registering the same type twice is fine; another
/// type under a registered name is refused.
pub fn register(info: TypeInfo) -> Result<(), RegisterError> {
    if let Some(existing) = describe(info.type_name) {
        return if existing.fingerprint == info.fingerprint {
            Ok(())
        } else {
            Err(RegisterError::NameTaken {
                type_name: info.type_name,
            })
        };
    }
    let mut types = match USER_TYPES.write() {
        Ok(types) => types,
        Err(poisoned) => poisoned.into_inner(),
    };
    types.push(info);
    Ok(())
}

/// The type called `type_name`, if this crate defines it or it was registered.
pub fn describe(type_name: &str) -> Option<TypeInfo> {
    TYPES
        .iter()
        .copied()
        .chain(user_types())
        .find(|t| t.type_name == type_name)
}

/// The type with this fingerprint, if this crate defines it or it was registered.
pub fn by_fingerprint(fingerprint: u64) -> Option<TypeInfo> {
    TYPES
        .iter()
        .copied()
        .chain(user_types())
        .find(|t| t.fingerprint == fingerprint)
}

/// Every message type of this crate.
pub fn all() -> &'static [TypeInfo] {
    &TYPES
}

/// Every message type added with [`register`].
pub fn registered() -> Vec<TypeInfo> {
    user_types()
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
            $(TypeInfo::sized::<$sized>(),)*
            $(TypeInfo::slice::<$slice>(),)*
        ]);
    };
}

registry! {
    sized: Time, Duration, Header, Text,
        Vector3, Point, Quaternion, Pose, PoseStamped, PoseWithCovariance,
        Twist, TwistStamped, TwistWithCovariance, Accel, Transform, TransformStamped,
        Odometry, Imu, JointState, BatteryState, PointXyzi, TfMessage;
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

fn encode_sized<T>(value: &Value) -> Result<Vec<u8>, EncodeError>
where
    T: Message + Serialize + DeserializeOwned + FromZeros + IntoBytes,
{
    let invalid = |reason: String| EncodeError::Invalid {
        type_name: T::TYPE_NAME,
        reason,
    };
    let mut merged = to_json(&T::new_zeroed());
    merge(&mut merged, value, "").map_err(invalid)?;
    let sample: T = serde_json::from_value(merged).map_err(|e| invalid(e.to_string()))?;
    Ok(sample.as_bytes().to_vec())
}

/// Overlays `patch` on `base`: objects key by key (a key `base` lacks is an
/// error naming its path), anything else replaced whole.
fn merge(base: &mut Value, patch: &Value, path: &str) -> Result<(), String> {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match base.get_mut(key) {
                    Some(slot) => merge(slot, value, &at)?,
                    None => {
                        let known: Vec<&str> = base.keys().map(String::as_str).collect();
                        return Err(format!(
                            "no field `{at}` (fields here: {})",
                            known.join(", ")
                        ));
                    }
                }
            }
            Ok(())
        }
        (Value::Object(_), other) => Err(format!(
            "`{}` must be a map of fields, not {other}",
            if path.is_empty() { "the message" } else { path }
        )),
        (base, patch) => {
            *base = patch.clone();
            Ok(())
        }
    }
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Value {
    // Serializing our types into a `Value` cannot fail: all map keys are
    // strings and non-finite floats become `null`.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_sized_type_encodes_what_it_decodes() {
        for info in all() {
            match info.layout {
                TypeLayout::Sized { size } => {
                    let zero = info.encode(&json!({})).unwrap();
                    assert_eq!(zero.len(), size, "{}", info.type_name);
                    let printed = info.decode(&zero).unwrap();
                    assert_eq!(info.encode(&printed).unwrap(), zero, "{}", info.type_name);
                }
                TypeLayout::Slice { .. } => {
                    assert!(!info.can_encode());
                    assert!(matches!(
                        info.encode(&json!({})),
                        Err(EncodeError::NotEncodable { .. })
                    ));
                }
            }
        }
    }

    #[test]
    fn partial_input_keeps_zeros_and_unknown_fields_are_named() {
        let info = describe("axon-msgs/Odometry").unwrap();
        let bytes = info
            .encode(&json!({"pose": {"pose": {"position": {"x": 1.5}}}, "child_frame_id": "base"}))
            .unwrap();
        let back = info.decode(&bytes).unwrap();
        assert_eq!(back["pose"]["pose"]["position"]["x"], json!(1.5));
        assert_eq!(back["pose"]["pose"]["position"]["y"], json!(0.0));
        assert_eq!(back["child_frame_id"], json!("base"));
        let err = info
            .encode(&json!({"pose": {"pose": {"postion": {}}}}))
            .unwrap_err();
        assert!(err.to_string().contains("pose.pose.postion"), "{err}");
        let err = info.encode(&json!(3)).unwrap_err();
        assert!(err.to_string().contains("map of fields"), "{err}");
        let err = describe("axon-msgs/Point")
            .unwrap()
            .encode(&json!({"x": "one"}))
            .unwrap_err();
        assert!(matches!(err, EncodeError::Invalid { .. }), "{err}");
    }

    #[test]
    fn registering_a_name_twice_with_another_layout_is_refused() {
        let mut fake = TypeInfo::sized::<Point>();
        assert!(register(fake).is_ok(), "same type again is fine");
        fake.fingerprint ^= 1;
        assert_eq!(
            register(fake),
            Err(RegisterError::NameTaken {
                type_name: "axon-msgs/Point"
            })
        );
    }
}
