//! Replays the fuzz corpus of `zenoh_attachment`
//! (`fuzz/corpus/zenoh_attachment`): every file, each of its prefixes and
//! a byte flipped at every offset, through
//! `axon_zenoh::fuzzing::attachment`, which must return on each without a
//! panic (and re-encode whatever decodes to the same bytes).

use std::path::PathBuf;

use axon_zenoh::fuzzing::attachment;

#[test]
fn every_attachment_seed_its_prefixes_and_flips_decode_without_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/zenoh_attachment");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        attachment(&data);
        for cut in 0..data.len() {
            attachment(&data[..cut]);
        }
        for at in 0..data.len() {
            let mut d = data.clone();
            d[at] ^= 0x5a;
            attachment(&d);
        }
        n += 1;
    }
    assert!(n >= 4, "the corpus lost its seeds");
}
