//! The launch-file fuzz target, run by `cargo test`: every seed of
//! `fuzz/corpus/launch_file/` (valid and invalid launch files, and each
//! input of issue 12's regressions) goes through
//! `axon_launch::fuzzing::launch_file`, then 10,000 deterministic
//! mutations of them (byte flips, inserted TOML tokens, deletions,
//! truncations, splices). A panic, a stack overflow or a hang fails the
//! test; the watchdog turns a hang into a failure.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use axon_launch::fuzzing::launch_file;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/launch_file");
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 12, "corpus too small: {}", seeds.len());
    seeds
}

/// Runs `f` on a thread with the default test stack (2 MiB, smaller than a
/// main thread's) and fails after `limit`.
fn with_watchdog(what: &str, limit: Duration, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let worker = thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            f();
            let _ = tx.send(());
        })
        .unwrap();
    match rx.recv_timeout(limit) {
        Ok(()) => worker.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The worker panicked: re-raise its panic here.
            if let Err(p) = worker.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("watchdog: {what} still running after {limit:?}")
        }
    }
}

#[test]
fn every_corpus_file_is_handled_without_panic() {
    for (name, data) in corpus() {
        with_watchdog(&name.clone(), Duration::from_secs(30), move || {
            launch_file(&data)
        });
    }
}

/// xorshift64*: deterministic, so a failure repeats with the same case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Pieces of launch-file syntax worth inserting.
const TOKENS: &[&[u8]] = &[
    b"[",
    b"]",
    b"{",
    b"}",
    b"[[",
    b"]]",
    b"\"",
    b"'''",
    b"\"\"\"",
    b"=",
    b".",
    b",",
    b"#",
    b"\n",
    b"\r\n",
    b"${",
    b"}",
    b"$$",
    b"${speed}",
    b"\n[[node]]\nname = \"m\"\nexec = \"sh\"\n",
    b"\n[launch]\n",
    b"include = [\"/dev/zero\"]\n",
    b"depends_on = [\"n0\"]\n",
    b"\xff",
    b"\xc3",
    b"\xe6\x97\xa5",
    b"0.5",
    b"1979-05-27T07:32:00Z",
    b"true",
];

fn mutate(rng: &mut Rng, seeds: &[(String, Vec<u8>)], mut data: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, t.iter().copied());
            }
            3 => {
                let end = (at + rng.below(64)).min(data.len());
                data.drain(at..end);
            }
            4 => data.truncate(at),
            5 => {
                // Splice: this prefix, another seed's suffix.
                let other = &seeds[rng.below(seeds.len())].1;
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            _ => {
                // Repeat a slice (lists and tables that grow).
                let end = (at + rng.below(200)).min(data.len());
                let piece = data[at..end].to_vec();
                for _ in 0..rng.below(20) {
                    data.splice(at..at, piece.iter().copied());
                }
            }
        }
    }
    data
}

#[test]
fn mutated_corpus_files_are_handled_without_panic() {
    let seeds = corpus();
    with_watchdog("mutations", Duration::from_secs(120), move || {
        let mut rng = Rng(0x5eed_1a0c_4a11_0001);
        for case in 0..10_000 {
            let (name, seed) = &seeds[rng.below(seeds.len())];
            let data = mutate(&mut rng, &seeds, seed.clone());
            let result = std::panic::catch_unwind(|| launch_file(&data));
            if let Err(p) = result {
                eprintln!(
                    "case {case} (from {name}) panicked; input:\n{}",
                    String::from_utf8_lossy(&data)
                );
                std::panic::resume_unwind(p);
            }
        }
    });
}
