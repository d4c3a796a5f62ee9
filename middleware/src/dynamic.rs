//! Samples of any type as JSON, driven by the type's description: what
//! lets the stock `axon` tool print and publish message types it was never
//! built with.
//!
//! A topic's segment carries its type's [`Description`] (`segment.rs`), so
//! a tool that reads a sample's bytes also knows what they mean:
//! [`decode`] turns them into JSON with field names (primitives as numbers,
//! fixed arrays and the trailing slice as arrays, the fixed-capacity string
//! as a string, nested structs as objects, padding fields left out), and
//! [`encode`] turns JSON into a sample (fields left out are zero; a field the
//! type does not have, or a number out of its field's range, is an error
//! naming the field). [`layout`] lists a type's fields with their offsets
//! and kinds (`axon topic info`).
//!
//! Numbers: 128-bit integers that do not fit 64 bits are written as decimal
//! strings, and read back from strings or numbers; a float that is not
//! finite is the string `"NaN"`, `"inf"` or `"-inf"` (JSON has no such
//! numbers), read back the same way. A `FixedString`'s length is clamped to
//! its capacity and the text stops at its first invalid UTF-8 sequence, as
//! `FixedString::as_str` reads it.
//!
//! *Everything here treats the description and the bytes as hostile* (a
//! description was validated by `Description::decode`, but a segment's
//! sample bytes are whatever a peer wrote), and never panics. Bounds:
//! - a sample shorter than its type's fixed part is an error, and every read
//!   is bounds-checked against the bytes;
//! - [`decode`] emits at most `2 x bytes + 65536` values and field visits
//!   ([`work_budget`]), so a description of zero-sized structs and huge
//!   arrays of them cannot make it loop or allocate without end; and it
//!   nests at most [`MAX_NESTING`] levels (JSON printers and parsers recurse);
//! - [`encode`] allocates only the sample it returns, at most the
//!   `max_bytes` its caller allows (the topic's slot size);
//! - [`layout`] lists each struct once (a struct nested in many places is
//!   not expanded again), so its output is linear in the description.

use axon_message::desc::{Description, Primitive, Struct, Ty};
use serde_json::{Map, Number, Value};

/// Deepest nesting of objects and arrays [`decode`] produces.
pub const MAX_NESTING: usize = 128;

/// How many values and field visits [`decode`] may spend on a sample of
/// `len` bytes.
pub const fn work_budget(len: usize) -> usize {
    len.saturating_mul(2).saturating_add(1 << 16)
}

/// Why bytes or JSON could not be turned into the other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SampleError(pub String);

fn err<T>(what: impl Into<String>) -> Result<T, SampleError> {
    Err(SampleError(what.into()))
}

/// A decoded sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The sample as JSON.
    pub value: Value,
    /// Where the trailing slice is: its field's name in the top-level
    /// object, or `None` when the message is a slice itself (or has none).
    pub slice_field: Option<String>,
    /// Trailing-slice elements left out (beyond `max_slice`).
    pub elided: usize,
}

/// The sample `bytes` of type `d`, with `elems` trailing-slice elements
/// (`SampleInfo::elems`; ignored for a sized type, and never more than the
/// bytes hold), as JSON. `max_slice`: decode at most this many elements of
/// the trailing slice (the rest are counted in [`Decoded::elided`]), since
/// turning megabytes of pixels into JSON numbers costs far more than the
/// sample.
pub fn decode(
    d: &Description,
    bytes: &[u8],
    elems: usize,
    max_slice: Option<usize>,
) -> Result<Decoded, SampleError> {
    let mut w = Walker {
        d,
        bytes,
        budget: work_budget(bytes.len()),
    };
    let fixed = d.size_of(&d.root);
    if (bytes.len() as u64) < fixed {
        return err(format!(
            "{} bytes cannot be a {}, which is at least {fixed} bytes",
            bytes.len(),
            d.type_name()
        ));
    }
    let mut slice_field = None;
    let mut elided = 0;
    let value = match &d.root {
        Ty::Slice { elem } => {
            let (v, left) = w.slice(elem, 0, elems, max_slice, 1)?;
            elided = left;
            v
        }
        Ty::Struct(i) => {
            let s = w.strukt(*i)?;
            let mut map = Map::new();
            for f in &s.fields {
                w.spend()?;
                if f.padding {
                    continue;
                }
                let v = match &f.ty {
                    Ty::Slice { elem } => {
                        let (v, left) = w.slice(elem, f.offset, elems, max_slice, 2)?;
                        slice_field = Some(f.name.clone());
                        elided = left;
                        v
                    }
                    ty => w.value(ty, f.offset, 2)?,
                };
                map.insert(f.name.clone(), v);
            }
            Value::Object(map)
        }
        ty => w.value(ty, 0, 1)?,
    };
    Ok(Decoded {
        value,
        slice_field,
        elided,
    })
}

struct Walker<'a> {
    d: &'a Description,
    bytes: &'a [u8],
    budget: usize,
}

impl<'a> Walker<'a> {
    fn spend(&mut self) -> Result<(), SampleError> {
        match self.budget.checked_sub(1) {
            Some(b) => {
                self.budget = b;
                Ok(())
            }
            None => err(format!(
                "the type description makes more than {} values of a {}-byte sample",
                work_budget(self.bytes.len()),
                self.bytes.len()
            )),
        }
    }

    fn strukt(&self, i: usize) -> Result<&'a Struct, SampleError> {
        match self.d.structs.get(i) {
            Some(s) => Ok(s),
            None => err(format!("the description has no struct #{i}")),
        }
    }

    fn take(&self, at: u64, n: u64) -> Result<&'a [u8], SampleError> {
        let range = usize::try_from(at)
            .ok()
            .and_then(|a| Some(a..a.checked_add(usize::try_from(n).ok()?)?));
        match range.and_then(|r| self.bytes.get(r)) {
            Some(b) => Ok(b),
            None => err(format!(
                "a field at byte {at} ({n} bytes) lies beyond the {}-byte sample",
                self.bytes.len()
            )),
        }
    }

    fn value(&mut self, ty: &Ty, at: u64, depth: usize) -> Result<Value, SampleError> {
        self.spend()?;
        if depth > MAX_NESTING {
            return err(format!("the type nests more than {MAX_NESTING} levels"));
        }
        Ok(match ty {
            Ty::Primitive(p) => primitive(*p, self.take(at, p.size() as u64)?),
            Ty::String { capacity } => {
                let len = self.take(at, 4)?;
                let len = u32::from_ne_bytes([len[0], len[1], len[2], len[3]]) as u64;
                let text = self.take(at + 4, len.min(*capacity))?;
                let s = match std::str::from_utf8(text) {
                    Ok(s) => s,
                    Err(e) => std::str::from_utf8(&text[..e.valid_up_to()]).unwrap_or_default(),
                };
                Value::String(s.to_owned())
            }
            Ty::Array { elem, len } => {
                let size = self.d.size_of(elem);
                // Checked before allocating: the bytes must hold the array.
                self.take(at, size.saturating_mul(*len))?;
                let mut out = Vec::new();
                for k in 0..*len {
                    out.push(self.value(elem, at + k * size, depth + 1)?);
                }
                Value::Array(out)
            }
            Ty::Struct(i) => {
                let s = self.strukt(*i)?;
                self.take(at, s.size)?;
                let mut map = Map::new();
                for f in &s.fields {
                    self.spend()?;
                    if !f.padding {
                        let v = self.value(&f.ty, at + f.offset, depth + 1)?;
                        map.insert(f.name.clone(), v);
                    }
                }
                Value::Object(map)
            }
            Ty::Slice { .. } => return err("a slice inside a field"),
        })
    }

    /// The trailing slice starting at `at`: `elems` elements, or as many as
    /// the bytes hold if fewer, at most `max` decoded; returns them and how
    /// many were left out.
    fn slice(
        &mut self,
        elem: &Ty,
        at: u64,
        elems: usize,
        max: Option<usize>,
        depth: usize,
    ) -> Result<(Value, usize), SampleError> {
        let size = self.d.size_of(elem);
        if size == 0 {
            return err("a slice of zero-sized elements");
        }
        let n = (self.bytes.len() as u64).saturating_sub(at) / size;
        let n = usize::try_from(n).unwrap_or(usize::MAX).min(elems);
        let shown = max.map_or(n, |m| m.min(n));
        let mut out = Vec::new();
        for k in 0..shown as u64 {
            out.push(self.value(elem, at + k * size, depth)?);
        }
        Ok((Value::Array(out), n - shown))
    }
}

fn primitive(p: Primitive, b: &[u8]) -> Value {
    fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&b[..N]);
        a
    }
    match p {
        Primitive::U8 => Value::from(b[0]),
        Primitive::I8 => Value::from(b[0] as i8),
        Primitive::U16 => Value::from(u16::from_ne_bytes(arr(b))),
        Primitive::I16 => Value::from(i16::from_ne_bytes(arr(b))),
        Primitive::U32 => Value::from(u32::from_ne_bytes(arr(b))),
        Primitive::I32 => Value::from(i32::from_ne_bytes(arr(b))),
        Primitive::U64 => Value::from(u64::from_ne_bytes(arr(b))),
        Primitive::I64 => Value::from(i64::from_ne_bytes(arr(b))),
        Primitive::Usize => Value::from(usize::from_ne_bytes(arr(b))),
        Primitive::Isize => Value::from(isize::from_ne_bytes(arr(b))),
        Primitive::U128 => {
            let v = u128::from_ne_bytes(arr(b));
            u64::try_from(v).map_or_else(|_| Value::String(v.to_string()), Value::from)
        }
        Primitive::I128 => {
            let v = i128::from_ne_bytes(arr(b));
            i64::try_from(v).map_or_else(|_| Value::String(v.to_string()), Value::from)
        }
        // Through its shortest decimal form, so 0.1f32 prints as 0.1.
        Primitive::F32 => float(
            f32::from_ne_bytes(arr(b))
                .to_string()
                .parse()
                .unwrap_or(f64::NAN),
        ),
        Primitive::F64 => float(f64::from_ne_bytes(arr(b))),
        _ => Value::Null,
    }
}

fn float(v: f64) -> Value {
    match Number::from_f64(v) {
        Some(n) => Value::Number(n),
        None if v.is_nan() => Value::String("NaN".into()),
        None if v > 0.0 => Value::String("inf".into()),
        None => Value::String("-inf".into()),
    }
}

/// Where a slice message's trailing slice starts and the size of its
/// elements; `None` for a sized message.
pub fn slice_shape(d: &Description) -> Option<(u64, u64)> {
    match &d.root {
        Ty::Slice { elem } => Some((0, d.size_of(elem))),
        Ty::Struct(i) => {
            let f = d.structs.get(*i)?.fields.last()?;
            match &f.ty {
                Ty::Slice { elem } => Some((f.offset, d.size_of(elem))),
                _ => None,
            }
        }
        _ => None,
    }
}

/// How many trailing-slice elements a sample that [`encode`] made holds
/// (for a description whose slice starts where its fixed part ends, as in
/// every real type).
pub fn elems_of(d: &Description, encoded_len: usize) -> usize {
    match slice_shape(d) {
        Some((at, size)) if size > 0 => ((encoded_len as u64).saturating_sub(at) / size) as usize,
        _ => 0,
    }
}

/// `value` as a sample of type `d`: fields left out (and `null`) are zero,
/// a fixed array may be given shorter (the rest is zero), the trailing slice
/// has as many elements as its JSON array. Errors name the field: an unknown
/// field, a number out of its type's range, a string longer than its
/// capacity, a sample larger than `max_bytes`.
pub fn encode(d: &Description, value: &Value, max_bytes: usize) -> Result<Vec<u8>, SampleError> {
    let fixed = d.size_of(&d.root);
    // The trailing slice, if any: where it starts, its element, its JSON.
    let slice = match &d.root {
        Ty::Slice { elem } => Some((0, &**elem, value, String::new())),
        Ty::Struct(i) => d.structs.get(*i).and_then(|s| {
            let f = s.fields.last()?;
            let Ty::Slice { elem } = &f.ty else {
                return None;
            };
            Some((f.offset, &**elem, value.get(&f.name)?, f.name.clone()))
        }),
        _ => None,
    };
    let mut total = fixed;
    if let Some((at, elem, v, name)) = &slice {
        let n = match v {
            Value::Array(a) => a.len() as u64,
            Value::Null => 0,
            other => {
                return err(format!(
                    "{}: expected an array, found {}",
                    path_or(name),
                    kind_of(other)
                ))
            }
        };
        // (A slice starts where the fixed part ends in every real type; a
        // hostile description may start it earlier.)
        total = total.max(at.saturating_add(n.saturating_mul(d.size_of(elem))));
    }
    if total > max_bytes as u64 {
        return err(format!(
            "the sample would be {total} bytes, more than the topic's {max_bytes}"
        ));
    }
    let mut out = vec![0u8; total as usize];
    let mut e = Encoder { d, out: &mut out };
    match &d.root {
        Ty::Slice { .. } => {}
        Ty::Struct(i) => e.strukt(*i, 0, value, "")?,
        ty => e.value(ty, 0, value, "")?,
    }
    if let Some((at, elem, Value::Array(items), name)) = slice {
        let size = d.size_of(elem);
        for (k, item) in items.iter().enumerate() {
            let path = format!("{}[{k}]", name);
            e.value(elem, at + k as u64 * size, item, &path)?;
        }
    }
    Ok(out)
}

fn path_or(path: &str) -> &str {
    if path.is_empty() {
        "the value"
    } else {
        path
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

struct Encoder<'a> {
    d: &'a Description,
    out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    fn put(&mut self, at: u64, bytes: &[u8], path: &str) -> Result<(), SampleError> {
        let dst = usize::try_from(at)
            .ok()
            .and_then(|a| self.out.get_mut(a..a.checked_add(bytes.len())?));
        match dst {
            Some(d) => {
                d.copy_from_slice(bytes);
                Ok(())
            }
            None => err(format!("{}: lies beyond the sample", path_or(path))),
        }
    }

    fn strukt(&mut self, i: usize, at: u64, value: &Value, path: &str) -> Result<(), SampleError> {
        let Some(s) = self.d.structs.get(i) else {
            return err(format!("the description has no struct #{i}"));
        };
        let map = match value {
            Value::Object(m) => m,
            Value::Null => return Ok(()),
            other => {
                return err(format!(
                    "{}: expected an object ({}), found {}",
                    path_or(path),
                    s.name,
                    kind_of(other)
                ))
            }
        };
        let is_root = path.is_empty() && at == 0 && self.d.root == Ty::Struct(i);
        for (key, v) in map {
            let sub = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            // The last field of that name: the one `decode` shows (a hostile
            // description may repeat a name; its value overwrites).
            let Some(f) = s.fields.iter().rev().find(|f| &f.name == key && !f.padding) else {
                let names: Vec<&str> = s
                    .fields
                    .iter()
                    .filter(|f| !f.padding)
                    .map(|f| f.name.as_str())
                    .collect();
                return err(format!(
                    "unknown field `{sub}` ({} has: {})",
                    s.name,
                    names.join(", ")
                ));
            };
            match &f.ty {
                // The root's trailing slice is written by `encode`.
                Ty::Slice { .. } if is_root => {}
                Ty::Slice { .. } => return err(format!("{sub}: a slice inside a field")),
                ty => self.value(ty, at + f.offset, v, &sub)?,
            }
        }
        Ok(())
    }

    fn value(&mut self, ty: &Ty, at: u64, v: &Value, path: &str) -> Result<(), SampleError> {
        if v.is_null() {
            return Ok(());
        }
        match ty {
            Ty::Primitive(p) => {
                let bytes = primitive_bytes(*p, v)
                    .map_err(|why| SampleError(format!("{}: {why}", path_or(path))))?;
                self.put(at, &bytes, path)
            }
            Ty::String { capacity } => {
                let Value::String(s) = v else {
                    return err(format!(
                        "{}: expected a string, found {}",
                        path_or(path),
                        kind_of(v)
                    ));
                };
                if s.len() as u64 > *capacity {
                    return err(format!(
                        "{}: {} bytes of text, more than its capacity of {capacity}",
                        path_or(path),
                        s.len()
                    ));
                }
                self.put(at, &(s.len() as u32).to_ne_bytes(), path)?;
                self.put(at + 4, s.as_bytes(), path)
            }
            Ty::Array { elem, len } => {
                let Value::Array(items) = v else {
                    return err(format!(
                        "{}: expected an array, found {}",
                        path_or(path),
                        kind_of(v)
                    ));
                };
                if items.len() as u64 > *len {
                    return err(format!(
                        "{}: {} elements, more than its {len}",
                        path_or(path),
                        items.len()
                    ));
                }
                let size = self.d.size_of(elem);
                for (k, item) in items.iter().enumerate() {
                    self.value(elem, at + k as u64 * size, item, &format!("{path}[{k}]"))?;
                }
                Ok(())
            }
            Ty::Struct(i) => self.strukt(*i, at, v, path),
            Ty::Slice { .. } => err(format!("{}: a slice inside a field", path_or(path))),
        }
    }
}

/// The bytes of `v` as primitive `p`, or why it does not fit.
fn primitive_bytes(p: Primitive, v: &Value) -> Result<Vec<u8>, String> {
    if p.is_float() {
        let x = match v {
            Value::Number(n) => n.as_f64().ok_or("not a number")?,
            Value::String(s) => match s.as_str() {
                "NaN" | "nan" => f64::NAN,
                "inf" | "+inf" | "Infinity" => f64::INFINITY,
                "-inf" | "-Infinity" => f64::NEG_INFINITY,
                _ => return Err(format!("expected a number, found the string {s:?}")),
            },
            other => return Err(format!("expected a number, found {}", kind_of(other))),
        };
        return Ok(if p == Primitive::F32 {
            if x.is_finite() && x.abs() > f32::MAX as f64 {
                return Err(format!("{x} is out of range for f32"));
            }
            // Through the decimal form, as `decode` wrote it.
            let y: f32 = x.to_string().parse().unwrap_or(x as f32);
            y.to_ne_bytes().to_vec()
        } else {
            x.to_ne_bytes().to_vec()
        });
    }
    // Integers: exactly, from a number or a decimal string (128-bit).
    let n: i128 = match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u as i128
            } else if let Some(i) = n.as_i64() {
                i as i128
            } else {
                return Err(format!("{n} is not an integer ({} field)", p.name()));
            }
        }
        Value::String(s) => {
            if let Ok(u) = s.parse::<u128>() {
                if p == Primitive::U128 {
                    return Ok(u.to_ne_bytes().to_vec());
                }
                i128::try_from(u).map_err(|_| format!("{s} is out of range for {}", p.name()))?
            } else {
                s.parse::<i128>()
                    .map_err(|_| format!("expected an integer, found the string {s:?}"))?
            }
        }
        other => return Err(format!("expected an integer, found {}", kind_of(other))),
    };
    let range = || format!("{n} is out of range for {}", p.name());
    Ok(match p {
        Primitive::U8 => u8::try_from(n).map_err(|_| range())?.to_ne_bytes().to_vec(),
        Primitive::I8 => i8::try_from(n).map_err(|_| range())?.to_ne_bytes().to_vec(),
        Primitive::U16 => u16::try_from(n)
            .map_err(|_| range())?
            .to_ne_bytes()
            .to_vec(),
        Primitive::I16 => i16::try_from(n)
            .map_err(|_| range())?
            .to_ne_bytes()
            .to_vec(),
        Primitive::U32 => u32::try_from(n)
            .map_err(|_| range())?
            .to_ne_bytes()
            .to_vec(),
        Primitive::I32 => i32::try_from(n)
            .map_err(|_| range())?
            .to_ne_bytes()
            .to_vec(),
        Primitive::U64 => u64::try_from(n)
            .map_err(|_| range())?
            .to_ne_bytes()
            .to_vec(),
        Primitive::I64 => i64::try_from(n)
            .map_err(|_| range())?
            .to_ne_bytes()
            .to_vec(),
        Primitive::Usize => usize::try_from(n)
            .map_err(|_| range())?
            .to_ne_bytes()
            .to_vec(),
        Primitive::Isize => isize::try_from(n)
            .map_err(|_| range())?
            .to_ne_bytes()
            .to_vec(),
        Primitive::U128 => u128::try_from(n)
            .map_err(|_| range())?
            .to_ne_bytes()
            .to_vec(),
        Primitive::I128 => n.to_ne_bytes().to_vec(),
        _ => return Err(format!("{} is not supported", p.name())),
    })
}

/// A type as `axon topic info` writes it: `f64`, `[f32; 3]`,
/// `FixedString<64>`, `[u8]` (the trailing slice), or a struct's name.
pub fn type_text(d: &Description, ty: &Ty) -> String {
    fn go(d: &Description, ty: &Ty, depth: usize) -> String {
        if depth > axon_message::desc::MAX_DEPTH + 1 {
            return "...".into();
        }
        match ty {
            Ty::Primitive(p) => p.name().into(),
            Ty::Array { elem, len } => format!("[{}; {len}]", go(d, elem, depth + 1)),
            Ty::String { capacity } => format!("FixedString<{capacity}>"),
            Ty::Struct(_) => d.name_of(ty).into(),
            Ty::Slice { elem } => format!("[{}]", go(d, elem, depth + 1)),
        }
    }
    go(d, ty, 0)
}

/// One field of [`layout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRow {
    /// The field's name.
    pub name: String,
    /// Its offset in its struct.
    pub offset: u64,
    /// Its size in bytes (0 for the trailing slice).
    pub size: u64,
    /// Its type ([`type_text`]).
    pub ty: String,
    /// Whether it is padding.
    pub padding: bool,
    /// Whether it is the trailing slice (its size is the sample's).
    pub slice: bool,
}

/// One struct of [`layout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructRows {
    /// The struct's name.
    pub name: String,
    /// Its size (for a slice message, the size of its fixed part).
    pub size: u64,
    /// Its alignment.
    pub align: u64,
    /// Its fields.
    pub fields: Vec<FieldRow>,
}

/// Every struct of the description, the message type first, then the types
/// it contains (each once), with their fields.
pub fn layout(d: &Description) -> Vec<StructRows> {
    let mut order: Vec<usize> = (0..d.structs.len()).rev().collect();
    if let Ty::Struct(root) = d.root {
        order.retain(|i| *i != root);
        order.insert(0, root);
    }
    order
        .into_iter()
        .filter_map(|i| d.structs.get(i))
        .map(|s| StructRows {
            name: s.name.clone(),
            size: s.size,
            align: s.align,
            fields: s
                .fields
                .iter()
                .map(|f| FieldRow {
                    name: f.name.clone(),
                    offset: f.offset,
                    size: d.size_of(&f.ty),
                    ty: type_text(d, &f.ty),
                    padding: f.padding,
                    slice: matches!(f.ty, Ty::Slice { .. }),
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axon_message::desc::StructField;

    fn field(name: &str, offset: u64, ty: Ty) -> StructField {
        StructField {
            name: name.into(),
            offset,
            ty,
            padding: false,
        }
    }

    /// `{ a: u8, _pad: [u8; 3], s: FixedString<4>, b: [i16; 2], rest: [u32] }`
    fn sample() -> Description {
        let mut pad = field(
            "_pad",
            1,
            Ty::Array {
                elem: Box::new(Ty::Primitive(Primitive::U8)),
                len: 3,
            },
        );
        pad.padding = true;
        Description {
            root: Ty::Struct(0),
            structs: vec![Struct {
                name: "t/S".into(),
                size: 16,
                align: 4,
                fields: vec![
                    field("a", 0, Ty::Primitive(Primitive::U8)),
                    pad,
                    field("s", 4, Ty::String { capacity: 4 }),
                    field(
                        "b",
                        12,
                        Ty::Array {
                            elem: Box::new(Ty::Primitive(Primitive::I16)),
                            len: 2,
                        },
                    ),
                    field(
                        "rest",
                        16,
                        Ty::Slice {
                            elem: Box::new(Ty::Primitive(Primitive::U32)),
                        },
                    ),
                ],
            }],
        }
    }

    #[test]
    fn encode_then_decode_gives_the_value_back() {
        let d = sample();
        d.validate().unwrap();
        let v = serde_json::json!({"a": 7, "s": "hé", "b": [-1, 300], "rest": [1, 2, 3]});
        let bytes = encode(&d, &v, 1024).unwrap();
        assert_eq!(bytes.len(), 16 + 12);
        let got = decode(&d, &bytes, 3, None).unwrap();
        assert_eq!(got.value, v);
        assert_eq!(elems_of(&d, bytes.len()), 3);
        let part = decode(&d, &bytes, 3, Some(1)).unwrap();
        assert_eq!(part.value["rest"], serde_json::json!([1]));
        assert_eq!(
            (part.slice_field.as_deref(), part.elided),
            (Some("rest"), 2)
        );
    }

    #[test]
    fn strings_are_clamped_and_stop_at_invalid_utf8() {
        let d = sample();
        let mut bytes = encode(&d, &serde_json::json!({}), 64).unwrap();
        bytes[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
        bytes[8..12].copy_from_slice(b"ok\xffx");
        assert_eq!(decode(&d, &bytes, 0, None).unwrap().value["s"], "ok");
    }

    #[test]
    fn bad_json_is_an_error_naming_the_field() {
        let d = sample();
        let e = encode(&d, &serde_json::json!({"b": [70000]}), 64).unwrap_err();
        assert!(
            e.0.contains("b[0]") && e.0.contains("out of range for i16"),
            "{e}"
        );
        let e = encode(&d, &serde_json::json!({"zz": 1}), 64).unwrap_err();
        assert!(
            e.0.contains("unknown field `zz`") && e.0.contains("a, s, b, rest"),
            "{e}"
        );
        let e = encode(&d, &serde_json::json!({"_pad": [1]}), 64).unwrap_err();
        assert!(e.0.contains("unknown field `_pad`"), "{e}");
        let e = encode(&d, &serde_json::json!({"s": "toolong"}), 64).unwrap_err();
        assert!(e.0.contains("capacity"), "{e}");
        let e = encode(&d, &serde_json::json!({"rest": vec![0; 100]}), 64).unwrap_err();
        assert!(e.0.contains("more than the topic's 64"), "{e}");
        let e = encode(&d, &serde_json::json!({"a": 1.5}), 64).unwrap_err();
        assert!(e.0.contains("not an integer"), "{e}");
    }

    #[test]
    fn short_samples_and_zero_sized_floods_are_errors_not_loops() {
        let d = sample();
        assert!(decode(&d, &[0u8; 15], 0, None).is_err());
        // An array of 2^40 empty structs: valid as a description, but its
        // values are more than any sample's budget.
        let d = Description {
            root: Ty::Struct(1),
            structs: vec![
                Struct {
                    name: "t/Empty".into(),
                    size: 0,
                    align: 1,
                    fields: vec![],
                },
                Struct {
                    name: "t/Flood".into(),
                    size: 0,
                    align: 1,
                    fields: vec![field(
                        "x",
                        0,
                        Ty::Array {
                            elem: Box::new(Ty::Struct(0)),
                            len: 1 << 40,
                        },
                    )],
                },
            ],
        };
        d.validate().unwrap();
        let e = decode(&d, &[], 0, None).unwrap_err();
        assert!(e.0.contains("more than"), "{e}");
    }
}
