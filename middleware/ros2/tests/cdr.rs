//! CDR in Rust alone: round trips, the documented lossy corners, and hostile
//! input (every truncation and byte corruption of valid messages, huge
//! counts, long strings, foreign point layouts).

mod support;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use axon_message::desc::{Description, Primitive, Struct, StructField, Ty};
use axon_msgs as m;
use axon_ros2::{EncodeError, View, ViewError};
use zerocopy::{FromBytes, IntoBytes};

/// Runs `f` on a thread and fails after `limit` (a hang is a failure).
fn with_watchdog(limit: Duration, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => worker.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung for {limit:?}"),
    }
}

fn cdr(view: &View, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    view.encode(bytes, &mut out).unwrap();
    out
}

#[test]
fn every_type_round_trips_to_identical_bytes() {
    for c in support::all() {
        let wire = cdr(&c.view, &c.bytes);
        assert_eq!(&wire[..4], &[0, 1, 0, 0], "{}", c.name);
        let d = c
            .view
            .decode(&wire)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(d.bytes, c.bytes, "{}", c.name);
        assert_eq!(d.slice_len.is_some(), c.view.is_slice(), "{}", c.name);
        // Appending to a buffer that already holds data aligns relative to
        // the new message, not the buffer.
        let mut out = vec![0xAA; 3];
        c.view.encode(&c.bytes, &mut out).unwrap();
        assert_eq!(&out[3..], &wire[..], "{}", c.name);
    }
}

#[test]
fn header_seq_is_dropped_and_decodes_as_zero() {
    let mut h = support::hdr(1, 2, "map");
    let view = View::of::<m::Header>().unwrap();
    let with_seq = {
        h.seq = 99;
        h.as_bytes().to_vec()
    };
    h.seq = 0;
    assert_eq!(cdr(&view, &with_seq), cdr(&view, h.as_bytes()));
    let back = view.decode(&cdr(&view, &with_seq)).unwrap();
    assert_eq!(m::Header::read_from_bytes(&back.bytes).unwrap(), h);
}

#[test]
fn time_beyond_int32_seconds_is_an_encode_error() {
    let view = View::of::<m::Time>().unwrap();
    for sec in [i64::from(i32::MAX) + 1, i64::from(i32::MIN) - 1, i64::MAX] {
        let t = m::Time::new(sec, 0);
        let mut out = vec![7];
        let err = view.encode(t.as_bytes(), &mut out).unwrap_err();
        assert!(matches!(err, EncodeError::OutOfRange { .. }), "{err}");
        assert_eq!(out, [7], "a failed encode leaves the buffer as it was");
    }
    let t = m::Time::new(i64::from(i32::MIN), 5);
    let back = view.decode(&cdr(&view, t.as_bytes())).unwrap();
    assert_eq!(m::Time::read_from_bytes(&back.bytes).unwrap(), t);
}

#[test]
fn a_short_sample_is_an_encode_error() {
    let view = View::of::<m::Imu>().unwrap();
    let err = view.encode(&[0; 100], &mut Vec::new()).unwrap_err();
    assert_eq!(
        err,
        EncodeError::ShortSample {
            len: 100,
            need: 384
        }
    );
}

#[test]
fn joint_state_count_is_clamped_and_overfull_sequences_are_refused() {
    let view = View::of::<m::JointState>().unwrap();
    let mut js = m::JointState::default();
    js.push("a", 1.0, 2.0, 3.0).unwrap();
    js.count = u32::MAX; // hostile: every accessor clamps to 32
    let wire = cdr(&view, js.as_bytes());
    let back = m::JointState::read_from_bytes(&view.decode(&wire).unwrap().bytes).unwrap();
    assert_eq!(back.count, 32);
    assert_eq!(back.names()[0], "a");

    // 33 names: more than axon holds.
    let mut w = Cdr::joint_state_header();
    w.u32(33);
    for _ in 0..33 {
        w.str("j");
    }
    let err = view.decode(&w.0).unwrap_err();
    assert!(err.what.contains("at most 32"), "{err}");

    // Sequences of different lengths share one count: refused; empty ones
    // beside them are fine (ROS allows omitting velocity and effort).
    let mut w = Cdr::joint_state_header();
    w.u32(2);
    w.str("a");
    w.str("b");
    w.u32(1);
    w.f64(1.0);
    w.u32(0);
    w.u32(0);
    let err = view.decode(&w.0).unwrap_err();
    assert!(err.what.contains("share one count"), "{err}");
    let mut w = Cdr::joint_state_header();
    w.u32(2);
    w.str("a");
    w.str("b");
    w.u32(2);
    w.f64(1.0);
    w.f64(-2.0);
    w.u32(0);
    w.u32(0);
    let back = m::JointState::read_from_bytes(&view.decode(&w.0).unwrap().bytes).unwrap();
    assert_eq!(back.count, 2);
    assert_eq!(back.positions(), &[1.0, -2.0]);
    assert_eq!(back.velocities(), &[0.0, 0.0]);
    assert_eq!(back.names()[1], "b");
}

/// A hand-written CDR message.
struct Cdr(Vec<u8>);

impl Cdr {
    fn new() -> Cdr {
        Cdr(vec![0, 1, 0, 0])
    }
    fn align(&mut self, a: usize) {
        while (self.0.len() - 4) % a != 0 {
            self.0.push(0);
        }
    }
    fn u32(&mut self, v: u32) {
        self.align(4);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.align(8);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32 + 1);
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
    }
    /// A std_msgs/Header: stamp 0, frame_id "".
    fn joint_state_header() -> Cdr {
        let mut w = Cdr::new();
        w.u32(0);
        w.u32(0);
        w.str("");
        w
    }
}

fn text_cdr(s: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 1, 0, 0];
    b.extend_from_slice(&(s.len() as u32 + 1).to_le_bytes());
    b.extend_from_slice(s);
    b.push(0);
    b
}

#[test]
fn strings_longer_than_capacity_or_not_utf8_are_refused() {
    let view = View::of::<m::Text>().unwrap();
    let ok = view.decode(&text_cdr(&[b'x'; 252])).unwrap();
    assert_eq!(
        m::Text::read_from_bytes(&ok.bytes).unwrap().as_str().len(),
        252
    );
    let err = view.decode(&text_cdr(&[b'x'; 253])).unwrap_err();
    assert!(err.what.contains("at most 252"), "{err}");
    let err = view.decode(&text_cdr(b"a\xffb")).unwrap_err();
    assert!(err.what.contains("UTF-8"), "{err}");
    let mut no_nul = text_cdr(b"abc");
    *no_nul.last_mut().unwrap() = b'd';
    assert!(view.decode(&no_nul).unwrap_err().what.contains("NUL"));
    // A FixedString whose stored length is hostile is sent as as_str() reads it.
    let mut t = m::Text::new("hello");
    t.as_mut_bytes()[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
    let back = view.decode(&cdr(&view, t.as_bytes())).unwrap();
    assert_eq!(
        m::Text::read_from_bytes(&back.bytes).unwrap().data.len(),
        252
    );
}

#[test]
fn huge_counts_are_refused_before_allocating() {
    let view = View::of::<m::Image>().unwrap();
    let all = support::standard();
    let c = all.iter().find(|c| c.name == "Image").unwrap();
    let mut wire = cdr(&view, &c.bytes);
    let data_count = wire.len() - 36 - 4;
    assert_eq!(&wire[data_count..data_count + 4], &36u32.to_le_bytes());
    wire[data_count..data_count + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = view.decode(&wire).unwrap_err();
    assert!(err.what.contains("remaining bytes"), "{err}");
    assert_eq!(err.at, data_count);
}

#[test]
fn a_header_shorter_than_four_bytes_is_refused_not_a_panic() {
    // Regression: `[0, 1]` matched the little-endian header pattern and the
    // decoder sliced past the end.
    let view = View::of::<m::Text>().unwrap();
    for short in [&[][..], &[0], &[0, 1], &[0, 1, 0]] {
        assert!(view.decode(short).is_err());
    }
}

#[test]
fn encapsulations_other_than_little_endian_cdr_are_refused() {
    let view = View::of::<m::Text>().unwrap();
    let mut b = text_cdr(b"hi");
    b[1] = 0;
    assert!(view.decode(&b).unwrap_err().what.contains("big-endian"));
    b[1] = 3;
    assert!(view.decode(&b).unwrap_err().what.contains("not plain CDR"));
    assert!(view.decode(&[0, 1]).is_err());
}

#[test]
fn point_clouds_of_another_layout_are_refused() {
    let c = support::standard()
        .into_iter()
        .find(|c| c.name == "PointCloud")
        .unwrap();
    let wire = cdr(&c.view, &c.bytes);
    // point_step (16) follows is_bigendian; find it after the fields.
    let at = wire
        .windows(4)
        .position(|w| w == 16u32.to_le_bytes())
        .unwrap();
    let mut b = wire.clone();
    b[at] = 12;
    assert!(c.view.decode(&b).is_err());
    // A field renamed: "intensity" -> "intensitz".
    let at = wire.windows(9).position(|w| w == b"intensity").unwrap();
    let mut b = wire.clone();
    b[at + 8] = b'z';
    assert!(c
        .view
        .decode(&b)
        .unwrap_err()
        .what
        .contains("PointCloud2 fields"));
    // row_step not width * 16 (padded rows).
    let at = wire
        .windows(4)
        .position(|w| w == 32u32.to_le_bytes())
        .unwrap();
    let mut b = wire.clone();
    b[at] = 48;
    assert!(c.view.decode(&b).unwrap_err().what.contains("row_step"));
}

#[test]
fn every_truncation_and_byte_corruption_is_handled_without_panic() {
    with_watchdog(Duration::from_secs(120), || {
        for c in support::all() {
            let wire = cdr(&c.view, &c.bytes);
            for cut in 0..wire.len() {
                assert!(
                    c.view.decode(&wire[..cut]).is_err(),
                    "{} cut at {cut}",
                    c.name
                );
            }
            for i in 0..wire.len() {
                for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                    let mut b = wire.clone();
                    b[i] = v;
                    if let Ok(d) = c.view.decode(&b) {
                        let mut again = Vec::new();
                        c.view.encode(&d.bytes, &mut again).unwrap();
                    }
                    axon_ros2::fuzzing::cdr_decoder(&b);
                }
            }
        }
    });
}

#[test]
fn names_that_collide_and_types_that_are_not_structs_have_no_view() {
    #[derive(
        zerocopy::FromBytes,
        zerocopy::IntoBytes,
        zerocopy::KnownLayout,
        zerocopy::Immutable,
        axon_derive::Message,
    )]
    #[repr(C)]
    #[allow(non_snake_case)]
    struct Twins {
        a_b: u8,
        #[allow(non_snake_case)]
        A_B: u8,
    }
    let err = View::of::<Twins>().unwrap_err();
    assert!(matches!(err, ViewError::Collision { .. }), "{err}");
    assert!(matches!(
        View::of::<[u8]>().unwrap_err(),
        ViewError::NotAStruct(_)
    ));
}

#[test]
fn a_same_named_type_of_another_layout_maps_as_a_user_type() {
    #[derive(
        zerocopy::FromBytes,
        zerocopy::IntoBytes,
        zerocopy::KnownLayout,
        zerocopy::Immutable,
        axon_derive::Message,
    )]
    #[axon(name = "axon-msgs/Imu")]
    #[repr(C)]
    struct Imu {
        yaw: f64,
    }
    let view = View::of::<Imu>().unwrap();
    assert_eq!(view.type_name(), "axon_msgs/msg/Imu");
    assert_eq!(view.msg_text(), "float64 yaw\n");
    // The real one nested in a user type still maps to ROS's.
    let view = View::of::<support::Wheel>().unwrap();
    assert!(view.msg_text().contains("std_msgs/Header header\n"));
    assert!(view.msg_text().contains("MSG: geometry_msgs/msg/Pose\n"));
}

#[test]
fn hostile_descriptions_are_refused() {
    let s = |name: &str, fields: Vec<StructField>, size| Struct {
        name: name.into(),
        size,
        align: 1,
        fields,
    };
    let f = |name: &str, ty| StructField {
        name: name.into(),
        offset: 0,
        ty,
        padding: false,
    };
    // A struct ending in a slice nested in another.
    let d = Description {
        root: Ty::Struct(1),
        structs: vec![
            s(
                "t/A",
                vec![f(
                    "x",
                    Ty::Slice {
                        elem: Box::new(Ty::Primitive(Primitive::U8)),
                    },
                )],
                0,
            ),
            s("t/B", vec![f("a", Ty::Struct(0))], 0),
        ],
    };
    assert!(View::new(&d).is_err());
    // Arrays of nothing, or of zero-sized structs (which would make a
    // decoder loop without reading or an encoder write without reading).
    let empty = s("t/Empty", vec![], 0);
    for (len, elem) in [(0, Ty::Primitive(Primitive::U8)), (1 << 40, Ty::Struct(0))] {
        let d = Description {
            root: Ty::Struct(1),
            structs: vec![
                empty.clone(),
                s(
                    "t/B",
                    vec![f(
                        "a",
                        Ty::Array {
                            elem: Box::new(elem),
                            len,
                        },
                    )],
                    0,
                ),
            ],
        };
        d.validate().unwrap();
        let err = View::new(&d).unwrap_err();
        assert!(err.to_string().contains("no ROS 2 form"), "{err}");
    }
    // An empty struct alone is rosidl's one-byte message.
    let d = Description {
        root: Ty::Struct(0),
        structs: vec![empty],
    };
    let view = View::new(&d).unwrap();
    assert_eq!(
        view.msg_text(),
        "uint8 structure_needs_at_least_one_member\n"
    );
    let mut out = Vec::new();
    view.encode(&[], &mut out).unwrap();
    assert_eq!(out, [0, 1, 0, 0, 0]);
    // A forward reference (validation).
    let d = Description {
        root: Ty::Struct(0),
        structs: vec![s("t/A", vec![f("x", Ty::Struct(0))], 0)],
    };
    assert!(matches!(View::new(&d).unwrap_err(), ViewError::Invalid(_)));
}
