//! [`Time`] and [`Duration`], as in ROS 2 `builtin_interfaces`.

use std::time::{SystemTime, UNIX_EPOCH};

use axon_derive::Message;
use serde::{Deserialize, Serialize};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// A point in time: seconds and nanoseconds since the Unix epoch
/// (`CLOCK_REALTIME`).
///
/// `nanosec` is in `0..1_000_000_000` for values this crate builds; times
/// before the epoch have a negative `sec`. Layout: 16 bytes, the last 4 an
/// explicit `_pad` (always zero, not serialized). Serde: `{sec, nanosec}`.
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
    Eq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Time {
    pub sec: i64,
    pub nanosec: u32,
    #[serde(skip)]
    pub _pad: [u8; 4],
}

impl Time {
    /// `sec` seconds and `nanosec` nanoseconds (not normalised).
    pub const fn new(sec: i64, nanosec: u32) -> Self {
        Time {
            sec,
            nanosec,
            _pad: [0; 4],
        }
    }

    /// The current wall-clock time (`CLOCK_REALTIME`).
    pub fn now() -> Self {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => Self::from_nanos_i128(since.as_nanos() as i128),
            Err(before) => Self::from_nanos_i128(-(before.duration().as_nanos() as i128)),
        }
    }

    /// Nanoseconds since the epoch (saturating at the ends of `i64`, about
    /// the years 1677 and 2262).
    pub const fn as_nanos(&self) -> i64 {
        to_nanos(self.sec, self.nanosec)
    }

    /// The time `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: i64) -> Self {
        Self::from_nanos_i128(nanos as i128)
    }

    const fn from_nanos_i128(nanos: i128) -> Self {
        let (sec, nanosec) = split_nanos(nanos);
        Self::new(sec, nanosec)
    }

    /// `self - earlier` (negative if `earlier` is later).
    pub const fn since(&self, earlier: Time) -> Duration {
        Duration::from_nanos(self.as_nanos().saturating_sub(earlier.as_nanos()))
    }
}

/// A signed span of time, laid out like [`Time`]: `sec` may be negative,
/// `nanosec` is in `0..1_000_000_000` and counts forward
/// (-0.25 s is `sec = -1, nanosec = 750_000_000`).
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
    Eq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Duration {
    pub sec: i64,
    pub nanosec: u32,
    #[serde(skip)]
    pub _pad: [u8; 4],
}

impl Duration {
    /// `sec` seconds and `nanosec` nanoseconds (not normalised).
    pub const fn new(sec: i64, nanosec: u32) -> Self {
        Duration {
            sec,
            nanosec,
            _pad: [0; 4],
        }
    }

    /// The span in nanoseconds (saturating).
    pub const fn as_nanos(&self) -> i64 {
        to_nanos(self.sec, self.nanosec)
    }

    /// A span of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        let (sec, nanosec) = split_nanos(nanos as i128);
        Self::new(sec, nanosec)
    }

    /// The span as a `std::time::Duration`, or `None` if it is negative.
    pub fn to_std(&self) -> Option<std::time::Duration> {
        let nanos = self.as_nanos();
        (nanos >= 0).then(|| std::time::Duration::from_nanos(nanos as u64))
    }
}

/// Saturates at `u64::MAX` nanoseconds (584 years).
impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration::from_nanos(d.as_nanos().min(i64::MAX as u128) as i64)
    }
}

/// `sec` seconds plus `nanosec` nanoseconds as nanoseconds, saturating at
/// the ends of `i64`: the `as_nanos` of both [`Time`] and [`Duration`].
const fn to_nanos(sec: i64, nanosec: u32) -> i64 {
    saturate(sec as i128 * NANOS_PER_SEC + nanosec as i128)
}

/// `nanos` as `(sec, nanosec)` with `nanosec` in `0..1_000_000_000` counting
/// forward from `sec` (rounded down): the layout rule of [`Time`] and [`Duration`].
const fn split_nanos(nanos: i128) -> (i64, u32) {
    (
        nanos.div_euclid(NANOS_PER_SEC) as i64,
        nanos.rem_euclid(NANOS_PER_SEC) as u32,
    )
}

const fn saturate(nanos: i128) -> i64 {
    if nanos > i64::MAX as i128 {
        i64::MAX
    } else if nanos < i64::MIN as i128 {
        i64::MIN
    } else {
        nanos as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_round_trip_including_negative() {
        for nanos in [
            0,
            1,
            999_999_999,
            1_000_000_000,
            -1,
            -250_000_000,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(Time::from_nanos(nanos).as_nanos(), nanos);
            assert_eq!(Duration::from_nanos(nanos).as_nanos(), nanos);
        }
        assert_eq!(
            Duration::from_nanos(-250_000_000),
            Duration::new(-1, 750_000_000)
        );
    }

    #[test]
    fn now_is_after_2020_and_normalised() {
        let now = Time::now();
        assert!(now.sec > 1_577_836_800);
        assert!(now.nanosec < 1_000_000_000);
    }

    #[test]
    fn hostile_values_saturate() {
        let t = Time::new(i64::MAX, u32::MAX);
        assert_eq!(t.as_nanos(), i64::MAX);
        assert_eq!(t.since(Time::new(i64::MIN, 0)).as_nanos(), i64::MAX);
        assert_eq!(Duration::new(-1, 0).to_std(), None);
    }
}
