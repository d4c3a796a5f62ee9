//! ROS 2 mode against an independent rmw_zenoh-style peer
//! (`tests/ros2_peer.py`: Python `eclipse-zenoh` for Zenoh, `rosbags` for the
//! type hash, schema and CDR encoding, `mcap-ros2-support` for CDR decoding,
//! `xxhash` for the GID; the key, attachment and tokens as rmw_zenoh's
//! docs/design.md gives them). Nothing the peer checks comes from axon.
//!
//! The interpreter is `AXON_PYTHON` (set by `./test`), else target/venv.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use axon::{Domain, Node};
use axon_msgs::{Twist, Vector3};

const GW: &str = env!("CARGO_BIN_EXE_axon-zenoh");
const WATCHDOG: Duration = Duration::from_secs(60);

fn python() -> PathBuf {
    let path = std::env::var_os("AXON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python")
        });
    assert!(
        path.exists(),
        "no Python with eclipse-zenoh: run ./test (it creates target/venv and sets \
         AXON_PYTHON); not found: {}",
        path.display()
    );
    path
}

/// A gateway listening on a free local port, its log lines on a channel.
struct Gateway {
    child: Child,
    lines: mpsc::Receiver<String>,
    endpoint: String,
    dir: PathBuf,
    domain: Domain,
}

impl Gateway {
    fn start(tag: &str, args: &[&str]) -> Gateway {
        let domain = Domain::new("/dev/shm", &format!("{tag}{}", std::process::id())).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("axon-zros-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("gw.json5");
        std::fs::write(
            &cfg,
            format!(
                "{{ mode: \"peer\", listen: {{ endpoints: [\"tcp/127.0.0.1:{port}\"] }}, \
                 scouting: {{ multicast: {{ enabled: false }} }} }}"
            ),
        )
        .unwrap();
        let mut child = Command::new(GW)
            .args(["--name", "gw", "--config", cfg.to_str().unwrap()])
            .args(["--domain", domain.name()])
            .args(args)
            .env("AXON_SHM_DIR", domain.dir())
            .env_remove("ROS_DOMAIN_ID")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("{l}");
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Gateway {
            child,
            lines,
            endpoint: format!("tcp/127.0.0.1:{port}"),
            dir,
            domain,
        }
    }

    /// The first log line containing `what` (watchdog).
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + WATCHDOG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(what) => return l,
                Ok(_) => {}
                Err(_) => panic!("watchdog: the gateway never logged `{what}`"),
            }
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        for e in std::fs::read_dir("/dev/shm").unwrap().flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&self.domain.prefix())
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn twist(l: [f64; 3], a: [f64; 3]) -> Twist {
    let v = |x: [f64; 3]| Vector3 {
        x: x[0],
        y: x[1],
        z: x[2],
    };
    Twist {
        linear: v(l),
        angular: v(a),
    }
}

#[test]
fn ros2_peer_decodes_the_cdr_attachment_and_tokens_of_an_exported_twist() {
    let gw = Gateway::start(
        "zre",
        &["--ros2-export", "/turtle1/**", "--ros-domain", "7"],
    );
    let zid = gw
        .wait_for("Zenoh session ")
        .split("Zenoh session ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, d) = (stop.clone(), gw.domain.clone());
    let publisher = thread::spawn(move || {
        let node = Node::builder("talker").domain(d).create().unwrap();
        let p = node
            .publisher::<Twist>("/turtle1/cmd_vel")
            .create()
            .unwrap();
        while !flag.load(Ordering::SeqCst) {
            p.publish(&twist([1.0, 2.0, 3.0], [0.0, 0.0, -0.5]))
                .unwrap();
            thread::sleep(Duration::from_millis(10));
        }
    });
    gw.wait_for("exporting /turtle1/cmd_vel");
    let out = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ros2_peer.py"))
        .args(["sub", &gw.endpoint, "7", "/turtle1/cmd_vel"])
        .output()
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    publisher.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python peer failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    // The key the peer built from rosbags' hash is the one it received on.
    assert_eq!(v["key"], v["expected_key"], "{v}");
    let hash = v["expected_key"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    assert_eq!(v["payload_header"], "00010000", "plain little-endian CDR");
    assert_eq!(v["linear"], serde_json::json!([1.0, 2.0, 3.0]));
    assert_eq!(v["angular"], serde_json::json!([0.0, 0.0, -0.5]));
    assert_eq!(v["att_len"], 33);
    assert_eq!(v["gid_len"], 16);
    assert!(v["seq"].as_i64().unwrap() >= 1, "{v}");
    let (stamp, now) = (
        v["stamp_ns"].as_i64().unwrap(),
        v["now_ns"].as_i64().unwrap(),
    );
    assert!(
        (now - stamp).abs() < 600_000_000_000,
        "the source timestamp is not UNIX-epoch ns: {stamp} vs now {now}"
    );
    let tokens: Vec<&str> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let node = format!("@ros2_lv/7/{zid}/0/0/NN/%/%/axon_zenoh_gw");
    assert!(tokens.contains(&node.as_str()), "no {node} in {tokens:?}");
    let mp = format!(
        "@ros2_lv/7/{zid}/0/1/MP/%/%/axon_zenoh_gw/%turtle1%cmd_vel/\
         geometry_msgs::msg::dds_::Twist_/{hash}/2::,:,:,:,,"
    );
    assert_eq!(v["publisher_tokens"], serde_json::json!([mp]), "{tokens:?}");
    // The GID in the attachment is XXH3-128 of that token (computed by the
    // Python xxhash package).
    assert_eq!(v["gid"], v["gid_of_publisher_token"][0], "{v}");
}

#[test]
fn ros2_peer_twist_reaches_an_axon_subscriber_and_a_wrong_hash_is_refused_naming_both() {
    let gw = Gateway::start(
        "zri",
        &["--ros2-import", "/cmd_vel", "--ros2-import", "/bad_twist"],
    );
    gw.wait_for("Zenoh session ");
    let node = Node::builder("listener")
        .domain(gw.domain.clone())
        .create()
        .unwrap();
    let sub = node.subscriber::<Twist>("/cmd_vel").create().unwrap();
    let mut peer = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ros2_peer.py"))
        .args(["pub", &gw.endpoint, "0", "/cmd_vel", "/bad_twist"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WATCHDOG;
    let got = loop {
        match sub.recv_timeout(Duration::from_millis(100)) {
            Ok(s) => break *s,
            Err(_) => assert!(
                Instant::now() < deadline,
                "watchdog: no Twist from the ROS 2 peer"
            ),
        }
    };
    let refused = gw.wait_for("refused topic /bad_twist");
    let _ = peer.stdin.take().unwrap().write_all(b"");
    let _ = peer.kill();
    let _ = peer.wait();
    assert_eq!(got.linear.x, 1.5);
    assert_eq!(got.linear.y, -2.0);
    assert_eq!(got.linear.z, 0.25);
    assert_eq!(got.angular.x, 0.0);
    assert_eq!(got.angular.y, 0.0);
    assert_eq!(got.angular.z, 0.75);
    // Both types named: the peer's (zero hash) and the local one's.
    let zero = format!("RIHS01_{}", "0".repeat(64));
    let twist_hash = axon_ros2::View::of::<Twist>().unwrap().type_hash();
    assert!(refused.contains(&zero), "{refused}");
    assert!(refused.contains(&twist_hash), "{refused}");
    assert!(refused.contains("axon-msgs/Twist"), "{refused}");
}

#[test]
fn ros2_block_publisher_floods_a_slow_reliable_subscriber_without_loss() {
    // rmw_zenoh puts a RELIABLE + KEEP_ALL publisher's samples with
    // congestion control Block: the gateway must then hold the ROS 2
    // publisher back instead of dropping, whatever the local pace.
    const N: usize = 400;
    let gw = Gateway::start("zrf", &["--ros2-import", "/flood"]);
    gw.wait_for("Zenoh session ");
    let node = Node::builder("slow")
        .domain(gw.domain.clone())
        .create()
        .unwrap();
    let sub = node
        .subscriber::<Twist>("/flood")
        .reliable()
        .create()
        .unwrap();
    let mut peer = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ros2_peer.py"))
        .args(["flood", &gw.endpoint, "0", "/flood", &N.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WATCHDOG;
    // Warm-up: a marker arrived, so the gateway imports /flood.
    loop {
        match sub.recv_timeout(Duration::from_millis(100)) {
            Ok(s) if s.linear.x == -1.0 => break,
            Ok(_) => {}
            Err(_) => assert!(Instant::now() < deadline, "watchdog: no marker"),
        }
    }
    let mut stdin = peer.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    let mut got = Vec::new();
    while got.len() < N && Instant::now() < deadline {
        if let Ok(s) = sub.recv_timeout(Duration::from_millis(100)) {
            if s.linear.x != -1.0 {
                got.push(s.linear.x);
                drop(s);
                thread::sleep(Duration::from_millis(2));
            }
        }
    }
    drop(stdin);
    let _ = peer.kill();
    let _ = peer.wait();
    let want: Vec<f64> = (0..N).map(|i| i as f64).collect();
    assert!(
        got == want,
        "received {} of {N} (first gap after {:?})",
        got.len(),
        got.windows(2).find(|w| w[1] != w[0] + 1.0)
    );
}
