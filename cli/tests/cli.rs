//! End-to-end tests: the real `axon` binary against real publishers and
//! subscribers in other processes, on real segments in /dev/shm.
//!
//! This test binary is also the peer: with `AXON_CLI_TEST_ROLE` set it plays
//! one participant (see `role`) and prints `ready` once it has joined. Every
//! trial uses its own domain, kills its children when it ends and removes
//! every segment of its domain, pass or fail. Every wait has a deadline.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use axon::inspect::{self, Scope};
use axon::{Description, Schema};
use axon::{Domain, Message, Node};
use axon_msgs::{encodings, Encoding, FixedString, Header, Image, Imu, Odometry, Twist, Vector3};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

const AXON: &str = env!("CARGO_BIN_EXE_axon");
const WAIT: Duration = Duration::from_secs(20);

/// A message type no registry knows (echo reads it from its description).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Secret {
    magic: u32,
    seq: u32,
}

/// A user type defined only here: the stock `axon` binary knows nothing of
/// it but what its segment's description says.
#[derive(Debug, Clone, Copy, PartialEq, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Gain {
    p: f32,
    i: f32,
}

/// A nested struct, a fixed array, a fixed-capacity string, padding and a
/// trailing slice.
#[derive(FromBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Reading {
    seq: u64,
    gain: Gain,
    wheels: [i16; 4],
    label: FixedString<16>,
    _pad: [u8; 4],
    samples: [f32],
}

// ---------------------------------------------------------------- roles

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_default()
}

/// Plays a participant: `AXON_CLI_TEST_ROLE` = `pub:<kind>` or `sub:<kind>`,
/// on topic `AXON_CLI_TEST_TOPIC`, node `AXON_CLI_TEST_NODE`, at
/// `AXON_CLI_TEST_HZ`. Runs until killed.
fn role(role: &str) -> ! {
    let domain = Domain::new("/dev/shm", &env("AXON_CLI_TEST_DOMAIN")).unwrap();
    let node = Node::builder(&env("AXON_CLI_TEST_NODE"))
        .domain(domain)
        .create()
        .unwrap();
    let topic = env("AXON_CLI_TEST_TOPIC");
    let hz: f64 = env("AXON_CLI_TEST_HZ")
        .parse::<f64>()
        .unwrap_or(100.0)
        .max(1.0);
    let period = Duration::from_secs_f64(1.0 / hz);
    let ready = || println!("ready");
    let mut seq = 0u64;
    match role {
        "pub:odom" => {
            let p = node.publisher::<Odometry>(&topic).create().unwrap();
            ready();
            node.every(period, || {
                seq += 1;
                let mut o = Odometry {
                    header: Header::now("odom"),
                    ..Default::default()
                };
                o.header.seq = seq;
                o.child_frame_id = axon_msgs::FrameId::new("base_link");
                o.pose.pose.position.x = seq as f64;
                o.pose.pose.position.y = -2.5;
                o.twist.twist.linear.x = 0.25;
                let _ = p.publish(&o);
            })
            .spin()
            .unwrap();
        }
        "pub:imu" => {
            let p = node.publisher::<Imu>(&topic).create().unwrap();
            ready();
            node.every(period, || {
                seq += 1;
                let mut m = Imu {
                    header: Header::now("imu_link"),
                    ..Default::default()
                };
                m.header.seq = seq;
                m.linear_acceleration = Vector3 {
                    x: 0.0,
                    y: 0.0,
                    z: 9.81,
                };
                m.orientation.w = 1.0;
                let _ = p.publish(&m);
            })
            .spin()
            .unwrap();
        }
        "pub:image" => {
            let (w, h) = (640u32, 512u32); // 960 KiB of rgb8
            let p = node
                .publisher::<Image>(&topic)
                .max_len((w * h * 3) as usize)
                .create()
                .unwrap();
            ready();
            node.every(period, || {
                seq += 1;
                let Ok(mut img) = p.loan_slice((w * h * 3) as usize) else {
                    return;
                };
                img.encoding = Encoding::new(encodings::RGB8);
                (img.width, img.height, img.step) = (w, h, w * 3);
                img.is_bigendian = 0;
                img._pad = [0; 3];
                img.pixels_mut().fill(7);
                let mut header = Header::now("camera");
                header.seq = seq;
                img.header = header;
                img.send();
            })
            .spin()
            .unwrap();
        }
        "pub:secret" => {
            let p = node.publisher::<Secret>(&topic).create().unwrap();
            ready();
            node.every(period, || {
                seq += 1;
                let _ = p.publish(&Secret {
                    magic: 0xA1B2_C3D4,
                    seq: seq as u32,
                });
            })
            .spin()
            .unwrap();
        }
        "pub:reading" => {
            let p = node
                .publisher::<Reading>(&topic)
                .max_len(100)
                .create()
                .unwrap();
            ready();
            node.every(period, || {
                seq += 1;
                let Ok(mut r) = p.loan_slice(100) else {
                    return;
                };
                r.seq = seq;
                r.gain = Gain { p: 1.5, i: -0.25 };
                r.wheels = [1, -2, 3, -4];
                r.label = FixedString::new("front-left");
                r._pad = [0; 4];
                for (k, x) in r.samples.iter_mut().enumerate() {
                    *x = k as f32 * 0.5;
                }
                r.send();
            })
            .spin()
            .unwrap();
        }
        "sub:odom" => {
            let _s = node.subscriber::<Odometry>(&topic).create().unwrap();
            ready();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "sub:odom-reliable" => {
            let _s = node
                .subscriber::<Odometry>(&topic)
                .reliable()
                .create()
                .unwrap();
            ready();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0)
}

// ---------------------------------------------------------------- harness

/// A trial's world: its domain, its children (killed on drop), and its
/// segments (removed on drop).
struct World {
    domain: String,
    children: Vec<Child>,
}

impl World {
    fn new(name: &str) -> World {
        World {
            domain: format!("cli{}{name}", std::process::id()),
            children: Vec::new(),
        }
    }

    fn dom(&self) -> Domain {
        Domain::new("/dev/shm", &self.domain).unwrap()
    }

    /// Starts a participant and waits until it has joined; returns its pid.
    fn spawn(&mut self, role: &str, topic: &str, node: &str, hz: f64) -> u32 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("AXON_CLI_TEST_ROLE", role)
            .env("AXON_CLI_TEST_DOMAIN", &self.domain)
            .env("AXON_CLI_TEST_TOPIC", topic)
            .env("AXON_CLI_TEST_NODE", node)
            .env("AXON_CLI_TEST_HZ", hz.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let pid = child.id();
        self.children.push(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(WAIT).expect("participant did not start");
        assert_eq!(line.trim(), "ready", "{role} on {topic}");
        pid
    }

    /// SIGKILLs the child with `pid` and reaps it.
    fn kill(&mut self, pid: u32) {
        let i = self.children.iter().position(|c| c.id() == pid).unwrap();
        let mut c = self.children.remove(i);
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// Runs `axon args...` in this domain, with a deadline.
    fn axon(&self, args: &[&str]) -> Output {
        run_with_deadline(
            Command::new(AXON)
                .args(args)
                .env("AXON_DOMAIN", &self.domain)
                .env_remove("AXON_SHM_DIR"),
        )
    }

    fn segment(&self, topic: &str) -> PathBuf {
        self.dom()
            .segment_path(&axon::TopicName::new(topic).unwrap())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let dom = self.dom();
        if let Ok(files) = inspect::segment_files(dom.dir(), Scope::Domain(&dom)) {
            for f in files {
                let _ = std::fs::remove_file(f.path);
            }
        }
    }
}

fn run_with_deadline(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            panic!("axon {cmd:?} did not finish in {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Succeeds and returns stdout parsed as one JSON value.
fn json(o: &Output) -> Value {
    assert!(o.status.success(), "failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Succeeds and returns stdout parsed as one JSON value per line.
fn json_lines(o: &Output) -> Vec<Value> {
    assert!(o.status.success(), "failed: {}", stderr(o));
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Fails with exit code 1 and exactly one line on stderr containing `want`.
fn fails_with(o: &Output, want: &str) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {} stderr: {err}",
        stdout(o)
    );
    assert_eq!(err.lines().count(), 1, "one line wanted: {err}");
    assert!(err.starts_with("axon: "), "{err}");
    assert!(err.contains(want), "{want:?} not in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn topic<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

// ---------------------------------------------------------------- trials

fn list_and_info_show_the_right_counts() {
    let mut w = World::new("list");
    let p1 = w.spawn("pub:odom", "/odom", "wheels", 50.0);
    let p2 = w.spawn("pub:odom", "/odom", "visual", 50.0);
    let s1 = w.spawn("sub:odom", "/odom", "planner", 0.0);
    let s2 = w.spawn("sub:odom-reliable", "/odom", "logger", 0.0);
    let s3 = w.spawn("sub:odom", "/odom", "monitor", 0.0);
    w.spawn("pub:imu", "/imu", "imu", 50.0);

    let list = json(&w.axon(&["topic", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let odom = topic(&list, "/odom");
    assert_eq!(odom["type"], "axon-msgs/Odometry");
    assert_eq!(odom["publishers"], 2);
    assert_eq!(odom["subscribers"], 3);
    assert_eq!(odom["qos"]["reliable_subscribers"], 1);
    assert_eq!(odom["payload"]["capacity_bytes"], 832);
    let imu = topic(&list, "/imu");
    assert_eq!(
        (imu["publishers"].clone(), imu["subscribers"].clone()),
        (1.into(), 0.into())
    );

    let text = stdout(&w.axon(&["topic", "list"]));
    let row = text.lines().find(|l| l.starts_with("/odom ")).unwrap();
    assert!(
        row.contains("axon-msgs/Odometry") && row.contains("832 B"),
        "{row}"
    );

    w.kill(s3);
    let info = json(&w.axon(&["topic", "info", "/odom", "--json"]));
    assert_eq!(info["subscribers"], 2);
    assert_eq!(info["dead_subscribers"], 1, "{info}");
    let pubs = info["publisher_list"].as_array().unwrap();
    let mut seen: Vec<(String, u64)> = pubs
        .iter()
        .map(|p| {
            (
                p["node"].as_str().unwrap().into(),
                p["pid"].as_u64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let mut want = vec![
        ("visual".to_string(), p2 as u64),
        ("wheels".into(), p1 as u64),
    ];
    want.sort();
    assert_eq!(seen, want);
    assert!(pubs
        .iter()
        .all(|p| p["state"] == "alive" && p["published"].as_u64().unwrap() > 0));
    let subs = info["subscriber_list"].as_array().unwrap();
    let state_of = |pid: u32| {
        subs.iter()
            .find(|s| s["pid"] == pid)
            .map(|s| {
                (
                    s["state"].as_str().unwrap().to_string(),
                    s["reliable"].as_bool().unwrap(),
                )
            })
            .unwrap()
    };
    assert_eq!(state_of(s1), ("alive".into(), false));
    assert_eq!(state_of(s2), ("alive".into(), true));
    assert_eq!(state_of(s3), ("dead".into(), false));

    let text = stdout(&w.axon(&["topic", "info", "/odom"]));
    assert!(
        text.contains("publishers:  2") && text.contains("logger"),
        "{text}"
    );

    let nodes = json(&w.axon(&["node", "list", "--json"]));
    let names: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["imu", "logger", "planner", "visual", "wheels"],
        "{nodes}"
    );
    let wheels = &nodes[4];
    assert_eq!(wheels["pid"], p1);
    assert_eq!(wheels["publishes"], serde_json::json!(["/odom"]));
    assert!(
        matches!(wheels["state"].as_str(), Some("running" | "sleeping")),
        "{wheels}"
    );
    assert!(wheels["uptime_s"].as_f64().unwrap() < 600.0);
    let all = json(&w.axon(&["node", "list", "--json", "--all"]));
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["name"] == "monitor" && n["state"] == "dead"));
}

fn echo_prints_the_right_values() {
    let mut w = World::new("echo");
    w.spawn("pub:odom", "/odom", "odom", 100.0);
    w.spawn("pub:imu", "/imu", "imu", 100.0);
    w.spawn("pub:image", "/camera", "camera", 20.0);
    w.spawn("pub:secret", "/secret", "spy", 100.0);

    let odom = json_lines(&w.axon(&["topic", "echo", "/odom", "--json", "-n", "3"]));
    assert_eq!(odom.len(), 3);
    let xs: Vec<f64> = odom
        .iter()
        .map(|o| o["pose"]["pose"]["position"]["x"].as_f64().unwrap())
        .collect();
    for (o, x) in odom.iter().zip(&xs) {
        assert_eq!(o["header"]["frame_id"], "odom");
        assert_eq!(o["child_frame_id"], "base_link");
        assert_eq!(
            o["header"]["seq"].as_f64().unwrap(),
            *x,
            "position.x is the seq"
        );
        assert_eq!(o["pose"]["pose"]["position"]["y"], -2.5);
        assert_eq!(o["twist"]["twist"]["linear"]["x"], 0.25);
    }
    assert!(xs.windows(2).all(|p| p[1] > p[0]), "{xs:?}");

    let pos = json_lines(&w.axon(&[
        "topic",
        "echo",
        "/odom",
        "pose.pose.position",
        "--once",
        "--json",
    ]));
    assert_eq!(pos.len(), 1);
    assert_eq!(pos[0]["y"], -2.5);
    assert_eq!(pos[0].as_object().unwrap().len(), 3, "{}", pos[0]);

    let text = stdout(&w.axon(&["topic", "echo", "/odom", "--once"]));
    assert!(text.starts_with("header:\n  stamp:\n"), "{text}");
    assert!(text.contains("\n  frame_id: odom\n"), "{text}");
    assert!(text.contains("child_frame_id: base_link\n"), "{text}");
    assert!(text.ends_with("---\n"), "{text}");
    let y = stdout(&w.axon(&["topic", "echo", "/odom", "pose.pose.position.y", "--once"]));
    assert_eq!(y, "-2.5\n---\n");

    let imu = json_lines(&w.axon(&["topic", "echo", "/imu", "--json", "-n", "2"]));
    assert_eq!(imu[1]["linear_acceleration"]["z"], 9.81);
    assert_eq!(imu[1]["orientation"]["w"], 1.0);
    assert_eq!(imu[1]["header"]["frame_id"], "imu_link");

    let img = json_lines(&w.axon(&[
        "topic",
        "echo",
        "/camera",
        "--json",
        "--once",
        "--max-array",
        "4",
    ]));
    assert_eq!(img[0]["width"], 640);
    assert_eq!(img[0]["height"], 512);
    assert_eq!(img[0]["encoding"], "rgb8");
    assert_eq!(
        img[0]["data"],
        serde_json::json!([7, 7, 7, 7]),
        "only the printed part is decoded"
    );
    let text = stdout(&w.axon(&["topic", "echo", "/camera", "--once"]));
    assert!(
        text.contains("data: [7, 7, 7"),
        "{}",
        &text[..text.len().min(400)]
    );
    assert!(
        text.contains("983008 more]"),
        "{}",
        &text[..text.len().min(400)]
    );

    // A type no registry knows reads from its segment's description.
    let secret = w.axon(&["topic", "echo", "/secret", "--once"]);
    assert!(secret.status.success(), "{}", stderr(&secret));
    assert_eq!(stderr(&secret), "", "no fallback to bytes");
    let text = stdout(&secret);
    assert!(text.starts_with("magic: 2712847316\nseq: "), "{text}");
    let v = json_lines(&w.axon(&["topic", "echo", "/secret", "--once", "--json"]));
    assert_eq!(v[0]["magic"], 0xA1B2_C3D4u32, "{}", v[0]);
}

fn echo_prints_a_user_type_from_its_description() {
    let mut w = World::new("user");
    w.spawn("pub:reading", "/reading", "sensor", 100.0);
    let o = w.axon(&["topic", "echo", "/reading", "--once"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "no fallback to bytes");
    let text = stdout(&o);
    for want in [
        "\ngain:\n  p: 1.5\n  i: -0.25\n",
        "\nwheels: [1, -2, 3, -4]\n",
        "\nlabel: front-left\n",
        "\nsamples: [0",
        ", 0.5, 1",
        "68 more]",
    ] {
        assert!(
            text.starts_with("seq: ") && text.contains(want),
            "{want:?} not in:\n{text}"
        );
    }
    assert!(!text.contains("_pad"), "padding is left out: {text}");

    let v = &json_lines(&w.axon(&["topic", "echo", "/reading", "--once", "--json"]))[0];
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["seq", "gain", "wheels", "label", "samples"], "{v}");
    assert!(v["seq"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["gain"], serde_json::json!({"p": 1.5, "i": -0.25}));
    assert_eq!(v["wheels"], serde_json::json!([1, -2, 3, -4]));
    assert_eq!(v["label"], "front-left");
    let samples = v["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 100, "--json prints the whole slice");
    assert_eq!(samples[99], 49.5);

    let cut = &json_lines(&w.axon(&[
        "topic",
        "echo",
        "/reading",
        "--once",
        "--json",
        "--max-array",
        "3",
    ]))[0];
    assert_eq!(cut["samples"], serde_json::json!([0.0, 0.5, 1.0]));
    let field = json_lines(&w.axon(&["topic", "echo", "/reading", "gain.i", "--once", "--json"]));
    assert_eq!(field[0], -0.25);
}

fn pub_writes_a_user_type_from_its_description() {
    let w = World::new("userpub");
    let node = Node::builder("reader").domain(w.dom()).create().unwrap();
    let sub = node.subscriber::<Reading>("/reading").create().unwrap();
    let o = w.axon(&[
        "topic",
        "pub",
        "/reading",
        Reading::TYPE_NAME,
        "{seq: 7, gain: {p: 2}, wheels: [5, -6], label: hi, samples: [1, 2.5, -3]}",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = sub.recv_timeout(WAIT).unwrap();
    assert_eq!(r.seq, 7);
    assert_eq!(r.gain, Gain { p: 2.0, i: 0.0 });
    assert_eq!(r.wheels, [5, -6, 0, 0]);
    assert_eq!(r.label.as_str(), "hi");
    assert_eq!(&r.samples, &[1.0, 2.5, -3.0]);
    drop(r);

    let bad = |value: &str, want: &str| {
        fails_with(
            &w.axon(&["topic", "pub", "/reading", Reading::TYPE_NAME, value]),
            want,
        )
    };
    bad(
        "{gain: {d: 1}}",
        "unknown field `gain.d` (axon-cli/Gain has: p, i)",
    );
    bad("{_pad: [1]}", "unknown field `_pad`");
    bad(
        "{wheels: [40000]}",
        "wheels[0]: 40000 is out of range for i16",
    );
    bad("{seq: -1}", "seq: -1 is out of range for u64");
    bad(
        "{label: much too long a label}",
        "label: 21 bytes of text, more than its capacity of 16",
    );
    bad("{samples: 3}", "samples: expected an array");
    fails_with(
        &w.axon(&["topic", "pub", "/reading", "axon-msgs/Twist", "{}"]),
        &format!("carries {}", Reading::TYPE_NAME),
    );
    assert!(sub.try_recv().unwrap().is_none(), "nothing was sent");
}

fn info_lists_the_fields_of_a_user_type() {
    let mut w = World::new("userinfo");
    w.spawn("pub:reading", "/reading", "sensor", 50.0);
    let o = w.axon(&["topic", "info", "/reading"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("described by its segment"), "{text}");
    assert!(
        text.contains(&format!(
            "fields:      {} (48 B, align 8)",
            Reading::TYPE_NAME
        )),
        "{text}"
    );
    for row in [
        ["0", "8", "seq", "u64"],
        ["8", "8", "gain", Gain::TYPE_NAME],
        ["16", "8", "wheels", "[i16; 4]"],
        ["24", "20", "label", "FixedString<16>"],
        ["44", "4", "_pad", "[u8; 4] (padding)"],
        ["48", "-", "samples", "[f32]"],
        ["0", "4", "p", "f32"],
    ] {
        let found = text.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() >= 4 && cols[..3] == row[..3] && l.trim_end().ends_with(row[3])
        });
        assert!(found, "{row:?} not in:\n{text}");
    }
    let v = json(&w.axon(&["topic", "info", "/reading", "--json"]));
    assert_eq!(v["described"], true);
    let fields = v["layout"]["structs"][0]["fields"].as_array().unwrap();
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["seq", "gain", "wheels", "label", "_pad", "samples"]);
    let offsets: Vec<u64> = fields
        .iter()
        .map(|f| f["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 8, 16, 24, 44, 48]);
    assert_eq!(fields[4]["padding"], true);
    assert_eq!(v["layout"]["structs"][1]["name"], Gain::TYPE_NAME);
}

/// Hostile type descriptions written into a segment, each with what the
/// refusal must say.
fn hostile_descriptions<T: Message + ?Sized>() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    use axon::desc::{Primitive, Ty};
    let good = Description::of::<T>();
    let root = good.structs.len() - 1;
    let mut out = Vec::new();
    let mut b = good.encode();
    b[10..12].copy_from_slice(&u16::MAX.to_le_bytes()); // the first name's length
    out.push(("length", b, "a name of 65535 bytes"));
    let mut d = good.clone();
    d.structs[root].fields[0].offset = 1 << 20;
    out.push(("offset", d.encode(), "lies outside the struct"));
    let mut d = good.clone();
    let mut deep = Ty::Primitive(Primitive::U8);
    for _ in 0..17 {
        deep = Ty::Array {
            elem: Box::new(deep),
            len: 1,
        };
    }
    d.structs[root].fields[0].ty = deep;
    out.push(("depth", d.encode(), "nest more than 16 deep"));
    let mut d = good.clone();
    d.structs[root].fields[0].ty = Ty::Struct(root);
    out.push(("cycle", d.encode(), "which is not defined before it"));
    let mut b = good.encode();
    let tag = b.len() - 5; // the root's kind: TAG_STRUCT + u32 index
    b[tag] = 9;
    out.push(("kind", b, "unknown kind 9"));
    let mut d = good.clone();
    d.structs[root].fields[0].name.push('x');
    out.push(("fingerprint", d.encode(), "has fingerprint"));
    let mut d = good.clone();
    d.structs[root].name = "hostile/Other".into();
    d.structs[root].fields[0].name.push('x');
    out.push(("type name", d.encode(), "describes type \"hostile/Other\""));
    // 256 structs, each holding two of the one before: 2^255 paths through
    // a few KiB, named like the segment's type so its fingerprint is
    // computed (desc.rs once recomputed each nested struct per path: every
    // open hung; `axon` runs under a 20 s deadline here). Zero-sized, so
    // the two fields at one offset do not overlap.
    let mut d = good.clone();
    d.structs.truncate(1);
    d.structs[0].fields.clear();
    d.structs[0].name = "chain/S0".into();
    (d.structs[0].size, d.structs[0].align) = (0, 1);
    for k in 1..256 {
        let mut s = d.structs[0].clone();
        s.name = format!("chain/S{k}");
        s.size = 0;
        s.fields = ["a", "b"]
            .iter()
            .map(|n| axon::desc::StructField {
                name: n.to_string(),
                offset: 0,
                ty: Ty::Struct(k - 1),
                padding: false,
            })
            .collect();
        d.structs.push(s);
    }
    d.structs[255].name = T::TYPE_NAME.into();
    d.root = Ty::Struct(255);
    out.push(("exponential chain", d.encode(), "has fingerprint"));
    out
}

fn hostile_descriptions_are_refused_with_one_line_each() {
    let w = World::new("hostiledesc");
    let node = Node::builder("victim").domain(w.dom()).create().unwrap();
    let p = node.publisher::<Reading>("/template").create().unwrap();
    let image = std::fs::read(w.segment("/template")).unwrap();
    drop(p);
    for (i, (what, bytes, want)) in hostile_descriptions::<Reading>().into_iter().enumerate() {
        let topic = format!("/bad{i}");
        let forged = axon::fuzzing::with_description(&image, &bytes).unwrap();
        std::fs::write(w.segment(&topic), forged).unwrap();
        for args in [
            &["topic", "echo", &topic, "--once"][..],
            &["topic", "echo", &topic, "--once", "--json"],
            &["topic", "info", &topic],
            &["topic", "pub", &topic, Reading::TYPE_NAME, "{}"],
        ] {
            let o = w.axon(args);
            let err = stderr(&o);
            assert!(
                err.contains("corrupted topic segment (type description "),
                "{what}: {args:?}: {err}"
            );
            fails_with(&o, want);
        }
        let list = w.axon(&["topic", "list"]);
        assert_eq!(list.status.code(), Some(1), "{what}");
        assert!(stderr(&list).contains(want), "{what}: {}", stderr(&list));
        std::fs::remove_file(w.segment(&topic)).unwrap();
    }
}

fn hz_and_bw_match_a_publisher_at_a_known_rate() {
    let mut w = World::new("hz");
    w.spawn("pub:imu", "/imu", "imu", 200.0);
    w.spawn("pub:image", "/camera", "camera", 50.0);
    let reports = json_lines(&w.axon(&["topic", "hz", "/imu", "--json", "-n", "3"]));
    assert_eq!(reports.len(), 3);
    let last = &reports[2];
    let rate = last["rate_hz"].as_f64().unwrap();
    assert!(
        (rate - 200.0).abs() < 10.0,
        "200 Hz publisher, hz says {last}"
    );
    let period = last["mean_period_s"].as_f64().unwrap();
    assert!((period - 0.005).abs() < 0.00025, "{last}");
    assert!(last["min_period_s"].as_f64().unwrap() <= period);
    assert!(last["max_period_s"].as_f64().unwrap() >= period);
    assert!(last["std_dev_s"].as_f64().unwrap() >= 0.0);

    let text = stdout(&w.axon(&["topic", "hz", "/imu", "-n", "1"]));
    assert!(text.starts_with("average rate: "), "{text}");

    // 960 KiB frames at 50 Hz: about 47 MiB/s.
    let size = <Image as KnownLayout>::size_for_metadata(640 * 512 * 3).unwrap() as f64;
    let bw = json_lines(&w.axon(&["topic", "bw", "/camera", "--json", "-n", "3"]));
    let last = &bw[2];
    let mean = last["mean_bytes"].as_f64().unwrap();
    assert!(
        (mean - size).abs() / size < 0.01,
        "frame size {size}, bw says {last}"
    );
    let bps = last["bytes_per_s"].as_f64().unwrap();
    assert!((bps - 50.0 * mean).abs() / (50.0 * mean) < 0.05, "{last}");
}

fn pub_publishes_what_it_is_given() {
    let w = World::new("pub");
    let node = Node::builder("reader").domain(w.dom()).create().unwrap();
    let sub = node.subscriber::<Twist>("/cmd_vel").create().unwrap();
    let o = w.axon(&[
        "topic",
        "pub",
        "/cmd_vel",
        "Twist",
        "{linear: {x: 0.5}, angular: {z: -1}}",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = sub.recv_timeout(WAIT).unwrap();
    assert_eq!((t.linear.x, t.linear.y, t.angular.z), (0.5, 0.0, -1.0));
    drop(t);

    let o = w.axon(&[
        "topic",
        "pub",
        "/cmd_vel",
        "axon-msgs/Twist",
        "linear:\n  x: 2\n",
        "--rate",
        "100",
        "-n",
        "5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("published 5 samples"), "{}", stdout(&o));
    for _ in 0..5 {
        assert_eq!(sub.recv_timeout(WAIT).unwrap().linear.x, 2.0);
    }

    fails_with(
        &w.axon(&["topic", "pub", "/cmd_vel", "Twist", "{linear: {q: 1}}"]),
        "no field `linear.q`",
    );
    fails_with(
        &w.axon(&["topic", "pub", "/cmd_vel", "Imu", "{}"]),
        "carries axon-msgs/Twist",
    );
    fails_with(
        &w.axon(&["topic", "pub", "/x", "NoSuchType", "{}"]),
        "unknown message type",
    );
    fails_with(
        &w.axon(&["topic", "pub", "/x", "Twist", "{linear: "]),
        "VALUE",
    );
}

fn clean_removes_only_segments_of_killed_processes() {
    let mut w = World::new("clean");
    let crashed = w.spawn("pub:odom", "/crashed", "a", 50.0);
    w.spawn("pub:odom", "/alive", "b", 50.0);
    let half = w.spawn("pub:odom", "/half", "c", 50.0);
    let reader = w.spawn("sub:odom", "/half", "d", 0.0);
    w.kill(crashed);
    w.kill(half);

    let dry = json(&w.axon(&["clean", "--dry-run", "--json"]));
    assert_eq!(dry["removed"].as_array().unwrap().len(), 1, "{dry}");
    assert!(w.segment("/crashed").exists(), "a dry run removes nothing");

    let done = json(&w.axon(&["clean", "--json"]));
    let removed = done["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1, "{done}");
    assert_eq!(removed[0]["topic"], "/crashed");
    assert!(
        removed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("1 participant(s) died"),
        "{done}"
    );
    assert!(removed[0]["bytes"].as_u64().unwrap() > 0);
    assert_eq!(done["in_use"], 2);
    assert!(!w.segment("/crashed").exists());
    assert!(w.segment("/alive").exists());
    assert!(w.segment("/half").exists(), "its subscriber is alive");

    w.kill(reader);
    let text = stdout(&w.axon(&["clean"]));
    assert!(text.contains("freed 1 segment(s)"), "{text}");
    assert!(!w.segment("/half").exists());
    assert!(w.segment("/alive").exists());
}

fn bad_segments_and_bad_input_get_one_line_each() {
    let mut w = World::new("bad");
    fails_with(
        &w.axon(&["topic", "info", "/nothing"]),
        "no topic /nothing in domain",
    );
    fails_with(&w.axon(&["topic", "echo", "/nothing"]), "no topic /nothing");
    fails_with(&w.axon(&["topic", "hz", "no-slash"]), "must start with '/'");
    let usage = w.axon(&["topic", "frobnicate"]);
    assert_eq!(usage.status.code(), Some(2));

    // A topic whose publisher is gone.
    let p = w.spawn("pub:odom", "/orphan", "gone", 50.0);
    w.kill(p);
    fails_with(
        &w.axon(&["topic", "echo", "/orphan"]),
        "has no live publisher",
    );
    fails_with(
        &w.axon(&["topic", "hz", "/orphan"]),
        "has no live publisher",
    );

    // A corrupted segment and one of another layout version.
    let p = w.spawn("pub:odom", "/old", "old", 50.0);
    w.kill(p);
    let old = w.segment("/old");
    let mut bytes = std::fs::read(&old).unwrap();
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    std::fs::write(&old, &bytes).unwrap();
    fails_with(
        &w.axon(&["topic", "info", "/old"]),
        "incompatible axon (layout version 99",
    );
    let junk = w.segment("/junk");
    std::fs::write(&junk, b"this is not a segment at all").unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
    fails_with(
        &w.axon(&["topic", "echo", "/junk"]),
        "corrupted topic segment",
    );
    let list = w.axon(&["topic", "list"]);
    assert_eq!(list.status.code(), Some(1));
    assert_eq!(stderr(&list).lines().count(), 2, "{}", stderr(&list));
    let list = w.axon(&["topic", "list", "--json"]);
    let v: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3, "{v}");
    assert!(topic(&v, "/junk")["error"]
        .as_str()
        .unwrap()
        .contains("corrupted"));

    // A segment of another user (only root can make one).
    if nix::unistd::geteuid().is_root() {
        let p = w.spawn("pub:odom", "/theirs", "theirs", 50.0);
        w.kill(p);
        let theirs = w.segment("/theirs");
        std::os::unix::fs::chown(&theirs, Some(4242), Some(4242)).unwrap();
        fails_with(&w.axon(&["topic", "info", "/theirs"]), "owned by uid 4242");
        let dry = json(&w.axon(&["clean", "--json"]));
        assert!(
            theirs.exists(),
            "clean never removes another user's segment: {dry}"
        );
    } else {
        eprintln!("note: not root, the other-user case is not exercised");
    }

    // Garbage is removed by clean, nothing panics.
    let done = json(&w.axon(&["clean", "--json"]));
    assert!(!old.exists() && !junk.exists(), "{done}");
}

/// A FIFO named like a segment hung every command that opened it
/// (`open(O_RDONLY)` waits for a writer), and `clean` skipped it while
/// `topic list` said `clean` removes it. A directory and a socket in a
/// segment's place are refused the same way. Every command runs under
/// `run_with_deadline` (the watchdog).
fn non_regular_files_named_like_segments_are_refused_not_hung() {
    let mut w = World::new("fifo");
    w.spawn("pub:odom", "/live", "alive", 50.0);
    let fifo = w.segment("/fifo");
    let dir = w.segment("/dir");
    let sock = w.segment("/sock");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::create_dir(&dir).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    struct Remove(Vec<PathBuf>);
    impl Drop for Remove {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_file(p);
                let _ = std::fs::remove_dir(p);
            }
        }
    }
    let _remove = Remove(vec![fifo.clone(), dir.clone(), sock.clone()]);

    for (topic, kind) in [
        ("/fifo", "a FIFO"),
        ("/dir", "a directory"),
        ("/sock", "a socket"),
    ] {
        let want = format!("{kind}, not a regular file: it cannot be a topic segment");
        for cmd in ["info", "echo", "hz", "bw"] {
            let o = w.axon(&["topic", cmd, topic]);
            fails_with(&o, &want);
            assert!(
                stderr(&o).contains("`axon clean` removes it"),
                "{}",
                stderr(&o)
            );
        }
        let o = w.axon(&["topic", "pub", topic, "Twist", "{}"]);
        fails_with(&o, &want);
    }
    // The library refuses it too, for a publisher and a subscriber.
    let node = Node::builder("direct").domain(w.dom()).create().unwrap();
    let e = node.publisher::<Twist>("/fifo").create().unwrap_err();
    assert!(e.to_string().contains("a FIFO, not a regular file"), "{e}");
    let e = node.subscriber::<Twist>("/fifo").create().unwrap_err();
    assert!(e.to_string().contains("a FIFO, not a regular file"), "{e}");

    let list = w.axon(&["topic", "list"]);
    assert_eq!(list.status.code(), Some(1), "{}", stderr(&list));
    assert!(stdout(&list).contains("/live"), "{}", stdout(&list));
    let err = stderr(&list);
    assert_eq!(err.lines().count(), 3, "{err}");
    assert!(
        err.lines().all(|l| l.contains("`axon clean` removes it")),
        "{err}"
    );
    let nodes = w.axon(&["node", "list"]);
    assert!(stdout(&nodes).contains("alive"), "{}", stdout(&nodes));

    // What `topic list` promises, `clean` does: a dry run names all three...
    let dry = json(&w.axon(&["clean", "--dry-run", "--json"]));
    let removed = dry["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 3, "{dry}");
    assert!(fifo.exists() && dir.exists() && sock.exists());
    // ...and the real run removes them and leaves the live topic alone.
    let done = json(&w.axon(&["clean", "--json"]));
    assert_eq!(done["removed"].as_array().unwrap().len(), 3, "{done}");
    assert!(!fifo.exists() && !dir.exists() && !sock.exists(), "{done}");
    assert!(w.segment("/live").exists());
    assert!(
        json(&w.axon(&["topic", "list", "--json"]))
            .as_array()
            .unwrap()
            .len()
            == 1
    );
}

/// `axon topic echo` died of SIGBUS when another process truncated the
/// segment it had mapped; now it ends with one clear line and exit code 1.
fn echo_survives_a_segment_truncated_under_it() {
    let mut w = World::new("cut");
    w.spawn("pub:odom", "/cut", "cutter", 100.0);
    let mut echo = Command::new(AXON)
        .args(["topic", "echo", "/cut"])
        .env("AXON_DOMAIN", &w.domain)
        .env_remove("AXON_SHM_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(echo.stdout.take().unwrap());
    let mut err = echo.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = out.read_line(&mut first);
        let _ = tx.send(first);
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    let first = rx.recv_timeout(WAIT).expect("echo printed nothing");
    assert!(!first.is_empty(), "echo ended early");
    std::fs::OpenOptions::new()
        .write(true)
        .open(w.segment("/cut"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = echo.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > WAIT {
            let _ = echo.kill();
            let _ = echo.wait();
            panic!("watchdog: echo did not end after the truncation");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut text = String::new();
    err.read_to_string(&mut text).unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "echo died ({status:?}; SIGBUS is signal 7): {text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("topic /cut: its shared-memory segment was truncated"),
        "{text}"
    );
}

fn a_closed_pipe_ends_echo_quietly() {
    let mut w = World::new("pipe");
    w.spawn("pub:odom", "/odom", "odom", 200.0);
    let mut child = Command::new(AXON)
        .args(["topic", "echo", "/odom"])
        .env("AXON_DOMAIN", &w.domain)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "header:\n");
    drop(out); // like `| head -1`
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < WAIT, "echo kept running on a closed pipe");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "");
}

/// `echo --wait` used to fail at once ("no such topic") when the topic did
/// not exist yet; it waits for the topic to appear, then for a sample.
fn echo_wait_waits_for_a_topic_that_does_not_exist_yet() {
    let mut w = World::new("late");
    let mut child = Command::new(AXON)
        .args(["topic", "echo", "/late", "--wait", "--json", "-n", "1"])
        .env("AXON_DOMAIN", &w.domain)
        .env_remove("AXON_SHM_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert_eq!(
        line,
        "axon: waiting for topic /late to appear (Ctrl-C to stop)\n",
        "{:?}",
        child.try_wait()
    );
    // The topic appears only now.
    w.spawn("pub:odom", "/late", "late", 100.0);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            panic!("echo --wait never printed the topic's sample");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{rest}");
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["header"]["frame_id"], "odom", "{out}");
}

/// The docs once named `axon_cli::run()` as the entry point; the function a
/// tool's `main` calls is `axon_cli::main()` (`run` takes parsed arguments).
fn docs_name_the_entry_point_axon_cli_main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in [
        "README.md",
        "ARCHITECTURE.md",
        "cli/src/lib.rs",
        "cli/src/main.rs",
        "msgs/src/registry.rs",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(
            !text.contains("axon_cli::run()"),
            "{file} names axon_cli::run(), which does not exist"
        );
    }
    // And the documented call is the real one.
    let entry: fn() -> i32 = axon_cli::main;
    let _ = entry;
}

fn doctor_flags_a_broken_segment() {
    let mut w = World::new("doc");
    let p = w.spawn("pub:odom", "/odom", "odom", 50.0);
    let seg = w.segment("/odom");

    let fine = json(&w.axon(&["doctor", "--json"]));
    let about_seg = |v: &Value| -> Vec<Value> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                f["finding"]
                    .as_str()
                    .unwrap()
                    .contains(seg.to_str().unwrap())
            })
            .cloned()
            .collect()
    };
    assert!(about_seg(&fine).is_empty(), "{fine}");
    assert!(fine["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["check"] == "shm-space"));

    std::fs::set_permissions(&seg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let open = json(&w.axon(&["doctor", "--json"]));
    let f = about_seg(&open);
    assert_eq!(f.len(), 1, "{open}");
    assert_eq!(
        (f[0]["check"].as_str(), f[0]["level"].as_str()),
        (Some("segment-mode"), Some("warn"))
    );
    assert!(f[0]["fix"].as_str().unwrap().contains("chmod 600"));

    std::fs::set_permissions(&seg, std::fs::Permissions::from_mode(0o200)).unwrap();
    let broken = w.axon(&["doctor"]);
    assert_eq!(broken.status.code(), Some(1), "{}", stdout(&broken));
    let text = stdout(&broken);
    let line = text
        .lines()
        .position(|l| l.starts_with("FAIL") && l.contains("segment-mode"))
        .unwrap();
    assert!(
        text.lines()
            .nth(line + 1)
            .unwrap()
            .contains("fix: chmod 600"),
        "{text}"
    );

    std::fs::set_permissions(&seg, std::fs::Permissions::from_mode(0o600)).unwrap();
    w.kill(p);
    let stale = json(&w.axon(&["doctor", "--json"]));
    let f = about_seg(&stale);
    assert_eq!(f.len(), 1, "{stale}");
    assert_eq!(f[0]["check"], "segment-stale");
    assert_eq!(f[0]["fix"], "axon clean");

    let missing = run_with_deadline(
        Command::new(AXON)
            .args(["doctor"])
            .env("AXON_SHM_DIR", "/nonexistent/shm"),
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stdout(&missing).contains("FAIL  shm-dir"),
        "{}",
        stdout(&missing)
    );
}

fn help_is_conventional() {
    for args in [
        &["--help"][..],
        &["topic", "--help"],
        &["topic", "echo", "--help"],
        &["doctor", "-h"],
    ] {
        let o = run_with_deadline(Command::new(AXON).args(args));
        assert!(o.status.success(), "{args:?}");
        assert!(
            stdout(&o).contains("Usage: axon"),
            "{args:?}: {}",
            stdout(&o)
        );
    }
}

fn main() {
    if let Ok(r) = std::env::var("AXON_CLI_TEST_ROLE") {
        role(&r);
    }
    let args = Arguments::from_args();
    let trial = |name: &'static str, f: fn()| {
        Trial::test(name, move || {
            std::panic::catch_unwind(f).map_err(|e| {
                Failed::from(
                    e.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default(),
                )
            })
        })
    };
    let trials = vec![
        trial(
            "list_and_info_show_the_right_counts",
            list_and_info_show_the_right_counts,
        ),
        trial("echo_prints_the_right_values", echo_prints_the_right_values),
        trial(
            "echo_prints_a_user_type_from_its_description",
            echo_prints_a_user_type_from_its_description,
        ),
        trial(
            "pub_writes_a_user_type_from_its_description",
            pub_writes_a_user_type_from_its_description,
        ),
        trial(
            "info_lists_the_fields_of_a_user_type",
            info_lists_the_fields_of_a_user_type,
        ),
        trial(
            "hostile_descriptions_are_refused_with_one_line_each",
            hostile_descriptions_are_refused_with_one_line_each,
        ),
        trial(
            "hz_and_bw_match_a_publisher_at_a_known_rate",
            hz_and_bw_match_a_publisher_at_a_known_rate,
        ),
        trial(
            "pub_publishes_what_it_is_given",
            pub_publishes_what_it_is_given,
        ),
        trial(
            "clean_removes_only_segments_of_killed_processes",
            clean_removes_only_segments_of_killed_processes,
        ),
        trial(
            "bad_segments_and_bad_input_get_one_line_each",
            bad_segments_and_bad_input_get_one_line_each,
        ),
        trial(
            "non_regular_files_named_like_segments_are_refused_not_hung",
            non_regular_files_named_like_segments_are_refused_not_hung,
        ),
        trial(
            "echo_survives_a_segment_truncated_under_it",
            echo_survives_a_segment_truncated_under_it,
        ),
        trial(
            "a_closed_pipe_ends_echo_quietly",
            a_closed_pipe_ends_echo_quietly,
        ),
        trial(
            "echo_wait_waits_for_a_topic_that_does_not_exist_yet",
            echo_wait_waits_for_a_topic_that_does_not_exist_yet,
        ),
        trial(
            "docs_name_the_entry_point_axon_cli_main",
            docs_name_the_entry_point_axon_cli_main,
        ),
        trial(
            "doctor_flags_a_broken_segment",
            doctor_flags_a_broken_segment,
        ),
        trial("help_is_conventional", help_is_conventional),
    ];
    libtest_mimic::run(&args, trials).exit();
}
