//! What may travel on a topic.
//!
//! A message is a `#[repr(C)]` type that zerocopy can view from bytes
//! (`FromBytes + KnownLayout + Immutable`): any bit pattern a (possibly
//! hostile) peer leaves in shared memory is a valid value, so a subscriber can
//! read a sample where it lies without validating it. `IntoBytes` (no padding)
//! is needed only to publish by copy (`Publisher::publish`); slice messages
//! such as `{ stamp: u64, data: [u8] }` have trailing padding and do without.
//!
//! On top of that, [`Schema`] gives every type a stable name and a layout
//! *fingerprint*: a hash over the type name, size, alignment and, for every
//! field, its name, offset and the fingerprint of its type. Two programs that
//! agree on the fingerprint agree on the bytes. A topic's segment records the
//! name and fingerprint of its type; opening it with another type fails with
//! an error naming both.
//!
//! Users do not implement these traits by hand: `#[derive(Message)]`
//! (`axon_derive`, re-exported by `axon`) writes both impls and checks that the
//! type is `#[repr(C)]`.
//!
//! *Architecture invariant:* fingerprints are computed at compile time from
//! the layout only; they never depend on the process, the platform's pointer
//! values, or the order in which types are registered.

use zerocopy::{FromBytes, Immutable, KnownLayout};

pub mod desc;
mod view;
pub use desc::{Description, Kind};
pub use view::{view_mut, ViewMeta};

/// A type's stable name and layout fingerprint.
///
/// Implemented for the primitive numeric types, arrays and slices of
/// `Schema` types, and (through `#[derive(Message)]`) for message structs.
pub trait Schema {
    /// A name that is stable across builds, e.g. `"axon-msgs/Imu"` or `"f64"`.
    /// Used in error messages and by tools.
    const TYPE_NAME: &'static str;
    /// Hash of the layout (see the module documentation).
    const FINGERPRINT: u64;
    /// What the type's bytes mean: its fields, their offsets and kinds
    /// (see [`desc`]). Tools read samples of types they were not built with
    /// from it.
    const KIND: Kind;
}

/// A type that can be published on a topic.
///
/// Sized messages are fixed-size structs. A message whose last field is a
/// slice (`data: [u8]`, `points: [Point]`) is a *slice message*: its length
/// is chosen per sample (`Publisher::loan_slice`) up to the maximum the topic
/// was created with.
///
/// [`ViewMeta`] (through `KnownLayout::PointerMetadata`) lets the runtime view
/// slot bytes as either kind with one generic call.
pub trait Message:
    Schema + FromBytes + KnownLayout<PointerMetadata: ViewMeta> + Immutable + 'static
{
}

/// A `const` FNV-1a (64-bit) hasher used to build fingerprints at compile time.
///
/// The derive emits `Fingerprint::new().str(..).u64(..)...finish()`; keep the
/// sequence of calls stable, since changing it changes every fingerprint.
#[derive(Clone, Copy, Debug)]
pub struct Fingerprint(u64);

impl Fingerprint {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// A fresh hasher.
    pub const fn new() -> Self {
        Fingerprint(Self::OFFSET)
    }

    /// Mixes in raw bytes.
    pub const fn bytes(self, bytes: &[u8]) -> Self {
        let mut h = self.0;
        let mut i = 0;
        while i < bytes.len() {
            h ^= bytes[i] as u64;
            h = h.wrapping_mul(Self::PRIME);
            i += 1;
        }
        Fingerprint(h)
    }

    /// Mixes in a string, length-prefixed so that `("ab","c")` and `("a","bc")` differ.
    pub const fn str(self, s: &str) -> Self {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }

    /// Mixes in a number (little-endian, whatever the host).
    pub const fn u64(self, v: u64) -> Self {
        self.bytes(&v.to_le_bytes())
    }

    /// The finished hash.
    pub const fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fingerprint {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! primitive_schema {
    ($($t:ty => $p:ident),*) => {$(
        impl Schema for $t {
            const TYPE_NAME: &'static str = stringify!($t);
            const KIND: Kind = Kind::Primitive(desc::Primitive::$p);
            const FINGERPRINT: u64 = Fingerprint::new()
                .str("primitive")
                .str(stringify!($t))
                .u64(core::mem::size_of::<$t>() as u64)
                .u64(core::mem::align_of::<$t>() as u64)
                .finish();
        }
    )*};
}
primitive_schema!(
    u8 => U8, u16 => U16, u32 => U32, u64 => U64, u128 => U128,
    i8 => I8, i16 => I16, i32 => I32, i64 => I64, i128 => I128,
    f32 => F32, f64 => F64, usize => Usize, isize => Isize
);

impl<T: Schema, const N: usize> Schema for [T; N] {
    const TYPE_NAME: &'static str = "array";
    const KIND: Kind = Kind::Array {
        elem: &T::KIND,
        len: N,
    };
    const FINGERPRINT: u64 = Fingerprint::new()
        .str("array")
        .u64(T::FINGERPRINT)
        .u64(N as u64)
        .finish();
}

impl<T: Schema> Schema for [T] {
    const TYPE_NAME: &'static str = "slice";
    const KIND: Kind = Kind::Slice { elem: &T::KIND };
    const FINGERPRINT: u64 = Fingerprint::new().str("slice").u64(T::FINGERPRINT).finish();
}

// Plain numbers and arrays of them are messages too (`publisher::<u64>`,
// `publisher::<[u8]>` for raw byte streams).
macro_rules! primitive_message {
    ($($t:ty),*) => {$( impl Message for $t {} )*};
}
primitive_message!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64, usize, isize);
impl<T: Message + Schema + Sized, const N: usize> Message for [T; N] where
    [T; N]: FromBytes + Immutable
{
}
impl<T: Message + Schema + Sized> Message for [T] where [T]: FromBytes + Immutable {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_by_type_and_length() {
        assert_ne!(u32::FINGERPRINT, i32::FINGERPRINT);
        assert_ne!(<[u8; 4]>::FINGERPRINT, <[u8; 5]>::FINGERPRINT);
        assert_ne!(<[u8]>::FINGERPRINT, <[u8; 4]>::FINGERPRINT);
        assert_ne!(
            Fingerprint::new().str("ab").str("c").finish(),
            Fingerprint::new().str("a").str("bc").finish()
        );
    }
}
