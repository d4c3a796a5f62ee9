//! Replays the fuzz corpus of `cdr_decoder` (`fuzz/corpus/cdr_decoder`):
//! every seed, and hostile variants of each, through
//! `axon_ros2::fuzzing::cdr_decoder`. The seeds are the CDR of each fuzzed
//! view's type (checked here to decode), plus each regression input.
//!
//! Regenerate the valid seeds:
//! `AXON_FUZZ_WRITE_SEEDS=1 cargo test --release -p axon-ros2 --test fuzz_corpus`.

mod support;

use std::path::PathBuf;

use axon_msgs as m;
use axon_ros2::fuzzing::{cdr_decoder, user_description, views};
use axon_ros2::View;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/cdr_decoder")
}

/// The valid seeds: a sample of each fuzzed type, as CDR.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for c in support::standard() {
        if [
            "Imu",
            "JointState",
            "BatteryState",
            "Odometry",
            "LaserScan",
            "Image",
            "PointCloud",
            "Text",
            "TfMessage",
        ]
        .contains(&c.name)
        {
            let mut cdr = Vec::new();
            c.view.encode(&c.bytes, &mut cdr).unwrap();
            out.push((format!("seed-{}", c.name.to_lowercase()), cdr));
        }
    }
    // The hand-described user type: one, two (two entries), a flag, 2 items.
    let view = View::new(&user_description()).unwrap();
    let mut sample = vec![0u8; 40 + 2 * 12];
    for (i, at) in [0usize, 12, 24, 40, 52].into_iter().enumerate() {
        sample[at..at + 4].copy_from_slice(&3u32.to_ne_bytes());
        sample[at + 4..at + 7].copy_from_slice(b"abc");
        sample[at + 10] = i as u8;
    }
    sample[36] = 1;
    let mut cdr = Vec::new();
    view.encode(&sample, &mut cdr).unwrap();
    assert_eq!(view.decode(&cdr).unwrap().bytes, sample);
    out.push(("seed-user".into(), cdr));
    out
}

#[test]
fn corpus_cdr_decoder_replays_without_panic() {
    if std::env::var_os("AXON_FUZZ_WRITE_SEEDS").is_some() {
        std::fs::create_dir_all(corpus_dir()).unwrap();
        for (name, data) in seeds() {
            std::fs::write(corpus_dir().join(name), data).unwrap();
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/cdr_decoder exists")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 9, "the corpus lost its seeds: {files:?}");
    let views = views();
    for (name, data) in seeds() {
        let file =
            std::fs::read(corpus_dir().join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            file, data,
            "{name} is stale: regenerate the seeds (see the module docs)"
        );
        assert!(
            views.iter().any(|v| v.decode(&file).is_ok()),
            "{name} decodes as no fuzzed type"
        );
    }
    for f in &files {
        let data = std::fs::read(f).unwrap();
        cdr_decoder(&data);
        for cut in 0..data.len() {
            cdr_decoder(&data[..cut]);
        }
        for i in 0..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0xff;
            cdr_decoder(&bad);
        }
    }
    let _ = m::Imu::default();
}
