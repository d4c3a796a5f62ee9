//! Replays every seed of `fuzz/corpus/client_frame/` (and each prefix of
//! it) through `axon_view::fuzzing::client_frame`: it must not panic.

#[test]
fn client_frame_corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/client_frame");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        for end in 0..=data.len() {
            axon_view::fuzzing::client_frame(&data[..end]);
        }
        n += 1;
    }
    assert!(n >= 5, "only {n} seeds in {}", dir.display());
}

/// Replays every seed of `fuzz/corpus/tls_pem/` (and each prefix of it)
/// through `axon_view::fuzzing::tls_pem`: it must not panic.
#[test]
fn tls_pem_corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/tls_pem");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        for end in (0..=data.len()).step_by(7).chain([data.len()]) {
            axon_view::fuzzing::tls_pem(&data[..end]);
        }
        n += 1;
    }
    assert!(n >= 5, "only {n} seeds in {}", dir.display());
}
