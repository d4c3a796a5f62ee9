//! Topic declarations (`AXON_TOPICS`, issue 13 "start order never
//! matters"): a declared topic is created with the declared capacities
//! whichever node creates it, explicit requests the declaration cannot meet
//! fail naming both numbers and the launch file, a declared type is
//! enforced, and a bad declarations file is one clear error naming it.
//! Real files, real segments.

use std::path::PathBuf;

use axon::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use axon::{Domain, Message, Node, NodeError, OpenError, TopicName};

mod support;

#[derive(Debug, Clone, Copy, PartialEq, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Ping {
    seq: u64,
}

#[derive(Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Blob {
    seq: u64,
    data: [u64],
}

/// A scratch directory with a declarations file, and the test's domain.
struct Setup {
    dir: PathBuf,
    domain: String,
}

impl Setup {
    fn new(test: &str, json: &str) -> Setup {
        let dir = std::env::temp_dir().join(format!("axon-declared-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("topics.json"), json).unwrap();
        Setup {
            dir,
            domain: format!("decl-{}-{test}", std::process::id()),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("topics.json")
    }

    /// A node that reads the declarations (as one `launch` started would).
    fn declared(&self, name: &str) -> Node {
        self.builder(name)
            .topics_file(self.file())
            .create()
            .unwrap()
    }

    /// A node without declarations (started by hand, outside the launch).
    fn plain(&self, name: &str) -> Node {
        self.builder(name).create().unwrap()
    }

    fn builder(&self, name: &str) -> axon::NodeBuilder {
        Node::builder(name)
            .domain(Domain::new("/dev/shm", &self.domain).unwrap())
            .no_signal_handlers()
    }

    fn depth(&self, topic: &str) -> u32 {
        let d = Domain::new("/dev/shm", &self.domain).unwrap();
        axon::inspect::topic(&d, &TopicName::new(topic).unwrap())
            .unwrap()
            .config
            .depth
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        support::remove_domain(&self.domain);
    }
}

const DECL: &str = r#"{
  "version": 1,
  "topics": {
    "/cam": { "history": 6, "max_len": 4096, "declared_at": "robot.toml:7:1" },
    "/r1/imu": { "type": "axon/Ping", "history": 3, "max_publishers": 2,
                 "declared_at": "robot.toml:9:1" }
  }
}"#;

/// Without the declaration, a publisher asking for history 2 created the
/// topic with 2, and a subscriber asking for 6 then failed
/// (`CapacityMismatch`): the creator's defaults decided.
#[test]
fn the_declaration_decides_capacities_not_the_creator() {
    let s = Setup::new("decides", DECL);
    let a = s.declared("a");
    let p = a
        .publisher::<Blob>("/cam")
        .history(2)
        .max_len(16)
        .create()
        .unwrap();
    assert_eq!(s.depth("/cam"), 6, "created with the declared history");
    assert_eq!(p.max_len(), 4096, "created with the declared max_len");
    let b = s.declared("b");
    let sub = b
        .subscriber::<Blob>("/cam")
        .history(6)
        .max_len(4096)
        .create()
        .unwrap();
    let mut l = p.loan_slice(4000).unwrap();
    l.seq = 7;
    l.send();
    assert_eq!(
        sub.try_recv().unwrap().map(|x| (x.seq, x.data.len())),
        Some((7, 4000))
    );
}

#[test]
fn an_explicit_request_beyond_the_declaration_fails_naming_both_numbers() {
    let s = Setup::new("beyond", DECL);
    let n = s.declared("n");
    let e = n
        .subscriber::<Blob>("/cam")
        .history(9)
        .create()
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            OpenError::CapacityMismatch {
                requested: 9,
                available: 6,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("declared in the launch file") && msg.contains("robot.toml:7:1"),
        "{msg}"
    );
    let e = n
        .publisher::<Blob>("/cam")
        .max_len(5000)
        .create()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("5000") && e.contains("4096") && e.contains("launch file"),
        "{e}"
    );
}

#[test]
fn a_live_topic_made_without_the_declaration_is_refused_naming_the_launch_file() {
    let s = Setup::new("live", DECL);
    let outsider = s.plain("outsider");
    let _p = outsider
        .publisher::<Blob>("/cam")
        .history(2)
        .create()
        .unwrap();
    let n = s.declared("n");
    let e = n
        .subscriber::<Blob>("/cam")
        .create()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("created with history depth 2")
            && e.contains("launch file declares 6")
            && e.contains("robot.toml:7:1"),
        "{e}"
    );
}

#[test]
fn a_declared_type_is_enforced_by_resolved_name() {
    let s = Setup::new("type", DECL);
    // `imu` in namespace `/r1` is `/r1/imu`: the declaration applies.
    let n = s
        .builder("n")
        .namespace("/r1")
        .unwrap()
        .topics_file(s.file())
        .create()
        .unwrap();
    let e = n.subscriber::<u64>("imu").create().unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, OpenError::DeclaredTypeMismatch { .. }), "{msg}");
    assert!(
        msg.contains("axon/Ping") && msg.contains("u64") && msg.contains("robot.toml:9:1"),
        "{msg}"
    );
    let p = n.publisher::<Ping>("imu").create().unwrap();
    assert_eq!(s.depth("/r1/imu"), 3);
    // The declared max_publishers: a third publisher finds the topic full.
    let _p2 = n.publisher::<Ping>("imu").create().unwrap();
    let e = n.publisher::<Ping>("imu").create().unwrap_err();
    assert!(
        matches!(e, OpenError::TooManyParticipants { max: 2, .. }),
        "{e}"
    );
    drop(p);
}

#[test]
fn a_bad_declarations_file_is_one_error_naming_it() {
    for (tag, json) in [
        ("zero", r#"{"version":1,"topics":{"/cam":{"history":0}}}"#),
        ("key", r#"{"version":1,"topics":{"/cam":{"histroy":2}}}"#),
        ("name", r#"{"version":1,"topics":{"cam":{}}}"#),
        ("json", "{"),
    ] {
        let s = Setup::new(tag, json);
        let e = s.builder("n").topics_file(s.file()).create().unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, NodeError::Topics { .. }), "{tag}: {msg}");
        assert!(
            msg.contains(&s.file().display().to_string()),
            "{tag}: {msg}"
        );
    }
    // A FIFO is refused, not waited on.
    let s = Setup::new("fifo", "");
    std::fs::remove_file(s.file()).unwrap();
    nix::unistd::mkfifo(&s.file(), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let e = s
        .builder("n")
        .topics_file(s.file())
        .create()
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a regular file"), "{e}");
    // Too large.
    let s = Setup::new("large", "");
    std::fs::write(
        s.file(),
        vec![b' '; axon::declared::MAX_FILE_BYTES as usize + 1],
    )
    .unwrap();
    let e = s
        .builder("n")
        .topics_file(s.file())
        .create()
        .unwrap_err()
        .to_string();
    assert!(e.contains("larger than"), "{e}");
}
