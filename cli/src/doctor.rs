//! `axon doctor`: checks what commonly breaks shared-memory middleware and
//! prints each finding with its fix.
//!
//! Every check reads; none changes anything. A finding is `ok`, `warn`
//! (works, but is worth fixing) or `FAIL` (axon will not work, or not for
//! everyone); any `FAIL` makes the exit code 1.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use axon::inspect::{self, InspectError, Scope};
use clap::Args;
use serde_json::json;

use crate::{text, ExitCode, Global};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Check the segments of every domain of this user, not only the selected one.
    #[arg(long)]
    all_domains: bool,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub level: Level,
    pub finding: String,
    pub fix: Option<String>,
}

fn ok(check: &'static str, finding: String) -> Finding {
    Finding {
        check,
        level: Level::Ok,
        finding,
        fix: None,
    }
}

fn bad(check: &'static str, level: Level, finding: String, fix: String) -> Finding {
    Finding {
        check,
        level,
        finding,
        fix: Some(fix),
    }
}

const MIB: u64 = 1 << 20;

fn check_dir(dir: &Path, out: &mut Vec<Finding>) -> bool {
    let meta = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => {
            out.push(bad(
                "shm-dir",
                Level::Fail,
                format!("{} is not a directory", dir.display()),
                "point AXON_SHM_DIR at a tmpfs directory".into(),
            ));
            return false;
        }
        Err(e) => {
            out.push(bad(
                "shm-dir",
                Level::Fail,
                format!("{}: {e}", dir.display()),
                "mount a tmpfs there (`mount -t tmpfs -o size=1G tmpfs /dev/shm`), or set AXON_SHM_DIR to one".into(),
            ));
            return false;
        }
    };
    match nix::sys::statfs::statfs(dir) {
        Ok(fs) if fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC => out.push(ok(
            "shm-dir",
            format!("{} is a tmpfs (memory)", dir.display()),
        )),
        Ok(fs) => out.push(bad(
            "shm-dir",
            Level::Warn,
            format!(
                "{} is not a tmpfs (filesystem type {:#x}): segments are written to a disk and its locks may not be the kernel's",
                dir.display(),
                fs.filesystem_type().0
            ),
            "use /dev/shm or another tmpfs (AXON_SHM_DIR)".into(),
        )),
        Err(e) => out.push(bad(
            "shm-dir",
            Level::Warn,
            format!("{}: cannot tell its filesystem: {e}", dir.display()),
            "use /dev/shm or another tmpfs (AXON_SHM_DIR)".into(),
        )),
    }
    let mode = meta.permissions().mode() & 0o7777;
    let writable = nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok();
    if !writable {
        out.push(bad(
            "shm-permissions",
            Level::Fail,
            format!(
                "{} (mode {mode:04o}, owner uid {}) is not writable by you: no topic can be created",
                dir.display(),
                meta.uid()
            ),
            format!("sudo chmod 1777 {}", dir.display()),
        ));
    } else if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        out.push(bad(
            "shm-permissions",
            Level::Warn,
            format!(
                "{} is writable by everyone without the sticky bit (mode {mode:04o}): any user can delete your segments",
                dir.display()
            ),
            format!("sudo chmod 1777 {}", dir.display()),
        ));
    } else {
        out.push(ok(
            "shm-permissions",
            format!("{} is writable (mode {mode:04o})", dir.display()),
        ));
    }
    true
}

fn check_space(dir: &Path, out: &mut Vec<Finding>) -> Option<u64> {
    let st = match nix::sys::statvfs::statvfs(dir) {
        Ok(s) => s,
        Err(e) => {
            out.push(bad(
                "shm-space",
                Level::Warn,
                format!("{}: cannot read its size: {e}", dir.display()),
                "check `df -h /dev/shm`".into(),
            ));
            return None;
        }
    };
    let unit = st.fragment_size() as u64;
    let size = st.blocks() as u64 * unit;
    let free = st.blocks_available() as u64 * unit;
    let summary = format!(
        "{} of {} free",
        text::bytes(free as f64),
        text::bytes(size as f64)
    );
    let fix = "enlarge it: `sudo mount -o remount,size=2G /dev/shm`; in Docker `--shm-size=1g`";
    out.push(if free < 16 * MIB {
        bad(
            "shm-space",
            Level::Fail,
            format!("{summary}: new topics will fail with \"not enough shared memory\""),
            format!("free space (`axon clean` removes unused segments) or {fix}"),
        )
    } else if size < 256 * MIB {
        bad(
            "shm-space",
            Level::Warn,
            format!("{summary}: small for camera images or point clouds"),
            fix.into(),
        )
    } else if free < size / 10 {
        bad(
            "shm-space",
            Level::Warn,
            format!("{summary}: less than 10% left"),
            format!("`axon clean` removes unused segments, or {fix}"),
        )
    } else {
        ok("shm-space", summary)
    });
    Some(size)
}

/// Signs of running in a container, from files any process can read.
fn container_hint() -> Option<String> {
    if Path::new("/.dockerenv").exists() {
        return Some("Docker (/.dockerenv)".into());
    }
    if Path::new("/run/.containerenv").exists() {
        return Some("Podman (/run/.containerenv)".into());
    }
    if let Ok(c) = std::env::var("container") {
        return Some(format!("a container ($container={c})"));
    }
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    ["docker", "kubepods", "containerd", "lxc", "libpod"]
        .into_iter()
        .find(|k| cgroup.contains(k))
        .map(|k| format!("a container (/proc/1/cgroup mentions {k})"))
}

fn check_container(dir: &Path, size: Option<u64>, out: &mut Vec<Finding>) {
    let Some(what) = container_hint() else {
        out.push(ok("container", "not in a container".into()));
        return;
    };
    let fix = "share it: `docker run --ipc=host` (or `--ipc=container:<peer>`), or mount one host tmpfs into every container and set AXON_SHM_DIR to it";
    if size == Some(64 * MIB) {
        out.push(bad(
            "container",
            Level::Warn,
            format!(
                "in {what} with a private {} of 64 MiB (Docker's default): processes in other containers or on the host do not see these topics",
                dir.display()
            ),
            fix.into(),
        ));
    } else {
        out.push(bad(
            "container",
            Level::Warn,
            format!(
                "in {what}: processes outside see these topics only if {} is shared with them",
                dir.display()
            ),
            fix.into(),
        ));
    }
}

/// Checks one segment file: owner, mode, header, liveness.
fn check_segment(f: &inspect::SegmentFileName, me: u32, out: &mut Vec<Finding>) {
    let path = f.path.display().to_string();
    let meta = match std::fs::symlink_metadata(&f.path) {
        Ok(m) => m,
        Err(_) => return, // removed meanwhile
    };
    if !meta.file_type().is_file() {
        out.push(bad(
            "segment",
            Level::Fail,
            format!("{path} is not a regular file (a symlink or device in the segment's place)"),
            format!("rm {path}"),
        ));
        return;
    }
    let mode = meta.permissions().mode() & 0o7777;
    if meta.uid() != f.uid {
        out.push(bad(
            "segment-owner",
            Level::Fail,
            format!(
                "{path} is owned by uid {} but named for uid {}: its user cannot take part",
                meta.uid(),
                f.uid
            ),
            format!("remove it as its owner or root: sudo rm {path}"),
        ));
    }
    if meta.uid() != me {
        return; // not ours to read
    }
    if mode & 0o600 != 0o600 {
        out.push(bad(
            "segment-mode",
            Level::Fail,
            format!("{path} has mode {mode:04o}: its owner cannot read and write it, so participants get \"permission denied\""),
            format!("chmod 600 {path}"),
        ));
        return;
    }
    if mode & 0o007 != 0 || mode & 0o7111 != 0 {
        out.push(bad(
            "segment-mode",
            Level::Warn,
            format!("{path} has mode {mode:04o}: open to every user on this machine"),
            format!("chmod 600 {path} (or 660 to share with the group)"),
        ));
    }
    let Some(topic) = f.topic.clone() else {
        return;
    };
    match inspect::segment_report(&f.path, topic) {
        Ok(r) => {
            let live = r.live_publishers() + r.live_subscribers();
            let dead = r.dead_participants();
            if live == 0 {
                out.push(bad(
                    "segment-stale",
                    Level::Warn,
                    format!(
                        "{path} ({}): no live participant{}; it holds {}",
                        r.topic,
                        if dead > 0 {
                            format!(", {dead} died")
                        } else {
                            String::new()
                        },
                        text::bytes(r.allocated as f64)
                    ),
                    "axon clean".into(),
                ));
            } else if dead > 0 {
                out.push(bad(
                    "segment-dead",
                    Level::Warn,
                    format!("{path} ({}): {dead} participant(s) died and are not cleaned up yet", r.topic),
                    "nothing to do: the next participant to join cleans them up".into(),
                ));
            }
        }
        Err(e @ (InspectError::Corrupted { .. } | InspectError::VersionMismatch { .. })) => {
            out.push(bad(
                "segment-header",
                Level::Warn,
                e.to_string(),
                "`axon clean` removes it once no process uses it (a new participant replaces it too)"
                    .into(),
            ))
        }
        Err(e) => out.push(bad(
            "segment",
            Level::Fail,
            e.to_string(),
            format!("check its owner and mode: ls -l {path}"),
        )),
    }
}

fn check_segments(dir: &Path, scope: Scope<'_>, out: &mut Vec<Finding>) {
    let me = nix::unistd::geteuid().as_raw();
    let mut files = match inspect::segment_files(dir, scope) {
        Ok(f) => f,
        Err(e) => {
            out.push(bad(
                "segment",
                Level::Fail,
                format!("{}: cannot list: {e}", dir.display()),
                format!("ls -ld {}", dir.display()),
            ));
            return;
        }
    };
    // Files named for this user but owned by someone else are always worth a look.
    if let Ok(all) = inspect::segment_files(dir, Scope::Everyone) {
        for f in all {
            let foreign = std::fs::symlink_metadata(&f.path).is_ok_and(|m| m.uid() != f.uid);
            if f.uid == me && foreign && !files.contains(&f) {
                files.push(f);
            }
        }
    }
    let before = out.len();
    for f in &files {
        check_segment(f, me, out);
    }
    if out.len() == before {
        out.push(ok(
            "segments",
            format!("{} segment(s): owners, modes and headers fine", files.len()),
        ));
    }
}

/// Soft and hard limit of a resource from `/proc/self/limits`.
fn proc_limit(limits: &str, name: &str) -> Option<(Option<u64>, Option<u64>)> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    let mut it = line[name.len()..].split_whitespace();
    let num = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok());
    Some((num(it.next()), num(it.next())))
}

fn check_limits(out: &mut Vec<Finding>) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    match proc_limit(&limits, "Max open files") {
        Some((Some(soft), hard)) if soft < 1024 => out.push(bad(
            "fd-limit",
            Level::Warn,
            format!(
                "open files limited to {soft} (hard {}): every publisher and subscriber holds a descriptor",
                hard.map_or("unlimited".into(), |h| h.to_string())
            ),
            "`ulimit -n 4096` before starting nodes (LimitNOFILE= in a systemd unit)".into(),
        )),
        Some((soft, _)) => out.push(ok(
            "fd-limit",
            format!(
                "open files: {}",
                soft.map_or("unlimited".into(), |s| s.to_string())
            ),
        )),
        None => out.push(bad(
            "fd-limit",
            Level::Warn,
            "cannot read /proc/self/limits".into(),
            "check `ulimit -n`".into(),
        )),
    }
    match std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        Some(n) if n < 65530 => out.push(bad(
            "max-map-count",
            Level::Warn,
            format!(
                "vm.max_map_count is {n}, below the usual 65530: every participant maps its topic"
            ),
            "sudo sysctl -w vm.max_map_count=262144".into(),
        )),
        Some(n) => out.push(ok("max-map-count", format!("vm.max_map_count is {n}"))),
        None => out.push(bad(
            "max-map-count",
            Level::Warn,
            "cannot read /proc/sys/vm/max_map_count".into(),
            "check `sysctl vm.max_map_count`".into(),
        )),
    }
}

fn check_clock(out: &mut Vec<Finding>) {
    let source =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
    let n = 20_000u32;
    let start = axon::monotonic_ns();
    for _ in 0..n {
        std::hint::black_box(axon::monotonic_ns());
    }
    let per_call = (axon::monotonic_ns() - start) as f64 / n as f64;
    let slow_source = matches!(source.as_str(), "hpet" | "acpi_pm" | "jiffies" | "pit");
    if slow_source || per_call > 1000.0 {
        out.push(bad(
            "clock",
            Level::Warn,
            format!(
                "clock source {source}: reading the clock takes {per_call:.0} ns (a system call); every send stamps the time"
            ),
            "use the TSC if the CPU has an invariant one: boot with `clocksource=tsc tsc=reliable`".into(),
        ));
    } else {
        out.push(ok(
            "clock",
            format!("clock source {source}, {per_call:.0} ns per reading"),
        ));
    }
}

/// Every check, in order.
pub fn findings(dir: &Path, scope: Scope<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    if check_dir(dir, &mut out) {
        let size = check_space(dir, &mut out);
        check_container(dir, size, &mut out);
        check_segments(dir, scope, &mut out);
    }
    check_limits(&mut out);
    check_clock(&mut out);
    out
}

pub fn run(g: &Global, a: &DoctorArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let domain = g.domain()?;
    let scope = if a.all_domains {
        Scope::AllDomains
    } else {
        Scope::Domain(&domain)
    };
    let found = findings(domain.dir(), scope);
    let fails = found.iter().filter(|f| f.level == Level::Fail).count();
    let warns = found.iter().filter(|f| f.level == Level::Warn).count();
    if a.json {
        let items: Vec<_> = found
            .iter()
            .map(|f| {
                json!({"check": f.check, "level": f.level.as_str().to_lowercase(),
                       "finding": f.finding, "fix": f.fix})
            })
            .collect();
        let v = json!({"findings": items, "failures": fails, "warnings": warns});
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        for f in &found {
            writeln!(out, "{:<5} {:<16} {}", f.level.as_str(), f.check, f.finding)?;
            if let Some(fix) = &f.fix {
                writeln!(out, "{:<22} fix: {fix}", "")?;
            }
        }
        writeln!(out, "{fails} failure(s), {warns} warning(s)")?;
    }
    if fails > 0 {
        return Err(ExitCode(1).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            256                  524288               files\n\
                      Max locked memory         unlimited            unlimited            bytes\n";
        assert_eq!(
            proc_limit(limits, "Max open files"),
            Some((Some(256), Some(524288)))
        );
        assert_eq!(proc_limit(limits, "Max locked memory"), Some((None, None)));
        assert_eq!(proc_limit(limits, "Max processes"), None);
    }
}
