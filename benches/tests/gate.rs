//! The regression gate can fail: real `bench-gate` runs (real processes, real shared memory)
//! with a deliberate regression injected into axon's send path, and with broken threshold files.

use std::path::PathBuf;
use std::process::Command;

fn thresholds(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("axon-gate-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("thresholds.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn gate(path: &PathBuf, delay_ns: Option<u64>) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bench-gate"));
    cmd.args(["--rounds", "2", "--gate"]).arg(path);
    if let Some(d) = delay_ns {
        cmd.env("AXON_BENCH_DELAY_NS", d.to_string());
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// 300 us added to every axon send, against a futex floor of ~1.4 us (one CPU) to ~30 us (two
/// vCPUs of a KVM guest): the ratio is 10x or more, so `max = 3` trips on any machine.
#[test]
fn an_injected_delay_trips_the_gate_and_names_the_row() {
    let path = thresholds(
        "delay",
        "repeats = 1\n\
         [[ratio]]\nname = \"futex wake vs futex floor\"\nrow = \"axon/futex\"\n\
         over = \"floor/futex\"\nmax = 3.0\n",
    );
    let (code, stdout, stderr) = gate(&path, Some(300_000));
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("GATE FAILED: 1 ratio(s) above threshold"),
        "{stdout}"
    );
    assert!(
        stdout.contains("futex wake vs futex floor: axon/futex 8 B / floor/futex 8 B"),
        "{stdout}"
    );
}

#[test]
fn a_broken_thresholds_file_is_a_usage_error_with_file_and_line() {
    let path = thresholds(
        "syntax",
        "repeats = 1\n[[ratio]]\nname = \"x\"\nrow = \"axon/poll\"\nover = \"floor/spin\"\nmax = \n",
    );
    let (code, _, stderr) = gate(&path, None);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("thresholds.toml") && stderr.contains("line 6"),
        "{stderr}"
    );

    let path = thresholds(
        "unknown",
        "[[ratio]]\nname = \"x\"\nrow = \"axon/teleport\"\nover = \"floor/spin\"\nmax = 2.0\n",
    );
    let (code, _, stderr) = gate(&path, None);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown mechanism \"axon/teleport\""),
        "{stderr}"
    );
}
