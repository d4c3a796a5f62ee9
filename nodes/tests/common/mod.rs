//! Running the real node binaries in their own processes, on a private
//! domain in a private shared-memory directory, with a watchdog on every wait.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A private domain: its own `AXON_SHM_DIR` (removed on drop) and name.
pub struct TestDomain {
    pub dir: PathBuf,
    pub name: String,
}

impl TestDomain {
    pub fn new(tag: &str) -> TestDomain {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("nodes-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("axon-nodes-test-{tag}-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the test shm dir");
        TestDomain { dir, name }
    }

    /// A node of the test itself on this domain.
    pub fn node(&self, name: &str) -> axon::Node {
        let domain = axon::Domain::new(&self.dir, &self.name).expect("domain");
        axon::Node::builder(name)
            .domain(domain)
            .create()
            .expect("test node")
    }

    /// Starts binary `exe` as node `name` with `params` (a JSON object).
    pub fn spawn(&self, exe: &str, name: &str, params: serde_json::Value) -> NodeProcess {
        let params_file = self.dir.join(format!("{name}.params.json"));
        std::fs::write(&params_file, params.to_string()).expect("writing params");
        let mut child = Command::new(exe)
            .env("AXON_NODE_NAME", name)
            .env("AXON_DOMAIN", &self.name)
            .env("AXON_SHM_DIR", &self.dir)
            .env("AXON_PARAMS_FILE", &params_file)
            .env_remove("AXON_NAMESPACE")
            .env_remove("AXON_REMAP")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {exe}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for (stream, prefix) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, ""),
            (Box::new(stderr), "[stderr] "),
        ] {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("{prefix}{line}"));
                }
            });
        }
        NodeProcess {
            name: name.to_string(),
            child,
            lines,
        }
    }
}

impl Drop for TestDomain {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running node binary; killed (SIGKILL) and reaped on drop if still running.
pub struct NodeProcess {
    pub name: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl NodeProcess {
    /// Everything it printed so far (stderr lines tagged `[stderr] `).
    pub fn output(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits (watchdog: `timeout`) until `pred` holds for the output.
    pub fn wait_output(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.output();
            if pred(&out) {
                return out;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "{} exited early ({status}); output:\n{}",
                    self.name,
                    out.join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "watchdog: {} did not print what was expected within {timeout:?}; output:\n{}",
                self.name,
                out.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).expect("kill");
    }

    /// Sends SIGTERM and waits (watchdog: `timeout`) for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait(timeout)
    }

    /// Waits (watchdog: `timeout`) for the exit.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader threads drain what is left.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "watchdog: {} did not exit within {timeout:?}; output:\n{}",
                    self.name,
                    self.output().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether `dir` holds no files (segments are gone).
pub fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}
