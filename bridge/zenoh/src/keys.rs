//! Key expressions of axon mode.
//!
//! - data: `axon/<zenoh domain>/<topic without its leading slash>`, so
//!   `/camera/left` in domain `fleet` is `axon/fleet/camera/left`;
//! - type: `axon/<zenoh domain>/@type/<topic without its leading slash>`,
//!   a queryable per exported topic that replies with the topic's
//!   announcement (the socket link's ANNOUNCE body, `axon::link::wire`:
//!   type name, fingerprint, shape, depth and type description). `@type`
//!   is a verbatim chunk: wildcards such as `axon/fleet/**` never match it.

/// The prefix of every axon-mode key.
pub const PREFIX: &str = "axon";

/// The data key of `topic` (an absolute axon topic name).
pub fn data_key(zdomain: &str, topic: &str) -> String {
    format!("{PREFIX}/{zdomain}/{}", topic.trim_start_matches('/'))
}

/// The type key of `topic`.
pub fn type_key(zdomain: &str, topic: &str) -> String {
    format!("{PREFIX}/{zdomain}/@type/{}", topic.trim_start_matches('/'))
}

/// The key expression an importer subscribes to: every data key of the
/// domain (patterns are then checked per topic).
pub fn all_data(zdomain: &str) -> String {
    format!("{PREFIX}/{zdomain}/**")
}

/// The topic of a data key, if `key` is one in `zdomain`.
pub fn topic_of(zdomain: &str, key: &str) -> Option<String> {
    let rest = key
        .strip_prefix(PREFIX)?
        .strip_prefix('/')?
        .strip_prefix(zdomain)?
        .strip_prefix('/')?;
    if rest.is_empty() || rest.starts_with('@') {
        return None;
    }
    Some(format!("/{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(data_key("fleet", "/camera/left"), "axon/fleet/camera/left");
        assert_eq!(type_key("fleet", "/odom"), "axon/fleet/@type/odom");
        assert_eq!(
            topic_of("fleet", "axon/fleet/camera/left").as_deref(),
            Some("/camera/left")
        );
        assert_eq!(topic_of("fleet", "axon/fleet/@type/odom"), None);
        assert_eq!(topic_of("fleet", "axon/fleet2/odom"), None);
        assert_eq!(topic_of("fleet", "axon/fleet"), None);
    }
}
