//! The ROS 2 view of a [`Description`]: one ROS 2 message definition per
//! struct, and the compiled program that moves each ROS field between CDR
//! and the axon layout.
//!
//! A struct that is one of the standard messages (same name *and* same
//! fingerprint as the `axon-msgs` type) maps through the table in
//! [`crate::std_map`]; every other struct maps 1:1 (see the crate docs for
//! the rules).

use core::fmt;

use axon_message::desc::{Description, Primitive, Struct, Ty};

use crate::std_map::{self, Src};

/// A ROS 2 primitive type (the ones axon layouts can produce).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RosPrim {
    Bool,
    Int8,
    Uint8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Uint64,
    Float32,
    Float64,
    /// An unbounded `string`.
    String,
}

impl RosPrim {
    /// The name in a `.msg` file.
    pub const fn name(self) -> &'static str {
        match self {
            RosPrim::Bool => "bool",
            RosPrim::Int8 => "int8",
            RosPrim::Uint8 => "uint8",
            RosPrim::Int16 => "int16",
            RosPrim::Uint16 => "uint16",
            RosPrim::Int32 => "int32",
            RosPrim::Uint32 => "uint32",
            RosPrim::Int64 => "int64",
            RosPrim::Uint64 => "uint64",
            RosPrim::Float32 => "float32",
            RosPrim::Float64 => "float64",
            RosPrim::String => "string",
        }
    }

    /// The field type id of `type_description_interfaces/msg/FieldType`
    /// (what the RIHS01 hash covers).
    pub const fn type_id(self) -> u8 {
        match self {
            RosPrim::Int8 => 2,
            RosPrim::Uint8 => 3,
            RosPrim::Int16 => 4,
            RosPrim::Uint16 => 5,
            RosPrim::Int32 => 6,
            RosPrim::Uint32 => 7,
            RosPrim::Int64 => 8,
            RosPrim::Uint64 => 9,
            RosPrim::Float32 => 10,
            RosPrim::Float64 => 11,
            RosPrim::Bool => 15,
            RosPrim::String => 17,
        }
    }

    /// Size in CDR (the length prefix for a string).
    pub(crate) const fn size(self) -> usize {
        match self {
            RosPrim::Bool | RosPrim::Int8 | RosPrim::Uint8 => 1,
            RosPrim::Int16 | RosPrim::Uint16 => 2,
            RosPrim::Int32 | RosPrim::Uint32 | RosPrim::Float32 | RosPrim::String => 4,
            RosPrim::Int64 | RosPrim::Uint64 | RosPrim::Float64 => 8,
        }
    }

    /// The ROS type of an axon primitive (128-bit integers are not
    /// primitives in ROS: they become `uint8[16]`, see [`base_of`]).
    fn of(p: Primitive) -> RosPrim {
        match (p.is_float(), p.is_signed(), p.size()) {
            (true, _, 4) => RosPrim::Float32,
            (true, _, _) => RosPrim::Float64,
            (false, true, 1) => RosPrim::Int8,
            (false, true, 2) => RosPrim::Int16,
            (false, true, 4) => RosPrim::Int32,
            (false, true, _) => RosPrim::Int64,
            (false, false, 1) => RosPrim::Uint8,
            (false, false, 2) => RosPrim::Uint16,
            (false, false, 4) => RosPrim::Uint32,
            (false, false, _) => RosPrim::Uint64,
        }
    }
}

/// The element type of a ROS field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RosType {
    Prim(RosPrim),
    /// The message at this index of [`View::messages`].
    Msg(usize),
}

/// Scalar, fixed array or unbounded sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    Scalar,
    /// `T[N]`.
    Array(u64),
    /// `T[]`.
    Sequence,
}

/// A field of a ROS 2 message definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosField {
    pub name: String,
    pub ty: RosType,
    pub shape: Shape,
}

/// A ROS 2 message definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosMsg {
    /// `pkg/msg/Type`.
    pub name: String,
    pub fields: Vec<RosField>,
    /// The axon struct it comes from (`None` for `sensor_msgs/PointField`).
    pub axon: Option<String>,
}

/// Why a description has no ROS 2 view.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViewError {
    /// The description does not validate.
    Invalid(String),
    /// The message type is not a struct (a bare primitive, array or slice).
    NotAStruct(String),
    /// Two different axon types (or fields) map to one ROS name.
    Collision {
        ros: String,
        first: String,
        second: String,
    },
    /// A struct that ends in a slice is nested in another one.
    NestedSlice(String),
}

impl fmt::Display for ViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViewError::Invalid(e) => write!(f, "invalid type description: {e}"),
            ViewError::NotAStruct(t) => write!(
                f,
                "{t} is not a struct: a ROS 2 message type must be a struct"
            ),
            ViewError::Collision { ros, first, second } => {
                write!(f, "{first} and {second} both map to the ROS 2 name {ros}")
            }
            ViewError::NestedSlice(t) => {
                write!(f, "{t} ends in a slice but is nested in another struct")
            }
        }
    }
}

impl std::error::Error for ViewError {}

/// How one element moves between the axon layout and CDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elem {
    /// A little-endian primitive of this size, the same in both.
    Prim(u8),
    /// A `u8` in axon, a `bool` in ROS.
    Bool,
    /// An `i64` in axon, an `int32` in ROS (range-checked when encoding).
    NarrowI32,
    /// A `FixedString` of this capacity, a `string` in ROS.
    Str(usize),
    /// A nested message: the plan at this index.
    Msg(usize),
}

/// One step of a message's program. Offsets are relative to the struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    One {
        off: usize,
        elem: Elem,
    },
    /// `T[len]` (bulk-copied when `elem` is a primitive of size `stride`).
    Fixed {
        off: usize,
        elem: Elem,
        stride: usize,
        len: usize,
    },
    /// `T[]` from the first `count` (a `u32` at `count_off`, clamped to
    /// `cap`) entries of a fixed array.
    Counted {
        off: usize,
        elem: Elem,
        stride: usize,
        cap: usize,
        count_off: usize,
    },
    /// `T[]` from the trailing slice: each slice item is `per_item` ROS
    /// elements of `stride` bytes, `item` bytes in all.
    Slice {
        off: usize,
        elem: Elem,
        stride: usize,
        per_item: usize,
        item: usize,
    },
    /// `T[]` that axon has no data for: always empty; decoding skips it.
    Empty {
        elem: Elem,
    },
    /// A `uint32` constant; decoding requires it.
    ConstU32(u32),
    /// A `bool` constant; decoding requires it.
    ConstBool(bool),
    /// A `uint8` of an otherwise empty message; decoding ignores it.
    Dummy,
    /// `row_step = width * point_step` (`width` a `u32` at `width_off`).
    RowStep {
        width_off: usize,
        point_step: u32,
    },
    /// The `PointField`s of axon's `PointCloud` points.
    PointFields,
}

/// The compiled program of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub ops: Vec<Op>,
    /// Fewest CDR bytes one value takes (at least 1), to bound counts.
    pub min_cdr: usize,
}

/// The ROS 2 view of a message type: its definitions, schema text, type
/// hash, and the CDR program (see [`crate::cdr`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    msgs: Vec<RosMsg>,
    root: usize,
    pub(crate) plans: Vec<Plan>,
    /// The root struct's size (the trailing slice's offset for a slice
    /// message) and alignment.
    pub(crate) size: usize,
    pub(crate) align: usize,
    /// Size of one trailing slice item, for a slice message.
    pub(crate) slice_item: Option<usize>,
}

impl View {
    /// The view of `T`.
    pub fn of<T: axon_message::Schema + ?Sized>() -> Result<View, ViewError> {
        View::new(&Description::of::<T>())
    }

    /// The view of a described type (validated first: descriptions read
    /// from a segment are hostile input).
    pub fn new(d: &Description) -> Result<View, ViewError> {
        d.validate().map_err(ViewError::Invalid)?;
        let Ty::Struct(root_struct) = d.root else {
            return Err(ViewError::NotAStruct(d.type_name().to_owned()));
        };
        let mut b = Builder {
            d,
            fp: d.clone(),
            msgs: Vec::new(),
            plans: Vec::new(),
            of_struct: vec![None; d.structs.len()],
            point_field: None,
        };
        for i in 0..d.structs.len() {
            b.map_struct(i, i == root_struct)?;
        }
        let root = b.of_struct[root_struct].expect("every struct was mapped");
        let s = &d.structs[root_struct];
        let slice_item = match s.fields.last().map(|f| &f.ty) {
            Some(Ty::Slice { elem }) => Some(d.size_of(elem) as usize),
            _ => None,
        };
        let mut view = View {
            msgs: b.msgs,
            root,
            plans: b.plans,
            size: s.size as usize,
            align: s.align as usize,
            slice_item,
        };
        view.check_names()?;
        Ok(view)
    }

    /// Every ROS 2 message definition involved; dependencies come before
    /// the messages that use them.
    pub fn messages(&self) -> &[RosMsg] {
        &self.msgs
    }

    /// The message type's own definition.
    pub fn root(&self) -> &RosMsg {
        &self.msgs[self.root]
    }

    pub(crate) fn root_index(&self) -> usize {
        self.root
    }

    /// The ROS 2 type name, `pkg/msg/Type`.
    pub fn type_name(&self) -> &str {
        &self.root().name
    }

    /// The DDS type name rmw implementations use (`pkg::msg::dds_::Type_`).
    pub fn dds_type_name(&self) -> String {
        format!("{}_", self.type_name().replace("/msg/", "::msg::dds_::"))
    }

    /// Whether samples end in a slice.
    pub fn is_slice(&self) -> bool {
        self.slice_item.is_some()
    }

    fn check_names(&mut self) -> Result<(), ViewError> {
        for (i, a) in self.msgs.iter().enumerate() {
            if let Some(b) = self.msgs[..i].iter().find(|b| b.name == a.name) {
                return Err(ViewError::Collision {
                    ros: a.name.clone(),
                    first: b.axon.clone().unwrap_or_else(|| b.name.clone()),
                    second: a.axon.clone().unwrap_or_else(|| a.name.clone()),
                });
            }
            for (j, f) in a.fields.iter().enumerate() {
                if a.fields[..j].iter().any(|g| g.name == f.name) {
                    return Err(ViewError::Collision {
                        ros: format!("{}.{}", a.name, f.name),
                        first: format!("a field of {}", a.axon.as_deref().unwrap_or("?")),
                        second: "another".into(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The innermost element of a (possibly nested) array type, and how many of
/// them it holds: `[[f64; 3]; 3]` is nine `f64`, a `u128` sixteen `u8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Base {
    Prim(Primitive),
    Str(u64),
    Struct(usize),
}

fn base_of(ty: &Ty) -> (Base, u64) {
    match ty {
        Ty::Primitive(Primitive::U128 | Primitive::I128) => (Base::Prim(Primitive::U8), 16),
        Ty::Primitive(p) => (Base::Prim(*p), 1),
        Ty::String { capacity } => (Base::Str(*capacity), 1),
        Ty::Struct(i) => (Base::Struct(*i), 1),
        Ty::Array { elem, len } => {
            let (b, n) = base_of(elem);
            (b, n.saturating_mul(*len))
        }
        // A slice inside an array is refused by validation; give it no data.
        Ty::Slice { elem } => (base_of(elem).0, 0),
    }
}

struct Builder<'a> {
    d: &'a Description,
    /// A copy of the description whose root is moved to compute each
    /// struct's fingerprint.
    fp: Description,
    msgs: Vec<RosMsg>,
    plans: Vec<Plan>,
    of_struct: Vec<Option<usize>>,
    point_field: Option<usize>,
}

impl Builder<'_> {
    fn base_size(&self, b: Base) -> usize {
        match b {
            Base::Prim(p) => p.size(),
            Base::Str(cap) => cap as usize + 4,
            Base::Struct(i) => self.d.structs[i].size as usize,
        }
    }

    fn ros_of(&self, b: Base) -> (RosType, Elem) {
        match b {
            Base::Prim(p) => (RosType::Prim(RosPrim::of(p)), Elem::Prim(p.size() as u8)),
            Base::Str(cap) => (RosType::Prim(RosPrim::String), Elem::Str(cap as usize)),
            Base::Struct(i) => {
                let m = self.of_struct[i].expect("dependencies are mapped first");
                (RosType::Msg(m), Elem::Msg(m))
            }
        }
    }

    fn min_cdr(&self, elem: Elem) -> usize {
        match elem {
            Elem::Prim(n) => n as usize,
            Elem::Bool => 1,
            Elem::NarrowI32 | Elem::Str(_) => 4,
            Elem::Msg(m) => self.plans[m].min_cdr,
        }
    }

    fn push(&mut self, msg: RosMsg, ops: Vec<Op>) -> usize {
        let mut min = 0usize;
        for op in &ops {
            min = min.saturating_add(match op {
                Op::One { elem, .. } => self.min_cdr(*elem),
                Op::Fixed { elem, len, .. } => self.min_cdr(*elem).saturating_mul(*len),
                Op::Counted { .. }
                | Op::Slice { .. }
                | Op::Empty { .. }
                | Op::ConstU32(_)
                | Op::RowStep { .. }
                | Op::PointFields => 4,
                Op::ConstBool(_) | Op::Dummy => 1,
            });
        }
        let ops = flatten_ops(ops, &self.plans);
        self.msgs.push(msg);
        self.plans.push(Plan {
            ops,
            min_cdr: min.max(1),
        });
        self.msgs.len() - 1
    }

    fn map_struct(&mut self, i: usize, is_root: bool) -> Result<(), ViewError> {
        let s = &self.d.structs[i];
        // A struct ending in a slice may only be the message itself.
        if !is_root && s.fields.iter().any(|f| matches!(f.ty, Ty::Slice { .. })) {
            let nested = self
                .d
                .structs
                .iter()
                .any(|o| o.fields.iter().any(|f| refers_to(&f.ty, i)));
            if nested {
                return Err(ViewError::NestedSlice(s.name.clone()));
            }
        }
        self.fp.root = Ty::Struct(i);
        let fingerprint = self.fp.fingerprint();
        let m = match std_map::find(&s.name, fingerprint) {
            Some(t) => self.map_std(s, t)?,
            None => self.map_user(s)?,
        };
        self.of_struct[i] = Some(m);
        Ok(())
    }

    /// A field mapped by its own type: primitives, strings and structs as
    /// themselves, arrays (flattened) as `T[N]`, the slice as `T[]`.
    /// Arrays of no elements, or of zero-sized ones, are refused: ROS has
    /// no `T[0]`, and they would let a description make the codec loop or
    /// write without reading input (`what` names the field).
    fn natural(&self, off: usize, ty: &Ty, what: &str) -> Result<(RosType, Shape, Op), ViewError> {
        Ok(match ty {
            Ty::Slice { elem } => {
                let (base, per_item) = base_of(elem);
                let (rt, e) = self.ros_of(base);
                let op = Op::Slice {
                    off,
                    elem: e,
                    stride: self.base_size(base),
                    per_item: per_item as usize,
                    item: self.d.size_of(elem) as usize,
                };
                (rt, Shape::Sequence, op)
            }
            other => {
                let (base, n) = base_of(other);
                let (rt, e) = self.ros_of(base);
                if n == 1 && !matches!(other, Ty::Array { .. }) {
                    (rt, Shape::Scalar, Op::One { off, elem: e })
                } else {
                    if n == 0 || self.base_size(base) == 0 {
                        return Err(ViewError::Invalid(format!(
                            "{what}: an array of no elements or of zero-sized ones has no ROS 2 form"
                        )));
                    }
                    let op = Op::Fixed {
                        off,
                        elem: e,
                        stride: self.base_size(base),
                        len: n as usize,
                    };
                    (rt, Shape::Array(n), op)
                }
            }
        })
    }

    fn map_user(&mut self, s: &Struct) -> Result<usize, ViewError> {
        let mut fields = Vec::new();
        let mut ops = Vec::new();
        for f in s.fields.iter().filter(|f| !f.padding) {
            let name = field_name(&f.name);
            let (ty, shape, op) =
                self.natural(f.offset as usize, &f.ty, &format!("{}.{}", s.name, f.name))?;
            fields.push(RosField { name, ty, shape });
            ops.push(op);
        }
        if fields.is_empty() {
            // As rosidl does for an empty message.
            fields.push(RosField {
                name: "structure_needs_at_least_one_member".into(),
                ty: RosType::Prim(RosPrim::Uint8),
                shape: Shape::Scalar,
            });
            ops.push(Op::Dummy);
        }
        let msg = RosMsg {
            name: ros_type_name(&s.name),
            fields,
            axon: Some(s.name.clone()),
        };
        Ok(self.push(msg, ops))
    }

    fn map_std(&mut self, s: &Struct, t: &std_map::StdType) -> Result<usize, ViewError> {
        let field = |name: &str| {
            s.fields.iter().find(|f| f.name == name).ok_or_else(|| {
                ViewError::Invalid(format!("standard type {} has no field {name}", s.name))
            })
        };
        let mut fields = Vec::new();
        let mut ops = Vec::new();
        for (ros_name, src) in t.fields {
            let (ty, shape, op) = match *src {
                Src::Field(name) => {
                    let f = field(name)?;
                    self.natural(f.offset as usize, &f.ty, &format!("{}.{name}", s.name))?
                }
                Src::Counted { field: name, count } => {
                    let f = field(name)?;
                    let c = field(count)?;
                    let (base, n) = base_of(&f.ty);
                    let (ty, elem) = self.ros_of(base);
                    let op = Op::Counted {
                        off: f.offset as usize,
                        elem,
                        stride: self.base_size(base),
                        cap: n as usize,
                        count_off: c.offset as usize,
                    };
                    (ty, Shape::Sequence, op)
                }
                Src::NarrowI32(name) => {
                    let f = field(name)?;
                    let op = Op::One {
                        off: f.offset as usize,
                        elem: Elem::NarrowI32,
                    };
                    (RosType::Prim(RosPrim::Int32), Shape::Scalar, op)
                }
                Src::Bool(name) => {
                    let f = field(name)?;
                    let op = Op::One {
                        off: f.offset as usize,
                        elem: Elem::Bool,
                    };
                    (RosType::Prim(RosPrim::Bool), Shape::Scalar, op)
                }
                Src::Empty(p) => (
                    RosType::Prim(p),
                    Shape::Sequence,
                    Op::Empty {
                        elem: Elem::Prim(p.size() as u8),
                    },
                ),
                Src::ConstU32(v) => (
                    RosType::Prim(RosPrim::Uint32),
                    Shape::Scalar,
                    Op::ConstU32(v),
                ),
                Src::ConstBool(v) => (
                    RosType::Prim(RosPrim::Bool),
                    Shape::Scalar,
                    Op::ConstBool(v),
                ),
                Src::RowStep { width, point_step } => {
                    let f = field(width)?;
                    let op = Op::RowStep {
                        width_off: f.offset as usize,
                        point_step,
                    };
                    (RosType::Prim(RosPrim::Uint32), Shape::Scalar, op)
                }
                Src::PointFields => {
                    let m = self.point_field();
                    (RosType::Msg(m), Shape::Sequence, Op::PointFields)
                }
                Src::SliceBytes(name) => {
                    let f = field(name)?;
                    let Ty::Slice { elem } = &f.ty else {
                        return Err(ViewError::Invalid(format!(
                            "{}.{name} is not a slice",
                            s.name
                        )));
                    };
                    let item = self.d.size_of(elem) as usize;
                    let op = Op::Slice {
                        off: f.offset as usize,
                        elem: Elem::Prim(1),
                        stride: 1,
                        per_item: item,
                        item,
                    };
                    (RosType::Prim(RosPrim::Uint8), Shape::Sequence, op)
                }
            };
            fields.push(RosField {
                name: (*ros_name).to_owned(),
                ty,
                shape,
            });
            ops.push(op);
        }
        let msg = RosMsg {
            name: t.ros.to_owned(),
            fields,
            axon: Some(s.name.clone()),
        };
        Ok(self.push(msg, ops))
    }

    /// `sensor_msgs/msg/PointField`, which has no axon struct.
    fn point_field(&mut self) -> usize {
        if let Some(m) = self.point_field {
            return m;
        }
        let prim = |name: &str, p: RosPrim| RosField {
            name: name.into(),
            ty: RosType::Prim(p),
            shape: Shape::Scalar,
        };
        let msg = RosMsg {
            name: "sensor_msgs/msg/PointField".into(),
            fields: vec![
                prim("name", RosPrim::String),
                prim("offset", RosPrim::Uint32),
                prim("datatype", RosPrim::Uint8),
                prim("count", RosPrim::Uint32),
            ],
            axon: None,
        };
        // Never run as a plan (PointFields writes the values itself).
        let m = self.push(msg, vec![Op::Dummy]);
        self.point_field = Some(m);
        m
    }
}

fn refers_to(ty: &Ty, i: usize) -> bool {
    match ty {
        Ty::Struct(j) => *j == i,
        Ty::Array { elem, .. } | Ty::Slice { elem } => refers_to(elem, i),
        _ => false,
    }
}

/// Inlines nested messages held once (their ops move into the parent at
/// the field's offset) and merges neighbouring primitives of one size that
/// lie back to back in both layouts into one bulk copy. Exact: CDR aligns
/// primitives, never structs, and same-sized primitives in a row need no
/// padding between them.
fn flatten_ops(ops: Vec<Op>, plans: &[Plan]) -> Vec<Op> {
    let mut out: Vec<Op> = Vec::with_capacity(ops.len());
    let push = |op: Op, out: &mut Vec<Op>| {
        let run = |op: &Op| match *op {
            Op::One {
                off,
                elem: Elem::Prim(n),
            } => Some((off, n as usize, 1)),
            Op::Fixed {
                off,
                elem: Elem::Prim(n),
                stride,
                len,
            } if stride == n as usize => Some((off, n as usize, len)),
            _ => None,
        };
        if let (Some((off, n, len)), Some((poff, pn, plen))) = (run(&op), out.last().and_then(run))
        {
            if n == pn && poff + pn * plen == off {
                *out.last_mut().expect("checked") = Op::Fixed {
                    off: poff,
                    elem: Elem::Prim(n as u8),
                    stride: n,
                    len: plen + len,
                };
                return;
            }
        }
        out.push(op);
    };
    for op in ops {
        match op {
            Op::One {
                off,
                elem: Elem::Msg(m),
            } => {
                for inner in &plans[m].ops {
                    push(shift(inner, off), &mut out);
                }
            }
            op => push(op, &mut out),
        }
    }
    out
}

fn shift(op: &Op, by: usize) -> Op {
    let mut op = op.clone();
    match &mut op {
        Op::One { off, .. } | Op::Fixed { off, .. } | Op::Slice { off, .. } => *off += by,
        Op::Counted { off, count_off, .. } => {
            *off += by;
            *count_off += by;
        }
        Op::RowStep { width_off, .. } => *width_off += by,
        Op::Empty { .. } | Op::ConstU32(_) | Op::ConstBool(_) | Op::Dummy | Op::PointFields => {}
    }
    op
}

/// The ROS 2 name of an axon type name: `my-robot/Wheel` ->
/// `my_robot/msg/Wheel` (see the crate docs).
pub fn ros_type_name(axon: &str) -> String {
    let (pkg, ty) = match axon.rsplit_once('/') {
        Some((pkg, ty)) => (pkg, ty),
        None => ("axon", axon),
    };
    format!("{}/msg/{}", package_name(pkg), message_name(ty))
}

/// Lowercase letters, digits and single underscores, starting with a letter.
fn snake(s: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if !(c == '_' && (out.is_empty() || out.ends_with('_'))) {
            out.push(c);
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, prefix);
    }
    out
}

fn package_name(pkg: &str) -> String {
    snake(pkg, "pkg_")
}

/// A field name: `0` (a tuple struct's) becomes `field_0`.
pub(crate) fn field_name(name: &str) -> String {
    snake(name, "field_")
}

fn message_name(ty: &str) -> String {
    let mut out: String = ty.chars().filter(char::is_ascii_alphanumeric).collect();
    match out.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => {
            out[..1].make_ascii_uppercase();
            out
        }
        _ => format!("T{out}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_ros_rules() {
        assert_eq!(ros_type_name("my-robot/Wheel"), "my_robot/msg/Wheel");
        assert_eq!(
            ros_type_name("My--Robot_/wheel<u8>"),
            "my_robot/msg/Wheelu8"
        );
        assert_eq!(ros_type_name("Lonely"), "axon/msg/Lonely");
        assert_eq!(ros_type_name("9lives/9"), "pkg_9lives/msg/T9");
        assert_eq!(field_name("0"), "field_0");
        assert_eq!(field_name("velocityX"), "velocityx");
        assert_eq!(field_name("_reserved__bits_"), "reserved_bits");
    }
}
#[cfg(test)]
mod plan_tests {
    use super::{Elem, Op, View};

    /// The Imu's program is four steps: the narrowed seconds, the
    /// nanoseconds, the frame id, and its 37 `f64` (quaternion, vectors and
    /// covariances lie back to back in both layouts) in one copy.
    #[test]
    fn nested_structs_are_inlined_and_contiguous_floats_merged() {
        let v = View::of::<axon_msgs::Imu>().unwrap();
        let ops = &v.plans[v.root_index()].ops;
        assert_eq!(ops.len(), 4, "{ops:#?}");
        assert_eq!(
            ops[3],
            Op::Fixed {
                off: 88,
                elem: Elem::Prim(8),
                stride: 8,
                len: 37
            }
        );
    }
}
