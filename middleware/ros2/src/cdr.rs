//! CDR (XCDR1, little endian), the bytes ROS 2 sends, driven by a [`View`].
//!
//! The format: a 4-byte encapsulation header `00 01 00 00` (CDR, little
//! endian), then the fields in the ROS definition's order. Every primitive
//! is aligned to its size (1, 2, 4 or 8) counted from the first byte after
//! the header, with zero bytes as padding; structs add no alignment of
//! their own. A `string` is a `u32` length that counts a terminating NUL,
//! then the bytes and the NUL. A sequence `T[]` is a `u32` count, then the
//! elements; an array `T[N]` is just the elements.
//!
//! [`encode`] reads an axon sample (its bytes as they lie in a slot) and
//! appends the CDR message; [`decode`] turns a CDR message back into sample
//! bytes. Both run the view's compiled program: nested messages held once
//! are inlined and runs of same-sized primitives that are contiguous in
//! both layouts are copied in one `memcpy` (an `Image`'s pixels, an `Imu`'s
//! 37 `f64`). axon's layouts are native-endian; this crate compiles only
//! for little-endian targets, where native and CDR byte order agree.
//!
//! # Decoding hostile input
//!
//! [`decode`] never panics, loops or allocates beyond its bounds on any
//! input: every count is checked against the bytes that remain (each
//! element takes at least one byte, a string at least four) before
//! anything is allocated; a string longer than its `FixedString`'s capacity,
//! text that is not UTF-8, a count above a fixed array's capacity, a
//! sequence that does not fill whole slice items, a constant that differs
//! (a `PointCloud2` whose point layout is not axon's) are errors; and the
//! decoded sample is at most [`MAX_SAMPLE`] bytes. Bytes after the message
//! are ignored (writers may pad it).

use core::fmt;

use crate::std_map::PCL_FIELDS;
use crate::view::{Elem, Op, View};

#[cfg(target_endian = "big")]
compile_error!("axon-ros2 assumes a little-endian target (axon samples are native-endian)");

/// The encapsulation header of little-endian plain CDR.
pub const HEADER: [u8; 4] = [0, 1, 0, 0];

/// Largest sample [`decode`] produces (1 GiB).
pub const MAX_SAMPLE: usize = 1 << 30;

/// Why a sample cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The sample is shorter than its type.
    ShortSample { len: usize, need: usize },
    /// A value does not fit its ROS type (a `Time` beyond `int32` seconds).
    OutOfRange { what: &'static str, value: i128 },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::ShortSample { len, need } => {
                write!(f, "sample of {len} bytes, the type needs {need}")
            }
            EncodeError::OutOfRange { what, value } => {
                write!(f, "{what} {value} does not fit its ROS 2 type")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why bytes are not a CDR message of the view's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the CDR message (header included).
    pub at: usize,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid CDR at byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for DecodeError {}

/// A decoded sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The sample's bytes (padding zero), as a slot would hold them.
    pub bytes: Vec<u8>,
    /// For a slice message, the trailing slice's length in elements.
    pub slice_len: Option<usize>,
}

/// Appends `sample` (a value of the view's type, as its bytes lie in a
/// slot; a slice message's length follows from the byte count) to `out` as
/// a CDR message, header included.
pub fn encode(view: &View, sample: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if sample.len() < view.size {
        return Err(EncodeError::ShortSample {
            len: sample.len(),
            need: view.size,
        });
    }
    let slice_items = view
        .slice_item
        .map_or(0, |item| (sample.len() - view.size) / item.max(1));
    let start = out.len();
    // Enough for every type but those whose strings or sequences grow
    // (PointCloud2's fields): one allocation at most for a fresh buffer.
    out.reserve(sample.len() + 256);
    out.extend_from_slice(&HEADER);
    let mut w = Writer {
        out,
        base: start + HEADER.len(),
        sample,
        slice_items,
    };
    let r = w.plan(view, view.root_index(), 0);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

/// The sample a CDR message holds.
pub fn decode(view: &View, cdr: &[u8]) -> Result<Decoded, DecodeError> {
    let mut bytes = Vec::new();
    let slice_len = decode_into(view, cdr, &mut bytes)?;
    Ok(Decoded { bytes, slice_len })
}

/// [`decode`] into a buffer that is cleared first (so a loop can reuse
/// it); returns the slice length of a slice message.
pub fn decode_into(
    view: &View,
    cdr: &[u8],
    out: &mut Vec<u8>,
) -> Result<Option<usize>, DecodeError> {
    out.clear();
    match cdr {
        [0, 1, _, _, ..] => {}
        [0, 0, ..] => {
            return Err(DecodeError {
                at: 0,
                what: "big-endian CDR is not supported".into(),
            })
        }
        [a, b, _, _, ..] => {
            return Err(DecodeError {
                at: 0,
                what: format!("encapsulation {a:02x} {b:02x} is not plain CDR (00 01)"),
            })
        }
        _ => {
            return Err(DecodeError {
                at: cdr.len(),
                what: "shorter than the 4-byte encapsulation header".into(),
            })
        }
    }
    out.resize(view.size, 0);
    let mut r = Reader {
        buf: &cdr[HEADER.len()..],
        pos: 0,
        out,
        counts: Vec::new(),
        slice_items: None,
    };
    r.plan(view, view.root_index(), 0)?;
    let items = r.slice_items;
    let len = out.len().div_ceil(view.align.max(1)) * view.align.max(1);
    out.resize(len, 0);
    Ok(view.slice_item.map(|_| items.unwrap_or(0)))
}

/// Padding bytes (alignments are primitive sizes, at most 8: fewer than 8
/// are ever needed; 16 leaves room).
const ZEROS: [u8; 16] = [0; 16];

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    base: usize,
    sample: &'a [u8],
    slice_items: usize,
}

impl<'a> Writer<'a> {
    #[inline(always)]
    fn align(&mut self, a: usize) {
        let rem = (self.out.len() - self.base) & (a - 1);
        if rem != 0 {
            // Fewer than 8 bytes (alignments are primitive sizes): copied
            // from a constant rather than a call to memset.
            self.out.extend_from_slice(&ZEROS[..a - rem]);
        }
    }

    #[inline(always)]
    fn get(&self, off: usize, n: usize) -> Result<&'a [u8], EncodeError> {
        let sample: &'a [u8] = self.sample;
        off.checked_add(n)
            .and_then(|end| sample.get(off..end))
            .ok_or(EncodeError::ShortSample {
                len: self.sample.len(),
                need: off.saturating_add(n),
            })
    }

    #[inline(always)]
    fn u32_at(&self, off: usize) -> Result<u32, EncodeError> {
        let b = self.get(off, 4)?;
        Ok(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline(always)]
    fn put_prim<const N: usize>(&mut self, off: usize) -> Result<(), EncodeError> {
        self.align(N);
        let b: [u8; N] = self
            .get(off, N)?
            .try_into()
            .map_err(|_| EncodeError::ShortSample {
                len: self.sample.len(),
                need: off.saturating_add(N),
            })?;
        self.out.extend_from_slice(&b);
        Ok(())
    }

    #[inline(always)]
    fn put_u32(&mut self, v: u32) {
        self.align(4);
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    #[inline(always)]
    fn put_str(&mut self, s: &[u8]) -> Result<(), EncodeError> {
        let len = u32::try_from(s.len() + 1).map_err(|_| EncodeError::OutOfRange {
            what: "a string length",
            value: s.len() as i128,
        })?;
        self.put_u32(len);
        self.out.extend_from_slice(s);
        self.out.push(0);
        Ok(())
    }

    #[inline(always)]
    fn count(&mut self, n: usize) -> Result<(), EncodeError> {
        let n = u32::try_from(n).map_err(|_| EncodeError::OutOfRange {
            what: "a sequence length",
            value: n as i128,
        })?;
        self.put_u32(n);
        Ok(())
    }

    #[inline]
    fn plan(&mut self, view: &View, m: usize, base: usize) -> Result<(), EncodeError> {
        for op in &view.plans[m].ops {
            match *op {
                Op::One { off, elem } => self.elem(view, elem, base + off)?,
                Op::Fixed {
                    off,
                    elem,
                    stride,
                    len,
                } => self.elems(view, elem, base + off, stride, len)?,
                Op::Counted {
                    off,
                    elem,
                    stride,
                    cap,
                    count_off,
                } => {
                    let n = (self.u32_at(base + count_off)? as usize).min(cap);
                    self.count(n)?;
                    self.elems(view, elem, base + off, stride, n)?;
                }
                Op::Slice {
                    off,
                    elem,
                    stride,
                    per_item,
                    ..
                } => {
                    let n = self.slice_items.saturating_mul(per_item);
                    self.count(n)?;
                    self.elems(view, elem, base + off, stride, n)?;
                }
                Op::Empty { .. } => self.put_u32(0),
                Op::ConstU32(v) => self.put_u32(v),
                Op::ConstBool(v) => self.out.push(v as u8),
                Op::Dummy => self.out.push(0),
                Op::RowStep {
                    width_off,
                    point_step,
                } => {
                    let width = self.u32_at(base + width_off)?;
                    let step = width
                        .checked_mul(point_step)
                        .ok_or(EncodeError::OutOfRange {
                            what: "a PointCloud width",
                            value: width as i128,
                        })?;
                    self.put_u32(step);
                }
                Op::PointFields => {
                    self.put_u32(PCL_FIELDS.len() as u32);
                    for (name, offset, datatype, count) in PCL_FIELDS {
                        self.put_str(name.as_bytes())?;
                        self.put_u32(offset);
                        self.out.push(datatype);
                        self.put_u32(count);
                    }
                }
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn elems(
        &mut self,
        view: &View,
        elem: Elem,
        off: usize,
        stride: usize,
        len: usize,
    ) -> Result<(), EncodeError> {
        if let Elem::Prim(n) = elem {
            if n as usize == stride {
                let bytes = self.get(off, stride.saturating_mul(len))?;
                let rem = (self.out.len() - self.base) & (stride - 1);
                let pad = if rem == 0 || len == 0 {
                    0
                } else {
                    stride - rem
                };
                self.out.reserve(pad + bytes.len());
                self.out.extend_from_slice(&ZEROS[..pad]);
                self.out.extend_from_slice(bytes);
                return Ok(());
            }
        }
        for i in 0..len {
            self.elem(view, elem, off + i * stride)?;
        }
        Ok(())
    }

    #[inline(always)]
    fn elem(&mut self, view: &View, elem: Elem, off: usize) -> Result<(), EncodeError> {
        match elem {
            // Fixed-size copies compile to moves, not calls to memmove.
            Elem::Prim(1) => self.put_prim::<1>(off)?,
            Elem::Prim(2) => self.put_prim::<2>(off)?,
            Elem::Prim(4) => self.put_prim::<4>(off)?,
            Elem::Prim(8) => self.put_prim::<8>(off)?,
            Elem::Prim(n) => {
                let n = n as usize;
                self.align(n);
                let b = self.get(off, n)?;
                self.out.extend_from_slice(b);
            }
            Elem::Bool => {
                let b = self.get(off, 1)?[0];
                self.out.push((b != 0) as u8);
            }
            Elem::NarrowI32 => {
                let b = self.get(off, 8)?;
                let v = i64::from_ne_bytes(b.try_into().expect("8 bytes"));
                let v = i32::try_from(v).map_err(|_| EncodeError::OutOfRange {
                    what: "a Time or Duration of seconds",
                    value: v as i128,
                })?;
                self.align(4);
                self.out.extend_from_slice(&v.to_le_bytes());
            }
            Elem::Str(cap) => {
                // As FixedString::as_str reads it: the length clamped to the
                // capacity, then the longest valid UTF-8 prefix.
                let len = (self.u32_at(off)? as usize).min(cap);
                let bytes = self.get(off + 4, len)?;
                // (ASCII, the common case, is checked inline first.)
                let text = if bytes.is_ascii() {
                    bytes
                } else {
                    match core::str::from_utf8(bytes) {
                        Ok(s) => s.as_bytes(),
                        Err(e) => &bytes[..e.valid_up_to()],
                    }
                };
                self.put_str(text)?;
            }
            Elem::Msg(m) => self.plan(view, m, off)?,
        }
        Ok(())
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    out: &'a mut Vec<u8>,
    /// Counts set by sequences so far: (absolute offset of the count, value).
    counts: Vec<(usize, u32)>,
    slice_items: Option<usize>,
}

impl<'a> Reader<'a> {
    fn err(&self, what: impl Into<String>) -> DecodeError {
        DecodeError {
            at: self.pos + HEADER.len(),
            what: what.into(),
        }
    }

    #[inline(always)]
    fn align(&mut self, a: usize) {
        let rem = self.pos & (a - 1);
        if rem != 0 {
            self.pos += a - rem;
        }
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let buf: &'a [u8] = self.buf;
        let end = self.pos.checked_add(n).filter(|&e| e <= buf.len());
        match end {
            Some(end) => {
                let b = &buf[self.pos..end];
                self.pos = end;
                Ok(b)
            }
            None => Err(self.err(format!("ends early ({n} more bytes expected)"))),
        }
    }

    #[inline(always)]
    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.align(4);
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A primitive of `N` bytes, aligned, into the sample at `off`.
    #[inline(always)]
    fn prim<const N: usize>(&mut self, off: usize) -> Result<(), String> {
        self.align(N);
        let b = self.take(N).map_err(|e| e.what)?;
        let b: [u8; N] = b.try_into().map_err(|_| "short read".to_string())?;
        Self::put_arr(self.out, off, b)
    }

    /// Writes `N` bytes into the sample at `off` (a move, not a memmove call).
    #[inline(always)]
    fn put_arr<const N: usize>(out: &mut [u8], off: usize, bytes: [u8; N]) -> Result<(), String> {
        off.checked_add(N)
            .and_then(|end| out.get_mut(off..end))
            .and_then(|d| <&mut [u8; N]>::try_from(d).ok())
            .map(|d| *d = bytes)
            .ok_or_else(|| format!("field at offset {off} outside the sample"))
    }

    /// Writes `bytes` into the sample at `off`.
    #[inline(always)]
    fn put(out: &mut [u8], off: usize, bytes: &[u8]) -> Result<(), String> {
        off.checked_add(bytes.len())
            .and_then(|end| out.get_mut(off..end))
            .map(|d| d.copy_from_slice(bytes))
            .ok_or_else(|| format!("field at offset {off} outside the sample"))
    }

    /// A sequence count, at most what the remaining bytes can hold with
    /// each element taking `min` bytes.
    #[inline(always)]
    fn count(&mut self, min: usize) -> Result<usize, DecodeError> {
        self.align(4);
        let at = self.pos + HEADER.len();
        let n = self.u32()? as usize;
        let left = self.buf.len().saturating_sub(self.pos);
        if n > left / min.max(1) {
            return Err(DecodeError {
                at,
                what: format!("a sequence of {n} elements in {left} remaining bytes"),
            });
        }
        Ok(n)
    }

    fn plan(&mut self, view: &View, m: usize, base: usize) -> Result<(), DecodeError> {
        for op in &view.plans[m].ops {
            match *op {
                Op::One { off, elem } => self.elem(view, elem, base + off)?,
                Op::Fixed {
                    off,
                    elem,
                    stride,
                    len,
                } => self.elems(view, elem, base + off, stride, len)?,
                Op::Counted {
                    off,
                    elem,
                    stride,
                    cap,
                    count_off,
                } => {
                    let n = self.count(min_cdr(view, elem))?;
                    if n > cap {
                        return Err(self.err(format!(
                            "a sequence of {n} elements where axon holds at most {cap}"
                        )));
                    }
                    let at = base + count_off;
                    if n > 0 {
                        match self.counts.iter().find(|(o, _)| *o == at) {
                            Some(&(_, c)) if c as usize != n => {
                                return Err(self.err(format!(
                                    "a sequence of {n} elements beside one of {c} (they share one count)"
                                )));
                            }
                            Some(_) => {}
                            None => {
                                self.counts.push((at, n as u32));
                                Self::put(self.out, at, &(n as u32).to_ne_bytes())
                                    .map_err(|e| self.err(e))?;
                            }
                        }
                    }
                    self.elems(view, elem, base + off, stride, n)?;
                }
                Op::Slice {
                    off,
                    elem,
                    stride,
                    per_item,
                    item,
                } => {
                    let n = self.count(min_cdr(view, elem))?;
                    if n % per_item.max(1) != 0 {
                        return Err(self.err(format!(
                            "a sequence of {n} elements, not whole items of {per_item}"
                        )));
                    }
                    let items = n / per_item.max(1);
                    let len = items
                        .checked_mul(item)
                        .and_then(|b| b.checked_add(base + off))
                        .filter(|&l| l <= MAX_SAMPLE)
                        .ok_or_else(|| {
                            self.err(format!("{items} items exceed the {MAX_SAMPLE}-byte bound"))
                        })?;
                    self.out.resize(len.max(self.out.len()), 0);
                    self.slice_items = Some(items);
                    self.elems(view, elem, base + off, stride, n)?;
                }
                Op::Empty { elem } => {
                    let size = min_cdr(view, elem);
                    let n = self.count(size)?;
                    if n > 0 {
                        self.align(size);
                        self.take(n * size)?;
                    }
                }
                Op::ConstU32(v) => {
                    let got = self.u32()?;
                    if got != v {
                        return Err(
                            self.err(format!("a uint32 of {got} where axon's layout needs {v}"))
                        );
                    }
                }
                Op::ConstBool(v) => {
                    let got = self.take(1)?[0] != 0;
                    if got != v {
                        return Err(
                            self.err(format!("a bool of {got} where axon's layout needs {v}"))
                        );
                    }
                }
                Op::Dummy => {
                    self.take(1)?;
                }
                Op::RowStep {
                    width_off,
                    point_step,
                } => {
                    let got = self.u32()?;
                    let at = base + width_off;
                    let width = self
                        .out
                        .get(at..at + 4)
                        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    if u64::from(got) != u64::from(width) * u64::from(point_step) {
                        return Err(self.err(format!(
                            "row_step {got} is not width {width} x point_step {point_step} (padded rows are not supported)"
                        )));
                    }
                }
                Op::PointFields => {
                    let n = self.count(4)?;
                    let wrong = || {
                        "PointCloud2 fields are not axon's PointCloud points (x, y, z, intensity: float32 at 0, 4, 8, 12)"
                    };
                    if n != PCL_FIELDS.len() {
                        return Err(self.err(wrong()));
                    }
                    for (name, offset, datatype, count) in PCL_FIELDS {
                        let got_name = self.string()?;
                        let got_offset = self.u32()?;
                        let got_type = self.take(1)?[0];
                        let got_count = self.u32()?;
                        if got_name != name.as_bytes()
                            || (got_offset, got_type, got_count) != (offset, datatype, count)
                        {
                            return Err(self.err(wrong()));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A CDR string's bytes (without the NUL).
    #[inline(always)]
    fn string(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        if len == 0 {
            // Not what ROS writes, but unambiguous: empty.
            return Ok(&[]);
        }
        let at = self.pos;
        let b = self.take(len)?;
        match b.split_last() {
            Some((0, text)) => Ok(text),
            _ => Err(DecodeError {
                at: at + HEADER.len(),
                what: "a string without its terminating NUL".into(),
            }),
        }
    }

    #[inline(always)]
    fn elems(
        &mut self,
        view: &View,
        elem: Elem,
        off: usize,
        stride: usize,
        len: usize,
    ) -> Result<(), DecodeError> {
        if let Elem::Prim(n) = elem {
            if n as usize == stride && len > 0 {
                self.align(stride);
                let total = stride
                    .checked_mul(len)
                    .ok_or_else(|| self.err("array too large"))?;
                let pos = self.pos;
                let b = self.take(total)?;
                return Self::put(self.out, off, b).map_err(|e| DecodeError {
                    at: pos + HEADER.len(),
                    what: e,
                });
            }
        }
        for i in 0..len {
            self.elem(view, elem, off + i * stride)?;
        }
        Ok(())
    }

    #[inline(always)]
    fn elem(&mut self, view: &View, elem: Elem, off: usize) -> Result<(), DecodeError> {
        let r = match elem {
            Elem::Prim(1) => self.prim::<1>(off),
            Elem::Prim(2) => self.prim::<2>(off),
            Elem::Prim(4) => self.prim::<4>(off),
            Elem::Prim(8) => self.prim::<8>(off),
            Elem::Prim(n) => {
                let n = n as usize;
                self.align(n);
                let b = self.take(n)?;
                Self::put(self.out, off, b)
            }
            Elem::Bool => {
                let b = self.take(1)?[0];
                Self::put(self.out, off, &[(b != 0) as u8])
            }
            Elem::NarrowI32 => {
                self.align(4);
                let b = self.take(4)?;
                let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64;
                Self::put_arr(self.out, off, v.to_ne_bytes())
            }
            Elem::Str(cap) => {
                let at = self.pos;
                let text = self.string()?;
                if text.len() > cap {
                    return Err(DecodeError {
                        at: at + HEADER.len(),
                        what: format!(
                            "a string of {} bytes where axon holds at most {cap}",
                            text.len()
                        ),
                    });
                }
                if !text.is_ascii() && core::str::from_utf8(text).is_err() {
                    return Err(DecodeError {
                        at: at + HEADER.len(),
                        what: "a string that is not UTF-8".into(),
                    });
                }
                let len = (text.len() as u32).to_ne_bytes();
                Self::put_arr(self.out, off, len).and_then(|()| Self::put(self.out, off + 4, text))
            }
            Elem::Msg(m) => return self.plan(view, m, off),
        };
        r.map_err(|e| self.err(e))
    }
}

fn min_cdr(view: &View, elem: Elem) -> usize {
    match elem {
        Elem::Prim(n) => n as usize,
        Elem::Bool => 1,
        Elem::NarrowI32 | Elem::Str(_) => 4,
        Elem::Msg(m) => view.plans[m].min_cdr,
    }
}
