//! Multi-process smoke tests of the harness: every mechanism echoes real messages between two
//! real processes, a killed child is reported within the watchdog's probe interval, and no run
//! leaves processes or shared memory behind. `harness = false`: the binary must be able to act
//! as the child, so it has its own `main`.

use std::time::{Duration, Instant};

use axon_benches::{
    mechanisms, report, Payload, Session, SessionOptions, Touch, CHILD_FLAG, HEADER_LEN,
};

fn iceoryx2_leftovers(run_prefix: &str) -> Vec<String> {
    let mut v = vec![];
    for dir in ["/dev/shm", "/tmp/iceoryx2"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(run_prefix) {
                    v.push(format!("{dir}/{name}"));
                }
            }
        }
    }
    v
}

fn children_of_this_process() -> usize {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let cmd = std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1).map(str::to_string));
            ppid.as_deref() == Some(me.as_str()) && cmd.contains(CHILD_FLAG)
        })
        .count()
}

fn every_mechanism_echoes() -> anyhow::Result<()> {
    for m in mechanisms() {
        for payload in [
            Payload::new(HEADER_LEN, Touch::Header),
            Payload::new(64 << 10, Touch::Header),
            Payload::new(64 << 10, Touch::All),
        ] {
            let mut s = Session::start(m, payload, SessionOptions::default())?;
            for _ in 0..200 {
                s.round_trip()?;
            }
            let batch = s.one_way_batch(100)?;
            anyhow::ensure!(batch > Duration::ZERO, "{} {payload}: empty batch", m.id());
            s.finish()?;
        }
    }
    Ok(())
}

fn measure_reports_rounds() -> anyhow::Result<()> {
    let cfg = report::MeasureConfig {
        rounds: 3,
        warmup: 10,
        samples: 100,
        round_budget: Duration::from_millis(50),
    };
    let m = axon_benches::find_mechanism("floor/spin").expect("registered");
    let row = report::measure(
        m,
        Payload::new(8, Touch::Header),
        SessionOptions::default(),
        &cfg,
    )?;
    anyhow::ensure!(row.round_medians.len() == 3, "3 rounds");
    anyhow::ensure!(row.hist.len() == 300, "300 samples, got {}", row.hist.len());
    let mut out = vec![];
    report::print_table(&mut out, &[row])?;
    anyhow::ensure!(String::from_utf8(out)?.contains("floor/spin"), "table row");
    Ok(())
}

/// A child killed mid-run (spinning mechanism: the parent would spin forever without the
/// watchdog's liveness probe) is reported quickly, not after the 30 s round time-out.
fn killed_child_is_reported_quickly() -> anyhow::Result<()> {
    for id in ["floor/spin", "floor/futex", "iceoryx2/poll", "floor/tcp"] {
        let m = axon_benches::find_mechanism(id).expect("registered");
        let mut s = Session::start(m, Payload::new(8, Touch::Header), SessionOptions::default())?;
        s.round_trip()?;
        let pid = s.child_pid().expect("child runs");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )?;
        let t0 = Instant::now();
        let err = loop {
            if let Err(e) = s.round_trip() {
                break e;
            }
            anyhow::ensure!(t0.elapsed() < Duration::from_secs(5), "{id}: no error");
        };
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(5),
            "{id}: took {:?}",
            t0.elapsed()
        );
        anyhow::ensure!(format!("{err:#}").contains("child"), "{id}: {err:#}");
    }
    Ok(())
}

fn nothing_left_behind() -> anyhow::Result<()> {
    anyhow::ensure!(children_of_this_process() == 0, "child processes left");
    let prefix = format!("axb{}x", std::process::id());
    let left = iceoryx2_leftovers(&prefix);
    anyhow::ensure!(left.is_empty(), "left behind: {left:?}");
    Ok(())
}

type Test = fn() -> anyhow::Result<()>;

fn main() {
    axon_benches::run_child_if_requested();
    let tests: [(&str, Test); 4] = [
        ("every_mechanism_echoes", every_mechanism_echoes),
        ("measure_reports_rounds", measure_reports_rounds),
        (
            "killed_child_is_reported_quickly",
            killed_child_is_reported_quickly,
        ),
        ("nothing_left_behind", nothing_left_behind),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match test() {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(e) => {
                println!("test {name} ... FAILED: {e:#}");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
