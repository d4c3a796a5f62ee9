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
    //! Entry points for the fuzzer (`fuzz/fuzz_targets/cdr_decoder.rs`).

    use axon_message::desc::{Description, Primitive, Struct, StructField, Ty};

    use crate::View;

    /// A user type no derive wrote, with what the standard types lack: an
    /// array of structs holding strings, and a slice of structs.
    pub fn user_description() -> Description {
        let field = |name: &str, offset, ty, padding| StructField {
            name: name.into(),
            offset,
            ty,
            padding,
        };
        let inner = Struct {
            name: "fuzz/Inner".into(),
            size: 12,
            align: 2,
            fields: vec![
                field("name", 0, Ty::String { capacity: 6 }, false),
                field("v", 10, Ty::Primitive(Primitive::U16), false),
            ],
        };
        let outer = Struct {
            name: "fuzz/Outer".into(),
            size: 40,
            align: 2,
            fields: vec![
                field("one", 0, Ty::Struct(0), false),
                field(
                    "two",
                    12,
                    Ty::Array {
                        elem: Box::new(Ty::Struct(0)),
                        len: 2,
                    },
                    false,
                ),
                field("flag", 36, Ty::Primitive(Primitive::U8), false),
                field(
                    "_pad",
                    37,
                    Ty::Array {
                        elem: Box::new(Ty::Primitive(Primitive::U8)),
                        len: 3,
                    },
                    true,
                ),
                field(
                    "items",
                    40,
                    Ty::Slice {
                        elem: Box::new(Ty::Struct(0)),
                    },
                    false,
                ),
            ],
        };
        Description {
            root: Ty::Struct(1),
            structs: vec![inner, outer],
        }
    }

    /// The views the decoder is fuzzed with: every standard type with a
    /// distinct program, and [`user_description`].
    pub fn views() -> Vec<View> {
        use axon_msgs as m;
        vec![
            View::of::<m::Imu>().expect("standard"),
            View::of::<m::JointState>().expect("standard"),
            View::of::<m::BatteryState>().expect("standard"),
            View::of::<m::Odometry>().expect("standard"),
            View::of::<m::LaserScan>().expect("standard"),
            View::of::<m::Image>().expect("standard"),
            View::of::<m::PointCloud>().expect("standard"),
            View::of::<m::Text>().expect("standard"),
            View::of::<m::TfMessage>().expect("standard"),
            View::new(&user_description()).expect("valid"),
        ]
    }

    /// Decodes `data` as CDR of each of [`views`]; what decodes is encoded
    /// again. Never panics.
    pub fn cdr_decoder(data: &[u8]) {
        thread_local! {
            static VIEWS: Vec<View> = views();
        }
        VIEWS.with(|views| {
            for v in views {
                if let Ok(d) = v.decode(data) {
                    let mut out = Vec::new();
                    let _ = v.encode(&d.bytes, &mut out);
                }
            }
        });
    }
}
