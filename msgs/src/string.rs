//! [`FixedString`]: a string stored inline, with a fixed capacity.

use core::fmt;

use axon_message::{Fingerprint, Kind, Message, Schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// UTF-8 text of at most `N` bytes, stored inline: a 4-byte length followed
/// by `N` bytes.
///
/// The layout has alignment 1 (the length is a native-endian `u32` kept as
/// bytes), so a `FixedString` never introduces padding; `FixedString<N>`
/// occupies `N + 4` bytes. The aliases pick capacities that make the whole
/// value a round size ([`FrameId`] is 64 bytes).
///
/// A peer may leave any bytes here, so reading never trusts them: the length
/// is clamped to `N` and [`as_str`](Self::as_str) stops before the first
/// invalid UTF-8 sequence. Serde reads and writes it as a plain string.
///
/// ```
/// use axon_msgs::FixedString;
///
/// let s = FixedString::<8>::new("odom/imu_link");
/// assert_eq!(s.as_str(), "odom/imu"); // truncated to the capacity
/// let s = FixedString::<4>::new("añb"); // 'ñ' is 2 bytes; "añb" is 4
/// assert_eq!(s.as_str(), "añb");
/// let s = FixedString::<2>::new("añ"); // cannot split 'ñ'
/// assert_eq!(s.as_str(), "a");
/// ```
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy)]
#[repr(C)]
pub struct FixedString<const N: usize> {
    len: [u8; 4],
    bytes: [u8; N],
}

/// The name of a coordinate frame (`"base_link"`): up to 60 bytes, 64 in all.
pub type FrameId = FixedString<60>;

/// The error of [`FixedString::try_new`] and of deserializing a string that
/// does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StringTooLong {
    /// Length of the rejected string, in bytes.
    pub len: usize,
    /// The capacity it did not fit in.
    pub capacity: usize,
}

impl fmt::Display for StringTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "string of {} bytes does not fit in a FixedString of {} bytes",
            self.len, self.capacity
        )
    }
}

impl std::error::Error for StringTooLong {}

impl<const N: usize> FixedString<N> {
    /// The largest length in bytes (`N`, or `u32::MAX` should `N` be larger).
    pub const CAPACITY: usize = if N > u32::MAX as usize {
        u32::MAX as usize
    } else {
        N
    };

    /// The empty string.
    pub const fn empty() -> Self {
        FixedString {
            len: [0; 4],
            bytes: [0; N],
        }
    }

    /// `s`, truncated to the capacity at a character boundary.
    pub fn new(s: &str) -> Self {
        let mut end = s.len().min(Self::CAPACITY);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut out = Self::empty();
        out.bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
        out.len = (end as u32).to_ne_bytes();
        out
    }

    /// `s`, or an error if it is longer than the capacity.
    pub fn try_new(s: &str) -> Result<Self, StringTooLong> {
        if s.len() > Self::CAPACITY {
            return Err(StringTooLong {
                len: s.len(),
                capacity: Self::CAPACITY,
            });
        }
        Ok(Self::new(s))
    }

    /// Replaces the contents with `s`, truncated like [`new`](Self::new).
    pub fn set(&mut self, s: &str) {
        *self = Self::new(s);
    }

    /// The stored bytes: the recorded length, clamped to the capacity.
    pub fn as_bytes(&self) -> &[u8] {
        let len = (u32::from_ne_bytes(self.len) as usize).min(N);
        &self.bytes[..len]
    }

    /// The longest valid UTF-8 prefix of [`as_bytes`](Self::as_bytes). For a
    /// value written through [`new`](Self::new) that is the whole string.
    pub fn as_str(&self) -> &str {
        let bytes = self.as_bytes();
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        }
    }

    /// Length in bytes (clamped to the capacity).
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<const N: usize> Default for FixedString<N> {
    fn default() -> Self {
        Self::empty()
    }
}

/// Equal when the strings are; bytes past the length do not count.
impl<const N: usize> PartialEq for FixedString<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> Eq for FixedString<N> {}

impl<const N: usize> PartialEq<str> for FixedString<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> PartialEq<&str> for FixedString<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> fmt::Debug for FixedString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for FixedString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Truncates like [`FixedString::new`].
impl<const N: usize> From<&str> for FixedString<N> {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl<const N: usize> Serialize for FixedString<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A string longer than the capacity is an error, not silently truncated.
impl<'de, const N: usize> Deserialize<'de> for FixedString<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::try_new(&s).map_err(serde::de::Error::custom)
    }
}

// Written by hand: the derive does not support generics. The sequence of
// calls is the derive's (see `axon_derive`), with the capacity in the array's
// fingerprint and in the size, so `FixedString<60>` and `FixedString<28>`
// differ.
impl<const N: usize> Schema for FixedString<N> {
    const TYPE_NAME: &'static str = axon_message::desc::STRING_TYPE_NAME;
    const KIND: Kind = Kind::String { capacity: N };
    const FINGERPRINT: u64 = Fingerprint::new()
        .str("struct")
        .str(Self::TYPE_NAME)
        .u64(2)
        .str("len")
        .u64(<[u8; 4] as Schema>::FINGERPRINT)
        .u64(core::mem::offset_of!(Self, len) as u64)
        .str("bytes")
        .u64(<[u8; N] as Schema>::FINGERPRINT)
        .u64(core::mem::offset_of!(Self, bytes) as u64)
        .u64(core::mem::size_of::<Self>() as u64)
        .u64(core::mem::align_of::<Self>() as u64)
        .finish();
}

impl<const N: usize> Message for FixedString<N> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_bytes_never_panic() {
        // Length far past the capacity, then invalid UTF-8 in the middle.
        let mut raw = [0u8; 12];
        raw[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        raw[4..].copy_from_slice(b"ab\xffcdefg");
        let s = FixedString::<8>::read_from_bytes(&raw).unwrap();
        assert_eq!(s.len(), 8);
        assert_eq!(s.as_str(), "ab");
    }

    #[test]
    fn try_new_rejects_what_new_truncates() {
        assert_eq!(
            FixedString::<3>::try_new("abcd"),
            Err(StringTooLong {
                len: 4,
                capacity: 3
            })
        );
        assert_eq!(FixedString::<3>::new("abcd"), "abc");
    }

    #[test]
    fn capacity_is_in_the_fingerprint() {
        assert_ne!(
            FixedString::<28>::FINGERPRINT,
            FixedString::<60>::FINGERPRINT
        );
        assert_eq!(core::mem::size_of::<FrameId>(), 64);
        assert_eq!(core::mem::align_of::<FrameId>(), 1);
    }

    #[test]
    fn equality_ignores_bytes_past_the_length() {
        let mut a = FixedString::<8>::new("abcdef");
        a.set("ab");
        assert_eq!(a, FixedString::<8>::new("ab"));
    }
}
