//! Replays the fuzz corpus of `rmw_attachment`
//! (`fuzz/corpus/rmw_attachment`): every file, each of its prefixes and a
//! byte flipped at every offset, through
//! `axon_ros2::fuzzing::rmw_attachment`, which must return on each without
//! a panic (and re-encode whatever decodes to the same bytes).

use std::path::PathBuf;

use axon_ros2::fuzzing::rmw_attachment;
use axon_ros2::rmw_zenoh::{parse_data_key, Attachment};

#[test]
fn every_rmw_attachment_seed_its_prefixes_and_flips_decode_without_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/rmw_attachment");
    let (mut n, mut decoded, mut keys) = (0, 0, 0);
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        decoded += Attachment::decode(&data).is_ok() as usize;
        keys += std::str::from_utf8(&data).is_ok_and(|k| parse_data_key(0, k).is_some()) as usize;
        rmw_attachment(&data);
        for cut in 0..data.len() {
            rmw_attachment(&data[..cut]);
        }
        for at in 0..data.len() {
            let mut d = data.clone();
            d[at] ^= 0x5a;
            rmw_attachment(&d);
        }
        n += 1;
    }
    assert!(n >= 4, "the corpus lost its seeds");
    assert!(decoded >= 2 && keys >= 1, "the corpus lost its valid seeds");
}
