//! Parameter types that check their values.
//!
//! A node's parameters come from the launch file as JSON
//! ([`Node::param`](crate::Node::param), [`Node::param_or`](crate::Node::param_or)),
//! and any `serde` type can be read. The general way to validate one is to
//! put the check in the type's `Deserialize`, so that reading it *is*
//! checking it: a refused value becomes a [`ParamError`](crate::ParamError)
//! naming the parameter (`parameter "rate": -2 is not a frequency: it must
//! be positive and finite`), and the node never holds a bad value. Serde's
//! `try_from` attribute does it in a few lines:
//!
//! ```
//! # use serde::Deserialize;
//! /// A gain between 0 and 1.
//! #[derive(Clone, Copy, Deserialize)]
//! #[serde(try_from = "f64")]
//! struct Gain(f64);
//!
//! impl TryFrom<f64> for Gain {
//!     type Error = String;
//!     fn try_from(g: f64) -> Result<Gain, String> {
//!         if (0.0..=1.0).contains(&g) { Ok(Gain(g)) } else { Err(format!("{g} is not in [0, 1]")) }
//!     }
//! }
//! # let _ = |node: &axon::Node| -> Result<(), axon::ParamError> {
//! let gain = node.param_or("yaw_gain", Gain(0.5))?;
//! # Ok(()) };
//! ```
//!
//! The two every robot node needs are here: [`Hz`] (a rate, with its
//! [`period`](Hz::period) for the executor's `every`) and [`Seconds`] (a
//! timeout or a period written in seconds, as a [`Duration`]). Both
//! deserialize from a JSON number and refuse NaN, infinities, negatives (and
//! for `Hz`, zero), and values whose period does not fit a `Duration`, so
//! converting them never panics (`Duration::from_secs_f64(-1.0)` would).

use std::fmt;
use std::time::Duration;

/// Longest `Duration` in seconds that `Duration::from_secs_f64` accepts,
/// rounded down (`u64::MAX` seconds is about 1.8447e19).
const MAX_SECS: f64 = 1.8e19;

/// Why a value is not an [`Hz`] or a [`Seconds`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{value} is not {expected}")]
pub struct OutOfRange {
    /// The value.
    pub value: f64,
    /// What it should have been.
    pub expected: &'static str,
}

/// A frequency in hertz: positive, finite, and with a period that fits a
/// [`Duration`]. A parameter type (`node.param_or("rate", Hz::new(30.0))?`);
/// in JSON a plain number.
///
/// ```
/// use axon::Hz;
/// let rate = Hz::new(50.0);
/// assert_eq!(rate.period(), std::time::Duration::from_millis(20));
/// assert_eq!(rate.to_string(), "50 Hz");
/// assert!(Hz::try_from(0.0).is_err());
/// assert!(Hz::try_from(f64::NAN).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Hz(f64);

impl Hz {
    /// `hz` hertz. For constants (a parameter's default): panics if `hz` is
    /// not a valid frequency, at compile time in a `const`. Values from
    /// outside go through [`Hz::try_from`] (or a parameter read).
    pub const fn new(hz: f64) -> Hz {
        match Hz::checked(hz) {
            Ok(hz) => hz,
            Err(_) => panic!("Hz::new: a frequency must be positive and finite"),
        }
    }

    const fn checked(hz: f64) -> Result<Hz, OutOfRange> {
        // NaN fails every comparison, so it is refused too.
        if hz > 0.0 && hz < f64::INFINITY && 1.0 / hz < MAX_SECS {
            Ok(Hz(hz))
        } else {
            Err(OutOfRange {
                value: hz,
                expected: "a frequency: it must be positive and finite",
            })
        }
    }

    /// The frequency in hertz.
    pub const fn get(self) -> f64 {
        self.0
    }

    /// One period, `1 / hz` seconds (rounded to whole nanoseconds; zero
    /// for frequencies above 1 GHz, which a timer then refuses).
    pub fn period(self) -> Duration {
        // Cannot panic: 1 / hz is positive, finite and below MAX_SECS.
        Duration::from_secs_f64(1.0 / self.0)
    }
}

impl TryFrom<f64> for Hz {
    type Error = OutOfRange;
    fn try_from(hz: f64) -> Result<Hz, OutOfRange> {
        Hz::checked(hz)
    }
}

impl From<Hz> for f64 {
    fn from(hz: Hz) -> f64 {
        hz.0
    }
}

impl fmt::Display for Hz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz", self.0)
    }
}

/// A span of time written in seconds: zero or positive, finite, and within
/// a [`Duration`]. A parameter type (`node.param_or("timeout",
/// Seconds::new(0.5))?`); in JSON a plain number.
///
/// ```
/// use axon::Seconds;
/// assert_eq!(Seconds::new(0.25).duration(), std::time::Duration::from_millis(250));
/// assert!(Seconds::try_from(-1.0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Seconds(f64);

impl Seconds {
    /// `s` seconds. For constants: panics if `s` is negative, NaN or too
    /// large, at compile time in a `const`.
    pub const fn new(s: f64) -> Seconds {
        match Seconds::checked(s) {
            Ok(s) => s,
            Err(_) => panic!("Seconds::new: a span of time must be finite and not negative"),
        }
    }

    const fn checked(s: f64) -> Result<Seconds, OutOfRange> {
        if s >= 0.0 && s < MAX_SECS {
            Ok(Seconds(s))
        } else {
            Err(OutOfRange {
                value: s,
                expected: "a span of time in seconds: it must be finite and not negative",
            })
        }
    }

    /// The number of seconds.
    pub const fn get(self) -> f64 {
        self.0
    }

    /// As a [`Duration`] (rounded to whole nanoseconds).
    pub fn duration(self) -> Duration {
        // Cannot panic: 0 <= s < MAX_SECS.
        Duration::from_secs_f64(self.0)
    }
}

impl TryFrom<f64> for Seconds {
    type Error = OutOfRange;
    fn try_from(s: f64) -> Result<Seconds, OutOfRange> {
        Seconds::checked(s)
    }
}

impl From<Seconds> for f64 {
    fn from(s: Seconds) -> f64 {
        s.0
    }
}

impl From<Seconds> for Duration {
    fn from(s: Seconds) -> Duration {
        s.duration()
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hz_refuses_what_would_make_period_panic() {
        for bad in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
        ] {
            assert!(Hz::try_from(bad).is_err(), "{bad}");
        }
        for good in [1e-15, 0.5, 30.0, 1e12, f64::MAX] {
            let hz = Hz::try_from(good).unwrap();
            let _ = hz.period(); // must not panic
        }
    }

    #[test]
    fn seconds_refuses_what_would_make_duration_panic() {
        for bad in [-1e-9, -1.0, f64::NAN, f64::INFINITY, 1e20] {
            assert!(Seconds::try_from(bad).is_err(), "{bad}");
        }
        for good in [0.0, 1e-12, 0.5, 1.7e19] {
            let _ = Seconds::try_from(good).unwrap().duration();
        }
    }

    #[test]
    fn a_bad_param_value_is_a_param_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("axon-param-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("params.json");
        std::fs::write(
            &file,
            r#"{"rate": -2, "timeout": "soon", "ok": 20, "t": 0.25}"#,
        )
        .unwrap();
        let node = crate::Node::builder("paramtest")
            .no_signal_handlers()
            .params_file(&file)
            .create()
            .unwrap();
        let e = node.param_or("rate", Hz::new(1.0)).unwrap_err().to_string();
        assert_eq!(
            e,
            "parameter \"rate\": -2 is not a frequency: it must be positive and finite"
        );
        let e = node.param_or("timeout", Seconds::new(1.0)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("parameter \"timeout\": invalid type"),
            "{e}"
        );
        assert_eq!(node.param_or("ok", Hz::new(1.0)).unwrap(), Hz::new(20.0));
        assert_eq!(node.param_or("unset", Hz::new(7.0)).unwrap(), Hz::new(7.0));
        assert_eq!(
            node.param_or("t", Seconds::new(1.0)).unwrap().duration(),
            Duration::from_millis(250)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
