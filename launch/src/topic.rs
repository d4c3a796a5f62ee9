//! Topic names: namespace and remap resolution, and the ready probe.
//!
//! [`resolve_topic`] is the one place that decides what name a node's topic
//! ends up with; [`segment_path`] is the one place that knows how the runtime
//! names a topic's shared-memory segment. Both mirror the runtime's rules and
//! can later be replaced by calls into it.

use std::path::{Path, PathBuf};

/// Resolves a topic name as a node would: first the remap table (matched
/// against the name as written), then the namespace for relative names.
///
/// `imu` in namespace `/robot1` is `/robot1/imu`; `/imu` stays `/imu`.
pub fn resolve_topic(name: &str, namespace: Option<&str>, remap: &[(String, String)]) -> String {
    let renamed = remap
        .iter()
        .find(|(from, _)| from == name)
        .map_or(name, |(_, to)| to.as_str());
    if renamed.starts_with('/') {
        renamed.to_owned()
    } else {
        format!("{}/{}", namespace.unwrap_or(""), renamed)
    }
}

/// Path of a topic's shared-memory segment:
/// `<shm_dir>/axon.u<uid>.d<domain>.<topic, '/' -> '.', leading '/' dropped>`.
pub fn segment_path(shm_dir: &Path, uid: u32, domain: &str, topic: &str) -> PathBuf {
    let topic = topic.strip_prefix('/').unwrap_or(topic).replace('/', ".");
    shm_dir.join(format!("axon.u{uid}.d{domain}.{topic}"))
}

/// Answers `ready = { topic = "..", type = ".." }`.
pub trait TopicProbe: Send {
    /// `Ok` once a live process publishes `topic` (a resolved name), with
    /// message type `ty` if one is given, and has published at least once;
    /// otherwise what was found instead (`topic /x has type A, declared B`),
    /// for the ready-timeout message.
    fn probe(&self, topic: &str, ty: Option<&str>) -> Result<(), String>;
}

/// The default probe: a live process publishes the topic and has sent at
/// least one sample, and the topic carries the expected type (read from the
/// segment with `axon::inspect`, which joins nothing). A segment an earlier
/// run left behind, whose publisher is gone, does not count, nor does a
/// live topic of another type.
#[derive(Debug, Clone)]
pub struct ShmTopicProbe {
    /// `$AXON_SHM_DIR` or `/dev/shm`.
    pub shm_dir: PathBuf,
    /// The launcher's uid (nodes inherit it).
    pub uid: u32,
    /// The domain nodes run in.
    pub domain: String,
}

impl ShmTopicProbe {
    /// A probe for `domain` (or `$AXON_DOMAIN`, or `"0"`), in `$AXON_SHM_DIR`
    /// (or `/dev/shm`), for the current user.
    pub fn from_env(domain: Option<&str>) -> Self {
        let domain = domain
            .map(str::to_owned)
            .or_else(|| std::env::var("AXON_DOMAIN").ok())
            .unwrap_or_else(|| "0".to_owned());
        let shm_dir = std::env::var_os("AXON_SHM_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/dev/shm"));
        ShmTopicProbe {
            shm_dir,
            uid: nix::unistd::getuid().as_raw(),
            domain,
        }
    }
}

impl TopicProbe for ShmTopicProbe {
    fn probe(&self, topic: &str, ty: Option<&str>) -> Result<(), String> {
        use axon::inspect::{InspectError, Liveness};
        let domain = axon::Domain::new(&self.shm_dir, &self.domain).map_err(|e| e.to_string())?;
        let name = axon::TopicName::new(topic).map_err(|e| e.to_string())?;
        let report = match axon::inspect::topic(&domain, &name) {
            Ok(r) => r,
            Err(InspectError::NoSuchTopic { .. }) => return Err(format!("no topic {topic} yet")),
            Err(e) => return Err(format!("topic {topic}: {e}")),
        };
        let found = report.config.type_name();
        if let Some(ty) = ty.filter(|ty| *ty != found) {
            return Err(format!("topic {topic} has type {found}, declared {ty}"));
        }
        let live: Vec<_> = report
            .publishers
            .iter()
            .filter(|p| p.liveness == Liveness::Alive)
            .collect();
        if live.is_empty() {
            return Err(if report.publishers.is_empty() {
                format!("topic {topic} has no publisher")
            } else {
                format!("topic {topic} has no live publisher (only ones that died or left)")
            });
        }
        if live.iter().all(|p| p.published == 0) {
            return Err(format!(
                "topic {topic} has a live publisher that has not published yet"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_follow_the_runtime() {
        assert_eq!(
            segment_path(Path::new("/dev/shm"), 0, "0", "/camera/image"),
            PathBuf::from("/dev/shm/axon.u0.d0.camera.image")
        );
    }

    #[test]
    fn remap_then_namespace() {
        let remap = vec![
            ("cmd".to_owned(), "/base/cmd".to_owned()),
            ("a".to_owned(), "b".to_owned()),
        ];
        assert_eq!(resolve_topic("imu", Some("/r1"), &remap), "/r1/imu");
        assert_eq!(resolve_topic("/imu", Some("/r1"), &remap), "/imu");
        assert_eq!(resolve_topic("cmd", Some("/r1"), &remap), "/base/cmd");
        assert_eq!(resolve_topic("a", Some("/r1"), &remap), "/r1/b");
        assert_eq!(resolve_topic("a", None, &remap), "/b");
    }
}
