//! Replays the fuzz corpus of `bag_reader` (`fuzz/corpus/bag_reader`):
//! every file, each of its prefixes (a recorder killed at any byte) and a
//! byte flipped at every 7th offset (a damaged file), through
//! `axon_bag::fuzzing::bag_reader`, which must return on each without a
//! panic. The seeds are small recordings (zstd, lz4, uncompressed) made by
//! `axon bag record`, and each regression input.

use std::path::PathBuf;

use axon_bag::fuzzing::bag_reader;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/bag_reader");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_corpus_file_and_its_prefixes_and_flips_are_read_without_panic() {
    let files = corpus();
    assert!(files.len() >= 4, "the corpus lost its seeds");
    for (name, data) in &files {
        bag_reader(data);
        for cut in 0..data.len() {
            bag_reader(&data[..cut]);
        }
        for at in (0..data.len()).step_by(7) {
            let mut d = data.clone();
            d[at] ^= 0x5a;
            bag_reader(&d);
        }
        let _ = name;
    }
}

#[test]
fn the_valid_seeds_read_as_finished_recordings() {
    for (name, data) in corpus() {
        if !name.contains("seed-") {
            continue;
        }
        let info = axon_bag::fuzzing::bag_info(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(info.finished, "{name}: {info:?}");
        assert!(info.error.is_none(), "{name}: {info:?}");
        assert!(info.messages > 0, "{name}");
        assert_eq!(info.profile, "ros2", "{name}");
    }
}
