//! axon's ROS 2 wire format checked against independent implementations:
//! the Python packages `rosbags` and `mcap-ros2-support`
//! (requirements-test.txt at the repository root), which the repository's `./test` installs into a
//! virtual environment and names in `AXON_PYTHON`.
//!
//! For every standard type and for user types with nested structs, fixed
//! and nested arrays, strings, 128-bit integers and slices
//! (`support::all`), the script `cross_check.py` checks with
//! mcap-ros2-support that it decodes axon's CDR to the values and encodes
//! them to the same bytes, and with rosbags that it
//! parses axon's ros2msg schema text (for a standard type, every definition
//! in it must equal the ROS 2 one rosbags ships), decodes axon's CDR and
//! compares it field for field with the values written out by hand in
//! `support`, encodes those values itself (its bytes must equal axon's),
//! and computes the RIHS01 hash from axon's text (it must equal axon's).
//! Then axon decodes the CDR that rosbags wrote and must get the original
//! sample back, byte for byte.

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

fn python() -> PathBuf {
    let path = std::env::var_os("AXON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python")
        });
    assert!(
        path.exists(),
        "the Python cross-check needs the virtual environment with rosbags: run ./test \
         (it creates target/venv and sets AXON_PYTHON); not found: {}",
        path.display()
    );
    path
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn rosbags_reads_and_writes_what_axon_does_for_every_type() {
    let python = python();
    let cases = support::all();
    let mut jobs = Vec::new();
    for c in &cases {
        let mut cdr = Vec::new();
        c.view
            .encode(&c.bytes, &mut cdr)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        jobs.push(json!({
            "type": c.view.type_name(),
            "msg_text": c.view.msg_text(),
            "cdr": hex(&cdr),
            "hash": c.view.type_hash(),
            "values": c.values,
            "standard": c.standard,
        }));
    }
    let dir = std::env::temp_dir().join(format!("axon-ros2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("cases.json"), dir.join("results.json"));
    std::fs::write(&input, serde_json::to_vec(&jobs).unwrap()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cross_check.py");
    let run = Command::new(&python)
        .arg(&script)
        .arg(&input)
        .arg(&output)
        .output()
        .expect("run python");
    assert!(
        run.status.success(),
        "cross_check.py failed: {}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(results.len(), cases.len());

    let mut failures = Vec::new();
    for (c, r) in cases.iter().zip(&results) {
        for f in r["failures"].as_array().unwrap() {
            failures.push(format!(
                "{} ({}): {}",
                c.name,
                c.view.type_name(),
                f.as_str().unwrap()
            ));
        }
        let theirs = unhex(r["cdr"].as_str().unwrap());
        if theirs.is_empty() {
            continue;
        }
        match c.view.decode(&theirs) {
            Ok(d) if d.bytes == c.bytes => {}
            Ok(d) => failures.push(format!(
                "{}: axon decodes rosbags' CDR to {:?}, expected {:?}",
                c.name, d.bytes, c.bytes
            )),
            Err(e) => failures.push(format!("{}: axon cannot decode rosbags' CDR: {e}", c.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
