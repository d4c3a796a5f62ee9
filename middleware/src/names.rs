//! Topic, node and domain names, and where a topic's segment lives.
//!
//! A topic name is absolute (`/camera/image`) or relative (`image`, resolved
//! against the node's namespace). Segments are files in the *domain
//! directory* (`$AXON_SHM_DIR`, default `/dev/shm`) named
//! `axon.u<uid>.d<domain>.<topic with '/' as '.'>`: the uid keeps users
//! apart, the domain keeps robots (and parallel test runs) apart. The mapping
//! is reversible because names never contain `.`.

use std::fmt;
use std::path::{Path, PathBuf};

/// Longest topic name accepted (it must fit a file name, with the prefix).
pub const MAX_TOPIC_LEN: usize = 200;
/// Longest node name.
pub const MAX_NODE_NAME_LEN: usize = 63;
/// Longest domain name.
pub const MAX_DOMAIN_LEN: usize = 32;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} name {name:?}: {reason}")]
pub struct NameError {
    /// "topic", "node" or "domain".
    pub kind: &'static str,
    /// The name as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// A validated, absolute topic name such as `/camera/image`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(String);

impl TopicName {
    /// Validates an absolute topic name.
    pub fn new(name: &str) -> Result<Self, NameError> {
        let err = |reason| NameError {
            kind: "topic",
            name: name.to_string(),
            reason,
        };
        if !name.starts_with('/') {
            return Err(err(
                "must start with '/' (relative names are resolved by a node)",
            ));
        }
        if name.len() > MAX_TOPIC_LEN {
            return Err(err("longer than 200 bytes"));
        }
        if name == "/" {
            return Err(err("is empty"));
        }
        for part in name[1..].split('/') {
            if part.is_empty() {
                return Err(err("has an empty component ('//' or a trailing '/')"));
            }
            if !part.chars().all(is_name_char) {
                return Err(err(
                    "may contain only ASCII letters, digits, '_', '-' and '/'",
                ));
            }
        }
        Ok(TopicName(name.to_string()))
    }

    /// Resolves `name` against `namespace` (`""` or `/robot1`): absolute names
    /// are kept, relative ones are prefixed.
    pub fn resolve(namespace: &str, name: &str) -> Result<Self, NameError> {
        if name.starts_with('/') {
            Self::new(name)
        } else {
            let ns = namespace.trim_end_matches('/');
            Self::new(&format!("{ns}/{name}"))
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file-name form: `camera.image` for `/camera/image`.
    pub fn file_stem(&self) -> String {
        self.0[1..].replace('/', ".")
    }

    /// Inverse of [`TopicName::file_stem`].
    pub fn from_file_stem(stem: &str) -> Result<Self, NameError> {
        Self::new(&format!("/{}", stem.replace('.', "/")))
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Validates a node name (`camera`, `base_controller`).
pub fn validate_node_name(name: &str) -> Result<(), NameError> {
    let err = |reason| NameError {
        kind: "node",
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(err("is empty"));
    }
    if name.len() > MAX_NODE_NAME_LEN {
        return Err(err("longer than 63 bytes"));
    }
    if !name.chars().all(is_name_char) {
        return Err(err("may contain only ASCII letters, digits, '_' and '-'"));
    }
    Ok(())
}

/// Where a set of topics lives: a directory and a domain name.
///
/// Two `Domain`s with different names never see each other's topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    dir: PathBuf,
    name: String,
    uid: u32,
}

impl Domain {
    /// The environment variable that selects the domain (default `"0"`).
    pub const ENV: &'static str = "AXON_DOMAIN";
    /// The environment variable that overrides the directory (default `/dev/shm`).
    pub const DIR_ENV: &'static str = "AXON_SHM_DIR";

    /// The domain named by `AXON_DOMAIN` in `AXON_SHM_DIR`, with defaults.
    pub fn from_env() -> Result<Self, NameError> {
        let name = std::env::var(Self::ENV).unwrap_or_else(|_| "0".to_string());
        let dir = std::env::var_os(Self::DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/dev/shm"));
        Self::new(dir, &name)
    }

    /// A domain `name` in directory `dir`.
    pub fn new(dir: impl Into<PathBuf>, name: &str) -> Result<Self, NameError> {
        let err = |reason| NameError {
            kind: "domain",
            name: name.to_string(),
            reason,
        };
        if name.is_empty() {
            return Err(err("is empty"));
        }
        if name.len() > MAX_DOMAIN_LEN {
            return Err(err("longer than 32 bytes"));
        }
        if !name.chars().all(is_name_char) {
            return Err(err("may contain only ASCII letters, digits, '_' and '-'"));
        }
        Ok(Domain {
            dir: dir.into(),
            name: name.to_string(),
            uid: crate::sys::euid(),
        })
    }

    /// The domain's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory holding its segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file-name prefix of every segment of this domain.
    pub fn prefix(&self) -> String {
        format!("axon.u{}.d{}.", self.uid, self.name)
    }

    /// The path of `topic`'s segment.
    pub fn segment_path(&self, topic: &TopicName) -> PathBuf {
        self.dir
            .join(format!("{}{}", self.prefix(), topic.file_stem()))
    }

    /// The topic a file name in this domain's directory belongs to, if any.
    pub fn topic_of_file(&self, file_name: &str) -> Option<TopicName> {
        let stem = file_name.strip_prefix(&self.prefix())?;
        TopicName::from_file_stem(stem).ok()
    }

    /// Every topic with a segment in this domain, sorted by name. Only file
    /// names are read: a listed topic may have no live participant (tools
    /// open the segment to find out).
    pub fn topics(&self) -> std::io::Result<Vec<TopicName>> {
        let mut topics: Vec<TopicName> = std::fs::read_dir(&self.dir)?
            .flatten()
            .filter_map(|e| self.topic_of_file(e.file_name().to_str()?))
            .collect();
        topics.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(topics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(TopicName::new("/camera/image").is_ok());
        assert!(TopicName::new("/a_b-c/1").is_ok());
        for bad in ["camera", "/", "//a", "/a/", "/a.b", "/a b", "/ä"] {
            assert!(TopicName::new(bad).is_err(), "{bad}");
        }
        let t = TopicName::resolve("/robot1", "imu").unwrap();
        assert_eq!(t.as_str(), "/robot1/imu");
        assert_eq!(TopicName::resolve("", "imu").unwrap().as_str(), "/imu");
        assert_eq!(TopicName::resolve("/r", "/abs").unwrap().as_str(), "/abs");
        assert_eq!(TopicName::from_file_stem(&t.file_stem()).unwrap(), t);
    }

    #[test]
    fn domains_isolate_paths() {
        let a = Domain::new("/dev/shm", "a").unwrap();
        let b = Domain::new("/dev/shm", "b").unwrap();
        let t = TopicName::new("/x/y").unwrap();
        assert_ne!(a.segment_path(&t), b.segment_path(&t));
        let file = a
            .segment_path(&t)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(a.topic_of_file(&file), Some(t));
        assert_eq!(b.topic_of_file(&file), None);
        assert_eq!(b.topic_of_file(&format!("{}~tmp.1.2", b.prefix())), None);
        assert!(Domain::new("/dev/shm", "a.b").is_err());
    }
}
