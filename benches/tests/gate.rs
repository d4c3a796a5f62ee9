//! The regression gate can fail: real `bench-gate` runs (real processes, real shared memory)
//! with a deliberate regression injected into axon's send path or its memory use, and with
//! broken threshold files.

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

/// Files of runs of bench-gate process `pid` in /dev/shm and /tmp/iceoryx2 (run ids are
/// `axb<pid>x<n>`; axon's domain files carry it too).
fn leftovers_of(pid: u32) -> Vec<String> {
    let tag = format!("axb{pid}x");
    let mut v = vec![];
    for dir in ["/dev/shm", "/tmp/iceoryx2"] {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(&tag) {
                v.push(format!("{dir}/{name}"));
            }
        }
    }
    v
}

/// Runs `bench-gate --gate FILE` with `env`; returns its exit code, output and pid.
fn gate_with_env(path: &PathBuf, env: &[(&str, &str)]) -> (Option<i32>, String, u32) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bench-gate"));
    cmd.arg("--gate").arg(path).envs(env.iter().copied());
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text, pid)
}

const CAMERA_MEMORY: &str = "repeats = 1\n\
    [[memory]]\nname = \"camera topic resident vs iceoryx2\"\nrow = \"resident/defaults\"\n\
    max = 1.15\nmax_of_topic_max = 0.1\n";

/// The committed resident-memory check, as it stands (lockstep: axon 5 slots, iceoryx2 5
/// samples, ratio 1.01), passes, and the run leaves nothing in /dev/shm or /tmp/iceoryx2.
#[test]
fn the_camera_memory_row_passes_and_leaves_nothing_behind() {
    let path = thresholds("memory-ok", CAMERA_MEMORY);
    let (code, out, pid) = gate_with_env(&path, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("camera topic resident vs iceoryx2") && out.contains("GATE PASSED"),
        "{out}"
    );
    assert_eq!(leftovers_of(pid), Vec::<String>::new(), "{out}");
}

/// One loan the axon publisher never gives back reserves one more slot (6 instead of 5,
/// 5.3 MiB against iceoryx2's 4.4 MiB, ratio 1.21 > 1.15): the memory check fails, names the
/// row, and the failed run still removes its files.
#[test]
fn held_loans_trip_the_memory_gate_and_name_the_row() {
    let path = thresholds("memory-leak", CAMERA_MEMORY);
    let (code, out, pid) = gate_with_env(&path, &[("AXON_BENCH_HOLD_LOANS", "1")]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "camera topic resident vs iceoryx2: resident/defaults axon / iceoryx2 resident"
        ),
        "{out}"
    );
    assert_eq!(leftovers_of(pid), Vec::<String>::new(), "{out}");
}
