//! `axon view` with real processes and real sockets.
//!
//! This test process publishes standard types in shared memory; the `axon`
//! binary serves them over `foxglove.websocket.v1`; the clients are Python
//! (`cli/tests/view_client.py`: the `websockets` package or a raw socket,
//! CDR decoded by Foxglove's `mcap-ros2-support`), from the virtual
//! environment `./test` makes (`AXON_PYTHON`), sharing no code with the
//! server. Every wait has a deadline, so a hang fails.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use axon::inspect;
use axon::qos::Qos;
use axon::{dynamic, Domain, Message, RawPublisher, RawSubscriber, TopicName, TypeDesc};
use axon_msgs::{Image, Imu, LaserScan, Odometry, Twist};
use serde_json::{json, Value};
use zerocopy::FromBytes;

const AXON: &str = env!("CARGO_BIN_EXE_axon");
const WAIT: Duration = Duration::from_secs(40);

fn python() -> PathBuf {
    let path = std::env::var_os("AXON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/venv/bin/python")
        });
    assert!(
        path.exists(),
        "the independent Foxglove client needs the virtual environment with websockets \
         and mcap-ros2-support: run ./test (it creates target/venv and sets \
         AXON_PYTHON); not found: {}",
        path.display()
    );
    path
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/view_client.py")
}

/// A child process whose output lines arrive on a channel.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Everything it wrote on stderr.
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    /// Starts `cmd`; `lines` carries stdout, or stderr with `lines_from_stderr`.
    fn start(cmd: &mut Command, lines_from_stderr: bool) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if !lines_from_stderr {
                    let _ = tx.send(line);
                }
            }
        });
        let log = stderr.clone();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                log.lock().unwrap().push_str(&format!("{line}\n"));
                if lines_from_stderr {
                    let _ = tx2.send(line);
                }
            }
        });
        Proc {
            stdin: child.stdin.take(),
            child,
            lines: rx,
            stderr,
        }
    }

    /// The next line that starts with `prefix` (others are skipped).
    fn expect(&self, prefix: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l[prefix.len()..].trim().to_string(),
                Ok(_) => {}
                Err(_) => panic!(
                    "no line starting with {prefix:?}; stderr: {}",
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    fn reply(&mut self) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "go").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the exit (killing it after `WAIT`); true on success.
    fn finish(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.success();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("timed out; stderr: {}", self.stderr.lock().unwrap());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn terminate(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A domain of its own, emptied at the end.
struct Dom(Domain, String);

impl Dom {
    fn new(tag: &str) -> Dom {
        let n = format!("view-{tag}-{}", std::process::id());
        Dom(Domain::new("/dev/shm", &n).unwrap(), n)
    }
}

impl Drop for Dom {
    fn drop(&mut self) {
        if let Ok(files) = inspect::segment_files(self.0.dir(), inspect::Scope::Domain(&self.0)) {
            for f in files {
                let _ = std::fs::remove_file(f.path);
            }
        }
    }
}

/// `axon view` on a free port; returns it and its URL.
fn view(dom: &Dom, extra: &[&str]) -> (Proc, String) {
    let p = Proc::start(
        Command::new(AXON)
            .args(["view", "--port", "0", "--domain", &dom.1])
            .args(extra)
            .env_remove("AXON_SHM_DIR"),
        true,
    );
    let addr = p.expect("axon view: listening on ");
    let url = addr.split_whitespace().next().unwrap().to_string();
    (p, url)
}

fn client(args: &[&str]) -> Proc {
    Proc::start(Command::new(python()).arg(script()).args(args), false)
}

fn publisher<T: Message + ?Sized>(
    dom: &Domain,
    topic: &str,
    qos: &Qos,
) -> (RawPublisher, TypeDesc) {
    let desc = TypeDesc::of::<T>();
    let p = RawPublisher::create(dom, TopicName::new(topic).unwrap(), &desc, qos, "test").unwrap();
    (p, desc)
}

/// Publishes `value` (JSON) on `p`; false if the loan failed.
fn send(p: &RawPublisher, desc: &TypeDesc, value: &Value) -> bool {
    let d = desc.description.as_ref().unwrap();
    let bytes = dynamic::encode(d, value, 4 << 20).unwrap();
    let Ok(mut loan) = p.loan_slot(dynamic::elems_of(d, bytes.len())) else {
        return false;
    };
    let dst = loan.bytes_mut();
    dst.fill(0);
    dst[..bytes.len()].copy_from_slice(&bytes);
    loan.send();
    true
}

fn header(n: u64) -> Value {
    json!({"stamp": {"sec": 7, "nanosec": n}, "frame_id": "base_link"})
}

fn scan(n: u64) -> Value {
    let ranges: Vec<f32> = (0..5).map(|k| k as f32 * 0.5 + n as f32).collect();
    json!({"header": header(n), "angle_min": -1.5, "angle_max": 1.5, "range_max": 30.0,
           "ranges": ranges})
}

fn image(n: u64, w: u64, h: u64) -> Value {
    let data: Vec<u64> = (0..w * h * 3).map(|k| (k + n) % 256).collect();
    json!({"header": header(n), "encoding": "rgb8", "height": h, "width": w, "step": w * 3,
           "data": data})
}

#[test]
fn foxglove_client_sees_topics_decodes_cdr_and_publishes_twist() {
    let dom = Dom::new("main");
    let drop_imu = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let pubs: JoinHandle<()> = {
        let (d, drop_imu, stop) = (dom.0.clone(), drop_imu.clone(), stop.clone());
        thread::spawn(move || {
            let q = Qos::default();
            let (scan_p, scan_d) = publisher::<LaserScan>(&d, "/scan", &q);
            let (img_p, img_d) = publisher::<Image>(&d, "/camera/image", &q);
            let mut imu = Some(publisher::<Imu>(&d, "/imu", &q));
            let mut late = None;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                assert!(send(&scan_p, &scan_d, &scan(n)));
                assert!(send(&img_p, &img_d, &image(n, 6, 4)));
                if let Some((p, d)) = &imu {
                    assert!(send(p, d, &json!({"header": header(n)})));
                }
                if drop_imu.load(Ordering::Relaxed) && imu.is_some() {
                    imu = None;
                    late = Some(publisher::<Odometry>(&d, "/late", &q));
                }
                if let Some((p, d)) = &late {
                    assert!(send(p, d, &json!({"header": header(n)})));
                }
                n += 1;
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let cmd_vel = RawSubscriber::create(
        &dom.0,
        TopicName::new("/cmd_vel").unwrap(),
        Some(&TypeDesc::of::<Twist>()),
        &Qos {
            history: Some(16),
            ..Qos::default()
        },
        "test",
    )
    .unwrap();

    let (mut server, url) = view(&dom, &[]);
    let mut py = client(&["main", &url]);
    assert_eq!(py.expect("STEP"), "advertised");
    drop_imu.store(true, Ordering::Relaxed);
    py.reply();
    assert_eq!(py.expect("STEP"), "published");
    // The client sent five Twists; the subscriber gets them.
    let deadline = Instant::now() + WAIT;
    let mut twists = Vec::new();
    while twists.len() < 5 {
        assert!(Instant::now() < deadline, "no Twist from the client");
        match cmd_vel.try_recv().unwrap() {
            Some(s) => twists.push(Twist::read_from_bytes(s.bytes()).unwrap()),
            None => thread::sleep(Duration::from_millis(5)),
        }
    }
    for t in &twists {
        assert_eq!((t.linear.x, t.linear.y, t.angular.z), (0.25, -1.0, -0.5));
    }
    py.reply();
    let result: Value = serde_json::from_str(&py.expect("RESULT")).unwrap();
    assert!(py.finish(), "client failed: {}", py.stderr.lock().unwrap());
    stop.store(true, Ordering::Relaxed);
    pubs.join().unwrap();

    assert_eq!(
        result["capabilities"],
        json!(["clientPublish", "connectionGraph", "time"])
    );
    // Server time: increasing, on the wall clock (the message stamps' clock).
    assert_eq!(result["time_increasing"], true);
    assert!(result["time_skew_ms"].as_f64().unwrap() < 600e3, "{result}");
    // The connection graph: this process's participants by node name
    // ("test"), the bridge's own left out.
    let graph = &result["graph"];
    let entry = |list: &str, topic: &str, ids: &str| {
        graph[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == topic)
            .map(|t| t[ids].clone())
    };
    for t in ["/scan", "/camera/image", "/imu"] {
        assert_eq!(
            entry("publishedTopics", t, "publisherIds"),
            Some(json!(["test"])),
            "{graph}"
        );
    }
    assert_eq!(
        entry("subscribedTopics", "/cmd_vel", "subscriberIds"),
        Some(json!(["test"])),
        "{graph}"
    );
    assert_eq!(graph["advertisedServices"], json!([]));
    assert!(!graph.to_string().contains("axon-view"), "{graph}");
    // An update after /imu's publisher left and /late's came.
    let updates = result["graph_updates"].as_array().unwrap();
    assert!(
        updates.iter().any(|u| u["removedTopics"]
            .as_array()
            .unwrap()
            .contains(&json!("/imu"))),
        "{updates:?}"
    );
    assert_eq!(result["encodings"], json!(["cdr"]));
    assert_eq!(
        result["schemas"],
        json!({"/scan": "sensor_msgs/msg/LaserScan", "/camera/image": "sensor_msgs/msg/Image",
               "/imu": "sensor_msgs/msg/Imu"})
    );
    assert_eq!(result["late"], "nav_msgs/msg/Odometry");
    let scans = result["scans"].as_array().unwrap();
    let images = result["images"].as_array().unwrap();
    assert!(scans.len() >= 3 && images.len() >= 3);
    for s in scans {
        let n = s["n"].as_u64().unwrap();
        assert_eq!(s["frame_id"], "base_link");
        assert_eq!(s["angle_min"], json!(-1.5));
        assert_eq!(s["angle_max"], json!(1.5));
        assert_eq!(s["range_max"], json!(30.0));
        let want: Vec<f64> = (0..5).map(|k| (k as f32 * 0.5 + n as f32) as f64).collect();
        assert_eq!(s["ranges"], json!(want), "{s}");
    }
    for i in images {
        let n = i["n"].as_u64().unwrap();
        assert_eq!(i["encoding"], "rgb8");
        assert_eq!(
            (i["width"].as_u64(), i["height"].as_u64()),
            (Some(6), Some(4))
        );
        assert_eq!(i["step"], 18);
        let want: Vec<u64> = (0..72).map(|k| (k + n) % 256).collect();
        assert_eq!(i["data"], json!(want));
    }
    let statuses = result["statuses"].as_array().unwrap();
    let text = |needle: &str| {
        statuses
            .iter()
            .any(|s| s[0] == 2 && s[1].as_str().unwrap().contains(needle))
    };
    assert!(text("foo_msgs/msg/Bar"), "{statuses:?}");
    assert!(text("carries sensor_msgs/msg/LaserScan"), "{statuses:?}");
    assert!(text("\"json\" is not supported"), "{statuses:?}");
    assert!(text("invalid CDR"), "{statuses:?}");
    server.terminate();
    assert!(server.finish(), "{}", server.stderr.lock().unwrap());
}

#[test]
fn client_that_never_reads_slows_nobody_and_malformed_frames_close_only_their_client() {
    let dom = Dom::new("slow");
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let pubs: JoinHandle<()> = {
        let (d, stop, published, failed) = (
            dom.0.clone(),
            stop.clone(),
            published.clone(),
            failed.clone(),
        );
        thread::spawn(move || {
            let q = Qos {
                max_len: Some(640 * 480 * 3),
                ..Qos::default()
            };
            let (p, desc) = publisher::<Image>(&d, "/camera/image", &q);
            let frame = image(0, 640, 480);
            let dsc = desc.description.as_ref().unwrap();
            let mut bytes = dynamic::encode(dsc, &frame, 4 << 20).unwrap();
            let elems = dynamic::elems_of(dsc, bytes.len());
            let hdesc = axon::Description::of::<axon_msgs::Header>();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // The frame number in header.stamp.nanosec (the header leads the image).
                let h = dynamic::encode(&hdesc, &header(n), 4096).unwrap();
                bytes[..h.len()].copy_from_slice(&h);
                match p.loan_slot(elems) {
                    Ok(mut loan) => {
                        let dst = loan.bytes_mut();
                        dst[..bytes.len()].copy_from_slice(&bytes);
                        loan.send();
                        n += 1;
                        published.store(n, Ordering::Relaxed);
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                thread::sleep(Duration::from_millis(33));
            }
        })
    };
    let (mut server, url) = view(&dom, &[]);
    let stuck = client(&["stuck", &url, "/camera/image"]);
    stuck.expect("SUBSCRIBED");
    let watcher = client(&["watch", &url, "/camera/image"]);
    // The watcher keeps getting current frames while the stuck client's
    // socket buffers fill (~60 frames of 900 KiB) and its queue drops.
    let caught_up = |watcher: &Proc, target: u64| {
        let deadline = Instant::now() + WAIT;
        loop {
            let n: u64 = watcher.expect("MSG").parse().unwrap();
            if n >= target {
                return;
            }
            assert!(Instant::now() < deadline, "the watcher fell behind");
        }
    };
    let p0 = published.load(Ordering::Relaxed);
    while published.load(Ordering::Relaxed) < p0 + 90 {
        thread::sleep(Duration::from_millis(20));
    }
    caught_up(&watcher, published.load(Ordering::Relaxed));

    // Malformed frames close their own client with a reason.
    for kind in ["json", "op", "field", "opcode", "short", "unadvertised"] {
        let mut bad = client(&["malformed", &url, kind]);
        let closed: Value = serde_json::from_str(&bad.expect("CLOSED")).unwrap();
        assert_eq!(closed["code"], 1002, "{kind}: {closed}");
        assert!(
            closed["reason"].as_str().unwrap().len() > 10,
            "{kind}: {closed}"
        );
        assert!(bad.finish());
    }
    // The watcher, the stuck client and the server are still there.
    caught_up(&watcher, published.load(Ordering::Relaxed));
    drop(stuck);
    stop.store(true, Ordering::Relaxed);
    pubs.join().unwrap();
    assert_eq!(failed.load(Ordering::Relaxed), 0, "a loan failed");
    drop(watcher);
    server.terminate();
    assert!(server.finish(), "{}", server.stderr.lock().unwrap());
    // The stuck client lost frames, counted.
    let log = server.stderr.lock().unwrap().clone();
    let lost = log.lines().any(|l| {
        l.contains("gone:")
            && l.split("; ")
                .last()
                .and_then(|t| t.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n > 0)
    });
    assert!(lost, "no client lost frames: {log}");
}

/// Live subscribers of `topic` that the bridge owns.
fn bridge_subscribers(dom: &Domain, topic: &str) -> usize {
    match inspect::topic(dom, &TopicName::new(topic).unwrap()) {
        Ok(r) => r
            .subscribers
            .iter()
            .filter(|s| s.node == "axon-view" && s.liveness == inspect::Liveness::Alive)
            .count(),
        Err(_) => 0,
    }
}

#[test]
fn topics_allow_list_max_rate_and_joining_only_while_watched() {
    let dom = Dom::new("rate");
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let pubs: JoinHandle<()> = {
        let (d, stop, published) = (dom.0.clone(), stop.clone(), published.clone());
        thread::spawn(move || {
            let q = Qos::default();
            let (scan_p, scan_d) = publisher::<LaserScan>(&d, "/scan", &q);
            let (imu_p, imu_d) = publisher::<Imu>(&d, "/imu", &q);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                assert!(send(&scan_p, &scan_d, &scan(n)));
                assert!(send(&imu_p, &imu_d, &json!({"header": header(n)})));
                n += 1;
                published.store(n, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let (mut server, url) = view(&dom, &["--topics", "/scan", "--max-rate", "5"]);
    let mut watcher = client(&["watch", &url, "/scan", "pause"]);
    // Only the allowed topic is a channel, and nobody watches it yet: the
    // bridge has not joined it.
    assert_eq!(watcher.expect("CHANNELS"), r#"["/scan"]"#);
    assert_eq!(bridge_subscribers(&dom.0, "/scan"), 0);
    watcher.reply();
    watcher.expect("MSG");
    assert_eq!(bridge_subscribers(&dom.0, "/scan"), 1);
    assert_eq!(bridge_subscribers(&dom.0, "/imu"), 0);
    // At most 5 per second (plus the first), however fast /scan is published.
    let start = Instant::now();
    let p0 = published.load(Ordering::Relaxed);
    let mut got = 0u64;
    while published.load(Ordering::Relaxed) < p0 + 300 {
        let _ = watcher.expect("MSG");
        got += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let sent = published.load(Ordering::Relaxed) - p0;
    assert!(got >= 2, "{got} messages in {secs:.2} s");
    assert!(
        (got as f64) <= 5.0 * secs + 2.0,
        "{got} messages in {secs:.2} s at --max-rate 5 ({sent} published)"
    );
    // The client leaves: the bridge lets go of the topic.
    drop(watcher);
    let deadline = Instant::now() + WAIT;
    while bridge_subscribers(&dom.0, "/scan") != 0 {
        assert!(Instant::now() < deadline, "the bridge still holds /scan");
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    pubs.join().unwrap();
    server.terminate();
    assert!(server.finish(), "{}", server.stderr.lock().unwrap());
}

#[test]
fn oversized_json_frame_closes_its_client_with_the_reason() {
    let dom = Dom::new("bigjson");
    let (mut server, url) = view(&dom, &[]);
    let mut bad = client(&["malformed", &url, "big"]);
    let closed: Value = serde_json::from_str(&bad.expect("CLOSED")).unwrap();
    assert!(bad.finish());
    assert_eq!(closed["code"], 1002, "{closed}");
    let reason = closed["reason"].as_str().unwrap();
    assert!(reason.contains("at most 1048576"), "{closed}");
    server.terminate();
    assert!(server.finish(), "{}", server.stderr.lock().unwrap());
}

#[test]
fn the_33rd_connection_is_closed_at_once_and_the_others_go_on() {
    let dom = Dom::new("crowd");
    let stop = Arc::new(AtomicBool::new(false));
    let pubs: JoinHandle<()> = {
        let (d, stop) = (dom.0.clone(), stop.clone());
        thread::spawn(move || {
            let (p, desc) = publisher::<Imu>(&d, "/imu", &Qos::default());
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                assert!(send(&p, &desc, &json!({"header": header(n)})));
                n += 1;
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let (mut server, url) = view(&dom, &[]);
    // One WebSocket client and 31 connections that never shake hands: 32.
    let watcher = client(&["watch", &url, "/imu"]);
    watcher.expect("MSG");
    let mut crowd = client(&["crowd", &url, "31"]);
    crowd.expect("HELD");
    // The server accepts in the kernel's order: the 31 before the 33rd.
    crowd.reply();
    let out: Value = serde_json::from_str(&crowd.expect("CROWD")).unwrap();
    assert!(crowd.finish(), "{}", crowd.stderr.lock().unwrap());
    // The 33rd was closed without a byte; the held ones were still open.
    assert_eq!(out["extra_read"], 0, "{out}");
    assert_eq!(out["held_read"], "open", "{out}");
    assert!(
        server
            .stderr
            .lock()
            .unwrap()
            .contains("refused, 32 connections open"),
        "{}",
        server.stderr.lock().unwrap()
    );
    // The WebSocket client still gets messages.
    let n0: u64 = watcher.expect("MSG").parse().unwrap();
    let deadline = Instant::now() + WAIT;
    while watcher.expect("MSG").parse::<u64>().unwrap() < n0 + 10 {
        assert!(Instant::now() < deadline);
    }
    // The held connections gone, a new client gets in.
    let again = client(&["watch", &url, "/imu"]);
    again.expect("MSG");
    drop((watcher, again));
    stop.store(true, Ordering::Relaxed);
    pubs.join().unwrap();
    server.terminate();
    assert!(server.finish(), "{}", server.stderr.lock().unwrap());
}

#[test]
fn client_that_stops_reading_is_cut_after_the_write_timeout_and_others_go_on() {
    let dom = Dom::new("cut");
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let pubs: JoinHandle<()> = {
        let (d, stop, published) = (dom.0.clone(), stop.clone(), published.clone());
        thread::spawn(move || {
            let q = Qos {
                max_len: Some(640 * 480 * 3),
                ..Qos::default()
            };
            let (p, desc) = publisher::<Image>(&d, "/camera/image", &q);
            let dsc = desc.description.as_ref().unwrap();
            let mut bytes = dynamic::encode(dsc, &image(0, 640, 480), 4 << 20).unwrap();
            let elems = dynamic::elems_of(dsc, bytes.len());
            let hdesc = axon::Description::of::<axon_msgs::Header>();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let h = dynamic::encode(&hdesc, &header(n), 4096).unwrap();
                bytes[..h.len()].copy_from_slice(&h);
                if let Ok(mut loan) = p.loan_slot(elems) {
                    loan.bytes_mut()[..bytes.len()].copy_from_slice(&bytes);
                    loan.send();
                    n += 1;
                    published.store(n, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(33));
            }
        })
    };
    let (mut server, url) = view(&dom, &["--write-timeout", "2"]);
    let stuck = client(&["stuck", &url, "/camera/image"]);
    stuck.expect("SUBSCRIBED");
    let watcher = client(&["watch", &url, "/camera/image"]);
    // Its socket fills within a few frames; then one write waits 2 s and
    // the server closes it.
    let deadline = Instant::now() + WAIT;
    loop {
        let log = server.stderr.lock().unwrap().clone();
        if log.contains("it took no frame for 2.0 s: closed") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stuck client was not cut: {log}"
        );
        // The watcher keeps reading meanwhile.
        let _ = watcher.expect("MSG");
    }
    // The watcher still gets current frames.
    let target = published.load(Ordering::Relaxed);
    let deadline = Instant::now() + WAIT;
    while watcher.expect("MSG").parse::<u64>().unwrap() < target {
        assert!(Instant::now() < deadline, "the watcher fell behind");
    }
    // Only one client was cut.
    let log = server.stderr.lock().unwrap().clone();
    assert_eq!(log.matches("it took no frame").count(), 1, "{log}");
    drop((stuck, watcher));
    stop.store(true, Ordering::Relaxed);
    pubs.join().unwrap();
    server.terminate();
    assert!(server.finish(), "{}", server.stderr.lock().unwrap());
}

#[test]
fn write_timeout_must_be_positive() {
    let out = Command::new(AXON)
        .args(["view", "--port", "0", "--write-timeout", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--write-timeout 0"), "{err}");
}

/// A throwaway CA and a server certificate for 127.0.0.1 it signed (rcgen,
/// not the server's rustls), as PEM files in a directory of their own.
struct Pki {
    dir: PathBuf,
    /// The CA's certificate: what a client trusts.
    ca: PathBuf,
    /// The server's chain: its certificate, then the CA's.
    cert: PathBuf,
    key: PathBuf,
    /// The key of another certificate.
    other_key: PathBuf,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let dir = std::env::temp_dir().join(format!("axon-view-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "axon view test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::CrlSign,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "axon view test server");
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &issuer).unwrap();
        let other = KeyPair::generate().unwrap();
        let write = |name: &str, text: String| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        Pki {
            ca: write("ca.pem", ca_cert.pem()),
            cert: write("chain.pem", format!("{}{}", cert.pem(), ca_cert.pem())),
            key: write("key.pem", key.serialize_pem()),
            other_key: write("other-key.pem", other.serialize_pem()),
            dir,
        }
    }

    fn tls_args(&self) -> Vec<String> {
        vec![
            "--tls".into(),
            "--cert".into(),
            self.cert.display().to_string(),
            "--key".into(),
            self.key.display().to_string(),
        ]
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Python client trusting `ca` (None: the system's trust store only).
fn tls_client(args: &[&str], ca: Option<&Path>) -> Proc {
    let mut cmd = Command::new(python());
    cmd.arg(script()).args(args);
    match ca {
        Some(ca) => cmd.env("AXON_VIEW_CA", ca),
        None => cmd.env_remove("AXON_VIEW_CA"),
    };
    Proc::start(&mut cmd, false)
}

#[test]
fn tls_client_trusting_the_ca_decodes_scans_and_plaintext_or_untrusted_clients_are_refused() {
    let dom = Dom::new("tls");
    let pki = Pki::new("main");
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let pubs: JoinHandle<()> = {
        let (d, stop, published) = (dom.0.clone(), stop.clone(), published.clone());
        thread::spawn(move || {
            let (p, desc) = publisher::<LaserScan>(&d, "/scan", &Qos::default());
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                assert!(send(&p, &desc, &scan(n)));
                n += 1;
                published.store(n, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let args = pki.tls_args();
    let (mut server, url) = view(&dom, &args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    let plain_url = url.replacen("wss://", "ws://", 1);

    // A client that trusts the CA: advertisements, and /scan decoded by
    // mcap-ros2-support from the CDR the bridge sent over TLS.
    let mut py = tls_client(&["scans", &url, "3"], Some(&pki.ca));
    let r: Value = serde_json::from_str(&py.expect("RESULT")).unwrap();
    assert!(py.finish(), "{}", py.stderr.lock().unwrap());
    assert_eq!(r["channels"], json!(["/scan"]), "{r}");
    assert_eq!(r["schema"], "sensor_msgs/msg/LaserScan");
    assert!(
        r["tls"].as_str().is_some_and(|v| v.starts_with("TLSv1.")),
        "{r}"
    );
    let scans = r["scans"].as_array().unwrap();
    assert!(scans.len() >= 3, "{r}");
    for s in scans {
        let n = s["n"].as_u64().unwrap();
        assert_eq!(s["frame_id"], "base_link");
        let want: Vec<f64> = (0..5).map(|k| (k as f32 * 0.5 + n as f32) as f64).collect();
        assert_eq!(s["ranges"], json!(want), "{s}");
    }

    // A TLS watcher stays connected while bad clients come and go.
    let watcher = tls_client(&["watch", &url, "/scan"], Some(&pki.ca));
    watcher.expect("MSG");
    // Not trusting the CA: the client refuses the certificate.
    let mut untrusted = tls_client(&["refused", &url], None);
    let why = untrusted.expect("REFUSED");
    assert!(untrusted.finish(), "{}", untrusted.stderr.lock().unwrap());
    assert!(why.contains("CERTIFICATE_VERIFY_FAILED"), "{why}");
    // A plaintext WebSocket client on the TLS port: no handshake.
    let mut plain = tls_client(&["refused", &plain_url], Some(&pki.ca));
    let why = plain.expect("REFUSED");
    assert!(plain.finish(), "{}", plain.stderr.lock().unwrap());
    assert!(!why.contains("succeeded"), "{why}");
    // Garbage instead of a ClientHello: dropped.
    for kind in ["record", "noise"] {
        let mut g = tls_client(&["garbage", &plain_url, kind], None);
        let dropped: Value = serde_json::from_str(&g.expect("DROPPED")).unwrap();
        assert!(g.finish(), "{kind}: {}", g.stderr.lock().unwrap());
        // At most a TLS alert came back, never a WebSocket or HTTP byte.
        assert!(dropped["bytes"].as_u64().unwrap() <= 7, "{kind}: {dropped}");
    }
    // The watcher still gets current scans.
    let target = published.load(Ordering::Relaxed);
    let deadline = Instant::now() + WAIT;
    while watcher.expect("MSG").parse::<u64>().unwrap() < target {
        assert!(Instant::now() < deadline, "the TLS watcher fell behind");
    }
    let log = server.stderr.lock().unwrap().clone();
    // The untrusting client, the plaintext one and the two garbage ones.
    assert!(log.matches("TLS handshake failed").count() >= 3, "{log}");
    assert!(!log.contains("handshake timed out"), "{log}");
    drop(watcher);
    stop.store(true, Ordering::Relaxed);
    pubs.join().unwrap();
    server.terminate();
    assert!(server.finish(), "{}", server.stderr.lock().unwrap());
}

/// `axon view ARGS`, which must exit (killed after `WAIT`): (code, stderr).
fn view_exits(dom: &Dom, args: &[&str]) -> (Option<i32>, String) {
    let mut p = Proc::start(
        Command::new(AXON)
            .args(["view", "--port", "0", "--domain", &dom.1])
            .args(args)
            .env_remove("AXON_SHM_DIR"),
        true,
    );
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "axon view {args:?} did not exit: {}",
            p.stderr.lock().unwrap()
        );
        thread::sleep(Duration::from_millis(10));
    };
    // Let the reader thread take the last lines.
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.lines.recv_timeout(Duration::from_millis(50)).is_ok() && Instant::now() < deadline {}
    let err = p.stderr.lock().unwrap().clone();
    (status.code(), err)
}

#[test]
fn tls_bad_arguments_and_files_give_one_line_naming_the_file_and_exit_2() {
    let dom = Dom::new("tlsargs");
    let pki = Pki::new("args");
    let file = |name: &str, bytes: &[u8]| {
        let p = pki.dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let (cert, key) = (
        pki.cert.display().to_string(),
        pki.key.display().to_string(),
    );
    let other_key = pki.other_key.display().to_string();
    let big = file("big.pem", &vec![b'A'; (1 << 20) + 1]);
    let text = file("text.pem", b"hello, this is no certificate\n");
    let bad_b64 = file(
        "bad-b64.pem",
        b"-----BEGIN CERTIFICATE-----\n!!!!not base64!!!!\n-----END CERTIFICATE-----\n",
    );
    let no_end = file("no-end.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n");
    let not_der = file(
        "not-der.pem",
        b"-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
    );
    let not_key = file(
        "not-key.pem",
        b"-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n",
    );
    let fifo = pki.dir.join("fifo.pem");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let fifo = fifo.display().to_string();
    let dir = pki.dir.display().to_string();
    let missing = pki.dir.join("missing.pem").display().to_string();
    // (arguments, what the line must name, what it must say)
    let cases: Vec<(Vec<&str>, Vec<&str>, &str)> = vec![
        (vec!["--tls"], vec!["--cert", "--key"], "needs"),
        (vec!["--tls", "--cert", &cert], vec!["--key"], "needs"),
        (vec!["--tls", "--key", &key], vec!["--cert"], "needs"),
        (
            vec!["--cert", &cert, "--key", &key],
            vec!["--tls"],
            "go with",
        ),
        (
            vec!["--tls", "--cert", &missing, "--key", &key],
            vec![&missing],
            "No such file",
        ),
        (
            vec!["--tls", "--cert", &cert, "--key", &missing],
            vec![&missing],
            "No such file",
        ),
        (
            vec!["--tls", "--cert", "/dev/zero", "--key", &key],
            vec!["/dev/zero"],
            "character device",
        ),
        (
            vec!["--tls", "--cert", &cert, "--key", "/dev/zero"],
            vec!["/dev/zero"],
            "character device",
        ),
        (
            vec!["--tls", "--cert", &fifo, "--key", &key],
            vec![&fifo],
            "a FIFO",
        ),
        (
            vec!["--tls", "--cert", &dir, "--key", &key],
            vec![&dir],
            "a directory",
        ),
        (
            vec!["--tls", "--cert", &big, "--key", &key],
            vec![&big],
            "larger than 1048576",
        ),
        (
            vec!["--tls", "--cert", &text, "--key", &key],
            vec![&text],
            "no CERTIFICATE section",
        ),
        (
            vec!["--tls", "--cert", &bad_b64, "--key", &key],
            vec![&bad_b64],
            "not PEM",
        ),
        (
            vec!["--tls", "--cert", &no_end, "--key", &key],
            vec![&no_end],
            "not PEM",
        ),
        (
            vec!["--tls", "--cert", &not_der, "--key", &key],
            vec![&not_der],
            "does not parse",
        ),
        (
            vec!["--tls", "--cert", &cert, "--key", &cert],
            vec![&cert],
            "no PRIVATE KEY",
        ),
        (
            vec!["--tls", "--cert", &cert, "--key", &text],
            vec![&text],
            "no PRIVATE KEY",
        ),
        (
            vec!["--tls", "--cert", &cert, "--key", &not_key],
            vec![&not_key],
            "not usable",
        ),
        (
            vec!["--tls", "--cert", &cert, "--key", &other_key],
            vec![&cert, &other_key],
            "does not belong to the certificate",
        ),
    ];
    for (args, names, says) in &cases {
        let (code, err) = view_exits(&dom, args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: not one line: {err}");
        assert!(lines[0].starts_with("axon: "), "{args:?}: {err}");
        for n in names {
            assert!(lines[0].contains(n), "{args:?}: does not name {n}: {err}");
        }
        assert!(
            lines[0].contains(says),
            "{args:?}: does not say {says:?}: {err}"
        );
        assert!(!err.contains("listening"), "{args:?}: {err}");
    }
    // The good pair serves.
    let (mut server, url) = view(&dom, &["--tls", "--cert", &cert, "--key", &key]);
    assert!(url.starts_with("wss://"), "{url}");
    server.terminate();
    assert!(server.finish(), "{}", server.stderr.lock().unwrap());
}
