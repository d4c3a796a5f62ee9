//! Replays every seed of `fuzz/corpus/value_parser/` through
//! `axon_cli::fuzzing::value_parser` (the libFuzzer target calls the same
//! function), then a few thousand pseudo-random inputs made of the
//! characters that broke the parser before: multi-byte whitespace and
//! brackets. Each runs on a thread with a large stack so that a missing
//! depth limit shows as the overflow on a deep seed, not here.

use std::path::PathBuf;

fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{}: too few seeds", dir.display());
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

#[test]
fn value_parser_corpus_replays_without_panic() {
    for (path, data) in corpus("value_parser") {
        let r = std::panic::catch_unwind(|| axon_cli::fuzzing::value_parser(&data));
        assert!(r.is_ok(), "{} panicked", path.display());
    }
}

/// Deep nesting is an error that names where, and multi-byte whitespace is
/// whitespace (it panicked: `pos += 1` inside a character).
#[test]
fn topic_pub_value_with_multibyte_whitespace_or_deep_nesting_is_an_error_not_a_crash() {
    use axon_cli::text::parse_yaml;
    let v = parse_yaml("{x: 1,\u{3000}y: 2}\u{a0}").unwrap();
    assert_eq!(v, serde_json::json!({"x": 1, "y": 2}));
    let v = parse_yaml("[\u{a0}1,\u{2003}2]").unwrap();
    assert_eq!(v, serde_json::json!([1, 2]));
    assert!(parse_yaml("{x:\u{3000}1}").is_err());
    let deep = "[".repeat(100_000);
    let e = parse_yaml(&deep).unwrap_err();
    assert!(
        e.contains("nesting deeper than 64") && e.contains("character 65"),
        "{e}"
    );
    let deep_block: String = (0..500).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
    let e = parse_yaml(&deep_block).unwrap_err();
    assert!(
        e.contains("nesting deeper than 64") && e.contains("line 65"),
        "{e}"
    );
    // 63 levels are still fine.
    let ok = format!("{}1{}", "[".repeat(63), "]".repeat(63));
    assert!(parse_yaml(&ok).is_ok());
}

#[test]
fn random_values_never_panic() {
    const PIECES: [&str; 24] = [
        "{", "}", "[", "]", ":", ", ", ",", "-", "- ", "\n", "  ", "#", "'", "\"", "\\", "a",
        "x: ", "1", "1e999", "0x", "\u{3000}", "\u{a0}", "\u{2028}", "é",
    ];
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..5000 {
        let n = (next() % 40) as usize;
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
        }
        let r = std::panic::catch_unwind(|| axon_cli::fuzzing::value_parser(s.as_bytes()));
        assert!(r.is_ok(), "panicked on {s:?}");
        let bytes: Vec<u8> = (0..n).map(|_| next() as u8).collect();
        let r = std::panic::catch_unwind(|| axon_cli::fuzzing::value_parser(&bytes));
        assert!(r.is_ok(), "panicked on {bytes:?}");
    }
}
