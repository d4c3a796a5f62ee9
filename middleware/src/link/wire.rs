//! The link wire protocol, version 2: frames, their encoding, and a reader
//! that checks every length and id before it allocates or copies.
//!
//! Every frame starts with the same 8-byte header, little-endian:
//!
//! ```text
//! kind u8 | flags u8 (0) | reserved u16 (0) | body_len u32
//! ```
//!
//! followed by `body_len` bytes. Control frames (everything but `DATA`) have
//! at most [`MAX_CONTROL_BODY`] bytes of body; a data frame has a 24-byte
//! data header (`topic u32 | reserved u32 | seq u64 | stamp_ns u64`) and then
//! the payload, at most the announced `max_size` of its topic, itself at most
//! [`MAX_PAYLOAD`]. ARCHITECTURE.md has the whole protocol; this module is
//! its only encoder and decoder.
//!
//! *Invariant:* nothing read from the peer is used as a length, an index or
//! an allocation size before it is checked against a bound of this module
//! or of the announced table. A violation is a [`WireError`] that names what
//! was wrong; the connection closes, nothing else is affected.

use std::io::{self, IoSlice, Read, Write};
use std::time::{Duration, Instant};

use axon_message::Description;

/// First bytes of a `HELLO` body.
pub const MAGIC: [u8; 8] = *b"AXONLINK";
/// The protocol version this code speaks.
///
/// 2: an `ANNOUNCE` carries the type's description (so a topic a link
/// imports describes itself like any other).
pub const VERSION: u16 = 2;
/// Written little-endian: a big-endian peer reads `0x0201`.
pub const BYTE_ORDER_MARK: u16 = 0x0102;
/// Bytes of the common frame header.
pub const FRAME_HEADER: usize = 8;
/// Bytes of a data frame's header after the common one.
pub const DATA_HEADER: usize = 24;
/// Largest body of a control frame other than `ANNOUNCE`.
pub const MAX_SMALL_BODY: u32 = 4096;
/// Largest body of a control frame: an `ANNOUNCE`'s, 4 KiB plus the
/// largest type description it may carry.
pub const MAX_CONTROL_BODY: u32 = MAX_SMALL_BODY + axon_message::desc::MAX_ENCODED as u32;
/// Largest payload a topic may announce (256 MiB).
pub const MAX_PAYLOAD: u64 = 256 << 20;
/// Most topics one side may announce on one connection.
pub const MAX_TOPICS: u32 = 1024;
/// Longest node or host name in a `HELLO`.
pub const MAX_IDENT: usize = 64;
/// Longest topic name (as a segment stores it).
pub const MAX_TOPIC_NAME: usize = 256;
/// Longest type name (as a segment stores it).
pub const MAX_TYPE_NAME: usize = 128;
/// Longest reason text in `VERDICT` and `CLOSE`.
pub const MAX_REASON: usize = 1024;
/// Bytes of a nonce and of an authentication tag.
pub const NONCE_LEN: usize = 16;
/// Bytes of an HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;
/// Read-ahead of the frame reader: a payload is copied from this window at
/// most this many bytes; the rest goes from the socket into the loan.
pub const READ_AHEAD: usize = 4096;

/// Frame kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Handshake: magic, version, byte order, identity, nonce.
    Hello = 1,
    /// Handshake: HMAC of the peer's nonce under the shared secret.
    Auth = 2,
    /// A topic this side will send: id, name, type, fingerprint, sizes, QoS.
    Announce = 3,
    /// The answer to an announcement: accepted, or refused with a reason.
    Verdict = 4,
    /// One sample of an accepted topic.
    Data = 5,
    /// Nothing to say; proves the peer is alive.
    Heartbeat = 6,
    /// The sender is closing, with a reason.
    Close = 7,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Hello,
            2 => Kind::Auth,
            3 => Kind::Announce,
            4 => Kind::Verdict,
            5 => Kind::Data,
            6 => Kind::Heartbeat,
            7 => Kind::Close,
            _ => return None,
        })
    }
}

/// Why a stream was refused or ended. Each variant is one clear reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The peer closed the connection between frames.
    #[error("peer closed the connection")]
    Closed,
    /// The peer closed the connection inside a frame.
    #[error("truncated frame: connection closed {got} bytes into a {want}-byte {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes received of it.
        got: usize,
        /// Bytes it should have had.
        want: usize,
    },
    /// Nothing arrived for too long.
    #[error("no frame from the peer for {0:?} (heartbeat timeout)")]
    Timeout(Duration),
    /// Writes made no progress for too long (the peer stopped reading).
    #[error("the peer read nothing for {0:?} (write stalled)")]
    Stalled(Duration),
    /// The handshake was refused (authentication, identity).
    #[error("{0}")]
    Refused(String),
    /// This endpoint is stopping.
    #[error("endpoint is shutting down")]
    Stopped,
    /// A frame broke the protocol.
    #[error("protocol violation: {0}")]
    Violation(String),
    /// The socket failed.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
}

fn violation<T>(msg: impl Into<String>) -> Result<T, WireError> {
    Err(WireError::Violation(msg.into()))
}

/// A decoded common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The frame kind.
    pub kind: Kind,
    /// Bytes after the header.
    pub body_len: u32,
}

/// The header of a data frame, after the common one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataHeader {
    /// Index into the sender's announced table.
    pub topic: u32,
    /// The sample's sequence number at its source.
    pub seq: u64,
    /// The sample's source timestamp (source `CLOCK_MONOTONIC`, ns).
    pub stamp_ns: u64,
}

/// The handshake's first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Protocol version.
    pub version: u16,
    /// The peer wants (and will give) proof of a shared secret.
    pub auth: bool,
    /// Fresh random challenge.
    pub nonce: [u8; NONCE_LEN],
    /// The sender's process id (display only).
    pub pid: u32,
    /// The sender's link name.
    pub node: String,
    /// The sender's host name.
    pub host: String,
}

/// A topic one side will send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// Its id on this connection (0, 1, 2, ... in announcement order).
    pub id: u32,
    /// Topic name.
    pub name: String,
    /// Message type name.
    pub type_name: String,
    /// Layout fingerprint of the type.
    pub fingerprint: u64,
    /// Bytes with no trailing elements.
    pub fixed_size: u64,
    /// Bytes per trailing element (0: sized).
    pub elem_size: u64,
    /// Most trailing elements.
    pub max_elems: u64,
    /// Largest payload: `fixed_size + elem_size * max_elems`.
    pub max_size: u64,
    /// History depth at the source.
    pub depth: u32,
    /// Reliable: the receiver applies backpressure instead of dropping.
    pub reliable: bool,
    /// The type's description, when the source's segment has one; checked
    /// on decoding to name `type_name` and recompute to `fingerprint`.
    pub description: Option<Description>,
}

impl Announce {
    /// Checks the numbers are consistent and within the protocol's bounds.
    pub fn check(&self) -> Result<(), String> {
        let computed = self
            .elem_size
            .checked_mul(self.max_elems)
            .and_then(|b| b.checked_add(self.fixed_size));
        if computed != Some(self.max_size) {
            return Err(format!(
                "topic {}: max_size {} is not fixed_size {} + elem_size {} x max_elems {}",
                self.name, self.max_size, self.fixed_size, self.elem_size, self.max_elems
            ));
        }
        if self.elem_size == 0 && self.max_elems != 0 {
            return Err(format!(
                "topic {}: a sized type cannot have trailing elements",
                self.name
            ));
        }
        if self.max_size > MAX_PAYLOAD {
            return Err(format!(
                "topic {}: max_size {} exceeds the link limit of {MAX_PAYLOAD} bytes",
                self.name, self.max_size
            ));
        }
        if !(1..=crate::layout::MAX_DEPTH).contains(&self.depth) {
            return Err(format!(
                "topic {}: depth {} out of range",
                self.name, self.depth
            ));
        }
        Ok(())
    }

    /// Trailing elements of a payload of `len` bytes, if `len` is a valid
    /// payload length for this topic.
    pub fn elems_for(&self, len: u64) -> Option<u64> {
        if len > self.max_size || len < self.fixed_size {
            return None;
        }
        let rest = len - self.fixed_size;
        if self.elem_size == 0 {
            return (rest == 0).then_some(0);
        }
        (rest % self.elem_size == 0).then_some(rest / self.elem_size)
    }
}

/// The answer to an announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The announced id.
    pub id: u32,
    /// Accepted: data may flow.
    pub accepted: bool,
    /// Why not (empty when accepted).
    pub reason: String,
}

// ---------------------------------------------------------------- encoding

fn header(kind: Kind, body_len: usize) -> [u8; FRAME_HEADER] {
    let mut h = [0u8; FRAME_HEADER];
    h[0] = kind as u8;
    h[4..8].copy_from_slice(&(body_len as u32).to_le_bytes());
    h
}

fn frame(kind: Kind, body: &[u8]) -> Vec<u8> {
    debug_assert!(body.len() <= MAX_CONTROL_BODY as usize);
    let mut out = Vec::with_capacity(FRAME_HEADER + body.len());
    out.extend_from_slice(&header(kind, body.len()));
    out.extend_from_slice(body);
    out
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A `HELLO` frame.
pub fn encode_hello(h: &Hello) -> Vec<u8> {
    let node = truncate(&h.node, MAX_IDENT);
    let host = truncate(&h.host, MAX_IDENT);
    let mut b = Vec::with_capacity(48 + node.len() + host.len());
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&h.version.to_le_bytes());
    b.extend_from_slice(&BYTE_ORDER_MARK.to_le_bytes());
    b.extend_from_slice(&u32::from(h.auth).to_le_bytes());
    b.extend_from_slice(&h.nonce);
    b.extend_from_slice(&h.pid.to_le_bytes());
    b.push(node.len() as u8);
    b.push(host.len() as u8);
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(node.as_bytes());
    b.extend_from_slice(host.as_bytes());
    frame(Kind::Hello, &b)
}

/// An `AUTH` frame.
pub fn encode_auth(mac: &[u8; MAC_LEN]) -> Vec<u8> {
    frame(Kind::Auth, mac)
}

/// An `ANNOUNCE` frame.
pub fn encode_announce(a: &Announce) -> Vec<u8> {
    let name = truncate(&a.name, MAX_TOPIC_NAME);
    let ty = truncate(&a.type_name, MAX_TYPE_NAME);
    let mut b = Vec::with_capacity(56 + name.len() + ty.len());
    b.extend_from_slice(&a.id.to_le_bytes());
    b.push(u8::from(a.reliable));
    b.extend_from_slice(&[0, 0, 0]);
    b.extend_from_slice(&a.fingerprint.to_le_bytes());
    b.extend_from_slice(&a.fixed_size.to_le_bytes());
    b.extend_from_slice(&a.elem_size.to_le_bytes());
    b.extend_from_slice(&a.max_elems.to_le_bytes());
    b.extend_from_slice(&a.max_size.to_le_bytes());
    b.extend_from_slice(&a.depth.to_le_bytes());
    b.extend_from_slice(&(name.len() as u16).to_le_bytes());
    b.extend_from_slice(&(ty.len() as u16).to_le_bytes());
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(ty.as_bytes());
    // A description that would not fit (a valid one never is larger than
    // MAX_ENCODED) is left out: the importer's segment then has none.
    let description = a
        .description
        .as_ref()
        .map(Description::encode)
        .filter(|d| d.len() <= axon_message::desc::MAX_ENCODED)
        .unwrap_or_default();
    b.extend_from_slice(&(description.len() as u32).to_le_bytes());
    b.extend_from_slice(&description);
    frame(Kind::Announce, &b)
}

/// A `VERDICT` frame.
pub fn encode_verdict(v: &Verdict) -> Vec<u8> {
    let reason = truncate(&v.reason, MAX_REASON);
    let mut b = Vec::with_capacity(12 + reason.len());
    b.extend_from_slice(&v.id.to_le_bytes());
    b.push(u8::from(v.accepted));
    b.extend_from_slice(&[0, 0, 0]);
    b.extend_from_slice(&(reason.len() as u16).to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(reason.as_bytes());
    frame(Kind::Verdict, &b)
}

/// A `HEARTBEAT` frame.
pub fn encode_heartbeat() -> Vec<u8> {
    frame(Kind::Heartbeat, &[])
}

/// A `CLOSE` frame.
pub fn encode_close(reason: &str) -> Vec<u8> {
    let reason = truncate(reason, MAX_REASON);
    let mut b = Vec::with_capacity(4 + reason.len());
    b.extend_from_slice(&(reason.len() as u16).to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(reason.as_bytes());
    frame(Kind::Close, &b)
}

/// The common and data headers of a data frame carrying `payload_len` bytes.
pub fn data_header(h: &DataHeader, payload_len: usize) -> [u8; FRAME_HEADER + DATA_HEADER] {
    let mut out = [0u8; FRAME_HEADER + DATA_HEADER];
    out[..FRAME_HEADER].copy_from_slice(&header(Kind::Data, DATA_HEADER + payload_len));
    out[8..12].copy_from_slice(&h.topic.to_le_bytes());
    out[16..24].copy_from_slice(&h.seq.to_le_bytes());
    out[24..32].copy_from_slice(&h.stamp_ns.to_le_bytes());
    out
}

/// Writes all of `bufs` with vectored writes (the payload slice goes from
/// shared memory to the socket, no copy). A write that times out calls
/// `keep_going`, which decides whether to try again.
pub fn write_all_vectored(
    w: &mut (impl Write + ?Sized),
    bufs: &mut [IoSlice<'_>],
    mut keep_going: impl FnMut() -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut bufs = bufs;
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(WireError::Closed),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => keep_going()?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

// ---------------------------------------------------------------- decoding

/// Reads frames from a socket whose read timeout is a short slice: between
/// slices it asks `stop` whether to give up, and it fails with
/// [`WireError::Timeout`] when nothing arrived for `dead_after`, or when an
/// absolute deadline ([`Self::set_deadline`], the handshake's) has passed,
/// however many bytes arrive meanwhile.
///
/// Memory: the reader owns its [`READ_AHEAD`] window and nothing else; a
/// control body is one allocation of at most [`MAX_CONTROL_BODY`] bytes.
pub struct FrameReader<R> {
    inner: R,
    buf: Box<[u8; READ_AHEAD]>,
    start: usize,
    end: usize,
    last_rx: Instant,
    dead_after: Duration,
    /// An absolute deadline and the budget it was computed from (for the
    /// error message).
    deadline: Option<(Instant, Duration)>,
}

impl<R: Read> FrameReader<R> {
    /// A reader over `inner`.
    pub fn new(inner: R, dead_after: Duration) -> Self {
        FrameReader {
            inner,
            buf: Box::new([0; READ_AHEAD]),
            start: 0,
            end: 0,
            last_rx: Instant::now(),
            dead_after,
            deadline: None,
        }
    }

    /// Sets (or clears) an absolute deadline: once `at` has passed, every
    /// read fails with [`WireError::Timeout`]`(budget)`, even if the peer
    /// keeps sending (a byte a second must not keep a handshake alive).
    pub fn set_deadline(&mut self, deadline: Option<(Instant, Duration)>) {
        self.deadline = deadline;
    }

    fn past_deadline(&self) -> Result<(), WireError> {
        match self.deadline {
            Some((at, budget)) if Instant::now() >= at => Err(WireError::Timeout(budget)),
            _ => Ok(()),
        }
    }

    /// Changes how long silence may last before the peer counts as dead.
    pub fn set_dead_after(&mut self, d: Duration) {
        self.dead_after = d;
        self.last_rx = Instant::now();
    }

    /// Restarts the silence clock (after this side deliberately stopped
    /// reading, e.g. while applying backpressure).
    pub fn touch(&mut self) {
        self.last_rx = Instant::now();
    }

    fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// One `read` into `dst` with the timeout and stop policy.
    fn read_some(
        &mut self,
        mut dst: Option<&mut [u8]>,
        stop: &dyn Fn() -> bool,
    ) -> Result<usize, WireError> {
        loop {
            self.past_deadline()?;
            let r = match dst {
                Some([]) => return Ok(0),
                Some(ref mut d) => self.inner.read(d),
                None => {
                    if self.start == self.end {
                        self.start = 0;
                        self.end = 0;
                    } else if self.start > 0 {
                        self.buf.copy_within(self.start..self.end, 0);
                        self.end -= self.start;
                        self.start = 0;
                    }
                    let end = self.end;
                    self.inner.read(&mut self.buf[end..])
                }
            };
            match r {
                Ok(n) => {
                    if n > 0 {
                        self.last_rx = Instant::now();
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    if stop() {
                        return Err(WireError::Stopped);
                    }
                    if self.last_rx.elapsed() >= self.dead_after {
                        return Err(WireError::Timeout(self.dead_after));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Makes at least `n <= READ_AHEAD` bytes available in the window.
    fn fill(
        &mut self,
        n: usize,
        what: &'static str,
        at_boundary: bool,
        stop: &dyn Fn() -> bool,
    ) -> Result<(), WireError> {
        debug_assert!(n <= READ_AHEAD);
        while self.buffered() < n {
            let got = self.read_some(None, stop)?;
            if got == 0 {
                let have = self.buffered();
                return Err(if at_boundary && have == 0 {
                    WireError::Closed
                } else {
                    WireError::Truncated {
                        what,
                        got: have,
                        want: n,
                    }
                });
            }
            self.end += got;
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let s = self.start;
        self.start += n;
        &self.buf[s..s + n]
    }

    /// The next frame's header, checked: a known kind, reserved bytes zero,
    /// and a body length within that kind's bound.
    pub fn header(&mut self, stop: &dyn Fn() -> bool) -> Result<Header, WireError> {
        self.fill(FRAME_HEADER, "frame header", true, stop)?;
        let h = self.take(FRAME_HEADER);
        let (kind, flags, reserved) = (h[0], h[1], u16::from_le_bytes([h[2], h[3]]));
        let body_len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let Some(kind) = Kind::from_u8(kind) else {
            return violation(format!("unknown frame kind {kind}"));
        };
        if flags != 0 || reserved != 0 {
            return violation(format!(
                "{kind:?} frame has non-zero reserved bits ({flags:#x}, {reserved:#x})"
            ));
        }
        let ok = match kind {
            Kind::Data => {
                body_len as u64 >= DATA_HEADER as u64
                    && body_len as u64 <= DATA_HEADER as u64 + MAX_PAYLOAD
            }
            Kind::Heartbeat => body_len == 0,
            Kind::Auth => body_len as usize == MAC_LEN,
            // Only an ANNOUNCE carries a type description.
            Kind::Announce => body_len <= MAX_CONTROL_BODY,
            _ => body_len <= MAX_SMALL_BODY,
        };
        if !ok {
            return violation(format!(
                "{kind:?} frame announces a body of {body_len} bytes, outside its bound"
            ));
        }
        Ok(Header { kind, body_len })
    }

    /// The body of a control frame (bounded by [`Self::header`]).
    pub fn control_body(
        &mut self,
        h: &Header,
        stop: &dyn Fn() -> bool,
    ) -> Result<Vec<u8>, WireError> {
        debug_assert!(h.kind != Kind::Data && h.body_len <= MAX_CONTROL_BODY);
        let n = h.body_len as usize;
        const _: () = assert!(MAX_SMALL_BODY as usize <= READ_AHEAD);
        if n <= READ_AHEAD {
            self.fill(n, "control frame body", false, stop)?;
            return Ok(self.take(n).to_vec());
        }
        // Larger than the read-ahead window (an ANNOUNCE with a type
        // description): straight into its own buffer, at most
        // MAX_CONTROL_BODY bytes (checked by `header`).
        let mut body = vec![0; n];
        self.read_into(&mut body, "control frame body", stop)?;
        Ok(body)
    }

    /// The data header of a data frame.
    pub fn data_header(&mut self, stop: &dyn Fn() -> bool) -> Result<DataHeader, WireError> {
        self.fill(DATA_HEADER, "data header", false, stop)?;
        let d = self.take(DATA_HEADER);
        let topic = u32::from_le_bytes(d[0..4].try_into().expect("4 bytes"));
        let reserved = u32::from_le_bytes(d[4..8].try_into().expect("4 bytes"));
        if reserved != 0 {
            return violation("data header has non-zero reserved bytes");
        }
        Ok(DataHeader {
            topic,
            seq: u64::from_le_bytes(d[8..16].try_into().expect("8 bytes")),
            stamp_ns: u64::from_le_bytes(d[16..24].try_into().expect("8 bytes")),
        })
    }

    /// Fills `dst` with the next `dst.len()` bytes: what is already in the
    /// read-ahead window is copied, the rest is read from the socket
    /// straight into `dst` (a loaned slot).
    pub fn payload_into(
        &mut self,
        dst: &mut [u8],
        stop: &dyn Fn() -> bool,
    ) -> Result<(), WireError> {
        self.read_into(dst, "payload", stop)
    }

    /// Fills `dst`: from the read-ahead window, then from the socket.
    fn read_into(
        &mut self,
        dst: &mut [u8],
        what: &'static str,
        stop: &dyn Fn() -> bool,
    ) -> Result<(), WireError> {
        let from_buf = self.buffered().min(dst.len());
        dst[..from_buf].copy_from_slice(self.take(from_buf));
        let mut at = from_buf;
        while at < dst.len() {
            let n = self.read_some(Some(&mut dst[at..]), stop)?;
            if n == 0 {
                return Err(WireError::Truncated {
                    what,
                    got: at,
                    want: dst.len(),
                });
            }
            at += n;
        }
        Ok(())
    }

    /// Reads and discards `n` bytes (a payload nobody can take).
    pub fn skip(&mut self, mut n: usize, stop: &dyn Fn() -> bool) -> Result<(), WireError> {
        let total = n;
        while n > 0 {
            if self.buffered() == 0 {
                let got = self.read_some(None, stop)?;
                if got == 0 {
                    return Err(WireError::Truncated {
                        what: "payload",
                        got: total - n,
                        want: total,
                    });
                }
                self.end += got;
            }
            let k = self.buffered().min(n);
            self.start += k;
            n -= k;
        }
        Ok(())
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}

/// A little cursor over a control body that fails with a clear message
/// instead of reading past the end.
struct Body<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Body<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.b.len() < n {
            return violation(format!(
                "{} body too short: needs {n} more bytes, has {}",
                self.what,
                self.b.len()
            ));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.bytes(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().expect("8")))
    }
    fn text(&mut self, n: usize, max: usize, field: &str) -> Result<String, WireError> {
        if n > max {
            return violation(format!("{field} is {n} bytes, more than {max}"));
        }
        let raw = self.bytes(n)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => violation(format!("{field} is not UTF-8")),
        }
    }
    fn end(&self) -> Result<(), WireError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            violation(format!(
                "{} body has {} unexpected trailing bytes",
                self.what,
                self.b.len()
            ))
        }
    }
}

/// Decodes a `HELLO` body. A wrong magic, byte order or version is an
/// error naming both sides' values.
pub fn decode_hello(b: &[u8]) -> Result<Hello, WireError> {
    let mut r = Body { b, what: "hello" };
    let magic = r.bytes(8)?;
    if magic != MAGIC {
        return violation(format!(
            "not an axon link peer (hello magic {magic:02x?}, expected \"AXONLINK\")"
        ));
    }
    let version = r.u16()?;
    if version != VERSION {
        return violation(format!(
            "protocol version {version} is not supported (this endpoint speaks version {VERSION})"
        ));
    }
    let bom = r.u16()?;
    if bom != BYTE_ORDER_MARK {
        return violation(format!(
            "byte order mark {bom:#06x}: the peer is not little-endian (expected {BYTE_ORDER_MARK:#06x})"
        ));
    }
    let flags = r.u32()?;
    if flags & !1 != 0 {
        return violation(format!("unknown hello flags {flags:#x}"));
    }
    let nonce: [u8; NONCE_LEN] = r.bytes(NONCE_LEN)?.try_into().expect("16");
    let pid = r.u32()?;
    let node_len = r.u8()? as usize;
    let host_len = r.u8()? as usize;
    r.bytes(2)?;
    let node = r.text(node_len, MAX_IDENT, "node name")?;
    let host = r.text(host_len, MAX_IDENT, "host name")?;
    r.end()?;
    Ok(Hello {
        version,
        auth: flags & 1 != 0,
        nonce,
        pid,
        node,
        host,
    })
}

/// Decodes an `ANNOUNCE` body and checks its numbers ([`Announce::check`]).
pub fn decode_announce(b: &[u8]) -> Result<Announce, WireError> {
    let mut r = Body {
        b,
        what: "announce",
    };
    let id = r.u32()?;
    let flags = r.u8()?;
    if flags & !1 != 0 {
        return violation(format!("unknown announce flags {flags:#x}"));
    }
    r.bytes(3)?;
    let fingerprint = r.u64()?;
    let fixed_size = r.u64()?;
    let elem_size = r.u64()?;
    let max_elems = r.u64()?;
    let max_size = r.u64()?;
    let depth = r.u32()?;
    let name_len = r.u16()? as usize;
    let type_len = r.u16()? as usize;
    let name = r.text(name_len, MAX_TOPIC_NAME, "topic name")?;
    let type_name = r.text(type_len, MAX_TYPE_NAME, "type name")?;
    let description_len = r.u32()? as usize;
    if description_len > axon_message::desc::MAX_ENCODED {
        return violation(format!(
            "type description is {description_len} bytes, more than {}",
            axon_message::desc::MAX_ENCODED
        ));
    }
    let description = match description_len {
        0 => None,
        n => {
            let d = Description::decode(r.bytes(n)?)
                .map_err(|e| WireError::Violation(format!("topic {name}: {e}")))?;
            if d.type_name() != type_name || d.fingerprint() != fingerprint {
                return violation(format!(
                    "topic {name}: the type description (type {}, fingerprint {:#x}) disagrees \
                     with the announced type {type_name}, fingerprint {fingerprint:#x}",
                    d.type_name(),
                    d.fingerprint()
                ));
            }
            Some(d)
        }
    };
    r.end()?;
    let a = Announce {
        id,
        name,
        type_name,
        fingerprint,
        fixed_size,
        elem_size,
        max_elems,
        max_size,
        depth,
        reliable: flags & 1 != 0,
        description,
    };
    a.check().map_err(WireError::Violation)?;
    Ok(a)
}

/// Decodes a `VERDICT` body.
pub fn decode_verdict(b: &[u8]) -> Result<Verdict, WireError> {
    let mut r = Body { b, what: "verdict" };
    let id = r.u32()?;
    let accepted = match r.u8()? {
        0 => false,
        1 => true,
        x => return violation(format!("verdict value {x} is neither 0 nor 1")),
    };
    r.bytes(3)?;
    let len = r.u16()? as usize;
    r.bytes(2)?;
    let reason = r.text(len, MAX_REASON, "verdict reason")?;
    r.end()?;
    Ok(Verdict {
        id,
        accepted,
        reason,
    })
}

/// Decodes a `CLOSE` body into its reason.
pub fn decode_close(b: &[u8]) -> Result<String, WireError> {
    let mut r = Body { b, what: "close" };
    let len = r.u16()? as usize;
    r.bytes(2)?;
    let reason = r.text(len, MAX_REASON, "close reason")?;
    r.end()?;
    Ok(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    fn reader(bytes: Vec<u8>) -> FrameReader<io::Cursor<Vec<u8>>> {
        FrameReader::new(io::Cursor::new(bytes), Duration::from_secs(1))
    }

    fn sample_announce() -> Announce {
        Announce {
            id: 0,
            name: "/camera/image".into(),
            type_name: "axon-msgs/Image".into(),
            fingerprint: 0xfeed,
            fixed_size: 64,
            elem_size: 1,
            max_elems: 1000,
            max_size: 1064,
            depth: 4,
            reliable: true,
            description: None,
        }
    }

    /// An announcement of `FuzzSample` carrying its description.
    fn described_announce() -> Announce {
        use crate::fuzzing::FuzzSample;
        use crate::Schema;
        let d = Description::of::<FuzzSample>();
        Announce {
            name: "/described".into(),
            type_name: FuzzSample::TYPE_NAME.into(),
            fingerprint: FuzzSample::FINGERPRINT,
            fixed_size: core::mem::size_of::<FuzzSample>() as u64,
            elem_size: 0,
            max_elems: 0,
            max_size: core::mem::size_of::<FuzzSample>() as u64,
            description: Some(d),
            ..sample_announce()
        }
    }

    fn announce_body(a: &Announce) -> Vec<u8> {
        encode_announce(a)[FRAME_HEADER..].to_vec()
    }

    #[test]
    fn an_announce_carries_its_type_description() {
        let a = described_announce();
        assert_eq!(decode_announce(&announce_body(&a)).unwrap(), a);
        // None travels as none.
        let plain = sample_announce();
        assert_eq!(decode_announce(&announce_body(&plain)).unwrap(), plain);
    }

    /// A description of a struct of `fields` one-byte fields (its encoding
    /// grows ~16 bytes a field).
    fn wide_description(fields: usize) -> Description {
        use axon_message::desc::{Primitive, Struct, StructField, Ty};
        Description {
            root: Ty::Struct(0),
            structs: vec![Struct {
                name: "t/Wide".into(),
                size: fields as u64,
                align: 1,
                fields: (0..fields)
                    .map(|i| StructField {
                        name: format!("f{i}"),
                        offset: i as u64,
                        ty: Ty::Primitive(Primitive::U8),
                        padding: false,
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn an_announce_larger_than_the_read_ahead_is_read_whole() {
        // Found by fuzzing: a body over READ_AHEAD (4 KiB) tripped the
        // read-ahead window's assertion (and could not have been read).
        let d = wide_description(600);
        let a = Announce {
            name: "/wide".into(),
            type_name: "t/Wide".into(),
            fingerprint: d.fingerprint(),
            fixed_size: 600,
            elem_size: 0,
            max_elems: 0,
            max_size: 600,
            description: Some(d),
            ..sample_announce()
        };
        let frame = encode_announce(&a);
        assert!(frame.len() > READ_AHEAD + FRAME_HEADER, "{}", frame.len());
        let mut both = frame.clone();
        both.extend_from_slice(&encode_heartbeat());
        let mut r = reader(both);
        let h = r.header(&never).unwrap();
        assert_eq!(
            decode_announce(&r.control_body(&h, &never).unwrap()).unwrap(),
            a
        );
        // The next frame is still in step.
        assert_eq!(r.header(&never).unwrap().kind, Kind::Heartbeat);
        // Cut short: named, not a hang.
        let mut r = reader(frame[..frame.len() - 10].to_vec());
        let h = r.header(&never).unwrap();
        let e = r.control_body(&h, &never).unwrap_err();
        assert!(matches!(e, WireError::Truncated { .. }), "{e}");
        // Only an ANNOUNCE may be that large.
        let e = reader(header(Kind::Verdict, READ_AHEAD + 1).to_vec())
            .header(&never)
            .unwrap_err();
        assert!(e.to_string().contains("outside its bound"), "{e}");
    }

    #[test]
    fn a_description_that_disagrees_with_the_announce_is_a_violation() {
        // Another fingerprint, another type name, a corrupted description,
        // a length past the bound: each refused with a reason.
        let mut a = described_announce();
        a.fingerprint ^= 1;
        let e = decode_announce(&announce_body(&a)).unwrap_err().to_string();
        assert!(e.contains("disagrees"), "{e}");
        let mut a = described_announce();
        a.type_name = "other/Type".into();
        let e = decode_announce(&announce_body(&a)).unwrap_err().to_string();
        assert!(e.contains("disagrees"), "{e}");
        let mut body = announce_body(&described_announce());
        let last = body.len() - 1;
        body[last] = 0xee; // the root's struct index
        let e = decode_announce(&body).unwrap_err().to_string();
        assert!(e.contains("type description"), "{e}");
        let mut body = announce_body(&sample_announce());
        let at = body.len() - 4;
        body[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = decode_announce(&body).unwrap_err().to_string();
        assert!(e.contains("more than"), "{e}");
    }

    #[test]
    fn control_frames_round_trip() {
        let hello = Hello {
            version: VERSION,
            auth: true,
            nonce: [7; NONCE_LEN],
            pid: 42,
            node: "robot".into(),
            host: "host-1".into(),
        };
        let a = sample_announce();
        let v = Verdict {
            id: 3,
            accepted: false,
            reason: "type mismatch".into(),
        };
        let mut bytes = encode_hello(&hello);
        bytes.extend(encode_announce(&a));
        bytes.extend(encode_verdict(&v));
        bytes.extend(encode_heartbeat());
        bytes.extend(encode_close("bye"));
        let mut r = reader(bytes);
        let h = r.header(&never).unwrap();
        assert_eq!(h.kind, Kind::Hello);
        assert_eq!(
            decode_hello(&r.control_body(&h, &never).unwrap()).unwrap(),
            hello
        );
        let h = r.header(&never).unwrap();
        assert_eq!(
            decode_announce(&r.control_body(&h, &never).unwrap()).unwrap(),
            a
        );
        let h = r.header(&never).unwrap();
        assert_eq!(
            decode_verdict(&r.control_body(&h, &never).unwrap()).unwrap(),
            v
        );
        assert_eq!(r.header(&never).unwrap().kind, Kind::Heartbeat);
        let h = r.header(&never).unwrap();
        assert_eq!(
            decode_close(&r.control_body(&h, &never).unwrap()).unwrap(),
            "bye"
        );
        assert!(matches!(r.header(&never), Err(WireError::Closed)));
    }

    #[test]
    fn data_frame_round_trip_with_large_payload() {
        let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let dh = DataHeader {
            topic: 2,
            seq: 9,
            stamp_ns: 77,
        };
        let mut bytes = data_header(&dh, payload.len()).to_vec();
        bytes.extend(&payload);
        let mut r = reader(bytes);
        let h = r.header(&never).unwrap();
        assert_eq!(h.kind, Kind::Data);
        assert_eq!(h.body_len as usize, DATA_HEADER + payload.len());
        assert_eq!(r.data_header(&never).unwrap(), dh);
        let mut out = vec![0u8; payload.len()];
        r.payload_into(&mut out, &never).unwrap();
        assert_eq!(out, payload);
    }

    #[test]
    fn hostile_headers_are_refused_before_allocation() {
        // A data frame claiming 4 GiB.
        let mut huge = header(Kind::Data, 0).to_vec();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = reader(huge).header(&never).unwrap_err();
        assert!(e.to_string().contains("outside its bound"), "{e}");
        // A control frame over its bound.
        let e = reader(header(Kind::Announce, 1 << 20).to_vec())
            .header(&never)
            .unwrap_err();
        assert!(e.to_string().contains("outside its bound"), "{e}");
        // Unknown kind, reserved bits.
        let e = reader(vec![99, 0, 0, 0, 0, 0, 0, 0])
            .header(&never)
            .unwrap_err();
        assert!(e.to_string().contains("unknown frame kind 99"), "{e}");
        let e = reader(vec![6, 1, 0, 0, 0, 0, 0, 0])
            .header(&never)
            .unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
    }

    #[test]
    fn truncation_is_named() {
        let mut bytes = encode_announce(&sample_announce());
        bytes.truncate(20);
        let mut r = reader(bytes);
        let h = r.header(&never).unwrap();
        let e = r.control_body(&h, &never).unwrap_err();
        assert!(matches!(e, WireError::Truncated { .. }), "{e}");
        let e = reader(vec![1, 0, 0]).header(&never).unwrap_err();
        assert!(e.to_string().contains("truncated frame"), "{e}");
    }

    #[test]
    fn bad_bodies_are_refused_with_their_reason() {
        let mut hello = Hello {
            version: VERSION + 1,
            auth: false,
            nonce: [0; NONCE_LEN],
            pid: 1,
            node: "n".into(),
            host: "h".into(),
        };
        let f = encode_hello(&hello);
        let e = decode_hello(&f[FRAME_HEADER..]).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("protocol version {}", VERSION + 1)),
            "{e}"
        );
        hello.version = VERSION;
        let mut f = encode_hello(&hello);
        f[FRAME_HEADER] = b'X';
        let e = decode_hello(&f[FRAME_HEADER..]).unwrap_err();
        assert!(e.to_string().contains("not an axon link peer"), "{e}");
        let mut f = encode_hello(&hello);
        f[FRAME_HEADER + 10] = 0x01;
        f[FRAME_HEADER + 11] = 0x02;
        let e = decode_hello(&f[FRAME_HEADER..]).unwrap_err();
        assert!(e.to_string().contains("byte order"), "{e}");
        // Announce with inconsistent sizes, or a length field past the end.
        let mut a = sample_announce();
        a.max_size = u64::MAX;
        let f = encode_announce(&a);
        let e = decode_announce(&f[FRAME_HEADER..]).unwrap_err();
        assert!(e.to_string().contains("max_size"), "{e}");
        let f = encode_announce(&sample_announce());
        let mut body = f[FRAME_HEADER..].to_vec();
        body[52..54].copy_from_slice(&200u16.to_le_bytes());
        let e = decode_announce(&body).unwrap_err();
        assert!(e.to_string().contains("too short"), "{e}");
    }

    #[test]
    fn payload_lengths_follow_the_announced_shape() {
        let a = sample_announce();
        assert_eq!(a.elems_for(64), Some(0));
        assert_eq!(a.elems_for(1064), Some(1000));
        assert_eq!(a.elems_for(1065), None);
        assert_eq!(a.elems_for(63), None);
        let sized = Announce {
            elem_size: 0,
            max_elems: 0,
            max_size: 64,
            ..a
        };
        assert_eq!(sized.elems_for(64), Some(0));
        assert_eq!(sized.elems_for(65), None);
    }

    #[test]
    fn vectored_write_handles_partial_writes() {
        struct Dribble(Vec<u8>);
        impl Write for Dribble {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                let n = b.len().min(3);
                self.0.extend_from_slice(&b[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = Dribble(Vec::new());
        let a = [1u8, 2, 3, 4, 5];
        let b = [6u8; 10];
        write_all_vectored(&mut w, &mut [IoSlice::new(&a), IoSlice::new(&b)], || Ok(())).unwrap();
        assert_eq!(w.0.len(), 15);
        assert_eq!(&w.0[..5], &a);
    }
}
