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
