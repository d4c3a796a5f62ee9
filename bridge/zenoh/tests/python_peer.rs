//! An independent Zenoh implementation (the Python `eclipse-zenoh` package,
//! pinned in requirements-test.txt at the version of the Rust `zenoh`
//! crate) reads an axon topic through the gateway: the documented key, the
//! payload as the sample's bytes, and the documented attachment layout; it
//! also asks the documented type key.
//!
//! The interpreter is `AXON_PYTHON` (set by `./test`), else target/venv.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use axon::{Domain, Node, TypeDesc};

const GW: &str = env!("CARGO_BIN_EXE_axon-zenoh");

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

#[test]
fn python_zenoh_peer_decodes_the_documented_key_payload_and_attachment() {
    let domain = Domain::new("/dev/shm", &format!("zp{}", std::process::id())).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("axon-zenoh-py-{}", std::process::id()));
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
    let zd = format!("py{}", std::process::id());
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let d = domain.clone();
    let publisher = thread::spawn(move || {
        let node = Node::builder("talker").domain(d).create().unwrap();
        let p = node
            .publisher::<[u8]>("/chatter")
            .max_len(8)
            .create()
            .unwrap();
        while !flag.load(Ordering::SeqCst) {
            if let Ok(mut loan) = p.loan_slice(5) {
                loan.copy_from_slice(b"hello");
                loan.send();
            }
            thread::sleep(Duration::from_millis(10));
        }
    });
    let mut gw = Command::new(GW)
        .args([
            "--name",
            "gw",
            "--config",
            cfg.to_str().unwrap(),
            "--zenoh-domain",
            &zd,
        ])
        .args(["--export", "/chatter", "--domain", domain.name()])
        .env("AXON_SHM_DIR", domain.dir())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(gw.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines.next().expect("gateway log ended").unwrap();
        if line.contains("exporting /chatter") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: gateway never exported"
        );
    }
    let out = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/zenoh_peer.py"))
        .arg(format!("tcp/127.0.0.1:{port}"))
        .arg(format!("axon/{zd}/chatter"))
        .arg(format!("axon/{zd}/@type/chatter"))
        .output()
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    publisher.join().unwrap();
    let _ = gw.kill();
    let _ = gw.wait();
    let _ = std::fs::remove_dir_all(&dir);
    for e in std::fs::read_dir("/dev/shm").unwrap().flatten() {
        if e.file_name()
            .to_string_lossy()
            .starts_with(&domain.prefix())
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python peer failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let desc = TypeDesc::of::<[u8]>();
    assert_eq!(v["key"], format!("axon/{zd}/chatter"));
    assert_eq!(v["magic"], "AXZ1");
    assert_eq!(v["payload"], "68656c6c6f"); // "hello", the sample's bytes
    assert_eq!(v["len"], 5);
    assert_eq!(v["reserved"], 0);
    assert_eq!(v["type_name"], desc.name.as_str());
    assert_eq!(v["fingerprint"].as_u64(), Some(desc.fingerprint));
    assert!(v["seq"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["stamp_ns"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["announce"]["topic"], "/chatter", "{v}");
    assert_eq!(v["announce"]["type"], desc.name.as_str());
    assert_eq!(
        v["announce"]["fingerprint"].as_u64(),
        Some(desc.fingerprint)
    );
}
