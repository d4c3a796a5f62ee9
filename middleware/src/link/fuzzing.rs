//! Fuzz entry points of the link (see the fuzz convention in the project's
//! notes): each takes arbitrary bytes and must return promptly, without a
//! panic and without unbounded allocation, whatever they are.
//!
//! - [`wire_decoder`]: the bytes are a stream from a peer, read by the
//!   bounded frame decoder in chunkings that the input itself chooses;
//!   every frame body is decoded by its kind's decoder.
//! - [`handshake`]: the bytes are what a peer writes on a real socket pair
//!   while the real endpoint handshake runs against it (once without a
//!   secret, once with one), under a short absolute deadline.

use std::io::{self, Read};
use std::time::Duration;

use super::wire::{self, FrameReader, Kind};

/// A reader that hands out `data` in chunks whose sizes come from `sizes`
/// (cycled), and reports a timeout once between chunks now and then, as a
/// socket with a short read timeout does.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    turn: usize,
    /// The last call timed out: the next one returns data (so that a run of
    /// zeros cannot spin for ever).
    timed_out: bool,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Ok(0);
        }
        let s = self.sizes.get(self.turn % self.sizes.len().max(1)).copied();
        self.turn += 1;
        let want = match s {
            Some(0) if !self.timed_out => {
                self.timed_out = true;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Some(n) => (n as usize).max(1),
            None => self.data.len(),
        };
        self.timed_out = false;
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Feeds `data` to the frame decoder. The first byte (if any) says how many
/// of the following bytes are chunk sizes (`0` = a read timeout); the rest
/// is the stream. Stops at the first error, as a connection would.
pub fn wire_decoder(data: &[u8]) {
    let (sizes, stream) = match data.split_first() {
        Some((&k, rest)) => rest.split_at((k as usize % 16).min(rest.len())),
        None => (&[][..], data),
    };
    let never = || false;
    let mut r = FrameReader::new(
        Chunked {
            data: stream,
            sizes,
            turn: 0,
            timed_out: false,
        },
        Duration::from_secs(3600),
    );
    // A bounded number of frames: at most one per input byte.
    for _ in 0..=stream.len() {
        let Ok(h) = r.header(&never) else { return };
        let ok = match h.kind {
            Kind::Data => {
                let Ok(_) = r.data_header(&never) else { return };
                let len = h.body_len as usize - wire::DATA_HEADER;
                // Never allocate what the peer claims: at most what is left.
                if len <= stream.len() {
                    let mut payload = vec![0u8; len];
                    r.payload_into(&mut payload, &never).is_ok()
                } else {
                    r.skip(len, &never).is_ok()
                }
            }
            Kind::Heartbeat => true,
            kind => {
                let Ok(body) = r.control_body(&h, &never) else {
                    return;
                };
                // Every decoder on every body: the decoders must not care
                // which kind the header said.
                let results = [
                    wire::decode_hello(&body).is_ok(),
                    wire::decode_announce(&body).is_ok(),
                    wire::decode_verdict(&body).is_ok(),
                    wire::decode_close(&body).is_ok(),
                ];
                match kind {
                    Kind::Hello => results[0],
                    Kind::Announce => results[1],
                    Kind::Verdict => results[2],
                    Kind::Close => results[3],
                    _ => true,
                }
            }
        };
        if !ok {
            return;
        }
    }
}

/// Runs the endpoint's handshake against a peer that writes `data` (and
/// then closes its side), without a secret and with one. Each run has an
/// absolute deadline of 200 ms; it returns when the handshake ends.
pub fn handshake(data: &[u8]) {
    for secret in [None, Some(&b"fuzz secret"[..])] {
        super::endpoint::handshake_with_peer_bytes(data, secret, Duration::from_millis(200));
    }
}
