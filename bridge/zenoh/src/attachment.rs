//! The attachment of every sample the gateway puts in axon mode, and its
//! bounded decoder.
//!
//! Byte layout (little-endian, 40 bytes + the type name; ARCHITECTURE.md
//! "Zenoh gateway" has the same table):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `"AXZ1"` (format version 1) |
//! | 4 | 8 | sequence number in the source publisher's lane (u64) |
//! | 12 | 8 | source send stamp, ns of the source host's `CLOCK_MONOTONIC` (u64) |
//! | 20 | 8 | type fingerprint (u64) |
//! | 28 | 8 | payload length in bytes (u64, equals the payload's length) |
//! | 36 | 2 | type name length n (u16, at most 128) |
//! | 38 | 2 | reserved, 0 |
//! | 40 | n | type name, UTF-8 |

/// The magic and version at offset 0.
pub const MAGIC: [u8; 4] = *b"AXZ1";
/// Fixed part before the type name.
pub const FIXED: usize = 40;
/// Longest type name (the socket link's bound too).
pub const MAX_TYPE_NAME: usize = 128;
/// Longest attachment.
pub const MAX_LEN: usize = FIXED + MAX_TYPE_NAME;

/// What travels beside each sample's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Sequence number in the source publisher's lane.
    pub seq: u64,
    /// The source's send stamp (its host's monotonic clock, ns).
    pub stamp_ns: u64,
    /// The topic type's fingerprint.
    pub fingerprint: u64,
    /// The payload's length.
    pub len: u64,
    /// The topic's type name.
    pub type_name: String,
}

/// The bytes of an attachment, from its fields (the type name cut at
/// [`MAX_TYPE_NAME`] bytes on a character boundary).
pub fn encode(seq: u64, stamp_ns: u64, fingerprint: u64, len: u64, type_name: &str) -> Vec<u8> {
    let mut n = type_name.len().min(MAX_TYPE_NAME);
    while !type_name.is_char_boundary(n) {
        n -= 1;
    }
    let ty = &type_name.as_bytes()[..n];
    let mut b = Vec::with_capacity(FIXED + n);
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&seq.to_le_bytes());
    b.extend_from_slice(&stamp_ns.to_le_bytes());
    b.extend_from_slice(&fingerprint.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&(n as u16).to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(ty);
    b
}

impl Attachment {
    /// The bytes (see [`encode`]).
    pub fn encode(&self) -> Vec<u8> {
        encode(
            self.seq,
            self.stamp_ns,
            self.fingerprint,
            self.len,
            &self.type_name,
        )
    }

    /// Decodes and checks an attachment: the magic, the exact length, a
    /// UTF-8 type name of at most [`MAX_TYPE_NAME`] bytes.
    pub fn decode(b: &[u8]) -> Result<Attachment, String> {
        if b.len() < FIXED {
            return Err(format!(
                "attachment of {} bytes, shorter than {FIXED}",
                b.len()
            ));
        }
        if b[..4] != MAGIC {
            return Err("attachment without the AXZ1 magic (not an axon gateway's)".into());
        }
        let u64_at = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(w)
        };
        let n = u16::from_le_bytes([b[36], b[37]]) as usize;
        if n > MAX_TYPE_NAME {
            return Err(format!(
                "attachment type name of {n} bytes, more than {MAX_TYPE_NAME}"
            ));
        }
        if b[38..40] != [0, 0] {
            return Err("attachment reserved bytes are not 0".into());
        }
        if b.len() != FIXED + n {
            return Err(format!(
                "attachment of {} bytes, expected {} for a type name of {n} bytes",
                b.len(),
                FIXED + n
            ));
        }
        let type_name = std::str::from_utf8(&b[FIXED..])
            .map_err(|_| "attachment type name is not UTF-8".to_owned())?
            .to_owned();
        Ok(Attachment {
            seq: u64_at(4),
            stamp_ns: u64_at(12),
            fingerprint: u64_at(20),
            len: u64_at(28),
            type_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let a = Attachment {
            seq: 7,
            stamp_ns: 123_456_789,
            fingerprint: 0xdead_beef_0bad_f00d,
            len: 8,
            type_name: "u64".into(),
        };
        let b = a.encode();
        assert_eq!(b.len(), FIXED + 3);
        assert_eq!(Attachment::decode(&b).unwrap(), a);
        assert!(Attachment::decode(&b[..FIXED - 1]).is_err());
        let mut long = b.clone();
        long.push(b'x');
        assert!(Attachment::decode(&long).is_err());
        let mut bad = b.clone();
        bad[0] = b'X';
        assert!(Attachment::decode(&bad).is_err());
        let mut huge = b;
        huge[36] = 0xff;
        assert!(Attachment::decode(&huge).is_err());
    }
}
