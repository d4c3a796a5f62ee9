#![doc = include_str!("../README.md")]
//!
//! # Code map
//!
//! - [`view`]: [`View`], the ROS 2 definitions of a described type and the
//!   compiled program between its layout and CDR; the naming rules.
//! - `std_map`: the table of standard types (data, not code).
//! - [`cdr`]: [`encode`] and [`decode`].
//! - [`schema`]: [`View::msg_text`] (ros2msg) and [`View::type_hash`]
//!   (RIHS01).
//!
//! *Architecture invariant:* no runtime, no I/O: this crate depends on
//! `axon-message` and `axon-msgs` only (and `sha2`), never on `axon`.

pub mod cdr;
pub mod schema;
mod std_map;
pub mod view;

pub use cdr::{decode, decode_into, encode, DecodeError, Decoded, EncodeError};
pub use view::{RosField, RosMsg, RosPrim, RosType, Shape, View, ViewError};

impl View {
    /// [`cdr::encode`] with this view.
    pub fn encode(&self, sample: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        cdr::encode(self, sample, out)
    }

    /// [`cdr::decode`] with this view.
    pub fn decode(&self, cdr: &[u8]) -> Result<Decoded, DecodeError> {
        cdr::decode(self, cdr)
    }
}

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for the fuzzer (see the repository's `fuzz/`).

    use crate::View;

    /// Decodes `data` as CDR of every standard type and of a user type with
    /// nested structs, strings, arrays and a slice; never panics.
    pub fn cdr_decoder(data: &[u8]) {
        use axon_msgs as m;
        thread_local! {
            static VIEWS: Vec<View> = vec![
                View::of::<m::Imu>().expect("standard"),
                View::of::<m::JointState>().expect("standard"),
                View::of::<m::BatteryState>().expect("standard"),
                View::of::<m::Odometry>().expect("standard"),
                View::of::<m::LaserScan>().expect("standard"),
                View::of::<m::Image>().expect("standard"),
                View::of::<m::PointCloud>().expect("standard"),
                View::of::<m::Text>().expect("standard"),
            ];
        }
        VIEWS.with(|views| {
            for v in views {
                if let Ok(d) = v.decode(data) {
                    // What decodes encodes again.
                    let mut out = Vec::new();
                    let _ = v.encode(&d.bytes, &mut out);
                }
            }
        });
    }
}
