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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::auth;
    use super::super::wire::{self, Announce, DataHeader, Hello, Verdict};

    fn corpus_dir(target: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../fuzz/corpus/{target}"))
    }

    fn hello(version: u16, auth: bool) -> Vec<u8> {
        wire::encode_hello(&Hello {
            version,
            auth,
            nonce: [0x5a; wire::NONCE_LEN],
            pid: 4242,
            node: "seed".into(),
            host: "corpus".into(),
        })
    }

    fn announce(id: u32) -> Vec<u8> {
        wire::encode_announce(&Announce {
            id,
            name: "/camera/image".into(),
            type_name: "axon-msgs/Image".into(),
            fingerprint: 0xfeed_beef,
            fixed_size: 64,
            elem_size: 1,
            max_elems: 1000,
            max_size: 1064,
            depth: 4,
            reliable: true,
            description: None,
        })
    }

    /// An announcement that carries its type's description.
    fn described_announce(id: u32) -> Vec<u8> {
        use crate::fuzzing::FuzzSample;
        use crate::Schema;
        let size = core::mem::size_of::<FuzzSample>() as u64;
        wire::encode_announce(&Announce {
            id,
            name: "/described".into(),
            type_name: FuzzSample::TYPE_NAME.into(),
            fingerprint: FuzzSample::FINGERPRINT,
            fixed_size: size,
            elem_size: 0,
            max_elems: 0,
            max_size: size,
            depth: 4,
            reliable: false,
            description: Some(axon_message::Description::of::<FuzzSample>()),
        })
    }

    fn data(topic: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = wire::data_header(
            &DataHeader {
                topic,
                seq: 7,
                stamp_ns: 123_456_789,
            },
            payload.len(),
        )
        .to_vec();
        f.extend_from_slice(payload);
        f
    }

    /// A whole session as one peer writes it, from the real encoder.
    fn session() -> Vec<u8> {
        let mut s = hello(wire::VERSION, false);
        s.extend(announce(0));
        s.extend(described_announce(1));
        s.extend(wire::encode_verdict(&Verdict {
            id: 0,
            accepted: true,
            reason: String::new(),
        }));
        s.extend(data(0, &[0xab; 64 + 16]));
        s.extend(wire::encode_heartbeat());
        s.extend(wire::encode_verdict(&Verdict {
            id: 1,
            accepted: false,
            reason: "/x is not imported by seed (import = [/odom])".into(),
        }));
        s.extend(wire::encode_close("bye"));
        s
    }

    /// The seed inputs: (target, file name, bytes).
    fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
        let whole = |chunks: &[u8], stream: Vec<u8>| {
            let mut v = vec![chunks.len() as u8];
            v.extend_from_slice(chunks);
            v.extend(stream);
            v
        };
        let mut huge_data = vec![wire::Kind::Data as u8, 0, 0, 0];
        huge_data.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut bad_announce = announce(0);
        bad_announce[8 + 40..8 + 48].copy_from_slice(&u64::MAX.to_le_bytes());
        let mut authed = hello(wire::VERSION, true);
        authed.extend(wire::encode_auth(&auth::proof(
            b"fuzz secret",
            auth::Role::Connector,
            &[0; 16],
            &[0x5a; 16],
        )));
        let mut after = hello(wire::VERSION, false);
        after.extend(announce(0));
        after.extend(data(0, &[1; 64]));
        let loris = hello(wire::VERSION, false)[..20].to_vec();
        vec![
            ("wire_decoder", "session-whole", whole(&[], session())),
            (
                "wire_decoder",
                "session-chunked",
                whole(&[1, 0, 7, 3, 0, 200], session()),
            ),
            (
                "wire_decoder",
                "regression-huge-data-length",
                whole(&[], huge_data),
            ),
            (
                "wire_decoder",
                "regression-announce-max-size",
                whole(&[2], bad_announce),
            ),
            (
                "wire_decoder",
                "regression-truncated-hello",
                whole(&[1], loris.clone()),
            ),
            (
                "wire_decoder",
                "regression-second-verdict",
                whole(
                    &[],
                    [0, 0]
                        .iter()
                        .flat_map(|&id| {
                            wire::encode_verdict(&Verdict {
                                id,
                                accepted: true,
                                reason: String::new(),
                            })
                        })
                        .collect(),
                ),
            ),
            ("handshake", "hello-plain", hello(wire::VERSION, false)),
            ("handshake", "hello-auth-wrong-tag", authed),
            ("handshake", "hello-then-announce-data", after),
            ("handshake", "regression-slow-loris-prefix", loris),
            ("handshake", "hello-version-2", hello(2, false)),
        ]
    }

    /// Replays every file of both corpora through both entry points (a
    /// panic or a hang here is a bug found). `AXON_WRITE_LINK_CORPUS=1`
    /// first (re)writes the seeds from the real encoder.
    #[test]
    fn link_fuzz_corpora_replay() {
        if std::env::var_os("AXON_WRITE_LINK_CORPUS").is_some() {
            for (target, name, bytes) in seeds() {
                let dir = corpus_dir(target);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
        for (target, name, bytes) in seeds() {
            let on_disk = std::fs::read(corpus_dir(target).join(name))
                .unwrap_or_else(|e| panic!("seed {target}/{name} is missing: {e}"));
            assert_eq!(on_disk, bytes, "seed {target}/{name} is out of date");
        }
        let mut n = 0;
        for target in ["wire_decoder", "handshake"] {
            for e in std::fs::read_dir(corpus_dir(target)).unwrap() {
                let bytes = std::fs::read(e.unwrap().path()).unwrap();
                super::wire_decoder(&bytes);
                super::handshake(&bytes);
                n += 1;
            }
        }
        assert!(n >= seeds().len());
    }

    /// A few thousand deterministic mutations of the seeds (byte flips,
    /// cuts, splices) through both entry points: a cheap stand-in for a
    /// coverage-guided run that `cargo test` always does.
    #[test]
    fn link_fuzz_mutations_of_the_seeds_do_not_panic() {
        let seeds: Vec<Vec<u8>> = seeds().into_iter().map(|(_, _, b)| b).collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..3000 {
            let mut b = seeds[round % seeds.len()].clone();
            for _ in 0..1 + next() % 4 {
                let r = next();
                match r % 4 {
                    0 if !b.is_empty() => {
                        let i = (r >> 8) as usize % b.len();
                        b[i] ^= (r >> 32) as u8 | 1;
                    }
                    1 if !b.is_empty() => b.truncate((r >> 8) as usize % b.len()),
                    2 => {
                        let other = &seeds[(r >> 8) as usize % seeds.len()];
                        let at = (r >> 16) as usize % (other.len() + 1);
                        b.extend_from_slice(&other[at..]);
                    }
                    _ if !b.is_empty() => {
                        let i = (r >> 8) as usize % b.len();
                        b[i] = [0, 0xff, 0x7f, 0x80][(r >> 40) as usize % 4];
                    }
                    _ => {}
                }
            }
            super::wire_decoder(&b);
            if round % 4 == 0 {
                super::handshake(&b);
            }
        }
    }

    #[test]
    fn handshake_harness_accepts_a_valid_hello_and_refuses_garbage() {
        use std::time::Duration;
        let d = Duration::from_millis(200);
        let peer = super::super::endpoint::handshake_with_peer_bytes(
            &hello(wire::VERSION, false),
            None,
            d,
        );
        assert_eq!(peer.map(|h| h.node), Some("seed".to_owned()));
        assert!(super::super::endpoint::handshake_with_peer_bytes(
            &hello(wire::VERSION, false),
            Some(b"s"),
            d
        )
        .is_none());
        assert!(super::super::endpoint::handshake_with_peer_bytes(b"GET /", None, d).is_none());
    }
}
