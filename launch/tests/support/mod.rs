//! Helpers for the end-to-end tests: temp dirs, test node scripts, and a
//! handle on a running `launch` process with watchdog timeouts.

#![allow(dead_code)]

pub mod net;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Generous watchdog for anything that should happen "soon".
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "axon-launch-test-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t = TempDir(dir);
        t.write("good.sh", GOOD);
        t.write("stubborn.sh", STUBBORN);
        t.write("crash.sh", CRASH);
        t.write("envcheck.sh", ENVCHECK);
        t.write("marker.sh", MARKER);
        t
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn exists(&self, name: &str) -> bool {
        self.0.join(name).exists()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh [`TempDir`] tagged `tag` that holds `toml` as `robot.toml`.
pub fn robot_dir(tag: &str, toml: &str) -> TempDir {
    let dir = TempDir::new(tag);
    dir.write("robot.toml", toml);
    dir
}

/// Starts `launch robot.toml` in a fresh [`robot_dir`]; the dir is returned
/// too, so that it outlives the run.
pub fn launch_robot(tag: &str, toml: &str) -> (TempDir, Launch) {
    let dir = robot_dir(tag, toml);
    let l = launch(&dir, &["robot.toml"]);
    (dir, l)
}

/// Polls `child` until it exits, at most [`WATCHDOG`] long; past that, kills
/// it and returns `None` (the caller panics with what it knows).
pub fn wait_or_kill(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Exits 0 on SIGTERM; writes its pid to `<name>.pid`.
pub const GOOD: &str = r#"
trap 'echo "$AXON_NODE_NAME: got TERM"; exit 0' TERM
echo $$ > "$AXON_NODE_NAME.pid"
echo "$AXON_NODE_NAME: up"
while :; do sleep 0.05; done
"#;

/// Ignores SIGTERM.
pub const STUBBORN: &str = r#"
trap 'echo "$AXON_NODE_NAME: ignoring TERM"' TERM
echo "$AXON_NODE_NAME: up"
while :; do sleep 0.05; done
"#;

/// Crashes with exit code 3.
pub const CRASH: &str = r#"
echo "$AXON_NODE_NAME: crashing"
exit 3
"#;

/// Prints what the launcher handed it, then waits for SIGTERM; on SIGHUP
/// prints its params again.
pub const ENVCHECK: &str = r#"
show() { echo "params=$(tr -d ' \n' < "$AXON_PARAMS_FILE")"; }
trap 'exit 0' TERM
trap 'echo "reloaded"; show' HUP
echo "name=$AXON_NODE_NAME ns=$AXON_NAMESPACE remap=$AXON_REMAP domain=$AXON_DOMAIN extra=$EXTRA argv=$*"
show
echo "env: done"
while :; do sleep 0.05; done
"#;

/// Leaves a file `spawned.<name>` behind: proves a node was started.
pub const MARKER: &str = r#"
touch "spawned.$AXON_NODE_NAME"
exit 0
"#;

/// A running `launch`, its merged output collected by reader threads.
pub struct Launch {
    pub child: Child,
    out: Arc<(Mutex<String>, Condvar)>,
    status: Option<ExitStatus>,
}

pub fn launch(dir: &TempDir, args: &[&str]) -> Launch {
    launch_with_env(dir, args, &[])
}

pub fn launch_with_env(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Launch {
    let mut child = Command::new(env!("CARGO_BIN_EXE_launch"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("AXON_DOMAIN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn launch");
    let out = Arc::new((Mutex::new(String::new()), Condvar::new()));
    let readers: Vec<Box<dyn Read + Send>> = vec![
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    for r in readers {
        let out = Arc::clone(&out);
        thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                let (m, cv) = &*out;
                let mut s = m.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
                cv.notify_all();
            }
        });
    }
    Launch {
        child,
        out,
        status: None,
    }
}

impl Launch {
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    pub fn signal(&self, sig: Signal) {
        kill(self.pid(), sig).expect("signal launch");
    }

    pub fn output(&self) -> String {
        self.out.0.lock().unwrap().clone()
    }

    /// Waits until the output contains `pat` (watchdog: panics with the
    /// output so far).
    pub fn wait_for(&self, pat: &str) {
        let (m, cv) = &*self.out;
        let deadline = Instant::now() + WATCHDOG;
        let mut s = m.lock().unwrap();
        while !s.contains(pat) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "watchdog: `{pat}` never appeared in:\n{s}");
            s = cv.wait_timeout(s, left).unwrap().0;
        }
    }

    /// Waits for `launch` to exit (watchdog: kills it and panics), then
    /// for its output to be complete.
    pub fn wait(&mut self) -> i32 {
        let status = self.wait_exit();
        // The summary is the last thing printed.
        self.wait_for("RUN TIME");
        status
            .code()
            .unwrap_or_else(|| panic!("launch died by a signal: {status:?}"))
    }

    /// Waits for exit without expecting a summary (bad launch files).
    pub fn wait_quiet(&mut self) -> i32 {
        let st = self.wait_exit();
        // Let the readers drain.
        thread::sleep(Duration::from_millis(100));
        st.code().expect("exit code")
    }

    /// Waits for `launch` to exit and records its status (watchdog: kills
    /// it and panics with the output so far).
    fn wait_exit(&mut self) -> ExitStatus {
        let Some(status) = wait_or_kill(&mut self.child) else {
            panic!("watchdog: launch did not exit; output:\n{}", self.output());
        };
        self.status = Some(status);
        status
    }

    /// [`Launch::wait`], then checks the exit code is `want` (the message
    /// shows the output); returns the output.
    #[track_caller]
    pub fn expect_exit(&mut self, want: i32) -> String {
        let code = self.wait();
        let out = self.output();
        assert_eq!(code, want, "{out}");
        out
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The summary row of node `name`.
pub fn row<'a>(out: &'a str, name: &str) -> &'a str {
    let after = out.rsplit_once("RUN TIME").map_or("", |(_, a)| a);
    after
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no summary row for {name} in:\n{out}"))
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

/// Reads `<name>.pid` written by `good.sh`, waiting for it to appear.
pub fn read_pid(dir: &TempDir, name: &str) -> i32 {
    let p = dir.path().join(format!("{name}.pid"));
    let deadline = Instant::now() + WATCHDOG;
    loop {
        if let Ok(s) = std::fs::read_to_string(&p) {
            if let Ok(pid) = s.trim().parse() {
                return pid;
            }
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: no pid file {}",
            p.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
}
