//! `axon service list|info` against a real server and client (this
//! process) in a private shared-memory directory, plus a dead client: the
//! tools read the segment and the records' locks only.

use std::process::Command;

const AXON: &str = env!("CARGO_BIN_EXE_axon");

#[axon::message]
#[derive(Clone, Copy)]
struct Goal {
    x: f64,
    y: f64,
}

#[axon::message]
#[derive(Clone, Copy)]
struct Path {
    length: f64,
}

struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn axon(dir: &Dir, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(AXON)
        .args(args)
        .arg("--shm-dir")
        .arg(&dir.0)
        .args(["--domain", "svc"])
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn service_list_and_info_show_types_server_and_clients() {
    let dir = Dir(std::env::temp_dir().join(format!("axon-cli-svc-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let domain = axon::Domain::new(&dir.0, "svc").unwrap();
    let node = axon::Node::builder("planner")
        .domain(domain)
        .create()
        .unwrap();
    let server = node.service::<Goal, Path>("/plan").create().unwrap();
    let client = node.client::<Goal, Path>("/plan").create().unwrap();
    let pending = client.send(&Goal { x: 3.0, y: 4.0 }).unwrap();

    let (ok, out, err) = axon(&dir, &["service", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains("/plan"), "{out}");
    assert!(out.contains("Goal -> ") && out.contains("Path"), "{out}");
    assert!(
        out.contains(&format!("pid {}", std::process::id())),
        "{out}"
    );

    let (ok, out, err) = axon(&dir, &["service", "info", "/plan", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["service"], "/plan");
    assert!(v["request_type"].as_str().unwrap().ends_with("Goal"), "{v}");
    assert!(
        v["response_type"].as_str().unwrap().ends_with("Path"),
        "{v}"
    );
    assert_eq!(v["server"]["pid"], std::process::id());
    assert_eq!(v["clients"][0]["alive"], true);
    assert_eq!(v["clients"][0]["in_flight"], 1, "{v}");

    let r = server.try_recv_request().unwrap().unwrap();
    r.reply(&Path { length: 5.0 }).unwrap();
    assert_eq!(
        pending
            .wait(std::time::Duration::from_secs(5))
            .unwrap()
            .length,
        5.0
    );
    let (ok, out, _) = axon(&dir, &["service", "info", "/plan"]);
    assert!(ok);
    assert!(
        out.contains("1 answered") && out.contains("0 in flight"),
        "{out}"
    );

    let (ok, _, err) = axon(&dir, &["service", "info", "/nothing"]);
    assert!(!ok && err.contains("/nothing"), "{err}");
    drop((client, server));
    let (ok, out, _) = axon(&dir, &["service", "list"]);
    assert!(
        ok && out.contains("no services"),
        "the last one out removes the file: {out}"
    );
}

fn temp_dir(tag: &str) -> Dir {
    let dir = Dir(std::env::temp_dir().join(format!("axon-cli-{tag}-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    dir
}

fn node_in(dir: &Dir, name: &str) -> axon::Node {
    let domain = axon::Domain::new(&dir.0, "svc").unwrap();
    axon::Node::builder(name).domain(domain).create().unwrap()
}

/// A server thread of `/plan` that answers `n` calls with the distance to
/// the goal (each request waited for at most 30 s: the watchdog).
fn serve(node: axon::Node, n: usize) -> std::thread::JoinHandle<Vec<Goal>> {
    let server = node.service::<Goal, Path>("/plan").create().unwrap();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..n {
            let r = server
                .recv_request_timeout(std::time::Duration::from_secs(30))
                .unwrap();
            seen.push(*r);
            let length = r.x.hypot(r.y);
            r.reply(&Path { length }).unwrap();
        }
        drop(node);
        seen
    })
}

/// `axon service call` (a real process) encodes the request from YAML and
/// from JSON with the description in the segment, the server (this
/// process) gets exactly those values, and the response comes back as
/// text and as `--json`.
#[test]
fn service_call_sends_yaml_or_json_and_prints_the_response() {
    let dir = temp_dir("svc-call");
    let server = serve(node_in(&dir, "planner"), 2);
    let (ok, out, err) = axon(&dir, &["service", "call", "/plan", "{x: 3, y: 4}"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "length: 5.0", "{out}");
    let (ok, out, err) = axon(
        &dir,
        &[
            "service",
            "call",
            "/plan",
            r#"{"x": 6.0, "y": 8.0}"#,
            "--json",
            "--timeout",
            "10",
        ],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v, serde_json::json!({"length": 10.0}));
    let seen = server.join().unwrap();
    assert_eq!(
        seen.iter().map(|g| (g.x, g.y)).collect::<Vec<_>>(),
        vec![(3.0, 4.0), (6.0, 8.0)]
    );
}

/// Each failure of `axon service call` is one line naming what went
/// wrong, with a failing exit status: no such service, a value that does
/// not fit the request type (naming the field), no live server, a server
/// that never answers (timeout), a server gone before answering.
#[test]
fn service_call_failures_are_one_clear_line_each() {
    let dir = temp_dir("svc-call-err");
    let one_line = |args: &[&str], want: &str| {
        let (ok, out, err) = axon(&dir, args);
        assert!(!ok, "{args:?} must fail: {out}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        eprintln!("{args:?} -> {}", err.trim());
    };
    one_line(
        &["service", "call", "/plan", "{x: 1}"],
        "no such service: /plan",
    );

    // A client but no server: the segment exists, nobody serves it.
    let node = node_in(&dir, "caller");
    let client = node.client::<Goal, Path>("/plan").create().unwrap();
    one_line(
        &["service", "call", "/plan", "{x: 1}"],
        "has no live server",
    );

    // A server that never takes the request: a timeout.
    let server = node.service::<Goal, Path>("/plan").create().unwrap();
    one_line(&["service", "call", "/plan", "{z: 1}"], "z");
    one_line(&["service", "call", "/plan", "{x: 'far'}"], "x");
    one_line(
        &["service", "call", "/plan", "{x: 1}", "--timeout", "0.2"],
        "no response within 0.2s",
    );
    assert!(
        server.try_recv_request().unwrap().is_none(),
        "the timed-out call was withdrawn"
    );

    // A server that takes the request and exits without answering.
    let waiter = std::thread::spawn(move || {
        let r = server
            .recv_request_timeout(std::time::Duration::from_secs(30))
            .unwrap();
        std::mem::forget(r);
        drop(server);
    });
    one_line(
        &["service", "call", "/plan", "{x: 1}", "--timeout", "30"],
        "server is gone",
    );
    waiter.join().unwrap();
    drop(client);
}
