//! `bench-bag`: `axon bag record` against the disk it writes to, and `play`'s timing.
//!
//! ```text
//! cargo run --release -p axon-benches --bin bench-bag -- [--secs S] [--cameras 1,2,3] [--dir DIR]
//! ```
//!
//! Per row, N synthetic 1080p rgb8 cameras (`axon_msgs::Image`, 6,220,800 bytes of pixels, about
//! 187 MB/s each) publish at 30 Hz for S seconds (default 3) in one domain while a recorder
//! process (this binary, `--recorder`: `axon_bag::record` of every topic, compression none) writes
//! DIR/bag-N.mcap on the disk under DIR (default: beside this binary). Reported: the data rate
//! offered, the rate written (file bytes / seconds from the first frame to the recorder's exit,
//! after its fsync), both against the disk's
//! sequential write bandwidth measured in the same run (one plain file of the size of the largest
//! recording, written in 8 MiB blocks, fsync included, as the recorder's file is), the messages
//! lost (from `axon bag info`: counted losses plus anything missing), and the recorder's CPU
//! (user + system of its process over its life, from this process's `cutime`/`cstime` in
//! /proc/self/stat once it was reaped; 100% = one core). Then `play`'s timing at 1 kHz: an Imu
//! topic recorded for S seconds at 1 kHz is played into a fresh domain and each gap between played
//! send stamps is compared with the recorded `log_time` gap (p50/p99/max).
//!
//! The target (issue 15): zero loss while the data rate is below 80% of the disk's bandwidth, and
//! the recorder under one core at 3 cameras with compression off. Not a gate row (it writes
//! gigabytes); exits 1 only when a step fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use axon::inspect;
use axon::{Domain, Node, TopicName};
use axon_bag::{RecordOptions, Selection};
use axon_msgs::{Image, Imu};

const W: usize = 1920;
const H: usize = 1080;
const FRAME: usize = W * H * 3;
const HZ: f64 = 30.0;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-bag: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut secs = 3.0f64;
    let mut cameras = vec![1usize, 2, 3];
    let mut dir: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--recorder" => {
                let domain = args.next().context("--recorder DOMAIN FILE")?;
                let file = args.next().context("--recorder DOMAIN FILE")?;
                return recorder(&domain, Path::new(&file));
            }
            "--secs" => secs = args.next().context("--secs S")?.parse()?,
            "--cameras" => {
                cameras = args
                    .next()
                    .context("--cameras 1,2,3")?
                    .split(',')
                    .map(|n| n.parse::<usize>())
                    .collect::<Result<_, _>>()?
            }
            "--dir" => dir = Some(PathBuf::from(args.next().context("--dir DIR")?)),
            other => bail!("unknown argument {other} (--secs S, --cameras 1,2,3, --dir DIR)"),
        }
    }
    let exe = std::env::current_exe()?;
    let dir =
        dir.unwrap_or_else(|| exe.with_file_name(format!("bench-bag-{}", std::process::id())));
    std::fs::create_dir_all(&dir)?;
    let result = rows(&exe, &dir, secs, &cameras);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn rows(exe: &Path, dir: &Path, secs: f64, cameras: &[usize]) -> anyhow::Result<()> {
    let max = cameras.iter().copied().max().unwrap_or(1);
    let bytes = (max as f64 * FRAME as f64 * HZ * secs) as u64;
    let disk = disk_bandwidth(&dir.join("plain.bin"), bytes)?;
    println!(
        "bench-bag: 1080p rgb8 cameras at 30 Hz ({:.0} MB/s each), {secs} s per row, files in {}",
        FRAME as f64 * HZ / 1e6,
        dir.display()
    );
    println!(
        "disk sequential write (same run, {:.2} GB, fsync included): {:.0} MB/s",
        bytes as f64 / 1e9,
        disk / 1e6
    );
    println!(
        "{:>7} {:>12} {:>9} {:>12} {:>9} {:>9} {:>8} {:>13}",
        "cameras",
        "offered MB/s",
        "of disk",
        "written MB/s",
        "of disk",
        "messages",
        "lost",
        "recorder CPU"
    );
    for &n in cameras {
        let r = cameras_row(exe, dir, n, secs)?;
        println!(
            "{:>7} {:>12.0} {:>8.0}% {:>12.0} {:>8.0}% {:>9} {:>8} {:>12.0}%",
            n,
            r.offered / 1e6,
            100.0 * r.offered / disk,
            r.written / 1e6,
            100.0 * r.written / disk,
            r.messages,
            r.lost,
            100.0 * r.cpu
        );
    }
    let (p50, p99, max) = play_timing(exe, dir, secs)?;
    println!(
        "play at 1 kHz: |played gap - recorded gap| p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        p50 as f64 / 1e3,
        p99 as f64 / 1e3,
        max as f64 / 1e3
    );
    Ok(())
}

/// Bytes per second of a plain sequential write of `bytes` to `path`, fsync included.
fn disk_bandwidth(path: &Path, bytes: u64) -> anyhow::Result<f64> {
    use std::io::Write as _;
    let block = vec![0x5au8; 8 << 20];
    let start = Instant::now();
    let mut f = std::fs::File::create(path)?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    let t = start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(path)?;
    Ok(bytes as f64 / t)
}

/// The recorder process: every topic of `domain` into `file`, uncompressed, until SIGTERM.
fn recorder(domain: &str, file: &Path) -> anyhow::Result<()> {
    axon::shutdown::install()?;
    let domain = Domain::new("/dev/shm", domain)?;
    let mut opts = RecordOptions::new(Selection::All, file.to_path_buf());
    opts.compression = axon_bag::Compression::None;
    axon_bag::record(&domain, &opts, &|| false)?;
    Ok(())
}

/// Children's user + system CPU seconds so far (reaped children only).
fn children_cpu() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command's closing parenthesis; cutime, cstime are fields 16 and 17.
    let rest = &stat[stat.rfind(')').context("/proc/self/stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[13].parse::<u64>()? + f[14].parse::<u64>()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    Ok(ticks as f64 / hz)
}

struct Recording {
    child: Child,
    started: Instant,
    cpu_before: f64,
}

fn start_recorder(exe: &Path, domain: &str, file: &Path) -> anyhow::Result<Recording> {
    let cpu_before = children_cpu()?;
    let child = Command::new(exe)
        .arg("--recorder")
        .arg(domain)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    Ok(Recording {
        child,
        started: Instant::now(),
        cpu_before,
    })
}

/// SIGTERM, wait (30 s at most), and the recorder's CPU share of one core over its life.
fn stop_recorder(mut r: Recording) -> anyhow::Result<f64> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(r.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = r.child.try_wait()? {
            if !status.success() {
                bail!("the recorder ended with {status}");
            }
            break;
        }
        if Instant::now() > deadline {
            let _ = r.child.kill();
            let _ = r.child.wait();
            bail!("the recorder did not finish its file within 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let life = r.started.elapsed().as_secs_f64();
    Ok((children_cpu()? - r.cpu_before) / life)
}

fn wait_joined(domain: &Domain, topics: &[String]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for t in topics {
        let name = TopicName::new(t)?;
        while !inspect::topic(domain, &name).is_ok_and(|r| r.live_subscribers() >= 1) {
            if Instant::now() > deadline {
                bail!("the recorder did not join {t}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

/// Waits until the recorder took `n` samples of each topic (received or dropped).
fn wait_read(domain: &Domain, topics: &[String], n: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for t in topics {
        let name = TopicName::new(t)?;
        while !inspect::topic(domain, &name).is_ok_and(|r| {
            r.subscribers
                .iter()
                .any(|s| s.node == "axon-bag" && s.received + s.dropped >= n)
        }) {
            if Instant::now() > deadline {
                bail!("the recorder did not read {n} samples of {t}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

struct Row {
    offered: f64,
    written: f64,
    messages: u64,
    lost: u64,
    cpu: f64,
}

fn cleanup(domain: &Domain) {
    if let Ok(files) = inspect::segment_files(domain.dir(), inspect::Scope::Domain(domain)) {
        for f in files {
            let _ = std::fs::remove_file(f.path);
        }
    }
}

fn cameras_row(exe: &Path, dir: &Path, n: usize, secs: f64) -> anyhow::Result<Row> {
    let name = format!("bench-bag-{}-{n}", std::process::id());
    let domain = Domain::new("/dev/shm", &name)?;
    let topics: Vec<String> = (0..n).map(|i| format!("/camera{i}/image")).collect();
    let frames = (secs * HZ).round() as u64;
    // The publishers exist before the recorder starts, so it joins them at once.
    let node = Node::builder("cameras").domain(domain.clone()).create()?;
    let pubs = topics
        .iter()
        .map(|t| {
            node.publisher::<Image>(t)
                .history(4)
                .max_len(FRAME)
                .create()
                .map_err(anyhow::Error::from)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let file = dir.join(format!("bag-{n}.mcap"));
    let rec = start_recorder(exe, &name, &file)?;
    let mut first_frame = Instant::now();
    let result = (|| {
        wait_joined(&domain, &topics)?;
        let start = Instant::now();
        first_frame = start;
        for k in 0..frames {
            let due = start + Duration::from_secs_f64(k as f64 / HZ);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
            for p in &pubs {
                let mut img = p.loan_slice(FRAME)?;
                img.height = H as u32;
                img.width = W as u32;
                img.step = (W * 3) as u32;
                img.data.fill(k as u8);
                img.send();
            }
        }
        wait_read(&domain, &topics, frames)
    })();
    let cpu = stop_recorder(rec);
    // From the first frame to the recorder's exit, which comes after its fsync.
    let took = first_frame.elapsed().as_secs_f64();
    result?;
    let cpu = cpu?;
    let info = axon_bag::info(&file)?;
    let sent = frames * n as u64;
    let lost = sent.saturating_sub(info.messages);
    let written = info.size as f64 / took;
    drop(pubs);
    drop(node);
    cleanup(&domain);
    std::fs::remove_file(&file)?;
    Ok(Row {
        offered: FRAME as f64 * HZ * n as f64,
        written,
        messages: info.messages,
        lost,
        cpu,
    })
}

/// Records Imu at 1 kHz for `secs`, plays it into a fresh domain; gap errors in ns.
fn play_timing(exe: &Path, dir: &Path, secs: f64) -> anyhow::Result<(u64, u64, u64)> {
    let name = format!("bench-bag-{}-play", std::process::id());
    let domain = Domain::new("/dev/shm", &name)?;
    let node = Node::builder("imu").domain(domain.clone()).create()?;
    let imu = node.publisher::<Imu>("/imu").history(64).create()?;
    let file = dir.join("imu.mcap");
    let rec = start_recorder(exe, &name, &file)?;
    let n = (secs * 1000.0) as u64;
    let topics = vec!["/imu".to_string()];
    let recorded = (|| {
        wait_joined(&domain, &topics)?;
        let start = Instant::now();
        for k in 0..n {
            let due = start + Duration::from_micros(k * 1000);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
            let mut s = imu.loan()?;
            s.header.stamp.nanosec = k as u32;
            s.send();
        }
        wait_read(&domain, &topics, n)
    })();
    stop_recorder(rec)?;
    recorded?;
    drop(imu);
    drop(node);
    cleanup(&domain);
    // The recorded log times, in file order.
    let bytes = std::fs::read(&file)?;
    let mut log = Vec::new();
    for m in mcap::MessageStream::new(&bytes)? {
        log.push(m?.log_time);
    }
    let name2 = format!("{name}-2");
    let domain2 = Domain::new("/dev/shm", &name2)?;
    let node2 = Node::builder("listener").domain(domain2.clone()).create()?;
    let sub = node2.subscriber::<Imu>("/imu").history(4096).create()?;
    let played = std::thread::scope(|s| {
        let player = s.spawn(|| axon_bag::play(&domain2, &file, &axon_bag::PlayOptions::default()));
        let mut sent = Vec::with_capacity(log.len());
        let deadline = Instant::now() + Duration::from_secs_f64(secs * 3.0 + 30.0);
        while sent.len() < log.len() && Instant::now() < deadline {
            match sub.try_recv() {
                Ok(Some(x)) => sent.push(x.info().sent_ns),
                Ok(None) => std::thread::sleep(Duration::from_micros(100)),
                Err(e) => return Err(anyhow::Error::from(e)),
            }
        }
        player
            .join()
            .map_err(|_| anyhow::anyhow!("the player panicked"))??;
        Ok(sent)
    })?;
    drop(sub);
    drop(node2);
    cleanup(&domain2);
    if played.len() != log.len() {
        bail!("play delivered {} of {} messages", played.len(), log.len());
    }
    let mut errs: Vec<u64> = (1..log.len())
        .map(|k| (played[k] - played[k - 1]).abs_diff(log[k] - log[k - 1]))
        .collect();
    errs.sort_unstable();
    Ok((
        errs[errs.len() / 2],
        errs[errs.len() * 99 / 100],
        errs[errs.len() - 1],
    ))
}
