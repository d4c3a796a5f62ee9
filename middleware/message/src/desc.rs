//! Type descriptions: what a message's bytes mean, for tools that did not
//! compile the type.
//!
//! Every [`Schema`](crate::Schema) type has a [`Kind`] ([`Schema::KIND`]),
//! a `const` tree written by `#[derive(Message)]` at compile time: the type
//! name, and for every field its name, offset and kind (a primitive, a fixed
//! array, the fixed-capacity string, a nested message, or the trailing slice
//! of a slice message), padding fields marked as such.
//!
//! At run time a tool works on a [`Description`]: the same tree flattened
//! into a table of structs (each nested type once, referred to by index),
//! owned, and able to travel. Whoever creates a topic's segment writes its
//! type's description there ([`Description::encode`]); every tool reads it
//! back with [`Description::decode`], which validates it as hostile input
//! (bounded sizes and counts, offsets inside their struct, no cycles, known
//! kinds) and never panics. [`Description::fingerprint`] recomputes the
//! layout fingerprint from a description, so a description that disagrees
//! with the fingerprint it claims to describe is caught.
//!
//! [`Schema::KIND`]: crate::Schema::KIND
//!
//! ```
//! use axon_message::{desc::{Description, Primitive, Ty}, Schema};
//!
//! // A struct's description lists its fields (see `axon_derive`); a plain
//! // array's is just its kind.
//! let d = Description::of::<[u32; 2]>();
//! assert_eq!(d.root, Ty::Array { elem: Box::new(Ty::Primitive(Primitive::U32)), len: 2 });
//! assert_eq!(d.fingerprint(), <[u32; 2]>::FINGERPRINT);
//! assert_eq!(Description::decode(&d.encode()).unwrap(), d);
//! ```

use core::fmt;

use crate::Fingerprint;

/// A primitive number type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Primitive {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    U128,
    I128,
    F32,
    F64,
    /// `usize`: 64 bits on the platforms axon runs on, but a distinct type
    /// name (and fingerprint) in Rust.
    Usize,
    /// `isize`, likewise.
    Isize,
}

impl Primitive {
    /// Every primitive, in the order of their codes.
    pub const ALL: [Primitive; 14] = [
        Primitive::U8,
        Primitive::I8,
        Primitive::U16,
        Primitive::I16,
        Primitive::U32,
        Primitive::I32,
        Primitive::U64,
        Primitive::I64,
        Primitive::U128,
        Primitive::I128,
        Primitive::F32,
        Primitive::F64,
        Primitive::Usize,
        Primitive::Isize,
    ];

    /// Its size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Primitive::U8 | Primitive::I8 => 1,
            Primitive::U16 | Primitive::I16 => 2,
            Primitive::U32 | Primitive::I32 | Primitive::F32 => 4,
            Primitive::U64 | Primitive::I64 | Primitive::F64 => 8,
            Primitive::Usize | Primitive::Isize => core::mem::size_of::<usize>(),
            Primitive::U128 | Primitive::I128 => 16,
        }
    }

    /// Its alignment on this platform.
    pub const fn align(self) -> usize {
        match self {
            Primitive::U8 | Primitive::I8 => 1,
            Primitive::U16 | Primitive::I16 => 2,
            Primitive::U32 | Primitive::I32 | Primitive::F32 => 4,
            Primitive::U64 | Primitive::I64 | Primitive::F64 => core::mem::align_of::<u64>(),
            Primitive::Usize | Primitive::Isize => core::mem::align_of::<usize>(),
            Primitive::U128 | Primitive::I128 => core::mem::align_of::<u128>(),
        }
    }

    /// Its Rust name (`"u8"`, `"f64"`, ...), as in its `Schema::TYPE_NAME`.
    pub const fn name(self) -> &'static str {
        match self {
            Primitive::U8 => "u8",
            Primitive::I8 => "i8",
            Primitive::U16 => "u16",
            Primitive::I16 => "i16",
            Primitive::U32 => "u32",
            Primitive::I32 => "i32",
            Primitive::U64 => "u64",
            Primitive::I64 => "i64",
            Primitive::U128 => "u128",
            Primitive::I128 => "i128",
            Primitive::F32 => "f32",
            Primitive::F64 => "f64",
            Primitive::Usize => "usize",
            Primitive::Isize => "isize",
        }
    }

    /// Whether it is a floating-point type.
    pub const fn is_float(self) -> bool {
        matches!(self, Primitive::F32 | Primitive::F64)
    }

    /// Whether it is a signed type (floats included).
    pub const fn is_signed(self) -> bool {
        matches!(
            self,
            Primitive::I8
                | Primitive::I16
                | Primitive::I32
                | Primitive::I64
                | Primitive::I128
                | Primitive::Isize
                | Primitive::F32
                | Primitive::F64
        )
    }

    fn code(self) -> u8 {
        Primitive::ALL
            .iter()
            .position(|p| *p == self)
            .expect("ALL lists every primitive") as u8
    }

    fn from_code(code: u8) -> Option<Primitive> {
        Primitive::ALL.get(code as usize).copied()
    }
}

/// The compile-time description of a type, as a field of it or a whole
/// message: [`Schema::KIND`](crate::Schema::KIND).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A primitive number.
    Primitive(Primitive),
    /// `[elem; len]`.
    Array { elem: &'static Kind, len: usize },
    /// A fixed-capacity string (`axon_msgs::FixedString<capacity>`): a
    /// native-endian `u32` length kept as 4 bytes (alignment 1), then
    /// `capacity` bytes of UTF-8 text. Readers clamp the length to the
    /// capacity and stop at invalid UTF-8.
    String { capacity: usize },
    /// A message struct.
    Struct(&'static TypeDesc),
    /// `[elem]`: the trailing slice of a slice message (its last field), or
    /// a whole message (`[u8]`). Its length is the sample's.
    Slice { elem: &'static Kind },
}

/// The compile-time description of a message struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeDesc {
    /// The type's name (`Schema::TYPE_NAME`).
    pub name: &'static str,
    /// Size in bytes; for a slice message, the offset of its trailing slice
    /// (the size of the fixed part).
    pub size: usize,
    /// Alignment in bytes.
    pub align: usize,
    /// The fields in declaration order; a slice message's last field has
    /// kind [`Kind::Slice`].
    pub fields: &'static [Field],
}

/// One field of a [`TypeDesc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field's name (`"0"`, `"1"`... in a tuple struct).
    pub name: &'static str,
    /// Offset from the start of the struct, in bytes.
    pub offset: usize,
    /// What it holds.
    pub kind: Kind,
    /// Whether it is padding: bytes that carry no data (by convention a
    /// `[u8; N]` field whose name starts with `_`), which tools skip.
    pub padding: bool,
}

/// `a` rounded up to a multiple of `align` (a power of two); for the derive.
#[doc(hidden)]
pub const fn round_up(a: usize, align: usize) -> usize {
    a.div_ceil(align) * align
}

/// The larger of two numbers, in `const` code; for the derive.
#[doc(hidden)]
pub const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Whether `kind` is an array of bytes (what a padding field must be); for
/// the derive, which marks such a field padding when its name starts with `_`.
#[doc(hidden)]
pub const fn is_byte_array(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::Array {
            elem: Kind::Primitive(Primitive::U8),
            ..
        }
    )
}

/// The smaller of two numbers, in `const` code; for the derive.
#[doc(hidden)]
pub const fn min(a: usize, b: usize) -> usize {
    if a < b {
        a
    } else {
        b
    }
}

/// Most bytes of an encoded description (what a segment reserves for it).
pub const MAX_ENCODED: usize = 64 * 1024;
/// Most distinct structs in a description.
pub const MAX_STRUCTS: usize = 256;
/// Most fields of one struct.
pub const MAX_FIELDS: usize = 1024;
/// Most bytes of a type or field name.
pub const MAX_NAME: usize = 256;
/// Deepest nesting of arrays and slices within one field's type.
pub const MAX_DEPTH: usize = 16;
/// Largest struct size (1 TiB): far beyond any slot, small enough that
/// offsets and sizes never overflow `u64` arithmetic.
pub const MAX_SIZE: u64 = 1 << 40;
/// Largest alignment.
pub const MAX_ALIGN: u64 = 4096;

/// A type as a description says it: [`Kind`] with nested structs referred to
/// by their index in [`Description::structs`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    /// A primitive number.
    Primitive(Primitive),
    /// `[elem; len]`.
    Array { elem: Box<Ty>, len: u64 },
    /// A fixed-capacity string (see [`Kind::String`]).
    String { capacity: u64 },
    /// The struct at this index of [`Description::structs`].
    Struct(usize),
    /// `[elem]`, the trailing slice (see [`Kind::Slice`]).
    Slice { elem: Box<Ty> },
}

/// A struct of a [`Description`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Struct {
    /// The type's name.
    pub name: String,
    /// Size (for a slice message, the offset of its trailing slice).
    pub size: u64,
    /// Alignment.
    pub align: u64,
    /// The fields, in declaration order.
    pub fields: Vec<StructField>,
}

/// A field of a [`Struct`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StructField {
    /// Its name.
    pub name: String,
    /// Offset in bytes.
    pub offset: u64,
    /// What it holds.
    pub ty: Ty,
    /// Whether it is padding (see [`Field::padding`]).
    pub padding: bool,
}

/// A message type's full description: what a segment carries and what tools
/// read samples with. Every struct it refers to is in `structs`, each after
/// the structs it contains (so a description has no cycles).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Description {
    /// The message type itself.
    pub root: Ty,
    /// Every struct type involved, dependencies first.
    pub structs: Vec<Struct>,
}

/// Why bytes are not a valid description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescError {
    /// Byte offset in the encoded description where the problem was found.
    pub at: usize,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for DescError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid type description at byte {}: {}",
            self.at, self.what
        )
    }
}

impl std::error::Error for DescError {}

const MAGIC: &[u8; 4] = b"AXTD";
/// Version of the encoding written by [`Description::encode`].
pub const VERSION: u16 = 1;

const TAG_PRIMITIVE: u8 = 0;
const TAG_ARRAY: u8 = 1;
const TAG_STRING: u8 = 2;
const TAG_STRUCT: u8 = 3;
const TAG_SLICE: u8 = 4;

impl Description {
    /// The description of `T`, from its compile-time [`Kind`].
    pub fn of<T: crate::Schema + ?Sized>() -> Description {
        Description::from_kind(&T::KIND)
    }

    /// The description of a compile-time [`Kind`].
    pub fn from_kind(kind: &Kind) -> Description {
        let mut structs = Vec::new();
        let root = flatten(kind, &mut structs);
        Description { root, structs }
    }

    /// The root struct, when the message is a struct.
    pub fn root_struct(&self) -> Option<&Struct> {
        match self.root {
            Ty::Struct(i) => self.structs.get(i),
            _ => None,
        }
    }

    /// The name of the described type, as `Schema::TYPE_NAME` spells it.
    pub fn type_name(&self) -> &str {
        self.name_of(&self.root)
    }

    /// The `Schema::TYPE_NAME` of a type of this description.
    pub fn name_of(&self, ty: &Ty) -> &str {
        match ty {
            Ty::Primitive(p) => p.name(),
            Ty::Array { .. } => "array",
            Ty::String { .. } => STRING_TYPE_NAME,
            Ty::Struct(i) => self.structs.get(*i).map_or("?", |s| s.name.as_str()),
            Ty::Slice { .. } => "slice",
        }
    }

    /// Whether the message ends in a slice (its samples vary in length).
    pub fn is_slice(&self) -> bool {
        match &self.root {
            Ty::Slice { .. } => true,
            Ty::Struct(i) => self.structs.get(*i).is_some_and(|s| {
                s.fields
                    .last()
                    .is_some_and(|f| matches!(f.ty, Ty::Slice { .. }))
            }),
            _ => false,
        }
    }

    /// Size in bytes of a value of `ty` (0 for a slice, whose length is the
    /// sample's). Valid descriptions never overflow (see [`MAX_SIZE`]).
    pub fn size_of(&self, ty: &Ty) -> u64 {
        match ty {
            Ty::Primitive(p) => p.size() as u64,
            Ty::Array { elem, len } => self.size_of(elem).saturating_mul(*len),
            Ty::String { capacity } => capacity.saturating_add(4),
            Ty::Struct(i) => self.structs.get(*i).map_or(0, |s| s.size),
            Ty::Slice { .. } => 0,
        }
    }

    /// Alignment of `ty`.
    pub fn align_of(&self, ty: &Ty) -> u64 {
        match ty {
            Ty::Primitive(p) => p.align() as u64,
            Ty::Array { elem, .. } | Ty::Slice { elem } => self.align_of(elem),
            Ty::String { .. } => 1,
            Ty::Struct(i) => self.structs.get(*i).map_or(1, |s| s.align),
        }
    }

    /// The layout fingerprint of the described type, computed as
    /// `#[derive(Message)]` computes it at compile time; equal to the
    /// type's `Schema::FINGERPRINT` for a faithful description.
    pub fn fingerprint(&self) -> u64 {
        // Each struct once, in order (a struct refers only to earlier ones):
        // recomputing a nested struct at every reference would take time
        // exponential in the nesting (struct k with two fields of struct
        // k - 1, 256 levels deep) and recursion as deep as the chain.
        let mut table = Vec::with_capacity(self.structs.len());
        for s in &self.structs {
            let fingerprint = self.struct_fingerprint(s, &table);
            table.push(fingerprint);
        }
        self.fingerprint_of(&self.root, &table)
    }

    /// `table` holds the fingerprints of the structs before the one being
    /// computed; a reference to any other (only in a description that
    /// `validate` refuses) counts as 0.
    fn fingerprint_of(&self, ty: &Ty, table: &[u64]) -> u64 {
        match ty {
            Ty::Primitive(p) => Fingerprint::new()
                .str("primitive")
                .str(p.name())
                .u64(p.size() as u64)
                .u64(p.align() as u64)
                .finish(),
            Ty::Array { elem, len } => Fingerprint::new()
                .str("array")
                .u64(self.fingerprint_of(elem, table))
                .u64(*len)
                .finish(),
            Ty::String { capacity } => string_fingerprint(*capacity),
            Ty::Slice { elem } => Fingerprint::new()
                .str("slice")
                .u64(self.fingerprint_of(elem, table))
                .finish(),
            Ty::Struct(i) => table.get(*i).copied().unwrap_or(0),
        }
    }

    fn struct_fingerprint(&self, s: &Struct, table: &[u64]) -> u64 {
        let mut h = Fingerprint::new()
            .str("struct")
            .str(&s.name)
            .u64(s.fields.len() as u64);
        let mut slice = false;
        for f in &s.fields {
            h = h.str(&f.name).u64(self.fingerprint_of(&f.ty, table));
            h = match &f.ty {
                Ty::Slice { elem } => {
                    slice = true;
                    h.u64(self.align_of(elem))
                }
                _ => h.u64(f.offset),
            };
        }
        if slice {
            h.str("slice").finish()
        } else {
            h.u64(s.size).u64(s.align).finish()
        }
    }

    /// The description as bytes (the format [`Description::decode`] reads:
    /// little-endian, versioned, at most [`MAX_ENCODED`] bytes for any
    /// description that [`Description::validate`] accepts).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.structs.len() as u32).to_le_bytes());
        for s in &self.structs {
            put_str(&mut out, &s.name);
            out.extend_from_slice(&s.size.to_le_bytes());
            out.extend_from_slice(&s.align.to_le_bytes());
            out.extend_from_slice(&(s.fields.len() as u32).to_le_bytes());
            for f in &s.fields {
                put_str(&mut out, &f.name);
                out.extend_from_slice(&f.offset.to_le_bytes());
                out.push(u8::from(f.padding));
                put_ty(&mut out, &f.ty);
            }
        }
        put_ty(&mut out, &self.root);
        out
    }

    /// Reads and validates an encoded description (see [`Description::validate`]).
    /// Any bytes give a description or an error, never a panic; the work and
    /// memory are bounded by the input's length.
    pub fn decode(bytes: &[u8]) -> Result<Description, DescError> {
        if bytes.len() > MAX_ENCODED {
            return Err(DescError {
                at: MAX_ENCODED,
                what: format!(
                    "{} bytes, more than the {MAX_ENCODED} a description may have",
                    bytes.len()
                ),
            });
        }
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(r.error_at(0, "not a type description (bad magic)"));
        }
        let version = r.u16()?;
        if version != VERSION {
            return Err(r.error_at(
                4,
                format!("description version {version}, this build reads {VERSION}"),
            ));
        }
        let count = r.u32()? as usize;
        if count > MAX_STRUCTS {
            return Err(r.error(format!("{count} structs, more than {MAX_STRUCTS}")));
        }
        let mut structs = Vec::with_capacity(count);
        for index in 0..count {
            let name = r.name()?;
            let size = r.u64()?;
            let align = r.u64()?;
            let field_count = r.u32()? as usize;
            if field_count > MAX_FIELDS {
                return Err(r.error(format!(
                    "struct {name} has {field_count} fields, more than {MAX_FIELDS}"
                )));
            }
            let mut fields = Vec::with_capacity(field_count.min(r.left() / 12));
            for _ in 0..field_count {
                let name = r.name()?;
                let offset = r.u64()?;
                let padding = match r.u8()? {
                    0 => false,
                    1 => true,
                    other => return Err(r.error(format!("bad padding flag {other}"))),
                };
                // Fields may refer only to structs defined before this one.
                let ty = r.ty(index, 0)?;
                fields.push(StructField {
                    name,
                    offset,
                    ty,
                    padding,
                });
            }
            structs.push(Struct {
                name,
                size,
                align,
                fields,
            });
        }
        let root = r.ty(count, 0)?;
        if r.left() != 0 {
            return Err(r.error(format!("{} bytes after the description", r.left())));
        }
        let description = Description { root, structs };
        description
            .validate()
            .map_err(|what| DescError { at: r.at, what })?;
        Ok(description)
    }

    /// Checks what [`Description::decode`] promises of a description:
    /// names are non-empty UTF-8 of at most [`MAX_NAME`] bytes; struct
    /// references point to earlier structs (no cycles); sizes are at most
    /// [`MAX_SIZE`], alignments powers of two up to [`MAX_ALIGN`]; every
    /// field lies inside its struct; a slice appears only as a struct's last
    /// field or as the root, and never holds a slice; types nest at most
    /// [`MAX_DEPTH`] deep.
    pub fn validate(&self) -> Result<(), String> {
        if self.structs.len() > MAX_STRUCTS {
            return Err(format!(
                "{} structs, more than {MAX_STRUCTS}",
                self.structs.len()
            ));
        }
        for (index, s) in self.structs.iter().enumerate() {
            check_name(&s.name)?;
            if s.size > MAX_SIZE {
                return Err(format!("struct {} is {} bytes, too large", s.name, s.size));
            }
            if !s.align.is_power_of_two() || s.align > MAX_ALIGN {
                return Err(format!("struct {} has alignment {}", s.name, s.align));
            }
            if s.fields.len() > MAX_FIELDS {
                return Err(format!("struct {} has too many fields", s.name));
            }
            let mut end_of_previous = 0u64;
            let mut names = std::collections::HashSet::with_capacity(s.fields.len());
            for (i, f) in s.fields.iter().enumerate() {
                check_name(&f.name)?;
                let last = i + 1 == s.fields.len();
                self.check_ty(&f.ty, index, 0, last)
                    .map_err(|e| format!("field {}.{}: {e}", s.name, f.name))?;
                let end = f.offset.checked_add(self.size_of(&f.ty));
                if end.is_none_or(|end| end > s.size) {
                    return Err(format!(
                        "field {}.{} (offset {}, {} bytes) lies outside the struct's {} bytes",
                        s.name,
                        f.name,
                        f.offset,
                        self.size_of(&f.ty),
                        s.size
                    ));
                }
                // The derive's rule, so a forged flag cannot hide a field.
                let byte_array = matches!(f.ty, Ty::Array { ref elem, .. } if **elem == Ty::Primitive(Primitive::U8));
                if f.padding != (f.name.starts_with('_') && byte_array) {
                    return Err(format!(
                        "field {}.{} is {}marked as padding (padding is a byte array named _...)",
                        s.name,
                        f.name,
                        if f.padding { "" } else { "not " }
                    ));
                }
                // `repr(C)`: fields in declaration order, none overlapping.
                if f.offset < end_of_previous {
                    return Err(format!(
                        "field {}.{} at offset {} overlaps the field before it (which ends at {})",
                        s.name, f.name, f.offset, end_of_previous
                    ));
                }
                end_of_previous = f.offset + self.size_of(&f.ty);
                if !names.insert(f.name.as_str()) {
                    return Err(format!("struct {} has two fields named {}", s.name, f.name));
                }
            }
        }
        self.check_ty(&self.root, self.structs.len(), 0, true)
            .map_err(|e| format!("the message type: {e}"))
    }

    /// `ty` refers only to structs before `limit`, nests at most
    /// [`MAX_DEPTH`], has a size within [`MAX_SIZE`], and holds a slice only
    /// at the top of a last field (`slice_ok`).
    fn check_ty(&self, ty: &Ty, limit: usize, depth: usize, slice_ok: bool) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("types nest more than {MAX_DEPTH} deep"));
        }
        match ty {
            Ty::Primitive(_) => Ok(()),
            Ty::String { capacity } => {
                if *capacity > MAX_SIZE {
                    Err(format!("string capacity {capacity} too large"))
                } else {
                    Ok(())
                }
            }
            Ty::Struct(i) => {
                if *i < limit {
                    Ok(())
                } else {
                    Err(format!(
                        "refers to struct #{i}, which is not defined before it"
                    ))
                }
            }
            Ty::Array { elem, len } => {
                self.check_ty(elem, limit, depth + 1, false)?;
                match self.size_of(elem).checked_mul(*len) {
                    Some(size) if size <= MAX_SIZE => Ok(()),
                    _ => Err(format!("array of {len} elements too large")),
                }
            }
            Ty::Slice { elem } => {
                if !slice_ok {
                    return Err("a slice that is not the last field".into());
                }
                self.check_ty(elem, limit, depth + 1, false)?;
                if self.size_of(elem) == 0 {
                    return Err("a slice of zero-sized elements".into());
                }
                Ok(())
            }
        }
    }
}

/// `Schema::TYPE_NAME` of `axon_msgs::FixedString`, the one string type.
pub const STRING_TYPE_NAME: &str = "axon-msgs/FixedString";

/// The fingerprint of `FixedString<capacity>` (the sequence its hand-written
/// `Schema` impl uses: a struct of `len: [u8; 4]` and `bytes: [u8; N]`).
pub const fn string_fingerprint(capacity: u64) -> u64 {
    let byte = Fingerprint::new()
        .str("primitive")
        .str("u8")
        .u64(1)
        .u64(1)
        .finish();
    Fingerprint::new()
        .str("struct")
        .str(STRING_TYPE_NAME)
        .u64(2)
        .str("len")
        .u64(Fingerprint::new().str("array").u64(byte).u64(4).finish())
        .u64(0)
        .str("bytes")
        .u64(
            Fingerprint::new()
                .str("array")
                .u64(byte)
                .u64(capacity)
                .finish(),
        )
        .u64(4)
        .u64(capacity + 4)
        .u64(1)
        .finish()
}

fn flatten(kind: &Kind, structs: &mut Vec<Struct>) -> Ty {
    match kind {
        Kind::Primitive(p) => Ty::Primitive(*p),
        Kind::Array { elem, len } => Ty::Array {
            elem: Box::new(flatten(elem, structs)),
            len: *len as u64,
        },
        Kind::String { capacity } => Ty::String {
            capacity: *capacity as u64,
        },
        Kind::Slice { elem } => Ty::Slice {
            elem: Box::new(flatten(elem, structs)),
        },
        Kind::Struct(desc) => {
            let fields = desc
                .fields
                .iter()
                .map(|f| StructField {
                    name: f.name.to_owned(),
                    offset: f.offset as u64,
                    ty: flatten(&f.kind, structs),
                    padding: f.padding,
                })
                .collect();
            let s = Struct {
                name: desc.name.to_owned(),
                size: desc.size as u64,
                align: desc.align as u64,
                fields,
            };
            // Each distinct struct once (the same type nested twice, like a
            // Header in two places, shares one entry).
            match structs.iter().position(|known| *known == s) {
                Some(i) => Ty::Struct(i),
                None => {
                    structs.push(s);
                    Ty::Struct(structs.len() - 1)
                }
            }
        }
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("a name of {} bytes", name.len()));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("the name {name:?} holds control characters"));
    }
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_ty(out: &mut Vec<u8>, ty: &Ty) {
    match ty {
        Ty::Primitive(p) => {
            out.push(TAG_PRIMITIVE);
            out.push(p.code());
        }
        Ty::Array { elem, len } => {
            out.push(TAG_ARRAY);
            out.extend_from_slice(&len.to_le_bytes());
            put_ty(out, elem);
        }
        Ty::String { capacity } => {
            out.push(TAG_STRING);
            out.extend_from_slice(&capacity.to_le_bytes());
        }
        Ty::Struct(i) => {
            out.push(TAG_STRUCT);
            out.extend_from_slice(&(*i as u32).to_le_bytes());
        }
        Ty::Slice { elem } => {
            out.push(TAG_SLICE);
            put_ty(out, elem);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn error(&self, what: impl Into<String>) -> DescError {
        self.error_at(self.at, what)
    }

    fn error_at(&self, at: usize, what: impl Into<String>) -> DescError {
        DescError {
            at,
            what: what.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DescError> {
        if self.left() < n {
            return Err(self.error(format!("ends early ({n} more bytes expected)")));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DescError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DescError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DescError> {
        let mut b = [0; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, DescError> {
        let mut b = [0; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn name(&mut self) -> Result<String, DescError> {
        let len = self.u16()? as usize;
        if len > MAX_NAME {
            return Err(self.error(format!("a name of {len} bytes, more than {MAX_NAME}")));
        }
        let at = self.at;
        let bytes = self.take(len)?;
        let name = core::str::from_utf8(bytes)
            .map_err(|_| self.error_at(at, "a name that is not UTF-8"))?;
        check_name(name).map_err(|e| self.error_at(at, e))?;
        Ok(name.to_owned())
    }

    /// A type referring only to structs before `limit`.
    fn ty(&mut self, limit: usize, depth: usize) -> Result<Ty, DescError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("types nest more than {MAX_DEPTH} deep")));
        }
        let at = self.at;
        Ok(match self.u8()? {
            TAG_PRIMITIVE => {
                let code = self.u8()?;
                Ty::Primitive(
                    Primitive::from_code(code)
                        .ok_or_else(|| self.error_at(at, format!("unknown primitive {code}")))?,
                )
            }
            TAG_ARRAY => {
                let len = self.u64()?;
                Ty::Array {
                    len,
                    elem: Box::new(self.ty(limit, depth + 1)?),
                }
            }
            TAG_STRING => Ty::String {
                capacity: self.u64()?,
            },
            TAG_STRUCT => {
                let i = self.u32()? as usize;
                if i >= limit {
                    return Err(self.error_at(
                        at,
                        format!("refers to struct #{i}, which is not defined before it"),
                    ));
                }
                Ty::Struct(i)
            }
            TAG_SLICE => Ty::Slice {
                elem: Box::new(self.ty(limit, depth + 1)?),
            },
            tag => return Err(self.error_at(at, format!("unknown kind {tag}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Description {
        let inner = Struct {
            name: "t/Inner".into(),
            size: 8,
            align: 8,
            fields: vec![StructField {
                name: "x".into(),
                offset: 0,
                ty: Ty::Primitive(Primitive::F64),
                padding: false,
            }],
        };
        let outer = Struct {
            name: "t/Outer".into(),
            size: 24,
            align: 8,
            fields: vec![
                StructField {
                    name: "a".into(),
                    offset: 0,
                    ty: Ty::Struct(0),
                    padding: false,
                },
                StructField {
                    name: "b".into(),
                    offset: 8,
                    ty: Ty::Array {
                        elem: Box::new(Ty::Primitive(Primitive::U32)),
                        len: 2,
                    },
                    padding: false,
                },
                StructField {
                    name: "c".into(),
                    offset: 16,
                    ty: Ty::Slice {
                        elem: Box::new(Ty::Primitive(Primitive::U8)),
                    },
                    padding: false,
                },
            ],
        };
        Description {
            root: Ty::Struct(1),
            structs: vec![inner, outer],
        }
    }

    fn refused(d: &Description) -> String {
        let err = Description::decode(&d.encode()).unwrap_err();
        err.to_string()
    }

    #[test]
    fn a_valid_description_round_trips() {
        let d = sample();
        d.validate().unwrap();
        assert_eq!(Description::decode(&d.encode()).unwrap(), d);
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused_without_panic() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(Description::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Description::decode(&longer).is_err());
        // Every single-byte corruption either decodes to a valid description
        // or is refused; none panics.
        for i in 0..bytes.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                if let Ok(d) = Description::decode(&b) {
                    d.validate().unwrap();
                }
            }
        }
    }

    #[test]
    fn cycles_and_forward_references_are_refused() {
        let mut d = sample();
        d.structs[0].fields[0].ty = Ty::Struct(0);
        assert!(refused(&d).contains("not defined before it"));
        let mut d = sample();
        d.structs[0].fields[0].ty = Ty::Struct(1);
        assert!(refused(&d).contains("not defined before it"));
        let mut d = sample();
        d.root = Ty::Struct(7);
        assert!(refused(&d).contains("not defined before it"));
    }

    #[test]
    fn fields_outside_their_struct_are_refused() {
        let mut d = sample();
        d.structs[1].fields[1].offset = 20;
        assert!(refused(&d).contains("outside"));
        let mut d = sample();
        d.structs[1].fields[1].ty = Ty::Array {
            elem: Box::new(Ty::Primitive(Primitive::U64)),
            len: u64::MAX / 2,
        };
        assert!(refused(&d).contains("too large"));
        let mut d = sample();
        d.structs[1].fields[1].offset = u64::MAX - 2;
        assert!(refused(&d).contains("outside"));
    }

    #[test]
    fn misplaced_slices_bad_alignment_and_deep_nesting_are_refused() {
        let mut d = sample();
        d.structs[1].fields.swap(1, 2);
        assert!(refused(&d).contains("slice"));
        let mut d = sample();
        d.structs[1].align = 3;
        assert!(refused(&d).contains("alignment"));
        let mut d = sample();
        let mut ty = Ty::Primitive(Primitive::U8);
        for _ in 0..=MAX_DEPTH + 1 {
            ty = Ty::Array {
                elem: Box::new(ty),
                len: 1,
            };
        }
        d.structs[1].fields[1].ty = ty;
        assert!(refused(&d).contains("nest"));
        let mut d = sample();
        d.structs[1].fields[0].padding = true;
        assert!(refused(&d).contains("padding"));
    }

    #[test]
    fn forged_padding_flags_overlaps_and_repeated_names_are_refused() {
        // A byte array named `_...` must be marked padding, and nothing else.
        let mut d = sample();
        d.structs[1].fields[1].name = "_b".into();
        d.structs[1].fields[1].ty = Ty::Array {
            elem: Box::new(Ty::Primitive(Primitive::U8)),
            len: 8,
        };
        assert!(refused(&d).contains("not marked as padding"));
        d.structs[1].fields[1].padding = true;
        Description::decode(&d.encode()).unwrap();
        let mut d = sample();
        d.structs[1].fields[1].offset = 4;
        assert!(refused(&d).contains("overlaps"));
        let mut d = sample();
        d.structs[1].fields[1].name = "a".into();
        assert!(refused(&d).contains("two fields named a"));
    }

    #[test]
    fn fingerprint_of_a_deep_chain_of_structs_is_linear_not_exponential() {
        // Struct k holds two fields of struct k - 1, 256 levels: a valid
        // description of a few KiB whose tree has 2^255 leaves. Every open
        // of a segment recomputes the fingerprint, so this must not hang;
        // run under a watchdog so a regression fails instead.
        // Zero-sized structs, so two fields at one offset do not overlap.
        let mut structs = vec![Struct {
            name: "t/S0".into(),
            size: 0,
            align: 1,
            fields: vec![],
        }];
        for k in 1..MAX_STRUCTS {
            let size = 0u64;
            let field = |name: &str, offset| StructField {
                name: name.into(),
                offset,
                ty: Ty::Struct(k - 1),
                padding: false,
            };
            structs.push(Struct {
                name: format!("t/S{k}"),
                size: size.min(MAX_SIZE),
                align: 1,
                fields: vec![field("a", 0), field("b", 0)],
            });
        }
        let d = Description {
            root: Ty::Struct(MAX_STRUCTS - 1),
            structs,
        };
        let bytes = d.encode();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let decoded = Description::decode(&bytes).map(|d| d.fingerprint());
            let _ = tx.send(decoded);
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("fingerprint of a 256-deep chain did not finish");
        assert_eq!(got.unwrap(), d.fingerprint());
    }

    #[test]
    fn unknown_kinds_primitives_and_versions_are_refused() {
        let bytes = sample().encode();
        let root_tag = bytes.len() - 5; // TAG_STRUCT + u32 index
        let mut b = bytes.clone();
        b[root_tag] = 9;
        assert!(Description::decode(&b)
            .unwrap_err()
            .to_string()
            .contains("unknown kind 9"));
        let mut b = bytes.clone();
        b[4] = 2;
        assert!(Description::decode(&b)
            .unwrap_err()
            .to_string()
            .contains("version"));
        let mut d = sample();
        d.structs[0].name = String::new();
        assert!(refused(&d).contains("name"));
        let mut b = vec![0u8; MAX_ENCODED + 1];
        b[..4].copy_from_slice(MAGIC);
        assert!(Description::decode(&b).is_err());
    }
}
