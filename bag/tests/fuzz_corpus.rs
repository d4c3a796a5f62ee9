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

/// A recorder killed while writing a chunk leaves it with its length never
/// filled in (`u64::MAX`): the chunks before it are read whole and the
/// error names the chunk's offset. `killed-mid-chunk.mcap` is `seed-none`
/// cut after its first chunk and message index (byte 4592), followed by
/// such a chunk.
#[test]
fn a_chunk_left_unfinished_by_a_killed_recorder_names_its_offset_and_keeps_the_chunks_before() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus/bag_reader/killed-mid-chunk.mcap");
    let data = std::fs::read(&path).unwrap();
    let whole = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/bag_reader/seed-none.mcap"),
    )
    .unwrap();
    let info = axon_bag::fuzzing::bag_info(&data).unwrap();
    let all = axon_bag::fuzzing::bag_info(&whole).unwrap();
    assert!(!info.finished);
    assert_eq!(info.stopped_at, Some(4592), "{info:?}");
    let err = info.error.as_deref().unwrap();
    assert!(
        err.contains("at byte 4592") && err.contains("still writing"),
        "{err}"
    );
    assert_eq!(info.chunks, 1);
    assert_eq!(
        info.messages, all.messages,
        "the one chunk holds every message"
    );
}

/// A chunk whose framing is whole but whose content is damaged (a flipped
/// byte in its data: CRC) is skipped, counted, and the records after it
/// are still read (the footer here).
#[test]
fn a_damaged_chunk_is_skipped_and_reading_goes_on() {
    let mut data = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/bag_reader/seed-none.mcap"),
    )
    .unwrap();
    // The chunk starts at byte 240 (9 bytes of opcode and length, then its
    // header): flip a byte well inside its records.
    data[240 + 9 + 2000] ^= 0x5a;
    let info = axon_bag::fuzzing::bag_info(&data).unwrap();
    assert_eq!(info.skipped_chunks, 1, "{info:?}");
    assert_eq!(info.chunks, 0);
    assert!(info.finished, "the footer after it was read: {info:?}");
    let err = info.error.as_deref().unwrap();
    assert!(
        err.contains("chunk at byte 240") && err.contains("CRC"),
        "{err}"
    );
}
